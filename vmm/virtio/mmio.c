/* SPDX-License-Identifier: Apache-2.0 */
#include <endian.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vmm/virtio/mmio.h"

/* Transport feature bits (24..49) the transport implements; a device may not offer the others. */
#define TRANSPORT_BITS_MASK (((1ull << 50) - 1) & ~((1ull << 24) - 1))
#define RING_FEATURES                                                                                        \
	(SM_VIRTIO_BIT(SM_VIRTIO_F_VERSION_1) | SM_VIRTIO_BIT(SM_VIRTIO_F_EVENT_IDX) |                       \
	 SM_VIRTIO_BIT(SM_VIRTIO_F_INDIRECT_DESC))
#define STATUS_BITS                                                                                          \
	(SM_VIRTIO_S_ACKNOWLEDGE | SM_VIRTIO_S_DRIVER | SM_VIRTIO_S_DRIVER_OK | SM_VIRTIO_S_FEATURES_OK |    \
	 SM_VIRTIO_S_NEEDS_RESET | SM_VIRTIO_S_FAILED)

#define SAVE_MAGIC 0x4f494d53u /* "SMIO" */
#define SAVE_VERSION 1u

struct queue_regs {
	uint32_t num;
	uint32_t ready; /* last value written to QueueReady */
	uint64_t desc, driver, device;
};

struct sm_virtio_dev {
	struct sm_virtio_dev_ops ops;
	void *priv;
	struct sm_virtio_mmio_config cfg;
	uint64_t offered; /* DeviceFeatures */

	pthread_mutex_t ctl;
	pthread_rwlock_t active;
	pthread_mutex_t lock;

	/* Register state, guarded by lock. */
	uint32_t status;
	uint32_t dev_features_sel, drv_features_sel;
	uint64_t drv_features;
	bool drv_features_extra; /* the driver accepted bits beyond 63 */
	uint32_t queue_sel;
	uint32_t isr;
	uint32_t generation;
	uint32_t shm_sel;
	uint32_t pending_notify; /* queues notified before the device was activated */
	bool activated;		 /* activate() succeeded and no reset since */
	struct queue_regs q[SM_VIRTIO_MAX_QUEUES];
	struct sm_virtio_mmio_stats stats;

	struct sm_virtq vqs[SM_VIRTIO_MAX_QUEUES];
};

static const char *dev_name(const struct sm_virtio_dev *d)
{
	return d->ops.name != NULL ? d->ops.name : "virtio";
}

static void vbad_locked(struct sm_virtio_dev *d, const char *fmt, va_list ap)
{
	d->stats.bad_accesses++;
	vsnprintf(d->stats.last_bad, sizeof(d->stats.last_bad), fmt, ap);
}

