/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Saving and restoring the FUSE session for snapshots: the negotiated INIT parameters, the inode
 * table by path below the share root, the open handles and the DAX mappings. The restore parses
 * and validates everything before touching the server, then re-opens what it can and marks the
 * rest stale. See docs/design/virtiofs.md ("Snapshots").
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "virtiofs/fuse_internal.h"
#include "vmm/virtio/state.h"

#define SESSION_MAGIC 0x53534656u /* "VFSS" */
#define SESSION_VERSION 1u
#define SAVED_PATH_MAX 4095
#define INODE_REC_MIN (8 + 8 + 4 + 1 + 2)
#define HANDLE_REC (8 + 8 + 1 + 1 + 4)
#define MAP_REC (8 + 8 + 8 + 8 + 1)
/* open(2) flags a handle keeps across a restore; never creation or truncation. */
#define HANDLE_FLAGS (O_ACCMODE | O_APPEND | O_SYNC | O_DSYNC | O_NOATIME)

struct rinode {
	uint64_t nodeid, nlookup;
	uint32_t type;
	bool lost;
	char *path;
};

struct rhandle {
	uint64_t fh, nodeid;
	uint8_t kind;
	bool stale;
	uint32_t flags;
};

struct rmap {
	uint64_t moffset, len, foffset, nodeid;
	bool writable;
};

struct session {
	uint8_t initialized;
	uint32_t minor, max_write;
	uint64_t flags;
	uint32_t nslots, nhslots, ninodes, nhandles, nmaps;
	uint32_t *gens, *hgens;
	uint8_t *used; /* per inode slot: 1 when a record names it */
	struct rinode *inodes;
	struct rhandle *handles;
	struct rmap *maps;
};

static void session_free(struct session *p)
{
	for (uint32_t i = 0; p->inodes != NULL && i < p->ninodes; i++)
		free(p->inodes[i].path);
	free(p->gens);
	free(p->hgens);
	free(p->used);
	free(p->inodes);
	free(p->handles);
	free(p->maps);
	memset(p, 0, sizeof(*p));
}

/*
 * A relative path the restore may resolve: 1..4095 bytes, no NUL, not absolute, components
 * non-empty, at most 255 bytes and never "." or "..". openat2's RESOLVE_BENEATH would refuse an
 * escape anyway; refusing early names the corruption.
 */
static bool path_ok(const char *p, size_t len)
{
	size_t start = 0;

	if (len == 0 || len > SAVED_PATH_MAX || memchr(p, '\0', len) != NULL || p[0] == '/')
		return false;
	while (start <= len) {
		const char *slash = memchr(p + start, '/', len - start);
		size_t end = slash != NULL ? (size_t)(slash - p) : len, n = end - start;

		if (n == 0 || n > SM_FUSE_NAME_MAX || (n == 1 && p[start] == '.') ||
		    (n == 2 && p[start] == '.' && p[start + 1] == '.'))
			return false;
		start = end + 1;
	}
	return true;
}

/* ---- save ------------------------------------------------------------------------------------- */

static ssize_t fd_link(struct sm_fuse_server *s, int fd, char *buf, size_t cap)
{
	char name[16];
	ssize_t n;

	snprintf(name, sizeof(name), "%d", fd);
	n = readlinkat(s->proc_fd, name, buf, cap - 1);
	if (n <= 0 || (size_t)n >= cap - 1)
		return -1;
	buf[n] = '\0';
	return n;
}

/*
 * The path of ino relative to the share root (root, rootlen: the root's own path), re-resolved
 * the way a restore will and checked to be the same object: an unlinked file (" (deleted)"), a
 * file moved out of the share or a path from another mount namespace all come out as lost
 * (returns false).
 */
