/* SPDX-License-Identifier: Apache-2.0 */
/* Container id validation and signal-name parsing. */
#include <signal.h>
#include <string.h>

#include "common/util.h"
#include "oci/id.h"
#include "oci/names.h"
#include "tests/tap.h"

static void test_ids(void)
{
	static const char *const good[] = {"a", "0", "ctr-1", "my_container.v2+x", "A1b2C3", "a.b.c"};
	static const struct {
		const char *id, *want;
	} bad[] = {
	    {"", "invalid container id: empty"},
	    {"a/b", "invalid container id \"a/b\": '/' at offset 1 (allowed: A-Z a-z 0-9 _ . + -)"},
	    {".", "invalid container id \".\": '.' at offset 0 (must start with a letter or digit)"},
	    {"..", "invalid container id \"..\": '.' at offset 0 (must start with a letter or digit)"},
	    {"-rf", "invalid container id \"-rf\": '-' at offset 0 (must start with a letter or digit)"},
	    {"_x", "invalid container id \"_x\": '_' at offset 0 (must start with a letter or digit)"},
	    {"a..b", "invalid container id \"a..b\": must not contain \"..\""},
	    {"a b", "invalid container id \"a b\": ' ' at offset 1 (allowed: A-Z a-z 0-9 _ . + -)"},
	    {"a,b", "invalid container id \"a,b\": ',' at offset 1 (allowed: A-Z a-z 0-9 _ . + -)"},
	    {"a\nb",
	     "invalid container id: byte 0x0a at offset 1 (allowed: A-Z a-z 0-9 and _ . + - after the "
	     "first)"},
	    {"caf\xc3\xa9",
	     "invalid container id: byte 0xc3 at offset 3 (allowed: A-Z a-z 0-9 and _ . + - after "
	     "the first)"},
	};
	char longid[SM_OCI_ID_MAX + 2];
	sm_error_t err = SM_ERROR_INIT;

	for (size_t i = 0; i < SM_ARRAY_SIZE(good); i++) {
		ok(sm_oci_id_validate(good[i], &err) == 0, "valid id \"%s\": %s", good[i], err.msg);
	}
	for (size_t i = 0; i < SM_ARRAY_SIZE(bad); i++) {
		sm_error_clear(&err);
		ok(sm_oci_id_validate(bad[i].id, &err) < 0 && strcmp(err.msg, bad[i].want) == 0,
		   "invalid id %zu: %s", i, err.msg);
	}
	memset(longid, 'a', SM_OCI_ID_MAX);
	longid[SM_OCI_ID_MAX] = '\0';
	ok(sm_oci_id_validate(longid, &err) == 0, "id of exactly %d bytes", SM_OCI_ID_MAX);
	longid[SM_OCI_ID_MAX] = 'a';
	longid[SM_OCI_ID_MAX + 1] = '\0';
	ok(sm_oci_id_validate(longid, &err) < 0 && strstr(err.msg, "longer than 255 bytes") != NULL,
	   "too long: %s", err.msg);
}

static void test_signals(void)
{
	static const struct {
		const char *s;
		int want;
	} good[] = {{"9", SIGKILL},  {"KILL", SIGKILL},	   {"SIGKILL", SIGKILL}, {"sigterm", SIGTERM},
		    {"hup", SIGHUP}, {"SIGCHLD", SIGCHLD}, {"WINCH", SIGWINCH},	 {"SIGRTMIN", 0},
		    {"RTMIN+2", 2},  {"SIGRTMAX-1", -1}};
	static const char *const bad[] = {
	    "", "0", "KIL", "SIGFOO", "RTMIN-1", "RTMAX+1", "RTMIN+", "12x", "99999999999999999999"};
	sm_error_t err = SM_ERROR_INIT;

	for (size_t i = 0; i < SM_ARRAY_SIZE(good); i++) {
		int want = good[i].want, sig = -100;
		if (strstr(good[i].s, "RTMIN") != NULL)
			want += SIGRTMIN;
		else if (strstr(good[i].s, "RTMAX") != NULL)
			want += SIGRTMAX;
		ok(sm_oci_signal_parse(good[i].s, &sig, &err) == 0 && sig == want, "signal %s = %d (got %d)",
		   good[i].s, want, sig);
	}
	for (size_t i = 0; i < SM_ARRAY_SIZE(bad); i++) {
		int sig;
		sm_error_clear(&err);
		ok(sm_oci_signal_parse(bad[i], &sig, &err) < 0 && strstr(err.msg, "invalid signal") != NULL,
		   "bad signal \"%s\": %s", bad[i], err.msg);
	}
}

static void test_tables(void)
{
	int v = -1;
	ok(sm_oci_name_count(sm_oci_capability_names) == 41 &&
	       strcmp(sm_oci_name_of(sm_oci_capability_names, 40), "CAP_CHECKPOINT_RESTORE") == 0,
	   "41 capabilities, numbered by the kernel");
	for (size_t i = 0; sm_oci_capability_names[i].name != NULL; i++)
		if (sm_oci_capability_names[i].value != (int)i)
			v = (int)i;
	ok(v == -1, "capability table is dense and ordered");
	ok(sm_oci_name_lookup(sm_oci_namespace_names, "time", &v) == 0 && v == SM_OCI_NS_TIME,
	   "namespace lookup");
	ok(sm_oci_name_lookup(sm_oci_hook_names, "poststop", &v) == 0 && v == SM_OCI_HOOK_POSTSTOP,
	   "hook lookup");
}

int main(void)
{
	test_ids();
	test_signals();
	test_tables();
	return tap_done();
}
