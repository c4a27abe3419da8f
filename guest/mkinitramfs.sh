#!/bin/sh
# Build the guest initramfs: an UNCOMPRESSED newc cpio (the guest kernel has no decompressor,
# and unpacking is emulated kernel code on kvm_pvm hosts, so a small plain archive is fastest).
#
# Usage: mkinitramfs.sh OUT.cpio [SM_INIT [BUSYBOX]]
#   SM_INIT  the static guest init (default: guest/init/sm-init next to this script)
#   BUSYBOX  a static busybox (default: /bin/busybox from Debian's busybox-static)
# Contents: /init, /bin/busybox with links for a few applets, empty /dev /proc /sys /tmp /root,
# /etc/passwd and /etc/group, and a /dev/console device node so the kernel can open init's console.
#
# Every file costs boot time (unpacking is emulated kernel code on kvm_pvm hosts: ~35k guest
# instructions per symlink; all 270 applet links cost ~9 s), so only the applets tests name are
# linked. Debian's busybox-static is built with FEATURE_SH_STANDALONE: its shell runs every applet
# (`sh -c 'seq 3'`) without a link. SM_INITRAMFS_APPLETS overrides the list ("all": every applet).
# Needs no root: the tree is archived with owner 0:0 and the device node is written by hand.
# The archive is reproducible (fixed mtimes and inode numbers) and replaced atomically.
set -eu

die() {
	echo "mkinitramfs.sh: $*" >&2
	exit 1
}

[ $# -ge 1 ] && [ $# -le 3 ] || die "usage: mkinitramfs.sh OUT.cpio [SM_INIT [BUSYBOX]]"
out=$1
init=${2:-$(dirname "$0")/init/sm-init}
busybox=${3:-/bin/busybox}
[ -x "$init" ] || die "$init is missing: build it first (make guest/init/sm-init)"
[ -x "$busybox" ] || die "$busybox is missing: install the Debian package busybox-static"
file -L "$busybox" 2>/dev/null | grep -q 'dynamically linked' &&
	die "$busybox is dynamically linked; the initramfs has no libraries (use busybox-static)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sm-initramfs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root="$tmp/root"

mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/tmp" "$root/root" "$root/etc"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
cp "$init" "$root/init"
cp "$busybox" "$root/bin/busybox"
chmod 0755 "$root/init" "$root/bin/busybox"
applets=${SM_INITRAMFS_APPLETS:-sh echo ls cat true false sleep mount umount uname dd env dmesg}
[ "$applets" != all ] || applets=$("$busybox" --list)
for applet in $applets; do
	"$busybox" --list | grep -qxF -- "$applet" || die "busybox has no applet $applet"
	[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"

# Fixed mtimes so the same inputs give the same archive.
find "$root" -exec touch -h -d @0 {} +

(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0 --reproducible) >"$tmp/tree.cpio"

# newc header: magic, then 13 8-digit hex fields (ino mode uid gid nlink mtime filesize devmajor
# devminor rdevmajor rdevminor namesize check), the NUL-terminated name padded to 4 bytes.
newc_entry() { # name mode rdevmajor rdevminor
	namesize=$((${#1} + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
		900000 "$2" 0 0 1 0 0 0 0 "$3" "$4" "$namesize" 0 "$1"
	pad=$(((4 - (110 + namesize) % 4) % 4))
	head -c "$pad" /dev/zero
}
{
	# The kernel unpacks concatenated archives; this one only adds dev/console (char 5:1).
	cat "$tmp/tree.cpio"
	newc_entry dev/console $((0020000 | 0600)) 5 1
	newc_entry TRAILER!!! 0 0 0
} >"$tmp/initramfs.cpio"

mv "$tmp/initramfs.cpio" "$out.tmp.$$"
mv "$out.tmp.$$" "$out"
