# shellcheck shell=bash
# Shared by the container benchmarks (bench/load.sh, density.sh, lifecycle.sh): the checks that
# decide whether they can run here (skip, exit 77, with the reason), the runtime under test, the
# busybox bundle they start, the cleanup traps and the host line of their reports. Sourced, not run;
# the script sets BENCH_NAME (its name in messages) first.

bench_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# bench_skip REASON...: this benchmark cannot run here; says why and exits 77.
bench_skip() {
	echo "$BENCH_NAME: SKIP: $*"
	exit 77
}

# bench_require WHY-ROOT [BUILDDIR]: skips unless running as root (WHY-ROOT says what needs it), with
# /dev/kvm, jq, busybox and an sm-runtime binary (SM_RUNTIME, or BUILDDIR/sm-runtime, BUILDDIR
# default ./build). Sets BENCH_SM to the binary's absolute path.
bench_require() {
	local build=${2:-$bench_top/build}
	[ "$(id -u)" = 0 ] || bench_skip "must run as root ($1)"
	[ -c /dev/kvm ] || bench_skip "/dev/kvm missing"
	BENCH_SM=${SM_RUNTIME:-$build/sm-runtime}
	[ -x "$BENCH_SM" ] || bench_skip "no sm-runtime at $BENCH_SM (build it, pass BUILDDIR or set SM_RUNTIME)"
	BENCH_SM=$(cd "$(dirname "$BENCH_SM")" && pwd)/$(basename "$BENCH_SM")
	command -v jq >/dev/null || bench_skip "jq missing (apt-get install jq)"
	[ -x /bin/busybox ] || bench_skip "/bin/busybox missing (apt-get install busybox-static)"
}

# bench_bundle DIR MEM_MIB JQ-FILTER: the default busybox bundle in DIR for BENCH_SM, without a
# terminal, with MEM_MIB of guest RAM (annotation org.sm-runtime.vm.mem_mib), then JQ-FILTER (e.g.
# the process's args) applied to its config.json.
bench_bundle() {
	local dir=$1 mem=$2 filter=$3
	"$bench_top/scripts/make-bundle.sh" "$dir" "$BENCH_SM" >/dev/null
	jq --arg mem "$mem" "$filter"' | .process.terminal = false |
		.annotations["org.sm-runtime.vm.mem_mib"] = $mem' "$dir/config.json" >"$dir/config.json.new"
	mv "$dir/config.json.new" "$dir/config.json"
}

# bench_traps FUNCTION: FUNCTION runs once on exit, also after ^C (status 130) or SIGTERM (143).
# FUNCTION should start with `trap - EXIT INT TERM`.
bench_traps() {
	# shellcheck disable=SC2064 # the function name is fixed now
	trap "$1" EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# bench_host: "host KERNEL, HYPERVISOR, N cores" for the reports' header lines.
bench_host() {
	local vmm="hardware KVM"
	[ -d /sys/module/kvm_pvm ] && vmm="kvm_pvm (guest kernel code emulated)"
	echo "host $(uname -r), $vmm, $(nproc) cores"
}

# bench_secs T0 [DECIMALS]: seconds since T0 (microseconds, as ${EPOCHREALTIME/./}), 1 decimal.
bench_secs() {
	awk -v d=$((${EPOCHREALTIME/./} - $1)) -v p="${2:-1}" 'BEGIN {printf "%." p "f", d / 1e6}'
}
