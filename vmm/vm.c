/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "vmm/vm-internal.h"

/* Where KVM on VT-x keeps the real-mode TSS (3 pages) and identity page table: just below the
 * BIOS area at the top of the 4 GiB hole, away from RAM and device windows. */
#define SM_KVM_IDENTITY_MAP_ADDR 0xfffbc000ull
#define SM_KVM_TSS_ADDR 0xfffbd000ull

static void kick_handler(int sig)
{
	(void)sig;
}

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;

static void install_kick_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: KVM_RUN must return EINTR so the vCPU thread sees the stop. */
	sigaction(SM_VCPU_KICK_SIGNAL, &sa, NULL);
}

const char *sm_vm_stop_reason_name(enum sm_vm_stop_reason reason)
{
	switch (reason) {
	case SM_VM_RUNNING:
		return "running";
	case SM_VM_STOP_REQUESTED:
		return "stopped";
	case SM_VM_STOP_SHUTDOWN:
		return "shutdown";
	case SM_VM_STOP_HALT:
		return "halted";
	case SM_VM_STOP_SYSTEM_EVENT:
		return "system event";
	case SM_VM_STOP_GUEST_ERROR:
		return "guest error";
	case SM_VM_STOP_HOST_ERROR:
		return "host error";
	}
	return "unknown";
}

static int set_ram_slots(struct sm_vm *vm, sm_error_t *err)
{
	for (unsigned int i = 0; i < vm->mem.nregions; i++) {
		const struct sm_mem_region *r = &vm->mem.regions[i];
		struct kvm_userspace_memory_region slot = {.slot = i,
							   .flags = 0,
							   .guest_phys_addr = r->gpa,
							   .memory_size = r->size,
							   .userspace_addr = (uint64_t)(uintptr_t)r->hva};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return sm_error_set(err, errno,
					    "KVM_SET_USER_MEMORY_REGION slot %u (0x%llx, %llu MiB)", i,
					    (unsigned long long)r->gpa, (unsigned long long)r->size >> 20);
	}
	return 0;
}

/* Machine-level setup that must precede vCPU creation. */
static int setup_machine(struct sm_vm *vm, sm_error_t *err)
{
	if (vm->caps->identity_map_addr) {
		uint64_t addr = SM_KVM_IDENTITY_MAP_ADDR;
		if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &addr) < 0)
			return sm_error_set(err, errno, "KVM_SET_IDENTITY_MAP_ADDR");
	}
	if (vm->caps->set_tss_addr && ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)SM_KVM_TSS_ADDR) < 0)
		return sm_error_set(err, errno, "KVM_SET_TSS_ADDR");
	if (vm->cfg.no_irqchip)
		return 0;
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return sm_error_set(err, errno, "KVM_CREATE_IRQCHIP");
	if (!vm->caps->pit2)
		return sm_error_set(err, 0, SM_KVM_DEV ": KVM lacks KVM_CAP_PIT2 (in-kernel timer)");
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return sm_error_set(err, errno, "KVM_CREATE_PIT2");
	return 0;
}

static int vm_init(struct sm_vm *vm, const struct sm_vm_config *cfg, sm_error_t *err)
{
	int r;

	if ((r = sm_host_caps_get(&vm->caps, err)) < 0)
		return r;
	if (cfg->ncpus == 0 || cfg->ncpus > SM_VM_MAX_VCPUS || (int)cfg->ncpus > vm->caps->max_vcpus)
		return sm_error_set(err, 0, "%u vCPUs: between 1 and %d are supported", cfg->ncpus,
				    vm->caps->max_vcpus < SM_VM_MAX_VCPUS ? vm->caps->max_vcpus
									  : SM_VM_MAX_VCPUS);
	if ((vm->kvm_fd = sm_kvm_open(err)) < 0)
		return vm->kvm_fd;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return sm_error_set(err, errno, "KVM_CREATE_VM");
	if (fcntl(vm->vm_fd, F_SETFD, FD_CLOEXEC) < 0)
		return sm_error_set(err, errno, "set close-on-exec on the VM fd");
	if (cfg->mem_file != NULL)
		r = sm_guest_mem_map_file(&vm->mem, cfg->mem_file, cfg->mem_size, err);
	else
		r = sm_guest_mem_alloc(&vm->mem, cfg->mem_size, err);
	if (r < 0)
		return r;
	if ((r = set_ram_slots(vm, err)) < 0 || (r = setup_machine(vm, err)) < 0)
		return r;
	if ((r = sm_vcpu_get_supported_cpuid(vm, err)) < 0)
		return r;
	for (unsigned int i = 0; i < cfg->ncpus; i++) {
		if ((r = sm_vcpu_init(vm, i, err)) < 0)
			return r;
		vm->ncpus++;
	}
	return sm_evloop_create(&vm->loop, err);
}

