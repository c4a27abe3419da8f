/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/proto.h"

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)get_le16(p) | ((uint32_t)get_le16(p + 2) << 16);
}

int sm_buf_put(struct sm_buf *b, const void *data, size_t len)
{
	if (len > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *n;
		while (cap - b->len < len) {
			if (cap > SIZE_MAX / 2)
				return -ENOMEM;
			cap *= 2;
		}
		n = realloc(b->data, cap);
		if (n == NULL)
			return -ENOMEM;
		b->data = n;
		b->cap = cap;
	}
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

void sm_buf_free(struct sm_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void sm_frame_hdr_encode(const struct sm_frame_hdr *h, uint8_t out[SM_PROTO_HDR_SIZE])
{
	put_le32(out, h->len);
	put_le16(out + 4, h->type);
	put_le16(out + 6, h->flags);
	put_le32(out + 8, h->stream);
}

int sm_frame_hdr_decode(const uint8_t in[SM_PROTO_HDR_SIZE], struct sm_frame_hdr *h)
{
	h->len = get_le32(in);
	h->type = get_le16(in + 4);
	h->flags = get_le16(in + 6);
	h->stream = get_le32(in + 8);
	if (h->type == 0 || h->type >= SM_MSG_TYPE_MAX || h->flags != 0)
		return -EPROTO;
	if (h->len > SM_PROTO_MAX_PAYLOAD)
		return -EMSGSIZE;
	return 0;
}

size_t sm_frame_begin(struct sm_buf *b, uint16_t type, uint32_t stream)
{
	struct sm_frame_hdr h = {.len = 0, .type = type, .flags = 0, .stream = stream};
	uint8_t raw[SM_PROTO_HDR_SIZE];
	size_t off = b->len;

	sm_frame_hdr_encode(&h, raw);
	if (sm_buf_put(b, raw, sizeof(raw)) < 0)
		abort(); /* out of memory is not a protocol condition */
	return off;
}

int sm_frame_end(struct sm_buf *b, size_t off)
{
	size_t len = b->len - off - SM_PROTO_HDR_SIZE;
	if (len > SM_PROTO_MAX_PAYLOAD)
		return -EMSGSIZE;
	put_le32(b->data + off, (uint32_t)len);
	return 0;
}

int sm_tlv_put(struct sm_buf *b, uint16_t tag, const void *val, uint32_t len)
{
	uint8_t hdr[6];
	int r;

	put_le16(hdr, tag);
	put_le32(hdr + 2, len);
	r = sm_buf_put(b, hdr, sizeof(hdr));
	if (r == 0)
		r = sm_buf_put(b, val, len);
	return r;
}

int sm_tlv_put_str(struct sm_buf *b, uint16_t tag, const char *s)
{
	size_t n = strlen(s);
	if (n > SM_PROTO_MAX_PAYLOAD)
		return -EMSGSIZE;
	return sm_tlv_put(b, tag, s, (uint32_t)n);
}

int sm_tlv_put_u32(struct sm_buf *b, uint16_t tag, uint32_t v)
{
	uint8_t raw[4];
	put_le32(raw, v);
	return sm_tlv_put(b, tag, raw, sizeof(raw));
}

int sm_tlv_put_u64(struct sm_buf *b, uint16_t tag, uint64_t v)
{
	uint8_t raw[8];
	put_le32(raw, (uint32_t)v);
	put_le32(raw + 4, (uint32_t)(v >> 32));
	return sm_tlv_put(b, tag, raw, sizeof(raw));
}

void sm_tlv_reader_init(struct sm_tlv_reader *r, const void *payload, size_t len)
{
	r->p = payload;
	r->left = len;
}

int sm_tlv_next(struct sm_tlv_reader *r, uint16_t *tag, const uint8_t **val, uint32_t *len)
{
	uint32_t n;

	if (r->left == 0)
		return 0;
	if (r->left < 6)
		return -EPROTO;
	n = get_le32(r->p + 2);
	if (n > r->left - 6)
		return -EPROTO;
	*tag = get_le16(r->p);
	*len = n;
	*val = r->p + 6;
	r->p += 6 + (size_t)n;
	r->left -= 6 + (size_t)n;
	return 1;
}

int sm_tlv_u32(const uint8_t *val, uint32_t len, uint32_t *out)
{
	if (len != 4)
		return -EPROTO;
	*out = get_le32(val);
	return 0;
}

int sm_tlv_u64(const uint8_t *val, uint32_t len, uint64_t *out)
{
	if (len != 8)
		return -EPROTO;
	*out = (uint64_t)get_le32(val) | ((uint64_t)get_le32(val + 4) << 32);
	return 0;
}

int sm_tlv_str(const uint8_t *val, uint32_t len, char **out)
{
	char *s;
	if (memchr(val, '\0', len) != NULL)
		return -EPROTO;
	s = malloc((size_t)len + 1);
	if (s == NULL)
		return -ENOMEM;
	memcpy(s, val, len);
	s[len] = '\0';
	*out = s;
	return 0;
}

int sm_tlv_find(const void *payload, size_t len, uint16_t tag, const uint8_t **val, uint32_t *vlen)
{
	struct sm_tlv_reader r;
	uint16_t t;
	int n;

	sm_tlv_reader_init(&r, payload, len);
	while ((n = sm_tlv_next(&r, &t, val, vlen)) == 1)
		if (t == tag)
			return 1;
	return n;
}

int sm_tlv_walk(const void *payload, size_t len, sm_tlv_visit_fn fn, void *ctx)
{
	struct sm_tlv_reader r;
	const uint8_t *val;
	uint32_t vlen;
	uint16_t tag;
	int n;

	sm_tlv_reader_init(&r, payload, len);
	while ((n = sm_tlv_next(&r, &tag, &val, &vlen)) == 1)
		;
	if (n < 0)
		return SM_TLV_MALFORMED;
	sm_tlv_reader_init(&r, payload, len);
	while (sm_tlv_next(&r, &tag, &val, &vlen) == 1)
		if ((n = fn(ctx, tag, val, vlen)) < 0)
			return n;
	return 0;
}

int sm_tlv_get_nums(const void *payload, size_t len, struct sm_tlv_num *nums, size_t n)
{
	struct sm_tlv_reader r;
	const uint8_t *val;
	uint32_t vlen;
	uint16_t tag;
	int k;

	for (size_t i = 0; i < n; i++) {
		nums[i].seen = false;
		nums[i].value = 0;
	}
	sm_tlv_reader_init(&r, payload, len);
	while ((k = sm_tlv_next(&r, &tag, &val, &vlen)) == 1) {
		for (size_t i = 0; i < n; i++) {
			if (nums[i].tag != tag)
				continue;
			if (nums[i].seen || vlen != nums[i].size || (vlen != 4 && vlen != 8))
				return -EINVAL;
			nums[i].value =
			    (uint64_t)get_le32(val) | (vlen == 8 ? (uint64_t)get_le32(val + 4) << 32 : 0);
			nums[i].seen = true;
		}
	}
	return k < 0 ? -EPROTO : 0;
}

const char *sm_tlv_get_nums_why(const void *payload, size_t len, size_t max, struct sm_tlv_num *nums,
				size_t n)
{
	int r;

	if (len > max)
		return "payload too large";
	r = sm_tlv_get_nums(payload, len, nums, n);
	if (r == -EPROTO)
		return "truncated field";
	return r < 0 ? "a field is repeated or of the wrong size" : NULL;
}
