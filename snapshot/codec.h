/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_SNAPSHOT_CODEC_H
#define SM_SNAPSHOT_CODEC_H

/* Private to snapshot/: a decoder over sm_state_reader whose first failure sticks, so long field
 * lists read without a check per field; sm_dec_end() reports the failure or trailing bytes. */
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "vmm/virtio/state.h"

struct sm_dec {
	struct sm_state_reader r;
	sm_error_t *err;
	bool failed;
	const char *what; /* section name for messages */
};

static inline void sm_dec_init(struct sm_dec *d, const void *data, size_t len, const char *what,
			       sm_error_t *err)
{
	sm_state_reader_init(&d->r, data, len);
	d->err = err;
	d->failed = false;
	d->what = what;
}

static inline void sm_dec_bytes(struct sm_dec *d, void *out, size_t len)
{
	if (!d->failed && sm_state_get(&d->r, out, len, d->err) < 0)
		d->failed = true;
}

static inline uint8_t sm_dec_u8(struct sm_dec *d)
{
	uint8_t v = 0;
	if (!d->failed && sm_state_get_u8(&d->r, &v, d->err) < 0)
		d->failed = true;
	return d->failed ? 0 : v;
}

static inline uint16_t sm_dec_u16(struct sm_dec *d)
{
	uint16_t v = 0;
	if (!d->failed && sm_state_get_u16(&d->r, &v, d->err) < 0)
		d->failed = true;
	return d->failed ? 0 : v;
}

static inline uint32_t sm_dec_u32(struct sm_dec *d)
{
	uint32_t v = 0;
	if (!d->failed && sm_state_get_u32(&d->r, &v, d->err) < 0)
		d->failed = true;
	return d->failed ? 0 : v;
}

static inline uint64_t sm_dec_u64(struct sm_dec *d)
{
	uint64_t v = 0;
	if (!d->failed && sm_state_get_u64(&d->r, &v, d->err) < 0)
		d->failed = true;
	return d->failed ? 0 : v;
}

/* Fail with a message (first failure wins). */
int sm_dec_fail(struct sm_dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 0 when everything decoded and nothing is left over, else <0 with "<what>: ..." in err. */
int sm_dec_end(struct sm_dec *d);

#endif
