/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/sandbox.h"
#include "snapshot/snapshot.h"
#include "virtiofs/device.h"
#include "vmm/devices/console.h"
#include "vmm/devices/vsock.h"
#include "vmm/virtio/attach.h"

enum { SLOT_ROOTFS = 0, SLOT_VSOCK = 1, SLOT_CONSOLE = 2 };

struct sm_sandbox {
	struct sm_machine *machine;
	struct sm_virtiofs_dev *rootfs;
	struct sm_virtio_attached *rootfs_slot;
	struct sm_vsock *vsock;
	struct sm_virtio_attached *vsock_slot;
	struct sm_console *console;
	struct sm_virtio_attached *console_slot;
	size_t n_binds;
	struct sm_virtiofs_dev *binds[SM_BIND_SHARES_MAX];
	struct sm_virtio_attached *bind_slots[SM_BIND_SHARES_MAX];
};

static int add_rootfs(struct sm_sandbox *sb, const struct sm_sandbox_config *cfg, sm_error_t *err)
{
	struct sm_virtiofs_dev_config fc;
	cleanup_free char *param = NULL;
	void *hva = NULL;
	uint64_t gpa = 0, size = 0;
	struct stat st;
	int r;

	if (stat(cfg->rootfs, &st) < 0)
		return sm_error_set(err, errno, "rootfs `%s`", cfg->rootfs);
	if (!S_ISDIR(st.st_mode))
		return sm_error_set(err, 0, "rootfs `%s`: not a directory", cfg->rootfs);
	if (cfg->dax_mib % 2 != 0)
		return sm_error_set(err, 0, "DAX window: %llu MiB is not a multiple of 2 MiB",
				    (unsigned long long)cfg->dax_mib);
	if (cfg->dax_mib > SM_VIRTIO_SHM_SLOT_SIZE >> 20)
		return sm_error_set(err, 0, "DAX window: %llu MiB is larger than %llu MiB",
				    (unsigned long long)cfg->dax_mib, SM_VIRTIO_SHM_SLOT_SIZE >> 20);
	sm_virtiofs_dev_config_init(&fc);
	fc.fuse.root = cfg->rootfs;
	fc.fuse.readonly = cfg->rootfs_readonly;
	fc.fuse.dax_window_size = cfg->dax_mib << 20;
	fc.tag = SM_SANDBOX_ROOT_TAG;
	fc.dax_gpa = sm_virtio_slot_shm_base(SLOT_ROOTFS);
	if ((r = sm_virtiofs_dev_new(&fc, &sb->rootfs, err)) < 0)
		return sm_error_prefix(err, "rootfs `%s`: ", cfg->rootfs);
	sm_virtiofs_dev_dax(sb->rootfs, &hva, &gpa, &size);
	r = sm_virtio_attach(sb->machine, SLOT_ROOTFS, sm_virtiofs_dev_ops(sb->rootfs),
			     sm_virtiofs_dev_priv(sb->rootfs), hva ? (void *const[]){hva} : NULL, &sb->rootfs_slot,
			     err);
	if (r < 0)
		return r;
	param = sm_xasprintf("sm.root=%s", SM_SANDBOX_ROOT_TAG);
	if ((r = sm_machine_add_kernel_param(sb->machine, param, err)) < 0)
		return r;
	if (*sm_virtiofs_dev_mount_options(sb->rootfs) != '\0') {
		free(param);
		param = sm_xasprintf("sm.rootopts=%s", sm_virtiofs_dev_mount_options(sb->rootfs));
		r = sm_machine_add_kernel_param(sb->machine, param, err);
	}
	return r;
}

/* One bind share: the same device as the rootfs, without DAX (binds are rarely executed from). */
static int add_bind(struct sm_sandbox *sb, const struct sm_bind_share *b, sm_error_t *err)
{
	unsigned int slot = SM_BIND_SHARES_FIRST_SLOT + (unsigned int)sb->n_binds;
	struct sm_virtiofs_dev_config fc;
	struct sm_virtiofs_dev *dev;
	int r;

	sm_virtiofs_dev_config_init(&fc);
	fc.fuse.root = b->host_dir;
	fc.fuse.readonly = b->readonly;
	fc.tag = b->tag;
	if ((r = sm_virtiofs_dev_new(&fc, &dev, err)) < 0)
		return sm_error_prefix(err, "bind share `%s`: ", b->host_dir);
	sb->binds[sb->n_binds++] = dev;
	return sm_virtio_attach(sb->machine, slot, sm_virtiofs_dev_ops(dev), sm_virtiofs_dev_priv(dev), NULL,
				&sb->bind_slots[sb->n_binds - 1], err);
}

