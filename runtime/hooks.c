/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "oci/names.h"
#include "runtime/hooks.h"
#include "runtime/log.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Bytes of each of stdout/stderr kept for the error message; the rest is read and dropped. */
#define HOOK_OUTPUT_MAX 4096
/* Without a pidfd, how often to check whether the hook exited (ms). */
#define HOOK_POLL_TICK_MS 10

struct hook_output {
	int fd;
	char buf[HOOK_OUTPUT_MAX + 1];
	size_t len;
	bool truncated;
};

struct hook_proc {
	pid_t pid;
	int pidfd;
	int in_fd;
	const char *input;
	size_t in_len, in_off;
	struct hook_output out[2]; /* stdout, stderr */
	int status;
};

const char *sm_hooks_kind_name(int kind)
{
	const char *name = sm_oci_name_of(sm_oci_hook_names, kind);

	return name != NULL ? name : "unknown";
}

/* Between fork and exec only async-signal-safe calls: the runtime may have other threads. */
static __attribute__((noreturn)) void hook_child(const char *path, char *const argv[], char *const envp[],
						 const int stdio[3], int report)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	int moved[3], i, e;
	sigset_t none;

	setpgid(0, 0);
	for (i = 1; i < NSIG; i++)
		sigaction(i, &dfl, NULL); /* EINVAL for SIGKILL, SIGSTOP and libc's own: harmless */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Move the pipe ends above 2 first: one of them may itself be 0-2 if the runtime's were closed. */
	for (i = 0; i < 3; i++)
		moved[i] = fcntl(stdio[i], F_DUPFD_CLOEXEC, 3);
	for (i = 0; i < 3; i++)
		if (moved[i] < 0 || dup2(moved[i], i) < 0)
			goto fail;
	/* The runtime's descriptors are O_CLOEXEC by convention; make sure no lock or socket leaks. */
	syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
	execve(path, argv, envp);
fail:
	e = errno;
	if (write(report, &e, sizeof(e)) < 0) {
		/* The parent sees a short report and an exit status of 127. */
	}
	_exit(127);
}

static char **hook_vector(const struct sm_oci_strv *sv, const char *fallback)
{
	size_t n = sv->n > 0 ? sv->n : (fallback != NULL ? 1 : 0), i;
	char **v = sm_xcalloc(n + 1, sizeof(*v));

	for (i = 0; i < n; i++)
		v[i] = sv->n > 0 ? sv->v[i] : (char *)fallback;
	return v;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Start the hook; on success p holds its pid and our ends of its stdio pipes. */
static int hook_spawn(const struct sm_oci_hook *h, const char *what, struct hook_proc *p, sm_error_t *err)
{
	cleanup_free char **argv = hook_vector(&h->args, h->path);
	cleanup_free char **envp = hook_vector(&h->env, NULL);
	int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1}, rep[2] = {-1, -1};
	int stdio[3], e = 0, rc = -1;
	ssize_t n;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    pipe2(rep, O_CLOEXEC) < 0) {
		rc = sm_error_set(err, errno, "%s: pipe", what);
		goto out;
	}
	stdio[0] = in[0], stdio[1] = out[1], stdio[2] = errp[1];
	pid = fork();
	if (pid < 0) {
		rc = sm_error_set(err, errno, "%s: fork", what);
		goto out;
	}
	if (pid == 0)
		hook_child(h->path, argv, envp, stdio, rep[1]);
	setpgid(pid, pid); /* also here, so that a timeout kill never races the child's own call */
	close_fd(&rep[1]);
	do
		n = read(rep[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		waitpid(pid, NULL, 0);
		rc = sm_error_set(err, n == sizeof(e) ? e : EIO, "%s: exec", what);
		goto out;
	}
	p->pid = pid;
	p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	p->in_fd = steal_fd(&in[1]);
	p->out[0].fd = steal_fd(&out[0]);
	p->out[1].fd = steal_fd(&errp[0]);
	set_nonblock(p->in_fd);
	set_nonblock(p->out[0].fd);
	set_nonblock(p->out[1].fd);
	rc = 0;
out:
	close_fd(&in[0]), close_fd(&in[1]), close_fd(&out[0]), close_fd(&out[1]);
	close_fd(&errp[0]), close_fd(&errp[1]), close_fd(&rep[0]), close_fd(&rep[1]);
	return rc;
}

