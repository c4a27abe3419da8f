#!/usr/bin/env bats
# Concurrency and load (issue 6, item 5), as a test: bench/load.sh with LOAD_N containers (default
# 10 here, 50 in the benchmark: each sequence restores a template and runs an emulated guest on
# these 2-core machines, so 50 would take several minutes) created, started, killed and deleted by
# parallel sm-runtime invocations; then one container targeted by concurrent state/kill/delete
# while its state.json is read in a loop, and concurrent creates of one id. load.sh itself checks
# failures, leaks (caller fds, processes, mounts, cgroups, state dirs, sockets) and the races; the
# tests below assert on its report.

load lifecycle-helpers
bats_require_minimum_version 1.5.0

setup_file() {
	guest_suite_ready || return 0
	command -v jq >/dev/null || { suite_skip_if "jq missing"; return 0; }
	[ -x /bin/busybox ] || { suite_skip_if "/bin/busybox missing"; return 0; }
	export LOAD_OUT
	LOAD_OUT=$(mktemp)
	local rc=0
	LOAD_N=${SM_TEST_LOAD_N:-10} LOAD_PAR=${SM_TEST_LOAD_PAR:-5} LOAD_TIMEOUT=600 SM_RUNTIME=$SM \
		"$SM_TOP_SRCDIR/bench/load.sh" >"$LOAD_OUT" 2>&1 || rc=$?
	echo "$rc" >"$LOAD_OUT.rc"
	[ "$rc" != 77 ] || suite_skip_if "$(grep SKIP "$LOAD_OUT")"
}

setup() {
	suite_skip
}

teardown_file() {
	rm -f "${LOAD_OUT:-}" "${LOAD_OUT:-}.rc"
}

# Print load.sh's report to the TAP log (as comments) when a test fails.
report() {
	sed 's/^/# /' "$LOAD_OUT" >&3
}

@test "parallel create/start/kill/delete: every container succeeds" {
	grep -q '^failures: 0$' "$LOAD_OUT" || { report; false; }
	grep -Eq '^containers: [0-9]+, succeeded [0-9]+' "$LOAD_OUT" || { report; false; }
	grep '^containers: ' "$LOAD_OUT" | sed 's/^/# /' >&3
}

@test "parallel lifecycles leave nothing behind (caller fds, processes, mounts, cgroups, state dirs, sockets)" {
	grep -q '^leaked resources: 0 ' "$LOAD_OUT" || { report; false; }
}

@test "concurrent commands on one container are serialized; state.json never corrupt; one duplicate create wins" {
	grep -q '^race: ok ' "$LOAD_OUT" || { report; false; }
}

@test "load.sh exits 0" {
	[ "$(cat "$LOAD_OUT.rc")" = 0 ] || { report; false; }
}
