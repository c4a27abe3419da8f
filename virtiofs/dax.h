/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VIRTIOFS_DAX_H
#define SM_VIRTIOFS_DAX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

/*
 * The virtio-fs DAX window: a host address range that the device glue registers as a KVM memory
 * slot and as virtio shared-memory region 0. The guest asks (FUSE_SETUPMAPPING) for a file range
 * to appear at an offset of the window; we mmap the file there with MAP_SHARED|MAP_FIXED, so guest
 * loads and stores hit the host page cache directly. Unmapped parts are PROT_NONE anonymous
 * memory. Every mapping is recorded so a snapshot can list and later re-create them.
 */

#define SM_DAX_ALIGN (2ull << 20)	   /* window size and base alignment: 2 MiB */
#define SM_DAX_DEFAULT_SIZE (512ull << 20) /* 512 MiB */
#define SM_DAX_MAP_ALIGNMENT_SHIFT 12	   /* offsets and lengths: multiples of 4 KiB */

struct sm_dax_window;

/* One live mapping of the window, as recorded for snapshots. */
struct sm_dax_mapping {
	uint64_t moffset; /* offset in the window */
	uint64_t len;	  /* bytes */
	uint64_t foffset; /* offset in the file */
	uint64_t nodeid;  /* FUSE nodeid the guest named */
	dev_t dev;	  /* host identity of the file */
	ino_t ino;
	bool writable;
};

/*
 * Reserve a window of size bytes (a non-zero multiple of 2 MiB), 2 MiB aligned, as PROT_NONE
 * anonymous memory that commits nothing. Fails with a message naming the size when it is not
 * acceptable.
 */
int sm_dax_window_new(uint64_t size, struct sm_dax_window **out, sm_error_t *err);

/* Unmap the whole window and free it (NULL is allowed). The KVM slot must be gone by then. */
void sm_dax_window_free(struct sm_dax_window *w);

/* Host address of the window start (2 MiB aligned), for the KVM memory slot. */
void *sm_dax_window_base(const struct sm_dax_window *w);

/* Window size in bytes, for the KVM memory slot and the virtio shared-memory region length. */
uint64_t sm_dax_window_size(const struct sm_dax_window *w);

/*
 * Map [foffset, foffset+len) of the open file fd at window offset moffset, read-only or
 * read-write, replacing whatever was mapped there. moffset, foffset and len must be multiples of
 * 4 KiB, len > 0, the range inside the window and foffset+len must not overflow off_t.
 * nodeid/dev/ino are recorded for sm_dax_window_mappings(). Returns 0 or -errno (EINVAL for a bad
 * range, EACCES for an fd opened without the needed access, with err naming it); a request refused
 * by these checks leaves the window untouched, while a failing mmap() leaves the range unmapped.
 */
int sm_dax_window_map(struct sm_dax_window *w, int fd, uint64_t foffset, uint64_t len, uint64_t moffset,
		      bool writable, uint64_t nodeid, dev_t dev, ino_t ino, sm_error_t *err);

/*
 * Return [moffset, moffset+len) to PROT_NONE anonymous memory and forget the mappings recorded
 * there (a partly covered mapping is split). Same range rules as sm_dax_window_map().
 */
int sm_dax_window_unmap(struct sm_dax_window *w, uint64_t moffset, uint64_t len, sm_error_t *err);

/*
 * Snapshot restore of a mapping whose file cannot be opened again: make [moffset, moffset+len)
 * private anonymous read-write zero memory, recorded nowhere (a later snapshot does not list it),
 * so guest accesses to a range it believes mapped read zeros instead of failing KVM_RUN. Same
 * range rules as sm_dax_window_map().
 */
int sm_dax_window_map_zero(struct sm_dax_window *w, uint64_t moffset, uint64_t len, sm_error_t *err);

/* Unmap everything (guest reset, FUSE_DESTROY). */
void sm_dax_window_unmap_all(struct sm_dax_window *w);

/*
 * Copy up to max current mappings, sorted by moffset, into out; returns how many exist in total
 * (which may exceed max).
 */
size_t sm_dax_window_mappings(struct sm_dax_window *w, struct sm_dax_mapping *out, size_t max);

#endif
