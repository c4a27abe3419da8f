/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/hooks: real hook programs in a temp dir: order, argv/env/stdin, timeout, failures. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "oci/config.h"
#include "runtime/hooks.h"
#include "runtime/log.h"
#include "tests/tap.h"

static char dir[] = "/tmp/sm-hooks-test-XXXXXX";

static const char *state = "{\"ociVersion\":\"1.2.0\",\"id\":\"c1\",\"status\":\"creating\",\"pid\":42,"
			   "\"bundle\":\"/b\",\"annotations\":{\"k\":\"v \\\"q\\\"\"}}";

/* Write an executable #!/bin/sh script DIR/name with body; returns its path. */
static char *script(const char *name, const char *body)
{
	char *path = sm_xasprintf("%s/%s", dir, name);
	cleanup_free char *text = sm_xasprintf("#!/bin/sh\n%s\n", body);

	if (sm_write_file_atomic(path, text, strlen(text), 0755, NULL) < 0)
		abort();
	return path;
}

static char *file_in_dir(const char *name)
{
	return sm_xasprintf("%s/%s", dir, name);
}

/* The file's contents ("" when missing), with its length in *len when len is not NULL. */
static char *slurp(const char *name, size_t *len)
{
	cleanup_free char *path = file_in_dir(name);
	char *data = NULL;

	if (sm_read_file(path, 1 << 20, &data, len, NULL) < 0) {
		if (len)
			*len = 0;
		return sm_xstrdup("");
	}
	return data;
}

/* A config whose `kind` hooks are the given JSON array (parsed by the real parser). */
static struct sm_oci_config *config_with(const char *kind, const char *hooks_json)
{
	cleanup_free char *json = sm_xasprintf("{\"ociVersion\":\"1.2.0\",\"root\":{\"path\":\"rootfs\"},"
					       "\"hooks\":{\"%s\":%s}}",
					       kind, hooks_json);
	struct sm_oci_config *cfg = NULL;
	sm_error_t err = SM_ERROR_INIT;

	if (sm_oci_config_parse(json, strlen(json), "config.json", 0, &cfg, &err) < 0) {
		tap_diag("config: %s", err.msg);
		abort();
	}
	return cfg;
}

static void test_names(void)
{
	ok(strcmp(sm_hooks_kind_name(SM_OCI_HOOK_PRESTART), "prestart") == 0 &&
	       strcmp(sm_hooks_kind_name(SM_OCI_HOOK_CREATE_RUNTIME), "createRuntime") == 0 &&
	       strcmp(sm_hooks_kind_name(SM_OCI_HOOK_CREATE_CONTAINER), "createContainer") == 0 &&
	       strcmp(sm_hooks_kind_name(SM_OCI_HOOK_START_CONTAINER), "startContainer") == 0 &&
	       strcmp(sm_hooks_kind_name(SM_OCI_HOOK_POSTSTART), "poststart") == 0 &&
	       strcmp(sm_hooks_kind_name(SM_OCI_HOOK_POSTSTOP), "poststop") == 0,
	   "kind names as in config.json");
	ok(strcmp(sm_hooks_kind_name(99), "unknown") == 0 && strcmp(sm_hooks_kind_name(-1), "unknown") == 0,
	   "out-of-range kind is \"unknown\"");
}

static void test_trivial(void)
{
	cleanup_oci_config struct sm_oci_config *cfg = config_with("poststop", "[]");
	sm_error_t err = SM_ERROR_INIT;

	ok(sm_hooks_run(NULL, SM_OCI_HOOK_PRESTART, state, &err) == 0, "NULL config: nothing to run");
	ok(sm_hooks_run(cfg, SM_OCI_HOOK_PRESTART, state, &err) == 0, "no hooks of that kind");
	ok(sm_hooks_run(cfg, SM_OCI_HOOK_NKINDS, state, &err) < 0 && strstr(err.msg, "invalid hook kind"),
	   "invalid kind refused: %s", err.msg);
}

static void test_order(void)
{
	cleanup_free char *h = script("order.sh", "echo \"$1\" >> \"$2\"");
	cleanup_free char *out = file_in_dir("order.txt");
	cleanup_free char *json = sm_xasprintf("[{\"path\":\"%s\",\"args\":[\"o\",\"1\",\"%s\"]},"
					       "{\"path\":\"%s\",\"args\":[\"o\",\"2\",\"%s\"]},"
					       "{\"path\":\"%s\",\"args\":[\"o\",\"3\",\"%s\"]}]",
					       h, out, h, out, h, out);
	cleanup_oci_config struct sm_oci_config *cfg = config_with("createRuntime", json);
	cleanup_free char *got = NULL;
	sm_error_t err = SM_ERROR_INIT;

	ok(sm_hooks_run(cfg, SM_OCI_HOOK_CREATE_RUNTIME, state, &err) == 0, "three hooks run: %s", err.msg);
	got = slurp("order.txt", NULL);
	ok(strcmp(got, "1\n2\n3\n") == 0, "in config order");
}

