/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/util.h"
#include "vmm/vm-internal.h"
#include "vmm/x86.h"

#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_HTT (1u << 28)
#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 4
#define APIC_MODE_EXTINT 7

int sm_vcpu_get_supported_cpuid(struct sm_vm *vm, sm_error_t *err)
{
	uint32_t nent = 128;

	if (!vm->caps->ext_cpuid)
		return 0;
	for (;;) {
		struct kvm_cpuid2 *c = sm_xcalloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		c->nent = nent;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			vm->cpuid = c;
			return 0;
		}
		free(c);
		if (errno != E2BIG || nent >= 4096)
			return sm_error_set(err, errno, "KVM_GET_SUPPORTED_CPUID");
		nent *= 2;
	}
}

/* Adjust the supported CPUID for one vCPU: its APIC id, the CPU count, the hypervisor bit. */
static void fixup_cpuid(struct kvm_cpuid2 *c, unsigned int apic_id, unsigned int ncpus)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x0000ffffu) | (apic_id << 24) | ((ncpus & 0xffu) << 16);
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			if (ncpus > 1)
				e->edx |= CPUID_1_EDX_HTT;
			break;
		case 0xb:
		case 0x1f:
			e->edx = apic_id; /* x2APIC id */
			break;
		default:
			break;
		}
	}
}

static int setup_cpuid(struct sm_vm *vm, struct sm_vcpu *v, sm_error_t *err)
{
	struct kvm_cpuid2 *c;
	size_t size;

	if (vm->cpuid == NULL)
		return 0;
	size = sizeof(*c) + vm->cpuid->nent * sizeof(c->entries[0]);
	c = sm_xmalloc(size);
	memcpy(c, vm->cpuid, size);
	fixup_cpuid(c, v->index, vm->cfg.ncpus);
	if (v->index == 0)
		memcpy(vm->cpuid, c, size); /* what sm_vm_cpuid reports: vCPU 0's view */
	/* On kvm_pvm the guest's CPUID instruction still returns the host's values; setting it
	 * keeps KVM's own view (e.g. of the APIC) consistent all the same. */
	if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0) {
		int e = errno;
		free(c);
		return sm_error_set(err, e, "vCPU %u: KVM_SET_CPUID2", v->index);
	}
	free(c);
	return 0;
}

/* LINT0 = ExtINT (the PIC), LINT1 = NMI, as firmware leaves them and the MP table says. */
static int setup_lapic(struct sm_vm *vm, struct sm_vcpu *v, sm_error_t *err)
{
	struct kvm_lapic_state lapic;
	uint32_t reg;

	if (vm->cfg.no_irqchip)
		return 0;
	if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
		return sm_error_set(err, errno, "vCPU %u: KVM_GET_LAPIC", v->index);
	memcpy(&reg, lapic.regs + APIC_LVT0, 4);
	reg = (reg & ~0x700u) | (APIC_MODE_EXTINT << 8);
	memcpy(lapic.regs + APIC_LVT0, &reg, 4);
	memcpy(&reg, lapic.regs + APIC_LVT1, 4);
	reg = (reg & ~0x700u) | (APIC_MODE_NMI << 8);
	memcpy(lapic.regs + APIC_LVT1, &reg, 4);
	if (ioctl(v->fd, KVM_SET_LAPIC, &lapic) < 0)
		return sm_error_set(err, errno, "vCPU %u: KVM_SET_LAPIC", v->index);
	return 0;
}

int sm_vcpu_init(struct sm_vm *vm, unsigned int index, sm_error_t *err)
{
	struct sm_vcpu *v = &vm->vcpus[index];
	void *run;
	int r;

	v->vm = vm;
	v->index = index;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (v->fd < 0)
		return sm_error_set(err, errno, "KVM_CREATE_VCPU %u", index);
	fcntl(v->fd, F_SETFD, FD_CLOEXEC);
	v->run_size = (size_t)vm->caps->vcpu_mmap_size;
	run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (run == MAP_FAILED)
		return sm_error_set(err, errno, "vCPU %u: mmap kvm_run", index);
	v->run = run;
	if ((r = setup_cpuid(vm, v, err)) < 0 || (r = setup_lapic(vm, v, err)) < 0)
		return r;
	return 0;
}

void sm_vcpu_fini(struct sm_vcpu *v)
{
	if (v->run != NULL)
		munmap(v->run, v->run_size);
	v->run = NULL;
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
}

static void handle_io(struct sm_vcpu *v)
{
	struct kvm_run *run = v->run;
	struct sm_vm *vm = v->vm;
	unsigned int size = run->io.size;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;

	if ((size != 1 && size != 2 && size != 4) || run->io.data_offset > v->run_size ||
	    (uint64_t)size * run->io.count > v->run_size - run->io.data_offset) {
		sm_vm_debug(vm, "vCPU %u: malformed I/O exit (port 0x%x size %u count %u)", v->index,
			    run->io.port, size, run->io.count);
		return;
	}
	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		uint64_t val = 0;
		if (run->io.direction == KVM_EXIT_IO_OUT) {
			memcpy(&val, data, size);
			if (!sm_bus_write(&vm->pio, run->io.port, size, val))
				sm_vm_debug(vm, "unhandled I/O write: port 0x%x size %u value 0x%llx",
					    run->io.port, size, (unsigned long long)val);
		} else {
			if (!sm_bus_read(&vm->pio, run->io.port, size, &val))
				sm_vm_debug(vm, "unhandled I/O read: port 0x%x size %u", run->io.port, size);
			memcpy(data, &val, size);
		}
	}
}

