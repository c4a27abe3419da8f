/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host side of the agent protocol (agent-client.h). One epoll set holds the connection, the
 * attached stdio fds and an eventfd "kick"; fds epoll refuses (regular files, /dev/null) are
 * serviced on every step and keep the kick raised while they have work, so the client's fd
 * stays readable for an outer poll as long as there is something to do.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/proto-tags.h"
#include "common/util.h"
#include "runtime/agent-client.h"

#define IN_CAP (SM_PROTO_HDR_SIZE + SM_PROTO_MAX_PAYLOAD + 64 * 1024)
#define CHUNK (64u * 1024)
/* Far above what one container runs at once (init + execs), low enough that a walk stays cheap. */
#define AGENT_CLIENT_MAX_STREAMS 1024u
/* Stop reading frames while this much is queued for the agent (it is not reading). */
#define OUT_HIGH (4u << 20)

enum reply_state { REPLY_NONE, REPLY_PENDING, REPLY_OK, REPLY_ERROR };
enum watch_kind { W_CONN, W_KICK, W_IN, W_OUT, W_ERR };

struct watch {
	enum watch_kind kind;
	struct cstream *s;
	int fd;
	bool polled;	 /* epoll takes it (false: a regular file, serviced on every step) */
	uint32_t events; /* registered interest; 0 = not in the set (a hang-up would still fire) */
};

struct outq {
	struct sm_buf buf;
	size_t off;
};

struct cstream {
	struct cstream *next;
	uint32_t id;
	struct watch in, out, err;
	int saved_fl[3];
	uint32_t in_credit; /* STDIN bytes the agent accepts now */
	bool in_done;	    /* EOF (or no fd): STDIN_CLOSE sent */
	struct outq q[2];   /* STDOUT, STDERR bytes not yet written to out_fd / err_fd */
	uint32_t consumed;  /* written out, not yet credited to the agent */
	enum reply_state reply;
	uint32_t pid;
	int err_code;
	char *err_msg;
	uint32_t *ps;
	size_t n_ps;
	struct sm_buf ps_raw; /* the last PS_REPLY's payload */
	bool exited, exit_reported;
	int status;
};

struct sm_agent_client {
	int conn, ep, kick;
	struct watch wconn, wkick;
	struct sm_buf out;
	size_t out_off;
	uint8_t *in;
	size_t in_len;
	uint8_t *chunk;
	bool hello_sent, hello_ok, ready, broken;
	uint32_t features;  /* SM_AGENT_FEATURE_* from the agent's HELLO */
	uint64_t oom_kills; /* the largest OOM total the agent reported */
	sm_error_t failure;
	struct cstream *streams;
	size_t n_streams; /* bounds what a guest can make the host track (EXIT of unknown ids) */
	sm_agent_exit_fn exit_fn;
	void *exit_opaque;
};

static uint64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? UINT64_MAX : sm_now_ns() + (uint64_t)timeout_ms * 1000000u;
}

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = sm_now_ns();

	if (deadline == UINT64_MAX)
		return -1;
	return now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
}

int sm_agent_connect_hybrid(const char *path, uint32_t port, int timeout_ms, sm_error_t *err)
{
	uint64_t deadline = deadline_of(timeout_ms);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char line[64];

	if (strlen(path) >= sizeof(sa.sun_path))
		return sm_error_set(err, ENAMETOOLONG, "vsock socket %s", path);
	strcpy(sa.sun_path, path);
	for (;;) {
		cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		size_t n = 0;
		int len = snprintf(line, sizeof(line), "CONNECT %u\n", port), e;

		if (fd < 0)
			return sm_error_set(err, errno, "socket");
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		    sm_write_all(fd, line, (size_t)len) == 0) {
			/* Byte by byte: what follows the line is already the guest's stream. */
			while (n < sizeof(line) - 1) {
				struct pollfd pfd = {.fd = fd, .events = POLLIN};
				int ms = remaining_ms(deadline);
				if (poll(&pfd, 1, ms < 0 || ms > 1000 ? 1000 : ms) <= 0 ||
				    read(fd, line + n, 1) != 1)
					break;
				if (line[n++] == '\n')
					break;
			}
			line[n] = '\0';
			if (n > 3 && strncmp(line, "OK ", 3) == 0 && line[n - 1] == '\n')
				return steal_fd(&fd);
			e = n > 0 ? EPROTO : ECONNREFUSED;
		} else {
			e = errno;
		}
		if (n > 0 && strncmp(line, "OK ", 3) != 0)
			return sm_error_set(err, EPROTO, "vsock %s port %u: unexpected answer \"%.*s\"", path,
					    port, (int)strcspn(line, "\n"), line);
		if (remaining_ms(deadline) == 0)
			return sm_error_set(err, e, "connect to the guest agent (%s, port %u)", path, port);
		usleep(20000);
	}
}

