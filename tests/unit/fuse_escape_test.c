/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guest must not reach any host file outside the shared directory: not through symlinks
 * (to "/", absolute or relative paths), ".." or names with '/', /proc magic links, renames or
 * links into a symlinked directory, nor forged nodeids or handles. Each test tries an escape and
 * then checks the host side: the secret outside is unread, unchanged, and nothing new appeared
 * outside.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tests/tap.h"
#include "tests/unit/fuse_testlib.h"

static struct ft T;
static struct stat secret_st;

#define SECRET "TOPSECRET-outside-the-share\n"

/* Content, mode, owner, links and times unchanged; read with O_NOATIME so atime proves no reader. */
static bool secret_intact(void)
{
	char buf[128] = {0};
	struct stat st;
	int fd = open(ft_out_path(&T, "secret"), O_RDONLY | O_NOATIME | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	if (n < 0 || strcmp(buf, SECRET) != 0 || stat(ft_out_path(&T, "secret"), &st) < 0)
		return false;
	return st.st_mode == secret_st.st_mode && st.st_uid == secret_st.st_uid && st.st_nlink == 1 &&
	       st.st_mtim.tv_sec == secret_st.st_mtim.tv_sec &&
	       st.st_mtim.tv_nsec == secret_st.st_mtim.tv_nsec &&
	       st.st_atim.tv_sec == secret_st.st_atim.tv_sec &&
	       st.st_atim.tv_nsec == secret_st.st_atim.tv_nsec;
}

static bool outside_has_only_secret(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "test \"$(ls -A %s)\" = secret", T.outside);
	return system(cmd) == 0;
}

static uint64_t lookup_id(uint64_t parent, const char *name, struct fuse_entry_out *e)
{
	struct fuse_entry_out tmp;

	if (e == NULL)
		e = &tmp;
	return ft_lookup(&T, parent, name, e) == 0 ? e->nodeid : 0;
}

static void setup_links(void)
{
	ft_spit(ft_out_path(&T, "secret"), SECRET);
	setxattr(ft_out_path(&T, "secret"), "user.secret", "xyz", 3, 0);
	stat(ft_out_path(&T, "secret"), &secret_st);
	symlink("/", ft_path(&T, "to_root"));
	symlink(ft_out_path(&T, "secret"), ft_path(&T, "to_secret"));
	symlink(T.outside, ft_path(&T, "to_outside"));
	symlink("../outside/secret", ft_path(&T, "rel_secret"));
	symlink(ft_out_path(&T, "new-file"), ft_path(&T, "dangling"));
	symlink("/proc/self/root", ft_path(&T, "to_proc_root"));
	mkdir(ft_path(&T, "dir"), 0755);
	ft_spit(ft_path(&T, "dir/inside"), "inside\n");
}

static void test_names(void)
{
	static const char *bad[] = {"..",	   ".",	 "", "dir/inside", "../outside", "../outside/secret",
				    "/etc/passwd", "a/", "/"};
	struct fuse_entry_out e;
	uint64_t dir = lookup_id(FUSE_ROOT_ID, "dir", NULL);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = ft_lookup(&T, FUSE_ROOT_ID, bad[i], &e);

		ok(r == -EINVAL && e.nodeid == 0, "LOOKUP \"%s\" refused (%d)", bad[i], r);
	}
	ok(ft_lookup(&T, dir, "..", &e) == -EINVAL, "LOOKUP .. from a subdirectory refused");
	{
		char longname[300];

		memset(longname, 'a', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		ok(ft_lookup(&T, FUSE_ROOT_ID, longname, &e) == -EINVAL, "LOOKUP of a 299-byte name refused");
	}
	{
		/* a NUL inside the name: the string ends early but the payload does not */
		size_t len;
		int r = ft_req(&T, FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "dir\0/../outside", 16, NULL, 0, &e,
			       sizeof(e), &len);

		ok(r == -EINVAL, "LOOKUP with an embedded NUL refused (%d)", r);
	}
}

