#!/usr/bin/env bash
# Restore benchmark: host-side restore latency (process start to vCPU 0's first KVM_RUN) of
# `sm-runtime vm-run --restore` for guest RAM sizes 128 MiB, 1 GiB and 4 GiB. Each size is booted
# once (to the guest init's ready point) and saved with --save-snapshot; snapshots are kept in
# CACHE_DIR (default /var/cache/sm-runtime/bench-restore/<kernel hash>) and reused. Every restore
# is a new process; the clock starts right before fork+exec (CLOCK_MONOTONIC, the clock vm-run
# prints first_kvm_run_monotonic_ns with), so exec, dynamic linking, validation, mapping guest RAM
# copy-on-write, device setup and state loading are all counted. The VM is stopped as soon as the
# line is printed. Guest RAM is mapped lazily, so the latency must not grow with the RAM size.
#
# Usage: bench/restore.sh [-n RUNS] [-c CACHE_DIR] [BUILDDIR]   (BUILDDIR default: ./build)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
runs=7 cache=
while getopts n:c: o; do
	case $o in
	n) runs=$OPTARG ;;
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

python3 - "$sm" "$cache" "$runs" <<'PY'
import os, re, signal, subprocess, sys, time, statistics
sm, cache, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
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
PY
