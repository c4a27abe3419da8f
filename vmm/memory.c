/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "vmm/memory.h"

void *sm_guest_ptr(const struct sm_guest_mem *mem, uint64_t gpa, uint64_t len)
{
	unsigned int i;
	uint64_t end;

	if (__builtin_add_overflow(gpa, len, &end))
		return NULL;
	for (i = 0; i < mem->nregions; i++) {
		const struct sm_mem_region *r = &mem->regions[i];
		if (gpa >= r->gpa && end <= r->gpa + r->size && gpa - r->gpa <= r->size)
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

int sm_guest_read(const struct sm_guest_mem *mem, uint64_t gpa, void *buf, size_t len)
{
	void *p = sm_guest_ptr(mem, gpa, len);
	if (p == NULL)
		return -EFAULT;
	memcpy(buf, p, len);
	return 0;
}

int sm_guest_write(const struct sm_guest_mem *mem, uint64_t gpa, const void *buf, size_t len)
{
	void *p = sm_guest_ptr(mem, gpa, len);
	if (p == NULL)
		return -EFAULT;
	memcpy(p, buf, len);
	return 0;
}

void sm_guest_mem_init_fake(struct sm_guest_mem *mem, uint64_t gpa, void *buf, uint64_t size)
{
	memset(mem, 0, sizeof(*mem));
	mem->regions[0].gpa = gpa;
	mem->regions[0].size = size;
	mem->regions[0].hva = buf;
	mem->nregions = 1;
	mem->memfd = -1;
	mem->ram_size = size;
	mem->base = buf;
}
