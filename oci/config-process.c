/* SPDX-License-Identifier: Apache-2.0 */
/* config.json "process" (also the standalone process.json of `exec --process`). */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "oci/config-parse.h"

#define CPU_NUMBER_MAX 65535

static int parse_console_size(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"height", "width", NULL};
	struct sm_oci_process *p = out;
	uint64_t h, w;
	int r;

	/* struct winsize holds unsigned shorts. */
	if ((r = sm_j_object(c, v, keys)) < 0 || (r = sm_j_req_uint(c, v, "height", UINT16_MAX, &h)) < 0 ||
	    (r = sm_j_req_uint(c, v, "width", UINT16_MAX, &w)) < 0)
		return r;
	p->has_console_size = true;
	p->console_height = (uint32_t)h;
	p->console_width = (uint32_t)w;
	return 0;
}

static int parse_gid(struct sm_jctx *c, yajl_val v, void *out)
{
	uint64_t gid;
	int r = sm_j_uint(c, v, UINT32_MAX - 1, &gid);
	*(uint32_t *)out = (uint32_t)gid;
	return r;
}

static int parse_user(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"uid", "gid", "umask", "additionalGids", "username", NULL};
	struct sm_oci_user *u = out;
	uint64_t uid, gid;
	int r;

	/* (uid_t)-1 means "unchanged" to setresuid(), so it cannot be a process's id. */
	if ((r = sm_j_object(c, v, keys)) < 0 || (r = sm_j_req_uint(c, v, "uid", UINT32_MAX - 1, &uid)) < 0 ||
	    (r = sm_j_req_uint(c, v, "gid", UINT32_MAX - 1, &gid)) < 0 ||
	    (r = sm_j_opt_uint(c, v, "umask", 0777, &u->umask)) < 0 ||
	    (r = sm_j_opt_array(c, v, "additionalGids", sizeof(uint32_t), parse_gid, &u->additional_gids,
				&u->n_additional_gids)) < 0)
		return r;
	u->uid = (uint32_t)uid;
	u->gid = (uint32_t)gid;
	return sm_j_opt_str(c, v, "username", &u->username);
}

static bool cap_name_valid(const char *s)
{
	return strncmp(s, "CAP_", 4) == 0 && s[4] != '\0' &&
	       strspn(s + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == strlen(s + 4);
}

static int parse_capabilities(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"bounding",	"effective", "inheritable",
					   "permitted", "ambient",   NULL};
	struct sm_oci_capabilities *caps = sm_xcalloc(1, sizeof(*caps));
	int r;

	*(struct sm_oci_capabilities **)out = caps;
	if ((r = sm_j_object(c, v, keys)) < 0)
		return r;
	for (int set = 0; set < SM_OCI_CAP_NSETS; set++) {
		size_t mark;
		if (sm_j_get(v, keys[set]) == NULL)
			continue;
		caps->present[set] = true;
		if ((r = sm_j_opt_strv(c, v, keys[set], &caps->names[set])) < 0)
			return r;
		mark = sm_j_push_key(c, keys[set]);
		for (size_t i = 0; i < caps->names[set].n; i++) {
			const char *name = caps->names[set].v[i];
			size_t m2 = sm_j_push_index(c, i);
			int num;
			if (!cap_name_valid(name)) {
				r = sm_j_fail(c, "invalid capability name \"%.64s\"", name);
				sm_j_pop(c, m2);
				sm_j_pop(c, mark);
				return r;
			}
			/* The spec: capabilities that cannot be granted are a warning, not an error. */
			if (sm_oci_name_lookup(sm_oci_capability_names, name, &num) == 0)
				caps->mask[set] |= 1ull << num;
			else
				sm_j_warn(c, "unknown capability %.64s ignored", name);
			sm_j_pop(c, m2);
		}
		sm_j_pop(c, mark);
	}
	return 0;
}

static int parse_rlimit(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"type", "soft", "hard", NULL};
	struct sm_oci_rlimit *rl = out;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0)
		return r;
	if (sm_j_get(v, "type") == NULL)
		return sm_j_fail_key(c, "type", "required but missing");
	if ((r = sm_j_opt_str(c, v, "type", &rl->type)) < 0)
		return r;
	if (sm_oci_name_lookup(sm_oci_rlimit_names, rl->type, &rl->resource) < 0)
		return sm_j_fail_key(c, "type", "unknown rlimit \"%.64s\"", rl->type);
	if ((r = sm_j_req_uint(c, v, "soft", UINT64_MAX, &rl->soft)) < 0 ||
	    (r = sm_j_req_uint(c, v, "hard", UINT64_MAX, &rl->hard)) < 0)
		return r;
	if (rl->soft > rl->hard)
		return sm_j_fail_key(c, "soft", "soft limit %" PRIu64 " exceeds hard limit %" PRIu64,
				     rl->soft, rl->hard);
	return 0;
}

