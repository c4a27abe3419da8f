#!/usr/bin/env bash
# Lifecycle benchmark: create + start + wait-for-exit + delete of a `true` container (busybox rootfs,
# process.args ["true"], terminal false, 128 MiB guest), timed for sm-runtime, runc and crun in the
# same run on the same bundle, plus `run` (foreground: create, start, wait, delete in one command).
# Prints per-iteration phases, median/min/max per runtime and the ratios sm-runtime/runc and
# sm-runtime/crun (> 1 means sm-runtime is slower).
#
# Second figure: sm-runtime's host-side overhead with the guest work subtracted. sm-runtime does not
# report its time in KVM_RUN, so one extra lifecycle runs under `perf trace -e ioctl` (tracepoints,
# the traced threads are never stopped) and every ioctl(KVM_RUN) of the VMM's vCPU threads is summed;
# host-side overhead = wall time of that lifecycle - time inside KVM_RUN. Time inside KVM_RUN is
# guest execution (on kvm_pvm hosts including the emulation of guest kernel code) and the guest's
# idle HLTs (e.g. waiting for an interrupt from a host device thread); everything else (the CLI
# processes, fork, guest RAM and kernel setup before the first entry, exit handling between entries,
# shutdown and delete after the last one) is outside.
#
# crun: Debian's crun 1.8.1 refuses cgroup hybrid mode ("drop all controllers from cgroupv2"), even
# with --cgroup-manager=disabled. The script tries plain crun, then --cgroup-manager=disabled, then
# crun in a private mount namespace where the cgroup2 root's cgroup.controllers is masked by an empty
# file (../shared/notes/conformance.md), and says which one it used; crun's whole loop then runs in
# one such namespace, so no per-command cost is added.
#
# Usage: bench/lifecycle.sh [BUILDDIR]   (BUILDDIR default: ./build; SM_RUNTIME=path overrides)
# Environment: LIFECYCLE_N       sm-runtime iterations (default 3: until snapshot templates land,
#                                every create boots a guest kernel, 25-60 s on kvm_pvm hosts;
#                                0 measures the peers only)
#              LIFECYCLE_PEER_N  runc and crun iterations (default 20)
#              LIFECYCLE_MEM_MIB guest RAM (annotation org.sm-runtime.vm.mem_mib, default 128)
#              LIFECYCLE_TRACE   0 skips the perf-traced lifecycle (default 1 when perf exists)
# Must run as root; exits 77 (skip) with a reason when root, /dev/kvm, sm-runtime, jq or busybox
# is missing.
set -euo pipefail
export LC_ALL=C
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
top=$(cd "$(dirname "$0")/.." && pwd)
BENCH_NAME=lifecycle.sh
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
cgroot_controllers=/sys/fs/cgroup/unified/cgroup.controllers
[ -e "$cgroot_controllers" ] || cgroot_controllers=/sys/fs/cgroup/cgroup.controllers

die() {
	echo "lifecycle.sh: $*" >&2
	exit 1
}

# The runtime's command line (global flags included) for KIND, into the array named by $2.
# shellcheck disable=SC2034 # ref is a nameref to the caller's array
rt_cmd() {
	local -n ref=$2
	case $1 in
	sm) ref=("$LC_SM" --root "$LC_TMP/root-sm") ;;
	runc) ref=(runc --root "$LC_TMP/root-runc") ;;
	crun) ref=(crun ${LC_CRUN_FLAGS:+"$LC_CRUN_FLAGS"} --root "$LC_TMP/root-crun") ;;
	esac
}

