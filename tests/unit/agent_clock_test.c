/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SET_TIME (guest-protocol.md): the real client against the real agent (forked, on a socketpair).
 * Setting this machine's clock is not an option, so the agent gets an injected clock setter that
 * reports the value it was asked to set on a pipe; the real setter (clock_settime) runs only in a
 * process without CAP_SYS_TIME, where it must fail with EPERM. Needs no root and no namespaces.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/proto-tags.h"
#include "common/proto.h"
#include "common/util.h"
#include "guest/agent/agent.h"
#include "runtime/agent-client.h"
#include "tests/tap.h"

#define TIMEOUT_MS 10000
#define EXIT_NO_DROP 77 /* the child could not shed CAP_SYS_TIME: the real-setter case is skipped */

/* What the injected setter does: report the value on fd, then fail with fail_errno (0: succeed). */
struct fake_clock {
	int fd;
	int fail_errno;
};

static int record_clock(void *opaque, const struct timespec *ts)
{
	struct fake_clock *f = opaque;

	if (sm_write_all(f->fd, ts, sizeof(*ts)) < 0)
		return -EIO;
	return f->fail_errno ? -f->fail_errno : 0;
}

struct agent {
	pid_t pid;
	int rec_fd; /* read end of the setter's reports; -1 for the real setter */
	struct sm_agent_client *c;
};

/* True when this process has no effective capability at all (so clock_settime cannot succeed). */
static bool no_capabilities(void)
{
	cleanup_free char *status = NULL;
	size_t len = 0;
	const char *eff;

	if (sm_read_file("/proc/self/status", 1 << 16, &status, &len, NULL) < 0)
		return false;
	eff = strstr(status, "\nCapEff:");
	return eff != NULL && strspn(eff + 8, "\t 0") > 0 && eff[8 + strspn(eff + 8, "\t 0")] == '\n';
}

/* The forked agent: in-process with fake, else the real setter (in binary when given). */
static __attribute__((noreturn)) void serve(int fd, struct fake_clock *fake, const char *binary)
{
	struct sm_agent_opts opts = {.staging_dir = "/run/sm-agent-clock-test", .log_fd = -1};
	sm_error_t err = SM_ERROR_INIT;
	struct sm_agent *a = NULL;
	int r;

	if (fake != NULL) {
		opts.set_clock = record_clock;
		opts.set_clock_opaque = fake;
	} else {
		/* The real clock_settime: only without CAP_SYS_TIME, or this would set the host's clock. */
		if (geteuid() == 0 &&
		    (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0))
			_exit(EXIT_NO_DROP);
		if (!no_capabilities())
			_exit(EXIT_NO_DROP);
	}
	/* After the uid change, which clears it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (binary != NULL) {
		char num[16];

		snprintf(num, sizeof(num), "%d", fd);
		if (fcntl(fd, F_SETFD, 0) == 0)
			execl(binary, binary, "--fd", num, (char *)NULL);
		_exit(103);
	}
	if (sm_agent_new(&opts, &a, &err) < 0) {
		fprintf(stderr, "agent: %s\n", err.msg);
		_exit(104);
	}
	r = sm_agent_serve(a, fd, &err);
	if (r < 0)
		fprintf(stderr, "agent: %s\n", err.msg);
	sm_agent_free(a);
	_exit(r < 0 ? 105 : 0);
}

/*
 * Fork an agent on a socketpair and handshake; fail_errno < 0 = the real setter. A failed
 * handshake is a test failure unless quiet (the caller looks at the agent's exit status).
 */
static bool agent_start(struct agent *ag, int fail_errno, bool quiet, const char *binary)
{
	sm_error_t err = SM_ERROR_INIT;
	int sv[2], rec[2] = {-1, -1};

	ag->pid = -1;
	ag->rec_fd = -1;
	ag->c = NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    (fail_errno >= 0 && pipe2(rec, O_CLOEXEC) < 0))
		return ok(0, "socketpair/pipe: %s", strerror(errno));
	fflush(stdout);
	ag->pid = fork();
	if (ag->pid == 0) {
		struct fake_clock fake = {.fd = rec[1], .fail_errno = fail_errno};

		close(sv[0]);
		if (rec[0] >= 0)
			close(rec[0]);
		serve(sv[1], fail_errno >= 0 ? &fake : NULL, binary);
	}
	close(sv[1]);
	if (rec[1] >= 0)
		close(rec[1]);
	ag->rec_fd = rec[0];
	if (ag->pid < 0 || sm_agent_client_new(sv[0], &ag->c, &err) < 0)
		return ok(0, "start the agent: %s", ag->pid < 0 ? strerror(errno) : err.msg);
	if (sm_agent_client_handshake(ag->c, TIMEOUT_MS, &err) < 0)
		return quiet ? false : ok(0, "handshake: %s", err.msg);
	return true;
}

