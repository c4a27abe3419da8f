/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's process table: spawning CREATE/EXEC children, their setup results, START, signals,
 * the stdio relay with its flow control, reaping and the EXIT reports.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/proto-tags.h"
#include "guest/agent/agent-internal.h"
#include "guest/agent/sys.h"

#define STDIN_MAX_PENDING (4 * SM_PROTO_STREAM_WINDOW)
#define KILL_WAIT_NS (5ull * 1000 * 1000 * 1000)
#define START_EXEC_WAIT_MS 10000

struct agent_proc *agent_proc_find(struct sm_agent *a, uint32_t stream)
{
	for (struct agent_proc *p = a->procs; p != NULL; p = p->next) {
		if (p->stream == stream)
			return p;
	}
	return NULL;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void proc_free(struct agent_proc *p)
{
	close_fd(&p->sync_fd);
	close_fd(&p->in_fd);
	close_fd(&p->out_fd);
	close_fd(&p->err_fd);
	sm_buf_free(&p->in_buf);
	free(p);
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void close_container(struct sm_agent *a)
{
	for (int i = 0; i < SM_AGENT_NS_COUNT; i++)
		close_fd(&a->ns_fds[i]);
	close_fd(&a->root_fd);
	close_fd(&a->pidns_fd);
}

static int check_new_stream(struct sm_agent *a, uint32_t stream)
{
	if (stream == 0) {
		agent_send_error(a, stream, EINVAL, "stream 0 is the connection, not a process");
		return -1;
	}
	if (agent_proc_find(a, stream) != NULL) {
		agent_send_error(a, stream, EEXIST, "stream %u is already in use", stream);
		return -1;
	}
	if (a->nprocs >= SM_AGENT_MAX_PROCS) {
		agent_send_error(a, stream, EAGAIN, "too many processes (%d)", SM_AGENT_MAX_PROCS);
		return -1;
	}
	return 0;
}

/* Move into the pid namespace the child must be born in; restored by pidns_leave(). */
static int pidns_enter(struct sm_agent *a, uint16_t request, const struct sm_agent_container *ctr)
{
	if (request == SM_MSG_CREATE && (ctr->namespaces & CLONE_NEWUSER))
		return 0; /* sm_agent_userns_clone() makes the pid namespace inside the user one */
	if (request == SM_MSG_CREATE && (ctr->namespaces & CLONE_NEWPID))
		return unshare(CLONE_NEWPID) < 0 ? -1 : 1;
	if (request == SM_MSG_EXEC && a->pidns_fd >= 0)
		return setns(a->pidns_fd, CLONE_NEWPID) < 0 ? -1 : 1;
	return 0;
}

static void pidns_leave(struct sm_agent *a, uint16_t request)
{
	if (request == SM_MSG_CREATE && a->pidns_fd < 0)
		a->pidns_fd = open("/proc/self/ns/pid_for_children", O_RDONLY | O_CLOEXEC);
	if (setns(a->own_pidns, CLONE_NEWPID) < 0)
		agent_log(a, "cannot return to the agent's pid namespace: %s", strerror(errno));
}

static void close_pair(int p[2])
{
	close_fd(&p[0]);
	close_fd(&p[1]);
}

/* Fork the child that sets the process up; the result arrives on p->sync_fd. */
static int spawn(struct sm_agent *a, uint32_t stream, uint16_t request, const struct sm_agent_container *ctr,
		 const struct sm_agent_process *proc, sm_error_t *err)
{
	int sync[2] = {-1, -1}, pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
	struct agent_proc *p;
	int ns;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync) < 0)
		return sm_error_set(err, errno, "socketpair");
	if (!proc->terminal &&
	    (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0)) {
		sm_error_set(err, errno, "stdio pipes");
		goto fail;
	}
	ns = pidns_enter(a, request, ctr);
	if (ns < 0) {
		sm_error_set(err, errno, "enter the container's pid namespace");
		goto fail;
	}
	if (request == SM_MSG_CREATE && (ctr->namespaces & CLONE_NEWUSER))
		pid = sm_agent_userns_clone(ctr, proc, a->staging_dir, &a->pidns_fd); /* child.c */
	else
		pid = fork();
	if (pid == 0) {
		struct sm_agent_child_args args = {
		    .ctr = ctr,
		    .proc = proc,
		    .staging_dir = a->staging_dir,
		    .sync_fd = sync[1],
		    .stdio = {pin[0], pout[1], perr[1]},
		    .root_fd = a->root_fd,
		};
		memcpy(args.ns_fds, a->ns_fds, sizeof(args.ns_fds));
		sm_agent_child_run(&args);
	}
	if (ns > 0)
		pidns_leave(a, request);
	if (pid < 0) {
		sm_error_set(err, errno, "fork");
		goto fail;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		kill(pid, SIGKILL);
		sm_error_set(err, ENOMEM, "process table");
		goto fail;
	}
	*p = (struct agent_proc){.stream = stream,
				 .pid = pid,
				 .request = request,
				 .state = PROC_SETUP,
				 .terminal = proc->terminal,
				 .sync_fd = steal_fd(&sync[0]),
				 .in_fd = steal_fd(&pin[1]),
				 .out_fd = steal_fd(&pout[0]),
				 .err_fd = steal_fd(&perr[0]),
				 .out_credit = SM_PROTO_STREAM_WINDOW};
	close_pair(sync);
	close_pair(pin);
	close_pair(pout);
	close_pair(perr);
	if (p->in_fd >= 0) {
		set_nonblock(p->in_fd);
		set_nonblock(p->out_fd);
		set_nonblock(p->err_fd);
	}
	p->next = a->procs;
	a->procs = p;
	a->nprocs++;
	return 0;
fail:
	close_pair(sync);
	close_pair(pin);
	close_pair(pout);
	close_pair(perr);
	return -1;
}