static void bad_locked(struct sm_virtio_dev *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad_locked(struct sm_virtio_dev *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vbad_locked(d, fmt, ap);
	va_end(ap);
}

static void bad(struct sm_virtio_dev *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad(struct sm_virtio_dev *d, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&d->lock);
	va_start(ap, fmt);
	vbad_locked(d, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&d->lock);
}

static void raise_locked(struct sm_virtio_dev *d, uint32_t bits)
{
	uint32_t old = d->isr;

	d->isr |= bits;
	if (bits & ~old) {
		d->stats.interrupts++;
		d->cfg.set_irq(d->cfg.irq_opaque, d->cfg.irq, true);
	}
}

static void ack_locked(struct sm_virtio_dev *d, uint32_t bits)
{
	uint32_t old = d->isr;

	d->isr &= ~bits;
	if (old != 0 && d->isr == 0)
		d->cfg.set_irq(d->cfg.irq_opaque, d->cfg.irq, false);
}

static void needs_reset_locked(struct sm_virtio_dev *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void needs_reset_locked(struct sm_virtio_dev *d, const char *fmt, ...)
{
	va_list ap;

	if (d->status == 0 || (d->status & SM_VIRTIO_S_NEEDS_RESET))
		return;
	d->status |= SM_VIRTIO_S_NEEDS_RESET;
	va_start(ap, fmt);
	vsnprintf(d->stats.needs_reset_reason, sizeof(d->stats.needs_reset_reason), fmt, ap);
	va_end(ap);
	if (d->status & SM_VIRTIO_S_DRIVER_OK)
		raise_locked(d, SM_VIRTIO_INT_CONFIG);
}

/* Registers back to their reset values (not the status, not the virtqueues). */
static void reset_regs_locked(struct sm_virtio_dev *d)
{
	unsigned int i;

	d->dev_features_sel = d->drv_features_sel = 0;
	d->drv_features = 0;
	d->drv_features_extra = false;
	d->queue_sel = 0;
	d->shm_sel = 0;
	d->pending_notify = 0;
	for (i = 0; i < SM_VIRTIO_MAX_QUEUES; i++) {
		d->q[i].num = d->ops.queue_max_size;
		d->q[i].ready = 0;
		d->q[i].desc = d->q[i].driver = d->q[i].device = 0;
	}
	ack_locked(d, UINT32_MAX);
}

/* ---- device-facing API (virtio.h) ---- */

void *sm_virtio_priv(struct sm_virtio_dev *dev)
{
	return dev->priv;
}

const struct sm_guest_mem *sm_virtio_mem(struct sm_virtio_dev *dev)
{
	return dev->cfg.mem;
}

struct sm_virtq *sm_virtio_queue(struct sm_virtio_dev *dev, unsigned int queue)
{
	return queue < dev->ops.num_queues ? &dev->vqs[queue] : NULL;
}

uint64_t sm_virtio_driver_features(struct sm_virtio_dev *dev)
{
	uint64_t f;

	pthread_mutex_lock(&dev->lock);
	f = dev->drv_features;
	pthread_mutex_unlock(&dev->lock);
	return f;
}

bool sm_virtio_has_feature(struct sm_virtio_dev *dev, unsigned int bit)
{
	return bit < 64 && ((sm_virtio_driver_features(dev) >> bit) & 1);
}

void sm_virtio_signal_used(struct sm_virtio_dev *dev, unsigned int queue)
{
	(void)queue; /* virtio-mmio has one interrupt for all queues */
	pthread_mutex_lock(&dev->lock);
	if (dev->status & SM_VIRTIO_S_DRIVER_OK)
		raise_locked(dev, SM_VIRTIO_INT_VRING);
	pthread_mutex_unlock(&dev->lock);
}

void sm_virtio_signal_config(struct sm_virtio_dev *dev)
{
	pthread_mutex_lock(&dev->lock);
	dev->generation++;
	if (dev->status & SM_VIRTIO_S_DRIVER_OK)
		raise_locked(dev, SM_VIRTIO_INT_CONFIG);
	pthread_mutex_unlock(&dev->lock);
}

int sm_virtio_complete(struct sm_virtio_dev *dev, unsigned int queue, uint16_t head, uint32_t len,
		       sm_error_t *err)
{
	struct sm_virtq *vq = sm_virtio_queue(dev, queue);
	int r;

	if (vq == NULL)
		return sm_error_set(err, 0, "%s: no queue %u", dev_name(dev), queue);
	r = sm_virtq_push(vq, head, len, err);
	if (r == 1)
		sm_virtio_signal_used(dev, queue);
	return r;
}

void sm_virtio_needs_reset(struct sm_virtio_dev *dev, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&dev->lock);
	needs_reset_locked(dev, "%s", why);
	pthread_mutex_unlock(&dev->lock);
}

/* ---- register reads ---- */

static uint32_t shm_reg_locked(struct sm_virtio_dev *d, uint64_t off)
{
	const struct sm_virtio_shm_region *r = NULL;
	uint64_t v;
	unsigned int i;

	for (i = 0; i < d->ops.num_shm; i++)
		if (d->shm_sel == d->ops.shm[i].id)
			r = &d->ops.shm[i];
	if (r == NULL)
		return UINT32_MAX; /* length and base of a missing region read as -1 (spec) */
	v = (off == SM_VMMIO_SHM_LEN_LOW || off == SM_VMMIO_SHM_LEN_HIGH) ? r->len : r->base;
	return (off == SM_VMMIO_SHM_LEN_HIGH || off == SM_VMMIO_SHM_BASE_HIGH) ? (uint32_t)(v >> 32)
									       : (uint32_t)v;
}

static uint32_t read_reg_locked(struct sm_virtio_dev *d, uint64_t off)
{
	const struct queue_regs *q = d->queue_sel < d->ops.num_queues ? &d->q[d->queue_sel] : NULL;

	switch (off) {
	case SM_VMMIO_MAGIC:
		return SM_VIRTIO_MMIO_MAGIC;
	case SM_VMMIO_VERSION:
		return 2;
	case SM_VMMIO_DEVICE_ID:
		return d->ops.device_id;
	case SM_VMMIO_VENDOR_ID:
		return SM_VIRTIO_MMIO_VENDOR;
	case SM_VMMIO_DEVICE_FEATURES:
		return d->dev_features_sel == 0	  ? (uint32_t)d->offered
		       : d->dev_features_sel == 1 ? (uint32_t)(d->offered >> 32)
						  : 0;
	case SM_VMMIO_QUEUE_NUM_MAX:
		return q != NULL ? d->ops.queue_max_size : 0;
	case SM_VMMIO_QUEUE_READY:
		return q != NULL ? q->ready : 0;
	case SM_VMMIO_INTERRUPT_STATUS:
		return d->isr;
	case SM_VMMIO_STATUS:
		return d->status;
	case SM_VMMIO_SHM_LEN_LOW:
	case SM_VMMIO_SHM_LEN_HIGH:
	case SM_VMMIO_SHM_BASE_LOW:
	case SM_VMMIO_SHM_BASE_HIGH:
		return shm_reg_locked(d, off);
	case SM_VMMIO_QUEUE_RESET:
		return 0; /* a queue reset completes before the write returns */
	case SM_VMMIO_CONFIG_GENERATION:
		return d->generation;
	default:
		bad_locked(d, "read of write-only or unknown register 0x%03llx", (unsigned long long)off);
		return 0;
	}
}

/* Config space: any width of 1, 2, 4 or 8 bytes inside config_size. ctl serialises the device. */
static void config_access(struct sm_virtio_dev *d, uint64_t off, void *data, unsigned int len, bool write)
{
	if ((len != 1 && len != 2 && len != 4 && len != 8) || off >= d->ops.config_size ||
	    len > d->ops.config_size - off) {
		bad(d, "%u-byte config %s at 0x%llx (config space is %u bytes)", len,
		    write ? "write" : "read", (unsigned long long)off, d->ops.config_size);
		return;
	}
	pthread_mutex_lock(&d->ctl);
	if (write && d->ops.config_write != NULL)
		d->ops.config_write(d, (uint32_t)off, data, len);
	else if (!write && d->ops.config_read != NULL)
		d->ops.config_read(d, (uint32_t)off, data, len);
	pthread_mutex_unlock(&d->ctl);
}

void sm_virtio_mmio_read(struct sm_virtio_dev *dev, uint64_t offset, void *data, unsigned int len)
{
	uint32_t v;

	memset(data, 0, len);
	if (offset >= SM_VMMIO_CONFIG) {
		config_access(dev, offset - SM_VMMIO_CONFIG, data, len, false);
		return;
	}
	if (len != 4 || offset % 4 != 0) {
		bad(dev, "%u-byte register read at 0x%03llx", len, (unsigned long long)offset);
		return;
	}
	pthread_mutex_lock(&dev->lock);
	v = read_reg_locked(dev, offset);
	pthread_mutex_unlock(&dev->lock);
	v = htole32(v);
	memcpy(data, &v, sizeof(v));
}

/* ---- notifications ---- */

void sm_virtio_mmio_notify(struct sm_virtio_dev *dev, unsigned int queue)
{
	bool deliver = false;

	if (queue >= dev->ops.num_queues) {
		bad(dev, "notify of queue %u (the device has %u)", queue, dev->ops.num_queues);
		return;
	}
	pthread_rwlock_rdlock(&dev->active);
	pthread_mutex_lock(&dev->lock);
	if (dev->q[queue].ready && !(dev->status & (SM_VIRTIO_S_NEEDS_RESET | SM_VIRTIO_S_FAILED))) {
		if (dev->activated) {
			deliver = true;
			dev->stats.notifies++;
		} else {
			dev->pending_notify |= 1u << queue;
		}
	}
	pthread_mutex_unlock(&dev->lock);
	if (deliver)
		dev->ops.notify(dev, queue);
	pthread_rwlock_unlock(&dev->active);
}

uint64_t sm_virtio_mmio_notify_addr(const struct sm_virtio_dev *dev)
{
	return dev->cfg.base + SM_VMMIO_QUEUE_NOTIFY;
}

/* ---- control-plane writes (ctl held) ---- */

static void activate(struct sm_virtio_dev *d)
{
	sm_error_t err = SM_ERROR_INIT;
	uint32_t pending = 0;
	unsigned int i;
	int r = 0;

	pthread_rwlock_wrlock(&d->active);
	if (d->ops.activate != NULL)
		r = d->ops.activate(d, &err);
	pthread_mutex_lock(&d->lock);
	if (r < 0) {
		needs_reset_locked(d, "activate failed: %s", err.msg);
	} else {
		d->activated = true;
		pending = d->pending_notify;
	}
	d->pending_notify = 0;
	pthread_mutex_unlock(&d->lock);
	pthread_rwlock_unlock(&d->active);
	for (i = 0; i < d->ops.num_queues; i++)
		if (pending & (1u << i))
			sm_virtio_mmio_notify(d, i);
}

static void do_reset(struct sm_virtio_dev *d)
{
	unsigned int i;

	/* Status 0 first: from now on signals are dropped and notifications are not delivered. */
	pthread_mutex_lock(&d->lock);
	d->status = 0;
	d->activated = false;
	pthread_mutex_unlock(&d->lock);
	pthread_rwlock_wrlock(&d->active);
	if (d->ops.reset != NULL)
		d->ops.reset(d);
	for (i = 0; i < d->ops.num_queues; i++)
		sm_virtq_disable(&d->vqs[i]);
	pthread_mutex_lock(&d->lock);
	reset_regs_locked(d);
	pthread_mutex_unlock(&d->lock);
	pthread_rwlock_unlock(&d->active);
}

/* Why the driver's feature set cannot be accepted, or NULL when it can. */
static const char *features_problem(const struct sm_virtio_dev *d)
{
	if (!(d->drv_features & SM_VIRTIO_BIT(SM_VIRTIO_F_VERSION_1)))
		return "the driver did not accept VIRTIO_F_VERSION_1";
	if ((d->drv_features & ~d->offered) != 0 || d->drv_features_extra)
		return "the driver accepted feature bits that were not offered";
	return NULL;
}

static void write_status(struct sm_virtio_dev *d, uint32_t v)
{
	uint32_t old, next, added;
	const char *problem;
	bool go;

	if (v == 0) {
		do_reset(d);
		return;
	}
	pthread_mutex_lock(&d->lock);
	old = d->status;
	/* DEVICE_NEEDS_RESET belongs to the device: the driver writes back what it read. */
	next = (v & ~SM_VIRTIO_S_NEEDS_RESET) | (old & SM_VIRTIO_S_NEEDS_RESET);
	if ((v & ~STATUS_BITS) != 0 || (old & ~next) != 0 ||
	    ((next & SM_VIRTIO_S_DRIVER) && !(next & SM_VIRTIO_S_ACKNOWLEDGE)) ||
	    ((next & SM_VIRTIO_S_FEATURES_OK) && !(next & SM_VIRTIO_S_DRIVER)) ||
	    ((next & SM_VIRTIO_S_DRIVER_OK) && !(next & SM_VIRTIO_S_FEATURES_OK))) {
		bad_locked(d, "status 0x%x after 0x%x (bits cleared, unknown, or out of order)", v, old);
		pthread_mutex_unlock(&d->lock);
		return;
	}
	added = next & ~old;
	if ((added & SM_VIRTIO_S_FEATURES_OK) && (problem = features_problem(d)) != NULL) {
		/* Refusing FEATURES_OK is the protocol's answer: the driver reads Status back. */
		next &= ~(SM_VIRTIO_S_FEATURES_OK | SM_VIRTIO_S_DRIVER_OK);
		added = next & ~old;
		d->stats.features_refused++;
		snprintf(d->stats.last_bad, sizeof(d->stats.last_bad), "FEATURES_OK refused for 0x%llx: %s",
			 (unsigned long long)d->drv_features, problem);
	}
	d->status = next;
	go = (added & SM_VIRTIO_S_DRIVER_OK) && !(next & (SM_VIRTIO_S_NEEDS_RESET | SM_VIRTIO_S_FAILED));
	pthread_mutex_unlock(&d->lock);
	if (go)
		activate(d);
}

/* Stop queue qi (QueueReady = 0 or QueueReset = 1); clear_regs for a queue reset. */
static void stop_queue(struct sm_virtio_dev *d, unsigned int qi, bool clear_regs)
{
	bool was_active;

	pthread_rwlock_wrlock(&d->active);
	pthread_mutex_lock(&d->lock);
	was_active = d->activated && d->q[qi].ready;
	d->q[qi].ready = 0;
	d->pending_notify &= ~(1u << qi);
	if (clear_regs) {
		d->q[qi].num = d->ops.queue_max_size;
		d->q[qi].desc = d->q[qi].driver = d->q[qi].device = 0;
	}
	pthread_mutex_unlock(&d->lock);
	if (was_active && d->ops.queue_reset != NULL)
		d->ops.queue_reset(d, qi);
	sm_virtq_disable(&d->vqs[qi]);
	pthread_rwlock_unlock(&d->active);
}

static void start_queue(struct sm_virtio_dev *d, unsigned int qi)
{
	sm_error_t err = SM_ERROR_INIT;
	struct queue_regs q;
	uint64_t features;
	uint32_t status;
	int r;

	pthread_mutex_lock(&d->lock);
	q = d->q[qi];
	features = d->drv_features;
	status = d->status;
	pthread_mutex_unlock(&d->lock);
	if (!(status & SM_VIRTIO_S_FEATURES_OK) ||
	    (status & (SM_VIRTIO_S_NEEDS_RESET | SM_VIRTIO_S_FAILED))) {
		bad(d, "QueueReady for queue %u in status 0x%x", qi, status);
		return;
	}
	if (q.num > d->ops.queue_max_size)
		r = sm_error_set(&err, 0, "virtqueue %u: size %u is larger than QueueNumMax %u", qi, q.num,
				 d->ops.queue_max_size);
	else
		r = sm_virtq_enable(&d->vqs[qi], d->cfg.mem, (uint16_t)q.num, q.desc, q.driver, q.device,
				    features, &err);
	pthread_mutex_lock(&d->lock);
	if (r < 0) {
		bad_locked(d, "%s", err.msg);
		needs_reset_locked(d, "%s", err.msg);
	} else {
		d->q[qi].ready = 1;
	}
	pthread_mutex_unlock(&d->lock);
}

static void write_queue_ready(struct sm_virtio_dev *d, uint32_t v)
{
	unsigned int qi;
	bool change;

	pthread_mutex_lock(&d->lock);
	qi = d->queue_sel;
	if (qi >= d->ops.num_queues || v > 1) {
		bad_locked(d, "QueueReady %u for queue %u", v, qi);
		pthread_mutex_unlock(&d->lock);
		return;
	}
	change = d->q[qi].ready != v;
	pthread_mutex_unlock(&d->lock);
	if (change && v == 1)
		start_queue(d, qi);
	else if (change)
		stop_queue(d, qi, false);
}

static void write_queue_reset(struct sm_virtio_dev *d, uint32_t v)
{
	unsigned int qi;
	bool ok;

	pthread_mutex_lock(&d->lock);
	qi = d->queue_sel;
	ok = (d->drv_features & SM_VIRTIO_BIT(SM_VIRTIO_F_RING_RESET)) && v == 1 && qi < d->ops.num_queues;
	if (!ok)
		bad_locked(d, "QueueReset %u for queue %u (VIRTIO_F_RING_RESET %snegotiated)", v, qi,
			   (d->drv_features & SM_VIRTIO_BIT(SM_VIRTIO_F_RING_RESET)) ? "" : "not ");
	pthread_mutex_unlock(&d->lock);
	if (ok)
		stop_queue(d, qi, true);
}

static void write_driver_features_locked(struct sm_virtio_dev *d, uint32_t v)
{
	if (!(d->status & SM_VIRTIO_S_DRIVER) || (d->status & SM_VIRTIO_S_FEATURES_OK)) {
		bad_locked(d, "DriverFeatures written in status 0x%x", d->status);
		return;
	}
	if (d->drv_features_sel == 0)
		d->drv_features = (d->drv_features & 0xffffffff00000000ull) | v;
	else if (d->drv_features_sel == 1)
		d->drv_features = (d->drv_features & 0xffffffffull) | ((uint64_t)v << 32);
	else if (v != 0)
		d->drv_features_extra = true;
}

static void write_queue_field_locked(struct sm_virtio_dev *d, uint64_t off, uint32_t v)
{
	struct queue_regs *q = d->queue_sel < d->ops.num_queues ? &d->q[d->queue_sel] : NULL;

	if (q == NULL || q->ready) {
		bad_locked(d, "write to queue register 0x%03llx of %s queue %u", (unsigned long long)off,
			   q == NULL ? "missing" : "ready", d->queue_sel);
		return;
	}
	switch (off) {
	case SM_VMMIO_QUEUE_NUM:
		q->num = v;
		break;
	case SM_VMMIO_QUEUE_DESC_LOW:
		q->desc = (q->desc & 0xffffffff00000000ull) | v;
		break;
	case SM_VMMIO_QUEUE_DESC_HIGH:
		q->desc = (q->desc & 0xffffffffull) | ((uint64_t)v << 32);
		break;
	case SM_VMMIO_QUEUE_DRIVER_LOW:
		q->driver = (q->driver & 0xffffffff00000000ull) | v;
		break;
	case SM_VMMIO_QUEUE_DRIVER_HIGH:
		q->driver = (q->driver & 0xffffffffull) | ((uint64_t)v << 32);
		break;
	case SM_VMMIO_QUEUE_DEVICE_LOW:
		q->device = (q->device & 0xffffffff00000000ull) | v;
		break;
	case SM_VMMIO_QUEUE_DEVICE_HIGH:
		q->device = (q->device & 0xffffffffull) | ((uint64_t)v << 32);
		break;
	}
}

static void write_reg_locked(struct sm_virtio_dev *d, uint64_t off, uint32_t v)
{
	switch (off) {
	case SM_VMMIO_DEVICE_FEATURES_SEL:
		d->dev_features_sel = v;
		break;
	case SM_VMMIO_DRIVER_FEATURES_SEL:
		d->drv_features_sel = v;
		break;
	case SM_VMMIO_DRIVER_FEATURES:
		write_driver_features_locked(d, v);
		break;
	case SM_VMMIO_QUEUE_SEL:
		d->queue_sel = v;
		break;
	case SM_VMMIO_SHM_SEL:
		d->shm_sel = v;
		break;
	case SM_VMMIO_QUEUE_NUM:
	case SM_VMMIO_QUEUE_DESC_LOW:
	case SM_VMMIO_QUEUE_DESC_HIGH:
	case SM_VMMIO_QUEUE_DRIVER_LOW:
	case SM_VMMIO_QUEUE_DRIVER_HIGH:
	case SM_VMMIO_QUEUE_DEVICE_LOW:
	case SM_VMMIO_QUEUE_DEVICE_HIGH:
		write_queue_field_locked(d, off, v);
		break;
	default:
		bad_locked(d, "write of 0x%x to read-only or unknown register 0x%03llx", v,
			   (unsigned long long)off);
	}
}

void sm_virtio_mmio_write(struct sm_virtio_dev *dev, uint64_t offset, const void *data, unsigned int len)
{
	uint32_t v;

	if (offset >= SM_VMMIO_CONFIG) {
		config_access(dev, offset - SM_VMMIO_CONFIG, (void *)data, len, true);
		return;
	}
	if (len != 4 || offset % 4 != 0) {
		bad(dev, "%u-byte register write at 0x%03llx", len, (unsigned long long)offset);
		return;
	}
	memcpy(&v, data, sizeof(v));
	v = le32toh(v);
	if (offset == SM_VMMIO_QUEUE_NOTIFY) {
		sm_virtio_mmio_notify(dev, v);
		return;
	}
	if (offset == SM_VMMIO_INTERRUPT_ACK) {
		pthread_mutex_lock(&dev->lock);
		if (v & ~(SM_VIRTIO_INT_VRING | SM_VIRTIO_INT_CONFIG))
			bad_locked(dev, "InterruptACK 0x%x has undefined bits", v);
		ack_locked(dev, v);
		pthread_mutex_unlock(&dev->lock);
		return;
	}
	pthread_mutex_lock(&dev->ctl);
	if (offset == SM_VMMIO_STATUS) {
		write_status(dev, v);
	} else if (offset == SM_VMMIO_QUEUE_READY) {
		write_queue_ready(dev, v);
	} else if (offset == SM_VMMIO_QUEUE_RESET) {
		write_queue_reset(dev, v);
	} else {
		pthread_mutex_lock(&dev->lock);
		write_reg_locked(dev, offset, v);
		pthread_mutex_unlock(&dev->lock);
	}
	pthread_mutex_unlock(&dev->ctl);
}

/* ---- creation ---- */

static int check_ops(const struct sm_virtio_dev_ops *ops, sm_error_t *err)
{
	const char *n = ops->name != NULL ? ops->name : "virtio";
	uint64_t extra = ops->features & TRANSPORT_BITS_MASK & ~RING_FEATURES;
	unsigned int i, j;

	if (ops->notify == NULL)
		return sm_error_set(err, 0, "%s: the device has no notify op", n);
	if (ops->num_queues == 0 || ops->num_queues > SM_VIRTIO_MAX_QUEUES)
		return sm_error_set(err, 0, "%s: num_queues %u is not in [1, %u]", n, ops->num_queues,
				    SM_VIRTIO_MAX_QUEUES);
	if (ops->queue_max_size == 0 || (ops->queue_max_size & (ops->queue_max_size - 1)) != 0 ||
	    ops->queue_max_size > SM_VIRTQ_MAX_SIZE)
		return sm_error_set(err, 0, "%s: queue_max_size %u is not a power of two in [1, %u]", n,
				    ops->queue_max_size, SM_VIRTQ_MAX_SIZE);
	if (ops->config_size > SM_VIRTIO_CONFIG_MAX)
		return sm_error_set(err, 0, "%s: config_size %u is larger than %u", n, ops->config_size,
				    SM_VIRTIO_CONFIG_MAX);
	if (extra != 0)
		return sm_error_set(
		    err, 0, "%s: features 0x%llx include transport bits the transport does not implement", n,
		    (unsigned long long)extra);
	if (ops->num_shm > SM_VIRTIO_MAX_SHM)
		return sm_error_set(err, 0, "%s: num_shm %u is larger than %u", n, ops->num_shm,
				    SM_VIRTIO_MAX_SHM);
	for (i = 0; i < ops->num_shm; i++) {
		uint64_t end;

		if (ops->shm[i].len == 0 || __builtin_add_overflow(ops->shm[i].base, ops->shm[i].len, &end))
			return sm_error_set(err, 0,
					    "%s: shared memory region %u has an empty or overflowing range",
					    n, ops->shm[i].id);
		for (j = 0; j < i; j++)
			if (ops->shm[j].id == ops->shm[i].id)
				return sm_error_set(err, 0, "%s: shared memory region id %u is used twice", n,
						    ops->shm[i].id);
	}
	return 0;
}

int sm_virtio_mmio_new(const struct sm_virtio_mmio_config *cfg, const struct sm_virtio_dev_ops *ops,
		       void *priv, struct sm_virtio_dev **out, sm_error_t *err)
{
	pthread_rwlockattr_t attr;
	struct sm_virtio_dev *d;
	unsigned int i;
	int e;

	e = check_ops(ops, err);
	if (e < 0)
		return e;
	if (cfg->mem == NULL || cfg->set_irq == NULL)
		return sm_error_set(err, 0, "%s: the transport needs guest memory and an interrupt callback",
				    ops->name != NULL ? ops->name : "virtio");
	if (cfg->base % 4096 != 0 || cfg->base > UINT64_MAX - SM_VIRTIO_MMIO_SIZE)
		return sm_error_set(err, 0, "%s: MMIO base 0x%llx is not 4 KiB aligned",
				    ops->name != NULL ? ops->name : "virtio", (unsigned long long)cfg->base);
	d = sm_xcalloc(1, sizeof(*d));
	d->ops = *ops;
	d->priv = priv;
	d->cfg = *cfg;
	d->offered = ops->features | RING_FEATURES |
		     (ops->queue_reset != NULL ? SM_VIRTIO_BIT(SM_VIRTIO_F_RING_RESET) : 0);
	pthread_mutex_init(&d->ctl, NULL);
	pthread_mutex_init(&d->lock, NULL);
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&d->active, &attr);
	pthread_rwlockattr_destroy(&attr);
	for (i = 0; i < SM_VIRTIO_MAX_QUEUES; i++)
		sm_virtq_init(&d->vqs[i], i);
	reset_regs_locked(d);
	*out = d;
	return 0;
}

