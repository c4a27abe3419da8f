/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guest's vsock CID (runtime/monitor-internal.h; docs/design/lifecycle.md, "The guest's vsock
 * CID"). Every VM of a template was saved with the same CID, so each container picks its own:
 * FNV-1a of its state directory's path, mapped to 4..0xfffffffe (3 stays the templates' own), and
 * claimed host-wide with flock() on <cid dir>/<cid> (/run/sm-runtime-vsock-cids for root). The lock lives as
 * long as the monitor's open file, so a killed monitor frees its CID by itself; a live one makes the next
 * claimer move on to cid + 1. The hybrid vsock never puts the CID on a host network, so this is about
 * identity: no two running clones look the same from inside.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/container.h"
#include "runtime/log.h"
#include "runtime/monitor-internal.h"

#define CID_FIRST 4u
#define CID_LAST 0xfffffffeu /* 0xffffffff is VMADDR_CID_ANY */
#define CID_TRIES 256
#define CID_FILE "vsock-cid"

uint32_t sm_mon_cid_hash(const char *state_dir)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const char *p = state_dir; *p != '\0'; p++) {
		h ^= (uint8_t)*p;
		h *= 0x100000001b3ull;
	}
	return CID_FIRST + (uint32_t)(h % ((uint64_t)CID_LAST - CID_FIRST + 1));
}

char *sm_mon_cid_dir(void)
{
	cleanup_free char *root = sm_container_root(NULL);

	/* Beside the default state root, not in it (`list` reads every directory there) nor under
	 * --root: CIDs are unique across roots. */
	return sm_xasprintf("%s-vsock-cids", root);
}

/* The lock directory, created 0700; refused unless it is a real directory of ours. */
static int make_cid_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -1;
	if (lstat(dir, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

/* Lock <dir>/<cid>: the fd, -1 when another monitor holds it, -2 on an error. */
static int try_lock(int dfd, uint32_t cid)
{
	char name[16];
	struct stat a, b;
	int fd;

	snprintf(name, sizeof(name), "%u", cid);
	for (int i = 0; i < 8; i++) {
		fd = openat(dfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return -2;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			close(fd);
			return errno == EWOULDBLOCK ? -1 : -2;
		}
		/* The previous holder may have unlinked the file between our open and flock. */
		if (fstat(fd, &a) == 0 && fstatat(dfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return fd;
		close(fd);
	}
	return -1;
}

static void write_cid_file(uint32_t cid)
{
	char buf[16];
	int n = snprintf(buf, sizeof(buf), "%u\n", cid);

	(void)sm_write_file_atomic(CID_FILE, buf, (size_t)n, 0600, NULL);
}

void sm_mon_cid_claim(struct sm_mon *m)
{
	cleanup_free char *dir = sm_mon_cid_dir();
	uint32_t cid = sm_mon_cid_hash(m->o->dir);
	int fd = -2, dfd = -1;

	/* The directory stays open: the monitor's jail (runtime/jail.h) hides its path later. */
	if (make_cid_dir(dir) == 0 && (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		for (int i = 0; i < CID_TRIES; i++) {
			if ((fd = try_lock(dfd, cid)) != -1)
				break;
			cid = cid == CID_LAST ? CID_FIRST : cid + 1;
		}
	}
	if (fd < 0) {
		sm_log(SM_LOG_WARN, "vsock CID %u used without a host-wide claim (%s): %s", cid, dir,
		       fd == -1 ? "every CID tried is taken" : strerror(errno));
		if (dfd >= 0)
			close(dfd);
		fd = dfd = -1;
	}
	m->cid = cid;
	m->cid_lock_fd = fd;
	m->cid_dir_fd = dfd;
	write_cid_file(cid);
}

void sm_mon_cid_release(struct sm_mon *m)
{
	char name[16];

	if (m->cid_lock_fd < 0)
		return;
	snprintf(name, sizeof(name), "%u", m->cid);
	/* Unlinked while still locked: a claimer that opened it before checks the inode again. */
	(void)unlinkat(m->cid_dir_fd, name, 0);
	close(m->cid_lock_fd);
	close(m->cid_dir_fd);
	m->cid_lock_fd = m->cid_dir_fd = -1;
}