static bool inode_path(struct sm_fuse_server *s, const struct sm_fuse_inode *ino, const char *root,
		       ssize_t rootlen, char *buf, size_t cap, const char **rel, size_t *rellen)
{
	struct stat st;
	ssize_t n;
	int fd, r;

	if (ino->stale || ino->fd < 0 || rootlen <= 0)
		return false;
	n = fd_link(s, ino->fd, buf, cap);
	if (n < 0)
		return false;
	if (rootlen == 1) { /* the share is "/" */
		*rel = buf + 1;
	} else {
		if (n <= rootlen + 1 || memcmp(buf, root, (size_t)rootlen) != 0 || buf[rootlen] != '/')
			return false;
		*rel = buf + rootlen + 1;
	}
	*rellen = strlen(*rel);
	if (!path_ok(*rel, *rellen))
		return false;
	fd = sm_fuse_open_beneath(s->root_fd, *rel, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0)
		return false;
	r = fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
	close(fd);
	return r == 0 && st.st_dev == ino->dev && st.st_ino == ino->ino;
}

static void save_inodes(struct sm_fuse_server *s, struct sm_state_buf *b)
{
	struct sm_fuse_table *t = &s->t;
	char root[PATH_MAX], *buf = sm_xmalloc(PATH_MAX);
	ssize_t rootlen = fd_link(s, s->root_fd, root, sizeof(root));
	uint32_t n = 0;

	sm_state_put_u32(b, t->nslots);
	for (uint32_t i = 0; i < t->nslots; i++)
		sm_state_put_u32(b, t->gens[i]);
	for (uint32_t i = 2; i < t->nslots; i++)
		n += t->slots[i] != NULL && t->slots[i]->nlookup > 0;
	sm_state_put_u32(b, n);
	for (uint32_t i = 2; i < t->nslots; i++) {
		const struct sm_fuse_inode *ino = t->slots[i];
		const char *rel = NULL;
		size_t rellen = 0;
		bool found;

		if (ino == NULL || ino->nlookup == 0)
			continue;
		found = inode_path(s, ino, root, rootlen, buf, PATH_MAX, &rel, &rellen);
		sm_state_put_u64(b, ino->nodeid);
		sm_state_put_u64(b, ino->nlookup);
		sm_state_put_u32(b, ino->type);
		sm_state_put_u8(b, !found);
		sm_state_put_u16(b, found ? (uint16_t)rellen : 0);
		if (found)
			sm_state_put(b, rel, rellen);
	}
	free(buf);
}

static void save_handles(struct sm_fuse_server *s, struct sm_state_buf *b)
{
	struct sm_fuse_table *t = &s->t;
	uint32_t n = 0;

	sm_state_put_u32(b, t->nhandles);
	for (uint32_t i = 0; i < t->nhandles; i++)
		sm_state_put_u32(b, t->hgens[i]);
	for (uint32_t i = 0; i < t->nhandles; i++)
		n += t->handles[i] != NULL && !t->handles[i]->released;
	sm_state_put_u32(b, n);
	for (uint32_t i = 0; i < t->nhandles; i++) {
		const struct sm_fuse_handle *h = t->handles[i];
		int fl = 0;

		if (h == NULL || h->released)
			continue;
		if (!h->stale && h->kind == SM_H_FILE) {
			fl = fcntl(h->fd, F_GETFL);
			fl = fl < 0 ? 0 : fl & HANDLE_FLAGS;
		}
		sm_state_put_u64(b, h->fh);
		sm_state_put_u64(b, h->nodeid);
		sm_state_put_u8(b, (uint8_t)h->kind);
		sm_state_put_u8(b, h->stale);
		sm_state_put_u32(b, (uint32_t)fl);
	}
}

static void save_maps(struct sm_fuse_server *s, struct sm_state_buf *b)
{
	struct sm_dax_mapping *maps;
	size_t n = s->dax != NULL ? sm_dax_window_mappings(s->dax, NULL, 0) : 0;

	maps = sm_xcalloc(n ? n : 1, sizeof(*maps));
	if (n > 0 && sm_dax_window_mappings(s->dax, maps, n) < n)
		n = sm_dax_window_mappings(s->dax, maps, n); /* fewer now: cannot happen while paused */
	sm_state_put_u32(b, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		sm_state_put_u64(b, maps[i].moffset);
		sm_state_put_u64(b, maps[i].len);
		sm_state_put_u64(b, maps[i].foffset);
		sm_state_put_u64(b, maps[i].nodeid);
		sm_state_put_u8(b, maps[i].writable);
	}
	free(maps);
}

