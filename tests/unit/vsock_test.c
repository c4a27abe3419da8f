/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-vsock device tests. The test is the guest driver (tests/unit/vsock_guest.h: real MMIO
 * entry points, rings in a fake guest RAM) and the host programs (real Unix sockets in a
 * temporary directory); the device runs its real I/O thread in between.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/tap.h"
#include "tests/unit/vsock_guest.h"
#include "vmm/devices/vsock.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/state.h"

#define CID 42
#define Q_RX 0
#define Q_TX 1
#define Q_EV 2
#define RXBUF (4096 + 44)
#define BUF_ALLOC 16384 /* the device's per-connection buffer in these tests */
#define WAIT 2000	/* ms to wait for something that must happen */
#define NOWAIT 250	/* ms to wait for something that must not happen */

enum { OP_REQUEST = 1, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE, OP_CREDIT_REQUEST };

/* The wire header, written independently of the device's codec. */
struct __attribute__((packed)) whdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};
_Static_assert(sizeof(struct whdr) == 44, "virtio_vsock_hdr is 44 bytes");

/* Features the guest accepts in env_up (the suite runs with and without EVENT_IDX). */
static uint64_t accept_features = SM_VIRTIO_BIT(SM_VIRTIO_F_VERSION_1) | 1;

struct env {
	struct guest g;
	struct sm_vsock *vs;
	char dir[64];
	char path[108];
};

/* A packet as the guest sees it (host order). */
struct pkt {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
	uint8_t data[RXBUF];
};

static void post_rx(struct env *e, unsigned int n)
{
	struct gseg s = {NULL, RXBUF, true};

	while (n-- > 0 && g_add(&e->g, Q_RX, &s, 1) >= 0)
		;
	g_kick(&e->g, Q_RX);
}

static void post_events(struct env *e, unsigned int n)
{
	struct gseg s = {NULL, 8, true};

	while (n-- > 0)
		g_add(&e->g, Q_EV, &s, 1);
	g_kick(&e->g, Q_EV);
}

static void env_up_cfg(struct env *e, const struct sm_vsock_config *over)
{
	struct sm_vsock_config cfg = {0};
	struct sm_virtio_mmio_config mcfg;
	sm_error_t err = SM_ERROR_INIT;

	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/sm-vsock-test.XXXXXX");
	if (mkdtemp(e->dir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		exit(1);
	}
	snprintf(e->path, sizeof(e->path), "%s/v.sock", e->dir);
	if (over != NULL)
		cfg = *over;
	cfg.uds_path = e->path;
	if (cfg.guest_cid == 0)
		cfg.guest_cid = CID;
	if (cfg.buf_alloc == 0)
		cfg.buf_alloc = BUF_ALLOC;
	if (cfg.max_conns == 0)
		cfg.max_conns = 8;
	if (cfg.connect_timeout_ms == 0)
		cfg.connect_timeout_ms = 400;
	if (cfg.close_timeout_ms == 0)
		cfg.close_timeout_ms = 400;
	g_init(&e->g, 3, &mcfg);
	if (sm_vsock_new(&cfg, &mcfg, &e->vs, &err) < 0) {
		printf("Bail out! %s\n", err.msg);
		exit(1);
	}
	e->g.dev = sm_vsock_virtio(e->vs);
}

static void env_up(struct env *e)
{
	env_up_cfg(e, NULL);
	g_start(&e->g, accept_features);
	post_rx(e, 8);
	post_events(e, 2);
}

static void env_down(struct env *e)
{
	char cmd[160];

	sm_vsock_free(e->vs);
	g_free(&e->g);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", e->dir);
}

static struct sm_vsock_stats stats(struct env *e)
{
	struct sm_vsock_stats s;

	sm_vsock_get_stats(e->vs, &s);
	return s;
}

/* ---- guest side ---- */

static struct whdr wire(uint32_t sport, uint32_t dport, uint16_t op, uint32_t len)
{
	struct whdr h = {
	    .src_cid = htole64(CID),
	    .dst_cid = htole64(2),
	    .src_port = htole32(sport),
	    .dst_port = htole32(dport),
	    .len = htole32(len),
	    .type = htole16(1),
	    .op = htole16(op),
	    .buf_alloc = htole32(65536),
	};
	return h;
}

/* Put one packet on tx as header + payload descriptors (Linux's layout) and wait until used. */
static bool send_raw(struct env *e, const void *hdr, uint32_t hlen, const void *data, uint32_t len)
{
	struct gseg s[2] = {{hdr, hlen, false}, {data, len, false}};
	uint16_t id;
	uint32_t ulen;

	if (g_add(&e->g, Q_TX, s, len > 0 ? 2 : 1) < 0)
		return false;
	g_kick(&e->g, Q_TX);
	return g_wait_used(&e->g, Q_TX, &id, &ulen, WAIT);
}

static bool send_pkt(struct env *e, struct whdr h, const void *data, uint32_t len)
{
	return send_raw(e, &h, sizeof(h), data, len);
}

/* Credit fields as the guest sends them. */
static struct whdr with_credit(struct whdr h, uint32_t buf_alloc, uint32_t fwd_cnt)
{
	h.buf_alloc = htole32(buf_alloc);
	h.fwd_cnt = htole32(fwd_cnt);
	return h;
}

/* Wait for the next rx packet (then give the buffer back). */
static bool recv_pkt(struct env *e, struct pkt *p, unsigned int timeout_ms)
{
	struct whdr h;
	uint16_t id;
	uint32_t len;
	uint8_t *b;

	if (!g_wait_used(&e->g, Q_RX, &id, &len, timeout_ms))
		return false;
	b = g_buf(&e->g, Q_RX, id);
	memset(p, 0, sizeof(*p));
	if (len >= sizeof(h)) {
		memcpy(&h, b, sizeof(h));
		p->src_cid = le64toh(h.src_cid);
		p->dst_cid = le64toh(h.dst_cid);
		p->src_port = le32toh(h.src_port);
		p->dst_port = le32toh(h.dst_port);
		p->len = le32toh(h.len);
		p->type = le16toh(h.type);
		p->op = le16toh(h.op);
		p->flags = le32toh(h.flags);
		p->buf_alloc = le32toh(h.buf_alloc);
		p->fwd_cnt = le32toh(h.fwd_cnt);
		if (p->len <= len - sizeof(h))
			memcpy(p->data, b + sizeof(h), p->len);
		else
			p->op = 0xffff; /* used length does not cover the payload */
	}
	post_rx(e, 1);
	return true;
}

/* ---- host side ---- */

static int uds_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {2, 0};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static int uds_listen(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0)
		abort();
	return fd;
}

