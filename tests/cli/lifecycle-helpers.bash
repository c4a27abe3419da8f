# Shared set-up of the lifecycle suites: a private state root and the default busybox bundle.
load helpers

# Every test gets its own --root, so nothing touches /run/sm-runtime and leftovers are visible.
lifecycle_setup() {
	ROOT=$(mktemp -d)
	B=$(mktemp -d)
	"$SM_TOP_SRCDIR/scripts/make-bundle.sh" "$B" "$SM" >/dev/null
	SMR=("$SM" --root "$ROOT")
}

lifecycle_teardown() {
	local id
	for id in $(ls "$ROOT" 2>/dev/null); do
		"${SMR[@]}" delete --force "$id" >/dev/null 2>&1 || true
	done
	rm -rf "$ROOT" "$B"
}

# set_process JSON-ARRAY [terminal]: the bundle's process.args.
set_process() {
	python3 - "$B/config.json" "$1" "${2:-false}" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = json.loads(sys.argv[2])
c["process"]["terminal"] = sys.argv[3] == "true"
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
}

# A field of `state ID`'s JSON.
state_field() {
	"${SMR[@]}" state "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}

# Skip (with the reason) when no guest can boot here.
require_guest() {
	local why
	why=$(guest_missing) && skip "$why"
	return 0
}

# Print why the guest cannot run here (and succeed), or fail when it can.
guest_missing() {
	if [ ! -c /dev/kvm ]; then echo "no /dev/kvm"
	elif ! sm_kernel >/dev/null; then echo "no guest kernel: run make guest-kernel"
	elif [ ! -s "$SM_TOP_BUILDDIR/guest/initramfs.cpio" ]; then echo "no guest initramfs"
	elif [ "$(id -u)" != 0 ]; then echo "needs root (KVM, virtio-fs as the container's owner)"
	else return 1
	fi
}

# bats 1.8 cannot skip from setup_file: a VM suite's setup_file calls `suite_skip_if REASON` (or
# `guest_suite_ready || return 0`) to record why, and its setup() calls suite_skip, which skips
# every test with that reason.
suite_skip_if() {
	export SUITE_SKIP=$1
}

guest_suite_ready() {
	local why
	why=$(guest_missing) || return 0
	suite_skip_if "$why"
	return 1
}

suite_skip() {
	[ -z "${SUITE_SKIP:-}" ] || skip "$SUITE_SKIP"
}

# setup_file of the VM suites: where no guest can run, records why (every test then skips);
# otherwise exports ROOT (a private state root), B (the default busybox bundle) and D (scratch).
vm_suite_setup() {
	guest_suite_ready || return 0
	export ROOT B D
	ROOT=$(mktemp -d)
	B=$(mktemp -d)
	D=$(mktemp -d)
	"$SM_TOP_SRCDIR/scripts/make-bundle.sh" "$B" "$SM" >/dev/null
}

# setup_file of a suite around one running container: vm_suite_setup, then the bundle's
# config.json edited by the Python code on stdin (it changes the dict `c`; sys.argv[2:] are this
# function's further arguments), created as ID=PREFIX-$$ (exported) and started. On a failed
# create its stderr goes to fd 3 and this fails.
vm_suite_container() {
	local prefix=$1
	shift
	guest_suite_ready || return 0
	vm_suite_setup
	export ID=$prefix-$$
	python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))
exec(sys.stdin.read())
json.dump(c, open(sys.argv[1], "w"), indent=1)' "$B/config.json" "$@" || return 1
	"$SM" --root "$ROOT" create --bundle "$B" "$ID" </dev/null >"$D/out" 2>"$D/err" || {
		sed 's/^/# create: /' "$D/err" >&3
		return 1
	}
	"$SM" --root "$ROOT" start "$ID"
}

# teardown_file of the VM suites: every container under $ROOT force-deleted, the temporary
# root, bundle and scratch directories removed.
vm_suite_teardown() {
	local id
	[ -n "${ROOT:-}" ] || return 0 # setup_file skipped before making anything
	for id in $(ls "$ROOT" 2>/dev/null); do
		"$SM" --root "$ROOT" delete --force "$id" >/dev/null 2>&1 || true
	done
	rm -rf "$ROOT" "${B:-}" "${D:-}"
}

# No monitor of this test's root is left running.
no_stray_monitor() {
	! pgrep -f -- "--root $ROOT " >/dev/null
}

# wait_for SECONDS CMD...: poll until CMD succeeds.
wait_for() {
	local t=$1 i
	shift
	for ((i = 0; i < t * 5; i++)); do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}

# The status field of `state ID` is $2.
status_is() {
	[ "$(state_field "$1" status)" = "$2" ]
}
