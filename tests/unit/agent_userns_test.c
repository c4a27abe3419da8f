/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guest agent running a container in a user namespace of its own, on the host (see
 * agent_testlib.h): the maps as the process sees them, root of the namespace, namespaces that
 * belong to it (hostname, a procfs of its pid namespace), a shared mount. The guest-only parts
 * (virtio-fs shares, the pids cgroup) are in tests/e2e/guest-features.sh.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "oci/config.h"
#include "runtime/agent-spec.h"
#include "tests/tap.h"
#include "tests/unit/agent_testlib.h"

static struct agent_env env;

#define USERNS_LINUX                                                                                         \
	"\"namespaces\": [{\"type\": \"mount\"}, {\"type\": \"network\"}, {\"type\": \"uts\"},"              \
	" {\"type\": \"ipc\"}, {\"type\": \"pid\"}, {\"type\": \"user\"}],"                                  \
	"\"uidMappings\": [{\"containerID\": 0, \"hostID\": 1000, \"size\": 2000}],"                         \
	"\"gidMappings\": [{\"containerID\": 0, \"hostID\": 1000, \"size\": 3000}],"

/* EXEC joins the container's user namespace (the owner of its mount namespace) and the others. */
static void test_exec(void)
{
	cleanup_free char *cfg = agent_config_json(&env, "[\"sleep\", \"100\"]", NULL,
						   "\"hostname\": \"userns-box\",", USERNS_LINUX);
	cleanup_free char *ex = agent_config_json(
	    &env, "[\"sh\", \"-c\", \"echo exec $(cat /proc/self/uid_map) $(id -u) $(hostname) $$\"]", NULL,
	    NULL, NULL);
	struct sm_buf payload = {0}, exec_payload = {0};
	struct sm_oci_config *ecfg = NULL;
	sm_error_t err = SM_ERROR_INIT;
	int out = memfd_create("exec-out", MFD_CLOEXEC), status = -1;
	struct sm_agent_stdio io = {.in_fd = -1, .out_fd = out, .err_fd = -1};
	char buf[256] = "";

	if (!agent_env_start(&env, NULL))
		goto out;
	if (!agent_create_payload(&env, cfg, &payload) ||
	    sm_agent_client_create(env.c, 1, &payload, NULL, NULL, AGENT_TIMEOUT_MS, &err) < 0 ||
	    sm_agent_client_start(env.c, 1, AGENT_TIMEOUT_MS, &err) < 0) {
		ok(0, "create + start: %s", err.msg);
		goto stop;
	}
	sm_oci_config_parse(ex, strlen(ex), "config.json", SM_OCI_PARSE_REQUIRE_PROCESS, &ecfg, &err);
	if (ecfg != NULL && sm_agent_spec_process(&exec_payload, ecfg->process, NULL, &err) == 0 &&
	    sm_agent_client_exec(env.c, 2, &exec_payload, &io, NULL, AGENT_TIMEOUT_MS, &err) == 0)
		sm_agent_client_wait(env.c, 2, &status, AGENT_TIMEOUT_MS, &err);
	agent_read_fd(out, buf, sizeof(buf));
	ok(status == 0 && strcmp(buf, "exec 0 1000 2000 0 userns-box 2\n") == 0,
	   "exec: the container's maps, root of its user namespace, its hostname, pid 2 (\"%s\") %s",
	   agent_esc(buf), err.msg);
	sm_agent_client_signal(env.c, 0, SIGKILL, true, AGENT_TIMEOUT_MS, &err);
	sm_agent_client_wait(env.c, 1, &status, AGENT_TIMEOUT_MS, &err);
stop:
	ok(agent_env_stop(&env) == 0, "agent exited cleanly");
out:
	sm_oci_config_free(ecfg);
	sm_buf_free(&payload);
	sm_buf_free(&exec_payload);
	close(out);
}

static void test_userns(void)
{
	cleanup_free char *cfg = agent_config_json(
	    &env,
	    "[\"sh\", \"-c\", \"cat /proc/self/uid_map /proc/self/gid_map; echo id $(id -u) $(id -g);"
	    " echo pid $$; hostname; grep -c . /proc/self/setgroups; grep ' /tmp ' /proc/self/mountinfo;"
	    " readlink /proc/1/ns/user\"]",
	    NULL, "\"hostname\": \"userns-box\",", USERNS_LINUX);
	struct agent_run r;
	char *tmpfs;

	/* The base config has no /tmp mount: add a shared tmpfs there. */
	tmpfs = strstr(cfg, "\"mounts\": [");
	if (tmpfs != NULL) {
		cleanup_free char *head = strndup(cfg, (size_t)(tmpfs - cfg) + strlen("\"mounts\": ["));
		cleanup_free char *with = sm_xasprintf("%s {\"destination\": \"/tmp\", \"type\": \"tmpfs\", "
						       "\"source\": \"tmpfs\", \"options\": [\"shared\"]},%s",
						       head, tmpfs + strlen("\"mounts\": ["));
		free(cfg);
		cfg = steal_ptr(&with);
	}
	if (!agent_run_once(&env, cfg, NULL, &r))
		return;
	if (!ok(r.created && r.status == 0, "the container runs (status %d, create: %s; err: %s)", r.status,
		r.create_msg, agent_esc(r.err)))
		return;
	tap_diag("%s", r.out);
	ok(strstr(r.out, "         0       1000       2000\n") != NULL, "uid_map is 0 1000 2000");
	ok(strstr(r.out, "         0       1000       3000\n") != NULL, "gid_map is 0 1000 3000");
	ok(strstr(r.out, "id 0 0\n") != NULL, "root of the user namespace");
	ok(strstr(r.out, "pid 1\n") != NULL, "PID 1 of a pid namespace (its procfs mounted in the userns)");
	ok(strstr(r.out, "userns-box\n") != NULL, "hostname set in a uts namespace of the user namespace");
	ok(strstr(r.out, " /tmp ") != NULL && strstr(strstr(r.out, " /tmp "), "shared:") != NULL,
	   "the 'shared' tmpfs is shared");
}

/* rootfsPropagation applies to the container's own "/": unbindable, a bind of "/" fails (EINVAL). */
static void test_rootfs_propagation(void)
{
	static const char *const modes[] = {"unbindable", "private"};

	for (size_t i = 0; i < 2; i++) {
		cleanup_free char *le = sm_xasprintf("\"rootfsPropagation\": \"%s\",", modes[i]);
		cleanup_free char *cfg = agent_config_json(
		    &env, "[\"sh\", \"-c\", \"mount --bind / /tmp && echo bound || echo refused\"]", NULL,
		    NULL, le);
		struct agent_run r;

		if (!agent_run_once(&env, cfg, NULL, &r))
			return;
		ok(r.created && strcmp(r.out, i == 0 ? "refused\n" : "bound\n") == 0,
		   "rootfsPropagation %s: a bind of / is %s (\"%s\", %s)", modes[i],
		   i == 0 ? "refused" : "allowed", agent_esc(r.out), r.create_msg);
	}
}

int main(void)
{
	agent_env_init(&env);
	/* The container's root is uid 1000 of the host here: it must reach the test's rootfs. */
	if (chmod(env.dir, 0755) < 0)
		tap_diag("chmod %s failed", env.dir);
	test_userns();
	test_exec();
	test_rootfs_propagation();
	agent_env_cleanup(&env);
	return tap_done();
}
