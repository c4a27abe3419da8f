/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include "common/util.h"
#include "oci/names.h"

/* Our own numbering so the oci layer does not depend on libcap headers; these are kernel ABI. */
const struct sm_oci_name sm_oci_capability_names[] = {
    {"CAP_CHOWN", 0},
    {"CAP_DAC_OVERRIDE", 1},
    {"CAP_DAC_READ_SEARCH", 2},
    {"CAP_FOWNER", 3},
    {"CAP_FSETID", 4},
    {"CAP_KILL", 5},
    {"CAP_SETGID", 6},
    {"CAP_SETUID", 7},
    {"CAP_SETPCAP", 8},
    {"CAP_LINUX_IMMUTABLE", 9},
    {"CAP_NET_BIND_SERVICE", 10},
    {"CAP_NET_BROADCAST", 11},
    {"CAP_NET_ADMIN", 12},
    {"CAP_NET_RAW", 13},
    {"CAP_IPC_LOCK", 14},
    {"CAP_IPC_OWNER", 15},
    {"CAP_SYS_MODULE", 16},
    {"CAP_SYS_RAWIO", 17},
    {"CAP_SYS_CHROOT", 18},
    {"CAP_SYS_PTRACE", 19},
    {"CAP_SYS_PACCT", 20},
    {"CAP_SYS_ADMIN", 21},
    {"CAP_SYS_BOOT", 22},
    {"CAP_SYS_NICE", 23},
    {"CAP_SYS_RESOURCE", 24},
    {"CAP_SYS_TIME", 25},
    {"CAP_SYS_TTY_CONFIG", 26},
    {"CAP_MKNOD", 27},
    {"CAP_LEASE", 28},
    {"CAP_AUDIT_WRITE", 29},
    {"CAP_AUDIT_CONTROL", 30},
    {"CAP_SETFCAP", 31},
    {"CAP_MAC_OVERRIDE", 32},
    {"CAP_MAC_ADMIN", 33},
    {"CAP_SYSLOG", 34},
    {"CAP_WAKE_ALARM", 35},
    {"CAP_BLOCK_SUSPEND", 36},
    {"CAP_AUDIT_READ", 37},
    {"CAP_PERFMON", 38},
    {"CAP_BPF", 39},
    {"CAP_CHECKPOINT_RESTORE", 40},
    {NULL, 0},
};

