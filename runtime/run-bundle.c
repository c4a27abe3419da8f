/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "oci/config.h"
#include "runtime/agent-client.h"
#include "runtime/agent-spec.h"
#include "runtime/run-bundle.h"

#define AGENT_PORT 1024
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Is rel (relative to rootfs, symlinks resolved inside it) an executable regular file? */
static int executable_in_root(int rootfd, const char *rel)
{
	struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	cleanup_close int fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0)
		return -EACCES;
	return 0;
}

int sm_rootfs_find_executable(const char *rootfs, const char *args0, char *const *env, size_t nenv,
			      sm_error_t *err)
{
	cleanup_close int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cleanup_free char *path = NULL;
	const char *p = DEFAULT_PATH;
	char *save = NULL, *dir;

	if (rootfd < 0)
		return sm_error_set(err, errno, "rootfs `%s`", rootfs);
	if (strchr(args0, '/') != NULL)
		return executable_in_root(rootfd, args0) == 0 ? 0 : -ENOENT;
	for (size_t i = 0; i < nenv; i++)
		if (strncmp(env[i], "PATH=", 5) == 0)
			p = env[i] + 5;
	path = sm_xstrdup(p);
	for (dir = strtok_r(path, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
		cleanup_free char *cand = sm_xasprintf("%s/%s", dir, args0);
		if (executable_in_root(rootfd, cand) == 0)
			return 0;
	}
	return -ENOENT;
}

/* Connect to the agent, giving up early when the VM stops while it boots. */
static int connect_agent(struct sm_machine *m, const char *sock, int64_t timeout_ns, int *fd, sm_error_t *err)
{
	uint64_t deadline = timeout_ns < 0 ? UINT64_MAX : sm_now_ns() + (uint64_t)timeout_ns;

	for (;;) {
		struct sm_machine_result res;
		sm_error_t cerr = SM_ERROR_INIT;

		*fd = sm_agent_connect_hybrid(sock, AGENT_PORT, 1000, &cerr);
		if (*fd >= 0)
			return 0;
		if (sm_machine_wait(m, 0, &res) == 0) {
			sm_machine_outcome(&res, err);
			return sm_error_prefix(err, "the VM stopped before its agent answered: ");
		}
		if (sm_now_ns() >= deadline)
			return sm_error_set(err, ETIMEDOUT, "guest agent on `%s`: %s", sock, cerr.msg);
	}
}

static int run_container(struct sm_machine *m, const struct sm_oci_config *cfg, const char *bundle,
			 const char *sock, bool dax, int64_t timeout_ns, sm_error_t *err)
{
	struct sm_agent_spec_opts opts = {.rootfs_tag = SM_SANDBOX_ROOT_TAG, .bundle = bundle};
	struct sm_agent_stdio io = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
	struct sm_agent_client *c = NULL;
	struct sm_buf payload = {0};
	int fd = -1, status = -1, r;
	uint32_t pid;

	opts.rootfs_dax = dax;
	if ((r = sm_agent_spec_create(&payload, cfg, &opts, err)) < 0)
		goto out;
	if ((r = connect_agent(m, sock, timeout_ns, &fd, err)) < 0)
		goto out;
	if ((r = sm_agent_client_new(fd, &c, err)) < 0)
		goto out;
	if ((r = sm_agent_client_handshake(c, 60000, err)) < 0 ||
	    (r = sm_agent_client_create(c, 1, &payload, &io, &pid, -1, err)) < 0 ||
	    (r = sm_agent_client_start(c, 1, -1, err)) < 0 || (r = sm_agent_client_wait(c, 1, &status, -1, err)) < 0)
		goto out;
	/* The container is done: stop the guest; its exit status is what matters now. */
	(void)sm_agent_client_shutdown(c, 10000, NULL);
	r = status;
out:
	sm_agent_client_free(c);
	sm_buf_free(&payload);
	return r;
}

int sm_run_bundle(const char *bundle, struct sm_sandbox_config *sb_cfg, int64_t timeout_ns, sm_error_t *err)
{
	cleanup_oci_config struct sm_oci_config *cfg = NULL;
	cleanup_free char *config_path = sm_xasprintf("%s/config.json", bundle);
	cleanup_free char *rootfs = NULL, *rootfs_abs = NULL, *tmpdir = NULL, *sock = NULL;
	struct sm_sandbox *sb = NULL;
	struct sm_machine_result res;
	char tmpl[] = "/tmp/sm-vm-run-XXXXXX";
	int r;

	if ((r = sm_oci_config_load(config_path, SM_OCI_PARSE_REQUIRE_PROCESS, &cfg, err)) < 0)
		return sm_error_prefix(err, "bundle `%s`: ", bundle);
	rootfs = cfg->root->path[0] == '/' ? sm_xstrdup(cfg->root->path)
					   : sm_xasprintf("%s/%s", bundle, cfg->root->path);
	rootfs_abs = realpath(rootfs, NULL);
	if (rootfs_abs == NULL)
		return sm_error_set(err, errno, "bundle `%s`: root.path `%s`", bundle, rootfs);
	r = sm_rootfs_find_executable(rootfs_abs, cfg->process->args.v[0], cfg->process->env.v,
				      cfg->process->env.n, err);
	if (r == -ENOENT) {
		fprintf(stderr, "sm-runtime: unable to start container process: exec: \"%s\": executable file "
				"not found in $PATH\n",
			cfg->process->args.v[0]);
		return 127;
	}
	if (r < 0)
		return r;
	if (mkdtemp(tmpl) == NULL)
		return sm_error_set(err, errno, "mkdtemp `%s`", tmpl);
	tmpdir = sm_xstrdup(tmpl);
	sock = sm_xasprintf("%s/vsock.sock", tmpdir);
	sb_cfg->rootfs = rootfs_abs;
	sb_cfg->rootfs_readonly = cfg->root->readonly;
	sb_cfg->vsock_path = sock;
	sb_cfg->agent = true;
	sb_cfg->machine.cmd = NULL;
	if ((r = sm_sandbox_create(sb_cfg, &sb, err)) < 0 || (r = sm_machine_start(sm_sandbox_machine(sb), err)) < 0)
		goto out;
	r = run_container(sm_sandbox_machine(sb), cfg, bundle, sock, sb_cfg->dax_mib > 0, timeout_ns, err);
	if (r >= 0 && sm_machine_wait(sm_sandbox_machine(sb), 20 * 1000000000ll, &res) < 0)
		sm_vm_stop(sm_machine_vm(sm_sandbox_machine(sb)), SM_VM_STOP_REQUESTED, "agent shut down");
out:
	sm_sandbox_destroy(sb);
	unlink(sock);
	rmdir(tmpdir);
	return r;
}
