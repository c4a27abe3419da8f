#!/usr/bin/env bash
# End to end: a user namespace with uid/gid maps, mount propagation and the guest pids limit in a
# real guest (docs/config-mapping.md). One container (restored from the template of its shape with
# --template: no guest boot once it exists) prints what it sees; the checks read that output.
set -u
. "$SM_TOP_SRCDIR/tests/e2e/lib.sh"
e2e_require_guest
echo "1..10"
bundle=$(mktemp -d)
trap 'rm -rf "$bundle"' EXIT
"$SM_TOP_SRCDIR/scripts/make-bundle.sh" "$bundle" "$SM" >/dev/null
# Mount points the container's root could not create: the rootfs is owned by the host's root,
# which is not mapped into the user namespace (as with runc).
mkdir -p "$bundle/rootfs/mnt/shared" "$bundle/rootfs/mnt/private"
python3 - "$bundle/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
l = c["linux"]
l["namespaces"].append({"type": "user"})
l["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 2000}]
l["gidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 3000}]
l["rootfsPropagation"] = "shared"
l.setdefault("resources", {})["pids"] = {"limit": 25}
c["mounts"] += [
    {"destination": "/mnt/shared", "type": "tmpfs", "source": "tmpfs", "options": ["shared", "size=1m"]},
    {"destination": "/mnt/private", "type": "tmpfs", "source": "tmpfs", "options": ["rprivate", "size=1m"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m"]},
]
# 40 long sleeps against a limit of 25: the forks past the limit get EAGAIN (the subshell dies of
# "can't fork"), the container's shell goes on.
c["process"]["args"] = ["sh", "-c",
    "echo uid_map $(cat /proc/self/uid_map); echo gid_map $(cat /proc/self/gid_map); echo id $(id -u) $(id -g);"
    " echo owner $(stat -c %u /bin/busybox);"
    " grep -E ' /mnt/(shared|private) ' /proc/self/mountinfo; grep ' / / ' /proc/self/mountinfo;"
    " echo pids.max $(cat /sys/fs/cgroup/pids.max);"
    " (i=0; while [ $i -lt 40 ]; do sleep 600 & i=$((i+1)); done) 2>/tmp/err;"
    " echo eagain $(grep -c 'Resource temporarily unavailable' /tmp/err); echo current $(cat /sys/fs/cgroup/pids.current);"
    " kill -9 -1; echo done"]
c["root"]["readonly"] = False
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY

out=$("$SM" vm-run "${E2E_VM[@]}" --bundle "$bundle" 2>&1)
status=$?
echo "$out" | sed "s/^/# /"
check "the container runs and exits 0" [ $status -eq 0 ]
check "/proc/self/uid_map is the configured map" grep -qx "uid_map 0 1000 2000" <<<"$out"
check "/proc/self/gid_map is the configured map" grep -qx "gid_map 0 1000 3000" <<<"$out"
check "the process is root of its user namespace" grep -qx "id 0 0" <<<"$out"
check "the rootfs's host root is unmapped (nobody) inside" grep -qx "owner 65534" <<<"$out"
check "a 'shared' mount is shared in the guest" grep -Eq ' /mnt/shared .* shared:[0-9]+ ' <<<"$out"
private_mount() { grep -E ' /mnt/private ' <<<"$out" | grep -vq shared:; }
check "an 'rprivate' mount is private" private_mount
check "rootfsPropagation shared: / is shared" grep -Eq ' / / .* shared:[0-9]+ ' <<<"$out"
check "pids.max in the container's cgroup is the limit" grep -qx "pids.max 25" <<<"$out"
check "forks past the pids limit fail with EAGAIN" grep -Eqx "eagain [1-9][0-9]*" <<<"$out"
