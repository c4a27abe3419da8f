/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/console-socket.h"

/* Receivers (go-runc's ReceiveMaster, conmon) read the name into a buffer of this size. */
#define CONSOLE_NAME_MAX 4096

int sm_pty_open(int *master, int *slave, char **name, sm_error_t *err)
{
	cleanup_close int m = -1;
	cleanup_close int s = -1;
	char path[128];
	int rc;

	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return sm_error_set(err, errno, "terminal: posix_openpt");
	if (grantpt(m) < 0)
		return sm_error_set(err, errno, "terminal: grantpt");
	if (unlockpt(m) < 0)
		return sm_error_set(err, errno, "terminal: unlockpt");
	rc = ptsname_r(m, path, sizeof(path));
	if (rc != 0)
		return sm_error_set(err, rc, "terminal: ptsname");
	s = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0)
		return sm_error_set(err, errno, "terminal: open %s", path);
	*name = sm_xstrdup(path);
	*master = steal_fd(&m);
	*slave = steal_fd(&s);
	return 0;
}

/*
 * Connect to path; when it does not fit in sun_path (108 bytes, easy to exceed under a deep
 * containerd state directory), connect to /proc/self/fd/<dir>/<base> instead, which names the
 * same socket through a descriptor of its directory.
 */
static int console_connect(int sock, const char *path, sm_error_t *err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	cleanup_free char *dir_copy = NULL;
	cleanup_free char *base_copy = NULL;
	cleanup_close int dirfd = -1;
	int n;

	if (strlen(path) < sizeof(addr.sun_path)) {
		memcpy(addr.sun_path, path, strlen(path) + 1);
	} else {
		dir_copy = sm_xstrdup(path);
		base_copy = sm_xstrdup(path);
		dirfd = open(dirname(dir_copy), O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0)
			return sm_error_set(err, errno, "--console-socket %s: open its directory", path);
		n = snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/%s", dirfd,
			     basename(base_copy));
		if (n < 0 || (size_t)n >= sizeof(addr.sun_path))
			return sm_error_set(err, ENAMETOOLONG, "--console-socket %s", path);
	}
	if (connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return sm_error_set(err, errno, "--console-socket %s: connect", path);
	return 0;
}

int sm_console_socket_send(const char *socket_path, int master_fd, const char *name, sm_error_t *err)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov;
	struct msghdr msg = {0};
	struct cmsghdr *cmsg;
	cleanup_close int sock = -1;
	size_t name_len;
	ssize_t n;
	int rc;

	if (socket_path == NULL || socket_path[0] == '\0')
		return sm_error_set(err, 0, "--console-socket: empty path");
	name_len = name != NULL ? strlen(name) : 0;
	if (name_len == 0 || name_len > CONSOLE_NAME_MAX)
		return sm_error_set(err, 0, "--console-socket %s: invalid terminal name length %zu",
				    socket_path, name_len);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return sm_error_set(err, errno, "--console-socket %s: socket", socket_path);
	rc = console_connect(sock, socket_path, err);
	if (rc < 0)
		return rc;

	memset(&ctl, 0, sizeof(ctl));
	iov.iov_base = (void *)name;
	iov.iov_len = name_len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &master_fd, sizeof(int));
	do {
		/* MSG_NOSIGNAL: a receiver that already went away is an error, not a SIGPIPE. */
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return sm_error_set(err, errno, "--console-socket %s: send the terminal", socket_path);
	if ((size_t)n != name_len)
		return sm_error_set(err, EIO, "--console-socket %s: short send (%zd of %zu bytes)",
				    socket_path, n, name_len);
	return 0;
}
