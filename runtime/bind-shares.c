/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/agent-spec.h"
#include "runtime/bind-shares.h"
#include "runtime/log.h"

enum source_kind { SRC_SHARE, SRC_ROOTFS, SRC_DEVICE };

struct resolved {
	enum source_kind kind;
	char *dir; /* SRC_SHARE: host directory to share */
	char *sub; /* subpath in the share (or in the rootfs) */
};

/* A planned source and what it resolved to (the share's index for SRC_SHARE). */
struct sm_bind_source {
	char *source;
	enum source_kind kind;
	size_t share;
	char *sub;
};

/*
 * What sm_bind_shares_stage() made: process-wide, like the two fds that keep it alive. Directory
 * source dirs[k] is reachable (in the staging mount namespace) at <root_fd>/<k>/<its basename>.
 */
static struct {
	int ns_fd, root_fd;
	size_t n;
	char **dirs;
	bool *rec;
} staged = {.ns_fd = -1, .root_fd = -1};

static void remember(struct sm_bind_shares *s, const char *source, enum source_kind kind, size_t share,
		     const char *sub)
{
	struct sm_bind_source *v = sm_xcalloc(s->n_sources + 1, sizeof(*v));

	if (s->n_sources > 0)
		memcpy(v, s->sources, s->n_sources * sizeof(*v));
	free(s->sources);
	s->sources = v;
	s->sources[s->n_sources++] = (struct sm_bind_source){
	    .source = sm_xstrdup(source), .kind = kind, .share = share, .sub = sm_xstrdup(sub ? sub : "")};
}

static const struct sm_bind_source *recall(const struct sm_bind_shares *s, const char *source)
{
	for (size_t i = 0; i < s->n_sources; i++)
		if (strcmp(s->sources[i].source, source) == 0)
			return &s->sources[i];
	return NULL;
}

static void resolved_clear(struct resolved *r)
{
	free(r->dir);
	free(r->sub);
	*r = (struct resolved){0};
}

/* Is path inside (or equal to) dir? Both canonical. */
static const char *inside(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return path + 1;
	if (strncmp(path, dir, n) != 0 || (path[n] != '\0' && path[n] != '/'))
		return NULL;
	return path[n] == '/' ? path + n + 1 : path + n;
}

static int resolve(const struct sm_bind_shares *s, const char *source, struct resolved *out, sm_error_t *err)
{
	cleanup_free char *canon = realpath(source, NULL);
	const char *rel;
	struct stat st;
	char *slash;

	if (canon == NULL || stat(canon, &st) < 0)
		return sm_error_set(err, errno, "bind source `%s`", source);
	if (S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode))
		return sm_error_set(err, 0, "bind source `%s` is a %s, which cannot reach a VM's guest",
				    source, S_ISSOCK(st.st_mode) ? "socket" : "FIFO");
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
		out->kind = SRC_DEVICE;
		return 0;
	}
	if (s->rootfs != NULL && (rel = inside(canon, s->rootfs)) != NULL) {
		out->kind = SRC_ROOTFS;
		out->sub = sm_xstrdup(rel);
		return 0;
	}
	out->kind = SRC_SHARE;
	if (S_ISDIR(st.st_mode)) {
		out->dir = steal_ptr(&canon);
		out->sub = sm_xstrdup("");
		return 0;
	}
	slash = strrchr(canon, '/');
	out->sub = sm_xstrdup(slash + 1);
	*(slash == canon ? slash + 1 : slash) = '\0';
	out->dir = steal_ptr(&canon);
	return 0;
}

static struct sm_bind_share *find_share(struct sm_bind_shares *s, const char *dir)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].host_dir, dir) == 0)
			return &s->v[i];
	return NULL;
}

/*
 * Is cfg's mounts[idx] a bind with a source? 1 with the source (made absolute against bundle) and
 * its ro/rec options, 0 when it is not, <0 on bad options.
 */
