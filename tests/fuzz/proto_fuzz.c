/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the guest-protocol decoder: frame headers and TLV payloads as the host receives them. */
#include <stdlib.h>
#include <string.h>

#include "common/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	while (size >= SM_PROTO_HDR_SIZE) {
		struct sm_frame_hdr h;
		struct sm_tlv_reader r;
		const uint8_t *val;
		uint32_t len, u32;
		uint64_t u64;
		uint16_t tag;
		int n = 0;

		if (sm_frame_hdr_decode(data, &h) < 0)
			return 0;
		data += SM_PROTO_HDR_SIZE;
		size -= SM_PROTO_HDR_SIZE;
		if (h.len > size)
			return 0;
		sm_tlv_reader_init(&r, data, h.len);
		while (n++ < 10000 && sm_tlv_next(&r, &tag, &val, &len) == 1) {
			char *s = NULL;
			(void)sm_tlv_u32(val, len, &u32);
			(void)sm_tlv_u64(val, len, &u64);
			if (sm_tlv_str(val, len, &s) == 0)
				free(s);
		}
		data += h.len;
		size -= h.len;
	}
	return 0;
}
