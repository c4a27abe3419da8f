/* SPDX-License-Identifier: Apache-2.0 */
/* Split virtqueue tests over a fake guest memory: the test plays the guest driver. */
#include <string.h>
#include <sys/mman.h>

#include "tests/tap.h"
#include "tests/unit/virtio_ring.h"
#include "vmm/virtio/virtqueue.h"

#define F_EVENT_IDX (1ull << SM_VIRTIO_F_EVENT_IDX)
#define F_INDIRECT (1ull << SM_VIRTIO_F_INDIRECT_DESC)
#define RD 0
#define WR SM_VRING_DESC_F_WRITE
#define NX SM_VRING_DESC_F_NEXT
#define IND SM_VRING_DESC_F_INDIRECT

struct t {
	struct fake_ring r;
	struct sm_virtq vq;
	struct sm_virtq_chain c;
	sm_error_t err;
};

static void setup(struct t *t, uint16_t size, uint64_t features)
{
	memset(t, 0, sizeof(*t));
	fake_ring_init(&t->r, size);
	sm_virtq_init(&t->vq, 0);
	sm_virtq_chain_init(&t->c);
	if (sm_virtq_enable(&t->vq, &t->r.mem, size, t->r.desc, t->r.avail, t->r.used, features, &t->err) <
	    0) {
		printf("Bail out! enable: %s\n", t->err.msg);
		exit(1);
	}
}

static void teardown(struct t *t)
{
	sm_virtq_disable(&t->vq);
	sm_virtq_destroy(&t->vq);
	sm_virtq_chain_free(&t->c);
	fake_ring_free(&t->r);
}

static void test_enable_checks(void)
{
	struct fake_ring r;
	struct sm_virtq vq;
	sm_error_t err = SM_ERROR_INIT;
	uint64_t end = FAKE_GPA + FAKE_MEM_SIZE;

	fake_ring_init(&r, 8);
	sm_virtq_init(&vq, 3);
	ok(sm_virtq_enable(&vq, &r.mem, 0, r.desc, r.avail, r.used, 0, &err) < 0, "size 0 refused: %s",
	   err.msg);
	ok(sm_virtq_enable(&vq, &r.mem, 48, r.desc, r.avail, r.used, 0, &err) < 0 &&
	       strstr(err.msg, "power of two"),
	   "size 48 refused: %s", err.msg);
	ok(sm_virtq_enable(&vq, &r.mem, 8, r.desc + 8, r.avail, r.used, 0, &err) < 0 &&
	       strstr(err.msg, "misaligned"),
	   "misaligned descriptor table refused: %s", err.msg);
	ok(sm_virtq_enable(&vq, &r.mem, 8, r.desc, r.avail + 1, r.used, 0, &err) < 0,
	   "odd available ring refused");
	ok(sm_virtq_enable(&vq, &r.mem, 8, r.desc, r.avail, r.used + 2, 0, &err) < 0,
	   "misaligned used ring refused");
	ok(sm_virtq_enable(&vq, &r.mem, 8, end - 64, r.avail, r.used, 0, &err) < 0 &&
	       strstr(err.msg, "virtqueue 3"),
	   "descriptor table past the end of RAM refused: %s", err.msg);
	ok(sm_virtq_enable(&vq, &r.mem, 8, r.desc, 0x1000, r.used, 0, &err) < 0 &&
	       strstr(err.msg, "available"),
	   "available ring below RAM refused: %s", err.msg);
	ok(sm_virtq_enable(&vq, &r.mem, 8, r.desc, r.avail, 0xfffffffffffffff0ull, 0, &err) < 0,
	   "used ring at an overflowing address refused");
	ok(!sm_virtq_ready(&vq), "still disabled after failures");
	ok(sm_virtq_enable(&vq, &r.mem, 8, r.desc, r.avail, r.used, 0, &err) == 0 && sm_virtq_ready(&vq),
	   "good rings accepted");
	sm_virtq_disable(&vq);
	ok(!sm_virtq_ready(&vq), "disabled");
	sm_virtq_destroy(&vq);
	fake_ring_free(&r);
}

