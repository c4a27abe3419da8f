/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Runs inside the guest from the virtio-fs share (built static): maps FILE shared, checks that it
 * starts with EXPECT, then writes MARK at offset 0 through the mapping and msyncs, so the host can
 * check that the write reached the file. Exit 0 on success, 1 with a message otherwise.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct stat st;
	char *p;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: mmap-check FILE EXPECT MARK\n");
		return 1;
	}
	fd = open(argv[1], O_RDWR);
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(argv[1]);
		return 1;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	if ((size_t)st.st_size < strlen(argv[2]) || memcmp(p, argv[2], strlen(argv[2])) != 0) {
		fprintf(stderr, "mmap-check: content differs\n");
		return 1;
	}
	if (strlen(argv[3]) > (size_t)st.st_size)
		return 1;
	memcpy(p, argv[3], strlen(argv[3]));
	if (msync(p, (size_t)st.st_size, MS_SYNC) < 0) {
		perror("msync");
		return 1;
	}
	printf("mmap-check: ok\n");
	return 0;
}
