/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sm-init: PID 1 of the sm-runtime guest, a static binary at /init in the initramfs.
 *
 * It mounts /proc, /sys and /dev (devtmpfs), takes the command from the kernel command line
 * (sm.cmd=<base64 of the shell command text>), runs it as `/bin/sh -c <cmd>` on /dev/console,
 * and reports on the control channel (control.h): "SM-READY" before the command runs and
 * "SM-EXIT <status>" after it ended, then reboots, which stops the VMM (reboot=t panic=-1).
 * Without sm.cmd it reports exit status 0, or runs an interactive /bin/sh when sm.shell is given.
 * With sm.agent (and no sm.cmd) it becomes the container agent (guest/agent/agent.h) after
 * SM-READY and powers off when the host sends SHUTDOWN.
 *
 * Guest kernel code is slow where the host is kvm_pvm (every system call is emulated), so init
 * makes as few system calls as it can and writes nothing to the console unless something fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "guest/init/cmdline.h"
#include "common/proto-tags.h"
#include "guest/agent/agent.h"
#include "guest/init/control.h"

#define CONSOLE "/dev/console"
#define SHELL "/bin/sh"
/* What a shell reports when it cannot run a command; used for every failure to start one. */
#define STATUS_CANNOT_RUN 127
/* x86 COMMAND_LINE_SIZE is 2048; leave room in case it grows. */
#define CMDLINE_MAX 8192

static char *const shell_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/",
    "TERM=linux",
    NULL,
};

/* What to run, from the kernel command line. */
struct init_request {
	char *cmd;  /* decoded sm.cmd, or NULL */
	bool shell; /* sm.shell: interactive /bin/sh when there is no sm.cmd */
	bool agent; /* sm.agent: serve the host's agent protocol on vsock (guest/agent) */
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	fputs("sm-init: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int mount_one(const char *source, const char *target, const char *type, unsigned long flags,
		     const char *data, sm_error_t *err)
{
	/* The initramfs has the mount points; create one only when it is missing. */
	if (mount(source, target, type, flags, data) == 0 || errno == EBUSY)
		return 0;
	if (errno != ENOENT)
		return sm_error_set(err, errno, "mount %s on %s", type, target);
	if (mkdir(target, 0755) < 0)
		return sm_error_set(err, errno, "mkdir %s", target);
	if (mount(source, target, type, flags, data) < 0)
		return sm_error_set(err, errno, "mount %s on %s", type, target);
	return 0;
}

/* Mount what every later step needs; a failure is reported and the next mount still tried. */
static void mount_basic(void)
{
	static const struct {
		const char *type, *target, *data;
		unsigned long flags;
	} mounts[] = {
	    {"proc", "/proc", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC},
	    {"sysfs", "/sys", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC},
	    {"devtmpfs", "/dev", "mode=0755", MS_NOSUID},
	};

	for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
		sm_error_t err = SM_ERROR_INIT;

		if (mount_one(mounts[i].type, mounts[i].target, mounts[i].type, mounts[i].flags,
			      mounts[i].data, &err) < 0)
			say("%s", err.msg);
	}
}

/* Make /dev/console stdin, stdout and stderr. */
static int reopen_console(sm_error_t *err)
{
	cleanup_close int fd = open(CONSOLE, O_RDWR | O_NOCTTY);

	if (fd < 0)
		return sm_error_set(err, errno, "open %s", CONSOLE);
	for (int i = 0; i < 3; i++) {
		if (dup2(fd, i) < 0)
			return sm_error_set(err, errno, "dup2 %s to fd %d", CONSOLE, i);
	}
	return 0;
}

/*
 * The kernel gives init /dev/console as fds 0-2 when the initramfs has the device node; without
 * it, open it now that devtmpfs is mounted. With raw_output the tty passes the command's output
 * unchanged: no OPOST (no "\n" -> "\r\n") and no echo of the input into the output. Input stays
 * canonical with signals, so the VMM can send ^D for end of input and ^C for SIGINT.
 */
static int setup_console(bool raw_output, sm_error_t *err)
{
	struct termios tio;
	int r;

	if (tcgetattr(0, &tio) < 0) {
		r = reopen_console(err);
		if (r < 0)
			return r;
		if (tcgetattr(0, &tio) < 0)
			return sm_error_set(err, errno, "tcgetattr %s", CONSOLE);
	}
	if (!raw_output)
		return 0;
	tio.c_oflag &= ~(tcflag_t)OPOST;
	tio.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL | ECHOCTL | ECHOKE);
	if (tcsetattr(0, TCSANOW, &tio) < 0)
		return sm_error_set(err, errno, "tcsetattr %s", CONSOLE);
	return 0;
}

