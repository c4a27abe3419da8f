/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshots of a mounted share at the FUSE level: INIT, lookups, open file and directory handles
 * and DAX mappings are saved, the server is freed, and the session is restored into a new server
 * over the same directory and over a copy elsewhere. Old nodeids and fhs keep working without a
 * new INIT, the window maps the same file bytes, a deleted file is stale (ESTALE), and corrupted
 * or hostile saved states (truncations, huge counts, "..", absolute paths, out-of-window ranges,
 * bad ids and flags) are refused before the server changes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/tap.h"
#include "tests/unit/fuse_testlib.h"
#include "virtiofs/dax.h"
#include "vmm/virtio/state.h"

#define WIN (8ull << 20)
#define MB2 (2ull << 20)

static struct ft T;
static char copydir[128];

struct ids {
	uint64_t a, b, c, gone, big;
	uint64_t fh_c, fh_b, fh_gone;
};

static struct sm_fuse_server *new_server(const char *root, uint64_t dax)
{
	struct sm_fuse_config cfg;
	struct sm_fuse_server *s = NULL;
	sm_error_t err = SM_ERROR_INIT;

	sm_fuse_config_init(&cfg);
	cfg.root = root;
	cfg.dax_window_size = dax;
	if (sm_fuse_server_new(&cfg, &s, &err) < 0)
		tap_diag("server: %s", err.msg);
	return s;
}

static bool fill_file(const char *path, char ch, size_t n, const char *head)
{
	char *buf = sm_xmalloc(n);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	bool good;

	memset(buf, ch, n);
	memcpy(buf, head, strlen(head));
	good = fd >= 0 && sm_write_all(fd, buf, n) == 0;
	if (fd >= 0)
		close(fd);
	free(buf);
	return good;
}

static bool make_tree(void)
{
	return mkdir(ft_path(&T, "a"), 0755) == 0 && mkdir(ft_path(&T, "a/b"), 0755) == 0 &&
	       fill_file(ft_path(&T, "a/b/c"), 'c', 8192, "c-data") &&
	       fill_file(ft_path(&T, "a/b/d.txt"), 'd', 100, "d") &&
	       fill_file(ft_path(&T, "gone"), 'g', 4096, "gone") &&
	       fill_file(ft_path(&T, "big"), 'B', 3 * 4096, "big-data") &&
	       ft_spit(ft_out_path(&T, "secret"), "host secret") &&
	       symlink("../outside", ft_path(&T, "lnk")) == 0;
}

static int setupmap(uint64_t nodeid, uint64_t foff, uint64_t len, uint64_t moff, uint64_t flags)
{
	struct fuse_setupmapping_in in = {
	    .fh = UINT64_MAX, .foffset = foff, .len = len, .flags = flags, .moffset = moff};
	size_t rl;

	return ft_req(&T, FUSE_SETUPMAPPING, nodeid, &in, sizeof(in), NULL, 0, NULL, 0, NULL, 0, &rl);
}

/* The session before the snapshot. */
static bool build_session(struct ids *id)
{
	struct fuse_entry_out e;
	bool good = true;

	good &= ft_init(&T) == 0;
	good &= ft_lookup(&T, FUSE_ROOT_ID, "a", &e) == 0;
	id->a = e.nodeid;
	good &= ft_lookup(&T, id->a, "b", &e) == 0;
	id->b = e.nodeid;
	good &= ft_lookup(&T, id->b, "c", &e) == 0;
	id->c = e.nodeid;
	good &= ft_lookup(&T, id->b, "c", &e) == 0 && e.nodeid == id->c; /* nlookup 2 */
	good &= ft_lookup(&T, FUSE_ROOT_ID, "gone", &e) == 0;
	id->gone = e.nodeid;
	good &= ft_lookup(&T, FUSE_ROOT_ID, "big", &e) == 0;
	id->big = e.nodeid;
	good &= ft_open(&T, id->c, O_RDWR, &id->fh_c) == 0;
	good &= ft_opendir(&T, id->b, &id->fh_b) == 0;
	good &= ft_open(&T, id->gone, O_RDONLY, &id->fh_gone) == 0;
	good &= setupmap(id->c, 0, 8192, 0, FUSE_SETUPMAPPING_FLAG_READ | FUSE_SETUPMAPPING_FLAG_WRITE) == 0;
	good &= setupmap(id->big, 4096, 8192, MB2, FUSE_SETUPMAPPING_FLAG_READ) == 0;
	good &= setupmap(id->gone, 0, 4096, 2 * MB2, FUSE_SETUPMAPPING_FLAG_READ) == 0;
	return good;
}

