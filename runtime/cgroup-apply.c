/* SPDX-License-Identifier: Apache-2.0 */
/* Host cgroups: linux.resources mapped onto the VMM's cgroup (v1 and v2 files). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/cgroup-internal.h"

#define F "linux.resources."

/* The hierarchy for ctrl, or an error naming field. */
static struct sm_cgroup_hier *need(struct sm_cgroup *cg, const char *ctrl, const char *field, sm_error_t *err)
{
	struct sm_cgroup_hier *h = sm_cgroup_find(cg, ctrl);

	if (h == NULL)
		sm_error_set(err, 0, "%s: the host has no %s cgroup controller", field, ctrl);
	return h;
}

static int vwr(const struct sm_cgroup_hier *h, const char *file, const char *field, sm_error_t *err,
	       const char *fmt, va_list ap)
{
	char val[256];
	int r;

	vsnprintf(val, sizeof(val), fmt, ap);
	if ((r = sm_cgroup_write(h->dir, file, val)) == 0)
		return 0;
	if (r == -ENOENT) {
		cleanup_free char *ctrls = NULL;
		size_t n = strcspn(file, ".");
		/* On cgroup2 a missing file usually means the parent did not delegate the controller. */
		if (h->v2 && sm_cgroup_read(h->dir, "cgroup.controllers", &ctrls) == 0) {
			cleanup_free char *c = strndup(file, n);
			if (c != NULL && strstr(ctrls, c) == NULL)
				return sm_error_set(err, 0, "%s: the %s controller is not enabled for %s",
						    field, c, h->dir);
		}
		return sm_error_set(err, 0, "%s: not supported by this host (no %s/%s)", field, h->dir, file);
	}
	return sm_error_set(err, -r, "%s: write \"%s\" to %s/%s", field, val, h->dir, file);
}

