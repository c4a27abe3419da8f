/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the compressed memory image of checkpoints (snapshot/zimage.c): header,
 * chunk index and every chunk's zstd frame, through the public API (sm_zimage_check and
 * sm_zimage_import of a file holding the input). Random bytes rarely carry valid CRC32Cs, so the
 * first input byte picks a mode:
 *   bit 0 clear: the harness first fixes the checksums of the rest (each data chunk's compressed
 *                and raw CRC32C, the index's, the header's), so the index and zstd decoding
 *                behind them see arbitrary content; bit 0 set: the rest is checked as is;
 *   bit 1 set:   import it into a memory file (on a private tmpfs) instead of only checking it.
 *
 * Seeds: `SM_FUZZ_MKSEEDS=DIR ./zimage_fuzz` exports small memory files with sm_zimage_export
 * (holes, text, random and repeated pages; 4 KiB and 16 KiB chunks) into DIR, then exits;
 * tests/fuzz/corpus/zimage/ holds its output.
 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zstd.h>

#include "snapshot/crc32c.h"
#include "snapshot/zimage.h"

#define HDR 64
#define ENTRY 24
#define RAW_FIX_MAX (4u << 20) /* largest chunk whose raw checksum the harness recomputes */

static char scratch[64], mem_path[96];
static int in_fd = -1;
static char in_path[64];

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Recompute every checksum the reader verifies, where the geometry lets us find the bytes. */
static void fix_checksums(uint8_t *f, size_t size)
{
	uint64_t n, ilen;

	if (size < HDR)
		return;
	n = rd64(f + 24);
	if (n > (size - HDR) / ENTRY)
		n = (size - HDR) / ENTRY;
	ilen = n * ENTRY;
	for (uint64_t i = 0; i < n; i++) {
		uint8_t *e = f + HDR + i * ENTRY;
		uint64_t off = rd64(e);
		uint32_t zlen = rd32(e + 8), rawlen = rd32(e + 12);
		unsigned long long want;

		if (zlen == 0 || off > size || zlen > size - off)
			continue;
		wr32(e + 16, sm_crc32c(0, f + off, zlen));
		want = ZSTD_getFrameContentSize(f + off, zlen);
		if (want == rawlen && rawlen > 0 && rawlen <= RAW_FIX_MAX) {
			uint8_t *raw = malloc(rawlen);
			size_t got = ZSTD_decompress(raw, rawlen, f + off, zlen);

			if (!ZSTD_isError(got) && got == rawlen)
				wr32(e + 20, sm_crc32c(0, raw, rawlen));
			free(raw);
		}
	}
	wr32(f + 48, sm_crc32c(0, f + HDR, ilen));
	wr32(f + 56, sm_crc32c(0, f, 56));
}

static void make_seeds(const char *dir)
{
	static uint8_t mem[64 * 1024];
	uint32_t x = 12345;
	char p[512], src[128];
	FILE *f;

	/* 16 pages: holes, text, pseudo-random bytes, a repeated pattern, a last partial chunk. */
	memset(mem, 0, sizeof(mem));
	for (int i = 0; i < 40; i++)
		snprintf((char *)mem + 4096 + i * 100, 100, "line %d of a guest's page cache\n", i);
	for (size_t i = 3 * 4096; i < 5 * 4096; i++) {
		x = x * 1103515245u + 12345u;
		mem[i] = (uint8_t)(x >> 16);
	}
	for (size_t i = 8 * 4096; i < 9 * 4096; i++)
		mem[i] = (uint8_t)(i % 7);
	mem[sizeof(mem) - 1] = 1;
	snprintf(src, sizeof(src), "%s/mem", scratch);
	f = fopen(src, "w");
	if (f == NULL || fwrite(mem, 1, sizeof(mem), f) != sizeof(mem) || fclose(f) != 0)
		abort();
	for (int k = 0; k < 2; k++) {
		uint32_t chunk = k == 0 ? 4096 : 16384;
		sm_error_t err = SM_ERROR_INIT;
		char img[160];
		uint8_t *buf;
		long len;

		snprintf(img, sizeof(img), "%s/img", scratch);
		if (sm_zimage_export(src, img, chunk, 3, NULL, &err) < 0) {
			fprintf(stderr, "export: %s\n", err.msg);
			abort();
		}
		f = fopen(img, "r");
		if (f == NULL || fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0)
			abort();
		buf = malloc((size_t)len);
		rewind(f);
		if (fread(buf, 1, (size_t)len, f) != (size_t)len)
			abort();
		fclose(f);
		for (uint8_t mode = 0; mode < 4; mode++) {
			FILE *o;

			snprintf(p, sizeof(p), "%s/chunk%u-mode%u", dir, chunk, mode);
			o = fopen(p, "w");
			if (o == NULL || fwrite(&mode, 1, 1, o) != 1 ||
			    fwrite(buf, 1, (size_t)len, o) != (size_t)len || fclose(o) != 0)
				abort();
		}
		free(buf);
	}
}

