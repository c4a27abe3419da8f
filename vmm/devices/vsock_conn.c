/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vsock connections: the table keyed by (local port, peer port), packets from the guest (tx
 * queue), the host Unix sockets (handshake, relaying guest data to them, their events), and the
 * life cycle of a connection. Runs on the device's I/O thread only. See docs/design/vsock.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "vmm/devices/vsock_internal.h"

/* ---- table and lists ---- */

static unsigned int hash_of(const struct sm_vsock *vs, uint32_t local, uint32_t peer)
{
	uint32_t h = local * 0x9e3779b1u ^ peer * 0x85ebca6bu;

	return (h ^ (h >> 15)) & (vs->hash_size - 1);
}

static struct vconn *lookup(struct sm_vsock *vs, uint32_t local, uint32_t peer)
{
	struct vconn *c;

	for (c = vs->hash[hash_of(vs, local, peer)]; c != NULL; c = c->hnext)
		if (c->local_port == local && c->peer_port == peer)
			return c;
	return NULL;
}

static void hash_insert(struct sm_vsock *vs, struct vconn *c)
{
	unsigned int b = hash_of(vs, c->local_port, c->peer_port);

	c->hnext = vs->hash[b];
	vs->hash[b] = c;
	c->hashed = true;
}

static void hash_remove(struct sm_vsock *vs, struct vconn *c)
{
	struct vconn **pp;

	if (!c->hashed)
		return;
	for (pp = &vs->hash[hash_of(vs, c->local_port, c->peer_port)]; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	c->hashed = false;
}

static void rq_add(struct sm_vsock *vs, struct vconn *c)
{
	if (c->in_rq)
		return;
	c->rq_next = NULL;
	c->rq_prev = vs->rq_tail;
	if (vs->rq_tail != NULL)
		vs->rq_tail->rq_next = c;
	else
		vs->rq_head = c;
	vs->rq_tail = c;
	c->in_rq = true;
}

void vsock_rq_remove(struct sm_vsock *vs, struct vconn *c)
{
	if (!c->in_rq)
		return;
	if (c->rq_prev != NULL)
		c->rq_prev->rq_next = c->rq_next;
	else
		vs->rq_head = c->rq_next;
	if (c->rq_next != NULL)
		c->rq_next->rq_prev = c->rq_prev;
	else
		vs->rq_tail = c->rq_prev;
	c->rq_prev = c->rq_next = NULL;
	c->in_rq = false;
}

static void set_deadline(struct sm_vsock *vs, struct vconn *c, uint64_t timeout_ns)
{
	if (c->deadline_ns == 0)
		vs->ndeadlines++;
	c->deadline_ns = sm_now_ns() + timeout_ns;
}

static void clear_deadline(struct sm_vsock *vs, struct vconn *c)
{
	if (c->deadline_ns != 0)
		vs->ndeadlines--;
	c->deadline_ns = 0;
}

static struct vconn *conn_new(struct sm_vsock *vs, int fd, enum conn_state state)
{
	struct vconn *c = sm_xcalloc(1, sizeof(*c));

	c->watch = W_CONN;
	c->state = state;
	c->fd = fd;
	c->ep_events = ~0u;
	c->next = vs->conns;
	if (vs->conns != NULL)
		vs->conns->prev = c;
	vs->conns = c;
	vs->nconns++;
	VSOCK_STAT_ADD(vs, conns, 1);
	VSOCK_STAT_ADD(vs, conns_total, 1);
	return c;
}

/* Set the epoll interest of c's socket (registering it the first time). */
static void watch(struct sm_vsock *vs, struct vconn *c, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};
	int op = c->ep_events == ~0u ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;

	if (c->fd < 0 || c->ep_events == events)
		return;
	/* Cannot fail for a valid socket and a valid epoll fd; on ENOMEM the connection stalls
	 * until its timers or the guest end it. */
	if (epoll_ctl(vs->epfd, op, c->fd, &ev) == 0)
		c->ep_events = events;
}

/* Close the host socket (which also drops it from the epoll set). */
static void close_fd(struct vconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->ep_events = ~0u;
}

void vsock_conn_destroy(struct sm_vsock *vs, struct vconn *c)
{
	if (c->state == CS_DEAD)
		return;
	close_fd(c);
	hash_remove(vs, c);
	vsock_rq_remove(vs, c);
	clear_deadline(vs, c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		vs->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c->buf);
	c->buf = NULL;
	c->state = CS_DEAD;
	/* epoll may still hand out c from the batch being processed: free it after the batch. */
	c->next = vs->graveyard;
	vs->graveyard = c;
	vs->nconns--;
	VSOCK_STAT_ADD(vs, conns, (uint64_t)-1);
}

