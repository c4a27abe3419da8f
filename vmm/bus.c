/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vmm/bus.h"

void sm_bus_init(struct sm_bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
}

void sm_bus_free(struct sm_bus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->nranges = 0;
}

int sm_bus_register(struct sm_bus *bus, uint64_t base, uint64_t len, const struct sm_bus_ops *ops,
		    void *opaque, const char *name, sm_error_t *err)
{
	uint64_t end;
	size_t i, pos;

	if (len == 0 || __builtin_add_overflow(base, len, &end))
		return sm_error_set(err, 0, "%s bus: %s: invalid range 0x%llx+0x%llx", bus->name, name,
				    (unsigned long long)base, (unsigned long long)len);
	for (i = 0; i < bus->nranges; i++) {
		const struct sm_bus_range *r = &bus->ranges[i];
		if (base < r->base + r->len && r->base < end)
			return sm_error_set(
			    err, EEXIST, "%s bus: %s at 0x%llx-0x%llx overlaps %s at 0x%llx-0x%llx",
			    bus->name, name, (unsigned long long)base, (unsigned long long)end - 1, r->name,
			    (unsigned long long)r->base, (unsigned long long)(r->base + r->len - 1));
	}
	for (pos = 0; pos < bus->nranges && bus->ranges[pos].base < base; pos++)
		;
	bus->ranges = realloc(bus->ranges, (bus->nranges + 1) * sizeof(*bus->ranges));
	if (bus->ranges == NULL)
		abort();
	memmove(&bus->ranges[pos + 1], &bus->ranges[pos], (bus->nranges - pos) * sizeof(*bus->ranges));
	bus->ranges[pos] = (struct sm_bus_range){base, len, ops, opaque, name};
	bus->nranges++;
	return 0;
}

const struct sm_bus_range *sm_bus_find(const struct sm_bus *bus, uint64_t addr, unsigned int size)
{
	size_t lo = 0, hi = bus->nranges;

	/* Binary search for the last range with base <= addr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	const struct sm_bus_range *r = &bus->ranges[lo - 1];
	if (addr - r->base >= r->len || size > r->len - (addr - r->base))
		return NULL;
	return r;
}

static uint64_t size_mask(unsigned int size)
{
	return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

bool sm_bus_read(struct sm_bus *bus, uint64_t addr, unsigned int size, uint64_t *value)
{
	const struct sm_bus_range *r = sm_bus_find(bus, addr, size);

	if (r == NULL || r->ops->read == NULL) {
		__atomic_add_fetch(&bus->unhandled_reads, 1, __ATOMIC_RELAXED);
		*value = size_mask(size);
		return false;
	}
	*value = r->ops->read(r->opaque, addr - r->base, size) & size_mask(size);
	return true;
}

bool sm_bus_write(struct sm_bus *bus, uint64_t addr, unsigned int size, uint64_t value)
{
	const struct sm_bus_range *r = sm_bus_find(bus, addr, size);

	if (r == NULL || r->ops->write == NULL) {
		__atomic_add_fetch(&bus->unhandled_writes, 1, __ATOMIC_RELAXED);
		return false;
	}
	r->ops->write(r->opaque, addr - r->base, size, value & size_mask(size));
	return true;
}
