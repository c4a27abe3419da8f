/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ps(1)-style output of the guest's processes (runtime/ps-table.h). Column names, headers, widths
 * and value formats follow procps-ng, so scripts that parse `runc ps` output parse ours.
 */
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/proto-tags.h"
#include "common/proto.h"
#include "common/util.h"
#include "runtime/ps-table.h"

#define MAX_COLUMNS 64
#define MAX_PROCS 8192 /* the agent reports at most 4096 */

enum col_kind {
	K_PID,
	K_PPID,
	K_PGID,
	K_SID,
	K_UID,
	K_USER,
	K_GID,
	K_GROUP,
	K_COMM,
	K_ARGS,
	K_STAT,
	K_STATE,
	K_TTY,
	K_TIME,
	K_ETIME,
	K_ETIMES,
	K_STIME,
	K_C,
	K_PCPU,
	K_RSS,
	K_VSZ,
	K_NICE,
	K_NLWP,
};

struct field {
	const char *name, *header;
	enum col_kind kind;
	int width;
	bool left;
};

/* procps' names, headers and widths for the fields the agent reports. */
static const struct field fields[] = {
    {"pid", "PID", K_PID, 5, false},
    {"ppid", "PPID", K_PPID, 5, false},
    {"pgid", "PGID", K_PGID, 5, false},
    {"pgrp", "PGRP", K_PGID, 5, false},
    {"sid", "SID", K_SID, 5, false},
    {"sess", "SESS", K_SID, 5, false},
    {"session", "SESS", K_SID, 5, false},
    {"uid", "UID", K_UID, 5, false},
    {"euid", "EUID", K_UID, 5, false},
    {"user", "USER", K_USER, 8, true},
    {"euser", "EUSER", K_USER, 8, true},
    {"uname", "USER", K_USER, 8, true},
    {"gid", "GID", K_GID, 5, false},
    {"egid", "EGID", K_GID, 5, false},
    {"group", "GROUP", K_GROUP, 8, true},
    {"egroup", "EGROUP", K_GROUP, 8, true},
    {"comm", "COMMAND", K_COMM, 15, true},
    {"ucomm", "COMMAND", K_COMM, 15, true},
    {"ucmd", "CMD", K_COMM, 15, true},
    {"args", "COMMAND", K_ARGS, 27, true},
    {"cmd", "CMD", K_ARGS, 27, true},
    {"command", "COMMAND", K_ARGS, 27, true},
    {"stat", "STAT", K_STAT, 4, true},
    {"s", "S", K_STATE, 1, true},
    {"state", "S", K_STATE, 1, true},
    {"tty", "TT", K_TTY, 8, true},
    {"tt", "TT", K_TTY, 8, true},
    {"tname", "TTY", K_TTY, 8, true},
    {"time", "TIME", K_TIME, 8, false},
    {"cputime", "TIME", K_TIME, 8, false},
    {"etime", "ELAPSED", K_ETIME, 11, false},
    {"etimes", "ELAPSED", K_ETIMES, 7, false},
    {"stime", "STIME", K_STIME, 5, true},
    {"start_time", "START", K_STIME, 5, true},
    {"c", "C", K_C, 2, false},
    {"pcpu", "%CPU", K_PCPU, 4, false},
    {"%cpu", "%CPU", K_PCPU, 4, false},
    {"rss", "RSS", K_RSS, 5, false},
    {"rssize", "RSS", K_RSS, 5, false},
    {"rsz", "RSZ", K_RSS, 5, false},
    {"vsz", "VSZ", K_VSZ, 6, false},
    {"vsize", "VSZ", K_VSZ, 6, false},
    {"nice", "NI", K_NICE, 3, false},
    {"ni", "NI", K_NICE, 3, false},
    {"nlwp", "NLWP", K_NLWP, 4, false},
    {"thcount", "THCNT", K_NLWP, 5, false},
};

struct column {
	const struct field *f;
	char *header;
};

struct sm_ps_format {
	struct column cols[MAX_COLUMNS];
	size_t n;
	bool no_headers;
};

/* ---- decoding ---- */

void sm_ps_list_free(struct sm_ps_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].comm);
		free(l->v[i].args);
	}
	free(l->v);
	*l = (struct sm_ps_list){0};
}

void sm_ps_list_add_pid(struct sm_ps_list *l, uint32_t pid)
{
	l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
	if (l->v == NULL)
		abort();
	l->v[l->n++] = (struct sm_ps_proc){.pid = pid, .state = '?'};
}

static struct sm_ps_proc *find_pid(struct sm_ps_list *l, uint32_t pid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].pid == pid)
			return &l->v[i];
	return NULL;
}

