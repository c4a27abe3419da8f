/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "vmm/kvm.h"

int sm_kvm_open(sm_error_t *err)
{
	cleanup_close int fd = open(SM_KVM_DEV, O_RDWR | O_CLOEXEC);
	int version;

	if (fd < 0) {
		int e = errno;
		const char *hint = "";
		if (e == EACCES || e == EPERM)
			hint = " (read-write access is needed: run as root or join the group owning it)";
		else if (e == ENOENT || e == ENXIO || e == ENODEV)
			hint = " (is KVM available and its module loaded?)";
		return sm_error_set(err, e, "open " SM_KVM_DEV "%s", hint);
	}
	version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version < 0)
		return sm_error_set(err, errno, SM_KVM_DEV ": KVM_GET_API_VERSION");
	if (version != KVM_API_VERSION)
		return sm_error_set(err, 0, SM_KVM_DEV ": KVM API version %d, expected %d", version,
				    KVM_API_VERSION);
	return steal_fd(&fd);
}

static int check_ext(int fd, int cap)
{
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);
	return r < 0 ? 0 : r;
}

int sm_host_caps_probe(int kvm_fd, const char *pvm_module, struct sm_host_caps *caps, sm_error_t *err)
{
	memset(caps, 0, sizeof(*caps));
	caps->api_version = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);
	if (caps->api_version != KVM_API_VERSION)
		return sm_error_set(err, 0, SM_KVM_DEV ": KVM API version %d, expected %d", caps->api_version,
				    KVM_API_VERSION);
	caps->pvm = access(pvm_module, F_OK) == 0;
	caps->irqchip = check_ext(kvm_fd, KVM_CAP_IRQCHIP) > 0;
	caps->pit2 = check_ext(kvm_fd, KVM_CAP_PIT2) > 0;
	caps->ioeventfd = check_ext(kvm_fd, KVM_CAP_IOEVENTFD) > 0;
	caps->irqfd = check_ext(kvm_fd, KVM_CAP_IRQFD) > 0;
	caps->immediate_exit = check_ext(kvm_fd, KVM_CAP_IMMEDIATE_EXIT) > 0;
	caps->set_tss_addr = check_ext(kvm_fd, KVM_CAP_SET_TSS_ADDR) > 0;
	caps->identity_map_addr = check_ext(kvm_fd, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0;
	caps->ext_cpuid = check_ext(kvm_fd, KVM_CAP_EXT_CPUID) > 0;
	caps->readonly_mem = check_ext(kvm_fd, KVM_CAP_READONLY_MEM) > 0;
	caps->tsc_deadline_timer = check_ext(kvm_fd, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	caps->nr_vcpus = check_ext(kvm_fd, KVM_CAP_NR_VCPUS);
	caps->max_vcpus = check_ext(kvm_fd, KVM_CAP_MAX_VCPUS);
	if (caps->max_vcpus <= 0)
		caps->max_vcpus = caps->nr_vcpus;
	if (caps->nr_vcpus <= 0) /* the API documents 4 when the capability is missing */
		caps->nr_vcpus = 4;
	if (caps->max_vcpus <= 0)
		caps->max_vcpus = caps->nr_vcpus;
	caps->nr_memslots = check_ext(kvm_fd, KVM_CAP_NR_MEMSLOTS);
	caps->vcpu_mmap_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (caps->vcpu_mmap_size < (int)sizeof(struct kvm_run))
		return sm_error_set(err, caps->vcpu_mmap_size < 0 ? errno : 0,
				    SM_KVM_DEV ": KVM_GET_VCPU_MMAP_SIZE returned %d", caps->vcpu_mmap_size);
	if (check_ext(kvm_fd, KVM_CAP_USER_MEMORY) <= 0)
		return sm_error_set(err, 0, SM_KVM_DEV ": KVM lacks KVM_CAP_USER_MEMORY");
	if (!caps->irqchip)
		return sm_error_set(
		    err, 0, SM_KVM_DEV ": KVM lacks KVM_CAP_IRQCHIP (in-kernel interrupt controllers)");
	if (!caps->immediate_exit)
		return sm_error_set(err, 0,
				    SM_KVM_DEV ": KVM lacks KVM_CAP_IMMEDIATE_EXIT (Linux >= 4.11 needed)");
	if (caps->nr_memslots <= 0)
		caps->nr_memslots = 32;
	return 0;
}

static pthread_mutex_t caps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sm_host_caps caps_cached;
static int caps_valid;

int sm_host_caps_get(const struct sm_host_caps **caps, sm_error_t *err)
{
	cleanup_close int fd = -1;
	int r = 0;

	pthread_mutex_lock(&caps_lock);
	if (!caps_valid) {
		fd = sm_kvm_open(err);
		if (fd < 0)
			r = fd;
		else if ((r = sm_host_caps_probe(fd, SM_KVM_PVM_MODULE, &caps_cached, err)) == 0)
			caps_valid = 1;
	}
	pthread_mutex_unlock(&caps_lock);
	if (r < 0)
		return r;
	*caps = &caps_cached;
	return 0;
}
