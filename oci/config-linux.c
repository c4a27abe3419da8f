/* SPDX-License-Identifier: Apache-2.0 */
/* config.json "linux" except "resources" (config-resources.c). */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "oci/config-parse.h"

/* errno values fit in this (the kernel's MAX_ERRNO); libseccomp refuses larger ones. */
#define ERRNO_MAX 4095

static int parse_namespace(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"type", "path", NULL};
	struct sm_oci_namespace *ns = out;
	size_t mark;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0)
		return r;
	if (sm_j_get(v, "type") == NULL)
		return sm_j_fail_key(c, "type", "required but missing");
	mark = sm_j_push_key(c, "type");
	r = sm_j_enum(c, sm_j_get(v, "type"), sm_oci_namespace_names, "namespace type", &ns->type);
	sm_j_pop(c, mark);
	if (r < 0 || (r = sm_j_opt_str(c, v, "path", &ns->path)) < 0)
		return r;
	if (ns->path != NULL && !sm_j_abs(ns->path))
		return sm_j_fail_key(c, "path", "must be an absolute path");
	return 0;
}

static int check_namespaces(struct sm_jctx *c, const struct sm_oci_linux *l)
{
	for (size_t i = 0; i < l->n_namespaces; i++) {
		for (size_t j = 0; j < i; j++) {
			if (l->namespaces[i].type == l->namespaces[j].type) {
				size_t mark = sm_j_push_key(c, "namespaces");
				size_t m2 = sm_j_push_index(c, i);
				int r = sm_j_fail_key(
				    c, "type", "duplicate namespace type \"%s\" (also in [%zu])",
				    sm_oci_name_of(sm_oci_namespace_names, l->namespaces[i].type), j);
				sm_j_pop(c, m2);
				sm_j_pop(c, mark);
				return r;
			}
		}
	}
	return 0;
}

/* timeOffsets is an object keyed by clock name; time_namespaces(7) offsets only these two. */
static int parse_time_offsets(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"secs", "nanosecs", NULL};
	struct sm_oci_linux *l = out;
	size_t n;

	if (!YAJL_IS_OBJECT(v))
		return sm_j_fail(c, "expected an object");
	if (sm_j_unique_keys(c, v) < 0)
		return -1;
	n = v->u.object.len;
	l->time_offsets = sm_xcalloc(n, sizeof(*l->time_offsets));
	l->n_time_offsets = n;
	for (size_t i = 0; i < n; i++) {
		struct sm_oci_time_offset *t = &l->time_offsets[i];
		const char *clock = v->u.object.keys[i];
		yajl_val e = v->u.object.values[i];
		struct sm_oci_i64 secs = {0};
		struct sm_oci_u64 nsecs = {0};
		size_t mark = sm_j_push_mapkey(c, clock);
		int r = 0;

		t->clock = sm_xstrdup(clock);
		if (strcmp(clock, "monotonic") != 0 && strcmp(clock, "boottime") != 0)
			r = sm_j_fail(c, "unknown clock (expected \"monotonic\" or \"boottime\")");
		if (r == 0 && (r = sm_j_object(c, e, keys)) == 0 &&
		    (r = sm_j_opt_int(c, e, "secs", INT64_MIN, INT64_MAX, &secs)) == 0)
			r = sm_j_opt_uint(c, e, "nanosecs", 999999999, &nsecs);
		sm_j_pop(c, mark);
		if (r < 0)
			return r;
		t->secs = secs.val;
		t->nanosecs = (uint32_t)nsecs.val;
	}
	return 0;
}

