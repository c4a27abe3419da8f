/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_OCI_CONFIG_PARSE_H
#define SM_OCI_CONFIG_PARSE_H

/* Internal to the config parser: the pieces split over config*.c. */
#include "oci/config.h"
#include "oci/json.h"

/* sm_j_fn readers; out points at the struct pointer to allocate and fill. */
int sm_oci_parse_process_obj(struct sm_jctx *c, yajl_val v, void *out);	  /* struct sm_oci_process ** */
int sm_oci_parse_linux_obj(struct sm_jctx *c, yajl_val v, void *out);	  /* struct sm_oci_linux ** */
int sm_oci_parse_resources_obj(struct sm_jctx *c, yajl_val v, void *out); /* struct sm_oci_resources ** */

/*
 * Read the uidMappings/gidMappings array member key of obj and check what the kernel checks:
 * non-empty ranges that do not wrap around 2^32, do not overlap, and at most 340 entries.
 */
int sm_oci_parse_idmaps(struct sm_jctx *c, yajl_val obj, const char *key, struct sm_oci_idmaps *out);

/* True when s is a CPU list like "0-3, 7" (the execCPUAffinity syntax); "" is valid. */
bool sm_oci_cpu_list_valid(const char *s);

void sm_oci_linux_free(struct sm_oci_linux *l);
void sm_oci_resources_free(struct sm_oci_resources *r);

#endif
