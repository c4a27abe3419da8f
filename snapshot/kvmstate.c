/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/util.h"
#include "snapshot/codec.h"
#include "snapshot/kvmstate.h"

#define MSR_IA32_TSC 0x10u

/* ---- capture ------------------------------------------------------------------------------- */

static int get_cpuid(int fd, struct sm_vcpu_state *st, sm_error_t *err)
{
	struct kvm_cpuid2 *c = sm_xcalloc(1, sizeof(*c) + SM_KVMSTATE_MAX_CPUID * sizeof(c->entries[0]));

	c->nent = SM_KVMSTATE_MAX_CPUID;
	if (ioctl(fd, KVM_GET_CPUID2, c) < 0) {
		int e = errno;
		free(c);
		return sm_error_set(err, e, "KVM_GET_CPUID2");
	}
	st->ncpuid = c->nent;
	st->cpuid = sm_xcalloc(c->nent ? c->nent : 1, sizeof(st->cpuid[0]));
	memcpy(st->cpuid, c->entries, c->nent * sizeof(c->entries[0]));
	free(c);
	return 0;
}

/* Read every MSR of KVM's list one at a time, so one unreadable MSR does not lose the others. */
static int get_msrs(int kvm_fd, int fd, struct sm_vcpu_state *st, sm_error_t *err)
{
	struct kvm_msr_list *list = sm_xcalloc(1, sizeof(*list) + SM_KVMSTATE_MAX_MSRS * sizeof(uint32_t));
	struct kvm_msrs *one;

	list->nmsrs = SM_KVMSTATE_MAX_MSRS;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		int e = errno;
		free(list);
		return sm_error_set(err, e, "KVM_GET_MSR_INDEX_LIST");
	}
	one = sm_xcalloc(1, sizeof(*one) + sizeof(one->entries[0]));
	st->msrs = sm_xcalloc(list->nmsrs + 1, sizeof(st->msrs[0]));
	for (uint32_t i = 0; i < list->nmsrs; i++) {
		memset(one->entries, 0, sizeof(one->entries[0]));
		one->nmsrs = 1;
		one->entries[0].index = list->indices[i];
		if (ioctl(fd, KVM_GET_MSRS, one) != 1) {
			st->msrs_skipped++;
			continue;
		}
		/* IA32_TSC goes first: KVM computes TSC_DEADLINE relative to the guest TSC. */
		if (one->entries[0].index == MSR_IA32_TSC && st->nmsrs > 0) {
			memmove(&st->msrs[1], &st->msrs[0], st->nmsrs * sizeof(st->msrs[0]));
			st->msrs[0] = one->entries[0];
		} else {
			st->msrs[st->nmsrs] = one->entries[0];
		}
		st->nmsrs++;
	}
	free(one);
	free(list);
	return 0;
}

static int get_xsave(int kvm_fd, int vm_fd, int fd, struct sm_vcpu_state *st, sm_error_t *err)
{
	int size2;

	if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) <= 0)
		return 0;
	size2 = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	st->xsave_size = size2 > (int)sizeof(struct kvm_xsave) ? (uint32_t)size2 : sizeof(struct kvm_xsave);
	if (st->xsave_size > SM_KVMSTATE_MAX_XSAVE)
		return sm_error_set(err, 0, "XSAVE area of %u bytes is larger than %u", st->xsave_size,
				    SM_KVMSTATE_MAX_XSAVE);
	st->xsave = sm_xcalloc(1, st->xsave_size);
	if (ioctl(fd, st->xsave_size > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, st->xsave) <
	    0)
		return sm_error_set(err, errno, "KVM_GET_XSAVE");
	return 0;
}

