/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sm-runtime checkpoint: the container's monitor snapshots its VM into an image directory
 * (CHECKPOINT, runtime/monitor-proto.h), which `restore` brings back. runc's flag names, so
 * podman's and containerd's checkpoint paths can call it. docs/design/lifecycle.md.
 */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/commands.h"
#include "runtime/container.h"
#include "runtime/log.h"
#include "runtime/monitor-proto.h"

static void checkpoint_usage(FILE *f)
{
	fprintf(f, "usage: sm-runtime checkpoint [options] ID\n\n"
		   "Save a running container's VM (memory, vCPUs, devices) into an image directory;\n"
		   "`sm-runtime restore` continues it. The container stops unless --leave-running.\n\n"
		   "Options:\n"
		   "  --image-path DIR       where to write the image (default: ./checkpoint)\n"
		   "  --leave-running        let the container go on running after the checkpoint\n"
		   "  --work-path DIR        accepted (nothing is written there)\n"
		   "  --tcp-established, --ext-unix-sk, --shell-job, --file-locks, --manage-cgroups-mode M,\n"
		   "  --empty-ns NS, --auto-dedup, --status-fd FD\n"
		   "                         accepted and ignored (with a warning): the whole VM is saved,\n"
		   "                         so sockets, the terminal, locks and namespaces come back with it\n"
		   "  --pre-dump, --page-server ADDR, --parent-path DIR, --lazy-pages\n"
		   "                         refused: no incremental, remote or lazily served memory dumps\n");
}

/* Options of runc's checkpoint that have no meaning for a whole-VM snapshot. */
enum { O_IMAGE = 1000, O_WORK, O_LEAVE, O_IGNORE, O_IGNORE_ARG, O_REFUSE, O_REFUSE_ARG };

struct ckpt_opts {
	const char *image, *id;
	bool leave_running;
};

static int parse_checkpoint(int argc, char **argv, struct ckpt_opts *o, sm_error_t *err)
{
	static const struct option opts[] = {
	    {"image-path", required_argument, NULL, O_IMAGE},
	    {"work-path", required_argument, NULL, O_WORK},
	    {"leave-running", no_argument, NULL, O_LEAVE},
	    {"tcp-established", no_argument, NULL, O_IGNORE},
	    {"ext-unix-sk", no_argument, NULL, O_IGNORE},
	    {"shell-job", no_argument, NULL, O_IGNORE},
	    {"file-locks", no_argument, NULL, O_IGNORE},
	    {"auto-dedup", no_argument, NULL, O_IGNORE},
	    {"lazy-pages", no_argument, NULL, O_REFUSE},
	    {"manage-cgroups-mode", required_argument, NULL, O_IGNORE_ARG},
	    {"empty-ns", required_argument, NULL, O_IGNORE_ARG},
	    {"status-fd", required_argument, NULL, O_IGNORE_ARG},
	    {"pre-dump", no_argument, NULL, O_REFUSE},
	    {"page-server", required_argument, NULL, O_REFUSE_ARG},
	    {"parent-path", required_argument, NULL, O_REFUSE_ARG},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c, li = -1;

	while ((li = -1, c = getopt_long(argc, argv, "+h", opts, &li)) != -1) {
		switch (c) {
		case O_IMAGE:
			o->image = optarg;
			break;
		case O_LEAVE:
			o->leave_running = true;
			break;
		case O_WORK:
			break;
		case O_IGNORE:
		case O_IGNORE_ARG:
			sm_log(SM_LOG_WARN, "checkpoint: --%s ignored: the whole VM is saved",
			       li >= 0 ? opts[li].name : "option");
			break;
		case O_REFUSE:
		case O_REFUSE_ARG:
			return sm_error_set(
			    err, 0,
			    "--%s: not supported (sm-runtime saves the whole VM in one step; no "
			    "incremental, remote or lazily served memory dumps)",
			    li >= 0 ? opts[li].name : "option");
		case 'h':
			checkpoint_usage(stdout);
			return 1;
		default:
			return sm_error_set(err, 0, "unknown option `%s` (see sm-runtime checkpoint --help)",
					    argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return sm_error_set(err, 0, "checkpoint needs exactly one container id");
	o->id = argv[optind];
	return 0;
}

/* The monitor pid exits after a stopping checkpoint: wait (bounded) so `state` says stopped. */
static void wait_gone(pid_t pid)
{
	for (int i = 0; pid > 0 && i < 300 && kill(pid, 0) == 0; i++)
		usleep(100 * 1000);
}

int cmd_checkpoint(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	cleanup_free char *root = sm_container_root(g->root), *image = NULL;
	struct ckpt_opts o = {.image = "checkpoint"};
	struct sm_container c = {.dir_fd = -1, .lock_fd = -1};
	struct sm_buf payload = {0};
	enum sm_oci_status status;
	cleanup_close int fd = -1, dfd = -1;
	int r;

	if ((r = parse_checkpoint(argc, argv, &o, err)) != 0)
		return r < 0 ? r : 0;
	if (mkdir(o.image, 0700) < 0 && errno != EEXIST)
		return sm_error_set(err, errno, "--image-path `%s`", o.image);
	if ((image = realpath(o.image, NULL)) == NULL)
		return sm_error_set(err, errno, "--image-path `%s`", o.image);
	/* Passed as an fd: the monitor's jail (runtime/jail.h) does not see the host's paths. */
	if ((dfd = open(image, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return sm_error_set(err, errno, "--image-path `%s`", image);
	if ((r = sm_container_open(root, o.id, &c, err)) < 0)
		goto out;
	if ((r = sm_container_status(&c, &status, NULL, err)) < 0)
		goto out;
	if (status != SM_OCI_STATUS_RUNNING && status != SM_OCI_STATUS_PAUSED) {
		r = sm_error_set(err, 0,
				 "container `%s` is %s: only a running or paused container can be "
				 "checkpointed",
				 c.id, sm_oci_status_name(status));
		goto out;
	}
	if ((fd = sm_container_connect(&c, err)) < 0) {
		r = fd;
		goto out;
	}
	sm_tlv_put_str(&payload, SM_MON_TAG_IMAGE_PATH, image);
	sm_tlv_put_u32(&payload, SM_MON_TAG_LEAVE_RUNNING, o.leave_running);
	r = sm_mon_call(fd, SM_MON_CHECKPOINT, &payload, &dfd, 1, NULL, SM_MON_CALL_TIMEOUT_MS, err);
	sm_buf_free(&payload);
	if (r < 0) {
		sm_error_prefix(err, "checkpoint of `%s`: ", c.id);
		goto out;
	}
	if (!o.leave_running) {
		wait_gone(c.st.pid);
		c.st.status = SM_OCI_STATUS_STOPPED;
		r = sm_container_save(&c, err);
	}
out:
	sm_container_close(&c);
	return r < 0 ? r : 0;
}
