#!/usr/bin/env bats
# `sm-runtime update` on a real microVM: every flag rewrites the container's host cgroup live
# (read back from the cgroup files of whichever hierarchy, v1 or v2, holds the controller), the
# pids and memory limits also reach the container's cgroup inside the guest (read back through
# exec; the suite's container has none until the first update creates it), the --resources object
# is parsed like config.json's linux.resources, and every error names the flag or the field.
# `events` reads the same cgroup (its --stats figures, its stream, its errors). One VM boots (default shape: 256 MiB guest RAM, 1 vCPU), so the memory floor is
# 256 MiB + the VMM's 16 MiB = 285212672 bytes. A second, small VM checks a 48.25 MiB limit end to
# end (32 MiB guest; the container OOM-killed inside the guest).

load lifecycle-helpers
bats_require_minimum_version 1.5.0

MIB=$((1 << 20))
FLOOR=285212672
SMALL=50593792 # runtime-tools' linux_cgroups_memory limit, 48.25 MiB

setup_file() {
	vm_suite_container upd <<'PY'
# One exec, then no forks: in the emulated guest kernel (kvm_pvm) a `sleep 1` loop would cost a
# fork and an exec every second, slowing every exec and fork the tests make.
c["process"]["args"] = ["sh", "-c", "echo up; exec sleep 1000000"]
PY
}

teardown_file() {
	vm_suite_teardown
}

setup() {
	suite_skip
	SMR=("$SM" --root "$ROOT")
}

# cg CONTROLLER FILE...: print the first of FILE that exists in the container's directory of the
# hierarchy holding CONTROLLER (from the description create stored in state.json), else fail.
cg() {
	python3 - "$ROOT/$ID/state.json" "$@" <<'PY'
import json, os, sys
desc = json.load(open(sys.argv[1]))["smRuntime"]["cgroup"]
ctrl, files = sys.argv[2], sys.argv[3:]
dirs = []
for line in desc.splitlines():
    f = line.split(" ")
    if len(f) == 4 and f[0] == "1" and ctrl in f[1].split(","):
        dirs.insert(0, f[2] + f[3])
    elif len(f) == 4 and f[0] == "2":
        dirs.append(f[2] + f[3])
for d in dirs:
    for name in files:
        p = os.path.join(d, name)
        if os.path.exists(p):
            print(open(p).read().strip())
            sys.exit(0)
sys.exit("no %s in %s" % (files, dirs))
PY
}

# GUEST_CG_DIR: a shell snippet that sets $cg to the container's own cgroup directory inside the
# guest (its exec'd process joins that cgroup; /proc/self/cgroup is relative to its cgroup
# namespace). Shell builtins only: each fork and exec costs seconds of emulated guest kernel.
GUEST_CG_DIR='while IFS= read -r l; do case $l in 0::*) cg=/sys/fs/cgroup${l#0::};; esac; done </proc/self/cgroup'

# guest_cg FILE [ID]: FILE of the container's own cgroup inside the guest, read by an exec'd process.
guest_cg() {
	"${SMR[@]}" exec "${2:-$ID}" sh -c "$GUEST_CG_DIR"'; read -r v <"$cg/$1" && echo "$v"' _ "$1"
}

# The VMM emulates the guest kernel on its own CPU time (kvm_pvm), so a CFS quota left in force
# slows every later guest step: the CPU tests lift it when they are done.
lift_cpu_quota() {
	"${SMR[@]}" update --cpu-quota -1 "$ID"
	[ "$(cg cpu cpu.cfs_quota_us)" = -1 ] || [ "$(cg cpu cpu.max)" = "max 100000" ] # the period the tests leave
}

# Fails (with the output) unless the last `run` failed with a message containing $1.
fails_with() {
	[ "$status" -eq 1 ] || { echo "status $status: $output"; return 1; }
	[[ "$output" == *"$1"* ]] || { echo "wanted '$1' in: $output"; return 1; }
}

