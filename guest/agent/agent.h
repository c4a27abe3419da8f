/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_GUEST_AGENT_AGENT_H
#define SM_GUEST_AGENT_AGENT_H

/*
 * The guest agent: serves the host's requests (docs/design/agent.md, guest-protocol.md) over one
 * stream connection at a time: creates the container and its processes, relays their stdio and
 * reports their exits. In the guest it runs inside sm-init (PID 1) on a vsock connection; in the
 * host tests it runs as an ordinary process on any connected stream fd (a socketpair).
 *
 * The agent is single-threaded and must own SIGCHLD: it blocks SIGCHLD and reads it from a
 * signalfd, reaps every child (it is PID 1 in the guest, or a child subreaper elsewhere) and
 * ignores SIGPIPE. The processes it starts get default signal dispositions and an empty mask.
 */
#include <stdint.h>
#include <time.h>

#include "common/error.h"

struct sm_agent;

/* Sets CLOCK_REALTIME for SET_TIME: returns 0 or -errno. */
typedef int (*sm_agent_set_clock_fn)(void *opaque, const struct timespec *ts);

struct sm_agent_opts {
	/* Directory where virtio-fs shares are mounted before pivot_root (created; default "/run/sm"). */
	const char *staging_dir;
	/* Diagnostics (protocol errors, dropped connections) are written here as lines; -1 = none. */
	int log_fd;
	/*
	 * SET_TIME's clock setter; NULL (the guest) = clock_settime(CLOCK_REALTIME). The host tests
	 * inject one that records the value: setting the test machine's clock is not an option.
	 */
	sm_agent_set_clock_fn set_clock;
	void *set_clock_opaque;
};

/*
 * Create an agent: block SIGCHLD into a signalfd, ignore SIGPIPE, become a child subreaper when
 * not PID 1. opts may be NULL for the defaults.
 */
int sm_agent_new(const struct sm_agent_opts *opts, struct sm_agent **out, sm_error_t *err);

/*
 * Serve one connection (any connected stream fd, which the agent takes over and closes) until
 * the host disconnects, breaks the protocol, or sends SHUTDOWN. Container processes survive a
 * disconnect; a later sm_agent_serve() on a new connection carries on with them (exits that
 * happened meanwhile are reported after the new handshake). Returns 1 after SHUTDOWN (every
 * container process has been killed and reaped), 0 after a disconnect, <0 on an internal error.
 */
int sm_agent_serve(struct sm_agent *a, int conn_fd, sm_error_t *err);

/*
 * Accept connections on listen_fd one at a time and serve each, reaping children while no host
 * is connected, until a SHUTDOWN. Returns 0 after SHUTDOWN, <0 on an internal error.
 */
int sm_agent_run(struct sm_agent *a, int listen_fd, sm_error_t *err);

/* Kill (SIGKILL) and reap every container process, close everything and free a. NULL is ok. */
void sm_agent_free(struct sm_agent *a);

/* Listen on AF_VSOCK port (any CID) with a backlog of 4; returns the listening fd. */
int sm_agent_listen_vsock(uint32_t port, sm_error_t *err);

/*
 * The entry point for sm-init when the kernel command line has `sm.agent`: listen on vsock port
 * SM_AGENT_PORT (unless listen_fd >= 0 is given), serve until SHUTDOWN, kill what is left and
 * sync. Returns 0 when the guest should power off normally, 1 after an error (already written
 * on stderr, the console). sm-init then reboots (reboot=t ends the VM).
 */
int sm_agent_main(int listen_fd);

#endif
