/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "oci/json.h"

/* Turn yajl's multi-line message (it quotes the input around the error) into one line. */
static void squash_spaces(char *s)
{
	char *w = s;
	bool space = false;

	for (char *r = s; *r != '\0'; r++) {
		unsigned char ch = (unsigned char)*r;
		if (ch < 0x20 || ch == ' ') {
			space = w != s;
			continue;
		}
		if (space)
			*w++ = ' ';
		space = false;
		*w++ = (char)ch;
	}
	*w = '\0';
}

/*
 * One pass over the text before yajl sees it: yajl_tree_parse() stops at a NUL byte, returns
 * "\u0000" strings truncated at the NUL (so "a\u0000b" would silently become "a"), and both it and
 * yajl_tree_free() recurse once per nesting level.
 */
static int prescan(const char *json, size_t len, const char *name, sm_error_t *err)
{
	unsigned depth = 0, line = 1;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char ch = json[i];
		if (ch == '\0')
			return sm_error_set(err, 0, "%s: line %u: NUL byte in JSON text", name, line);
		if (ch == '\n')
			line++;
		if (in_str) {
			if (ch == '"') {
				in_str = false;
			} else if (ch == '\\' && i + 1 < len) {
				i++;
				if (json[i] == 'u' && i + 4 < len && strncmp(json + i + 1, "0000", 4) == 0)
					return sm_error_set(
					    err, 0, "%s: line %u: \\u0000 in a string is not supported", name,
					    line);
			}
			continue;
		}
		if (ch == '"') {
			in_str = true;
		} else if (ch == '{' || ch == '[') {
			if (++depth > SM_OCI_JSON_MAX_DEPTH)
				return sm_error_set(err, 0, "%s: line %u: JSON nested deeper than %d levels",
						    name, line, SM_OCI_JSON_MAX_DEPTH);
		} else if ((ch == '}' || ch == ']') && depth > 0) {
			depth--;
		}
	}
	return 0;
}

int sm_j_parse(const char *json, size_t len, const char *name, yajl_val *out, sm_error_t *err)
{
	cleanup_free char *buf = NULL;
	char ebuf[512] = "";
	yajl_val v;

	if (prescan(json, len, name, err) < 0)
		return -1;
	buf = sm_xmalloc(len + 1);
	if (len > 0)
		memcpy(buf, json, len);
	buf[len] = '\0';
	v = yajl_tree_parse(buf, ebuf, sizeof(ebuf));
	if (v == NULL) {
		squash_spaces(ebuf);
		return sm_error_set(err, 0, "%s: invalid JSON: %s", name, ebuf[0] ? ebuf : "parse error");
	}
	*out = v;
	return 0;
}

void sm_j_init(struct sm_jctx *c, const char *file, struct sm_oci_strv *unknown, struct sm_oci_strv *warnings,
	       sm_error_t *err)
{
	memset(c, 0, sizeof(*c));
	c->file = file;
	c->err = err;
	c->unknown = unknown;
	c->warnings = warnings;
}

