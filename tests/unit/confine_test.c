/* SPDX-License-Identifier: Apache-2.0 */
/* VMM confinement: allowed system calls work, forbidden ones kill the process; capabilities drop. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/confine.h"
#include "tests/tap.h"

static void *thread_main(void *arg)
{
	return arg;
}

/* In a child: confine, run the allowed work, then `forbidden`; report by exit status. */
enum { DO_NOTHING, DO_EXECVE, DO_FORK, DO_INET_SOCKET, DO_MOUNT_NS };

static int child(int what, bool debug)
{
	struct sm_confine_opts o = {.debug = debug};
	sm_error_t err = SM_ERROR_INIT;
	pthread_t t;
	char buf[16];
	int fd, sv[2];

	if (sm_confine_caps(&err) < 0 || sm_confine_seccomp(&o, &err) < 0) {
		fprintf(stderr, "confine: %s\n", err.msg);
		return 10;
	}
	/* Allowed: files, threads, Unix sockets, pipes. */
	fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, buf, sizeof(buf)) <= 0)
		return 11;
	close(fd);
	if (pthread_create(&t, NULL, thread_main, NULL) != 0 || pthread_join(t, NULL) != 0)
		return 12;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || socket(AF_UNIX, SOCK_DGRAM, 0) < 0)
		return 13;
	switch (what) {
	case DO_EXECVE:
		execl("/bin/true", "true", (char *)NULL);
		return 20;
	case DO_FORK:
		if (fork() == 0)
			_exit(0);
		return 21;
	case DO_INET_SOCKET:
		socket(AF_INET, SOCK_STREAM, 0);
		return 22;
	case DO_MOUNT_NS:
		unshare(0x00020000 /* CLONE_NEWNS */);
		return 23;
	}
	return 0;
}

static int run(int what, bool debug, char *errbuf, size_t n)
{
	int p[2], status;
	pid_t pid;

	if (pipe(p) < 0)
		abort();
	pid = fork();
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		_exit(child(what, debug));
	}
	close(p[1]);
	ssize_t got = read(p[0], errbuf, n - 1);
	errbuf[got > 0 ? got : 0] = '\0';
	close(p[0]);
	waitpid(pid, &status, 0);
	return status;
}

static unsigned long long cap_eff_of_child(void)
{
	int p[2], status;
	pid_t pid;
	char buf[4096];

	if (pipe(p) < 0)
		abort();
	pid = fork();
	if (pid == 0) {
		sm_error_t err = SM_ERROR_INIT;
		FILE *f;
		char line[256];
		close(p[0]);
		if (sm_confine_caps(&err) < 0)
			_exit(1);
		f = fopen("/proc/self/status", "r");
		while (f && fgets(line, sizeof(line), f))
			if (strncmp(line, "CapEff:", 7) == 0 || strncmp(line, "CapBnd:", 7) == 0)
				(void)!write(p[1], line, strlen(line));
		_exit(0);
	}
	close(p[1]);
	ssize_t n = read(p[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(p[0]);
	waitpid(pid, &status, 0);
	printf("# %s", buf);
	char *e = strstr(buf, "CapEff:");
	return e ? strtoull(e + 7, NULL, 16) : ~0ull;
}

int main(void)
{
	char msg[512];
	int st;

#if defined(__SANITIZE_ADDRESS__)
	tap_skip_all("sanitizer builds do not install the seccomp filter (LeakSanitizer's exit-time tracer); "
		     "the -Werror build tests it");
#endif

	st = run(DO_NOTHING, false, msg, sizeof(msg));
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "allowed system calls work under the filter (status %#x) %s", st,
	   msg);
	st = run(DO_EXECVE, false, msg, sizeof(msg));
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "execve kills the process with SIGSYS (status %#x)", st);
	st = run(DO_FORK, false, msg, sizeof(msg));
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "fork (clone without CLONE_THREAD) kills (status %#x)", st);
	st = run(DO_INET_SOCKET, false, msg, sizeof(msg));
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "an AF_INET socket kills (status %#x)", st);
	st = run(DO_MOUNT_NS, false, msg, sizeof(msg));
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "unshare kills (status %#x)", st);
	st = run(DO_EXECVE, true, msg, sizeof(msg));
	ok(WIFSIGNALED(st) && strstr(msg, "forbidden system call execve") != NULL,
	   "with debug the syscall is named before the kill: %s", msg);
	if (geteuid() == 0) {
		unsigned long long eff = cap_eff_of_child();
		/* chown 0, dac_override 1, dac_read_search 2, fowner 3, fsetid 4, mknod 27, setfcap 31 */
		unsigned long long want = (1ull << 0) | (1ull << 1) | (1ull << 2) | (1ull << 3) | (1ull << 4) |
					  (1ull << 27) | (1ull << 31);
		ok((eff & ~want) == 0, "only the file capabilities stay effective (%#llx)", eff);
	} else {
		ok(1, "# SKIP capability drop needs root");
	}
	return tap_done();
}
