/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Run inside a guest container (built static by tests/cli/checkpoint.bats): which of the CIDs on
 * the command line is the guest's own vsock CID, as the guest kernel sees it. Linux lets a socket
 * bind to a CID only when it is the local one (af_vsock.c: __vsock_bind -> vsock_find_cid, which
 * asks the virtio transport for the guest_cid it read from the device), so bind() answers without
 * /dev/vsock or privileges. Prints "CID mine" or "CID not mine (error)" per argument; exits 0 when
 * exactly one was the guest's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

int main(int argc, char **argv)
{
	int mine = 0;

	for (int i = 1; i < argc; i++) {
		struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_port = VMADDR_PORT_ANY};
		int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

		a.svm_cid = (unsigned int)strtoul(argv[i], NULL, 10);
		if (fd < 0) {
			printf("%s socket: %s\n", argv[i], strerror(errno));
			return 2;
		}
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
			printf("%s mine\n", argv[i]);
			mine++;
		} else {
			printf("%s not mine (%s)\n", argv[i], strerror(errno));
		}
		close(fd);
	}
	return mine == 1 ? 0 : 1;
}
