/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_COMMON_PROTO_H
#define SM_COMMON_PROTO_H

/*
 * The host <-> guest agent protocol: framing and TLV payload codec (docs/design/guest-protocol.md).
 * Plain C with no dependency beyond libc, so the guest agent (built static with musl) and the host
 * share this one implementation. Everything read from the wire is bounds-checked here.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SM_PROTO_VERSION 1
#define SM_PROTO_HDR_SIZE 12
#define SM_PROTO_MAX_PAYLOAD (1u << 20)

/* Frame types. Numbers are part of the wire format: append, never renumber. */
enum sm_msg_type {
	SM_MSG_HELLO = 1,       /* both ways: version handshake */
	SM_MSG_READY = 2,       /* guest: the agent is ready for commands */
	SM_MSG_CREATE = 3,      /* host: prepare the container and its first process (stream id) */
	SM_MSG_START = 4,       /* host: let the prepared process exec */
	SM_MSG_EXEC = 5,        /* host: start an additional process in the container */
	SM_MSG_STDIN = 6,       /* host: data for the process's stdin (or tty) */
	SM_MSG_STDIN_CLOSE = 7, /* host: EOF on stdin */
	SM_MSG_STDOUT = 8,      /* guest: process output (the tty's output when terminal) */
	SM_MSG_STDERR = 9,      /* guest: process error output */
	SM_MSG_EXIT = 10,       /* guest: the process ended; payload SM_TAG_STATUS */
	SM_MSG_SIGNAL = 11,     /* host: deliver a signal to the process (or all processes) */
	SM_MSG_RESIZE = 12,     /* host: terminal size */
	SM_MSG_OK = 13,         /* guest: the request on this stream succeeded; may carry SM_TAG_PID */
	SM_MSG_ERROR = 14,      /* guest: the request failed; SM_TAG_ERRNO and SM_TAG_MESSAGE */
	SM_MSG_PS = 15,         /* host: list the container's processes */
	SM_MSG_PS_REPLY = 16,   /* guest: SM_TAG_PID repeated */
	SM_MSG_SEED = 17,       /* host: fresh entropy for the guest RNG (after a restore) */
	SM_MSG_SHUTDOWN = 18,   /* host: stop everything and power off */
	SM_MSG_CREDIT = 19,     /* both: the receiver consumed SM_TAG_CREDIT bytes of the stream's data */
	SM_MSG_SET_TIME = 20,   /* host: set the guest's CLOCK_REALTIME (after a restore); OK or ERROR */
	SM_MSG_UPDATE = 21,     /* host: new limits for the container's guest cgroup (`update`); OK or ERROR */
	SM_MSG_OOM = 22,        /* guest: the container's guest cgroup OOM-killed; SM_TAG_OOM_KILLS (total) */
	SM_MSG_TYPE_MAX
};

struct sm_frame_hdr {
	uint32_t len;    /* payload bytes that follow the header */
	uint16_t type;   /* enum sm_msg_type */
	uint16_t flags;  /* reserved, 0 */
	uint32_t stream; /* process the frame is about; 0 = the connection itself */
};

/* A growable byte buffer for building frames. */
struct sm_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

/* Append len bytes to b, growing it; returns 0 or -ENOMEM. */
int sm_buf_put(struct sm_buf *b, const void *data, size_t len);

/* Release b's memory and reset it to empty. */
void sm_buf_free(struct sm_buf *b);

/* Encode a frame header into out (SM_PROTO_HDR_SIZE bytes, little-endian). */
void sm_frame_hdr_encode(const struct sm_frame_hdr *h, uint8_t out[SM_PROTO_HDR_SIZE]);

/*
 * Decode and validate a frame header: -EPROTO for an unknown type or non-zero flags, -EMSGSIZE
 * when len exceeds SM_PROTO_MAX_PAYLOAD. Callers read exactly h->len payload bytes next.
 */
int sm_frame_hdr_decode(const uint8_t in[SM_PROTO_HDR_SIZE], struct sm_frame_hdr *h);

