/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "oci/config.h"
#include "runtime/agent-client.h"
#include "runtime/agent-spec.h"
#include "runtime/bind-shares.h"
#include "runtime/confine.h"
#include "runtime/run-bundle.h"
#include "runtime/template.h"

#define AGENT_PORT 1024
#define TEMPLATE_BOOT_TIMEOUT_NS (900ll * 1000000000)
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Is rel (relative to rootfs, symlinks resolved inside it) an executable regular file? */
static int executable_in_root(int rootfd, const char *rel)
{
	struct open_how how = {.flags = O_PATH | O_CLOEXEC,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	cleanup_close int fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0)
		return -EACCES;
	return 0;
}

int sm_rootfs_find_executable(const char *rootfs, const char *args0, char *const *env, size_t nenv,
			      sm_error_t *err)
{
	cleanup_close int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cleanup_free char *path = NULL;
	const char *p = DEFAULT_PATH;
	char *save = NULL, *dir;

	if (rootfd < 0)
		return sm_error_set(err, errno, "rootfs `%s`", rootfs);
	if (strchr(args0, '/') != NULL)
		return executable_in_root(rootfd, args0) == 0 ? 0 : -ENOENT;
	for (size_t i = 0; i < nenv; i++)
		if (strncmp(env[i], "PATH=", 5) == 0)
			p = env[i] + 5;
	path = sm_xstrdup(p);
	for (dir = strtok_r(path, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
		cleanup_free char *cand = sm_xasprintf("%s/%s", dir, args0);
		if (executable_in_root(rootfd, cand) == 0)
			return 0;
	}
	return -ENOENT;
}

/* Connect to the agent, giving up early when the VM stops while it boots. */
static int connect_agent(struct sm_machine *m, const char *sock, int64_t timeout_ns, int *fd, sm_error_t *err)
{
	uint64_t deadline = timeout_ns < 0 ? UINT64_MAX : sm_now_ns() + (uint64_t)timeout_ns;

	for (;;) {
		struct sm_machine_result res;
		sm_error_t cerr = SM_ERROR_INIT;

		*fd = sm_agent_connect_hybrid(sock, AGENT_PORT, 1000, &cerr);
		if (*fd >= 0)
			return 0;
		if (sm_machine_wait(m, 0, &res) == 0) {
			sm_machine_outcome(&res, err);
			return sm_error_prefix(err, "the VM stopped before its agent answered: ");
		}
		if (sm_now_ns() >= deadline)
			return sm_error_set(err, ETIMEDOUT, "guest agent on `%s`: %s", sock, cerr.msg);
	}
}

/*
 * process.terminal: the container's terminal is the VM's virtio console on this process's
 * stdin/stdout, with the host tty (when stdin is one) in raw mode so that the guest's line
 * discipline alone interprets the keys, and SIGWINCH forwarded as console resizes.
 */
struct host_terminal {
	bool raw;
	struct termios saved;
	int fl_out; /* file status flags: the console device makes its fds non-blocking */
	bool winch_thread;
	pthread_t thread;
	sigset_t oldmask;
	struct sm_sandbox *sb;
	bool stop; /* atomic */
	/*
	 * The console reads the host's input from this pipe, fed from stdin only once the process
	 * has opened hvc0: Linux's virtio-console drops what arrives before its port is connected.
	 */
	int in_pipe[2], stop_pipe[2];
	bool in_thread;
	pthread_t in_tid;
};

static void terminal_size(const struct sm_oci_process *p, uint16_t *cols, uint16_t *rows)
{
	struct winsize ws;

	*cols = *rows = 0;
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
		*cols = ws.ws_col;
		*rows = ws.ws_row;
	}
	if ((*cols == 0 || *rows == 0) && p->has_console_size && p->console_width <= 0xffff &&
	    p->console_height <= 0xffff) {
		*cols = (uint16_t)p->console_width;
		*rows = (uint16_t)p->console_height;
	}
}

