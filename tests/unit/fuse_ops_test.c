/* SPDX-License-Identifier: Apache-2.0 */
/* Every FUSE opcode the server handles, driven with requests built as bytes, on real files. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tests/fuzz/fuse_req.h"
#include "tests/tap.h"
#include "tests/unit/fuse_testlib.h"

static struct ft T;

static uint64_t lookup_id(const char *name)
{
	struct fuse_entry_out e;

	return ft_lookup(&T, FUSE_ROOT_ID, name, &e) == 0 ? e.nodeid : 0;
}

static void test_init(void)
{
	struct fuse_init_in in = {0};
	struct fuse_init_out out;
	uint64_t flags;
	size_t len;
	int r;

	r = ft_req(&T, FUSE_GETATTR, FUSE_ROOT_ID, &(struct fuse_getattr_in){0},
		   sizeof(struct fuse_getattr_in), NULL, 0, NULL, 0, &out, sizeof(out), &len);
	ok(r == -EIO, "request before INIT gets EIO (%d)", r);

	in.major = 7;
	in.minor = 41;
	in.max_readahead = 65536;
	in.flags = FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO |
		   FUSE_MAX_PAGES | FUSE_INIT_EXT | FUSE_POSIX_LOCKS | FUSE_WRITEBACK_CACHE |
		   FUSE_MAP_ALIGNMENT | FUSE_SPLICE_READ | FUSE_HANDLE_KILLPRIV_V2;
	in.flags2 = (uint32_t)((FUSE_SECURITY_CTX | FUSE_HAS_INODE_DAX) >> 32);
	memset(&out, 0, sizeof(out));
	r = ft_req(&T, FUSE_INIT, 0, &in, sizeof(in), NULL, 0, NULL, 0, &out, sizeof(out), &len);
	flags = out.flags | ((uint64_t)out.flags2 << 32);
	ok(r == 0 && len == sizeof(out), "INIT answered with a full fuse_init_out (%d, %zu)", r, len);
	ok(out.major == 7 && out.minor == FUSE_KERNEL_MINOR_VERSION,
	   "version 7.%u (ours, below the guest's 41)", out.minor);
	ok(out.max_write == (1u << 20) && out.max_pages == 256 && out.max_readahead == 65536,
	   "max_write 1 MiB, max_pages 256, readahead echoed");
	ok((flags & FUSE_DO_READDIRPLUS) && (flags & FUSE_MAX_PAGES) && (flags & FUSE_ATOMIC_O_TRUNC) &&
	       (flags & FUSE_INIT_EXT),
	   "supported flags granted (%#llx)", (unsigned long long)flags);
	ok(!(flags & FUSE_POSIX_LOCKS) && !(flags & FUSE_WRITEBACK_CACHE) && !(flags & FUSE_SECURITY_CTX) &&
	       !(flags & FUSE_SPLICE_READ) && !(flags & FUSE_HANDLE_KILLPRIV_V2),
	   "unsupported offered flags refused");
	ok(!(flags & FUSE_MAP_ALIGNMENT) && !(flags & FUSE_HAS_INODE_DAX) && out.map_alignment == 0,
	   "no DAX flags without a DAX window");

	in.minor = 41;
	in.major = 8;
	memset(&out, 0, sizeof(out));
	r = ft_req(&T, FUSE_INIT, 0, &in, sizeof(in), NULL, 0, NULL, 0, &out, sizeof(out), &len);
	ok(r == 0 && out.major == 7, "newer major: reply with our major so the guest retries (%d, %u)", r,
	   out.major);
	in.major = 7;
	in.minor = 20;
	r = ft_req(&T, FUSE_INIT, 0, &in, sizeof(in), NULL, 0, NULL, 0, &out, sizeof(out), &len);
	ok(r == -EPROTO, "too old a minor is refused (%d)", r);
	in.minor = 36;
	memset(&out, 0, sizeof(out));
	r = ft_req(&T, FUSE_INIT, 0, &in, sizeof(in), NULL, 0, NULL, 0, &out, sizeof(out), &len);
	ok(r == 0 && out.minor == 36, "older guest minor is used (%u)", out.minor);
	ok(ft_init(&T) == 0, "re-INIT as 7.41");
}

static void test_lookup_getattr_forget(void)
{
	struct fuse_entry_out e, e2;
	struct fuse_attr a;
	struct stat st;
	size_t len;
	int r;

	ft_spit(ft_path(&T, "hello"), "hello world\n");
	link(ft_path(&T, "hello"), ft_path(&T, "hello2"));
	stat(ft_path(&T, "hello"), &st);
	r = ft_lookup(&T, FUSE_ROOT_ID, "hello", &e);
	ok(r == 0 && e.nodeid > 1 && e.attr.size == 12 && e.attr.ino == st.st_ino && S_ISREG(e.attr.mode),
	   "LOOKUP finds a file (%d, nodeid %#llx)", r, (unsigned long long)e.nodeid);
	ok(e.entry_valid == 1 && e.attr_valid == 1, "timeouts are the configured 1 s");
	r = ft_lookup(&T, FUSE_ROOT_ID, "hello2", &e2);
	ok(r == 0 && e2.nodeid == e.nodeid && e2.attr.nlink == 2, "a hard link shares the nodeid");
	r = ft_lookup(&T, FUSE_ROOT_ID, "missing", &e2);
	ok(r == 0 && e2.nodeid == 0 && e2.entry_valid == 1, "a miss is a cached negative entry (nodeid 0)");

	r = ft_getattr(&T, e.nodeid, &a);
	ok(r == 0 && a.size == 12 && a.uid == st.st_uid && a.mode == st.st_mode, "GETATTR (%d)", r);
	r = ft_getattr(&T, FUSE_ROOT_ID, &a);
	ok(r == 0 && S_ISDIR(a.mode), "GETATTR of the root");

	/* two lookups taken; forgetting one keeps it, forgetting the other drops it */
	ok(ft_forget(&T, e.nodeid, 1) == 0 && T.written == 0, "FORGET has no reply");
	ok(ft_getattr(&T, e.nodeid, &a) == 0, "still known after a partial FORGET");
	ok(ft_forget(&T, e.nodeid, 1) == 0, "FORGET the rest");
	r = ft_getattr(&T, e.nodeid, &a);
	ok(r == -ESTALE, "forgotten nodeid is stale (%d)", r);

	{
		struct fuse_entry_out x, y;
		struct {
			struct fuse_batch_forget_in h;
			struct fuse_forget_one one[2];
		} bf = {{2, 0}, {{0, 1}, {0, 1}}};

		ft_lookup(&T, FUSE_ROOT_ID, "hello", &x);
		ft_mkdir(&T, FUSE_ROOT_ID, "bfdir", 0755, &y);
		bf.one[0].nodeid = x.nodeid;
		bf.one[1].nodeid = y.nodeid;
		r = ft_req(&T, FUSE_BATCH_FORGET, 0, &bf, sizeof(bf), NULL, 0, NULL, 0, NULL, 0, &len);
		ok(r == 0 && T.written == 0, "BATCH_FORGET has no reply");
		ok(ft_getattr(&T, x.nodeid, &a) == -ESTALE && ft_getattr(&T, y.nodeid, &a) == -ESTALE,
		   "BATCH_FORGET dropped both");
	}
}

