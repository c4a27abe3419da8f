/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "guest/agent/agent.h"
#include "oci/config.h"
#include "runtime/agent-spec.h"
#include "tests/tap.h"
#include "tests/unit/agent_testlib.h"

#define BUSYBOX "/bin/busybox"

static const char *const applets[] = {
    "sh",   "echo", "cat",	"ls",	 "id",	"sleep",  "hostname", "pwd",   "mkdir",
    "grep", "head", "yes",	"wc",	 "tty", "stty",	  "true",     "false", "touch",
    "rm",   "kill", "ps",	"env",	 "dd",	"mount",  "umount",   "tr",    "seq",
    "test", "stat", "readlink", "uname", "ln",	"printf", "sync",
};

static void write_file(const char *path, const char *text)
{
	if (sm_write_file_atomic(path, text, strlen(text), 0644, NULL) < 0)
		tap_skip_all("cannot write the test rootfs");
}

static void copy_busybox(const char *dst)
{
	char *data = NULL;
	size_t len = 0;
	int fd;

	if (sm_read_file(BUSYBOX, 64u << 20, &data, &len, NULL) < 0)
		tap_skip_all("no " BUSYBOX " (Debian package busybox-static)");
	fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (fd < 0 || sm_write_all(fd, data, len) < 0)
		tap_skip_all("cannot copy busybox into the test rootfs");
	close(fd);
	free(data);
}

void agent_env_init(struct agent_env *e)
{
	static const char *const dirs[] = {"bin", "proc", "sys",  "dev",      "tmp",
					   "etc", "root", "home", "home/user"};
	char path[PATH_MAX];
	struct stat st;

	memset(e, 0, sizeof(*e));
	e->pid = -1;
	if (geteuid() != 0)
		tap_skip_all("needs root (mounts, namespaces, pivot_root)");
	if (stat(BUSYBOX, &st) < 0)
		tap_skip_all("no " BUSYBOX " (Debian package busybox-static)");
	snprintf(e->dir, sizeof(e->dir), "/tmp/sm-agent-test-XXXXXX");
	if (mkdtemp(e->dir) == NULL)
		tap_skip_all("mkdtemp failed");
	snprintf(e->rootfs, sizeof(e->rootfs), "%s/rootfs", e->dir);
	mkdir(e->rootfs, 0755);
	for (size_t i = 0; i < SM_ARRAY_SIZE(dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", e->rootfs, dirs[i]);
		mkdir(path, 0755);
	}
	snprintf(path, sizeof(path), "%s/tmp", e->rootfs);
	chmod(path, 01777);
	snprintf(path, sizeof(path), "%s/bin/busybox", e->rootfs);
	copy_busybox(path);
	for (size_t i = 0; i < SM_ARRAY_SIZE(applets); i++) {
		snprintf(path, sizeof(path), "%s/bin/%s", e->rootfs, applets[i]);
		if (symlink("busybox", path) < 0)
			tap_skip_all("cannot create the busybox links");
	}
	snprintf(path, sizeof(path), "%s/etc/passwd", e->rootfs);
	write_file(path, "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n");
	snprintf(path, sizeof(path), "%s/etc/group", e->rootfs);
	write_file(path, "root:x:0:\nuser:x:1000:\nextra:x:2000:\n");
	snprintf(path, sizeof(path), "%s/etc/secret", e->rootfs);
	write_file(path, "secret\n");
}

void agent_serve_in_namespaces(int fd, const char *agent_binary)
{
	pid_t pid;
	int status;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Hold nothing of the test's (another agent's connection, a stdin pipe) open. */
	for (int i = 3; i < 1024; i++) {
		if (i != fd)
			close(i);
	}
	if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		_exit(100);
	pid = fork();
	if (pid < 0)
		_exit(101);
	if (pid == 0) {
		struct sm_agent_opts opts = {.staging_dir = "/run/sm-agent-test", .log_fd = -1};
		sm_error_t err = SM_ERROR_INIT;
		struct sm_agent *a = NULL;
		char num[16];
		int r;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* A /proc of the new pid namespace, as sm-init mounts in the guest. */
		if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			_exit(102);
		if (agent_binary != NULL) {
			snprintf(num, sizeof(num), "%d", fd);
			execl(agent_binary, agent_binary, "--fd", num, (char *)NULL);
			_exit(103);
		}
		if (sm_agent_new(&opts, &a, &err) < 0) {
			fprintf(stderr, "agent: %s\n", err.msg);
			_exit(104);
		}
		r = sm_agent_serve(a, fd, &err);
		if (r < 0)
			fprintf(stderr, "agent: %s\n", err.msg);
		sm_agent_free(a);
		exit(r < 0 ? 105 : 0);
	}
	close(fd);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
	}
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