void vsock_conn_reset(struct sm_vsock *vs, struct vconn *c)
{
	/* A connection the guest has not heard of yet needs no RST. */
	if (c->state == CS_DEAD || c->state == CS_RST_PENDING)
		return;
	if (c->state == CS_HANDSHAKE || (c->state == CS_CONNECTING && (c->pending & P_REQUEST))) {
		vsock_conn_destroy(vs, c);
		return;
	}
	close_fd(c);
	free(c->buf);
	c->buf = NULL;
	c->used = 0;
	clear_deadline(vs, c);
	/* It stays in the table until the RST is out, so a new REQUEST on the same ports cannot
	 * be confused with it. */
	c->state = CS_RST_PENDING;
	c->pending = P_RST;
	rq_add(vs, c);
}

void vsock_drop_all(struct sm_vsock *vs)
{
	while (vs->conns != NULL)
		vsock_conn_destroy(vs, vs->conns);
	vs->rstq_head = vs->rstq_len = 0;
	vsock_reap(vs);
}

void vsock_reap(struct sm_vsock *vs)
{
	while (vs->graveyard != NULL) {
		struct vconn *c = vs->graveyard;

		vs->graveyard = c->next;
		free(c);
	}
}

/* ---- credit and interest ---- */

uint32_t vsock_peer_credit(const struct vconn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	/* A guest reporting more consumed than sent, or a shrunk buffer, gets nothing. */
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

bool vsock_conn_wants_data(const struct sm_vsock *vs, const struct vconn *c)
{
	(void)vs;
	return c->state == CS_ESTABLISHED && c->readable && !c->host_eof && !c->peer_no_rcv &&
	       vsock_peer_credit(c) > 0;
}

/* Called after we freed buffer space: owe a CREDIT_UPDATE when the guest's view got tight. */
static void credit_check(struct sm_vsock *vs, struct vconn *c)
{
	uint32_t unadvertised = c->fwd_cnt - c->adv_fwd_cnt;
	uint64_t guest_free = (uint64_t)vs->buf_alloc - c->used - unadvertised;

	if (unadvertised > 0 && guest_free < vs->buf_alloc / 2)
		c->pending |= P_CREDIT_UPDATE;
}

static uint32_t ring_tail(const struct sm_vsock *vs, const struct vconn *c)
{
	return (c->head + c->used) % vs->buf_alloc;
}

/* Write the "OK" line and buffered guest data to the socket until it would block. */
static void conn_flush(struct sm_vsock *vs, struct vconn *c)
{
	int rounds;

	for (rounds = 0; rounds < 4 && c->fd >= 0; rounds++) {
		struct iovec iov[3];
		struct msghdr msg = {.msg_iov = iov};
		uint32_t first = 0, line = c->line_len - c->line_off, ring;
		ssize_t n;

		if (line > 0)
			iov[msg.msg_iovlen++] = (struct iovec){c->line + c->line_off, line};
		if (c->used > 0) {
			first = c->used < vs->buf_alloc - c->head ? c->used : vs->buf_alloc - c->head;
			iov[msg.msg_iovlen++] = (struct iovec){c->buf + c->head, first};
			if (c->used > first)
				iov[msg.msg_iovlen++] = (struct iovec){c->buf, c->used - first};
		}
		if (msg.msg_iovlen == 0)
			break;
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			/* The host end is gone (EPIPE, ECONNRESET): the guest's data cannot go anywhere. */
			vsock_conn_reset(vs, c);
			return;
		}
		if ((uint32_t)n <= line) {
			c->line_off += (uint32_t)n;
			continue;
		}
		c->line_off = c->line_len;
		ring = (uint32_t)n - line;
		c->head = (c->head + ring) % vs->buf_alloc;
		c->used -= ring;
		c->fwd_cnt += ring;
		VSOCK_STAT_ADD(vs, bytes_to_host, ring);
	}
	credit_check(vs, c);
}

