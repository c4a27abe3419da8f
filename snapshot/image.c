/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "snapshot/codec.h"
#include "snapshot/internal.h"

static void get_uart(struct sm_dec *d, struct sm_uart_state *u)
{
	uint8_t regs[9] = {0};

	sm_dec_bytes(d, regs, sizeof(regs));
	memset(u, 0, sizeof(*u));
	u->ier = regs[0];
	u->lcr = regs[1];
	u->mcr = regs[2];
	u->lsr_err = regs[3];
	u->msr = regs[4];
	u->scr = regs[5];
	u->dll = regs[6];
	u->dlm = regs[7];
	u->fcr = regs[8];
	u->thr_ipending = sm_dec_u8(d) != 0;
	u->irq_level = sm_dec_u8(d) != 0;
	u->rx_count = sm_dec_u8(d);
	if (u->rx_count > SM_SERIAL_FIFO) {
		sm_dec_fail(d, "machine state: UART receive FIFO of %u bytes (at most %d)", u->rx_count,
			    SM_SERIAL_FIFO);
		return;
	}
	sm_dec_bytes(d, u->rx, u->rx_count);
}

static int decode_machine(const struct sm_snap_section *sec, struct sm_snapshot *s, sm_error_t *err)
{
	struct sm_dec d;
	uint32_t nslots;

	sm_dec_init(&d, sec->data, sec->len, "machine", err);
	s->info.mem_mib = sm_dec_u64(&d);
	s->info.ncpus = sm_dec_u32(&d);
	s->info.ready = s->mstate.ready = sm_dec_u8(&d) != 0;
	get_uart(&d, &s->mstate.uart[0]);
	get_uart(&d, &s->mstate.uart[1]);
	nslots = sm_dec_u32(&d);
	if (!d.failed && nslots != SM_MACHINE_MAX_VIRTIO)
		return sm_dec_fail(&d, "machine state: %u virtio slots (expected %d)", nslots,
				   SM_MACHINE_MAX_VIRTIO);
	for (unsigned int i = 0; i < SM_MACHINE_MAX_VIRTIO; i++)
		s->info.virtio_id[i] = sm_dec_u32(&d);
	if (!d.failed &&
	    (s->info.mem_mib < SM_MACHINE_MIN_MEM_MIB || s->info.mem_mib > SM_MACHINE_MAX_MEM_MIB))
		return sm_dec_fail(&d, "machine state: %llu MiB of RAM is out of range",
				   (unsigned long long)s->info.mem_mib);
	if (!d.failed && (s->info.ncpus < 1 || s->info.ncpus > SM_VM_MAX_VCPUS))
		return sm_dec_fail(&d, "machine state: %u vCPUs is out of range", s->info.ncpus);
	return sm_dec_end(&d);
}

int sm_snapshot_decode(struct sm_snapshot *s, sm_error_t *err)
{
	const struct sm_snap_section *sec;
	int r;

	if ((sec = sm_snap_find(&s->file, SM_SNAP_SEC_MACHINE, 0)) == NULL)
		return sm_error_set(err, 0, "corrupted: no machine section");
	if ((r = decode_machine(sec, s, err)) < 0)
		return r;
	if ((sec = sm_snap_find(&s->file, SM_SNAP_SEC_VM, 0)) == NULL)
		return sm_error_set(err, 0, "corrupted: no VM section");
	if ((r = sm_vmstate_decode(sec->data, sec->len, &s->vm, err)) < 0)
		return r;
	for (unsigned int i = 0; i < s->info.ncpus; i++) {
		if ((sec = sm_snap_find(&s->file, SM_SNAP_SEC_VCPU, i)) == NULL)
			return sm_error_set(err, 0, "corrupted: no section for vCPU %u", i);
		s->nvcpus = i + 1;
		if ((r = sm_vcpu_state_decode(sec->data, sec->len, &s->vcpus[i], err)) < 0)
			return sm_error_prefix(err, "vCPU %u: ", i);
	}
	for (unsigned int i = 0; i < s->file.n; i++) {
		sec = &s->file.sec[i];
		if (sec->type == SM_SNAP_SEC_VCPU && sec->instance >= s->info.ncpus)
			return sm_error_set(err, 0, "corrupted: section for vCPU %u of %u", sec->instance,
					    s->info.ncpus);
		if (sec->type == SM_SNAP_SEC_VIRTIO) {
			uint32_t id;
			if (sec->instance >= SM_MACHINE_MAX_VIRTIO || sec->len < 4)
				return sm_error_set(err, 0, "corrupted: virtio section %u", sec->instance);
			id = (uint32_t)sec->data[0] | (uint32_t)sec->data[1] << 8 |
			     (uint32_t)sec->data[2] << 16 | (uint32_t)sec->data[3] << 24;
			if (id == 0 || id != s->info.virtio_id[sec->instance])
				return sm_error_set(
				    err, 0, "corrupted: virtio slot %u holds device %u, the machine says %u",
				    sec->instance, id, s->info.virtio_id[sec->instance]);
		} else if (sec->type != SM_SNAP_SEC_MACHINE && sec->type != SM_SNAP_SEC_VM &&
			   sec->type != SM_SNAP_SEC_VCPU) {
			return sm_error_set(err, 0, "corrupted: unknown section type %u", sec->type);
		}
	}
	for (unsigned int i = 0; i < SM_MACHINE_MAX_VIRTIO; i++)
		if (s->info.virtio_id[i] != 0 && sm_snap_find(&s->file, SM_SNAP_SEC_VIRTIO, i) == NULL)
			return sm_error_set(err, 0, "corrupted: no section for the virtio device at slot %u",
					    i);
	return 0;
}

static void free_decoded(struct sm_snapshot *s)
{
	for (unsigned int i = 0; i < SM_VM_MAX_VCPUS; i++)
		sm_vcpu_state_free(&s->vcpus[i]);
	free(s);
}

int sm_snapshot_check_image(const uint8_t *data, size_t len, sm_error_t *err)
{
	struct sm_snapshot *s = sm_xcalloc(1, sizeof(*s));
	int r;

	r = sm_snap_parse(data, len, &s->file, err);
	if (r == 0)
		r = sm_snapshot_decode(s, err);
	free_decoded(s);
	return r;
}
