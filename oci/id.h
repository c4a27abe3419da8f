/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_OCI_ID_H
#define SM_OCI_ID_H

#include "common/error.h"

/*
 * Longest container id accepted. The id becomes a directory name under the state root, so
 * NAME_MAX (255) is the real limit; runc has no explicit one and fails with ENAMETOOLONG there.
 */
#define SM_OCI_ID_MAX 255

/*
 * Check a container id: 1..SM_OCI_ID_MAX bytes, first character [A-Za-z0-9], the rest
 * [A-Za-z0-9_.+-], and no "..". This is runc's set minus its oddities (runc also takes ',' and a
 * leading '.', '-', '_' or '+'), so an id is always a safe single path component and never looks
 * like a command-line option. The error says which rule failed.
 */
int sm_oci_id_validate(const char *id, sm_error_t *err);

#endif
