/* SPDX-License-Identifier: Apache-2.0 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/monitor-proto.h"

void sm_mon_msg_clear(struct sm_mon_msg *m)
{
	free(m->payload);
	m->payload = NULL;
	for (size_t i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nfds = 0;
}

int sm_mon_send(int fd, uint16_t type, uint32_t stream, const struct sm_buf *payload, const int *fds,
		size_t nfds, sm_error_t *err)
{
	struct sm_frame_hdr h = {.len = payload ? (uint32_t)payload->len : 0, .type = type, .stream = stream};
	uint8_t hdr[SM_PROTO_HDR_SIZE];
	union {
		char buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov[2] = {{hdr, sizeof(hdr)},
			       {payload ? payload->data : NULL, payload ? payload->len : 0}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = h.len ? 2 : 1};
	size_t total = sizeof(hdr) + h.len, sent;
	ssize_t n;

	if (payload && payload->len > SM_PROTO_MAX_PAYLOAD)
		return sm_error_set(err, EMSGSIZE, "monitor request too large");
	if (nfds > 3)
		return sm_error_set(err, EINVAL, "at most 3 fds per monitor message");
	sm_frame_hdr_encode(&h, hdr);
	if (nfds > 0) {
		struct cmsghdr *cm;
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return sm_error_set(err, errno, "send to the monitor");
	sent = (size_t)n;
	if (sent < sizeof(hdr)) {
		if (sm_write_all(fd, hdr + sent, sizeof(hdr) - sent) < 0)
			return sm_error_set(err, errno, "send to the monitor");
		sent = sizeof(hdr);
	}
	if (sent < total && sm_write_all(fd, payload->data + (sent - sizeof(hdr)), total - sent) < 0)
		return sm_error_set(err, errno, "send to the monitor");
	return 0;
}

static int wait_readable(int fd, int timeout_ms, sm_error_t *err)
{
	struct pollfd p = {fd, POLLIN, 0};
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return sm_error_set(err, errno, "poll the monitor connection");
	if (r == 0)
		return sm_error_set(err, ETIMEDOUT, "no answer from the monitor");
	return 0;
}

/* Read len bytes, waiting at most timeout_ms for each chunk; 0 = EOF before anything. */
static int read_exact(int fd, uint8_t *buf, size_t len, int timeout_ms, struct sm_mon_msg *m, sm_error_t *err)
{
	size_t got = 0;

	while (got < len) {
		union {
			char buf[CMSG_SPACE(3 * sizeof(int))];
			struct cmsghdr align;
		} u;
		struct iovec iov = {buf + got, len - got};
		struct msghdr mh = {
		    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
		ssize_t n;
		int r;

		if ((r = wait_readable(fd, timeout_ms, err)) < 0)
			return r;
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sm_error_set(err, errno, "read from the monitor connection");
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int fds[16];
			memcpy(fds, CMSG_DATA(cm), (k > 16 ? 16 : k) * sizeof(int));
			for (size_t i = 0; i < k && i < 16; i++) {
				if (m->nfds < 3)
					m->fds[m->nfds++] = fds[i];
				else
					close(fds[i]);
			}
		}
		if (n == 0) {
			if (got == 0)
				return 0;
			return sm_error_set(err, EPROTO, "monitor connection closed inside a message");
		}
		got += (size_t)n;
	}
	return 1;
}

int sm_mon_recv(int fd, struct sm_mon_msg *m, int timeout_ms, sm_error_t *err)
{
	uint8_t hdr[SM_PROTO_HDR_SIZE];
	int r;

	memset(m, 0, sizeof(*m));
	m->fds[0] = m->fds[1] = m->fds[2] = -1;
	if ((r = read_exact(fd, hdr, sizeof(hdr), timeout_ms, m, err)) <= 0)
		goto fail;
	if (sm_frame_hdr_decode(hdr, &m->hdr) < 0 || m->hdr.type >= SM_MON_TYPE_MAX) {
		r = sm_error_set(err, EPROTO, "bad monitor message header");
		goto fail;
	}
	m->payload = sm_xmalloc(m->hdr.len + 1);
	/* A client already sent the header: the rest follows at once. */
	if (m->hdr.len > 0 && (r = read_exact(fd, m->payload, m->hdr.len, 5000, m, err)) <= 0) {
		if (r == 0)
			r = sm_error_set(err, EPROTO, "monitor connection closed inside a message");
		goto fail;
	}
	return 1;
fail:
	sm_mon_msg_clear(m);
	return r;
}

