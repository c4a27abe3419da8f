/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/console-socket: a pty pair, and its master handed over a real --console-socket. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/console-socket.h"
#include "tests/tap.h"

static char dir[] = "/tmp/sm-console-test-XXXXXX";

static int listen_at(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 4) < 0)
		return -1;
	return fd;
}

/* Receive like go-runc's ReceiveMaster: one recvmsg, a 4096-byte name buffer, one fd. */
static int receive(int lfd, char *name, size_t size, int *nfds, ssize_t *extra)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} ctl;
	struct iovec iov = {name, size - 1};
	struct msghdr msg = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl)};
	struct cmsghdr *c;
	cleanup_close int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	int fd = -1;
	char more;
	ssize_t n;

	*nfds = 0;
	if (conn < 0)
		return -1;
	n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -1;
	name[n] = '\0';
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			*nfds += (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
		}
	}
	/* The sender closed after its one message: the next read is EOF. */
	*extra = read(conn, &more, 1);
	return fd;
}

static void test_pty(void)
{
	cleanup_close int m = -1;
	cleanup_close int s = -1;
	cleanup_free char *name = NULL;
	sm_error_t err = SM_ERROR_INIT;
	int fl;

	ok(sm_pty_open(&m, &s, &name, &err) == 0, "sm_pty_open: %s", err.msg);
	ok(m >= 0 && s >= 0 && name != NULL && strncmp(name, "/dev/pts/", 9) == 0, "pty name %s", name);
	fl = fcntl(m, F_GETFD);
	ok(fl >= 0 && (fl & FD_CLOEXEC), "master is close-on-exec");
	fl = fcntl(s, F_GETFD);
	ok(fl >= 0 && (fl & FD_CLOEXEC), "slave is close-on-exec");
	ok(isatty(s) && isatty(m), "both ends are terminals");
}

