/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sm-runtime create: parse the bundle, fork the container's monitor (runtime/monitor.h), which
 * boots the VM and prepares the process, then record the state. docs/design/lifecycle.md.
 */
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "oci/id.h"
#include "oci/support.h"
#include "runtime/cgroup.h"
#include "runtime/commands.h"
#include "runtime/confine.h"
#include "runtime/console-socket.h"
#include "runtime/container.h"
#include "runtime/guest-paths.h"
#include "runtime/hooks.h"
#include "runtime/jail.h"
#include "runtime/log.h"
#include "runtime/monitor-proto.h"
#include "runtime/monitor.h"
#include "runtime/template.h"
#include "runtime/run-bundle.h"

#define DEFAULT_MEM_MIB 256
#define DEFAULT_BOOT_TIMEOUT_S SM_MON_DEFAULT_BOOT_TIMEOUT_S /* the agent timeout scales from it */
#define ANN_PREFIX "org.sm-runtime.vm."

/* An annotation that tunes the VM: a number in [min, max]; errors name the annotation. */
static int annotation_u64(const struct sm_oci_config *cfg, const char *name, uint64_t min, uint64_t max,
			  uint64_t *val, sm_error_t *err)
{
	cleanup_free char *key = sm_xasprintf(ANN_PREFIX "%s", name);
	cleanup_free char *what = sm_xasprintf("annotation %s", key);
	const char *v = sm_oci_map_get(&cfg->annotations, key);

	if (v == NULL)
		return 0;
	return sm_parse_u64(v, min, max, what, val, err);
}

/*
 * Defaults from linux.resources: the memory limit bounds the whole VM on the host (written to the
 * cgroup exactly), so the guest gets what is left after the VMM's own memory
 * (sm_cgroup_guest_mib_for_limit()); a CPU quota becomes the vCPU count (rounded up).
 */
static int resources_shape(const struct sm_oci_config *cfg, uint64_t *mem, uint64_t *cpus, sm_error_t *err)
{
	const struct sm_oci_resources *res = cfg->linux_cfg ? cfg->linux_cfg->resources : NULL;

	if (res == NULL)
		return 0;
	if (res->memory != NULL && res->memory->limit.set && res->memory->limit.val > 0 &&
	    sm_cgroup_guest_mib_for_limit(res->memory->limit.val, SM_MACHINE_MAX_MEM_MIB, mem, err) < 0)
		return -1;
	if (res->cpu != NULL && res->cpu->quota.set && res->cpu->quota.val > 0) {
		uint64_t period =
		    res->cpu->period.set && res->cpu->period.val > 0 ? res->cpu->period.val : 100000;
		uint64_t n = ((uint64_t)res->cpu->quota.val + period - 1) / period;
		*cpus = n < 1 ? 1 : n > SM_VM_MAX_VCPUS ? SM_VM_MAX_VCPUS : n;
	}
	return 0;
}

