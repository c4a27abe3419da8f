/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host cgroups (runtime/cgroup*.c) on the real cgroup filesystem of this machine: path rules,
 * create/apply/enter/destroy with real processes, describe/load, and errors that name the field.
 * Every cgroup the test creates is under /sm-cgtest-<pid> and removed at exit, even on failure.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/magic.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/cgroup-internal.h"
#include "tests/tap.h"

static char base[64];		 /* "/sm-cgtest-<pid>" */
static struct sm_cgroup *all[8]; /* handles to destroy at exit */

static void cleanup_all(void)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(all); i++) {
		sm_error_t e = SM_ERROR_INIT;
		if (all[i] != NULL && sm_cgroup_destroy(all[i], &e) < 0)
			tap_diag("cleanup: %s", e.msg);
		sm_cgroup_free(all[i]);
		all[i] = NULL;
	}
	/* The test's parent directory in every hierarchy (destroy() leaves parents alone). */
	struct sm_cgroup *cg = NULL;
	sm_error_t e = SM_ERROR_INIT;
	if (sm_cgroup_open(base, "x", false, &cg, &e) == 0) {
		if (sm_cgroup_destroy(cg, &e) < 0)
			tap_diag("cleanup: %s", e.msg);
		sm_cgroup_free(cg);
	}
}

static void track(struct sm_cgroup *cg)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(all); i++)
		if (all[i] == NULL) {
			all[i] = cg;
			return;
		}
	abort();
}

static char *rd(const char *dir, const char *file)
{
	char *s = NULL;
	if (dir == NULL || sm_cgroup_read(dir, file, &s) < 0)
		return sm_xstrdup("<unreadable>");
	return s;
}

static void test_paths(void)
{
	char *s;
	sm_error_t e = SM_ERROR_INIT;

	s = sm_cgroup_clean_path("/a/./b/../../../c//d/");
	ok(strcmp(s, "/c/d") == 0, "clean absolute path with .. above root: %s", s);
	free(s);
	s = sm_cgroup_clean_path("../../x/y");
	ok(strcmp(s, "x/y") == 0, "clean relative path cannot climb: %s", s);
	free(s);
	s = sm_cgroup_join("/user/1", false, "foo/bar");
	ok(strcmp(s, "/user/1/foo/bar") == 0, "v1 relative path joins own cgroup: %s", s);
	free(s);
	s = sm_cgroup_join("/user/1", true, "foo/bar");
	ok(strcmp(s, "/user/foo/bar") == 0, "v2 relative path joins own cgroup's parent: %s", s);
	free(s);
	s = sm_cgroup_join("/", true, "foo");
	ok(strcmp(s, "/foo") == 0, "v2 relative path from the root cgroup: %s", s);
	free(s);
	s = sm_cgroup_join("/user/1", false, "/abs/x");
	ok(strcmp(s, "/abs/x") == 0, "absolute path ignores own cgroup: %s", s);
	free(s);

	static const struct {
		const char *in, *want;
	} sd[] = {
	    {"system.slice:docker:abc", "/system.slice/docker-abc.scope"},
	    {"a-b-c.slice:p:n", "/a.slice/a-b.slice/a-b-c.slice/p-n.scope"},
	    {":p:n", "/system.slice/p-n.scope"},
	    {"-.slice:p:n", "/p-n.scope"},
	    {"system.slice::n", "/system.slice/n.scope"},
	    {"user.slice:p:my.slice", "/user.slice/my.slice"},
	    {NULL, "/system.slice/sm-runtime-ctr.scope"},
	};
	for (size_t i = 0; i < SM_ARRAY_SIZE(sd); i++) {
		s = NULL;
		int r = sm_cgroup_systemd_path(sd[i].in, "ctr", &s, &e);
		ok(r == 0 && strcmp(s, sd[i].want) == 0, "systemd %s -> %s (got %s)",
		   sd[i].in ? sd[i].in : "(none)", sd[i].want, r == 0 ? s : e.msg);
		free(s);
	}
	static const char *const bad[] = {
	    "a:b",	    "a:b:c:d",	     "foo:p:n",		"a--b.slice:p:n",
	    "-a.slice:p:n", "a/b.slice:p:n", "system.slice:p:", "system.slice:p:x/y"};
	for (size_t i = 0; i < SM_ARRAY_SIZE(bad); i++) {
		s = NULL;
		sm_error_clear(&e);
		int r = sm_cgroup_systemd_path(bad[i], "ctr", &s, &e);
		ok(r < 0 && strstr(e.msg, "linux.cgroupsPath") != NULL, "systemd path \"%s\" refused: %s",
		   bad[i], e.msg);
		free(s);
	}
	ok(sm_cgroup_shares_to_weight(2) == 1 && sm_cgroup_shares_to_weight(1024) == 39 &&
	       sm_cgroup_shares_to_weight(262144) == 10000,
	   "shares -> weight like runc (2->1, 1024->39, 262144->10000)");
}