static int add_vsock(struct sm_sandbox *sb, const struct sm_sandbox_config *cfg, sm_error_t *err)
{
	struct sm_vsock_config vc = {.uds_path = cfg->vsock_path,
				     .guest_cid = cfg->guest_cid ? cfg->guest_cid : SM_SANDBOX_GUEST_CID};
	struct sm_virtio_mmio_config mc;
	int r;

	if ((r = sm_virtio_attach_prepare(sb->machine, SLOT_VSOCK, &sb->vsock_slot, &mc, err)) < 0)
		return r;
	if ((r = sm_vsock_new(&vc, &mc, &sb->vsock, err)) < 0)
		return sm_error_prefix(err, "vsock socket `%s`: ", cfg->vsock_path);
	return sm_virtio_attach_finish(sb->vsock_slot, sm_vsock_virtio(sb->vsock), NULL, 0, NULL, err);
}

static int add_console(struct sm_sandbox *sb, const struct sm_sandbox_config *cfg, sm_error_t *err)
{
	struct sm_console_config cc = {.in_fd = cfg->console_in_fd,
				       .out_fd = cfg->console_out_fd,
				       .cols = cfg->console_cols,
				       .rows = cfg->console_rows};
	struct sm_virtio_mmio_config mc;
	int r;

	if ((r = sm_virtio_attach_prepare(sb->machine, SLOT_CONSOLE, &sb->console_slot, &mc, err)) < 0)
		return r;
	if ((r = sm_console_new(&cc, &mc, &sb->console, err)) < 0)
		return sm_error_prefix(err, "console: ");
	return sm_virtio_attach_finish(sb->console_slot, sm_console_virtio(sb->console), NULL, 0, NULL, err);
}

/* Create the machine (booting, or for a restore over mem_file) and attach the devices. */
static int sandbox_new(const struct sm_sandbox_config *cfg, const char *mem_file, struct sm_sandbox **out,
		       sm_error_t *err)
{
	struct sm_sandbox *sb = sm_xcalloc(1, sizeof(*sb));
	int r;

	if (mem_file != NULL)
		r = sm_machine_create_restore(&cfg->machine, mem_file, &sb->machine, err);
	else
		r = sm_machine_create(&cfg->machine, &sb->machine, err);
	if (r < 0)
		goto fail;
	if (cfg->rootfs != NULL && (r = add_rootfs(sb, cfg, err)) < 0)
		goto fail;
	if (cfg->vsock_path != NULL && (r = add_vsock(sb, cfg, err)) < 0)
		goto fail;
	if (cfg->console && (r = add_console(sb, cfg, err)) < 0)
		goto fail;
	for (size_t i = 0; cfg->binds != NULL && i < cfg->binds->n; i++)
		if ((r = add_bind(sb, &cfg->binds->v[i], err)) < 0)
			goto fail;
	if (cfg->agent && (r = sm_machine_add_kernel_param(sb->machine, "sm.agent", err)) < 0)
		goto fail;
	*out = sb;
	return 0;
fail:
	sm_sandbox_destroy(sb);
	return r;
}

int sm_sandbox_create(const struct sm_sandbox_config *cfg, struct sm_sandbox **out, sm_error_t *err)
{
	return sandbox_new(cfg, NULL, out, err);
}

int sm_sandbox_snapshot(struct sm_sandbox *sb, const char *dir, sm_error_t *err)
{
	int r;

	if ((r = sm_vm_pause(sm_machine_vm(sb->machine), err)) < 0)
		return sm_error_prefix(err, "snapshot: ");
	return sm_snapshot_save(sb->machine, dir, NULL, err);
}

