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
	[ -c /dev/kvm ] || skip "no /dev/kvm"
	sm_kernel >/dev/null || skip "no guest kernel: run make guest-kernel"
	[ -s "$SM_TOP_BUILDDIR/guest/initramfs.cpio" ] || skip "no guest initramfs"
	[ "$(id -u)" = 0 ] || skip "needs root (KVM, virtio-fs as the container's owner)"
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
