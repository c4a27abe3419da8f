/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <linux/kvm.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/confine.h"

/* What the virtio-fs server needs to act as the guest's root on the shared files. */
static const cap_value_t kept_caps[] = {
	CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID, CAP_MKNOD, CAP_SETFCAP,
};

static bool is_kept(cap_value_t c)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(kept_caps); i++)
		if (kept_caps[i] == c)
			return true;
	return false;
}

int sm_confine_caps(sm_error_t *err)
{
	cap_t caps = cap_get_proc();
	cap_flag_value_t v = CAP_CLEAR;
	int r = 0;

	if (caps == NULL)
		return sm_error_set(err, errno, "read the VMM's capabilities");
	/* Without CAP_SETPCAP nothing can be dropped from the bounding set, and nothing needs it. */
	cap_get_flag(caps, CAP_SETPCAP, CAP_EFFECTIVE, &v);
	if (v == CAP_SET) {
		for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
			if (is_kept(c) || !CAP_IS_SUPPORTED(c))
				continue;
			if (cap_drop_bound(c) < 0) {
				r = sm_error_set(err, errno, "drop capability %d from the bounding set", c);
				goto out;
			}
		}
	}
	if (cap_reset_ambient() < 0 && errno != EINVAL) {
		r = sm_error_set(err, errno, "clear the ambient capabilities");
		goto out;
	}
	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
		cap_value_t one[1] = {c};
		if (is_kept(c))
			continue;
		cap_set_flag(caps, CAP_EFFECTIVE, 1, one, CAP_CLEAR);
		cap_set_flag(caps, CAP_PERMITTED, 1, one, CAP_CLEAR);
		cap_set_flag(caps, CAP_INHERITABLE, 1, one, CAP_CLEAR);
	}
	cap_clear_flag(caps, CAP_INHERITABLE);
	if (cap_set_proc(caps) < 0)
		r = sm_error_set(err, errno, "drop the VMM's capabilities");
out:
	cap_free(caps);
	return r;
}

/* System calls every VMM thread may make without argument checks. */
static const char *const allowed[] = {
	/* files and directories (the virtio-fs passthrough server, state files) */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
	"close", "close_range", "lseek", "fstat", "stat", "lstat", "newfstatat", "statx", "fstatfs", "statfs",
	"open", "openat", "openat2", "getdents64", "readlink", "readlinkat", "linkat", "symlinkat", "unlink",
	"unlinkat", "mkdir", "mkdirat", "rmdir", "mknodat", "rename", "renameat", "renameat2", "fchown",
	"fchownat", "fchmod", "fchmodat", "utimensat", "ftruncate", "fallocate", "fsync", "fdatasync", "syncfs",
	"copy_file_range", "getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr", "fsetxattr",
	"listxattr", "llistxattr", "flistxattr", "removexattr", "lremovexattr", "fremovexattr", "access",
	"faccessat", "faccessat2", "flock", "fcntl", "dup", "dup2", "dup3", "pipe2",
	/* memory: guest RAM, DAX mappings */
	"mmap", "munmap", "mremap", "mprotect", "madvise", "brk",
	/* libseccomp exports a container's filter through a memfd (runtime/agent-spec.c) */
	"memfd_create",
	/* threads and signals */
	"futex", "set_robust_list", "rseq", "gettid", "getpid", "getppid", "tgkill", "rt_sigaction",
	"rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait", "sigaltstack", "exit",
	"exit_group", "sched_yield", "sched_getaffinity", "sched_setaffinity", "getuid", "geteuid", "getgid",
	"getegid", "getrlimit", "prlimit64", "uname",
	/* events and time */
	"poll", "ppoll", "select", "pselect6", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"eventfd2", "signalfd4", "timerfd_create", "timerfd_settime", "timerfd_gettime", "nanosleep",
	"clock_nanosleep", "clock_gettime", "gettimeofday", "getrandom",
	/* Unix sockets (the socket family itself is checked below) */
	"bind", "listen", "accept", "accept4", "connect", "sendmsg", "recvmsg", "sendto", "recvfrom",
	"shutdown", "getsockopt", "setsockopt", "getsockname", "getpeername", "socketpair",
};

/* Non-KVM ioctls: terminals (console relay, window size) and fd flags. */
static const unsigned long allowed_ioctls[] = {
	TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, TIOCSWINSZ, FIONBIO, FIONREAD, FIOCLEX, FIONCLEX,
};

static void sigsys_handler(int sig, siginfo_t *si, void *uctx)
{
	char buf[160];
	char *name;
	int n;

	(void)sig;
	(void)uctx;
	/* Not async-signal-safe, but the process dies right after: a name beats a number. */
	name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, si->si_syscall);
	n = snprintf(buf, sizeof(buf), "sm-runtime: seccomp: forbidden system call %s (%d); killing the VMM\n",
		     name ? name : "?", si->si_syscall);
	if (n > 0)
		(void)!write(STDERR_FILENO, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	syscall(SYS_kill, getpid(), SIGKILL);
	/* The first process of a pid namespace (the monitor, runtime/jail.h) ignores its own SIGKILL. */
	_exit(128 + SIGSYS);
}

static int add_rules(scmp_filter_ctx ctx, sm_error_t *err)
{
	int r;

	for (size_t i = 0; i < SM_ARRAY_SIZE(allowed); i++) {
		int nr = seccomp_syscall_resolve_name(allowed[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture (e.g. open on arm64) */
		if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) < 0)
			return sm_error_set(err, -r, "seccomp rule for %s", allowed[i]);
	}
	/* Threads only: a new process could exec around the filter's intent. */
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	/* KVM's ioctls all have type 0xAE; the mask keeps direction and size bits out of the match. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00, KVMIO << 8));
	for (size_t i = 0; r == 0 && i < SM_ARRAY_SIZE(allowed_ioctls); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_EQ, allowed_ioctls[i]));
	/* The debug SIGSYS handler kills its own process. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	/* Thread names only. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
	if (r < 0)
		return sm_error_set(err, -r, "seccomp argument rules");
	return 0;
}

int sm_confine_seccomp(const struct sm_confine_opts *opts, sm_error_t *err)
{
	uint32_t def = opts->debug ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS;
	scmp_filter_ctx ctx;
	int r;

#if defined(__SANITIZE_ADDRESS__)
	/*
	 * LeakSanitizer checks at exit from a cloned tracer task that runs with every signal
	 * blocked; whatever it calls that the filter forbids kills it silently and the VMM then
	 * waits for it forever. Sanitizer builds test the code, the -Werror build the filter.
	 */
	(void)def, (void)ctx, (void)r, (void)opts, (void)err;
	return 0;
#endif

	if (opts->debug) {
		struct sigaction sa = {.sa_sigaction = sigsys_handler, .sa_flags = SA_SIGINFO};
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGSYS, &sa, NULL) < 0)
			return sm_error_set(err, errno, "SIGSYS handler");
	}
	ctx = seccomp_init(def);
	if (ctx == NULL)
		return sm_error_set(err, ENOMEM, "seccomp_init");
	if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0 ||
	    (r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1)) < 0) {
		seccomp_release(ctx);
		return sm_error_set(err, -r, "seccomp attributes");
	}
	if ((r = add_rules(ctx, err)) < 0) {
		seccomp_release(ctx);
		return r;
	}
	r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		return sm_error_set(err, -r, "load the VMM's seccomp filter");
	return 0;
}