/* Before the sandbox exists: block SIGWINCH in every thread (the VMM's inherit the mask). */
static int terminal_begin(struct host_terminal *t, sm_error_t *err)
{
	sigset_t set;
	int r;

	sigemptyset(&set);
	sigaddset(&set, SIGWINCH);
	/* First: terminal_end restores this mask whatever failed after. */
	if ((r = pthread_sigmask(SIG_BLOCK, &set, &t->oldmask)) != 0)
		return sm_error_set(err, r, "block SIGWINCH");
	t->fl_out = fcntl(STDOUT_FILENO, F_GETFL);
	if (pipe2(t->in_pipe, O_CLOEXEC) < 0 || pipe2(t->stop_pipe, O_CLOEXEC) < 0)
		return sm_error_set(err, errno, "console input pipe");
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0) {
		struct termios raw = t->saved;
		cfmakeraw(&raw);
		if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0)
			return sm_error_set(err, errno, "put the terminal in raw mode");
		t->raw = true;
	}
	return 0;
}

static void *winch_main(void *opaque)
{
	struct host_terminal *t = opaque;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGWINCH);
	while (sigwait(&set, &sig) == 0 && !__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		struct winsize ws;
		if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
			sm_sandbox_console_set_size(t->sb, ws.ws_col, ws.ws_row);
	}
	return NULL;
}

static void *input_main(void *opaque)
{
	struct host_terminal *t = opaque;
	char buf[4096];

	for (;;) {
		struct pollfd pfd[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
					{.fd = t->stop_pipe[0], .events = POLLIN}};
		ssize_t n;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0 || sm_write_all(t->in_pipe[1], buf, (size_t)n) < 0)
			break;
	}
	/* EOF reaches the guest's terminal as the end of the console's input. */
	close(t->in_pipe[1]);
	t->in_pipe[1] = -1;
	return NULL;
}

/* The process has its terminal: pass the host's input on from now on. */
static int terminal_start_input(struct host_terminal *t, sm_error_t *err)
{
	int r;

	if ((r = pthread_create(&t->in_tid, NULL, input_main, t)) != 0)
		return sm_error_set(err, r, "console input thread");
	t->in_thread = true;
	return 0;
}

/* Once the sandbox exists: forward SIGWINCH to it. */
static int terminal_forward_winch(struct host_terminal *t, struct sm_sandbox *sb, sm_error_t *err)
{
	int r;

	t->sb = sb;
	if ((r = pthread_create(&t->thread, NULL, winch_main, t)) != 0)
		return sm_error_set(err, r, "SIGWINCH thread");
	t->winch_thread = true;
	return 0;
}

