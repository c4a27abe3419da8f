/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_TESTS_FUSE_TESTLIB_H
#define SM_TESTS_FUSE_TESTLIB_H

/*
 * Helpers for the FUSE server tests: a temporary directory with a shared subdirectory ("share")
 * and a sibling outside it ("outside"), a server over the share, and a way to send one request
 * built from bytes through sm_fuse_handle() and look at the reply, as the virtio glue would.
 */
#include <linux/fuse.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiofs/fuse_server.h"

struct ft {
	struct sm_fuse_server *s;
	char top[64];	  /* /tmp/sm-fuse-XXXXXX */
	char share[96];	  /* top/share: the server's root */
	char outside[96]; /* top/outside: must stay unreachable */
	uint64_t unique;
	uint32_t uid, gid; /* credentials put in request headers (default 0) */
	/* last reply */
	struct fuse_out_header oh;
	size_t written;
	int handle_ret;
};

/* Make the directories and a server over share (dax_size 0: no window). false on failure. */
bool ft_setup(struct ft *t, uint64_t dax_size);
/* Free the server and remove the directories. */
void ft_teardown(struct ft *t);

/* Host path under the share / outside (static buffer, rotated among 4). */
const char *ft_path(struct ft *t, const char *rel);
const char *ft_out_path(struct ft *t, const char *rel);

/*
 * Build a request (header + arg + up to two byte strings) and send it. The reply payload goes to
 * reply (cap bytes); returns the fuse error (0 or -errno) and sets *len to the payload length.
 */
int ft_req(struct ft *t, uint32_t opcode, uint64_t nodeid, const void *arg, size_t argsz, const void *p1,
	   size_t l1, const void *p2, size_t l2, void *reply, size_t cap, size_t *len);
/* Send raw bytes split into iovecs at the given cut points; reply as ft_req. */
int ft_raw(struct ft *t, const void *bytes, size_t n, const size_t *cuts, int ncuts, void *reply, size_t cap,
	   size_t *len);

int ft_init(struct ft *t);
/* Name strings are sent with their NUL, as the kernel does. */
int ft_lookup(struct ft *t, uint64_t parent, const char *name, struct fuse_entry_out *e);
int ft_getattr(struct ft *t, uint64_t nodeid, struct fuse_attr *a);
int ft_open(struct ft *t, uint64_t nodeid, uint32_t flags, uint64_t *fh);
int ft_opendir(struct ft *t, uint64_t nodeid, uint64_t *fh);
int ft_release(struct ft *t, uint64_t nodeid, uint64_t fh, bool dir);
int ft_read(struct ft *t, uint64_t nodeid, uint64_t fh, uint64_t off, uint32_t size, void *buf, size_t *len);
int ft_write(struct ft *t, uint64_t nodeid, uint64_t fh, uint64_t off, const void *data, uint32_t size,
	     uint32_t *written);
int ft_create(struct ft *t, uint64_t parent, const char *name, uint32_t flags, uint32_t mode,
	      struct fuse_entry_out *e, uint64_t *fh);
int ft_mkdir(struct ft *t, uint64_t parent, const char *name, uint32_t mode, struct fuse_entry_out *e);
int ft_symlink(struct ft *t, uint64_t parent, const char *name, const char *target, struct fuse_entry_out *e);
int ft_forget(struct ft *t, uint64_t nodeid, uint64_t n);

/* Read a host file into buf (NUL-terminated); returns bytes or -1. */
long ft_slurp(const char *path, char *buf, size_t cap);
/* Write a host file. */
bool ft_spit(const char *path, const char *data);

#endif
