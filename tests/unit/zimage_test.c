/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The compressed memory image (snapshot/zimage.h) on real files: round trip of a sparse file with
 * data and holes (holes stay holes), every kind of corruption refused with a message saying what,
 * and hostile index values (huge sizes, offsets that overflow) refused before any allocation.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "snapshot/crc32c.h"
#include "snapshot/zimage.h"
#include "tests/tap.h"

#define MEM (8u << 20)	 /* 8 MiB of "guest memory" */
#define CHUNK (1u << 20) /* 1 MiB chunks: 8 of them */
#define HDR 64
#define ENTRY 24

static char dir[] = "/tmp/zimage-test-XXXXXX";
static char mem_path[256], img_path[256], out_path[256], bad_path[256];

/* The image's little-endian fields, n bytes of v at p (written independently of snapshot/zimage.c). */
static void put_le(uint8_t *p, uint64_t v, int n)
{
	while (n-- > 0) {
		*p++ = (uint8_t)v;
		v >>= 8;
	}
}

/* Chunks 0, 3 (one page), 5 (random, incompressible) and the last page have data; the rest holes. */
static void make_memory(void)
{
	int fd = open(mem_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	uint8_t *buf = malloc(CHUNK);

	ok(fd >= 0 && ftruncate(fd, MEM) == 0, "sparse memory file created");
	for (uint32_t i = 0; i < CHUNK; i++)
		buf[i] = (uint8_t)(i / 4096 + 1);
	ok(pwrite(fd, buf, CHUNK, 0) == CHUNK, "chunk 0 written");
	ok(pwrite(fd, "page in chunk 3", 15, 3 * CHUNK + 8192) == 15, "one page of chunk 3 written");
	srand(7);
	for (uint32_t i = 0; i < CHUNK; i++)
		buf[i] = (uint8_t)rand();
	ok(pwrite(fd, buf, CHUNK, 5 * CHUNK) == CHUNK, "random chunk 5 written");
	ok(pwrite(fd, "end", 3, MEM - 4096) == 3, "last page written");
	close(fd);
	free(buf);
}

static char *slurp(const char *path, size_t *len)
{
	char *data = NULL;
	sm_error_t err = SM_ERROR_INIT;

	if (sm_read_file(path, 1u << 30, &data, len, &err) < 0)
		return NULL;
	return data;
}

static void spill(const char *path, const void *data, size_t len)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		if (sm_write_all(fd, data, len) < 0)
			tap_diag("write %s failed", path);
		close(fd);
	}
}

static void test_round_trip(void)
{
	struct sm_zimage_stats st = {0}, st2 = {0};
	sm_error_t err = SM_ERROR_INIT;
	size_t a_len = 0, b_len = 0;
	struct stat sb;

	ok(sm_zimage_export(mem_path, img_path, CHUNK, 0, &st, &err) == 0, "export: %s", err.msg);
	ok(st.chunks == 8 && st.data_chunks == 4, "8 chunks, 4 with data (%llu, %llu)",
	   (unsigned long long)st.chunks, (unsigned long long)st.data_chunks);
	memset(&sb, 0, sizeof(sb));
	stat(img_path, &sb);
	ok((uint64_t)sb.st_size == st.file_bytes && sb.st_size < (off_t)(3 * CHUNK),
	   "image is compressed (%lld bytes)", (long long)sb.st_size);
	ok(access(out_path, F_OK) < 0, "no memory file before import");
	ok(sm_zimage_import(img_path, out_path, MEM, &st2, &err) == 0, "import: %s", err.msg);
	ok(st2.data_chunks == 4 && st2.mem_bytes == MEM, "import stats");
	char *a = slurp(mem_path, &a_len), *b = slurp(out_path, &b_len);
	ok(a != NULL && b != NULL && a_len == MEM && b_len == MEM && memcmp(a, b, MEM) == 0,
	   "imported memory equals the original");
	free(a);
	free(b);
	/* 1 MiB + 1 page + ~1 MiB + 1 page written: far below 8 MiB of blocks. */
	memset(&sb, 0, sizeof(sb));
	stat(out_path, &sb);
	ok(sb.st_blocks > 0 && (uint64_t)sb.st_blocks * 512 < 3 * CHUNK,
	   "imported file is sparse (%lld bytes allocated)", (long long)sb.st_blocks * 512);
	ok(sm_zimage_check(img_path, NULL, &err) == 0, "check passes: %s", err.msg);
	sm_error_clear(&err);
	ok(sm_zimage_import(img_path, out_path, 2 * MEM, NULL, &err) < 0 && strstr(err.msg, "expected"),
	   "wrong expected size refused: %s", err.msg);
	ok(access(bad_path, F_OK) < 0, "nothing left behind");
	sm_error_clear(&err);
	ok(sm_zimage_export(mem_path, img_path, 3000, 0, NULL, &err) < 0, "odd chunk size refused: %s",
	   err.msg);
}

/* Import of data must fail with a message containing want, leaving no memory file. */
static void expect_refused(const uint8_t *data, size_t len, const char *want, const char *what)
{
	sm_error_t err = SM_ERROR_INIT;
	cleanup_free char *tmp = sm_xasprintf("%s.tmp", bad_path);

	spill(img_path, data, len);
	unlink(bad_path);
	int r = sm_zimage_import(img_path, bad_path, 0, NULL, &err);
	ok(r < 0 && strstr(err.msg, want) != NULL && access(bad_path, F_OK) < 0 && access(tmp, F_OK) < 0,
	   "%s refused (%s)", what, err.msg);
}

