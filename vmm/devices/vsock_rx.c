/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vsock packets to the guest: the rx queue (control packets, data read from host sockets straight
 * into the guest's buffers) and the event queue. Runs on the device's I/O thread only.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "common/util.h"
#include "vmm/devices/devutil.h"
#include "vmm/devices/vsock_internal.h"

void vsock_hdr_decode(const uint8_t *raw, struct vsock_hdr *h)
{
	uint64_t v64;
	uint32_t v32;
	uint16_t v16;

#define GET(field, off, var, conv)                                                                           \
	do {                                                                                                 \
		memcpy(&var, raw + (off), sizeof(var));                                                      \
		h->field = conv(var);                                                                        \
	} while (0)
	GET(src_cid, 0, v64, le64toh);
	GET(dst_cid, 8, v64, le64toh);
	GET(src_port, 16, v32, le32toh);
	GET(dst_port, 20, v32, le32toh);
	GET(len, 24, v32, le32toh);
	GET(type, 28, v16, le16toh);
	GET(op, 30, v16, le16toh);
	GET(flags, 32, v32, le32toh);
	GET(buf_alloc, 36, v32, le32toh);
	GET(fwd_cnt, 40, v32, le32toh);
#undef GET
}

void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t *raw)
{
	uint64_t v64;
	uint32_t v32;
	uint16_t v16;

#define PUT(field, off, var, conv)                                                                           \
	do {                                                                                                 \
		var = conv(h->field);                                                                        \
		memcpy(raw + (off), &var, sizeof(var));                                                      \
	} while (0)
	PUT(src_cid, 0, v64, htole64);
	PUT(dst_cid, 8, v64, htole64);
	PUT(src_port, 16, v32, htole32);
	PUT(dst_port, 20, v32, htole32);
	PUT(len, 24, v32, htole32);
	PUT(type, 28, v16, htole16);
	PUT(op, 30, v16, htole16);
	PUT(flags, 32, v32, htole32);
	PUT(buf_alloc, 36, v32, htole32);
	PUT(fwd_cnt, 40, v32, htole32);
#undef PUT
}

/* ---- resets owed for packets of unknown connections ---- */

bool vsock_rstq_full(const struct sm_vsock *vs)
{
	return vs->rstq_len == VSOCK_RSTQ_SIZE;
}

void vsock_rstq_push(struct sm_vsock *vs, const struct vsock_hdr *pkt)
{
	struct vsock_rst *r;

	/* The tx loop stops while the queue is full, so this only drops when the guest also
	 * floods us from elsewhere; a lost RST costs the guest a connect timeout, nothing more. */
	if (vsock_rstq_full(vs))
		return;
	r = &vs->rstq[(vs->rstq_head + vs->rstq_len) % VSOCK_RSTQ_SIZE];
	r->src_cid = pkt->dst_cid;
	r->src_port = pkt->dst_port;
	r->dst_port = pkt->src_port;
	vs->rstq_len++;
	VSOCK_STAT_ADD(vs, rst_queued, 1);
}

/* ---- producing one packet ---- */

static size_t put_hdr(const struct sm_virtq_chain *chain, const struct vsock_hdr *h)
{
	uint8_t raw[VSOCK_HDR_SIZE];

	vsock_hdr_encode(h, raw);
	return sm_virtq_chain_write(chain, 0, raw, sizeof(raw));
}

static size_t conn_hdr(struct sm_vsock *vs, struct vconn *c, const struct sm_virtq_chain *chain, uint16_t op,
		       uint32_t flags, uint32_t len)
{
	struct vsock_hdr h = {
	    .src_cid = VSOCK_HOST_CID,
	    .dst_cid = vs->cid,
	    .src_port = c->local_port,
	    .dst_port = c->peer_port,
	    .len = len,
	    .type = VSOCK_TYPE_STREAM,
	    .op = op,
	    .flags = flags,
	    .buf_alloc = vs->buf_alloc,
	    .fwd_cnt = c->fwd_cnt,
	};

	/* Every packet carries our credit, so it doubles as a CREDIT_UPDATE. */
	c->adv_fwd_cnt = c->fwd_cnt;
	c->pending &= ~P_CREDIT_UPDATE;
	return put_hdr(chain, &h) + len;
}

