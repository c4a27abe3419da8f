/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VMM's jail (runtime/jail.h): a private mount namespace made while the monitor is still
 * single-threaded and privileged, and a helper process that keeps the privileges until the VMM
 * is set up, then builds the jail's root and pivots the namespace into it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "oci/config.h"
#include "oci/names.h"
#include "runtime/jail.h"
#include "runtime/log.h"

/* What the jail's root may hold: a few directories, never a file. */
#define JAIL_TMPFS_OPTS "mode=0755,size=64k,nr_inodes=256"
#define BIND_FLAGS (MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC)

static struct {
	int sock;	 /* to the helper; -1: no jail */
	pid_t helper;	 /* -1: none */
	char *state_dir; /* the monitor's state directory, mirrored in the jail */
	bool active;
} jail = {-1, -1, NULL, false};

bool sm_jail_path_ok(const char *path)
{
	const char *p = path;

	if (path == NULL || path[0] != '/' || strlen(path) > PATH_MAX - 64)
		return false;
	if (strcmp(path, "/") == 0)
		return false; /* the state directory is never the root; the jail needs a name */
	while (*p == '/') {
		const char *c = p + 1, *e = strchrnul(c, '/');
		size_t n = (size_t)(e - c);

		if (n == 0 && *e == '\0' && c != path + 1)
			return true; /* one trailing slash */
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		p = e;
	}
	return true;
}

int sm_jail_mkdirs(int root, const char *path, sm_error_t *err)
{
	cleanup_free char *copy = NULL;
	cleanup_close int dir = -1;
	char *save = NULL, *c;

	if (!sm_jail_path_ok(path))
		return sm_error_set(err, 0, "jail path `%s`: not absolute and canonical", path);
	copy = sm_xstrdup(path);
	dir = fcntl(root, F_DUPFD_CLOEXEC, 0);
	if (dir < 0)
		return sm_error_set(err, errno, "jail: dup");
	for (c = strtok_r(copy, "/", &save); c != NULL; c = strtok_r(NULL, "/", &save)) {
		int next;

		if (mkdirat(dir, c, 0755) < 0 && errno != EEXIST)
			return sm_error_set(err, errno, "jail: mkdir `%s` (of `%s`)", c, path);
		next = openat(dir, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			return sm_error_set(err, errno, "jail: `%s` (of `%s`) is not a directory", c, path);
		close(dir);
		dir = next;
	}
	return 0;
}

static int do_mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data,
		    const char *what, sm_error_t *err)
{
	if (mount(src, dst, type, flags, data) < 0)
		return sm_error_set(err, errno, "jail: %s", what);
	return 0;
}

/*
 * In the helper: a tmpfs over the state directory's path (only this namespace sees it), the
 * state directory and /proc/<monitor>/fd bound into it, then pivot_root and the host's root
 * detached. Everything the namespace's tasks had as their root moves with the pivot. monitor is
 * the monitor's pid as the mounted procfs names it, not getpid(): in its own pid namespace the
 * monitor is 1 there, and /proc/1 is the host's init.
 */