static void test_normal_chain(void)
{
	struct t t;
	uint64_t a, b, w;
	char hdr[16] = "hello, device!", got[16] = {0};
	uint32_t id, len;

	setup(&t, 16, 0);
	a = fake_alloc(&t.r, 16);
	b = fake_alloc(&t.r, 100);
	w = fake_alloc(&t.r, 64);
	memcpy(fake_ptr(&t.r, a), hdr, sizeof(hdr));
	fake_set_desc(&t.r, 5, a, 16, RD | NX, 9);
	fake_set_desc(&t.r, 9, b, 100, RD | NX, 2);
	fake_set_desc(&t.r, 2, w, 64, WR, 0);
	ok(sm_virtq_pop(&t.vq, &t.c, &t.err) == 0, "empty ring pops nothing");
	fake_avail_add(&t.r, 5);
	ok(sm_virtq_pop(&t.vq, &t.c, &t.err) == 1, "chain popped");
	ok(t.c.head == 5 && t.c.ndesc == 3, "head 5, 3 descriptors (head %u, ndesc %u)", t.c.head, t.c.ndesc);
	ok(t.c.nrd == 2 && t.c.nwr == 1 && t.c.rd_len == 116 && t.c.wr_len == 64,
	   "2 readable (116 B), 1 writable (64 B)");
	ok(t.c.iov[0].iov_base == fake_ptr(&t.r, a) && t.c.iov[1].iov_base == fake_ptr(&t.r, b) &&
	       t.c.iov[2].iov_base == fake_ptr(&t.r, w) && t.c.iov[2].iov_len == 64,
	   "iovecs point at the guest buffers");
	ok(sm_virtq_chain_read(&t.c, 0, got, sizeof(got)) == 16 && memcmp(got, hdr, 16) == 0, "chain_read");
	ok(sm_virtq_chain_read(&t.c, 110, got, 16) == 6, "chain_read stops at the end of the readable part");
	ok(sm_virtq_chain_write(&t.c, 60, "abcdefgh", 8) == 4 &&
	       memcmp(fake_ptr(&t.r, w + 60), "abcd", 4) == 0,
	   "chain_write stops at the end of the writable part");
	ok(sm_virtq_push(&t.vq, t.c.head, 64, &t.err) == 1, "push wants an interrupt (flags 0)");
	fake_used_elem(&t.r, 0, &id, &len);
	ok(fake_used_idx(&t.r) == 1 && id == 5 && len == 64, "used ring: idx 1, {5, 64}");
	ok(sm_virtq_pop(&t.vq, &t.c, &t.err) == 0, "ring empty again");

	fake_set_avail_flags(&t.r, SM_VRING_AVAIL_F_NO_INTERRUPT);
	fake_set_desc(&t.r, 3, w, 8, WR, 0);
	fake_avail_add(&t.r, 3);
	ok(sm_virtq_pop(&t.vq, &t.c, &t.err) == 1 && t.c.nrd == 0 && t.c.nwr == 1, "writable-only chain");
	ok(sm_virtq_push(&t.vq, 3, 8, &t.err) == 0, "NO_INTERRUPT suppresses the interrupt");
	ok(sm_virtq_push(&t.vq, 16, 0, &t.err) == -EINVAL, "pushing a head outside the queue fails: %s",
	   t.err.msg);
	teardown(&t);
}