static void test_symlinks(void)
{
	static const char *links[] = {"to_root",    "to_secret", "to_outside",
				      "rel_secret", "dangling",	 "to_proc_root"};
	struct fuse_entry_out e;
	char buf[256];
	size_t len;
	uint64_t fh;
	int r;

	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		uint64_t id = lookup_id(FUSE_ROOT_ID, links[i], &e);

		ok(id != 0 && S_ISLNK(e.attr.mode), "LOOKUP %s gives the symlink itself, not its target",
		   links[i]);
		r = ft_open(&T, id, O_RDONLY, &fh);
		ok(r == -EACCES, "OPEN of symlink %s refused (%d)", links[i], r);
		r = ft_opendir(&T, id, &fh);
		ok(r == -ENOTDIR, "OPENDIR of symlink %s refused (%d)", links[i], r);
		r = ft_lookup(&T, id, "secret", &e);
		ok(r == -ENOTDIR, "LOOKUP through symlink %s refused (%d)", links[i], r);
	}
	{
		uint64_t id = lookup_id(FUSE_ROOT_ID, "to_root", NULL);

		r = ft_req(&T, FUSE_READLINK, id, NULL, 0, NULL, 0, NULL, 0, buf, sizeof(buf), &len);
		ok(r == 0 && len == 1 && buf[0] == '/', "READLINK returns the target as text only");
		r = ft_lookup(&T, id, "etc", &e);
		ok(r == -ENOTDIR, "LOOKUP of etc under the symlink to / refused (%d)", r);
	}
	/* CREATE through a symlink name must not create or truncate the target */
	{
		uint64_t fh2;

		r = ft_create(&T, FUSE_ROOT_ID, "to_secret", O_CREAT | O_WRONLY | O_TRUNC, S_IFREG | 0666, &e,
			      &fh2);
		ok(r < 0, "CREATE over a symlink to the secret fails (%d)", r);
		r = ft_create(&T, FUSE_ROOT_ID, "dangling", O_CREAT | O_WRONLY, S_IFREG | 0666, &e, &fh2);
		ok(r < 0 && access(ft_out_path(&T, "new-file"), F_OK) < 0,
		   "CREATE over a dangling symlink does not create its target (%d)", r);
		r = ft_create(&T, lookup_id(FUSE_ROOT_ID, "to_outside", NULL), "planted", O_CREAT | O_WRONLY,
			      S_IFREG | 0666, &e, &fh2);
		ok(r == -ENOTDIR, "CREATE inside a symlinked dir refused (%d)", r);
	}
	ok(secret_intact() && outside_has_only_secret(), "outside untouched after symlink attempts");
}

