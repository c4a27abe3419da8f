/* SPDX-License-Identifier: Apache-2.0 */
/* Host cgroups: layout detection, path resolution (runc's rules), describe/load. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/cgroup-internal.h"

/* v1 controllers worth joining; name=systemd is kept too (systemd and runc track processes there). */
static const char *const v1_ctrls[] = {
    "cpu",   "cpuacct",	   "cpuset",  "memory", "devices", "freezer", "net_cls",      "net_prio",
    "blkio", "perf_event", "hugetlb", "pids",	"rdma",	   "misc",    "name=systemd", NULL};

static bool is_v1_ctrl(const char *s, size_t len)
{
	for (size_t i = 0; v1_ctrls[i] != NULL; i++)
		if (strlen(v1_ctrls[i]) == len && memcmp(v1_ctrls[i], s, len) == 0)
			return true;
	return false;
}

static long fs_type(const char *path)
{
	struct statfs sfs;

	if (statfs(path, &sfs) < 0)
		return -1;
	return (long)sfs.f_type;
}

void sm_cgroup_warn(struct sm_cgroup *cg, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	struct sm_oci_strv *w = &cg->warnings;
	char **v = realloc(w->v, (w->n + 2) * sizeof(*v));
	if (v == NULL)
		abort();
	v[w->n++] = s;
	v[w->n] = NULL;
	w->v = v;
}

int sm_cgroup_write(const char *dir, const char *file, const char *text)
{
	cleanup_free char *path = sm_xasprintf("%s/%s", dir, file);
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	/* cgroupfs parses one write() at a time, so the value must go in a single call. */
	ssize_t n = write(fd, text, strlen(text));
	if (n < 0)
		return -errno;
	return (size_t)n == strlen(text) ? 0 : -EIO;
}

