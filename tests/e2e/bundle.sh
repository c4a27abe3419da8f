#!/usr/bin/env bash
# End to end: `sm-runtime vm-run --bundle` runs an OCI bundle's process in a microVM through the
# guest agent, with the busybox rootfs served by virtio-fs, once without and once with DAX. The VMs
# are restored from the template of their shape (--template), as `create` does: no guest boot here
# once the templates exist (tests/e2e/boot.sh is the test of a cold boot).
set -u
. "$SM_TOP_SRCDIR/tests/e2e/lib.sh"
e2e_require_guest
echo "1..24"
bundle=$(mktemp -d)
hostdir=$(mktemp -d)
trap 'rm -rf "$bundle" "$hostdir"' EXIT
"$SM_TOP_SRCDIR/scripts/make-bundle.sh" "$bundle" "$SM" >/dev/null
set_args() { # set_args JSON-ARRAY: the process args; the rootfs writable
	python3 - "$bundle/config.json" "$1" "$hostdir" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = json.loads(sys.argv[2])
c["root"]["readonly"] = False
c["hostname"] = "smbox"
# Bind mounts of host paths: a directory (rw), a file (ro), a directory inside the rootfs, a device.
hostdir = sys.argv[3]
c["mounts"] += [
    {"destination": "/mnt/hostdir", "type": "bind", "source": hostdir + "/dir", "options": ["rbind", "rw"]},
    {"destination": "/etc/bound-file", "type": "bind", "source": hostdir + "/file", "options": ["bind", "ro"]},
    {"destination": "/srv", "type": "bind", "source": "rootfs/inroot", "options": ["bind"]},
    {"destination": "/dev/bound-null", "type": "bind", "source": "/dev/null", "options": ["bind"]},
]
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
}
mkdir -p "$hostdir/dir" "$bundle/rootfs/inroot"
echo in-dir >"$hostdir/dir/in-dir"
echo bound-file >"$hostdir/file"
echo in-root >"$bundle/rootfs/inroot/f"
set_args '["sh", "-c", "echo hi > /tmp/x; cat /tmp/x; ls /; cat /hostfile; echo from-guest > /guestfile; hostname; cat /mnt/hostdir/in-dir; echo guest-wrote > /mnt/hostdir/out; cat /etc/bound-file; echo x 2>/dev/null > /etc/bound-file || echo ro-refused; cat /srv/f; echo null-ok > /dev/bound-null && echo null-written; exit 7"]'
for mode in nodax dax; do
	rm -f "$bundle/rootfs/guestfile" "$hostdir/dir/out"
	echo "host-$mode" >"$bundle/rootfs/hostfile"
	args=()
	[ $mode = dax ] && args=(--dax 64)
	out=$("$SM" vm-run "${E2E_VM[@]}" --bundle "$bundle" "${args[@]}" 2>&1)
	status=$?
	echo "$out" | sed "s/^/# [$mode] /"
	check "$mode: the process's exit status 7 comes back" [ $status -eq 7 ]
	check "$mode: stdout relayed (hi)" grep -qx hi <<<"$out"
	check "$mode: rootfs listing" bash -c 'grep -qx bin <<<"$0" && grep -qx proc <<<"$0"' "$out"
	check "$mode: guest reads a host file in the rootfs" grep -qx "host-$mode" <<<"$out"
	check "$mode: host sees the file the guest wrote" grep -qx from-guest "$bundle/rootfs/guestfile"
	check "$mode: hostname from config.json" grep -qx smbox <<<"$out"
	check "$mode: bind-mounted host directory readable" grep -qx in-dir <<<"$out"
	check "$mode: host sees what the guest wrote into the bind-mounted directory" \
		grep -qx guest-wrote "$hostdir/dir/out"
	check "$mode: read-only bind-mounted host file readable, writes refused" \
		bash -c 'grep -qx bound-file <<<"$0" && grep -qx ro-refused <<<"$0"' "$out"
	check "$mode: bind of a rootfs directory and of /dev/null" \
		bash -c 'grep -qx in-root <<<"$0" && grep -qx null-written <<<"$0"' "$out"
	check "$mode: the ro bind file is unchanged on the host" grep -qx bound-file "$hostdir/file"
done

# A signal to vm-run reaches the container's process: SIGTERM runs its trap, whose status comes back.
set_args '["sh", "-c", "trap \"echo got-term; exit 9\" TERM; echo waiting; while :; do sleep 1; done"]'
out_file=$(mktemp)
"$SM" vm-run "${E2E_VM[@]}" --bundle "$bundle" >"$out_file" 2>&1 &
pid=$!
for _ in $(seq 1 900); do
	grep -qx waiting "$out_file" && break
	kill -0 $pid 2>/dev/null || break
	sleep 1
done
kill -TERM $pid
wait $pid
status=$?
sed 's/^/# [signal] /' "$out_file"
check "SIGTERM to vm-run is forwarded: the trap's status 9 comes back" [ $status -eq 9 ]
check "the container's trap ran" grep -qx got-term "$out_file"
rm -f "$out_file"