/* The VM shape: defaults, linux.resources, then the org.sm-runtime.vm.* annotations. */
static int vm_shape(const struct sm_oci_config *cfg, bool debug, struct sm_monitor_opts *mo, char **kernel,
		    sm_error_t *err)
{
	uint64_t mem = DEFAULT_MEM_MIB, cpus = 1, dax = 0, boot = DEFAULT_BOOT_TIMEOUT_S;
	const char *k = sm_oci_map_get(&cfg->annotations, ANN_PREFIX "kernel");
	const char *env = getenv("SM_BOOT_TIMEOUT_S");
	int r;

	if ((r = resources_shape(cfg, &mem, &cpus, err)) < 0 ||
	    (r = annotation_u64(cfg, "mem_mib", SM_MACHINE_MIN_MEM_MIB, SM_MACHINE_MAX_MEM_MIB, &mem, err)) <
		0 ||
	    (r = annotation_u64(cfg, "vcpus", 1, SM_VM_MAX_VCPUS, &cpus, err)) < 0 ||
	    (r = annotation_u64(cfg, "dax_window_mib", 0, 1024, &dax, err)) < 0)
		return r;
	if (dax % 2 != 0)
		return sm_error_set(err, 0,
				    "annotation " ANN_PREFIX "dax_window_mib: %llu is not a multiple of 2",
				    (unsigned long long)dax);
	if (env != NULL && (r = sm_parse_u64(env, 1, 86400, "SM_BOOT_TIMEOUT_S", &boot, err)) < 0)
		return r;
	if (k != NULL) {
		if (access(k, R_OK) < 0)
			return sm_error_set(err, errno, "annotation " ANN_PREFIX "kernel: `%s`", k);
		*kernel = sm_xstrdup(k);
	} else if ((*kernel = sm_guest_default_kernel()) == NULL) {
		return sm_error_set(
		    err, 0,
		    "no guest kernel: run `make guest-kernel` or set the annotation " ANN_PREFIX "kernel");
	}
	mo->sb.machine = (struct sm_machine_config){
	    .kernel_path = *kernel,
	    .initrd_path = sm_guest_default_initrd(),
	    .mem_mib = mem,
	    .ncpus = (unsigned int)cpus,
	    .debug = false,
	    .console_out_fd = -1,
	    .console_in_fd = -1,
	};
	(void)debug;
	mo->sb.dax_mib = dax;
	mo->boot_timeout_ns = (int64_t)boot * 1000000000;
	return 0;
}

/* Close every fd from 3 up except those in keep (the monitor must not hold the caller's files). */
static void close_other_fds(const int *keep, size_t n)
{
	int lo = 3;

	for (;;) {
		int next = -1;
		for (size_t i = 0; i < n; i++)
			if (keep[i] >= lo && (next < 0 || keep[i] < next))
				next = keep[i];
		if (next < 0) {
			syscall(SYS_close_range, (unsigned)lo, ~0U, 0);
			return;
		}
		if (next > lo)
			syscall(SYS_close_range, (unsigned)lo, (unsigned)next - 1, 0);
		lo = next + 1;
	}
}

/* Wait for the monitor's "ok" or its error text; <0 when it failed or died. */
static int wait_ready(int fd, pid_t pid, int64_t timeout_ns, sm_error_t *err)
{
	char buf[sizeof(err->msg)];
	size_t len = 0;
	uint64_t deadline = sm_now_ns() + (uint64_t)timeout_ns + 60ull * 1000000000;

	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t n;

		if (sm_now_ns() > deadline)
			return sm_error_set(err, ETIMEDOUT, "the container's VM did not come up");
		if (poll(&p, 1, 1000) < 0 && errno != EINTR)
			return sm_error_set(err, errno, "wait for the monitor");
		if (p.revents == 0)
			continue;
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf) - 1)
			break;
	}
	buf[len] = '\0';
	if (strcmp(buf, "ok") == 0)
		return 0;
	if (len > 0)
		return sm_error_set(err, 0, "%s", buf);
	int status;
	if (waitpid(pid, &status, WNOHANG) == pid && WIFSIGNALED(status))
		return sm_error_set(err, 0, "the container's monitor was killed by signal %d",
				    WTERMSIG(status));
	return sm_error_set(err, 0, "the container's monitor exited during create");
}

static void copy_map(struct sm_oci_map *dst, const struct sm_oci_map *src)
{
	dst->n = src->n;
	dst->v = src->n ? sm_xcalloc(src->n, sizeof(*dst->v)) : NULL;
	for (size_t i = 0; i < src->n; i++) {
		dst->v[i].key = sm_xstrdup(src->v[i].key);
		dst->v[i].value = sm_xstrdup(src->v[i].value);
	}
}