static int bind_source(const struct sm_oci_mount *m, size_t idx, const char *bundle, char **src, bool *ro,
		       bool *rec, sm_error_t *err)
{
	struct sm_agent_mount_opts mo;

	if (sm_agent_mount_options(&m->options, &mo, err) < 0)
		return sm_error_prefix(err, "mounts[%zu]: ", idx);
	free(mo.data);
	if (m->type != NULL && strcmp(m->type, "bind") == 0)
		mo.flags |= MS_BIND;
	if (!(mo.flags & MS_BIND) || m->source == NULL)
		return 0;
	*ro = (mo.flags & MS_RDONLY) != 0;
	*rec = (mo.flags & MS_REC) != 0;
	*src =
	    m->source[0] != '/' && bundle ? sm_xasprintf("%s/%s", bundle, m->source) : sm_xstrdup(m->source);
	return 1;
}

/*
 * A source in (or equal to) a staged directory is served from the staging share, under the
 * directory's base name: the guest's mount then shows "/<name>[/file]" as its root, as a bind of
 * the host path does.
 */
static void use_staged(struct resolved *r)
{
	for (size_t k = 0; k < staged.n; k++) {
		if (strcmp(staged.dirs[k], r->dir) != 0)
			continue;
		const char *base = strrchr(r->dir, '/') + 1;
		char *sub = r->sub[0] != '\0' ? sm_xasprintf("%s/%s", base, r->sub) : sm_xstrdup(base);

		free(r->dir);
		free(r->sub);
		r->dir = sm_xasprintf("/proc/self/fd/%d/%zu", staged.root_fd, k);
		r->sub = sub;
		return;
	}
}

static int plan_mount(struct sm_bind_shares *s, const struct sm_oci_mount *m, size_t idx, const char *bundle,
		      sm_error_t *err)
{
	cleanup_free char *src = NULL;
	struct resolved res = {0};
	struct sm_bind_share *sh;
	bool ro, rec;
	int r;

	if ((r = bind_source(m, idx, bundle, &src, &ro, &rec, err)) <= 0)
		return r;
	if (resolve(s, src, &res, err) < 0)
		return sm_error_prefix(err, "mounts[%zu]: ", idx);
	if (res.kind != SRC_SHARE) {
		remember(s, src, res.kind, 0, res.sub);
		resolved_clear(&res);
		return 0;
	}
	use_staged(&res);
	sh = find_share(s, res.dir);
	if (sh == NULL) {
		if (s->n == SM_BIND_SHARES_MAX) {
			sm_error_set(
			    err, 0,
			    "mounts[%zu]: bind source `%s` needs a share of `%s`, but a VM has room for "
			    "%d bind-mount source directories",
			    idx, src, res.dir, SM_BIND_SHARES_MAX);
			resolved_clear(&res);
			return -1;
		}
		sh = &s->v[s->n];
		sh->host_dir = steal_ptr(&res.dir);
		sh->tag = sm_xasprintf("sm-bind%zu", s->n);
		sh->readonly = ro;
		s->n++;
	} else {
		sh->readonly = sh->readonly && ro;
	}
	remember(s, src, SRC_SHARE, (size_t)(sh - s->v), res.sub);
	resolved_clear(&res);
	return 0;
}

int sm_bind_shares_plan(const struct sm_oci_config *cfg, const char *bundle, const char *rootfs,
			const char *rootfs_tag, struct sm_bind_shares *out, sm_error_t *err)
{
	*out = (struct sm_bind_shares){0};
	out->rootfs_tag = rootfs_tag;
	if (rootfs != NULL && (out->rootfs = realpath(rootfs, NULL)) == NULL)
		return sm_error_set(err, errno, "rootfs `%s`", rootfs);
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		if (plan_mount(out, &cfg->mounts[i], i, bundle, err) < 0) {
			sm_bind_shares_clear(out);
			return -1;
		}
	}
	return 0;
}

