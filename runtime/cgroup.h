/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_CGROUP_H
#define SM_RUNTIME_CGROUP_H

/*
 * Host cgroups for a container's VMM process (the "monitor") and its exec proxies, on cgroup v1,
 * cgroup v2 and the hybrid layout (v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified
 * that only tracks processes). See docs/design/cgroups.md for the path rules and for how
 * linux.resources maps onto a microVM.
 *
 * Typical use: create: open -> create -> apply -> enter(monitor pid) and store describe() in
 * state.json; delete: load(description) -> destroy; update: load -> apply.
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "oci/config.h"

/* The cgroup used when config.json has no linux.cgroupsPath: /sm-runtime/<id> in every hierarchy. */
#define SM_CGROUP_DEFAULT_PARENT "/sm-runtime"
/* The systemd unit prefix used with --systemd-cgroup and no cgroupsPath: system.slice:sm-runtime:<id>. */
#define SM_CGROUP_SYSTEMD_PREFIX "sm-runtime"
/*
 * Host memory the VMM needs beyond guest RAM (its own heap, stacks, page tables). Measured with
 * 32 and 64 MiB guests restored from a template: 6.2-6.4 MiB anonymous memory for the whole
 * process (guest pages copied on write included), 2.5-4.8 MiB rss charged to its cgroup; the rest
 * of the charge is host page cache (template image, files read through virtio-fs), which the
 * kernel reclaims before it OOM-kills. So 16 MiB keeps a margin of more than 2x.
 */
#define SM_CGROUP_VMM_OVERHEAD_DEFAULT (16ull << 20)
/*
 * The smallest guest RAM that is derived from a memory limit: the guest kernel, init, the agent and
 * a busybox container work in 32 MiB (MemTotal 21 MiB, MemAvailable 11.6 MiB after the agent
 * started); 24 MiB would leave the container about 3 MiB.
 */
#define SM_CGROUP_MIN_GUEST_MIB 32u
/* Guest RAM derived from a limit is a multiple of this, so that similar limits share a template. */
#define SM_CGROUP_GUEST_MIB_STEP 32u
/* Host tasks of a VMM besides its vCPU threads (main, event loop, device workers), for pids.max. */
#define SM_CGROUP_VMM_BASE_TASKS 32u

struct sm_cgroup;

enum sm_cgroup_mode {
	SM_CGROUP_V1,	  /* only v1 hierarchies */
	SM_CGROUP_V2,	  /* cgroup2 mounted at /sys/fs/cgroup */
	SM_CGROUP_HYBRID, /* v1 hierarchies + cgroup2 at /sys/fs/cgroup/unified */
};

/* What the VM needs from the host, so linux.resources can be mapped onto the VMM process. */
struct sm_cgroup_vm {
	uint64_t guest_mem_bytes;    /* guest RAM; 0 = unknown (no floor on the memory limit) */
	uint64_t vmm_overhead_bytes; /* 0 = SM_CGROUP_VMM_OVERHEAD_DEFAULT */
	unsigned vcpus;		     /* 0 counts as 1 */
};

/* A memory counter as runc's events report it; limit 0 when unknown ("max" is UINT64_MAX). */
struct sm_cgroup_mem_entry {
	bool has;
	uint64_t usage, max, limit, failcnt;
};

/*
 * Figures for `events` (runc's types.Stats): a group is valid when its has_ flag is set. Filled
 * by sm_cgroup_stats() from the container's cgroup in whichever hierarchy holds each controller.
 */
struct sm_cgroup_stats {
	bool has_memory, has_pids, has_cpu, has_throttling, has_oom;
	uint64_t memory_bytes; /* memory.current / memory.usage_in_bytes (= mem.usage) */
	uint64_t pids;	       /* pids.current */
	uint64_t pids_limit;   /* pids.max; 0 = "max" */
	uint64_t cpu_ns;       /* cpu.stat usage_usec * 1000 / cpuacct.usage */
	uint64_t cpu_user_ns, cpu_kernel_ns;
	uint64_t nr_periods, nr_throttled, throttled_ns;
	uint64_t oom_kills; /* memory.events / memory.oom_control oom_kill */
	uint64_t cache;	    /* memory.stat: "cache" (v1) or "file" (v2) */
	struct sm_cgroup_mem_entry mem, swap, kernel;
	char *memory_stat; /* memory.stat as read ("key value" lines), malloc'd; NULL if unread */
};

