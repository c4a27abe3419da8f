/* SPDX-License-Identifier: Apache-2.0 */
/* Unit test of the guest init's pure helpers (guest/init/cmdline.c), built for the host. */
#include <string.h>

#include "guest/init/cmdline.h"
#include "tests/tap.h"

static int find_is(const char *cmdline, const char *name, const char *want)
{
	const char *v = NULL;
	size_t len = 0;

	if (sm_init_cmdline_find(cmdline, name, &v, &len) != 1)
		return want == NULL;
	if (want == NULL)
		return 0;
	if (v == NULL)
		return strcmp(want, "<flag>") == 0;
	return strlen(want) == len && memcmp(v, want, len) == 0;
}

static void test_cmdline_find(void)
{
	const char *cl = "console=ttyS0 reboot=t sm_pvm sm.cmd=ZWNobyBoaQ== sm.shell\n";

	ok(find_is(cl, "sm.cmd", "ZWNobyBoaQ=="), "finds a value among others");
	ok(find_is(cl, "console", "ttyS0"), "finds the first parameter");
	ok(find_is(cl, "sm.shell", "<flag>"), "a bare flag before the trailing newline has no value");
	ok(find_is(cl, "sm_pvm", "<flag>"), "a bare flag in the middle has no value");
	ok(find_is(cl, "sm", NULL), "a prefix of a name does not match");
	ok(find_is(cl, "sm.cm", NULL), "a prefix of a name with a value does not match");
	ok(find_is(cl, "reboot", "t"), "a one-character value");
	ok(find_is("", "sm.cmd", NULL), "empty command line");
	ok(find_is("   \t ", "sm.cmd", NULL), "blank command line");
	ok(find_is("sm.cmd=a sm.cmd=b", "sm.cmd", "b"), "the last of repeated parameters wins");
	ok(find_is("sm.cmd=", "sm.cmd", ""), "an empty value is found and empty");
	ok(find_is("x=\"a b\" sm.cmd=c", "x", "a b"), "quotes around a value are stripped");
	ok(find_is("x=\"a b\" sm.cmd=c", "sm.cmd", "c"), "a quoted blank does not split the token");
	ok(find_is("x=\"a b sm.cmd=c", "sm.cmd", NULL), "an unterminated quote runs to the end");
	ok(find_is("xsm.cmd=c", "sm.cmd", NULL), "a name must start a token");
}

static int decodes_to(const char *in, const char *want)
{
	char out[64];
	sm_error_t err = SM_ERROR_INIT;
	long n = sm_init_base64_decode(in, strlen(in), out, sizeof(out), &err);

	if (want == NULL)
		return n < 0 && sm_error_isset(&err);
	return n == (long)strlen(want) && strcmp(out, want) == 0;
}

static void test_base64(void)
{
	char small[4];
	sm_error_t err = SM_ERROR_INIT;

	ok(decodes_to("", ""), "empty input decodes to the empty string");
	ok(decodes_to("Zg==", "f"), "one byte with padding");
	ok(decodes_to("Zm8=", "fo"), "two bytes with padding");
	ok(decodes_to("Zm9v", "foo"), "three bytes");
	ok(decodes_to("Zm9vYmFy", "foobar"), "two groups");
	ok(decodes_to("Zg", "f"), "missing padding is accepted");
	ok(decodes_to("Zm8", "fo"), "missing single padding is accepted");
	ok(decodes_to("ZWNobyBoaTsgZXhpdCAz", "echo hi; exit 3"), "a shell command");
	ok(decodes_to("Pz8/Pj4+", "?\?\?>>>"), "'+' and '/' of the standard alphabet");
	ok(decodes_to("Z", NULL), "a lone character is a truncated group");
	ok(decodes_to("Zm9vY", NULL), "a group of one character is truncated");
	ok(decodes_to("Zm=v", NULL), "padding in the middle is rejected");
	ok(decodes_to("Zg=", NULL), "padding in a short group is rejected");
	ok(decodes_to("Zm9v!A==", NULL), "a character outside the alphabet is rejected");
	ok(decodes_to("Zm9v\nYmFy", NULL), "a newline is rejected");
	ok(decodes_to("Zm-_", NULL), "the URL-safe alphabet is rejected");
	ok(sm_init_base64_decode("Zm9v", 4, small, sizeof(small), &err) == 3 && strcmp(small, "foo") == 0,
	   "output exactly fits with its terminating NUL");
	sm_error_clear(&err);
	ok(sm_init_base64_decode("Zm9vYg==", 8, small, sizeof(small), &err) < 0 && sm_error_isset(&err),
	   "too small output is an error, not an overflow");
	sm_error_clear(&err);
	ok(sm_init_base64_decode("", 0, small, 0, &err) < 0, "no room for the NUL is an error");
}

int main(void)
{
	test_cmdline_find();
	test_base64();
	return tap_done();
}
