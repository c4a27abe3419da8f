#!/usr/bin/env bash
# Boot benchmark: the same guest kernel, initramfs and command line booted by sm-runtime's VMM and by
# QEMU's microvm machine, alternately, N times each, in one run. Prints per-run and median times to
# the guest init's ready marker and to VMM exit, the ratios (QEMU / sm-runtime: > 1 means we are
# faster), and the VMM's peak resident memory outside guest RAM (Firecracker's bar: 5 MiB).
#
# Usage: bench/boot.sh [-n RUNS] [-m MEM_MIB] [BUILDDIR]   (BUILDDIR default: ./build)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
runs=3 mem=128
while getopts n:m: o; do
	case $o in
	n) runs=$OPTARG ;;
	m) mem=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
build=$(cd "${1:-$top/build}" && pwd)
sm=$build/sm-runtime
kernel=$(cat "$build/guest/kernel.path" 2>/dev/null) || { echo "boot.sh: run make guest-kernel in $build" >&2; exit 1; }
initrd=$build/guest/initramfs.cpio
cmd='echo booted'
command -v qemu-system-x86_64 >/dev/null || { echo "boot.sh: install qemu-system-x86" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Peak of RssAnon+RssFile (everything but the shared guest-memory memfd) of PID, sampled every 50 ms.
sample_rss() {
	local pid=$1 peak=0 v
	while kill -0 "$pid" 2>/dev/null; do
		v=$(awk '/^RssAnon:|^RssFile:/ {s += $2} END {print s + 0}' "/proc/$pid/status" 2>/dev/null || echo 0)
		[ "$v" -gt "$peak" ] && peak=$v
		sleep 0.05
	done
	echo "$peak"
}

median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo "boot.sh: kernel $kernel, initramfs $(du -k "$initrd" | cut -f1) KiB, ${mem} MiB, $runs runs each"
echo "boot.sh: host $(uname -r), $( [ -d /sys/module/kvm_pvm ] && echo 'kvm_pvm (guest kernel emulated)' || echo 'hardware KVM')"
printf '%-10s %4s %12s %12s %14s\n' vmm run ready_s exit_s vmm_rss_kib
for i in $(seq 1 "$runs"); do
	# sm-runtime
	"$sm" vm-run --kernel "$kernel" --initrd "$initrd" --mem "$mem" --timings --cmdline "$cmd" \
		>"$tmp/sm.out" 2>"$tmp/sm.err" &
	pid=$!
	rss=$(sample_rss $pid)
	wait $pid || { cat "$tmp/sm.err" >&2; echo "boot.sh: sm-runtime run $i failed" >&2; exit 1; }
	ready=$(sed -n 's/.*ready after \([0-9.]*\) s.*/\1/p' "$tmp/sm.err")
	stop=$(sed -n 's/.*stopped after \([0-9.]*\) s.*/\1/p' "$tmp/sm.err")
	printf '%-10s %4d %12.3f %12.3f %14d\n' sm-runtime "$i" "$ready" "$stop" "$rss"
	echo "$ready" >>"$tmp/sm.ready"; echo "$stop" >>"$tmp/sm.exit"; echo "$rss" >>"$tmp/sm.rss"
	# QEMU microvm with the same kernel command line (guest/qemu-boot.sh)
	SM_GUEST_MEM=$mem "$top/guest/qemu-boot.sh" "$kernel" "$initrd" "$cmd" >"$tmp/q.out" 2>"$tmp/q.err" &
	pid=$!
	sleep 0.2
	qpid=$(pgrep -n -P "$pid" qemu-system-x86 || true)
	rss=0
	[ -z "$qpid" ] || rss=$(sample_rss "$qpid")
	wait $pid || { cat "$tmp/q.err" >&2; echo "boot.sh: qemu run $i failed" >&2; exit 1; }
	ready=$(sed -n 's/.*ready=\([0-9.]*\).*/\1/p' "$tmp/q.err" | tail -n1)
	stop=$(sed -n 's/.*exit=\([0-9.]*\).*/\1/p' "$tmp/q.err" | tail -n1)
	printf '%-10s %4d %12.3f %12.3f %14d\n' qemu "$i" "$ready" "$stop" "$rss"
	echo "$ready" >>"$tmp/q.ready"; echo "$stop" >>"$tmp/q.exit"; echo "$rss" >>"$tmp/q.rss"
done
sr=$(median <"$tmp/sm.ready") se=$(median <"$tmp/sm.exit") srss=$(median <"$tmp/sm.rss")
qr=$(median <"$tmp/q.ready") qe=$(median <"$tmp/q.exit") qrss=$(median <"$tmp/q.rss")
echo
echo "median time to guest init ready: sm-runtime ${sr} s, qemu-microvm ${qr} s, ratio qemu/sm = $(awk -v a="$qr" -v b="$sr" 'BEGIN {printf "%.2f", a / b}')"
echo "median time to VMM exit:         sm-runtime ${se} s, qemu-microvm ${qe} s, ratio qemu/sm = $(awk -v a="$qe" -v b="$se" 'BEGIN {printf "%.2f", a / b}')"
echo "median peak VMM RSS outside guest RAM: sm-runtime $(awk -v k="$srss" 'BEGIN {printf "%.1f", k / 1024}') MiB, qemu-microvm $(awk -v k="$qrss" 'BEGIN {printf "%.1f", k / 1024}') MiB (Firecracker's bar: 5 MiB)"
