/* SPDX-License-Identifier: Apache-2.0 */
#include <endian.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/virtio/virtqueue.h"

/*
 * Ring layout (virtio 1.2 §2.7): the available ring is {le16 flags; le16 idx; le16 ring[size];
 * le16 used_event}, the used ring is {le16 flags; le16 idx; {le32 id; le32 len} ring[size];
 * le16 avail_event}. The rings are aligned (checked in sm_virtq_enable), so the 16- and 32-bit
 * fields can be accessed with atomic loads and stores.
 */
#define DESC_SIZE 16u

static inline uint16_t *u16_at(uint8_t *base, size_t off)
{
	return (uint16_t *)(void *)(base + off);
}

static inline uint32_t *u32_at(uint8_t *base, size_t off)
{
	return (uint32_t *)(void *)(base + off);
}

static inline uint16_t load16(uint16_t *p, int order)
{
	return le16toh(__atomic_load_n(p, order));
}

static inline size_t avail_bytes(uint16_t size)
{
	return 6 + 2 * (size_t)size;
}

static inline size_t used_bytes(uint16_t size)
{
	return 6 + 8 * (size_t)size;
}

static inline uint16_t *avail_flags(struct sm_virtq *vq)
{
	return u16_at(vq->avail, 0);
}

static inline uint16_t *avail_idx(struct sm_virtq *vq)
{
	return u16_at(vq->avail, 2);
}

static inline uint16_t *avail_ring(struct sm_virtq *vq, uint16_t slot)
{
	return u16_at(vq->avail, 4 + 2 * (size_t)slot);
}

static inline uint16_t *used_event(struct sm_virtq *vq)
{
	return avail_ring(vq, vq->size);
}

static inline uint16_t *used_idx(struct sm_virtq *vq)
{
	return u16_at(vq->used, 2);
}

static inline uint16_t *avail_event(struct sm_virtq *vq)
{
	return u16_at(vq->used, 4 + 8 * (size_t)vq->size);
}

void sm_virtq_init(struct sm_virtq *vq, unsigned int index)
{
	memset(vq, 0, sizeof(*vq));
	vq->index = index;
	pthread_mutex_init(&vq->pop_lock, NULL);
	pthread_mutex_init(&vq->push_lock, NULL);
}

void sm_virtq_destroy(struct sm_virtq *vq)
{
	pthread_mutex_destroy(&vq->pop_lock);
	pthread_mutex_destroy(&vq->push_lock);
}

static void lock_both(struct sm_virtq *vq)
{
	pthread_mutex_lock(&vq->pop_lock);
	pthread_mutex_lock(&vq->push_lock);
}

static void unlock_both(struct sm_virtq *vq)
{
	pthread_mutex_unlock(&vq->push_lock);
	pthread_mutex_unlock(&vq->pop_lock);
}

/* Host view of a ring part, or NULL when it is not in guest RAM or not aligned on the host too. */
static uint8_t *map_part(const struct sm_guest_mem *mem, uint64_t gpa, size_t len, unsigned int align)
{
	uint8_t *p = sm_guest_ptr(mem, gpa, len);

	if (p == NULL || ((uintptr_t)p & (align - 1)) != 0)
		return NULL;
	return p;
}

int sm_virtq_enable(struct sm_virtq *vq, const struct sm_guest_mem *mem, uint16_t size, uint64_t desc,
		    uint64_t avail, uint64_t used, uint64_t features, sm_error_t *err)
{
	uint8_t *d, *a, *u;

	if (size == 0 || (size & (size - 1)) != 0 || size > SM_VIRTQ_MAX_SIZE)
		return sm_error_set(err, 0, "virtqueue %u: size %u is not a power of two in [1, %u]",
				    vq->index, size, SM_VIRTQ_MAX_SIZE);
	if (desc % 16 != 0 || avail % 2 != 0 || used % 4 != 0)
		return sm_error_set(
		    err, 0,
		    "virtqueue %u: misaligned rings (descriptors 0x%llx, available 0x%llx, used 0x%llx)",
		    vq->index, (unsigned long long)desc, (unsigned long long)avail, (unsigned long long)used);
	d = map_part(mem, desc, DESC_SIZE * (size_t)size, 16);
	a = map_part(mem, avail, avail_bytes(size), 2);
	u = map_part(mem, used, used_bytes(size), 4);
	if (d == NULL || a == NULL || u == NULL)
		return sm_error_set(err, 0, "virtqueue %u: %s ring at 0x%llx (size %u) is not in guest RAM",
				    vq->index,
				    d == NULL	? "descriptor"
				    : a == NULL ? "available"
						: "used",
				    (unsigned long long)(d == NULL   ? desc
							 : a == NULL ? avail
								     : used),
				    size);
	lock_both(vq);
	vq->mem = mem;
	vq->size = size;
	vq->desc_gpa = desc;
	vq->avail_gpa = avail;
	vq->used_gpa = used;
	vq->desc = d;
	vq->avail = a;
	vq->used = u;
	vq->event_idx = (features >> SM_VIRTIO_F_EVENT_IDX) & 1;
	vq->indirect = (features >> SM_VIRTIO_F_INDIRECT_DESC) & 1;
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->signalled_valid = false;
	vq->ready = true;
	unlock_both(vq);
	return 0;
}

