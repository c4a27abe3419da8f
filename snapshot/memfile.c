/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "snapshot/memfile.h"

#define PAGE 4096u

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;

	for (unsigned int i = 0; i < PAGE / 8; i += 4)
		if ((w[i] | w[i + 1] | w[i + 2] | w[i + 3]) != 0)
			return false;
	return true;
}

static int pwrite_all(int fd, const uint8_t *buf, uint64_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (uint64_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Write the non-zero pages of [start, end) of the mapping, merging neighbours into one pwrite. */
static int write_range(int fd, const uint8_t *base, uint64_t start, uint64_t end, uint64_t *written,
		       sm_error_t *err)
{
	uint64_t run = 0, run_len = 0;

	for (uint64_t off = start; off <= end; off += PAGE) {
		bool data = off < end && !page_is_zero(base + off);
		if (data) {
			if (run_len == 0)
				run = off;
			run_len += PAGE;
			if (run_len < (64u << 20))
				continue;
		}
		if (run_len > 0) {
			if (pwrite_all(fd, base + run, run_len, run) < 0)
				return sm_error_set(err, errno, "write guest memory at offset %llu",
						    (unsigned long long)run);
			*written += run_len;
			run_len = 0;
		}
	}
	return 0;
}

int sm_snap_write_memory(const struct sm_guest_mem *mem, const char *path, uint64_t *written, sm_error_t *err)
{
	cleanup_close int fd = -1;
	uint64_t size = mem->ram_size, done = 0, off = 0;
	bool seekable = mem->memfd >= 0 && !mem->file_backed;
	int r;

	if (size % PAGE != 0)
		return sm_error_set(err, 0, "guest memory of %llu bytes is not page aligned",
				    (unsigned long long)size);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return sm_error_set(err, errno, "create `%s`", path);
	if (ftruncate(fd, (off_t)size) < 0)
		return sm_error_set(err, errno, "`%s`: set size to %llu bytes", path,
				    (unsigned long long)size);
	while (off < size) {
		uint64_t end = size;
		if (seekable) {
			/* Pages the guest never touched are holes in the memfd: skip them unread. */
			off_t d = lseek(mem->memfd, (off_t)off, SEEK_DATA);
			if (d < 0)
				break; /* ENXIO: no data after off */
			off_t h = lseek(mem->memfd, d, SEEK_HOLE);
			off = (uint64_t)d & ~(uint64_t)(PAGE - 1);
			end = h < 0 || (uint64_t)h > size ? size
							  : ((uint64_t)h + PAGE - 1) & ~(uint64_t)(PAGE - 1);
			if (end > size)
				end = size;
		}
		if ((r = write_range(fd, mem->base, off, end, &done, err)) < 0)
			return sm_error_prefix(err, "`%s`: ", path);
		off = end;
	}
	if (fsync(fd) < 0)
		return sm_error_set(err, errno, "`%s`: fsync", path);
	if (written != NULL)
		*written = done;
	return 0;
}
