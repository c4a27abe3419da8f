/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for what the host parses from the guest agent (runtime/agent-client.c: frames
 * on the connection, HELLO, OK, ERROR, EXIT, CREDIT, STDOUT/STDERR, PS_REPLY) and the ps table
 * decoder behind `sm-runtime ps` (runtime/ps-table.c). The TLV primitives alone are the `proto`
 * target; this one drives the real client over a socketpair. The first input byte picks a mode:
 *   bit 7 set:   the rest is a PS_REPLY payload for sm_ps_decode() and sm_ps_print() (both the
 *                default format and every -o field);
 *   bit 7 clear: the rest is what the agent sends, written to the peer end of the connection,
 *                which is then shut down (so every wait ends); the client does a handshake (bit 0),
 *                an EXEC on stream 1 with stdout/stderr attached (bit 1: to pipes nobody reads,
 *                else to /dev/null), a PS (sm_agent_client_ps_full, the reply decoded as above),
 *                then waits for stream 1's exit (bit 2).
 *
 * Seeds: `SM_FUZZ_MKSEEDS=DIR ./agent_client_fuzz` writes agent conversations and PS replies built
 * with the protocol encoders the agent uses (common/proto.h), the PS entries filled from this
 * host's real /proc/self, then exits; tests/fuzz/corpus/agent_client/ holds its output.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/proto-tags.h"
#include "common/proto.h"
#include "runtime/agent-client.h"
#include "runtime/ps-table.h"

#define MAX_CONV (128u * 1024) /* fits the socket buffer: the write never blocks */
#define WAIT_MS 2000	       /* never reached: the peer's shutdown ends every wait */

static FILE *devnull;
static struct sm_ps_format *fmt_default, *fmt_all;

static void ps_payload(const uint8_t *p, size_t len)
{
	struct sm_ps_list l;
	sm_error_t err = SM_ERROR_INIT;

	if (sm_ps_decode(p, len, &l, &err) == 0) {
		sm_ps_print(devnull, fmt_default, &l, 1700000000);
		sm_ps_print(devnull, fmt_all, &l, 1700000000);
	}
	sm_ps_list_free(&l);
}

static void on_exit_cb(void *opaque, uint32_t stream, int status)
{
	(void)stream;
	(void)status;
	++*(int *)opaque;
}

static void conversation(uint8_t mode, const uint8_t *data, size_t size)
{
	struct sm_agent_client *c;
	struct sm_agent_stdio io = {-1, -1, -1};
	struct sm_buf exec = {0}, raw = {0};
	sm_error_t err = SM_ERROR_INIT;
	int sv[2], pipes[2] = {-1, -1}, exits = 0, status;
	uint32_t pid, *pids = NULL;
	size_t npids = 0;

	if (size > MAX_CONV)
		size = MAX_CONV;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (size > 0 && write(sv[1], data, size) != (ssize_t)size)
		abort();
	shutdown(sv[1], SHUT_WR);
	if (sm_agent_client_new(sv[0], &c, &err) < 0)
		abort();
	sm_agent_client_on_exit(c, on_exit_cb, &exits);
	if ((mode & 1) && sm_agent_client_handshake(c, WAIT_MS, &err) < 0)
		goto out;
	if (mode & 2) {
		if (pipe2(pipes, O_CLOEXEC) < 0)
			abort();
		io.out_fd = io.err_fd = pipes[1];
	} else {
		io.out_fd = io.err_fd = fileno(devnull);
	}
	if (sm_tlv_put_str(&exec, SM_TAG_ARG, "true") < 0 || sm_tlv_put_str(&exec, SM_TAG_CWD, "/") < 0)
		abort();
	(void)sm_agent_client_exec(c, 1, &exec, &io, &pid, WAIT_MS, &err);
	if (sm_agent_client_ps_full(c, &pids, &npids, &raw, WAIT_MS, &err) == 0) {
		if ((npids > 0) != (pids != NULL))
			abort();
		ps_payload(raw.data, raw.len);
	}
	/* wait releases the stream: it is not reported as exited again. */
	if ((mode & 4) && sm_agent_client_wait(c, 1, &status, WAIT_MS, &err) == 0 &&
	    sm_agent_client_exited(c, 1, NULL))
		abort();
out:
	free(pids);
	sm_buf_free(&raw);
	sm_buf_free(&exec);
	sm_agent_client_free(c); /* closes sv[0] */
	close(sv[1]);
	if (pipes[0] >= 0) {
		close(pipes[0]);
		close(pipes[1]);
	}
}