static void handle_mmio(struct sm_vcpu *v)
{
	struct kvm_run *run = v->run;
	struct sm_vm *vm = v->vm;
	unsigned int len = run->mmio.len;
	uint64_t val = 0;

	if (len == 0 || len > 8) {
		sm_vm_debug(vm, "vCPU %u: malformed MMIO exit (length %u)", v->index, len);
		return;
	}
	if (run->mmio.is_write) {
		memcpy(&val, run->mmio.data, len);
		if (!sm_bus_write(&vm->mmio, run->mmio.phys_addr, len, val))
			sm_vm_debug(vm, "unhandled MMIO write: 0x%llx size %u value 0x%llx",
				    (unsigned long long)run->mmio.phys_addr, len, (unsigned long long)val);
	} else {
		if (!sm_bus_read(&vm->mmio, run->mmio.phys_addr, len, &val))
			sm_vm_debug(vm, "unhandled MMIO read: 0x%llx size %u",
				    (unsigned long long)run->mmio.phys_addr, len);
		memcpy(run->mmio.data, &val, len);
	}
}

/* A failed vCPU's state, for error messages. */
struct cpu_snapshot {
	bool ok;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint64_t lin; /* linear address of RIP */
	uint8_t insn[15];
	size_t ninsn; /* instruction bytes readable at lin */
};

static void snapshot(struct sm_vcpu *v, struct cpu_snapshot *c)
{
	struct sm_x86_paging pg;

	memset(c, 0, sizeof(*c));
	if (ioctl(v->fd, KVM_GET_REGS, &c->regs) < 0 || ioctl(v->fd, KVM_GET_SREGS, &c->sregs) < 0)
		return;
	c->ok = true;
	pg = (struct sm_x86_paging){c->sregs.cr0, c->sregs.cr3, c->sregs.cr4, c->sregs.efer};
	/* In 64-bit mode CS has no base; elsewhere the linear address is CS.base + EIP. */
	if ((c->sregs.efer & SM_X86_EFER_LMA) && c->sregs.cs.l)
		c->lin = c->regs.rip;
	else
		c->lin = (c->sregs.cs.base + c->regs.rip) & 0xffffffffu;
	c->ninsn = sm_x86_read_linear(&v->vm->mem, &pg, c->lin, c->insn, sizeof(c->insn));
}

/* "rip ... cr3 ...; instruction bytes at rip: ..." into buf. */
static void describe(const struct cpu_snapshot *c, char *buf, size_t size)
{
	size_t len = 0;

	if (!c->ok) {
		snprintf(buf, size, "registers unavailable");
		return;
	}
	len += (size_t)snprintf(
	    buf + len, size - len,
	    "rip 0x%llx (linear 0x%llx) rsp 0x%llx cr0 0x%llx cr3 0x%llx cr4 0x%llx efer 0x%llx",
	    (unsigned long long)c->regs.rip, (unsigned long long)c->lin, (unsigned long long)c->regs.rsp,
	    (unsigned long long)c->sregs.cr0, (unsigned long long)c->sregs.cr3,
	    (unsigned long long)c->sregs.cr4, (unsigned long long)c->sregs.efer);
	if (c->ninsn == 0) {
		snprintf(buf + len, size - len, "; instruction bytes unreadable (rip not mapped to RAM)");
		return;
	}
	len += (size_t)snprintf(buf + len, size - len, "; instruction bytes at rip:");
	for (size_t i = 0; i < c->ninsn && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, " %02x", c->insn[i]);
}

static void describe_cpu(struct sm_vcpu *v, char *buf, size_t size)
{
	struct cpu_snapshot c;

	snapshot(v, &c);
	describe(&c, buf, size);
}