static int parse_device(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"type", "path", "major", "minor", "fileMode", "uid", "gid", NULL};
	struct sm_oci_device *d = out;
	char *type = NULL;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0 || (r = sm_j_req_str(c, v, "type", &type)) < 0)
		return r;
	d->type = type[0];
	if (strlen(type) != 1 || strchr("cbup", type[0]) == NULL) {
		r = sm_j_fail_key(c, "type", "unknown device type \"%.16s\" (expected c, b, u or p)", type);
		free(type);
		return r;
	}
	free(type);
	if ((r = sm_j_req_str(c, v, "path", &d->path)) < 0)
		return r;
	if (!sm_j_abs(d->path))
		return sm_j_fail_key(c, "path", "must be an absolute path");
	if (d->type != 'p') {
		if ((r = sm_j_req_int(c, v, "major", INT64_MIN, INT64_MAX, &d->major)) < 0 ||
		    (r = sm_j_req_int(c, v, "minor", INT64_MIN, INT64_MAX, &d->minor)) < 0)
			return r;
	} else {
		struct sm_oci_i64 major = {0}, minor = {0};
		if ((r = sm_j_opt_int(c, v, "major", INT64_MIN, INT64_MAX, &major)) < 0 ||
		    (r = sm_j_opt_int(c, v, "minor", INT64_MIN, INT64_MAX, &minor)) < 0)
			return r;
		d->major = major.val;
		d->minor = minor.val;
	}
	/* fileMode is a Go os.FileMode: generators may set type bits above 07777; runc masks them. */
	if ((r = sm_j_opt_uint(c, v, "fileMode", UINT32_MAX, &d->file_mode)) < 0 ||
	    (r = sm_j_opt_uint(c, v, "uid", UINT32_MAX - 1, &d->uid)) < 0)
		return r;
	return sm_j_opt_uint(c, v, "gid", UINT32_MAX - 1, &d->gid);
}

static int parse_intel_rdt(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"closID",	"l3CacheSchema", "memBwSchema",
					   "enableCMT", "enableMBM",	 NULL};
	struct sm_oci_intel_rdt *rdt = sm_xcalloc(1, sizeof(*rdt));
	int r;

	*(struct sm_oci_intel_rdt **)out = rdt;
	if ((r = sm_j_object(c, v, keys)) < 0 || (r = sm_j_opt_str(c, v, "closID", &rdt->clos_id)) < 0 ||
	    (r = sm_j_opt_str(c, v, "l3CacheSchema", &rdt->l3_cache_schema)) < 0 ||
	    (r = sm_j_opt_str(c, v, "memBwSchema", &rdt->mem_bw_schema)) < 0 ||
	    (r = sm_j_opt_bool(c, v, "enableCMT", &rdt->enable_cmt)) < 0 ||
	    (r = sm_j_opt_bool(c, v, "enableMBM", &rdt->enable_mbm)) < 0)
		return r;
	/* closID names a directory in resctrl. */
	if (rdt->clos_id != NULL && (rdt->clos_id[0] == '\0' || strchr(rdt->clos_id, '/') != NULL ||
				     strcmp(rdt->clos_id, ".") == 0 || strcmp(rdt->clos_id, "..") == 0))
		return sm_j_fail_key(c, "closID", "invalid resctrl group name \"%.64s\"", rdt->clos_id);
	if (rdt->mem_bw_schema != NULL &&
	    (strncmp(rdt->mem_bw_schema, "MB:", 3) != 0 || strchr(rdt->mem_bw_schema, '\n') != NULL))
		return sm_j_fail_key(c, "memBwSchema", "must start with \"MB:\" and be a single line");
	return 0;
}

static int parse_seccomp_arg(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"index", "value", "valueTwo", "op", NULL};
	struct sm_oci_seccomp_arg *a = out;
	uint64_t index;
	size_t mark;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0 || (r = sm_j_req_uint(c, v, "index", 5, &index)) < 0 ||
	    (r = sm_j_req_uint(c, v, "value", UINT64_MAX, &a->value)) < 0 ||
	    (r = sm_j_opt_uint(c, v, "valueTwo", UINT64_MAX, &a->value_two)) < 0)
		return r;
	a->index = (uint32_t)index;
	if (sm_j_get(v, "op") == NULL)
		return sm_j_fail_key(c, "op", "required but missing");
	mark = sm_j_push_key(c, "op");
	r = sm_j_enum(c, sm_j_get(v, "op"), sm_oci_seccomp_op_names, "seccomp operator", &a->op);
	sm_j_pop(c, mark);
	return r;
}

/* The spec: an errno return with an action that cannot return one MUST be an error. */
static int check_errno_action(struct sm_jctx *c, const char *key, int action, const struct sm_oci_u64 *ret)
{
	if (ret->set && action != SM_OCI_SCMP_ACT_ERRNO && action != SM_OCI_SCMP_ACT_TRACE)
		return sm_j_fail_key(c, key, "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not %s",
				     sm_oci_name_of(sm_oci_seccomp_action_names, action));
	return 0;
}

