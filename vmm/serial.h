/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_SERIAL_H
#define SM_VMM_SERIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A 16550A-compatible UART as a pure state machine: register reads and writes go in, transmitted
 * bytes and interrupt-line changes come out through callbacks. It has no lock and makes no
 * system calls, so it is unit-tested without KVM; the device glue (vmm/devices.c) serialises
 * calls with its own mutex. Transmission is instantaneous: THR is always empty again by the
 * time the guest looks (LSR.THRE|TEMT), and the THRE interrupt re-arms after each byte.
 */

#define SM_SERIAL_FIFO 16

/* Register offsets from the base port. */
enum {
	SM_UART_RBR_THR = 0, /* DLL when LCR.DLAB */
	SM_UART_IER = 1,     /* DLM when LCR.DLAB */
	SM_UART_IIR_FCR = 2,
	SM_UART_LCR = 3,
	SM_UART_MCR = 4,
	SM_UART_LSR = 5,
	SM_UART_MSR = 6,
	SM_UART_SCR = 7,
};

struct sm_serial {
	uint8_t ier, lcr, mcr, lsr_err, msr, scr, dll, dlm, fcr;
	bool thr_ipending; /* THRE interrupt pending: cleared by reading IIR or writing THR */
	uint8_t rx[SM_SERIAL_FIFO];
	unsigned int rx_head, rx_count;
	bool irq_level;
	void (*tx)(void *opaque, uint8_t byte); /* a byte left the UART (not in loopback) */
	void (*irq)(void *opaque, bool level);	/* the interrupt line changed level */
	void *opaque;
	uint64_t tx_bytes, rx_bytes;
};

/* Reset s to power-on state with the given callbacks (either may be NULL). */
void sm_serial_init(struct sm_serial *s, void (*tx)(void *opaque, uint8_t byte),
		    void (*irq)(void *opaque, bool level), void *opaque);

/* Guest read of register offset (0..7; higher offsets read 0xff). */
uint8_t sm_serial_read(struct sm_serial *s, unsigned int offset);

/* Guest write of value to register offset (0..7; higher offsets are ignored). */
void sm_serial_write(struct sm_serial *s, unsigned int offset, uint8_t value);

/* Bytes the receive FIFO can take now (0 when full; 1-byte holding register without FIFO). */
size_t sm_serial_rx_room(const struct sm_serial *s);

/*
 * Offer len received bytes to the UART; it takes what fits (sm_serial_rx_room) and returns how
 * many, raising the receive interrupt when enabled. The caller keeps the rest for later.
 */
size_t sm_serial_receive(struct sm_serial *s, const uint8_t *buf, size_t len);

#endif
