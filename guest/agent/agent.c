/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's connection loop: one poll() over the connection, the SIGCHLD signalfd, the
 * children's setup sockets and the processes' stdio; frames are parsed with common/proto.c and
 * dispatched to the process table (proc.c). A frame whose header is invalid ends the connection
 * (the stream cannot be resynchronised); a request with a bad payload is answered with ERROR.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/proto-tags.h"
#include "guest/agent/agent-internal.h"
#include "guest/agent/sys.h"

#define AGENT_NAME "sm-agent 1"
#define DEFAULT_STAGING_DIR "/run/sm"
/* Read buffer: one maximal frame plus room to read ahead. */
#define IN_CAP (SM_PROTO_HDR_SIZE + SM_PROTO_MAX_PAYLOAD + 64 * 1024)
#define FLUSH_TIMEOUT_MS 2000

void agent_log(struct sm_agent *a, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (a->log_fd < 0)
		return;
	n = snprintf(line, sizeof(line), "sm-agent: ");
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(a->log_fd, line, (size_t)n) < 0) {
		/* diagnostics are best effort */
	}
}

bool agent_connected(const struct sm_agent *a)
{
	return a->conn >= 0 && a->hello_done && !a->conn_dead;
}

void agent_send_ok(struct sm_agent *a, uint32_t stream, uint32_t pid)
{
	size_t off;

	if (!agent_connected(a))
		return;
	off = sm_frame_begin(&a->out, SM_MSG_OK, stream);
	if (pid != 0)
		sm_tlv_put_u32(&a->out, SM_TAG_PID, pid);
	sm_frame_end(&a->out, off);
}

void agent_send_error(struct sm_agent *a, uint32_t stream, int code, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	size_t off;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	agent_log(a, "stream %u: %s", stream, msg);
	if (a->conn < 0 || a->conn_dead)
		return;
	off = sm_frame_begin(&a->out, SM_MSG_ERROR, stream);
	sm_tlv_put_u32(&a->out, SM_TAG_ERRNO, (uint32_t)(code > 0 ? code : 0));
	sm_tlv_put_str(&a->out, SM_TAG_MESSAGE, msg);
	sm_frame_end(&a->out, off);
}

void agent_send_data(struct sm_agent *a, uint16_t type, uint32_t stream, const void *data, size_t len)
{
	size_t off;

	if (!agent_connected(a))
		return;
	off = sm_frame_begin(&a->out, type, stream);
	if (sm_buf_put(&a->out, data, len) < 0)
		abort(); /* out of memory is not a protocol condition */
	sm_frame_end(&a->out, off);
}

void agent_send_u32(struct sm_agent *a, uint16_t type, uint32_t stream, uint16_t tag, uint32_t v)
{
	size_t off;

	if (!agent_connected(a))
		return;
	off = sm_frame_begin(&a->out, type, stream);
	sm_tlv_put_u32(&a->out, tag, v);
	sm_frame_end(&a->out, off);
}

static void send_hello(struct sm_agent *a)
{
	size_t off = sm_frame_begin(&a->out, SM_MSG_HELLO, 0);

	sm_tlv_put_u32(&a->out, SM_TAG_VERSION, SM_PROTO_VERSION);
	sm_tlv_put_str(&a->out, SM_TAG_AGENT, AGENT_NAME);
	sm_tlv_put_u32(&a->out, SM_TAG_FEATURES,
		       SM_AGENT_FEATURE_SET_TIME | SM_AGENT_FEATURE_USERNS | SM_AGENT_FEATURE_PIDS_LIMIT |
			   SM_AGENT_FEATURE_UPDATE | SM_AGENT_FEATURE_PROC_ATTRS | SM_AGENT_FEATURE_OOM);
	sm_frame_end(&a->out, off);
}

static void handle_hello(struct sm_agent *a, const uint8_t *payload, size_t len)
{
	struct sm_tlv_reader r;
	const uint8_t *val;
	uint32_t vlen, version = 0;
	uint16_t tag;
	int n;

	sm_tlv_reader_init(&r, payload, len);
	while ((n = sm_tlv_next(&r, &tag, &val, &vlen)) == 1) {
		if (tag == SM_TAG_VERSION && sm_tlv_u32(val, vlen, &version) < 0)
			break;
	}
	if (version != SM_PROTO_VERSION) {
		agent_send_error(a, 0, EPROTONOSUPPORT,
				 "protocol version %u is not supported (the agent speaks %u)", version,
				 SM_PROTO_VERSION);
		a->shutdown = false;
		a->conn_dead = true; /* after the flush below */
		return;
	}
	a->hello_done = true;
	agent_send_data(a, SM_MSG_READY, 0, NULL, 0);
	agent_oom_send(a); /* a new host (after a restore) starts from the kills so far */
}

