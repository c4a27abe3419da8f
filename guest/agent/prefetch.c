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
 */
#include <fcntl.h>
#include <limits.h>
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

/* A regular file with an execute bit, opened for reading; -1 otherwise (never a device). */
static int open_regular(const char *file)
{
	struct stat st;

	if (stat(file, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111))
		return -1;
	return open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
}

/* The file execve will run: args[0], looked up in env's PATH as exec_process() does. */
static int open_executable(const struct sm_agent_process *p, char *const *env)
{
	const char *file = p->args.n > 0 ? p->args.v[0] : NULL, *path = NULL;
	char cand[PATH_MAX];

	if (file == NULL || file[0] == '\0')
		return -1;
	if (strchr(file, '/') != NULL)
		return open_regular(file);
	for (char *const *e = env; e != NULL && *e != NULL; e++) {
		if (strncmp(*e, "PATH=", 5) == 0)
			path = *e + 5;
	}
	while (path != NULL && *path != '\0') {
		size_t len = strcspn(path, ":");
		int fd;

		if (len > 0 &&
		    snprintf(cand, sizeof(cand), "%.*s/%s", (int)len, path, file) < (int)sizeof(cand) &&
		    (fd = open_regular(cand)) >= 0)
			return fd;
		path += len;
		if (*path == ':')
			path++;
	}
	return -1;
}

void sm_agent_prefetch_exec(const struct sm_agent_process *p, char *const *env)
{
	cleanup_close int fd = open_executable(p, env);
	struct stat st;
	off_t end;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	end = st.st_size < (off_t)PREFETCH_MAX ? st.st_size : (off_t)PREFETCH_MAX;
	/* Asynchronous: the reads complete while the agent reports to the host and START comes. */
	for (off_t off = 0; off < end; off += PREFETCH_STEP) {
		if (readahead(fd, off, PREFETCH_STEP) < 0)
			return;
	}
}
