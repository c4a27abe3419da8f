/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_GUEST_AGENT_SPEC_H
#define SM_GUEST_AGENT_SPEC_H

/*
 * The agent's view of a CREATE or EXEC payload (common/proto-tags.h), decoded from the wire with
 * every field checked. Pure code (no system calls), so the host codec test decodes with it too.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct sm_agent_strv {
	char **v; /* NULL-terminated when n > 0 */
	size_t n;
};

struct sm_agent_rlimit {
	uint32_t resource;
	uint64_t soft, hard;
};

enum {
	SM_AGENT_CAP_BOUNDING,
	SM_AGENT_CAP_EFFECTIVE,
	SM_AGENT_CAP_PERMITTED,
	SM_AGENT_CAP_INHERITABLE,
	SM_AGENT_CAP_AMBIENT,
	SM_AGENT_CAP_NSETS
};

/* CPU masks of execCPUAffinity: bit n = CPU n; CPUs past SM_AGENT_MAX_CPUS are refused. */
#define SM_AGENT_MAX_CPUS 1024
#define SM_AGENT_CPU_WORDS (SM_AGENT_MAX_CPUS / 64)

struct sm_agent_cpus {
	bool set;
	uint64_t mask[SM_AGENT_CPU_WORDS];
};

/* process.scheduler: the fields of struct sched_attr (sched_setattr(2)). */
struct sm_agent_sched {
	bool set;
	uint32_t policy, priority;
	int32_t nice;
	uint64_t flags, runtime, deadline, period;
};

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

struct sm_agent_process {
	struct sm_agent_strv args, env;
	char *cwd;
	uint32_t uid, gid;
	uint32_t *gids;
	size_t n_gids;
	uint32_t umask; /* 022 unless given */
	bool terminal;
	bool terminal_hvc; /* with terminal: /dev/hvc0 is the terminal (no pty, no stdio relay) */
	uint32_t rows, cols;
	bool has_caps;
	uint64_t caps[SM_AGENT_CAP_NSETS];
	struct sm_agent_rlimit *rlimits;
	size_t n_rlimits;
	bool no_new_privs;
	bool has_oom_score_adj;
	int32_t oom_score_adj;
	uint8_t *seccomp_bpf; /* struct sm_sock_filter[], seccomp_len bytes (a multiple of 8) */
	size_t seccomp_len;
	uint32_t seccomp_flags;
	struct sm_agent_sched sched;
	bool has_ioprio;
	uint32_t ioprio;			       /* IOPRIO_PRIO_VALUE(class, level) */
	struct sm_agent_cpus cpus_initial, cpus_final; /* EXEC: execCPUAffinity */
};

struct sm_agent_mount {
	char *dest, *type, *source, *source_tag, *data;
	uint64_t flags;
	uint32_t propagation;
	uint64_t attr_set, attr_clr;
	bool dax;
};

struct sm_agent_device {
	char *path;
	uint32_t type; /* S_IFCHR, S_IFBLK or S_IFIFO */
	uint32_t major, minor, mode, uid, gid;
};

/* One line of uid_map/gid_map: size ids from container_id up map to host_id up (guest ids). */
struct sm_agent_idmap {
	uint32_t container_id, host_id, size;
};

/* The kernel's limit of lines in a uid_map or gid_map (Linux >= 4.15). */
#define SM_AGENT_IDMAP_MAX 340

struct sm_agent_container {
	char *rootfs_tag, *rootfs_path; /* exactly one is set */
	bool rootfs_dax, root_readonly, no_pivot;
	uint32_t rootfs_propagation; /* 0 = MS_SLAVE|MS_REC, as runc */
	struct sm_agent_mount *mounts;
	size_t n_mounts;
	char *hostname, *domainname;
	struct sm_agent_strv sysctls, masked_paths, readonly_paths;
	struct sm_agent_device *devices;
	size_t n_devices;
	uint32_t namespaces; /* CLONE_NEW* */
	/* With CLONE_NEWUSER: at least one line each, at most SM_AGENT_IDMAP_MAX. */
	struct sm_agent_idmap *uid_map, *gid_map;
	size_t n_uid_map, n_gid_map;
	uint64_t pids_limit;   /* 0 = none */
	uint64_t memory_limit; /* 0 = none; with pids_limit 0 too, no guest cgroup */
	/* With CLONE_NEWTIME: the new time namespace's offsets (linux.timeOffsets). */
	bool has_monotonic, has_boottime;
	int64_t monotonic_secs, boottime_secs;
	uint32_t monotonic_nsecs, boottime_nsecs;
};

/*
 * The process fields of process.scheduler, ioPriority and execCPUAffinity (spec-attrs.c), for
 * the decoder's field walk: decodes tag into p when it is one of them, ignores any other tag.
 * 0, or -1 with err naming the field.
 */
int sm_agent_process_attr_field(struct sm_agent_process *p, uint16_t tag, const uint8_t *val, uint32_t len,
				sm_error_t *err);

/* The same for the container's SM_TAG_TIME_OFFSET fields. */
int sm_agent_container_attr_field(struct sm_agent_container *c, uint16_t tag, const uint8_t *val,
				  uint32_t len, sm_error_t *err);

/*
 * Parse a CPU list ("0-3,7", the execCPUAffinity and cpuset syntax; "" is the empty set) into
 * out->mask and set out->set. -1 with err (naming the list) on bad syntax or a CPU past
 * SM_AGENT_MAX_CPUS.
 */
int sm_agent_cpulist_parse(const char *list, struct sm_agent_cpus *out, sm_error_t *err);

/*
 * Decode an EXEC payload (or the process part of a CREATE payload: container fields are ignored
 * here) into *p. On failure p is left freeable and err names the field ("SM_TAG_CWD: ...").
 */
int sm_agent_process_decode(const uint8_t *payload, size_t len, struct sm_agent_process *p, sm_error_t *err);

/* Decode the container fields of a CREATE payload into *c (the process part is skipped). */
int sm_agent_container_decode(const uint8_t *payload, size_t len, struct sm_agent_container *c,
			      sm_error_t *err);

/* Free what a decode filled in and reset the struct to zero. */
void sm_agent_process_free(struct sm_agent_process *p);
void sm_agent_container_free(struct sm_agent_container *c);

#endif
