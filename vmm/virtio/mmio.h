/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_VIRTIO_MMIO_H
#define SM_VMM_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "vmm/memory.h"
#include "vmm/virtio/state.h"
#include "vmm/virtio/virtio.h"

/*
 * The virtio-mmio transport (virtio 1.2 §4.2), modern interface (Version 2) only. One transport
 * instance carries one device; the instance is the device's struct sm_virtio_dev handle. The VMM
 * routes guest accesses to [base, base + SM_VIRTIO_MMIO_SIZE) into sm_virtio_mmio_read/_write,
 * and gives a callback that drives the device's interrupt line (irqfd or KVM_IRQ_LINE).
 *
 * Locking. Three locks per transport, always taken in this order:
 *  - ctl (mutex): serialises register writes other than QueueNotify and InterruptACK, config
 *    space accesses, save and restore. Held while calling config_read/config_write.
 *  - active (rwlock, writer-preferring): held for reading while notify() runs, for writing while
 *    activate(), reset(), queue_reset() and the device part of restore run. So a reset waits for
 *    the notify() calls in progress, and notify() never runs during a reset.
 *  - lock (mutex): the register state; never held while calling the device, held while calling
 *    the interrupt callback. sm_virtio_signal_*() and sm_virtio_needs_reset() take only this one,
 *    so a device's worker threads may call them while reset() waits for those threads.
 * The interrupt callback must therefore not call back into the transport; an eventfd write or a
 * KVM_IRQ_LINE ioctl is what it is for.
 *
 * The guest is not trusted: a bad access (wrong width or alignment, reading a write-only
 * register, writing a read-only one, out-of-order status bits, queue setup outside guest RAM)
 * is ignored and counted, never fatal to the VMM.
 */

#define SM_VIRTIO_MMIO_SIZE 0x1000ull	 /* register window per device (config space from 0x100) */
#define SM_VIRTIO_MMIO_MAGIC 0x74726976u /* "virt" */
#define SM_VIRTIO_MMIO_VENDOR 0x4d53u	 /* "SM" */

/* Register offsets (virtio 1.2 §4.2.2). */
enum {
	SM_VMMIO_MAGIC = 0x000,
	SM_VMMIO_VERSION = 0x004,
	SM_VMMIO_DEVICE_ID = 0x008,
	SM_VMMIO_VENDOR_ID = 0x00c,
	SM_VMMIO_DEVICE_FEATURES = 0x010,
	SM_VMMIO_DEVICE_FEATURES_SEL = 0x014,
	SM_VMMIO_DRIVER_FEATURES = 0x020,
	SM_VMMIO_DRIVER_FEATURES_SEL = 0x024,
	SM_VMMIO_QUEUE_SEL = 0x030,
	SM_VMMIO_QUEUE_NUM_MAX = 0x034,
	SM_VMMIO_QUEUE_NUM = 0x038,
	SM_VMMIO_QUEUE_READY = 0x044,
	SM_VMMIO_QUEUE_NOTIFY = 0x050,
	SM_VMMIO_INTERRUPT_STATUS = 0x060,
	SM_VMMIO_INTERRUPT_ACK = 0x064,
	SM_VMMIO_STATUS = 0x070,
	SM_VMMIO_QUEUE_DESC_LOW = 0x080,
	SM_VMMIO_QUEUE_DESC_HIGH = 0x084,
	SM_VMMIO_QUEUE_DRIVER_LOW = 0x090,
	SM_VMMIO_QUEUE_DRIVER_HIGH = 0x094,
	SM_VMMIO_QUEUE_DEVICE_LOW = 0x0a0,
	SM_VMMIO_QUEUE_DEVICE_HIGH = 0x0a4,
	SM_VMMIO_SHM_SEL = 0x0ac,
	SM_VMMIO_SHM_LEN_LOW = 0x0b0,
	SM_VMMIO_SHM_LEN_HIGH = 0x0b4,
	SM_VMMIO_SHM_BASE_LOW = 0x0b8,
	SM_VMMIO_SHM_BASE_HIGH = 0x0bc,
	SM_VMMIO_QUEUE_RESET = 0x0c0,
	SM_VMMIO_CONFIG_GENERATION = 0x0fc,
	SM_VMMIO_CONFIG = 0x100,
};

/* Device status bits (virtio 1.2 §2.1). */
#define SM_VIRTIO_S_ACKNOWLEDGE 1u
#define SM_VIRTIO_S_DRIVER 2u
#define SM_VIRTIO_S_DRIVER_OK 4u
#define SM_VIRTIO_S_FEATURES_OK 8u
#define SM_VIRTIO_S_NEEDS_RESET 0x40u
#define SM_VIRTIO_S_FAILED 0x80u

/* InterruptStatus bits. */
#define SM_VIRTIO_INT_VRING 1u
#define SM_VIRTIO_INT_CONFIG 2u

