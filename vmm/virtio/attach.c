/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "vmm/evloop.h"
#include "vmm/virtio/attach.h"

_Static_assert(SM_VIRTIO_SLOTS == SM_MACHINE_MAX_VIRTIO, "the machine records one device per virtio slot");

/* ISA lines not used by the legacy devices (timer, keyboard, cascade, UARTs, RTC, FPU). */
static const uint32_t slot_irqs[SM_VIRTIO_SLOTS] = {5, 6, 7, 9, 10, 11, 14, 15};

struct queue_kick {
	struct sm_virtio_attached *owner;
	unsigned int queue;
	int fd;
};

struct sm_virtio_attached {
	struct sm_machine *machine;
	struct sm_vm *vm;
	uint64_t base;
	struct sm_virtio_dev *dev;
	uint32_t irq;
	unsigned int slot;
	bool registered; /* recorded in the machine's device list (for snapshots) */
	unsigned int nqueues;
	struct queue_kick kicks[SM_VIRTIO_MAX_QUEUES];
};

uint64_t sm_virtio_slot_shm_base(unsigned int slot)
{
	return SM_VIRTIO_SHM_BASE + (uint64_t)slot * SM_VIRTIO_SHM_SLOT_SIZE;
}

/* virtio-mmio interrupts are raised as ISA edges: the driver acknowledges through the registers. */
static void attached_set_irq(void *opaque, uint32_t irq, bool level)
{
	struct sm_virtio_attached *a = opaque;

	if (!level)
		return;
	(void)sm_vm_set_irq(a->vm, irq, true, NULL);
	(void)sm_vm_set_irq(a->vm, irq, false, NULL);
}

static uint64_t mmio_read(void *opaque, uint64_t offset, unsigned int size)
{
	uint64_t v = 0;
	sm_virtio_mmio_read(opaque, offset, &v, size);
	return v;
}

static void mmio_write(void *opaque, uint64_t offset, unsigned int size, uint64_t value)
{
	sm_virtio_mmio_write(opaque, offset, &value, size);
}

static const struct sm_bus_ops virtio_bus_ops = {.read = mmio_read, .write = mmio_write};

static void kick_ready(void *opaque, int fd, uint32_t events)
{
	struct queue_kick *k = opaque;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) == (ssize_t)sizeof(n))
		sm_virtio_mmio_notify(k->owner->dev, k->queue);
}

/* ioeventfds are an optimisation: without them a notify is an MMIO exit, which also works. */
static void add_kicks(struct sm_virtio_attached *a, uint64_t notify_addr)
{
	for (unsigned int q = 0; q < a->nqueues; q++) {
		struct queue_kick *k = &a->kicks[q];
		sm_error_t err = SM_ERROR_INIT;

		k->owner = a;
		k->queue = q;
		k->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (k->fd < 0)
			return;
		if (sm_vm_add_ioeventfd(a->vm, notify_addr, 4, false, true, q, k->fd, &err) < 0 ||
		    sm_evloop_add(sm_vm_evloop(a->vm), k->fd, EPOLLIN, kick_ready, k, &err) < 0) {
			sm_vm_debug(a->vm, "virtio queue %u: no ioeventfd (%s); notifies exit to the VMM", q,
				    err.msg);
			close(k->fd);
			k->fd = -1;
			return;
		}
	}
}

int sm_virtio_attach_prepare(struct sm_machine *m, unsigned int slot, struct sm_virtio_attached **out,
			     struct sm_virtio_mmio_config *cfg, sm_error_t *err)
{
	struct sm_virtio_attached *a;

	if (slot >= SM_VIRTIO_SLOTS)
		return sm_error_set(err, 0, "virtio slot %u: at most %d virtio devices", slot, SM_VIRTIO_SLOTS);
	a = sm_xcalloc(1, sizeof(*a));
	a->machine = m;
	a->vm = sm_machine_vm(m);
	a->irq = slot_irqs[slot];
	a->slot = slot;
	a->base = SM_VIRTIO_MMIO_BASE + (uint64_t)slot * SM_VIRTIO_MMIO_SIZE;
	for (unsigned int q = 0; q < SM_VIRTIO_MAX_QUEUES; q++)
		a->kicks[q].fd = -1;
	*cfg = (struct sm_virtio_mmio_config){
	    .base = a->base, .irq = a->irq, .mem = sm_vm_mem(a->vm), .set_irq = attached_set_irq, .irq_opaque = a};
	*out = a;
	return 0;
}

int sm_virtio_attach_finish(struct sm_virtio_attached *a, struct sm_virtio_dev *dev,
			    const struct sm_virtio_shm_region *shm, unsigned int num_shm, void *const *shm_hva,
			    sm_error_t *err)
{
	cleanup_free char *param = NULL;
	int r;

	a->dev = dev;
	a->nqueues = sm_virtio_mmio_num_queues(dev);
	if ((r = sm_machine_set_virtio(a->machine, a->slot, dev, err)) < 0)
		return r;
	a->registered = true;
	for (unsigned int i = 0; i < num_shm; i++) {
		uint32_t memslot;
		if (shm_hva == NULL || shm_hva[i] == NULL)
			continue;
		if ((r = sm_vm_add_memslot(a->vm, shm[i].base, shm[i].len, shm_hva[i], false, &memslot, err)) < 0)
			return r;
	}
	r = sm_vm_register_mmio(a->vm, a->base, SM_VIRTIO_MMIO_SIZE, &virtio_bus_ops, dev, "virtio-mmio", err);
	if (r < 0)
		return r;
	param = sm_virtio_mmio_cmdline(dev);
	if ((r = sm_machine_add_kernel_param(a->machine, param, err)) < 0)
		return r;
	add_kicks(a, sm_virtio_mmio_notify_addr(dev));
	return 0;
}

int sm_virtio_attach(struct sm_machine *m, unsigned int slot, const struct sm_virtio_dev_ops *ops, void *priv,
		     void *const *shm_hva, struct sm_virtio_attached **out, sm_error_t *err)
{
	struct sm_virtio_attached *a = NULL;
	struct sm_virtio_mmio_config cfg;
	struct sm_virtio_dev *dev = NULL;
	int r;

	if ((r = sm_virtio_attach_prepare(m, slot, &a, &cfg, err)) < 0)
		return r;
	if ((r = sm_virtio_mmio_new(&cfg, ops, priv, &dev, err)) < 0 ||
	    (r = sm_virtio_attach_finish(a, dev, ops->shm, ops->num_shm, shm_hva, err)) < 0) {
		a->dev = dev;
		sm_virtio_detach(a);
		return sm_error_prefix(err, "%s: ", ops->name);
	}
	*out = a;
	return 0;
}

struct sm_virtio_dev *sm_virtio_attached_dev(struct sm_virtio_attached *a)
{
	return a->dev;
}

void sm_virtio_detach(struct sm_virtio_attached *a)
{
	if (a == NULL)
		return;
	if (a->registered)
		(void)sm_machine_set_virtio(a->machine, a->slot, NULL, NULL);
	for (unsigned int q = 0; q < SM_VIRTIO_MAX_QUEUES; q++) {
		if (a->kicks[q].fd < 0)
			continue;
		sm_evloop_remove(sm_vm_evloop(a->vm), a->kicks[q].fd);
		close(a->kicks[q].fd);
	}
	sm_virtio_mmio_free(a->dev);
	free(a);
}

void sm_virtio_attached_release(struct sm_virtio_attached *a)
{
	a->dev = NULL;
}
