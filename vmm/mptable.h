/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_MPTABLE_H
#define SM_VMM_MPTABLE_H

#include <stdint.h>

#include "common/error.h"
#include "vmm/memory.h"

/*
 * An Intel MultiProcessor Specification 1.4 table, so a guest kernel without ACPI finds its
 * application processors, the IOAPIC and the ISA interrupt routing: a floating pointer and a
 * configuration table at SM_BOOT_MPTABLE_ADDR (vmm/layout.h) with one processor entry per vCPU
 * (APIC id = vCPU index, vCPU 0 the BSP), an ISA bus, the IOAPIC, ISA IRQ n routed to IOAPIC
 * pin n (KVM's default GSI routing) and LINT0 = ExtINT, LINT1 = NMI.
 */

/* Most vCPUs that fit in the space reserved for the table. */
#define SM_MPTABLE_MAX_CPUS 40

/*
 * Write the table for ncpus vCPUs; cpu_signature and cpu_features are CPUID.1 EAX and EDX, which
 * the processor entries repeat. Returns the number of bytes written.
 */
int sm_mptable_write(const struct sm_guest_mem *mem, unsigned int ncpus, uint32_t cpu_signature,
		     uint32_t cpu_features, sm_error_t *err);

#endif
