/* SPDX-License-Identifier: Apache-2.0 */
/* Bind mounts -> virtio-fs shares: grouping, rootfs sources, devices, refusals, the slot limit, staging. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/bind-shares.h"
#include "tests/tap.h"

static char top[] = "/tmp/sm-bind-test-XXXXXX";

static void touch(const char *rel)
{
	cleanup_free char *p = sm_xasprintf("%s/%s", top, rel);
	if (sm_write_file_atomic(p, "x", 1, 0644, NULL) < 0)
		abort();
}

static void mk(const char *rel)
{
	cleanup_free char *p = sm_xasprintf("%s/%s", top, rel);
	if (mkdir(p, 0755) < 0)
		abort();
}

/* Load a config whose mounts are the given JSON array. */
static struct sm_oci_config *config_with(const char *mounts)
{
	cleanup_free char *path = sm_xasprintf("%s/bundle/config.json", top);
	cleanup_free char *json = sm_xasprintf("{\"ociVersion\":\"1.2.0\",\"root\":{\"path\":\"rootfs\"},"
					       "\"mounts\":%s}",
					       mounts);
	struct sm_oci_config *cfg = NULL;
	sm_error_t err = SM_ERROR_INIT;

	if (sm_write_file_atomic(path, json, strlen(json), 0644, NULL) < 0)
		abort();
	if (sm_oci_config_load(path, 0, &cfg, &err) < 0) {
		printf("# %s\n", err.msg);
		abort();
	}
	return cfg;
}

static int plan(const char *mounts, struct sm_bind_shares *s, sm_error_t *err)
{
	cleanup_oci_config struct sm_oci_config *cfg = config_with(mounts);
	cleanup_free char *bundle = sm_xasprintf("%s/bundle", top);
	cleanup_free char *rootfs = sm_xasprintf("%s/bundle/rootfs", top);

	return sm_bind_shares_plan(cfg, bundle, rootfs, "sm-root", s, err);
}

static void test_grouping(void)
{
	struct sm_bind_shares s;
	sm_error_t err = SM_ERROR_INIT;
	cleanup_free char *m = sm_xasprintf(
	    "[{\"destination\":\"/a\",\"type\":\"bind\",\"source\":\"%1$s/etc/hosts\",\"options\":[\"ro\"]},"
	    "{\"destination\":\"/b\",\"type\":\"bind\",\"source\":\"%1$s/etc/"
	    "resolv.conf\",\"options\":[\"rw\"]},"
	    "{\"destination\":\"/c\",\"source\":\"%1$s/data\",\"options\":[\"rbind\",\"ro\"]},"
	    "{\"destination\":\"/d\",\"type\":\"bind\",\"source\":\"rootfs/inner\"},"
	    "{\"destination\":\"/e\",\"type\":\"bind\",\"source\":\"/dev/null\"},"
	    "{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"}]",
	    top);
	char *tag = NULL, *sub = NULL;
	bool dax = true;
	int r;

	r = plan(m, &s, &err);
	ok(r == 0, "plan: %s", r < 0 ? err.msg : "ok");
	ok(s.n == 2, "two shares (etc/ merged, data/), got %zu", s.n);
	ok(s.n == 2 && strcmp(s.v[0].tag, "sm-bind0") == 0 && strcmp(s.v[1].tag, "sm-bind1") == 0, "tags");
	ok(s.n == 2 && !s.v[0].readonly && s.v[1].readonly, "etc/ rw (one rw user), data/ ro");

	cleanup_free char *hosts = sm_xasprintf("%s/etc/hosts", top);
	r = sm_bind_shares_map(&s, hosts, &tag, &sub, &dax, &err);
	ok(r == 1 && strcmp(tag, "sm-bind0") == 0 && strcmp(sub, "hosts") == 0 && !dax,
	   "file -> parent share + name");
	free(tag), free(sub), tag = sub = NULL;

	cleanup_free char *data = sm_xasprintf("%s/data", top);
	r = sm_bind_shares_map(&s, data, &tag, &sub, &dax, &err);
	ok(r == 1 && strcmp(tag, "sm-bind1") == 0 && strcmp(sub, "") == 0, "directory -> its own share root");
	free(tag), free(sub), tag = sub = NULL;

	cleanup_free char *inner = sm_xasprintf("%s/bundle/rootfs/inner", top);
	r = sm_bind_shares_map(&s, inner, &tag, &sub, &dax, &err);
	ok(r == 1 && strcmp(tag, "sm-root") == 0 && strcmp(sub, "inner") == 0,
	   "rootfs source -> rootfs share");
	free(tag), free(sub), tag = sub = NULL;

	r = sm_bind_shares_map(&s, "/dev/null", &tag, &sub, &dax, &err);
	ok(r == 0 && tag == NULL, "device node: sent unchanged (the guest's own node)");

	cleanup_free char *other = sm_xasprintf("%s/other", top);
	r = sm_bind_shares_map(&s, other, &tag, &sub, &dax, &err);
	ok(r < 0 && strstr(err.msg, "no virtio-fs share") != NULL, "unplanned source refused: %s", err.msg);
	sm_bind_shares_clear(&s);
}