static void test_setattr(void)
{
	struct fuse_setattr_in in;
	struct fuse_attr_out out;
	uint64_t id, fh;
	struct stat st;
	size_t len;
	int r;

	ft_spit(ft_path(&T, "attr"), "0123456789");
	id = lookup_id("attr");

	memset(&in, 0, sizeof(in));
	in.valid = FATTR_MODE;
	in.mode = 0604;
	r = ft_req(&T, FUSE_SETATTR, id, &in, sizeof(in), NULL, 0, NULL, 0, &out, sizeof(out), &len);
	stat(ft_path(&T, "attr"), &st);
	ok(r == 0 && (st.st_mode & 07777) == 0604 && (out.attr.mode & 07777) == 0604, "SETATTR mode (%d)", r);

	in.valid = FATTR_UID | FATTR_GID;
	in.uid = 1234;
	in.gid = 4321;
	r = ft_req(&T, FUSE_SETATTR, id, &in, sizeof(in), NULL, 0, NULL, 0, &out, sizeof(out), &len);
	stat(ft_path(&T, "attr"), &st);
	ok(r == 0 && st.st_uid == 1234 && st.st_gid == 4321 && out.attr.uid == 1234, "SETATTR uid/gid (%d)",
	   r);

	in.valid = FATTR_SIZE;
	in.size = 4;
	r = ft_req(&T, FUSE_SETATTR, id, &in, sizeof(in), NULL, 0, NULL, 0, &out, sizeof(out), &len);
	stat(ft_path(&T, "attr"), &st);
	ok(r == 0 && st.st_size == 4 && out.attr.size == 4, "SETATTR size by path (%d)", r);

	ok(ft_open(&T, id, O_RDWR, &fh) == 0, "open for FATTR_FH");
	in.valid = FATTR_SIZE | FATTR_FH;
	in.fh = fh;
	in.size = 2;
	r = ft_req(&T, FUSE_SETATTR, id, &in, sizeof(in), NULL, 0, NULL, 0, &out, sizeof(out), &len);
	stat(ft_path(&T, "attr"), &st);
	ok(r == 0 && st.st_size == 2, "SETATTR size through the handle (%d)", r);
	in.fh = fh + 77;
	r = ft_req(&T, FUSE_SETATTR, id, &in, sizeof(in), NULL, 0, NULL, 0, &out, sizeof(out), &len);
	ok(r == -EBADF, "SETATTR with a bogus handle (%d)", r);
	ft_release(&T, id, fh, false);

	in.valid = FATTR_ATIME | FATTR_MTIME;
	in.atime = 1000000;
	in.atimensec = 5;
	in.mtime = 2000000;
	in.mtimensec = 7;
	r = ft_req(&T, FUSE_SETATTR, id, &in, sizeof(in), NULL, 0, NULL, 0, &out, sizeof(out), &len);
	stat(ft_path(&T, "attr"), &st);
	ok(r == 0 && st.st_atim.tv_sec == 1000000 && st.st_atim.tv_nsec == 5 &&
	       st.st_mtim.tv_sec == 2000000 && st.st_mtim.tv_nsec == 7,
	   "SETATTR atime/mtime (%d)", r);
	in.valid = FATTR_MTIME | FATTR_MTIME_NOW;
	r = ft_req(&T, FUSE_SETATTR, id, &in, sizeof(in), NULL, 0, NULL, 0, &out, sizeof(out), &len);
	stat(ft_path(&T, "attr"), &st);
	ok(r == 0 && st.st_mtim.tv_sec > 2000000 && st.st_atim.tv_sec == 1000000,
	   "SETATTR mtime NOW, atime kept");
	in.valid = FATTR_ATIME;
	in.atimensec = 2000000000u;
	r = ft_req(&T, FUSE_SETATTR, id, &in, sizeof(in), NULL, 0, NULL, 0, &out, sizeof(out), &len);
	ok(r == -EINVAL, "SETATTR with nsec >= 1e9 refused (%d)", r);
}

