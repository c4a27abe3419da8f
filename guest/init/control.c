/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "guest/init/control.h"

int sm_control_open(const char *path, sm_error_t *err)
{
	cleanup_close int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	struct termios tio;

	if (fd < 0)
		return sm_error_set(err, errno, "open control channel %s", path);
	if (tcgetattr(fd, &tio) < 0)
		return sm_error_set(err, errno, "tcgetattr %s", path);
	cfmakeraw(&tio);
	if (tcsetattr(fd, TCSANOW, &tio) < 0)
		return sm_error_set(err, errno, "tcsetattr %s", path);
	return steal_fd(&fd);
}

static int write_line(int fd, const char *line, size_t len, sm_error_t *err)
{
	while (len > 0) {
		ssize_t n = write(fd, line, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return sm_error_set(err, n < 0 ? errno : EIO, "write to the control channel");
		line += n;
		len -= (size_t)n;
	}
	return 0;
}

int sm_control_ready(int fd, sm_error_t *err)
{
	static const char msg[] = "SM-READY\n";

	return write_line(fd, msg, sizeof(msg) - 1, err);
}

int sm_control_exit(int fd, int status, sm_error_t *err)
{
	char msg[32];
	int len = snprintf(msg, sizeof(msg), "SM-EXIT %d\n", status);
	int r = write_line(fd, msg, (size_t)len, err);

	if (r < 0)
		return r;
	while (tcdrain(fd) < 0) {
		if (errno != EINTR)
			return sm_error_set(err, errno, "tcdrain on the control channel");
	}
	return 0;
}
