/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-mmio transport tests: the test plays the Linux virtio_mmio driver through the MMIO
 * entry points against a tiny echo device (queue 0 and 1 copy the readable part of each chain
 * into its writable part), over a fake guest memory.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/tap.h"
#include "tests/unit/virtio_ring.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/virtio.h"

#define TEST_DEVICE_ID 0x7e
#define QSIZE 16
#define BASE 0xd0000000ull
#define IRQ 5
#define DEV_FEATURES ((1ull << 0) | (1ull << 5))
#define SHM0_BASE 0x200000000ull
#define SHM0_LEN 0x40000000ull

struct testdev {
	struct sm_virtio_dev *vdev;
	uint8_t config[12];
	int activations, resets, queue_resets, last_queue_reset, malformed, notifies[2];
	int fail_activate;
	uint32_t cookie; /* device state carried by save/restore */
	int slow_notify; /* notify sleeps, to test that reset waits for it */
	int in_notify;	 /* accessed with __atomic builtins: another thread polls it */
	int reset_saw_notify_running;
	struct sm_virtq_chain chain;
};

struct irqlog {
	int raised, lowered;
	bool level;
};

/* The guest side: one fake RAM with the rings of queue 0 and queue 1. */
struct env {
	struct fake_ring q[2];
	struct testdev dev;
	struct irqlog irq;
	struct sm_virtio_dev *t;
};

static void dev_config_read(struct sm_virtio_dev *vdev, uint32_t off, void *data, uint32_t len)
{
	struct testdev *d = sm_virtio_priv(vdev);

	memcpy(data, d->config + off, len);
}

static void dev_config_write(struct sm_virtio_dev *vdev, uint32_t off, const void *data, uint32_t len)
{
	struct testdev *d = sm_virtio_priv(vdev);

	memcpy(d->config + off, data, len);
}

/* The echo device: what a real device's notify handler looks like (see docs/design/virtio.md). */
static void dev_notify(struct sm_virtio_dev *vdev, unsigned int queue)
{
	struct testdev *d = sm_virtio_priv(vdev);
	struct sm_virtq *vq = sm_virtio_queue(vdev, queue);
	sm_error_t err = SM_ERROR_INIT;
	uint8_t buf[256];
	int r;

	__atomic_store_n(&d->in_notify, 1, __ATOMIC_SEQ_CST);
	if (d->slow_notify)
		usleep(100 * 1000);
	d->notifies[queue]++;
	while ((r = sm_virtq_pop(vq, &d->chain, &err)) != 0) {
		size_t n;

		if (r == -EIO) {
			sm_virtio_needs_reset(vdev, "%s", err.msg);
			break;
		}
		if (r == -EINVAL) {
			d->malformed++;
			sm_virtio_complete(vdev, queue, d->chain.head, 0, &err);
			continue;
		}
		n = sm_virtq_chain_read(&d->chain, 0, buf, sizeof(buf));
		n = sm_virtq_chain_write(&d->chain, 0, buf, n);
		sm_virtio_complete(vdev, queue, d->chain.head, (uint32_t)n, &err);
	}
	__atomic_store_n(&d->in_notify, 0, __ATOMIC_SEQ_CST);
}

static int dev_activate(struct sm_virtio_dev *vdev, sm_error_t *err)
{
	struct testdev *d = sm_virtio_priv(vdev);

	d->activations++;
	if (d->fail_activate)
		return sm_error_set(err, 0, "test device refuses to start");
	return 0;
}

static void dev_reset(struct sm_virtio_dev *vdev)
{
	struct testdev *d = sm_virtio_priv(vdev);

	d->resets++;
	if (__atomic_load_n(&d->in_notify, __ATOMIC_SEQ_CST))
		d->reset_saw_notify_running = 1;
	memset(d->config, 0, sizeof(d->config));
}

static void dev_queue_reset(struct sm_virtio_dev *vdev, unsigned int queue)
{
	struct testdev *d = sm_virtio_priv(vdev);

	d->queue_resets++;
	d->last_queue_reset = (int)queue;
}

static int dev_save(struct sm_virtio_dev *vdev, struct sm_state_buf *buf, sm_error_t *err)
{
	struct testdev *d = sm_virtio_priv(vdev);

	sm_state_put_u32(buf, d->cookie);
	sm_state_put(buf, d->config, sizeof(d->config));
	return 0;
}

static int dev_restore(struct sm_virtio_dev *vdev, struct sm_state_reader *r, sm_error_t *err)
{
	struct testdev *d = sm_virtio_priv(vdev);

	if (sm_state_get_u32(r, &d->cookie, err) < 0 ||
	    sm_state_get(r, d->config, sizeof(d->config), err) < 0)
		return -1;
	return 0;
}

static void set_irq(void *opaque, uint32_t irq, bool level)
{
	struct irqlog *l = opaque;

	if (irq != IRQ)
		abort();
	if (level)
		l->raised++;
	else
		l->lowered++;
	l->level = level;
}

