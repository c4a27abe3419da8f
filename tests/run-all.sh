#!/usr/bin/env bash
# Build sm-runtime and run every test suite: the README's test command, and what CI runs.
#   tests/run-all.sh            warnings-as-errors build + `make check` + ASan/UBSan build + its
#                               `make check` + engine tests (`make engines`) + fuzz smoke
#   SM_FAST=1 tests/run-all.sh  only the first build and its full `make check`
#   FUZZ_SECONDS=N              seconds per fuzz target (default 60)
#   SM_CI_FUZZ_OVERLAP=1        run the fuzz smoke alongside the ASan `make check` and the engine
#                               tests, one target at a time (default 0: after them, one target per
#                               core; the overlap saved ~15 s of 999 and slows the guest suites 2-4x,
#                               which risks their timeouts)
#   SM_ENGINES=0                skip the engine tests (podman, containerd), saying so
# Each guest-driving CLI suite (tests/cli/run-bats.sh) runs once: in the ASan+UBSan pass, where it
# finds the most (host code handling real guest traffic); the -Werror pass skips it with that reason
# (SM_TEST_VM_CLI=0). Guest boots and the e2e guest suites run in the -Werror pass only
# (SM_TEST_GUEST_BOOTS=0 under ASan). The engine tests run once, with the -Werror build.
# Each section prints its elapsed seconds and how busy the machine's CPUs were (/proc/stat: all
# processes, also other users'); the end has a table of them, the total, and the CPU seconds used
# (user+sys of everything this script waited for, which depends less on the load).
# Ends with one summary line "N passed, N failed, N skipped" over all suites.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
status=0
t_begin=$(date +%s.%N)

sec_name='' sec_t0='' sec_cpu0='' timings=''
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
# The machine's CPU jiffies "busy total" so far (first line of /proc/stat: user nice system idle
# iowait irq softirq steal; iowait counts as idle; guest time is already in user).
cpu_jiffies() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat; }
# Percent of the machine's CPU time that was busy since a cpu_jiffies reading.
cpu_busy() { # cpu_busy "BUSY TOTAL"
	local b0 t0 b1 t1
	read -r b0 t0 <<<"$1"
	read -r b1 t1 <<<"$(cpu_jiffies)"
	awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) 'BEGIN { printf "%d", (t > 0 ? 100 * b / t : 0) }'
}
section_end() {
	[ -n "$sec_name" ] || return 0
	local e u
	e=$(elapsed "$sec_t0")
	u=$(cpu_busy "$sec_cpu0")
	printf '=== %s: %s s, CPUs %s%% busy ===\n' "$sec_name" "$e" "$u"
	timings+=$(printf '%8s s %4s%%  %s' "$e" "$u" "$sec_name")$'\n'
	sec_name=''
}
section() {
	section_end
	sec_name=$*
	sec_t0=$(date +%s.%N)
	sec_cpu0=$(cpu_jiffies)
	printf '\n=== %s ===\n' "$*"
}

section "dependencies and autogen"
"$top/scripts/install-deps.sh" || exit 1
[ -x configure ] && [ configure -nt configure.ac ] || ./autogen.sh >/dev/null 2>&1 || { ./autogen.sh; exit 1; }

build() { # build DIR configure-args...
	local dir=$1; shift
	mkdir -p "$dir" && cd "$dir" || return 1
	if [ ! -f Makefile ] || [ "$top/configure" -nt Makefile ]; then
		"$top/configure" --enable-werror "$@" >configure.log 2>&1 || { cat configure.log; return 1; }
	fi
	make -j"$jobs" >make.log 2>&1 || { tail -n 60 make.log; return 1; }
	cd "$top"
}

# The slowest tests of a build tree: seconds from the creation of a test's .log (when it started)
# to its .trs (when it ended), for file systems that record creation times.
slowest() { # slowest DIR
	local dir=$1
	find "$dir" -name '*.trs' | while read -r trs; do
		local log=${trs%.trs}.log b
		b=$(stat -c %W "$log" 2>/dev/null) || continue
		[ "$b" -gt 0 ] && echo "$(($(stat -c %Y "$trs") - b)) ${trs#"$dir"/}"
	done | sort -rn | head -n 12 | awk 'BEGIN { print "slowest tests (s):" } { printf "%6d  %s\n", $1, substr($2, 1, length($2) - 4) }'
}

# The fuzz smoke: every libFuzzer target for FUZZ_SECONDS, N at once.
fuzz_smoke() { # fuzz_smoke N
	make -C "$top/build-ci" -k -j"$1" -Otarget fuzz-smoke FUZZ_SECONDS="${FUZZ_SECONDS:-60}" \
		>"$top/build-ci/fuzz.log" 2>&1
}
fuzz_report() { # fuzz_report STATUS
	grep -E '^(fuzz-smoke:|==[0-9]+==ERROR|SUMMARY|stat::number_of_executed_units)' "$top/build-ci/fuzz.log"
	[ "$1" -eq 0 ] || { echo "fuzz smoke FAILED (see build-ci/fuzz.log)"; status=1; }
}

