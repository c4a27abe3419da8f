/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the agent applies to confine a container process: capabilities, no_new_privileges, a
 * seccomp filter (loaded early and late), rlimits, oom_score_adj, masked and readonly paths, a
 * read-only root, sysctls and the domain name. Each case runs a fresh agent (see agent_testlib.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "tests/tap.h"
#include "tests/unit/agent_testlib.h"

#define CAP_GREP                                                                                             \
	"[\"sh\", \"-c\", \"grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status\"]"

static struct agent_env env;

static bool run(const char *args, const char *process_extra, const char *top_extra, const char *linux_extra,
		struct agent_run *r)
{
	cleanup_free char *cfg = agent_config_json(&env, args, process_extra, top_extra, linux_extra);

	if (!agent_run_once(&env, cfg, NULL, r))
		return false;
	if (!r->created)
		return ok(0, "create: %s", r->create_msg);
	return true;
}

static void test_capabilities(void)
{
	struct agent_run r;

	if (run(CAP_GREP,
		"\"capabilities\": {\"bounding\": [\"CAP_CHOWN\", \"CAP_KILL\"], \"effective\": "
		"[\"CAP_CHOWN\", \"CAP_KILL\"],"
		" \"permitted\": [\"CAP_CHOWN\", \"CAP_KILL\"]},",
		NULL, NULL, &r))
		ok(strstr(r.out, "CapEff:\t0000000000000021") && strstr(r.out, "CapBnd:\t0000000000000021"),
		   "root keeps only CAP_CHOWN and CAP_KILL, in the bounding set too: %s", agent_esc(r.out));
	if (run(CAP_GREP,
		"\"user\": {\"uid\": 1000, \"gid\": 1000},"
		" \"capabilities\": {\"bounding\": [\"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"], \"effective\": "
		"[\"CAP_KILL\"],"
		" \"permitted\": [\"CAP_KILL\"], \"inheritable\": [\"CAP_KILL\"], \"ambient\": "
		"[\"CAP_KILL\"]},",
		NULL, NULL, &r))
		ok(strstr(r.out, "CapEff:\t0000000000000020") && strstr(r.out, "CapAmb:\t0000000000000020") &&
		       strstr(r.out, "CapBnd:\t0000000000000420"),
		   "uid 1000 keeps CAP_KILL across setuid and execve through the ambient set: %s",
		   agent_esc(r.out));
	if (run(CAP_GREP, "\"user\": {\"uid\": 1000, \"gid\": 1000},", NULL, NULL, &r))
		ok(strstr(r.out, "CapEff:\t0000000000000000") && strstr(r.out, "CapPrm:\t0000000000000000"),
		   "uid 1000 without a capabilities object has none: %s", agent_esc(r.out));
}

static void test_no_new_privs(void)
{
	struct agent_run r;

	if (run(CAP_GREP, "\"noNewPrivileges\": true,", NULL, NULL, &r))
		ok(strstr(r.out, "NoNewPrivs:\t1") != NULL, "NoNewPrivs: 1 in /proc/self/status");
	if (run(CAP_GREP, NULL, NULL, NULL, &r))
		ok(strstr(r.out, "NoNewPrivs:\t0") != NULL, "NoNewPrivs: 0 when not asked");
}

#define SECCOMP_DENY_MKDIR                                                                                   \
	"\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_X86_64\","     \
	" \"SCMP_ARCH_X86\", \"SCMP_ARCH_X32\"], \"syscalls\": [{\"names\": [\"mkdir\", \"mkdirat\"],"       \
	" \"action\": \"SCMP_ACT_ERRNO\"}]},"

