/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime/ps-table: decoding the agent's PS_REPLY (well-formed, from an older agent, malformed),
 * ps(1) option parsing (supported forms and refusals) and the table's columns and values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/proto-tags.h"
#include "common/proto.h"
#include "runtime/ps-table.h"
#include "tests/tap.h"

/* One SM_TAG_PROC entry. */
static void put_proc(struct sm_buf *b, uint32_t pid, uint32_t ppid, const char *comm, const char *const *args,
		     uint64_t start, uint64_t elapsed_ms, uint64_t cpu_ms)
{
	struct sm_buf e = {0};

	sm_tlv_put_u32(&e, SM_TAG_PROC_PID, pid);
	sm_tlv_put_u32(&e, SM_TAG_PROC_PPID, ppid);
	sm_tlv_put_u32(&e, SM_TAG_PROC_PGID, pid);
	sm_tlv_put_u32(&e, SM_TAG_PROC_SID, pid);
	sm_tlv_put_u32(&e, SM_TAG_PROC_UID, 0);
	sm_tlv_put_u32(&e, SM_TAG_PROC_GID, 0);
	sm_tlv_put_u32(&e, SM_TAG_PROC_STATE, 'S');
	sm_tlv_put_u32(&e, SM_TAG_PROC_TTY, (136u << 8) | 3u); /* pts/3 */
	sm_tlv_put_u32(&e, SM_TAG_PROC_NICE, 0);
	sm_tlv_put_u32(&e, SM_TAG_PROC_THREADS, 1);
	sm_tlv_put_u64(&e, SM_TAG_PROC_START, start);
	sm_tlv_put_u64(&e, SM_TAG_PROC_ELAPSED_MS, elapsed_ms);
	sm_tlv_put_u64(&e, SM_TAG_PROC_CPU_MS, cpu_ms);
	sm_tlv_put_u64(&e, SM_TAG_PROC_VSZ_KB, 2268);
	sm_tlv_put_u64(&e, SM_TAG_PROC_RSS_KB, 1380);
	sm_tlv_put_str(&e, SM_TAG_PROC_COMM, comm);
	for (size_t i = 0; args != NULL && args[i] != NULL; i++)
		sm_tlv_put_str(&e, SM_TAG_PROC_ARG, args[i]);
	sm_tlv_put_u32(&e, 200, 7); /* a field from a newer agent: skipped */
	sm_tlv_put(b, SM_TAG_PROC, e.data, (uint32_t)e.len);
	sm_buf_free(&e);
}

/* The table for args (NULL-terminated) over list, into a malloc'd string; NULL when refused. */
static char *table(const char *const *args, const struct sm_ps_list *l, time_t now, sm_error_t *err)
{
	struct sm_ps_format *f = NULL;
	size_t n = 0, len = 0;
	char *out = NULL;
	FILE *fp;

	while (args[n] != NULL)
		n++;
	if (sm_ps_format_parse((char *const *)args, n, &f, err) < 0)
		return NULL;
	fp = open_memstream(&out, &len);
	sm_ps_print(fp, f, l, now);
	fclose(fp);
	sm_ps_format_free(f);
	return out;
}

