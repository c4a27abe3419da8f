/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_VIRTIO_VIRTQUEUE_H
#define SM_VMM_VIRTIO_VIRTQUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/error.h"
#include "vmm/memory.h"

/*
 * Split virtqueues (virtio 1.2 §2.7), device side. The driver (guest) owns the descriptor table
 * and the available ring, the device owns the used ring; all three live in guest memory and the
 * guest changes them concurrently, so every index, address and length read from them is checked
 * (through sm_guest_ptr()) and every descriptor is read exactly once into a private copy.
 *
 * A device pops a descriptor chain, which it gets as host iovecs split into a device-readable
 * part followed by a device-writable part, does the work, and pushes the chain's head back with
 * the number of bytes it wrote. VIRTIO_F_EVENT_IDX and VIRTIO_RING_F_INDIRECT_DESC are handled
 * here; the transport enables them when the driver negotiated them.
 *
 * Thread safety: pops are serialised by one internal mutex and pushes by another, so one thread
 * may pop while others push (e.g. worker threads completing requests). Enabling and disabling a
 * queue take both. The iovecs of a popped chain point into guest memory that the guest may
 * change at any time: copy a header out before checking it.
 */

#define SM_VIRTQ_MAX_SIZE 32768u	      /* largest queue size (spec) */
#define SM_VIRTQ_MAX_CHAIN_BYTES (1ull << 32) /* a chain may not describe more (spec §2.7.5) */

/* Ring flags and feature bits (values from the virtio 1.2 specification). */
#define SM_VRING_DESC_F_NEXT 1
#define SM_VRING_DESC_F_WRITE 2
#define SM_VRING_DESC_F_INDIRECT 4
#define SM_VRING_AVAIL_F_NO_INTERRUPT 1
#define SM_VIRTIO_F_INDIRECT_DESC 28
#define SM_VIRTIO_F_EVENT_IDX 29

/* Guest layout of one descriptor (little-endian). */
struct sm_vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct sm_virtq {
	unsigned int index; /* queue number, for messages */

	pthread_mutex_t pop_lock;  /* serialises pops; guards last_avail */
	pthread_mutex_t push_lock; /* serialises pushes; guards used_idx, signalled_* */

	/* Set by sm_virtq_enable(); read under either lock. */
	bool ready;
	bool event_idx;
	bool indirect;
	uint16_t size;
	const struct sm_guest_mem *mem;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint8_t *desc;	/* host view of the descriptor table: size * 16 bytes */
	uint8_t *avail; /* flags, idx, ring[size], used_event */
	uint8_t *used;	/* flags, idx, ring[size] of {id, len}, avail_event */

	uint16_t last_avail;	 /* next available-ring slot to consume */
	uint16_t used_idx;	 /* our copy of used->idx */
	uint16_t signalled_used; /* used_idx when we last decided about an interrupt */
	bool signalled_valid;	 /* false until the first decision (always notify then) */
};

/* The indices a snapshot must carry over for an enabled queue. */
struct sm_virtq_indices {
	uint16_t last_avail;
	uint16_t used_idx;
	uint16_t signalled_used;
	bool signalled_valid;
};

/*
 * One popped descriptor chain. iov[0, nrd) are the device-readable buffers, iov[nrd, nrd+nwr)
 * the device-writable ones, with rd_len/wr_len bytes in total. Zero-length descriptors are
 * accepted but produce no iovec. A chain may have at most queue-size buffer descriptors, counting
 * those in its indirect table (spec §2.7.5.3.1). The iov array grows as needed (up to the queue size) and is
 * reused by the next pop; free it with sm_virtq_chain_free().
 */
struct sm_virtq_chain {
	uint16_t head;	    /* descriptor index to hand back to sm_virtq_push() */
	unsigned int ndesc; /* buffer descriptors walked (not counting one naming an indirect table) */
	struct iovec *iov;
	unsigned int nrd, nwr;
	size_t rd_len, wr_len;
	unsigned int cap; /* allocated entries of iov */
};

/* Set up a disabled queue (mutexes, no rings). index is used in messages only. */
void sm_virtq_init(struct sm_virtq *vq, unsigned int index);

