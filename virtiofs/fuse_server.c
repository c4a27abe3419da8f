/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Server lifecycle, session state (INIT, DESTROY, FORGET) and the dispatcher: decode a chain,
 * check it against the session, run the handler, write the reply.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "virtiofs/fuse_internal.h"

#define SERVER_FLAGS SM_FUSE_SERVER_FLAGS
#define DAX_FLAGS SM_FUSE_DAX_FLAGS

void sm_fuse_config_init(struct sm_fuse_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_write = 1u << 20;
	cfg->dax_window_size = SM_DAX_DEFAULT_SIZE;
	cfg->entry_timeout_ms = 1000;
	cfg->attr_timeout_ms = 1000;
	cfg->max_inodes = 1u << 20;
}

static int check_config(const struct sm_fuse_config *cfg, sm_error_t *err)
{
	if (cfg->root == NULL || cfg->root[0] == '\0')
		return sm_error_set(err, 0, "virtio-fs: no shared directory given");
	if (cfg->max_write < 4096 || cfg->max_write > (16u << 20) || cfg->max_write % 4096 != 0)
		return sm_error_set(err, 0,
				    "virtio-fs: max_write %u is not a multiple of 4 KiB in [4 KiB, 16 MiB]",
				    cfg->max_write);
	if (cfg->max_inodes == 0 || cfg->max_inodes > (1u << 24))
		return sm_error_set(err, 0, "virtio-fs: max_inodes %u is not in [1, 16M]", cfg->max_inodes);
	return 0;
}

size_t sm_fuse_max_in(uint32_t max_write)
{
	/* Largest request: a full WRITE, or a SETXATTR with a 64 KiB value and names. */
	size_t n = sizeof(struct fuse_in_header) + sizeof(struct fuse_write_in) + max_write;

	if (n < sizeof(struct fuse_in_header) + 8 + 256 + SM_FUSE_XATTR_MAX + 4096)
		n = sizeof(struct fuse_in_header) + 8 + 256 + SM_FUSE_XATTR_MAX + 4096;
	return n;
}