@test "the container runs and its state records the VM it was sized for" {
	[ "$(state_field "$ID" status)" = running ]
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["smRuntime"]["cgroup"]; assert "\nvm 268435456 " in d, d' \
		"$ROOT/$ID/state.json"
}

@test "--memory, --memory-swap, --memory-reservation rewrite the memory cgroup" {
	run "${SMR[@]}" update --memory 400m --memory-swap 600M --memory-reservation 300MiB "$ID"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(cg memory memory.limit_in_bytes memory.max)" = $((400 * MIB)) ]
	# In the guest (a cgroup made by this update): memory.max = min(limit, MemAvailable - 4 MiB).
	run guest_cg memory.max
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$output" -gt $((4 * MIB)) ] && [ "$output" -lt $((256 * MIB)) ] || { echo "guest memory.max $output"; false; }
	[ "$(cg memory memory.soft_limit_in_bytes memory.low)" = $((300 * MIB)) ]
	if cg memory memory.memsw.limit_in_bytes >/dev/null 2>&1; then
		[ "$(cg memory memory.memsw.limit_in_bytes)" = $((600 * MIB)) ]
	else
		[ "$(cg memory memory.swap.max)" = $((200 * MIB)) ]
	fi
	# A plain byte count, and a swap total alone: completed with the limit now in force.
	run "${SMR[@]}" update --memory $((512 * MIB)) "$ID"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(cg memory memory.limit_in_bytes memory.max)" = $((512 * MIB)) ]
	run "${SMR[@]}" update --memory-swap 1g "$ID"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(cg memory memory.memsw.limit_in_bytes memory.swap.max)" = $((1024 * MIB)) ] ||
		[ "$(cg memory memory.swap.max)" = $((512 * MIB)) ]
	[ "$(cg memory memory.limit_in_bytes memory.max)" = $((512 * MIB)) ]
}

@test "a memory limit below guest RAM + VMM overhead is refused, naming the minimum; nothing is written" {
	run "${SMR[@]}" update --memory 200m "$ID"
	fails_with "linux.resources.memory.limit"
	fails_with "minimum of $FLOOR bytes"
	[ "$(cg memory memory.limit_in_bytes memory.max)" = $((512 * MIB)) ]
	run "${SMR[@]}" update --memory $((FLOOR - 1)) "$ID"
	fails_with "minimum of $FLOOR bytes"
	# Exactly the minimum is fine.
	run "${SMR[@]}" update --memory $FLOOR --memory-swap -1 "$ID"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(cg memory memory.limit_in_bytes memory.max)" = $FLOOR ]
}

@test "--cpu-share (and --cpu-shares), --cpu-period, --cpu-quota rewrite the host CFS settings" {
	run "${SMR[@]}" update --cpu-share 512 --cpu-period 50000 --cpu-quota 25000 "$ID"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	if cg cpu cpu.shares >/dev/null 2>&1; then
		[ "$(cg cpu cpu.shares)" = 512 ]
		[ "$(cg cpu cpu.cfs_period_us)" = 50000 ]
		[ "$(cg cpu cpu.cfs_quota_us)" = 25000 ]
	else
		[ "$(cg cpu cpu.weight)" = 20 ]
		[ "$(cg cpu cpu.max)" = "25000 50000" ]
	fi
	run "${SMR[@]}" update --cpu-shares 1024 --cpu-quota -1 "$ID"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(cg cpu cpu.shares cpu.weight)" = 1024 ] || [ "$(cg cpu cpu.weight)" = 39 ]
	[ "$(cg cpu cpu.cfs_quota_us)" = -1 ] || [ "$(cg cpu cpu.max)" = "max 50000" ]
	# A period alone keeps the quota (cgroup v2 writes both in cpu.max).
	run "${SMR[@]}" update --cpu-quota 30000 "$ID"
	run "${SMR[@]}" update --cpu-period 100000 "$ID"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(cg cpu cpu.cfs_quota_us)" = 30000 ] || [ "$(cg cpu cpu.max)" = "30000 100000" ]
	lift_cpu_quota
	# The vCPU count is fixed: the guest still sees its one CPU.
	run "${SMR[@]}" exec "$ID" sh -c 'grep -c ^processor /proc/cpuinfo'
	[ "$status" -eq 0 ]
	[ "$output" = 1 ]
}

