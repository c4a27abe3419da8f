#!/usr/bin/env bash
# Install every Debian package sm-runtime needs to build, test and benchmark (as root, or via sudo).
set -euo pipefail

PACKAGES=(
	# build
	build-essential autoconf automake pkg-config linux-libc-dev
	libyajl-dev libseccomp-dev libcap-dev libzstd-dev
	# guest kernel (built from Debian's kernel source) and guest image
	linux-source-6.12 bc bison flex libelf-dev libssl-dev cpio busybox-static musl-tools
	# tests, fuzzing, benchmarks
	bats python3 clang libclang-rt-14-dev qemu-system-x86 hyperfine runc util-linux jq file
	# engine tests (make engines, run by tests/run-all.sh): podman and containerd driving sm-runtime
	podman conmon containerd
)

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: run as root (apt-get needs it)" >&2; exit 1; }
	SUDO=sudo
fi

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#PACKAGES[@]} packages present"
	exit 0
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
