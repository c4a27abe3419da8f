/* SPDX-License-Identifier: Apache-2.0 */
/* sm-runtime list [--format table|json] [--quiet]: the containers under the state root. */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "oci/id.h"
#include "runtime/commands.h"
#include "runtime/container.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The ids under root, sorted (malloc'd array of malloc'd strings). */
static char **list_ids(const char *root, size_t *n)
{
	cleanup_dir DIR *d = opendir(root);
	char **v = NULL;
	size_t cap = 0;
	struct dirent *e;

	*n = 0;
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (sm_oci_id_validate(e->d_name, NULL) < 0)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			v = realloc(v, cap * sizeof(*v));
			if (v == NULL)
				abort();
		}
		v[(*n)++] = strdup(e->d_name);
	}
	if (*n > 1)
		qsort(v, *n, sizeof(*v), cmp_str);
	return v;
}

int cmd_list(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
					     {"quiet", no_argument, NULL, 'q'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	cleanup_free char *root = sm_container_root(g->root);
	const char *format = "table";
	bool quiet = false, first = true;
	char **ids;
	size_t n;
	int ch;

	while ((ch = getopt_long(argc, argv, "+f:qh", opts, NULL)) != -1) {
		if (ch == 'f')
			format = optarg;
		else if (ch == 'q')
			quiet = true;
		else if (ch == 'h') {
			printf("usage: sm-runtime list [--format table|json] [--quiet]\n");
			return 0;
		} else
			return sm_error_set(err, 0, "unknown option `%s` (see sm-runtime list --help)",
					    argv[optind - 1]);
	}
	if (strcmp(format, "table") != 0 && strcmp(format, "json") != 0)
		return sm_error_set(err, 0, "--format: `%s` is not table or json", format);
	if (optind != argc)
		return sm_error_set(err, 0, "list takes no arguments");
	ids = list_ids(root, &n);
	if (!quiet && strcmp(format, "table") == 0)
		printf("%-20s %-8s %-8s %-40s %-32s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED",
		       "OWNER");
	if (!quiet && strcmp(format, "json") == 0)
		printf("[");
	for (size_t i = 0; i < n; i++) {
		struct sm_container c;
		enum sm_oci_status status;
		cleanup_free char *json = NULL;
		size_t len;

		if (sm_container_peek(root, ids[i], &c, NULL) == 0 && c.has_state &&
		    sm_container_status(&c, &status, NULL, NULL) == 0) {
			c.st.status = status;
			if (status == SM_OCI_STATUS_STOPPED)
				c.st.pid = 0;
			if (quiet)
				printf("%s\n", c.id);
			else if (sm_oci_state_to_json(&c.st, 0, &json, &len, NULL) == 0 &&
				 strcmp(format, "json") == 0)
				printf("%s%s", first ? "" : ",", json), first = false;
			else if (json != NULL) {
				/* created is the 'created' field of the public JSON; reuse it. */
				const char *cr = strstr(json, "\"created\":\"");
				char created[40] = "";
				if (cr != NULL)
					sscanf(cr + 11, "%39[^\"]", created);
				printf("%-20s %-8d %-8s %-40s %-32s %u\n", c.id, c.st.pid,
				       sm_oci_status_name(status), c.st.bundle, created, c.st.owner_uid);
			}
		}
		sm_container_close(&c);
		free(ids[i]);
	}
	free(ids);
	if (!quiet && strcmp(format, "json") == 0)
		printf("]\n");
	return 0;
}
