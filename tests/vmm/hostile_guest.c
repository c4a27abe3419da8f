/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hostile-guest harness (hostile_guest.h): a PVH image around the interpreter of
 * hostile_interp.S, a machine with real virtio-fs and vsock devices, guard pages and a canary.
 */
#include "tests/vmm/hostile_guest.h"

#include <elf.h>
#include <linux/fuse.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "tests/tap.h"

#define HG_CODE_GPA 0x100000u
#define HG_GUARD_LEN 0x10000ul

/* hostile_interp.S, assembled (see the regeneration command there). */
static const uint8_t interp[] = {
    0xbe, 0x00, 0x00, 0x20, 0x00, 0x8b, 0x06, 0x8b, 0x7e, 0x04, 0x8b, 0x56, 0x08, 0x8b, 0x4e, 0x0c, 0x83,
    0xf8, 0x00, 0x0f, 0x84, 0xe3, 0x00, 0x00, 0x00, 0x83, 0xf8, 0x01, 0x74, 0x47, 0x83, 0xf8, 0x02, 0x74,
    0x46, 0x83, 0xf8, 0x03, 0x74, 0x46, 0x83, 0xf8, 0x04, 0x74, 0x45, 0x83, 0xf8, 0x05, 0x74, 0x48, 0x83,
    0xf8, 0x06, 0x74, 0x4b, 0x83, 0xf8, 0x07, 0x74, 0x4d, 0x83, 0xf8, 0x08, 0x74, 0x5c, 0x83, 0xf8, 0x09,
    0x74, 0x60, 0x83, 0xf8, 0x0a, 0x74, 0x64, 0x83, 0xf8, 0x0b, 0x74, 0x68, 0x83, 0xf8, 0x0c, 0x74, 0x69,
    0x83, 0xf8, 0x0d, 0x74, 0x78, 0x83, 0xc6, 0x10, 0xff, 0x05, 0x00, 0x00, 0x1f, 0x00, 0xeb, 0xa0, 0x88,
    0x17, 0xeb, 0xf1, 0x66, 0x89, 0x17, 0xeb, 0xec, 0x89, 0x17, 0xeb, 0xe8, 0x0f, 0xb6, 0x07, 0x89, 0x46,
    0x0c, 0xeb, 0xe0, 0x0f, 0xb7, 0x07, 0x89, 0x46, 0x0c, 0xeb, 0xd8, 0x8b, 0x07, 0x89, 0x46, 0x0c, 0xeb,
    0xd1, 0x0f, 0xb7, 0x07, 0x66, 0x39, 0xd0, 0x74, 0xc9, 0x49, 0x75, 0xf5, 0xc7, 0x46, 0x0c, 0x00, 0x00,
    0x00, 0x00, 0xeb, 0xbd, 0x0f, 0x6f, 0x46, 0x08, 0x0f, 0x7f, 0x07, 0xeb, 0xb4, 0x0f, 0x6f, 0x07, 0x0f,
    0x7f, 0x46, 0x08, 0xeb, 0xab, 0x89, 0xd0, 0x66, 0xba, 0x10, 0x05, 0xef, 0xeb, 0xa2, 0x8b, 0x07, 0x89,
    0x02, 0xeb, 0x9c, 0x8b, 0x07, 0x21, 0xd0, 0x39, 0xd0, 0x74, 0x94, 0x49, 0x75, 0xf5, 0xc7, 0x46, 0x0c,
    0x00, 0x00, 0x00, 0x00, 0xeb, 0x88, 0x0f, 0x22, 0xda, 0x0f, 0x20, 0xe0, 0x83, 0xc8, 0x20, 0x0f, 0x22,
    0xe0, 0xb9, 0x80, 0x00, 0x00, 0xc0, 0x0f, 0x32, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x0f, 0x30, 0x0f, 0x20,
    0xc0, 0x0d, 0x00, 0x00, 0x00, 0x80, 0x0f, 0x22, 0xc0, 0xe9, 0x5e, 0xff, 0xff, 0xff, 0xc7, 0x05, 0x04,
    0x00, 0x1f, 0x00, 0x0e, 0xd0, 0x0d, 0x60, 0x0f, 0x0b};

static void hammer_stop(struct hg *h);

