/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The compressed memory image (snapshot/zimage.h). Layout, all integers little-endian:
 *   header (64 bytes) | index (chunks x 24 bytes) | compressed chunks back to back, in index order.
 * Nothing is trusted before it is checked: the header's and the index's checksums, every size
 * against the file's size and the chunk geometry, then each chunk's checksums as it is read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "snapshot/crc32c.h"
#include "snapshot/zimage.h"

#define HDR_SIZE 64
#define ENTRY_SIZE 24
#define PAGE 4096u
#define VERSION_MAJOR 1
#define VERSION_MINOR 0
static const uint8_t zmagic[8] = {'S', 'M', 'Z', 'I', 'M', 'G', 0x1a, '\n'};

struct zentry {
	uint64_t off;
	uint32_t zlen, rawlen, zcrc, rawcrc;
};

struct zhdr {
	uint32_t chunk;
	uint64_t mem_size, nchunks;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0)
			return false;
	return true;
}

static uint32_t chunk_raw_len(const struct zhdr *h, uint64_t i)
{
	uint64_t start = i * h->chunk;

	return (uint32_t)(h->mem_size - start < h->chunk ? h->mem_size - start : h->chunk);
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off, const char *path, sm_error_t *err)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sm_error_set(err, errno, "read `%s`", path);
		if (n == 0)
			return sm_error_set(err, 0, "truncated: `%s` ends at byte %llu", path,
					    (unsigned long long)(off + done));
		done += (size_t)n;
	}
	return 0;
}

static int pwrite_full(int fd, const void *buf, size_t len, uint64_t off, const char *path, sm_error_t *err)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const uint8_t *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return sm_error_set(err, n < 0 ? errno : EIO, "write `%s`", path);
		done += (size_t)n;
	}
	return 0;
}

static void encode_header(uint8_t *b, const struct zhdr *h, uint32_t index_crc)
{
	memset(b, 0, HDR_SIZE);
	memcpy(b, zmagic, 8);
	put16(b + 8, VERSION_MAJOR);
	put16(b + 10, VERSION_MINOR);
	put32(b + 12, h->chunk);
	put64(b + 16, h->mem_size);
	put64(b + 24, h->nchunks);
	put64(b + 32, HDR_SIZE);
	put64(b + 40, HDR_SIZE + h->nchunks * ENTRY_SIZE);
	put32(b + 48, index_crc);
	put32(b + 56, sm_crc32c(0, b, 56));
}

/* One chunk: read, a hole when all zero, else compressed and appended at *pos. */
static int export_chunk(int in, int out, ZSTD_CCtx *cctx, int level, const struct zhdr *h, uint64_t i,
			uint8_t *raw, uint8_t *z, size_t zcap, uint64_t *pos, struct zentry *e,
			const char *paths[2], sm_error_t *err)
{
	uint32_t len = chunk_raw_len(h, i);
	size_t zlen;
	int r;

	memset(e, 0, sizeof(*e));
	e->rawlen = len;
	if ((r = pread_full(in, raw, len, i * h->chunk, paths[0], err)) < 0)
		return r;
	if (all_zero(raw, len))
		return 0;
	zlen = ZSTD_compressCCtx(cctx, z, zcap, raw, len, level);
	if (ZSTD_isError(zlen))
		return sm_error_set(err, 0, "zstd: chunk %llu: %s", (unsigned long long)i,
				    ZSTD_getErrorName(zlen));
	if ((r = pwrite_full(out, z, zlen, *pos, paths[1], err)) < 0)
		return r;
	e->off = *pos;
	e->zlen = (uint32_t)zlen;
	e->zcrc = sm_crc32c(0, z, zlen);
	e->rawcrc = sm_crc32c(0, raw, len);
	*pos += zlen;
	return 1;
}

