/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_MACHINE_H
#define SM_VMM_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "vmm/uart.h"
#include "vmm/vm.h"

/*
 * The sm-runtime microVM: a VM (vm.h) with the two UARTs (ttyS0 console relayed to an fd, ttyS1
 * control channel from the guest init), the legacy ports, an MP table, and a PVH-booted kernel
 * with optional initramfs. Other devices (virtio) are added between create and start through
 * sm_machine_vm() and sm_machine_add_kernel_param().
 */

#define SM_MACHINE_MIN_MEM_MIB 16ull
#define SM_MACHINE_MAX_MEM_MIB 65536ull
#define SM_MACHINE_MAX_KERNEL (512ull << 20)
#define SM_MACHINE_MAX_VIRTIO 8 /* virtio slots (vmm/virtio/attach.h) */

struct sm_virtio_dev;

struct sm_machine_config {
	const char *kernel_path; /* uncompressed ELF vmlinux with the PVH note */
	const char *initrd_path; /* uncompressed cpio, or NULL */
	uint64_t mem_mib;	 /* SM_MACHINE_MIN_MEM_MIB..SM_MACHINE_MAX_MEM_MIB */
	unsigned int ncpus;	 /* 1..SM_VM_MAX_VCPUS */
	const char *cmd;	 /* guest command (sm.cmd), or NULL */
	const char *append;	 /* extra kernel parameters, or NULL */
	bool debug;		 /* VMM debug logging to stderr */
	int console_out_fd;	 /* where ttyS0 output goes (usually 1), -1 to drop it */
	int console_in_fd;	 /* what feeds ttyS0 input (usually 0), -1 for none */
};

struct sm_machine_result {
	bool ready;	   /* the guest sent SM-READY */
	bool exited;	   /* the guest sent SM-EXIT */
	int exit_status;   /* its status when exited */
	uint64_t start_ns; /* sm_now_ns() when the vCPUs started */
	uint64_t ready_ns; /* when SM-READY arrived (0 if never) */
	uint64_t end_ns;   /* when the VM stopped */
	struct sm_vm_stop_info stop;
	struct sm_vm_stats stats;
};

struct sm_machine;

/*
 * Validate cfg (memory size and vCPU count, naming --mem/--cpus in errors), read and check the
 * kernel (and initramfs), create the VM and its standard devices. Nothing runs yet.
 */
int sm_machine_create(const struct sm_machine_config *cfg, struct sm_machine **m, sm_error_t *err);

/* The underlying VM, to add devices before sm_machine_start. */
struct sm_vm *sm_machine_vm(struct sm_machine *m);

/* Add a kernel parameter from a device (e.g. "virtio_mmio.device=4K@0xd0000000:5"); before start. */
int sm_machine_add_kernel_param(struct sm_machine *m, const char *param, sm_error_t *err);

/* The kernel command line sm_machine_start will use (malloc'd), for diagnostics and tests. */
int sm_machine_cmdline(struct sm_machine *m, char **out, sm_error_t *err);

/* Load kernel and initramfs, write the boot data, set the BSP registers and start the vCPUs
 * (for a machine from sm_machine_create_restore: sm_machine_start_restored). */
int sm_machine_start(struct sm_machine *m, sm_error_t *err);

/*
 * Wait for the VM to stop (timeout_ns < 0: no limit); fills *res. Returns 0, or -ETIMEDOUT
 * (the VM keeps running; call again or sm_machine_destroy).
 */
int sm_machine_wait(struct sm_machine *m, int64_t timeout_ns, struct sm_machine_result *res);

/* Stop everything and free. NULL is ok. */
void sm_machine_destroy(struct sm_machine *m);

/*
 * The outcome of a finished machine: the guest command's exit status (0..255) when the guest
 * reported one with SM-EXIT, else <0 with a message saying why the VM stopped (emulation
 * failure, triple fault before SM-EXIT, init never ready, ...).
 */
int sm_machine_outcome(const struct sm_machine_result *res, sm_error_t *err);

/*
 * Create, start and wait for a machine, then explain the outcome: returns the guest command's
 * exit status (0..255) when the guest reported one with SM-EXIT; fails with a message saying
 * why the VM stopped otherwise (no SM-EXIT, emulation failure, timeout). *res (may be NULL)
 * gets the details either way.
 */
int sm_machine_run(const struct sm_machine_config *cfg, int64_t timeout_ns, struct sm_machine_result *res,
		   sm_error_t *err);

/*
 * Create a machine to restore a snapshot into: same checks of cfg (mem_mib, ncpus; the kernel and
 * initramfs are neither read nor loaded, cfg->kernel_path may be NULL), guest RAM mapped
 * copy-on-write from mem_file (sm_guest_mem_map_file), the standard devices. The caller then
 * attaches the same virtio devices at the same slots, applies the saved state (snapshot/) and
 * calls sm_machine_start_restored.
 */
int sm_machine_create_restore(const struct sm_machine_config *cfg, const char *mem_file,
			      struct sm_machine **m, sm_error_t *err);

/* Start a machine created by sm_machine_create_restore: no boot data is written, the vCPUs go on
 * from their restored state. */
int sm_machine_start_restored(struct sm_machine *m, sm_error_t *err);

/* True for a machine from sm_machine_create_restore. */
bool sm_machine_restored(const struct sm_machine *m);

/*
 * Record the transport of the virtio device attached at slot (vmm/virtio/attach.c does this), so
 * that snapshots find every device; dev NULL forgets it. EBUSY when the slot is already taken.
 */
int sm_machine_set_virtio(struct sm_machine *m, unsigned int slot, struct sm_virtio_dev *dev,
			  sm_error_t *err);

/* The transport attached at slot, or NULL. */
struct sm_virtio_dev *sm_machine_virtio(struct sm_machine *m, unsigned int slot);

/* Machine-level state for snapshots: whether the guest init reported ready, and both UARTs. */
struct sm_machine_state {
	bool ready;
	struct sm_uart_state uart[2]; /* ttyS0 console, ttyS1 control */
};

/* Copy the machine-level state (vCPUs paused). */
void sm_machine_get_state(struct sm_machine *m, struct sm_machine_state *st);

/* Load machine-level state into a machine from sm_machine_create_restore, before it starts. */
int sm_machine_set_state(struct sm_machine *m, const struct sm_machine_state *st, sm_error_t *err);

/* The machine's configuration (as given to create; strings owned by the machine). */
const struct sm_machine_config *sm_machine_config(const struct sm_machine *m);

#endif
