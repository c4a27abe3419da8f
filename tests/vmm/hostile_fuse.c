/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hostile guest, FUSE level (docs/security.md, "Hostile guest"): a guest payload under real KVM
 * (tests/vmm/hostile_guest.h) sends truncated, oversized and malformed FUSE requests to a real
 * virtio-fs device, and FUSE_SETUPMAPPING / REMOVEMAPPING ranges outside its DAX window. Each
 * request must be answered with an error (or, when no reply fits, returned with length 0 and
 * counted as unanswered), the device must go on serving, and no file page may be mapped outside
 * the window. Requests are also rewritten by the guest while the device works on them, and the
 * guest touches the window itself (mapped, unmapped, past-EOF and read-only pages) through its own
 * page tables. Skips without /dev/kvm.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "tests/tap.h"
#include "tests/vmm/hostile_guest.h"

#define TIMEOUT_NS (300ll * 1000000000)
#define DAX_SIZE (8ull << 20)
#define FILE_SIZE 65536u
#define OUT_LEN 4096u
#define NODEID_OFF 16 /* fuse_in_header.nodeid */

/* One hostile request: what it is and what must come back. */
struct bad_req {
	const char *what;
	struct hg_req q;
	int32_t expect;	 /* the reply's error; 1: any error; 2: anything; 0: success */
	bool unanswered; /* no reply fits: used length 0, counted as unanswered */
	bool no_reply;	 /* FORGET-like: used length 0, not counted */
};

struct fuse_run {
	struct hg h;
	struct hg_ring rings[2];
	struct hg_req init, lookup;
	struct bad_req r[64];
	unsigned int n;
	unsigned int t_start;
};

static struct bad_req *add(struct fuse_run *f, const char *what, int32_t expect)
{
	struct bad_req *b = &f->r[f->n++];

	if (f->n > sizeof(f->r) / sizeof(f->r[0]))
		abort();
	memset(b, 0, sizeof(*b));
	b->what = what;
	b->expect = expect;
	return b;
}

/* A request built by hg_fuse_req, then post it (after an optional patch of its in-header len). */
static void req(struct fuse_run *f, const char *what, int32_t expect, uint32_t opcode, uint64_t nodeid,
		const void *arg, uint32_t arg_len, int64_t len_override)
{
	struct bad_req *b = add(f, what, expect);

	hg_fuse_req(&f->h, &f->rings[1], opcode, nodeid, arg, arg_len, OUT_LEN, &b->q);
	if (len_override >= 0) {
		uint32_t len = (uint32_t)len_override;
		hg_write(&f->h, b->q.in, &len, sizeof(len));
	}
	b->q.slot = hg_post(&f->h, &f->rings[1], b->q.head, true, &b->q.tag);
}

/* The looked-up file's nodeid goes into the request by guest copy (it is only known at run time). */
static void post_with_nodeid(struct fuse_run *f, struct bad_req *b)
{
	hg_op(&f->h, HG_COPY32, f->lookup.out + 16, b->q.in + NODEID_OFF, 0);
	hg_op(&f->h, HG_COPY32, f->lookup.out + 20, b->q.in + NODEID_OFF + 4, 0);
	b->q.slot = hg_post(&f->h, &f->rings[1], b->q.head, true, &b->q.tag);
}

static void map(struct fuse_run *f, const char *what, int32_t expect, uint64_t fh, uint64_t foffset,
		uint64_t len, uint64_t flags, uint64_t moffset)
{
	struct fuse_setupmapping_in in = {fh, foffset, len, flags, moffset};
	struct bad_req *b = add(f, what, expect);

	hg_fuse_req(&f->h, &f->rings[1], FUSE_SETUPMAPPING, 0, &in, sizeof(in), OUT_LEN, &b->q);
	post_with_nodeid(f, b);
}

static void unmap(struct fuse_run *f, const char *what, int32_t expect, uint32_t count, uint64_t moffset,
		  uint64_t len)
{
	struct {
		struct fuse_removemapping_in in;
		struct fuse_removemapping_one one;
	} __attribute__((packed)) a = {{count}, {moffset, len}};
	struct bad_req *b = add(f, what, expect);

	hg_fuse_req(&f->h, &f->rings[1], FUSE_REMOVEMAPPING, 0, &a, sizeof(a), OUT_LEN, &b->q);
	post_with_nodeid(f, b);
}

