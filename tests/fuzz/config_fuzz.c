/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the config.json parser (and the standalone process.json parser) with arbitrary bytes. A
 * parse that succeeds must give a config that keeps the documented invariants; a failure must
 * leave nothing allocated (LeakSanitizer checks).
 */
#include <stdlib.h>
#include <string.h>

#include "oci/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct sm_oci_config *cfg)
{
	if (cfg->oci_version == NULL || cfg->root == NULL || cfg->root->path == NULL ||
	    cfg->root->path[0] == '\0')
		abort();
	for (size_t i = 0; i < cfg->n_mounts; i++)
		if (cfg->mounts[i].destination == NULL || cfg->mounts[i].destination[0] != '/')
			abort();
	if (cfg->process != NULL &&
	    (cfg->process->args.n == 0 || cfg->process->cwd == NULL || cfg->process->cwd[0] != '/'))
		abort();
	if (cfg->unknown.n > 257 || cfg->warnings.n > 257)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sm_oci_config *cfg = NULL;
	struct sm_oci_process *p = NULL;
	struct sm_oci_strv unknown = {0}, warnings = {0};
	sm_error_t err = SM_ERROR_INIT;
	unsigned flags = size & 1 ? SM_OCI_PARSE_REQUIRE_PROCESS : 0;

	if (sm_oci_config_parse((const char *)data, size, "config.json", flags, &cfg, &err) == 0) {
		check(cfg);
		sm_oci_config_free(cfg);
	} else if (cfg != NULL || err.msg[0] == '\0') {
		abort();
	}
	if (sm_oci_process_parse((const char *)data, size, "process.json", &p, &unknown, &warnings, &err) ==
	    0) {
		if (p->args.n == 0 || p->cwd[0] != '/')
			abort();
		sm_oci_process_free(p);
	}
	sm_oci_strv_free(&unknown);
	sm_oci_strv_free(&warnings);
	return 0;
}
