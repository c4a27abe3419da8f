/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host cgroup statistics for `events`: the figures runc's types.Stats carries, read from the
 * VMM's cgroup on v1, v2 or the hybrid layout. The VMM's cgroup holds the whole microVM, so
 * memory is guest RAM touched plus the VMM's own, and CPU time is every vCPU's and device
 * thread's.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/cgroup-internal.h"

bool sm_cgroup_kv_get(const char *text, const char *key, uint64_t *out)
{
	size_t klen = strlen(key);

	for (const char *line = text; line != NULL && *line != '\0';) {
		const char *nl = strchr(line, '\n');
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(line + klen + 1, &end, 10);
			if (errno != 0 || end == line + klen + 1 || (*end != '\n' && *end != '\0'))
				return false;
			*out = v;
			return true;
		}
		line = nl != NULL ? nl + 1 : NULL;
	}
	return false;
}

/* A single number, or "max" (UINT64_MAX). 0, or -1 when unreadable or not a number. */
static int read_u64(const char *dir, const char *file, uint64_t *out)
{
	cleanup_free char *s = NULL;
	char *end;

	if (sm_cgroup_read(dir, file, &s) < 0)
		return -1;
	if (strcmp(s, "max") == 0) {
		*out = UINT64_MAX;
		return 0;
	}
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno != 0 || end == s || *end != '\0' ? -1 : 0;
}

static bool read_kv(const char *dir, const char *file, const char *key, uint64_t *out)
{
	cleanup_free char *s = NULL;

	return sm_cgroup_read(dir, file, &s) == 0 && sm_cgroup_kv_get(s, key, out);
}

/* memory.<prefix>usage_in_bytes and its max_usage, limit and failcnt (cgroup v1). */
static void v1_mem_entry(const char *dir, const char *prefix, struct sm_cgroup_mem_entry *e)
{
	char f[64];

	snprintf(f, sizeof(f), "memory.%susage_in_bytes", prefix);
	if (read_u64(dir, f, &e->usage) < 0)
		return;
	e->has = true;
	snprintf(f, sizeof(f), "memory.%smax_usage_in_bytes", prefix);
	(void)read_u64(dir, f, &e->max);
	snprintf(f, sizeof(f), "memory.%slimit_in_bytes", prefix);
	(void)read_u64(dir, f, &e->limit);
	snprintf(f, sizeof(f), "memory.%sfailcnt", prefix);
	(void)read_u64(dir, f, &e->failcnt);
}

static void memory_v1(const struct sm_cgroup_hier *h, struct sm_cgroup_stats *st)
{
	v1_mem_entry(h->dir, "", &st->mem);
	v1_mem_entry(h->dir, "memsw.", &st->swap);
	v1_mem_entry(h->dir, "kmem.", &st->kernel);
	st->has_oom = read_kv(h->dir, "memory.oom_control", "oom_kill", &st->oom_kills);
	if (sm_cgroup_read(h->dir, "memory.stat", &st->memory_stat) == 0)
		(void)sm_cgroup_kv_get(st->memory_stat, "cache", &st->cache);
}

/*
 * cgroup v2 has no max_usage or failcnt files: memory.peak (where the kernel has it) and the
 * "max" count of memory.events stand in. swap is reported as memory + swap, as v1's memsw is
 * (and as runc does on v2), so the figures mean the same on both.
 */
static void memory_v2(const struct sm_cgroup_hier *h, struct sm_cgroup_stats *st)
{
	struct sm_cgroup_mem_entry *m = &st->mem, *s = &st->swap;

	if (read_u64(h->dir, "memory.current", &m->usage) == 0) {
		m->has = true;
		(void)read_u64(h->dir, "memory.peak", &m->max);
		(void)read_u64(h->dir, "memory.max", &m->limit);
		(void)read_kv(h->dir, "memory.events", "max", &m->failcnt);
	}
	if (m->has && read_u64(h->dir, "memory.swap.current", &s->usage) == 0) {
		s->has = true;
		s->usage += m->usage;
		(void)read_u64(h->dir, "memory.swap.peak", &s->max);
		if (read_u64(h->dir, "memory.swap.max", &s->limit) == 0 && s->limit != UINT64_MAX &&
		    m->limit != UINT64_MAX)
			s->limit += m->limit;
		else
			s->limit = UINT64_MAX;
		(void)read_kv(h->dir, "memory.swap.events", "max", &s->failcnt);
	}
	st->has_oom = read_kv(h->dir, "memory.events", "oom_kill", &st->oom_kills);
	if (sm_cgroup_read(h->dir, "memory.stat", &st->memory_stat) == 0)
		(void)sm_cgroup_kv_get(st->memory_stat, "file", &st->cache);
}

