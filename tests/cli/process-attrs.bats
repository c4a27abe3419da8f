#!/usr/bin/env bats
# process.scheduler, process.execCPUAffinity and linux.timeOffsets on a real microVM: applied by
# the guest agent before execve, read back from what the guest's processes see (/proc/<pid>/stat,
# /proc/self/status, /proc/1/timens_offsets, /proc/uptime). One VM runs the suite's container
# (SCHED_BATCH nice 7, a time namespace with offsets); a second create checks that a policy the
# guest kernel refuses fails the create naming process.scheduler. Guest execs are few: each costs
# about a second of emulated guest kernel (kvm_pvm). The guest kernel has one CPU (no SMP): CPU 0.

load lifecycle-helpers
shopt -s extglob
bats_require_minimum_version 1.5.0

BOOT_OFF=1000000

setup_file() {
	vm_suite_container attrs "$BOOT_OFF" <<'PY'
c["process"]["args"] = ["sh", "-c", "exec sleep 1000000"]
c["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 7}
c["linux"]["namespaces"].append({"type": "time"})
c["linux"]["timeOffsets"] = {"monotonic": {"secs": 7881, "nanosecs": 2718281},
                             "boottime": {"secs": int(sys.argv[2]), "nanosecs": 3141519}}
PY
}

teardown_file() {
	vm_suite_teardown
}

setup() {
	suite_skip
	SMR=("$SM" --root "$ROOT")
}

# derived_bundle DIR: a bundle in DIR on the suite's rootfs, its config.json the suite's edited
# by the Python code on stdin (it changes the dict `c`).
derived_bundle() {
	mkdir -p "$1"
	python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))
c["root"]["path"] = sys.argv[1].rsplit("/", 1)[0] + "/rootfs"
exec(sys.stdin.read())
json.dump(c, open(sys.argv[2], "w"))' "$B/config.json" "$1/config.json"
}

# exec_fails FILE EXTRA_JSON MESSAGE: exec --process FILE (`true` with EXTRA_JSON's fields) fails
# with MESSAGE in its output.
exec_fails() {
	process_json "$1" '["true"]' "$2"
	run "${SMR[@]}" exec --process "$1" "$ID"
	[ "$status" -ne 0 ] && [[ "$output" == *"$3"* ]] || {
		echo "status $status: $output"
		false
	}
}

# process_json FILE ARGS_JSON EXTRA_JSON: an exec --process file (the bundle's process, replaced).
process_json() {
	python3 - "$B/config.json" "$1" "$2" "$3" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))["process"]
p["args"] = json.loads(sys.argv[3])
p.pop("scheduler", None)
p.update(json.loads(sys.argv[4]))
json.dump(p, open(sys.argv[2], "w"))
PY
}

# field N LINE: the Nth field of a /proc/<pid>/stat line (comm has no spaces here).
field() {
	echo "$2" | cut -d' ' -f"$1"
}

@test "scheduler, time namespace and execCPUAffinity as the guest's processes see them (one exec)" {
	process_json "$D/p.json" '["sh", "-c", "cat /proc/1/stat /proc/self/stat /proc/1/timens_offsets /proc/uptime; grep Cpus_allowed_list /proc/self/status"]' \
		'{"scheduler": {"policy": "SCHED_RR", "priority": 5}, "execCPUAffinity": {"initial": "0", "final": "0"}}'
	run "${SMR[@]}" exec --process "$D/p.json" "$ID"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	echo "$output"
	mapfile -t l <<<"$output"
	# /proc/<pid>/stat: 19 nice, 40 rt_priority, 41 policy. Pid 1 is sh or, once it exec'd, sleep;
	# busybox runs an applet through /proc/self/exe, so its comm may then be "exe".
	[[ "$(field 2 "${l[0]}")" == @("(sh)"|"(sleep)"|"(exe)") ]]
	[ "$(field 2 "${l[1]}")" = "(cat)" ]
	[ "$(field 41 "${l[0]}")" = 3 ] # SCHED_BATCH
	[ "$(field 19 "${l[0]}")" = 7 ]
	[ "$(field 41 "${l[1]}")" = 2 ] # the exec'd process: SCHED_RR, priority 5
	[ "$(field 40 "${l[1]}")" = 5 ]
	# The container's time namespace, with the offsets written before its first process entered.
	[[ "${l[2]}" =~ ^monotonic\ +7881\ +2718281$ ]]
	[[ "${l[3]}" =~ ^boottime\ +$BOOT_OFF\ +3141519$ ]]
	# /proc/uptime is CLOCK_BOOTTIME of the reader's namespace: the guest booted minutes ago.
	up=${l[4]%%.*}
	[ "$up" -ge "$BOOT_OFF" ] && [ "$up" -lt $((BOOT_OFF + 86400)) ]
	[[ "${l[5]}" =~ ^Cpus_allowed_list:[[:space:]]+0$ ]]
}

@test "execCPUAffinity naming a CPU the VM does not have fails the exec, naming the field" {
	exec_fails "$D/cpu.json" '{"execCPUAffinity": {"final": "0-1"}}' \
		"process.execCPUAffinity.final: CPU 1 is not one of the VM's CPUs (0)"
}

@test "timeOffsets without a time namespace are refused before a VM starts; exec --process refuses ioPriority" {
	derived_bundle "$D/b2" <<'PY'
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "time"]
PY
	"${SMR[@]}" create --bundle "$D/b2" "$ID-t" </dev/null >"$D/t.out" 2>"$D/t.err" && false
	grep -q "linux.timeOffsets: not supported by sm-runtime: given without a time namespace" "$D/t.err" ||
		{ cat "$D/t.err"; false; }
	# Refused on the host as create refuses it (oci/support.c): the guest kernel has no block
	# layer (CONFIG_BLOCK), so ioprio_set(2) would be ENOSYS there.
	exec_fails "$D/io.json" '{"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4}}' \
		"$D/io.json: ioPriority: not supported by sm-runtime: the guest kernel is built without a block layer"
}

@test "a scheduling policy the guest kernel refuses fails create, naming process.scheduler" {
	derived_bundle "$D/b3" <<'PY'
c["process"]["scheduler"] = {"policy": "SCHED_ISO"}  # reserved: sched_setattr says EINVAL
PY
	"${SMR[@]}" create --bundle "$D/b3" "$ID-s" </dev/null >"$D/s.out" 2>"$D/s.err" && false
	grep -q "process.scheduler: sched_setattr (policy 4, nice 0, priority 0, flags 0): Invalid argument" \
		"$D/s.err" || { cat "$D/s.err"; false; }
	run "${SMR[@]}" state "$ID-s"
	[ "$status" -ne 0 ]
}
