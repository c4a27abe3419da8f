/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"

void *sm_xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (p == NULL)
		abort();
	return p;
}

void *sm_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		abort();
	return p;
}

char *sm_xstrdup(const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		abort();
	return p;
}

char *sm_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0)
		abort();
	return p;
}

int sm_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t sm_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t done = 0;
	while (done < len) {
		ssize_t n = read(fd, p + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int sm_read_file(const char *path, size_t max_size, char **out, size_t *len, sm_error_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	cleanup_free char *buf = NULL;
	size_t cap = max_size < 4096 ? max_size : 4096, used = 0;

	if (fd < 0)
		return sm_error_set(err, errno, "open `%s`", path);
	buf = sm_xmalloc(cap + 1);
	for (;;) {
		ssize_t n;
		if (used == cap) {
			char extra;
			if (cap >= max_size) {
				n = read(fd, &extra, 1);
				if (n == 0)
					break;
				return sm_error_set(err, EFBIG, "read `%s`: larger than %zu bytes", path, max_size);
			}
			cap = cap * 2 > max_size ? max_size : cap * 2;
			buf = realloc(buf, cap + 1);
			if (buf == NULL)
				abort();
		}
		n = read(fd, buf + used, cap - used);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return sm_error_set(err, errno, "read `%s`", path);
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	if (len != NULL)
		*len = used;
	*out = steal_ptr(&buf);
	return 0;
}

/*
 * Create a temporary file next to path with a name no other writer uses. Not named after the pid
 * alone: every monitor in its own pid namespace is pid 1, and two of them replacing the same file
 * would truncate each other's temporary file. O_EXCL makes a clash (unlikely with the clock and a
 * counter in the name) a retry, never a shared file; mode goes through the umask as with open().
 */
static int create_temp(const char *path, mode_t mode, char **tmp)
{
	static unsigned counter;

	for (int i = 0; i < 64; i++) {
		unsigned n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
		int fd;

		*tmp = sm_xasprintf("%s.tmp.%d.%llx.%x", path, (int)getpid(), (unsigned long long)sm_now_ns(),
				    n);
		fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (fd >= 0 || errno != EEXIST)
			return fd;
		free(*tmp);
		*tmp = NULL;
	}
	*tmp = sm_xasprintf("%s.tmp.*", path);
	errno = EEXIST;
	return -1;
}

int sm_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, sm_error_t *err)
{
	cleanup_free char *tmp = NULL;
	cleanup_free char *dircopy = sm_xstrdup(path);
	cleanup_close int fd = -1;
	cleanup_close int dfd = -1;
	int r;

	fd = create_temp(path, mode, &tmp);
	if (fd < 0)
		return sm_error_set(err, errno, "create `%s`", tmp);
	r = sm_write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return sm_error_set(err, -r, "write `%s`", tmp);
	}
	if (rename(tmp, path) < 0) {
		r = errno;
		unlink(tmp);
		return sm_error_set(err, r, "rename `%s` to `%s`", tmp, path);
	}
	dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void)fsync(dfd);
	return 0;
}

int sm_parse_u64(const char *s, uint64_t min, uint64_t max, const char *what, uint64_t *out, sm_error_t *err)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
		return sm_error_set(err, 0, "%s: `%s` is not a number", what, s ? s : "");
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return sm_error_set(err, 0, "%s: `%s` is not a number", what, s);
	if (v < min || v > max)
		return sm_error_set(err, 0, "%s: %llu is out of range [%llu, %llu]", what, v,
				    (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
}

uint64_t sm_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
