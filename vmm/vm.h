/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_VM_H
#define SM_VMM_VM_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "vmm/bus.h"
#include "vmm/evloop.h"
#include "vmm/kvm.h"
#include "vmm/memory.h"

/*
 * A KVM virtual machine: guest RAM in a memfd (each region a memory slot), in-kernel irqchip and
 * PIT, vCPUs each run by its own thread, an I/O-port bus and an MMIO bus for user-space devices,
 * and an event loop thread for device file descriptors. Life cycle:
 *
 *   sm_vm_create()                       VM, RAM, irqchip, vCPUs (not running)
 *   sm_vm_register_pio/mmio(), ...       devices; load the guest; set vCPU registers
 *   sm_vm_start()                        event loop and vCPU threads run
 *   sm_vm_wait()                         until something calls sm_vm_stop() or the guest stops
 *   sm_vm_destroy()                      stop, join every thread, free
 *
 * Threads and locking rules are in docs/design/threading.md.
 */

#define SM_VM_MAX_VCPUS 32

/* The signal that kicks a vCPU thread out of KVM_RUN (its handler does nothing). */
#define SM_VCPU_KICK_SIGNAL (SIGRTMIN + 3)

struct sm_vm;

struct sm_vm_config {
	uint64_t mem_size;  /* bytes of guest RAM, a multiple of the page size */
	unsigned int ncpus; /* 1..SM_VM_MAX_VCPUS */
	bool no_irqchip;    /* no in-kernel irqchip/PIT (selftests: HLT then exits to the VMM) */
	bool debug;	    /* log unhandled accesses and device events to stderr */
	/* Restore: map guest RAM copy-on-write from this snapshot memory file (exactly mem_size
	 * bytes, see sm_guest_mem_map_file) instead of a fresh memfd. NULL for a new VM. */
	const char *mem_file;
};

enum sm_vm_stop_reason {
	SM_VM_RUNNING = 0,
	SM_VM_STOP_REQUESTED,	 /* sm_vm_stop() by a device or the owner: the normal end */
	SM_VM_STOP_SHUTDOWN,	 /* KVM_EXIT_SHUTDOWN: triple fault (how Linux reboots with reboot=t) */
	SM_VM_STOP_HALT,	 /* HLT without in-kernel irqchip: nothing can wake the vCPU */
	SM_VM_STOP_SYSTEM_EVENT, /* KVM_EXIT_SYSTEM_EVENT: shutdown, reset or crash */
	SM_VM_STOP_GUEST_ERROR,	 /* emulation failure, failed entry, unexpected exit */
	SM_VM_STOP_HOST_ERROR,	 /* a host system call failed (KVM_RUN, ...) */
};

/* Why and where the VM stopped; the first stop wins. */
struct sm_vm_stop_info {
	enum sm_vm_stop_reason reason;
	int vcpu;	      /* the vCPU whose exit stopped the VM, -1 for none */
	uint32_t exit_reason; /* that vCPU's KVM_EXIT_* */
	char msg[1536];	      /* human-readable, with RIP and instruction bytes for guest errors */
};

/* Counters for diagnostics (--timings, tests). */
struct sm_vm_stats {
	uint64_t exits; /* KVM_RUN returns, all vCPUs */
	uint64_t io_exits;
	uint64_t mmio_exits;
	uint64_t pio_unhandled;	 /* I/O-port accesses no device claimed */
	uint64_t mmio_unhandled; /* MMIO accesses no device claimed */
};

/*
 * Create a VM: open /dev/kvm (clear error when inaccessible), allocate and map guest RAM
 * (sm_guest_mem_alloc) as memory slots, set the TSS and identity-map addresses where KVM
 * wants them, create the in-kernel irqchip and PIT, and ncpus vCPUs with CPUID set from
 * KVM_GET_SUPPORTED_CPUID (APIC ids, hypervisor bit; on kvm_pvm hosts it is set although the
 * guest will still see the host's CPUID). The BSP is vCPU 0; the others wait for INIT/SIPI.
 */