static void test_create_credentials(void)
{
	struct fuse_entry_out e, d;
	struct stat st;
	uint64_t fh;
	int r;

	umask(022); /* the server must not let the host umask change the guest's modes */
	T.uid = 1000;
	T.gid = 1001;
	r = ft_create(&T, FUSE_ROOT_ID, "cfile", O_CREAT | O_RDWR, S_IFREG | 0664, &e, &fh);
	stat(ft_path(&T, "cfile"), &st);
	ok(r == 0 && e.nodeid > 1 && fh != 0 + 0xffffffffffffffffull, "CREATE (%d)", r);
	ok(st.st_uid == 1000 && st.st_gid == 1001 && (st.st_mode & 07777) == 0664,
	   "CREATE: owned by the requester, exact mode (%u:%u %o)", st.st_uid, st.st_gid, st.st_mode & 07777);
	ok(e.attr.uid == 1000 && (e.attr.mode & 07777) == 0664, "CREATE reply has the final attributes");
	ft_release(&T, e.nodeid, fh, false);
	r = ft_create(&T, FUSE_ROOT_ID, "cfile", O_CREAT | O_EXCL | O_RDWR, S_IFREG | 0600, &e, &fh);
	ok(r == -EEXIST, "CREATE O_EXCL on an existing name (%d)", r);
	T.uid = 2000;
	r = ft_create(&T, FUSE_ROOT_ID, "cfile", O_CREAT | O_RDWR, S_IFREG | 0600, &e, &fh);
	stat(ft_path(&T, "cfile"), &st);
	ok(r == 0 && st.st_uid == 1000 && (st.st_mode & 07777) == 0664,
	   "CREATE of an existing file leaves it as is");
	ft_release(&T, e.nodeid, fh, false);

	T.uid = 1000;
	r = ft_mkdir(&T, FUSE_ROOT_ID, "sgid", 02775, &d);
	stat(ft_path(&T, "sgid"), &st);
	ok(r == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 02775 && st.st_uid == 1000 &&
	       st.st_gid == 1001,
	   "MKDIR: owner and exact mode incl. setgid (%o)", st.st_mode & 07777);
	chown(ft_path(&T, "sgid"), 1000, 555);
	T.gid = 1001;
	r = ft_mkdir(&T, d.nodeid, "sub", 0750, &e);
	stat(ft_path(&T, "sgid/sub"), &st);
	ok(r == 0 && st.st_gid == 555 && (st.st_mode & S_ISGID) && (st.st_mode & 0777) == 0750,
	   "MKDIR in a setgid dir inherits its group and setgid bit (gid %u, %o)", st.st_gid,
	   st.st_mode & 07777);
	r = ft_create(&T, d.nodeid, "f", O_CREAT | O_WRONLY, S_IFREG | 0640, &e, &fh);
	stat(ft_path(&T, "sgid/f"), &st);
	ok(r == 0 && st.st_gid == 555 && st.st_uid == 1000, "CREATE in a setgid dir inherits the group");
	ft_release(&T, e.nodeid, fh, false);
	T.uid = T.gid = 0;
}

