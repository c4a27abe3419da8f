/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_OCI_CONFIG_H
#define SM_OCI_CONFIG_H

/*
 * An OCI runtime-spec 1.2 config.json (Linux platform) as C structs.
 *
 * Conventions: strings are NULL when the field is absent; optional sub-objects are pointers,
 * NULL when absent; arrays are (pointer, count) pairs; optional scalars use sm_oci_u64/i64/bool
 * with a `set` flag, because "absent" and "0" mean different things (e.g. memory.swap). A JSON
 * null is treated as absent, as runc (Go) does. Enumerated values are validated and stored as
 * numbers from oci/names.h; the original strings are kept where later passes want them.
 *
 * Every field the spec defines for Linux is parsed; keys it does not define (unknown keys, newer
 * spec fields, the solaris/windows/vm/zos sections) are ignored as the spec requires but their
 * JSON paths are listed in cfg->unknown, so the "honour or refuse" pass can reject them.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "oci/names.h"

/* The runtime-spec versions this parser implements (for `features` and `spec`). */
#define SM_OCI_VERSION_MIN "1.0.0"
#define SM_OCI_VERSION_MAX "1.2.0"

/* The largest config.json sm_oci_config_load() reads (big seccomp profiles are ~100 KiB). */
#define SM_OCI_CONFIG_MAX_SIZE (16u << 20)
/* Deepest JSON nesting accepted; the spec needs 6, this leaves room for unknown extensions. */
#define SM_OCI_JSON_MAX_DEPTH 64

struct sm_oci_strv {
	char **v;
	size_t n;
};

struct sm_oci_kv {
	char *key;
	char *value;
};

/* A JSON object of strings, in file order; keys are unique (duplicates are rejected). */
struct sm_oci_map {
	struct sm_oci_kv *v;
	size_t n;
};

struct sm_oci_u64 {
	bool set;
	uint64_t val;
};

struct sm_oci_i64 {
	bool set;
	int64_t val;
};

struct sm_oci_bool {
	bool set;
	bool val;
};

struct sm_oci_idmap {
	uint32_t container_id, host_id, size;
};

struct sm_oci_idmaps {
	struct sm_oci_idmap *v;
	size_t n;
};

struct sm_oci_root {
	char *path; /* required; relative paths are relative to the bundle */
	bool readonly;
};

struct sm_oci_mount {
	char *destination; /* always absolute: a (deprecated) relative one gets "/" prepended + a warning */
	char *type;	   /* NULL when absent */
	char *source;	   /* NULL when absent */
	struct sm_oci_strv options;
	struct sm_oci_idmaps uid_mappings, gid_mappings;
};

struct sm_oci_user {
	uint32_t uid, gid;
	struct sm_oci_u64 umask; /* <= 0777 */
	uint32_t *additional_gids;
	size_t n_additional_gids;
	char *username; /* Windows-only in the spec; kept so the honour pass can refuse it */
};

enum sm_oci_capset {
	SM_OCI_CAP_BOUNDING,
	SM_OCI_CAP_EFFECTIVE,
	SM_OCI_CAP_INHERITABLE,
	SM_OCI_CAP_PERMITTED,
	SM_OCI_CAP_AMBIENT,
	SM_OCI_CAP_NSETS
};

struct sm_oci_capabilities {
	bool present[SM_OCI_CAP_NSETS];		    /* the set was given (possibly empty) */
	struct sm_oci_strv names[SM_OCI_CAP_NSETS]; /* as written */
	uint64_t mask[SM_OCI_CAP_NSETS];	    /* bit n = capability n; known names only */
};

struct sm_oci_rlimit {
	char *type;   /* "RLIMIT_NOFILE" */
	int resource; /* RLIMIT_NOFILE */
	uint64_t soft, hard;
};

struct sm_oci_io_priority {
	int class_;   /* enum sm_oci_ioprio_class */
	int priority; /* 0..7 */
};

struct sm_oci_scheduler {
	int policy; /* enum sm_oci_sched_policy */
	struct sm_oci_i64 nice, priority;
	uint32_t flags; /* SCHED_FLAG_* bits */
	struct sm_oci_u64 runtime, deadline, period;
};

struct sm_oci_cpu_affinity {
	char *initial, *final; /* CPU lists like "0-3,7", syntax-checked */
};

struct sm_oci_process {
	bool terminal;
	bool has_console_size;
	uint32_t console_height, console_width;
	struct sm_oci_user user;
	struct sm_oci_strv args;
	char *command_line;	/* Windows-only in the spec */
	struct sm_oci_strv env; /* each "KEY=value" with a non-empty KEY */
	char *cwd;		/* absolute */
	struct sm_oci_capabilities *capabilities;
	struct sm_oci_rlimit *rlimits; /* types are unique */
	size_t n_rlimits;
	bool no_new_privileges;
	char *apparmor_profile;
	struct sm_oci_i64 oom_score_adj; /* -1000..1000 */
	char *selinux_label;
	struct sm_oci_io_priority *io_priority;
	struct sm_oci_scheduler *scheduler;
	struct sm_oci_cpu_affinity *exec_cpu_affinity;
};