/* Close the connection and collect the agent's exit status (0 = clean). */
static int agent_stop(struct agent *ag)
{
	int status = -1;

	sm_agent_client_free(ag->c);
	ag->c = NULL;
	if (ag->rec_fd >= 0)
		close(ag->rec_fd);
	if (ag->pid > 0) {
		while (waitpid(ag->pid, &status, 0) < 0 && errno == EINTR) {
		}
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The next value the fake setter reported: 1, 0 when none arrives within ms. */
static int recorded(struct agent *ag, struct timespec *ts, int ms)
{
	struct pollfd pfd = {.fd = ag->rec_fd, .events = POLLIN};

	if (poll(&pfd, 1, ms) <= 0)
		return 0;
	return read(ag->rec_fd, ts, sizeof(*ts)) == (ssize_t)sizeof(*ts);
}

static uint64_t ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

/* A SET_TIME with a hand-made payload: the reply (1 OK, <0 ERROR with err) */
static int raw_set_time(struct agent *ag, const void *payload, size_t len, sm_error_t *err)
{
	int r;

	sm_error_clear(err);
	if (sm_agent_client_send(ag->c, SM_MSG_SET_TIME, 0, payload, len, err) < 0)
		return -1000;
	for (int i = 0; i < 1000; i++) {
		r = sm_agent_client_reply(ag->c, 0, NULL, err);
		if (r != 0)
			return r;
		if (sm_agent_client_step(ag->c, 100, err) < 0)
			return -1000;
	}
	return -1000;
}

static void put_time(struct sm_buf *b, uint64_t sec, uint64_t nsec)
{
	sm_tlv_put_u64(b, SM_TAG_TIME_SEC, sec);
	sm_tlv_put_u64(b, SM_TAG_TIME_NSEC, nsec);
}

static void test_round_trip(void)
{
	sm_error_t err = SM_ERROR_INIT;
	struct timespec before, after, got;
	struct agent ag;

	if (!agent_start(&ag, 0, false, NULL))
		return;
	for (int i = 0; i < 2; i++) {
		bool in_range;

		sm_error_clear(&err);
		clock_gettime(CLOCK_REALTIME, &before);
		ok(sm_agent_client_set_time(ag.c, TIMEOUT_MS, &err) == 0, "set_time #%d: OK (%s)", i + 1,
		   err.msg);
		clock_gettime(CLOCK_REALTIME, &after);
		memset(&got, 0, sizeof(got));
		in_range = recorded(&ag, &got, 2000) == 1 && ts_ns(&got) >= ts_ns(&before) &&
			   ts_ns(&got) <= ts_ns(&after);
		ok(in_range,
		   "set_time #%d: the agent sets the host's CLOCK_REALTIME (%lld.%09ld in [%lld.%09ld, "
		   "%lld.%09ld])",
		   i + 1, (long long)got.tv_sec, got.tv_nsec, (long long)before.tv_sec, before.tv_nsec,
		   (long long)after.tv_sec, after.tv_nsec);
	}
	ok(agent_stop(&ag) == 0, "round trip: the agent exited cleanly");
}

/* Every malformed payload is refused with EINVAL, the setter is not called, the agent goes on. */
static void test_validation(void)
{
	static const uint8_t truncated[] = {SM_TAG_TIME_SEC, 0, 8, 0, 0, 0, 1, 2, 3};
	struct {
		const char *what;
		uint64_t sec, nsec;
		int shape; /* 0 both fields, 1 SEC only, 2 NSEC only, 3 SEC twice */
	} values[] = {
	    {"seconds 0", 0, 0, 0},
	    {"seconds before 2020", SM_SET_TIME_MIN_SEC - 1, 0, 0},
	    {"seconds at 2200", SM_SET_TIME_MAX_SEC, 0, 0},
	    {"seconds UINT64_MAX", UINT64_MAX, 0, 0},
	    {"seconds INT64_MIN", (uint64_t)INT64_MIN, 0, 0},
	    {"nanoseconds 1e9", SM_SET_TIME_MIN_SEC, 1000000000u, 0},
	    {"nanoseconds UINT64_MAX", SM_SET_TIME_MIN_SEC, UINT64_MAX, 0},
	    {"no nanoseconds", SM_SET_TIME_MIN_SEC, 0, 1},
	    {"no seconds", SM_SET_TIME_MIN_SEC, 0, 2},
	    {"seconds twice", SM_SET_TIME_MIN_SEC, 0, 3},
	};
	sm_error_t err = SM_ERROR_INIT;
	struct timespec got;
	struct sm_buf b = {0};
	uint8_t filler[SM_SET_TIME_MAX_PAYLOAD];
	int oks = 0, errors = 0, bad = 0, r;
	struct agent ag;

	if (!agent_start(&ag, 0, false, NULL))
		return;
	r = raw_set_time(&ag, NULL, 0, &err);
	ok(r < 0 && err.code == EINVAL, "empty payload: ERROR EINVAL (%s)", err.msg);
	r = raw_set_time(&ag, truncated, sizeof(truncated), &err);
	ok(r < 0 && err.code == EINVAL, "truncated field: ERROR EINVAL (%s)", err.msg);
	sm_tlv_put_u32(&b, SM_TAG_TIME_SEC, 1700000000u);
	sm_tlv_put_u64(&b, SM_TAG_TIME_NSEC, 0);
	r = raw_set_time(&ag, b.data, b.len, &err);
	ok(r < 0 && err.code == EINVAL, "4-byte seconds: ERROR EINVAL (%s)", err.msg);
	b.len = 0;
	{
		uint8_t wide[16] = {0};
		sm_tlv_put(&b, SM_TAG_TIME_SEC, wide, sizeof(wide));
		sm_tlv_put_u64(&b, SM_TAG_TIME_NSEC, 0);
	}
	r = raw_set_time(&ag, b.data, b.len, &err);
	ok(r < 0 && err.code == EINVAL, "16-byte seconds: ERROR EINVAL (%s)", err.msg);
	for (size_t i = 0; i < SM_ARRAY_SIZE(values); i++) {
		b.len = 0;
		if (values[i].shape != 2)
			sm_tlv_put_u64(&b, SM_TAG_TIME_SEC, values[i].sec);
		if (values[i].shape != 1)
			sm_tlv_put_u64(&b, SM_TAG_TIME_NSEC, values[i].nsec);
		if (values[i].shape == 3)
			sm_tlv_put_u64(&b, SM_TAG_TIME_SEC, values[i].sec);
		r = raw_set_time(&ag, b.data, b.len, &err);
		ok(r < 0 && err.code == EINVAL, "%s: ERROR EINVAL (%s)", values[i].what, err.msg);
	}
	/* Valid fields padded with an unknown tag past the size limit. */
	memset(filler, 'x', sizeof(filler));
	b.len = 0;
	put_time(&b, SM_SET_TIME_MIN_SEC, 0);
	sm_tlv_put(&b, 999, filler, sizeof(filler) - b.len - 6 + 1);
	r = raw_set_time(&ag, b.data, b.len, &err);
	ok(r < 0 && err.code == EINVAL, "payload of %zu bytes: ERROR EINVAL (%s)", b.len, err.msg);
	ok(recorded(&ag, &got, 0) == 0, "the setter was never called for a refused payload");

	/* Limits that are valid, and an unknown field (skipped: a newer host may add some). */
	b.len = 0;
	put_time(&b, SM_SET_TIME_MIN_SEC, 999999999u);
	sm_tlv_put(&b, 999, filler, 100);
	r = raw_set_time(&ag, b.data, b.len, &err);
	ok(r == 1 && recorded(&ag, &got, 2000) == 1 && (uint64_t)got.tv_sec == SM_SET_TIME_MIN_SEC &&
	       got.tv_nsec == 999999999,
	   "2020-01-01 + 999999999 ns with an unknown field: OK, set exactly (%s)", err.msg);
	b.len = 0;
	put_time(&b, SM_SET_TIME_MAX_SEC - 1, 0);
	r = raw_set_time(&ag, b.data, b.len, &err);
	ok(r == 1 && recorded(&ag, &got, 2000) == 1 && (uint64_t)got.tv_sec == SM_SET_TIME_MAX_SEC - 1 &&
	       got.tv_nsec == 0,
	   "the last second before 2200: OK, set exactly (%s)", err.msg);

	/* Garbage: every one answered, anything accepted was in range, the connection stays up. */
	srand(4242);
	for (int i = 0; i < 2000; i++) {
		size_t len = (size_t)(rand() % 64);
		uint8_t junk[64];

		for (size_t j = 0; j < len; j++)
			junk[j] = (uint8_t)rand();
		/* Every other one a well-formed field header with one of our tags. */
		if (i % 2 == 0 && len >= 14) {
			junk[0] = (uint8_t)(SM_TAG_TIME_SEC + rand() % 2);
			junk[1] = 0;
			junk[2] = (uint8_t)(rand() % 2 ? 8 : rand() % 16);
			junk[3] = junk[4] = junk[5] = 0;
		}
		r = raw_set_time(&ag, junk, len, &err);
		if (r == 1) {
			oks++;
			if (recorded(&ag, &got, 2000) != 1 || (uint64_t)got.tv_sec < SM_SET_TIME_MIN_SEC ||
			    (uint64_t)got.tv_sec >= SM_SET_TIME_MAX_SEC || got.tv_nsec >= 1000000000)
				bad++;
		} else if (r < 0 && err.code == EINVAL) {
			errors++;
		} else {
			break;
		}
	}
	ok(oks + errors == 2000 && bad == 0,
	   "2000 random payloads: each answered, only in-range values set (%d OK, %d ERROR, %d bad)", oks,
	   errors, bad);
	ok(recorded(&ag, &got, 0) == 0, "no stray setter call");
	sm_error_clear(&err);
	ok(sm_agent_client_set_time(ag.c, TIMEOUT_MS, &err) == 0 && recorded(&ag, &got, 2000) == 1,
	   "then a real set_time still works (%s)", err.msg);
	sm_buf_free(&b);
	ok(agent_stop(&ag) == 0, "validation: the agent exited cleanly");
}

/* The setter's errno comes back as the request's error; the connection goes on. */
static void test_setter_fails(void)
{
	sm_error_t err = SM_ERROR_INIT;
	struct timespec got;
	uint32_t *pids = NULL;
	size_t n = 0;
	struct agent ag;

	if (!agent_start(&ag, EPERM, false, NULL))
		return;
	ok(sm_agent_client_set_time(ag.c, TIMEOUT_MS, &err) < 0 && err.code == EPERM &&
	       recorded(&ag, &got, 2000) == 1,
	   "a failing setter: ERROR EPERM (%s)", err.msg);
	sm_error_clear(&err);
	ok(sm_agent_client_ps(ag.c, &pids, &n, TIMEOUT_MS, &err) == 0, "PS still answered (%s)", err.msg);
	free(pids);
	ok(agent_stop(&ag) == 0, "setter failure: the agent exited cleanly");
}

/*
 * The real clock_settime, in an agent without CAP_SYS_TIME: EPERM, nothing set. binary: the
 * static musl sm-agent instead of the in-process agent.
 */
static void test_real_setter(const char *binary)
{
	const char *what = binary ? "the musl sm-agent" : "the agent";
	sm_error_t err = SM_ERROR_INIT;
	struct agent ag;
	int st;

	if (binary != NULL && access(binary, X_OK) != 0) {
		tap_skip("guest/agent/sm-agent not built");
		return;
	}
	if (!agent_start(&ag, -1, true, binary)) {
		st = agent_stop(&ag);
		if (st != EXIT_NO_DROP)
			ok(0, "the unprivileged agent exited with %d", st);
		else
			tap_skip("cannot run an agent without CAP_SYS_TIME here");
		return;
	}
	ok(sm_agent_client_set_time(ag.c, TIMEOUT_MS, &err) < 0 && err.code == EPERM,
	   "%s, clock_settime without CAP_SYS_TIME: ERROR EPERM (%s)", what, err.msg);
	ok(agent_stop(&ag) == 0, "real setter: %s exited cleanly", what);
}

/* An agent from before SET_TIME (no FEATURES in its HELLO): nothing is sent, EOPNOTSUPP, no harm. */
static void test_old_agent(void)
{
	sm_error_t err = SM_ERROR_INIT;
	struct sm_agent_client *c = NULL;
	struct sm_buf b = {0};
	uint8_t buf[256];
	size_t off;
	ssize_t got;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    sm_agent_client_new(sv[0], &c, &err) < 0) {
		ok(0, "socketpair: %s", err.msg);
		return;
	}
	ok(sm_agent_client_set_time(c, TIMEOUT_MS, &err) < 0 && err.code == ENOTCONN,
	   "before the handshake: ENOTCONN (%s)", err.msg);
	/* The HELLO and READY an older agent sends: VERSION and AGENT, no FEATURES. */
	off = sm_frame_begin(&b, SM_MSG_HELLO, 0);
	sm_tlv_put_u32(&b, SM_TAG_VERSION, SM_PROTO_VERSION);
	sm_tlv_put_str(&b, SM_TAG_AGENT, "sm-agent 1");
	sm_frame_end(&b, off);
	off = sm_frame_begin(&b, SM_MSG_READY, 0);
	sm_frame_end(&b, off);
	sm_write_all(sv[1], b.data, b.len);
	sm_error_clear(&err);
	ok(sm_agent_client_handshake(c, TIMEOUT_MS, &err) == 0, "handshake with an old agent (%s)", err.msg);
	ok(sm_agent_client_set_time(c, TIMEOUT_MS, &err) < 0 && err.code == EOPNOTSUPP,
	   "set_time: EOPNOTSUPP (%s)", err.msg);
	ok(sm_agent_client_step(c, 0, &err) == 0, "the client is not broken");
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	got = read(sv[1], buf, sizeof(buf));
	ok(got == SM_PROTO_HDR_SIZE + 10 && buf[4] == SM_MSG_HELLO && read(sv[1], buf, sizeof(buf)) < 0 &&
	       errno == EAGAIN,
	   "only the client's HELLO reached the old agent (%zd bytes)", got);
	sm_buf_free(&b);
	sm_agent_client_free(c);
	close(sv[1]);
}

int main(void)
{
	const char *builddir = getenv("SM_TOP_BUILDDIR");
	cleanup_free char *bin = sm_xasprintf("%s/guest/agent/sm-agent", builddir ? builddir : ".");

	signal(SIGPIPE, SIG_IGN);
	test_round_trip();
	test_validation();
	test_setter_fails();
	test_real_setter(NULL);
	test_real_setter(bin);
	test_old_agent();
	return tap_done();
}