int sm_vm_create(const struct sm_vm_config *cfg, struct sm_vm **vm, sm_error_t *err);

/* Stop the VM if running, join all threads, close every fd and free guest RAM. NULL is ok. */
void sm_vm_destroy(struct sm_vm *vm);

/*
 * Stop the VM if it runs and join its vCPU threads and event loop: afterwards no device callback
 * runs, so devices can be freed, and the VM fds stay valid until sm_vm_destroy. Idempotent.
 */
void sm_vm_join(struct sm_vm *vm);

/* Guest RAM, for loading images and for devices (sm_guest_ptr). */
const struct sm_guest_mem *sm_vm_mem(const struct sm_vm *vm);

/* The host capabilities the VM was created with. */
const struct sm_host_caps *sm_vm_caps(const struct sm_vm *vm);

/* Number of vCPUs. */
unsigned int sm_vm_ncpus(const struct sm_vm *vm);

/* The KVM fd of vCPU index (for KVM_GET/SET_REGS and friends before the VM starts), or -1. */
int sm_vm_vcpu_fd(const struct sm_vm *vm, unsigned int index);

/* The supported CPUID leaf function/index as set on vCPU 0; returns false when absent. */
bool sm_vm_cpuid(const struct sm_vm *vm, uint32_t function, uint32_t index, uint32_t regs[4]);

/* The VM's event loop (started by sm_vm_start), for device fds such as ioeventfds. */
struct sm_evloop *sm_vm_evloop(struct sm_vm *vm);

/*
 * Claim I/O ports [port, port+len) for a device; ops run on vCPU threads, concurrently with
 * other devices and with the device's own event-loop callbacks (lock inside the device).
 * Only before sm_vm_start (EBUSY after); overlapping claims fail.
 */
int sm_vm_register_pio(struct sm_vm *vm, uint16_t port, uint16_t len, const struct sm_bus_ops *ops,
		       void *opaque, const char *name, sm_error_t *err);

/* Claim guest physical [gpa, gpa+len) as MMIO for a device; same rules as sm_vm_register_pio. */
int sm_vm_register_mmio(struct sm_vm *vm, uint64_t gpa, uint64_t len, const struct sm_bus_ops *ops,
			void *opaque, const char *name, sm_error_t *err);

/*
 * Set an interrupt line (a GSI: ISA IRQs 0-15 and IOAPIC pins up to 23) to level through
 * KVM_IRQ_LINE. Edge-triggered devices raise then lower it. Any thread may call it.
 */
int sm_vm_set_irq(struct sm_vm *vm, uint32_t gsi, bool level, sm_error_t *err);

/*
 * Register an ioeventfd: a guest write of len bytes (1, 2, 4 or 8; 0 = any length for MMIO) to
 * addr (an I/O port when pio, else a guest physical address) signals fd in the kernel without
 * an exit to the VMM. With datamatch only writes of that value signal. Fails with ENOTSUP when
 * KVM has no ioeventfd support.
 */
int sm_vm_add_ioeventfd(struct sm_vm *vm, uint64_t addr, unsigned int len, bool pio, bool datamatch,
			uint64_t data, int fd, sm_error_t *err);

/* Undo sm_vm_add_ioeventfd with the same arguments. */
int sm_vm_del_ioeventfd(struct sm_vm *vm, uint64_t addr, unsigned int len, bool pio, bool datamatch,
			uint64_t data, int fd, sm_error_t *err);

/*
 * Register an irqfd: writing to eventfd fd injects interrupt gsi. With resample_fd >= 0 the
 * line is level-triggered: KVM signals resample_fd when the guest acknowledges the interrupt,
 * so the device can re-assert it. Fails with ENOTSUP without irqfd support.
 */
int sm_vm_add_irqfd(struct sm_vm *vm, uint32_t gsi, int fd, int resample_fd, sm_error_t *err);

/* Undo sm_vm_add_irqfd. */
int sm_vm_del_irqfd(struct sm_vm *vm, uint32_t gsi, int fd, sm_error_t *err);

