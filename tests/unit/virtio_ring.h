/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_TESTS_UNIT_VIRTIO_RING_H
#define SM_TESTS_UNIT_VIRTIO_RING_H

/*
 * The driver side of a split virtqueue, for tests: lays out a descriptor table, an available
 * ring and a used ring in a fake guest memory (a malloc'd buffer described by
 * sm_guest_mem_init_fake) and writes descriptors the way a guest driver would, including
 * malformed ones.
 */
#include <endian.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/memory.h"
#include "vmm/virtio/virtqueue.h"

#define FAKE_GPA 0x100000ull	 /* guest physical base of the fake RAM */
#define FAKE_MEM_SIZE (4u << 20) /* 4 MiB */
#define FAKE_DATA_OFF (1u << 20) /* buffers are allocated from here on */

struct fake_ring {
	uint8_t *buf;
	struct sm_guest_mem mem;
	uint16_t size;
	uint64_t desc, avail, used; /* guest physical addresses */
	uint16_t avail_idx;	    /* the driver's next available index */
	uint64_t data_next;	    /* bump allocator for buffers */
};

static inline void *fake_ptr(struct fake_ring *r, uint64_t gpa)
{
	return r->buf + (gpa - FAKE_GPA);
}

static inline void fake_ring_init(struct fake_ring *r, uint16_t size)
{
	memset(r, 0, sizeof(*r));
	r->buf = calloc(1, FAKE_MEM_SIZE);
	if (r->buf == NULL)
		abort();
	sm_guest_mem_init_fake(&r->mem, FAKE_GPA, r->buf, FAKE_MEM_SIZE);
	r->size = size;
	r->desc = FAKE_GPA;
	r->avail = r->desc + 16ull * size;
	r->used = (r->avail + 6 + 2ull * size + 3) & ~3ull;
	r->data_next = FAKE_GPA + FAKE_DATA_OFF;
}

static inline void fake_ring_free(struct fake_ring *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* A zeroed buffer of len bytes in guest RAM (16-byte aligned), returned as a guest address. */
static inline uint64_t fake_alloc(struct fake_ring *r, uint32_t len)
{
	uint64_t gpa = r->data_next;

	r->data_next = (r->data_next + len + 15) & ~15ull;
	if (r->data_next > FAKE_GPA + FAKE_MEM_SIZE)
		abort();
	return gpa;
}

static inline void fake_set_desc_at(uint8_t *table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
				    uint16_t next)
{
	struct sm_vring_desc d = {htole64(addr), htole32(len), htole16(flags), htole16(next)};

	memcpy(table + 16 * (size_t)i, &d, sizeof(d));
}

static inline void fake_set_desc(struct fake_ring *r, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
				 uint16_t next)
{
	fake_set_desc_at(fake_ptr(r, r->desc), i, addr, len, flags, next);
}

static inline uint16_t fake_get16(struct fake_ring *r, uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, fake_ptr(r, gpa), 2);
	return le16toh(v);
}

static inline void fake_put16(struct fake_ring *r, uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	memcpy(fake_ptr(r, gpa), &v, 2);
}

/* Put head on the available ring and publish the new index. */
static inline void fake_avail_add(struct fake_ring *r, uint16_t head)
{
	fake_put16(r, r->avail + 4 + 2 * (uint64_t)(r->avail_idx % r->size), head);
	r->avail_idx++;
	fake_put16(r, r->avail + 2, r->avail_idx);
}

/* Set the published available index directly (for index jumps and wrap-around). */
static inline void fake_set_avail_idx(struct fake_ring *r, uint16_t idx)
{
	r->avail_idx = idx;
	fake_put16(r, r->avail + 2, idx);
}

static inline void fake_set_avail_flags(struct fake_ring *r, uint16_t flags)
{
	fake_put16(r, r->avail, flags);
}

static inline void fake_set_used_event(struct fake_ring *r, uint16_t v)
{
	fake_put16(r, r->avail + 4 + 2 * (uint64_t)r->size, v);
}

static inline uint16_t fake_avail_event(struct fake_ring *r)
{
	return fake_get16(r, r->used + 4 + 8 * (uint64_t)r->size);
}

static inline uint16_t fake_used_idx(struct fake_ring *r)
{
	return fake_get16(r, r->used + 2);
}

/* Used element number i (mod size): id and len. */
static inline void fake_used_elem(struct fake_ring *r, uint16_t i, uint32_t *id, uint32_t *len)
{
	uint32_t v[2];

	memcpy(v, fake_ptr(r, r->used + 4 + 8 * (uint64_t)(i % r->size)), sizeof(v));
	*id = le32toh(v[0]);
	*len = le32toh(v[1]);
}

#endif