static int export_chunks(int in, int out, const struct zhdr *h, int level, uint8_t *index,
			 struct sm_zimage_stats *st, const char *paths[2], sm_error_t *err)
{
	size_t zcap = ZSTD_compressBound(h->chunk);
	cleanup_free uint8_t *raw = sm_xmalloc(h->chunk), *z = sm_xmalloc(zcap);
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	uint64_t pos = HDR_SIZE + h->nchunks * ENTRY_SIZE;
	int r = 0;

	if (cctx == NULL)
		return sm_error_set(err, ENOMEM, "zstd context");
	for (uint64_t i = 0; i < h->nchunks; i++) {
		struct zentry e;
		uint8_t *p = index + i * ENTRY_SIZE;

		r = export_chunk(in, out, cctx, level, h, i, raw, z, zcap, &pos, &e, paths, err);
		if (r < 0)
			break;
		st->data_chunks += (uint64_t)r;
		put64(p, e.off);
		put32(p + 8, e.zlen);
		put32(p + 12, e.rawlen);
		put32(p + 16, e.zcrc);
		put32(p + 20, e.rawcrc);
		r = 0;
	}
	ZSTD_freeCCtx(cctx);
	st->file_bytes = pos;
	return r;
}

int sm_zimage_export(const char *mem_path, const char *out_path, uint32_t chunk, int level,
		     struct sm_zimage_stats *stats, sm_error_t *err)
{
	cleanup_free char *tmp = sm_xasprintf("%s.tmp", out_path);
	cleanup_free uint8_t *index = NULL;
	cleanup_close int in = -1, out = -1;
	const char *paths[2] = {mem_path, tmp};
	struct sm_zimage_stats local = {0};
	uint8_t hdr[HDR_SIZE];
	struct zhdr h;
	struct stat sb;
	int r;

	if (chunk == 0)
		chunk = SM_ZIMAGE_DEFAULT_CHUNK;
	if (chunk < SM_ZIMAGE_MIN_CHUNK || chunk > SM_ZIMAGE_MAX_CHUNK || (chunk & (chunk - 1)) != 0)
		return sm_error_set(err, 0, "memory image: chunk size %u is not a power of two in %u..%u",
				    chunk, SM_ZIMAGE_MIN_CHUNK, SM_ZIMAGE_MAX_CHUNK);
	in = open(mem_path, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &sb) < 0)
		return sm_error_set(err, errno, "memory file `%s`", mem_path);
	if (!S_ISREG(sb.st_mode) || sb.st_size % PAGE != 0 || (uint64_t)sb.st_size > SM_ZIMAGE_MAX_MEM)
		return sm_error_set(err, 0, "memory file `%s`: not a regular file of whole pages up to 1 TiB",
				    mem_path);
	h = (struct zhdr){.chunk = chunk, .mem_size = (uint64_t)sb.st_size};
	h.nchunks = (h.mem_size + chunk - 1) / chunk;
	index = sm_xcalloc(h.nchunks ? h.nchunks : 1, ENTRY_SIZE);
	unlink(tmp);
	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return sm_error_set(err, errno, "create `%s`", tmp);
	local.mem_bytes = h.mem_size;
	local.chunks = h.nchunks;
	r = export_chunks(in, out, &h, level, index, &local, paths, err);
	if (r == 0) {
		encode_header(hdr, &h, sm_crc32c(0, index, h.nchunks * ENTRY_SIZE));
		if ((r = pwrite_full(out, index, h.nchunks * ENTRY_SIZE, HDR_SIZE, tmp, err)) == 0 &&
		    (r = pwrite_full(out, hdr, HDR_SIZE, 0, tmp, err)) == 0 && fsync(out) < 0)
			r = sm_error_set(err, errno, "fsync `%s`", tmp);
	}
	if (r == 0 && rename(tmp, out_path) < 0)
		r = sm_error_set(err, errno, "rename `%s` to `%s`", tmp, out_path);
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	if (stats != NULL)
		*stats = local;
	return 0;
}