static int read_cmdline(char *buf, size_t size, sm_error_t *err)
{
	cleanup_close int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	size_t n = 0;

	if (fd < 0)
		return sm_error_set(err, errno, "open /proc/cmdline");
	while (n + 1 < size) {
		ssize_t r = read(fd, buf + n, size - 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return sm_error_set(err, errno, "read /proc/cmdline");
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	return 0;
}

/* Fill req from the kernel command line. Returns 0, or <0 with err set when sm.cmd is malformed. */
static int parse_request(const char *cmdline, struct init_request *req, sm_error_t *err)
{
	const char *value;
	size_t len;
	long n;

	req->cmd = NULL;
	req->shell = sm_init_cmdline_find(cmdline, "sm.shell", &value, &len) == 1;
	req->agent = sm_init_cmdline_find(cmdline, "sm.agent", &value, &len) == 1;
	if (sm_init_cmdline_find(cmdline, "sm.cmd", &value, &len) != 1)
		return 0;
	if (value == NULL)
		return sm_error_set(err, 0, "sm.cmd has no value");
	req->cmd = malloc(len / 4 * 3 + 3);
	if (req->cmd == NULL)
		return sm_error_set(err, ENOMEM, "decode sm.cmd");
	n = sm_init_base64_decode(value, len, req->cmd, len / 4 * 3 + 3, err);
	if (n < 0) {
		free(req->cmd);
		req->cmd = NULL;
		return sm_error_prefix(err, "sm.cmd: ");
	}
	return 0;
}

/*
 * Start the command in a child: its own session with the console as controlling terminal (so
 * ^C and job control reach it), default signal mask. cmd NULL runs an interactive shell.
 * Returns the child's pid, or <0 with err set.
 */
static pid_t spawn_shell(const char *cmd, sm_error_t *err)
{
	char *argv_cmd[] = {"sh", "-c", (char *)cmd, NULL};
	char *argv_shell[] = {"sh", NULL};
	pid_t pid = fork();
	sigset_t none;

	if (pid < 0)
		return sm_error_set(err, errno, "fork");
	if (pid > 0)
		return pid;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() < 0 || ioctl(0, TIOCSCTTY, 0) < 0)
		say("cannot make %s the controlling terminal: %s", CONSOLE, strerror(errno));
	execve(SHELL, cmd != NULL ? argv_cmd : argv_shell, shell_env);
	say("cannot run %s: %s", SHELL, strerror(errno));
	_exit(STATUS_CANNOT_RUN);
}

/* Wait for child, reaping every other process that ends meanwhile (orphans are ours as PID 1). */
static int wait_status(pid_t child)
{
	for (;;) {
		int ws;
		pid_t pid = waitpid(-1, &ws, 0);

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0) {
			say("waitpid: %s", strerror(errno));
			return STATUS_CANNOT_RUN;
		}
		if (pid != child)
			continue;
		if (WIFEXITED(ws))
			return WEXITSTATUS(ws);
		if (WIFSIGNALED(ws))
			return 128 + WTERMSIG(ws);
	}
}

/* Report status and stop the VM; does not return. */
static __attribute__((noreturn)) void finish(int ctl, int status)
{
	sm_error_t err = SM_ERROR_INIT;

	/* The VMM takes console bytes that arrive before SM-EXIT as command output. */
	tcdrain(1);
	if (ctl >= 0 && sm_control_exit(ctl, status, &err) < 0)
		say("%s", err.msg);
	reboot(RB_AUTOBOOT);
	say("reboot: %s", strerror(errno));
	/* PID 1 exiting panics the kernel, and panic=-1 reboots it. */
	_exit(status);
}

int main(void)
{
	static char cmdline[CMDLINE_MAX];
	struct init_request req = {NULL, false, false};
	sm_error_t err = SM_ERROR_INIT, parse_err = SM_ERROR_INIT;
	int ctl, status, parsed, listen_fd = -1;
	pid_t child;

	mount_basic();
	if (read_cmdline(cmdline, sizeof(cmdline), &err) < 0) {
		say("%s", err.msg);
		sm_error_clear(&err);
	}
	parsed = parse_request(cmdline, &req, &parse_err);
	/* A command's output must reach the VMM unchanged; an interactive shell wants "\r\n". */
	if (setup_console(req.cmd != NULL, &err) < 0) {
		say("%s", err.msg);
		sm_error_clear(&err);
	}
	if (parsed < 0)
		say("%s", parse_err.msg);
	ctl = sm_control_open(SM_CONTROL_DEVICE, &err);
	if (ctl < 0) {
		say("%s", err.msg);
		sm_error_clear(&err);
	}
	if (parsed < 0)
		finish(ctl, STATUS_CANNOT_RUN);
	/*
	 * The agent listens before SM-READY, so that READY means "the host can connect now": a
	 * template snapshot taken at that point restores into a guest that accepts at once.
	 */
	if (req.agent && req.cmd == NULL && (listen_fd = sm_agent_listen_vsock(SM_AGENT_PORT, &err)) < 0) {
		say("%s", err.msg);
		finish(ctl, STATUS_CANNOT_RUN);
	}
	if (ctl >= 0 && sm_control_ready(ctl, &err) < 0) {
		say("%s", err.msg);
		sm_error_clear(&err);
	}
	if (req.agent && req.cmd == NULL)
		finish(ctl, sm_agent_main(listen_fd));
	if (req.cmd == NULL && !req.shell)
		finish(ctl, 0);

	child = spawn_shell(req.cmd, &err);
	if (child < 0) {
		say("%s", err.msg);
		finish(ctl, STATUS_CANNOT_RUN);
	}
	status = wait_status(child);
	finish(ctl, status);
	return status;
}
