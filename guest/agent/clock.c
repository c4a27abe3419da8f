/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SET_TIME: a VM restored from a snapshot wakes up with the wall clock of the moment it was saved
 * (minutes or days ago); the host sends its own CLOCK_REALTIME and the agent sets it. The host is
 * trusted-ish, but the payload is still checked field by field and a bad one is answered with
 * ERROR: the decoder must never take the agent down, and a wild value must not reach the clock.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "common/proto-tags.h"
#include "guest/agent/agent-internal.h"

_Static_assert(sizeof(time_t) >= 8, "SET_TIME needs a 64-bit time_t");

int agent_clock_settime(void *opaque, const struct timespec *ts)
{
	(void)opaque;
	return clock_settime(CLOCK_REALTIME, ts) < 0 ? -errno : 0;
}

/* Decode SEC and NSEC (each exactly once, u64); returns NULL or what is wrong. */
static const char *decode(const uint8_t *payload, size_t len, uint64_t *sec, uint64_t *nsec)
{
	struct sm_tlv_num f[] = {{.tag = SM_TAG_TIME_SEC, .size = 8}, {.tag = SM_TAG_TIME_NSEC, .size = 8}};
	const char *bad = sm_tlv_get_nums_why(payload, len, SM_SET_TIME_MAX_PAYLOAD, f, 2);

	if (bad != NULL)
		return bad;
	if (!f[0].seen || !f[1].seen)
		return "seconds and nanoseconds are required";
	*sec = f[0].value;
	*nsec = f[1].value;
	if (*nsec >= 1000000000u)
		return "nanoseconds out of range";
	if (*sec < SM_SET_TIME_MIN_SEC || *sec >= SM_SET_TIME_MAX_SEC)
		return "seconds out of range (2020..2200)";
	return NULL;
}

void agent_set_time(struct sm_agent *a, uint32_t stream, const uint8_t *payload, size_t len)
{
	uint64_t sec = 0, nsec = 0;
	struct timespec ts, before = {0, 0};
	const char *bad = decode(payload, len, &sec, &nsec);
	int r;

	if (bad != NULL) {
		agent_send_error(a, stream, EINVAL, "set time: %s (fields %u, %u; %zu bytes)", bad,
				 SM_TAG_TIME_SEC, SM_TAG_TIME_NSEC, len);
		return;
	}
	ts.tv_sec = (time_t)sec;
	ts.tv_nsec = (long)nsec;
	clock_gettime(CLOCK_REALTIME, &before);
	r = a->set_clock(a->set_clock_opaque, &ts);
	if (r < 0) {
		agent_send_error(a, stream, -r, "set time: clock_settime: %s", strerror(-r));
		return;
	}
	agent_log(a, "clock set to %llu.%09llu (it was %lld.%09ld)", (unsigned long long)sec,
		  (unsigned long long)nsec, (long long)before.tv_sec, before.tv_nsec);
	agent_send_ok(a, stream, 0);
}
