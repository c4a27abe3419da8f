/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_COMMON_UTIL_H
#define SM_COMMON_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

#define SM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* malloc/calloc/strdup that abort() on exhaustion: an OOM here is not a recoverable user error. */
void *sm_xmalloc(size_t size);
void *sm_xcalloc(size_t n, size_t size);
char *sm_xstrdup(const char *s);
/* asprintf() that aborts on exhaustion. */
char *sm_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Read the whole of path into a NUL-terminated malloc'd buffer (*out, length in *len when len
 * is not NULL). Refuses files larger than max_size bytes with EFBIG, naming the file.
 */
int sm_read_file(const char *path, size_t max_size, char **out, size_t *len, sm_error_t *err);

/*
 * Replace path with data atomically: write a temporary file in the same directory, fsync it,
 * rename it over path and fsync the directory, so a crash leaves either the old or the new file.
 */
int sm_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, sm_error_t *err);

/* write() all of buf, retrying on EINTR and short writes. Returns 0 or -errno. */
int sm_write_all(int fd, const void *buf, size_t len);

/* read() exactly len bytes, retrying on EINTR; returns bytes read (< len only at EOF) or -errno. */
ssize_t sm_read_all(int fd, void *buf, size_t len);

/*
 * Parse a decimal unsigned integer in [min, max]; what names the argument in the error
 * ("--mem"), so the message says which input was wrong.
 */
int sm_parse_u64(const char *s, uint64_t min, uint64_t max, const char *what, uint64_t *out, sm_error_t *err);

/* Monotonic clock in nanoseconds. */
uint64_t sm_now_ns(void);

#endif
