#!/usr/bin/env bash
# End to end: boot the real guest kernel with sm-runtime's VMM, run a command in the guest, and
# check that its output and its exit status come back. (One boot: it takes long where the host
# has no VT-x/AMD-V.)
set -u
SM="$SM_TOP_BUILDDIR/sm-runtime"
if [ ! -s "$SM_TOP_BUILDDIR/guest/kernel.path" ]; then
	echo "1..0 # SKIP guest kernel not built: run make guest-kernel"
	exit 0
fi
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "1..0 # SKIP /dev/kvm is not accessible to this user"
	exit 0
fi
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
