/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inode and handle tables. A nodeid (and an fh) is (generation << 32) | slot: the guest can only
 * name slots we gave it, and a stale id of a reused slot no longer matches. Inodes are also hashed
 * by (dev, ino) so every hard link of a file shares one nodeid. Everything here runs under
 * s->lock; fds are closed outside of it only in the sense that close() is cheap and never blocks
 * on an O_PATH fd.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "virtiofs/fuse_internal.h"

#define GEN_MASK SM_FUSE_GEN_MASK

static uint32_t hash_key(dev_t dev, ino_t ino, uint32_t nbuckets)
{
	uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)dev * 0xC2B2AE3D27D4EB4Full;

	return (uint32_t)(h >> 32) & (nbuckets - 1);
}

void sm_fuse_table_init(struct sm_fuse_table *t, uint32_t max_inodes)
{
	memset(t, 0, sizeof(*t));
	t->max_inodes = max_inodes;
	t->nbuckets = 1024;
	t->buckets = sm_xcalloc(t->nbuckets, sizeof(*t->buckets));
	t->nslots = 2; /* slot 0 is never a nodeid; slot 1 is FUSE_ROOT_ID */
	t->cap = 64;
	t->slots = sm_xcalloc(t->cap, sizeof(*t->slots));
	t->gens = sm_xcalloc(t->cap, sizeof(*t->gens));
	t->free_slots = sm_xcalloc(t->cap, sizeof(*t->free_slots));
	t->hcap = 16;
	t->handles = sm_xcalloc(t->hcap, sizeof(*t->handles));
	t->hgens = sm_xcalloc(t->hcap, sizeof(*t->hgens));
	t->free_handles = sm_xcalloc(t->hcap, sizeof(*t->free_handles));
}

void sm_fuse_table_destroy(struct sm_fuse_table *t)
{
	for (uint32_t i = 0; i < t->nslots; i++) {
		if (t->slots[i] != NULL) {
			if (t->slots[i]->fd >= 0)
				close(t->slots[i]->fd);
			free(t->slots[i]);
		}
	}
	for (uint32_t i = 0; i < t->nhandles; i++) {
		if (t->handles[i] != NULL) {
			if (t->handles[i]->fd >= 0)
				close(t->handles[i]->fd);
			free(t->handles[i]);
		}
	}
	free(t->slots);
	free(t->gens);
	free(t->free_slots);
	free(t->buckets);
	free(t->handles);
	free(t->hgens);
	free(t->free_handles);
	memset(t, 0, sizeof(*t));
}

static void hash_insert(struct sm_fuse_table *t, struct sm_fuse_inode *ino)
{
	uint32_t b;

	if (t->count + 1 > t->nbuckets - t->nbuckets / 4) {
		uint32_t nb = t->nbuckets * 2;
		struct sm_fuse_inode **nbk = sm_xcalloc(nb, sizeof(*nbk));

		for (uint32_t i = 0; i < t->nbuckets; i++) {
			struct sm_fuse_inode *p = t->buckets[i], *next;

			for (; p != NULL; p = next) {
				next = p->hnext;
				b = hash_key(p->dev, p->ino, nb);
				p->hnext = nbk[b];
				nbk[b] = p;
			}
		}
		free(t->buckets);
		t->buckets = nbk;
		t->nbuckets = nb;
	}
	b = hash_key(ino->dev, ino->ino, t->nbuckets);
	ino->hnext = t->buckets[b];
	t->buckets[b] = ino;
	ino->hashed = true;
	t->count++;
}

static void hash_remove(struct sm_fuse_table *t, struct sm_fuse_inode *ino)
{
	struct sm_fuse_inode **pp = &t->buckets[hash_key(ino->dev, ino->ino, t->nbuckets)];

	if (!ino->hashed)
		return;
	for (; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == ino) {
			*pp = ino->hnext;
			t->count--;
			return;
		}
	}
}

static struct sm_fuse_inode *hash_find(struct sm_fuse_table *t, dev_t dev, ino_t ino)
{
	struct sm_fuse_inode *p = t->buckets[hash_key(dev, ino, t->nbuckets)];

	for (; p != NULL; p = p->hnext)
		if (p->dev == dev && p->ino == ino)
			return p;
	return NULL;
}

/* Grow the parallel slot arrays to hold at least n entries. */
static void grow(void **a, size_t elem, uint32_t oldcap, uint32_t newcap)
{
	uint8_t *p = realloc(*a, (size_t)newcap * elem);

	if (p == NULL)
		abort();
	memset(p + (size_t)oldcap * elem, 0, (size_t)(newcap - oldcap) * elem);
	*a = p;
}