@test "--cpu-burst and --cpu-idle" {
	cg cpu cpu.cfs_burst_us cpu.max.burst >/dev/null 2>&1 || skip "no CFS burst on this kernel"
	run "${SMR[@]}" update --cpu-quota 30000 --cpu-burst 10000 --cpu-idle 1 "$ID"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(cg cpu cpu.cfs_burst_us cpu.max.burst)" = 10000 ]
	[ "$(cg cpu cpu.idle)" = 1 ]
	run "${SMR[@]}" update --cpu-idle 0 --cpu-burst 0 --cpu-quota 30000 "$ID"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(cg cpu cpu.idle)" = 0 ]
	lift_cpu_quota
}

@test "--cpu-rt-period and --cpu-rt-runtime (cgroup v1 realtime group scheduling)" {
	cg cpu cpu.rt_period_us >/dev/null 2>&1 || skip "no realtime group scheduling (cgroup v2 or no CONFIG_RT_GROUP_SCHED)"
	run "${SMR[@]}" update --cpu-rt-period 500000 --cpu-rt-runtime 0 "$ID"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(cg cpu cpu.rt_period_us)" = 500000 ]
	[ "$(cg cpu cpu.rt_runtime_us)" = 0 ]
	# The parent (/sm-runtime) has no realtime budget to hand out: the kernel's refusal names the field.
	run "${SMR[@]}" update --cpu-rt-runtime 1000 "$ID"
	fails_with "linux.resources.cpu.realtimeRuntime"
}

@test "--cpuset-cpus and --cpuset-mems" {
	local last=$(($(nproc) - 1))
	run "${SMR[@]}" update --cpuset-cpus "0-$last" --cpuset-mems 0 "$ID"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(cg cpuset cpuset.cpus cpuset.cpus.effective)" = "0-$last" ] || [ "$last" = 0 ]
	run "${SMR[@]}" update --cpuset-cpus 0 "$ID"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(cg cpuset cpuset.cpus)" = 0 ]
	[ "$(cg cpuset cpuset.mems)" = 0 ]
	run "${SMR[@]}" update --cpuset-cpus "0-$last" "$ID"
	[ "$status" -eq 0 ]
}

@test "--pids-limit rewrites the host pids.max; below the VMM's own threads it is refused" {
	run "${SMR[@]}" update --pids-limit 100 "$ID"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(cg pids pids.max)" = 100 ]
	# In the guest; the container's own /sys/fs/cgroup stays read-only (runc's default mount
	# option): its write fails and the limit stays.
	run "${SMR[@]}" exec "$ID" sh -c "$GUEST_CG_DIR"'
		read -r v <"$cg/pids.max"; echo "before $v"
		if { echo 7 >"$cg/pids.max"; } 2>/dev/null; then echo "wrote"; fi
		read -r v <"$cg/pids.max"; echo "after $v"'
	[ "$status" -eq 0 ] && [ "$output" = "$(printf 'before 100\nafter 100')" ] ||
		{ echo "status $status: $output"; false; }
	run "${SMR[@]}" update --pids-limit 5 "$ID"
	fails_with "linux.resources.pids.limit"
	[ "$(cg pids pids.max)" = 100 ]
	[ "$(guest_cg pids.max)" = 100 ] # refused on the host: the guest is not touched either
	run "${SMR[@]}" update --pids-limit -1 "$ID"
	[ "$status" -eq 0 ]
	[ "$(cg pids pids.max)" = max ]
	[ "$(guest_cg pids.max)" = max ]
}