/* The header, checked against the file's size. */
static int parse_header(const uint8_t *b, uint64_t file_size, const char *path, struct zhdr *h,
			uint32_t *icrc, sm_error_t *err)
{
	uint16_t major = get16(b + 8), minor = get16(b + 10);

	if (memcmp(b, zmagic, 8) != 0)
		return sm_error_set(err, 0, "`%s` is not a sm-runtime memory image", path);
	if (major != VERSION_MAJOR || minor > VERSION_MINOR)
		return sm_error_set(
		    err, 0,
		    "`%s`: memory image format version %u.%u is not supported (this sm-runtime "
		    "reads %u.0 to %u.%u)",
		    path, major, minor, VERSION_MAJOR, VERSION_MAJOR, VERSION_MINOR);
	if (get32(b + 56) != sm_crc32c(0, b, 56))
		return sm_error_set(err, 0, "`%s`: corrupted: header checksum mismatch", path);
	if (get32(b + 52) != 0 || get32(b + 60) != 0)
		return sm_error_set(err, 0, "`%s`: corrupted: reserved header field is not 0", path);
	h->chunk = get32(b + 12);
	h->mem_size = get64(b + 16);
	h->nchunks = get64(b + 24);
	*icrc = get32(b + 48);
	if (h->chunk < SM_ZIMAGE_MIN_CHUNK || h->chunk > SM_ZIMAGE_MAX_CHUNK || (h->chunk & (h->chunk - 1)))
		return sm_error_set(err, 0, "`%s`: corrupted: chunk size %u", path, h->chunk);
	if (h->mem_size % PAGE != 0 || h->mem_size > SM_ZIMAGE_MAX_MEM)
		return sm_error_set(err, 0, "`%s`: corrupted: memory size %llu", path,
				    (unsigned long long)h->mem_size);
	if (h->nchunks != (h->mem_size + h->chunk - 1) / h->chunk)
		return sm_error_set(err, 0, "`%s`: corrupted: %llu chunks for %llu bytes", path,
				    (unsigned long long)h->nchunks, (unsigned long long)h->mem_size);
	if (get64(b + 32) != HDR_SIZE || get64(b + 40) != HDR_SIZE + h->nchunks * ENTRY_SIZE)
		return sm_error_set(err, 0, "`%s`: corrupted: index or data offset", path);
	if (file_size < HDR_SIZE + h->nchunks * ENTRY_SIZE)
		return sm_error_set(err, 0, "truncated: `%s` has %llu bytes, its index ends at byte %llu",
				    path, (unsigned long long)file_size,
				    (unsigned long long)(HDR_SIZE + h->nchunks * ENTRY_SIZE));
	return 0;
}

/* Every index entry: holes all zero, data chunks back to back, the last ending with the file. */
static int parse_index(const uint8_t *idx, const struct zhdr *h, uint64_t file_size, const char *path,
		       struct zentry *out, sm_error_t *err)
{
	uint64_t pos = HDR_SIZE + h->nchunks * ENTRY_SIZE;
	size_t zmax = ZSTD_compressBound(h->chunk);

