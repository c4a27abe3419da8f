#!/usr/bin/env bash
# containerd drives an OCI runtime: tests/engines/containerd.sh [RUNTIME]   (as root; TAP; 77 = skip)
#
# Starts a private containerd (its own root, state, socket; CRI off) and runs containers with
# `ctr run --runtime io.containerd.runc.v2 --runc-binary RUNTIME` (RUNTIME: argument, or
# $ENGINE_RUNTIME; default runc), i.e. containerd's runc shim with BinaryName = RUNTIME. The image
# is an OCI image archive of a busybox root file system built here and loaded with
# `ctr image import` (no registry access). Installs containerd from Debian's mirror when missing.
# ENGINE_KEEP=1 keeps the private folder (and stops containerd) for inspection.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/engines/lib.sh
. "$here/lib.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root (containerd)"
runtime=$(resolve_runtime "${1:-${ENGINE_RUNTIME:-runc}}") || bail_out "runtime not found: ${1:-${ENGINE_RUNTIME:-runc}}"
ensure_debian_packages containerd busybox-static || skip_all "cannot install containerd from Debian's mirror"
if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
	skip_all "containerd is not installed"
fi

work=$(mktemp -d /var/tmp/sm-engine-containerd.XXXXXX) || exit 1
ns=smtest
image=localhost/sm-busybox:test
tmo=${ENGINE_TIMEOUT:-600}
cd_pid=

c() { timeout -k 10 "$tmo" ctr --address "$work/containerd.sock" --namespace "$ns" "$@"; }

# Processes whose command line names our private folder (containerd's shims), by pid.
own_processes() {
	local p
	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF "$work/" && echo "${p#/proc/}"
	done
}

cleanup() {
	local id pids
	if [ "${ENGINE_KEEP:-0}" != 1 ]; then
		for id in $(c task ls -q 2>/dev/null); do c task kill -s SIGKILL "$id" >/dev/null 2>&1; done
		sleep 1
		for id in $(c task ls -q 2>/dev/null); do c task delete -f "$id" >/dev/null 2>&1; done
		for id in $(c containers ls -q 2>/dev/null); do c containers delete "$id" >/dev/null 2>&1; done
		c images rm "$image" >/dev/null 2>&1
	fi
	if [ -n "$cd_pid" ]; then
		kill "$cd_pid" 2>/dev/null
		wait "$cd_pid" 2>/dev/null
	fi
	pids=$(own_processes)
	# shellcheck disable=SC2086
	[ -n "$pids" ] && { diag "killing leftover processes $pids"; kill -KILL $pids 2>/dev/null; }
	[ "${ENGINE_KEEP:-0}" = 1 ] && { diag "kept $work"; return; }
	remove_private_dir "$work"
}
trap cleanup EXIT

# An OCI image layout (one uncompressed layer) packed as a tar, for `ctr image import`.
make_oci_archive() { # make_oci_archive ROOTFS OUT.tar
	local rootfs=$1 out=$2 lay=$work/oci cfg man ldig lsize cdig csize mdig msize
	mkdir -p "$lay/blobs/sha256" || return 1
	tar -C "$rootfs" --numeric-owner -cf "$work/layer.tar" . || return 1
	ldig=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
	lsize=$(stat -c %s "$work/layer.tar")
	mv "$work/layer.tar" "$lay/blobs/sha256/$ldig"
	cfg='{"architecture":"'"$(dpkg --print-architecture)"'","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:'"$ldig"'"]}}'
	cdig=$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1)
	csize=$(printf '%s' "$cfg" | wc -c)
	printf '%s' "$cfg" >"$lay/blobs/sha256/$cdig"
	man='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'"$cdig"'","size":'"$csize"'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:'"$ldig"'","size":'"$lsize"'}]}'
	mdig=$(printf '%s' "$man" | sha256sum | cut -d' ' -f1)
	msize=$(printf '%s' "$man" | wc -c)
	printf '%s' "$man" >"$lay/blobs/sha256/$mdig"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$lay/oci-layout"
	printf '%s' '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:'"$mdig"'","size":'"$msize"',"annotations":{"io.containerd.image.name":"'"$image"'","org.opencontainers.image.ref.name":"test"}}]}' \
		>"$lay/index.json"
	tar -C "$lay" -cf "$out" oci-layout index.json blobs
}

