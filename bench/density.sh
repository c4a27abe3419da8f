#!/usr/bin/env bash
# Density benchmark: starts idle containers (busybox `sleep infinity`, 128 MiB guest each) with
# `sm-runtime run --detach`, adding them step by step up to each N of DENSITY_N, and at every step
# prints the host memory they use:
#   - MemAvailable delta: /proc/meminfo's MemAvailable before the first container minus now. Counts
#     everything (guest RAM pages, the VMM, kernel memory such as KVM's page tables), but also any
#     other activity on the host while the benchmark runs.
#   - PSS sum: Pss (and its Anon/File/Shmem parts; guest RAM is a memfd, so it is Shmem) from
#     /proc/<pid>/smaps_rollup of every container's VMM process (the pid of --pid-file). Pages
#     shared between VMs (e.g. a snapshot template mapped copy-on-write) are divided among them.
#   - cgroup: the memory charged to each container's host cgroup (v1 memory.usage_in_bytes, v2
#     memory.current), which includes the kernel memory accounted to it; of which kernel memory
#     (v1 memory.kmem.usage_in_bytes: KVM's vCPU, MMU and memslot structures, page tables, slab)
#   - page tables: VmPTE of the VMM processes (/proc/<pid>/status).
# and the per-container figures: total / N and the increment per extra container since the previous
# step. Also the idle CPU the running VMs burn (% of one core per container, over 5 s). Then kills
# and deletes every container (also on ^C or failure) and prints how much memory came back.
#
# Containers are restored from one snapshot template (the first create boots it when missing: 25-60
# s on kvm_pvm hosts); a create still runs guest kernel code (emulated on kvm_pvm: 2-3 s at low
# load, minutes on a loaded host). They are started DENSITY_PARALLEL at a time and starting stops
# when DENSITY_TIMEOUT is reached; the step then reports what is running, says so, and larger steps
# are skipped.
#
# Usage: bench/density.sh [BUILDDIR]   (BUILDDIR default: ./build; SM_RUNTIME=path overrides)
# Environment: DENSITY_N        container counts, ascending (default "10 50 100")
#              DENSITY_MEM_MIB  guest RAM per container (annotation org.sm-runtime.vm.mem_mib, 128)
#              DENSITY_TIMEOUT  seconds allowed for starting containers, all steps (default 900)
#              DENSITY_PARALLEL creates in flight at once (default: number of cores)
#              DENSITY_SETTLE   seconds to wait after a step before measuring (default 5)
#              DENSITY_MAX_FAIL failed starts (reported, replaced) before giving up (default 3)
# Must run as root; exits 77 (skip) with a reason when root, /dev/kvm, sm-runtime, jq or busybox
# is missing.
set -euo pipefail
export LC_ALL=C
top=$(cd "$(dirname "$0")/.." && pwd)
BENCH_NAME=density.sh
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"

bench_require "sm-runtime create needs it" "${1-}"
sm=$BENCH_SM
read -r -a steps <<<"${DENSITY_N:-10 50 100}"
mem=${DENSITY_MEM_MIB:-128} timeout=${DENSITY_TIMEOUT:-900} par=${DENSITY_PARALLEL:-$(nproc)}
settle=${DENSITY_SETTLE:-5}

tmp=$(mktemp -d /tmp/sm-bench-density.XXXXXX)
root=$tmp/root
idp=density-$$- # container ids: unique, since sm-runtime's host cgroups (/sm-runtime/<id>) are not per --root
declare -A job_of=() # container number -> pid of its `run --detach` still in flight
started=0           # containers 1..started were launched (some may be in flight)
base_avail=0        # MemAvailable (KiB) before the first container
avail_kib() { awk '/^MemAvailable:/ {print $2}' /proc/meminfo; }