static void test_zero_len_and_long_chain(void)
{
	struct t t;
	uint64_t b = 0;
	uint16_t i;
	int r;

	setup(&t, 32, 0);
	fake_set_desc(&t.r, 0, 0xdead0000, 0, RD | NX, 1);
	fake_set_desc(&t.r, 1, fake_alloc(&t.r, 8), 8, WR, 0);
	fake_avail_add(&t.r, 0);
	ok(sm_virtq_pop(&t.vq, &t.c, &t.err) == 1 && t.c.nrd == 0 && t.c.nwr == 1 && t.c.ndesc == 2,
	   "a zero-length descriptor is accepted and yields no iovec");
	sm_virtq_push(&t.vq, 0, 0, &t.err);

	for (i = 0; i < 32; i++) {
		b = fake_alloc(&t.r, 4);
		fake_set_desc(&t.r, i, b, 4, (i < 20 ? RD : WR) | (i < 31 ? NX : 0), i + 1);
	}
	fake_avail_add(&t.r, 0);
	r = sm_virtq_pop(&t.vq, &t.c, &t.err);
	ok(r == 1 && t.c.nrd == 20 && t.c.nwr == 12 && t.c.ndesc == 32,
	   "a chain as long as the queue is accepted (%u+%u)", t.c.nrd, t.c.nwr);
	ok(t.c.iov[31].iov_base == fake_ptr(&t.r, b), "last iovec is the last buffer");
	teardown(&t);
}

static void test_indirect(void)
{
	struct t t;
	uint64_t tab, tab2, a, w;
	uint8_t *tp;

	setup(&t, 8, F_INDIRECT);
	tab = fake_alloc(&t.r, 48);
	a = fake_alloc(&t.r, 32);
	w = fake_alloc(&t.r, 32);
	tp = fake_ptr(&t.r, tab);
	fake_set_desc_at(tp, 0, a, 10, RD | NX, 2);
	fake_set_desc_at(tp, 2, a + 10, 22, RD | NX, 1);
	fake_set_desc_at(tp, 1, w, 32, WR, 0);
	fake_set_desc(&t.r, 4, tab, 48, IND | WR, 0); /* WRITE on the table descriptor is ignored */
	fake_avail_add(&t.r, 4);
	ok(sm_virtq_pop(&t.vq, &t.c, &t.err) == 1, "indirect chain popped: %s", t.err.msg);
	ok(t.c.head == 4 && t.c.nrd == 2 && t.c.nwr == 1 && t.c.rd_len == 32 && t.c.wr_len == 32 &&
	       t.c.ndesc == 3,
	   "indirect: 2 readable, 1 writable, head 4");
	ok(t.c.iov[1].iov_base == fake_ptr(&t.r, a + 10) && t.c.iov[2].iov_base == fake_ptr(&t.r, w),
	   "indirect iovecs follow the table's next links");
	sm_virtq_push(&t.vq, 4, 32, &t.err);

	tab2 = fake_alloc(&t.r, 16);
	fake_set_desc_at(fake_ptr(&t.r, tab2), 0, w, 16, WR, 0);
	fake_set_desc(&t.r, 0, a, 8, RD | NX, 1);
	fake_set_desc(&t.r, 1, tab2, 16, IND, 0);
	fake_avail_add(&t.r, 0);
	ok(sm_virtq_pop(&t.vq, &t.c, &t.err) == 1 && t.c.nrd == 1 && t.c.nwr == 1,
	   "direct descriptors followed by an indirect table");
	teardown(&t);
}

