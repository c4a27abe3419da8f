/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one place where request bytes from the guest are parsed. Everything after this works on a
 * struct sm_fuse_req whose sizes have been checked: the header is complete and consistent with the
 * buffers, the fixed argument is present, strings are NUL-terminated inside the request, and the
 * WRITE payload is exactly as long as the header says. This file is the fuzz target's subject.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "virtiofs/fuse_internal.h"

/* ---- scatter lists ---------------------------------------------------------------------------- */

size_t sm_iov_total(const struct iovec *iov, int niov)
{
	size_t total = 0;

	if (niov < 0 || niov > SM_FUSE_MAX_IOV || (niov > 0 && iov == NULL))
		return SIZE_MAX;
	for (int i = 0; i < niov; i++) {
		if (iov[i].iov_len > SIZE_MAX - 1 - total)
			return SIZE_MAX;
		total += iov[i].iov_len;
	}
	return total;
}

void sm_iov_cursor_init(struct sm_iov_cursor *c, const struct iovec *iov, int niov, size_t total)
{
	c->iov = iov;
	c->niov = niov;
	c->idx = 0;
	c->off = 0;
	c->remaining = total;
}

/* Walk len bytes; with a non-NULL fn, call it on each contiguous piece. */
static void iov_walk(struct sm_iov_cursor *c, size_t len, void (*fn)(void *ctx, uint8_t *p, size_t n),
		     void *ctx)
{
	while (len > 0 && c->idx < c->niov) {
		size_t avail = c->iov[c->idx].iov_len - c->off;
		size_t n = avail < len ? avail : len;

		if (n > 0 && fn != NULL)
			fn(ctx, (uint8_t *)c->iov[c->idx].iov_base + c->off, n);
		c->off += n;
		c->remaining -= n;
		len -= n;
		if (c->off == c->iov[c->idx].iov_len) {
			c->idx++;
			c->off = 0;
		}
	}
}

static void copy_out(void *ctx, uint8_t *p, size_t n)
{
	uint8_t **dst = ctx;

	memcpy(*dst, p, n);
	*dst += n;
}

static void copy_in(void *ctx, uint8_t *p, size_t n)
{
	const uint8_t **src = ctx;

	memcpy(p, *src, n);
	*src += n;
}

int sm_iov_read(struct sm_iov_cursor *c, void *dst, size_t len)
{
	uint8_t *d = dst;

	if (len > c->remaining)
		return -EINVAL;
	iov_walk(c, len, copy_out, &d);
	return 0;
}

int sm_iov_write(struct sm_iov_cursor *c, const void *src, size_t len)
{
	const uint8_t *s = src;

	if (len > c->remaining)
		return -EINVAL;
	iov_walk(c, len, copy_in, &s);
	return 0;
}

int sm_iov_skip(struct sm_iov_cursor *c, size_t len)
{
	if (len > c->remaining)
		return -EINVAL;
	iov_walk(c, len, NULL, NULL);
	return 0;
}

int sm_iov_slice(struct sm_iov_cursor *c, size_t len, struct iovec *dst, int max, int *n)
{
	*n = 0;
	if (len > c->remaining)
		return -EINVAL;
	while (len > 0 && c->idx < c->niov) {
		size_t avail = c->iov[c->idx].iov_len - c->off;
		size_t take = avail < len ? avail : len;

		if (take > 0) {
			if (*n == max)
				return -EINVAL;
			dst[*n].iov_base = (uint8_t *)c->iov[c->idx].iov_base + c->off;
			dst[*n].iov_len = take;
			(*n)++;
		}
		iov_walk(c, take, NULL, NULL);
		len -= take;
		if (take == 0) {
			c->idx++;
			c->off = 0;
		}
	}
	return 0;
}

/* ---- opcode shapes ---------------------------------------------------------------------------- */

#define OP(code, arg, kind, mod, out, node) [code] = {{arg, kind, mod, node, out}, 1}

struct op_entry {
	struct sm_fuse_op_desc d;
	uint8_t known;
};