static int check_rlimits(struct sm_jctx *c, const struct sm_oci_process *p)
{
	for (size_t i = 0; i < p->n_rlimits; i++) {
		for (size_t j = 0; j < i; j++) {
			if (p->rlimits[i].resource == p->rlimits[j].resource) {
				size_t mark = sm_j_push_key(c, "rlimits");
				size_t m2 = sm_j_push_index(c, i);
				int r = sm_j_fail_key(c, "type", "duplicate rlimit %s (also in [%zu])",
						      p->rlimits[i].type, j);
				sm_j_pop(c, m2);
				sm_j_pop(c, mark);
				return r;
			}
		}
	}
	return 0;
}

static int parse_io_priority(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"class", "priority", NULL};
	struct sm_oci_io_priority *io = sm_xcalloc(1, sizeof(*io));
	int64_t prio;
	size_t mark;
	int r;

	*(struct sm_oci_io_priority **)out = io;
	if ((r = sm_j_object(c, v, keys)) < 0)
		return r;
	if (sm_j_get(v, "class") == NULL)
		return sm_j_fail_key(c, "class", "required but missing");
	mark = sm_j_push_key(c, "class");
	r = sm_j_enum(c, sm_j_get(v, "class"), sm_oci_ioprio_class_names, "I/O priority class", &io->class_);
	sm_j_pop(c, mark);
	if (r < 0 || (r = sm_j_req_int(c, v, "priority", 0, 7, &prio)) < 0)
		return r;
	io->priority = (int)prio;
	return 0;
}

static int parse_sched_flag(struct sm_jctx *c, yajl_val v, void *out)
{
	int bit;
	int r = sm_j_enum(c, v, sm_oci_sched_flag_names, "scheduler flag", &bit);
	if (r == 0)
		*(int *)out = bit;
	return r;
}

static int parse_scheduler(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"policy",  "nice",	  "priority", "flags",
					   "runtime", "deadline", "period",   NULL};
	struct sm_oci_scheduler *s = sm_xcalloc(1, sizeof(*s));
	int *flags = NULL;
	size_t n_flags = 0, mark;
	int r;

	*(struct sm_oci_scheduler **)out = s;
	if ((r = sm_j_object(c, v, keys)) < 0)
		return r;
	if (sm_j_get(v, "policy") == NULL)
		return sm_j_fail_key(c, "policy", "required but missing");
	mark = sm_j_push_key(c, "policy");
	r = sm_j_enum(c, sm_j_get(v, "policy"), sm_oci_sched_policy_names, "scheduler policy", &s->policy);
	sm_j_pop(c, mark);
	if (r < 0 || (r = sm_j_opt_int(c, v, "nice", -20, 19, &s->nice)) < 0 ||
	    (r = sm_j_opt_int(c, v, "priority", INT32_MIN, INT32_MAX, &s->priority)) < 0)
		return r;
	r = sm_j_opt_array(c, v, "flags", sizeof(int), parse_sched_flag, &flags, &n_flags);
	for (size_t i = 0; r == 0 && i < n_flags; i++)
		s->flags |= (uint32_t)flags[i];
	free(flags);
	if (r < 0 || (r = sm_j_opt_uint(c, v, "runtime", UINT64_MAX, &s->runtime)) < 0 ||
	    (r = sm_j_opt_uint(c, v, "deadline", UINT64_MAX, &s->deadline)) < 0)
		return r;
	return sm_j_opt_uint(c, v, "period", UINT64_MAX, &s->period);
}

bool sm_oci_cpu_list_valid(const char *s)
{
	for (;;) {
		unsigned long lo, hi;
		char *end;
		s += strspn(s, " ");
		if (*s == '\0')
			return true;
		if (!isdigit((unsigned char)*s))
			return false;
		lo = hi = strtoul(s, &end, 10);
		s = end + strspn(end, " ");
		if (*s == '-') {
			s += 1 + strspn(s + 1, " ");
			if (!isdigit((unsigned char)*s))
				return false;
			hi = strtoul(s, &end, 10);
			s = end + strspn(end, " ");
		}
		if (lo > hi || hi > CPU_NUMBER_MAX)
			return false;
		if (*s == ',')
			s++;
		else if (*s != '\0')
			return false;
	}
}

