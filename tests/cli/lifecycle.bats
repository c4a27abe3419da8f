#!/usr/bin/env bats
# The lifecycle commands' bad-input paths and the commands that need no VM: each fails with a
# clear message before anything boots, and leaves no state directory behind.

load lifecycle-helpers

setup() {
	lifecycle_setup
}

teardown() {
	lifecycle_teardown
}

@test "--version prints runc-style lines" {
	run "$SM" --version
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "sm-runtime version "* ]]
	[[ "${lines[1]}" == "spec: 1.2."* ]]
	[[ "${lines[2]}" == "commit: "* ]]
}

@test "unknown command and unknown flag" {
	run "${SMR[@]}" frobnicate
	[ "$status" -eq 1 ]
	[[ "$output" == *"unknown command"* ]]
	run "${SMR[@]}" create --frob x
	[ "$status" -eq 1 ]
	[[ "$output" == *"unknown option"*"--frob"* ]]
}

@test "create: invalid ids are refused" {
	for id in ../x a/b .hidden "" -x "$(printf 'a%.0s' {1..300})"; do
		run "${SMR[@]}" create --bundle "$B" "$id"
		[ "$status" -eq 1 ]
	done
	[ -z "$(ls "$ROOT")" ]
}

@test "create: missing bundle is named" {
	run "${SMR[@]}" create --bundle "$B/nope" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"$B/nope"* ]]
	[ ! -e "$ROOT/c1" ]
}

@test "create: invalid config.json names the field" {
	python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["process"]["args"]="sh"; json.dump(c, open(sys.argv[1], "w"))' "$B/config.json"
	run "${SMR[@]}" create --bundle "$B" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"process.args"* ]]
	[ ! -e "$ROOT/c1" ]
}

@test "create: missing executable gives runc's message" {
	set_process '["no-such-program"]'
	run "${SMR[@]}" create --bundle "$B" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *'exec: "no-such-program": executable file not found in $PATH'* ]]
	[ ! -e "$ROOT/c1" ]
}

@test "create: terminal without --console-socket is refused" {
	set_process '["sh"]' true
	run "${SMR[@]}" create --bundle "$B" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"console socket"* ]]
	[ ! -e "$ROOT/c1" ]
}

@test "create: a console socket that does not exist is named, nothing left" {
	set_process '["sh"]' true
	run "${SMR[@]}" create --bundle "$B" --console-socket "$B/no.sock" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"$B/no.sock"* ]]
	[ ! -e "$ROOT/c1" ]
	no_stray_monitor
}

@test "create: --preserve-fds is refused, bad VM annotations are named" {
	run "${SMR[@]}" create --bundle "$B" --preserve-fds 2 c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"--preserve-fds"* ]]
	python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["annotations"]={"org.sm-runtime.vm.mem_mib":"lots"}; json.dump(c, open(sys.argv[1], "w"))' "$B/config.json"
	run "${SMR[@]}" create --bundle "$B" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"org.sm-runtime.vm.mem_mib"* ]]
	[ ! -e "$ROOT/c1" ]
}

@test "create: duplicate id" {
	mkdir -p "$ROOT/c1"
	run "${SMR[@]}" create --bundle "$B" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"container \`c1\` already exists"* ]]
}

@test "unknown container: state, start, kill, delete, ps, exec, pause, events" {
	for cmd in state start kill delete ps pause resume events; do
		run "${SMR[@]}" $cmd nope
		[ "$status" -eq 1 ]
		[[ "$output" == *"container \`nope\` does not exist"* ]]
	done
	run "${SMR[@]}" exec nope true
	[ "$status" -eq 1 ]
	[[ "$output" == *"does not exist"* ]]
	run "${SMR[@]}" delete --force nope
	[ "$status" -eq 0 ]
}

@test "kill: invalid signal" {
	run "${SMR[@]}" kill c1 NOSUCHSIG
	[ "$status" -eq 1 ]
	[[ "$output" == *"NOSUCHSIG"* ]]
}

