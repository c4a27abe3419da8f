/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "oci/id.h"
#include "runtime/cgroup.h"
#include "runtime/container.h"
#include "runtime/monitor-proto.h"

char *sm_container_root(const char *opt)
{
	const char *xdg;

	if (opt != NULL && opt[0] != '\0')
		return sm_xstrdup(opt);
	if (geteuid() == 0)
		return sm_xstrdup("/run/sm-runtime");
	xdg = getenv("XDG_RUNTIME_DIR");
	if (xdg != NULL && xdg[0] == '/')
		return sm_xasprintf("%s/sm-runtime", xdg);
	return sm_xasprintf("/tmp/sm-runtime-%u", (unsigned)geteuid());
}

static int lock_dir(struct sm_container *c, sm_error_t *err)
{
	cleanup_free char *p = sm_xasprintf("%s/" SM_CONTAINER_LOCK, c->dir);

	c->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (c->lock_fd < 0)
		return sm_error_set(err, errno, "lock `%s`", p);
	while (flock(c->lock_fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return sm_error_set(err, errno, "lock `%s`", p);
	return 0;
}

static int init(const char *root, const char *id, struct sm_container *c, sm_error_t *err)
{
	int r;

	memset(c, 0, sizeof(*c));
	c->dir_fd = c->lock_fd = -1;
	if ((r = sm_oci_id_validate(id, err)) < 0)
		return r;
	c->root = sm_xstrdup(root);
	c->id = sm_xstrdup(id);
	c->dir = sm_xasprintf("%s/%s", root, id);
	return 0;
}

int sm_container_new(const char *root, const char *id, struct sm_container *c, sm_error_t *err)
{
	int r;

	if ((r = init(root, id, c, err)) < 0)
		return r;
	/* 0711: others may reach a container directory they know the name of, not list them. */
	if (mkdir(root, 0711) < 0 && errno != EEXIST)
		return sm_error_set(err, errno, "state root `%s`", root);
	if (mkdir(c->dir, 0700) < 0) {
		if (errno == EEXIST)
			return sm_error_set(err, 0, "container `%s` already exists", id);
		return sm_error_set(err, errno, "state directory `%s`", c->dir);
	}
	c->dir_fd = open(c->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->dir_fd < 0)
		return sm_error_set(err, errno, "state directory `%s`", c->dir);
	return lock_dir(c, err);
}

static int open_existing(const char *root, const char *id, struct sm_container *c, bool lock, sm_error_t *err)
{
	cleanup_free char *p = NULL;
	int r;

	if ((r = init(root, id, c, err)) < 0)
		return r;
	c->dir_fd = open(c->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->dir_fd < 0) {
		if (errno == ENOENT)
			return sm_error_set(err, 0, "container `%s` does not exist", id);
		return sm_error_set(err, errno, "state directory `%s`", c->dir);
	}
	if (lock && (r = lock_dir(c, err)) < 0)
		return r;
	/* A delete that raced us removed the directory while we waited for the lock. */
	if (access(c->dir, F_OK) < 0)
		return sm_error_set(err, 0, "container `%s` does not exist", id);
	p = sm_xasprintf("%s/" SM_CONTAINER_STATE, c->dir);
	if (access(p, F_OK) < 0 && errno == ENOENT)
		return 0;
	if ((r = sm_oci_state_load(p, &c->st, err)) < 0)
		return r;
	c->has_state = true;
	return 0;
}

int sm_container_open(const char *root, const char *id, struct sm_container *c, sm_error_t *err)
{
	return open_existing(root, id, c, true, err);
}

int sm_container_open_status(const char *root_opt, const char *id, struct sm_container *c,
			     enum sm_oci_status *status, sm_error_t *err)
{
	cleanup_free char *root = sm_container_root(root_opt);
	int r = sm_container_open(root, id, c, err);

	return r < 0 ? r : sm_container_status(c, status, NULL, err);
}

int sm_container_peek(const char *root, const char *id, struct sm_container *c, sm_error_t *err)
{
	return open_existing(root, id, c, false, err);
}

int sm_container_peek_status(const char *root, const char *id, struct sm_container *c,
			     enum sm_oci_status *status, sm_error_t *err)
{
	int r = sm_container_peek(root, id, c, err);

	if (r < 0)
		return r;
	if (!c->has_state)
		return sm_error_set(err, 0, "container `%s` does not exist", id);
	return sm_container_status(c, status, NULL, err);
}

int sm_container_live_cgroup(const struct sm_container *c, enum sm_oci_status status, const char *what,
			     struct sm_cgroup **out, sm_error_t *err)
{
	/* runc refuses a stopped container ("container not running"); created and paused are fine. */
	if (status != SM_OCI_STATUS_CREATED && status != SM_OCI_STATUS_RUNNING &&
	    status != SM_OCI_STATUS_PAUSED)
		return sm_error_set(err, 0, "container `%s` is not running (%s)", c->id,
				    sm_oci_status_name(status));
	if (c->st.cgroup == NULL)
		return sm_error_set(
		    err, 0,
		    "container `%s` has no host cgroup (created without privileges and without "
		    "linux.resources): %s",
		    c->id, what);
	return sm_cgroup_load(c->st.cgroup, out, err);
}

int sm_container_connect(const struct sm_container *c, sm_error_t *err)
{
	cleanup_free char *sock = sm_container_path(c, SM_CONTAINER_MONITOR_SOCK);
	int fd = sm_mon_connect(sock, err);

	if (fd < 0)
		return sm_error_prefix(err, "container `%s`: ", c->id);
	return fd;
}

int sm_container_save(struct sm_container *c, sm_error_t *err)
{
	cleanup_free char *p = sm_xasprintf("%s/" SM_CONTAINER_STATE, c->dir);
	int r;

	if ((r = sm_oci_state_save(&c->st, p, err)) < 0)
		return r;
	c->has_state = true;
	return 0;
}

int sm_container_remove(struct sm_container *c, sm_error_t *err)
{
	cleanup_dir DIR *d = opendir(c->dir);
	struct dirent *e;

	if (d == NULL)
		return errno == ENOENT ? 0 : sm_error_set(err, errno, "open `%s`", c->dir);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT)
			return sm_error_set(err, errno, "remove `%s/%s`", c->dir, e->d_name);
	}
	if (rmdir(c->dir) < 0 && errno != ENOENT)
		return sm_error_set(err, errno, "remove `%s`", c->dir);
	return 0;
}