static void die(const char *what)
{
	tap_diag("hostile harness: %s", what);
	fflush(stdout);
	abort();
}

const struct sm_guest_mem *hg_mem(struct hg *h)
{
	return sm_vm_mem(sm_machine_vm(h->m));
}

void hg_read(struct hg *h, uint64_t gpa, void *buf, size_t len)
{
	if (sm_guest_read(hg_mem(h), gpa, buf, len) < 0)
		die("read outside guest RAM");
}

void hg_write(struct hg *h, uint64_t gpa, const void *buf, size_t len)
{
	if (sm_guest_write(hg_mem(h), gpa, buf, len) < 0)
		die("write outside guest RAM");
}

/* A minimal ELF64 "kernel": one PT_LOAD with the interpreter at 1 MiB and the PVH entry note. */
static int write_kernel(const char *path)
{
	struct {
		Elf64_Ehdr eh;
		Elf64_Phdr ph[2];
		Elf64_Nhdr nh;
		char name[4];
		uint32_t entry;
	} img;
	cleanup_free uint8_t *file = NULL;
	size_t size = 0x1000 + sizeof(interp);
	sm_error_t err = SM_ERROR_INIT;

	memset(&img, 0, sizeof(img));
	memcpy(img.eh.e_ident, ELFMAG, SELFMAG);
	img.eh.e_ident[EI_CLASS] = ELFCLASS64;
	img.eh.e_ident[EI_DATA] = ELFDATA2LSB;
	img.eh.e_ident[EI_VERSION] = EV_CURRENT;
	img.eh.e_type = ET_EXEC;
	img.eh.e_machine = EM_X86_64;
	img.eh.e_version = EV_CURRENT;
	img.eh.e_entry = HG_CODE_GPA;
	img.eh.e_phoff = offsetof(__typeof__(img), ph);
	img.eh.e_ehsize = sizeof(Elf64_Ehdr);
	img.eh.e_phentsize = sizeof(Elf64_Phdr);
	img.eh.e_phnum = 2;
	img.ph[0] = (Elf64_Phdr){.p_type = PT_LOAD,
				 .p_flags = PF_R | PF_X,
				 .p_offset = 0x1000,
				 .p_vaddr = HG_CODE_GPA,
				 .p_paddr = HG_CODE_GPA,
				 .p_filesz = sizeof(interp),
				 .p_memsz = sizeof(interp),
				 .p_align = 0x1000};
	img.ph[1] = (Elf64_Phdr){.p_type = PT_NOTE,
				 .p_offset = offsetof(__typeof__(img), nh),
				 .p_filesz = sizeof(img.nh) + 8,
				 .p_align = 4};
	img.nh = (Elf64_Nhdr){.n_namesz = 4, .n_descsz = 4, .n_type = 18 /* XEN_ELFNOTE_PHYS32_ENTRY */};
	memcpy(img.name, "Xen", 4);
	img.entry = HG_CODE_GPA;
	file = sm_xcalloc(1, size);
	memcpy(file, &img, sizeof(img));
	memcpy(file + 0x1000, interp, sizeof(interp));
	if (sm_write_file_atomic(path, file, size, 0644, &err) < 0) {
		tap_diag("kernel image: %s", err.msg);
		return -1;
	}
	return 0;
}

static uint64_t sync_read(void *opaque, uint64_t offset, unsigned int size)
{
	(void)opaque;
	(void)offset;
	(void)size;
	return 0;
}

/* On the vCPU thread, while the guest waits in its OUT: the devices' counters at this point. */
static void sync_write(void *opaque, uint64_t offset, unsigned int size, uint64_t value)
{
	struct hg *h = opaque;
	struct hg_snap *s;

	(void)offset;
	(void)size;
	if (value >= HG_MAX_SYNC)
		return;
	if (h->hammer_running && value == h->hammer_until)
		hammer_stop(h);
	s = &h->snaps[value];
	sm_virtiofs_dev_stats(h->fs, &s->fs);
	sm_virtio_mmio_stats(sm_virtio_attached_dev(h->fs_slot), &s->fs_mmio);
	if (h->vs != NULL) {
		sm_virtio_mmio_stats(sm_vsock_virtio(h->vs), &s->vs_mmio);
		sm_vsock_get_stats(h->vs, &s->vs);
	}
	sm_vm_get_stats(sm_machine_vm(h->m), &s->vm);
	__atomic_store_n(&s->seen, true, __ATOMIC_RELEASE);
}

