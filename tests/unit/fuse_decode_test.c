/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Malformed requests: truncated headers, lengths that disagree with the buffers, oversize
 * requests, strings without NUL, payloads of the wrong size. Requests are placed right before a
 * PROT_NONE guard page, so reading one byte past the buffer would crash the test.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/tap.h"
#include "tests/unit/fuse_testlib.h"
#include "virtiofs/fuse_internal.h"

static struct ft T;
static uint8_t *guard_base;
static size_t guard_size;

/* A buffer of n bytes ending exactly at a guard page. */
static uint8_t *at_guard(const void *bytes, size_t n)
{
	uint8_t *p = guard_base + guard_size - 4096 - n;

	memcpy(p, bytes, n);
	return p;
}

static size_t build(uint8_t *buf, uint32_t opcode, uint64_t nodeid, uint32_t len_field, const void *body,
		    size_t n)
{
	struct fuse_in_header h = {.len = len_field, .opcode = opcode, .unique = 777, .nodeid = nodeid};

	memcpy(buf, &h, sizeof(h));
	if (n)
		memcpy(buf + sizeof(h), body, n);
	return sizeof(h) + n;
}

static int send_guarded(const uint8_t *req, size_t n, void *reply, size_t cap, size_t *len)
{
	return ft_raw(&T, at_guard(req, n), n, NULL, 0, reply, cap, len);
}

static void test_iov(void)
{
	char a[3] = "abc", b[1] = "d", c[4] = "efgh", out[8] = {0};
	struct iovec v[4] = {{a, 3}, {NULL, 0}, {b, 1}, {c, 4}};
	struct iovec sl[4];
	struct sm_iov_cursor cur;
	int n;

	ok(sm_iov_total(v, 4) == 8, "iov total");
	ok(sm_iov_total(v, -1) == SIZE_MAX && sm_iov_total(v, SM_FUSE_MAX_IOV + 1) == SIZE_MAX,
	   "iov total rejects bad counts");
	{
		struct iovec huge[2] = {{a, SIZE_MAX - 2}, {b, 10}};

		ok(sm_iov_total(huge, 2) == SIZE_MAX, "iov total detects overflow");
	}
	sm_iov_cursor_init(&cur, v, 4, 8);
	ok(sm_iov_read(&cur, out, 5) == 0 && memcmp(out, "abcde", 5) == 0, "read across a zero-length iovec");
	ok(sm_iov_read(&cur, out, 4) == -EINVAL && cur.remaining == 3,
	   "read past the end refused, nothing consumed");
	ok(sm_iov_slice(&cur, 3, sl, 4, &n) == 0 && n == 1 && sl[0].iov_len == 3 && sl[0].iov_base == c + 1,
	   "slice describes the tail in place");
	sm_iov_cursor_init(&cur, v, 4, 8);
	ok(sm_iov_slice(&cur, 8, sl, 2, &n) == -EINVAL, "slice needing more iovecs than allowed refused");
	sm_iov_cursor_init(&cur, v, 4, 8);
	ok(sm_iov_skip(&cur, 2) == 0 && sm_iov_write(&cur, "XYZ", 3) == 0 && a[2] == 'X' && b[0] == 'Y' &&
	       c[0] == 'Z',
	   "write across iovecs");
}

static void test_names(void)
{
	ok(sm_fuse_name_ok("a") && sm_fuse_name_ok("..."), "plain names accepted");
	ok(!sm_fuse_name_ok("") && !sm_fuse_name_ok(".") && !sm_fuse_name_ok("..") &&
	       !sm_fuse_name_ok("a/b") && !sm_fuse_name_ok("/"),
	   "empty, dot, dot-dot and slashed names refused");
}

