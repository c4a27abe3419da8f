/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_DEVICES_CONSOLE_H
#define SM_VMM_DEVICES_CONSOLE_H

#include <stdint.h>

#include "common/error.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/virtio.h"

/*
 * virtio-console (virtio 1.2 §5.3) with a single port (no MULTIPORT): the receive queue is fed
 * from a host fd, the transmit queue drains to another (or the same) host fd, e.g. the master of
 * a pty for a `terminal: true` container (the guest sees /dev/hvc0). VIRTIO_CONSOLE_F_SIZE
 * carries the terminal size. Data is read straight into the guest's buffers and written straight
 * from them, so the device buffers nothing: when the host does not read, the guest's transmit
 * queue fills up and its writes block, as on a real terminal. One I/O thread per device, started
 * when the driver activates it. See docs/design/vsock.md (section "Console").
 */

struct sm_console;

struct sm_console_config {
	int in_fd;	     /* host -> guest; -1 for no input */
	int out_fd;	     /* guest -> host; -1 to discard the output */
	uint16_t cols, rows; /* initial terminal size (0, 0: unknown) */
};

/* Counters, for logs and tests. */
struct sm_console_stats {
	uint64_t bytes_in;	/* host -> guest */
	uint64_t bytes_out;	/* guest -> host */
	uint64_t bytes_dropped; /* guest output discarded (no out_fd, or it failed) */
	uint64_t bad_buffers;	/* malformed chains */
	uint64_t in_closed;	/* 1 once the input reached EOF or hung up */
	uint64_t out_closed;	/* 1 once the output failed (EPIPE, EIO, hangup) */
};

/*
 * Create the device and its virtio-mmio transport. The device works on duplicates of in_fd and
 * out_fd (so the caller may close its own) and puts them in non-blocking mode; as that flag
 * belongs to the open file description, give it descriptors not shared with code that expects
 * blocking I/O (a pty master, a pipe end, a socket). Regular files are accepted: input is read
 * until EOF, output appended synchronously.
 */
int sm_console_new(const struct sm_console_config *cfg, const struct sm_virtio_mmio_config *mmio,
		   struct sm_console **out, sm_error_t *err);

/* Stop the thread, close the duplicated fds, free the transport and the device. NULL is allowed. */
void sm_console_free(struct sm_console *con);

/* The transport handle: route MMIO accesses and ioeventfd notifications of the window to it. */
struct sm_virtio_dev *sm_console_virtio(struct sm_console *con);

/*
 * Set the terminal size (e.g. on the host's SIGWINCH or a resize request) and raise the
 * config-change interrupt, on which Linux resizes hvc0. Any thread.
 */
void sm_console_set_size(struct sm_console *con, uint16_t cols, uint16_t rows);

/*
 * Restart the I/O thread after sm_virtio_mmio_save() (which stops it so that the rings stay
 * still while the VMM copies guest memory) when the VM goes on running. Call it before the vCPUs
 * resume. No-op when the device is not active.
 */
int sm_console_resume(struct sm_console *con, sm_error_t *err);

/* Copy the counters. Any thread. */
void sm_console_get_stats(struct sm_console *con, struct sm_console_stats *out);

#endif