static void fill_state(struct sm_container *c, const struct sm_oci_config *cfg, const char *bundle,
		       const char *rootfs, pid_t pid)
{
	struct timespec ts;
	struct sm_oci_state *st = &c->st;

	clock_gettime(CLOCK_REALTIME, &ts);
	st->oci_version = sm_xstrdup(cfg->oci_version ? cfg->oci_version : SM_OCI_VERSION_MAX);
	st->id = sm_xstrdup(c->id);
	st->status = SM_OCI_STATUS_CREATING;
	st->pid = (int)pid;
	st->bundle = sm_xstrdup(bundle);
	copy_map(&st->annotations, &cfg->annotations);
	st->rootfs = sm_xstrdup(rootfs);
	st->created_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	st->owner_uid = (uint32_t)geteuid();
	st->vmm_pid = (int)pid;
	(void)sm_oci_proc_start_time(pid, &st->vmm_start_time, NULL);
	st->sockets.v = sm_xcalloc(1, sizeof(*st->sockets.v));
	st->sockets.n = 1;
	st->sockets.v[0].key = sm_xstrdup("monitor");
	st->sockets.v[0].value = sm_xasprintf("%s/" SM_CONTAINER_MONITOR_SOCK, c->dir);
}

int sm_write_pid_file(const char *path, pid_t pid, sm_error_t *err)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d", (int)pid);

	if (sm_write_file_atomic(path, buf, (size_t)n, 0644, err) < 0)
		return sm_error_prefix(err, "--pid-file: ");
	return 0;
}

/* Run one kind of hook with the container's state on stdin. */
int sm_container_hooks(const struct sm_oci_config *cfg, const struct sm_oci_state *st, int kind,
		       sm_error_t *err)
{
	cleanup_free char *json = NULL;
	size_t len;
	int r;

	if (cfg == NULL || cfg->hooks[kind].n == 0)
		return 0;
	if ((r = sm_oci_state_to_json(st, 0, &json, &len, err)) < 0)
		return r;
	return sm_hooks_run(cfg, kind, json, err);
}