static int accept_timeout(int lfd)
{
	struct pollfd p = {lfd, POLLIN, 0};
	struct timeval tv = {2, 0};
	int fd;

	if (poll(&p, 1, WAIT) != 1)
		return -1;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Read exactly n bytes (or until EOF/timeout); returns the count. */
static size_t read_n(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);

		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

static bool wait_eof(int fd, unsigned int timeout_ms)
{
	struct pollfd p = {fd, POLLIN, 0};
	char c;

	ssize_t r;

	if (poll(&p, 1, (int)timeout_ms) != 1)
		return false;
	/* Closed with bytes we sent still unread on the other side shows as a reset. */
	r = recv(fd, &c, 1, MSG_DONTWAIT);
	return r == 0 || (r < 0 && errno == ECONNRESET);
}

static bool readable_within(int fd, unsigned int timeout_ms)
{
	struct pollfd p = {fd, POLLIN, 0};

	return poll(&p, 1, (int)timeout_ms) == 1;
}

static int read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	while (n + 1 < cap) {
		ssize_t r = read(fd, buf + n, 1);

		if (r <= 0)
			return -1;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	return (int)n;
}

static bool write_str(int fd, const char *s)
{
	return write(fd, s, strlen(s)) == (ssize_t)strlen(s);
}

/* ---- a host-initiated connection up to "OK" ---- */

struct conn {
	int fd;		/* host client */
	uint32_t hport; /* device's port */
	uint32_t gport; /* guest's port */
};

static bool host_connect(struct env *e, uint32_t gport, uint32_t guest_buf, struct conn *c)
{
	char line[64], want[64];
	struct pkt p;

	c->gport = gport;
	c->fd = uds_connect(e->path);
	snprintf(line, sizeof(line), "CONNECT %u\n", gport);
	if (c->fd < 0 || !write_str(c->fd, line) || !recv_pkt(e, &p, WAIT) || p.op != OP_REQUEST)
		return false;
	c->hport = p.src_port;
	if (!send_pkt(e, with_credit(wire(gport, c->hport, OP_RESPONSE, 0), guest_buf, 0), NULL, 0) ||
	    read_line(c->fd, line, sizeof(line)) < 0)
		return false;
	snprintf(want, sizeof(want), "OK %u\n", c->hport);
	return strcmp(line, want) == 0;
}

/* ---- tests ---- */

static void test_probe(void)
{
	struct env e;
	uint32_t lo, hi;
	uint64_t f;
	struct stat st;

	env_up_cfg(&e, NULL);
	ok(g_rd(&e.g, SM_VMMIO_DEVICE_ID) == 19, "device id 19 (vsock)");
	f = g_features(&e.g);
	ok((f & 1) && (f & SM_VIRTIO_BIT(SM_VIRTIO_F_VERSION_1)),
	   "offers VIRTIO_VSOCK_F_STREAM and VERSION_1");
	ok(!(f & 2), "does not offer SEQPACKET");
	lo = g_rd(&e.g, SM_VMMIO_CONFIG);
	hi = g_rd(&e.g, SM_VMMIO_CONFIG + 4);
	ok(lo == CID && hi == 0, "config guest_cid = %u (le64, read as two 32-bit halves)", lo);
	{
		uint64_t v = 0;

		sm_virtio_mmio_read(e.g.dev, SM_VMMIO_CONFIG, &v, 8);
		ok(le64toh(v) == CID, "config guest_cid read as 64 bits");
	}
	ok(stat(e.path, &st) == 0 && S_ISSOCK(st.st_mode), "listening socket created at uds_path");
	ok((g_start(&e.g, ~0ull) & SM_VIRTIO_S_DRIVER_OK) != 0, "driver reaches DRIVER_OK");
	sm_vsock_free(e.vs);
	e.vs = NULL;
	ok(stat(e.path, &st) < 0, "socket path removed at free");
	env_down(&e);
}

static void test_bad_config(void)
{
	struct sm_vsock_config cfg = {.uds_path = "/tmp/x.sock", .guest_cid = 2};
	struct sm_virtio_mmio_config mcfg;
	struct guest g;
	struct sm_vsock *vs = NULL;
	sm_error_t err = SM_ERROR_INIT;
	char path[200];
	int fd;

	g_init(&g, 3, &mcfg);
	ok(sm_vsock_new(&cfg, &mcfg, &vs, &err) < 0 && strstr(err.msg, "CID") != NULL, "CID 2 refused: %s",
	   err.msg);
	cfg.guest_cid = 0xffffffffull;
	ok(sm_vsock_new(&cfg, &mcfg, &vs, &err) < 0, "CID 0xffffffff (VMADDR_CID_ANY) refused");
	cfg.guest_cid = 3;
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	cfg.uds_path = path;
	ok(sm_vsock_new(&cfg, &mcfg, &vs, &err) < 0 && strstr(err.msg, "too long") != NULL,
	   "over-long socket path refused");
	snprintf(path, sizeof(path), "/tmp/sm-vsock-notsock.%d", (int)getpid());
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	close(fd);
	cfg.uds_path = path;
	ok(sm_vsock_new(&cfg, &mcfg, &vs, &err) < 0 && err.code == EEXIST,
	   "a regular file at uds_path is kept");
	unlink(path);
	g_free(&g);
}

static void test_host_to_guest(void)
{
	struct env e;
	struct conn c;
	struct pkt p;
	char buf[64];
	bool got;

	env_up(&e);
	c.fd = uds_connect(e.path);
	ok(c.fd >= 0 && write_str(c.fd, "CONNECT 1024\n"), "host client connects and sends CONNECT 1024");
	got = recv_pkt(&e, &p, WAIT);
	ok(got && p.op == OP_REQUEST && p.type == 1 && p.dst_port == 1024 && p.src_cid == 2 &&
	       p.dst_cid == CID && p.len == 0,
	   "REQUEST to guest port 1024 from CID 2 (op %u, port %u)", p.op, p.dst_port);
	ok(p.src_port >= 0x40000000u && p.buf_alloc == BUF_ALLOC && p.fwd_cnt == 0,
	   "host port %u in the host range; buf_alloc %u advertised", p.src_port, p.buf_alloc);
	c.hport = p.src_port;
	c.gport = 1024;
	ok(!readable_within(c.fd, NOWAIT), "nothing written to the client before the guest answers");
	send_pkt(&e, with_credit(wire(1024, c.hport, OP_RESPONSE, 0), 65536, 0), NULL, 0);
	snprintf(buf, sizeof(buf), "OK %u\n", c.hport);
	{
		char line[64];

		ok(read_line(c.fd, line, sizeof(line)) > 0 && strcmp(line, buf) == 0,
		   "client reads \"OK %u\"", c.hport);
	}
	ok(write_str(c.fd, "hello"), "client writes hello");
	got = recv_pkt(&e, &p, WAIT);
	ok(got && p.op == OP_RW && p.len == 5 && memcmp(p.data, "hello", 5) == 0 && p.dst_port == 1024 &&
	       p.src_port == c.hport,
	   "guest receives RW \"hello\"");
	ok(send_pkt(&e, with_credit(wire(1024, c.hport, OP_RW, 5), 65536, 5), "world", 5),
	   "guest sends RW \"world\"");
	ok(read_n(c.fd, buf, 5) == 5 && memcmp(buf, "world", 5) == 0, "client reads \"world\"");
	send_pkt(&e, with_credit(wire(1024, c.hport, OP_CREDIT_REQUEST, 0), 65536, 5), NULL, 0);
	got = recv_pkt(&e, &p, WAIT);
	ok(got && p.op == OP_CREDIT_UPDATE && p.fwd_cnt == 5 && p.buf_alloc == BUF_ALLOC,
	   "CREDIT_REQUEST answered by CREDIT_UPDATE with fwd_cnt 5");
	ok(stats(&e).host_connects == 1 && stats(&e).conns == 1, "one host connection counted");
	tap_diag("guest notifications: %u sent, %u suppressed by EVENT_IDX", e.g.kicks, e.g.kicks_suppressed);
	close(c.fd);
	env_down(&e);
}

static void test_early_data_and_bad_connect(void)
{
	struct env e;
	struct pkt p;
	uint32_t hport;
	char line[64];
	int fd;

	env_up(&e);
	/* Bytes after the CONNECT line belong to the stream, not to the handshake. */
	fd = uds_connect(e.path);
	write_str(fd, "CONNECT 7\nearly");
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_REQUEST && p.dst_port == 7, "REQUEST for CONNECT 7");
	hport = p.src_port;
	send_pkt(&e, wire(7, hport, OP_RESPONSE, 0), NULL, 0);
	ok(read_line(fd, line, sizeof(line)) > 0 && strncmp(line, "OK ", 3) == 0, "OK line");
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_RW && p.len == 5 && memcmp(p.data, "early", 5) == 0,
	   "data sent right behind the CONNECT line reaches the guest");
	close(fd);
	recv_pkt(&e, &p, WAIT); /* the SHUTDOWN for that close */
	send_pkt(&e, wire(7, hport, OP_RST, 0), NULL, 0);

	fd = uds_connect(e.path);
	write_str(fd, "CONNECT abc\n");
	ok(wait_eof(fd, WAIT), "\"CONNECT abc\" closes the client");
	close(fd);
	fd = uds_connect(e.path);
	write_str(fd, "HELLO 5\n");
	ok(wait_eof(fd, WAIT), "an unknown command closes the client");
	close(fd);
	fd = uds_connect(e.path);
	write_str(fd, "CONNECT 99999999999\n");
	ok(wait_eof(fd, WAIT), "a port above 2^32 closes the client");
	close(fd);
	fd = uds_connect(e.path);
	write_str(fd, "CONNECT 1111111111111111111111111111111111111111111");
	ok(wait_eof(fd, WAIT), "an over-long line without newline closes the client");
	close(fd);
	fd = uds_connect(e.path);
	write_str(fd, "CONN");
	ok(wait_eof(fd, 2000), "a client that never finishes the line is closed after the timeout");
	close(fd);
	ok(!recv_pkt(&e, &p, NOWAIT), "none of those reached the guest");
	ok(G_WAIT(stats(&e).conns == 0, WAIT), "no connection left");
	env_down(&e);
}