void sm_virtio_mmio_free(struct sm_virtio_dev *dev)
{
	unsigned int i;

	if (dev == NULL)
		return;
	for (i = 0; i < SM_VIRTIO_MAX_QUEUES; i++)
		sm_virtq_destroy(&dev->vqs[i]);
	pthread_rwlock_destroy(&dev->active);
	pthread_mutex_destroy(&dev->lock);
	pthread_mutex_destroy(&dev->ctl);
	free(dev);
}

char *sm_virtio_mmio_cmdline(const struct sm_virtio_dev *dev)
{
	return sm_xasprintf("virtio_mmio.device=%lluK@0x%llx:%u", SM_VIRTIO_MMIO_SIZE / 1024,
			    (unsigned long long)dev->cfg.base, dev->cfg.irq);
}

void sm_virtio_mmio_stats(struct sm_virtio_dev *dev, struct sm_virtio_mmio_stats *out)
{
	pthread_mutex_lock(&dev->lock);
	*out = dev->stats;
	out->needs_reset = (dev->status & SM_VIRTIO_S_NEEDS_RESET) != 0;
	pthread_mutex_unlock(&dev->lock);
}

/* ---- snapshots ---- */

struct saved_queue {
	struct queue_regs regs;
	struct sm_virtq_indices idx;
};