# Wait until PID has exited (gone, or a zombie not yet reaped by its parent); fails after
# LIFECYCLE_WAIT_S (default 600) seconds. Polls /proc every millisecond without forking: read -t on
# a FIFO nobody writes to is the sleep.
wait_exit() {
	local line st end=$((${EPOCHREALTIME/./} + ${LIFECYCLE_WAIT_S:-600} * 1000000))
	while read -r line 2>/dev/null <"/proc/$1/stat"; do
		[ "${EPOCHREALTIME/./}" -lt $end ] || return 1
		st=${line##*) }
		st=${st%% *}
		[ "$st" = Z ] || [ "$st" = X ] && return 0
		read -r -t 0.001 -u "$LC_SLEEP_FD" _ || true
	done
}

# N lifecycles of KIND: appends "iter create start wait delete total" (microseconds) to OUT, then
# N foreground runs: "iter total" to OUT.run. A failed iteration is reported, its container
# force-deleted and its first error line appended to OUT.fail; the loop goes on.
lifecycle_loop() {
	local kind=$1 n=$2 out=$3 i id pid t0 t1 t2 t3 t4 err=$LC_TMP/err.$1
	local -a rt
	rt_cmd "$kind" rt
	mkfifo "$LC_TMP/sleep.$$"
	exec {LC_SLEEP_FD}<>"$LC_TMP/sleep.$$"
	for ((i = 1; i <= n; i++)); do
		id=lc-$kind-$$-$i
		t0=${EPOCHREALTIME/./}
		"${rt[@]}" create --bundle "$LC_TMP/bundle" --pid-file "$LC_TMP/$id.pid" "$id" \
			</dev/null >/dev/null 2>"$err" || { iter_failed create; continue; }
		t1=${EPOCHREALTIME/./}
		"${rt[@]}" start "$id" </dev/null >/dev/null 2>"$err" || { iter_failed start; continue; }
		t2=${EPOCHREALTIME/./}
		read -r pid <"$LC_TMP/$id.pid" || [ -n "$pid" ] # pid files have no newline
		wait_exit "$pid" || {
			echo "pid $pid did not exit within ${LIFECYCLE_WAIT_S:-600} s" >"$err"
			iter_failed wait
			continue
		}
		t3=${EPOCHREALTIME/./}
		"${rt[@]}" delete "$id" </dev/null >/dev/null 2>"$err" || { iter_failed delete; continue; }
		t4=${EPOCHREALTIME/./}
		echo "$i $((t1 - t0)) $((t2 - t1)) $((t3 - t2)) $((t4 - t3)) $((t4 - t0))" >>"$out"
	done
	[ "${LC_NO_RUN:-0}" = 1 ] && return 0
	for ((i = 1; i <= n; i++)); do
		id=lr-$kind-$$-$i
		t0=${EPOCHREALTIME/./}
		"${rt[@]}" run --bundle "$LC_TMP/bundle" "$id" </dev/null >/dev/null 2>"$err" || { iter_failed run; continue; }
		t1=${EPOCHREALTIME/./}
		echo "$i $((t1 - t0))" >>"$out.run"
	done
}

# Called by lifecycle_loop (its locals are visible here) when step $1 of an iteration failed.
iter_failed() {
	echo "lifecycle.sh: $kind iteration $i: $1 failed: $(head -c 400 "$err")" >&2
	"${rt[@]}" delete --force "$id" >/dev/null 2>&1 || true
	echo "$1: $(head -n1 "$err")" >>"$out.fail"
}

# Internal modes (re-executions of this script): a loop, possibly in a private mount namespace with
# the cgroup2 root's controllers masked, or one masked command.
case ${1-} in
--loop)
	shift
	lifecycle_loop "$@"
	exit 0
	;;
--masked-loop)
	shift
	mount --bind "$LC_TMP/empty" "$cgroot_controllers"
	lifecycle_loop "$@"
	exit 0
	;;
--masked)
	shift
	mount --bind "$LC_TMP/empty" "$cgroot_controllers"
	exec "$@"
	;;
esac

bench_require "runc, crun and sm-runtime create need it" "${1-}"
LC_SM=$BENCH_SM
n_sm=${LIFECYCLE_N:-3} n_peer=${LIFECYCLE_PEER_N:-20} mem=${LIFECYCLE_MEM_MIB:-128}
trace=${LIFECYCLE_TRACE:-1}
command -v perf >/dev/null || trace=0

LC_TMP=$(mktemp -d /tmp/sm-bench-lifecycle.XXXXXX)
export LC_TMP LC_SM
: >"$LC_TMP/empty"
crun_mode=none crun_err=

