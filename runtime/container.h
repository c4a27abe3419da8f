/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_CONTAINER_H
#define SM_RUNTIME_CONTAINER_H

/*
 * A container's state directory <root>/<id>/ (docs/design/lifecycle.md): state.json (oci/state.h),
 * the lock every command on the container holds, the monitor's control socket monitor.sock and the
 * VM's vsock socket vsock.sock. Socket paths are reached through /proc/self/fd/<dirfd>/ so that a
 * long root or id never overflows sun_path.
 */
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "oci/state.h"

struct sm_cgroup;

#define SM_CONTAINER_STATE "state.json"
#define SM_CONTAINER_LOCK "lock"
#define SM_CONTAINER_MONITOR_SOCK "monitor.sock"
#define SM_CONTAINER_VSOCK_SOCK "vsock.sock"
#define SM_CONTAINER_EXIT_FILE "exit-status"
#define SM_CONTAINER_CONSOLE_LOG "console.log" /* the guest serial console, with --debug */

struct sm_container {
	char *root; /* the state root */
	char *id;
	char *dir;	/* <root>/<id> */
	int dir_fd;	/* O_PATH fd of dir */
	int lock_fd;	/* flock()ed */
	bool has_state; /* st was loaded or saved */
	struct sm_oci_state st;
};

/*
 * The state root: opt (--root) when given, else /run/sm-runtime for root, else
 * $XDG_RUNTIME_DIR/sm-runtime (or /tmp/sm-runtime-<uid> without XDG_RUNTIME_DIR). malloc'd.
 */
char *sm_container_root(const char *opt);

/*
 * Make the state directory of a new container (the root too when missing) and lock it. Fails
 * with "container `id` already exists" (EEXIST) when the directory exists, and names the rule
 * an invalid id breaks.
 */
int sm_container_new(const char *root, const char *id, struct sm_container *c, sm_error_t *err);

/*
 * Lock an existing container and load its state.json. "container `id` does not exist" (ENOENT)
 * when there is no such directory. A directory without state.json (a create that died before
 * writing it) is opened with has_state false.
 */
int sm_container_open(const char *root, const char *id, struct sm_container *c, sm_error_t *err);

/*
 * sm_container_open() under the state root that root_opt (--root) names (sm_container_root()),
 * then sm_container_status() into *status: the start of every command that acts on a running
 * container. Close c with sm_container_close() also after a failure.
 */
int sm_container_open_status(const char *root_opt, const char *id, struct sm_container *c,
			     enum sm_oci_status *status, sm_error_t *err);

/*
 * Like sm_container_open() without taking the lock: for `list`, which must not wait for a create
 * in progress. The state may be one being replaced (it is written atomically, so never torn).
 */
int sm_container_peek(const char *root, const char *id, struct sm_container *c, sm_error_t *err);

/*
 * The host cgroup of a container that is created, running or paused (status, as
 * sm_container_status() found it), loaded from state.json into *out (sm_cgroup_free()). Fails
 * with "container `ID` is not running (STATUS)" otherwise, and with "... has no host cgroup ...:
 * <what>" for a container made without one (rootless, no linux.resources).
 */
int sm_container_live_cgroup(const struct sm_container *c, enum sm_oci_status status, const char *what,
			     struct sm_cgroup **out, sm_error_t *err);

/*
 * sm_container_peek(), "container `id` does not exist" when there is no state.json, then
 * sm_container_status(): the start of the commands that read a container without locking it
 * (`state`, `events`). Close c with sm_container_close() also after a failure.
 */
int sm_container_peek_status(const char *root, const char *id, struct sm_container *c,
			     enum sm_oci_status *status, sm_error_t *err);

/* Connect to the container's monitor; returns the fd. */
int sm_container_connect(const struct sm_container *c, sm_error_t *err);

/* Write c->st to state.json atomically. */
int sm_container_save(struct sm_container *c, sm_error_t *err);

/* Remove the state directory and everything in it (the lock is held until sm_container_close). */
int sm_container_remove(struct sm_container *c, sm_error_t *err);

/* Unlock and free; c may be zeroed or already closed. */
void sm_container_close(struct sm_container *c);

/* "/proc/self/fd/<dir_fd>/<name>": a short path to a file in the state directory (malloc'd). */
char *sm_container_path(const struct sm_container *c, const char *name);

/*
 * The container's current status: state.json's, corrected by the monitor: a monitor that is gone
 * (or whose pid was reused) means stopped; a live monitor is asked (STATUS). *exit_status gets the
 * container process's exit status when known (else -1); may be NULL.
 */
int sm_container_status(struct sm_container *c, enum sm_oci_status *status, int *exit_status,
			sm_error_t *err);

/*
 * sm_container_status(), and in *guest_oom (when not NULL) the OOM kills the container's guest
 * cgroup has counted, as the monitor heard them from the agent; -1 when unknown (the container
 * is not running, or its agent does not report them).
 */
int sm_container_status_oom(struct sm_container *c, enum sm_oci_status *status, int *exit_status,
			    int64_t *guest_oom, sm_error_t *err);

#endif
