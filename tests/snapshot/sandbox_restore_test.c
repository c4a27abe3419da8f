/* SPDX-License-Identifier: Apache-2.0 */
/*
 * End to end on the real guest kernel: a sandbox with an empty root share and the agent at the
 * guest init's ready point (the template VM of its shape, runtime/template.h: booted and saved the
 * first time, 25-60 s on kvm_pvm hosts, then restored from the cache) is snapshotted again; a new
 * process restores that snapshot with the root share re-rooted at a busybox bundle's rootfs, and
 * runs a command in a container through the agent (reading a file only that rootfs has, exiting 7).
 * Skips without the cached guest kernel (`make guest-kernel`) or /dev/kvm.
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
#include "snapshot/format.h"
#include "snapshot/kvmstate.h"
#include "snapshot/snapshot.h"
#include "tests/tap.h"

#define AGENT_PORT 1024
#define MEM_MIB 256
#define BOOT_TIMEOUT_NS (600ll * 1000000000)

static char tmp[] = "/tmp/sm-sandbox-restore-XXXXXX";

static char *builddir(void)
{
	const char *b = getenv("SM_TOP_BUILDDIR");
	return sm_xstrdup(b != NULL ? b : SM_ABS_BUILDDIR);
}

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

/* How many MSRs of a Linux guest KVM could read at save (kvm_pvm may refuse some). */
static void report_msrs(const char *dir)
{
	cleanup_free char *path = sm_xasprintf("%s/%s", dir, SM_SNAPSHOT_STATE_FILE);
	struct sm_snap_file *f = calloc(1, sizeof(*f));
	const struct sm_snap_section *sec;
	struct sm_vcpu_state st;
	cleanup_free char *img = NULL;
	sm_error_t err = SM_ERROR_INIT;
	size_t len = 0;

	if (sm_read_file(path, 1 << 26, &img, &len, &err) == 0 &&
	    sm_snap_parse((uint8_t *)img, len, f, &err) == 0 &&
	    (sec = sm_snap_find(f, SM_SNAP_SEC_VCPU, 0)) != NULL &&
	    sm_vcpu_state_decode(sec->data, sec->len, &st, &err) == 0) {
		tap_diag(
		    "Linux guest vCPU 0: %u MSRs saved, %u skipped (unreadable), XSAVE %u bytes, LAPIC %s, "
		    "mp_state %u",
		    st.nmsrs, st.msrs_skipped, st.xsave_size, st.has_lapic ? "yes" : "no",
		    st.mp_state.mp_state);
		ok(st.msrs_skipped == 0 && st.has_lapic, "every MSR of KVM's list was readable");
	} else {
		ok(0, "decode vCPU 0 of the snapshot: %s", err.msg);
	}
	sm_vcpu_state_free(&st);
	free(f);
}

/*
 * Get the guest to the ready point: restore the template VM (booting and saving it first when the
 * cache has none), then snapshot it. Returns 0 when the snapshot exists.
 */
