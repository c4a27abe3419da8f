/* SPDX-License-Identifier: Apache-2.0 */
#include <elf.h>
#include <string.h>

#include "vmm/cmdline.h"
#include "vmm/layout.h"
#include "vmm/pvh.h"
#include "vmm/x86.h"

#define MIB(x) ((unsigned long long)(x) >> 20)

static int check_header(const uint8_t *image, size_t len, Elf64_Ehdr *eh, sm_error_t *err)
{
	if (len < EI_NIDENT || memcmp(image, ELFMAG, SELFMAG) != 0)
		return sm_error_set(err, 0,
				    "not an ELF file (a bzImage or compressed kernel will not do: "
				    "use the uncompressed vmlinux)");
	if (image[EI_CLASS] != ELFCLASS64)
		return sm_error_set(err, 0, "not a 64-bit ELF file (class %u)", image[EI_CLASS]);
	if (image[EI_DATA] != ELFDATA2LSB)
		return sm_error_set(err, 0, "not a little-endian ELF file");
	if (len < sizeof(*eh))
		return sm_error_set(err, 0, "truncated ELF header (%zu bytes)", len);
	memcpy(eh, image, sizeof(*eh));
	if (eh->e_machine != EM_X86_64)
		return sm_error_set(err, 0, "wrong architecture: ELF machine %u, expected x86-64 (%u)",
				    eh->e_machine, EM_X86_64);
	if (eh->e_type != ET_EXEC)
		return sm_error_set(err, 0, "not an executable ELF file (type %u)", eh->e_type);
	if (eh->e_phnum == 0 || eh->e_phnum > SM_PVH_MAX_PHDRS)
		return sm_error_set(err, 0, "ELF file has %u program headers (1..%d expected)", eh->e_phnum,
				    SM_PVH_MAX_PHDRS);
	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return sm_error_set(err, 0, "ELF program header size %u, expected %zu", eh->e_phentsize,
				    sizeof(Elf64_Phdr));
	if (eh->e_phoff > len || (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > len - eh->e_phoff)
		return sm_error_set(err, 0,
				    "ELF program headers (offset %llu) extend past the end of the file",
				    (unsigned long long)eh->e_phoff);
	return 0;
}

/* Look for the PVH entry in one PT_NOTE segment. Returns 1 and sets *entry when found. */
static int scan_notes(const uint8_t *image, const Elf64_Phdr *ph, uint64_t *entry, sm_error_t *err)
{
	uint64_t off = ph->p_offset, end = ph->p_offset + ph->p_filesz;

	while (end - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		uint64_t name_off, desc_off, next;

		memcpy(&nh, image + off, sizeof(nh));
		name_off = off + sizeof(nh);
		desc_off = name_off + (((uint64_t)nh.n_namesz + 3) & ~3ull);
		next = desc_off + (((uint64_t)nh.n_descsz + 3) & ~3ull);
		if (desc_off > end || next > end || desc_off + nh.n_descsz > end)
			return sm_error_set(err, 0, "malformed ELF note at file offset %llu",
					    (unsigned long long)off);
		if (nh.n_type == SM_PVH_NOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    memcmp(image + name_off, "Xen", 4) == 0) {
			uint64_t v = 0;
			if (nh.n_descsz == 4) {
				uint32_t v32;
				memcpy(&v32, image + desc_off, 4);
				v = v32;
			} else if (nh.n_descsz == 8) {
				memcpy(&v, image + desc_off, 8);
			} else {
				return sm_error_set(err, 0,
						    "PVH entry note has a %u-byte value (4 or 8 expected)",
						    nh.n_descsz);
			}
			*entry = v;
			return 1;
		}
		off = next;
	}
	return 0;
}

/* Record a PT_LOAD segment in paddr order; reject overlaps. */
static int add_segment(struct sm_kernel_info *ki, const Elf64_Phdr *ph, unsigned int idx, sm_error_t *err)
{
	struct sm_elf_segment s = {ph->p_offset, ph->p_filesz, ph->p_paddr, ph->p_memsz};
	unsigned int pos;

	if (ki->nsegs >= SM_PVH_MAX_SEGMENTS)
		return sm_error_set(err, 0, "ELF file has more than %d loadable segments",
				    SM_PVH_MAX_SEGMENTS);
	for (pos = 0; pos < ki->nsegs && ki->segs[pos].paddr < s.paddr; pos++)
		;
	if ((pos > 0 && ki->segs[pos - 1].paddr + ki->segs[pos - 1].memsz > s.paddr) ||
	    (pos < ki->nsegs && s.paddr + s.memsz > ki->segs[pos].paddr))
		return sm_error_set(err, 0, "ELF segment %u at 0x%llx-0x%llx overlaps another segment", idx,
				    (unsigned long long)s.paddr, (unsigned long long)(s.paddr + s.memsz));
	memmove(&ki->segs[pos + 1], &ki->segs[pos], (ki->nsegs - pos) * sizeof(s));
	ki->segs[pos] = s;
	ki->nsegs++;
	return 0;
}

static int check_load(const Elf64_Phdr *ph, unsigned int i, size_t len, sm_error_t *err)
{
	uint64_t end;

	if (ph->p_filesz > ph->p_memsz)
		return sm_error_set(err, 0, "ELF segment %u: file size %llu exceeds memory size %llu", i,
				    (unsigned long long)ph->p_filesz, (unsigned long long)ph->p_memsz);
	if (ph->p_offset > len || ph->p_filesz > len - ph->p_offset)
		return sm_error_set(
		    err, 0,
		    "ELF segment %u (offset %llu, %llu bytes) extends past the end of the file "
		    "(%zu bytes): truncated kernel?",
		    i, (unsigned long long)ph->p_offset, (unsigned long long)ph->p_filesz, len);
	if (__builtin_add_overflow(ph->p_paddr, ph->p_memsz, &end) || end > (1ull << 52))
		return sm_error_set(err, 0, "ELF segment %u: physical range 0x%llx+0x%llx is out of range", i,
				    (unsigned long long)ph->p_paddr, (unsigned long long)ph->p_memsz);
	if (ph->p_paddr < SM_KERNEL_MIN_ADDR)
		return sm_error_set(err, 0,
				    "ELF segment %u loads at 0x%llx, below 1 MiB (reserved for boot data)", i,
				    (unsigned long long)ph->p_paddr);
	return 0;
}

int sm_pvh_parse(const uint8_t *image, size_t len, struct sm_kernel_info *ki, sm_error_t *err)
{
	Elf64_Ehdr eh;
	uint64_t entry = 0;
	int found = 0, r;
	unsigned int i;

	memset(ki, 0, sizeof(*ki));
	if ((r = check_header(image, len, &eh, err)) < 0)
		return r;
	for (i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, image + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_NOTE) {
			if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
				return sm_error_set(
				    err, 0, "ELF note segment %u extends past the end of the file", i);
			if (!found && (found = scan_notes(image, &ph, &entry, err)) < 0)
				return found;
		} else if (ph.p_type == PT_LOAD && ph.p_memsz > 0) {
			if ((r = check_load(&ph, i, len, err)) < 0 || (r = add_segment(ki, &ph, i, err)) < 0)
				return r;
		}
	}
	if (ki->nsegs == 0)
		return sm_error_set(err, 0, "ELF file has no loadable segment");
	if (!found)
		return sm_error_set(
		    err, 0,
		    "kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); build with CONFIG_PVH=y");
	ki->lowest = ki->segs[0].paddr;
	ki->highest = ki->segs[ki->nsegs - 1].paddr + ki->segs[ki->nsegs - 1].memsz;
	for (i = 0; i < ki->nsegs; i++)
		if (entry >= ki->segs[i].paddr && entry < ki->segs[i].paddr + ki->segs[i].filesz)
			break;
	if (i == ki->nsegs || entry > UINT32_MAX)
		return sm_error_set(err, 0, "PVH entry point 0x%llx is not inside a loaded segment",
				    (unsigned long long)entry);
	ki->entry = (uint32_t)entry;
	return 0;
}

