#!/usr/bin/env bash
# End to end: a real guest mounts a host directory through sm-runtime's virtio-fs device, with and
# without a DAX window: it reads host files, writes files the host sees, runs a program from the
# share, mmaps a file shared and writes through the mapping, and walks many small files.
set -u
. "$SM_TOP_SRCDIR/tests/e2e/lib.sh"
e2e_require_guest
echo "1..14"
share=$(mktemp -d)
trap 'rm -rf "$share"' EXIT
mkdir -p "$share/bin" "$share/many"
cp /bin/busybox "$share/bin/busybox"
cp "$SM_TOP_BUILDDIR/tests/e2e/mmap-check" "$share/bin/mmap-check"
for i in $(seq 1 200); do echo "$i" >"$share/many/f$i"; done

guest_script='set -e
mkdir -p /mnt
mount -t virtiofs sm-root /mnt $OPTS
grep " /mnt " /proc/mounts
cat /mnt/hostfile
echo from-guest >/mnt/guestfile
/mnt/bin/busybox echo ran-from-share
/mnt/bin/mmap-check /mnt/mapped expected-content MAPPED
ls /mnt/many | wc -l
cat /mnt/many/f* | wc -l
sync
exit 4'

for mode in dax nodax; do
	rm -f "$share/guestfile"
	echo "host-content-$mode" >"$share/hostfile"
	printf 'expected-content-0123456789\n' >"$share/mapped"
	if [ $mode = dax ]; then args=(--dax 64); opts='-o dax=always'; else args=(); opts=''; fi
	out=$("$SM" vm-run --timeout 900 --share "$share" "${args[@]}" \
		--cmdline "OPTS='$opts'; $guest_script" 2>&1)
	status=$?
	echo "$out" | sed "s/^/# [$mode] /"
	check "$mode: guest command's status comes back" [ $status -eq 4 ]
	if [ $mode = dax ]; then
		check "$mode: mounted with dax=always" grep -q 'virtiofs .*dax=always' <<<"$out"
	else
		check "$mode: mounted without dax" bash -c "grep -q 'sm-root /mnt virtiofs' <<<\"\$0\" && ! grep -q 'dax=always' <<<\"\$0\"" "$out"
	fi
	check "$mode: guest read a host file" grep -qx "host-content-$mode" <<<"$out"
	check "$mode: host sees the guest's file" grep -qx from-guest "$share/guestfile"
	check "$mode: program run from the share" grep -qx ran-from-share <<<"$out"
	check "$mode: write through a shared mmap reached the host file" grep -q '^MAPPEDed-content-0123456789' "$share/mapped"
	check "$mode: 200 small files listed and read" bash -c '[ "$(grep -cx " *200" <<<"$0")" -ge 2 ]' "$out"
done