static int boot_and_snapshot(const struct sm_sandbox_config *cfg, const char *dir)
{
	struct sm_sandbox *sb = NULL;
	struct sm_machine_state st = {0};
	sm_error_t err = SM_ERROR_INIT;
	cleanup_free char *tdir = NULL;
	uint64_t t0 = sm_now_ns();
	bool booted = false;
	int r = -1;

	if (sm_template_get(cfg, BOOT_TIMEOUT_NS, &tdir, &booted, &err) < 0 ||
	    sm_sandbox_restore(cfg, tdir, &sb, NULL, &err) < 0) {
		ok(0, "boot the template sandbox: %s", err.msg);
		goto out;
	}
	tap_diag("template %s (%s)", tdir, booted ? "booted and saved now" : "cached");
	while (!st.ready && !sm_vm_stopping(sm_machine_vm(sm_sandbox_machine(sb))) &&
	       sm_now_ns() - t0 < (uint64_t)BOOT_TIMEOUT_NS) {
		struct timespec ts = {0, 20000000};
		nanosleep(&ts, NULL);
		sm_machine_get_state(sm_sandbox_machine(sb), &st);
	}
	if (!ok(st.ready, "the guest is at the init's ready point after %.1f s", (double)(sm_now_ns() - t0) / 1e9))
		goto out;
	r = sm_sandbox_snapshot(sb, dir, &err);
	ok(r == 0, "snapshot of the restored template at the ready point (root share probed, not mounted): %s",
	   err.msg);
	ok(sm_vm_paused(sm_machine_vm(sm_sandbox_machine(sb))), "left paused");
	sm_error_clear(&err);
	ok(sm_sandbox_resume(sb, &err) == 0 && !sm_vm_paused(sm_machine_vm(sm_sandbox_machine(sb))),
	   "the template sandbox can also go on running: %s", err.msg);
	{
		struct timespec ts = {0, 500000000};
		nanosleep(&ts, NULL);
	}
	ok(!sm_vm_stopping(sm_machine_vm(sm_sandbox_machine(sb))),
	   "and is still running half a second later");
	report_msrs(dir);
out:
	sm_sandbox_destroy(sb);
	return r;
}

/* In the child: restore, run `cat /marker; exit 7` through the agent; output to out_path. */
static int child_run(const struct sm_sandbox_config *cfg, const char *dir, const char *bundle,
		     const char *out_path)
{
	cleanup_oci_config struct sm_oci_config *oci = NULL;
	cleanup_free char *config_path = sm_xasprintf("%s/config.json", bundle);
	struct sm_agent_spec_opts opts = {.rootfs_tag = SM_SANDBOX_ROOT_TAG, .bundle = bundle};
	struct sm_sandbox_restore_stats rs;
	struct sm_agent_client *c = NULL;
	struct sm_sandbox *sb = NULL;
	struct sm_buf payload = {0};
	sm_error_t err = SM_ERROR_INIT;
	uint64_t deadline;
	uint32_t pid;
	int fd = -1, status = -1, out;

	out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (sm_sandbox_restore(cfg, dir, &sb, &rs, &err) < 0) {
		fprintf(stderr, "# child: %s\n", err.msg);
		return 100;
	}
	for (int i = 0; i < 1000 && sm_vm_first_run_ns(sm_machine_vm(sm_sandbox_machine(sb))) == 0; i++)
		usleep(1000);
	if (rs.msrs_failed != 0)
		fprintf(stderr, "# restore: KVM refused %u saved MSRs\n", rs.msrs_failed);
	fprintf(stderr,
		"# restore: validated %.2f ms, devices %.2f ms, state applied %.2f ms, first KVM_RUN %.2f ms "
		"after the call\n",
		(double)rs.loaded_ns / 1e6, (double)rs.created_ns / 1e6, (double)rs.applied_ns / 1e6,
		(double)(sm_vm_first_run_ns(sm_machine_vm(sm_sandbox_machine(sb))) - rs.call_ns) / 1e6);
	if (sm_oci_config_load(config_path, SM_OCI_PARSE_REQUIRE_PROCESS, &oci, &err) < 0 ||
	    sm_agent_spec_create(&payload, oci, &opts, &err) < 0) {
		fprintf(stderr, "# child: %s\n", err.msg);
		return 101;
	}
	/* The restored guest first processes the vsock transport reset the restore queued (connections
	 * do not survive snapshots): a connection made before that is reset, so retry until the
	 * handshake goes through. */
	deadline = sm_now_ns() + 300ull * 1000000000;
	for (int attempt = 1;; attempt++) {
		while ((fd = sm_agent_connect_hybrid(cfg->vsock_path, AGENT_PORT, 1000, &err)) < 0 &&
		       sm_now_ns() < deadline && !sm_vm_stopping(sm_machine_vm(sm_sandbox_machine(sb))))
			usleep(100000);
		if (fd < 0) {
			fprintf(stderr, "# child: agent: %s\n", err.msg);
			return 102;
		}
		if (sm_agent_client_new(fd, &c, &err) == 0 &&
		    sm_agent_client_handshake(c, 120000, &err) == 0) {
			fprintf(stderr, "# agent handshake after %d connection(s)\n", attempt);
			break;
		}
		sm_agent_client_free(c);
		c = NULL;
		if (sm_now_ns() >= deadline || attempt >= 20) {
			fprintf(stderr, "# child: agent: %s\n", err.msg);
			return 103;
		}
		usleep(200000);
	}
	if (sm_agent_client_create(c, 1, &payload, &(struct sm_agent_stdio){-1, out, out}, &pid, 120000,
				   &err) < 0 ||
	    sm_agent_client_start(c, 1, 120000, &err) < 0 ||
	    sm_agent_client_wait(c, 1, &status, 300000, &err) < 0) {
		fprintf(stderr, "# child: agent: %s\n", err.msg);
		return 104;
	}
	(void)sm_agent_client_shutdown(c, 10000, NULL);
	sm_agent_client_free(c);
	sm_buf_free(&payload);
	sm_sandbox_destroy(sb);
	return status;
}

