/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "snapshot/internal.h"
#include "snapshot/format.h"
#include "snapshot/memfile.h"
#include "snapshot/snapshot.h"
#include "vmm/virtio/mmio.h"

/* ---- the machine section -------------------------------------------------------------------- */

static void put_uart(struct sm_state_buf *b, const struct sm_uart_state *u)
{
	const uint8_t regs[] = {u->ier, u->lcr, u->mcr, u->lsr_err, u->msr, u->scr, u->dll, u->dlm, u->fcr};

	sm_state_put(b, regs, sizeof(regs));
	sm_state_put_u8(b, u->thr_ipending);
	sm_state_put_u8(b, u->irq_level);
	sm_state_put_u8(b, (uint8_t)u->rx_count);
	sm_state_put(b, u->rx, u->rx_count);
}

static void encode_machine(struct sm_machine *m, struct sm_state_buf *b)
{
	const struct sm_machine_config *cfg = sm_machine_config(m);
	struct sm_machine_state st;

	sm_machine_get_state(m, &st);
	sm_state_put_u64(b, cfg->mem_mib);
	sm_state_put_u32(b, sm_vm_ncpus(sm_machine_vm(m)));
	sm_state_put_u8(b, st.ready);
	put_uart(b, &st.uart[0]);
	put_uart(b, &st.uart[1]);
	sm_state_put_u32(b, SM_MACHINE_MAX_VIRTIO);
	for (unsigned int i = 0; i < SM_MACHINE_MAX_VIRTIO; i++) {
		struct sm_virtio_dev *dev = sm_machine_virtio(m, i);
		sm_state_put_u32(b, dev != NULL ? sm_virtio_mmio_device_id(dev) : 0);
	}
}

/* ---- save ---------------------------------------------------------------------------------- */

static int save_virtio(struct sm_machine *m, struct sm_snap_writer *w, sm_error_t *err)
{
	for (unsigned int slot = 0; slot < SM_MACHINE_MAX_VIRTIO; slot++) {
		struct sm_virtio_dev *dev = sm_machine_virtio(m, slot);
		struct sm_state_buf *b;
		int r;

		if (dev == NULL)
			continue;
		b = sm_snap_writer_add(w, SM_SNAP_SEC_VIRTIO, slot);
		sm_state_put_u32(b, sm_virtio_mmio_device_id(dev));
		if ((r = sm_virtio_mmio_save(dev, b, err)) < 0)
			return sm_error_prefix(err, "virtio slot %u: ", slot);
	}
	return 0;
}

static int save_kvm(struct sm_machine *m, struct sm_snap_writer *w, struct sm_snapshot_stats *st,
		    sm_error_t *err)
{
	struct sm_vm *vm = sm_machine_vm(m);
	struct sm_vmstate vs;
	int r;

	if ((r = sm_vmstate_get(sm_vm_fd(vm), &vs, err)) < 0)
		return sm_error_prefix(err, "VM state: ");
	sm_vmstate_encode(&vs, sm_snap_writer_add(w, SM_SNAP_SEC_VM, 0));
	for (unsigned int i = 0; i < sm_vm_ncpus(vm); i++) {
		struct sm_vcpu_state cs;
		r = sm_vcpu_state_get(sm_vm_kvm_fd(vm), sm_vm_fd(vm), sm_vm_vcpu_fd(vm, i), &cs, err);
		if (r < 0) {
			sm_vcpu_state_free(&cs);
			return sm_error_prefix(err, "vCPU %u state: ", i);
		}
		st->msrs_skipped += cs.msrs_skipped;
		sm_vcpu_state_encode(&cs, sm_snap_writer_add(w, SM_SNAP_SEC_VCPU, i));
		sm_vcpu_state_free(&cs);
	}
	return 0;
}

