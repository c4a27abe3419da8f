/* SPDX-License-Identifier: Apache-2.0 */
/* config.json "linux.resources" (cgroup settings). */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "oci/config-parse.h"

static int parse_device_rule(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"allow", "type", "major", "minor", "access", NULL};
	struct sm_oci_device_rule *d = out;
	char *type = NULL;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0)
		return r;
	if (sm_j_get(v, "allow") == NULL)
		return sm_j_fail_key(c, "allow", "required but missing");
	if ((r = sm_j_opt_bool(c, v, "allow", &d->allow)) < 0 || (r = sm_j_opt_str(c, v, "type", &type)) < 0)
		return r;
	d->type = type == NULL ? 'a' : type[0];
	if (type != NULL && (strlen(type) != 1 || strchr("acb", type[0]) == NULL)) {
		r = sm_j_fail_key(c, "type", "unknown device type \"%.16s\" (expected a, c or b)", type);
		free(type);
		return r;
	}
	free(type);
	/* -1 is how runc and Docker write "any" (the "*" of devices.allow). */
	if ((r = sm_j_opt_int(c, v, "major", -1, INT64_MAX, &d->major)) < 0 ||
	    (r = sm_j_opt_int(c, v, "minor", -1, INT64_MAX, &d->minor)) < 0 ||
	    (r = sm_j_opt_str(c, v, "access", &d->access)) < 0)
		return r;
	if (d->access != NULL && strspn(d->access, "rwm") != strlen(d->access))
		return sm_j_fail_key(c, "access", "\"%.16s\" is not made of r, w and m", d->access);
	return 0;
}

static int parse_memory(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"limit",
					   "reservation",
					   "swap",
					   "kernel",
					   "kernelTCP",
					   "swappiness",
					   "disableOOMKiller",
					   "useHierarchy",
					   "checkBeforeUpdate",
					   NULL};
	struct sm_oci_memory *m = sm_xcalloc(1, sizeof(*m));
	int r;

	*(struct sm_oci_memory **)out = m;
	if ((r = sm_j_object(c, v, keys)) < 0 ||
	    (r = sm_j_opt_int(c, v, "limit", -1, INT64_MAX, &m->limit)) < 0 ||
	    (r = sm_j_opt_int(c, v, "reservation", -1, INT64_MAX, &m->reservation)) < 0 ||
	    (r = sm_j_opt_int(c, v, "swap", -1, INT64_MAX, &m->swap)) < 0 ||
	    (r = sm_j_opt_int(c, v, "kernel", -1, INT64_MAX, &m->kernel)) < 0 ||
	    (r = sm_j_opt_int(c, v, "kernelTCP", -1, INT64_MAX, &m->kernel_tcp)) < 0 ||
	    (r = sm_j_opt_uint(c, v, "swappiness", UINT64_MAX, &m->swappiness)) < 0)
		return r;
	/* Docker writes -1 cast to uint64 for "unset"; runc accepts it as such. */
	if (m->swappiness.set && m->swappiness.val == UINT64_MAX)
		m->swappiness.set = false;
	if (m->swappiness.set && m->swappiness.val > 100)
		return sm_j_fail_key(c, "swappiness", "value %" PRIu64 " out of range [0, 100]",
				     m->swappiness.val);
	if ((r = sm_j_opt_tbool(c, v, "disableOOMKiller", &m->disable_oom_killer)) < 0 ||
	    (r = sm_j_opt_tbool(c, v, "useHierarchy", &m->use_hierarchy)) < 0)
		return r;
	return sm_j_opt_tbool(c, v, "checkBeforeUpdate", &m->check_before_update);
}

static int parse_cpu(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"shares",	     "quota", "burst", "period", "realtimeRuntime",
					   "realtimePeriod", "cpus",  "mems",  "idle",	 NULL};
	struct sm_oci_cpu *cpu = sm_xcalloc(1, sizeof(*cpu));
	int r;

	*(struct sm_oci_cpu **)out = cpu;
	if ((r = sm_j_object(c, v, keys)) < 0 ||
	    (r = sm_j_opt_uint(c, v, "shares", UINT64_MAX, &cpu->shares)) < 0 ||
	    (r = sm_j_opt_int(c, v, "quota", -1, INT64_MAX, &cpu->quota)) < 0 ||
	    (r = sm_j_opt_uint(c, v, "burst", UINT64_MAX, &cpu->burst)) < 0 ||
	    (r = sm_j_opt_uint(c, v, "period", UINT64_MAX, &cpu->period)) < 0 ||
	    (r = sm_j_opt_int(c, v, "realtimeRuntime", INT64_MIN, INT64_MAX, &cpu->realtime_runtime)) < 0 ||
	    (r = sm_j_opt_uint(c, v, "realtimePeriod", UINT64_MAX, &cpu->realtime_period)) < 0 ||
	    (r = sm_j_opt_str(c, v, "cpus", &cpu->cpus)) < 0 ||
	    (r = sm_j_opt_str(c, v, "mems", &cpu->mems)) < 0 ||
	    (r = sm_j_opt_int(c, v, "idle", 0, 1, &cpu->idle)) < 0)
		return r;
	if (cpu->burst.set && cpu->quota.set && cpu->quota.val > 0 &&
	    cpu->burst.val > (uint64_t)cpu->quota.val)
		return sm_j_fail_key(c, "burst", "%" PRIu64 " is larger than quota %" PRId64, cpu->burst.val,
				     cpu->quota.val);
	return 0;
}