void sm_virtq_disable(struct sm_virtq *vq)
{
	lock_both(vq);
	vq->ready = false;
	vq->mem = NULL;
	vq->desc = vq->avail = vq->used = NULL;
	vq->size = 0;
	vq->desc_gpa = vq->avail_gpa = vq->used_gpa = 0;
	vq->last_avail = vq->used_idx = vq->signalled_used = 0;
	vq->signalled_valid = false;
	unlock_both(vq);
}

bool sm_virtq_ready(struct sm_virtq *vq)
{
	bool r;

	pthread_mutex_lock(&vq->pop_lock);
	r = vq->ready;
	pthread_mutex_unlock(&vq->pop_lock);
	return r;
}

/*
 * Read a descriptor once. The compiler barrier keeps the compiler from re-reading guest memory
 * for a field after it was checked (the guest may rewrite the descriptor at any time).
 */
static void read_desc(const uint8_t *src, struct sm_vring_desc *d)
{
	memcpy(d, src, sizeof(*d));
	__asm__ __volatile__("" ::: "memory");
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

struct walk {
	const uint8_t *table; /* current descriptor table (main or indirect) */
	uint32_t table_n;     /* its number of entries */
	uint16_t i;	      /* current entry */
	bool in_indirect;
	bool seen_write;
	uint64_t total; /* bytes described so far */
};

static int chain_error(struct sm_virtq *vq, const struct sm_virtq_chain *c, const struct walk *w,
		       sm_error_t *err, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int chain_error(struct sm_virtq *vq, const struct sm_virtq_chain *c, const struct walk *w,
		       sm_error_t *err, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	sm_error_set(err, 0, "virtqueue %u: malformed chain at head %u: %sdescriptor %u: %s", vq->index,
		     c->head, w->in_indirect ? "indirect " : "", w->i, what);
	return -EINVAL;
}

static int enter_indirect(struct sm_virtq *vq, const struct sm_virtq_chain *c, struct walk *w,
			  const struct sm_vring_desc *d, sm_error_t *err)
{
	const uint8_t *p;

	if (!vq->indirect)
		return chain_error(vq, c, w, err,
				   "indirect table, but VIRTIO_F_INDIRECT_DESC was not negotiated");
	if (w->in_indirect)
		return chain_error(vq, c, w, err, "nested indirect table");
	if (d->flags & SM_VRING_DESC_F_NEXT)
		return chain_error(vq, c, w, err, "indirect table with NEXT set");
	if (d->len == 0 || d->len % DESC_SIZE != 0)
		return chain_error(vq, c, w, err, "indirect table length %u is not a non-zero multiple of 16",
				   d->len);
	p = sm_guest_ptr(vq->mem, d->addr, d->len);
	if (p == NULL)
		return chain_error(vq, c, w, err, "indirect table 0x%llx+%u is not in guest RAM",
				   (unsigned long long)d->addr, d->len);
	w->table = p;
	w->table_n = d->len / DESC_SIZE;
	w->in_indirect = true;
	w->i = 0;
	return 0;
}

static void chain_grow(struct sm_virtq_chain *c, unsigned int need)
{
	unsigned int cap = c->cap ? c->cap : 8;
	struct iovec *iov;

	while (cap < need)
		cap *= 2;
	iov = realloc(c->iov, cap * sizeof(*iov));
	if (iov == NULL)
		abort();
	c->iov = iov;
	c->cap = cap;
}

static int add_buffer(struct sm_virtq *vq, struct sm_virtq_chain *c, struct walk *w,
		      const struct sm_vring_desc *d, sm_error_t *err)
{
	bool writable = d->flags & SM_VRING_DESC_F_WRITE;
	unsigned int n = c->nrd + c->nwr;
	void *p;

	if (!writable && w->seen_write)
		return chain_error(vq, c, w, err, "device-readable buffer after a device-writable one");
	w->seen_write |= writable;
	if (d->len > SM_VIRTQ_MAX_CHAIN_BYTES - w->total)
		return chain_error(vq, c, w, err, "chain describes more than %llu bytes",
				   SM_VIRTQ_MAX_CHAIN_BYTES);
	w->total += d->len;
	if (d->len == 0)
		return 0;
	p = sm_guest_ptr(vq->mem, d->addr, d->len);
	if (p == NULL)
		return chain_error(vq, c, w, err, "buffer 0x%llx+%u is not in guest RAM",
				   (unsigned long long)d->addr, d->len);
	if (n >= c->cap)
		chain_grow(c, n + 1);
	c->iov[n].iov_base = p;
	c->iov[n].iov_len = d->len;
	if (writable) {
		c->nwr++;
		c->wr_len += d->len;
	} else {
		c->nrd++;
		c->rd_len += d->len;
	}
	return 0;
}

/*
 * Walk the chain starting at c->head. Termination: every step either counts one buffer
 * descriptor (at most vq->size of them, so a loop ends as "too long") or enters the single
 * allowed indirect table.
 */
static int walk_chain(struct sm_virtq *vq, struct sm_virtq_chain *c, sm_error_t *err)
{
	struct walk w = {.table = vq->desc, .table_n = vq->size, .i = c->head};
	struct sm_vring_desc d;
	int e;

	for (;;) {
		read_desc(w.table + (size_t)w.i * DESC_SIZE, &d);
		if (d.flags & SM_VRING_DESC_F_INDIRECT) {
			e = enter_indirect(vq, c, &w, &d, err);
			if (e < 0)
				return e;
			continue;
		}
		if (c->ndesc >= vq->size)
			return chain_error(vq, c, &w, err, "chain longer than the queue size %u (a loop?)",
					   vq->size);
		c->ndesc++;
		e = add_buffer(vq, c, &w, &d, err);
		if (e < 0)
			return e;
		if (!(d.flags & SM_VRING_DESC_F_NEXT))
			return 1;
		if (d.next >= w.table_n)
			return chain_error(vq, c, &w, err, "next %u is outside the %s table of %u entries",
					   d.next, w.in_indirect ? "indirect" : "descriptor", w.table_n);
		w.i = d.next;
	}
}

/* Number of chains the driver made available that we have not popped; -EIO for a bad index. */
static int avail_pending(struct sm_virtq *vq, sm_error_t *err)
{
	uint16_t idx = load16(avail_idx(vq), __ATOMIC_ACQUIRE);
	uint16_t n = (uint16_t)(idx - vq->last_avail);

	if (n > vq->size) {
		sm_error_set(err, 0, "virtqueue %u: available index jumped from %u to %u (queue size %u)",
			     vq->index, vq->last_avail, idx, vq->size);
		return -EIO;
	}
	return n;
}

static int pop_locked(struct sm_virtq *vq, struct sm_virtq_chain *c, sm_error_t *err)
{
	uint16_t head;
	int n;

	if (!vq->ready) {
		sm_error_set(err, 0, "virtqueue %u is not enabled", vq->index);
		return -EIO;
	}
	n = avail_pending(vq, err);
	if (n == 0 && vq->event_idx) {
		/* Ask for a notification when the driver adds the next chain, then look again so a
		 * chain added before the driver could see our avail_event is not missed. */
		__atomic_store_n(avail_event(vq), htole16(vq->last_avail), __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		n = avail_pending(vq, err);
	}
	if (n <= 0)
		return n;
	/* The acquire load of the available index orders this read after it. */
	head = load16(avail_ring(vq, vq->last_avail & (vq->size - 1)), __ATOMIC_RELAXED);
	vq->last_avail++;
	c->head = head;
	if (head >= vq->size) {
		sm_error_set(err, 0, "virtqueue %u: available ring names head %u (queue size %u)", vq->index,
			     head, vq->size);
		return -EIO;
	}
	return walk_chain(vq, c, err);
}

void sm_virtq_want_next_notify(struct sm_virtq *vq)
{
	pthread_mutex_lock(&vq->pop_lock);
	if (vq->ready && vq->event_idx) {
		uint16_t idx = load16(avail_idx(vq), __ATOMIC_ACQUIRE);

		__atomic_store_n(avail_event(vq), htole16(idx), __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
	pthread_mutex_unlock(&vq->pop_lock);
}

int sm_virtq_pop(struct sm_virtq *vq, struct sm_virtq_chain *chain, sm_error_t *err)
{
	int r;

	chain->head = 0;
	chain->ndesc = 0;
	chain->nrd = chain->nwr = 0;
	chain->rd_len = chain->wr_len = 0;
	pthread_mutex_lock(&vq->pop_lock);
	r = pop_locked(vq, chain, err);
	pthread_mutex_unlock(&vq->pop_lock);
	return r;
}

/* Decide about a used-buffer notification after publishing used_idx (push_lock held). */
static int need_notify(struct sm_virtq *vq)
{
	uint16_t old = vq->signalled_used, now = vq->used_idx, event;
	bool valid = vq->signalled_valid;

	if (!vq->event_idx)
		return !(load16(avail_flags(vq), __ATOMIC_RELAXED) & SM_VRING_AVAIL_F_NO_INTERRUPT);
	vq->signalled_used = now;
	vq->signalled_valid = true;
	if (!valid)
		return 1;
	event = load16(used_event(vq), __ATOMIC_RELAXED);
	/* Notify when used_event lies in [old, now): the driver asked to hear about that entry. */
	return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

int sm_virtq_push(struct sm_virtq *vq, uint16_t head, uint32_t len, sm_error_t *err)
{
	uint8_t *elem;
	int r;

	pthread_mutex_lock(&vq->push_lock);
	if (!vq->ready) {
		pthread_mutex_unlock(&vq->push_lock);
		sm_error_set(err, 0, "virtqueue %u is not enabled", vq->index);
		return -EIO;
	}
	if (head >= vq->size) {
		pthread_mutex_unlock(&vq->push_lock);
		sm_error_set(err, 0, "virtqueue %u: pushing head %u, queue size %u", vq->index, head,
			     vq->size);
		return -EINVAL;
	}
	elem = vq->used + 4 + 8 * (size_t)(vq->used_idx & (vq->size - 1));
	__atomic_store_n(u32_at(elem, 0), htole32(head), __ATOMIC_RELAXED);
	__atomic_store_n(u32_at(elem, 4), htole32(len), __ATOMIC_RELAXED);
	vq->used_idx++;
	/* Release: the element is visible before the index that publishes it. */
	__atomic_store_n(used_idx(vq), htole16(vq->used_idx), __ATOMIC_RELEASE);
	/* Full barrier: our index store must be visible before we read the driver's used_event or
	 * flags, or we could miss a notification the driver asked for meanwhile. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	r = need_notify(vq);
	pthread_mutex_unlock(&vq->push_lock);
	return r;
}

void sm_virtq_get_indices(struct sm_virtq *vq, struct sm_virtq_indices *out)
{
	lock_both(vq);
	out->last_avail = vq->last_avail;
	out->used_idx = vq->used_idx;
	out->signalled_used = vq->signalled_used;
	out->signalled_valid = vq->signalled_valid;
	unlock_both(vq);
}

void sm_virtq_set_indices(struct sm_virtq *vq, const struct sm_virtq_indices *in)
{
	lock_both(vq);
	vq->last_avail = in->last_avail;
	vq->used_idx = in->used_idx;
	vq->signalled_used = in->signalled_used;
	vq->signalled_valid = in->signalled_valid;
	unlock_both(vq);
}

void sm_virtq_chain_init(struct sm_virtq_chain *chain)
{
	memset(chain, 0, sizeof(*chain));
}

void sm_virtq_chain_free(struct sm_virtq_chain *chain)
{
	free(chain->iov);
	sm_virtq_chain_init(chain);
}

/* Copy between buf and the iovecs [iov, iov+n) starting at byte off of them. */
static size_t iov_copy(const struct iovec *iov, unsigned int n, size_t off, void *buf, size_t len,
		       bool to_iov)
{
	size_t done = 0;
	unsigned int i;

	for (i = 0; i < n && done < len; i++) {
		size_t chunk;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		chunk = iov[i].iov_len - off;
		if (chunk > len - done)
			chunk = len - done;
		if (to_iov)
			memcpy((uint8_t *)iov[i].iov_base + off, (uint8_t *)buf + done, chunk);
		else
			memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + off, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

size_t sm_virtq_chain_read(const struct sm_virtq_chain *chain, size_t off, void *buf, size_t len)
{
	if (chain->nrd == 0)
		return 0;
	return iov_copy(chain->iov, chain->nrd, off, buf, len, false);
}

size_t sm_virtq_chain_write(const struct sm_virtq_chain *chain, size_t off, const void *buf, size_t len)
{
	if (chain->nwr == 0)
		return 0;
	return iov_copy(chain->iov + chain->nrd, chain->nwr, off, (void *)buf, len, true);
}