int sm_vm_create(const struct sm_vm_config *cfg, struct sm_vm **out, sm_error_t *err)
{
	struct sm_vm *vm = sm_xcalloc(1, sizeof(*vm));
	pthread_condattr_t ca;
	int r;

	vm->cfg = *cfg;
	vm->cfg.mem_file = NULL; /* only used during creation; not owned */
	vm->kvm_fd = vm->vm_fd = -1;
	vm->mem.memfd = -1;
	vm->stop.vcpu = -1;
	for (unsigned int i = 0; i < SM_VM_MAX_VCPUS; i++)
		vm->vcpus[i].fd = -1;
	sm_bus_init(&vm->pio, "I/O port");
	sm_bus_init(&vm->mmio, "MMIO");
	pthread_mutex_init(&vm->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&vm->cond, &ca);
	pthread_cond_init(&vm->pause_cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_once(&kick_once, install_kick_handler);
	r = vm_init(vm, cfg, err);
	if (r < 0) {
		sm_vm_destroy(vm);
		return r;
	}
	*out = vm;
	return 0;
}

static void kick_all(struct sm_vm *vm)
{
	/* Caller holds vm->lock, so `started` is stable. */
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		struct sm_vcpu *v = &vm->vcpus[i];
		if (v->run != NULL)
			__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		if (v->started && !v->joined)
			pthread_kill(v->thread, SM_VCPU_KICK_SIGNAL);
	}
}

static void stop_va(struct sm_vm *vm, int vcpu, uint32_t exit_reason, enum sm_vm_stop_reason reason,
		    const char *fmt, va_list ap)
{
	char msg[sizeof(vm->stop.msg)];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	pthread_mutex_lock(&vm->lock);
	if (vm->stop.reason == SM_VM_RUNNING) {
		vm->stop.reason = reason;
		vm->stop.vcpu = vcpu;
		vm->stop.exit_reason = exit_reason;
		memcpy(vm->stop.msg, msg, sizeof(msg));
		__atomic_store_n(&vm->stopping, 1, __ATOMIC_SEQ_CST);
		pthread_cond_broadcast(&vm->cond);
	}
	kick_all(vm);
	pthread_cond_broadcast(&vm->pause_cond); /* parked vCPUs leave on a stop */
	pthread_mutex_unlock(&vm->lock);
}

void sm_vm_stop(struct sm_vm *vm, enum sm_vm_stop_reason reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	stop_va(vm, -1, 0, reason, fmt, ap);
	va_end(ap);
}

void sm_vm_stop_vcpu(struct sm_vm *vm, unsigned int vcpu, uint32_t exit_reason, enum sm_vm_stop_reason reason,
		     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	stop_va(vm, (int)vcpu, exit_reason, reason, fmt, ap);
	va_end(ap);
}

bool sm_vm_stopping(const struct sm_vm *vm)
{
	return __atomic_load_n(&vm->stopping, __ATOMIC_SEQ_CST) != 0;
}

int sm_vm_start(struct sm_vm *vm, sm_error_t *err)
{
	int r;

	if ((r = sm_evloop_start(vm->loop, err)) < 0)
		return r;
	pthread_mutex_lock(&vm->lock);
	if (vm->started) {
		pthread_mutex_unlock(&vm->lock);
		return sm_error_set(err, EBUSY, "VM already started");
	}
	vm->started = true;
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		struct sm_vcpu *v = &vm->vcpus[i];
		int e = pthread_create(&v->thread, NULL, sm_vcpu_thread, v);
		if (e != 0) {
			pthread_mutex_unlock(&vm->lock);
			sm_vm_stop(vm, SM_VM_STOP_HOST_ERROR, "create vCPU %u thread: %s", i, strerror(e));
			return sm_error_set(err, e, "create vCPU %u thread", i);
		}
		v->started = true;
		vm->running++;
	}
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

