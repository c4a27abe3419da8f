/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_SNAPSHOT_CRC32C_H
#define SM_SNAPSHOT_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF),
 * table driven, for the snapshot file's section checksums. crc is the value returned by a previous
 * call (0 to start), so a checksum can be computed in pieces: sm_crc32c(sm_crc32c(0, a), b).
 * The check value of "123456789" is 0xE3069283.
 */
uint32_t sm_crc32c(uint32_t crc, const void *data, size_t len);

#endif