static void script_reply_room(struct fuse_run *f);

/* Malformed requests: lengths that disagree with the buffers, strings, opcodes. */
static void script_requests(struct fuse_run *f)
{
	struct hg *h = &f->h;
	struct hg_ring *r = &f->rings[1];
	struct fuse_getattr_in ga = {0};
	struct fuse_write_in wr = {.fh = 1, .size = 2u << 20};
	struct bad_req *b;

	req(f, "in.len 100 bytes beyond the buffers", -EINVAL, FUSE_GETATTR, 1, &ga, sizeof(ga),
	    40 + 16 + 100);
	req(f, "in.len 8 (below the header)", -EINVAL, FUSE_GETATTR, 1, &ga, sizeof(ga), 8);
	req(f, "in.len 0xffffffff", -EINVAL, FUSE_GETATTR, 1, &ga, sizeof(ga), 0xffffffff);
	req(f, "in.len 0", -EINVAL, FUSE_GETATTR, 1, &ga, sizeof(ga), 0);
	req(f, "in.len shorter than GETATTR's argument", -EINVAL, FUSE_GETATTR, 1, &ga, sizeof(ga), 40 + 4);
	{
		/* A 2 MiB WRITE: every byte is really there, but it is above max_write (1 MiB). */
		uint32_t data = 2u << 20,
			 total = (uint32_t)(sizeof(struct fuse_in_header) + sizeof(wr)) + data;
		b = add(f, "WRITE of 2 MiB, above the negotiated maximum", -EINVAL);
		hg_fuse_req(h, r, FUSE_WRITE, 2, &wr, sizeof(wr), OUT_LEN, &b->q);
		uint32_t payload = hg_alloc(h, data, 0x55);
		uint16_t out = hg_desc(h, r, b->q.out, OUT_LEN, SM_VRING_DESC_F_WRITE, 0);
		uint16_t mid = hg_desc(h, r, payload, data, SM_VRING_DESC_F_NEXT, out);
		b->q.head = hg_desc(h, r, b->q.in, b->q.in_len, SM_VRING_DESC_F_NEXT, mid);
		hg_write(h, b->q.in, &total, sizeof(total));
		b->q.slot = hg_post(h, r, b->q.head, true, &b->q.tag);
	}
	{
		/* Only 20 bytes of header readable. */
		b = add(f, "header truncated to 20 bytes", -EINVAL);
		hg_fuse_req(h, r, FUSE_GETATTR, 1, &ga, sizeof(ga), OUT_LEN, &b->q);
		uint16_t out = hg_desc(h, r, b->q.out, OUT_LEN, SM_VRING_DESC_F_WRITE, 0);
		b->q.head = hg_desc(h, r, b->q.in, 20, SM_VRING_DESC_F_NEXT, out);
		b->q.slot = hg_post(h, r, b->q.head, true, &b->q.tag);
	}
	{
		/* A valid GETATTR of the root with its header split over three descriptors (must work). */
		b = add(f, "header split 7/13/36 bytes over three descriptors (valid)", 0);
		hg_fuse_req(h, r, FUSE_GETATTR, 1, &ga, sizeof(ga), OUT_LEN, &b->q);
		uint16_t out = hg_desc(h, r, b->q.out, OUT_LEN, SM_VRING_DESC_F_WRITE, 0);
		uint16_t d3 = hg_desc(h, r, b->q.in + 20, b->q.in_len - 20, SM_VRING_DESC_F_NEXT, out);
		uint16_t d2 = hg_desc(h, r, b->q.in + 7, 13, SM_VRING_DESC_F_NEXT, d3);
		b->q.head = hg_desc(h, r, b->q.in, 7, SM_VRING_DESC_F_NEXT, d2);
		b->q.slot = hg_post(h, r, b->q.head, true, &b->q.tag);
	}
	req(f, "LOOKUP name without NUL", -EINVAL, FUSE_LOOKUP, 1, "file", 4, -1);
	req(f, "LOOKUP name with a NUL inside and bytes after it", -EINVAL, FUSE_LOOKUP, 1, "fi\0le\0", 6,
	    -1);
	req(f, "LOOKUP of \"..\" at the root", 1, FUSE_LOOKUP, 1, "..", 3, -1);
	{
		char name[301];

		memset(name, 'a', 300);
		name[300] = '\0';
		req(f, "LOOKUP of a 300-byte name", -EINVAL, FUSE_LOOKUP, 1, name, sizeof(name), -1);
	}
	req(f, "unknown opcode 9999", -ENOSYS, 9999, 1, NULL, 0, -1);
	req(f, "opcode 0", -ENOSYS, 0, 1, NULL, 0, -1);
	req(f, "GETATTR of a forged nodeid", 1, FUSE_GETATTR, 0x7777777700000005ull, &ga, sizeof(ga), -1);
	{
		struct fuse_read_in rd = {.fh = 0xdeadbeef, .size = 0xffffffff};
		req(f, "READ of 4 GiB on a forged handle", 1, FUSE_READ, 1, &rd, sizeof(rd), -1);
	}
	{
		/* total_extlen claims 2 KiB of extensions that are not there. */
		b = add(f, "extension length beyond the request", -EINVAL);
		hg_fuse_req(h, r, FUSE_GETATTR, 1, &ga, sizeof(ga), OUT_LEN, &b->q);
		uint16_t ext = 256;
		hg_write(h, b->q.in + offsetof(struct fuse_in_header, total_extlen), &ext, sizeof(ext));
		b->q.slot = hg_post(h, r, b->q.head, true, &b->q.tag);
	}
	script_reply_room(f);
}

