/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The forked child that becomes a container process. Order (runc's): signals reset, new session,
 * oom_score_adj (while the agent's /proc is visible), container setup (CREATE) or entering the
 * container's namespaces and root (EXEC), stdio or the pty, rlimits, seccomp (here when
 * no_new_privileges is off: loading needs CAP_SYS_ADMIN), capability bounding set,
 * user and groups, the other capability sets, no_new_privileges, cwd, umask. Then report to the
 * agent, wait for START, seccomp (when no_new_privileges is on: as late as possible), execve.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "guest/agent/child.h"
#include "guest/agent/sys.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER 0x5441
#endif
/* ioctl_ns(2): the user namespace that owns a namespace (linux/nsfs.h, _IO(0xb7, 0x1)). */
#define SM_NS_GET_USERNS 0xb701

/* Exit codes of a process that could not be started (the shells' convention, as Docker). */
#define EXIT_NOT_FOUND 127
#define EXIT_CANNOT_RUN 126

static int read_exact(int fd, void *buf, size_t len)
{
	return sm_read_all(fd, buf, len) == (ssize_t)len ? 0 : -1;
}

struct sync_record {
	uint32_t ok;
	int32_t code;
	uint32_t len;
};

int sm_agent_sync_send_result(int sync_fd, const sm_error_t *failure, int master_fd)
{
	struct sync_record rec = {.ok = failure == NULL, .code = failure ? failure->code : 0, .len = 0};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov[2];
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};

	if (failure != NULL)
		rec.len = (uint32_t)strnlen(failure->msg, sizeof(failure->msg));
	iov[0] = (struct iovec){.iov_base = &rec, .iov_len = sizeof(rec)};
	iov[1] = (struct iovec){.iov_base = failure ? (void *)failure->msg : NULL, .iov_len = rec.len};
	if (master_fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		cm.h.cmsg_level = SOL_SOCKET;
		cm.h.cmsg_type = SCM_RIGHTS;
		cm.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&cm.h), &master_fd, sizeof(int));
	}
	while (sendmsg(sync_fd, &mh, MSG_NOSIGNAL) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int sm_agent_sync_read_result(int sync_fd, int *code, char **msg, int *master_fd)
{
	struct sync_record rec;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = {.iov_base = &rec, .iov_len = sizeof(rec)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf)};
	ssize_t n;

	*code = 0;
	*msg = NULL;
	*master_fd = -1;
	do
		n = recvmsg(sync_fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(master_fd, CMSG_DATA(c), sizeof(int));
	}
	if (n == 0)
		return 0;
	if ((size_t)n < sizeof(rec) && read_exact(sync_fd, (char *)&rec + n, sizeof(rec) - (size_t)n) < 0)
		goto bad;
	if (rec.len > 4096)
		goto bad;
	if (!rec.ok) {
		*msg = calloc(1, (size_t)rec.len + 1);
		if (*msg == NULL || read_exact(sync_fd, *msg, rec.len) < 0)
			goto bad;
		*code = rec.code > 0 ? rec.code : 0;
		return 1;
	}
	return 1;
bad:
	free(*msg);
	*msg = NULL;
	if (*master_fd >= 0)
		close(*master_fd);
	*master_fd = -1;
	return 0;
}

static void reset_signals(void)
{
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL); /* fails harmlessly for SIGKILL, SIGSTOP and libc's own */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

uint64_t sm_agent_memory_max(uint64_t limit, uint64_t mem_available)
{
	uint64_t room;

	if (mem_available == 0)
		return limit;
	room = mem_available > SM_AGENT_MEM_RESERVE + SM_AGENT_MEM_FLOOR
		   ? mem_available - SM_AGENT_MEM_RESERVE
		   : SM_AGENT_MEM_FLOOR;
	return limit < room ? limit : room;
}

uint64_t sm_agent_mem_available(void)
{
	char buf[2048];
	unsigned long long kib;
	cleanup_close int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	const char *p;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "MemAvailable:");
	if (p == NULL || sscanf(p, "MemAvailable: %llu kB", &kib) != 1 || kib > (UINT64_MAX >> 10))
		return 0;
	return (uint64_t)kib << 10;
}

static int set_oom_score_adj(int32_t v, sm_error_t *err)
{
	char buf[16];
	cleanup_close int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	int n = snprintf(buf, sizeof(buf), "%d", v);

	if (fd < 0 || write(fd, buf, (size_t)n) != n)
		return sm_error_set(err, errno, "oomScoreAdj %d", v);
	return 0;
}

