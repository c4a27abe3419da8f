#!/usr/bin/env bats
# Terminal sizes and `ps` on a real microVM. One container with process.terminal on a
# --console-socket (one boot, or a template restore): its initial size (consoleSize), a resize of
# the master as conmon and containerd's shim do it, the same for exec --tty, then `ps` as runc's.

load lifecycle-helpers
bats_require_minimum_version 1.5.0

setup_file() {
	vm_suite_setup
}

teardown_file() {
	# The console-socket receivers first (recv), then the containers and folders.
	[ -z "${D:-}" ] || kill $(cat "$D"/*.recv 2>/dev/null) 2>/dev/null || true
	vm_suite_teardown
}

setup() {
	suite_skip
	SMR=("$SM" --root "$ROOT")
}

# recv NAME: a console-socket receiver writing NAME.out, resized through NAME.ctl.
recv() {
	python3 "$SM_TOP_SRCDIR/tests/cli/tty-recv.py" "$D/$1.sock" "$D/$1.out" "$D/$1.ctl" &
	echo $! >"$D/$1.recv"
	wait_for 10 test -S "$D/$1.sock"
}

# resize NAME ROWS COLS: set the master's size; wait until the receiver did it.
resize() {
	echo "$2 $3" >"$D/$1.ctl"
	wait_for 10 test ! -e "$D/$1.ctl"
}

# The terminal prints "stty size" once at start and again on every SIGWINCH (which interrupts
# `wait`). No busy loop: every fork costs emulated guest-kernel time here.
SIZE_LOOP='stty size; trap "stty size" WINCH; echo ready; sleep 100000 & while :; do wait; done'

@test "create --console-socket: consoleSize is the initial size; a resized master reaches the guest" {
	python3 - "$B/config.json" "$SIZE_LOOP" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["sh", "-c", sys.argv[2]]
c["process"]["terminal"] = True
c["process"]["consoleSize"] = {"height": 20, "width": 70}
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
	recv init
	"${SMR[@]}" create --bundle "$B" --console-socket "$D/init.sock" c1 </dev/null >/dev/null 2>"$D/create.err" || {
		sed 's/^/# create: /' "$D/create.err" >&3
		false
	}
	"${SMR[@]}" start c1
	wait_for 180 grep -q ready "$D/init.out"
	grep -q '^20 70' "$D/init.out"
	resize init 33 111
	wait_for 90 grep -q '^33 111' "$D/init.out"
	resize init 21 81
	wait_for 90 grep -q '^21 81' "$D/init.out"
}

@test "exec --tty --console-socket --detach: consoleSize, then the master's resizes" {
	python3 - "$B/config.json" "$D/proc.json" "$SIZE_LOOP" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))["process"]
p["args"] = ["sh", "-c", "exit_on_winch=1; " + sys.argv[3]]
p["terminal"] = True
p["consoleSize"] = {"height": 25, "width": 80}
json.dump(p, open(sys.argv[2], "w"))
PY
	recv ex
	"${SMR[@]}" exec --detach --tty --console-socket "$D/ex.sock" --pid-file "$D/ex.pid" --process "$D/proc.json" c1 \
		</dev/null >/dev/null 2>&1
	wait_for 120 grep -q ready "$D/ex.out"
	grep -q '^25 80' "$D/ex.out"
	resize ex 40 120
	wait_for 90 grep -q '^40 120' "$D/ex.out"
	resize ex 12 34
	wait_for 90 grep -q '^12 34' "$D/ex.out"
	kill -0 "$(cat "$D/ex.pid")"
}

@test "exec --tty from a terminal: the caller's size is the initial size" {
	command -v script >/dev/null || skip "no script(1)"
	run script -qec "stty rows 31 cols 101; $SM --root $ROOT exec --tty c1 stty size" /dev/null
	[ "$status" -eq 0 ] || { echo "$output" | sed 's/^/# exec: /' >&3; false; }
	[[ "$output" == *"31 101"* ]]
}

@test "ps: runc's ps -ef table of the guest's processes" {
	run "${SMR[@]}" ps c1
	[ "$status" -eq 0 ] || { echo "$output" | sed 's/^/# ps: /' >&3; false; }
	[ "${lines[0]}" = "UID        PID  PPID  C STIME TTY          TIME CMD" ]
	# The container's shell on the VM console, owned by root, with its command line.
	echo "$output" | grep -E '^root +[0-9]+ +[0-9]+ +[0-9]+ [0-9:A-Za-z]+ +hvc0 +[0-9:-]+ sh -c stty size'
	# The exec'd shell on a pty of its own.
	echo "$output" | grep -E '^root +[0-9]+ +[0-9]+ +[0-9]+ [0-9:A-Za-z]+ +pts/[0-9]+ +[0-9:-]+ sh -c exit_on_winch'
}

@test "ps --format json: runc's array of pids, the same as the table's" {
	run "${SMR[@]}" ps --format json c1
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^\[[0-9]+(,[0-9]+)*\]$ ]]
	json=$output
	run "${SMR[@]}" ps c1 -- -o pid=
	[ "$status" -eq 0 ]
	[ "[$(echo $output | tr ' ' ',')]" = "$json" ]
}

@test "ps ID -- -o FIELDS: ps options; unsupported ones are refused" {
	run "${SMR[@]}" ps c1 -- -o pid,ppid,user,comm,stat,tty
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "  PID  PPID USER     COMMAND         STAT TT" ]
	echo "$output" | grep -E '^ +[0-9]+ +[0-9]+ root +sleep +S'
	run "${SMR[@]}" ps c1 -o pid,args
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "  PID COMMAND" ]
	run "${SMR[@]}" ps c1 aux
	[ "$status" -eq 1 ]
	[[ "$output" == *"ps option \`aux\` is not supported"* ]]
	run "${SMR[@]}" ps c1 -- -o pid,wchan
	[ "$status" -eq 1 ]
	[[ "$output" == *"unknown -o field \`wchan\`"* ]]
	run "${SMR[@]}" ps --format xml c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"invalid format option"* ]]
}

@test "delete --force ends the container and its exec proxy" {
	run "${SMR[@]}" delete --force c1
	[ "$status" -eq 0 ]
	[ ! -e "$ROOT/c1" ]
	wait_for 30 bash -c '! kill -0 "$(cat "$1")" 2>/dev/null' _ "$D/ex.pid"
}
