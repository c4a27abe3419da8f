/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_OCI_JSON_H
#define SM_OCI_JSON_H

/*
 * Internal helpers of the oci layer over yajl: reading a yajl_tree while tracking the JSON path
 * for error messages ("config.json: process.args[2]: expected a string"), and writing JSON with
 * yajl_gen. Not for use outside oci/.
 */
#include <stdbool.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "common/error.h"
#include "oci/config.h"

/* At most this many unknown keys / warnings are listed; the last entry then says how many more. */
#define SM_J_MAX_NOTES 256

struct sm_jctx {
	const char *file;
	char path[512];
	size_t len;
	sm_error_t *err;
	struct sm_oci_strv *unknown; /* NULL: not recorded */
	struct sm_oci_strv *warnings;
	size_t n_unknown_dropped, n_warnings_dropped;
};

/*
 * Parse json[0..len) into a yajl tree after checking what yajl_tree would get wrong or do badly:
 * NUL bytes, "\u0000" escapes (yajl_tree would silently truncate the string), and nesting deeper
 * than SM_OCI_JSON_MAX_DEPTH (yajl_tree_free recurses). name prefixes errors.
 */
int sm_j_parse(const char *json, size_t len, const char *name, yajl_val *out, sm_error_t *err);

/* Initialise a walk context for file name. */
void sm_j_init(struct sm_jctx *c, const char *file, struct sm_oci_strv *unknown, struct sm_oci_strv *warnings,
	       sm_error_t *err);

/* Path stack: push returns a mark to pass to sm_j_pop. */
size_t sm_j_push_key(struct sm_jctx *c, const char *key);
size_t sm_j_push_index(struct sm_jctx *c, size_t i);
size_t sm_j_push_mapkey(struct sm_jctx *c, const char *key);
void sm_j_pop(struct sm_jctx *c, size_t mark);

/* Fail with "file: path: message" for the current path; returns -1. */
int sm_j_fail(struct sm_jctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, for the member key of the current object (e.g. a missing required field). */
int sm_j_fail_key(struct sm_jctx *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Record "path: message" as a warning. */
void sm_j_warn(struct sm_jctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Check that v is an object, that none of the known keys (NULL-terminated) appears twice, and
 * record every other key as unknown.
 */
int sm_j_object(struct sm_jctx *c, yajl_val v, const char *const *known);

/* Fail with `path["key"]: duplicate key` when the object obj (a map) has a key twice. */
int sm_j_unique_keys(struct sm_jctx *c, yajl_val obj);

/* The value of key in object v, or NULL when absent or JSON null. */
yajl_val sm_j_get(yajl_val obj, const char *key);

/* Typed readers of the value v at the current path (v must not be NULL). */
int sm_j_str(struct sm_jctx *c, yajl_val v, char **out);
int sm_j_bool(struct sm_jctx *c, yajl_val v, bool *out);
int sm_j_uint(struct sm_jctx *c, yajl_val v, uint64_t max, uint64_t *out);
int sm_j_int(struct sm_jctx *c, yajl_val v, int64_t min, int64_t max, int64_t *out);
int sm_j_strv(struct sm_jctx *c, yajl_val v, struct sm_oci_strv *out);
int sm_j_map(struct sm_jctx *c, yajl_val v, struct sm_oci_map *out);
/* A string that must be one of table's names; *value gets its number. */
int sm_j_enum(struct sm_jctx *c, yajl_val v, const struct sm_oci_name *table, const char *what, int *value);

/* Member readers: look key up in obj, push it on the path, read, pop. opt_* leave *out alone when absent. */
int sm_j_opt_str(struct sm_jctx *c, yajl_val obj, const char *key, char **out);
int sm_j_req_str(struct sm_jctx *c, yajl_val obj, const char *key, char **out);
int sm_j_opt_bool(struct sm_jctx *c, yajl_val obj, const char *key, bool *out);
int sm_j_opt_tbool(struct sm_jctx *c, yajl_val obj, const char *key, struct sm_oci_bool *out);
int sm_j_opt_uint(struct sm_jctx *c, yajl_val obj, const char *key, uint64_t max, struct sm_oci_u64 *out);
int sm_j_req_uint(struct sm_jctx *c, yajl_val obj, const char *key, uint64_t max, uint64_t *out);
int sm_j_opt_int(struct sm_jctx *c, yajl_val obj, const char *key, int64_t min, int64_t max,
		 struct sm_oci_i64 *out);
int sm_j_req_int(struct sm_jctx *c, yajl_val obj, const char *key, int64_t min, int64_t max, int64_t *out);
int sm_j_opt_strv(struct sm_jctx *c, yajl_val obj, const char *key, struct sm_oci_strv *out);
int sm_j_opt_map(struct sm_jctx *c, yajl_val obj, const char *key, struct sm_oci_map *out);

/* Reads the element (or sub-object) v at the current path into out. */
typedef int (*sm_j_fn)(struct sm_jctx *c, yajl_val v, void *out);

/*
 * Array member: allocate *arr with one zeroed elem_size element per entry, attach it (so a
 * failure half-way leaves something sm_oci_config_free() can free) and call fn on each.
 */
int sm_j_opt_array(struct sm_jctx *c, yajl_val obj, const char *key, size_t elem_size, sm_j_fn fn, void *arr,
		   size_t *n);
/* Sub-object member: when present call fn(c, value, out) with key pushed; returns 1 when present. */
int sm_j_opt_sub(struct sm_jctx *c, yajl_val obj, const char *key, sm_j_fn fn, void *out);

/* True when s is an absolute path. */
static inline bool sm_j_abs(const char *s)
{
	return s != NULL && s[0] == '/';
}

/* A yajl_gen wrapper that remembers the first failure, so generators need not check each call. */
struct sm_jw {
	yajl_gen g;
	yajl_gen_status st;
};

void sm_jw_init(struct sm_jw *w, bool pretty);
void sm_jw_key(struct sm_jw *w, const char *key);
void sm_jw_str(struct sm_jw *w, const char *s); /* NULL -> null */
void sm_jw_int(struct sm_jw *w, int64_t v);
void sm_jw_uint(struct sm_jw *w, uint64_t v);
void sm_jw_bool(struct sm_jw *w, bool v);
void sm_jw_open(struct sm_jw *w, char c);  /* '{' or '[' */
void sm_jw_close(struct sm_jw *w, char c); /* '}' or ']' */
/* key: ["a", "b"] from a NULL-terminated list. */
void sm_jw_strs(struct sm_jw *w, const char *key, const char *const *list);
/* key: {k: v, ...} from a map. */
void sm_jw_map(struct sm_jw *w, const char *key, const struct sm_oci_map *m);
/* Hand the output to *out (malloc'd, NUL-terminated, ending in a newline) and free the generator. */
int sm_jw_finish(struct sm_jw *w, const char *what, char **out, size_t *len, sm_error_t *err);

#endif