static const struct sm_virtio_dev_ops test_ops = {
    .name = "virtio-test",
    .device_id = TEST_DEVICE_ID,
    .num_queues = 2,
    .queue_max_size = QSIZE,
    .features = DEV_FEATURES,
    .config_size = 12,
    .shm = {{0, SHM0_BASE, SHM0_LEN}, {3, 0x300000000ull, 4096}},
    .num_shm = 2,
    .config_read = dev_config_read,
    .config_write = dev_config_write,
    .notify = dev_notify,
    .activate = dev_activate,
    .reset = dev_reset,
    .queue_reset = dev_queue_reset,
    .save = dev_save,
    .restore = dev_restore,
};

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

static uint64_t bad_count(struct env *e)
{
	struct sm_virtio_mmio_stats st;

	sm_virtio_mmio_stats(e->t, &st);
	return st.bad_accesses;
}

/* Fresh rings (the driver allocates and zeroes them at every probe). */
static void rings_init(struct env *e)
{
	struct fake_ring *q1 = &e->q[1];

	memset(e->q[0].buf, 0, FAKE_MEM_SIZE);
	e->q[0].avail_idx = 0;
	e->q[0].data_next = FAKE_GPA + FAKE_DATA_OFF;
	*q1 = e->q[0];
	q1->desc = FAKE_GPA + 0x10000;
	q1->avail = q1->desc + 16 * QSIZE;
	q1->used = q1->avail + 0x1000;
	q1->data_next = FAKE_GPA + FAKE_DATA_OFF + 0x100000;
}

static void env_init(struct env *e)
{
	struct sm_virtio_mmio_config cfg;
	sm_error_t err = SM_ERROR_INIT;

	memset(e, 0, sizeof(*e));
	fake_ring_init(&e->q[0], QSIZE);
	rings_init(e);
	sm_virtq_chain_init(&e->dev.chain);
	cfg = (struct sm_virtio_mmio_config){BASE, IRQ, &e->q[0].mem, set_irq, &e->irq};
	if (sm_virtio_mmio_new(&cfg, &test_ops, &e->dev, &e->t, &err) < 0) {
		printf("Bail out! %s\n", err.msg);
		exit(1);
	}
	e->dev.vdev = e->t;
}

static void env_free(struct env *e)
{
	sm_virtio_mmio_free(e->t);
	sm_virtq_chain_free(&e->dev.chain);
	fake_ring_free(&e->q[0]);
}

/* Linux's vm_get_features / vm_finalize_features. */
static uint64_t read_features(struct env *e)
{
	uint64_t f;

	wr(e, SM_VMMIO_DEVICE_FEATURES_SEL, 1);
	f = (uint64_t)rd(e, SM_VMMIO_DEVICE_FEATURES) << 32;
	wr(e, SM_VMMIO_DEVICE_FEATURES_SEL, 0);
	return f | rd(e, SM_VMMIO_DEVICE_FEATURES);
}

