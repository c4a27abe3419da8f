#!/usr/bin/env bash
# End to end: a real guest mounts a host directory through sm-runtime's virtio-fs device, with and
# without a DAX window: it reads host files, writes files the host sees, runs a program from the
# share, mmaps a file shared and writes through the mapping, and walks many small files. The share
# is a bundle's rootfs, mounted by the guest agent (vm-run --bundle), in a VM restored from the
# template of its shape (--template), so no guest boots here once the templates exist.
set -u
. "$SM_TOP_SRCDIR/tests/e2e/lib.sh"
e2e_require_guest
echo "1..14"
bundle=$(mktemp -d)
trap 'rm -rf "$bundle"' EXIT
"$SM_TOP_SRCDIR/scripts/make-bundle.sh" "$bundle" "$SM" >/dev/null
share=$bundle/rootfs
mkdir -p "$share/many"
cp "$SM_TOP_BUILDDIR/tests/e2e/mmap-check" "$share/bin/mmap-check"
for i in $(seq 1 200); do echo "$i" >"$share/many/f$i"; done

guest_script='set -e
grep " / " /proc/mounts
cat /hostfile
echo from-guest >/guestfile
/bin/busybox echo ran-from-share
/bin/mmap-check /mapped expected-content MAPPED
ls /many | wc -l
cat /many/f* | wc -l
sync
exit 4'
python3 - "$bundle/config.json" "$guest_script" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["sh", "-c", sys.argv[2]]
c["root"]["readonly"] = False
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY

for mode in dax nodax; do
	rm -f "$share/guestfile"
	echo "host-content-$mode" >"$share/hostfile"
	printf 'expected-content-0123456789\n' >"$share/mapped"
	if [ $mode = dax ]; then args=(--dax 64); else args=(); fi
	out=$("$SM" vm-run "${E2E_VM[@]}" --bundle "$bundle" "${args[@]}" 2>&1)
	status=$?
	echo "$out" | sed "s/^/# [$mode] /"
	check "$mode: guest command's status comes back" [ $status -eq 4 ]
	if [ $mode = dax ]; then
		check "$mode: mounted with dax=always" grep -q 'virtiofs .*dax=always' <<<"$out"
	else
		check "$mode: mounted without dax" bash -c "grep -q 'sm-root / virtiofs' <<<\"\$0\" && ! grep -q 'dax=always' <<<\"\$0\"" "$out"
	fi
	check "$mode: guest read a host file" grep -qx "host-content-$mode" <<<"$out"
	check "$mode: host sees the guest's file" grep -qx from-guest "$share/guestfile"
	check "$mode: program run from the share" grep -qx ran-from-share <<<"$out"
	check "$mode: write through a shared mmap reached the host file" grep -q '^MAPPEDed-content-0123456789' "$share/mapped"
	check "$mode: 200 small files listed and read" bash -c '[ "$(grep -cx " *200" <<<"$0")" -ge 2 ]' "$out"
done
