/* SPDX-License-Identifier: Apache-2.0 */
/* config.json: the top level, root, mounts, hooks, annotations (process and linux elsewhere). */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "oci/config-parse.h"

/* HOST_NAME_MAX / the UTS field size: sethostname() and setdomainname() refuse longer names. */
#define UTS_NAME_MAX 64
#define IDMAP_MAX_EXTENTS 340

/* Numeric SemVer identifier: digits without a leading zero. */
static const char *semver_number(const char *s)
{
	if (!isdigit((unsigned char)*s) || (s[0] == '0' && isdigit((unsigned char)s[1])))
		return NULL;
	while (isdigit((unsigned char)*s))
		s++;
	return s;
}

/* Dot-separated identifiers of [0-9A-Za-z-], none empty (pre-release and build metadata). */
static const char *semver_idents(const char *s)
{
	for (;;) {
		size_t n = strspn(s, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-");
		if (n == 0)
			return NULL;
		s += n;
		if (*s != '.')
			return s;
		s++;
	}
}

static bool semver_valid(const char *s)
{
	for (int i = 0; i < 3; i++) {
		if (s == NULL || (i > 0 && *s++ != '.'))
			return false;
		s = semver_number(s);
	}
	if (s != NULL && *s == '-')
		s = semver_idents(s + 1);
	if (s != NULL && *s == '+')
		s = semver_idents(s + 1);
	return s != NULL && *s == '\0';
}

static int parse_version(struct sm_jctx *c, yajl_val obj, struct sm_oci_config *cfg)
{
	int r = sm_j_req_str(c, obj, "ociVersion", &cfg->oci_version);
	if (r < 0)
		return r;
	if (!semver_valid(cfg->oci_version))
		return sm_j_fail_key(c, "ociVersion", "\"%.64s\" is not a SemVer 2.0.0 version",
				     cfg->oci_version);
	if (strncmp(cfg->oci_version, "1.", 2) != 0)
		return sm_j_fail_key(c, "ociVersion", "unsupported version %.64s: sm-runtime implements 1.x",
				     cfg->oci_version);
	return 0;
}

static int parse_root(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"path", "readonly", NULL};
	struct sm_oci_root *root;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0)
		return r;
	root = sm_xcalloc(1, sizeof(*root));
	*(struct sm_oci_root **)out = root;
	if ((r = sm_j_req_str(c, v, "path", &root->path)) < 0)
		return r;
	if (root->path[0] == '\0')
		return sm_j_fail_key(c, "path", "must not be empty");
	return sm_j_opt_bool(c, v, "readonly", &root->readonly);
}

static int parse_idmap(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"containerID", "hostID", "size", NULL};
	struct sm_oci_idmap *m = out;
	uint64_t cid, hid, size;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0 ||
	    (r = sm_j_req_uint(c, v, "containerID", UINT32_MAX, &cid)) < 0 ||
	    (r = sm_j_req_uint(c, v, "hostID", UINT32_MAX, &hid)) < 0 ||
	    (r = sm_j_req_uint(c, v, "size", UINT32_MAX, &size)) < 0)
		return r;
	if (size == 0)
		return sm_j_fail_key(c, "size", "must be at least 1");
	if (cid + size - 1 > UINT32_MAX)
		return sm_j_fail(c, "containerID range %" PRIu64 "+%" PRIu64 " wraps around 2^32", cid, size);
	if (hid + size - 1 > UINT32_MAX)
		return sm_j_fail(c, "hostID range %" PRIu64 "+%" PRIu64 " wraps around 2^32", hid, size);
	m->container_id = (uint32_t)cid;
	m->host_id = (uint32_t)hid;
	m->size = (uint32_t)size;
	return 0;
}

static bool ranges_overlap(uint32_t a, uint32_t alen, uint32_t b, uint32_t blen)
{
	return (uint64_t)a < (uint64_t)b + blen && (uint64_t)b < (uint64_t)a + alen;
}

int sm_oci_parse_idmaps(struct sm_jctx *c, yajl_val obj, const char *key, struct sm_oci_idmaps *out)
{
	int r = sm_j_opt_array(c, obj, key, sizeof(struct sm_oci_idmap), parse_idmap, &out->v, &out->n);
	if (r < 0)
		return r;
	if (out->n > IDMAP_MAX_EXTENTS)
		return sm_j_fail_key(c, key, "%zu entries, the kernel allows at most %d", out->n,
				     IDMAP_MAX_EXTENTS);
	for (size_t i = 0; i < out->n; i++) {
		for (size_t j = 0; j < i; j++) {
			const struct sm_oci_idmap *a = &out->v[i], *b = &out->v[j];
			const char *what = NULL;
			if (ranges_overlap(a->container_id, a->size, b->container_id, b->size))
				what = "containerID";
			else if (ranges_overlap(a->host_id, a->size, b->host_id, b->size))
				what = "hostID";
			if (what != NULL) {
				size_t mark = sm_j_push_key(c, key);
				size_t m2 = sm_j_push_index(c, i);
				r = sm_j_fail(c, "%s range overlaps entry [%zu]", what, j);
				sm_j_pop(c, m2);
				sm_j_pop(c, mark);
				return r;
			}
		}
	}
	return 0;
}

