#!/usr/bin/env bash
# Build sm-runtime and run every test suite: the README's test command, and what CI runs.
#   tests/run-all.sh            warnings-as-errors build + `make check` + ASan/UBSan build + fuzz smoke
#   SM_FAST=1 tests/run-all.sh  only the first build and `make check`
# Ends with one summary line "N passed, N failed, N skipped" over all suites.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
status=0

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

section() { printf '\n=== %s ===\n' "$*"; }

section "build (-Werror)"
build "$top/build-ci" || exit 1
section "guest kernel (cached under /var/cache/sm-runtime)"
make -C "$top/build-ci" guest-kernel || exit 1
section "make check"
make -C "$top/build-ci" -j"$jobs" check >"$top/build-ci/check.log" 2>&1 || status=1
grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):' "$top/build-ci/check.log" | grep -v '^PASS' | head -n 100
grep -E '^# (TOTAL|PASS|SKIP|FAIL|ERROR)' "$top/build-ci/check.log"

if [ "${SM_FAST:-0}" != 1 ]; then
	section "ASan+UBSan build and make check"
	if build "$top/build-asan" --enable-asan && make -C "$top/build-asan" guest-kernel >/dev/null; then
		# Guest boots (30-60 s each where the guest kernel is emulated) are not repeated under
		# ASan: the VMM code they run is the same, and lifecycle, snapshot, fault and
		# hostile-guest tests still drive it here from the template.
		SM_TEST_GUEST_BOOTS=0 make -C "$top/build-asan" -j"$jobs" check >"$top/build-asan/check.log" 2>&1 ||
			status=1
		grep -E '^(FAIL|ERROR|XPASS):' "$top/build-asan/check.log" | head -n 100
		grep -E '^# (TOTAL|PASS|SKIP|FAIL|ERROR)' "$top/build-asan/check.log"
	else
		status=1
	fi
	section "fuzz smoke (libFuzzer, bounded time per target)"
	make -C "$top/build-ci" fuzz-smoke FUZZ_SECONDS="${FUZZ_SECONDS:-60}" >"$top/build-ci/fuzz.log" 2>&1 || status=1
	grep -E '^(fuzz-smoke:|==[0-9]+==ERROR|SUMMARY|stat::number_of_executed_units)' "$top/build-ci/fuzz.log"
fi

section "summary"
"$top/tests/summarize.sh" "$top/build-ci" "$top/build-asan" || status=1
exit $status