/* Become root of the user namespace just joined, when its uid/gid 0 is mapped (runc does so too). */
static int become_ns_root(sm_error_t *err)
{
	if (setresgid(0, 0, 0) < 0 && errno != EINVAL)
		return sm_error_set(err, errno, "user namespace: setresgid 0");
	if (setresuid(0, 0, 0) < 0 && errno != EINVAL)
		return sm_error_set(err, errno, "user namespace: setresuid 0");
	if (setgroups(0, NULL) < 0)
		return sm_error_set(err, errno, "user namespace: setgroups");
	return 0;
}

int sm_agent_userns_join(sm_error_t *err)
{
	return become_ns_root(err);
}

/*
 * EXEC: join the user namespace that owns the container's mount namespace, when it is not the
 * agent's (a container with linux.namespaces user). The other namespaces are joined first, as
 * root of the guest, which may enter them whatever user namespace owns them.
 */
static int join_owner_userns(int mnt_fd, ino_t own_userns, sm_error_t *err)
{
	cleanup_close int fd = ioctl(mnt_fd, SM_NS_GET_USERNS);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return sm_error_set(err, errno, "find the container's user namespace");
	if (st.st_ino == own_userns)
		return 0;
	if (setns(fd, CLONE_NEWUSER) < 0)
		return sm_error_set(err, errno, "join the container's user namespace");
	return become_ns_root(err);
}

static int enter_container(const struct sm_agent_child_args *a, sm_error_t *err)
{
	static const char *const names[SM_AGENT_NS_COUNT] = {"mnt", "uts", "ipc", "cgroup", "net", "time"};
	struct stat own;

	/* The pids cgroup first: its path is in the agent's mount namespace. */
	if (sm_agent_cgroup_join(a->staging_dir, err) < 0)
		return -1;
	if (stat("/proc/self/ns/user", &own) < 0)
		return sm_error_set(err, errno, "stat /proc/self/ns/user");
	for (int i = SM_AGENT_NS_COUNT - 1; i >= 0; i--) {
		if (a->ns_fds[i] >= 0 && setns(a->ns_fds[i], 0) < 0)
			return sm_error_set(err, errno, "join the container's %s namespace", names[i]);
	}
	if (a->ns_fds[SM_AGENT_NS_MNT] >= 0 &&
	    join_owner_userns(a->ns_fds[SM_AGENT_NS_MNT], own.st_ino, err) < 0)
		return -1;
	if (fchdir(a->root_fd) < 0 || chroot(".") < 0 || chdir("/") < 0)
		return sm_error_set(err, errno, "enter the container's root");
	return 0;
}

/* One uid_map/gid_map of pid, written in one write() as the kernel requires. */
static int write_idmap(pid_t pid, const char *file, const struct sm_agent_idmap *m, size_t n)
{
	char path[64], buf[4096];
	size_t len = 0;
	int fd, r;

	for (size_t i = 0; i < n; i++) {
		int k = snprintf(buf + len, sizeof(buf) - len, "%u %u %u\n", m[i].container_id, m[i].host_id,
				 m[i].size);
		if (k < 0 || (size_t)k >= sizeof(buf) - len)
			return -E2BIG; /* the kernel takes less than a page */
		len += (size_t)k;
	}
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = write(fd, buf, len) == (ssize_t)len ? 0 : -errno;
	close(fd);
	return r;
}

/* The agent's part of a user-namespace CREATE after the clone: maps, oomScoreAdj, cgroup. */
static int userns_adopt(pid_t pid, const struct sm_agent_container *c, const struct sm_agent_process *p,
			const char *staging_dir, int *pidns_fd)
{
	sm_error_t err = SM_ERROR_INIT;
	char path[64], buf[16];
	int r, fd;

	/* setgroups stays "allow": the maps are written by root of the parent namespace (as runc). */
	if ((r = write_idmap(pid, "uid_map", c->uid_map, c->n_uid_map)) < 0 ||
	    (r = write_idmap(pid, "gid_map", c->gid_map, c->n_gid_map)) < 0)
		return r;
	if (p->has_oom_score_adj) {
		/* From here: lowering it needs CAP_SYS_RESOURCE of the guest, which the child lacks. */
		snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", (int)pid);
		snprintf(buf, sizeof(buf), "%d", p->oom_score_adj);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		r = fd >= 0 && write(fd, buf, strlen(buf)) == (ssize_t)strlen(buf) ? 0 : -errno;
		if (fd >= 0)
			close(fd);
		if (r < 0)
			return r;
	}
	if (sm_agent_cgroup_create(staging_dir, c, pid, &err) < 0)
		return err.code ? -err.code : -EINVAL;
	if (c->namespaces & CLONE_NEWPID) {
		snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
		if (*pidns_fd >= 0)
			close(*pidns_fd);
		*pidns_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (*pidns_fd < 0)
			return -errno;
	}
	return 0;
}