int main(void)
{
	cleanup_free char *build = builddir(), *kernel = kernel_path(build);
	cleanup_free char *initrd = sm_xasprintf("%s/guest/initramfs.cpio", build);
	cleanup_free char *empty = NULL, *bundle = NULL, *snap = NULL, *cmd = NULL, *sock1 = NULL,
			  *sock2 = NULL;
	cleanup_free char *rootfs = NULL, *out_path = NULL, *output = NULL;
	const char *src = getenv("SM_TOP_SRCDIR");
	struct sm_sandbox_config cfg;
	size_t len = 0;
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
	empty = sm_xasprintf("%s/empty-root", tmp);
	bundle = sm_xasprintf("%s/bundle", tmp);
	snap = sm_xasprintf("%s/snap", tmp);
	sock1 = sm_xasprintf("%s/template.sock", tmp);
	sock2 = sm_xasprintf("%s/restored.sock", tmp);
	out_path = sm_xasprintf("%s/out", tmp);
	mkdir(empty, 0755);
	cmd = sm_xasprintf("'%s/scripts/make-bundle.sh' '%s' '%s/sm-runtime' >/dev/null && "
			   "echo marker-from-bundle > '%s/rootfs/marker' && "
			   "python3 -c 'import json,sys; p=sys.argv[1]; c=json.load(open(p)); "
			   "c[\"process\"][\"args\"]=[\"sh\",\"-c\",\"cat /marker; exit 7\"]; "
			   "json.dump(c,open(p,\"w\"))' '%s/config.json'",
			   src, bundle, build, bundle, bundle);
	if (system(cmd) != 0)
		tap_skip_all("could not make the busybox bundle (scripts/make-bundle.sh)");
	rootfs = sm_xasprintf("%s/rootfs", bundle);

	cfg = config(kernel, initrd, empty, sock1);
	if (boot_and_snapshot(&cfg, snap) < 0)
		goto done;
	/* A new process restores it: nothing of the first VM is left in this one to help. */
	cfg = config(kernel, initrd, rootfs, sock2);
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(child_run(&cfg, snap, bundle, out_path));
	waitpid(pid, &wstatus, 0);
	ok(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 7,
	   "restored in a new process, the container's exit status 7 came back through the agent (%d)",
	   WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
	sm_read_file(out_path, 4096, &output, &len, NULL);
	ok(output != NULL && strstr(output, "marker-from-bundle") != NULL,
	   "the re-rooted share serves the bundle's rootfs (output: %s)", output ? output : "(none)");
done:
	free(cmd);
	cmd = sm_xasprintf("rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", tmp);
	return tap_done();
}