static void internal_error(struct sm_vcpu *v)
{
	struct kvm_run *run = v->run;
	struct cpu_snapshot c;
	char cpu[768], data[256];
	size_t len = 0;
	uint32_t sub = run->internal.suberror;
	const char *what = sub == KVM_INTERNAL_ERROR_EMULATION
			       ? "emulation failure: the instruction could not be emulated"
			   : sub == KVM_INTERNAL_ERROR_SIMUL_EX	   ? "exception while delivering an exception"
			   : sub == KVM_INTERNAL_ERROR_DELIVERY_EV ? "event delivery failed"
								   : "internal error";

	snapshot(v, &c);
	describe(&c, cpu, sizeof(cpu));
	/* Linux's reboot=t loads an empty IDT and executes int3 to triple-fault. Where int3 at CPL0
	 * cannot be emulated (kvm_pvm) that ends here instead of in KVM_EXIT_SHUTDOWN: same meaning. */
	if (sub == KVM_INTERNAL_ERROR_EMULATION && c.ok && c.ninsn > 0 && c.insn[0] == 0xcc &&
	    c.sregs.idt.limit == 0) {
		sm_vm_stop_vcpu(v->vm, v->index, KVM_EXIT_SHUTDOWN, SM_VM_STOP_SHUTDOWN,
				"vCPU %u: guest reset (triple fault: int3 with an empty IDT): %s", v->index,
				cpu);
		return;
	}
	data[0] = '\0';
	for (uint32_t i = 0; i < run->internal.ndata && i < 16 && len < sizeof(data); i++)
		len += (size_t)snprintf(data + len, sizeof(data) - len, " 0x%llx",
					(unsigned long long)run->internal.data[i]);
	sm_vm_stop_vcpu(v->vm, v->index, run->exit_reason, SM_VM_STOP_GUEST_ERROR,
			"vCPU %u: KVM internal error, suberror %u (%s): %s%s%s", v->index, sub, what, cpu,
			data[0] ? "; data:" : "", data);
}

static const char *system_event_name(uint32_t type)
{
	switch (type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		return "shutdown";
	case KVM_SYSTEM_EVENT_RESET:
		return "reset";
	case KVM_SYSTEM_EVENT_CRASH:
		return "crash";
	default:
		return "unknown event";
	}
}

/* Handle one exit; returns false when the vCPU must stop running. */
static bool handle_exit(struct sm_vcpu *v)
{
	struct kvm_run *run = v->run;
	struct sm_vm *vm = v->vm;
	char cpu[768];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		__atomic_add_fetch(&v->io_exits, 1, __ATOMIC_RELAXED);
		handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		__atomic_add_fetch(&v->mmio_exits, 1, __ATOMIC_RELAXED);
		handle_mmio(v);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_HLT:
		sm_vm_stop_vcpu(vm, v->index, run->exit_reason, SM_VM_STOP_HALT,
				"vCPU %u halted with no interrupt controller to wake it", v->index);
		break;
	case KVM_EXIT_SHUTDOWN:
		describe_cpu(v, cpu, sizeof(cpu));
		sm_vm_stop_vcpu(vm, v->index, run->exit_reason, SM_VM_STOP_SHUTDOWN,
				"vCPU %u: guest shut down (triple fault or reset): %s", v->index, cpu);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		sm_vm_stop_vcpu(vm, v->index, run->exit_reason, SM_VM_STOP_SYSTEM_EVENT,
				"vCPU %u: guest %s (system event %u)", v->index,
				system_event_name(run->system_event.type), run->system_event.type);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		internal_error(v);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		describe_cpu(v, cpu, sizeof(cpu));
		sm_vm_stop_vcpu(vm, v->index, run->exit_reason, SM_VM_STOP_GUEST_ERROR,
				"vCPU %u: VM entry failed (hardware reason 0x%llx, cpu %u): %s", v->index,
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason,
				run->fail_entry.cpu, cpu);
		break;
	default:
		describe_cpu(v, cpu, sizeof(cpu));
		sm_vm_stop_vcpu(vm, v->index, run->exit_reason, SM_VM_STOP_GUEST_ERROR,
				"vCPU %u: unexpected KVM exit reason %u: %s", v->index, run->exit_reason,
				cpu);
		break;
	}
	return false;
}

void *sm_vcpu_thread(void *arg)
{
	struct sm_vcpu *v = arg;
	struct sm_vm *vm = v->vm;
	sigset_t set;

	/* Only the kick reaches a vCPU thread; process signals go to the main thread. */
	sigfillset(&set);
	sigdelset(&set, SM_VCPU_KICK_SIGNAL);
	/* A seccomp trap must reach the --debug handler (a blocked SIGSYS kills silently). */
	sigdelset(&set, SIGSYS);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	/*
	 * consistent: the last KVM_RUN returned EINTR (or none ran yet). After an I/O or MMIO exit
	 * the instruction is only complete once KVM_RUN is entered again, so a pause re-enters it
	 * (with immediate_exit set it returns EINTR right after completing) before parking.
	 */
	bool consistent = true;
	while (!sm_vm_stopping(vm)) {
		if (consistent && __atomic_load_n(&vm->pause_req, __ATOMIC_SEQ_CST)) {
			sm_vcpu_park(v);
			continue;
		}
		if (v->index == 0 && __atomic_load_n(&vm->first_run_ns, __ATOMIC_RELAXED) == 0)
			__atomic_store_n(&vm->first_run_ns, sm_now_ns(), __ATOMIC_RELAXED);
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				consistent = true;
				continue;
			}
			sm_vm_stop(vm, SM_VM_STOP_HOST_ERROR, "vCPU %u: KVM_RUN: %s", v->index,
				   strerror(errno));
			break;
		}
		consistent = false;
		__atomic_add_fetch(&v->exits, 1, __ATOMIC_RELAXED);
		if (!handle_exit(v))
			break;
	}
	sm_vcpu_exited(v);
	return NULL;
}
