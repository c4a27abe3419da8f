/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sm-agent: the guest agent as a program of its own, for running it outside sm-init: on a
 * connected stream fd it inherited (`--fd N`, how the host tests can run the static musl build)
 * or listening on a vsock port (`--vsock PORT`). In the guest, sm-init calls sm_agent_main().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "guest/agent/agent.h"

int main(int argc, char **argv)
{
	struct sm_agent_opts opts = {.staging_dir = NULL, .log_fd = 2};
	sm_error_t err = SM_ERROR_INIT;
	struct sm_agent *a = NULL;
	int r;

	if (argc == 3 && strcmp(argv[1], "--vsock") == 0) {
		int fd = sm_agent_listen_vsock((uint32_t)strtoul(argv[2], NULL, 10), &err);
		if (fd < 0) {
			fprintf(stderr, "sm-agent: %s\n", err.msg);
			return 1;
		}
		return sm_agent_main(fd);
	}
	if (argc != 3 || strcmp(argv[1], "--fd") != 0) {
		fprintf(stderr, "usage: sm-agent --fd N | --vsock PORT\n");
		return 2;
	}
	if (sm_agent_new(&opts, &a, &err) < 0) {
		fprintf(stderr, "sm-agent: %s\n", err.msg);
		return 1;
	}
	r = sm_agent_serve(a, atoi(argv[2]), &err);
	if (r < 0)
		fprintf(stderr, "sm-agent: %s\n", err.msg);
	sm_agent_free(a);
	return r < 0 ? 1 : 0;
}
