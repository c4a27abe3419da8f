#!/usr/bin/env bats
# checkpoint / restore on real microVMs (created from the template snapshot: a few seconds each).
# A counter loop writing into the container's rootfs (virtio-fs) is checkpointed, restored and
# keeps counting; its stdout and exit status come back through the restored monitor. Also: every
# container restored from one template gets its own vsock CID, checked inside the guest.

load lifecycle-helpers
bats_require_minimum_version 1.5.0

setup_file() {
	export ROOT B D
	ROOT=$(mktemp -d)
	B=$(mktemp -d)
	D=$(mktemp -d)
	"$SM_TOP_SRCDIR/scripts/make-bundle.sh" "$B" "$SM" >/dev/null
	# The counter writes into the rootfs (the default bundle's root is read-only).
	python3 - "$B/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["root"]["readonly"] = False
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
}

teardown_file() {
	vm_suite_teardown
}

setup() {
	SMR=("$SM" --root "$ROOT")
}

count() {
	local v
	v=$(cat "$B/rootfs/tmp/count" 2>/dev/null)
	[[ "$v" =~ ^[0-9]+$ ]] && echo "$v" || echo 0
}

count_above() {
	[ "$(count)" -gt "$1" ]
}

@test "checkpoint of an unknown container fails clearly" {
	run "${SMR[@]}" checkpoint --image-path "$D/none" nosuch
	[ "$status" -eq 1 ]
	[[ "$output" == *"container \`nosuch\` does not exist"* ]]
}

@test "checkpoint refuses --pre-dump and --page-server; ignores runc's CRIU flags" {
	run "${SMR[@]}" checkpoint --pre-dump nosuch
	[ "$status" -eq 1 ]
	[[ "$output" == *"--pre-dump: not supported"* ]]
	run "${SMR[@]}" checkpoint --page-server 1.2.3.4:5 nosuch
	[ "$status" -eq 1 ]
	[[ "$output" == *"--page-server: not supported"* ]]
	run "${SMR[@]}" checkpoint --lazy-pages nosuch
	[ "$status" -eq 1 ]
	[[ "$output" == *"--lazy-pages: not supported"* ]]
	run "${SMR[@]}" checkpoint --tcp-established --file-locks --shell-job --ext-unix-sk --work-path "$D/w" nosuch
	[[ "$output" == *"--tcp-established ignored"* ]]
	[[ "$output" == *"--file-locks ignored"* ]]
	[[ "$output" == *"does not exist"* ]]
}

@test "restore of a directory that is not a checkpoint image fails clearly" {
	mkdir -p "$D/notimg"
	run "${SMR[@]}" restore --detach --image-path "$D/notimg" --bundle "$B" r0
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not a checkpoint image"* ]]
	[ ! -e "$ROOT/r0" ]
	run "${SMR[@]}" restore --detach --tcp-established --image-path "$D/notimg" --bundle "$B" r0
	[[ "$output" == *"--tcp-established ignored"* ]]
}

@test "checkpoint of a stopped container fails clearly" {
	require_guest
	set_process '["true"]'
	"${SMR[@]}" run --detach --bundle "$B" s1 </dev/null >/dev/null 2>&1
	wait_for 180 status_is s1 stopped
	run "${SMR[@]}" checkpoint --image-path "$D/s1" s1
	[ "$status" -eq 1 ]
	[[ "$output" == *"is stopped: only a running or paused container can be checkpointed"* ]]
	"${SMR[@]}" delete s1
}

@test "checkpoint --leave-running: the counter goes on in the same container" {
	require_guest
	set_process '["sh", "-c", "i=0; trap \"exit 7\" TERM; while :; do i=$((i+1)); echo $i > /tmp/count; echo tick $i; sleep 1; done"]'
	rm -f "$B/rootfs/tmp/count"
	"${SMR[@]}" run --detach --bundle "$B" c1 </dev/null >"$D/out1" 2>&1
	wait_for 180 count_above 2
	run "${SMR[@]}" checkpoint --leave-running --image-path "$D/img1" c1
	[ "$status" -eq 0 ]
	[ -s "$D/img1/memory.zimg" ] && [ -s "$D/img1/state.smsnap" ] && [ -s "$D/img1/checkpoint.json" ]
	[ "$(state_field c1 status)" = running ]
	n=$(count)
	wait_for 60 count_above $((n + 2))
	# The agent connection was re-made: signals still reach the process.
	"${SMR[@]}" kill c1 TERM
	wait_for 60 status_is c1 stopped
	"${SMR[@]}" delete c1
}

