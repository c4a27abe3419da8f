/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_CONTROL_H
#define SM_VMM_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Host side of the guest control channel (ttyS1, see guest/init/control.h): the bytes the guest
 * transmits are split into lines and recognised:
 *   "SM-READY"          the guest init is about to run the command
 *   "SM-EXIT <status>"  the command ended with status 0..255
 * The guest is untrusted: over-long lines are dropped up to the next newline, unknown or
 * malformed lines are counted and ignored, and nothing here can fail. Pure code, no locking.
 */

#define SM_CONTROL_LINE_MAX 128

enum sm_control_event {
	SM_CONTROL_NONE = 0,
	SM_CONTROL_READY,
	SM_CONTROL_EXIT,
	SM_CONTROL_INVALID, /* a complete line that is not a valid message */
};

struct sm_control_parser {
	char line[SM_CONTROL_LINE_MAX];
	size_t len;
	bool overflow; /* dropping bytes until the next newline */
	uint64_t invalid_lines;
};

/* Reset p to the start of a line. */
void sm_control_init(struct sm_control_parser *p);

/*
 * Feed one byte. Returns the event completed by this byte (SM_CONTROL_NONE mid-line); for
 * SM_CONTROL_EXIT *status is the reported status. '\r' is ignored.
 */
enum sm_control_event sm_control_feed(struct sm_control_parser *p, uint8_t byte, int *status);

#endif