static int parse_cpu_affinity(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"initial", "final", NULL};
	struct sm_oci_cpu_affinity *a = sm_xcalloc(1, sizeof(*a));
	int r;

	*(struct sm_oci_cpu_affinity **)out = a;
	if ((r = sm_j_object(c, v, keys)) < 0 || (r = sm_j_opt_str(c, v, "initial", &a->initial)) < 0 ||
	    (r = sm_j_opt_str(c, v, "final", &a->final)) < 0)
		return r;
	if (a->initial != NULL && !sm_oci_cpu_list_valid(a->initial))
		return sm_j_fail_key(c, "initial", "invalid CPU list \"%.64s\"", a->initial);
	if (a->final != NULL && !sm_oci_cpu_list_valid(a->final))
		return sm_j_fail_key(c, "final", "invalid CPU list \"%.64s\"", a->final);
	return 0;
}

static int check_args_env(struct sm_jctx *c, yajl_val v, const struct sm_oci_process *p)
{
	/* Optional only on Windows (commandLine); on Linux args[0] is what gets executed. */
	if (sm_j_get(v, "args") == NULL)
		return sm_j_fail_key(c, "args", "required but missing");
	if (p->args.n == 0)
		return sm_j_fail_key(c, "args", "must have at least one entry");
	for (size_t i = 0; i < p->env.n; i++) {
		const char *eq = strchr(p->env.v[i], '=');
		if (eq == NULL || eq == p->env.v[i]) {
			size_t mark = sm_j_push_key(c, "env");
			size_t m2 = sm_j_push_index(c, i);
			int r = sm_j_fail(c, "expected KEY=value, got \"%.64s\"", p->env.v[i]);
			sm_j_pop(c, m2);
			sm_j_pop(c, mark);
			return r;
		}
	}
	return 0;
}

/* Members after the user/args/env/cwd basics: security, limits and scheduling. */
static int parse_process_rest(struct sm_jctx *c, yajl_val v, struct sm_oci_process *p)
{
	int r;

	if ((r = sm_j_opt_sub(c, v, "capabilities", parse_capabilities, &p->capabilities)) < 0 ||
	    (r = sm_j_opt_array(c, v, "rlimits", sizeof(struct sm_oci_rlimit), parse_rlimit, &p->rlimits,
				&p->n_rlimits)) < 0 ||
	    (r = check_rlimits(c, p)) < 0 ||
	    (r = sm_j_opt_bool(c, v, "noNewPrivileges", &p->no_new_privileges)) < 0 ||
	    (r = sm_j_opt_str(c, v, "apparmorProfile", &p->apparmor_profile)) < 0 ||
	    (r = sm_j_opt_int(c, v, "oomScoreAdj", -1000, 1000, &p->oom_score_adj)) < 0 ||
	    (r = sm_j_opt_str(c, v, "selinuxLabel", &p->selinux_label)) < 0 ||
	    (r = sm_j_opt_sub(c, v, "ioPriority", parse_io_priority, &p->io_priority)) < 0 ||
	    (r = sm_j_opt_sub(c, v, "scheduler", parse_scheduler, &p->scheduler)) < 0 ||
	    (r = sm_j_opt_sub(c, v, "execCPUAffinity", parse_cpu_affinity, &p->exec_cpu_affinity)) < 0)
		return r;
	return 0;
}

int sm_oci_parse_process_obj(struct sm_jctx *c, yajl_val v, void *out)
{
	static const char *const keys[] = {"terminal",
					   "consoleSize",
					   "user",
					   "args",
					   "commandLine",
					   "env",
					   "cwd",
					   "capabilities",
					   "rlimits",
					   "noNewPrivileges",
					   "apparmorProfile",
					   "oomScoreAdj",
					   "selinuxLabel",
					   "ioPriority",
					   "scheduler",
					   "execCPUAffinity",
					   NULL};
	struct sm_oci_process *p;
	int r;

	if ((r = sm_j_object(c, v, keys)) < 0)
		return r;
	p = sm_xcalloc(1, sizeof(*p));
	*(struct sm_oci_process **)out = p;
	if ((r = sm_j_opt_bool(c, v, "terminal", &p->terminal)) < 0 ||
	    (r = sm_j_opt_sub(c, v, "consoleSize", parse_console_size, p)) < 0 ||
	    (r = sm_j_opt_sub(c, v, "user", parse_user, &p->user)) < 0 ||
	    (r = sm_j_opt_strv(c, v, "args", &p->args)) < 0 ||
	    (r = sm_j_opt_str(c, v, "commandLine", &p->command_line)) < 0 ||
	    (r = sm_j_opt_strv(c, v, "env", &p->env)) < 0 || (r = check_args_env(c, v, p)) < 0 ||
	    (r = sm_j_req_str(c, v, "cwd", &p->cwd)) < 0)
		return r;
	if (!sm_j_abs(p->cwd))
		return sm_j_fail_key(c, "cwd", "must be an absolute path");
	return parse_process_rest(c, v, p);
}
