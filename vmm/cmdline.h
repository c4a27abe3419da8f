/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_CMDLINE_H
#define SM_VMM_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/*
 * The guest kernel command line. Order: fixed console/reboot parameters, SM_CMDLINE_BASE, the
 * kvm_pvm workarounds when the host needs them, device parameters (virtio_mmio.device=...),
 * sm.cmd=<base64 of the command> for the guest init, then the user's --append text last so it
 * can override anything before it.
 */

/* Always first: console on ttyS0, reboot by triple fault, reboot at once on panic. */
#define SM_CMDLINE_FIXED "console=ttyS0 reboot=t panic=-1"

/* Tuning parameters of the guest kernel (the one place to change them). */
#define SM_CMDLINE_BASE "quiet"

/*
 * On kvm_pvm hosts: the guest kernel's sm_pvm switch (guest/kernel/patches), the CPU features
 * whose instructions the host's emulator lacks (shared/notes/kvm-on-these-machines.md), and no
 * RCU stall warnings (emulated kernel code is slow enough to trigger them, and printing the
 * reports costs more emulated time).
 */
#define SM_CMDLINE_PVM                                                                                       \
	"sm_pvm clearcpuid=popcnt,cx16,smap,smep,pcid,invpcid,fsgsbase,rdrand,rdseed,rdpid,xsave,avx,avx2,"  \
	"avx512f,bmi1,bmi2,umip,erms,fsrm,clflushopt,clwb,movbe,abm rcupdate.rcu_cpu_stall_suppress=1"

/* x86 COMMAND_LINE_SIZE, including the terminating NUL. */
#define SM_CMDLINE_MAX 2048

struct sm_cmdline_params {
	bool pvm;			  /* host is kvm_pvm: add SM_CMDLINE_PVM */
	const char *cmd;		  /* guest command (shell text), NULL for none */
	const char *const *device_params; /* extra parameters from devices, may be NULL */
	size_t ndevice_params;
	const char *append; /* user's extra kernel parameters, NULL or "" for none */
};

/*
 * Assemble the command line into a malloc'd string (*out). Fails when the result would not fit
 * in SM_CMDLINE_MAX bytes (the message gives the length and says which inputs to shorten) or
 * when append contains a newline (cmd may contain anything: it is base64-encoded).
 */
int sm_cmdline_build(const struct sm_cmdline_params *p, char **out, sm_error_t *err);

/*
 * Standard base64 (RFC 4648, "+/" alphabet, "=" padding) of in[0..len) into a malloc'd,
 * NUL-terminated string.
 */
char *sm_base64_encode(const void *in, size_t len);

#endif