/* epoll interest and rx-queue membership after any change of c. */
static void conn_interest(struct sm_vsock *vs, struct vconn *c)
{
	uint32_t ev = 0;

	if (c->fd >= 0) {
		if (c->state == CS_HANDSHAKE)
			ev = EPOLLIN;
		if (c->state == CS_ESTABLISHED) {
			if (!c->readable && !c->host_eof && !c->peer_no_rcv && vsock_peer_credit(c) > 0)
				ev |= EPOLLIN;
			if (c->used > 0 || c->line_off < c->line_len)
				ev |= EPOLLOUT;
		}
		if (c->hup) {
			/* A hung-up socket reports EPOLLHUP whatever the mask: stop watching it. */
			if (c->ep_events != ~0u)
				epoll_ctl(vs->epfd, EPOLL_CTL_DEL, c->fd, NULL);
			c->ep_events = ~0u;
		} else {
			watch(vs, c, ev);
		}
	}
	if (c->pending != 0 || vsock_conn_wants_data(vs, c))
		rq_add(vs, c);
}

void vsock_conn_update(struct sm_vsock *vs, struct vconn *c)
{
	if (c->state == CS_DEAD)
		return;
	if (c->state == CS_ESTABLISHED) {
		/* The guest sends no more and all it sent is out: pass the EOF on. */
		if (c->peer_no_send && c->used == 0 && !c->shut_wr && c->fd >= 0 && !c->hup) {
			shutdown(c->fd, SHUT_WR);
			c->shut_wr = true;
		}
		/* The guest closed both directions and its data is delivered: confirm with RST. */
		if (c->peer_no_send && c->peer_no_rcv && c->used == 0) {
			vsock_conn_reset(vs, c);
			return;
		}
		if (c->peer_no_send && c->peer_no_rcv && c->deadline_ns == 0)
			set_deadline(vs, c, vs->close_timeout_ns);
		/* The host closed both directions: nothing more will be read. */
		if (c->hup && c->peer_no_rcv)
			c->host_eof = true;
		if (c->hup && c->host_eof) {
			c->state = CS_CLOSING;
			c->pending |= P_SHUTDOWN;
			c->shut_flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
			c->used = 0; /* undeliverable */
			set_deadline(vs, c, vs->close_timeout_ns);
		}
	}
	conn_interest(vs, c);
}

/* ---- host sockets ---- */