static void test_argv_env_stdin(void)
{
	cleanup_free char *json = NULL;
	cleanup_free char *body = NULL;
	cleanup_free char *argv_ = NULL;
	cleanup_free char *env = NULL;
	cleanup_free char *in = NULL;
	cleanup_free char *want = NULL;
	cleanup_oci_config struct sm_oci_config *cfg = NULL;
	sm_error_t err = SM_ERROR_INIT;
	size_t alen, elen, wlen;

	/* /proc/$$/cmdline and environ are exactly what execve() received. */
	body = sm_xasprintf("/bin/cat /proc/$$/cmdline > %s/argv; /bin/cat /proc/$$/environ > %s/env; "
			    "/bin/cat > %s/stdin",
			    dir, dir, dir);
	json = sm_xasprintf("[{\"path\":\"/bin/sh\",\"args\":[\"custom-argv0\",\"-c\",\"%s\",\"x y\"],"
			    "\"env\":[\"FOO=bar baz\",\"EMPTY=\"]}]",
			    body);
	cfg = config_with("prestart", json);
	ok(sm_hooks_run(cfg, SM_OCI_HOOK_PRESTART, state, &err) == 0, "hook ran: %s", err.msg);
	argv_ = slurp("argv", &alen);
	want = sm_xasprintf("custom-argv0%c-c%c%s%cx y%c", 0, 0, body, 0, 0);
	wlen = strlen("custom-argv0") + 1 + 3 + strlen(body) + 1 + 4;
	ok(alen == wlen && memcmp(argv_, want, wlen) == 0, "argv is args, args[0] as argv[0] (%zu bytes)",
	   alen);
	env = slurp("env", &elen);
	ok(elen == strlen("FOO=bar baz") + 1 + strlen("EMPTY=") + 1 &&
	       memcmp(env, "FOO=bar baz\0EMPTY=\0", elen) == 0,
	   "environment is exactly env (%zu bytes)", elen);
	in = slurp("stdin", NULL);
	ok(strcmp(in, state) == 0, "stdin is the state JSON: %s", in);
}

/* No args: argv = {path}; no env: an empty environment. /bin/sh runs its stdin as the script. */
static void test_defaults(void)
{
	cleanup_oci_config struct sm_oci_config *cfg = config_with("poststop", "[{\"path\":\"/bin/sh\"}]");
	cleanup_free char *script_in =
	    sm_xasprintf("/bin/cat /proc/$$/cmdline > %s/argv0; "
			 "/bin/cat /proc/$$/environ > %s/env0; echo done > %s/done0\n",
			 dir, dir, dir);
	cleanup_free char *a = NULL;
	cleanup_free char *e = NULL;
	cleanup_free char *d = NULL;
	sm_error_t err = SM_ERROR_INIT;
	size_t alen, elen;

	ok(sm_hooks_run(cfg, SM_OCI_HOOK_POSTSTOP, script_in, &err) == 0, "hook ran: %s", err.msg);
	a = slurp("argv0", &alen);
	e = slurp("env0", &elen);
	d = slurp("done0", NULL);
	ok(strcmp(d, "done\n") == 0, "the hook ran its stdin");
	ok(alen == sizeof("/bin/sh") && memcmp(a, "/bin/sh", sizeof("/bin/sh")) == 0,
	   "without args argv is {path} (%zu bytes)", alen);
	ok(elen == 0, "without env the environment is empty (%zu bytes)", elen);
}

static void test_timeout(void)
{
	cleanup_free char *pidfile = file_in_dir("sleep.pid");
	cleanup_free char *body = sm_xasprintf("sleep 30 & echo $! > %s; wait", pidfile);
	cleanup_free char *h = script("slow.sh", body);
	cleanup_free char *json = sm_xasprintf("[{\"path\":\"%s\",\"timeout\":1}]", h);
	cleanup_oci_config struct sm_oci_config *cfg = config_with("createContainer", json);
	cleanup_free char *want =
	    sm_xasprintf("createContainer hook #0 (%s) timed out after 1 s and was killed", h);
	cleanup_free char *pid_s = NULL;
	cleanup_free char *stat_path = NULL;
	cleanup_free char *stat = NULL;
	sm_error_t err = SM_ERROR_INIT;
	uint64_t t0 = sm_now_ns(), dt;
	int rc, i, gone = 0;
	long pid;

	rc = sm_hooks_run(cfg, SM_OCI_HOOK_CREATE_CONTAINER, state, &err);
	dt = sm_now_ns() - t0;
	ok(rc < 0 && strstr(err.msg, want) != NULL, "timeout error names the hook: %s", err.msg);
	ok(dt >= 900000000ull && dt < 5000000000ull, "killed after ~1 s (%.2f s)", dt / 1e9);
	pid_s = slurp("sleep.pid", NULL);
	pid = strtol(pid_s, NULL, 10);
	stat_path = sm_xasprintf("/proc/%ld/stat", pid);
	/* The grandchild was in the hook's process group: it is gone (or a zombie awaiting init). */
	for (i = 0; i < 200 && !gone; i++) {
		free(stat);
		stat = NULL;
		if (sm_read_file(stat_path, 4096, &stat, NULL, NULL) < 0 || strstr(stat, ") Z ") != NULL)
			gone = 1;
		else
			usleep(10000);
	}
	ok(pid > 0 && gone, "the hook's background child (pid %ld) was killed too", pid);
}

