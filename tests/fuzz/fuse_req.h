/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the FUSE libFuzzer targets (fuse_fuzz.c, fuse_session_fuzz.c) share: a scratch directory
 * on a small private tmpfs, the server they fuzz, FUSE requests built from structs, and the record
 * format that turns fuzzer input into requests:
 *     [ctl:1][len:2, little endian][len bytes of request]
 * where ctl picks how the request is cut into iovecs (bits 0-3) and how big the reply buffer is
 * (bits 6-7). Header-only: each target is built from one .c file plus the library sources.
 */
#ifndef SM_TESTS_FUZZ_FUSE_REQ_H
#define SM_TESTS_FUZZ_FUSE_REQ_H

#include <fcntl.h>
#include <ftw.h>
#include <linux/fuse.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "virtiofs/fuse_server.h"

/* ctl of a request sent whole with the largest reply buffer (what seeds use). */
#define FUSE_REQ_CTL_WHOLE 0xC0
/* The largest request fuse_req_build() makes. */
#define FUSE_REQ_MAX 512

static char fuse_req_scratch[64];

static inline int fuse_req_rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	if (f->level == 0)
		return 0; /* keep the directory (it may be a mount point) */
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Empties the scratch directory (what fuzzed requests created goes). */
static inline void fuse_req_scratch_clear(void)
{
	nftw(fuse_req_scratch, fuse_req_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void fuse_req_scratch_remove(void)
{
	fuse_req_scratch_clear();
	umount2(fuse_req_scratch, MNT_DETACH);
	rmdir(fuse_req_scratch);
}

/*
 * Creates fuse_req_scratch as /tmp/NAME-XXXXXX, on a private tmpfs of MIB MiB when this process may
 * mount, with file sizes capped at MIB MiB either way (so fuzzed WRITE/FALLOCATE cannot fill the
 * host's disk), and removes it at exit. Aborts on failure (a fuzzer's set-up).
 */
static inline void fuse_req_scratch_init(const char *name, unsigned mib)
{
	struct rlimit fsz = {(rlim_t)mib << 20, (rlim_t)mib << 20};
	char opts[64];

	snprintf(fuse_req_scratch, sizeof(fuse_req_scratch), "/tmp/%s-XXXXXX", name);
	if (mkdtemp(fuse_req_scratch) == NULL)
		abort();
	snprintf(opts, sizeof(opts), "size=%um,mode=0755", mib);
	if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0)
		mount("tmpfs", fuse_req_scratch, "tmpfs", 0, opts);
	setrlimit(RLIMIT_FSIZE, &fsz);
	atexit(fuse_req_scratch_remove);
}

/* A fresh server rooted at the scratch directory, with a 4 MiB DAX window. Aborts on failure. */
static inline struct sm_fuse_server *fuse_req_server(void)
{
	struct sm_fuse_config cfg;
	struct sm_fuse_server *s;
	sm_error_t err = SM_ERROR_INIT;

	sm_fuse_config_init(&cfg);
	cfg.root = fuse_req_scratch;
	cfg.dax_window_size = 4u << 20;
	cfg.max_inodes = 4096;
	if (sm_fuse_server_new(&cfg, &s, &err) < 0)
		abort();
	return s;
}

/* The INIT the guest kernel sends: DAX, READDIRPLUS, large pages. */
static inline struct fuse_init_in fuse_req_init_in(void)
{
	struct fuse_init_in init = {.major = 7, .minor = 41, .max_readahead = 131072};

	init.flags = FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_DO_READDIRPLUS | FUSE_MAX_PAGES |
		     FUSE_MAP_ALIGNMENT | FUSE_INIT_EXT;
	init.flags2 = (uint32_t)(FUSE_HAS_INODE_DAX >> 32);
	return init;
}

/*
 * Sends the N-byte request REQ to S as record control byte CTL says (see the top of this file),
 * from a heap copy of exactly N bytes so ASan sees any read past it. Aborts if the reply is larger
 * than its buffers. DEBUG: print each request's opcode and outcome (to check seeds).
 */
static inline void fuse_req_send(struct sm_fuse_server *s, const uint8_t *req, size_t n, uint8_t ctl,
				 bool debug)
{
	static const size_t out_sizes[4] = {0, 16, 300, 70000};
	static uint8_t out_buf[70000];
	size_t out_size = out_sizes[ctl >> 6], written = 0, prev = 0;
	int ncuts = ctl & 3, k = 0;
	struct iovec in[4], out[2];
	sm_error_t err = SM_ERROR_INIT;
	uint8_t *copy = malloc(n ? n : 1);

	if (copy == NULL)
		abort();
	memcpy(copy, req, n);
	/* Cut points at fixed fractions, steered by ctl bits 2-5. */
	for (int i = 0; i < ncuts; i++) {
		size_t cut = n * (size_t)(((ctl >> 2) & 15) + 1 + i * 5) / 32;

		if (cut < prev || cut > n)
			cut = prev;
		in[k++] = (struct iovec){copy + prev, cut - prev};
		prev = cut;
	}
	in[k++] = (struct iovec){copy + prev, n - prev};
	out[0] = (struct iovec){out_buf, out_size < 16 ? out_size : 16};
	out[1] = (struct iovec){out_buf + 16, out_size > 16 ? out_size - 16 : 0};
	sm_fuse_handle(s, in, k, out, 2, &written, &err);
	if (written > out_size)
		abort(); /* a reply never exceeds the buffers */
	if (debug && n >= 8) {
		uint32_t op, oerr = 0;

		memcpy(&op, copy + 4, 4);
		if (written >= 16)
			memcpy(&oerr, out_buf + 4, 4);
		fprintf(stderr, "opcode %u: %zu-byte reply, error %d\n", op, written, (int)oerr);
	}
	free(copy);
}

/*
 * Writes into BUF (CAP bytes) the request OPCODE numbered UNIQUE on NODEID: the header, ARGSZ bytes
 * of ARG, then EXTRALEN bytes of EXTRA (a name, data). Returns its length; aborts when it does not
 * fit (a test's own mistake). The unit tests build their requests with it too.
 */
static inline size_t fuse_req_put(uint8_t *buf, size_t cap, uint32_t opcode, uint64_t unique, uint64_t nodeid,
				  const void *arg, size_t argsz, const void *extra, size_t extralen)
{
	struct fuse_in_header h = {0};

	if (sizeof(h) + argsz + extralen > cap)
		abort();
	h.len = (uint32_t)(sizeof(h) + argsz + extralen);
	h.opcode = opcode;
	h.unique = unique;
	h.nodeid = nodeid;
	memcpy(buf, &h, sizeof(h));
	if (argsz)
		memcpy(buf + sizeof(h), arg, argsz);
	if (extralen)
		memcpy(buf + sizeof(h) + argsz, extra, extralen);
	return h.len;
}

/*
 * Builds into BUF (FUSE_REQ_MAX bytes) the request OPCODE on NODEID: the header, ARGSZ bytes of ARG,
 * then NAME with its NUL when not NULL. Returns its length.
 */
static inline size_t fuse_req_build(uint8_t *buf, uint32_t opcode, uint64_t nodeid, const void *arg,
				    size_t argsz, const char *name)
{
	return fuse_req_put(buf, FUSE_REQ_MAX, opcode, 1, nodeid, arg, argsz, name,
			    name ? strlen(name) + 1 : 0);
}

/* Builds the request (as fuse_req_build) and sends it whole to S. */
static inline void fuse_req_struct(struct sm_fuse_server *s, uint32_t opcode, uint64_t nodeid,
				   const void *arg, size_t argsz, const char *name)
{
	uint8_t buf[FUSE_REQ_MAX];
	size_t n = fuse_req_build(buf, opcode, nodeid, arg, argsz, name);

	fuse_req_send(s, buf, n, FUSE_REQ_CTL_WHOLE, false);
}

/* Sends the records of DATA[POS..SIZE) to S, at most MAX of them; a short last record is cut. */
static inline void fuse_req_records(struct sm_fuse_server *s, const uint8_t *data, size_t size, size_t pos,
				    int max, bool debug)
{
	int records = 0;

	while (pos + 3 <= size && records++ < max) {
		uint8_t ctl = data[pos];
		size_t len = (size_t)data[pos + 1] | ((size_t)data[pos + 2] << 8);

		pos += 3;
		if (len > size - pos)
			len = size - pos;
		fuse_req_send(s, data + pos, len, ctl, debug);
		pos += len;
	}
}

#endif
