/* SPDX-License-Identifier: Apache-2.0 */
/* ELF/PVH kernel loader, memory map, initramfs placement, boot area and MP table (fake memory). */
#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tap.h"
#include "vmm/cmdline.h"
#include "vmm/layout.h"
#include "vmm/mptable.h"
#include "vmm/pvh.h"
#include "vmm/x86.h"

#define KADDR 0x1000000ull /* 16 MiB, where Linux's vmlinux loads */
#define MIB (1ull << 20)

/* A small ELF image: header, program headers, notes, two segments. Tests then break one thing. */
struct image {
	uint8_t buf[8192];
	size_t len;
	Elf64_Ehdr *eh;
	Elf64_Phdr *ph; /* [0] PT_NOTE, [1] PT_LOAD text, [2] PT_LOAD data+bss */
};

static size_t put_note(uint8_t *p, const char *name, uint32_t type, const void *desc, uint32_t descsz)
{
	Elf64_Nhdr nh = {(uint32_t)strlen(name) + 1, descsz, type};
	size_t off = sizeof(nh);

	memcpy(p, &nh, sizeof(nh));
	memcpy(p + off, name, nh.n_namesz);
	off += (nh.n_namesz + 3) & ~3u;
	memcpy(p + off, desc, descsz);
	off += (descsz + 3) & ~3u;
	return off;
}

static void build(struct image *im)
{
	uint64_t entry = KADDR + 0x10;
	uint32_t gnu[4] = {0, 1, 2, 3};
	size_t note_off = 0x200, text_off = 0x400, data_off = 0x800, n;

	memset(im, 0, sizeof(*im));
	im->eh = (Elf64_Ehdr *)im->buf;
	im->ph = (Elf64_Phdr *)(im->buf + sizeof(Elf64_Ehdr));
	memcpy(im->eh->e_ident, ELFMAG, SELFMAG);
	im->eh->e_ident[EI_CLASS] = ELFCLASS64;
	im->eh->e_ident[EI_DATA] = ELFDATA2LSB;
	im->eh->e_ident[EI_VERSION] = EV_CURRENT;
	im->eh->e_type = ET_EXEC;
	im->eh->e_machine = EM_X86_64;
	im->eh->e_version = EV_CURRENT;
	im->eh->e_entry = 0xffffffff81000000ull;
	im->eh->e_phoff = sizeof(Elf64_Ehdr);
	im->eh->e_ehsize = sizeof(Elf64_Ehdr);
	im->eh->e_phentsize = sizeof(Elf64_Phdr);
	im->eh->e_phnum = 3;

	/* An unrelated note first, then the PVH entry (8-byte value, as Linux emits it). */
	n = put_note(im->buf + note_off, "GNU", 3, gnu, sizeof(gnu));
	n += put_note(im->buf + note_off + n, "Xen", SM_PVH_NOTE_PHYS32_ENTRY, &entry, 8);
	im->ph[0] = (Elf64_Phdr){.p_type = PT_NOTE, .p_offset = note_off, .p_filesz = n, .p_memsz = n};
	im->ph[1] = (Elf64_Phdr){.p_type = PT_LOAD,
				 .p_offset = text_off,
				 .p_paddr = KADDR,
				 .p_vaddr = 0xffffffff81000000ull,
				 .p_filesz = 0x100,
				 .p_memsz = 0x100};
	im->ph[2] = (Elf64_Phdr){.p_type = PT_LOAD,
				 .p_offset = data_off,
				 .p_paddr = KADDR + 0x200000,
				 .p_filesz = 0x80,
				 .p_memsz = 0x3000};
	for (size_t i = 0; i < 0x100; i++)
		im->buf[text_off + i] = (uint8_t)(0x90 + i);
	for (size_t i = 0; i < 0x80; i++)
		im->buf[data_off + i] = (uint8_t)(0x40 + i);
	im->len = data_off + 0x80;
}

/* Parse im and expect failure with a message containing want. */
static void expect_fail(const struct image *im, const char *want, const char *what)
{
	struct sm_kernel_info ki;
	sm_error_t err = SM_ERROR_INIT;
	int r = sm_pvh_parse(im->buf, im->len, &ki, &err);

	ok(r < 0 && strstr(err.msg, want) != NULL, "%s: rejected with \"%s\" (got: %s)", what, want,
	   r < 0 ? err.msg : "accepted");
}

