/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_VIRTIO_VIRTIO_H
#define SM_VMM_VIRTIO_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "vmm/memory.h"
#include "vmm/virtio/state.h"
#include "vmm/virtio/virtqueue.h"

/*
 * The virtio device interface. A device (virtio-fs, vsock, ...) fills one struct
 * sm_virtio_dev_ops; the transport (vmm/virtio/mmio.h) speaks the register protocol, negotiates
 * features, owns the virtqueues and raises interrupts, and calls the device only through these
 * ops. The device sees a struct sm_virtio_dev handle, which it passes back to the functions
 * below to reach its queues and to signal the driver. See docs/design/virtio.md.
 *
 * Threading (details in mmio.h): notify() may run on the event-loop thread (ioeventfd) or on a
 * vCPU thread, and concurrently with config_read/config_write, but never concurrently with
 * activate(), reset(), queue_reset() or restore(); those wait until running notify() calls have
 * returned. The sm_virtio_* functions below may be called from any thread, including from inside
 * the ops.
 */

#define SM_VIRTIO_MAX_QUEUES 16
#define SM_VIRTIO_MAX_SHM 4
#define SM_VIRTIO_CONFIG_MAX 0xf00 /* device config space bytes that fit the MMIO window */

/* Device IDs (virtio 1.2 §5). */
#define SM_VIRTIO_ID_CONSOLE 3
#define SM_VIRTIO_ID_VSOCK 19
#define SM_VIRTIO_ID_FS 26

/* Transport feature bits (virtio 1.2 §6). INDIRECT_DESC (28) and EVENT_IDX (29): virtqueue.h. */
#define SM_VIRTIO_F_VERSION_1 32
#define SM_VIRTIO_F_RING_RESET 40

#define SM_VIRTIO_BIT(b) (1ull << (b))

struct sm_virtio_dev;

/* A shared memory region (virtio 1.2 §2.10), e.g. the virtio-fs DAX window (id 0). */
struct sm_virtio_shm_region {
	uint8_t id;    /* region id the driver selects with SHMSel */
	uint64_t base; /* guest physical address where the VMM maps it */
	uint64_t len;  /* bytes */
};

struct sm_virtio_dev_ops {
	const char *name;	 /* for messages, e.g. "virtio-fs" */
	uint32_t device_id;	 /* SM_VIRTIO_ID_* */
	unsigned int num_queues; /* 1..SM_VIRTIO_MAX_QUEUES */
	uint16_t queue_max_size; /* QueueNumMax of every queue: power of two, 1..32768 */
	/* Device-specific feature bits offered (bits 0-23 and 50-63). The transport adds
	 * VERSION_1, EVENT_IDX, INDIRECT_DESC, and RING_RESET when queue_reset is set. */
	uint64_t features;
	uint32_t config_size; /* bytes of device config space, <= SM_VIRTIO_CONFIG_MAX */
	struct sm_virtio_shm_region shm[SM_VIRTIO_MAX_SHM];
	unsigned int num_shm;

	/*
	 * Read/write [offset, offset+len) of the device config space (little-endian layout);
	 * the transport has checked that the range is inside config_size. len is 1, 2, 4 or 8.
	 * config_read must fill data. Either may be NULL (reads give zeros, writes are dropped).
	 */
	void (*config_read)(struct sm_virtio_dev *dev, uint32_t offset, void *data, uint32_t len);
	void (*config_write)(struct sm_virtio_dev *dev, uint32_t offset, const void *data, uint32_t len);

	/*
	 * The driver made buffers available on queue (it is enabled and the device is active).
	 * Typically pops chains until sm_virtq_pop() returns 0, or wakes a worker that does.
	 * Required.
	 */
	void (*notify)(struct sm_virtio_dev *dev, unsigned int queue);

	/*
	 * The driver set DRIVER_OK: features are final (sm_virtio_driver_features()) and the
	 * enabled queues are set up. Also called after a successful restore of an active device
	 * (then followed by a notify() of every enabled queue, as kicks from before the snapshot
	 * are not repeated). A failure puts the device into DEVICE_NEEDS_RESET with err's
	 * message. May be NULL.
	 */
	int (*activate)(struct sm_virtio_dev *dev, sm_error_t *err);

	/*
	 * The driver reset the device (Status = 0). Stop using the queues and guest memory, wait
	 * for your own worker threads, drop in-flight requests and driver-visible state; return
	 * when done. Called whether or not the device was active. May be NULL.
	 */
	void (*reset)(struct sm_virtio_dev *dev);

	/*
	 * Optional: the driver stopped one queue (QueueReady = 0 or QueueReset = 1) while the
	 * device was active. Stop using that queue and forget its in-flight chains, like reset()
	 * for one queue. When set, the transport also offers VIRTIO_F_RING_RESET.
	 */
	void (*queue_reset)(struct sm_virtio_dev *dev, unsigned int queue);

	/*
	 * Snapshots: append device-specific state to buf / read it back from r (which holds
	 * exactly what save wrote). The VMM calls save only while the vCPUs are paused; the device
	 * must have no chain in flight (finish or drop them first). restore runs on a freshly
	 * created device, before activate(). Either may be NULL (nothing to save).
	 */
	int (*save)(struct sm_virtio_dev *dev, struct sm_state_buf *buf, sm_error_t *err);
	int (*restore)(struct sm_virtio_dev *dev, struct sm_state_reader *r, sm_error_t *err);
};

/* The device's own state, as given to the transport at creation. */
void *sm_virtio_priv(struct sm_virtio_dev *dev);

/* Guest memory, for devices that access guest RAM beyond the chains they pop. */
const struct sm_guest_mem *sm_virtio_mem(struct sm_virtio_dev *dev);

/* Queue number queue, or NULL when it does not exist. Pop/push on it with virtqueue.h. */
struct sm_virtq *sm_virtio_queue(struct sm_virtio_dev *dev, unsigned int queue);

/* The feature bits the driver accepted (meaningful from activate() on). */
uint64_t sm_virtio_driver_features(struct sm_virtio_dev *dev);

/* True when the driver accepted feature bit. */
bool sm_virtio_has_feature(struct sm_virtio_dev *dev, unsigned int bit);

/*
 * Raise the used-buffer interrupt for queue. Call it when sm_virtq_push() returned 1 (or use
 * sm_virtio_complete()). Ignored unless the driver has set DRIVER_OK.
 */
void sm_virtio_signal_used(struct sm_virtio_dev *dev, unsigned int queue);

/*
 * The device changed its config space: bump ConfigGeneration and raise the config-change
 * interrupt (when DRIVER_OK is set). Change the config first, then call this.
 */
void sm_virtio_signal_config(struct sm_virtio_dev *dev);

/*
 * Push chain head of queue as used with len bytes written and raise the interrupt if the driver
 * wants one. Returns what sm_virtq_push() returns (1/0, or <0 when the queue is gone, e.g.
 * after a reset: the caller just drops the request).
 */
int sm_virtio_complete(struct sm_virtio_dev *dev, unsigned int queue, uint16_t head, uint32_t len,
		       sm_error_t *err);

/*
 * The guest broke the protocol in a way the device cannot recover from (ring corruption, an
 * unparseable control message): set DEVICE_NEEDS_RESET in Status, record the reason (shown by
 * sm_virtio_mmio_stats()) and raise the config-change interrupt. Notifications stop reaching the
 * device until the driver resets it. The first reason is kept.
 */
void sm_virtio_needs_reset(struct sm_virtio_dev *dev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