static void test_failure(void)
{
	cleanup_free char *okh = script("ok.sh", "exit 0");
	cleanup_free char *failh = script("fail.sh", "echo to-stdout; echo boom >&2; exit 3");
	cleanup_free char *never = script("never.sh", "echo ran > \"$0.ran\"");
	cleanup_free char *json =
	    sm_xasprintf("[{\"path\":\"%s\"},{\"path\":\"%s\"},{\"path\":\"%s\"}]", okh, failh, never);
	cleanup_oci_config struct sm_oci_config *cfg = config_with("createRuntime", json);
	cleanup_free char *want = sm_xasprintf("createRuntime hook #1 (%s) exited with status 3", failh);
	cleanup_free char *ran = sm_xasprintf("%s.ran", never);
	sm_error_t err = SM_ERROR_INIT;
	int rc;

	rc = sm_hooks_run(cfg, SM_OCI_HOOK_CREATE_RUNTIME, state, &err);
	ok(rc < 0 && strncmp(err.msg, want, strlen(want)) == 0, "failure names kind, index, path, status: %s",
	   err.msg);
	ok(strstr(err.msg, "stdout: to-stdout") && strstr(err.msg, "stderr: boom"),
	   "the hook's stdout and stderr are in the error");
	ok(access(ran, F_OK) != 0, "hooks after the failing one do not run");
}

static void test_signal(void)
{
	cleanup_free char *h = script("segv.sh", "kill -SEGV $$");
	cleanup_free char *json = sm_xasprintf("[{\"path\":\"%s\"}]", h);
	cleanup_oci_config struct sm_oci_config *cfg = config_with("prestart", json);
	cleanup_free char *want = sm_xasprintf("prestart hook #0 (%s) was killed by signal SIGSEGV", h);
	sm_error_t err = SM_ERROR_INIT;

	ok(sm_hooks_run(cfg, SM_OCI_HOOK_PRESTART, state, &err) < 0 && strstr(err.msg, want), "signal: %s",
	   err.msg);
}

/* poststart/poststop: every hook runs, failures are warnings in the log, the result is success. */
static void test_post_warnings(void)
{
	cleanup_free char *failh = script("pfail.sh", "exit 3");
	cleanup_free char *marker = file_in_dir("post-marker");
	cleanup_free char *okh = NULL;
	cleanup_free char *body = sm_xasprintf("echo ran >> %s", marker);
	cleanup_free char *json = NULL;
	cleanup_free char *logpath = file_in_dir("hooks.log");
	cleanup_free char *log = NULL;
	cleanup_free char *want = NULL;
	cleanup_oci_config struct sm_oci_config *cfg = NULL;
	sm_error_t err = SM_ERROR_INIT;
	int rc;

	okh = script("pok.sh", body);
	json = sm_xasprintf("[{\"path\":\"%s\"},{\"path\":\"%s\"},{\"path\":\"/nonexistent/hook\"}]", failh,
			    okh);
	ok(sm_log_init(logpath, "json", false, &err) == 0, "log to a file");
	cfg = config_with("poststart", json);
	rc = sm_hooks_run(cfg, SM_OCI_HOOK_POSTSTART, state, &err);
	ok(rc == 0 && !sm_error_isset(&err), "poststart failures do not fail the run");
	log = slurp("hooks.log", NULL);
	want = sm_xasprintf("{\"level\":\"warning\",\"msg\":\"poststart hook #0 (%s) exited with status 3\"",
			    failh);
	ok(strstr(log, want) != NULL, "warning logged for the failing hook");
	ok(strstr(log, "poststart hook #2 (/nonexistent/hook): exec: No such file or directory") != NULL,
	   "warning logged for the missing hook");
	free(log);
	log = slurp("post-marker", NULL);
	ok(strcmp(log, "ran\n") == 0, "the hook after the failing one ran");
	sm_log_init(NULL, NULL, false, NULL);
}

