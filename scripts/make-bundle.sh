#!/usr/bin/env bash
# Make the default OCI bundle: a busybox rootfs (from Debian's busybox-static) and the default
# config.json of `sm-runtime spec`, with process.terminal off so it runs without a console.
#   scripts/make-bundle.sh DIR [SM_RUNTIME]
set -euo pipefail
dir=$1
sm=${2:-sm-runtime}
[ -x /bin/busybox ] || { echo "make-bundle: /bin/busybox missing: install busybox-static" >&2; exit 1; }
mkdir -p "$dir/rootfs"/{bin,dev,proc,sys,tmp,etc,root,usr/bin,sbin}
cp /bin/busybox "$dir/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
	[ -e "$dir/rootfs/bin/$applet" ] || ln -s busybox "$dir/rootfs/bin/$applet"
done
echo "root:x:0:0:root:/root:/bin/sh" >"$dir/rootfs/etc/passwd"
echo "root:x:0:" >"$dir/rootfs/etc/group"
rm -f "$dir/config.json"
"$sm" spec --bundle "$dir"
sed -i 's/"terminal": true/"terminal": false/' "$dir/config.json"
