/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_COMMON_ERROR_H
#define SM_COMMON_ERROR_H

#include <errno.h>
#include <stddef.h>

/*
 * The one error type of sm-runtime. The caller owns it (usually on its stack, initialised with
 * SM_ERROR_INIT); a fallible function fills it and returns a negative int. Only main() prints it.
 * See docs/design/errors.md.
 */
typedef struct sm_error {
	int code;        /* errno code of a failed system call; 0 for invalid input (no strerror) */
	char msg[2048];  /* human-readable, already includes strerror(code) when code != 0 */
} sm_error_t;

#define SM_ERROR_INIT {0, {0}}

/*
 * Record a failure in err (which may be NULL) and return a negative value to propagate:
 * -code when code > 0, otherwise -1. When code > 0, ": strerror(code)" is appended to the
 * formatted message. Typical use: `return sm_error_set(err, errno, "open %s", path);`.
 * errno is preserved across the call.
 */
int sm_error_set(sm_error_t *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Prepend context to an error already set by a callee ("create container x: " + old message)
 * and return the same negative value sm_error_set would have returned for err->code.
 */
int sm_error_prefix(sm_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reset err to the no-error state, for callers that recover from a failure and go on. */
void sm_error_clear(sm_error_t *err);

/* True when err holds a failure. */
static inline int sm_error_isset(const sm_error_t *err)
{
	return err != NULL && err->msg[0] != '\0';
}

#endif
