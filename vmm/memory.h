/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_MEMORY_H
#define SM_VMM_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/*
 * Guest physical memory as seen by the VMM: a short list of regions, each a contiguous guest
 * physical range backed by a contiguous host mapping. Every device access to guest memory goes
 * through sm_guest_ptr(), which is the single place where guest-supplied addresses and lengths
 * are checked. Unit tests build a struct over a plain buffer (a fake guest memory).
 */

#define SM_MEM_MAX_REGIONS 8

/* x86 layout: RAM below the 32-bit MMIO hole, the hole, then RAM above 4 GiB. */
#define SM_MMIO_HOLE_START 0xC0000000ull /* 3 GiB */
#define SM_MMIO_HOLE_END 0x100000000ull  /* 4 GiB */

struct sm_mem_region {
	uint64_t gpa;    /* guest physical start */
	uint64_t size;   /* bytes */
	uint8_t *hva;    /* host mapping of the region */
	uint64_t offset; /* offset of the region in the backing memfd (for snapshots) */
};

struct sm_guest_mem {
	struct sm_mem_region regions[SM_MEM_MAX_REGIONS];
	unsigned int nregions;
	int memfd;          /* backing memfd, -1 for a fake memory; the snapshot file when file_backed */
	bool file_backed;   /* mapped copy-on-write from a snapshot's memory file (MAP_PRIVATE) */
	uint64_t ram_size;  /* total RAM bytes across regions */
	uint8_t *base;      /* host mapping of the whole memfd */
};

/*
 * Host pointer for the guest range [gpa, gpa+len), or NULL when any byte of it is outside guest
 * RAM, when gpa+len overflows, or when the range straddles two regions. len == 0 is allowed and
 * returns a pointer for gpa when gpa is inside (or at the end of) a region.
 */
void *sm_guest_ptr(const struct sm_guest_mem *mem, uint64_t gpa, uint64_t len);

/* Copy len bytes from guest memory at gpa into buf; -EFAULT when the range is not guest RAM. */
int sm_guest_read(const struct sm_guest_mem *mem, uint64_t gpa, void *buf, size_t len);

/* Copy len bytes from buf into guest memory at gpa; -EFAULT when the range is not guest RAM. */
int sm_guest_write(const struct sm_guest_mem *mem, uint64_t gpa, const void *buf, size_t len);

/*
 * Describe a fake guest memory of one region [gpa, gpa+size) backed by buf (for unit tests and
 * fuzzers of code that parses guest memory).
 */
void sm_guest_mem_init_fake(struct sm_guest_mem *mem, uint64_t gpa, void *buf, uint64_t size);

/*
 * Allocate size bytes of guest RAM in a memfd (sealed against shrinking), map it, and lay the
 * regions out around the 32-bit MMIO hole. Fails with a message naming the size when it is zero,
 * not page aligned, or cannot be mapped.
 */
int sm_guest_mem_alloc(struct sm_guest_mem *mem, uint64_t size, sm_error_t *err);

/*
 * Map guest RAM of size bytes copy-on-write (MAP_PRIVATE) from the file at path, a snapshot's
 * memory file of exactly that size, with the same region layout as sm_guest_mem_alloc(). Nothing
 * is read up front: pages come in from the file (or its page cache, shared by every VM restored
 * from it) on first access, and guest writes stay private to this VM.
 */
int sm_guest_mem_map_file(struct sm_guest_mem *mem, const char *path, uint64_t size, sm_error_t *err);

/* Unmap and close what sm_guest_mem_alloc() or sm_guest_mem_map_file() set up. Safe on a zeroed or fake struct. */
void sm_guest_mem_free(struct sm_guest_mem *mem);

#endif