/*
 * Read host data for c straight into the chain's writable part after the header. Returns the
 * payload length, 0 when nothing was read (EOF and errors update c).
 */
static uint32_t read_into(struct sm_vsock *vs, struct vconn *c, const struct sm_virtq_chain *chain)
{
	size_t skip = VSOCK_HDR_SIZE, want;
	uint32_t max = vsock_peer_credit(c);
	unsigned int i, n = 0;
	ssize_t got;

	if (chain->wr_len - VSOCK_HDR_SIZE < max)
		max = (uint32_t)(chain->wr_len - VSOCK_HDR_SIZE);
	if (max > VSOCK_MAX_PKT)
		max = VSOCK_MAX_PKT;
	want = max;
	for (i = chain->nrd; i < chain->nrd + chain->nwr && want > 0 && n < VSOCK_QUEUE_SIZE; i++) {
		struct iovec v = chain->iov[i];

		if (skip >= v.iov_len) {
			skip -= v.iov_len;
			continue;
		}
		v.iov_base = (uint8_t *)v.iov_base + skip;
		v.iov_len -= skip;
		skip = 0;
		if (v.iov_len > want)
			v.iov_len = want;
		want -= v.iov_len;
		vs->iov[n++] = v;
	}
	if (n == 0)
		return 0;
	do
		got = readv(c->fd, vs->iov, (int)n);
	while (got < 0 && errno == EINTR);
	if (got > 0) {
		/* A short read most likely drained the socket: let epoll say when there is more
		 * (a hung-up socket is no longer watched: read it until EOF). */
		if ((size_t)got < max - want && !c->hup)
			c->readable = false;
		c->tx_cnt += (uint32_t)got;
		VSOCK_STAT_ADD(vs, bytes_to_guest, (uint64_t)got);
		return (uint32_t)got;
	}
	c->readable = false;
	if (got == 0) {
		c->host_eof = true;
		c->pending |= P_SHUTDOWN;
		c->shut_flags |= VSOCK_SHUTDOWN_SEND;
		vsock_conn_update(vs, c); /* may turn it into a full close */
	} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
		vsock_conn_reset(vs, c);
	}
	return 0;
}

/* The next packet c owes the guest, written into chain; 0 when it owes none after all. */
static size_t produce(struct sm_vsock *vs, struct vconn *c, const struct sm_virtq_chain *chain)
{
	uint32_t n;

	if (c->state == CS_DEAD)
		return 0;
	if (c->pending & P_RST) {
		size_t len = conn_hdr(vs, c, chain, VSOCK_OP_RST, 0, 0);

		VSOCK_STAT_ADD(vs, rst_sent, 1);
		vsock_conn_destroy(vs, c);
		return len;
	}
	if (c->pending & P_REQUEST) {
		if (vsock_reset_in_flight(vs))
			return 0; /* stays queued: sent once the guest has handled the reset */
		c->pending &= ~P_REQUEST;
		return conn_hdr(vs, c, chain, VSOCK_OP_REQUEST, 0, 0);
	}
	if (c->pending & P_RESPONSE) {
		c->pending &= ~P_RESPONSE;
		return conn_hdr(vs, c, chain, VSOCK_OP_RESPONSE, 0, 0);
	}
	if (vsock_conn_wants_data(vs, c)) {
		n = read_into(vs, c, chain);
		if (n > 0)
			return conn_hdr(vs, c, chain, VSOCK_OP_RW, 0, n);
		if (c->state == CS_DEAD || c->state == CS_RST_PENDING)
			return produce(vs, c, chain);
	}
	if (c->pending & P_SHUTDOWN) {
		c->pending &= ~P_SHUTDOWN;
		return conn_hdr(vs, c, chain, VSOCK_OP_SHUTDOWN, c->shut_flags, 0);
	}
	if (c->pending & P_CREDIT_UPDATE)
		return conn_hdr(vs, c, chain, VSOCK_OP_CREDIT_UPDATE, 0, 0);
	return 0;
}

