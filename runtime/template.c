/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/template.h"
#include "snapshot/snapshot.h"

#define EMPTY_DIR "empty"

const char *sm_template_root(void)
{
	static char path[PATH_MAX];
	const char *cache = getenv("SM_CACHE_DIR");

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "%s/templates", cache && cache[0] ? cache : SM_CACHE_DIR);
	return path;
}

static int mkdir_p(const char *path, mode_t mode, sm_error_t *err)
{
	cleanup_free char *p = sm_xstrdup(path);

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return sm_error_set(err, errno, "mkdir `%s`", p);
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return sm_error_set(err, errno, "mkdir `%s`", p);
	return 0;
}

/* The empty read-only directory behind the shares a container does not use. */
static int empty_dir(char **out, sm_error_t *err)
{
	cleanup_free char *p = sm_xasprintf("%s/%s", sm_template_root(), EMPTY_DIR);

	if (mkdir_p(p, 0555, err) < 0)
		return -1;
	*out = steal_ptr(&p);
	return 0;
}

int sm_template_complete_config(struct sm_sandbox_config *cfg, const struct sm_bind_shares *binds,
				struct sm_bind_shares *padded, sm_error_t *err)
{
	static char tags[SM_BIND_SHARES_MAX][16];
	static char *empty;

	if (empty == NULL && empty_dir(&empty, err) < 0)
		return -1;
	*padded = (struct sm_bind_shares){0};
	if (binds != NULL)
		*padded = *binds;
	for (size_t i = padded->n; i < SM_BIND_SHARES_MAX; i++) {
		snprintf(tags[i], sizeof(tags[i]), "sm-bind%zu", i);
		padded->v[i] = (struct sm_bind_share){.host_dir = empty, .tag = tags[i], .readonly = true};
	}
	padded->n = SM_BIND_SHARES_MAX;
	cfg->binds = padded;
	if (!cfg->console) {
		cfg->console = true;
		cfg->console_in_fd = cfg->console_out_fd = -1;
	}
	return 0;
}

/* FNV-1a, 64 bit: a cache key, not a security boundary. */
static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/*
 * What a file contributes to the key. Small files (the initramfs, which is reproducible) by
 * content, so a rebuild with the same inputs finds the same template across CI runs; large ones
 * (the kernel, which lives in a cache folder named by the hash of its inputs) by path, size and
 * mtime, to keep create fast.
 */
#define HASH_CONTENT_MAX (8u << 20)
static int hash_file(uint64_t *h, const char *path, const char *what, sm_error_t *err)
{
	cleanup_free char *data = NULL;
	struct stat st;
	size_t len;

	if (path == NULL) {
		*h = fnv(*h, "-", 1);
		return 0;
	}
	if (stat(path, &st) < 0)
		return sm_error_set(err, errno, "%s `%s`", what, path);
	if (st.st_size <= (off_t)HASH_CONTENT_MAX) {
		if (sm_read_file(path, HASH_CONTENT_MAX, &data, &len, err) < 0)
			return sm_error_prefix(err, "%s: ", what);
		*h = fnv(*h, data, len);
		return 0;
	}
	uint64_t v[3] = {(uint64_t)st.st_size, (uint64_t)st.st_mtim.tv_sec, (uint64_t)st.st_mtim.tv_nsec};
	*h = fnv(*h, path, strlen(path) + 1);
	*h = fnv(*h, v, sizeof(v));
	return 0;
}

static int template_key(const struct sm_sandbox_config *cfg, char key[17], sm_error_t *err)
{
	uint64_t h = 0xcbf29ce484222325ull;
	uint64_t shape[5] = {SM_TEMPLATE_LAYOUT_VERSION, cfg->machine.mem_mib, cfg->machine.ncpus, cfg->dax_mib,
			     SM_BIND_SHARES_MAX};

	if (hash_file(&h, cfg->machine.kernel_path, "kernel", err) < 0 ||
	    hash_file(&h, cfg->machine.initrd_path, "initramfs", err) < 0)
		return -1;
	h = fnv(h, shape, sizeof(shape));
	if (cfg->machine.append != NULL)
		h = fnv(h, cfg->machine.append, strlen(cfg->machine.append));
	snprintf(key, 17, "%016llx", (unsigned long long)h);
	return 0;
}