/* Append a string value to the space-joined argument line. */
static void add_arg(struct sm_ps_proc *p, const uint8_t *val, uint32_t len)
{
	size_t old = p->args ? strlen(p->args) : 0;
	char *s = sm_xmalloc(old + (old ? 1 : 0) + len + 1);

	if (old) {
		memcpy(s, p->args, old);
		s[old++] = ' ';
	}
	/* The guest chooses these bytes: control characters would reach the caller's terminal. */
	for (uint32_t i = 0; i < len; i++)
		s[old + i] = val[i] < 0x20 || val[i] == 0x7f ? '?' : (char)val[i];
	s[old + len] = '\0';
	free(p->args);
	p->args = s;
}

static int decode_u32(const uint8_t *val, uint32_t len, uint32_t *out, sm_error_t *err)
{
	return sm_tlv_u32(val, len, out) < 0 ? sm_error_set(err, EPROTO, "ps: malformed process field") : 0;
}

static int decode_u64(const uint8_t *val, uint32_t len, uint64_t *out, sm_error_t *err)
{
	return sm_tlv_u64(val, len, out) < 0 ? sm_error_set(err, EPROTO, "ps: malformed process field") : 0;
}

/* What sm_tlv_walk() hands the visitors below. */
struct ps_ctx {
	struct sm_ps_list *l;
	struct sm_ps_proc *p; /* the process decode_field() fills */
	sm_error_t *err;
};

static int decode_field(void *ctx, uint16_t tag, const uint8_t *val, uint32_t len)
{
	struct sm_ps_proc *p = ((struct ps_ctx *)ctx)->p;
	sm_error_t *err = ((struct ps_ctx *)ctx)->err;
	uint32_t u = 0;
	int r = 0;

	switch (tag) {
	case SM_TAG_PROC_PPID:
		return decode_u32(val, len, &p->ppid, err);
	case SM_TAG_PROC_PGID:
		return decode_u32(val, len, &p->pgid, err);
	case SM_TAG_PROC_SID:
		return decode_u32(val, len, &p->sid, err);
	case SM_TAG_PROC_UID:
		return decode_u32(val, len, &p->uid, err);
	case SM_TAG_PROC_GID:
		return decode_u32(val, len, &p->gid, err);
	case SM_TAG_PROC_TTY:
		return decode_u32(val, len, &p->tty, err);
	case SM_TAG_PROC_THREADS:
		return decode_u32(val, len, &p->threads, err);
	case SM_TAG_PROC_START:
		return decode_u64(val, len, &p->start, err);
	case SM_TAG_PROC_ELAPSED_MS:
		return decode_u64(val, len, &p->elapsed_ms, err);
	case SM_TAG_PROC_CPU_MS:
		return decode_u64(val, len, &p->cpu_ms, err);
	case SM_TAG_PROC_VSZ_KB:
		return decode_u64(val, len, &p->vsz_kb, err);
	case SM_TAG_PROC_RSS_KB:
		return decode_u64(val, len, &p->rss_kb, err);
	case SM_TAG_PROC_NICE:
		r = decode_u32(val, len, &u, err);
		p->nice = (int32_t)u;
		return r;
	case SM_TAG_PROC_STATE:
		r = decode_u32(val, len, &u, err);
		p->state = u > 0x20 && u < 0x7f ? (char)u : '?';
		return r;
	case SM_TAG_PROC_COMM:
		free(p->comm);
		p->comm = NULL;
		if (len > 64)
			return sm_error_set(err, EPROTO, "ps: command name of %u bytes", len);
		{
			struct sm_ps_proc tmp = {0};
			add_arg(&tmp, val, len); /* the same clean-up of control characters */
			p->comm = tmp.args ? tmp.args : sm_xstrdup("");
		}
		return 0;
	case SM_TAG_PROC_ARG:
		if (len > SM_PS_MAX_CMDLINE || (p->args && strlen(p->args) + len > SM_PS_MAX_CMDLINE))
			return sm_error_set(err, EPROTO, "ps: command line longer than %u bytes",
					    SM_PS_MAX_CMDLINE);
		add_arg(p, val, len);
		return 0;
	default:
		return 0; /* a newer agent's field */
	}
}

