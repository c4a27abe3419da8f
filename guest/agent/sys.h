/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_GUEST_AGENT_SYS_H
#define SM_GUEST_AGENT_SYS_H

/*
 * Kernel interfaces the agent calls directly. musl-gcc sees no <linux/...> headers, so the few
 * structures and constants needed are defined here (with sm_ names, to never clash with glibc's
 * or the kernel's when the agent is built with gcc for the host tests). Values are the kernel's
 * stable UAPI numbers.
 */
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/* openat2(2) */
struct sm_open_how {
	uint64_t flags;
	uint64_t mode;
	uint64_t resolve;
};
#define SM_RESOLVE_NO_MAGICLINKS 0x02
#define SM_RESOLVE_IN_ROOT 0x10

static inline int sm_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve)
{
	struct sm_open_how how = {.flags = flags, .mode = 0, .resolve = resolve};
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/* mount_setattr(2) */
struct sm_mount_attr {
	uint64_t attr_set;
	uint64_t attr_clr;
	uint64_t propagation;
	uint64_t userns_fd;
};
#define SM_AT_RECURSIVE 0x8000
#define SM_MOUNT_ATTR_RDONLY 0x00000001
#define SM_MOUNT_ATTR_NOSUID 0x00000002
#define SM_MOUNT_ATTR_NODEV 0x00000004
#define SM_MOUNT_ATTR_NOEXEC 0x00000008
#define SM_MOUNT_ATTR__ATIME 0x00000070
#define SM_MOUNT_ATTR_RELATIME 0x00000000
#define SM_MOUNT_ATTR_NOATIME 0x00000010
#define SM_MOUNT_ATTR_STRICTATIME 0x00000020
#define SM_MOUNT_ATTR_NODIRATIME 0x00000080
#define SM_MOUNT_ATTR_NOSYMFOLLOW 0x00200000

static inline int sm_mount_setattr(int dirfd, const char *path, unsigned int flags,
				   struct sm_mount_attr *attr)
{
	return (int)syscall(SYS_mount_setattr, dirfd, path, flags, attr, sizeof(*attr));
}

static inline int sm_pivot_root(const char *new_root, const char *put_old)
{
	return (int)syscall(SYS_pivot_root, new_root, put_old);
}

/* close_range(2) */
#define SM_CLOSE_RANGE_CLOEXEC (1u << 2)

static inline int sm_close_range_cloexec(unsigned int first)
{
	return (int)syscall(SYS_close_range, first, ~0u, SM_CLOSE_RANGE_CLOEXEC);
}

/* capget/capset with _LINUX_CAPABILITY_VERSION_3 (two 32-bit words per set) */
#define SM_CAP_VERSION_3 0x20080522
struct sm_cap_header {
	uint32_t version;
	int pid;
};
struct sm_cap_data {
	uint32_t effective;
	uint32_t permitted;
	uint32_t inheritable;
};

static inline int sm_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable)
{
	struct sm_cap_header h = {.version = SM_CAP_VERSION_3, .pid = 0};
	struct sm_cap_data d[2] = {
	    {(uint32_t)effective, (uint32_t)permitted, (uint32_t)inheritable},
	    {(uint32_t)(effective >> 32), (uint32_t)(permitted >> 32), (uint32_t)(inheritable >> 32)},
	};
	return (int)syscall(SYS_capset, &h, d);
}

/* seccomp(2) */
struct sm_sock_filter {
	uint16_t code;
	uint8_t jt;
	uint8_t jf;
	uint32_t k;
};
struct sm_sock_fprog {
	unsigned short len;
	struct sm_sock_filter *filter;
};
#define SM_SECCOMP_SET_MODE_FILTER 1
#define SM_SECCOMP_FILTER_FLAG_NEW_LISTENER (1u << 3)
#define SM_BPF_MAXINSNS 4096

static inline int sm_seccomp_filter(unsigned int flags, const struct sm_sock_fprog *prog)
{
	return (int)syscall(SYS_seccomp, SM_SECCOMP_SET_MODE_FILTER, flags, prog);
}

/* AF_VSOCK addresses */
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
struct sm_sockaddr_vm {
	unsigned short svm_family;
	unsigned short svm_reserved1;
	unsigned int svm_port;
	unsigned int svm_cid;
	unsigned char svm_flags;
	unsigned char svm_zero[3];
};
#define SM_VMADDR_CID_ANY 0xffffffffu

/* RNDADDENTROPY: _IOW('R', 0x03, int[2]) followed by the data */
#define SM_RNDADDENTROPY 0x40085203
struct sm_rand_pool_info {
	int entropy_count; /* bits */
	int buf_size;	   /* bytes */
	uint32_t buf[];
};

/* Flag bit in /proc/<pid>/stat field 9 marking kernel threads. */
#define SM_PF_KTHREAD 0x00200000u

#endif
