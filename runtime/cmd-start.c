/* SPDX-License-Identifier: Apache-2.0 */
/* sm-runtime start ID: let the created container's process run (the monitor's START). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/commands.h"
#include "runtime/container.h"
#include "runtime/monitor-proto.h"

/* The bundle's config for the hooks; NULL when it cannot be read any more. */
static struct sm_oci_config *hooks_config(const struct sm_oci_state *st)
{
	cleanup_free char *p = sm_xasprintf("%s/config.json", st->bundle);
	struct sm_oci_config *cfg = NULL;

	if (sm_oci_config_load(p, 0, &cfg, NULL) < 0)
		return NULL;
	return cfg;
}

int sm_start_container(const struct sm_global_opts *g, const char *id, sm_error_t *err)
{
	cleanup_oci_config struct sm_oci_config *cfg = NULL;
	struct sm_container c;
	enum sm_oci_status status;
	cleanup_close int fd = -1;
	int r;

	if ((r = sm_container_open_status(g->root, id, &c, &status, err)) < 0)
		goto out;
	if (status != SM_OCI_STATUS_CREATED) {
		r = sm_error_set(err, 0, "cannot start a container that is %s", sm_oci_status_name(status));
		goto out;
	}
	cfg = hooks_config(&c.st);
	if ((r = sm_container_hooks(cfg, &c.st, SM_OCI_HOOK_START_CONTAINER, err)) < 0)
		goto out;
	if ((fd = sm_container_connect(&c, err)) < 0) {
		r = fd;
		goto out;
	}
	if ((r = sm_mon_call(fd, SM_MON_START, NULL, NULL, 0, NULL, SM_MON_CALL_TIMEOUT_MS, err)) < 0)
		goto out;
	c.st.status = SM_OCI_STATUS_RUNNING;
	if ((r = sm_container_save(&c, err)) < 0)
		goto out;
	c.st.status = SM_OCI_STATUS_RUNNING;
	r = sm_container_hooks(cfg, &c.st, SM_OCI_HOOK_POSTSTART, err);
out:
	sm_container_close(&c);
	return r;
}

int cmd_start(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	int c;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h') {
			printf("usage: sm-runtime start ID\n\nStart the process of a created container.\n");
			return 0;
		}
		return sm_error_set(err, 0, "unknown option `%s` (see sm-runtime start --help)",
				    argv[optind - 1]);
	}
	if (optind != argc - 1)
		return sm_error_set(err, 0, "start needs exactly one container id");
	return sm_start_container(g, argv[optind], err) < 0 ? -1 : 0;
}