static int wr(const struct sm_cgroup_hier *h, const char *file, const char *field, sm_error_t *err,
	      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int wr(const struct sm_cgroup_hier *h, const char *file, const char *field, sm_error_t *err,
	      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vwr(h, file, field, err, fmt, ap);
	va_end(ap);
	return r;
}

/* Host memory figures after the microVM mapping; 0 = leave alone, -1 = unlimited. */
struct mem_plan {
	int64_t limit;	 /* memory.max / memory.limit_in_bytes */
	int64_t swap_v1; /* memory.memsw.limit_in_bytes (memory + swap) */
	int64_t swap_v2; /* memory.swap.max (swap only) */
};

static int plan_memory(const struct sm_oci_memory *m, const struct sm_cgroup_vm *vm, struct mem_plan *p,
		       sm_error_t *err)
{
	int64_t lim = m->limit.set ? m->limit.val : 0;
	int64_t sw = m->swap.set ? m->swap.val : 0;

	memset(p, 0, sizeof(*p));
	p->limit = lim;
	if (lim > 0 && vm != NULL && vm->guest_mem_bytes > 0) {
		uint64_t over =
		    vm->vmm_overhead_bytes ? vm->vmm_overhead_bytes : SM_CGROUP_VMM_OVERHEAD_DEFAULT;
		/*
		 * The limit is written exactly as given (as runc does; callers read it back) and
		 * bounds the whole VM: guest RAM plus the VMM's own memory must fit under it.
		 */
		uint64_t need = vm->guest_mem_bytes + over;
		if (need < over || need > (uint64_t)lim)
			return sm_error_set(
			    err, 0,
			    F "memory.limit: %" PRId64 " bytes is below the VM's minimum of %" PRIu64
			      " bytes: guest RAM (%" PRIu64 " bytes, fixed when the container is "
			      "created; annotation org.sm-runtime.vm.mem_mib) plus the VMM's own %" PRIu64
			      " bytes",
			    lim, need, vm->guest_mem_bytes, over);
	}
	if (sw == -1 || (lim == -1 && sw == 0)) {
		p->swap_v1 = p->swap_v2 = -1;
	} else if (sw > 0) {
		if (lim <= 0)
			return sm_error_set(err, 0, F "memory.swap: needs " F "memory.limit");
		if (sw < lim)
			return sm_error_set(err, 0,
					    F "memory.swap: %" PRId64 " is less than " F
					      "memory.limit (%" PRId64 "); swap is the memory+swap total",
					    sw, lim);
		/* The container's swap allowance (swap - limit) stays the same on top of the host limit. */
		p->swap_v2 = sw - lim;
		if (__builtin_add_overflow(p->limit, sw - lim, &p->swap_v1))
			p->swap_v1 = -1;
	}
	return 0;
}

static int v1_limits(const struct sm_cgroup_hier *h, const struct mem_plan *plan, sm_error_t *err)
{
	const char *lf = "memory.limit_in_bytes", *sf = "memory.memsw.limit_in_bytes";
	struct mem_plan copy = *plan, *p = &copy;
	cleanup_free char *probe = NULL;

	/* No swap accounting on this host: "unlimited swap" is what it has anyway. */
	if (p->swap_v1 == -1 && sm_cgroup_read(h->dir, sf, &probe) == -ENOENT)
		p->swap_v1 = 0;
	if (p->limit != 0 && p->swap_v1 != 0) {
		/* The kernel keeps memsw >= limit at every step: grow memsw first, shrink it last. */
		cleanup_free char *cur = NULL;
		bool swap_first = p->swap_v1 == -1;
		if (!swap_first && sm_cgroup_read(h->dir, lf, &cur) == 0)
			swap_first = strtoull(cur, NULL, 10) < (uint64_t)p->swap_v1;
		if (swap_first && wr(h, sf, F "memory.swap", err, "%" PRId64, p->swap_v1) < 0)
			return -1;
		if (wr(h, lf, F "memory.limit", err, "%" PRId64, p->limit) < 0)
			return -1;
		return swap_first ? 0 : wr(h, sf, F "memory.swap", err, "%" PRId64, p->swap_v1);
	}
	if (p->limit != 0 && wr(h, lf, F "memory.limit", err, "%" PRId64, p->limit) < 0)
		return -1;
	if (p->swap_v1 != 0)
		return wr(h, sf, F "memory.swap", err, "%" PRId64, p->swap_v1);
	return 0;
}

static int apply_memory(struct sm_cgroup *cg, const struct sm_oci_memory *m, const struct mem_plan *p,
			sm_error_t *err)
{
	struct sm_cgroup_hier *h;
	int64_t res = m->reservation.set ? m->reservation.val : 0;

	if (m->kernel.set)
		sm_cgroup_warn(cg, F "memory.kernel: ignored (deprecated; runc ignores it too)");
	if (m->kernel_tcp.set)
		sm_cgroup_warn(cg, F
			       "memory.kernelTCP: ignored (the container's TCP stack is the guest kernel's)");
	if (m->use_hierarchy.set && !m->use_hierarchy.val)
		sm_cgroup_warn(cg, F
			       "memory.useHierarchy: ignored (host memory cgroups are always hierarchical)");
	if (p->limit == 0 && p->swap_v1 == 0 && res == 0 && !m->swappiness.set && !m->disable_oom_killer.set)
		return 0;
	if ((h = need(cg, "memory", F "memory", err)) == NULL)
		return -1;
	if (h->v2) {
		cleanup_free char *cur = NULL;
		/* runc's checkBeforeUpdate: cgroup v2 would reclaim (or OOM-kill) instead of refusing. */
		if (m->check_before_update.set && m->check_before_update.val && p->limit > 0 &&
		    sm_cgroup_read(h->dir, "memory.current", &cur) == 0 &&
		    strtoull(cur, NULL, 10) > (uint64_t)p->limit)
			return sm_error_set(
			    err, 0, F "memory.limit: %" PRId64 " is below the current usage (%s bytes)",
			    p->limit, cur);
		if (p->limit < 0 && wr(h, "memory.max", F "memory.limit", err, "max") < 0)
			return -1;
		if (p->limit > 0 && wr(h, "memory.max", F "memory.limit", err, "%" PRId64, p->limit) < 0)
			return -1;
		if (p->swap_v2 == -1 && wr(h, "memory.swap.max", F "memory.swap", err, "max") < 0)
			return -1;
		if (p->swap_v2 > 0 &&
		    wr(h, "memory.swap.max", F "memory.swap", err, "%" PRId64, p->swap_v2) < 0)
			return -1;
		if (res == -1 && wr(h, "memory.low", F "memory.reservation", err, "max") < 0)
			return -1;
		if (res > 0 && wr(h, "memory.low", F "memory.reservation", err, "%" PRId64, res) < 0)
			return -1;
		if (m->swappiness.set)
			sm_cgroup_warn(cg, F "memory.swappiness: ignored (no cgroup v2 equivalent)");
		if (m->disable_oom_killer.set)
			sm_cgroup_warn(cg, F "memory.disableOOMKiller: ignored (no cgroup v2 equivalent)");
		return 0;
	}
	if (v1_limits(h, p, err) < 0)
		return -1;
	if (res != 0 && wr(h, "memory.soft_limit_in_bytes", F "memory.reservation", err, "%" PRId64, res) < 0)
		return -1;
	if (m->swappiness.set &&
	    wr(h, "memory.swappiness", F "memory.swappiness", err, "%" PRIu64, m->swappiness.val) < 0)
		return -1;
	if (m->disable_oom_killer.set && wr(h, "memory.oom_control", F "memory.disableOOMKiller", err, "%d",
					    m->disable_oom_killer.val) < 0)
		return -1;
	return 0;
}

static int check_cpu(const struct sm_oci_cpu *c, sm_error_t *err)
{
	if (c->shares.set && c->shares.val != 0 && (c->shares.val < 2 || c->shares.val > 262144))
		return sm_error_set(err, 0, F "cpu.shares: %" PRIu64 " out of range [2, 262144]",
				    c->shares.val);
	if (c->period.set && c->period.val != 0 && (c->period.val < 1000 || c->period.val > 1000000))
		return sm_error_set(err, 0,
				    F "cpu.period: %" PRIu64 " out of range [1000, 1000000] (microseconds)",
				    c->period.val);
	if (c->quota.set && c->quota.val != 0 && c->quota.val != -1 && c->quota.val < 1000)
		return sm_error_set(err, 0,
				    F "cpu.quota: %" PRId64 " is below the kernel's minimum of 1000 "
				      "microseconds (-1 = unlimited)",
				    c->quota.val);
	if (c->burst.set && c->burst.val != 0 && !(c->quota.set && c->quota.val > 0))
		return sm_error_set(err, 0, F "cpu.burst: needs a positive " F "cpu.quota");
	const char *names[] = {"cpus", "mems"};
	const char *vals[] = {c->cpus, c->mems};
	for (size_t i = 0; i < 2; i++)
		if (vals[i] != NULL && strspn(vals[i], "0123456789,-") != strlen(vals[i]))
			return sm_error_set(err, 0, F "cpu.%s: \"%.64s\" is not a list like 0-3,7", names[i],
					    vals[i]);
	return 0;
}

static int apply_cpu_v1(const struct sm_cgroup_hier *h, const struct sm_oci_cpu *c, sm_error_t *err)
{
	bool period = c->period.set && c->period.val != 0, quota = c->quota.set && c->quota.val != 0;
	int r;

	if (c->shares.set && c->shares.val != 0 &&
	    wr(h, "cpu.shares", F "cpu.shares", err, "%" PRIu64, c->shares.val) < 0)
		return -1;
	if (period) {
		char buf[32];
		snprintf(buf, sizeof(buf), "%" PRIu64, c->period.val);
		r = sm_cgroup_write(h->dir, "cpu.cfs_period_us", buf);
		/* A shorter period can be refused while old quota/new period is too high: retry after quota.
		 */
		if (r < 0 && !(r == -EINVAL && quota))
			return wr(h, "cpu.cfs_period_us", F "cpu.period", err, "%s", buf);
		period = r < 0;
	}
	if (quota && wr(h, "cpu.cfs_quota_us", F "cpu.quota", err, "%" PRId64, c->quota.val) < 0)
		return -1;
	if (period && wr(h, "cpu.cfs_period_us", F "cpu.period", err, "%" PRIu64, c->period.val) < 0)
		return -1;
	if (c->burst.set && wr(h, "cpu.cfs_burst_us", F "cpu.burst", err, "%" PRIu64, c->burst.val) < 0)
		return -1;
	if (c->realtime_period.set &&
	    wr(h, "cpu.rt_period_us", F "cpu.realtimePeriod", err, "%" PRIu64, c->realtime_period.val) < 0)
		return -1;
	if (c->realtime_runtime.set &&
	    wr(h, "cpu.rt_runtime_us", F "cpu.realtimeRuntime", err, "%" PRId64, c->realtime_runtime.val) < 0)
		return -1;
	return 0;
}

static int apply_cpu_v2(const struct sm_cgroup_hier *h, const struct sm_oci_cpu *c, sm_error_t *err)
{
	bool period = c->period.set && c->period.val != 0, quota = c->quota.set && c->quota.val != 0;

	if (c->realtime_period.set || c->realtime_runtime.set)
		return sm_error_set(err, 0, F "cpu.%s: realtime group scheduling does not exist on cgroup v2",
				    c->realtime_period.set ? "realtimePeriod" : "realtimeRuntime");
	if (c->shares.set && c->shares.val != 0 &&
	    wr(h, "cpu.weight", F "cpu.shares", err, "%" PRIu64, sm_cgroup_shares_to_weight(c->shares.val)) <
		0)
		return -1;
	if (quota || period) {
		char q[32] = "max", p[32] = "";
		cleanup_free char *cur = NULL;
		if (quota && c->quota.val > 0)
			snprintf(q, sizeof(q), "%" PRId64, c->quota.val);
		/* cpu.max takes the quota first: a period alone (an update) must keep the current quota. */
		if (!quota && sm_cgroup_read(h->dir, "cpu.max", &cur) == 0 && cur[0] >= '0' && cur[0] <= '9')
			snprintf(q, sizeof(q), "%.*s", (int)strspn(cur, "0123456789"), cur);
		if (period)
			snprintf(p, sizeof(p), " %" PRIu64, c->period.val);
		if (wr(h, "cpu.max", quota ? F "cpu.quota" : F "cpu.period", err, "%s%s", q, p) < 0)
			return -1;
	}
	if (c->burst.set && wr(h, "cpu.max.burst", F "cpu.burst", err, "%" PRIu64, c->burst.val) < 0)
		return -1;
	return 0;
}

static int apply_cpu(struct sm_cgroup *cg, const struct sm_oci_cpu *c, sm_error_t *err)
{
	struct sm_cgroup_hier *h;

	if ((c->shares.set && c->shares.val) || (c->quota.set && c->quota.val) ||
	    (c->period.set && c->period.val) || c->burst.set || c->idle.set || c->realtime_period.set ||
	    c->realtime_runtime.set) {
		if ((h = need(cg, "cpu", F "cpu", err)) == NULL)
			return -1;
		if ((h->v2 ? apply_cpu_v2 : apply_cpu_v1)(h, c, err) < 0)
			return -1;
		if (c->idle.set && wr(h, "cpu.idle", F "cpu.idle", err, "%" PRId64, c->idle.val) < 0)
			return -1;
	}
	const char *files[] = {"cpuset.cpus", "cpuset.mems"}, *fields[] = {F "cpu.cpus", F "cpu.mems"};
	const char *vals[] = {c->cpus, c->mems};
	for (size_t i = 0; i < 2; i++) {
		if (vals[i] == NULL || vals[i][0] == '\0')
			continue;
		if ((h = need(cg, "cpuset", fields[i], err)) == NULL ||
		    wr(h, files[i], fields[i], err, "%s", vals[i]) < 0)
			return -1;
	}
	return 0;
}

static int apply_pids(struct sm_cgroup *cg, int64_t limit, const struct sm_cgroup_vm *vm, sm_error_t *err)
{
	struct sm_cgroup_hier *h = need(cg, "pids", F "pids.limit", err);
	uint64_t vcpus = vm != NULL && vm->vcpus > 0 ? vm->vcpus : 1;

	if (h == NULL)
		return -1;
	if (limit < 0)
		return wr(h, "pids.max", F "pids.limit", err, "max");
	/*
	 * Exactly the requested value, as runc writes it (callers and conformance tools read it
	 * back). On the host the cgroup holds the VMM's threads and the exec proxies, so a limit
	 * that leaves the VMM no room for its own threads cannot work.
	 */
	uint64_t host = (uint64_t)limit, need_tasks = vcpus + SM_CGROUP_VMM_BASE_TASKS;
	if (host < need_tasks)
		return sm_error_set(err, 0,
				    F "pids.limit: %" PRIu64 " is below the %" PRIu64
				      " tasks the container's VMM itself needs on the host",
				    host, need_tasks);
	return wr(h, "pids.max", F "pids.limit", err, "%" PRIu64, host);
}

/* Write to the first of files that exists (blkio.weight or the BFQ scheduler's file). */
static int wr_either(const struct sm_cgroup_hier *h, const char *f1, const char *f2, const char *field,
		     sm_error_t *err, const char *val)
{
	int r = sm_cgroup_write(h->dir, f1, val);

	if (r == -ENOENT)
		r = sm_cgroup_write(h->dir, f2, val);
	if (r == 0)
		return 0;
	if (r == -ENOENT)
		return sm_error_set(err, 0, "%s: not supported by this host (no %s/%s or %s)", field, h->dir,
				    f1, f2);
	return sm_error_set(err, -r, "%s: write \"%s\" to %s/%s", field, val, h->dir, f1);
}

/* runc's conversion of blkio.weight [10, 1000] to io.weight [1, 10000]. */
static uint64_t blkio_to_io_weight(uint64_t w)
{
	return 1 + (w - 10) * 9999 / 990;
}

static int weight(const struct sm_cgroup_hier *h, const char *dev, uint64_t w, const char *field,
		  sm_error_t *err)
{
	char val[64];

	if (w < 10 || w > 1000)
		return sm_error_set(err, 0, "%s: %" PRIu64 " out of range [10, 1000]", field, w);
	if (h->v2) {
		/* io.bfq.weight takes the blkio range as is; io.weight needs the conversion. */
		snprintf(val, sizeof(val), "%s%" PRIu64, dev, w);
		if (sm_cgroup_write(h->dir, "io.bfq.weight", val) == 0)
			return 0;
		return wr(h, "io.weight", field, err, "%s%" PRIu64, dev, blkio_to_io_weight(w));
	}
	snprintf(val, sizeof(val), "%s%" PRIu64, dev, w);
	return wr_either(h, dev[0] ? "blkio.weight_device" : "blkio.weight",
			 dev[0] ? "blkio.bfq.weight_device" : "blkio.bfq.weight", field, err, val);
}

static int throttles(const struct sm_cgroup_hier *h, const struct sm_oci_throttles *t, const char *name,
		     const char *v1file, const char *v2key, sm_error_t *err)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct sm_oci_blkio_throttle *d = &t->v[i];
		char field[96];
		int r;
		snprintf(field, sizeof(field), F "blockIO.%s[%zu]", name, i);
		if (h->v2 && d->rate == 0)
			r = wr(h, "io.max", field, err, "%" PRId64 ":%" PRId64 " %s=max", d->major, d->minor,
			       v2key);
		else if (h->v2)
			r = wr(h, "io.max", field, err, "%" PRId64 ":%" PRId64 " %s=%" PRIu64, d->major,
			       d->minor, v2key, d->rate);
		else
			r = wr(h, v1file, field, err, "%" PRId64 ":%" PRId64 " %" PRIu64, d->major, d->minor,
			       d->rate);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int apply_blkio(struct sm_cgroup *cg, const struct sm_oci_blockio *b, sm_error_t *err)
{
	struct sm_cgroup_hier *h = need(cg, "blkio", F "blockIO", err);

	if (h == NULL) {
		sm_error_clear(err);
		if ((h = need(cg, "io", F "blockIO", err)) == NULL)
			return -1;
	}
	if (b->weight.set && b->weight.val != 0 && weight(h, "", b->weight.val, F "blockIO.weight", err) < 0)
		return -1;
	if (b->leaf_weight.set &&
	    (h->v2 ? sm_error_set(err, 0, F "blockIO.leafWeight: no cgroup v2 equivalent")
		   : wr(h, "blkio.leaf_weight", F "blockIO.leafWeight", err, "%" PRIu64,
			b->leaf_weight.val)) < 0)
		return -1;
	for (size_t i = 0; i < b->n_weight_device; i++) {
		const struct sm_oci_blkio_weight_device *d = &b->weight_device[i];
		char field[96], dev[48];
		snprintf(dev, sizeof(dev), "%" PRId64 ":%" PRId64 " ", d->major, d->minor);
		snprintf(field, sizeof(field), F "blockIO.weightDevice[%zu].weight", i);
		if (d->weight.set && weight(h, dev, d->weight.val, field, err) < 0)
			return -1;
		snprintf(field, sizeof(field), F "blockIO.weightDevice[%zu].leafWeight", i);
		if (d->leaf_weight.set && (h->v2 ? sm_error_set(err, 0, "%s: no cgroup v2 equivalent", field)
						 : wr(h, "blkio.leaf_weight_device", field, err, "%s%" PRIu64,
						      dev, d->leaf_weight.val)) < 0)
			return -1;
	}
	if (throttles(h, &b->throttle_read_bps, "throttleReadBpsDevice", "blkio.throttle.read_bps_device",
		      "rbps", err) < 0 ||
	    throttles(h, &b->throttle_write_bps, "throttleWriteBpsDevice", "blkio.throttle.write_bps_device",
		      "wbps", err) < 0 ||
	    throttles(h, &b->throttle_read_iops, "throttleReadIOPSDevice", "blkio.throttle.read_iops_device",
		      "riops", err) < 0 ||
	    throttles(h, &b->throttle_write_iops, "throttleWriteIOPSDevice",
		      "blkio.throttle.write_iops_device", "wiops", err) < 0)
		return -1;
	return 0;
}

static bool blkio_set(const struct sm_oci_blockio *b)
{
	return (b->weight.set && b->weight.val) || b->leaf_weight.set || b->n_weight_device ||
	       b->throttle_read_bps.n || b->throttle_write_bps.n || b->throttle_read_iops.n ||
	       b->throttle_write_iops.n;
}

/*
 * Host devices the VMM itself opens after entering the cgroup (/dev/kvm, /dev/null for the jail's
 * stdio, entropy) plus the terminal devices runc also allows, so that a config's deny rules cannot
 * lock the VMM out of what it needs. Written after the config's rules (see apply_devices()).
 */
static const char *const vmm_devices[] = {
    "c 10:232 rwm", /* /dev/kvm */
    "c 1:3 rwm",    /* /dev/null */
    "c 1:5 rwm",    /* /dev/zero */
    "c 1:7 rwm",    /* /dev/full */
    "c 1:8 rwm",    /* /dev/random */
    "c 1:9 rwm",    /* /dev/urandom */
    "c 5:0 rwm",    /* /dev/tty */
    "c 5:2 rwm",    /* /dev/ptmx */
    "c 136:* rwm",  /* /dev/pts/N */
};

/* One OCI device rule in devices.allow/deny syntax ("c 10:229 rwm", "a *:* rwm"). */
static void device_rule_text(const struct sm_oci_device_rule *d, char *buf, size_t size)
{
	char maj[24] = "*", min[24] = "*";

	if (d->major.set && d->major.val >= 0)
		snprintf(maj, sizeof(maj), "%" PRId64, d->major.val);
	if (d->minor.set && d->minor.val >= 0)
		snprintf(min, sizeof(min), "%" PRId64, d->minor.val);
	snprintf(buf, size, "%c %s:%s %s", d->type ? d->type : 'a', maj, min,
		 d->access && d->access[0] ? d->access : "rwm");
}

/*
 * linux.resources.devices on the VMM's v1 devices cgroup: the config's rules first, in order (the
 * kernel keeps exceptions in insertion order, so devices.list starts with them, as under runc),
 * then the VMM's own devices. The container's device nodes live in the guest; on the host the rules
 * bound what the VMM process may open. cgroup v2 device control needs an eBPF program: not done,
 * with a warning.
 */
static int apply_devices(struct sm_cgroup *cg, const struct sm_oci_resources *res, sm_error_t *err)
{
	struct sm_cgroup_hier *h = sm_cgroup_find(cg, "devices");
	char rule[96], field[64];

	if (res->n_devices == 0)
		return 0;
	if (h == NULL || h->v2) {
		sm_cgroup_warn(cg, F "devices: not applied to the host cgroup (cgroup v2 device rules need "
				     "an eBPF program); the container's devices are the guest's");
		return 0;
	}
	for (size_t i = 0; i < res->n_devices; i++) {
		const struct sm_oci_device_rule *d = &res->devices[i];
		device_rule_text(d, rule, sizeof(rule));
		snprintf(field, sizeof(field), F "devices[%zu]", i);
		if (wr(h, d->allow ? "devices.allow" : "devices.deny", field, err, "%s", rule) < 0)
			return -1;
	}
	for (size_t i = 0; i < SM_ARRAY_SIZE(vmm_devices); i++)
		if (wr(h, "devices.allow", F "devices (the VMM's own devices)", err, "%s", vmm_devices[i]) <
		    0)
			return -1;
	return 0;
}

/*
 * The memory limit in force now (memory.max / memory.limit_in_bytes); 0 when unlimited or unknown.
 * v1 reports "unlimited" as the largest page-aligned int64 (9223372036854771712).
 */
static int64_t current_limit(struct sm_cgroup *cg)
{
	struct sm_cgroup_hier *h = sm_cgroup_find(cg, "memory");
	cleanup_free char *cur = NULL;
	uint64_t v;

	if (h == NULL || sm_cgroup_read(h->dir, h->v2 ? "memory.max" : "memory.limit_in_bytes", &cur) < 0 ||
	    sm_parse_u64(cur, 1, INT64_MAX, "", &v, NULL) < 0 || v >= (1ull << 62))
		return 0;
	return (int64_t)v;
}

int sm_cgroup_guest_mib_for_limit(int64_t limit, uint64_t max_mib, uint64_t *guest_mib, sm_error_t *err)
{
	const uint64_t over = SM_CGROUP_VMM_OVERHEAD_DEFAULT, min = (uint64_t)SM_CGROUP_MIN_GUEST_MIB << 20;
	uint64_t mib;

	if (limit <= 0 || (uint64_t)limit < min + over)
		return sm_error_set(
		    err, 0,
		    F "memory.limit: %" PRId64 " bytes is below the minimum of %" PRIu64
		      " bytes for a VM: guest RAM (at least %u MiB) plus the VMM's own %" PRIu64 " MiB",
		    limit, min + over, SM_CGROUP_MIN_GUEST_MIB, over >> 20);
	mib = (((uint64_t)limit - over) >> 20) / SM_CGROUP_GUEST_MIB_STEP * SM_CGROUP_GUEST_MIB_STEP;
	*guest_mib = mib < max_mib ? mib : max_mib;
	return 0;
}

int sm_cgroup_apply(struct sm_cgroup *cg, const struct sm_oci_resources *res, const struct sm_cgroup_vm *vm,
		    sm_error_t *err)
{
	struct mem_plan mp = {0, 0, 0};
	struct sm_oci_memory mem = {0};

	if (vm != NULL) {
		cg->vm = *vm;
		cg->has_vm = true;
	}
	if (res == NULL)
		return 0;
	if (res->memory != NULL) {
		mem = *res->memory;
		/* runc merges an update into the limits it keeps; the cgroup itself holds ours. */
		if (mem.swap.set && mem.swap.val > 0 && !(mem.limit.set && mem.limit.val != 0)) {
			int64_t cur = current_limit(cg);
			if (cur > 0)
				mem.limit = (struct sm_oci_i64){true, cur};
		}
	}
	/* Everything that needs no host is checked before the first write. */
	if (res->memory != NULL && plan_memory(&mem, vm, &mp, err) < 0)
		return -1;
	if (res->cpu != NULL && check_cpu(res->cpu, err) < 0)
		return -1;
	if (res->n_rdma > 0)
		return sm_error_set(err, 0, F "rdma: not supported (the VM has no RDMA devices)");
	if (res->network != NULL && (res->network->class_id.set || res->network->n_priorities > 0))
		return sm_error_set(err, 0,
				    F "network: not supported (the container's traffic leaves through "
				      "the VM's network device, not host sockets of its own)");
	if (res->memory != NULL && apply_memory(cg, &mem, &mp, err) < 0)
		return -1;
	if (res->cpu != NULL && apply_cpu(cg, res->cpu, err) < 0)
		return -1;
	if (res->pids_limit.set && res->pids_limit.val != 0 &&
	    apply_pids(cg, res->pids_limit.val, vm, err) < 0)
		return -1;
	if (res->block_io != NULL && blkio_set(res->block_io) && apply_blkio(cg, res->block_io, err) < 0)
		return -1;
	if (apply_devices(cg, res, err) < 0)
		return -1;
	for (size_t i = 0; i < res->unified.n; i++) {
		const char *k = res->unified.v[i].key;
		struct sm_cgroup_hier *h = sm_cgroup_find(cg, "");
		cleanup_free char *field = sm_xasprintf(F "unified[\"%.64s\"]", k);
		static const char *const forbidden[] = {"cgroup.procs", "cgroup.threads",
							"cgroup.kill",	"cgroup.subtree_control",
							"cgroup.type",	"cgroup.freeze"};
		if (h == NULL)
			return sm_error_set(err, 0, "%s: needs a cgroup v2 hierarchy", field);
		if (k[0] == '\0' || k[0] == '.' || strchr(k, '/') != NULL || strchr(k, '.') == NULL)
			return sm_error_set(err, 0, "%s: not a cgroup file name", field);
		for (size_t j = 0; j < SM_ARRAY_SIZE(forbidden); j++)
			if (strcmp(k, forbidden[j]) == 0)
				return sm_error_set(err, 0, "%s: not a resource setting", field);
		if (wr(h, k, field, err, "%s", res->unified.v[i].value) < 0)
			return -1;
	}
	return 0;
}
