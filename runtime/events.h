/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_EVENTS_H
#define SM_RUNTIME_EVENTS_H

/*
 * `sm-runtime events`: runc's event stream (one JSON object per line: "stats" at an interval,
 * "oom" when the container's cgroup OOM-kills) built from the VMM's host cgroup.
 */
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "runtime/cgroup.h"

/*
 * Parse a Go time.Duration as runc's --interval takes it ("5s", "250ms", "1m30s", "1.5h";
 * units ns, us, µs, ms, s, m, h; a bare "0" is zero) into nanoseconds. The error names opt and
 * the text. Pure.
 */
int sm_events_parse_duration(const char *opt, const char *s, int64_t *ns, sm_error_t *err);

/*
 * The "stats" event for container id as one line of JSON (no newline), shaped like runc's
 * types.Event with types.Stats in data: cpu, memory (usage, swap, kernel on v1, raw memory.stat),
 * pids, and the groups a VM has none of here (blkio, hugetlb, intel_rdt) empty. Malloc'd in *out.
 */
int sm_events_stats_json(const char *id, const struct sm_cgroup_stats *st, char **out, size_t *len,
			 sm_error_t *err);

/* The "oom" event for container id, one line of JSON without newline; malloc'd. */
char *sm_events_oom_json(const char *id);

#endif
