/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sm-runtime events [--stats] [--interval D] ID: runc's event stream for a container, from the
 * host cgroup that holds its microVM: a "stats" object every interval (5 s by default) and an
 * "oom" object for each OOM kill, of the VMM by the host cgroup or of a container process by its
 * guest cgroup (the agent reports those), one JSON object per line, until the container stops.
 * --stats prints one "stats" object and exits.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/cgroup.h"
#include "runtime/commands.h"
#include "runtime/container.h"
#include "runtime/events.h"

/* How often the stream looks for OOM kills and a stopped container, at most. */
#define EVENTS_POLL_NS (250ll * 1000000)

static void events_usage(FILE *f)
{
	fprintf(f, "usage: sm-runtime events [options] ID\n\n"
		   "Print the container's events as JSON, one object per line: its statistics every\n"
		   "interval and OOM kills as they happen, until the container stops. The figures are\n"
		   "those of the host cgroup that holds the container's microVM\n"
		   "(docs/design/cgroups.md, \"events\").\n\n"
		   "Options:\n"
		   "  --stats           print the statistics once and exit\n"
		   "  --interval D      statistics interval, a Go duration (default 5s)\n");
}

static int print_stats(const char *id, struct sm_cgroup *cg, sm_error_t *err)
{
	struct sm_cgroup_stats st;
	cleanup_free char *json = NULL;
	int r;

	if ((r = sm_cgroup_stats(cg, &st, err)) < 0)
		return r;
	r = sm_events_stats_json(id, &st, &json, NULL, err);
	sm_cgroup_stats_clear(&st);
	if (r < 0)
		return r;
	printf("%s\n", json);
	fflush(stdout);
	return 0;
}

static void print_oom(const char *id, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		cleanup_free char *json = sm_events_oom_json(id);
		if (json != NULL)
			printf("%s\n", json);
	}
	if (n > 0)
		fflush(stdout);
}

/* The host cgroup's OOM kill count (the VMM killed), or 0 when the cgroup has none to read. */
static uint64_t host_ooms(struct sm_cgroup *cg)
{
	uint64_t n;

	(void)sm_cgroup_oom_kills(cg, &n);
	return n;
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = {ns / 1000000000, ns % 1000000000};

	if (ns > 0)
		nanosleep(&ts, NULL);
}

/*
 * One "oom" line per kill counted after the stream began: by the host cgroup (the VMM itself)
 * or by the container's guest cgroup (a process inside the VM, reported by the agent).
 */
static int stream(struct sm_container *c, struct sm_cgroup *cg, int64_t interval, sm_error_t *err)
{
	uint64_t host_seen = host_ooms(cg), next = sm_now_ns();
	int64_t guest_seen = -1, guest;
	enum sm_oci_status status;
	int r;

	for (;;) {
		if ((r = sm_container_status_oom(c, &status, NULL, &guest, err)) < 0)
			return r;
		if (status == SM_OCI_STATUS_STOPPED)
			return 0;
		if (guest >= 0) {
			if (guest_seen >= 0 && guest > guest_seen)
				print_oom(c->id, (uint64_t)(guest - guest_seen));
			if (guest > guest_seen)
				guest_seen = guest;
		}
		uint64_t host = host_ooms(cg);
		if (host > host_seen) {
			print_oom(c->id, host - host_seen);
			host_seen = host;
		}
		uint64_t now = sm_now_ns();
		if (now >= next) {
			if ((r = print_stats(c->id, cg, err)) < 0)
				return r;
			/* After a stall (a stopped terminal), carry on from now rather than catch up. */
			next = next + (uint64_t)interval > now ? next + (uint64_t)interval
							       : now + (uint64_t)interval;
		}
		int64_t left = (int64_t)(next - sm_now_ns());
		sleep_ns(left < EVENTS_POLL_NS ? left : EVENTS_POLL_NS);
	}
}

int cmd_events(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	static const struct option opts[] = {{"stats", no_argument, NULL, 's'},
					     {"interval", required_argument, NULL, 'i'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	cleanup_free char *root = sm_container_root(g->root);
	cleanup_cgroup struct sm_cgroup *cg = NULL;
	int64_t interval = 5ll * 1000000000;
	enum sm_oci_status status;
	struct sm_container c = {.dir_fd = -1, .lock_fd = -1};
	bool once = false;
	int ch, r;

	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			once = true;
			break;
		case 'i':
			if ((r = sm_events_parse_duration("--interval", optarg, &interval, err)) < 0)
				return r;
			if (interval <= 0)
				return sm_error_set(
				    err, 0, "--interval %s: the interval must be greater than 0", optarg);
			break;
		case 'h':
			events_usage(stdout);
			return 0;
		default:
			return sm_error_set(err, 0, "unknown option `%s` (see sm-runtime events --help)",
					    argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return sm_error_set(err, 0, "events needs exactly one container id");
	/* Without the lock, as `state`: the stream may run for the container's whole life. */
	if ((r = sm_container_peek_status(root, argv[optind], &c, &status, err)) < 0)
		goto out;
	if ((r = sm_container_live_cgroup(&c, status, "no statistics", &cg, err)) < 0)
		goto out;
	r = once ? print_stats(c.id, cg, err) : stream(&c, cg, interval, err);
out:
	sm_container_close(&c);
	return r < 0 ? r : 0;
}
