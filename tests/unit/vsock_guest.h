/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_TESTS_UNIT_VSOCK_GUEST_H
#define SM_TESTS_UNIT_VSOCK_GUEST_H

/*
 * A guest virtio driver for device tests (vsock_test, console_test): one fake guest RAM holding
 * the split rings of up to 4 queues and one fixed buffer per descriptor; the driver talks to the
 * device only through the real MMIO entry points (sm_virtio_mmio_read/write) and the rings, as
 * Linux's virtio_mmio driver does. The device runs its own thread, so waits poll the used ring
 * with a timeout.
 */
#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm/memory.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/virtqueue.h"

#define G_GPA 0x100000ull
#define G_MEM_SIZE (8u << 20)
#define G_QSIZE 16
#define G_NQ 4
#define G_BUF_SIZE 8192u /* each descriptor's buffer */
#define G_BASE 0xd0000000ull
#define G_IRQ 7

struct gq {
	uint64_t desc, avail, used, bufs; /* guest physical addresses */
	uint16_t avail_idx, last_used;
	uint16_t kicked_idx; /* avail_idx at the last notification */
	bool busy[G_QSIZE];
	uint16_t next[G_QSIZE]; /* chain links we wrote (G_QSIZE: end) */
};

struct guest {
	uint8_t *ram;
	struct sm_guest_mem mem;
	struct gq q[G_NQ];
	unsigned int nq;
	struct sm_virtio_dev *dev;
	int irqs;	/* set_irq(true) calls, __atomic */
	bool event_idx; /* VIRTIO_F_EVENT_IDX negotiated: kick only when avail_event asks */
	unsigned int kicks, kicks_suppressed;
};

/* One buffer of a chain: readable data (len bytes of data) or a writable buffer of len bytes. */
struct gseg {
	const void *data;
	uint32_t len;
	bool write;
};

static inline void g_set_irq(void *opaque, uint32_t irq, bool level)
{
	struct guest *g = opaque;

	(void)irq;
	if (level)
		__atomic_add_fetch(&g->irqs, 1, __ATOMIC_RELAXED);
}

static inline void *g_ptr(struct guest *g, uint64_t gpa)
{
	return g->ram + (gpa - G_GPA);
}

static inline void g_init(struct guest *g, unsigned int nq, struct sm_virtio_mmio_config *cfg)
{
	unsigned int i;

	memset(g, 0, sizeof(*g));
	g->ram = calloc(1, G_MEM_SIZE);
	if (g->ram == NULL)
		abort();
	sm_guest_mem_init_fake(&g->mem, G_GPA, g->ram, G_MEM_SIZE);
	g->nq = nq;
	for (i = 0; i < nq; i++) {
		g->q[i].desc = G_GPA + i * 0x2000ull;
		g->q[i].avail = g->q[i].desc + 0x400;
		g->q[i].used = g->q[i].desc + 0x800;
		g->q[i].bufs = G_GPA + 0x100000 + i * (uint64_t)G_QSIZE * G_BUF_SIZE;
	}
	*cfg = (struct sm_virtio_mmio_config){G_BASE, G_IRQ, &g->mem, g_set_irq, g};
}

static inline void g_free(struct guest *g)
{
	free(g->ram);
	g->ram = NULL;
}

static inline uint32_t g_rd(struct guest *g, uint64_t off)
{
	uint32_t v;

	sm_virtio_mmio_read(g->dev, off, &v, 4);
	return le32toh(v);
}

static inline void g_wr(struct guest *g, uint64_t off, uint32_t v)
{
	v = htole32(v);
	sm_virtio_mmio_write(g->dev, off, &v, 4);
}

static inline uint64_t g_features(struct guest *g)
{
	uint64_t f;

	g_wr(g, SM_VMMIO_DEVICE_FEATURES_SEL, 1);
	f = (uint64_t)g_rd(g, SM_VMMIO_DEVICE_FEATURES) << 32;
	g_wr(g, SM_VMMIO_DEVICE_FEATURES_SEL, 0);
	return f | g_rd(g, SM_VMMIO_DEVICE_FEATURES);
}