@test "checkpoint stops the container; restore continues the count, stdout and exit status" {
	require_guest
	set_process '["sh", "-c", "i=0; trap \"exit 7\" TERM; while :; do i=$((i+1)); echo $i > /tmp/count; echo tick $i; sleep 1; done"]'
	rm -f "$B/rootfs/tmp/count"
	"${SMR[@]}" run --detach --bundle "$B" c2 </dev/null >"$D/out2" 2>&1
	wait_for 180 count_above 3
	run "${SMR[@]}" checkpoint --image-path "$D/img2" c2
	[ "$status" -eq 0 ]
	[ "$(state_field c2 status)" = stopped ]
	n=$(count)
	sleep 3
	[ "$(count)" -eq "$n" ] # the VM is gone: nothing counts
	"${SMR[@]}" delete c2
	# Foreground restore: its exit status is the container's.
	"${SMR[@]}" restore --image-path "$D/img2" --bundle "$B" --pid-file "$D/pid2" c2 </dev/null >"$D/out3" 2>&1 &
	rpid=$!
	wait_for 180 status_is c2 running || { cat "$D/out3"; false; }
	wait_for 60 count_above $((n + 2))
	# Counting went on from n (a fresh start would have written 1, 2, ...).
	[ "$(count)" -gt "$n" ]
	wait_for 30 grep -q "tick $((n + 2))" "$D/out3"
	! grep -qx "tick 1" "$D/out3"
	[ "$(state_field c2 pid)" = "$(cat "$D/pid2")" ]
	"${SMR[@]}" kill c2 TERM
	st=0
	wait $rpid || st=$?
	[ "$st" -eq 7 ]
	wait_for 30 status_is c2 stopped
	"${SMR[@]}" delete c2
}

@test "restore refuses a corrupted memory image and leaves nothing behind" {
	require_guest
	[ -s "$D/img2/memory.zimg" ] || skip "no checkpoint image (the checkpoint test skipped)"
	cp -r "$D/img2" "$D/bad"
	printf '\xff' | dd of="$D/bad/memory.zimg" bs=1 seek=200 conv=notrunc 2>/dev/null
	run "${SMR[@]}" restore --detach --image-path "$D/bad" --bundle "$B" c3
	[ "$status" -eq 1 ]
	[[ "$output" == *"corrupted"* ]]
	[ ! -e "$ROOT/c3" ]
}

@test "delete removes the restored snapshot with the state directory" {
	[ ! -e "$ROOT/c2" ]
	! ls "$ROOT"/*/memory.img 2>/dev/null
}

# The guest-side view of the CID: a static probe binds to each candidate (Linux allows only its own).
build_cid_probe() {
	[ -x "$B/rootfs/bin/vsock-cid" ] && return 0
	"${CC:-cc}" -static -O2 -o "$B/rootfs/bin/vsock-cid" "$SM_TOP_SRCDIR/tests/cli/vsock-cid.c" 2>"$D/cc.err" ||
		skip "cannot build a static probe: $(head -c 200 "$D/cc.err")"
}

cid_of() {
	cat "$ROOT/$1/vsock-cid"
}

@test "two containers from one template get different vsock CIDs, seen by the guest kernel" {
	require_guest
	build_cid_probe
	set_process '["sleep", "600"]'
	"${SMR[@]}" run --detach --bundle "$B" v1 </dev/null >/dev/null 2>"$D/v1.err" || { cat "$D/v1.err"; false; }
	"${SMR[@]}" run --detach --bundle "$B" v2 </dev/null >/dev/null 2>"$D/v2.err" || { cat "$D/v2.err"; false; }
	c1=$(cid_of v1)
	c2=$(cid_of v2)
	echo "CIDs: $c1 $c2"
	[ "$c1" -ge 4 ] && [ "$c2" -ge 4 ] && [ "$c1" -ne "$c2" ]
	# Each guest's kernel has its own CID (and not the template's 3): TRANSPORT_RESET re-read it.
	run "${SMR[@]}" exec v1 /bin/vsock-cid "$c1" "$c2" 3
	echo "v1: $output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$c1 mine"* ]]
	[[ "$output" == *"$c2 not mine"* ]]
	run "${SMR[@]}" exec v2 /bin/vsock-cid "$c1" "$c2" 3
	echo "v2: $output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$c2 mine"* ]]
	[[ "$output" == *"$c1 not mine"* ]]
	# Claimed host-wide while the monitors live, given back by delete.
	ls /run/sm-runtime-vsock-cids/"$c1" /run/sm-runtime-vsock-cids/"$c2"
	"${SMR[@]}" delete --force v1
	"${SMR[@]}" delete --force v2
	[ ! -e /run/sm-runtime-vsock-cids/"$c1" ] && [ ! -e /run/sm-runtime-vsock-cids/"$c2" ]
}

@test "a held CID is not given to another container" {
	require_guest
	# Hold the CID the next container's state directory hashes to, as a live monitor would.
	set_process '["true"]'
	"${SMR[@]}" create --bundle "$B" h1 </dev/null >/dev/null 2>"$D/h1.err" || { cat "$D/h1.err"; false; }
	c=$(cid_of h1)
	"${SMR[@]}" delete --force h1
	exec {lk}>/run/sm-runtime-vsock-cids/"$c"
	flock -n "$lk"
	"${SMR[@]}" create --bundle "$B" h1 </dev/null >/dev/null 2>"$D/h1.err" || { cat "$D/h1.err"; exec {lk}>&-; false; }
	c2=$(cid_of h1)
	exec {lk}>&-
	rm -f /run/sm-runtime-vsock-cids/"$c"
	"${SMR[@]}" delete --force h1
	echo "hashed $c, got $c2"
	[ "$c2" -ne "$c" ]
}