static int parse_weight_device(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"major", "minor", "weight", "leafWeight", NULL};
	struct sm_oci_blkio_weight_device *d = out;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0 ||
	    (r = sm_j_req_int(c, v, "major", 0, INT64_MAX, &d->major)) < 0 ||
	    (r = sm_j_req_int(c, v, "minor", 0, INT64_MAX, &d->minor)) < 0 ||
	    (r = sm_j_opt_uint(c, v, "weight", UINT16_MAX, &d->weight)) < 0 ||
	    (r = sm_j_opt_uint(c, v, "leafWeight", UINT16_MAX, &d->leaf_weight)) < 0)
		return r;
	if (!d->weight.set && !d->leaf_weight.set)
		return sm_j_fail(c, "needs weight or leafWeight");
	return 0;
}

static int parse_throttle(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"major", "minor", "rate", NULL};
	struct sm_oci_blkio_throttle *t = out;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0 ||
	    (r = sm_j_req_int(c, v, "major", 0, INT64_MAX, &t->major)) < 0 ||
	    (r = sm_j_req_int(c, v, "minor", 0, INT64_MAX, &t->minor)) < 0)
		return r;
	return sm_j_req_uint(c, v, "rate", UINT64_MAX, &t->rate);
}

static int opt_throttles(struct sm_jctx *c, yajl_val v, const char *key, struct sm_oci_throttles *t)
{
	return sm_j_opt_array(c, v, key, sizeof(*t->v), parse_throttle, &t->v, &t->n);
}

static int parse_block_io(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"weight",
					   "leafWeight",
					   "weightDevice",
					   "throttleReadBpsDevice",
					   "throttleWriteBpsDevice",
					   "throttleReadIOPSDevice",
					   "throttleWriteIOPSDevice",
					   NULL};
	struct sm_oci_blockio *b = sm_xcalloc(1, sizeof(*b));
	int r;

	*(struct sm_oci_blockio **)out = b;
	if ((r = sm_j_object(c, v, keys)) < 0 ||
	    (r = sm_j_opt_uint(c, v, "weight", UINT16_MAX, &b->weight)) < 0 ||
	    (r = sm_j_opt_uint(c, v, "leafWeight", UINT16_MAX, &b->leaf_weight)) < 0 ||
	    (r = sm_j_opt_array(c, v, "weightDevice", sizeof(*b->weight_device), parse_weight_device,
				&b->weight_device, &b->n_weight_device)) < 0 ||
	    (r = opt_throttles(c, v, "throttleReadBpsDevice", &b->throttle_read_bps)) < 0 ||
	    (r = opt_throttles(c, v, "throttleWriteBpsDevice", &b->throttle_write_bps)) < 0 ||
	    (r = opt_throttles(c, v, "throttleReadIOPSDevice", &b->throttle_read_iops)) < 0)
		return r;
	return opt_throttles(c, v, "throttleWriteIOPSDevice", &b->throttle_write_iops);
}

/* "<size><unit-prefix>B" with a base-1024 prefix ("64KB", "2MB", "1GB"); 0 when malformed. */
static uint64_t page_size_bytes(const char *s)
{
	static const char units[] = "KMGTPE";
	uint64_t n = 0;
	const char *u;

	if (!isdigit((unsigned char)*s))
		return 0;
	for (; isdigit((unsigned char)*s); s++) {
		if (n > UINT64_MAX / 10 - 10)
			return 0;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	if (s[0] == 'B' && s[1] == '\0')
		return n;
	if (s[0] == '\0' || (u = strchr(units, s[0])) == NULL || s[1] != 'B' || s[2] != '\0')
		return 0;
	for (long i = 0; i <= u - units; i++) {
		if (n > UINT64_MAX / 1024)
			return 0;
		n *= 1024;
	}
	return n;
}

static int parse_hugepage(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"pageSize", "limit", NULL};
	struct sm_oci_hugepage_limit *h = out;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0 || (r = sm_j_req_str(c, v, "pageSize", &h->page_size)) < 0)
		return r;
	h->page_bytes = page_size_bytes(h->page_size);
	if (h->page_bytes == 0)
		return sm_j_fail_key(c, "pageSize", "\"%.32s\" is not a size like 2MB or 1GB", h->page_size);
	return sm_j_req_uint(c, v, "limit", UINT64_MAX, &h->limit);
}

