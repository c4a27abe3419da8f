/* SPDX-License-Identifier: Apache-2.0 */
/* sm-runtime spec: write a default config.json (busybox sh, like `runc spec`) into the bundle. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "oci/spec.h"
#include "runtime/commands.h"

int cmd_spec(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	static const struct option opts[] = {
	    {"bundle", required_argument, NULL, 'b'}, {"rootless", no_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
	};
	const char *bundle = ".";
	cleanup_free char *json = NULL, *path = NULL;
	size_t len = 0;
	struct stat st;
	int c, r;

	while ((c = getopt_long(argc, argv, "+b:h", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			bundle = optarg;
			break;
		case 'r':
			return sm_error_set(err, 0, "--rootless: rootless containers are not supported");
		case 'h':
			printf("usage: sm-runtime spec [--bundle DIR]\n\nWrite a default config.json (process: sh, "
			       "rootfs: rootfs) into DIR (default: the current directory).\n");
			return 0;
		default:
			return sm_error_set(err, 0, "unknown option `%s` (see sm-runtime spec --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return sm_error_set(err, 0, "unexpected argument `%s`", argv[optind]);
	path = sm_xasprintf("%s/config.json", bundle);
	if (stat(path, &st) == 0)
		return sm_error_set(err, EEXIST, "`%s`", path);
	if ((r = sm_oci_spec_default_json(&json, &len, err)) < 0)
		return r;
	return sm_write_file_atomic(path, json, len, 0644, err);
}