# Delete (forced) every container left in a runtime's root, then remove all temporary files.
cleanup() {
	local kind id
	local -a rt
	trap - EXIT INT TERM
	for kind in sm runc crun; do
		[ -d "$LC_TMP/root-$kind" ] || continue
		rt_cmd "$kind" rt
		for id in "$LC_TMP/root-$kind"/*/; do
			[ -d "$id" ] || continue
			id=$(basename "$id")
			if [ "$kind" = crun ] && [ "$crun_mode" = masked ]; then
				unshare -m -- "$self" --masked "${rt[@]}" delete --force "$id" >/dev/null 2>&1 || true
			else
				"${rt[@]}" delete --force "$id" >/dev/null 2>&1 || true
			fi
		done
	done
	rm -rf "$LC_TMP"
}
bench_traps cleanup

# One bundle for all runtimes. ociVersion 1.0.2: crun 1.8.1 refuses "1.2.0" ("unknown version").
bench_bundle "$LC_TMP/bundle" "$mem" '.ociVersion = "1.0.2" | .process.args = ["true"]'

# crun: find a way it runs here (see the header).
crun_note=
if ! command -v crun >/dev/null; then
	crun_note="crun: unavailable here: not installed (apt-get install crun)"
else
	mkdir -p "$LC_TMP/root-crun"
	probe() { "$@" run --bundle "$LC_TMP/bundle" "probe-$$" </dev/null >/dev/null 2>"$LC_TMP/crun.err"; }
	if probe crun --root "$LC_TMP/root-crun"; then
		crun_mode=plain
	elif err=$(head -n1 "$LC_TMP/crun.err") && crun_err=$err && probe crun --cgroup-manager=disabled --root "$LC_TMP/root-crun"; then
		crun_mode=disabled LC_CRUN_FLAGS=--cgroup-manager=disabled
		crun_note="crun: plain crun fails here ($err); using crun --cgroup-manager=disabled"
	elif [ -e "$cgroot_controllers" ] &&
		probe unshare -m -- "$self" --masked crun --root "$LC_TMP/root-crun"; then
		crun_mode=masked
		crun_note="crun: fails here ($err), also with --cgroup-manager=disabled; measured in a private mount namespace with $cgroot_controllers masked by an empty file"
	else
		crun_note="crun: unavailable here: $err"
	fi
	export LC_CRUN_FLAGS
fi

echo "lifecycle.sh: \`true\` container, busybox bundle, ${mem} MiB guest; sm-runtime $n_sm iterations, runc/crun $n_peer"
echo "lifecycle.sh: $(bench_host), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "lifecycle.sh: $("$LC_SM" --version | head -n1); $(runc --version | head -n1)$(command -v crun >/dev/null && echo "; $(crun --version | head -n1)")"
[ -z "$crun_note" ] || echo "lifecycle.sh: $crun_note"

kinds=(runc)
[ "$crun_mode" = none ] || kinds+=(crun)
[ "$n_sm" = 0 ] || kinds+=(sm)
for kind in "${kinds[@]}"; do
	n=$n_peer
	[ "$kind" = sm ] && n=$n_sm
	if [ "$kind" = crun ] && [ "$crun_mode" = masked ]; then
		unshare -m -- "$self" --masked-loop "$kind" "$n" "$LC_TMP/res.$kind"
	else
		"$self" --loop "$kind" "$n" "$LC_TMP/res.$kind"
	fi
done

# crun measured another way than plain (see the header) is labelled so.
name() {
	case $1:$crun_mode in
	sm:*) echo sm-runtime ;;
	crun:masked) echo crun-masked ;;
	crun:disabled) echo crun-nocg ;;
	*) echo "$1" ;;
	esac
}
# Plain crun's row when it refuses to run here: its error, never a number.
crun_na() {
	[ -z "$crun_err" ] || printf '  %-10s n/a: %s\n' crun "$crun_err"
}
iters() { if [ "$1" = sm ]; then echo "$n_sm"; else echo "$n_peer"; fi; }
# Column COL of FILE (microseconds) -> "median min max" in milliseconds.
stats() {
	[ -s "$1" ] || { echo "- - -"; return; }
	awk -v c="$2" '{print $c / 1000}' "$1" | sort -g |
		awk '{a[NR] = $1} END {m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f %.1f %.1f", m, a[1], a[NR]}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a != "-" && b > 0) printf "%.1f", a / b; else print "-"}'; }
# "(k of n failed: first error)" for a results file's .fail, or nothing.
failures() {
	[ -s "$1.fail" ] || return 0
	echo "  ($(wc -l <"$1.fail") of $2 failed: $(head -n1 "$1.fail"))"
}

echo
printf '%-10s %4s %12s %12s %12s %12s %12s\n' runtime iter create_ms start_ms wait_ms delete_ms total_ms
for kind in "${kinds[@]}"; do
	[ -s "$LC_TMP/res.$kind" ] || continue
	awk -v k="$(name "$kind")" '{printf "%-10s %4d %12.1f %12.1f %12.1f %12.1f %12.1f\n", k, $1, $2 / 1000, $3 / 1000, $4 / 1000, $5 / 1000, $6 / 1000}' "$LC_TMP/res.$kind"
done
echo
echo "create+start+wait+delete, ms (median min max; phases are medians):"
crun_na
declare -A med medrun
for kind in "${kinds[@]}"; do
	read -r m lo hi <<<"$(stats "$LC_TMP/res.$kind" 6)"
	med[$kind]=$m
	printf '  %-10s %10s %10s %10s   create %s, start %s, wait %s, delete %s\n' "$(name "$kind")" "$m" "$lo" "$hi" \
		"$(stats "$LC_TMP/res.$kind" 2 | cut -d' ' -f1)" "$(stats "$LC_TMP/res.$kind" 3 | cut -d' ' -f1)" \
		"$(stats "$LC_TMP/res.$kind" 4 | cut -d' ' -f1)" "$(stats "$LC_TMP/res.$kind" 5 | cut -d' ' -f1)"
	failures "$LC_TMP/res.$kind" "$(iters "$kind")"
done
echo "run (foreground, includes delete), ms (median min max):"
crun_na
for kind in "${kinds[@]}"; do
	read -r m lo hi <<<"$(stats "$LC_TMP/res.$kind.run" 2)"
	medrun[$kind]=$m
	printf '  %-10s %10s %10s %10s\n' "$(name "$kind")" "$m" "$lo" "$hi"
	failures "$LC_TMP/res.$kind.run" "$(iters "$kind")"
done
if [ "$n_sm" = 0 ]; then
	echo "sm-runtime: not measured (LIFECYCLE_N=0)"
	exit 0
fi
echo "ratios of medians (> 1: sm-runtime slower):"
for peer in runc crun; do
	if [ "$peer" = crun ] && [ "$crun_mode" = none ]; then
		echo "  sm-runtime/crun: - ($crun_note)"
		continue
	fi
	echo "  sm-runtime/$(name "$peer"): lifecycle $(ratio "${med[sm]}" "${med[$peer]}"), run $(ratio "${medrun[sm]}" "${medrun[$peer]}")"
done

# Host-side overhead: one more lifecycle under perf trace; sum the vCPU threads' KVM_RUN ioctls.
echo
if [ "$trace" != 1 ]; then
	echo "host-side overhead outside KVM_RUN: not measured (LIFECYCLE_TRACE=0 or perf missing)"
	exit 0
fi
LC_NO_RUN=1 perf trace -S --sched -e ioctl --duration 0 -o "$LC_TMP/trace" -- "$self" --loop sm 1 "$LC_TMP/traced" \
	2>"$LC_TMP/perf.err" || die "perf trace failed: $(cat "$LC_TMP/perf.err")"
# perf trace lines: "TS (DUR ms): COMM/TID ioctl(..., cmd: KVM_RUN) = 0"; a call interrupted by
# another event is printed as "TS (   ): COMM/TID ioctl(..." then "TS (DUR ms): COMM/TID  ... [continued]: ioctl()".
read -r kvm_ms kvm_n vcpus first last tids <<<"$(sed -n -E 's/^ *([0-9.]+) \( *([0-9.]*)( ms)?\): [^ ]*\/([0-9]+) +(.*)$/\4|\1|\2|\5/p' "$LC_TMP/trace" |
	awk -F'|' '
		$4 ~ /cmd: KVM_RUN/ { if ($3 == "") { pend[$1] = 1; next } add($1, $2, $3); next }
		$4 ~ /\[continued\]: ioctl\(\)/ && pend[$1] { pend[$1] = 0; add($1, $2, $3) }
		function add(tid, ts, d) {
			s += d; n++; if (!(tid in seen)) { seen[tid] = 1; v++ }
			if (first == "" || ts < first) first = ts
			if (ts + d > last) last = ts + d
		}
		END { t = ""; for (x in seen) t = t "," x; printf "%.1f %d %d %.1f %.1f %s,\n", s, n, v, first, last, t }')"
# --sched adds per-thread summaries "COMM (TID), N events, P%, MS msec" (MS: time on a CPU).
# The benchmark's own shell (its comm is this script's name) is left out of the host figure.
read -r vcpu_cpu host_cpu <<<"$(awk -v tids="$tids" -v me="$(basename "$self" | cut -c1-15)" '
	/^ .* \([0-9]+\), [0-9]+ events, .* msec$/ {
		t = $0; sub(/\), [0-9]+ events,.*/, "", t); c = t; sub(/.*\(/, "", t)
		sub(/^ /, "", c); sub(/ \([0-9]+$/, "", c)
		if (index(tids, "," t ",")) v += $(NF - 1); else if (c != me) h += $(NF - 1)
	}
	END { printf "%.1f %.1f\n", v, h }' "$LC_TMP/trace")"
if [ ! -s "$LC_TMP/traced" ]; then
	echo "host-side overhead outside KVM_RUN: the traced lifecycle failed$(failures "$LC_TMP/traced" 1)"
	exit 0
fi
total_ms=$(awk '{printf "%.1f", $6 / 1000}' "$LC_TMP/traced")
lost=$(grep -c 'LOST' "$LC_TMP/trace" || true)
if [ "$kvm_n" = 0 ]; then
	echo "host-side overhead outside KVM_RUN: perf trace saw no ioctl(KVM_RUN) (its output: $LC_TMP/trace)"
	exit 0
fi
out_ms=$(awk -v t="$total_ms" -v k="$kvm_ms" 'BEGIN {printf "%.1f", t - k}')
gaps_ms=$(awk -v f="$first" -v l="$last" -v k="$kvm_ms" 'BEGIN {printf "%.1f", (l - f) - k}')
echo "sm-runtime host-side overhead (one lifecycle under perf trace -e ioctl; sm-runtime does not report KVM_RUN time):"
echo "  wall create+start+wait+delete     $total_ms ms"
echo "  inside KVM_RUN (vCPU threads: $vcpus)  $kvm_ms ms in $kvm_n calls (guest execution, kernel emulation, idle HLT)"
echo "    the vCPU threads were on a CPU for $vcpu_cpu ms (the rest of KVM_RUN: guest idle or waiting for a busy host core)"
echo "  outside KVM_RUN = host-side       $out_ms ms ($(awk -v o="$out_ms" -v t="$total_ms" 'BEGIN {printf "%.1f", 100 * o / t}')% of wall), of which $gaps_ms ms between the first KVM_RUN entry and the last exit (exit handling, vCPU not in the kernel)"
echo "  vs runc's whole lifecycle: outside-KVM_RUN/runc = $(ratio "$out_ms" "${med[runc]}")$([ "$crun_mode" = none ] || echo ", outside-KVM_RUN/crun = $(ratio "$out_ms" "${med[crun]}")")"
echo "  CPU time of sm-runtime's other threads (the create/start/delete processes, monitor, virtio-fs and event threads): $host_cpu ms"
[ "$lost" = 0 ] || echo "  warning: perf trace reported lost events ($lost lines): the KVM_RUN sum may be low"