static void test_event_idx(void)
{
	struct t t;
	uint64_t w;
	int i, r;

	setup(&t, 8, F_EVENT_IDX);
	w = fake_alloc(&t.r, 64);
	for (i = 0; i < 8; i++)
		fake_set_desc(&t.r, i, w, 8, WR, 0);
	ok(sm_virtq_pop(&t.vq, &t.c, &t.err) == 0 && fake_avail_event(&t.r) == 0,
	   "empty pop arms avail_event 0");
	fake_avail_add(&t.r, 0);
	fake_avail_add(&t.r, 1);
	ok(sm_virtq_pop(&t.vq, &t.c, &t.err) == 1 && sm_virtq_pop(&t.vq, &t.c, &t.err) == 1,
	   "two chains popped");
	r = sm_virtq_pop(&t.vq, &t.c, &t.err);
	ok(r == 0 && fake_avail_event(&t.r) == 2, "finding the ring empty sets avail_event to 2 (got %u)",
	   fake_avail_event(&t.r));
	fake_set_used_event(&t.r, 0);
	ok(sm_virtq_push(&t.vq, 0, 8, &t.err) == 1, "first push notifies (used_event 0 reached)");
	ok(sm_virtq_push(&t.vq, 1, 8, &t.err) == 0, "second push does not (used_event 0 already passed)");
	fake_set_used_event(&t.r, 2);
	fake_avail_add(&t.r, 2);
	fake_avail_add(&t.r, 3);
	sm_virtq_pop(&t.vq, &t.c, &t.err);
	sm_virtq_pop(&t.vq, &t.c, &t.err);
	ok(sm_virtq_push(&t.vq, 2, 8, &t.err) == 1, "push of used entry 2 notifies (used_event 2)");
	ok(sm_virtq_push(&t.vq, 3, 8, &t.err) == 0, "push of used entry 3 does not");
	fake_set_avail_flags(&t.r, SM_VRING_AVAIL_F_NO_INTERRUPT);
	fake_set_used_event(&t.r, 4);
	fake_avail_add(&t.r, 4);
	sm_virtq_pop(&t.vq, &t.c, &t.err);
	ok(sm_virtq_push(&t.vq, 4, 8, &t.err) == 1, "with EVENT_IDX the NO_INTERRUPT flag is ignored");
	fake_set_used_event(&t.r, 5);
	fake_avail_add(&t.r, 5);
	fake_avail_add(&t.r, 6);
	sm_virtq_pop(&t.vq, &t.c, &t.err);
	sm_virtq_pop(&t.vq, &t.c, &t.err);
	ok(sm_virtq_push(&t.vq, 5, 8, &t.err) + sm_virtq_push(&t.vq, 6, 8, &t.err) == 1,
	   "of two pushes only the one reaching used_event notifies");
	teardown(&t);
}

static void test_wrap(void)
{
	struct t t;
	struct sm_virtq_indices idx = {65534, 65534, 65534, true};
	uint64_t w;
	uint32_t id, len;
	uint16_t i;
	int good = 1;

	setup(&t, 4, 0);
	w = fake_alloc(&t.r, 16);
	for (i = 0; i < 4; i++)
		fake_set_desc(&t.r, i, w, 16, WR, 0);
	sm_virtq_set_indices(&t.vq, &idx);
	fake_set_avail_idx(&t.r, 65534);
	fake_put16(&t.r, t.r.used + 2, 65534);
	for (i = 0; i < 4; i++)
		fake_avail_add(&t.r, (uint16_t)(3 - i));
	ok(t.r.avail_idx == 2, "driver's available index wrapped to 2");
	for (i = 0; i < 4; i++) {
		good &= sm_virtq_pop(&t.vq, &t.c, &t.err) == 1 && t.c.head == 3 - i;
		good &= sm_virtq_push(&t.vq, t.c.head, i, &t.err) >= 0;
	}
	ok(good, "four chains popped and pushed across the 16-bit wrap");
	ok(sm_virtq_pop(&t.vq, &t.c, &t.err) == 0, "then the ring is empty");
	ok(fake_used_idx(&t.r) == 2, "used index wrapped to 2 (got %u)", fake_used_idx(&t.r));
	fake_used_elem(&t.r, 65535, &id, &len);
	ok(id == 2 && len == 1, "used entry 65535 (slot 3) is {2, 1}");
	fake_used_elem(&t.r, 0, &id, &len);
	ok(id == 1 && len == 2, "used entry 0 (slot 0) is {1, 2}");
	sm_virtq_get_indices(&t.vq, &idx);
	ok(idx.last_avail == 2 && idx.used_idx == 2, "indices read back: %u/%u", idx.last_avail,
	   idx.used_idx);
	teardown(&t);
}

