/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_VIRTIO_STATE_H
#define SM_VMM_VIRTIO_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/*
 * A growable byte buffer for saving device state (snapshots), and a bounds-checked reader for
 * restoring it. Integers are stored little-endian with fixed widths, so a saved state does not
 * depend on struct layout. The reader never trusts the data: every get checks the remaining
 * length and fails with a message naming the offset.
 */

struct sm_state_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

struct sm_state_reader {
	const uint8_t *data;
	size_t len;
	size_t off;
};

/* An empty buffer (equivalent to zero-initialising the struct). */
void sm_state_buf_init(struct sm_state_buf *b);

/* Free the buffer's storage and leave it empty; safe on an empty or zeroed buffer. */
void sm_state_buf_free(struct sm_state_buf *b);

/* Append len bytes (aborts on memory exhaustion, like sm_xmalloc). */
void sm_state_put(struct sm_state_buf *b, const void *data, size_t len);

/* Append fixed-width little-endian integers. */
void sm_state_put_u8(struct sm_state_buf *b, uint8_t v);
void sm_state_put_u16(struct sm_state_buf *b, uint16_t v);
void sm_state_put_u32(struct sm_state_buf *b, uint32_t v);
void sm_state_put_u64(struct sm_state_buf *b, uint64_t v);

/* Start reading len bytes at data (the reader does not copy them). */
void sm_state_reader_init(struct sm_state_reader *r, const void *data, size_t len);

/* Bytes not read yet. */
size_t sm_state_remaining(const struct sm_state_reader *r);

/*
 * Copy the next len bytes into out (out may be NULL to skip them). Fails with "saved state
 * truncated" and the offset when fewer than len bytes remain; the position is then unchanged.
 */
int sm_state_get(struct sm_state_reader *r, void *out, size_t len, sm_error_t *err);

/* Read fixed-width little-endian integers; same failure as sm_state_get(). */
int sm_state_get_u8(struct sm_state_reader *r, uint8_t *v, sm_error_t *err);
int sm_state_get_u16(struct sm_state_reader *r, uint16_t *v, sm_error_t *err);
int sm_state_get_u32(struct sm_state_reader *r, uint32_t *v, sm_error_t *err);
int sm_state_get_u64(struct sm_state_reader *r, uint64_t *v, sm_error_t *err);

#endif
