/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sm-runtime vm-run: boot a microVM with a kernel and initramfs, run one shell command in it and
 * exit with its status. A diagnostic command for the VMM and the guest image (no container).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/commands.h"
#include "runtime/guest-paths.h"
#include "runtime/run-bundle.h"
#include "runtime/sandbox.h"
#include "vmm/machine.h"

#define DEFAULT_MEM_MIB 128

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: sm-runtime vm-run [options]\n\n"
	    "Boot a microVM and run one shell command in it; exit with the command's status.\n"
	    "A diagnostic command for the VMM and the guest image (no container is involved).\n\n"
	    "Options:\n"
	    "  --kernel FILE        uncompressed vmlinux with the PVH note (default: the path in\n"
	    "                       BUILDDIR/guest/kernel.path, written by `make guest-kernel`)\n"
	    "  --initrd FILE        uncompressed cpio initramfs (default: BUILDDIR/guest/initramfs.cpio,\n"
	    "                       then PKGLIBEXECDIR/initramfs.cpio); --initrd '' for none\n"
	    "  --mem MIB            guest memory in MiB, %llu..%llu (default %d)\n"
	    "  --cpus N             vCPUs, 1..%d (default 1)\n"
	    "  --cmdline CMD        shell command to run in the guest (default: none, exit 0)\n"
	    "  --append PARAMS      extra kernel parameters, appended last\n"
	    "  --bundle DIR         run the OCI bundle's process (DIR/config.json) in the VM with its\n"
	    "                       rootfs over virtio-fs; exit with the process's status\n"
	    "  --template           with --bundle: restore the template VM of this shape (booted and\n"
	    "                       saved once per shape, as `create` does) instead of booting\n"
	    "  --share DIR          share DIR with the guest over virtio-fs, tag `sm-root`\n"
	    "                       (mount it in the guest: mount -t virtiofs sm-root /mnt)\n"
	    "  --dax MIB            give the share a DAX window of MIB MiB (mount with -o dax=always)\n"
	    "  --timings            print seconds to SM-READY and to exit on stderr (also with --debug)\n"
	    "  --timeout SECONDS    stop the VM and fail after this long (default: no limit)\n"
	    "  --save-snapshot DIR  boot until the guest init reports ready, save a snapshot of the VM\n"
	    "                       into DIR (docs/design/snapshot-format.md) and exit\n"
	    "  --leave-running      with --save-snapshot: after saving, let the VM go on (run the\n"
	    "                       command) instead of exiting\n"
	    "  --restore DIR        restore the snapshot in DIR instead of booting (same --mem, --cpus\n"
	    "                       and devices; --share may name another directory); with --timings,\n"
	    "                       print the restore latency\n"
	    "  -h, --help           this text\n",
	    SM_MACHINE_MIN_MEM_MIB, SM_MACHINE_MAX_MEM_MIB, DEFAULT_MEM_MIB, SM_VM_MAX_VCPUS);
}

struct vm_run_opts {
	const char *kernel, *initrd, *cmd, *append;
	bool initrd_given;
	uint64_t mem_mib, cpus, timeout_s;
	bool timings;
	const char *share, *bundle;
	uint64_t dax_mib;
	const char *save_dir, *restore_dir;
	bool leave_running, use_template;
};