int sm_vcpu_state_get(int kvm_fd, int vm_fd, int fd, struct sm_vcpu_state *st, sm_error_t *err)
{
	int r;

	memset(st, 0, sizeof(*st));
	if ((r = get_cpuid(fd, st, err)) < 0)
		return r;
	if (ioctl(fd, KVM_GET_REGS, &st->regs) < 0)
		return sm_error_set(err, errno, "KVM_GET_REGS");
	if (ioctl(fd, KVM_GET_SREGS, &st->sregs) < 0)
		return sm_error_set(err, errno, "KVM_GET_SREGS");
	if (ioctl(fd, KVM_GET_FPU, &st->fpu) < 0)
		return sm_error_set(err, errno, "KVM_GET_FPU");
	if ((r = get_xsave(kvm_fd, vm_fd, fd, st, err)) < 0)
		return r;
	if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0) {
		if (ioctl(fd, KVM_GET_XCRS, &st->xcrs) < 0)
			return sm_error_set(err, errno, "KVM_GET_XCRS");
		st->has_xcrs = true;
	}
	if (ioctl(fd, KVM_GET_DEBUGREGS, &st->debugregs) < 0)
		return sm_error_set(err, errno, "KVM_GET_DEBUGREGS");
	if (ioctl(fd, KVM_GET_LAPIC, &st->lapic) == 0)
		st->has_lapic = true;
	else if (errno != ENXIO) /* ENXIO: no in-kernel LAPIC (VM without irqchip) */
		return sm_error_set(err, errno, "KVM_GET_LAPIC");
	if ((r = get_msrs(kvm_fd, fd, st, err)) < 0)
		return r;
	if (ioctl(fd, KVM_GET_VCPU_EVENTS, &st->events) < 0)
		return sm_error_set(err, errno, "KVM_GET_VCPU_EVENTS");
	if (ioctl(fd, KVM_GET_MP_STATE, &st->mp_state) < 0)
		return sm_error_set(err, errno, "KVM_GET_MP_STATE");
	return 0;
}

void sm_vcpu_state_free(struct sm_vcpu_state *st)
{
	free(st->cpuid);
	free(st->xsave);
	free(st->msrs);
	memset(st, 0, sizeof(*st));
}

/* ---- apply --------------------------------------------------------------------------------- */

static int set_cpuid(int fd, const struct sm_vcpu_state *st, sm_error_t *err)
{
	struct kvm_cpuid2 *c = sm_xcalloc(1, sizeof(*c) + st->ncpuid * sizeof(c->entries[0]));
	int r = 0;

	c->nent = st->ncpuid;
	memcpy(c->entries, st->cpuid, st->ncpuid * sizeof(c->entries[0]));
	if (ioctl(fd, KVM_SET_CPUID2, c) < 0)
		r = sm_error_set(err, errno, "KVM_SET_CPUID2");
	free(c);
	return r;
}

/* KVM_SET_MSRS stops at the first MSR it refuses: count it and go on with the rest. */
static void set_msrs(int fd, const struct sm_vcpu_state *st, unsigned int *failed)
{
	struct kvm_msrs *m = sm_xcalloc(1, sizeof(*m) + st->nmsrs * sizeof(m->entries[0]));
	uint32_t done = 0;

	while (done < st->nmsrs) {
		int n;
		m->nmsrs = st->nmsrs - done;
		memcpy(m->entries, st->msrs + done, m->nmsrs * sizeof(m->entries[0]));
		n = ioctl(fd, KVM_SET_MSRS, m);
		if (n < 0)
			n = 0;
		done += (uint32_t)n;
		if (done < st->nmsrs) {
			(*failed)++;
			done++;
		}
	}
	free(m);
}