static void write_features(struct env *e, uint64_t f)
{
	wr(e, SM_VMMIO_DRIVER_FEATURES_SEL, 1);
	wr(e, SM_VMMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
	wr(e, SM_VMMIO_DRIVER_FEATURES_SEL, 0);
	wr(e, SM_VMMIO_DRIVER_FEATURES, (uint32_t)f);
}

/* Linux's vm_setup_vq for queue qi. Returns false when the device refused. */
static bool setup_queue(struct env *e, unsigned int qi)
{
	struct fake_ring *q = &e->q[qi];

	wr(e, SM_VMMIO_QUEUE_SEL, qi);
	if (rd(e, SM_VMMIO_QUEUE_READY) != 0 || rd(e, SM_VMMIO_QUEUE_NUM_MAX) < QSIZE)
		return false;
	wr(e, SM_VMMIO_QUEUE_NUM, QSIZE);
	wr(e, SM_VMMIO_QUEUE_DESC_LOW, (uint32_t)q->desc);
	wr(e, SM_VMMIO_QUEUE_DESC_HIGH, (uint32_t)(q->desc >> 32));
	wr(e, SM_VMMIO_QUEUE_DRIVER_LOW, (uint32_t)q->avail);
	wr(e, SM_VMMIO_QUEUE_DRIVER_HIGH, (uint32_t)(q->avail >> 32));
	wr(e, SM_VMMIO_QUEUE_DEVICE_LOW, (uint32_t)q->used);
	wr(e, SM_VMMIO_QUEUE_DEVICE_HIGH, (uint32_t)(q->used >> 32));
	wr(e, SM_VMMIO_QUEUE_READY, 1);
	return rd(e, SM_VMMIO_QUEUE_READY) == 1;
}

/* The driver's probe up to FEATURES_OK; returns whether the device accepted the features. */
static bool probe_features(struct env *e, uint64_t accept)
{
	wr(e, SM_VMMIO_STATUS, 0);
	wr(e, SM_VMMIO_STATUS, SM_VIRTIO_S_ACKNOWLEDGE);
	wr(e, SM_VMMIO_STATUS, rd(e, SM_VMMIO_STATUS) | SM_VIRTIO_S_DRIVER);
	write_features(e, read_features(e) & accept);
	wr(e, SM_VMMIO_STATUS, rd(e, SM_VMMIO_STATUS) | SM_VIRTIO_S_FEATURES_OK);
	return (rd(e, SM_VMMIO_STATUS) & SM_VIRTIO_S_FEATURES_OK) != 0;
}

/* The whole Linux init sequence; returns the final status. */
static uint32_t driver_init(struct env *e, uint64_t accept)
{
	rings_init(e);
	if (!probe_features(e, accept) || !setup_queue(e, 0) || !setup_queue(e, 1))
		return rd(e, SM_VMMIO_STATUS);
	wr(e, SM_VMMIO_STATUS, rd(e, SM_VMMIO_STATUS) | SM_VIRTIO_S_DRIVER_OK);
	return rd(e, SM_VMMIO_STATUS);
}

/* Make a {readable msg, writable 64 bytes} chain available on queue qi; returns the writable gpa. */
static uint64_t add_echo_chain(struct env *e, unsigned int qi, const char *msg)
{
	struct fake_ring *q = &e->q[qi];
	uint16_t head = (uint16_t)((q->avail_idx * 2) % QSIZE);
	uint64_t a = fake_alloc(q, 64), w = fake_alloc(q, 64);

	memcpy(fake_ptr(q, a), msg, strlen(msg));
	fake_set_desc(q, head, a, (uint32_t)strlen(msg), SM_VRING_DESC_F_NEXT, head + 1);
	fake_set_desc(q, head + 1, w, 64, SM_VRING_DESC_F_WRITE, 0);
	fake_avail_add(q, head);
	return w;
}

#define ALL_FEATURES (~0ull)
#define STATUS_RUNNING                                                                                       \
	(SM_VIRTIO_S_ACKNOWLEDGE | SM_VIRTIO_S_DRIVER | SM_VIRTIO_S_FEATURES_OK | SM_VIRTIO_S_DRIVER_OK)

static void test_probe(void)
{
	struct env e;
	uint64_t f;

	env_init(&e);
	ok(rd(&e, SM_VMMIO_MAGIC) == 0x74726976 && rd(&e, SM_VMMIO_VERSION) == 2,
	   "magic \"virt\", version 2");
	ok(rd(&e, SM_VMMIO_DEVICE_ID) == TEST_DEVICE_ID &&
	       rd(&e, SM_VMMIO_VENDOR_ID) == SM_VIRTIO_MMIO_VENDOR,
	   "device and vendor id");
	f = read_features(&e);
	ok(f == (DEV_FEATURES | SM_VIRTIO_BIT(SM_VIRTIO_F_VERSION_1) | SM_VIRTIO_BIT(SM_VIRTIO_F_EVENT_IDX) |
		 SM_VIRTIO_BIT(SM_VIRTIO_F_INDIRECT_DESC) | SM_VIRTIO_BIT(SM_VIRTIO_F_RING_RESET)),
	   "offered features: device bits + VERSION_1, EVENT_IDX, INDIRECT_DESC, RING_RESET (0x%llx)",
	   (unsigned long long)f);
	wr(&e, SM_VMMIO_DEVICE_FEATURES_SEL, 2);
	ok(rd(&e, SM_VMMIO_DEVICE_FEATURES) == 0, "feature word 2 is empty");
	wr(&e, SM_VMMIO_QUEUE_SEL, 1);
	ok(rd(&e, SM_VMMIO_QUEUE_NUM_MAX) == QSIZE && rd(&e, SM_VMMIO_QUEUE_READY) == 0,
	   "queue 1: max 16, not ready");
	wr(&e, SM_VMMIO_QUEUE_SEL, 2);
	ok(rd(&e, SM_VMMIO_QUEUE_NUM_MAX) == 0, "queue 2 does not exist (QueueNumMax 0)");
	ok(bad_count(&e) == 0, "a clean probe has no bad access");
	env_free(&e);
}

static void test_features(void)
{
	struct env e;
	struct sm_virtio_mmio_stats st;

	env_init(&e);
	ok(!probe_features(&e, ~SM_VIRTIO_BIT(SM_VIRTIO_F_VERSION_1)),
	   "FEATURES_OK refused without VERSION_1");
	sm_virtio_mmio_stats(e.t, &st);
	ok(st.features_refused == 1 && strstr(st.last_bad, "VERSION_1"), "refusal counted: %s", st.last_bad);
	wr(&e, SM_VMMIO_STATUS, 0);
	wr(&e, SM_VMMIO_STATUS, SM_VIRTIO_S_ACKNOWLEDGE | SM_VIRTIO_S_DRIVER);
	write_features(&e, SM_VIRTIO_BIT(SM_VIRTIO_F_VERSION_1) | (1ull << 7));
	wr(&e, SM_VMMIO_STATUS, rd(&e, SM_VMMIO_STATUS) | SM_VIRTIO_S_FEATURES_OK);
	ok(!(rd(&e, SM_VMMIO_STATUS) & SM_VIRTIO_S_FEATURES_OK), "FEATURES_OK refused for a bit not offered");
	wr(&e, SM_VMMIO_STATUS, 0);
	wr(&e, SM_VMMIO_STATUS, SM_VIRTIO_S_ACKNOWLEDGE | SM_VIRTIO_S_DRIVER);
	write_features(&e, SM_VIRTIO_BIT(SM_VIRTIO_F_VERSION_1));
	wr(&e, SM_VMMIO_DRIVER_FEATURES_SEL, 2);
	wr(&e, SM_VMMIO_DRIVER_FEATURES, 1);
	wr(&e, SM_VMMIO_STATUS, rd(&e, SM_VMMIO_STATUS) | SM_VIRTIO_S_FEATURES_OK);
	ok(!(rd(&e, SM_VMMIO_STATUS) & SM_VIRTIO_S_FEATURES_OK), "FEATURES_OK refused for a bit in word 2");
	ok(probe_features(&e, SM_VIRTIO_BIT(SM_VIRTIO_F_VERSION_1) | 1), "VERSION_1 + device bit 0 accepted");
	ok(sm_virtio_driver_features(e.t) == (SM_VIRTIO_BIT(SM_VIRTIO_F_VERSION_1) | 1) &&
	       sm_virtio_has_feature(e.t, 0) && !sm_virtio_has_feature(e.t, 5),
	   "the device sees the negotiated features");
	wr(&e, SM_VMMIO_DRIVER_FEATURES, 0x20);
	ok(sm_virtio_driver_features(e.t) == (SM_VIRTIO_BIT(SM_VIRTIO_F_VERSION_1) | 1),
	   "DriverFeatures cannot change after FEATURES_OK");
	env_free(&e);
}

static void test_queues_and_interrupts(void)
{
	struct env e;
	uint64_t w0, w1;
	uint32_t id, len;

	env_init(&e);
	ok(driver_init(&e, ALL_FEATURES) == STATUS_RUNNING && e.dev.activations == 1,
	   "driver init reaches DRIVER_OK");
	ok(e.irq.raised == 0 && rd(&e, SM_VMMIO_INTERRUPT_STATUS) == 0, "no interrupt yet");
	w0 = add_echo_chain(&e, 0, "ping");
	wr(&e, SM_VMMIO_QUEUE_NOTIFY, 0);
	fake_used_elem(&e.q[0], 0, &id, &len);
	ok(e.dev.notifies[0] == 1 && fake_used_idx(&e.q[0]) == 1 && id == 0 && len == 4,
	   "QueueNotify 0 reached the device");
	ok(memcmp(fake_ptr(&e.q[0], w0), "ping", 4) == 0,
	   "the device wrote its reply into the writable buffer");
	ok(e.irq.raised == 1 && e.irq.level && rd(&e, SM_VMMIO_INTERRUPT_STATUS) == SM_VIRTIO_INT_VRING,
	   "used-buffer interrupt raised");
	wr(&e, SM_VMMIO_INTERRUPT_ACK, SM_VIRTIO_INT_VRING);
	ok(rd(&e, SM_VMMIO_INTERRUPT_STATUS) == 0 && e.irq.lowered == 1 && !e.irq.level,
	   "ACK clears and lowers the line");

	w1 = add_echo_chain(&e, 1, "pong!");
	sm_virtio_mmio_notify(e.t, 1); /* the ioeventfd path */
	ok(e.dev.notifies[1] == 1 && memcmp(fake_ptr(&e.q[1], w1), "pong!", 5) == 0,
	   "notify via the ioeventfd entry");
	ok(sm_virtio_mmio_notify_addr(e.t) == BASE + 0x50, "notify address is base + 0x50");
	wr(&e, SM_VMMIO_QUEUE_NOTIFY, 7);
	ok(e.dev.notifies[0] == 1 && e.dev.notifies[1] == 1 && bad_count(&e) == 1,
	   "QueueNotify 7 is a bad access");
	env_free(&e);
}

static void test_config(void)
{
	struct env e;
	uint8_t b = 0;
	uint16_t h = 0;
	uint64_t q = 0;
	uint32_t gen;

	env_init(&e);
	memcpy(e.dev.config, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c", 12);
	sm_virtio_mmio_read(e.t, 0x100 + 3, &b, 1);
	sm_virtio_mmio_read(e.t, 0x100 + 2, &h, 2);
	sm_virtio_mmio_read(e.t, 0x100 + 4, &q, 8);
	ok(b == 4 && le16toh(h) == 0x0403 && le64toh(q) == 0x0c0b0a0908070605ull,
	   "config reads of 1, 2 and 8 bytes");
	ok(rd(&e, 0x108) == 0x0c0b0a09, "config read of 4 bytes");
	wr(&e, 0x104, 0xdeadbeef);
	ok(memcmp(e.dev.config + 4, "\xef\xbe\xad\xde", 4) == 0, "config write reaches the device");
	gen = UINT32_MAX;
	sm_virtio_mmio_read(e.t, 0x100 + 10, &gen, 4);
	ok(gen == 0 && bad_count(&e) == 1, "read across the end of config space: zeros and a bad access");
	sm_virtio_mmio_read(e.t, 0x100 + 1, &q, 3);
	ok(bad_count(&e) == 2, "3-byte config read is a bad access");
	sm_virtio_mmio_write(e.t, 0xfff, &b, 1);
	ok(bad_count(&e) == 3, "write at the end of the window is a bad access");

	driver_init(&e, ALL_FEATURES);
	gen = rd(&e, SM_VMMIO_CONFIG_GENERATION);
	e.dev.config[0] = 0x55;
	sm_virtio_signal_config(e.t);
	ok(rd(&e, SM_VMMIO_CONFIG_GENERATION) == gen + 1, "ConfigGeneration changes with the config");
	ok(rd(&e, SM_VMMIO_INTERRUPT_STATUS) == SM_VIRTIO_INT_CONFIG && e.irq.raised == 1,
	   "config-change interrupt");
	env_free(&e);
}

static void test_shm(void)
{
	struct env e;

	env_init(&e);
	wr(&e, SM_VMMIO_SHM_SEL, 0);
	ok(rd(&e, SM_VMMIO_SHM_LEN_LOW) == (uint32_t)SHM0_LEN && rd(&e, SM_VMMIO_SHM_LEN_HIGH) == 0 &&
	       rd(&e, SM_VMMIO_SHM_BASE_LOW) == 0 && rd(&e, SM_VMMIO_SHM_BASE_HIGH) == 2,
	   "shared memory region 0: 1 GiB at 0x200000000");
	wr(&e, SM_VMMIO_SHM_SEL, 3);
	ok(rd(&e, SM_VMMIO_SHM_LEN_LOW) == 4096 && rd(&e, SM_VMMIO_SHM_BASE_HIGH) == 3, "region 3");
	wr(&e, SM_VMMIO_SHM_SEL, 1);
	ok(rd(&e, SM_VMMIO_SHM_LEN_LOW) == UINT32_MAX && rd(&e, SM_VMMIO_SHM_LEN_HIGH) == UINT32_MAX &&
	       rd(&e, SM_VMMIO_SHM_BASE_LOW) == UINT32_MAX && rd(&e, SM_VMMIO_SHM_BASE_HIGH) == UINT32_MAX,
	   "a missing region reads as length and base -1");
	env_free(&e);
}

static void test_reset(void)
{
	struct env e;
	int resets;

	env_init(&e);
	driver_init(&e, ALL_FEATURES);
	resets = e.dev.resets;
	e.dev.config[0] = 9;
	add_echo_chain(&e, 0, "x");
	wr(&e, SM_VMMIO_QUEUE_NOTIFY, 0);
	wr(&e, SM_VMMIO_DEVICE_FEATURES_SEL, 1);
	wr(&e, SM_VMMIO_QUEUE_SEL, 1);
	wr(&e, SM_VMMIO_SHM_SEL, 3);
	ok(rd(&e, SM_VMMIO_INTERRUPT_STATUS) != 0, "interrupt pending before reset");
	wr(&e, SM_VMMIO_STATUS, 0);
	ok(e.dev.resets == resets + 1 && e.dev.config[0] == 0, "reset reached the device");
	ok(rd(&e, SM_VMMIO_STATUS) == 0 && rd(&e, SM_VMMIO_INTERRUPT_STATUS) == 0 && !e.irq.level,
	   "status and interrupt status are 0, line lowered");
	ok(rd(&e, SM_VMMIO_QUEUE_READY) == 0 && rd(&e, SM_VMMIO_QUEUE_NUM_MAX) == QSIZE,
	   "queue selector back to 0, queue not ready");
	wr(&e, SM_VMMIO_QUEUE_SEL, 1);
	ok(rd(&e, SM_VMMIO_QUEUE_READY) == 0 && !sm_virtq_ready(sm_virtio_queue(e.t, 0)) &&
	       !sm_virtq_ready(sm_virtio_queue(e.t, 1)),
	   "both virtqueues disabled");
	ok(rd(&e, SM_VMMIO_DEVICE_FEATURES) ==
	       (uint32_t)(DEV_FEATURES | SM_VIRTIO_BIT(SM_VIRTIO_F_INDIRECT_DESC) |
			  SM_VIRTIO_BIT(SM_VIRTIO_F_EVENT_IDX)),
	   "feature selector back to 0");
	ok(rd(&e, SM_VMMIO_SHM_LEN_LOW) == (uint32_t)SHM0_LEN, "shm selector back to 0");
	ok(sm_virtio_driver_features(e.t) == 0, "driver features cleared");
	sm_virtio_mmio_notify(e.t, 0);
	ok(e.dev.notifies[0] == 1, "a notify after reset does not reach the device");
	ok(driver_init(&e, ALL_FEATURES) == STATUS_RUNNING && e.dev.activations == 2,
	   "the device can be set up again");
	add_echo_chain(&e, 0, "again");
	wr(&e, SM_VMMIO_QUEUE_NOTIFY, 0);
	ok(e.dev.notifies[0] == 2 && fake_used_idx(&e.q[0]) == 1, "and works, with indices from 0");
	ok(bad_count(&e) == 0, "no bad access in the whole sequence");
	env_free(&e);
}

static void test_bad_accesses(void)
{
	struct env e;
	uint16_t h = 0;
	uint64_t n;

	env_init(&e);
	wr(&e, SM_VMMIO_MAGIC, 1);
	ok(bad_count(&e) == 1 && rd(&e, SM_VMMIO_MAGIC) == SM_VIRTIO_MMIO_MAGIC,
	   "write to MagicValue ignored");
	sm_virtio_mmio_read(e.t, SM_VMMIO_STATUS, &h, 2);
	ok(bad_count(&e) == 2 && h == 0, "16-bit register read refused");
	ok(rd(&e, 0x002) == 0 && bad_count(&e) == 3, "unaligned register read refused");
	ok(rd(&e, SM_VMMIO_QUEUE_NOTIFY) == 0 && bad_count(&e) == 4,
	   "read of write-only QueueNotify refused");
	ok(rd(&e, 0x0f0) == 0 && bad_count(&e) == 5, "read of a reserved offset refused");
	wr(&e, SM_VMMIO_DRIVER_FEATURES, 1);
	ok(bad_count(&e) == 6, "DriverFeatures before DRIVER refused");
	wr(&e, SM_VMMIO_STATUS, SM_VIRTIO_S_DRIVER);
	ok(rd(&e, SM_VMMIO_STATUS) == 0 && bad_count(&e) == 7, "DRIVER without ACKNOWLEDGE refused");
	probe_features(&e, ALL_FEATURES);
	wr(&e, SM_VMMIO_STATUS, rd(&e, SM_VMMIO_STATUS) & ~SM_VIRTIO_S_DRIVER);
	ok(rd(&e, SM_VMMIO_STATUS) & SM_VIRTIO_S_DRIVER, "clearing a status bit refused");
	wr(&e, SM_VMMIO_STATUS, 0);
	wr(&e, SM_VMMIO_STATUS, SM_VIRTIO_S_ACKNOWLEDGE | SM_VIRTIO_S_DRIVER | SM_VIRTIO_S_DRIVER_OK);
	ok(rd(&e, SM_VMMIO_STATUS) == 0 && e.dev.activations == 0, "DRIVER_OK without FEATURES_OK refused");
	wr(&e, SM_VMMIO_STATUS, SM_VIRTIO_S_ACKNOWLEDGE | SM_VIRTIO_S_DRIVER);
	wr(&e, SM_VMMIO_QUEUE_READY, 1);
	ok(rd(&e, SM_VMMIO_QUEUE_READY) == 0, "QueueReady before FEATURES_OK refused");
	driver_init(&e, ALL_FEATURES);
	n = bad_count(&e);
	wr(&e, SM_VMMIO_QUEUE_NUM, 4);
	wr(&e, SM_VMMIO_QUEUE_DESC_LOW, 0x1234);
	ok(bad_count(&e) == n + 2, "queue registers of a ready queue are read-only");
	wr(&e, SM_VMMIO_INTERRUPT_ACK, 0xf0);
	ok(bad_count(&e) == n + 3, "ACK with undefined bits counted");
	wr(&e, SM_VMMIO_QUEUE_RESET, 2);
	ok(bad_count(&e) == n + 4, "QueueReset 2 refused");
	env_free(&e);
}

/* Deterministic garbage: thousands of random accesses, then a clean init must still work. */
static void test_garbage(void)
{
	static const unsigned int widths[] = {1, 2, 3, 4, 8, 16};
	struct env e;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint8_t buf[16];
	int i;

	env_init(&e);
	for (i = 0; i < 50000; i++) {
		uint64_t off;
		unsigned int len;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		off = (x >> 8) % 0x140;
		if (x & 1)
			off &= ~3ull;
		len = (x & 2) ? 4 : widths[(x >> 40) % 6];
		memcpy(buf, &x, 8);
		memcpy(buf + 8, &x, 8);
		if ((x >> 3) & 1)
			sm_virtio_mmio_write(e.t, off, buf, len);
		else
			sm_virtio_mmio_read(e.t, off, buf, len);
	}
	ok(bad_count(&e) > 1000, "garbage was counted as bad accesses (%llu)",
	   (unsigned long long)bad_count(&e));
	memset(&e.dev.notifies, 0, sizeof(e.dev.notifies));
	ok(driver_init(&e, ALL_FEATURES) == STATUS_RUNNING,
	   "a reset and a clean init work after the garbage");
	add_echo_chain(&e, 0, "alive");
	wr(&e, SM_VMMIO_QUEUE_NOTIFY, 0);
	ok(e.dev.notifies[0] == 1 && fake_used_idx(&e.q[0]) == 1, "and the queue works");
	env_free(&e);
}

static void test_needs_reset(void)
{
	struct env e;
	struct sm_virtio_mmio_stats st;

	env_init(&e);
	driver_init(&e, ALL_FEATURES);
	fake_set_avail_idx(&e.q[0], 100); /* the guest corrupts its ring */
	wr(&e, SM_VMMIO_QUEUE_NOTIFY, 0);
	sm_virtio_mmio_stats(e.t, &st);
	ok(rd(&e, SM_VMMIO_STATUS) == (STATUS_RUNNING | SM_VIRTIO_S_NEEDS_RESET), "DEVICE_NEEDS_RESET set");
	ok(rd(&e, SM_VMMIO_INTERRUPT_STATUS) == SM_VIRTIO_INT_CONFIG, "with a config-change interrupt");
	ok(st.needs_reset && strstr(st.needs_reset_reason, "jumped"), "reason recorded: %s",
	   st.needs_reset_reason);
	wr(&e, SM_VMMIO_STATUS, rd(&e, SM_VMMIO_STATUS) | SM_VIRTIO_S_FAILED);
	ok(rd(&e, SM_VMMIO_STATUS) == (STATUS_RUNNING | SM_VIRTIO_S_NEEDS_RESET | SM_VIRTIO_S_FAILED),
	   "the driver writes NEEDS_RESET back with FAILED; both kept");
	wr(&e, SM_VMMIO_QUEUE_NOTIFY, 0);
	ok(e.dev.notifies[0] == 1, "notifications no longer reach the device");
	ok(driver_init(&e, ALL_FEATURES) == STATUS_RUNNING, "a reset clears it");
	env_free(&e);

	env_init(&e);
	rings_init(&e);
	e.q[1].desc = FAKE_GPA + FAKE_MEM_SIZE; /* outside RAM */
	probe_features(&e, ALL_FEATURES);
	ok(setup_queue(&e, 0) && !setup_queue(&e, 1), "a queue outside guest RAM does not become ready");
	sm_virtio_mmio_stats(e.t, &st);
	ok(st.needs_reset && strstr(st.needs_reset_reason, "not in guest RAM"), "NEEDS_RESET: %s",
	   st.needs_reset_reason);
	env_free(&e);

	env_init(&e);
	e.dev.fail_activate = 1;
	ok(driver_init(&e, ALL_FEATURES) == (STATUS_RUNNING | SM_VIRTIO_S_NEEDS_RESET),
	   "failed activate: NEEDS_RESET");
	sm_virtio_mmio_stats(e.t, &st);
	ok(strstr(st.needs_reset_reason, "refuses to start") != NULL, "reason: %s", st.needs_reset_reason);
	add_echo_chain(&e, 0, "x");
	wr(&e, SM_VMMIO_QUEUE_NOTIFY, 0);
	ok(e.dev.notifies[0] == 0, "no notify to a device that failed to start");
	env_free(&e);
}

static void test_deferred_notify(void)
{
	struct env e;

	env_init(&e);
	rings_init(&e);
	probe_features(&e, ALL_FEATURES);
	setup_queue(&e, 0);
	setup_queue(&e, 1);
	add_echo_chain(&e, 0, "early");
	wr(&e, SM_VMMIO_QUEUE_NOTIFY, 0);
	ok(e.dev.notifies[0] == 0, "a notify before DRIVER_OK is held back");
	wr(&e, SM_VMMIO_STATUS, rd(&e, SM_VMMIO_STATUS) | SM_VIRTIO_S_DRIVER_OK);
	ok(e.dev.notifies[0] == 1 && fake_used_idx(&e.q[0]) == 1, "and delivered after activate");
	env_free(&e);
}

static void test_queue_stop_and_reset(void)
{
	struct env e;

	env_init(&e);
	driver_init(&e, ALL_FEATURES);
	wr(&e, SM_VMMIO_QUEUE_SEL, 1);
	wr(&e, SM_VMMIO_QUEUE_READY, 0);
	ok(rd(&e, SM_VMMIO_QUEUE_READY) == 0 && e.dev.queue_resets == 1 && e.dev.last_queue_reset == 1,
	   "QueueReady 0 stops queue 1 (device told)");
	add_echo_chain(&e, 1, "x");
	wr(&e, SM_VMMIO_QUEUE_NOTIFY, 1);
	ok(e.dev.notifies[1] == 0, "a stopped queue gets no notifications");
	ok(setup_queue(&e, 1), "queue 1 set up again");
	wr(&e, SM_VMMIO_QUEUE_RESET, 1);
	ok(rd(&e, SM_VMMIO_QUEUE_RESET) == 0 && rd(&e, SM_VMMIO_QUEUE_READY) == 0 && e.dev.queue_resets == 2,
	   "QueueReset completes at once, queue not ready");
	ok(bad_count(&e) == 0, "no bad access");
	env_free(&e);

	env_init(&e);
	driver_init(&e, ~SM_VIRTIO_BIT(SM_VIRTIO_F_RING_RESET));
	wr(&e, SM_VMMIO_QUEUE_RESET, 1);
	ok(bad_count(&e) == 1 && rd(&e, SM_VMMIO_QUEUE_READY) == 1,
	   "QueueReset without RING_RESET is refused");
	env_free(&e);
}

static void test_save_restore(void)
{
	struct env e, e2;
	struct sm_state_buf buf;
	struct sm_state_reader r;
	struct sm_virtio_mmio_config cfg;
	sm_error_t err = SM_ERROR_INIT;
	int rc;

	env_init(&e);
	driver_init(&e, ALL_FEATURES);
	e.dev.cookie = 0xc0ffee;
	add_echo_chain(&e, 0, "one");
	add_echo_chain(&e, 0, "two");
	wr(&e, SM_VMMIO_QUEUE_NOTIFY, 0);
	sm_virtio_signal_config(e.t);
	sm_state_buf_init(&buf);
	rc = sm_virtio_mmio_save(e.t, &buf, &err);
	ok(rc == 0 && buf.len > 0, "saved %zu bytes", buf.len);

	/* A new transport and device over the same guest RAM, as after a snapshot restore. */
	memset(&e2, 0, sizeof(e2));
	e2.q[0] = e.q[0];
	e2.q[1] = e.q[1];
	sm_virtq_chain_init(&e2.dev.chain);
	cfg = (struct sm_virtio_mmio_config){BASE, IRQ, &e2.q[0].mem, set_irq, &e2.irq};
	sm_virtio_mmio_new(&cfg, &test_ops, &e2.dev, &e2.t, &err);
	sm_state_reader_init(&r, buf.data, buf.len);
	rc = sm_virtio_mmio_restore(e2.t, &r, &err);
	ok(rc == 0 && sm_state_remaining(&r) == 0, "restored (%s)", err.msg);
	ok(e2.dev.cookie == 0xc0ffee && e2.dev.activations == 1, "device state restored, device activated");
	ok(rd(&e2, SM_VMMIO_STATUS) == STATUS_RUNNING && rd(&e2, SM_VMMIO_CONFIG_GENERATION) == 1,
	   "status and config generation restored");
	ok(rd(&e2, SM_VMMIO_INTERRUPT_STATUS) == (SM_VIRTIO_INT_VRING | SM_VIRTIO_INT_CONFIG) &&
	       e2.irq.raised == 1,
	   "pending interrupt restored and re-raised");
	ok(sm_virtio_driver_features(e2.t) == sm_virtio_driver_features(e.t), "features restored");
	add_echo_chain(&e2, 0, "three");
	wr(&e2, SM_VMMIO_QUEUE_NOTIFY, 0);
	ok(fake_used_idx(&e2.q[0]) == 3, "the queue continues where it was (used idx %u)",
	   fake_used_idx(&e2.q[0]));

	sm_state_reader_init(&r, buf.data, buf.len - 1);
	rc = sm_virtio_mmio_restore(e2.t, &r, &err);
	ok(rc < 0 && strstr(err.msg, "truncated") && rd(&e2, SM_VMMIO_STATUS) == 0,
	   "a truncated state is refused and leaves the device reset: %s", err.msg);
	buf.data[8] ^= 1; /* device id */
	sm_state_reader_init(&r, buf.data, buf.len);
	ok(sm_virtio_mmio_restore(e2.t, &r, &err) < 0 && strstr(err.msg, "device id"), "wrong device: %s",
	   err.msg);
	sm_state_buf_free(&buf);
	sm_virtio_mmio_free(e2.t);
	sm_virtq_chain_free(&e2.dev.chain);
	env_free(&e);
}

static void *notify_thread(void *arg)
{
	struct env *e = arg;

	sm_virtio_mmio_notify(e->t, 0);
	return NULL;
}

static void test_reset_waits_for_notify(void)
{
	struct env e;
	pthread_t th;
	int i, resets;

	env_init(&e);
	driver_init(&e, ALL_FEATURES);
	resets = e.dev.resets;
	add_echo_chain(&e, 0, "slow");
	e.dev.slow_notify = 1;
	pthread_create(&th, NULL, notify_thread, &e);
	for (i = 0; i < 1000 && !__atomic_load_n(&e.dev.in_notify, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	wr(&e, SM_VMMIO_STATUS, 0);
	pthread_join(th, NULL);
	ok(e.dev.notifies[0] == 1 && e.dev.resets == resets + 1 && !e.dev.reset_saw_notify_running,
	   "reset ran only after notify() returned");
	env_free(&e);
}

static void test_new_and_cmdline(void)
{
	struct sm_virtio_mmio_config cfg = {BASE, IRQ, NULL, set_irq, NULL};
	struct sm_virtio_dev_ops ops = test_ops;
	struct sm_virtio_dev *d = NULL;
	struct fake_ring r;
	sm_error_t err = SM_ERROR_INIT;
	char *s;

	fake_ring_init(&r, 4);
	cfg.mem = &r.mem;
	ops.queue_max_size = 100;
	ok(sm_virtio_mmio_new(&cfg, &ops, NULL, &d, &err) < 0 && strstr(err.msg, "queue_max_size"), "%s",
	   err.msg);
	ops = test_ops;
	ops.num_queues = 0;
	ok(sm_virtio_mmio_new(&cfg, &ops, NULL, &d, &err) < 0, "%s", err.msg);
	ops = test_ops;
	ops.features |= 1ull << 34; /* RING_PACKED */
	ok(sm_virtio_mmio_new(&cfg, &ops, NULL, &d, &err) < 0 && strstr(err.msg, "transport bits"), "%s",
	   err.msg);
	ops = test_ops;
	ops.shm[1].id = 0;
	ok(sm_virtio_mmio_new(&cfg, &ops, NULL, &d, &err) < 0 && strstr(err.msg, "twice"), "%s", err.msg);
	ops = test_ops;
	ops.notify = NULL;
	ok(sm_virtio_mmio_new(&cfg, &ops, NULL, &d, &err) < 0, "%s", err.msg);
	cfg.base = BASE + 0x100;
	ok(sm_virtio_mmio_new(&cfg, &test_ops, NULL, &d, &err) < 0 && strstr(err.msg, "aligned"), "%s",
	   err.msg);
	cfg.base = BASE;
	ok(sm_virtio_mmio_new(&cfg, &test_ops, NULL, &d, &err) == 0, "a good device is created");
	s = sm_virtio_mmio_cmdline(d);
	ok(strcmp(s, "virtio_mmio.device=4K@0xd0000000:5") == 0, "command line: %s", s);
	free(s);
	sm_virtio_mmio_free(d);
	fake_ring_free(&r);
}

int main(void)
{
	test_probe();
	test_features();
	test_queues_and_interrupts();
	test_config();
	test_shm();
	test_reset();
	test_bad_accesses();
	test_garbage();
	test_needs_reset();
	test_deferred_notify();
	test_queue_stop_and_reset();
	test_save_restore();
	test_reset_waits_for_notify();
	test_new_and_cmdline();
	return tap_done();
}
