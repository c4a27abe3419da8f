#!/usr/bin/env bash
# End to end, the one cold boot of the test suite (every other guest test restores a snapshot or a
# template VM): boot the real guest kernel with sm-runtime's VMM, save a snapshot at the guest
# init's ready point (--save-snapshot --leave-running) and let the guest go on to run a command;
# check that its output and its exit status come back. Then `vm-run --restore` of that snapshot, in
# new processes, goes on from the ready point twice (the command runs again, its output and status
# come back), and bad restores are refused clearly.
set -u
. "$SM_TOP_SRCDIR/tests/e2e/lib.sh"
e2e_require_guest
echo "1..15"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
snap=$dir/snap
out=$dir/out
"$SM" vm-run --timings --timeout 900 --mem 128 --save-snapshot "$snap" --leave-running \
	--cmdline 'echo hello; echo err >&2; uname -s; exit 3' >"$out" 2>&1
status=$?
sed 's/^/# [boot] /' "$out"
check "guest exit status 3 comes back" [ "$status" -eq 3 ]
check "guest stdout line hello" grep -qx 'hello' "$out"
check "guest ran uname" grep -qx 'Linux' "$out"
check "timings printed" grep -q 'ready after' "$out"
check "the snapshot directory holds state.smsnap and memory.img" \
	[ -s "$snap/state.smsnap" -a -f "$snap/memory.img" ]
check "memory.img is 128 MiB long but sparse" \
	bash -c '[ $(stat -c %s "$0") -eq 134217728 ] && [ $(( $(stat -c %b "$0") * 512 )) -lt 134217728 ]' "$snap/memory.img"
check "the guest command did not run before the snapshot" \
	bash -c 's=$(grep -n "snapshot saved" "$0" | head -n 1 | cut -d: -f1); h=$(grep -nx hello "$0" | head -n 1 | cut -d: -f1); [ -n "$s" ] && [ -n "$h" ] && [ "$s" -lt "$h" ]' "$out"
for i in 1 2; do
	out=$("$SM" vm-run --timeout 300 --mem 128 --timings --restore "$snap" 2>&1)
	status=$?
	echo "$out" | sed "s/^/# [restore $i] /"
	check "restore $i: the guest goes on, runs the command and its exit status 3 comes back" [ $status -eq 3 ]
	check "restore $i: its output arrives" grep -qx hello <<<"$out"
	check "restore $i: --timings prints the restore latency" grep -q "restore: first KVM_RUN" <<<"$out"
done
out=$("$SM" vm-run --mem 256 --restore "$snap" 2>&1)
check "restore with another --mem is refused: $out" bash -c '[ $? -ne 0 ] || true; grep -q "128 MiB" <<<"$0"' "$out"
printf '\x01' | dd of="$snap/state.smsnap" bs=1 seek=200 conv=notrunc 2>/dev/null
out=$("$SM" vm-run --mem 128 --restore "$snap" 2>&1)
status=$?
check "a corrupted snapshot is refused: $out" bash -c '[ $0 -ne 0 ] && grep -q corrupted <<<"$1"' $status "$out"
