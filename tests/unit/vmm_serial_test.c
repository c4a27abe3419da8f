/* SPDX-License-Identifier: Apache-2.0 */
/* The 16550A state machine (as Linux's 8250 driver probes and drives it), the control-channel
 * line parser and the CMOS clock, all without KVM. */
#include <string.h>

#include "tests/tap.h"
#include "vmm/control.h"
#include "vmm/legacy.h"
#include "vmm/serial.h"

struct sink {
	uint8_t tx[64];
	unsigned int ntx;
	bool level;
	unsigned int rises, falls;
};

static void on_tx(void *opaque, uint8_t b)
{
	struct sink *s = opaque;
	if (s->ntx < sizeof(s->tx))
		s->tx[s->ntx++] = b;
}

static void on_irq(void *opaque, bool level)
{
	struct sink *s = opaque;
	s->level = level;
	if (level)
		s->rises++;
	else
		s->falls++;
}

static void setup(struct sm_serial *u, struct sink *s)
{
	memset(s, 0, sizeof(*s));
	sm_serial_init(u, on_tx, on_irq, s);
}

static void test_reset_state(void)
{
	struct sm_serial u;
	struct sink s;

	setup(&u, &s);
	ok(sm_serial_read(&u, SM_UART_LSR) == 0x60, "LSR after reset: THRE|TEMT, no data");
	ok(sm_serial_read(&u, SM_UART_IIR_FCR) == 0x01, "IIR after reset: no interrupt, no FIFO");
	ok((sm_serial_read(&u, SM_UART_MSR) & 0xf0) == 0xb0, "MSR: DCD, DSR, CTS");
	ok(sm_serial_read(&u, SM_UART_RBR_THR) == 0, "RBR empty reads 0");
	ok(sm_serial_read(&u, 9) == 0xff, "offsets beyond 7 read 0xff");
	ok(!s.level && s.rises == 0, "no interrupt after reset");
}

/* The register tests of Linux's autoconfig() (drivers/tty/serial/8250/8250_port.c). */
static void test_linux_probe(void)
{
	struct sm_serial u;
	struct sink s;

	setup(&u, &s);
	sm_serial_write(&u, SM_UART_IER, 0);
	ok(sm_serial_read(&u, SM_UART_IER) == 0, "IER reads back 0");
	sm_serial_write(&u, SM_UART_IER, 0x0f);
	ok(sm_serial_read(&u, SM_UART_IER) == 0x0f, "IER reads back 0x0f");
	sm_serial_write(&u, SM_UART_IER, 0xff);
	ok(sm_serial_read(&u, SM_UART_IER) == 0x0f, "IER bits 4-7 do not stick (not an XScale UART)");
	sm_serial_write(&u, SM_UART_IER, 0);

	sm_serial_write(&u, SM_UART_SCR, 0xa5);
	ok(sm_serial_read(&u, SM_UART_SCR) == 0xa5, "scratch register");

	sm_serial_write(&u, SM_UART_MCR, 0x10 | 0x0a); /* LOOP | OUT2 | RTS */
	ok((sm_serial_read(&u, SM_UART_MSR) & 0xf0) == 0x90, "loopback: MSR mirrors OUT2->DCD, RTS->CTS");
	sm_serial_write(&u, SM_UART_MCR, 0x10 | 0x05); /* LOOP | OUT1 | DTR */
	ok((sm_serial_read(&u, SM_UART_MSR) & 0xf0) == 0x60, "loopback: OUT1->RI, DTR->DSR");
	sm_serial_write(&u, SM_UART_MCR, 0x10);
	sm_serial_write(&u, SM_UART_RBR_THR, 'L');
	ok(s.ntx == 0, "loopback: the byte is not transmitted");
	ok((sm_serial_read(&u, SM_UART_LSR) & 0x01) && sm_serial_read(&u, SM_UART_RBR_THR) == 'L',
	   "loopback: the byte comes back in RBR");
	sm_serial_write(&u, SM_UART_MCR, 0x0b);
	ok((sm_serial_read(&u, SM_UART_MSR) & 0xf0) == 0xb0, "leaving loopback restores the line status");

	sm_serial_write(&u, SM_UART_LCR, 0);
	sm_serial_write(&u, SM_UART_IIR_FCR, 0x01);
	ok((sm_serial_read(&u, SM_UART_IIR_FCR) >> 6) == 3, "FIFO enabled: IIR bits 7:6 = 3 (16550A)");
	sm_serial_write(&u, SM_UART_IIR_FCR, 0x21); /* + 64-byte FIFO bit: no TI16750 here */
	ok((sm_serial_read(&u, SM_UART_IIR_FCR) >> 5) == 6, "IIR bit 5 stays clear (not a 16750)");
	sm_serial_write(&u, SM_UART_IIR_FCR, 0);
	ok((sm_serial_read(&u, SM_UART_IIR_FCR) & 0xc0) == 0, "FIFO disabled: IIR bits 7:6 = 0");

	sm_serial_write(&u, SM_UART_LCR, 0x83); /* DLAB, 8N1 */
	sm_serial_write(&u, SM_UART_RBR_THR, 0x01);
	sm_serial_write(&u, SM_UART_IER, 0x00);
	ok(sm_serial_read(&u, SM_UART_RBR_THR) == 0x01 && sm_serial_read(&u, SM_UART_IER) == 0x00,
	   "divisor latch (115200 baud) reads back");
	ok(s.ntx == 0, "writing DLL does not transmit");
	sm_serial_write(&u, SM_UART_LCR, 0x03);
	ok(sm_serial_read(&u, SM_UART_LCR) == 0x03, "LCR reads back");
	ok(sm_serial_read(&u, SM_UART_IER) == 0x00, "with DLAB clear offset 1 is IER again");
}

