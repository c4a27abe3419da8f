#!/usr/bin/env bats
# Faults (issue 6 item 4, issue 4's "leaves nothing behind"): kill -9 of the monitor (the VMM), of
# `create` and of `delete` at each lifecycle step, the guest's agent dying with its VM, a forbidden
# system call in the VMM (seccomp), a full or read-only state root, the rootfs removed under a
# running container, and the bad-input failures. After each fault, `state` must tell the truth and
# `delete --force` must remove every trace (assert_no_trace in faults-helpers.bash).
# Containers restore the template VM (a few seconds each; the first create on a host boots it).

# run-bats: non-sanitizer tests: ^seccomp
load faults-helpers
bats_require_minimum_version 1.5.0

setup() {
	faults_setup
}

teardown() {
	faults_teardown
}

# kill_monitor ID: SIGKILL the container's monitor and wait until it is gone; prints its pid.
kill_monitor() {
	local pid
	pid=$(monitor_pid "$1")
	kill -9 "$pid"
	wait_pid_gone 20 "$pid"
	echo "$pid"
}

# state and list say stopped (pid 0) without hanging.
assert_stopped() {
	run timeout 20 "${SMR[@]}" state "$1"
	[ "$status" -eq 0 ]
	python3 -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["status"]=="stopped" and s["pid"]==0, s' "$output"
	run timeout 20 "${SMR[@]}" list --format json
	[ "$status" -eq 0 ]
	python3 -c 'import json,sys; l={c["id"]: c["status"] for c in json.loads(sys.argv[1])}; assert l[sys.argv[2]]=="stopped", l' "$output" "$1"
}

# delete_clean [--force] ID PID DESC: delete (--force) of container ID succeeds and nothing of it is
# left (PID: its monitor's pid, DESC: its cgroup description).
delete_clean() {
	local force=()
	[ "$1" != --force ] || { force=(--force); shift; }
	run timeout 120 "${SMR[@]}" delete "${force[@]}" "$1"
	[ "$status" -eq 0 ]
	assert_no_trace "$1" "$2" "$3"
}

# start_until_up ID: start the created container ID and wait until its process printed "up"; sets
# the caller's pid (the monitor's) and desc (the cgroup description) for delete_clean.
start_until_up() {
	"${SMR[@]}" start "$1"
	pid=$(monitor_pid "$1")
	desc=$(cgroup_desc "$1")
	wait_for 300 grep -qx up "$T/$1.out"
}

# stopped_with ID STATUS: container ID stops (within 300 s) with exit status STATUS.
stopped_with() {
	wait_for 300 status_is "$1" stopped
	[ "$(cat "$ROOT/$1/exit-status")" = "$2" ]
}

# ---- kill -9 at each lifecycle step ----

@test "monitor killed right after create: stopped, delete --force removes every trace" {
	require_guest
	local id=$PFX-created pid desc
	set_process '["sh", "-c", "sleep 1000"]'
	create_ctr "$id"
	[ "$(state_field "$id" status)" = created ]
	desc=$(cgroup_desc "$id")
	pid=$(kill_monitor "$id")
	assert_stopped "$id"
	# A stopped container is deleted without --force too, as runc's.
	delete_clean "$id" "$pid" "$desc"
}

@test "monitor killed while running: stopped, the exec proxy ends, delete --force cleans" {
	require_guest
	local id=$PFX-running pid desc
	set_process '["sh", "-c", "sleep 1000"]'
	create_ctr "$id"
	"${SMR[@]}" start "$id"
	"${SMR[@]}" exec --detach --pid-file "$T/epid" "$id" sleep 1000 </dev/null >/dev/null 2>&1
	kill -0 "$(cat "$T/epid")"
	desc=$(cgroup_desc "$id")
	pid=$(kill_monitor "$id")
	assert_stopped "$id"
	# The proxy's connection to the monitor broke: it must not wait forever.
	wait_pid_gone 30 "$(cat "$T/epid")"
	run "${SMR[@]}" exec "$id" true
	[ "$status" -ne 0 ]
	delete_clean --force "$id" "$pid" "$desc"
}

