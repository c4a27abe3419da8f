/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_GUEST_AGENT_INTERNAL_H
#define SM_GUEST_AGENT_INTERNAL_H

/* Shared between the connection loop (agent.c) and the process table (proc.c). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/proto.h"
#include "guest/agent/agent.h"
#include "guest/agent/child.h"

/* At most this many processes (streams) at once: bounds the memory a host can make us use. */
#define SM_AGENT_MAX_PROCS 256
/* Stop reading requests while this much output waits for the host to read it. */
#define SM_AGENT_OUT_HIGH (1u << 20)
/* Read at most this much process output per read() (one STDOUT/STDERR frame). */
#define SM_AGENT_READ_CHUNK (64u * 1024)
/* The container's guest cgroup: this directory under the agent's cgroup2 mount (staging/cgroup). */
#define SM_AGENT_CGROUP_LEAF "container"

enum agent_proc_state {
	PROC_SETUP,   /* forked; its setup result has not arrived on sync_fd yet */
	PROC_CREATED, /* CREATE succeeded; the child waits for START on sync_fd */
	PROC_RUNNING, /* started (or exec'd) */
};

struct agent_proc {
	struct agent_proc *next;
	uint32_t stream;
	pid_t pid;
	uint16_t request; /* SM_MSG_CREATE or SM_MSG_EXEC */
	enum agent_proc_state state;
	bool terminal;
	int sync_fd;	      /* until started */
	int in_fd;	      /* stdin pipe or pty master; -1 once closed */
	int out_fd, err_fd;   /* stdout/stderr pipes (pty master dup for out, -1 err) */
	struct sm_buf in_buf; /* STDIN bytes not yet written */
	size_t in_off;
	bool in_close;	     /* STDIN_CLOSE seen: close in_fd when in_buf is written */
	uint32_t in_unacked; /* written to the process, not yet credited to the host */
	uint32_t out_credit; /* STDOUT+STDERR bytes the host accepts now */
	bool reaped;
	int wstatus;
	bool silent; /* setup failed: answered with ERROR, no EXIT */
};

struct sm_agent {
	char *staging_dir;
	int log_fd;
	sm_agent_set_clock_fn set_clock; /* never NULL */
	void *set_clock_opaque;
	int sigfd;
	int own_pidns;
	struct agent_proc *procs;
	size_t nprocs;

	/* The container (one per agent). */
	bool have_container;
	bool container_stopped; /* its first process ended */
	pid_t init_pid;
	uint32_t namespaces;
	int ns_fds[SM_AGENT_NS_COUNT];
	int root_fd, pidns_fd;
	int oom_fd;	   /* inotify on the guest cgroup's memory.events (oom.c); -1 until armed */
	uint64_t oom_sent; /* the oom_kill count last sent to the host */

	/* The current connection. */
	int conn;
	bool hello_done, conn_dead, shutdown;
	struct sm_buf out;
	size_t out_off;
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *chunk; /* SM_AGENT_READ_CHUNK bytes for process output */
};