/* Parse "CONNECT <port>\n" (a trailing "\r" is tolerated). */
static int parse_connect(const char *line, uint32_t len, uint32_t *port)
{
	static const char verb[] = "CONNECT ";
	uint64_t v = 0;
	uint32_t i = sizeof(verb) - 1;

	if (len < i + 2 || memcmp(line, verb, i) != 0 || line[len - 1] != '\n')
		return -1;
	len--;
	if (line[len - 1] == '\r')
		len--;
	if (i == len)
		return -1;
	for (; i < len; i++) {
		if (line[i] < '0' || line[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(line[i] - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	*port = (uint32_t)v;
	return 0;
}

static int alloc_host_port(struct sm_vsock *vs, uint32_t peer, uint32_t *out)
{
	unsigned int tries;

	for (tries = 0; tries <= vs->max_conns; tries++) {
		uint32_t p = vs->next_host_port;

		vs->next_host_port = p == UINT32_MAX - 1 ? VSOCK_HOST_PORT_BASE : p + 1;
		if (lookup(vs, p, peer) == NULL) {
			*out = p;
			return 0;
		}
	}
	return -1;
}

/* Read the CONNECT line without consuming a byte past it (those are payload for the guest). */
static void read_connect(struct sm_vsock *vs, struct vconn *c)
{
	char peek[VSOCK_LINE_MAX];
	uint32_t room = VSOCK_LINE_MAX - c->line_len, take, port;
	const char *nl;
	ssize_t n;

	n = recv(c->fd, peek, room, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0)
		goto refuse; /* closed before asking */
	nl = memchr(peek, '\n', (size_t)n);
	take = nl != NULL ? (uint32_t)(nl - peek) + 1 : (uint32_t)n;
	if (recv(c->fd, c->line + c->line_len, take, MSG_DONTWAIT) != (ssize_t)take)
		goto refuse;
	c->line_len += take;
	if (nl == NULL) {
		if (c->line_len >= VSOCK_LINE_MAX)
			goto refuse;
		return;
	}
	if (parse_connect(c->line, c->line_len, &port) < 0 || alloc_host_port(vs, port, &c->local_port) < 0)
		goto refuse;
	c->line_len = c->line_off = 0;
	c->peer_port = port;
	c->host_initiated = true;
	c->state = CS_CONNECTING;
	c->pending = P_REQUEST;
	hash_insert(vs, c);
	set_deadline(vs, c, vs->connect_timeout_ns);
	conn_interest(vs, c);
	return;
refuse:
	VSOCK_STAT_ADD(vs, refused, 1);
	vsock_conn_destroy(vs, c);
}

void vsock_accept(struct sm_vsock *vs)
{
	int i;

	for (i = 0; i < 16; i++) {
		struct vconn *c;
		int fd = accept4(vs->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			/* Out of fds (or memory) leaves the client in the backlog and the listener
			 * readable: pause it for a while instead of spinning on it. */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				struct epoll_event ev = {.events = 0, .data.ptr = &vs->listen_watch};

				epoll_ctl(vs->epfd, EPOLL_CTL_MOD, vs->listen_fd, &ev);
				vs->listen_resume_ns = sm_now_ns() + 100 * 1000000ull;
			}
			return;
		}
		if (vs->nconns >= vs->max_conns) {
			VSOCK_STAT_ADD(vs, refused, 1);
			close(fd);
			continue;
		}
		c = conn_new(vs, fd, CS_HANDSHAKE);
		set_deadline(vs, c, vs->connect_timeout_ns);
		conn_interest(vs, c);
	}
}

void vsock_conn_event(struct sm_vsock *vs, struct vconn *c, uint32_t events)
{
	if (c->fd < 0 || c->state == CS_DEAD || c->state == CS_RST_PENDING)
		return;
	if (c->state == CS_HANDSHAKE) {
		read_connect(vs, c);
		return;
	}
	if ((events & EPOLLERR) || (c->state == CS_CONNECTING && (events & EPOLLHUP))) {
		vsock_conn_reset(vs, c);
		return;
	}
	if (events & EPOLLIN)
		c->readable = true;
	if (events & EPOLLHUP) {
		/* What the host wrote before closing can still be read. */
		c->hup = true;
		c->readable = true;
	}
	if (events & EPOLLOUT || (c->hup && c->used > 0))
		conn_flush(vs, c);
	vsock_conn_update(vs, c);
}

uint64_t vsock_timers(struct sm_vsock *vs, uint64_t now, bool *fired)
{
	struct vconn *c, *next;
	uint64_t earliest = 0;

	if (vs->listen_resume_ns != 0 && vs->listen_resume_ns <= now) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &vs->listen_watch};

		epoll_ctl(vs->epfd, EPOLL_CTL_MOD, vs->listen_fd, &ev);
		vs->listen_resume_ns = 0;
	}
	earliest = vs->listen_resume_ns;
	if (vs->ndeadlines == 0)
		return earliest;
	for (c = vs->conns; c != NULL; c = next) {
		next = c->next;
		if (c->deadline_ns == 0)
			continue;
		if (c->deadline_ns > now) {
			if (earliest == 0 || c->deadline_ns < earliest)
				earliest = c->deadline_ns;
			continue;
		}
		if (c->state == CS_HANDSHAKE || c->state == CS_CONNECTING)
			VSOCK_STAT_ADD(vs, refused, 1);
		vsock_conn_reset(vs, c);
		*fired = true;
	}
	return earliest;
}

/* ---- packets from the guest ---- */

/* A guest connect to the host: forward it to "<uds_path>_<port>". */
static void guest_connect(struct sm_vsock *vs, const struct vsock_hdr *h)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct vconn *c;
	int fd, n;

	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", vs->uds_path, h->dst_port);
	if (vs->nconns >= vs->max_conns || n < 0 || (size_t)n >= sizeof(sa.sun_path))
		goto refuse;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto refuse;
	/* A Unix stream connect completes at once, or fails (EAGAIN: backlog full). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		goto refuse;
	}
	c = conn_new(vs, fd, CS_ESTABLISHED);
	c->local_port = h->dst_port;
	c->peer_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->pending = P_RESPONSE;
	hash_insert(vs, c);
	VSOCK_STAT_ADD(vs, guest_connects, 1);
	vsock_conn_update(vs, c);
	return;
refuse:
	VSOCK_STAT_ADD(vs, refused, 1);
	vsock_rstq_push(vs, h);
}

/* Guest data for c: buffer it (within the credit we gave) and push it to the socket. */
static void guest_rw(struct sm_vsock *vs, struct vconn *c, const struct sm_virtq_chain *chain, uint32_t len)
{
	uint32_t tail, first;

	if (c->state == CS_CLOSING)
		return; /* we said we are gone; in-flight data is dropped */
	if (c->state != CS_ESTABLISHED || c->peer_no_send) {
		vsock_conn_reset(vs, c);
		return;
	}
	if (len == 0)
		return;
	if (len > vs->buf_alloc - c->used) {
		VSOCK_STAT_ADD(vs, credit_overrun, 1);
		vsock_conn_reset(vs, c);
		return;
	}
	if (c->buf == NULL)
		c->buf = sm_xmalloc(vs->buf_alloc);
	tail = ring_tail(vs, c);
	first = len < vs->buf_alloc - tail ? len : vs->buf_alloc - tail;
	sm_virtq_chain_read(chain, VSOCK_HDR_SIZE, c->buf + tail, first);
	sm_virtq_chain_read(chain, VSOCK_HDR_SIZE + first, c->buf, len - first);
	c->used += len;
	conn_flush(vs, c);
}

static void guest_response(struct sm_vsock *vs, struct vconn *c)
{
	if (c->state != CS_CONNECTING || (c->pending & P_REQUEST)) {
		vsock_conn_reset(vs, c);
		return;
	}
	c->state = CS_ESTABLISHED;
	clear_deadline(vs, c);
	c->line_len = (uint32_t)snprintf(c->line, sizeof(c->line), "OK %u\n", c->local_port);
	c->line_off = 0;
	VSOCK_STAT_ADD(vs, host_connects, 1);
	conn_flush(vs, c);
}

static void guest_shutdown(struct sm_vsock *vs, struct vconn *c, uint32_t flags)
{
	if (c->state == CS_CONNECTING) {
		vsock_conn_reset(vs, c);
		return;
	}
	if (c->state == CS_CLOSING) {
		/* Both ends are closing: confirm. */
		if ((flags & (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)) ==
		    (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND))
			vsock_conn_reset(vs, c);
		return;
	}
	if (flags & VSOCK_SHUTDOWN_RCV)
		c->peer_no_rcv = true;
	if (flags & VSOCK_SHUTDOWN_SEND)
		c->peer_no_send = true;
}

/* One packet for a connection we know. */
static void conn_packet(struct sm_vsock *vs, struct vconn *c, const struct vsock_hdr *h,
			const struct sm_virtq_chain *chain)
{
	if (c->state == CS_RST_PENDING)
		return; /* our RST is on its way */
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case VSOCK_OP_REQUEST: /* the guest reuses live ports */
		vsock_conn_reset(vs, c);
		break;
	case VSOCK_OP_RESPONSE:
		guest_response(vs, c);
		break;
	case VSOCK_OP_RST:
		if (c->state == CS_CONNECTING)
			VSOCK_STAT_ADD(vs, refused, 1); /* nothing listens on that guest port */
		vsock_conn_destroy(vs, c);
		return;
	case VSOCK_OP_SHUTDOWN:
		guest_shutdown(vs, c, h->flags);
		break;
	case VSOCK_OP_RW:
		guest_rw(vs, c, chain, h->len);
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		break; /* the credit fields were the point */
	case VSOCK_OP_CREDIT_REQUEST:
		c->pending |= P_CREDIT_UPDATE;
		break;
	default:
		VSOCK_STAT_ADD(vs, bad_packets, 1);
		break;
	}
	vsock_conn_update(vs, c);
}

