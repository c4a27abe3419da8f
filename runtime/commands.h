/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_COMMANDS_H
#define SM_RUNTIME_COMMANDS_H

#include <stdbool.h>

#include "common/error.h"

/* Options given before the command name (runc's global flags). */
struct sm_global_opts {
	const char *root;       /* --root: state directory */
	const char *log_path;   /* --log */
	const char *log_format; /* --log-format: text|json */
	bool debug;             /* --debug */
	bool systemd_cgroup;    /* --systemd-cgroup */
};

/*
 * A command's entry point: argv[0] is the command name, options follow. It returns the process
 * exit status (>= 0) on success, or a negative value with err filled; main() prints err and
 * exits 1 in that case.
 */
typedef int (*sm_command_fn)(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err);

struct sm_command {
	const char *name;
	sm_command_fn fn;
	const char *summary;
	bool diagnostic; /* listed apart in --help: not part of the OCI interface */
};

int cmd_spec(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err);
int cmd_vm_run(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err);
int cmd_prepare(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err);

#endif
