/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "oci/id.h"
#include "oci/json.h"
#include "oci/state.h"

#define STATE_MAX_SIZE (16u << 20)

static const struct sm_oci_name status_names[] = {
    {"creating", SM_OCI_STATUS_CREATING}, {"created", SM_OCI_STATUS_CREATED},
    {"running", SM_OCI_STATUS_RUNNING},	  {"stopped", SM_OCI_STATUS_STOPPED},
    {"paused", SM_OCI_STATUS_PAUSED},	  {NULL, 0},
};

const char *sm_oci_status_name(enum sm_oci_status s)
{
	return sm_oci_name_of(status_names, (int)s);
}

int sm_oci_status_parse(const char *s, enum sm_oci_status *out)
{
	int v;
	if (sm_oci_name_lookup(status_names, s, &v) < 0)
		return -1;
	*out = (enum sm_oci_status)v;
	return 0;
}

/* Go's time.RFC3339Nano in UTC, which is what runc prints and containerd parses. */
static void format_rfc3339(int64_t ns, char *buf, size_t size)
{
	int64_t sec = ns / 1000000000, frac = ns % 1000000000;
	struct tm tm;
	time_t t;
	size_t n;

	if (frac < 0) {
		frac += 1000000000;
		sec--;
	}
	t = (time_t)sec;
	gmtime_r(&t, &tm);
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac != 0) {
		char digits[16];
		int len = snprintf(digits, sizeof(digits), "%09" PRId64, frac);
		while (len > 0 && digits[len - 1] == '0')
			digits[--len] = '\0';
		n += (size_t)snprintf(buf + n, size - n, ".%s", digits);
	}
	snprintf(buf + n, size - n, "Z");
}

static void owner_name(uint32_t uid, char *buf, size_t size)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];

	buf[0] = '\0';
	if (getpwuid_r((uid_t)uid, &pw, tmp, sizeof(tmp), &res) == 0 && res != NULL)
		snprintf(buf, size, "%s", res->pw_name);
}

int sm_oci_state_to_json(const struct sm_oci_state *st, unsigned flags, char **out, size_t *len,
			 sm_error_t *err)
{
	char created[64], owner[256];
	struct sm_jw w;

	if (sm_oci_status_name(st->status) == NULL)
		return sm_error_set(err, 0, "generate state: invalid status %d", (int)st->status);
	format_rfc3339(st->created_ns, created, sizeof(created));
	owner_name(st->owner_uid, owner, sizeof(owner));
	sm_jw_init(&w, flags & SM_OCI_STATE_PRETTY);
	sm_jw_open(&w, '{');
	sm_jw_key(&w, "ociVersion");
	sm_jw_str(&w, st->oci_version);
	sm_jw_key(&w, "id");
	sm_jw_str(&w, st->id);
	sm_jw_key(&w, "pid");
	sm_jw_int(&w, st->pid);
	sm_jw_key(&w, "status");
	sm_jw_str(&w, sm_oci_status_name(st->status));
	sm_jw_key(&w, "bundle");
	sm_jw_str(&w, st->bundle);
	sm_jw_key(&w, "rootfs");
	sm_jw_str(&w, st->rootfs != NULL ? st->rootfs : "");
	sm_jw_key(&w, "created");
	sm_jw_str(&w, created);
	sm_jw_key(&w, "owner");
	sm_jw_str(&w, owner);
	if (st->annotations.n > 0)
		sm_jw_map(&w, "annotations", &st->annotations);
	if (flags & SM_OCI_STATE_PRIVATE) {
		sm_jw_key(&w, "smRuntime");
		sm_jw_open(&w, '{');
		sm_jw_key(&w, "version");
		sm_jw_int(&w, SM_OCI_STATE_VERSION);
		sm_jw_key(&w, "createdNs");
		sm_jw_int(&w, st->created_ns);
		sm_jw_key(&w, "ownerUid");
		sm_jw_uint(&w, st->owner_uid);
		sm_jw_key(&w, "vmmPid");
		sm_jw_int(&w, st->vmm_pid);
		sm_jw_key(&w, "vmmStartTime");
		sm_jw_uint(&w, st->vmm_start_time);
		sm_jw_map(&w, "sockets", &st->sockets);
		if (st->cgroup != NULL) {
			sm_jw_key(&w, "cgroup");
			sm_jw_str(&w, st->cgroup);
		}
		sm_jw_close(&w, '}');
	}
	sm_jw_close(&w, '}');
	return sm_jw_finish(&w, "state", out, len, err);
}

static int parse_private(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"version",	   "createdNs", "ownerUid", "vmmPid",
					   "vmmStartTime", "sockets",	"cgroup",   NULL};
	struct sm_oci_state *st = out;
	struct sm_oci_i64 created = {0}, vmm_pid = {0};
	struct sm_oci_u64 owner = {0}, start = {0};
	int64_t version;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0 ||
	    (r = sm_j_req_int(c, v, "version", 0, INT64_MAX, &version)) < 0)
		return r;
	if (version != SM_OCI_STATE_VERSION)
		return sm_j_fail_key(c, "version",
				     "state format %" PRId64 " is not %d: written by another "
				     "sm-runtime version",
				     version, SM_OCI_STATE_VERSION);
	if ((r = sm_j_opt_int(c, v, "createdNs", INT64_MIN, INT64_MAX, &created)) < 0 ||
	    (r = sm_j_opt_uint(c, v, "ownerUid", UINT32_MAX, &owner)) < 0 ||
	    (r = sm_j_opt_int(c, v, "vmmPid", 0, INT_MAX, &vmm_pid)) < 0 ||
	    (r = sm_j_opt_uint(c, v, "vmmStartTime", UINT64_MAX, &start)) < 0 ||
	    (r = sm_j_opt_map(c, v, "sockets", &st->sockets)) < 0 ||
	    (r = sm_j_opt_str(c, v, "cgroup", &st->cgroup)) < 0)
		return r;
	st->created_ns = created.val;
	st->owner_uid = (uint32_t)owner.val;
	st->vmm_pid = (int)vmm_pid.val;
	st->vmm_start_time = start.val;
	return 0;
}

