/* SPDX-License-Identifier: Apache-2.0 */
/* The snapshot container without KVM: CRC32C known answers, writer/parser round trip, refusals. */
#include <stdlib.h>
#include <string.h>

#include "snapshot/crc32c.h"
#include "snapshot/format.h"
#include "snapshot/kvmstate.h"
#include "tests/tap.h"

static void test_crc(void)
{
	uint8_t zeros[32] = {0}, ones[32], inc[32];

	memset(ones, 0xff, sizeof(ones));
	for (int i = 0; i < 32; i++)
		inc[i] = (uint8_t)i;
	ok(sm_crc32c(0, "123456789", 9) == 0xe3069283u, "CRC32C check value of \"123456789\"");
	/* RFC 3720 (iSCSI) appendix B.4 test vectors. */
	ok(sm_crc32c(0, zeros, 32) == 0x8a9136aau, "32 zero bytes");
	ok(sm_crc32c(0, ones, 32) == 0x62a8ab43u, "32 0xff bytes");
	ok(sm_crc32c(0, inc, 32) == 0x46dd794eu, "bytes 0..31");
	ok(sm_crc32c(sm_crc32c(0, "12345", 5), "6789", 4) == 0xe3069283u, "computed in pieces");
	ok(sm_crc32c(0, "", 0) == 0, "empty input");
}

static void build(struct sm_state_buf *out)
{
	struct sm_snap_writer *w = calloc(1, sizeof(*w));

	sm_state_put_u32(sm_snap_writer_add(w, SM_SNAP_SEC_MACHINE, 0), 0x11223344);
	sm_state_put(sm_snap_writer_add(w, SM_SNAP_SEC_VCPU, 0), "abcdef", 6);
	sm_snap_writer_add(w, SM_SNAP_SEC_VIRTIO, 3); /* empty section */
	sm_state_buf_init(out);
	sm_snap_writer_finish(w, out);
	sm_snap_writer_free(w);
	free(w);
}

static void test_container(void)
{
	struct sm_snap_file *f = calloc(1, sizeof(*f));
	sm_error_t err = SM_ERROR_INIT;
	struct sm_state_buf img;
	const struct sm_snap_section *s;
	unsigned int refused = 0;

	build(&img);
	ok(img.len == SM_SNAP_HEADER_SIZE + 3 * SM_SNAP_ENTRY_SIZE + 4 + 6, "file size (%zu)", img.len);
	ok(memcmp(img.data, "SMSNAP\x1a\n\x01\x00\x00\x00\x03\x00\x00\x00", 16) == 0,
	   "header: magic, version 1.0, 3 sections, little-endian");
	ok(sm_snap_parse(img.data, img.len, f, &err) == 0, "parse: %s", err.msg);
	s = sm_snap_find(f, SM_SNAP_SEC_VCPU, 0);
	ok(s != NULL && s->len == 6 && memcmp(s->data, "abcdef", 6) == 0, "find the vCPU section");
	s = sm_snap_find(f, SM_SNAP_SEC_VIRTIO, 3);
	ok(s != NULL && s->len == 0, "empty section");
	ok(sm_snap_find(f, SM_SNAP_SEC_VCPU, 1) == NULL, "absent section");
	for (size_t off = 0; off < img.len; off++) {
		img.data[off] ^= 0x01;
		if (sm_snap_parse(img.data, img.len, f, &err) < 0)
			refused++;
		img.data[off] ^= 0x01;
	}
	ok(refused == img.len, "every one of %zu single-bit flips refused (%u)", img.len, refused);
	refused = 0;
	for (size_t cut = 0; cut < img.len; cut++)
		if (sm_snap_parse(img.data, cut, f, &err) < 0)
			refused++;
	ok(refused == img.len, "every truncation refused (%u of %zu)", refused, img.len);
	sm_snap_parse(img.data, 4, f, &err);
	ok(strstr(err.msg, "magic") != NULL, "4 bytes: %s", err.msg);
	sm_error_clear(&err);
	ok(sm_snap_parse((const uint8_t *)"hello world, this is not a snapshot", 35, f, &err) < 0 &&
	       strstr(err.msg, "not a sm-runtime snapshot") != NULL,
	   "another file: %s", err.msg);
	img.data[10] = 1; /* minor 1: newer than this reader */
	sm_error_clear(&err);
	ok(sm_snap_parse(img.data, img.len, f, &err) < 0 &&
	       strstr(err.msg, "version 1.1 is not supported") != NULL,
	   "newer minor version: %s", err.msg);
	sm_state_buf_free(&img);
	free(f);
}