static void test_parse_valid(void)
{
	struct image im;
	struct sm_kernel_info ki;
	sm_error_t err = SM_ERROR_INIT;

	build(&im);
	ok(sm_pvh_parse(im.buf, im.len, &ki, &err) == 0, "valid image parses: %s", err.msg);
	ok(ki.entry == KADDR + 0x10, "PVH entry from the Xen note (0x%x)", ki.entry);
	ok(ki.nsegs == 2 && ki.lowest == KADDR && ki.highest == KADDR + 0x203000,
	   "two segments, range [16 MiB, +0x203000)");

	/* A 4-byte note value is accepted too. */
	uint32_t e32 = KADDR + 0x20;
	size_t n = put_note(im.buf + 0x200, "Xen", SM_PVH_NOTE_PHYS32_ENTRY, &e32, 4);
	im.ph[0].p_filesz = n;
	ok(sm_pvh_parse(im.buf, im.len, &ki, &err) == 0 && ki.entry == KADDR + 0x20, "4-byte PVH note value");
}

static void test_parse_malformed(void)
{
	struct image im;

	build(&im);
	im.len = 40;
	expect_fail(&im, "truncated ELF header", "truncated header");
	build(&im);
	memcpy(im.buf,
	       "\x7f"
	       "ELX",
	       4);
	expect_fail(&im, "not an ELF file", "bad magic");
	build(&im);
	im.len = 3;
	expect_fail(&im, "not an ELF file", "3-byte file");
	build(&im);
	im.eh->e_ident[EI_CLASS] = ELFCLASS32;
	expect_fail(&im, "not a 64-bit ELF", "ELF32");
	build(&im);
	im.eh->e_ident[EI_DATA] = ELFDATA2MSB;
	expect_fail(&im, "little-endian", "big-endian");
	build(&im);
	im.eh->e_machine = EM_AARCH64;
	expect_fail(&im, "wrong architecture: ELF machine 183", "arm64 kernel");
	build(&im);
	im.eh->e_type = ET_DYN;
	expect_fail(&im, "not an executable", "shared object");
	build(&im);
	im.eh->e_phnum = 0;
	expect_fail(&im, "0 program headers", "no program headers");
	build(&im);
	im.eh->e_phnum = 1000;
	expect_fail(&im, "1000 program headers", "absurd program header count");
	build(&im);
	im.eh->e_phentsize = 32;
	expect_fail(&im, "program header size 32", "wrong phentsize");
	build(&im);
	im.eh->e_phoff = im.len - 10;
	expect_fail(&im, "program headers (offset", "program headers past the end");
	build(&im);
	im.eh->e_phoff = ~0ull - 8;
	expect_fail(&im, "program headers (offset", "program header offset overflow");
	build(&im);
	im.len -= 0x40;
	expect_fail(&im, "extends past the end of the file", "truncated segment data");
	build(&im);
	im.ph[1].p_offset = ~0ull - 0x10;
	expect_fail(&im, "extends past the end of the file", "segment offset overflow");
	build(&im);
	im.ph[1].p_filesz = 0x200;
	expect_fail(&im, "exceeds memory size", "filesz > memsz");
	build(&im);
	im.ph[2].p_paddr = ~0ull - 0x100;
	expect_fail(&im, "out of range", "segment address wraps");
	build(&im);
	im.ph[1].p_paddr = 0x8000;
	expect_fail(&im, "below 1 MiB", "segment over the boot area");
	build(&im);
	im.ph[2].p_paddr = KADDR + 0x80;
	expect_fail(&im, "overlaps another segment", "overlapping segments");
	build(&im);
	im.ph[2].p_paddr = KADDR - 0x1000;
	im.ph[2].p_memsz = 0x1001;
	expect_fail(&im, "overlaps another segment", "overlap from below");
	build(&im);
	im.ph[1].p_type = PT_NULL;
	im.ph[2].p_type = PT_NULL;
	expect_fail(&im, "no loadable segment", "no PT_LOAD");
	build(&im);
	im.ph[0].p_type = PT_NULL;
	expect_fail(&im, "kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); build with CONFIG_PVH=y",
		    "no notes at all");
	build(&im);
	im.buf[0x200 + 0x20 + 12] = 'Y'; /* "Xen" -> "Yen" in the second note's name */
	expect_fail(&im, "no PVH entry note", "note with another owner");
	build(&im);
	im.ph[0].p_filesz = ~0ull - 0x100;
	expect_fail(&im, "note segment 0 extends past", "note segment past the end");
	build(&im);
	{
		Elf64_Nhdr nh = {0xfffffff0u, 4, 1}; /* namesz far beyond the segment */
		memcpy(im.buf + 0x200, &nh, sizeof(nh));
	}
	expect_fail(&im, "malformed ELF note", "note name size overflow");
	build(&im);
	{
		uint16_t v = 1;
		im.ph[0].p_filesz = put_note(im.buf + 0x200, "Xen", SM_PVH_NOTE_PHYS32_ENTRY, &v, 2);
	}
	expect_fail(&im, "2-byte value", "PVH note of 2 bytes");
	build(&im);
	{
		uint64_t e = 0x500000; /* in no segment */
		im.ph[0].p_filesz = put_note(im.buf + 0x200, "Xen", SM_PVH_NOTE_PHYS32_ENTRY, &e, 8);
	}
	expect_fail(&im, "not inside a loaded segment", "entry outside the segments");
	build(&im);
	{
		uint64_t e = KADDR + 0x200000 + 0x100; /* in the bss part of the data segment */
		im.ph[0].p_filesz = put_note(im.buf + 0x200, "Xen", SM_PVH_NOTE_PHYS32_ENTRY, &e, 8);
	}
	expect_fail(&im, "not inside a loaded segment", "entry in bss");
}