static void test_send(void)
{
	cleanup_free char *sock = sm_xasprintf("%s/console.sock", dir);
	cleanup_free char *name = NULL;
	cleanup_close int lfd = -1;
	cleanup_close int m = -1;
	cleanup_close int s = -1;
	cleanup_close int got = -1;
	sm_error_t err = SM_ERROR_INIT;
	char rname[4097], buf[64];
	struct termios tio;
	struct pollfd pfd;
	struct stat a, b;
	ssize_t extra, n;
	size_t have = 0;
	int nfds;

	lfd = listen_at(sock);
	ok(lfd >= 0, "listening on %s", sock);
	ok(sm_pty_open(&m, &s, &name, &err) == 0, "pty: %s", err.msg);
	/* Raw mode on the slave, so bytes pass through unchanged. */
	tcgetattr(s, &tio);
	cfmakeraw(&tio);
	tcsetattr(s, TCSANOW, &tio);
	ok(sm_console_socket_send(sock, m, name, &err) == 0, "send: %s", err.msg);
	got = receive(lfd, rname, sizeof(rname), &nfds, &extra);
	ok(got >= 0 && nfds == 1, "exactly one fd received (%d)", nfds);
	ok(strcmp(rname, name) == 0, "payload is the pty name: %s", rname);
	ok(extra == 0, "no more data, connection closed (read returned %zd)", extra);
	ok(fstat(got, &a) == 0 && fstat(m, &b) == 0 && a.st_rdev == b.st_rdev && a.st_ino == b.st_ino,
	   "the received fd is our master");
	ok(fcntl(m, F_GETFD) >= 0, "the sender keeps its master open");
	ok(write(s, "hello", 5) == 5, "write to the slave");
	pfd = (struct pollfd){.fd = got, .events = POLLIN};
	while (have < 5 && poll(&pfd, 1, 2000) > 0) {
		n = read(got, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
	ok(strcmp(buf, "hello") == 0, "read it back from the received master: \"%s\"", buf);
	ok(write(got, "back", 4) == 4, "write to the received master");
	pfd = (struct pollfd){.fd = s, .events = POLLIN};
	have = 0;
	while (have < 4 && poll(&pfd, 1, 2000) > 0) {
		n = read(s, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
	ok(strcmp(buf, "back") == 0, "the slave reads it: \"%s\"", buf);
}

static void test_long_path(void)
{
	cleanup_free char *deep = NULL;
	cleanup_free char *sock = NULL;
	cleanup_free char *name = NULL;
	cleanup_close int lfd = -1;
	cleanup_close int m = -1;
	cleanup_close int s = -1;
	cleanup_close int got = -1;
	cleanup_close int dfd = -1;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	sm_error_t err = SM_ERROR_INIT;
	char rname[4097];
	ssize_t extra;
	int nfds;

	deep = sm_xasprintf("%s/%0100d", dir, 0);
	ok(mkdir(deep, 0700) == 0, "deep directory");
	sock = sm_xasprintf("%s/console-with-a-long-name.sock", deep);
	ok(strlen(sock) >= sizeof(addr.sun_path), "socket path is %zu bytes, over sun_path", strlen(sock));
	/* bind() it through the same /proc trick, since the path itself does not fit. */
	dfd = open(deep, O_PATH | O_DIRECTORY | O_CLOEXEC);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/console-with-a-long-name.sock", dfd);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ok(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) == 0 && listen(lfd, 1) == 0, "listening");
	ok(sm_pty_open(&m, &s, &name, &err) == 0, "pty: %s", err.msg);
	ok(sm_console_socket_send(sock, m, name, &err) == 0, "send over a long path: %s", err.msg);
	got = receive(lfd, rname, sizeof(rname), &nfds, &extra);
	ok(got >= 0 && nfds == 1 && strcmp(rname, name) == 0, "received fd and name");
}

static void test_errors(void)
{
	cleanup_free char *missing = sm_xasprintf("%s/nope.sock", dir);
	cleanup_free char *plain = sm_xasprintf("%s/plain-file", dir);
	cleanup_free char *sock = sm_xasprintf("%s/closed.sock", dir);
	cleanup_free char *name = NULL;
	cleanup_close int m = -1;
	cleanup_close int s = -1;
	sm_error_t err = SM_ERROR_INIT;
	int rc, lfd;

	ok(sm_pty_open(&m, &s, &name, &err) == 0, "pty: %s", err.msg);
	rc = sm_console_socket_send(missing, m, name, &err);
	ok(rc < 0 && err.code == ENOENT && strstr(err.msg, "--console-socket") && strstr(err.msg, missing),
	   "missing socket: %s", err.msg);
	sm_error_clear(&err);
	sm_write_file_atomic(plain, "x", 1, 0644, NULL);
	rc = sm_console_socket_send(plain, m, name, &err);
	ok(rc < 0 && err.code == ECONNREFUSED && strstr(err.msg, "--console-socket"), "not a socket: %s",
	   err.msg);
	sm_error_clear(&err);
	/* A socket whose listener is gone. */
	lfd = listen_at(sock);
	close(lfd);
	rc = sm_console_socket_send(sock, m, name, &err);
	ok(rc < 0 && err.code == ECONNREFUSED, "stale socket: %s", err.msg);
	sm_error_clear(&err);
	rc = sm_console_socket_send(sock, m, "", &err);
	ok(rc < 0 && strstr(err.msg, "--console-socket"), "empty name refused: %s", err.msg);
	sm_error_clear(&err);
	rc = sm_console_socket_send("", m, name, &err);
	ok(rc < 0 && strstr(err.msg, "--console-socket"), "empty path refused: %s", err.msg);
}

int main(void)
{
	cleanup_free char *rm = NULL;
	int fd = posix_openpt(O_RDWR | O_NOCTTY);

	if (fd < 0)
		tap_skip_all("no pseudo-terminals here (posix_openpt failed)");
	close(fd);
	tap_mkdtemp(dir);
	test_pty();
	test_send();
	test_long_path();
	test_errors();
	rm = sm_xasprintf("rm -rf '%s'", dir);
	if (system(rm) != 0)
		tap_diag("could not remove %s", dir);
	return tap_done();
}
