/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_SNAPSHOT_ZIMAGE_H
#define SM_SNAPSHOT_ZIMAGE_H

#include <stdint.h>

#include "common/error.h"

/*
 * The compressed memory image of a checkpoint (docs/design/snapshot-format.md, "Compressed memory
 * image"): a snapshot's sparse memory file cut into chunks of guest memory (2 MiB by default,
 * page-aligned), each compressed on its own with zstd and checksummed (CRC32C of the compressed
 * and of the raw bytes), with an index of offsets and sizes up front, so a later version can page
 * chunks in lazily. All-zero chunks are holes: no bytes, no index offset.
 */

#define SM_ZIMAGE_DEFAULT_CHUNK (2u << 20)
#define SM_ZIMAGE_MIN_CHUNK 4096u
#define SM_ZIMAGE_MAX_CHUNK (64u << 20)
/* Largest memory file an image may describe (1 TiB): bounds the index before it is allocated. */
#define SM_ZIMAGE_MAX_MEM (1ull << 40)

struct sm_zimage_stats {
	uint64_t mem_bytes;   /* size of the memory file */
	uint64_t chunks;      /* number of chunks */
	uint64_t data_chunks; /* chunks with a non-zero byte */
	uint64_t file_bytes;  /* size of the image file */
};

/*
 * Export the memory file mem_path (a regular file whose size is a multiple of 4096) into a new
 * image file out_path, written as out_path.tmp, fsync'ed and renamed. chunk is the chunk size (a
 * power of two in SM_ZIMAGE_MIN_CHUNK..SM_ZIMAGE_MAX_CHUNK; 0 for the default), level the zstd
 * level (0 for the library's default). stats may be NULL.
 */
int sm_zimage_export(const char *mem_path, const char *out_path, uint32_t chunk, int level,
		     struct sm_zimage_stats *stats, sm_error_t *err);

/*
 * Import image in_path into a new sparse memory file mem_path (written as mem_path.tmp, renamed
 * when complete; only non-zero pages are written). The header and the whole index are validated
 * before anything is written, every chunk's checksums and sizes as it is decompressed; on any
 * error nothing is left at mem_path and err says what is wrong ("not a sm-runtime memory image",
 * "corrupted: chunk 3 ...", "truncated: ..."). expect_size, when not 0, is the size the memory
 * file must have. stats may be NULL.
 */
int sm_zimage_import(const char *in_path, const char *mem_path, uint64_t expect_size,
		     struct sm_zimage_stats *stats, sm_error_t *err);

/* Validate an image completely (header, index and every chunk) without writing anything. */
int sm_zimage_check(const char *path, struct sm_zimage_stats *stats, sm_error_t *err);

#endif