/* Make one chain available at head, pop it and check the result and the message. */
static void expect_pop(struct t *t, uint16_t head, int want, const char *needle, const char *what)
{
	int r;

	fake_avail_add(&t->r, head);
	sm_error_clear(&t->err);
	r = sm_virtq_pop(&t->vq, &t->c, &t->err);
	ok(r == want && strstr(t->err.msg, needle) != NULL, "%s: %d (%s)", what, r, t->err.msg);
	if (r == -EINVAL)
		sm_virtq_push(&t->vq, t->c.head, 0, &t->err);
}

static void test_malformed(void)
{
	struct t t;
	uint64_t end = FAKE_GPA + FAKE_MEM_SIZE, b, tab;
	uint8_t *tp;
	int i;

	setup(&t, 4, F_INDIRECT);
	b = fake_alloc(&t.r, 64);
	fake_set_desc(&t.r, 0, end, 16, RD, 0);
	expect_pop(&t, 0, -EINVAL, "not in guest RAM", "buffer just past the end of RAM");
	fake_set_desc(&t.r, 0, end - 8, 16, RD, 0);
	expect_pop(&t, 0, -EINVAL, "not in guest RAM", "buffer straddling the end of RAM");
	fake_set_desc(&t.r, 0, 0xfffffffffffffff0ull, 0x100, WR, 0);
	expect_pop(&t, 0, -EINVAL, "not in guest RAM", "address + length overflows");
	fake_set_desc(&t.r, 0, b, 8, RD | NX, 1);
	fake_set_desc(&t.r, 1, b, 8, RD | NX, 0);
	expect_pop(&t, 0, -EINVAL, "longer than the queue size", "loop 0 -> 1 -> 0");
	fake_set_desc(&t.r, 2, b, 8, RD | NX, 2);
	expect_pop(&t, 2, -EINVAL, "longer than the queue size", "descriptor chained to itself");
	fake_set_desc(&t.r, 0, b, 8, RD | NX, 4);
	expect_pop(&t, 0, -EINVAL, "outside the descriptor table", "next out of range");
	fake_set_desc(&t.r, 0, b, 8, WR | NX, 1);
	fake_set_desc(&t.r, 1, b, 8, RD, 0);
	expect_pop(&t, 0, -EINVAL, "readable buffer after a device-writable", "readable after writable");

	tab = fake_alloc(&t.r, 16 * 5);
	tp = fake_ptr(&t.r, tab);
	for (i = 0; i < 5; i++)
		fake_set_desc_at(tp, i, b, 4, RD | (i < 4 ? NX : 0), i + 1);
	fake_set_desc(&t.r, 3, tab, 80, IND, 0);
	expect_pop(&t, 3, -EINVAL, "longer than the queue size", "indirect chain of 5 in a queue of 4");
	fake_set_desc_at(tp, 0, b, 4, RD | NX, 0);
	expect_pop(&t, 3, -EINVAL, "longer than the queue size", "indirect loop");
	fake_set_desc_at(tp, 0, tab, 16, IND, 0);
	expect_pop(&t, 3, -EINVAL, "nested indirect", "nested indirect table");
	fake_set_desc_at(tp, 0, b, 4, RD | NX, 7);
	expect_pop(&t, 3, -EINVAL, "outside the indirect table", "indirect next out of range");
	fake_set_desc_at(tp, 0, b, 4, RD, 0);
	fake_set_desc(&t.r, 3, tab, 16, IND | NX, 1);
	expect_pop(&t, 3, -EINVAL, "NEXT set", "indirect descriptor with NEXT");
	fake_set_desc(&t.r, 3, tab, 20, IND, 0);
	expect_pop(&t, 3, -EINVAL, "multiple of 16", "indirect table of 20 bytes");
	fake_set_desc(&t.r, 3, tab, 0, IND, 0);
	expect_pop(&t, 3, -EINVAL, "multiple of 16", "empty indirect table");
	fake_set_desc(&t.r, 3, end - 16, 32, IND, 0);
	expect_pop(&t, 3, -EINVAL, "indirect table", "indirect table past the end of RAM");
	fake_set_desc(&t.r, 3, tab, 16, IND, 0);
	expect_pop(&t, 3, 1, "", "the queue still works after malformed chains");
	sm_virtq_push(&t.vq, 3, 0, &t.err);

	fake_put16(&t.r, t.r.avail + 4 + 2 * (t.r.avail_idx % 4), 4);
	fake_set_avail_idx(&t.r, t.r.avail_idx + 1);
	ok(sm_virtq_pop(&t.vq, &t.c, &t.err) == -EIO && strstr(t.err.msg, "names head 4"),
	   "head out of range is ring corruption: %s", t.err.msg);
	fake_set_avail_idx(&t.r, t.r.avail_idx + 5);
	ok(sm_virtq_pop(&t.vq, &t.c, &t.err) == -EIO && strstr(t.err.msg, "jumped"),
	   "available index jumping by 5 in a queue of 4: %s", t.err.msg);
	teardown(&t);

	setup(&t, 4, 0);
	fake_set_desc(&t.r, 0, fake_alloc(&t.r, 16), 16, IND, 0);
	expect_pop(&t, 0, -EINVAL, "not negotiated", "indirect without the feature");
	sm_virtq_disable(&t.vq);
	ok(sm_virtq_pop(&t.vq, &t.c, &t.err) == -EIO && sm_virtq_push(&t.vq, 0, 0, &t.err) == -EIO,
	   "a disabled queue refuses pop and push: %s", t.err.msg);
	teardown(&t);
}

