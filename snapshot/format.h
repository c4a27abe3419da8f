/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_SNAPSHOT_FORMAT_H
#define SM_SNAPSHOT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "vmm/virtio/state.h"

/*
 * The snapshot state file (docs/design/snapshot-format.md): a 24-byte header (magic, major.minor
 * version, section count, CRC32C of header and table), a table of 32-byte entries (type,
 * instance, offset, length, CRC32C of the section), then the sections, back to back, to the end
 * of the file. All integers little-endian. Guest memory is a separate file.
 */

#define SM_SNAP_MAGIC "SMSNAP\x1a\n"
#define SM_SNAP_MAGIC_LEN 8
#define SM_SNAP_MAJOR 1
#define SM_SNAP_MINOR 0
#define SM_SNAP_HEADER_SIZE 24
#define SM_SNAP_ENTRY_SIZE 32
#define SM_SNAP_MAX_SECTIONS 128
#define SM_SNAP_MAX_FILE (64u << 20) /* the state file (guest memory is elsewhere) */

enum sm_snap_type {
	SM_SNAP_SEC_MACHINE = 1, /* shape (RAM, vCPUs), memory file, UARTs, ready flag */
	SM_SNAP_SEC_VM = 2,	 /* irqchip, PIT, kvmclock */
	SM_SNAP_SEC_VCPU = 3,	 /* one per vCPU, instance = index */
	SM_SNAP_SEC_VIRTIO = 4,	 /* one per virtio device, instance = slot */
};

struct sm_snap_section {
	uint32_t type, instance;
	const uint8_t *data;
	size_t len;
};

/* Sections being built for one file. */
struct sm_snap_writer {
	struct {
		uint32_t type, instance;
		struct sm_state_buf buf;
	} sec[SM_SNAP_MAX_SECTIONS];
	unsigned int n;
};

/* A parsed, fully validated file (sections point into the caller's buffer). */
struct sm_snap_file {
	uint16_t major, minor;
	unsigned int n;
	struct sm_snap_section sec[SM_SNAP_MAX_SECTIONS];
};

/* Human-readable section name ("vCPU", "virtio", ...). */
const char *sm_snap_type_name(uint32_t type);

/* Add a section (in file order) and return its buffer to fill; NULL when the table is full. */
struct sm_state_buf *sm_snap_writer_add(struct sm_snap_writer *w, uint32_t type, uint32_t instance);

/* The whole file image: header, table, sections (out must be empty; free it with sm_state_buf_free). */
void sm_snap_writer_finish(const struct sm_snap_writer *w, struct sm_state_buf *out);

/* Free the section buffers. */
void sm_snap_writer_free(struct sm_snap_writer *w);

/*
 * Validate a file image completely before anything uses it: magic ("not a sm-runtime snapshot"),
 * version (another major, or a newer minor, is refused naming both versions), header and table
 * checksum, section bounds (a section past the end: "truncated"; bytes after the last one;
 * sections not back to back), every section's CRC32C ("corrupted"), duplicate (type, instance)
 * pairs. Fills *f with sections pointing into data.
 */
int sm_snap_parse(const uint8_t *data, size_t len, struct sm_snap_file *f, sm_error_t *err);

/* The section (type, instance), or NULL. */
const struct sm_snap_section *sm_snap_find(const struct sm_snap_file *f, uint32_t type, uint32_t instance);

#endif