int agent_env_spawn(struct agent_env *e, const char *agent_binary)
{
	int sv[2];

	fflush(stdout);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	e->pid = fork();
	if (e->pid == 0) {
		close(sv[0]);
		/* The agent's end must survive the exec of a separate agent binary. */
		fcntl(sv[1], F_SETFD, 0);
		agent_serve_in_namespaces(sv[1], agent_binary);
	}
	close(sv[1]);
	if (e->pid < 0) {
		close(sv[0]);
		return -1;
	}
	return sv[0];
}

bool agent_env_start(struct agent_env *e, const char *agent_binary)
{
	sm_error_t err = SM_ERROR_INIT;
	int fd = agent_env_spawn(e, agent_binary);

	if (fd < 0)
		return ok(0, "start an agent: %s", strerror(errno));
	if (sm_agent_client_new(fd, &e->c, &err) < 0 ||
	    sm_agent_client_handshake(e->c, AGENT_TIMEOUT_MS, &err) < 0)
		return ok(0, "agent handshake: %s", err.msg);
	return true;
}

int agent_env_stop(struct agent_env *e)
{
	int status = -1;

	sm_agent_client_free(e->c);
	e->c = NULL;
	if (e->pid > 0) {
		while (waitpid(e->pid, &status, 0) < 0 && errno == EINTR) {
		}
	}
	e->pid = -1;
	return status;
}

void agent_env_cleanup(struct agent_env *e)
{
	char cmd[400];

	if (e->dir[0] == '\0')
		return;
	/* Only files: every mount lived in the agents' private namespaces, which are gone. */
	snprintf(cmd, sizeof(cmd), "rm -rf --one-file-system '%s'", e->dir);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", e->dir);
}

char *agent_config_json(const struct agent_env *e, const char *args, const char *process_extra,
			const char *top_extra, const char *linux_extra)
{
	const char *pe = process_extra ? process_extra : "", *le = linux_extra ? linux_extra : "";
	const char *te = top_extra ? top_extra : "";
	/* The extras may replace the base's env, cwd and namespaces (JSON keys must be unique). */
	const char *env =
	    strstr(pe, "\"env\"") ? "" : "\"env\": [\"PATH=/usr/local/bin:/usr/bin:/bin\", \"TERM=xterm\"],";
	const char *cwd = strstr(pe, "\"cwd\"") ? "" : "\"cwd\": \"/\",";
	const char *ns =
	    strstr(le, "\"namespaces\"")
		? ""
		: "\"namespaces\": [{\"type\": \"mount\"}, {\"type\": \"network\"}, {\"type\": \"uts\"},"
		  " {\"type\": \"ipc\"}],";

	const char *mounts =
	    "\"mounts\": ["
	    " {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},"
	    " {\"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\","
	    "  \"options\": [\"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\"]},"
	    " {\"destination\": \"/dev/pts\", \"type\": \"devpts\", \"source\": \"devpts\","
	    "  \"options\": [\"nosuid\", \"noexec\", \"newinstance\", \"ptmxmode=0666\", \"mode=0620\"]},"
	    " {\"destination\": \"/dev/shm\", \"type\": \"tmpfs\", \"source\": \"shm\","
	    "  \"options\": [\"nosuid\", \"noexec\", \"nodev\", \"mode=1777\", \"size=65536k\"]},"
	    " {\"destination\": \"/dev/mqueue\", \"type\": \"mqueue\", \"source\": \"mqueue\","
	    "  \"options\": [\"nosuid\", \"noexec\", \"nodev\"]},"
	    " {\"destination\": \"/sys\", \"type\": \"sysfs\", \"source\": \"sysfs\","
	    "  \"options\": [\"nosuid\", \"noexec\", \"nodev\", \"ro\"]},"
	    " {\"destination\": \"/sys/fs/cgroup\", \"type\": \"cgroup\", \"source\": \"cgroup\","
	    "  \"options\": [\"nosuid\", \"noexec\", \"nodev\", \"relatime\", \"ro\"]}"
	    "],";

	/* top_extra may bring its own mounts. */
	if (strstr(te, "\"mounts\"") != NULL)
		mounts = "";
	return sm_xasprintf("{\"ociVersion\": \"1.0.2\", %s \"root\": {\"path\": \"%s\"},"
			    "\"process\": {%s %s %s \"args\": %s}, %s"
			    "\"linux\": {%s %s \"cgroupsPath\": \"/sm-agent-test\"}}",
			    te, e->rootfs, pe, env, cwd, args, mounts, le, ns);
}