/* Stop a monitor whose container must not survive (create failed after the fork). */
static void kill_monitor(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

struct bundle_info {
	struct sm_oci_config *cfg;
	char *bundle, *rootfs;
};

/* config.json parsed and checked on the host, before anything is booted. */
static int load_bundle(const char *bundle_arg, bool systemd_cgroup, struct bundle_info *b, sm_error_t *err)
{
	cleanup_free char *config_path = NULL, *rootfs = NULL;
	const struct sm_oci_process *p;
	int r;

	b->bundle = realpath(bundle_arg, NULL);
	if (b->bundle == NULL)
		return sm_error_set(err, errno, "bundle `%s`", bundle_arg);
	config_path = sm_xasprintf("%s/config.json", b->bundle);
	if ((r = sm_oci_config_load(config_path, SM_OCI_PARSE_REQUIRE_PROCESS, &b->cfg, err)) < 0)
		return r;
	rootfs = b->cfg->root->path[0] == '/' ? sm_xstrdup(b->cfg->root->path)
					      : sm_xasprintf("%s/%s", b->bundle, b->cfg->root->path);
	b->rootfs = realpath(rootfs, NULL);
	if (b->rootfs == NULL)
		return sm_error_set(err, errno, "bundle `%s`: root.path `%s`", b->bundle, rootfs);
	struct sm_oci_support_opts so = {.systemd_cgroup = systemd_cgroup};
	struct sm_oci_strv warnings = {0};
	r = sm_oci_check_supported(b->cfg, &so, &warnings, err);
	for (size_t i = 0; i < warnings.n; i++)
		sm_log(SM_LOG_WARN, "%s", warnings.v[i]);
	for (size_t i = 0; i < b->cfg->warnings.n; i++)
		sm_log(SM_LOG_WARN, "%s", b->cfg->warnings.v[i]);
	sm_oci_strv_free(&warnings);
	if (r < 0)
		return r;
	if (b->cfg->hooks[SM_OCI_HOOK_START_CONTAINER].n > 0)
		return sm_error_set(err, 0,
				    "%s: hooks.startContainer: not supported (they would have to run in the "
				    "guest, which the agent cannot do yet)",
				    config_path);
	p = b->cfg->process;
	r = sm_rootfs_find_executable(b->rootfs, p->args.v[0], p->env.v, p->env.n, err);
	if (r == -ENOENT)
		return sm_error_set(
		    err, 0,
		    "unable to start container process: exec: \"%s\": executable file not found in $PATH",
		    p->args.v[0]);
	return r < 0 ? r : 0;
}

static void bundle_info_clear(struct bundle_info *b)
{
	sm_oci_config_free(b->cfg);
	free(b->bundle);
	free(b->rootfs);
}

/* Says why the VMM has no jail when config.json has no mount namespace. Never fails: false. */
static bool no_jail(void)
{
	sm_log(SM_LOG_DEBUG, "VMM jail: none (config.json has no mount namespace: the VMM shares the "
			     "runtime's, as a runc container would)");
	return false;
}

/* The child side of the fork: become the monitor. Never returns. */
static void __attribute__((noreturn))
become_monitor(struct sm_monitor_opts *mo, int lock_fd, int dir_fd, struct sm_cgroup *cg)
{
	int keep[6] = {mo->ready_fd, mo->term_in, -1, sm_log_fd(), -1, -1};
	sm_error_t err = SM_ERROR_INIT;

	close(lock_fd); /* flock is per open file: the parent's lock must end with the parent */
	close(dir_fd);
	setsid();
	/* Before the VMM creates any thread, so all of them are accounted to the container. */
	if (cg != NULL && sm_cgroup_enter(cg, 0, &err) < 0) {
		(void)sm_write_all(mo->ready_fd, err.msg, strlen(err.msg));
		_exit(1);
	}
	/*
	 * Also before any thread: threads inherit the reduced set (runtime/confine.h). The namespaces
	 * first: unshare needs one thread and CAP_SYS_ADMIN (runtime/jail.h). No jail without a mount
	 * namespace in config.json: the VMM shares the runtime's, as a runc container would. The user
	 * namespace last, once nothing needs the host's privileges, and before the capability sets
	 * are cut down, which then refer to it.
	 */
	if (sm_jail_own_namespaces(mo->cfg, &err) < 0 ||
	    (sm_jail_config_mount_ns(mo->cfg) ? sm_jail_prepare(mo->dir, &keep[2], &err) < 0 : no_jail()) ||
	    sm_bind_shares_stage(mo->cfg, mo->bundle, mo->rootfs, mo->dir, &keep[4], &err) < 0 ||
	    sm_jail_user_ns(mo->cfg, &err) < 0 || sm_confine_caps(&err) < 0) {
		(void)sm_write_all(mo->ready_fd, err.msg, strlen(err.msg));
		_exit(1);
	}
	close_other_fds(keep, 6);
	_exit(sm_monitor_main(mo) & 0xff);
}

/*
 * The template VM of the container's shape (booting and saving it the first time), so the monitor
 * restores instead of booting. Not fatal: without a template the monitor boots. SM_TEMPLATES=0
 * turns templates off.
 */
static void template_for(struct sm_monitor_opts *mo, char **dir)
{
	const char *env = getenv("SM_TEMPLATES");
	struct sm_sandbox_config cfg = mo->sb;
	struct sm_bind_shares padded;
	sm_error_t err = SM_ERROR_INIT;
	bool booted;

	if (env != NULL && strcmp(env, "0") == 0)
		return;
	if (sm_template_complete_config(&cfg, NULL, &padded, &err) < 0 ||
	    sm_template_get(&cfg, mo->boot_timeout_ns, dir, &booted, &err) < 0) {
		sm_log(SM_LOG_WARN, "no template VM (the container's VM boots instead): %s", err.msg);
		return;
	}
	if (booted)
		sm_log(SM_LOG_INFO, "template VM saved in %s", *dir);
	mo->template_dir = *dir;
}

/* The container's host cgroup, with linux.resources mapped onto the VMM process. */
static int setup_cgroup(const struct sm_global_opts *g, const struct sm_oci_config *cfg, const char *id,
			const struct sm_monitor_opts *mo, struct sm_cgroup **out, sm_error_t *err)
{
	const struct sm_oci_linux *l = cfg->linux_cfg;
	struct sm_cgroup_vm vm = {.guest_mem_bytes = mo->sb.machine.mem_mib << 20,
				  .vcpus = mo->sb.machine.ncpus};
	int r;

	if ((r = sm_cgroup_open(l ? l->cgroups_path : NULL, id, g->systemd_cgroup, out, err)) < 0 ||
	    (r = sm_cgroup_create(*out, err)) < 0)
		return r;
	if ((r = sm_cgroup_apply(*out, l ? l->resources : NULL, &vm, err)) < 0) {
		(void)sm_cgroup_destroy(*out, NULL);
		return r;
	}
	return 0;
}

/*
 * The terminal of process.terminal: a pty whose master goes to --console-socket (the monitor relays
 * its slave), or the caller's own with --foreground; runc's errors for the other combinations.
 */
static int create_terminal(const struct sm_oci_config *cfg, struct sm_create_opts *o,
			   struct sm_monitor_opts *mo, int *master, int *slave, char **ptyname,
			   sm_error_t *err)
{
	o->terminal = cfg->process->terminal;
	if (!cfg->process->terminal)
		return o->console_socket == NULL
			   ? 0
			   : sm_error_set(err, 0,
					  "cannot use console socket if sm-runtime will not detach or "
					  "allocate tty");
	if (o->console_socket != NULL) {
		struct termios t;
		int r;

		if ((r = sm_pty_open(master, slave, ptyname, err)) < 0)
			return r;
		/* A relay only: the guest's line discipline (hvc0) does echo and line editing. */
		if (tcgetattr(*slave, &t) == 0) {
			cfmakeraw(&t);
			(void)tcsetattr(*slave, TCSANOW, &t);
		}
		mo->term_in = mo->term_out = *slave;
		return 0;
	}
	if (!o->foreground)
		return sm_error_set(err, 0,
				    "cannot allocate tty if sm-runtime will detach without setting console "
				    "socket");
	mo->term_in = STDIN_FILENO;
	mo->term_out = STDOUT_FILENO;
	return 0;
}

/*
 * setup_cgroup, but without privileges and without any limit or cgroupsPath asked for, the
 * container runs without a host cgroup (*out NULL), as rootless runc does.
 */
static int setup_cgroup_or_none(const struct sm_global_opts *g, const struct sm_oci_config *cfg,
				const char *id, const struct sm_monitor_opts *mo, struct sm_cgroup **out,
				sm_error_t *err)
{
	const struct sm_oci_linux *l = cfg->linux_cfg;
	int r = setup_cgroup(g, cfg, id, mo, out, err);

	if (r >= 0 || geteuid() == 0 || (l != NULL && (l->resources != NULL || l->cgroups_path != NULL)))
		return r;
	sm_log(SM_LOG_WARN, "container `%s`: no host cgroup: %s", id, err->msg);
	sm_error_clear(err);
	sm_cgroup_free(*out);
	*out = NULL;
	return 0;
}

/*
 * Fork the monitor (which becomes the VMM); the parent keeps read_fd, the child gets mo->ready_fd.
 * The monitor is the first process of its pid namespace, if config.json asks for one; nothing
 * else is: the runtime returns to its own before any hook runs.
 */
static int fork_monitor(struct sm_monitor_opts *mo, const struct sm_container *c, struct sm_cgroup *cg,
			int read_fd, int master, pid_t *out, sm_error_t *err)
{
	sigset_t oldmask;
	int pidns_fd = -1, r;
	pid_t pid;

	if ((r = sm_jail_pid_ns_unshare(mo->cfg, &pidns_fd, err)) < 0)
		return r;
	fflush(NULL);
	sm_monitor_fork_signals(&oldmask);
	pid = fork();
	if (pid == 0)
		sm_monitor_child_signals(); /* first: it may be a pid namespace's init (monitor.h) */
	else
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
	if (pid < 0) {
		r = sm_error_set(err, errno, "fork the monitor");
		(void)sm_jail_pid_ns_restore(&pidns_fd, NULL);
		return r;
	}
	if (pid == 0) {
		close(read_fd);
		if (master >= 0)
			close(master);
		if (pidns_fd >= 0)
			close(pidns_fd);
		become_monitor(mo, c->lock_fd, c->dir_fd, cg);
	}
	*out = pid;
	/* Hooks and any later fork of this process stay in the runtime's pid namespace. */
	return sm_jail_pid_ns_restore(&pidns_fd, err);
}

int sm_create_container(const struct sm_global_opts *g, struct sm_create_opts *o, pid_t *monitor_pid,
			sm_error_t *err)
{
	struct bundle_info b = {0};
	struct sm_container c = {.dir_fd = -1, .lock_fd = -1};
	struct sm_monitor_opts mo = {.ready_fd = -1, .term_in = -1, .term_out = -1};
	struct sm_cgroup *cg = NULL;
	cleanup_free char *root = sm_container_root(g->root), *kernel = NULL, *ptyname = NULL;
	cleanup_free char *template_dir = NULL;
	int pipefd[2] = {-1, -1}, master = -1, slave = -1, r;
	bool made = false;
	pid_t pid = -1;

	if ((r = sm_oci_id_validate(o->id, err)) < 0)
		return r;
	if (o->preserve_fds > 0)
		return sm_error_set(err, 0,
				    "--preserve-fds %u: host file descriptors cannot be passed into the VM",
				    o->preserve_fds);
	if ((r = load_bundle(o->bundle ? o->bundle : ".", g->systemd_cgroup, &b, err)) < 0)
		goto out;
	if ((r = vm_shape(b.cfg, g->debug, &mo, &kernel, err)) < 0)
		goto out;
	if ((r = create_terminal(b.cfg, o, &mo, &master, &slave, &ptyname, err)) < 0)
		goto out;
	if ((r = sm_container_new(root, o->id, &c, err)) < 0)
		goto out;
	made = true;
	/* The master goes to the caller before the VM boots, as runc does during create. */
	if (master >= 0 && (r = sm_console_socket_send(o->console_socket, master, ptyname, err)) < 0)
		goto out;
	/* Before the cgroup: a template boot is shared by every container of this shape. A restore
	 * needs none: its VM comes from the checkpoint. */
	if (o->restore_image == NULL)
		template_for(&mo, &template_dir);
	mo.restore_image = o->restore_image;
	if ((r = setup_cgroup_or_none(g, b.cfg, o->id, &mo, &cg, err)) < 0)
		goto out;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		r = sm_error_set(err, errno, "pipe");
		goto out;
	}
	mo.cfg = b.cfg;
	mo.bundle = b.bundle;
	mo.rootfs = b.rootfs;
	mo.dir = c.dir;
	mo.no_pivot = o->no_pivot;
	mo.debug = g->debug;
	mo.ready_fd = pipefd[1];
	if ((r = fork_monitor(&mo, &c, cg, pipefd[0], master, &pid, err)) < 0)
		goto out;
	close(pipefd[1]);
	pipefd[1] = -1;
	fill_state(&c, b.cfg, b.bundle, b.rootfs, pid);
	c.st.cgroup = cg != NULL ? sm_cgroup_describe(cg) : NULL;
	if ((r = sm_container_save(&c, err)) < 0 ||
	    (r = wait_ready(pipefd[0], pid, mo.boot_timeout_ns, err)) < 0)
		goto out;
	/* The VM and the container's environment exist; the process has not started. */
	if ((r = sm_container_hooks(b.cfg, &c.st, SM_OCI_HOOK_PRESTART, err)) < 0 ||
	    (r = sm_container_hooks(b.cfg, &c.st, SM_OCI_HOOK_CREATE_RUNTIME, err)) < 0 ||
	    (r = sm_container_hooks(b.cfg, &c.st, SM_OCI_HOOK_CREATE_CONTAINER, err)) < 0)
		goto out;
	c.st.status = SM_OCI_STATUS_CREATED;
	if ((r = sm_container_save(&c, err)) < 0)
		goto out;
	if (o->pid_file != NULL && (r = sm_write_pid_file(o->pid_file, pid, err)) < 0)
		goto out;
	*monitor_pid = pid;
	pid = -1;
	r = 0;
out:
	if (r < 0 && pid > 0) {
		kill_monitor(pid);
		/* As runc's destroy(): the container existed, so its poststop hooks run (warnings only). */
		c.st.status = SM_OCI_STATUS_STOPPED;
		if (c.st.id != NULL)
			(void)sm_container_hooks(b.cfg, &c.st, SM_OCI_HOOK_POSTSTOP, NULL);
	}
	if (r < 0 && cg != NULL)
		(void)sm_cgroup_destroy(cg, NULL);
	sm_cgroup_free(cg);
	if (r < 0 && made)
		(void)sm_container_remove(&c, NULL);
	for (int i = 0; i < 2; i++)
		if (pipefd[i] >= 0)
			close(pipefd[i]);
	if (master >= 0)
		close(master);
	if (slave >= 0)
		close(slave);
	sm_container_close(&c);
	bundle_info_clear(&b);
	return r;
}