/* The caller's cgroup in hierarchy h, per /proc/self/cgroup. */
static char *own_path(const struct sm_cgroup_hier *h)
{
	cleanup_free char *txt = NULL;
	sm_error_t e = SM_ERROR_INIT;

	if (sm_read_file("/proc/self/cgroup", 1 << 16, &txt, NULL, &e) < 0)
		return sm_xstrdup("?");
	for (char *line = strtok(txt, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c2 == NULL)
			continue;
		*c2 = '\0';
		if (strcmp(c1 + 1, h->ctrls) == 0)
			return sm_xstrdup(c2 + 1);
	}
	return sm_xstrdup("?");
}

static void test_open(void)
{
	struct sm_cgroup *cg = NULL;
	sm_error_t e = SM_ERROR_INIT;

	ok(sm_cgroup_open(NULL, "ctr1", false, &cg, &e) == 0, "open default path: %s", e.msg);
	bool all_default = cg->n > 0;
	for (size_t i = 0; i < cg->n; i++)
		all_default &= strcmp(cg->h[i].rel, "/sm-runtime/ctr1") == 0;
	ok(all_default, "no cgroupsPath -> /sm-runtime/<id> in all %zu hierarchies", cg->n);
	tap_diag("layout %s", cg->mode == SM_CGROUP_V2 ? "v2" : cg->mode == SM_CGROUP_V1 ? "v1" : "hybrid");
	sm_cgroup_free(cg);

	ok(sm_cgroup_open("rel/x", "ctr1", false, &cg, &e) == 0, "open relative path: %s", e.msg);
	bool rel_ok = true;
	for (size_t i = 0; i < cg->n; i++) {
		const struct sm_cgroup_hier *h = &cg->h[i];
		cleanup_free char *own = own_path(h);
		cleanup_free char *want = sm_cgroup_join(own, h->v2 && cg->mode == SM_CGROUP_V2, "rel/x");
		if (strcmp(h->rel, want) != 0) {
			tap_diag("%s: %s != %s", h->mount, h->rel, want);
			rel_ok = false;
		}
	}
	ok(rel_ok, "relative path resolved against the runtime's own cgroup in each hierarchy");
	sm_cgroup_free(cg);

	ok(sm_cgroup_open("system.slice:smtest:abc", "ctr1", true, &cg, &e) == 0 &&
	       strcmp(cg->h[0].rel, "/system.slice/smtest-abc.scope") == 0,
	   "--systemd-cgroup falls back to cgroupfs at /system.slice/smtest-abc.scope");
	sm_cgroup_free(cg);
	cg = NULL;
	ok(sm_cgroup_open("/", "ctr1", false, &cg, &e) < 0 && strstr(e.msg, "linux.cgroupsPath") != NULL,
	   "the root cgroup is refused: %s", e.msg);
	ok(sm_cgroup_open("/../..", "ctr1", false, &cg, &e) < 0, "a path that cleans to / is refused");
	ok(sm_cgroup_open(NULL, "../x", false, &cg, &e) < 0, "a bad id is refused");
	ok(sm_cgroup_open("/a b", "ctr1", false, &cg, &e) < 0 && strstr(e.msg, "linux.cgroupsPath") != NULL,
	   "a path with a space is refused: %s", e.msg);
}

static struct sm_oci_resources *new_res(void)
{
	struct sm_oci_resources *r = sm_xcalloc(1, sizeof(*r));
	r->memory = sm_xcalloc(1, sizeof(*r->memory));
	r->cpu = sm_xcalloc(1, sizeof(*r->cpu));
	return r;
}

static void free_res(struct sm_oci_resources *r)
{
	free(r->memory);
	free(r->cpu);
	free(r->block_io);
	free(r);
}

