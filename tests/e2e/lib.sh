# Shared by the end-to-end TAP scripts (sourced): where sm-runtime is, the skip rules for a host
# that cannot boot the guest, and a TAP assertion helper.
SM="$SM_TOP_BUILDDIR/sm-runtime"

# Skip the whole script (with the reason) when the guest kernel is not built or /dev/kvm is unusable.
e2e_require_guest() {
	# tests/run-all.sh boots guests in the -Werror build only: each boot costs 30-60 s here.
	if [ "${SM_TEST_GUEST_BOOTS:-1}" = 0 ]; then
		echo "1..0 # SKIP guest boots run in the -Werror build only (SM_TEST_GUEST_BOOTS=0)"
		exit 0
	fi
	if [ ! -s "$SM_TOP_BUILDDIR/guest/kernel.path" ]; then
		echo "1..0 # SKIP guest kernel not built: run make guest-kernel"
		exit 0
	fi
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		echo "1..0 # SKIP /dev/kvm is not accessible to this user"
		exit 0
	fi
}

n=0
# check DESCRIPTION COMMAND...: one TAP line, ok when COMMAND succeeds.
check() {
	local d=$1
	shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $d"; else echo "not ok $n - $d"; fi
}