struct sm_virtio_mmio_config {
	uint64_t base;			/* guest physical base of the window, 4 KiB aligned */
	uint32_t irq;			/* interrupt line (GSI) given to the guest */
	const struct sm_guest_mem *mem; /* guest RAM the rings and buffers live in */
	/*
	 * Drive the interrupt line: level true when InterruptStatus gains a bit it did not have,
	 * false when it becomes 0 (ACK or reset). Edge-style implementations (irqfd) inject on
	 * true and ignore false; level-style ones (KVM_IRQ_LINE) follow it. Called with the
	 * transport's lock held (see above).
	 */
	void (*set_irq)(void *opaque, uint32_t irq, bool level);
	void *irq_opaque;
};

struct sm_virtio_mmio_stats {
	uint64_t bad_accesses;	      /* ignored guest accesses */
	uint64_t notifies;	      /* notify() calls made */
	uint64_t interrupts;	      /* set_irq(true) calls made */
	uint64_t features_refused;    /* FEATURES_OK writes refused */
	bool needs_reset;	      /* DEVICE_NEEDS_RESET is set */
	char last_bad[160];	      /* the last bad access, for logs */
	char needs_reset_reason[512]; /* why the device asked for a reset */
};

/*
 * Create a transport for the device described by ops (copied) with private state priv. Fails,
 * naming the field, when ops or cfg are inconsistent (queue count or size out of range, config
 * space too large, duplicate shared-memory ids, transport feature bits in ops->features,
 * missing notify or set_irq, unaligned base).
 */
int sm_virtio_mmio_new(const struct sm_virtio_mmio_config *cfg, const struct sm_virtio_dev_ops *ops,
		       void *priv, struct sm_virtio_dev **out, sm_error_t *err);

/*
 * Free the transport (NULL is allowed). Calls no device op: stop the device (e.g. by resetting
 * it through its own teardown) and make sure no thread uses the handle before freeing.
 */
void sm_virtio_mmio_free(struct sm_virtio_dev *dev);

/*
 * A guest read of len bytes (1, 2, 4 or 8) at offset from the window base: fills data
 * (little-endian, as the guest sees it). Registers below 0x100 take 32-bit aligned reads only;
 * config space takes any of the widths inside config_size. Anything else reads as zeros and is
 * counted as a bad access.
 */
void sm_virtio_mmio_read(struct sm_virtio_dev *dev, uint64_t offset, void *data, unsigned int len);

/*
 * A guest write of len bytes at offset from the window base (same width rules as reads). May
 * call into the device (activate, reset, notify, config_write) before returning.
 */
void sm_virtio_mmio_write(struct sm_virtio_dev *dev, uint64_t offset, const void *data, unsigned int len);

/*
 * Deliver a driver notification for queue, as a QueueNotify write would: the VMM's ioeventfd
 * handler calls this. Notifications for a queue that is not enabled are dropped; those that
 * arrive before DRIVER_OK are remembered and delivered after activate().
 */
void sm_virtio_mmio_notify(struct sm_virtio_dev *dev, unsigned int queue);

/* Guest physical address of QueueNotify (for a 4-byte ioeventfd with datamatch = queue index). */
uint64_t sm_virtio_mmio_notify_addr(const struct sm_virtio_dev *dev);

/* The device id (ops->device_id, SM_VIRTIO_ID_*) and name, e.g. to match snapshot sections. */
uint32_t sm_virtio_mmio_device_id(const struct sm_virtio_dev *dev);
const char *sm_virtio_mmio_name(const struct sm_virtio_dev *dev);

/* Number of queues the device has (its ops' num_queues). */
unsigned int sm_virtio_mmio_num_queues(const struct sm_virtio_dev *dev);

/*
 * The kernel command-line snippet that makes Linux probe this device:
 * "virtio_mmio.device=4K@0x<base>:<irq>". Malloc'd; the caller frees it.
 */
char *sm_virtio_mmio_cmdline(const struct sm_virtio_dev *dev);

/* Copy the counters and last messages (for logs and tests). */
void sm_virtio_mmio_stats(struct sm_virtio_dev *dev, struct sm_virtio_mmio_stats *out);

/*
 * Append the transport state (registers, queue addresses and indices, interrupt status) and the
 * device's own state (ops->save) to buf. Call with the vCPUs paused and no chain in flight.
 */
int sm_virtio_mmio_save(struct sm_virtio_dev *dev, struct sm_state_buf *buf, sm_error_t *err);

/*
 * Restore a state written by sm_virtio_mmio_save() into a freshly created transport for the same
 * device type, over guest memory that holds the saved RAM: re-enables the queues (their rings
 * are checked again), calls ops->restore, then ops->activate if the device was active, and
 * re-raises a pending interrupt. Fails, naming the field, on a truncated or inconsistent state.
 * Consumes exactly what save wrote, so several devices can share one buffer.
 */
int sm_virtio_mmio_restore(struct sm_virtio_dev *dev, struct sm_state_reader *r, sm_error_t *err);

#endif