void agent_create(struct sm_agent *a, uint32_t stream, const uint8_t *payload, size_t len)
{
	struct sm_agent_container ctr = {0};
	struct sm_agent_process proc = {0};
	sm_error_t err = SM_ERROR_INIT;

	if (a->have_container) {
		agent_send_error(a, stream, EBUSY, "create: this guest already has a container");
		return;
	}
	if (check_new_stream(a, stream) < 0)
		return;
	if (sm_agent_process_decode(payload, len, &proc, &err) < 0 ||
	    sm_agent_container_decode(payload, len, &ctr, &err) < 0 ||
	    spawn(a, stream, SM_MSG_CREATE, &ctr, &proc, &err) < 0)
		agent_send_error(a, stream, err.code, "create: %s", err.msg);
	else {
		a->have_container = true;
		a->namespaces = ctr.namespaces; /* the namespaces EXEC joins (open_container) */
	}
	sm_agent_process_free(&proc);
	sm_agent_container_free(&ctr);
}

void agent_exec(struct sm_agent *a, uint32_t stream, const uint8_t *payload, size_t len)
{
	struct sm_agent_process proc = {0};
	sm_error_t err = SM_ERROR_INIT;

	if (!a->have_container || a->root_fd < 0 || a->container_stopped) {
		agent_send_error(a, stream, ESRCH, "exec: the container is %s",
				 a->container_stopped ? "stopped" : "not created");
		return;
	}
	if (check_new_stream(a, stream) < 0)
		return;
	if (sm_agent_process_decode(payload, len, &proc, &err) < 0 ||
	    spawn(a, stream, SM_MSG_EXEC, NULL, &proc, &err) < 0)
		agent_send_error(a, stream, err.code, "exec: %s", err.msg);
	sm_agent_process_free(&proc);
}

static int open_container(struct sm_agent *a, pid_t pid)
{
	/* time_for_children: init has not reached its execve, which moves it into the new one. */
	static const char *const names[SM_AGENT_NS_COUNT] = {"mnt",    "uts", "ipc",
							     "cgroup", "net", "time_for_children"};
	static const uint32_t flags[SM_AGENT_NS_COUNT] = {
	    0, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWCGROUP, CLONE_NEWNET, CLONE_NEWTIME};
	char path[64];

	for (int i = 0; i < SM_AGENT_NS_COUNT; i++) {
		if (i > 0 && !(a->namespaces & flags[i]))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, names[i]);
		a->ns_fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (a->ns_fds[i] < 0)
			return -errno;
	}
	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	a->root_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return a->root_fd < 0 ? -errno : 0;
}

static void setup_failed(struct sm_agent *a, struct agent_proc *p, int code, const char *msg)
{
	agent_send_error(a, p->stream, code, "%s: %s", p->request == SM_MSG_CREATE ? "create" : "exec", msg);
	p->silent = true;
	close_fd(&p->sync_fd);
	kill(p->pid, SIGKILL);
	if (p->request == SM_MSG_CREATE) {
		close_container(a);
		a->have_container = false;
	}
}

