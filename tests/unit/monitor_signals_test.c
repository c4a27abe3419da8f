/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime/monitor.h's fork-time signal handling, with real processes: a monitor that is the init
 * of its own pid namespace (where the kernel drops default-action signals) ends on a SIGTERM sent
 * right after the fork, before it could set anything up. And monitor-proto.h's agent timeouts,
 * which scale with SM_BOOT_TIMEOUT_S.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/monitor-proto.h"
#include "runtime/monitor.h"
#include "tests/tap.h"

/* waitpid with a deadline: the status, or -1 (and the child killed) when it did not end. */
static int wait_for(pid_t pid, int seconds)
{
	struct timespec pause = {0, 10 * 1000 * 1000};
	int status;

	for (int i = 0; i < seconds * 100; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		nanosleep(&pause, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* Fork a stand-in monitor (it only waits) as the monitor is forked; SIGTERM it at once. */
static int early_sigterm(bool handled)
{
	sigset_t old;
	pid_t pid;

	sm_monitor_fork_signals(&old);
	pid = fork();
	if (pid == 0) {
		if (handled)
			sm_monitor_child_signals();
		else
			sigprocmask(SIG_SETMASK, &old, NULL);
		for (;;)
			pause();
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		return -1;
	kill(pid, SIGTERM);
	return wait_for(pid, handled ? 10 : 1);
}

/*
 * early_sigterm() from a process of its own that first unshares a pid namespace, so the stand-in
 * monitor is its init (one namespace each: an init's exit ends it). 0: it ended with 128+SIGTERM,
 * 1: it did not end, 2: ended otherwise, 3: no pid namespace here.
 */
static int in_pid_ns(bool handled)
{
	pid_t helper = fork();
	int status;

	if (helper == 0) {
		if (unshare(CLONE_NEWPID) < 0)
			_exit(3);
		status = early_sigterm(handled);
		_exit(status == -1 ? 1 : WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGTERM ? 0 : 2);
	}
	if (helper < 0 || waitpid(helper, &status, 0) != helper || !WIFEXITED(status))
		return 2;
	return WEXITSTATUS(status);
}

static void test_signals(void)
{
	int r = in_pid_ns(true);

	if (r == 3) {
		tap_skip("no pid namespace here (unshare needs CAP_SYS_ADMIN): the signal tests");
		return;
	}
	ok(r == 0, "an early SIGTERM ends a monitor that is a pid namespace's init (%d)", r);
	/* What the handler is there for: without it the same SIGTERM is dropped. */
	ok(in_pid_ns(false) == 1, "without the handler such an init ignores it (the case being fixed)");
}

static void test_timeouts(void)
{
	const int64_t s = 1000000000;

	ok(sm_mon_agent_timeout_ms(600 * s) == 120000, "agent timeout at the default boot timeout: 120 s");
	ok(sm_mon_agent_timeout_ms(30 * s) == 120000 && sm_mon_agent_timeout_ms(-1) == 120000,
	   "never below 120 s");
	ok(sm_mon_agent_timeout_ms(900 * s) == 180000, "SM_BOOT_TIMEOUT_S=900: 180 s");
	ok(sm_mon_agent_timeout_ms(86400 * s) == 17280000, "the largest boot timeout: %d ms",
	   sm_mon_agent_timeout_ms(86400 * s));
	unsetenv("SM_BOOT_TIMEOUT_S");
	ok(sm_mon_call_timeout_ms() == 180000, "client: 60 s over the monitor's by default");
	setenv("SM_BOOT_TIMEOUT_S", "900", 1);
	ok(sm_mon_call_timeout_ms() == 240000, "client with SM_BOOT_TIMEOUT_S=900: %d ms",
	   sm_mon_call_timeout_ms());
	setenv("SM_BOOT_TIMEOUT_S", "x", 1);
	ok(sm_mon_call_timeout_ms() == 180000, "an invalid SM_BOOT_TIMEOUT_S is the default");
}

int main(void)
{
	test_timeouts();
	test_signals();
	return tap_done();
}