static void test_guest_refuses(void)
{
	struct env e;
	struct pkt p;
	int fd;

	env_up(&e);
	fd = uds_connect(e.path);
	write_str(fd, "CONNECT 2000\n");
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_REQUEST, "REQUEST to port 2000");
	send_pkt(&e, wire(2000, p.src_port, OP_RST, 0), NULL, 0);
	ok(wait_eof(fd, WAIT), "guest RST (nothing listening) closes the client without an answer");
	close(fd);

	/* No answer at all: the connect times out, and the guest learns with a RST. */
	fd = uds_connect(e.path);
	write_str(fd, "CONNECT 2001\n");
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_REQUEST, "REQUEST to port 2001");
	ok(wait_eof(fd, 3000), "unanswered REQUEST: client closed after connect_timeout");
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_RST && p.dst_port == 2001, "and the guest gets a RST");
	close(fd);
	ok(stats(&e).refused >= 2 && stats(&e).conns == 0, "refused connects counted, none left");
	env_down(&e);
}

/* Guest credit: the device never sends more than the guest said it can take. */
static void test_guest_credit(void)
{
	struct env e;
	struct conn c;
	struct pkt p;
	char data[30];

	env_up(&e);
	ok(host_connect(&e, 1024, 0, &c), "connection with guest buf_alloc 0");
	memset(data, 'x', sizeof(data));
	write(c.fd, data, sizeof(data));
	ok(!recv_pkt(&e, &p, NOWAIT), "no RW while the guest's credit is 0");
	send_pkt(&e, with_credit(wire(1024, c.hport, OP_CREDIT_UPDATE, 0), 10, 0), NULL, 0);
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_RW && p.len == 10,
	   "CREDIT_UPDATE (buf_alloc 10): RW of 10 bytes");
	ok(!recv_pkt(&e, &p, NOWAIT), "then nothing: 10 bytes in flight, credit used up");
	send_pkt(&e, with_credit(wire(1024, c.hport, OP_CREDIT_UPDATE, 0), 10, 10), NULL, 0);
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_RW && p.len == 10, "fwd_cnt 10: next 10 bytes");
	send_pkt(&e, with_credit(wire(1024, c.hport, OP_CREDIT_UPDATE, 0), 100, 20), NULL, 0);
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_RW && p.len == 10, "the last 10 bytes");
	/* A guest reporting more consumed than sent gets no credit, not a wrapped-around huge one. */
	send_pkt(&e, with_credit(wire(1024, c.hport, OP_CREDIT_UPDATE, 0), 100, 5000), NULL, 0);
	write(c.fd, data, 5);
	ok(!recv_pkt(&e, &p, NOWAIT), "bogus fwd_cnt ahead of what was sent: no credit");
	send_pkt(&e, with_credit(wire(1024, c.hport, OP_CREDIT_UPDATE, 0), 100, 30), NULL, 0);
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_RW && p.len == 5, "sane credit again: data flows");
	close(c.fd);
	env_down(&e);
}