static void expect_error(struct sm_cgroup *cg, struct sm_oci_resources *r, const struct sm_cgroup_vm *vm,
			 const char *field, const char *what)
{
	sm_error_t e = SM_ERROR_INIT;
	int rc = sm_cgroup_apply(cg, r, vm, &e);
	ok(rc < 0 && strstr(e.msg, field) != NULL, "%s -> error naming %s: %s", what, field, e.msg);
}

static void test_bad_values(struct sm_cgroup *cg)
{
	struct sm_oci_resources *r = new_res();
	struct sm_cgroup_vm vm = {512u << 20, 64u << 20, 1};

	r->cpu->shares = (struct sm_oci_u64){true, 1};
	expect_error(cg, r, NULL, "linux.resources.cpu.shares", "shares 1");
	r->cpu->shares = (struct sm_oci_u64){true, 300000};
	expect_error(cg, r, NULL, "linux.resources.cpu.shares", "shares 300000");
	r->cpu->shares.set = false;
	r->cpu->quota = (struct sm_oci_i64){true, 500};
	expect_error(cg, r, NULL, "linux.resources.cpu.quota", "quota 500");
	r->cpu->quota = (struct sm_oci_i64){true, -5};
	expect_error(cg, r, NULL, "linux.resources.cpu.quota", "quota -5");
	r->cpu->quota.set = false;
	r->cpu->period = (struct sm_oci_u64){true, 10};
	expect_error(cg, r, NULL, "linux.resources.cpu.period", "period 10");
	r->cpu->period.set = false;
	r->cpu->burst = (struct sm_oci_u64){true, 1000};
	expect_error(cg, r, NULL, "linux.resources.cpu.burst", "burst without quota");
	r->cpu->burst.set = false;
	r->cpu->cpus = (char *)"0;rm";
	expect_error(cg, r, NULL, "linux.resources.cpu.cpus", "cpus \"0;rm\"");
	r->cpu->cpus = NULL;
	r->memory->limit = (struct sm_oci_i64){true, 256 << 20};
	expect_error(cg, r, &vm, "linux.resources.memory.limit", "limit below guest RAM");
	r->memory->limit = (struct sm_oci_i64){true, 1 << 30};
	r->memory->swap = (struct sm_oci_i64){true, 512 << 20};
	expect_error(cg, r, &vm, "linux.resources.memory.swap", "swap below limit");
	r->memory->limit.set = false;
	expect_error(cg, r, &vm, "linux.resources.memory.swap", "swap without limit");
	r->memory->swap.set = false;
	struct sm_oci_rdma rdma = {(char *)"mlx5_0", {true, 1}, {false, 0}};
	r->rdma = &rdma;
	r->n_rdma = 1;
	expect_error(cg, r, NULL, "linux.resources.rdma", "rdma");
	r->rdma = NULL;
	r->n_rdma = 0;
	struct sm_oci_kv kv = {(char *)"cgroup.procs", (char *)"1"};
	r->unified = (struct sm_oci_map){&kv, 1};
	expect_error(cg, r, NULL, "linux.resources.unified[\"cgroup.procs\"]", "unified cgroup.procs");
	r->unified = (struct sm_oci_map){NULL, 0};
	free_res(r);
}