static int restore(struct sm_fuse_server *s, const struct sm_state_buf *b, size_t len,
		   struct sm_fuse_restore_stats *st, sm_error_t *err)
{
	struct sm_state_reader r;

	sm_state_reader_init(&r, b->data, len);
	return sm_fuse_server_restore(s, &r, st, err);
}

static bool dir_has(uint64_t nodeid, uint64_t fh, const char *name)
{
	struct fuse_read_in in = {.fh = fh, .size = 4096};
	uint8_t buf[4096];
	size_t len = 0, pos = 0;

	if (ft_req(&T, FUSE_READDIR, nodeid, &in, sizeof(in), NULL, 0, NULL, 0, buf, sizeof(buf), &len) != 0)
		return false;
	while (pos + sizeof(struct fuse_dirent) <= len) {
		struct fuse_dirent d;

		memcpy(&d, buf + pos, sizeof(d));
		if (d.namelen == strlen(name) && pos + sizeof(d) + d.namelen <= len &&
		    memcmp(buf + pos + sizeof(d), name, d.namelen) == 0)
			return true;
		pos += (sizeof(d) + d.namelen + 7) & ~(size_t)7;
	}
	return false;
}

/* Checks shared by both restores; root is where the restored server lives, head c's first bytes. */
static void check_restored(const struct ids *id, const char *root, const char *head, const char *what)
{
	uint8_t *win = sm_dax_window_base(sm_fuse_server_dax(T.s));
	struct fuse_attr a;
	char buf[64], path[256], host[64];
	size_t len = 0;
	uint32_t wrote = 0;
	int r;

	r = ft_read(&T, id->c, id->fh_c, 0, 16, buf, &len);
	ok(r == 0 && len == 16 && memcmp(buf, head, strlen(head)) == 0,
	   "%s: READ through the old fh returns the file's data (%d)", what, r);
	ok(ft_getattr(&T, id->a, &a) == 0 && S_ISDIR(a.mode) && ft_getattr(&T, id->c, &a) == 0 &&
	       S_ISREG(a.mode) && a.size == 8192,
	   "%s: GETATTR on old nodeids works without a new INIT", what);
	ok(dir_has(id->b, id->fh_b, "c") && dir_has(id->b, id->fh_b, "d.txt"),
	   "%s: READDIR on the old directory handle lists c and d.txt", what);
	ok(memcmp(win, head, strlen(head)) == 0 && memcmp(win + MB2, "BBBB", 4) == 0,
	   "%s: the DAX window maps the same file bytes again", what);
	ok(ft_write(&T, id->c, id->fh_c, 8, "W", 1, &wrote) == 0 && wrote == 1 && win[8] == 'W',
	   "%s: a WRITE through the old fh shows through the writable mapping", what);
	win[9] = 'M';
	snprintf(path, sizeof(path), "%s/a/b/c", root);
	ok(ft_slurp(path, host, sizeof(host)) > 10 && host[8] == 'W' && host[9] == 'M',
	   "%s: stores through the window land in the file below the new root", what);
	ok(win[2 * MB2] == 0 && win[2 * MB2 + 4095] == 0,
	   "%s: the deleted file's DAX range reads as zeros, not a fault", what);
	r = ft_getattr(&T, id->gone, &a);
	ok(r == -ESTALE, "%s: GETATTR on the deleted file's nodeid is ESTALE (%d)", what, r);
	r = ft_read(&T, id->gone, id->fh_gone, 0, 16, buf, &len);
	ok(r == -ESTALE, "%s: READ through the deleted file's fh is ESTALE (%d)", what, r);
	ok(ft_release(&T, id->gone, id->fh_gone, false) == 0 && ft_forget(&T, id->gone, 1) == 0,
	   "%s: RELEASE and FORGET of the stale handle and nodeid work", what);
}