static void setup_succeeded(struct sm_agent *a, struct agent_proc *p, int master)
{
	if (p->terminal && master >= 0) {
		p->in_fd = master;
		p->out_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
		set_nonblock(master);
	}
	if (p->request == SM_MSG_CREATE) {
		int r = open_container(a, p->pid);
		if (r < 0) {
			setup_failed(a, p, -r, "open the container's namespaces");
			return;
		}
		a->init_pid = p->pid;
		p->state = PROC_CREATED;
		agent_send_ok(a, p->stream, (uint32_t)p->pid);
		agent_oom_watch(a); /* the child made the guest cgroup, if the config limits anything */
		return;
	}
	p->state = PROC_RUNNING;
	agent_send_ok(a, p->stream, (uint32_t)p->pid);
	if (send(p->sync_fd, "S", 1, MSG_NOSIGNAL) != 1)
		agent_log(a, "exec stream %u: the process is gone before it started", p->stream);
	close_fd(&p->sync_fd);
}

void agent_proc_sync_ready(struct sm_agent *a, struct agent_proc *p)
{
	cleanup_free char *msg = NULL;
	int code, master, r;

	if (p->state != PROC_SETUP) {
		close_fd(&p->sync_fd); /* the created process died before START */
		return;
	}
	r = sm_agent_sync_read_result(p->sync_fd, &code, &msg, &master);
	if (r <= 0)
		setup_failed(a, p, r < 0 ? -r : EIO, "the process ended during its setup");
	else if (msg != NULL)
		setup_failed(a, p, code, msg);
	else
		setup_succeeded(a, p, master);
}

/*
 * Wait (bounded) until the started child has called execve: its end of the sync socket is
 * close-on-exec, so EOF means the user program now runs (or the child died). START answers only
 * then: poststart hooks run after the program started, as the spec orders them, and a signal sent
 * after `start` reaches the program, not the runtime's pre-exec child (on an emulated guest kernel
 * the exec takes seconds). Between START and execve the child writes at most one error line to
 * its stderr pipe and needs nothing from the agent, so this cannot deadlock.
 */
static void wait_exec(int sync_fd)
{
	struct pollfd pfd = {sync_fd, POLLIN, 0};
	int r;

	do
		r = poll(&pfd, 1, START_EXEC_WAIT_MS);
	while (r < 0 && errno == EINTR);
}

void agent_start(struct sm_agent *a, uint32_t stream)
{
	struct agent_proc *p = agent_proc_find(a, stream);

	if (p == NULL || p->request != SM_MSG_CREATE || p->silent) {
		agent_send_error(a, stream, ENOENT, "start: stream %u is not a created container", stream);
		return;
	}
	if (p->state != PROC_CREATED) {
		agent_send_error(a, stream, EINVAL, "start: the container is %s",
				 p->state == PROC_SETUP ? "still being created" : "already started");
		return;
	}
	if (p->reaped || p->sync_fd < 0 || send(p->sync_fd, "S", 1, MSG_NOSIGNAL) != 1) {
		agent_send_error(a, stream, ESRCH, "start: the container process has exited");
		return;
	}
	wait_exec(p->sync_fd);
	close_fd(&p->sync_fd);
	p->state = PROC_RUNNING;
	agent_send_ok(a, stream, 0);
}

struct pid_pair {
	pid_t pid, ppid;
};