@test "monitor killed while paused: stopped, delete --force cleans" {
	require_guest
	local id=$PFX-paused pid desc
	set_process '["sh", "-c", "sleep 1000"]'
	create_ctr "$id"
	"${SMR[@]}" start "$id"
	"${SMR[@]}" pause "$id"
	[ "$(state_field "$id" status)" = paused ]
	desc=$(cgroup_desc "$id")
	pid=$(kill_monitor "$id")
	assert_stopped "$id"
	run "${SMR[@]}" resume "$id"
	[ "$status" -ne 0 ]
	delete_clean --force "$id" "$pid" "$desc"
}

@test "create killed while it waits for the monitor: creating, state/list answer, delete --force cleans" {
	require_guest
	local id=$PFX-creating pid desc cpid
	# No template: the monitor boots a guest (tens of seconds), so create is surely still waiting.
	SM_TEMPLATES=0 "${SMR[@]}" create --bundle "$B" "$id" </dev/null >/dev/null 2>&1 &
	cpid=$!
	wait_for 30 test -s "$ROOT/$id/state.json"
	# While create holds the container's lock: state answers at once (it used to wait for create).
	run timeout 20 "${SMR[@]}" state "$id"
	[ "$status" -eq 0 ]
	[[ "$output" == *'"status": "creating"'* ]]
	kill -0 "$cpid"
	kill -9 "$cpid"
	wait "$cpid" || true
	pid=$(monitor_pid "$id")
	desc=$(cgroup_desc "$id")
	run timeout 20 "${SMR[@]}" state "$id"
	[ "$status" -eq 0 ]
	[[ "$output" == *'"status": "creating"'* ]]
	run timeout 20 "${SMR[@]}" list --quiet
	[ "$status" -eq 0 ]
	[ "$output" = "$id" ]
	run timeout 20 "${SMR[@]}" start "$id"
	[ "$status" -ne 0 ]
	delete_clean --force "$id" "$pid" "$desc"
}

@test "create killed in a createRuntime hook (VM up, state creating): delete --force cleans" {
	require_guest
	local id=$PFX-hook pid desc cpid
	python3 - "$B/config.json" "$T/hook-ran" "$PFX-hookmark" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["sh", "-c", "sleep 1000"]
c["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "touch " + sys.argv[2] + "; sleep 1000", sys.argv[3]]}]}
json.dump(c, open(sys.argv[1], "w"))
PY
	"${SMR[@]}" create --bundle "$B" "$id" </dev/null >/dev/null 2>&1 &
	cpid=$!
	wait_for 120 test -e "$T/hook-ran"
	kill -9 "$cpid"
	wait "$cpid" || true
	# The hook outlives a killed create, as runc's would (in its own process group): not the
	# container's, but this test's to clean.
	local hook
	hook=$(pgrep -f -- "$PFX-hookmark")
	[ -n "$hook" ]
	kill -9 -- "-$hook"
	pid=$(monitor_pid "$id")
	desc=$(cgroup_desc "$id")
	[ "$(state_field "$id" status)" = creating ]
	delete_clean --force "$id" "$pid" "$desc"
}

@test "delete killed midway: delete --force again cleans" {
	require_guest
	local id=$PFX-delete pid desc dpid
	set_process '["sh", "-c", "sleep 1000"]'
	create_ctr "$id"
	"${SMR[@]}" start "$id"
	pid=$(monitor_pid "$id")
	desc=$(cgroup_desc "$id")
	# A stopped monitor holds delete in its SHUTDOWN request: kill delete there.
	kill -STOP "$pid"
	"${SMR[@]}" delete --force "$id" >/dev/null 2>&1 &
	dpid=$!
	wait_for 10 bash -c 'ls -l /proc/$1/fd 2>/dev/null | grep -q socket:' _ "$dpid"
	kill -9 "$dpid"
	wait "$dpid" || true
	kill -CONT "$pid"
	[ -e "$ROOT/$id/state.json" ]
	run timeout 20 "${SMR[@]}" state "$id"
	[ "$status" -eq 0 ]
	delete_clean --force "$id" "$pid" "$desc"
}

# ---- the guest side ----

@test "exec kill -9 -1 kills the container's processes: it stops with its status, delete works" {
	require_guest
	local id=$PFX-killall pid desc
	# The process is the container's pid 1, which SIGKILL from inside its namespace cannot touch
	# (as with runc); its child dies, and the process then exits with its own status.
	set_process '["sh", "-c", "sleep 1000 & echo up; wait; exit 3"]'
	create_ctr "$id"
	# The child must exist before the exec kills it (start returns before the process forks).
	start_until_up "$id"
	run timeout 300 "${SMR[@]}" exec "$id" sh -c 'kill -9 -1'
	stopped_with "$id" 3
	wait_pid_gone 30 "$pid"
	assert_stopped "$id"
	delete_clean "$id" "$pid" "$desc"
}

@test "the agent dies with its guest (reboot from the container): stopped with 137, cleaned" {
	require_guest
	local id=$PFX-agent pid desc
	# The agent is the guest's pid 1, which no signal kills; a container sharing the guest's pid
	# namespace with CAP_SYS_BOOT can reboot the guest under it (reboot=t: the VM stops).
	python3 - "$B/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["sh", "-c", "sleep 1000"]
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "pid"]
for k in ("bounding", "effective", "permitted"):
    c["process"]["capabilities"][k].append("CAP_SYS_BOOT")
json.dump(c, open(sys.argv[1], "w"))
PY
	create_ctr "$id"
	"${SMR[@]}" start "$id"
	pid=$(monitor_pid "$id")
	desc=$(cgroup_desc "$id")
	run timeout 300 "${SMR[@]}" exec "$id" sh -c 'cat /proc/1/cmdline; echo; reboot -f'
	[[ "$output" == */init* ]]
	[ "$status" -ne 0 ]
	wait_pid_gone 300 "$pid"
	[ "$(cat "$ROOT/$id/exit-status")" = 137 ]
	assert_stopped "$id"
	delete_clean "$id" "$pid" "$desc"
}