/* Append to the path, replacing control characters from hostile keys and truncating with "...". */
static void path_append(struct sm_jctx *c, const char *s)
{
	const size_t room = sizeof(c->path) - 4;

	if (c->len > room) {
		c->len++; /* already truncated: keep marks monotonic */
		return;
	}
	for (; *s != '\0'; s++) {
		if (c->len == room) {
			memcpy(c->path + c->len, "...", 4);
			c->len++;
			return;
		}
		c->path[c->len++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
	}
	c->path[c->len] = '\0';
}

size_t sm_j_push_key(struct sm_jctx *c, const char *key)
{
	size_t mark = c->len;
	if (c->len > 0)
		path_append(c, ".");
	path_append(c, key);
	return mark;
}

size_t sm_j_push_index(struct sm_jctx *c, size_t i)
{
	size_t mark = c->len;
	char buf[32];
	snprintf(buf, sizeof(buf), "[%zu]", i);
	path_append(c, buf);
	return mark;
}

size_t sm_j_push_mapkey(struct sm_jctx *c, const char *key)
{
	size_t mark = c->len;
	path_append(c, "[\"");
	path_append(c, key);
	path_append(c, "\"]");
	return mark;
}

void sm_j_pop(struct sm_jctx *c, size_t mark)
{
	c->len = mark;
	/* Past the truncation point the buffer still ends in "..." and stays as it is. */
	if (mark <= sizeof(c->path) - 4)
		c->path[mark] = '\0';
}

static int vfail(struct sm_jctx *c, const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (c->len == 0)
		return sm_error_set(c->err, 0, "%s: %s", c->file, msg);
	return sm_error_set(c->err, 0, "%s: %s: %s", c->file, c->path, msg);
}

int sm_j_fail(struct sm_jctx *c, const char *fmt, ...)
{
	va_list ap;
	int r;
	va_start(ap, fmt);
	r = vfail(c, fmt, ap);
	va_end(ap);
	return r;
}

int sm_j_fail_key(struct sm_jctx *c, const char *key, const char *fmt, ...)
{
	size_t mark = sm_j_push_key(c, key);
	va_list ap;
	int r;
	va_start(ap, fmt);
	r = vfail(c, fmt, ap);
	va_end(ap);
	sm_j_pop(c, mark);
	return r;
}

static void strv_push(struct sm_oci_strv *sv, char *s)
{
	char **v = realloc(sv->v, (sv->n + 1) * sizeof(*v));
	if (v == NULL)
		abort();
	v[sv->n++] = s;
	sv->v = v;
}

void sm_j_warn(struct sm_jctx *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (c->warnings == NULL)
		return;
	if (c->warnings->n >= SM_J_MAX_NOTES) {
		c->n_warnings_dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	strv_push(c->warnings, c->len ? sm_xasprintf("%s: %s", c->path, msg) : sm_xstrdup(msg));
}

static void note_unknown(struct sm_jctx *c, const char *key)
{
	size_t mark;

	if (c->unknown == NULL)
		return;
	if (c->unknown->n >= SM_J_MAX_NOTES) {
		c->n_unknown_dropped++;
		return;
	}
	mark = sm_j_push_key(c, key);
	strv_push(c->unknown, sm_xstrdup(c->path));
	sm_j_pop(c, mark);
}

int sm_j_object(struct sm_jctx *c, yajl_val v, const char *const *known)
{
	uint64_t seen = 0;

	if (!YAJL_IS_OBJECT(v))
		return sm_j_fail(c, "expected an object");
	for (size_t i = 0; i < v->u.object.len; i++) {
		const char *key = v->u.object.keys[i];
		size_t k;
		for (k = 0; known[k] != NULL && strcmp(known[k], key) != 0; k++)
			;
		if (known[k] == NULL) {
			note_unknown(c, key);
			continue;
		}
		if (k < 64 && (seen & (1ull << k)))
			return sm_j_fail_key(c, key, "duplicate key");
		if (k < 64)
			seen |= 1ull << k;
	}
	return 0;
}

yajl_val sm_j_get(yajl_val obj, const char *key)
{
	if (!YAJL_IS_OBJECT(obj))
		return NULL;
	for (size_t i = 0; i < obj->u.object.len; i++) {
		if (strcmp(obj->u.object.keys[i], key) == 0)
			return YAJL_IS_NULL(obj->u.object.values[i]) ? NULL : obj->u.object.values[i];
	}
	return NULL;
}

int sm_j_str(struct sm_jctx *c, yajl_val v, char **out)
{
	if (!YAJL_IS_STRING(v))
		return sm_j_fail(c, "expected a string");
	free(*out);
	*out = sm_xstrdup(v->u.string);
	return 0;
}

int sm_j_bool(struct sm_jctx *c, yajl_val v, bool *out)
{
	if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		return sm_j_fail(c, "expected a boolean");
	*out = YAJL_IS_TRUE(v);
	return 0;
}

/*
 * Integers are read from yajl's raw text: its long long/double fields lose uint64 values above
 * INT64_MAX. 1.0 and 1e3 are refused, as Go's encoding/json refuses them for integer fields.
 * Returns 0, -1 when the text is not an integer, -2 when its magnitude exceeds 2^64-1.
 */
static int raw_integer(const char *s, bool *neg, uint64_t *mag)
{
	char *end;

	*neg = *s == '-';
	if (*neg)
		s++;
	if (*s < '0' || *s > '9')
		return -1;
	if (strspn(s, "0123456789") != strlen(s))
		return -1;
	errno = 0;
	*mag = strtoull(s, &end, 10);
	return errno == ERANGE ? -2 : 0;
}

int sm_j_uint(struct sm_jctx *c, yajl_val v, uint64_t max, uint64_t *out)
{
	bool neg;
	uint64_t mag;
	int r;

	if (!YAJL_IS_NUMBER(v))
		return sm_j_fail(c, "expected an unsigned integer");
	r = raw_integer(v->u.number.r, &neg, &mag);
	if (r == -1)
		return sm_j_fail(c, "expected an unsigned integer, got %.40s", v->u.number.r);
	if (r == -2 || (neg && mag != 0) || mag > max)
		return sm_j_fail(c, "value %.40s out of range [0, %" PRIu64 "]", v->u.number.r, max);
	*out = mag;
	return 0;
}

int sm_j_int(struct sm_jctx *c, yajl_val v, int64_t min, int64_t max, int64_t *out)
{
	bool neg;
	uint64_t mag;
	int64_t val;
	int r;

	if (!YAJL_IS_NUMBER(v))
		return sm_j_fail(c, "expected an integer");
	r = raw_integer(v->u.number.r, &neg, &mag);
	if (r == -1)
		return sm_j_fail(c, "expected an integer, got %.40s", v->u.number.r);
	if (r == -2 || (neg && mag > (uint64_t)INT64_MAX + 1) || (!neg && mag > (uint64_t)INT64_MAX))
		goto range;
	val = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	if (val < min || val > max)
		goto range;
	*out = val;
	return 0;
range:
	return sm_j_fail(c, "value %.40s out of range [%" PRId64 ", %" PRId64 "]", v->u.number.r, min, max);
}

int sm_j_strv(struct sm_jctx *c, yajl_val v, struct sm_oci_strv *out)
{
	if (!YAJL_IS_ARRAY(v))
		return sm_j_fail(c, "expected an array of strings");
	sm_oci_strv_free(out);
	out->v = sm_xcalloc(v->u.array.len, sizeof(char *));
	out->n = v->u.array.len;
	for (size_t i = 0; i < v->u.array.len; i++) {
		size_t mark = sm_j_push_index(c, i);
		int r = sm_j_str(c, v->u.array.values[i], &out->v[i]);
		sm_j_pop(c, mark);
		if (r < 0)
			return r;
	}
	return 0;
}

static int cmp_key_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int sm_j_unique_keys(struct sm_jctx *c, yajl_val obj)
{
	cleanup_free const char **keys = NULL;
	size_t n = obj->u.object.len;

	/* Sorting a copy finds duplicates in O(n log n): a hostile file may have millions of keys. */
	keys = sm_xcalloc(n, sizeof(*keys));
	for (size_t i = 0; i < n; i++)
		keys[i] = obj->u.object.keys[i];
	qsort(keys, n, sizeof(*keys), cmp_key_ptr);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(keys[i - 1], keys[i]) == 0) {
			size_t mark = sm_j_push_mapkey(c, keys[i]);
			int r = sm_j_fail(c, "duplicate key");
			sm_j_pop(c, mark);
			return r;
		}
	}
	return 0;
}