static const struct op_entry op_table[] = {
    OP(FUSE_LOOKUP, 0, SM_P_NAME, 0, sizeof(struct fuse_entry_out), 1),
    OP(FUSE_FORGET, sizeof(struct fuse_forget_in), SM_P_NONE, 0, 0, 0),
    OP(FUSE_GETATTR, sizeof(struct fuse_getattr_in), SM_P_NONE, 0, sizeof(struct fuse_attr_out), 1),
    OP(FUSE_SETATTR, sizeof(struct fuse_setattr_in), SM_P_NONE, 1, sizeof(struct fuse_attr_out), 1),
    OP(FUSE_READLINK, 0, SM_P_NONE, 0, 0, 1),
    OP(FUSE_SYMLINK, 0, SM_P_NAME2, 1, sizeof(struct fuse_entry_out), 1),
    OP(FUSE_MKNOD, sizeof(struct fuse_mknod_in), SM_P_NAME, 1, sizeof(struct fuse_entry_out), 1),
    OP(FUSE_MKDIR, sizeof(struct fuse_mkdir_in), SM_P_NAME, 1, sizeof(struct fuse_entry_out), 1),
    OP(FUSE_UNLINK, 0, SM_P_NAME, 1, 0, 1),
    OP(FUSE_RMDIR, 0, SM_P_NAME, 1, 0, 1),
    OP(FUSE_RENAME, sizeof(struct fuse_rename_in), SM_P_NAME2, 1, 0, 1),
    OP(FUSE_LINK, sizeof(struct fuse_link_in), SM_P_NAME, 1, sizeof(struct fuse_entry_out), 1),
    OP(FUSE_OPEN, sizeof(struct fuse_open_in), SM_P_NONE, 0, sizeof(struct fuse_open_out), 1),
    OP(FUSE_READ, sizeof(struct fuse_read_in), SM_P_NONE, 0, 0, 0),
    OP(FUSE_WRITE, sizeof(struct fuse_write_in), SM_P_DATA, 1, sizeof(struct fuse_write_out), 0),
    OP(FUSE_STATFS, 0, SM_P_NONE, 0, sizeof(struct fuse_statfs_out), 1),
    OP(FUSE_RELEASE, sizeof(struct fuse_release_in), SM_P_NONE, 0, 0, 0),
    OP(FUSE_FSYNC, sizeof(struct fuse_fsync_in), SM_P_NONE, 0, 0, 0),
    OP(FUSE_SETXATTR, FUSE_COMPAT_SETXATTR_IN_SIZE, SM_P_XATTR, 1, 0, 1),
    OP(FUSE_GETXATTR, sizeof(struct fuse_getxattr_in), SM_P_NAME, 0, 0, 1),
    OP(FUSE_LISTXATTR, sizeof(struct fuse_getxattr_in), SM_P_NONE, 0, 0, 1),
    OP(FUSE_REMOVEXATTR, 0, SM_P_NAME, 1, 0, 1),
    OP(FUSE_FLUSH, sizeof(struct fuse_flush_in), SM_P_NONE, 0, 0, 0),
    OP(FUSE_INIT, 16, SM_P_INIT, 0, sizeof(struct fuse_init_out), 0),
    OP(FUSE_OPENDIR, sizeof(struct fuse_open_in), SM_P_NONE, 0, sizeof(struct fuse_open_out), 1),
    OP(FUSE_READDIR, sizeof(struct fuse_read_in), SM_P_NONE, 0, 0, 0),
    OP(FUSE_RELEASEDIR, sizeof(struct fuse_release_in), SM_P_NONE, 0, 0, 0),
    OP(FUSE_FSYNCDIR, sizeof(struct fuse_fsync_in), SM_P_NONE, 0, 0, 0),
    OP(FUSE_ACCESS, sizeof(struct fuse_access_in), SM_P_NONE, 0, 0, 1),
    OP(FUSE_CREATE, sizeof(struct fuse_create_in), SM_P_NAME, 1,
       sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out), 1),
    OP(FUSE_DESTROY, 0, SM_P_NONE, 0, 0, 0),
    OP(FUSE_BATCH_FORGET, sizeof(struct fuse_batch_forget_in), SM_P_BYTES, 0, 0, 0),
    OP(FUSE_FALLOCATE, sizeof(struct fuse_fallocate_in), SM_P_NONE, 1, 0, 0),
    OP(FUSE_READDIRPLUS, sizeof(struct fuse_read_in), SM_P_NONE, 0, 0, 1),
    OP(FUSE_RENAME2, sizeof(struct fuse_rename2_in), SM_P_NAME2, 1, 0, 1),
    OP(FUSE_LSEEK, sizeof(struct fuse_lseek_in), SM_P_NONE, 0, sizeof(struct fuse_lseek_out), 0),
    OP(FUSE_COPY_FILE_RANGE, sizeof(struct fuse_copy_file_range_in), SM_P_NONE, 1,
       sizeof(struct fuse_write_out), 0),
    OP(FUSE_SETUPMAPPING, sizeof(struct fuse_setupmapping_in), SM_P_NONE, 0, 0, 1),
    OP(FUSE_REMOVEMAPPING, sizeof(struct fuse_removemapping_in), SM_P_BYTES, 0, 0, 0),
    OP(FUSE_SYNCFS, sizeof(struct fuse_syncfs_in), SM_P_NONE, 0, 0, 0),
};

