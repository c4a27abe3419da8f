/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_MONITOR_PROTO_H
#define SM_RUNTIME_MONITOR_PROTO_H

/*
 * The control protocol of a container's monitor (the per-container VMM process, runtime/monitor.h),
 * spoken over the Unix stream socket <state dir>/monitor.sock by the sm-runtime commands.
 * Framing is common/proto.h's (12-byte header + TLV payload) with the message types below (all
 * below SM_MSG_TYPE_MAX, so sm_frame_hdr_decode accepts them). A client sends one request and reads
 * its reply: OK (maybe PID, STREAM), ERROR (ERRNO, MESSAGE), STATUS_REPLY or PS_REPLY. EXEC carries
 * the client's stdin/stdout/stderr as SCM_RIGHTS on the request's first byte; its OK is followed,
 * on the same connection, by EXIT (STATUS) when the process ends. See docs/design/lifecycle.md.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/proto.h"

/*
 * How long the monitor waits for one guest agent request, given the boot timeout of its VM
 * (SM_BOOT_TIMEOUT_S, 600 s by default): 120 s, scaled up in proportion when the boot timeout is
 * above its default. A request is a small part of the work of a boot, but on a host slow enough
 * that the tests or CI raise SM_BOOT_TIMEOUT_S, the guest (whose kernel code is emulated) is as
 * much slower at answering requests as it is at booting. Never below 120 s: a short boot
 * timeout says a boot must be quick, not that a loaded guest answers any faster.
 */
int sm_mon_agent_timeout_ms(int64_t boot_timeout_ns);
#define SM_MON_DEFAULT_BOOT_TIMEOUT_S 600

/*
 * How long a client waits for an answer that involves the guest agent: 60 s longer than the
 * monitor's agent timeout for the SM_BOOT_TIMEOUT_S in the client's environment (the monitor got
 * the one of `create`'s), so the monitor's error, not a client timeout, is what is reported.
 */
int sm_mon_call_timeout_ms(void);
#define SM_MON_CALL_TIMEOUT_MS sm_mon_call_timeout_ms()

enum sm_mon_type {
	SM_MON_START = 1,  /* created -> running */
	SM_MON_KILL = 2,   /* SIGNAL, ALL (u32 0/1), STREAM (0 or absent: the container process) */
	SM_MON_STATUS = 3, /* -> STATUS_REPLY */
	SM_MON_PS = 4,	   /* -> PS_REPLY */
	SM_MON_PAUSE = 5,  /* vCPUs stopped */
	SM_MON_RESUME = 6,
	SM_MON_EXEC = 7,     /* PROCESS (the agent EXEC payload), 3 fds -> OK (PID, STREAM), later EXIT */
	SM_MON_SHUTDOWN = 8, /* kill everything, stop the VM, exit -> OK first */
	SM_MON_OK = 9,
	SM_MON_ERROR = 10,
	SM_MON_STATUS_REPLY = 11, /* STATE (enum sm_oci_status), EXIT_STATUS when stopped, PID */
	SM_MON_PS_REPLY = 12,	  /* PID repeated, PS_INFO */
	SM_MON_EXIT = 13,	  /* STATUS: an exec'd process ended */
	/* IMAGE_PATH (absolute dir, for messages), LEAVE_RUNNING (u32 0/1), the dir as 1 fd:
	 * snapshot the VM into it (docs/design/lifecycle.md, "Checkpoint and restore") -> OK;
	 * without LEAVE_RUNNING the monitor then stops the VM and exits. */
	SM_MON_CHECKPOINT = 14,
	/* ROWS, COLS: the exec's terminal (on the EXEC connection) was resized -> OK (helper G) */
	SM_MON_RESIZE = 15,
	/* PIDS_LIMIT, MEMORY_LIMIT (u64 each, at least one; SM_LIMIT_UNLIMITED = "max"): change the
	 * container's guest cgroup (the agent's UPDATE) -> OK, with DEFERRED 1 when the container is
	 * paused (the limits are sent to the agent at RESUME). */
	SM_MON_UPDATE = 16,
	SM_MON_TYPE_MAX
};