static void test_roundtrip(void)
{
	struct sm_fuse_restore_stats st;
	sm_error_t err = SM_ERROR_INIT;
	struct sm_state_buf b;
	struct fuse_entry_out e;
	struct fuse_attr a;
	struct ids id;
	char cmd[512];
	int r;

	sm_state_buf_init(&b);
	ok(build_session(&id), "INIT, LOOKUP a/b/c, OPEN, OPENDIR, SETUPMAPPING before the snapshot");
	r = sm_fuse_server_save(T.s, &b, &err);
	ok(r == 0 && b.len > 0, "save (%zu bytes)", b.len);
	sm_fuse_server_free(T.s);
	T.s = NULL;
	{
		/* save -> restore -> save gives the same bytes */
		struct sm_fuse_server *s2 = new_server(T.share, WIN);
		struct sm_state_buf b2;

		sm_state_buf_init(&b2);
		r = s2 != NULL && restore(s2, &b, b.len, &st, &err) == 0 && st.stale_inodes == 0 &&
		    sm_fuse_server_save(s2, &b2, &err) == 0;
		ok(r && b2.len == b.len && memcmp(b2.data, b.data, b.len) == 0,
		   "save, restore, save again: the same %zu bytes (%zu)", b.len, b2.len);
		sm_fuse_server_free(s2);
		sm_state_buf_free(&b2);
	}
	ok(unlink(ft_path(&T, "gone")) == 0, "the host deletes a file the guest has open");
	snprintf(copydir, sizeof(copydir), "%s/copy", T.top);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", T.share, copydir);
	ok(system(cmd) == 0 && ft_spit(ft_path(&T, "../copy/a/b/c"), "copy-data") &&
	       truncate(ft_path(&T, "../copy/a/b/c"), 8192) == 0,
	   "a copy of the share elsewhere, with different contents in a/b/c");

	T.s = new_server(T.share, WIN);
	r = T.s != NULL ? restore(T.s, &b, b.len, &st, &err) : -1;
	ok(r == 0, "restore into a new server over the same directory: %s", err.msg);
	ok(st.inodes == 5 && st.stale_inodes == 1 && st.handles == 3 && st.stale_handles == 1 &&
	       st.mappings == 3 && st.stale_mappings == 1,
	   "stats: %u/%u inodes, %u/%u handles, %u/%u mappings stale", st.stale_inodes, st.inodes,
	   st.stale_handles, st.handles, st.stale_mappings, st.mappings);
	check_restored(&id, T.share, "c-data", "same dir");
	ok(ft_lookup(&T, id.b, "c", &e) == 0 && e.nodeid == id.c, "a new LOOKUP finds the restored nodeid");
	ok(ft_lookup(&T, id.b, "d.txt", &e) == 0 && e.nodeid != id.a && e.nodeid != id.b &&
	       e.nodeid != id.c && e.nodeid != id.big && ft_getattr(&T, e.nodeid, &a) == 0 && a.size == 100,
	   "a new LOOKUP gets a fresh nodeid");
	ok(ft_forget(&T, id.c, 3) == 0 && ft_getattr(&T, id.c, &a) == -ESTALE,
	   "the saved lookup count (2, +1) is what FORGET drops");
	sm_error_clear(&err);
	r = restore(T.s, &b, b.len, NULL, &err);
	ok(r < 0 && strstr(err.msg, "already") != NULL, "restore into a used server is refused: %s", err.msg);
	sm_fuse_server_free(T.s);

	sm_error_clear(&err);
	T.s = new_server(copydir, WIN);
	r = T.s != NULL ? restore(T.s, &b, b.len, &st, &err) : -1;
	ok(r == 0 && st.stale_inodes == 1, "restore re-rooted at a copy elsewhere: %s", err.msg);
	check_restored(&id, copydir, "copy-data", "copy");
	ok(ft_slurp(ft_path(&T, "a/b/c"), cmd, sizeof(cmd)) > 0 && strncmp(cmd, "c-data", 6) == 0 &&
	       cmd[8] == 'W' && cmd[9] == 'M',
	   "the original share is untouched by the copy's session");
	sm_fuse_server_free(T.s);
	T.s = NULL;
	sm_state_buf_free(&b);
}

