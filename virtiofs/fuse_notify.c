/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Server-to-guest notifications: a fuse_out_header whose unique is 0 and whose error field holds
 * the notify code, followed by the code's argument. The virtio-fs notification queue will carry
 * them; building them is independent of the transport.
 */
#include <errno.h>
#include <linux/fuse.h>
#include <string.h>

#include "virtiofs/fuse_internal.h"

static void put_header(uint8_t *buf, size_t len, int code)
{
	struct fuse_out_header oh = {.len = (uint32_t)len, .error = code, .unique = 0};

	memcpy(buf, &oh, sizeof(oh));
}

int sm_fuse_notify_inval_inode(uint64_t nodeid, int64_t off, int64_t len, void *buf, size_t cap,
			       size_t *len_out, sm_error_t *err)
{
	struct fuse_notify_inval_inode_out arg = {.ino = nodeid, .off = off, .len = len};
	size_t total = sizeof(struct fuse_out_header) + sizeof(arg);

	*len_out = 0;
	if (cap < total)
		return sm_error_set(err, ENOSPC, "FUSE_NOTIFY_INVAL_INODE needs %zu bytes, buffer has %zu",
				    total, cap);
	put_header(buf, total, FUSE_NOTIFY_INVAL_INODE);
	memcpy((uint8_t *)buf + sizeof(struct fuse_out_header), &arg, sizeof(arg));
	*len_out = total;
	return 0;
}

int sm_fuse_notify_inval_entry(uint64_t parent, const char *name, uint32_t flags, void *buf, size_t cap,
			       size_t *len_out, sm_error_t *err)
{
	struct fuse_notify_inval_entry_out arg = {.parent = parent, .flags = flags};
	size_t namelen, total;
	uint8_t *p = buf;

	*len_out = 0;
	if (name == NULL || !sm_fuse_name_ok(name))
		return sm_error_set(err, EINVAL, "FUSE_NOTIFY_INVAL_ENTRY: `%s` is not a single name",
				    name ? name : "(null)");
	namelen = strlen(name);
	arg.namelen = (uint32_t)namelen;
	/* The kernel requires the NUL to be counted: size == sizeof(arg) + namelen + 1. */
	total = sizeof(struct fuse_out_header) + sizeof(arg) + namelen + 1;
	if (cap < total)
		return sm_error_set(err, ENOSPC, "FUSE_NOTIFY_INVAL_ENTRY needs %zu bytes, buffer has %zu",
				    total, cap);
	put_header(p, total, FUSE_NOTIFY_INVAL_ENTRY);
	memcpy(p + sizeof(struct fuse_out_header), &arg, sizeof(arg));
	memcpy(p + sizeof(struct fuse_out_header) + sizeof(arg), name, namelen + 1);
	*len_out = total;
	return 0;
}