static void test_load(void)
{
	struct image im;
	struct sm_kernel_info ki;
	struct sm_guest_mem mem;
	sm_error_t err = SM_ERROR_INIT;
	size_t ram = 20 * MIB;
	uint8_t *buf = malloc(ram);

	build(&im);
	memset(buf, 0xee, ram);
	sm_guest_mem_init_fake(&mem, 0, buf, ram);
	ok(sm_pvh_parse(im.buf, im.len, &ki, &err) == 0 && sm_pvh_load(&mem, im.buf, im.len, &ki, &err) == 0,
	   "load into 20 MiB: %s", err.msg);
	ok(buf[KADDR] == 0x90 && buf[KADDR + 0xff] == (uint8_t)(0x90 + 0xff), "text copied");
	ok(buf[KADDR + 0x100] == 0xee, "nothing written past the text segment");
	ok(buf[KADDR + 0x200000] == 0x40 && buf[KADDR + 0x20007f] == 0xbf, "data copied");
	ok(buf[KADDR + 0x200080] == 0 && buf[KADDR + 0x202fff] == 0, "bss zeroed");
	ok(buf[KADDR + 0x203000] == 0xee, "nothing written past bss");

	sm_guest_mem_init_fake(&mem, 0, buf, 16 * MIB);
	ok(sm_pvh_load(&mem, im.buf, im.len, &ki, &err) < 0 &&
	       strstr(err.msg, "does not fit in guest RAM (16 MiB)") && strstr(err.msg, "--mem"),
	   "kernel beyond RAM: %s", err.msg);
	sm_guest_mem_init_fake(&mem, 0, buf, KADDR + 0x201000);
	ok(sm_pvh_load(&mem, im.buf, im.len, &ki, &err) < 0, "bss crossing the end of RAM is refused");
	free(buf);
}

static void test_memmap(void)
{
	struct hvm_memmap_table_entry map[SM_PVH_MAX_MEMMAP];
	struct sm_guest_mem mem;
	sm_error_t err = SM_ERROR_INIT;
	int n;

	memset(&mem, 0, sizeof(mem));
	mem.nregions = 1;
	mem.regions[0] = (struct sm_mem_region){0, 128 * MIB, NULL, 0};
	n = sm_pvh_memmap(&mem, map, SM_PVH_MAX_MEMMAP, &err);
	ok(n == 4, "128 MiB: 4 entries (%d)", n);
	ok(map[0].addr == 0 && map[0].size == SM_BOOT_AREA_END && map[0].type == SM_PVH_MEMMAP_RESERVED,
	   "boot area reserved");
	ok(map[1].addr == SM_BOOT_AREA_END && map[1].addr + map[1].size == SM_LEGACY_HOLE_START &&
	       map[1].type == SM_PVH_MEMMAP_RAM,
	   "RAM below 640 KiB after the boot area");
	ok(map[2].addr == SM_LEGACY_HOLE_START && map[2].addr + map[2].size == MIB &&
	       map[2].type == SM_PVH_MEMMAP_RESERVED,
	   "MP table and legacy hole reserved");
	ok(map[3].addr == MIB && map[3].size == 127 * MIB && map[3].type == SM_PVH_MEMMAP_RAM,
	   "RAM 1 MiB..128 MiB");

	mem.nregions = 2;
	mem.regions[0].size = SM_MMIO_HOLE_START;
	mem.regions[1] = (struct sm_mem_region){SM_MMIO_HOLE_END, 1024 * MIB, NULL, SM_MMIO_HOLE_START};
	n = sm_pvh_memmap(&mem, map, SM_PVH_MAX_MEMMAP, &err);
	ok(n == 5 && map[3].addr + map[3].size == SM_MMIO_HOLE_START,
	   "4 GiB: low RAM ends at the 3 GiB hole");
	ok(n == 5 && map[4].addr == SM_MMIO_HOLE_END && map[4].size == 1024 * MIB &&
	       map[4].type == SM_PVH_MEMMAP_RAM,
	   "high RAM above 4 GiB");
	for (int i = 1; i < n; i++)
		if (map[i].addr < map[i - 1].addr + map[i - 1].size)
			ok(0, "entries %d and %d overlap", i - 1, i);

	mem.nregions = 1;
	mem.regions[0].size = MIB;
	ok(sm_pvh_memmap(&mem, map, SM_PVH_MAX_MEMMAP, &err) < 0 && strstr(err.msg, "at least 2 MiB"),
	   "1 MiB of RAM is refused: %s", err.msg);
	mem.regions[0].size = 128 * MIB;
	ok(sm_pvh_memmap(&mem, map, 3, &err) < 0, "too small an output array is refused");
}

