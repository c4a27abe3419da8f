/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "vmm/cmdline.h"
#include "vmm/control.h"
#include "vmm/layout.h"
#include "vmm/legacy.h"
#include "vmm/machine.h"
#include "vmm/mptable.h"
#include "vmm/pvh.h"
#include "vmm/uart.h"
#include "vmm/x86.h"

#define MAX_PARAMS 64

struct sm_machine {
	struct sm_machine_config cfg;
	char *cmd, *append; /* owned copies of cfg strings */
	struct sm_vm *vm;
	struct sm_uart *console, *control_uart;
	struct sm_legacy *legacy;
	char *params[MAX_PARAMS];
	size_t nparams;
	uint64_t initrd_addr, initrd_size;
	bool started;
	bool restored;
	struct sm_virtio_dev *virtio[SM_MACHINE_MAX_VIRTIO];

	struct sm_control_parser control; /* fed under control_uart's lock */
	pthread_mutex_t lock;		  /* the results below */
	bool ready, exited;
	int exit_status;
	uint64_t start_ns, ready_ns, end_ns;
};

static void console_out(void *opaque, uint8_t byte)
{
	struct sm_machine *m = opaque;

	/* A closed or full stdout must not stop the guest: the bytes are simply lost. */
	if (m->cfg.console_out_fd >= 0)
		(void)sm_write_all(m->cfg.console_out_fd, &byte, 1);
}

static void control_out(void *opaque, uint8_t byte)
{
	struct sm_machine *m = opaque;
	int status = 0;

	switch (sm_control_feed(&m->control, byte, &status)) {
	case SM_CONTROL_READY:
		pthread_mutex_lock(&m->lock);
		if (!m->ready) {
			m->ready = true;
			m->ready_ns = sm_now_ns();
		}
		pthread_mutex_unlock(&m->lock);
		sm_vm_debug(m->vm, "control: SM-READY");
		break;
	case SM_CONTROL_EXIT:
		pthread_mutex_lock(&m->lock);
		if (!m->exited) {
			m->exited = true;
			m->exit_status = status;
		}
		pthread_mutex_unlock(&m->lock);
		sm_vm_debug(m->vm, "control: SM-EXIT %d", status);
		sm_vm_stop(m->vm, SM_VM_STOP_REQUESTED, "guest command exited with status %d", status);
		break;
	case SM_CONTROL_INVALID:
		sm_vm_debug(m->vm, "control: ignoring a malformed line");
		break;
	case SM_CONTROL_NONE:
		break;
	}
}

static int check_config(const struct sm_machine_config *cfg, sm_error_t *err)
{
	if (cfg->kernel_path == NULL || cfg->kernel_path[0] == '\0')
		return sm_error_set(err, 0, "no kernel given");
	if (cfg->mem_mib < SM_MACHINE_MIN_MEM_MIB || cfg->mem_mib > SM_MACHINE_MAX_MEM_MIB)
		return sm_error_set(err, 0, "--mem: %llu MiB is out of range [%llu, %llu]",
				    (unsigned long long)cfg->mem_mib, SM_MACHINE_MIN_MEM_MIB,
				    SM_MACHINE_MAX_MEM_MIB);
	if (cfg->ncpus < 1 || cfg->ncpus > SM_VM_MAX_VCPUS)
		return sm_error_set(err, 0, "--cpus: %u is out of range [1, %d]", cfg->ncpus,
				    SM_VM_MAX_VCPUS);
	return 0;
}

/* Read and validate the kernel image (*image, *len) before any VM exists. */
static int read_kernel(const char *path, char **image, size_t *len, struct sm_kernel_info *ki,
		       sm_error_t *err)
{
	int r;

	if ((r = sm_read_file(path, SM_MACHINE_MAX_KERNEL, image, len, err)) < 0)
		return sm_error_prefix(err, "kernel: ");
	if ((r = sm_pvh_parse((const uint8_t *)*image, *len, ki, err)) < 0)
		return sm_error_prefix(err, "kernel `%s`: ", path);
	return 0;
}