pid_t sm_agent_userns_clone(const struct sm_agent_container *c, const struct sm_agent_process *p,
			    const char *staging_dir, int *pidns_fd)
{
	unsigned long flags = CLONE_NEWUSER | (c->namespaces & CLONE_NEWPID) | SIGCHLD;
	sm_error_t err = SM_ERROR_INIT;
	int go[2], r = 0;
	char b;
	pid_t pid;

	if (sm_agent_premount_shares(c, staging_dir, &err) < 0) {
		errno = err.code ? err.code : EINVAL;
		return -1;
	}
	if (pipe2(go, O_CLOEXEC) < 0)
		return -1;
	/* A raw clone (fork semantics: same stack, copied): libc's fork() takes no namespace flags. */
	pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
	if (pid == 0) {
		close(go[1]);
		/* Until the agent has written the maps; EOF without the byte means it gave up. */
		while ((r = (int)read(go[0], &b, 1)) < 0 && errno == EINTR) {
		}
		if (r != 1)
			_exit(1);
		close(go[0]);
		return 0;
	}
	close(go[0]);
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if ((r = userns_adopt(pid, c, p, staging_dir, pidns_fd)) < 0)
		goto out;
	if (write(go[1], "m", 1) != 1)
		r = -errno;
out:
	close(go[1]);
	if (r < 0 && pid > 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
		}
	}
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return pid;
}

static int move_fd_up(int fd)
{
	return fd >= 3 ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

static int setup_stdio(const struct sm_agent_child_args *a, sm_error_t *err)
{
	int fds[3];

	for (int i = 0; i < 3; i++) {
		fds[i] = move_fd_up(a->stdio[i]);
		if (fds[i] < 0)
			return sm_error_set(err, errno, "stdio");
	}
	for (int i = 0; i < 3; i++) {
		if (dup2(fds[i], i) < 0)
			return sm_error_set(err, errno, "stdio: dup2 to fd %d", i);
	}
	return 0;
}

/* A pty in the container's own devpts: the slave becomes fds 0-2, the master goes to the agent. */
static int setup_pty(const struct sm_agent_process *p, int *master_out, sm_error_t *err)
{
	cleanup_close int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	cleanup_close int slave = -1;
	int unlock = 0;

	if (master < 0)
		return sm_error_set(err, errno, "terminal: open /dev/ptmx");
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		return sm_error_set(err, errno, "terminal: unlock the pty");
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (slave < 0)
		return sm_error_set(err, errno, "terminal: open the pty slave");
	if (p->rows && p->cols) {
		struct winsize ws = {.ws_row = (unsigned short)p->rows, .ws_col = (unsigned short)p->cols};
		if (ioctl(slave, TIOCSWINSZ, &ws) < 0)
			return sm_error_set(err, errno, "terminal: set the size");
	}
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		return sm_error_set(err, errno, "terminal: make it the controlling terminal");
	for (int i = 0; i < 3; i++) {
		if (dup2(slave, i) < 0)
			return sm_error_set(err, errno, "terminal: dup2 to fd %d", i);
	}
	*master_out = steal_fd(&master);
	return 0;
}

/*
 * The guest's virtio console as the process's terminal (SM_TAG_TERMINAL_HVC): the host relays
 * it, so the agent has nothing to relay. hvc_fd was opened before the container's root replaced
 * the agent's /dev; the container's own node (the host sends one) is preferred, as ttyname()
 * resolves /proc/self/fd/0 in the container. Cooked mode with output post-processing, as a
 * freshly opened terminal.
 */
static int setup_hvc(const struct sm_agent_process *p, int early_fd, sm_error_t *err)
{
	cleanup_close int own = open(SM_AGENT_HVC_PATH, O_RDWR | O_NOCTTY | O_CLOEXEC);
	int hvc_fd = own >= 0 ? own : early_fd;
	struct termios t;

	if (tcgetattr(hvc_fd, &t) < 0)
		return sm_error_set(err, errno, "terminal: tcgetattr " SM_AGENT_HVC_PATH);
	t.c_iflag |= ICRNL | IXON | IUTF8;
	t.c_iflag &= ~(tcflag_t)(INLCR | IGNCR);
	t.c_oflag |= OPOST | ONLCR;
	t.c_lflag |= ISIG | ICANON | ECHO | ECHOE | ECHOK | IEXTEN | ECHOCTL | ECHOKE;
	if (tcsetattr(hvc_fd, TCSANOW, &t) < 0)
		return sm_error_set(err, errno, "terminal: tcsetattr " SM_AGENT_HVC_PATH);
	if (p->rows && p->cols) {
		struct winsize ws = {.ws_row = (unsigned short)p->rows, .ws_col = (unsigned short)p->cols};
		if (ioctl(hvc_fd, TIOCSWINSZ, &ws) < 0)
			return sm_error_set(err, errno, "terminal: set the size of " SM_AGENT_HVC_PATH);
	}
	/* 1: take it over should an earlier process of this guest still hold it. */
	if (ioctl(hvc_fd, TIOCSCTTY, 1) < 0)
		return sm_error_set(err, errno, "terminal: make " SM_AGENT_HVC_PATH " the controlling tty");
	for (int i = 0; i < 3; i++) {
		if (dup2(hvc_fd, i) < 0)
			return sm_error_set(err, errno, "terminal: dup2 to fd %d", i);
	}
	return 0;
}

static int setup_terminal(const struct sm_agent_process *p, int hvc_fd, int *master, sm_error_t *err)
{
	return p->terminal_hvc ? setup_hvc(p, hvc_fd, err) : setup_pty(p, master, err);
}

/* The home directory of uid in the container's /etc/passwd, or "/". */
static char *home_of(uint32_t uid)
{
	cleanup_fclose FILE *f = fopen("/etc/passwd", "re");
	char line[1024];

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		char *fields[7], *s = line;
		int n = 0;

		line[strcspn(line, "\n")] = '\0';
		while (n < 7 && (fields[n] = strsep(&s, ":")) != NULL)
			n++;
		if (n >= 6 && strtoul(fields[2], NULL, 10) == uid && fields[5][0] == '/')
			return strdup(fields[5]);
	}
	return strdup("/");
}