/* One SM_TAG_PROC: its pid first (any order on the wire), then the fields into that process. */
static int decode_proc(struct ps_ctx *c, const uint8_t *payload, uint32_t plen)
{
	struct sm_ps_list *l = c->l;
	const uint8_t *val;
	uint32_t len, pid = 0;
	int r;

	if (sm_tlv_find(payload, plen, SM_TAG_PROC_PID, &val, &len) != 1 ||
	    decode_u32(val, len, &pid, c->err) < 0)
		return sm_error_set(c->err, EPROTO, "ps: malformed process entry from the guest");
	c->p = find_pid(l, pid);
	if (c->p == NULL) {
		if (l->n >= MAX_PROCS)
			return sm_error_set(c->err, EPROTO, "ps: more than %d processes", MAX_PROCS);
		sm_ps_list_add_pid(l, pid);
		c->p = &l->v[l->n - 1];
	}
	free(c->p->comm);
	free(c->p->args);
	*c->p = (struct sm_ps_proc){.pid = pid, .state = '?', .detailed = true};
	r = sm_tlv_walk(payload, plen, decode_field, c);
	if (r == SM_TLV_MALFORMED)
		return sm_error_set(c->err, EPROTO, "ps: malformed process entry from the guest");
	return r < 0 ? -1 : 0;
}

/* A top-level field of PS_REPLY: a bare pid (an older agent's) or a process entry. */
static int decode_top(void *ctx, uint16_t tag, const uint8_t *val, uint32_t len)
{
	struct ps_ctx *c = ctx;
	uint32_t pid;

	if (tag == SM_TAG_PROC)
		return decode_proc(c, val, len);
	if (tag != SM_TAG_PID)
		return 0;
	if (decode_u32(val, len, &pid, c->err) < 0)
		return -1;
	if (find_pid(c->l, pid) != NULL)
		return 0;
	if (c->l->n >= MAX_PROCS)
		return sm_error_set(c->err, EPROTO, "ps: more than %d processes", MAX_PROCS);
	sm_ps_list_add_pid(c->l, pid);
	return 0;
}

int sm_ps_decode(const uint8_t *payload, size_t len, struct sm_ps_list *out, sm_error_t *err)
{
	struct ps_ctx c = {.l = out, .err = err};
	int r;

	*out = (struct sm_ps_list){0};
	r = sm_tlv_walk(payload, len, decode_top, &c);
	if (r == SM_TLV_MALFORMED)
		return sm_error_set(err, EPROTO, "ps: malformed reply from the guest");
	return r < 0 ? -1 : 0;
}

/* ---- options ---- */

void sm_ps_format_free(struct sm_ps_format *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n; i++)
		free(f->cols[i].header);
	free(f);
}

static const struct field *field_find(const char *name, size_t len)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(fields); i++)
		if (strlen(fields[i].name) == len && strncmp(fields[i].name, name, len) == 0)
			return &fields[i];
	return NULL;
}

static int add_column(struct sm_ps_format *f, const char *name, const char *header, sm_error_t *err)
{
	const struct field *fd = field_find(name, strlen(name));

	if (fd == NULL)
		return sm_error_set(err, 0,
				    "ps: unknown -o field `%s` (supported: pid, ppid, pgid, sid, uid, "
				    "user, gid, group, comm, args, cmd, stat, s, tty, tname, time, etime, "
				    "etimes, stime, start_time, c, pcpu, rss, vsz, nice, nlwp, and aliases)",
				    name);
	if (f->n == MAX_COLUMNS)
		return sm_error_set(err, 0, "ps: more than %d columns", MAX_COLUMNS);
	f->cols[f->n++] = (struct column){fd, sm_xstrdup(header ? header : fd->header)};
	return 0;
}

/* -o LIST: FIELD[=HEADER] separated by commas (or spaces); the header ends at the next comma. */
static int parse_o(struct sm_ps_format *f, const char *list, sm_error_t *err)
{
	cleanup_free char *copy = sm_xstrdup(list);
	char *save = NULL;

	if (list[0] == '\0')
		return sm_error_set(err, 0, "ps: -o needs a list of fields");
	for (char *tok = strtok_r(copy, ", ", &save); tok != NULL; tok = strtok_r(NULL, ", ", &save)) {
		char *eq = strchr(tok, '=');
		if (eq != NULL)
			*eq++ = '\0';
		if (add_column(f, tok, eq, err) < 0)
			return -1;
	}
	return 0;
}

static int unsupported(const char *opt, sm_error_t *err)
{
	return sm_error_set(err, 0,
			    "ps option `%s` is not supported: the processes are in the VM and sm-runtime "
			    "lists them itself (supported: -e, -A, -f, -o FIELD[=HEADER],..., --no-headers)",
			    opt);
}

