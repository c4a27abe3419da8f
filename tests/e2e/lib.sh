# Shared by the end-to-end TAP scripts (sourced): where sm-runtime is, the skip rules for a host
# that cannot boot the guest, and a TAP assertion helper.
SM="$SM_TOP_BUILDDIR/sm-runtime"

# Skip the whole script (with the reason) when the guest kernel is not built or /dev/kvm is unusable.
e2e_require_guest() {
	# tests/run-all.sh runs the guest tests in the -Werror build only: even restored from a
	# template, each guest costs 10-30 s where the guest kernel is emulated, and the host code
	# they drive is the same under ASan (where the lifecycle and fault tests drive it too).
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

# vm-run options of the tests that run a bundle: restore the template VM of `create`'s default shape
# (256 MiB, 1 vCPU; booted and saved by the first user, then cached by its hash across runs) instead
# of booting. The timeout covers that first boot.
E2E_VM=(--template --mem 256 --timeout 900)

n=0
# check DESCRIPTION COMMAND...: one TAP line, ok when COMMAND succeeds.
check() {
	local d=$1
	shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $d"; else echo "not ok $n - $d"; fi
}