int sm_sandbox_resume(struct sm_sandbox *sb, sm_error_t *err)
{
	int r;

	/* Saving stopped the device threads so that the rings stayed still. */
	if (sb->vsock != NULL && (r = sm_vsock_resume(sb->vsock, err)) < 0)
		return r;
	if (sb->console != NULL && (r = sm_console_resume(sb->console, err)) < 0)
		return r;
	if (sb->rootfs != NULL && (r = sm_virtiofs_dev_resume(sb->rootfs, err)) < 0)
		return r;
	for (size_t i = 0; i < sb->n_binds; i++)
		if ((r = sm_virtiofs_dev_resume(sb->binds[i], err)) < 0)
			return r;
	return sm_vm_resume(sm_machine_vm(sb->machine), err);
}

int sm_sandbox_restore(const struct sm_sandbox_config *cfg, const char *dir, struct sm_sandbox **out,
		       struct sm_sandbox_restore_stats *stats, sm_error_t *err)
{
	struct sm_sandbox_restore_stats local;
	struct sm_snapshot_stats st;
	struct sm_snapshot *snap = NULL;
	struct sm_sandbox *sb = NULL;
	const struct sm_snapshot_info *info;
	uint64_t t0 = sm_now_ns();
	int r;

	if (stats == NULL)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	stats->call_ns = t0;
	if ((r = sm_snapshot_load(dir, &snap, err)) < 0)
		return r;
	info = sm_snapshot_get_info(snap);
	if (info->mem_mib != cfg->machine.mem_mib || info->ncpus != cfg->machine.ncpus) {
		r = sm_error_set(err, 0,
				 "snapshot `%s` is of a %llu MiB, %u-vCPU VM; --mem %llu --cpus %u asked",
				 dir, (unsigned long long)info->mem_mib, info->ncpus,
				 (unsigned long long)cfg->machine.mem_mib, cfg->machine.ncpus);
		goto out;
	}
	stats->loaded_ns = sm_now_ns() - t0;
	/* The same devices at the same slots; the root share is re-rooted at cfg->rootfs. */
	if ((r = sandbox_new(cfg, sm_snapshot_mem_path(snap), &sb, err)) < 0)
		goto out;
	stats->created_ns = sm_now_ns() - t0;
	if ((r = sm_snapshot_apply(snap, sb->machine, &st, err)) < 0)
		goto out;
	stats->applied_ns = sm_now_ns() - t0;
	stats->msrs_failed = st.msrs_failed;
	if ((r = sm_machine_start_restored(sb->machine, err)) < 0)
		goto out;
	*out = sb;
	sb = NULL;
out:
	sm_snapshot_free(snap);
	sm_sandbox_destroy(sb);
	return r < 0 ? sm_error_prefix(err, "restore: ") : 0;
}

struct sm_machine *sm_sandbox_machine(struct sm_sandbox *sb)
{
	return sb->machine;
}

struct sm_vsock *sm_sandbox_vsock(struct sm_sandbox *sb)
{
	return sb->vsock;
}

void sm_sandbox_console_set_size(struct sm_sandbox *sb, uint16_t cols, uint16_t rows)
{
	if (sb->console != NULL)
		sm_console_set_size(sb->console, cols, rows);
}

void sm_sandbox_destroy(struct sm_sandbox *sb)
{
	if (sb == NULL)
		return;
	/* Stop vCPUs and the event loop first: nothing may call into a device being freed. */
	if (sb->machine != NULL)
		sm_vm_join(sm_machine_vm(sb->machine));
	if (sb->vsock_slot != NULL)
		sm_virtio_attached_release(sb->vsock_slot);
	sm_virtio_detach(sb->vsock_slot);
	sm_vsock_free(sb->vsock);
	/* The console created its own transport: forget it in the slot, the device frees it. */
	if (sb->console_slot != NULL)
		sm_virtio_attached_release(sb->console_slot);
	sm_virtio_detach(sb->console_slot);
	sm_console_free(sb->console);
	/* The virtio-fs workers use the transport: stop them before the transport goes. */
	sm_virtiofs_dev_free(sb->rootfs);
	sm_virtio_detach(sb->rootfs_slot);
	for (size_t i = 0; i < sb->n_binds; i++) {
		sm_virtiofs_dev_free(sb->binds[i]);
		sm_virtio_detach(sb->bind_slots[i]);
	}
	sm_machine_destroy(sb->machine);
	free(sb);
}
