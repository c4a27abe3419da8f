/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A mounted virtio-fs share survives a snapshot, on the real guest kernel: in a VM restored from
 * the template of its shape (runtime/template.h: booted and saved the first time, 25-60 s on
 * kvm_pvm hosts, then restored from the cache), a container (the share mounted by the agent) runs a
 * shell that opens /data as fd 3 and waits; the sandbox is snapshotted with the file open and
 * destroyed; a new process restores it, the host creates /go in the rootfs, and the guest shell
 * reads the file through fd 3 (a READ on the fh opened before the snapshot) into /result. Skips
 * without the cached guest kernel (`make guest-kernel`) or /dev/kvm.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "oci/config.h"
#include "runtime/agent-client.h"
#include "runtime/agent-spec.h"
#include "runtime/sandbox.h"
#include "runtime/template.h"
#include "tests/tap.h"

#define AGENT_PORT 1024
#define MEM_MIB 256
#define TIMEOUT_NS (600ull * 1000000000)
#define DATA "data-read-through-fd-3"

static char tmp[] = "/tmp/sm-vfs-guest-snap-XXXXXX";

static char *kernel_path(const char *build)
{
	cleanup_free char *p = sm_xasprintf("%s/guest/kernel.path", build);
	char *text = NULL;
	size_t len = 0;

	if (sm_read_file(p, 4096, &text, &len, NULL) < 0)
		return NULL;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
		text[--len] = '\0';
	if (len == 0 || access(text, R_OK) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* The template layout (all device slots), so that the template VM and its snapshots restore. */
static struct sm_bind_shares padded;

static struct sm_sandbox_config config(const char *kernel, const char *initrd, const char *root,
				       const char *sock)
{
	struct sm_sandbox_config c = {.rootfs = root, .vsock_path = sock, .agent = true};
	sm_error_t err = SM_ERROR_INIT;

	c.machine = (struct sm_machine_config){.kernel_path = kernel,
					       .initrd_path = initrd,
					       .mem_mib = MEM_MIB,
					       .ncpus = 1,
					       .console_out_fd = getenv("SM_TEST_DEBUG") ? STDERR_FILENO : -1,
					       .console_in_fd = -1};
	if (sm_template_complete_config(&c, NULL, &padded, &err) < 0)
		tap_diag("template layout: %s", err.msg);
	return c;
}

static bool wait_file(const char *path, uint64_t timeout_ns)
{
	uint64_t t0 = sm_now_ns();

	while (access(path, F_OK) != 0) {
		if (sm_now_ns() - t0 > timeout_ns)
			return false;
		usleep(100000);
	}
	return true;
}

/* Restore the template (booting it first when not cached), start the container through the agent,
 * wait until fd 3 is open, snapshot. */
static int boot_and_snapshot(const struct sm_sandbox_config *cfg, const char *bundle, const char *dir)
{
	cleanup_oci_config struct sm_oci_config *oci = NULL;
	cleanup_free char *config_path = sm_xasprintf("%s/config.json", bundle);
	cleanup_free char *opened = sm_xasprintf("%s/rootfs/opened", bundle);
	struct sm_agent_spec_opts opts = {.rootfs_tag = SM_SANDBOX_ROOT_TAG, .bundle = bundle};
	struct sm_agent_client *c = NULL;
	struct sm_sandbox *sb = NULL;
	struct sm_buf payload = {0};
	sm_error_t err = SM_ERROR_INIT;
	cleanup_free char *tdir = NULL;
	uint64_t t0 = sm_now_ns();
	uint32_t pid = 0;
	bool booted = false;
	int fd = -1, r = -1;

	if (sm_template_get(cfg, (int64_t)TIMEOUT_NS, &tdir, &booted, &err) < 0 ||
	    sm_sandbox_restore(cfg, tdir, &sb, NULL, &err) < 0 ||
	    sm_oci_config_load(config_path, SM_OCI_PARSE_REQUIRE_PROCESS, &oci, &err) < 0 ||
	    sm_agent_spec_create(&payload, oci, &opts, &err) < 0) {
		ok(0, "restore the template sandbox: %s", err.msg);
		goto out;
	}
	tap_diag("template %s (%s)", tdir, booted ? "booted and saved now" : "cached");
	while ((fd = sm_agent_connect_hybrid(cfg->vsock_path, AGENT_PORT, 1000, &err)) < 0 &&
	       sm_now_ns() - t0 < TIMEOUT_NS && !sm_vm_stopping(sm_machine_vm(sm_sandbox_machine(sb))))
		usleep(200000);
	if (fd < 0 || sm_agent_client_new(fd, &c, &err) < 0 ||
	    sm_agent_client_handshake(c, 300000, &err) < 0 ||
	    sm_agent_client_create(c, 1, &payload, &(struct sm_agent_stdio){-1, -1, -1}, &pid, 300000, &err) <
		0 ||
	    sm_agent_client_start(c, 1, 300000, &err) < 0) {
		ok(0, "start the container through the agent: %s", err.msg);
		goto out;
	}
	if (!ok(wait_file(opened, TIMEOUT_NS), "the container has /data open as fd 3 after %.1f s",
		(double)(sm_now_ns() - t0) / 1e9))
		goto out;
	sm_error_clear(&err); /* the connection retries left a message */
	r = sm_sandbox_snapshot(sb, dir, &err);
	ok(r == 0, "snapshot with the share mounted and a file open in the guest: %s", err.msg);
out:
	sm_agent_client_free(c);
	sm_buf_free(&payload);
	sm_sandbox_destroy(sb);
	return r;
}

/* In the child: restore, let the guest go on, wait for /result. 0 when it holds DATA. */
static int child_run(const struct sm_sandbox_config *cfg, const char *dir, const char *rootfs)
{
	cleanup_free char *go = sm_xasprintf("%s/go", rootfs), *result = sm_xasprintf("%s/result", rootfs);
	cleanup_free char *text = NULL;
	struct sm_sandbox *sb = NULL;
	sm_error_t err = SM_ERROR_INIT;
	size_t len = 0;
	int rc = 0, fd;

	if (sm_sandbox_restore(cfg, dir, &sb, NULL, &err) < 0) {
		fprintf(stderr, "# child: restore: %s\n", err.msg);
		return 100;
	}
	fd = open(go, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		rc = 101;
	else
		close(fd);
	if (rc != 0)
		;
	else if (!wait_file(result, 300ull * 1000000000))
		rc = 102;
	usleep(500000); /* let the shell finish writing */
	if (rc == 0 && (sm_read_file(result, 4096, &text, &len, &err) < 0 || strstr(text, DATA) == NULL)) {
		fprintf(stderr, "# child: /result: %s\n", text != NULL ? text : err.msg);
		rc = 103;
	}
	sm_sandbox_destroy(sb);
	return rc;
}

int main(void)
{
	const char *b = getenv("SM_TOP_BUILDDIR"), *src = getenv("SM_TOP_SRCDIR");
	cleanup_free char *build = sm_xstrdup(b != NULL ? b : SM_ABS_BUILDDIR), *kernel = kernel_path(build);
	cleanup_free char *initrd = sm_xasprintf("%s/guest/initramfs.cpio", build);
	cleanup_free char *bundle = NULL, *snap = NULL, *cmd = NULL, *sock1 = NULL, *sock2 = NULL;
	cleanup_free char *rootfs = NULL;
	struct sm_sandbox_config cfg;
	int wstatus = 0;
	pid_t pid;

	if (getenv("SM_TEST_GUEST_BOOTS") != NULL && strcmp(getenv("SM_TEST_GUEST_BOOTS"), "0") == 0)
		tap_skip_all("guest boots run in the -Werror build only (SM_TEST_GUEST_BOOTS=0)");
	if (kernel == NULL || access(initrd, R_OK) != 0)
		tap_skip_all("guest kernel not built: run make guest-kernel");
	if (access("/dev/kvm", R_OK | W_OK) != 0)
		tap_skip_all("/dev/kvm is not accessible");
	if (src == NULL || mkdtemp(tmp) == NULL)
		tap_skip_all("SM_TOP_SRCDIR unset or mkdtemp failed");
	bundle = sm_xasprintf("%s/bundle", tmp);
	snap = sm_xasprintf("%s/snap", tmp);
	sock1 = sm_xasprintf("%s/first.sock", tmp);
	sock2 = sm_xasprintf("%s/restored.sock", tmp);
	cmd = sm_xasprintf("'%s/scripts/make-bundle.sh' '%s' '%s/sm-runtime' >/dev/null && "
			   "echo " DATA " > '%s/rootfs/data' && "
			   "python3 -c 'import json,sys; p=sys.argv[1]; c=json.load(open(p)); "
			   "c[\"process\"][\"args\"]=[\"sh\",\"-c\",\"exec 3</data; echo yes > /opened; "
			   "while [ ! -e /go ]; do sleep 0.2; done; cat <&3 > /result.tmp; "
			   "mv /result.tmp /result\"]; c[\"root\"][\"readonly\"]=False; "
			   "json.dump(c,open(p,\"w\"))' '%s/config.json'",
			   src, bundle, build, bundle, bundle);
	if (system(cmd) != 0)
		tap_skip_all("could not make the busybox bundle (scripts/make-bundle.sh)");
	rootfs = sm_xasprintf("%s/rootfs", bundle);

	cfg = config(kernel, initrd, rootfs, sock1);
	if (boot_and_snapshot(&cfg, bundle, snap) < 0)
		goto done;
	cfg = config(kernel, initrd, rootfs, sock2);
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(child_run(&cfg, snap, rootfs));
	waitpid(pid, &wstatus, 0);
	ok(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0,
	   "restored in a new process, the guest read the file through the fd opened before the snapshot "
	   "(child status %d)",
	   WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
done:
	free(cmd);
	cmd = sm_xasprintf("rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", tmp);
	return tap_done();
}
