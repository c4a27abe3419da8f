/* SPDX-License-Identifier: Apache-2.0 */
/* state.json: serialize/parse round trip, atomic save/load, validation, pid-reuse detection. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "oci/state.h"
#include "tests/tap.h"

static void map_add(struct sm_oci_map *m, const char *k, const char *v)
{
	m->v = realloc(m->v, (m->n + 1) * sizeof(*m->v));
	if (m->v == NULL)
		abort();
	m->v[m->n].key = sm_xstrdup(k);
	m->v[m->n].value = sm_xstrdup(v);
	m->n++;
}

static void fill(struct sm_oci_state *st)
{
	memset(st, 0, sizeof(*st));
	st->oci_version = sm_xstrdup("1.2.0");
	st->id = sm_xstrdup("ctr-1.a_b+c");
	st->status = SM_OCI_STATUS_RUNNING;
	st->pid = 4242;
	st->bundle = sm_xstrdup("/run/bundles/ctr \"1\"\tx");
	map_add(&st->annotations, "org.example", "v\u00e9\u2603");
	map_add(&st->annotations, "empty", "");
	st->rootfs = sm_xstrdup("/run/bundles/ctr/rootfs");
	st->created_ns = 1700000000123456789LL;
	st->owner_uid = 4294967295u;
	st->vmm_pid = 777;
	st->vmm_start_time = 18446744073709551615ULL;
	map_add(&st->sockets, "vmm", "/run/sm/ctr-1/vmm.sock");
	map_add(&st->sockets, "console", "/run/sm/ctr-1/console.sock");
}

static bool maps_equal(const struct sm_oci_map *a, const struct sm_oci_map *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i].key, b->v[i].key) != 0 || strcmp(a->v[i].value, b->v[i].value) != 0)
			return false;
	return true;
}

static bool states_equal(const struct sm_oci_state *a, const struct sm_oci_state *b)
{
	return strcmp(a->oci_version, b->oci_version) == 0 && strcmp(a->id, b->id) == 0 &&
	       a->status == b->status && a->pid == b->pid && strcmp(a->bundle, b->bundle) == 0 &&
	       maps_equal(&a->annotations, &b->annotations) && strcmp(a->rootfs, b->rootfs) == 0 &&
	       a->created_ns == b->created_ns && a->owner_uid == b->owner_uid && a->vmm_pid == b->vmm_pid &&
	       a->vmm_start_time == b->vmm_start_time && maps_equal(&a->sockets, &b->sockets);
}

static void test_round_trip(void)
{
	struct sm_oci_state st, back = {0};
	cleanup_free char *json = NULL, *json2 = NULL;
	sm_error_t err = SM_ERROR_INIT;
	size_t len = 0, len2 = 0;

	fill(&st);
	ok(sm_oci_state_to_json(&st, SM_OCI_STATE_PRIVATE, &json, &len, &err) == 0, "serialize: %s", err.msg);
	ok(json != NULL && strlen(json) == len && json[len - 1] == '\n', "NUL-terminated, newline-ended");
	ok(sm_oci_state_parse(json, len, "state.json", &back, &err) == 0, "parse back: %s", err.msg);
	ok(states_equal(&st, &back), "every field survives the round trip");
	ok(sm_oci_state_to_json(&back, SM_OCI_STATE_PRIVATE, &json2, &len2, &err) == 0 && len == len2 &&
	       memcmp(json, json2, len) == 0,
	   "re-serialization is byte-identical");
	for (int s = SM_OCI_STATUS_CREATING; s <= SM_OCI_STATUS_PAUSED; s++) {
		enum sm_oci_status parsed;
		ok(sm_oci_status_parse(sm_oci_status_name((enum sm_oci_status)s), &parsed) == 0 &&
		       (int)parsed == s,
		   "status %s round-trips", sm_oci_status_name((enum sm_oci_status)s));
	}
	sm_oci_state_clear(&back);
	sm_oci_state_clear(&st);
	ok(st.id == NULL && st.annotations.n == 0, "clear zeroes");
}

static void test_public_form(void)
{
	struct sm_oci_state st;
	cleanup_free char *json = NULL;
	sm_error_t err = SM_ERROR_INIT;

	fill(&st);
	ok(sm_oci_state_to_json(&st, SM_OCI_STATE_PRETTY, &json, NULL, &err) == 0, "public form: %s",
	   err.msg);
	ok(json != NULL && strstr(json, "smRuntime") == NULL && strstr(json, "vmm.sock") == NULL,
	   "public form hides private fields");
	ok(json != NULL && strstr(json, "\"created\": \"2023-11-14T22:13:20.123456789Z\"") != NULL,
	   "created is RFC 3339 with nanoseconds");
	ok(json != NULL && strstr(json, "\"status\": \"running\"") != NULL &&
	       strstr(json, "\"pid\": 4242") != NULL,
	   "status and pid");
	free(json);
	json = NULL;
	st.created_ns = 1700000000500000000LL;
	st.status = SM_OCI_STATUS_STOPPED;
	st.pid = 0;
	ok(sm_oci_state_to_json(&st, 0, &json, NULL, &err) == 0 &&
	       strstr(json, "\"2023-11-14T22:13:20.5Z\"") && strstr(json, "\"pid\":0"),
	   "trailing zeros trimmed like Go; stopped has pid 0");
	free(st.bundle);
	st.bundle = sm_xstrdup("/bundle/\xff\xfe");
	free(json);
	json = NULL;
	ok(sm_oci_state_to_json(&st, 0, &json, NULL, &err) < 0 &&
	       strcmp(err.msg, "generate state: a string is not valid UTF-8") == 0,
	   "non-UTF-8 path refused: %s", err.msg);
	sm_oci_state_clear(&st);
}

static int count_entries(const char *dir)
{
	cleanup_dir DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d != NULL && (e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	return n;
}

static void test_save_load(void)
{
	char dir[] = "/tmp/sm-oci-state-XXXXXX";
	cleanup_free char *path = NULL;
	struct sm_oci_state st, back = {0};
	sm_error_t err = SM_ERROR_INIT;
	struct stat sb;

	ok(mkdtemp(dir) != NULL, "mkdtemp");
	path = sm_xasprintf("%s/state.json", dir);
	fill(&st);
	ok(sm_oci_state_save(&st, path, &err) == 0, "save: %s", err.msg);
	ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "state file mode 0600");
	ok(count_entries(dir) == 1, "no temporary file left behind");
	ok(sm_oci_state_load(path, &back, &err) == 0 && states_equal(&st, &back),
	   "load gives the saved state: %s", err.msg);
	sm_oci_state_clear(&back);
	st.status = SM_OCI_STATUS_STOPPED;
	ok(sm_oci_state_save(&st, path, &err) == 0 && sm_oci_state_load(path, &back, &err) == 0 &&
	       back.status == SM_OCI_STATUS_STOPPED && count_entries(dir) == 1,
	   "overwrite in place");
	sm_oci_state_clear(&back);
	sm_oci_state_clear(&st);
	unlink(path);
	ok(sm_oci_state_load(path, &back, &err) == -ENOENT && strstr(err.msg, path) != NULL,
	   "missing state named: %s", err.msg);
	rmdir(dir);
}

static void test_bad(void)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
	    {"{\"id\":\"a\",\"status\":\"created\",\"bundle\":\"/b\"}",
	     "state.json: ociVersion: required but missing"},
	    {"{\"ociVersion\":\"1.2.0\",\"id\":\"a/b\",\"status\":\"created\",\"bundle\":\"/b\"}",
	     "state.json: id: invalid container id \"a/b\": '/' at offset 1 (allowed: A-Z a-z 0-9 _ . + -)"},
	    {"{\"ociVersion\":\"1.2.0\",\"id\":\"a\",\"status\":\"zombie\",\"bundle\":\"/b\"}",
	     "state.json: status: unknown status"},
	    {"{\"ociVersion\":\"1.2.0\",\"id\":\"a\",\"status\":\"created\",\"bundle\":\"b\"}",
	     "state.json: bundle: must be an absolute path"},
	    {"{\"ociVersion\":\"1.2.0\",\"id\":\"a\",\"status\":\"created\",\"bundle\":\"/b\",\"pid\":-3}",
	     "state.json: pid: value -3 out of range [0, 2147483647]"},
	    {"{\"ociVersion\":\"1.2.0\",\"id\":\"a\",\"status\":\"created\",\"bundle\":\"/"
	     "b\",\"smRuntime\":{\"version\":2}}",
	     "state.json: smRuntime.version: state format 2 is not 1: written by another sm-runtime version"},
	    {"{\"ociVersion\":\"1.2.0\",\"id\":\"a\",\"status\":\"created\",\"bundle\":\"/b\",\"smRuntime\":"
	     "{\"version\":1,\"sockets\":{\"vmm\":3}}}",
	     "state.json: smRuntime.sockets[\"vmm\"]: expected a string"},
	    {"{\"ociVersion\":\"1.2.0\"", "state.json: invalid JSON: *"},
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(cases); i++) {
		struct sm_oci_state st = {0};
		sm_error_t err = SM_ERROR_INIT;
		size_t wl = strlen(cases[i].want);
		bool prefix = cases[i].want[wl - 1] == '*';
		int r = sm_oci_state_parse(cases[i].json, strlen(cases[i].json), "state.json", &st, &err);
		ok(r < 0 &&
		       (prefix ? strncmp(err.msg, cases[i].want, wl - 1) == 0
			       : strcmp(err.msg, cases[i].want) == 0) &&
		       st.oci_version == NULL,
		   "bad state %zu: %s", i, err.msg);
	}
	{
		const char *pub = "{\"ociVersion\":\"1.0.2\",\"id\":\"x\",\"pid\":5,\"status\":\"running\","
				  "\"bundle\":\"/b\",\"extra\":[1,2]}";
		struct sm_oci_state st = {0};
		sm_error_t err = SM_ERROR_INIT;
		ok(sm_oci_state_parse(pub, strlen(pub), "state.json", &st, &err) == 0 && st.pid == 5 &&
		       st.vmm_pid == 0,
		   "public form with unknown keys parses: %s", err.msg);
		sm_oci_state_clear(&st);
	}
}

static void test_pid_reuse(void)
{
	struct sm_oci_state st = {0};
	sm_error_t err = SM_ERROR_INIT;
	uint64_t start = 0;
	pid_t child;
	int status;

	ok(sm_oci_proc_start_time(getpid(), &start, &err) == 0 && start > 0, "own start time %llu: %s",
	   (unsigned long long)start, err.msg);
	st.vmm_pid = getpid();
	st.vmm_start_time = start;
	ok(sm_oci_state_vmm_alive(&st, &err) == 1, "running VMM with matching start time is alive");
	st.vmm_start_time = start + 1;
	ok(sm_oci_state_vmm_alive(&st, &err) == 0, "same pid, other start time: pid was reused");
	child = fork();
	if (child == 0)
		_exit(0);
	ok(child > 0 && sm_oci_proc_start_time(child, &start, &err) == 0, "child start time");
	ok(waitpid(child, &status, 0) == child, "child reaped");
	st.vmm_pid = child;
	st.vmm_start_time = start;
	ok(sm_oci_state_vmm_alive(&st, &err) == 0, "exited VMM is not alive");
	ok(sm_oci_proc_start_time(child, &start, &err) == -ENOENT, "start time of a gone pid: %s", err.msg);
	st.vmm_pid = 0;
	ok(sm_oci_state_vmm_alive(&st, &err) == 0, "no VMM recorded");
}

int main(void)
{
	test_round_trip();
	test_public_form();
	test_save_load();
	test_bad();
	test_pid_reuse();
	return tap_done();
}