static int parse_args(struct sm_ps_format *f, char *const *args, size_t n, bool *full, sm_error_t *err)
{
	for (size_t i = 0; i < n; i++) {
		const char *a = args[i];

		if (i == 0 && strcmp(a, "--") == 0)
			continue;
		if (strcmp(a, "--no-headers") == 0 || strcmp(a, "--no-heading") == 0) {
			f->no_headers = true;
			continue;
		}
		if (a[0] != '-' || a[1] == '\0' || a[1] == '-')
			return unsupported(a, err);
		for (const char *c = a + 1; *c != '\0'; c++) {
			if (*c == 'e' || *c == 'A')
				continue; /* every process of the container is always listed */
			if (*c == 'f') {
				*full = true;
				continue;
			}
			if (*c != 'o')
				return unsupported(a, err);
			if (c[1] == '\0' && i + 1 == n)
				return sm_error_set(err, 0, "ps: -o needs a list of fields");
			if (parse_o(f, c[1] != '\0' ? c + 1 : args[++i], err) < 0)
				return -1;
			break;
		}
	}
	return 0;
}

int sm_ps_format_parse(char *const *args, size_t n, struct sm_ps_format **out, sm_error_t *err)
{
	struct sm_ps_format *f = sm_xcalloc(1, sizeof(*f));
	bool full = false, selection = false;
	int r = 0;

	for (size_t i = 0; i < n; i++)
		selection |= args[i][0] == '-' && args[i][1] != '-' && strpbrk(args[i], "o") == NULL;
	if ((r = parse_args(f, args, n, &full, err)) < 0)
		goto fail;
	if (full && f->n > 0) {
		r = sm_error_set(err, 0, "ps: -f and -o are conflicting format options");
		goto fail;
	}
	/* runc runs `ps -ef` without options; -e alone is ps' short format. */
	if (f->n == 0 && (full || !selection))
		r = parse_o(f, "user=UID,pid,ppid,c,stime,tname=TTY,time,args=CMD", err);
	else if (f->n == 0)
		r = parse_o(f, "pid,tname=TTY,time,ucmd=CMD", err);
	if (r < 0)
		goto fail;
	*out = f;
	return 0;
fail:
	sm_ps_format_free(f);
	return -1;
}

/* ---- output ---- */

static void fmt_duration(char *buf, size_t size, uint64_t s, bool elapsed)
{
	unsigned days = (unsigned)(s / 86400), h = (unsigned)(s / 3600 % 24), m = (unsigned)(s / 60 % 60),
		 sec = (unsigned)(s % 60);

	if (days > 0)
		snprintf(buf, size, "%u-%02u:%02u:%02u", days, h, m, sec);
	else if (!elapsed || h > 0)
		snprintf(buf, size, "%02u:%02u:%02u", h, m, sec);
	else
		snprintf(buf, size, "%02u:%02u", m, sec);
}

/* procps' STIME: the time of day when started today, else the date this year, else the year. */
static void fmt_stime(char *buf, size_t size, time_t start, time_t now)
{
	struct tm st, nt;

	localtime_r(&start, &st);
	localtime_r(&now, &nt);
	strftime(buf, size,
		 st.tm_year != nt.tm_year   ? "%Y"
		 : st.tm_yday != nt.tm_yday ? "%b%d"
					    : "%H:%M",
		 &st);
}

/* The tty name from /proc's tty_nr (its major and minor numbers), as ps names devices. */
static void fmt_tty(char *buf, size_t size, uint32_t tty)
{
	unsigned major = (tty >> 8) & 0xfff, minor = (tty & 0xff) | ((tty >> 12) & 0xfff00);

	if (tty == 0)
		snprintf(buf, size, "?");
	else if (major >= 136 && major <= 143)
		snprintf(buf, size, "pts/%u", minor + (major - 136) * 256);
	else if (major == 4 && minor < 64)
		snprintf(buf, size, "tty%u", minor);
	else if (major == 4)
		snprintf(buf, size, "ttyS%u", minor - 64);
	else if (major == 229)
		snprintf(buf, size, "hvc%u", minor);
	else if (major == 5 && minor == 1)
		snprintf(buf, size, "console");
	else
		snprintf(buf, size, "%u,%u", major, minor);
}

/* A user or group name (the host's databases, as runc's ps on the host), or the number. */
static void fmt_name(char *buf, size_t size, uint32_t id, bool group)
{
	const char *name = NULL;

	if (group) {
		struct group *g = getgrgid(id);
		name = g ? g->gr_name : NULL;
	} else {
		struct passwd *pw = getpwuid(id);
		name = pw ? pw->pw_name : NULL;
	}
	if (name == NULL)
		snprintf(buf, size, "%u", id);
	else if (strlen(name) > 8)
		snprintf(buf, size, "%.7s+", name); /* procps marks a cut name with + */
	else
		snprintf(buf, size, "%s", name);
}