static void test_malformed(void)
{
	uint8_t buf[512];
	struct fuse_entry_out e;
	size_t n, len;
	int r;

	/* truncated header: not even 40 bytes */
	n = build(buf, FUSE_LOOKUP, FUSE_ROOT_ID, 46, "hello", 6);
	r = send_guarded(buf, 20, &e, sizeof(e), &len);
	ok(r == -EINVAL && T.oh.unique == 0 && T.written == 16, "truncated header: EINVAL reply (%d)", r);

	/* header says more than the buffers hold */
	n = build(buf, FUSE_LOOKUP, FUSE_ROOT_ID, 100, "hello", 6);
	r = send_guarded(buf, n, &e, sizeof(e), &len);
	ok(r == -EINVAL && T.oh.unique == 777, "len larger than the request: EINVAL with its unique (%d)", r);

	/* header says less than the header itself */
	n = build(buf, FUSE_LOOKUP, FUSE_ROOT_ID, 10, "hello", 6);
	r = send_guarded(buf, n, &e, sizeof(e), &len);
	ok(r == -EINVAL, "len smaller than a header: EINVAL (%d)", r);

	/* header shorter than the buffers: the trailing bytes are not part of the name */
	n = build(buf, FUSE_LOOKUP, FUSE_ROOT_ID, 40 + 3, "hel\0lo", 7);
	r = send_guarded(buf, n, &e, sizeof(e), &len);
	ok(r == -EINVAL, "name cut by len has no NUL: EINVAL (%d)", r);

	n = build(buf, FUSE_LOOKUP, FUSE_ROOT_ID, 40 + 5, "hello", 5);
	r = send_guarded(buf, n, &e, sizeof(e), &len);
	ok(r == -EINVAL, "name without NUL at the guard page: EINVAL (%d)", r);

	n = build(buf, FUSE_LOOKUP, FUSE_ROOT_ID, 40 + 8, "a\0\0\0\0\0\0\0", 8);
	r = send_guarded(buf, n, &e, sizeof(e), &len);
	ok(r == -EINVAL, "trailing bytes after the name: EINVAL (%d)", r);

	{
		struct fuse_getattr_in ga = {0};

		n = build(buf, FUSE_GETATTR, FUSE_ROOT_ID, 40 + 8, &ga, 8);
		r = send_guarded(buf, n, &e, sizeof(e), &len);
		ok(r == -EINVAL, "short fixed argument: EINVAL (%d)", r);
	}
	{
		struct fuse_write_in w = {.fh = 0, .size = 8};
		uint8_t wr[sizeof(w) + 4];

		memcpy(wr, &w, sizeof(w));
		memcpy(wr + sizeof(w), "abcd", 4); /* 4 bytes of data where size says 8 */
		n = build(buf, FUSE_WRITE, FUSE_ROOT_ID, (uint32_t)(40 + sizeof(wr)), wr, sizeof(wr));
		r = send_guarded(buf, n, &e, sizeof(e), &len);
		ok(r == -EINVAL, "WRITE whose size disagrees with its data: EINVAL (%d)", r);
	}
	{
		struct {
			struct fuse_setxattr_in_compat {
				uint32_t size, flags;
			} x;
			char rest[8];
		} sx = {{5, 0}, "user.a\0v"};

		n = build(buf, FUSE_SETXATTR, FUSE_ROOT_ID, (uint32_t)(40 + sizeof(sx)), &sx, sizeof(sx));
		r = send_guarded(buf, n, &e, sizeof(e), &len);
		ok(r == -EINVAL, "SETXATTR value length disagrees with size: EINVAL (%d)", r);
	}
	{
		struct fuse_in_header h = {
		    .len = 40 + 16, .opcode = FUSE_LOOKUP, .unique = 9, .nodeid = 1, .total_extlen = 100};

		memcpy(buf, &h, sizeof(h));
		memcpy(buf + 40, "abcdefghijklmno", 16);
		r = send_guarded(buf, 56, &e, sizeof(e), &len);
		ok(r == -EINVAL, "extension length beyond the request: EINVAL (%d)", r);
	}
	{
		struct fuse_init_in in = {.major = 7};

		n = build(buf, FUSE_INIT, 0, 40 + 8, &in, 8);
		r = send_guarded(buf, n, &e, sizeof(e), &len);
		ok(r == -EINVAL, "INIT shorter than 16 bytes: EINVAL (%d)", r);
	}
	{
		/* BATCH_FORGET claiming more entries than it carries: no reply, nothing forgotten wrongly */
		struct {
			struct fuse_batch_forget_in h;
			struct fuse_forget_one one;
		} bf = {{1000, 0}, {FUSE_ROOT_ID, 1}};
		struct fuse_attr a;

		n = build(buf, FUSE_BATCH_FORGET, 0, (uint32_t)(40 + sizeof(bf)), &bf, sizeof(bf));
		r = send_guarded(buf, n, NULL, 0, &len);
		ok(r == 0 && T.written == 0 && T.handle_ret == 0, "bad BATCH_FORGET: no reply, no failure");
		ok(ft_getattr(&T, FUSE_ROOT_ID, &a) == 0, "root still there");
	}
	{
		struct fuse_removemapping_in rm = {.count = 3};

		n = build(buf, FUSE_REMOVEMAPPING, 0, 40 + 4 + 16, &rm, 4);
		memset(buf + 44, 0, 16);
		r = send_guarded(buf, n + 16, &e, sizeof(e), &len);
		ok(r == -EINVAL || r == -ENOSYS, "REMOVEMAPPING count larger than its entries (%d)", r);
	}
}

