/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_PS_TABLE_H
#define SM_RUNTIME_PS_TABLE_H

/*
 * `sm-runtime ps`: the container's processes as the guest agent describes them (PS_REPLY with
 * SM_TAG_PROC entries, docs/design/guest-protocol.md), printed like procps' ps(1), which runc runs
 * on the host. The pids are the guest's. Only a subset of ps(1)'s options is understood: -e, -A
 * (every process: always the case), -f (full format, the default), -o FIELD[=HEADER],... and
 * --no-headers; anything else is refused with an error naming the option.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "common/error.h"

struct sm_ps_proc {
	uint32_t pid, ppid, pgid, sid, uid, gid, tty, threads;
	int32_t nice;
	char state;
	uint64_t start, elapsed_ms, cpu_ms, vsz_kb, rss_kb;
	bool detailed; /* the agent described it (false: an older agent, or a reply cut short) */
	char *comm;
	char *args; /* the arguments joined with spaces; NULL when there are none (a zombie) */
};

struct sm_ps_list {
	struct sm_ps_proc *v;
	size_t n;
};

/*
 * Decode a PS_REPLY payload (the agent's tags, passed on by the monitor): every SM_TAG_PID becomes
 * a process, and SM_TAG_PROC entries fill in the details of theirs. The payload comes from the
 * guest: sizes are checked, malformed entries fail with EPROTO. out is freed with
 * sm_ps_list_free() also on failure.
 */
int sm_ps_decode(const uint8_t *payload, size_t len, struct sm_ps_list *out, sm_error_t *err);

/* Add a process known by its pid only (a monitor that sent no details). */
void sm_ps_list_add_pid(struct sm_ps_list *l, uint32_t pid);

void sm_ps_list_free(struct sm_ps_list *l);

struct sm_ps_format;

/*
 * Parse ps(1) options (what follows the container id, an optional leading "--" skipped) into a
 * format; no options is `-ef`. Unsupported options and unknown -o fields fail with a message that
 * names them and lists what is supported.
 */
int sm_ps_format_parse(char *const *args, size_t n, struct sm_ps_format **out, sm_error_t *err);

void sm_ps_format_free(struct sm_ps_format *f);

/* Print the table (header unless every header is empty or --no-headers); now: for STIME. */
void sm_ps_print(FILE *out, const struct sm_ps_format *f, const struct sm_ps_list *l, time_t now);

#endif
