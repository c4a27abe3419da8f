/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VIRTIOFS_FUSE_INTERNAL_H
#define SM_VIRTIOFS_FUSE_INTERNAL_H

/*
 * Internals of the FUSE server shared by its files: the request decoder (fuse_decode.c), the
 * inode and handle tables (fuse_table.c), the dispatcher (fuse_server.c) and the op handlers
 * (fuse_ops_node.c, fuse_ops_file.c). Not for use outside virtiofs/.
 */

#include <linux/fuse.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "virtiofs/fuse_server.h"

#define SM_FUSE_MAX_IOV 1024	    /* iovecs per side of one chain */
#define SM_FUSE_INLINE_PAYLOAD 8192 /* names and small payloads are copied here, larger ones to the heap */
#define SM_FUSE_MIN_MINOR 31	    /* oldest protocol we speak: 7.31 (Linux 5.4, first virtio-fs) */
#define SM_FUSE_XATTR_MAX 65536	    /* XATTR_SIZE_MAX */
#define SM_FUSE_NAME_MAX 255
#define SM_FUSE_COPY_MAX (64u << 20) /* bytes per COPY_FILE_RANGE request; a short copy is legal */

/* INIT flags we can honour; the reply carries their intersection with what the guest offers. */
#define SM_FUSE_SERVER_FLAGS                                                                                 \
	((uint64_t)FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES | FUSE_AUTO_INVAL_DATA |          \
	 FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO | FUSE_PARALLEL_DIROPS |               \
	 FUSE_MAX_PAGES | FUSE_CACHE_SYMLINKS | FUSE_INIT_EXT)
/* ...and those offered only with a DAX window. */
#define SM_FUSE_DAX_FLAGS ((uint64_t)FUSE_MAP_ALIGNMENT | FUSE_HAS_INODE_DAX)

/* Largest request accepted for a negotiated max_write. */
size_t sm_fuse_max_in(uint32_t max_write);

/* ---- scatter lists ---------------------------------------------------------------------------- */

/* A read/write position in an iovec array; never goes past the end. */
struct sm_iov_cursor {
	const struct iovec *iov;
	int niov;
	int idx;
	size_t off;	  /* offset inside iov[idx] */
	size_t remaining; /* bytes left from the position to the end */
};

/* Sum of the lengths, or SIZE_MAX when it overflows or niov is out of [0, SM_FUSE_MAX_IOV]. */
size_t sm_iov_total(const struct iovec *iov, int niov);
void sm_iov_cursor_init(struct sm_iov_cursor *c, const struct iovec *iov, int niov, size_t total);
/* Copy len bytes out of / into the scatter list and advance; -EINVAL when fewer bytes remain. */
int sm_iov_read(struct sm_iov_cursor *c, void *dst, size_t len);
int sm_iov_write(struct sm_iov_cursor *c, const void *src, size_t len);
/* Advance by len bytes; -EINVAL when fewer remain. */
int sm_iov_skip(struct sm_iov_cursor *c, size_t len);
/* Describe the next len bytes as at most max iovecs in dst (*n set) and advance; -EINVAL if short. */
int sm_iov_slice(struct sm_iov_cursor *c, size_t len, struct iovec *dst, int max, int *n);

/* ---- decoded requests ------------------------------------------------------------------------- */

enum sm_fuse_payload {
	SM_P_NONE,  /* fixed argument only (extra bytes ignored) */
	SM_P_NAME,  /* argument + one NUL-terminated string filling the rest */
	SM_P_NAME2, /* argument + two NUL-terminated strings filling the rest */
	SM_P_XATTR, /* fuse_setxattr_in + name + value of exactly in.size bytes */
	SM_P_BYTES, /* argument + raw bytes (checked by the handler) */
	SM_P_DATA,  /* fuse_write_in + exactly in.size bytes, left in place in the scatter list */
	SM_P_INIT,  /* fuse_init_in, 16..64 bytes depending on the kernel's version */
};

struct sm_fuse_op_desc {
	uint16_t argsz;	  /* bytes of fixed argument */
	uint8_t payload;  /* enum sm_fuse_payload */
	uint8_t modifies; /* refused on a read-only share */
	uint8_t node;	  /* acts on the inode h.nodeid: the dispatcher borrows it as req->ino */
	uint16_t min_out; /* fixed reply size, checked against the out buffers before acting */
};

