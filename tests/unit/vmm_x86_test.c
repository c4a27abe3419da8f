/* SPDX-License-Identifier: Apache-2.0 */
/* The guest page-table walker used for failing-instruction dumps, on hand-built page tables. */
#include <stdlib.h>
#include <string.h>

#include "tests/tap.h"
#include "vmm/x86.h"

#define RAM (8u << 20)
#define P 1ull
#define RW 2ull
#define PS 0x80ull

static uint8_t *ram;
static struct sm_guest_mem mem;

static void put64(uint64_t gpa, uint64_t v)
{
	memcpy(ram + gpa, &v, 8);
}

static void put32(uint64_t gpa, uint32_t v)
{
	memcpy(ram + gpa, &v, 4);
}

static int xlate(const struct sm_x86_paging *pg, uint64_t lin, uint64_t *gpa)
{
	*gpa = ~0ull;
	return sm_x86_translate(&mem, pg, lin, gpa);
}

static void test_no_paging(void)
{
	struct sm_x86_paging pg = {.cr0 = SM_X86_CR0_PE};
	uint64_t gpa;

	ok(xlate(&pg, 0x123456, &gpa) == 0 && gpa == 0x123456, "paging off: identity");
	ok(xlate(&pg, 0x100123456ull, &gpa) == 0 && gpa == 0x123456,
	   "paging off, 32-bit: address wraps at 4 GiB");
}

static void test_long_mode(void)
{
	/* PML4 at 0x1000, PDPT at 0x2000, PD at 0x3000, PT at 0x4000. */
	struct sm_x86_paging pg = {.cr0 = SM_X86_CR0_PE | SM_X86_CR0_PG,
				   .cr3 = 0x1000,
				   .cr4 = SM_X86_CR4_PAE,
				   .efer = SM_X86_EFER_LMA | (1 << 8)};
	uint64_t k = 0xffffffff81000000ull, gpa;

	memset(ram, 0, RAM);
	put64(0x1000 + ((k >> 39) & 511) * 8, 0x2000 | P | RW);
	put64(0x2000 + ((k >> 30) & 511) * 8, 0x3000 | P | RW);
	put64(0x3000 + ((k >> 21) & 511) * 8, 0x400000 | P | RW | PS); /* 2 MiB page */
	ok(xlate(&pg, k + 0x1234, &gpa) == 0 && gpa == 0x401234, "4-level, 2 MiB page (0x%llx)",
	   (unsigned long long)gpa);
	put64(0x3000 + (((k >> 21) + 1) & 511) * 8, 0x4000 | P | RW);
	put64(0x4000 + 5 * 8, 0x7000 | P);
	ok(xlate(&pg, k + 0x200000 + 5 * 4096 + 0x10, &gpa) == 0 && gpa == 0x7010, "4-level, 4 KiB page");
	ok(xlate(&pg, k + 0x200000 + 6 * 4096, &gpa) == -EFAULT, "not-present PTE faults");
	ok(xlate(&pg, 0x1000, &gpa) == -EFAULT, "not-present PML4E faults");
	put64(0x1000, 0x2000 | P);
	put64(0x2000, 0x40000000 | P | PS); /* 1 GiB page at 1 GiB: beyond RAM, but translation works */
	ok(xlate(&pg, 0x12345678, &gpa) == 0 && gpa == 0x52345678, "1 GiB page");
	put64(0x2000, 0x7ff000000ull | P); /* page directory far outside RAM */
	ok(xlate(&pg, 0x1000, &gpa) == -EFAULT, "a table outside RAM faults instead of reading wild memory");

	/* read_linear across a page boundary into an unmapped page. */
	uint8_t buf[15];
	memcpy(ram + 0x7ff8, "ABCDEFGH", 8);
	memcpy(ram + 0x7000 + 0xffa, "\x90\x90\x90\x90\x90\x0f", 6);
	ok(sm_x86_read_linear(&mem, &pg, k + 0x200000 + 5 * 4096 + 0xffa, buf, sizeof(buf)) == 6,
	   "read stops at the unmapped next page");
	ok(buf[5] == 0x0f, "bytes before the boundary were read");
}