static void cpu_v1(const struct sm_cgroup *cg, struct sm_cgroup_stats *st)
{
	const struct sm_cgroup_hier *h = sm_cgroup_find(cg, "cpuacct");
	cleanup_free char *s = NULL;
	uint64_t ticks;
	long hz = sysconf(_SC_CLK_TCK);

	if (h != NULL && !h->v2) {
		st->has_cpu = read_u64(h->dir, "cpuacct.usage", &st->cpu_ns) == 0;
		/* cpuacct.stat counts USER_HZ ticks. */
		if (hz > 0 && sm_cgroup_read(h->dir, "cpuacct.stat", &s) == 0) {
			if (sm_cgroup_kv_get(s, "user", &ticks))
				st->cpu_user_ns = ticks * (1000000000ull / (uint64_t)hz);
			if (sm_cgroup_kv_get(s, "system", &ticks))
				st->cpu_kernel_ns = ticks * (1000000000ull / (uint64_t)hz);
		}
	}
	free(s);
	s = NULL;
	h = sm_cgroup_find(cg, "cpu");
	if (h != NULL && !h->v2 && sm_cgroup_read(h->dir, "cpu.stat", &s) == 0)
		st->has_throttling = sm_cgroup_kv_get(s, "nr_periods", &st->nr_periods) &&
				     sm_cgroup_kv_get(s, "nr_throttled", &st->nr_throttled) &&
				     sm_cgroup_kv_get(s, "throttled_time", &st->throttled_ns);
}

/* cpu.stat exists on every cgroup2 cgroup (usage, user, system); the throttling lines need the
 * cpu controller. */
static void cpu_v2(const struct sm_cgroup_hier *h, struct sm_cgroup_stats *st)
{
	cleanup_free char *s = NULL;
	uint64_t us;

	if (sm_cgroup_read(h->dir, "cpu.stat", &s) < 0)
		return;
	if (!st->has_cpu && sm_cgroup_kv_get(s, "usage_usec", &us)) {
		st->cpu_ns = us * 1000;
		st->has_cpu = true;
		if (sm_cgroup_kv_get(s, "user_usec", &us))
			st->cpu_user_ns = us * 1000;
		if (sm_cgroup_kv_get(s, "system_usec", &us))
			st->cpu_kernel_ns = us * 1000;
	}
	if (!st->has_throttling && sm_cgroup_kv_get(s, "nr_periods", &st->nr_periods) &&
	    sm_cgroup_kv_get(s, "nr_throttled", &st->nr_throttled) &&
	    sm_cgroup_kv_get(s, "throttled_usec", &us)) {
		st->throttled_ns = us * 1000;
		st->has_throttling = true;
	}
}

bool sm_cgroup_oom_kills(const struct sm_cgroup *cg, uint64_t *out)
{
	const struct sm_cgroup_hier *h = sm_cgroup_find(cg, "memory");

	*out = 0;
	return h != NULL && read_kv(h->dir, h->v2 ? "memory.events" : "memory.oom_control", "oom_kill", out);
}

int sm_cgroup_stats(const struct sm_cgroup *cg, struct sm_cgroup_stats *st, sm_error_t *err)
{
	const struct sm_cgroup_hier *h;

	(void)err;
	memset(st, 0, sizeof(*st));
	if ((h = sm_cgroup_find(cg, "memory")) != NULL)
		(h->v2 ? memory_v2 : memory_v1)(h, st);
	st->has_memory = st->mem.has;
	st->memory_bytes = st->mem.usage;
	if ((h = sm_cgroup_find(cg, "pids")) != NULL &&
	    (st->has_pids = read_u64(h->dir, "pids.current", &st->pids) == 0) &&
	    (read_u64(h->dir, "pids.max", &st->pids_limit) < 0 || st->pids_limit == UINT64_MAX))
		st->pids_limit = 0;
	cpu_v1(cg, st);
	if ((h = sm_cgroup_find(cg, "")) != NULL)
		cpu_v2(h, st);
	return 0;
}

void sm_cgroup_stats_clear(struct sm_cgroup_stats *st)
{
	free(st->memory_stat);
	st->memory_stat = NULL;
}
