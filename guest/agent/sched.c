/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process attributes applied in the child before execve, as runc applies them in its init:
 * process.scheduler (sched_setattr), process.ioPriority (ioprio_set), execCPUAffinity
 * (sched_setaffinity, CPUs of the VM), and the container's time namespace (unshare(CLONE_NEWTIME)
 * and /proc/self/timens_offsets, before any process is in it). Errors name the config field.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "guest/agent/child.h"

#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_CLASS_SHIFT 13

/* struct sched_attr of sched_setattr(2), SCHED_ATTR_SIZE_VER0 (no utilization clamps). */
struct sm_sched_attr {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
};

int sm_agent_sched_apply(const struct sm_agent_sched *s, sm_error_t *err)
{
	struct sm_sched_attr attr = {.size = sizeof(attr),
				     .sched_policy = s->policy,
				     .sched_flags = s->flags,
				     .sched_nice = s->nice,
				     .sched_priority = s->priority,
				     .sched_runtime = s->runtime,
				     .sched_deadline = s->deadline,
				     .sched_period = s->period};

	if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0)
		return sm_error_set(
		    err, errno,
		    "process.scheduler: sched_setattr (policy %u, nice %d, priority %u, flags "
		    "%#" PRIx64 ")",
		    s->policy, s->nice, s->priority, s->flags);
	return 0;
}

int sm_agent_ioprio_apply(uint32_t ioprio, sm_error_t *err)
{
	if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, ioprio) == 0)
		return 0;
	if (errno == ENOSYS)
		return sm_error_set(err, errno,
				    "process.ioPriority: ioprio_set (the guest kernel has no block layer)");
	return sm_error_set(err, errno, "process.ioPriority: ioprio_set (class %u, priority %u)",
			    ioprio >> IOPRIO_CLASS_SHIFT, ioprio & ((1u << IOPRIO_CLASS_SHIFT) - 1));
}

int sm_agent_cpus_available(struct sm_agent_cpus *out, sm_error_t *err)
{
	memset(out, 0, sizeof(*out));
	if (syscall(SYS_sched_getaffinity, 0, sizeof(out->mask), out->mask) < 0)
		return sm_error_set(err, errno, "sched_getaffinity");
	out->set = true;
	return 0;
}

/* "0-3,7" of mask into buf (size bytes, cut short when it does not fit). */
static void cpus_format(const struct sm_agent_cpus *c, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int cpu = 0; cpu < SM_AGENT_MAX_CPUS && n < size; cpu++) {
		int end = cpu;
		int k;

		if (!(c->mask[cpu / 64] & (1ull << (cpu % 64))))
			continue;
		while (end + 1 < SM_AGENT_MAX_CPUS && (c->mask[(end + 1) / 64] & (1ull << ((end + 1) % 64))))
			end++;
		k = end > cpu ? snprintf(buf + n, size - n, "%s%d-%d", n ? "," : "", cpu, end)
			      : snprintf(buf + n, size - n, "%s%d", n ? "," : "", cpu);
		if (k < 0)
			break;
		n += (size_t)k;
		cpu = end;
	}
}

int sm_agent_cpus_apply(const struct sm_agent_cpus *want, const struct sm_agent_cpus *avail,
			const char *field, sm_error_t *err)
{
	char have[128];
	bool any = false;

	for (int cpu = 0; cpu < SM_AGENT_MAX_CPUS; cpu++) {
		bool on = want->mask[cpu / 64] & (1ull << (cpu % 64));

		any |= on;
		if (on && !(avail->mask[cpu / 64] & (1ull << (cpu % 64)))) {
			cpus_format(avail, have, sizeof(have));
			return sm_error_set(err, 0, "%s: CPU %d is not one of the VM's CPUs (%s)", field, cpu,
					    have);
		}
	}
	if (!any)
		return sm_error_set(err, 0, "%s: an empty CPU list", field);
	if (syscall(SYS_sched_setaffinity, 0, sizeof(want->mask), want->mask) < 0)
		return sm_error_set(err, errno, "%s: sched_setaffinity", field);
	return 0;
}

int sm_agent_timens_create(const struct sm_agent_container *c, sm_error_t *err)
{
	char buf[128];
	int n = 0;
	cleanup_close int fd = -1;

	if (!(c->namespaces & CLONE_NEWTIME)) {
		if (c->has_monotonic || c->has_boottime)
			return sm_error_set(err, 0, "linux.timeOffsets: given without a time namespace");
		return 0;
	}
	if (unshare(CLONE_NEWTIME) < 0)
		return sm_error_set(err, errno, "linux.namespaces: create the time namespace");
	if (!c->has_monotonic && !c->has_boottime)
		return 0;
	/* One write, before any process is in the namespace: after that the offsets are frozen. */
	if (c->has_monotonic)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "monotonic %" PRId64 " %u\n",
			      c->monotonic_secs, c->monotonic_nsecs);
	if (c->has_boottime)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "boottime %" PRId64 " %u\n", c->boottime_secs,
			      c->boottime_nsecs);
	fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return sm_error_set(err, errno, "linux.timeOffsets: open /proc/self/timens_offsets");
	if (write(fd, buf, (size_t)n) != n)
		return sm_error_set(err, errno, "linux.timeOffsets: write /proc/self/timens_offsets (%.*s)",
				    n > 0 ? n - 1 : 0, buf);
	return 0;
}