static int slot_alloc(struct sm_fuse_table *t, uint32_t *slot)
{
	if (t->nfree > 0) {
		*slot = t->free_slots[--t->nfree];
		return 0;
	}
	if (t->nslots >= t->max_inodes + 2u || t->nslots == UINT32_MAX)
		return -ENFILE;
	if (t->nslots == t->cap) {
		uint32_t nc = t->cap > UINT32_MAX / 2 ? UINT32_MAX : t->cap * 2;

		grow((void **)&t->slots, sizeof(*t->slots), t->cap, nc);
		grow((void **)&t->gens, sizeof(*t->gens), t->cap, nc);
		grow((void **)&t->free_slots, sizeof(*t->free_slots), t->cap, nc);
		t->cap = nc;
	}
	*slot = t->nslots++;
	return 0;
}

static void inode_free(struct sm_fuse_table *t, struct sm_fuse_inode *ino)
{
	uint32_t slot = (uint32_t)ino->nodeid;

	hash_remove(t, ino);
	t->slots[slot] = NULL;
	t->gens[slot] = (t->gens[slot] + 1) & GEN_MASK;
	t->free_slots[t->nfree++] = slot;
	if (ino->fd >= 0)
		close(ino->fd);
	free(ino);
}

static struct sm_fuse_inode *inode_find(struct sm_fuse_table *t, uint64_t nodeid)
{
	uint32_t slot = (uint32_t)nodeid;
	struct sm_fuse_inode *ino;

	if (slot == 0 || slot >= t->nslots)
		return NULL;
	ino = t->slots[slot];
	if (ino == NULL || ino->nodeid != nodeid)
		return NULL;
	return ino;
}

void sm_fuse_table_set_root(struct sm_fuse_server *s, int fd, const struct stat *st)
{
	struct sm_fuse_inode *ino = sm_xcalloc(1, sizeof(*ino));

	ino->nodeid = FUSE_ROOT_ID;
	ino->fd = fd;
	ino->dev = st->st_dev;
	ino->ino = st->st_ino;
	ino->type = st->st_mode & S_IFMT;
	ino->nlookup = 1;
	ino->refs = 1; /* pinned: the root is never forgotten */
	s->t.slots[FUSE_ROOT_ID] = ino;
	hash_insert(&s->t, ino);
}

int64_t sm_fuse_inode_add_lookup(struct sm_fuse_server *s, int *fdp, const struct stat *st)
{
	struct sm_fuse_table *t = &s->t;
	struct sm_fuse_inode *ino;
	uint32_t slot;
	int64_t id;

	pthread_mutex_lock(&s->lock);
	ino = hash_find(t, st->st_dev, st->st_ino);
	if (ino != NULL) {
		ino->nlookup++;
		id = (int64_t)ino->nodeid;
		pthread_mutex_unlock(&s->lock);
		return id;
	}
	if (slot_alloc(t, &slot) < 0) {
		pthread_mutex_unlock(&s->lock);
		return -ENFILE;
	}
	if (t->gens[slot] == 0)
		t->gens[slot] = 1;
	ino = sm_xcalloc(1, sizeof(*ino));
	ino->nodeid = ((uint64_t)t->gens[slot] << 32) | slot;
	ino->fd = *fdp;
	*fdp = -1;
	ino->dev = st->st_dev;
	ino->ino = st->st_ino;
	ino->type = st->st_mode & S_IFMT;
	ino->nlookup = 1;
	t->slots[slot] = ino;
	hash_insert(t, ino);
	id = (int64_t)ino->nodeid;
	pthread_mutex_unlock(&s->lock);
	return id;
}

bool sm_fuse_inode_ref_lookup(struct sm_fuse_server *s, uint64_t nodeid)
{
	struct sm_fuse_inode *ino;

	pthread_mutex_lock(&s->lock);
	ino = inode_find(&s->t, nodeid);
	if (ino != NULL && ino->stale)
		ino = NULL;
	if (ino != NULL)
		ino->nlookup++;
	pthread_mutex_unlock(&s->lock);
	return ino != NULL;
}

