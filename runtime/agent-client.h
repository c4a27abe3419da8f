/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_AGENT_CLIENT_H
#define SM_RUNTIME_AGENT_CLIENT_H

/*
 * The host side of the guest agent protocol (docs/design/guest-protocol.md, agent.md).
 *
 * A client owns one connection. Its core is non-blocking: sm_agent_client_fd() is one pollable
 * fd (an epoll set over the connection and the attached stdio fds) that becomes readable when
 * sm_agent_client_step() has work, so the VMM can multiplex it with its other fds. Requests are
 * queued with sm_agent_client_send(); replies, exits and PS results are collected as frames arrive
 * and read with sm_agent_client_reply()/sm_agent_client_exited(). On top of that the blocking
 * calls (create, start, exec, signal, ps, wait, ...) step until their answer arrived.
 *
 * Stdio: sm_agent_client_attach() relays host fds for a stream: in_fd's bytes go to the process
 * (STDIN, then STDIN_CLOSE at EOF), STDOUT/STDERR are written to out_fd/err_fd. The fds are set
 * O_NONBLOCK while attached and restored when the stream is released. Flow control is the
 * protocol's window (SM_PROTO_STREAM_WINDOW): a slow host fd or a process that does not read its
 * stdin never holds up the replies on the connection.
 *
 * One request per stream at a time; stream 0 is for connection requests (PS, SHUTDOWN).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/proto.h"

struct sm_agent_client;

/* Host fds relayed for one stream; -1 = not relayed (no stdin: EOF at once; no output: dropped). */
struct sm_agent_stdio {
	int in_fd, out_fd, err_fd;
};

/*
 * Connect to a VM's hybrid vsock Unix socket and open guest port: "CONNECT <port>\n", answered
 * "OK <host port>\n". The VMM closes the connection while nothing listens in the guest yet
 * (booting), so this retries every 20 ms until timeout_ms. Returns the connected fd.
 */
int sm_agent_connect_hybrid(const char *path, uint32_t port, int timeout_ms, sm_error_t *err);

/* Wrap a connected stream fd, which the client takes over (closed by sm_agent_client_free). */
int sm_agent_client_new(int conn_fd, struct sm_agent_client **out, sm_error_t *err);

/* Release the streams (restoring their fds' flags) and close the connection. NULL is ok. */
void sm_agent_client_free(struct sm_agent_client *c);

/*
 * Called when a process's EXIT has arrived and its output has been written out; status is the
 * exit code or 128+signal. Optional (the VMM's way to learn about exits without polling).
 */
typedef void (*sm_agent_exit_fn)(void *opaque, uint32_t stream, int status);
void sm_agent_client_on_exit(struct sm_agent_client *c, sm_agent_exit_fn fn, void *opaque);

/* ---- non-blocking core ---- */

/* The pollable fd: readable when sm_agent_client_step() should be called. */
int sm_agent_client_fd(const struct sm_agent_client *c);

/*
 * Wait up to timeout_ms (0: do not wait, -1: forever) for events and handle them: frames from
 * the agent, stdio relays, queued output. Returns 0, or <0 with err set when the connection broke
 * (EOF, protocol error, a version the client does not speak); later calls fail the same way.
 */
int sm_agent_client_step(struct sm_agent_client *c, int timeout_ms, sm_error_t *err);

/* Queue HELLO; the agent's HELLO and READY arrive through step (see sm_agent_client_ready). */
void sm_agent_client_send_hello(struct sm_agent_client *c);
/* True once the agent's READY arrived. */
bool sm_agent_client_ready(const struct sm_agent_client *c);

/* Relay host fds for stream (before its CREATE/EXEC, so no output is lost). */
int sm_agent_client_attach(struct sm_agent_client *c, uint32_t stream, const struct sm_agent_stdio *io,
			   sm_error_t *err);

/*
 * Queue one frame: type (SM_MSG_*), stream, payload (TLV fields, or raw bytes for STDIN/SEED).
 * A request that expects an answer (CREATE, START, EXEC, SIGNAL, PS, SHUTDOWN, SET_TIME) marks the stream's
 * reply as pending.
 */
int sm_agent_client_send(struct sm_agent_client *c, uint16_t type, uint32_t stream, const void *payload,
			 size_t len, sm_error_t *err);

/*
 * The answer to the last request on stream: 0 while pending, 1 for OK (*pid set when the agent
 * sent one, else 0), <0 for ERROR with err = the agent's errno and message. Reading an answer
 * consumes it.
 */
int sm_agent_client_reply(struct sm_agent_client *c, uint32_t stream, uint32_t *pid, sm_error_t *err);

/*
 * True when the process of stream has exited and its output has been written to the host fds;
 * *status = exit code or 128+signal.
 */
bool sm_agent_client_exited(const struct sm_agent_client *c, uint32_t stream, int *status);

/* Forget a stream (after its exit was collected): detach its fds and restore their flags. */
void sm_agent_client_release(struct sm_agent_client *c, uint32_t stream);

/* ---- blocking calls; timeout_ms -1 = no limit ---- */