static int parse_mount(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"destination", "type",	 "source", "options",
					   "uidMappings", "gidMappings", NULL};
	struct sm_oci_mount *m = out;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0 || (r = sm_j_req_str(c, v, "destination", &m->destination)) < 0)
		return r;
	if (m->destination[0] == '\0')
		return sm_j_fail_key(c, "destination", "must not be empty");
	if (!sm_j_abs(m->destination)) {
		/* The spec (1.1+) still allows relative destinations, deprecated, relative to "/". */
		char *abs = sm_xasprintf("/%s", m->destination);
		size_t mark = sm_j_push_key(c, "destination");
		sm_j_warn(c, "relative path \"%.64s\" is deprecated, using \"%.65s\"", m->destination, abs);
		sm_j_pop(c, mark);
		free(m->destination);
		m->destination = abs;
	}
	if ((r = sm_j_opt_str(c, v, "type", &m->type)) < 0 ||
	    (r = sm_j_opt_str(c, v, "source", &m->source)) < 0 ||
	    (r = sm_j_opt_strv(c, v, "options", &m->options)) < 0 ||
	    (r = sm_oci_parse_idmaps(c, v, "uidMappings", &m->uid_mappings)) < 0 ||
	    (r = sm_oci_parse_idmaps(c, v, "gidMappings", &m->gid_mappings)) < 0)
		return r;
	if ((m->uid_mappings.n > 0) != (m->gid_mappings.n > 0))
		return sm_j_fail_key(c, m->uid_mappings.n > 0 ? "gidMappings" : "uidMappings",
				     "required with %s",
				     m->uid_mappings.n > 0 ? "uidMappings" : "gidMappings");
	return 0;
}

static int parse_hook(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"path", "args", "env", "timeout", NULL};
	struct sm_oci_hook *h = out;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0 || (r = sm_j_req_str(c, v, "path", &h->path)) < 0)
		return r;
	if (!sm_j_abs(h->path))
		return sm_j_fail_key(c, "path", "must be an absolute path");
	if ((r = sm_j_opt_strv(c, v, "args", &h->args)) < 0 || (r = sm_j_opt_strv(c, v, "env", &h->env)) < 0)
		return r;
	return sm_j_opt_int(c, v, "timeout", 1, INT32_MAX, &h->timeout);
}

static int parse_hooks(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {
	    "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop", NULL};
	struct sm_oci_config *cfg = out;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0)
		return r;
	cfg->has_hooks = true;
	for (const struct sm_oci_name *h = sm_oci_hook_names; h->name != NULL; h++) {
		struct sm_oci_hooklist *l = &cfg->hooks[h->value];
		if ((r = sm_j_opt_array(c, v, h->name, sizeof(struct sm_oci_hook), parse_hook, &l->v,
					&l->n)) < 0)
			return r;
	}
	return 0;
}

static int check_uts_name(struct sm_jctx *c, const char *key, const char *s)
{
	if (s != NULL && strlen(s) > UTS_NAME_MAX)
		return sm_j_fail_key(c, key, "longer than %d bytes", UTS_NAME_MAX);
	return 0;
}