/* Our credit: guest data is buffered up to buf_alloc, CREDIT_UPDATEs follow consumption. */
static void test_device_credit(void)
{
	static char big[4096], sink[65536];
	struct env e;
	struct conn c;
	struct pkt p;
	uint32_t sent = 0, peer_fwd = 0, peer_buf = BUF_ALLOC;
	int i, stalls = 0;
	bool update = false;

	env_up(&e);
	ok(host_connect(&e, 1024, 65536, &c), "connection (client does not read for now)");
	memset(big, 'y', sizeof(big));
	/* A well-behaved guest: send only within the credit, ask when it runs out. */
	for (i = 0; i < 400 && stalls < 3; i++) {
		if (peer_buf - (sent - peer_fwd) >= sizeof(big)) {
			send_pkt(&e, with_credit(wire(1024, c.hport, OP_RW, sizeof(big)), 65536, 0), big,
				 sizeof(big));
			sent += sizeof(big);
			continue;
		}
		send_pkt(&e, with_credit(wire(1024, c.hport, OP_CREDIT_REQUEST, 0), 65536, 0), NULL, 0);
		while (recv_pkt(&e, &p, WAIT))
			if (p.op == OP_CREDIT_UPDATE) {
				peer_fwd = p.fwd_cnt;
				peer_buf = p.buf_alloc;
				break;
			}
		if (peer_buf - (sent - peer_fwd) < sizeof(big))
			stalls++;
	}
	ok(stalls == 3 && sent - peer_fwd <= BUF_ALLOC,
	   "socket full: the guest's credit runs out (%u bytes sent, %u not yet forwarded)", sent,
	   sent - peer_fwd);
	ok(stats(&e).credit_overrun == 0, "no overrun by a guest that respects the credit");
	/* The host reads everything: the device forwards its buffer and tells the guest. */
	{
		size_t got = 0;

		while (got < sent) {
			ssize_t r = read(c.fd, sink, sizeof(sink));

			if (r <= 0)
				break;
			got += (size_t)r;
		}
		ok(got == sent, "client reads all %zu bytes", got);
	}
	while (recv_pkt(&e, &p, WAIT))
		if (p.op == OP_CREDIT_UPDATE && BUF_ALLOC - (sent - p.fwd_cnt) >= BUF_ALLOC / 2) {
			update = true;
			break;
		}
	ok(update, "unsolicited CREDIT_UPDATE gives the guest its credit back (fwd_cnt %u of %u)", p.fwd_cnt,
	   sent);

	/* A misbehaving guest: keeps sending although the client does not read. */
	for (i = 0; i < 400 && stats(&e).credit_overrun == 0; i++)
		send_pkt(&e, with_credit(wire(1024, c.hport, OP_RW, sizeof(big)), 65536, 0), big,
			 sizeof(big));
	ok(stats(&e).credit_overrun == 1, "sending beyond buf_alloc is detected (after %d packets)", i);
	update = false;
	while (recv_pkt(&e, &p, WAIT))
		if (p.op == OP_RST) {
			update = true;
			break;
		}
	ok(update, "the connection is reset");
	ok(G_WAIT(stats(&e).conns == 0, WAIT), "and gone");
	close(c.fd);
	env_down(&e);
}