static void test_refusals(void)
{
	struct sm_bind_shares s;
	sm_error_t err = SM_ERROR_INIT;
	cleanup_free char *missing =
	    sm_xasprintf("[{\"destination\":\"/a\",\"type\":\"proc\",\"source\":\"proc\"},"
			 "{\"destination\":\"/x\",\"type\":\"bind\",\"source\":\"%s/nope\"}]",
			 top);
	cleanup_free char *sockm =
	    sm_xasprintf("[{\"destination\":\"/x\",\"type\":\"bind\",\"source\":\"%s/sock\"}]", top);
	cleanup_free char *sockpath = sm_xasprintf("%s/sock", top);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	int r;

	r = plan(missing, &s, &err);
	ok(r < 0 && strstr(err.msg, "mounts[1]") && strstr(err.msg, "nope"),
	   "missing source names the mount: %s", err.msg);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sockpath);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();
	err = (sm_error_t)SM_ERROR_INIT;
	r = plan(sockm, &s, &err);
	ok(r < 0 && strstr(err.msg, "socket"), "socket source refused: %s", err.msg);
	close(fd);

	/* Six distinct directories: one more than the slots. */
	char *buf = NULL;
	size_t blen = 0;
	FILE *b = open_memstream(&buf, &blen);
	fprintf(b, "[");
	for (int i = 0; i < SM_BIND_SHARES_MAX + 1; i++) {
		cleanup_free char *d = sm_xasprintf("many%d", i);
		mk(d);
		fprintf(b, "%s{\"destination\":\"/m%d\",\"type\":\"bind\",\"source\":\"%s/many%d\"}",
			i ? "," : "", i, top, i);
	}
	fprintf(b, "]");
	fclose(b);
	err = (sm_error_t)SM_ERROR_INIT;
	r = plan(buf, &s, &err);
	ok(r < 0 && strstr(err.msg, "mounts[5]") && strstr(err.msg, "room for"), "slot limit: %s", err.msg);
	free(buf);
}

static int count_lines(const char *path)
{
	cleanup_fclose FILE *f = fopen(path, "r");
	int n = 0, c;

	while (f != NULL && (c = fgetc(f)) != EOF)
		n += c == '\n';
	return n;
}

