# Helpers of tests/cli/faults.bats: fault injection (kill -9, a syscall injected with ptrace,
# full and read-only state roots) and the "nothing left behind" check every fault ends with.
load lifecycle-helpers

faults_setup() {
	lifecycle_setup
	# Container ids are unique per run: the default host cgroup is /sm-runtime/<id> whatever the
	# --root, and other suites may run containers on this host at the same time.
	PFX="flt$$"
	ROOT0=$ROOT # a test may point ROOT at a mount of its own
	MOUNTS=()
	T=$(mktemp -d)
}

faults_teardown() {
	local id m
	for id in $(ls "$ROOT" 2>/dev/null); do
		"$SM" --root "$ROOT" delete --force "$id" >/dev/null 2>&1 || true
	done
	for m in "${MOUNTS[@]}"; do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf "$ROOT0" "$B" "$T"
}

# mount_tmpfs DIR OPTIONS: a tmpfs unmounted by the teardown.
mount_tmpfs() {
	mkdir -p "$1"
	mount -t tmpfs -o "$2" tmpfs "$1"
	MOUNTS+=("$1")
}

# The monitor's pid as state.json recorded it (also when `state` says 0 for a stopped container).
monitor_pid() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$ROOT/$1/state.json"
}

# The container's private cgroup description (runtime/cgroup.h), saved before the state goes.
cgroup_desc() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["smRuntime"].get("cgroup") or "")' \
		"$ROOT/$1/state.json"
}