/* Diagnostics to opts.log_fd. */
void agent_log(struct sm_agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Queue frames to the host; dropped while no connection is up. */
bool agent_connected(const struct sm_agent *a);
void agent_send_ok(struct sm_agent *a, uint32_t stream, uint32_t pid);
void agent_send_error(struct sm_agent *a, uint32_t stream, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void agent_send_data(struct sm_agent *a, uint16_t type, uint32_t stream, const void *data, size_t len);
void agent_send_u32(struct sm_agent *a, uint16_t type, uint32_t stream, uint16_t tag, uint32_t v);

/* Process table (proc.c). Requests answer with OK/ERROR themselves. */
struct agent_proc *agent_proc_find(struct sm_agent *a, uint32_t stream);
void agent_create(struct sm_agent *a, uint32_t stream, const uint8_t *payload, size_t len);
void agent_exec(struct sm_agent *a, uint32_t stream, const uint8_t *payload, size_t len);
void agent_start(struct sm_agent *a, uint32_t stream);
void agent_signal(struct sm_agent *a, uint32_t stream, const uint8_t *payload, size_t len);
void agent_resize(struct sm_agent *a, uint32_t stream, const uint8_t *payload, size_t len);
void agent_stdin(struct sm_agent *a, uint32_t stream, const uint8_t *data, size_t len);
void agent_stdin_close(struct sm_agent *a, uint32_t stream);
void agent_credit(struct sm_agent *a, uint32_t stream, const uint8_t *payload, size_t len);
void agent_ps(struct sm_agent *a, uint32_t stream);

/* The setup result of a child is readable on p->sync_fd. */
void agent_proc_sync_ready(struct sm_agent *a, struct agent_proc *p);
/* Move pending stdin into the process; read its output into STDOUT/STDERR frames. */
void agent_proc_write_stdin(struct sm_agent *a, struct agent_proc *p);
/* Returns bytes relayed, -EAGAIN when nothing is there (yet), 0 when fd was closed (all read). */
ssize_t agent_proc_read_output(struct sm_agent *a, struct agent_proc *p, int fd);
/* Reap every exited child (SIGCHLD arrived, or the caller polls). */
void agent_reap(struct sm_agent *a);
/* Drain the output of reaped processes and send their EXIT (needs a connection); frees them. */
void agent_finish_exited(struct sm_agent *a);
/* A new connection: the windows start afresh. */
void agent_procs_reset_flow(struct sm_agent *a);
/* SIGKILL every container process and reap them (bounded wait). */
void agent_kill_all(struct sm_agent *a);
/* Free the table (the processes must be gone or given up). */
void agent_procs_free(struct sm_agent *a);
/*
 * OOM events (oom.c): agent_oom_watch() arms (or re-arms) the watch on the container's guest
 * cgroup once it exists (after CREATE, after UPDATE); agent_oom_check() runs when the watch fires
 * and sends OOM with the new oom_kill total when it grew. Both never fail (diagnostics go to the
 * log). sm_agent_oom_kills_parse() takes oom_kill from memory.events text (0 without it). Pure.
 */
void agent_oom_watch(struct sm_agent *a);
void agent_oom_check(struct sm_agent *a);
/* Send the total so far again (a new connection: a restored VM's host starts from 0). */
void agent_oom_send(struct sm_agent *a);
uint64_t sm_agent_oom_kills_parse(const char *events);

/* SEED: credit the bytes to the guest's RNG. */
void agent_seed(struct sm_agent *a, const uint8_t *data, size_t len);

/*
 * UPDATE (proc.c): decode the payload, write the container's guest cgroup limits (creating the
 * cgroup and moving the container's processes in when CREATE made none), answer OK or ERROR.
 */
void agent_update(struct sm_agent *a, uint32_t stream, const uint8_t *payload, size_t len);

/* New guest cgroup limits of an UPDATE: 0 = leave as is, SM_LIMIT_UNLIMITED = "max". */
struct sm_agent_limits {
	uint64_t pids;
	uint64_t memory;
};

/*
 * Decode an UPDATE payload (rootfs.c): PIDS_LIMIT and MEMORY_LIMIT, u64, each at most once and
 * not 0, at least one of them; other tags are skipped. Returns NULL, or what is wrong.
 */
const char *sm_agent_update_decode(const uint8_t *payload, size_t len, struct sm_agent_limits *out);

/*
 * Apply l to the container's guest cgroup <staging_dir>/cgroup/container (rootfs.c): enable the
 * controllers needed, create the cgroup when it does not exist (*created = true), then write
 * pids.max and memory.max (clamped by sm_agent_memory_max(), "max" for SM_LIMIT_UNLIMITED). The
 * caller moves the processes in (sm_agent_cgroup_move()).
 */
int sm_agent_cgroup_update(const char *staging_dir, const struct sm_agent_limits *l, bool *created,
			   sm_error_t *err);

/*
 * Move pid (a whole thread group) into the container's guest cgroup: 1 moved, 0 when it already
 * was there or is gone (exited, a zombie), <0 on other errors.
 */
int sm_agent_cgroup_move(const char *staging_dir, pid_t pid, sm_error_t *err);

/* SET_TIME (clock.c): validate the payload, set CLOCK_REALTIME, answer OK or ERROR. */
void agent_set_time(struct sm_agent *a, uint32_t stream, const uint8_t *payload, size_t len);
/* The default clock setter: clock_settime(CLOCK_REALTIME); 0 or -errno. */
int agent_clock_settime(void *opaque, const struct timespec *ts);

#endif
