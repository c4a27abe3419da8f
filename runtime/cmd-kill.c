/* SPDX-License-Identifier: Apache-2.0 */
/* sm-runtime kill [--all] ID [SIGNAL]: a signal for the container's process inside the guest. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "runtime/commands.h"
#include "runtime/container.h"
#include "runtime/monitor-proto.h"

int cmd_kill(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	static const struct option opts[] = {
	    {"all", no_argument, NULL, 'a'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	cleanup_free char *root = sm_container_root(g->root);
	cleanup_close int fd = -1;
	struct sm_buf b = {0};
	enum sm_oci_status status;
	struct sm_container c;
	int ch, r, signo = SIGTERM;
	bool all = false;

	while ((ch = getopt_long(argc, argv, "+ah", opts, NULL)) != -1) {
		if (ch == 'a') {
			all = true;
			continue;
		}
		if (ch == 'h') {
			printf("usage: sm-runtime kill [--all] ID [SIGNAL]\n\n"
			       "Send SIGNAL (a name or number, default SIGTERM) to the container's process "
			       "in its\n"
			       "VM; --all: to every process of the container.\n");
			return 0;
		}
		return sm_error_set(err, 0, "unknown option `%s` (see sm-runtime kill --help)",
				    argv[optind - 1]);
	}
	if (optind != argc - 1 && optind != argc - 2)
		return sm_error_set(err, 0, "usage: sm-runtime kill [--all] ID [SIGNAL]");
	if (optind == argc - 2 && (r = sm_oci_signal_parse(argv[optind + 1], &signo, err)) < 0)
		return r;
	if ((r = sm_container_open(root, argv[optind], &c, err)) < 0)
		goto out;
	if ((r = sm_container_status(&c, &status, NULL, err)) < 0)
		goto out;
	if (status != SM_OCI_STATUS_CREATED && status != SM_OCI_STATUS_RUNNING &&
	    status != SM_OCI_STATUS_PAUSED) {
		r = sm_error_set(err, 0, "container `%s` is not running (%s)", c.id,
				 sm_oci_status_name(status));
		goto out;
	}
	if ((fd = sm_container_connect(&c, err)) < 0) {
		r = fd;
		goto out;
	}
	sm_tlv_put_u32(&b, SM_MON_TAG_SIGNAL, (uint32_t)signo);
	sm_tlv_put_u32(&b, SM_MON_TAG_ALL, all);
	r = sm_mon_call(fd, SM_MON_KILL, &b, NULL, 0, NULL, SM_MON_CALL_TIMEOUT_MS, err);
out:
	sm_buf_free(&b);
	sm_container_close(&c);
	return r < 0 ? r : 0;
}