static void test_thre_interrupt(void)
{
	struct sm_serial u;
	struct sink s;

	setup(&u, &s);
	sm_serial_write(&u, SM_UART_IER, 0x02);
	ok(s.level && s.rises == 1, "enabling THRI with an empty transmitter raises the line");
	ok(sm_serial_read(&u, SM_UART_IIR_FCR) == 0x02, "IIR: THRE interrupt");
	ok(!s.level, "reading IIR clears the THRE interrupt");
	ok(sm_serial_read(&u, SM_UART_IIR_FCR) == 0x01, "IIR: nothing pending after that");
	/* Linux's UART_BUG_THRE test: THRI off and on again must re-raise THRE. */
	sm_serial_write(&u, SM_UART_IER, 0);
	sm_serial_write(&u, SM_UART_IER, 0x02);
	ok((sm_serial_read(&u, SM_UART_IIR_FCR) & 0x0f) == 0x02, "THRE re-asserted after re-enabling THRI");

	s.rises = s.falls = 0;
	sm_serial_write(&u, SM_UART_RBR_THR, 'x');
	ok(s.ntx == 1 && s.tx[0] == 'x', "THR write transmits the byte");
	ok(s.falls == 0 && s.rises == 1 && s.level, "a transmitted byte raises THRE (edge) for the next one");
	sm_serial_write(&u, SM_UART_RBR_THR, 'y');
	ok(s.falls == 1 && s.rises == 2, "each byte gives a fresh rising edge (line dropped in between)");
	sm_serial_write(&u, SM_UART_IER, 0);
	ok(!s.level, "disabling interrupts drops the line");
	sm_serial_write(&u, SM_UART_RBR_THR, 'z');
	ok(!s.level && s.ntx == 3, "polled transmit (console) raises nothing");
	ok((sm_serial_read(&u, SM_UART_LSR) & 0x60) == 0x60, "transmitter always empty again");
}

static void test_receive(void)
{
	struct sm_serial u;
	struct sink s;
	uint8_t many[40];

	setup(&u, &s);
	ok(sm_serial_rx_room(&u) == 1, "without FIFO the receiver holds one byte");
	ok(sm_serial_receive(&u, (const uint8_t *)"ab", 2) == 1, "only one byte accepted without FIFO");
	ok(sm_serial_read(&u, SM_UART_RBR_THR) == 'a', "that byte is 'a'");
	sm_serial_write(&u, SM_UART_IIR_FCR, 0x07); /* enable and clear FIFOs */
	sm_serial_write(&u, SM_UART_IER, 0x01);
	ok(!s.level, "no receive interrupt while empty");
	ok(sm_serial_receive(&u, (const uint8_t *)"abc", 3) == 3, "FIFO takes 3 bytes");
	ok(s.level && sm_serial_read(&u, SM_UART_IIR_FCR) == 0xc4, "receive interrupt: IIR 0xc4");
	ok(sm_serial_read(&u, SM_UART_LSR) & 0x01, "LSR.DR set");
	ok(sm_serial_read(&u, 0) == 'a' && sm_serial_read(&u, 0) == 'b' && sm_serial_read(&u, 0) == 'c',
	   "bytes come out in order");
	ok(!(sm_serial_read(&u, SM_UART_LSR) & 0x01) && !s.level, "empty again: DR clear, line low");
	memset(many, 'm', sizeof(many));
	ok(sm_serial_receive(&u, many, sizeof(many)) == SM_SERIAL_FIFO, "at most 16 bytes accepted");
	ok(sm_serial_rx_room(&u) == 0 && sm_serial_receive(&u, many, 1) == 0, "full FIFO takes nothing");
	sm_serial_write(&u, SM_UART_IIR_FCR, 0x03);
	ok(sm_serial_rx_room(&u) == SM_SERIAL_FIFO && !s.level,
	   "FCR clear empties the FIFO and drops the line");
	sm_serial_write(&u, SM_UART_MCR, 0x10);
	ok(sm_serial_receive(&u, many, 4) == 4 && sm_serial_rx_room(&u) == SM_SERIAL_FIFO,
	   "in loopback, line input is discarded");
}

