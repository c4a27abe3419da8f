/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_JAIL_H
#define SM_RUNTIME_JAIL_H

/*
 * The VMM's jail (docs/security.md, "The VMM's jail"): after set-up the monitor (the VMM process)
 * lives in its own mount namespace whose root is a small read-only tmpfs holding only what it
 * still reaches by path: its state directory (read-write, at the same absolute path as on the
 * host: the control socket, the vsock socket, the exit file) and its own /proc/<pid>/fd as
 * /proc/self/fd (the virtio-fs server reaches xattrs and hard-link sources of its O_PATH fds
 * through it). The host's root is detached; everything else the VMM uses (/dev/kvm, guest
 * memory, the rootfs and bind shares, the template) it holds as open fds or mappings.
 *
 * Two steps, because of how Linux scopes them: unshare(CLONE_NEWNS) only works in a
 * single-threaded process, and mounting needs CAP_SYS_ADMIN, which the monitor drops before it
 * creates its threads (runtime/confine.h). So sm_jail_prepare() runs first, single-threaded and
 * privileged: it enters a private mount namespace (propagation: slave, so nothing reaches the
 * host) and forks a small helper that keeps the privileges and waits. Once the VMM is set up,
 * sm_jail_enter() asks the helper to build the jail and pivot_root() into it; pivot_root moves
 * the root of every task of the namespace, so the monitor's threads are all jailed at once. The
 * helper then exits. Both run before the seccomp filter is installed, so it allows neither mount
 * nor pivot_root.
 *
 * Without the privilege to unshare (rootless without a user namespace) the monitor runs
 * unjailed, with a debug log line; SM_JAIL=0 turns the jail off the same way.
 */
#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"

struct sm_oci_config;

/*
 * Step 1, in the monitor before its capabilities are dropped and before it has any thread:
 * enter a private mount namespace and fork the jail's helper. state_dir is the monitor's state
 * directory (absolute, canonical). On success *keep_fd is the fd the monitor must keep open
 * (not close with its other inherited fds) until sm_jail_enter(), or -1 when there is no jail
 * (no privilege to unshare, or SM_JAIL=0: logged at debug level, not an error). <0 on a real
 * failure (e.g. the namespace was made but its propagation could not be changed).
 */
int sm_jail_prepare(const char *state_dir, int *keep_fd, sm_error_t *err);

/*
 * Give the VMM (the container's `state` pid) new network, IPC, UTS and cgroup namespaces for each
 * of those types config.json asks to create (listed without a path), so the pid's namespaces
 * differ from the runtime's exactly where a runc container's would; the VMM needs none of the
 * host's (vsock is a pathname Unix socket). A network namespace given by path is joined (setns)
 * instead. Must run single-threaded, after the cgroup was entered. Without the privilege (EPERM)
 * it logs at debug level and returns 0.
 */
int sm_jail_own_namespaces(const struct sm_oci_config *cfg, sm_error_t *err);

/*
 * In the runtime's create, right before it forks the monitor: when config.json asks for a new pid
 * namespace (one listed without a path), unshare(CLONE_NEWPID) so that the next fork, the
 * monitor, is pid 1 of a new pid namespace, and `/proc/<state pid>/ns/pid` differs from the
 * runtime's as a runc container's would. *back_fd is then an fd of the caller's own pid namespace,
 * for sm_jail_pid_ns_restore() right after the fork; otherwise -1 (no pid namespace asked for, or
 * no privilege: EPERM is logged at debug level, not an error).
 */
int sm_jail_pid_ns_unshare(const struct sm_oci_config *cfg, int *back_fd, sm_error_t *err);

/*
 * In the parent right after the fork: setns() back to the pid namespace *back_fd names, so that
 * hooks and later forks of the runtime stay in the host's, and close it (*back_fd becomes -1).
 * A no-op when *back_fd < 0. <0 when setns fails.
 */
int sm_jail_pid_ns_restore(int *back_fd, sm_error_t *err);

/*
 * Whether config.json lists a mount namespace. Without one a runc container shares the runtime's
 * mount namespace, so the VMM does too: create then makes no jail (sm_jail_prepare() is not
 * called) and the VMM's `/proc/<pid>/ns/mnt` is the runtime's; seccomp and the dropped
 * capabilities still confine it (docs/security.md, "The VMM's jail").
 */
bool sm_jail_config_mount_ns(const struct sm_oci_config *cfg);

/*
 * When config.json creates a user namespace (listed without a path), move the VMM into a new user
 * namespace of its own, mapped as the identity over every id the runtime's namespace maps (on a
 * host: `0 0 4294967295` for uids and gids), so the VMM keeps its access to the rootfs and the
 * shares (the kept capabilities apply to every mapped inode) but holds no capability in the
 * runtime's (the host's) user namespace, and `/proc/<pid>/ns/user` differs from the runtime's as
 * a runc container's would. The guest still applies the config's own maps. A short-lived child,
 * forked first, writes the maps: it keeps CAP_SETUID/CAP_SETGID in the parent namespace. Must run
 * single-threaded, after everything that needs the host's privileges (the other namespaces, the
 * jail's helper, bind staging) and before sm_confine_caps(), whose sets then refer to the new
 * namespace. Without CAP_SETUID/CAP_SETGID, when the kernel refuses the namespace, or with
 * SM_JAIL_USERNS=0 it logs at debug level and returns 0. <0 when the namespace was made but could
 * not be mapped (the VMM must then not go on).
 */
int sm_jail_user_ns(const struct sm_oci_config *cfg, sm_error_t *err);

/*
 * Step 2, in the monitor once everything it needs is open and before the seccomp filter: build
 * the jail, pivot into it, detach the host's root and make the state directory (inside the jail)
 * the working directory. A no-op returning 0 when sm_jail_prepare() made no jail. Errors name
 * the step that failed.
 */
int sm_jail_enter(sm_error_t *err);

/* Whether the process was jailed by sm_jail_enter(). */
bool sm_jail_active(void);

/*
 * Is path usable as a jail mount point: absolute, at most PATH_MAX - 64 bytes, and without
 * empty, "." or ".." components (so that mirroring it inside the jail cannot leave the jail's
 * root). Pure.
 */
bool sm_jail_path_ok(const char *path);

/*
 * Create the directories of path (absolute, sm_jail_path_ok) below the directory fd root, as
 * "mkdir -p" would, each with mode 0755; existing directories are fine, anything else in the way
 * (a symlink, a file) is an error. Used to mirror a host path inside the jail's root.
 */
int sm_jail_mkdirs(int root, const char *path, sm_error_t *err);

#endif
