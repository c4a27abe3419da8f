/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VIRTIOFS_DEVICE_H
#define SM_VIRTIOFS_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "virtiofs/fuse_server.h"
#include "vmm/virtio/virtio.h"

/*
 * The virtio-fs device (virtio 1.2 §5.11, device id 26): the glue between a virtio transport
 * (vmm/virtio/mmio.h) and the FUSE server (fuse_server.h). Queue 0 is the high-priority queue
 * (FORGET, BATCH_FORGET, INTERRUPT), answered inline on the notifying thread; queues
 * 1..num_request_queues are request queues, each served by its own worker thread so a slow host
 * file system never stalls a vCPU. The DAX window, when configured, is shared-memory region 0.
 * See docs/design/virtiofs.md ("The virtio device").
 *
 * Typical wiring:
 *   sm_virtiofs_dev_new(&cfg, &fs, &err);
 *   sm_virtio_mmio_new(&mmio_cfg, sm_virtiofs_dev_ops(fs), sm_virtiofs_dev_priv(fs), &vdev, &err);
 *   ...run the VM...
 *   (no thread calls into the transport any more) sm_virtiofs_dev_free(fs); sm_virtio_mmio_free(vdev);
 */

#define SM_VIRTIOFS_TAG_MAX 36		  /* bytes of the config-space tag field */
#define SM_VIRTIOFS_MAX_REQUEST_QUEUES 15 /* SM_VIRTIO_MAX_QUEUES minus the hiprio queue */
#define SM_VIRTIOFS_CONFIG_SIZE 44	  /* tag[36], le32 num_request_queues, le32 notify_buf_size */
#define SM_VIRTIOFS_DEFAULT_QUEUE_SIZE 1024

struct sm_virtiofs_dev;

struct sm_virtiofs_dev_config {
	/*
	 * The FUSE server: fuse.root (the host directory to share) is required; fuse.readonly
	 * and fuse.dax_window_size (0: no DAX window) are the usual knobs.
	 */
	struct sm_fuse_config fuse;
	const char *tag;		 /* mount tag: 1..36 bytes, no space or control character */
	unsigned int num_request_queues; /* 1..SM_VIRTIOFS_MAX_REQUEST_QUEUES */
	/* QueueNumMax of every queue: a power of two >= 16. Linux caps a request at queue_size - 4
	 * pages, so below fuse.max_write / 4096 + 4 the guest sends smaller READs/WRITEs. */
	uint16_t queue_size;
	uint64_t dax_gpa; /* guest physical base of the DAX window (2 MiB aligned), when enabled */
};

struct sm_virtiofs_dev_stats {
	uint64_t requests;	   /* chains answered on the request queues */
	uint64_t hiprio_requests;  /* chains answered on the hiprio queue */
	uint64_t malformed_chains; /* chains refused by sm_virtq_pop (returned with length 0) */
	uint64_t unanswered;	   /* chains sm_fuse_handle could not answer (returned with length 0) */
	char last_error[256];	   /* the last of those problems, for logs */
};

/*
 * Fill cfg with the defaults: FUSE server defaults (sm_fuse_config_init) but no DAX window, tag
 * "sm-root", one request queue, queue size 1024. The caller still sets fuse.root.
 */
void sm_virtiofs_dev_config_init(struct sm_virtiofs_dev_config *cfg);

/*
 * Create the device and its FUSE server (which opens the shared directory and reserves the DAX
 * window). Fails, naming the field, on a bad tag, queue count or size, an unaligned or
 * overflowing DAX base, or when the server cannot be created. Threads start only when the driver
 * sets DRIVER_OK.
 */
int sm_virtiofs_dev_new(const struct sm_virtiofs_dev_config *cfg, struct sm_virtiofs_dev **out,
			sm_error_t *err);

/*
 * Stop the worker threads, free the server (unmapping the DAX window: remove its KVM memory slot
 * first) and the device; NULL is allowed. No thread may call into the transport any more (the
 * VM is joined). Free the device before the transport: the workers use the transport's handle.
 */
void sm_virtiofs_dev_free(struct sm_virtiofs_dev *d);

/* The ops to give sm_virtio_mmio_new(); valid as long as the device. */
const struct sm_virtio_dev_ops *sm_virtiofs_dev_ops(const struct sm_virtiofs_dev *d);

/* The priv pointer to give sm_virtio_mmio_new() together with the ops. */
void *sm_virtiofs_dev_priv(struct sm_virtiofs_dev *d);

/*
 * The DAX window, for the KVM memory slot: host address, guest physical address and size.
 * Returns false (and leaves the outputs alone) when DAX is off.
 */
bool sm_virtiofs_dev_dax(const struct sm_virtiofs_dev *d, void **hva, uint64_t *gpa, uint64_t *size);

/* The mount tag the guest mounts (`mount -t virtiofs <tag> /mnt`). */
const char *sm_virtiofs_dev_tag(const struct sm_virtiofs_dev *d);

/*
 * Mount options the guest should use: "dax=always" when the DAX window is on, "" otherwise
 * (a static string).
 */
const char *sm_virtiofs_dev_mount_options(const struct sm_virtiofs_dev *d);

/*
 * Restart the request workers after a snapshot was saved and the VM goes on running (call it
 * where vsock and console are resumed, before the vCPUs run). The save stopped them so that no
 * request ran while the rings and tables were saved; they drain what the guest queued meanwhile.
 * Without this call they restart on the guest's next kick, which may never come for a request
 * queued just before the pause. A no-op when no save stopped them.
 */
int sm_virtiofs_dev_resume(struct sm_virtiofs_dev *d, sm_error_t *err);

/* What the last restore found again and what became stale (all zero before any restore). */
void sm_virtiofs_dev_restore_stats(const struct sm_virtiofs_dev *d, struct sm_fuse_restore_stats *out);

/* Copy the counters and the last problem (for logs and tests); thread-safe. */
void sm_virtiofs_dev_stats(struct sm_virtiofs_dev *d, struct sm_virtiofs_dev_stats *out);

#endif
