/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sm-runtime ps [--format table|json] ID [PS-OPTIONS]: the container's processes, as runc's (which
 * runs the host's `ps -ef` and keeps the container's lines). The pids are the guest's (the agent's
 * pid namespace inside the VM): no host process corresponds to them. The table is built from what
 * the guest agent reports (runtime/ps-table.h); json is runc's array of pids.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "runtime/commands.h"
#include "runtime/container.h"
#include "runtime/monitor-proto.h"
#include "runtime/ps-table.h"

/* The processes from the monitor's PS_REPLY: the agent's details when present, else the pids. */
static int add_pid(void *ctx, uint16_t tag, const uint8_t *val, uint32_t len)
{
	uint32_t pid;

	if (tag == SM_MON_TAG_PID && sm_tlv_u32(val, len, &pid) == 0)
		sm_ps_list_add_pid(ctx, pid);
	return 0;
}

static int ps_list(const struct sm_mon_msg *m, struct sm_ps_list *l, sm_error_t *err)
{
	const uint8_t *val;
	uint32_t len;

	*l = (struct sm_ps_list){0};
	if (sm_tlv_find(m->payload, m->hdr.len, SM_MON_TAG_PS_INFO, &val, &len) == 1)
		return sm_ps_decode(val, len, l, err);
	/* A monitor started by an older sm-runtime sends the pids only. */
	if (sm_tlv_walk(m->payload, m->hdr.len, add_pid, l) < 0)
		return sm_error_set(err, EPROTO, "ps: malformed reply from the monitor");
	return 0;
}

static int query(const struct sm_global_opts *g, const char *id, struct sm_mon_msg *m, sm_error_t *err)
{
	enum sm_oci_status status;
	struct sm_container c;
	int fd, r = sm_container_open_status(g->root, id, &c, &status, err);

	if (r == 0 && status != SM_OCI_STATUS_CREATED && status != SM_OCI_STATUS_RUNNING &&
	    status != SM_OCI_STATUS_PAUSED)
		r = sm_error_set(err, 0, "container `%s` is not running", c.id);
	if (r == 0 && (r = fd = sm_container_connect(&c, err)) >= 0) {
		r = sm_mon_call(fd, SM_MON_PS, NULL, NULL, 0, m, SM_MON_CALL_TIMEOUT_MS, err);
		close(fd);
	}
	sm_container_close(&c);
	return r;
}

int cmd_ps(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	static const struct option opts[] = {
	    {"format", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	const char *format = "table";
	struct sm_ps_format *fmt = NULL;
	struct sm_mon_msg m = {0};
	struct sm_ps_list l = {0};
	bool json;
	int ch, r;

	while ((ch = getopt_long(argc, argv, "+f:h", opts, NULL)) != -1) {
		if (ch == 'f')
			format = optarg;
		else if (ch == 'h') {
			printf(
			    "usage: sm-runtime ps [--format table|json] ID [-- PS-OPTIONS]\n\n"
			    "List the container's processes by their pids inside the VM (guest pids),\n"
			    "like `ps -ef`. PS-OPTIONS: -e, -A, -f, -o FIELD[=HEADER],..., --no-headers.\n");
			return 0;
		} else
			return sm_error_set(err, 0, "unknown option `%s` (see sm-runtime ps --help)",
					    argv[optind - 1]);
	}
	if (strcmp(format, "table") != 0 && strcmp(format, "json") != 0)
		return sm_error_set(err, 0, "invalid format option `%s`: table or json", format);
	json = strcmp(format, "json") == 0;
	if (optind >= argc)
		return sm_error_set(err, 0, "ps needs a container id");
	/* runc ignores ps options with --format json; the options are checked before the guest is asked. */
	if (!json && (r = sm_ps_format_parse(argv + optind + 1, (size_t)(argc - optind - 1), &fmt, err)) < 0)
		return r;
	if ((r = query(g, argv[optind], &m, err)) < 0 || (r = ps_list(&m, &l, err)) < 0)
		goto out;
	if (json) {
		printf("[");
		for (size_t i = 0; i < l.n; i++)
			printf("%s%u", i ? "," : "", l.v[i].pid);
		printf("]\n");
	} else {
		sm_ps_print(stdout, fmt, &l, time(NULL));
	}
out:
	sm_ps_list_free(&l);
	sm_ps_format_free(fmt);
	sm_mon_msg_clear(&m);
	return r < 0 ? r : 0;
}
