/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/proto.h"
#include "tests/tap.h"

static void test_roundtrip(void)
{
	struct sm_buf b = {0};
	struct sm_frame_hdr h;
	struct sm_tlv_reader r;
	const uint8_t *val;
	uint32_t len, u32 = 0;
	uint64_t u64 = 0;
	uint16_t tag;
	char *s = NULL;
	size_t off = sm_frame_begin(&b, SM_MSG_CREATE, 7);

	ok(sm_tlv_put_str(&b, 1, "/bin/sh") == 0, "put str");
	ok(sm_tlv_put_u32(&b, 2, 0xdeadbeef) == 0, "put u32");
	ok(sm_tlv_put_u64(&b, 3, 0x0102030405060708ull) == 0, "put u64");
	ok(sm_frame_end(&b, off) == 0, "end frame");
	ok(sm_frame_hdr_decode(b.data, &h) == 0 && h.type == SM_MSG_CREATE && h.stream == 7 &&
		   h.len == b.len - SM_PROTO_HDR_SIZE,
	   "header round trip (len %u)", h.len);
	sm_tlv_reader_init(&r, b.data + SM_PROTO_HDR_SIZE, h.len);
	ok(sm_tlv_next(&r, &tag, &val, &len) == 1 && tag == 1 && sm_tlv_str(val, len, &s) == 0 &&
		   strcmp(s, "/bin/sh") == 0,
	   "string field");
	free(s);
	ok(sm_tlv_next(&r, &tag, &val, &len) == 1 && tag == 2 && sm_tlv_u32(val, len, &u32) == 0 &&
		   u32 == 0xdeadbeef,
	   "u32 field");
	ok(sm_tlv_next(&r, &tag, &val, &len) == 1 && tag == 3 && sm_tlv_u64(val, len, &u64) == 0 &&
		   u64 == 0x0102030405060708ull,
	   "u64 field");
	ok(sm_tlv_next(&r, &tag, &val, &len) == 0, "clean end");
	ok(sm_tlv_u32(val, 3, &u32) == -EPROTO, "wrong size for u32 refused");
	sm_buf_free(&b);
}

static void test_malformed(void)
{
	uint8_t raw[SM_PROTO_HDR_SIZE] = {0};
	uint8_t tlv[] = {1, 0, 10, 0, 0, 0, 'a', 'b'};
	uint8_t nul[] = {'a', 0, 'b'};
	struct sm_frame_hdr h = {.len = SM_PROTO_MAX_PAYLOAD + 1, .type = SM_MSG_STDOUT};
	struct sm_tlv_reader r;
	const uint8_t *val;
	uint32_t len;
	uint16_t tag;
	char *s;

	sm_frame_hdr_encode(&h, raw);
	ok(sm_frame_hdr_decode(raw, &h) == -EMSGSIZE, "oversized frame refused");
	h.len = 0;
	h.type = SM_MSG_TYPE_MAX;
	sm_frame_hdr_encode(&h, raw);
	ok(sm_frame_hdr_decode(raw, &h) == -EPROTO, "unknown type refused");
	h.type = SM_MSG_OK;
	h.flags = 1;
	sm_frame_hdr_encode(&h, raw);
	ok(sm_frame_hdr_decode(raw, &h) == -EPROTO, "non-zero flags refused");
	sm_tlv_reader_init(&r, tlv, sizeof(tlv));
	ok(sm_tlv_next(&r, &tag, &val, &len) == -EPROTO, "length past the end refused");
	sm_tlv_reader_init(&r, tlv, 5);
	ok(sm_tlv_next(&r, &tag, &val, &len) == -EPROTO, "truncated field header refused");
	ok(sm_tlv_str(nul, sizeof(nul), &s) == -EPROTO, "string with NUL refused");
}

struct visits {
	int n, stop_at;
	uint16_t tags[8];
};

static int visit(void *ctx, uint16_t tag, const uint8_t *val, uint32_t len)
{
	struct visits *v = ctx;

	(void)val;
	(void)len;
	if (v->n < 8)
		v->tags[v->n] = tag;
	if (++v->n == v->stop_at)
		return -7;
	return 0;
}

/* sm_tlv_find, sm_tlv_walk and sm_tlv_get_nums over one payload, then over broken ones. */
static void test_helpers(void)
{
	struct sm_buf b = {0};
	struct visits v = {0};
	struct sm_tlv_num nums[] = {{.tag = 2, .size = 4}, {.tag = 3, .size = 8}, {.tag = 9, .size = 4}};
	const uint8_t *val;
	uint32_t len;

	sm_tlv_put_str(&b, 1, "x");
	sm_tlv_put_u32(&b, 2, 0xdeadbeef);
	sm_tlv_put_u64(&b, 3, 0x0102030405060708ull);
	sm_tlv_put_u32(&b, 2, 5);
	ok(sm_tlv_find(b.data, b.len, 2, &val, &len) == 1 && len == 4 && val[0] == 0xef, "find: the first");
	ok(sm_tlv_find(b.data, b.len, 4, &val, &len) == 0, "find: absent");
	ok(sm_tlv_find(b.data, b.len - 1, 4, &val, &len) == -EPROTO, "find: malformed");
	ok(sm_tlv_walk(b.data, b.len, visit, &v) == 0 && v.n == 4 && v.tags[0] == 1 && v.tags[3] == 2,
	   "walk: every field in order (%d)", v.n);
	v = (struct visits){.stop_at = 2};
	ok(sm_tlv_walk(b.data, b.len, visit, &v) == -7 && v.n == 2, "walk: stops at the visitor's error");
	v = (struct visits){0};
	ok(sm_tlv_walk(b.data, b.len - 1, visit, &v) == SM_TLV_MALFORMED && v.n == 0,
	   "walk: a malformed payload is refused before any visit");
	ok(sm_tlv_get_nums(b.data, b.len, nums, 3) == -EINVAL, "nums: a repeated field is refused");
	ok(sm_tlv_get_nums(b.data, b.len - 10, nums, 3) == 0 && nums[0].seen && nums[0].value == 0xdeadbeef &&
	       nums[1].seen && nums[1].value == 0x0102030405060708ull && !nums[2].seen,
	   "nums: u32 and u64 read, the absent one not seen");
	ok(sm_tlv_get_nums(b.data, b.len - 1, nums, 3) == -EPROTO, "nums: malformed payload");
	nums[1].size = 4;
	ok(sm_tlv_get_nums(b.data, b.len - 10, nums, 3) == -EINVAL, "nums: wrong size refused");
	nums[1].size = 8;
	ok(sm_tlv_get_nums_why(b.data, b.len - 10, 4096, nums, 3) == NULL, "nums why: NULL when fine");
	ok(strstr(sm_tlv_get_nums_why(b.data, b.len - 10, 10, nums, 3), "too large") != NULL,
	   "nums why: over the request's limit");
	ok(strstr(sm_tlv_get_nums_why(b.data, b.len - 1, 4096, nums, 3), "truncated") != NULL,
	   "nums why: truncated");
	ok(strstr(sm_tlv_get_nums_why(b.data, b.len, 4096, nums, 3), "repeated") != NULL,
	   "nums why: repeated");
	sm_buf_free(&b);
}

int main(void)
{
	test_roundtrip();
	test_malformed();
	test_helpers();
	return tap_done();
}