int main(void)
{
	static const char *const sh_args[] = {"sh", "-c", "sleep 1000 & sleep 1000", NULL};
	static const char *const sleep_args[] = {"sleep", "1000", NULL};
	time_t now = 1800000000; /* 2027-01-15 08:00:00 UTC */
	struct sm_buf b = {0};
	struct sm_ps_list l;
	sm_error_t err = SM_ERROR_INIT;
	char *out;

	setenv("TZ", "UTC", 1);
	sm_tlv_put_u32(&b, SM_TAG_PID, 7);
	sm_tlv_put_u32(&b, SM_TAG_PID, 12);
	sm_tlv_put_u32(&b, SM_TAG_PID, 13);
	put_proc(&b, 7, 1, "sh", sh_args, (uint64_t)now - 3725, 3725000, 1500);
	put_proc(&b, 12, 7, "sleep", sleep_args, (uint64_t)now - 86400 * 40, 86400000ull * 40, 90061000);
	ok(sm_ps_decode(b.data, b.len, &l, &err) == 0 && l.n == 3, "decode: 3 processes (%s)", err.msg);
	ok(l.n == 3 && l.v[0].detailed && l.v[1].detailed && !l.v[2].detailed && l.v[2].pid == 13,
	   "pid 13 without an entry is known by its pid only");
	ok(l.n == 3 && strcmp(l.v[0].args, "sh -c sleep 1000 & sleep 1000") == 0 &&
	       strcmp(l.v[1].comm, "sleep") == 0,
	   "arguments joined, command name kept");

	out = table((const char *const[]){NULL}, &l, now, &err);
	ok(out != NULL &&
	       strcmp(out, "UID        PID  PPID  C STIME TTY          TIME CMD\n"
			   "root         7     1  0 06:57 pts/3    00:00:01 sh -c sleep 1000 & sleep 1000\n"
			   "root        12     7  2 2026  pts/3    1-01:01:01 sleep 1000\n"
			   "?           13     ?  ? ?     ?               ? ?\n") == 0,
	   "no options: ps -ef's columns and formats:\n%s", out ? out : err.msg);
	free(out);

	out = table((const char *const[]){"--", "-o", "pid,comm,etime,stat,rss,vsz", NULL}, &l, now, &err);
	ok(out != NULL && strncmp(out,
				  "  PID COMMAND             ELAPSED STAT   RSS    VSZ\n"
				  "    7 sh                 01:02:05 Ss    1380   2268\n",
				  101) == 0,
	   "-- -o pid,comm,etime,stat,rss,vsz:\n%s", out ? out : err.msg);
	free(out);

	out = table((const char *const[]){"-eo", "pid=,args=", NULL}, &l, now, &err);
	ok(out != NULL && strncmp(out, "    7 sh -c sleep 1000 & sleep 1000\n   12 sleep 1000\n", 51) == 0,
	   "-eo pid=,args=: no header line:\n%s", out ? out : err.msg);
	free(out);

	out = table((const char *const[]){"-e", NULL}, &l, now, &err);
	ok(out != NULL && strncmp(out, "  PID TTY          TIME CMD\n    7 pts/3    00:00:01 sh\n", 54) == 0,
	   "-e: the short format:\n%s", out ? out : err.msg);
	free(out);

	out = table((const char *const[]){"-o", "pid=P,user", "--no-headers", NULL}, &l, now, &err);
	ok(out != NULL && strncmp(out, "    7 root\n", 11) == 0, "--no-headers:\n%s", out ? out : err.msg);
	free(out);

	out = table((const char *const[]){"aux", NULL}, &l, now, &err);
	ok(out == NULL && strstr(err.msg, "`aux` is not supported") != NULL, "BSD options refused: %s",
	   err.msg);
	free(out);
	out = table((const char *const[]){"-o", "pid,wchan", NULL}, &l, now, &err);
	ok(out == NULL && strstr(err.msg, "unknown -o field `wchan`") != NULL, "unknown field refused: %s",
	   err.msg);
	free(out);
	out = table((const char *const[]){"-l", NULL}, &l, now, &err);
	ok(out == NULL && strstr(err.msg, "`-l` is not supported") != NULL, "-l refused: %s", err.msg);
	free(out);
	out = table((const char *const[]){"-o", NULL}, &l, now, &err);
	ok(out == NULL && strstr(err.msg, "-o needs") != NULL, "-o without a list: %s", err.msg);
	free(out);
	out = table((const char *const[]){"-f", "-o", "pid", NULL}, &l, now, &err);
	ok(out == NULL && strstr(err.msg, "conflicting") != NULL, "-f with -o: %s", err.msg);
	free(out);
	sm_ps_list_free(&l);

	/* Malformed replies fail cleanly. */
	{
		struct sm_buf bad = {0}, e = {0};
		sm_tlv_put_u32(&e, SM_TAG_PROC_PPID, 1); /* no pid */
		sm_tlv_put(&bad, SM_TAG_PROC, e.data, (uint32_t)e.len);
		ok(sm_ps_decode(bad.data, bad.len, &l, &err) < 0, "an entry without a pid: %s", err.msg);
		sm_ps_list_free(&l);
		ok(sm_ps_decode(b.data, b.len - 3, &l, &err) < 0, "a truncated payload: %s", err.msg);
		sm_ps_list_free(&l);
		sm_buf_free(&bad);
		sm_buf_free(&e);
		sm_tlv_put_u32(&e, SM_TAG_PROC_PID, 9);
		sm_tlv_put_u64(&e, SM_TAG_PROC_PPID, 1); /* a u32 field with 8 bytes */
		sm_tlv_put(&bad, SM_TAG_PROC, e.data, (uint32_t)e.len);
		ok(sm_ps_decode(bad.data, bad.len, &l, &err) < 0 && strstr(err.msg, "malformed process field"),
		   "a malformed field in an entry: %s", err.msg);
		sm_ps_list_free(&l);
		sm_buf_free(&bad);
		sm_buf_free(&e);
	}
	{
		/* Control characters from the guest never reach the terminal. */
		struct sm_buf c = {0};
		static const char *const esc[] = {"evil\033[2J", NULL};
		put_proc(&c, 5, 1, "x\033y", esc, (uint64_t)now, 0, 0);
		ok(sm_ps_decode(c.data, c.len, &l, &err) == 0 && l.n == 1 &&
		       strcmp(l.v[0].args, "evil?[2J") == 0 && strcmp(l.v[0].comm, "x?y") == 0,
		   "escape characters replaced");
		sm_ps_list_free(&l);
		sm_buf_free(&c);
	}
	sm_buf_free(&b);
	tap_done();
}
