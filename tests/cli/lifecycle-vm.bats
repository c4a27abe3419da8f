#!/usr/bin/env bats
# The lifecycle on real microVMs. Boots cost 25-60 s here, so the file boots three VMs: one
# container walked through create/state/ps/start/exec/kill/delete, one `run` in the foreground,
# and one detached `run` with a terminal on a --console-socket, removed with delete --force.

load lifecycle-helpers
bats_require_minimum_version 1.5.0

setup_file() {
	vm_suite_setup
}

teardown_file() {
	vm_suite_teardown
}

setup() {
	suite_skip
	SMR=("$SM" --root "$ROOT")
}

@test "create boots the VM and prepares the process without starting it" {
	set_process '["sh", "-c", "echo started; echo err-line >&2; trap \"echo got-term; exit 42\" TERM; sleep 1000000 & while :; do wait; done"]'
	"${SMR[@]}" create --bundle "$B" --pid-file "$D/pid" c1 </dev/null >"$D/out" 2>"$D/err" || {
		sed 's/^/# create: /' "$D/err" >&3
		false
	}
	[ "$(state_field c1 status)" = created ]
	[ "$(state_field c1 pid)" = "$(cat "$D/pid")" ]
	[ "$(state_field c1 bundle)" = "$B" ]
	kill -0 "$(cat "$D/pid")"
	[ ! -s "$D/out" ]
}

@test "ps lists the guest pids of the created container" {
	run "${SMR[@]}" ps --format json c1
	[ "$status" -eq 0 ]
	python3 -c 'import json,sys; l=json.loads(sys.argv[1]); assert len(l) >= 1 and all(isinstance(p, int) for p in l), l' "$output"
}

@test "start runs the process: stdout and stderr relayed, state running" {
	run "${SMR[@]}" start c1
	[ "$status" -eq 0 ]
	wait_for 180 grep -qx started "$D/out"
	wait_for 60 grep -qx err-line "$D/err"
	[ "$(state_field c1 status)" = running ]
	run "${SMR[@]}" start c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot start a container that is running"* ]]
}

@test "exec: output, exit status, --env and --cwd" {
	run "${SMR[@]}" exec --env FOO=bar --cwd /tmp c1 sh -c 'echo $FOO; pwd; exit 5'
	[ "$status" -eq 5 ]
	[ "${lines[0]}" = bar ]
	[ "${lines[1]}" = /tmp ]
	run -127 "${SMR[@]}" exec c1 no-such-program
	[ "$status" -eq 127 ]
}

@test "exec joins every namespace of the container, its network namespace too" {
	# One exec (a guest fork+exec costs ~0.5 s here): ls is in the exec'd process's namespaces.
	run "${SMR[@]}" exec c1 ls -l /proc/self/ns/ /proc/1/ns/
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	for ns in cgroup ipc mnt net pid uts; do
		self=$(grep -A20 '^/proc/self/ns/:' <<<"$output" | grep -m1 " $ns -> " | sed 's/.* -> //')
		init=$(grep -A20 '^/proc/1/ns/:' <<<"$output" | grep -m1 " $ns -> " | sed 's/.* -> //')
		[ -n "$self" ] && [ "$self" = "$init" ] || { echo "$ns: exec '$self', init '$init'"; echo "$output"; false; }
	done
}

@test "exec --detach: the proxy's pid goes to --pid-file and it ends with the process" {
	"${SMR[@]}" exec --detach --pid-file "$D/epid" c1 sh -c 'sleep 2; exit 6' </dev/null >/dev/null 2>&1
	[ -s "$D/epid" ]
	wait_for 180 bash -c '! kill -0 "$(cat "$1")" 2>/dev/null' _ "$D/epid"
}

@test "delete of a running container without --force fails; pause and resume stop and restart the vCPUs" {
	run "${SMR[@]}" delete c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"not stopped"* ]]
	run "${SMR[@]}" pause c1
	[ "$status" -eq 0 ]
	[ "$(state_field c1 status)" = paused ]
	run "${SMR[@]}" ps c1
	[ "$status" -eq 1 ]
	run "${SMR[@]}" resume c1
	[ "$status" -eq 0 ]
	[ "$(state_field c1 status)" = running ]
	run "${SMR[@]}" exec c1 echo after-resume
	[ "$status" -eq 0 ]
	[ "$output" = after-resume ]
}

@test "kill TERM reaches the process in the guest; the container stops with its status" {
	run "${SMR[@]}" kill c1 TERM
	[ "$status" -eq 0 ]
	wait_for 180 status_is c1 stopped
	grep -qx got-term "$D/out"
	[ "$(cat "$ROOT/c1/exit-status")" = 42 ]
	[ "$(state_field c1 pid)" = 0 ]
	run "${SMR[@]}" kill c1 KILL
	[ "$status" -eq 1 ]
}

@test "delete removes the stopped container: no state, no monitor" {
	local pid
	pid=$(cat "$D/pid")
	run "${SMR[@]}" delete c1
	[ "$status" -eq 0 ]
	[ ! -e "$ROOT/c1" ]
	! ps -o stat= -p "$pid" | grep -qv Z
}

@test "run: stdin and stdout relayed, the container's exit status returned, then deleted" {
	set_process '["sh", "-c", "echo run-out; read x; echo got-$x; exit 7"]'
	run bash -c 'echo line | "$@"' _ "${SMR[@]}" run --bundle "$B" r1
	[ "$status" -eq 7 ]
	[ "${lines[0]}" = run-out ]
	[ "${lines[1]}" = got-line ]
	[ ! -e "$ROOT/r1" ]
}

@test "run --detach with a terminal: the pty master goes to --console-socket; delete --force" {
	set_process '["sh", "-c", "tty; read x; echo got-$x; sleep 1000"]' true
	python3 "$SM_TOP_SRCDIR/tests/cli/console-recv.py" "$D/cons.sock" "$D/cons.out" $'hello\r' &
	local recv=$!
	wait_for 10 test -S "$D/cons.sock"
	"${SMR[@]}" run --detach --console-socket "$D/cons.sock" --pid-file "$D/tpid" --bundle "$B" t1 \
		</dev/null >/dev/null 2>&1
	wait_for 180 grep -q got-hello "$D/cons.out"
	grep -q '^NAME /dev/pts/' "$D/cons.out"
	grep -q /dev/hvc0 "$D/cons.out"
	[ "$(state_field t1 status)" = running ]
	run "${SMR[@]}" delete --force t1
	[ "$status" -eq 0 ]
	[ ! -e "$ROOT/t1" ]
	! ps -o stat= -p "$(cat "$D/tpid")" | grep -qv Z
	wait $recv || true
}

@test "a failing createRuntime hook fails create and leaves nothing; poststop hooks run" {
	set_process '["true"]'
	python3 - "$B/config.json" "$D/poststop.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["hooks"] = {
    "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo hook-said-no >&2; exit 3"]}],
    "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", "cat > " + sys.argv[2]]}],
}
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
	run "${SMR[@]}" create --bundle "$B" h1 </dev/null
	[ "$status" -eq 1 ]
	[[ "$output" == *"createRuntime"*"hook-said-no"* ]]
	[ ! -e "$ROOT/h1" ]
	no_stray_monitor
	grep -q '"id": *"h1"' "$D/poststop.json"
	python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); del c["hooks"]; json.dump(c, open(sys.argv[1], "w"))' "$B/config.json"
}