const struct sm_oci_name sm_oci_rlimit_names[] = {
    {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},
    {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
    {NULL, 0},
};

const struct sm_oci_name sm_oci_namespace_names[] = {
    {"pid", SM_OCI_NS_PID},	  {"network", SM_OCI_NS_NETWORK}, {"mount", SM_OCI_NS_MOUNT},
    {"ipc", SM_OCI_NS_IPC},	  {"uts", SM_OCI_NS_UTS},	  {"user", SM_OCI_NS_USER},
    {"cgroup", SM_OCI_NS_CGROUP}, {"time", SM_OCI_NS_TIME},	  {NULL, 0},
};

const struct sm_oci_name sm_oci_hook_names[] = {
    {"prestart", SM_OCI_HOOK_PRESTART},
    {"createRuntime", SM_OCI_HOOK_CREATE_RUNTIME},
    {"createContainer", SM_OCI_HOOK_CREATE_CONTAINER},
    {"startContainer", SM_OCI_HOOK_START_CONTAINER},
    {"poststart", SM_OCI_HOOK_POSTSTART},
    {"poststop", SM_OCI_HOOK_POSTSTOP},
    {NULL, 0},
};

const struct sm_oci_name sm_oci_seccomp_action_names[] = {
    {"SCMP_ACT_KILL", SM_OCI_SCMP_ACT_KILL},
    {"SCMP_ACT_KILL_PROCESS", SM_OCI_SCMP_ACT_KILL_PROCESS},
    {"SCMP_ACT_KILL_THREAD", SM_OCI_SCMP_ACT_KILL_THREAD},
    {"SCMP_ACT_TRAP", SM_OCI_SCMP_ACT_TRAP},
    {"SCMP_ACT_ERRNO", SM_OCI_SCMP_ACT_ERRNO},
    {"SCMP_ACT_TRACE", SM_OCI_SCMP_ACT_TRACE},
    {"SCMP_ACT_ALLOW", SM_OCI_SCMP_ACT_ALLOW},
    {"SCMP_ACT_LOG", SM_OCI_SCMP_ACT_LOG},
    {"SCMP_ACT_NOTIFY", SM_OCI_SCMP_ACT_NOTIFY},
    {NULL, 0},
};

const struct sm_oci_name sm_oci_seccomp_op_names[] = {
    {"SCMP_CMP_NE", SM_OCI_SCMP_CMP_NE},
    {"SCMP_CMP_LT", SM_OCI_SCMP_CMP_LT},
    {"SCMP_CMP_LE", SM_OCI_SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SM_OCI_SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SM_OCI_SCMP_CMP_GE},
    {"SCMP_CMP_GT", SM_OCI_SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SM_OCI_SCMP_CMP_MASKED_EQ},
    {NULL, 0},
};

const struct sm_oci_name sm_oci_seccomp_arch_names[] = {
    {"SCMP_ARCH_X86", SM_OCI_SCMP_ARCH_X86},
    {"SCMP_ARCH_X86_64", SM_OCI_SCMP_ARCH_X86_64},
    {"SCMP_ARCH_X32", SM_OCI_SCMP_ARCH_X32},
    {"SCMP_ARCH_ARM", SM_OCI_SCMP_ARCH_ARM},
    {"SCMP_ARCH_AARCH64", SM_OCI_SCMP_ARCH_AARCH64},
    {"SCMP_ARCH_MIPS", SM_OCI_SCMP_ARCH_MIPS},
    {"SCMP_ARCH_MIPS64", SM_OCI_SCMP_ARCH_MIPS64},
    {"SCMP_ARCH_MIPS64N32", SM_OCI_SCMP_ARCH_MIPS64N32},
    {"SCMP_ARCH_MIPSEL", SM_OCI_SCMP_ARCH_MIPSEL},
    {"SCMP_ARCH_MIPSEL64", SM_OCI_SCMP_ARCH_MIPSEL64},
    {"SCMP_ARCH_MIPSEL64N32", SM_OCI_SCMP_ARCH_MIPSEL64N32},
    {"SCMP_ARCH_PPC", SM_OCI_SCMP_ARCH_PPC},
    {"SCMP_ARCH_PPC64", SM_OCI_SCMP_ARCH_PPC64},
    {"SCMP_ARCH_PPC64LE", SM_OCI_SCMP_ARCH_PPC64LE},
    {"SCMP_ARCH_S390", SM_OCI_SCMP_ARCH_S390},
    {"SCMP_ARCH_S390X", SM_OCI_SCMP_ARCH_S390X},
    {"SCMP_ARCH_PARISC", SM_OCI_SCMP_ARCH_PARISC},
    {"SCMP_ARCH_PARISC64", SM_OCI_SCMP_ARCH_PARISC64},
    {"SCMP_ARCH_RISCV64", SM_OCI_SCMP_ARCH_RISCV64},
    {NULL, 0},
};

const struct sm_oci_name sm_oci_seccomp_flag_names[] = {
    {"SECCOMP_FILTER_FLAG_TSYNC", 1 << 0},
    {"SECCOMP_FILTER_FLAG_LOG", 1 << 1},
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", 1 << 2},
    {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 1 << 5},
    {NULL, 0},
};

const struct sm_oci_name sm_oci_sched_policy_names[] = {
    {"SCHED_OTHER", SM_OCI_SCHED_OTHER},
    {"SCHED_FIFO", SM_OCI_SCHED_FIFO},
    {"SCHED_RR", SM_OCI_SCHED_RR},
    {"SCHED_BATCH", SM_OCI_SCHED_BATCH},
    {"SCHED_ISO", SM_OCI_SCHED_ISO},
    {"SCHED_IDLE", SM_OCI_SCHED_IDLE},
    {"SCHED_DEADLINE", SM_OCI_SCHED_DEADLINE},
    {NULL, 0},
};

const struct sm_oci_name sm_oci_sched_flag_names[] = {
    {"SCHED_FLAG_RESET_ON_FORK", 0x01},	 {"SCHED_FLAG_RECLAIM", 0x02},
    {"SCHED_FLAG_DL_OVERRUN", 0x04},	 {"SCHED_FLAG_KEEP_POLICY", 0x08},
    {"SCHED_FLAG_KEEP_PARAMS", 0x10},	 {"SCHED_FLAG_UTIL_CLAMP_MIN", 0x20},
    {"SCHED_FLAG_UTIL_CLAMP_MAX", 0x40}, {NULL, 0},
};

const struct sm_oci_name sm_oci_ioprio_class_names[] = {
    {"IOPRIO_CLASS_RT", SM_OCI_IOPRIO_CLASS_RT},
    {"IOPRIO_CLASS_BE", SM_OCI_IOPRIO_CLASS_BE},
    {"IOPRIO_CLASS_IDLE", SM_OCI_IOPRIO_CLASS_IDLE},
    {NULL, 0},
};

const struct sm_oci_name sm_oci_personality_domain_names[] = {
    {"LINUX", SM_OCI_PER_LINUX},
    {"LINUX32", SM_OCI_PER_LINUX32},
    {NULL, 0},
};

/* The spec lists the first four; runc also accepts the recursive forms, so drop-in configs use them. */
const struct sm_oci_name sm_oci_propagation_names[] = {
    {"shared", 0}, {"slave", 0},    {"private", 0},	{"unbindable", 0}, {"rshared", 0},
    {"rslave", 0}, {"rprivate", 0}, {"runbindable", 0}, {NULL, 0},
};

const struct sm_oci_name sm_oci_signal_names[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},	      {"QUIT", SIGQUIT},     {"ILL", SIGILL},	{"TRAP", SIGTRAP},
    {"ABRT", SIGABRT}, {"IOT", SIGIOT},	      {"BUS", SIGBUS},	     {"FPE", SIGFPE},	{"KILL", SIGKILL},
    {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},     {"USR2", SIGUSR2},     {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},
    {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},     {"CLD", SIGCHLD},	{"CONT", SIGCONT},
    {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU}, {"URG", SIGURG},
    {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},     {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
    {"IO", SIGIO},     {"POLL", SIGPOLL},     {"PWR", SIGPWR},	     {"SYS", SIGSYS},	{NULL, 0},
};

int sm_oci_name_lookup(const struct sm_oci_name *table, const char *name, int *value)
{
	for (; table->name != NULL; table++) {
		if (strcmp(table->name, name) == 0) {
			*value = table->value;
			return 0;
		}
	}
	return -1;
}

const char *sm_oci_name_of(const struct sm_oci_name *table, int value)
{
	for (; table->name != NULL; table++)
		if (table->value == value)
			return table->name;
	return NULL;
}

size_t sm_oci_name_count(const struct sm_oci_name *table)
{
	size_t n = 0;
	while (table[n].name != NULL)
		n++;
	return n;
}

const char **sm_oci_name_strings(const struct sm_oci_name *table)
{
	size_t n = sm_oci_name_count(table);
	const char **v = sm_xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = table[i].name;
	return v;
}

/* "RTMIN", "RTMIN+3", "RTMAX-2": the real-time range is only known at run time (glibc reserves some). */
static int parse_rt_signal(const char *s, int *signo)
{
	int base, sign, off = 0;

	if (strncmp(s, "RTMIN", 5) == 0) {
		base = SIGRTMIN;
		sign = 1;
	} else if (strncmp(s, "RTMAX", 5) == 0) {
		base = SIGRTMAX;
		sign = -1;
	} else {
		return -1;
	}
	s += 5;
	if (*s != '\0') {
		char *end;
		long v;
		if (*s != (sign > 0 ? '+' : '-') || !isdigit((unsigned char)s[1]))
			return -1;
		errno = 0;
		v = strtol(s + 1, &end, 10);
		if (errno != 0 || *end != '\0' || v > SIGRTMAX - SIGRTMIN)
			return -1;
		off = (int)v;
	}
	*signo = base + sign * off;
	return 0;
}

int sm_oci_signal_parse(const char *s, int *signo, sm_error_t *err)
{
	char up[32];
	const char *name;
	size_t i;

	if (*s != '\0' && strspn(s, "0123456789") == strlen(s)) {
		char *end;
		long v;
		errno = 0;
		v = strtol(s, &end, 10);
		if (errno != 0 || v < 1 || v > SIGRTMAX)
			return sm_error_set(err, 0, "invalid signal \"%.32s\": out of range [1, %d]", s,
					    SIGRTMAX);
		*signo = (int)v;
		return 0;
	}
	for (i = 0; s[i] != '\0' && i + 1 < sizeof(up); i++)
		up[i] = (char)toupper((unsigned char)s[i]);
	up[i] = '\0';
	if (s[i] != '\0')
		return sm_error_set(err, 0, "invalid signal \"%.32s...\": name too long", s);
	name = strncmp(up, "SIG", 3) == 0 ? up + 3 : up;
	if (sm_oci_name_lookup(sm_oci_signal_names, name, signo) == 0 || parse_rt_signal(name, signo) == 0)
		return 0;
	return sm_error_set(err, 0, "invalid signal \"%s\": unknown signal name", s);
}