struct saved {
	uint32_t status, dev_features_sel, drv_features_sel, queue_sel, isr, generation, shm_sel, pending;
	uint64_t drv_features;
	uint8_t extra, activated;
	struct saved_queue q[SM_VIRTIO_MAX_QUEUES];
};

static void save_regs(struct sm_virtio_dev *d, struct sm_state_buf *b)
{
	struct sm_virtq_indices idx[SM_VIRTIO_MAX_QUEUES];
	unsigned int i;

	for (i = 0; i < d->ops.num_queues; i++)
		sm_virtq_get_indices(&d->vqs[i], &idx[i]);
	pthread_mutex_lock(&d->lock);
	sm_state_put_u32(b, SAVE_MAGIC);
	sm_state_put_u32(b, SAVE_VERSION);
	sm_state_put_u32(b, d->ops.device_id);
	sm_state_put_u32(b, d->ops.num_queues);
	sm_state_put_u32(b, d->status);
	sm_state_put_u32(b, d->dev_features_sel);
	sm_state_put_u32(b, d->drv_features_sel);
	sm_state_put_u64(b, d->drv_features);
	sm_state_put_u8(b, d->drv_features_extra);
	sm_state_put_u32(b, d->queue_sel);
	sm_state_put_u32(b, d->isr);
	sm_state_put_u32(b, d->generation);
	sm_state_put_u32(b, d->shm_sel);
	sm_state_put_u32(b, d->pending_notify);
	sm_state_put_u8(b, d->activated);
	for (i = 0; i < d->ops.num_queues; i++) {
		sm_state_put_u32(b, d->q[i].num);
		sm_state_put_u32(b, d->q[i].ready);
		sm_state_put_u64(b, d->q[i].desc);
		sm_state_put_u64(b, d->q[i].driver);
		sm_state_put_u64(b, d->q[i].device);
		sm_state_put_u16(b, idx[i].last_avail);
		sm_state_put_u16(b, idx[i].used_idx);
		sm_state_put_u16(b, idx[i].signalled_used);
		sm_state_put_u8(b, idx[i].signalled_valid);
	}
	pthread_mutex_unlock(&d->lock);
}