/* After the sandbox is destroyed: restore the tty, the fd flags and the signal mask. */
static void terminal_end(struct host_terminal *t)
{
	if (t->winch_thread) {
		__atomic_store_n(&t->stop, true, __ATOMIC_RELEASE);
		pthread_kill(t->thread, SIGWINCH);
		pthread_join(t->thread, NULL);
	}
	if (t->in_thread) {
		if (sm_write_all(t->stop_pipe[1], "x", 1) == 0)
			pthread_join(t->in_tid, NULL);
		else
			pthread_detach(t->in_tid);
	}
	for (int i = 0; i < 2; i++) {
		if (t->in_pipe[i] >= 0)
			close(t->in_pipe[i]);
		if (t->stop_pipe[i] >= 0)
			close(t->stop_pipe[i]);
	}
	if (t->raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
	if (t->fl_out >= 0)
		fcntl(STDOUT_FILENO, F_SETFL, t->fl_out);
	pthread_sigmask(SIG_SETMASK, &t->oldmask, NULL);
}

/* Signals vm-run passes on to the container process, as runc run does without a terminal. */
static const int forwarded_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

/* Wait for the process of stream 1 to exit, forwarding the signals read from sfd to it. */
static int wait_forwarding(struct sm_agent_client *c, int sfd, int *status, sm_error_t *err)
{
	int r;

	while (!sm_agent_client_exited(c, 1, status)) {
		struct pollfd p[2] = {{sm_agent_client_fd(c), POLLIN, 0}, {sfd, POLLIN, 0}};
		struct signalfd_siginfo si;

		if (poll(p, sfd >= 0 ? 2 : 1, 1000) < 0 && errno != EINTR)
			return sm_error_set(err, errno, "poll");
		if (sfd >= 0 && (p[1].revents & POLLIN) && read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			(void)sm_agent_client_signal(c, 1, (int)si.ssi_signo, false, 5000, NULL);
		if ((r = sm_agent_client_step(c, 0, err)) < 0)
			return r;
	}
	sm_agent_client_release(c, 1);
	return 0;
}

/*
 * A VM restored from a template is a clone: give it its own randomness and the current wall
 * clock, as the monitor does (runtime/monitor.c). Failures only warn: the container still runs.
 */
static void refresh_clone(struct sm_agent_client *c)
{
	uint8_t seed[256];
	sm_error_t err = SM_ERROR_INIT;

	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed) ||
	    sm_agent_client_seed(c, seed, sizeof(seed), &err) < 0)
		fprintf(stderr, "sm-runtime: warning: restored VM: guest RNG not reseeded: %s\n", err.msg);
	sm_error_clear(&err);
	if (sm_agent_client_set_time(c, 10000, &err) < 0)
		fprintf(stderr, "sm-runtime: warning: restored VM: guest clock not set: %s\n", err.msg);
}

static int run_container(struct sm_machine *m, const struct sm_oci_config *cfg, const char *bundle,
			 const char *sock, struct sm_bind_shares *binds, bool dax, bool restored,
			 int64_t timeout_ns, struct host_terminal *term, int sfd, sm_error_t *err)
{
	struct sm_agent_spec_opts opts = {.rootfs_tag = SM_SANDBOX_ROOT_TAG, .bundle = bundle};
	struct sm_agent_stdio io = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
	struct sm_agent_client *c = NULL;
	struct sm_buf payload = {0};
	int fd = -1, status = -1, r;
	uint32_t pid;

	opts.rootfs_dax = dax;
	opts.map_bind_source = sm_bind_shares_map;
	opts.opaque = binds;
	if (cfg->process->terminal) {
		/* The console carries the terminal; nothing of it goes over vsock. */
		opts.terminal_hvc = true;
		io = (struct sm_agent_stdio){-1, -1, -1};
	}
	if ((r = sm_agent_spec_create(&payload, cfg, &opts, err)) < 0)
		goto out;
	if ((r = connect_agent(m, sock, timeout_ns, &fd, err)) < 0)
		goto out;
	if ((r = sm_agent_client_new(fd, &c, err)) < 0)
		goto out;
	if ((r = sm_agent_client_handshake(c, 60000, err)) < 0)
		goto out;
	if (restored)
		refresh_clone(c);
	if ((r = sm_agent_client_create(c, 1, &payload, &io, &pid, -1, err)) < 0 ||
	    (term != NULL && (r = terminal_start_input(term, err)) < 0) ||
	    (r = sm_agent_client_start(c, 1, -1, err)) < 0 || (r = wait_forwarding(c, sfd, &status, err)) < 0)
		goto out;
	/* The container is done: stop the guest; its exit status is what matters now. */
	(void)sm_agent_client_shutdown(c, 10000, NULL);
	r = status;
out:
	sm_agent_client_free(c);
	sm_buf_free(&payload);
	return r;
}

/*
 * --template: complete sb_cfg to the template layout and find (or boot and save, once per VM shape)
 * the template VM to restore; *dir is NULL without use_template.
 */
static int bundle_template(struct sm_sandbox_config *sb_cfg, struct sm_bind_shares *binds,
			   struct sm_bind_shares *padded, int64_t timeout_ns, char **dir, sm_error_t *err)
{
	bool booted = false;
	int r;