/* ---- seeds ------------------------------------------------------------------------------------ */

static void frame(struct sm_buf *b, uint16_t type, uint32_t stream, const struct sm_buf *payload)
{
	size_t off = sm_frame_begin(b, type, stream);

	if (payload != NULL && sm_buf_put(b, payload->data, payload->len) < 0)
		abort();
	sm_frame_end(b, off);
}

static void frame_u32(struct sm_buf *b, uint16_t type, uint32_t stream, uint16_t tag, uint32_t v)
{
	struct sm_buf p = {0};

	sm_tlv_put_u32(&p, tag, v);
	frame(b, type, stream, &p);
	sm_buf_free(&p);
}

/* A PS_REPLY payload like the agent's: the pid list, then one SM_TAG_PROC per process. */
static void ps_reply(struct sm_buf *p)
{
	static const uint32_t pids[] = {1, 7, 42};
	char comm[64] = "sh", cmdline[256];
	ssize_t n = -1;
	int fd;

	fd = open("/proc/self/comm", O_RDONLY);
	if (fd >= 0 && (n = read(fd, comm, sizeof(comm) - 1)) > 0)
		comm[n - 1] = '\0';
	if (fd >= 0)
		close(fd);
	fd = open("/proc/self/cmdline", O_RDONLY);
	n = fd >= 0 ? read(fd, cmdline, sizeof(cmdline)) : -1;
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; i < 3; i++)
		sm_tlv_put_u32(p, SM_TAG_PID, pids[i]);
	for (size_t i = 0; i < 3; i++) {
		struct sm_buf e = {0};
		size_t start = 0;

		sm_tlv_put_u32(&e, SM_TAG_PROC_PID, pids[i]);
		sm_tlv_put_u32(&e, SM_TAG_PROC_PPID, i == 0 ? 0 : 1);
		sm_tlv_put_u32(&e, SM_TAG_PROC_PGID, pids[i]);
		sm_tlv_put_u32(&e, SM_TAG_PROC_SID, 1);
		sm_tlv_put_u32(&e, SM_TAG_PROC_UID, (uint32_t)getuid());
		sm_tlv_put_u32(&e, SM_TAG_PROC_GID, (uint32_t)getgid());
		sm_tlv_put_u32(&e, SM_TAG_PROC_STATE, i == 2 ? 'Z' : 'S');
		sm_tlv_put_u32(&e, SM_TAG_PROC_TTY, i == 1 ? 0x8800 : 0);
		sm_tlv_put_u32(&e, SM_TAG_PROC_NICE, (uint32_t)-5);
		sm_tlv_put_u32(&e, SM_TAG_PROC_THREADS, 1 + (uint32_t)i);
		sm_tlv_put_u64(&e, SM_TAG_PROC_START, 1700000000 - 3600 * i);
		sm_tlv_put_u64(&e, SM_TAG_PROC_ELAPSED_MS, 3600000 * i + 1234);
		sm_tlv_put_u64(&e, SM_TAG_PROC_CPU_MS, 5000);
		sm_tlv_put_u64(&e, SM_TAG_PROC_VSZ_KB, 10240);
		sm_tlv_put_u64(&e, SM_TAG_PROC_RSS_KB, 2048);
		sm_tlv_put_str(&e, SM_TAG_PROC_COMM, comm);
		for (ssize_t k = 0; i != 2 && k < n; k++) {
			if (cmdline[k] != '\0')
				continue;
			sm_tlv_put(&e, SM_TAG_PROC_ARG, cmdline + start, (uint32_t)((size_t)k - start));
			start = (size_t)k + 1;
		}
		sm_tlv_put(p, SM_TAG_PROC, e.data, (uint32_t)e.len);
		sm_buf_free(&e);
	}
}