# ---- seccomp (issue 6 item 1) ----

# Sanitizer builds do not install the filter (runtime/confine.c: LeakSanitizer's exit-time tracer).
skip_if_sanitizer_build() {
	if ldd "$SM" 2>/dev/null | grep -q 'libasan'; then
		skip "sanitizer build: the seccomp filter is not installed (runtime/confine.c)"
	fi
}

@test "seccomp: a forbidden system call from a VMM thread kills the VMM; delete cleans up" {
	require_guest
	[ "$(uname -m)" = x86_64 ] || skip "the syscall injector is x86-64 only"
	skip_if_sanitizer_build
	local id=$PFX-seccomp pid desc tid
	create_ctr "$id"
	pid=$(monitor_pid "$id")
	desc=$(cgroup_desc "$id")
	grep -q '^Seccomp:[[:space:]]*2' "/proc/$pid/status"
	grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$pid/status"
	tid=$(vcpu_thread "$pid")
	# The control: an allowed call (getpid) injected the same way leaves the VMM serving.
	inject_syscall "$pid" 39
	inject_syscall "$tid" 39
	sleep 0.5
	! pid_gone "$pid"
	[ "$(state_field "$id" status)" = created ]
	# execve(NULL, NULL, NULL) from the vCPU thread: forbidden; the whole process dies (TSYNC).
	inject_syscall "$tid" 59 0 0 0
	wait_pid_gone 20 "$pid"
	# Where the kernel logs seccomp kills, the record names the process and the call.
	if dmesg 2>/dev/null | grep -q "type=1326.* pid=$pid "; then
		dmesg | grep "type=1326.* pid=$pid " | grep -q ' syscall=59 '
	fi
	assert_stopped "$id"
	delete_clean "$id" "$pid" "$desc"
}