static void watch_init(struct watch *w, enum watch_kind kind, struct cstream *s, int fd)
{
	*w = (struct watch){.kind = kind, .s = s, .fd = fd, .polled = false, .events = 0};
}

/* Find out whether epoll takes fd (it refuses regular files with EPERM); nothing stays registered. */
static int watch_add(struct sm_agent_client *c, struct watch *w, sm_error_t *err)
{
	struct epoll_event ev = {.events = 0, .data.ptr = w};

	if (w->fd < 0)
		return 0;
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, w->fd, &ev) == 0) {
		epoll_ctl(c->ep, EPOLL_CTL_DEL, w->fd, NULL);
		w->polled = true;
		return 0;
	}
	if (errno == EPERM)
		return 0;
	return sm_error_set(err, errno, "epoll_ctl add fd %d", w->fd);
}

/*
 * Set the interest in fd. No interest means out of the set: epoll reports a hang-up even for an
 * empty interest, which would spin the loop (a stdin at EOF, an output whose reader is gone).
 */
static void watch_set(struct sm_agent_client *c, struct watch *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};
	int op = events == 0 ? EPOLL_CTL_DEL : w->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;

	if (w->fd < 0 || !w->polled || w->events == events)
		return;
	if (epoll_ctl(c->ep, op, w->fd, events == 0 ? NULL : &ev) == 0)
		w->events = events;
}

static void watch_close(struct sm_agent_client *c, struct watch *w)
{
	watch_set(c, w, 0);
	w->polled = false;
	w->fd = -1;
}

int sm_agent_client_new(int conn_fd, struct sm_agent_client **out, sm_error_t *err)
{
	struct sm_agent_client *c = sm_xcalloc(1, sizeof(*c));
	int fl = fcntl(conn_fd, F_GETFL);

	c->conn = conn_fd;
	c->ep = epoll_create1(EPOLL_CLOEXEC);
	c->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c->in = sm_xmalloc(IN_CAP);
	c->chunk = sm_xmalloc(CHUNK);
	if (fl < 0 || fcntl(conn_fd, F_SETFL, fl | O_NONBLOCK) < 0 || c->ep < 0 || c->kick < 0) {
		sm_error_set(err, errno, "agent client");
		sm_agent_client_free(c);
		return -1;
	}
	watch_init(&c->wconn, W_CONN, NULL, conn_fd);
	watch_init(&c->wkick, W_KICK, NULL, c->kick);
	if (watch_add(c, &c->wconn, err) < 0 || watch_add(c, &c->wkick, err) < 0) {
		sm_agent_client_free(c);
		return -1;
	}
	watch_set(c, &c->wkick, EPOLLIN);
	*out = c;
	return 0;
}

static void stream_free(struct sm_agent_client *c, struct cstream *s)
{
	struct watch *ws[3] = {&s->in, &s->out, &s->err};

	for (int i = 0; i < 3; i++) {
		int fd = ws[i]->fd;

		if (fd >= 0 && s->saved_fl[i] >= 0)
			fcntl(fd, F_SETFL, s->saved_fl[i]);
		watch_close(c, ws[i]);
		if (fd >= 0)
			close(fd);
	}
	sm_buf_free(&s->q[0].buf);
	sm_buf_free(&s->q[1].buf);
	free(s->err_msg);
	free(s->ps);
	sm_buf_free(&s->ps_raw);
	free(s);
}

void sm_agent_client_free(struct sm_agent_client *c)
{
	if (c == NULL)
		return;
	while (c->streams != NULL) {
		struct cstream *s = c->streams;
		c->streams = s->next;
		stream_free(c, s);
	}
	if (c->conn >= 0)
		close(c->conn);
	if (c->ep >= 0)
		close(c->ep);
	if (c->kick >= 0)
		close(c->kick);
	sm_buf_free(&c->out);
	free(c->in);
	free(c->chunk);
	free(c);
}

void sm_agent_client_on_exit(struct sm_agent_client *c, sm_agent_exit_fn fn, void *opaque)
{
	c->exit_fn = fn;
	c->exit_opaque = opaque;
}

int sm_agent_client_fd(const struct sm_agent_client *c)
{
	return c->ep;
}

bool sm_agent_client_ready(const struct sm_agent_client *c)
{
	return c->ready;
}

static struct cstream *stream_find(struct sm_agent_client *c, uint32_t id)
{
	for (struct cstream *s = c->streams; s != NULL; s = s->next) {
		if (s->id == id)
			return s;
	}
	return NULL;
}

static struct cstream *stream_get(struct sm_agent_client *c, uint32_t id)
{
	struct cstream *s = stream_find(c, id);