/* Reset our ring state (the driver zeroes fresh rings at every probe). */
static inline void g_rings_reset(struct guest *g)
{
	unsigned int i;

	for (i = 0; i < g->nq; i++) {
		struct gq *q = &g->q[i];

		memset(g_ptr(g, q->desc), 0, 0x2000);
		q->avail_idx = q->last_used = q->kicked_idx = 0;
		memset(q->busy, 0, sizeof(q->busy));
	}
}

/* Linux's probe: reset, ACK, DRIVER, features (accept & offered), FEATURES_OK, queues, DRIVER_OK. */
static inline uint32_t g_start(struct guest *g, uint64_t accept)
{
	uint64_t f;
	unsigned int i;

	g_rings_reset(g);
	g_wr(g, SM_VMMIO_STATUS, 0);
	g_wr(g, SM_VMMIO_STATUS, SM_VIRTIO_S_ACKNOWLEDGE);
	g_wr(g, SM_VMMIO_STATUS, SM_VIRTIO_S_ACKNOWLEDGE | SM_VIRTIO_S_DRIVER);
	f = g_features(g) & accept;
	g_wr(g, SM_VMMIO_DRIVER_FEATURES_SEL, 1);
	g_wr(g, SM_VMMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
	g_wr(g, SM_VMMIO_DRIVER_FEATURES_SEL, 0);
	g_wr(g, SM_VMMIO_DRIVER_FEATURES, (uint32_t)f);
	g->event_idx = (f & SM_VIRTIO_BIT(SM_VIRTIO_F_EVENT_IDX)) != 0;
	g_wr(g, SM_VMMIO_STATUS, g_rd(g, SM_VMMIO_STATUS) | SM_VIRTIO_S_FEATURES_OK);
	for (i = 0; i < g->nq; i++) {
		struct gq *q = &g->q[i];

		g_wr(g, SM_VMMIO_QUEUE_SEL, i);
		g_wr(g, SM_VMMIO_QUEUE_NUM, G_QSIZE);
		g_wr(g, SM_VMMIO_QUEUE_DESC_LOW, (uint32_t)q->desc);
		g_wr(g, SM_VMMIO_QUEUE_DESC_HIGH, (uint32_t)(q->desc >> 32));
		g_wr(g, SM_VMMIO_QUEUE_DRIVER_LOW, (uint32_t)q->avail);
		g_wr(g, SM_VMMIO_QUEUE_DRIVER_HIGH, (uint32_t)(q->avail >> 32));
		g_wr(g, SM_VMMIO_QUEUE_DEVICE_LOW, (uint32_t)q->used);
		g_wr(g, SM_VMMIO_QUEUE_DEVICE_HIGH, (uint32_t)(q->used >> 32));
		g_wr(g, SM_VMMIO_QUEUE_READY, 1);
	}
	g_wr(g, SM_VMMIO_STATUS, g_rd(g, SM_VMMIO_STATUS) | SM_VIRTIO_S_DRIVER_OK);
	return g_rd(g, SM_VMMIO_STATUS);
}

static inline uint16_t g_get16(struct guest *g, uint64_t gpa);

/*
 * Notify queue qi of the buffers added since the last notification; with EVENT_IDX only when the
 * device's avail_event asks for it (Linux's virtqueue_kick_prepare), so a device that forgets to
 * re-arm it stalls here as it would with Linux.
 */
static inline void g_kick(struct guest *g, unsigned int qi)
{
	struct gq *q = &g->q[qi];
	uint16_t old = q->kicked_idx, now = q->avail_idx, ev;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	q->kicked_idx = now;
	if (g->event_idx) {
		ev = g_get16(g, q->used + 4 + 8 * (uint64_t)G_QSIZE);
		if ((uint16_t)(now - ev - 1) >= (uint16_t)(now - old)) {
			g->kicks_suppressed++;
			return;
		}
	}
	g->kicks++;
	g_wr(g, SM_VMMIO_QUEUE_NOTIFY, qi);
}

/* The buffer of descriptor id of queue qi. */
static inline uint8_t *g_buf(struct guest *g, unsigned int qi, uint16_t id)
{
	return g_ptr(g, g->q[qi].bufs + (uint64_t)id * G_BUF_SIZE);
}

static inline void g_put16(struct guest *g, uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	memcpy(g_ptr(g, gpa), &v, 2);
}

static inline uint16_t g_get16(struct guest *g, uint64_t gpa)
{
	uint16_t v;

	__atomic_load(((uint16_t *)g_ptr(g, gpa)), &v, __ATOMIC_ACQUIRE);
	return le16toh(v);
}

/* Free descriptors of queue qi. */
static inline unsigned int g_free_descs(struct guest *g, unsigned int qi)
{
	unsigned int i, n = 0;

	for (i = 0; i < G_QSIZE; i++)
		n += !g->q[qi].busy[i];
	return n;
}

/*
 * Make a chain of n segments available on queue qi (no kick). Returns the head, or -1 when not
 * enough descriptors are free. Segment buffers are at most G_BUF_SIZE bytes (a larger len is
 * still written into the descriptor, to test the device's checks, but only G_BUF_SIZE are copied).
 */
static inline int g_add(struct guest *g, unsigned int qi, const struct gseg *segs, unsigned int n)
{
	struct gq *q = &g->q[qi];
	uint16_t ids[G_QSIZE];
	unsigned int i, k = 0;

	for (i = 0; i < G_QSIZE && k < n; i++)
		if (!q->busy[i])
			ids[k++] = (uint16_t)i;
	if (k < n)
		return -1;
	for (i = 0; i < n; i++) {
		uint16_t id = ids[i], flags = 0, next = 0;
		struct sm_vring_desc d;
		uint64_t addr = q->bufs + (uint64_t)id * G_BUF_SIZE;

		q->busy[id] = true;
		q->next[id] = i + 1 < n ? ids[i + 1] : G_QSIZE;
		if (segs[i].write)
			flags |= SM_VRING_DESC_F_WRITE;
		else if (segs[i].data != NULL)
			memcpy(g_ptr(g, addr), segs[i].data,
			       segs[i].len < G_BUF_SIZE ? segs[i].len : G_BUF_SIZE);
		if (i + 1 < n) {
			flags |= SM_VRING_DESC_F_NEXT;
			next = ids[i + 1];
		}
		d = (struct sm_vring_desc){htole64(addr), htole32(segs[i].len), htole16(flags),
					   htole16(next)};
		memcpy(g_ptr(g, q->desc + 16ull * id), &d, sizeof(d));
	}
	g_put16(g, q->avail + 4 + 2 * (uint64_t)(q->avail_idx % G_QSIZE), ids[0]);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	q->avail_idx++;
	g_put16(g, q->avail + 2, q->avail_idx);
	return ids[0];
}

/* Take the next used element of queue qi if there is one; frees its descriptors. */
static inline bool g_used(struct guest *g, unsigned int qi, uint16_t *id, uint32_t *len)
{
	struct gq *q = &g->q[qi];
	uint32_t v[2];
	uint16_t d;

	if (g_get16(g, q->used + 2) == q->last_used)
		return false;
	memcpy(v, g_ptr(g, q->used + 4 + 8 * (uint64_t)(q->last_used % G_QSIZE)), sizeof(v));
	q->last_used++;
	*id = (uint16_t)le32toh(v[0]);
	*len = le32toh(v[1]);
	for (d = *id; d < G_QSIZE && q->busy[d]; d = q->next[d])
		q->busy[d] = false;
	return true;
}

static inline uint64_t g_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait up to timeout_ms for a used element of queue qi. */
static inline bool g_wait_used(struct guest *g, unsigned int qi, uint16_t *id, uint32_t *len,
			       unsigned int timeout_ms)
{
	uint64_t end = g_now_ms() + timeout_ms;

	for (;;) {
		if (g_used(g, qi, id, len))
			return true;
		if (g_now_ms() >= end)
			return false;
		usleep(500);
	}
}

/* Wait up to timeout_ms for cond() to hold. */
#define G_WAIT(cond, timeout_ms)                                                                             \
	({                                                                                                   \
		uint64_t end__ = g_now_ms() + (timeout_ms);                                                  \
		bool ok__;                                                                                   \
		while (!(ok__ = (cond)) && g_now_ms() < end__)                                               \
			usleep(500);                                                                         \
		ok__;                                                                                        \
	})

#endif