@test "seccomp --debug: the forbidden system call is named before the VMM dies" {
	require_guest
	[ "$(uname -m)" = x86_64 ] || skip "the syscall injector is x86-64 only"
	skip_if_sanitizer_build
	local id=$PFX-secdebug pid desc
	"${SMR[@]}" --debug create --bundle "$B" "$id" </dev/null >/dev/null 2>"$T/err"
	pid=$(monitor_pid "$id")
	desc=$(cgroup_desc "$id")
	# mount(0, 0, 0, 0, 0) from the monitor's main thread (the one that does not block SIGSYS).
	inject_syscall "$pid" 165 0 0 0 0 0
	wait_pid_gone 20 "$pid"
	grep -q 'seccomp: forbidden system call mount' "$T/err"
	assert_stopped "$id"
	delete_clean --force "$id" "$pid" "$desc"
}

# ---- the environment ----

@test "full disk under --root: a clear error, nothing left (before and after the VM is up)" {
	require_guest
	local m=$T/full i
	mount_tmpfs "$m" size=64k
	ROOT=$m/root
	SMR=("$SM" --root "$ROOT")
	mkdir "$ROOT"
	for ((i = 0; i < 32; i++)); do
		dd if=/dev/zero of="$m/fill$i" bs=4k count=1 2>/dev/null || break
	done
	run "${SMR[@]}" create --bundle "$B" "$PFX-full0" </dev/null
	[ "$status" -eq 1 ]
	[[ "$output" == *"No space left on device"* ]]
	assert_no_trace "$PFX-full0"
	# One free page: the first state.json (creating) fits, the second (created, written while the
	# first still exists) does not: create fails with the VM up and must take it down.
	rm -f "$m/fill0"
	run "${SMR[@]}" create --bundle "$B" "$PFX-full1" </dev/null
	[ "$status" -eq 1 ]
	[[ "$output" == *"state.json"*"No space left on device"* ]]
	assert_no_trace "$PFX-full1"
	[ -z "$(ls -A "$ROOT")" ]
}

@test "read-only state root: a clear error naming it, nothing left" {
	[ "$(id -u)" = 0 ] || skip "needs root (mount)"
	local m=$T/ro
	mount_tmpfs "$m" ro,size=64k
	ROOT=$m/root
	SMR=("$SM" --root "$ROOT")
	run "${SMR[@]}" create --bundle "$B" "$PFX-ro"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$ROOT"*"Read-only file system"* ]]
	assert_no_trace "$PFX-ro"
	ROOT=$m
	SMR=("$SM" --root "$ROOT")
	run "${SMR[@]}" create --bundle "$B" "$PFX-ro"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$m/$PFX-ro"*"Read-only file system"* ]]
	assert_no_trace "$PFX-ro"
}

@test "bundle rootfs removed while running: exec fails clearly, kill and delete still work" {
	require_guest
	local id=$PFX-norootfs pid desc
	# "up" once sleep runs (exec'd, its binary mapped): an exec still to come would find no binary.
	set_process '["sh", "-c", "sleep 1000 & c=; until [ \"$c\" = sleep ]; do read c </proc/$!/comm; done; echo up; wait"]'
	create_ctr "$id"
	start_until_up "$id"
	rm -rf "$B/rootfs"
	run -127 timeout 300 "${SMR[@]}" exec "$id" /bin/cat /etc/passwd
	[[ "$output" == *"/bin/cat"* ]]
	[ "$(state_field "$id" status)" = running ]
	run timeout 120 "${SMR[@]}" kill "$id" KILL
	[ "$status" -eq 0 ]
	stopped_with "$id" 137
	delete_clean --force "$id" "$pid" "$desc"
}

# ---- issue 4's bad input (the cases of lifecycle.bats): each failure leaves nothing behind ----

# fails_clean ID PATTERN CMD...: CMD fails with PATTERN in its output and leaves no trace of ID.
fails_clean() {
	local id=$1 pat=$2
	shift 2
	run "$@"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$pat"* ]] || { echo "output: $output" >&2; return 1; }
	assert_no_trace "$id"
}

# edit_config PYTHON: change the bundle's config.json (c is the parsed config).
edit_config() {
	python3 -c "import json,sys; c=json.load(open(sys.argv[1])); $1; json.dump(c, open(sys.argv[1], 'w'))" "$B/config.json"
}

