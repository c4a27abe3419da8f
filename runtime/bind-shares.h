/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_BIND_SHARES_H
#define SM_RUNTIME_BIND_SHARES_H

/*
 * Bind mounts of host paths reach the guest as extra virtio-fs shares. A directory source is
 * shared itself; any other source (a regular file, a symlink's target) is reached through its
 * parent directory and a subpath. Sources inside the container's rootfs use the rootfs share;
 * device nodes are bound from the guest's own node of the same path (a host device cannot be
 * opened from the guest anyway); sockets and FIFOs cannot cross the VM boundary and are refused.
 * Identical share directories are merged, so /etc/hosts and /etc/resolv.conf from one folder
 * cost one device.
 *
 * A directory source is staged when the process may (sm_bind_shares_stage()): its share is then a
 * private directory holding the source bound under its base name, in a mount namespace of its
 * own, and the guest binds <share>/<name>. So the guest's /proc/self/mountinfo shows "/<name>" as
 * the mount's root, as for a bind of the host path (runtime-tools' `mounts` checks it), and the
 * guest sees nothing beside the source. Files in a staged directory use its share too.
 */
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "oci/config.h"

/* Virtio slots 3..7 are left for bind shares (0: rootfs, 1: vsock, 2: console). */
#define SM_BIND_SHARES_MAX 5
#define SM_BIND_SHARES_FIRST_SLOT 3

struct sm_bind_share {
	char *host_dir; /* canonical host directory */
	char *tag;	/* "sm-bind<i>" */
	bool readonly;	/* every mount through it is read-only */
};

struct sm_bind_source;

struct sm_bind_shares {
	char *rootfs; /* canonical rootfs, whose share is rootfs_tag */
	const char *rootfs_tag;
	size_t n;
	struct sm_bind_share v[SM_BIND_SHARES_MAX];
	/* Each bind source as the plan resolved it: sm_bind_shares_map() answers from these without
	 * the host's filesystem, which the jailed VMM no longer sees (runtime/jail.h). */
	struct sm_bind_source *sources;
	size_t n_sources;
};

/*
 * Plan the shares for cfg's bind mounts: resolve each source (relative to bundle when not
 * absolute) and group them by host directory. rootfs is the container's canonical root and
 * rootfs_tag its share. Errors name the mount ("mounts[3]: bind source `/x`: ...") and fail when
 * more than SM_BIND_SHARES_MAX directories are needed. Free with sm_bind_shares_clear().
 */
int sm_bind_shares_plan(const struct sm_oci_config *cfg, const char *bundle, const char *rootfs,
			const char *rootfs_tag, struct sm_bind_shares *out, sm_error_t *err);

/*
 * The map_bind_source callback of struct sm_agent_spec_opts (opaque: a planned
 * struct sm_bind_shares): 1 with the share's tag and the subpath for a planned source, 0 for
 * device nodes (the guest binds its own node), <0 for a source the plan does not cover.
 */
int sm_bind_shares_map(void *opaque, const char *source, char **tag, char **subpath, bool *dax,
		       sm_error_t *err);

/*
 * Stage cfg's directory bind sources (see above) for the sm_bind_shares_plan() calls that follow
 * in this process: in a new mount namespace (nothing reaches the host's or the caller's, whose
 * mount namespace and working directory are restored), a small read-only tmpfs over state_dir
 * holds <k>/<basename> for the k-th source directory, bound (recursively when a mount of it is an
 * rbind). Needs CAP_SYS_ADMIN and a single thread; without the privilege (EPERM) it logs at debug
 * level, stages nothing and returns 0, and directories are shared whole. keep[0] (the namespace)
 * and keep[1] (the tmpfs's root) are the fds the process must keep open as long as its shares are
 * served (-1 when nothing was staged); the mounts go away with them, so nothing needs cleaning up.
 * Once per process. <0 on a real failure (a source that cannot be bound).
 */
int sm_bind_shares_stage(const struct sm_oci_config *cfg, const char *bundle, const char *rootfs,
			 const char *state_dir, int keep[2], sm_error_t *err);

/* Free what sm_bind_shares_plan() allocated; the struct can be planned again. */
void sm_bind_shares_clear(struct sm_bind_shares *s);

#endif