int sm_virtio_mmio_save(struct sm_virtio_dev *dev, struct sm_state_buf *buf, sm_error_t *err)
{
	struct sm_state_buf devstate;
	int e = 0;

	sm_state_buf_init(&devstate);
	pthread_mutex_lock(&dev->ctl);
	if (dev->ops.save != NULL)
		e = dev->ops.save(dev, &devstate, err);
	if (e == 0 && devstate.len > UINT32_MAX)
		e = sm_error_set(err, 0, "device state of %zu bytes is too large", devstate.len);
	if (e == 0) {
		save_regs(dev, buf);
		sm_state_put_u32(buf, (uint32_t)devstate.len);
		sm_state_put(buf, devstate.data, devstate.len);
	}
	pthread_mutex_unlock(&dev->ctl);
	sm_state_buf_free(&devstate);
	return e < 0 ? sm_error_prefix(err, "%s: save: ", dev_name(dev)) : 0;
}

static int load_header(struct sm_virtio_dev *d, struct sm_state_reader *r, struct saved *s, sm_error_t *err)
{
	uint32_t magic = 0, version = 0, id = 0, nq = 0;

	if (sm_state_get_u32(r, &magic, err) < 0 || sm_state_get_u32(r, &version, err) < 0 ||
	    sm_state_get_u32(r, &id, err) < 0 || sm_state_get_u32(r, &nq, err) < 0)
		return -1;
	if (magic != SAVE_MAGIC || version != SAVE_VERSION)
		return sm_error_set(err, 0, "not a virtio-mmio state of version %u (magic 0x%x, version %u)",
				    SAVE_VERSION, magic, version);
	if (id != d->ops.device_id || nq != d->ops.num_queues)
		return sm_error_set(err, 0,
				    "state of device id %u with %u queues, this is device id %u with %u", id,
				    nq, d->ops.device_id, d->ops.num_queues);
	if (sm_state_get_u32(r, &s->status, err) < 0 || sm_state_get_u32(r, &s->dev_features_sel, err) < 0 ||
	    sm_state_get_u32(r, &s->drv_features_sel, err) < 0 ||
	    sm_state_get_u64(r, &s->drv_features, err) < 0 || sm_state_get_u8(r, &s->extra, err) < 0 ||
	    sm_state_get_u32(r, &s->queue_sel, err) < 0 || sm_state_get_u32(r, &s->isr, err) < 0 ||
	    sm_state_get_u32(r, &s->generation, err) < 0 || sm_state_get_u32(r, &s->shm_sel, err) < 0 ||
	    sm_state_get_u32(r, &s->pending, err) < 0 || sm_state_get_u8(r, &s->activated, err) < 0)
		return -1;
	if ((s->status & ~STATUS_BITS) != 0 || (s->isr & ~(SM_VIRTIO_INT_VRING | SM_VIRTIO_INT_CONFIG)) != 0)
		return sm_error_set(err, 0, "bad status 0x%x or interrupt status 0x%x", s->status, s->isr);
	return 0;
}

