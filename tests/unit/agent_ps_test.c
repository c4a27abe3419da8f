/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PS with process details (SM_TAG_PROC) from the real agent running a container on the host (see
 * agent_testlib.h): pids, parents, user, command line, state, tty of a terminal process, times;
 * decoded by runtime/ps-table.h as `sm-runtime ps` does. Also SIGWINCH in the process on RESIZE.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/proto-tags.h"
#include "common/util.h"
#include "oci/config.h"
#include "runtime/agent-spec.h"
#include "runtime/ps-table.h"
#include "tests/tap.h"
#include "tests/unit/agent_testlib.h"

static struct agent_env env;

static size_t sleeps_of(const struct sm_ps_list *l, uint32_t parent)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		n += l->v[i].ppid == parent && strcmp(l->v[i].comm, "sleep") == 0;
	return n;
}

static const struct sm_ps_proc *find(const struct sm_ps_list *l, uint32_t pid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].pid == pid)
			return &l->v[i];
	return NULL;
}

/* EXEC of args (JSON) as uid, with a terminal or not; returns the guest pid or 0. */
static uint32_t exec(const char *args, const char *extra, uint32_t stream, const struct sm_agent_stdio *io)
{
	cleanup_free char *json = agent_config_json(&env, args, extra, NULL, NULL);
	struct sm_oci_config *cfg = NULL;
	struct sm_buf payload = {0};
	sm_error_t err = SM_ERROR_INIT;
	uint32_t pid = 0;

	if (sm_oci_config_parse(json, strlen(json), "config.json", SM_OCI_PARSE_REQUIRE_PROCESS, &cfg, &err) <
		0 ||
	    sm_agent_spec_process(&payload, cfg->process, NULL, &err) < 0 ||
	    sm_agent_client_exec(env.c, stream, &payload, io, &pid, AGENT_TIMEOUT_MS, &err) < 0)
		tap_diag("exec %s: %s", args, err.msg);
	sm_buf_free(&payload);
	sm_oci_config_free(cfg);
	return pid;
}

int main(void)
{
	cleanup_free char *cfg = NULL;
	struct sm_buf payload = {0}, raw = {0};
	sm_error_t err = SM_ERROR_INIT;
	uint32_t init = 0, user_pid, tty_pid, *pids = NULL;
	int out = memfd_create("tty-out", MFD_CLOEXEC), in[2] = {-1, -1}, status = -1;
	struct sm_agent_stdio tio = {.in_fd = -1, .out_fd = out, .err_fd = -1};
	struct sm_ps_list l = {0};
	const struct sm_ps_proc *p;
	char buf[512] = "";
	size_t n = 0;

	agent_env_init(&env);
	cfg = agent_config_json(&env, "[\"sh\", \"-c\", \"sleep 1000 & sleep 1000; echo done\"]", NULL, NULL,
				NULL);
	if (pipe2(in, O_CLOEXEC) < 0 || !agent_env_start(&env, NULL))
		tap_skip_all("the agent did not start");
	tio.in_fd = in[0];
	if (!agent_create_payload(&env, cfg, &payload) ||
	    sm_agent_client_create(env.c, 1, &payload, NULL, &init, AGENT_TIMEOUT_MS, &err) < 0 ||
	    sm_agent_client_start(env.c, 1, AGENT_TIMEOUT_MS, &err) < 0)
		ok(0, "create + start: %s", err.msg);
	user_pid = exec("[\"sleep\", \"999\"]", "\"user\": {\"uid\": 1234, \"gid\": 567},", 2, NULL);
	tty_pid = exec(
	    "[\"sh\", \"-c\", \"trap 'stty size; exit 3' WINCH; echo ready; while :; do sleep 0.05; done\"]",
	    "\"terminal\": true,", 3, &tio);
	for (int i = 0; i < 400 && strstr(buf, "ready") == NULL; i++) {
		sm_agent_client_step(env.c, 20, &err);
		agent_read_fd(out, buf, sizeof(buf));
	}
	/* start returns once sh was exec'd; its two sleeps come a moment later. */
	for (int i = 0; i < 200; i++) {
		free(pids);
		pids = NULL;
		sm_buf_free(&raw);
		sm_ps_list_free(&l);
		status = sm_agent_client_ps_full(env.c, &pids, &n, &raw, AGENT_TIMEOUT_MS, &err);
		if (status < 0 || sm_ps_decode(raw.data, raw.len, &l, &err) < 0 || sleeps_of(&l, init) == 2)
			break;
		usleep(20000);
	}
	ok(status == 0 && n >= 5, "PS: %zu pids (%s)", n, err.msg);
	sm_ps_list_free(&l);
	status = sm_ps_decode(raw.data, raw.len, &l, &err);
	ok(status == 0 && l.n == n, "decoded: %zu processes (%s)", l.n, err.msg);
	p = find(&l, init);
	ok(p != NULL && p->detailed && p->args != NULL &&
	       strcmp(p->args, "sh -c sleep 1000 & sleep 1000; echo done") == 0 &&
	       strcmp(p->comm, "sh") == 0 && p->uid == 0 && p->sid == init,
	   "init: command line, name, uid 0, session leader (%s)", p && p->args ? p->args : "-");
	ok(sleeps_of(&l, init) == 2, "two sleeps whose parent is init (%zu)", sleeps_of(&l, init));
	p = find(&l, user_pid);
	ok(p != NULL && p->uid == 1234 && p->gid == 567 && strchr("RS", p->state) != NULL && p->tty == 0 &&
	       strcmp(p->args, "sleep 999") == 0,
	   "exec'd as 1234:567, running or sleeping, no tty (uid %u, gid %u, state %c, tty %u)",
	   p ? p->uid : 0, p ? p->gid : 0, p ? p->state : '-', p ? p->tty : 0);
	p = find(&l, tty_pid);
	ok(p != NULL && ((p->tty >> 8) & 0xfff) >= 136 && ((p->tty >> 8) & 0xfff) <= 143,
	   "the terminal process's tty is a pts (tty_nr %#x)", p ? p->tty : 0);
	p = find(&l, init);
	ok(p != NULL && p->elapsed_ms < 60000 && p->start > 1577836800 && p->rss_kb > 0 && p->vsz_kb > 0 &&
	       p->threads == 1,
	   "times and sizes are plausible (elapsed %llu ms, rss %llu KiB)",
	   p ? (unsigned long long)p->elapsed_ms : 0, p ? (unsigned long long)p->rss_kb : 0);

	/* RESIZE: the process gets SIGWINCH and sees the size. */
	ok(sm_agent_client_resize(env.c, 3, 33, 99, &err) == 0, "RESIZE sent");
	ok(sm_agent_client_resize(env.c, 3, 0, 99, &err) < 0 && err.code == EINVAL, "a zero size is refused");
	sm_agent_client_wait(env.c, 3, &status, AGENT_TIMEOUT_MS, &err);
	agent_read_fd(out, buf, sizeof(buf));
	ok(status == 3 && strstr(buf, "33 99") != NULL,
	   "SIGWINCH in the process, stty size 33 99 (%d, \"%s\")", status, agent_esc(buf));

	sm_agent_client_signal(env.c, 0, 9, true, AGENT_TIMEOUT_MS, &err);
	sm_agent_client_wait(env.c, 1, &status, AGENT_TIMEOUT_MS, &err);
	ok(agent_env_stop(&env) == 0, "agent exited cleanly");
	sm_ps_list_free(&l);
	free(pids);
	sm_buf_free(&raw);
	sm_buf_free(&payload);
	close(out);
	agent_env_cleanup(&env);
	tap_done();
}
