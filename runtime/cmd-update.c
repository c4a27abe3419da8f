/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sm-runtime update [options] ID: change a container's host cgroup limits while it runs, with
 * runc's flags or an OCI linux.resources object (--resources FILE|-), and its pids and memory
 * limits inside the guest too (the monitor's UPDATE -> the agent's). The VM's shape (guest RAM,
 * vCPUs) is fixed at create; docs/design/cgroups.md ("update") says what that means per field.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/proto-tags.h"
#include "common/util.h"
#include "oci/config.h"
#include "runtime/cgroup.h"
#include "runtime/commands.h"
#include "runtime/container.h"
#include "runtime/log.h"
#include "runtime/monitor-proto.h"

/* What the flags ask for: a linux.resources object built in place (no JSON round trip). */
struct update_req {
	const char *resources; /* --resources FILE|- */
	unsigned nflags;       /* resource flags given (ignored with --resources, as runc) */
	struct sm_oci_resources res;
	struct sm_oci_memory mem;
	struct sm_oci_cpu cpu;
	struct sm_oci_blockio blkio;
};

enum {
	OPT_BLKIO_WEIGHT = 256,
	OPT_CPU_PERIOD,
	OPT_CPU_QUOTA,
	OPT_CPU_BURST,
	OPT_CPU_SHARE,
	OPT_CPU_RT_PERIOD,
	OPT_CPU_RT_RUNTIME,
	OPT_CPU_IDLE,
	OPT_CPUSET_CPUS,
	OPT_CPUSET_MEMS,
	OPT_MEMORY,
	OPT_MEMORY_SWAP,
	OPT_MEMORY_RESERVATION,
	OPT_KERNEL_MEMORY,
	OPT_KERNEL_MEMORY_TCP,
	OPT_PIDS_LIMIT,
	OPT_L3_CACHE_SCHEMA,
	OPT_MEM_BW_SCHEMA,
};

static void update_usage(FILE *f)
{
	fprintf(f, "usage: sm-runtime update [options] ID\n\n"
		   "Change the host cgroup limits of a created, running or paused container. Guest RAM and\n"
		   "the vCPU count are fixed when the VM is created: a memory limit below guest RAM + the\n"
		   "VMM's own memory is refused, a CPU quota changes only the host CFS quota. The pids and\n"
		   "memory limits also reach the container's cgroup inside the guest.\n\n"
		   "Options:\n"
		   "  -r, --resources FILE|-      a linux.resources JSON object (from stdin with -); all\n"
		   "                              other options are then ignored, as in runc\n"
		   "  --memory N                  memory limit in bytes (suffix k, m, g, t, p; -1 = none)\n"
		   "  --memory-swap N             memory + swap total (-1 = unlimited swap)\n"
		   "  --memory-reservation N      soft limit\n"
		   "  --cpu-share N               CPU shares [2, 262144] (also --cpu-shares)\n"
		   "  --cpu-period N              CFS period in microseconds\n"
		   "  --cpu-quota N               CFS quota in microseconds per period (-1 = none)\n"
		   "  --cpu-burst N               CFS burst in microseconds\n"
		   "  --cpu-rt-period N           realtime period (cgroup v1)\n"
		   "  --cpu-rt-runtime N          realtime runtime (cgroup v1)\n"
		   "  --cpu-idle 0|1              SCHED_IDLE for the cgroup\n"
		   "  --cpuset-cpus LIST          host CPUs the VMM's threads may use, like 0-3,7\n"
		   "  --cpuset-mems LIST          memory nodes\n"
		   "  --pids-limit N              pids.max on the host (the VMM's threads) and in the\n"
		   "                              guest (the container's processes); -1 = max\n"
		   "  --blkio-weight N            I/O weight [10, 1000]\n"
		   "  --kernel-memory, --kernel-memory-tcp, --l3-cache-schema, --mem-bw-schema: refused\n");
}

/* A signed decimal in [min, max]; errors name the flag. */
static int parse_i64(const char *opt, const char *s, int64_t min, int64_t max, int64_t *out, sm_error_t *err)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (s[0] == '\0' || s[0] == '+' || *end != '\0' || errno != 0)
		return sm_error_set(err, 0, "--%s: `%s` is not a number", opt, s);
	if (v < min || v > max)
		return sm_error_set(err, 0, "--%s: %lld is out of range [%" PRId64 ", %" PRId64 "]", opt, v,
				    min, max);
	*out = v;
	return 0;
}

/*
 * runc's memory sizes (go-units RAMInBytes): digits with an optional fraction, an optional space,
 * an optional binary unit k, m, g, t or p in either case, then optional "i" and "b"; "-1" means
 * unlimited.
 */