/* Copy the initramfs to the top of low RAM. */
static int load_initrd(struct sm_machine *m, const struct sm_kernel_info *ki, sm_error_t *err)
{
	const char *path = m->cfg.initrd_path;
	cleanup_close int fd = -1;
	struct stat st;
	void *dst;
	ssize_t n;
	int r;

	if (path == NULL)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sm_error_set(err, errno, "initramfs: open `%s`", path);
	if (fstat(fd, &st) < 0)
		return sm_error_set(err, errno, "initramfs: stat `%s`", path);
	if (!S_ISREG(st.st_mode) || st.st_size == 0)
		return sm_error_set(err, 0, "initramfs `%s` is not a non-empty regular file", path);
	if ((r = sm_pvh_initrd_addr(sm_vm_mem(m->vm), ki, (uint64_t)st.st_size, &m->initrd_addr, err)) < 0)
		return sm_error_prefix(err, "initramfs `%s`: ", path);
	m->initrd_size = (uint64_t)st.st_size;
	dst = sm_guest_ptr(sm_vm_mem(m->vm), m->initrd_addr, m->initrd_size);
	n = sm_read_all(fd, dst, m->initrd_size);
	if (n < 0)
		return sm_error_set(err, (int)-n, "initramfs: read `%s`", path);
	if ((uint64_t)n != m->initrd_size)
		return sm_error_set(err, 0, "initramfs `%s` shrank while being read", path);
	return 0;
}

static int create_devices(struct sm_machine *m, sm_error_t *err)
{
	int r;

	if ((r = sm_uart_create(m->vm, SM_COM1_PORT, SM_COM1_IRQ, "ttyS0 console", console_out, m,
				&m->console, err)) < 0)
		return r;
	if ((r = sm_uart_create(m->vm, SM_COM2_PORT, SM_COM2_IRQ, "ttyS1 control", control_out, m,
				&m->control_uart, err)) < 0)
		return r;
	return sm_legacy_create(m->vm, &m->legacy, err);
}

static int machine_init_restore(struct sm_machine *m, const char *mem_file, sm_error_t *err)
{
	struct sm_vm_config vcfg = {.mem_size = m->cfg.mem_mib << 20,
				    .ncpus = m->cfg.ncpus,
				    .debug = m->cfg.debug,
				    .mem_file = mem_file};
	int r;

	if (m->cfg.mem_mib < SM_MACHINE_MIN_MEM_MIB || m->cfg.mem_mib > SM_MACHINE_MAX_MEM_MIB)
		return sm_error_set(err, 0, "--mem: %llu MiB is out of range [%llu, %llu]",
				    (unsigned long long)m->cfg.mem_mib, SM_MACHINE_MIN_MEM_MIB,
				    SM_MACHINE_MAX_MEM_MIB);
	if (m->cfg.ncpus < 1 || m->cfg.ncpus > SM_VM_MAX_VCPUS)
		return sm_error_set(err, 0, "--cpus: %u is out of range [1, %d]", m->cfg.ncpus,
				    SM_VM_MAX_VCPUS);
	if ((r = sm_vm_create(&vcfg, &m->vm, err)) < 0)
		return r;
	return create_devices(m, err);
}

static int machine_init(struct sm_machine *m, sm_error_t *err)
{
	struct sm_vm_config vcfg = {
	    .mem_size = m->cfg.mem_mib << 20, .ncpus = m->cfg.ncpus, .debug = m->cfg.debug};
	struct sm_kernel_info ki;
	cleanup_free char *image = NULL;
	size_t len = 0;
	int r;

	if ((r = check_config(&m->cfg, err)) < 0)
		return r;
	/* Validate the kernel before touching /dev/kvm, so a bad path fails fast and clearly. */
	if ((r = read_kernel(m->cfg.kernel_path, &image, &len, &ki, err)) < 0)
		return r;
	if (m->cfg.initrd_path != NULL && access(m->cfg.initrd_path, R_OK) < 0)
		return sm_error_set(err, errno, "initramfs `%s`", m->cfg.initrd_path);
	if ((r = sm_vm_create(&vcfg, &m->vm, err)) < 0)
		return r;
	if ((r = sm_pvh_load(sm_vm_mem(m->vm), (const uint8_t *)image, len, &ki, err)) < 0)
		return sm_error_prefix(err, "kernel `%s`: ", m->cfg.kernel_path);
	if ((r = load_initrd(m, &ki, err)) < 0)
		return r;
	if ((r = sm_x86_setup_pvh(sm_vm_vcpu_fd(m->vm, 0), ki.entry, SM_BOOT_START_INFO_ADDR,
				  SM_BOOT_GDT_ADDR, err)) < 0)
		return r;
	return create_devices(m, err);
}

