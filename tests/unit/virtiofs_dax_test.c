/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DAX window: reservation rules, FUSE_SETUPMAPPING/REMOVEMAPPING through the server with real
 * files (read through the window, write through a shared writable mapping and see it in the file),
 * range validation, and the mapping records kept for snapshots.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/tap.h"
#include "tests/unit/fuse_testlib.h"

#define WIN (8ull << 20)
#define MB2 (2ull << 20)

static struct ft T;

/* Permissions of the mapping containing addr, from /proc/self/maps ("r--s", "---p", ...). */
static bool perms_of(const void *addr, char out[5])
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	bool found = false;

	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char p[5];

		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 && (unsigned long)addr >= lo &&
		    (unsigned long)addr < hi) {
			memcpy(out, p, 5);
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

static void test_window_rules(void)
{
	struct sm_dax_window *w = NULL;
	sm_error_t err = SM_ERROR_INIT;
	char p[5];
	int r;

	r = sm_dax_window_new(3ull << 20, &w, &err);
	ok(r < 0 && strstr(err.msg, "2 MiB") != NULL, "3 MiB window refused: %s", err.msg);
	r = sm_dax_window_new(0, &w, &err);
	ok(r < 0, "empty window refused");
	r = sm_dax_window_new(WIN, &w, &err);
	ok(r == 0 && ((uintptr_t)sm_dax_window_base(w) & (MB2 - 1)) == 0 && sm_dax_window_size(w) == WIN,
	   "8 MiB window, 2 MiB aligned base %p", r == 0 ? sm_dax_window_base(w) : NULL);
	ok(r == 0 && perms_of(sm_dax_window_base(w), p) && strcmp(p, "---p") == 0,
	   "reserved as PROT_NONE (%s)", p);
	ok(sm_dax_window_mappings(w, NULL, 0) == 0, "no mappings yet");
	sm_dax_window_free(w);
	{
		struct sm_fuse_config cfg;
		struct sm_fuse_server *s = NULL;

		sm_fuse_config_init(&cfg);
		cfg.root = T.share;
		cfg.dax_window_size = 5ull << 20;
		r = sm_fuse_server_new(&cfg, &s, &err);
		ok(r < 0 && strstr(err.msg, "DAX window") != NULL, "server with a bad window size: %s",
		   err.msg);
		sm_fuse_config_init(&cfg);
		ok(cfg.dax_window_size == 512ull << 20, "default window is 512 MiB");
	}
}

static int setup(uint64_t nodeid, uint64_t fh, uint64_t foff, uint64_t len, uint64_t moff, uint64_t flags)
{
	struct fuse_setupmapping_in in = {
	    .fh = fh, .foffset = foff, .len = len, .flags = flags, .moffset = moff};
	size_t rl;

	return ft_req(&T, FUSE_SETUPMAPPING, nodeid, &in, sizeof(in), NULL, 0, NULL, 0, NULL, 0, &rl);
}

static int removemap(const struct fuse_removemapping_one *one, uint32_t count, uint32_t claimed)
{
	struct fuse_removemapping_in in = {.count = claimed};
	size_t rl;

	return ft_req(&T, FUSE_REMOVEMAPPING, FUSE_ROOT_ID, &in, sizeof(in), one, count * sizeof(*one), NULL,
		      0, NULL, 0, &rl);
}

/* SETUPMAPPING requests that must be refused without touching the window. */
static void test_bad_ranges(uint64_t id)
{
	ok(setup(id, UINT64_MAX, 0, 4096, 100, FUSE_SETUPMAPPING_FLAG_READ) == -EINVAL, "unaligned moffset");
	ok(setup(id, UINT64_MAX, 100, 4096, 0, FUSE_SETUPMAPPING_FLAG_READ) == -EINVAL, "unaligned foffset");
	ok(setup(id, UINT64_MAX, 0, 100, 0, FUSE_SETUPMAPPING_FLAG_READ) == -EINVAL, "unaligned length");
	ok(setup(id, UINT64_MAX, 0, 0, 0, FUSE_SETUPMAPPING_FLAG_READ) == -EINVAL, "empty length");
	ok(setup(id, UINT64_MAX, 0, 4096, WIN, FUSE_SETUPMAPPING_FLAG_READ) == -EINVAL,
	   "moffset at the window end");
	ok(setup(id, UINT64_MAX, 0, 2 * MB2, WIN - MB2, FUSE_SETUPMAPPING_FLAG_READ) == -EINVAL,
	   "range running past the window end");
	ok(setup(id, UINT64_MAX, 0, UINT64_MAX - 4095, 4096, FUSE_SETUPMAPPING_FLAG_READ) == -EINVAL,
	   "moffset+len overflow");
	ok(setup(id, UINT64_MAX, UINT64_MAX - 4095, 4096, 0, FUSE_SETUPMAPPING_FLAG_READ) == -EINVAL,
	   "foffset+len overflow");
	ok(setup(id, UINT64_MAX, 0, 4096, 0, 0) == -EINVAL, "no access flags");
	ok(setup(id, UINT64_MAX, 0, 4096, 0, 1u << 5) == -EINVAL, "unknown flag");
	ok(setup(FUSE_ROOT_ID, UINT64_MAX, 0, 4096, 0, FUSE_SETUPMAPPING_FLAG_READ) == -EINVAL,
	   "a directory");
	ok(setup(id + (1ull << 40), UINT64_MAX, 0, 4096, 0, FUSE_SETUPMAPPING_FLAG_READ) == -ESTALE,
	   "a stale nodeid");
}

static void test_map(void)
{
	struct sm_dax_window *w = sm_fuse_server_dax(T.s);
	uint8_t *base = sm_dax_window_base(w);
	struct sm_dax_mapping maps[8];
	struct fuse_entry_out e;
	struct fuse_init_in in = {.major = 7, .minor = 41, .flags = FUSE_MAP_ALIGNMENT | FUSE_INIT_EXT};
	struct fuse_init_out out = {0};
	char page[4096 * 2], buf[64];
	uint64_t id, fh;
	size_t len, n;
	char p[5];
	int r;

	in.flags2 = (uint32_t)(FUSE_HAS_INODE_DAX >> 32);
	r = ft_req(&T, FUSE_INIT, 0, &in, sizeof(in), NULL, 0, NULL, 0, &out, sizeof(out), &len);
	ok(r == 0 && (out.flags & FUSE_MAP_ALIGNMENT) && out.map_alignment == 12 &&
	       (out.flags2 & (uint32_t)(FUSE_HAS_INODE_DAX >> 32)),
	   "INIT with a window: MAP_ALIGNMENT 2^12 and per-inode DAX (%d)", r);

	memset(page, 0, sizeof(page));
	memcpy(page, "hello", 5);
	memcpy(page + 4096, "world", 5);
	{
		FILE *f = fopen(ft_path(&T, "daxfile"), "w");

		fwrite(page, 1, sizeof(page), f);
		fclose(f);
	}
	r = ft_lookup(&T, FUSE_ROOT_ID, "daxfile", &e);
	id = e.nodeid;
	ok(r == 0 && (e.attr.flags & FUSE_ATTR_DAX), "regular files are marked FUSE_ATTR_DAX");

	r = setup(id, UINT64_MAX, 0, 8192, MB2, FUSE_SETUPMAPPING_FLAG_READ);
	ok(r == 0, "SETUPMAPPING read-only, fh -1 as Linux sends it (%d)", r);
	ok(r == 0 && memcmp(base + MB2, "hello", 5) == 0 && memcmp(base + MB2 + 4096, "world", 5) == 0,
	   "file contents visible through the window");
	ok(perms_of(base + MB2, p) && strcmp(p, "r--s") == 0, "mapped r--s (%s)", p);
	n = sm_dax_window_mappings(w, maps, 8);
	ok(n == 1 && maps[0].moffset == MB2 && maps[0].len == 8192 && maps[0].foffset == 0 &&
	       maps[0].nodeid == id && !maps[0].writable,
	   "mapping recorded (%zu)", n);

	r = setup(id, UINT64_MAX, 4096, 4096, 2 * MB2,
		  FUSE_SETUPMAPPING_FLAG_READ | FUSE_SETUPMAPPING_FLAG_WRITE);
	ok(r == 0, "SETUPMAPPING read-write at file offset 4096 (%d)", r);
	if (r == 0) {
		memcpy(base + 2 * MB2 + 8, "DAXW", 4);
		{
			int fd = open(ft_path(&T, "daxfile"), O_RDONLY);

			r = (int)pread(fd, buf, 12, 4096);
			close(fd);
		}
		ok(r == 12 && memcmp(buf, "worldDAX", 5) == 0 && memcmp(buf + 8, "DAXW", 4) == 0,
		   "a store through the window is in the file");
	}

	ok(ft_open(&T, id, O_RDONLY, &fh) == 0, "open a handle");
	r = setup(id, fh, 0, 4096, 3 * MB2, FUSE_SETUPMAPPING_FLAG_READ);
	ok(r == 0 && memcmp(base + 3 * MB2, "hello", 5) == 0, "SETUPMAPPING through an explicit handle (%d)",
	   r);
	r = setup(id, fh, 0, 4096, 3 * MB2, FUSE_SETUPMAPPING_FLAG_WRITE);
	ok(r == -EACCES, "writable mapping through a read-only handle refused (%d)", r);
	r = setup(id, fh + 99, 0, 4096, 3 * MB2, FUSE_SETUPMAPPING_FLAG_READ);
	ok(r == -EBADF, "unknown handle (%d)", r);
	r = setup(FUSE_ROOT_ID, fh, 0, 4096, 3 * MB2, FUSE_SETUPMAPPING_FLAG_READ);
	ok(r == -EINVAL || r == -EBADF, "handle of another inode / a directory (%d)", r);

	test_bad_ranges(id);
	ok(sm_dax_window_mappings(w, NULL, 0) == 3, "failed requests left the records alone");

	{
		struct fuse_removemapping_one one[2] = {{MB2, 8192}, {2 * MB2, 4096}};

		r = removemap(one, 2, 2);
		ok(r == 0 && perms_of(base + MB2, p) && strcmp(p, "---p") == 0,
		   "REMOVEMAPPING back to PROT_NONE (%d)", r);
		n = sm_dax_window_mappings(w, maps, 8);
		ok(n == 1 && maps[0].moffset == 3 * MB2, "records follow (%zu left)", n);
		ok(removemap(one, 1, 2) == -EINVAL, "count larger than the entries sent");
		one[0].moffset = 5;
		ok(removemap(one, 1, 1) == -EINVAL, "unaligned REMOVEMAPPING");
		one[0].moffset = WIN - 4096;
		one[0].len = 8192;
		ok(removemap(one, 1, 1) == -EINVAL, "REMOVEMAPPING past the window end");
		ok(removemap(one, 0, 300) == -EINVAL, "count above the kernel's page-sized maximum");
	}

	/* records: overlap replaces, partial unmap splits */
	r = setup(id, UINT64_MAX, 0, 16384, 0, FUSE_SETUPMAPPING_FLAG_READ);
	r |= setup(id, UINT64_MAX, 0, 4096, 8192, FUSE_SETUPMAPPING_FLAG_READ);
	{
		struct fuse_removemapping_one one = {4096, 4096};

		r |= removemap(&one, 1, 1);
	}
	n = sm_dax_window_mappings(w, maps, 8);
	ok(r == 0 && n == 4 && maps[0].moffset == 0 && maps[0].len == 4096 && maps[1].moffset == 8192 &&
	       maps[1].len == 4096 && maps[1].foffset == 0 && maps[2].moffset == 12288 &&
	       maps[2].len == 4096 && maps[2].foffset == 12288,
	   "overlapping map replaces, partial unmap splits (%zu records)", n);

	ft_release(&T, id, fh, false);
	r = ft_req(&T, FUSE_DESTROY, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, &len);
	ok(r == 0 && sm_dax_window_mappings(w, NULL, 0) == 0 && perms_of(base + 3 * MB2, p) &&
	       strcmp(p, "---p") == 0,
	   "DESTROY unmaps everything");
}

int main(void)
{
	if (!ft_setup(&T, WIN))
		tap_skip_all("cannot set up a temporary share with a DAX window");
	test_window_rules();
	test_map();
	ft_teardown(&T);
	return tap_done();
}
