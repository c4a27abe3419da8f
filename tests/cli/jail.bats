#!/usr/bin/env bats
# The VMM's jail (runtime/jail.h, docs/security.md "The VMM's jail"), seen from the host: the
# monitor's root holds only its state directory and /proc/self/fd, its mount namespace only the
# jail's three mounts, and the container still works (start, exec, files written in the rootfs
# reach the host) and leaves nothing behind, on the host's mount table included.
# One container restored from the template VM (a few seconds; the first create on a host boots it),
# and one with SM_JAIL=0 to show the knob. The VMM is the first process of a pid namespace of its
# own when the config creates one, and stays in the runtime's when it does not.

load lifecycle-helpers
bats_require_minimum_version 1.5.0

setup_file() {
	guest_suite_ready || return 0
	export ROOT B D ID HOST_MOUNTS
	ROOT=$(realpath "$(mktemp -d)")
	B=$(mktemp -d)
	D=$(mktemp -d)
	ID="jail$$"
	"$SM_TOP_SRCDIR/scripts/make-bundle.sh" "$B" "$SM" >/dev/null
	python3 - "$B/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["root"]["readonly"] = False
c["process"]["args"] = ["sh", "-c", "echo from-init > /from-init; while :; do sleep 1; done"]
c["process"]["terminal"] = False
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
	HOST_MOUNTS=$D/host-mounts
	mount_points >"$HOST_MOUNTS"
}

teardown_file() {
	vm_suite_teardown
}

setup() {
	suite_skip
	SMR=("$SM" --root "$ROOT")
}

# The host's mount points, one per line, sorted.
mount_points() {
	awk '{ print $5 }' /proc/self/mountinfo | sort
}

# Mount points the host gained since setup_file, leaving out what container engines run by other
# suites at the same time make (network namespaces, their storage): a count would see those.
new_host_mounts() {
	comm -13 "$HOST_MOUNTS" <(mount_points) | grep -Ev '^/run/(netns|containers|containerd|user)(/|$)|^/var/lib/(containers|containerd)(/|$)' || true
}

mon_pid() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$ROOT/$1/state.json"
}

@test "create: the monitor's root holds only the jail (no /etc, /usr, /home)" {
	"${SMR[@]}" --debug create --bundle "$B" "$ID" </dev/null >"$D/out" 2>"$D/err" || {
		sed 's/^/# create: /' "$D/err" >&3
		false
	}
	grep -q "VMM jail: entered" "$D/err"
	local pid top ns
	pid=$(mon_pid "$ID")
	# The default config creates network, ipc and uts namespaces: so does the VMM (the state pid).
	for ns in net ipc uts; do
		[ "$(readlink "/proc/$pid/ns/$ns")" != "$(readlink "/proc/self/ns/$ns")" ]
	done
	# And a pid namespace: the VMM is its first process (pid 1 there, the state pid here).
	[ "$(readlink "/proc/$pid/ns/pid")" != "$(readlink "/proc/self/ns/pid")" ]
	run awk '$1 == "NSpid:" { print $2, $3 }' "/proc/$pid/status"
	[ "$output" = "$pid 1" ]
	top=$(echo "$ROOT" | cut -d/ -f2)
	run ls -A "/proc/$pid/root/"
	echo "# root: ${lines[*]}" >&3
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[ "${lines[0]}" = proc ] || [ "${lines[1]}" = proc ]
	[ "${lines[0]}" = "$top" ] || [ "${lines[1]}" = "$top" ]
	for d in etc usr home dev bin var; do
		[ "$d" = "$top" ] || [ ! -e "/proc/$pid/root/$d" ]
	done
	# Its state directory, at the same path, is the only way out of the tmpfs.
	[ -S "/proc/$pid/root$ROOT/$ID/monitor.sock" ]
	[ "$(ls -A "/proc/$pid/root/proc/self/fd" | wc -l)" -gt 3 ]
	# The VMM's own fds there (its VM's), not those of the host's pid 1 (getpid() is 1 in its namespace).
	ls -l "/proc/$pid/root/proc/self/fd/" | grep -q 'kvm-vm'
	# No helper process is left: the monitor has no child.
	[ -z "$(pgrep -P "$pid")" ]
}

@test "mountinfo: only the jail's mounts (read-only tmpfs root, state directory, /proc/self/fd)" {
	local pid
	pid=$(mon_pid "$ID")
	run cat "/proc/$pid/mountinfo"
	printf '# %s\n' "${lines[@]}" >&3
	[ "${#lines[@]}" -eq 3 ]
	python3 - "/proc/$pid/mountinfo" "$ROOT/$ID" <<'PY'
import sys
mounts = {}
for line in open(sys.argv[1]):
    f = line.split()
    sep = f.index("-")
    mounts[f[4]] = (f[5].split(","), f[sep + 1])
assert set(mounts) == {"/", sys.argv[2], "/proc/self/fd"}, mounts
assert mounts["/"][1] == "tmpfs" and "ro" in mounts["/"][0], mounts["/"]
assert "rw" in mounts[sys.argv[2]][0] and "noexec" in mounts[sys.argv[2]][0], mounts[sys.argv[2]]
assert mounts["/proc/self/fd"][1] == "proc" and "ro" in mounts["/proc/self/fd"][0]
PY
}