static void test_split_and_sizes(void)
{
	uint8_t buf[128];
	struct fuse_entry_out e;
	size_t n, len;
	int r;

	ft_spit(ft_path(&T, "split"), "x");
	n = build(buf, FUSE_LOOKUP, FUSE_ROOT_ID, 40 + 6, "split", 6);
	{
		size_t cuts[] = {1, 3, 17, 39, 40, 43};

		r = ft_raw(&T, buf, n, cuts, 6, &e, sizeof(e), &len);
		ok(r == 0 && e.nodeid > 1 && len == sizeof(e), "header and name split over 7 iovecs (%d)", r);
	}
	{
		size_t cuts[] = {0, 0, 40, 40};

		r = ft_raw(&T, buf, n, cuts, 4, &e, sizeof(e), &len);
		ok(r == 0 && e.nodeid > 1, "zero-length iovecs are fine (%d)", r);
	}

	/* reply buffer too small for the fixed reply: refused before acting */
	r = ft_raw(&T, buf, n, NULL, 0, &e, sizeof(e) - 1, &len);
	ok(r == -EINVAL, "LOOKUP with a reply buffer smaller than entry_out: EINVAL (%d)", r);

	/* reply buffer too small for even a header: the chain cannot be answered */
	{
		struct iovec in = {buf, n};
		struct iovec out = {&e, 15};
		sm_error_t err = SM_ERROR_INIT;
		size_t written = 99;

		r = sm_fuse_handle(T.s, &in, 1, &out, 1, &written, &err);
		ok(r < 0 && written == 0 && strstr(err.msg, "reply buffer") != NULL,
		   "15-byte reply buffer: %s", err.msg);
	}
	{
		struct iovec in[SM_FUSE_MAX_IOV + 1];
		struct iovec out = {&e, sizeof(e)};
		sm_error_t err = SM_ERROR_INIT;
		size_t written;

		for (int i = 0; i <= SM_FUSE_MAX_IOV; i++)
			in[i] = (struct iovec){buf, i == 0 ? n : 0};
		r = sm_fuse_handle(T.s, in, SM_FUSE_MAX_IOV + 1, &out, 1, &written, &err);
		ok(r < 0 && written == 0, "more than %d iovecs refused: %s", SM_FUSE_MAX_IOV, err.msg);
	}
	{
		/* a request larger than the negotiated maximum (1 MiB writes) */
		size_t big = (2u << 20);
		uint8_t *req = calloc(1, big);
		struct fuse_in_header h = {
		    .len = (uint32_t)big, .opcode = FUSE_WRITE, .unique = 31, .nodeid = 1};
		struct fuse_write_in w = {.size = (uint32_t)(big - 80)};

		memcpy(req, &h, sizeof(h));
		memcpy(req + 40, &w, sizeof(w));
		r = ft_raw(&T, req, big, NULL, 0, &e, sizeof(e), &len);
		ok(r == -EINVAL && T.oh.unique == 31, "2 MiB request above the 1 MiB maximum: EINVAL (%d)",
		   r);
		free(req);
	}
}

int main(void)
{
	guard_size = 64 * 4096;
	guard_base = mmap(NULL, guard_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard_base == MAP_FAILED || mprotect(guard_base + guard_size - 4096, 4096, PROT_NONE) < 0)
		tap_skip_all("cannot map a guard page");
	test_iov();
	test_names();
	if (!ft_setup(&T, 0))
		tap_skip_all("cannot set up a temporary share (openat2 or /proc missing?)");
	ok(ft_init(&T) == 0, "INIT");
	test_malformed();
	test_split_and_sizes();
	ft_teardown(&T);
	return tap_done();
}
