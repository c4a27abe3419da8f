/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_GUEST_INIT_CONTROL_H
#define SM_GUEST_INIT_CONTROL_H

/*
 * The control channel from the guest init to the VMM: the second serial port (ttyS1, I/O port
 * 0x2f8, IRQ 3) in raw mode. Messages are single text lines:
 *   "SM-READY\n"          init has mounted the basic file systems and is about to run the command
 *   "SM-EXIT <status>\n"  the command ended; status is its exit code, or 128+signal
 * After SM-EXIT the guest reboots (a triple fault with reboot=t), which stops the VMM.
 */
#include "common/error.h"

#define SM_CONTROL_DEVICE "/dev/ttyS1"

/*
 * Open path (normally SM_CONTROL_DEVICE) for writing and put it in raw mode, so the tty layer
 * passes the bytes unchanged. Returns the fd, or <0 with err set.
 */
int sm_control_open(const char *path, sm_error_t *err);

/* Send "SM-READY\n" on the control channel fd. Returns 0, or <0 with err set. */
int sm_control_ready(int fd, sm_error_t *err);

/*
 * Send "SM-EXIT <status>\n" on the control channel fd and wait until the serial port has
 * transmitted it (tcdrain), so nothing is lost when the guest reboots right after.
 * Returns 0, or <0 with err set.
 */
int sm_control_exit(int fd, int status, sm_error_t *err);

#endif