static void test_node_ops_through_links(void)
{
	uint64_t lo = lookup_id(FUSE_ROOT_ID, "to_outside", NULL);
	uint64_t ls = lookup_id(FUSE_ROOT_ID, "to_secret", NULL);
	struct fuse_mknod_in mk = {.mode = S_IFREG | 0644};
	struct fuse_setattr_in sa = {0};
	struct fuse_attr_out ao;
	struct fuse_entry_out e;
	char buf[64];
	size_t len;
	int r;

	r = ft_mkdir(&T, lo, "x", 0755, &e);
	ok(r == -ENOTDIR, "MKDIR in a symlinked dir (%d)", r);
	r = ft_req(&T, FUSE_MKNOD, lo, &mk, sizeof(mk), "x", 2, NULL, 0, &e, sizeof(e), &len);
	ok(r == -ENOTDIR, "MKNOD in a symlinked dir (%d)", r);
	r = ft_symlink(&T, lo, "x", "/", &e);
	ok(r == -ENOTDIR, "SYMLINK in a symlinked dir (%d)", r);
	r = ft_req(&T, FUSE_UNLINK, lo, NULL, 0, "secret", 7, NULL, 0, NULL, 0, &len);
	ok(r == -ENOTDIR, "UNLINK through a symlinked dir (%d)", r);

	sa.valid = FATTR_MODE;
	sa.mode = 0777;
	r = ft_req(&T, FUSE_SETATTR, ls, &sa, sizeof(sa), NULL, 0, NULL, 0, &ao, sizeof(ao), &len);
	ok(r == -EOPNOTSUPP, "chmod of a symlink does not reach its target (%d)", r);
	sa.valid = FATTR_SIZE;
	sa.size = 0;
	r = ft_req(&T, FUSE_SETATTR, ls, &sa, sizeof(sa), NULL, 0, NULL, 0, &ao, sizeof(ao), &len);
	ok(r == -EINVAL, "truncate of a symlink does not reach its target (%d)", r);
	sa.valid = FATTR_UID | FATTR_MTIME;
	sa.uid = 4242;
	sa.mtime = 12345;
	r = ft_req(&T, FUSE_SETATTR, ls, &sa, sizeof(sa), NULL, 0, NULL, 0, &ao, sizeof(ao), &len);
	{
		struct stat st;

		lstat(ft_path(&T, "to_secret"), &st);
		ok(r == 0 && st.st_uid == 4242 && st.st_mtim.tv_sec == 12345,
		   "chown/utimes of a symlink change the link itself (%d)", r);
	}
	{
		struct fuse_setxattr_in sx = {.size = 1};
		struct fuse_getxattr_in gx = {.size = sizeof(buf)};

		r = ft_req(&T, FUSE_SETXATTR, ls, &sx, FUSE_COMPAT_SETXATTR_IN_SIZE, "user.evil", 10, "1", 1,
			   NULL, 0, &len);
		ok(r < 0 && getxattr(ft_out_path(&T, "secret"), "user.evil", buf, sizeof(buf)) < 0,
		   "SETXATTR on a symlink does not reach its target (%d)", r);
		r = ft_req(&T, FUSE_GETXATTR, ls, &gx, sizeof(gx), "user.secret", 12, NULL, 0, buf,
			   sizeof(buf), &len);
		ok(r == -ENODATA, "GETXATTR on a symlink does not read its target's xattrs (%d)", r);
	}
	{
		struct fuse_setupmapping_in sm = {
		    .fh = UINT64_MAX, .len = 4096, .flags = FUSE_SETUPMAPPING_FLAG_READ};

		r = ft_req(&T, FUSE_SETUPMAPPING, ls, &sm, sizeof(sm), NULL, 0, NULL, 0, NULL, 0, &len);
		ok(r == -EINVAL && sm_dax_window_mappings(sm_fuse_server_dax(T.s), NULL, 0) == 0,
		   "SETUPMAPPING of a symlink refused (%d)", r);
	}
	r = ft_req(&T, FUSE_UNLINK, FUSE_ROOT_ID, NULL, 0, "rel_secret", 11, NULL, 0, NULL, 0, &len);
	ok(r == 0 && secret_intact(), "UNLINK of a symlink removes only the link");
	ok(secret_intact() && outside_has_only_secret(), "outside untouched after node ops");
}

static void test_rename_link(void)
{
	uint64_t lo = lookup_id(FUSE_ROOT_ID, "to_outside", NULL);
	uint64_t dir = lookup_id(FUSE_ROOT_ID, "dir", NULL);
	uint64_t inside = lookup_id(dir, "inside", NULL);
	uint64_t ls = lookup_id(FUSE_ROOT_ID, "to_secret", NULL);
	struct fuse_rename_in rn = {.newdir = lo};
	struct fuse_link_in li = {.oldnodeid = inside};
	struct fuse_entry_out e;
	struct stat st;
	size_t len;
	int r;

	r = ft_req(&T, FUSE_RENAME, dir, &rn, sizeof(rn), "inside", 7, "stolen", 7, NULL, 0, &len);
	ok(r == -ENOTDIR, "RENAME into a symlinked dir pointing outside (%d)", r);
	rn.newdir = FUSE_ROOT_ID;
	r = ft_req(&T, FUSE_RENAME, dir, &rn, sizeof(rn), "inside", 7, "../outside/stolen", 18, NULL, 0,
		   &len);
	ok(r == -EINVAL, "RENAME to a name with .. and / (%d)", r);
	r = ft_req(&T, FUSE_RENAME, FUSE_ROOT_ID, &rn, sizeof(rn), "../outside/secret", 18, "got", 4, NULL, 0,
		   &len);
	ok(r == -EINVAL, "RENAME from a path outside (%d)", r);
	rn.newdir = dir;
	r = ft_req(&T, FUSE_RENAME, FUSE_ROOT_ID, &rn, sizeof(rn), "to_secret", 10, "moved_link", 11, NULL, 0,
		   &len);
	ok(r == 0 && lstat(ft_path(&T, "dir/moved_link"), &st) == 0 && S_ISLNK(st.st_mode) && secret_intact(),
	   "RENAME of a symlink moves the link, not the target");

	r = ft_req(&T, FUSE_LINK, lo, &li, sizeof(li), "planted", 8, NULL, 0, &e, sizeof(e), &len);
	ok(r == -ENOTDIR, "LINK into a symlinked dir pointing outside (%d)", r);
	r = ft_req(&T, FUSE_LINK, FUSE_ROOT_ID, &li, sizeof(li), "../outside/planted", 19, NULL, 0, &e,
		   sizeof(e), &len);
	ok(r == -EINVAL, "LINK to a path outside (%d)", r);
	li.oldnodeid = ls;
	r = ft_req(&T, FUSE_LINK, FUSE_ROOT_ID, &li, sizeof(li), "hardlink_to_link", 17, NULL, 0, &e,
		   sizeof(e), &len);
	ok(r == 0 && lstat(ft_path(&T, "hardlink_to_link"), &st) == 0 && S_ISLNK(st.st_mode) &&
	       secret_intact(),
	   "LINK of a symlink nodeid links the symlink, never the outside inode (%d)", r);
	li.oldnodeid = (7ull << 32) | 5;
	r = ft_req(&T, FUSE_LINK, FUSE_ROOT_ID, &li, sizeof(li), "forged", 7, NULL, 0, &e, sizeof(e), &len);
	ok(r == -ESTALE, "LINK of a forged nodeid (%d)", r);
	ok(secret_intact() && outside_has_only_secret(), "outside untouched after rename/link attempts");
}

