/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-container monitor (runtime/monitor.h): a single-threaded poll() loop (the VMM adds its
 * own vCPU and event-loop threads) over the control socket, its clients, the agent connection,
 * a signalfd and, with a terminal, the console input.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/proto-tags.h"
#include "common/util.h"
#include "oci/state.h"
#include "runtime/agent-client.h"
#include "runtime/agent-spec.h"
#include "runtime/bind-shares.h"
#include "runtime/confine.h"
#include "runtime/container.h"
#include "runtime/jail.h"
#include "runtime/monitor-proto.h"
#include "runtime/log.h"
#include "runtime/monitor.h"
#include "runtime/monitor-internal.h"
#include "runtime/template.h"

/* Signals the monitor passes on to the container process, as runc's init would receive them. */
static const int forwarded_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

/* The forwarded signals whose default action ends a process (all but SIGWINCH). */
static void ending_signals(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < SM_ARRAY_SIZE(forwarded_signals); i++)
		if (forwarded_signals[i] != SIGWINCH)
			sigaddset(set, forwarded_signals[i]);
}

void sm_monitor_fork_signals(sigset_t *old)
{
	sigset_t set;

	ending_signals(&set);
	sigprocmask(SIG_BLOCK, &set, old);
}

static void early_exit(int sig)
{
	_exit(128 + sig);
}

void sm_monitor_child_signals(void)
{
	struct sigaction sa = {.sa_handler = early_exit};
	sigset_t set;

	ending_signals(&set);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&set, sig) == 1)
			sigaction(sig, &sa, NULL);
	/* Also when the parent had them blocked (`run` does): until the signalfd, they end us. */
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

/* Connect to the agent, giving up early when the VM stops while it boots. */
int sm_mon_connect_agent(struct sm_mon *m, int *fd, sm_error_t *err)
{
	struct sm_machine *mach = sm_sandbox_machine(m->sb);
	int64_t t = m->o->boot_timeout_ns;
	uint64_t deadline = t < 0 ? UINT64_MAX : sm_now_ns() + (uint64_t)t;

	for (;;) {
		struct sm_machine_result res;
		sm_error_t cerr = SM_ERROR_INIT;

		*fd = sm_agent_connect_hybrid(SM_CONTAINER_VSOCK_SOCK, SM_MON_AGENT_PORT, 1000, &cerr);
		if (*fd >= 0)
			return 0;
		if (sm_machine_wait(mach, 0, &res) == 0) {
			sm_machine_outcome(&res, err);
			return sm_error_prefix(err, "the VM stopped before its agent answered: ");
		}
		if (sm_now_ns() >= deadline)
			return sm_error_set(err, ETIMEDOUT,
					    "guest agent did not answer within %lld s (SM_BOOT_TIMEOUT_S)",
					    (long long)(t / 1000000000));
	}
}

/*
 * Restore the snapshot (the template, or the checkpoint `restore` imported). A template that does
 * not restore makes the caller boot instead (the reason is logged); a checkpoint must restore.
 */
static int restore_snapshot(struct sm_mon *m, const struct sm_sandbox_config *sb, sm_error_t *err)
{
	const char *dir = m->snapshot_dir;
	sm_error_t e = SM_ERROR_INIT;

	if (sm_sandbox_restore(sb, dir, &m->sb, NULL, &e) == 0)
		return 0;
	m->sb = NULL;
	if (m->o->restore_image != NULL)
		return sm_error_set(err, e.code, "checkpoint image `%s`: %s", m->o->restore_image, e.msg);
	sm_log(SM_LOG_WARN, "template `%s` not restored, booting: %s", dir, e.msg);
	return 1;
}

/*
 * A restored template is a clone of one saved guest: give it its own randomness (the guest's
 * RNG state was saved with it) and the current wall clock (it was saved with the guest's clock).
 * Failures are worth a warning, not a failed create (an older agent lacks SET_TIME).
 */
static void refresh_clone(struct sm_mon *m)
{
	uint8_t seed[256];
	sm_error_t err = SM_ERROR_INIT;

	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed) ||
	    sm_agent_client_seed(m->agent, seed, sizeof(seed), &err) < 0)
		sm_log(SM_LOG_WARN, "restored VM: guest RNG not reseeded: %s", err.msg);
	sm_error_clear(&err);
	if (sm_agent_client_set_time(m->agent, sm_mon_agent_ms(m), &err) < 0)
		sm_log(SM_LOG_WARN, "restored VM: guest clock not set: %s", err.msg);
}