@test "the jailed container works: start, exec, files written in the rootfs reach the host" {
	run "${SMR[@]}" start "$ID"
	[ "$status" -eq 0 ]
	wait_for 120 test -s "$B/rootfs/from-init"
	[ "$(cat "$B/rootfs/from-init")" = from-init ]
	run "${SMR[@]}" exec "$ID" sh -c 'cat /from-init; echo from-exec > /from-exec; mkdir -p /d/e; ln /from-exec /d/e/link; cat /d/e/link'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = from-init ]
	[ "${lines[1]}" = from-exec ]
	[ "$(cat "$B/rootfs/from-exec")" = from-exec ]
	[ "$(stat -c %h "$B/rootfs/from-exec")" = 2 ]
	[ "$(state_field "$ID" status)" = running ]
}

@test "nothing of the jail reaches the host's mount table" {
	run new_host_mounts
	[ -z "$output" ] || echo "# new host mounts: $output" >&3
	[ -z "$output" ]
	! grep -q sm-jail /proc/self/mountinfo
	! grep -q "$ROOT" /proc/self/mountinfo
}

@test "delete --force removes everything: process, state directory, no mount left on the host" {
	local pid
	pid=$(mon_pid "$ID")
	run "${SMR[@]}" delete --force "$ID"
	[ "$status" -eq 0 ]
	wait_for 20 bash -c '! kill -0 "$1" 2>/dev/null' _ "$pid"
	[ ! -e "$ROOT/$ID" ]
	run new_host_mounts
	[ -z "$output" ] || echo "# new host mounts: $output" >&3
	[ -z "$output" ]
	! grep -q "$ROOT" /proc/self/mountinfo
	! pgrep -f -- "--root $ROOT " >/dev/null
}

@test "SM_JAIL=0 turns the jail off (the monitor sees the host's root), and says so with --debug" {
	SM_JAIL=0 "${SMR[@]}" --debug create --bundle "$B" "$ID-off" </dev/null >"$D/out2" 2>"$D/err2" || {
		sed 's/^/# create: /' "$D/err2" >&3
		false
	}
	grep -q "VMM jail: off (SM_JAIL=0)" "$D/err2"
	local pid
	pid=$(mon_pid "$ID-off")
	[ -e "/proc/$pid/root/etc" ]
	run "${SMR[@]}" delete --force "$ID-off"
	[ "$status" -eq 0 ]
	[ ! -e "$ROOT/$ID-off" ]
}

@test "a network namespace given by path: the VMM (state pid) joins it" {
	local holder pid cfg="$D/netns-bundle"
	# Its own output fds, or bats would wait for it.
	unshare --net --fork sleep 1000 </dev/null >/dev/null 2>&1 3>&- &
	holder=$!
	wait_for 10 bash -c '[ "$(readlink /proc/$(pgrep -P "$1" | head -n1)/ns/net)" != "$(readlink /proc/self/ns/net)" ]' _ "$holder"
	local ns_pid
	ns_pid=$(pgrep -P "$holder" | head -n1)
	cp -a "$B" "$cfg"
	python3 - "$cfg/config.json" "/proc/$ns_pid/ns/net" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
ns = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
ns.append({"type": "network", "path": sys.argv[2]})
c["linux"]["namespaces"] = ns
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
	# Not `run`: the monitor keeps create's stdout, which would hold bats' capture pipe open.
	"${SMR[@]}" create --bundle "$cfg" "$ID-net" </dev/null >"$D/net.out" 2>"$D/net.err" || {
		sed 's/^/# create: /' "$D/net.err" >&3
		false
	}
	pid=$(mon_pid "$ID-net")
	[ "$(readlink "/proc/$pid/ns/net")" = "$(readlink "/proc/$ns_pid/ns/net")" ]
	# The other namespace types the config creates are still the VMM's own.
	[ "$(readlink "/proc/$pid/ns/uts")" != "$(readlink "/proc/self/ns/uts")" ]
	run "${SMR[@]}" delete --force "$ID-net"
	[ "$status" -eq 0 ]
	kill "$holder" "$ns_pid" 2>/dev/null || true
	wait "$holder" 2>/dev/null || true
	[ ! -e "$ROOT/$ID-net" ]
}

@test "a config without a pid namespace: the VMM stays in the runtime's pid namespace, still jailed" {
	local pid cfg="$D/nopid-bundle"
	cp -a "$B" "$cfg"
	python3 - "$cfg/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "pid"]
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
	"${SMR[@]}" --debug create --bundle "$cfg" "$ID-nopid" </dev/null >"$D/nopid.out" 2>"$D/nopid.err" || {
		sed 's/^/# create: /' "$D/nopid.err" >&3
		false
	}
	grep -q "VMM jail: entered" "$D/nopid.err"
	pid=$(mon_pid "$ID-nopid")
	[ "$(readlink "/proc/$pid/ns/pid")" = "$(readlink "/proc/self/ns/pid")" ]
	[ "$(readlink "/proc/$pid/ns/uts")" != "$(readlink "/proc/self/ns/uts")" ]
	ls -l "/proc/$pid/root/proc/self/fd/" | grep -q 'kvm-vm'
	run "${SMR[@]}" delete --force "$ID-nopid"
	[ "$status" -eq 0 ]
	wait_for 20 bash -c '! kill -0 "$1" 2>/dev/null' _ "$pid"
	[ ! -e "$ROOT/$ID-nopid" ]
}
