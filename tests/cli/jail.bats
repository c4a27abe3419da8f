#!/usr/bin/env bats
# The VMM's jail (runtime/jail.h, docs/security.md "The VMM's jail"), seen from the host: the
# monitor's root holds only its state directory and /proc/self/fd, its mount namespace only the
# jail's three mounts, and the container still works (start, exec, files written in the rootfs
# reach the host) and leaves nothing behind, on the host's mount table included.
# One container restored from the template VM (a few seconds; the first create on a host boots it),
# and one with SM_JAIL=0 to show the knob. The VMM is the first process of a pid namespace of its
# own when the config creates one, and stays in the runtime's when it does not; the same for a user
# namespace (identity-mapped, SM_JAIL_USERNS=0 turns it off); and without a mount namespace in the
# config it has no jail and shares the runtime's mount namespace.

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
	# And a mount namespace: the jail's own.
	[ "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink "/proc/self/ns/mnt")" ]
	# No user namespace in the config: the VMM stays in the runtime's.
	[ "$(readlink "/proc/$pid/ns/user")" = "$(readlink "/proc/self/ns/user")" ]
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

# Bundle $1: a copy of $B with config.json changed by the python code $2 (c is the config).
derived_bundle() {
	cp -a "$B" "$1"
	python3 - "$1/config.json" "$2" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
exec(sys.argv[2])
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
}

# The user namespace fd of /proc/$1's parent (NS_GET_PARENT) names the same namespace as $2's.
userns_parent_is() {
	python3 - "/proc/$1/ns/user" "$2" <<'PY'
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
parent = fcntl.ioctl(fd, 0xb702)  # NS_GET_PARENT
a, b = os.fstat(parent), os.stat(sys.argv[2])
sys.exit(0 if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino) else 1)
PY
}

USERNS_CFG='
c["linux"]["namespaces"].append({"type": "user"})
c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1000}]
c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1000}]
c["process"]["args"] = ["sh", "-c", "while :; do sleep 1; done"]
'

@test "a config with a user namespace: the VMM has one of its own, identity-mapped, a child of the host's" {
	local pid cfg="$D/userns-bundle" caps
	derived_bundle "$cfg" "$USERNS_CFG"
	# A directory of the container's root (host id 1000): what it creates there is chowned by the VMM.
	mkdir "$cfg/rootfs/w"
	chown 1000:1000 "$cfg/rootfs/w"
	"${SMR[@]}" --debug create --bundle "$cfg" "$ID-user" </dev/null >"$D/user.out" 2>"$D/user.err" || {
		sed 's/^/# create: /' "$D/user.err" >&3
		false
	}
	grep -q "VMM: in a user namespace of its own" "$D/user.err"
	grep -q "VMM jail: entered" "$D/user.err"
	pid=$(mon_pid "$ID-user")
	[ "$(readlink "/proc/$pid/ns/user")" != "$(readlink "/proc/self/ns/user")" ]
	# Its parent is the runtime's namespace, where it has no capability at all: being root of a
	# child namespace gives none in the parent.
	userns_parent_is "$pid" /proc/self/ns/user
	[ "$(awk '{ print $1, $2, $3 }' "/proc/$pid/uid_map")" = "0 0 4294967295" ]
	[ "$(awk '{ print $1, $2, $3 }' "/proc/$pid/gid_map")" = "0 0 4294967295" ]
	# Its capabilities (in its own namespace) are the cut-down set: no CAP_SYS_ADMIN (21) there either.
	caps=$(awk '$1 == "CapEff:" { print $2 }' "/proc/$pid/status")
	[ $(( 0x$caps & (1 << 21) )) -eq 0 ]
	[ $(( 0x$caps & (1 << 1) )) -ne 0 ] # CAP_DAC_OVERRIDE stays
	# The other namespaces and the jail are as without it.
	[ "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink "/proc/self/ns/mnt")" ]
	[ "$(readlink "/proc/$pid/ns/pid")" != "$(readlink "/proc/self/ns/pid")" ]
	ls -l "/proc/$pid/root/proc/self/fd/" | grep -q 'kvm-vm'
	[ -z "$(pgrep -P "$pid")" ] # the mapper and the jail's helper are gone
	run "${SMR[@]}" start "$ID-user"
	[ "$status" -eq 0 ]
	# The guest applies the config's maps; the VMM's server still chowns to the mapped host ids.
	run "${SMR[@]}" exec "$ID-user" sh -c 'cat /proc/self/uid_map; id -u; echo hi > /w/f; mkdir /w/d; cat /w/f'
	printf '# exec: %s\n' "${lines[@]}" >&3
	[ "$status" -eq 0 ]
	[ "$(echo "${lines[0]}" | awk '{ print $1, $2, $3 }')" = "0 1000 1000" ]
	[ "${lines[1]}" = 0 ]
	[ "${lines[2]}" = hi ]
	[ "$(stat -c %u:%g "$cfg/rootfs/w/f")" = 1000:1000 ]
	[ "$(stat -c %u:%g "$cfg/rootfs/w/d")" = 1000:1000 ]
	run "${SMR[@]}" delete --force "$ID-user"
	[ "$status" -eq 0 ]
	wait_for 20 bash -c '! kill -0 "$1" 2>/dev/null' _ "$pid"
	[ ! -e "$ROOT/$ID-user" ]
}