/*
 * Resolve, without touching the filesystem, the directory of the container's cgroup in every
 * mounted hierarchy (the layout is detected with statfs on /sys/fs/cgroup and
 * /sys/fs/cgroup/unified). cgroups_path follows runc: "/a/b" is relative to each hierarchy's
 * root, "a/b" to the runtime's own cgroup (its parent on cgroup2, which cannot have processes
 * and children with controllers), NULL or "" means SM_CGROUP_DEFAULT_PARENT "/<id>". With
 * systemd set, cgroups_path is "slice:prefix:name" (default "system.slice:sm-runtime:<id>") and
 * maps to /<expanded slice>/<prefix>-<name>.scope, created directly in cgroupfs (no transient
 * unit; a warning says so when systemd is running). ".." components cannot climb above the root.
 * Because a relative path depends on the caller's cgroup, other processes (delete, update) must
 * use sm_cgroup_load(sm_cgroup_describe()) rather than calling open() again.
 */
int sm_cgroup_open(const char *cgroups_path, const char *id, bool systemd, struct sm_cgroup **out,
		   sm_error_t *err);

/*
 * Create the container's directory in every hierarchy (mkdir -p; an existing directory is
 * joined, as runc does). On v1 cpuset, empty cpuset.cpus/mems of new directories are copied from
 * their parent so tasks can join; on cgroup2, the cpu, cpuset, io, memory and pids controllers
 * are enabled in cgroup.subtree_control of each ancestor where available (failures there are
 * left for sm_cgroup_apply() to report against the field that needs the controller).
 */
int sm_cgroup_create(struct sm_cgroup *cg, sm_error_t *err);

/*
 * Apply linux.resources (res may be NULL: nothing to do) to the VMM's cgroup; also used by
 * `update`, so every write is valid on a cgroup that already has limits, and a value that needs
 * another one not given is completed from the cgroup's current setting (memory.swap without
 * memory.limit uses the current limit; a cgroup v2 cpu.period alone keeps the current quota). All
 * values are checked before anything is written; an error names the config field
 * ("linux.resources.cpu.shares: ..."). A non-NULL vm is also remembered in the handle (see
 * sm_cgroup_get_vm()).
 * vm (may be NULL for no VM adjustment) drives the microVM mapping: the host memory limit is
 * the limit itself, and a limit below guest RAM + VMM overhead is refused; pids.max is
 * the limit itself (refused below vcpus + SM_CGROUP_VMM_BASE_TASKS, the VMM's own threads). Fields that
 * belong to the guest (devices, hugepageLimits) are not touched; rdma and network are refused. Settings the
 * host cannot express but runc ignores too are added to sm_cgroup_warnings().
 */
int sm_cgroup_apply(struct sm_cgroup *cg, const struct sm_oci_resources *res, const struct sm_cgroup_vm *vm,
		    sm_error_t *err);

/*
 * Move process pid (0 = the caller) into the container's cgroup in every hierarchy by writing
 * cgroup.procs; all its threads follow. The monitor calls this on itself before creating vCPU
 * threads, exec proxies before running.
 */
int sm_cgroup_enter(struct sm_cgroup *cg, pid_t pid, sm_error_t *err);

/*
 * Kill every process left in the cgroup (cgroup.kill on cgroup2 when present, then a bounded
 * SIGKILL loop over cgroup.procs of every hierarchy), then rmdir the container's directory and
 * any sub-cgroups in every hierarchy, retrying while dying tasks keep it busy (~2 s bound).
 * Directories that are already gone are fine; parents (e.g. /sm-runtime) are left in place.
 * Never kills the calling process.
 */