static void test_unknown_and_malformed(void)
{
	struct env e;
	struct conn c;
	struct pkt p;
	struct whdr h;
	uint8_t shorthdr[20];
	uint16_t id;
	uint32_t len;
	uint64_t bad;

	env_up(&e);
	send_pkt(&e, wire(3000, 4000, OP_RW, 3), "abc", 3);
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_RST && p.src_port == 4000 && p.dst_port == 3000 &&
	       p.src_cid == 2 && p.dst_cid == CID,
	   "RW for an unknown connection: RST with the ports swapped");
	send_pkt(&e, wire(3000, 4000, OP_RST, 0), NULL, 0);
	ok(!recv_pkt(&e, &p, NOWAIT), "RST for an unknown connection: no answer");
	send_pkt(&e, wire(3000, 4000, OP_SHUTDOWN, 0), NULL, 0);
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_RST, "SHUTDOWN for an unknown connection: RST");

	bad = stats(&e).bad_packets;
	memset(shorthdr, 0, sizeof(shorthdr));
	ok(send_raw(&e, shorthdr, sizeof(shorthdr), NULL, 0) && !recv_pkt(&e, &p, NOWAIT),
	   "a 20-byte packet is consumed and ignored");
	ok(stats(&e).bad_packets == bad + 1, "and counted as malformed");
	h = wire(3000, 4000, OP_RW, 100);
	ok(send_raw(&e, &h, sizeof(h), "abc", 3) && !recv_pkt(&e, &p, NOWAIT) &&
	       stats(&e).bad_packets == bad + 2,
	   "len 100 with 3 payload bytes: dropped");
	h = wire(3000, 4000, OP_RW, 0x7fffffff);
	ok(send_raw(&e, &h, sizeof(h), NULL, 0) && stats(&e).bad_packets == bad + 3, "len 2^31: dropped");
	h = wire(3000, 4000, OP_REQUEST, 0);
	h.type = htole16(2);
	ok(send_pkt(&e, h, NULL, 0) && recv_pkt(&e, &p, WAIT) && p.op == OP_RST, "SEQPACKET REQUEST: RST");
	h = wire(3000, 4000, 99, 0);
	ok(send_pkt(&e, h, NULL, 0) && recv_pkt(&e, &p, WAIT) && p.op == OP_RST,
	   "unknown op 99, no connection: RST");
	h = wire(3000, 4000, OP_REQUEST, 0);
	h.src_cid = htole64(77);
	ok(send_pkt(&e, h, NULL, 0) && !recv_pkt(&e, &p, NOWAIT),
	   "forged source CID: dropped without answer");
	h = wire(3000, 4000, OP_REQUEST, 0);
	h.dst_cid = htole64(5);
	ok(send_pkt(&e, h, NULL, 0) && recv_pkt(&e, &p, WAIT) && p.op == OP_RST && p.src_cid == 5,
	   "connect to another CID: RST from that CID");

	/* A descriptor chain that is itself broken (buffer outside guest RAM). */
	{
		struct gq *q = &e.g.q[Q_TX];
		struct sm_vring_desc d = {htole64(0x7fff0000000ull), htole32(64), 0, 0};
		int head = g_add(&e.g, Q_TX, (struct gseg[]){{"x", 1, false}}, 1);

		memcpy(g_ptr(&e.g, q->desc + 16ull * (uint16_t)head), &d, sizeof(d));
		g_kick(&e.g, Q_TX);
		ok(g_wait_used(&e.g, Q_TX, &id, &len, WAIT) && id == head,
		   "chain outside guest RAM: consumed");
	}

	/* Malformed packets on a live connection. */
	ok(host_connect(&e, 1024, 65536, &c), "a live connection");
	h = wire(1024, c.hport, 99, 0);
	ok(send_pkt(&e, h, NULL, 0) && !recv_pkt(&e, &p, NOWAIT) && stats(&e).conns == 1,
	   "unknown op on a live connection: dropped, connection kept");
	h = wire(1024, c.hport, OP_RW, 10);
	ok(send_raw(&e, &h, sizeof(h), "abc", 3) && recv_pkt(&e, &p, WAIT) && p.op == OP_RST,
	   "truncated RW on a live connection: the stream has a hole, RST");
	ok(wait_eof(c.fd, WAIT), "and the client is closed");
	close(c.fd);

	ok(!(g_rd(&e.g, SM_VMMIO_STATUS) & SM_VIRTIO_S_NEEDS_RESET), "device still healthy");
	env_down(&e);
}

