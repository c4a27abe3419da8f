/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_SNAPSHOT_MEMFILE_H
#define SM_SNAPSHOT_MEMFILE_H

#include <stdint.h>

#include "common/error.h"
#include "vmm/memory.h"

/*
 * Write guest RAM (the whole backing mapping, ram_size bytes, in memfd order) to a new file at
 * path as a sparse file: the file gets its full size with ftruncate, and only pages with a
 * non-zero byte are written, so never-touched and zeroed pages stay holes. Ranges the memfd
 * reports as holes (SEEK_DATA/SEEK_HOLE) are not even read. The file is fsync'ed. *written (may
 * be NULL) gets the number of bytes written.
 */
int sm_snap_write_memory(const struct sm_guest_mem *mem, const char *path, uint64_t *written,
			 sm_error_t *err);

#endif