const struct sm_fuse_op_desc *sm_fuse_op_desc(uint32_t opcode, bool *known)
{
	static const struct sm_fuse_op_desc unknown = {0, SM_P_NONE, 0, 0, 0};

	if (opcode >= SM_ARRAY_SIZE(op_table) || !op_table[opcode].known) {
		*known = false;
		return &unknown;
	}
	*known = true;
	return &op_table[opcode].d;
}

/* ---- strings ---------------------------------------------------------------------------------- */

bool sm_fuse_name_ok(const char *name)
{
	size_t n = strnlen(name, SM_FUSE_NAME_MAX + 1);

	if (n == 0 || n > SM_FUSE_NAME_MAX || memchr(name, '/', n) != NULL)
		return false;
	return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* The first NUL-terminated string at p (n bytes); its length incl. NUL, or 0 if no NUL. */
static size_t cstr_len(const uint8_t *p, size_t n)
{
	const uint8_t *z = memchr(p, '\0', n);

	return z == NULL ? 0 : (size_t)(z - p) + 1;
}

static int decode_payload(struct sm_fuse_req *req, const uint8_t *p, size_t n)
{
	size_t l1, l2;

	switch (req->desc->payload) {
	case SM_P_NAME:
		l1 = cstr_len(p, n);
		if (l1 == 0 || l1 != n)
			return -EINVAL;
		req->name = (const char *)p;
		return 0;
	case SM_P_NAME2:
		l1 = cstr_len(p, n);
		if (l1 == 0)
			return -EINVAL;
		l2 = cstr_len(p + l1, n - l1);
		if (l2 == 0 || l1 + l2 != n)
			return -EINVAL;
		req->name = (const char *)p;
		req->name2 = (const char *)p + l1;
		return 0;
	case SM_P_XATTR:
		l1 = cstr_len(p, n);
		if (l1 == 0 || n - l1 != req->a.setxattr.size)
			return -EINVAL;
		req->name = (const char *)p;
		req->bytes = p + l1;
		req->nbytes = n - l1;
		return 0;
	case SM_P_BYTES:
		req->bytes = p;
		req->nbytes = n;
		return 0;
	default:
		return 0;
	}
}

/* ---- requests --------------------------------------------------------------------------------- */

int sm_fuse_decode(const struct iovec *in, int nin, size_t in_total, size_t max_in, struct sm_fuse_req *req)
{
	struct sm_iov_cursor c;
	size_t body, ext, argsz, rest;
	uint8_t *buf;

	req->heap = NULL;
	req->name = req->name2 = NULL;
	req->bytes = NULL;
	req->nbytes = 0;
	req->data_len = 0;
	memset(&req->a, 0, sizeof(req->a));
	sm_iov_cursor_init(&c, in, nin, in_total);
	if (sm_iov_read(&c, &req->h, sizeof(req->h)) < 0) {
		memset(&req->h, 0, sizeof(req->h));
		return -EINVAL;
	}
	req->desc = sm_fuse_op_desc(req->h.opcode, &req->known);
	/* The header's length must describe exactly what we may read: no more than the buffers. */
	if (req->h.len < sizeof(req->h) || req->h.len > in_total || req->h.len > max_in)
		return -EINVAL;
	body = req->h.len - sizeof(req->h);
	ext = (size_t)req->h.total_extlen * 8;
	if (ext > body)
		return -EINVAL;
	body -= ext;
	c.remaining = body; /* never look past the header's length */

	argsz = req->desc->argsz;
	if (req->desc->payload == SM_P_INIT) {
		if (body < argsz)
			return -EINVAL;
		argsz = body < sizeof(req->a.init) ? body : sizeof(req->a.init);
	}
	if (body < argsz)
		return -EINVAL;
	sm_iov_read(&c, &req->a, argsz);
	req->argsz_present = argsz;
	rest = body - argsz;

	switch (req->desc->payload) {
	case SM_P_NONE:
	case SM_P_INIT:
		return 0;
	case SM_P_DATA:
		if (rest != req->a.write.size)
			return -EINVAL;
		req->data = c;
		req->data_len = rest;
		return 0;
	default:
		break;
	}
	if (rest <= sizeof(req->inline_buf)) {
		buf = req->inline_buf;
	} else {
		req->heap = sm_xmalloc(rest);
		buf = req->heap;
	}
	sm_iov_read(&c, buf, rest);
	return decode_payload(req, buf, rest);
}

void sm_fuse_req_release(struct sm_fuse_req *req)
{
	free(req->heap);
	req->heap = NULL;
}
