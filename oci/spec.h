/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_OCI_SPEC_H
#define SM_OCI_SPEC_H

#include <stddef.h>

#include "common/error.h"

/*
 * The default config.json written by `sm-runtime spec`: runc's template (same mounts, masked and
 * read-only paths, capabilities, namespaces, device rule) with process.args ["sh"], a terminal,
 * root "rootfs" (read-only), ociVersion SM_OCI_VERSION_MAX. Pretty-printed with tabs into a
 * malloc'd NUL-terminated buffer ending in a newline.
 */
int sm_oci_spec_default_json(char **out, size_t *len, sm_error_t *err);

#endif