static void test_initrd(void)
{
	struct sm_guest_mem mem;
	struct sm_kernel_info ki = {.highest = 0x2345678};
	sm_error_t err = SM_ERROR_INIT;
	uint64_t addr = 0;

	memset(&mem, 0, sizeof(mem));
	mem.nregions = 1;
	mem.regions[0] = (struct sm_mem_region){0, 128 * MIB, NULL, 0};
	ok(sm_pvh_initrd_addr(&mem, &ki, MIB + 5, &addr, &err) == 0 &&
	       addr == ((128 * MIB - MIB - 5) & ~0xfffull),
	   "initrd at the top of RAM, page aligned (0x%llx)", (unsigned long long)addr);
	ok(addr % 4096 == 0 && addr + MIB + 5 <= 128 * MIB, "initrd inside RAM");
	ok(sm_pvh_initrd_addr(&mem, &ki, 100 * MIB, &addr, &err) < 0 && strstr(err.msg, "102400 KiB") &&
	       strstr(err.msg, "--mem"),
	   "initrd overlapping the kernel is refused: %s", err.msg);
	ok(sm_pvh_initrd_addr(&mem, &ki, 1ull << 40, &addr, &err) < 0, "absurd initrd size is refused");
	ok(sm_pvh_initrd_addr(&mem, &ki, 128 * MIB - 0x2346000, &addr, &err) == 0 && addr == 0x2346000,
	   "initrd right after the kernel's last page fits");
	mem.nregions = 2;
	mem.regions[0].size = SM_MMIO_HOLE_START;
	mem.regions[1] = (struct sm_mem_region){SM_MMIO_HOLE_END, 1024 * MIB, NULL, 0};
	ok(sm_pvh_initrd_addr(&mem, &ki, MIB, &addr, &err) == 0 && addr + MIB <= SM_MMIO_HOLE_START,
	   "with RAM above 4 GiB the initrd stays below the hole");
}

