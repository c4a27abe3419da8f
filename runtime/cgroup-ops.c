/* SPDX-License-Identifier: Apache-2.0 */
/* Host cgroups: create, enter, destroy. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/cgroup-internal.h"

/* cgroup2 controllers the VMM's cgroup may need (sm_cgroup_apply() reports the missing ones). */
static const char *const v2_wanted[] = {"cpu", "cpuset", "io", "memory", "pids", NULL};
/* destroy(): rounds of kill + rmdir, 10 ms apart. */
#define DESTROY_ROUNDS 200
/* Sub-cgroups below the container's own directory are walked at most this deep. */
#define DESTROY_MAX_DEPTH 8

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static bool word_in(const char *list, const char *w)
{
	size_t n = strlen(w);
	for (const char *s = list; (s = strstr(s, w)) != NULL; s += n)
		if ((s == list || s[-1] == ' ') && (s[n] == ' ' || s[n] == '\0'))
			return true;
	return false;
}

/* Best effort: a failure (e.g. EBUSY from the no-internal-processes rule) surfaces in apply(). */
static void enable_controllers(const char *dir)
{
	cleanup_free char *avail = NULL, *on = NULL;

	if (sm_cgroup_read(dir, "cgroup.controllers", &avail) < 0 ||
	    sm_cgroup_read(dir, "cgroup.subtree_control", &on) < 0)
		return;
	for (size_t i = 0; v2_wanted[i] != NULL; i++) {
		if (!word_in(avail, v2_wanted[i]) || word_in(on, v2_wanted[i]))
			continue;
		cleanup_free char *cmd = sm_xasprintf("+%s", v2_wanted[i]);
		(void)sm_cgroup_write(dir, "cgroup.subtree_control", cmd);
	}
}

/* A new v1 cpuset cgroup starts with empty cpus/mems and accepts no task until they are set. */
static int copy_cpuset(const char *parent, const char *dir, sm_error_t *err)
{
	static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};

	for (size_t i = 0; i < SM_ARRAY_SIZE(files); i++) {
		cleanup_free char *cur = NULL, *up = NULL;
		int r;
		if ((r = sm_cgroup_read(dir, files[i], &cur)) < 0)
			return sm_error_set(err, -r, "read %s/%s", dir, files[i]);
		if (cur[0] != '\0')
			continue;
		if ((r = sm_cgroup_read(parent, files[i], &up)) < 0)
			return sm_error_set(err, -r, "read %s/%s", parent, files[i]);
		if ((r = sm_cgroup_write(dir, files[i], up)) < 0)
			return sm_error_set(err, -r, "write %s/%s", dir, files[i]);
	}
	return 0;
}

static int create_one(const struct sm_cgroup_hier *h, sm_error_t *err)
{
	cleanup_free char *path = sm_xmalloc(strlen(h->dir) + 1);
	cleanup_free char *parent = sm_xmalloc(strlen(h->dir) + 1);
	bool cpuset = !h->v2 && word_in(h->ctrls, "cpuset");
	size_t mlen = strlen(h->mount);

	/* rel has a cleaned form ("/a/b"), so each '/' starts one component. */
	memcpy(path, h->mount, mlen + 1);
	for (const char *s = h->rel; *s == '/';) {
		const char *e = strchrnul(s + 1, '/');
		memcpy(parent, path, strlen(path) + 1);
		if (h->v2)
			enable_controllers(parent);
		size_t plen = strlen(path);
		memcpy(path + plen, s, (size_t)(e - s));
		path[plen + (size_t)(e - s)] = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return sm_error_set(err, errno, "create cgroup %s", path);
		if (cpuset && copy_cpuset(parent, path, err) < 0)
			return -1;
		s = e;
	}
	return 0;
}

int sm_cgroup_create(struct sm_cgroup *cg, sm_error_t *err)
{
	for (size_t i = 0; i < cg->n; i++)
		if (create_one(&cg->h[i], err) < 0)
			return -1;
	return 0;
}

int sm_cgroup_enter(struct sm_cgroup *cg, pid_t pid, sm_error_t *err)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%d", (int)pid);
	for (size_t i = 0; i < cg->n; i++) {
		int r = sm_cgroup_write(cg->h[i].dir, "cgroup.procs", buf);
		if (r < 0)
			return sm_error_set(err, -r, "move pid %d into cgroup %s", (int)pid, cg->h[i].dir);
	}
	return 0;
}

struct sweep {
	bool busy; /* something is left: try again */
	bool self; /* the caller itself is inside */
};

/* Kill what is in dir and below, then rmdir bottom-up; ENOENT anywhere means already gone. */
static int sweep(const char *dir, int depth, struct sweep *sw, sm_error_t *err)
{
	cleanup_dir DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return errno == ENOENT ? 0 : sm_error_set(err, errno, "open cgroup %s", dir);
	while (depth < DESTROY_MAX_DEPTH && (de = readdir(d)) != NULL) {
		if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		cleanup_free char *sub = sm_xasprintf("%s/%s", dir, de->d_name);
		if (sweep(sub, depth + 1, sw, err) < 0)
			return -1;
	}
	cleanup_free char *procs = NULL;
	if (sm_cgroup_read(dir, "cgroup.procs", &procs) == 0) {
		for (char *s = procs, *end; *s != '\0'; s = end) {
			long pid = strtol(s, &end, 10);
			if (end == s)
				break;
			if (pid == (long)getpid())
				sw->self = true;
			else if (pid > 0)
				(void)kill((pid_t)pid, SIGKILL);
		}
	}
	if (rmdir(dir) == 0 || errno == ENOENT)
		return 0;
	if (errno != EBUSY)
		return sm_error_set(err, errno, "remove cgroup %s", dir);
	sw->busy = true;
	return 0;
}

int sm_cgroup_destroy(struct sm_cgroup *cg, sm_error_t *err)
{
	struct sm_cgroup_hier *v2 = sm_cgroup_find(cg, "");

	/* cgroup.kill (Linux 5.14+) kills atomically, even tasks forking meanwhile. */
	if (v2 != NULL)
		(void)sm_cgroup_write(v2->dir, "cgroup.kill", "1");
	for (int round = 0; round < DESTROY_ROUNDS; round++) {
		struct sweep sw = {false, false};
		for (size_t i = 0; i < cg->n; i++)
			if (sweep(cg->h[i].dir, 0, &sw, err) < 0)
				return -1;
		if (sw.self)
			return sm_error_set(err, EBUSY, "remove cgroup %s: the calling process is inside it",
					    cg->h[0].dir);
		if (!sw.busy)
			return 0;
		sleep_ms(10);
	}
	for (size_t i = 0; i < cg->n; i++)
		if (access(cg->h[i].dir, F_OK) == 0)
			return sm_error_set(err, EBUSY,
					    "remove cgroup %s: still busy after killing its processes",
					    cg->h[i].dir);
	return 0;
}