void sm_vcpu_park(struct sm_vcpu *v)
{
	struct sm_vm *vm = v->vm;

	pthread_mutex_lock(&vm->lock);
	v->parked = true;
	vm->parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (vm->pause_req && !vm->stopping)
		pthread_cond_wait(&vm->pause_cond, &vm->lock);
	vm->parked--;
	v->parked = false;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->lock);
}

void sm_vcpu_exited(struct sm_vcpu *v)
{
	struct sm_vm *vm = v->vm;

	pthread_mutex_lock(&vm->lock);
	vm->running--;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->lock);
}

int sm_vm_pause(struct sm_vm *vm, sm_error_t *err)
{
	int r = 0;

	pthread_mutex_lock(&vm->pause_lock);
	pthread_mutex_lock(&vm->lock);
	if (vm->stopping) {
		r = sm_error_set(err, ESRCH, "pause: the VM has stopped (%s)",
				 sm_vm_stop_reason_name(vm->stop.reason));
		goto out;
	}
	if (vm->pause_req)
		goto out; /* already paused: every running vCPU is parked */
	__atomic_store_n(&vm->pause_req, 1, __ATOMIC_SEQ_CST);
	kick_all(vm);
	while (vm->parked < vm->running && !vm->stopping)
		pthread_cond_wait(&vm->pause_cond, &vm->lock);
	if (vm->stopping) {
		r = sm_error_set(err, ESRCH, "pause: the VM stopped while pausing (%s)",
				 sm_vm_stop_reason_name(vm->stop.reason));
		__atomic_store_n(&vm->pause_req, 0, __ATOMIC_SEQ_CST);
	}
out:
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_unlock(&vm->pause_lock);
	return r;
}

int sm_vm_resume(struct sm_vm *vm, sm_error_t *err)
{
	int r = 0;

	pthread_mutex_lock(&vm->pause_lock);
	pthread_mutex_lock(&vm->lock);
	if (vm->stopping) {
		r = sm_error_set(err, ESRCH, "resume: the VM has stopped (%s)",
				 sm_vm_stop_reason_name(vm->stop.reason));
	} else if (vm->pause_req) {
		/* immediate_exit is only ever set for a pause or a stop; not stopping, so clear it. */
		for (unsigned int i = 0; i < vm->ncpus; i++)
			if (vm->vcpus[i].run != NULL)
				__atomic_store_n(&vm->vcpus[i].run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		__atomic_store_n(&vm->pause_req, 0, __ATOMIC_SEQ_CST);
		pthread_cond_broadcast(&vm->pause_cond);
		/* Return once every vCPU has left the pause point, so a following pause is a new one. */
		while (vm->parked > 0 && !vm->stopping)
			pthread_cond_wait(&vm->pause_cond, &vm->lock);
	}
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_unlock(&vm->pause_lock);
	return r;
}

bool sm_vm_paused(const struct sm_vm *vm)
{
	return __atomic_load_n(&vm->pause_req, __ATOMIC_SEQ_CST) != 0 && !sm_vm_stopping(vm);
}

int sm_vm_fd(const struct sm_vm *vm)
{
	return vm->vm_fd;
}

int sm_vm_kvm_fd(const struct sm_vm *vm)
{
	return vm->kvm_fd;
}

uint64_t sm_vm_first_run_ns(const struct sm_vm *vm)
{
	return __atomic_load_n(&vm->first_run_ns, __ATOMIC_RELAXED);
}

int sm_vm_wait(struct sm_vm *vm, int64_t timeout_ns, struct sm_vm_stop_info *info)
{
	struct timespec deadline;
	int r = 0;

	if (timeout_ns >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += timeout_ns / 1000000000;
		deadline.tv_nsec += timeout_ns % 1000000000;
		if (deadline.tv_nsec >= 1000000000) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&vm->lock);
	while (vm->stop.reason == SM_VM_RUNNING && r == 0) {
		if (timeout_ns < 0)
			pthread_cond_wait(&vm->cond, &vm->lock);
		else if (pthread_cond_timedwait(&vm->cond, &vm->lock, &deadline) == ETIMEDOUT)
			r = -ETIMEDOUT;
	}
	if (r == 0 && info != NULL)
		*info = vm->stop;
	pthread_mutex_unlock(&vm->lock);
	return r;
}

void sm_vm_join(struct sm_vm *vm)
{
	if (vm->started && !sm_vm_stopping(vm))
		sm_vm_stop(vm, SM_VM_STOP_REQUESTED, "VM destroyed");
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		if (vm->vcpus[i].started && !vm->vcpus[i].joined) {
			pthread_join(vm->vcpus[i].thread, NULL);
			pthread_mutex_lock(&vm->lock);
			vm->vcpus[i].joined = true;
			pthread_mutex_unlock(&vm->lock);
		}
	}
	/* Event-loop callbacks may still raise interrupts: stop them before the VM fd goes. */
	if (vm->loop != NULL)
		sm_evloop_stop(vm->loop);
}

