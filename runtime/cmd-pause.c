/* SPDX-License-Identifier: Apache-2.0 */
/* sm-runtime pause|resume ID: stop or continue the container's vCPUs (the monitor's PAUSE/RESUME). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "runtime/commands.h"
#include "runtime/container.h"
#include "runtime/monitor-proto.h"

static int pause_resume(int argc, char **argv, const struct sm_global_opts *g, bool pause, sm_error_t *err)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	cleanup_free char *root = sm_container_root(g->root);
	enum sm_oci_status status, want = pause ? SM_OCI_STATUS_RUNNING : SM_OCI_STATUS_PAUSED;
	cleanup_close int fd = -1;
	struct sm_container c;
	int ch, r;

	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (ch == 'h') {
			printf("usage: sm-runtime %s ID\n", argv[0]);
			return 0;
		}
		return sm_error_set(err, 0, "unknown option `%s`", argv[optind - 1]);
	}
	if (optind != argc - 1)
		return sm_error_set(err, 0, "%s needs exactly one container id", argv[0]);
	if ((r = sm_container_open(root, argv[optind], &c, err)) < 0)
		goto out;
	if ((r = sm_container_status(&c, &status, NULL, err)) < 0)
		goto out;
	if (status != want) {
		r = sm_error_set(err, 0, "container `%s` is %s, not %s", c.id, sm_oci_status_name(status),
				 sm_oci_status_name(want));
		goto out;
	}
	if ((fd = sm_container_connect(&c, err)) < 0) {
		r = fd;
		goto out;
	}
	if ((r = sm_mon_call(fd, pause ? SM_MON_PAUSE : SM_MON_RESUME, NULL, NULL, 0, NULL,
			     SM_MON_CALL_TIMEOUT_MS, err)) < 0)
		goto out;
	c.st.status = pause ? SM_OCI_STATUS_PAUSED : SM_OCI_STATUS_RUNNING;
	r = sm_container_save(&c, err);
out:
	sm_container_close(&c);
	return r < 0 ? r : 0;
}

int cmd_pause(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	return pause_resume(argc, argv, g, true, err);
}

int cmd_resume(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	return pause_resume(argc, argv, g, false, err);
}