@test "--pids-limit stops forks inside the guest at the new limit; the container's processes were moved in" {
	run "${SMR[@]}" update --pids-limit 40 "$ID"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	# One exec (each costs seconds of emulated guest kernel). First the cgroups of the container's
	# init (created without a guest cgroup) and of this process: init is in it now, not only
	# exec'd processes. Then 48 background subshells blocked on a FIFO (a fork each, no exec: the
	# guest kernel is slow here, and a forked `sleep` could end before the last fork), in a
	# subshell that a failed fork ends: forks fail at the limit. Past that point only shell
	# builtins (no fork) read the counters; kill -9 -1 then ends them (not init, not this shell).
	run "${SMR[@]}" exec "$ID" sh -c '
		while IFS= read -r l; do case $l in 0::*) echo "init ${l##*/}";; esac; done </proc/1/cgroup
		while IFS= read -r l; do case $l in 0::*) echo "self ${l##*/}"; cg=/sys/fs/cgroup${l#0::};; esac; done </proc/self/cgroup
		f=/dev/shm/upd-fifo-$$; mkfifo $f || exit 9
		(i=0; while [ $i -lt 48 ]; do read x <$f & i=$((i+1)); done) 2>/dev/null
		read cur <"$cg/pids.current"; echo "current $cur"
		while read k v; do [ "$k" = max ] && echo "events $v"; done <"$cg/pids.events"
		kill -9 -1 2>/dev/null; true'
	[ "$status" -eq 0 ] || { echo "status $status: $output"; false; }
	[[ "$output" =~ init\ ([^$'\n']+) ]] && local init=${BASH_REMATCH[1]} || { echo "init's cgroup: $output"; false; }
	[[ "$output" == *"self $init"* ]] || { echo "$output"; false; }
	[[ "$output" =~ current\ ([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -le 40 ] && [ "${BASH_REMATCH[1]}" -ge 30 ] ||
		{ echo "$output"; false; }
	[[ "$output" =~ events\ ([1-9][0-9]*) ]] || { echo "$output"; false; }
	run "${SMR[@]}" update --pids-limit -1 "$ID"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(guest_cg pids.max)" = max ]
	[ "$(state_field "$ID" status)" = running ]
}

@test "--blkio-weight" {
	run "${SMR[@]}" update --blkio-weight 500 "$ID"
	if cg blkio blkio.weight blkio.bfq.weight io.bfq.weight io.weight >/dev/null 2>&1; then
		[ "$status" -eq 0 ] || { echo "$output"; false; }
		local w
		w=$(cg blkio blkio.weight blkio.bfq.weight io.bfq.weight io.weight)
		[[ "$w" == 500 || "$w" == *" 500" || "$w" == *" 4950" ]]
	else
		fails_with "linux.resources.blockIO.weight: not supported by this host"
	fi
	run "${SMR[@]}" update --blkio-weight 5 "$ID"
	fails_with "linux.resources.blockIO.weight: 5 out of range [10, 1000]"
}

@test "--resources FILE and --resources - take a linux.resources object; other flags are ignored" {
	cat >"$D/res.json" <<-EOF
	{"memory": {"limit": $((640 * MIB)), "reservation": $((320 * MIB))},
	 "cpu": {"shares": 300, "quota": 40000, "period": 100000},
	 "pids": {"limit": 200}, "devices": [{"allow": false, "access": "rwm"}], "someFutureKey": 1}
	EOF
	run "${SMR[@]}" update --resources "$D/res.json" --pids-limit 300 "$ID"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"ignored"* ]]
	[[ "$output" == *"linux.resources.someFutureKey"* ]]
	[ "$(cg memory memory.limit_in_bytes memory.max)" = $((640 * MIB)) ]
	[ "$(cg memory memory.soft_limit_in_bytes memory.low)" = $((320 * MIB)) ]
	[ "$(cg pids pids.max)" = 200 ]
	[ "$(cg cpu cpu.shares)" = 300 ] || [ "$(cg cpu cpu.weight)" = 12 ]
	[ "$(cg cpu cpu.cfs_quota_us)" = 40000 ] || [ "$(cg cpu cpu.max)" = "40000 100000" ]
	lift_cpu_quota
	run bash -c 'echo "{\"pids\": {\"limit\": 150}, \"memory\": {\"limit\": 700000000}}" | "$@"' _ \
		"${SMR[@]}" update -r - "$ID"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(cg pids pids.max)" = 150 ]
	[ "$(cg memory memory.limit_in_bytes memory.max)" = 700000000 ] ||
		[ "$(cg memory memory.limit_in_bytes)" = 699998208 ]
}

@test "bad --resources JSON: syntax, wrong types and bad values name the file and the field" {
	echo '{"memory": {"limit": ' >"$D/bad.json"
	run "${SMR[@]}" update --resources "$D/bad.json" "$ID"
	fails_with "$D/bad.json"
	echo '{"memory": {"limit": "1g"}}' >"$D/bad.json"
	run "${SMR[@]}" update --resources "$D/bad.json" "$ID"
	fails_with "$D/bad.json: linux.resources.memory.limit"
	echo '{"cpu": {"shares": 1}}' >"$D/bad.json"
	run "${SMR[@]}" update -r "$D/bad.json" "$ID"
	fails_with "linux.resources.cpu.shares: 1 out of range [2, 262144]"
	echo '[1]' >"$D/bad.json"
	run "${SMR[@]}" update -r "$D/bad.json" "$ID"
	fails_with "linux.resources"
	run "${SMR[@]}" update -r "$D/missing.json" "$ID"
	fails_with "--resources"
	run bash -c 'echo "{\"pids\": {\"limit\": true}}" | "$@"' _ "${SMR[@]}" update -r - "$ID"
	fails_with "--resources -: linux.resources.pids.limit"
	[ "$(cg pids pids.max)" = 150 ]
}

@test "bad flags: unknown option, bad numbers and sizes, refused options, missing id" {
	run "${SMR[@]}" update --no-such-flag 1 "$ID"
	fails_with "unknown option \`--no-such-flag\`"
	run "${SMR[@]}" update --cpu-share abc "$ID"
	fails_with "--cpu-share: \`abc\` is not a number"
	run "${SMR[@]}" update --cpu-quota 1.5 "$ID"
	fails_with "--cpu-quota: \`1.5\` is not a number"
	run "${SMR[@]}" update --pids-limit 10x "$ID"
	fails_with "--pids-limit: \`10x\` is not a number"
	run "${SMR[@]}" update --memory 12q "$ID"
	fails_with "--memory: \`12q\` is not a size"
	run "${SMR[@]}" update --memory-swap 99999999999999999999 "$ID"
	fails_with "--memory-swap"
	run "${SMR[@]}" update --cpu-idle 2 "$ID"
	fails_with "--cpu-idle: 2 is out of range [0, 1]"
	run "${SMR[@]}" update --kernel-memory 100m "$ID"
	fails_with "--kernel-memory: not supported (kernel memory limits are deprecated"
	run "${SMR[@]}" update --l3-cache-schema L3:0=f "$ID"
	fails_with "--l3-cache-schema: not supported"
	run "${SMR[@]}" update --cpu-share 1 "$ID"
	fails_with "linux.resources.cpu.shares: 1 out of range [2, 262144]"
	run "${SMR[@]}" update --cpu-period 10 "$ID"
	fails_with "linux.resources.cpu.period"
	run "${SMR[@]}" update --cpuset-cpus '0;rm' "$ID"
	fails_with "linux.resources.cpu.cpus"
	run "${SMR[@]}" update --memory 1g
	fails_with "exactly one container id"
	run "${SMR[@]}" update --memory
	fails_with "missing value for option"
	run "${SMR[@]}" update --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--memory-swap"* ]]
}

@test "unknown container" {
	run "${SMR[@]}" update --memory 1g no-such-ctr
	fails_with "container \`no-such-ctr\` does not exist"
}

@test "state and exec still work after the updates; a paused container can be updated" {
	[ "$(state_field "$ID" status)" = running ]
	run "${SMR[@]}" exec "$ID" echo still-here
	[ "$status" -eq 0 ]
	[ "$output" = still-here ]
	"${SMR[@]}" pause "$ID"
	run "${SMR[@]}" update --pids-limit 120 "$ID"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(cg pids pids.max)" = 120 ]
	# The frozen guest gets the limit at resume.
	"${SMR[@]}" resume "$ID"
	[ "$(state_field "$ID" status)" = running ]
	[ "$(guest_cg pids.max)" = 120 ]
}

@test "events --stats: one runc-shaped JSON object with the host cgroup's figures" {
	run "${SMR[@]}" events --stats "$ID"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "${#lines[@]}" -eq 1 ] || { echo "$output"; false; }
	local limit pids
	limit=$(cg memory memory.limit_in_bytes memory.max)
	pids=$(cg pids pids.current)
	python3 - "$output" "$ID" "$limit" "$pids" <<'PY'
import json, sys
e = json.loads(sys.argv[1])
limit = sys.argv[3]
assert e["type"] == "stats" and e["id"] == sys.argv[2], e
d = e["data"]
m = d["memory"]["usage"]
# The VMM's cgroup holds the whole VM: guest RAM it touched and its own.
assert m["usage"] > 1 << 20, m
assert str(m["limit"]) == limit or (limit == "max" and m["limit"] == 2**64 - 1), (m, limit)
assert d["cpu"]["usage"]["total"] > 0, d["cpu"]
# vCPU, device and main threads; the figure moves, so only a sane range is checked.
assert 1 <= d["pids"]["current"] <= int(sys.argv[4]) + 16, (d["pids"], sys.argv[4])
assert isinstance(d["memory"]["raw"], dict) and d["memory"]["raw"], d["memory"]
assert d["blkio"] == {} and d["network_interfaces"] is None, d
PY
}