/* The process environment: the given one, plus HOME when it has none (as runc). */
static char **make_env(const struct sm_agent_process *p)
{
	char **env = calloc(p->env.n + 2, sizeof(char *));
	size_t n = 0;
	bool home = false;

	if (env == NULL)
		return NULL;
	for (size_t i = 0; i < p->env.n; i++) {
		env[n++] = p->env.v[i];
		home |= strncmp(p->env.v[i], "HOME=", 5) == 0;
	}
	if (!home) {
		cleanup_free char *dir = home_of(p->uid);
		if (dir != NULL && asprintf(&env[n], "HOME=%s", dir) >= 0)
			n++;
	}
	env[n] = NULL;
	return env;
}

static int load_seccomp(const struct sm_agent_process *p, sm_error_t *err)
{
	struct sm_sock_fprog prog = {
	    .len = (unsigned short)(p->seccomp_len / sizeof(struct sm_sock_filter)),
	    .filter = (struct sm_sock_filter *)(void *)p->seccomp_bpf,
	};

	if (sm_seccomp_filter(p->seccomp_flags, &prog) == 0)
		return 0;
	if (errno == ENOSYS && p->seccomp_flags == 0 &&
	    prctl(PR_SET_SECCOMP, 2 /* FILTER */, &prog, 0, 0) == 0)
		return 0;
	return sm_error_set(err, errno, "seccomp: load the filter (%u instructions)", prog.len);
}

