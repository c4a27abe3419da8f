#!/usr/bin/env bash
# Build sm-runtime and run every test suite: the README's test command, and what CI runs.
#   tests/run-all.sh            warnings-as-errors build + `make check` + ASan/UBSan build + fuzz smoke
#   SM_FAST=1 tests/run-all.sh  only the first build and `make check`
#   FUZZ_SECONDS=N              seconds per fuzz target (default 60); the targets run in parallel,
#                               one per core
#   SM_CI_FUZZ_OVERLAP=1        run the fuzz smoke at the same time as the ASan `make check`
#                               (default 0: one after the other; see the timing table at the end)
# Each section prints its elapsed seconds; the end has a table of them, the total, and the CPU
# seconds used (user+sys of everything this script waited for, which depends less on the load).
# Ends with one summary line "N passed, N failed, N skipped" over all suites.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
status=0
t_begin=$(date +%s.%N)

sec_name='' sec_t0='' timings=''
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
section_end() {
	[ -n "$sec_name" ] || return 0
	local e
	e=$(elapsed "$sec_t0")
	printf '=== %s: %s s ===\n' "$sec_name" "$e"
	timings+=$(printf '%8s s  %s' "$e" "$sec_name")$'\n'
	sec_name=''
}
section() {
	section_end
	sec_name=$*
	sec_t0=$(date +%s.%N)
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

# The fuzz smoke: every libFuzzer target for FUZZ_SECONDS, as many at once as there are cores.
fuzz_smoke() {
	make -C "$top/build-ci" -k -j"$jobs" -Otarget fuzz-smoke FUZZ_SECONDS="${FUZZ_SECONDS:-60}" \
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
section "make check (-Werror build)"
make -C "$top/build-ci" -j"$jobs" check >"$top/build-ci/check.log" 2>&1 || status=1
grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):' "$top/build-ci/check.log" | grep -v '^PASS' | head -n 100
grep -E '^# (TOTAL|PASS|SKIP|FAIL|ERROR)' "$top/build-ci/check.log"
slowest "$top/build-ci"

if [ "${SM_FAST:-0}" != 1 ]; then
	section "ASan+UBSan build"
	if build "$top/build-asan" --enable-asan && make -C "$top/build-asan" guest-kernel >/dev/null; then
		fuzz_pid=''
		if [ "${SM_CI_FUZZ_OVERLAP:-0}" = 1 ]; then
			section "ASan+UBSan make check and fuzz smoke, at the same time"
			fuzz_smoke &
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
		if [ -n "$fuzz_pid" ]; then
			wait "$fuzz_pid"
			fuzz_report $?
		fi
	else
		status=1
		fuzz_pid=''
	fi
	if [ -z "$fuzz_pid" ]; then
		section "fuzz smoke (libFuzzer, ${FUZZ_SECONDS:-60} s per target, $jobs at a time)"
		fuzz_smoke
		fuzz_report $?
	fi
fi

section "summary"
"$top/tests/summarize.sh" "$top/build-ci" "$top/build-asan" || status=1
section_end
printf '\n=== timings ===\n%s%8s s  total\n' "$timings" "$(elapsed "$t_begin")"
# times: user and sys CPU of this shell, then of the processes it waited for (the builds, tests,
# fuzzers and guest VMs they ran; daemonized container monitors are not counted).
times >"$top/build-ci/times.txt" # not in a pipe: a subshell's times are its own
tail -n 1 "$top/build-ci/times.txt" | awk '{ print "CPU of the processes run (user sys): " $0 }'
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
