/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hostile guest, transport and ring level (docs/security.md, "Hostile guest"): a guest payload
 * under real KVM (tests/vmm/hostile_guest.h) writes garbage to the virtio-mmio registers of a real
 * virtio-fs and a real vsock device and posts malformed descriptor chains. The VMM must survive
 * (under ASan too), fail the request or set DEVICE_NEEDS_RESET, count and log what it saw, and
 * never write outside guest RAM. Skips without /dev/kvm.
 */
#include <linux/fuse.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "tests/tap.h"
#include "tests/vmm/hostile_guest.h"

#define TIMEOUT_NS (300ll * 1000000000)
#define S_ACK SM_VIRTIO_S_ACKNOWLEDGE
#define S_DRV SM_VIRTIO_S_DRIVER
#define S_FOK SM_VIRTIO_S_FEATURES_OK
#define S_DOK SM_VIRTIO_S_DRIVER_OK
#define S_NR SM_VIRTIO_S_NEEDS_RESET
#define NOWHERE 0xf0000000ull /* in the MMIO hole: not RAM */

static void w32(struct hg *h, uint32_t base, uint32_t reg, uint32_t v)
{
	hg_op(h, HG_W32, base + reg, v, 0);
}

static unsigned int r32(struct hg *h, uint32_t base, uint32_t reg)
{
	return hg_op(h, HG_R32, base + reg, 0, 0);
}

/* Reset and negotiate features up to FEATURES_OK (no queues yet). */
static void to_features_ok(struct hg *h, uint32_t base)
{
	w32(h, base, SM_VMMIO_STATUS, 0);
	w32(h, base, SM_VMMIO_STATUS, S_ACK);
	w32(h, base, SM_VMMIO_STATUS, S_ACK | S_DRV);
	w32(h, base, SM_VMMIO_DRIVER_FEATURES_SEL, 1);
	w32(h, base, SM_VMMIO_DRIVER_FEATURES, 1);
	w32(h, base, SM_VMMIO_STATUS, S_ACK | S_DRV | S_FOK);
}