static bool same_inode(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Staging (needs CAP_SYS_ADMIN): the share holds data/ under its name, in its own namespace only. */
static void test_staging(void)
{
	cleanup_free char *m =
	    sm_xasprintf("[{\"destination\":\"/c\",\"source\":\"%1$s/data\",\"options\":[\"rbind\",\"ro\"]},"
			 "{\"destination\":\"/x\",\"type\":\"bind\",\"source\":\"%1$s/data/x\"},"
			 "{\"destination\":\"/r\",\"type\":\"bind\",\"source\":\"rootfs/inner\"}]",
			 top);
	cleanup_oci_config struct sm_oci_config *cfg = config_with(m);
	cleanup_free char *bundle = sm_xasprintf("%s/bundle", top);
	cleanup_free char *rootfs = sm_xasprintf("%s/bundle/rootfs", top);
	cleanup_free char *state = sm_xasprintf("%s/state", top);
	cleanup_free char *data = sm_xasprintf("%s/data", top);
	cleanup_free char *datax = sm_xasprintf("%s/data/x", top);
	cleanup_free char *cwd_before = getcwd(NULL, 0), *cwd_after = NULL;
	cleanup_free char *staged = NULL, *staged_x = NULL, *newfile = NULL;
	int mounts = count_lines("/proc/self/mountinfo"), keep[2], r;
	sm_error_t err = SM_ERROR_INIT;
	struct sm_bind_shares s;
	char *tag = NULL, *sub = NULL;
	bool dax;

	mk("state");
	r = sm_bind_shares_stage(cfg, bundle, rootfs, state, keep, &err);
	ok(r == 0, "stage: %s", r < 0 ? err.msg : "ok");
	if (r < 0 || keep[0] < 0) {
		tap_skip("staging needs CAP_SYS_ADMIN (unshare a mount namespace)");
		return;
	}
	cwd_after = getcwd(NULL, 0);
	ok(keep[1] >= 0 && cwd_after && strcmp(cwd_before, cwd_after) == 0,
	   "two fds kept, working directory back");
	ok(count_lines("/proc/self/mountinfo") == mounts, "nothing mounted in the caller's namespace");
	r = sm_bind_shares_plan(cfg, bundle, rootfs, "sm-root", &s, &err);
	ok(r == 0 && s.n == 1, "plan: one share for data/ and data/x: %s", r < 0 ? err.msg : "ok");
	if (r < 0 || s.n != 1)
		return;
	ok(strncmp(s.v[0].host_dir, "/proc/self/fd/", 14) == 0, "share: the staging directory (%s)",
	   s.v[0].host_dir);
	r = sm_bind_shares_map(&s, data, &tag, &sub, &dax, &err);
	ok(r == 1 && strcmp(tag, "sm-bind0") == 0 && strcmp(sub, "data") == 0,
	   "directory -> share + its name");
	free(tag), free(sub), tag = sub = NULL;
	r = sm_bind_shares_map(&s, datax, &tag, &sub, &dax, &err);
	ok(r == 1 && strcmp(tag, "sm-bind0") == 0 && strcmp(sub, "data/x") == 0,
	   "its file -> share + data/x");
	free(tag), free(sub), tag = sub = NULL;
	staged = sm_xasprintf("%s/data", s.v[0].host_dir);
	staged_x = sm_xasprintf("%s/data/x", s.v[0].host_dir);
	ok(same_inode(staged, data) && same_inode(staged_x, datax), "the staged name is the source itself");
	cleanup_dir DIR *d = opendir(s.v[0].host_dir);
	struct dirent *e;
	int n = 0;
	while (d != NULL && (e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	ok(d != NULL && n == 1, "the share holds only the source (%d entries)", n);
	newfile = sm_xasprintf("%s/new", s.v[0].host_dir);
	int fd = open(newfile, O_CREAT | O_WRONLY | O_CLOEXEC, 0644), oerr = errno;
	ok(fd < 0 && oerr == EROFS, "nothing can be created beside it (%s)",
	   fd < 0 ? strerror(oerr) : "created");
	if (fd >= 0)
		close(fd);
	close(keep[0]);
	close(keep[1]);
	ok(!same_inode(staged, data), "closing the fds ends the staging mounts");
	sm_bind_shares_clear(&s);
}

int main(void)
{
	if (mkdtemp(top) == NULL)
		abort();
	mk("etc");
	mk("data");
	mk("other");
	mk("bundle");
	mk("bundle/rootfs");
	mk("bundle/rootfs/inner");
	touch("etc/hosts");
	touch("etc/resolv.conf");
	touch("data/x");
	test_grouping();
	test_refusals();
	test_staging();
	cleanup_free char *cmd = sm_xasprintf("rm -rf '%s'", top);
	if (system(cmd) != 0)
		return 1;
	return tap_done();
}