/* Recompute the header CRC and, when fix_index, the index CRC: hostile values that look valid. */
static void reseal(uint8_t *d, uint64_t nchunks, int fix_index)
{
	if (fix_index)
		put_le(d + 48, sm_crc32c(0, d + HDR, nchunks * ENTRY), 4);
	put_le(d + 56, sm_crc32c(0, d, 56), 4);
}

static void test_corruption(void)
{
	struct sm_zimage_stats st;
	sm_error_t err = SM_ERROR_INIT;
	size_t len = 0;
	uint8_t *orig, *d;
	uint64_t n = MEM / CHUNK, data_start = HDR + n * ENTRY;

	ok(sm_zimage_export(mem_path, img_path, CHUNK, 1, &st, &err) == 0, "export for corruption tests");
	orig = (uint8_t *)slurp(img_path, &len);
	d = malloc(len + 64);
	if (orig == NULL || d == NULL)
		return;

#define RESET() memcpy(d, orig, len)
	RESET();
	d[0] ^= 1;
	expect_refused(d, len, "not a sm-runtime memory image", "bad magic");
	RESET();
	d[8] = 2;
	reseal(d, n, 0);
	expect_refused(d, len, "version 2.0 is not supported", "major version 2");
	RESET();
	d[20] ^= 0x10;
	expect_refused(d, len, "header checksum", "flipped header byte");
	RESET();
	d[HDR + 3 * ENTRY + 9] ^= 1;
	expect_refused(d, len, "index checksum", "flipped index byte");
	RESET();
	d[data_start + 100] ^= 0x40;
	expect_refused(d, len, "chunk 0 checksum", "flipped byte in chunk 0's data");
	RESET();
	d[len - 1] ^= 0x40;
	expect_refused(d, len, "checksum", "flipped last byte");
	RESET();
	expect_refused(d, len - 1, "truncated", "image cut by one byte");
	RESET();
	expect_refused(d, data_start - 5, "truncated", "image cut inside the index");
	RESET();
	expect_refused(d, 30, "truncated", "image cut inside the header");
	RESET();
	memset(d + len, 0, 16);
	expect_refused(d, len + 16, "follow the last chunk", "trailing bytes");

	/* Hostile but checksummed values. */
	RESET();
	put_le(d + 16, 1ull << 50, 8);
	put_le(d + 24, (1ull << 50) / CHUNK, 8);
	reseal(d, n, 0);
	expect_refused(d, len, "memory size", "2^50 bytes of memory");
	RESET();
	put_le(d + 16, UINT64_MAX & ~4095ull, 8);
	reseal(d, n, 0);
	expect_refused(d, len, "memory size", "memory size near 2^64");
	RESET();
	put_le(d + 24, n + 1, 8);
	reseal(d, n, 0);
	expect_refused(d, len, "chunks for", "chunk count not matching the size");
	RESET();
	put_le(d + 12, 0x80000000u, 4);
	reseal(d, n, 0);
	expect_refused(d, len, "chunk size", "2 GiB chunks");
	RESET();
	put_le(d + 16, SM_ZIMAGE_MAX_MEM, 8);
	put_le(d + 24, SM_ZIMAGE_MAX_MEM / 4096, 8);
	put_le(d + 12, 4096, 4);
	put_le(d + 40, HDR + (SM_ZIMAGE_MAX_MEM / 4096) * ENTRY, 8);
	reseal(d, n, 0);
	expect_refused(d, len, "truncated", "an index of 2^28 entries in a small file");
	RESET();
	put_le(d + HDR, UINT64_MAX - 10, 8); /* chunk 0's offset */
	reseal(d, n, 1);
	expect_refused(d, len, "corrupted: chunk 0", "chunk offset near 2^64");
	RESET();
	put_le(d + HDR + 8, 0xffffffffu, 4); /* chunk 0's compressed length */
	reseal(d, n, 1);
	expect_refused(d, len, "corrupted: chunk 0", "compressed length 4 GiB");
	RESET();
	put_le(d + HDR + 12, CHUNK * 2, 4); /* chunk 0's raw length */
	reseal(d, n, 1);
	expect_refused(d, len, "raw length", "raw length larger than a chunk");
	RESET();
	put_le(d + HDR + 1 * ENTRY, 12345, 8); /* a hole with an offset */
	reseal(d, n, 1);
	expect_refused(d, len, "hole chunk 1", "hole with data fields");
	RESET();
	put_le(d + HDR + 20, 0xdeadbeef, 4); /* chunk 0's raw CRC */
	reseal(d, n, 1);
	expect_refused(d, len, "data checksum", "wrong raw checksum");
#undef RESET
	free(orig);
	free(d);
	sm_error_clear(&err);
	ok(sm_zimage_import("/nonexistent/x", bad_path, 0, NULL, &err) < 0 &&
	       strstr(err.msg, "/nonexistent/x"),
	   "missing image names the path: %s", err.msg);
}

int main(void)
{
	tap_mkdtemp(dir);
	snprintf(mem_path, sizeof(mem_path), "%s/memory.img", dir);
	snprintf(img_path, sizeof(img_path), "%s/memory.zimg", dir);
	snprintf(out_path, sizeof(out_path), "%s/restored.img", dir);
	snprintf(bad_path, sizeof(bad_path), "%s/bad.img", dir);
	make_memory();
	test_round_trip();
	test_corruption();
	unlink(mem_path);
	unlink(img_path);
	unlink(out_path);
	rmdir(dir);
	return tap_done();
}
