/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <string.h>

#include "guest/init/cmdline.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * One token: [start, end) excluding surrounding quotes of the value. Mirrors the kernel's
 * next_arg(): a token ends at a blank outside double quotes.
 */
static const char *next_token(const char *p, const char **tok, const char **tok_end)
{
	bool quoted = false;

	while (is_blank(*p))
		p++;
	*tok = p;
	while (*p != '\0' && (quoted || !is_blank(*p))) {
		if (*p == '"')
			quoted = !quoted;
		p++;
	}
	*tok_end = p;
	return p;
}

int sm_init_cmdline_find(const char *cmdline, const char *name, const char **value, size_t *len)
{
	size_t name_len = strlen(name);
	const char *p = cmdline, *tok, *end;
	int found = 0;

	for (;;) {
		const char *v;

		p = next_token(p, &tok, &end);
		if (tok == end)
			break;
		v = tok + name_len;
		if ((size_t)(end - tok) < name_len || memcmp(tok, name, name_len) != 0)
			continue;
		if (v == end) {
			*value = NULL;
			*len = 0;
			found = 1;
		} else if (*v == '=') {
			const char *vend = end;

			v++;
			/* name="a b": the kernel strips the quotes around the value. */
			if (v < vend && *v == '"') {
				v++;
				if (vend > v && vend[-1] == '"')
					vend--;
			}
			*value = v;
			*len = (size_t)(vend - v);
			found = 1;
		}
	}
	return found;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long sm_init_base64_decode(const char *in, size_t len, char *out, size_t out_size, sm_error_t *err)
{
	size_t n = 0, i, pad = 0;
	unsigned int acc = 0, bits = 0;

	while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
		pad++;
	if (pad > 0 && len % 4 != 0)
		return sm_error_set(err, 0, "base64: padding in a group that is not the last");
	for (i = 0; i < len - pad; i++) {
		int v = b64_value(in[i]);

		if (v < 0)
			return sm_error_set(err, 0, "base64: invalid character at offset %zu", i);
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n + 1 >= out_size)
				return sm_error_set(err, 0, "base64: output larger than %zu bytes", out_size);
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	/* A final group of one character carries 6 bits, less than a byte. */
	if (bits >= 6)
		return sm_error_set(err, 0, "base64: truncated final group");
	if (out_size == 0)
		return sm_error_set(err, 0, "base64: no room for the output");
	out[n] = '\0';
	return (long)n;
}
