/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/agent-spec.h"
#include "runtime/bind-shares.h"

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
		return sm_error_set(err, 0, "bind source `%s` is a %s, which cannot reach a VM's guest", source,
				    S_ISSOCK(st.st_mode) ? "socket" : "FIFO");
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

static int plan_mount(struct sm_bind_shares *s, const struct sm_oci_mount *m, size_t idx, const char *bundle,
		      sm_error_t *err)
{
	struct sm_agent_mount_opts mo;
	cleanup_free char *src = NULL;
	struct resolved res = {0};
	struct sm_bind_share *sh;
	bool ro;

	if (sm_agent_mount_options(&m->options, &mo, err) < 0)
		return sm_error_prefix(err, "mounts[%zu]: ", idx);
	free(mo.data);
	if (m->type != NULL && strcmp(m->type, "bind") == 0)
		mo.flags |= MS_BIND;
	if (!(mo.flags & MS_BIND) || m->source == NULL)
		return 0;
	ro = (mo.flags & MS_RDONLY) != 0;
	src = m->source[0] != '/' && bundle ? sm_xasprintf("%s/%s", bundle, m->source) : sm_xstrdup(m->source);
	if (resolve(s, src, &res, err) < 0)
		return sm_error_prefix(err, "mounts[%zu]: ", idx);
	if (res.kind != SRC_SHARE) {
		remember(s, src, res.kind, 0, res.sub);
		resolved_clear(&res);
		return 0;
	}
	sh = find_share(s, res.dir);
	if (sh == NULL) {
		if (s->n == SM_BIND_SHARES_MAX) {
			sm_error_set(err, 0,
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

int sm_bind_shares_map(void *opaque, const char *source, char **tag, char **subpath, bool *dax, sm_error_t *err)
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