# A process that is gone or a zombie (a zombie holds no thread, fd, mount or cgroup).
pid_gone() {
	local st
	[ -r "/proc/$1/stat" ] || return 0
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

# assert_no_trace ID [PID] [CGROUP-DESCRIPTION]: nothing of container ID is left: no state
# directory, no live monitor (by pid; its threads go with it), no process whose cwd or command
# line is under the state directory or this test's --root, no mount under the state directory or
# the bundle, no Unix socket bound under the state directory, no cgroup directory (from the saved
# description, and the default /sm-runtime/ID in every cgroup hierarchy). Prints what is left.
assert_no_trace() {
	local id=$1 pid=${2:-} desc=${3:-}
	local dir="$ROOT/$id"
	local left=()
	[ ! -e "$dir" ] || left+=("state directory $dir: $(ls -A "$dir" | tr '\n' ' ')")
	if [ -n "$pid" ] && ! pid_gone "$pid"; then
		left+=("monitor pid $pid: $(ls "/proc/$pid/task" 2>/dev/null | wc -l) threads")
	fi
	# In python with the paths in the environment: a scanner with them in its argv finds itself.
	local procs
	procs=$(FLT_DIR="$dir" FLT_ROOT="$ROOT" python3 -c '
import os
d, root, me = os.environ["FLT_DIR"], os.environ["FLT_ROOT"], os.getpid()
for p in os.listdir("/proc"):
    if not p.isdigit() or int(p) in (me, os.getppid()):
        continue
    try:
        cmd = open("/proc/%s/cmdline" % p, "rb").read().replace(b"\0", b" ").decode(errors="replace")
        cwd = os.readlink("/proc/%s/cwd" % p)
    except OSError:
        continue
    if cwd == d or cwd.startswith(d + "/") or cwd.startswith(d + " (deleted)") or \
       (" --root " + root + " ") in cmd:
        print("pid %s cwd %s: %s" % (p, cwd, cmd))
')
	[ -z "$procs" ] || left+=("processes: $procs")
	local mnt
	mnt=$(awk -v d="$dir" -v b="$B" 'index($4, d) == 1 || index($5, d) == 1 || index($5, b) == 1' \
		/proc/self/mountinfo)
	[ -z "$mnt" ] || left+=("mounts: $mnt")
	local socks
	socks=$(awk -v d="$dir/" 'index($8, d) == 1' /proc/net/unix)
	[ -z "$socks" ] || left+=("sockets: $socks")
	local cg
	for cg in $(cgroup_dirs "$id" "$desc"); do
		[ ! -d "$cg" ] || left+=("cgroup $cg: $(cat "$cg/cgroup.procs" 2>/dev/null | tr '\n' ' ')")
	done
	if [ ${#left[@]} -gt 0 ]; then
		printf 'left behind by %s: %s\n' "$id" "${left[@]}" >&2
		return 1
	fi
}

# cgroup_dirs ID [DESCRIPTION]: the container's cgroup directories: those of the description
# ("<v> <controller> <mount> <path>" lines after the layout line) and /sm-runtime/ID under every
# mounted cgroup hierarchy.
cgroup_dirs() {
	local id=$1 desc=${2:-}
	if [ -n "$desc" ]; then
		printf '%s\n' "$desc" | awk 'NF == 4 { print $3 $4 }'
	fi
	awk -v id="$id" '$3 == "cgroup" || $3 == "cgroup2" { print $2 "/sm-runtime/" id }' /proc/self/mounts
}

# wait_gone SECONDS PID
wait_pid_gone() {
	wait_for "$1" pid_gone "$2"
}

# A created container ID running the bundle's process; prints nothing, fails with create's error.
create_ctr() {
	"${SMR[@]}" create --bundle "$B" "$1" </dev/null >"$T/$1.out" 2>"$T/$1.err" || {
		cat "$T/$1.err" >&2
		return 1
	}
}

# A thread of PID blocked in ioctl (system call 16): a vCPU in KVM_RUN. KVM's own kernel workers
# ("kvm-*") are listed among the process's tasks too but cannot be traced.
vcpu_thread() {
	local t
	for t in /proc/$1/task/*; do
		case "$(cat "$t/comm")" in kvm* | virtiofs*) continue ;; esac
		[ "$(cut -d' ' -f1 "$t/syscall" 2>/dev/null)" = 16 ] && { basename "$t"; return 0; }
	done
	return 1
}

# inject_syscall TID NR [ARGS...]: make thread TID of a running process issue system call NR with
# ARGS, as if its own code did: ptrace interrupts it in a blocked system call, points it back at
# that `syscall` instruction with NR and ARGS in the registers, and detaches (x86-64 only). The
# VMM needs no test hook: its seccomp filter judges the call like any other of its own.
inject_syscall() {
	python3 - "$@" <<'PY'
import ctypes, os, sys
PTRACE_PEEKTEXT, PTRACE_GETREGS, PTRACE_SETREGS, PTRACE_DETACH = 1, 12, 13, 17
PTRACE_SEIZE, PTRACE_INTERRUPT, WALL = 0x4206, 0x4207, 0x40000000
class Regs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_ulonglong) for n in (
        "r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags rsp ss "
        "fs_base gs_base ds es fs gs").split()]
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
def pt(req, tid, addr=0, data=0):
    ctypes.set_errno(0)
    r = libc.ptrace(req, tid, ctypes.c_void_p(addr), ctypes.c_void_p(data))
    if r == -1 and ctypes.get_errno():
        raise OSError(ctypes.get_errno(), "ptrace request %d on %d" % (req, tid))
    return r
tid, nr = int(sys.argv[1]), int(sys.argv[2])
args = [int(a, 0) for a in sys.argv[3:]] + [0] * 6
pt(PTRACE_SEIZE, tid)
pt(PTRACE_INTERRUPT, tid)
os.waitpid(tid, WALL)
regs = Regs()
pt(PTRACE_GETREGS, tid, 0, ctypes.addressof(regs))
if pt(PTRACE_PEEKTEXT, tid, regs.rip - 2) & 0xffff != 0x050f:
    pt(PTRACE_DETACH, tid)
    sys.exit("thread %d did not stop after a syscall instruction (rip %#x)" % (tid, regs.rip))
regs.rip -= 2
regs.orig_rax = 2**64 - 1  # no system call restart on the way out of the stop
regs.rax = nr
regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9 = args[:6]
pt(PTRACE_SETREGS, tid, 0, ctypes.addressof(regs))
pt(PTRACE_DETACH, tid)
PY
}
