/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/fuse_testlib.h"

bool ft_setup(struct ft *t, uint64_t dax_size)
{
	struct sm_fuse_config cfg;
	sm_error_t err = SM_ERROR_INIT;

	memset(t, 0, sizeof(*t));
	snprintf(t->top, sizeof(t->top), "/tmp/sm-fuse-XXXXXX");
	if (mkdtemp(t->top) == NULL)
		return false;
	snprintf(t->share, sizeof(t->share), "%s/share", t->top);
	snprintf(t->outside, sizeof(t->outside), "%s/outside", t->top);
	if (mkdir(t->share, 0755) < 0 || mkdir(t->outside, 0755) < 0)
		return false;
	sm_fuse_config_init(&cfg);
	cfg.root = t->share;
	cfg.dax_window_size = dax_size;
	if (sm_fuse_server_new(&cfg, &t->s, &err) < 0) {
		fprintf(stderr, "# server: %s\n", err.msg);
		return false;
	}
	t->unique = 100;
	return true;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	if (flag == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

void ft_teardown(struct ft *t)
{
	sm_fuse_server_free(t->s);
	t->s = NULL;
	if (t->top[0])
		nftw(t->top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *pathbuf(const char *base, const char *rel)
{
	static char bufs[4][512];
	static int next;
	char *b = bufs[next++ & 3];

	snprintf(b, 512, "%s/%s", base, rel);
	return b;
}

const char *ft_path(struct ft *t, const char *rel)
{
	return pathbuf(t->share, rel);
}

const char *ft_out_path(struct ft *t, const char *rel)
{
	return pathbuf(t->outside, rel);
}

static int send_chain(struct ft *t, const struct iovec *in, int nin, void *reply, size_t cap, size_t *len)
{
	sm_error_t err = SM_ERROR_INIT;
	struct iovec out[2] = {{&t->oh, sizeof(t->oh)}, {reply, cap}};

	memset(&t->oh, 0, sizeof(t->oh));
	*len = 0;
	t->handle_ret = sm_fuse_handle(t->s, in, nin, out, reply ? 2 : 1, &t->written, &err);
	if (t->handle_ret < 0) {
		fprintf(stderr, "# sm_fuse_handle: %s\n", err.msg);
		return -9999;
	}
	if (t->written == 0)
		return 0; /* no reply (FORGET) */
	if (t->oh.len != t->written || t->written < sizeof(t->oh))
		return -9998;
	*len = t->written - sizeof(t->oh);
	return t->oh.error;
}

int ft_req(struct ft *t, uint32_t opcode, uint64_t nodeid, const void *arg, size_t argsz, const void *p1,
	   size_t l1, const void *p2, size_t l2, void *reply, size_t cap, size_t *len)
{
	struct fuse_in_header h = {0};
	struct iovec in[4];
	int n = 0, ret;
	size_t dummy;

	h.len = (uint32_t)(sizeof(h) + argsz + l1 + l2);
	h.opcode = opcode;
	h.unique = ++t->unique;
	h.nodeid = nodeid;
	h.uid = t->uid;
	h.gid = t->gid;
	in[n++] = (struct iovec){&h, sizeof(h)};
	if (argsz)
		in[n++] = (struct iovec){(void *)arg, argsz};
	if (l1)
		in[n++] = (struct iovec){(void *)p1, l1};
	if (l2)
		in[n++] = (struct iovec){(void *)p2, l2};
	ret = send_chain(t, in, n, reply, cap, len ? len : &dummy);
	if (t->written && t->oh.unique != h.unique)
		return -9997;
	return ret;
}

int ft_raw(struct ft *t, const void *bytes, size_t n, const size_t *cuts, int ncuts, void *reply, size_t cap,
	   size_t *len)
{
	struct iovec in[16];
	size_t prev = 0;
	int k = 0;

	for (int i = 0; i < ncuts && k < 15; i++) {
		in[k++] = (struct iovec){(uint8_t *)bytes + prev, cuts[i] - prev};
		prev = cuts[i];
	}
	in[k++] = (struct iovec){(uint8_t *)bytes + prev, n - prev};
	return send_chain(t, in, k, reply, cap, len);
}

int ft_init(struct ft *t)
{
	struct fuse_init_in in = {0};
	struct fuse_init_out out;
	size_t len;

	in.major = 7;
	in.minor = 41;
	in.max_readahead = 128 * 1024;
	in.flags = FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_DO_READDIRPLUS | FUSE_MAX_PAGES |
		   FUSE_MAP_ALIGNMENT | FUSE_INIT_EXT | FUSE_POSIX_LOCKS | FUSE_WRITEBACK_CACHE;
	in.flags2 = (uint32_t)(FUSE_HAS_INODE_DAX >> 32) | (uint32_t)(FUSE_SECURITY_CTX >> 32);
	return ft_req(t, FUSE_INIT, 0, &in, sizeof(in), NULL, 0, NULL, 0, &out, sizeof(out), &len);
}

int ft_lookup(struct ft *t, uint64_t parent, const char *name, struct fuse_entry_out *e)
{
	size_t len;

	memset(e, 0, sizeof(*e));
	return ft_req(t, FUSE_LOOKUP, parent, NULL, 0, name, strlen(name) + 1, NULL, 0, e, sizeof(*e), &len);
}

int ft_getattr(struct ft *t, uint64_t nodeid, struct fuse_attr *a)
{
	struct fuse_getattr_in in = {0};
	struct fuse_attr_out out;
	size_t len;
	int r = ft_req(t, FUSE_GETATTR, nodeid, &in, sizeof(in), NULL, 0, NULL, 0, &out, sizeof(out), &len);

	if (r == 0)
		*a = out.attr;
	return r;
}

int ft_open(struct ft *t, uint64_t nodeid, uint32_t flags, uint64_t *fh)
{
	struct fuse_open_in in = {.flags = flags};
	struct fuse_open_out out = {0};
	size_t len;
	int r = ft_req(t, FUSE_OPEN, nodeid, &in, sizeof(in), NULL, 0, NULL, 0, &out, sizeof(out), &len);

	*fh = out.fh;
	return r;
}

int ft_opendir(struct ft *t, uint64_t nodeid, uint64_t *fh)
{
	struct fuse_open_in in = {0};
	struct fuse_open_out out = {0};
	size_t len;
	int r = ft_req(t, FUSE_OPENDIR, nodeid, &in, sizeof(in), NULL, 0, NULL, 0, &out, sizeof(out), &len);

	*fh = out.fh;
	return r;
}

int ft_release(struct ft *t, uint64_t nodeid, uint64_t fh, bool dir)
{
	struct fuse_release_in in = {.fh = fh};
	size_t len;

	return ft_req(t, dir ? FUSE_RELEASEDIR : FUSE_RELEASE, nodeid, &in, sizeof(in), NULL, 0, NULL, 0,
		      NULL, 0, &len);
}

int ft_read(struct ft *t, uint64_t nodeid, uint64_t fh, uint64_t off, uint32_t size, void *buf, size_t *len)
{
	struct fuse_read_in in = {.fh = fh, .offset = off, .size = size};

	return ft_req(t, FUSE_READ, nodeid, &in, sizeof(in), NULL, 0, NULL, 0, buf, size, len);
}

int ft_write(struct ft *t, uint64_t nodeid, uint64_t fh, uint64_t off, const void *data, uint32_t size,
	     uint32_t *written)
{
	struct fuse_write_in in = {.fh = fh, .offset = off, .size = size};
	struct fuse_write_out out = {0};
	size_t len;
	int r = ft_req(t, FUSE_WRITE, nodeid, &in, sizeof(in), data, size, NULL, 0, &out, sizeof(out), &len);

	*written = out.size;
	return r;
}

int ft_create(struct ft *t, uint64_t parent, const char *name, uint32_t flags, uint32_t mode,
	      struct fuse_entry_out *e, uint64_t *fh)
{
	struct fuse_create_in in = {.flags = flags, .mode = mode};
	struct {
		struct fuse_entry_out e;
		struct fuse_open_out o;
	} out;
	size_t len;
	int r;

	memset(&out, 0, sizeof(out));
	r = ft_req(t, FUSE_CREATE, parent, &in, sizeof(in), name, strlen(name) + 1, NULL, 0, &out,
		   sizeof(out), &len);
	*e = out.e;
	*fh = out.o.fh;
	return r;
}

int ft_mkdir(struct ft *t, uint64_t parent, const char *name, uint32_t mode, struct fuse_entry_out *e)
{
	struct fuse_mkdir_in in = {.mode = mode};
	size_t len;

	memset(e, 0, sizeof(*e));
	return ft_req(t, FUSE_MKDIR, parent, &in, sizeof(in), name, strlen(name) + 1, NULL, 0, e, sizeof(*e),
		      &len);
}

int ft_symlink(struct ft *t, uint64_t parent, const char *name, const char *target, struct fuse_entry_out *e)
{
	size_t len;

	memset(e, 0, sizeof(*e));
	return ft_req(t, FUSE_SYMLINK, parent, NULL, 0, name, strlen(name) + 1, target, strlen(target) + 1, e,
		      sizeof(*e), &len);
}

int ft_forget(struct ft *t, uint64_t nodeid, uint64_t n)
{
	struct fuse_forget_in in = {.nlookup = n};
	size_t len;

	return ft_req(t, FUSE_FORGET, nodeid, &in, sizeof(in), NULL, 0, NULL, 0, NULL, 0, &len);
}

long ft_slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return (long)n;
}

bool ft_spit(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t n = strlen(data);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, data, n) == (ssize_t)n;
	close(fd);
	return ok;
}
