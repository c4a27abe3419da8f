/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Handlers that work on open files and directories: open/create, data transfer straight between
 * the guest's buffers and the host file (preadv/pwritev on the chain's iovecs), directory
 * listing, and the DAX mapping requests. Only regular files and directories are ever opened for
 * I/O: device nodes, FIFOs and sockets in the share stay the guest's own business.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "virtiofs/fuse_internal.h"

#define REMOVEMAPPING_MAX (4096 / sizeof(struct fuse_removemapping_one))

/* The open(2) flags a guest may pass through; creation and resolution flags are ours to choose. */
static int open_flags(uint32_t guest, int *flags)
{
	int f = (int)guest & (O_ACCMODE | O_APPEND | O_TRUNC | O_SYNC | O_DSYNC | O_NOATIME);

	if ((f & O_ACCMODE) == O_ACCMODE)
		return -EINVAL;
	*flags = f | O_LARGEFILE;
	return 0;
}

static bool writes(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

static int reply_open(struct sm_fuse_server *s, int *fdp, int kind, uint64_t nodeid, uint32_t fopen,
		      struct fuse_open_out *o)
{
	int64_t fh = sm_fuse_handle_new(s, *fdp, kind, nodeid);

	*fdp = -1; /* adopted, or closed on failure */
	if (fh < 0)
		return (int)fh;
	memset(o, 0, sizeof(*o));
	o->fh = (uint64_t)fh;
	o->open_flags = fopen;
	return 0;
}

int sm_fuse_op_open(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	cleanup_close int fd = -1;
	int flags, ret;

	if (r->ino->type == S_IFDIR)
		return -EISDIR;
	if (r->ino->type != S_IFREG)
		return -EACCES;
	ret = open_flags(r->a.open.flags, &flags);
	if (ret < 0)
		return ret;
	if (s->cfg.readonly && writes(flags))
		return -EROFS;
	fd = sm_fuse_reopen(s, r->ino->fd, flags);
	if (fd < 0)
		return -errno;
	/* Keep the guest's page cache across opens; AUTO_INVAL_DATA drops it when mtime/size change. */
	ret = reply_open(s, &fd, SM_H_FILE, r->ino->nodeid, FOPEN_KEEP_CACHE, &rep->small.open);
	if (ret < 0)
		return ret;
	return sm_fuse_reply_small(rep, sizeof(struct fuse_open_out));
}

/* Open name under dir for CREATE: O_EXCL first, so we know whether we made it (and must own it). */
static int create_open(struct sm_fuse_req *r, int flags, bool *created)
{
	int base = flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
	int fd;

	*created = true;
	fd = sm_fuse_open_beneath(r->ino->fd, r->name, base | O_CREAT | O_EXCL, r->a.create.mode & 07777);
	if (fd < 0 && errno == EEXIST && !(r->a.create.flags & O_EXCL)) {
		*created = false;
		fd = sm_fuse_open_beneath(r->ino->fd, r->name, base, 0);
	}
	return fd < 0 ? -errno : fd;
}

int sm_fuse_op_create(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	cleanup_close int fd = -1;
	cleanup_close int pfd = -1;
	struct fuse_entry_out *e = &rep->small.create.entry;
	struct stat st;
	char name[16];
	bool created;
	int flags, ret;
	int64_t id;

	if (!sm_fuse_name_ok(r->name))
		return -EINVAL;
	if (r->ino->type != S_IFDIR)
		return -ENOTDIR;
	ret = open_flags(r->a.create.flags, &flags);
	if (ret < 0)
		return ret;
	fd = create_open(r, flags, &created);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EACCES; /* an existing FIFO or device: not ours to open */
	if (fcntl(fd, F_SETFL, flags & (O_APPEND | O_NOATIME)) < 0)
		return -errno;
	/* An O_PATH twin of the very file we opened, for the inode table. */
	snprintf(name, sizeof(name), "%d", fd);
	pfd = openat(s->proc_fd, name, O_PATH | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	if (created) {
		ret = sm_fuse_set_owner_mode(s, r->ino, pfd, &st, &r->h, S_IFREG | r->a.create.mode, &st);
		if (ret < 0)
			return ret;
	}
	id = sm_fuse_inode_add_lookup(s, &pfd, &st);
	if (id < 0)
		return (int)id;
	sm_fuse_fill_entry(s, (uint64_t)id, &st, e);
	ret = reply_open(s, &fd, SM_H_FILE, (uint64_t)id, FOPEN_KEEP_CACHE, &rep->small.create.open);
	if (ret < 0) {
		sm_fuse_inode_forget(s, (uint64_t)id, 1);
		return ret;
	}
	return sm_fuse_reply_small(rep, sizeof(rep->small.create));
}

/* ---- data ------------------------------------------------------------------------------------- */

int sm_fuse_op_read(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	const struct fuse_read_in *in = &r->a.read;
	struct sm_fuse_handle *h;
	struct iovec *iov;
	size_t done = 0;
	int n, ret = 0;

	if (in->size > s->cfg.max_write || in->size > rep->out_cap || in->offset > (uint64_t)INT64_MAX)
		return -EINVAL;
	h = sm_fuse_handle_get(s, in->fh, SM_H_FILE);
	if (h == NULL)
		return sm_fuse_handle_error(s, in->fh, SM_H_FILE);
	iov = sm_xmalloc(sizeof(*iov) * SM_FUSE_MAX_IOV);
	/* Read straight into the guest's buffers. */
	if (sm_iov_slice(&rep->out, in->size, iov, SM_FUSE_MAX_IOV, &n) < 0)
		ret = -EINVAL;
	while (ret == 0 && done < in->size) {
		ssize_t got = preadv(h->fd, iov, n, (off_t)(in->offset + done));

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			ret = done > 0 ? 0 : -errno;
			break;
		}
		if (got == 0)
			break;
		done += (size_t)got;
		/* Rare short read before EOF: drop what is filled and go on. */
		while (got > 0 && n > 0) {
			size_t take = (size_t)got < iov[0].iov_len ? (size_t)got : iov[0].iov_len;

			iov[0].iov_base = (uint8_t *)iov[0].iov_base + take;
			iov[0].iov_len -= take;
			got -= (ssize_t)take;
			if (iov[0].iov_len == 0) {
				memmove(iov, iov + 1, (size_t)(n - 1) * sizeof(*iov));
				n--;
			}
		}
	}
	free(iov);
	sm_fuse_handle_put(s, h);
	rep->direct = done;
	return ret;
}

int sm_fuse_op_write(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	const struct fuse_write_in *in = &r->a.write;
	struct sm_fuse_handle *h;
	struct iovec *iov;
	ssize_t put = 0;
	int n, ret = 0;

	if (r->data_len > s->cfg.max_write || in->offset > (uint64_t)INT64_MAX)
		return -EINVAL;
	h = sm_fuse_handle_get(s, in->fh, SM_H_FILE);
	if (h == NULL)
		return sm_fuse_handle_error(s, in->fh, SM_H_FILE);
	iov = sm_xmalloc(sizeof(*iov) * SM_FUSE_MAX_IOV);
	if (sm_iov_slice(&r->data, r->data_len, iov, SM_FUSE_MAX_IOV, &n) < 0)
		ret = -EINVAL;
	if (ret == 0 && n > 0) {
		/* Straight from the guest's buffers; a short write is reported as such. */
		do
			put = pwritev(h->fd, iov, n, (off_t)in->offset);
		while (put < 0 && errno == EINTR);
		if (put < 0)
			ret = -errno;
	}
	free(iov);
	sm_fuse_handle_put(s, h);
	if (ret < 0)
		return ret;
	memset(&rep->small.write, 0, sizeof(rep->small.write));
	rep->small.write.size = (uint32_t)put;
	return sm_fuse_reply_small(rep, sizeof(rep->small.write));
}

static int kind_of(uint32_t opcode)
{
	return opcode == FUSE_RELEASEDIR || opcode == FUSE_FSYNCDIR || opcode == FUSE_READDIR ||
		       opcode == FUSE_READDIRPLUS
		   ? SM_H_DIR
		   : SM_H_FILE;
}

int sm_fuse_op_release(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	return sm_fuse_handle_release(s, r->a.release.fh, kind_of(r->h.opcode));
}

int sm_fuse_op_fsync(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	struct sm_fuse_handle *h = sm_fuse_handle_get(s, r->a.fsync.fh, kind_of(r->h.opcode));
	int ret;

	if (h == NULL)
		return sm_fuse_handle_error(s, r->a.fsync.fh, kind_of(r->h.opcode));
	ret = (r->a.fsync.fsync_flags & FUSE_FSYNC_FDATASYNC) ? fdatasync(h->fd) : fsync(h->fd);
	ret = ret < 0 ? -errno : 0;
	sm_fuse_handle_put(s, h);
	return ret;
}

int sm_fuse_op_flush(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	struct sm_fuse_handle *h = sm_fuse_handle_get(s, r->a.flush.fh, SM_H_FILE);

	/* Nothing is buffered on our side; the guest's close() only needs a valid handle. */
	if (h == NULL)
		return sm_fuse_handle_error(s, r->a.flush.fh, SM_H_FILE);
	sm_fuse_handle_put(s, h);
	return 0;
}

int sm_fuse_op_fallocate(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	const struct fuse_fallocate_in *in = &r->a.fallocate;
	struct sm_fuse_handle *h;
	int ret = 0;

	if (in->offset > (uint64_t)INT64_MAX || in->length > (uint64_t)INT64_MAX)
		return -EINVAL;
	h = sm_fuse_handle_get(s, in->fh, SM_H_FILE);
	if (h == NULL)
		return sm_fuse_handle_error(s, in->fh, SM_H_FILE);
	if (fallocate(h->fd, (int)in->mode, (off_t)in->offset, (off_t)in->length) < 0)
		ret = -errno;
	sm_fuse_handle_put(s, h);
	return ret;
}

int sm_fuse_op_lseek(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	const struct fuse_lseek_in *in = &r->a.lseek;
	struct sm_fuse_handle *h;
	off_t pos;

	if (in->whence != SEEK_SET && in->whence != SEEK_CUR && in->whence != SEEK_END &&
	    in->whence != SEEK_DATA && in->whence != SEEK_HOLE)
		return -EINVAL;
	h = sm_fuse_handle_get(s, in->fh, SM_H_FILE);
	if (h == NULL)
		return sm_fuse_handle_error(s, in->fh, SM_H_FILE);
	/* I/O is positional, so moving the shared file offset disturbs nothing. */
	pos = lseek(h->fd, (off_t)in->offset, (int)in->whence);
	sm_fuse_handle_put(s, h);
	if (pos < 0)
		return -errno;
	memset(&rep->small.lseek, 0, sizeof(rep->small.lseek));
	rep->small.lseek.offset = (uint64_t)pos;
	return sm_fuse_reply_small(rep, sizeof(rep->small.lseek));
}

int sm_fuse_op_copy_file_range(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	const struct fuse_copy_file_range_in *in = &r->a.copy;
	struct sm_fuse_handle *hi, *ho;
	loff_t oi = (loff_t)in->off_in, oo = (loff_t)in->off_out;
	size_t len = in->len < SM_FUSE_COPY_MAX ? (size_t)in->len : SM_FUSE_COPY_MAX;
	ssize_t n = -1;
	int ret = 0;

	if (in->flags != 0 || in->off_in > (uint64_t)INT64_MAX || in->off_out > (uint64_t)INT64_MAX)
		return -EINVAL;
	hi = sm_fuse_handle_get(s, in->fh_in, SM_H_FILE);
	ho = sm_fuse_handle_get(s, in->fh_out, SM_H_FILE);
	if (hi == NULL)
		ret = sm_fuse_handle_error(s, in->fh_in, SM_H_FILE);
	else if (ho == NULL)
		ret = sm_fuse_handle_error(s, in->fh_out, SM_H_FILE);
	else if (ho->nodeid != in->nodeid_out)
		ret = -EBADF;
	else if ((n = copy_file_range(hi->fd, &oi, ho->fd, &oo, len, 0)) < 0)
		ret = -errno;
	sm_fuse_handle_put(s, hi);
	sm_fuse_handle_put(s, ho);
	if (ret < 0)
		return ret;
	memset(&rep->small.write, 0, sizeof(rep->small.write));
	rep->small.write.size = (uint32_t)n;
	return sm_fuse_reply_small(rep, sizeof(rep->small.write));
}

int sm_fuse_op_syncfs(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	cleanup_close int fd = sm_fuse_reopen(s, s->root_fd, O_RDONLY | O_DIRECTORY);

	if (fd < 0)
		return -errno;
	return syncfs(fd) < 0 ? -errno : 0;
}

/* ---- directories ------------------------------------------------------------------------------ */

int sm_fuse_op_opendir(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	cleanup_close int fd = -1;
	int ret;

	if (r->ino->type != S_IFDIR)
		return -ENOTDIR;
	fd = sm_fuse_reopen(s, r->ino->fd, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -errno;
	ret = reply_open(s, &fd, SM_H_DIR, r->ino->nodeid, 0, &rep->small.open);
	if (ret < 0)
		return ret;
	return sm_fuse_reply_small(rep, sizeof(struct fuse_open_out));
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

#define ALIGN8(x) (((x) + 7) & ~(size_t)7)

/* Append one entry (plus its lookup for READDIRPLUS) if it fits; false when the buffer is full. */
static bool emit_dirent(struct sm_fuse_server *s, struct sm_fuse_inode *dir, const struct linux_dirent64 *d,
			bool plus, uint8_t *buf, size_t cap, size_t *used)
{
	size_t namelen = strnlen(d->d_name, SM_FUSE_NAME_MAX + 1);
	size_t head = plus ? sizeof(struct fuse_direntplus) : sizeof(struct fuse_dirent);
	size_t size = ALIGN8(head + namelen);
	struct fuse_dirent de = {0};
	uint8_t *p = buf + *used;

	if (namelen > SM_FUSE_NAME_MAX)
		return true; /* cannot happen on Linux; skip rather than truncate */
	if (size > cap - *used)
		return false;
	if (plus) {
		struct fuse_entry_out e = {0};

		/* "." and "..", and entries that vanished, go out without attributes (nodeid 0). */
		if (dir != NULL && sm_fuse_name_ok(d->d_name) && sm_fuse_do_lookup(s, dir, d->d_name, &e) < 0)
			memset(&e, 0, sizeof(e));
		memcpy(p, &e, sizeof(e));
		p += sizeof(e);
	}
	de.ino = d->d_ino;
	de.off = (uint64_t)d->d_off;
	de.namelen = (uint32_t)namelen;
	de.type = d->d_type;
	memcpy(p, &de, sizeof(de));
	memcpy(p + sizeof(de), d->d_name, namelen);
	*used += size; /* padding stays zero: buf is calloc'ed */
	return true;
}

static int fill_dir(struct sm_fuse_server *s, struct sm_fuse_inode *dir, int fd, uint64_t off, bool plus,
		    uint8_t *buf, size_t cap, size_t *used)
{
	uint8_t *dbuf;
	int ret = 0;

	/* Offsets are the host's d_off cookies: each request starts from the guest's position. */
	if (off > (uint64_t)INT64_MAX || lseek(fd, (off_t)off, SEEK_SET) < 0)
		return off > (uint64_t)INT64_MAX ? -EINVAL : -errno;
	dbuf = sm_xmalloc(32768);
	for (;;) {
		long n = syscall(SYS_getdents64, fd, dbuf, 32768);
		long pos = 0;

		if (n < 0) {
			ret = *used > 0 ? 0 : -errno;
			break;
		}
		if (n == 0)
			break;
		while (pos < n) {
			const struct linux_dirent64 *d = (const void *)(dbuf + pos);

			if (d->d_reclen == 0 || pos + d->d_reclen > n)
				goto out;
			if (!emit_dirent(s, dir, d, plus, buf, cap, used))
				goto out;
			pos += d->d_reclen;
		}
	}
out:
	free(dbuf);
	return ret;
}

int sm_fuse_op_readdir(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	const struct fuse_read_in *in = &r->a.read;
	bool plus = r->h.opcode == FUSE_READDIRPLUS;
	struct sm_fuse_handle *h;
	size_t cap = in->size, used = 0;
	int ret;

	if (cap > rep->out_cap)
		cap = rep->out_cap;
	if (cap > s->cfg.max_write)
		cap = s->cfg.max_write;
	h = sm_fuse_handle_get(s, in->fh, SM_H_DIR);
	if (h == NULL)
		return sm_fuse_handle_error(s, in->fh, SM_H_DIR);
	if (plus && h->nodeid != r->ino->nodeid) {
		sm_fuse_handle_put(s, h);
		return -EBADF;
	}
	rep->heap = sm_xcalloc(1, cap ? cap : 1);
	ret = fill_dir(s, plus ? r->ino : NULL, h->fd, in->offset, plus, rep->heap, cap, &used);
	sm_fuse_handle_put(s, h);
	if (ret < 0)
		return ret;
	rep->data = rep->heap;
	rep->len = used;
	return 0;
}

/* ---- DAX -------------------------------------------------------------------------------------- */

int sm_fuse_op_setupmapping(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	const struct fuse_setupmapping_in *in = &r->a.setupmapping;
	bool writable = in->flags & FUSE_SETUPMAPPING_FLAG_WRITE;
	cleanup_close int fd = -1;
	struct sm_fuse_handle *h = NULL;
	int ret, mfd;

	if (s->dax == NULL)
		return -ENOSYS;
	if ((in->flags & ~(uint64_t)(FUSE_SETUPMAPPING_FLAG_READ | FUSE_SETUPMAPPING_FLAG_WRITE)) ||
	    in->flags == 0)
		return -EINVAL;
	if (r->ino->type != S_IFREG)
		return -EINVAL;
	if (writable && s->cfg.readonly)
		return -EROFS;
	if (in->fh != UINT64_MAX) {
		/* An explicit handle must be one of ours, for this inode. */
		h = sm_fuse_handle_get(s, in->fh, SM_H_FILE);
		if (h == NULL)
			return sm_fuse_handle_error(s, in->fh, SM_H_FILE);
		if (h->nodeid != r->ino->nodeid) {
			sm_fuse_handle_put(s, h);
			return -EBADF;
		}
		mfd = h->fd;
	} else {
		/* Linux sends fh = -1: map the inode itself, opened for what the mapping needs. */
		fd = sm_fuse_reopen(s, r->ino->fd, writable ? O_RDWR : O_RDONLY);
		if (fd < 0)
			return -errno;
		mfd = fd;
	}
	ret = sm_dax_window_map(s->dax, mfd, in->foffset, in->len, in->moffset, writable, r->ino->nodeid,
				r->ino->dev, r->ino->ino, NULL);
	sm_fuse_handle_put(s, h);
	return ret < 0 ? ret : 0;
}

int sm_fuse_op_removemapping(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	uint32_t count = r->a.removemapping.count;

	if (s->dax == NULL)
		return -ENOSYS;
	if (count > REMOVEMAPPING_MAX || r->nbytes != (size_t)count * sizeof(struct fuse_removemapping_one))
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++) {
		struct fuse_removemapping_one one;
		int ret;

		memcpy(&one, r->bytes + (size_t)i * sizeof(one), sizeof(one));
		ret = sm_dax_window_unmap(s->dax, one.moffset, one.len, NULL);
		if (ret < 0)
			return ret;
	}
	return 0;
}
