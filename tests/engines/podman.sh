#!/usr/bin/env bash
# podman drives an OCI runtime: tests/engines/podman.sh [RUNTIME]   (as root; TAP; exit 77 = skip)
#
# RUNTIME (argument, or $ENGINE_RUNTIME; default runc) is given to `podman --runtime`. The image
# is a busybox root file system imported with `podman import` (no registry access). podman keeps
# all its state in a private folder (--root/--runroot/--tmpdir), so other podman users and other
# runs are not touched. Installs podman from Debian's mirror when it is missing.
# ENGINE_KEEP=1 keeps the private folder for inspection.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/engines/lib.sh
. "$here/lib.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root (rootful podman)"
runtime=$(resolve_runtime "${1:-${ENGINE_RUNTIME:-runc}}") || bail_out "runtime not found: ${1:-${ENGINE_RUNTIME:-runc}}"
ensure_debian_packages podman conmon busybox-static || skip_all "cannot install podman from Debian's mirror"
command -v podman >/dev/null || skip_all "podman is not installed"

work=$(mktemp -d /var/tmp/sm-engine-podman.XXXXXX) || exit 1
image=localhost/sm-busybox:test
name=sm-engine-$$
# Container processes take a while with sm-runtime (one VM each): generous timeouts.
tmo=${ENGINE_TIMEOUT:-600}

pm() { # pm [--runtime R] ARGS...: podman with the private state
	timeout -k 10 "$tmo" podman --root "$work/storage" --runroot "$work/run" --tmpdir "$work/tmp" \
		--cgroup-manager cgroupfs --events-backend file --storage-driver "${ENGINE_STORAGE_DRIVER:-overlay}" \
		"$@"
}

cleanup() {
	[ "${ENGINE_KEEP:-0}" = 1 ] && { diag "kept $work"; return; }
	pm --runtime "$runtime" rm -a -f -t 0 >/dev/null 2>&1
	pm rmi -a -f >/dev/null 2>&1
	remove_private_dir "$work"
}
trap cleanup EXIT

diag "podman $(podman --version | awk '{ print $3 }'), runtime $runtime, state in $work"
pm info >"$work/info.log" 2>&1 || skip_all "podman cannot run here: $(tail -n1 "$work/info.log")"

make_busybox_rootfs "$work/rootfs" || skip_all "needs Debian's busybox-static"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" . || exit 1
pm import --change 'CMD ["/bin/sh"]' "$work/rootfs.tar" "$image" >"$work/import.log" 2>&1 ||
	skip_all "podman import fails here: $(tail -n1 "$work/import.log")"

# podman's default RLIMIT_NOFILE (1048576) exceeds this machine's hard limit and the runtime may not
# raise it (no CAP_SYS_RESOURCE here); podman 4.3 ignores --ulimit host. So ask for what podman
# itself runs with: our hard limits, capped at the values podman sets for itself (1048576, 32768).
min() { [ "$1" = unlimited ] && echo "$2" || echo $(($1 < $2 ? $1 : $2)); }
nofile=$(min "$(ulimit -Hn)" 1048576)
nproc=$(min "$(ulimit -Hu)" 32768)
limits=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
# If podman cannot run a container even with runc, the engine (not the runtime) is unusable here.
if [ "$(basename "$runtime")" != runc ] && command -v runc >/dev/null; then
	out=$(pm --runtime "$(command -v runc)" run --rm --network none "${limits[@]}" "$image" echo probe 2>"$work/probe.err")
	[ "$out" = probe ] || skip_all "podman cannot run containers here even with runc: $(tail -n1 "$work/probe.err")"
fi

run() { pm --runtime "$runtime" run --network none "${limits[@]}" "$@"; }

out=$(run --rm "$image" echo hi 2>"$work/1.err")
status=$?
ok $status "podman run --rm exits 0"
is "podman run --rm prints the container's stdout" "$out" hi
[ $status -eq 0 ] || sed 's/^/#   /' "$work/1.err" | tail -n 5

# Every container is a VM start (a template restore plus guest kernel work, emulated on some
# hosts): each scenario below starts one, and one run checks several things.
out=$(run --name "$name" "$image" sh -c 'echo out; echo err >&2; exit 3' 2>/dev/null)
is "podman run (attached, no --rm) returns the container's exit status" "$?" 3
is "... and relays stdout" "$out" out
st=$(pm --runtime "$runtime" ps -a --filter "name=^$name\$" --format '{{.Status}}' 2>/dev/null)
[[ "$st" == "Exited (3)"* ]]
ok $? "podman ps -a shows Exited (3) (got: ${st:-nothing})"
logs=$(pm --runtime "$runtime" logs "$name" 2>&1)
[[ "$logs" == *out* && "$logs" == *err* ]]
ok $? "podman logs has the container's stdout and stderr"
pm --runtime "$runtime" rm "$name" >/dev/null 2>&1
ok $? "podman rm of the stopped container"

# process.terminal: the runtime hands podman (conmon) the pty through the console socket.
out=$(run --rm -t "$image" sh -c 'test -t 0 && test -t 1 && echo is-a-tty' 2>"$work/t.err" </dev/null)
is "podman run -t gives the process a terminal" "$(printf '%s' "$out" | tr -d '\r')" is-a-tty

# Detached container, exec into it, stop, remove.
# The process ends on SIGTERM (pid 1 ignores signals it has no handler for), so stop needs no KILL.
run -d --name "$name-d" "$image" sh -c 'trap "exit 0" TERM; sleep 1000 & wait' >/dev/null 2>"$work/d.err"
ok $? "podman run -d"
st=$(pm --runtime "$runtime" ps --filter "name=^$name-d\$" --format '{{.Status}}' 2>/dev/null)
[[ "$st" == Up* ]]
ok $? "podman ps shows it running (got: ${st:-nothing})"
out=$(pm --runtime "$runtime" exec "$name-d" sh -c 'echo in-exec; exit 5' 2>"$work/e.err")
status=$?
is "podman exec prints the process's stdout" "$out" in-exec
is "podman exec returns the process's status" "$status" 5
pm --runtime "$runtime" stop -t 2 "$name-d" >/dev/null 2>&1
ok $? "podman stop"
st=$(pm --runtime "$runtime" ps -a --filter "name=^$name-d\$" --format '{{.Status}}' 2>/dev/null)
[[ "$st" == Exited* ]]
ok $? "podman ps -a shows it exited after stop (got: ${st:-nothing})"
pm --runtime "$runtime" rm "$name-d" >/dev/null 2>&1
ok $? "podman rm"

left=$(pm --runtime "$runtime" ps -a -q 2>/dev/null)
is "no container is left" "$left" ""

# The containers.conf drop-in we ship: `--runtime sm-runtime` finds the binary by name.
if [ "$(basename "$runtime")" = sm-runtime ]; then
	sed "s|\"/usr/local/bin/sm-runtime\", \"/usr/bin/sm-runtime\"|\"$runtime\"|" \
		"$(dirname "$0")/../../contrib/sm-runtime.containers.conf" >"$work/containers.conf"
	got=$(CONTAINERS_CONF=$work/containers.conf pm --runtime sm-runtime info \
		--format '{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Path}}' 2>&1 | tail -1)
	is "contrib/sm-runtime.containers.conf: --runtime sm-runtime resolves to the binary" "$got" \
		"sm-runtime $runtime"
fi

done_testing