static void test_nodes(void)
{
	struct fuse_mknod_in mk = {0};
	struct fuse_entry_out e;
	char buf[256];
	struct stat st;
	size_t len;
	uint64_t id;
	int r;

	r = ft_symlink(&T, FUSE_ROOT_ID, "sl", "some/target", &e);
	ok(r == 0 && S_ISLNK(e.attr.mode), "SYMLINK (%d)", r);
	r = (int)readlink(ft_path(&T, "sl"), buf, sizeof(buf));
	ok(r == 11 && memcmp(buf, "some/target", 11) == 0, "symlink target on the host");
	r = ft_req(&T, FUSE_READLINK, e.nodeid, NULL, 0, NULL, 0, NULL, 0, buf, sizeof(buf), &len);
	ok(r == 0 && len == 11 && memcmp(buf, "some/target", 11) == 0, "READLINK (%d, %zu)", r, len);
	r = ft_req(&T, FUSE_READLINK, FUSE_ROOT_ID, NULL, 0, NULL, 0, NULL, 0, buf, sizeof(buf), &len);
	ok(r == -EINVAL, "READLINK of a directory (%d)", r);

	mk.mode = S_IFIFO | 0644;
	r = ft_req(&T, FUSE_MKNOD, FUSE_ROOT_ID, &mk, sizeof(mk), "fifo", 5, NULL, 0, &e, sizeof(e), &len);
	ok(r == 0 && lstat(ft_path(&T, "fifo"), &st) == 0 && S_ISFIFO(st.st_mode) && S_ISFIFO(e.attr.mode),
	   "MKNOD fifo (%d)", r);
	mk.mode = S_IFCHR | 0600;
	mk.rdev = (1u << 8) | 3; /* new_encode_dev(1, 3): /dev/null's numbers */
	r = ft_req(&T, FUSE_MKNOD, FUSE_ROOT_ID, &mk, sizeof(mk), "cdev", 5, NULL, 0, &e, sizeof(e), &len);
	ok(r == 0 && lstat(ft_path(&T, "cdev"), &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 &&
	       minor(st.st_rdev) == 3 && e.attr.rdev == mk.rdev,
	   "MKNOD char device 1:3 (%d)", r);
	{
		uint64_t fh;

		r = ft_open(&T, e.nodeid, O_RDWR, &fh);
		ok(r == -EACCES, "the server never opens a device node (%d)", r);
	}
	id = lookup_id("fifo");
	{
		uint64_t fh;

		r = ft_open(&T, id, O_RDONLY, &fh);
		ok(r == -EACCES, "nor a FIFO, which would block it (%d)", r);
	}
	mk.mode = S_IFREG | 0640;
	r = ft_req(&T, FUSE_MKNOD, FUSE_ROOT_ID, &mk, sizeof(mk), "regnod", 7, NULL, 0, &e, sizeof(e), &len);
	ok(r == 0 && S_ISREG(e.attr.mode) && (e.attr.mode & 0777) == 0640, "MKNOD regular file (%d)", r);
	mk.mode = S_IFDIR | 0755;
	r = ft_req(&T, FUSE_MKNOD, FUSE_ROOT_ID, &mk, sizeof(mk), "dirnod", 7, NULL, 0, &e, sizeof(e), &len);
	ok(r == -EINVAL, "MKNOD of a directory type refused (%d)", r);

	r = ft_req(&T, FUSE_UNLINK, FUSE_ROOT_ID, NULL, 0, "regnod", 7, NULL, 0, NULL, 0, &len);
	ok(r == 0 && access(ft_path(&T, "regnod"), F_OK) < 0, "UNLINK (%d)", r);
	r = ft_req(&T, FUSE_UNLINK, FUSE_ROOT_ID, NULL, 0, "regnod", 7, NULL, 0, NULL, 0, &len);
	ok(r == -ENOENT, "UNLINK of a missing name (%d)", r);
	ft_mkdir(&T, FUSE_ROOT_ID, "rmme", 0755, &e);
	r = ft_req(&T, FUSE_UNLINK, FUSE_ROOT_ID, NULL, 0, "rmme", 5, NULL, 0, NULL, 0, &len);
	ok(r == -EISDIR, "UNLINK of a directory (%d)", r);
	r = ft_req(&T, FUSE_RMDIR, FUSE_ROOT_ID, NULL, 0, "rmme", 5, NULL, 0, NULL, 0, &len);
	ok(r == 0 && access(ft_path(&T, "rmme"), F_OK) < 0, "RMDIR (%d)", r);
}

static void test_rename_link(void)
{
	struct fuse_rename_in rn = {.newdir = FUSE_ROOT_ID};
	struct fuse_rename2_in rn2 = {.newdir = FUSE_ROOT_ID};
	struct fuse_entry_out e, d;
	char buf[64];
	size_t len;
	uint64_t id;
	int r;

	ft_spit(ft_path(&T, "ra"), "A");
	ft_spit(ft_path(&T, "rb"), "B");
	ft_mkdir(&T, FUSE_ROOT_ID, "rdir", 0755, &d);
	rn.newdir = d.nodeid;
	r = ft_req(&T, FUSE_RENAME, FUSE_ROOT_ID, &rn, sizeof(rn), "ra", 3, "moved", 6, NULL, 0, &len);
	ok(r == 0 && ft_slurp(ft_path(&T, "rdir/moved"), buf, sizeof(buf)) == 1 && buf[0] == 'A',
	   "RENAME into a subdirectory (%d)", r);
	ft_spit(ft_path(&T, "ra"), "A2");
	rn2.flags = RENAME_NOREPLACE;
	r = ft_req(&T, FUSE_RENAME2, FUSE_ROOT_ID, &rn2, sizeof(rn2), "ra", 3, "rb", 3, NULL, 0, &len);
	ok(r == -EEXIST, "RENAME2 NOREPLACE onto an existing name (%d)", r);
	rn2.flags = RENAME_EXCHANGE;
	r = ft_req(&T, FUSE_RENAME2, FUSE_ROOT_ID, &rn2, sizeof(rn2), "ra", 3, "rb", 3, NULL, 0, &len);
	ok(r == 0 && ft_slurp(ft_path(&T, "ra"), buf, sizeof(buf)) == 1 && buf[0] == 'B',
	   "RENAME2 EXCHANGE (%d)", r);
	rn2.flags = 1u << 7;
	r = ft_req(&T, FUSE_RENAME2, FUSE_ROOT_ID, &rn2, sizeof(rn2), "ra", 3, "rb", 3, NULL, 0, &len);
	ok(r == -EINVAL, "RENAME2 with unknown flags (%d)", r);

	id = lookup_id("ra");
	{
		struct fuse_link_in li = {.oldnodeid = id};

		r = ft_req(&T, FUSE_LINK, d.nodeid, &li, sizeof(li), "hard", 5, NULL, 0, &e, sizeof(e), &len);
		ok(r == 0 && e.nodeid == id && e.attr.nlink == 2, "LINK returns the same nodeid (%d)", r);
		ok(ft_slurp(ft_path(&T, "rdir/hard"), buf, sizeof(buf)) == 1 && buf[0] == 'B',
		   "LINK on the host");
		li.oldnodeid = d.nodeid;
		r = ft_req(&T, FUSE_LINK, FUSE_ROOT_ID, &li, sizeof(li), "dirlink", 8, NULL, 0, &e, sizeof(e),
			   &len);
		ok(r == -EPERM, "LINK of a directory (%d)", r);
	}
}

/* fsync, flush, fallocate, lseek, copy_file_range on an open file id/fh. */
static void test_io_ops(uint64_t id, uint64_t fh)
{
	char buf[8192];
	uint64_t fh2;
	size_t len;
	int r;

	{
		struct fuse_fsync_in fs = {.fh = fh, .fsync_flags = FUSE_FSYNC_FDATASYNC};
		struct fuse_flush_in fl = {.fh = fh};

		r = ft_req(&T, FUSE_FSYNC, id, &fs, sizeof(fs), NULL, 0, NULL, 0, NULL, 0, &len);
		ok(r == 0, "FSYNC (fdatasync)");
		r = ft_req(&T, FUSE_FLUSH, id, &fl, sizeof(fl), NULL, 0, NULL, 0, NULL, 0, &len);
		ok(r == 0, "FLUSH");
	}
	{
		struct fuse_fallocate_in fa = {.fh = fh, .offset = 0, .length = 1 << 20};
		struct stat st;

		r = ft_req(&T, FUSE_FALLOCATE, id, &fa, sizeof(fa), NULL, 0, NULL, 0, NULL, 0, &len);
		stat(ft_path(&T, "data"), &st);
		ok(r == 0 && st.st_size == 1 << 20, "FALLOCATE extends to 1 MiB (%d)", r);
	}
	{
		struct fuse_lseek_in ls = {.fh = fh, .offset = 0, .whence = SEEK_END};
		struct fuse_lseek_out lo = {0};

		r = ft_req(&T, FUSE_LSEEK, id, &ls, sizeof(ls), NULL, 0, NULL, 0, &lo, sizeof(lo), &len);
		ok(r == 0 && lo.offset == 1 << 20, "LSEEK SEEK_END (%d, %llu)", r,
		   (unsigned long long)lo.offset);
		ls.whence = SEEK_DATA;
		ls.offset = 10;
		r = ft_req(&T, FUSE_LSEEK, id, &ls, sizeof(ls), NULL, 0, NULL, 0, &lo, sizeof(lo), &len);
		ok(r == 0 && lo.offset == 10, "LSEEK SEEK_DATA (%d, %llu)", r, (unsigned long long)lo.offset);
		ls.whence = 77;
		r = ft_req(&T, FUSE_LSEEK, id, &ls, sizeof(ls), NULL, 0, NULL, 0, &lo, sizeof(lo), &len);
		ok(r == -EINVAL, "LSEEK with a bad whence");
	}
	{
		struct fuse_entry_out e2;
		struct fuse_copy_file_range_in cp = {0};
		struct fuse_write_out wo = {0};

		ft_create(&T, FUSE_ROOT_ID, "copy", O_CREAT | O_RDWR, S_IFREG | 0644, &e2, &fh2);
		cp.fh_in = fh;
		cp.off_in = 4096;
		cp.nodeid_out = e2.nodeid;
		cp.fh_out = fh2;
		cp.off_out = 1;
		cp.len = 3;
		r = ft_req(&T, FUSE_COPY_FILE_RANGE, id, &cp, sizeof(cp), NULL, 0, NULL, 0, &wo, sizeof(wo),
			   &len);
		ok(r == 0 && wo.size == 3 && ft_slurp(ft_path(&T, "copy"), buf, sizeof(buf)) == 4 &&
		       memcmp(buf + 1, "XYZ", 3) == 0,
		   "COPY_FILE_RANGE (%d, %u)", r, wo.size);
		cp.flags = 1;
		r = ft_req(&T, FUSE_COPY_FILE_RANGE, id, &cp, sizeof(cp), NULL, 0, NULL, 0, &wo, sizeof(wo),
			   &len);
		ok(r == -EINVAL, "COPY_FILE_RANGE with flags");
		ft_release(&T, e2.nodeid, fh2, false);
	}
}

static void test_io(void)
{
	struct fuse_entry_out e;
	char buf[8192];
	uint32_t w;
	uint64_t fh;
	size_t len;
	int r;

	r = ft_create(&T, FUSE_ROOT_ID, "data", O_CREAT | O_RDWR, S_IFREG | 0644, &e, &fh);
	ok(r == 0, "create data file");
	r = ft_write(&T, e.nodeid, fh, 0, "abcdefgh", 8, &w);
	ok(r == 0 && w == 8, "WRITE 8 bytes (%d, %u)", r, w);
	r = ft_write(&T, e.nodeid, fh, 4096, "XYZ", 3, &w);
	ok(r == 0 && w == 3, "WRITE at 4096");
	ok(ft_slurp(ft_path(&T, "data"), buf, sizeof(buf)) == 4099 && memcmp(buf, "abcdefgh", 8) == 0 &&
	       memcmp(buf + 4096, "XYZ", 3) == 0,
	   "host file has both writes");
	r = ft_read(&T, e.nodeid, fh, 2, 4, buf, &len);
	ok(r == 0 && len == 4 && memcmp(buf, "cdef", 4) == 0, "READ 4 at 2 (%d, %zu)", r, len);
	r = ft_read(&T, e.nodeid, fh, 4090, 100, buf, &len);
	ok(r == 0 && len == 9 && memcmp(buf + 6, "XYZ", 3) == 0, "READ past EOF is short (%zu)", len);
	r = ft_read(&T, e.nodeid, fh, 1 << 20, 100, buf, &len);
	ok(r == 0 && len == 0, "READ at EOF gives 0 bytes");
	{
		struct fuse_read_in in = {.fh = fh, .size = 4096};
		/* the reply buffer split oddly across iovecs, as a guest's sg list may be */
		struct fuse_out_header oh;
		char a[3], b[5000];
		struct iovec out[3] = {{&oh, 10}, {a, sizeof(a)}, {b, sizeof(b)}};
		struct fuse_in_header h = {
		    .len = sizeof(h) + sizeof(in), .opcode = FUSE_READ, .unique = 5, .nodeid = e.nodeid};
		uint8_t req[sizeof(h) + sizeof(in)];
		struct iovec inv[1] = {{req, sizeof(req)}};
		sm_error_t err = SM_ERROR_INIT;
		size_t written;
		uint8_t hdr[16];

		memcpy(req, &h, sizeof(h));
		memcpy(req + sizeof(h), &in, sizeof(in));
		/* header spans iov0 (10 bytes) and iov1 (6 of...): iov1 is only 3, so it spills into iov2 */
		r = sm_fuse_handle(T.s, inv, 1, out, 3, &written, &err);
		memcpy(hdr, &oh, 10);
		memcpy(hdr + 10, a, 3);
		memcpy(hdr + 13, b, 3);
		memcpy(&oh, hdr, sizeof(oh));
		ok(r == 0 && written == 16 + 4096 && oh.error == 0 && oh.len == written &&
		       memcmp(b + 3, "abcdefgh", 8) == 0,
		   "READ into a scattered reply buffer (%d, %zu)", r, written);
	}
	r = ft_read(&T, e.nodeid, fh + 1000, 0, 10, buf, &len);
	ok(r == -EBADF, "READ with an unknown fh (%d)", r);
	{
		struct fuse_read_in in = {.fh = fh, .size = 2u << 20};
		static char big[2u << 20];

		r = ft_req(&T, FUSE_READ, e.nodeid, &in, sizeof(in), NULL, 0, NULL, 0, big, sizeof(big),
			   &len);
		ok(r == -EINVAL, "READ larger than max_write (%d)", r);
		in.size = 100;
		r = ft_req(&T, FUSE_READ, e.nodeid, &in, sizeof(in), NULL, 0, NULL, 0, big, 50, &len);
		ok(r == -EINVAL, "READ larger than the reply buffer (%d)", r);
	}

	test_io_ops(e.nodeid, fh);
	r = ft_release(&T, e.nodeid, fh, false);
	ok(r == 0, "RELEASE");
	r = ft_release(&T, e.nodeid, fh, false);
	ok(r == -EBADF, "double RELEASE (%d)", r);
	r = ft_read(&T, e.nodeid, fh, 0, 10, buf, &len);
	ok(r == -EBADF, "READ after RELEASE");

	/* O_TRUNC on open (ATOMIC_O_TRUNC), O_APPEND honoured */
	r = ft_open(&T, e.nodeid, O_WRONLY | O_TRUNC, &fh);
	ok(r == 0 && ft_slurp(ft_path(&T, "data"), buf, sizeof(buf)) == 0,
	   "OPEN O_TRUNC empties the file (%d)", r);
	ft_release(&T, e.nodeid, fh, false);
	ft_spit(ft_path(&T, "data"), "12");
	r = ft_open(&T, e.nodeid, O_WRONLY | O_APPEND, &fh);
	r = r ? r : ft_write(&T, e.nodeid, fh, 0, "3", 1, &w);
	ok(r == 0 && ft_slurp(ft_path(&T, "data"), buf, sizeof(buf)) == 3 && memcmp(buf, "123", 3) == 0,
	   "O_APPEND appends (%d)", r);
	r = ft_read(&T, e.nodeid, fh, 0, 3, buf, &len);
	ok(r == -EBADF, "READ on a write-only handle (%d)", r);
	ft_release(&T, e.nodeid, fh, false);
	r = ft_open(&T, FUSE_ROOT_ID, O_RDONLY, &fh);
	ok(r == -EISDIR, "OPEN of a directory (%d)", r);
}

/* Parse READDIR(PLUS) output; returns entry count and checks layout. */
static int parse_dir(const uint8_t *p, size_t len, bool plus, char names[][32], uint64_t *ids,
		     uint64_t *last_off)
{
	size_t pos = 0;
	int n = 0;

	while (pos < len && n < 64) {
		struct fuse_entry_out e = {0};
		struct fuse_dirent d;

		if (plus) {
			memcpy(&e, p + pos, sizeof(e));
			pos += sizeof(e);
		}
		memcpy(&d, p + pos, sizeof(d));
		snprintf(names[n], 32, "%.*s", (int)d.namelen, (const char *)p + pos + sizeof(d));
		if (ids)
			ids[n] = e.nodeid;
		*last_off = d.off;
		pos += (sizeof(d) + d.namelen + 7) & ~(size_t)7;
		n++;
	}
	return pos == len ? n : -1;
}

static int find(char names[][32], int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

static void test_readdir(void)
{
	static uint8_t buf[65536];
	char names[64][32];
	uint64_t ids[64], off, dh;
	struct fuse_read_in rd = {0};
	struct fuse_entry_out d;
	int n, total = 0, i;
	size_t len;
	int r;

	ft_mkdir(&T, FUSE_ROOT_ID, "list", 0755, &d);
	for (i = 0; i < 20; i++) {
		char nm[32];

		snprintf(nm, sizeof(nm), "list/entry-%02d", i);
		ft_spit(ft_path(&T, nm), "x");
	}
	r = ft_opendir(&T, d.nodeid, &dh);
	ok(r == 0, "OPENDIR (%d)", r);
	rd.fh = dh;
	rd.size = sizeof(buf);
	r = ft_req(&T, FUSE_READDIR, d.nodeid, &rd, sizeof(rd), NULL, 0, NULL, 0, buf, sizeof(buf), &len);
	n = parse_dir(buf, len, false, names, NULL, &off);
	ok(r == 0 && n == 22 && find(names, n, ".") >= 0 && find(names, n, "entry-07") >= 0,
	   "READDIR lists 20 files plus . and .. (%d entries)", n);

	/* a small buffer: continue from the last offset until the end */
	rd.offset = 0;
	rd.size = 100;
	for (int guard = 0; guard < 50; guard++) {
		char part[64][32];

		r = ft_req(&T, FUSE_READDIR, d.nodeid, &rd, sizeof(rd), NULL, 0, NULL, 0, buf, rd.size, &len);
		if (r != 0 || len == 0)
			break;
		n = parse_dir(buf, len, false, part, NULL, &off);
		if (n <= 0)
			break;
		total += n;
		rd.offset = off;
	}
	ok(r == 0 && total == 22, "READDIR in 100-byte pieces resumes by offset (%d entries)", total);

	rd.offset = 0;
	rd.size = sizeof(buf);
	r = ft_req(&T, FUSE_READDIRPLUS, d.nodeid, &rd, sizeof(rd), NULL, 0, NULL, 0, buf, sizeof(buf), &len);
	n = parse_dir(buf, len, true, names, ids, &off);
	i = find(names, n, "entry-03");
	ok(r == 0 && n == 22 && i >= 0 && ids[i] > 1, "READDIRPLUS gives nodeids (%d entries)", n);
	ok(find(names, n, "..") >= 0 && ids[find(names, n, "..")] == 0, "READDIRPLUS: '..' has no nodeid");
	if (i >= 0) {
		struct fuse_attr a;

		ok(ft_getattr(&T, ids[i], &a) == 0 && S_ISREG(a.mode),
		   "READDIRPLUS nodeid is usable (a lookup)");
	}
	rd.fh = dh + 1000;
	r = ft_req(&T, FUSE_READDIR, d.nodeid, &rd, sizeof(rd), NULL, 0, NULL, 0, buf, sizeof(buf), &len);
	ok(r == -EBADF, "READDIR with a bad handle");
	{
		struct fuse_fsync_in fs = {.fh = dh};

		r = ft_req(&T, FUSE_FSYNCDIR, d.nodeid, &fs, sizeof(fs), NULL, 0, NULL, 0, NULL, 0, &len);
		ok(r == 0, "FSYNCDIR (%d)", r);
	}
	r = ft_release(&T, d.nodeid, dh, false);
	ok(r == -EBADF, "RELEASE of a dir handle as a file (%d)", r);
	r = ft_release(&T, d.nodeid, dh, true);
	ok(r == 0, "RELEASEDIR");
	r = ft_opendir(&T, lookup_id("hello"), &dh);
	ok(r == -ENOTDIR, "OPENDIR of a file (%d)", r);
}

static void test_misc(void)
{
	struct fuse_statfs_out sf = {0};
	struct fuse_access_in ac = {0};
	struct fuse_getxattr_in gx = {0};
	struct fuse_setxattr_in sx = {0};
	char buf[256];
	uint64_t id;
	size_t len;
	int r;

	r = ft_req(&T, FUSE_STATFS, FUSE_ROOT_ID, NULL, 0, NULL, 0, NULL, 0, &sf, sizeof(sf), &len);
	ok(r == 0 && sf.st.bsize > 0 && sf.st.namelen == 255 && sf.st.blocks > 0, "STATFS (%d)", r);

	ft_spit(ft_path(&T, "acc"), "x");
	chown(ft_path(&T, "acc"), 1000, 1000);
	chmod(ft_path(&T, "acc"), 0640);
	id = lookup_id("acc");
	T.uid = 1000;
	T.gid = 1000;
	ac.mask = R_OK | W_OK;
	ok(ft_req(&T, FUSE_ACCESS, id, &ac, sizeof(ac), NULL, 0, NULL, 0, NULL, 0, &len) == 0,
	   "ACCESS owner rw");
	T.uid = 2000;
	ac.mask = R_OK;
	ok(ft_req(&T, FUSE_ACCESS, id, &ac, sizeof(ac), NULL, 0, NULL, 0, NULL, 0, &len) == 0,
	   "ACCESS group r");
	T.gid = 2000;
	ok(ft_req(&T, FUSE_ACCESS, id, &ac, sizeof(ac), NULL, 0, NULL, 0, NULL, 0, &len) == -EACCES,
	   "ACCESS other denied");
	T.uid = T.gid = 0;
	ac.mask = X_OK;
	ok(ft_req(&T, FUSE_ACCESS, id, &ac, sizeof(ac), NULL, 0, NULL, 0, NULL, 0, &len) == -EACCES,
	   "ACCESS: root cannot execute a non-executable file");

	sx.size = 5;
	r = ft_req(&T, FUSE_SETXATTR, id, &sx, FUSE_COMPAT_SETXATTR_IN_SIZE, "user.test", 10, "value", 5,
		   NULL, 0, &len);
	ok(r == 0 && getxattr(ft_path(&T, "acc"), "user.test", buf, sizeof(buf)) == 5, "SETXATTR (%d)", r);
	gx.size = 0;
	{
		struct fuse_getxattr_out go = {0};

		r = ft_req(&T, FUSE_GETXATTR, id, &gx, sizeof(gx), "user.test", 10, NULL, 0, &go, sizeof(go),
			   &len);
		ok(r == 0 && go.size == 5, "GETXATTR size probe (%d, %u)", r, go.size);
	}
	gx.size = sizeof(buf);
	r = ft_req(&T, FUSE_GETXATTR, id, &gx, sizeof(gx), "user.test", 10, NULL, 0, buf, sizeof(buf), &len);
	ok(r == 0 && len == 5 && memcmp(buf, "value", 5) == 0, "GETXATTR value (%d)", r);
	gx.size = 2;
	r = ft_req(&T, FUSE_GETXATTR, id, &gx, sizeof(gx), "user.test", 10, NULL, 0, buf, 2, &len);
	ok(r == -ERANGE, "GETXATTR into a small buffer is ERANGE (%d)", r);
	gx.size = sizeof(buf);
	r = ft_req(&T, FUSE_LISTXATTR, id, &gx, sizeof(gx), NULL, 0, NULL, 0, buf, sizeof(buf), &len);
	ok(r == 0 && len >= 10 && memmem(buf, len, "user.test", 10) != NULL, "LISTXATTR (%d)", r);
	r = ft_req(&T, FUSE_REMOVEXATTR, id, NULL, 0, "user.test", 10, NULL, 0, NULL, 0, &len);
	ok(r == 0 && getxattr(ft_path(&T, "acc"), "user.test", buf, sizeof(buf)) < 0 && errno == ENODATA,
	   "REMOVEXATTR (%d)", r);
	r = ft_req(&T, FUSE_GETXATTR, id, &gx, sizeof(gx), "user.test", 10, NULL, 0, buf, sizeof(buf), &len);
	ok(r == -ENODATA, "GETXATTR of a removed name (%d)", r);
	sx.size = 1;
	r = ft_req(&T, FUSE_SETXATTR, id, &sx, FUSE_COMPAT_SETXATTR_IN_SIZE, "trusted.overlay.redirect", 25,
		   "/", 1, NULL, 0, &len);
	ok(r == -EPERM, "trusted.overlay.* is off limits (%d)", r);
	sx.flags = 0x100;
	r = ft_req(&T, FUSE_SETXATTR, id, &sx, FUSE_COMPAT_SETXATTR_IN_SIZE, "user.x", 7, "v", 1, NULL, 0,
		   &len);
	ok(r == -EINVAL, "SETXATTR with unknown flags (%d)", r);

	r = ft_req(&T, FUSE_SYNCFS, FUSE_ROOT_ID, &(struct fuse_syncfs_in){0}, sizeof(struct fuse_syncfs_in),
		   NULL, 0, NULL, 0, NULL, 0, &len);
	ok(r == 0, "SYNCFS (%d)", r);
	r = ft_req(&T, FUSE_GETLK, FUSE_ROOT_ID, NULL, 0, NULL, 0, NULL, 0, buf, sizeof(buf), &len);
	ok(r == -ENOSYS, "GETLK is ENOSYS (%d)", r);
	r = ft_req(&T, 9999, FUSE_ROOT_ID, NULL, 0, NULL, 0, NULL, 0, buf, sizeof(buf), &len);
	ok(r == -ENOSYS, "unknown opcode is ENOSYS (%d)", r);
	r = ft_req(&T, FUSE_SETUPMAPPING, FUSE_ROOT_ID, &(struct fuse_setupmapping_in){0},
		   sizeof(struct fuse_setupmapping_in), NULL, 0, NULL, 0, NULL, 0, &len);
	ok(r == -ENOSYS, "SETUPMAPPING without a DAX window (%d)", r);
}

static void test_destroy(void)
{
	struct fuse_attr a;
	uint64_t id = lookup_id("hello"), fh;
	size_t len;
	int r;

	ok(ft_open(&T, id, O_RDONLY, &fh) == 0, "open before DESTROY");
	r = ft_req(&T, FUSE_DESTROY, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, &len);
	ok(r == 0 && len == 0, "DESTROY (%d)", r);
	r = ft_getattr(&T, FUSE_ROOT_ID, &a);
	ok(r == -EIO, "after DESTROY, requests need a new INIT (%d)", r);
	ok(ft_init(&T) == 0, "INIT again");
	ok(ft_getattr(&T, id, &a) == -ESTALE, "old nodeids are gone");
	{
		char b[8];

		ok(ft_read(&T, id, fh, 0, 4, b, &len) == -EBADF, "old handles are gone");
	}
	ok(ft_getattr(&T, FUSE_ROOT_ID, &a) == 0, "root survives");
}

static void test_readonly(void)
{
	struct sm_fuse_config cfg;
	sm_error_t err = SM_ERROR_INIT;
	struct sm_fuse_server *rw = T.s;
	struct fuse_entry_out e;
	uint64_t fh;
	int r;

	sm_fuse_config_init(&cfg);
	cfg.root = T.share;
	cfg.readonly = true;
	cfg.dax_window_size = 0;
	ok(sm_fuse_server_new(&cfg, &T.s, &err) == 0, "read-only server");
	ft_init(&T);
	ok(ft_lookup(&T, FUSE_ROOT_ID, "hello", &e) == 0, "lookup works");
	ok(ft_open(&T, e.nodeid, O_RDONLY, &fh) == 0, "read-only open works");
	r = ft_open(&T, e.nodeid, O_RDWR, &fh);
	ok(r == -EROFS, "read-write open is EROFS (%d)", r);
	r = ft_mkdir(&T, FUSE_ROOT_ID, "nope", 0755, &e);
	ok(r == -EROFS && access(ft_path(&T, "nope"), F_OK) < 0, "MKDIR is EROFS (%d)", r);
	sm_fuse_server_free(T.s);
	T.s = rw;
}

/* One request from a worker thread, with its own buffers (ft_req keeps state in T). */
static int thread_req(uint32_t op, uint64_t nodeid, const void *arg, size_t argsz, const char *name,
		      void *reply, size_t cap)
{
	uint8_t req[FUSE_REQ_MAX];
	struct fuse_out_header oh = {0};
	size_t written;
	struct iovec in = {req, fuse_req_build(req, op, nodeid, arg, argsz, name)};
	struct iovec out[2] = {{&oh, sizeof(oh)}, {reply, cap}};
	sm_error_t err = SM_ERROR_INIT;

	if (sm_fuse_handle(T.s, &in, 1, out, 2, &written, &err) < 0)
		return -9999;
	return written ? oh.error : 0;
}

static void *worker(void *arg)
{
	long bad = 0;

	(void)arg;
	for (int i = 0; i < 2000; i++) {
		struct fuse_entry_out e;
		struct fuse_open_out o;
		struct fuse_open_in oi = {.flags = O_RDONLY};
		struct fuse_read_in rd = {0};
		struct fuse_release_in rl = {0};
		struct fuse_forget_in fg = {.nlookup = 1};
		char buf[64];

		if (thread_req(FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "shared", &e, sizeof(e)) != 0 ||
		    e.nodeid == 0) {
			bad++;
			continue;
		}
		if (thread_req(FUSE_OPEN, e.nodeid, &oi, sizeof(oi), NULL, &o, sizeof(o)) != 0)
			bad++;
		rd.fh = o.fh;
		rd.size = sizeof(buf);
		if (thread_req(FUSE_READ, e.nodeid, &rd, sizeof(rd), NULL, buf, sizeof(buf)) != 0)
			bad++;
		rl.fh = o.fh;
		if (thread_req(FUSE_RELEASE, e.nodeid, &rl, sizeof(rl), NULL, NULL, 0) != 0)
			bad++;
		thread_req(FUSE_FORGET, e.nodeid, &fg, sizeof(fg), NULL, NULL, 0);
	}
	return (void *)bad;
}

static void test_threads(void)
{
	pthread_t th[3];
	long bad = 0;
	struct fuse_entry_out e;

	ft_spit(ft_path(&T, "shared"), "shared contents");
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int i = 0; i < 3; i++) {
		void *r;

		pthread_join(th[i], &r);
		bad += (long)r;
	}
	ok(bad == 0, "3 threads x 2000 lookup/open/read/release/forget cycles on one inode (%ld failures)",
	   bad);
	ok(ft_lookup(&T, FUSE_ROOT_ID, "shared", &e) == 0 && ft_forget(&T, e.nodeid, 1) == 0,
	   "inode still consistent afterwards");
}

int main(void)
{
	if (geteuid() != 0)
		tap_skip_all("needs root (chown to other uids, mknod of a device)");
	if (!ft_setup(&T, 0))
		tap_skip_all("cannot set up a temporary share (openat2 or /proc missing?)");
	test_init();
	test_lookup_getattr_forget();
	test_setattr();
	test_create_credentials();
	test_nodes();
	test_rename_link();
	test_io();
	test_readdir();
	test_misc();
	test_threads();
	test_destroy();
	test_readonly();
	ft_teardown(&T);
	return tap_done();
}
