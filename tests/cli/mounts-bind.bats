#!/usr/bin/env bats
# Bind mounts of host directories (runtime/bind-shares.h): the guest's /proc/self/mountinfo shows
# "/<basename>" as such a mount's root, as for a bind of the host path (runtime-tools' `mounts`
# compares it with the source's base name), files of a bound directory and several mounts of one
# source still work, and the staging mounts behind it never reach the host's mount table: not
# while the container runs, not after delete --force. Once jailed (create/start), once with
# SM_JAIL=0 (the monitor in the host's mount namespace).

load lifecycle-helpers
bats_require_minimum_version 1.5.0

setup_file() {
	vm_suite_setup
	[ -n "${ROOT:-}" ] || return 0
	export S ID
	ID="mb$$"
	S="$D/src"
	mkdir -p "$S/shared-dir/sub" "$S/other"
	echo in-dir >"$S/shared-dir/f"
	echo in-other >"$S/other/o"
	python3 - "$B/config.json" "$S" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
s = sys.argv[2]
c["root"]["readonly"] = False
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c",
    "grep ' /mnt/' /proc/self/mountinfo > /mi.tmp; cat /mnt/dir/f /mnt/file /mnt/other/o >> /mi.tmp; "
    "echo from-guest > /mnt/dir/from-guest; mv /mi.tmp /mi.txt; exec sleep 1000000"]
c["mounts"] += [
    {"destination": "/mnt/dir", "type": "bind", "source": s + "/shared-dir", "options": ["bind", "shared"]},
    {"destination": "/mnt/dir-ro", "source": s + "/shared-dir", "options": ["rbind", "ro", "rprivate"]},
    {"destination": "/mnt/file", "type": "bind", "source": s + "/shared-dir/f", "options": ["bind"]},
    {"destination": "/mnt/other", "type": "bind", "source": s + "/other", "options": ["rbind", "ro"]},
]
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
}

teardown_file() {
	vm_suite_teardown
}

setup() {
	suite_skip
	SMR=("$SM" --root "$ROOT")
}

# No mount of ours in the host's table: none under the state root or the scratch folder (the
# sources), none of the staging tmpfs. (Not a count: other suites may mount meanwhile.)
no_host_mount() {
	! grep -F -e sm-binds -e "$ROOT" -e "$D" /proc/self/mountinfo
}

# root_of FILE MOUNTPOINT: the root field (4th) of MOUNTPOINT's line in a mountinfo copy.
root_of() {
	awk -v m="$2" '$5 == m { print $4 }' "$1"
}

check_guest_view() {
	local mi=$1
	sed 's/^/# guest: /' "$mi" >&3
	[ "$(root_of "$mi" /mnt/dir)" = /shared-dir ]
	[ "$(root_of "$mi" /mnt/dir-ro)" = /shared-dir ]
	[ "$(root_of "$mi" /mnt/file)" = /shared-dir/f ]
	[ "$(root_of "$mi" /mnt/other)" = /other ]
	# One share for shared-dir and its file: the same device.
	[ "$(awk '$5 == "/mnt/dir" { print $3 }' "$mi")" = "$(awk '$5 == "/mnt/file" { print $3 }' "$mi")" ]
	awk '$5 == "/mnt/dir-ro" { print $6 }' "$mi" | grep -q '^ro'
	[ "$(grep -c '^in-dir$' "$mi")" -eq 2 ]
	grep -q '^in-other$' "$mi"
}

@test "create/start (jailed): mountinfo root of a directory bind is /<basename>, files and writes work" {
	"${SMR[@]}" create --bundle "$B" "$ID" </dev/null >"$D/out" 2>"$D/err" || {
		sed 's/^/# create: /' "$D/err" >&3
		false
	}
	"${SMR[@]}" start "$ID"
	wait_for 120 test -s "$B/rootfs/mi.txt"
	check_guest_view "$B/rootfs/mi.txt"
	wait_for 30 test -s "$S/shared-dir/from-guest"
	[ "$(cat "$S/shared-dir/from-guest")" = from-guest ]
}

@test "the staging mounts stay out of the host's mount table while it runs" {
	no_host_mount
	# The directory under the state root is an empty tmpfs mount point only in the staging namespace.
	run ls -A "$ROOT/$ID"
	echo "# state dir: ${lines[*]}" >&3
	[[ " ${lines[*]} " != *" 0 "* ]]
}

@test "delete --force: no monitor, no state directory, no mount left on the host" {
	"${SMR[@]}" delete --force "$ID"
	[ ! -e "$ROOT/$ID" ]
	no_stray_monitor
	no_host_mount
	# The sources are untouched (nothing was mounted over or removed).
	[ "$(cat "$S/shared-dir/f")" = in-dir ]
}

@test "SM_JAIL=0 (the monitor in the host's namespace): the same roots, nothing left on the host" {
	rm -f "$B/rootfs/mi.txt" "$S/shared-dir/from-guest"
	SM_JAIL=0 "${SMR[@]}" create --bundle "$B" "$ID-nj" </dev/null >"$D/out" 2>"$D/err" || {
		sed 's/^/# create: /' "$D/err" >&3
		false
	}
	no_host_mount
	"${SMR[@]}" start "$ID-nj"
	wait_for 120 test -s "$B/rootfs/mi.txt"
	check_guest_view "$B/rootfs/mi.txt"
	no_host_mount
	"${SMR[@]}" delete --force "$ID-nj"
	[ ! -e "$ROOT/$ID-nj" ]
	no_stray_monitor
	no_host_mount
}
