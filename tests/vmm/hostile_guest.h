/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_TESTS_HOSTILE_GUEST_H
#define SM_TESTS_HOSTILE_GUEST_H

/*
 * A hostile guest under real KVM, for tests/vmm/hostile_*.c. The machine (vmm/machine.h) boots a
 * tiny PVH "kernel" built by the test: the register-access interpreter of hostile_interp.S,
 * running at CPL0 in 32-bit protected mode. It executes a script the test writes into guest RAM
 * before the start, so every register access, ring publication and kick is done by guest
 * instructions (MMIO exits of the chosen width and alignment, memory writes the devices see).
 * Descriptor tables, indirect tables and request buffers are laid out in guest RAM by the test
 * (the guest "wrote" them before it runs); the guest publishes them (avail idx) and kicks.
 *
 * Real devices are attached with sm_virtio_attach: virtio-fs (slot 0, optional DAX window) over a
 * temporary directory, and virtio-vsock (slot 1) on a temporary Unix socket. A sync op (an OUT to
 * a test port) snapshots the devices' counters on the vCPU thread, so each attack's effect is
 * checked on its own. Guest RAM gets PROT_NONE guard pages around its host mapping (when the
 * addresses next to it are free) and a canary range no descriptor ever names.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtiofs/device.h"
#include "vmm/devices/vsock.h"
#include "tests/tap.h"
#include "vmm/machine.h"
#include "vmm/virtio/attach.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/virtqueue.h"

#define HG_RAM_MIB 32ull
#define HG_RAM_END (HG_RAM_MIB << 20)
#define HG_DONE_GPA 0x1f0000u /* ops executed (u32), then the end marker */
#define HG_DONE_MAGIC 0x600dd00eu
#define HG_SCRIPT_GPA 0x200000u
#define HG_SCRIPT_MAX 65536u
#define HG_RING_GPA 0x400000u /* rings: 0x8000 each, bump-allocated */
#define HG_RING_END 0x800000u
#define HG_CANARY_GPA 0x800000u /* never handed to a device */
#define HG_CANARY_LEN 0x100000u
#define HG_HEAP_GPA 0x900000u /* request buffers and indirect tables */
#define HG_HEAP_END 0x1f00000u
#define HG_SYNC_PORT 0x510
#define HG_MAX_SYNC 256
#define HG_QSIZE 256 /* queue size the guest driver picks */

#define HG_FS_SLOT 0
#define HG_VSOCK_SLOT 1
#define HG_FS_BASE ((uint32_t)(SM_VIRTIO_MMIO_BASE + HG_FS_SLOT * SM_VIRTIO_MMIO_SIZE))
#define HG_VSOCK_BASE ((uint32_t)(SM_VIRTIO_MMIO_BASE + HG_VSOCK_SLOT * SM_VIRTIO_MMIO_SIZE))

enum hg_opcode {
	HG_END = 0,
	HG_W8,
	HG_W16,
	HG_W32,
	HG_R8,
	HG_R16,
	HG_R32,
	HG_WAIT16,
	HG_W64,
	HG_R64,
	HG_SYNC,
	HG_COPY32,
	HG_WAIT32,
	HG_PAGING,
};

struct hg_op {
	uint32_t op, addr, value, arg;
};

/* What the devices' counters were at one sync point. */
struct hg_snap {
	bool seen;
	struct sm_virtiofs_dev_stats fs;
	struct sm_virtio_mmio_stats fs_mmio, vs_mmio;
	struct sm_vsock_stats vs;
	struct sm_vm_stats vm;
};

/* A split virtqueue laid out by the test in guest RAM, driven by the guest script. */
struct hg_ring {
	uint32_t base; /* MMIO window of the device */
	unsigned int queue;
	uint32_t desc, avail, used; /* guest physical addresses */
	uint16_t size;
	uint16_t next_desc; /* next free descriptor index (each used once per ring) */
	uint16_t avail_idx; /* what the guest has published (or will have, as the script runs) */
	uint16_t used_expect;
};

struct hg_opts {
	uint64_t dax_size; /* 0: no DAX window */
	bool vsock;
};

struct hg {
	struct sm_machine *m;
	struct sm_virtiofs_dev *fs;
	struct sm_virtio_attached *fs_slot;
	struct sm_vsock *vs;
	struct sm_virtio_attached *vs_slot;
	char dir[64];	/* temporary directory: kernel image, socket */
	char share[96]; /* the virtio-fs share (dir/share) */
	void *guard_lo, *guard_hi;
	struct hg_op *ops;
	unsigned int nops;
	uint32_t heap, rings;
	unsigned int nsync;
	struct hg_snap snaps[HG_MAX_SYNC];
	struct sm_machine_result res;
	bool ran;
	/* The racing second "vCPU" (hg_hammer). */
	pthread_t hammer;
	bool hammer_want, hammer_running, hammer_stop;
	unsigned int hammer_until, hammer_seed;
	uint64_t hammer_ops;
};

/*
 * Race the guest: from hg_run's start until the guest reaches sync point until_tag, a host thread
 * calls the transports exactly as a second vCPU's MMIO exits and the ioeventfd thread do (resets,
 * status writes, queue enables, kicks, interrupt ACKs, register and config reads), at random.
 */
void hg_hammer(struct hg *h, unsigned int until_tag, unsigned int seed);

/* Set up the machine and devices (nothing runs yet). Returns <0 (with a TAP diagnostic) on failure. */
int hg_new(struct hg *h, const struct hg_opts *o);

/* Stop and free everything (also after a failed hg_new). */
void hg_free(struct hg *h);

/* The guest RAM. */
const struct sm_guest_mem *hg_mem(struct hg *h);