	if ((r = sm_template_complete_config(sb_cfg, binds, padded, err)) < 0 ||
	    (r = sm_template_get(sb_cfg, timeout_ns < 0 ? TEMPLATE_BOOT_TIMEOUT_NS : timeout_ns, dir, &booted,
				 err)) < 0)
		return sm_error_prefix(err, "--template: ");
	if (booted && sb_cfg->machine.debug)
		fprintf(stderr, "sm-runtime: template VM saved in %s\n", *dir);
	return 0;
}

/* The staged bind sources go away with these fds (runtime/bind-shares.h). */
static void close_stage(int keep[2])
{
	for (int i = 0; i < 2; i++)
		if (keep[i] >= 0) {
			close(keep[i]);
			keep[i] = -1;
		}
}

/*
 * Block the signals forwarded to the container, before the VMM's threads exist (they inherit the
 * mask), so only the returned signalfd sees them; *oldmask is the mask to restore.
 */
static int block_forwarded(sigset_t *oldmask)
{
	sigset_t fwd;

	sigemptyset(&fwd);
	for (size_t i = 0; i < SM_ARRAY_SIZE(forwarded_signals); i++)
		sigaddset(&fwd, forwarded_signals[i]);
	pthread_sigmask(SIG_BLOCK, &fwd, oldmask);
	return signalfd(-1, &fwd, SFD_CLOEXEC | SFD_NONBLOCK);
}

/*
 * The sandbox running: restored from template_dir (its vCPUs run at once, and the console gets
 * this terminal's size) or booted. term, when the process has a terminal, starts forwarding
 * resizes once the console exists.
 */
static int start_sandbox(struct sm_sandbox_config *sb_cfg, const char *template_dir,
			 struct host_terminal *term, struct sm_sandbox **sb, sm_error_t *err)
{
	int r;

	if (template_dir != NULL) {
		if ((r = sm_sandbox_restore(sb_cfg, template_dir, sb, NULL, err)) < 0)
			return r;
		if (sb_cfg->console_cols > 0 && sb_cfg->console_rows > 0)
			sm_sandbox_console_set_size(*sb, sb_cfg->console_cols, sb_cfg->console_rows);
		return term != NULL ? terminal_forward_winch(term, *sb, err) : 0;
	}
	if ((r = sm_sandbox_create(sb_cfg, sb, err)) < 0)
		return r;
	if (term != NULL && (r = terminal_forward_winch(term, *sb, err)) < 0)
		return r;
	return sm_machine_start(sm_sandbox_machine(*sb), err);
}