int sm_j_map(struct sm_jctx *c, yajl_val v, struct sm_oci_map *out)
{
	size_t n;

	if (!YAJL_IS_OBJECT(v))
		return sm_j_fail(c, "expected an object of strings");
	n = v->u.object.len;
	sm_oci_map_free(out);
	out->v = sm_xcalloc(n, sizeof(*out->v));
	out->n = n;
	for (size_t i = 0; i < n; i++) {
		const char *key = v->u.object.keys[i];
		size_t mark;
		int r;
		if (key[0] == '\0')
			return sm_j_fail(c, "keys must not be empty");
		out->v[i].key = sm_xstrdup(key);
		mark = sm_j_push_mapkey(c, key);
		r = sm_j_str(c, v->u.object.values[i], &out->v[i].value);
		sm_j_pop(c, mark);
		if (r < 0)
			return r;
	}
	return sm_j_unique_keys(c, v);
}

/* Quote a value from the file for a message: printable ASCII only, at most 64 bytes. */
static const char *quote(const char *s, char *buf, size_t size)
{
	size_t i;
	for (i = 0; s[i] != '\0' && i + 4 < size && i < 64; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f ? '?' : s[i];
	if (s[i] != '\0') {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

int sm_j_enum(struct sm_jctx *c, yajl_val v, const struct sm_oci_name *table, const char *what, int *value)
{
	char q[80];

	if (!YAJL_IS_STRING(v))
		return sm_j_fail(c, "expected a string");
	if (sm_oci_name_lookup(table, v->u.string, value) < 0)
		return sm_j_fail(c, "unknown %s \"%s\"", what, quote(v->u.string, q, sizeof(q)));
	return 0;
}

/* Look key up and push it; returns NULL (nothing pushed) when absent. */
static yajl_val member(struct sm_jctx *c, yajl_val obj, const char *key, size_t *mark)
{
	yajl_val v = sm_j_get(obj, key);
	if (v != NULL)
		*mark = sm_j_push_key(c, key);
	return v;
}

#define MEMBER(call)                                                                                         \
	do {                                                                                                 \
		size_t mark__ = 0;                                                                           \
		yajl_val v__ = member(c, obj, key, &mark__);                                                 \
		int r__;                                                                                     \
		if (v__ == NULL)                                                                             \
			return 0;                                                                            \
		r__ = (call);                                                                                \
		sm_j_pop(c, mark__);                                                                         \
		return r__;                                                                                  \
	} while (0)

int sm_j_opt_str(struct sm_jctx *c, yajl_val obj, const char *key, char **out)
{
	MEMBER(sm_j_str(c, v__, out));
}

int sm_j_req_str(struct sm_jctx *c, yajl_val obj, const char *key, char **out)
{
	if (sm_j_get(obj, key) == NULL)
		return sm_j_fail_key(c, key, "required but missing");
	return sm_j_opt_str(c, obj, key, out);
}

int sm_j_opt_bool(struct sm_jctx *c, yajl_val obj, const char *key, bool *out)
{
	MEMBER(sm_j_bool(c, v__, out));
}

int sm_j_opt_tbool(struct sm_jctx *c, yajl_val obj, const char *key, struct sm_oci_bool *out)
{
	out->set = sm_j_get(obj, key) != NULL;
	return sm_j_opt_bool(c, obj, key, &out->val);
}

int sm_j_opt_uint(struct sm_jctx *c, yajl_val obj, const char *key, uint64_t max, struct sm_oci_u64 *out)
{
	out->set = sm_j_get(obj, key) != NULL;
	MEMBER(sm_j_uint(c, v__, max, &out->val));
}

int sm_j_req_uint(struct sm_jctx *c, yajl_val obj, const char *key, uint64_t max, uint64_t *out)
{
	if (sm_j_get(obj, key) == NULL)
		return sm_j_fail_key(c, key, "required but missing");
	MEMBER(sm_j_uint(c, v__, max, out));
}

int sm_j_opt_int(struct sm_jctx *c, yajl_val obj, const char *key, int64_t min, int64_t max,
		 struct sm_oci_i64 *out)
{
	out->set = sm_j_get(obj, key) != NULL;
	MEMBER(sm_j_int(c, v__, min, max, &out->val));
}

int sm_j_req_int(struct sm_jctx *c, yajl_val obj, const char *key, int64_t min, int64_t max, int64_t *out)
{
	if (sm_j_get(obj, key) == NULL)
		return sm_j_fail_key(c, key, "required but missing");
	MEMBER(sm_j_int(c, v__, min, max, out));
}

int sm_j_opt_strv(struct sm_jctx *c, yajl_val obj, const char *key, struct sm_oci_strv *out)
{
	MEMBER(sm_j_strv(c, v__, out));
}

int sm_j_opt_map(struct sm_jctx *c, yajl_val obj, const char *key, struct sm_oci_map *out)
{
	MEMBER(sm_j_map(c, v__, out));
}

int sm_j_opt_array(struct sm_jctx *c, yajl_val obj, const char *key, size_t elem_size, sm_j_fn fn, void *arr,
		   size_t *n)
{
	size_t mark = 0;
	yajl_val v = member(c, obj, key, &mark);
	char *elems;

	if (v == NULL)
		return 0;
	if (!YAJL_IS_ARRAY(v)) {
		int r = sm_j_fail(c, "expected an array");
		sm_j_pop(c, mark);
		return r;
	}
	elems = sm_xcalloc(v->u.array.len, elem_size);
	*(void **)arr = elems;
	*n = v->u.array.len;
	for (size_t i = 0; i < v->u.array.len; i++) {
		size_t imark = sm_j_push_index(c, i);
		int r = fn(c, v->u.array.values[i], elems + i * elem_size);
		sm_j_pop(c, imark);
		if (r < 0) {
			sm_j_pop(c, mark);
			return r;
		}
	}
	sm_j_pop(c, mark);
	return 0;
}

int sm_j_opt_sub(struct sm_jctx *c, yajl_val obj, const char *key, sm_j_fn fn, void *out)
{
	size_t mark = 0;
	yajl_val v = member(c, obj, key, &mark);
	int r;

	if (v == NULL)
		return 0;
	r = fn(c, v, out);
	sm_j_pop(c, mark);
	return r < 0 ? r : 1;
}

void sm_jw_init(struct sm_jw *w, bool pretty)
{
	w->g = yajl_gen_alloc(NULL);
	if (w->g == NULL)
		abort();
	w->st = yajl_gen_status_ok;
	yajl_gen_config(w->g, yajl_gen_validate_utf8, 1);
	if (pretty) {
		yajl_gen_config(w->g, yajl_gen_beautify, 1);
		yajl_gen_config(w->g, yajl_gen_indent_string, "\t");
	}
}

void sm_jw_key(struct sm_jw *w, const char *key)
{
	sm_jw_str(w, key);
}

void sm_jw_str(struct sm_jw *w, const char *s)
{
	if (w->st != yajl_gen_status_ok)
		return;
	if (s == NULL)
		w->st = yajl_gen_null(w->g);
	else
		w->st = yajl_gen_string(w->g, (const unsigned char *)s, strlen(s));
}

void sm_jw_int(struct sm_jw *w, int64_t v)
{
	if (w->st == yajl_gen_status_ok)
		w->st = yajl_gen_integer(w->g, (long long)v);
}

void sm_jw_uint(struct sm_jw *w, uint64_t v)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);
	if (w->st == yajl_gen_status_ok)
		w->st = yajl_gen_number(w->g, buf, (size_t)n);
}

void sm_jw_bool(struct sm_jw *w, bool v)
{
	if (w->st == yajl_gen_status_ok)
		w->st = yajl_gen_bool(w->g, v);
}

void sm_jw_open(struct sm_jw *w, char c)
{
	if (w->st == yajl_gen_status_ok)
		w->st = c == '{' ? yajl_gen_map_open(w->g) : yajl_gen_array_open(w->g);
}

void sm_jw_close(struct sm_jw *w, char c)
{
	if (w->st == yajl_gen_status_ok)
		w->st = c == '}' ? yajl_gen_map_close(w->g) : yajl_gen_array_close(w->g);
}

void sm_jw_strs(struct sm_jw *w, const char *key, const char *const *list)
{
	sm_jw_key(w, key);
	sm_jw_open(w, '[');
	for (; list != NULL && *list != NULL; list++)
		sm_jw_str(w, *list);
	sm_jw_close(w, ']');
}

void sm_jw_map(struct sm_jw *w, const char *key, const struct sm_oci_map *m)
{
	sm_jw_key(w, key);
	sm_jw_open(w, '{');
	for (size_t i = 0; i < m->n; i++) {
		sm_jw_key(w, m->v[i].key);
		sm_jw_str(w, m->v[i].value);
	}
	sm_jw_close(w, '}');
}

static const char *gen_status_text(yajl_gen_status st)
{
	switch (st) {
	case yajl_gen_invalid_string:
		return "a string is not valid UTF-8";
	case yajl_max_depth_exceeded:
		return "nested too deeply";
	case yajl_gen_keys_must_be_strings:
	case yajl_gen_in_error_state:
	case yajl_gen_generation_complete:
		return "internal error: malformed generator call sequence";
	default:
		return "yajl_gen failed";
	}
}

int sm_jw_finish(struct sm_jw *w, const char *what, char **out, size_t *len, sm_error_t *err)
{
	const unsigned char *buf;
	size_t n;
	char *s;

	if (w->st != yajl_gen_status_ok) {
		yajl_gen_free(w->g);
		w->g = NULL;
		return sm_error_set(err, 0, "generate %s: %s", what, gen_status_text(w->st));
	}
	yajl_gen_get_buf(w->g, &buf, &n);
	s = sm_xmalloc(n + 2);
	memcpy(s, buf, n);
	if (n == 0 || s[n - 1] != '\n')
		s[n++] = '\n';
	s[n] = '\0';
	yajl_gen_free(w->g);
	w->g = NULL;
	*out = s;
	if (len != NULL)
		*len = n;
	return 0;
}
