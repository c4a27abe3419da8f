#!/usr/bin/env bash
# Restore benchmark: host-side restore latency (process start to vCPU 0's first KVM_RUN) of
# `sm-runtime vm-run --restore` for guest RAM sizes 128 MiB, 1 GiB and 4 GiB. Each size is booted
# once (to the guest init's ready point) and saved with --save-snapshot; snapshots are kept in
# CACHE_DIR (default /var/cache/sm-runtime/bench-restore/<kernel hash>) and reused. Every restore
# is a new process; the clock starts right before fork+exec (CLOCK_MONOTONIC, the clock vm-run
# prints first_kvm_run_monotonic_ns with), so exec, dynamic linking, validation, mapping guest RAM
# copy-on-write, device setup and state loading are all counted. The VM is stopped as soon as the
# line is printed. Guest RAM is mapped lazily, so the latency must not grow with the RAM size.
# One more restore per size runs under `strace -f -T -e trace=ioctl` to attribute the time to the
# KVM ioctls (KVM_SET_USER_MEMORY_REGION: on kvm_pvm, shadow paging, KVM allocates and zeroes the
# slot's rmap and write-tracking arrays there, ~10 bytes per 4 KiB page, charged to the memory cgroup).
#
# Then, with sm-runtime's OCI commands and a snapshot template (128 MiB guest, like the tests):
#   - `sm-runtime create` of a container from the template: the command returns when the monitor
#     has restored the VM and the guest agent has answered the container's CREATE (its ready
#     reply), so its wall time is "create -> agent ready". RUNS creates, each deleted after.
#   - bench/lifecycle.sh: create+start+exit+delete of a `true` container, next to runc and crun
#     in the same invocation (LIFECYCLE_RUNS sm-runtime iterations, 20 of each peer).
#
# Usage: bench/restore.sh [-n RUNS] [-l LIFECYCLE_RUNS] [-c CACHE_DIR] [BUILDDIR]   (BUILDDIR default: ./build)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
runs=7 cache='' lruns=5
while getopts n:c:l: o; do
	case $o in
	n) runs=$OPTARG ;;
	l) lruns=$OPTARG ;;
	c) cache=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
build=$(cd "${1:-$top/build}" && pwd)
sm=$build/sm-runtime
kernel=$(cat "$build/guest/kernel.path" 2>/dev/null) || { echo "restore.sh: run make guest-kernel in $build" >&2; exit 1; }
initrd=$build/guest/initramfs.cpio
key=$(cat "$kernel" "$initrd" "$sm" | sha256sum | cut -c1-16)
cache=${cache:-/var/cache/sm-runtime/bench-restore/$key}
mkdir -p "$cache"

for mem in 128 1024 4096; do
	snap=$cache/mem-$mem
	if ! [ -s "$snap/state.smsnap" ]; then
		echo "restore.sh: booting a $mem MiB guest once to save $snap ..." >&2
		t0=$(date +%s.%N)
		"$sm" vm-run --timeout 1800 --mem "$mem" --cmdline 'sleep 1000' --save-snapshot "$snap" >/dev/null
		echo "restore.sh: saved after $(echo "$(date +%s.%N) - $t0" | bc) s ($(du -k "$snap/memory.img" | cut -f1) KiB of memory.img allocated)" >&2
	fi
done

vmm="hardware KVM"
[ -d /sys/module/kvm_pvm ] && vmm="kvm_pvm (guest kernel code emulated)"
echo "restore.sh: $(date -u '+%F %H:%M UTC'), host $(uname -r), $vmm, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "restore.sh: $("$sm" --version | head -n1), snapshots in $cache"
python3 - "$sm" "$cache" "$runs" <<'PY'
import os, re, signal, subprocess, sys, time, statistics
sm, cache, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])