static int parse_net_priority(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"name", "priority", NULL};
	struct sm_oci_net_priority *p = out;
	uint64_t prio;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0 || (r = sm_j_req_str(c, v, "name", &p->name)) < 0 ||
	    (r = sm_j_req_uint(c, v, "priority", UINT32_MAX, &prio)) < 0)
		return r;
	p->priority = (uint32_t)prio;
	return 0;
}

static int parse_network(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"classID", "priorities", NULL};
	struct sm_oci_network *n = sm_xcalloc(1, sizeof(*n));
	int r;

	*(struct sm_oci_network **)out = n;
	if ((r = sm_j_object(c, v, keys)) < 0 ||
	    (r = sm_j_opt_uint(c, v, "classID", UINT32_MAX, &n->class_id)) < 0)
		return r;
	return sm_j_opt_array(c, v, "priorities", sizeof(*n->priorities), parse_net_priority, &n->priorities,
			      &n->n_priorities);
}

static int parse_pids(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"limit", NULL};
	struct sm_oci_i64 *limit = out;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0 ||
	    (r = sm_j_req_int(c, v, "limit", INT64_MIN, INT64_MAX, &limit->val)) < 0)
		return r;
	limit->set = true;
	return 0;
}

/* rdma is an object keyed by device name. */
static int parse_rdma(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"hcaHandles", "hcaObjects", NULL};
	struct sm_oci_resources *res = out;
	size_t n;

	if (!YAJL_IS_OBJECT(v))
		return sm_j_fail(c, "expected an object");
	if (sm_j_unique_keys(c, v) < 0)
		return -1;
	n = v->u.object.len;
	res->rdma = sm_xcalloc(n, sizeof(*res->rdma));
	res->n_rdma = n;
	for (size_t i = 0; i < n; i++) {
		struct sm_oci_rdma *d = &res->rdma[i];
		yajl_val e = v->u.object.values[i];
		size_t mark = sm_j_push_mapkey(c, v->u.object.keys[i]);
		int r;

		d->device = sm_xstrdup(v->u.object.keys[i]);
		if ((r = sm_j_object(c, e, keys)) == 0 &&
		    (r = sm_j_opt_uint(c, e, "hcaHandles", UINT32_MAX, &d->hca_handles)) == 0 &&
		    (r = sm_j_opt_uint(c, e, "hcaObjects", UINT32_MAX, &d->hca_objects)) == 0 &&
		    !d->hca_handles.set && !d->hca_objects.set)
			r = sm_j_fail(c, "needs hcaHandles or hcaObjects");
		sm_j_pop(c, mark);
		if (r < 0)
			return r;
	}
	return 0;
}

int sm_oci_parse_resources_obj(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"devices", "memory", "cpu",	"blockIO", "hugepageLimits",
					   "network", "pids",	"rdma", "unified", NULL};
	struct sm_oci_resources *res;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0)
		return r;
	res = sm_xcalloc(1, sizeof(*res));
	*(struct sm_oci_resources **)out = res;
	if ((r = sm_j_opt_array(c, v, "devices", sizeof(*res->devices), parse_device_rule, &res->devices,
				&res->n_devices)) < 0 ||
	    (r = sm_j_opt_sub(c, v, "memory", parse_memory, &res->memory)) < 0 ||
	    (r = sm_j_opt_sub(c, v, "cpu", parse_cpu, &res->cpu)) < 0 ||
	    (r = sm_j_opt_sub(c, v, "blockIO", parse_block_io, &res->block_io)) < 0 ||
	    (r = sm_j_opt_array(c, v, "hugepageLimits", sizeof(*res->hugepage_limits), parse_hugepage,
				&res->hugepage_limits, &res->n_hugepage_limits)) < 0 ||
	    (r = sm_j_opt_sub(c, v, "network", parse_network, &res->network)) < 0 ||
	    (r = sm_j_opt_sub(c, v, "pids", parse_pids, &res->pids_limit)) < 0 ||
	    (r = sm_j_opt_sub(c, v, "rdma", parse_rdma, res)) < 0 ||
	    (r = sm_j_opt_map(c, v, "unified", &res->unified)) < 0)
		return r;
	return 0;
}
