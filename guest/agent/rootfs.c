/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container file system setup, in the CREATE child, in runc's order: private mount namespace,
 * the rootfs (a virtio-fs share or an existing directory), the OCI mounts, device nodes and /dev
 * links, pivot_root (or MS_MOVE + chroot), then inside the new root: readonly root, hostname,
 * sysctls, readonly paths, masked paths. Destinations inside the rootfs are resolved with
 * openat2(RESOLVE_IN_ROOT), so a symlink in the image cannot send a mount outside it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/proto-tags.h"
#include "common/proto.h"
#include "guest/agent/agent-internal.h"
#include "guest/agent/child.h"
#include "guest/agent/sys.h"

#define FD_PATH_MAX 40
#define CGROUP2_MAGIC 0x63677270
#define CGROUP_LEAF SM_AGENT_CGROUP_LEAF

/* How the mounts are made: in the CREATE child's own user namespace, shares mounted before it. */
struct setup_mode {
	const char *staging;
	bool userns; /* the shares are already mounted at <staging>/rootfs and <staging>/share-<i> */
};
#define RESOLVE_FLAGS (SM_RESOLVE_IN_ROOT | SM_RESOLVE_NO_MAGICLINKS)

/* Flags a mount entry may carry; propagation and MS_MOVE/MS_REMOUNT are the agent's business. */
#define MOUNT_FLAGS_ALLOWED                                                                                  \
	(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS | MS_MANDLOCK | MS_DIRSYNC |          \
	 MS_NOATIME | MS_NODIRATIME | MS_BIND | MS_REC | MS_SILENT | MS_RELATIME | MS_STRICTATIME |          \
	 MS_LAZYTIME | MS_I_VERSION)
/* Flags that a bind mount only takes through a second, remount call. */
#define BIND_REMOUNT_FLAGS                                                                                   \
	(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME |           \
	 MS_STRICTATIME | MS_SYNCHRONOUS | MS_DIRSYNC)

static void fd_path(char buf[FD_PATH_MAX], int fd)
{
	snprintf(buf, FD_PATH_MAX, "/proc/self/fd/%d", fd);
}