/*
 * Get a sandbox whose agent is ready (monitor-internal.h): restore m->snapshot_dir (the template,
 * or the checkpoint `restore` imported) or boot a fresh VM, on the container's own vsock CID;
 * everything after it only needs m->sb and m->agent.
 */
int sm_mon_boot_sandbox(struct sm_mon *m, sm_error_t *err)
{
	const struct sm_monitor_opts *o = m->o;
	struct sm_sandbox_config sb = o->sb;
	int fd = -1, r;

	if ((r = sm_bind_shares_plan(o->cfg, o->bundle, o->rootfs, SM_SANDBOX_ROOT_TAG, &m->binds, err)) < 0)
		return r;
	sb.rootfs = o->rootfs;
	sb.rootfs_readonly = o->cfg->root->readonly;
	sb.vsock_path = SM_CONTAINER_VSOCK_SOCK; /* relative: the monitor runs in the state directory */
	sb.agent = true;
	sb.binds = &m->binds;
	sb.machine.cmd = NULL;
	/* --debug keeps the guest kernel's and init's messages; the container's stdio is not theirs. */
	if (o->debug)
		sb.machine.console_out_fd =
		    open(SM_CONTAINER_CONSOLE_LOG, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (o->cfg->process->terminal) {
		if (pipe2(m->cons_pipe, O_CLOEXEC) < 0)
			return sm_error_set(err, errno, "console input pipe");
		sb.console = true;
		sb.console_in_fd = m->cons_pipe[0];
		sb.console_out_fd = o->term_out;
		/* create's pty becomes our terminal, so resizes arrive as SIGWINCH (run's own fails). */
		(void)ioctl(o->term_in, TIOCSCTTY, 0);
		if (ioctl(o->term_in, TIOCGWINSZ, &m->ws) == 0 && m->ws.ws_col > 0) {
			sb.console_cols = m->ws.ws_col;
			sb.console_rows = m->ws.ws_row;
		} else if (o->cfg->process->has_console_size) {
			sb.console_cols = (uint16_t)o->cfg->process->console_width;
			sb.console_rows = (uint16_t)o->cfg->process->console_height;
		}
	}
	/* The template layout whether restoring or booting, so both give the guest the same devices. */
	if ((r = sm_template_complete_config(&sb, &m->binds, &m->padded, err)) < 0)
		return r;
	sb.guest_cid = m->cid;
	if (m->snapshot_dir != NULL && (r = restore_snapshot(m, &sb, err)) <= 0) {
		if (r < 0)
			return r;
		m->restored = true;
	} else if ((r = sm_sandbox_create(&sb, &m->sb, err)) < 0 ||
		   (r = sm_machine_start(sm_sandbox_machine(m->sb), err)) < 0) {
		return r;
	}
	/* Not confined before: the template boot above forks nothing, but restoring maps files. The
	 * jail first: the filter allows neither mount nor pivot_root (runtime/jail.h). */
	if ((r = sm_jail_enter(err)) < 0 ||
	    (r = sm_confine_seccomp(&(struct sm_confine_opts){.debug = o->debug}, err)) < 0)
		return r;
	/*
	 * A restored guest may still hold a connection from before the save (a checkpoint taken while
	 * the agent was busy) and reset ours while it takes that one down: connect again a few times.
	 */
	for (int attempt = 0;; attempt++) {
		if ((r = sm_mon_connect_agent(m, &fd, err)) < 0)
			return r;
		if ((r = sm_agent_client_new(fd, &m->agent, err)) < 0)
			return r;
		r = sm_agent_client_handshake(m->agent, sm_mon_agent_ms(m), err);
		if (r == 0)
			break;
		if (!m->restored || attempt >= 20 || (err->code != ECONNRESET && err->code != EPIPE))
			return r;
		sm_log(SM_LOG_DEBUG, "agent connection %d after restore: %s; connecting again", attempt + 1,
		       err->msg);
		sm_agent_client_free(m->agent);
		m->agent = NULL;
		sm_error_clear(err);
		usleep(250 * 1000);
	}
	if (m->restored)
		refresh_clone(m);
	return 0;
}

/* CREATE: the container is set up in the guest and its process waits for START. */
static int monitor_create_container(struct sm_mon *m, sm_error_t *err)
{
	const struct sm_monitor_opts *o = m->o;
	struct sm_agent_spec_opts so = {.rootfs_tag = SM_SANDBOX_ROOT_TAG, .bundle = o->bundle};
	struct sm_agent_stdio io = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
	struct sm_buf payload = {0};
	int r;

	so.rootfs_dax = o->sb.dax_mib > 0;
	so.no_pivot = o->no_pivot;
	so.map_bind_source = sm_bind_shares_map;
	so.opaque = &m->binds;
	if (o->cfg->process->terminal) {
		so.terminal_hvc = true;
		io = (struct sm_agent_stdio){-1, -1, -1};
	}
	r = sm_agent_spec_create(&payload, o->cfg, &so, err);
	/* The host terminal's size over consoleSize (the agent takes the last ROWS/COLS). */
	if (r >= 0 && o->cfg->process->terminal && m->ws.ws_row > 0 && m->ws.ws_col > 0) {
		sm_tlv_put_u32(&payload, SM_TAG_ROWS, m->ws.ws_row);
		sm_tlv_put_u32(&payload, SM_TAG_COLS, m->ws.ws_col);
	}
	if (r >= 0)
		r = sm_agent_client_create(m->agent, SM_MON_INIT_STREAM, &payload, &io, &m->guest_pid,
					   sm_mon_agent_ms(m), err);
	sm_buf_free(&payload);
	if (r < 0)
		return r;
	m->status = SM_OCI_STATUS_CREATED;
	m->feed_console = o->cfg->process->terminal;
	return 0;
}

static int listen_control(struct sm_mon *m, sm_error_t *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	strcpy(sa.sun_path, SM_CONTAINER_MONITOR_SOCK);
	unlink(SM_CONTAINER_MONITOR_SOCK);
	m->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (m->listen_fd < 0)
		return sm_error_set(err, errno, "control socket");
	if (bind(m->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(m->listen_fd, 16) < 0)
		return sm_error_set(err, errno, "control socket `%s/%s`", m->o->dir,
				    SM_CONTAINER_MONITOR_SOCK);
	return 0;
}

static void send_ok(int fd, uint32_t pid, uint32_t stream)
{
	struct sm_buf b = {0};

	if (pid)
		sm_tlv_put_u32(&b, SM_MON_TAG_PID, pid);
	if (stream)
		sm_tlv_put_u32(&b, SM_MON_TAG_STREAM, stream);
	(void)sm_mon_send(fd, SM_MON_OK, 0, &b, NULL, 0, NULL);
	sm_buf_free(&b);
}

static int do_start(struct sm_mon *m, sm_error_t *err)
{
	int r;

	if (m->status != SM_OCI_STATUS_CREATED)
		return sm_error_set(err, 0, "cannot start a container that is %s",
				    sm_oci_status_name(m->status));
	if (m->reattached) {
		/* restore = create + start: the restored process never stopped running in the guest. */
		m->status = SM_OCI_STATUS_RUNNING;
		return 0;
	}
	if ((r = sm_agent_client_start(m->agent, SM_MON_INIT_STREAM, sm_mon_agent_ms(m), err)) < 0)
		return r;
	m->status = SM_OCI_STATUS_RUNNING;
	return 0;
}

/* pause: the vCPUs stop (the guest, agent included, is frozen); resume lets them run again. */
int sm_mon_pause(struct sm_mon *m, bool pause, sm_error_t *err)
{
	struct sm_vm *vm = sm_machine_vm(sm_sandbox_machine(m->sb));
	int r;

	if (pause && m->status != SM_OCI_STATUS_RUNNING)
		return sm_error_set(err, 0, "container is %s, not running", sm_oci_status_name(m->status));
	if (!pause && m->status != SM_OCI_STATUS_PAUSED)
		return sm_error_set(err, 0, "container is %s, not paused", sm_oci_status_name(m->status));
	if ((r = pause ? sm_vm_pause(vm, err) : sm_vm_resume(vm, err)) < 0)
		return r;
	m->status = pause ? SM_OCI_STATUS_PAUSED : SM_OCI_STATUS_RUNNING;
	return 0;
}

/*
 * A frozen guest cannot answer the agent protocol: thaw it for what must reach the guest (a
 * SIGKILL, a shutdown: the container is about to go, so limits an UPDATE left for resume are
 * dropped).
 */
static int thaw(struct sm_mon *m, sm_error_t *err)
{
	if (m->status != SM_OCI_STATUS_PAUSED)
		return 0;
	m->pending_limits = (struct sm_guest_limits){0};
	return sm_mon_pause(m, false, err);
}

/*
 * UPDATE: new limits for the container's guest cgroup. A paused guest cannot answer, so they are
 * kept (merged field by field with earlier ones) and sent at RESUME; whether the agent can take
 * them at all is checked now, so an old agent is reported to this update, not to the resume.
 */
static int do_update(struct sm_mon *m, int fd, const struct sm_mon_msg *msg, sm_error_t *err)
{
	struct sm_guest_limits l = {0};
	struct sm_buf b = {0};
	bool deferred = false;
	int r;

	if (sm_mon_get_u64(msg, SM_MON_TAG_PIDS_LIMIT, &l.pids) < 0 ||
	    sm_mon_get_u64(msg, SM_MON_TAG_MEMORY_LIMIT, &l.memory) < 0 || (l.pids == 0 && l.memory == 0))
		return sm_error_set(err, 0, "malformed UPDATE request");
	if (m->status != SM_OCI_STATUS_CREATED && m->status != SM_OCI_STATUS_RUNNING &&
	    m->status != SM_OCI_STATUS_PAUSED)
		return sm_error_set(err, 0, "container not running");
	if (m->agent == NULL || !sm_agent_client_has_feature(m->agent, SM_AGENT_FEATURE_UPDATE))
		return sm_error_set(
		    err, EOPNOTSUPP,
		    "the container's guest agent is too old to change limits of a running "
		    "container (its VM comes from an older sm-runtime's template or checkpoint)");
	if (m->status == SM_OCI_STATUS_PAUSED) {
		if (l.pids)
			m->pending_limits.pids = l.pids;
		if (l.memory)
			m->pending_limits.memory = l.memory;
		deferred = true;
	} else if ((r = sm_agent_client_update(m->agent, &l, sm_mon_agent_ms(m), err)) < 0) {
		return r;
	}
	if (deferred)
		sm_tlv_put_u32(&b, SM_MON_TAG_DEFERRED, 1);
	r = sm_mon_send(fd, SM_MON_OK, 0, &b, NULL, 0, err);
	sm_buf_free(&b);
	return r;
}

/*
 * RESUME, then the guest limits an UPDATE left while paused. The container runs again either way;
 * a failure there (the agent's feature was checked at UPDATE) goes to the monitor's log.
 */
static int do_resume(struct sm_mon *m, sm_error_t *err)
{
	struct sm_guest_limits l = m->pending_limits;
	sm_error_t e = SM_ERROR_INIT;
	int r;

	if ((r = sm_mon_pause(m, false, err)) < 0)
		return r;
	m->pending_limits = (struct sm_guest_limits){0};
	if ((l.pids || l.memory) && sm_agent_client_update(m->agent, &l, sm_mon_agent_ms(m), &e) < 0)
		sm_log(SM_LOG_ERROR,
		       "resume: the guest limits given to update while paused were not applied: %s", e.msg);
	return 0;
}

static int do_kill(struct sm_mon *m, const struct sm_mon_msg *msg, sm_error_t *err)
{
	uint32_t sig = SIGTERM, all = 0, stream = 0;

	if (sm_mon_get_u32(msg, SM_MON_TAG_SIGNAL, &sig) < 0 ||
	    sm_mon_get_u32(msg, SM_MON_TAG_ALL, &all) < 0 ||
	    sm_mon_get_u32(msg, SM_MON_TAG_STREAM, &stream) < 0 || sig == 0 || sig >= 65)
		return sm_error_set(err, 0, "malformed KILL request");
	if (m->status == SM_OCI_STATUS_PAUSED) {
		/* runc: a frozen container still dies of SIGKILL; other signals wait for resume. */
		if (sig != SIGKILL)
			return sm_error_set(err, 0, "container is paused: resume it to deliver signal %u",
					    sig);
		int r = thaw(m, err);
		if (r < 0)
			return r;
	}
	if (m->status != SM_OCI_STATUS_CREATED && m->status != SM_OCI_STATUS_RUNNING)
		return sm_error_set(err, 0, "container not running");
	int r = sm_agent_client_signal(m->agent, stream ? stream : SM_MON_INIT_STREAM, (int)sig, all != 0,
				       sm_mon_agent_ms(m), err);
	/*
	 * The process exited after the status check but before the agent signalled it (its exit
	 * is on its way to us): the same answer as a kill that comes a moment later.
	 */
	if (r < 0 && stream == 0 && !all && err->code == ESRCH) {
		sm_error_clear(err);
		return sm_error_set(err, 0, "container not running");
	}
	return r;
}

static void do_status(struct sm_mon *m, int fd)
{
	struct sm_buf b = {0};

	sm_tlv_put_u32(&b, SM_MON_TAG_STATE, (uint32_t)m->status);
	sm_tlv_put_u32(&b, SM_MON_TAG_PID, m->guest_pid);
	if (m->status == SM_OCI_STATUS_STOPPED)
		sm_tlv_put_u32(&b, SM_MON_TAG_EXIT_STATUS, (uint32_t)m->exit_status);
	if (m->agent != NULL && sm_agent_client_has_feature(m->agent, SM_AGENT_FEATURE_OOM))
		sm_tlv_put_u64(&b, SM_MON_TAG_GUEST_OOM, sm_agent_client_oom_kills(m->agent));
	(void)sm_mon_send(fd, SM_MON_STATUS_REPLY, 0, &b, NULL, 0, NULL);
	sm_buf_free(&b);
}

static int do_ps(struct sm_mon *m, int fd, sm_error_t *err)
{
	cleanup_free uint32_t *pids = NULL;
	struct sm_buf b = {0}, raw = {0};
	size_t n = 0;
	int r;

	if (m->status == SM_OCI_STATUS_STOPPED)
		return sm_error_set(err, 0, "container not running");
	if (m->status == SM_OCI_STATUS_PAUSED)
		return sm_error_set(err, 0,
				    "container is paused: its processes cannot be listed until resume");
	if ((r = sm_agent_client_ps_full(m->agent, &pids, &n, &raw, sm_mon_agent_ms(m), err)) < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		sm_tlv_put_u32(&b, SM_MON_TAG_PID, pids[i]);
	/* The agent's process details (its tags) for `ps`: bounded by the agent to fit here. */
	if (raw.len > 0 && raw.len <= SM_PS_MAX_PAYLOAD)
		sm_tlv_put(&b, SM_MON_TAG_PS_INFO, raw.data, (uint32_t)raw.len);
	sm_buf_free(&raw);
	r = sm_mon_send(fd, SM_MON_PS_REPLY, 0, &b, NULL, 0, err);
	sm_buf_free(&b);
	return r;
}

static int do_exec(struct sm_mon *m, struct sm_mon_client *cl, struct sm_mon_msg *msg, sm_error_t *err)
{
	struct sm_tlv_reader rd;
	struct sm_buf payload = {0};
	struct sm_agent_stdio io;
	const uint8_t *val = NULL;
	uint32_t len = 0, pid = 0, stream;
	uint16_t tag;
	int r;

	if (m->status != SM_OCI_STATUS_CREATED && m->status != SM_OCI_STATUS_RUNNING)
		return sm_error_set(err, 0, "cannot exec in a stopped container");
	if (cl->exec_stream != 0 || msg->nfds != 3)
		return sm_error_set(err, 0, "malformed EXEC request (one per connection, with 3 fds)");
	sm_tlv_reader_init(&rd, msg->payload, msg->hdr.len);
	while ((r = sm_tlv_next(&rd, &tag, &val, &len)) > 0 && tag != SM_MON_TAG_PROCESS)
		;
	if (r <= 0)
		return sm_error_set(err, 0, "malformed EXEC request (no process)");
	if (sm_buf_put(&payload, val, len) < 0)
		return sm_error_set(err, ENOMEM, "exec");
	stream = m->next_stream++;
	for (int i = 0; i < 3; i++) {
		cl->io[i] = msg->fds[i];
		msg->fds[i] = -1;
	}
	io = (struct sm_agent_stdio){cl->io[0], cl->io[1], cl->io[2]};
	r = sm_agent_client_exec(m->agent, stream, &payload, &io, &pid, sm_mon_agent_ms(m), err);
	sm_buf_free(&payload);
	if (r < 0) {
		sm_agent_client_release(m->agent, stream);
		for (int i = 0; i < 3; i++) {
			close(cl->io[i]);
			cl->io[i] = -1;
		}
		return r;
	}
	cl->exec_stream = stream;
	send_ok(cl->fd, pid, stream);
	return 0;
}

static void drop_client(struct sm_mon *m, size_t i)
{
	struct sm_mon_client *cl = &m->clients[i];

	if (cl->exec_stream != 0 && m->agent != NULL) {
		/* The exec proxy is gone: nobody reaps its process's status; keep it running. */
		sm_agent_client_release(m->agent, cl->exec_stream);
	}
	for (int k = 0; k < 3; k++)
		if (cl->io[k] >= 0)
			close(cl->io[k]);
	close(cl->fd);
	m->clients[i] = m->clients[--m->nclients];
}

/* RESIZE: the exec proxy's terminal changed size; its process's guest pty follows. */
static int do_resize(struct sm_mon *m, const struct sm_mon_client *cl, const struct sm_mon_msg *msg,
		     sm_error_t *err)
{
	uint32_t rows = 0, cols = 0;

	if (sm_mon_get_u32(msg, SM_MON_TAG_ROWS, &rows) <= 0 || sm_mon_get_u32(msg, SM_MON_TAG_COLS, &cols) <= 0)
		return sm_error_set(err, 0, "malformed RESIZE request");
	if (cl->exec_stream == 0)
		return sm_error_set(err, 0, "RESIZE: this connection has no exec'd process");
	return sm_agent_client_resize(m->agent, cl->exec_stream, rows, cols, err);
}

/* One request from client i; false when the client is to be dropped. */
static bool handle_client(struct sm_mon *m, size_t i)
{
	struct sm_mon_client *cl = &m->clients[i];
	sm_error_t e = SM_ERROR_INIT;
	struct sm_mon_msg msg;
	int r = sm_mon_recv(cl->fd, &msg, 5000, NULL);

	if (r <= 0)
		return false;
	switch (msg.hdr.type) {
	case SM_MON_START:
		r = do_start(m, &e);
		break;
	case SM_MON_KILL:
		r = do_kill(m, &msg, &e);
		break;
	case SM_MON_STATUS:
		do_status(m, cl->fd);
		sm_mon_msg_clear(&msg);
		return true;
	case SM_MON_PS:
		r = do_ps(m, cl->fd, &e);
		if (r == 0) {
			sm_mon_msg_clear(&msg);
			return true;
		}
		break;
	case SM_MON_PAUSE:
		r = sm_mon_pause(m, true, &e);
		break;
	case SM_MON_RESUME:
		r = do_resume(m, &e);
		break;
	case SM_MON_UPDATE:
		r = do_update(m, cl->fd, &msg, &e);
		if (r == 0) {
			sm_mon_msg_clear(&msg);
			return true;
		}
		break;
	case SM_MON_EXEC:
		r = do_exec(m, cl, &msg, &e);
		sm_mon_msg_clear(&msg);
		if (r == 0)
			return true;
		(void)sm_mon_send_error(cl->fd, 0, &e, NULL);
		return true;
	case SM_MON_SHUTDOWN:
		m->shutdown = true;
		r = thaw(m, &e);
		break;
	case SM_MON_CHECKPOINT:
		r = sm_mon_checkpoint(m, &msg, &e);
		break;
	case SM_MON_RESIZE:
		r = do_resize(m, cl, &msg, &e);
		break;
	default:
		r = sm_error_set(&e, 0, "unexpected monitor request type %u", msg.hdr.type);
		break;
	}
	sm_mon_msg_clear(&msg);
	if (r < 0)
		(void)sm_mon_send_error(cl->fd, 0, &e, NULL);
	else
		send_ok(cl->fd, 0, 0);
	return true;
}

static void accept_clients(struct sm_mon *m)
{
	int fd;

	while ((fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		if (m->nclients == SM_MON_MAX_CLIENTS) {
			close(fd);
			continue;
		}
		m->clients[m->nclients++] = (struct sm_mon_client){.fd = fd, .io = {-1, -1, -1}};
	}
}

/* Exec'd processes that ended: their EXIT goes to the exec proxy that asked for them. */
static void reap_execs(struct sm_mon *m)
{
	for (size_t i = 0; i < m->nclients; i++) {
		struct sm_mon_client *cl = &m->clients[i];
		struct sm_buf b = {0};
		int status;

		if (cl->exec_stream == 0 || !sm_agent_client_exited(m->agent, cl->exec_stream, &status))
			continue;
		sm_agent_client_release(m->agent, cl->exec_stream);
		cl->exec_stream = 0;
		for (int k = 0; k < 3; k++) {
			close(cl->io[k]);
			cl->io[k] = -1;
		}
		sm_tlv_put_u32(&b, SM_MON_TAG_STATUS, (uint32_t)status);
		(void)sm_mon_send(cl->fd, SM_MON_EXIT, 0, &b, NULL, 0, NULL);
		sm_buf_free(&b);
	}
}

static void forward_signal(struct sm_mon *m)
{
	struct signalfd_siginfo si;

	while (read(m->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGWINCH)
			continue; /* the loop reads the pty's size right after (check_winsize) */
		if (m->status == SM_OCI_STATUS_CREATED || m->status == SM_OCI_STATUS_RUNNING)
			(void)sm_agent_client_signal(m->agent, SM_MON_INIT_STREAM, (int)si.ssi_signo, false,
						     sm_mon_agent_ms(m), NULL);
	}
}

/* Terminal input to the console pipe, without ever blocking the loop. */
static void pump_console(struct sm_mon *m, short in_ev, short out_ev)
{
	if (m->inlen == 0 && (in_ev & (POLLIN | POLLHUP))) {
		ssize_t n = read(m->o->term_in, m->inbuf, sizeof(m->inbuf));
		if (n > 0) {
			m->inlen = (size_t)n;
			m->inoff = 0;
		} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
			m->feed_console = false; /* EOF: the console's input ends */
			close(m->cons_pipe[1]);
			m->cons_pipe[1] = -1;
			return;
		}
	}
	if (m->inlen > 0 && (out_ev & POLLOUT || in_ev)) {
		ssize_t n = write(m->cons_pipe[1], m->inbuf + m->inoff, m->inlen);
		if (n > 0) {
			m->inoff += (size_t)n;
			m->inlen -= (size_t)n;
		}
	}
}

static void check_winsize(struct sm_mon *m)
{
	struct winsize ws;

	if (m->o->cfg->process->terminal && ioctl(m->o->term_in, TIOCGWINSZ, &ws) == 0 &&
	    (ws.ws_col != m->ws.ws_col || ws.ws_row != m->ws.ws_row) && ws.ws_col > 0) {
		m->ws = ws;
		sm_sandbox_console_set_size(m->sb, ws.ws_col, ws.ws_row);
	}
}

/* The container process's status file, for `state` after the monitor is gone. */
void sm_mon_write_exit_file(struct sm_mon *m)
{
	char buf[16];
	int n = snprintf(buf, sizeof(buf), "%d\n", m->exit_status);

	(void)sm_write_file_atomic(SM_CONTAINER_EXIT_FILE, buf, (size_t)n, 0600, NULL);
}

static void serve(struct sm_mon *m)
{
	while (!m->shutdown) {
		struct pollfd p[SM_MON_MAX_CLIENTS + 5];
		size_t n = 0, first_client, cons = SIZE_MAX;
		sm_error_t e = SM_ERROR_INIT;
		int status;

		p[n++] = (struct pollfd){m->listen_fd, POLLIN, 0};
		p[n++] = (struct pollfd){sm_agent_client_fd(m->agent), POLLIN, 0};
		p[n++] = (struct pollfd){m->sfd, POLLIN, 0};
		if (m->feed_console && m->cons_pipe[1] >= 0) {
			cons = n;
			p[n++] = (struct pollfd){m->inlen ? -1 : m->o->term_in, POLLIN, 0};
			p[n++] = (struct pollfd){m->inlen ? m->cons_pipe[1] : -1, POLLOUT, 0};
		}
		first_client = n;
		for (size_t i = 0; i < m->nclients; i++)
			p[n++] = (struct pollfd){m->clients[i].fd, POLLIN, 0};
		if (poll(p, n, 1000) < 0 && errno != EINTR)
			break;
		if (sm_agent_client_step(m->agent, 0, &e) < 0) {
			/* The agent connection broke: the VM died under the container. */
			if (m->status != SM_OCI_STATUS_STOPPED) {
				m->status = SM_OCI_STATUS_STOPPED;
				m->exit_status = 128 + SIGKILL;
				sm_mon_write_exit_file(m);
			}
			break;
		}
		if (p[2].revents & POLLIN)
			forward_signal(m);
		if (cons != SIZE_MAX)
			pump_console(m, p[cons].revents, p[cons + 1].revents);
		check_winsize(m);
		/* Clients in reverse: dropping one moves the last into its slot. */
		for (size_t i = n - first_client; i-- > 0;)
			if (p[first_client + i].revents && !handle_client(m, i))
				drop_client(m, i);
		if (p[0].revents & POLLIN)
			accept_clients(m);
		reap_execs(m);
		if (m->status != SM_OCI_STATUS_STOPPED &&
		    sm_agent_client_exited(m->agent, SM_MON_INIT_STREAM, &status)) {
			sm_agent_client_release(m->agent, SM_MON_INIT_STREAM);
			m->status = SM_OCI_STATUS_STOPPED;
			m->exit_status = status;
			sm_mon_write_exit_file(m);
			break;
		}
	}
}

/* The end: every process killed, exec proxies told, the VM stopped and freed. */
static void shut_down(struct sm_mon *m)
{
	struct sm_machine_result res;

	bool synced = false;

	if (m->agent != NULL) {
		synced = sm_agent_client_shutdown(m->agent, 10000, NULL) == 0;
		reap_execs(m);
	}
	unlink(SM_CONTAINER_MONITOR_SOCK);
	/*
	 * Once the agent answered SHUTDOWN, every process is gone and the guest has synced: nothing
	 * in the guest is worth its emulated reboot path (seconds on kvm_pvm), so stop the VM here.
	 */
	if (m->sb != NULL &&
	    (synced || sm_machine_wait(sm_sandbox_machine(m->sb), 10 * 1000000000ll, &res) < 0))
		sm_vm_stop(sm_machine_vm(sm_sandbox_machine(m->sb)), SM_VM_STOP_REQUESTED,
			   "container stopped");
	while (m->nclients > 0)
		drop_client(m, m->nclients - 1);
	sm_agent_client_free(m->agent);
	m->agent = NULL;
	sm_sandbox_destroy(m->sb);
	m->sb = NULL;
	sm_bind_shares_clear(&m->binds);
}

static void report(int fd, const char *text)
{
	if (fd >= 0) {
		(void)sm_write_all(fd, text, strlen(text));
		close(fd);
	}
}

int sm_monitor_main(const struct sm_monitor_opts *o)
{
	struct sm_mon m = {.o = o,
			    .status = SM_OCI_STATUS_CREATING,
			    .next_stream = SM_MON_INIT_STREAM + 1,
			    .listen_fd = -1,
			    .sfd = -1,
			    .cons_pipe = {-1, -1},
			    .cid_lock_fd = -1,
			    .cid_dir_fd = -1,
			    .snapshot_dir = o->template_dir};
	sm_error_t err = SM_ERROR_INIT;
	sigset_t set;
	int r;

	signal(SIGPIPE, SIG_IGN);
	/* Blocked before the VMM's threads exist, so only the signalfd sees them. */
	sigemptyset(&set);
	for (size_t i = 0; i < SM_ARRAY_SIZE(forwarded_signals); i++)
		sigaddset(&set, forwarded_signals[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	m.sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (chdir(o->dir) < 0)
		r = sm_error_set(&err, errno, "state directory `%s`", o->dir);
	else if (m.sfd < 0)
		r = sm_error_set(&err, errno, "signalfd");
	else {
		sm_mon_cid_claim(&m);
		if (o->restore_image != NULL)
			r = sm_mon_restore_checkpoint(&m, &err);
		else if ((r = sm_mon_boot_sandbox(&m, &err)) >= 0)
			r = monitor_create_container(&m, &err);
		if (r >= 0)
			r = listen_control(&m, &err);
	}
	if (r < 0) {
		report(o->ready_fd, err.msg[0] ? err.msg : "the monitor failed");
		shut_down(&m);
		sm_mon_cid_release(&m);
		return 1;
	}
	report(o->ready_fd, "ok");
	if (m.cons_pipe[1] >= 0)
		fcntl(m.cons_pipe[1], F_SETFL, O_NONBLOCK);
	serve(&m);
	shut_down(&m);
	if (m.status != SM_OCI_STATUS_STOPPED) {
		/* SHUTDOWN before the process ended: it was killed with the VM. */
		m.exit_status = 128 + SIGKILL;
		sm_mon_write_exit_file(&m);
	}
	if (m.listen_fd >= 0)
		close(m.listen_fd);
	for (int i = 0; i < 2; i++)
		if (m.cons_pipe[i] >= 0)
			close(m.cons_pipe[i]);
	close(m.sfd);
	sm_mon_cid_release(&m);
	return m.exit_status;
}