@test "SM_JAIL_USERNS=0 keeps the VMM in the runtime's user namespace, and says so with --debug" {
	local pid cfg="$D/userns-bundle-off"
	derived_bundle "$cfg" "$USERNS_CFG"
	SM_JAIL_USERNS=0 "${SMR[@]}" --debug create --bundle "$cfg" "$ID-useroff" </dev/null >"$D/useroff.out" 2>"$D/useroff.err" || {
		sed 's/^/# create: /' "$D/useroff.err" >&3
		false
	}
	grep -q "stays in the runtime's user namespace (SM_JAIL_USERNS=0)" "$D/useroff.err"
	pid=$(mon_pid "$ID-useroff")
	[ "$(readlink "/proc/$pid/ns/user")" = "$(readlink "/proc/self/ns/user")" ]
	run "${SMR[@]}" delete --force "$ID-useroff"
	[ "$status" -eq 0 ]
	[ ! -e "$ROOT/$ID-useroff" ]
}

@test "without CAP_SETUID to map it, the VMM stays in the runtime's user namespace (debug log), the container runs" {
	command -v capsh >/dev/null || skip "no capsh"
	local pid cfg="$D/userns-bundle-nocap"
	derived_bundle "$cfg" "$USERNS_CFG"
	# Root's capabilities after exec come from the bounding set: without setuid there, none to map with.
	capsh --drop=cap_setuid -- -c '"$@"' _ "${SMR[@]}" --debug create --bundle "$cfg" "$ID-nocap" </dev/null >"$D/nocap.out" 2>"$D/nocap.err" || {
		sed 's/^/# create: /' "$D/nocap.err" >&3
		false
	}
	grep -q "stays in the runtime's user namespace (no CAP_SETUID/CAP_SETGID" "$D/nocap.err"
	pid=$(mon_pid "$ID-nocap")
	[ "$(readlink "/proc/$pid/ns/user")" = "$(readlink "/proc/self/ns/user")" ]
	run "${SMR[@]}" start "$ID-nocap"
	[ "$status" -eq 0 ]
	run "${SMR[@]}" exec "$ID-nocap" id -u
	[ "$status" -eq 0 ]
	[ "$output" = 0 ]
	run "${SMR[@]}" delete --force "$ID-nocap"
	[ "$status" -eq 0 ]
	[ ! -e "$ROOT/$ID-nocap" ]
}

@test "a config without a mount namespace: the VMM shares the runtime's (no jail), still confined; binds staged" {
	local pid cfg="$D/nomnt-bundle" caps
	mkdir -p "$D/bsrc/sub"
	echo bound >"$D/bsrc/sub/file"
	derived_bundle "$cfg" '
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "mount"]
c["mounts"].append({"destination": "/mnt/b", "type": "bind", "source": "'"$D"'/bsrc/sub", "options": ["rbind", "ro"]})
'
	"${SMR[@]}" --debug create --bundle "$cfg" "$ID-nomnt" </dev/null >"$D/nomnt.out" 2>"$D/nomnt.err" || {
		sed 's/^/# create: /' "$D/nomnt.err" >&3
		false
	}
	grep -q "VMM jail: none (config.json has no mount namespace" "$D/nomnt.err"
	! grep -q "VMM jail: entered" "$D/nomnt.err"
	pid=$(mon_pid "$ID-nomnt")
	[ "$(readlink "/proc/$pid/ns/mnt")" = "$(readlink "/proc/self/ns/mnt")" ]
	[ -e "/proc/$pid/root/etc" ]
	# The other layers stay: seccomp (mode 2) and the cut-down capabilities.
	# (A sanitizer build installs no filter: runtime/confine.c.)
	ldd "$SM" 2>/dev/null | grep -q libasan || [ "$(awk '$1 == "Seccomp:" { print $2 }' "/proc/$pid/status")" = 2 ]
	caps=$(awk '$1 == "CapEff:" { print $2 }' "/proc/$pid/status")
	[ $(( 0x$caps & (1 << 21) )) -eq 0 ]
	[ -z "$(pgrep -P "$pid")" ]
	run "${SMR[@]}" start "$ID-nomnt"
	[ "$status" -eq 0 ]
	# The directory bind is staged in a namespace of its own, which the VMM left again.
	run "${SMR[@]}" exec "$ID-nomnt" cat /mnt/b/file
	[ "$status" -eq 0 ]
	[ "$output" = bound ]
	run new_host_mounts
	[ -z "$output" ] || echo "# new host mounts: $output" >&3
	[ -z "$output" ]
	run "${SMR[@]}" delete --force "$ID-nomnt"
	[ "$status" -eq 0 ]
	wait_for 20 bash -c '! kill -0 "$1" 2>/dev/null' _ "$pid"
	[ ! -e "$ROOT/$ID-nomnt" ]
	! grep -q "$ROOT" /proc/self/mountinfo
}