void sm_fuse_inode_forget(struct sm_fuse_server *s, uint64_t nodeid, uint64_t n)
{
	struct sm_fuse_inode *ino;

	pthread_mutex_lock(&s->lock);
	ino = inode_find(&s->t, nodeid);
	if (ino != NULL && nodeid != FUSE_ROOT_ID) {
		ino->nlookup = n >= ino->nlookup ? 0 : ino->nlookup - n;
		if (ino->nlookup == 0 && ino->refs == 0)
			inode_free(&s->t, ino);
	}
	pthread_mutex_unlock(&s->lock);
}

struct sm_fuse_inode *sm_fuse_inode_get(struct sm_fuse_server *s, uint64_t nodeid)
{
	struct sm_fuse_inode *ino;

	pthread_mutex_lock(&s->lock);
	ino = inode_find(&s->t, nodeid);
	if (ino != NULL && ino->stale)
		ino = NULL; /* callers answer ESTALE */
	if (ino != NULL)
		ino->refs++;
	pthread_mutex_unlock(&s->lock);
	return ino;
}

void sm_fuse_inode_put(struct sm_fuse_server *s, struct sm_fuse_inode *ino)
{
	if (ino == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	if (--ino->refs == 0 && ino->nlookup == 0)
		inode_free(&s->t, ino);
	pthread_mutex_unlock(&s->lock);
}

void sm_fuse_inodes_forget_all(struct sm_fuse_server *s)
{
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 2; i < s->t.nslots; i++) {
		struct sm_fuse_inode *ino = s->t.slots[i];

		if (ino == NULL)
			continue;
		ino->nlookup = 0;
		if (ino->refs == 0)
			inode_free(&s->t, ino);
	}
	pthread_mutex_unlock(&s->lock);
}

/* ---- handles ---------------------------------------------------------------------------------- */

int64_t sm_fuse_handle_new(struct sm_fuse_server *s, int fd, int kind, uint64_t nodeid)
{
	struct sm_fuse_table *t = &s->t;
	struct sm_fuse_handle *h;
	uint32_t slot;
	int64_t fh;

	pthread_mutex_lock(&s->lock);
	if (t->nfree_handles > 0) {
		slot = t->free_handles[--t->nfree_handles];
	} else {
		/* Each handle is an open host fd: bound them like inodes. */
		if (t->nhandles >= t->max_inodes) {
			pthread_mutex_unlock(&s->lock);
			close(fd);
			return -EMFILE;
		}
		if (t->nhandles == t->hcap) {
			uint32_t nc = t->hcap * 2;

			grow((void **)&t->handles, sizeof(*t->handles), t->hcap, nc);
			grow((void **)&t->hgens, sizeof(*t->hgens), t->hcap, nc);
			grow((void **)&t->free_handles, sizeof(*t->free_handles), t->hcap, nc);
			t->hcap = nc;
		}
		slot = t->nhandles++;
	}
	h = sm_xcalloc(1, sizeof(*h));
	h->fh = ((uint64_t)t->hgens[slot] << 32) | slot;
	h->nodeid = nodeid;
	h->fd = fd;
	h->kind = kind;
	t->handles[slot] = h;
	fh = (int64_t)h->fh;
	pthread_mutex_unlock(&s->lock);
	return fh;
}

static struct sm_fuse_handle *handle_find(struct sm_fuse_table *t, uint64_t fh, int kind)
{
	uint32_t slot = (uint32_t)fh;
	struct sm_fuse_handle *h;

	if (slot >= t->nhandles)
		return NULL;
	h = t->handles[slot];
	if (h == NULL || h->fh != fh || h->kind != kind || h->released)
		return NULL;
	return h;
}

struct sm_fuse_handle *sm_fuse_handle_get(struct sm_fuse_server *s, uint64_t fh, int kind)
{
	struct sm_fuse_handle *h;

	pthread_mutex_lock(&s->lock);
	h = handle_find(&s->t, fh, kind);
	if (h != NULL && h->stale)
		h = NULL;
	if (h != NULL)
		h->refs++;
	pthread_mutex_unlock(&s->lock);
	return h;
}

int sm_fuse_handle_error(struct sm_fuse_server *s, uint64_t fh, int kind)
{
	struct sm_fuse_handle *h;
	bool stale;

	pthread_mutex_lock(&s->lock);
	h = handle_find(&s->t, fh, kind);
	stale = h != NULL && h->stale;
	pthread_mutex_unlock(&s->lock);
	return stale ? -ESTALE : -EBADF;
}