static void test_boot_info(void)
{
	size_t ram = 4 * MIB;
	uint8_t *buf = calloc(1, ram);
	struct sm_guest_mem mem;
	struct hvm_start_info si;
	struct hvm_modlist_entry mod;
	struct hvm_memmap_table_entry map[4];
	uint64_t gdt[SM_X86_BOOT_GDT_ENTRIES], start = 0;
	sm_error_t err = SM_ERROR_INIT;
	char longline[SM_CMDLINE_MAX + 1];

	sm_guest_mem_init_fake(&mem, 0, buf, ram);
	ok(sm_pvh_write_boot_info(&mem, "console=ttyS0 quiet", 0x300000, 0x1234, &start, &err) == 0,
	   "write boot info: %s", err.msg);
	memcpy(&si, buf + start, sizeof(si));
	ok(start == SM_BOOT_START_INFO_ADDR && si.magic == 0x336ec578 && si.version == 1,
	   "start_info magic, version 1");
	ok(strcmp((char *)buf + si.cmdline_paddr, "console=ttyS0 quiet") == 0, "command line");
	ok(si.nr_modules == 1 && si.modlist_paddr == SM_BOOT_MODLIST_ADDR, "one module");
	memcpy(&mod, buf + si.modlist_paddr, sizeof(mod));
	ok(mod.paddr == 0x300000 && mod.size == 0x1234, "module is the initramfs");
	ok(si.memmap_entries == 4 && si.memmap_paddr == SM_BOOT_MEMMAP_ADDR, "memory map: 4 entries");
	memcpy(map, buf + si.memmap_paddr, sizeof(map));
	ok(map[3].addr == MIB && map[3].addr + map[3].size == ram, "memory map ends at the end of RAM");
	memcpy(gdt, buf + SM_BOOT_GDT_ADDR, sizeof(gdt));
	ok(gdt[SM_X86_SEL_CODE32 / 8] == 0x00cf9b000000ffffull &&
	       gdt[SM_X86_SEL_DATA32 / 8] == 0x00cf93000000ffffull,
	   "GDT: flat 32-bit code and data");
	ok(si.cmdline_paddr + sizeof(longline) <= SM_BOOT_AREA_END &&
	       SM_BOOT_MEMMAP_ADDR + sizeof(map) < SM_BOOT_CMDLINE_ADDR,
	   "boot data fits the reserved boot area");

	memset(buf, 0, ram);
	ok(sm_pvh_write_boot_info(&mem, "x", 0, 0, &start, &err) == 0, "no initramfs");
	memcpy(&si, buf + start, sizeof(si));
	ok(si.nr_modules == 0 && si.modlist_paddr == 0, "no module entry without initramfs");

	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	ok(sm_pvh_write_boot_info(&mem, longline, 0, 0, &start, &err) < 0 && strstr(err.msg, "2048 bytes"),
	   "over-long command line refused: %s", err.msg);
	free(buf);
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static void test_mptable(void)
{
	size_t ram = 2 * MIB;
	uint8_t *buf = calloc(1, ram);
	struct sm_guest_mem mem;
	sm_error_t err = SM_ERROR_INIT;
	uint32_t physptr;
	uint16_t len, count;
	int n;

	sm_guest_mem_init_fake(&mem, 0, buf, ram);
	n = sm_mptable_write(&mem, 4, 0x806f8, 0x178bfbff, &err);
	ok(n > 0 && (uint64_t)n <= SM_BOOT_MPTABLE_SIZE, "MP table for 4 vCPUs: %d bytes", n);
	const uint8_t *mpf = buf + SM_BOOT_MPTABLE_ADDR;
	ok(memcmp(mpf, "_MP_", 4) == 0 && sum(mpf, 16) == 0 && mpf[8] == 1 && mpf[9] == 4,
	   "floating pointer: signature, checksum, length, spec 1.4");
	memcpy(&physptr, mpf + 4, 4);
	const uint8_t *mpc = buf + physptr;
	memcpy(&len, mpc + 4, 2);
	memcpy(&count, mpc + 34, 2);
	ok(physptr > SM_BOOT_MPTABLE_ADDR && physptr + len <= SM_BOOT_MPTABLE_ADDR + SM_BOOT_MPTABLE_SIZE,
	   "configuration table inside the reserved area");
	ok(memcmp(mpc, "PCMP", 4) == 0 && sum(mpc, len) == 0, "configuration table: signature and checksum");
	ok(count == 4 + 2 + 16 + 2, "entries: 4 CPUs, bus, IOAPIC, 16 IRQs, 2 local (%u)", count);
	ok(mpc[44] == 0 && mpc[45] == 0 && mpc[47] == 3, "first processor: APIC id 0, enabled BSP");
	ok(mpc[44 + 20] == 0 && mpc[44 + 21] == 1 && mpc[44 + 23] == 1,
	   "second processor: APIC id 1, enabled AP");
	ok(sm_mptable_write(&mem, SM_MPTABLE_MAX_CPUS, 0, 0, &err) > 0, "%d vCPUs fit", SM_MPTABLE_MAX_CPUS);
	ok(sm_mptable_write(&mem, SM_MPTABLE_MAX_CPUS + 1, 0, 0, &err) < 0, "%d vCPUs are refused",
	   SM_MPTABLE_MAX_CPUS + 1);
	ok(sm_mptable_write(&mem, 0, 0, 0, &err) < 0, "0 vCPUs are refused");
	free(buf);
}

int main(void)
{
	test_parse_valid();
	test_parse_malformed();
	test_load();
	test_memmap();
	test_initrd();
	test_boot_info();
	test_mptable();
	return tap_done();
}