static int machine_new(const struct sm_machine_config *cfg, const char *mem_file, struct sm_machine **out,
		       sm_error_t *err)
{
	struct sm_machine *m = sm_xcalloc(1, sizeof(*m));
	int r;

	m->cfg = *cfg;
	m->cmd = cfg->cmd ? sm_xstrdup(cfg->cmd) : NULL;
	m->append = cfg->append ? sm_xstrdup(cfg->append) : NULL;
	m->cfg.cmd = m->cmd;
	m->cfg.append = m->append;
	m->cfg.kernel_path = cfg->kernel_path ? sm_xstrdup(cfg->kernel_path) : NULL;
	m->cfg.initrd_path = cfg->initrd_path ? sm_xstrdup(cfg->initrd_path) : NULL;
	pthread_mutex_init(&m->lock, NULL);
	sm_control_init(&m->control);
	m->restored = mem_file != NULL;
	r = m->restored ? machine_init_restore(m, mem_file, err) : machine_init(m, err);
	if (r < 0) {
		sm_machine_destroy(m);
		return r;
	}
	*out = m;
	return 0;
}

int sm_machine_create(const struct sm_machine_config *cfg, struct sm_machine **out, sm_error_t *err)
{
	return machine_new(cfg, NULL, out, err);
}

int sm_machine_create_restore(const struct sm_machine_config *cfg, const char *mem_file,
			      struct sm_machine **out, sm_error_t *err)
{
	if (mem_file == NULL)
		return sm_error_set(err, 0, "restore: no guest memory file");
	return machine_new(cfg, mem_file, out, err);
}

bool sm_machine_restored(const struct sm_machine *m)
{
	return m->restored;
}

const struct sm_machine_config *sm_machine_config(const struct sm_machine *m)
{
	return &m->cfg;
}

int sm_machine_set_virtio(struct sm_machine *m, unsigned int slot, struct sm_virtio_dev *dev, sm_error_t *err)
{
	if (slot >= SM_MACHINE_MAX_VIRTIO)
		return sm_error_set(err, 0, "virtio slot %u: at most %d virtio devices", slot,
				    SM_MACHINE_MAX_VIRTIO);
	if (dev != NULL && m->virtio[slot] != NULL && m->virtio[slot] != dev)
		return sm_error_set(err, EBUSY, "virtio slot %u is already taken", slot);
	m->virtio[slot] = dev;
	return 0;
}

struct sm_virtio_dev *sm_machine_virtio(struct sm_machine *m, unsigned int slot)
{
	return slot < SM_MACHINE_MAX_VIRTIO ? m->virtio[slot] : NULL;
}

void sm_machine_get_state(struct sm_machine *m, struct sm_machine_state *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&m->lock);
	st->ready = m->ready;
	pthread_mutex_unlock(&m->lock);
	sm_uart_get_state(m->console, &st->uart[0]);
	sm_uart_get_state(m->control_uart, &st->uart[1]);
}