static int parse_top(struct sm_jctx *c, yajl_val v, unsigned flags, struct sm_oci_config *cfg)
{
	static const char *const keys[] = {"ociVersion", "root",  "mounts",	 "process", "hostname",
					   "domainname", "hooks", "annotations", "linux",   NULL};
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0 || (r = parse_version(c, v, cfg)) < 0)
		return r;
	if (sm_j_get(v, "root") == NULL)
		return sm_j_fail_key(c, "root", "required but missing");
	if ((r = sm_j_opt_sub(c, v, "root", parse_root, &cfg->root)) < 0 ||
	    (r = sm_j_opt_array(c, v, "mounts", sizeof(struct sm_oci_mount), parse_mount, &cfg->mounts,
				&cfg->n_mounts)) < 0)
		return r;
	if ((flags & SM_OCI_PARSE_REQUIRE_PROCESS) && sm_j_get(v, "process") == NULL)
		return sm_j_fail_key(c, "process", "required but missing");
	if ((r = sm_j_opt_sub(c, v, "process", sm_oci_parse_process_obj, &cfg->process)) < 0 ||
	    (r = sm_j_opt_str(c, v, "hostname", &cfg->hostname)) < 0 ||
	    (r = check_uts_name(c, "hostname", cfg->hostname)) < 0 ||
	    (r = sm_j_opt_str(c, v, "domainname", &cfg->domainname)) < 0 ||
	    (r = check_uts_name(c, "domainname", cfg->domainname)) < 0 ||
	    (r = sm_j_opt_sub(c, v, "hooks", parse_hooks, cfg)) < 0 ||
	    (r = sm_j_opt_map(c, v, "annotations", &cfg->annotations)) < 0)
		return r;
	r = sm_j_opt_sub(c, v, "linux", sm_oci_parse_linux_obj, &cfg->linux_cfg);
	return r < 0 ? r : 0;
}

/* Close the unknown/warning lists with a count of what did not fit. */
static void notes_done(struct sm_jctx *c)
{
	if (c->n_unknown_dropped > 0 && c->unknown != NULL) {
		c->unknown->v = realloc(c->unknown->v, (c->unknown->n + 1) * sizeof(char *));
		if (c->unknown->v == NULL)
			abort();
		c->unknown->v[c->unknown->n++] = sm_xasprintf("... and %zu more", c->n_unknown_dropped);
	}
	if (c->n_warnings_dropped > 0 && c->warnings != NULL) {
		c->warnings->v = realloc(c->warnings->v, (c->warnings->n + 1) * sizeof(char *));
		if (c->warnings->v == NULL)
			abort();
		c->warnings->v[c->warnings->n++] =
		    sm_xasprintf("... and %zu more warnings", c->n_warnings_dropped);
	}
}

int sm_oci_config_parse(const char *json, size_t len, const char *name, unsigned flags,
			struct sm_oci_config **out, sm_error_t *err)
{
	struct sm_oci_config *cfg;
	struct sm_jctx c;
	yajl_val tree = NULL;
	int r;

	if ((r = sm_j_parse(json, len, name, &tree, err)) < 0)
		return r;
	cfg = sm_xcalloc(1, sizeof(*cfg));
	sm_j_init(&c, name, &cfg->unknown, &cfg->warnings, err);
	r = parse_top(&c, tree, flags, cfg);
	yajl_tree_free(tree);
	if (r < 0) {
		sm_oci_config_free(cfg);
		return r;
	}
	notes_done(&c);
	*out = cfg;
	return 0;
}

int sm_oci_config_load(const char *path, unsigned flags, struct sm_oci_config **out, sm_error_t *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = sm_read_file(path, SM_OCI_CONFIG_MAX_SIZE, &buf, &len, err)) < 0)
		return r;
	return sm_oci_config_parse(buf, len, path, flags, out, err);
}

int sm_oci_resources_parse(const char *json, size_t len, const char *name, struct sm_oci_resources **out,
			   struct sm_oci_strv *unknown, struct sm_oci_strv *warnings, sm_error_t *err)
{
	struct sm_oci_resources *res = NULL;
	struct sm_jctx c;
	yajl_val tree = NULL;
	int r;

	if ((r = sm_j_parse(json, len, name, &tree, err)) < 0)
		return r;
	sm_j_init(&c, name, unknown, warnings, err);
	/* Paths as in config.json, so errors name the same fields as `create` does. */
	sm_j_push_key(&c, "linux");
	sm_j_push_key(&c, "resources");
	r = sm_oci_parse_resources_obj(&c, tree, &res);
	yajl_tree_free(tree);
	if (r < 0) {
		sm_oci_resources_free(res);
		return r;
	}
	notes_done(&c);
	*out = res;
	return 0;
}

int sm_oci_process_parse(const char *json, size_t len, const char *name, struct sm_oci_process **out,
			 struct sm_oci_strv *unknown, struct sm_oci_strv *warnings, sm_error_t *err)
{
	struct sm_oci_process *p = NULL;
	struct sm_jctx c;
	yajl_val tree = NULL;
	int r;

	if ((r = sm_j_parse(json, len, name, &tree, err)) < 0)
		return r;
	sm_j_init(&c, name, unknown, warnings, err);
	r = sm_oci_parse_process_obj(&c, tree, &p);
	yajl_tree_free(tree);
	if (r < 0) {
		sm_oci_process_free(p);
		return r;
	}
	notes_done(&c);
	*out = p;
	return 0;
}
