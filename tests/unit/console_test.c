/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-console device tests: the test is the guest driver (tests/unit/vsock_guest.h, real MMIO
 * entry points over a fake guest RAM) and the host side (real pipes, a real pty, a real file).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "tests/tap.h"
#include "tests/unit/vsock_guest.h"
#include "vmm/devices/console.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/state.h"

#define Q_RX 0
#define Q_TX 1
#define WAIT 2000
#define NOWAIT 250

struct cenv {
	struct guest g;
	struct sm_console *con;
	int in_w;  /* host writes guest input here */
	int out_r; /* host reads guest output here */
};

static void up_fds(struct cenv *e, int in_fd, int out_fd, uint16_t cols, uint16_t rows)
{
	struct sm_console_config cfg = {in_fd, out_fd, cols, rows};
	struct sm_virtio_mmio_config mcfg;
	sm_error_t err = SM_ERROR_INIT;

	g_init(&e->g, 2, &mcfg);
	if (sm_console_new(&cfg, &mcfg, &e->con, &err) < 0) {
		printf("Bail out! %s\n", err.msg);
		exit(1);
	}
	e->g.dev = sm_console_virtio(e->con);
}

/* Pipes both ways; the device keeps its own duplicates, we close the ends we gave it. */
static void up_pipes(struct cenv *e)
{
	int in[2], out[2];

	memset(e, 0, sizeof(*e));
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		abort();
	up_fds(e, in[0], out[1], 80, 24);
	close(in[0]);
	close(out[1]);
	e->in_w = in[1];
	e->out_r = out[0];
}

static void down(struct cenv *e)
{
	sm_console_free(e->con);
	g_free(&e->g);
	if (e->in_w >= 0)
		close(e->in_w);
	if (e->out_r >= 0)
		close(e->out_r);
}

static void start(struct cenv *e)
{
	g_start(&e->g, ~0ull);
}

static struct sm_console_stats cstats(struct cenv *e)
{
	struct sm_console_stats s;

	sm_console_get_stats(e->con, &s);
	return s;
}

static void post_rx(struct cenv *e, unsigned int n, uint32_t size)
{
	struct gseg s = {NULL, size, true};

	while (n-- > 0)
		g_add(&e->g, Q_RX, &s, 1);
	g_kick(&e->g, Q_RX);
}

static bool recv_in(struct cenv *e, char *buf, uint32_t *len, unsigned int timeout_ms)
{
	uint16_t id;

	if (!g_wait_used(&e->g, Q_RX, &id, len, timeout_ms))
		return false;
	memcpy(buf, g_buf(&e->g, Q_RX, id), *len);
	buf[*len] = '\0';
	return true;
}

static int send_out(struct cenv *e, const char *s, uint32_t len)
{
	struct gseg seg = {s, len, false};
	int head = g_add(&e->g, Q_TX, &seg, 1);

	g_kick(&e->g, Q_TX);
	return head;
}

static size_t read_avail(int fd, char *buf, size_t cap, unsigned int timeout_ms)
{
	struct pollfd p = {fd, POLLIN, 0};
	size_t n = 0;

	while (n < cap && poll(&p, 1, (int)timeout_ms) == 1) {
		ssize_t r = read(fd, buf + n, cap - n);

		if (r <= 0)
			break;
		n += (size_t)r;
		timeout_ms = 50;
	}
	return n;
}

static uint16_t cfg16(struct cenv *e, uint64_t off)
{
	uint16_t v;

	sm_virtio_mmio_read(e->g.dev, SM_VMMIO_CONFIG + off, &v, 2);
	return le16toh(v);
}

static void test_probe_and_size(void)
{
	struct cenv e;
	uint32_t gen;

	up_pipes(&e);
	ok(g_rd(&e.g, SM_VMMIO_DEVICE_ID) == 3, "device id 3 (console)");
	ok((g_features(&e.g) & 7) == 1, "offers VIRTIO_CONSOLE_F_SIZE only (no MULTIPORT, no EMERG_WRITE)");
	ok(cfg16(&e, 0) == 80 && cfg16(&e, 2) == 24, "config cols 80 rows 24");
	ok(g_rd(&e.g, SM_VMMIO_CONFIG + 4) == 0, "max_nr_ports 0");
	start(&e);
	gen = g_rd(&e.g, SM_VMMIO_CONFIG_GENERATION);
	sm_console_set_size(e.con, 132, 43);
	ok(cfg16(&e, 0) == 132 && cfg16(&e, 2) == 43, "resize: config cols 132 rows 43");
	ok(g_rd(&e.g, SM_VMMIO_CONFIG_GENERATION) != gen, "config generation changed");
	ok(g_rd(&e.g, SM_VMMIO_INTERRUPT_STATUS) & SM_VIRTIO_INT_CONFIG, "config-change interrupt raised");
	down(&e);
}

