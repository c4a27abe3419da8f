/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the guest agent's CREATE/EXEC decoder (guest/agent/spec.c) with arbitrary payloads. */
#include <stdint.h>
#include <stdlib.h>

#include "guest/agent/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sm_agent_process p;
	struct sm_agent_container c;
	sm_error_t err = SM_ERROR_INIT;

	(void)sm_agent_process_decode(data, size, &p, &err);
	sm_agent_process_free(&p);
	(void)sm_agent_container_decode(data, size, &c, &err);
	sm_agent_container_free(&c);
	return 0;
}