void sm_vm_destroy(struct sm_vm *vm)
{
	if (vm == NULL)
		return;
	sm_vm_join(vm);
	sm_evloop_destroy(vm->loop);
	for (unsigned int i = 0; i < SM_VM_MAX_VCPUS; i++)
		sm_vcpu_fini(&vm->vcpus[i]);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	sm_guest_mem_free(&vm->mem);
	sm_bus_free(&vm->pio);
	sm_bus_free(&vm->mmio);
	free(vm->cpuid);
	pthread_mutex_destroy(&vm->lock);
	pthread_cond_destroy(&vm->cond);
	pthread_cond_destroy(&vm->pause_cond);
	pthread_mutex_destroy(&vm->pause_lock);
	free(vm);
}

const struct sm_guest_mem *sm_vm_mem(const struct sm_vm *vm)
{
	return &vm->mem;
}

const struct sm_host_caps *sm_vm_caps(const struct sm_vm *vm)
{
	return vm->caps;
}

unsigned int sm_vm_ncpus(const struct sm_vm *vm)
{
	return vm->ncpus;
}

int sm_vm_vcpu_fd(const struct sm_vm *vm, unsigned int index)
{
	return index < vm->ncpus ? vm->vcpus[index].fd : -1;
}

bool sm_vm_cpuid(const struct sm_vm *vm, uint32_t function, uint32_t index, uint32_t regs[4])
{
	for (uint32_t i = 0; vm->cpuid != NULL && i < vm->cpuid->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &vm->cpuid->entries[i];
		if (e->function != function)
			continue;
		if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != index)
			continue;
		regs[0] = e->eax;
		regs[1] = e->ebx;
		regs[2] = e->ecx;
		regs[3] = e->edx;
		return true;
	}
	return false;
}

struct sm_evloop *sm_vm_evloop(struct sm_vm *vm)
{
	return vm->loop;
}