section "build (-Werror)"
build "$top/build-ci" || exit 1
section "guest kernel (cached under /var/cache/sm-runtime)"
make -C "$top/build-ci" guest-kernel || exit 1
# The engine tests (tests/engines/): podman and containerd driving the -Werror build's sm-runtime.
# Their TAP goes to build-ci/engines.log (counted by tests/summarize.sh); printed here: what failed
# or was skipped, with the reason, and each suite's time.
engines() {
	rm -f "$top/build-ci/engines.log"
	if [ "${SM_ENGINES:-1}" = 0 ]; then
		echo "1..0 # SKIP engine tests not run (SM_ENGINES=0)" | tee "$top/build-ci/engines.log"
		return 0
	fi
	make -C "$top/build-ci" engines >"$top/build-ci/engines.log" 2>&1 || status=1
	grep -E '^(not ok|Bail out!|1\.\.0 # SKIP|# [a-z]+\.sh: [0-9.]+ s$)' "$top/build-ci/engines.log"
	grep -cE '^ok ' "$top/build-ci/engines.log" | sed 's/$/ engine tests passed/'
}

if [ "${SM_FAST:-0}" = 1 ]; then
	vm_cli=1
	section "make check (-Werror build)"
else
	vm_cli=0 # they run in the ASan+UBSan pass below
	section "make check (-Werror build; guest-driving CLI suites skipped: they run under ASan)"
fi
SM_TEST_VM_CLI=$vm_cli make -C "$top/build-ci" -j"$jobs" check >"$top/build-ci/check.log" 2>&1 || status=1
grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):' "$top/build-ci/check.log" | grep -v '^PASS' | head -n 100
grep -E '^# (TOTAL|PASS|SKIP|FAIL|ERROR)' "$top/build-ci/check.log"
slowest "$top/build-ci"

if [ "${SM_FAST:-0}" != 1 ]; then
	section "ASan+UBSan build"
	fuzz_pid=''
	if build "$top/build-asan" --enable-asan && make -C "$top/build-asan" guest-kernel >/dev/null; then
		# The guest-driving suites run one after another (guests in parallel starve each other), so
		# the ASan make check and the engine tests keep about one core busy: the fuzz targets run on
		# the others, one at a time on 2 cores, each still for FUZZ_SECONDS.
		if [ "${SM_CI_FUZZ_OVERLAP:-0}" = 1 ]; then
			fuzz_jobs=$((jobs > 2 ? jobs - 1 : 1))
			section "ASan+UBSan make check, then engine tests; alongside: fuzz smoke (${FUZZ_SECONDS:-60} s per target, $fuzz_jobs at a time)"
			fuzz_smoke "$fuzz_jobs" &
			fuzz_pid=$!
		else
			section "ASan+UBSan make check"
		fi
		# Guest boots (30-60 s each where the guest kernel is emulated) are not repeated under
		# ASan: the VMM code they run is the same, and lifecycle, snapshot, fault and
		# hostile-guest tests still drive it here from the template.
		SM_TEST_GUEST_BOOTS=0 make -C "$top/build-asan" -j"$jobs" check >"$top/build-asan/check.log" 2>&1 ||
			status=1
		grep -E '^(FAIL|ERROR|XPASS):' "$top/build-asan/check.log" | head -n 100
		grep -E '^# (TOTAL|PASS|SKIP|FAIL|ERROR)' "$top/build-asan/check.log"
		slowest "$top/build-asan"
	else
		status=1
	fi
	[ -n "$fuzz_pid" ] || section "engine tests (podman, containerd)"
	echo "--- engine tests (podman, containerd; -Werror build) ---"
	engines
	if [ -n "$fuzz_pid" ]; then
		echo "--- fuzz smoke ---"
		wait "$fuzz_pid"
		fuzz_report $?
	else
		section "fuzz smoke (libFuzzer, ${FUZZ_SECONDS:-60} s per target, $jobs at a time)"
		fuzz_smoke "$jobs"
		fuzz_report $?
	fi
fi

section "summary"
"$top/tests/summarize.sh" "$top/build-ci" "$top/build-asan" "$top/build-ci/engines.log" || status=1
section_end
printf '\n=== timings (wall, CPUs busy) ===\n%s%8s s        total\n' "$timings" "$(elapsed "$t_begin")"
# times: user and sys CPU of this shell, then of the processes it waited for (the builds, tests,
# fuzzers and guest VMs they ran; daemonized container monitors are not counted).
times >"$top/build-ci/times.txt" # not in a pipe: a subshell's times are its own
tail -n 1 "$top/build-ci/times.txt" | awk '{ print "CPU of the processes run (user sys): " $0 }'
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
