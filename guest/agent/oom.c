/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OOM kills in the container's guest cgroup, reported to the host (SM_MSG_OOM) as they happen,
 * so that `events` can print runc's "oom" event for a kill inside the VM. The kernel marks
 * memory.events modified when one of its counters changes (cgroup v2), so an inotify watch on it
 * wakes the agent's poll loop; no polling. The cgroup exists once CREATE had a memory or pids
 * limit, or an UPDATE made it: each of them (re)arms the watch.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/proto-tags.h"
#include "common/util.h"
#include "guest/agent/agent-internal.h"

uint64_t sm_agent_oom_kills_parse(const char *events)
{
	for (const char *l = events; l != NULL && *l != '\0';) {
		if (strncmp(l, "oom_kill ", 9) == 0)
			return strtoull(l + 9, NULL, 10);
		l = strchr(l, '\n');
		l = l != NULL ? l + 1 : NULL;
	}
	return 0;
}

static void events_path(const struct sm_agent *a, char *out, size_t size)
{
	snprintf(out, size, "%s/cgroup/" SM_AGENT_CGROUP_LEAF "/memory.events", a->staging_dir);
}

void agent_oom_watch(struct sm_agent *a)
{
	char path[PATH_MAX + 64];

	events_path(a, path, sizeof(path));
	if (a->oom_fd < 0 && (a->oom_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		agent_log(a, "OOM events: inotify: %s", strerror(errno));
		return;
	}
	/* ENOENT: no cgroup, or no memory controller in it (a pids limit alone); a later UPDATE
	 * with a memory limit arms it. Adding the same file again keeps the one watch. */
	if (inotify_add_watch(a->oom_fd, path, IN_MODIFY) < 0) {
		if (errno != ENOENT)
			agent_log(a, "OOM events: watch %s: %s", path, strerror(errno));
		return;
	}
	agent_oom_check(a);
}

void agent_oom_check(struct sm_agent *a)
{
	char path[PATH_MAX + 64], ev[4096];
	cleanup_free char *text = NULL;
	sm_error_t err = SM_ERROR_INIT;
	uint64_t kills;

	while (read(a->oom_fd, ev, sizeof(ev)) > 0) {
		/* drained: whatever changed, the counters are read once below */
	}
	events_path(a, path, sizeof(path));
	if (sm_read_file(path, 1 << 16, &text, NULL, &err) < 0)
		return;
	kills = sm_agent_oom_kills_parse(text);
	if (kills <= a->oom_sent || !agent_connected(a))
		return;
	a->oom_sent = kills;
	agent_oom_send(a);
}

void agent_oom_send(struct sm_agent *a)
{
	size_t off;

	if (a->oom_sent == 0 || !agent_connected(a))
		return;
	off = sm_frame_begin(&a->out, SM_MSG_OOM, 0);
	sm_tlv_put_u64(&a->out, SM_TAG_OOM_KILLS, a->oom_sent);
	sm_frame_end(&a->out, off);
}