/*
 * Map host memory [hva, hva+size) at guest physical gpa as an extra memory slot (e.g. a
 * virtio-fs DAX window in the MMIO hole); page aligned, outside RAM and other slots. readonly
 * makes guest writes exit as MMIO writes (needs KVM_CAP_READONLY_MEM). *slot gets the slot
 * number for sm_vm_del_memslot. May be called while the VM runs.
 */
int sm_vm_add_memslot(struct sm_vm *vm, uint64_t gpa, uint64_t size, void *hva, bool readonly, uint32_t *slot,
		      sm_error_t *err);

/* Remove an extra memory slot added by sm_vm_add_memslot. */
int sm_vm_del_memslot(struct sm_vm *vm, uint32_t slot, sm_error_t *err);

/* Start the event loop and one thread per vCPU. */
int sm_vm_start(struct sm_vm *vm, sm_error_t *err);

/*
 * Stop the VM from any thread (a device, the event loop, the owner): record the reason and
 * message if it is the first stop, and kick every vCPU out of KVM_RUN (immediate_exit plus
 * SM_VCPU_KICK_SIGNAL). vCPUs do not run guest code after they notice.
 */
void sm_vm_stop(struct sm_vm *vm, enum sm_vm_stop_reason reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Pause the VM: every vCPU thread leaves KVM_RUN (kicked with SM_VCPU_KICK_SIGNAL) at a point
 * where its state is consistent (a pending I/O or MMIO exit is completed first) and waits there,
 * so KVM_GET_* on the vCPU fds from another thread see a still guest. Returns once all running
 * vCPUs are parked. Any thread except a vCPU thread or a device callback (they would wait for
 * themselves); idempotent (pausing a paused VM returns 0 at once). Before sm_vm_start it only
 * records the pause: the vCPU threads park before their first KVM_RUN. Fails with ESRCH when the
 * VM has stopped. Devices (event loop, device threads) keep running: see sm_snapshot for quiescing.
 */
int sm_vm_pause(struct sm_vm *vm, sm_error_t *err);

/* Let paused vCPUs run again; idempotent (no-op when not paused). ESRCH when the VM stopped. */
int sm_vm_resume(struct sm_vm *vm, sm_error_t *err);

/* True while paused (sm_vm_pause returned and no sm_vm_resume since) and not stopped. */
bool sm_vm_paused(const struct sm_vm *vm);

/* The KVM VM fd (for KVM_GET/SET_IRQCHIP, PIT2, CLOCK while paused: snapshots). */
int sm_vm_fd(const struct sm_vm *vm);

/* The /dev/kvm fd (system ioctls such as KVM_GET_MSR_INDEX_LIST). */
int sm_vm_kvm_fd(const struct sm_vm *vm);

/* sm_now_ns() taken right before vCPU 0 first entered KVM_RUN, 0 before that (restore latency). */
uint64_t sm_vm_first_run_ns(const struct sm_vm *vm);

/* True once sm_vm_stop was called (or the guest stopped). */
bool sm_vm_stopping(const struct sm_vm *vm);

/*
 * Wait until the VM stops or timeout_ns passes (< 0: no timeout). Returns 0 with *info filled
 * (info may be NULL), or -ETIMEDOUT.
 */
int sm_vm_wait(struct sm_vm *vm, int64_t timeout_ns, struct sm_vm_stop_info *info);

/* Snapshot the counters. */
void sm_vm_get_stats(const struct sm_vm *vm, struct sm_vm_stats *stats);

/* True when the VM was created with debug logging. */
bool sm_vm_debug_enabled(const struct sm_vm *vm);

/* Log a debug line ("sm-vmm: ...") to stderr when the VM was created with debug set. */
void sm_vm_debug(const struct sm_vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Human-readable name of a stop reason ("shutdown", "guest error", ...). */
const char *sm_vm_stop_reason_name(enum sm_vm_stop_reason reason);

#endif
