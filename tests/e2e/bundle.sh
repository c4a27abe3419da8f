#!/usr/bin/env bash
# End to end: `sm-runtime vm-run --bundle` runs an OCI bundle's process in a microVM through the
# guest agent, with the busybox rootfs served by virtio-fs, once without and once with DAX.
set -u
. "$SM_TOP_SRCDIR/tests/e2e/lib.sh"
e2e_require_guest
echo "1..14"
bundle=$(mktemp -d)
trap 'rm -rf "$bundle"' EXIT
"$SM_TOP_SRCDIR/scripts/make-bundle.sh" "$bundle" "$SM" >/dev/null
set_args() { # set_args JSON-ARRAY: the process args; the rootfs writable
	python3 - "$bundle/config.json" "$1" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = json.loads(sys.argv[2])
c["root"]["readonly"] = False
c["hostname"] = "smbox"
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
}
set_args '["sh", "-c", "echo hi > /tmp/x; cat /tmp/x; ls /; cat /hostfile; echo from-guest > /guestfile; hostname; exit 7"]'
for mode in nodax dax; do
	rm -f "$bundle/rootfs/guestfile"
	echo "host-$mode" >"$bundle/rootfs/hostfile"
	args=()
	[ $mode = dax ] && args=(--dax 64)
	out=$("$SM" vm-run --timeout 900 --bundle "$bundle" "${args[@]}" 2>&1)
	status=$?
	echo "$out" | sed "s/^/# [$mode] /"
	check "$mode: the process's exit status 7 comes back" [ $status -eq 7 ]
	check "$mode: stdout relayed (hi)" grep -qx hi <<<"$out"
	check "$mode: rootfs listing" bash -c 'grep -qx bin <<<"$0" && grep -qx proc <<<"$0"' "$out"
	check "$mode: guest reads a host file in the rootfs" grep -qx "host-$mode" <<<"$out"
	check "$mode: host sees the file the guest wrote" grep -qx from-guest "$bundle/rootfs/guestfile"
	check "$mode: hostname from config.json" grep -qx smbox <<<"$out"
done

# A signal to vm-run reaches the container's process: SIGTERM runs its trap, whose status comes back.
set_args '["sh", "-c", "trap \"echo got-term; exit 9\" TERM; echo waiting; while :; do sleep 1; done"]'
out_file=$(mktemp)
"$SM" vm-run --timeout 900 --bundle "$bundle" >"$out_file" 2>&1 &
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