static void cleanup(void)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/mem", scratch);
	unlink(p);
	snprintf(p, sizeof(p), "%s/img", scratch);
	unlink(p);
	unlink(mem_path);
	umount2(scratch, MNT_DETACH);
	rmdir(scratch);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* On the private tmpfs (its size bounds what imports write) a header may ask for up to 1 TiB of
	 * sparse memory file; elsewhere files stay below 64 MiB. */
	struct rlimit fsz = {64u << 20, 64u << 20}, big = {2ull << 40, 2ull << 40};
	const char *seeds = getenv("SM_FUZZ_MKSEEDS");

	(void)argc;
	(void)argv;
	snprintf(scratch, sizeof(scratch), "/tmp/sm-zimage-fuzz-XXXXXX");
	if (mkdtemp(scratch) == NULL)
		abort();
	/* Imports write sparse files up to the header's size: keep them on a small private tmpfs. */
	if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
	    mount("tmpfs", scratch, "tmpfs", 0, "size=128m,mode=0700") == 0)
		fsz = big;
	setrlimit(RLIMIT_FSIZE, &fsz);
	snprintf(mem_path, sizeof(mem_path), "%s/imported", scratch);
	atexit(cleanup);
	if (seeds != NULL) {
		make_seeds(seeds);
		exit(0);
	}
	in_fd = memfd_create("zimage-fuzz", MFD_CLOEXEC);
	if (in_fd < 0)
		abort();
	snprintf(in_path, sizeof(in_path), "/proc/self/fd/%d", in_fd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sm_zimage_stats st;
	sm_error_t err = SM_ERROR_INIT;
	uint8_t *f;
	int r;

	/* libFuzzer installs its own SIGXFSZ handler; a file past the limit must just fail (EFBIG). */
	signal(SIGXFSZ, SIG_IGN);
	if (size < 1)
		return 0;
	f = malloc(size);
	memcpy(f, data + 1, size - 1);
	if (!(data[0] & 1))
		fix_checksums(f, size - 1);
	if (ftruncate(in_fd, 0) < 0 || pwrite(in_fd, f, size - 1, 0) != (ssize_t)(size - 1))
		abort();
	free(f);
	if (data[0] & 2) {
		r = sm_zimage_import(in_path, mem_path, 0, &st, &err);
		if (r == 0 && access(mem_path, F_OK) != 0)
			abort(); /* success leaves the memory file */
		if (r < 0 && access(mem_path, F_OK) == 0)
			abort(); /* failure leaves nothing */
		unlink(mem_path);
	} else {
		r = sm_zimage_check(in_path, &st, &err);
	}
	if (getenv("SM_FUZZ_DEBUG") != NULL)
		fprintf(stderr, "%s: %s\n", data[0] & 2 ? "import" : "check", r == 0 ? "ok" : err.msg);
	if (r == 0 && (st.data_chunks > st.chunks || st.file_bytes > size))
		abort();
	return 0;
}