static int wait_ready(struct sm_sandbox *sb, int64_t timeout_ns, sm_error_t *err)
{
	struct sm_machine *m = sm_sandbox_machine(sb);
	uint64_t deadline = sm_now_ns() + (uint64_t)timeout_ns;

	for (;;) {
		struct sm_machine_result res;
		struct sm_machine_state st;
		if (sm_machine_wait(m, 0, &res) == 0) {
			sm_machine_outcome(&res, err);
			return sm_error_prefix(err, "template VM stopped before its guest was ready: ");
		}
		sm_machine_get_state(m, &st);
		if (st.ready)
			return 0;
		if (sm_now_ns() >= deadline)
			return sm_error_set(err, ETIMEDOUT, "template VM: the guest was not ready after %lld s",
					    (long long)(timeout_ns / 1000000000));
		usleep(20000);
	}
}

/* Boot a template VM of cfg's shape and save it into tmp. */
static int boot_and_save(const struct sm_sandbox_config *cfg, const char *tmp, int64_t timeout_ns,
			 sm_error_t *err)
{
	struct sm_sandbox_config tc = *cfg;
	struct sm_bind_shares padded;
	struct sm_sandbox *sb = NULL;
	cleanup_free char *sock = sm_xasprintf("%s/boot-vsock.sock", tmp);
	int r;

	tc.binds = NULL;
	tc.console = false;
	if ((r = sm_template_complete_config(&tc, NULL, &padded, err)) < 0)
		return r;
	tc.rootfs = padded.v[0].host_dir;
	tc.rootfs_readonly = true;
	tc.vsock_path = sock;
	tc.agent = true;
	tc.machine.cmd = NULL;
	tc.machine.console_in_fd = -1;
	if ((r = sm_sandbox_create(&tc, &sb, err)) < 0)
		goto out;
	if ((r = sm_machine_start(sm_sandbox_machine(sb), err)) < 0)
		goto out;
	if ((r = wait_ready(sb, timeout_ns, err)) < 0)
		goto out;
	r = sm_sandbox_snapshot(sb, tmp, err);
out:
	sm_sandbox_destroy(sb);
	unlink(sock);
	return r;
}

static bool complete(const char *dir)
{
	cleanup_free char *state = sm_xasprintf("%s/%s", dir, SM_SNAPSHOT_STATE_FILE);
	return access(state, R_OK) == 0;
}

static void remove_dir(const char *dir)
{
	cleanup_dir DIR *d = opendir(dir);
	struct dirent *e;

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		unlinkat(dirfd(d), e->d_name, 0);
	}
	rmdir(dir);
}

int sm_template_get(const struct sm_sandbox_config *cfg, int64_t boot_timeout_ns, char **dir, bool *booted,
		    sm_error_t *err)
{
	char key[17];
	cleanup_free char *final = NULL, *tmp = NULL, *lock = NULL;
	cleanup_close int lfd = -1;
	int r;

	*booted = false;
	if (template_key(cfg, key, err) < 0 || mkdir_p(sm_template_root(), 0700, err) < 0)
		return -1;
	final = sm_xasprintf("%s/%s", sm_template_root(), key);
	if (complete(final)) {
		*dir = steal_ptr(&final);
		return 0;
	}
	lock = sm_xasprintf("%s/%s.lock", sm_template_root(), key);
	lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0)
		return sm_error_set(err, errno, "template lock `%s`", lock);
	if (flock(lfd, LOCK_EX) < 0)
		return sm_error_set(err, errno, "lock `%s`", lock);
	if (!complete(final)) {
		tmp = sm_xasprintf("%s/%s.tmp", sm_template_root(), key);
		remove_dir(tmp); /* left by a creator that died */
		if (mkdir(tmp, 0700) < 0)
			return sm_error_set(err, errno, "mkdir `%s`", tmp);
		if ((r = boot_and_save(cfg, tmp, boot_timeout_ns, err)) < 0) {
			remove_dir(tmp);
			return sm_error_prefix(err, "making the template VM: ");
		}
		if (rename(tmp, final) < 0) {
			r = sm_error_set(err, errno, "rename `%s` to `%s`", tmp, final);
			remove_dir(tmp);
			return r;
		}
		*booted = true;
	}
	*dir = steal_ptr(&final);
	return 0;
}
