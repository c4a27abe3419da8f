/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the virtio-fs session restore (virtiofs/fuse_snapshot.c): the saved INIT
 * parameters, inode and handle tables and DAX mappings read back from a snapshot file, which may be
 * corrupted or crafted. Each input is a fresh server (a 4 MiB DAX window, rooted at a scratch
 * directory) given to sm_fuse_server_restore(); when the restore succeeds, the bytes it did not read
 * are FUSE requests sent to the restored server, as records
 *     [ctl:1][len:2, little endian][len bytes of request]
 * (ctl cuts the request and sizes the reply buffer, as tests/fuzz/fuse_req.h says), so a table the
 * restore left inconsistent shows up when FORGET, RELEASE, READ or REMOVEMAPPING use it.
 *
 * Seeds: `SM_FUZZ_MKSEEDS=DIR ./fuse_session_fuzz` saves real sessions (sm_fuse_server_save after
 * real LOOKUP/OPEN/OPENDIR/SETUPMAPPING requests) followed by a few requests into DIR, then exits;
 * tests/fuzz/corpus/fuse_session/ holds its output.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/fuzz/fuse_req.h"
#include "vmm/virtio/state.h"

#define MAX_RECORDS 32
#define NODE_A 0x100000002ull /* "a" after the first LOOKUP of a fresh server */
#define NODE_D 0x100000003ull
#define NODE_L 0x100000004ull
#define NODE_F 0x100000005ull

static unsigned long runs;
static bool debug; /* SM_FUZZ_DEBUG=1: print what each restore did (to check seeds) */

static void put_file(const char *name, const char *data, size_t len)
{
	char p[128];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", fuse_req_scratch, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
}

/* The tree every restore sees: a (file, 8 KiB), d/ with d/f, l -> /etc/passwd. */
static void populate(void)
{
	static char page[8192];
	char p[128];

	fuse_req_scratch_clear();
	memset(page, 'x', sizeof(page));
	put_file("a", page, sizeof(page));
	snprintf(p, sizeof(p), "%s/d", fuse_req_scratch);
	mkdir(p, 0755);
	put_file("d/f", "f\n", 2);
	snprintf(p, sizeof(p), "%s/l", fuse_req_scratch);
	if (symlink("/etc/passwd", p) < 0)
		abort();
}

/* One request as a record (appended to rec when not NULL) and sent to s (when not NULL). */
static void request(struct sm_fuse_server *s, struct sm_state_buf *rec, uint32_t opcode, uint64_t nodeid,
		    const void *arg, size_t argsz, const char *name)
{
	uint8_t buf[FUSE_REQ_MAX];
	size_t n = fuse_req_build(buf, opcode, nodeid, arg, argsz, name);

	if (s != NULL)
		fuse_req_send(s, buf, n, FUSE_REQ_CTL_WHOLE, false);
	if (rec != NULL) {
		sm_state_put_u8(rec, FUSE_REQ_CTL_WHOLE);
		sm_state_put_u16(rec, (uint16_t)n);
		sm_state_put(rec, buf, n);
	}
}

static void write_seed(const char *dir, const char *name, const struct sm_state_buf *session,
		       const struct sm_state_buf *rec)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	if (f == NULL || fwrite(session->data, 1, session->len, f) != session->len ||
	    (rec->len && fwrite(rec->data, 1, rec->len, f) != rec->len) || fclose(f) != 0)
		abort();
}

/* Requests that use what the seeds' sessions hold: read and release fh 0, unmap, forget. */
static void follow_up(struct sm_state_buf *rec)
{
	struct fuse_read_in rd = {.fh = 0, .offset = 0, .size = 4096};
	struct fuse_release_in rel = {.fh = 0};
	struct fuse_release_in reld = {.fh = 1};
	struct fuse_forget_in fg = {.nlookup = 1};
	struct {
		struct fuse_removemapping_in in;
		struct fuse_removemapping_one one;
	} rm = {{.count = 1}, {.moffset = 0, .len = 4096}};
	struct fuse_getattr_in ga = {0};

	request(NULL, rec, FUSE_READ, NODE_A, &rd, sizeof(rd), NULL);
	request(NULL, rec, FUSE_GETATTR, NODE_F, &ga, sizeof(ga), NULL);
	request(NULL, rec, FUSE_REMOVEMAPPING, NODE_A, &rm, sizeof(rm), NULL);
	request(NULL, rec, FUSE_RELEASE, NODE_A, &rel, sizeof(rel), NULL);
	request(NULL, rec, FUSE_RELEASEDIR, NODE_D, &reld, sizeof(reld), NULL);
	request(NULL, rec, FUSE_FORGET, NODE_L, &fg, sizeof(fg), NULL);
	request(NULL, rec, FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "a");
}