static void test_data(void)
{
	struct cenv e;
	char buf[8192], big[100];
	uint32_t len, total = 0;
	uint16_t id;

	up_pipes(&e);
	start(&e);
	post_rx(&e, 2, 64);
	ok(write(e.in_w, "abc", 3) == 3, "host writes \"abc\"");
	ok(recv_in(&e, buf, &len, WAIT) && len == 3 && strcmp(buf, "abc") == 0,
	   "receiveq buffer holds \"abc\"");
	memset(big, 'q', sizeof(big));
	write(e.in_w, big, sizeof(big));
	post_rx(&e, 1, 64);
	while (total < sizeof(big) && recv_in(&e, buf, &len, WAIT))
		total += len;
	ok(total == sizeof(big), "100 bytes spread over 64-byte buffers (%u)", total);
	ok(!g_wait_used(&e.g, Q_RX, &id, &len, NOWAIT), "no empty buffers handed back");

	send_out(&e, "hello", 5);
	ok(g_wait_used(&e.g, Q_TX, &id, &len, WAIT) && len == 0, "transmitq buffer used (length 0)");
	ok(read_avail(e.out_r, buf, 5, WAIT) == 5 && memcmp(buf, "hello", 5) == 0, "host reads \"hello\"");
	{
		struct gseg s[2] = {{"foo", 3, false}, {"bar", 3, false}};

		g_add(&e.g, Q_TX, s, 2);
		g_kick(&e.g, Q_TX);
	}
	ok(read_avail(e.out_r, buf, 6, WAIT) == 6 && memcmp(buf, "foobar", 6) == 0,
	   "two-buffer chain: \"foobar\"");
	/* The device thread counts after the bytes are handed over: give it a moment. */
	for (int i = 0; i < 200 && !(cstats(&e).bytes_in == 103 && cstats(&e).bytes_out == 11); i++)
		usleep(5000);
	ok(cstats(&e).bytes_in == 103 && cstats(&e).bytes_out == 11, "byte counters");
	down(&e);
}

/* The host does not read: the guest's buffers stay with the device, no copy piles up. */
static void test_backpressure(void)
{
	static char chunk[4096], sink[65536];
	struct cenv e;
	uint16_t id;
	uint32_t len;
	int i, used = 0;
	size_t got = 0;
	bool in_order = true;

	up_pipes(&e);
	fcntl(e.out_r, F_SETPIPE_SZ, 4096);
	start(&e);
	for (i = 0; i < 8; i++) {
		memset(chunk, 'a' + i, sizeof(chunk));
		send_out(&e, chunk, sizeof(chunk));
	}
	while (g_wait_used(&e.g, Q_TX, &id, &len, NOWAIT))
		used++;
	ok(used < 8, "pipe full: only %d of 8 chunks taken", used);
	while (got < 8 * sizeof(chunk)) {
		size_t n = read_avail(e.out_r, sink, sizeof(sink), WAIT), k;

		if (n == 0)
			break;
		for (k = 0; k < n; k++)
			in_order &= sink[k] == (char)('a' + (got + k) / sizeof(chunk));
		got += n;
		while (g_used(&e.g, Q_TX, &id, &len))
			used++;
	}
	while (used < 8 && g_wait_used(&e.g, Q_TX, &id, &len, WAIT))
		used++;
	ok(got == 8 * sizeof(chunk) && in_order, "host drains: all %zu bytes arrive in order", got);
	ok(used == 8, "all chains handed back");
	down(&e);
}

static void test_eof_and_hangup(void)
{
	struct cenv e;
	char buf[64];
	uint16_t id;
	uint32_t len;

	up_pipes(&e);
	start(&e);
	post_rx(&e, 2, 64);
	write(e.in_w, "last", 4);
	close(e.in_w);
	e.in_w = -1;
	ok(recv_in(&e, buf, &len, WAIT) && len == 4, "input written before EOF arrives");
	ok(G_WAIT(cstats(&e).in_closed == 1, WAIT), "input EOF noticed");
	ok(!g_wait_used(&e.g, Q_RX, &id, &len, NOWAIT), "the remaining receive buffer stays with the device");

	close(e.out_r);
	e.out_r = -1;
	send_out(&e, "lost", 4);
	ok(g_wait_used(&e.g, Q_TX, &id, &len, WAIT), "output after the reader is gone is still consumed");
	ok(cstats(&e).out_closed == 1 && cstats(&e).bytes_dropped == 4,
	   "counted as dropped (EPIPE, no SIGPIPE)");
	ok(!(g_rd(&e.g, SM_VMMIO_STATUS) & SM_VIRTIO_S_NEEDS_RESET), "device healthy");
	down(&e);
}

