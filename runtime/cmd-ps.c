/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sm-runtime ps [--format table|json] ID: the container's processes. The pids are the guest's
 * (the container's pid namespace inside its VM): no host process corresponds to them.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "runtime/commands.h"
#include "runtime/container.h"
#include "runtime/monitor-proto.h"

int cmd_ps(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	static const struct option opts[] = {
	    {"format", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	cleanup_free char *root = sm_container_root(g->root);
	const char *format = "table";
	struct sm_container c;
	struct sm_mon_msg m = {0};
	struct sm_tlv_reader rd;
	enum sm_oci_status status;
	cleanup_close int fd = -1;
	const uint8_t *val;
	uint16_t tag;
	uint32_t len;
	bool json, first = true;
	int ch, r;

	while ((ch = getopt_long(argc, argv, "+f:h", opts, NULL)) != -1) {
		if (ch == 'f')
			format = optarg;
		else if (ch == 'h') {
			printf("usage: sm-runtime ps [--format table|json] ID\n\n"
			       "List the container's processes by their pids inside the VM (guest pids).\n");
			return 0;
		} else
			return sm_error_set(err, 0, "unknown option `%s` (see sm-runtime ps --help)",
					    argv[optind - 1]);
	}
	if (strcmp(format, "table") != 0 && strcmp(format, "json") != 0)
		return sm_error_set(err, 0, "--format: `%s` is not table or json", format);
	json = strcmp(format, "json") == 0;
	if (optind >= argc)
		return sm_error_set(err, 0, "ps needs a container id");
	if (optind != argc - 1)
		return sm_error_set(
		    err, 0, "ps options for the host's ps(1) are not supported: the processes are in the VM");
	if ((r = sm_container_open(root, argv[optind], &c, err)) < 0)
		goto out;
	if ((r = sm_container_status(&c, &status, NULL, err)) < 0)
		goto out;
	if (status != SM_OCI_STATUS_CREATED && status != SM_OCI_STATUS_RUNNING &&
	    status != SM_OCI_STATUS_PAUSED) {
		r = sm_error_set(err, 0, "container `%s` is not running", c.id);
		goto out;
	}
	if ((fd = sm_container_connect(&c, err)) < 0) {
		r = fd;
		goto out;
	}
	if ((r = sm_mon_call(fd, SM_MON_PS, NULL, NULL, 0, &m, SM_MON_CALL_TIMEOUT_MS, err)) < 0)
		goto out;
	printf(json ? "[" : "PID\n");
	sm_tlv_reader_init(&rd, m.payload, m.hdr.len);
	while (sm_tlv_next(&rd, &tag, &val, &len) > 0) {
		uint32_t pid;
		if (tag != SM_MON_TAG_PID || sm_tlv_u32(val, len, &pid) < 0)
			continue;
		printf(json ? "%s%u" : "%s%u\n", json && !first ? "," : "", pid);
		first = false;
	}
	if (json)
		printf("]\n");
out:
	sm_mon_msg_clear(&m);
	sm_container_close(&c);
	return r < 0 ? r : 0;
}