/* Queue 0 with the given size and ring addresses, then QueueReady = 1. */
static void queue0(struct hg *h, uint32_t base, uint32_t num, uint64_t desc, uint64_t avail, uint64_t used)
{
	w32(h, base, SM_VMMIO_QUEUE_SEL, 0);
	w32(h, base, SM_VMMIO_QUEUE_NUM, num);
	w32(h, base, SM_VMMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	w32(h, base, SM_VMMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	w32(h, base, SM_VMMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
	w32(h, base, SM_VMMIO_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
	w32(h, base, SM_VMMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
	w32(h, base, SM_VMMIO_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
	w32(h, base, SM_VMMIO_QUEUE_READY, 1);
}

static const struct sm_virtio_mmio_stats *mstats(struct hg *h, unsigned int tag, uint32_t base)
{
	return base == HG_FS_BASE ? &h->snaps[tag].fs_mmio : &h->snaps[tag].vs_mmio;
}

/* Per device: what the register attacks left to check after the run. */
struct reg_probe {
	uint32_t base;
	unsigned int t0;
	unsigned int st_dok_first, st_fok_first, st_cleared, t_order;
	unsigned int magic_after, notify_rd, ack_rd, drvfeat_rd, t_ro;
	unsigned int r8_magic, r16_magic, r32_unaligned, r64_magic, t_width;
	unsigned int qmax_bad_sel, qready_bad_sel, t_sel;
	unsigned int st_big_num, t_big_num, st_npot_num, t_npot_num, st_out_ram, t_out_ram, st_wrap, t_wrap,
	    st_misaligned, t_misaligned;
	unsigned int shm_len_lo, shm_len_hi, shm_base_lo, t_shm;
	unsigned int st_features_refused, t_features;
	unsigned int cfg0_before, cfg0_after, cfg_beyond, cfg64, t_cfg;
	unsigned int hole_rd, t_hole;
	unsigned int st_final, t_final;
};

/* The register attacks against one device window, each followed by a sync point: status, widths. */
static void script_registers(struct hg *h, struct reg_probe *p, uint32_t base)
{
	p->base = base;
	p->t0 = hg_sync(h);
	/* Status state machine out of order: DRIVER_OK first, FEATURES_OK without DRIVER, a bit cleared. */
	w32(h, base, SM_VMMIO_STATUS, 0);
	w32(h, base, SM_VMMIO_STATUS, S_DOK);
	p->st_dok_first = r32(h, base, SM_VMMIO_STATUS);
	w32(h, base, SM_VMMIO_STATUS, S_ACK | S_FOK);
	p->st_fok_first = r32(h, base, SM_VMMIO_STATUS);
	w32(h, base, SM_VMMIO_STATUS, S_ACK);
	w32(h, base, SM_VMMIO_STATUS, S_ACK | S_DRV);
	w32(h, base, SM_VMMIO_STATUS, S_ACK);
	p->st_cleared = r32(h, base, SM_VMMIO_STATUS);
	p->t_order = hg_sync(h);
	/* Read-only registers written, write-only ones read. */
	w32(h, base, SM_VMMIO_MAGIC, 0);
	w32(h, base, SM_VMMIO_DEVICE_ID, 5);
	w32(h, base, SM_VMMIO_QUEUE_NUM_MAX, 0xffff);
	w32(h, base, SM_VMMIO_INTERRUPT_STATUS, 3);
	w32(h, base, SM_VMMIO_CONFIG_GENERATION, 7);
	p->magic_after = r32(h, base, SM_VMMIO_MAGIC);
	p->notify_rd = r32(h, base, SM_VMMIO_QUEUE_NOTIFY);
	p->ack_rd = r32(h, base, SM_VMMIO_INTERRUPT_ACK);
	p->drvfeat_rd = r32(h, base, SM_VMMIO_DRIVER_FEATURES);
	p->t_ro = hg_sync(h);
	/* Wrong widths and alignment: 8/16-bit and 64-bit register accesses, unaligned 32-bit ones. */
	hg_op(h, HG_W8, base + SM_VMMIO_STATUS, S_ACK, 0);
	hg_op(h, HG_W16, base + SM_VMMIO_QUEUE_SEL, 0xffff, 0);
	hg_op(h, HG_W64, base + SM_VMMIO_QUEUE_DESC_LOW, 0x1000, 0x10);
	hg_op(h, HG_W32, base + SM_VMMIO_STATUS + 1, 0xffffffff, 0);
	hg_op(h, HG_W32, base + SM_VMMIO_QUEUE_NOTIFY + 2, 0, 0);
	p->r8_magic = hg_op(h, HG_R8, base + SM_VMMIO_MAGIC, 0, 0);
	p->r16_magic = hg_op(h, HG_R16, base + SM_VMMIO_MAGIC + 2, 0, 0);
	p->r32_unaligned = hg_op(h, HG_R32, base + SM_VMMIO_MAGIC + 1, 0, 0);
	p->r64_magic = hg_op(h, HG_R64, base + SM_VMMIO_MAGIC, 0, 0);
	p->t_width = hg_sync(h);
}

/* The queue, shared-memory, feature and config-space attacks, and a clean re-init at the end. */
static void script_registers2(struct hg *h, struct reg_probe *p, uint32_t base, unsigned int nq)
{
	struct hg_ring junk[3];

	/* QueueSel out of range. */
	to_features_ok(h, base);
	w32(h, base, SM_VMMIO_QUEUE_SEL, 99);
	p->qmax_bad_sel = r32(h, base, SM_VMMIO_QUEUE_NUM_MAX);
	w32(h, base, SM_VMMIO_QUEUE_NUM, 256);
	w32(h, base, SM_VMMIO_QUEUE_DESC_LOW, HG_RING_END - 0x4000);
	w32(h, base, SM_VMMIO_QUEUE_READY, 1);
	p->qready_bad_sel = r32(h, base, SM_VMMIO_QUEUE_READY);
	w32(h, base, SM_VMMIO_QUEUE_SEL, 0xffffffff);
	w32(h, base, SM_VMMIO_QUEUE_RESET, 1);
	w32(h, base, SM_VMMIO_QUEUE_NOTIFY, 0xffffffff);
	w32(h, base, SM_VMMIO_QUEUE_NOTIFY, 99);
	p->t_sel = hg_sync(h);
	/* QueueNum above QueueNumMax, not a power of two; rings outside RAM, wrapping, misaligned. */
	to_features_ok(h, base);
	queue0(h, base, 0x8000, HG_RING_END - 0x8000, HG_RING_END - 0x6000, HG_RING_END - 0x4000);
	p->st_big_num = r32(h, base, SM_VMMIO_STATUS);
	p->t_big_num = hg_sync(h);
	to_features_ok(h, base);
	queue0(h, base, 100, HG_RING_END - 0x8000, HG_RING_END - 0x6000, HG_RING_END - 0x4000);
	p->st_npot_num = r32(h, base, SM_VMMIO_STATUS);
	p->t_npot_num = hg_sync(h);
	to_features_ok(h, base);
	queue0(h, base, 256, NOWHERE, HG_RING_END - 0x6000, 0x123400000000ull);
	p->st_out_ram = r32(h, base, SM_VMMIO_STATUS);
	p->t_out_ram = hg_sync(h);
	to_features_ok(h, base);
	queue0(h, base, 256, 0xfffffffffffff000ull, HG_RING_END - 0x6000, HG_RAM_END - 0x100);
	p->st_wrap = r32(h, base, SM_VMMIO_STATUS);
	p->t_wrap = hg_sync(h);
	to_features_ok(h, base);
	queue0(h, base, 256, HG_RING_END - 0x8000 + 8, HG_RING_END - 0x6000 + 1, HG_RING_END - 0x4000 + 2);
	p->st_misaligned = r32(h, base, SM_VMMIO_STATUS);
	p->t_misaligned = hg_sync(h);
	/* Shared-memory selector out of range. */
	w32(h, base, SM_VMMIO_SHM_SEL, 0xffffffff);
	p->shm_len_lo = r32(h, base, SM_VMMIO_SHM_LEN_LOW);
	p->shm_len_hi = r32(h, base, SM_VMMIO_SHM_LEN_HIGH);
	w32(h, base, SM_VMMIO_SHM_SEL, 200);
	p->shm_base_lo = r32(h, base, SM_VMMIO_SHM_BASE_LOW);
	w32(h, base, SM_VMMIO_SHM_LEN_LOW, 0x1000);
	w32(h, base, SM_VMMIO_SHM_BASE_HIGH, 0x1);
	p->t_shm = hg_sync(h);
	/* FEATURES_OK with feature bits that were not offered, and a feature selector out of range. */
	w32(h, base, SM_VMMIO_STATUS, 0);
	w32(h, base, SM_VMMIO_STATUS, S_ACK);
	w32(h, base, SM_VMMIO_STATUS, S_ACK | S_DRV);
	w32(h, base, SM_VMMIO_DRIVER_FEATURES_SEL, 7);
	w32(h, base, SM_VMMIO_DRIVER_FEATURES, 0xffffffff);
	w32(h, base, SM_VMMIO_DEVICE_FEATURES_SEL, 0xffffffff);
	r32(h, base, SM_VMMIO_DEVICE_FEATURES);
	w32(h, base, SM_VMMIO_DRIVER_FEATURES_SEL, 1);
	w32(h, base, SM_VMMIO_DRIVER_FEATURES, 0xffffffff);
	w32(h, base, SM_VMMIO_STATUS, S_ACK | S_DRV | S_FOK);
	p->st_features_refused = r32(h, base, SM_VMMIO_STATUS);
	p->t_features = hg_sync(h);
	/* Config space: read-only writes, reads past its end, a 64-bit read straddling it. */
	p->cfg0_before = r32(h, base, SM_VMMIO_CONFIG);
	w32(h, base, SM_VMMIO_CONFIG, 0x41414141);
	hg_op(h, HG_W8, base + SM_VMMIO_CONFIG + 3, 0x42, 0);
	p->cfg0_after = r32(h, base, SM_VMMIO_CONFIG);
	p->cfg_beyond = r32(h, base, SM_VMMIO_CONFIG + 0x200);
	p->cfg64 = hg_op(h, HG_R64, base + SM_VMMIO_CONFIG + 0x28, 0, 0);
	hg_op(h, HG_W64, base + SM_VMMIO_CONFIG + 0xef8, 0xdeadbeef, 0xdeadbeef);
	hg_op(h, HG_R8, base + (uint32_t)SM_VIRTIO_MMIO_SIZE - 1, 0, 0);
	p->t_cfg = hg_sync(h);
	/* Past the window: the unclaimed MMIO hole, and an access crossing into the next page. */
	hg_op(h, HG_W32, (uint32_t)(SM_VIRTIO_MMIO_BASE + 7 * SM_VIRTIO_MMIO_SIZE), 0x12345678, 0);
	p->hole_rd = hg_op(h, HG_R32, (uint32_t)(SM_VIRTIO_MMIO_BASE + 7 * SM_VIRTIO_MMIO_SIZE + 0x70), 0, 0);
	hg_op(h, HG_W32, base + SM_VIRTIO_MMIO_SIZE - 2, 0x00000000, 0);
	hg_op(h, HG_R32, base + SM_VIRTIO_MMIO_SIZE - 2, 0, 0);
	p->t_hole = hg_sync(h);
	/* InterruptACK garbage, then a clean re-init (all queues) must still work. */
	w32(h, base, SM_VMMIO_INTERRUPT_ACK, 0xffffffff);
	hg_driver_init(h, base, junk, nq, false);
	p->st_final = r32(h, base, SM_VMMIO_STATUS);
	p->t_final = hg_sync(h);
}

static void check_registers(struct hg *h, const struct reg_probe *p, const char *dev, uint32_t cfg0)
{
	uint64_t prev = mstats(h, p->t0, p->base)->bad_accesses;
	const struct sm_virtio_mmio_stats *s;
	bool seen = true;

	for (unsigned int t = p->t0; t <= p->t_final; t++)
		seen &= h->snaps[t].seen;
	ok(seen, "%s: every sync point was reached", dev);
#define STEP(tag, what, cond, ...)                                                                           \
	do {                                                                                                 \
		s = mstats(h, tag, p->base);                                                                 \
		ok((cond) && s->bad_accesses > prev, "%s: " what " (bad accesses +%llu, last: %s)", dev,     \
		   ##__VA_ARGS__, (unsigned long long)(s->bad_accesses - prev), s->last_bad);                \
		prev = s->bad_accesses;                                                                      \
	} while (0)
	STEP(p->t_order,
	     "status out of order ignored (DRIVER_OK first -> %u, FEATURES_OK w/o DRIVER -> %u, "
	     "DRIVER cleared -> %u)",
	     hg_result(h, p->st_dok_first) == 0 && hg_result(h, p->st_fok_first) == 0 &&
		 hg_result(h, p->st_cleared) == (S_ACK | S_DRV),
	     hg_result(h, p->st_dok_first), hg_result(h, p->st_fok_first), hg_result(h, p->st_cleared));
	STEP(p->t_ro, "read-only writes ignored, write-only reads 0 (magic 0x%x)",
	     hg_result(h, p->magic_after) == SM_VIRTIO_MMIO_MAGIC && hg_result(h, p->notify_rd) == 0 &&
		 hg_result(h, p->ack_rd) == 0 && hg_result(h, p->drvfeat_rd) == 0,
	     hg_result(h, p->magic_after));
	STEP(p->t_width,
	     "8/16/64-bit and unaligned register accesses read 0 and are ignored (r8 %x r16 %x "
	     "r32@1 %x r64 %llx)",
	     hg_result(h, p->r8_magic) == 0 && hg_result(h, p->r16_magic) == 0 &&
		 hg_result(h, p->r32_unaligned) == 0 && hg_result64(h, p->r64_magic) == 0,
	     hg_result(h, p->r8_magic), hg_result(h, p->r16_magic), hg_result(h, p->r32_unaligned),
	     (unsigned long long)hg_result64(h, p->r64_magic));
	STEP(p->t_sel, "QueueSel out of range: QueueNumMax %u, QueueReady %u, notify of queue 99 dropped",
	     hg_result(h, p->qmax_bad_sel) == 0 && hg_result(h, p->qready_bad_sel) == 0,
	     hg_result(h, p->qmax_bad_sel), hg_result(h, p->qready_bad_sel));
#define NEEDS_RESET(tag, st, what)                                                                           \
	do {                                                                                                 \
		s = mstats(h, tag, p->base);                                                                 \
		ok((hg_result(h, st) & S_NR) && !(hg_result(h, st) & S_DOK) && s->needs_reset &&             \
		       s->bad_accesses > prev,                                                               \
		   "%s: " what ": refused, DEVICE_NEEDS_RESET (status 0x%x: %s)", dev, hg_result(h, st),     \
		   s->needs_reset_reason);                                                                   \
		prev = s->bad_accesses;                                                                      \
	} while (0)
	NEEDS_RESET(p->t_big_num, p->st_big_num, "QueueNum 32768 above QueueNumMax");
	NEEDS_RESET(p->t_npot_num, p->st_npot_num, "QueueNum 100 (not a power of two)");
	NEEDS_RESET(p->t_out_ram, p->st_out_ram, "rings outside guest RAM");
	NEEDS_RESET(p->t_wrap, p->st_wrap, "a ring address that wraps around 2^64");
	NEEDS_RESET(p->t_misaligned, p->st_misaligned, "misaligned rings");
	s = mstats(h, p->t_shm, p->base);
	ok(hg_result(h, p->shm_len_lo) == 0xffffffff && hg_result(h, p->shm_len_hi) == 0xffffffff &&
	       hg_result(h, p->shm_base_lo) == 0xffffffff && s->bad_accesses > prev,
	   "%s: SHMSel out of range reads length and base -1, SHM writes ignored (%s)", dev, s->last_bad);
	prev = s->bad_accesses;
	s = mstats(h, p->t_features, p->base);
	ok(!(hg_result(h, p->st_features_refused) & S_FOK) && s->features_refused > 0,
	   "%s: FEATURES_OK with unoffered bits does not stick (status 0x%x, refused %llu)", dev,
	   hg_result(h, p->st_features_refused), (unsigned long long)s->features_refused);
	prev = s->bad_accesses;
	STEP(p->t_cfg, "config space: writes ignored (0x%x -> 0x%x), reads past it 0",
	     hg_result(h, p->cfg0_before) == cfg0 && hg_result(h, p->cfg0_after) == cfg0 &&
		 hg_result(h, p->cfg_beyond) == 0,
	     hg_result(h, p->cfg0_before), hg_result(h, p->cfg0_after));
	ok(hg_result(h, p->hole_rd) == 0xffffffff &&
	       h->snaps[p->t_hole].vm.mmio_unhandled > h->snaps[p->t_cfg].vm.mmio_unhandled,
	   "%s: unclaimed MMIO past the windows reads all-ones and is counted (%llu)", dev,
	   (unsigned long long)h->snaps[p->t_hole].vm.mmio_unhandled);
	s = mstats(h, p->t_final, p->base);
	ok(hg_result(h, p->st_final) == (S_ACK | S_DRV | S_FOK | S_DOK) && !s->needs_reset,
	   "%s: after all that, a clean reset and init work (status 0x%x%s%s)", dev,
	   hg_result(h, p->st_final), s->needs_reset ? ": " : "",
	   s->needs_reset ? s->needs_reset_reason : "");
#undef STEP
#undef NEEDS_RESET
}

static void test_registers(void)
{
	struct hg_opts o = {.vsock = true};
	struct reg_probe pf, pv;
	struct hg_ring rings[2];
	struct hg_req init;
	struct hg h;
	uint32_t id, len, olen;
	int32_t error;
	uint64_t unique;

	if (hg_new(&h, &o) < 0) {
		ok(0, "registers: machine with virtio-fs and vsock");
		hg_free(&h);
		return;
	}
	script_registers(&h, &pf, HG_FS_BASE);
	script_registers2(&h, &pf, HG_FS_BASE, 2);
	script_registers(&h, &pv, HG_VSOCK_BASE);
	script_registers2(&h, &pv, HG_VSOCK_BASE, 3);
	hg_driver_init(&h, HG_FS_BASE, rings, 2, false);
	hg_fuse_init(&h, &rings[1], false, &init);
	ok(hg_run(&h, TIMEOUT_NS) == 0, "registers: guest ran");
	hg_check_memory(&h, "registers");
	check_registers(&h, &pf, "virtio-fs", 0x74736f68 /* "host" */);
	check_registers(&h, &pv, "vsock", 3 /* guest_cid */);
	hg_used(&h, &rings[1], init.slot, &id, &len);
	hg_fuse_reply(&h, &init, &olen, &error, &unique);
	ok(id == init.head && len == olen && error == 0,
	   "registers: virtio-fs still serves FUSE_INIT after the garbage (len %u error %d)", len, error);
	hg_free(&h);
}

/* One malformed chain: what it is, where its answer lands, and which sync point follows it. */
struct bad_chain {
	const char *what;
	uint16_t head, slot;
	unsigned int tag;
	uint32_t out, out_len; /* a writable buffer the device must not fill (0 when none) */
};

static uint32_t buf(struct hg *h, uint32_t len)
{
	return hg_alloc(h, len, 0xaa);
}

/* An indirect table of n readable 64-byte buffers chained with NEXT; returns its address. */
static uint32_t indirect_table(struct hg *h, unsigned int n, uint16_t first_flags)
{
	uint32_t t = hg_alloc(h, n * 16, 0), b = buf(h, 64);

	for (unsigned int k = 0; k < n; k++) {
		struct sm_vring_desc d = {b, 64, (uint16_t)(k + 1 < n ? SM_VRING_DESC_F_NEXT : 0),
					  (uint16_t)(k + 1)};
		if (k == 0)
			d.flags |= first_flags;
		hg_write(h, t + k * 16, &d, sizeof(d));
	}
	return t;
}

/*
 * Lay out the malformed chains of docs/design/virtio.md ("The guest is hostile") on ring r and
 * post each (answered with length 0, then a sync point). Returns how many were written to bc.
 */
static unsigned int post_bad_chains(struct hg *h, struct hg_ring *r, struct bad_chain *bc, bool all)
{
	const uint16_t N = SM_VRING_DESC_F_NEXT, W = SM_VRING_DESC_F_WRITE, I = SM_VRING_DESC_F_INDIRECT;
	unsigned int n = 0;
	uint32_t in = buf(h, 64);
	uint16_t d;

#define BAD(name, headexpr)                                                                                  \
	do {                                                                                                 \
		bc[n].what = name;                                                                           \
		bc[n].out_len = 256;                                                                         \
		bc[n].out = buf(h, 256);                                                                     \
		bc[n].head = (headexpr);                                                                     \
		bc[n].slot = hg_post(h, r, bc[n].head, true, &bc[n].tag);                                    \
		n++;                                                                                         \
	} while (0)
#define OUT(i) hg_desc(h, r, bc[n].out, 256, W, 0)
	BAD("buffer outside guest RAM", hg_desc(h, r, 0xf0000000u, 64, N, OUT(n)));
	BAD("buffer address + length wraps 2^64", hg_desc(h, r, 0xfffffffffffff000ull, 0x2000, N, OUT(n)));
	BAD("buffer straddling the end of RAM", hg_desc(h, r, HG_RAM_END - 0x100, 0x1000, N, OUT(n)));
	d = hg_desc_reserve(r, 2);
	hg_desc_at(h, r, d, in, 64, N, (uint16_t)(d + 1));
	hg_desc_at(h, r, (uint16_t)(d + 1), in, 64, N, d);
	BAD("descriptor loop, readable (a -> b -> a)", d);
	d = hg_desc_reserve(r, 2);
	BAD("descriptor loop, writable (a -> b -> a)", d);
	hg_desc_at(h, r, d, bc[n - 1].out, 128, W | N, (uint16_t)(d + 1));
	hg_desc_at(h, r, (uint16_t)(d + 1), bc[n - 1].out + 128, 128, W | N, d);
	if (!all)
		return n;
	BAD("next index out of range (999)", hg_desc(h, r, in, 64, N, 999));
	BAD("readable buffer after a writable one",
	    hg_desc(h, r, bc[n].out, 256, W | N, hg_desc(h, r, in, 64, 0, 0)));
	BAD("indirect chain of 300 > queue size 256",
	    hg_desc(h, r, indirect_table(h, 300, 0), 300 * 16, I, 0));
	BAD("nested indirect table", hg_desc(h, r, indirect_table(h, 2, I), 32, I, 0));
	BAD("indirect table outside RAM", hg_desc(h, r, 0xf0000000u, 64, I, 0));
	BAD("indirect table wrapping 2^64", hg_desc(h, r, 0xfffffffffffffff0ull, 0x20, I, 0));
	BAD("indirect table length 17 (not a multiple of 16)",
	    hg_desc(h, r, indirect_table(h, 2, 0), 17, I, 0));
	BAD("indirect table length 0", hg_desc(h, r, indirect_table(h, 2, 0), 0, I, 0));
	BAD("indirect descriptor with NEXT", hg_desc(h, r, indirect_table(h, 2, 0), 32, I | N, OUT(n)));
	{
		uint32_t t = hg_alloc(h, 16, 0);
		struct sm_vring_desc e = {0xf0000000u, 64, 0, 0};

		hg_write(h, t, &e, sizeof(e));
		BAD("indirect table entry outside RAM", hg_desc(h, r, t, 16, I, 0));
	}
#undef BAD
#undef OUT
	return n;
}

/* Check each malformed chain: answered with length 0, buffer untouched, counted and logged. */
static void check_bad_chains(struct hg *h, const struct hg_ring *r, const struct bad_chain *bc,
			     unsigned int n, const char *dev, unsigned int tag0, bool vsock)
{
	uint64_t prev = vsock ? h->snaps[tag0].vs.bad_packets : h->snaps[tag0].fs.malformed_chains;

	for (unsigned int i = 0; i < n; i++) {
		const struct hg_snap *sn = &h->snaps[bc[i].tag];
		uint64_t now = vsock ? sn->vs.bad_packets : sn->fs.malformed_chains;
		uint32_t id, len;

		hg_used(h, r, bc[i].slot, &id, &len);
		ok(sn->seen && id == bc[i].head && len == 0 && now == prev + 1 &&
		       hg_untouched(h, bc[i].out, bc[i].out_len),
		   "%s queue %u: %s: returned with length 0 (id %u len %u), buffer untouched, counted "
		   "(+%llu)%s%s",
		   dev, r->queue, bc[i].what, id, len, (unsigned long long)(now - prev), vsock ? "" : ": ",
		   vsock ? "" : sn->fs.last_error);
		prev = now;
	}
}

/* Ring-level breakage: the available ring names a head out of range, or its index jumps ahead. */
static unsigned int break_ring(struct hg *h, struct hg_ring *r, bool jump, unsigned int *st)
{
	if (jump) {
		hg_op(h, HG_W16, r->avail + 2, (uint16_t)(r->avail_idx + 1000), 0);
	} else {
		uint16_t head = 5000;
		hg_write(h, r->avail + 4 + (uint32_t)(r->avail_idx % r->size) * 2u, &head, 2);
		hg_op(h, HG_W16, r->avail + 2, (uint16_t)(r->avail_idx + 1), 0);
	}
	w32(h, r->base, SM_VMMIO_QUEUE_NOTIFY, r->queue);
	hg_op(h, HG_WAIT32, r->base + SM_VMMIO_STATUS, S_NR, 1000000);
	*st = r32(h, r->base, SM_VMMIO_STATUS);
	return hg_sync(h);
}

static void check_broken(struct hg *h, const struct hg_ring *r, const char *dev, const char *what,
			 unsigned int tag, unsigned int st, uint16_t used_before)
{
	const struct sm_virtio_mmio_stats *s = mstats(h, tag, r->base);

	ok((hg_result(h, st) & S_NR) && s->needs_reset && hg_used_idx(h, r) == used_before,
	   "%s queue %u: %s: DEVICE_NEEDS_RESET, nothing used (status 0x%x: %s)", dev, r->queue, what,
	   hg_result(h, st), s->needs_reset_reason);
}

static void test_fs_chains(void)
{
	struct hg_opts o = {.vsock = false};
	struct hg_ring r1[2], r2[2], r3[2];
	struct bad_chain bq[24], bh[8];
	struct hg_req i1, i2, i3;
	unsigned int nq, nh, t0, t_head, t_jump, st_head, st_jump;
	uint16_t used_head, used_jump;
	struct hg h;

	if (hg_new(&h, &o) < 0) {
		ok(0, "chains: machine with virtio-fs");
		hg_free(&h);
		return;
	}
	hg_driver_init(&h, HG_FS_BASE, r1, 2, false);
	hg_fuse_init(&h, &r1[1], false, &i1);
	t0 = hg_sync(&h);
	nq = post_bad_chains(&h, &r1[1], bq, true);
	nh = post_bad_chains(&h, &r1[0], bh, false);
	used_head = r1[1].used_expect;
	t_head = break_ring(&h, &r1[1], false, &st_head);
	hg_driver_init(&h, HG_FS_BASE, r2, 2, false);
	hg_fuse_init(&h, &r2[1], false, &i2);
	used_jump = r2[1].used_expect;
	t_jump = break_ring(&h, &r2[1], true, &st_jump);
	hg_driver_init(&h, HG_FS_BASE, r3, 2, false);
	hg_fuse_init(&h, &r3[1], false, &i3);
	ok(hg_run(&h, TIMEOUT_NS) == 0, "chains: guest ran");
	hg_check_memory(&h, "chains (virtio-fs)");
	check_bad_chains(&h, &r1[1], bq, nq, "virtio-fs", t0, false);
	check_bad_chains(&h, &r1[0], bh, nh, "virtio-fs", bq[nq - 1].tag, false);
	check_broken(&h, &r1[1], "virtio-fs", "available ring names head 5000", t_head, st_head, used_head);
	check_broken(&h, &r2[1], "virtio-fs", "available index jumps 1000 ahead", t_jump, st_jump, used_jump);
	{
		struct hg_req *inits[] = {&i1, &i2, &i3};
		struct hg_ring *rr[] = {&r1[1], &r2[1], &r3[1]};
		for (int k = 0; k < 3; k++) {
			uint32_t id, len, olen;
			int32_t error;
			uint64_t unique;
			hg_used(&h, rr[k], inits[k]->slot, &id, &len);
			hg_fuse_reply(&h, inits[k], &olen, &error, &unique);
			ok(id == inits[k]->head && len == olen && olen > 0 && error == 0,
			   "virtio-fs: FUSE_INIT %s answered (len %u, error %d)",
			   k == 0 ? "before the attacks" : "after reset and re-init", len, error);
		}
	}
	hg_free(&h);
}

/* A vsock packet header (44 bytes, little-endian) as the guest would send it. */
static uint32_t vsock_pkt(struct hg *h, uint64_t src_cid, uint64_t dst_cid, uint32_t dport, uint32_t len,
			  uint16_t type, uint16_t op)
{
	uint8_t raw[44];
	uint32_t src_port = 1234, flags = 0, buf_alloc = 65536, fwd = 0;
	uint32_t at = hg_alloc(h, sizeof(raw), 0);

	memcpy(raw, &src_cid, 8);
	memcpy(raw + 8, &dst_cid, 8);
	memcpy(raw + 16, &src_port, 4);
	memcpy(raw + 20, &dport, 4);
	memcpy(raw + 24, &len, 4);
	memcpy(raw + 28, &type, 2);
	memcpy(raw + 30, &op, 2);
	memcpy(raw + 32, &flags, 4);
	memcpy(raw + 36, &buf_alloc, 4);
	memcpy(raw + 40, &fwd, 4);
	hg_write(h, at, raw, sizeof(raw));
	return at;
}

static void test_vsock(void)
{
	struct hg_opts o = {.vsock = true};
	struct hg_ring r1[3], r2[3];
	struct bad_chain bc[24];
	struct {
		const char *what;
		uint16_t head, slot;
		unsigned int tag;
		bool exact; /* exactly one bad packet expected */
	} pk[6];
	unsigned int n, t0, t_head, st_head, st_final, np = 0;
	uint16_t used_head;
	struct hg h;

	if (hg_new(&h, &o) < 0) {
		ok(0, "vsock: machine with virtio-fs and vsock");
		hg_free(&h);
		return;
	}
	hg_driver_init(&h, HG_VSOCK_BASE, r1, 3, false);
	for (int k = 0; k < 4; k++) /* rx buffers, for the RSTs the device owes */
		hg_post(&h, &r1[0],
			hg_desc(&h, &r1[0], hg_alloc(&h, 4096, 0), 4096, SM_VRING_DESC_F_WRITE, 0), false,
			NULL);
	t0 = hg_sync(&h);
	n = post_bad_chains(&h, &r1[1], bc, true);
#define PKT(name, ex, addr, len)                                                                             \
	do {                                                                                                 \
		pk[np].what = name;                                                                          \
		pk[np].exact = ex;                                                                           \
		pk[np].head = hg_desc(&h, &r1[1], addr, len, 0, 0);                                          \
		pk[np].slot = hg_post(&h, &r1[1], pk[np].head, true, &pk[np].tag);                           \
		np++;                                                                                        \
	} while (0)
	PKT("header truncated to 20 bytes", true, vsock_pkt(&h, 3, 2, 4242, 0, 1, 5), 20);
	PKT("forged source CID 99", true, vsock_pkt(&h, 99, 2, 4242, 0, 1, 1), 44);
	PKT("payload len 0xffffffff in a 44-byte buffer", true, vsock_pkt(&h, 3, 2, 4242, 0xffffffff, 1, 5),
	    44);
	PKT("unknown op 99 on no connection", false, vsock_pkt(&h, 3, 2, 4242, 0, 1, 99), 44);
	PKT("REQUEST to a port nobody listens on", false, vsock_pkt(&h, 3, 2, 4242, 0, 1, 1), 44);
	PKT("REQUEST of socket type 7", false, vsock_pkt(&h, 3, 2, 4243, 0, 7, 1), 44);
#undef PKT
	used_head = r1[1].used_expect;
	t_head = break_ring(&h, &r1[1], false, &st_head);
	hg_driver_init(&h, HG_VSOCK_BASE, r2, 3, false);
	st_final = r32(&h, HG_VSOCK_BASE, SM_VMMIO_STATUS);
	hg_sync(&h);
	ok(hg_run(&h, TIMEOUT_NS) == 0, "vsock: guest ran");
	hg_check_memory(&h, "vsock");
	check_bad_chains(&h, &r1[1], bc, n, "vsock", t0, true);
	for (unsigned int k = 0; k < np; k++) {
		const struct sm_vsock_stats *a = &h.snaps[k == 0 ? bc[n - 1].tag : pk[k - 1].tag].vs;
		const struct sm_vsock_stats *b = &h.snaps[pk[k].tag].vs;
		/* rst_queued, not rst_sent: the RST goes out on rx, maybe after this sync point */
		uint64_t bad = b->bad_packets - a->bad_packets, rst = b->rst_queued - a->rst_queued,
			 refused = b->refused - a->refused;
		uint32_t id, len;

		hg_used(&h, &r1[1], pk[k].slot, &id, &len);
		ok(id == pk[k].head && len == 0 && (pk[k].exact ? bad == 1 : bad + rst + refused > 0),
		   "vsock tx: %s: returned, seen (bad +%llu, rst +%llu, refused +%llu)", pk[k].what,
		   (unsigned long long)bad, (unsigned long long)rst, (unsigned long long)refused);
	}
	check_broken(&h, &r1[1], "vsock", "available ring names head 5000", t_head, st_head, used_head);
	ok(hg_result(&h, st_final) == (S_ACK | S_DRV | S_FOK | S_DOK),
	   "vsock: reset and re-init work (status 0x%x)", hg_result(&h, st_final));
	hg_free(&h);
}

/* A value a fuzzing guest would try: boundaries, status bits, sizes, RAM and non-RAM addresses. */
static uint32_t pick(unsigned int *seed, uint32_t junk)
{
	static const uint32_t vals[] = {
	    0,	  1,	2,     3,      4,      7,	8,	    11,		15,	    0x40,
	    0x80, 0xff, 0x100, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff};
	switch (rand_r(seed) % 4) {
	case 0:
		return vals[rand_r(seed) % (sizeof(vals) / sizeof(vals[0]))];
	case 1:
		return junk + ((uint32_t)rand_r(seed) % 0x100000 & ~15u);
	case 2:
		return (uint32_t)rand_r(seed) << 1 ^ (uint32_t)rand_r(seed);
	default:
		return (uint32_t)rand_r(seed) % 16;
	}
}

/* Bring both devices to DRIVER_OK with every queue on rings inside the random junk area. */
static void arm(struct hg *h, unsigned int *seed, uint32_t junk)
{
	const uint32_t bases[2] = {HG_FS_BASE, HG_VSOCK_BASE};

	for (int d = 0; d < 2; d++) {
		to_features_ok(h, bases[d]);
		for (uint32_t q = 0; q < (d == 0 ? 2u : 3u); q++) {
			uint32_t at = junk + ((uint32_t)rand_r(seed) % 0x100000 & ~0xfffu);
			w32(h, bases[d], SM_VMMIO_QUEUE_SEL, q);
			uint32_t num = 1u << (rand_r(seed) % 9);

			/* A few available heads in range, so the garbage descriptors get walked. */
			hg_op(h, HG_W16, at + 0x1002, 4, 0);
			for (uint32_t k = 0; k < 4; k++)
				hg_op(h, HG_W16, at + 0x1004 + 2 * k, (uint32_t)rand_r(seed) % num, 0);
			w32(h, bases[d], SM_VMMIO_QUEUE_NUM, num);
			w32(h, bases[d], SM_VMMIO_QUEUE_DESC_LOW, at);
			w32(h, bases[d], SM_VMMIO_QUEUE_DRIVER_LOW, at + 0x1000);
			w32(h, bases[d], SM_VMMIO_QUEUE_DEVICE_LOW, at + 0x2000);
			w32(h, bases[d], SM_VMMIO_QUEUE_READY, 1);
			w32(h, bases[d], SM_VMMIO_QUEUE_NOTIFY, q);
		}
		w32(h, bases[d], SM_VMMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
		for (uint32_t q = 0; q < 3; q++)
			w32(h, bases[d], SM_VMMIO_QUEUE_NOTIFY, q);
	}
}

/* Random accesses to both windows, then both devices must come back with a clean init. */
static void test_random(unsigned int seed, unsigned int count, bool race)
{
	static const uint32_t regs[] = {0x000, 0x004, 0x008, 0x00c, 0x010, 0x014, 0x020, 0x024, 0x030, 0x034,
					0x038, 0x044, 0x050, 0x060, 0x064, 0x070, 0x080, 0x084, 0x090, 0x094,
					0x0a0, 0x0a4, 0x0ac, 0x0b0, 0x0b4, 0x0b8, 0x0bc, 0x0c0, 0x0fc, 0x100};
	struct hg_opts o = {.vsock = true, .dax_size = 2ull << 20};
	struct hg_ring rf[2], rv[3];
	struct hg_req init;
	unsigned int st_fs, st_vs, s0 = seed;
	uint32_t junk, id, len, olen;
	int32_t error;
	uint64_t unique;
	struct hg h;

	if (hg_new(&h, &o) < 0) {
		ok(0, "random: machine");
		hg_free(&h);
		return;
	}
	junk = hg_alloc(&h, 0x110000, 0);
	{
		/* Garbage the armed rings below live in: random descriptors, indices and flags. */
		uint8_t *g = sm_xmalloc(0x110000);
		for (uint32_t k = 0; k < 0x110000; k++)
			g[k] = (uint8_t)rand_r(&seed);
		hg_write(&h, junk, g, 0x110000);
		free(g);
	}
	for (unsigned int i = 0; i < count; i++) {
		if (i % 400 == 0) /* arm both devices on garbage rings, so notifies walk them */
			arm(&h, &seed, junk);
		uint32_t base = rand_r(&seed) % 2 ? HG_FS_BASE : HG_VSOCK_BASE, off, v = pick(&seed, junk);
		unsigned int kind = (unsigned int)rand_r(&seed) % 16;

		off = kind < 10 ? regs[rand_r(&seed) % (sizeof(regs) / sizeof(regs[0]))]
				: (uint32_t)rand_r(&seed) % (uint32_t)SM_VIRTIO_MMIO_SIZE;
		if (kind == 15)
			off &= ~7u;
		switch (rand_r(&seed) % 10) {
		case 0:
			hg_op(&h, HG_W8, base + off, v, 0);
			break;
		case 1:
			hg_op(&h, HG_W16, base + (off & ~1u), v, 0);
			break;
		case 2:
			hg_op(&h, HG_R32, base + off, 0, 0);
			break;
		case 3:
			hg_op(&h, HG_W64, base + (off & ~7u), v, pick(&seed, junk));
			break;
		case 4:
			hg_op(&h, HG_R64, base + (off & ~7u), 0, 0);
			break;
		default:
			hg_op(&h, HG_W32, base + (off & ~3u), v, 0);
			break;
		}
	}
	if (race)
		hg_hammer(&h, hg_sync(&h), seed);
	else
		hg_sync(&h);
	hg_driver_init(&h, HG_FS_BASE, rf, 2, false);
	st_fs = r32(&h, HG_FS_BASE, SM_VMMIO_STATUS);
	hg_fuse_init(&h, &rf[1], true, &init);
	hg_driver_init(&h, HG_VSOCK_BASE, rv, 3, false);
	st_vs = r32(&h, HG_VSOCK_BASE, SM_VMMIO_STATUS);
	ok(hg_run(&h, TIMEOUT_NS) == 0, "random: guest ran %u random register accesses (seed %u)%s", count,
	   s0, race ? " racing a second vCPU" : "");
	if (race)
		tap_diag("random: the racing thread made %llu transport calls",
			 (unsigned long long)h.hammer_ops);
	hg_check_memory(&h, "random");
	tap_diag("random: virtio-fs: %llu bad accesses, %llu notifies, %llu malformed chains, needs_reset %d "
		 "(%s); "
		 "vsock: %llu bad accesses, %llu bad packets",
		 (unsigned long long)h.snaps[0].fs_mmio.bad_accesses,
		 (unsigned long long)h.snaps[0].fs_mmio.notifies,
		 (unsigned long long)h.snaps[0].fs.malformed_chains, h.snaps[0].fs_mmio.needs_reset,
		 h.snaps[0].fs_mmio.needs_reset_reason, (unsigned long long)h.snaps[0].vs_mmio.bad_accesses,
		 (unsigned long long)h.snaps[0].vs.bad_packets);
	ok(h.snaps[0].fs_mmio.bad_accesses > 0 && h.snaps[0].vs_mmio.bad_accesses > 0,
	   "random: the garbage was counted as bad accesses on both devices");
	hg_used(&h, &rf[1], init.slot, &id, &len);
	hg_fuse_reply(&h, &init, &olen, &error, &unique);
	ok(hg_result(&h, st_fs) == 15 && id == init.head && len == olen && error == 0,
	   "random: virtio-fs re-inits (status 0x%x) and answers FUSE_INIT (error %d)", hg_result(&h, st_fs),
	   error);
	ok(hg_result(&h, st_vs) == 15, "random: vsock re-inits (status 0x%x)", hg_result(&h, st_vs));
	hg_free(&h);
}

int main(void)

{
	const struct sm_host_caps *caps;
	sm_error_t err = SM_ERROR_INIT;

	if (sm_host_caps_get(&caps, &err) < 0)
		tap_skip_all(err.msg);
	test_registers();
	test_fs_chains();
	test_vsock();
	{
		const char *e = getenv("SM_HOSTILE_SEED");
		unsigned int seed = e != NULL ? (unsigned int)strtoul(e, NULL, 0) : 20261127u;

		test_random(seed, 4000, false);
		test_random(seed + 1, 4000, false);
		test_random(seed + 2, 4000, true);
		test_random(seed + 3, 4000, true);
	}
	return tap_done();
}