/* A share never mounted (templates): the restored server still expects INIT. */
static void test_unmounted(void)
{
	struct sm_fuse_restore_stats st;
	sm_error_t err = SM_ERROR_INIT;
	struct sm_state_buf b;
	struct fuse_attr a;
	int r;

	sm_state_buf_init(&b);
	T.s = new_server(T.share, WIN);
	ok(T.s != NULL && sm_fuse_server_save(T.s, &b, &err) == 0, "save of a never mounted share");
	sm_fuse_server_free(T.s);
	T.s = new_server(copydir, 0);
	r = T.s != NULL ? restore(T.s, &b, b.len, &st, &err) : -1;
	ok(r == 0 && st.inodes == 0, "restore into a server without DAX over another directory: %s", err.msg);
	ok(ft_getattr(&T, FUSE_ROOT_ID, &a) == -EIO && ft_init(&T) == 0 &&
	       ft_getattr(&T, FUSE_ROOT_ID, &a) == 0,
	   "the restored server wants INIT first, as a fresh one");
	sm_fuse_server_free(T.s);
	T.s = NULL;
	sm_state_buf_free(&b);
}

/* ---- hostile states -------------------------------------------------------------------------- */

/* One inode in slot 2 (generation 1) with path, an optional handle and DAX mapping. */
struct craft {
	uint64_t flags;
	uint32_t max_write, nslots, ninodes, gen_saved, nhslots, nhandles, nmaps;
	uint64_t nodeid, fh, hnode;
	uint8_t kind;
	uint32_t hflags;
	const char *path;
	size_t plen;
	uint64_t moffset, mlen, foffset;
};

static void craft_default(struct craft *c)
{
	memset(c, 0, sizeof(*c));
	c->flags = FUSE_ASYNC_READ | FUSE_MAP_ALIGNMENT;
	c->max_write = 1u << 20;
	c->nslots = 3;
	c->ninodes = 1;
	c->gen_saved = 1;
	c->nodeid = (1ull << 32) | 2;
	c->path = "a/b/c";
	c->plen = 5;
	c->nhslots = 1;
	c->nhandles = 1;
	c->fh = 0;
	c->hnode = c->nodeid;
	c->kind = 1;
	c->hflags = O_RDONLY;
	c->nmaps = 1;
	c->moffset = 0;
	c->mlen = 4096;
	c->foffset = 0;
}

static void craft(const struct craft *c, struct sm_state_buf *b)
{
	sm_state_put_u32(b, 0x53534656u);
	sm_state_put_u32(b, 1);
	sm_state_put_u8(b, 1);
	sm_state_put_u32(b, FUSE_KERNEL_MINOR_VERSION);
	sm_state_put_u64(b, c->flags);
	sm_state_put_u32(b, c->max_write);
	sm_state_put_u32(b, c->nslots);
	for (uint32_t i = 0; i < c->nslots && i < 16; i++)
		sm_state_put_u32(b, i == 2 ? c->gen_saved : 0);
	sm_state_put_u32(b, c->ninodes);
	if (c->ninodes >= 1 && c->ninodes < 16) {
		sm_state_put_u64(b, c->nodeid);
		sm_state_put_u64(b, 1);
		sm_state_put_u32(b, S_IFREG);
		sm_state_put_u8(b, 0);
		sm_state_put_u16(b, (uint16_t)c->plen);
		sm_state_put(b, c->path, c->plen);
	}
	sm_state_put_u32(b, c->nhslots);
	for (uint32_t i = 0; i < c->nhslots && i < 16; i++)
		sm_state_put_u32(b, 0);
	sm_state_put_u32(b, c->nhandles);
	if (c->nhandles == 1) {
		sm_state_put_u64(b, c->fh);
		sm_state_put_u64(b, c->hnode);
		sm_state_put_u8(b, c->kind);
		sm_state_put_u8(b, 0);
		sm_state_put_u32(b, c->hflags);
	}
	sm_state_put_u32(b, c->nmaps);
	if (c->nmaps == 1) {
		sm_state_put_u64(b, c->moffset);
		sm_state_put_u64(b, c->mlen);
		sm_state_put_u64(b, c->foffset);
		sm_state_put_u64(b, c->nodeid);
		sm_state_put_u8(b, 0);
	}
}

