/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "vmm/layout.h"
#include "vmm/mptable.h"

struct mpf_intel {
	char signature[4]; /* "_MP_" */
	uint32_t physptr;
	uint8_t length; /* in 16-byte units */
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature1;
	uint8_t feature2;
	uint8_t feature3, feature4, feature5;
} __attribute__((packed));

struct mpc_table {
	char signature[4]; /* "PCMP" */
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char productid[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount; /* number of entries */
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type; /* 0 */
	uint8_t apicid;
	uint8_t apicver;
	uint8_t cpuflag;
	uint32_t cpufeature;
	uint32_t featureflag;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type; /* 1 */
	uint8_t busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type; /* 2 */
	uint8_t apicid;
	uint8_t apicver;
	uint8_t flags;
	uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc {
	uint8_t type; /* 3 = I/O interrupt, 4 = local interrupt */
	uint8_t irqtype;
	uint16_t irqflag;
	uint8_t srcbus;
	uint8_t srcbusirq;
	uint8_t dstapic;
	uint8_t dstirq;
} __attribute__((packed));

#define MP_CPU_ENABLED 1
#define MP_CPU_BSP 2
#define MP_INT 0
#define MP_NMI 1
#define MP_EXTINT 3
#define APIC_VERSION 0x14
#define IOAPIC_VERSION 0x11

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;
	while (len--)
		sum = (uint8_t)(sum + *b++);
	return (uint8_t)(0 - sum);
}

int sm_mptable_write(const struct sm_guest_mem *mem, unsigned int ncpus, uint32_t cpu_signature,
		     uint32_t cpu_features, sm_error_t *err)
{
	uint8_t buf[SM_BOOT_MPTABLE_SIZE];
	struct mpf_intel mpf = {.signature = {'_', 'M', 'P', '_'}, .length = 1, .specification = 4};
	struct mpc_table mpc = {.signature = {'P', 'C', 'M', 'P'}, .spec = 4, .lapic = SM_LAPIC_ADDR};
	size_t off = sizeof(mpf) + sizeof(mpc);
	uint8_t ioapic_id = (uint8_t)ncpus;
	unsigned int i, entries = 0;

	if (ncpus == 0 || ncpus > SM_MPTABLE_MAX_CPUS)
		return sm_error_set(err, 0, "MP table: %u vCPUs (1..%d supported)", ncpus,
				    SM_MPTABLE_MAX_CPUS);
	memset(buf, 0, sizeof(buf));
	for (i = 0; i < ncpus; i++) {
		struct mpc_cpu c = {.type = 0,
				    .apicid = (uint8_t)i,
				    .apicver = APIC_VERSION,
				    .cpuflag = (uint8_t)(MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0)),
				    .cpufeature = cpu_signature,
				    .featureflag = cpu_features};
		memcpy(buf + off, &c, sizeof(c));
		off += sizeof(c);
		entries++;
	}
	struct mpc_bus bus = {.type = 1, .busid = 0, .bustype = {'I', 'S', 'A', ' ', ' ', ' '}};
	memcpy(buf + off, &bus, sizeof(bus));
	off += sizeof(bus);
	struct mpc_ioapic ioapic = {.type = 2,
				    .apicid = ioapic_id,
				    .apicver = IOAPIC_VERSION,
				    .flags = 1,
				    .apicaddr = SM_IOAPIC_ADDR};
	memcpy(buf + off, &ioapic, sizeof(ioapic));
	off += sizeof(ioapic);
	entries += 2;
	for (i = 0; i < SM_ISA_IRQS; i++) {
		/* irqflag 0: polarity and trigger conform to the bus (ISA: active high, edge). */
		struct mpc_intsrc s = {.type = 3,
				       .irqtype = MP_INT,
				       .srcbus = 0,
				       .srcbusirq = (uint8_t)i,
				       .dstapic = ioapic_id,
				       .dstirq = (uint8_t)i};
		memcpy(buf + off, &s, sizeof(s));
		off += sizeof(s);
		entries++;
	}
	struct mpc_intsrc lint[2] = {
	    {.type = 4, .irqtype = MP_EXTINT, .dstapic = 0xff, .dstirq = 0},
	    {.type = 4, .irqtype = MP_NMI, .dstapic = 0xff, .dstirq = 1},
	};
	memcpy(buf + off, lint, sizeof(lint));
	off += sizeof(lint);
	entries += 2;

	mpc.length = (uint16_t)(off - sizeof(mpf));
	mpc.oemcount = (uint16_t)entries;
	memcpy(mpc.oem, "SMRUNTIM", 8);
	memcpy(mpc.productid, "MICROVM     ", 12);
	memcpy(buf + sizeof(mpf), &mpc, sizeof(mpc));
	buf[sizeof(mpf) + offsetof(struct mpc_table, checksum)] = checksum(buf + sizeof(mpf), mpc.length);
	mpf.physptr = (uint32_t)(SM_BOOT_MPTABLE_ADDR + sizeof(mpf));
	mpf.checksum = checksum(&mpf, sizeof(mpf));
	memcpy(buf, &mpf, sizeof(mpf));
	if (sm_guest_write(mem, SM_BOOT_MPTABLE_ADDR, buf, off) < 0)
		return sm_error_set(err, 0, "MP table: guest RAM does not cover 0x%llx",
				    SM_BOOT_MPTABLE_ADDR);
	return (int)off;
}