static int build_jail(const char *state_dir, pid_t monitor, sm_error_t *err)
{
	cleanup_free char *inner_state = sm_xasprintf("%s%s", state_dir, state_dir);
	cleanup_free char *inner_proc = sm_xasprintf("%s/proc/self/fd", state_dir);
	cleanup_close int sfd = open(state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cleanup_close int rfd = -1;
	char src[64], proc_fd[64];
	int r;

	if (sfd < 0)
		return sm_error_set(err, errno, "jail: state directory `%s`", state_dir);
	snprintf(proc_fd, sizeof(proc_fd), "/proc/%d/fd", (int)monitor);
	if ((r = do_mount("sm-jail", state_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, JAIL_TMPFS_OPTS,
			  "mount the jail's tmpfs", err)) < 0)
		return r;
	rfd = open(state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return sm_error_set(err, errno, "jail: open its root");
	if ((r = sm_jail_mkdirs(rfd, state_dir, err)) < 0 ||
	    (r = sm_jail_mkdirs(rfd, "/proc/self/fd", err)) < 0)
		return r;
	/* The state directory itself is under the tmpfs now: bind it from the fd opened before. */
	snprintf(src, sizeof(src), "/proc/self/fd/%d", sfd);
	if ((r = do_mount(src, inner_state, NULL, MS_BIND, NULL, "bind the state directory", err)) < 0 ||
	    (r = do_mount(NULL, inner_state, NULL, BIND_FLAGS, NULL, "remount the state directory", err)) <
		0 ||
	    (r = do_mount(proc_fd, inner_proc, NULL, MS_BIND, NULL, "bind /proc/self/fd", err)) < 0 ||
	    (r = do_mount(NULL, inner_proc, NULL, BIND_FLAGS | MS_RDONLY, NULL, "remount /proc/self/fd",
			  err)) < 0 ||
	    (r = do_mount(NULL, state_dir, NULL, BIND_FLAGS | MS_RDONLY, NULL, "make the root read-only",
			  err)) < 0)
		return r;
	if (chdir(state_dir) < 0)
		return sm_error_set(err, errno, "jail: chdir to its root");
	/* pivot_root(".", "."): the old root ends up stacked on "." and is detached right away. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return sm_error_set(err, errno, "jail: pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		return sm_error_set(err, errno, "jail: detach the host's root");
	if (chdir("/") < 0)
		return sm_error_set(err, errno, "jail: chdir /");
	/* Only the jail's own mounts are left: nothing propagates in or out of them any more. */
	return do_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL, "make the jail's mounts private", err);
}

/* Close everything but keep (and 0-2, which become /dev/null: the helper holds no stdio of the container). */
static void helper_fds(int keep)
{
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (nul >= 0) {
		for (int i = 0; i < 3; i++)
			if (nul != i)
				(void)dup2(nul, i);
		if (nul > 2 && nul != keep)
			close(nul);
	}
	if (keep > 3)
		syscall(SYS_close_range, 3U, (unsigned)keep - 1, 0U);
	syscall(SYS_close_range, (unsigned)keep + 1, ~0U, 0U);
}

/* monitor: the monitor's pid in its own pid namespace (getppid()), proc_pid: in /proc's. */
static void __attribute__((noreturn))
helper_main(int sock, const char *state_dir, pid_t monitor, pid_t proc_pid)
{
	sm_error_t err = SM_ERROR_INIT;
	char go;

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != monitor)
		_exit(1);
	(void)prctl(PR_SET_NAME, "sm-jail");
	helper_fds(sock);
	if (read(sock, &go, 1) != 1)
		_exit(0); /* the monitor ended before it was set up */
	if (build_jail(state_dir, proc_pid, &err) < 0) {
		(void)!write(sock, err.msg, strlen(err.msg));
		_exit(1);
	}
	(void)!write(sock, "ok", 2);
	_exit(0);
}

/*
 * One round with a helper process: send it go, read its answer ("ok" or an error text) into reply
 * (NUL-terminated), close sock and reap the helper. The answer's length, <= 0 when there was none.
 */
static ssize_t helper_round(int sock, pid_t pid, char go, char *reply, size_t size, int *status)
{
	ssize_t n;

	if (write(sock, &go, 1) != 1)
		n = -1;
	else
		while ((n = recv(sock, reply, size - 1, 0)) < 0 && errno == EINTR)
			;
	close(sock);
	*status = 0;
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	reply[n > 0 ? n : 0] = '\0';
	return n;
}

/*
 * A network namespace given by path (a CNI/netavark netns, a pod's) is where the container's
 * network lives on the host: the VMM joins it, so its host-side sockets and a future virtio-net
 * back-end are there, and `/proc/<state pid>/ns/net` is the one the caller passed, as with runc.
 * The guest keeps its own stack. Validation already checked the path is a network namespace.
 */
static int join_network_path(const struct sm_oci_linux *l, sm_error_t *err)
{
	for (size_t i = 0; l != NULL && i < l->n_namespaces; i++) {
		const char *path = l->namespaces[i].path;

		if (l->namespaces[i].type != SM_OCI_NS_NETWORK || path == NULL)
			continue;
		cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			return sm_error_set(err, errno, "linux.namespaces: network path `%s`", path);
		if (setns(fd, CLONE_NEWNET) < 0) {
			if (errno != EPERM)
				return sm_error_set(err, errno, "VMM: join the network namespace `%s`", path);
			sm_log(SM_LOG_DEBUG, "VMM: stays in the runtime's network namespace (setns: %s)",
			       strerror(errno));
		}
		return 0;
	}
	return 0;
}