static size_t fill(struct sm_vsock *vs, const struct sm_virtq_chain *chain)
{
	unsigned int limit = vs->nconns + 1;
	struct vconn *c;

	if (vs->rstq_len > 0) {
		const struct vsock_rst *r = &vs->rstq[vs->rstq_head];
		struct vsock_hdr h = {
		    .src_cid = r->src_cid,
		    .dst_cid = vs->cid,
		    .src_port = r->src_port,
		    .dst_port = r->dst_port,
		    .type = VSOCK_TYPE_STREAM,
		    .op = VSOCK_OP_RST,
		};

		vs->rstq_head = (vs->rstq_head + 1) % VSOCK_RSTQ_SIZE;
		vs->rstq_len--;
		VSOCK_STAT_ADD(vs, rst_sent, 1);
		return put_hdr(chain, &h);
	}
	/* Round robin: a connection with more to say goes to the back of the queue. */
	while (limit-- > 0 && (c = vs->rq_head) != NULL) {
		size_t n;

		vsock_rq_remove(vs, c);
		n = produce(vs, c, chain);
		vsock_conn_update(vs, c);
		if (n > 0)
			return n;
	}
	return 0;
}

/* Fill rx buffers while there is something to send. Returns true when it stopped on its budget. */
bool vsock_process_rx(struct sm_vsock *vs)
{
	struct sm_virtq *vq = sm_virtio_queue(vs->vdev, VSOCK_Q_RX);
	sm_error_t err = SM_ERROR_INIT;
	int budget;

	for (budget = 0; budget < VSOCK_RX_BUDGET; budget++) {
		size_t n;
		int r;

		if (vs->rstq_len == 0 && vs->rq_head == NULL)
			return false;
		r = sm_virtq_pop(vq, &vs->rxc, &err);
		if (r == 0)
			return false; /* the driver kicks when it adds buffers */
		if (r == -EIO) {
			vs->broken = true;
			sm_virtio_needs_reset(vs->vdev, "%s", err.msg);
			return false;
		}
		if (r < 0 || vs->rxc.wr_len < VSOCK_HDR_SIZE || vs->rxc.nrd != 0) {
			VSOCK_STAT_ADD(vs, bad_packets, 1);
			sm_virtio_complete(vs->vdev, VSOCK_Q_RX, vs->rxc.head, 0, &err);
			sm_error_clear(&err);
			continue;
		}
		n = fill(vs, &vs->rxc);
		if (n == 0) {
			sm_dev_unpop(vq);
			return false;
		}
		sm_virtio_complete(vs->vdev, VSOCK_Q_RX, vs->rxc.head, (uint32_t)n, &err);
	}
	return true;
}

void vsock_process_event(struct sm_vsock *vs)
{
	struct sm_virtq *vq = sm_virtio_queue(vs->vdev, VSOCK_Q_EVENT);
	sm_error_t err = SM_ERROR_INIT;
	unsigned int tries;

	for (tries = 0; tries < VSOCK_QUEUE_SIZE; tries++) {
		uint32_t ev = htole32(VSOCK_EVENT_TRANSPORT_RESET);
		int r;

		if (!__atomic_load_n(&vs->transport_reset_owed, __ATOMIC_ACQUIRE))
			return;
		r = sm_virtq_pop(vq, &vs->evc, &err);
		if (r == 0)
			return;
		if (r == -EIO) {
			vs->broken = true;
			sm_virtio_needs_reset(vs->vdev, "%s", err.msg);
			return;
		}
		if (r < 0 || vs->evc.wr_len < sizeof(ev)) {
			VSOCK_STAT_ADD(vs, bad_packets, 1);
			sm_virtio_complete(vs->vdev, VSOCK_Q_EVENT, vs->evc.head, 0, &err);
			sm_error_clear(&err);
			continue;
		}
		__atomic_store_n(&vs->transport_reset_owed, 0, __ATOMIC_RELEASE);
		/* Cleared before the guest can see the event: only a kick after it counts. */
		__atomic_store_n(&vs->event_kicked, 0, __ATOMIC_RELEASE);
		/* Linux refills the buffer after handling the event: make that add notify us. */
		sm_virtq_want_next_notify(vq);
		vs->reset_unacked = true;
		vs->reset_ack_deadline_ns = sm_now_ns() + vs->connect_timeout_ns;
		sm_virtq_chain_write(&vs->evc, 0, &ev, sizeof(ev));
		sm_virtio_complete(vs->vdev, VSOCK_Q_EVENT, vs->evc.head, sizeof(ev), &err);
		VSOCK_STAT_ADD(vs, events_sent, 1);
	}
}
