/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "snapshot/crc32c.h"
#include "snapshot/format.h"

const char *sm_snap_type_name(uint32_t type)
{
	switch (type) {
	case SM_SNAP_SEC_MACHINE:
		return "machine";
	case SM_SNAP_SEC_VM:
		return "VM";
	case SM_SNAP_SEC_VCPU:
		return "vCPU";
	case SM_SNAP_SEC_VIRTIO:
		return "virtio";
	default:
		return "unknown";
	}
}

struct sm_state_buf *sm_snap_writer_add(struct sm_snap_writer *w, uint32_t type, uint32_t instance)
{
	if (w->n >= SM_SNAP_MAX_SECTIONS)
		return NULL;
	w->sec[w->n].type = type;
	w->sec[w->n].instance = instance;
	sm_state_buf_init(&w->sec[w->n].buf);
	return &w->sec[w->n++].buf;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

void sm_snap_writer_finish(const struct sm_snap_writer *w, struct sm_state_buf *out)
{
	uint64_t off = SM_SNAP_HEADER_SIZE + (uint64_t)w->n * SM_SNAP_ENTRY_SIZE;
	uint32_t crc;

	sm_state_put(out, SM_SNAP_MAGIC, SM_SNAP_MAGIC_LEN);
	sm_state_put_u16(out, SM_SNAP_MAJOR);
	sm_state_put_u16(out, SM_SNAP_MINOR);
	sm_state_put_u32(out, w->n);
	sm_state_put_u32(out, 0); /* table checksum, filled below */
	sm_state_put_u32(out, 0); /* reserved */
	for (unsigned int i = 0; i < w->n; i++) {
		sm_state_put_u32(out, w->sec[i].type);
		sm_state_put_u32(out, w->sec[i].instance);
		sm_state_put_u64(out, off);
		sm_state_put_u64(out, w->sec[i].buf.len);
		sm_state_put_u32(out, sm_crc32c(0, w->sec[i].buf.data, w->sec[i].buf.len));
		sm_state_put_u32(out, 0);
		off += w->sec[i].buf.len;
	}
	/* The checksum covers the header (with its own field as zero) and the whole table. */
	crc = sm_crc32c(0, out->data, out->len);
	put_le32(out->data + 16, crc);
	for (unsigned int i = 0; i < w->n; i++)
		sm_state_put(out, w->sec[i].buf.data, w->sec[i].buf.len);
}

void sm_snap_writer_free(struct sm_snap_writer *w)
{
	for (unsigned int i = 0; i < w->n; i++)
		sm_state_buf_free(&w->sec[i].buf);
	w->n = 0;
}

static int parse_header(const uint8_t *data, size_t len, struct sm_snap_file *f, uint32_t *n, sm_error_t *err)
{
	uint8_t hdr[SM_SNAP_HEADER_SIZE];
	uint64_t table_end;
	uint32_t crc;

	if (len < SM_SNAP_MAGIC_LEN || memcmp(data, SM_SNAP_MAGIC, SM_SNAP_MAGIC_LEN) != 0)
		return sm_error_set(err, 0, "not a sm-runtime snapshot (bad magic)");
	if (len < SM_SNAP_HEADER_SIZE)
		return sm_error_set(err, 0, "truncated: %zu bytes, shorter than the %d-byte header", len,
				    SM_SNAP_HEADER_SIZE);
	f->major = (uint16_t)(data[8] | data[9] << 8);
	f->minor = (uint16_t)(data[10] | data[11] << 8);
	if (f->major != SM_SNAP_MAJOR || f->minor > SM_SNAP_MINOR)
		return sm_error_set(
		    err, 0,
		    "snapshot format version %u.%u is not supported (this sm-runtime reads %d.0 to %d.%d)",
		    f->major, f->minor, SM_SNAP_MAJOR, SM_SNAP_MAJOR, SM_SNAP_MINOR);
	*n = le32(data + 12);
	if (*n == 0 || *n > SM_SNAP_MAX_SECTIONS)
		return sm_error_set(err, 0, "corrupted: %u sections (1 to %d expected)", *n,
				    SM_SNAP_MAX_SECTIONS);
	table_end = SM_SNAP_HEADER_SIZE + (uint64_t)*n * SM_SNAP_ENTRY_SIZE;
	if (table_end > len)
		return sm_error_set(err, 0,
				    "truncated: the section table ends at byte %llu, the file has %zu",
				    (unsigned long long)table_end, len);
	memcpy(hdr, data, sizeof(hdr));
	put_le32(hdr + 16, 0);
	crc = sm_crc32c(sm_crc32c(0, hdr, sizeof(hdr)), data + SM_SNAP_HEADER_SIZE,
			(size_t)table_end - SM_SNAP_HEADER_SIZE);
	if (crc != le32(data + 16))
		return sm_error_set(
		    err, 0, "corrupted: header/section table checksum mismatch (0x%08x, expected 0x%08x)",
		    crc, le32(data + 16));
	if (le32(data + 20) != 0)
		return sm_error_set(err, 0, "corrupted: reserved header field is not zero");
	return 0;
}

int sm_snap_parse(const uint8_t *data, size_t len, struct sm_snap_file *f, sm_error_t *err)
{
	uint64_t expect;
	uint32_t n = 0;
	int r;

	memset(f, 0, sizeof(*f));
	if ((r = parse_header(data, len, f, &n, err)) < 0)
		return r;
	expect = SM_SNAP_HEADER_SIZE + (uint64_t)n * SM_SNAP_ENTRY_SIZE;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = data + SM_SNAP_HEADER_SIZE + (size_t)i * SM_SNAP_ENTRY_SIZE;
		struct sm_snap_section *s = &f->sec[i];
		uint64_t off = le64(e + 8), slen = le64(e + 16);

		s->type = le32(e);
		s->instance = le32(e + 4);
		if (off != expect)
			return sm_error_set(err, 0,
					    "corrupted: section %u (%s %u) at byte %llu, expected %llu", i,
					    sm_snap_type_name(s->type), s->instance, (unsigned long long)off,
					    (unsigned long long)expect);
		if (slen > len || off > len - slen)
			return sm_error_set(
			    err, 0, "truncated: section %u (%s %u) ends at byte %llu, the file has %zu bytes",
			    i, sm_snap_type_name(s->type), s->instance, (unsigned long long)(off + slen),
			    len);
		if (le32(e + 28) != 0)
			return sm_error_set(err, 0, "corrupted: section %u has a non-zero reserved field", i);
		s->data = data + off;
		s->len = (size_t)slen;
		if (sm_crc32c(0, s->data, s->len) != le32(e + 24))
			return sm_error_set(err, 0, "corrupted: section %u (%s %u) checksum mismatch", i,
					    sm_snap_type_name(s->type), s->instance);
		for (uint32_t j = 0; j < i; j++)
			if (f->sec[j].type == s->type && f->sec[j].instance == s->instance)
				return sm_error_set(err, 0, "corrupted: section %s %u appears twice",
						    sm_snap_type_name(s->type), s->instance);
		expect = off + slen;
	}
	if (expect != len)
		return sm_error_set(err, 0, "corrupted: %llu unexpected bytes after the last section",
				    (unsigned long long)(len - expect));
	f->n = n;
	return 0;
}

const struct sm_snap_section *sm_snap_find(const struct sm_snap_file *f, uint32_t type, uint32_t instance)
{
	for (unsigned int i = 0; i < f->n; i++)
		if (f->sec[i].type == type && f->sec[i].instance == instance)
			return &f->sec[i];
	return NULL;
}