/* Requests whose reply does not fit, a hostile BATCH_FORGET, then a valid request. */
static void script_reply_room(struct fuse_run *f)
{
	struct hg *h = &f->h;
	struct hg_ring *r = &f->rings[1];
	struct fuse_getattr_in ga = {0};
	struct bad_req *b;

	{
		b = add(f, "no writable buffer at all", 0);
		b->unanswered = true;
		hg_fuse_req(h, r, FUSE_GETATTR, 1, &ga, sizeof(ga), 0, &b->q);
		b->q.slot = hg_post(h, r, b->q.head, true, &b->q.tag);
	}
	{
		b = add(f, "an 8-byte reply buffer", 0);
		b->unanswered = true;
		hg_fuse_req(h, r, FUSE_GETATTR, 1, &ga, sizeof(ga), OUT_LEN, &b->q);
		b->q.out_len = 8;
		b->q.head = hg_desc(h, r, b->q.in, b->q.in_len, SM_VRING_DESC_F_NEXT,
				    hg_desc(h, r, b->q.out, 8, SM_VRING_DESC_F_WRITE, 0));
		b->q.slot = hg_post(h, r, b->q.head, true, &b->q.tag);
	}
	{
		/* GETATTR's reply (120 bytes) does not fit in 20: an error reply, not a partial one. */
		b = add(f, "GETATTR with a 20-byte reply buffer", 1);
		hg_fuse_req(h, r, FUSE_GETATTR, 1, &ga, sizeof(ga), OUT_LEN, &b->q);
		b->q.out_len = 20;
		b->q.head = hg_desc(h, r, b->q.in, b->q.in_len, SM_VRING_DESC_F_NEXT,
				    hg_desc(h, r, b->q.out, 20, SM_VRING_DESC_F_WRITE, 0));
		b->q.slot = hg_post(h, r, b->q.head, true, &b->q.tag);
	}
	{
		/* BATCH_FORGET claiming 2^32-1 entries, with one present (hiprio queue, no reply). */
		struct {
			struct fuse_batch_forget_in in;
			struct fuse_forget_one one;
		} a = {{.count = 0xffffffff}, {.nodeid = 1, .nlookup = 1}};
		b = add(f, "BATCH_FORGET of 2^32-1 entries with one present (hiprio)", 0);
		b->no_reply = true;
		hg_fuse_req(h, &f->rings[0], FUSE_BATCH_FORGET, 0, &a, sizeof(a), 0, &b->q);
		b->q.slot = hg_post(h, &f->rings[0], b->q.head, true, &b->q.tag);
	}
	req(f, "GETATTR of the root after all of that (valid)", 0, FUSE_GETATTR, 1, &ga, sizeof(ga), -1);
}

