/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Handlers that work on names and inodes: lookup, attributes, creation of nodes, links, renames,
 * xattrs. Every name the guest sends is one validated component resolved with openat2() relative
 * to an O_PATH directory fd we hold; nothing here follows a symlink.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "virtiofs/fuse_internal.h"

/* ---- helpers shared with fuse_ops_file.c ------------------------------------------------------ */

int sm_fuse_open_beneath(int dirfd, const char *name, int flags, mode_t mode)
{
	struct open_how how = {
	    .flags = (uint64_t)(unsigned)flags,
	    .mode = (flags & O_CREAT) ? mode : 0,
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	do
		fd = (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
	while (fd < 0 && errno == EINTR);
	return fd;
}

void sm_fuse_proc_path(int fd, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

int sm_fuse_reopen(struct sm_fuse_server *s, int fd, int flags)
{
	char name[16];

	snprintf(name, sizeof(name), "%d", fd);
	return openat(s->proc_fd, name, flags | O_CLOEXEC);
}

static void split_ms(uint32_t ms, uint64_t *sec, uint32_t *nsec)
{
	*sec = ms / 1000;
	*nsec = (ms % 1000) * 1000000u;
}

void sm_fuse_fill_attr(const struct sm_fuse_server *s, const struct stat *st, struct fuse_attr *a)
{
	unsigned maj = major(st->st_rdev), min = minor(st->st_rdev);

	memset(a, 0, sizeof(*a));
	a->ino = st->st_ino;
	a->size = (uint64_t)st->st_size;
	a->blocks = (uint64_t)st->st_blocks;
	a->atime = (uint64_t)st->st_atim.tv_sec;
	a->mtime = (uint64_t)st->st_mtim.tv_sec;
	a->ctime = (uint64_t)st->st_ctim.tv_sec;
	a->atimensec = (uint32_t)st->st_atim.tv_nsec;
	a->mtimensec = (uint32_t)st->st_mtim.tv_nsec;
	a->ctimensec = (uint32_t)st->st_ctim.tv_nsec;
	a->mode = st->st_mode;
	a->nlink = (uint32_t)st->st_nlink;
	a->uid = st->st_uid;
	a->gid = st->st_gid;
	/* The kernel's new_encode_dev() layout. */
	a->rdev = (min & 0xff) | ((maj & 0xfff) << 8) | ((min & ~0xffu) << 12);
	a->blksize = (uint32_t)st->st_blksize;
	if ((s->flags & FUSE_HAS_INODE_DAX) && S_ISREG(st->st_mode))
		a->flags |= FUSE_ATTR_DAX;
}

void sm_fuse_fill_entry(const struct sm_fuse_server *s, uint64_t nodeid, const struct stat *st,
			struct fuse_entry_out *e)
{
	memset(e, 0, sizeof(*e));
	e->nodeid = nodeid;
	e->generation = nodeid >> 32;
	split_ms(s->cfg.entry_timeout_ms, &e->entry_valid, &e->entry_valid_nsec);
	split_ms(s->cfg.attr_timeout_ms, &e->attr_valid, &e->attr_valid_nsec);
	sm_fuse_fill_attr(s, st, &e->attr);
}

static int stat_fd(int fd, struct stat *st)
{
	return fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/* procfs is full of magic links to host objects: never let the guest in, even if mounted inside. */
static int check_foreign_fs(const struct sm_fuse_server *s, int fd, const struct stat *st)
{
	struct statfs sfs;

	if (st->st_dev == s->root_dev)
		return 0;
	if (fstatfs(fd, &sfs) < 0)
		return -errno;
	return sfs.f_type == PROC_SUPER_MAGIC ? -EACCES : 0;
}

/* Enter the object open as *fdp (O_PATH) into the table and describe it in e. */
static int enter_inode(struct sm_fuse_server *s, int *fdp, struct fuse_entry_out *e)
{
	struct stat st;
	int64_t id;
	int r;

	r = stat_fd(*fdp, &st);
	if (r < 0)
		return r;
	r = check_foreign_fs(s, *fdp, &st);
	if (r < 0)
		return r;
	id = sm_fuse_inode_add_lookup(s, fdp, &st);
	if (id < 0)
		return (int)id;
	sm_fuse_fill_entry(s, (uint64_t)id, &st, e);
	return 0;
}

int sm_fuse_do_lookup(struct sm_fuse_server *s, struct sm_fuse_inode *parent, const char *name,
		      struct fuse_entry_out *e)
{
	cleanup_close int fd = -1;

	if (!sm_fuse_name_ok(name))
		return -EINVAL;
	if (parent->type != S_IFDIR)
		return -ENOTDIR;
	fd = sm_fuse_open_beneath(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	return enter_inode(s, &fd, e);
}

int sm_fuse_set_owner_mode(struct sm_fuse_server *s, struct sm_fuse_inode *parent, int fd,
			   const struct stat *st, const struct fuse_in_header *h, mode_t mode,
			   struct stat *after)
{
	struct stat pst, cur;
	gid_t gid = h->gid;
	mode_t want;
	char name[16];
	int r;

	/* A set-group-ID directory hands its group down (the host kernel already did that). */
	if (stat_fd(parent->fd, &pst) == 0 && (pst.st_mode & S_ISGID))
		gid = st->st_gid;
	if ((st->st_uid != h->uid || st->st_gid != gid) &&
	    fchownat(fd, "", h->uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	r = stat_fd(fd, &cur);
	if (r < 0)
		return r;
	if (!S_ISLNK(cur.st_mode)) {
		/* The guest kernel applied its umask already; the host umask must not apply again. */
		want = mode & 07777;
		if (S_ISDIR(cur.st_mode))
			want |= cur.st_mode & S_ISGID;
		if ((cur.st_mode & 07777) != want) {
			snprintf(name, sizeof(name), "%d", fd);
			if (fchmodat(s->proc_fd, name, want, 0) < 0)
				return -errno;
		}
	}
	return stat_fd(fd, after);
}

/* After mknod/mkdir/symlink created name under parent: own it, enter it, describe it. */
static int finish_new_node(struct sm_fuse_server *s, struct sm_fuse_inode *parent, const char *name,
			   const struct fuse_in_header *h, mode_t mode, struct sm_fuse_reply *rep)
{
	cleanup_close int fd = -1;
	struct stat st, after;
	int r;

	fd = sm_fuse_open_beneath(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = stat_fd(fd, &st);
	if (r < 0)
		return r;
	if ((st.st_mode & S_IFMT) != (mode & S_IFMT))
		return -EIO; /* replaced under us */
	r = sm_fuse_set_owner_mode(s, parent, fd, &st, h, mode, &after);
	if (r < 0)
		return r;
	r = enter_inode(s, &fd, &rep->small.entry);
	if (r < 0)
		return r;
	return sm_fuse_reply_small(rep, sizeof(struct fuse_entry_out));
}

/* ---- handlers --------------------------------------------------------------------------------- */

int sm_fuse_op_lookup(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	struct fuse_entry_out *e = &rep->small.entry;
	int ret = sm_fuse_do_lookup(s, r->ino, r->name, e);

	if (ret == -ENOENT && s->cfg.entry_timeout_ms > 0) {
		/* nodeid 0 with a timeout: the guest caches the miss (PATH searches, ld.so probing). */
		memset(e, 0, sizeof(*e));
		split_ms(s->cfg.entry_timeout_ms, &e->entry_valid, &e->entry_valid_nsec);
		ret = 0;
	}
	if (ret < 0)
		return ret;
	return sm_fuse_reply_small(rep, sizeof(*e));
}

static int reply_attr(struct sm_fuse_server *s, int fd, struct sm_fuse_reply *rep)
{
	struct fuse_attr_out *o = &rep->small.attr;
	struct stat st;
	int r = stat_fd(fd, &st);

	if (r < 0)
		return r;
	memset(o, 0, sizeof(*o));
	split_ms(s->cfg.attr_timeout_ms, &o->attr_valid, &o->attr_valid_nsec);
	sm_fuse_fill_attr(s, &st, &o->attr);
	return sm_fuse_reply_small(rep, sizeof(*o));
}

int sm_fuse_op_getattr(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	return reply_attr(s, r->ino->fd, rep);
}

static int valid_nsec(uint32_t valid, uint32_t flag, uint32_t nsec)
{
	return !(valid & flag) || nsec < 1000000000u;
}

/* Truncate through the guest's handle when it names one, else through a fresh write-only open. */
static int setattr_size(struct sm_fuse_server *s, struct sm_fuse_inode *ino, const struct fuse_setattr_in *in)
{
	struct sm_fuse_handle *h = NULL;
	cleanup_close int fd = -1;
	int ret = 0;

	if (ino->type == S_IFDIR)
		return -EISDIR;
	if (ino->type != S_IFREG)
		return -EINVAL;
	if (in->size > (uint64_t)INT64_MAX)
		return -EFBIG;
	if (in->valid & FATTR_FH) {
		h = sm_fuse_handle_get(s, in->fh, SM_H_FILE);
		if (h == NULL)
			return sm_fuse_handle_error(s, in->fh, SM_H_FILE);
		if (h->nodeid != ino->nodeid) {
			sm_fuse_handle_put(s, h);
			return -EBADF;
		}
		if (ftruncate(h->fd, (off_t)in->size) < 0)
			ret = -errno;
		sm_fuse_handle_put(s, h);
		return ret;
	}
	fd = sm_fuse_reopen(s, ino->fd, O_WRONLY);
	if (fd < 0)
		return -errno;
	return ftruncate(fd, (off_t)in->size) < 0 ? -errno : 0;
}

int sm_fuse_op_setattr(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	const struct fuse_setattr_in *in = &r->a.setattr;
	struct sm_fuse_inode *ino = r->ino;
	uint32_t v = in->valid;
	char name[16];
	int ret;

	if (!valid_nsec(v, FATTR_ATIME, in->atimensec) || !valid_nsec(v, FATTR_MTIME, in->mtimensec))
		return -EINVAL;
	/* Ownership first: chown clears set-ID bits, which a mode in the same request then restores. */
	if (v & (FATTR_UID | FATTR_GID)) {
		uid_t uid = (v & FATTR_UID) ? in->uid : (uid_t)-1;
		gid_t gid = (v & FATTR_GID) ? in->gid : (gid_t)-1;

		if (fchownat(ino->fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}
	if (v & FATTR_MODE) {
		if (ino->type == S_IFLNK)
			return -EOPNOTSUPP;
		snprintf(name, sizeof(name), "%d", ino->fd);
		if (fchmodat(s->proc_fd, name, in->mode & 07777, 0) < 0)
			return -errno;
	}
	if (v & FATTR_SIZE) {
		ret = setattr_size(s, ino, in);
		if (ret < 0)
			return ret;
	}
	if (v & (FATTR_ATIME | FATTR_MTIME)) {
		struct timespec ts[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};

		if (v & FATTR_ATIME)
			ts[0] = (v & FATTR_ATIME_NOW) ? (struct timespec){0, UTIME_NOW}
						      : (struct timespec){(time_t)in->atime, in->atimensec};
		if (v & FATTR_MTIME)
			ts[1] = (v & FATTR_MTIME_NOW) ? (struct timespec){0, UTIME_NOW}
						      : (struct timespec){(time_t)in->mtime, in->mtimensec};
		if (utimensat(ino->fd, "", ts, AT_EMPTY_PATH) < 0)
			return -errno;
	}
	return reply_attr(s, ino->fd, rep);
}

int sm_fuse_op_readlink(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	char *buf;
	ssize_t n;

	if (r->ino->type != S_IFLNK)
		return -EINVAL;
	buf = sm_xmalloc(PATH_MAX);
	rep->heap = buf;
	n = readlinkat(r->ino->fd, "", buf, PATH_MAX);
	if (n < 0)
		return -errno;
	if ((size_t)n > rep->out_cap)
		return -ERANGE;
	rep->data = buf;
	rep->len = (size_t)n;
	return 0;
}

int sm_fuse_op_symlink(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	const char *name = r->name, *target = r->name2;

	if (!sm_fuse_name_ok(name))
		return -EINVAL;
	if (target[0] == '\0' || strlen(target) >= PATH_MAX)
		return -ENAMETOOLONG;
	if (r->ino->type != S_IFDIR)
		return -ENOTDIR;
	/* The target is only data for the guest to resolve in its own namespace. */
	if (symlinkat(target, r->ino->fd, name) < 0)
		return -errno;
	return finish_new_node(s, r->ino, name, &r->h, S_IFLNK | 0777, rep);
}

int sm_fuse_op_mknod(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	const struct fuse_mknod_in *in = &r->a.mknod;
	mode_t mode = in->mode & (S_IFMT | 07777);
	/* new_decode_dev() */
	unsigned maj = (in->rdev & 0xfff00) >> 8, min = (in->rdev & 0xff) | ((in->rdev >> 12) & 0xfff00);

	if ((mode & S_IFMT) == 0)
		mode |= S_IFREG;
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		break;
	default:
		return -EINVAL;
	}
	if (!sm_fuse_name_ok(r->name))
		return -EINVAL;
	if (r->ino->type != S_IFDIR)
		return -ENOTDIR;
	/* Device nodes are for the guest's own devices: the server never opens anything but regular files. */
	if (mknodat(r->ino->fd, r->name, mode, makedev(maj, min)) < 0)
		return -errno;
	return finish_new_node(s, r->ino, r->name, &r->h, mode, rep);
}

int sm_fuse_op_mkdir(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	mode_t mode = S_IFDIR | (r->a.mkdir.mode & 07777);

	if (!sm_fuse_name_ok(r->name))
		return -EINVAL;
	if (r->ino->type != S_IFDIR)
		return -ENOTDIR;
	if (mkdirat(r->ino->fd, r->name, mode & 07777) < 0)
		return -errno;
	return finish_new_node(s, r->ino, r->name, &r->h, mode, rep);
}

static int remove_name(struct sm_fuse_req *r, int flags)
{
	if (!sm_fuse_name_ok(r->name))
		return -EINVAL;
	if (r->ino->type != S_IFDIR)
		return -ENOTDIR;
	return unlinkat(r->ino->fd, r->name, flags) < 0 ? -errno : 0;
}

int sm_fuse_op_unlink(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	return remove_name(r, 0);
}

int sm_fuse_op_rmdir(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	return remove_name(r, AT_REMOVEDIR);
}

int sm_fuse_op_rename(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	bool v2 = r->h.opcode == FUSE_RENAME2;
	uint64_t newdir = v2 ? r->a.rename2.newdir : r->a.rename.newdir;
	unsigned flags = v2 ? r->a.rename2.flags : 0;
	struct sm_fuse_inode *nd;
	int ret = 0;

	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		return -EINVAL;
	if (!sm_fuse_name_ok(r->name) || !sm_fuse_name_ok(r->name2))
		return -EINVAL;
	nd = sm_fuse_inode_get(s, newdir);
	if (nd == NULL)
		return -ESTALE;
	/* Both directories are inodes we hold inside the share; a symlink is never a directory here. */
	if (r->ino->type != S_IFDIR || nd->type != S_IFDIR)
		ret = -ENOTDIR;
	else if (renameat2(r->ino->fd, r->name, nd->fd, r->name2, flags) < 0)
		ret = -errno;
	sm_fuse_inode_put(s, nd);
	return ret;
}

int sm_fuse_op_link(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	struct sm_fuse_inode *old;
	struct stat st;
	char path[32];
	int ret = 0;

	if (!sm_fuse_name_ok(r->name))
		return -EINVAL;
	if (r->ino->type != S_IFDIR)
		return -ENOTDIR;
	old = sm_fuse_inode_get(s, r->a.link.oldnodeid);
	if (old == NULL)
		return -ESTALE;
	if (old->type == S_IFDIR) {
		ret = -EPERM;
	} else if (linkat(old->fd, "", r->ino->fd, r->name, AT_EMPTY_PATH) < 0) {
		ret = -errno;
		/* Without CAP_DAC_READ_SEARCH, link through our own /proc/self/fd entry instead. */
		if (ret == -ENOENT) {
			sm_fuse_proc_path(old->fd, path, sizeof(path));
			ret = linkat(AT_FDCWD, path, r->ino->fd, r->name, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
		}
	}
	if (ret == 0)
		ret = stat_fd(old->fd, &st);
	if (ret == 0 && !sm_fuse_inode_ref_lookup(s, old->nodeid))
		ret = -ESTALE;
	if (ret == 0) {
		sm_fuse_fill_entry(s, old->nodeid, &st, &rep->small.entry);
		sm_fuse_reply_small(rep, sizeof(struct fuse_entry_out));
	}
	sm_fuse_inode_put(s, old);
	return ret;
}

int sm_fuse_op_statfs(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	struct fuse_kstatfs *k = &rep->small.statfs.st;
	struct statfs sfs;

	if (fstatfs(r->ino->fd, &sfs) < 0)
		return -errno;
	memset(&rep->small.statfs, 0, sizeof(rep->small.statfs));
	k->blocks = sfs.f_blocks;
	k->bfree = sfs.f_bfree;
	k->bavail = sfs.f_bavail;
	k->files = sfs.f_files;
	k->ffree = sfs.f_ffree;
	k->bsize = (uint32_t)sfs.f_bsize;
	k->namelen = (uint32_t)sfs.f_namelen;
	k->frsize = (uint32_t)sfs.f_frsize;
	return sm_fuse_reply_small(rep, sizeof(rep->small.statfs));
}

/* Classic owner/group/other check for the requester (virtio-fs guests normally check themselves). */
int sm_fuse_op_access(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	uint32_t mask = r->a.access.mask & (R_OK | W_OK | X_OK);
	struct stat st;
	mode_t bits;
	int ret = stat_fd(r->ino->fd, &st);

	if (ret < 0)
		return ret;
	if (mask == 0)
		return 0;
	if ((mask & W_OK) && s->cfg.readonly)
		return -EROFS;
	if (r->h.uid == 0) {
		/* root may do anything but execute a file nobody may execute */
		if ((mask & X_OK) && !S_ISDIR(st.st_mode) && !(st.st_mode & 0111))
			return -EACCES;
		return 0;
	}
	if (st.st_uid == r->h.uid)
		bits = (st.st_mode >> 6) & 7;
	else if (st.st_gid == r->h.gid)
		bits = (st.st_mode >> 3) & 7;
	else
		bits = st.st_mode & 7;
	return (bits & mask) == mask ? 0 : -EACCES;
}

/* ---- xattrs ----------------------------------------------------------------------------------- */

/* Names the guest may not touch: the host's overlayfs (if the share sits on one) reads these. */
static int xattr_name_check(const char *name)
{
	size_t n = strnlen(name, SM_FUSE_NAME_MAX + 1);

	if (n == 0 || n > SM_FUSE_NAME_MAX)
		return -ERANGE;
	if (strncmp(name, "trusted.overlay.", 16) == 0)
		return -EPERM;
	return 0;
}

int sm_fuse_op_setxattr(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	char path[32];
	int ret = xattr_name_check(r->name);

	if (ret < 0)
		return ret;
	if (r->a.setxattr.flags & ~(uint32_t)(XATTR_CREATE | XATTR_REPLACE))
		return -EINVAL;
	if (r->nbytes > SM_FUSE_XATTR_MAX)
		return -E2BIG;
	sm_fuse_proc_path(r->ino->fd, path, sizeof(path));
	/* The path is our own fd's magic link: it names this inode itself, even a symlink. */
	if (setxattr(path, r->name, r->bytes, r->nbytes, (int)r->a.setxattr.flags) < 0)
		return -errno;
	return 0;
}

/* GETXATTR and LISTXATTR share the size protocol: size 0 asks for the length only. */
static int xattr_reply(struct sm_fuse_reply *rep, uint32_t size,
		       ssize_t (*get)(const char *, const char *, void *, size_t), const char *path,
		       const char *name)
{
	size_t cap;
	ssize_t n;

	if (size == 0) {
		n = get(path, name, NULL, 0);
		if (n < 0)
			return -errno;
		memset(&rep->small.getxattr, 0, sizeof(rep->small.getxattr));
		rep->small.getxattr.size = (uint32_t)n;
		return sm_fuse_reply_small(rep, sizeof(rep->small.getxattr));
	}
	cap = size < SM_FUSE_XATTR_MAX ? size : SM_FUSE_XATTR_MAX;
	if (cap > rep->out_cap)
		return -EINVAL;
	rep->heap = sm_xmalloc(cap);
	n = get(path, name, rep->heap, cap);
	if (n < 0)
		return -errno;
	rep->data = rep->heap;
	rep->len = (size_t)n;
	return 0;
}

static ssize_t get_one(const char *path, const char *name, void *buf, size_t len)
{
	return getxattr(path, name, buf, len);
}

static ssize_t list_all(const char *path, const char *name, void *buf, size_t len)
{
	return listxattr(path, buf, len);
}

int sm_fuse_op_getxattr(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	char path[32];
	int ret = xattr_name_check(r->name);

	if (ret < 0)
		return ret == -EPERM ? -ENODATA : ret;
	sm_fuse_proc_path(r->ino->fd, path, sizeof(path));
	return xattr_reply(rep, r->a.getxattr.size, get_one, path, r->name);
}

int sm_fuse_op_listxattr(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	char path[32];

	sm_fuse_proc_path(r->ino->fd, path, sizeof(path));
	return xattr_reply(rep, r->a.getxattr.size, list_all, path, NULL);
}

int sm_fuse_op_removexattr(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	char path[32];
	int ret = xattr_name_check(r->name);

	if (ret < 0)
		return ret;
	sm_fuse_proc_path(r->ino->fd, path, sizeof(path));
	return removexattr(path, r->name) < 0 ? -errno : 0;
}
