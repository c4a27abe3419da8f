/* SPDX-License-Identifier: Apache-2.0 */
/* sm-runtime delete [--force] ID: stop the VM (force) and remove the container's state. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "oci/id.h"
#include "runtime/cgroup.h"
#include "runtime/commands.h"
#include "runtime/container.h"
#include "runtime/monitor-proto.h"

/* Wait until the monitor recorded in st is gone (a zombie counts as gone). */
static bool wait_gone(const struct sm_oci_state *st, int64_t timeout_ms)
{
	uint64_t deadline = sm_now_ns() + (uint64_t)timeout_ms * 1000000;
	struct timespec ts = {0, 20 * 1000000};

	while (sm_oci_state_vmm_alive(st, NULL) > 0) {
		if (sm_now_ns() > deadline)
			return false;
		nanosleep(&ts, NULL);
	}
	return true;
}

/* Ask the monitor to shut the VM down; kill it when it does not go. */
static int stop_monitor(struct sm_container *c, sm_error_t *err)
{
	cleanup_free char *exit_file = sm_xasprintf("%s/" SM_CONTAINER_EXIT_FILE, c->dir);
	bool graceful;
	int fd;

	if (sm_oci_state_vmm_alive(&c->st, NULL) <= 0)
		return 0;
	/* A monitor that recorded the exit is already shutting down: let it finish and exit with the
	 * container's status, which its reaper wants, instead of 137. */
	graceful = access(exit_file, F_OK) == 0;
	fd = sm_container_connect(c, NULL);
	if (fd >= 0) {
		if (sm_mon_call(fd, SM_MON_SHUTDOWN, NULL, NULL, 0, NULL, 10000, NULL) == 0)
			graceful = true;
		close(fd);
	}
	if (graceful && wait_gone(&c->st, 30000))
		return 0;
	/* The pid was verified against its start time: it is our monitor, not a reused pid. */
	if (sm_oci_state_vmm_alive(&c->st, NULL) > 0 && kill(c->st.vmm_pid, SIGKILL) < 0 && errno != ESRCH)
		return sm_error_set(err, errno, "kill the monitor (pid %d)", c->st.vmm_pid);
	if (!wait_gone(&c->st, 10000))
		return sm_error_set(err, ETIMEDOUT, "the monitor (pid %d) does not exit", c->st.vmm_pid);
	return 0;
}

int sm_delete_container(const struct sm_global_opts *g, const char *id, bool force, sm_error_t *err)
{
	cleanup_free char *root = sm_container_root(g->root);
	cleanup_oci_config struct sm_oci_config *cfg = NULL;
	enum sm_oci_status status;
	struct sm_container c;
	int r;

	if ((r = sm_oci_id_validate(id, err)) < 0)
		return r;
	if ((r = sm_container_open(root, id, &c, err)) < 0) {
		if (force && err->code == 0 && c.dir_fd < 0) {
			/* runc: delete --force of a container that does not exist succeeds. */
			sm_error_clear(err);
			r = 0;
		}
		goto out;
	}
	if ((r = sm_container_status(&c, &status, NULL, err)) < 0)
		goto out;
	if (status != SM_OCI_STATUS_STOPPED && !force) {
		r = sm_error_set(err, 0, "cannot delete container `%s` that is not stopped: %s", id,
				 sm_oci_status_name(status));
		goto out;
	}
	if (c.has_state && (r = stop_monitor(&c, err)) < 0)
		goto out;
	if (c.has_state && c.st.cgroup != NULL) {
		cleanup_cgroup struct sm_cgroup *cg = NULL;
		if ((r = sm_cgroup_load(c.st.cgroup, &cg, err)) < 0 || (r = sm_cgroup_destroy(cg, err)) < 0)
			goto out;
	}
	if ((r = sm_container_remove(&c, err)) < 0)
		goto out;
	/* After the VM is stopped and the state removed (docs/design/hooks.md); warnings only. */
	if (c.has_state) {
		cleanup_free char *p = sm_xasprintf("%s/config.json", c.st.bundle);
		if (sm_oci_config_load(p, 0, &cfg, NULL) == 0) {
			c.st.status = SM_OCI_STATUS_STOPPED;
			(void)sm_container_hooks(cfg, &c.st, SM_OCI_HOOK_POSTSTOP, NULL);
		}
	}
out:
	sm_container_close(&c);
	return r;
}

int cmd_delete(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	static const struct option opts[] = {
	    {"force", no_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	bool force = false;
	int ch;

	while ((ch = getopt_long(argc, argv, "+fh", opts, NULL)) != -1) {
		if (ch == 'f') {
			force = true;
			continue;
		}
		if (ch == 'h') {
			printf("usage: sm-runtime delete [--force] ID\n\n"
			       "Remove a stopped container; --force also stops a created or running one.\n");
			return 0;
		}
		return sm_error_set(err, 0, "unknown option `%s` (see sm-runtime delete --help)",
				    argv[optind - 1]);
	}
	if (optind != argc - 1)
		return sm_error_set(err, 0, "delete needs exactly one container id");
	return sm_delete_container(g, argv[optind], force, err) < 0 ? -1 : 0;
}
