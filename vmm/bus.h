/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_BUS_H
#define SM_VMM_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/*
 * An address space of device registers (the x86 I/O-port space or the MMIO space outside RAM):
 * non-overlapping ranges, each with read/write callbacks and an opaque pointer. vCPU threads
 * dispatch guest accesses to it concurrently; ranges are only added before the VM starts, so
 * dispatch takes no lock. Accesses no range claims are counted: reads return all-ones, writes
 * are dropped (what a PC does for an empty bus).
 */

struct sm_bus_ops {
	/* Value of the size-byte (1, 2, 4 or 8) register at offset from the range's base. */
	uint64_t (*read)(void *opaque, uint64_t offset, unsigned int size);
	/* Store value, size bytes wide, at offset from the range's base. */
	void (*write)(void *opaque, uint64_t offset, unsigned int size, uint64_t value);
};

struct sm_bus_range {
	uint64_t base;
	uint64_t len;
	const struct sm_bus_ops *ops;
	void *opaque;
	const char *name; /* for logs; a string literal or owned by the device */
};

struct sm_bus {
	const char *name;	     /* "pio" or "mmio", for logs */
	struct sm_bus_range *ranges; /* sorted by base */
	size_t nranges;
	uint64_t unhandled_reads;  /* updated atomically */
	uint64_t unhandled_writes; /* updated atomically */
};

/* Initialise an empty bus; name labels it in messages. */
void sm_bus_init(struct sm_bus *bus, const char *name);

/* Free the range table. The devices themselves belong to their creators. */
void sm_bus_free(struct sm_bus *bus);

/*
 * Claim [base, base+len) for a device. Fails (EEXIST) when it overlaps a claimed range, and on
 * len == 0 or wrap-around, with a message naming both devices and the addresses.
 */
int sm_bus_register(struct sm_bus *bus, uint64_t base, uint64_t len, const struct sm_bus_ops *ops,
		    void *opaque, const char *name, sm_error_t *err);

/* The range that contains the whole access [addr, addr+size), or NULL. */
const struct sm_bus_range *sm_bus_find(const struct sm_bus *bus, uint64_t addr, unsigned int size);

/*
 * Dispatch a read. Returns true when a device handled it (*value is its answer); false when no
 * range covers the whole access: *value is all-ones of the access size and the miss is counted.
 */
bool sm_bus_read(struct sm_bus *bus, uint64_t addr, unsigned int size, uint64_t *value);

/* Dispatch a write; returns false (and counts the miss) when no range covers the access. */
bool sm_bus_write(struct sm_bus *bus, uint64_t addr, unsigned int size, uint64_t value);

#endif
