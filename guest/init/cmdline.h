/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_GUEST_INIT_CMDLINE_H
#define SM_GUEST_INIT_CMDLINE_H

/*
 * Pure helpers of the guest init (no system calls), so the host unit test builds the same code:
 * kernel command-line parameter lookup and base64 decoding.
 */
#include <stddef.h>

#include "common/error.h"

/*
 * Look up parameter name in a kernel command line (as read from /proc/cmdline). Parameters are
 * separated by blanks; a double-quoted part may contain blanks ("name=\"a b\"", quotes are not
 * part of the value). On a match *value points into cmdline at the value and *len is its length;
 * a bare flag ("sm.shell") has *value == NULL and *len == 0, "name=" has an empty value. When the
 * parameter is given more than once the last one wins, as for the kernel's own parameters.
 * Returns 1 when found, 0 when not.
 */
int sm_init_cmdline_find(const char *cmdline, const char *name, const char **value, size_t *len);

/*
 * Decode standard base64 (RFC 4648 alphabet "+/", "=" padding optional) of in[0..len) into out,
 * which holds out_size bytes; the decoded text is NUL-terminated, so out_size must be at least
 * the decoded length + 1 (len / 4 * 3 + 3 is always enough). Returns the decoded length, or <0
 * with err set on a character outside the alphabet, misplaced padding, a truncated final group
 * or a too small out.
 */
long sm_init_base64_decode(const char *in, size_t len, char *out, size_t out_size, sm_error_t *err);

#endif