enum sm_mon_tag {
	SM_MON_TAG_SIGNAL = 1,
	SM_MON_TAG_ALL = 2,
	SM_MON_TAG_STREAM = 3,
	SM_MON_TAG_STATE = 4,
	SM_MON_TAG_EXIT_STATUS = 5,
	SM_MON_TAG_PID = 6,
	SM_MON_TAG_ERRNO = 7,
	SM_MON_TAG_MESSAGE = 8,
	SM_MON_TAG_PROCESS = 9,
	SM_MON_TAG_STATUS = 10,
	SM_MON_TAG_IMAGE_PATH = 11,    /* CHECKPOINT: string, no NUL */
	SM_MON_TAG_LEAVE_RUNNING = 12, /* CHECKPOINT: u32 0/1 */
	SM_MON_TAG_ROWS = 13,	       /* RESIZE: u32 1..65535 */
	SM_MON_TAG_COLS = 14,	       /* RESIZE: u32 1..65535 */
	SM_MON_TAG_PS_INFO = 15,       /* PS_REPLY: the agent's PS_REPLY payload (its own tags) */
	SM_MON_TAG_PIDS_LIMIT = 16,    /* UPDATE: u64 */
	SM_MON_TAG_MEMORY_LIMIT = 17,  /* UPDATE: u64 */
	SM_MON_TAG_DEFERRED = 18,      /* OK of UPDATE: u32 1 = applied at resume */
	SM_MON_TAG_GUEST_OOM = 19,     /* STATUS_REPLY: u64 OOM kills in the guest cgroup (agents with
					  SM_AGENT_FEATURE_OOM only) */
};

/* A received message; payload is malloc'd, fds are owned by the receiver (-1 when absent). */
struct sm_mon_msg {
	struct sm_frame_hdr hdr;
	uint8_t *payload;
	int fds[3];
	size_t nfds;
};

/* Free the payload and close fds still owned by m. */
void sm_mon_msg_clear(struct sm_mon_msg *m);

/* Send one frame (payload may be NULL), with nfds (<= 3) fds attached as SCM_RIGHTS. */
int sm_mon_send(int fd, uint16_t type, uint32_t stream, const struct sm_buf *payload, const int *fds,
		size_t nfds, sm_error_t *err);

/*
 * Receive one frame within timeout_ms (-1: no limit). Returns 1 with *m filled, 0 at EOF before a
 * header, <0 on errors (a bad header, a short frame, a timeout).
 */
int sm_mon_recv(int fd, struct sm_mon_msg *m, int timeout_ms, sm_error_t *err);

/* Send ERROR (errno code, message) for a failed request. */
int sm_mon_send_error(int fd, uint32_t stream, const sm_error_t *e, sm_error_t *err);

/* Connect to a monitor's control socket (path may be a /proc/self/fd/N/... path). */
int sm_mon_connect(const char *path, sm_error_t *err);

/*
 * Send a request and wait for its answer; ERROR becomes a failure with the monitor's message. The
 * reply (OK, STATUS_REPLY, PS_REPLY) is left in *reply when not NULL.
 */
int sm_mon_call(int fd, uint16_t type, const struct sm_buf *payload, const int *fds, size_t nfds,
		struct sm_mon_msg *reply, int timeout_ms, sm_error_t *err);

/* The first u32 field with tag in m's payload: 1 found, 0 absent, <0 malformed. */
int sm_mon_get_u32(const struct sm_mon_msg *m, uint16_t tag, uint32_t *out);

/* The first u64 field with tag in m's payload: 1 found, 0 absent, <0 malformed. */
int sm_mon_get_u64(const struct sm_mon_msg *m, uint16_t tag, uint64_t *out);

#endif