static int req_enum(struct sm_jctx *c, yajl_val obj, const char *key, const struct sm_oci_name *table,
		    const char *what, int *value)
{
	size_t mark;
	int r;

	if (sm_j_get(obj, key) == NULL)
		return sm_j_fail_key(c, key, "required but missing");
	mark = sm_j_push_key(c, key);
	r = sm_j_enum(c, sm_j_get(obj, key), table, what, value);
	sm_j_pop(c, mark);
	return r;
}

static int parse_syscall(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"names", "action", "errnoRet", "args", NULL};
	struct sm_oci_syscall *s = out;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0)
		return r;
	if (sm_j_get(v, "names") == NULL)
		return sm_j_fail_key(c, "names", "required but missing");
	if ((r = sm_j_opt_strv(c, v, "names", &s->names)) < 0)
		return r;
	if (s->names.n == 0)
		return sm_j_fail_key(c, "names", "must have at least one entry");
	for (size_t i = 0; i < s->names.n; i++) {
		if (s->names.v[i][0] == '\0') {
			size_t mark = sm_j_push_key(c, "names");
			size_t m2 = sm_j_push_index(c, i);
			r = sm_j_fail(c, "empty syscall name");
			sm_j_pop(c, m2);
			sm_j_pop(c, mark);
			return r;
		}
	}
	if ((r = req_enum(c, v, "action", sm_oci_seccomp_action_names, "seccomp action", &s->action)) < 0 ||
	    (r = sm_j_opt_uint(c, v, "errnoRet", ERRNO_MAX, &s->errno_ret)) < 0 ||
	    (r = check_errno_action(c, "errnoRet", s->action, &s->errno_ret)) < 0)
		return r;
	return sm_j_opt_array(c, v, "args", sizeof(struct sm_oci_seccomp_arg), parse_seccomp_arg, &s->args,
			      &s->n_args);
}

static int parse_arch(struct sm_jctx *c, yajl_val v, void *out)
{
	return sm_j_enum(c, v, sm_oci_seccomp_arch_names, "seccomp architecture", out);
}

static int parse_seccomp_flag(struct sm_jctx *c, yajl_val v, void *out)
{
	return sm_j_enum(c, v, sm_oci_seccomp_flag_names, "seccomp flag", out);
}

static int parse_seccomp(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"defaultAction", "defaultErrnoRet",	"architectures", "flags",
					   "listenerPath",  "listenerMetadata", "syscalls",	 NULL};
	struct sm_oci_seccomp *s = sm_xcalloc(1, sizeof(*s));
	int *flags = NULL;
	size_t n_flags = 0;
	int r;

	*(struct sm_oci_seccomp **)out = s;
	if ((r = sm_j_object(c, v, keys)) < 0 ||
	    (r = req_enum(c, v, "defaultAction", sm_oci_seccomp_action_names, "seccomp action",
			  &s->default_action)) < 0 ||
	    (r = sm_j_opt_uint(c, v, "defaultErrnoRet", ERRNO_MAX, &s->default_errno_ret)) < 0 ||
	    (r = check_errno_action(c, "defaultErrnoRet", s->default_action, &s->default_errno_ret)) < 0 ||
	    (r = sm_j_opt_array(c, v, "architectures", sizeof(int), parse_arch, &s->architectures,
				&s->n_architectures)) < 0)
		return r;
	r = sm_j_opt_array(c, v, "flags", sizeof(int), parse_seccomp_flag, &flags, &n_flags);
	for (size_t i = 0; r == 0 && i < n_flags; i++)
		s->flags |= (uint32_t)flags[i];
	free(flags);
	if (r < 0 || (r = sm_j_opt_str(c, v, "listenerPath", &s->listener_path)) < 0 ||
	    (r = sm_j_opt_str(c, v, "listenerMetadata", &s->listener_metadata)) < 0)
		return r;
	if (s->listener_metadata != NULL && s->listener_path == NULL)
		return sm_j_fail_key(c, "listenerMetadata", "must not be set without listenerPath");
	return sm_j_opt_array(c, v, "syscalls", sizeof(struct sm_oci_syscall), parse_syscall, &s->syscalls,
			      &s->n_syscalls);
}