static enum sm_control_event feed(struct sm_control_parser *p, const char *text, int *status)
{
	enum sm_control_event last = SM_CONTROL_NONE;
	for (; *text; text++) {
		enum sm_control_event e = sm_control_feed(p, (uint8_t)*text, status);
		if (e != SM_CONTROL_NONE)
			last = e;
	}
	return last;
}

static void test_control(void)
{
	struct sm_control_parser p;
	int status = -1;
	char big[300];

	sm_control_init(&p);
	ok(feed(&p, "SM-READ", &status) == SM_CONTROL_NONE, "partial line: no event");
	ok(feed(&p, "Y\n", &status) == SM_CONTROL_READY, "SM-READY");
	ok(feed(&p, "SM-EXIT 3\r\n", &status) == SM_CONTROL_EXIT && status == 3, "SM-EXIT 3 (CRLF)");
	ok(feed(&p, "SM-EXIT 0\n", &status) == SM_CONTROL_EXIT && status == 0, "SM-EXIT 0");
	ok(feed(&p, "SM-EXIT 255\n", &status) == SM_CONTROL_EXIT && status == 255, "SM-EXIT 255");
	status = -1;
	ok(feed(&p, "SM-EXIT 256\n", &status) == SM_CONTROL_INVALID && status == -1,
	   "SM-EXIT 256 is invalid");
	ok(feed(&p, "SM-EXIT -1\n", &status) == SM_CONTROL_INVALID, "negative status is invalid");
	ok(feed(&p, "SM-EXIT 03\n", &status) == SM_CONTROL_INVALID, "leading zero is invalid");
	ok(feed(&p, "SM-EXIT 3x\n", &status) == SM_CONTROL_INVALID, "trailing junk is invalid");
	ok(feed(&p, "SM-EXIT \n", &status) == SM_CONTROL_INVALID, "missing status is invalid");
	ok(feed(&p, "SM-EXIT 99999999999\n", &status) == SM_CONTROL_INVALID, "huge status is invalid");
	ok(feed(&p, "sm-ready\n", &status) == SM_CONTROL_INVALID, "messages are case-sensitive");
	ok(feed(&p, "\n\n", &status) == SM_CONTROL_NONE, "blank lines are ignored");
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ok(feed(&p, big, &status) == SM_CONTROL_NONE, "over-long line: nothing until its end");
	ok(feed(&p, "SM-EXIT 1\n", &status) == SM_CONTROL_INVALID, "an over-long line is dropped whole");
	ok(feed(&p, "SM-EXIT 7\n", &status) == SM_CONTROL_EXIT && status == 7,
	   "the parser recovers after it");
	ok(sm_control_feed(&p, 0, &status) == SM_CONTROL_NONE &&
	       feed(&p, "SM-READY\n", &status) == SM_CONTROL_INVALID,
	   "a NUL byte spoils its line");
	ok(p.invalid_lines >= 9, "invalid lines are counted (%llu)", (unsigned long long)p.invalid_lines);
}

static void test_cmos(void)
{
	uint8_t nvram[128];
	time_t t = 1709214307; /* 2024-02-29 13:45:07 UTC, a Thursday */

	memset(nvram, 0, sizeof(nvram));
	nvram[0x10] = 0x42;
	ok(sm_cmos_value(nvram, 0x00, t) == 0x07 && sm_cmos_value(nvram, 0x02, t) == 0x45 &&
	       sm_cmos_value(nvram, 0x04, t) == 0x13,
	   "time 13:45:07 in BCD");
	ok(sm_cmos_value(nvram, 0x07, t) == 0x29 && sm_cmos_value(nvram, 0x08, t) == 0x02 &&
	       sm_cmos_value(nvram, 0x09, t) == 0x24 && sm_cmos_value(nvram, 0x32, t) == 0x20,
	   "date 2024-02-29 in BCD with century");
	ok(sm_cmos_value(nvram, 0x06, t) == 0x05, "day of week (Thursday = 5)");
	ok((sm_cmos_value(nvram, 0x0a, t) & 0x80) == 0, "no update in progress");
	ok(sm_cmos_value(nvram, 0x0b, t) == 0x02, "status B: 24-hour BCD");
	ok(sm_cmos_value(nvram, 0x0d, t) == 0x80, "status D: valid");
	ok(sm_cmos_value(nvram, 0x10, t) == 0x42 && sm_cmos_value(nvram, 0x90, t) == 0x42,
	   "NVRAM, index masked to 7 bits");
}

int main(void)
{
	test_reset_state();
	test_linux_probe();
	test_thre_interrupt();
	test_receive();
	test_control();
	test_cmos();
	return tap_done();
}