int sm_jail_own_namespaces(const struct sm_oci_config *cfg, sm_error_t *err)
{
	static const struct {
		int type, flag;
	} map[] = {{SM_OCI_NS_NETWORK, CLONE_NEWNET},
		   {SM_OCI_NS_IPC, CLONE_NEWIPC},
		   {SM_OCI_NS_UTS, CLONE_NEWUTS},
		   {SM_OCI_NS_CGROUP, CLONE_NEWCGROUP}};
	const struct sm_oci_linux *l = cfg != NULL ? cfg->linux_cfg : NULL;
	int flags = 0;

	for (size_t i = 0; l != NULL && i < l->n_namespaces; i++)
		for (size_t j = 0; j < SM_ARRAY_SIZE(map); j++)
			if (l->namespaces[i].type == map[j].type && l->namespaces[i].path == NULL)
				flags |= map[j].flag;
	if (flags != 0 && unshare(flags) < 0) {
		if (errno != EPERM)
			return sm_error_set(err, errno, "VMM: unshare its network/ipc/uts/cgroup namespaces");
		sm_log(SM_LOG_DEBUG, "VMM: no namespaces of its own (unshare: %s)", strerror(errno));
	}
	return join_network_path(l, err);
}

/* Does config.json create a namespace of this type (list it without a path)? */
static bool config_creates(const struct sm_oci_config *cfg, int type)
{
	const struct sm_oci_linux *l = cfg != NULL ? cfg->linux_cfg : NULL;

	for (size_t i = 0; l != NULL && i < l->n_namespaces; i++)
		if ((int)l->namespaces[i].type == type && l->namespaces[i].path == NULL)
			return true;
	return false;
}

bool sm_jail_config_mount_ns(const struct sm_oci_config *cfg)
{
	const struct sm_oci_linux *l = cfg != NULL ? cfg->linux_cfg : NULL;

	for (size_t i = 0; l != NULL && i < l->n_namespaces; i++)
		if (l->namespaces[i].type == SM_OCI_NS_MOUNT)
			return true;
	return false;
}

int sm_jail_pid_ns_unshare(const struct sm_oci_config *cfg, int *back_fd, sm_error_t *err)
{
	cleanup_close int fd = -1;

	*back_fd = -1;
	if (!config_creates(cfg, SM_OCI_NS_PID))
		return 0;
	/* Without a way back (no /proc), create's hooks would land in the monitor's namespace. */
	fd = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		sm_log(SM_LOG_DEBUG, "VMM: stays in the runtime's pid namespace (/proc/self/ns/pid: %s)",
		       strerror(errno));
		return 0;
	}
	if (unshare(CLONE_NEWPID) < 0) {
		if (errno != EPERM)
			return sm_error_set(err, errno, "VMM: unshare its pid namespace");
		sm_log(SM_LOG_DEBUG, "VMM: stays in the runtime's pid namespace (unshare: %s)",
		       strerror(errno));
		return 0;
	}
	*back_fd = steal_fd(&fd);
	return 0;
}

int sm_jail_pid_ns_restore(int *back_fd, sm_error_t *err)
{
	int r = 0;

	if (*back_fd < 0)
		return 0;
	if (setns(*back_fd, CLONE_NEWPID) < 0)
		r = sm_error_set(err, errno, "VMM: return to the runtime's pid namespace");
	close(*back_fd);
	*back_fd = -1;
	return r;
}

/* The caller's pid as the procfs mounted on /proc names it (getpid() is 1 in its own pid namespace). */
static pid_t proc_self_pid(void)
{
	char buf[32];
	ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);
	char *end;
	long v;

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0 || v > INT_MAX)
		return -1;
	return (pid_t)v;
}

/* The identity over every id the caller's own user namespace maps: "id id count" per line of file. */
static int identity_map(const char *file, char *out, size_t size, sm_error_t *err)
{
	cleanup_fclose FILE *f = fopen(file, "re");
	unsigned long long inner, outer, count;
	size_t len = 0;

	if (f == NULL)
		return sm_error_set(err, errno, "VMM user namespace: %s", file);
	out[0] = '\0';
	while (fscanf(f, "%llu %llu %llu", &inner, &outer, &count) == 3) {
		int n = snprintf(out + len, size - len, "%llu %llu %llu\n", inner, inner, count);

		if (n < 0 || (size_t)n >= size - len)
			return sm_error_set(err, 0, "VMM user namespace: %s has too many lines", file);
		len += (size_t)n;
	}
	if (len == 0)
		return sm_error_set(err, 0, "VMM user namespace: %s maps nothing", file);
	return 0;
}

/* The kernel takes one page per map write. */
struct userns_maps {
	char uid[4096], gid[4096];
};

static int write_map(pid_t pid, const char *which, const char *map, sm_error_t *err)
{
	char path[64];
	size_t n = strlen(map);
	cleanup_close int fd = -1;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, which);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return sm_error_set(err, errno, "open %s", path);
	if (write(fd, map, n) != (ssize_t)n)
		return sm_error_set(err, errno, "write %s", path);
	return 0;
}