	if (s != NULL)
		return s;
	s = sm_xcalloc(1, sizeof(*s));
	s->id = id;
	watch_init(&s->in, W_IN, s, -1);
	watch_init(&s->out, W_OUT, s, -1);
	watch_init(&s->err, W_ERR, s, -1);
	s->saved_fl[0] = s->saved_fl[1] = s->saved_fl[2] = -1;
	s->in_credit = SM_PROTO_STREAM_WINDOW;
	s->next = c->streams;
	c->streams = s;
	c->n_streams++;
	return s;
}

void sm_agent_client_release(struct sm_agent_client *c, uint32_t stream)
{
	for (struct cstream **pp = &c->streams; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->id == stream) {
			struct cstream *s = *pp;
			*pp = s->next;
			stream_free(c, s);
			c->n_streams--;
			return;
		}
	}
}

static void queue_frame(struct sm_agent_client *c, uint16_t type, uint32_t stream, const void *data,
			size_t len)
{
	size_t off = sm_frame_begin(&c->out, type, stream);

	if (sm_buf_put(&c->out, data, len) < 0)
		abort();
	sm_frame_end(&c->out, off);
}

static void queue_u32(struct sm_agent_client *c, uint16_t type, uint32_t stream, uint16_t tag, uint32_t v)
{
	size_t off = sm_frame_begin(&c->out, type, stream);

	if (sm_tlv_put_u32(&c->out, tag, v) < 0)
		abort();
	sm_frame_end(&c->out, off);
}

int sm_agent_client_attach(struct sm_agent_client *c, uint32_t stream, const struct sm_agent_stdio *io,
			   sm_error_t *err)
{
	struct cstream *s = stream_get(c, stream);
	struct watch *ws[3] = {&s->in, &s->out, &s->err};
	int fds[3] = {io->in_fd, io->out_fd, io->err_fd};

	for (int i = 0; i < 3; i++) {
		int fl;

		if (fds[i] < 0 || ws[i]->fd >= 0)
			continue;
		fl = fcntl(fds[i], F_GETFL);
		if (fl < 0 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) < 0)
			return sm_error_set(err, errno, "stdio fd %d", fds[i]);
		s->saved_fl[i] = fl;
		/* Our own copy: epoll refuses one fd twice (the same fd for stdout and stderr is common). */
		ws[i]->fd = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
		if (ws[i]->fd < 0)
			return sm_error_set(err, errno, "dup stdio fd %d", fds[i]);
		if (watch_add(c, ws[i], err) < 0)
			return -1;
	}
	return 0;
}

static bool expects_reply(uint16_t type)
{
	return type == SM_MSG_CREATE || type == SM_MSG_START || type == SM_MSG_EXEC ||
	       type == SM_MSG_SIGNAL || type == SM_MSG_PS || type == SM_MSG_SHUTDOWN ||
	       type == SM_MSG_SET_TIME || type == SM_MSG_UPDATE;
}

int sm_agent_client_send(struct sm_agent_client *c, uint16_t type, uint32_t stream, const void *payload,
			 size_t len, sm_error_t *err)
{
	if (c->broken)
		return sm_error_set(err, c->failure.code, "%s", c->failure.msg);
	if (len > SM_PROTO_MAX_PAYLOAD)
		return sm_error_set(err, EMSGSIZE, "request of %zu bytes", len);
	if (expects_reply(type)) {
		struct cstream *s = stream_get(c, stream);
		if (s->reply == REPLY_PENDING)
			return sm_error_set(err, EBUSY, "stream %u already has a request in flight", stream);
		s->reply = REPLY_PENDING;
		free(s->err_msg);
		s->err_msg = NULL;
		if (type == SM_MSG_PS) {
			free(s->ps);
			s->ps = NULL;
			s->n_ps = 0;
			sm_buf_free(&s->ps_raw);
		}
	}
	queue_frame(c, type, stream, payload, len);
	/* No stdin to relay: EOF at once, so the process does not wait for input. */
	if ((type == SM_MSG_CREATE || type == SM_MSG_EXEC)) {
		struct cstream *s = stream_get(c, stream);
		if (s->in.fd < 0 && !s->in_done) {
			s->in_done = true;
			queue_frame(c, SM_MSG_STDIN_CLOSE, stream, NULL, 0);
		}
	}
	return 0;
}

void sm_agent_client_send_hello(struct sm_agent_client *c)
{
	if (!c->hello_sent)
		queue_u32(c, SM_MSG_HELLO, 0, SM_TAG_VERSION, SM_PROTO_VERSION);
	c->hello_sent = true;
}

static int fail(struct sm_agent_client *c, int code, const char *what, const char *detail)
{
	if (!c->broken) {
		c->broken = true;
		sm_error_set(&c->failure, code, "%s%s", what, detail);
	}
	return -1;
}

/* The u32 field tag of a payload (0 when absent); -1 when the payload or the field is malformed. */
static int read_u32(const uint8_t *p, size_t len, uint16_t tag, uint32_t *v)
{
	struct sm_tlv_num f = {.tag = tag, .size = 4};
	int r = sm_tlv_get_nums(p, len, &f, 1);

	*v = (uint32_t)f.value;
	return r < 0 || !f.seen ? -1 : 0;
}