/* Shape of opcode's request; unknown opcodes get a header-only descriptor. */
const struct sm_fuse_op_desc *sm_fuse_op_desc(uint32_t opcode, bool *known);

struct sm_fuse_req {
	struct fuse_in_header h;
	union {
		struct fuse_init_in init;
		struct fuse_forget_in forget;
		struct fuse_batch_forget_in batch_forget;
		struct fuse_getattr_in getattr;
		struct fuse_setattr_in setattr;
		struct fuse_mknod_in mknod;
		struct fuse_mkdir_in mkdir;
		struct fuse_rename_in rename;
		struct fuse_rename2_in rename2;
		struct fuse_link_in link;
		struct fuse_open_in open;
		struct fuse_create_in create;
		struct fuse_read_in read;
		struct fuse_write_in write;
		struct fuse_release_in release;
		struct fuse_fsync_in fsync;
		struct fuse_flush_in flush;
		struct fuse_setxattr_in setxattr;
		struct fuse_getxattr_in getxattr;
		struct fuse_access_in access;
		struct fuse_fallocate_in fallocate;
		struct fuse_lseek_in lseek;
		struct fuse_copy_file_range_in copy;
		struct fuse_setupmapping_in setupmapping;
		struct fuse_removemapping_in removemapping;
		uint8_t raw[128];
	} a;
	size_t argsz_present; /* bytes of a actually supplied (INIT only may be short) */
	const char *name;     /* first string (SM_P_NAME, SM_P_NAME2, SM_P_XATTR) */
	const char *name2;    /* second string (SM_P_NAME2) */
	const uint8_t *bytes; /* SM_P_BYTES: raw bytes; SM_P_XATTR: the value */
	size_t nbytes;
	struct sm_iov_cursor data; /* SM_P_DATA: the write payload, in place */
	size_t data_len;
	const struct sm_fuse_op_desc *desc;
	bool known;
	struct sm_fuse_inode *ino; /* borrowed by the dispatcher when desc->node */
	uint8_t *heap;
	uint8_t inline_buf[SM_FUSE_INLINE_PAYLOAD];
};

/*
 * Decode the request in in/nin (in_total bytes, already summed) into req. The header must be
 * complete, its len at least the header, at most max_in and at most in_total; the arguments must
 * have the shape of the opcode. Returns 0, or -EINVAL when malformed; when the header itself was
 * readable req->h is filled either way (so the error reply can carry its unique).
 */
int sm_fuse_decode(const struct iovec *in, int nin, size_t in_total, size_t max_in, struct sm_fuse_req *req);
void sm_fuse_req_release(struct sm_fuse_req *req);

/* A single path component the server may create or look up: not "", ".", "..", no '/', <= 255. */
bool sm_fuse_name_ok(const char *name);

/* ---- inode and handle tables ------------------------------------------------------------------ */

struct sm_fuse_inode {
	uint64_t nodeid;
	int fd; /* O_PATH|O_NOFOLLOW, never a symlink target */
	dev_t dev;
	ino_t ino;
	mode_t type; /* S_IFMT bits; an inode never changes type */
	uint64_t nlookup;
	unsigned refs; /* in-flight users; the fd closes when refs and nlookup are both 0 */
	/* Restored from a snapshot but not found again (fd -1, not hashed): every use is ESTALE,
	 * only FORGET reaches it, so the guest can drop the nodeid. */
	bool stale;
	bool hashed; /* in the (dev, ino) hash */
	struct sm_fuse_inode *hnext;
};

enum sm_fuse_handle_kind { SM_H_FILE = 1, SM_H_DIR = 2 };

struct sm_fuse_handle {
	uint64_t fh;
	uint64_t nodeid;
	int fd;
	int kind;
	unsigned refs;
	bool released;
	bool stale; /* restored but not re-opened (fd -1): I/O on it is ESTALE, RELEASE works */
};