static int parse_state(struct sm_jctx *c, yajl_val v, struct sm_oci_state *st)
{
	static const char *const keys[] = {"ociVersion",  "id",	       "pid",	  "status",
					   "bundle",	  "rootfs",    "created", "owner",
					   "annotations", "smRuntime", NULL};
	struct sm_oci_i64 pid = {0};
	sm_error_t id_err = SM_ERROR_INIT;
	char *status = NULL;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0 ||
	    (r = sm_j_req_str(c, v, "ociVersion", &st->oci_version)) < 0 ||
	    (r = sm_j_req_str(c, v, "id", &st->id)) < 0)
		return r;
	if (sm_oci_id_validate(st->id, &id_err) < 0)
		return sm_j_fail_key(c, "id", "%s", id_err.msg);
	if ((r = sm_j_req_str(c, v, "status", &status)) < 0)
		return r;
	r = sm_oci_status_parse(status, &st->status);
	free(status);
	if (r < 0)
		return sm_j_fail_key(c, "status", "unknown status");
	if ((r = sm_j_opt_int(c, v, "pid", 0, INT_MAX, &pid)) < 0 ||
	    (r = sm_j_req_str(c, v, "bundle", &st->bundle)) < 0)
		return r;
	st->pid = (int)pid.val;
	if (!sm_j_abs(st->bundle))
		return sm_j_fail_key(c, "bundle", "must be an absolute path");
	if ((r = sm_j_opt_map(c, v, "annotations", &st->annotations)) < 0 ||
	    (r = sm_j_opt_str(c, v, "rootfs", &st->rootfs)) < 0)
		return r;
	r = sm_j_opt_sub(c, v, "smRuntime", parse_private, st);
	return r < 0 ? r : 0;
}

int sm_oci_state_parse(const char *json, size_t len, const char *name, struct sm_oci_state *st,
		       sm_error_t *err)
{
	struct sm_jctx c;
	yajl_val tree = NULL;
	int r;

	if ((r = sm_j_parse(json, len, name, &tree, err)) < 0)
		return r;
	sm_j_init(&c, name, NULL, NULL, err);
	r = parse_state(&c, tree, st);
	yajl_tree_free(tree);
	if (r < 0)
		sm_oci_state_clear(st);
	return r;
}

int sm_oci_state_save(const struct sm_oci_state *st, const char *path, sm_error_t *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;

	if (sm_oci_state_to_json(st, SM_OCI_STATE_PRIVATE | SM_OCI_STATE_PRETTY, &buf, &len, err) < 0)
		return sm_error_prefix(err, "save `%s`: ", path);
	return sm_write_file_atomic(path, buf, len, 0600, err);
}

int sm_oci_state_load(const char *path, struct sm_oci_state *st, sm_error_t *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = sm_read_file(path, STATE_MAX_SIZE, &buf, &len, err)) < 0)
		return r;
	return sm_oci_state_parse(buf, len, path, st, err);
}

void sm_oci_state_clear(struct sm_oci_state *st)
{
	free(st->oci_version);
	free(st->id);
	free(st->bundle);
	sm_oci_map_free(&st->annotations);
	free(st->rootfs);
	sm_oci_map_free(&st->sockets);
	free(st->cgroup);
	memset(st, 0, sizeof(*st));
}

/* Fields 3 (state) and 22 (starttime) of /proc/<pid>/stat; comm (field 2) may hold spaces and ')'. */
static int read_proc_stat(pid_t pid, char *state, uint64_t *start, sm_error_t *err)
{
	cleanup_free char *path = sm_xasprintf("/proc/%d/stat", (int)pid);
	cleanup_free char *buf = NULL;
	char *p, *end;
	int r;

	if ((r = sm_read_file(path, 4096, &buf, NULL, err)) < 0)
		return r;
	p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ' || p[2] == '\0')
		return sm_error_set(err, 0, "parse `%s`: no command name", path);
	*state = p[2];
	p += 2;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (p == NULL)
			return sm_error_set(err, 0, "parse `%s`: fewer than 22 fields", path);
		p++;
	}
	errno = 0;
	*start = strtoull(p, &end, 10);
	if (errno != 0 || end == p)
		return sm_error_set(err, 0, "parse `%s`: bad starttime field", path);
	return 0;
}

int sm_oci_proc_start_time(pid_t pid, uint64_t *out, sm_error_t *err)
{
	char state;
	return read_proc_stat(pid, &state, out, err);
}

int sm_oci_state_vmm_alive(const struct sm_oci_state *st, sm_error_t *err)
{
	sm_error_t e = SM_ERROR_INIT;
	uint64_t start;
	char state;
	int r;

	if (st->vmm_pid <= 0)
		return 0;
	r = read_proc_stat(st->vmm_pid, &state, &start, &e);
	if (r == -ENOENT || r == -ESRCH)
		return 0;
	if (r < 0) {
		if (err != NULL)
			*err = e;
		return r;
	}
	return state != 'Z' && state != 'X' && start == st->vmm_start_time;
}