static void hammer_stop(struct hg *h)
{
	if (!h->hammer_running)
		return;
	__atomic_store_n(&h->hammer_stop, true, __ATOMIC_RELEASE);
	pthread_join(h->hammer, NULL);
	h->hammer_running = false;
}

static const struct sm_bus_ops sync_ops = {sync_read, sync_write};

/* PROT_NONE pages right below and above the host mapping of guest RAM, where that space is free. */
static void *guard_at(uint8_t *addr)
{
	void *p =
	    mmap(addr, HG_GUARD_LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (p != addr) { /* a kernel without MAP_FIXED_NOREPLACE took it as a hint */
		munmap(p, HG_GUARD_LEN);
		return NULL;
	}
	return p;
}

static void add_guards(struct hg *h)
{
	const struct sm_guest_mem *mem = hg_mem(h);
	const struct sm_mem_region *r = &mem->regions[0];

	h->guard_lo = guard_at(r->hva - HG_GUARD_LEN);
	h->guard_hi = guard_at(r->hva + r->size);
}

bool hg_guards(const struct hg *h)
{
	return h->guard_lo != NULL && h->guard_hi != NULL;
}

static int fs_new(struct hg *h, const struct hg_opts *o)
{
	struct sm_virtiofs_dev_config c;
	sm_error_t err = SM_ERROR_INIT;
	void *hva = NULL;
	uint64_t gpa, size;

	sm_virtiofs_dev_config_init(&c);
	c.fuse.root = h->share;
	c.fuse.dax_window_size = o->dax_size;
	c.dax_gpa = sm_virtio_slot_shm_base(HG_FS_SLOT);
	c.tag = "hostile";
	if (sm_virtiofs_dev_new(&c, &h->fs, &err) < 0) {
		tap_diag("virtio-fs: %s", err.msg);
		return -1;
	}
	sm_virtiofs_dev_dax(h->fs, &hva, &gpa, &size);
	if (sm_virtio_attach(h->m, HG_FS_SLOT, sm_virtiofs_dev_ops(h->fs), sm_virtiofs_dev_priv(h->fs),
			     hva != NULL ? (void *const[]){hva} : NULL, &h->fs_slot, &err) < 0) {
		tap_diag("attach virtio-fs: %s", err.msg);
		return -1;
	}
	return 0;
}

static int vsock_new(struct hg *h)
{
	cleanup_free char *path = sm_xasprintf("%s/vsock.sock", h->dir);
	struct sm_vsock_config vc = {.uds_path = path, .guest_cid = 3};
	struct sm_virtio_mmio_config mc;
	sm_error_t err = SM_ERROR_INIT;

	if (sm_virtio_attach_prepare(h->m, HG_VSOCK_SLOT, &h->vs_slot, &mc, &err) < 0 ||
	    sm_vsock_new(&vc, &mc, &h->vs, &err) < 0 ||
	    sm_virtio_attach_finish(h->vs_slot, sm_vsock_virtio(h->vs), NULL, 0, NULL, &err) < 0) {
		tap_diag("vsock: %s", err.msg);
		return -1;
	}
	return 0;
}

int hg_new(struct hg *h, const struct hg_opts *o)
{
	cleanup_free char *kernel = NULL;
	struct sm_machine_config mc = {
	    .mem_mib = HG_RAM_MIB, .ncpus = 1, .console_out_fd = -1, .console_in_fd = -1};
	sm_error_t err = SM_ERROR_INIT;

	memset(h, 0, sizeof(*h));
	snprintf(h->dir, sizeof(h->dir), "/tmp/sm-hostile-XXXXXX");
	if (mkdtemp(h->dir) == NULL) {
		tap_diag("mkdtemp: %s", strerror(errno));
		h->dir[0] = '\0';
		return -1;
	}
	snprintf(h->share, sizeof(h->share), "%s/share", h->dir);
	kernel = sm_xasprintf("%s/payload.elf", h->dir);
	if (mkdir(h->share, 0755) < 0 || write_kernel(kernel) < 0)
		return -1;
	mc.kernel_path = kernel;
	if (sm_machine_create(&mc, &h->m, &err) < 0) {
		tap_diag("machine: %s", err.msg);
		return -1;
	}
	if (sm_vm_register_pio(sm_machine_vm(h->m), HG_SYNC_PORT, 4, &sync_ops, h, "hostile sync", &err) <
	    0) {
		tap_diag("sync port: %s", err.msg);
		return -1;
	}
	if (fs_new(h, o) < 0 || (o->vsock && vsock_new(h) < 0))
		return -1;
	add_guards(h);
	h->ops = sm_xcalloc(HG_SCRIPT_MAX, sizeof(*h->ops));
	h->heap = HG_HEAP_GPA;
	h->rings = HG_RING_GPA;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	(void)remove(path); /* best effort: a leftover temporary file is not a test failure */
	return 0;
}

void hg_free(struct hg *h)
{
	if (h->m != NULL)
		sm_vm_join(sm_machine_vm(h->m));
	hammer_stop(h);
	if (h->vs_slot != NULL)
		sm_virtio_attached_release(h->vs_slot);
	sm_virtio_detach(h->vs_slot);
	sm_vsock_free(h->vs);
	sm_virtiofs_dev_free(h->fs);
	sm_virtio_detach(h->fs_slot);
	sm_machine_destroy(h->m);
	if (h->guard_lo != NULL)
		munmap(h->guard_lo, HG_GUARD_LEN);
	if (h->guard_hi != NULL)
		munmap(h->guard_hi, HG_GUARD_LEN);
	if (h->dir[0] != '\0')
		nftw(h->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(h->ops);
	memset(h, 0, sizeof(*h));
}

unsigned int hg_op(struct hg *h, enum hg_opcode op, uint32_t addr, uint32_t value, uint32_t arg)
{
	if (h->nops + 1 >= HG_SCRIPT_MAX)
		die("script too long");
	h->ops[h->nops] = (struct hg_op){op, addr, value, arg};
	return h->nops++;
}

unsigned int hg_sync(struct hg *h)
{
	if (h->nsync >= HG_MAX_SYNC)
		die("too many sync points");
	hg_op(h, HG_SYNC, 0, h->nsync, 0);
	return h->nsync++;
}

uint32_t hg_result(struct hg *h, unsigned int idx)
{
	return h->ops[idx].arg;
}

uint64_t hg_result64(struct hg *h, unsigned int idx)
{
	return h->ops[idx].value | (uint64_t)h->ops[idx].arg << 32;
}

uint32_t hg_alloc(struct hg *h, uint32_t len, uint8_t fill)
{
	uint32_t at = h->heap;
	cleanup_free uint8_t *buf = NULL;

	if (len > HG_HEAP_END - h->heap)
		die("guest heap exhausted");
	h->heap += (len + 15) & ~15u;
	buf = sm_xmalloc(len > 0 ? len : 1);
	memset(buf, fill, len);
	hg_write(h, at, buf, len);
	return at;
}

static void w32(struct hg *h, uint32_t base, uint32_t reg, uint32_t v)
{
	hg_op(h, HG_W32, base + reg, v, 0);
}

unsigned int hg_driver_init(struct hg *h, uint32_t base, struct hg_ring *rings, unsigned int nq,
			    bool event_idx)
{
	static const uint8_t zero[0x4000];
	unsigned int st;

	w32(h, base, SM_VMMIO_STATUS, 0);
	w32(h, base, SM_VMMIO_STATUS, SM_VIRTIO_S_ACKNOWLEDGE);
	w32(h, base, SM_VMMIO_STATUS, SM_VIRTIO_S_ACKNOWLEDGE | SM_VIRTIO_S_DRIVER);
	w32(h, base, SM_VMMIO_DRIVER_FEATURES_SEL, 0);
	w32(h, base, SM_VMMIO_DRIVER_FEATURES,
	    (1u << SM_VIRTIO_F_INDIRECT_DESC) | (event_idx ? 1u << SM_VIRTIO_F_EVENT_IDX : 0));
	w32(h, base, SM_VMMIO_DRIVER_FEATURES_SEL, 1);
	w32(h, base, SM_VMMIO_DRIVER_FEATURES, 1); /* VIRTIO_F_VERSION_1 (bit 32) */
	w32(h, base, SM_VMMIO_STATUS, SM_VIRTIO_S_ACKNOWLEDGE | SM_VIRTIO_S_DRIVER | SM_VIRTIO_S_FEATURES_OK);
	st = hg_op(h, HG_R32, base + SM_VMMIO_STATUS, 0, 0);
	for (unsigned int i = 0; i < nq; i++) {
		struct hg_ring *r = &rings[i];

		if (h->rings + 0x4000 > HG_RING_END)
			die("ring area exhausted");
		*r = (struct hg_ring){.base = base,
				      .queue = i,
				      .size = HG_QSIZE,
				      .desc = h->rings,
				      .avail = h->rings + 0x1000,
				      .used = h->rings + 0x2000};
		h->rings += 0x4000;
		hg_write(h, r->desc, zero, sizeof(zero));
		w32(h, base, SM_VMMIO_QUEUE_SEL, i);
		w32(h, base, SM_VMMIO_QUEUE_NUM, HG_QSIZE);
		w32(h, base, SM_VMMIO_QUEUE_DESC_LOW, r->desc);
		w32(h, base, SM_VMMIO_QUEUE_DESC_HIGH, 0);
		w32(h, base, SM_VMMIO_QUEUE_DRIVER_LOW, r->avail);
		w32(h, base, SM_VMMIO_QUEUE_DRIVER_HIGH, 0);
		w32(h, base, SM_VMMIO_QUEUE_DEVICE_LOW, r->used);
		w32(h, base, SM_VMMIO_QUEUE_DEVICE_HIGH, 0);
		w32(h, base, SM_VMMIO_QUEUE_READY, 1);
	}
	w32(h, base, SM_VMMIO_STATUS,
	    SM_VIRTIO_S_ACKNOWLEDGE | SM_VIRTIO_S_DRIVER | SM_VIRTIO_S_FEATURES_OK | SM_VIRTIO_S_DRIVER_OK);
	return st;
}

void hg_desc_at(struct hg *h, struct hg_ring *r, uint16_t idx, uint64_t addr, uint32_t len, uint16_t flags,
		uint16_t next)
{
	struct sm_vring_desc d = {addr, len, flags, next};

	hg_write(h, r->desc + (uint32_t)idx % r->size * 16u, &d, sizeof(d));
}

uint16_t hg_desc_reserve(struct hg_ring *r, uint16_t n)
{
	uint16_t at = r->next_desc;

	if ((unsigned int)at + n > r->size)
		die("descriptor table exhausted");
	r->next_desc = (uint16_t)(at + n);
	return at;
}

uint16_t hg_desc(struct hg *h, struct hg_ring *r, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint16_t idx = hg_desc_reserve(r, 1);

	hg_desc_at(h, r, idx, addr, len, flags, next);
	return idx;
}

uint16_t hg_post_begin(struct hg *h, struct hg_ring *r, uint16_t head)
{
	if ((uint16_t)(r->avail_idx - r->used_expect) >= r->size || r->avail_idx >= r->size)
		die("available ring exhausted");
	hg_write(h, r->avail + 4 + (uint32_t)(r->avail_idx % r->size) * 2u, &head, 2);
	r->avail_idx++;
	hg_op(h, HG_W16, r->avail + 2, r->avail_idx, 0);
	w32(h, r->base, SM_VMMIO_QUEUE_NOTIFY, r->queue);
	return r->used_expect;
}

void hg_post_end(struct hg *h, struct hg_ring *r, bool answered, unsigned int *tag)
{
	if (answered) {
		r->used_expect++;
		hg_op(h, HG_WAIT16, r->used + 2, r->used_expect, 0xffffffffu);
	}
	if (tag != NULL)
		*tag = hg_sync(h);
}

uint16_t hg_post(struct hg *h, struct hg_ring *r, uint16_t head, bool answered, unsigned int *tag)
{
	uint16_t slot = hg_post_begin(h, r, head);

	hg_post_end(h, r, answered, tag);
	return slot;
}

void hg_used(struct hg *h, const struct hg_ring *r, uint16_t slot, uint32_t *id, uint32_t *len)
{
	uint32_t e[2];

	hg_read(h, r->used + 4 + (uint32_t)(slot % r->size) * 8u, e, sizeof(e));
	*id = e[0];
	*len = e[1];
}

uint16_t hg_used_idx(struct hg *h, const struct hg_ring *r)
{
	uint16_t v;

	hg_read(h, r->used + 2, &v, 2);
	return v;
}

static uint8_t canary_byte(uint32_t i)
{
	return (uint8_t)(i * 131u + 0x5a);
}

/* One random transport call, as a second vCPU or the ioeventfd thread would make it. */
static void hammer_one(struct sm_virtio_dev *dev, unsigned int *seed)
{
	static const uint32_t status[] = {0, 1, 3, 11, 15, 0x4f, 0x80, 0xff};
	uint32_t v = (uint32_t)rand_r(seed), data = 0;
	uint64_t wide = 0;

	switch (rand_r(seed) % 10) {
	case 0:
		sm_virtio_mmio_write(dev, SM_VMMIO_STATUS, &status[v % 8], 4);
		break;
	case 1:
		sm_virtio_mmio_notify(dev, v % 4);
		break;
	case 2:
		data = v % 4;
		sm_virtio_mmio_write(dev, SM_VMMIO_QUEUE_NOTIFY, &data, 4);
		break;
	case 3:
		sm_virtio_mmio_read(dev, (v % 0x40) * 4, &data, 4);
		break;
	case 4:
		sm_virtio_mmio_write(dev, SM_VMMIO_INTERRUPT_ACK, &v, 4);
		break;
	case 5:
		data = v % 4;
		sm_virtio_mmio_write(dev, SM_VMMIO_QUEUE_SEL, &data, 4);
		data = (v >> 8) % 2;
		sm_virtio_mmio_write(dev, SM_VMMIO_QUEUE_READY, &data, 4);
		break;
	case 6:
		sm_virtio_mmio_read(dev, SM_VMMIO_CONFIG + v % 64, &wide, 1u << (v >> 8) % 4);
		break;
	case 7:
		data = v % 2;
		sm_virtio_mmio_write(dev, SM_VMMIO_QUEUE_RESET, &data, 4);
		break;
	default:
		sm_virtio_mmio_read(dev, SM_VMMIO_INTERRUPT_STATUS, &data, 4);
		break;
	}
}

static void *hammer_main(void *arg)
{
	struct hg *h = arg;
	unsigned int seed = h->hammer_seed;

	while (!__atomic_load_n(&h->hammer_stop, __ATOMIC_ACQUIRE)) {
		struct sm_virtio_dev *dev = h->vs == NULL || rand_r(&seed) % 2
						? sm_virtio_attached_dev(h->fs_slot)
						: sm_vsock_virtio(h->vs);
		hammer_one(dev, &seed);
		h->hammer_ops++;
		if (rand_r(&seed) % 64 == 0)
			usleep((useconds_t)(rand_r(&seed) % 200));
	}
	return NULL;
}

void hg_hammer(struct hg *h, unsigned int until_tag, unsigned int seed)
{
	h->hammer_want = true;
	h->hammer_until = until_tag;
	h->hammer_seed = seed;
}

int hg_run(struct hg *h, int64_t timeout_ns)
{
	cleanup_free uint8_t *canary = sm_xmalloc(HG_CANARY_LEN);
	sm_error_t err = SM_ERROR_INIT;
	uint32_t zero[2] = {0, 0};
	int r;

	for (uint32_t i = 0; i < HG_CANARY_LEN; i++)
		canary[i] = canary_byte(i);
	hg_write(h, HG_CANARY_GPA, canary, HG_CANARY_LEN);
	h->ops[h->nops] = (struct hg_op){HG_END, 0, 0, 0};
	hg_write(h, HG_SCRIPT_GPA, h->ops, (h->nops + 1) * sizeof(*h->ops));
	hg_write(h, HG_DONE_GPA, zero, sizeof(zero));
	if (h->hammer_want) {
		int e = pthread_create(&h->hammer, NULL, hammer_main, h);
		if (e != 0)
			die("hammer thread");
		h->hammer_running = true;
	}
	if (sm_machine_start(h->m, &err) < 0) {
		tap_diag("start: %s", err.msg);
		hammer_stop(h);
		return -1;
	}
	h->ran = true;
	r = sm_machine_wait(h->m, timeout_ns, &h->res);
	if (r < 0) {
		tap_diag("the guest did not finish in time");
		sm_vm_stop(sm_machine_vm(h->m), SM_VM_STOP_REQUESTED, "hostile test timeout");
		sm_machine_wait(h->m, -1, &h->res);
	}
	sm_vm_join(sm_machine_vm(h->m));
	hammer_stop(h);
	hg_read(h, HG_SCRIPT_GPA, h->ops, (h->nops + 1) * sizeof(*h->ops));
	return r < 0 ? -1 : 0;
}

uint32_t hg_canary_changed(struct hg *h)
{
	cleanup_free uint8_t *canary = sm_xmalloc(HG_CANARY_LEN);
	uint32_t bad = 0;

	hg_read(h, HG_CANARY_GPA, canary, HG_CANARY_LEN);
	for (uint32_t i = 0; i < HG_CANARY_LEN; i++)
		bad += canary[i] != canary_byte(i);
	return bad;
}

bool hg_finished(struct hg *h, uint32_t *ran)
{
	uint32_t done[2];

	hg_read(h, HG_DONE_GPA, done, sizeof(done));
	*ran = done[0];
	return done[1] == HG_DONE_MAGIC && done[0] == h->nops;
}

void hg_fuse_req(struct hg *h, struct hg_ring *r, uint32_t opcode, uint64_t nodeid, const void *arg,
		 uint32_t arg_len, uint32_t out_len, struct hg_req *q)
{
	static uint64_t unique = 100;
	struct fuse_in_header ih = {
	    .len = (uint32_t)sizeof(ih) + arg_len, .opcode = opcode, .unique = unique++, .nodeid = nodeid};

	memset(q, 0, sizeof(*q));
	q->in_len = (uint32_t)sizeof(ih) + arg_len;
	q->in = hg_alloc(h, q->in_len, 0);
	hg_write(h, q->in, &ih, sizeof(ih));
	if (arg_len > 0)
		hg_write(h, q->in + sizeof(ih), arg, arg_len);
	q->out_len = out_len;
	if (out_len > 0) {
		q->out = hg_alloc(h, out_len, 0xaa);
		uint16_t d1 = hg_desc(h, r, q->out, out_len, SM_VRING_DESC_F_WRITE, 0);
		q->head = hg_desc(h, r, q->in, q->in_len, SM_VRING_DESC_F_NEXT, d1);
	} else {
		q->head = hg_desc(h, r, q->in, q->in_len, 0, 0);
	}
}

void hg_fuse_init(struct hg *h, struct hg_ring *r, bool dax, struct hg_req *q)
{
	struct fuse_init_in in = {.major = FUSE_KERNEL_VERSION,
				  .minor = FUSE_KERNEL_MINOR_VERSION,
				  .max_readahead = 1 << 20,
				  .flags = FUSE_MAX_PAGES | FUSE_INIT_EXT | (dax ? FUSE_MAP_ALIGNMENT : 0),
				  .flags2 = dax ? (uint32_t)(FUSE_HAS_INODE_DAX >> 32) : 0};

	hg_fuse_req(h, r, FUSE_INIT, 0, &in, sizeof(in),
		    sizeof(struct fuse_out_header) + sizeof(struct fuse_init_out), q);
	q->slot = hg_post(h, r, q->head, true, &q->tag);
}

void hg_fuse_reply(struct hg *h, const struct hg_req *q, uint32_t *len, int32_t *error, uint64_t *unique)
{
	struct fuse_out_header oh;

	memset(&oh, 0, sizeof(oh));
	if (q->out_len >= sizeof(oh))
		hg_read(h, q->out, &oh, sizeof(oh));
	*len = oh.len;
	*error = oh.error;
	*unique = oh.unique;
}

bool hg_untouched(struct hg *h, uint32_t gpa, uint32_t len)
{
	cleanup_free uint8_t *buf = sm_xmalloc(len > 0 ? len : 1);

	hg_read(h, gpa, buf, len);
	for (uint32_t i = 0; i < len; i++)
		if (buf[i] != 0xaa)
			return false;
	return true;
}