static void handle_shutdown(struct sm_agent *a, uint32_t stream)
{
	agent_kill_all(a);
	agent_finish_exited(a);
	sync();
	agent_send_ok(a, stream, 0);
	a->shutdown = true;
}

static void handle_frame(struct sm_agent *a, const struct sm_frame_hdr *h, const uint8_t *payload)
{
	if (!a->hello_done) {
		if (h->type == SM_MSG_HELLO) {
			handle_hello(a, payload, h->len);
		} else {
			agent_send_error(a, h->stream, EPROTO, "expected HELLO, got message type %u",
					 h->type);
			a->conn_dead = true;
		}
		return;
	}
	switch (h->type) {
	case SM_MSG_CREATE:
		return agent_create(a, h->stream, payload, h->len);
	case SM_MSG_START:
		return agent_start(a, h->stream);
	case SM_MSG_EXEC:
		return agent_exec(a, h->stream, payload, h->len);
	case SM_MSG_STDIN:
		return agent_stdin(a, h->stream, payload, h->len);
	case SM_MSG_STDIN_CLOSE:
		return agent_stdin_close(a, h->stream);
	case SM_MSG_SIGNAL:
		return agent_signal(a, h->stream, payload, h->len);
	case SM_MSG_RESIZE:
		return agent_resize(a, h->stream, payload, h->len);
	case SM_MSG_PS:
		return agent_ps(a, h->stream);
	case SM_MSG_SEED:
		return agent_seed(a, payload, h->len);
	case SM_MSG_SHUTDOWN:
		return handle_shutdown(a, h->stream);
	case SM_MSG_CREDIT:
		return agent_credit(a, h->stream, payload, h->len);
	case SM_MSG_SET_TIME:
		return agent_set_time(a, h->stream, payload, h->len);
	case SM_MSG_UPDATE:
		return agent_update(a, h->stream, payload, h->len);
	default:
		agent_send_error(a, h->stream, EPROTO, "message type %u is not a request", h->type);
	}
}

/* Read what the connection has and handle every complete frame. */
static void conn_read(struct sm_agent *a)
{
	size_t off = 0;
	ssize_t n;

	do
		n = read(a->conn, a->in + a->in_len, a->in_cap - a->in_len);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		a->conn_dead = true;
		return;
	}
	a->in_len += (size_t)n;
	while (!a->conn_dead && !a->shutdown && a->in_len - off >= SM_PROTO_HDR_SIZE) {
		struct sm_frame_hdr h;
		int r = sm_frame_hdr_decode(a->in + off, &h);

		if (r < 0) {
			agent_log(a, "bad frame header (%s): dropping the connection", strerror(-r));
			a->conn_dead = true;
			break;
		}
		if (a->in_len - off - SM_PROTO_HDR_SIZE < h.len)
			break;
		handle_frame(a, &h, a->in + off + SM_PROTO_HDR_SIZE);
		off += SM_PROTO_HDR_SIZE + h.len;
	}
	memmove(a->in, a->in + off, a->in_len - off);
	a->in_len -= off;
}

static void conn_flush(struct sm_agent *a)
{
	while (a->out_off < a->out.len) {
		ssize_t n = send(a->conn, a->out.data + a->out_off, a->out.len - a->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			a->conn_dead = true;
			a->out_off = a->out.len = 0;
			return;
		}
		a->out_off += (size_t)n;
	}
	a->out_off = a->out.len = 0;
}

/* Send what is queued, waiting at most FLUSH_TIMEOUT_MS (the last replies before a close). */
static void conn_flush_wait(struct sm_agent *a)
{
	for (int i = 0; i < FLUSH_TIMEOUT_MS / 10 && a->out_off < a->out.len; i++) {
		struct pollfd pfd = {.fd = a->conn, .events = POLLOUT};

		conn_flush(a);
		if (a->out_off < a->out.len && poll(&pfd, 1, 10) < 0 && errno != EINTR)
			break;
	}
}

enum poll_kind { K_CONN, K_SIG, K_SYNC, K_IN, K_OUT, K_LISTEN, K_OOM };

struct poll_ref {
	enum poll_kind kind;
	struct agent_proc *p;
};

struct poll_set {
	struct pollfd fds[4 + 4 * SM_AGENT_MAX_PROCS];
	struct poll_ref refs[4 + 4 * SM_AGENT_MAX_PROCS];
	nfds_t n;
};