static int load_queues(struct sm_virtio_dev *d, struct sm_state_reader *r, struct saved *s, sm_error_t *err)
{
	unsigned int i;

	for (i = 0; i < d->ops.num_queues; i++) {
		struct saved_queue *q = &s->q[i];
		uint8_t valid = 0;

		if (sm_state_get_u32(r, &q->regs.num, err) < 0 ||
		    sm_state_get_u32(r, &q->regs.ready, err) < 0 ||
		    sm_state_get_u64(r, &q->regs.desc, err) < 0 ||
		    sm_state_get_u64(r, &q->regs.driver, err) < 0 ||
		    sm_state_get_u64(r, &q->regs.device, err) < 0 ||
		    sm_state_get_u16(r, &q->idx.last_avail, err) < 0 ||
		    sm_state_get_u16(r, &q->idx.used_idx, err) < 0 ||
		    sm_state_get_u16(r, &q->idx.signalled_used, err) < 0 ||
		    sm_state_get_u8(r, &valid, err) < 0)
			return -1;
		q->idx.signalled_valid = valid != 0;
		if (q->regs.ready > 1 || (q->regs.ready && q->regs.num > d->ops.queue_max_size))
			return sm_error_set(err, 0, "queue %u: bad ready %u or size %u", i, q->regs.ready,
					    q->regs.num);
		if (q->regs.ready &&
		    sm_virtq_enable(&d->vqs[i], d->cfg.mem, (uint16_t)q->regs.num, q->regs.desc,
				    q->regs.driver, q->regs.device, s->drv_features, err) < 0)
			return -1;
		if (q->regs.ready)
			sm_virtq_set_indices(&d->vqs[i], &q->idx);
	}
	return 0;
}