/* SETUPMAPPING and REMOVEMAPPING ranges against the DAX window (DAX_SIZE bytes). */
static void script_dax(struct fuse_run *f)
{
	const uint64_t R = FUSE_SETUPMAPPING_FLAG_READ, M = DAX_SIZE, NOFH = UINT64_MAX;

	map(f, "SETUPMAPPING of the file's first page at window offset 0 (valid)", 0, NOFH, 0, 4096, R, 0);
	map(f, "SETUPMAPPING at moffset = window size", -EINVAL, NOFH, 0, 4096, R, M);
	map(f, "SETUPMAPPING straddling the window's end", -EINVAL, NOFH, 0, 8192, R, M - 4096);
	map(f, "SETUPMAPPING far beyond the window (moffset 2^40)", -EINVAL, NOFH, 0, 4096, R, 1ull << 40);
	map(f, "SETUPMAPPING with moffset + len overflowing 2^64", -EINVAL, NOFH, 0, 0x2000, R,
	    0xfffffffffffff000ull);
	map(f, "SETUPMAPPING with len 2^64 - 4096", -EINVAL, NOFH, 0, 0xfffffffffffff000ull, R, 4096);
	map(f, "SETUPMAPPING with foffset + len past off_t", -EINVAL, NOFH, 0x7ffffffffffff000ull, 0x2000, R,
	    4096);
	map(f, "SETUPMAPPING with foffset 2^64 - 4096", -EINVAL, NOFH, 0xfffffffffffff000ull, 4096, R, 4096);
	map(f, "SETUPMAPPING with an unaligned moffset", -EINVAL, NOFH, 0, 4096, R, 0x1234);
	map(f, "SETUPMAPPING with an unaligned len", -EINVAL, NOFH, 0, 100, R, 4096);
	map(f, "SETUPMAPPING with an unaligned foffset", -EINVAL, NOFH, 10, 4096, R, 4096);
	map(f, "SETUPMAPPING of length 0", -EINVAL, NOFH, 0, 0, R, 4096);
	map(f, "SETUPMAPPING with no access flags", -EINVAL, NOFH, 0, 4096, 0, 4096);
	map(f, "SETUPMAPPING with unknown flags", -EINVAL, NOFH, 0, 4096, 0xff, 4096);
	map(f, "SETUPMAPPING through a forged handle", 1, 0xdeadbeef, 0, 4096, R, 4096);
	unmap(f, "REMOVEMAPPING claiming 2^32-1 ranges", -EINVAL, 0xffffffff, 0, 4096);
	unmap(f, "REMOVEMAPPING of a range outside the window", -EINVAL, 1, 1ull << 63, 4096);
	unmap(f, "REMOVEMAPPING with moffset + len overflowing", -EINVAL, 1, 4096, 0xfffffffffffff000ull);
}

/*
 * Requests the guest rewrites while the device works on them (double-fetch bait): after the kick,
 * the in-header len, the WRITE/READ size and the descriptors' address and length flip between
 * sane and hostile values (never to another RAM address: the device may write wherever a
 * descriptor pointed when it read it). Any answer is fine; a crash or stray write is not.
 */