# A container whose monitor is a live process that is not a VM: enough for the state machine.
fake_container() { # fake_container ID STATUS PID
	mkdir -p "$ROOT/$1"
	local start
	start=$(awk '{print $22}' "/proc/$3/stat" 2>/dev/null || echo 1)
	cat >"$ROOT/$1/state.json" <<JSON
{"ociVersion":"1.2.0","id":"$1","pid":$3,"status":"$2","bundle":"$B","rootfs":"$B/rootfs",
 "created":"2026-01-01T00:00:00Z","owner":"root",
 "smRuntime":{"version":1,"createdNs":0,"ownerUid":0,"vmmPid":$3,"vmmStartTime":$start,"sockets":{}}}
JSON
}

@test "delete of a running container without --force fails; a dead monitor means stopped" {
	sleep 1000 &
	local pid=$!
	fake_container c1 running $pid
	run "${SMR[@]}" delete c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"not stopped"* ]]
	[ -d "$ROOT/c1" ]
	kill $pid; wait $pid || true
	run state_field c1 status
	[ "$output" = stopped ]
	run "${SMR[@]}" delete c1
	[ "$status" -eq 0 ]
	[ ! -e "$ROOT/c1" ]
}

@test "delete --force kills a monitor that does not answer" {
	sleep 1000 &
	local pid=$!
	fake_container c2 created $pid
	run "${SMR[@]}" delete --force c2
	[ "$status" -eq 0 ]
	[ ! -e "$ROOT/c2" ]
	run wait $pid
	[ "$status" -eq 137 ]
}

@test "kill of a stopped container fails" {
	sh -c 'exit 0' &
	local pid=$!
	fake_container c4 running $pid
	wait $pid || true
	run "${SMR[@]}" kill c4 KILL
	[ "$status" -eq 1 ]
	[[ "$output" == *"not running"* ]]
}

@test "list shows containers in table, json and quiet form" {
	sleep 1000 &
	local pid=$!
	fake_container c5 created $pid
	run "${SMR[@]}" list
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == ID* ]]
	[[ "${lines[1]}" == c5*created* ]]
	run "${SMR[@]}" list --quiet
	[ "$output" = c5 ]
	run "${SMR[@]}" list --format json
	python3 -c 'import json,sys; l=json.loads(sys.argv[1]); assert l[0]["id"]=="c5" and l[0]["status"]=="created", l' "$output"
	kill $pid; wait $pid || true
	run "${SMR[@]}" list --format yaml
	[ "$status" -eq 1 ]
}

@test "features prints valid JSON with the implemented hooks and namespaces" {
	run "$SM" features
	[ "$status" -eq 0 ]
	python3 -c '
import json,sys
f=json.loads(sys.argv[1])
assert f["ociVersionMax"].startswith("1.2"), f
assert "poststop" in f["hooks"] and "startContainer" not in f["hooks"]
assert "time" in f["linux"]["namespaces"] and "user" in f["linux"]["namespaces"]
' "$output"
}

@test "create: startContainer hooks are refused naming the field" {
	python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["hooks"]={"startContainer":[{"path":"/bin/true"}]}; json.dump(c, open(sys.argv[1], "w"))' "$B/config.json"
	run "${SMR[@]}" create --bundle "$B" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"hooks.startContainer"* ]]
	[ ! -e "$ROOT/c1" ]
}

@test "--log --log-format json: the failure is the last error line, and on stderr" {
	run "${SMR[@]}" --log "$ROOT/log.json" --log-format json state nope
	[ "$status" -eq 1 ]
	[[ "$output" == *"container \`nope\` does not exist"* ]]
	python3 -c '
import json,sys
l=[json.loads(x) for x in open(sys.argv[1])]
e=[x for x in l if x["level"]=="error"][-1]
assert "does not exist" in e["msg"] and "time" in e, e' "$ROOT/log.json"
	rm "$ROOT/log.json"
	run "${SMR[@]}" --log-format yaml list
	[ "$status" -eq 1 ]
}

@test "create: a memory limit too small for a guest names linux.resources.memory.limit" {
	python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["linux"].setdefault("resources", {})["memory"]={"limit": 16777216}; json.dump(c, open(sys.argv[1], "w"))' "$B/config.json"
	run "${SMR[@]}" create --bundle "$B" c1
	[ "$status" -eq 1 ]
	[[ "$output" == *"linux.resources.memory.limit"* ]]
	[ ! -e "$ROOT/c1" ]
}