static void poll_add(struct poll_set *ps, int fd, short events, enum poll_kind kind, struct agent_proc *p)
{
	if (fd < 0 || events == 0)
		return;
	ps->fds[ps->n] = (struct pollfd){.fd = fd, .events = events};
	ps->refs[ps->n] = (struct poll_ref){.kind = kind, .p = p};
	ps->n++;
}

static void build_poll_set(struct sm_agent *a, struct poll_set *ps, int listen_fd)
{
	bool out_busy = a->out.len - a->out_off > SM_AGENT_OUT_HIGH;
	short conn_ev = 0;

	ps->n = 0;
	poll_add(ps, a->sigfd, POLLIN, K_SIG, NULL);
	if (a->conn >= 0 && !a->conn_dead) {
		if (!out_busy && !a->shutdown)
			conn_ev |= POLLIN;
		if (a->out_off < a->out.len)
			conn_ev |= POLLOUT;
		/* POLLHUP is always reported; a wait for nothing still watches for the hang-up. */
		poll_add(ps, a->conn, conn_ev ? conn_ev : POLLIN, K_CONN, NULL);
	}
	poll_add(ps, listen_fd, POLLIN, K_LISTEN, NULL);
	poll_add(ps, a->oom_fd, POLLIN, K_OOM, NULL);
	for (struct agent_proc *p = a->procs; p != NULL; p = p->next) {
		if (p->state == PROC_SETUP)
			poll_add(ps, p->sync_fd, POLLIN, K_SYNC, p);
		if (p->in_buf.len > p->in_off)
			poll_add(ps, p->in_fd, POLLOUT, K_IN, p);
		if (agent_connected(a) && p->out_credit > 0 && !out_busy) {
			poll_add(ps, p->out_fd, POLLIN, K_OUT, p);
			poll_add(ps, p->err_fd, POLLIN, K_OUT, p);
		}
	}
}

/* Handle one poll result; the entry's fd is checked again because earlier handlers may close it. */
static void dispatch(struct sm_agent *a, const struct pollfd *pfd, const struct poll_ref *ref)
{
	struct agent_proc *p = ref->p;

	if (pfd->revents == 0)
		return;
	switch (ref->kind) {
	case K_SIG:
		agent_reap(a);
		break;
	case K_CONN:
		if (pfd->revents & (POLLIN | POLLHUP | POLLERR))
			conn_read(a);
		if (!a->conn_dead && (pfd->revents & POLLOUT))
			conn_flush(a);
		break;
	case K_SYNC:
		if (p->sync_fd == pfd->fd)
			agent_proc_sync_ready(a, p);
		break;
	case K_IN:
		if (p->in_fd == pfd->fd)
			agent_proc_write_stdin(a, p);
		break;
	case K_OUT:
		if (p->out_fd == pfd->fd || p->err_fd == pfd->fd)
			agent_proc_read_output(a, p, pfd->fd);
		break;
	case K_OOM:
		agent_oom_check(a);
		break;
	case K_LISTEN:
		break;
	}
}

/*
 * One round of the loop: wait, handle what is ready, report exits. Returns the listen fd's
 * revents (0 when not given or not ready).
 */
static int loop_once(struct sm_agent *a, int listen_fd)
{
	static struct poll_set ps; /* large; the agent is single-threaded */
	short listen_ev = 0;

	build_poll_set(a, &ps, listen_fd);
	if (poll(ps.fds, ps.n, -1) < 0)
		return errno == EINTR ? 0 : -errno;
	for (nfds_t i = 0; i < ps.n; i++) {
		if (ps.refs[i].kind == K_LISTEN)
			listen_ev = ps.fds[i].revents;
		else
			dispatch(a, &ps.fds[i], &ps.refs[i]);
	}
	agent_finish_exited(a);
	if (a->conn >= 0 && !a->conn_dead)
		conn_flush(a);
	return listen_ev;
}

int sm_agent_serve(struct sm_agent *a, int conn_fd, sm_error_t *err)
{
	int fl = fcntl(conn_fd, F_GETFL), r = 0;

	if (fl < 0 || fcntl(conn_fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(conn_fd, F_SETFD, FD_CLOEXEC) < 0) {
		close(conn_fd);
		return sm_error_set(err, errno, "agent connection");
	}
	a->conn = conn_fd;
	a->hello_done = a->conn_dead = a->shutdown = false;
	a->in_len = a->out_off = a->out.len = 0;
	agent_procs_reset_flow(a);
	send_hello(a);
	while (!a->conn_dead && !(a->shutdown && a->out_off == a->out.len)) {
		r = loop_once(a, -1);
		if (r < 0) {
			sm_error_set(err, -r, "agent: poll");
			break;
		}
	}
	/* A version refusal or the SHUTDOWN reply is still queued: give it a chance to leave. */
	if (a->out_off < a->out.len)
		conn_flush_wait(a);
	close(a->conn);
	a->conn = -1;
	a->conn_dead = true;
	if (r < 0)
		return r;
	return a->shutdown ? 1 : 0;
}

int sm_agent_run(struct sm_agent *a, int listen_fd, sm_error_t *err)
{
	for (;;) {
		int ev = loop_once(a, listen_fd), fd, r;

		if (ev < 0)
			return sm_error_set(err, -ev, "agent: poll");
		if (!(ev & POLLIN))
			continue;
		fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			agent_log(a, "accept: %s", strerror(errno));
			continue;
		}
		r = sm_agent_serve(a, fd, err);
		if (r < 0)
			return r;
		if (r == 1)
			return 0;
		agent_log(a, "the host disconnected; waiting for a new connection");
	}
}

