/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the split virtqueue (vmm/virtio/virtqueue.c): the input is a small header
 * describing the queue (size, features, ring addresses, starting indices) followed by the
 * contents of a 64 KiB fake guest RAM holding the rings, indirect tables and buffers. The target
 * pops chains until the ring is empty or broken, touching every byte of every buffer it gets
 * (so ASan catches a pointer outside guest RAM) and pushing each chain back.
 *
 * Header (little-endian, 12 bytes):
 *   u8 size_log2   queue size = 1 << (size_log2 % 16)
 *   u8 flags       bit 0 EVENT_IDX, bit 1 INDIRECT_DESC
 *   u16 start      initial last_avail/used index (tests the 16-bit wrap)
 *   u16 desc, avail, used   ring offsets in guest RAM
 *   u16 reserved
 */
#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/memory.h"
#include "vmm/virtio/virtqueue.h"

#define RAM_GPA 0x1000ull
#define RAM_SIZE 0x10000u
#define HDR_SIZE 12

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return le16toh(v);
}

static void use_chain(struct sm_virtq_chain *c, uint8_t *sink)
{
	unsigned int i;

	for (i = 0; i < c->nrd + c->nwr; i++) {
		volatile uint8_t *p = c->iov[i].iov_base;
		size_t j;

		if (i < c->nrd) {
			for (j = 0; j < c->iov[i].iov_len; j++)
				*sink ^= p[j];
		} else {
			memset(c->iov[i].iov_base, 0xa5, c->iov[i].iov_len);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sm_virtq_indices idx = {0};
	struct sm_guest_mem mem;
	struct sm_virtq_chain chain;
	struct sm_virtq vq;
	sm_error_t err = SM_ERROR_INIT;
	uint64_t features = 0;
	uint16_t qsize;
	uint8_t *ram, sink = 0;
	unsigned int i, rounds;
	int r;

	if (size < HDR_SIZE)
		return 0;
	qsize = (uint16_t)(1u << (data[0] % 16));
	if (data[1] & 1)
		features |= 1ull << SM_VIRTIO_F_EVENT_IDX;
	if (data[1] & 2)
		features |= 1ull << SM_VIRTIO_F_INDIRECT_DESC;
	ram = calloc(1, RAM_SIZE);
	if (ram == NULL)
		return 0;
	memcpy(ram, data + HDR_SIZE, size - HDR_SIZE < RAM_SIZE ? size - HDR_SIZE : RAM_SIZE);
	sm_guest_mem_init_fake(&mem, RAM_GPA, ram, RAM_SIZE);
	sm_virtq_init(&vq, 0);
	sm_virtq_chain_init(&chain);
	if (sm_virtq_enable(&vq, &mem, qsize, RAM_GPA + get16(data + 4), RAM_GPA + get16(data + 6),
			    RAM_GPA + get16(data + 8), features, &err) == 0) {
		idx.last_avail = idx.used_idx = idx.signalled_used = get16(data + 2);
		sm_virtq_set_indices(&vq, &idx);
		rounds = 2u * qsize + 8;
		for (i = 0; i < rounds; i++) {
			r = sm_virtq_pop(&vq, &chain, &err);
			if (r == 0 || r == -EIO)
				break;
			if (r == 1)
				use_chain(&chain, &sink);
			sm_virtq_push(&vq, chain.head, r == 1 ? (uint32_t)chain.wr_len : 0, &err);
		}
	}
	sm_virtq_disable(&vq);
	sm_virtq_destroy(&vq);
	sm_virtq_chain_free(&chain);
	free(ram);
	return sink == 0x5a ? 0 : 0;
}
