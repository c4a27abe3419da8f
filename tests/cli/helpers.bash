# Shared set-up for the bats suites: where the binary and the guest artifacts are.
SM=${SM_TOP_BUILDDIR:?run through make check}/sm-runtime

# Print the path of the built guest kernel, or fail when `make guest-kernel` has not run.
sm_kernel() {
	local f="$SM_TOP_BUILDDIR/guest/kernel.path"
	[ -s "$f" ] || return 1
	local k
	k=$(cat "$f")
	[ -f "$k" ] || return 1
	echo "$k"
}