struct sm_oci_hook {
	char *path; /* absolute */
	struct sm_oci_strv args, env;
	struct sm_oci_i64 timeout; /* seconds, > 0 */
};

struct sm_oci_hooklist {
	struct sm_oci_hook *v;
	size_t n;
};

struct sm_oci_namespace {
	int type;   /* enum sm_oci_ns_type; each type at most once */
	char *path; /* absolute, NULL = create a new one */
};

struct sm_oci_time_offset {
	char *clock; /* "monotonic" or "boottime" */
	int64_t secs;
	uint32_t nanosecs; /* < 1e9 */
};

struct sm_oci_device {
	char type;	      /* 'c', 'b', 'u' or 'p' */
	char *path;	      /* absolute */
	int64_t major, minor; /* required unless type 'p' */
	struct sm_oci_u64 file_mode, uid, gid;
};

struct sm_oci_device_rule {
	bool allow;
	char type;			/* 'a' (also when absent), 'c' or 'b' */
	struct sm_oci_i64 major, minor; /* unset or -1 = all */
	char *access;			/* subset of "rwm", NULL = all */
};

struct sm_oci_memory {
	struct sm_oci_i64 limit, reservation, swap, kernel, kernel_tcp; /* bytes, -1 = unlimited */
	struct sm_oci_u64 swappiness;					/* 0..100 */
	struct sm_oci_bool disable_oom_killer, use_hierarchy, check_before_update;
};

struct sm_oci_cpu {
	struct sm_oci_u64 shares, period, realtime_period, burst;
	struct sm_oci_i64 quota, realtime_runtime, idle;
	char *cpus, *mems;
};

struct sm_oci_blkio_weight_device {
	int64_t major, minor;
	struct sm_oci_u64 weight, leaf_weight; /* at least one set */
};

struct sm_oci_blkio_throttle {
	int64_t major, minor;
	uint64_t rate;
};

struct sm_oci_throttles {
	struct sm_oci_blkio_throttle *v;
	size_t n;
};

struct sm_oci_blockio {
	struct sm_oci_u64 weight, leaf_weight;
	struct sm_oci_blkio_weight_device *weight_device;
	size_t n_weight_device;
	struct sm_oci_throttles throttle_read_bps, throttle_write_bps, throttle_read_iops,
	    throttle_write_iops;
};

struct sm_oci_hugepage_limit {
	char *page_size;     /* "2MB" */
	uint64_t page_bytes; /* 2097152 */
	uint64_t limit;
};

struct sm_oci_net_priority {
	char *name;
	uint32_t priority;
};

struct sm_oci_network {
	struct sm_oci_u64 class_id;
	struct sm_oci_net_priority *priorities;
	size_t n_priorities;
};

struct sm_oci_rdma {
	char *device;
	struct sm_oci_u64 hca_handles, hca_objects; /* at least one set */
};

struct sm_oci_resources {
	struct sm_oci_device_rule *devices;
	size_t n_devices;
	struct sm_oci_memory *memory;
	struct sm_oci_cpu *cpu;
	struct sm_oci_blockio *block_io;
	struct sm_oci_hugepage_limit *hugepage_limits;
	size_t n_hugepage_limits;
	struct sm_oci_network *network;
	struct sm_oci_i64 pids_limit; /* set when "pids" is present */
	struct sm_oci_rdma *rdma;
	size_t n_rdma;
	struct sm_oci_map unified;
};

struct sm_oci_intel_rdt {
	char *clos_id, *l3_cache_schema, *mem_bw_schema;
	bool enable_cmt, enable_mbm;
};

struct sm_oci_seccomp_arg {
	uint32_t index; /* 0..5 */
	uint64_t value;
	struct sm_oci_u64 value_two;
	int op; /* enum sm_oci_seccomp_op */
};

struct sm_oci_syscall {
	struct sm_oci_strv names;    /* at least one */
	int action;		     /* enum sm_oci_seccomp_action */
	struct sm_oci_u64 errno_ret; /* only with SCMP_ACT_ERRNO / SCMP_ACT_TRACE */
	struct sm_oci_seccomp_arg *args;
	size_t n_args;
};

struct sm_oci_seccomp {
	int default_action; /* enum sm_oci_seccomp_action */
	struct sm_oci_u64 default_errno_ret;
	int *architectures; /* enum sm_oci_seccomp_arch */
	size_t n_architectures;
	uint32_t flags; /* SECCOMP_FILTER_FLAG_* bits */
	char *listener_path, *listener_metadata;
	struct sm_oci_syscall *syscalls;
	size_t n_syscalls;
};

