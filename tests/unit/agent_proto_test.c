/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent facing a broken or hostile host: raw frames on the socket (no client library). A bad
 * header ends the connection, a bad request is answered with ERROR, nothing crashes the agent:
 * each case ends by checking that the agent process exited normally with status 0.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/proto-tags.h"
#include "common/proto.h"
#include "common/util.h"
#include "tests/tap.h"
#include "tests/unit/agent_testlib.h"

static struct agent_env env;
static uint8_t frame_buf[SM_PROTO_HDR_SIZE + SM_PROTO_MAX_PAYLOAD];

static void send_raw(int fd, const void *data, size_t len)
{
	if (sm_write_all(fd, data, len) < 0)
		tap_diag("send: %s", strerror(errno));
}

static void send_frame(int fd, uint16_t type, uint32_t stream, const void *payload, size_t len)
{
	struct sm_buf b = {0};
	size_t off = sm_frame_begin(&b, type, stream);

	sm_buf_put(&b, payload, len);
	sm_frame_end(&b, off);
	send_raw(fd, b.data, b.len);
	sm_buf_free(&b);
}

static void send_hello(int fd, uint32_t version)
{
	struct sm_buf p = {0};

	sm_tlv_put_u32(&p, SM_TAG_VERSION, version);
	send_frame(fd, SM_MSG_HELLO, 0, p.data, p.len);
	sm_buf_free(&p);
}

/* Next frame from the agent within 10 s: 1 with *h and the payload in frame_buf, 0 at EOF, -1 on timeout. */
static int read_frame(int fd, struct sm_frame_hdr *h)
{
	uint8_t hdr[SM_PROTO_HDR_SIZE];
	size_t got = 0, want = sizeof(hdr);
	uint8_t *dst = hdr;

	for (int phase = 0; phase < 2; phase++) {
		while (got < want) {
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			ssize_t n;

			if (poll(&pfd, 1, 10000) <= 0)
				return -1;
			n = read(fd, dst + got, want - got);
			if (n <= 0)
				return 0;
			got += (size_t)n;
		}
		if (phase == 0) {
			if (sm_frame_hdr_decode(hdr, h) < 0)
				return -1;
			got = 0;
			want = h->len;
			dst = frame_buf;
		}
	}
	return 1;
}

/* Skip frames until one of type arrives; returns false at EOF or timeout. */
static bool expect(int fd, uint16_t type, struct sm_frame_hdr *h)
{
	for (int i = 0; i < 64; i++) {
		if (read_frame(fd, h) != 1)
			return false;
		if (h->type == type)
			return true;
	}
	return false;
}

static uint32_t error_errno(const struct sm_frame_hdr *h)
{
	struct sm_tlv_reader r;
	const uint8_t *val;
	uint32_t len, e = 0;
	uint16_t tag;

	sm_tlv_reader_init(&r, frame_buf, h->len);
	while (sm_tlv_next(&r, &tag, &val, &len) == 1) {
		if (tag == SM_TAG_ERRNO)
			sm_tlv_u32(val, len, &e);
	}
	return e;
}

static bool at_eof(int fd)
{
	struct sm_frame_hdr h;
	int r;

	while ((r = read_frame(fd, &h)) == 1) {
	}
	return r == 0;
}

static int handshake(void)
{
	struct sm_frame_hdr h;
	int fd = agent_env_spawn(&env, NULL);

	if (fd < 0)
		return -1;
	send_hello(fd, SM_PROTO_VERSION);
	if (!expect(fd, SM_MSG_HELLO, &h) || !expect(fd, SM_MSG_READY, &h)) {
		ok(0, "handshake");
		close(fd);
		agent_env_stop(&env);
		return -1;
	}
	return fd;
}

static void finish(int fd, const char *what)
{
	close(fd);
	ok(agent_env_stop(&env) == 0, "%s: the agent exited cleanly", what);
}

static void test_bad_header(void)
{
	uint8_t junk[SM_PROTO_HDR_SIZE] = {1, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0};
	struct sm_frame_hdr h = {.len = SM_PROTO_MAX_PAYLOAD + 1, .type = SM_MSG_STDIN, .stream = 1};
	uint8_t big[SM_PROTO_HDR_SIZE];
	int fd = handshake();

	if (fd < 0)
		return;
	send_raw(fd, junk, sizeof(junk));
	ok(at_eof(fd), "an unknown frame type ends the connection");
	finish(fd, "bad type");

	if ((fd = handshake()) < 0)
		return;
	sm_frame_hdr_encode(&h, big);
	send_raw(fd, big, sizeof(big));
	ok(at_eof(fd), "a frame over 1 MiB ends the connection");
	finish(fd, "oversized frame");

	if ((fd = handshake()) < 0)
		return;
	send_raw(fd, junk, 5);
	shutdown(fd, SHUT_WR);
	ok(at_eof(fd), "a truncated frame then EOF ends the connection");
	finish(fd, "truncated frame");
}

static void test_handshake_errors(void)
{
	struct sm_frame_hdr h;
	int fd = agent_env_spawn(&env, NULL);

	if (fd < 0)
		return;
	send_hello(fd, 2);
	ok(expect(fd, SM_MSG_ERROR, &h) && error_errno(&h) == EPROTONOSUPPORT,
	   "version 2 refused with ERROR");
	ok(at_eof(fd), "then the connection is closed");
	finish(fd, "version mismatch");

	fd = agent_env_spawn(&env, NULL);
	if (fd < 0)
		return;
	send_frame(fd, SM_MSG_PS, 0, NULL, 0);
	ok(expect(fd, SM_MSG_ERROR, &h) && error_errno(&h) == EPROTO, "a request before HELLO: ERROR");
	ok(at_eof(fd), "then the connection is closed");
	finish(fd, "no HELLO");
}