static void write_seed(const char *dir, const char *name, uint8_t mode, const struct sm_buf *b)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL || fwrite(&mode, 1, 1, f) != 1 || fwrite(b->data, 1, b->len, f) != b->len ||
	    fclose(f) != 0)
		abort();
}

static void make_seeds(const char *dir)
{
	struct sm_buf conv = {0}, p = {0}, ps = {0};

	ps_reply(&ps);
	write_seed(dir, "ps-reply", 0x80, &ps);

	/* HELLO, READY, OK (pid 7) to EXEC, output, CREDIT, PS_REPLY, EXIT 3. */
	sm_tlv_put_u32(&p, SM_TAG_VERSION, SM_PROTO_VERSION);
	sm_tlv_put_u32(&p, SM_TAG_FEATURES, SM_AGENT_FEATURE_SET_TIME);
	sm_tlv_put_str(&p, SM_TAG_AGENT, "sm-agent");
	frame(&conv, SM_MSG_HELLO, 0, &p);
	sm_buf_free(&p);
	frame(&conv, SM_MSG_READY, 0, NULL);
	frame_u32(&conv, SM_MSG_OK, 1, SM_TAG_PID, 7);
	sm_buf_put(&p, "hello from the guest\n", 21);
	frame(&conv, SM_MSG_STDOUT, 1, &p);
	frame(&conv, SM_MSG_STDERR, 1, &p);
	sm_buf_free(&p);
	frame_u32(&conv, SM_MSG_CREDIT, 1, SM_TAG_CREDIT, 4096);
	frame(&conv, SM_MSG_PS_REPLY, 0, &ps);
	frame_u32(&conv, SM_MSG_EXIT, 1, SM_TAG_STATUS, 3);
	write_seed(dir, "exec-ps-exit", 7, &conv);
	write_seed(dir, "exec-ps-exit-pipes", 5, &conv);
	sm_buf_free(&conv);

	/* The EXEC fails: ERROR with errno and message. */
	sm_tlv_put_u32(&p, SM_TAG_VERSION, SM_PROTO_VERSION);
	frame(&conv, SM_MSG_HELLO, 0, &p);
	sm_buf_free(&p);
	frame(&conv, SM_MSG_READY, 0, NULL);
	sm_tlv_put_u32(&p, SM_TAG_ERRNO, ENOENT);
	sm_tlv_put_str(&p, SM_TAG_MESSAGE, "exec `true`: No such file or directory");
	frame(&conv, SM_MSG_ERROR, 1, &p);
	sm_buf_free(&p);
	frame(&conv, SM_MSG_PS_REPLY, 0, &ps);
	write_seed(dir, "exec-error", 1, &conv);
	sm_buf_free(&conv);

	/* A HELLO of another protocol version. */
	frame_u32(&conv, SM_MSG_HELLO, 0, SM_TAG_VERSION, SM_PROTO_VERSION + 1);
	write_seed(dir, "hello-version", 1, &conv);
	sm_buf_free(&conv);
	sm_buf_free(&ps);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char o[] = "-o";
	static char fields[] =
	    "pid,ppid,pgid,pgrp,sid,sess,session,uid,euid,user,euser,uname,gid,egid,group,egroup,comm,ucomm,"
	    "ucmd,args,cmd,command,stat,s,state,tty,tt,tname,time,cputime,etime,etimes,stime,start_time,c,"
	    "pcpu,rss,rssize,rsz,vsz,vsize,nice,ni,nlwp,thcount";
	char *args[] = {o, fields};
	const char *seeds = getenv("SM_FUZZ_MKSEEDS");
	sm_error_t err = SM_ERROR_INIT;

	(void)argc;
	(void)argv;
	if (seeds != NULL) {
		make_seeds(seeds);
		exit(0);
	}
	devnull = fopen("/dev/null", "w");
	if (devnull == NULL || sm_ps_format_parse(NULL, 0, &fmt_default, &err) < 0 ||
	    sm_ps_format_parse(args, 2, &fmt_all, &err) < 0) {
		fprintf(stderr, "agent_client_fuzz: %s\n", err.msg);
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 0x80)
		ps_payload(data + 1, size - 1);
	else
		conversation(data[0], data + 1, size - 1);
	return 0;
}
