/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Read the container's executable into the guest page cache during CREATE.
 *
 * A restored template guest has a cold page cache, and without DAX every page of the program is
 * read over virtio-fs when execve and the first instructions fault on it. On kvm_pvm hosts (guest
 * kernel code emulated) that took 1.5-2 s for busybox, all of it after START, so `start`
 * returned long before the program could handle a signal or run its first command. Reading the
 * file ahead moves that work into CREATE, where the OCI lifecycle expects setup cost, and the
 * program then starts from the page cache. The total work is about the same: the faults read the
 * whole binary anyway (128 KiB read-around per fault).
 *
 * The PATH search done here is the exec's too (child.c): its result goes on to START, so the
 * lookups (each a FUSE round trip per PATH entry) run once, at CREATE, as runc resolves args[0]
 * before it waits for start.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "guest/agent/child.h"

/*
 * Larger programs are read ahead only this far; what they need later faults in as before. A
 * bound, because faults read only the parts a program touches: reading all of a 50 MiB binary
 * would cost seconds of emulated guest kernel time on kvm_pvm for pages it never uses.
 */
#define PREFETCH_MAX (4u << 20)
/* One readahead() call reads at most the file system's read-ahead window (128 KiB). */
#define PREFETCH_STEP (128u << 10)

/* What execve may run: a regular file with an execute bit (a FIFO or device never is). */
static bool runnable(const char *file)
{
	struct stat st;

	return stat(file, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

const char *sm_agent_exec_lookup(const char *file, char *const *env, char *buf, size_t size)
{
	const char *path = NULL;

	for (char *const *e = env; e != NULL && *e != NULL; e++) {
		if (strncmp(*e, "PATH=", 5) == 0)
			path = *e + 5;
	}
	while (path != NULL && *path != '\0') {
		size_t len = strcspn(path, ":");
		int n;

		if (len > 0 && (n = snprintf(buf, size, "%.*s/%s", (int)len, path, file)) >= 0 &&
		    (size_t)n < size && runnable(buf))
			return buf;
		path += len;
		if (*path == ':')
			path++;
	}
	return NULL;
}

/* Start reading file's first PREFETCH_MAX bytes into the page cache, if it can be opened. */
static void prefetch_file(const char *file)
{
	cleanup_close int fd = -1;
	struct stat st;
	off_t end;

	if (!runnable(file))
		return;
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	end = st.st_size < (off_t)PREFETCH_MAX ? st.st_size : (off_t)PREFETCH_MAX;
	/* Asynchronous: the reads complete while the agent reports to the host and START comes. */
	for (off_t off = 0; off < end; off += PREFETCH_STEP) {
		if (readahead(fd, off, PREFETCH_STEP) < 0)
			return;
	}
}

const char *sm_agent_prefetch_exec_path(const struct sm_agent_process *p, char *const *env, char *buf,
					size_t size)
{
	const char *file = p->args.n > 0 ? p->args.v[0] : NULL, *found;

	if (file == NULL || file[0] == '\0')
		return NULL;
	if (strchr(file, '/') != NULL) {
		prefetch_file(file);
		return NULL; /* no search: execve takes it as it is */
	}
	found = sm_agent_exec_lookup(file, env, buf, size);
	if (found != NULL)
		prefetch_file(found);
	return found;
}

void sm_agent_prefetch_exec(const struct sm_agent_process *p, char *const *env)
{
	char buf[PATH_MAX];

	(void)sm_agent_prefetch_exec_path(p, env, buf, sizeof(buf));
}
