/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the virtio-fs session restore (virtiofs/fuse_snapshot.c): the saved INIT
 * parameters, inode and handle tables and DAX mappings read back from a snapshot file, which may be
 * corrupted or crafted. Each input is a fresh server (a 4 MiB DAX window, rooted at a scratch
 * directory) given to sm_fuse_server_restore(); when the restore succeeds, the bytes it did not read
 * are FUSE requests sent to the restored server, as records
 *     [ctl:1][len:2, little endian][len bytes of request]
 * (ctl bits 6-7: reply buffer size, as in fuse_fuzz.c), so a table the restore left inconsistent
 * shows up when FORGET, RELEASE, READ or REMOVEMAPPING use it.
 *
 * Seeds: `SM_FUZZ_MKSEEDS=DIR ./fuse_session_fuzz` saves real sessions (sm_fuse_server_save after
 * real LOOKUP/OPEN/OPENDIR/SETUPMAPPING requests) followed by a few requests into DIR, then exits;
 * tests/fuzz/corpus/fuse_session/ holds its output.
 */
#include <fcntl.h>
#include <ftw.h>
#include <linux/fuse.h>
#include <sched.h>
#include <signal.h>
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
#include "vmm/virtio/state.h"

#define MAX_RECORDS 32
#define NODE_A 0x100000002ull /* "a" after the first LOOKUP of a fresh server */
#define NODE_D 0x100000003ull
#define NODE_L 0x100000004ull
#define NODE_F 0x100000005ull

static char scratch[64];
static unsigned long runs;
static bool debug; /* SM_FUZZ_DEBUG=1: print what each restore did (to check seeds) */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	if (f->level == 0)
		return 0;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void put_file(const char *name, const char *data, size_t len)
{
	char p[128];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", scratch, name);
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

	nftw(scratch, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	memset(page, 'x', sizeof(page));
	put_file("a", page, sizeof(page));
	snprintf(p, sizeof(p), "%s/d", scratch);
	mkdir(p, 0755);
	put_file("d/f", "f\n", 2);
	snprintf(p, sizeof(p), "%s/l", scratch);
	if (symlink("/etc/passwd", p) < 0)
		abort();
}

static void cleanup(void)
{
	nftw(scratch, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	umount2(scratch, MNT_DETACH);
	rmdir(scratch);
}

static void send_req(struct sm_fuse_server *s, const uint8_t *req, size_t n, uint8_t ctl)
{
	static const size_t out_sizes[4] = {0, 16, 300, 70000};
	static uint8_t out_buf[70000];
	size_t out_size = out_sizes[ctl >> 6], written = 0;
	sm_error_t err = SM_ERROR_INIT;
	uint8_t *copy = malloc(n ? n : 1);
	struct iovec in = {copy, n}, out = {out_buf, out_size};

	memcpy(copy, req, n);
	sm_fuse_handle(s, &in, 1, &out, 1, &written, &err);
	if (written > out_size)
		abort(); /* a reply never exceeds the buffer */
	free(copy);
}

/* One request as a record (appended to rec when not NULL) and sent to s (when not NULL). */
static void request(struct sm_fuse_server *s, struct sm_state_buf *rec, uint32_t opcode, uint64_t nodeid,
		    const void *arg, size_t argsz, const char *name)
{
	uint8_t buf[512];
	struct fuse_in_header h = {0};
	size_t nl = name ? strlen(name) + 1 : 0;

	h.len = (uint32_t)(sizeof(h) + argsz + nl);
	h.opcode = opcode;
	h.unique = 7;
	h.nodeid = nodeid;
	memcpy(buf, &h, sizeof(h));
	if (argsz)
		memcpy(buf + sizeof(h), arg, argsz);
	if (nl)
		memcpy(buf + sizeof(h) + argsz, name, nl);
	if (s != NULL)
		send_req(s, buf, h.len, 0xC0);
	if (rec != NULL) {
		sm_state_put_u8(rec, 0xC0);
		sm_state_put_u16(rec, (uint16_t)h.len);
		sm_state_put(rec, buf, h.len);
	}
}

static struct sm_fuse_server *new_server(void)
{
	struct sm_fuse_config cfg;
	struct sm_fuse_server *s;
	sm_error_t err = SM_ERROR_INIT;

	sm_fuse_config_init(&cfg);
	cfg.root = scratch;
	cfg.dax_window_size = 4u << 20;
	cfg.max_inodes = 4096;
	if (sm_fuse_server_new(&cfg, &s, &err) < 0)
		abort();
	return s;
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
	struct fuse_init_in init = {.major = 7, .minor = 41, .max_readahead = 131072};
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
	struct sm_fuse_server *s = new_server();
	sm_error_t err = SM_ERROR_INIT;
	char p[128];

	/* Never mounted: just the header and INIT flag. */
	sm_state_buf_init(&sess);
	sm_state_buf_init(&rec);
	if (sm_fuse_server_save(s, &sess, &err) < 0)
		abort();
	write_seed(dir, "uninitialized", &sess, &rec);
	sm_state_buf_free(&sess);

	init.flags = FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_DO_READDIRPLUS | FUSE_MAX_PAGES |
		     FUSE_MAP_ALIGNMENT | FUSE_INIT_EXT;
	init.flags2 = (uint32_t)(FUSE_HAS_INODE_DAX >> 32);
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
	snprintf(p, sizeof(p), "%s/d/f", scratch);
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
	struct rlimit fsz = {16u << 20, 16u << 20};
	const char *seeds = getenv("SM_FUZZ_MKSEEDS");

	(void)argc;
	(void)argv;
	snprintf(scratch, sizeof(scratch), "/tmp/sm-fuse-session-fuzz-XXXXXX");
	if (mkdtemp(scratch) == NULL)
		abort();
	/* A private small tmpfs when we may mount; otherwise the file size limit still bounds us. */
	if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0)
		mount("tmpfs", scratch, "tmpfs", 0, "size=32m,mode=0755");
	setrlimit(RLIMIT_FSIZE, &fsz);
	debug = getenv("SM_FUZZ_DEBUG") != NULL;
	atexit(cleanup);
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
	int records = 0;
	size_t pos;

	signal(SIGXFSZ, SIG_IGN);
	if (++runs % 500 == 0)
		populate(); /* undo what fuzzed requests changed */
	s = new_server();
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
	while (pos + 3 <= size && records++ < MAX_RECORDS) {
		uint8_t ctl = data[pos];
		size_t len = (size_t)data[pos + 1] | ((size_t)data[pos + 2] << 8);

		pos += 3;
		if (len > size - pos)
			len = size - pos;
		send_req(s, data + pos, len, ctl);
		pos += len;
	}
	sm_fuse_server_free(s);
	return 0;
}