/* Restore the crafted state into a fresh server; 0 or -1, the message in err. */
static int try_craft(const struct craft *c, uint64_t dax, struct sm_fuse_restore_stats *st, sm_error_t *err)
{
	struct sm_state_buf b;
	struct fuse_attr a;
	int r;

	sm_state_buf_init(&b);
	craft(c, &b);
	T.s = new_server(T.share, dax);
	sm_error_clear(err);
	r = T.s != NULL ? restore(T.s, &b, b.len, st, err) : -2;
	/* A refused state leaves the server fresh: it still wants INIT. */
	if (r < 0 && T.s != NULL && ft_getattr(&T, FUSE_ROOT_ID, &a) != -EIO)
		r = -3;
	sm_fuse_server_free(T.s);
	T.s = NULL;
	sm_state_buf_free(&b);
	return r;
}

#define REFUSED(field_set, what)                                                                             \
	do {                                                                                                 \
		craft_default(&c);                                                                           \
		field_set;                                                                                   \
		r = try_craft(&c, WIN, NULL, &err);                                                          \
		ok(r == -1, "refused: %s (%d: %s)", what, r, err.msg);                                       \
	} while (0)

static void test_hostile(void)
{
	struct sm_fuse_restore_stats st;
	sm_error_t err = SM_ERROR_INIT;
	struct craft c;
	int r;

	craft_default(&c);
	r = try_craft(&c, WIN, &st, &err);
	ok(r == 0 && st.inodes == 1 && st.stale_inodes == 0 && st.stale_handles == 0 &&
	       st.stale_mappings == 0,
	   "the crafted baseline state restores (%d: %s)", r, err.msg);
	c.path = "lnk/secret";
	c.plen = strlen(c.path);
	r = try_craft(&c, WIN, &st, &err);
	ok(r == 0 && st.stale_inodes == 1 && st.stale_handles == 1 && st.stale_mappings == 1,
	   "a path through a symlink to outside the share is stale, never followed (%d: %s)", r, err.msg);

	REFUSED(c.nslots = UINT32_MAX, "4G inode slots");
	REFUSED(c.nslots = 1u << 24, "16M inode slots (more than max_inodes)");
	REFUSED(c.ninodes = 1u << 30, "a huge inode count");
	REFUSED(c.nhslots = UINT32_MAX, "4G handle slots");
	REFUSED(c.nmaps = 1u << 20, "more DAX mappings than the window has pages");
	REFUSED((c.path = "../outside/secret", c.plen = strlen(c.path)), "a ../ path");
	REFUSED((c.path = "a/../../outside/secret", c.plen = strlen(c.path)), "a path with .. inside");
	REFUSED((c.path = "/etc/passwd", c.plen = strlen(c.path)), "an absolute path");
	REFUSED((c.path = "a//b", c.plen = 4), "an empty component");
	REFUSED((c.path = "a/./b", c.plen = 5), "a . component");
	REFUSED((c.path = "a\0b", c.plen = 3), "a NUL in the path");
	REFUSED((c.path = "", c.plen = 0), "an empty path for a found inode");
	REFUSED(c.nodeid = (2ull << 32) | 2, "a nodeid whose generation differs from its slot's");
	REFUSED((c.nodeid = FUSE_ROOT_ID, c.hnode = FUSE_ROOT_ID), "the root's nodeid as a saved inode");
	REFUSED(c.nodeid = (1ull << 32) | 3, "a nodeid beyond the slots");
	REFUSED(c.gen_saved = 0x80000000u, "a generation out of range");
	REFUSED(c.hflags = O_RDWR | O_CREAT, "a handle with O_CREAT");
	REFUSED(c.hflags = O_RDWR | O_TRUNC, "a handle with O_TRUNC");
	REFUSED(c.hflags = O_ACCMODE, "a handle with access mode 3");
	REFUSED(c.hnode = (1ull << 32) | 7, "a handle on an unsaved nodeid");
	REFUSED(c.kind = 3, "a handle of unknown kind");
	REFUSED(c.fh = 1ull << 32, "a handle with a wrong generation");
	REFUSED(c.moffset = WIN, "a DAX mapping at the window end");
	REFUSED((c.moffset = WIN - 4096, c.mlen = 8192), "a DAX mapping running past the window");
	REFUSED((c.moffset = 4096, c.mlen = UINT64_MAX - 4095), "a DAX mapping whose end overflows");
	REFUSED(c.moffset = 100, "an unaligned DAX mapping");
	REFUSED(c.mlen = 0, "an empty DAX mapping");
	REFUSED(c.foffset = UINT64_MAX - 4095, "a DAX file offset past off_t");
	REFUSED(c.flags |= 1ull << 62, "an INIT flag the server never offers");
	REFUSED(c.max_write = 0, "max_write 0");
	REFUSED(c.max_write = 1u << 30, "max_write 1 GiB");
	craft_default(&c);
	r = try_craft(&c, 0, NULL, &err);
	ok(r == -1, "DAX flags and mappings for a server without a window are refused: %s", err.msg);
	{
		struct sm_state_buf b, cut;
		struct sm_fuse_restore_stats s2;
		size_t bad = 0, i;

		sm_state_buf_init(&b);
		craft_default(&c);
		craft(&c, &b);
		for (i = 0; i < b.len; i++) {
			sm_state_buf_init(&cut);
			sm_state_put(&cut, b.data, i);
			T.s = new_server(T.share, WIN);
			sm_error_clear(&err);
			if (T.s == NULL || restore(T.s, &cut, cut.len, &s2, &err) == 0)
				bad++;
			sm_fuse_server_free(T.s);
			T.s = NULL;
			sm_state_buf_free(&cut);
		}
		ok(bad == 0, "every truncation of a %zu-byte state is refused (%zu accepted)", b.len, bad);
		for (i = 0, bad = 0; i < b.len * 8; i++) {
			/* Flip each bit: whatever is accepted must leave a working server. */
			struct fuse_attr a;

			b.data[i / 8] ^= (uint8_t)(1u << (i % 8));
			T.s = new_server(T.share, WIN);
			sm_error_clear(&err);
			/* (A cleared INIT flag reads as a never mounted share: INIT must then work.) */
			if (T.s != NULL && restore(T.s, &b, b.len, &s2, &err) == 0 &&
			    ft_getattr(&T, FUSE_ROOT_ID, &a) != 0 &&
			    (ft_init(&T) != 0 || ft_getattr(&T, FUSE_ROOT_ID, &a) != 0)) {
				tap_diag("bit %zu: accepted, but the server does not work", i);
				bad++;
			}
			sm_fuse_server_free(T.s);
			T.s = NULL;
			b.data[i / 8] ^= (uint8_t)(1u << (i % 8));
		}
		ok(bad == 0, "every single-bit flip is refused or gives a working server (%zu bad)", bad);
		sm_state_buf_free(&b);
	}
}

int main(void)
{
	if (!ft_setup(&T, WIN))
		tap_skip_all("cannot set up a FUSE server over a temporary directory");
	if (!make_tree()) {
		ft_teardown(&T);
		tap_skip_all("cannot create the test tree");
	}
	test_roundtrip();
	test_unmounted();
	test_hostile();
	ft_teardown(&T);
	return tap_done();
}