static int write_state_file(const struct sm_snap_writer *w, const char *path, uint64_t *size, sm_error_t *err)
{
	struct sm_state_buf img;
	int r;

	sm_state_buf_init(&img);
	sm_snap_writer_finish(w, &img);
	*size = img.len;
	r = sm_write_file_atomic(path, img.data, img.len, 0600, err);
	sm_state_buf_free(&img);
	return r;
}

int sm_snapshot_save(struct sm_machine *m, const char *dir, struct sm_snapshot_stats *stats, sm_error_t *err)
{
	struct sm_snapshot_stats local;
	struct sm_snap_writer *w;
	cleanup_free char *mem_tmp = NULL, *mem_path = NULL, *state_path = NULL;
	uint64_t t0 = sm_now_ns();
	int r;

	if (stats == NULL)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	if (!sm_vm_paused(sm_machine_vm(m)))
		return sm_error_set(err, 0, "snapshot: the VM must be paused first");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return sm_error_set(err, errno, "snapshot directory `%s`", dir);
	mem_tmp = sm_xasprintf("%s/%s.tmp", dir, SM_SNAPSHOT_MEM_FILE);
	mem_path = sm_xasprintf("%s/%s", dir, SM_SNAPSHOT_MEM_FILE);
	state_path = sm_xasprintf("%s/%s", dir, SM_SNAPSHOT_STATE_FILE);
	w = sm_xcalloc(1, sizeof(*w));
	/* Devices first: saving stops their threads, so nothing writes guest memory afterwards. */
	encode_machine(m, sm_snap_writer_add(w, SM_SNAP_SEC_MACHINE, 0));
	if ((r = save_virtio(m, w, err)) < 0 || (r = save_kvm(m, w, stats, err)) < 0)
		goto out;
	/* The state file names a memory file of the right size: remove the old one first so a crash
	 * in between leaves no state file pointing at memory of another snapshot. */
	if (unlink(state_path) < 0 && errno != ENOENT) {
		r = sm_error_set(err, errno, "remove the old `%s`", state_path);
		goto out;
	}
	if ((r = sm_snap_write_memory(sm_vm_mem(sm_machine_vm(m)), mem_tmp, &stats->mem_bytes_written, err)) <
	    0)
		goto out;
	if (rename(mem_tmp, mem_path) < 0) {
		r = sm_error_set(err, errno, "rename `%s`", mem_tmp);
		goto out;
	}
	r = write_state_file(w, state_path, &stats->state_bytes, err);
out:
	if (r < 0)
		unlink(mem_tmp);
	sm_snap_writer_free(w);
	free(w);
	stats->ns = sm_now_ns() - t0;
	return r < 0 ? sm_error_prefix(err, "snapshot `%s`: ", dir) : 0;
}

/* ---- load ---------------------------------------------------------------------------------- */