/* Encoders and decoders agree, and a decoder refuses short input and trailing bytes. */
static void test_codecs(void)
{
	struct sm_vcpu_state a, b;
	struct sm_vmstate va, vb;
	struct sm_state_buf buf, buf2;
	sm_error_t err = SM_ERROR_INIT;
	unsigned int refused = 0;

	memset(&a, 0, sizeof(a));
	a.ncpuid = 2;
	a.cpuid = calloc(2, sizeof(a.cpuid[0]));
	a.cpuid[1].function = 0xd;
	a.cpuid[1].eax = 0x12345678;
	a.regs.rip = 0xffffffff81000000ull;
	a.regs.rflags = 0x246;
	a.sregs.cs.l = 1;
	a.sregs.cr3 = 0x1000;
	a.fpu.mxcsr = 0x1f80;
	a.xsave_size = 4096;
	a.xsave = calloc(1, 4096);
	a.xsave[4095] = 0x77;
	a.has_xcrs = true;
	a.xcrs.nr_xcrs = 1;
	a.xcrs.xcrs[0].value = 7;
	a.has_lapic = true;
	a.lapic.regs[0x20] = 0x5;
	a.nmsrs = 2;
	a.msrs = calloc(2, sizeof(a.msrs[0]));
	a.msrs[0].index = 0x10;
	a.msrs[0].data = 1234567;
	a.msrs[1].index = 0x6e0;
	a.events.nmi.masked = 1;
	a.mp_state.mp_state = KVM_MP_STATE_HALTED;
	sm_state_buf_init(&buf);
	sm_vcpu_state_encode(&a, &buf);
	ok(sm_vcpu_state_decode(buf.data, buf.len, &b, &err) == 0, "vCPU state decodes: %s", err.msg);
	sm_state_buf_init(&buf2);
	sm_vcpu_state_encode(&b, &buf2);
	ok(buf.len == buf2.len && memcmp(buf.data, buf2.data, buf.len) == 0,
	   "and re-encodes to the same bytes");
	ok(b.regs.rip == a.regs.rip && b.sregs.cs.l == 1 && b.xsave[4095] == 0x77 &&
	       b.msrs[0].data == 1234567 && b.lapic.regs[0x20] == 5 &&
	       b.mp_state.mp_state == KVM_MP_STATE_HALTED,
	   "fields survive");
	sm_vcpu_state_free(&b);
	for (size_t cut = 0; cut < buf.len; cut++) {
		if (sm_vcpu_state_decode(buf.data, cut, &b, &err) < 0)
			refused++;
		sm_vcpu_state_free(&b);
	}
	ok(refused == buf.len, "every truncated vCPU state refused (%u of %zu)", refused, buf.len);
	sm_state_put_u8(&buf, 0);
	sm_error_clear(&err);
	ok(sm_vcpu_state_decode(buf.data, buf.len, &b, &err) < 0 &&
	       strstr(err.msg, "unexpected bytes") != NULL,
	   "trailing byte refused: %s", err.msg);
	sm_vcpu_state_free(&b);
	sm_vcpu_state_free(&a);
	sm_state_buf_free(&buf);
	sm_state_buf_free(&buf2);

	memset(&va, 0, sizeof(va));
	va.has_irqchip = va.has_pit = true;
	va.ioapic.chip.ioapic.redirtbl[23].bits = 0x10000;
	va.pit.channels[2].count = 65536;
	va.clock.clock = 42;
	sm_state_buf_init(&buf);
	sm_vmstate_encode(&va, &buf);
	ok(sm_vmstate_decode(buf.data, buf.len, &vb, &err) == 0 &&
	       vb.ioapic.chip.ioapic.redirtbl[23].bits == 0x10000 && vb.pit.channels[2].count == 65536 &&
	       vb.clock.clock == 42 && vb.ioapic.chip_id == KVM_IRQCHIP_IOAPIC,
	   "VM state round trip");
	sm_state_buf_free(&buf);
}

int main(void)
{
	test_crc();
	test_container();
	test_codecs();
	return tap_done();
}
