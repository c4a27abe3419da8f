#!/usr/bin/env bash
# End to end: `vm-run --save-snapshot` boots once to the guest init's ready point and saves; each
# `vm-run --restore` is a new process that goes on from there (runs the guest command, whose output
# and exit status come back), twice from the same snapshot; bad restores are refused clearly.
set -u
. "$SM_TOP_SRCDIR/tests/e2e/lib.sh"
e2e_require_guest
echo "1..12"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
snap=$dir/snap
out=$("$SM" vm-run --timeout 900 --mem 128 --cmdline 'echo restored-says-hi; cat /proc/uptime; exit 3' \
	--save-snapshot "$snap" 2>&1)
status=$?
echo "$out" | sed 's/^/# [save] /'
check "--save-snapshot exits 0" [ $status -eq 0 ]
check "the snapshot directory holds state.smsnap and memory.img" \
	[ -s "$snap/state.smsnap" -a -f "$snap/memory.img" ]
check "memory.img is 128 MiB long but sparse" \
	bash -c '[ $(stat -c %s "$0") -eq 134217728 ] && [ $(( $(stat -c %b "$0") * 512 )) -lt 134217728 ]' "$snap/memory.img"
check "the guest command did not run before the snapshot" bash -c '! grep -q restored-says-hi <<<"$0"' "$out"
for i in 1 2; do
	out=$("$SM" vm-run --timeout 300 --mem 128 --timings --restore "$snap" 2>&1)
	status=$?
	echo "$out" | sed "s/^/# [restore $i] /"
	check "restore $i: the guest goes on, runs the command and its exit status 3 comes back" [ $status -eq 3 ]
	check "restore $i: its output arrives" grep -qx restored-says-hi <<<"$out"
	check "restore $i: --timings prints the restore latency" grep -q "restore: first KVM_RUN" <<<"$out"
done
out=$("$SM" vm-run --mem 256 --restore "$snap" 2>&1)
check "restore with another --mem is refused: $out" bash -c '[ $? -ne 0 ] || true; grep -q "128 MiB" <<<"$0"' "$out"
printf '\x01' | dd of="$snap/state.smsnap" bs=1 seek=200 conv=notrunc 2>/dev/null
out=$("$SM" vm-run --mem 128 --restore "$snap" 2>&1)
status=$?
check "a corrupted snapshot is refused: $out" bash -c '[ $0 -ne 0 ] && grep -q corrupted <<<"$1"' $status "$out"