/* Append one op; returns its index (to read the result back after hg_run). */
unsigned int hg_op(struct hg *h, enum hg_opcode op, uint32_t addr, uint32_t value, uint32_t arg);

/* Append a sync point; returns its tag (index into snaps). */
unsigned int hg_sync(struct hg *h);

/* The result of a read or wait op after the run (the op's arg; a 64-bit read: value | arg << 32). */
uint32_t hg_result(struct hg *h, unsigned int idx);
uint64_t hg_result64(struct hg *h, unsigned int idx);

/* Reserve len bytes (16-aligned) of guest heap, filled with fill. */
uint32_t hg_alloc(struct hg *h, uint32_t len, uint8_t fill);

/*
 * Script the Linux-style probe of a device: reset, ACK, DRIVER, features (VERSION_1 plus
 * INDIRECT_DESC; + EVENT_IDX when asked), FEATURES_OK, then the rings of nq queues (each given a
 * fresh ring area; rings[i] filled), DRIVER_OK. Returns the index of the status read-back op.
 */
unsigned int hg_driver_init(struct hg *h, uint32_t base, struct hg_ring *rings, unsigned int nq,
			    bool event_idx);

/* Write one descriptor (as the guest would) and return its index. */
uint16_t hg_desc(struct hg *h, struct hg_ring *r, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);

/* Reserve n consecutive descriptor indices. */
uint16_t hg_desc_reserve(struct hg_ring *r, uint16_t n);

/* Write descriptor idx directly. */
void hg_desc_at(struct hg *h, struct hg_ring *r, uint16_t idx, uint64_t addr, uint32_t len, uint16_t flags,
		uint16_t next);

/*
 * Put head in the next available slot (staged in RAM), then script: publish avail idx, kick, and
 * (when answered) wait until the used ring has one more entry, then a sync point. Returns the
 * used-ring slot the answer will be in (answered) and the sync tag in *tag.
 */
uint16_t hg_post(struct hg *h, struct hg_ring *r, uint16_t head, bool answered, unsigned int *tag);

/* hg_post in two halves, for ops in between (the guest rewriting a request in flight). */
uint16_t hg_post_begin(struct hg *h, struct hg_ring *r, uint16_t head);
void hg_post_end(struct hg *h, struct hg_ring *r, bool answered, unsigned int *tag);

/* The used element at slot (after the run): id and len. */
void hg_used(struct hg *h, const struct hg_ring *r, uint16_t slot, uint32_t *id, uint32_t *len);

/* The used ring's idx (after the run). */
uint16_t hg_used_idx(struct hg *h, const struct hg_ring *r);

/*
 * Run the script to its end (the guest triple-faults after the end marker). Returns 0 when the
 * guest reached the end marker and stopped by a shutdown within the timeout.
 */
int hg_run(struct hg *h, int64_t timeout_ns);

/* A FUSE request laid out in guest RAM: readable in[in_len], writable out[out_len] (0xaa filled). */
struct hg_req {
	uint32_t in, in_len, out, out_len;
	uint16_t head;
	uint16_t slot; /* used-ring slot of the answer (after hg_post) */
	unsigned int tag;
};

/*
 * Lay out a FUSE request (in header with len = 40 + arg_len, opcode, a fresh unique, nodeid; then
 * arg) and an out buffer of out_len bytes, as a two-descriptor chain (one when out_len is 0).
 */
void hg_fuse_req(struct hg *h, struct hg_ring *r, uint32_t opcode, uint64_t nodeid, const void *arg,
		 uint32_t arg_len, uint32_t out_len, struct hg_req *q);

/* FUSE_INIT (7.38, no DAX flags asked unless dax) on r, posted and answered. */
void hg_fuse_init(struct hg *h, struct hg_ring *r, bool dax, struct hg_req *q);

/* The reply's fuse_out_header (after the run): len, error (negative errno), unique. */
void hg_fuse_reply(struct hg *h, const struct hg_req *q, uint32_t *len, int32_t *error, uint64_t *unique);

/* True when none of the out buffer's bytes changed (still 0xaa). */
bool hg_untouched(struct hg *h, uint32_t gpa, uint32_t len);

/* Bytes of the canary range that changed during the run. */
uint32_t hg_canary_changed(struct hg *h);

/* True when the guest executed every op and reached the end marker; *ran: ops executed. */
bool hg_finished(struct hg *h, uint32_t *ran);

/* True when the guard page or canary checks can even run (for diagnostics). */
bool hg_guards(const struct hg *h);

/* Read/write guest RAM (aborting the test run on an address the test got wrong). */
void hg_read(struct hg *h, uint64_t gpa, void *buf, size_t len);
void hg_write(struct hg *h, uint64_t gpa, const void *buf, size_t len);

/* Checks common to every run (TAP, so inline in the test's own unit): end marker, stop reason,
 * canary untouched; the process is alive, so no guard page was touched. */
static inline void hg_check_memory(struct hg *h, const char *what)
{
	uint32_t ran = 0, bad;
	bool fin = hg_finished(h, &ran);

	ok(fin, "%s: the guest ran all %u ops to the end marker (%u ran; stop: %s: %s)", what, h->nops, ran,
	   sm_vm_stop_reason_name(h->res.stop.reason), h->res.stop.msg);
	ok(h->res.stop.reason == SM_VM_STOP_SHUTDOWN, "%s: the VM stopped by the guest's final triple fault",
	   what);
	bad = hg_canary_changed(h);
	ok(bad == 0, "%s: the canary MiB of guest RAM that no descriptor names is intact (%u bytes changed)",
	   what, bad);
	ok(1, "%s: the VMM survived; guard pages around the host RAM mapping: %s", what,
	   hg_guards(h)			? "both in place"
	   : h->guard_lo || h->guard_hi ? "one side"
					: "none (space taken)");
}

#endif
