/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoding of the process attributes process.scheduler, ioPriority and execCPUAffinity, and of
 * the container's linux.timeOffsets (common/proto-tags.h). Pure code, like spec.c: the host codec
 * test decodes with it too. What the kernel takes is checked by the kernel (sched_setattr,
 * ioprio_set, timens_offsets), whose errors name the field (sched.c); here only the wire.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/proto-tags.h"
#include "common/proto.h"
#include "common/util.h"
#include "guest/agent/spec.h"

#define CLOCK_ID_MONOTONIC 1
#define CLOCK_ID_BOOTTIME 7
#define CPULIST_MAX 4096

/* One number of a CPU list at *s, advancing s; -1 when there is none or it is too large. */
static long cpu_number(const char **s)
{
	long v = 0;

	if (**s < '0' || **s > '9')
		return -1;
	while (**s >= '0' && **s <= '9') {
		v = v * 10 + (**s - '0');
		if (v >= SM_AGENT_MAX_CPUS)
			return -1;
		(*s)++;
	}
	return v;
}

int sm_agent_cpulist_parse(const char *list, struct sm_agent_cpus *out, sm_error_t *err)
{
	const char *s = list;

	memset(out, 0, sizeof(*out));
	while (*s == ' ')
		s++;
	while (*s != '\0') {
		long lo = cpu_number(&s), hi = lo;

		if (lo >= 0 && *s == '-') {
			s++;
			hi = cpu_number(&s);
		}
		if (lo < 0 || hi < lo)
			return sm_error_set(
			    err, 0, "CPU list \"%.64s\": expected N or N-M with N <= M < %d, at \"%.16s\"",
			    list, SM_AGENT_MAX_CPUS, s);
		for (long c = lo; c <= hi; c++)
			out->mask[c / 64] |= 1ull << (c % 64);
		while (*s == ' ')
			s++;
		if (*s == ',') {
			s++;
			while (*s == ' ')
				s++;
			if (*s == '\0')
				return sm_error_set(err, 0, "CPU list \"%.64s\": ends with a comma", list);
		} else if (*s != '\0') {
			return sm_error_set(err, 0, "CPU list \"%.64s\": unexpected \"%.16s\"", list, s);
		}
	}
	out->set = true;
	return 0;
}

static int decode_sched(const uint8_t *val, uint32_t len, struct sm_agent_sched *sc, sm_error_t *err)
{
	struct sm_tlv_num f[] = {
	    {.tag = SM_TAG_SCHED_POLICY, .size = 4},   {.tag = SM_TAG_SCHED_NICE, .size = 4},
	    {.tag = SM_TAG_SCHED_PRIORITY, .size = 4}, {.tag = SM_TAG_SCHED_FLAGS, .size = 8},
	    {.tag = SM_TAG_SCHED_RUNTIME, .size = 8},  {.tag = SM_TAG_SCHED_DEADLINE, .size = 8},
	    {.tag = SM_TAG_SCHED_PERIOD, .size = 8},
	};

	if (sc->set)
		return sm_error_set(err, 0, "field %u (scheduler) given twice", SM_TAG_SCHED);
	if (sm_tlv_get_nums(val, len, f, SM_ARRAY_SIZE(f)) < 0 || !f[0].seen)
		return sm_error_set(err, 0, "field %u (scheduler): malformed, or no policy", SM_TAG_SCHED);
	*sc = (struct sm_agent_sched){.set = true,
				      .policy = (uint32_t)f[0].value,
				      .nice = (int32_t)(uint32_t)f[1].value,
				      .priority = (uint32_t)f[2].value,
				      .flags = f[3].value,
				      .runtime = f[4].value,
				      .deadline = f[5].value,
				      .period = f[6].value};
	if (sc->nice < -20 || sc->nice > 19)
		return sm_error_set(err, 0, "field %u (scheduler): nice %d is out of range", SM_TAG_SCHED,
				    sc->nice);
	return 0;
}

static int decode_cpus(const uint8_t *val, uint32_t len, uint16_t tag, struct sm_agent_cpus *out,
		       sm_error_t *err)
{
	const char *what = tag == SM_TAG_CPUS_INITIAL ? "initial" : "final";
	char *list = NULL;
	int r;

	if (out->set)
		return sm_error_set(err, 0, "field %u (execCPUAffinity.%s) given twice", tag, what);
	if (len > CPULIST_MAX || sm_tlv_str(val, len, &list) < 0)
		return sm_error_set(err, 0, "field %u (execCPUAffinity.%s): malformed value", tag, what);
	r = sm_agent_cpulist_parse(list, out, err);
	free(list);
	return r < 0 ? sm_error_prefix(err, "execCPUAffinity.%s: ", what) : 0;
}

int sm_agent_process_attr_field(struct sm_agent_process *p, uint16_t tag, const uint8_t *val, uint32_t len,
				sm_error_t *err)
{
	switch (tag) {
	case SM_TAG_SCHED:
		return decode_sched(val, len, &p->sched, err);
	case SM_TAG_IOPRIO:
		if (p->has_ioprio || sm_tlv_u32(val, len, &p->ioprio) < 0)
			return sm_error_set(err, 0, "field %u (ioPriority): malformed or repeated", tag);
		p->has_ioprio = true;
		return 0;
	case SM_TAG_CPUS_INITIAL:
		return decode_cpus(val, len, tag, &p->cpus_initial, err);
	case SM_TAG_CPUS_FINAL:
		return decode_cpus(val, len, tag, &p->cpus_final, err);
	default:
		return 0; /* a container field, or a newer host's optional field */
	}
}

static int decode_time_offset(const uint8_t *val, uint32_t len, struct sm_agent_container *c, sm_error_t *err)
{
	struct sm_tlv_num f[] = {{.tag = SM_TAG_TOFF_CLOCK, .size = 4},
				 {.tag = SM_TAG_TOFF_SECS, .size = 8},
				 {.tag = SM_TAG_TOFF_NSECS, .size = 4}};
	bool *has;

	if (sm_tlv_get_nums(val, len, f, SM_ARRAY_SIZE(f)) < 0 || !f[0].seen || f[2].value > 999999999)
		return sm_error_set(err, 0, "field %u (timeOffsets): malformed, no clock or nanosecs >= 1e9",
				    SM_TAG_TIME_OFFSET);
	if (f[0].value == CLOCK_ID_MONOTONIC) {
		has = &c->has_monotonic;
		c->monotonic_secs = (int64_t)f[1].value;
		c->monotonic_nsecs = (uint32_t)f[2].value;
	} else if (f[0].value == CLOCK_ID_BOOTTIME) {
		has = &c->has_boottime;
		c->boottime_secs = (int64_t)f[1].value;
		c->boottime_nsecs = (uint32_t)f[2].value;
	} else {
		return sm_error_set(err, 0,
				    "field %u (timeOffsets): clock %llu is neither monotonic nor boottime",
				    SM_TAG_TIME_OFFSET, (unsigned long long)f[0].value);
	}
	if (*has)
		return sm_error_set(err, 0, "field %u (timeOffsets): a clock given twice",
				    SM_TAG_TIME_OFFSET);
	*has = true;
	return 0;
}

int sm_agent_container_attr_field(struct sm_agent_container *c, uint16_t tag, const uint8_t *val,
				  uint32_t len, sm_error_t *err)
{
	if (tag == SM_TAG_TIME_OFFSET)
		return decode_time_offset(val, len, c, err);
	return 0;
}