int sm_agent_new(const struct sm_agent_opts *opts, struct sm_agent **out, sm_error_t *err)
{
	struct sm_agent *a = calloc(1, sizeof(*a));
	sigset_t chld;

	if (a == NULL)
		return sm_error_set(err, ENOMEM, "agent");
	a->conn = a->root_fd = a->pidns_fd = a->own_pidns = a->sigfd = a->oom_fd = -1;
	for (int i = 0; i < SM_AGENT_NS_COUNT; i++)
		a->ns_fds[i] = -1;
	a->log_fd = opts ? opts->log_fd : -1;
	a->set_clock = opts && opts->set_clock ? opts->set_clock : agent_clock_settime;
	a->set_clock_opaque = opts ? opts->set_clock_opaque : NULL;
	a->staging_dir = strdup(opts && opts->staging_dir ? opts->staging_dir : DEFAULT_STAGING_DIR);
	a->in_cap = IN_CAP;
	a->in = malloc(a->in_cap);
	a->chunk = malloc(SM_AGENT_READ_CHUNK);
	if (a->staging_dir == NULL || a->in == NULL || a->chunk == NULL) {
		sm_agent_free(a);
		return sm_error_set(err, ENOMEM, "agent");
	}
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &chld, NULL) < 0 ||
	    (a->sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		sm_error_set(err, errno, "signalfd for SIGCHLD");
		sm_agent_free(a);
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		sm_error_set(err, errno, "PR_SET_CHILD_SUBREAPER");
		sm_agent_free(a);
		return -1;
	}
	a->own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (a->own_pidns < 0) {
		sm_error_set(err, errno, "open /proc/self/ns/pid");
		sm_agent_free(a);
		return -1;
	}
	*out = a;
	return 0;
}

void sm_agent_free(struct sm_agent *a)
{
	if (a == NULL)
		return;
	if (a->sigfd >= 0)
		agent_kill_all(a);
	agent_procs_free(a);
	if (a->sigfd >= 0)
		close(a->sigfd);
	if (a->own_pidns >= 0)
		close(a->own_pidns);
	if (a->oom_fd >= 0)
		close(a->oom_fd);
	if (a->conn >= 0)
		close(a->conn);
	sm_buf_free(&a->out);
	free(a->in);
	free(a->chunk);
	free(a->staging_dir);
	free(a);
}

int sm_agent_listen_vsock(uint32_t port, sm_error_t *err)
{
	struct sm_sockaddr_vm addr = {.svm_family = AF_VSOCK, .svm_port = port, .svm_cid = SM_VMADDR_CID_ANY};
	cleanup_close int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return sm_error_set(err, errno, "vsock socket");
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return sm_error_set(err, errno, "bind vsock port %u", port);
	if (listen(fd, 4) < 0)
		return sm_error_set(err, errno, "listen on vsock port %u", port);
	return steal_fd(&fd);
}

int sm_agent_main(int listen_fd)
{
	struct sm_agent_opts opts = {.staging_dir = DEFAULT_STAGING_DIR, .log_fd = 2};
	sm_error_t err = SM_ERROR_INIT;
	struct sm_agent *a = NULL;
	int fd = listen_fd, r;

	if (fd < 0)
		fd = sm_agent_listen_vsock(SM_AGENT_PORT, &err);
	if (fd < 0 || sm_agent_new(&opts, &a, &err) < 0) {
		dprintf(2, "sm-agent: %s\n", err.msg);
		if (fd >= 0 && fd != listen_fd)
			close(fd);
		return 1;
	}
	r = sm_agent_run(a, fd, &err);
	if (r < 0)
		dprintf(2, "sm-agent: %s\n", err.msg);
	sm_agent_free(a);
	if (fd != listen_fd)
		close(fd);
	sync();
	return r < 0 ? 1 : 0;
}