@test "events --interval streams stats lines until stopped; bad options name the argument" {
	run timeout 3 "${SMR[@]}" events --interval 400ms "$ID"
	[ "$status" -eq 124 ] || { echo "status $status: $output"; false; }
	[ "${#lines[@]}" -ge 3 ] || { echo "$output"; false; }
	for l in "${lines[@]}"; do
		python3 -c 'import json,sys; e=json.loads(sys.argv[1]); assert e["type"]=="stats" and e["id"]==sys.argv[2], e' "$l" "$ID"
	done
	run "${SMR[@]}" events --interval 0 "$ID"
	fails_with "--interval 0: the interval must be greater than 0"
	run "${SMR[@]}" events --interval 5x "$ID"
	fails_with "--interval: invalid duration \`5x\`"
	run "${SMR[@]}" events --bogus "$ID"
	fails_with "unknown option \`--bogus\`"
	run "${SMR[@]}" events
	fails_with "events needs exactly one container id"
	run "${SMR[@]}" events --stats no-such-ctr
	fails_with "container \`no-such-ctr\` does not exist"
}

# small_bundle DIR LIMIT: the suite's bundle with linux.resources.memory.limit = LIMIT.
small_bundle() {
	cp -a "$B" "$1"
	python3 - "$1/config.json" "$2" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["linux"].setdefault("resources", {})["memory"] = {"limit": int(sys.argv[2])}
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
}