static void hook_feed(struct hook_proc *p)
{
	ssize_t n = write(p->in_fd, p->input + p->in_off, p->in_len - p->in_off);

	if (n > 0)
		p->in_off += (size_t)n;
	/* EPIPE: the hook closed its stdin without reading it all, which the spec allows. */
	if ((n < 0 && errno != EAGAIN && errno != EINTR) || p->in_off == p->in_len)
		close_fd(&p->in_fd);
}

/* Read what is available; closes the fd at EOF. */
static void hook_drain(struct hook_output *o)
{
	char scratch[4096];
	ssize_t n;

	while (o->fd >= 0) {
		if (o->len < HOOK_OUTPUT_MAX)
			n = read(o->fd, o->buf + o->len, HOOK_OUTPUT_MAX - o->len);
		else
			n = read(o->fd, scratch, sizeof(scratch));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close_fd(&o->fd);
			return;
		}
		if (o->len < HOOK_OUTPUT_MAX)
			o->len += (size_t)n;
		else
			o->truncated = true;
	}
}

static bool hook_reap(struct hook_proc *p, bool block)
{
	pid_t r;

	do
		r = waitpid(p->pid, &p->status, block ? 0 : WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return false;
	if (r < 0)
		p->status = W_EXITCODE(127, 0); /* ECHILD: someone else reaped it (SIGCHLD ignored) */
	p->pid = -1;
	return true;
}

/* poll() timeout until deadline_ns (0 = none), at most cap_ms (-1 = no cap); -2 when it passed. */
static int poll_timeout(uint64_t deadline_ns, int cap_ms)
{
	uint64_t now, left_ms;

	if (deadline_ns == 0)
		return cap_ms;
	now = sm_now_ns();
	if (now >= deadline_ns)
		return -2;
	left_ms = (deadline_ns - now + 999999) / 1000000;
	if (cap_ms >= 0 && left_ms > (uint64_t)cap_ms)
		return cap_ms;
	return left_ms > INT_MAX ? INT_MAX : (int)left_ms;
}

/* Feed stdin and collect output until the hook exits; false when deadline_ns passed first. */
static bool hook_wait(struct hook_proc *p, uint64_t deadline_ns)
{
	struct pollfd pfd[4];
	int timeout_ms, i;

	for (;;) {
		if (p->pidfd < 0 && hook_reap(p, false))
			return true;
		timeout_ms = poll_timeout(deadline_ns, p->pidfd < 0 ? HOOK_POLL_TICK_MS : -1);
		if (timeout_ms == -2)
			return false;
		pfd[0] = (struct pollfd){.fd = p->in_fd, .events = POLLOUT};
		pfd[1] = (struct pollfd){.fd = p->out[0].fd, .events = POLLIN};
		pfd[2] = (struct pollfd){.fd = p->out[1].fd, .events = POLLIN};
		pfd[3] = (struct pollfd){.fd = p->pidfd, .events = POLLIN};
		if (poll(pfd, 4, timeout_ms) < 0)
			continue; /* EINTR; nothing else is possible with valid fds */
		if (pfd[0].revents)
			hook_feed(p);
		for (i = 0; i < 2; i++)
			if (pfd[1 + i].revents)
				hook_drain(&p->out[i]);
		if (pfd[3].revents && hook_reap(p, true))
			return true;
	}
}

static void output_trim(struct hook_output *o)
{
	while (o->len > 0 &&
	       (o->buf[o->len - 1] == '\n' || o->buf[o->len - 1] == ' ' || o->buf[o->len - 1] == '\t'))
		o->len--;
	o->buf[o->len] = '\0';
}

/* "; stdout: ...; stderr: ..." for the non-empty streams, into buf. */
static void output_suffix(struct hook_proc *p, char *buf, size_t size)
{
	static const char *const names[2] = {"stdout", "stderr"};
	size_t used = 0;
	int i, n;

	buf[0] = '\0';
	for (i = 0; i < 2; i++) {
		if (p->out[i].len == 0)
			continue;
		n = snprintf(buf + used, size - used, "; %s: %s%s", names[i], p->out[i].buf,
			     p->out[i].truncated ? "..." : "");
		if (n < 0 || (size_t)n >= size - used)
			return;
		used += (size_t)n;
	}
}

static int hook_run_one(const struct sm_oci_hook *h, const char *what, const char *state_json,
			sm_error_t *err)
{
	struct hook_proc p = {.pid = -1, .pidfd = -1, .in_fd = -1, .out = {{.fd = -1}, {.fd = -1}}};
	char suffix[2 * HOOK_OUTPUT_MAX + 64], sig[32];
	uint64_t deadline = 0;
	bool exited;
	int rc;

	p.input = state_json != NULL ? state_json : "";
	p.in_len = strlen(p.input);
	/* Beyond ~30 years the deadline would overflow; treat it as none. */
	if (h->timeout.set && h->timeout.val > 0 && h->timeout.val < 1000000000)
		deadline = sm_now_ns() + (uint64_t)h->timeout.val * 1000000000u;
	rc = hook_spawn(h, what, &p, err);
	if (rc < 0)
		return rc;
	if (p.in_len == 0)
		close_fd(&p.in_fd);
	exited = hook_wait(&p, deadline);
	if (!exited) {
		/* The group takes grandchildren (a shell's `sleep`) with it. */
		if (kill(-p.pid, SIGKILL) < 0)
			kill(p.pid, SIGKILL);
		hook_reap(&p, true);
	}
	close_fd(&p.in_fd);
	hook_drain(&p.out[0]);
	hook_drain(&p.out[1]);
	close_fd(&p.out[0].fd), close_fd(&p.out[1].fd), close_fd(&p.pidfd);
	output_trim(&p.out[0]);
	output_trim(&p.out[1]);
	output_suffix(&p, suffix, sizeof(suffix));
	if (!exited)
		return sm_error_set(err, 0, "%s timed out after %lld s and was killed%s", what,
				    (long long)h->timeout.val, suffix);
	if (WIFSIGNALED(p.status)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(p.status));

		if (abbrev != NULL)
			snprintf(sig, sizeof(sig), "SIG%s", abbrev);
		else
			snprintf(sig, sizeof(sig), "%d", WTERMSIG(p.status));
		return sm_error_set(err, 0, "%s was killed by signal %s%s", what, sig, suffix);
	}
	if (WEXITSTATUS(p.status) != 0)
		return sm_error_set(err, 0, "%s exited with status %d%s", what, WEXITSTATUS(p.status),
				    suffix);
	if (suffix[0] != '\0')
		sm_log(SM_LOG_DEBUG, "%s succeeded%s", what, suffix);
	return 0;
}