static void script_in_flight(struct fuse_run *f)
{
	struct hg *h = &f->h;
	struct hg_ring *r = &f->rings[1];
	struct fuse_open_in oi = {.flags = 2 /* O_RDWR */};
	struct bad_req *open;

	open = add(f, "OPEN of the file for the in-flight rewrites (valid)", 0);
	hg_fuse_req(h, r, FUSE_OPEN, 0, &oi, sizeof(oi), OUT_LEN, &open->q);
	post_with_nodeid(f, open);
	for (int k = 0; k < 8; k++) {
		bool write = k % 2 == 0;
		struct fuse_write_in wi = {.offset = 0, .size = 65536};
		struct fuse_read_in ri = {.offset = 0, .size = 65536};
		struct bad_req *b = add(f,
					write ? "WRITE of 64 KiB rewritten while in flight"
					      : "READ of 64 KiB rewritten while in flight",
					2);
		uint32_t data = hg_alloc(h, 65536, 0x33), hdr_len, dd;
		uint16_t head;

		hg_fuse_req(h, r, write ? FUSE_WRITE : FUSE_READ, 0, write ? (void *)&wi : (void *)&ri,
			    write ? sizeof(wi) : sizeof(ri), write ? OUT_LEN : 65536 + 16, &b->q);
		/* in -> data -> out for WRITE; in -> out (one big buffer) for READ */
		if (write) {
			uint16_t out = hg_desc(h, r, b->q.out, OUT_LEN, SM_VRING_DESC_F_WRITE, 0);
			dd = hg_desc(h, r, data, 65536, SM_VRING_DESC_F_NEXT, out);
			head = hg_desc(h, r, b->q.in, b->q.in_len, SM_VRING_DESC_F_NEXT, dd);
			hdr_len = b->q.in_len + 65536;
			hg_write(h, b->q.in, &hdr_len, 4);
		} else {
			head = b->q.head;
			dd = (uint16_t)(head - 1); /* the out descriptor (hg_fuse_req writes it first) */
			hdr_len = b->q.in_len;
		}
		b->q.head = head;
		hg_op(h, HG_COPY32, f->lookup.out + 16, b->q.in + NODEID_OFF, 0);
		hg_op(h, HG_COPY32, f->lookup.out + 20, b->q.in + NODEID_OFF + 4, 0);
		hg_op(h, HG_COPY32, open->q.out + 16, b->q.in + 40, 0); /* fh */
		hg_op(h, HG_COPY32, open->q.out + 20, b->q.in + 44, 0);
		b->q.slot = hg_post_begin(h, r, head);
		for (int i = 0; i < 64; i++) {
			uint32_t d = r->desc + dd * 16u;
			hg_op(h, HG_W32, b->q.in, i % 2 ? 0xffffffffu : 40u, 0);
			hg_op(h, HG_W32, b->q.in + 56, i % 3 ? 0x7fffffffu : 0u, 0); /* size */
			hg_op(h, HG_W32, d, 0xf0000000u, 0);
			hg_op(h, HG_W32, d + 8, 0xfffffff0u, 0);
			hg_op(h, HG_W16, d + 12, i % 2 ? SM_VRING_DESC_F_INDIRECT : SM_VRING_DESC_F_NEXT, 0);
			hg_op(h, HG_W32, b->q.in, hdr_len, 0);
			hg_op(h, HG_W32, b->q.in + 56, 65536, 0);
		}
		hg_post_end(h, r, true, &b->q.tag);
	}
	{
		struct fuse_getattr_in ga = {0};
		req(f, "GETATTR of the root after the rewrites (valid)", 0, FUSE_GETATTR, 1, &ga, sizeof(ga),
		    -1);
	}
}

/* Every mapping of the shared file in this process lies inside the DAX window. */
static int file_mappings(const char *path, uintptr_t lo, uintptr_t hi, unsigned int *inside)
{
	cleanup_fclose FILE *maps = fopen("/proc/self/maps", "r");
	char line[4096];
	int outside = 0;

	*inside = 0;
	if (maps == NULL)
		return -1;
	while (fgets(line, sizeof(line), maps) != NULL) {
		unsigned long a, b;

		if (strstr(line, path) == NULL || sscanf(line, "%lx-%lx", &a, &b) != 2)
			continue;
		if (a >= lo && b <= hi)
			(*inside)++;
		else
			outside++;
	}
	return outside;
}