static int parse_size(const char *opt, const char *s, int64_t *out, sm_error_t *err)
{
	static const char units[] = "kmgtp";
	uint64_t whole = 0, frac = 0, scale = 1;
	unsigned shift = 0;
	const char *p = s, *u;

	if (strcmp(s, "-1") == 0) {
		*out = -1;
		return 0;
	}
	if (*p < '0' || *p > '9')
		goto bad;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (whole > (UINT64_MAX - 9) / 10)
			goto big;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		if (p[1] < '0' || p[1] > '9')
			goto bad;
		/* Digits past the 9th cannot change a byte count below 2^63 by a whole byte at this scale. */
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (scale < 1000000000) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
	}
	if (*p == ' ')
		p++;
	if (*p != '\0' && (u = strchr(units, *p | 0x20)) != NULL) {
		shift = 10 * (unsigned)(u - units + 1);
		p++;
	}
	if (*p == 'i' || *p == 'I')
		p++;
	if (*p == 'b' || *p == 'B')
		p++;
	if (*p != '\0')
		goto bad;
	if (shift > 0 && whole > (uint64_t)INT64_MAX >> shift)
		goto big;
	uint64_t v = (whole << shift) + (frac << shift) / scale;
	if (v > (uint64_t)INT64_MAX)
		goto big;
	*out = (int64_t)v;
	return 0;
bad:
	return sm_error_set(err, 0,
			    "--%s: `%s` is not a size (bytes, or a number with a unit k, m, g, t or p; "
			    "-1 = unlimited)",
			    opt, s);
big:
	return sm_error_set(err, 0, "--%s: `%s` is too large", opt, s);
}

static int set_u64(const char *opt, const char *s, struct sm_oci_u64 *dst, sm_error_t *err)
{
	dst->set = true;
	return sm_parse_u64(s, 0, UINT64_MAX, opt, &dst->val, err) < 0 ? sm_error_prefix(err, "--") : 0;
}

static int set_i64(const char *opt, const char *s, int64_t min, int64_t max, struct sm_oci_i64 *dst,
		   sm_error_t *err)
{
	dst->set = true;
	return parse_i64(opt, s, min, max, &dst->val, err);
}

/* One resource flag into u (optarg is its value); names follow runc's. */
static int parse_flag(int ch, const char *opt, const char *val, struct update_req *u, sm_error_t *err)
{
	u->nflags++;
	/* runc treats an empty value of a string flag as "not given". */
	if (val[0] == '\0')
		return 0;
	switch (ch) {
	case OPT_MEMORY:
		u->mem.limit.set = true;
		return parse_size(opt, val, &u->mem.limit.val, err);
	case OPT_MEMORY_SWAP:
		u->mem.swap.set = true;
		return parse_size(opt, val, &u->mem.swap.val, err);
	case OPT_MEMORY_RESERVATION:
		u->mem.reservation.set = true;
		return parse_size(opt, val, &u->mem.reservation.val, err);
	case OPT_KERNEL_MEMORY:
	case OPT_KERNEL_MEMORY_TCP:
		return sm_error_set(
		    err, 0,
		    "--%s: not supported (kernel memory limits are deprecated: cgroup v2 has "
		    "none and runc ignores them; the guest kernel's memory is inside guest RAM)",
		    opt);
	case OPT_L3_CACHE_SCHEMA:
	case OPT_MEM_BW_SCHEMA:
		return sm_error_set(err, 0, "--%s: not supported (sm-runtime does not manage Intel RDT)",
				    opt);
	case OPT_CPU_SHARE:
		return set_u64(opt, val, &u->cpu.shares, err);
	case OPT_CPU_PERIOD:
		return set_u64(opt, val, &u->cpu.period, err);
	case OPT_CPU_BURST:
		return set_u64(opt, val, &u->cpu.burst, err);
	case OPT_CPU_RT_PERIOD:
		return set_u64(opt, val, &u->cpu.realtime_period, err);
	case OPT_CPU_QUOTA:
		return set_i64(opt, val, INT64_MIN, INT64_MAX, &u->cpu.quota, err);
	case OPT_CPU_RT_RUNTIME:
		return set_i64(opt, val, INT64_MIN, INT64_MAX, &u->cpu.realtime_runtime, err);
	case OPT_CPU_IDLE:
		return set_i64(opt, val, 0, 1, &u->cpu.idle, err);
	case OPT_CPUSET_CPUS:
		u->cpu.cpus = (char *)val;
		return 0;
	case OPT_CPUSET_MEMS:
		u->cpu.mems = (char *)val;
		return 0;
	case OPT_PIDS_LIMIT:
		return set_i64(opt, val, INT64_MIN, INT64_MAX, &u->res.pids_limit, err);
	case OPT_BLKIO_WEIGHT:
		return set_u64(opt, val, &u->blkio.weight, err);
	}
	return sm_error_set(err, 0, "--%s: unhandled option", opt);
}

