/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_GUEST_AGENT_CHILD_H
#define SM_GUEST_AGENT_CHILD_H

/*
 * What runs in a forked child of the agent before it becomes a container process: the container
 * setup for CREATE (rootfs.c), entering the container for EXEC, the process attributes (child.c),
 * then the wait for START and the execve. Everything here runs in the child only: it may change
 * its own root, credentials and namespaces, and it ends with execve() or _exit().
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "guest/agent/spec.h"

/* Namespaces an EXEC joins, as fds opened from /proc/<init>/ns/... by the agent (-1 = none). */
enum {
	SM_AGENT_NS_MNT,
	SM_AGENT_NS_UTS,
	SM_AGENT_NS_IPC,
	SM_AGENT_NS_CGROUP,
	SM_AGENT_NS_NET,
	SM_AGENT_NS_TIME, /* from /proc/<init>/ns/time_for_children: init reports before its execve */
	SM_AGENT_NS_COUNT
};

/* The guest's virtio console, the terminal of a process with terminal_hvc. */
#define SM_AGENT_HVC_PATH "/dev/hvc0"

struct sm_agent_child_args {
	const struct sm_agent_container *ctr; /* CREATE: the container to set up; NULL for EXEC */
	const struct sm_agent_process *proc;
	const char *staging_dir;       /* where virtio-fs shares are mounted before pivot_root */
	int sync_fd;		       /* the agent's end: the setup result goes here, START comes from it */
	int stdio[3];		       /* pipe ends for fds 0..2; -1 each when proc->terminal */
	int ns_fds[SM_AGENT_NS_COUNT]; /* EXEC */
	int root_fd;		       /* EXEC: the container's root directory */
};

/*
 * The child's whole life after fork(): set up, report to the agent over sync_fd (an error with
 * errno and message, or success with the pty master attached when proc->terminal), wait for the
 * start byte, exec. Never returns: _exit(1) after a setup error, _exit(127/126) when the
 * executable cannot be run (after printing runc's message on the process's stderr).
 */
__attribute__((noreturn)) void sm_agent_child_run(const struct sm_agent_child_args *a);

/*
 * Container setup of a CREATE, in the child as root: a new mount namespace, the rootfs, the OCI
 * mounts, /dev, pivot_root (or MS_MOVE + chroot), readonly root, hostname, sysctls, readonly and
 * masked paths. On return the child's root is the container's.
 */
int sm_agent_setup_container(const struct sm_agent_container *c, const char *staging_dir, sm_error_t *err);

/*
 * In the agent, instead of fork() for a CREATE whose container has CLONE_NEWUSER: mount the shares
 * and make the pids cgroup, clone the child into a new user namespace (and, with CLONE_NEWPID, a pid
 * namespace that belongs to it, as with runc, so that a procfs can be mounted there), write its uid_map and
 * gid_map (setgroups stays "allow"), set its oomScoreAdj and cgroup, then let it go on. Returns like fork():
 * 0 in the child (once the maps are written), the pid in the agent (*pidns_fd: the container's pid namespace,
 * for EXEC), -1 with errno.
 */
pid_t sm_agent_userns_clone(const struct sm_agent_container *c, const struct sm_agent_process *p,
			    const char *staging_dir, int *pidns_fd);

/*
 * In a CREATE child, set up and about to report: start reading the executable that execve will
 * run (args[0] in env's PATH, its first 4 MiB) into the page cache, asynchronously, so that START
 * runs it from memory instead of faulting it in over virtio-fs (prefetch.c). Best effort: any
 * failure is ignored, the exec reports its own errors.
 */
void sm_agent_prefetch_exec(const struct sm_agent_process *p, char *const *env);

/*
 * sm_agent_prefetch_exec(), also returning what the exec should run: for an args[0] without a
 * '/', the path it was found at in env's PATH (written to buf, of size bytes), or NULL when it was
 * not found (the exec searches again and reports the error) or args[0] contains a '/' (no search
 * needed).
 */
const char *sm_agent_prefetch_exec_path(const struct sm_agent_process *p, char *const *env, char *buf,
					size_t size);

/*
 * execvp()'s search with the container's PATH from env (not the agent's): the first "<dir>/file"
 * that is a regular file with an execute bit, written to buf (size bytes) and returned; NULL when
 * there is none (candidates longer than buf are passed over). file must not contain a '/'.
 */