static void test_bad_rx_buffer(void)
{
	struct gseg s = {"ro", 2, false};
	struct env e;
	struct pkt p;
	uint16_t id;
	uint32_t len;

	env_up_cfg(&e, NULL);
	g_start(&e.g, accept_features);
	g_add(&e.g, Q_RX, &s, 1);
	s = (struct gseg){NULL, 20, true};
	g_add(&e.g, Q_RX, &s, 1);
	g_kick(&e.g, Q_RX);
	send_pkt(&e, wire(3001, 4001, OP_RW, 0), NULL, 0); /* owes a RST */
	ok(g_wait_used(&e.g, Q_RX, &id, &len, WAIT) && len == 0, "a read-only rx buffer is returned unused");
	ok(g_wait_used(&e.g, Q_RX, &id, &len, WAIT) && len == 0, "a 20-byte rx buffer is returned unused");
	ok(stats(&e).bad_packets == 2, "both counted");
	post_rx(&e, 1);
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_RST, "the RST waits for a usable buffer");
	ok(!(g_rd(&e.g, SM_VMMIO_STATUS) & SM_VIRTIO_S_NEEDS_RESET), "device still healthy");
	env_down(&e);
}

static void test_guest_to_host(void)
{
	struct env e;
	struct pkt p;
	char path[160], buf[16];
	int lfd, fd;

	env_up(&e);
	snprintf(path, sizeof(path), "%s_5000", e.path);
	lfd = uds_listen(path);
	send_pkt(&e, wire(3000, 5000, OP_REQUEST, 0), NULL, 0);
	fd = accept_timeout(lfd);
	ok(fd >= 0, "guest connect to port 5000 reaches the listener at <uds_path>_5000");
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_RESPONSE && p.src_port == 5000 && p.dst_port == 3000,
	   "guest gets RESPONSE");
	send_pkt(&e, wire(3000, 5000, OP_RW, 4), "ping", 4);
	ok(read_n(fd, buf, 4) == 4 && memcmp(buf, "ping", 4) == 0, "guest -> host data");
	write_str(fd, "pong");
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_RW && p.len == 4 && memcmp(p.data, "pong", 4) == 0,
	   "host -> guest data");
	send_pkt(&e, wire(3000, 5000, OP_REQUEST, 0), NULL, 0);
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_RST, "a second REQUEST on live ports resets the connection");
	ok(wait_eof(fd, WAIT), "host end closed");
	close(fd);
	send_pkt(&e, wire(3001, 5001, OP_REQUEST, 0), NULL, 0);
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_RST && p.src_port == 5001, "no socket for port 5001: RST");
	ok(stats(&e).guest_connects == 1, "one guest connect counted");
	close(lfd);
	env_down(&e);
}

