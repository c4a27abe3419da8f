/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_CONFINE_H
#define SM_RUNTIME_CONFINE_H

/*
 * Confinement of the VMM process (docs/security.md): what a guest that took over a device model
 * could do with the VMM's privileges is bounded by the capabilities left and by a seccomp filter.
 *
 * Two steps, because capabilities are per thread and inherited at thread creation while a
 * seccomp filter can be synchronized over all threads: sm_confine_caps() runs first, before the
 * VMM creates any thread; sm_confine_seccomp() runs once everything is set up (sockets bound,
 * guest memory mapped, vCPUs created), with the threads running.
 */
#include <stdbool.h>

#include "common/error.h"

/*
 * Drop every capability except those the virtio-fs passthrough server needs to act for the
 * guest's root on the shared files (chown, DAC override and read search, fowner, fsetid, mknod,
 * setfcap), from the bounding, effective, permitted and inheritable sets, and clear the ambient
 * set. A process without capabilities (rootless) is left as it is. Call before creating threads.
 * The sets are those of the caller's user namespace: after sm_jail_user_ns() (runtime/jail.h) the
 * VMM's own, where these capabilities act on every (identity-mapped) inode, while it holds none in
 * the host's namespace (so CAP_MKNOD no longer allows device nodes: the kernel checks it there).
 */
int sm_confine_caps(sm_error_t *err);

struct sm_confine_opts {
	/* Log "seccomp: forbidden system call NAME" on stderr before the process is killed. */
	bool debug;
};

/*
 * Set PR_SET_NO_NEW_PRIVS and install the VMM's seccomp filter on every thread of the process
 * (TSYNC). Allowed: file and directory system calls of the virtio-fs server, memory mapping,
 * threads (clone only with CLONE_THREAD; clone3 answers ENOSYS so the C library falls back to
 * clone), events and timers, Unix sockets only, KVM ioctls and the terminal ioctls. Everything
 * else (execve, fork, ptrace, mount, other socket families, ...) kills the process; with
 * opts->debug the syscall's name is printed first.
 */
int sm_confine_seccomp(const struct sm_confine_opts *opts, sm_error_t *err);

#endif
