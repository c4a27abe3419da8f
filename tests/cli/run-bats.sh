#!/bin/sh
# How `make check` runs a bats suite (BATS_LOG_COMPILER): tests/cli/run-bats.sh BATS SUITE.bats
# TAP with each test's time. SM_TEST_VM_CLI=0 skips, with the reason, the suites that drive
# guests (those that call vm_suite_setup, guest_suite_ready or require_guest): tests/run-all.sh sets
# it in its -Werror pass, since those suites run in its ASan+UBSan pass, where they find the most
# (host code handling real guest traffic), and their guest work would otherwise be done twice.
# A plain `make check` runs them all.
bats=$1
shift
for suite; do :; done # the last argument
if [ "${SM_TEST_VM_CLI:-1}" = 0 ] && grep -qE 'vm_suite_setup|guest_suite_ready|require_guest' "$suite"; then
	# Tests a sanitizer build skips (e.g. the seccomp filter, which ASan builds do not install)
	# still run here: the suite names them in a line "# run-bats: non-sanitizer tests: REGEX".
	only=$(sed -n 's/^# run-bats: non-sanitizer tests: //p' "$suite" | head -n 1)
	if [ -n "$only" ]; then
		echo "# SM_TEST_VM_CLI=0: only the tests a sanitizer build skips (--filter '$only'); the rest run in the ASan+UBSan pass"
		exec "$bats" --tap --timing --filter "$only" "$@"
	fi
	echo "1..0 # SKIP guest-driving CLI suite, not run in this pass (SM_TEST_VM_CLI=0: tests/run-all.sh runs it in the ASan+UBSan pass)"
	exit 0
fi
exec "$bats" --tap --timing "$@"