static int drop_bounding(uint64_t keep, sm_error_t *err)
{
	for (unsigned long cap = 0; cap < 64; cap++) {
		int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);

		if (r < 0)
			break; /* past the kernel's last capability */
		if (r == 1 && !(keep & (1ull << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return sm_error_set(err, errno, "capabilities: drop %lu from the bounding set", cap);
	}
	return 0;
}

static int set_caps(const struct sm_agent_process *p, sm_error_t *err)
{
	const uint64_t *c = p->caps;

	if (sm_capset(c[SM_AGENT_CAP_EFFECTIVE], c[SM_AGENT_CAP_PERMITTED], c[SM_AGENT_CAP_INHERITABLE]) < 0)
		return sm_error_set(err, errno, "capabilities: capset");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return sm_error_set(err, errno, "capabilities: clear the ambient set");
	for (unsigned long cap = 0; cap < 64; cap++) {
		if ((c[SM_AGENT_CAP_AMBIENT] & (1ull << cap)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
			return sm_error_set(err, errno, "capabilities: raise %lu in the ambient set", cap);
	}
	return 0;
}

/* Groups, gid, uid and the capability sets, in the order that keeps the needed privileges. */
static int set_user_and_caps(const struct sm_agent_process *p, sm_error_t *err)
{
	if (p->has_caps && drop_bounding(p->caps[SM_AGENT_CAP_BOUNDING], err) < 0)
		return -1;
	/* Keep the permitted set across setresuid only when the config says which caps to keep. */
	if (p->has_caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return sm_error_set(err, errno, "capabilities: PR_SET_KEEPCAPS");
	if (setgroups(p->n_gids, p->gids) < 0)
		return sm_error_set(err, errno, "user: setgroups (additionalGids)");
	if (setresgid(p->gid, p->gid, p->gid) < 0)
		return sm_error_set(err, errno, "user: setresgid %u", p->gid);
	if (setresuid(p->uid, p->uid, p->uid) < 0)
		return sm_error_set(err, errno, "user: setresuid %u", p->uid);
	if (p->has_caps && prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return sm_error_set(err, errno, "capabilities: clear PR_SET_KEEPCAPS");
	if (p->has_caps && set_caps(p, err) < 0)
		return -1;
	return 0;
}

static int child_setup(const struct sm_agent_child_args *a, int *master, sm_error_t *err)
{
	const struct sm_agent_process *p = a->proc;
	struct sm_agent_cpus vm_cpus;
	const struct sm_agent_cpus *avail = &vm_cpus;
	cleanup_close int hvc_fd = -1;
	int cwd_errno;

	/* The agent never narrows its affinity: what the child inherits is every CPU of the VM. */
	if ((p->cpus_initial.set || p->cpus_final.set) && sm_agent_cpus_available(&vm_cpus, err) < 0)
		return -1;

	if (setsid() < 0)
		return sm_error_set(err, errno, "setsid");
	umask(0);
	/* In a user namespace of its own the agent set it (sm_agent_userns_clone()). */
	if (p->has_oom_score_adj && !(a->ctr != NULL && (a->ctr->namespaces & CLONE_NEWUSER)) &&
	    set_oom_score_adj(p->oom_score_adj, err) < 0)
		return -1;
	/* Nothing of the agent's may reach the container process. */
	if (sm_close_range_cloexec(3) < 0) {
		for (int fd = 3; fd < 1024; fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	if (p->terminal && p->terminal_hvc) {
		hvc_fd = open(SM_AGENT_HVC_PATH, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (hvc_fd < 0)
			return sm_error_set(err, errno, "terminal: open " SM_AGENT_HVC_PATH);
	}
	if (a->ctr != NULL) {
		/* Before the container's /proc replaces the agent's. */
		if (sm_agent_timens_create(a->ctr, err) < 0 ||
		    sm_agent_setup_container(a->ctr, a->staging_dir, err) < 0)
			return -1;
	} else {
		/* execCPUAffinity.initial before joining the container (runc: before its cgroup). */
		if (p->cpus_initial.set &&
		    sm_agent_cpus_apply(&p->cpus_initial, avail, "process.execCPUAffinity.initial", err) < 0)
			return -1;
		if (enter_container(a, err) < 0)
			return -1;
	}
	if (p->terminal ? setup_terminal(p, hvc_fd, master, err) < 0 : setup_stdio(a, err) < 0)
		return -1;
	/* As root of the guest (raising a priority needs CAP_SYS_NICE), before seccomp. */
	if (p->sched.set && sm_agent_sched_apply(&p->sched, err) < 0)
		return -1;
	if (p->has_ioprio && sm_agent_ioprio_apply(p->ioprio, err) < 0)
		return -1;
	/* After the setup (a low RLIMIT_NOFILE must not break it), before the capabilities go. */
	for (size_t i = 0; i < p->n_rlimits; i++) {
		struct rlimit rl = {.rlim_cur = p->rlimits[i].soft, .rlim_max = p->rlimits[i].hard};
		if (setrlimit((int)p->rlimits[i].resource, &rl) < 0)
			return sm_error_set(err, errno, "rlimits: resource %u", p->rlimits[i].resource);
	}
	if (!p->no_new_privs && p->seccomp_bpf != NULL && load_seccomp(p, err) < 0)
		return -1;
	cwd_errno = chdir(p->cwd) < 0 ? errno : 0;
	if (cwd_errno == ENOENT) {
		/* runc creates a missing cwd (images rarely ship every WORKDIR). */
		char cmd[PATH_MAX];
		snprintf(cmd, sizeof(cmd), "%s", p->cwd);
		for (char *s = cmd + 1; *s; s++) {
			if (*s == '/') {
				*s = '\0';
				mkdir(cmd, 0755);
				*s = '/';
			}
		}
		mkdir(cmd, 0755);
		cwd_errno = chdir(p->cwd) < 0 ? errno : 0;
	}
	if (set_user_and_caps(p, err) < 0)
		return -1;
	if (cwd_errno != 0 && chdir(p->cwd) < 0)
		return sm_error_set(err, errno, "cwd %s", p->cwd);
	if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return sm_error_set(err, errno, "noNewPrivileges");
	umask((mode_t)p->umask);
	/* Last before execve (runc: final). The START wait between does not run container code. */
	if (p->cpus_final.set &&
	    sm_agent_cpus_apply(&p->cpus_final, avail, "process.execCPUAffinity.final", err) < 0)
		return -1;
	return 0;
}

static __attribute__((noreturn)) void cannot_run(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static __attribute__((noreturn)) void cannot_run(int status, const char *fmt, ...)
{
	char msg[PATH_MAX + 256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(msg) - 1)
		n = (int)sizeof(msg) - 1;
	if (write(2, msg, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
	_exit(status);
}

#define START_FAILED "unable to start container process: "

static __attribute__((noreturn)) void exec_failed(const char *file, const char *path, int e)
{
	if (e == ENOENT)
		cannot_run(EXIT_NOT_FOUND, START_FAILED "exec: \"%s\": stat %s: %s\n", file, path,
			   strerror(e));
	if (e == EACCES)
		cannot_run(EXIT_CANNOT_RUN, START_FAILED "exec: \"%s\": permission denied\n", file);
	cannot_run(EXIT_CANNOT_RUN, START_FAILED "exec %s: %s\n", path, strerror(e));
}

/*
 * execvp() with the container's PATH (from env, not the agent's) and runc's messages. resolved:
 * where CREATE found args[0] in PATH (prefetch.c), or NULL to search now.
 */
static __attribute__((noreturn)) void exec_process(const struct sm_agent_process *p, char **env,
						   const char *resolved)
{
	const char *file = p->args.v[0];
	char cand[PATH_MAX];

	if (strchr(file, '/') != NULL) {
		execve(file, p->args.v, env);
		exec_failed(file, file, errno);
	}
	if (resolved == NULL)
		resolved = sm_agent_exec_lookup(file, env, cand, sizeof(cand));
	if (resolved != NULL) {
		execve(resolved, p->args.v, env);
		exec_failed(file, resolved, errno);
	}
	cannot_run(EXIT_NOT_FOUND, START_FAILED "exec: \"%s\": executable file not found in $PATH\n", file);
}

void sm_agent_child_run(const struct sm_agent_child_args *a)
{
	sm_error_t err = SM_ERROR_INIT;
	char **env = NULL, resolved_buf[PATH_MAX];
	const char *resolved = NULL;
	int master = -1;
	char go;

	reset_signals();
	if (child_setup(a, &master, &err) < 0 || (env = make_env(a->proc)) == NULL) {
		if (!sm_error_isset(&err))
			sm_error_set(&err, ENOMEM, "environment");
		sm_agent_sync_send_result(a->sync_fd, &err, -1);
		_exit(1);
	}
	/* CREATE waits for START: read the program in meanwhile (prefetch.c). */
	if (a->ctr != NULL)
		resolved = sm_agent_prefetch_exec_path(a->proc, env, resolved_buf, sizeof(resolved_buf));
	if (sm_agent_sync_send_result(a->sync_fd, NULL, master) < 0)
		_exit(1);
	if (master >= 0)
		close(master);
	/* Blocks until START (EXEC: at once). EOF means the agent gave the process up. */
	for (;;) {
		ssize_t r = read(a->sync_fd, &go, 1);
		if (r == 1)
			break;
		if (r == 0 || errno != EINTR)
			_exit(1);
	}
	/* sync_fd stays open, close-on-exec: its EOF tells the agent that execve happened. */
	if (a->proc->no_new_privs && a->proc->seccomp_bpf != NULL && load_seccomp(a->proc, &err) < 0)
		cannot_run(EXIT_NOT_FOUND, START_FAILED "%s\n", err.msg);
	exec_process(a->proc, env, resolved);
}