int sm_cgroup_read(const char *dir, const char *file, char **out)
{
	cleanup_free char *path = sm_xasprintf("%s/%s", dir, file);
	sm_error_t e = SM_ERROR_INIT;
	char *buf;
	size_t len;

	if (sm_read_file(path, 1u << 20, &buf, &len, &e) < 0)
		return e.code > 0 ? -e.code : -EIO;
	while (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	*out = buf;
	return 0;
}

char *sm_cgroup_clean_path(const char *p)
{
	size_t len = strlen(p);
	char *out = sm_xmalloc(len + 2);
	size_t o = 0;
	bool abs = p[0] == '/';

	/* Component by component; ".." removes the last kept one and is dropped at the start. */
	for (const char *s = p; *s != '\0';) {
		const char *e = strchrnul(s, '/');
		size_t n = (size_t)(e - s);

		if (n == 2 && s[0] == '.' && s[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else if (n > 0 && !(n == 1 && s[0] == '.')) {
			if (o > 0 || abs)
				out[o++] = '/';
			memcpy(out + o, s, n);
			o += n;
		}
		s = *e == '/' ? e + 1 : e;
	}
	if (abs && o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return out;
}

char *sm_cgroup_join(const char *own, bool v2, const char *inner)
{
	if (inner[0] == '/')
		return sm_xstrdup(inner);
	cleanup_free char *base = sm_cgroup_clean_path(own[0] == '/' ? own : "/");
	/* A cgroup2 cgroup with processes cannot enable controllers for children: use its parent. */
	if (v2) {
		char *slash = strrchr(base, '/');
		if (slash == base)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	if (strcmp(base, "/") == 0)
		return sm_xasprintf("/%s", inner);
	return sm_xasprintf("%s/%s", base, inner);
}

/* "a-b-c.slice" -> "/a.slice/a-b.slice/a-b-c.slice"; "-.slice" -> "" (the root). */
static int expand_slice(const char *slice, char **out, sm_error_t *err)
{
	size_t len = strlen(slice);

	if (len < 6 || strcmp(slice + len - 6, ".slice") != 0 || strchr(slice, '/') != NULL)
		return sm_error_set(
		    err, 0, "linux.cgroupsPath: invalid systemd slice \"%.64s\" (expected NAME.slice)",
		    slice);
	if (strcmp(slice, "-.slice") == 0) {
		*out = sm_xstrdup("");
		return 0;
	}
	size_t stem = len - 6;
	char *buf = sm_xmalloc((stem + 1) * (len + 8) + 1);
	size_t o = 0;
	for (size_t i = 0; i <= stem; i++) {
		if (i < stem && slice[i] != '-')
			continue;
		/* Empty components ("-a", "a--b", "a-") are invalid slice names. */
		if (i == 0 || slice[i - 1] == '-' || (i == stem && slice[i - 1] == '-')) {
			free(buf);
			return sm_error_set(err, 0, "linux.cgroupsPath: invalid systemd slice \"%.64s\"",
					    slice);
		}
		o += (size_t)sprintf(buf + o, "/%.*s.slice", (int)i, slice);
	}
	*out = buf;
	return 0;
}

int sm_cgroup_systemd_path(const char *cgroups_path, const char *id, char **out, sm_error_t *err)
{
	cleanup_free char *def = NULL;
	const char *p = cgroups_path;

	if (p == NULL || p[0] == '\0')
		p = def = sm_xasprintf("system.slice:%s:%s", SM_CGROUP_SYSTEMD_PREFIX, id);
	const char *c1 = strchr(p, ':');
	const char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
	if (c1 == NULL || c2 == NULL || strchr(c2 + 1, ':') != NULL)
		return sm_error_set(err, 0,
				    "linux.cgroupsPath: \"%.128s\" is not of the form \"slice:prefix:name\" "
				    "required with --systemd-cgroup",
				    p);
	cleanup_free char *slice = strndup(p, (size_t)(c1 - p));
	cleanup_free char *prefix = strndup(c1 + 1, (size_t)(c2 - c1 - 1));
	const char *name = c2 + 1;
	if (slice == NULL || prefix == NULL)
		abort();
	if (name[0] == '\0' || strchr(name, '/') != NULL || strchr(prefix, '/') != NULL)
		return sm_error_set(err, 0, "linux.cgroupsPath: \"%.128s\": bad systemd unit prefix or name",
				    p);
	cleanup_free char *expanded = NULL;
	if (expand_slice(slice[0] != '\0' ? slice : "system.slice", &expanded, err) < 0)
		return -1;
	size_t nlen = strlen(name);
	if (nlen > 6 && strcmp(name + nlen - 6, ".slice") == 0)
		*out = sm_xasprintf("%s/%s", expanded, name);
	else if (prefix[0] == '\0')
		*out = sm_xasprintf("%s/%s.scope", expanded, name);
	else
		*out = sm_xasprintf("%s/%s-%s.scope", expanded, prefix, name);
	return 0;
}

uint64_t sm_cgroup_shares_to_weight(uint64_t shares)
{
	if (shares == 0)
		return 0;
	if (shares < 2)
		shares = 2;
	if (shares > 262144)
		shares = 262144;
	return 1 + ((shares - 2) * 9999) / 262142;
}

/* True when the comma-separated lists a and b hold the same names. */
static bool same_ctrls(const char *a, const char *b)
{
	size_t na = 0, nb = 0;

	for (const char *s = a; *s != '\0';) {
		const char *e = strchrnul(s, ',');
		na++;
		bool found = false;
		for (const char *t = b; *t != '\0';) {
			const char *f = strchrnul(t, ',');
			if (f - t == e - s && memcmp(s, t, (size_t)(e - s)) == 0)
				found = true;
			t = *f ? f + 1 : f;
		}
		if (!found)
			return false;
		s = *e ? e + 1 : e;
	}
	for (const char *t = b; *t != '\0'; nb++) {
		const char *f = strchrnul(t, ',');
		t = *f ? f + 1 : f;
	}
	return na == nb;
}

/* The caller's cgroup in the hierarchy with controllers ctrls ("" = cgroup2), from /proc/self/cgroup. */
static char *own_cgroup(const char *ctrls)
{
	cleanup_fclose FILE *f = fopen("/proc/self/cgroup", "re");
	cleanup_free char *line = NULL;
	size_t cap = 0;

	if (f == NULL)
		return sm_xstrdup("/");
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':');
		char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
		if (c2 == NULL)
			continue;
		*c2 = '\0';
		if (same_ctrls(c1 + 1, ctrls) && (ctrls[0] != '\0' || c1 + 1 == c2))
			return sm_xstrdup(c2[1] == '/' ? c2 + 1 : "/");
	}
	return sm_xstrdup("/");
}

static void add_hier(struct sm_cgroup *cg, const char *mount, const char *ctrls, bool v2)
{
	for (size_t i = 0; i < cg->n; i++)
		if (cg->h[i].v2 == v2 && strcmp(cg->h[i].ctrls, ctrls) == 0)
			return; /* the same hierarchy mounted twice */
	if (cg->n == SM_CGROUP_MAX_HIER)
		return;
	struct sm_cgroup_hier *h = &cg->h[cg->n++];
	h->mount = sm_xstrdup(mount);
	h->ctrls = sm_xstrdup(ctrls);
	h->v2 = v2;
}

/* v1 hierarchies from /proc/self/mountinfo: "... mountpoint opts - cgroup src rw,cpu,cpuacct". */
static int scan_v1(struct sm_cgroup *cg, sm_error_t *err)
{
	cleanup_fclose FILE *f = fopen("/proc/self/mountinfo", "re");
	cleanup_free char *line = NULL;
	size_t cap = 0;

	if (f == NULL)
		return sm_error_set(err, errno, "open /proc/self/mountinfo");
	while (getline(&line, &cap, f) > 0) {
		char mnt[512], fstype[64], super[1024];
		const char *sep = strstr(line, " - ");
		if (sep == NULL || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 ||
		    sscanf(sep + 3, "%63s %*s %1023s", fstype, super) != 2)
			continue;
		if (strcmp(fstype, "cgroup") != 0 || strchr(mnt, '\\') != NULL ||
		    strncmp(mnt, SM_CGROUP_ROOT "/", strlen(SM_CGROUP_ROOT) + 1) != 0)
			continue;
		char ctrls[1024];
		size_t o = 0;
		for (const char *s = super; *s != '\0';) {
			const char *e = strchrnul(s, ',');
			if (is_v1_ctrl(s, (size_t)(e - s)))
				o += (size_t)snprintf(ctrls + o, sizeof(ctrls) - o, "%s%.*s", o ? "," : "",
						      (int)(e - s), s);
			s = *e ? e + 1 : e;
		}
		if (o > 0 && o < sizeof(ctrls) && fs_type(mnt) == CGROUP_SUPER_MAGIC)
			add_hier(cg, mnt, ctrls, false);
	}
	return 0;
}

static int detect(struct sm_cgroup *cg, sm_error_t *err)
{
	long t = fs_type(SM_CGROUP_ROOT);

	if (t == CGROUP2_SUPER_MAGIC) {
		cg->mode = SM_CGROUP_V2;
		add_hier(cg, SM_CGROUP_ROOT, "", true);
		return 0;
	}
	if (t != TMPFS_MAGIC)
		return sm_error_set(err, 0, "no cgroup filesystem mounted at %s", SM_CGROUP_ROOT);
	if (scan_v1(cg, err) < 0)
		return -1;
	cg->mode = SM_CGROUP_V1;
	if (fs_type(SM_CGROUP_UNIFIED) == CGROUP2_SUPER_MAGIC) {
		cg->mode = SM_CGROUP_HYBRID;
		add_hier(cg, SM_CGROUP_UNIFIED, "", true);
	}
	if (cg->n == 0)
		return sm_error_set(err, 0, "no cgroup hierarchy mounted under %s", SM_CGROUP_ROOT);
	return 0;
}

static int resolve_inner(const char *cgroups_path, const char *id, bool systemd, char **inner,
			 sm_error_t *err)
{
	for (const char *s = cgroups_path; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return sm_error_set(
			    err, 0, "linux.cgroupsPath: \"%.128s\" contains a space or control character",
			    cgroups_path);
	if (systemd) {
		cleanup_free char *p = NULL;
		if (sm_cgroup_systemd_path(cgroups_path, id, &p, err) < 0)
			return -1;
		*inner = sm_cgroup_clean_path(p[0] != '\0' ? p : "/");
	} else if (cgroups_path == NULL || cgroups_path[0] == '\0') {
		*inner = sm_xasprintf("%s/%s", SM_CGROUP_DEFAULT_PARENT, id);
	} else {
		*inner = sm_cgroup_clean_path(cgroups_path);
	}
	if (strcmp(*inner, "/") == 0 || (*inner)[0] == '\0') {
		free(*inner);
		*inner = NULL;
		return sm_error_set(err, 0, "linux.cgroupsPath: \"%.128s\" names the root cgroup",
				    cgroups_path != NULL ? cgroups_path : "");
	}
	return 0;
}

int sm_cgroup_open(const char *cgroups_path, const char *id, bool systemd, struct sm_cgroup **out,
		   sm_error_t *err)
{
	struct sm_cgroup *cg = sm_xcalloc(1, sizeof(*cg));
	cleanup_free char *inner = NULL;

	if (id == NULL || id[0] == '\0' || strchr(id, '/') != NULL || strcmp(id, "..") == 0) {
		sm_cgroup_free(cg);
		return sm_error_set(err, 0, "cgroup: invalid container id");
	}
	if (resolve_inner(cgroups_path, id, systemd, &inner, err) < 0 || detect(cg, err) < 0) {
		sm_cgroup_free(cg);
		return -1;
	}
	for (size_t i = 0; i < cg->n; i++) {
		struct sm_cgroup_hier *h = &cg->h[i];
		cleanup_free char *own = inner[0] == '/' ? NULL : own_cgroup(h->ctrls);
		h->rel = sm_cgroup_join(own != NULL ? own : "/", h->v2 && cg->mode == SM_CGROUP_V2, inner);
		h->dir = sm_xasprintf("%s%s", h->mount, h->rel);
	}
	if (systemd && access("/run/systemd/system", F_OK) == 0)
		sm_cgroup_warn(
		    cg,
		    "--systemd-cgroup: systemd is running but sm-runtime does not create transient "
		    "units; using cgroupfs directly at %s",
		    inner);
	*out = cg;
	return 0;
}

/* Append line to the malloc'd text s of length *len and capacity *cap. */
static char *append(char *s, size_t *len, size_t *cap, const char *line)
{
	size_t n = strlen(line);

	if (*len + n + 1 > *cap) {
		*cap = 2 * (*len + n + 1);
		s = realloc(s, *cap);
		if (s == NULL)
			abort();
	}
	memcpy(s + *len, line, n + 1);
	*len += n;
	return s;
}

char *sm_cgroup_describe(const struct sm_cgroup *cg)
{
	size_t cap = 64, len = 0;
	char *s = sm_xmalloc(cap);

	s[0] = '\0';
	s = append(s, &len, &cap,
		   cg->mode == SM_CGROUP_V2   ? "v2\n"
		   : cg->mode == SM_CGROUP_V1 ? "v1\n"
					      : "hybrid\n");
	for (size_t i = 0; i < cg->n; i++) {
		const struct sm_cgroup_hier *h = &cg->h[i];
		cleanup_free char *line =
		    sm_xasprintf("%s %s %s %s\n", h->v2 ? "2" : "1", h->ctrls[0] != '\0' ? h->ctrls : "-",
				 h->mount, h->rel);
		s = append(s, &len, &cap, line);
	}
	if (cg->has_vm) {
		cleanup_free char *line =
		    sm_xasprintf("vm %" PRIu64 " %" PRIu64 " %u\n", cg->vm.guest_mem_bytes,
				 cg->vm.vmm_overhead_bytes, cg->vm.vcpus);
		s = append(s, &len, &cap, line);
	}
	return s;
}

/* "vm <guest bytes> <overhead bytes> <vcpus>" (sm_cgroup_describe). */
static int load_vm(struct sm_cgroup *cg, char *line, sm_error_t *err)
{
	unsigned long long mem, over;
	unsigned vcpus;
	int end = -1;

	if (sscanf(line, "vm %llu %llu %u%n", &mem, &over, &vcpus, &end) != 3 || line[end] != '\0' ||
	    cg->has_vm)
		return sm_error_set(err, 0, "cgroup description: malformed vm line");
	cg->vm = (struct sm_cgroup_vm){.guest_mem_bytes = mem, .vmm_overhead_bytes = over, .vcpus = vcpus};
	cg->has_vm = true;
	return 0;
}

static int load_line(struct sm_cgroup *cg, char *line, sm_error_t *err)
{
	char *ver = strtok(line, " "), *ctrls = strtok(NULL, " "), *mount = strtok(NULL, " ");
	char *rel = strtok(NULL, " ");

	if (ver == NULL || ctrls == NULL || mount == NULL || rel == NULL || strtok(NULL, " ") != NULL ||
	    (strcmp(ver, "1") != 0 && strcmp(ver, "2") != 0))
		return sm_error_set(err, 0, "cgroup description: malformed line");
	bool v2 = ver[0] == '2';
	cleanup_free char *clean = sm_cgroup_clean_path(rel);
	if (rel[0] != '/' || strcmp(clean, rel) != 0 || strcmp(rel, "/") == 0)
		return sm_error_set(err, 0, "cgroup description: bad path \"%.128s\"", rel);
	if (strncmp(mount, SM_CGROUP_ROOT, strlen(SM_CGROUP_ROOT)) != 0 || strstr(mount, "..") != NULL ||
	    fs_type(mount) != (v2 ? CGROUP2_SUPER_MAGIC : CGROUP_SUPER_MAGIC))
		return sm_error_set(err, 0, "cgroup description: %.128s is not a cgroup%s mount", mount,
				    v2 ? "2" : "");
	if (cg->n == SM_CGROUP_MAX_HIER)
		return sm_error_set(err, 0, "cgroup description: too many hierarchies");
	struct sm_cgroup_hier *h = &cg->h[cg->n++];
	h->mount = sm_xstrdup(mount);
	h->ctrls = sm_xstrdup(strcmp(ctrls, "-") == 0 ? "" : ctrls);
	h->rel = sm_xstrdup(rel);
	h->dir = sm_xasprintf("%s%s", mount, rel);
	h->v2 = v2;
	return 0;
}

int sm_cgroup_load(const char *desc, struct sm_cgroup **out, sm_error_t *err)
{
	struct sm_cgroup *cg = sm_xcalloc(1, sizeof(*cg));
	cleanup_free char *copy = sm_xstrdup(desc);
	char *save = NULL;
	char *line = strtok_r(copy, "\n", &save);

	if (line == NULL ||
	    (strcmp(line, "v1") != 0 && strcmp(line, "v2") != 0 && strcmp(line, "hybrid") != 0)) {
		sm_cgroup_free(cg);
		return sm_error_set(err, 0, "cgroup description: unknown layout");
	}
	cg->mode = line[1] == '1' ? SM_CGROUP_V1 : line[1] == '2' ? SM_CGROUP_V2 : SM_CGROUP_HYBRID;
	while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
		if ((strncmp(line, "vm ", 3) == 0 ? load_vm(cg, line, err) : load_line(cg, line, err)) < 0) {
			sm_cgroup_free(cg);
			return -1;
		}
	}
	*out = cg;
	return 0;
}

/* True when name is one of the sep-separated words of list. */
static bool list_has(const char *list, char sep, const char *name)
{
	size_t n = strlen(name);

	for (const char *s = list; *s != '\0';) {
		const char *e = strchr(s, sep);
		if (e == NULL)
			e = s + strlen(s);
		if ((size_t)(e - s) == n && memcmp(s, name, n) == 0)
			return true;
		s = *e ? e + 1 : e;
	}
	return false;
}

struct sm_cgroup_hier *sm_cgroup_find(const struct sm_cgroup *cg, const char *ctrl)
{
	struct sm_cgroup_hier *v2 = NULL;

	for (size_t i = 0; i < cg->n; i++) {
		struct sm_cgroup_hier *h = (struct sm_cgroup_hier *)&cg->h[i];
		if (h->v2)
			v2 = h;
		else if (ctrl[0] != '\0' && list_has(h->ctrls, ',', ctrl))
			return h;
	}
	if (v2 == NULL || ctrl[0] == '\0')
		return v2;
	/* cgroup2: the controller must be available at its root (i.e. not bound to a v1 hierarchy). */
	cleanup_free char *avail = NULL;
	if (sm_cgroup_read(v2->mount, "cgroup.controllers", &avail) < 0)
		return NULL;
	return list_has(avail, ' ', ctrl) ? v2 : NULL;
}

bool sm_cgroup_get_vm(const struct sm_cgroup *cg, struct sm_cgroup_vm *out)
{
	if (cg->has_vm)
		*out = cg->vm;
	return cg->has_vm;
}

enum sm_cgroup_mode sm_cgroup_get_mode(const struct sm_cgroup *cg)
{
	return cg->mode;
}

const char *sm_cgroup_dir(const struct sm_cgroup *cg, const char *controller)
{
	const struct sm_cgroup_hier *h = sm_cgroup_find(cg, controller);
	return h != NULL ? h->dir : NULL;
}

const struct sm_oci_strv *sm_cgroup_warnings(const struct sm_cgroup *cg)
{
	return &cg->warnings;
}

void sm_cgroup_free(struct sm_cgroup *cg)
{
	if (cg == NULL)
		return;
	for (size_t i = 0; i < cg->n; i++) {
		free(cg->h[i].mount);
		free(cg->h[i].ctrls);
		free(cg->h[i].rel);
		free(cg->h[i].dir);
	}
	sm_oci_strv_free(&cg->warnings);
	free(cg);
}