static void test_forged_ids(void)
{
	static const uint64_t ids[] = {0, 2, 3, 1000, (1ull << 32) | 1, UINT64_MAX, (5ull << 32) | 2};
	struct fuse_attr a;
	char buf[16];
	size_t len;

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		int r = ft_getattr(&T, ids[i], &a);

		/* 2 and 3 may be real early slots; anything else must be stale */
		if (ids[i] == 2 || ids[i] == 3)
			continue;
		ok(r == -ESTALE, "GETATTR of forged nodeid %#llx is ESTALE (%d)", (unsigned long long)ids[i],
		   r);
	}
	ok(ft_read(&T, FUSE_ROOT_ID, 12345, 0, 8, buf, &len) == -EBADF, "READ with a forged fh");
	ok(ft_read(&T, FUSE_ROOT_ID, UINT64_MAX, 0, 8, buf, &len) == -EBADF, "READ with fh -1");
}

/*
 * A procfs mounted inside the share is refused outright: its magic links point at host objects.
 * The mount lives in a private mount namespace, so the server is created after it (an fd opened
 * before unshare() would still see the old namespace's empty directory).
 */
static void test_proc_inside(void)
{
	struct sm_fuse_server *saved = T.s;
	struct sm_fuse_config cfg;
	sm_error_t err = SM_ERROR_INIT;
	struct fuse_entry_out e;
	char p[256];
	int r;

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		tap_skip("cannot make a private mount namespace to mount procfs in the share");
		return;
	}
	snprintf(p, sizeof(p), "%s/dir/proc", T.share);
	mkdir(p, 0555);
	if (mount("proc", p, "proc", 0, NULL) < 0) {
		tap_skip("cannot mount procfs inside the share");
		rmdir(p);
		return;
	}
	sm_fuse_config_init(&cfg);
	cfg.root = T.share;
	cfg.dax_window_size = 0;
	if (sm_fuse_server_new(&cfg, &T.s, &err) == 0) {
		uint64_t dir;

		ft_init(&T);
		dir = lookup_id(FUSE_ROOT_ID, "dir", NULL);
		r = ft_lookup(&T, dir, "proc", &e);
		ok(r == -EACCES && e.nodeid == 0, "LOOKUP of a procfs mount inside the share refused (%d)",
		   r);
		sm_fuse_server_free(T.s);
	} else {
		ok(0, "second server: %s", err.msg);
	}
	T.s = saved;
	umount2(p, MNT_DETACH);
	rmdir(p);
}

int main(void)
{
	if (geteuid() != 0)
		tap_skip_all("needs root (the server runs as root; the tests check what root cannot reach)");
	if (!ft_setup(&T, 4ull << 20))
		tap_skip_all("cannot set up a temporary share (openat2 or /proc missing?)");
	setup_links();
	ok(ft_init(&T) == 0, "INIT");
	test_names();
	test_symlinks();
	test_node_ops_through_links();
	test_rename_link();
	test_forged_ids();
	test_proc_inside();
	ok(secret_intact() && outside_has_only_secret(),
	   "the secret outside was never read, changed or joined");
	ft_teardown(&T);
	return tap_done();
}
