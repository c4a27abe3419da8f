/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VMM's jail (runtime/jail.h): the pure path checks, and (as root) a real jail entered by a
 * multi-threaded child, inspected from the host through /proc/<pid>/root and mountinfo, once in
 * our pid namespace and once as pid 1 of its own (as the monitor when the config has one).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "oci/config.h"
#include "runtime/bind-shares.h"
#include "runtime/confine.h"
#include "runtime/jail.h"
#include "tests/tap.h"

static void test_path_ok(void)
{
	ok(sm_jail_path_ok("/run/sm-runtime/c1"), "an absolute path is fine");
	ok(sm_jail_path_ok("/run/sm-runtime/c1/"), "one trailing slash is fine");
	ok(!sm_jail_path_ok("run/sm-runtime"), "a relative path is refused");
	ok(!sm_jail_path_ok("/"), "the root is refused");
	ok(!sm_jail_path_ok("/run/../etc"), "`..` is refused");
	ok(!sm_jail_path_ok("/run/./x"), "`.` is refused");
	ok(!sm_jail_path_ok("/run//x"), "an empty component is refused");
	ok(!sm_jail_path_ok(NULL) && !sm_jail_path_ok(""), "NULL and empty are refused");
}

static void test_mkdirs(void)
{
	char tmp[] = "/tmp/jail-mkdirs-XXXXXX";
	cleanup_close int root = -1;
	cleanup_free char *p = NULL;
	sm_error_t err = SM_ERROR_INIT;
	struct stat st;

	if (mkdtemp(tmp) == NULL) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	root = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ok(sm_jail_mkdirs(root, "/a/b/c", &err) == 0, "mkdirs /a/b/c: %s", err.msg);
	p = sm_xasprintf("%s/a/b/c", tmp);
	ok(stat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0755, "made, mode 0755");
	ok(sm_jail_mkdirs(root, "/a/b/c", &err) == 0, "existing directories are fine");
	free(p);
	p = sm_xasprintf("%s/a/link", tmp);
	(void)!symlink("/etc", p);
	sm_error_clear(&err);
	ok(sm_jail_mkdirs(root, "/a/link/x", &err) < 0, "a symlink in the way is an error: %s", err.msg);
	free(p);
	p = sm_xasprintf("%s/a/file", tmp);
	close(open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	sm_error_clear(&err);
	ok(sm_jail_mkdirs(root, "/a/file/x", &err) < 0, "a file in the way is an error: %s", err.msg);
	sm_error_clear(&err);
	ok(sm_jail_mkdirs(root, "/a/../x", &err) < 0, "`..` is refused");
	free(p);
	p = sm_xasprintf("rm -rf '%s'", tmp);
	(void)!system(p);
}

/*
 * The jailed VMM maps bind sources (the agent's CREATE) without the host's filesystem: what the
 * plan resolved is answered from memory, even once the sources are gone.
 */
static void test_bind_map_from_plan(void)
{
	char top[] = "/tmp/jail-binds-XXXXXX";
	cleanup_free char *cfgpath = NULL, *json = NULL, *src = NULL, *rootfs = NULL, *cmd = NULL;
	cleanup_free char *tag = NULL, *sub = NULL, *tag2 = NULL, *sub2 = NULL;
	struct sm_oci_config *cfg = NULL;
	struct sm_bind_shares s;
	sm_error_t err = SM_ERROR_INIT;
	bool dax;
	int r1 = -1, r2 = -1;

	if (mkdtemp(top) == NULL)
		return (void)ok(0, "mkdtemp");
	cmd = sm_xasprintf("mkdir -p '%s/bundle/rootfs/etc' '%s/host' && echo x > '%s/host/hosts'", top, top,
			   top);
	(void)!system(cmd);
	cfgpath = sm_xasprintf("%s/bundle/config.json", top);
	json = sm_xasprintf("{\"ociVersion\":\"1.2.0\",\"root\":{\"path\":\"rootfs\"},\"mounts\":["
			    "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"%s/host/hosts\","
			    "\"options\":[\"rbind\",\"ro\"]},"
			    "{\"destination\":\"/x\",\"type\":\"bind\",\"source\":\"rootfs/etc\"}]}",
			    top);
	(void)sm_write_file_atomic(cfgpath, json, strlen(json), 0644, NULL);
	rootfs = sm_xasprintf("%s/bundle/rootfs", top);
	free(cmd);
	cmd = sm_xasprintf("%s/bundle", top);
	if (sm_oci_config_load(cfgpath, 0, &cfg, &err) < 0 ||
	    sm_bind_shares_plan(cfg, cmd, rootfs, "sm-root", &s, &err) < 0) {
		ok(0, "plan: %s", err.msg);
		sm_oci_config_free(cfg);
		return;
	}
	free(cmd);
	cmd = sm_xasprintf("rm -rf '%s'", top);
	(void)!system(cmd); /* the host's side is gone: only the plan can answer */
	src = sm_xasprintf("%s/host/hosts", top);
	r1 = sm_bind_shares_map(&s, src, &tag, &sub, &dax, &err);
	free(src);
	src = sm_xasprintf("%s/bundle/rootfs/etc", top);
	r2 = sm_bind_shares_map(&s, src, &tag2, &sub2, &dax, &err);
	ok(r1 == 1 && strcmp(tag, "sm-bind0") == 0 && strcmp(sub, "hosts") == 0,
	   "a planned file source maps from the plan: %d %s %s", r1, tag ? tag : "-", sub ? sub : "-");
	ok(r2 == 1 && strcmp(tag2, "sm-root") == 0 && strcmp(sub2, "etc") == 0,
	   "a planned source in the rootfs maps from the plan: %d %s %s", r2, tag2 ? tag2 : "-",
	   sub2 ? sub2 : "-");
	sm_error_clear(&err);
	ok(sm_bind_shares_map(&s, "/no/such/source", &tag2, &sub2, &dax, &err) < 0,
	   "an unplanned source still goes to the filesystem: %s", err.msg);
	sm_bind_shares_clear(&s);
	sm_oci_config_free(cfg);
}

static int count_lines(const char *path)
{
	cleanup_fclose FILE *f = fopen(path, "re");
	char line[4096];
	int n = 0;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		n++;
	return f != NULL ? n : -1;
}

static int go_pipe[2];

/* A thread made before the jail, as the VMM's are: it must be jailed too. */
static void *thread_main(void *arg)
{
	char c;

	(void)arg;
	if (read(go_pipe[0], &c, 1) != 1)
		return (void *)1;
	return (void *)(intptr_t)(access("/etc", F_OK) == 0 ? 2 : 0);
}

/*
 * The child: the monitor's order (prepare, drop caps, threads, enter), then the checks inside.
 * Tells the parent through `up` once jailed and waits on `down` while the parent looks at it.
 */
static int jailed_child(const char *state, const char *outside, int up, int down)
{
	sm_error_t err = SM_ERROR_INIT;
	cleanup_close int out_fd = open(outside, O_PATH | O_CLOEXEC);
	char path[64], c;
	int keep = -1, fd, fails = 0;
	pthread_t t;
	void *tres;

	if (sm_jail_prepare(state, &keep, &err) < 0 || keep < 0) {
		fprintf(stderr, "prepare: %s\n", err.msg);
		return 100;
	}
	if (sm_confine_caps(&err) < 0 || pipe(go_pipe) < 0 ||
	    pthread_create(&t, NULL, thread_main, NULL) != 0)
		return 101;
	if (sm_jail_enter(&err) < 0) {
		fprintf(stderr, "enter: %s\n", err.msg);
		return 102;
	}
	fails |= sm_jail_active() ? 0 : 1;
	fails |= access("/etc/passwd", F_OK) < 0 && errno == ENOENT ? 0 : 2;
	fd = open("inside", O_CREAT | O_WRONLY | O_CLOEXEC, 0600); /* relative: the state directory */
	fails |= fd >= 0 ? 0 : 4;
	if (fd >= 0)
		close(fd);
	/* The virtio-fs server's path to its own fds. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", out_fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	fails |= fd >= 0 && read(fd, &c, 1) == 1 && c == 'x' ? 0 : 8;
	if (fd >= 0)
		close(fd);
	fails |= open("/x", O_CREAT | O_WRONLY | O_CLOEXEC, 0600) < 0 ? 0 : 16; /* the root is read-only */
	(void)!write(go_pipe[1], "g", 1);
	fails |= pthread_join(t, &tres) == 0 && tres == NULL ? 0 : 32;
	(void)!write(up, "j", 1);
	(void)!read(down, &c, 1); /* the parent looks at us until it closes the pipe */
	return fails;
}

/* What the host sees of the jailed child: its root's entries and its mounts. */
static void inspect(pid_t pid, const char *state)
{
	cleanup_free char *root = sm_xasprintf("/proc/%d/root/", (int)pid);
	cleanup_free char *mi = sm_xasprintf("/proc/%d/mountinfo", (int)pid);
	cleanup_free char *top = sm_xstrdup(state + 1);
	cleanup_dir DIR *d = opendir(root);
	cleanup_fclose FILE *f = fopen(mi, "re");
	char line[4096], names[256] = "";
	struct dirent *e;
	int n = 0, good = 0;

	*strchrnul(top, '/') = '\0';
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		n++;
		if (strcmp(e->d_name, "proc") == 0 || strcmp(e->d_name, top) == 0)
			good++;
		strncat(names, e->d_name, sizeof(names) - strlen(names) - 2);
		strcat(names, " ");
	}
	ok(d != NULL && n == 2 && good == 2, "its root holds only proc and %s: %s", top, names);
	n = good = 0;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		char mp[4096];
		n++;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 &&
		    (strcmp(mp, "/") == 0 || strcmp(mp, state) == 0 || strcmp(mp, "/proc/self/fd") == 0))
			good++;
	}
	ok(f != NULL && n == 3 && good == 3, "its mountinfo has the jail's 3 mounts only (%d lines)", n);
}