	for (uint64_t i = 0; i < h->nchunks; i++) {
		const uint8_t *p = idx + i * ENTRY_SIZE;
		struct zentry *e = &out[i];

		*e = (struct zentry){get64(p), get32(p + 8), get32(p + 12), get32(p + 16), get32(p + 20)};
		if (e->rawlen != chunk_raw_len(h, i))
			return sm_error_set(err, 0, "`%s`: corrupted: chunk %llu has raw length %u, not %u",
					    path, (unsigned long long)i, e->rawlen, chunk_raw_len(h, i));
		if (e->zlen == 0) {
			if (e->off != 0 || e->zcrc != 0 || e->rawcrc != 0)
				return sm_error_set(err, 0,
						    "`%s`: corrupted: hole chunk %llu has data fields", path,
						    (unsigned long long)i);
			continue;
		}
		if (e->zlen > zmax || e->off != pos)
			return sm_error_set(err, 0,
					    "`%s`: corrupted: chunk %llu at byte %llu, %u bytes (expected at "
					    "byte %llu, at most %zu bytes)",
					    path, (unsigned long long)i, (unsigned long long)e->off, e->zlen,
					    (unsigned long long)pos, zmax);
		pos += e->zlen;
		if (pos > file_size)
			return sm_error_set(
			    err, 0,
			    "truncated: chunk %llu of `%s` ends at byte %llu, the file has %llu bytes",
			    (unsigned long long)i, path, (unsigned long long)pos,
			    (unsigned long long)file_size);
	}
	if (pos != file_size)
		return sm_error_set(err, 0, "`%s`: corrupted: %llu bytes follow the last chunk", path,
				    (unsigned long long)(file_size - pos));
	return 0;
}

struct zreader {
	const char *path;
	int fd;
	struct zhdr h;
	struct zentry *e; /* nchunks entries */
};

static int zreader_open(struct zreader *zr, const char *path, sm_error_t *err)
{
	cleanup_free uint8_t *idx = NULL;
	uint8_t hdr[HDR_SIZE];
	uint32_t icrc = 0;
	struct stat sb;
	int r;

	*zr = (struct zreader){.path = path, .fd = -1};
	zr->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (zr->fd < 0 || fstat(zr->fd, &sb) < 0)
		return sm_error_set(err, errno, "memory image `%s`", path);
	if (!S_ISREG(sb.st_mode))
		return sm_error_set(err, 0, "memory image `%s` is not a regular file", path);
	if ((uint64_t)sb.st_size < HDR_SIZE)
		return sm_error_set(err, 0, "truncated: `%s` has %llu bytes, less than a header", path,
				    (unsigned long long)sb.st_size);
	if ((r = pread_full(zr->fd, hdr, HDR_SIZE, 0, path, err)) < 0 ||
	    (r = parse_header(hdr, (uint64_t)sb.st_size, path, &zr->h, &icrc, err)) < 0)
		return r;
	idx = sm_xmalloc(zr->h.nchunks * ENTRY_SIZE + 1);
	if ((r = pread_full(zr->fd, idx, zr->h.nchunks * ENTRY_SIZE, HDR_SIZE, path, err)) < 0)
		return r;
	if (sm_crc32c(0, idx, zr->h.nchunks * ENTRY_SIZE) != icrc)
		return sm_error_set(err, 0, "`%s`: corrupted: index checksum mismatch", path);
	zr->e = sm_xcalloc(zr->h.nchunks + 1, sizeof(*zr->e));
	return parse_index(idx, &zr->h, (uint64_t)sb.st_size, path, zr->e, err);
}

static void zreader_close(struct zreader *zr)
{
	if (zr->fd >= 0)
		close(zr->fd);
	free(zr->e);
}