static void test_apply(struct sm_cgroup *cg)
{
	struct sm_oci_resources *r = new_res();
	struct sm_cgroup_vm vm = {512u << 20, 64u << 20, 2};
	sm_error_t e = SM_ERROR_INIT;
	const struct sm_cgroup_hier *mem = sm_cgroup_find(cg, "memory"), *cpu = sm_cgroup_find(cg, "cpu");
	const struct sm_cgroup_hier *pids = sm_cgroup_find(cg, "pids"),
				    *cpuset = sm_cgroup_find(cg, "cpuset");

	r->memory->limit = (struct sm_oci_i64){true, 576 << 20};
	r->memory->swap = (struct sm_oci_i64){true, 832 << 20};
	r->memory->reservation = (struct sm_oci_i64){true, 256 << 20};
	r->cpu->shares = (struct sm_oci_u64){true, 512};
	r->cpu->quota = (struct sm_oci_i64){true, 50000};
	r->cpu->period = (struct sm_oci_u64){true, 100000};
	r->cpu->cpus = (char *)"0";
	r->cpu->mems = (char *)"0";
	r->pids_limit = (struct sm_oci_i64){true, 100};
	int rc = sm_cgroup_apply(cg, r, &vm, &e);
	ok(rc == 0, "apply memory, cpu, cpuset and pids: %s", e.msg);
	if (mem != NULL) {
		cleanup_free char *lim = rd(mem->dir, mem->v2 ? "memory.max" : "memory.limit_in_bytes");
		ok(strcmp(lim, "603979776") == 0,
		   "memory limit = the requested 576 MiB, exactly (guest 512 + overhead 64 fit) (%s)", lim);
		cleanup_free char *sw =
		    rd(mem->dir, mem->v2 ? "memory.swap.max" : "memory.memsw.limit_in_bytes");
		ok(strcmp(sw, mem->v2 ? "268435456" : "872415232") == 0, "swap allowance 256 MiB on top (%s)",
		   sw);
		cleanup_free char *low = rd(mem->dir, mem->v2 ? "memory.low" : "memory.soft_limit_in_bytes");
		ok(strcmp(low, "268435456") == 0, "reservation (%s)", low);
	}
	if (cpu != NULL && !cpu->v2) {
		cleanup_free char *sh = rd(cpu->dir, "cpu.shares"), *q = rd(cpu->dir, "cpu.cfs_quota_us");
		cleanup_free char *p = rd(cpu->dir, "cpu.cfs_period_us");
		ok(strcmp(sh, "512") == 0 && strcmp(q, "50000") == 0 && strcmp(p, "100000") == 0,
		   "v1 cpu.shares/cfs_quota_us/cfs_period_us = %s/%s/%s", sh, q, p);
	} else if (cpu != NULL) {
		cleanup_free char *w = rd(cpu->dir, "cpu.weight"), *max = rd(cpu->dir, "cpu.max");
		ok(strcmp(w, "20") == 0 && strcmp(max, "50000 100000") == 0, "v2 cpu.weight/cpu.max = %s/%s",
		   w, max);
	}
	if (pids != NULL) {
		cleanup_free char *pm = rd(pids->dir, "pids.max");
		ok(strcmp(pm, "100") == 0, "pids.max = the requested 100, exactly as runc writes it (%s)",
		   pm);
	}
	if (cpuset != NULL) {
		cleanup_free char *c = rd(cpuset->dir, "cpuset.cpus");
		ok(strcmp(c, "0") == 0, "cpuset.cpus = %s", c);
	}

	/* update-style second apply: raise the limit (v1 must grow memsw first), unlimited quota. */
	r->memory->limit = (struct sm_oci_i64){true, 1 << 30};
	r->memory->swap = (struct sm_oci_i64){true, (int64_t)2 << 30};
	r->cpu->quota = (struct sm_oci_i64){true, -1};
	r->pids_limit = (struct sm_oci_i64){true, -1};
	r->cpu->shares.set = r->cpu->period.set = false;
	r->cpu->cpus = r->cpu->mems = NULL;
	r->memory->reservation.set = false;
	rc = sm_cgroup_apply(cg, r, &vm, &e);
	ok(rc == 0, "second apply (update: grow memory + swap, quota -1, pids unlimited): %s", e.msg);
	if (mem != NULL) {
		cleanup_free char *lim = rd(mem->dir, mem->v2 ? "memory.max" : "memory.limit_in_bytes");
		ok(strcmp(lim, "1073741824") == 0, "limit above guest RAM + overhead kept as is (%s)", lim);
	}
	if (pids != NULL) {
		cleanup_free char *pm = rd(pids->dir, "pids.max");
		ok(strcmp(pm, "max") == 0, "pids.max = max (%s)", pm);
	}
	if (cpu != NULL) {
		cleanup_free char *q = rd(cpu->dir, cpu->v2 ? "cpu.max" : "cpu.cfs_quota_us");
		ok(strncmp(q, cpu->v2 ? "max" : "-1", 2) == 0, "quota unlimited (%s)", q);
	}

	/* -1 = unlimited; swap unset follows memory (runc: "set both to unlimited"). */
	r->memory->limit = (struct sm_oci_i64){true, -1};
	r->memory->swap.set = false;
	r->cpu->quota.set = false;
	r->pids_limit.set = false;
	rc = sm_cgroup_apply(cg, r, &vm, &e);
	if (mem != NULL) {
		cleanup_free char *lim = rd(mem->dir, mem->v2 ? "memory.max" : "memory.limit_in_bytes");
		ok(rc == 0 && (strcmp(lim, "max") == 0 || strtoull(lim, NULL, 10) > (1ull << 60)),
		   "memory.limit -1 -> unlimited (%s): %s", lim, e.msg);
	}

	/* update --memory-swap alone: completed with the limit in force (runc merges with its stored one). */
	if (mem != NULL) {
		r->memory->limit = (struct sm_oci_i64){true, 1 << 30};
		rc = sm_cgroup_apply(cg, r, &vm, &e);
		struct sm_oci_resources only_swap = {.memory =
							 &(struct sm_oci_memory){.swap = {true, 3 << 29}}};
		int src = sm_cgroup_apply(cg, &only_swap, &vm, &e);
		cleanup_free char *sw =
		    rd(mem->dir, mem->v2 ? "memory.swap.max" : "memory.memsw.limit_in_bytes");
		cleanup_free char *lim = rd(mem->dir, mem->v2 ? "memory.max" : "memory.limit_in_bytes");
		ok(rc == 0 && src == 0 && strcmp(sw, mem->v2 ? "536870912" : "1610612736") == 0 &&
		       strcmp(lim, "1073741824") == 0,
		   "swap 1.5 GiB alone uses the current 1 GiB limit (swap %s, limit %s): %s", sw, lim, e.msg);
		struct sm_oci_resources low = {.memory = &(struct sm_oci_memory){.limit = {true, 256 << 20}}};
		sm_error_clear(&e);
		rc = sm_cgroup_apply(cg, &low, &vm, &e);
		ok(rc < 0 && strstr(e.msg, "minimum of 603979776 bytes") != NULL,
		   "a limit below guest RAM + overhead names the minimum: %s", e.msg);
		sm_error_clear(&e);
	}

	/* A pids limit that leaves the VMM no room for its own threads is refused, naming the field. */
	if (pids != NULL) {
		struct sm_oci_resources only_pids = {.pids_limit = {true, 5}};
		sm_error_clear(&e);
		rc = sm_cgroup_apply(cg, &only_pids, &vm, &e);
		ok(rc < 0 && strstr(e.msg, "linux.resources.pids.limit") != NULL, "pids.limit 5 refused: %s",
		   e.msg);
		sm_error_clear(&e);
	}

	/* blockIO weight: applied where the host has the file, else an error naming the field. */
	free(r->memory);
	free(r->cpu);
	r->memory = NULL;
	r->cpu = NULL;
	r->pids_limit.set = false;
	r->block_io = sm_xcalloc(1, sizeof(*r->block_io));
	r->block_io->weight = (struct sm_oci_u64){true, 500};
	sm_error_clear(&e);
	rc = sm_cgroup_apply(cg, r, NULL, &e);
	const struct sm_cgroup_hier *bh = sm_cgroup_find(cg, "blkio");
	if (bh == NULL)
		bh = sm_cgroup_find(cg, "io");
	const char *wfiles[] = {"blkio.weight", "blkio.bfq.weight", "io.bfq.weight", "io.weight"};
	const char *wfile = NULL;
	for (size_t i = 0; bh != NULL && wfile == NULL && i < SM_ARRAY_SIZE(wfiles); i++) {
		cleanup_free char *f = sm_xasprintf("%s/%s", bh->dir, wfiles[i]);
		if (access(f, F_OK) == 0 && (strncmp(wfiles[i], "io.", 3) == 0) == bh->v2)
			wfile = wfiles[i];
	}
	if (wfile != NULL) {
		cleanup_free char *v = rd(bh->dir, wfile);
		ok(rc == 0 && strstr(v, bh->v2 && strcmp(wfile, "io.weight") == 0 ? "4950" : "500") != NULL,
		   "blockIO.weight 500 applied to %s (%s): %s", wfile, v, e.msg);
	} else {
		ok(rc < 0 && strstr(e.msg, "linux.resources.blockIO.weight") != NULL,
		   "blockIO.weight without a weight file -> error naming the field: %s", e.msg);
	}
	r->block_io->weight.set = false;
	struct sm_oci_blkio_throttle t = {7, 0, 1048576};
	r->block_io->throttle_read_bps = (struct sm_oci_throttles){&t, 1};
	sm_error_clear(&e);
	rc = sm_cgroup_apply(cg, r, NULL, &e);
	ok(rc == 0, "blockIO.throttleReadBpsDevice on loop0 (7:0): %s", e.msg);
	if (bh != NULL && rc == 0) {
		cleanup_free char *v = rd(bh->dir, bh->v2 ? "io.max" : "blkio.throttle.read_bps_device");
		ok(strstr(v, "7:0") != NULL && strstr(v, "1048576") != NULL, "throttle read back: %s", v);
	}
	free_res(r);
}