/* Destroy the mutexes. The queue must not be in use. */
void sm_virtq_destroy(struct sm_virtq *vq);

/*
 * Enable the queue on rings the driver placed at desc/avail/used (guest physical addresses) with
 * size entries. features are the negotiated feature bits (EVENT_IDX and INDIRECT_DESC are looked
 * at). Fails, naming the problem, when size is not a power of two in [1, 32768], when a ring is
 * misaligned (16/2/4 bytes) or not entirely in guest RAM. Indices start at 0.
 */
int sm_virtq_enable(struct sm_virtq *vq, const struct sm_guest_mem *mem, uint16_t size, uint64_t desc,
		    uint64_t avail, uint64_t used, uint64_t features, sm_error_t *err);

/*
 * Disable the queue (device reset, QueueReady=0, QueueReset): waits for a pop or push in
 * progress, then forgets the rings and indices. Later pops and pushes fail with -EIO.
 */
void sm_virtq_disable(struct sm_virtq *vq);

/* True when the queue is enabled. */
bool sm_virtq_ready(struct sm_virtq *vq);

/*
 * Pop the next available chain into chain. Returns 1 with a chain, 0 when the available ring is
 * empty (after re-arming the driver's notification when EVENT_IDX is on, and re-checking), or:
 * -EINVAL for a malformed chain (an address or length outside guest RAM or overflowing, a loop
 * or a chain longer than the queue, a bad or nested indirect table, a readable buffer after a
 * writable one, more than SM_VIRTQ_MAX_CHAIN_BYTES): the chain is consumed and chain->head is
 * valid, so the device fails that request and pushes it back (usually with length 0);
 * -EIO when the ring itself is broken (queue not enabled, the available index moved by more than
 * the queue size, a head index out of range): the device should report NEEDS_RESET.
 * err says what was wrong, naming the queue, descriptor and guest address.
 */
int sm_virtq_pop(struct sm_virtq *vq, struct sm_virtq_chain *chain, sm_error_t *err);

/*
 * Ask the driver to notify when it adds its next chain even though chains are still available
 * (EVENT_IDX: avail_event = the driver's current available index; without EVENT_IDX the driver
 * notifies anyway). For devices that must learn when the driver hands a buffer back, e.g. vsock's
 * event queue. No-op on a queue that is not enabled.
 */
void sm_virtq_want_next_notify(struct sm_virtq *vq);

/*
 * Put chain head back on the used ring with len bytes written, publishing it to the driver.
 * Returns 1 when the driver wants a used-buffer notification now (per EVENT_IDX's used_event or
 * the NO_INTERRUPT flag), 0 when not, -EIO when the queue is not enabled, -EINVAL when head is
 * not a descriptor index of this queue.
 */
int sm_virtq_push(struct sm_virtq *vq, uint16_t head, uint32_t len, sm_error_t *err);

/* Read the indices of an enabled queue (for snapshots). */
void sm_virtq_get_indices(struct sm_virtq *vq, struct sm_virtq_indices *out);

/* Restore indices saved by sm_virtq_get_indices() on a queue just enabled on the same rings. */
void sm_virtq_set_indices(struct sm_virtq *vq, const struct sm_virtq_indices *in);

/* An empty chain (equivalent to zero-initialising it). */
void sm_virtq_chain_init(struct sm_virtq_chain *chain);

/* Free the chain's iov array. */
void sm_virtq_chain_free(struct sm_virtq_chain *chain);

/*
 * Copy up to len bytes of the chain's readable part, starting at byte off of it, into buf.
 * Returns the number of bytes copied (less than len when the readable part is shorter).
 */
size_t sm_virtq_chain_read(const struct sm_virtq_chain *chain, size_t off, void *buf, size_t len);

/*
 * Copy up to len bytes from buf into the chain's writable part at byte off of it. Returns the
 * number of bytes copied (less than len when the writable part is shorter).
 */
size_t sm_virtq_chain_write(const struct sm_virtq_chain *chain, size_t off, const void *buf, size_t len);

#endif