int sm_mon_send_error(int fd, uint32_t stream, const sm_error_t *e, sm_error_t *err)
{
	struct sm_buf b = {0};
	int r;

	sm_tlv_put_u32(&b, SM_MON_TAG_ERRNO, (uint32_t)(e->code > 0 ? e->code : 0));
	sm_tlv_put_str(&b, SM_MON_TAG_MESSAGE, e->msg[0] ? e->msg : "failed");
	r = sm_mon_send(fd, SM_MON_ERROR, stream, &b, NULL, 0, err);
	sm_buf_free(&b);
	return r;
}

int sm_mon_connect(const char *path, sm_error_t *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	cleanup_close int fd = -1;

	if (strlen(path) >= sizeof(sa.sun_path))
		return sm_error_set(err, ENAMETOOLONG, "monitor socket `%s`", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sm_error_set(err, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return sm_error_set(err, errno, "connect to the container's monitor");
	return steal_fd(&fd);
}

#define AGENT_TIMEOUT_MS 120000 /* at the default boot timeout */
#define DEFAULT_BOOT_TIMEOUT_S SM_MON_DEFAULT_BOOT_TIMEOUT_S

int sm_mon_agent_timeout_ms(int64_t boot_timeout_ns)
{
	int64_t boot_s = boot_timeout_ns / 1000000000;

	if (boot_s <= DEFAULT_BOOT_TIMEOUT_S)
		return AGENT_TIMEOUT_MS;
	if (boot_s > 86400) /* SM_BOOT_TIMEOUT_S's limit; keeps the product an int */
		boot_s = 86400;
	return (int)(AGENT_TIMEOUT_MS * boot_s / DEFAULT_BOOT_TIMEOUT_S);
}

int sm_mon_call_timeout_ms(void)
{
	const char *env = getenv("SM_BOOT_TIMEOUT_S");
	uint64_t boot_s = DEFAULT_BOOT_TIMEOUT_S;

	if (env != NULL && sm_parse_u64(env, 1, 86400, "SM_BOOT_TIMEOUT_S", &boot_s, NULL) < 0)
		boot_s = DEFAULT_BOOT_TIMEOUT_S;
	return sm_mon_agent_timeout_ms((int64_t)boot_s * 1000000000) + 60000;
}

int sm_mon_get_u32(const struct sm_mon_msg *m, uint16_t tag, uint32_t *out)
{
	const uint8_t *val;
	uint32_t len;
	int r = sm_tlv_find(m->payload, m->hdr.len, tag, &val, &len);

	return r <= 0 ? r : sm_tlv_u32(val, len, out) < 0 ? -EPROTO : 1;
}

int sm_mon_get_u64(const struct sm_mon_msg *m, uint16_t tag, uint64_t *out)
{
	const uint8_t *val;
	uint32_t len;
	int r = sm_tlv_find(m->payload, m->hdr.len, tag, &val, &len);

	return r <= 0 ? r : sm_tlv_u64(val, len, out) < 0 ? -EPROTO : 1;
}

/* ERROR's errno and message as a failure. */
static int reply_error(const struct sm_mon_msg *m, sm_error_t *err)
{
	struct sm_tlv_reader rd;
	const uint8_t *val;
	uint16_t t;
	uint32_t len, code = 0;
	cleanup_free char *msg = NULL;

	sm_tlv_reader_init(&rd, m->payload, m->hdr.len);
	while (sm_tlv_next(&rd, &t, &val, &len) > 0) {
		if (t == SM_MON_TAG_ERRNO)
			(void)sm_tlv_u32(val, len, &code);
		else if (t == SM_MON_TAG_MESSAGE && msg == NULL)
			(void)sm_tlv_str(val, len, &msg);
	}
	if (err != NULL) {
		/* The message already carries strerror: do not add it again. */
		sm_error_set(err, 0, "%s", msg ? msg : "the monitor refused the request");
		err->code = (int)code;
	}
	return code > 0 ? -(int)code : -1;
}

int sm_mon_call(int fd, uint16_t type, const struct sm_buf *payload, const int *fds, size_t nfds,
		struct sm_mon_msg *reply, int timeout_ms, sm_error_t *err)
{
	struct sm_mon_msg m;
	int r;

	if ((r = sm_mon_send(fd, type, 0, payload, fds, nfds, err)) < 0)
		return r;
	r = sm_mon_recv(fd, &m, timeout_ms, err);
	if (r == 0)
		return sm_error_set(err, EPIPE, "the monitor closed the connection");
	if (r < 0)
		return r;
	if (m.hdr.type == SM_MON_ERROR) {
		r = reply_error(&m, err);
		sm_mon_msg_clear(&m);
		return r;
	}
	if (reply != NULL)
		*reply = m;
	else
		sm_mon_msg_clear(&m);
	return 0;
}