int sm_fuse_server_save(struct sm_fuse_server *s, struct sm_state_buf *b, sm_error_t *err)
{
	(void)err;
	sm_state_put_u32(b, SESSION_MAGIC);
	sm_state_put_u32(b, SESSION_VERSION);
	pthread_mutex_lock(&s->lock);
	sm_state_put_u8(b, s->initialized);
	if (s->initialized) {
		sm_state_put_u32(b, s->minor);
		sm_state_put_u64(b, s->flags);
		sm_state_put_u32(b, s->cfg.max_write);
		save_inodes(s, b);
		save_handles(s, b);
	}
	pthread_mutex_unlock(&s->lock);
	if (s->initialized)
		save_maps(s, b);
	return 0;
}

/* ---- parse (no side effects) ------------------------------------------------------------------ */

/* A count of records of at least recsize bytes each: at most max and no more than remain. */
static int get_count(struct sm_state_reader *r, uint32_t *n, uint64_t max, size_t recsize, const char *what,
		     sm_error_t *err)
{
	if (sm_state_get_u32(r, n, err) < 0)
		return -1;
	if (*n > max || (uint64_t)*n * recsize > sm_state_remaining(r))
		return sm_error_set(err, 0, "%u %s: more than %llu or than the %zu bytes left", *n, what,
				    (unsigned long long)max, sm_state_remaining(r));
	return 0;
}

static int get_gens(struct sm_state_reader *r, uint32_t **out, uint32_t n, sm_error_t *err)
{
	uint32_t *g = sm_xcalloc(n ? n : 1, sizeof(*g));

	*out = g;
	for (uint32_t i = 0; i < n; i++) {
		if (sm_state_get_u32(r, &g[i], err) < 0)
			return -1;
		if (g[i] > SM_FUSE_GEN_MASK)
			return sm_error_set(err, 0, "slot %u: generation %#x out of range", i, g[i]);
	}
	return 0;
}

static bool type_ok(uint32_t t)
{
	return t == S_IFREG || t == S_IFDIR || t == S_IFLNK || t == S_IFCHR || t == S_IFBLK || t == S_IFIFO ||
	       t == S_IFSOCK;
}

static int parse_inode(struct sm_state_reader *r, struct session *p, struct rinode *ri, sm_error_t *err)
{
	uint32_t slot, gen;
	uint16_t plen = 0;
	uint8_t lost = 0;

	if (sm_state_get_u64(r, &ri->nodeid, err) < 0 || sm_state_get_u64(r, &ri->nlookup, err) < 0 ||
	    sm_state_get_u32(r, &ri->type, err) < 0 || sm_state_get_u8(r, &lost, err) < 0 ||
	    sm_state_get_u16(r, &plen, err) < 0)
		return -1;
	slot = (uint32_t)ri->nodeid;
	gen = (uint32_t)(ri->nodeid >> 32);
	if (slot < 2 || slot >= p->nslots || gen == 0 || gen != p->gens[slot] || p->used[slot])
		return sm_error_set(err, 0, "inode %#llx: bad, duplicate or stale nodeid",
				    (unsigned long long)ri->nodeid);
	p->used[slot] = 1;
	if (ri->nlookup == 0 || !type_ok(ri->type) || lost > 1 || (lost && plen != 0))
		return sm_error_set(err, 0, "inode %#llx: bad lookup count, type or lost flag",
				    (unsigned long long)ri->nodeid);
	ri->lost = lost;
	if (lost)
		return 0;
	ri->path = sm_xcalloc(1, (size_t)plen + 1);
	if (sm_state_get(r, ri->path, plen, err) < 0)
		return -1;
	if (!path_ok(ri->path, plen))
		return sm_error_set(err, 0, "inode %#llx: path is not a relative path below the share",
				    (unsigned long long)ri->nodeid);
	return 0;
}

