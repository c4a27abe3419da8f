#!/bin/sh
# Build the sm-runtime guest kernel (an uncompressed vmlinux with the PVH entry note) from
# Debian's linux-source-6.12 package, our config.fragment and patches/, into a cache entry
#   ${SM_CACHE_DIR:-/var/cache/sm-runtime}/kernel-<hash>/vmlinux
# where <hash> covers every input (fragment, patches, this script, the package version), so a
# change to any of them gives a new entry and an unchanged tree never rebuilds.
#
# Usage: build.sh [--print-path]
#   --print-path  print the vmlinux path the inputs map to, build nothing
# The vmlinux path is always the last line on stdout; build output goes to stderr.
#
# The entry is built in a temporary directory next to it and renamed into place, so a killed
# build never leaves a half entry. One lock serializes all kernel builds (two would only compete
# for the CPUs), which also makes it safe to delete temporary directories of killed builds.
# SM_KERNEL_EXTRA_CONFIG=FILE adds config lines after the fragment (e.g. CONFIG_KALLSYMS=y for
# boot-time analysis); the file is part of the hash.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
fragment="$here/config.fragment"
pkg=linux-source-6.12
tarball=/usr/src/linux-source-6.12.tar.xz
cache=${SM_CACHE_DIR:-/var/cache/sm-runtime}
extra=${SM_KERNEL_EXTRA_CONFIG:-}

die() {
	echo "build.sh: $*" >&2
	exit 1
}

print_only=0
case "${1:-}" in
--print-path) print_only=1 ;;
"") ;;
*) die "usage: build.sh [--print-path]" ;;
esac

version=$(dpkg-query -W -f '${Version}' "$pkg" 2>/dev/null) ||
	die "package $pkg is not installed (apt-get install $pkg)"
[ -r "$tarball" ] || die "$tarball is missing (reinstall $pkg)"
[ -z "$extra" ] || [ -r "$extra" ] || die "SM_KERNEL_EXTRA_CONFIG=$extra is not readable"

# Patches apply in name order (0001-..., 0002-...).
patches=$(find "$here/patches" -maxdepth 1 -name '*.patch' | LC_ALL=C sort)

hash=$({
	echo "pkg $pkg $version"
	echo "== build.sh"
	cat "$here/build.sh"
	echo "== config.fragment"
	cat "$fragment"
	for p in $patches; do
		echo "== patch $(basename "$p")"
		cat "$p"
	done
	if [ -n "$extra" ]; then
		echo "== extra"
		cat "$extra"
	fi
} | sha256sum | cut -c1-16)

entry="$cache/kernel-$hash"
if [ "$print_only" = 1 ] || [ -f "$entry/vmlinux" ]; then
	echo "$entry/vmlinux"
	exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.kernel-build.lock"
flock 9
if [ -f "$entry/vmlinux" ]; then # another build finished while we waited
	echo "$entry/vmlinux"
	exit 0
fi
rm -rf "$cache"/.kernel-*.tmp.* # left by killed builds; we hold the lock

tmp=$(mktemp -d "$cache/.kernel-$hash.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM HUP

echo "build.sh: building guest kernel $hash in $tmp" >&2
src="$tmp/src"
mkdir "$src"
tar -xf "$tarball" -C "$src" --strip-components=1
for p in $patches; do
	echo "build.sh: applying $(basename "$p")" >&2
	patch -d "$src" -p1 --batch --forward --quiet <"$p" || die "patch $(basename "$p") does not apply"
done

# Later assignments override earlier ones; hide Kconfig's "override" notes about exactly that.
kconfig() {
	make -C "$src" -s "$1" >"$tmp/kconfig.log" 2>&1 || {
		cat "$tmp/kconfig.log" >&2
		die "make $1 failed"
	}
	grep -v 'warning: override: reassigning to symbol' "$tmp/kconfig.log" >&2 || true
}
kconfig tinyconfig
cat "$fragment" ${extra:+"$extra"} >>"$src/.config"
kconfig olddefconfig

# Kconfig silently drops an option whose dependencies are unmet: name every one that did not
# stick. Options the fragment turns off must be off; valued options must keep their value.
missing=""
for line in $(sed -n -e 's/^\(CONFIG_[A-Za-z0-9_]*=.*\)$/\1/p' "$fragment" ${extra:+"$extra"}); do
	grep -qxF "$line" "$src/.config" || missing="$missing ${line}"
done
for opt in $(sed -n -e 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set$/\1/p' "$fragment" ${extra:+"$extra"}); do
	if grep -q "^$opt=" "$src/.config"; then
		missing="$missing $opt(should be off)"
	fi
done
[ -z "$missing" ] || die "config options did not stick after olddefconfig:$missing"

make -C "$src" -j"$(nproc)" vmlinux >&2

# The VMM enters the kernel at its PVH entry point (XEN_ELFNOTE_PHYS32_ENTRY, type 18).
if command -v readelf >/dev/null 2>&1; then
	readelf -n "$src/vmlinux" | grep -q 'Xen.*0x00000012\|NT_XEN_PHYS32_ENTRY\|PHYS32_ENTRY' ||
		die "vmlinux has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)"
fi

out="$tmp/out"
mkdir "$out"
cp "$src/.config" "$out/config"
cp "$src/System.map" "$out/System.map"
cp "$src/vmlinux" "$out/vmlinux.tmp"
mv "$out/vmlinux.tmp" "$out/vmlinux"
mv -T "$out" "$entry" || die "cannot rename $out to $entry"
echo "build.sh: built $entry" >&2
echo "$entry/vmlinux"
