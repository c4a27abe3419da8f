/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The monitor's vsock CID (runtime/monitor-cid.c) on the real lock directory: the hash stays in
 * 4..0xfffffffe and depends on the state directory; a CID held by one claim is not given to a
 * second one with the same hash; release removes the lock file and frees the CID again.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/monitor-internal.h"
#include "tests/tap.h"

static char dir[] = "/tmp/monitor-cid-test-XXXXXX";

static bool lock_file_exists(uint32_t cid)
{
	cleanup_free char *d = sm_mon_cid_dir();
	cleanup_free char *p = sm_xasprintf("%s/%u", d, cid);

	return access(p, F_OK) == 0;
}

static uint32_t cid_file(void)
{
	cleanup_free char *text = NULL;
	sm_error_t err = SM_ERROR_INIT;
	size_t len;

	if (sm_read_file("vsock-cid", 64, &text, &len, &err) < 0)
		return 0;
	return (uint32_t)strtoul(text, NULL, 10);
}

int main(void)
{
	struct sm_monitor_opts o = {0};
	struct sm_mon a = {.o = &o, .cid_lock_fd = -1, .cid_dir_fd = -1};
	struct sm_mon b = {.o = &o, .cid_lock_fd = -1, .cid_dir_fd = -1};
	uint32_t h = 0, min = UINT32_MAX, max = 0;
	bool differ = false;

	for (int i = 0; i < 2000; i++) {
		char path[64];
		uint32_t c;

		snprintf(path, sizeof(path), "/run/sm-runtime/c%d", i);
		c = sm_mon_cid_hash(path);
		min = c < min ? c : min;
		max = c > max ? c : max;
		differ |= i > 0 && c != h;
		h = c;
	}
	ok(min >= 4 && max <= 0xfffffffeu, "hashed CIDs stay in 4..0xfffffffe (%u..%u)", min, max);
	ok(differ, "state directories hash to different CIDs");
	ok(sm_mon_cid_hash("/run/sm-runtime/x") == sm_mon_cid_hash("/run/sm-runtime/x"),
	   "the hash is stable");

	if (mkdtemp(dir) == NULL || chdir(dir) < 0)
		tap_skip_all("no temporary directory");
	o.dir = dir;
	sm_mon_cid_claim(&a);
	if (a.cid_lock_fd < 0) {
		ok(a.cid == sm_mon_cid_hash(dir), "without the lock directory the hashed CID is used");
		sm_mon_cid_release(&a);
		unlink("vsock-cid");
		rmdir(dir);
		return tap_done();
	}
	ok(a.cid == sm_mon_cid_hash(dir), "the first claim gets the hashed CID %u", a.cid);
	ok(cid_file() == a.cid, "<state dir>/vsock-cid names it");
	ok(lock_file_exists(a.cid), "its lock file exists");
	/* flock() conflicts between open files of one process too: b is a second monitor. */
	sm_mon_cid_claim(&b);
	ok(b.cid_lock_fd >= 0 && b.cid != a.cid, "a second claim of the same hash moves on (%u)", b.cid);
	sm_mon_cid_release(&a);
	ok(!lock_file_exists(a.cid) && a.cid_lock_fd == -1, "release removes the lock file");
	sm_mon_cid_release(&a);
	ok(1, "a second release is harmless");
	sm_mon_cid_release(&b);
	sm_mon_cid_claim(&b);
	ok(b.cid == sm_mon_cid_hash(dir), "once released, the hashed CID is free again");
	sm_mon_cid_release(&b);
	unlink("vsock-cid");
	rmdir(dir);
	return tap_done();
}
