/* SPDX-License-Identifier: Apache-2.0 */
/* `events` output: runc's JSON event shapes, and Go durations for --interval. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "common/util.h"
#include "runtime/events.h"

static const struct {
	const char *name;
	double ns;
} duration_units[] = {
    {"ns", 1},	 {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
    {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},	  {"h", 3600e9},
};

/* The unit s starts with (the longest match: "ms", not "m"), its scale in *scale; or NULL. */
static const char *unit_at(const char *s, double *scale)
{
	const char *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; i < SM_ARRAY_SIZE(duration_units); i++) {
		size_t l = strlen(duration_units[i].name);
		if (l > best_len && strncmp(s, duration_units[i].name, l) == 0) {
			best = duration_units[i].name;
			best_len = l;
			*scale = duration_units[i].ns;
		}
	}
	return best;
}

int sm_events_parse_duration(const char *opt, const char *s, int64_t *ns, sm_error_t *err)
{
	const char *p = s;
	double total = 0;

	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return 0;
	}
	if (*p == '\0')
		return sm_error_set(err, 0, "%s: empty duration (e.g. 5s, 250ms, 1m30s)", opt);
	while (*p != '\0') {
		/* Digits and one dot only: strtod would also take exponents, hex and "inf". */
		double v = 0, frac = 1, scale = 0;
		bool digits = false, dot = false;
		const char *unit;

		for (; (*p >= '0' && *p <= '9') || (*p == '.' && !dot); p++) {
			if (*p == '.') {
				dot = true;
				continue;
			}
			digits = true;
			if (dot)
				v += (*p - '0') * (frac /= 10);
			else
				v = v * 10 + (*p - '0');
		}
		if (!digits || (unit = unit_at(p, &scale)) == NULL)
			goto bad;
		total += v * scale;
		p += strlen(unit);
	}
	if (!isfinite(total) || total >= 9.2e18)
		return sm_error_set(err, 0, "%s: duration `%s` out of range", opt, s);
	*ns = (int64_t)total;
	return 0;
bad:
	return sm_error_set(
	    err, 0, "%s: invalid duration `%s` (e.g. 5s, 250ms, 1m30s; units ns, us, ms, s, m, h)", opt, s);
}

static void gen_str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

/* A uint64 as a JSON number (yajl_gen_integer takes long long: limits reach UINT64_MAX). */
static void gen_u64(yajl_gen g, const char *key, uint64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);

	gen_str(g, key);
	yajl_gen_number(g, buf, (size_t)n);
}

/* Go's omitempty: a zero number is left out. */
static void gen_u64_nz(yajl_gen g, const char *key, uint64_t v)
{
	if (v != 0)
		gen_u64(g, key, v);
}

static void gen_mem_entry(yajl_gen g, const char *key, const struct sm_cgroup_mem_entry *e)
{
	if (!e->has)
		return;
	gen_str(g, key);
	yajl_gen_map_open(g);
	gen_u64(g, "limit", e->limit);
	gen_u64_nz(g, "usage", e->usage);
	gen_u64_nz(g, "max", e->max);
	gen_u64(g, "failcnt", e->failcnt);
	yajl_gen_map_close(g);
}

/* memory.stat's "key value" lines as a map; lines that are not a key and a number are skipped. */
static void gen_raw(yajl_gen g, const char *text)
{
	gen_str(g, "raw");
	yajl_gen_map_open(g);
	for (const char *line = text; line != NULL && *line != '\0';) {
		const char *nl = strchr(line, '\n'), *sp = strchr(line, ' ');
		size_t end = nl != NULL ? (size_t)(nl - line) : strlen(line);
		char key[128];
		uint64_t v;

		if (sp != NULL && (size_t)(sp - line) < end && (size_t)(sp - line) < sizeof(key)) {
			memcpy(key, line, (size_t)(sp - line));
			key[sp - line] = '\0';
			if (sm_cgroup_kv_get(line, key, &v))
				gen_u64(g, key, v);
		}
		line = nl != NULL ? nl + 1 : NULL;
	}
	yajl_gen_map_close(g);
}

static void gen_cpu(yajl_gen g, const struct sm_cgroup_stats *st)
{
	gen_str(g, "cpu");
	yajl_gen_map_open(g);
	gen_str(g, "usage");
	yajl_gen_map_open(g);
	gen_u64_nz(g, "total", st->cpu_ns);
	gen_u64(g, "kernel", st->cpu_kernel_ns);
	gen_u64(g, "user", st->cpu_user_ns);
	yajl_gen_map_close(g);
	gen_str(g, "throttling");
	yajl_gen_map_open(g);
	gen_u64_nz(g, "periods", st->nr_periods);
	gen_u64_nz(g, "throttled_periods", st->nr_throttled);
	gen_u64_nz(g, "throttled_time", st->throttled_ns);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
}

static void gen_memory(yajl_gen g, const struct sm_cgroup_stats *st)
{
	gen_str(g, "memory");
	yajl_gen_map_open(g);
	gen_u64_nz(g, "cache", st->cache);
	gen_mem_entry(g, "usage", &st->mem);
	gen_mem_entry(g, "swap", &st->swap);
	gen_mem_entry(g, "kernel", &st->kernel);
	if (st->memory_stat != NULL)
		gen_raw(g, st->memory_stat);
	yajl_gen_map_close(g);
}

static void gen_empty_map(yajl_gen g, const char *key)
{
	gen_str(g, key);
	yajl_gen_map_open(g);
	yajl_gen_map_close(g);
}

/* Hand the generated text over; false on allocation failure. */
static bool gen_take(yajl_gen g, char **out, size_t *len)
{
	const unsigned char *buf;
	size_t n;

	if (yajl_gen_get_buf(g, &buf, &n) != yajl_gen_status_ok)
		return false;
	*out = sm_xmalloc(n + 1);
	memcpy(*out, buf, n);
	(*out)[n] = '\0';
	if (len != NULL)
		*len = n;
	return true;
}

int sm_events_stats_json(const char *id, const struct sm_cgroup_stats *st, char **out, size_t *len,
			 sm_error_t *err)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	bool ok;

	if (g == NULL)
		return sm_error_set(err, ENOMEM, "events: JSON generator");
	yajl_gen_map_open(g);
	gen_str(g, "type");
	gen_str(g, "stats");
	gen_str(g, "id");
	gen_str(g, id);
	gen_str(g, "data");
	yajl_gen_map_open(g);
	if (st->has_cpu || st->has_throttling)
		gen_cpu(g, st);
	if (st->has_memory)
		gen_memory(g, st);
	gen_str(g, "pids");
	yajl_gen_map_open(g);
	gen_u64_nz(g, "current", st->pids);
	gen_u64_nz(g, "limit", st->pids_limit);
	yajl_gen_map_close(g);
	gen_empty_map(g, "blkio");
	gen_empty_map(g, "hugetlb");
	gen_empty_map(g, "intel_rdt");
	gen_str(g, "network_interfaces");
	yajl_gen_null(g);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	ok = gen_take(g, out, len);
	yajl_gen_free(g);
	return ok ? 0 : sm_error_set(err, ENOMEM, "events: JSON generator");
}

char *sm_events_oom_json(const char *id)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	char *out = NULL;

	if (g == NULL)
		return NULL;
	yajl_gen_map_open(g);
	gen_str(g, "type");
	gen_str(g, "oom");
	gen_str(g, "id");
	gen_str(g, id);
	yajl_gen_map_close(g);
	if (!gen_take(g, &out, NULL))
		out = NULL;
	yajl_gen_free(g);
	return out;
}