int sm_bind_shares_map(void *opaque, const char *source, char **tag, char **subpath, bool *dax,
		       sm_error_t *err)
{
	struct sm_bind_shares *s = opaque;
	const struct sm_bind_source *known;
	struct resolved res = {0};
	struct sm_bind_share *sh;

	*dax = false;
	if ((known = recall(s, source)) != NULL) {
		if (known->kind == SRC_DEVICE)
			return 0;
		*tag = sm_xstrdup(known->kind == SRC_ROOTFS ? s->rootfs_tag : s->v[known->share].tag);
		*subpath = sm_xstrdup(known->sub);
		return 1;
	}
	if (resolve(s, source, &res, err) < 0)
		return -1;
	switch (res.kind) {
	case SRC_DEVICE:
		return 0;
	case SRC_ROOTFS:
		*tag = sm_xstrdup(s->rootfs_tag);
		*subpath = steal_ptr(&res.sub);
		return 1;
	case SRC_SHARE:
		break;
	}
	use_staged(&res);
	sh = find_share(s, res.dir);
	if (sh == NULL) {
		sm_error_set(err, 0, "bind source `%s` (in `%s`) has no virtio-fs share", source, res.dir);
		resolved_clear(&res);
		return -1;
	}
	*tag = sm_xstrdup(sh->tag);
	*subpath = steal_ptr(&res.sub);
	resolved_clear(&res);
	return 1;
}

void sm_bind_shares_clear(struct sm_bind_shares *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].host_dir);
		free(s->v[i].tag);
	}
	for (size_t i = 0; i < s->n_sources; i++) {
		free(s->sources[i].source);
		free(s->sources[i].sub);
	}
	free(s->sources);
	free(s->rootfs);
	*s = (struct sm_bind_shares){0};
}

/* Record src for staging when it is a directory bind outside the rootfs (equal ones merged). */
static void collect(struct sm_bind_shares *tmp, const char *src, bool rec)
{
	sm_error_t ignored = SM_ERROR_INIT;
	struct resolved res = {0};

	/* Unresolvable sources are left to sm_bind_shares_plan(), which names the mount. */
	if (resolve(tmp, src, &res, &ignored) < 0 || res.kind != SRC_SHARE || res.sub[0] != '\0' ||
	    strcmp(res.dir, "/") == 0) {
		resolved_clear(&res);
		return;
	}
	for (size_t k = 0; k < staged.n; k++) {
		if (strcmp(staged.dirs[k], res.dir) == 0) {
			staged.rec[k] = staged.rec[k] || rec;
			resolved_clear(&res);
			return;
		}
	}
	staged.dirs = realloc(staged.dirs, (staged.n + 1) * sizeof(*staged.dirs));
	staged.rec = realloc(staged.rec, (staged.n + 1) * sizeof(*staged.rec));
	if (staged.dirs == NULL || staged.rec == NULL)
		abort();
	staged.dirs[staged.n] = steal_ptr(&res.dir);
	staged.rec[staged.n++] = rec;
	resolved_clear(&res);
}

static int stage_mount(const char *src, const char *dst, unsigned long flags, const char *type,
		       const char *data, sm_error_t *err)
{
	const char *what = src != NULL ? src : type != NULL ? type : "(remount)";

	if (mount(src, dst, type, flags, data) < 0)
		return sm_error_set(err, errno, "bind staging: mount `%s` on `%s`", what, dst);
	return 0;
}

/*
 * In the new mount namespace: nothing propagates out (slave), a small tmpfs over state_dir, and
 * each staged source bound at <state_dir>/<k>/<basename>; the tmpfs then read-only, so the guest
 * cannot create anything beside the sources. *root_fd: the tmpfs's root.
 */