static int parse_handle(struct sm_state_reader *r, struct session *p, uint8_t *hused, struct rhandle *rh,
			sm_error_t *err)
{
	uint32_t slot, nslot;
	uint8_t stale = 0;

	if (sm_state_get_u64(r, &rh->fh, err) < 0 || sm_state_get_u64(r, &rh->nodeid, err) < 0 ||
	    sm_state_get_u8(r, &rh->kind, err) < 0 || sm_state_get_u8(r, &stale, err) < 0 ||
	    sm_state_get_u32(r, &rh->flags, err) < 0)
		return -1;
	slot = (uint32_t)rh->fh;
	if (slot >= p->nhslots || (uint32_t)(rh->fh >> 32) != p->hgens[slot] || hused[slot])
		return sm_error_set(err, 0, "handle %#llx: bad or duplicate fh", (unsigned long long)rh->fh);
	hused[slot] = 1;
	nslot = (uint32_t)rh->nodeid;
	if (rh->nodeid != FUSE_ROOT_ID &&
	    (nslot < 2 || nslot >= p->nslots || !p->used[nslot] || (rh->nodeid >> 32) != p->gens[nslot]))
		return sm_error_set(err, 0, "handle %#llx: names nodeid %#llx, which is not saved",
				    (unsigned long long)rh->fh, (unsigned long long)rh->nodeid);
	if ((rh->kind != SM_H_FILE && rh->kind != SM_H_DIR) || stale > 1 ||
	    (rh->flags & ~(uint32_t)HANDLE_FLAGS) || (rh->flags & O_ACCMODE) == O_ACCMODE)
		return sm_error_set(err, 0, "handle %#llx: bad kind, stale flag or open flags %#x",
				    (unsigned long long)rh->fh, rh->flags);
	rh->stale = stale;
	return 0;
}

static int parse_map(struct sm_state_reader *r, struct session *p, uint64_t wsize, uint64_t *next,
		     struct rmap *m, sm_error_t *err)
{
	uint32_t nslot;
	uint8_t wr = 0;

	if (sm_state_get_u64(r, &m->moffset, err) < 0 || sm_state_get_u64(r, &m->len, err) < 0 ||
	    sm_state_get_u64(r, &m->foffset, err) < 0 || sm_state_get_u64(r, &m->nodeid, err) < 0 ||
	    sm_state_get_u8(r, &wr, err) < 0)
		return -1;
	nslot = (uint32_t)m->nodeid;
	if (m->len == 0 || ((m->moffset | m->len | m->foffset) & 4095) || m->moffset < *next ||
	    m->moffset >= wsize || m->len > wsize - m->moffset || m->foffset > (uint64_t)INT64_MAX - m->len ||
	    wr > 1)
		return sm_error_set(
		    err, 0,
		    "DAX mapping %#llx+%#llx: unaligned, overlapping, unsorted or outside the "
		    "%#llx-byte window",
		    (unsigned long long)m->moffset, (unsigned long long)m->len, (unsigned long long)wsize);
	if (nslot < 2 || nslot >= p->nslots || !p->used[nslot] || (m->nodeid >> 32) != p->gens[nslot])
		return sm_error_set(err, 0, "DAX mapping %#llx: names nodeid %#llx, which is not saved",
				    (unsigned long long)m->moffset, (unsigned long long)m->nodeid);
	m->writable = wr;
	*next = m->moffset + m->len;
	return 0;
}

static int parse_tables(struct sm_fuse_server *s, struct sm_state_reader *r, struct session *p,
			sm_error_t *err)
{
	uint64_t wsize = s->dax != NULL ? sm_dax_window_size(s->dax) : 0, next = 0;
	cleanup_free uint8_t *hused = NULL;

	if (get_count(r, &p->nslots, (uint64_t)s->cfg.max_inodes + 2, 4, "inode slots", err) < 0)
		return -1;
	if (p->nslots < 2)
		return sm_error_set(err, 0, "%u inode slots: fewer than the root's", p->nslots);
	if (get_gens(r, &p->gens, p->nslots, err) < 0)
		return -1;
	p->used = sm_xcalloc(p->nslots, 1);
	if (get_count(r, &p->ninodes, p->nslots - 2, INODE_REC_MIN, "inodes", err) < 0)
		return -1;
	p->inodes = sm_xcalloc(p->ninodes ? p->ninodes : 1, sizeof(*p->inodes));
	for (uint32_t i = 0; i < p->ninodes; i++)
		if (parse_inode(r, p, &p->inodes[i], err) < 0)
			return -1;
	if (get_count(r, &p->nhslots, s->cfg.max_inodes, 4, "handle slots", err) < 0 ||
	    get_gens(r, &p->hgens, p->nhslots, err) < 0)
		return -1;
	hused = sm_xcalloc(p->nhslots ? p->nhslots : 1, 1);
	if (get_count(r, &p->nhandles, p->nhslots, HANDLE_REC, "handles", err) < 0)
		return -1;
	p->handles = sm_xcalloc(p->nhandles ? p->nhandles : 1, sizeof(*p->handles));
	for (uint32_t i = 0; i < p->nhandles; i++)
		if (parse_handle(r, p, hused, &p->handles[i], err) < 0)
			return -1;
	if (get_count(r, &p->nmaps, wsize / 4096, MAP_REC, "DAX mappings", err) < 0)
		return -1;
	p->maps = sm_xcalloc(p->nmaps ? p->nmaps : 1, sizeof(*p->maps));
	for (uint32_t i = 0; i < p->nmaps; i++)
		if (parse_map(r, p, wsize, &next, &p->maps[i], err) < 0)
			return -1;
	return 0;
}

