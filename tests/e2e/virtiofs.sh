#!/usr/bin/env bash
# End to end: a real guest mounts a host directory through sm-runtime's virtio-fs device, with and
# without a DAX window: it reads host files, writes files the host sees, runs a program from the
# share, mmaps a file shared and writes through the mapping, and walks many small files.
set -u
SM="$SM_TOP_BUILDDIR/sm-runtime"
if [ ! -s "$SM_TOP_BUILDDIR/guest/kernel.path" ]; then
	echo "1..0 # SKIP guest kernel not built: run make guest-kernel"
	exit 0
fi
if [ ! -w /dev/kvm ]; then
	echo "1..0 # SKIP /dev/kvm is not accessible to this user"
	exit 0
fi
echo "1..14"
n=0
check() { # check DESCRIPTION COMMAND...
	local d=$1; shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $d"; else echo "not ok $n - $d"; fi
}
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