static void check(struct fuse_run *f)
{
	struct hg *h = &f->h;
	uint64_t prev_un = h->snaps[f->t_start].fs.unanswered;

	for (unsigned int i = 0; i < f->n; i++) {
		const struct bad_req *b = &f->r[i];
		const struct hg_snap *sn = &h->snaps[b->q.tag];
		struct hg_ring *r = b->no_reply ? &f->rings[0] : &f->rings[1];
		uint32_t id, len, olen;
		int32_t error;
		uint64_t unique;

		hg_used(h, r, b->q.slot, &id, &len);
		hg_fuse_reply(h, &b->q, &olen, &error, &unique);
		if (b->unanswered) {
			ok(sn->seen && id == b->q.head && len == 0 && sn->fs.unanswered == prev_un + 1 &&
			       hg_untouched(h, b->q.out, b->q.out_len),
			   "%s: returned with length 0, nothing written, counted unanswered (+%llu: %s)",
			   b->what, (unsigned long long)(sn->fs.unanswered - prev_un), sn->fs.last_error);
		} else if (b->no_reply) {
			ok(sn->seen && id == b->q.head && len == 0, "%s: no reply, returned (len %u)",
			   b->what, len);
		} else {
			bool good = b->expect == 2   ? error <= 0 && error > -4096
				    : b->expect == 1 ? error < 0 && error > -4096
						     : error == b->expect;
			/* A chain broken by the rewrite comes back empty, counted as malformed. */
			bool broken = b->expect == 2 && len == 0 && sn->fs.malformed_chains > 0;
			ok(sn->seen && id == b->q.head &&
			       (broken || (len == olen && olen >= sizeof(struct fuse_out_header) &&
					   olen <= b->q.out_len && good)),
			   "%s: %s %d (%s), reply %u bytes", b->what,
			   broken
			       ? "chain broken by the rewrite: returned empty, counted malformed; stale error"
			       : "answered with error",
			   error, error < 0 && error > -4096 ? strerror(-error) : "-", len);
		}
		prev_un = sn->fs.unanswered;
	}
}

static void test_fuse(void)
{
	struct hg_opts o = {.dax_size = DAX_SIZE};
	struct fuse_run *f = sm_xcalloc(1, sizeof(*f));
	cleanup_free char *path = NULL;
	cleanup_free uint8_t *data = sm_xmalloc(FILE_SIZE);
	sm_error_t err = SM_ERROR_INIT;
	struct hg *h = &f->h;
	uint32_t id, len, olen;
	int32_t error;
	uint64_t unique, gpa, size;
	void *hva = NULL;
	unsigned int inside = 0;
	int outside;

	if (hg_new(h, &o) < 0) {
		ok(0, "fuse: machine with virtio-fs and a DAX window");
		hg_free(h);
		free(f);
		return;
	}
	path = sm_xasprintf("%s/file", h->share);
	for (uint32_t i = 0; i < FILE_SIZE; i++)
		data[i] = (uint8_t)(i * 7 + 1);
	ok(sm_write_file_atomic(path, data, FILE_SIZE, 0644, &err) == 0,
	   "fuse: a 64 KiB file in the share %s", err.msg);
	hg_driver_init(h, HG_FS_BASE, f->rings, 2, false);
	hg_fuse_init(h, &f->rings[1], true, &f->init);
	hg_fuse_req(h, &f->rings[1], FUSE_LOOKUP, 1, "file", 5, OUT_LEN, &f->lookup);
	f->lookup.slot = hg_post(h, &f->rings[1], f->lookup.head, true, &f->lookup.tag);
	f->t_start = f->lookup.tag;
	script_requests(f);
	script_dax(f);
	script_in_flight(f);
	ok(hg_run(h, TIMEOUT_NS) == 0, "fuse: guest ran");
	hg_check_memory(h, "fuse");
	hg_used(h, &f->rings[1], f->init.slot, &id, &len);
	hg_fuse_reply(h, &f->init, &olen, &error, &unique);
	ok(error == 0 && len == olen && olen > 0, "fuse: FUSE_INIT with DAX answered (error %d)", error);
	hg_fuse_reply(h, &f->lookup, &olen, &error, &unique);
	ok(error == 0, "fuse: LOOKUP of the file answered (error %d)", error);
	check(f);
	ok(sm_virtiofs_dev_dax(h->fs, &hva, &gpa, &size) && size == DAX_SIZE, "fuse: the DAX window exists");
	if (hva != NULL) {
		/* The in-flight WRITEs may have changed the file: compare with what it holds now. */
		cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
		ok(fd >= 0 && pread(fd, data, 4096, 0) == 4096 && memcmp(hva, data, 4096) == 0,
		   "fuse: the valid mapping shows the file's first page in the window");
		outside = file_mappings(path, (uintptr_t)hva, (uintptr_t)hva + size, &inside);
		ok(outside == 0 && inside == 1,
		   "fuse: the file is mapped once inside the window and nowhere else in the VMM (%u in, %d "
		   "out)",
		   inside, outside);
	}
	hg_free(h);
	free(f);
}