/* SIGPIPE blocked in this thread only; one raised by our writes is consumed before unblocking. */
struct sigpipe_guard {
	sigset_t old;
	bool was_pending;
};

static void sigpipe_block(struct sigpipe_guard *g)
{
	sigset_t set, pending;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigpending(&pending);
	g->was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void sigpipe_restore(struct sigpipe_guard *g)
{
	struct timespec zero = {0, 0};
	sigset_t set, pending;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigpending(&pending);
	if (!g->was_pending && sigismember(&pending, SIGPIPE))
		while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

int sm_hooks_run(const struct sm_oci_config *cfg, int kind, const char *state_json, sm_error_t *err)
{
	const struct sm_oci_hooklist *list;
	struct sigpipe_guard guard;
	sm_error_t one = SM_ERROR_INIT;
	char what[PATH_MAX + 64];
	bool keep_going;
	int rc = 0;
	size_t i;

	if (kind < 0 || kind >= SM_OCI_HOOK_NKINDS)
		return sm_error_set(err, 0, "invalid hook kind %d", kind);
	if (cfg == NULL || cfg->hooks[kind].n == 0)
		return 0;
	list = &cfg->hooks[kind];
	if (kind == SM_OCI_HOOK_START_CONTAINER)
		return sm_error_set(
		    err, 0,
		    "hooks.startContainer: not supported: these hooks run inside the container "
		    "(in the VM), where sm-runtime does not run hooks yet");
	keep_going = kind == SM_OCI_HOOK_POSTSTART || kind == SM_OCI_HOOK_POSTSTOP;
	sigpipe_block(&guard);
	for (i = 0; i < list->n; i++) {
		snprintf(what, sizeof(what), "%s hook #%zu (%s)", sm_hooks_kind_name(kind), i,
			 list->v[i].path != NULL ? list->v[i].path : "");
		if (list->v[i].path == NULL) {
			rc = sm_error_set(&one, 0, "%s: no path", what);
		} else {
			rc = hook_run_one(&list->v[i], what, state_json, &one);
		}
		if (rc < 0 && keep_going) {
			sm_log(SM_LOG_WARN, "%s", one.msg);
			sm_error_clear(&one);
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
	}
	sigpipe_restore(&guard);
	if (rc < 0 && err != NULL)
		*err = one;
	return rc;
}
