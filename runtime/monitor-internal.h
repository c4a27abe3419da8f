/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_MONITOR_INTERNAL_H
#define SM_RUNTIME_MONITOR_INTERNAL_H

/*
 * Internals of the monitor (runtime/monitor.h), shared by monitor.c (boot, control loop),
 * monitor-checkpoint.c (CHECKPOINT and the monitor of `restore`) and monitor-cid.c (the guest's
 * vsock CID). Not for use outside the monitor process.
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include "oci/state.h"
#include "runtime/agent-client.h"
#include "runtime/bind-shares.h"
#include "runtime/monitor-proto.h"
#include "runtime/monitor.h"

#define SM_MON_AGENT_PORT 1024
#define SM_MON_MAX_CLIENTS 64
#define SM_MON_INIT_STREAM 1

struct sm_mon_client {
	int fd;
	uint32_t exec_stream; /* 0: none */
	int io[3];	      /* the exec process's stdio, owned */
};

struct sm_mon {
	const struct sm_monitor_opts *o;
	struct sm_sandbox *sb;
	struct sm_bind_shares binds;
	struct sm_bind_shares padded; /* binds + the template layout's unused shares */
	struct sm_agent_client *agent;
	enum sm_oci_status status;
	int exit_status;
	uint32_t guest_pid;
	uint32_t next_stream;
	int listen_fd, sfd;
	bool shutdown;
	bool restored;		  /* from a snapshot (template or checkpoint) rather than booted */
	bool reattached;	  /* restored from a checkpoint: the init process runs already */
	const char *snapshot_dir; /* restored instead of booting: a template or an imported checkpoint */
	uint32_t cid;		  /* the guest's vsock CID (monitor-cid.c) */
	int cid_lock_fd;	  /* holds the CID host-wide; -1 when none */
	int cid_dir_fd;		  /* the lock file's directory (unlinked through it, from inside the jail) */
	struct sm_mon_client clients[SM_MON_MAX_CLIENTS];
	size_t nclients;
	/* terminal: host input is fed to the console only once the process has opened hvc0 */
	int cons_pipe[2];
	bool feed_console;
	char inbuf[4096];
	size_t inlen, inoff;
	struct winsize ws;
	/* UPDATE of a paused container: guest limits sent to the agent at RESUME (0: none). */
	struct sm_guest_limits pending_limits;
};

/* How long the monitor waits for one agent request: generous, and scaled with its boot timeout. */
static inline int sm_mon_agent_ms(const struct sm_mon *m)
{
	return sm_mon_agent_timeout_ms(m->o->boot_timeout_ns);
}

/* Connect to the agent's vsock port, giving up early when the VM stops (monitor.c). */
int sm_mon_connect_agent(struct sm_mon *m, int *fd, sm_error_t *err);

/*
 * Get a sandbox whose agent answered HELLO: restore m->snapshot_dir (a template or, for
 * `restore`, the imported checkpoint, which must restore) or boot, then confine the process
 * (monitor.c). m->restored says which happened.
 */
int sm_mon_boot_sandbox(struct sm_mon *m, sm_error_t *err);

/* Pause (true) or resume the VM and record the status (monitor.c). */
int sm_mon_pause(struct sm_mon *m, bool pause, sm_error_t *err);

/* Write <state dir>/exit-status with m->exit_status (monitor.c). */
void sm_mon_write_exit_file(struct sm_mon *m);

/*
 * CHECKPOINT (monitor-checkpoint.c): snapshot the VM into the request's image directory (state
 * file, memory as a compressed image, checkpoint.json), then let the VM go on (LEAVE_RUNNING) with
 * the agent reconnected, or stop it (m->shutdown is set; the container is stopped). A failed
 * snapshot leaves the container running.
 */
int sm_mon_checkpoint(struct sm_mon *m, const struct sm_mon_msg *msg, sm_error_t *err);

/*
 * The monitor of `restore` (monitor-checkpoint.c): import m->o->restore_image into the state
 * directory as a snapshot, restore the VM from it, reconnect to the agent and re-attach the init
 * process's stdio. The container is then `created` with m->reattached set: START only marks it
 * running.
 */
int sm_mon_restore_checkpoint(struct sm_mon *m, sm_error_t *err);

/*
 * Pick the guest's vsock CID and hold it for the monitor's life (monitor-cid.c): a hash of the
 * state directory, moved on while another live monitor on this host holds that CID (a lock file
 * in sm_mon_cid_dir()). Never fails: without the lock directory the hashed CID is used unlocked
 * (a warning is logged). Sets m->cid and m->cid_lock_fd; writes <state dir>/vsock-cid. Call it
 * before the jail (sm_jail_enter), which hides the lock directory.
 */
void sm_mon_cid_claim(struct sm_mon *m);

/* Give the CID back (the lock file is removed). Safe to call twice. */
void sm_mon_cid_release(struct sm_mon *m);

/* The host-wide directory of CID lock files (malloc'd): /run/sm-runtime-vsock-cids for root. */
char *sm_mon_cid_dir(void);

/* The first CID tried for a state directory: 4..0xfffffffe, a hash of the path. */
uint32_t sm_mon_cid_hash(const char *state_dir);

#endif