cat >"$work/config.toml" <<EOF
version = 2
root = "$work/root"
state = "$work/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$work/containerd.sock"
[ttrpc]
  address = "$work/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$work/opt"
EOF
containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
cd_pid=$!
for _ in $(seq 1 60); do
	c version >/dev/null 2>&1 && break
	kill -0 "$cd_pid" 2>/dev/null || break
	sleep 0.5
done
c version >/dev/null 2>&1 || skip_all "containerd does not start here: $(tail -n1 "$work/containerd.log")"
diag "containerd $(containerd --version | awk '{ print $3 }'), runtime $runtime, state in $work"

make_busybox_rootfs "$work/rootfs" || skip_all "needs Debian's busybox-static"
make_oci_archive "$work/rootfs" "$work/image.tar" || exit 1
c image import "$work/image.tar" >"$work/import.log" 2>&1
ok $? "ctr image import of a busybox OCI archive"
c images ls -q | grep -qxF "$image"
ok $? "the image is listed as $image"

crun_() { # crun_ ID ARGS...: ctr run through the runc shim with our runtime as its binary
	local id=$1
	shift
	c run --runtime io.containerd.runc.v2 --runc-binary "$runtime" --runc-root "$work/runc" "$@"
}

# If containerd cannot run a container even with runc, the engine (not the runtime) is unusable here.
if [ "$(basename "$runtime")" != runc ] && command -v runc >/dev/null; then
	out=$(c run --rm --runtime io.containerd.runc.v2 --runc-binary "$(command -v runc)" \
		--runc-root "$work/runc" "$image" probe echo probe 2>"$work/probe.err")
	[ "$out" = probe ] || skip_all "containerd cannot run containers here even with runc: $(tail -n1 "$work/probe.err")"
fi

# Every container is a VM start (a template restore plus guest kernel work, emulated on some
# hosts): one run checks the output, the exit code and stderr.
out=$(crun_ t1 --rm "$image" t1 sh -c 'echo hi; echo to-err >&2; exit 7' 2>"$work/t1.err")
status=$?
is "ctr run --rm returns the container's exit status" "$status" 7
is "ctr run --rm prints the container's stdout" "$out" hi
is "stderr is relayed separately" "$(cat "$work/t1.err")" to-err
[ $status -eq 7 ] || sed 's/^/#   /' "$work/t1.err" | tail -n 5

# Detached task, exec into it, kill, delete.
crun_ t4 -d "$image" t4 sleep 1000 >/dev/null 2>"$work/t4.err"
ok $? "ctr run -d"
st=$(c task ls 2>/dev/null | awk '$1 == "t4" { print $3 }')
is "ctr task ls shows it RUNNING" "$st" RUNNING
out=$(c task exec --exec-id e1 t4 sh -c 'echo in-exec; exit 5' 2>"$work/e1.err")
status=$?
is "ctr task exec prints the process's stdout" "$out" in-exec
is "ctr task exec returns the process's status" "$status" 5
c task kill -s SIGKILL t4 >/dev/null 2>&1
ok $? "ctr task kill"
for _ in $(seq 1 60); do
	st=$(c task ls 2>/dev/null | awk '$1 == "t4" { print $3 }')
	[ "$st" = STOPPED ] || [ -z "$st" ] && break
	sleep 1
done
is "the task is STOPPED after SIGKILL" "$st" STOPPED
c task delete t4 >/dev/null 2>&1
ok $? "ctr task delete"
c containers delete t4 >/dev/null 2>&1
ok $? "ctr containers delete"

left="$(c task ls -q 2>/dev/null)$(c containers ls -q 2>/dev/null)"
is "no task or container is left" "$left" ""

done_testing