#define PT_GPA 0x1e0000u      /* PML4, PDPT, then page directories for 0-1 GiB, the window, 3-4 GiB */
#define WINDOW_VA 0x40000000u /* where the guest sees the DAX window once paging is on */

/* 4-level page tables: identity 0-1 GiB and 3-4 GiB (RAM, MMIO), the DAX window at 1 GiB (2 MiB pages). */
static void page_tables(struct hg *h, uint64_t dax_gpa)
{
	uint64_t pml4 = (PT_GPA + 0x1000) | 3;
	uint64_t pdpt[4] = {(PT_GPA + 0x2000) | 3, (PT_GPA + 0x3000) | 3, 0, (PT_GPA + 0x4000) | 3};
	uint64_t pd[512];

	hg_write(h, PT_GPA, &pml4, sizeof(pml4));
	hg_write(h, PT_GPA + 0x1000, pdpt, sizeof(pdpt));
	for (uint64_t i = 0; i < 512; i++)
		pd[i] = (i << 21) | 0x83;
	hg_write(h, PT_GPA + 0x2000, pd, sizeof(pd));
	memset(pd, 0, sizeof(pd));
	for (uint64_t i = 0; i < DAX_SIZE >> 21; i++)
		pd[i] = (dax_gpa + (i << 21)) | 0x83;
	hg_write(h, PT_GPA + 0x3000, pd, sizeof(pd));
	for (uint64_t i = 0; i < 512; i++)
		pd[i] = (0xc0000000ull + (i << 21)) | 0x83;
	hg_write(h, PT_GPA + 0x4000, pd, sizeof(pd));
}

/*
 * The guest touches the DAX window itself: a mapped page reads the file; then a page that is not
 * mapped (PROT_NONE in the VMM) or mapped past the file's end. KVM_RUN then fails (the host
 * mapping cannot be faulted in): the VM must stop with a message, the VMM must not crash.
 */
enum dax_probe { UNMAPPED, PAST_EOF, READONLY };

