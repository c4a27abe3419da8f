/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_SANDBOX_H
#define SM_RUNTIME_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "runtime/bind-shares.h"
#include "vmm/machine.h"

/*
 * A container's microVM: the machine (vmm/machine.h) plus the container's devices: the rootfs as
 * a virtio-fs share (tag "sm-root", with a DAX window when dax_mib > 0) and the agent channel as
 * virtio-vsock exposed on the host at vsock_path. The guest init learns where things are from
 * kernel parameters (sm.root=, sm.rootopts=, sm.agent). Optionally a virtio-console (hvc0) relaying
 * host fds, for the container's terminal.
 */

#define SM_SANDBOX_ROOT_TAG "sm-root"
/* The guest's vsock CID when the config gives none (templates, vm-run); containers get their own
 * (runtime/monitor-cid.c). */
#define SM_SANDBOX_GUEST_CID 3

struct sm_sandbox_config {
	struct sm_machine_config machine;
	const char *rootfs;     /* host directory shared as the guest's container root, or NULL */
	bool rootfs_readonly;   /* share it read-only (root.readonly) */
	uint64_t dax_mib;       /* DAX window size in MiB (multiple of 2), 0 for none */
	const char *vsock_path; /* host Unix socket of the guest's vsock, or NULL for no vsock */
	/* The guest's vsock CID (3..0xfffffffe; 0: SM_SANDBOX_GUEST_CID). A restore with another
	 * CID than the snapshot's tells the guest (TRANSPORT_RESET: it re-reads its CID). */
	uint64_t guest_cid;
	bool agent;             /* tell the guest init to run the agent (sm.agent) */
	/* A virtio-console (the guest's /dev/hvc0) on these host fds (-1: none), e.g. for the
	 * terminal of a `process.terminal` container; cols x rows is its initial size (0: unknown). */
	/* Extra virtio-fs shares for bind mounts of host paths (slots 3..7, no DAX), or NULL. */
	const struct sm_bind_shares *binds;
	bool console;
	int console_in_fd, console_out_fd;
	uint16_t console_cols, console_rows;
};

struct sm_sandbox;

/*
 * Create the machine and attach the devices; nothing runs yet. Errors name the field (rootfs,
 * DAX size, socket path).
 */
int sm_sandbox_create(const struct sm_sandbox_config *cfg, struct sm_sandbox **out, sm_error_t *err);

/* The machine, for sm_machine_start/wait and its results. */
struct sm_machine *sm_sandbox_machine(struct sm_sandbox *sb);

/*
 * Set the size of the console (on the host terminal's SIGWINCH); the guest resizes hvc0 and
 * signals its foreground process group. No-op without a console. Any thread.
 */
void sm_sandbox_console_set_size(struct sm_sandbox *sb, uint16_t cols, uint16_t rows);

/*
 * Snapshot a running sandbox into directory dir (snapshot/snapshot.h): pause the vCPUs, save the
 * machine and every device, and leave it paused; the caller then destroys it or calls
 * sm_sandbox_resume. Fails (still paused) when a device cannot be saved in its current state,
 * e.g. the root share after the guest mounted it: snapshot templates before the agent mounts
 * anything. vsock connections do not survive (when there were any, the guest gets a transport
 * reset).
 */
int sm_sandbox_snapshot(struct sm_sandbox *sb, const char *dir, sm_error_t *err);

/* Let a sandbox paused by sm_sandbox_snapshot (or sm_vm_pause) run again: restart the device
 * threads the save stopped, then the vCPUs. */
int sm_sandbox_resume(struct sm_sandbox *sb, sm_error_t *err);

/* Where a restore spent its time, from the sm_sandbox_restore call (sm_now_ns). */
struct sm_sandbox_restore_stats {
	uint64_t call_ns;    /* sm_now_ns() when sm_sandbox_restore was called */
	uint64_t loaded_ns;  /* state file read and validated, relative to call_ns */
	uint64_t created_ns; /* machine (memory mapped copy-on-write) and devices created */
	uint64_t applied_ns; /* KVM, UART and device state applied; the vCPUs start next */
	unsigned int msrs_failed;
};

/*
 * Restore a sandbox from a snapshot directory instead of booting: cfg must have the snapshot's
 * shape (machine.mem_mib and machine.ncpus) and the same devices (rootfs share, vsock, console,
 * binds) so they land at the same slots; their back-ends are new, so the root share serves
 * cfg->rootfs (re-rooted) and vsock listens at cfg->vsock_path. The kernel is not loaded
 * (machine.kernel_path is not used). The snapshot is validated completely before anything is
 * created. On success the vCPUs run (sm_machine_start_restored); wait for the machine as after
 * sm_machine_start. stats (may be NULL) gets the phases; vCPU 0's first KVM_RUN is
 * sm_vm_first_run_ns().
 */
int sm_sandbox_restore(const struct sm_sandbox_config *cfg, const char *dir, struct sm_sandbox **out,
		       struct sm_sandbox_restore_stats *stats, sm_error_t *err);

/* The sandbox's vsock device (for its counters and sm_vsock_transport_reset), or NULL. */
struct sm_vsock *sm_sandbox_vsock(struct sm_sandbox *sb);

/* Stop the VM if it runs, stop the devices, free everything (the vsock socket is unlinked). */
void sm_sandbox_destroy(struct sm_sandbox *sb);

#endif