static void test_bad_requests(void)
{
	static const uint8_t garbage[] = {0x20, 0, 0xff, 0xff, 0xff, 0x7f, 'x'};
	struct sm_frame_hdr h;
	struct sm_buf p = {0};
	int fd = handshake();

	if (fd < 0)
		return;
	send_frame(fd, SM_MSG_CREATE, 5, garbage, sizeof(garbage));
	ok(expect(fd, SM_MSG_ERROR, &h) && h.stream == 5,
	   "CREATE with a truncated field: ERROR on its stream");
	sm_tlv_put_str(&p, SM_TAG_ARG, "true");
	sm_tlv_put_str(&p, SM_TAG_CWD, "/");
	send_frame(fd, SM_MSG_CREATE, 6, p.data, p.len);
	ok(expect(fd, SM_MSG_ERROR, &h) && h.stream == 6 && error_errno(&h) == 0,
	   "CREATE without a rootfs: ERROR (invalid request, errno 0)");
	send_frame(fd, SM_MSG_CREATE, 0, p.data, p.len);
	ok(expect(fd, SM_MSG_ERROR, &h) && error_errno(&h) == EINVAL, "CREATE on stream 0: ERROR");
	send_frame(fd, SM_MSG_STDOUT, 1, "x", 1);
	ok(expect(fd, SM_MSG_ERROR, &h) && error_errno(&h) == EPROTO,
	   "a guest-only message from the host: ERROR");
	send_frame(fd, SM_MSG_SIGNAL, 1, NULL, 0);
	ok(expect(fd, SM_MSG_ERROR, &h) && error_errno(&h) == EINVAL, "SIGNAL without a signal: ERROR");
	send_frame(fd, SM_MSG_START, 9, NULL, 0);
	ok(expect(fd, SM_MSG_ERROR, &h) && h.stream == 9, "START of an unknown stream: ERROR");
	send_frame(fd, SM_MSG_EXEC, 9, p.data, p.len);
	ok(expect(fd, SM_MSG_ERROR, &h) && error_errno(&h) == ESRCH, "EXEC without a container: ERROR");
	send_frame(fd, SM_MSG_RESIZE, 9, "\x08\x00\x04\x00\x00\x00", 6);
	ok(expect(fd, SM_MSG_ERROR, &h), "RESIZE with a truncated field: ERROR");
	send_frame(fd, SM_MSG_STDIN, 42, "data", 4);
	send_frame(fd, SM_MSG_STDIN_CLOSE, 42, NULL, 0);
	send_frame(fd, SM_MSG_SEED, 0, frame_buf, 64);
	send_frame(fd, SM_MSG_PS, 0, NULL, 0);
	ok(expect(fd, SM_MSG_PS_REPLY, &h), "STDIN to nobody and SEED are ignored; PS still answered");
	sm_buf_free(&p);
	finish(fd, "bad requests");
}

/* Random payloads for every request type (SHUTDOWN and HELLO excepted): never a crash. */
static void test_random_frames(void)
{
	static const uint16_t types[] = {SM_MSG_CREATE,	     SM_MSG_START,  SM_MSG_EXEC,   SM_MSG_STDIN,
					 SM_MSG_STDIN_CLOSE, SM_MSG_SIGNAL, SM_MSG_RESIZE, SM_MSG_PS,
					 SM_MSG_SEED,	     SM_MSG_CREDIT, SM_MSG_OK,	   SM_MSG_EXIT};
	struct sm_frame_hdr h;
	uint8_t payload[256];
	int fd = handshake();
	bool alive = true;

	if (fd < 0)
		return;
	srand(12345);
	for (int i = 0; i < 3000 && alive; i++) {
		size_t len = (size_t)(rand() % (int)sizeof(payload));
		uint16_t type = types[rand() % (int)SM_ARRAY_SIZE(types)];

		for (size_t j = 0; j < len; j++)
			payload[j] = (uint8_t)rand();
		/* Half of them as well-formed TLV with random tags and small values. */
		if (i % 2 == 0 && len >= 10) {
			uint16_t tag = (uint16_t)(rand() % 130);
			payload[0] = (uint8_t)tag;
			payload[1] = (uint8_t)(tag >> 8);
			payload[2] = 4;
			payload[3] = payload[4] = payload[5] = 0;
			len = 10;
		}
		send_frame(fd, type, (uint32_t)(rand() % 8), payload, len);
		/* Keep the replies from filling the socket: read them as we go. */
		for (;;) {
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			if (poll(&pfd, 1, 0) <= 0)
				break;
			if (read_frame(fd, &h) != 1) {
				alive = false;
				break;
			}
		}
	}
	ok(alive, "3000 random requests: the connection stays up");
	send_frame(fd, SM_MSG_PS, 0, NULL, 0);
	ok(alive && expect(fd, SM_MSG_PS_REPLY, &h), "and PS is still answered");
	finish(fd, "random frames");
}

static void test_shutdown(void)
{
	struct sm_frame_hdr h;
	int fd = handshake();

	if (fd < 0)
		return;
	send_frame(fd, SM_MSG_SHUTDOWN, 0, NULL, 0);
	ok(expect(fd, SM_MSG_OK, &h) && h.stream == 0, "SHUTDOWN answered with OK");
	ok(at_eof(fd), "then the agent closes the connection");
	finish(fd, "shutdown");
}

int main(void)
{
	agent_env_init(&env);
	signal(SIGPIPE, SIG_IGN);
	test_bad_header();
	test_handshake_errors();
	test_bad_requests();
	test_random_frames();
	test_shutdown();
	agent_env_cleanup(&env);
	return tap_done();
}
