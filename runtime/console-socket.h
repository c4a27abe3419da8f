/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_CONSOLE_SOCKET_H
#define SM_RUNTIME_CONSOLE_SOCKET_H

/*
 * process.terminal on the host side: the pseudo-terminal whose master goes to the caller's
 * --console-socket (the runc protocol that containerd's shim and conmon implement) and whose
 * slave end the runtime relays to the guest console.
 */
#include "common/error.h"

/*
 * Allocate a new pseudo-terminal pair: *master from posix_openpt() (O_RDWR|O_NOCTTY|O_CLOEXEC),
 * granted and unlocked, and *slave opened from its ptsname (O_RDWR|O_NOCTTY|O_CLOEXEC, so it
 * never becomes our controlling terminal). *name receives the slave's path ("/dev/pts/3"),
 * malloc'd, for the caller to free. On failure nothing is left open and the outputs are untouched.
 */
int sm_pty_open(int *master, int *slave, char **name, sm_error_t *err);

/*
 * Hand master_fd to the process listening on the Unix stream socket socket_path, exactly as
 * runc does: connect, send ONE message whose payload is name (without a NUL; non-empty, at most
 * 4096 bytes, the receivers' buffer size) carrying ONE SCM_RIGHTS descriptor, expect no reply,
 * close. The caller keeps master_fd open (the receiver gets its own copy). A socket_path longer
 * than sun_path is reached through /proc/self/fd/<dir fd>/<name>. Errors name --console-socket
 * and the path.
 */
int sm_console_socket_send(const char *socket_path, int master_fd, const char *name, sm_error_t *err);

#endif