int sm_vcpu_state_set(int fd, const struct sm_vcpu_state *st, unsigned int *msrs_failed, sm_error_t *err)
{
	struct kvm_vcpu_events ev = st->events;
	unsigned int failed = 0;
	int r;

	if (st->ncpuid > 0 && (r = set_cpuid(fd, st, err)) < 0)
		return r;
	if (ioctl(fd, KVM_SET_MP_STATE, &st->mp_state) < 0)
		return sm_error_set(err, errno, "KVM_SET_MP_STATE");
	if (ioctl(fd, KVM_SET_REGS, &st->regs) < 0)
		return sm_error_set(err, errno, "KVM_SET_REGS");
	if (ioctl(fd, KVM_SET_SREGS, &st->sregs) < 0)
		return sm_error_set(err, errno, "KVM_SET_SREGS");
	if (st->xsave_size > 0) {
		/* The XSAVE area holds the x87/SSE state too, so KVM_SET_FPU is not needed then. */
		if (ioctl(fd, KVM_SET_XSAVE, st->xsave) < 0)
			return sm_error_set(err, errno, "KVM_SET_XSAVE");
	} else if (ioctl(fd, KVM_SET_FPU, &st->fpu) < 0) {
		return sm_error_set(err, errno, "KVM_SET_FPU");
	}
	if (st->has_xcrs && ioctl(fd, KVM_SET_XCRS, &st->xcrs) < 0)
		return sm_error_set(err, errno, "KVM_SET_XCRS");
	if (ioctl(fd, KVM_SET_DEBUGREGS, &st->debugregs) < 0)
		return sm_error_set(err, errno, "KVM_SET_DEBUGREGS");
	if (st->has_lapic && ioctl(fd, KVM_SET_LAPIC, &st->lapic) < 0)
		return sm_error_set(err, errno, "KVM_SET_LAPIC");
	set_msrs(fd, st, &failed);
	ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
		   (st->events.flags & (KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM));
	if (ioctl(fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		return sm_error_set(err, errno, "KVM_SET_VCPU_EVENTS");
	if (msrs_failed != NULL)
		*msrs_failed = failed;
	return 0;
}

/* ---- encoding ------------------------------------------------------------------------------ */

static void put_seg(struct sm_state_buf *b, const struct kvm_segment *s)
{
	sm_state_put_u64(b, s->base);
	sm_state_put_u32(b, s->limit);
	sm_state_put_u16(b, s->selector);
	sm_state_put_u8(b, s->type);
	sm_state_put_u8(b, s->present);
	sm_state_put_u8(b, s->dpl);
	sm_state_put_u8(b, s->db);
	sm_state_put_u8(b, s->s);
	sm_state_put_u8(b, s->l);
	sm_state_put_u8(b, s->g);
	sm_state_put_u8(b, s->avl);
	sm_state_put_u8(b, s->unusable);
}

static void get_seg(struct sm_dec *d, struct kvm_segment *s)
{
	s->base = sm_dec_u64(d);
	s->limit = sm_dec_u32(d);
	s->selector = sm_dec_u16(d);
	s->type = sm_dec_u8(d);
	s->present = sm_dec_u8(d);
	s->dpl = sm_dec_u8(d);
	s->db = sm_dec_u8(d);
	s->s = sm_dec_u8(d);
	s->l = sm_dec_u8(d);
	s->g = sm_dec_u8(d);
	s->avl = sm_dec_u8(d);
	s->unusable = sm_dec_u8(d);
}

/* The general registers in kvm_regs order; the same table drives encoding and decoding. */
#define REGS(X)                                                                                              \
	X(rax)                                                                                               \
	X(rbx) X(rcx) X(rdx) X(rsi) X(rdi) X(rsp) X(rbp) X(r8) X(r9) X(r10) X(r11) X(r12) X(r13) X(r14)      \
	    X(r15) X(rip) X(rflags)
#define SREGS64(X) X(cr0) X(cr2) X(cr3) X(cr4) X(cr8) X(efer) X(apic_base)

static void put_sregs(struct sm_state_buf *b, const struct kvm_sregs *s)
{
	const struct kvm_segment *segs[] = {&s->cs, &s->ds, &s->es, &s->fs, &s->gs, &s->ss, &s->tr, &s->ldt};

	for (size_t i = 0; i < 8; i++)
		put_seg(b, segs[i]);
	sm_state_put_u64(b, s->gdt.base);
	sm_state_put_u16(b, s->gdt.limit);
	sm_state_put_u64(b, s->idt.base);
	sm_state_put_u16(b, s->idt.limit);
#define PUT(f) sm_state_put_u64(b, s->f);
	SREGS64(PUT)
#undef PUT
	for (size_t i = 0; i < 4; i++)
		sm_state_put_u64(b, s->interrupt_bitmap[i]);
}

static void get_sregs(struct sm_dec *d, struct kvm_sregs *s)
{
	struct kvm_segment *segs[] = {&s->cs, &s->ds, &s->es, &s->fs, &s->gs, &s->ss, &s->tr, &s->ldt};

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < 8; i++)
		get_seg(d, segs[i]);
	s->gdt.base = sm_dec_u64(d);
	s->gdt.limit = sm_dec_u16(d);
	s->idt.base = sm_dec_u64(d);
	s->idt.limit = sm_dec_u16(d);
#define GET(f) s->f = sm_dec_u64(d);
	SREGS64(GET)
#undef GET
	for (size_t i = 0; i < 4; i++)
		s->interrupt_bitmap[i] = sm_dec_u64(d);
}

static void put_fpu(struct sm_state_buf *b, const struct kvm_fpu *f)
{
	sm_state_put(b, f->fpr, sizeof(f->fpr)); /* 8 x 16 bytes: x87 registers, byte arrays */
	sm_state_put_u16(b, f->fcw);
	sm_state_put_u16(b, f->fsw);
	sm_state_put_u8(b, f->ftwx);
	sm_state_put_u16(b, f->last_opcode);
	sm_state_put_u64(b, f->last_ip);
	sm_state_put_u64(b, f->last_dp);
	sm_state_put(b, f->xmm, sizeof(f->xmm)); /* 16 x 16 bytes */
	sm_state_put_u32(b, f->mxcsr);
}

static void get_fpu(struct sm_dec *d, struct kvm_fpu *f)
{
	memset(f, 0, sizeof(*f));
	sm_dec_bytes(d, f->fpr, sizeof(f->fpr));
	f->fcw = sm_dec_u16(d);
	f->fsw = sm_dec_u16(d);
	f->ftwx = sm_dec_u8(d);
	f->last_opcode = sm_dec_u16(d);
	f->last_ip = sm_dec_u64(d);
	f->last_dp = sm_dec_u64(d);
	sm_dec_bytes(d, f->xmm, sizeof(f->xmm));
	f->mxcsr = sm_dec_u32(d);
}

static void put_events(struct sm_state_buf *b, const struct kvm_vcpu_events *e)
{
	sm_state_put_u8(b, e->exception.injected);
	sm_state_put_u8(b, e->exception.nr);
	sm_state_put_u8(b, e->exception.has_error_code);
	sm_state_put_u8(b, e->exception.pending);
	sm_state_put_u32(b, e->exception.error_code);
	sm_state_put_u8(b, e->interrupt.injected);
	sm_state_put_u8(b, e->interrupt.nr);
	sm_state_put_u8(b, e->interrupt.soft);
	sm_state_put_u8(b, e->interrupt.shadow);
	sm_state_put_u8(b, e->nmi.injected);
	sm_state_put_u8(b, e->nmi.pending);
	sm_state_put_u8(b, e->nmi.masked);
	sm_state_put_u32(b, e->sipi_vector);
	sm_state_put_u32(b, e->flags);
	sm_state_put_u8(b, e->smi.smm);
	sm_state_put_u8(b, e->smi.pending);
	sm_state_put_u8(b, e->smi.smm_inside_nmi);
	sm_state_put_u8(b, e->smi.latched_init);
	sm_state_put_u8(b, e->exception_has_payload);
	sm_state_put_u64(b, e->exception_payload);
}

static void get_events(struct sm_dec *d, struct kvm_vcpu_events *e)
{
	memset(e, 0, sizeof(*e));
	e->exception.injected = sm_dec_u8(d);
	e->exception.nr = sm_dec_u8(d);
	e->exception.has_error_code = sm_dec_u8(d);
	e->exception.pending = sm_dec_u8(d);
	e->exception.error_code = sm_dec_u32(d);
	e->interrupt.injected = sm_dec_u8(d);
	e->interrupt.nr = sm_dec_u8(d);
	e->interrupt.soft = sm_dec_u8(d);
	e->interrupt.shadow = sm_dec_u8(d);
	e->nmi.injected = sm_dec_u8(d);
	e->nmi.pending = sm_dec_u8(d);
	e->nmi.masked = sm_dec_u8(d);
	e->sipi_vector = sm_dec_u32(d);
	e->flags = sm_dec_u32(d);
	e->smi.smm = sm_dec_u8(d);
	e->smi.pending = sm_dec_u8(d);
	e->smi.smm_inside_nmi = sm_dec_u8(d);
	e->smi.latched_init = sm_dec_u8(d);
	e->exception_has_payload = sm_dec_u8(d);
	e->exception_payload = sm_dec_u64(d);
}

void sm_vcpu_state_encode(const struct sm_vcpu_state *st, struct sm_state_buf *b)
{
	sm_state_put_u32(b, st->ncpuid);
	for (uint32_t i = 0; i < st->ncpuid; i++) {
		const struct kvm_cpuid_entry2 *e = &st->cpuid[i];
		sm_state_put_u32(b, e->function);
		sm_state_put_u32(b, e->index);
		sm_state_put_u32(b, e->flags);
		sm_state_put_u32(b, e->eax);
		sm_state_put_u32(b, e->ebx);
		sm_state_put_u32(b, e->ecx);
		sm_state_put_u32(b, e->edx);
	}
#define PUT(f) sm_state_put_u64(b, st->regs.f);
	REGS(PUT)
#undef PUT
	put_sregs(b, &st->sregs);
	put_fpu(b, &st->fpu);
	sm_state_put_u32(b, st->xsave_size);
	sm_state_put(b, st->xsave, st->xsave_size);
	sm_state_put_u8(b, st->has_xcrs);
	sm_state_put_u32(b, st->has_xcrs ? st->xcrs.nr_xcrs : 0);
	sm_state_put_u32(b, st->xcrs.flags);
	for (uint32_t i = 0; st->has_xcrs && i < st->xcrs.nr_xcrs && i < KVM_MAX_XCRS; i++) {
		sm_state_put_u32(b, st->xcrs.xcrs[i].xcr);
		sm_state_put_u64(b, st->xcrs.xcrs[i].value);
	}
	for (size_t i = 0; i < 4; i++)
		sm_state_put_u64(b, st->debugregs.db[i]);
	sm_state_put_u64(b, st->debugregs.dr6);
	sm_state_put_u64(b, st->debugregs.dr7);
	sm_state_put_u64(b, st->debugregs.flags);
	/* The LAPIC register page (APIC registers at their architectural offsets). */
	sm_state_put_u32(b, st->has_lapic ? KVM_APIC_REG_SIZE : 0);
	if (st->has_lapic)
		sm_state_put(b, st->lapic.regs, KVM_APIC_REG_SIZE);
	sm_state_put_u32(b, st->nmsrs);
	for (uint32_t i = 0; i < st->nmsrs; i++) {
		sm_state_put_u32(b, st->msrs[i].index);
		sm_state_put_u64(b, st->msrs[i].data);
	}
	sm_state_put_u32(b, st->msrs_skipped);
	put_events(b, &st->events);
	sm_state_put_u32(b, st->mp_state.mp_state);
}

int sm_vcpu_state_decode(const void *data, size_t len, struct sm_vcpu_state *st, sm_error_t *err)
{
	struct sm_dec d;
	uint32_t n, lapic_size;

	memset(st, 0, sizeof(*st));
	sm_dec_init(&d, data, len, "vCPU", err);
	n = sm_dec_u32(&d);
	if (n > SM_KVMSTATE_MAX_CPUID)
		return sm_dec_fail(&d, "vCPU state: %u CPUID entries (at most %d)", n, SM_KVMSTATE_MAX_CPUID);
	st->cpuid = sm_xcalloc(n ? n : 1, sizeof(st->cpuid[0]));
	st->ncpuid = n;
	for (uint32_t i = 0; i < n && !d.failed; i++) {
		struct kvm_cpuid_entry2 *e = &st->cpuid[i];
		e->function = sm_dec_u32(&d);
		e->index = sm_dec_u32(&d);
		e->flags = sm_dec_u32(&d);
		e->eax = sm_dec_u32(&d);
		e->ebx = sm_dec_u32(&d);
		e->ecx = sm_dec_u32(&d);
		e->edx = sm_dec_u32(&d);
	}
#define GET(f) st->regs.f = sm_dec_u64(&d);
	REGS(GET)
#undef GET
	get_sregs(&d, &st->sregs);
	get_fpu(&d, &st->fpu);
	n = sm_dec_u32(&d);
	if (n != 0 && (n < sizeof(struct kvm_xsave) || n > SM_KVMSTATE_MAX_XSAVE))
		return sm_dec_fail(&d, "vCPU state: XSAVE area of %u bytes (expected %zu..%u)", n,
				   sizeof(struct kvm_xsave), SM_KVMSTATE_MAX_XSAVE);
	if (n > sm_state_remaining(&d.r))
		return sm_dec_fail(&d, "vCPU state: XSAVE area of %u bytes is truncated", n);
	st->xsave_size = n;
	if (n > 0) {
		st->xsave = sm_xcalloc(1, n);
		sm_dec_bytes(&d, st->xsave, n);
	}
	st->has_xcrs = sm_dec_u8(&d) != 0;
	n = sm_dec_u32(&d);
	if (n > KVM_MAX_XCRS)
		return sm_dec_fail(&d, "vCPU state: %u XCRs (at most %d)", n, KVM_MAX_XCRS);
	st->xcrs.nr_xcrs = n;
	st->xcrs.flags = sm_dec_u32(&d);
	for (uint32_t i = 0; i < n; i++) {
		st->xcrs.xcrs[i].xcr = sm_dec_u32(&d);
		st->xcrs.xcrs[i].value = sm_dec_u64(&d);
	}
	for (size_t i = 0; i < 4; i++)
		st->debugregs.db[i] = sm_dec_u64(&d);
	st->debugregs.dr6 = sm_dec_u64(&d);
	st->debugregs.dr7 = sm_dec_u64(&d);
	st->debugregs.flags = sm_dec_u64(&d);
	lapic_size = sm_dec_u32(&d);
	if (lapic_size != 0 && lapic_size != KVM_APIC_REG_SIZE)
		return sm_dec_fail(&d, "vCPU state: LAPIC page of %u bytes (expected %d)", lapic_size,
				   KVM_APIC_REG_SIZE);
	st->has_lapic = lapic_size != 0;
	sm_dec_bytes(&d, st->lapic.regs, lapic_size);
	n = sm_dec_u32(&d);
	if (n > SM_KVMSTATE_MAX_MSRS)
		return sm_dec_fail(&d, "vCPU state: %u MSRs (at most %d)", n, SM_KVMSTATE_MAX_MSRS);
	st->msrs = sm_xcalloc(n ? n : 1, sizeof(st->msrs[0]));
	st->nmsrs = n;
	for (uint32_t i = 0; i < n && !d.failed; i++) {
		st->msrs[i].index = sm_dec_u32(&d);
		st->msrs[i].data = sm_dec_u64(&d);
	}
	st->msrs_skipped = sm_dec_u32(&d);
	get_events(&d, &st->events);
	st->mp_state.mp_state = sm_dec_u32(&d);
	return sm_dec_end(&d);
}

/* ---- the VM -------------------------------------------------------------------------------- */

int sm_vmstate_get(int vm_fd, struct sm_vmstate *st, sm_error_t *err)
{
	memset(st, 0, sizeof(*st));
	st->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	st->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	st->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	if (ioctl(vm_fd, KVM_GET_IRQCHIP, &st->pic_master) == 0) {
		if (ioctl(vm_fd, KVM_GET_IRQCHIP, &st->pic_slave) < 0)
			return sm_error_set(err, errno, "KVM_GET_IRQCHIP (PIC slave)");
		if (ioctl(vm_fd, KVM_GET_IRQCHIP, &st->ioapic) < 0)
			return sm_error_set(err, errno, "KVM_GET_IRQCHIP (IOAPIC)");
		st->has_irqchip = true;
	} else if (errno != ENXIO) {
		return sm_error_set(err, errno, "KVM_GET_IRQCHIP (PIC master)");
	}
	if (ioctl(vm_fd, KVM_GET_PIT2, &st->pit) == 0)
		st->has_pit = true;
	else if (errno != ENXIO)
		return sm_error_set(err, errno, "KVM_GET_PIT2");
	if (ioctl(vm_fd, KVM_GET_CLOCK, &st->clock) < 0)
		return sm_error_set(err, errno, "KVM_GET_CLOCK");
	return 0;
}

int sm_vmstate_set(int vm_fd, const struct sm_vmstate *st, sm_error_t *err)
{
	struct kvm_clock_data clock = {.clock = st->clock.clock};

	if (st->has_irqchip) {
		if (ioctl(vm_fd, KVM_SET_IRQCHIP, &st->pic_master) < 0)
			return sm_error_set(err, errno, "KVM_SET_IRQCHIP (PIC master)");
		if (ioctl(vm_fd, KVM_SET_IRQCHIP, &st->pic_slave) < 0)
			return sm_error_set(err, errno, "KVM_SET_IRQCHIP (PIC slave)");
		if (ioctl(vm_fd, KVM_SET_IRQCHIP, &st->ioapic) < 0)
			return sm_error_set(err, errno, "KVM_SET_IRQCHIP (IOAPIC)");
	}
	if (st->has_pit && ioctl(vm_fd, KVM_SET_PIT2, &st->pit) < 0)
		return sm_error_set(err, errno, "KVM_SET_PIT2");
	if (ioctl(vm_fd, KVM_SET_CLOCK, &clock) < 0)
		return sm_error_set(err, errno, "KVM_SET_CLOCK");
	return 0;
}

#define PIC_FIELDS(X)                                                                                        \
	X(last_irr)                                                                                          \
	X(irr) X(imr) X(isr) X(priority_add) X(irq_base) X(read_reg_select) X(poll) X(special_mask)          \
	    X(init_state) X(auto_eoi) X(rotate_on_auto_eoi) X(special_fully_nested_mode) X(init4) X(elcr)    \
		X(elcr_mask)

static void put_pic(struct sm_state_buf *b, const struct kvm_pic_state *p)
{
#define PUT(f) sm_state_put_u8(b, p->f);
	PIC_FIELDS(PUT)
#undef PUT
}

static void get_pic(struct sm_dec *d, struct kvm_pic_state *p)
{
#define GET(f) p->f = sm_dec_u8(d);
	PIC_FIELDS(GET)
#undef GET
}

#define PIT_FIELDS8(X)                                                                                       \
	X(count_latched)                                                                                     \
	X(status_latched) X(status) X(read_state) X(write_state) X(write_latch) X(rw_mode) X(mode) X(bcd)    \
	    X(gate)

void sm_vmstate_encode(const struct sm_vmstate *st, struct sm_state_buf *b)
{
	const struct kvm_ioapic_state *io = &st->ioapic.chip.ioapic;

	sm_state_put_u8(b, st->has_irqchip);
	put_pic(b, &st->pic_master.chip.pic);
	put_pic(b, &st->pic_slave.chip.pic);
	sm_state_put_u64(b, io->base_address);
	sm_state_put_u32(b, io->ioregsel);
	sm_state_put_u32(b, io->id);
	sm_state_put_u32(b, io->irr);
	sm_state_put_u32(b, KVM_IOAPIC_NUM_PINS);
	for (int i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		sm_state_put_u64(b, io->redirtbl[i].bits); /* the architectural 64-bit redirection entry */
	sm_state_put_u8(b, st->has_pit);
	for (int i = 0; i < 3; i++) {
		const struct kvm_pit_channel_state *c = &st->pit.channels[i];
		sm_state_put_u32(b, c->count);
		sm_state_put_u16(b, c->latched_count);
#define PUT(f) sm_state_put_u8(b, c->f);
		PIT_FIELDS8(PUT)
#undef PUT
		sm_state_put_u64(b, (uint64_t)c->count_load_time);
	}
	sm_state_put_u32(b, st->pit.flags);
	sm_state_put_u64(b, st->clock.clock);
	sm_state_put_u32(b, st->clock.flags);
}

int sm_vmstate_decode(const void *data, size_t len, struct sm_vmstate *st, sm_error_t *err)
{
	struct kvm_ioapic_state *io = &st->ioapic.chip.ioapic;
	struct sm_dec d;
	uint32_t pins;

	memset(st, 0, sizeof(*st));
	st->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	st->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	st->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	sm_dec_init(&d, data, len, "VM", err);
	st->has_irqchip = sm_dec_u8(&d) != 0;
	get_pic(&d, &st->pic_master.chip.pic);
	get_pic(&d, &st->pic_slave.chip.pic);
	io->base_address = sm_dec_u64(&d);
	io->ioregsel = sm_dec_u32(&d);
	io->id = sm_dec_u32(&d);
	io->irr = sm_dec_u32(&d);
	pins = sm_dec_u32(&d);
	if (!d.failed && pins != KVM_IOAPIC_NUM_PINS)
		return sm_dec_fail(&d, "VM state: IOAPIC with %u pins (expected %d)", pins,
				   KVM_IOAPIC_NUM_PINS);
	for (int i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		io->redirtbl[i].bits = sm_dec_u64(&d);
	st->has_pit = sm_dec_u8(&d) != 0;
	for (int i = 0; i < 3; i++) {
		struct kvm_pit_channel_state *c = &st->pit.channels[i];
		c->count = sm_dec_u32(&d);
		c->latched_count = sm_dec_u16(&d);
#define GET(f) c->f = sm_dec_u8(&d);
		PIT_FIELDS8(GET)
#undef GET
		c->count_load_time = (int64_t)sm_dec_u64(&d);
	}
	st->pit.flags = sm_dec_u32(&d);
	st->clock.clock = sm_dec_u64(&d);
	st->clock.flags = sm_dec_u32(&d);
	return sm_dec_end(&d);
}
