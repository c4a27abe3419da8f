/* SPDX-License-Identifier: Apache-2.0 */
/* Kernel command-line assembly and base64, checked against the guest init's own decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guest/init/cmdline.h"
#include "tests/tap.h"
#include "vmm/cmdline.h"

static void test_base64(void)
{
	static const char *const vec[][2] = {
	    {"", ""},
	    {"f", "Zg=="},
	    {"fo", "Zm8="},
	    {"foo", "Zm9v"},
	    {"foob", "Zm9vYg=="},
	    {"fooba", "Zm9vYmE="},
	    {"foobar", "Zm9vYmFy"},
	};
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		char *e = sm_base64_encode(vec[i][0], strlen(vec[i][0]));
		ok(strcmp(e, vec[i][1]) == 0, "base64(\"%s\") = \"%s\" (got \"%s\")", vec[i][0], vec[i][1],
		   e);
		free(e);
	}
	uint8_t all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	char *e = sm_base64_encode(all, sizeof(all));
	char out[300];
	sm_error_t err = SM_ERROR_INIT;
	long n = sm_init_base64_decode(e, strlen(e), out, sizeof(out), &err);
	ok(n == 256 && memcmp(out, all, 256) == 0,
	   "all byte values survive the guest init's decoder (%ld) %s", n, err.msg);
	free(e);
}

static void test_build(void)
{
	struct sm_cmdline_params p = {0};
	sm_error_t err = SM_ERROR_INIT;
	char *s = NULL;

	int r = sm_cmdline_build(&p, &s, &err);
	ok(r == 0 && strcmp(s, "console=ttyS0 reboot=t panic=-1 " SM_CMDLINE_BASE) == 0,
	   "minimal: fixed + base parameters (%s)", s);
	ok(strstr(s, "sm_pvm") == NULL && strstr(s, "clearcpuid") == NULL,
	   "hardware KVM: no kvm_pvm workarounds");
	free(s);

	const char *dev[] = {"virtio_mmio.device=4K@0xd0000000:5", "", NULL};
	p = (struct sm_cmdline_params){.pvm = true,
				       .cmd = "echo hello",
				       .device_params = dev,
				       .ndevice_params = 3,
				       .append = "loglevel=8"};
	ok(sm_cmdline_build(&p, &s, &err) == 0, "full: %s", err.msg);
	const char *fixed = strstr(s, "console=ttyS0"), *pvm = strstr(s, " sm_pvm clearcpuid=popcnt,cx16,"),
		   *devp = strstr(s, " virtio_mmio.device=4K@0xd0000000:5"),
		   *cmd = strstr(s, " sm.cmd=ZWNobyBoZWxsbw=="), *app = strstr(s, " loglevel=8");
	ok(fixed == s && pvm && devp && cmd && app, "all parts present: %s", s);
	ok(pvm < devp && devp < cmd && cmd < app, "order: fixed, pvm, devices, sm.cmd, --append");
	ok(strcmp(app, " loglevel=8") == 0, "--append is last");
	ok(strstr(s, "  ") == NULL, "empty and NULL device parameters leave no gaps");
	ok(strstr(s, "abm") != NULL && strstr(s, "avx512f") != NULL, "clearcpuid list is complete");

	/* The guest init finds and decodes sm.cmd the way it does at boot. */
	const char *val;
	size_t len;
	char dec[64];
	ok(sm_init_cmdline_find(s, "sm.cmd", &val, &len) == 1 &&
	       sm_init_base64_decode(val, len, dec, sizeof(dec), &err) == 10 &&
	       strcmp(dec, "echo hello") == 0,
	   "guest init decodes sm.cmd back to \"echo hello\"");
	free(s);

	p = (struct sm_cmdline_params){.cmd = "printf '%s\\n' \"a b\"; exit 3\nsecond line"};
	ok(sm_cmdline_build(&p, &s, &err) == 0 && sm_init_cmdline_find(s, "sm.cmd", &val, &len) == 1 &&
	       sm_init_base64_decode(val, len, dec, sizeof(dec), &err) > 0 && strcmp(dec, p.cmd) == 0,
	   "quotes, blanks and newlines in the command survive");
	free(s);

	p = (struct sm_cmdline_params){.append = "a\nb"};
	ok(sm_cmdline_build(&p, &s, &err) < 0 && strstr(err.msg, "newline"),
	   "newline in --append refused: %s", err.msg);
}

static void test_length(void)
{
	struct sm_cmdline_params p = {0};
	sm_error_t err = SM_ERROR_INIT;
	char *s = NULL, *append;
	size_t base;

	ok(sm_cmdline_build(&p, &s, &err) == 0, "base line");
	base = strlen(s);
	free(s);
	/* Fill up to exactly 2047 bytes (the kernel's limit without the NUL), then one more. */
	append = malloc(SM_CMDLINE_MAX);
	memset(append, 'x', SM_CMDLINE_MAX);
	append[SM_CMDLINE_MAX - 1 - base - 1] = '\0';
	p.append = append;
	int r = sm_cmdline_build(&p, &s, &err);
	ok(r == 0 && strlen(s) == SM_CMDLINE_MAX - 1, "2047 bytes are accepted (%zu)",
	   r == 0 ? strlen(s) : 0);
	free(s);
	s = NULL;
	memset(append, 'x', SM_CMDLINE_MAX);
	append[SM_CMDLINE_MAX - base - 1] = '\0';
	ok(sm_cmdline_build(&p, &s, &err) < 0 && strstr(err.msg, "2048 bytes") && strstr(err.msg, "2047"),
	   "2048 bytes are refused with the length: %s", err.msg);
	ok(s == NULL, "no output on failure");
	free(append);

	char *cmd = malloc(2000);
	memset(cmd, 'c', 1999);
	cmd[1999] = '\0';
	p = (struct sm_cmdline_params){.cmd = cmd};
	ok(sm_cmdline_build(&p, &s, &err) < 0 && strstr(err.msg, "shorten the command"),
	   "a long command is refused (base64 grows it): %s", err.msg);
	free(cmd);
}

int main(void)
{
	test_base64();
	test_build();
	test_length();
	return tap_done();
}