static void apply_saved_locked(struct sm_virtio_dev *d, const struct saved *s)
{
	unsigned int i;

	d->status = s->status;
	d->dev_features_sel = s->dev_features_sel;
	d->drv_features_sel = s->drv_features_sel;
	d->drv_features = s->drv_features;
	d->drv_features_extra = s->extra != 0;
	d->queue_sel = s->queue_sel;
	d->generation = s->generation;
	d->shm_sel = s->shm_sel;
	d->pending_notify = s->pending & ((1u << d->ops.num_queues) - 1);
	d->activated = false;
	for (i = 0; i < d->ops.num_queues; i++)
		d->q[i] = s->q[i].regs;
}

/* The device part of a restore: its own state, then activate() if it was active. */
static int restore_device(struct sm_virtio_dev *d, struct sm_state_reader *r, const struct saved *s,
			  sm_error_t *err)
{
	struct sm_state_reader sub;
	uint32_t len = 0;
	int e = 0;

	if (sm_state_get_u32(r, &len, err) < 0)
		return -1;
	if (len > sm_state_remaining(r))
		return sm_error_set(err, 0, "saved state truncated: device state of %u bytes, %zu left", len,
				    sm_state_remaining(r));
	sm_state_reader_init(&sub, r->data + r->off, len);
	r->off += len;
	pthread_rwlock_wrlock(&d->active);
	if (d->ops.restore != NULL)
		e = d->ops.restore(d, &sub, err);
	if (e == 0 && s->activated && d->ops.activate != NULL)
		e = d->ops.activate(d, err);
	if (e == 0) {
		pthread_mutex_lock(&d->lock);
		d->activated = s->activated != 0;
		if (s->isr)
			raise_locked(d, s->isr);
		pthread_mutex_unlock(&d->lock);
	}
	pthread_rwlock_unlock(&d->active);
	return e;
}