int sm_pvh_load(const struct sm_guest_mem *mem, const uint8_t *image, size_t len,
		const struct sm_kernel_info *ki, sm_error_t *err)
{
	for (unsigned int i = 0; i < ki->nsegs; i++) {
		const struct sm_elf_segment *s = &ki->segs[i];
		uint8_t *dst = sm_guest_ptr(mem, s->paddr, s->memsz);

		if (s->offset > len || s->filesz > len - s->offset || s->filesz > s->memsz)
			return sm_error_set(err, 0, "kernel segment %u is outside the image", i);
		if (dst == NULL)
			return sm_error_set(
			    err, 0,
			    "kernel segment at 0x%llx-0x%llx does not fit in guest RAM (%llu MiB): "
			    "give the VM more memory (--mem)",
			    (unsigned long long)s->paddr, (unsigned long long)(s->paddr + s->memsz),
			    MIB(mem->ram_size));
		memcpy(dst, image + s->offset, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
	}
	return 0;
}

static void add_entry(struct hvm_memmap_table_entry *out, unsigned int *n, unsigned int max, uint64_t addr,
		      uint64_t end, uint32_t type)
{
	if (end > addr && *n < max)
		out[(*n)++] = (struct hvm_memmap_table_entry){addr, end - addr, type, 0};
}

int sm_pvh_memmap(const struct sm_guest_mem *mem, struct hvm_memmap_table_entry *out, unsigned int max,
		  sm_error_t *err)
{
	uint64_t low_end = 0;
	unsigned int n = 0, i;

	for (i = 0; i < mem->nregions; i++)
		if (mem->regions[i].gpa == 0)
			low_end = mem->regions[i].size;
	if (low_end < 2 * SM_LEGACY_HOLE_END)
		return sm_error_set(err, 0, "guest RAM below 4 GiB is %llu KiB; at least 2 MiB are needed",
				    (unsigned long long)low_end >> 10);
	if (max < 5 + mem->nregions)
		return sm_error_set(err, 0, "memory map: room for %u entries is too small", max);
	add_entry(out, &n, max, SM_BOOT_AREA_START, SM_BOOT_AREA_END, SM_PVH_MEMMAP_RESERVED);
	add_entry(out, &n, max, SM_BOOT_AREA_END, SM_LEGACY_HOLE_START, SM_PVH_MEMMAP_RAM);
	add_entry(out, &n, max, SM_LEGACY_HOLE_START, SM_LEGACY_HOLE_END, SM_PVH_MEMMAP_RESERVED);
	add_entry(out, &n, max, SM_LEGACY_HOLE_END, low_end, SM_PVH_MEMMAP_RAM);
	for (i = 0; i < mem->nregions; i++)
		if (mem->regions[i].gpa != 0)
			add_entry(out, &n, max, mem->regions[i].gpa,
				  mem->regions[i].gpa + mem->regions[i].size, SM_PVH_MEMMAP_RAM);
	return (int)n;
}

int sm_pvh_initrd_addr(const struct sm_guest_mem *mem, const struct sm_kernel_info *ki, uint64_t size,
		       uint64_t *addr, sm_error_t *err)
{
	uint64_t low_end = 0, kernel_end = (ki->highest + 0xfff) & ~0xfffull;

	for (unsigned int i = 0; i < mem->nregions; i++)
		if (mem->regions[i].gpa == 0)
			low_end = mem->regions[i].size;
	low_end &= ~0xfffull;
	if (size == 0 || size > low_end || ((low_end - size) & ~0xfffull) < kernel_end)
		return sm_error_set(
		    err, 0,
		    "initramfs of %llu KiB does not fit in guest RAM between the kernel's end "
		    "(%llu MiB) and the end of low RAM (%llu MiB): give the VM more memory (--mem)",
		    (unsigned long long)size >> 10, MIB(kernel_end), MIB(low_end));
	*addr = (low_end - size) & ~0xfffull;
	return 0;
}

int sm_pvh_write_boot_info(const struct sm_guest_mem *mem, const char *cmdline, uint64_t initrd_addr,
			   uint64_t initrd_size, uint64_t *start_info, sm_error_t *err)
{
	struct hvm_memmap_table_entry map[SM_PVH_MAX_MEMMAP];
	struct hvm_start_info si = {.magic = SM_PVH_START_MAGIC, .version = 1};
	uint64_t gdt[SM_X86_BOOT_GDT_ENTRIES];
	size_t cl = strlen(cmdline);
	int n;

	if (cl + 1 > SM_CMDLINE_MAX)
		return sm_error_set(err, 0, "kernel command line is %zu bytes, more than %d", cl,
				    SM_CMDLINE_MAX - 1);
	n = sm_pvh_memmap(mem, map, SM_PVH_MAX_MEMMAP, err);
	if (n < 0)
		return n;
	sm_x86_boot_gdt(gdt);
	si.cmdline_paddr = SM_BOOT_CMDLINE_ADDR;
	si.memmap_paddr = SM_BOOT_MEMMAP_ADDR;
	si.memmap_entries = (uint32_t)n;
	if (initrd_size > 0) {
		struct hvm_modlist_entry mod = {.paddr = initrd_addr, .size = initrd_size};
		si.nr_modules = 1;
		si.modlist_paddr = SM_BOOT_MODLIST_ADDR;
		if (sm_guest_write(mem, SM_BOOT_MODLIST_ADDR, &mod, sizeof(mod)) < 0)
			return sm_error_set(err, 0, "boot area: cannot write the module list");
	}
	if (sm_guest_write(mem, SM_BOOT_GDT_ADDR, gdt, sizeof(gdt)) < 0 ||
	    sm_guest_write(mem, SM_BOOT_START_INFO_ADDR, &si, sizeof(si)) < 0 ||
	    sm_guest_write(mem, SM_BOOT_MEMMAP_ADDR, map, (size_t)n * sizeof(map[0])) < 0 ||
	    sm_guest_write(mem, SM_BOOT_CMDLINE_ADDR, cmdline, cl + 1) < 0)
		return sm_error_set(err, 0, "boot area: guest RAM does not cover 0x0-0x%llx",
				    SM_BOOT_AREA_END);
	*start_info = SM_BOOT_START_INFO_ADDR;
	return 0;
}