int sm_machine_set_state(struct sm_machine *m, const struct sm_machine_state *st, sm_error_t *err)
{
	int r;

	if (m->started)
		return sm_error_set(err, EBUSY, "machine state: the VM has started");
	if ((r = sm_uart_set_state(m->console, &st->uart[0], err)) < 0 ||
	    (r = sm_uart_set_state(m->control_uart, &st->uart[1], err)) < 0)
		return r;
	pthread_mutex_lock(&m->lock);
	m->ready = st->ready;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int sm_machine_start_restored(struct sm_machine *m, sm_error_t *err)
{
	if (!m->restored)
		return sm_error_set(err, 0, "start restored: the machine was not created for a restore");
	if (m->cfg.console_in_fd >= 0) {
		sm_error_t in_err = SM_ERROR_INIT;
		if (sm_uart_attach_input(m->console, m->cfg.console_in_fd, &in_err) < 0)
			sm_vm_debug(m->vm, "%s", in_err.msg);
	}
	m->started = true;
	m->start_ns = sm_now_ns();
	return sm_vm_start(m->vm, err);
}

struct sm_vm *sm_machine_vm(struct sm_machine *m)
{
	return m->vm;
}

int sm_machine_add_kernel_param(struct sm_machine *m, const char *param, sm_error_t *err)
{
	if (m->started)
		return sm_error_set(err, EBUSY, "kernel parameter `%s`: the VM has started", param);
	if (m->nparams >= MAX_PARAMS)
		return sm_error_set(err, ENOSPC, "kernel parameter `%s`: more than %d device parameters",
				    param, MAX_PARAMS);
	m->params[m->nparams++] = sm_xstrdup(param);
	return 0;
}

int sm_machine_cmdline(struct sm_machine *m, char **out, sm_error_t *err)
{
	struct sm_cmdline_params p = {
	    .pvm = sm_vm_caps(m->vm)->pvm,
	    .cmd = m->cfg.cmd,
	    .device_params = (const char *const *)m->params,
	    .ndevice_params = m->nparams,
	    .append = m->cfg.append,
	};
	return sm_cmdline_build(&p, out, err);
}

int sm_machine_start(struct sm_machine *m, sm_error_t *err)
{
	cleanup_free char *cmdline = NULL;
	uint32_t cpuid1[4] = {0, 0, 0, 0};
	uint64_t start_info;
	int r;

	if (m->restored)
		return sm_machine_start_restored(m, err);
	if ((r = sm_machine_cmdline(m, &cmdline, err)) < 0)
		return r;
	sm_vm_debug(m->vm, "kernel command line: %s", cmdline);
	if ((r = sm_pvh_write_boot_info(sm_vm_mem(m->vm), cmdline, m->initrd_addr, m->initrd_size,
					&start_info, err)) < 0)
		return r;
	sm_vm_cpuid(m->vm, 1, 0, cpuid1);
	if ((r = sm_mptable_write(sm_vm_mem(m->vm), sm_vm_ncpus(m->vm), cpuid1[0], cpuid1[3], err)) < 0)
		return r;
	if (m->cfg.console_in_fd >= 0) {
		sm_error_t in_err = SM_ERROR_INIT;
		/* /dev/null and regular files cannot be polled: the console then has no input. */
		if (sm_uart_attach_input(m->console, m->cfg.console_in_fd, &in_err) < 0)
			sm_vm_debug(m->vm, "%s", in_err.msg);
	}
	m->started = true;
	m->start_ns = sm_now_ns();
	return sm_vm_start(m->vm, err);
}

int sm_machine_wait(struct sm_machine *m, int64_t timeout_ns, struct sm_machine_result *res)
{
	struct sm_vm_stop_info stop;

	if (sm_vm_wait(m->vm, timeout_ns, &stop) < 0)
		return -ETIMEDOUT;
	/* Join so the counters are final and no device writes output after we return. */
	sm_vm_join(m->vm);
	pthread_mutex_lock(&m->lock);
	if (m->end_ns == 0)
		m->end_ns = sm_now_ns();
	memset(res, 0, sizeof(*res));
	res->ready = m->ready;
	res->exited = m->exited;
	res->exit_status = m->exit_status;
	res->start_ns = m->start_ns;
	res->ready_ns = m->ready_ns;
	res->end_ns = m->end_ns;
	pthread_mutex_unlock(&m->lock);
	res->stop = stop;
	sm_vm_get_stats(m->vm, &res->stats);
	return 0;
}

void sm_machine_destroy(struct sm_machine *m)
{
	if (m == NULL)
		return;
	if (m->vm != NULL)
		sm_vm_join(m->vm);
	sm_uart_destroy(m->console);
	sm_uart_destroy(m->control_uart);
	sm_legacy_destroy(m->legacy);
	sm_vm_destroy(m->vm);
	for (size_t i = 0; i < m->nparams; i++)
		free(m->params[i]);
	free(m->cmd);
	free(m->append);
	free((char *)m->cfg.kernel_path);
	free((char *)m->cfg.initrd_path);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int sm_machine_outcome(const struct sm_machine_result *res, sm_error_t *err)
{
	const char *hint = "";

	if (res->exited)
		return res->exit_status;
	if (res->stop.reason == SM_VM_STOP_GUEST_ERROR || res->stop.reason == SM_VM_STOP_HOST_ERROR)
		return sm_error_set(err, 0, "the VM failed: %s", res->stop.msg);
	if (!res->ready)
		hint = " (the guest init never reported SM-READY: see the console output above, or add "
		       "--append 'loglevel=8' and --debug)";
	return sm_error_set(err, 0, "the guest stopped without reporting an exit status (no SM-EXIT): %s%s",
			    res->stop.msg, hint);
}

int sm_machine_run(const struct sm_machine_config *cfg, int64_t timeout_ns, struct sm_machine_result *res,
		   sm_error_t *err)
{
	struct sm_machine_result local;
	struct sm_machine *m = NULL;
	int r;

	if (res == NULL)
		res = &local;
	memset(res, 0, sizeof(*res));
	if ((r = sm_machine_create(cfg, &m, err)) < 0)
		return r;
	if ((r = sm_machine_start(m, err)) < 0) {
		sm_machine_destroy(m);
		return r;
	}
	if (sm_machine_wait(m, timeout_ns, res) < 0) {
		sm_vm_stop(m->vm, SM_VM_STOP_REQUESTED, "timed out");
		sm_machine_wait(m, -1, res);
		sm_machine_destroy(m);
		return sm_error_set(err, ETIMEDOUT, "the guest did not finish within %lld s",
				    (long long)(timeout_ns / 1000000000));
	}
	sm_machine_destroy(m);
	return sm_machine_outcome(res, err);
}