void sm_container_close(struct sm_container *c)
{
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	if (c->dir_fd >= 0)
		close(c->dir_fd);
	free(c->root);
	free(c->id);
	free(c->dir);
	sm_oci_state_clear(&c->st);
	memset(c, 0, sizeof(*c));
	c->dir_fd = c->lock_fd = -1;
}

char *sm_container_path(const struct sm_container *c, const char *name)
{
	return sm_xasprintf("/proc/self/fd/%d/%s", c->dir_fd, name);
}

/* The status file the monitor writes when the container process has exited. */
static int read_exit_file(struct sm_container *c)
{
	cleanup_free char *p = sm_xasprintf("%s/" SM_CONTAINER_EXIT_FILE, c->dir);
	cleanup_free char *text = NULL;
	uint64_t v;

	if (sm_read_file(p, 64, &text, NULL, NULL) < 0)
		return -1;
	text[strcspn(text, "\n")] = '\0';
	if (sm_parse_u64(text, 0, 255, "exit status", &v, NULL) < 0)
		return -1;
	return (int)v;
}

int sm_container_status(struct sm_container *c, enum sm_oci_status *status, int *exit_status, sm_error_t *err)
{
	return sm_container_status_oom(c, status, exit_status, NULL, err);
}

int sm_container_status_oom(struct sm_container *c, enum sm_oci_status *status, int *exit_status,
			    int64_t *guest_oom, sm_error_t *err)
{
	cleanup_free char *sock = NULL;
	cleanup_close int fd = -1;
	struct sm_mon_msg m;
	uint64_t v64;
	uint32_t v;
	int alive;

	if (exit_status != NULL)
		*exit_status = -1;
	if (guest_oom != NULL)
		*guest_oom = -1;
	if (!c->has_state) {
		*status = SM_OCI_STATUS_STOPPED;
		return 0;
	}
	*status = c->st.status;
	alive = sm_oci_state_vmm_alive(&c->st, err);
	if (alive < 0)
		return alive;
	if (!alive) {
		*status = SM_OCI_STATUS_STOPPED;
		if (exit_status != NULL)
			*exit_status = read_exit_file(c);
		return 0;
	}
	if (c->st.status == SM_OCI_STATUS_CREATING)
		return 0;
	sock = sm_container_path(c, SM_CONTAINER_MONITOR_SOCK);
	fd = sm_mon_connect(sock, NULL);
	if (fd < 0 || sm_mon_call(fd, SM_MON_STATUS, NULL, NULL, 0, &m, 10000, NULL) < 0) {
		/* The monitor writes the exit status before it shuts the VM down and closes the socket. */
		int st = read_exit_file(c);
		if (st >= 0)
			*status = SM_OCI_STATUS_STOPPED;
		if (exit_status != NULL)
			*exit_status = st;
		return 0;
	}
	if (sm_mon_get_u32(&m, SM_MON_TAG_STATE, &v) > 0 && sm_oci_status_name((enum sm_oci_status)v) != NULL)
		*status = (enum sm_oci_status)v;
	if (exit_status != NULL && sm_mon_get_u32(&m, SM_MON_TAG_EXIT_STATUS, &v) > 0)
		*exit_status = (int)v;
	if (guest_oom != NULL && sm_mon_get_u64(&m, SM_MON_TAG_GUEST_OOM, &v64) > 0 && v64 <= INT64_MAX)
		*guest_oom = (int64_t)v64;
	sm_mon_msg_clear(&m);
	return 0;
}