struct sm_oci_personality {
	int domain;		  /* enum sm_oci_personality_domain */
	struct sm_oci_strv flags; /* the spec defines none, so any value is rejected */
};

/* The "linux" object ("linux" itself is a predefined macro under gnu11, hence linux_cfg). */
struct sm_oci_linux {
	struct sm_oci_namespace *namespaces;
	size_t n_namespaces;
	struct sm_oci_idmaps uid_mappings, gid_mappings;
	struct sm_oci_time_offset *time_offsets;
	size_t n_time_offsets;
	struct sm_oci_device *devices;
	size_t n_devices;
	char *cgroups_path;
	struct sm_oci_resources *resources;
	struct sm_oci_intel_rdt *intel_rdt;
	struct sm_oci_map sysctl;
	struct sm_oci_seccomp *seccomp;
	char *rootfs_propagation;			 /* one of sm_oci_propagation_names */
	struct sm_oci_strv masked_paths, readonly_paths; /* absolute */
	char *mount_label;
	struct sm_oci_personality *personality;
};

struct sm_oci_config {
	char *oci_version;	  /* SemVer, major version 1 */
	struct sm_oci_root *root; /* required on Linux */
	struct sm_oci_mount *mounts;
	size_t n_mounts;
	struct sm_oci_process *process;
	char *hostname, *domainname;
	bool has_hooks;
	struct sm_oci_hooklist hooks[SM_OCI_HOOK_NKINDS];
	struct sm_oci_map annotations;
	struct sm_oci_linux *linux_cfg;
	/* JSON paths ("linux.netDevices", "process.foo") of keys the spec does not define for Linux. */
	struct sm_oci_strv unknown;
	/* Accepted but worth telling the user (deprecated forms, capabilities this kernel list lacks). */
	struct sm_oci_strv warnings;
};

/* Flags for sm_oci_config_parse(). */
enum {
	/* `create`/`run`: the config must have a process (the spec makes it optional otherwise). */
	SM_OCI_PARSE_REQUIRE_PROCESS = 1 << 0,
};

/*
 * Parse and validate a config.json held in json[0..len) (need not be NUL-terminated). name is
 * the file name used in every error message: `config.json: process.args[2]: expected a string`.
 * On success *out is a new config to be freed with sm_oci_config_free().
 */
int sm_oci_config_parse(const char *json, size_t len, const char *name, unsigned flags,
			struct sm_oci_config **out, sm_error_t *err);

/* Read path (at most SM_OCI_CONFIG_MAX_SIZE bytes) and parse it, naming path in errors. */
int sm_oci_config_load(const char *path, unsigned flags, struct sm_oci_config **out, sm_error_t *err);

/* Free a config and everything it owns; NULL is allowed. */
void sm_oci_config_free(struct sm_oci_config *cfg);

/*
 * Parse a standalone process object (the `exec --process process.json` file) with the same
 * rules as config.json's "process". Unknown keys and warnings are appended to *unknown and
 * *warnings when those are not NULL (the caller frees them with sm_oci_strv_free()).
 */
int sm_oci_process_parse(const char *json, size_t len, const char *name, struct sm_oci_process **out,
			 struct sm_oci_strv *unknown, struct sm_oci_strv *warnings, sm_error_t *err);

/*
 * Parse a standalone linux.resources object (the `update --resources` file) with the same rules as
 * config.json's; errors and unknown keys are named by their config.json path
 * ("name: linux.resources.memory.limit: ..."). Free *out with sm_oci_resources_free().
 */
int sm_oci_resources_parse(const char *json, size_t len, const char *name, struct sm_oci_resources **out,
			   struct sm_oci_strv *unknown, struct sm_oci_strv *warnings, sm_error_t *err);

/* Free a resources object and everything it owns; NULL is allowed. */
void sm_oci_resources_free(struct sm_oci_resources *r);

/* Free a process object from sm_oci_process_parse(); NULL is allowed. */
void sm_oci_process_free(struct sm_oci_process *p);

/* Free the strings of a string vector and reset it to empty. */
void sm_oci_strv_free(struct sm_oci_strv *sv);

/* Free the entries of a map and reset it to empty. */
void sm_oci_map_free(struct sm_oci_map *m);

/* The value for key in m, or NULL. */
const char *sm_oci_map_get(const struct sm_oci_map *m, const char *key);

static inline void sm_oci_config_freep(struct sm_oci_config **p)
{
	sm_oci_config_free(*p);
}
#define cleanup_oci_config __attribute__((cleanup(sm_oci_config_freep)))

#endif
