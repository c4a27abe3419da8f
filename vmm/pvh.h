/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_PVH_H
#define SM_VMM_PVH_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "vmm/memory.h"

/*
 * Direct boot of an uncompressed ELF vmlinux through its PVH entry point (the Xen PVH boot ABI,
 * which Linux implements for KVM guests too): the VMM loads the PT_LOAD segments at their
 * physical addresses, writes an hvm_start_info with the command line, memory map and an
 * optional initramfs module, and starts the BSP in 32-bit protected mode at the entry found in
 * the XEN_ELFNOTE_PHYS32_ENTRY note with EBX = the start_info address. Everything read from the
 * image is validated; the parser works on a byte buffer, the loader on sm_guest_mem, so both are
 * unit-tested with fake memory.
 */

#define SM_PVH_START_MAGIC 0x336ec578u
#define SM_PVH_NOTE_PHYS32_ENTRY 18 /* XEN_ELFNOTE_PHYS32_ENTRY */
#define SM_PVH_MEMMAP_RAM 1
#define SM_PVH_MEMMAP_RESERVED 2

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr; /* version >= 1 */
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

#define SM_PVH_MAX_SEGMENTS 16
#define SM_PVH_MAX_PHDRS 64
#define SM_PVH_MAX_MEMMAP 16

struct sm_elf_segment {
	uint64_t offset; /* in the file */
	uint64_t filesz;
	uint64_t paddr;
	uint64_t memsz;
};

struct sm_kernel_info {
	uint32_t entry;					 /* physical address of the 32-bit PVH entry */
	struct sm_elf_segment segs[SM_PVH_MAX_SEGMENTS]; /* sorted by paddr, non-overlapping */
	unsigned int nsegs;
	uint64_t lowest;  /* lowest paddr of a segment */
	uint64_t highest; /* end of the highest segment (paddr + memsz) */
};

/*
 * Validate an ELF image of len bytes as a loadable x86-64 PVH kernel and describe it in *ki:
 * ELF64 little-endian executable for x86-64, program headers inside the file, each PT_LOAD
 * inside the file, at or above 1 MiB, not wrapping and not overlapping another one, and a PVH
 * entry note inside a loaded segment. Each failure has its own message.
 */
int sm_pvh_parse(const uint8_t *image, size_t len, struct sm_kernel_info *ki, sm_error_t *err);

/*
 * Copy the segments of a parsed image into guest RAM and zero their bss. Fails, naming the
 * segment and the RAM size, when a segment is not entirely inside RAM.
 */
int sm_pvh_load(const struct sm_guest_mem *mem, const uint8_t *image, size_t len,
		const struct sm_kernel_info *ki, sm_error_t *err);

/*
 * The memory map the guest gets (vmm/layout.h): boot area reserved, RAM below the legacy hole,
 * legacy hole reserved, RAM from 1 MiB to the end of low RAM, RAM above 4 GiB. Returns the number
 * of entries written to out (at most max), or <0 when the guest has under 2 MiB of low RAM.
 */
int sm_pvh_memmap(const struct sm_guest_mem *mem, struct hvm_memmap_table_entry *out, unsigned int max,
		  sm_error_t *err);

/*
 * Where an initramfs of size bytes goes: page aligned, as high as possible in RAM below 3 GiB,
 * above the kernel's last segment. Fails with both sizes named when it does not fit.
 */
int sm_pvh_initrd_addr(const struct sm_guest_mem *mem, const struct sm_kernel_info *ki, uint64_t size,
		       uint64_t *addr, sm_error_t *err);

/*
 * Write the boot area: GDT, hvm_start_info (version 1), the module list (one entry when
 * initrd_size > 0), the memory map and the NUL-terminated cmdline (shorter than 2048 bytes).
 * *start_info gets the address the BSP must find in EBX.
 */
int sm_pvh_write_boot_info(const struct sm_guest_mem *mem, const char *cmdline, uint64_t initrd_addr,
			   uint64_t initrd_size, uint64_t *start_info, sm_error_t *err);

#endif
