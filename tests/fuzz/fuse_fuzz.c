/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the virtio-fs FUSE server: the request decoder and every handler, against
 * a scratch directory. Each input is a fresh server (so a crash reproduces from its input alone)
 * that has seen INIT, then a sequence of records
 *     [ctl:1][len:2, little endian][len bytes of request]
 * where ctl picks how the request is cut into iovecs (bits 0-3) and how big the reply buffer is
 * (bits 6-7). Every request is copied into a heap buffer of exactly its size, so ASan sees any
 * read past it. The scratch directory lives on a small private tmpfs when possible, and file
 * sizes are capped, so fuzzed FALLOCATE/WRITE cannot fill the host's disk.
 *
 * Fixed state after setup, for seeds: "a" (file) is nodeid 0x100000002, "d" (dir) 0x100000003,
 * "a" is open as fh 0 (the next handle is fh 1), the DAX window is 4 MiB.
 */
#include <fcntl.h>
#include <ftw.h>
#include <linux/fuse.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtiofs/fuse_server.h"

#define MAX_RECORDS 64

static char scratch[64];
static bool debug; /* SM_FUSE_FUZZ_DEBUG=1: print each request's outcome (to check seeds) */
static unsigned long runs;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	if (f->level == 0)
		return 0; /* keep the directory (it may be a mount point) */
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void populate(void)
{
	char p[128];
	int fd;

	nftw(scratch, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	snprintf(p, sizeof(p), "%s/a", scratch);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		if (write(fd, "0123456789abcdef", 16) < 0)
			abort();
		close(fd);
	}
	snprintf(p, sizeof(p), "%s/d", scratch);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/d/f", scratch);
	close(open(p, O_WRONLY | O_CREAT, 0600));
	snprintf(p, sizeof(p), "%s/l", scratch);
	symlink("/etc/passwd", p);
}

static void cleanup(void)
{
	nftw(scratch, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	umount2(scratch, MNT_DETACH);
	rmdir(scratch);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct rlimit fsz = {64u << 20, 64u << 20};

	(void)argc;
	(void)argv;
	snprintf(scratch, sizeof(scratch), "/tmp/sm-fuse-fuzz-XXXXXX");
	if (mkdtemp(scratch) == NULL)
		abort();
	/* A private 64 MiB tmpfs when we may mount; otherwise the file size limit still bounds us. */
	if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0)
		mount("tmpfs", scratch, "tmpfs", 0, "size=64m,mode=0755");
	setrlimit(RLIMIT_FSIZE, &fsz);
	debug = getenv("SM_FUSE_FUZZ_DEBUG") != NULL;
	atexit(cleanup);
	populate();
	return 0;
}

static void send(struct sm_fuse_server *s, const uint8_t *req, size_t n, uint8_t ctl)
{
	static const size_t out_sizes[4] = {0, 16, 300, 70000};
	static uint8_t out_buf[70000];
	size_t out_size = out_sizes[ctl >> 6], written;
	int ncuts = ctl & 3, k = 0;
	struct iovec in[4], out[2];
	sm_error_t err = SM_ERROR_INIT;
	uint8_t *copy = malloc(n ? n : 1);
	size_t prev = 0;

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

static void send_struct(struct sm_fuse_server *s, uint32_t opcode, uint64_t nodeid, const void *arg,
			size_t argsz, const char *name)
{
	uint8_t buf[512];
	struct fuse_in_header h = {0};
	size_t nl = name ? strlen(name) + 1 : 0;

	h.len = (uint32_t)(sizeof(h) + argsz + nl);
	h.opcode = opcode;
	h.unique = 1;
	h.nodeid = nodeid;
	memcpy(buf, &h, sizeof(h));
	if (argsz)
		memcpy(buf + sizeof(h), arg, argsz);
	if (nl)
		memcpy(buf + sizeof(h) + argsz, name, nl);
	send(s, buf, h.len, 0xC0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sm_fuse_config cfg;
	struct sm_fuse_server *s;
	sm_error_t err = SM_ERROR_INIT;
	struct fuse_init_in init = {.major = 7, .minor = 41, .max_readahead = 131072};
	struct fuse_open_in op = {.flags = O_RDWR};
	size_t pos = 0;
	int records = 0;

	/* libFuzzer installs its own SIGXFSZ handler; writes past the size cap must just fail (EFBIG). */
	signal(SIGXFSZ, SIG_IGN);
	if (++runs % 500 == 0)
		populate();
	sm_fuse_config_init(&cfg);
	cfg.root = scratch;
	cfg.dax_window_size = 4u << 20;
	cfg.max_inodes = 4096;
	if (sm_fuse_server_new(&cfg, &s, &err) < 0)
		abort();
	init.flags = FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_DO_READDIRPLUS | FUSE_MAX_PAGES |
		     FUSE_MAP_ALIGNMENT | FUSE_INIT_EXT;
	init.flags2 = (uint32_t)(FUSE_HAS_INODE_DAX >> 32);
	send_struct(s, FUSE_INIT, 0, &init, sizeof(init), NULL);
	send_struct(s, FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "a");
	send_struct(s, FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "d");
	send_struct(s, FUSE_OPEN, 0x100000002ull, &op, sizeof(op), NULL);

	while (pos + 3 <= size && records++ < MAX_RECORDS) {
		uint8_t ctl = data[pos];
		size_t len = (size_t)data[pos + 1] | ((size_t)data[pos + 2] << 8);

		pos += 3;
		if (len > size - pos)
			len = size - pos;
		send(s, data + pos, len, ctl);
		pos += len;
	}
	sm_fuse_server_free(s);
	return 0;
}