static void test_seccomp(void)
{
	const char *args = "[\"sh\", \"-c\", \"mkdir /tmp/x; echo status=$?; touch /tmp/y && echo touched\"]";
	struct agent_run r;

	if (run(args, "\"noNewPrivileges\": true,", NULL, SECCOMP_DENY_MKDIR, &r))
		ok(strstr(r.out, "status=1") && strstr(r.out, "touched") &&
		       strstr(r.err, "Operation not permitted"),
		   "seccomp (loaded last, with no_new_privs) makes mkdir fail with EPERM: out \"%s\" err "
		   "\"%s\"",
		   agent_esc(r.out), agent_esc(r.err));
	if (run(args, "\"user\": {\"uid\": 1000, \"gid\": 1000},", NULL, SECCOMP_DENY_MKDIR, &r))
		ok(strstr(r.out, "status=1") && strstr(r.err, "Operation not permitted"),
		   "seccomp loaded before the user switch (no no_new_privs): out \"%s\" err \"%s\"",
		   agent_esc(r.out), agent_esc(r.err));
}

static void test_limits(void)
{
	struct agent_run r;

	if (run("[\"sh\", \"-c\", \"ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj\"]",
		"\"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"soft\": 123, \"hard\": 456}], "
		"\"oomScoreAdj\": 100,",
		NULL, NULL, &r))
		ok(strcmp(r.out, "123\n456\n100\n") == 0, "rlimit NOFILE 123/456 and oomScoreAdj 100: \"%s\"",
		   agent_esc(r.out));
}

static void test_paths(void)
{
	struct agent_run r;

	if (run("[\"sh\", \"-c\", \"cat /etc/secret; echo; ls /root | wc -l; touch /root/x || echo masked-ro;"
		" touch /home/user/x || echo home-ro; touch /tmp/ok && echo tmp-rw\"]",
		NULL, NULL,
		"\"maskedPaths\": [\"/etc/secret\", \"/root\", \"/no/such/path\"], \"readonlyPaths\": "
		"[\"/home\"],",
		&r))
		ok(strcmp(r.out, "\n0\nmasked-ro\nhome-ro\ntmp-rw\n") == 0,
		   "masked file reads empty, masked dir is an empty read-only tmpfs, readonly path refuses "
		   "writes: "
		   "\"%s\"",
		   agent_esc(r.out));
}

static void test_readonly_root(void)
{
	cleanup_free char *cfg = NULL;
	struct agent_run r;

	cfg = agent_config_json(
	    &env,
	    "[\"sh\", \"-c\", \"touch /new 2>/dev/null || echo root-ro; touch /dev/shm/x && echo shm-rw\"]",
	    NULL, NULL, NULL);
	/* root.readonly: patch the generated config (the helper has no parameter for it). */
	{
		char *p = strstr(cfg, "\"root\": {");
		cleanup_free char *c2 = NULL;
		if (p != NULL) {
			*p = '\0';
			c2 = sm_xasprintf("%s\"root\": {\"readonly\": true, %s", cfg,
					  p + strlen("\"root\": {"));
			free(cfg);
			cfg = steal_ptr(&c2);
		}
	}
	if (agent_run_once(&env, cfg, NULL, &r))
		ok(r.created && strcmp(r.out, "root-ro\nshm-rw\n") == 0,
		   "root.readonly: / refuses writes, /dev/shm does not: \"%s\" %s", agent_esc(r.out),
		   r.create_msg);
}

static void test_sysctl(void)
{
	struct agent_run r;

	if (run("[\"sh\", \"-c\", \"hostname; cat /proc/sys/kernel/domainname\"]", NULL,
		"\"hostname\": \"from-config\", \"domainname\": \"example.org\",",
		"\"sysctl\": {\"kernel.hostname\": \"from-sysctl\"},", &r))
		ok(strcmp(r.out, "from-sysctl\nexample.org\n") == 0,
		   "sysctl written after hostname (runc's order), domainname set: \"%s\"", agent_esc(r.out));
}

int main(void)
{
	agent_env_init(&env);
	test_capabilities();
	test_no_new_privs();
	test_seccomp();
	test_limits();
	test_paths();
	test_readonly_root();
	test_sysctl();
	agent_env_cleanup(&env);
	return tap_done();
}
