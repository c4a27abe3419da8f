/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "vmm/cmdline.h"

char *sm_base64_encode(const void *in, size_t len)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *p = in;
	char *out = sm_xmalloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = alphabet[v >> 18];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = alphabet[(v >> 6) & 63];
		*o++ = alphabet[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
		*o++ = alphabet[v >> 18];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* Append " word" (or "word" at the start) to the buffer, growing it. */
static void append_word(char **buf, size_t *len, const char *word)
{
	size_t wl = strlen(word);
	size_t need = *len + (*len ? 1 : 0) + wl + 1;

	*buf = realloc(*buf, need);
	if (*buf == NULL)
		abort();
	if (*len)
		(*buf)[(*len)++] = ' ';
	memcpy(*buf + *len, word, wl + 1);
	*len += wl;
}

int sm_cmdline_build(const struct sm_cmdline_params *p, char **out, sm_error_t *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0, i;

	if (p->append != NULL && strpbrk(p->append, "\n\r") != NULL)
		return sm_error_set(err, 0, "kernel parameters (--append) must not contain a newline");
	append_word(&buf, &len, SM_CMDLINE_FIXED);
	append_word(&buf, &len, SM_CMDLINE_BASE);
	if (p->pvm)
		append_word(&buf, &len, SM_CMDLINE_PVM);
	for (i = 0; i < p->ndevice_params; i++)
		if (p->device_params[i] != NULL && p->device_params[i][0] != '\0')
			append_word(&buf, &len, p->device_params[i]);
	if (p->cmd != NULL) {
		/* base64 keeps quotes, blanks and newlines of the command away from the kernel's parser. */
		cleanup_free char *b64 = sm_base64_encode(p->cmd, strlen(p->cmd));
		cleanup_free char *param = sm_xasprintf("sm.cmd=%s", b64);
		append_word(&buf, &len, param);
	}
	if (p->append != NULL && p->append[0] != '\0')
		append_word(&buf, &len, p->append);
	if (len + 1 > SM_CMDLINE_MAX)
		return sm_error_set(err, 0,
				    "kernel command line is %zu bytes, more than the %d the kernel accepts "
				    "(the command is sent base64-encoded: shorten the command or --append)",
				    len, SM_CMDLINE_MAX - 1);
	*out = steal_ptr(&buf);
	return 0;
}