static void create_usage(FILE *f)
{
	fprintf(f, "usage: sm-runtime create [options] ID\n\n"
		   "Create a container: boot its microVM and prepare the process without starting it.\n\n"
		   "Options:\n"
		   "  -b, --bundle DIR         the bundle (default: the current directory)\n"
		   "  --pid-file FILE          write the container's pid (its monitor's) to FILE\n"
		   "  --console-socket PATH    send the terminal's pty master to this Unix socket\n"
		   "  --preserve-fds N         refused unless 0 (fds cannot cross into the VM)\n"
		   "  --no-pivot               chroot instead of pivot_root in the guest\n"
		   "  --no-new-keyring         accepted (the guest has its own keyrings)\n");
}

/* Options shared by create and run; returns the option's getopt code handling or -1 for unknown. */
int sm_parse_create_opt(int c, struct sm_create_opts *o, sm_error_t *err)
{
	uint64_t v;
	int r;

	switch (c) {
	case 'b':
		o->bundle = optarg;
		return 0;
	case 'p':
		o->pid_file = optarg;
		return 0;
	case 'c':
		o->console_socket = optarg;
		return 0;
	case 'P':
		if ((r = sm_parse_u64(optarg, 0, 1u << 20, "--preserve-fds", &v, err)) < 0)
			return r;
		o->preserve_fds = (unsigned)v;
		return 0;
	case 'n':
		o->no_pivot = true;
		return 0;
	case 'k':
		o->no_new_keyring = true;
		return 0;
	default:
		return 1;
	}
}

int cmd_create(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	static const struct option opts[] = {
	    SM_CREATE_OPTIONS,
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sm_create_opts o = {0};
	pid_t pid;
	int c, r;

	while ((c = getopt_long(argc, argv, "+b:h", opts, NULL)) != -1) {
		if (c == 'h') {
			create_usage(stdout);
			return 0;
		}
		r = sm_parse_create_opt(c, &o, err);
		if (r < 0)
			return r;
		if (r > 0)
			return sm_error_set(err, 0, "unknown option `%s` (see sm-runtime create --help)",
					    argv[optind - 1]);
	}
	if (optind != argc - 1)
		return sm_error_set(err, 0,
				    "create needs exactly one container id (see sm-runtime create --help)");
	o.id = argv[optind];
	return sm_create_container(g, &o, &pid, err) < 0 ? -1 : 0;
}
