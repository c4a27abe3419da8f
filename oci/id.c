/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "oci/id.h"

static bool id_char(char ch, bool first)
{
	if (isalnum((unsigned char)ch) && (unsigned char)ch < 0x80)
		return true;
	return !first && (ch == '_' || ch == '.' || ch == '+' || ch == '-');
}

int sm_oci_id_validate(const char *id, sm_error_t *err)
{
	size_t len = strnlen(id, SM_OCI_ID_MAX + 1);

	if (len == 0)
		return sm_error_set(err, 0, "invalid container id: empty");
	if (len > SM_OCI_ID_MAX)
		return sm_error_set(err, 0, "invalid container id \"%.32s...\": longer than %d bytes", id,
				    SM_OCI_ID_MAX);
	for (size_t i = 0; i < len; i++) {
		if (!id_char(id[i], i == 0)) {
			unsigned char ch = (unsigned char)id[i];
			if (ch < 0x20 || ch >= 0x7f)
				return sm_error_set(err, 0,
						    "invalid container id: byte 0x%02x at offset %zu "
						    "(allowed: A-Z a-z 0-9 and _ . + - after the first)",
						    ch, i);
			return sm_error_set(
			    err, 0, "invalid container id \"%s\": '%c' at offset %zu (%s)", id, ch, i,
			    i == 0 ? "must start with a letter or digit" : "allowed: A-Z a-z 0-9 _ . + -");
		}
	}
	if (strstr(id, "..") != NULL)
		return sm_error_set(err, 0, "invalid container id \"%s\": must not contain \"..\"", id);
	return 0;
}