static int parse_session(struct sm_fuse_server *s, struct sm_state_reader *r, struct session *p,
			 sm_error_t *err)
{
	uint32_t magic = 0, version = 0;
	uint64_t allowed = SM_FUSE_SERVER_FLAGS | (s->dax != NULL ? SM_FUSE_DAX_FLAGS : 0);

	if (sm_state_get_u32(r, &magic, err) < 0 || sm_state_get_u32(r, &version, err) < 0)
		return -1;
	if (magic != SESSION_MAGIC || version != SESSION_VERSION)
		return sm_error_set(err, 0, "not a FUSE session of version %u (magic %#x, version %u)",
				    SESSION_VERSION, magic, version);
	if (sm_state_get_u8(r, &p->initialized, err) < 0)
		return -1;
	if (p->initialized > 1)
		return sm_error_set(err, 0, "bad INIT flag %u", p->initialized);
	if (!p->initialized)
		return 0;
	if (sm_state_get_u32(r, &p->minor, err) < 0 || sm_state_get_u64(r, &p->flags, err) < 0 ||
	    sm_state_get_u32(r, &p->max_write, err) < 0)
		return -1;
	if (p->minor < SM_FUSE_MIN_MINOR || p->minor > FUSE_KERNEL_MINOR_VERSION)
		return sm_error_set(err, 0, "protocol 7.%u is not spoken here", p->minor);
	if (p->flags & ~allowed)
		return sm_error_set(err, 0, "INIT flags %#llx not offered by this server%s",
				    (unsigned long long)(p->flags & ~allowed),
				    s->dax == NULL ? " (it has no DAX window)" : "");
	if (p->max_write < 4096 || p->max_write > (16u << 20) || p->max_write % 4096 != 0)
		return sm_error_set(err, 0, "max_write %u out of range", p->max_write);
	return parse_tables(s, r, p, err);
}

/* ---- apply (cannot fail: what is not found again becomes stale) ------------------------------ */