static int populate(const char *state_dir, int *root_fd, sm_error_t *err)
{
	int r;

	if ((r = stage_mount(NULL, "/", MS_REC | MS_SLAVE, NULL, NULL, err)) < 0 ||
	    (r = stage_mount("sm-binds", state_dir, MS_NOSUID | MS_NODEV | MS_NOEXEC, "tmpfs",
			     "mode=0755,size=64k,nr_inodes=256", err)) < 0)
		return r;
	for (size_t k = 0; k < staged.n; k++) {
		cleanup_free char *dir = sm_xasprintf("%s/%zu", state_dir, k);
		cleanup_free char *dst = sm_xasprintf("%s/%s", dir, strrchr(staged.dirs[k], '/') + 1);

		if (mkdir(dir, 0755) < 0 || mkdir(dst, 0755) < 0)
			return sm_error_set(err, errno, "bind staging: mkdir `%s`", dst);
		if ((r = stage_mount(staged.dirs[k], dst, MS_BIND | (staged.rec[k] ? MS_REC : 0), NULL, NULL,
				     err)) < 0)
			return r;
	}
	if ((r = stage_mount(NULL, state_dir,
			     MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, NULL,
			     err)) < 0)
		return r;
	*root_fd = open(state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*root_fd < 0)
		return sm_error_set(err, errno, "bind staging: open `%s`", state_dir);
	return 0;
}

/* unshare, populate, keep the namespace, and come back to the original one (and working directory). */
static int stage_in_new_ns(const char *state_dir, int keep[2], sm_error_t *err)
{
	cleanup_close int old_ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	cleanup_close int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int root_fd = -1, ns_fd = -1, r;

	if (old_ns < 0 || cwd < 0)
		return sm_error_set(err, errno, "bind staging: open the current mount namespace");
	if (unshare(CLONE_NEWNS) < 0) {
		if (errno != EPERM)
			return sm_error_set(err, errno, "bind staging: unshare(CLONE_NEWNS)");
		sm_log(SM_LOG_DEBUG,
		       "bind staging: no mount namespace (unshare: %s): directory binds are "
		       "shared whole (the guest's mountinfo shows root \"/\")",
		       strerror(errno));
		return 0;
	}
	r = populate(state_dir, &root_fd, err);
	if (r == 0 && (ns_fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)) < 0)
		r = sm_error_set(err, errno, "bind staging: open its mount namespace");
	/* Back in any case: the monitor must not go on in the staging namespace. */
	if (setns(old_ns, CLONE_NEWNS) < 0 || fchdir(cwd) < 0) {
		r = sm_error_set(err, errno, "bind staging: return to the monitor's mount namespace");
	}
	if (r < 0) {
		if (root_fd >= 0)
			close(root_fd);
		if (ns_fd >= 0)
			close(ns_fd);
		return r;
	}
	keep[0] = staged.ns_fd = ns_fd;
	keep[1] = staged.root_fd = root_fd;
	return 0;
}

int sm_bind_shares_stage(const struct sm_oci_config *cfg, const char *bundle, const char *rootfs,
			 const char *state_dir, int keep[2], sm_error_t *err)
{
	struct sm_bind_shares tmp = {0};
	int r = 0;

	keep[0] = keep[1] = -1;
	if (staged.n > 0 || staged.root_fd >= 0)
		return sm_error_set(err, 0, "bind staging: already done in this process");
	if (rootfs != NULL && (tmp.rootfs = realpath(rootfs, NULL)) == NULL)
		return sm_error_set(err, errno, "rootfs `%s`", rootfs);
	for (size_t i = 0; i < cfg->n_mounts && r >= 0; i++) {
		cleanup_free char *src = NULL;
		bool ro, rec;

		r = bind_source(&cfg->mounts[i], i, bundle, &src, &ro, &rec, err);
		if (r > 0)
			collect(&tmp, src, rec);
	}
	free(tmp.rootfs);
	if (r >= 0 && staged.n > 0)
		r = stage_in_new_ns(state_dir, keep, err);
	if (r < 0 || staged.root_fd < 0) {
		/* Nothing staged (an error, or no privilege): plan shares directories whole. */
		for (size_t k = 0; k < staged.n; k++)
			free(staged.dirs[k]);
		free(staged.dirs);
		free(staged.rec);
		staged.dirs = NULL;
		staged.rec = NULL;
		staged.n = 0;
	}
	return r < 0 ? r : 0;
}
