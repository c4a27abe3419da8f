#!/usr/bin/env bash
# End to end: boot the real guest kernel with sm-runtime's VMM, run a command in the guest, and
# check that its output and its exit status come back. (One boot: it takes long where the host
# has no VT-x/AMD-V.)
set -u
. "$SM_TOP_SRCDIR/tests/e2e/lib.sh"
e2e_require_guest
echo "1..4"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$SM" vm-run --timings --timeout 900 --cmdline 'echo hello; echo err >&2; uname -s; exit 3' >"$out" 2>&1
status=$?
cat "$out" | sed 's/^/# /'
[ "$status" -eq 3 ] && echo "ok 1 - guest exit status 3 comes back" || echo "not ok 1 - exit status $status, expected 3"
grep -qx 'hello' "$out" && echo "ok 2 - guest stdout line hello" || echo "not ok 2 - no line 'hello'"
grep -qx 'Linux' "$out" && echo "ok 3 - guest ran uname" || echo "not ok 3 - no line 'Linux'"
grep -q 'ready' "$out" && echo "ok 4 - timings printed" || echo "not ok 4 - no timing line"