/*
 * The mapper: forked before the monitor's unshare, so it keeps CAP_SETUID/CAP_SETGID in the
 * runtime's user namespace, which writing a map wider than one id needs. proc_pid is the monitor
 * as /proc names it (getppid() is 1 when the monitor has its own pid namespace).
 */
static void __attribute__((noreturn))
mapper_main(int sock, pid_t monitor, pid_t proc_pid, const struct userns_maps *m)
{
	sm_error_t err = SM_ERROR_INIT;
	char go;

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != monitor)
		_exit(1);
	if (read(sock, &go, 1) != 1 || go != 'g')
		_exit(0); /* the monitor has no user namespace to map */
	if (write_map(proc_pid, "uid_map", m->uid, &err) < 0 ||
	    write_map(proc_pid, "gid_map", m->gid, &err) < 0) {
		(void)!write(sock, err.msg, strlen(err.msg));
		_exit(1);
	}
	(void)!write(sock, "ok", 2);
	_exit(0);
}

/* Writing a map wider than the writer's own id needs both capabilities (in the effective set). */
static bool may_map(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {{0}};
	const uint32_t want = (1U << CAP_SETUID) | (1U << CAP_SETGID);

	return syscall(SYS_capget, &h, d) == 0 && (d[0].effective & want) == want;
}

/*
 * Fork a helper that keeps the privileges the monitor is about to give up, joined to it by a
 * SOCK_SEQPACKET pair. Returns the child's pid in the parent and 0 in the child, with *sock this
 * side's end; <0 with err naming `what` when the pair or the fork fails.
 */
static pid_t fork_helper(const char *what, int *sock, sm_error_t *err)
{
	int sv[2], e;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return sm_error_set(err, errno, "%s: socketpair", what);
	pid = fork();
	if (pid < 0) {
		e = errno;
		close(sv[0]);
		close(sv[1]);
		return sm_error_set(err, e, "%s: fork", what);
	}
	close(sv[pid == 0 ? 0 : 1]);
	*sock = sv[pid == 0 ? 1 : 0];
	return pid;
}

/* Fork the mapper, unshare, let the mapper write the maps. 1: no namespace (logged), 0: mapped. */
static int unshare_and_map(const struct userns_maps *m, pid_t proc_pid, sm_error_t *err)
{
	char reply[sizeof(err->msg)];
	pid_t monitor = getpid(), pid;
	int sock, e, status;

	pid = fork_helper("VMM user namespace: its mapper", &sock, err);
	if (pid < 0)
		return -1;
	if (pid == 0)
		mapper_main(sock, monitor, proc_pid, m);
	if (unshare(CLONE_NEWUSER) < 0) {
		e = errno;
		(void)helper_round(sock, pid, 'x', reply, sizeof(reply), &status);
		/* Refused by policy (user.max_user_namespaces, an LSM): as without the privilege. */
		if (e != EPERM && e != EACCES && e != ENOSPC && e != EUSERS)
			return sm_error_set(err, e, "VMM: unshare(CLONE_NEWUSER)");
		sm_log(SM_LOG_DEBUG, "VMM: stays in the runtime's user namespace (unshare: %s)", strerror(e));
		return 1;
	}
	/* From here on there is no way back: an unmapped namespace would leave the VMM without files. */
	if (helper_round(sock, pid, 'g', reply, sizeof(reply), &status) <= 0)
		return sm_error_set(
		    err, 0, "VMM user namespace: its mapper ended without an answer (status %d)", status);
	if (strcmp(reply, "ok") != 0)
		return sm_error_set(
		    err, 0, "VMM user namespace: %s (SM_JAIL_USERNS=0 keeps the VMM in the runtime's)",
		    reply);
	return 0;
}

int sm_jail_user_ns(const struct sm_oci_config *cfg, sm_error_t *err)
{
	const char *env = getenv("SM_JAIL_USERNS");
	cleanup_free struct userns_maps *m = NULL;
	pid_t proc_pid;
	int r;

	if (!config_creates(cfg, SM_OCI_NS_USER))
		return 0;
	if (env != NULL && strcmp(env, "0") == 0) {
		sm_log(SM_LOG_DEBUG, "VMM: stays in the runtime's user namespace (SM_JAIL_USERNS=0)");
		return 0;
	}
	if (!may_map()) {
		sm_log(SM_LOG_DEBUG,
		       "VMM: stays in the runtime's user namespace (no CAP_SETUID/CAP_SETGID to map one)");
		return 0;
	}
	m = sm_xmalloc(sizeof(*m));
	if ((r = identity_map("/proc/self/uid_map", m->uid, sizeof(m->uid), err)) < 0 ||
	    (r = identity_map("/proc/self/gid_map", m->gid, sizeof(m->gid), err)) < 0)
		return r;
	proc_pid = proc_self_pid();
	if (proc_pid < 0)
		return sm_error_set(err, errno ? errno : EINVAL,
				    "VMM user namespace: its own pid from /proc/self");
	if ((r = unshare_and_map(m, proc_pid, err)) != 0)
		return r < 0 ? r : 0;
	sm_log(SM_LOG_DEBUG, "VMM: in a user namespace of its own, uid map %.*s", (int)strcspn(m->uid, "\n"),
	       m->uid);
	return 0;
}