/* Lexically clean an absolute path: no "//", ".", or ".." (which cannot climb above "/"). */
static int clean_path(const char *in, char *out, size_t size)
{
	size_t n = 0;

	if (in[0] != '/' || strlen(in) >= size)
		return -1;
	while (*in) {
		const char *end;
		size_t len;

		while (*in == '/')
			in++;
		end = strchrnul(in, '/');
		len = (size_t)(end - in);
		if (len == 0 || (len == 1 && in[0] == '.')) {
			/* nothing */
		} else if (len == 2 && in[0] == '.' && in[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
		} else {
			out[n++] = '/';
			memcpy(out + n, in, len);
			n += len;
		}
		in = end;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
	return 0;
}

enum create_kind { CREATE_NONE, CREATE_DIR, CREATE_FILE };

/*
 * Open path (absolute, cleaned) inside the tree rooted at rootfd as an O_PATH fd, creating
 * missing components as directories (the last one as an empty file with CREATE_FILE). Every
 * prefix is resolved from rootfd, so symlinks stay inside the root.
 */
static int open_in_root(int rootfd, const char *path, enum create_kind create, sm_error_t *err)
{
	char prefix[PATH_MAX];
	int parent = -1, fd = -1;
	size_t i = 0;

	if (strlen(path) >= sizeof(prefix))
		return sm_error_set(err, ENAMETOOLONG, "%s", path);
	fd = sm_openat2(rootfd, path, O_PATH | O_CLOEXEC, RESOLVE_FLAGS);
	if (fd >= 0 || errno != ENOENT || create == CREATE_NONE)
		return fd >= 0 ? fd : sm_error_set(err, errno, "open %s in the rootfs", path);
	parent = (int)fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	while (path[i] != '\0') {
		const char *comp;
		bool last;

		while (path[i] == '/')
			i++;
		comp = path + i;
		while (path[i] != '\0' && path[i] != '/')
			i++;
		if (i == (size_t)(comp - path))
			break;
		last = path[i] == '\0' || path[i + strspn(path + i, "/")] == '\0';
		memcpy(prefix, path, i);
		prefix[i] = '\0';
		fd = sm_openat2(rootfd, prefix, O_PATH | O_CLOEXEC, RESOLVE_FLAGS);
		if (fd < 0 && errno == ENOENT) {
			char name[NAME_MAX + 1];
			size_t len = (size_t)(path + i - comp);
			int r;

			if (len > NAME_MAX) {
				errno = ENAMETOOLONG;
				goto fail;
			}
			memcpy(name, comp, len);
			name[len] = '\0';
			if (last && create == CREATE_FILE) {
				r = openat(parent, name, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
				if (r >= 0)
					close(r);
			} else {
				r = mkdirat(parent, name, 0755);
			}
			if (r < 0 && errno != EEXIST)
				goto fail;
			fd = sm_openat2(rootfd, prefix, O_PATH | O_CLOEXEC, RESOLVE_FLAGS);
		}
		if (fd < 0)
			goto fail;
		close(parent);
		parent = fd;
	}
	return parent;
fail:
	sm_error_set(err, errno, "create %s in the rootfs", path);
	if (parent >= 0)
		close(parent);
	return -1;
}

static int mkdir_p(const char *path, sm_error_t *err)
{
	char buf[PATH_MAX];

	if (strlen(path) >= sizeof(buf))
		return sm_error_set(err, ENAMETOOLONG, "%s", path);
	strcpy(buf, path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return sm_error_set(err, errno, "mkdir %s", buf);
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return sm_error_set(err, errno, "mkdir %s", buf);
	return 0;
}

/* Mount a virtio-fs share at dir (created). */
static int mount_share(const char *tag, const char *dir, bool dax, sm_error_t *err)
{
	if (mkdir_p(dir, err) < 0)
		return -1;
	if (mount(tag, dir, "virtiofs", 0, dax ? "dax=always" : NULL) < 0)
		return sm_error_set(err, errno, "mount virtio-fs share %s on %s%s", tag, dir,
				    dax ? " (dax)" : "");
	return 0;
}

/* The MS_* flags of the mount at path, to keep them when remounting (locked flags included). */
static unsigned long statvfs_flags(const char *path)
{
	static const struct {
		unsigned long st, ms;
	} map[] = {{ST_NOSUID, MS_NOSUID},   {ST_NODEV, MS_NODEV},	     {ST_NOEXEC, MS_NOEXEC},
		   {ST_NOATIME, MS_NOATIME}, {ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME}};
	struct statvfs st;
	unsigned long f = 0;

	if (statvfs(path, &st) < 0)
		return 0;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (st.f_flag & map[i].st)
			f |= map[i].ms;
	return f;
}

/* File system types a lean guest kernel may not have; their mounts are skipped when missing. */
static bool optional_fs(const char *type)
{
	return strcmp(type, "cgroup") == 0 || strcmp(type, "cgroup2") == 0 || strcmp(type, "mqueue") == 0;
}

/*
 * The source of mount m as a path the mount call can use: a path in the agent's view, or for a
 * share (MNT_SOURCE_TAG) the share mounted under the staging dir and the subpath resolved in it.
 * *holder keeps an fd whose /proc/self/fd path is returned in buf.
 */
static int mount_source(const struct sm_agent_mount *m, size_t idx, const struct setup_mode *md, char *buf,
			size_t size, int *holder, sm_error_t *err)
{
	const char *staging = md->staging;
	char dir[PATH_MAX];
	cleanup_close int sharefd = -1;
	char fdp[FD_PATH_MAX];

	if (m->source_tag == NULL) {
		snprintf(buf, size, "%s", m->source ? m->source : (m->type ? m->type : "none"));
		return 0;
	}
	snprintf(dir, sizeof(dir), "%s/share-%zu", staging, idx);
	if (!md->userns && mount_share(m->source_tag, dir, m->dax, err) < 0)
		return -1;
	sharefd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (sharefd < 0)
		return sm_error_set(err, errno, "open %s", dir);
	*holder = sm_openat2(sharefd, m->source && m->source[0] ? m->source : ".", O_PATH | O_CLOEXEC,
			     RESOLVE_FLAGS);
	if (*holder < 0)
		return sm_error_set(err, errno, "share %s: %s", m->source_tag, m->source ? m->source : "");
	fd_path(fdp, *holder);
	snprintf(buf, size, "%s", fdp);
	return 0;
}

/* Apply what a bind mount cannot take in its first call, and the propagation and attributes. */
static int mount_finish(int rootfd, const char *dest, const struct sm_agent_mount *m, sm_error_t *err)
{
	unsigned long extra = m->flags & BIND_REMOUNT_FLAGS;
	cleanup_close int fd = -1;
	char target[FD_PATH_MAX];

	if (!((m->flags & MS_BIND) && extra) && m->propagation == 0 && m->attr_set == 0 && m->attr_clr == 0)
		return 0;
	/* Reopen: the fd used for the mount names the directory under it, not the new mount. */
	fd = open_in_root(rootfd, dest, CREATE_NONE, err);
	if (fd < 0)
		return -1;
	fd_path(target, fd);
	if ((m->flags & MS_BIND) && extra &&
	    mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | extra | statvfs_flags(target), NULL) < 0)
		return sm_error_set(err, errno, "remount %s with its bind options", dest);
	if (m->propagation && mount(NULL, target, NULL, m->propagation, NULL) < 0)
		return sm_error_set(err, errno, "set propagation of %s", dest);
	if (m->attr_set || m->attr_clr) {
		struct sm_mount_attr attr = {.attr_set = m->attr_set, .attr_clr = m->attr_clr};
		if (sm_mount_setattr(fd, "", AT_EMPTY_PATH | SM_AT_RECURSIVE, &attr) < 0)
			return sm_error_set(err, errno, "set recursive attributes of %s", dest);
	}
	return 0;
}

/* One mounts[] entry; every error names it: "mount /proc (proc): Operation not permitted". */
/*
 * In a user namespace, sysfs needs a network namespace of that user namespace and cgroup2 a
 * cgroup namespace of it; without them the mount is EPERM and, as runc does, the guest's own tree
 * is bound instead (for cgroup2 the container's cgroup when it has one). 1: done, 0: not handled.
 */
static int userns_fallback(const char *type, const char *target, const struct setup_mode *md, int e)
{
	char src[PATH_MAX];

	if (!md->userns || e != EPERM)
		return 0;
	if (strcmp(type, "sysfs") == 0) {
		snprintf(src, sizeof(src), "/sys");
	} else if (strcmp(type, "cgroup2") == 0) {
		snprintf(src, sizeof(src), "%s/cgroup/" CGROUP_LEAF, md->staging);
		if (access(src, F_OK) < 0)
			snprintf(src, sizeof(src), "%s/cgroup", md->staging);
		if (access(src, F_OK) < 0)
			snprintf(src, sizeof(src), "/sys/fs/cgroup");
	} else {
		return 0;
	}
	return mount(src, target, NULL, MS_BIND | MS_REC, NULL) < 0 ? -1 : 1;
}

/* The mount's flags on the bind userns_fallback() made (reopened: the old fd names what is under). */
static int fallback_flags(int rootfd, const char *dest, unsigned long flags, sm_error_t *err)
{
	cleanup_close int fd = -1;
	char target[FD_PATH_MAX];

	flags &= MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
	if (flags == 0)
		return 0;
	fd = open_in_root(rootfd, dest, CREATE_NONE, err);
	if (fd < 0)
		return -1;
	fd_path(target, fd);
	if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | flags | statvfs_flags(target), NULL) < 0)
		return sm_error_set(err, errno, "remount the bind with the mount's flags");
	return 0;
}

static int mount_one(int rootfd, const struct sm_agent_mount *m, size_t idx, const struct setup_mode *md,
		     sm_error_t *err)
{
	const char *type = m->type ? m->type : "none";
	bool bind = (m->flags & MS_BIND) != 0;
	cleanup_close int holder = -1;
	cleanup_close int fd = -1;
	char dest[PATH_MAX], source[PATH_MAX], target[FD_PATH_MAX], what[PATH_MAX + 64];
	enum create_kind kind = CREATE_DIR;
	unsigned long flags;
	struct stat st;

	snprintf(what, sizeof(what), "mount %s (%s)", m->dest, m->type ? m->type : "bind");
	if (m->flags & ~(uint64_t)MOUNT_FLAGS_ALLOWED)
		return sm_error_set(err, 0, "%s: unsupported mount flags %#llx", what,
				    (unsigned long long)(m->flags & ~(uint64_t)MOUNT_FLAGS_ALLOWED));
	if (clean_path(m->dest, dest, sizeof(dest)) < 0)
		return sm_error_set(err, ENAMETOOLONG, "%s", what);
	if (mount_source(m, idx, md, source, sizeof(source), &holder, err) < 0)
		return sm_error_prefix(err, "%s: ", what);
	if (bind) {
		if (stat(source, &st) < 0)
			return sm_error_set(err, errno, "%s: source %s", what, m->source ? m->source : "");
		if (!S_ISDIR(st.st_mode))
			kind = CREATE_FILE;
	}
	fd = open_in_root(rootfd, dest, kind, err);
	if (fd < 0)
		return sm_error_prefix(err, "%s: ", what);
	fd_path(target, fd);
	if (bind) {
		if (mount(source, target, NULL, MS_BIND | (m->flags & MS_REC), NULL) < 0)
			return sm_error_set(err, errno, "%s", what);
	} else {
		flags = m->flags & ~(unsigned long)MS_REC;
		if (strcmp(type, "cgroup") == 0)
			type = "cgroup2"; /* the guest runs cgroup v2 only */
		if (mount(source, target, type, flags, m->data) < 0) {
			int e = errno, r;
			if (e == ENODEV && optional_fs(type))
				return 0;
			r = userns_fallback(type, target, md, e);
			if (r <= 0)
				return sm_error_set(err, r == 0 ? e : errno, "%s", what);
			if (fallback_flags(rootfd, dest, flags, err) < 0)
				return sm_error_prefix(err, "%s: ", what);
			return 0;
		}
	}
	if (mount_finish(rootfd, dest, m, err) < 0)
		return sm_error_prefix(err, "%s: ", what);
	return 0;
}

static bool dev_is_bind_mounted(const struct sm_agent_container *c)
{
	for (size_t i = 0; i < c->n_mounts; i++) {
		char dest[PATH_MAX];
		if (clean_path(c->mounts[i].dest, dest, sizeof(dest)) == 0 && strcmp(dest, "/dev") == 0 &&
		    (c->mounts[i].flags & MS_BIND))
			return true;
	}
	return false;
}

/* Create one device node; where mknod is refused, bind the agent's own node of that path. */
static int make_device(int rootfd, const struct sm_agent_device *d, sm_error_t *err)
{
	char path[PATH_MAX], *slash;
	cleanup_close int dirfd = -1;
	const char *name;

	if (clean_path(d->path, path, sizeof(path)) < 0 || strcmp(path, "/") == 0)
		return sm_error_set(err, 0, "device path %s", d->path);
	slash = strrchr(path, '/');
	name = slash + 1;
	*slash = '\0';
	dirfd = open_in_root(rootfd, path[0] ? path : "/", CREATE_DIR, err);
	if (dirfd < 0)
		return sm_error_prefix(err, "device %s: ", d->path);
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
		return sm_error_set(err, errno, "device %s: remove the old file", d->path);
	if (mknodat(dirfd, name, d->type | d->mode, makedev(d->major, d->minor)) < 0) {
		cleanup_close int fd = -1;
		char target[FD_PATH_MAX];

		if (errno != EPERM)
			return sm_error_set(err, errno, "mknod %s", d->path);
		*slash = '/';
		fd = open_in_root(rootfd, path, CREATE_FILE, err);
		if (fd < 0)
			return -1;
		fd_path(target, fd);
		if (mount(d->path, target, NULL, MS_BIND, NULL) < 0)
			return sm_error_set(err, errno, "bind device %s", d->path);
		return 0;
	}
	if (fchownat(dirfd, name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return sm_error_set(err, errno, "chown device %s", d->path);
	return 0;
}

/* runc's /dev links: ptmx to the devpts instance, fd and std streams to /proc/self/fd. */
static int dev_links(int rootfd, sm_error_t *err)
{
	static const char *const links[][2] = {
	    {"/proc/self/fd", "fd"},
	    {"/proc/self/fd/0", "stdin"},
	    {"/proc/self/fd/1", "stdout"},
	    {"/proc/self/fd/2", "stderr"},
	};
	cleanup_close int dev = open_in_root(rootfd, "/dev", CREATE_DIR, err);

	if (dev < 0)
		return -1;
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		if (symlinkat(links[i][0], dev, links[i][1]) < 0 && errno != EEXIST)
			return sm_error_set(err, errno, "symlink /dev/%s", links[i][1]);
	}
	if (access("/proc/kcore", F_OK) == 0 && symlinkat("/proc/kcore", dev, "core") < 0 && errno != EEXIST)
		return sm_error_set(err, errno, "symlink /dev/core");
	if (unlinkat(dev, "ptmx", 0) < 0 && errno != ENOENT)
		return sm_error_set(err, errno, "remove /dev/ptmx");
	if (symlinkat("pts/ptmx", dev, "ptmx") < 0)
		return sm_error_set(err, errno, "symlink /dev/ptmx");
	return 0;
}

static int enter_root(const char *rootfs, bool no_pivot, sm_error_t *err)
{
	cleanup_close int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	cleanup_close int newroot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);

	if (oldroot < 0 || newroot < 0)
		return sm_error_set(err, errno, "open %s", newroot < 0 ? rootfs : "/");
	if (fchdir(newroot) < 0)
		return sm_error_set(err, errno, "chdir %s", rootfs);
	/*
	 * pivot_root(".", ".") stacks the old root on the new one, then it is detached (runc's way,
	 * no put_old directory needed). It fails with EINVAL when the current root is the initramfs
	 * (rootfs cannot be pivoted): then move the new root over "/" and chroot, as runc --no-pivot.
	 */
	if (!no_pivot && sm_pivot_root(".", ".") == 0) {
		if (fchdir(oldroot) < 0)
			return sm_error_set(err, errno, "fchdir to the old root");
		if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
			return sm_error_set(err, errno, "make the old root a slave");
		if (umount2(".", MNT_DETACH) < 0)
			return sm_error_set(err, errno, "detach the old root");
		if (chdir("/") < 0)
			return sm_error_set(err, errno, "chdir /");
		return 0;
	}
	if (!no_pivot && errno != EINVAL)
		return sm_error_set(err, errno, "pivot_root %s", rootfs);
	if (mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0)
		return sm_error_set(err, errno, "move %s to /", rootfs);
	if (chroot(".") < 0)
		return sm_error_set(err, errno, "chroot %s", rootfs);
	if (chdir("/") < 0)
		return sm_error_set(err, errno, "chdir /");
	return 0;
}

static int write_sysctl(const char *kv, sm_error_t *err)
{
	const char *eq = strchr(kv, '=');
	char path[PATH_MAX] = "/proc/sys/";
	size_t n = strlen(path), klen = (size_t)(eq - kv);
	cleanup_close int fd = -1;
	const char *val = eq + 1;

	if (klen + n >= sizeof(path))
		return sm_error_set(err, ENAMETOOLONG, "sysctl %.*s", (int)klen, kv);
	/* sysctl(8) syntax: "." separates levels, "/" stands for a dot inside a name. */
	for (size_t i = 0; i < klen; i++)
		path[n++] = kv[i] == '.' ? '/' : kv[i] == '/' ? '.' : kv[i];
	path[n] = '\0';
	if (strstr(path, "//") != NULL || path[n - 1] == '/' || strstr(path, "/./") != NULL ||
	    strstr(path, "/../") != NULL || strcmp(path + n - 2, "/.") == 0 ||
	    strcmp(path + n - 3, "/..") == 0)
		return sm_error_set(err, 0, "sysctl %.*s: invalid key", (int)klen, kv);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0 || write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		return sm_error_set(err, errno, "sysctl %.*s", (int)klen, kv);
	return 0;
}

static int readonly_path(const char *p, sm_error_t *err)
{
	if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
		if (errno == ENOENT)
			return 0;
		return sm_error_set(err, errno, "readonlyPaths: bind %s", p);
	}
	if (mount(p, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | statvfs_flags(p), NULL) < 0)
		return sm_error_set(err, errno, "readonlyPaths: remount %s read-only", p);
	return 0;
}