static void fmt_stat(char *buf, size_t size, const struct sm_ps_proc *p)
{
	snprintf(buf, size, "%c%s%s%s", p->state,
		 p->nice < 0   ? "<"
		 : p->nice > 0 ? "N"
			       : "",
		 p->pid == p->sid ? "s" : "", p->threads > 1 ? "l" : "");
}

/* The value of one cell (buf may be returned, or a string of p). */
static const char *cell(char *buf, size_t size, const struct field *f, const struct sm_ps_proc *p, time_t now)
{
	uint64_t secs = p->elapsed_ms / 1000, permille;

	if (!p->detailed && f->kind != K_PID)
		return "?";
	switch (f->kind) {
	case K_PID:
		snprintf(buf, size, "%u", p->pid);
		break;
	case K_PPID:
		snprintf(buf, size, "%u", p->ppid);
		break;
	case K_PGID:
		snprintf(buf, size, "%u", p->pgid);
		break;
	case K_SID:
		snprintf(buf, size, "%u", p->sid);
		break;
	case K_UID:
		snprintf(buf, size, "%u", p->uid);
		break;
	case K_GID:
		snprintf(buf, size, "%u", p->gid);
		break;
	case K_USER:
		fmt_name(buf, size, p->uid, false);
		break;
	case K_GROUP:
		fmt_name(buf, size, p->gid, true);
		break;
	case K_COMM:
		return p->comm ? p->comm : "?";
	case K_ARGS:
		/* ps shows the bracketed name of a process without arguments (a zombie). */
		if (p->args != NULL)
			return p->args;
		snprintf(buf, size, "[%s]%s", p->comm ? p->comm : "?", p->state == 'Z' ? " <defunct>" : "");
		break;
	case K_STAT:
		fmt_stat(buf, size, p);
		break;
	case K_STATE:
		snprintf(buf, size, "%c", p->state);
		break;
	case K_TTY:
		fmt_tty(buf, size, p->tty);
		break;
	case K_TIME:
		fmt_duration(buf, size, p->cpu_ms / 1000, false);
		break;
	case K_ETIME:
		fmt_duration(buf, size, secs, true);
		break;
	case K_ETIMES:
		snprintf(buf, size, "%llu", (unsigned long long)secs);
		break;
	case K_STIME:
		fmt_stime(buf, size, (time_t)p->start, now);
		break;
	case K_C:
		permille = secs ? p->cpu_ms / secs : 0;
		snprintf(buf, size, "%u", permille / 10 > 99 ? 99u : (unsigned)(permille / 10));
		break;
	case K_PCPU:
		permille = secs ? p->cpu_ms / secs : 0;
		if (permille > 999)
			snprintf(buf, size, "%llu", (unsigned long long)(permille / 10));
		else
			snprintf(buf, size, "%u.%u", (unsigned)(permille / 10), (unsigned)(permille % 10));
		break;
	case K_RSS:
		snprintf(buf, size, "%llu", (unsigned long long)p->rss_kb);
		break;
	case K_VSZ:
		snprintf(buf, size, "%llu", (unsigned long long)p->vsz_kb);
		break;
	case K_NICE:
		snprintf(buf, size, "%d", p->nice);
		break;
	case K_NLWP:
		snprintf(buf, size, "%u", p->threads);
		break;
	}
	return buf;
}

/* One cell: right-aligned numbers overflow their width; text is cut to it, except at the end. */
static void put_cell(FILE *out, const struct column *c, const char *v, bool last)
{
	int w = c->f->width;

	if (!c->f->left)
		fprintf(out, "%*s", w, v);
	else if (last)
		fputs(v, out);
	else
		fprintf(out, "%-*.*s", w, w, v);
}

void sm_ps_print(FILE *out, const struct sm_ps_format *f, const struct sm_ps_list *l, time_t now)
{
	bool header = false;
	char buf[128];

	for (size_t i = 0; i < f->n; i++)
		header |= f->cols[i].header[0] != '\0';
	if (header && !f->no_headers) {
		for (size_t i = 0; i < f->n; i++) {
			fputs(i ? " " : "", out);
			put_cell(out, &f->cols[i], f->cols[i].header, i + 1 == f->n);
		}
		fputc('\n', out);
	}
	for (size_t k = 0; k < l->n; k++) {
		for (size_t i = 0; i < f->n; i++) {
			fputs(i ? " " : "", out);
			put_cell(out, &f->cols[i], cell(buf, sizeof(buf), f->cols[i].f, &l->v[k], now),
				 i + 1 == f->n);
		}
		fputc('\n', out);
	}
}
