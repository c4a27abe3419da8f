/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `events`: Go durations for --interval, the statistics read from cgroup v1 and v2 files (fake
 * cgroup directories in a temporary directory: the reader only reads files), and the JSON
 * shape runc's consumers parse. Real cgroups are read in tests/unit/cgroup_test and
 * tests/cli/update.bats.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yajl/yajl_tree.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/cgroup-internal.h"
#include "runtime/events.h"
#include "tests/tap.h"

static void put(const char *dir, const char *file, const char *text)
{
	cleanup_free char *p = sm_xasprintf("%s/%s", dir, file);
	FILE *f = fopen(p, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		tap_skip_all("cannot write the fake cgroup files");
}

static char *subdir(const char *base, const char *name)
{
	char *d = sm_xasprintf("%s/%s", base, name);

	mkdir(d, 0755);
	return d;
}

static void test_durations(void)
{
	static const struct {
		const char *s;
		int64_t ns;
	} good[] = {{"5s", 5000000000ll},
		    {"250ms", 250000000ll},
		    {"1m30s", 90000000000ll},
		    {"1.5h", 5400000000000ll},
		    {"100us", 100000ll},
		    {"100\xc2\xb5s", 100000ll},
		    {"7ns", 7},
		    {".5s", 500000000ll},
		    {"0", 0},
		    {"2h3m4s5ms", 7384005000000ll}};
	static const char *const bad[] = {"",	  "5",	 "s",	    "5x",    "-1s", "1e3s",
					  "0x5s", "inf", "5s junk", "1..5s", "5 s"};
	sm_error_t e = SM_ERROR_INIT;
	int64_t ns;

	for (size_t i = 0; i < SM_ARRAY_SIZE(good); i++) {
		ns = -1;
		int r = sm_events_parse_duration("--interval", good[i].s, &ns, &e);
		ok(r == 0 && ns == good[i].ns, "duration `%s` = %lld ns (got %lld: %s)", good[i].s,
		   (long long)good[i].ns, (long long)ns, e.msg);
		sm_error_clear(&e);
	}
	for (size_t i = 0; i < SM_ARRAY_SIZE(bad); i++) {
		int r = sm_events_parse_duration("--interval", bad[i], &ns, &e);
		ok(r < 0 && strstr(e.msg, "--interval") != NULL,
		   "duration `%s` refused, naming the option: %s", bad[i], e.msg);
		sm_error_clear(&e);
	}
	ok(sm_events_parse_duration("--interval", "9999999999h", &ns, &e) < 0 &&
	       strstr(e.msg, "range") != NULL,
	   "a duration beyond int64 nanoseconds is out of range: %s", e.msg);
	sm_error_clear(&e);
}

static void test_kv(void)
{
	uint64_t v = 0;
	const char *t = "cache 10\nrss 20\nrss_huge 30\ntotal_rss 40";

	ok(sm_cgroup_kv_get(t, "rss", &v) && v == 20, "kv: rss is 20, not rss_huge's or total_rss's");
	ok(sm_cgroup_kv_get(t, "total_rss", &v) && v == 40, "kv: the last line without a newline");
	ok(!sm_cgroup_kv_get(t, "swap", &v), "kv: a missing key");
	ok(!sm_cgroup_kv_get("oom_kill x\n", "oom_kill", &v), "kv: a value that is not a number");
}

/* A yajl tree path lookup; NULL when absent. */
static yajl_val at(yajl_val root, const char *a, const char *b, const char *c, const char *d)
{
	const char *path[] = {a, b, c, d, NULL};
	return yajl_tree_get(root, path, yajl_t_any);
}

static const char *str(yajl_val v)
{
	const char *s = v != NULL && YAJL_IS_STRING(v) ? v->u.string : NULL;

	return s != NULL ? s : "";
}

static unsigned long long num(yajl_val v)
{
	return v != NULL && YAJL_IS_NUMBER(v) ? strtoull(v->u.number.r, NULL, 10) : 0xdeadull;
}

static void test_v2(const char *base)
{
	cleanup_free char *mnt = subdir(base, "v2"), *dir = subdir(mnt, "c");
	struct sm_cgroup cg = {.mode = SM_CGROUP_V2, .n = 1};
	struct sm_cgroup_stats st;
	cleanup_free char *json = NULL;
	char ebuf[128];
	sm_error_t e = SM_ERROR_INIT;

	cg.h[0] = (struct sm_cgroup_hier){.mount = mnt, .ctrls = "", .rel = "/c", .dir = dir, .v2 = true};
	put(mnt, "cgroup.controllers", "cpuset cpu io memory pids\n");
	put(dir, "memory.current", "1048576\n");
	put(dir, "memory.peak", "2097152\n");
	put(dir, "memory.max", "max\n");
	put(dir, "memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\noom_group_kill 0\n");
	put(dir, "memory.swap.current", "4096\n");
	put(dir, "memory.swap.max", "max\n");
	put(dir, "memory.stat", "anon 524288\nfile 8192\nkernel 65536\n");
	put(dir, "pids.current", "7\n");
	put(dir, "pids.max", "max\n");
	put(dir, "cpu.stat",
	    "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\n"
	    "nr_throttled 4\nthrottled_usec 250\n");
	sm_cgroup_stats(&cg, &st, &e);
	ok(st.has_memory && st.mem.usage == 1048576 && st.mem.max == 2097152 && st.mem.limit == UINT64_MAX &&
	       st.mem.failcnt == 3,
	   "v2 memory: usage, peak as max, \"max\" limit, memory.events max as failcnt");
	ok(st.swap.has && st.swap.usage == 1048576 + 4096 && st.swap.limit == UINT64_MAX,
	   "v2 swap: memory + swap, as v1's memsw (%llu)", (unsigned long long)st.swap.usage);
	ok(st.has_oom && st.oom_kills == 2 && st.cache == 8192, "v2: oom_kill 2, cache from `file`");
	uint64_t kills = 0;
	bool got = sm_cgroup_oom_kills(&cg, &kills);
	ok(got && kills == 2, "v2: the OOM counter alone: %llu", (unsigned long long)kills);
	ok(st.has_pids && st.pids == 7 && st.pids_limit == 0, "v2 pids: current 7, limit max -> 0");
	ok(st.has_cpu && st.cpu_ns == 1500000 && st.cpu_user_ns == 1000000 && st.cpu_kernel_ns == 500000 &&
	       st.has_throttling && st.nr_periods == 10 && st.nr_throttled == 4 && st.throttled_ns == 250000,
	   "v2 cpu: usage, user, system and throttling in ns");
	ok(sm_events_stats_json("c1", &st, &json, NULL, &e) == 0, "v2 stats JSON: %s", e.msg);
	yajl_val root = yajl_tree_parse(json, ebuf, sizeof(ebuf));
	ok(root != NULL, "the stats line is JSON: %s", root == NULL ? ebuf : json);
	if (root != NULL) {
		yajl_val type = at(root, "type", NULL, NULL, NULL), id = at(root, "id", NULL, NULL, NULL);
		ok(strcmp(str(type), "stats") == 0 && strcmp(str(id), "c1") == 0, "type stats, id c1");
		yajl_val lim = at(root, "data", "memory", "usage", "limit");
		ok(lim != NULL && YAJL_IS_NUMBER(lim) &&
		       strcmp(YAJL_GET_NUMBER(lim), "18446744073709551615") == 0,
		   "memory.usage.limit \"max\" is 2^64-1, as runc prints it");
		ok(num(at(root, "data", "memory", "usage", "usage")) == 1048576 &&
		       num(at(root, "data", "memory", "cache", NULL)) == 8192 &&
		       num(at(root, "data", "memory", "raw", "anon")) == 524288,
		   "memory usage, cache and raw.anon");
		ok(num(at(root, "data", "cpu", "usage", "total")) == 1500000 &&
		       num(at(root, "data", "cpu", "usage", "kernel")) == 500000 &&
		       num(at(root, "data", "cpu", "throttling", "throttled_periods")) == 4,
		   "cpu usage and throttling");
		ok(num(at(root, "data", "pids", "current", NULL)) == 7 &&
		       at(root, "data", "pids", "limit", NULL) == NULL,
		   "pids.current 7; an unlimited pids limit is left out (omitempty)");
		ok(at(root, "data", "memory", "kernel", NULL) == NULL, "no kernel memory entry on v2");
		yajl_val ni = at(root, "data", "network_interfaces", NULL, NULL);
		ok(ni != NULL && YAJL_IS_NULL(ni) && at(root, "data", "blkio", NULL, NULL) != NULL,
		   "blkio {} and network_interfaces null, as runc");
		yajl_tree_free(root);
	}
	sm_cgroup_stats_clear(&st);
	cleanup_free char *oom = sm_events_oom_json("c\"1");
	ok(oom != NULL && strcmp(oom, "{\"type\":\"oom\",\"id\":\"c\\\"1\"}") == 0,
	   "oom event, id escaped: %s", oom);
}

static void test_v1(const char *base)
{
	cleanup_free char *mem = subdir(base, "memory"), *cpu = subdir(base, "cpu,cpuacct"),
			  *pids = subdir(base, "pids");
	cleanup_free char *mdir = subdir(mem, "c"), *cdir = subdir(cpu, "c"), *pdir = subdir(pids, "c");
	struct sm_cgroup cg = {.mode = SM_CGROUP_V1, .n = 3};
	struct sm_cgroup_stats st;
	cleanup_free char *json = NULL;
	char ebuf[128];
	sm_error_t e = SM_ERROR_INIT;
	long hz = sysconf(_SC_CLK_TCK);

	cg.h[0] = (struct sm_cgroup_hier){.mount = mem, .ctrls = "memory", .rel = "/c", .dir = mdir};
	cg.h[1] = (struct sm_cgroup_hier){.mount = cpu, .ctrls = "cpu,cpuacct", .rel = "/c", .dir = cdir};
	cg.h[2] = (struct sm_cgroup_hier){.mount = pids, .ctrls = "pids", .rel = "/c", .dir = pdir};
	put(mdir, "memory.usage_in_bytes", "823296\n");
	put(mdir, "memory.max_usage_in_bytes", "2256896\n");
	put(mdir, "memory.limit_in_bytes", "9223372036854771712\n");
	put(mdir, "memory.failcnt", "5\n");
	put(mdir, "memory.kmem.usage_in_bytes", "544768\n");
	put(mdir, "memory.kmem.max_usage_in_bytes", "610304\n");
	put(mdir, "memory.kmem.limit_in_bytes", "9223372036854771712\n");
	put(mdir, "memory.kmem.failcnt", "0\n");
	put(mdir, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
	put(mdir, "memory.stat", "cache 4096\nrss 49152\nhierarchical_memory_limit 9223372036854771712\n");
	put(cdir, "cpuacct.usage", "9734673\n");
	put(cdir, "cpuacct.stat", "user 3\nsystem 2\n");
	put(cdir, "cpu.stat", "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n");
	put(pdir, "pids.current", "1\n");
	put(pdir, "pids.max", "64\n");
	sm_cgroup_stats(&cg, &st, &e);
	ok(st.mem.has && st.mem.usage == 823296 && st.mem.max == 2256896 && st.mem.failcnt == 5 &&
	       st.mem.limit == 9223372036854771712ull,
	   "v1 memory: usage, max usage, limit, failcnt");
	ok(!st.swap.has && st.kernel.has && st.kernel.usage == 544768, "v1: no memsw files, kmem read");
	ok(st.has_oom && st.oom_kills == 1 && st.cache == 4096,
	   "v1: oom_kill from memory.oom_control, cache");
	uint64_t kills = 0;
	bool got = sm_cgroup_oom_kills(&cg, &kills);
	ok(got && kills == 1, "v1: the OOM counter alone: %llu", (unsigned long long)kills);
	ok(st.has_cpu && st.cpu_ns == 9734673 && hz > 0 &&
	       st.cpu_user_ns == 3ull * (1000000000ull / (uint64_t)hz) &&
	       st.cpu_kernel_ns == 2ull * (1000000000ull / (uint64_t)hz) && st.has_throttling,
	   "v1 cpu: cpuacct.usage, cpuacct.stat ticks in ns, cpu.stat");
	ok(st.has_pids && st.pids == 1 && st.pids_limit == 64, "v1 pids: current 1, limit 64");
	ok(sm_events_stats_json("c2", &st, &json, NULL, &e) == 0, "v1 stats JSON");
	yajl_val root = yajl_tree_parse(json, ebuf, sizeof(ebuf));
	ok(root != NULL && num(at(root, "data", "memory", "kernel", "usage")) == 544768 &&
	       num(at(root, "data", "memory", "raw", "hierarchical_memory_limit")) ==
		   9223372036854771712ull &&
	       num(at(root, "data", "pids", "limit", NULL)) == 64 &&
	       at(root, "data", "cpu", "throttling", "periods") == NULL,
	   "v1 JSON: kernel entry, raw u64, pids limit; zero throttling left out: %s",
	   root == NULL ? ebuf : "parsed");
	if (root != NULL)
		yajl_tree_free(root);
	sm_cgroup_stats_clear(&st);

	/* Nothing readable: no group is claimed, and the JSON still has its fixed keys. */
	struct sm_cgroup none = {.mode = SM_CGROUP_V1, .n = 0};
	cleanup_free char *j2 = NULL;
	sm_cgroup_stats(&none, &st, &e);
	int jr = sm_events_stats_json("c3", &st, &j2, NULL, &e);
	ok(!st.has_memory && !st.has_cpu && !st.has_pids && !st.has_oom && jr == 0 &&
	       strstr(j2, "\"memory\"") == NULL && strstr(j2, "\"pids\":{}") != NULL,
	   "no hierarchy: nothing claimed, %s", jr == 0 ? j2 : e.msg);
	sm_cgroup_stats_clear(&st);
}

int main(void)
{
	char base[] = "/tmp/sm-events-test-XXXXXX";

	test_durations();
	test_kv();
	tap_mkdtemp(base);
	test_v2(base);
	test_v1(base);
	cleanup_free char *rm = sm_xasprintf("rm -rf '%s'", base);
	if (system(rm) != 0)
		tap_diag("could not remove %s", base);
	return tap_done();
}
