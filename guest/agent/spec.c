/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoding of CREATE/EXEC payloads. The host is trusted more than the container, but a payload is
 * still checked field by field: a wrong size, a NUL in a string or a missing required field is an
 * error naming the tag, never a crash.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "common/proto-tags.h"
#include "common/proto.h"
#include "guest/agent/spec.h"
#include "guest/agent/sys.h"

static int grow(void **v, size_t n, size_t size)
{
	void *p;

	/* Grow at powers of two: n is the count before the append. */
	if (n != 0 && (n & (n - 1)) != 0)
		return 0;
	p = realloc(*v, (n ? n * 2 : 1) * size);
	if (p == NULL)
		return -ENOMEM;
	*v = p;
	return 0;
}

static int strv_push(struct sm_agent_strv *sv, char *s)
{
	/* n + 1 for the NULL terminator: grow when n + 1 reaches a power of two. */
	if (grow((void **)&sv->v, sv->n + 1, sizeof(char *)) < 0)
		return -ENOMEM;
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
	return 0;
}

static void strv_free(struct sm_agent_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

static int field_error(sm_error_t *err, int r, uint16_t tag, const char *what)
{
	if (r == -ENOMEM)
		return sm_error_set(err, ENOMEM, "field %u (%s)", tag, what);
	return sm_error_set(err, 0, "field %u (%s): malformed value", tag, what);
}

static int get_str(const uint8_t *val, uint32_t len, uint16_t tag, const char *what, char **out,
		   sm_error_t *err)
{
	int r;

	if (*out != NULL)
		return sm_error_set(err, 0, "field %u (%s) given twice", tag, what);
	r = sm_tlv_str(val, len, out);
	return r < 0 ? field_error(err, r, tag, what) : 0;
}

static int push_str(const uint8_t *val, uint32_t len, uint16_t tag, const char *what,
		    struct sm_agent_strv *sv, sm_error_t *err)
{
	char *s = NULL;
	int r = sm_tlv_str(val, len, &s);

	if (r == 0 && (r = strv_push(sv, s)) < 0)
		free(s);
	return r < 0 ? field_error(err, r, tag, what) : 0;
}

static int get_u32(const uint8_t *val, uint32_t len, uint16_t tag, const char *what, uint32_t *out,
		   sm_error_t *err)
{
	return sm_tlv_u32(val, len, out) < 0 ? field_error(err, -EPROTO, tag, what) : 0;
}

static int get_u64(const uint8_t *val, uint32_t len, uint16_t tag, const char *what, uint64_t *out,
		   sm_error_t *err)
{
	return sm_tlv_u64(val, len, out) < 0 ? field_error(err, -EPROTO, tag, what) : 0;
}

static int get_bool(const uint8_t *val, uint32_t len, uint16_t tag, const char *what, bool *out,
		    sm_error_t *err)
{
	uint32_t v;

	if (sm_tlv_u32(val, len, &v) < 0 || v > 1)
		return field_error(err, -EPROTO, tag, what);
	*out = v == 1;
	return 0;
}

/* Decodes one field into obj; -1 with err set when it is bad. */
typedef int (*field_fn)(void *obj, uint16_t tag, const uint8_t *val, uint32_t len, sm_error_t *err);

struct fields {
	field_fn fn;
	void *obj;
	sm_error_t *err;
};

static int visit_field(void *ctx, uint16_t tag, const uint8_t *val, uint32_t len)
{
	struct fields *f = ctx;
	return f->fn(f->obj, tag, val, len, f->err);
}

/*
 * Every field of payload through fn into obj: 0, -1 when fn failed (err set), SM_TLV_MALFORMED
 * when the payload is (err not set: the caller knows what the payload was).
 */
static int decode_fields(const uint8_t *payload, size_t len, field_fn fn, void *obj, sm_error_t *err)
{
	struct fields f = {.fn = fn, .obj = obj, .err = err};
	int r = sm_tlv_walk(payload, len, visit_field, &f);

	return r == SM_TLV_MALFORMED ? r : r < 0 ? -1 : 0;
}

static int decode_rlimit(const uint8_t *payload, uint32_t plen, struct sm_agent_process *p, sm_error_t *err)
{
	struct sm_tlv_num f[] = {{.tag = SM_TAG_RLIMIT_RESOURCE, .size = 4},
				 {.tag = SM_TAG_RLIMIT_SOFT, .size = 8},
				 {.tag = SM_TAG_RLIMIT_HARD, .size = 8}};
	struct sm_agent_rlimit rl;

	if (sm_tlv_get_nums(payload, plen, f, 3) < 0 || !f[0].seen || !f[1].seen || !f[2].seen)
		return sm_error_set(err, 0, "field %u (rlimit): malformed or incomplete", SM_TAG_RLIMIT);
	rl = (struct sm_agent_rlimit){
	    .resource = (uint32_t)f[0].value, .soft = f[1].value, .hard = f[2].value};
	if (grow((void **)&p->rlimits, p->n_rlimits, sizeof(rl)) < 0)
		return sm_error_set(err, ENOMEM, "rlimits");
	p->rlimits[p->n_rlimits++] = rl;
	return 0;
}

static int process_field(void *obj, uint16_t tag, const uint8_t *val, uint32_t len, sm_error_t *err)
{
	struct sm_agent_process *p = obj;
	uint32_t u = 0;
	int r = 0;

	switch (tag) {
	case SM_TAG_ARG:
		return push_str(val, len, tag, "arg", &p->args, err);
	case SM_TAG_ENV:
		r = push_str(val, len, tag, "env", &p->env, err);
		if (r == 0 && strchr(p->env.v[p->env.n - 1], '=') == NULL)
			return sm_error_set(err, 0, "field %u (env): \"%s\" is not KEY=value", tag,
					    p->env.v[p->env.n - 1]);
		return r;
	case SM_TAG_CWD:
		return get_str(val, len, tag, "cwd", &p->cwd, err);
	case SM_TAG_UID:
		return get_u32(val, len, tag, "uid", &p->uid, err);
	case SM_TAG_GID:
		return get_u32(val, len, tag, "gid", &p->gid, err);
	case SM_TAG_ADDITIONAL_GID:
		if ((r = get_u32(val, len, tag, "additional gid", &u, err)) < 0)
			return r;
		if (p->n_gids >= 65536 || grow((void **)&p->gids, p->n_gids, sizeof(u)) < 0)
			return sm_error_set(err, ENOMEM, "field %u (additional gid)", tag);
		p->gids[p->n_gids++] = u;
		return 0;
	case SM_TAG_UMASK:
		if ((r = get_u32(val, len, tag, "umask", &u, err)) < 0)
			return r;
		if (u > 0777)
			return sm_error_set(err, 0, "field %u (umask): %#o is out of range", tag, u);
		p->umask = u;
		return 0;
	case SM_TAG_TERMINAL:
		return get_bool(val, len, tag, "terminal", &p->terminal, err);
	case SM_TAG_TERMINAL_HVC:
		return get_bool(val, len, tag, "terminal on hvc0", &p->terminal_hvc, err);
	case SM_TAG_ROWS:
		return get_u32(val, len, tag, "rows", &p->rows, err);
	case SM_TAG_COLS:
		return get_u32(val, len, tag, "cols", &p->cols, err);
	case SM_TAG_CAP_BOUNDING:
	case SM_TAG_CAP_EFFECTIVE:
	case SM_TAG_CAP_PERMITTED:
	case SM_TAG_CAP_INHERITABLE:
	case SM_TAG_CAP_AMBIENT:
		p->has_caps = true;
		return get_u64(val, len, tag, "capabilities", &p->caps[tag - SM_TAG_CAP_BOUNDING], err);
	case SM_TAG_RLIMIT:
		return decode_rlimit(val, len, p, err);
	case SM_TAG_NO_NEW_PRIVS:
		return get_bool(val, len, tag, "no_new_privileges", &p->no_new_privs, err);
	case SM_TAG_OOM_SCORE_ADJ:
		if ((r = get_u32(val, len, tag, "oom_score_adj", &u, err)) < 0)
			return r;
		p->oom_score_adj = (int32_t)u;
		if (p->oom_score_adj < -1000 || p->oom_score_adj > 1000)
			return sm_error_set(err, 0, "field %u (oom_score_adj): %d is out of range", tag,
					    p->oom_score_adj);
		p->has_oom_score_adj = true;
		return 0;
	case SM_TAG_SECCOMP_BPF:
		if (p->seccomp_bpf != NULL || len == 0 || len % sizeof(struct sm_sock_filter) != 0 ||
		    len / sizeof(struct sm_sock_filter) > SM_BPF_MAXINSNS)
			return field_error(err, -EPROTO, tag, "seccomp program");
		p->seccomp_bpf = malloc(len);
		if (p->seccomp_bpf == NULL)
			return sm_error_set(err, ENOMEM, "seccomp program");
		memcpy(p->seccomp_bpf, val, len);
		p->seccomp_len = len;
		return 0;
	case SM_TAG_SECCOMP_FLAGS:
		return get_u32(val, len, tag, "seccomp flags", &p->seccomp_flags, err);
	default: /* scheduler, ioPriority, execCPUAffinity (spec-attrs.c), or not a process field */
		return sm_agent_process_attr_field(p, tag, val, len, err);
	}
}

int sm_agent_process_decode(const uint8_t *payload, size_t len, struct sm_agent_process *p, sm_error_t *err)
{
	int r;

	memset(p, 0, sizeof(*p));
	p->umask = 022;
	if ((r = decode_fields(payload, len, process_field, p, err)) == SM_TLV_MALFORMED)
		return sm_error_set(err, 0, "truncated field in the request");
	if (r < 0)
		return -1;
	if (p->args.n == 0 || p->args.v[0][0] == '\0')
		return sm_error_set(err, 0, "process: no args (field %u)", SM_TAG_ARG);
	if (p->cwd == NULL || p->cwd[0] != '/')
		return sm_error_set(err, 0, "process: cwd (field %u) must be an absolute path", SM_TAG_CWD);
	if (p->seccomp_flags & SM_SECCOMP_FILTER_FLAG_NEW_LISTENER)
		return sm_error_set(err, 0, "seccomp: notify listeners are not supported in the guest");
	return 0;
}

static int mount_field(void *obj, uint16_t tag, const uint8_t *val, uint32_t len, sm_error_t *err)
{
	struct sm_agent_mount *m = obj;

	switch (tag) {
	case SM_TAG_MNT_DEST:
		return get_str(val, len, tag, "mount destination", &m->dest, err);
	case SM_TAG_MNT_TYPE:
		return get_str(val, len, tag, "mount type", &m->type, err);
	case SM_TAG_MNT_SOURCE:
		return get_str(val, len, tag, "mount source", &m->source, err);
	case SM_TAG_MNT_SOURCE_TAG:
		return get_str(val, len, tag, "mount source tag", &m->source_tag, err);
	case SM_TAG_MNT_FLAGS:
		return get_u64(val, len, tag, "mount flags", &m->flags, err);
	case SM_TAG_MNT_DATA:
		return get_str(val, len, tag, "mount data", &m->data, err);
	case SM_TAG_MNT_PROPAGATION:
		return get_u32(val, len, tag, "mount propagation", &m->propagation, err);
	case SM_TAG_MNT_ATTR_SET:
		return get_u64(val, len, tag, "mount attributes", &m->attr_set, err);
	case SM_TAG_MNT_ATTR_CLR:
		return get_u64(val, len, tag, "mount attributes", &m->attr_clr, err);
	case SM_TAG_MNT_DAX:
		return get_bool(val, len, tag, "mount dax", &m->dax, err);
	default:
		return 0;
	}
}

static void mount_free(struct sm_agent_mount *m)
{
	free(m->dest);
	free(m->type);
	free(m->source);
	free(m->source_tag);
	free(m->data);
}

static int decode_mount(const uint8_t *payload, uint32_t plen, struct sm_agent_container *c, sm_error_t *err)
{
	struct sm_agent_mount m = {0};
	int r = decode_fields(payload, plen, mount_field, &m, err);

	if (r == -1)
		goto fail;
	if (r < 0 || m.dest == NULL || m.dest[0] != '/') {
		sm_error_set(err, 0, "mounts[%zu]: malformed, or no absolute destination", c->n_mounts);
		goto fail;
	}
	if (m.source_tag != NULL && m.source != NULL && m.source[0] == '/') {
		sm_error_set(err, 0, "mounts[%zu] (%s): the path inside share %s must be relative",
			     c->n_mounts, m.dest, m.source_tag);
		goto fail;
	}
	if (grow((void **)&c->mounts, c->n_mounts, sizeof(m)) < 0) {
		sm_error_set(err, ENOMEM, "mounts");
		goto fail;
	}
	c->mounts[c->n_mounts++] = m;
	return 0;
fail:
	mount_free(&m);
	return -1;
}

static int device_field(void *obj, uint16_t tag, const uint8_t *val, uint32_t len, sm_error_t *err)
{
	struct sm_agent_device *d = obj;

	switch (tag) {
	case SM_TAG_DEV_PATH:
		return get_str(val, len, tag, "device path", &d->path, err);
	case SM_TAG_DEV_TYPE:
		return get_u32(val, len, tag, "device type", &d->type, err);
	case SM_TAG_DEV_MAJOR:
		return get_u32(val, len, tag, "device major", &d->major, err);
	case SM_TAG_DEV_MINOR:
		return get_u32(val, len, tag, "device minor", &d->minor, err);
	case SM_TAG_DEV_MODE:
		return get_u32(val, len, tag, "device mode", &d->mode, err);
	case SM_TAG_DEV_UID:
		return get_u32(val, len, tag, "device uid", &d->uid, err);
	case SM_TAG_DEV_GID:
		return get_u32(val, len, tag, "device gid", &d->gid, err);
	default:
		return 0;
	}
}

static int decode_device(const uint8_t *payload, uint32_t plen, struct sm_agent_container *c, sm_error_t *err)
{
	struct sm_agent_device d = {.mode = 0666};
	int r = decode_fields(payload, plen, device_field, &d, err);

	if (r == -1)
		goto fail;
	if (r < 0 || d.path == NULL || d.path[0] != '/' ||
	    (d.type != S_IFCHR && d.type != S_IFBLK && d.type != S_IFIFO) || d.mode > 07777) {
		sm_error_set(err, 0, "devices[%zu]: malformed (path, type or mode)", c->n_devices);
		goto fail;
	}
	if (grow((void **)&c->devices, c->n_devices, sizeof(d)) < 0) {
		sm_error_set(err, ENOMEM, "devices");
		goto fail;
	}
	c->devices[c->n_devices++] = d;
	return 0;
fail:
	free(d.path);
	return -1;
}

/* One UID_MAP/GID_MAP line: all three sub-fields, size > 0, neither range past 2^32. */
static int decode_idmap(const uint8_t *payload, uint32_t plen, uint16_t what, struct sm_agent_idmap **v,
			size_t *n, sm_error_t *err)
{
	const char *name = what == SM_TAG_UID_MAP ? "uidMappings" : "gidMappings";
	struct sm_tlv_num f[] = {{.tag = SM_TAG_IDMAP_CONTAINER, .size = 4},
				 {.tag = SM_TAG_IDMAP_HOST, .size = 4},
				 {.tag = SM_TAG_IDMAP_SIZE, .size = 4}};

	if (sm_tlv_get_nums(payload, plen, f, 3) < 0 || !f[0].seen || !f[1].seen || !f[2].seen ||
	    f[2].value == 0 || f[0].value + f[2].value > (1ull << 32) ||
	    f[1].value + f[2].value > (1ull << 32))
		return sm_error_set(err, 0, "%s[%zu]: malformed, incomplete, empty or past 2^32", name, *n);
	if (*n >= SM_AGENT_IDMAP_MAX)
		return sm_error_set(err, 0, "%s: more than %d lines (the kernel's limit)", name,
				    SM_AGENT_IDMAP_MAX);
	if (grow((void **)v, *n, sizeof(**v)) < 0)
		return sm_error_set(err, ENOMEM, "%s", name);
	(*v)[(*n)++] = (struct sm_agent_idmap){.container_id = (uint32_t)f[0].value,
					       .host_id = (uint32_t)f[1].value,
					       .size = (uint32_t)f[2].value};
	return 0;
}

static int container_field(void *obj, uint16_t tag, const uint8_t *val, uint32_t len, sm_error_t *err)
{
	struct sm_agent_container *c = obj;
	uint32_t allowed = CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP | CLONE_NEWUSER |
			   CLONE_NEWNET | CLONE_NEWTIME;

	switch (tag) {
	case SM_TAG_ROOTFS_TAG:
		return get_str(val, len, tag, "rootfs tag", &c->rootfs_tag, err);
	case SM_TAG_ROOTFS_PATH:
		return get_str(val, len, tag, "rootfs path", &c->rootfs_path, err);
	case SM_TAG_ROOTFS_DAX:
		return get_bool(val, len, tag, "rootfs dax", &c->rootfs_dax, err);
	case SM_TAG_ROOT_READONLY:
		return get_bool(val, len, tag, "root.readonly", &c->root_readonly, err);
	case SM_TAG_NO_PIVOT:
		return get_bool(val, len, tag, "no pivot", &c->no_pivot, err);
	case SM_TAG_ROOTFS_PROPAGATION:
		return get_u32(val, len, tag, "rootfsPropagation", &c->rootfs_propagation, err);
	case SM_TAG_MOUNT:
		return decode_mount(val, len, c, err);
	case SM_TAG_HOSTNAME:
		return get_str(val, len, tag, "hostname", &c->hostname, err);
	case SM_TAG_DOMAINNAME:
		return get_str(val, len, tag, "domainname", &c->domainname, err);
	case SM_TAG_SYSCTL:
		return push_str(val, len, tag, "sysctl", &c->sysctls, err);
	case SM_TAG_MASKED_PATH:
		return push_str(val, len, tag, "maskedPaths", &c->masked_paths, err);
	case SM_TAG_READONLY_PATH:
		return push_str(val, len, tag, "readonlyPaths", &c->readonly_paths, err);
	case SM_TAG_DEVICE:
		return decode_device(val, len, c, err);
	case SM_TAG_NAMESPACES:
		if (get_u32(val, len, tag, "namespaces", &c->namespaces, err) < 0)
			return -1;
		if (c->namespaces & ~allowed)
			return sm_error_set(err, 0, "field %u (namespaces): unsupported flags %#x", tag,
					    c->namespaces & ~allowed);
		return 0;
	case SM_TAG_UID_MAP:
		return decode_idmap(val, len, tag, &c->uid_map, &c->n_uid_map, err);
	case SM_TAG_GID_MAP:
		return decode_idmap(val, len, tag, &c->gid_map, &c->n_gid_map, err);
	case SM_TAG_PIDS_LIMIT:
		if (get_u64(val, len, tag, "pids limit", &c->pids_limit, err) < 0)
			return -1;
		if (c->pids_limit == 0)
			return sm_error_set(err, 0, "field %u (pids limit): 0 is not a limit", tag);
		return 0;
	case SM_TAG_MEMORY_LIMIT:
		if (get_u64(val, len, tag, "memory limit", &c->memory_limit, err) < 0)
			return -1;
		if (c->memory_limit == 0)
			return sm_error_set(err, 0, "field %u (memory limit): 0 is not a limit", tag);
		return 0;
	default: /* timeOffsets (spec-attrs.c), or not a container field */
		return sm_agent_container_attr_field(c, tag, val, len, err);
	}
}

int sm_agent_container_decode(const uint8_t *payload, size_t len, struct sm_agent_container *c,
			      sm_error_t *err)
{
	int r;

	memset(c, 0, sizeof(*c));
	if ((r = decode_fields(payload, len, container_field, c, err)) == SM_TLV_MALFORMED)
		return sm_error_set(err, 0, "truncated field in the request");
	if (r < 0)
		return -1;
	if ((c->rootfs_tag == NULL) == (c->rootfs_path == NULL))
		return sm_error_set(err, 0,
				    "root: exactly one of the rootfs tag (field %u) and path (field %u)",
				    SM_TAG_ROOTFS_TAG, SM_TAG_ROOTFS_PATH);
	if (c->rootfs_path != NULL && c->rootfs_path[0] != '/')
		return sm_error_set(err, 0, "root: the rootfs path must be absolute");
	if ((c->namespaces & CLONE_NEWUSER) && (c->n_uid_map == 0 || c->n_gid_map == 0))
		return sm_error_set(err, 0, "a user namespace needs uid and gid mappings (fields %u, %u)",
				    SM_TAG_UID_MAP, SM_TAG_GID_MAP);
	if (!(c->namespaces & CLONE_NEWUSER) && (c->n_uid_map > 0 || c->n_gid_map > 0))
		return sm_error_set(err, 0, "uid/gid mappings without a user namespace");
	for (size_t i = 0; i < c->sysctls.n; i++) {
		const char *eq = strchr(c->sysctls.v[i], '=');
		if (eq == NULL || eq == c->sysctls.v[i])
			return sm_error_set(err, 0, "sysctl \"%s\" is not key=value", c->sysctls.v[i]);
	}
	return 0;
}

void sm_agent_process_free(struct sm_agent_process *p)
{
	strv_free(&p->args);
	strv_free(&p->env);
	free(p->cwd);
	free(p->gids);
	free(p->rlimits);
	free(p->seccomp_bpf);
	memset(p, 0, sizeof(*p));
}

void sm_agent_container_free(struct sm_agent_container *c)
{
	free(c->rootfs_tag);
	free(c->rootfs_path);
	for (size_t i = 0; i < c->n_mounts; i++)
		mount_free(&c->mounts[i]);
	free(c->mounts);
	free(c->hostname);
	free(c->domainname);
	strv_free(&c->sysctls);
	strv_free(&c->masked_paths);
	strv_free(&c->readonly_paths);
	for (size_t i = 0; i < c->n_devices; i++)
		free(c->devices[i].path);
	free(c->devices);
	free(c->uid_map);
	free(c->gid_map);
	memset(c, 0, sizeof(*c));
}