/* Re-open path below the new root like a LOOKUP would; -1 when gone, another type, or procfs. */
static int reopen_inode(struct sm_fuse_server *s, const struct rinode *ri, struct stat *st)
{
	cleanup_close int fd = sm_fuse_open_beneath(s->root_fd, ri->path, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
	struct statfs sfs;

	if (fd < 0 || fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if ((st->st_mode & S_IFMT) != ri->type)
		return -1;
	if (st->st_dev != s->root_dev && (fstatfs(fd, &sfs) < 0 || sfs.f_type == PROC_SUPER_MAGIC))
		return -1;
	return steal_fd(&fd);
}

static int reopen_handle(struct sm_fuse_server *s, const struct rhandle *rh)
{
	struct sm_fuse_inode *ino = sm_fuse_table_find(&s->t, rh->nodeid);
	int fl = (int)rh->flags, fd;

	if (rh->stale || ino == NULL || ino->stale)
		return -1;
	if (rh->kind == SM_H_DIR)
		return ino->type == S_IFDIR ? sm_fuse_reopen(s, ino->fd, O_RDONLY | O_DIRECTORY) : -1;
	if (ino->type != S_IFREG || (s->cfg.readonly && (fl & O_ACCMODE) != O_RDONLY))
		return -1;
	fd = sm_fuse_reopen(s, ino->fd, fl | O_LARGEFILE);
	if (fd < 0 && errno == EPERM && (fl & O_NOATIME)) /* O_NOATIME needs ownership */
		fd = sm_fuse_reopen(s, ino->fd, (fl & ~O_NOATIME) | O_LARGEFILE);
	return fd;
}

static void apply_tables(struct sm_fuse_server *s, const struct session *p, struct sm_fuse_restore_stats *st)
{
	sm_fuse_table_restore_begin(&s->t, p->gens, p->nslots, p->hgens, p->nhslots);
	for (uint32_t i = 0; i < p->ninodes; i++) {
		const struct rinode *ri = &p->inodes[i];
		struct stat sb = {0};
		int fd = ri->lost ? -1 : reopen_inode(s, ri, &sb);

		sm_fuse_table_restore_inode(&s->t, ri->nodeid, fd, &sb, ri->type, ri->nlookup);
		st->inodes++;
		st->stale_inodes += fd < 0;
	}
	for (uint32_t i = 0; i < p->nhandles; i++) {
		const struct rhandle *rh = &p->handles[i];
		int fd = reopen_handle(s, rh);

		sm_fuse_table_restore_handle(&s->t, rh->fh, rh->nodeid, fd, rh->kind);
		st->handles++;
		st->stale_handles += fd < 0;
	}
	sm_fuse_table_restore_end(&s->t);
}

static void apply_maps(struct sm_fuse_server *s, const struct session *p, struct sm_fuse_restore_stats *st)
{
	for (uint32_t i = 0; i < p->nmaps; i++) {
		const struct rmap *m = &p->maps[i];
		struct sm_fuse_inode *ino = sm_fuse_inode_get(s, m->nodeid);
		cleanup_close int fd = -1;
		int r = -1;

		if (ino != NULL && ino->type == S_IFREG && !(m->writable && s->cfg.readonly))
			fd = sm_fuse_reopen(s, ino->fd, m->writable ? O_RDWR : O_RDONLY);
		if (fd >= 0)
			r = sm_dax_window_map(s->dax, fd, m->foffset, m->len, m->moffset, m->writable,
					      ino->nodeid, ino->dev, ino->ino, NULL);
		sm_fuse_inode_put(s, ino);
		st->mappings++;
		if (r < 0) {
			/* The guest believes this range is mapped: give it zeros, never a faulting hole. */
			sm_dax_window_map_zero(s->dax, m->moffset, m->len, NULL);
			st->stale_mappings++;
		}
	}
}

int sm_fuse_server_restore(struct sm_fuse_server *s, struct sm_state_reader *r,
			   struct sm_fuse_restore_stats *stats, sm_error_t *err)
{
	struct sm_fuse_restore_stats dummy;
	struct session p = {0};
	bool fresh;

	if (stats == NULL)
		stats = &dummy;
	memset(stats, 0, sizeof(*stats));
	pthread_mutex_lock(&s->lock);
	fresh = !s->initialized && s->t.nslots == 2 && s->t.nhandles == 0;
	pthread_mutex_unlock(&s->lock);
	if (!fresh)
		return sm_error_set(err, 0, "virtio-fs: restore into a server that already has a session");
	if (parse_session(s, r, &p, err) < 0) {
		session_free(&p);
		return sm_error_prefix(err, "virtio-fs: saved FUSE session: ");
	}
	if (!p.initialized)
		return 0; /* never mounted (templates): the guest sends INIT as usual */
	pthread_mutex_lock(&s->lock);
	s->cfg.max_write = p.max_write; /* the guest sizes its requests by what INIT told it */
	s->max_in = sm_fuse_max_in(p.max_write);
	s->minor = p.minor;
	s->flags = p.flags;
	apply_tables(s, &p, stats);
	s->initialized = true;
	pthread_mutex_unlock(&s->lock);
	if (s->dax != NULL)
		apply_maps(s, &p, stats);
	session_free(&p);
	return 0;
}