/* Chunk i decompressed into raw (rawlen bytes), with both checksums and the size checked. */
static int read_chunk(struct zreader *zr, ZSTD_DCtx *dctx, uint64_t i, uint8_t *z, uint8_t *raw,
		      sm_error_t *err)
{
	const struct zentry *e = &zr->e[i];
	size_t n;
	int r;

	if ((r = pread_full(zr->fd, z, e->zlen, e->off, zr->path, err)) < 0)
		return r;
	if (sm_crc32c(0, z, e->zlen) != e->zcrc)
		return sm_error_set(err, 0, "`%s`: corrupted: chunk %llu checksum mismatch", zr->path,
				    (unsigned long long)i);
	if (ZSTD_getFrameContentSize(z, e->zlen) != e->rawlen)
		return sm_error_set(err, 0, "`%s`: corrupted: chunk %llu's frame does not hold %u bytes",
				    zr->path, (unsigned long long)i, e->rawlen);
	n = ZSTD_decompressDCtx(dctx, raw, e->rawlen, z, e->zlen);
	if (ZSTD_isError(n) || n != e->rawlen)
		return sm_error_set(err, 0, "`%s`: corrupted: chunk %llu does not decompress: %s", zr->path,
				    (unsigned long long)i, ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short");
	if (sm_crc32c(0, raw, e->rawlen) != e->rawcrc)
		return sm_error_set(err, 0, "`%s`: corrupted: chunk %llu's data checksum mismatch", zr->path,
				    (unsigned long long)i);
	return 0;
}

/* Decompress every chunk; out >= 0 gets the non-zero pages at their offsets. */
static int zreader_copy(struct zreader *zr, int out, const char *out_path, struct sm_zimage_stats *st,
			sm_error_t *err)
{
	cleanup_free uint8_t *z = sm_xmalloc(ZSTD_compressBound(zr->h.chunk));
	cleanup_free uint8_t *raw = sm_xmalloc(zr->h.chunk);
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	int r = 0;

	if (dctx == NULL)
		return sm_error_set(err, ENOMEM, "zstd context");
	for (uint64_t i = 0; i < zr->h.nchunks && r == 0; i++) {
		const struct zentry *e = &zr->e[i];

		if (e->zlen == 0)
			continue;
		st->data_chunks++;
		if ((r = read_chunk(zr, dctx, i, z, raw, err)) < 0 || out < 0)
			continue;
		for (uint32_t p = 0; p < e->rawlen && r == 0; p += PAGE)
			if (!all_zero(raw + p, PAGE))
				r = pwrite_full(out, raw + p, PAGE, i * zr->h.chunk + p, out_path, err);
	}
	ZSTD_freeDCtx(dctx);
	return r;
}

int sm_zimage_check(const char *path, struct sm_zimage_stats *stats, sm_error_t *err)
{
	struct zreader zr;
	struct sm_zimage_stats local = {0};
	int r;

	if ((r = zreader_open(&zr, path, err)) == 0)
		r = zreader_copy(&zr, -1, NULL, &local, err);
	local.mem_bytes = zr.h.mem_size;
	local.chunks = zr.h.nchunks;
	zreader_close(&zr);
	if (r == 0 && stats != NULL)
		*stats = local;
	return r;
}

int sm_zimage_import(const char *in_path, const char *mem_path, uint64_t expect_size,
		     struct sm_zimage_stats *stats, sm_error_t *err)
{
	cleanup_free char *tmp = sm_xasprintf("%s.tmp", mem_path);
	struct sm_zimage_stats local = {0};
	struct zreader zr;
	int out = -1, r;

	r = zreader_open(&zr, in_path, err);
	if (r == 0 && expect_size != 0 && zr.h.mem_size != expect_size)
		r = sm_error_set(err, 0, "memory image `%s` holds %llu bytes of guest memory, %llu expected",
				 in_path, (unsigned long long)zr.h.mem_size, (unsigned long long)expect_size);
	if (r == 0) {
		unlink(tmp);
		out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (out < 0)
			r = sm_error_set(err, errno, "create `%s`", tmp);
		else if (ftruncate(out, (off_t)zr.h.mem_size) < 0)
			r = sm_error_set(err, errno, "size `%s`", tmp);
	}
	if (r == 0)
		r = zreader_copy(&zr, out, tmp, &local, err);
	if (r == 0 && fsync(out) < 0)
		r = sm_error_set(err, errno, "fsync `%s`", tmp);
	if (r == 0 && rename(tmp, mem_path) < 0)
		r = sm_error_set(err, errno, "rename `%s` to `%s`", tmp, mem_path);
	if (out >= 0) {
		close(out);
		if (r < 0)
			unlink(tmp);
	}
	local.mem_bytes = zr.h.mem_size;
	local.chunks = zr.h.nchunks;
	zreader_close(&zr);
	if (r == 0 && stats != NULL)
		*stats = local;
	return r;
}