static int parse_opts(int argc, char **argv, struct vm_run_opts *o, sm_error_t *err)
{
	static const struct option opts[] = {
	    {"kernel", required_argument, NULL, 'k'},  {"initrd", required_argument, NULL, 'i'},
	    {"mem", required_argument, NULL, 'm'},     {"cpus", required_argument, NULL, 'c'},
	    {"cmdline", required_argument, NULL, 'C'}, {"append", required_argument, NULL, 'a'},
	    {"timings", no_argument, NULL, 't'},       {"timeout", required_argument, NULL, 'T'},
	    {"share", required_argument, NULL, 's'},   {"dax", required_argument, NULL, 'D'},
	    {"bundle", required_argument, NULL, 'b'},
	    {"save-snapshot", required_argument, NULL, 'S'}, {"restore", required_argument, NULL, 'R'},
	    {"leave-running", no_argument, NULL, 'L'}, {"template", no_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},	       {NULL, 0, NULL, 0},
	};
	int c, r;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			o->kernel = optarg;
			break;
		case 'i':
			o->initrd = optarg[0] ? optarg : NULL;
			o->initrd_given = true;
			break;
		case 'm':
			if ((r = sm_parse_u64(optarg, SM_MACHINE_MIN_MEM_MIB, SM_MACHINE_MAX_MEM_MIB,
					      "--mem (MiB)", &o->mem_mib, err)) < 0)
				return r;
			break;
		case 'c':
			if ((r = sm_parse_u64(optarg, 1, SM_VM_MAX_VCPUS, "--cpus", &o->cpus, err)) < 0)
				return r;
			break;
		case 'C':
			o->cmd = optarg;
			break;
		case 'a':
			o->append = optarg;
			break;
		case 't':
			o->timings = true;
			break;
		case 's':
			o->share = optarg;
			break;
		case 'b':
			o->bundle = optarg;
			break;
		case 'S':
			o->save_dir = optarg;
			break;
		case 'R':
			o->restore_dir = optarg;
			break;
		case 'L':
			o->leave_running = true;
			break;
		case 'P':
			o->use_template = true;
			break;
		case 'D':
			if ((r = sm_parse_u64(optarg, 0, 1024, "--dax (MiB)", &o->dax_mib, err)) < 0)
				return r;
			break;
		case 'T':
			if ((r = sm_parse_u64(optarg, 1, 86400, "--timeout (seconds)", &o->timeout_s, err)) <
			    0)
				return r;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			return sm_error_set(err, 0, "unknown option `%s` (see sm-runtime vm-run --help)",
					    argv[optind - 1]);
		}
	}
	if (o->bundle != NULL && (o->cmd != NULL || o->share != NULL))
		return sm_error_set(err, 0, "--bundle runs the bundle's process: it excludes --cmdline and --share");
	if ((o->save_dir != NULL || o->restore_dir != NULL) && o->bundle != NULL)
		return sm_error_set(err, 0, "--save-snapshot and --restore do not work with --bundle");
	if (o->leave_running && o->save_dir == NULL)
		return sm_error_set(err, 0, "--leave-running goes with --save-snapshot");
	if (o->use_template && o->bundle == NULL)
		return sm_error_set(err, 0, "--template goes with --bundle (a template VM runs the agent)");
	if (o->save_dir != NULL && o->restore_dir != NULL)
		return sm_error_set(err, 0, "--save-snapshot and --restore exclude each other");
	if (optind < argc)
		return sm_error_set(err, 0, "unexpected argument `%s` (the guest command goes in --cmdline)",
				    argv[optind]);
	return 0;
}

