/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_SNAPSHOT_INTERNAL_H
#define SM_SNAPSHOT_INTERNAL_H

/* Private to snapshot/: a loaded snapshot, and the decoding of a state file image (image.c, which
 * needs no VM, so the fuzzer links it alone). */
#include "snapshot/format.h"
#include "snapshot/kvmstate.h"
#include "snapshot/snapshot.h"

struct sm_snapshot {
	char *mem_path;
	char *image; /* the state file; sections point into it */
	size_t image_len;
	struct sm_snap_file file;
	struct sm_snapshot_info info;
	struct sm_machine_state mstate;
	struct sm_vmstate vm;
	struct sm_vcpu_state vcpus[SM_VM_MAX_VCPUS];
	unsigned int nvcpus;
};

/* Decode and cross-check every section of s->file (already parsed) into s. */
int sm_snapshot_decode(struct sm_snapshot *s, sm_error_t *err);

#endif
