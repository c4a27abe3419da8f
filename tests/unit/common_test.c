/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/util.h"
#include "tests/tap.h"

static int fails_with_errno(sm_error_t *err)
{
	return sm_error_set(err, ENOENT, "open `%s`", "/nope");
}

static void test_error(void)
{
	sm_error_t err = SM_ERROR_INIT;
	int r = fails_with_errno(&err);

	ok(r == -ENOENT, "sm_error_set returns -code (%d)", r);
	ok(strcmp(err.msg, "open `/nope`: No such file or directory") == 0, "message has strerror: %s", err.msg);
	r = sm_error_prefix(&err, "create %s: ", "c1");
	ok(r == -ENOENT && strncmp(err.msg, "create c1: open", 15) == 0, "prefix keeps code and text: %s",
	   err.msg);
	ok(sm_error_set(&err, 0, "bad %s", "x") == -1 && strcmp(err.msg, "bad x") == 0, "code 0 gives -1");
	sm_error_clear(&err);
	ok(!sm_error_isset(&err), "clear");
	ok(sm_error_set(NULL, EIO, "ignored") == -EIO, "NULL err is allowed");
}

static mode_t current_umask(void)
{
	mode_t m = umask(022);

	umask(m);
	return m;
}

static void test_files(void)
{
	char dir[] = "/tmp/sm-common-XXXXXX";
	cleanup_free char *path = NULL;
	cleanup_free char *data = NULL;
	sm_error_t err = SM_ERROR_INIT;
	size_t len = 0;
	struct stat st;

	ok(mkdtemp(dir) != NULL, "mkdtemp");
	path = sm_xasprintf("%s/state.json", dir);
	ok(sm_write_file_atomic(path, "{\"a\":1}", 7, 0600, &err) == 0, "atomic write: %s", err.msg);
	ok(sm_read_file(path, 1 << 20, &data, &len, &err) == 0 && len == 7 && strcmp(data, "{\"a\":1}") == 0,
	   "read back");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode kept");
	{
		/* The pid-named temporary file of old is squatted (as by another pid 1's write). */
		cleanup_free char *squat = sm_xasprintf("%s.tmp.%d", path, (int)getpid());
		DIR *d;
		struct dirent *e;
		int others = 0;

		ok(mkdir(squat, 0700) == 0, "squat the pid-named temporary name");
		ok(sm_write_file_atomic(path, "{\"a\":2}", 7, 0640, &err) == 0,
		   "atomic write with a squatted pid-named temporary: %s", err.msg);
		ok(stat(path, &st) == 0 && (st.st_mode & 0777) == (0640 & ~current_umask()) &&
		       st.st_size == 7,
		   "replaced (mode %o)", st.st_mode & 0777);
		ok(rmdir(squat) == 0, "the squatter was left alone");
		d = opendir(dir);
		while (d != NULL && (e = readdir(d)) != NULL)
			others += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
				  strcmp(e->d_name, "state.json");
		if (d != NULL)
			closedir(d);
		ok(d != NULL && others == 0, "no temporary file left behind (%d)", others);
	}
	free(data);
	data = NULL;
	ok(sm_read_file(path, 4, &data, &len, &err) == -EFBIG && strstr(err.msg, "state.json") != NULL,
	   "size limit names the file: %s", err.msg);
	ok(sm_read_file("/nonexistent/x", 10, &data, &len, &err) == -ENOENT && strstr(err.msg, "/nonexistent/x"),
	   "missing file named: %s", err.msg);
	unlink(path);
	rmdir(dir);
}

static void test_parse(void)
{
	sm_error_t err = SM_ERROR_INIT;
	uint64_t v = 0;

	ok(sm_parse_u64("256", 1, 1024, "--mem", &v, &err) == 0 && v == 256, "parse 256");
	ok(sm_parse_u64("0", 1, 1024, "--mem", &v, &err) < 0 && strstr(err.msg, "--mem") != NULL,
	   "zero refused: %s", err.msg);
	ok(sm_parse_u64("12x", 1, 1024, "--mem", &v, &err) < 0, "garbage refused: %s", err.msg);
	ok(sm_parse_u64("-1", 0, 1024, "--mem", &v, &err) < 0, "negative refused");
	ok(sm_parse_u64("99999999999999999999999", 0, UINT64_MAX, "--mem", &v, &err) < 0, "overflow refused");
}

static void test_cleanup(void)
{
	int fd;
	{
		cleanup_close int f = open("/dev/null", O_RDONLY);
		fd = f;
	}
	ok(fcntl(fd, F_GETFD) < 0 && errno == EBADF, "cleanup_close closed the fd");
	{
		cleanup_close int f = open("/dev/null", O_RDONLY);
		fd = steal_fd(&f);
		ok(f == -1, "steal_fd clears");
	}
	ok(fcntl(fd, F_GETFD) >= 0, "stolen fd stays open");
	close(fd);
}

int main(void)
{
	test_error();
	test_files();
	test_parse();
	test_cleanup();
	return tap_done();
}