static void test_dax_access(enum dax_probe probe)
{
	static const char *const names[] = {"unmapped DAX page", "DAX page past EOF",
					    "write to a read-only DAX page"};
	const char *what = names[probe];
	bool past_eof = probe == PAST_EOF;
	struct hg_opts o = {.dax_size = DAX_SIZE};
	struct fuse_run *f = sm_xcalloc(1, sizeof(*f));
	cleanup_free char *path = NULL;
	cleanup_free uint8_t *data = sm_xmalloc(FILE_SIZE);
	sm_error_t err = SM_ERROR_INIT;
	struct hg *h = &f->h;
	unsigned int rd, magic, fatal, n_map;
	uint32_t ran = 0, want;
	void *hva = NULL;
	uint64_t gpa = 0, size;

	if (hg_new(h, &o) < 0) {
		ok(0, "%s: machine with virtio-fs and a DAX window", what);
		hg_free(h);
		free(f);
		return;
	}
	path = sm_xasprintf("%s/file", h->share);
	for (uint32_t i = 0; i < FILE_SIZE; i++)
		data[i] = (uint8_t)(i * 7 + 1);
	if (sm_write_file_atomic(path, data, FILE_SIZE, 0644, &err) < 0)
		tap_diag("%s", err.msg);
	sm_virtiofs_dev_dax(h->fs, &hva, &gpa, &size);
	page_tables(h, gpa);
	hg_driver_init(h, HG_FS_BASE, f->rings, 2, false);
	hg_fuse_init(h, &f->rings[1], true, &f->init);
	hg_fuse_req(h, &f->rings[1], FUSE_LOOKUP, 1, "file", 5, OUT_LEN, &f->lookup);
	f->lookup.slot = hg_post(h, &f->rings[1], f->lookup.head, true, &f->lookup.tag);
	map(f, "SETUPMAPPING of page 0 (valid)", 0, UINT64_MAX, 0, 4096, FUSE_SETUPMAPPING_FLAG_READ, 0);
	n_map = 1;
	if (past_eof) {
		map(f, "SETUPMAPPING of a page 1 MiB past the file's end", 2, UINT64_MAX, 1u << 20, 4096,
		    FUSE_SETUPMAPPING_FLAG_READ, 4096);
		n_map = 2;
	}
	hg_op(h, HG_PAGING, 0, PT_GPA, 0);
	rd = hg_op(h, HG_R32, WINDOW_VA, 0, 0);
	magic = hg_op(h, HG_R32, HG_FS_BASE + SM_VMMIO_MAGIC, 0, 0);
	hg_sync(h);
	if (probe == READONLY)
		fatal = hg_op(h, HG_W32, WINDOW_VA, 0x41414141, 0);
	else
		fatal = hg_op(h, HG_R32, past_eof ? WINDOW_VA + 4096 : WINDOW_VA + (2u << 20), 0, 0);
	hg_op(h, HG_W32, HG_DONE_GPA + 8, 1, 0); /* must not run */
	hg_run(h, TIMEOUT_NS);
	hg_finished(h, &ran);
	memcpy(&want, data, 4);
	for (unsigned int i = 0; i < n_map; i++) {
		uint32_t olen;
		int32_t error;
		uint64_t unique;

		hg_fuse_reply(h, &f->r[i].q, &olen, &error, &unique);
		tap_diag("%s: %s: error %d", what, f->r[i].what, error);
	}
	ok(hg_result(h, rd) == want && hg_result(h, magic) == SM_VIRTIO_MMIO_MAGIC,
	   "%s: with paging on, the guest reads the mapped window page (0x%x, want 0x%x) and the MMIO window",
	   what, hg_result(h, rd), want);
	if (ran == fatal) {
		/* Hardware KVM: the host page cannot be faulted in, KVM_RUN fails. */
		ok(h->res.stop.reason == SM_VM_STOP_GUEST_ERROR ||
		       h->res.stop.reason == SM_VM_STOP_HOST_ERROR,
		   "%s: the access stopped the VM with an error, the VMM lives (%s: %s)", what,
		   sm_vm_stop_reason_name(h->res.stop.reason), h->res.stop.msg);
	} else {
		/* kvm_pvm emulates CPL0: the unreadable page becomes an MMIO exit nobody claims. */
		ok(hg_finished(h, &ran) && (probe == READONLY || hg_result(h, fatal) == 0xffffffffu) &&
		       h->snaps[0].vm.mmio_unhandled < h->res.stats.mmio_unhandled,
		   "%s: the access exited as unclaimed MMIO (read 0x%x); the guest went on, the VMM lives",
		   what, probe == READONLY ? 0 : hg_result(h, fatal));
	}
	if (probe == READONLY) {
		cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
		uint32_t now = 0;
		bool got = fd >= 0 && pread(fd, &now, 4, 0) == 4;

		ok(got && now == want, "%s: the file is unchanged (0x%x)", what, now);
	}
	ok(hg_canary_changed(h) == 0, "%s: canary intact", what);
	hg_free(h);
	free(f);
}

int main(void)

{
	const struct sm_host_caps *caps;
	sm_error_t err = SM_ERROR_INIT;

	if (sm_host_caps_get(&caps, &err) < 0)
		tap_skip_all(err.msg);
	test_fuse();
	test_dax_access(UNMAPPED);
	test_dax_access(PAST_EOF);
	test_dax_access(READONLY);
	return tap_done();
}