void vsock_handle_tx(struct sm_vsock *vs, const struct sm_virtq_chain *chain)
{
	uint8_t raw[VSOCK_HDR_SIZE];
	struct vsock_hdr h;
	struct vconn *c;

	/* Copy the header out once: the guest may rewrite its buffer while we look. */
	if (sm_virtq_chain_read(chain, 0, raw, sizeof(raw)) < sizeof(raw)) {
		VSOCK_STAT_ADD(vs, bad_packets, 1);
		return;
	}
	vsock_hdr_decode(raw, &h);
	if (h.src_cid != vs->cid) {
		/* Never answer a forged source. */
		VSOCK_STAT_ADD(vs, bad_packets, 1);
		return;
	}
	c = h.dst_cid == VSOCK_HOST_CID && h.type == VSOCK_TYPE_STREAM ? lookup(vs, h.dst_port, h.src_port)
								       : NULL;
	if (h.len > VSOCK_MAX_PKT || h.len > chain->rd_len - VSOCK_HDR_SIZE) {
		/* The stream has a hole now: end the connection it belongs to. */
		VSOCK_STAT_ADD(vs, bad_packets, 1);
		if (c != NULL)
			vsock_conn_reset(vs, c);
		return;
	}
	if (c != NULL) {
		conn_packet(vs, c, &h, chain);
		return;
	}
	if (h.op == VSOCK_OP_RST)
		return;
	if (h.op == VSOCK_OP_REQUEST && h.dst_cid == VSOCK_HOST_CID && h.type == VSOCK_TYPE_STREAM)
		guest_connect(vs, &h);
	else
		vsock_rstq_push(vs, &h);
}
