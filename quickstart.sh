#!/usr/bin/env bash
# One command from a fresh clone to a container running in a microVM: install Debian packages,
# build sm-runtime, build (or reuse from /var/cache/sm-runtime) the guest kernel, make the default
# bundle (a busybox rootfs from Debian's busybox-static) and run its process in a microVM.
#   ./quickstart.sh [COMMAND...]     (default: a greeting, uname and the rootfs listing)
set -euo pipefail
top=$(cd "$(dirname "$0")" && pwd)
cd "$top"
./scripts/install-deps.sh
[ -x configure ] || ./autogen.sh >/dev/null
mkdir -p build && cd build
[ -f Makefile ] || ../configure >/dev/null
make -j"$(nproc)" >/dev/null
make guest-kernel
bundle=$PWD/default-bundle
[ -f "$bundle/config.json" ] || "$top/scripts/make-bundle.sh" "$bundle" ./sm-runtime
if [ $# -eq 0 ]; then
	set -- sh -c 'echo "hello from a container in a sm-runtime microVM"; uname -sr; ls /'
fi
python3 - "$bundle/config.json" "$@" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = sys.argv[2:]
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
echo "quickstart: running the default bundle in a microVM (the first run boots and saves a template VM;"
echo "quickstart: on a host without VT-x/AMD-V that boot is slow, later containers restore the template)..."
exec ./sm-runtime run --bundle "$bundle" "quickstart-$$"
