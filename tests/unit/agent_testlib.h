/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_TESTS_AGENT_TESTLIB_H
#define SM_TESTS_AGENT_TESTLIB_H

/*
 * Harness of the guest agent tests: the agent runs on the host, as PID 1 of private mount, pid,
 * UTS and IPC namespaces (what it is in the guest), connected by a socketpair to the real host
 * client; the container rootfs is a busybox tree in a temporary directory. Nothing is mounted in
 * the host's namespaces and every process dies with its namespace (and with the test, through
 * PR_SET_PDEATHSIG), so a test leaves nothing behind.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "runtime/agent-client.h"

#define AGENT_TIMEOUT_MS 20000

struct agent_env {
	char dir[256];	  /* temporary directory (removed by agent_env_cleanup) */
	char rootfs[300]; /* dir/rootfs: busybox */
	pid_t pid;	  /* the process holding the namespaces; exits with the agent */
	struct sm_agent_client *c;
};

/*
 * Prepare dir and the busybox rootfs; skips the whole test (tap_skip_all) when not root, without
 * a static busybox or without namespaces.
 */
void agent_env_init(struct agent_env *e);

/*
 * Start an agent and handshake with it. agent_binary NULL runs sm_agent_serve() in the forked
 * process (sanitizers included); otherwise that program is exec'd with `--fd N`.
 */
bool agent_env_start(struct agent_env *e, const char *agent_binary);

/* The forked side of agent_env_spawn(): serve fd in fresh namespaces, then _exit. */
__attribute__((noreturn)) void agent_serve_in_namespaces(int fd, const char *agent_binary);

/* Start an agent without a client: returns the host end of its connection (or -1). */
int agent_env_spawn(struct agent_env *e, const char *agent_binary);

/* Close the connection and wait for the agent; returns its wait status (0 = clean exit). */
int agent_env_stop(struct agent_env *e);

/* Remove the temporary directory. */
void agent_env_cleanup(struct agent_env *e);

/*
 * A config.json for the test rootfs: args is a JSON array, process_extra / top_extra /
 * linux_extra are JSON members (each ending with a comma) added to "process", the top level and
 * "linux". The base has runc's default mounts, namespaces and an env with PATH. malloc'd.
 */
char *agent_config_json(const struct agent_env *e, const char *args, const char *process_extra,
			const char *top_extra, const char *linux_extra);

struct agent_run {
	int status;	  /* EXIT status, or -1 */
	char out[65536];  /* STDOUT */
	char err[65536];  /* STDERR */
	int create_errno; /* when CREATE failed */
	char create_msg[2048];
	bool created;
};

/*
 * Create + start the config's container on stream 1 with stdin_data (NULL: none) and wait for
 * its exit, collecting its output. Returns false (with a diagnostic) when a step other than
 * CREATE failed; a refused CREATE is reported in r.
 */
bool agent_run_config(struct agent_env *e, const char *config_json, const char *stdin_data,
		      struct agent_run *r);

/* Start a fresh agent, run one config, stop the agent (checking that it exited cleanly). */
bool agent_run_once(struct agent_env *e, const char *config_json, const char *stdin_data,
		    struct agent_run *r);

/* Encode config_json into a CREATE payload (tap failure on error). */
bool agent_create_payload(const struct agent_env *e, const char *config_json, struct sm_buf *b);

/* Read the whole content of fd (a memfd) from offset 0 into buf (NUL-terminated). */
void agent_read_fd(int fd, char *buf, size_t size);

/* s with newlines and tabs escaped, for one-line TAP descriptions (4 rotating static buffers). */
const char *agent_esc(const char *s);

#endif