static void test_files(void)
{
	char in_path[] = "/tmp/sm-con-in.XXXXXX", out_path[] = "/tmp/sm-con-out.XXXXXX", buf[64];
	struct cenv e;
	int in_fd = mkstemp(in_path), out_fd = mkstemp(out_path);
	uint32_t len;
	uint16_t id;

	memset(&e, 0, sizeof(e));
	e.in_w = e.out_r = -1;
	write(in_fd, "from-a-file", 11);
	lseek(in_fd, 0, SEEK_SET);
	up_fds(&e, in_fd, out_fd, 0, 0);
	start(&e);
	post_rx(&e, 2, 64);
	ok(recv_in(&e, buf, &len, WAIT) && strcmp(buf, "from-a-file") == 0, "regular file as input");
	ok(G_WAIT(cstats(&e).in_closed == 1, WAIT), "its EOF is noticed");
	send_out(&e, "logged", 6);
	ok(g_wait_used(&e.g, Q_TX, &id, &len, WAIT), "output chain used");
	ok(pread(out_fd, buf, sizeof(buf), 0) == 6 && memcmp(buf, "logged", 6) == 0,
	   "regular file as output");
	down(&e);
	close(in_fd);
	close(out_fd);
	unlink(in_path);
	unlink(out_path);
}

static void test_pty(void)
{
	struct cenv e;
	struct termios t;
	char buf[64];
	uint32_t len;
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), slave;

	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
	    (slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
		tap_skip("no pty available");
		return;
	}
	tcgetattr(slave, &t);
	cfmakeraw(&t);
	tcsetattr(slave, TCSANOW, &t);
	memset(&e, 0, sizeof(e));
	e.in_w = e.out_r = -1;
	up_fds(&e, master, master, 100, 30);
	close(master);
	start(&e);
	post_rx(&e, 2, 64);
	write(slave, "typed", 5);
	ok(recv_in(&e, buf, &len, WAIT) && strcmp(buf, "typed") == 0,
	   "pty: what the terminal types reaches the guest");
	send_out(&e, "shown", 5);
	ok(read_avail(slave, buf, 5, WAIT) == 5 && memcmp(buf, "shown", 5) == 0,
	   "pty: guest output reaches the terminal");
	close(slave);
	ok(G_WAIT(cstats(&e).in_closed == 1, WAIT), "pty: hangup ends the input");
	ok(!(g_rd(&e.g, SM_VMMIO_STATUS) & SM_VIRTIO_S_NEEDS_RESET), "device healthy after the hangup");
	down(&e);
}

static void test_malformed_reset_snapshot(void)
{
	static char chunk[8000];
	struct cenv e;
	struct sm_state_buf sb;
	sm_error_t err = SM_ERROR_INIT;
	char buf[65536];
	uint16_t id;
	uint32_t len;
	int used = 0;

	up_pipes(&e);
	start(&e);
	{
		struct gseg s = {"ro", 2, false};

		g_add(&e.g, Q_RX, &s, 1);
		g_kick(&e.g, Q_RX);
	}
	write(e.in_w, "x", 1);
	ok(g_wait_used(&e.g, Q_RX, &id, &len, WAIT) && len == 0 && cstats(&e).bad_buffers == 1,
	   "read-only receive buffer returned unused and counted");
	post_rx(&e, 1, 64);
	ok(recv_in(&e, buf, &len, WAIT) && len == 1, "the input waits for a usable buffer");
	{
		struct gseg s = {NULL, 16, true};

		g_add(&e.g, Q_TX, &s, 1);
		g_kick(&e.g, Q_TX);
		ok(g_wait_used(&e.g, Q_TX, &id, &len, WAIT),
		   "transmit chain with nothing to send is consumed");
	}

	g_wr(&e.g, SM_VMMIO_STATUS, 0);
	start(&e);
	post_rx(&e, 1, 64);
	write(e.in_w, "again", 5);
	ok(recv_in(&e, buf, &len, WAIT) && strcmp(buf, "again") == 0, "works after a device reset");

	/* A save while a transmit chain waits for the host: the chain is completed (data dropped). */
	fcntl(e.out_r, F_SETPIPE_SZ, 4096);
	memset(chunk, 'z', sizeof(chunk));
	send_out(&e, chunk, sizeof(chunk));
	ok(!g_wait_used(&e.g, Q_TX, &id, &len, NOWAIT), "a chain waits for the full pipe");
	sm_state_buf_init(&sb);
	ok(sm_virtio_mmio_save(e.g.dev, &sb, &err) == 0, "save");
	ok(g_used(&e.g, Q_TX, &id, &len), "the waiting chain was completed by the save");
	ok(cstats(&e).bytes_dropped > 0, "its unwritten bytes are counted as dropped");
	read_avail(e.out_r, buf, sizeof(buf), NOWAIT);
	send_out(&e, "after", 5);
	ok(!g_wait_used(&e.g, Q_TX, &id, &len, NOWAIT), "quiet until resumed");
	ok(sm_console_resume(e.con, &err) == 0, "resume");
	while (g_wait_used(&e.g, Q_TX, &id, &len, WAIT))
		used++;
	ok(used == 1 && read_avail(e.out_r, buf, 5, WAIT) == 5 && memcmp(buf, "after", 5) == 0,
	   "output flows again");
	sm_state_buf_free(&sb);
	down(&e);
}

int main(void)
{
	test_probe_and_size();
	test_data();
	test_backpressure();
	test_eof_and_hangup();
	test_files();
	test_pty();
	test_malformed_reset_snapshot();
	return tap_done();
}