/* All of standard input (the --resources - object), bounded like a config.json. */
static int read_stdin(char **out, size_t *len, sm_error_t *err)
{
	size_t cap = 4096, used = 0;
	cleanup_free char *buf = sm_xmalloc(cap + 1);

	for (;;) {
		if (used == cap) {
			if (cap >= SM_OCI_CONFIG_MAX_SIZE)
				return sm_error_set(err, EFBIG,
						    "--resources -: standard input is larger than %u bytes",
						    SM_OCI_CONFIG_MAX_SIZE);
			cap *= 2;
			buf = realloc(buf, cap + 1);
			if (buf == NULL)
				abort();
		}
		ssize_t n = read(STDIN_FILENO, buf + used, cap - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sm_error_set(err, errno, "--resources -: read standard input");
		if (n == 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	*len = used;
	*out = steal_ptr(&buf);
	return 0;
}

/* The --resources object, parsed by the config.json parser; unknown keys are warned about. */
static int load_resources(const char *path, struct sm_oci_resources **out, sm_error_t *err)
{
	cleanup_free char *buf = NULL;
	struct sm_oci_strv unknown = {0}, warnings = {0};
	size_t len = 0;
	int r;

	if (strcmp(path, "-") == 0)
		r = read_stdin(&buf, &len, err);
	else if ((r = sm_read_file(path, SM_OCI_CONFIG_MAX_SIZE, &buf, &len, err)) < 0)
		sm_error_prefix(err, "--resources: ");
	if (r < 0)
		return r;
	r = sm_oci_resources_parse(buf, len, strcmp(path, "-") == 0 ? "--resources -" : path, out, &unknown,
				   &warnings, err);
	for (size_t i = 0; i < unknown.n; i++)
		sm_log(SM_LOG_WARN, "--resources: %s: unknown key, ignored", unknown.v[i]);
	for (size_t i = 0; i < warnings.n; i++)
		sm_log(SM_LOG_WARN, "--resources: %s", warnings.v[i]);
	sm_oci_strv_free(&unknown);
	sm_oci_strv_free(&warnings);
	return r;
}

/*
 * The pids and memory limits inside the guest, after the host accepted them: the monitor passes
 * them to the agent (at resume for a paused container). A guest that cannot take them is an error
 * that says the host part is done, never a silent skip.
 */
static int update_guest(struct sm_container *c, const struct sm_oci_resources *res, sm_error_t *err)
{
	const struct sm_oci_memory *mem = res->memory;
	struct sm_buf b = {0};
	struct sm_mon_msg reply = {0};
	cleanup_close int fd = -1;
	uint32_t deferred = 0;
	int64_t v;
	int r;

	if (res->pids_limit.set && (v = res->pids_limit.val) != 0)
		sm_tlv_put_u64(&b, SM_MON_TAG_PIDS_LIMIT, v < 0 ? SM_LIMIT_UNLIMITED : (uint64_t)v);
	if (mem != NULL && mem->limit.set && (v = mem->limit.val) != 0)
		sm_tlv_put_u64(&b, SM_MON_TAG_MEMORY_LIMIT, v < 0 ? SM_LIMIT_UNLIMITED : (uint64_t)v);
	if (b.len == 0)
		return 0;
	if ((r = fd = sm_container_connect(c, err)) >= 0 &&
	    (r = sm_mon_call(fd, SM_MON_UPDATE, &b, NULL, 0, &reply, SM_MON_CALL_TIMEOUT_MS, err)) >= 0) {
		if (sm_mon_get_u32(&reply, SM_MON_TAG_DEFERRED, &deferred) > 0 && deferred)
			sm_log(SM_LOG_INFO,
			       "container `%s` is paused: its guest limits change when it resumes", c->id);
		sm_mon_msg_clear(&reply);
	}
	sm_buf_free(&b);
	if (r < 0)
		return sm_error_prefix(
		    err,
		    "container `%s`: the host cgroup was updated, but the pids/memory limit "
		    "inside the guest could not be changed: ",
		    c->id);
	return 0;
}

/* Lock the container, check it is alive and rewrite its cgroup's limits. */
static int update_container(const struct sm_global_opts *g, const char *id,
			    const struct sm_oci_resources *res, sm_error_t *err)
{
	cleanup_free char *root = sm_container_root(g->root);
	cleanup_cgroup struct sm_cgroup *cg = NULL;
	enum sm_oci_status status;
	struct sm_container c;
	struct sm_cgroup_vm vm;
	bool has_vm;
	int r;

	if ((r = sm_container_open(root, id, &c, err)) < 0 ||
	    (r = sm_container_status(&c, &status, NULL, err)) < 0)
		goto out;
	if ((r = sm_container_live_cgroup(&c, status, "nothing to update", &cg, err)) < 0)
		goto out;
	has_vm = sm_cgroup_get_vm(cg, &vm);
	if (!has_vm && res->memory != NULL && res->memory->limit.set && res->memory->limit.val > 0) {
		r = sm_error_set(
		    err, 0,
		    "linux.resources.memory.limit: the guest RAM of container `%s` is not recorded "
		    "(created by an older sm-runtime), so a new limit cannot be checked against it",
		    c.id);
		goto out;
	}
	/* As runc's update: device rules are create's (they are written in order, before the VMM's). */
	struct sm_oci_resources upd = *res;
	upd.devices = NULL;
	upd.n_devices = 0;
	r = sm_cgroup_apply(cg, &upd, has_vm ? &vm : NULL, err);
	const struct sm_oci_strv *w = sm_cgroup_warnings(cg);
	for (size_t i = 0; i < w->n; i++)
		sm_log(SM_LOG_WARN, "container `%s`: %s", c.id, w->v[i]);
	if (r >= 0)
		r = update_guest(&c, res, err);
out:
	sm_container_close(&c);
	return r < 0 ? r : 0;
}

int cmd_update(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	static const struct option opts[] = {
	    {"resources", required_argument, NULL, 'r'},
	    {"blkio-weight", required_argument, NULL, OPT_BLKIO_WEIGHT},
	    {"cpu-period", required_argument, NULL, OPT_CPU_PERIOD},
	    {"cpu-quota", required_argument, NULL, OPT_CPU_QUOTA},
	    {"cpu-burst", required_argument, NULL, OPT_CPU_BURST},
	    {"cpu-share", required_argument, NULL, OPT_CPU_SHARE},
	    {"cpu-shares", required_argument, NULL, OPT_CPU_SHARE},
	    {"cpu-rt-period", required_argument, NULL, OPT_CPU_RT_PERIOD},
	    {"cpu-rt-runtime", required_argument, NULL, OPT_CPU_RT_RUNTIME},
	    {"cpu-idle", required_argument, NULL, OPT_CPU_IDLE},
	    {"cpuset-cpus", required_argument, NULL, OPT_CPUSET_CPUS},
	    {"cpuset-mems", required_argument, NULL, OPT_CPUSET_MEMS},
	    {"memory", required_argument, NULL, OPT_MEMORY},
	    {"memory-swap", required_argument, NULL, OPT_MEMORY_SWAP},
	    {"memory-reservation", required_argument, NULL, OPT_MEMORY_RESERVATION},
	    {"kernel-memory", required_argument, NULL, OPT_KERNEL_MEMORY},
	    {"kernel-memory-tcp", required_argument, NULL, OPT_KERNEL_MEMORY_TCP},
	    {"pids-limit", required_argument, NULL, OPT_PIDS_LIMIT},
	    {"l3-cache-schema", required_argument, NULL, OPT_L3_CACHE_SCHEMA},
	    {"mem-bw-schema", required_argument, NULL, OPT_MEM_BW_SCHEMA},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct update_req u = {0};
	struct sm_oci_resources *parsed = NULL;
	int ch, idx, r;

	while ((ch = getopt_long(argc, argv, "+:r:h", opts, &idx)) != -1) {
		if (ch == 'h') {
			update_usage(stdout);
			return 0;
		}
		if (ch == 'r') {
			u.resources = optarg;
			continue;
		}
		if (ch == '?' || ch == ':')
			return sm_error_set(err, 0, "%s `%s` (see sm-runtime update --help)",
					    ch == ':' ? "missing value for option" : "unknown option",
					    argv[optind - 1]);
		if ((r = parse_flag(ch, opts[idx].name, optarg, &u, err)) < 0)
			return r;
	}
	if (optind != argc - 1)
		return sm_error_set(err, 0,
				    "update needs exactly one container id (see sm-runtime update --help)");
	if (u.resources != NULL) {
		if ((r = load_resources(u.resources, &parsed, err)) < 0)
			return r;
		if (u.nflags > 0)
			sm_log(SM_LOG_WARN,
			       "--resources given: the other resource options are ignored (as in runc)");
	} else {
		u.res.memory = &u.mem;
		u.res.cpu = &u.cpu;
		u.res.block_io = &u.blkio;
	}
	r = update_container(g, argv[optind], parsed != NULL ? parsed : &u.res, err);
	sm_oci_resources_free(parsed);
	return r;
}