bool agent_create_payload(const struct agent_env *e, const char *config_json, struct sm_buf *b)
{
	struct sm_oci_config *cfg = NULL;
	sm_error_t err = SM_ERROR_INIT;
	int r;

	if (sm_oci_config_parse(config_json, strlen(config_json), "config.json", SM_OCI_PARSE_REQUIRE_PROCESS,
				&cfg, &err) < 0)
		return ok(0, "parse the test config: %s", err.msg);
	r = sm_agent_spec_create(b, cfg, NULL, &err);
	sm_oci_config_free(cfg);
	if (r < 0)
		return ok(0, "encode the test config: %s", err.msg);
	(void)e;
	return true;
}

void agent_read_fd(int fd, char *buf, size_t size)
{
	ssize_t n = pread(fd, buf, size - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
}

bool agent_run_config(struct agent_env *e, const char *config_json, const char *stdin_data,
		      struct agent_run *r)
{
	struct sm_buf payload = {0};
	sm_error_t err = SM_ERROR_INIT;
	int in[2] = {-1, -1}, out = memfd_create("out", MFD_CLOEXEC),
	    errfd = memfd_create("err", MFD_CLOEXEC);
	struct sm_agent_stdio io = {.in_fd = -1, .out_fd = out, .err_fd = errfd};
	bool good = false;
	uint32_t pid = 0;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	if (!agent_create_payload(e, config_json, &payload))
		goto out;
	if (stdin_data != NULL) {
		if (pipe2(in, O_CLOEXEC) < 0 || sm_write_all(in[1], stdin_data, strlen(stdin_data)) < 0)
			goto out;
		close(in[1]);
		in[1] = -1;
		io.in_fd = in[0];
	}
	if (sm_agent_client_create(e->c, 1, &payload, &io, &pid, AGENT_TIMEOUT_MS, &err) < 0) {
		r->create_errno = err.code;
		snprintf(r->create_msg, sizeof(r->create_msg), "%s", err.msg);
		good = true;
		goto out;
	}
	r->created = true;
	if (sm_agent_client_start(e->c, 1, AGENT_TIMEOUT_MS, &err) < 0 ||
	    sm_agent_client_wait(e->c, 1, &r->status, AGENT_TIMEOUT_MS, &err) < 0) {
		ok(0, "start/wait: %s", err.msg);
		goto out;
	}
	agent_read_fd(out, r->out, sizeof(r->out));
	agent_read_fd(errfd, r->err, sizeof(r->err));
	good = true;
out:
	sm_buf_free(&payload);
	close(out);
	close(errfd);
	if (in[0] >= 0)
		close(in[0]);
	if (in[1] >= 0)
		close(in[1]);
	return good;
}

bool agent_run_once(struct agent_env *e, const char *config_json, const char *stdin_data, struct agent_run *r)
{
	bool good;
	int status;

	if (!agent_env_start(e, NULL))
		return false;
	good = agent_run_config(e, config_json, stdin_data, r);
	status = agent_env_stop(e);
	if (status != 0)
		return ok(0, "the agent exited cleanly (wait status %#x)", status);
	return good;
}

const char *agent_esc(const char *s)
{
	static char bufs[4][1024];
	static int next;
	char *b = bufs[next++ % 4];
	size_t n = 0;

	for (; *s != '\0' && n + 3 < sizeof(bufs[0]); s++) {
		if (*s == '\n' || *s == '\r' || *s == '\t') {
			b[n++] = '\\';
			b[n++] = *s == '\n' ? 'n' : *s == '\r' ? 'r' : 't';
		} else {
			b[n++] = *s;
		}
	}
	b[n] = '\0';
	return b;
}