# bad_config ID EDIT EXPECTED: create ID with config.json changed by EDIT (python on c) fails naming
# EXPECTED and leaves nothing; config.json is then restored from $T/config.json.
bad_config() {
	edit_config "$2"
	fails_clean "$1" "$3" "${SMR[@]}" create --bundle "$B" "$1"
	cp "$T/config.json" "$B/config.json"
}

@test "bad input leaves nothing: unknown command or flag, invalid ids, unknown id, invalid signal" {
	fails_clean "$PFX-x" "unknown command" "${SMR[@]}" frobnicate "$PFX-x"
	fails_clean "$PFX-x" "--frob" "${SMR[@]}" create --frob x --bundle "$B" "$PFX-x"
	local bad
	for bad in ../x a/b .hidden "" -x "$(printf 'a%.0s' {1..300})"; do
		run "${SMR[@]}" create --bundle "$B" "$bad"
		[ "$status" -eq 1 ]
	done
	[ -z "$(ls -A "$ROOT")" ]
	assert_no_trace "$PFX-x"
	local cmd
	for cmd in state start kill delete ps pause resume events; do
		fails_clean "$PFX-none" "does not exist" "${SMR[@]}" $cmd "$PFX-none"
	done
	fails_clean "$PFX-none" "does not exist" "${SMR[@]}" exec "$PFX-none" true
	fails_clean "$PFX-none" NOSUCHSIG "${SMR[@]}" kill "$PFX-none" NOSUCHSIG
}

@test "bad input leaves nothing: bundle, config.json, executable, terminal, console socket" {
	local id=$PFX-cfg
	fails_clean "$id" "$B/nope" "${SMR[@]}" create --bundle "$B/nope" "$id"
	cp "$B/config.json" "$T/config.json"
	bad_config "$id" 'c["process"]["args"]="sh"' process.args
	set_process '["no-such-program"]'
	fails_clean "$id" 'executable file not found in $PATH' "${SMR[@]}" create --bundle "$B" "$id"
	set_process '["sh"]' true
	fails_clean "$id" "console socket" "${SMR[@]}" create --bundle "$B" "$id"
	fails_clean "$id" "$B/no.sock" "${SMR[@]}" create --bundle "$B" --console-socket "$B/no.sock" "$id"
	cp "$T/config.json" "$B/config.json"
	fails_clean "$id" "--preserve-fds" "${SMR[@]}" create --bundle "$B" --preserve-fds 2 "$id"
	bad_config "$id" 'c["annotations"]={"org.sm-runtime.vm.mem_mib":"lots"}' org.sm-runtime.vm.mem_mib
	bad_config "$id" 'c["hooks"]={"startContainer":[{"path":"/bin/true"}]}' hooks.startContainer
	bad_config "$id" 'c["linux"].setdefault("resources", {})["memory"]={"limit": 16777216}' \
		linux.resources.memory.limit
}

@test "bad input leaves nothing: a duplicate id touches neither the existing directory nor cgroups" {
	local id=$PFX-dup
	mkdir -p "$ROOT/$id"
	echo mine >"$ROOT/$id/marker"
	run "${SMR[@]}" create --bundle "$B" "$id"
	[ "$status" -eq 1 ]
	[[ "$output" == *"container \`$id\` already exists"* ]]
	[ "$(ls -A "$ROOT/$id")" = marker ]
	rm -rf "${ROOT:?}/$id"
	assert_no_trace "$id"
}

@test "a createRuntime hook that times out: create fails, the hook, VM and cgroup are gone" {
	require_guest
	local id=$PFX-hooktime
	python3 - "$B/config.json" "$PFX" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["true"]
c["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "sleep 1000", sys.argv[2] + "-hook"], "timeout": 1}]}
json.dump(c, open(sys.argv[1], "w"))
PY
	run timeout 120 "${SMR[@]}" create --bundle "$B" "$id" </dev/null
	[ "$status" -eq 1 ]
	[[ "$output" == *"createRuntime"*"timed out"* ]]
	assert_no_trace "$id"
	! pgrep -f -- "$PFX-hook" >/dev/null
}