static int parse_personality(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"domain", "flags", NULL};
	struct sm_oci_personality *p = sm_xcalloc(1, sizeof(*p));
	int r;

	*(struct sm_oci_personality **)out = p;
	if ((r = sm_j_object(c, v, keys)) < 0 ||
	    (r = req_enum(c, v, "domain", sm_oci_personality_domain_names, "personality domain",
			  &p->domain)) < 0 ||
	    (r = sm_j_opt_strv(c, v, "flags", &p->flags)) < 0)
		return r;
	if (p->flags.n > 0) {
		size_t mark = sm_j_push_key(c, "flags");
		size_t m2 = sm_j_push_index(c, 0);
		r = sm_j_fail(c, "unknown personality flag \"%.64s\" (the spec defines none)", p->flags.v[0]);
		sm_j_pop(c, m2);
		sm_j_pop(c, mark);
		return r;
	}
	return 0;
}

static int check_abs_paths(struct sm_jctx *c, const char *key, const struct sm_oci_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++) {
		if (!sm_j_abs(sv->v[i])) {
			size_t mark = sm_j_push_key(c, key);
			size_t m2 = sm_j_push_index(c, i);
			int r = sm_j_fail(c, "must be an absolute path");
			sm_j_pop(c, m2);
			sm_j_pop(c, mark);
			return r;
		}
	}
	return 0;
}

static int parse_propagation(struct sm_jctx *c, yajl_val obj, struct sm_oci_linux *l)
{
	int unused, r = sm_j_opt_str(c, obj, "rootfsPropagation", &l->rootfs_propagation);
	if (r < 0 || l->rootfs_propagation == NULL)
		return r;
	if (sm_oci_name_lookup(sm_oci_propagation_names, l->rootfs_propagation, &unused) < 0)
		return sm_j_fail_key(c, "rootfsPropagation", "unknown propagation \"%.64s\"",
				     l->rootfs_propagation);
	return 0;
}

int sm_oci_parse_linux_obj(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"namespaces",    "uidMappings", "gidMappings",	"timeOffsets",
					   "devices",	    "cgroupsPath", "resources",		"intelRdt",
					   "sysctl",	    "seccomp",	   "rootfsPropagation", "maskedPaths",
					   "readonlyPaths", "mountLabel",  "personality",	NULL};
	struct sm_oci_linux *l;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0)
		return r;
	l = sm_xcalloc(1, sizeof(*l));
	*(struct sm_oci_linux **)out = l;
	if ((r = sm_j_opt_array(c, v, "namespaces", sizeof(struct sm_oci_namespace), parse_namespace,
				&l->namespaces, &l->n_namespaces)) < 0 ||
	    (r = check_namespaces(c, l)) < 0 ||
	    (r = sm_oci_parse_idmaps(c, v, "uidMappings", &l->uid_mappings)) < 0 ||
	    (r = sm_oci_parse_idmaps(c, v, "gidMappings", &l->gid_mappings)) < 0 ||
	    (r = sm_j_opt_sub(c, v, "timeOffsets", parse_time_offsets, l)) < 0 ||
	    (r = sm_j_opt_array(c, v, "devices", sizeof(struct sm_oci_device), parse_device, &l->devices,
				&l->n_devices)) < 0 ||
	    (r = sm_j_opt_str(c, v, "cgroupsPath", &l->cgroups_path)) < 0 ||
	    (r = sm_j_opt_sub(c, v, "resources", sm_oci_parse_resources_obj, &l->resources)) < 0 ||
	    (r = sm_j_opt_sub(c, v, "intelRdt", parse_intel_rdt, &l->intel_rdt)) < 0 ||
	    (r = sm_j_opt_map(c, v, "sysctl", &l->sysctl)) < 0 ||
	    (r = sm_j_opt_sub(c, v, "seccomp", parse_seccomp, &l->seccomp)) < 0 ||
	    (r = parse_propagation(c, v, l)) < 0 ||
	    (r = sm_j_opt_strv(c, v, "maskedPaths", &l->masked_paths)) < 0 ||
	    (r = check_abs_paths(c, "maskedPaths", &l->masked_paths)) < 0 ||
	    (r = sm_j_opt_strv(c, v, "readonlyPaths", &l->readonly_paths)) < 0 ||
	    (r = check_abs_paths(c, "readonlyPaths", &l->readonly_paths)) < 0 ||
	    (r = sm_j_opt_str(c, v, "mountLabel", &l->mount_label)) < 0 ||
	    (r = sm_j_opt_sub(c, v, "personality", parse_personality, &l->personality)) < 0)
		return r;
	return 0;
}