int sm_jail_prepare(const char *state_dir, int *keep_fd, sm_error_t *err)
{
	const char *env = getenv("SM_JAIL");
	pid_t monitor = getpid(), proc_pid;
	int sock;
	pid_t pid;

	*keep_fd = -1;
	if (env != NULL && strcmp(env, "0") == 0) {
		sm_log(SM_LOG_DEBUG, "VMM jail: off (SM_JAIL=0): the VMM sees the host's filesystem");
		return 0;
	}
	cleanup_free char *canon = realpath(state_dir, NULL);

	if (canon == NULL)
		return sm_error_set(err, errno, "VMM jail: state directory `%s`", state_dir);
	if (!sm_jail_path_ok(canon))
		return sm_error_set(err, 0, "VMM jail: state directory `%s` cannot be mirrored in a jail",
				    canon);
	if (unshare(CLONE_NEWNS) < 0) {
		if (errno != EPERM)
			return sm_error_set(err, errno, "VMM jail: unshare(CLONE_NEWNS)");
		sm_log(
		    SM_LOG_DEBUG,
		    "VMM jail: no private mount namespace (unshare: %s; rootless without a user namespace?): "
		    "the VMM sees the host's filesystem",
		    strerror(errno));
		return 0;
	}
	/* The helper binds /proc/<pid>/fd: the pid /proc knows the monitor by, not getpid(). */
	proc_pid = proc_self_pid();
	if (proc_pid < 0)
		return sm_error_set(err, errno ? errno : EINVAL, "VMM jail: its own pid from /proc/self");
	/* Slave: host unmounts still reach the copy until the pivot, nothing goes back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return sm_error_set(err, errno, "VMM jail: make the mount namespace a slave of the host's");
	pid = fork_helper("VMM jail: its helper", &sock, err);
	if (pid < 0)
		return -1;
	if (pid == 0)
		helper_main(sock, canon, monitor, proc_pid);
	free(jail.state_dir);
	jail.state_dir = steal_ptr(&canon);
	jail.sock = sock;
	jail.helper = pid;
	*keep_fd = sock;
	return 0;
}

/* Tell the helper to build the jail; its answer is "ok" or the error text. */
static int run_helper(sm_error_t *err)
{
	char reply[sizeof(err->msg)];
	int status;
	ssize_t n = helper_round(jail.sock, jail.helper, 'g', reply, sizeof(reply), &status);

	jail.sock = -1;
	jail.helper = -1;
	if (n <= 0)
		return sm_error_set(err, 0, "VMM jail: its helper ended without an answer (status %d)",
				    status);
	if (strcmp(reply, "ok") != 0)
		return sm_error_set(err, 0, "VMM %s (SM_JAIL=0 turns the jail off)", reply);
	return 0;
}

int sm_jail_enter(sm_error_t *err)
{
	struct stat before, after;
	int r;

	if (jail.sock < 0)
		return 0;
	if (stat(jail.state_dir, &before) < 0) {
		close(jail.sock);
		jail.sock = -1;
		return sm_error_set(err, errno, "VMM jail: state directory `%s`", jail.state_dir);
	}
	if ((r = run_helper(err)) < 0)
		return r;
	/* The same directory, now reached through the jail's bind: relative paths keep working. */
	if (chdir(jail.state_dir) < 0 || stat(".", &after) < 0)
		return sm_error_set(err, errno, "VMM jail: the state directory `%s` inside the jail",
				    jail.state_dir);
	if (after.st_dev != before.st_dev || after.st_ino != before.st_ino)
		return sm_error_set(err, 0, "VMM jail: `%s` inside the jail is not the state directory",
				    jail.state_dir);
	jail.active = true;
	sm_log(SM_LOG_DEBUG, "VMM jail: entered; its root holds %s and /proc/self/fd", jail.state_dir);
	return 0;
}

bool sm_jail_active(void)
{
	return jail.active;
}