static void on_error(struct sm_agent_client *c, struct cstream *s, const uint8_t *p, size_t len)
{
	struct sm_tlv_reader r;
	const uint8_t *val;
	uint32_t vlen, code = 0;
	uint16_t tag;
	char *msg = NULL;

	sm_tlv_reader_init(&r, p, len);
	while (sm_tlv_next(&r, &tag, &val, &vlen) == 1) {
		if (tag == SM_TAG_ERRNO)
			sm_tlv_u32(val, vlen, &code);
		else if (tag == SM_TAG_MESSAGE && msg == NULL)
			sm_tlv_str(val, vlen, &msg);
	}
	if (s == NULL || s->reply != REPLY_PENDING) {
		/* Not an answer to a request: the agent refused the connection or a relay frame. */
		fail(c, 0, "guest agent: ", msg ? msg : "error");
		c->failure.code = (int)code;
		free(msg);
		return;
	}
	s->reply = REPLY_ERROR;
	s->err_code = (int)code;
	s->err_msg = msg;
}

static int add_ps_pid(void *ctx, uint16_t tag, const uint8_t *val, uint32_t len)
{
	struct cstream *s = ctx;
	uint32_t pid;

	if (tag != SM_TAG_PID || sm_tlv_u32(val, len, &pid) < 0)
		return 0;
	s->ps = realloc(s->ps, (s->n_ps + 1) * sizeof(*s->ps));
	if (s->ps == NULL)
		abort();
	s->ps[s->n_ps++] = pid;
	return 0;
}

static int on_ps(struct cstream *s, const uint8_t *p, size_t len)
{
	int r = sm_tlv_walk(p, len, add_ps_pid, s);

	if (sm_buf_put(&s->ps_raw, p, len) < 0)
		abort();
	s->reply = REPLY_OK;
	return r < 0 ? -1 : 0;
}

static void on_output(struct sm_agent_client *c, struct cstream *s, int which, const uint8_t *p, size_t len)
{
	struct watch *w = which == 0 ? &s->out : &s->err;

	if (w->fd < 0) {
		s->consumed += (uint32_t)len; /* nobody wants it: consumed at once */
		return;
	}
	if (sm_buf_put(&s->q[which].buf, p, len) < 0)
		abort();
}

static int handle_frame(struct sm_agent_client *c, const struct sm_frame_hdr *h, const uint8_t *p)
{
	struct sm_tlv_num hello[] = {{.tag = SM_TAG_VERSION, .size = 4}, {.tag = SM_TAG_FEATURES, .size = 4}};
	struct cstream *s = stream_find(c, h->stream);
	uint32_t v = 0;

	switch (h->type) {
	case SM_MSG_HELLO:
		if (sm_tlv_get_nums(p, h->len, hello, 2) < 0 || !hello[0].seen)
			return fail(c, EPROTO, "guest agent: ", "HELLO without a version (or malformed)");
		if (hello[0].value != SM_PROTO_VERSION) {
			char detail[64];
			snprintf(detail, sizeof(detail), "%u (the runtime speaks %u)",
				 (uint32_t)hello[0].value, SM_PROTO_VERSION);
			return fail(c, EPROTONOSUPPORT, "guest agent protocol version ", detail);
		}
		c->hello_ok = true;
		c->features = (uint32_t)hello[1].value; /* an older agent sends none */
		return 0;
	case SM_MSG_READY:
		c->ready = c->hello_ok;
		return 0;
	case SM_MSG_OK:
		if (s != NULL && s->reply == REPLY_PENDING) {
			read_u32(p, h->len, SM_TAG_PID, &v); /* a pid only for CREATE and EXEC */
			s->pid = v;
			s->reply = REPLY_OK;
		}
		return 0;
	case SM_MSG_ERROR:
		on_error(c, s, p, h->len);
		return c->broken ? -1 : 0;
	case SM_MSG_STDOUT:
	case SM_MSG_STDERR:
		if (s != NULL)
			on_output(c, s, h->type == SM_MSG_STDOUT ? 0 : 1, p, h->len);
		return 0;
	case SM_MSG_EXIT:
		if (read_u32(p, h->len, SM_TAG_STATUS, &v) < 0)
			return fail(c, EPROTO, "guest agent: ", "EXIT without a status");
		/* An EXIT may name a stream the host has not seen (the init stream after a restore),
		 * but a guest must not grow the list, walked on every frame, without bound. */
		if (s == NULL && c->n_streams >= AGENT_CLIENT_MAX_STREAMS)
			return fail(c, EPROTO, "guest agent: ", "EXIT for more streams than the host tracks");
		s = stream_get(c, h->stream);
		s->exited = true;
		s->status = (int)v;
		return 0;
	case SM_MSG_OOM: {
		struct sm_tlv_num f = {.tag = SM_TAG_OOM_KILLS, .size = 8};
		if (sm_tlv_get_nums(p, h->len, &f, 1) < 0 || !f.seen)
			return fail(c, EPROTO, "guest agent: ", "OOM without a count");
		/* A running total: a guest can only make it grow, never take back kills reported. */
		if (f.value > c->oom_kills)
			c->oom_kills = f.value;
		return 0;
	}
	case SM_MSG_PS_REPLY:
		if (s != NULL && s->reply == REPLY_PENDING)
			on_ps(s, p, h->len);
		return 0;
	case SM_MSG_CREDIT:
		if (read_u32(p, h->len, SM_TAG_CREDIT, &v) < 0)
			return fail(c, EPROTO, "guest agent: ", "CREDIT without a count");
		if (s != NULL)
			s->in_credit = v > SM_PROTO_STREAM_WINDOW - s->in_credit ? SM_PROTO_STREAM_WINDOW
										 : s->in_credit + v;
		return 0;
	default:
		return fail(c, EPROTO, "guest agent: ", "sent a host-only message type");
	}
}

