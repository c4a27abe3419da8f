/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_KVM_H
#define SM_VMM_KVM_H

#include <stdbool.h>

#include "common/error.h"

/*
 * What the host's KVM offers, probed once per process (sm_host_caps_get) so that later code
 * tests flags instead of repeating ioctls. On hosts with the kvm_pvm module (no VT-x/AMD-V)
 * guest kernel code is emulated and KVM_SET_CPUID2 does not change what the guest sees; `pvm`
 * tells the boot code to pass the guest kernel the matching workarounds.
 */
struct sm_host_caps {
	int api_version;	 /* KVM_GET_API_VERSION, always 12 once probed */
	bool pvm;		 /* /sys/module/kvm_pvm exists */
	bool irqchip;		 /* KVM_CAP_IRQCHIP: in-kernel PIC, IOAPIC and LAPIC */
	bool pit2;		 /* KVM_CAP_PIT2 */
	bool ioeventfd;		 /* KVM_CAP_IOEVENTFD */
	bool irqfd;		 /* KVM_CAP_IRQFD */
	bool immediate_exit;	 /* KVM_CAP_IMMEDIATE_EXIT */
	bool set_tss_addr;	 /* KVM_CAP_SET_TSS_ADDR */
	bool identity_map_addr;	 /* KVM_CAP_SET_IDENTITY_MAP_ADDR */
	bool ext_cpuid;		 /* KVM_CAP_EXT_CPUID: KVM_GET_SUPPORTED_CPUID / KVM_SET_CPUID2 */
	bool readonly_mem;	 /* KVM_CAP_READONLY_MEM */
	bool tsc_deadline_timer; /* KVM_CAP_TSC_DEADLINE_TIMER */
	int nr_vcpus;		 /* recommended vCPUs per VM (KVM_CAP_NR_VCPUS) */
	int max_vcpus;		 /* hard limit of vCPUs per VM (KVM_CAP_MAX_VCPUS) */
	int nr_memslots;	 /* memory slots per VM (KVM_CAP_NR_MEMSLOTS) */
	int vcpu_mmap_size;	 /* size of a vCPU's kvm_run mapping */
};

#define SM_KVM_DEV "/dev/kvm"
#define SM_KVM_PVM_MODULE "/sys/module/kvm_pvm"

/*
 * Open /dev/kvm read-write and close-on-exec and check that it speaks KVM API version 12.
 * Returns the fd, or <0 with err naming /dev/kvm and the errno (and a hint on EACCES/ENOENT).
 */
int sm_kvm_open(sm_error_t *err);

/*
 * Fill caps from an open /dev/kvm fd; pvm_module is the sysfs directory whose existence means
 * kvm_pvm (SM_KVM_PVM_MODULE; a parameter so tests can point it elsewhere). Fails when a
 * capability the VMM cannot work without is missing (user memory, irqchip, immediate exit).
 */
int sm_host_caps_probe(int kvm_fd, const char *pvm_module, struct sm_host_caps *caps, sm_error_t *err);

/*
 * The process-wide capabilities, probed on the first successful call (thread-safe) and cached;
 * a failed probe (e.g. no access to /dev/kvm) is retried on the next call.
 */
int sm_host_caps_get(const struct sm_host_caps **caps, sm_error_t *err);

#endif
