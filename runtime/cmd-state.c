/* SPDX-License-Identifier: Apache-2.0 */
/* sm-runtime state ID: the OCI state JSON, with the status the monitor reports. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "runtime/commands.h"
#include "runtime/container.h"

int cmd_state(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	cleanup_free char *root = sm_container_root(g->root), *json = NULL;
	enum sm_oci_status status;
	struct sm_container c;
	size_t len;
	int ch, r;

	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (ch == 'h') {
			printf(
			    "usage: sm-runtime state ID\n\nPrint the container's state (OCI state JSON).\n");
			return 0;
		}
		return sm_error_set(err, 0, "unknown option `%s` (see sm-runtime state --help)",
				    argv[optind - 1]);
	}
	if (optind != argc - 1)
		return sm_error_set(err, 0, "state needs exactly one container id");
	/*
	 * Without the lock, as `list`: a create holds it while the VM boots (up to the boot timeout),
	 * and `state` must answer "creating" meanwhile. state.json is replaced atomically, and the
	 * status comes from the monitor, which answers any number of clients.
	 */
	if ((r = sm_container_peek_status(root, argv[optind], &c, &status, err)) < 0)
		goto out;
	c.st.status = status;
	if (status == SM_OCI_STATUS_STOPPED)
		c.st.pid = 0;
	if ((r = sm_oci_state_to_json(&c.st, SM_OCI_STATE_PRETTY, &json, &len, err)) < 0)
		goto out;
	printf("%s\n", json);
out:
	sm_container_close(&c);
	return r < 0 ? r : 0;
}
