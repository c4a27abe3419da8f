/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_SNAPSHOT_KVMSTATE_H
#define SM_SNAPSHOT_KVMSTATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "vmm/virtio/state.h"

/*
 * The KVM side of a snapshot: what a vCPU and the VM hold inside the kernel, captured with
 * KVM_GET_* while the vCPUs are paused, encoded field by field in little-endian (no C struct
 * reaches the disk; the XSAVE area and the LAPIC register page are architectural byte layouts and
 * are stored as blobs with their sizes checked), decoded with every length checked, and applied
 * with KVM_SET_* in the order KVM needs. See docs/design/snapshot-format.md.
 */

#define SM_KVMSTATE_MAX_CPUID 256
#define SM_KVMSTATE_MAX_MSRS 1024
#define SM_KVMSTATE_MAX_XSAVE (1u << 20)

struct sm_vcpu_state {
	uint32_t ncpuid;
	struct kvm_cpuid_entry2 *cpuid; /* ncpuid entries (malloc'd) */
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	uint32_t xsave_size; /* 0: not captured (no KVM_CAP_XSAVE) */
	uint8_t *xsave;	     /* xsave_size bytes: the XSAVE area as KVM_GET_XSAVE(2) gives it */
	bool has_xcrs;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs debugregs;
	bool has_lapic; /* false without an in-kernel irqchip */
	struct kvm_lapic_state lapic;
	uint32_t nmsrs;
	struct kvm_msr_entry *msrs; /* nmsrs entries (index, data), IA32_TSC first */
	uint32_t msrs_skipped;	    /* MSRs in KVM's list that could not be read */
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp_state;
};

struct sm_vmstate {
	bool has_irqchip;
	struct kvm_irqchip pic_master, pic_slave, ioapic;
	bool has_pit;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

/*
 * Capture a paused vCPU: CPUID, regs, sregs, FPU, xsave and xcrs (only where KVM reports
 * KVM_CAP_XSAVE / KVM_CAP_XCRS), debug regs, LAPIC (when there is an in-kernel one), the MSRs
 * of KVM_GET_MSR_INDEX_LIST (kvm_fd is /dev/kvm; those that fail to read are skipped and
 * counted), vcpu events and MP state. vm_fd is used for the XSAVE2 size. Free with
 * sm_vcpu_state_free, also on failure.
 */
int sm_vcpu_state_get(int kvm_fd, int vm_fd, int vcpu_fd, struct sm_vcpu_state *st, sm_error_t *err);

/*
 * Apply st to a vCPU that has not run (or is paused): CPUID, MP state, regs, sregs, FPU or
 * xsave, xcrs, debug regs, LAPIC, MSRs (IA32_TSC before TSC_DEADLINE; MSRs KVM refuses are
 * counted in *msrs_failed, which may be NULL), vcpu events.
 */
int sm_vcpu_state_set(int vcpu_fd, const struct sm_vcpu_state *st, unsigned int *msrs_failed,
		      sm_error_t *err);

/* Free what sm_vcpu_state_get/decode allocated; the struct may be reused. */
void sm_vcpu_state_free(struct sm_vcpu_state *st);

/* Append st, field by field, little-endian. */
void sm_vcpu_state_encode(const struct sm_vcpu_state *st, struct sm_state_buf *b);

/*
 * Decode what sm_vcpu_state_encode wrote; fails, naming the field or limit, on truncated data,
 * counts above the SM_KVMSTATE_MAX_* limits or trailing bytes. Free st also on failure.
 */
int sm_vcpu_state_decode(const void *data, size_t len, struct sm_vcpu_state *st, sm_error_t *err);

/* Capture the VM: PIC master, PIC slave, IOAPIC, PIT2 (those that exist) and the kvmclock. */
int sm_vmstate_get(int vm_fd, struct sm_vmstate *st, sm_error_t *err);

/* Apply: irqchip, PIT2, clock (KVM_SET_CLOCK: the guest clock goes on from the saved value). */
int sm_vmstate_set(int vm_fd, const struct sm_vmstate *st, sm_error_t *err);

/* Encode / decode a struct sm_vmstate (same rules as the vCPU functions). */
void sm_vmstate_encode(const struct sm_vmstate *st, struct sm_state_buf *b);
int sm_vmstate_decode(const void *data, size_t len, struct sm_vmstate *st, sm_error_t *err);

#endif