/* SIGINT/SIGTERM/SIGHUP stop the VM (through its event loop) instead of killing the process. */
static void on_signal(void *opaque, int fd, uint32_t events)
{
	struct signalfd_siginfo si;
	struct sm_machine *m = opaque;

	(void)events;
	if (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		sm_vm_stop(sm_machine_vm(m), SM_VM_STOP_REQUESTED, "interrupted by signal %s",
			   strsignal((int)si.ssi_signo));
}

/* Times count from t0, the command's start, so they compare with a whole VMM process's run. */
static void print_timings(const struct sm_machine_result *res, uint64_t t0)
{
	double end = (double)(res->end_ns - t0) / 1e9;

	if (res->ready && res->ready_ns == 0)
		fprintf(stderr, "vm-run: restored ready, ");
	else if (res->ready)
		fprintf(stderr, "vm-run: ready after %.3f s (vCPUs started at %.3f s), ",
			(double)(res->ready_ns - t0) / 1e9, (double)(res->start_ns - t0) / 1e9);
	else
		fprintf(stderr, "vm-run: never ready, ");
	fprintf(stderr,
		"stopped after %.3f s; %llu VM exits (%llu I/O, %llu MMIO), %llu unhandled port accesses\n",
		end, (unsigned long long)res->stats.exits, (unsigned long long)res->stats.io_exits,
		(unsigned long long)res->stats.mmio_exits, (unsigned long long)res->stats.pio_unhandled);
}

/* --save-snapshot: wait for SM-READY (or the end of the VM), then snapshot and stop. */
static int save_when_ready(struct sm_sandbox *sb, const char *dir, int64_t timeout_ns, sm_error_t *err)
{
	struct sm_machine *m = sm_sandbox_machine(sb);
	uint64_t deadline = timeout_ns < 0 ? UINT64_MAX : sm_now_ns() + (uint64_t)timeout_ns;
	struct sm_machine_state st = {0};
	struct sm_machine_result res;

	while (!st.ready) {
		if (sm_vm_stopping(sm_machine_vm(m))) {
			sm_machine_wait(m, -1, &res);
			sm_machine_outcome(&res, err);
			return sm_error_prefix(err, "--save-snapshot: the VM stopped before the guest was "
						    "ready: ");
		}
		if (sm_now_ns() >= deadline)
			return sm_error_set(err, ETIMEDOUT,
					    "--save-snapshot: the guest was not ready in time");
		usleep(10000);
		sm_machine_get_state(m, &st);
	}
	return sm_sandbox_snapshot(sb, dir, err);
}

/* --restore --timings: where the host-side restore spent its time. */
static void print_restore_timings(struct sm_sandbox *sb, const struct sm_sandbox_restore_stats *rs, uint64_t t0)
{
	struct sm_vm *vm = sm_machine_vm(sm_sandbox_machine(sb));
	uint64_t first = 0;

	/* vCPU 0 enters KVM_RUN right after its thread starts; give it up to a second. */
	for (int i = 0; i < 10000 && (first = sm_vm_first_run_ns(vm)) == 0; i++)
		usleep(100);
	fprintf(stderr,
		"vm-run: restore: first KVM_RUN %.3f ms after the command started, %.3f ms after the restore "
		"call (validated %.3f, devices %.3f, state applied %.3f); first_kvm_run_monotonic_ns=%llu\n",
		(double)(first - t0) / 1e6, (double)(first - rs->call_ns) / 1e6, (double)rs->loaded_ns / 1e6,
		(double)rs->created_ns / 1e6, (double)rs->applied_ns / 1e6, (unsigned long long)first);
}

static int run(const struct sm_sandbox_config *cfg, const struct vm_run_opts *o, uint64_t t0, int64_t timeout_ns,
	       struct sm_machine_result *res, sm_error_t *err)
{
	struct sm_sandbox *sb = NULL;
	struct sm_machine *m = NULL;
	cleanup_close int sfd = -1;
	sigset_t sigs, old;
	int r;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	/* Block before any VMM thread exists so they all inherit the mask. */
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		r = sm_error_set(err, errno, "signalfd");
		goto out;
	}
	if (o->restore_dir != NULL) {
		struct sm_sandbox_restore_stats rs;
		if ((r = sm_sandbox_restore(cfg, o->restore_dir, &sb, &rs, err)) < 0)
			goto out;
		if (o->timings)
			print_restore_timings(sb, &rs, t0);
		m = sm_sandbox_machine(sb);
		/* The event loop already runs: adding an fd to it is allowed at any time. */
		if ((r = sm_evloop_add(sm_vm_evloop(sm_machine_vm(m)), sfd, EPOLLIN, on_signal, m, err)) < 0)
			goto out;
	} else {
		if ((r = sm_sandbox_create(cfg, &sb, err)) < 0)
			goto out;
		m = sm_sandbox_machine(sb);
		if ((r = sm_evloop_add(sm_vm_evloop(sm_machine_vm(m)), sfd, EPOLLIN, on_signal, m, err)) < 0 ||
		    (r = sm_machine_start(m, err)) < 0)
			goto out;
	}
	if (o->save_dir != NULL) {
		if ((r = save_when_ready(sb, o->save_dir, timeout_ns, err)) < 0 || !o->leave_running)
			goto out;
		fprintf(stderr, "vm-run: snapshot saved in %s, the VM goes on\n", o->save_dir);
		if ((r = sm_sandbox_resume(sb, err)) < 0)
			goto out;
	}
	if (sm_machine_wait(m, timeout_ns, res) < 0) {
		sm_vm_stop(sm_machine_vm(m), SM_VM_STOP_REQUESTED, "timed out after %lld s",
			   (long long)(timeout_ns / 1000000000));
		sm_machine_wait(m, -1, res);
	}
	r = 0;
out:
	sm_sandbox_destroy(sb);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

int cmd_vm_run(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	uint64_t t0 = sm_now_ns();
	struct vm_run_opts o = {.mem_mib = DEFAULT_MEM_MIB, .cpus = 1};
	struct sm_machine_result res;
	cleanup_free char *kernel_default = NULL;
	int r;

	if ((r = parse_opts(argc, argv, &o, err)) != 0)
		return r > 0 ? 0 : r;
	if (o.kernel == NULL && o.restore_dir == NULL) {
		kernel_default = sm_guest_default_kernel();
		if (kernel_default == NULL)
			return sm_error_set(err, 0,
					    "no kernel: pass --kernel FILE or run `make guest-kernel` (which "
					    "records its path in %s/guest/kernel.path)",
					    SM_ABS_BUILDDIR);
		o.kernel = kernel_default;
	}
	if (!o.initrd_given)
		o.initrd = sm_guest_default_initrd();

	struct sm_sandbox_config cfg = {.rootfs = o.share, .dax_mib = o.dax_mib};
	cfg.machine = (struct sm_machine_config){
	    .kernel_path = o.kernel,
	    .initrd_path = o.initrd,
	    .mem_mib = o.mem_mib,
	    .ncpus = (unsigned int)o.cpus,
	    .cmd = o.cmd,
	    .append = o.append,
	    .debug = g->debug,
	    .console_out_fd = STDOUT_FILENO,
	    .console_in_fd = STDIN_FILENO,
	};
	memset(&res, 0, sizeof(res));
	fflush(stdout);
	if (o.bundle != NULL) {
		/* The console carries only kernel and init messages here: keep them for --debug. */
		cfg.machine.console_out_fd = g->debug ? STDERR_FILENO : -1;
		cfg.machine.console_in_fd = -1;
		return sm_run_bundle(o.bundle, &cfg, o.use_template,
				     o.timeout_s ? (int64_t)o.timeout_s * 1000000000 : -1, err);
	}
	if ((r = run(&cfg, &o, t0, o.timeout_s ? (int64_t)o.timeout_s * 1000000000 : -1, &res, err)) < 0)
		return r;
	if (o.save_dir != NULL && !o.leave_running)
		return 0;
	if (o.timings || g->debug)
		print_timings(&res, t0);
	return sm_machine_outcome(&res, err);
}
