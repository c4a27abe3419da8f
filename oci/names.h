/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_OCI_NAMES_H
#define SM_OCI_NAMES_H

/*
 * The closed vocabularies of the OCI runtime spec (capabilities, rlimits, seccomp actions,
 * namespaces, ...) as name -> number tables. The parser validates against them, features.c lists
 * them, and later passes map the numbers to kernel/libseccomp values. Each table ends with a
 * {NULL, 0} entry.
 */
#include "common/error.h"

struct sm_oci_name {
	const char *name;
	int value;
};

/* Namespace types, in the order of the table below. */
enum sm_oci_ns_type {
	SM_OCI_NS_PID,
	SM_OCI_NS_NETWORK,
	SM_OCI_NS_MOUNT,
	SM_OCI_NS_IPC,
	SM_OCI_NS_UTS,
	SM_OCI_NS_USER,
	SM_OCI_NS_CGROUP,
	SM_OCI_NS_TIME,
	SM_OCI_NS_NTYPES
};

/* Lifecycle hooks, in the order the spec lists them. */
enum sm_oci_hook_kind {
	SM_OCI_HOOK_PRESTART,
	SM_OCI_HOOK_CREATE_RUNTIME,
	SM_OCI_HOOK_CREATE_CONTAINER,
	SM_OCI_HOOK_START_CONTAINER,
	SM_OCI_HOOK_POSTSTART,
	SM_OCI_HOOK_POSTSTOP,
	SM_OCI_HOOK_NKINDS
};

enum sm_oci_seccomp_action {
	SM_OCI_SCMP_ACT_KILL,
	SM_OCI_SCMP_ACT_KILL_PROCESS,
	SM_OCI_SCMP_ACT_KILL_THREAD,
	SM_OCI_SCMP_ACT_TRAP,
	SM_OCI_SCMP_ACT_ERRNO,
	SM_OCI_SCMP_ACT_TRACE,
	SM_OCI_SCMP_ACT_ALLOW,
	SM_OCI_SCMP_ACT_LOG,
	SM_OCI_SCMP_ACT_NOTIFY
};

enum sm_oci_seccomp_op {
	SM_OCI_SCMP_CMP_NE,
	SM_OCI_SCMP_CMP_LT,
	SM_OCI_SCMP_CMP_LE,
	SM_OCI_SCMP_CMP_EQ,
	SM_OCI_SCMP_CMP_GE,
	SM_OCI_SCMP_CMP_GT,
	SM_OCI_SCMP_CMP_MASKED_EQ
};

enum sm_oci_seccomp_arch {
	SM_OCI_SCMP_ARCH_X86,
	SM_OCI_SCMP_ARCH_X86_64,
	SM_OCI_SCMP_ARCH_X32,
	SM_OCI_SCMP_ARCH_ARM,
	SM_OCI_SCMP_ARCH_AARCH64,
	SM_OCI_SCMP_ARCH_MIPS,
	SM_OCI_SCMP_ARCH_MIPS64,
	SM_OCI_SCMP_ARCH_MIPS64N32,
	SM_OCI_SCMP_ARCH_MIPSEL,
	SM_OCI_SCMP_ARCH_MIPSEL64,
	SM_OCI_SCMP_ARCH_MIPSEL64N32,
	SM_OCI_SCMP_ARCH_PPC,
	SM_OCI_SCMP_ARCH_PPC64,
	SM_OCI_SCMP_ARCH_PPC64LE,
	SM_OCI_SCMP_ARCH_S390,
	SM_OCI_SCMP_ARCH_S390X,
	SM_OCI_SCMP_ARCH_PARISC,
	SM_OCI_SCMP_ARCH_PARISC64,
	SM_OCI_SCMP_ARCH_RISCV64
};

/* Scheduler policies: the values are the kernel's SCHED_* numbers (SCHED_ISO is reserved, unused). */
enum sm_oci_sched_policy {
	SM_OCI_SCHED_OTHER = 0,
	SM_OCI_SCHED_FIFO = 1,
	SM_OCI_SCHED_RR = 2,
	SM_OCI_SCHED_BATCH = 3,
	SM_OCI_SCHED_ISO = 4,
	SM_OCI_SCHED_IDLE = 5,
	SM_OCI_SCHED_DEADLINE = 6
};

/* I/O priority classes: the values are the kernel's IOPRIO_CLASS_* numbers. */
enum sm_oci_ioprio_class {
	SM_OCI_IOPRIO_CLASS_RT = 1,
	SM_OCI_IOPRIO_CLASS_BE = 2,
	SM_OCI_IOPRIO_CLASS_IDLE = 3
};

enum sm_oci_personality_domain { SM_OCI_PER_LINUX, SM_OCI_PER_LINUX32 };

/* Capabilities: value = capability number (CAP_CHOWN = 0 ... CAP_CHECKPOINT_RESTORE = 40). */
extern const struct sm_oci_name sm_oci_capability_names[];
/* process.rlimits[].type: value = RLIMIT_* resource number. */
extern const struct sm_oci_name sm_oci_rlimit_names[];
/* linux.namespaces[].type: value = enum sm_oci_ns_type. */
extern const struct sm_oci_name sm_oci_namespace_names[];
/* hooks keys: value = enum sm_oci_hook_kind. */
extern const struct sm_oci_name sm_oci_hook_names[];
extern const struct sm_oci_name sm_oci_seccomp_action_names[];
extern const struct sm_oci_name sm_oci_seccomp_op_names[];
extern const struct sm_oci_name sm_oci_seccomp_arch_names[];
/* linux.seccomp.flags: value = the kernel's SECCOMP_FILTER_FLAG_* bit. */
extern const struct sm_oci_name sm_oci_seccomp_flag_names[];
extern const struct sm_oci_name sm_oci_sched_policy_names[];
/* process.scheduler.flags: value = the kernel's SCHED_FLAG_* bit. */
extern const struct sm_oci_name sm_oci_sched_flag_names[];
extern const struct sm_oci_name sm_oci_ioprio_class_names[];
extern const struct sm_oci_name sm_oci_personality_domain_names[];
/* linux.rootfsPropagation values (value unused, 0). */
extern const struct sm_oci_name sm_oci_propagation_names[];
/* Signal names without the SIG prefix: value = signal number. */
extern const struct sm_oci_name sm_oci_signal_names[];

/* Find name in table: 0 and *value on success, -1 when the name is not in it. */
int sm_oci_name_lookup(const struct sm_oci_name *table, const char *name, int *value);

/* The name of value in table, or NULL when no entry has it. */
const char *sm_oci_name_of(const struct sm_oci_name *table, int value);

/* Number of entries in table (not counting the terminator). */
size_t sm_oci_name_count(const struct sm_oci_name *table);

/*
 * A malloc'd NULL-terminated array of the table's names (the strings are the table's own, only
 * the array is to be freed), e.g. to describe "everything" in sm_oci_features_json().
 */
const char **sm_oci_name_strings(const struct sm_oci_name *table);

/*
 * Parse a signal the way `runc kill` accepts it: a number ("9"), a name with or without the SIG
 * prefix in any case ("KILL", "sigterm"), or a real-time signal ("SIGRTMIN+3", "RTMAX-1").
 */
int sm_oci_signal_parse(const char *s, int *signo, sm_error_t *err);

#endif