static int conn_read(struct sm_agent_client *c)
{
	size_t off = 0;
	ssize_t n;

	do
		n = read(c->conn, c->in + c->in_len, IN_CAP - c->in_len);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n <= 0)
		return fail(c, n < 0 ? errno : ECONNRESET, "guest agent connection ",
			    n < 0 ? "failed" : "closed");
	c->in_len += (size_t)n;
	while (c->in_len - off >= SM_PROTO_HDR_SIZE) {
		struct sm_frame_hdr h;

		if (sm_frame_hdr_decode(c->in + off, &h) < 0)
			return fail(c, EPROTO, "guest agent: ", "invalid frame header");
		if (c->in_len - off - SM_PROTO_HDR_SIZE < h.len)
			break;
		if (handle_frame(c, &h, c->in + off + SM_PROTO_HDR_SIZE) < 0)
			return -1;
		off += SM_PROTO_HDR_SIZE + h.len;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	return 0;
}

static int conn_flush(struct sm_agent_client *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->conn, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return fail(c, errno, "guest agent connection: ", "send failed");
		c->out_off += (size_t)n;
	}
	c->out_off = c->out.len = 0;
	return 0;
}

/* Relay stdin: read what the window allows; EOF (or an error) becomes STDIN_CLOSE. */
static void pump_stdin(struct sm_agent_client *c, struct cstream *s)
{
	while (s->in.fd >= 0 && !s->in_done && s->in_credit > 0 && !s->exited) {
		size_t want = s->in_credit < CHUNK ? s->in_credit : CHUNK;
		ssize_t n = read(s->in.fd, c->chunk, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			s->in_done = true;
			queue_frame(c, SM_MSG_STDIN_CLOSE, s->id, NULL, 0);
			return;
		}
		queue_frame(c, SM_MSG_STDIN, s->id, c->chunk, (size_t)n);
		s->in_credit -= (uint32_t)n;
	}
}