static void test_shutdown(void)
{
	struct env e;
	struct conn c;
	struct pkt p;
	char buf[16];

	env_up(&e);
	/* Host closes: data first, then SHUTDOWN(RCV|SEND); the guest confirms with RST. */
	ok(host_connect(&e, 1024, 65536, &c), "connection 1");
	write_str(c.fd, "bye");
	close(c.fd);
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_RW && p.len == 3, "last data before the close");
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_SHUTDOWN && p.flags == 3, "host close: SHUTDOWN RCV|SEND");
	send_pkt(&e, wire(1024, c.hport, OP_RST, 0), NULL, 0);
	ok(G_WAIT(stats(&e).conns == 0, WAIT), "guest RST ends it");

	/* Host half-close: SHUTDOWN(SEND); the guest may still send; the guest's close gets RST. */
	ok(host_connect(&e, 1025, 65536, &c), "connection 2");
	shutdown(c.fd, SHUT_WR);
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_SHUTDOWN && p.flags == 2, "host SHUT_WR: SHUTDOWN SEND");
	send_pkt(&e, wire(1025, c.hport, OP_RW, 5), "still", 5);
	ok(read_n(c.fd, buf, 5) == 5 && memcmp(buf, "still", 5) == 0, "guest data still reaches the client");
	send_pkt(&e, wire(1025, c.hport, OP_SHUTDOWN, 0), NULL, 0); /* flags 0: no-op */
	{
		struct whdr h = wire(1025, c.hport, OP_SHUTDOWN, 0);

		h.flags = htole32(3);
		send_pkt(&e, h, NULL, 0);
	}
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_RST, "guest SHUTDOWN RCV|SEND answered by RST");
	ok(wait_eof(c.fd, WAIT), "client sees EOF");
	close(c.fd);

	/* Guest SHUT_WR: the client reads EOF but can still send. */
	ok(host_connect(&e, 1026, 65536, &c), "connection 3");
	send_pkt(&e, wire(1026, c.hport, OP_RW, 2), "hi", 2);
	{
		struct whdr h = wire(1026, c.hport, OP_SHUTDOWN, 0);

		h.flags = htole32(2);
		send_pkt(&e, h, NULL, 0);
	}
	ok(read_n(c.fd, buf, 2) == 2 && wait_eof(c.fd, WAIT), "client reads the data, then EOF");
	write_str(c.fd, "back");
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_RW && p.len == 4, "client can still send to the guest");
	send_pkt(&e, wire(1026, c.hport, OP_RST, 0), NULL, 0);
	ok(G_WAIT(stats(&e).conns == 0, WAIT), "guest RST closes it");
	close(c.fd);

	/* Guest RST on an established connection closes the client at once. */
	ok(host_connect(&e, 1027, 65536, &c), "connection 4");
	send_pkt(&e, wire(1027, c.hport, OP_RST, 0), NULL, 0);
	ok(wait_eof(c.fd, WAIT), "guest RST: client sees EOF");
	close(c.fd);

	/* The guest never confirms our SHUTDOWN: RST after close_timeout. */
	ok(host_connect(&e, 1028, 65536, &c), "connection 5");
	close(c.fd);
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_SHUTDOWN, "SHUTDOWN for the host close");
	ok(recv_pkt(&e, &p, 3000) && p.op == OP_RST, "no answer: RST after close_timeout");
	ok(G_WAIT(stats(&e).conns == 0, WAIT), "gone");

	/* The guest closes both ways. */
	ok(host_connect(&e, 1029, 65536, &c), "connection 6");
	{
		struct whdr h = wire(1029, c.hport, OP_SHUTDOWN, 0);

		h.flags = htole32(3);
		send_pkt(&e, h, NULL, 0);
	}
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_RST, "guest full shutdown, nothing buffered: RST at once");
	close(c.fd);
	ok(G_WAIT(stats(&e).conns == 0, WAIT), "no connection left");
	env_down(&e);
}

/* A guest that floods RST-worthy packets without reading its rx queue cannot grow our memory. */
static void test_flood(void)
{
	struct sm_vsock_config cfg = {.max_conns = 4};
	struct env e;
	struct pkt p;
	char path[160];
	int lfd, i, consumed = 0, rsts = 0;
	struct gseg s;
	uint16_t id;
	uint32_t len;

	env_up_cfg(&e, &cfg);
	g_start(&e.g, accept_features);
	/* no rx buffers */
	for (i = 0; i < 200; i++) {
		struct whdr h = wire(10000 + (uint32_t)i, 4000, OP_RW, 0);

		s = (struct gseg){&h, sizeof(h), false};
		if (g_add(&e.g, Q_TX, &s, 1) < 0)
			break;
		g_kick(&e.g, Q_TX);
		if (!g_wait_used(&e.g, Q_TX, &id, &len, 1000))
			break;
		consumed++;
	}
	ok(consumed >= 60 && consumed <= 70, "without rx buffers the device stops taking tx after %d packets",
	   consumed);
	post_rx(&e, 16);
	while (recv_pkt(&e, &p, NOWAIT))
		rsts += p.op == OP_RST;
	ok(rsts > consumed, "rx buffers arrive: the owed RSTs go out and tx resumes (%d RSTs)", rsts);

	snprintf(path, sizeof(path), "%s_6000", e.path);
	lfd = uds_listen(path);
	for (i = 0; i < 10; i++)
		send_pkt(&e, wire(20000 + (uint32_t)i, 6000, OP_REQUEST, 0), NULL, 0);
	rsts = 0;
	while (recv_pkt(&e, &p, NOWAIT))
		rsts += p.op == OP_RST;
	ok(stats(&e).conns == 4 && rsts == 6, "max_conns 4: 4 connections, 6 refused with RST (%d)", rsts);
	close(lfd);
	env_down(&e);
}

/* A TRANSPORT_RESET arrives; with ack, handle it as Linux does: hand a buffer back and kick. */
static bool wait_event_ack(struct env *e, bool ack)
{
	uint16_t id;
	uint32_t len, ev;

	if (!g_wait_used(&e->g, Q_EV, &id, &len, WAIT) || len != 4)
		return false;
	memcpy(&ev, g_buf(&e->g, Q_EV, id), 4);
	if (ack)
		post_events(e, 1);
	return le32toh(ev) == 0;
}

static bool wait_event(struct env *e)
{
	return wait_event_ack(e, true);
}

