/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sm_agent_prefetch_exec() (guest/agent/prefetch.c): the executable found in the process's PATH
 * is read into the page cache, a non-regular candidate (a FIFO) is skipped without blocking, a
 * missing program is ignored, and at most 4 MiB are read. Runs on a disk file system (/var/tmp)
 * whose page cache can be dropped with POSIX_FADV_DONTNEED; skips where that does not work.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "guest/agent/child.h"
#include "tests/tap.h"

#define MIB (1u << 20)

static char dir[] = "/var/tmp/sm-prefetch-XXXXXX";

/* Resident pages of the file in [from, to) bytes, from mincore() over a mapping of it. */
static size_t resident(const char *path, size_t from, size_t to)
{
	long page = sysconf(_SC_PAGESIZE);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0, pages = (to - from) / (size_t)page;
	unsigned char *vec = calloc(pages, 1);
	void *map;

	if (fd < 0 || vec == NULL)
		abort();
	map = mmap(NULL, to - from, PROT_READ, MAP_SHARED, fd, (off_t)from);
	close(fd);
	if (map == MAP_FAILED || mincore(map, to - from, vec) < 0)
		abort();
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	munmap(map, to - from);
	free(vec);
	return n;
}

/* A file of size bytes (not sparse: a hole is never "read"), synced and dropped from the cache. */
static int make_program(const char *path, size_t size)
{
	static char block[MIB];
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0755);

	memset(block, 0x5a, sizeof(block));
	for (size_t off = 0; fd >= 0 && off < size; off += sizeof(block)) {
		if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block))
			return -1;
	}
	if (fd < 0 || fsync(fd) < 0 || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0)
		return -1;
	return close(fd);
}

/* Wait (at most 5 s) until want pages of [from, to) are resident; the readahead is asynchronous. */
static size_t wait_resident(const char *path, size_t from, size_t to, size_t want)
{
	struct timespec pause = {0, 10 * 1000 * 1000};
	size_t n = 0;

	for (int i = 0; i < 500 && (n = resident(path, from, to)) < want; i++)
		nanosleep(&pause, NULL);
	return n;
}

static void run(const char *arg0, const char *path_var)
{
	char *args[] = {(char *)arg0, NULL}, env_path[512];
	char *env[] = {env_path, "TERM=xterm", NULL};
	struct sm_agent_process p = {0};

	snprintf(env_path, sizeof(env_path), "PATH=%s", path_var);
	p.args.v = args;
	p.args.n = 1;
	sm_agent_prefetch_exec(&p, env);
}

int main(void)
{
	char a[128], b[128], prog[160], big[160], fifo[160], path_var[300];
	long page = sysconf(_SC_PAGESIZE);
	size_t pages4 = 4 * MIB / (size_t)page, before, n;

	tap_mkdtemp(dir);
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	snprintf(prog, sizeof(prog), "%s/prog", b);
	snprintf(big, sizeof(big), "%s/big", b);
	snprintf(fifo, sizeof(fifo), "%s/prog", a);
	snprintf(path_var, sizeof(path_var), "/nonexistent:%s:%s", a, b);
	if (mkdir(a, 0755) < 0 || mkdir(b, 0755) < 0 || mkfifo(fifo, 0755) < 0 ||
	    make_program(prog, 4 * MIB) < 0 || make_program(big, 12 * MIB) < 0)
		tap_skip_all("cannot prepare the test files in /var/tmp");
	before = resident(prog, 0, 4 * MIB);
	if (before > pages4 / 4)
		tap_skip_all("POSIX_FADV_DONTNEED does not drop the page cache here");

	/* The FIFO named prog comes first in PATH: it must be passed over, not opened (blocking). */
	run("prog", path_var);
	n = wait_resident(prog, 0, 4 * MIB, pages4);
	ok(n == pages4, "prog found after a FIFO in PATH is cached (%zu of %zu pages, %zu before)", n, pages4,
	   before);

	run("big", path_var);
	n = wait_resident(big, 0, 4 * MIB, pages4);
	ok(n == pages4, "the first 4 MiB of a 12 MiB program are cached (%zu pages)", n);
	n = resident(big, 6 * MIB, 12 * MIB);
	ok(n == 0, "nothing past 6 MiB is read (%zu pages)", n);

	/* Nothing to read: each returns at once without touching anything. */
	run("missing", path_var);
	run("/dev/null", path_var);
	run(fifo, path_var);
	run("", path_var);
	ok(1, "missing, device, FIFO and empty program names are ignored");

	unlink(fifo);
	unlink(prog);
	unlink(big);
	rmdir(a);
	rmdir(b);
	rmdir(dir);
	return tap_done();
}