/* More than 4 GiB described by a chain: needs a large (reserved, untouched) fake RAM. */
static void test_chain_bytes_limit(void)
{
	size_t size = 3ull << 30;
	struct sm_guest_mem mem;
	struct sm_virtq vq;
	struct sm_virtq_chain c;
	sm_error_t err = SM_ERROR_INIT;
	uint8_t *buf =
	    mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint64_t base = 0x100000;
	int r;

	if (buf == MAP_FAILED) {
		tap_skip("cannot reserve 3 GiB of address space for the chain size limit test");
		return;
	}
	sm_guest_mem_init_fake(&mem, base, buf, size);
	sm_virtq_init(&vq, 0);
	sm_virtq_chain_init(&c);
	sm_virtq_enable(&vq, &mem, 4, base, base + 64, base + 128, 0, &err);
	fake_set_desc_at(buf, 0, base + 4096, 0x80000000u, RD | NX, 1);
	fake_set_desc_at(buf, 1, base + 4096, 0x7fffffffu, RD | NX, 2);
	fake_set_desc_at(buf, 2, base + 4096, 1, WR, 0);
	memset(buf + 64, 0, 16);
	buf[64 + 2] = 1; /* avail idx 1, ring[0] = 0 */
	r = sm_virtq_pop(&vq, &c, &err);
	ok(r == 1 && c.rd_len == 0xffffffffull && c.wr_len == 1,
	   "a chain of exactly 2^32 bytes is accepted (%d)", r);
	sm_virtq_push(&vq, 0, 0, &err);
	fake_set_desc_at(buf, 2, base + 4096, 2, WR, 0);
	buf[64 + 2] = 2;
	r = sm_virtq_pop(&vq, &c, &err);
	ok(r == -EINVAL && strstr(err.msg, "more than"), "one more byte is refused: %s", err.msg);
	sm_virtq_chain_free(&c);
	sm_virtq_destroy(&vq);
	munmap(buf, size);
}

int main(void)
{
	test_enable_checks();
	test_normal_chain();
	test_zero_len_and_long_chain();
	test_indirect();
	test_event_idx();
	test_wrap();
	test_malformed();
	test_chain_bytes_limit();
	return tap_done();
}