struct sm_fuse_table {
	struct sm_fuse_inode **slots; /* index = low 32 bits of nodeid */
	uint32_t *gens;		      /* generation per slot (high 32 bits of nodeid) */
	uint32_t nslots, cap;
	uint32_t *free_slots;
	uint32_t nfree;
	struct sm_fuse_inode **buckets; /* (dev, ino) hash */
	uint32_t nbuckets, count;
	uint32_t max_inodes;

	struct sm_fuse_handle **handles;
	uint32_t *hgens;
	uint32_t nhandles, hcap;
	uint32_t *free_handles;
	uint32_t nfree_handles;
};

struct sm_fuse_server {
	struct sm_fuse_config cfg;
	int root_fd; /* O_PATH of the shared directory */
	int proc_fd; /* O_PATH of /proc/self/fd, to reopen our own O_PATH fds */
	dev_t root_dev;
	size_t max_in; /* largest request accepted */
	struct sm_dax_window *dax;
	pthread_mutex_t lock; /* tables and session state */
	struct sm_fuse_table t;
	bool initialized;
	uint32_t minor; /* negotiated protocol minor */
	uint64_t flags; /* negotiated FUSE_* init flags */
};

void sm_fuse_table_init(struct sm_fuse_table *t, uint32_t max_inodes);
/* Close everything (root included) and free the arrays. */
void sm_fuse_table_destroy(struct sm_fuse_table *t);
/* Install the root inode as FUSE_ROOT_ID, pinned forever. */
void sm_fuse_table_set_root(struct sm_fuse_server *s, int fd, const struct stat *st);
/*
 * Take a lookup reference on the inode for (st->st_dev, st->st_ino): an existing entry gets
 * nlookup+1 and *fdp stays with the caller; otherwise a new entry adopts *fdp (set to -1). Returns
 * the nodeid, or -ENFILE when the table is full.
 */
int64_t sm_fuse_inode_add_lookup(struct sm_fuse_server *s, int *fdp, const struct stat *st);
/* nlookup+1 on a live inode (LINK); false if it is gone. */
bool sm_fuse_inode_ref_lookup(struct sm_fuse_server *s, uint64_t nodeid);
/* Drop n lookups; the inode closes once unused. Unknown nodeids are ignored. */
void sm_fuse_inode_forget(struct sm_fuse_server *s, uint64_t nodeid, uint64_t n);
/* Borrow a live inode for the duration of a request (NULL if the nodeid is unknown). */
struct sm_fuse_inode *sm_fuse_inode_get(struct sm_fuse_server *s, uint64_t nodeid);
void sm_fuse_inode_put(struct sm_fuse_server *s, struct sm_fuse_inode *ino);
/* Forget every inode but the root (DESTROY, reset). */
void sm_fuse_inodes_forget_all(struct sm_fuse_server *s);

/* Register an open fd as a handle (adopts fd); returns fh, or -EMFILE. */
int64_t sm_fuse_handle_new(struct sm_fuse_server *s, int fd, int kind, uint64_t nodeid);
/* Borrow the handle fh of the given kind (NULL if unknown, stale or another kind). */
struct sm_fuse_handle *sm_fuse_handle_get(struct sm_fuse_server *s, uint64_t fh, int kind);
/* The error for a failed sm_fuse_handle_get(): -ESTALE for a stale restored handle, else -EBADF. */
int sm_fuse_handle_error(struct sm_fuse_server *s, uint64_t fh, int kind);
void sm_fuse_handle_put(struct sm_fuse_server *s, struct sm_fuse_handle *h);
/* Remove fh from the table (RELEASE); the fd closes when the last borrower puts it. */
int sm_fuse_handle_release(struct sm_fuse_server *s, uint64_t fh, int kind);
void sm_fuse_handles_release_all(struct sm_fuse_server *s);

/*
 * Snapshot restore into a fresh table (root only, no handles), under s->lock: size the slot
 * arrays to nslots inode slots / nhslots handle slots with the saved generations (slots 0 and 1
 * keep theirs), install entries at their saved ids, then rebuild the free lists. The caller has
 * validated every id against these sizes and generations and checked there are no duplicates.
 */
void sm_fuse_table_restore_begin(struct sm_fuse_table *t, const uint32_t *gens, uint32_t nslots,
				 const uint32_t *hgens, uint32_t nhslots);
