/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_VM_INTERNAL_H
#define SM_VMM_VM_INTERNAL_H

/* Private to vm.c and vcpu.c. */
#include <linux/kvm.h>
#include <pthread.h>

#include "vmm/vm.h"

#define SM_VM_MAX_EXTRA_SLOTS 16

struct sm_vcpu {
	struct sm_vm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool started;			      /* thread created; written under vm->lock */
	bool joined;			      /* thread joined by sm_vm_join */
	bool parked;			      /* waiting in the pause point; under vm->lock */
	uint64_t exits, io_exits, mmio_exits; /* written by the vCPU thread, read atomically */
};

struct sm_extra_slot {
	bool used;
	uint32_t slot;
	uint64_t gpa, size;
};

struct sm_vm {
	struct sm_vm_config cfg;
	const struct sm_host_caps *caps;
	int kvm_fd;
	int vm_fd;
	struct sm_guest_mem mem;
	struct sm_vcpu vcpus[SM_VM_MAX_VCPUS];
	unsigned int ncpus;
	struct kvm_cpuid2 *cpuid; /* supported CPUID as adjusted for vCPU 0 */
	struct sm_bus pio;
	struct sm_bus mmio;
	struct sm_evloop *loop;

	pthread_mutex_t lock; /* guards everything below; never held while calling a device */
	pthread_cond_t cond;  /* signalled when the VM stops */
	bool started;
	int stopping; /* read without the lock (atomic loads) by vCPU threads */
	struct sm_vm_stop_info stop;
	struct sm_extra_slot extra[SM_VM_MAX_EXTRA_SLOTS];

	/* Pause (sm_vm_pause): pause_lock serialises pause/resume callers; the rest is under lock. */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond; /* parked/unparked vCPUs and resume */
	int pause_req;		   /* read without the lock (atomic loads) by vCPU threads */
	unsigned int running;	   /* vCPU threads that have not returned */
	unsigned int parked;	   /* vCPU threads waiting in the pause point */
	uint64_t first_run_ns;	   /* sm_now_ns() right before vCPU 0's first KVM_RUN (atomic) */
};

/* Called by a vCPU thread at a consistent point when a pause is requested: waits for resume. */
void sm_vcpu_park(struct sm_vcpu *v);

/* Called by a vCPU thread right before it returns. */
void sm_vcpu_exited(struct sm_vcpu *v);

/* Create vCPU index: fd, kvm_run mapping, CPUID, LAPIC LINT setup. */
int sm_vcpu_init(struct sm_vm *vm, unsigned int index, sm_error_t *err);

/* Unmap and close what sm_vcpu_init set up (the thread must have been joined). */
void sm_vcpu_fini(struct sm_vcpu *v);

/* Thread function of a vCPU: KVM_RUN until the VM stops. */
void *sm_vcpu_thread(void *arg);

/* sm_vm_stop on behalf of a vCPU whose exit (exit_reason) stops the VM. */
void sm_vm_stop_vcpu(struct sm_vm *vm, unsigned int vcpu, uint32_t exit_reason, enum sm_vm_stop_reason reason,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Fetch KVM's supported CPUID into vm->cpuid. */
int sm_vcpu_get_supported_cpuid(struct sm_vm *vm, sm_error_t *err);

#endif