/* openat2() has no glibc wrapper before 2.38-ish; the kernel has it since 5.6. */
static int probe_openat2(int dirfd, sm_error_t *err)
{
	struct open_how how = {.flags = O_PATH | O_CLOEXEC,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
	int fd = (int)syscall(SYS_openat2, dirfd, ".", &how, sizeof(how));

	if (fd < 0)
		return sm_error_set(err, errno,
				    "virtio-fs: openat2() (Linux >= 5.6) is required to confine lookups");
	close(fd);
	return 0;
}

static int open_proc_fd(sm_error_t *err)
{
	cleanup_close int fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct statfs sfs;

	if (fd < 0)
		return sm_error_set(err, errno, "virtio-fs: open /proc/self/fd");
	if (fstatfs(fd, &sfs) < 0)
		return sm_error_set(err, errno, "virtio-fs: statfs /proc/self/fd");
	if (sfs.f_type != PROC_SUPER_MAGIC)
		return sm_error_set(err, 0, "virtio-fs: /proc/self/fd is not on procfs (is /proc mounted?)");
	return steal_fd(&fd);
}

int sm_fuse_server_new(const struct sm_fuse_config *cfg, struct sm_fuse_server **out, sm_error_t *err)
{
	cleanup_close int root = -1;
	cleanup_close int proc = -1;
	struct sm_fuse_server *s;
	struct stat st;
	int r;

	r = check_config(cfg, err);
	if (r < 0)
		return r;
	root = open(cfg->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return sm_error_set(err, errno, "virtio-fs: open shared directory `%s`", cfg->root);
	if (fstat(root, &st) < 0)
		return sm_error_set(err, errno, "virtio-fs: stat shared directory `%s`", cfg->root);
	r = probe_openat2(root, err);
	if (r < 0)
		return r;
	proc = open_proc_fd(err);
	if (proc < 0)
		return proc;

	s = sm_xcalloc(1, sizeof(*s));
	s->cfg = *cfg;
	s->cfg.root = NULL; /* not kept: the caller owns the string */
	s->root_dev = st.st_dev;
	s->max_in = sm_fuse_max_in(cfg->max_write);
	if (cfg->dax_window_size > 0) {
		r = sm_dax_window_new(cfg->dax_window_size, &s->dax, err);
		if (r < 0) {
			free(s);
			return sm_error_prefix(err, "virtio-fs: ");
		}
	}
	pthread_mutex_init(&s->lock, NULL);
	sm_fuse_table_init(&s->t, cfg->max_inodes);
	s->proc_fd = steal_fd(&proc);
	s->root_fd = root; /* the table's root inode owns this fd */
	sm_fuse_table_set_root(s, steal_fd(&root), &st);
	*out = s;
	return 0;
}

void sm_fuse_server_free(struct sm_fuse_server *s)
{
	if (s == NULL)
		return;
	sm_fuse_table_destroy(&s->t); /* closes root_fd too */
	sm_dax_window_free(s->dax);
	close(s->proc_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void session_reset(struct sm_fuse_server *s)
{
	sm_fuse_handles_release_all(s);
	sm_fuse_inodes_forget_all(s);
	if (s->dax != NULL)
		sm_dax_window_unmap_all(s->dax);
}

void sm_fuse_server_reset(struct sm_fuse_server *s)
{
	session_reset(s);
	pthread_mutex_lock(&s->lock);
	s->initialized = false;
	s->flags = 0;
	pthread_mutex_unlock(&s->lock);
}

struct sm_dax_window *sm_fuse_server_dax(struct sm_fuse_server *s)
{
	return s->dax;
}

/* ---- session ops ------------------------------------------------------------------------------ */

static int op_init(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	const struct fuse_init_in *in = &r->a.init;
	struct fuse_init_out *o = &rep->small.init;
	uint64_t offered = in->flags, flags;

	memset(o, 0, sizeof(*o));
	o->major = FUSE_KERNEL_VERSION;
	o->minor = FUSE_KERNEL_MINOR_VERSION;
	if (in->major > FUSE_KERNEL_VERSION)
		return sm_fuse_reply_small(rep, sizeof(*o)); /* the kernel re-sends INIT with our major */
	if (in->major < FUSE_KERNEL_VERSION || in->minor < SM_FUSE_MIN_MINOR)
		return -EPROTO;
	/* A second INIT means the guest restarted its session (reboot without device reset). */
	session_reset(s);
	if ((offered & FUSE_INIT_EXT) && r->argsz_present >= offsetof(struct fuse_init_in, flags2) + 4)
		offered |= (uint64_t)in->flags2 << 32;
	flags = offered & (SERVER_FLAGS | (s->dax != NULL ? DAX_FLAGS : 0));

	o->minor = in->minor < FUSE_KERNEL_MINOR_VERSION ? in->minor : FUSE_KERNEL_MINOR_VERSION;
	o->max_readahead = in->max_readahead;
	o->flags = (uint32_t)flags;
	o->flags2 = (uint32_t)(flags >> 32);
	o->max_background = 64;
	o->congestion_threshold = 48;
	o->max_write = s->cfg.max_write;
	o->time_gran = 1;
	o->max_pages = (uint16_t)(s->cfg.max_write / 4096);
	if (flags & FUSE_MAP_ALIGNMENT)
		o->map_alignment = SM_DAX_MAP_ALIGNMENT_SHIFT;

	pthread_mutex_lock(&s->lock);
	s->initialized = true;
	s->minor = o->minor;
	s->flags = flags;
	pthread_mutex_unlock(&s->lock);
	return sm_fuse_reply_small(rep, sizeof(*o));
}

static int op_destroy(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	sm_fuse_server_reset(s);
	return 0;
}

static int op_forget(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	rep->none = true;
	sm_fuse_inode_forget(s, r->h.nodeid, r->a.forget.nlookup);
	return 0;
}

static int op_batch_forget(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	uint32_t count = r->a.batch_forget.count;

	rep->none = true;
	if (r->nbytes / sizeof(struct fuse_forget_one) < count)
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++) {
		struct fuse_forget_one one;

		memcpy(&one, r->bytes + (size_t)i * sizeof(one), sizeof(one));
		sm_fuse_inode_forget(s, one.nodeid, one.nlookup);
	}
	return 0;
}

static int op_enosys(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	return -ENOSYS;
}

static const sm_fuse_op_fn handlers[] = {
    [FUSE_LOOKUP] = sm_fuse_op_lookup,
    [FUSE_FORGET] = op_forget,
    [FUSE_GETATTR] = sm_fuse_op_getattr,
    [FUSE_SETATTR] = sm_fuse_op_setattr,
    [FUSE_READLINK] = sm_fuse_op_readlink,
    [FUSE_SYMLINK] = sm_fuse_op_symlink,
    [FUSE_MKNOD] = sm_fuse_op_mknod,
    [FUSE_MKDIR] = sm_fuse_op_mkdir,
    [FUSE_UNLINK] = sm_fuse_op_unlink,
    [FUSE_RMDIR] = sm_fuse_op_rmdir,
    [FUSE_RENAME] = sm_fuse_op_rename,
    [FUSE_LINK] = sm_fuse_op_link,
    [FUSE_OPEN] = sm_fuse_op_open,
    [FUSE_READ] = sm_fuse_op_read,
    [FUSE_WRITE] = sm_fuse_op_write,
    [FUSE_STATFS] = sm_fuse_op_statfs,
    [FUSE_RELEASE] = sm_fuse_op_release,
    [FUSE_FSYNC] = sm_fuse_op_fsync,
    [FUSE_SETXATTR] = sm_fuse_op_setxattr,
    [FUSE_GETXATTR] = sm_fuse_op_getxattr,
    [FUSE_LISTXATTR] = sm_fuse_op_listxattr,
    [FUSE_REMOVEXATTR] = sm_fuse_op_removexattr,
    [FUSE_FLUSH] = sm_fuse_op_flush,
    [FUSE_INIT] = op_init,
    [FUSE_OPENDIR] = sm_fuse_op_opendir,
    [FUSE_READDIR] = sm_fuse_op_readdir,
    [FUSE_RELEASEDIR] = sm_fuse_op_release,
    [FUSE_FSYNCDIR] = sm_fuse_op_fsync,
    [FUSE_ACCESS] = sm_fuse_op_access,
    [FUSE_CREATE] = sm_fuse_op_create,
    [FUSE_DESTROY] = op_destroy,
    [FUSE_BATCH_FORGET] = op_batch_forget,
    [FUSE_FALLOCATE] = sm_fuse_op_fallocate,
    [FUSE_READDIRPLUS] = sm_fuse_op_readdir,
    [FUSE_RENAME2] = sm_fuse_op_rename,
    [FUSE_LSEEK] = sm_fuse_op_lseek,
    [FUSE_COPY_FILE_RANGE] = sm_fuse_op_copy_file_range,
    [FUSE_SETUPMAPPING] = sm_fuse_op_setupmapping,
    [FUSE_REMOVEMAPPING] = sm_fuse_op_removemapping,
    [FUSE_SYNCFS] = sm_fuse_op_syncfs,
};

/* ---- dispatch --------------------------------------------------------------------------------- */

/* Write the out header (and, for success, the payload) into the chain's writable part. */
static int send_reply(struct sm_iov_cursor *out, uint64_t unique, int error, struct sm_fuse_reply *rep,
		      size_t *written)
{
	struct fuse_out_header oh = {0};
	size_t payload;

	/* A handler never produces more than the out buffers hold; refuse rather than truncate. */
	if (!error && rep->len > rep->out.remaining)
		error = -EINVAL;
	payload = error ? 0 : rep->direct + rep->len;

	oh.len = (uint32_t)(sizeof(oh) + payload);
	oh.error = error;
	oh.unique = unique;
	sm_iov_write(out, &oh, sizeof(oh)); /* the caller checked room for the header */
	if (!error && rep->len > 0)
		sm_iov_write(&rep->out, rep->data, rep->len);
	*written = oh.len;
	return 0;
}

static int run_op(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep)
{
	uint32_t op = r->h.opcode;
	bool initialized, forget = op == FUSE_FORGET || op == FUSE_BATCH_FORGET;
	sm_fuse_op_fn fn;
	int e;

	if (forget)
		rep->none = true;
	pthread_mutex_lock(&s->lock);
	initialized = s->initialized;
	pthread_mutex_unlock(&s->lock);
	if (!initialized && op != FUSE_INIT)
		return -EIO;
	if (!r->known)
		return -ENOSYS;
	if (r->desc->min_out > rep->out_cap)
		return -EINVAL;
	if (s->cfg.readonly && r->desc->modifies)
		return -EROFS;
	fn = op < SM_ARRAY_SIZE(handlers) && handlers[op] != NULL ? handlers[op] : op_enosys;
	r->ino = NULL;
	if (r->desc->node) {
		r->ino = sm_fuse_inode_get(s, r->h.nodeid);
		if (r->ino == NULL)
			return -ESTALE;
	}
	e = fn(s, r, rep);
	sm_fuse_inode_put(s, r->ino);
	r->ino = NULL;
	return e;
}

int sm_fuse_handle(struct sm_fuse_server *s, const struct iovec *in, int nin, const struct iovec *out,
		   int nout, size_t *written, sm_error_t *err)
{
	size_t in_total = sm_iov_total(in, nin), out_total = sm_iov_total(out, nout);
	struct sm_fuse_reply rep;
	struct sm_iov_cursor oc;
	struct sm_fuse_req *r;
	uint64_t unique;
	int e;

	*written = 0;
	if (in_total == SIZE_MAX || out_total == SIZE_MAX)
		return sm_error_set(err, 0,
				    "virtio-fs: request chain has more than %d buffers or an absurd size",
				    SM_FUSE_MAX_IOV);
	r = sm_xmalloc(sizeof(*r));
	memset(&rep, 0, sizeof(rep));
	sm_iov_cursor_init(&oc, out, nout, out_total);
	rep.out = oc;
	if (sm_iov_skip(&rep.out, sizeof(struct fuse_out_header)) == 0)
		rep.out_cap = rep.out.remaining;
	e = sm_fuse_decode(in, nin, in_total, s->max_in, r);
	if (e == 0)
		e = run_op(s, r, &rep);
	else if (r->h.opcode == FUSE_FORGET || r->h.opcode == FUSE_BATCH_FORGET)
		rep.none = true;
	unique = r->h.unique;
	sm_fuse_req_release(r);
	free(r);
	if (!rep.none && out_total < sizeof(struct fuse_out_header))
		e = sm_error_set(err, 0,
				 "virtio-fs: request %llu: %zu-byte reply buffer cannot hold a header",
				 (unsigned long long)unique, out_total);
	else if (!rep.none)
		e = send_reply(&oc, unique, e, &rep, written);
	else
		e = 0;
	free(rep.heap);
	return e;
}