static void test_la57(void)
{
	struct sm_x86_paging pg = {.cr0 = SM_X86_CR0_PE | SM_X86_CR0_PG,
				   .cr3 = 0x1000,
				   .cr4 = SM_X86_CR4_PAE | SM_X86_CR4_LA57,
				   .efer = SM_X86_EFER_LMA};
	uint64_t gpa;

	memset(ram, 0, RAM);
	put64(0x1000, 0x2000 | P);
	put64(0x2000, 0x3000 | P);
	put64(0x3000, 0x4000 | P);
	put64(0x4000, 0x200000 | P | PS);
	ok(xlate(&pg, 0x1234, &gpa) == 0 && gpa == 0x201234, "5-level paging");
}

static void test_pae(void)
{
	/* PDPT (4 entries) at 0x1020, PD at 0x2000, PT at 0x3000. */
	struct sm_x86_paging pg = {
	    .cr0 = SM_X86_CR0_PE | SM_X86_CR0_PG, .cr3 = 0x1020, .cr4 = SM_X86_CR4_PAE};
	uint64_t gpa;

	memset(ram, 0, RAM);
	put64(0x1020 + 3 * 8, 0x2000 | P); /* 3-4 GiB */
	put64(0x2000 + ((0xc0400000u >> 21) & 511) * 8, 0x3000 | P);
	put64(0x3000 + 2 * 8, 0x9000 | P);
	ok(xlate(&pg, 0xc0402abc, &gpa) == 0 && gpa == 0x9abc, "PAE, 4 KiB page");
	put64(0x2000, 0x600000 | P | PS);
	ok(xlate(&pg, 0xc0012345, &gpa) == 0 && gpa == 0x612345, "PAE, 2 MiB page");
	ok(xlate(&pg, 0x00001000, &gpa) == -EFAULT, "PAE, not-present PDPTE faults");
}

static void test_legacy32(void)
{
	/* PD at 0x1000, PT at 0x2000. */
	struct sm_x86_paging pg = {.cr0 = SM_X86_CR0_PE | SM_X86_CR0_PG, .cr3 = 0x1000};
	uint64_t gpa;

	memset(ram, 0, RAM);
	put32(0x1000 + (0xc0001000u >> 22) * 4, 0x2000 | P);
	put32(0x2000 + 1 * 4, 0x5000 | P);
	ok(xlate(&pg, 0xc0001234, &gpa) == 0 && gpa == 0x5234, "32-bit paging, 4 KiB page");
	put32(0x1000 + 1 * 4, 0x00400000 | P | PS);
	ok(xlate(&pg, 0x00412345, &gpa) == -EFAULT,
	   "4 MiB page ignored without CR4.PSE (PT at 4 MiB is empty)");
	pg.cr4 = SM_X86_CR4_PSE;
	ok(xlate(&pg, 0x00412345, &gpa) == 0 && gpa == 0x412345, "32-bit paging, 4 MiB page with CR4.PSE");
}

static void test_gdt(void)
{
	uint64_t gdt[SM_X86_BOOT_GDT_ENTRIES];

	sm_x86_boot_gdt(gdt);
	uint64_t code = gdt[SM_X86_SEL_CODE32 / 8], data = gdt[SM_X86_SEL_DATA32 / 8],
		 tss = gdt[SM_X86_SEL_TSS / 8];
	ok(gdt[0] == 0, "null descriptor");
	ok(((code >> 40) & 0xff) == 0x9b && ((code >> 52) & 0xc) == 0xc && (code & 0xffff) == 0xffff,
	   "code: present, execute/read, 32-bit, 4 KiB granularity, limit 0xfffff");
	ok(((data >> 40) & 0xff) == 0x93 && ((code >> 16) & 0xffffff) == 0 && (code >> 56) == 0,
	   "data: present read/write; base 0");
	ok(((tss >> 40) & 0x0f) == 0xb && (tss & 0xffff) == 0x67, "TSS: busy 32-bit, limit 0x67");
}

int main(void)
{
	ram = malloc(RAM);
	sm_guest_mem_init_fake(&mem, 0, ram, RAM);
	test_no_paging();
	test_long_mode();
	test_la57();
	test_pae();
	test_legacy32();
	test_gdt();
	free(ram);
	return tap_done();
}
