/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "common/error.h"
#include "runtime/commands.h"
#include "runtime/log.h"

static const struct sm_command commands[] = {
	{"create", cmd_create, "create a container (boot its VM, prepare the process)", false},
	{"start", cmd_start, "start a created container's process", false},
	{"state", cmd_state, "print a container's state", false},
	{"kill", cmd_kill, "send a signal to the container's process", false},
	{"delete", cmd_delete, "remove a stopped container (--force: any)", false},
	{"run", cmd_run, "create and start a container", false},
	{"exec", cmd_exec, "run another process in a container", false},
	{"ps", cmd_ps, "list a container's processes (guest pids)", false},
	{"list", cmd_list, "list containers", false},
	{"pause", cmd_pause, "pause a container's VM", false},
	{"resume", cmd_resume, "resume a paused container's VM", false},
	{"update", cmd_update, "change a container's host cgroup limits", false},
	{"events", cmd_events, "print a container's statistics and OOM events (JSON lines)", false},
	{"features", cmd_features, "print the features this runtime implements", false},
	{"spec", cmd_spec, "write a default config.json into a bundle", false},
	{"checkpoint", cmd_checkpoint, "save a running container's VM into an image directory", false},
	{"restore", cmd_restore, "create and start a container from a checkpoint image", false},
	{"prepare", cmd_prepare, "boot and save the template VM of a VM shape ahead of time", false},
	{"vm-run", cmd_vm_run, "boot a microVM and run one command in it (diagnostic)", true},
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: sm-runtime [global options] COMMAND [options] [args]\n\n"
		   "sm-runtime runs OCI containers, each in its own KVM microVM.\n\nCommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!commands[i].diagnostic)
			fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nDiagnostic commands (not part of the OCI runtime interface):\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].diagnostic)
			fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nGlobal options:\n"
		   "  --root DIR          state directory\n"
		   "  --log FILE          log file\n"
		   "  --log-format FMT    text or json\n"
		   "  --debug             verbose logging\n"
		   "  --systemd-cgroup    use the systemd cgroup driver\n"
		   "  -v, --version       print the version\n"
		   "  -h, --help          this text\n");
}

static void version(void)
{
	printf("sm-runtime version %s\nspec: 1.2.0\ncommit: %s\n", PACKAGE_VERSION,
#ifdef SM_GIT_COMMIT
	       SM_GIT_COMMIT
#else
	       "unknown"
#endif
	);
}

static int parse_global(int argc, char **argv, struct sm_global_opts *g, sm_error_t *err)
{
	static const struct option opts[] = {
		{"root", required_argument, NULL, 'r'},   {"log", required_argument, NULL, 'l'},
		{"log-format", required_argument, NULL, 'f'}, {"debug", no_argument, NULL, 'd'},
		{"systemd-cgroup", no_argument, NULL, 's'}, {"version", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	int c;

	/* '+' stops at the first non-option: the command name. */
	while ((c = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			g->root = optarg;
			break;
		case 'l':
			g->log_path = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "text") != 0 && strcmp(optarg, "json") != 0)
				return sm_error_set(err, EINVAL, "--log-format: `%s` is not text or json", optarg);
			g->log_format = optarg;
			break;
		case 'd':
			g->debug = true;
			break;
		case 's':
			g->systemd_cgroup = true;
			break;
		case 'v':
			version();
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return sm_error_set(err, EINVAL, "unknown global option `%s` (see sm-runtime --help)",
					    argv[optind - 1]);
		}
	}
	return optind;
}

int main(int argc, char **argv)
{
	struct sm_global_opts g = {.log_format = "text"};
	sm_error_t err = SM_ERROR_INIT;
	const char *name;
	size_t i;
	int first, r;

	opterr = 0;
	first = parse_global(argc, argv, &g, &err);
	if (first < 0) {
		fprintf(stderr, "sm-runtime: %s\n", err.msg);
		return 1;
	}
	if (first >= argc) {
		usage(stderr);
		return 1;
	}
	if (sm_log_init(g.log_path, g.log_format, g.debug, &err) < 0) {
		fprintf(stderr, "sm-runtime: %s\n", err.msg);
		return 1;
	}
	name = argv[first];
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, name) != 0)
			continue;
		/* Each command parses its own options from a fresh getopt state. */
		optind = 0;
		r = commands[i].fn(argc - first, argv + first, &g, &err);
		if (r < 0) {
			/* The log file (containerd reads its last error line) and stderr both get it. */
			if (g.log_path != NULL)
				sm_log_error(&err);
			else
				fprintf(stderr, "sm-runtime %s: %s\n", name, err.msg[0] ? err.msg : "failed");
			return 1;
		}
		return r;
	}
	fprintf(stderr, "sm-runtime: unknown command `%s` (see sm-runtime --help)\n", name);
	return 1;
}
