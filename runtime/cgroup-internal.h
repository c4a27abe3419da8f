/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_CGROUP_INTERNAL_H
#define SM_RUNTIME_CGROUP_INTERNAL_H

/* Shared by runtime/cgroup*.c and the unit test: the handle and the pure path logic. */
#include <stdarg.h>

#include "runtime/cgroup.h"

#define SM_CGROUP_ROOT "/sys/fs/cgroup"
#define SM_CGROUP_UNIFIED SM_CGROUP_ROOT "/unified"
/* Enough for every v1 controller plus name=systemd and the unified mount. */
#define SM_CGROUP_MAX_HIER 20

struct sm_cgroup_hier {
	char *mount; /* "/sys/fs/cgroup/memory" */
	char *ctrls; /* "memory", "cpu,cpuacct", "name=systemd"; "" for cgroup2 */
	char *rel;   /* "/sm-runtime/id", relative to mount, never "/" */
	char *dir;   /* mount + rel */
	bool v2;
};

struct sm_cgroup {
	enum sm_cgroup_mode mode;
	struct sm_cgroup_hier h[SM_CGROUP_MAX_HIER];
	size_t n;
	struct sm_oci_strv warnings;
	/* The VM the last apply() mapped resources for (create's), kept by describe()/load() for update. */
	struct sm_cgroup_vm vm;
	bool has_vm;
};

/*
 * Normalise a cgroup path like runc's CleanPath: collapse "//", "." and "..", never climbing
 * above the start; keeps it absolute or relative as given. Returns malloc'd text ("" for empty).
 */
char *sm_cgroup_clean_path(const char *p);

/*
 * The path of the container's cgroup inside one hierarchy: inner (already cleaned) when absolute,
 * else joined to own (the caller's cgroup there; its parent when v2). Malloc'd, absolute.
 */
char *sm_cgroup_join(const char *own, bool v2, const char *inner);

/*
 * Turn a systemd "slice:prefix:name" cgroupsPath (empty: system.slice:SM_CGROUP_SYSTEMD_PREFIX:id)
 * into the cgroupfs path runc's systemd driver ends up with ("/system.slice/prefix-name.scope";
 * "a-b.slice" expands to "/a.slice/a-b.slice"; a name ending in ".slice" is used as is).
 */
int sm_cgroup_systemd_path(const char *cgroups_path, const char *id, char **out, sm_error_t *err);

/* runc's conversion of cgroup v1 cpu.shares [2, 262144] to cgroup v2 cpu.weight [1, 10000]. */
uint64_t sm_cgroup_shares_to_weight(uint64_t shares);

/* The hierarchy whose controllers include ctrl ("" = the cgroup2 one), or NULL. */
struct sm_cgroup_hier *sm_cgroup_find(const struct sm_cgroup *cg, const char *ctrl);

/* Append a formatted warning to cg->warnings. */
void sm_cgroup_warn(struct sm_cgroup *cg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Write text to dir/file (no O_CREAT, no truncation semantics beyond what cgroupfs does). Returns 0 or
 * -errno. */
int sm_cgroup_write(const char *dir, const char *file, const char *text);

/* Read dir/file into a malloc'd NUL-terminated string with the trailing newline removed; 0 or -errno. */
int sm_cgroup_read(const char *dir, const char *file, char **out);

#endif