static int register_range(struct sm_vm *vm, struct sm_bus *bus, uint64_t base, uint64_t len,
			  const struct sm_bus_ops *ops, void *opaque, const char *name, sm_error_t *err)
{
	int r;

	pthread_mutex_lock(&vm->lock);
	if (vm->started)
		r = sm_error_set(err, EBUSY, "%s: devices must be registered before the VM starts", name);
	else
		r = sm_bus_register(bus, base, len, ops, opaque, name, err);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int sm_vm_register_pio(struct sm_vm *vm, uint16_t port, uint16_t len, const struct sm_bus_ops *ops,
		       void *opaque, const char *name, sm_error_t *err)
{
	if ((uint32_t)port + len > 0x10000)
		return sm_error_set(err, 0, "%s: I/O ports 0x%x+%u exceed 0xffff", name, port, len);
	return register_range(vm, &vm->pio, port, len, ops, opaque, name, err);
}

int sm_vm_register_mmio(struct sm_vm *vm, uint64_t gpa, uint64_t len, const struct sm_bus_ops *ops,
			void *opaque, const char *name, sm_error_t *err)
{
	for (unsigned int i = 0; i < vm->mem.nregions; i++) {
		const struct sm_mem_region *r = &vm->mem.regions[i];
		if (gpa < r->gpa + r->size && (r->gpa <= gpa || r->gpa - gpa < len))
			return sm_error_set(err, 0, "%s: MMIO range 0x%llx+0x%llx overlaps guest RAM", name,
					    (unsigned long long)gpa, (unsigned long long)len);
	}
	return register_range(vm, &vm->mmio, gpa, len, ops, opaque, name, err);
}

int sm_vm_set_irq(struct sm_vm *vm, uint32_t gsi, bool level, sm_error_t *err)
{
	struct kvm_irq_level irq = {.irq = gsi, .level = level ? 1 : 0};

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		return sm_error_set(err, errno, "KVM_IRQ_LINE gsi %u level %d", gsi, level);
	return 0;
}

static int ioeventfd(struct sm_vm *vm, uint64_t addr, unsigned int len, bool pio, bool datamatch,
		     uint64_t data, int fd, bool deassign, sm_error_t *err)
{
	struct kvm_ioeventfd io = {.datamatch = data, .addr = addr, .len = len, .fd = fd};

	if (!vm->caps->ioeventfd)
		return sm_error_set(err, ENOTSUP, "ioeventfd: KVM lacks KVM_CAP_IOEVENTFD");
	if (len != 0 && len != 1 && len != 2 && len != 4 && len != 8)
		return sm_error_set(err, 0, "ioeventfd at 0x%llx: length %u is not 0, 1, 2, 4 or 8",
				    (unsigned long long)addr, len);
	io.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (datamatch ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
		   (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0);
	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0)
		return sm_error_set(err, errno, "KVM_IOEVENTFD %s %s 0x%llx", deassign ? "remove" : "add",
				    pio ? "port" : "address", (unsigned long long)addr);
	return 0;
}

int sm_vm_add_ioeventfd(struct sm_vm *vm, uint64_t addr, unsigned int len, bool pio, bool datamatch,
			uint64_t data, int fd, sm_error_t *err)
{
	return ioeventfd(vm, addr, len, pio, datamatch, data, fd, false, err);
}

int sm_vm_del_ioeventfd(struct sm_vm *vm, uint64_t addr, unsigned int len, bool pio, bool datamatch,
			uint64_t data, int fd, sm_error_t *err)
{
	return ioeventfd(vm, addr, len, pio, datamatch, data, fd, true, err);
}

int sm_vm_add_irqfd(struct sm_vm *vm, uint32_t gsi, int fd, int resample_fd, sm_error_t *err)
{
	struct kvm_irqfd irqfd = {.fd = (uint32_t)fd, .gsi = gsi};

	if (!vm->caps->irqfd)
		return sm_error_set(err, ENOTSUP, "irqfd: KVM lacks KVM_CAP_IRQFD");
	if (resample_fd >= 0) {
		irqfd.flags = KVM_IRQFD_FLAG_RESAMPLE;
		irqfd.resamplefd = (uint32_t)resample_fd;
	}
	if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0)
		return sm_error_set(err, errno, "KVM_IRQFD gsi %u", gsi);
	return 0;
}

int sm_vm_del_irqfd(struct sm_vm *vm, uint32_t gsi, int fd, sm_error_t *err)
{
	struct kvm_irqfd irqfd = {.fd = (uint32_t)fd, .gsi = gsi, .flags = KVM_IRQFD_FLAG_DEASSIGN};

	if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0)
		return sm_error_set(err, errno, "KVM_IRQFD remove gsi %u", gsi);
	return 0;
}

/* Caller holds vm->lock. */
static bool range_is_free(const struct sm_vm *vm, uint64_t gpa, uint64_t end)
{
	for (unsigned int i = 0; i < vm->mem.nregions; i++)
		if (gpa < vm->mem.regions[i].gpa + vm->mem.regions[i].size && vm->mem.regions[i].gpa < end)
			return false;
	for (unsigned int i = 0; i < SM_VM_MAX_EXTRA_SLOTS; i++)
		if (vm->extra[i].used && gpa < vm->extra[i].gpa + vm->extra[i].size && vm->extra[i].gpa < end)
			return false;
	return true;
}