static int mask_path(const char *p, sm_error_t *err)
{
	struct stat st;

	if (stat(p, &st) < 0)
		return errno == ENOENT ? 0 : sm_error_set(err, errno, "maskedPaths: %s", p);
	if (S_ISDIR(st.st_mode)) {
		if (mount("tmpfs", p, "tmpfs", MS_RDONLY, NULL) < 0)
			return sm_error_set(err, errno, "maskedPaths: mount a read-only tmpfs on %s", p);
	} else if (mount("/dev/null", p, NULL, MS_BIND, NULL) < 0) {
		return sm_error_set(err, errno, "maskedPaths: bind /dev/null on %s", p);
	}
	return 0;
}

/* Mount the rootfs and everything under it, still in the agent's view of the file system. */
static int prepare_rootfs(const struct sm_agent_container *c, const struct setup_mode *md, char *rootfs,
			  size_t size, sm_error_t *err)
{
	cleanup_close int rootfd = -1;

	if (c->rootfs_tag != NULL) {
		snprintf(rootfs, size, "%s/rootfs", md->staging);
		if (!md->userns && mount_share(c->rootfs_tag, rootfs, c->rootfs_dax, err) < 0)
			return sm_error_prefix(err, "root: ");
	} else {
		snprintf(rootfs, size, "%s", c->rootfs_path);
	}
	/* A bind onto itself: the mount pivot_root needs, and in a user namespace an unlocked one. */
	if ((c->rootfs_tag == NULL || md->userns) && mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		return sm_error_set(err, errno, "root: bind %s", rootfs);
	rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return sm_error_set(err, errno, "root: open %s", rootfs);
	for (size_t i = 0; i < c->n_mounts; i++) {
		const struct sm_agent_mount *m = &c->mounts[i];
		if (mount_one(rootfd, m, i, md, err) < 0)
			return -1;
	}
	if (!dev_is_bind_mounted(c)) {
		for (size_t i = 0; i < c->n_devices; i++) {
			if (make_device(rootfd, &c->devices[i], err) < 0)
				return -1;
		}
		if (dev_links(rootfd, err) < 0)
			return -1;
	}
	return 0;
}

static int write_cgroup_file(const char *dir, const char *file, const char *val, sm_error_t *err)
{
	char path[PATH_MAX];
	cleanup_close int fd = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		return sm_error_set(err, errno, "write \"%s\" to %s", val, path);
	return 0;
}

/* Mount cgroup2 at mnt (unless it is there) and enable controllers ("+pids", ...) for its children. */
static int cgroup_prepare(const char *mnt, const char *controllers, sm_error_t *err)
{
	struct statfs sfs;
	struct statvfs vfs;

	if (mkdir_p(mnt, err) < 0)
		return -1;
	if ((statfs(mnt, &sfs) < 0 || sfs.f_type != CGROUP2_MAGIC) &&
	    mount("cgroup2", mnt, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return sm_error_set(err, errno, "mount cgroup2 on %s", mnt);
	/*
	 * The guest has one cgroup2 superblock, and its first mounter decides whether it is
	 * read-only: a container created without limits mounted it first, "ro" (runc's default
	 * /sys/fs/cgroup). Make the superblock writable; that container's mount stays read-only
	 * by its own mount flag.
	 */
	if (statvfs(mnt, &vfs) == 0 && (vfs.f_flag & ST_RDONLY) &&
	    mount(NULL, mnt, NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return sm_error_set(err, errno, "remount cgroup2 on %s read-write", mnt);
	return write_cgroup_file(mnt, "cgroup.subtree_control", controllers, err);
}

/*
 * The guest cgroup's leaf directory into dir (PATH_MAX + 16 bytes), with the controllers that
 * limits on pids and memory need enabled (only ever enabled: another field may have needed one).
 */
static int cgroup_leaf(const char *staging_dir, bool pids, bool memory, char *dir, sm_error_t *err)
{
	char mnt[PATH_MAX];

	snprintf(mnt, sizeof(mnt), "%s/cgroup", staging_dir);
	snprintf(dir, PATH_MAX + 16, "%s/" CGROUP_LEAF, mnt);
	return cgroup_prepare(mnt, pids && memory ? "+pids +memory" : pids ? "+pids" : "+memory", err);
}

int sm_agent_cgroup_create(const char *staging_dir, const struct sm_agent_container *c, pid_t pid,
			   sm_error_t *err)
{
	char dir[PATH_MAX + 16], val[32], who[16];

	if (c->pids_limit == 0 && c->memory_limit == 0)
		return 0;
	if (cgroup_leaf(staging_dir, c->pids_limit != 0, c->memory_limit != 0, dir, err) < 0 ||
	    (mkdir(dir, 0755) < 0 && errno != EEXIST && sm_error_set(err, errno, "mkdir %s", dir) < 0))
		return sm_error_prefix(err, "linux.resources: ");
	snprintf(val, sizeof(val), "%llu", (unsigned long long)c->pids_limit);
	if (c->pids_limit && write_cgroup_file(dir, "pids.max", val, err) < 0)
		return sm_error_prefix(err, "linux.resources.pids.limit: ");
	if (c->memory_limit) {
		snprintf(val, sizeof(val), "%llu",
			 (unsigned long long)sm_agent_memory_max(c->memory_limit, sm_agent_mem_available()));
		if (write_cgroup_file(dir, "memory.max", val, err) < 0)
			return sm_error_prefix(err, "linux.resources.memory.limit: ");
	}
	snprintf(who, sizeof(who), "%d", (int)pid);
	if (write_cgroup_file(dir, "cgroup.procs", who, err) < 0)
		return sm_error_prefix(err, "linux.resources: ");
	return 0;
}

const char *sm_agent_update_decode(const uint8_t *payload, size_t len, struct sm_agent_limits *out)
{
	struct sm_tlv_num f[] = {{.tag = SM_TAG_PIDS_LIMIT, .size = 8},
				 {.tag = SM_TAG_MEMORY_LIMIT, .size = 8}};
	const char *bad = sm_tlv_get_nums_why(payload, len, SM_UPDATE_MAX_PAYLOAD, f, 2);

	*out = (struct sm_agent_limits){0};
	if (bad != NULL)
		return bad;
	if ((f[0].seen && f[0].value == 0) || (f[1].seen && f[1].value == 0))
		return "a limit is 0";
	if (!f[0].seen && !f[1].seen)
		return "neither a pids nor a memory limit";
	out->pids = f[0].value;
	out->memory = f[1].value;
	return NULL;
}

int sm_agent_cgroup_update(const char *staging_dir, const struct sm_agent_limits *l, bool *created,
			   sm_error_t *err)
{
	char dir[PATH_MAX + 16], val[32];

	*created = false;
	if (cgroup_leaf(staging_dir, l->pids != 0, l->memory != 0, dir, err) < 0)
		return sm_error_prefix(err, "guest cgroup: ");
	if (mkdir(dir, 0755) == 0)
		*created = true;
	else if (errno != EEXIST)
		return sm_error_set(err, errno, "guest cgroup: mkdir %s", dir);
	if (l->pids) {
		if (l->pids == SM_LIMIT_UNLIMITED)
			snprintf(val, sizeof(val), "max");
		else
			snprintf(val, sizeof(val), "%llu", (unsigned long long)l->pids);
		if (write_cgroup_file(dir, "pids.max", val, err) < 0)
			return sm_error_prefix(err, "linux.resources.pids.limit: ");
	}
	if (l->memory) {
		if (l->memory == SM_LIMIT_UNLIMITED)
			snprintf(val, sizeof(val), "max");
		else
			snprintf(
			    val, sizeof(val), "%llu",
			    (unsigned long long)sm_agent_memory_max(l->memory, sm_agent_mem_available()));
		if (write_cgroup_file(dir, "memory.max", val, err) < 0)
			return sm_error_prefix(err, "linux.resources.memory.limit: ");
	}
	return 0;
}

/*
 * 1 when /proc/<pid>/cgroup (as the agent sees it: the root cgroup namespace) is our leaf or below
 * it (the container may have made cgroups of its own there), 0 when not, -1 when pid is gone.
 */
static int in_leaf(pid_t pid)
{
	static const char leaf[] = "0::/" CGROUP_LEAF;
	char path[64], buf[512];
	cleanup_close int fd = -1;
	const char *p;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, leaf);
	return p != NULL && (p == buf || p[-1] == '\n') &&
	       (p[sizeof(leaf) - 1] == '\n' || p[sizeof(leaf) - 1] == '/');
}

int sm_agent_cgroup_move(const char *staging_dir, pid_t pid, sm_error_t *err)
{
	char dir[PATH_MAX], who[16];
	cleanup_close int fd = -1;

	if (in_leaf(pid) != 0)
		return 0; /* there already, or gone */
	snprintf(dir, sizeof(dir), "%s/cgroup/" CGROUP_LEAF "/cgroup.procs", staging_dir);
	snprintf(who, sizeof(who), "%d", (int)pid);
	fd = open(dir, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return sm_error_set(err, errno, "guest cgroup: open %s", dir);
	if (write(fd, who, strlen(who)) < 0) {
		if (errno == ESRCH)
			return 0;
		return sm_error_set(err, errno, "guest cgroup: move process %d into it", (int)pid);
	}
	/* An exiting task (a zombie) is skipped by the kernel without an error. */
	return in_leaf(pid) == 1;
}

int sm_agent_cgroup_join(const char *staging_dir, sm_error_t *err)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/cgroup/" CGROUP_LEAF, staging_dir);
	if (access(dir, F_OK) < 0)
		return 0;
	return write_cgroup_file(dir, "cgroup.procs", "0", err) < 0
		   ? sm_error_prefix(err, "join the container's cgroup: ")
		   : 0;
}

int sm_agent_premount_shares(const struct sm_agent_container *c, const char *staging, sm_error_t *err)
{
	char dir[PATH_MAX];

	if (c->rootfs_tag != NULL) {
		snprintf(dir, sizeof(dir), "%s/rootfs", staging);
		if (mount_share(c->rootfs_tag, dir, c->rootfs_dax, err) < 0)
			return sm_error_prefix(err, "root: ");
	}
	for (size_t i = 0; i < c->n_mounts; i++) {
		if (c->mounts[i].source_tag == NULL)
			continue;
		snprintf(dir, sizeof(dir), "%s/share-%zu", staging, i);
		if (mount_share(c->mounts[i].source_tag, dir, c->mounts[i].dax, err) < 0)
			return sm_error_prefix(err, "mount %s: ", c->mounts[i].dest);
	}
	return 0;
}

int sm_agent_setup_container(const struct sm_agent_container *c, const char *staging_dir, sm_error_t *err)
{
	int ns = CLONE_NEWNS |
		 (int)(c->namespaces & (CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP | CLONE_NEWNET));
	unsigned long prop = c->rootfs_propagation ? c->rootfs_propagation : MS_SLAVE | MS_REC;
	struct setup_mode md = {.staging = staging_dir, .userns = (c->namespaces & CLONE_NEWUSER) != 0};
	char rootfs[PATH_MAX];

	/*
	 * Before the cgroup namespace, so that the container's cgroup is its root. With a user
	 * namespace the agent did it, and mounted the shares (sm_agent_userns_clone()).
	 */
	if (!md.userns && sm_agent_cgroup_create(staging_dir, c, 0, err) < 0)
		return -1;
	if (md.userns && sm_agent_userns_join(err) < 0)
		return -1;
	if (unshare(ns) < 0)
		return sm_error_set(err, errno, "unshare the container namespaces (%#x)", ns);
	/*
	 * Never propagate the container's mounts back; the mode itself is applied after the pivot
	 * (an unbindable "/" here would refuse the bind of a rootfs directory).
	 */
	if (mount(NULL, "/", NULL, (prop & (MS_SHARED | MS_UNBINDABLE)) ? (MS_SLAVE | MS_REC) : prop, NULL) <
	    0)
		return sm_error_set(err, errno, "rootfsPropagation: set it on /");
	if (prepare_rootfs(c, &md, rootfs, sizeof(rootfs), err) < 0)
		return -1;
	if (enter_root(rootfs, c->no_pivot, err) < 0)
		return sm_error_prefix(err, "root: ");
	/*
	 * The mode asked for, again on the container's own "/" (the call above only concerned the
	 * agent's): a bind of "/" in the container then fails when it is unbindable, receives later
	 * mounts when it is shared.
	 */
	if (c->rootfs_propagation && mount(NULL, "/", NULL, prop, NULL) < 0)
		return sm_error_set(err, errno, "rootfsPropagation: apply it to the container's /");
	if (c->root_readonly &&
	    mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | statvfs_flags("/"), NULL) < 0)
		return sm_error_set(err, errno, "root.readonly: remount / read-only");
	if (c->hostname != NULL && sethostname(c->hostname, strlen(c->hostname)) < 0)
		return sm_error_set(err, errno, "hostname \"%s\"", c->hostname);
	if (c->domainname != NULL && setdomainname(c->domainname, strlen(c->domainname)) < 0)
		return sm_error_set(err, errno, "domainname \"%s\"", c->domainname);
	for (size_t i = 0; i < c->sysctls.n; i++) {
		if (write_sysctl(c->sysctls.v[i], err) < 0)
			return -1;
	}
	for (size_t i = 0; i < c->readonly_paths.n; i++) {
		if (readonly_path(c->readonly_paths.v[i], err) < 0)
			return -1;
	}
	for (size_t i = 0; i < c->masked_paths.n; i++) {
		if (mask_path(c->masked_paths.v[i], err) < 0)
			return -1;
	}
	return 0;
}