static void handle_free(struct sm_fuse_table *t, struct sm_fuse_handle *h)
{
	uint32_t slot = (uint32_t)h->fh;

	t->handles[slot] = NULL;
	t->hgens[slot] = (t->hgens[slot] + 1) & GEN_MASK;
	t->free_handles[t->nfree_handles++] = slot;
	if (h->fd >= 0)
		close(h->fd);
	free(h);
}

void sm_fuse_handle_put(struct sm_fuse_server *s, struct sm_fuse_handle *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	if (--h->refs == 0 && h->released)
		handle_free(&s->t, h);
	pthread_mutex_unlock(&s->lock);
}

int sm_fuse_handle_release(struct sm_fuse_server *s, uint64_t fh, int kind)
{
	struct sm_fuse_handle *h;

	pthread_mutex_lock(&s->lock);
	h = handle_find(&s->t, fh, kind);
	if (h == NULL) {
		pthread_mutex_unlock(&s->lock);
		return -EBADF;
	}
	h->released = true;
	if (h->refs == 0)
		handle_free(&s->t, h);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void sm_fuse_handles_release_all(struct sm_fuse_server *s)
{
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < s->t.nhandles; i++) {
		struct sm_fuse_handle *h = s->t.handles[i];

		if (h == NULL || h->released)
			continue;
		h->released = true;
		if (h->refs == 0)
			handle_free(&s->t, h);
	}
	pthread_mutex_unlock(&s->lock);
}

/* ---- snapshot restore ------------------------------------------------------------------------- */

struct sm_fuse_inode *sm_fuse_table_find(struct sm_fuse_table *t, uint64_t nodeid)
{
	return inode_find(t, nodeid);
}

void sm_fuse_table_restore_begin(struct sm_fuse_table *t, const uint32_t *gens, uint32_t nslots,
				 const uint32_t *hgens, uint32_t nhslots)
{
	if (nslots > t->cap) {
		grow((void **)&t->slots, sizeof(*t->slots), t->cap, nslots);
		grow((void **)&t->gens, sizeof(*t->gens), t->cap, nslots);
		grow((void **)&t->free_slots, sizeof(*t->free_slots), t->cap, nslots);
		t->cap = nslots;
	}
	for (uint32_t i = 2; i < nslots; i++)
		t->gens[i] = gens[i] & GEN_MASK;
	if (nslots > t->nslots)
		t->nslots = nslots;
	if (nhslots > t->hcap) {
		grow((void **)&t->handles, sizeof(*t->handles), t->hcap, nhslots);
		grow((void **)&t->hgens, sizeof(*t->hgens), t->hcap, nhslots);
		grow((void **)&t->free_handles, sizeof(*t->free_handles), t->hcap, nhslots);
		t->hcap = nhslots;
	}
	for (uint32_t i = 0; i < nhslots; i++)
		t->hgens[i] = hgens[i] & GEN_MASK;
	if (nhslots > t->nhandles)
		t->nhandles = nhslots;
}

void sm_fuse_table_restore_inode(struct sm_fuse_table *t, uint64_t nodeid, int fd, const struct stat *st,
				 mode_t type, uint64_t nlookup)
{
	struct sm_fuse_inode *ino = sm_xcalloc(1, sizeof(*ino));

	ino->nodeid = nodeid;
	ino->fd = fd;
	ino->type = type;
	ino->nlookup = nlookup;
	ino->stale = fd < 0;
	t->slots[(uint32_t)nodeid] = ino;
	if (fd < 0)
		return;
	ino->dev = st->st_dev;
	ino->ino = st->st_ino;
	if (hash_find(t, ino->dev, ino->ino) == NULL)
		hash_insert(t, ino);
}

void sm_fuse_table_restore_handle(struct sm_fuse_table *t, uint64_t fh, uint64_t nodeid, int fd, int kind)
{
	struct sm_fuse_handle *h = sm_xcalloc(1, sizeof(*h));

	h->fh = fh;
	h->nodeid = nodeid;
	h->fd = fd;
	h->kind = kind;
	h->stale = fd < 0;
	t->handles[(uint32_t)fh] = h;
}

void sm_fuse_table_restore_end(struct sm_fuse_table *t)
{
	t->nfree = 0;
	for (uint32_t i = t->nslots; i-- > 2;)
		if (t->slots[i] == NULL)
			t->free_slots[t->nfree++] = i;
	t->nfree_handles = 0;
	for (uint32_t i = t->nhandles; i-- > 0;)
		if (t->handles[i] == NULL)
			t->free_handles[t->nfree_handles++] = i;
}
