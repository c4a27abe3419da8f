/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the snapshot state-file parser (snapshot/format.c, image.c, kvmstate.c):
 * header, section table, checksums, and every section decoder. Random bytes rarely carry valid
 * CRC32Cs, so the first input byte picks a mode:
 *   odd:  the rest of the input is a state file image, parsed as is;
 *   even: the rest is a list of sections (u8 type, u8 instance, u16 little-endian length, bytes)
 *         that is written into a file with correct checksums first, so the decoders behind the
 *         checksums see arbitrary content.
 * A seed from a real snapshot is in tests/fuzz/corpus/snapshot/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "snapshot/format.h"
#include "snapshot/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sm_error_t err = SM_ERROR_INIT;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		(void)sm_snapshot_check_image(data + 1, size - 1, &err);
		return 0;
	}
	struct sm_snap_writer *w = calloc(1, sizeof(*w));
	struct sm_state_buf img;
	size_t off = 1;

	while (off + 4 <= size) {
		size_t len = (size_t)data[off + 2] | (size_t)data[off + 3] << 8;
		struct sm_state_buf *b = sm_snap_writer_add(w, data[off] % 6, data[off + 1] % 40);
		off += 4;
		if (b == NULL)
			break;
		if (len > size - off)
			len = size - off;
		sm_state_put(b, data + off, len);
		off += len;
	}
	sm_state_buf_init(&img);
	sm_snap_writer_finish(w, &img);
	(void)sm_snapshot_check_image(img.data, img.len, &err);
	sm_state_buf_free(&img);
	sm_snap_writer_free(w);
	free(w);
	return 0;
}
