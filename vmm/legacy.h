/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_LEGACY_H
#define SM_VMM_LEGACY_H

#include <stdint.h>
#include <time.h>

#include "common/error.h"
#include "vmm/vm.h"

/*
 * The legacy PC ports a Linux guest touches at boot that are not in-kernel KVM devices (the
 * PIC, PIT and ELCR are): the POST/delay port 0x80, a minimal i8042 at 0x60/0x64 (no keyboard,
 * so the probe ends at once; command 0xfe resets the machine, which stops the VM) and the CMOS
 * RTC at 0x70/0x71, which reports the host's UTC time.
 */

struct sm_legacy;

/* Register the legacy devices on vm. */
int sm_legacy_create(struct sm_vm *vm, struct sm_legacy **legacy, sm_error_t *err);

/* Free them (after sm_vm_join). NULL is ok. */
void sm_legacy_destroy(struct sm_legacy *legacy);

/* CMOS register contents for index at time now (pure; exposed for tests). */
uint8_t sm_cmos_value(const uint8_t nvram[128], uint8_t index, time_t now);

#endif