/*
 * write() without SIGPIPE: a host fd whose reader went away must not kill the process embedding
 * the client. The signal is blocked for the call and a SIGPIPE it raised is consumed.
 */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t len)
{
	struct timespec zero = {0, 0};
	sigset_t pipe_set, old, pending;
	bool was_pending;
	ssize_t n;
	int e;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	n = write(fd, buf, len);
	e = errno;
	if (n < 0 && e == EPIPE && !was_pending)
		sigtimedwait(&pipe_set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return n;
}

/* Write queued output to the host fd; an fd that fails (EPIPE) drops the rest. */
static void pump_output(struct sm_agent_client *c, struct cstream *s, int which)
{
	struct watch *w = which == 0 ? &s->out : &s->err;
	struct outq *q = &s->q[which];

	while (q->off < q->buf.len) {
		ssize_t n = w->fd < 0 ? 0 : write_nosigpipe(w->fd, q->buf.data + q->off, q->buf.len - q->off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			s->consumed += (uint32_t)(q->buf.len - q->off);
			q->off = q->buf.len;
			break;
		}
		q->off += (size_t)n;
		s->consumed += (uint32_t)n;
	}
	if (q->off == q->buf.len)
		q->off = q->buf.len = 0;
}

static bool output_pending(const struct cstream *s)
{
	return s->q[0].buf.len > s->q[0].off || s->q[1].buf.len > s->q[1].off;
}

/* Bookkeeping after events: credits, exits, epoll interest, the kick. */
static void update(struct sm_agent_client *c)
{
	bool busy = false;

	for (struct cstream *s = c->streams; s != NULL; s = s->next) {
		if (!s->in.polled)
			pump_stdin(c, s);
		for (int i = 0; i < 2; i++) {
			struct watch *w = i == 0 ? &s->out : &s->err;
			if (!w->polled)
				pump_output(c, s, i);
			watch_set(c, w, s->q[i].buf.len > s->q[i].off ? EPOLLOUT : 0);
		}
		if (s->consumed && (s->consumed >= SM_PROTO_STREAM_WINDOW / 4 || !output_pending(s)) &&
		    !s->exited) {
			queue_u32(c, SM_MSG_CREDIT, s->id, SM_TAG_CREDIT, s->consumed);
			s->consumed = 0;
		}
		if (s->exited && !output_pending(s) && !s->exit_reported) {
			s->exit_reported = true;
			if (c->exit_fn != NULL)
				c->exit_fn(c->exit_opaque, s->id, s->status);
		}
		if (s->in.fd >= 0)
			watch_set(c, &s->in, !s->in_done && s->in_credit > 0 && !s->exited ? EPOLLIN : 0);
		busy |= (!s->in.polled && s->in.fd >= 0 && !s->in_done && s->in_credit > 0 && !s->exited) ||
			(!s->out.polled && s->q[0].buf.len > s->q[0].off) ||
			(!s->err.polled && s->q[1].buf.len > s->q[1].off);
	}
	watch_set(c, &c->wconn,
		  (c->out.len - c->out_off < OUT_HIGH ? EPOLLIN : 0) |
		      (c->out_off < c->out.len ? EPOLLOUT : 0));
	if (busy) {
		uint64_t one = 1;
		if (write(c->kick, &one, sizeof(one)) < 0) {
			/* already raised */
		}
	} else {
		uint64_t v;
		if (read(c->kick, &v, sizeof(v)) < 0) {
			/* not raised */
		}
	}
}

int sm_agent_client_step(struct sm_agent_client *c, int timeout_ms, sm_error_t *err)
{
	struct epoll_event evs[32];
	int n;

	if (c->broken)
		return sm_error_set(err, c->failure.code, "%s", c->failure.msg);
	update(c);
	conn_flush(c);
	do
		n = epoll_wait(c->ep, evs, 32, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return sm_error_set(err, errno, "epoll_wait");
	for (int i = 0; i < n && !c->broken; i++) {
		struct watch *w = evs[i].data.ptr;

		switch (w->kind) {
		case W_CONN:
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				conn_read(c);
			if (!c->broken && (evs[i].events & EPOLLOUT))
				conn_flush(c);
			break;
		case W_KICK:
			break;
		case W_IN:
			pump_stdin(c, w->s);
			break;
		case W_OUT:
		case W_ERR:
			pump_output(c, w->s, w->kind == W_OUT ? 0 : 1);
			break;
		}
	}
	if (!c->broken) {
		update(c);
		conn_flush(c);
	}
	if (c->broken)
		return sm_error_set(err, c->failure.code, "%s", c->failure.msg);
	return 0;
}

int sm_agent_client_reply(struct sm_agent_client *c, uint32_t stream, uint32_t *pid, sm_error_t *err)
{
	struct cstream *s = stream_find(c, stream);

	if (s == NULL || s->reply == REPLY_NONE)
		return sm_error_set(err, EINVAL, "stream %u has no request", stream);
	if (s->reply == REPLY_PENDING)
		return 0;
	if (s->reply == REPLY_ERROR) {
		/* The agent's message already ends with its strerror(). */
		s->reply = REPLY_NONE;
		sm_error_set(err, 0, "%s", s->err_msg ? s->err_msg : "guest agent error");
		if (err != NULL)
			err->code = s->err_code;
		return s->err_code > 0 ? -s->err_code : -1;
	}
	s->reply = REPLY_NONE;
	if (pid != NULL)
		*pid = s->pid;
	s->pid = 0;
	return 1;
}

bool sm_agent_client_exited(const struct sm_agent_client *c, uint32_t stream, int *status)
{
	for (const struct cstream *s = c->streams; s != NULL; s = s->next) {
		if (s->id == stream && s->exited && !output_pending(s)) {
			if (status != NULL)
				*status = s->status;
			return true;
		}
	}
	return false;
}

/* Step until the stream's reply arrived; returns what sm_agent_client_reply() returns (never 0). */
static int wait_reply(struct sm_agent_client *c, uint32_t stream, uint32_t *pid, int timeout_ms,
		      sm_error_t *err)
{
	uint64_t deadline = deadline_of(timeout_ms);

	for (;;) {
		int r = sm_agent_client_reply(c, stream, pid, err);
		if (r != 0)
			return r;
		if (remaining_ms(deadline) == 0)
			return sm_error_set(err, ETIMEDOUT, "no answer from the guest agent on stream %u",
					    stream);
		if (sm_agent_client_step(c, remaining_ms(deadline), err) < 0)
			return -1;
	}
}

static int request(struct sm_agent_client *c, uint16_t type, uint32_t stream, const void *payload, size_t len,
		   uint32_t *pid, int timeout_ms, sm_error_t *err)
{
	if (sm_agent_client_send(c, type, stream, payload, len, err) < 0)
		return -1;
	return wait_reply(c, stream, pid, timeout_ms, err) < 0 ? -1 : 0;
}

int sm_agent_client_handshake(struct sm_agent_client *c, int timeout_ms, sm_error_t *err)
{
	uint64_t deadline = deadline_of(timeout_ms);

	sm_agent_client_send_hello(c);
	while (!c->ready) {
		if (remaining_ms(deadline) == 0)
			return sm_error_set(err, ETIMEDOUT, "the guest agent did not answer HELLO");
		if (sm_agent_client_step(c, remaining_ms(deadline), err) < 0)
			return -1;
	}
	return 0;
}

int sm_agent_client_create(struct sm_agent_client *c, uint32_t stream, const struct sm_buf *payload,
			   const struct sm_agent_stdio *io, uint32_t *pid, int timeout_ms, sm_error_t *err)
{
	if (io != NULL && sm_agent_client_attach(c, stream, io, err) < 0)
		return -1;
	return request(c, SM_MSG_CREATE, stream, payload->data, payload->len, pid, timeout_ms, err);
}

int sm_agent_client_start(struct sm_agent_client *c, uint32_t stream, int timeout_ms, sm_error_t *err)
{
	return request(c, SM_MSG_START, stream, NULL, 0, NULL, timeout_ms, err);
}

/*
 * process.scheduler, ioPriority, execCPUAffinity in an EXEC for an agent that did not announce
 * SM_AGENT_FEATURE_PROC_ATTRS (a VM from an older sm-runtime's template or checkpoint), which
 * would skip them silently: refused.
 */
static int check_exec_attrs(const struct sm_agent_client *c, const struct sm_buf *payload, sm_error_t *err)
{
	static const uint16_t tags[] = {SM_TAG_SCHED, SM_TAG_IOPRIO, SM_TAG_CPUS_INITIAL, SM_TAG_CPUS_FINAL};
	const uint8_t *v;
	uint32_t vlen;

	if (c->features & SM_AGENT_FEATURE_PROC_ATTRS)
		return 0;
	for (size_t i = 0; i < SM_ARRAY_SIZE(tags); i++) {
		if (sm_tlv_find(payload->data, payload->len, tags[i], &v, &vlen) > 0)
			return sm_error_set(
			    err, EOPNOTSUPP,
			    "the container's guest agent is too old to apply process.scheduler, "
			    "ioPriority or execCPUAffinity (its VM comes from an older "
			    "sm-runtime's template or checkpoint)");
	}
	return 0;
}

int sm_agent_client_exec(struct sm_agent_client *c, uint32_t stream, const struct sm_buf *payload,
			 const struct sm_agent_stdio *io, uint32_t *pid, int timeout_ms, sm_error_t *err)
{
	if (check_exec_attrs(c, payload, err) < 0)
		return -1;
	if (io != NULL && sm_agent_client_attach(c, stream, io, err) < 0)
		return -1;
	return request(c, SM_MSG_EXEC, stream, payload->data, payload->len, pid, timeout_ms, err);
}

int sm_agent_client_signal(struct sm_agent_client *c, uint32_t stream, int signo, bool all, int timeout_ms,
			   sm_error_t *err)
{
	struct sm_buf b = {0};
	int r;

	if (sm_tlv_put_u32(&b, SM_TAG_SIGNAL, (uint32_t)signo) < 0 ||
	    (all && sm_tlv_put_u32(&b, SM_TAG_ALL, 1) < 0))
		abort();
	r = request(c, SM_MSG_SIGNAL, stream, b.data, b.len, NULL, timeout_ms, err);
	sm_buf_free(&b);
	return r;
}

int sm_agent_client_resize(struct sm_agent_client *c, uint32_t stream, uint32_t rows, uint32_t cols,
			   sm_error_t *err)
{
	struct sm_buf b = {0};
	int r;

	/* The agent answers a bad size with ERROR, which arrives as no request's reply. */
	if (rows == 0 || cols == 0 || rows > 0xffff || cols > 0xffff)
		return sm_error_set(err, EINVAL, "terminal size %ux%u: rows and columns are 1..65535", rows,
				    cols);
	if (sm_tlv_put_u32(&b, SM_TAG_ROWS, rows) < 0 || sm_tlv_put_u32(&b, SM_TAG_COLS, cols) < 0)
		abort();
	r = sm_agent_client_send(c, SM_MSG_RESIZE, stream, b.data, b.len, err);
	sm_buf_free(&b);
	return r;
}

int sm_agent_client_ps(struct sm_agent_client *c, uint32_t **pids, size_t *n, int timeout_ms, sm_error_t *err)
{
	return sm_agent_client_ps_full(c, pids, n, NULL, timeout_ms, err);
}

int sm_agent_client_ps_full(struct sm_agent_client *c, uint32_t **pids, size_t *n, struct sm_buf *raw,
			    int timeout_ms, sm_error_t *err)
{
	struct cstream *s;

	if (request(c, SM_MSG_PS, 0, NULL, 0, NULL, timeout_ms, err) < 0)
		return -1;
	s = stream_get(c, 0);
	*pids = s->ps;
	*n = s->n_ps;
	s->ps = NULL;
	s->n_ps = 0;
	if (raw != NULL) {
		*raw = s->ps_raw;
		s->ps_raw = (struct sm_buf){0};
	}
	sm_buf_free(&s->ps_raw);
	return 0;
}

int sm_agent_client_seed(struct sm_agent_client *c, const void *data, size_t len, sm_error_t *err)
{
	if (len == 0 || len > 4096)
		return sm_error_set(err, EINVAL, "seed: 1..4096 bytes, not %zu", len);
	return sm_agent_client_send(c, SM_MSG_SEED, 0, data, len, err);
}

int sm_agent_client_set_time(struct sm_agent_client *c, int timeout_ms, sm_error_t *err)
{
	struct sm_buf b = {0};
	struct timespec now;
	int r;

	if (!c->ready)
		return sm_error_set(err, ENOTCONN, "set the guest clock: no handshake with the agent yet");
	if (!(c->features & SM_AGENT_FEATURE_SET_TIME))
		return sm_error_set(err, EOPNOTSUPP,
				    "set the guest clock: the guest agent is too old for SET_TIME");
	/* Read last, just before sending: the guest's clock is behind by the one-way latency only. */
	if (clock_gettime(CLOCK_REALTIME, &now) < 0)
		return sm_error_set(err, errno, "clock_gettime");
	if (sm_tlv_put_u64(&b, SM_TAG_TIME_SEC, (uint64_t)now.tv_sec) < 0 ||
	    sm_tlv_put_u64(&b, SM_TAG_TIME_NSEC, (uint64_t)now.tv_nsec) < 0)
		abort();
	r = request(c, SM_MSG_SET_TIME, 0, b.data, b.len, NULL, timeout_ms, err);
	sm_buf_free(&b);
	return r < 0 ? sm_error_prefix(err, "set the guest clock: ") : 0;
}

int sm_agent_update_encode(struct sm_buf *b, const struct sm_guest_limits *l, sm_error_t *err)
{
	if (l->pids == 0 && l->memory == 0)
		return sm_error_set(err, EINVAL, "update the guest cgroup: no limit to change");
	if ((l->pids && sm_tlv_put_u64(b, SM_TAG_PIDS_LIMIT, l->pids) < 0) ||
	    (l->memory && sm_tlv_put_u64(b, SM_TAG_MEMORY_LIMIT, l->memory) < 0))
		return sm_error_set(err, ENOMEM, "update the guest cgroup");
	return 0;
}

bool sm_agent_client_has_feature(const struct sm_agent_client *c, uint32_t feature)
{
	return c->ready && (c->features & feature) == feature;
}

uint64_t sm_agent_client_oom_kills(const struct sm_agent_client *c)
{
	return c->oom_kills;
}

int sm_agent_client_update(struct sm_agent_client *c, const struct sm_guest_limits *l, int timeout_ms,
			   sm_error_t *err)
{
	struct sm_buf b = {0};
	int r;

	if (!c->ready)
		return sm_error_set(err, ENOTCONN,
				    "update the guest cgroup: no handshake with the agent yet");
	if (!(c->features & SM_AGENT_FEATURE_UPDATE))
		return sm_error_set(
		    err, EOPNOTSUPP,
		    "the container's guest agent is too old to change limits of a running "
		    "container (its VM comes from an older sm-runtime's template or checkpoint)");
	if ((r = sm_agent_update_encode(&b, l, err)) == 0)
		r = request(c, SM_MSG_UPDATE, 0, b.data, b.len, NULL, timeout_ms, err);
	sm_buf_free(&b);
	return r < 0 ? sm_error_prefix(err, "update the guest cgroup: ") : 0;
}

int sm_agent_client_shutdown(struct sm_agent_client *c, int timeout_ms, sm_error_t *err)
{
	return request(c, SM_MSG_SHUTDOWN, 0, NULL, 0, NULL, timeout_ms, err);
}

int sm_agent_client_wait(struct sm_agent_client *c, uint32_t stream, int *status, int timeout_ms,
			 sm_error_t *err)
{
	uint64_t deadline = deadline_of(timeout_ms);

	while (!sm_agent_client_exited(c, stream, status)) {
		if (remaining_ms(deadline) == 0)
			return sm_error_set(err, ETIMEDOUT, "stream %u did not exit in time", stream);
		if (sm_agent_client_step(c, remaining_ms(deadline), err) < 0)
			return -1;
	}
	sm_agent_client_release(c, stream);
	return 0;
}
