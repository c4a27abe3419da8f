/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VIRTIOFS_FUSE_SERVER_H
#define SM_VIRTIOFS_FUSE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/error.h"
#include "virtiofs/dax.h"

/*
 * The virtio-fs FUSE server: a passthrough file system rooted at one host directory, answering
 * FUSE requests that arrive as virtqueue scatter lists. It never follows a symlink, never resolves
 * a name with more than one component and never reaches a host file outside the shared directory;
 * see docs/design/virtiofs.md for the confinement and credential rules.
 */

struct sm_fuse_server;

struct sm_fuse_config {
	const char *root;	   /* host directory to share (trusted, resolved once at creation) */
	uint32_t max_write;	   /* largest WRITE/READ payload, 4 KiB..16 MiB, multiple of 4 KiB */
	uint64_t dax_window_size;  /* 0: no DAX window; else a multiple of 2 MiB */
	uint32_t entry_timeout_ms; /* how long the guest may cache names (also negative lookups) */
	uint32_t attr_timeout_ms;  /* how long the guest may cache attributes */
	uint32_t max_inodes;	   /* cap on inodes the guest may hold (each holds one host fd) */
	bool readonly;		   /* refuse every modification with EROFS */
};

/* Fill cfg with the defaults: 1 MiB max_write, 512 MiB DAX window, 1 s timeouts, 1M inodes. */
void sm_fuse_config_init(struct sm_fuse_config *cfg);

/*
 * Open the shared directory and set the server up (plus the DAX window when configured). Checks
 * that the host kernel has openat2() and that /proc/self/fd is procfs, which confinement relies
 * on; fails with a message naming what is missing.
 */
int sm_fuse_server_new(const struct sm_fuse_config *cfg, struct sm_fuse_server **out, sm_error_t *err);

/* Close every inode and handle, unmap the DAX window and free the server (NULL is allowed). */
void sm_fuse_server_free(struct sm_fuse_server *s);

/*
 * Forget the guest's state (inodes other than the root, open handles, DAX mappings) as after a
 * device reset; the next request must be FUSE_INIT. Call only while no sm_fuse_handle() runs.
 */
void sm_fuse_server_reset(struct sm_fuse_server *s);

/*
 * Handle one request. in/nin is the device-readable part of a descriptor chain (fuse_in_header,
 * op arguments, data), out/nout the device-writable part (fuse_out_header and reply); both are
 * host pointers the caller has already checked against guest memory. Writes the reply into out
 * and its length into *written (0 for FORGET/BATCH_FORGET, which have none). A malformed request
 * (truncated, length mismatch, larger than negotiated, bad arguments) gets an error reply
 * (usually EINVAL); a failing file operation gets its errno. Returns 0 when the chain was
 * answered (or needed no answer), or a negative value with err set when it could not be answered
 * at all (out too small for even a fuse_out_header, too many iovecs). Thread-safe: several queues
 * may call it concurrently.
 */
int sm_fuse_handle(struct sm_fuse_server *s, const struct iovec *in, int nin, const struct iovec *out,
		   int nout, size_t *written, sm_error_t *err);

struct sm_state_buf;
struct sm_state_reader;

/* What a restore found again (for logs and tests). */
struct sm_fuse_restore_stats {
	uint32_t inodes, stale_inodes;	   /* restored nodeids (root excluded), of which stale */
	uint32_t handles, stale_handles;   /* restored file/dir handles, of which stale */
	uint32_t mappings, stale_mappings; /* DAX mappings, of which replaced by zero memory */
};

/*
 * Append the FUSE session to buf for a snapshot: whether INIT happened, the negotiated minor,
 * flags and max_write, the inode table (nodeid, generation, lookup count, type and the path
 * relative to the share root, re-checked to name the same object; "lost" when it cannot be
 * found, e.g. unlinked), the open handles (fh, nodeid, kind, open flags) and the DAX mappings.
 * Call only while no sm_fuse_handle() runs. Never fails for lost objects; returns 0.
 */
int sm_fuse_server_save(struct sm_fuse_server *s, struct sm_state_buf *buf, sm_error_t *err);

/*
 * Restore a session saved by sm_fuse_server_save() into a freshly created server (no request
 * handled yet), which may be rooted at another directory: every inode is re-opened by its path
 * below the new root with the lookup confinement, every handle re-opened from its inode with its
 * flags, every DAX mapping re-established. What cannot be found again becomes stale (requests on
 * it answer ESTALE; a DAX range becomes zero memory). The saved bytes are untrusted: anything
 * malformed (counts, ids, generations, paths with "..", absolute paths, ranges outside the window,
 * flags, a max_write or inode count this server cannot honour) fails with err before the server
 * is changed. stats (may be NULL) gets the counts.
 */
int sm_fuse_server_restore(struct sm_fuse_server *s, struct sm_state_reader *r,
			   struct sm_fuse_restore_stats *stats, sm_error_t *err);

/* The DAX window (for the KVM memory slot and virtio shm region 0), or NULL when disabled. */
struct sm_dax_window *sm_fuse_server_dax(struct sm_fuse_server *s);

/*
 * Build a FUSE_NOTIFY_INVAL_INODE message (fuse_out_header with unique 0 and error = the notify
 * code, then fuse_notify_inval_inode_out) into buf: the guest drops cached data of nodeid in
 * [off, off+len) (len 0: to the end; off < 0: attributes only). Returns 0 and the size in *len_out,
 * or -ENOSPC when cap is too small.
 */
int sm_fuse_notify_inval_inode(uint64_t nodeid, int64_t off, int64_t len, void *buf, size_t cap,
			       size_t *len_out, sm_error_t *err);

/*
 * Build a FUSE_NOTIFY_INVAL_ENTRY message: the guest drops its dentry name under directory
 * nodeid parent. flags may be FUSE_EXPIRE_ONLY (7.38). The name must be a single component of at
 * most 255 bytes. Returns 0 and the size in *len_out, -EINVAL for a bad name, -ENOSPC for a small
 * buffer.
 */
int sm_fuse_notify_inval_entry(uint64_t parent, const char *name, uint32_t flags, void *buf, size_t cap,
			       size_t *len_out, sm_error_t *err);

#endif
