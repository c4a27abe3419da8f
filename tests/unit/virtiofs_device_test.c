/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-fs device tests: the test plays the Linux virtio_mmio + virtio_fs drivers through the
 * real virtio-mmio transport (sm_virtio_mmio_*) against the real device and FUSE server over a
 * temporary directory. Guest RAM is a fake memory (a malloc'd buffer); requests are FUSE
 * messages placed in it as descriptor chains, answered by the device's worker threads.
 */
#include <linux/fuse.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/fuzz/fuse_req.h"
#include "tests/tap.h"
#include "tests/unit/virtio_ring.h"
#include "virtiofs/device.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/virtio.h"

#define MEM_SIZE (16u << 20)
#define DATA_START (FAKE_GPA + (1u << 20)) /* below: the rings */
#define QSIZE 64
#define NREQ 2 /* request queues */
#define NQ (1 + NREQ)
#define BASE 0xd0000000ull
#define IRQ 5
#define DAX_GPA 0x200000000ull
#define HELLO "hello from the host\n"
#define BIG_SIZE (64u << 10)
#define WAIT_MS 10000

struct env {
	uint8_t *buf;
	struct sm_guest_mem mem;
	struct fake_ring q[NQ]; /* all over buf */
	uint16_t next_desc[NQ];
	uint64_t data_next;
	struct sm_virtiofs_dev *fs;
	struct sm_virtio_dev *t;
	int irq_raised; /* __atomic: raised on worker threads */
	uint64_t unique;
};

static char dir[64];

static const char *path_in(const char *name)
{
	static char p[128];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

static void set_irq(void *opaque, uint32_t irq, bool level)
{
	struct env *e = opaque;

	if (level && irq == IRQ)
		__atomic_add_fetch(&e->irq_raised, 1, __ATOMIC_SEQ_CST);
}

static uint32_t rd(struct env *e, uint64_t off)
{
	uint32_t v;

	sm_virtio_mmio_read(e->t, off, &v, 4);
	return le32toh(v);
}

static void wr(struct env *e, uint64_t off, uint32_t v)
{
	v = htole32(v);
	sm_virtio_mmio_write(e->t, off, &v, 4);
}

static void base_config(struct sm_virtiofs_dev_config *c)
{
	sm_virtiofs_dev_config_init(c);
	c->fuse.root = dir;
	c->num_request_queues = NREQ;
}

/* Device + transport over a fresh fake RAM. false (with a diagnostic) when creation fails. */
static bool env_init(struct env *e, const struct sm_virtiofs_dev_config *c)
{
	struct sm_virtio_mmio_config mc;
	sm_error_t err = SM_ERROR_INIT;
	unsigned int i;

	memset(e, 0, sizeof(*e));
	e->buf = sm_xcalloc(1, MEM_SIZE);
	sm_guest_mem_init_fake(&e->mem, FAKE_GPA, e->buf, MEM_SIZE);
	for (i = 0; i < NQ; i++) {
		e->q[i].buf = e->buf;
		e->q[i].mem = e->mem;
		e->q[i].size = QSIZE;
		e->q[i].desc = FAKE_GPA + 0x10000ull * i;
		e->q[i].avail = e->q[i].desc + 0x1000;
		e->q[i].used = e->q[i].desc + 0x2000;
	}
	if (sm_virtiofs_dev_new(c, &e->fs, &err) < 0) {
		tap_diag("sm_virtiofs_dev_new: %s", err.msg);
		free(e->buf);
		return false;
	}
	mc = (struct sm_virtio_mmio_config){BASE, IRQ, &e->mem, set_irq, e};
	if (sm_virtio_mmio_new(&mc, sm_virtiofs_dev_ops(e->fs), sm_virtiofs_dev_priv(e->fs), &e->t, &err) <
	    0) {
		tap_diag("sm_virtio_mmio_new: %s", err.msg);
		sm_virtiofs_dev_free(e->fs);
		free(e->buf);
		return false;
	}
	return true;
}

/* The VMM's teardown order: the device (joins its workers) before the transport. */
static void env_free(struct env *e)
{
	sm_virtiofs_dev_free(e->fs);
	sm_virtio_mmio_free(e->t);
	free(e->buf);
}

static uint64_t read_features(struct env *e)
{
	uint64_t f;

	wr(e, SM_VMMIO_DEVICE_FEATURES_SEL, 1);
	f = (uint64_t)rd(e, SM_VMMIO_DEVICE_FEATURES) << 32;
	wr(e, SM_VMMIO_DEVICE_FEATURES_SEL, 0);
	return f | rd(e, SM_VMMIO_DEVICE_FEATURES);
}

static void setup_queue(struct env *e, unsigned int qi)
{
	struct fake_ring *q = &e->q[qi];

	wr(e, SM_VMMIO_QUEUE_SEL, qi);
	wr(e, SM_VMMIO_QUEUE_NUM, QSIZE);
	wr(e, SM_VMMIO_QUEUE_DESC_LOW, (uint32_t)q->desc);
	wr(e, SM_VMMIO_QUEUE_DESC_HIGH, (uint32_t)(q->desc >> 32));
	wr(e, SM_VMMIO_QUEUE_DRIVER_LOW, (uint32_t)q->avail);
	wr(e, SM_VMMIO_QUEUE_DRIVER_HIGH, (uint32_t)(q->avail >> 32));
	wr(e, SM_VMMIO_QUEUE_DEVICE_LOW, (uint32_t)q->used);
	wr(e, SM_VMMIO_QUEUE_DEVICE_HIGH, (uint32_t)(q->used >> 32));
	wr(e, SM_VMMIO_QUEUE_READY, 1);
}

/* Linux's virtio_mmio probe + virtio_fs probe; returns the final status. */
static uint32_t driver_init(struct env *e)
{
	uint64_t want = SM_VIRTIO_BIT(SM_VIRTIO_F_VERSION_1) | SM_VIRTIO_BIT(SM_VIRTIO_F_EVENT_IDX) |
			SM_VIRTIO_BIT(SM_VIRTIO_F_INDIRECT_DESC);
	unsigned int i;

	memset(e->buf, 0, 0x10000ull * NQ); /* the driver allocates zeroed rings */
	for (i = 0; i < NQ; i++) {
		e->q[i].avail_idx = 0;
		e->next_desc[i] = 0;
	}
	e->data_next = DATA_START;
	wr(e, SM_VMMIO_STATUS, 0);
	wr(e, SM_VMMIO_STATUS, SM_VIRTIO_S_ACKNOWLEDGE);
	wr(e, SM_VMMIO_STATUS, rd(e, SM_VMMIO_STATUS) | SM_VIRTIO_S_DRIVER);
	wr(e, SM_VMMIO_DRIVER_FEATURES_SEL, 1);
	wr(e, SM_VMMIO_DRIVER_FEATURES, (uint32_t)((read_features(e) & want) >> 32));
	wr(e, SM_VMMIO_DRIVER_FEATURES_SEL, 0);
	wr(e, SM_VMMIO_DRIVER_FEATURES, (uint32_t)(read_features(e) & want));
	wr(e, SM_VMMIO_STATUS, rd(e, SM_VMMIO_STATUS) | SM_VIRTIO_S_FEATURES_OK);
	for (i = 0; i < NQ; i++)
		setup_queue(e, i);
	wr(e, SM_VMMIO_STATUS, rd(e, SM_VMMIO_STATUS) | SM_VIRTIO_S_DRIVER_OK);
	return rd(e, SM_VMMIO_STATUS);
}

#define STATUS_RUNNING                                                                                       \
	(SM_VIRTIO_S_ACKNOWLEDGE | SM_VIRTIO_S_DRIVER | SM_VIRTIO_S_FEATURES_OK | SM_VIRTIO_S_DRIVER_OK)

static uint64_t galloc(struct env *e, size_t len)
{
	uint64_t gpa = e->data_next;

	e->data_next = (e->data_next + len + 15) & ~15ull;
	if (e->data_next > FAKE_GPA + MEM_SIZE)
		abort();
	return gpa;
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

/* Put segs as one chain on queue qi (through an indirect table when indirect) and publish it. */
static uint16_t post(struct env *e, unsigned int qi, const struct seg *s, unsigned int n, bool indirect)
{
	struct fake_ring *q = &e->q[qi];
	uint16_t head = e->next_desc[qi], d = head;
	unsigned int i;

	if (indirect) {
		uint64_t table = galloc(e, 16u * n);

		for (i = 0; i < n; i++)
			fake_set_desc_at(fake_ptr(q, table), (uint16_t)i, s[i].gpa, s[i].len,
					 (s[i].writable ? SM_VRING_DESC_F_WRITE : 0) |
					     (i + 1 < n ? SM_VRING_DESC_F_NEXT : 0),
					 (uint16_t)(i + 1));
		fake_set_desc(q, head, table, 16u * n, SM_VRING_DESC_F_INDIRECT, 0);
		e->next_desc[qi] = (uint16_t)((head + 1) % QSIZE);
	} else {
		for (i = 0; i < n; i++) {
			uint16_t next = (uint16_t)((d + 1) % QSIZE);

			fake_set_desc(q, d, s[i].gpa, s[i].len,
				      (s[i].writable ? SM_VRING_DESC_F_WRITE : 0) |
					  (i + 1 < n ? SM_VRING_DESC_F_NEXT : 0),
				      next);
			d = next;
		}
		e->next_desc[qi] = d;
	}
	fake_avail_add(q, head);
	return head;
}

static void kick(struct env *e, unsigned int qi)
{
	wr(e, SM_VMMIO_QUEUE_NOTIFY, qi);
}

static uint16_t used_idx(struct env *e, unsigned int qi)
{
	return __atomic_load_n((uint16_t *)fake_ptr(&e->q[qi], e->q[qi].used + 2), __ATOMIC_ACQUIRE);
}

/* Wait (the worker answers asynchronously) until the used index of qi reaches idx. */
static bool wait_used(struct env *e, unsigned int qi, uint16_t idx)
{
	uint64_t end = sm_now_ns() + WAIT_MS * 1000000ull;

	while ((int16_t)(used_idx(e, qi) - idx) < 0) {
		if (sm_now_ns() > end)
			return false;
		usleep(200);
	}
	return true;
}

/* A request's in buffer: header + arg + extra in guest RAM; returns its guest address. */
static uint64_t put_request(struct env *e, uint32_t opcode, uint64_t nodeid, const void *arg, size_t argsz,
			    const void *extra, size_t extralen)
{
	size_t len = sizeof(struct fuse_in_header) + argsz + extralen;
	uint64_t gpa = galloc(e, len);

	fuse_req_put(fake_ptr(&e->q[0], gpa), len, opcode, ++e->unique, nodeid, arg, argsz, extra, extralen);
	return gpa;
}

struct reply {
	uint32_t used_len;
	struct fuse_out_header oh;
	uint8_t *payload; /* host pointer into guest RAM after the out header */
};

/*
 * Send one request on qi as Linux does (readable: header | args, writable: out header | reply)
 * and wait for its completion. false when it did not complete in time.
 */
static bool call(struct env *e, unsigned int qi, uint32_t opcode, uint64_t nodeid, const void *arg,
		 size_t argsz, const void *extra, size_t extralen, uint32_t outsz, bool indirect,
		 struct reply *r)
{
	uint64_t in = put_request(e, opcode, nodeid, arg, argsz, extra, extralen);
	uint64_t out = galloc(e, sizeof(struct fuse_out_header) + outsz);
	struct seg s[4] = {{in, sizeof(struct fuse_in_header), false},
			   {in + sizeof(struct fuse_in_header), (uint32_t)(argsz + extralen), false},
			   {out, sizeof(struct fuse_out_header), true},
			   {out + sizeof(struct fuse_out_header), outsz, true}};
	uint16_t before = used_idx(e, qi), head;
	uint32_t id;

	head = post(e, qi, s, outsz ? 4 : 3, indirect);
	kick(e, qi);
	if (!wait_used(e, qi, (uint16_t)(before + 1)))
		return false;
	fake_used_elem(&e->q[qi], before, &id, &r->used_len);
	memcpy(&r->oh, fake_ptr(&e->q[qi], out), sizeof(r->oh));
	r->payload = fake_ptr(&e->q[qi], out + sizeof(r->oh));
	return id == head && r->oh.unique == e->unique;
}

static bool fuse_init(struct env *e, unsigned int qi, uint32_t flags, struct fuse_init_out *o)
{
	struct fuse_init_in in = {.major = FUSE_KERNEL_VERSION, .minor = 41, .max_readahead = 1u << 20};
	struct reply r;

	in.flags = flags | FUSE_INIT_EXT;
	if (!call(e, qi, FUSE_INIT, 0, &in, sizeof(in), NULL, 0, sizeof(*o), false, &r))
		return false;
	memcpy(o, r.payload, sizeof(*o));
	return r.oh.error == 0 && r.used_len == sizeof(r.oh) + sizeof(*o);
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_config_errors(void)
{
	struct sm_virtiofs_dev_config c;
	struct sm_virtiofs_dev *fs = NULL;
	sm_error_t err = SM_ERROR_INIT;

	base_config(&c);
	c.tag = "";
	ok(sm_virtiofs_dev_new(&c, &fs, &err) < 0 && strstr(err.msg, "tag"), "empty tag refused: %s",
	   err.msg);
	c.tag = "0123456789012345678901234567890123456"; /* 37 bytes */
	ok(sm_virtiofs_dev_new(&c, &fs, &err) < 0, "37-byte tag refused");
	c.tag = "my root";
	ok(sm_virtiofs_dev_new(&c, &fs, &err) < 0, "tag with a space refused");
	base_config(&c);
	c.num_request_queues = 0;
	ok(sm_virtiofs_dev_new(&c, &fs, &err) < 0 && strstr(err.msg, "num_request_queues"),
	   "0 request queues refused: %s", err.msg);
	c.num_request_queues = 16;
	ok(sm_virtiofs_dev_new(&c, &fs, &err) < 0, "16 request queues refused (17 virtqueues)");
	base_config(&c);
	c.queue_size = 100;
	ok(sm_virtiofs_dev_new(&c, &fs, &err) < 0 && strstr(err.msg, "queue_size"),
	   "queue size 100 refused: %s", err.msg);
	base_config(&c);
	c.fuse.dax_window_size = 2u << 20;
	c.dax_gpa = DAX_GPA + 4096;
	ok(sm_virtiofs_dev_new(&c, &fs, &err) < 0 && strstr(err.msg, "DAX"), "unaligned DAX base refused: %s",
	   err.msg);
	base_config(&c);
	c.fuse.root = "/nonexistent/sm-vfsdev";
	ok(sm_virtiofs_dev_new(&c, &fs, &err) < 0 && strstr(err.msg, "sm-root"),
	   "missing shared directory refused, naming the tag: %s", err.msg);
	ok(fs == NULL, "no device handed out on failure");
	sm_virtiofs_dev_free(NULL);
}

static void test_probe(void)
{
	struct sm_virtiofs_dev_config c;
	uint8_t tag[SM_VIRTIOFS_TAG_MAX], b;
	uint64_t f;
	uint32_t v;
	void *hva = NULL;
	uint64_t gpa, size;
	struct env e;
	unsigned int i;

	base_config(&c);
	if (!env_init(&e, &c)) {
		ok(0, "create the device");
		return;
	}
	ok(rd(&e, SM_VMMIO_DEVICE_ID) == 26, "device id 26 (virtio-fs)");
	f = read_features(&e);
	ok((f & SM_VIRTIO_BIT(SM_VIRTIO_F_VERSION_1)) && !(f & 1),
	   "VERSION_1 offered, NOTIFICATION (bit 0) not");
	for (i = 0; i < sizeof(tag); i++) {
		sm_virtio_mmio_read(e.t, SM_VMMIO_CONFIG + i, &b, 1); /* virtio_cread_bytes reads bytes */
		tag[i] = b;
	}
	ok(memcmp(tag, "sm-root", 7) == 0 && tag[7] == 0 && tag[35] == 0,
	   "config tag is \"sm-root\", NUL padded");
	sm_virtio_mmio_read(e.t, SM_VMMIO_CONFIG + 36, &v, 4);
	ok(le32toh(v) == NREQ, "config num_request_queues = %u", le32toh(v));
	sm_virtio_mmio_read(e.t, SM_VMMIO_CONFIG + 40, &v, 4);
	ok(v == 0, "config notify_buf_size = 0");
	wr(&e, SM_VMMIO_SHM_SEL, 0);
	ok(rd(&e, SM_VMMIO_SHM_LEN_LOW) == UINT32_MAX && rd(&e, SM_VMMIO_SHM_LEN_HIGH) == UINT32_MAX,
	   "no shared memory region 0 without DAX");
	ok(!sm_virtiofs_dev_dax(e.fs, &hva, &gpa, &size) && hva == NULL, "DAX accessor: off");
	ok(strcmp(sm_virtiofs_dev_mount_options(e.fs), "") == 0 &&
	       strcmp(sm_virtiofs_dev_tag(e.fs), "sm-root") == 0,
	   "mount hints: tag sm-root, no options");
	wr(&e, SM_VMMIO_QUEUE_SEL, NQ);
	ok(rd(&e, SM_VMMIO_QUEUE_NUM_MAX) == 0, "no queue %u", NQ);
	wr(&e, SM_VMMIO_QUEUE_SEL, NQ - 1);
	ok(rd(&e, SM_VMMIO_QUEUE_NUM_MAX) == SM_VIRTIOFS_DEFAULT_QUEUE_SIZE, "queue %u has QueueNumMax %u",
	   NQ - 1, SM_VIRTIOFS_DEFAULT_QUEUE_SIZE);
	ok(driver_init(&e) == STATUS_RUNNING, "the Linux init sequence reaches DRIVER_OK");
	env_free(&e);
}

static void test_requests(void)
{
	struct sm_virtiofs_dev_config c;
	struct sm_virtiofs_dev_stats st;
	struct fuse_init_out io;
	struct fuse_entry_out eo;
	struct fuse_attr_out ao;
	struct fuse_getattr_in gi = {0};
	struct fuse_open_in oi = {.flags = O_RDONLY};
	struct fuse_open_out oo;
	struct fuse_read_in ri = {0};
	struct fuse_forget_in fi = {.nlookup = 1};
	struct reply r;
	struct env e;
	uint64_t fgpa;
	uint16_t before, head;
	uint32_t id, len, isr;
	struct seg s[2];

	base_config(&c);
	if (!env_init(&e, &c)) {
		ok(0, "create the device");
		return;
	}
	ok(driver_init(&e) == STATUS_RUNNING, "driver ready");
	ok(fuse_init(&e, 1, FUSE_MAX_PAGES | FUSE_ASYNC_READ, &io), "FUSE_INIT answered on request queue 1");
	ok(io.major == FUSE_KERNEL_VERSION && io.minor == FUSE_KERNEL_MINOR_VERSION &&
	       io.max_write == 1u << 20,
	   "INIT reply: %u.%u, max_write %u", io.major, io.minor, io.max_write);
	isr = rd(&e, SM_VMMIO_INTERRUPT_STATUS);
	ok((isr & SM_VIRTIO_INT_VRING) && __atomic_load_n(&e.irq_raised, __ATOMIC_SEQ_CST) >= 1,
	   "used-buffer interrupt raised (isr 0x%x)", isr);
	wr(&e, SM_VMMIO_INTERRUPT_ACK, isr);

	ok(call(&e, 1, FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "hello.txt", sizeof("hello.txt"), sizeof(eo),
		false, &r),
	   "LOOKUP answered");
	memcpy(&eo, r.payload, sizeof(eo));
	ok(r.oh.error == 0 && eo.nodeid != 0 && eo.attr.size == strlen(HELLO) && r.used_len == r.oh.len &&
	       r.used_len == sizeof(r.oh) + sizeof(eo),
	   "LOOKUP hello.txt: nodeid %llu, size %llu, used len %u", (unsigned long long)eo.nodeid,
	   (unsigned long long)eo.attr.size, r.used_len);
	ok(call(&e, 1, FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "nope", sizeof("nope"), sizeof(eo), false, &r) &&
	       (r.oh.error == -ENOENT ||
		(r.oh.error == 0 && ((struct fuse_entry_out *)r.payload)->nodeid == 0)),
	   "LOOKUP of a missing name: negative entry or ENOENT");
	ok(call(&e, 1, FUSE_GETATTR, eo.nodeid, &gi, sizeof(gi), NULL, 0, sizeof(ao), false, &r),
	   "GETATTR answered");
	memcpy(&ao, r.payload, sizeof(ao));
	ok(r.oh.error == 0 && S_ISREG(ao.attr.mode) && ao.attr.size == strlen(HELLO),
	   "GETATTR: regular, %llu bytes", (unsigned long long)ao.attr.size);

	/* The second request queue, with an indirect table as Linux builds its chains. */
	ok(call(&e, 2, FUSE_OPEN, eo.nodeid, &oi, sizeof(oi), NULL, 0, sizeof(oo), true, &r) &&
	       r.oh.error == 0,
	   "OPEN on request queue 2 (indirect chain): error %d", r.oh.error);
	memcpy(&oo, r.payload, sizeof(oo));
	ri.fh = oo.fh;
	ri.size = 4096;
	ok(call(&e, 2, FUSE_READ, eo.nodeid, &ri, sizeof(ri), NULL, 0, 4096, true, &r), "READ answered");
	ok(r.oh.error == 0 && r.used_len == sizeof(r.oh) + strlen(HELLO) &&
	       memcmp(r.payload, HELLO, strlen(HELLO)) == 0,
	   "READ returns the host file's bytes (used len %u)", r.used_len);

	/* FORGET on hiprio: no reply, answered inline by the notifying thread. */
	fgpa = put_request(&e, FUSE_FORGET, eo.nodeid, &fi, sizeof(fi), NULL, 0);
	s[0] = (struct seg){fgpa, (uint32_t)(sizeof(struct fuse_in_header) + sizeof(fi)), false};
	before = used_idx(&e, 0);
	head = post(&e, 0, s, 1, false);
	kick(&e, 0);
	ok(used_idx(&e, 0) == (uint16_t)(before + 1), "FORGET on hiprio is done when the kick returns");
	fake_used_elem(&e.q[0], before, &id, &len);
	ok(id == head && len == 0, "FORGET: used length 0");

	sm_virtiofs_dev_stats(e.fs, &st);
	ok(st.requests == 6 && st.hiprio_requests == 1 && st.malformed_chains == 0 && st.unanswered == 0,
	   "stats: %llu requests, %llu hiprio", (unsigned long long)st.requests,
	   (unsigned long long)st.hiprio_requests);
	/* Freed while active (no driver reset): the workers are stopped by the free. */
	env_free(&e);
}

static void test_bad_chains(void)
{
	struct sm_virtiofs_dev_config c;
	struct sm_virtiofs_dev_stats st;
	struct sm_virtio_mmio_stats ms;
	struct fuse_init_out io;
	struct fuse_getattr_in gi = {0};
	struct env e;
	struct seg s[2];
	uint64_t in;
	uint16_t before, head;
	uint32_t id, len, status;
	uint64_t end;

	base_config(&c);
	if (!env_init(&e, &c)) {
		ok(0, "create the device");
		return;
	}
	ok(driver_init(&e) == STATUS_RUNNING && fuse_init(&e, 1, 0, &io), "driver ready, session up");

	/* A writable buffer far outside guest RAM. */
	in = put_request(&e, FUSE_GETATTR, FUSE_ROOT_ID, &gi, sizeof(gi), NULL, 0);
	s[0] = (struct seg){in, (uint32_t)(sizeof(struct fuse_in_header) + sizeof(gi)), false};
	s[1] = (struct seg){0xdead00000000ull, 4096, true};
	before = used_idx(&e, 1);
	head = post(&e, 1, s, 2, false);
	kick(&e, 1);
	ok(wait_used(&e, 1, (uint16_t)(before + 1)), "chain with a buffer outside guest RAM is returned");
	fake_used_elem(&e.q[1], before, &id, &len);
	sm_virtiofs_dev_stats(e.fs, &st);
	ok(id == head && len == 0 && st.malformed_chains == 1, "... with length 0, counted as malformed: %s",
	   st.last_error);
	ok(!(rd(&e, SM_VMMIO_STATUS) & SM_VIRTIO_S_NEEDS_RESET), "... and the device keeps working");

	/* A reply buffer too small for a fuse_out_header: unanswerable, returned with length 0. */
	in = put_request(&e, FUSE_GETATTR, FUSE_ROOT_ID, &gi, sizeof(gi), NULL, 0);
	s[0] = (struct seg){in, (uint32_t)(sizeof(struct fuse_in_header) + sizeof(gi)), false};
	s[1] = (struct seg){galloc(&e, 8), 8, true};
	before = used_idx(&e, 1);
	post(&e, 1, s, 2, false);
	kick(&e, 1);
	ok(wait_used(&e, 1, (uint16_t)(before + 1)), "chain with an 8-byte reply buffer is returned");
	fake_used_elem(&e.q[1], before, &id, &len);
	sm_virtiofs_dev_stats(e.fs, &st);
	ok(len == 0 && st.unanswered == 1, "... with length 0, counted as unanswered: %s", st.last_error);

	/* The available index jumps by more than the queue size: the ring is broken. */
	fake_set_avail_idx(&e.q[2], (uint16_t)(e.q[2].avail_idx + 3 * QSIZE));
	kick(&e, 2);
	end = sm_now_ns() + WAIT_MS * 1000000ull;
	while (!((status = rd(&e, SM_VMMIO_STATUS)) & SM_VIRTIO_S_NEEDS_RESET) && sm_now_ns() < end)
		usleep(200);
	sm_virtio_mmio_stats(e.t, &ms);
	ok((status & SM_VIRTIO_S_NEEDS_RESET) && strstr(ms.needs_reset_reason, "virtio-fs") != NULL,
	   "broken available ring: DEVICE_NEEDS_RESET (%s)", ms.needs_reset_reason);
	ok(rd(&e, SM_VMMIO_INTERRUPT_STATUS) & SM_VIRTIO_INT_CONFIG, "... with a config-change interrupt");

	/* The driver resets the device and starts over: a new session works. */
	ok(driver_init(&e) == STATUS_RUNNING && fuse_init(&e, 1, 0, &io) && io.major == FUSE_KERNEL_VERSION,
	   "after reset and re-init, FUSE_INIT works again");
	env_free(&e);
}

struct resetter {
	struct env *e;
	int done; /* __atomic */
};

static void *reset_thread(void *arg)
{
	struct resetter *r = arg;

	wr(r->e, SM_VMMIO_STATUS, 0);
	__atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Wait until the lease on fd is being broken, i.e. someone is blocked opening the file. */
static bool wait_lease_break(int fd)
{
	uint64_t end = sm_now_ns() + WAIT_MS * 1000000ull;

	while (fcntl(fd, F_GETLEASE) == F_WRLCK) {
		if (sm_now_ns() > end)
			return false;
		usleep(200);
	}
	return true;
}

/*
 * A host file system that blocks: the test holds a write lease on big.bin, so the worker's open()
 * for FUSE_OPEN sleeps in the host kernel until the lease is released. Meanwhile the kick must
 * return at once and a reset must wait for that request, drop the ones queued behind it, and
 * leave no worker touching the rings.
 */
static void test_reset_busy(void)
{
	struct sm_virtiofs_dev_config c;
	struct fuse_init_out io;
	struct fuse_entry_out eo;
	struct fuse_open_in oi = {.flags = O_RDONLY};
	struct fuse_getattr_in gi = {0};
	struct resetter rs;
	struct reply r;
	struct env e;
	pthread_t th;
	uint16_t base, after;
	unsigned int i;
	int fd;

	base_config(&c);
	if (!env_init(&e, &c)) {
		ok(0, "create the device");
		return;
	}
	ok(driver_init(&e) == STATUS_RUNNING && fuse_init(&e, 1, 0, &io) &&
	       call(&e, 1, FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "big.bin", sizeof("big.bin"), sizeof(eo),
		    false, &r) &&
	       r.oh.error == 0,
	   "session up, big.bin looked up");
	memcpy(&eo, r.payload, sizeof(eo));
	fd = open(path_in("big.bin"), O_RDWR);
	if (fd < 0 || fcntl(fd, F_SETLEASE, F_WRLCK) < 0) {
		tap_skip(
		    "cannot take a write lease on a file in /tmp: no blocking host file system to test with");
		if (fd >= 0)
			close(fd);
		env_free(&e);
		return;
	}
	base = used_idx(&e, 1);
	post(&e, 1,
	     (struct seg[]){{put_request(&e, FUSE_OPEN, eo.nodeid, &oi, sizeof(oi), NULL, 0),
			     sizeof(struct fuse_in_header) + sizeof(oi), false},
			    {galloc(&e, 64), 64, true}},
	     2, false);
	for (i = 0; i < 3; i++)
		post(&e, 1,
		     (struct seg[]){{put_request(&e, FUSE_GETATTR, eo.nodeid, &gi, sizeof(gi), NULL, 0),
				     sizeof(struct fuse_in_header) + sizeof(gi), false},
				    {galloc(&e, 128), 128, true}},
		     2, false);
	kick(&e, 1);
	ok(used_idx(&e, 1) == base, "the kick returned while the request is still pending");
	ok(wait_lease_break(fd), "the worker is blocked in the host's open() (lease break pending)");

	rs = (struct resetter){&e, 0};
	if (pthread_create(&th, NULL, reset_thread, &rs) != 0)
		abort();
	usleep(100 * 1000);
	ok(!__atomic_load_n(&rs.done, __ATOMIC_SEQ_CST), "the reset waits for the request in progress");
	fcntl(fd, F_SETLEASE, F_UNLCK);
	pthread_join(th, NULL);
	close(fd);
	after = (uint16_t)(used_idx(&e, 1) - base);
	ok(after <= 1, "the requests queued behind it were dropped (%u of 4 answered)", after);
	usleep(50 * 1000);
	ok((uint16_t)(used_idx(&e, 1) - base) == after && rd(&e, SM_VMMIO_STATUS) == 0,
	   "after the reset returned, nothing touches the used ring");
	ok(driver_init(&e) == STATUS_RUNNING && fuse_init(&e, 1, 0, &io),
	   "the device works after that reset");
	env_free(&e);
}

static void test_dax(void)
{
	struct sm_virtiofs_dev_config c;
	struct fuse_init_out io;
	struct fuse_entry_out eo;
	struct fuse_setupmapping_in si = {0};
	struct reply r;
	struct env e;
	void *hva = NULL;
	uint64_t gpa = 0, size = 0;

	base_config(&c);
	c.fuse.dax_window_size = 2u << 20;
	c.dax_gpa = DAX_GPA;
	if (!env_init(&e, &c)) {
		ok(0, "create the device with a DAX window");
		return;
	}
	wr(&e, SM_VMMIO_SHM_SEL, 0);
	ok(rd(&e, SM_VMMIO_SHM_LEN_LOW) == (2u << 20) && rd(&e, SM_VMMIO_SHM_LEN_HIGH) == 0 &&
	       rd(&e, SM_VMMIO_SHM_BASE_LOW) == (uint32_t)DAX_GPA &&
	       rd(&e, SM_VMMIO_SHM_BASE_HIGH) == (uint32_t)(DAX_GPA >> 32),
	   "shared memory region 0: the DAX window at its guest address");
	wr(&e, SM_VMMIO_SHM_SEL, 1);
	ok(rd(&e, SM_VMMIO_SHM_LEN_LOW) == UINT32_MAX, "no region 1");
	ok(sm_virtiofs_dev_dax(e.fs, &hva, &gpa, &size) && hva != NULL && (uintptr_t)hva % (2u << 20) == 0 &&
	       gpa == DAX_GPA && size == 2u << 20,
	   "DAX accessor: 2 MiB aligned host window, gpa and size");
	ok(strcmp(sm_virtiofs_dev_mount_options(e.fs), "dax=always") == 0, "mount hint: dax=always");
	ok(driver_init(&e) == STATUS_RUNNING && fuse_init(&e, 1, FUSE_MAP_ALIGNMENT, &io) &&
	       (io.flags & FUSE_MAP_ALIGNMENT) && io.map_alignment == 12,
	   "INIT grants MAP_ALIGNMENT (4 KiB)");
	ok(call(&e, 1, FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "hello.txt", sizeof("hello.txt"), sizeof(eo),
		false, &r) &&
	       r.oh.error == 0,
	   "LOOKUP hello.txt");
	memcpy(&eo, r.payload, sizeof(eo));
	si.fh = UINT64_MAX; /* Linux names the file by nodeid */
	si.len = 4096;
	si.flags = FUSE_SETUPMAPPING_FLAG_READ;
	si.moffset = 1u << 20;
	ok(call(&e, 1, FUSE_SETUPMAPPING, eo.nodeid, &si, sizeof(si), NULL, 0, 0, false, &r) &&
	       r.oh.error == 0,
	   "SETUPMAPPING through the device: error %d", r.oh.error);
	ok(memcmp((uint8_t *)hva + (1u << 20), HELLO, strlen(HELLO)) == 0,
	   "the file shows up in the window the VMM maps into the guest");
	env_free(&e);
}

/* A mounted share with an open file: save, restore into a new device, READ through the old fh. */
static void test_snapshot_used(struct env *e, struct sm_virtiofs_dev_config *c)
{
	struct fuse_open_in oi = {.flags = O_RDONLY};
	struct fuse_read_in ri = {.size = 64};
	struct sm_fuse_restore_stats rs;
	struct sm_state_reader rdr;
	sm_error_t err = SM_ERROR_INIT;
	struct fuse_init_out io;
	struct fuse_entry_out eo;
	struct fuse_open_out oo;
	struct sm_state_buf b;
	uint16_t next_desc[NQ], avail_idx[NQ];
	uint64_t data_next, unique;
	struct reply r;
	struct env e2;
	uint8_t *ram;
	size_t pos;

	base_config(c); /* the caller changed the tag */
	sm_state_buf_init(&b);
	ok(fuse_init(e, 1, 0, &io) &&
	       call(e, 1, FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "hello.txt", sizeof("hello.txt"), sizeof(eo),
		    false, &r) &&
	       r.oh.error == 0,
	   "mount and LOOKUP before the save");
	memcpy(&eo, r.payload, sizeof(eo));
	ok(call(e, 1, FUSE_OPEN, eo.nodeid, &oi, sizeof(oi), NULL, 0, sizeof(oo), false, &r) &&
	       r.oh.error == 0,
	   "OPEN before the save");
	memcpy(&oo, r.payload, sizeof(oo));
	ok(sm_virtio_mmio_save(e->t, &b, &err) == 0, "save of a used share: %s", err.msg);
	pos = b.len;
	ram = sm_xmalloc(MEM_SIZE); /* guest RAM as saved, before the resumed device serves more */
	memcpy(ram, e->buf, MEM_SIZE);
	data_next = e->data_next;
	unique = e->unique;
	memcpy(next_desc, e->next_desc, sizeof(next_desc));
	for (unsigned int i = 0; i < NQ; i++)
		avail_idx[i] = e->q[i].avail_idx;
	ok(sm_virtiofs_dev_resume(e->fs, &err) == 0 &&
	       call(e, 1, FUSE_GETATTR, eo.nodeid, &(struct fuse_getattr_in){0},
		    sizeof(struct fuse_getattr_in), NULL, 0, sizeof(struct fuse_attr_out), false, &r) &&
	       r.oh.error == 0,
	   "after resume the saved device still serves requests");
	if (!env_init(&e2, c)) {
		ok(0, "create the restore target");
		sm_state_buf_free(&b);
		free(ram);
		return;
	}
	memcpy(e2.buf, ram, MEM_SIZE);
	free(ram);
	sm_state_reader_init(&rdr, b.data, b.len);
	ok(sm_virtio_mmio_restore(e2.t, &rdr, &err) == 0 && rdr.off == pos, "restore of a used share: %s",
	   err.msg);
	sm_virtiofs_dev_restore_stats(e2.fs, &rs);
	ok(rs.inodes == 1 && rs.stale_inodes == 0 && rs.handles == 1 && rs.stale_handles == 0,
	   "restore found the inode and the handle again (%u/%u, %u/%u)", rs.inodes, rs.stale_inodes,
	   rs.handles, rs.stale_handles);
	e2.data_next = data_next;
	e2.unique = unique;
	memcpy(e2.next_desc, next_desc, sizeof(e2.next_desc));
	for (unsigned int i = 0; i < NQ; i++)
		e2.q[i].avail_idx = avail_idx[i]; /* the driver's own counters live in the test */
	ri.fh = oo.fh;
	ok(call(&e2, 1, FUSE_READ, eo.nodeid, &ri, sizeof(ri), NULL, 0, 64, false, &r) && r.oh.error == 0 &&
	       r.used_len == sizeof(r.oh) + strlen(HELLO) && memcmp(r.payload, HELLO, strlen(HELLO)) == 0,
	   "READ through the fh opened before the snapshot, without a new INIT (error %d)", r.oh.error);
	env_free(&e2);
	sm_state_buf_free(&b);
}

static void test_snapshot(void)
{
	struct sm_virtiofs_dev_config c;
	struct sm_state_buf b;
	struct sm_state_reader rdr;
	sm_error_t err = SM_ERROR_INIT;
	struct fuse_init_out io;
	struct env e, e2, e3;
	size_t pos;

	base_config(&c);
	if (!env_init(&e, &c)) {
		ok(0, "create the device");
		return;
	}
	sm_state_buf_init(&b);
	ok(driver_init(&e) == STATUS_RUNNING && sm_virtio_mmio_save(e.t, &b, &err) == 0,
	   "save of a probed, unused device: %s", err.msg);
	pos = b.len;
	if (env_init(&e2, &c)) {
		memcpy(e2.buf, e.buf, MEM_SIZE); /* the saved guest RAM */
		sm_state_reader_init(&rdr, b.data, b.len);
		ok(sm_virtio_mmio_restore(e2.t, &rdr, &err) == 0 && rdr.off == pos,
		   "restore into the same config: %s", err.msg);
		e2.data_next = DATA_START;
		e2.unique = 0;
		ok(rd(&e2, SM_VMMIO_STATUS) == STATUS_RUNNING && fuse_init(&e2, 1, 0, &io),
		   "the restored device serves FUSE_INIT");
		env_free(&e2);
	}
	c.tag = "other";
	if (env_init(&e3, &c)) {
		sm_error_clear(&err);
		sm_state_reader_init(&rdr, b.data, b.len);
		ok(sm_virtio_mmio_restore(e3.t, &rdr, &err) < 0 && strstr(err.msg, "tag") != NULL,
		   "restore into a device with another tag fails: %s", err.msg);
		env_free(&e3);
	}
	sm_state_buf_free(&b);
	test_snapshot_used(&e, &c);
	env_free(&e);
}

/* ---- setup ----------------------------------------------------------------------------------- */

static bool make_share(void)
{
	static char big[BIG_SIZE];
	int fd;
	bool good;

	snprintf(dir, sizeof(dir), "/tmp/sm-vfsdev-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return false;
	fd = open(path_in("hello.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	good = fd >= 0 && sm_write_all(fd, HELLO, strlen(HELLO)) == 0;
	if (fd >= 0)
		close(fd);
	memset(big, 'x', sizeof(big));
	fd = open(path_in("big.bin"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	good = good && fd >= 0 && sm_write_all(fd, big, sizeof(big)) == 0;
	if (fd >= 0)
		close(fd);
	return good;
}

static void remove_share(void)
{
	unlink(path_in("hello.txt"));
	unlink(path_in("big.bin"));
	rmdir(dir);
}

int main(void)
{
	/* Breaking our own file lease (test_reset_busy) sends us SIGIO, fatal by default. */
	signal(SIGIO, SIG_IGN);
	if (!make_share()) {
		remove_share();
		tap_skip_all("cannot create a temporary directory in /tmp");
	}
	test_config_errors();
	test_probe();
	test_requests();
	test_bad_chains();
	test_reset_busy();
	test_dax();
	test_snapshot();
	remove_share();
	return tap_done();
}
