/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_TEMPLATE_H
#define SM_RUNTIME_TEMPLATE_H

/*
 * Template VMs: a guest booted once to the agent's ready point, with no container mounted, and
 * saved as a snapshot under <cache>/templates/<key>/. Every later container of the same VM shape
 * restores it instead of booting (milliseconds instead of a guest boot) and gets its container
 * from the agent's CREATE. The key hashes everything the saved guest depends on: kernel and
 * initramfs contents, memory size, vCPUs, DAX window, and the device layout version, so a change
 * of any of them makes a new template; stale ones are simply never used again.
 *
 * So that any container can restore any template of its shape, a template VM always has the full
 * device set: the root share (slot 0), vsock (1), the console (2) and SM_BIND_SHARES_MAX bind
 * shares (3..7); the shares a container does not use are re-rooted at an empty read-only
 * directory. sm_template_complete_config() makes a container's sandbox config match.
 */
#include <stdbool.h>

#include "common/error.h"
#include "runtime/bind-shares.h"
#include "runtime/sandbox.h"

/* Bumped whenever the template's device set or the guest's ready point changes. */
#define SM_TEMPLATE_LAYOUT_VERSION 1

/*
 * Make cfg's device set the template layout: the console is always attached (with cfg's fds, or
 * none when the container has no terminal) and binds is filled up to SM_BIND_SHARES_MAX with
 * read-only shares of the empty directory; cfg->binds then points at *padded, which borrows the
 * strings of binds (keep both alive while cfg is used). binds may be NULL.
 */
int sm_template_complete_config(struct sm_sandbox_config *cfg, const struct sm_bind_shares *binds,
				struct sm_bind_shares *padded, sm_error_t *err);

/*
 * The template directory for the shape of cfg (kernel, initramfs, memory, vCPUs, DAX window),
 * booting a guest and saving it when there is none yet. Concurrent callers for one shape wait on a
 * lock, so only one boots. *dir is malloc'd; *booted says whether this call made the template.
 * boot_timeout_ns bounds the guest boot.
 */
int sm_template_get(const struct sm_sandbox_config *cfg, int64_t boot_timeout_ns, char **dir, bool *booted,
		    sm_error_t *err);

/* The templates folder: $SM_CACHE_DIR/templates, SM_CACHE_DIR defaulting to the configured one. */
const char *sm_template_root(void);

#endif
