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

/* Free what sm_bind_shares_plan() allocated; the struct can be planned again. */
void sm_bind_shares_clear(struct sm_bind_shares *s);

#endif
