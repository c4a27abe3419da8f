/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_COMMANDS_H
#define SM_RUNTIME_COMMANDS_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"
#include "oci/config.h"
#include "oci/state.h"

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

int cmd_create(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err);
int cmd_start(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err);
int cmd_state(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err);
int cmd_kill(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err);
int cmd_delete(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err);
int cmd_run(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err);
int cmd_list(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err);
int cmd_exec(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err);
int cmd_ps(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err);
int cmd_pause(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err);
int cmd_resume(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err);
int cmd_update(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err);
int cmd_events(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err);
int cmd_features(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err);
int cmd_checkpoint(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err);
int cmd_restore(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err);

/*
 * Checkpoint images (docs/design/snapshot-format.md, "Checkpoint images"): the directory holds
 * the snapshot's state file (snapshot/snapshot.h), the memory as a compressed image
 * (snapshot/zimage.h) and a small JSON file with what a restore needs besides the bundle.
 * `restore` is `create` with sm_create_opts.restore_image set, then `start`.
 */
#define SM_CHECKPOINT_MEMORY "memory.zimg"
#define SM_CHECKPOINT_INFO "checkpoint.json"

/* ---- shared by the lifecycle commands (docs/design/lifecycle.md) ---- */

/* The options of `create`, also taken by `run`. */
struct sm_create_opts {
	const char *id, *bundle, *pid_file, *console_socket;
	unsigned preserve_fds;
	bool no_pivot, no_new_keyring;
	bool foreground; /* `run` without --detach: a terminal may use this process's stdio */
	bool terminal;	 /* out: the config has process.terminal */
	const char *restore_image; /* `restore`: the checkpoint image (absolute) the VM comes from */
};

/* getopt_long entries for struct sm_create_opts (codes b p c P n k). */
#define SM_CREATE_OPTIONS                                                                                    \
	{"bundle", required_argument, NULL, 'b'}, {"pid-file", required_argument, NULL, 'p'},                \
	    {"console-socket", required_argument, NULL, 'c'}, {"preserve-fds", required_argument, NULL, 'P'}, \
	    {"no-pivot", no_argument, NULL, 'n'}, {"no-new-keyring", no_argument, NULL, 'k'}

/* Apply one SM_CREATE_OPTIONS code: 0 done, 1 not one of them, <0 bad value. */
int sm_parse_create_opt(int c, struct sm_create_opts *o, sm_error_t *err);

/*
 * `create`: validate the bundle, fork the monitor (which boots the VM and prepares the process),
 * run the create-time hooks, write state.json and the pid file. *monitor_pid is the container's
 * pid (a child of this process). On failure nothing is left behind (no monitor, no state).
 */
int sm_create_container(const struct sm_global_opts *g, struct sm_create_opts *o, pid_t *monitor_pid,
			sm_error_t *err);

/* `start`: created -> running, with the startContainer and poststart hooks. */
int sm_start_container(const struct sm_global_opts *g, const char *id, sm_error_t *err);

/*
 * `delete`: remove a stopped container; with force also a created or running one (its monitor is
 * shut down, or killed). A missing container is an error unless force.
 */
int sm_delete_container(const struct sm_global_opts *g, const char *id, bool force, sm_error_t *err);

/* Run the hooks of kind with st's public JSON on stdin (nothing when cfg has none). */
int sm_container_hooks(const struct sm_oci_config *cfg, const struct sm_oci_state *st, int kind, sm_error_t *err);

/* Write pid to path atomically (no newline, as runc); errors name --pid-file. */
int sm_write_pid_file(const char *path, pid_t pid, sm_error_t *err);

#endif