# Stop creates still in flight, kill and delete every container in our root, remove the files.
cleanup() {
	local i d t0
	trap - EXIT INT TERM
	for i in "${!job_of[@]}"; do
		kill "${job_of[$i]}" 2>/dev/null || true
	done
	for i in "${!job_of[@]}"; do
		wait "${job_of[$i]}" 2>/dev/null || true
	done
	t0=${EPOCHREALTIME/./}
	local n=0
	for d in "$root"/*/; do
		[ -d "$d" ] && n=$((n + 1))
	done
	# delete --force stops the VM itself; four at a time.
	find "$root" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null |
		xargs -r -P 4 -I{} sh -c '"$0" --root "$1" delete --force "$2" >/dev/null 2>&1 ||
			echo "density.sh: delete --force $2 failed" >&2' "$sm" "$root" {}
	if [ "$n" -gt 0 ]; then
		echo "teardown: delete --force of $n containers, 4 at a time: $(bench_secs "$t0") s"
		sleep 2
		echo "teardown: MemAvailable now $(((base_avail - $(avail_kib)) / 1024)) MiB below the baseline"
	fi
	rm -rf "$tmp"
}
bench_traps cleanup

bench_bundle "$tmp/bundle" "$mem" '.process.args = ["sleep", "infinity"]'
mkdir -p "$root"

echo "density.sh: idle busybox containers (sleep), ${mem} MiB guest each, steps: ${steps[*]}, $par creates in flight, start budget ${timeout} s"
echo "density.sh: $(bench_host), $(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "density.sh: $("$sm" --version | head -n1)"
for _ in 1 2 3; do
	base_avail=$((base_avail + $(avail_kib)))
	sleep 1
done
base_avail=$((base_avail / 3))
echo "density.sh: baseline MemAvailable $((base_avail / 1024)) MiB"

# Reap finished creates; a failed one is reported, force-deleted and replaced by another; after
# DENSITY_MAX_FAIL failures no more are started.
nfail=0 failed=0
reap() {
	local i
	for i in "${!job_of[@]}"; do
		kill -0 "${job_of[$i]}" 2>/dev/null && continue
		if ! wait "${job_of[$i]}"; then
			echo "density.sh: container $idp$i failed to start: $(head -c 600 "$tmp/err.$i")" >&2
			"$sm" --root "$root" delete --force "$idp$i" >/dev/null 2>&1 || true
			nfail=$((nfail + 1))
			[ $nfail -lt "${DENSITY_MAX_FAIL:-3}" ] || failed=1
		fi
		unset "job_of[$i]"
	done
}

# Sum of the memory charged to the given pids' host cgroups (KiB): v1 memory.$1 (usage_in_bytes or
# kmem.usage_in_bytes), or v2 memory.current (only for usage); "-" when a pid has no memory cgroup
# of its own.
cgroup_kib() {
	local p line s=0 f what=$1
	shift
	for p in "$@"; do
		f=''
		while IFS= read -r line; do
			case $line in
			*:memory:/) ;;
			*:memory:*) f=/sys/fs/cgroup/memory${line#*:memory:}/memory.$what ;;
			0::/) ;;
			0::*) [ -n "$f" ] || [ "$what" != usage_in_bytes ] || f=/sys/fs/cgroup${line#0::}/memory.current ;;
			esac
		done <"/proc/$p/cgroup"
		if [ -z "$f" ] || [ ! -r "$f" ]; then
			echo -
			return
		fi
		read -r line <"$f"
		s=$((s + line / 1024))
	done
	echo "$s"
}

# Sum of utime+stime (clock ticks) of the given pids.
cpu_ticks() {
	local p s=0 f
	for p in "$@"; do
		read -r -a f <"/proc/$p/stat" 2>/dev/null || continue
		# Fields after "(comm)" start at index 2 when comm has no space (it is "sm-runtime").
		s=$((s + f[13] + f[14]))
	done
	echo "$s"
}

t_start=${EPOCHREALTIME/./}
deadline=$((t_start + timeout * 1000000))
first_s=
capped=
prev_n=0 prev_pss=0 prev_avail=0 prev_cg=0
echo
echo "avail: MemAvailable below the baseline; pss: sum of the VMMs' PSS; cg: charged to the containers' host cgroups"
echo "(MiB; per_ctr = total / running; incr_ctr = growth per container added since the previous step)"
printf '%6s %8s %9s %8s %8s %9s %8s %22s %8s %8s %8s %9s\n' running start_s avail_MiB per_ctr incr_ctr pss_MiB per_ctr "pss/ctr anon+file+shm" incr_ctr cg_MiB per_ctr idle_cpu%
for target in "${steps[@]}"; do
	while [ $((started - nfail)) -lt "$target" ] || [ ${#job_of[@]} -gt 0 ]; do
		reap
		[ $failed = 0 ] || break
		if [ "${EPOCHREALTIME/./}" -gt $deadline ]; then
			capped="DENSITY_TIMEOUT (${timeout} s) reached with $((started - nfail - ${#job_of[@]})) containers running"
			break
		fi
		if [ $((started - nfail)) -lt "$target" ] && [ ${#job_of[@]} -lt "$par" ]; then
			started=$((started + 1))
			"$sm" --root "$root" run --detach --bundle "$tmp/bundle" --pid-file "$tmp/d$started.pid" \
				"$idp$started" </dev/null >/dev/null 2>"$tmp/err.$started" &
			job_of[$started]=$!
			continue
		fi
		sleep 0.5
		if [ -z "$first_s" ] && compgen -G "$tmp/d*.pid" >/dev/null; then
			first_s=$(bench_secs "$t_start")
			echo "density.sh: first container running after $first_s s (includes the template's boot if it was missing)"
		fi
	done
	if [ -n "$capped" ] || [ $failed = 1 ]; then
		# Creates still in flight would skew the figures: stop them; cleanup deletes them.
		for i in "${!job_of[@]}"; do kill "${job_of[$i]}" 2>/dev/null || true; done
		for i in "${!job_of[@]}"; do wait "${job_of[$i]}" 2>/dev/null || true; done
		for i in "${!job_of[@]}"; do
			"$sm" --root "$root" delete --force "$idp$i" >/dev/null 2>&1 || true
			unset "job_of[$i]"
		done
	fi
	elapsed=$(bench_secs "$t_start")
	pids=()
	for ((i = 1; i <= started; i++)); do
		[ -s "$tmp/d$i.pid" ] || continue
		read -r p <"$tmp/d$i.pid" || [ -n "$p" ]
		[ -d "/proc/$p" ] && pids+=("$p")
	done
	n=${#pids[@]}
	[ "$n" -gt 0 ] || { echo "density.sh: no container is running"; break; }
	sleep "$settle"
	avail_mib=$(((base_avail - $(avail_kib)) / 1024))
	read -r pss anon file shmem <<<"$(for p in "${pids[@]}"; do cat "/proc/$p/smaps_rollup" 2>/dev/null; done |
		awk '/^Pss:/ {p += $2} /^Pss_Anon:/ {a += $2} /^Pss_File:/ {f += $2} /^Pss_Shmem:/ {s += $2}
			END {printf "%d %d %d %d\n", p, a, f, s}')"
	cg=$(cgroup_kib usage_in_bytes "${pids[@]}")
	kmem=$(cgroup_kib kmem.usage_in_bytes "${pids[@]}")
	pte=$(for p in "${pids[@]}"; do cat "/proc/$p/status" 2>/dev/null; done | awk '/^VmPTE:/ {s += $2} END {print s + 0}')
	c0=$(cpu_ticks "${pids[@]}")
	sleep 5
	c1=$(cpu_ticks "${pids[@]}")
	awk -v n="$n" -v st="$elapsed" -v av="$avail_mib" -v pss="$pss" -v a="$anon" -v f="$file" -v s="$shmem" \
		-v pn="$prev_n" -v pp="$prev_pss" -v pa="$prev_avail" -v cg="$cg" -v cpu=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" \
		-v km="$kmem" -v pte="$pte" -v pc="$prev_cg" \
		'BEGIN {
			d = n - pn
			printf "%6d %8.1f %9d %8.1f %8s %9.1f %8.1f %22s %8s %8s %8s %9.2f\n", n, st, av, av / n,
				(d > 0 ? sprintf("%.1f", (av - pa) / d) : "-"), pss / 1024, pss / 1024 / n,
				sprintf("%.1f+%.1f+%.1f", a / 1024 / n, f / 1024 / n, s / 1024 / n),
				(d > 0 ? sprintf("%.1f", (pss - pp) / 1024 / d) : "-"),
				(cg == "-" ? "-" : sprintf("%.1f", cg / 1024)), (cg == "-" ? "-" : sprintf("%.1f", cg / 1024 / n)),
				100 * cpu / hz / 5 / n
			printf "%6s per container: cgroup kernel memory (kmem) %s, VMM page tables (VmPTE) %.2f MiB; cgroup charge per extra container %s\n", "",
				(km == "-" ? "-" : sprintf("%.2f MiB", km / 1024 / n)), pte / 1024 / n,
				(cg == "-" || d <= 0 ? "-" : sprintf("%.1f MiB", (cg - pc) / 1024 / d))
		}'
	prev_n=$n prev_pss=$pss prev_avail=$avail_mib prev_cg=$cg
	if [ -n "$capped" ] || [ $failed = 1 ]; then
		[ -z "$capped" ] || echo "density.sh: $capped; larger steps skipped (raise DENSITY_TIMEOUT)"
		[ $failed = 0 ] || echo "density.sh: $nfail containers failed to start; larger steps skipped"
		break
	fi
done
echo "target (issue 5): 100 idle containers on a 24 GiB host with < 20 MiB of host memory per extra container"
