/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "vmm/serial.h"

#define IER_RDI 0x01  /* received data available */
#define IER_THRI 0x02 /* transmitter holding register empty */
#define IER_RLSI 0x04 /* receiver line status */
#define IER_MSI 0x08  /* modem status */

#define IIR_NO_INT 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_FIFO_ENABLED 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
#define MSR_DELTAS 0x0f

void sm_serial_init(struct sm_serial *s, void (*tx)(void *opaque, uint8_t byte),
		    void (*irq)(void *opaque, bool level), void *opaque)
{
	memset(s, 0, sizeof(*s));
	s->tx = tx;
	s->irq = irq;
	s->opaque = opaque;
	/* A connected line: carrier, data set ready and clear to send. */
	s->msr = MSR_DCD | MSR_DSR | MSR_CTS;
}

static uint8_t compute_iir(const struct sm_serial *s)
{
	uint8_t iir = IIR_NO_INT;

	if ((s->ier & IER_RLSI) && (s->lsr_err & (LSR_OE | LSR_BI)))
		iir = IIR_RLSI;
	else if ((s->ier & IER_RDI) && s->rx_count > 0)
		iir = IIR_RDI;
	else if ((s->ier & IER_THRI) && s->thr_ipending)
		iir = IIR_THRI;
	else if ((s->ier & IER_MSI) && (s->msr & MSR_DELTAS))
		iir = IIR_MSI;
	if (s->fcr & FCR_ENABLE)
		iir |= IIR_FIFO_ENABLED;
	return iir;
}

static void update_irq(struct sm_serial *s)
{
	bool level = !(compute_iir(s) & IIR_NO_INT);

	if (level != s->irq_level) {
		s->irq_level = level;
		if (s->irq != NULL)
			s->irq(s->opaque, level);
	}
}

static unsigned int rx_capacity(const struct sm_serial *s)
{
	return (s->fcr & FCR_ENABLE) ? SM_SERIAL_FIFO : 1;
}

size_t sm_serial_rx_room(const struct sm_serial *s)
{
	unsigned int cap = rx_capacity(s);
	return s->rx_count >= cap ? 0 : cap - s->rx_count;
}

static void rx_push(struct sm_serial *s, uint8_t b)
{
	if (s->rx_count >= rx_capacity(s)) {
		s->lsr_err |= LSR_OE; /* overrun: the byte is lost, as on hardware */
		return;
	}
	s->rx[(s->rx_head + s->rx_count) % SM_SERIAL_FIFO] = b;
	s->rx_count++;
	s->rx_bytes++;
}

size_t sm_serial_receive(struct sm_serial *s, const uint8_t *buf, size_t len)
{
	size_t n = sm_serial_rx_room(s);

	if (n > len)
		n = len;
	/* In loopback mode the line input is disconnected. */
	if (s->mcr & MCR_LOOP)
		return len;
	for (size_t i = 0; i < n; i++)
		rx_push(s, buf[i]);
	if (n > 0)
		update_irq(s);
	return n;
}

/* MSR in loopback mode mirrors the MCR outputs; record which inputs changed. */
static void loopback_msr(struct sm_serial *s)
{
	uint8_t in = 0, old = s->msr;

	if (s->mcr & MCR_RTS)
		in |= MSR_CTS;
	if (s->mcr & MCR_DTR)
		in |= MSR_DSR;
	if (s->mcr & MCR_OUT1)
		in |= MSR_RI;
	if (s->mcr & MCR_OUT2)
		in |= MSR_DCD;
	s->msr = (uint8_t)((old & MSR_DELTAS) | in);
	if ((old ^ in) & MSR_CTS)
		s->msr |= MSR_DCTS;
	if ((old ^ in) & MSR_DSR)
		s->msr |= MSR_DDSR;
	if ((old & MSR_RI) && !(in & MSR_RI))
		s->msr |= MSR_TERI;
	if ((old ^ in) & MSR_DCD)
		s->msr |= MSR_DDCD;
}

static void transmit(struct sm_serial *s, uint8_t b)
{
	/* Writing THR clears the THRE interrupt; the line must drop before it rises again so an
	 * edge-triggered interrupt controller sees the next THRE. */
	s->thr_ipending = false;
	update_irq(s);
	if (s->mcr & MCR_LOOP) {
		rx_push(s, b);
	} else {
		s->tx_bytes++;
		if (s->tx != NULL)
			s->tx(s->opaque, b);
	}
	s->thr_ipending = true;
	update_irq(s);
}

uint8_t sm_serial_read(struct sm_serial *s, unsigned int offset)
{
	uint8_t v;

	switch (offset) {
	case SM_UART_RBR_THR:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		if (s->rx_count == 0)
			return 0;
		v = s->rx[s->rx_head];
		s->rx_head = (s->rx_head + 1) % SM_SERIAL_FIFO;
		s->rx_count--;
		update_irq(s);
		return v;
	case SM_UART_IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case SM_UART_IIR_FCR:
		v = compute_iir(s);
		if ((v & 0x0f) == IIR_THRI) {
			s->thr_ipending = false;
			update_irq(s);
		}
		return v;
	case SM_UART_LCR:
		return s->lcr;
	case SM_UART_MCR:
		return s->mcr;
	case SM_UART_LSR:
		v = (uint8_t)(LSR_THRE | LSR_TEMT | s->lsr_err | (s->rx_count > 0 ? LSR_DR : 0));
		if (s->lsr_err) {
			s->lsr_err = 0;
			update_irq(s);
		}
		return v;
	case SM_UART_MSR:
		v = s->msr;
		if (v & MSR_DELTAS) {
			s->msr &= (uint8_t)~MSR_DELTAS;
			update_irq(s);
		}
		return v;
	case SM_UART_SCR:
		return s->scr;
	default:
		return 0xff;
	}
}

void sm_serial_write(struct sm_serial *s, unsigned int offset, uint8_t value)
{
	uint8_t old;

	switch (offset) {
	case SM_UART_RBR_THR:
		if (s->lcr & LCR_DLAB)
			s->dll = value;
		else
			transmit(s, value);
		return;
	case SM_UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = value;
			return;
		}
		old = s->ier;
		s->ier = value & 0x0f;
		/* Enabling THRI with an empty transmitter raises it at once (Linux tests this). */
		if ((s->ier & IER_THRI) && !(old & IER_THRI))
			s->thr_ipending = true;
		update_irq(s);
		return;
	case SM_UART_IIR_FCR:
		if (!(value & FCR_ENABLE) || (value & FCR_CLEAR_RX)) {
			s->rx_head = 0;
			s->rx_count = 0;
		}
		s->fcr = value & 0xc9; /* enable, DMA mode, trigger level; the clear bits self-reset */
		update_irq(s);
		return;
	case SM_UART_LCR:
		s->lcr = value;
		return;
	case SM_UART_MCR:
		old = s->mcr;
		s->mcr = value & 0x1f;
		if (s->mcr & MCR_LOOP)
			loopback_msr(s);
		else if (old & MCR_LOOP)
			s->msr = MSR_DCD | MSR_DSR | MSR_CTS;
		update_irq(s);
		return;
	case SM_UART_SCR:
		s->scr = value;
		return;
	default:
		return; /* LSR and MSR are read-only */
	}
}
