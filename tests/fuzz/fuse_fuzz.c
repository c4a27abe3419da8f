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
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/fuzz/fuse_req.h"

#define MAX_RECORDS 64

static bool debug; /* SM_FUSE_FUZZ_DEBUG=1: print each request's outcome (to check seeds) */
static unsigned long runs;

static void populate(void)
{
	char p[128];
	int fd;

	fuse_req_scratch_clear();
	snprintf(p, sizeof(p), "%s/a", fuse_req_scratch);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		if (write(fd, "0123456789abcdef", 16) < 0)
			abort();
		close(fd);
	}
	snprintf(p, sizeof(p), "%s/d", fuse_req_scratch);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/d/f", fuse_req_scratch);
	close(open(p, O_WRONLY | O_CREAT, 0600));
	snprintf(p, sizeof(p), "%s/l", fuse_req_scratch);
	symlink("/etc/passwd", p);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuse_req_scratch_init("sm-fuse-fuzz", 64);
	debug = getenv("SM_FUSE_FUZZ_DEBUG") != NULL;
	populate();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sm_fuse_server *s;
	struct fuse_init_in init = fuse_req_init_in();
	struct fuse_open_in op = {.flags = O_RDWR};

	/* libFuzzer installs its own SIGXFSZ handler; writes past the size cap must just fail (EFBIG). */
	signal(SIGXFSZ, SIG_IGN);
	if (++runs % 500 == 0)
		populate();
	s = fuse_req_server();
	fuse_req_struct(s, FUSE_INIT, 0, &init, sizeof(init), NULL);
	fuse_req_struct(s, FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "a");
	fuse_req_struct(s, FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "d");
	fuse_req_struct(s, FUSE_OPEN, 0x100000002ull, &op, sizeof(op), NULL);
	fuse_req_records(s, data, size, 0, MAX_RECORDS, debug);
	sm_fuse_server_free(s);
	return 0;
}
