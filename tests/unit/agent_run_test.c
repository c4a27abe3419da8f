/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guest agent running containers on the host (see agent_testlib.h): exit codes, stdio relay,
 * signals, EXEC and PS, hostname, user/cwd/env/umask, a missing executable, a pid namespace, a
 * terminal, flow control with a large output, and the same through the static musl agent.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/proto-tags.h"
#include "common/util.h"
#include "oci/config.h"
#include "runtime/agent-spec.h"
#include "tests/tap.h"
#include "tests/unit/agent_testlib.h"

static struct agent_env env;

static void test_exit_code(void)
{
	cleanup_free char *cfg =
	    agent_config_json(&env, "[\"sh\", \"-c\", \"echo hi; exit 7\"]", NULL, NULL, NULL);
	struct agent_run r;

	if (!agent_run_once(&env, cfg, NULL, &r))
		return;
	ok(r.created && r.status == 7, "sh -c 'echo hi; exit 7' exits 7 (got %d)", r.status);
	ok(strcmp(r.out, "hi\n") == 0, "STDOUT is \"hi\\n\" (got \"%s\")", agent_esc(r.out));
}

static void test_stdin_stderr(void)
{
	cleanup_free char *cat = agent_config_json(&env, "[\"cat\"]", NULL, NULL, NULL);
	cleanup_free char *err =
	    agent_config_json(&env, "[\"sh\", \"-c\", \"echo out; echo err >&2\"]", NULL, NULL, NULL);
	struct agent_run r;

	if (agent_run_once(&env, cat, "line one\nline two\n", &r))
		ok(r.status == 0 && strcmp(r.out, "line one\nline two\n") == 0,
		   "cat relays stdin to stdout, EOF ends it");
	if (agent_run_once(&env, err, NULL, &r))
		ok(strcmp(r.out, "out\n") == 0 && strcmp(r.err, "err\n") == 0,
		   "stderr is separate (out \"%s\", err \"%s\")", agent_esc(r.out), agent_esc(r.err));
}

