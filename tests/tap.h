/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_TESTS_TAP_H
#define SM_TESTS_TAP_H

/*
 * A minimal TAP producer for the unit tests (run by automake's tap-driver.sh). ok() records one
 * assertion; tap_skip_all() ends the program with a plan of 0 and the reason, which the driver
 * prints as a SKIP with that reason; tap_done() prints the plan and returns the exit status.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n__, tap_failed__;

static inline int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static inline int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	printf("%s %d - ", cond ? "ok" : "not ok", ++tap_n__);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond) {
		printf("#   failed at %s:%d\n", file, line);
		tap_failed__++;
	}
	fflush(stdout);
	return cond;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

static inline void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static inline void tap_skip(const char *reason)
{
	printf("ok %d # SKIP %s\n", ++tap_n__, reason);
}

static inline __attribute__((noreturn)) void tap_skip_all(const char *reason)
{
	printf("1..0 # SKIP %s\n", reason);
	fflush(stdout);
	exit(0);
}

/* mkdtemp(tmpl), or skip the whole test naming the template: no scratch space, nothing to test. */
static inline void tap_mkdtemp(char *tmpl)
{
	char reason[256];

	if (mkdtemp(tmpl) != NULL)
		return;
	snprintf(reason, sizeof(reason), "cannot make a temporary directory %s", tmpl);
	tap_skip_all(reason);
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n__);
	return tap_failed__ ? 1 : 0;
}

#endif
