/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test of the guest init's control channel (guest/init/control.c) on a real pseudo-terminal:
 * the pty slave stands in for the guest's ttyS1, the master for the VMM's end of the wire.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "guest/init/control.h"
#include "tests/tap.h"

/* Read what arrived on the master within a short time, NUL-terminated. */
static size_t drain(int master, char *buf, size_t size)
{
	size_t n = 0;
	struct pollfd p = {.fd = master, .events = POLLIN};

	while (n + 1 < size && poll(&p, 1, 200) == 1) {
		ssize_t r = read(master, buf + n, size - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	return n;
}

int main(void)
{
	sm_error_t err = SM_ERROR_INIT;
	struct termios tio;
	char buf[128];
	int master, fd;

	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
		tap_skip_all("no pseudo-terminals (posix_openpt) on this host");

	fd = sm_control_open(ptsname(master), &err);
	if (!ok(fd >= 0, "open the control channel on a pty"))
		tap_diag("%s", err.msg);
	ok(tcgetattr(fd, &tio) == 0 && !(tio.c_oflag & OPOST) && !(tio.c_lflag & (ICANON | ECHO)),
	   "the channel is in raw mode (no output processing, no echo)");

	ok(sm_control_ready(fd, &err) == 0, "send SM-READY");
	drain(master, buf, sizeof(buf));
	if (!ok(strcmp(buf, "SM-READY\n") == 0, "the VMM end reads exactly \"SM-READY\\n\""))
		tap_diag("got %zu bytes", strlen(buf));

	ok(sm_control_exit(fd, 137, &err) == 0, "send SM-EXIT 137");
	drain(master, buf, sizeof(buf));
	if (!ok(strcmp(buf, "SM-EXIT 137\n") == 0, "the VMM end reads exactly \"SM-EXIT 137\\n\""))
		tap_diag("got %zu bytes", strlen(buf));

	close(fd);
	sm_error_clear(&err);
	ok(sm_control_open("/nonexistent/ttyS1", &err) < 0 && err.code == ENOENT &&
	       strstr(err.msg, "/nonexistent/ttyS1") != NULL,
	   "a missing device is an error naming it: %s", err.msg);
	sm_error_clear(&err);
	ok(sm_control_ready(-1, &err) < 0 && sm_error_isset(&err), "a write failure is reported");
	close(master);
	return tap_done();
}