/* HELLO exchange (version check) and wait for READY. */
int sm_agent_client_handshake(struct sm_agent_client *c, int timeout_ms, sm_error_t *err);

/* CREATE with payload from sm_agent_spec_create(); io may be NULL. *pid: the guest pid. */
int sm_agent_client_create(struct sm_agent_client *c, uint32_t stream, const struct sm_buf *payload,
			   const struct sm_agent_stdio *io, uint32_t *pid, int timeout_ms, sm_error_t *err);
int sm_agent_client_start(struct sm_agent_client *c, uint32_t stream, int timeout_ms, sm_error_t *err);
/* EXEC with payload from sm_agent_spec_process(). */
int sm_agent_client_exec(struct sm_agent_client *c, uint32_t stream, const struct sm_buf *payload,
			 const struct sm_agent_stdio *io, uint32_t *pid, int timeout_ms, sm_error_t *err);
/* Signal the stream's process, or with all every container process. */
int sm_agent_client_signal(struct sm_agent_client *c, uint32_t stream, int signo, bool all, int timeout_ms,
			   sm_error_t *err);
/*
 * Resize the stream's terminal: TIOCSWINSZ on its guest pty, which sends the process SIGWINCH.
 * No answer is expected; rows and cols must be 1..65535 (EINVAL, nothing sent), since the agent
 * would answer a bad size with an ERROR that belongs to no request.
 */
int sm_agent_client_resize(struct sm_agent_client *c, uint32_t stream, uint32_t rows, uint32_t cols,
			   sm_error_t *err);
/* The guest pids of the container's processes, sorted (*pids malloc'd). */
int sm_agent_client_ps(struct sm_agent_client *c, uint32_t **pids, size_t *n, int timeout_ms,
		       sm_error_t *err);
/*
 * The same, and the PS_REPLY payload as the agent sent it (*raw, to be freed with sm_buf_free):
 * the pids and, from a newer agent, one SM_TAG_PROC per process with what `ps -ef` shows
 * (decoded by runtime/ps-table.h). An older agent's payload holds the pids only.
 */
int sm_agent_client_ps_full(struct sm_agent_client *c, uint32_t **pids, size_t *n, struct sm_buf *raw,
			    int timeout_ms, sm_error_t *err);
/* Fresh entropy for the guest RNG (1..4096 bytes). */
int sm_agent_client_seed(struct sm_agent_client *c, const void *data, size_t len, sm_error_t *err);
/*
 * Set the guest's CLOCK_REALTIME to the host's (SET_TIME on stream 0, after a snapshot restore:
 * the guest wakes with the clock of the moment it was saved); waits for the agent's OK. Fails with
 * err->code EOPNOTSUPP, sending nothing and leaving the connection usable, when the agent did not
 * announce SM_AGENT_FEATURE_SET_TIME in its HELLO (an older agent would drop the connection on
 * the unknown frame type): callers treat that as a warning. ENOTCONN before the handshake; the
 * agent's errno (EPERM, EINVAL) when it refused.
 */
int sm_agent_client_set_time(struct sm_agent_client *c, int timeout_ms, sm_error_t *err);
/* New limits for the container's guest cgroup: 0 = leave as is, SM_LIMIT_UNLIMITED = "max". */
struct sm_guest_limits {
	uint64_t pids;	 /* pids.max */
	uint64_t memory; /* memory.max, before the agent clamps it (sm_agent_memory_max) */
};

/* The UPDATE payload for l (PIDS_LIMIT, MEMORY_LIMIT); EINVAL when l changes nothing. */
int sm_agent_update_encode(struct sm_buf *b, const struct sm_guest_limits *l, sm_error_t *err);

/* True once the handshake is done and the agent announced every SM_AGENT_FEATURE_* bit in feature. */
bool sm_agent_client_has_feature(const struct sm_agent_client *c, uint32_t feature);

/*
 * OOM kills in the container's guest cgroup that the agent reported (SM_MSG_OOM, a running total
 * kept as its maximum): read as frames arrive, so as current as the last pump of the connection.
 */
uint64_t sm_agent_client_oom_kills(const struct sm_agent_client *c);

/*
 * Change the limits of the container's guest cgroup (UPDATE on stream 0; the agent creates the
 * cgroup when CREATE made none) and wait for the OK. Fails with err->code EOPNOTSUPP, sending
 * nothing, when the agent did not announce SM_AGENT_FEATURE_UPDATE (an older agent would drop the
 * connection on the unknown frame type); ENOTCONN before the handshake; the agent's errno otherwise
 * (ESRCH: the container has stopped).
 */
int sm_agent_client_update(struct sm_agent_client *c, const struct sm_guest_limits *l, int timeout_ms,
			   sm_error_t *err);
/* Ask the agent to kill everything and stop; waits for its OK. */
int sm_agent_client_shutdown(struct sm_agent_client *c, int timeout_ms, sm_error_t *err);
/* Wait for the stream's EXIT (output relayed), then release the stream. */
int sm_agent_client_wait(struct sm_agent_client *c, uint32_t stream, int *status, int timeout_ms,
			 sm_error_t *err);

#endif