/* One pipe for both stdout and stderr (what a runtime passes for a log): relayed to the same fd. */
static void test_shared_output_fd(void)
{
	cleanup_free char *cfg =
	    agent_config_json(&env, "[\"sh\", \"-c\", \"echo one; echo two >&2\"]", NULL, NULL, NULL);
	struct sm_buf payload = {0};
	sm_error_t err = SM_ERROR_INIT;
	int p[2] = {-1, -1}, status = -1;
	char buf[64] = "";
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) < 0 || !agent_env_start(&env, NULL))
		goto out;
	{
		struct sm_agent_stdio io = {.in_fd = -1, .out_fd = p[1], .err_fd = p[1]};
		if (agent_create_payload(&env, cfg, &payload) &&
		    sm_agent_client_create(env.c, 1, &payload, &io, NULL, AGENT_TIMEOUT_MS, &err) == 0 &&
		    sm_agent_client_start(env.c, 1, AGENT_TIMEOUT_MS, &err) == 0)
			sm_agent_client_wait(env.c, 1, &status, AGENT_TIMEOUT_MS, &err);
	}
	n = read(p[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	ok(status == 0 && strstr(buf, "one\n") && strstr(buf, "two\n"),
	   "the same pipe for stdout and stderr (\"%s\") %s", agent_esc(buf), err.msg);
	ok(agent_env_stop(&env) == 0, "agent exited cleanly");
out:
	sm_buf_free(&payload);
	if (p[0] >= 0) {
		close(p[0]);
		close(p[1]);
	}
}

static void test_signal(void)
{
	cleanup_free char *cfg = agent_config_json(&env, "[\"sleep\", \"100\"]", NULL, NULL, NULL);
	struct sm_buf payload = {0};
	sm_error_t err = SM_ERROR_INIT;
	uint32_t pid = 0;
	int status = -1;

	if (!agent_env_start(&env, NULL))
		return;
	if (agent_create_payload(&env, cfg, &payload)) {
		int r = sm_agent_client_create(env.c, 1, &payload, NULL, &pid, AGENT_TIMEOUT_MS, &err);
		ok(r == 0 && pid > 1, "create sleep (pid %u): %s", pid, err.msg);
		r = r < 0 ? r : sm_agent_client_start(env.c, 1, AGENT_TIMEOUT_MS, &err);
		ok(r == 0, "start: %s", err.msg);
		r = r < 0 ? r : sm_agent_client_signal(env.c, 1, SIGTERM, false, AGENT_TIMEOUT_MS, &err);
		ok(r == 0, "SIGTERM: %s", err.msg);
		r = r < 0 ? r : sm_agent_client_wait(env.c, 1, &status, AGENT_TIMEOUT_MS, &err);
		ok(r == 0 && status == 143, "killed by SIGTERM: status 143 (got %d)", status);
		ok(sm_agent_client_signal(env.c, 1, SIGTERM, false, AGENT_TIMEOUT_MS, &err) < 0 &&
		       err.code == ESRCH,
		   "signal after the exit: ESRCH (%s)", err.msg);
	}
	sm_buf_free(&payload);
	ok(agent_env_stop(&env) == 0, "agent exited cleanly");
}

static void test_exec_ps(void)
{
	cleanup_free char *cfg = agent_config_json(&env, "[\"sleep\", \"100\"]", NULL, NULL, NULL);
	cleanup_free char *ex = agent_config_json(
	    &env, "[\"sh\", \"-c\", \"echo exec:$(cat /etc/secret); sleep 100\"]", NULL, NULL, NULL);
	struct sm_buf payload = {0}, exec_payload = {0};
	struct sm_oci_config *ecfg = NULL;
	sm_error_t err = SM_ERROR_INIT;
	uint32_t pid1 = 0, pid2 = 0, *pids = NULL;
	int out = memfd_create("exec-out", MFD_CLOEXEC), status = -1;
	struct sm_agent_stdio io = {.in_fd = -1, .out_fd = out, .err_fd = -1};
	char buf[256] = "";
	size_t n = 0;

	if (!agent_env_start(&env, NULL))
		goto out;
	if (!agent_create_payload(&env, cfg, &payload) ||
	    sm_agent_client_create(env.c, 1, &payload, NULL, &pid1, AGENT_TIMEOUT_MS, &err) < 0 ||
	    sm_agent_client_start(env.c, 1, AGENT_TIMEOUT_MS, &err) < 0) {
		ok(0, "create + start: %s", err.msg);
		goto stop;
	}
	/* EXEC's payload is the process part only (the seccomp of the container would be added too). */
	sm_oci_config_parse(ex, strlen(ex), "config.json", SM_OCI_PARSE_REQUIRE_PROCESS, &ecfg, &err);
	ok(ecfg != NULL && sm_agent_spec_process(&exec_payload, ecfg->process, NULL, &err) == 0,
	   "encode EXEC: %s", err.msg);
	status = sm_agent_client_exec(env.c, 2, &exec_payload, &io, &pid2, AGENT_TIMEOUT_MS, &err);
	ok(status == 0 && pid2 > 1 && pid2 != pid1,
	   "exec a second process (pid %u) while the first (pid %u) runs: %s", pid2, pid1, err.msg);
	for (int i = 0; i < 200 && strchr(buf, '\n') == NULL; i++) {
		sm_agent_client_step(env.c, 20, &err);
		agent_read_fd(out, buf, sizeof(buf));
	}
	ok(strcmp(buf, "exec:secret\n") == 0, "the exec'd process sees the container's root (\"%s\")",
	   agent_esc(buf));
	{
		/* docker exec -t: a pty of its own from the container's devpts. */
		static const char *const targs[] = {"sh", "-c", "tty; id -u"};
		struct sm_oci_process tp = *ecfg->process;
		struct sm_buf tpay = {0};
		int tout = memfd_create("exec-tty", MFD_CLOEXEC), tstatus = -1;
		struct sm_agent_stdio tio = {.in_fd = -1, .out_fd = tout, .err_fd = -1};
		char tbuf[128];

		tp.args.v = (char **)targs;
		tp.args.n = 3;
		tp.terminal = true;
		if (sm_agent_spec_process(&tpay, &tp, NULL, &err) == 0 &&
		    sm_agent_client_exec(env.c, 4, &tpay, &tio, NULL, AGENT_TIMEOUT_MS, &err) == 0)
			sm_agent_client_wait(env.c, 4, &tstatus, AGENT_TIMEOUT_MS, &err);
		agent_read_fd(tout, tbuf, sizeof(tbuf));
		ok(tstatus == 0 && strncmp(tbuf, "/dev/pts/", 9) == 0 && strstr(tbuf, "\r\n0\r\n") != NULL,
		   "exec with a terminal (\"%s\") %s", agent_esc(tbuf), err.msg);
		sm_buf_free(&tpay);
		close(tout);
	}
	ok(sm_agent_client_ps(env.c, &pids, &n, AGENT_TIMEOUT_MS, &err) == 0, "ps: %s", err.msg);
	{
		bool has1 = false, has2 = false;
		for (size_t i = 0; i < n; i++) {
			has1 |= pids[i] == pid1;
			has2 |= pids[i] == pid2;
		}
		ok(has1 && has2, "ps lists both processes (%zu pids)", n);
	}
	ok(sm_agent_client_signal(env.c, 0, SIGKILL, true, AGENT_TIMEOUT_MS, &err) == 0, "SIGKILL to all: %s",
	   err.msg);
	status = -1;
	sm_agent_client_wait(env.c, 2, &status, AGENT_TIMEOUT_MS, &err);
	ok(status == 137, "exec'd process killed: 137 (%d)", status);
	status = -1;
	sm_agent_client_wait(env.c, 1, &status, AGENT_TIMEOUT_MS, &err);
	ok(status == 137, "first process killed: 137 (%d)", status);
	ok(sm_agent_client_exec(env.c, 3, &exec_payload, NULL, NULL, AGENT_TIMEOUT_MS, &err) < 0 &&
	       err.code == ESRCH,
	   "exec after the container stopped is refused: %s", err.msg);
	free(pids);
stop:
	ok(agent_env_stop(&env) == 0, "agent exited cleanly");
out:
	sm_oci_config_free(ecfg);
	sm_buf_free(&payload);
	sm_buf_free(&exec_payload);
	close(out);
}

static void test_identity(void)
{
	cleanup_free char *cfg = agent_config_json(
	    &env, "[\"sh\", \"-c\", \"hostname; id -u; id -g; id -G; pwd; umask; echo $HOME $FOO\"]",
	    "\"user\": {\"uid\": 1000, \"gid\": 1000, \"umask\": 18, \"additionalGids\": [2000]},"
	    " \"env\": [\"PATH=/bin\", \"FOO=bar\"], \"cwd\": \"/home/user/work\",",
	    "\"hostname\": \"agent-box\",", NULL);
	struct agent_run r;

	if (!agent_run_once(&env, cfg, NULL, &r))
		return;
	ok(r.status == 0, "exit 0 (%d, err \"%s\")", r.status, agent_esc(r.err));
	ok(strcmp(r.out, "agent-box\n1000\n1000\n1000 2000\n/home/user/work\n0022\n/home/user bar\n") == 0,
	   "hostname, uid, gid, groups, cwd (created), umask, HOME from /etc/passwd, env: \"%s\"",
	   agent_esc(r.out));
}

static void test_missing_executable(void)
{
	cleanup_free char *cfg = agent_config_json(&env, "[\"no-such-program\", \"x\"]", NULL, NULL, NULL);
	struct agent_run r;

	if (!agent_run_once(&env, cfg, NULL, &r))
		return;
	ok(r.status == 127, "missing executable: 127 (%d)", r.status);
	ok(strstr(r.err, "exec: \"no-such-program\": executable file not found in $PATH") != NULL,
	   "runc's message on stderr: \"%s\"", agent_esc(r.err));
}

static void test_create_error(void)
{
	cleanup_free char *cfg =
	    agent_config_json(&env, "[\"true\"]", NULL, NULL, "\"sysctl\": {\"no.such.key\": \"1\"},");
	struct agent_run r;

	if (!agent_run_once(&env, cfg, NULL, &r))
		return;
	ok(!r.created && r.create_errno == ENOENT && strstr(r.create_msg, "sysctl no.such.key") != NULL,
	   "a failing setup step is an ERROR naming it: \"%s\"", r.create_msg);
}

static void test_mount_error(void)
{
	cleanup_free char *cfg = agent_config_json(
	    &env, "[\"true\"]", NULL,
	    "\"mounts\": [{\"destination\": \"/data\", \"type\": \"no-such-fs\", \"source\": \"x\"}],", NULL);
	struct agent_run r;

	if (!agent_run_once(&env, cfg, NULL, &r))
		return;
	ok(!r.created && r.create_errno == ENODEV &&
	       strcmp(r.create_msg, "create: mount /data (no-such-fs): No such device") == 0,
	   "a failing mount names the entry: \"%s\"", r.create_msg);
}

static void test_pid_namespace(void)
{
	cleanup_free char *cfg =
	    agent_config_json(&env, "[\"sh\", \"-c\", \"echo $$; ls /proc | grep -c '^[0-9]'\"]", NULL, NULL,
			      "\"namespaces\": [{\"type\": \"pid\"}],");
	struct agent_run r;

	if (!agent_run_once(&env, cfg, NULL, &r))
		return;
	ok(r.status == 0 && strncmp(r.out, "1\n", 2) == 0,
	   "with a pid namespace the process is pid 1 (\"%s\")", agent_esc(r.out));
}

static void test_terminal(void)
{
	cleanup_free char *cfg = agent_config_json(
	    &env, "[\"sh\", \"-c\", \"tty; stty size\"]",
	    "\"terminal\": true, \"consoleSize\": {\"height\": 33, \"width\": 99},", NULL, NULL);
	struct agent_run r;

	if (!agent_run_once(&env, cfg, NULL, &r))
		return;
	ok(r.status == 0 && strstr(r.out, "/dev/pts/0") != NULL && strstr(r.out, "33 99") != NULL,
	   "a pty from the container's devpts with the console size: \"%s\"", agent_esc(r.out));
}

static void note_exit(void *opaque, uint32_t stream, int status)
{
	int *seen = opaque;

	if (stream == 1)
		*seen = status;
}

/* 4 MiB through the window: the host reads slowly from a pipe, the agent must wait for credit. */
static void test_flow_control(void)
{
	cleanup_free char *cfg = agent_config_json(
	    &env, "[\"sh\", \"-c\", \"yes 0123456789abcdef | head -c 4194304\"]", NULL, NULL, NULL);
	struct sm_buf payload = {0};
	sm_error_t err = SM_ERROR_INIT;
	int p[2], status = -1, seen = -1;
	size_t total = 0;
	char buf[4096];

	if (pipe2(p, O_CLOEXEC) < 0 || !agent_env_start(&env, NULL))
		return;
	{
		struct sm_agent_stdio io = {.in_fd = -1, .out_fd = p[1], .err_fd = -1};
		ok(agent_create_payload(&env, cfg, &payload) &&
		       sm_agent_client_create(env.c, 1, &payload, &io, NULL, AGENT_TIMEOUT_MS, &err) == 0 &&
		       sm_agent_client_start(env.c, 1, AGENT_TIMEOUT_MS, &err) == 0,
		   "create + start: %s", err.msg);
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	sm_agent_client_on_exit(env.c, note_exit, &seen);
	/* The non-blocking use: poll the client's fd, step without waiting when it is readable. */
	for (int i = 0; i < 20000 && seen < 0; i++) {
		struct pollfd pfd = {.fd = sm_agent_client_fd(env.c), .events = POLLIN};
		ssize_t n;
		if (poll(&pfd, 1, 1000) < 0 || sm_agent_client_step(env.c, 0, &err) < 0)
			break;
		while ((n = read(p[0], buf, sizeof(buf))) > 0)
			total += (size_t)n;
	}
	{
		ssize_t n;
		while ((n = read(p[0], buf, sizeof(buf))) > 0)
			total += (size_t)n;
	}
	ok(sm_agent_client_exited(env.c, 1, &status) && status == 0 && seen == 0 && total == 4194304,
	   "4 MiB relayed through a pipe with flow control, driven by poll() on the client fd (%zu bytes, "
	   "status %d)",
	   total, seen);
	sm_buf_free(&payload);
	close(p[0]);
	close(p[1]);
	ok(agent_env_stop(&env) == 0, "agent exited cleanly");
}

/* The same container through the static musl build of the agent. */
static void test_static_agent(void)
{
	const char *builddir = getenv("SM_TOP_BUILDDIR");
	cleanup_free char *bin = sm_xasprintf("%s/guest/agent/sm-agent", builddir ? builddir : ".");
	cleanup_free char *cfg = agent_config_json(&env, "[\"sh\", \"-c\", \"cat; echo done; exit 3\"]", NULL,
						   "\"hostname\": \"musl\",", NULL);
	struct agent_run r;

	if (access(bin, X_OK) != 0) {
		tap_skip("guest/agent/sm-agent not built");
		return;
	}
	if (!agent_env_start(&env, bin))
		return;
	if (agent_run_config(&env, cfg, "from stdin\n", &r))
		ok(r.status == 3 && strcmp(r.out, "from stdin\ndone\n") == 0,
		   "the static musl agent runs a container (status %d, \"%s\")", r.status, agent_esc(r.out));
	ok(agent_env_stop(&env) == 0, "the static agent exited cleanly");
}

/* NO_PIVOT: MS_MOVE + chroot, what the guest falls back to when its root is the initramfs. */
static void test_no_pivot(void)
{
	cleanup_free char *cfg =
	    agent_config_json(&env, "[\"sh\", \"-c\", \"cat /etc/secret; ls /proc/1/root/etc/secret\"]", NULL,
			      NULL, "\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"mount\"}],");
	struct sm_buf payload = {0};
	sm_error_t err = SM_ERROR_INIT;
	int out = memfd_create("out", MFD_CLOEXEC), status = -1;
	struct sm_agent_stdio io = {.in_fd = -1, .out_fd = out, .err_fd = -1};
	char buf[256];

	if (!agent_env_start(&env, NULL))
		return;
	if (agent_create_payload(&env, cfg, &payload)) {
		sm_tlv_put_u32(&payload, SM_TAG_NO_PIVOT, 1);
		if (sm_agent_client_create(env.c, 1, &payload, &io, NULL, AGENT_TIMEOUT_MS, &err) == 0 &&
		    sm_agent_client_start(env.c, 1, AGENT_TIMEOUT_MS, &err) == 0)
			sm_agent_client_wait(env.c, 1, &status, AGENT_TIMEOUT_MS, &err);
		agent_read_fd(out, buf, sizeof(buf));
		ok(status == 0 && strcmp(buf, "secret\n/proc/1/root/etc/secret\n") == 0,
		   "chroot instead of pivot_root: the rootfs is / (status %d, \"%s\") %s", status,
		   agent_esc(buf), err.msg);
	}
	sm_buf_free(&payload);
	close(out);
	ok(agent_env_stop(&env) == 0, "agent exited cleanly");
}

/* A terminal's size follows RESIZE; stdin reaches the process through the pty. */
static void test_resize(void)
{
	cleanup_free char *cfg = agent_config_json(
	    &env, "[\"sh\", \"-c\", \"read x; stty size; echo got:$x\"]", "\"terminal\": true,", NULL, NULL);
	struct sm_buf payload = {0};
	sm_error_t err = SM_ERROR_INIT;
	int out = memfd_create("out", MFD_CLOEXEC), in[2] = {-1, -1}, status = -1;
	char buf[512];

	if (pipe2(in, O_CLOEXEC) < 0 || !agent_env_start(&env, NULL))
		goto out;
	{
		struct sm_agent_stdio io = {.in_fd = in[0], .out_fd = out, .err_fd = -1};
		if (!agent_create_payload(&env, cfg, &payload) ||
		    sm_agent_client_create(env.c, 1, &payload, &io, NULL, AGENT_TIMEOUT_MS, &err) < 0 ||
		    sm_agent_client_start(env.c, 1, AGENT_TIMEOUT_MS, &err) < 0) {
			ok(0, "create + start: %s", err.msg);
			goto stop;
		}
	}
	ok(sm_agent_client_resize(env.c, 1, 51, 151, &err) == 0, "RESIZE sent");
	/* RESIZE and STDIN travel in order on the connection: the size is set before the line arrives. */
	if (sm_write_all(in[1], "word\n", 5) < 0)
		tap_diag("write stdin: %s", strerror(errno));
	sm_agent_client_wait(env.c, 1, &status, AGENT_TIMEOUT_MS, &err);
	agent_read_fd(out, buf, sizeof(buf));
	ok(status == 0 && strstr(buf, "51 151") != NULL && strstr(buf, "got:word") != NULL,
	   "stty size after RESIZE, stdin through the pty (status %d, \"%s\")", status, agent_esc(buf));
stop:
	ok(agent_env_stop(&env) == 0, "agent exited cleanly");
out:
	sm_buf_free(&payload);
	close(out);
	if (in[0] >= 0)
		close(in[0]);
	if (in[1] >= 0)
		close(in[1]);
}

/*
 * sm_agent_connect_hybrid() against a Unix socket that speaks the VMM's CONNECT/OK handshake: the
 * first connection is refused (guest not listening yet), the second is answered and handed to an
 * agent, as the VMM's vsock device does with the guest's stream.
 */
static void test_hybrid_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct sm_agent_client *c = NULL;
	sm_error_t err = SM_ERROR_INIT;
	uint32_t *pids = NULL;
	int lfd, fd, status = -1;
	size_t n = 1;
	pid_t pid;

	if (strlen(env.dir) + sizeof("/vsock.sock") > sizeof(sa.sun_path))
		return;
	strcpy(sa.sun_path, env.dir);
	strcat(sa.sun_path, "/vsock.sock");
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0) {
		ok(0, "listen on %s: %s", sa.sun_path, strerror(errno));
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char line[32] = "";
		size_t len = 0;
		int c1 = accept(lfd, NULL, NULL), c2;

		close(c1); /* refused: nothing listens in the guest yet */
		c2 = accept(lfd, NULL, NULL);
		while (len < sizeof(line) - 1 && read(c2, line + len, 1) == 1 && line[len++] != '\n') {
		}
		if (strcmp(line, "CONNECT 1024\n") != 0)
			_exit(90);
		if (sm_write_all(c2, "OK 1073741824\n", 14) < 0)
			_exit(91);
		agent_serve_in_namespaces(c2, NULL);
	}
	close(lfd);
	fd = sm_agent_connect_hybrid(sa.sun_path, SM_AGENT_PORT, 10000, &err);
	ok(fd >= 0, "connect through the hybrid socket after a refusal: %s", err.msg);
	if (fd >= 0 && sm_agent_client_new(fd, &c, &err) == 0 &&
	    sm_agent_client_handshake(c, AGENT_TIMEOUT_MS, &err) == 0)
		ok(sm_agent_client_ps(c, &pids, &n, AGENT_TIMEOUT_MS, &err) == 0 && n == 0,
		   "handshake and PS (no processes) over it: %s", err.msg);
	else
		ok(0, "handshake: %s", err.msg);
	free(pids);
	sm_agent_client_free(c);
	waitpid(pid, &status, 0);
	ok(status == 0, "the agent behind the socket exited cleanly (%#x)", status);
	unlink(sa.sun_path);
}

int main(void)
{
	agent_env_init(&env);
	test_exit_code();
	test_stdin_stderr();
	test_shared_output_fd();
	test_signal();
	test_exec_ps();
	test_identity();
	test_missing_executable();
	test_create_error();
	test_mount_error();
	test_pid_namespace();
	test_terminal();
	test_flow_control();
	test_no_pivot();
	test_resize();
	test_hybrid_connect();
	test_static_agent();
	agent_env_cleanup(&env);
	return tap_done();
}