static void test_epipe(void)
{
	cleanup_free char *quit = script("noread.sh", "exit 0");
	cleanup_free char *partial = script("partial.sh", "head -c 10 > /dev/null; exit 0");
	cleanup_free char *json = sm_xasprintf("[{\"path\":\"%s\"},{\"path\":\"%s\"}]", quit, partial);
	cleanup_oci_config struct sm_oci_config *cfg = config_with("prestart", json);
	cleanup_free char *big = sm_xmalloc(4 << 20);
	sm_error_t err = SM_ERROR_INIT;
	sigset_t pending, mask;
	int rc;

	/* 4 MiB: far beyond a pipe's buffer, so writing must hit EPIPE. */
	memset(big, 'x', (4 << 20) - 1);
	big[(4 << 20) - 1] = '\0';
	rc = sm_hooks_run(cfg, SM_OCI_HOOK_PRESTART, big, &err);
	ok(rc == 0, "hooks that do not read stdin succeed: %s", err.msg);
	sigpending(&pending);
	ok(!sigismember(&pending, SIGPIPE), "no SIGPIPE left pending");
	sigprocmask(SIG_BLOCK, NULL, &mask);
	ok(!sigismember(&mask, SIGPIPE), "SIGPIPE is unblocked again");
}

static void test_exec_errors(void)
{
	cleanup_free char *noexec = file_in_dir("noexec.sh");
	cleanup_free char *json = NULL;
	cleanup_oci_config struct sm_oci_config *cfg =
	    config_with("prestart", "[{\"path\":\"/nonexistent/hook\"}]");
	cleanup_oci_config struct sm_oci_config *cfg2 = NULL;
	sm_error_t err = SM_ERROR_INIT;
	int rc;

	rc = sm_hooks_run(cfg, SM_OCI_HOOK_PRESTART, state, &err);
	ok(rc < 0 && err.code == ENOENT &&
	       strcmp(err.msg, "prestart hook #0 (/nonexistent/hook): exec: No such file or directory") == 0,
	   "missing path: %s", err.msg);
	sm_write_file_atomic(noexec, "#!/bin/sh\n", 10, 0644, NULL);
	json = sm_xasprintf("[{\"path\":\"%s\"}]", noexec);
	cfg2 = config_with("createContainer", json);
	sm_error_clear(&err);
	rc = sm_hooks_run(cfg2, SM_OCI_HOOK_CREATE_CONTAINER, state, &err);
	ok(rc < 0 && err.code == EACCES && strstr(err.msg, "createContainer hook #0"), "not executable: %s",
	   err.msg);
}

static void test_isolation(void)
{
	cleanup_free char *body = sm_xasprintf("if [ -e /proc/$$/fd/57 ]; then echo leaked > %s/leak; fi; "
					       "echo 'not ok 999 - hook output leaked into TAP'",
					       dir);
	cleanup_free char *h = script("iso.sh", body);
	cleanup_free char *json = sm_xasprintf("[{\"path\":\"%s\"}]", h);
	cleanup_oci_config struct sm_oci_config *cfg = config_with("prestart", json);
	cleanup_free char *leak = file_in_dir("leak");
	sm_error_t err = SM_ERROR_INIT;
	int fd = dup2(STDERR_FILENO, 57); /* not close-on-exec */

	ok(fd == 57 && sm_hooks_run(cfg, SM_OCI_HOOK_PRESTART, state, &err) == 0, "hook ran: %s", err.msg);
	ok(access(leak, F_OK) != 0, "a non-close-on-exec descriptor of the runtime is not inherited");
	close(57);
}

static void test_start_container_refused(void)
{
	cleanup_oci_config struct sm_oci_config *cfg =
	    config_with("startContainer", "[{\"path\":\"/bin/true\"}]");
	sm_error_t err = SM_ERROR_INIT;

	ok(sm_hooks_run(cfg, SM_OCI_HOOK_START_CONTAINER, state, &err) < 0 &&
	       strstr(err.msg, "hooks.startContainer"),
	   "startContainer hooks are refused on the host: %s", err.msg);
}

int main(void)
{
	cleanup_free char *rm = NULL;

	if (access("/bin/sh", X_OK) != 0 || access("/proc/self/cmdline", R_OK) != 0)
		tap_skip_all("needs /bin/sh and /proc");
	tap_mkdtemp(dir);
	test_names();
	test_trivial();
	test_order();
	test_argv_env_stdin();
	test_defaults();
	test_failure();
	test_signal();
	test_exec_errors();
	test_post_warnings();
	test_epipe();
	test_isolation();
	test_start_container_refused();
	test_timeout();
	rm = sm_xasprintf("rm -rf '%s'", dir);
	if (system(rm) != 0)
		tap_diag("could not remove %s", dir);
	return tap_done();
}
