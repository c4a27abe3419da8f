/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sm-runtime run: create + start; in the foreground, wait for the container's monitor (a child of
 * this process), forward signals to it and exit with the container's status, then delete it.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/commands.h"

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

/* Relay one pending signal (if any) to the monitor, which passes it to the container. */
static void forward_signal(pid_t pid, int sfd)
{
	struct signalfd_siginfo si;

	if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si) && si.ssi_signo != SIGWINCH)
		kill(pid, (int)si.ssi_signo);
}

/* The monitor's exit as run's status: its exit code, or 128 + the signal that killed it. */
static int reap(pid_t pid, int flags)
{
	int status;
	pid_t w;

	do
		w = waitpid(pid, &status, flags);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return 255;
	if (w == 0)
		return -1; /* WNOHANG: still running */
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Kernels before 5.3 have no pidfd: check every 100 ms, relaying signals in between. */
static int wait_monitor_polling(pid_t pid, int sfd)
{
	for (;;) {
		struct pollfd p = {sfd, POLLIN, 0};
		int r = reap(pid, WNOHANG);

		if (r >= 0)
			return r;
		if (poll(&p, 1, 100) > 0)
			forward_signal(pid, sfd);
	}
}

/*
 * Wait for the monitor; signals to this process go to it, and it passes them to the container.
 * A pidfd becomes readable the moment the monitor exits, so run returns without polling delay.
 */
static int wait_monitor(pid_t pid, int sfd)
{
	cleanup_close int pfd = (int)syscall(SYS_pidfd_open, pid, 0);

	/* ENOSYS is the expected failure (old kernel, or a seccomp filter that denies it); anything
	 * else (EMFILE...) still must not leave the container unwaited for. */
	if (pfd < 0)
		return wait_monitor_polling(pid, sfd);
	for (;;) {
		struct pollfd p[2] = {{pfd, POLLIN, 0}, {sfd, POLLIN, 0}};
		int n = poll(p, 2, -1);

		if (n < 0 && errno != EINTR)
			return wait_monitor_polling(pid, sfd);
		if (n <= 0)
			continue;
		if (p[1].revents & POLLIN)
			forward_signal(pid, sfd);
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
			return reap(pid, 0);
	}
}

int cmd_run(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	static const struct option opts[] = {
	    SM_CREATE_OPTIONS,
	    {"detach", no_argument, NULL, 'd'},
	    {"keep", no_argument, NULL, 'K'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sm_create_opts o = {0};
	bool detach = false, keep = false, raw = false;
	struct termios saved;
	sigset_t set, old;
	cleanup_close int sfd = -1;
	pid_t pid;
	int c, r, status;

	while ((c = getopt_long(argc, argv, "+b:dh", opts, NULL)) != -1) {
		if (c == 'd' || c == 'K') {
			*(c == 'd' ? &detach : &keep) = true;
			continue;
		}
		if (c == 'h') {
			printf("usage: sm-runtime run [--detach] [--keep] [create options] ID\n\n"
			       "Create and start a container. In the foreground, relay its stdio (or "
			       "terminal),\n"
			       "exit with its status and delete it unless --keep.\n");
			return 0;
		}
		if ((r = sm_parse_create_opt(c, &o, err)) < 0)
			return r;
		if (r > 0)
			return sm_error_set(err, 0, "unknown option `%s` (see sm-runtime run --help)",
					    argv[optind - 1]);
	}
	if (optind != argc - 1)
		return sm_error_set(err, 0, "run needs exactly one container id");
	o.id = argv[optind];
	o.foreground = !detach;
	/* Blocked before the monitor is forked; it unblocks what it needs itself. */
	sigemptyset(&set);
	for (size_t i = 0; i < SM_ARRAY_SIZE(forwarded); i++)
		sigaddset(&set, forwarded[i]);
	if (!detach) {
		sigprocmask(SIG_BLOCK, &set, &old);
		sfd = signalfd(-1, &set, SFD_CLOEXEC);
	}
	if ((r = sm_create_container(g, &o, &pid, err)) < 0)
		goto out;
	if ((r = sm_start_container(g, o.id, err)) < 0) {
		(void)sm_delete_container(g, o.id, true, NULL);
		goto out;
	}
	if (detach) {
		r = 0;
		goto out;
	}
	if (o.terminal && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
		struct termios t = saved;
		/* The guest's line discipline interprets the keys. */
		cfmakeraw(&t);
		raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
	}
	status = wait_monitor(pid, sfd);
	if (raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	if (!keep && (r = sm_delete_container(g, o.id, true, err)) < 0)
		goto out;
	r = status;
out:
	if (!detach)
		sigprocmask(SIG_SETMASK, &old, NULL);
	return r;
}
