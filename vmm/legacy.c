/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vmm/legacy.h"

#define I8042_DATA 0x60
#define I8042_CMD 0x64
#define I8042_CMD_RESET 0xfe
#define DEBUG_PORT 0x80
#define CMOS_PORT 0x70

struct sm_legacy {
	struct sm_vm *vm;
	pthread_mutex_t lock; /* CMOS index and NVRAM */
	uint8_t cmos_index;
	uint8_t nvram[128];
};

static uint64_t ignore_read(void *opaque, uint64_t offset, unsigned int size)
{
	(void)opaque;
	(void)offset;
	(void)size;
	return 0;
}

static void ignore_write(void *opaque, uint64_t offset, unsigned int size, uint64_t value)
{
	(void)opaque;
	(void)offset;
	(void)size;
	(void)value;
}

static const struct sm_bus_ops debug_port_ops = {ignore_read, ignore_write};

/* The i8042 data port: never any data. */
static const struct sm_bus_ops i8042_data_ops = {ignore_read, ignore_write};

static void i8042_cmd_write(void *opaque, uint64_t offset, unsigned int size, uint64_t value)
{
	struct sm_legacy *l = opaque;

	(void)offset;
	(void)size;
	if ((value & 0xff) == I8042_CMD_RESET)
		sm_vm_stop(l->vm, SM_VM_STOP_SHUTDOWN,
			   "guest reset the machine through the i8042 controller");
}

/* Status 0: output buffer empty (nothing to read), input buffer empty (ready for commands). */
static const struct sm_bus_ops i8042_cmd_ops = {ignore_read, i8042_cmd_write};

static uint8_t bcd(int v)
{
	return (uint8_t)(((v / 10) % 10) << 4 | (v % 10));
}

uint8_t sm_cmos_value(const uint8_t nvram[128], uint8_t index, time_t now)
{
	struct tm tm;

	index &= 0x7f;
	gmtime_r(&now, &tm);
	switch (index) {
	case 0x00:
		return bcd(tm.tm_sec);
	case 0x02:
		return bcd(tm.tm_min);
	case 0x04:
		return bcd(tm.tm_hour);
	case 0x06:
		return bcd(tm.tm_wday + 1);
	case 0x07:
		return bcd(tm.tm_mday);
	case 0x08:
		return bcd(tm.tm_mon + 1);
	case 0x09:
		return bcd(tm.tm_year % 100);
	case 0x32:
		return bcd((tm.tm_year + 1900) / 100);
	case 0x0a:
		return 0x26; /* 32.768 kHz base, 1024 Hz rate, no update in progress */
	case 0x0b:
		return 0x02; /* 24-hour mode, BCD, no interrupts */
	case 0x0c:
		return 0x00; /* no interrupt flags */
	case 0x0d:
		return 0x80; /* valid RAM and time */
	default:
		return nvram[index];
	}
}

static uint64_t cmos_read(void *opaque, uint64_t offset, unsigned int size)
{
	struct sm_legacy *l = opaque;
	uint8_t v;

	(void)size;
	if (offset == 0)
		return 0xff; /* the index register is write-only */
	pthread_mutex_lock(&l->lock);
	v = sm_cmos_value(l->nvram, l->cmos_index, time(NULL));
	pthread_mutex_unlock(&l->lock);
	return v;
}

static void cmos_write(void *opaque, uint64_t offset, unsigned int size, uint64_t value)
{
	struct sm_legacy *l = opaque;

	(void)size;
	pthread_mutex_lock(&l->lock);
	if (offset == 0)
		l->cmos_index = (uint8_t)(value & 0x7f); /* bit 7 masks NMIs: meaningless here */
	else if (l->cmos_index >= 0x0e)			 /* clock registers are not settable */
		l->nvram[l->cmos_index] = (uint8_t)value;
	pthread_mutex_unlock(&l->lock);
}

static const struct sm_bus_ops cmos_ops = {cmos_read, cmos_write};

int sm_legacy_create(struct sm_vm *vm, struct sm_legacy **out, sm_error_t *err)
{
	struct sm_legacy *l = sm_xcalloc(1, sizeof(*l));
	int r;

	l->vm = vm;
	pthread_mutex_init(&l->lock, NULL);
	if ((r = sm_vm_register_pio(vm, DEBUG_PORT, 1, &debug_port_ops, l, "debug port", err)) < 0 ||
	    (r = sm_vm_register_pio(vm, I8042_DATA, 1, &i8042_data_ops, l, "i8042 data", err)) < 0 ||
	    (r = sm_vm_register_pio(vm, I8042_CMD, 1, &i8042_cmd_ops, l, "i8042 command", err)) < 0 ||
	    (r = sm_vm_register_pio(vm, CMOS_PORT, 2, &cmos_ops, l, "CMOS RTC", err)) < 0) {
		sm_legacy_destroy(l);
		return r;
	}
	*out = l;
	return 0;
}

void sm_legacy_destroy(struct sm_legacy *l)
{
	if (l == NULL)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l);
}
