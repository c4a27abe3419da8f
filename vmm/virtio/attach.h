/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_VIRTIO_ATTACH_H
#define SM_VMM_VIRTIO_ATTACH_H

#include "common/error.h"
#include "vmm/machine.h"
#include "vmm/virtio/mmio.h"

/*
 * Plugging a virtio device into a machine: a virtio-mmio window on the MMIO bus, an ISA
 * interrupt line, one ioeventfd per queue served by the VM's event loop, the shared-memory
 * regions as KVM memory slots, and the `virtio_mmio.device=` kernel parameter that makes the
 * guest probe it. Slot n always gets the same window and interrupt, so a restored guest finds its
 * devices where it left them.
 */

#define SM_VIRTIO_SLOTS 8
#define SM_VIRTIO_MMIO_BASE 0xd0000000ull
/* DAX and other shared-memory windows: above any RAM we allow, 1 GiB apart per slot. */
#define SM_VIRTIO_SHM_BASE 0x2000000000ull /* 128 GiB */
#define SM_VIRTIO_SHM_SLOT_SIZE 0x40000000ull /* 1 GiB */

struct sm_virtio_attached;

/* Guest physical base for shared-memory windows of device slot (its regions must fit in 1 GiB). */
uint64_t sm_virtio_slot_shm_base(unsigned int slot);

/*
 * Reserve slot 0..7 of m for a device: *cfg gets the transport configuration (window, interrupt
 * line, guest memory, interrupt callback) to create the device's transport with
 * (sm_virtio_mmio_new, or a device constructor that creates its own). Then call
 * sm_virtio_attach_finish with the transport, or sm_virtio_detach to give the slot up.
 */
int sm_virtio_attach_prepare(struct sm_machine *m, unsigned int slot, struct sm_virtio_attached **out,
			     struct sm_virtio_mmio_config *cfg, sm_error_t *err);

/*
 * Wire the transport dev into the machine: MMIO window, ioeventfds, the kernel parameter, and
 * the device's shared-memory regions (shm_hva[i] maps ops->shm[i]; NULL when there are none)
 * as memory slots. Before sm_machine_start. On failure the slot keeps dev; sm_virtio_detach
 * frees both.
 */
int sm_virtio_attach_finish(struct sm_virtio_attached *a, struct sm_virtio_dev *dev,
			    const struct sm_virtio_shm_region *shm, unsigned int num_shm, void *const *shm_hva,
			    sm_error_t *err);

/* prepare + sm_virtio_mmio_new(ops, priv) + finish, for devices that do not create their own transport. */
int sm_virtio_attach(struct sm_machine *m, unsigned int slot, const struct sm_virtio_dev_ops *ops, void *priv,
		     void *const *shm_hva, struct sm_virtio_attached **out, sm_error_t *err);

/* The transport handle, for the device's own calls. */
struct sm_virtio_dev *sm_virtio_attached_dev(struct sm_virtio_attached *a);

/* Forget the transport without freeing it (its device constructor created it and frees it). */
void sm_virtio_attached_release(struct sm_virtio_attached *a);

/*
 * Free the transport (when it was given to finish, or created by sm_virtio_attach) and the
 * event-loop registrations. A device that created its own transport frees it itself: call
 * sm_virtio_detach first, with sm_virtio_attached_release() done before if the device owns it. Call after the VM's vCPUs and event loop
 * have stopped (sm_machine_wait returned) and after the device has stopped its own threads.
 */
void sm_virtio_detach(struct sm_virtio_attached *a);

#endif