int sm_run_bundle(const char *bundle, struct sm_sandbox_config *sb_cfg, bool use_template, int64_t timeout_ns,
		  sm_error_t *err)
{
	cleanup_oci_config struct sm_oci_config *cfg = NULL;
	cleanup_free char *config_path = sm_xasprintf("%s/config.json", bundle);
	cleanup_free char *rootfs = NULL, *rootfs_abs = NULL, *tmpdir = NULL, *sock = NULL;
	struct sm_sandbox *sb = NULL;
	struct sm_bind_shares binds = {0}, padded;
	cleanup_free char *template_dir = NULL;
	struct host_terminal term = {.fl_out = -1, .in_pipe = {-1, -1}, .stop_pipe = {-1, -1}};
	struct sm_machine_result res;
	char tmpl[] = "/tmp/sm-vm-run-XXXXXX";
	cleanup_close int sfd = -1;
	sigset_t oldmask;
	int stage_keep[2] = {-1, -1}, r;

	if ((r = sm_oci_config_load(config_path, SM_OCI_PARSE_REQUIRE_PROCESS, &cfg, err)) < 0)
		return sm_error_prefix(err, "bundle `%s`: ", bundle);
	rootfs = cfg->root->path[0] == '/' ? sm_xstrdup(cfg->root->path)
					   : sm_xasprintf("%s/%s", bundle, cfg->root->path);
	rootfs_abs = realpath(rootfs, NULL);
	if (rootfs_abs == NULL)
		return sm_error_set(err, errno, "bundle `%s`: root.path `%s`", bundle, rootfs);
	r = sm_rootfs_find_executable(rootfs_abs, cfg->process->args.v[0], cfg->process->env.v,
				      cfg->process->env.n, err);
	if (r == -ENOENT) {
		fprintf(stderr,
			"sm-runtime: unable to start container process: exec: \"%s\": executable file "
			"not found in $PATH\n",
			cfg->process->args.v[0]);
		return 127;
	}
	if (r < 0)
		return r;
	if (mkdtemp(tmpl) == NULL)
		return sm_error_set(err, errno, "mkdtemp `%s`", tmpl);
	tmpdir = sm_xstrdup(tmpl);
	/* As the monitor does (runtime/cmd-create.c): staged directories show their own name as the
	 * guest mount's root. Still single-threaded and privileged here; the staging tmpfs lives in a
	 * namespace of its own, over tmpdir, which the vsock socket below does not see. */
	if ((r = sm_bind_shares_stage(cfg, bundle, rootfs_abs, tmpdir, stage_keep, err)) < 0 ||
	    (r = sm_bind_shares_plan(cfg, bundle, rootfs_abs, SM_SANDBOX_ROOT_TAG, &binds, err)) < 0) {
		close_stage(stage_keep);
		rmdir(tmpdir);
		return sm_error_prefix(err, "bundle `%s`: ", bundle);
	}
	sock = sm_xasprintf("%s/vsock.sock", tmpdir);
	sb_cfg->rootfs = rootfs_abs;
	sb_cfg->rootfs_readonly = cfg->root->readonly;
	sb_cfg->vsock_path = sock;
	sb_cfg->agent = true;
	sb_cfg->binds = &binds;
	sb_cfg->machine.cmd = NULL;
	/* Before the signal mask and the terminal change: booting a template may take long. */
	if (use_template &&
	    (r = bundle_template(sb_cfg, &binds, &padded, timeout_ns, &template_dir, err)) < 0) {
		rmdir(tmpdir);
		sm_bind_shares_clear(&binds);
		close_stage(stage_keep);
		return r;
	}
	sfd = block_forwarded(&oldmask);
	if (cfg->process->terminal) {
		sb_cfg->console = true;
		terminal_size(cfg->process, &sb_cfg->console_cols, &sb_cfg->console_rows);
		if ((r = terminal_begin(&term, err)) < 0)
			goto out;
		sb_cfg->console_in_fd = term.in_pipe[0];
		sb_cfg->console_out_fd = STDOUT_FILENO;
	}
	/* Before the VMM's threads exist: they inherit the reduced capabilities. */
	if ((r = sm_confine_caps(err)) < 0)
		goto out;
	if ((r = start_sandbox(sb_cfg, template_dir, cfg->process->terminal ? &term : NULL, &sb, err)) < 0)
		goto out;
	if ((r = sm_confine_seccomp(&(struct sm_confine_opts){.debug = sb_cfg->machine.debug}, err)) < 0)
		goto out;
	r = run_container(sm_sandbox_machine(sb), cfg, bundle, sock, &binds, sb_cfg->dax_mib > 0,
			  template_dir != NULL, timeout_ns, cfg->process->terminal ? &term : NULL, sfd, err);
	if (r >= 0 && sm_machine_wait(sm_sandbox_machine(sb), 20 * 1000000000ll, &res) < 0)
		sm_vm_stop(sm_machine_vm(sm_sandbox_machine(sb)), SM_VM_STOP_REQUESTED, "agent shut down");
out:
	if (term.winch_thread) {
		__atomic_store_n(&term.stop, true, __ATOMIC_RELEASE);
		pthread_kill(term.thread, SIGWINCH);
		pthread_join(term.thread, NULL);
		term.winch_thread = false;
	}
	sm_sandbox_destroy(sb);
	if (cfg->process->terminal)
		terminal_end(&term);
	pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
	unlink(sock);
	rmdir(tmpdir);
	sm_bind_shares_clear(&binds);
	close_stage(stage_keep);
	return r;
}