static void test_reset_and_snapshot(void)
{
	struct env e, e2;
	struct sm_state_buf sb;
	struct sm_state_reader r;
	sm_error_t err = SM_ERROR_INIT;
	struct conn c;
	struct pkt p;
	struct sm_vsock_config cfg = {0};
	struct sm_virtio_mmio_config mcfg;

	env_up(&e);
	sm_vsock_transport_reset(e.vs);
	ok(wait_event_ack(&e, false), "sm_vsock_transport_reset: TRANSPORT_RESET (id 0) on the event queue");
	c.fd = uds_connect(e.path);
	write_str(c.fd, "CONNECT 1024\n");
	ok(!recv_pkt(&e, &p, NOWAIT), "a host connect waits until the guest has handled the reset");
	post_events(&e, 1);
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_REQUEST && p.dst_port == 1024,
	   "it goes through once the guest hands the event buffer back");
	close(c.fd);
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_RST, "client gone before the answer: RST");
	ok(stats(&e).events_acked == 1, "the reset counts as handled");

	ok(host_connect(&e, 1024, 65536, &c), "a live connection");
	g_wr(&e.g, SM_VMMIO_STATUS, 0);
	ok(wait_eof(c.fd, WAIT) && stats(&e).conns == 0, "device reset closes host connections");
	close(c.fd);
	g_start(&e.g, accept_features);
	post_rx(&e, 8);
	post_events(&e, 2);
	ok(host_connect(&e, 1024, 65536, &c), "works again after re-initialisation");

	sm_state_buf_init(&sb);
	ok(sm_virtio_mmio_save(e.g.dev, &sb, &err) == 0, "save with a live connection");
	ok(wait_eof(c.fd, WAIT) && stats(&e).conns == 0, "the connection is dropped");
	close(c.fd);
	c.fd = uds_connect(e.path);
	write_str(c.fd, "CONNECT 1\n");
	ok(!recv_pkt(&e, &p, NOWAIT), "after save the device is quiet until resumed");
	ok(sm_vsock_resume(e.vs, &err) == 0, "resume");
	ok(wait_event(&e), "the guest is told: TRANSPORT_RESET");
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_REQUEST && p.dst_port == 1,
	   "the waiting client goes through");
	close(c.fd);
	ok(recv_pkt(&e, &p, WAIT) && p.op == OP_RST, "client gone before the answer: RST");
	/* A second snapshot, this one restored below; e stays quiet from now on. */
	sm_state_buf_free(&sb);
	sm_state_buf_init(&sb);
	ok(sm_virtio_mmio_save(e.g.dev, &sb, &err) == 0, "second save");

	/* Restore into a new device (new process: same memory, new path and CID). */
	env_up_cfg(&e2, &(struct sm_vsock_config){.guest_cid = 77});
	sm_vsock_free(e2.vs);
	free(e2.g.ram);
	e2.g = e.g; /* same guest RAM and ring positions */
	mcfg = (struct sm_virtio_mmio_config){G_BASE, G_IRQ, &e2.g.mem, g_set_irq, &e2.g};
	cfg.uds_path = e2.path;
	cfg.guest_cid = 77;
	ok(sm_vsock_new(&cfg, &mcfg, &e2.vs, &err) == 0, "new device for the restore");
	e2.g.dev = sm_vsock_virtio(e2.vs);
	sm_state_reader_init(&r, sb.data, sb.len);
	ok(sm_virtio_mmio_restore(e2.g.dev, &r, &err) == 0, "restore into the new device");
	ok(g_rd(&e2.g, SM_VMMIO_CONFIG) == 77, "the restored device reports this process's CID");
	{
		uint16_t id;
		uint32_t len, ev;
		bool got = false;

		/* e's event buffers: one was used for the first save's event, the second is left. */
		if (g_wait_used(&e2.g, Q_EV, &id, &len, WAIT)) {
			memcpy(&ev, g_buf(&e2.g, Q_EV, id), 4);
			got = len == 4 && ev == 0;
			post_events(&e2, 1);
		}
		ok(got, "restored guest gets TRANSPORT_RESET");
	}
	c.fd = uds_connect(e2.path);
	write_str(c.fd, "CONNECT 9\n");
	ok(recv_pkt(&e2, &p, WAIT) && p.op == OP_REQUEST && p.dst_cid == 77, "restored device listens again");
	close(c.fd);
	sm_state_reader_init(&r, sb.data, sb.len - 3);
	ok(sm_virtio_mmio_restore(e2.g.dev, &r, &err) < 0, "a truncated state is refused: %s", err.msg);
	sm_state_buf_free(&sb);
	sm_vsock_free(e2.vs);
	e2.vs = NULL;
	{
		char cmd[160];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", e2.dir);
		if (system(cmd) != 0)
			tap_diag("could not remove %s", e2.dir);
	}
	env_down(&e);
}

int main(void)
{
	test_probe();
	test_bad_config();
	test_host_to_guest();
	test_early_data_and_bad_connect();
	test_guest_refuses();
	test_guest_credit();
	test_device_credit();
	test_unknown_and_malformed();
	test_bad_rx_buffer();
	test_guest_to_host();
	test_shutdown();
	test_flood();
	test_reset_and_snapshot();

	tap_diag("again with VIRTIO_F_EVENT_IDX and INDIRECT_DESC negotiated");
	accept_features |= SM_VIRTIO_BIT(SM_VIRTIO_F_EVENT_IDX) | SM_VIRTIO_BIT(SM_VIRTIO_F_INDIRECT_DESC);
	test_host_to_guest();
	test_guest_credit();
	test_device_credit();
	test_shutdown();
	test_flood();
	test_reset_and_snapshot();
	return tap_done();
}
