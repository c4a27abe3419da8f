/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_UART_H
#define SM_VMM_UART_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "vmm/serial.h"
#include "vmm/vm.h"

/*
 * A 16550A UART device on the VM's I/O-port bus: the pure state machine of vmm/serial.h behind
 * a mutex, its interrupt wired to KVM_IRQ_LINE, transmitted bytes handed to an output callback
 * (on the vCPU thread that wrote them, with the UART lock held: the callback must not touch the
 * UART), received bytes from sm_uart_input or an fd watched by the VM's event loop, buffered
 * until the guest's receive FIFO has room.
 */
struct sm_uart;

typedef void (*sm_uart_out_fn)(void *opaque, uint8_t byte);

/* Create a UART at port (8 ports) raising gsi, and register it on vm's I/O bus. */
int sm_uart_create(struct sm_vm *vm, uint16_t port, uint32_t gsi, const char *name, sm_uart_out_fn out,
		   void *opaque, struct sm_uart **uart, sm_error_t *err);

/* Free the UART; the VM must be stopped (its vCPU threads joined) first. NULL is ok. */
void sm_uart_destroy(struct sm_uart *uart);

/*
 * Queue host bytes for the guest to receive. Returns how many were accepted (the rest do not
 * fit in the host buffer of a few KiB and must be offered again later). Any thread.
 */
size_t sm_uart_input(struct sm_uart *uart, const uint8_t *buf, size_t len);

/*
 * Feed the UART from fd (e.g. stdin) through the VM's event loop until EOF; reading pauses while
 * the host buffer is full. Fails when fd cannot be polled (regular files).
 */
int sm_uart_attach_input(struct sm_uart *uart, int fd, sm_error_t *err);

/* The guest-visible state of a UART, for snapshots (host input not yet received is not part of it). */
struct sm_uart_state {
	uint8_t ier, lcr, mcr, lsr_err, msr, scr, dll, dlm, fcr;
	bool thr_ipending, irq_level;
	uint8_t rx[SM_SERIAL_FIFO]; /* received bytes not yet read by the guest, oldest first */
	unsigned int rx_count;
};

/* Copy the UART's guest-visible state (vCPUs paused). */
void sm_uart_get_state(struct sm_uart *uart, struct sm_uart_state *st);

/* Load a state from sm_uart_get_state (before the vCPUs run); fails when rx_count is too large. */
int sm_uart_set_state(struct sm_uart *uart, const struct sm_uart_state *st, sm_error_t *err);

#endif