static void make_seeds(const char *dir)
{
	struct fuse_init_in init = fuse_req_init_in();
	struct fuse_open_in op = {.flags = O_RDWR | O_APPEND};
	struct fuse_open_in opd = {.flags = O_RDONLY | O_DIRECTORY};
	struct fuse_setupmapping_in map = {
	    .fh = 0, .foffset = 0, .len = 4096, .flags = FUSE_SETUPMAPPING_FLAG_READ, .moffset = 0};
	struct fuse_setupmapping_in map2 = {.fh = 0,
					    .foffset = 4096,
					    .len = 4096,
					    .flags =
						FUSE_SETUPMAPPING_FLAG_READ | FUSE_SETUPMAPPING_FLAG_WRITE,
					    .moffset = 2u << 20};
	struct sm_state_buf sess, rec;
	struct sm_fuse_server *s = fuse_req_server();
	sm_error_t err = SM_ERROR_INIT;
	char p[128];

	/* Never mounted: just the header and INIT flag. */
	sm_state_buf_init(&sess);
	sm_state_buf_init(&rec);
	if (sm_fuse_server_save(s, &sess, &err) < 0)
		abort();
	write_seed(dir, "uninitialized", &sess, &rec);
	sm_state_buf_free(&sess);

	request(s, NULL, FUSE_INIT, 0, &init, sizeof(init), NULL);
	request(s, NULL, FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "a");
	request(s, NULL, FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "d");
	request(s, NULL, FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "l");
	request(s, NULL, FUSE_LOOKUP, NODE_D, NULL, 0, "f");
	request(s, NULL, FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "a"); /* nlookup 2 */
	request(s, NULL, FUSE_OPEN, NODE_A, &op, sizeof(op), NULL);
	request(s, NULL, FUSE_OPENDIR, NODE_D, &opd, sizeof(opd), NULL);
	request(s, NULL, FUSE_SETUPMAPPING, NODE_A, &map, sizeof(map), NULL);
	request(s, NULL, FUSE_SETUPMAPPING, NODE_A, &map2, sizeof(map2), NULL);

	sm_state_buf_init(&sess);
	if (sm_fuse_server_save(s, &sess, &err) < 0)
		abort();
	write_seed(dir, "mounted", &sess, &rec);
	follow_up(&rec);
	write_seed(dir, "mounted-requests", &sess, &rec);
	sm_state_buf_free(&sess);
	sm_state_buf_free(&rec);

	/* d/f unlinked: saved as lost. */
	snprintf(p, sizeof(p), "%s/d/f", fuse_req_scratch);
	unlink(p);
	sm_state_buf_init(&sess);
	sm_state_buf_init(&rec);
	if (sm_fuse_server_save(s, &sess, &err) < 0)
		abort();
	follow_up(&rec);
	write_seed(dir, "lost-inode", &sess, &rec);
	sm_state_buf_free(&sess);
	sm_state_buf_free(&rec);
	sm_fuse_server_free(s);
	populate();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("SM_FUZZ_MKSEEDS");

	(void)argc;
	(void)argv;
	fuse_req_scratch_init("sm-fuse-session-fuzz", 16);
	debug = getenv("SM_FUZZ_DEBUG") != NULL;
	populate();
	if (seeds != NULL) {
		make_seeds(seeds);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sm_fuse_restore_stats st;
	struct sm_state_reader r;
	struct sm_fuse_server *s;
	sm_error_t err = SM_ERROR_INIT;
	size_t pos;

	signal(SIGXFSZ, SIG_IGN);
	if (++runs % 500 == 0)
		populate(); /* undo what fuzzed requests changed */
	s = fuse_req_server();
	sm_state_reader_init(&r, data, size);
	if (sm_fuse_server_restore(s, &r, &st, &err) < 0) {
		if (debug)
			fprintf(stderr, "restore: %s\n", err.msg);
		sm_fuse_server_free(s);
		return 0;
	}
	if (st.stale_inodes > st.inodes || st.stale_handles > st.handles || st.stale_mappings > st.mappings)
		abort();
	pos = size - sm_state_remaining(&r);
	if (debug)
		fprintf(
		    stderr, "restored: %u inodes (%u stale), %u handles (%u stale), %u mappings (%u stale)\n",
		    st.inodes, st.stale_inodes, st.handles, st.stale_handles, st.mappings, st.stale_mappings);
	fuse_req_records(s, data, size, pos, MAX_RECORDS, debug);
	sm_fuse_server_free(s);
	return 0;
}
