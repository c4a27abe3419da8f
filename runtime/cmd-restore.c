/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sm-runtime restore: create + start from a checkpoint image. The container is created as by
 * `create` (bundle, hooks, state, pid file), but its monitor restores the image's VM instead of
 * booting or cloning a template, reconnects to the agent and re-attaches the running init process
 * (runtime/monitor.c, monitor_restore_checkpoint); START then only marks it running.
 * Without --detach, like `run`: wait for the container and exit with its status.
 */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/commands.h"
#include "runtime/log.h"
#include "snapshot/zimage.h"

enum { O_IMAGE = 1000, O_WORK, O_DETACH, O_IGNORE, O_IGNORE_ARG, O_REFUSE_ARG };

static void restore_usage(FILE *f)
{
	fprintf(f, "usage: sm-runtime restore [options] ID\n\n"
		   "Create and start container ID from a checkpoint image (`sm-runtime checkpoint`):\n"
		   "its VM continues where it was saved. Without --detach, wait for the container and\n"
		   "exit with its status.\n\n"
		   "Options:\n"
		   "  --image-path DIR         the image (default: ./checkpoint)\n"
		   "  -b, --bundle DIR         the bundle (default: the current directory)\n"
		   "  -d, --detach             return once the container runs\n"
		   "  --pid-file FILE          write the container's pid (its monitor's) to FILE\n"
		   "  --console-socket PATH    send the terminal's pty master to this Unix socket\n"
		   "  --work-path DIR, --tcp-established, --ext-unix-sk, --shell-job, --file-locks,\n"
		   "  --no-subreaper, --no-pivot, --manage-cgroups-mode M, --empty-ns NS, --auto-dedup,\n"
		   "  --lazy-pages, --lsm-profile P, --lsm-mount-context C\n"
		   "                           accepted and ignored, with a warning (the whole VM comes back)\n");
}

static int parse_restore(int argc, char **argv, struct sm_create_opts *o, const char **image, bool *detach,
			 sm_error_t *err)
{
	static const struct option opts[] = {
	    SM_CREATE_OPTIONS,
	    {"image-path", required_argument, NULL, O_IMAGE},
	    {"work-path", required_argument, NULL, O_WORK},
	    {"detach", no_argument, NULL, 'd'},
	    {"tcp-established", no_argument, NULL, O_IGNORE},
	    {"ext-unix-sk", no_argument, NULL, O_IGNORE},
	    {"shell-job", no_argument, NULL, O_IGNORE},
	    {"file-locks", no_argument, NULL, O_IGNORE},
	    {"no-subreaper", no_argument, NULL, O_IGNORE},
	    {"auto-dedup", no_argument, NULL, O_IGNORE},
	    {"lazy-pages", no_argument, NULL, O_IGNORE},
	    {"manage-cgroups-mode", required_argument, NULL, O_IGNORE_ARG},
	    {"empty-ns", required_argument, NULL, O_IGNORE_ARG},
	    {"lsm-profile", required_argument, NULL, O_IGNORE_ARG},
	    {"lsm-mount-context", required_argument, NULL, O_IGNORE_ARG},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c, r, li;

	while ((li = -1, c = getopt_long(argc, argv, "+b:dh", opts, &li)) != -1) {
		if (c == O_IMAGE) {
			*image = optarg;
		} else if (c == 'd') {
			*detach = true;
		} else if (c == O_WORK) {
			continue;
		} else if (c == O_IGNORE || c == O_IGNORE_ARG) {
			sm_log(SM_LOG_WARN, "restore: --%s ignored: the whole VM is restored",
			       li >= 0 ? opts[li].name : "option");
		} else if (c == 'h') {
			restore_usage(stdout);
			return 1;
		} else if ((r = sm_parse_create_opt(c, o, err)) != 0) {
			if (r > 0)
				return sm_error_set(err, 0,
						    "unknown option `%s` (see sm-runtime restore --help)",
						    argv[optind - 1]);
			return r;
		}
	}
	if (optind != argc - 1)
		return sm_error_set(err, 0, "restore needs exactly one container id");
	o->id = argv[optind];
	return 0;
}

int cmd_restore(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	struct sm_create_opts o = {0};
	const char *image_arg = "checkpoint";
	cleanup_free char *image = NULL, *info = NULL, *mem = NULL;
	bool detach = false;
	pid_t pid;
	int r, status;

	if ((r = parse_restore(argc, argv, &o, &image_arg, &detach, err)) != 0)
		return r < 0 ? r : 0;
	if ((image = realpath(image_arg, NULL)) == NULL)
		return sm_error_set(err, errno, "--image-path `%s`", image_arg);
	info = sm_xasprintf("%s/%s", image, SM_CHECKPOINT_INFO);
	mem = sm_xasprintf("%s/%s", image, SM_CHECKPOINT_MEMORY);
	if (access(info, R_OK) < 0 || access(mem, R_OK) < 0)
		return sm_error_set(err, errno, "`%s` is not a checkpoint image (no %s or %s)", image,
				    SM_CHECKPOINT_INFO, SM_CHECKPOINT_MEMORY);
	/* The forked monitor restores the image instead of booting or using a template. */
	o.restore_image = image;
	o.foreground = !detach;
	r = sm_create_container(g, &o, &pid, err);
	if (r < 0)
		return sm_error_prefix(err, "restore from `%s`: ", image);
	if ((r = sm_start_container(g, o.id, err)) < 0) {
		(void)sm_delete_container(g, o.id, true, NULL);
		return r;
	}
	if (detach)
		return 0;
	while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (r < 0)
		return sm_error_set(err, errno, "wait for the container's monitor");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