/* Install nodeid; fd < 0 (st unused) makes it stale. Adopts fd. A (dev, ino) already present is
 * not hashed again (the nodeid still works, new lookups get the other one). */
void sm_fuse_table_restore_inode(struct sm_fuse_table *t, uint64_t nodeid, int fd, const struct stat *st,
				 mode_t type, uint64_t nlookup);
/* Install handle fh on nodeid; fd < 0 makes it stale. Adopts fd. */
void sm_fuse_table_restore_handle(struct sm_fuse_table *t, uint64_t fh, uint64_t nodeid, int fd, int kind);
void sm_fuse_table_restore_end(struct sm_fuse_table *t);
/* The inode in slot nodeid, stale ones included (NULL if none); under s->lock. */
struct sm_fuse_inode *sm_fuse_table_find(struct sm_fuse_table *t, uint64_t nodeid);
/* Largest generation value (ids use 31 bits). */
#define SM_FUSE_GEN_MASK 0x7fffffffu

/* ---- replies and handlers --------------------------------------------------------------------- */

struct sm_fuse_reply {
	struct sm_iov_cursor out; /* positioned after the fuse_out_header */
	size_t out_cap;		  /* bytes available for the payload */
	const void *data;	  /* payload to copy */
	size_t len;
	size_t direct; /* payload bytes the handler already wrote through out (READ) */
	bool none;     /* no reply at all (FORGET) */
	void *heap;    /* freed after sending */
	union {
		struct fuse_entry_out entry;
		struct fuse_attr_out attr;
		struct fuse_open_out open;
		struct fuse_write_out write;
		struct fuse_statfs_out statfs;
		struct fuse_init_out init;
		struct fuse_getxattr_out getxattr;
		struct fuse_lseek_out lseek;
		struct {
			struct fuse_entry_out entry;
			struct fuse_open_out open;
		} create;
		uint8_t raw[256];
	} small;
};

typedef int (*sm_fuse_op_fn)(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);

/* Set rep to send len bytes of rep->small. */
static inline int sm_fuse_reply_small(struct sm_fuse_reply *rep, size_t len)
{
	rep->data = &rep->small;
	rep->len = len;
	return 0;
}

/* Shared helpers of the handlers (fuse_ops_node.c). */
void sm_fuse_fill_attr(const struct sm_fuse_server *s, const struct stat *st, struct fuse_attr *a);
void sm_fuse_fill_entry(const struct sm_fuse_server *s, uint64_t nodeid, const struct stat *st,
			struct fuse_entry_out *e);
/* Resolve one name under parent into the table; fills e. ENOENT is returned as -ENOENT. */
int sm_fuse_do_lookup(struct sm_fuse_server *s, struct sm_fuse_inode *parent, const char *name,
		      struct fuse_entry_out *e);
/* openat2(dirfd, name) confined: RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS. */
int sm_fuse_open_beneath(int dirfd, const char *name, int flags, mode_t mode);
/* Open our own O_PATH fd again with real access flags, through /proc/self/fd. */
int sm_fuse_reopen(struct sm_fuse_server *s, int fd, int flags);
/* Path "/proc/self/fd/N" for the xattr calls, which have no *at form. */
void sm_fuse_proc_path(int fd, char *buf, size_t len);
/* Give a new object the requester's ownership and the exact mode (see virtiofs.md). */
int sm_fuse_set_owner_mode(struct sm_fuse_server *s, struct sm_fuse_inode *parent, int fd,
			   const struct stat *st, const struct fuse_in_header *h, mode_t mode,
			   struct stat *after);

int sm_fuse_op_lookup(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_getattr(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_setattr(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_readlink(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_symlink(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_mknod(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_mkdir(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_unlink(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_rmdir(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_rename(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_link(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_statfs(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_access(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_setxattr(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_getxattr(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_listxattr(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_removexattr(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);

int sm_fuse_op_open(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_create(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_read(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_write(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_release(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_fsync(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_flush(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_opendir(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_readdir(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_fallocate(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_lseek(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_copy_file_range(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_setupmapping(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_removemapping(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);
int sm_fuse_op_syncfs(struct sm_fuse_server *s, struct sm_fuse_req *r, struct sm_fuse_reply *rep);

#endif