def traced(mem):
    """One restore under strace -f -T: seconds spent in each KVM ioctl kind, and the mmap of RAM."""
    out = f"/tmp/sm-bench-restore-strace.{os.getpid()}"
    p = subprocess.Popen(["strace", "-f", "-T", "-e", "trace=ioctl,mmap", "-o", out, sm, "vm-run", "--mem", str(mem),
                          "--timings", "--restore", f"{cache}/mem-{mem}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if "first_kvm_run_monotonic_ns=" in line:
            break
    # Stop vm-run (strace's child), not strace: strace then exits with it.
    try:
        kids = open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()
        for k in kids:
            os.kill(int(k), signal.SIGTERM)
    except OSError:
        p.terminate()
    p.communicate(timeout=60)
    per, first_run = {}, None
    for l in open(out):
        m = re.search(r"ioctl\(\d+, (KVM_[A-Z0-9_]+).*<([0-9.]+)>$", l)
        if m and m.group(1) != "KVM_RUN":
            k = m.group(1)
            n, t = per.get(k, (0, 0.0))
            per[k] = (n + 1, t + float(m.group(2)))
    os.unlink(out)
    return per

print(f"{'guest RAM':>10} {'median ms':>10} {'min ms':>8} {'max ms':>8}   (process start -> first KVM_RUN, {runs} runs)")
for mem in (128, 1024, 4096):
    lat, inner = [], []
    for _ in range(runs):
        t0 = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        p = subprocess.Popen([sm, "vm-run", "--mem", str(mem), "--timings", "--restore", f"{cache}/mem-{mem}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        line = ""
        for line in p.stderr:
            if "first_kvm_run_monotonic_ns=" in line:
                break
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=60)
        m = re.search(r"first_kvm_run_monotonic_ns=(\d+)", line)
        if not m:
            sys.exit(f"restore.sh: no timing line from vm-run --restore ({mem} MiB): {line.strip()}")
        lat.append((int(m.group(1)) - t0) / 1e6)
        inner.append(float(re.search(r"([0-9.]+) ms after the restore call", line).group(1)))
    label = f"{mem} MiB" if mem < 1024 else f"{mem // 1024} GiB"
    print(f"{label:>10} {statistics.median(lat):10.2f} {min(lat):8.2f} {max(lat):8.2f}   "
          f"(restore call -> first KVM_RUN: median {statistics.median(inner):.2f} ms)")
    per = traced(mem)
    slots = per.get("KVM_SET_USER_MEMORY_REGION", (0, 0.0))
    other = sum(t for k, (n, t) in per.items() if k != "KVM_SET_USER_MEMORY_REGION")
    top = sorted(((t, k) for k, (n, t) in per.items() if k != "KVM_SET_USER_MEMORY_REGION"), reverse=True)[:2]
    print(f"{'':>10}   traced run: KVM_SET_USER_MEMORY_REGION {slots[1] * 1e3:.2f} ms in {slots[0]} calls; "
          f"all other KVM ioctls {other * 1e3:.2f} ms (largest: "
          + ", ".join(f"{k} {t * 1e3:.2f}" for t, k in top) + ")")
PY

# create -> agent ready, and the lifecycle next to runc and crun.
[ "$(id -u)" = 0 ] || { echo "restore.sh: create and lifecycle need root: skipped"; exit 0; }
tmp=$(mktemp -d /tmp/sm-bench-restore.XXXXXX)
cleanup() {
	local d
	for d in "$tmp"/root/*/; do
		[ -d "$d" ] && "$sm" --root "$tmp/root" delete --force "$(basename "$d")" >/dev/null 2>&1
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
"$top/scripts/make-bundle.sh" "$tmp/bundle" "$sm" >/dev/null
jq '.process.args = ["true"] | .process.terminal = false | .annotations["org.sm-runtime.vm.mem_mib"] = "128"' \
	"$tmp/bundle/config.json" >"$tmp/config.json"
mv "$tmp/config.json" "$tmp/bundle/config.json"
id=restore-bench-$$
echo
# The first create boots and saves the template when it is missing; it is not counted.
"$sm" --root "$tmp/root" create --bundle "$tmp/bundle" "$id-warm" </dev/null >/dev/null 2>"$tmp/err" ||
	{ echo "restore.sh: create failed: $(cat "$tmp/err")"; exit 1; }
"$sm" --root "$tmp/root" delete --force "$id-warm"
for ((i = 1; i <= runs; i++)); do
	t0=${EPOCHREALTIME/./}
	"$sm" --root "$tmp/root" create --bundle "$tmp/bundle" "$id-$i" </dev/null >/dev/null 2>"$tmp/err" ||
		{ echo "restore.sh: create failed: $(cat "$tmp/err")"; exit 1; }
	echo $((${EPOCHREALTIME/./} - t0)) >>"$tmp/create"
	"$sm" --root "$tmp/root" delete --force "$id-$i"
done
sort -g "$tmp/create" | awk '{a[NR] = $1 / 1000} END {printf "sm-runtime create from a template -> agent ready reply (128 MiB guest, %d runs): median %.1f ms, min %.1f, max %.1f\n", NR, a[int((NR + 1) / 2)], a[1], a[NR]}'
echo
LIFECYCLE_N=$lruns LIFECYCLE_TRACE=0 SM_RUNTIME=$sm "$top/bench/lifecycle.sh" "$build" | sed -n -e '/^lifecycle.sh: crun/p' -e '/^create+start/,$p'
echo "restore.sh: done at load $(cut -d' ' -f1-3 /proc/loadavg)"