static void test_unified(struct sm_cgroup *cg)
{
	const struct sm_cgroup_hier *u = sm_cgroup_find(cg, "");
	struct sm_oci_resources r;
	struct sm_oci_kv kv = {(char *)"cgroup.max.descendants", (char *)"5"};
	sm_error_t e = SM_ERROR_INIT;

	memset(&r, 0, sizeof(r));
	r.unified = (struct sm_oci_map){&kv, 1};
	int rc = sm_cgroup_apply(cg, &r, NULL, &e);
	if (u == NULL) {
		ok(rc < 0 && strstr(e.msg, "linux.resources.unified") != NULL,
		   "unified on pure v1 refused: %s", e.msg);
		return;
	}
	cleanup_free char *v = rd(u->dir, "cgroup.max.descendants");
	ok(rc == 0 && strcmp(v, "5") == 0, "linux.resources.unified written to the cgroup2 dir (%s): %s", v,
	   e.msg);
}

/* The monitor's way: a process moves itself in (pid 0), then forks; destroy kills the whole tree. */
static void test_self_enter(void)
{
	struct sm_cgroup *cg = NULL;
	sm_error_t e = SM_ERROR_INIT;
	cleanup_free char *path = sm_xasprintf("%s/self", base);
	int fds[2];

	if (sm_cgroup_open(path, "self", false, &cg, &e) < 0 || sm_cgroup_create(cg, &e) < 0 ||
	    pipe(fds) < 0) {
		ok(0, "set up %s: %s", path, e.msg);
		return;
	}
	track(cg);
	pid_t child = fork();
	if (child == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		sm_error_t ce = SM_ERROR_INIT;
		pid_t g = -1;
		if (sm_cgroup_enter(cg, 0, &ce) == 0 && (g = fork()) == 0) {
			pause();
			_exit(0);
		}
		if (write(fds[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		pause();
		_exit(0);
	}
	pid_t grandchild = -1;
	ssize_t got = read(fds[0], &grandchild, sizeof(grandchild));
	ok(got == sizeof(grandchild) && grandchild > 0, "child entered the cgroup itself and forked %d",
	   (int)grandchild);
	close(fds[0]);
	close(fds[1]);
	struct sm_cgroup_stats st;
	int src = sm_cgroup_stats(cg, &st, &e);
	ok(src == 0 && st.pids == 2, "pids.current counts child and grandchild (%llu)",
	   (unsigned long long)st.pids);
	sm_cgroup_stats_clear(&st);
	ok(sm_cgroup_destroy(cg, &e) == 0, "destroy with a process tree inside: %s", e.msg);
	int status = 0;
	ok(waitpid(child, &status, 0) == child && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	   "child killed");
	bool gone = false;
	for (int i = 0; i < 200 && !gone; i++) {
		gone = kill(grandchild, 0) < 0 && errno == ESRCH;
		if (!gone)
			usleep(10000);
	}
	ok(gone, "grandchild %d killed too", (int)grandchild);
}

/* Guest RAM from a memory limit: limit - 16 MiB VMM overhead, in 32 MiB steps, at least 32 MiB. */
static void test_guest_mib(void)
{
	sm_error_t e = SM_ERROR_INIT;
	uint64_t g = 0;

	ok(sm_cgroup_guest_mib_for_limit(50593792, 4096, &g, &e) == 0 && g == 32,
	   "48.25 MiB limit -> 32 MiB guest");
	ok(sm_cgroup_guest_mib_for_limit(48 << 20, 4096, &g, &e) == 0 && g == 32,
	   "exactly 48 MiB -> 32 MiB guest");
	ok(sm_cgroup_guest_mib_for_limit(151781376, 4096, &g, &e) == 0 && g == 128,
	   "144.75 MiB -> 128 MiB guest");
	ok(sm_cgroup_guest_mib_for_limit((int64_t)1 << 30, 4096, &g, &e) == 0 && g == 992,
	   "1 GiB -> 992 MiB guest");
	ok(sm_cgroup_guest_mib_for_limit((int64_t)64 << 30, 4096, &g, &e) == 0 && g == 4096,
	   "64 GiB -> capped at the machine maximum");
	ok(sm_cgroup_guest_mib_for_limit((48 << 20) - 1, 4096, &g, &e) < 0 &&
	       strstr(e.msg, "linux.resources.memory.limit") != NULL && strstr(e.msg, "50331648") != NULL,
	   "below 48 MiB refused, naming the field and the minimum: %s", e.msg);
	ok(sm_cgroup_guest_mib_for_limit(0, 4096, &g, &e) < 0, "0 refused (callers treat 0 as unset)");
}

/* linux.resources.devices: the config's rules first in devices.list, then the VMM's own. */
static void test_devices(struct sm_cgroup *cg)
{
	const struct sm_cgroup_hier *h = sm_cgroup_find(cg, "devices");
	struct sm_oci_device_rule rules[] = {
	    {false, 'a', {false, 0}, {false, 0}, (char *)"rwm"},
	    {true, 'c', {true, 10}, {true, 229}, (char *)"rwm"},
	    {true, 'b', {true, 8}, {true, 20}, (char *)"rw"},
	    {true, 'b', {true, 10}, {true, 200}, (char *)"r"},
	};
	struct sm_oci_resources r = {.devices = rules, .n_devices = SM_ARRAY_SIZE(rules)};
	sm_error_t e = SM_ERROR_INIT;

	if (h == NULL || h->v2) {
		ok(sm_cgroup_apply(cg, &r, NULL, &e) == 0,
		   "devices without a v1 devices hierarchy: warning only");
		return;
	}
	ok(sm_cgroup_apply(cg, &r, NULL, &e) == 0, "apply device rules: %s", e.msg);
	cleanup_free char *list = rd(h->dir, "devices.list");
	ok(strncmp(list, "c 10:229 rwm\nb 8:20 rw\nb 10:200 r\n", 34) == 0,
	   "devices.list starts with the config's allow rules, in order");
	ok(strstr(list, "c 10:232 rwm") != NULL && strstr(list, "c 1:3 rwm") != NULL,
	   "the VMM keeps /dev/kvm and /dev/null");
	tap_diag("devices.list: %s", list);
	/* Leave the cgroup open again for the rest of the test. */
	struct sm_oci_device_rule any = {true, 'a', {false, 0}, {false, 0}, NULL};
	struct sm_oci_resources r2 = {.devices = &any, .n_devices = 1};
	ok(sm_cgroup_apply(cg, &r2, NULL, &e) == 0, "allow all again: %s", e.msg);
}

static void test_lifecycle(void)
{
	struct sm_cgroup *cg = NULL;
	sm_error_t e = SM_ERROR_INIT;
	cleanup_free char *path = sm_xasprintf("%s/ctr", base);

	if (sm_cgroup_open(path, "ctr", false, &cg, &e) < 0) {
		ok(0, "open %s: %s", path, e.msg);
		return;
	}
	track(cg);
	ok(sm_cgroup_create(cg, &e) == 0, "create %s: %s", path, e.msg);
	bool dirs = true;
	for (size_t i = 0; i < cg->n; i++)
		dirs &= access(cg->h[i].dir, F_OK) == 0;
	ok(dirs, "directory exists in all %zu hierarchies", cg->n);
	const struct sm_cgroup_hier *cs = sm_cgroup_find(cg, "cpuset");
	if (cs != NULL && !cs->v2) {
		cleanup_free char *c = rd(cs->dir, "cpuset.cpus"), *m = rd(cs->dir, "cpuset.mems");
		ok(c[0] != '\0' && m[0] != '\0', "v1 cpuset cpus/mems copied from the parent (%s/%s)", c, m);
	}
	ok(sm_cgroup_create(cg, &e) == 0, "create again joins the existing cgroup");

	test_bad_values(cg);
	test_apply(cg);
	test_unified(cg);
	test_devices(cg);

	pid_t child = fork();
	if (child == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		pause();
		_exit(0);
	}
	ok(sm_cgroup_enter(cg, child, &e) == 0, "enter child %d: %s", (int)child, e.msg);
	cleanup_free char *pc = NULL;
	cleanup_free char *procfile = sm_xasprintf("/proc/%d/cgroup", (int)child);
	sm_read_file(procfile, 1 << 16, &pc, NULL, &e);
	size_t found = 0;
	for (size_t i = 0; i < cg->n; i++) {
		cleanup_free char *want = sm_xasprintf(":%s\n", cg->h[i].rel);
		found += pc != NULL && strstr(pc, want) != NULL;
	}
	ok(found == cg->n, "/proc/%d/cgroup shows %s in %zu/%zu hierarchies", (int)child, path, found, cg->n);

	struct sm_cgroup_stats st;
	int src = sm_cgroup_stats(cg, &st, &e);
	ok(src == 0 && st.has_pids && st.pids == 1 && st.has_memory && st.has_cpu,
	   "stats: pids %llu, memory %llu bytes, cpu %llu ns", (unsigned long long)st.pids,
	   (unsigned long long)st.memory_bytes, (unsigned long long)st.cpu_ns);
	ok(st.mem.has && st.mem.limit > 0 && st.has_oom,
	   "stats: memory limit %llu, OOM kill counter %llu (pids limit %llu, 0 = max)",
	   (unsigned long long)st.mem.limit, (unsigned long long)st.oom_kills,
	   (unsigned long long)st.pids_limit);
	sm_cgroup_stats_clear(&st);

	/* delete runs in another process: it reloads the description from state.json. */
	cleanup_free char *desc = sm_cgroup_describe(cg);
	struct sm_cgroup *loaded = NULL;
	ok(sm_cgroup_load(desc, &loaded, &e) == 0 && loaded->n == cg->n &&
	       strcmp(loaded->h[cg->n - 1].dir, cg->h[cg->n - 1].dir) == 0,
	   "describe/load round trip: %s", e.msg);
	struct sm_cgroup_vm lvm = {0, 0, 0};
	ok(loaded != NULL && sm_cgroup_get_vm(loaded, &lvm) && lvm.guest_mem_bytes == 512u << 20 &&
	       lvm.vmm_overhead_bytes == 64u << 20 && lvm.vcpus == 2,
	   "describe/load keeps the VM the resources were mapped for (update needs it): %s", desc);
	if (loaded != NULL) {
		track(loaded);
		uint64_t t0 = sm_now_ns();
		int drc = sm_cgroup_destroy(loaded, &e);
		ok(drc == 0, "destroy (loaded handle) in %llu ms: %s",
		   (unsigned long long)((sm_now_ns() - t0) / 1000000), e.msg);
	}
	int status = 0;
	ok(waitpid(child, &status, 0) == child && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	   "destroy killed the child with SIGKILL");
	dirs = false;
	for (size_t i = 0; i < cg->n; i++)
		dirs |= access(cg->h[i].dir, F_OK) == 0;
	ok(!dirs, "directories removed from every hierarchy");
	ok(sm_cgroup_destroy(cg, &e) == 0, "destroy again: already gone is fine: %s", e.msg);

	test_self_enter();

	struct sm_cgroup *bad = NULL;
	ok(sm_cgroup_load("v1\n1 memory /etc /x\n", &bad, &e) < 0, "load refuses a non-cgroup mount: %s",
	   e.msg);
	ok(sm_cgroup_load("v1\n1 memory /sys/fs/cgroup/memory /../../etc\n", &bad, &e) < 0,
	   "load refuses a path with ..: %s", e.msg);
	ok(sm_cgroup_load("v1\nvm 1 2\n", &bad, &e) < 0, "load refuses a malformed vm line: %s", e.msg);
}

/* An interrupted run (make check timeout, ^C) still removes its cgroups through atexit(). */
static void on_signal(int sig)
{
	(void)sig;
	exit(1);
}

int main(void)
{
	struct statfs sfs;

	if (geteuid() != 0)
		tap_skip_all("needs root to create cgroups");
	if (statfs("/sys/fs/cgroup", &sfs) < 0 ||
	    (sfs.f_type != CGROUP2_SUPER_MAGIC && sfs.f_type != TMPFS_MAGIC))
		tap_skip_all("no cgroup filesystem at /sys/fs/cgroup");
	snprintf(base, sizeof(base), "/sm-cgtest-%d", (int)getpid());
	atexit(cleanup_all);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	test_paths();
	test_guest_mib();
	test_open();
	test_lifecycle();
	return tap_done();
}