int sm_virtio_mmio_restore(struct sm_virtio_dev *dev, struct sm_state_reader *r, sm_error_t *err)
{
	struct saved *s = sm_xcalloc(1, sizeof(*s));
	unsigned int i;
	int e;

	pthread_mutex_lock(&dev->ctl);
	do_reset(dev);
	e = load_header(dev, r, s, err);
	if (e == 0)
		e = load_queues(dev, r, s, err);
	if (e == 0) {
		pthread_mutex_lock(&dev->lock);
		apply_saved_locked(dev, s);
		pthread_mutex_unlock(&dev->lock);
		e = restore_device(dev, r, s, err);
	}
	if (e < 0) {
		do_reset(dev);
		e = sm_error_prefix(err, "%s: restore: ", dev_name(dev));
	} else if (s->activated) {
		/* Chains the driver made available before the snapshot get no new kick: look now. */
		for (i = 0; i < dev->ops.num_queues; i++)
			if (s->q[i].regs.ready)
				sm_virtio_mmio_notify(dev, i);
	}
	pthread_mutex_unlock(&dev->ctl);
	free(s);
	return e;
}

unsigned int sm_virtio_mmio_num_queues(const struct sm_virtio_dev *dev)
{
	return dev->ops.num_queues;
}

uint32_t sm_virtio_mmio_device_id(const struct sm_virtio_dev *dev)
{
	return dev->ops.device_id;
}

const char *sm_virtio_mmio_name(const struct sm_virtio_dev *dev)
{
	return dev_name(dev);
}