/*
 * Start a frame in b (which must be empty or hold complete frames): writes a header whose
 * length is fixed up by sm_frame_end(). Returns the offset of the header for sm_frame_end().
 */
size_t sm_frame_begin(struct sm_buf *b, uint16_t type, uint32_t stream);

/* Patch the length of the frame started at off; -EMSGSIZE when the payload is too large. */
int sm_frame_end(struct sm_buf *b, size_t off);

/* TLV fields: u16 tag, u32 length, value. Tags are message-specific (see the doc). */
int sm_tlv_put(struct sm_buf *b, uint16_t tag, const void *val, uint32_t len);
int sm_tlv_put_str(struct sm_buf *b, uint16_t tag, const char *s);
int sm_tlv_put_u32(struct sm_buf *b, uint16_t tag, uint32_t v);
int sm_tlv_put_u64(struct sm_buf *b, uint16_t tag, uint64_t v);

/* A cursor over a received payload. */
struct sm_tlv_reader {
	const uint8_t *p;
	size_t left;
};

void sm_tlv_reader_init(struct sm_tlv_reader *r, const void *payload, size_t len);

/*
 * Next field: returns 1 with *tag, *val, *len set; 0 at the clean end; -EPROTO when the payload
 * is truncated or a length runs past its end.
 */
int sm_tlv_next(struct sm_tlv_reader *r, uint16_t *tag, const uint8_t **val, uint32_t *len);

/* Typed views of a field's value; -EPROTO when the size is wrong (or a string holds a NUL). */
int sm_tlv_u32(const uint8_t *val, uint32_t len, uint32_t *out);
int sm_tlv_u64(const uint8_t *val, uint32_t len, uint64_t *out);
/* Copy a string value into a new NUL-terminated malloc'd string (*out). */
int sm_tlv_str(const uint8_t *val, uint32_t len, char **out);

/*
 * The first field with tag in payload: returns 1 with *val and *len set, 0 when there is none,
 * -EPROTO when the payload turns out malformed before such a field.
 */
int sm_tlv_find(const void *payload, size_t len, uint16_t tag, const uint8_t **val, uint32_t *vlen);

/* Called by sm_tlv_walk() for each field; a negative result stops the walk. */
typedef int (*sm_tlv_visit_fn)(void *ctx, uint16_t tag, const uint8_t *val, uint32_t len);

/* sm_tlv_walk()'s result for a malformed payload: below any -errno or sm_error_set() result. */
#define SM_TLV_MALFORMED (-4096)

/*
 * Call fn(ctx, ...) for each field of payload in order. The whole payload's framing is checked
 * first, so fn never sees part of a malformed one: returns SM_TLV_MALFORMED for that (fn not
 * called), else the first negative result of fn, which stops the walk, else 0.
 */
int sm_tlv_walk(const void *payload, size_t len, sm_tlv_visit_fn fn, void *ctx);

/* A fixed-size number field for sm_tlv_get_nums(): the caller sets tag and size. */
struct sm_tlv_num {
	uint16_t tag;
	uint8_t size;	/* 4 (u32) or 8 (u64) */
	bool seen;	/* out: the field was present */
	uint64_t value; /* out: its value (0 when absent) */
};

/*
 * Read the fields of nums[0..n) out of payload, skipping other tags (the protocol's rule for
 * unknown ones). Each listed field may appear at most once. Returns 0; -EPROTO when the payload
 * is malformed; -EINVAL when a listed field has the wrong size or is repeated.
 */
int sm_tlv_get_nums(const void *payload, size_t len, struct sm_tlv_num *nums, size_t n);

/*
 * sm_tlv_get_nums() on a request of at most max bytes, for an ERROR reply: NULL, or what is
 * wrong: "payload too large", "truncated field", or "a field is repeated or of the wrong size".
 */
const char *sm_tlv_get_nums_why(const void *payload, size_t len, size_t max, struct sm_tlv_num *nums,
				size_t n);

#endif
