/* SPDX-License-Identifier: Apache-2.0 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/virtio/state.h"

void sm_state_buf_init(struct sm_state_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void sm_state_buf_free(struct sm_state_buf *b)
{
	free(b->data);
	sm_state_buf_init(b);
}

void sm_state_put(struct sm_state_buf *b, const void *data, size_t len)
{
	if (len == 0)
		return;
	if (len > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *p;

		while (cap - b->len < len) {
			if (cap > SIZE_MAX / 2)
				abort();
			cap *= 2;
		}
		p = realloc(b->data, cap);
		if (p == NULL)
			abort();
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

void sm_state_put_u8(struct sm_state_buf *b, uint8_t v)
{
	sm_state_put(b, &v, 1);
}

void sm_state_put_u16(struct sm_state_buf *b, uint16_t v)
{
	v = htole16(v);
	sm_state_put(b, &v, sizeof(v));
}

void sm_state_put_u32(struct sm_state_buf *b, uint32_t v)
{
	v = htole32(v);
	sm_state_put(b, &v, sizeof(v));
}

void sm_state_put_u64(struct sm_state_buf *b, uint64_t v)
{
	v = htole64(v);
	sm_state_put(b, &v, sizeof(v));
}

void sm_state_reader_init(struct sm_state_reader *r, const void *data, size_t len)
{
	r->data = data;
	r->len = data != NULL ? len : 0;
	r->off = 0;
}

size_t sm_state_remaining(const struct sm_state_reader *r)
{
	return r->len - r->off;
}

int sm_state_get(struct sm_state_reader *r, void *out, size_t len, sm_error_t *err)
{
	if (len > r->len - r->off)
		return sm_error_set(err, 0, "saved state truncated: %zu bytes wanted at offset %zu, %zu left",
				    len, r->off, r->len - r->off);
	if (out != NULL && len > 0)
		memcpy(out, r->data + r->off, len);
	r->off += len;
	return 0;
}

int sm_state_get_u8(struct sm_state_reader *r, uint8_t *v, sm_error_t *err)
{
	return sm_state_get(r, v, 1, err);
}

int sm_state_get_u16(struct sm_state_reader *r, uint16_t *v, sm_error_t *err)
{
	uint16_t x = 0;
	int e = sm_state_get(r, &x, sizeof(x), err);

	if (e == 0)
		*v = le16toh(x);
	return e;
}

int sm_state_get_u32(struct sm_state_reader *r, uint32_t *v, sm_error_t *err)
{
	uint32_t x = 0;
	int e = sm_state_get(r, &x, sizeof(x), err);

	if (e == 0)
		*v = le32toh(x);
	return e;
}

int sm_state_get_u64(struct sm_state_reader *r, uint64_t *v, sm_error_t *err)
{
	uint64_t x = 0;
	int e = sm_state_get(r, &x, sizeof(x), err);

	if (e == 0)
		*v = le64toh(x);
	return e;
}