@test "create refuses a memory limit below 48 MiB, naming the field and the minimum" {
	small_bundle "$D/tiny" $((48 * MIB - 1))
	run "${SMR[@]}" create --bundle "$D/tiny" "$ID-tiny" </dev/null
	fails_with "linux.resources.memory.limit: $((48 * MIB - 1)) bytes is below the minimum of $((48 * MIB)) bytes"
	[ ! -e "$ROOT/$ID-tiny" ]
}

@test "a 48.25 MiB limit: 32 MiB guest, exact host limit, the container is OOM-killed in the guest (events: oom), the VM lives" {
	local id=$ID-small
	small_bundle "$D/small" $SMALL
	# Not under `run`: the container's stdio is create's, so a pipe would stay open (as with runc).
	"${SMR[@]}" create --bundle "$D/small" "$id" </dev/null >"$D/small.out" 2>"$D/small.err" || {
		cat "$D/small.err"
		false
	}
	"${SMR[@]}" start "$id"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["smRuntime"]["cgroup"]; assert "\nvm 33554432 " in d, d' \
		"$ROOT/$id/state.json"
	[ "$(ID=$id cg memory memory.limit_in_bytes memory.max)" = $SMALL ]
	# The kill below happens inside the guest: the agent reports it, `events` prints runc's "oom".
	"${SMR[@]}" events --interval 1h "$id" >"$D/small-events.out" 2>&1 &
	local ev=$!
	wait_for 60 test -s "$D/small-events.out"
	# One exec (each costs seconds of emulated guest kernel): the container's guest cgroup has
	# memory.max within the limit and within what the guest has; then 16 MiB at once, past it and
	# within guest RAM (so malloc itself succeeds), is OOM-killed.
	run "${SMR[@]}" exec "$id" sh -c 'read -r m </sys/fs/cgroup/memory.max; echo "$m"; exec dd if=/dev/zero of=/dev/null bs=16M count=1'
	[ "$status" -eq 137 ] || { echo "status $status: $output"; false; }
	[ "${lines[0]}" -gt $((4 * MIB)) ] && [ "${lines[0]}" -lt $((32 * MIB)) ] || { echo "$output"; false; }
	# The VM lives: the next exec works.
	run "${SMR[@]}" exec "$id" cat /sys/fs/cgroup/memory.events
	[ "$status" -eq 0 ] || { echo "status $status: $output"; false; }
	[[ "$output" =~ oom_kill\ [1-9] ]] || { echo "$output"; false; }
	[ "$(state_field "$id" status)" = running ]
	wait_for 30 grep -q '"type":"oom"' "$D/small-events.out" || { cat "$D/small-events.out"; false; }
	grep -q "^{\"type\":\"oom\",\"id\":\"$id\"}\$" "$D/small-events.out" || { cat "$D/small-events.out"; false; }
	# update keeps create's floor for this VM: 32 MiB guest + 16 MiB.
	run "${SMR[@]}" update --memory $((48 * MIB - 1)) "$id"
	fails_with "minimum of $((48 * MIB)) bytes"
	# A new limit reaches the guest cgroup create made, clamped the same way; -1 lifts it.
	run "${SMR[@]}" update --memory 64m "$id"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(ID=$id cg memory memory.limit_in_bytes memory.max)" = $((64 * MIB)) ]
	run guest_cg memory.max "$id"
	[ "$output" -gt $((4 * MIB)) ] && [ "$output" -lt $((32 * MIB)) ] || { echo "guest memory.max $output"; false; }
	run "${SMR[@]}" update --memory -1 "$id"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(guest_cg memory.max "$id")" = max ]
	"${SMR[@]}" delete --force "$id"
	# The stream ends with its container.
	wait_for 30 eval "! kill -0 $ev 2>/dev/null"
	wait "$ev"
	[ "$(grep -c '"type":"oom"' "$D/small-events.out")" -ge 1 ]
}

@test "a stopped container is refused, as runc does; a running events stream ends with it" {
	"${SMR[@]}" events --interval 1s "$ID" >"$D/events.out" 2>&1 &
	local ev=$!
	wait_for 60 test -s "$D/events.out"
	"${SMR[@]}" kill "$ID" KILL
	wait_for 180 status_is "$ID" stopped
	run "${SMR[@]}" update --memory 1g "$ID"
	fails_with "container \`$ID\` is not running (stopped)"
	run "${SMR[@]}" events --stats "$ID"
	fails_with "container \`$ID\` is not running (stopped)"
	wait_for 30 eval "! kill -0 $ev 2>/dev/null"
	wait "$ev" || { echo "events exited $?: $(cat "$D/events.out")"; false; }
}
