/* SPDX-License-Identifier: Apache-2.0 */
/* Encoding of the FUSE notifications the server can send to the guest. */
#include <errno.h>
#include <linux/fuse.h>
#include <string.h>

#include "tests/tap.h"
#include "virtiofs/fuse_server.h"

static void test_inval_inode(void)
{
	struct {
		struct fuse_out_header oh;
		struct fuse_notify_inval_inode_out a;
	} m;
	sm_error_t err = SM_ERROR_INIT;
	uint8_t buf[64];
	size_t len = 99;
	int r;

	memset(buf, 0xee, sizeof(buf));
	r = sm_fuse_notify_inval_inode(0x500000003ull, -1, 0, buf, sizeof(buf), &len, &err);
	memcpy(&m, buf, sizeof(m));
	ok(r == 0 && len == 40, "INVAL_INODE is 40 bytes (%d, %zu)", r, len);
	ok(m.oh.len == 40 && m.oh.error == FUSE_NOTIFY_INVAL_INODE && m.oh.unique == 0,
	   "header: len, notify code in error, unique 0");
	ok(m.a.ino == 0x500000003ull && m.a.off == -1 && m.a.len == 0,
	   "argument: nodeid, off -1 (attrs only), len 0");
	ok(buf[40] == 0xee, "nothing written past the message");
	r = sm_fuse_notify_inval_inode(1, 0, 4096, buf, 39, &len, &err);
	ok(r == -ENOSPC && len == 0, "39-byte buffer: ENOSPC (%s)", err.msg);
}

static void test_inval_entry(void)
{
	struct fuse_out_header oh;
	struct fuse_notify_inval_entry_out a;
	sm_error_t err = SM_ERROR_INIT;
	uint8_t buf[400];
	size_t len = 0;
	int r;

	memset(buf, 0xee, sizeof(buf));
	r = sm_fuse_notify_inval_entry(7, "foo", FUSE_EXPIRE_ONLY, buf, sizeof(buf), &len, &err);
	memcpy(&oh, buf, sizeof(oh));
	memcpy(&a, buf + sizeof(oh), sizeof(a));
	ok(r == 0 && len == 16 + 16 + 4, "INVAL_ENTRY of \"foo\" is 36 bytes (%d, %zu)", r, len);
	ok(oh.len == 36 && oh.error == FUSE_NOTIFY_INVAL_ENTRY && oh.unique == 0, "header");
	ok(a.parent == 7 && a.namelen == 3 && a.flags == FUSE_EXPIRE_ONLY,
	   "argument: parent, namelen, flags");
	ok(memcmp(buf + 32, "foo", 4) == 0 && buf[36] == 0xee, "name with its NUL, nothing after");
	ok(sm_fuse_notify_inval_entry(7, "a/b", 0, buf, sizeof(buf), &len, &err) == -EINVAL,
	   "a/b refused: %s", err.msg);
	ok(sm_fuse_notify_inval_entry(7, "..", 0, buf, sizeof(buf), &len, &err) == -EINVAL, ".. refused");
	ok(sm_fuse_notify_inval_entry(7, "", 0, buf, sizeof(buf), &len, &err) == -EINVAL,
	   "empty name refused");
	ok(sm_fuse_notify_inval_entry(7, "foo", 0, buf, 35, &len, &err) == -ENOSPC, "35-byte buffer: ENOSPC");
	{
		char name[256];

		memset(name, 'n', 255);
		name[255] = '\0';
		r = sm_fuse_notify_inval_entry(1, name, 0, buf, sizeof(buf), &len, &err);
		ok(r == 0 && len == 32 + 256, "255-byte name fits (%zu)", len);
	}
}

int main(void)
{
	test_inval_inode();
	test_inval_entry();
	return tap_done();
}