/* The parent of every user process visible in /proc (kernel threads left out); at most max. */
static size_t read_process_tree(struct pid_pair *out, size_t max)
{
	cleanup_dir DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0;

	while (d != NULL && n < max && (e = readdir(d)) != NULL) {
		char path[64], buf[512], *rp;
		unsigned long flags = 0;
		cleanup_close int fd = -1;
		long pid = strtol(e->d_name, &rp, 10);
		int ppid = 0;
		ssize_t len;

		if (*rp != '\0' || pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		len = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		rp = strrchr(buf, ')');
		/* After "pid (comm)": state ppid pgrp session tty_nr tpgid flags */
		if (rp == NULL || sscanf(rp + 1, " %*c %d %*d %*d %*d %*d %lu", &ppid, &flags) != 2 ||
		    (flags & SM_PF_KTHREAD))
			continue;
		out[n++] = (struct pid_pair){(pid_t)pid, (pid_t)ppid};
	}
	return n;
}

/*
 * Container processes: the agent's descendants (orphans are re-parented to it: it is PID 1 or a
 * subreaper). In the guest that is every user process but the agent; run on a host by mistake,
 * the agent still never signals what it did not start.
 */
static size_t container_pids(pid_t *out, size_t max)
{
	static struct pid_pair tree[4096];
	size_t n = read_process_tree(tree, sizeof(tree) / sizeof(tree[0])), count = 0;
	pid_t self = getpid();

	for (size_t i = 0; i < n && count < max; i++) {
		pid_t up = tree[i].ppid;

		/* Follow the parents inside the snapshot; the depth bound guards against a cycle. */
		for (int depth = 0; depth < 256 && up != self && up > 0; depth++) {
			size_t j = 0;
			while (j < n && tree[j].pid != up)
				j++;
			up = j < n ? tree[j].ppid : 0;
		}
		if (up == self && tree[i].pid != self)
			out[count++] = tree[i].pid;
	}
	return count;
}

static int cmp_pid(const void *x, const void *y)
{
	pid_t a = *(const pid_t *)x, b = *(const pid_t *)y;
	return (a > b) - (a < b);
}

/* Up to size-1 bytes of a /proc file, NUL-terminated; the length read, or -1. */
static ssize_t read_proc_file(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	cleanup_close int fd = -1;
	size_t got = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (got < size - 1) {
		ssize_t n = read(fd, buf + got, size - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return (ssize_t)got;
}

/* The effective id from a "Uid:" or "Gid:" line of /proc/<pid>/status (real, effective, ...). */
static uint32_t status_id(const char *status, const char *key)
{
	const char *p = strstr(status, key);
	unsigned real = 0, eff = 0;

	if (p == NULL || sscanf(p + strlen(key), " %u %u", &real, &eff) != 2)
		return 0;
	return eff;
}

static uint64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The command line as SM_TAG_PROC_ARG fields (none when empty: a zombie or a kernel thread). */
static void put_cmdline(struct sm_buf *b, pid_t pid)
{
	static char buf[SM_PS_MAX_CMDLINE + 1];
	ssize_t len = read_proc_file(pid, "cmdline", buf, sizeof(buf));
	size_t start = 0;

	/* A process may rewrite its arguments without the final NUL: the tail is one more argument. */
	for (ssize_t i = 0; i <= len; i++) {
		if (i < len && buf[i] != '\0')
			continue;
		if ((size_t)i > start || i < len)
			sm_tlv_put(b, SM_TAG_PROC_ARG, buf + start, (uint32_t)((size_t)i - start));
		start = (size_t)i + 1;
	}
}

/*
 * One process for PS_REPLY (SM_TAG_PROC): /proc/<pid>/stat for the numbers, status for the
 * effective ids, cmdline for the arguments. False when it vanished meanwhile.
 */
static bool put_proc_info(struct sm_buf *b, pid_t pid, uint64_t boot_ms, uint64_t real_ms)
{
	char stat[1024], status[4096], *open_paren, *close_paren;
	char state = '?';
	int ppid = 0, pgid = 0, sid = 0, tty = 0;
	unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
	long nice = 0, threads = 0, rss = 0, hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	uint64_t start_ms, elapsed;
	struct sm_buf e = {0};

	if (read_proc_file(pid, "stat", stat, sizeof(stat)) <= 0 ||
	    read_proc_file(pid, "status", status, sizeof(status)) <= 0)
		return false;
	open_paren = strchr(stat, '(');
	close_paren = strrchr(stat, ')');
	if (open_paren == NULL || close_paren == NULL || close_paren < open_paren ||
	    sscanf(close_paren + 1,
		   " %c %d %d %d %d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %ld %ld %*d %llu %llu %ld",
		   &state, &ppid, &pgid, &sid, &tty, &utime, &stime, &nice, &threads, &start, &vsize,
		   &rss) != 12)
		return false;
	if (hz <= 0)
		hz = 100;
	start_ms = start * 1000u / (unsigned long long)hz;
	elapsed = boot_ms > start_ms ? boot_ms - start_ms : 0;
	sm_tlv_put_u32(&e, SM_TAG_PROC_PID, (uint32_t)pid);
	sm_tlv_put_u32(&e, SM_TAG_PROC_PPID, (uint32_t)ppid);
	sm_tlv_put_u32(&e, SM_TAG_PROC_PGID, (uint32_t)pgid);
	sm_tlv_put_u32(&e, SM_TAG_PROC_SID, (uint32_t)sid);
	sm_tlv_put_u32(&e, SM_TAG_PROC_UID, status_id(status, "\nUid:"));
	sm_tlv_put_u32(&e, SM_TAG_PROC_GID, status_id(status, "\nGid:"));
	sm_tlv_put_u32(&e, SM_TAG_PROC_STATE, (uint32_t)(unsigned char)state);
	sm_tlv_put_u32(&e, SM_TAG_PROC_TTY, (uint32_t)tty);
	sm_tlv_put_u32(&e, SM_TAG_PROC_NICE, (uint32_t)(int32_t)nice);
	sm_tlv_put_u32(&e, SM_TAG_PROC_THREADS, (uint32_t)threads);
	sm_tlv_put_u64(&e, SM_TAG_PROC_START, (real_ms > elapsed ? real_ms - elapsed : 0) / 1000u);
	sm_tlv_put_u64(&e, SM_TAG_PROC_ELAPSED_MS, elapsed);
	sm_tlv_put_u64(&e, SM_TAG_PROC_CPU_MS, (utime + stime) * 1000u / (unsigned long long)hz);
	sm_tlv_put_u64(&e, SM_TAG_PROC_VSZ_KB, vsize / 1024u);
	sm_tlv_put_u64(&e, SM_TAG_PROC_RSS_KB,
		       rss > 0 && page > 0 ? (uint64_t)rss * (uint64_t)page / 1024u : 0);
	sm_tlv_put(&e, SM_TAG_PROC_COMM, open_paren + 1, (uint32_t)(close_paren - open_paren - 1));
	put_cmdline(&e, pid);
	sm_tlv_put(b, SM_TAG_PROC, e.data, (uint32_t)e.len);
	sm_buf_free(&e);
	return true;
}

/*
 * PS_REPLY: the sorted pids (what every host reads), then one SM_TAG_PROC per process with what
 * `ps -ef` shows, while the payload stays within SM_PS_MAX_PAYLOAD.
 */
void agent_ps(struct sm_agent *a, uint32_t stream)
{
	static pid_t pids[4096];
	size_t n = container_pids(pids, sizeof(pids) / sizeof(pids[0]));
	uint64_t boot_ms = clock_ms(CLOCK_BOOTTIME), real_ms = clock_ms(CLOCK_REALTIME);
	struct sm_buf info = {0};
	size_t off;

	qsort(pids, n, sizeof(pids[0]), cmp_pid);
	if (!agent_connected(a))
		return;
	off = sm_frame_begin(&a->out, SM_MSG_PS_REPLY, stream);
	for (size_t i = 0; i < n; i++)
		sm_tlv_put_u32(&a->out, SM_TAG_PID, (uint32_t)pids[i]);
	for (size_t i = 0; i < n; i++) {
		size_t before = info.len;
		if (put_proc_info(&info, pids[i], boot_ms, real_ms) &&
		    a->out.len - off + info.len > SM_PS_MAX_PAYLOAD) {
			info.len = before; /* too large: this and later processes go with their pid only */
			break;
		}
	}
	sm_buf_put(&a->out, info.data, info.len);
	sm_buf_free(&info);
	sm_frame_end(&a->out, off);
}

/*
 * Move every container process into the guest cgroup just created by an UPDATE. A process may
 * fork while we go (its child stays behind), so passes repeat until one moves nothing; bounded.
 */
static int move_container_procs(struct sm_agent *a, sm_error_t *err)
{
	static pid_t pids[4096];

	for (int pass = 0; pass < 16; pass++) {
		size_t n = container_pids(pids, sizeof(pids) / sizeof(pids[0]));
		size_t moved = 0;
		for (size_t i = 0; i < n; i++) {
			int r = sm_agent_cgroup_move(a->staging_dir, pids[i], err);
			if (r < 0)
				return r;
			moved += (size_t)r;
		}
		if (moved == 0)
			return 0;
	}
	return sm_error_set(err, EAGAIN,
			    "guest cgroup: the container's processes keep forking; some "
			    "may still be outside it");
}

void agent_update(struct sm_agent *a, uint32_t stream, const uint8_t *payload, size_t len)
{
	sm_error_t err = SM_ERROR_INIT;
	struct sm_agent_limits l;
	const char *bad = sm_agent_update_decode(payload, len, &l);
	bool created = false;
	int r = 0;

	if (bad != NULL) {
		agent_send_error(a, stream, EINVAL, "update: %s (fields %u, %u; %zu bytes)", bad,
				 SM_TAG_PIDS_LIMIT, SM_TAG_MEMORY_LIMIT, len);
		return;
	}
	if (!a->have_container || a->container_stopped) {
		agent_send_error(a, stream, ESRCH, "update: %s",
				 a->have_container ? "the container has stopped"
						   : "no container was created");
		return;
	}
	/*
	 * The processes move when the cgroup is new, or when an earlier UPDATE made it but failed
	 * before moving them (then the container's init is still outside).
	 */
	if (sm_agent_cgroup_update(a->staging_dir, &l, &created, &err) < 0 ||
	    (!created && (r = sm_agent_cgroup_move(a->staging_dir, a->init_pid, &err)) < 0) ||
	    ((created || r > 0) && move_container_procs(a, &err) < 0)) {
		agent_send_error(a, stream, err.code, "update: %s", err.msg);
		sm_error_clear(&err);
		return;
	}
	agent_log(a, "guest cgroup %s: pids %llu, memory %llu (0: unchanged)",
		  created ? "created" : "updated", (unsigned long long)l.pids, (unsigned long long)l.memory);
	agent_send_ok(a, stream, 0);
	agent_oom_watch(a); /* the cgroup or its memory controller may be new */
}

void agent_signal(struct sm_agent *a, uint32_t stream, const uint8_t *payload, size_t len)
{
	struct sm_tlv_num f[] = {{.tag = SM_TAG_SIGNAL, .size = 4}, {.tag = SM_TAG_ALL, .size = 4}};
	uint32_t sig, all;

	if (sm_tlv_get_nums(payload, len, f, 2) < 0 || f[0].value == 0 || f[0].value >= 65) {
		agent_send_error(a, stream, EINVAL, "signal: a signal number (field %u) 1..64 is required",
				 SM_TAG_SIGNAL);
		return;
	}
	sig = (uint32_t)f[0].value;
	all = (uint32_t)f[1].value;
	if (all) {
		pid_t pids[4096];
		size_t count = container_pids(pids, sizeof(pids) / sizeof(pids[0]));
		for (size_t i = 0; i < count; i++)
			kill(pids[i], (int)sig);
		agent_send_ok(a, stream, 0);
		return;
	}
	struct agent_proc *p = agent_proc_find(a, stream);
	if (p == NULL || p->reaped || p->silent) {
		agent_send_error(a, stream, ESRCH, "signal: stream %u has no running process", stream);
		return;
	}
	if (kill(p->pid, (int)sig) < 0) {
		agent_send_error(a, stream, errno, "signal %u to pid %d", sig, (int)p->pid);
		return;
	}
	agent_send_ok(a, stream, 0);
}

void agent_resize(struct sm_agent *a, uint32_t stream, const uint8_t *payload, size_t len)
{
	struct agent_proc *p = agent_proc_find(a, stream);
	struct sm_tlv_num f[] = {{.tag = SM_TAG_ROWS, .size = 4}, {.tag = SM_TAG_COLS, .size = 4}};
	int r = sm_tlv_get_nums(payload, len, f, 2);
	uint64_t rows = f[0].value, cols = f[1].value;

	if (r < 0 || rows == 0 || cols == 0 || rows > 0xffff || cols > 0xffff) {
		agent_send_error(a, stream, EINVAL,
				 "resize: rows and cols (fields %u, %u) 1..65535 are required", SM_TAG_ROWS,
				 SM_TAG_COLS);
		return;
	}
	if (p != NULL && p->terminal) {
		struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
		int fd = p->in_fd >= 0 ? p->in_fd : p->out_fd;
		if (fd >= 0 && ioctl(fd, TIOCSWINSZ, &ws) < 0)
			agent_log(a, "resize stream %u: %s", stream, strerror(errno));
	}
}

static void credit_host(struct sm_agent *a, struct agent_proc *p, bool force)
{
	if (p->in_unacked == 0 || (!force && p->in_unacked < SM_PROTO_STREAM_WINDOW / 4))
		return;
	agent_send_u32(a, SM_MSG_CREDIT, p->stream, SM_TAG_CREDIT, p->in_unacked);
	p->in_unacked = 0;
}

static void stdin_drop(struct sm_agent *a, struct agent_proc *p)
{
	p->in_unacked += (uint32_t)(p->in_buf.len - p->in_off);
	p->in_buf.len = p->in_off = 0;
	if (!p->terminal)
		close_fd(&p->in_fd);
	credit_host(a, p, true);
}

void agent_proc_write_stdin(struct sm_agent *a, struct agent_proc *p)
{
	while (p->in_fd >= 0 && p->in_off < p->in_buf.len) {
		ssize_t n = write(p->in_fd, p->in_buf.data + p->in_off, p->in_buf.len - p->in_off);

		if (n > 0) {
			p->in_off += (size_t)n;
			p->in_unacked += (uint32_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			break;
		} else {
			stdin_drop(a, p); /* EPIPE: the process closed its stdin */
			return;
		}
	}
	if (p->in_off == p->in_buf.len)
		p->in_buf.len = p->in_off = 0;
	credit_host(a, p, p->in_buf.len == 0);
	if (p->in_close && p->in_buf.len == 0 && !p->terminal)
		close_fd(&p->in_fd);
}

void agent_stdin(struct sm_agent *a, uint32_t stream, const uint8_t *data, size_t len)
{
	struct agent_proc *p = agent_proc_find(a, stream);

	if (p == NULL || len == 0)
		return; /* the process is gone: its stdin goes nowhere */
	if (p->in_fd < 0 || p->in_close || p->in_buf.len - p->in_off + len > STDIN_MAX_PENDING) {
		if (p->in_fd >= 0 && !p->in_close)
			agent_log(a, "stream %u: the host ignored the stdin window, input dropped", stream);
		p->in_unacked += (uint32_t)len;
		credit_host(a, p, true);
		return;
	}
	if (sm_buf_put(&p->in_buf, data, len) < 0) {
		stdin_drop(a, p);
		return;
	}
	agent_proc_write_stdin(a, p);
}

void agent_stdin_close(struct sm_agent *a, uint32_t stream)
{
	struct agent_proc *p = agent_proc_find(a, stream);

	if (p == NULL)
		return;
	/* A pty has no half-close: the process sees EOF when it exits or the user types ^D. */
	p->in_close = true;
	agent_proc_write_stdin(a, p);
}

void agent_credit(struct sm_agent *a, uint32_t stream, const uint8_t *payload, size_t len)
{
	struct agent_proc *p = agent_proc_find(a, stream);
	struct sm_tlv_reader r;
	const uint8_t *val;
	uint32_t vlen, n = 0;
	uint16_t tag;

	sm_tlv_reader_init(&r, payload, len);
	if (sm_tlv_next(&r, &tag, &val, &vlen) != 1 || tag != SM_TAG_CREDIT ||
	    sm_tlv_u32(val, vlen, &n) < 0) {
		agent_send_error(a, stream, EINVAL, "credit: field %u is required", SM_TAG_CREDIT);
		return;
	}
	if (p != NULL)
		p->out_credit =
		    n > SM_PROTO_STREAM_WINDOW - p->out_credit ? SM_PROTO_STREAM_WINDOW : p->out_credit + n;
}

ssize_t agent_proc_read_output(struct sm_agent *a, struct agent_proc *p, int fd)
{
	size_t want = p->out_credit < SM_AGENT_READ_CHUNK ? p->out_credit : SM_AGENT_READ_CHUNK;
	int *slot = fd == p->out_fd ? &p->out_fd : &p->err_fd;
	ssize_t n;

	if (want == 0 || fd < 0)
		return -EAGAIN;
	do
		n = read(fd, a->chunk, want);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		agent_send_data(a, slot == &p->out_fd ? SM_MSG_STDOUT : SM_MSG_STDERR, p->stream, a->chunk,
				(size_t)n);
		p->out_credit -= (uint32_t)n;
		return n;
	}
	/*
	 * Empty after the exit means all delivered: what the process wrote to a pipe is there, and a
	 * read of a pty master first flushes the tty layer's pending work (n_tty_read) before it
	 * reports EAGAIN (or EIO when no slave is left), so a tail in flight is not lost.
	 */
	if (n < 0 && errno == EAGAIN && !p->reaped)
		return -EAGAIN;
	close_fd(slot);
	return 0;
}

void agent_reap(struct sm_agent *a)
{
	struct signalfd_siginfo si;
	int status;
	pid_t pid;

	while (read(a->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		/* only wakes us up; waitpid below finds every exited child */
	}
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (struct agent_proc *p = a->procs; p != NULL; p = p->next) {
			if (p->pid == pid && !p->reaped) {
				p->reaped = true;
				p->wstatus = status;
			}
		}
		/*
		 * The namespace and root fds stay open until the agent ends: dropping the last
		 * reference to the container's mount namespace unmounts its virtio-fs share, evicts
		 * its page cache and tears down proc, sysfs and the rest, over a second of emulated
		 * guest kernel work on kvm_pvm that would delay EXIT. The host stops the VM right
		 * after SHUTDOWN, so that teardown is never needed; container_stopped refuses EXEC.
		 */
		if (pid == a->init_pid && a->have_container)
			a->container_stopped = true;
	}
}

static void send_exit(struct sm_agent *a, struct agent_proc *p)
{
	size_t off = sm_frame_begin(&a->out, SM_MSG_EXIT, p->stream);

	if (WIFSIGNALED(p->wstatus)) {
		sm_tlv_put_u32(&a->out, SM_TAG_STATUS, 128u + (uint32_t)WTERMSIG(p->wstatus));
		sm_tlv_put_u32(&a->out, SM_TAG_TERMSIG, (uint32_t)WTERMSIG(p->wstatus));
	} else {
		sm_tlv_put_u32(&a->out, SM_TAG_STATUS, (uint32_t)WEXITSTATUS(p->wstatus));
	}
	sm_frame_end(&a->out, off);
}

void agent_finish_exited(struct sm_agent *a)
{
	struct agent_proc **pp = &a->procs;

	while (*pp != NULL) {
		struct agent_proc *p = *pp;

		if (!p->reaped || p->state == PROC_SETUP || (!p->silent && !agent_connected(a))) {
			pp = &p->next;
			continue;
		}
		if (!p->silent) {
			while (p->out_fd >= 0 && p->out_credit > 0 &&
			       agent_proc_read_output(a, p, p->out_fd) > 0) {
			}
			while (p->err_fd >= 0 && p->out_credit > 0 &&
			       agent_proc_read_output(a, p, p->err_fd) > 0) {
			}
			if (p->out_fd >= 0 || p->err_fd >= 0) {
				pp = &p->next; /* more output than the window: wait for CREDIT */
				continue;
			}
			send_exit(a, p);
		}
		*pp = p->next;
		proc_free(p);
		a->nprocs--;
	}
}

void agent_procs_reset_flow(struct sm_agent *a)
{
	for (struct agent_proc *p = a->procs; p != NULL; p = p->next) {
		p->out_credit = SM_PROTO_STREAM_WINDOW;
		p->in_unacked = 0;
		p->in_buf.len = p->in_off = 0;
	}
}

/*
 * True when the agent has no child left, exited or not. Every container process descends from
 * the agent, and an orphan is re-parented to it (PID 1 or subreaper) or dies with its pid
 * namespace, so no child means no container process: the /proc scans (hundreds of emulated
 * system calls) are not needed.
 */
static bool no_children(void)
{
	siginfo_t si;

	return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD;
}

void agent_kill_all(struct sm_agent *a)
{
	pid_t pids[4096];
	size_t n;
	struct timespec start, now, pause = {0, 5 * 1000 * 1000};

	agent_reap(a);
	if (no_children())
		return;
	n = container_pids(pids, sizeof(pids) / sizeof(pids[0]));

	for (size_t i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		agent_reap(a);
		if (container_pids(pids, 1) == 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((uint64_t)(now.tv_sec - start.tv_sec) * 1000000000ull + (uint64_t)now.tv_nsec -
			(uint64_t)start.tv_nsec >
		    KILL_WAIT_NS) {
			agent_log(a, "processes survived SIGKILL for 5 s");
			break;
		}
		nanosleep(&pause, NULL);
	}
}

void agent_procs_free(struct sm_agent *a)
{
	while (a->procs != NULL) {
		struct agent_proc *p = a->procs;
		a->procs = p->next;
		proc_free(p);
	}
	a->nprocs = 0;
	close_container(a);
}

void agent_seed(struct sm_agent *a, const uint8_t *data, size_t len)
{
	cleanup_close int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	cleanup_free struct sm_rand_pool_info *info = NULL;

	if (len == 0 || len > 4096 || fd < 0) {
		agent_log(a, "seed: %s", fd < 0 ? strerror(errno) : "1..4096 bytes expected");
		return;
	}
	info = malloc(sizeof(*info) + len + 3);
	if (info == NULL)
		return;
	info->entropy_count = (int)(len * 8);
	info->buf_size = (int)len;
	memcpy(info->buf, data, len);
	if (ioctl(fd, SM_RNDADDENTROPY, info) == 0)
		return;
	/* Without CAP_SYS_ADMIN the bytes still stir the pool, uncredited. */
	if (write(fd, data, len) != (ssize_t)len)
		agent_log(a, "seed: write /dev/urandom: %s", strerror(errno));
}