int sm_cgroup_destroy(struct sm_cgroup *cg, sm_error_t *err);

/*
 * Read the cgroup's usage, limits and counters (memory, swap, kernel memory on v1, CPU time and
 * throttling, pids, OOM kills, memory.stat) from whichever hierarchy has each controller, v1 or
 * v2. A file that cannot be read leaves its figures unset; never fails. Free with
 * sm_cgroup_stats_clear().
 */
int sm_cgroup_stats(const struct sm_cgroup *cg, struct sm_cgroup_stats *st, sm_error_t *err);

/*
 * Only the OOM kill counter of sm_cgroup_stats() (memory.events / memory.oom_control oom_kill),
 * for a caller that watches it often. False, *out 0, when the cgroup has none to read.
 */
bool sm_cgroup_oom_kills(const struct sm_cgroup *cg, uint64_t *out);

/* Free what sm_cgroup_stats() allocated (memory_stat); st may be reused. */
void sm_cgroup_stats_clear(struct sm_cgroup_stats *st);

/*
 * The value of key in "key value" lines (memory.stat, cpu.stat, memory.events, cpuacct.stat):
 * true and *out set when a line starts with exactly that key. Pure.
 */
bool sm_cgroup_kv_get(const char *text, const char *key, uint64_t *out);

/*
 * A malloc'd, self-contained text description of the resolved directories (one line per
 * hierarchy) and of the VM the resources were mapped for, for state.json; sm_cgroup_load() turns
 * it back into a cgroup handle.
 */
char *sm_cgroup_describe(const struct sm_cgroup *cg);

/*
 * Rebuild a handle from sm_cgroup_describe() text (written by another process, e.g. `create`).
 * Each line is checked: the mount must still be a cgroup filesystem and the path must stay
 * under it, so a tampered state.json cannot point destroy() elsewhere.
 */
int sm_cgroup_load(const char *desc, struct sm_cgroup **out, sm_error_t *err);

/*
 * The VM the handle's resources were mapped for: the vm given to the last sm_cgroup_apply(), or the
 * one recorded in the sm_cgroup_describe() text that sm_cgroup_load() read. `update` uses it,
 * since guest RAM and the vCPU count are fixed when the VM is created. False when unknown (no
 * apply with a vm, or a description written by an older sm-runtime).
 */
bool sm_cgroup_get_vm(const struct sm_cgroup *cg, struct sm_cgroup_vm *out);

/*
 * The guest RAM for a host memory limit (bytes > 0): what is left after the VMM's own
 * SM_CGROUP_VMM_OVERHEAD_DEFAULT, rounded down to SM_CGROUP_GUEST_MIB_STEP, at most max_mib.
 * Below SM_CGROUP_MIN_GUEST_MIB + the overhead (48 MiB) the error names
 * linux.resources.memory.limit and that minimum in bytes. Pure arithmetic.
 */
int sm_cgroup_guest_mib_for_limit(int64_t limit, uint64_t max_mib, uint64_t *guest_mib, sm_error_t *err);

/* The detected layout. */
enum sm_cgroup_mode sm_cgroup_get_mode(const struct sm_cgroup *cg);

/*
 * The container's directory in the hierarchy that holds controller ("memory", "cpu", ...), or
 * the cgroup2 directory for "" (NULL when there is none). Valid until sm_cgroup_free().
 */
const char *sm_cgroup_dir(const struct sm_cgroup *cg, const char *controller);

/* Warnings gathered by open()/apply() (settings ignored like runc ignores them); never NULL. */
const struct sm_oci_strv *sm_cgroup_warnings(const struct sm_cgroup *cg);

/* Free a handle (does not touch the cgroups); NULL is allowed. */
void sm_cgroup_free(struct sm_cgroup *cg);

static inline void sm_cgroup_freep(struct sm_cgroup **p)
{
	sm_cgroup_free(*p);
}
#define cleanup_cgroup __attribute__((cleanup(sm_cgroup_freep)))

#endif
