/* SPDX-License-Identifier: Apache-2.0 */
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/x86.h"

void sm_x86_boot_gdt(uint64_t gdt[SM_X86_BOOT_GDT_ENTRIES])
{
	gdt[0] = 0;
	gdt[1] = 0;
	gdt[2] = 0x00cf9b000000ffffull; /* code: base 0, limit 4 GiB, 32-bit, execute/read, accessed */
	gdt[3] = 0x00cf93000000ffffull; /* data: base 0, limit 4 GiB, read/write, accessed */
	gdt[4] = 0x00008b0000000067ull; /* TSS: base 0, limit 0x67, busy 32-bit TSS */
}

static struct kvm_segment flat_segment(uint16_t sel, uint8_t type)
{
	return (struct kvm_segment){
	    .base = 0,
	    .limit = 0xffffffff,
	    .selector = sel,
	    .type = type,
	    .present = 1,
	    .dpl = 0,
	    .db = 1,
	    .s = 1,
	    .l = 0,
	    .g = 1,
	};
}

int sm_x86_setup_pvh(int vcpu_fd, uint32_t entry, uint64_t start_info, uint64_t gdt_addr, sm_error_t *err)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return sm_error_set(err, errno, "KVM_GET_SREGS");
	sregs.cs = flat_segment(SM_X86_SEL_CODE32, 0xb);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(SM_X86_SEL_DATA32, 0x3);
	sregs.tr = (struct kvm_segment){
	    .base = 0, .limit = 0x67, .selector = SM_X86_SEL_TSS, .type = 0xb, .present = 1};
	sregs.gdt.base = gdt_addr;
	sregs.gdt.limit = SM_X86_BOOT_GDT_ENTRIES * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = SM_X86_CR0_PE | SM_X86_CR0_ET;
	sregs.cr3 = 0;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return sm_error_set(err, errno, "KVM_SET_SREGS (PVH entry state)");
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;
	regs.rip = entry;
	regs.rbx = start_info;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return sm_error_set(err, errno, "KVM_SET_REGS (PVH entry state)");
	return 0;
}

#define PTE_P (1ull << 0)
#define PTE_PS (1ull << 7)
#define ADDR_MASK 0x000ffffffffff000ull

static int read_entry(const struct sm_guest_mem *mem, uint64_t addr, unsigned int size, uint64_t *val)
{
	uint32_t v32;

	*val = 0;
	if (size == 4) {
		if (sm_guest_read(mem, addr, &v32, 4) < 0)
			return -EFAULT;
		*val = v32;
		return 0;
	}
	return sm_guest_read(mem, addr, val, 8);
}

/* 32-bit paging: two levels of 4-byte entries, 4 MiB pages with CR4.PSE. */
static int walk32(const struct sm_guest_mem *mem, const struct sm_x86_paging *pg, uint32_t lin, uint64_t *gpa)
{
	uint64_t pde, pte;

	if (read_entry(mem, (pg->cr3 & 0xfffff000u) + ((lin >> 22) & 0x3ff) * 4, 4, &pde) < 0 ||
	    !(pde & PTE_P))
		return -EFAULT;
	if ((pde & PTE_PS) && (pg->cr4 & SM_X86_CR4_PSE)) {
		*gpa = (pde & 0xffc00000u) | (lin & 0x3fffff);
		return 0;
	}
	if (read_entry(mem, (pde & 0xfffff000u) + ((lin >> 12) & 0x3ff) * 4, 4, &pte) < 0 || !(pte & PTE_P))
		return -EFAULT;
	*gpa = (pte & 0xfffff000u) | (lin & 0xfff);
	return 0;
}

int sm_x86_translate(const struct sm_guest_mem *mem, const struct sm_x86_paging *pg, uint64_t lin,
		     uint64_t *gpa)
{
	uint64_t table, e = 0;
	int levels, level;

	if (!(pg->cr0 & SM_X86_CR0_PG)) {
		*gpa = (pg->efer & SM_X86_EFER_LMA) ? lin : (lin & 0xffffffffu);
		return 0;
	}
	if (!(pg->cr4 & SM_X86_CR4_PAE))
		return walk32(mem, pg, (uint32_t)lin, gpa);
	if (pg->efer & SM_X86_EFER_LMA) {
		levels = (pg->cr4 & SM_X86_CR4_LA57) ? 5 : 4;
		table = pg->cr3 & ADDR_MASK;
	} else {
		/* PAE: CR3 points to 4 PDPTEs (32-byte aligned), indexed by bits 31:30. */
		lin &= 0xffffffffu;
		if (read_entry(mem, (pg->cr3 & 0xffffffe0u) + ((lin >> 30) & 3) * 8, 8, &e) < 0 ||
		    !(e & PTE_P))
			return -EFAULT;
		table = e & ADDR_MASK;
		levels = 2;
	}
	for (level = levels; level >= 1; level--) {
		unsigned int shift = 12 + 9 * (unsigned int)(level - 1);
		if (read_entry(mem, table + ((lin >> shift) & 0x1ff) * 8, 8, &e) < 0 || !(e & PTE_P))
			return -EFAULT;
		/* Large pages: 1 GiB at the PDPT (level 3), 2 MiB at the page directory (level 2). */
		if (level > 1 && level <= 3 && (e & PTE_PS)) {
			uint64_t mask = (1ull << shift) - 1;
			*gpa = ((e & ADDR_MASK) & ~mask) | (lin & mask);
			return 0;
		}
		table = e & ADDR_MASK;
	}
	*gpa = table | (lin & 0xfff);
	return 0;
}

size_t sm_x86_read_linear(const struct sm_guest_mem *mem, const struct sm_x86_paging *pg, uint64_t lin,
			  void *buf, size_t len)
{
	uint8_t *out = buf;
	size_t done = 0;

	while (done < len) {
		uint64_t gpa, chunk = 0x1000 - ((lin + done) & 0xfff);
		if (chunk > len - done)
			chunk = len - done;
		if (sm_x86_translate(mem, pg, lin + done, &gpa) < 0 ||
		    sm_guest_read(mem, gpa, out + done, chunk) < 0)
			break;
		done += chunk;
	}
	return done;
}
