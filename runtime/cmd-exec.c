/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sm-runtime exec: run another process in the container's VM through the monitor (EXEC). This
 * process (or, with --detach, a forked proxy) stands for it on the host: its stdio is relayed,
 * signals it receives are forwarded, and it exits with the process's status.
 */
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "oci/support.h"
#include "runtime/agent-spec.h"
#include "runtime/commands.h"
#include "runtime/console-socket.h"
#include "runtime/container.h"
#include "runtime/log.h"
#include "runtime/monitor-proto.h"

#define MAX_ENV 256

struct exec_opts {
	const char *process_file, *pid_file, *console_socket, *cwd, *user;
	const char *env[MAX_ENV];
	size_t nenv;
	bool tty, detach;
	char **args;
	size_t nargs;
};

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

/*
 * The host end of the exec's terminal: the pty slave whose master went to --console-socket (the
 * engine resizes the master), or this process's own terminal. Its size is the guest pty's.
 */
struct term_watch {
	int fd;		     /* -1: no terminal */
	bool notified;	     /* SIGWINCH arrives on changes (the pty is our controlling terminal) */
	unsigned rows, cols; /* the size the guest has */
};

static int parse(int argc, char **argv, struct exec_opts *o, sm_error_t *err)
{
	static const struct option opts[] = {
	    {"process", required_argument, NULL, 'p'},
	    {"tty", no_argument, NULL, 't'},
	    {"detach", no_argument, NULL, 'd'},
	    {"pid-file", required_argument, NULL, 'P'},
	    {"console-socket", required_argument, NULL, 'c'},
	    {"cwd", required_argument, NULL, 'w'},
	    {"env", required_argument, NULL, 'e'},
	    {"user", required_argument, NULL, 'u'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "+p:tde:u:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o->process_file = optarg;
			break;
		case 't':
			o->tty = true;
			break;
		case 'd':
			o->detach = true;
			break;
		case 'P':
			o->pid_file = optarg;
			break;
		case 'c':
			o->console_socket = optarg;
			break;
		case 'w':
			o->cwd = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case 'e':
			if (strchr(optarg, '=') == NULL || optarg[0] == '=')
				return sm_error_set(err, 0, "--env `%s`: expected KEY=VALUE", optarg);
			if (o->nenv == MAX_ENV)
				return sm_error_set(err, 0, "--env: more than %d variables", MAX_ENV);
			o->env[o->nenv++] = optarg;
			break;
		case 'h':
			printf(
			    "usage: sm-runtime exec [options] ID [COMMAND [ARG...]]\n\n"
			    "Run a process in the container's VM; exit with its status.\n\n"
			    "  -p, --process FILE       the process as JSON (instead of COMMAND)\n"
			    "  -t, --tty                give it a terminal\n"
			    "  -d, --detach             detach; a proxy process stands for it (--pid-file)\n"
			    "  --pid-file FILE          write the proxy's pid\n"
			    "  --console-socket PATH    send the terminal's pty master there\n"
			    "  --cwd DIR, -e/--env K=V, -u/--user UID[:GID]\n");
			return 1;
		default:
			return sm_error_set(err, 0, "unknown option `%s` (see sm-runtime exec --help)",
					    argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return sm_error_set(err, 0, "exec needs a container id");
	o->args = argv + optind + 1;
	o->nargs = (size_t)(argc - optind - 1);
	if (o->process_file == NULL && o->nargs == 0)
		return sm_error_set(err, 0, "exec needs a command (or --process FILE)");
	if (o->console_socket != NULL && !o->tty)
		return sm_error_set(err, 0, "--console-socket needs --tty");
	return 0;
}

static void strv_set(struct sm_oci_strv *sv, char *const *v, size_t n)
{
	sm_oci_strv_free(sv);
	sv->v = sm_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		sv->v[i] = sm_xstrdup(v[i]);
	sv->n = n;
}

/* The process to run: --process FILE, or the container's process with the command line's changes. */
static int build_process(const struct exec_opts *o, struct sm_oci_config *cfg, struct sm_oci_process **out,
			 sm_error_t *err)
{
	struct sm_oci_process *p;
	int r;

	if (o->process_file != NULL) {
		cleanup_free char *json = NULL;
		size_t len;
		if ((r = sm_read_file(o->process_file, 1 << 20, &json, &len, err)) < 0)
			return sm_error_prefix(err, "--process: ");
		if ((r = sm_oci_process_parse(json, len, o->process_file, &p, NULL, NULL, err)) < 0)
			return r;
		/* Refused fields fail here, naming the file and field, as create's check does. */
		struct sm_oci_strv warnings = {0};
		r = sm_oci_check_process_supported(p, o->process_file, "", &warnings, err);
		for (size_t i = 0; i < warnings.n; i++)
			sm_log(SM_LOG_WARN, "%s", warnings.v[i]);
		sm_oci_strv_free(&warnings);
		if (r < 0) {
			sm_oci_process_free(p);
			return r;
		}
	} else {
		p = steal_ptr(&cfg->process);
		if (p == NULL)
			return sm_error_set(err, 0,
					    "the container's config.json has no process to base exec on");
		strv_set(&p->args, o->args, o->nargs);
		p->terminal = o->tty;
	}
	if (o->cwd != NULL) {
		if (o->cwd[0] != '/') {
			sm_oci_process_free(p);
			return sm_error_set(err, 0, "--cwd `%s`: must be an absolute path", o->cwd);
		}
		free(p->cwd);
		p->cwd = sm_xstrdup(o->cwd);
	}
	if (o->nenv > 0) {
		size_t n = p->env.n;
		char **v = sm_xcalloc(n + o->nenv + 1, sizeof(char *));
		memcpy(v, p->env.v, n * sizeof(char *));
		for (size_t i = 0; i < o->nenv; i++)
			v[n + i] = sm_xstrdup(o->env[i]);
		free(p->env.v);
		p->env.v = v;
		p->env.n = n + o->nenv;
	}
	if (o->user != NULL) {
		unsigned uid, gid = 0;
		char extra;
		int k = sscanf(o->user, "%u:%u%c", &uid, &gid, &extra);
		if (k < 1 || k > 2 || (k == 1 && strchr(o->user, ':') != NULL)) {
			sm_oci_process_free(p);
			return sm_error_set(err, 0, "--user `%s`: expected UID[:GID] (numbers)", o->user);
		}
		p->user.uid = uid;
		p->user.gid = gid;
	}
	*out = p;
	return 0;
}

/* EXEC and its OK: the exec'd process runs once this returns. *stream is its stream on the monitor. */
static int start_exec(int fd, const struct sm_buf *proc, const int fds[3], uint32_t *stream, sm_error_t *err)
{
	struct sm_buf b = {0};
	struct sm_mon_msg m;
	int r;

	sm_tlv_put(&b, SM_MON_TAG_PROCESS, proc->data, (uint32_t)proc->len);
	r = sm_mon_call(fd, SM_MON_EXEC, &b, fds, 3, &m, SM_MON_CALL_TIMEOUT_MS, err);
	sm_buf_free(&b);
	if (r < 0)
		return r;
	if (sm_mon_get_u32(&m, SM_MON_TAG_STREAM, stream) <= 0)
		r = sm_error_set(err, EPROTO, "the monitor's answer to EXEC has no stream");
	sm_mon_msg_clear(&m);
	return r;
}

/* The terminal's size when it changed since the guest got one: RESIZE to the monitor. */
static void check_size(int fd, struct term_watch *tw)
{
	struct winsize ws;
	struct sm_buf b = {0};

	if (tw->fd < 0 || ioctl(tw->fd, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0 || ws.ws_col == 0 ||
	    (ws.ws_row == tw->rows && ws.ws_col == tw->cols))
		return;
	tw->rows = ws.ws_row;
	tw->cols = ws.ws_col;
	sm_tlv_put_u32(&b, SM_MON_TAG_ROWS, tw->rows);
	sm_tlv_put_u32(&b, SM_MON_TAG_COLS, tw->cols);
	/* The monitor's OK comes back on this connection; proxy_wait skips it. */
	(void)sm_mon_send(fd, SM_MON_RESIZE, 0, &b, NULL, 0, NULL);
	sm_buf_free(&b);
}

/*
 * Forward signals to the process and wait for its EXIT; returns its status. Terminal size changes
 * are seen by SIGWINCH when the terminal is ours, else by looking once a second.
 */
static int proxy_wait(int fd, int sfd, uint32_t stream, struct term_watch *tw, sm_error_t *err)
{
	for (;;) {
		struct pollfd p[2] = {{fd, POLLIN, 0}, {sfd, POLLIN, 0}};
		struct signalfd_siginfo si;
		struct sm_mon_msg m;
		uint32_t status;
		int r;

		check_size(fd, tw);
		if (poll(p, 2, tw->fd >= 0 && !tw->notified ? 1000 : -1) < 0 && errno != EINTR)
			return sm_error_set(err, errno, "poll");
		if ((p[1].revents & POLLIN) && read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si) &&
		    si.ssi_signo != SIGWINCH) {
			struct sm_buf b = {0};
			sm_tlv_put_u32(&b, SM_MON_TAG_SIGNAL, si.ssi_signo);
			sm_tlv_put_u32(&b, SM_MON_TAG_STREAM, stream);
			(void)sm_mon_send(fd, SM_MON_KILL, 0, &b, NULL, 0, NULL);
			sm_buf_free(&b);
		}
		if (!(p[0].revents & (POLLIN | POLLHUP)))
			continue;
		r = sm_mon_recv(fd, &m, 5000, err);
		if (r == 0)
			return sm_error_set(err, EPIPE,
					    "the container's monitor went away before the process exited");
		if (r < 0)
			return r;
		/* OK/ERROR answers to forwarded signals are not interesting. */
		if (m.hdr.type == SM_MON_EXIT && sm_mon_get_u32(&m, SM_MON_TAG_STATUS, &status) > 0) {
			sm_mon_msg_clear(&m);
			return (int)(status & 0xff);
		}
		sm_mon_msg_clear(&m);
	}
}

struct prepared {
	int fd; /* monitor connection */
	struct sm_buf proc;
	int fds[3]; /* the process's stdio */
	int master; /* console-socket pty master, or -1 */
	char *ptyname;
	struct term_watch tw;
};

/*
 * The guest pty's initial size: the host terminal's when it has one (as runc sizes its pty from
 * the caller's console), else process.consoleSize, which is also given to a console-socket pty
 * (runc sizes the pty it hands over from consoleSize, so the engine sees it).
 */
static void initial_size(struct sm_oci_process *proc, struct term_watch *tw, bool new_pty)
{
	struct winsize ws;

	if (new_pty && proc->has_console_size && proc->console_width <= 0xffff &&
	    proc->console_height <= 0xffff) {
		ws = (struct winsize){.ws_row = (unsigned short)proc->console_height,
				      .ws_col = (unsigned short)proc->console_width};
		(void)ioctl(tw->fd, TIOCSWINSZ, &ws);
	}
	if (ioctl(tw->fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
		proc->has_console_size = true;
		proc->console_height = ws.ws_row;
		proc->console_width = ws.ws_col;
	}
	if (proc->has_console_size) {
		tw->rows = proc->console_height;
		tw->cols = proc->console_width;
	}
}

/* Everything up to the EXEC request, under the container's lock. */
static int prepare(const struct sm_global_opts *g, const char *id, const struct exec_opts *o,
		   struct prepared *pr, sm_error_t *err)
{
	cleanup_free char *root = sm_container_root(g->root), *cfgpath = NULL;
	cleanup_oci_config struct sm_oci_config *cfg = NULL;
	struct sm_oci_process *proc = NULL;
	enum sm_oci_status status;
	struct sm_container c;
	int r, slave = -1;

	if ((r = sm_container_open(root, id, &c, err)) < 0)
		goto out;
	if ((r = sm_container_status(&c, &status, NULL, err)) < 0)
		goto out;
	if (status != SM_OCI_STATUS_CREATED && status != SM_OCI_STATUS_RUNNING) {
		r = sm_error_set(err, 0, "cannot exec in a %s container", sm_oci_status_name(status));
		goto out;
	}
	cfgpath = sm_xasprintf("%s/config.json", c.st.bundle);
	if ((r = sm_oci_config_load(cfgpath, 0, &cfg, err)) < 0 ||
	    (r = build_process(o, cfg, &proc, err)) < 0)
		goto out;
	if (proc->terminal && o->console_socket != NULL) {
		if ((r = sm_pty_open(&pr->master, &slave, &pr->ptyname, err)) < 0)
			goto out;
		pr->tw.fd = slave;
		initial_size(proc, &pr->tw, true);
		if ((r = sm_console_socket_send(o->console_socket, pr->master, pr->ptyname, err)) < 0)
			goto out;
		struct termios t;
		/* A relay only: the guest's pty does echo and line editing. */
		if (tcgetattr(slave, &t) == 0) {
			cfmakeraw(&t);
			(void)tcsetattr(slave, TCSANOW, &t);
		}
		pr->fds[0] = slave;
		pr->fds[1] = dup(slave);
		pr->fds[2] = dup(slave);
		slave = -1;
	} else if (proc->terminal && isatty(STDIN_FILENO)) {
		pr->tw.fd = STDIN_FILENO;
		initial_size(proc, &pr->tw, false);
	}
	r = sm_agent_spec_process(&pr->proc, proc, cfg->linux_cfg ? cfg->linux_cfg->seccomp : NULL, err);
	if (r < 0)
		goto out;
	if ((pr->fd = sm_container_connect(&c, err)) < 0)
		r = pr->fd;
out:
	if (slave >= 0)
		close(slave);
	sm_oci_process_free(proc);
	sm_container_close(&c);
	return r;
}

int cmd_exec(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	struct exec_opts o = {0};
	struct prepared pr = {.fd = -1, .fds = {0, 1, 2}, .master = -1, .tw = {.fd = -1}};
	cleanup_close int sfd = -1;
	int ready[2] = {-1, -1}, r, status;
	bool raw = false;
	struct termios saved;
	uint32_t stream = 0;
	sigset_t set;
	pid_t pid = 0;

	if ((r = parse(argc, argv, &o, err)) != 0)
		return r > 0 ? 0 : r;
	if ((r = prepare(g, argv[optind], &o, &pr, err)) < 0)
		goto out;
	sigemptyset(&set);
	for (size_t i = 0; i < SM_ARRAY_SIZE(forwarded); i++)
		sigaddset(&set, forwarded[i]);
	sigaddset(&set, SIGWINCH); /* not forwarded: the terminal's size is checked instead */
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (o.detach) {
		if (pipe2(ready, O_CLOEXEC) < 0) {
			r = sm_error_set(err, errno, "pipe");
			goto out;
		}
		fflush(NULL);
		pid = fork();
		if (pid < 0) {
			r = sm_error_set(err, errno, "fork the exec proxy");
			goto out;
		}
		if (pid > 0) {
			char buf[sizeof(err->msg)];
			ssize_t n;
			close(ready[1]);
			n = sm_read_all(ready[0], buf, sizeof(buf) - 1);
			close(ready[0]);
			buf[n > 0 ? n : 0] = '\0';
			if (strcmp(buf, "ok") != 0) {
				waitpid(pid, &status, 0);
				r = sm_error_set(err, 0, "%s", buf[0] ? buf : "the exec proxy failed");
			} else if (o.pid_file != NULL) {
				r = sm_write_pid_file(o.pid_file, pid, err);
			}
			goto out;
		}
		close(ready[0]);
		setsid();
		/* A session leader now: the console-socket pty can be its terminal, for SIGWINCH. */
		if (pr.master >= 0)
			(void)ioctl(pr.tw.fd, TIOCSCTTY, 0);
	}
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if ((r = start_exec(pr.fd, &pr.proc, pr.fds, &stream, err)) < 0) {
		if (o.detach)
			(void)sm_write_all(ready[1], err->msg, strlen(err->msg));
		goto out;
	}
	if (o.detach) {
		(void)sm_write_all(ready[1], "ok", 2);
		close(ready[1]);
	} else if (o.pid_file != NULL && (r = sm_write_pid_file(o.pid_file, getpid(), err)) < 0) {
		goto out;
	}
	if (o.tty && o.console_socket == NULL && isatty(STDIN_FILENO) &&
	    tcgetattr(STDIN_FILENO, &saved) == 0) {
		struct termios t = saved;
		cfmakeraw(&t);
		raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
	}
	/* SIGWINCH reaches us only for our controlling terminal, and only in its foreground group. */
	pr.tw.notified = pr.tw.fd >= 0 && tcgetsid(pr.tw.fd) == getsid(0) && tcgetpgrp(pr.tw.fd) == getpgrp();
	r = proxy_wait(pr.fd, sfd, stream, &pr.tw, err);
	if (raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	if (o.detach)
		_exit(r < 0 ? 255 : r);
out:
	if (pr.fd >= 0)
		close(pr.fd);
	if (pr.master >= 0) {
		close(pr.master);
		for (int i = 0; i < 3; i++)
			close(pr.fds[i]);
	}
	free(pr.ptyname);
	sm_buf_free(&pr.proc);
	if (o.detach && pid == 0 && r < 0)
		_exit(255);
	return r;
}