/* Whether the two /proc/.../ns links name the same namespace. */
static bool same_ns(const char *a, const char *b)
{
	char la[64] = "", lb[64] = "";

	return readlink(a, la, sizeof(la) - 1) > 0 && readlink(b, lb, sizeof(lb) - 1) > 0 &&
	       strcmp(la, lb) == 0;
}

/*
 * pidns: the child is forked as create forks the monitor when the config has a pid namespace
 * (sm_jail_pid_ns_unshare/restore), so it is pid 1 of its own: its /proc/self/fd must still be
 * its own fds (the outside file's fd reads 'x'), not those of the host's pid 1.
 */
static void test_real_jail(bool pidns)
{
	struct sm_oci_namespace ns = {.type = SM_OCI_NS_PID, .path = NULL};
	struct sm_oci_linux lin = {.namespaces = &ns, .n_namespaces = 1};
	struct sm_oci_config cfg = {.linux_cfg = &lin};
	sm_error_t err = SM_ERROR_INIT;
	cleanup_free char *child_ns = NULL;
	int back = -1;

	char state[] = "/tmp/jail-state-XXXXXX", outdir[] = "/tmp/jail-out-XXXXXX";
	cleanup_free char *outside = NULL, *inside = NULL, *cmd = NULL;
	int host_mounts = count_lines("/proc/self/mountinfo"), up[2], down[2], status = -1;
	char c;
	pid_t pid;

	if (mkdtemp(state) == NULL || mkdtemp(outdir) == NULL || pipe(up) < 0 || pipe(down) < 0) {
		ok(0, "set-up: %s", strerror(errno));
		return;
	}
	outside = sm_xasprintf("%s/file", outdir);
	inside = sm_xasprintf("%s/inside", state);
	(void)sm_write_file_atomic(outside, "x", 1, 0600, NULL);
	if (pidns && (sm_jail_pid_ns_unshare(&cfg, &back, &err) < 0 || back < 0)) {
		ok(0, "unshare the pid namespace: %s", err.msg);
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(up[0]);
		close(down[1]);
		if (pidns && getpid() != 1)
			_exit(99);
		_exit(jailed_child(state, outside, up[1], down[0]));
	}
	if (pidns) {
		ok(sm_jail_pid_ns_restore(&back, &err) == 0 && back == -1, "back in our pid namespace: %s",
		   err.msg);
		ok(same_ns("/proc/self/ns/pid", "/proc/self/ns/pid_for_children"),
		   "later forks stay in our pid namespace");
	}
	close(up[1]);
	close(down[0]);
	if (read(up[0], &c, 1) == 1) {
		inspect(pid, state);
		child_ns = sm_xasprintf("/proc/%d/ns/pid", (int)pid);
		ok(same_ns("/proc/self/ns/pid", child_ns) == !pidns, "the child's pid namespace is %s",
		   pidns ? "its own" : "ours");
	} else {
		ok(0, "the child got jailed");
	}
	close(down[1]);
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "inside: jailed, no /etc, state directory is the cwd, /proc/self/fd works, root read-only, "
	   "threads jailed too (status %d)",
	   WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
	ok(access(inside, F_OK) == 0, "a file made inside appears in the host's state directory");
	ok(count_lines("/proc/self/mountinfo") == host_mounts, "the host's mounts are unchanged");
	close(up[0]);
	cmd = sm_xasprintf("rm -rf '%s' '%s'", state, outdir);
	(void)!system(cmd);
}

/* Without CAP_SYS_ADMIN (as rootless): no jail, no error, nothing changes. */
static int unprivileged_child(bool env_off)
{
	sm_error_t err = SM_ERROR_INIT;
	int keep = 7;

	if (env_off)
		setenv("SM_JAIL", "0", 1);
	else if (sm_confine_caps(&err) < 0)
		return 100;
	if (sm_jail_prepare("/tmp", &keep, &err) < 0 || keep != -1)
		return 1;
	if (sm_jail_enter(&err) < 0 || sm_jail_active())
		return 2;
	return access("/etc", F_OK) == 0 ? 0 : 3;
}

static void test_fallback(bool env_off)
{
	int status = -1;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(unprivileged_child(env_off));
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: no jail, no error (status %d)",
	   env_off ? "SM_JAIL=0" : "without CAP_SYS_ADMIN", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

int main(void)
{
	test_path_ok();
	test_mkdirs();
	test_bind_map_from_plan();
	test_fallback(true);
	if (geteuid() != 0) {
		tap_skip("the real jail needs root (a mount namespace and pivot_root)");
	} else {
		test_fallback(false);
		test_real_jail(false);
		test_real_jail(true);
	}
	return tap_done();
}