int sm_vm_add_memslot(struct sm_vm *vm, uint64_t gpa, uint64_t size, void *hva, bool readonly, uint32_t *slot,
		      sm_error_t *err)
{
	struct kvm_userspace_memory_region region;
	uint64_t end;
	unsigned int i;
	int r = 0;

	if (size == 0 || (gpa | size | (uintptr_t)hva) & 0xfff || __builtin_add_overflow(gpa, size, &end))
		return sm_error_set(err, 0, "memory slot 0x%llx+0x%llx: must be non-empty and page aligned",
				    (unsigned long long)gpa, (unsigned long long)size);
	if (readonly && !vm->caps->readonly_mem)
		return sm_error_set(err, ENOTSUP, "memory slot: KVM lacks KVM_CAP_READONLY_MEM");
	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < SM_VM_MAX_EXTRA_SLOTS && vm->extra[i].used; i++)
		;
	if (i == SM_VM_MAX_EXTRA_SLOTS || vm->mem.nregions + i >= (unsigned int)vm->caps->nr_memslots) {
		r = sm_error_set(err, ENOSPC, "memory slot 0x%llx: no free slot", (unsigned long long)gpa);
	} else if (!range_is_free(vm, gpa, end)) {
		r = sm_error_set(err, EEXIST, "memory slot 0x%llx+0x%llx overlaps RAM or another slot",
				 (unsigned long long)gpa, (unsigned long long)size);
	} else {
		region = (struct kvm_userspace_memory_region){.slot = vm->mem.nregions + i,
							      .flags = readonly ? KVM_MEM_READONLY : 0,
							      .guest_phys_addr = gpa,
							      .memory_size = size,
							      .userspace_addr = (uint64_t)(uintptr_t)hva};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
			r = sm_error_set(err, errno, "KVM_SET_USER_MEMORY_REGION slot %u at 0x%llx",
					 region.slot, (unsigned long long)gpa);
		} else {
			vm->extra[i] = (struct sm_extra_slot){true, region.slot, gpa, size};
			*slot = region.slot;
		}
	}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int sm_vm_del_memslot(struct sm_vm *vm, uint32_t slot, sm_error_t *err)
{
	struct kvm_userspace_memory_region region = {.slot = slot, .memory_size = 0};
	struct sm_extra_slot *found = NULL;
	int r = 0;

	pthread_mutex_lock(&vm->lock);
	for (unsigned int i = 0; i < SM_VM_MAX_EXTRA_SLOTS && found == NULL; i++)
		if (vm->extra[i].used && vm->extra[i].slot == slot)
			found = &vm->extra[i];
	if (found == NULL) {
		r = sm_error_set(err, ENOENT, "memory slot %u was not added with sm_vm_add_memslot", slot);
	} else {
		region.guest_phys_addr = found->gpa;
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
			r = sm_error_set(err, errno, "remove memory slot %u", slot);
		else
			found->used = false;
	}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

void sm_vm_get_stats(const struct sm_vm *vm, struct sm_vm_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		st->exits += __atomic_load_n(&vm->vcpus[i].exits, __ATOMIC_RELAXED);
		st->io_exits += __atomic_load_n(&vm->vcpus[i].io_exits, __ATOMIC_RELAXED);
		st->mmio_exits += __atomic_load_n(&vm->vcpus[i].mmio_exits, __ATOMIC_RELAXED);
	}
	st->pio_unhandled = __atomic_load_n(&vm->pio.unhandled_reads, __ATOMIC_RELAXED) +
			    __atomic_load_n(&vm->pio.unhandled_writes, __ATOMIC_RELAXED);
	st->mmio_unhandled = __atomic_load_n(&vm->mmio.unhandled_reads, __ATOMIC_RELAXED) +
			     __atomic_load_n(&vm->mmio.unhandled_writes, __ATOMIC_RELAXED);
}

bool sm_vm_debug_enabled(const struct sm_vm *vm)
{
	return vm->cfg.debug;
}

void sm_vm_debug(const struct sm_vm *vm, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!vm->cfg.debug)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line so lines from several threads do not interleave. */
	fprintf(stderr, "sm-vmm: %s\n", line);
}
