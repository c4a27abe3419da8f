/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_SNAPSHOT_SNAPSHOT_H
#define SM_SNAPSHOT_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "vmm/machine.h"

/*
 * Snapshots of a whole machine (docs/design/snapshot-format.md). A snapshot is a directory with
 * two files: SM_SNAPSHOT_STATE_FILE (vCPUs, VM, UARTs, every attached virtio device; CRC-checked
 * sections) and SM_SNAPSHOT_MEM_FILE (guest RAM as a sparse file: zero pages are holes).
 *
 * Save:    sm_vm_pause(vm) ... sm_snapshot_save(m, dir) ... then destroy, or resume the devices
 *          (sm_vsock_resume, sm_console_resume: saving stops their threads) and sm_vm_resume.
 * Restore: sm_snapshot_load(dir, &s)            validates everything, applies nothing
 *          sm_machine_create_restore(cfg, sm_snapshot_mem_path(s), &m)   same mem_mib and ncpus
 *          attach the same virtio devices at the same slots (new back-ends, e.g. another share root)
 *          sm_snapshot_apply(s, m)              KVM state, UARTs, virtio devices
 *          sm_machine_start_restored(m)         the vCPUs go on where they were
 */

#define SM_SNAPSHOT_STATE_FILE "state.smsnap"
#define SM_SNAPSHOT_MEM_FILE "memory.img"

struct sm_snapshot;

/* What a snapshot needs from the machine it is restored into (from the machine section). */
struct sm_snapshot_info {
	uint64_t mem_mib;
	unsigned int ncpus;
	bool ready;				   /* the guest init had reported SM-READY */
	uint32_t virtio_id[SM_MACHINE_MAX_VIRTIO]; /* device id attached at each slot, 0 for none */
};

struct sm_snapshot_stats {
	uint64_t mem_bytes_written; /* non-zero guest pages written (save) */
	uint64_t state_bytes;	    /* size of the state file */
	unsigned int msrs_skipped;  /* MSRs KVM listed but could not read (save, all vCPUs) */
	unsigned int msrs_failed;   /* saved MSRs KVM refused to set (apply, all vCPUs) */
	uint64_t ns;		    /* time the call took */
};

/*
 * Save machine m, which must be paused (sm_vm_pause), into directory dir (created when missing;
 * existing snapshot files are replaced atomically: memory first, the state file last, each via a
 * temporary name and rename). Saves every virtio device recorded by the machine
 * (sm_machine_virtio) through sm_virtio_mmio_save, which fails for devices that cannot be saved
 * in their current state (e.g. a virtio-fs share the guest has mounted). stats may be NULL.
 */
int sm_snapshot_save(struct sm_machine *m, const char *dir, struct sm_snapshot_stats *stats, sm_error_t *err);

/*
 * Read dir's state file and validate it completely (format, version, checksums, every vCPU/VM/
 * machine section decoded, the memory file's size) without touching any VM. A snapshot of another
 * format version or a corrupted or truncated one fails here with a message saying which.
 */
int sm_snapshot_load(const char *dir, struct sm_snapshot **out, sm_error_t *err);

/* The machine shape and devices the snapshot expects. */
const struct sm_snapshot_info *sm_snapshot_get_info(const struct sm_snapshot *s);

/* Path of the memory file, for sm_machine_create_restore. */
const char *sm_snapshot_mem_path(const struct sm_snapshot *s);

/*
 * Apply a loaded snapshot to m (from sm_machine_create_restore with the memory file, not
 * started) after the same virtio devices were attached at the same slots: checks the shape and
 * the device set first, then restores the VM (irqchip, PIT, clock), each vCPU, the UARTs and the
 * virtio devices (sm_virtio_mmio_restore). stats may be NULL.
 */
int sm_snapshot_apply(const struct sm_snapshot *s, struct sm_machine *m, struct sm_snapshot_stats *stats,
		      sm_error_t *err);

/* Free a loaded snapshot; NULL is ok. */
void sm_snapshot_free(struct sm_snapshot *s);

/*
 * Validate a state file image in memory (what sm_snapshot_load does after reading the file, minus
 * the memory file check): for the fuzzer and tests.
 */
int sm_snapshot_check_image(const uint8_t *data, size_t len, sm_error_t *err);

#endif