int sm_snapshot_load(const char *dir, struct sm_snapshot **out, sm_error_t *err)
{
	struct sm_snapshot *s = sm_xcalloc(1, sizeof(*s));
	cleanup_free char *state_path = sm_xasprintf("%s/%s", dir, SM_SNAPSHOT_STATE_FILE);
	struct stat st;
	int r;

	s->mem_path = sm_xasprintf("%s/%s", dir, SM_SNAPSHOT_MEM_FILE);
	if ((r = sm_read_file(state_path, SM_SNAP_MAX_FILE, &s->image, &s->image_len, err)) < 0)
		goto fail;
	if ((r = sm_snap_parse((const uint8_t *)s->image, s->image_len, &s->file, err)) < 0 ||
	    (r = sm_snapshot_decode(s, err)) < 0)
		goto fail;
	if (stat(s->mem_path, &st) < 0) {
		r = sm_error_set(err, errno, "memory file `%s`", s->mem_path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != s->info.mem_mib << 20) {
		r = sm_error_set(
		    err, 0, "memory file `%s`: %lld bytes, the snapshot has %llu MiB of RAM (truncated?)",
		    s->mem_path, (long long)st.st_size, (unsigned long long)s->info.mem_mib);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	sm_snapshot_free(s);
	return sm_error_prefix(err, "snapshot `%s`: ", dir);
}

const struct sm_snapshot_info *sm_snapshot_get_info(const struct sm_snapshot *s)
{
	return &s->info;
}

const char *sm_snapshot_mem_path(const struct sm_snapshot *s)
{
	return s->mem_path;
}

void sm_snapshot_free(struct sm_snapshot *s)
{
	if (s == NULL)
		return;
	for (unsigned int i = 0; i < SM_VM_MAX_VCPUS; i++)
		sm_vcpu_state_free(&s->vcpus[i]);
	free(s->image);
	free(s->mem_path);
	free(s);
}

/* ---- apply --------------------------------------------------------------------------------- */

static int check_shape(const struct sm_snapshot *s, struct sm_machine *m, sm_error_t *err)
{
	const struct sm_machine_config *cfg = sm_machine_config(m);

	if (!sm_machine_restored(m))
		return sm_error_set(err, 0, "the machine was not created with sm_machine_create_restore");
	if (cfg->mem_mib != s->info.mem_mib || sm_vm_ncpus(sm_machine_vm(m)) != s->info.ncpus)
		return sm_error_set(
		    err, 0, "the snapshot is of a %llu MiB, %u-vCPU VM; this one has %llu MiB, %u vCPUs",
		    (unsigned long long)s->info.mem_mib, s->info.ncpus, (unsigned long long)cfg->mem_mib,
		    sm_vm_ncpus(sm_machine_vm(m)));
	for (unsigned int i = 0; i < SM_MACHINE_MAX_VIRTIO; i++) {
		struct sm_virtio_dev *dev = sm_machine_virtio(m, i);
		uint32_t id = dev != NULL ? sm_virtio_mmio_device_id(dev) : 0;
		if (id != s->info.virtio_id[i])
			return sm_error_set(
			    err, 0, "virtio slot %u: the snapshot has device %u there, this VM has %u", i,
			    s->info.virtio_id[i], id);
	}
	return 0;
}

int sm_snapshot_apply(const struct sm_snapshot *s, struct sm_machine *m, struct sm_snapshot_stats *stats,
		      sm_error_t *err)
{
	struct sm_snapshot_stats local;
	struct sm_vm *vm = sm_machine_vm(m);
	uint64_t t0 = sm_now_ns();
	int r;

	if (stats == NULL)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	if ((r = check_shape(s, m, err)) < 0)
		return sm_error_prefix(err, "restore: ");
	if ((r = sm_vmstate_set(sm_vm_fd(vm), &s->vm, err)) < 0)
		return sm_error_prefix(err, "restore: VM state: ");
	for (unsigned int i = 0; i < s->nvcpus; i++) {
		unsigned int failed = 0;
		if ((r = sm_vcpu_state_set(sm_vm_vcpu_fd(vm, i), &s->vcpus[i], &failed, err)) < 0)
			return sm_error_prefix(err, "restore: vCPU %u: ", i);
		stats->msrs_failed += failed;
	}
	if ((r = sm_machine_set_state(m, &s->mstate, err)) < 0)
		return sm_error_prefix(err, "restore: ");
	for (unsigned int i = 0; i < s->file.n; i++) {
		const struct sm_snap_section *sec = &s->file.sec[i];
		struct sm_state_reader rd;

		if (sec->type != SM_SNAP_SEC_VIRTIO)
			continue;
		sm_state_reader_init(&rd, sec->data + 4, sec->len - 4);
		if ((r = sm_virtio_mmio_restore(sm_machine_virtio(m, sec->instance), &rd, err)) < 0)
			return sm_error_prefix(err, "restore: virtio slot %u: ", sec->instance);
		if (sm_state_remaining(&rd) != 0)
			return sm_error_set(
			    err, 0, "restore: virtio slot %u: %zu unexpected bytes after the device state",
			    sec->instance, sm_state_remaining(&rd));
	}
	stats->ns = sm_now_ns() - t0;
	return 0;
}