const char *sm_agent_exec_lookup(const char *file, char *const *env, char *buf, size_t size);

/*
 * In the agent, for sm_agent_userns_clone(): mount the container's virtio-fs shares (rootfs and
 * bind sources) at <staging>/rootfs and <staging>/share-<i>, in the agent's mount namespace: a
 * FUSE file system cannot be mounted from inside a user namespace.
 */
int sm_agent_premount_shares(const struct sm_agent_container *c, const char *staging, sm_error_t *err);

/* In the CREATE child of sm_agent_userns_clone(): become root of the user namespace. */
int sm_agent_userns_join(sm_error_t *err);

/*
 * The container's guest cgroup v2 (cgroup2 mounted at <staging_dir>/cgroup, the container in its
 * child "container"): create it with pids.max = c->pids_limit and memory.max from c->memory_limit
 * (sm_agent_memory_max()), each when set, and move pid in (0: the caller) at CREATE; at EXEC move
 * the caller in when it exists (0 when it does not). Nothing to do when neither limit is set.
 */
int sm_agent_cgroup_create(const char *staging_dir, const struct sm_agent_container *c, pid_t pid,
			   sm_error_t *err);

/*
 * memory.max for the container's guest cgroup: the configured limit, but at most what the guest
 * has available minus SM_AGENT_MEM_RESERVE (the agent's own needs), and never below
 * SM_AGENT_MEM_FLOOR. Thus the container's processes are OOM-killed by their own cgroup inside the
 * guest before the guest as a whole runs out (which could take the agent) and before the VMM
 * reaches the host limit (which would take the VM). Pure: mem_available is /proc/meminfo's, in bytes.
 */
#define SM_AGENT_MEM_RESERVE (4ull << 20)
#define SM_AGENT_MEM_FLOOR (4ull << 20)
uint64_t sm_agent_memory_max(uint64_t limit, uint64_t mem_available);

/* MemAvailable of /proc/meminfo in bytes; 0 when it cannot be read (then the limit is used as is). */
uint64_t sm_agent_mem_available(void);
int sm_agent_cgroup_join(const char *staging_dir, sm_error_t *err);

/* process.scheduler: sched_setattr(2) on the caller; the error names the field. */
int sm_agent_sched_apply(const struct sm_agent_sched *s, sm_error_t *err);

/* process.ioPriority: ioprio_set(IOPRIO_WHO_PROCESS, 0, ioprio); the error names the field. */
int sm_agent_ioprio_apply(uint32_t ioprio, sm_error_t *err);

/* The CPUs the caller may run on (sched_getaffinity): before any change, the VM's CPUs. */
int sm_agent_cpus_available(struct sm_agent_cpus *out, sm_error_t *err);

/*
 * sched_setaffinity(want) on the caller, after checking that every CPU of want is in avail (the
 * VM's CPUs) and that want is not empty; errors name field ("process.execCPUAffinity.final").
 */
int sm_agent_cpus_apply(const struct sm_agent_cpus *want, const struct sm_agent_cpus *avail,
			const char *field, sm_error_t *err);

/*
 * CREATE child, with the agent's /proc still visible: with CLONE_NEWTIME in c->namespaces,
 * unshare(CLONE_NEWTIME) and write c's offsets to /proc/self/timens_offsets, so the container
 * process enters the namespace with them at its execve (and EXEC joins it). Offsets without the
 * namespace are refused.
 */
int sm_agent_timens_create(const struct sm_agent_container *c, sm_error_t *err);

/*
 * Write the setup result on the sync socket: code 0 with master_fd (or -1) on success, the error
 * otherwise. The reader is sm_agent_sync_read_result().
 */
int sm_agent_sync_send_result(int sync_fd, const sm_error_t *failure, int master_fd);

/*
 * Read a setup result written by sm_agent_sync_send_result(): returns 1 with *code, *msg (malloc'd,
 * possibly NULL) and *master_fd (or -1) set, 0 when the child closed the socket without a result,
 * <0 on a read error. The fd must be readable (the call blocks until the whole record arrived).
 */
int sm_agent_sync_read_result(int sync_fd, int *code, char **msg, int *master_fd);

#endif
