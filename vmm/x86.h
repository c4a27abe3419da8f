/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_X86_H
#define SM_VMM_X86_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "vmm/memory.h"

/*
 * x86 details the VMM needs: the boot GDT and register state of the PVH entry, and a guest page
 * table walker used to show the instruction bytes at a failing RIP. The walker only reads guest
 * memory through sm_guest_ptr and is unit-tested on a fake memory.
 */

#define SM_X86_BOOT_GDT_ENTRIES 5
#define SM_X86_SEL_CODE32 0x10
#define SM_X86_SEL_DATA32 0x18
#define SM_X86_SEL_TSS 0x20

#define SM_X86_CR0_PE (1ull << 0)
#define SM_X86_CR0_ET (1ull << 4)
#define SM_X86_CR0_PG (1ull << 31)
#define SM_X86_CR4_PSE (1ull << 4)
#define SM_X86_CR4_PAE (1ull << 5)
#define SM_X86_CR4_LA57 (1ull << 12)
#define SM_X86_EFER_LMA (1ull << 10)

/* The boot GDT: null, null, flat 32-bit code (0x10), flat data (0x18), 32-bit TSS (0x20). */
void sm_x86_boot_gdt(uint64_t gdt[SM_X86_BOOT_GDT_ENTRIES]);

/*
 * Put vCPU vcpu_fd in the PVH entry state: 32-bit protected mode, paging off, flat segments
 * matching the GDT at gdt_addr, CR0 = PE|ET, CR4 = 0, EFER = 0, EFLAGS = 0x2, EIP = entry,
 * EBX = start_info.
 */
int sm_x86_setup_pvh(int vcpu_fd, uint32_t entry, uint64_t start_info, uint64_t gdt_addr, sm_error_t *err);

struct sm_x86_paging {
	uint64_t cr0, cr3, cr4, efer;
};

/*
 * Translate the linear address lin to a guest physical address with the paging mode the
 * control registers select (none, 32-bit, PAE, 4-level, 5-level). Returns 0, or -EFAULT when a
 * table is outside RAM or an entry is not present.
 */
int sm_x86_translate(const struct sm_guest_mem *mem, const struct sm_x86_paging *pg, uint64_t lin,
		     uint64_t *gpa);

/*
 * Read up to len bytes at linear address lin through the page tables into buf; stops at the
 * first unmapped byte. Returns the number of bytes read.
 */
size_t sm_x86_read_linear(const struct sm_guest_mem *mem, const struct sm_x86_paging *pg, uint64_t lin,
			  void *buf, size_t len);

#endif
