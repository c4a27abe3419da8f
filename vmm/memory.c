/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "vmm/memory.h"

void *sm_guest_ptr(const struct sm_guest_mem *mem, uint64_t gpa, uint64_t len)
{
	unsigned int i;
	uint64_t end;

	if (__builtin_add_overflow(gpa, len, &end))
		return NULL;
	for (i = 0; i < mem->nregions; i++) {
		const struct sm_mem_region *r = &mem->regions[i];
		if (gpa >= r->gpa && end <= r->gpa + r->size && gpa - r->gpa <= r->size)
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

int sm_guest_read(const struct sm_guest_mem *mem, uint64_t gpa, void *buf, size_t len)
{
	void *p = sm_guest_ptr(mem, gpa, len);
	if (p == NULL)
		return -EFAULT;
	memcpy(buf, p, len);
	return 0;
}

int sm_guest_write(const struct sm_guest_mem *mem, uint64_t gpa, const void *buf, size_t len)
{
	void *p = sm_guest_ptr(mem, gpa, len);
	if (p == NULL)
		return -EFAULT;
	memcpy(p, buf, len);
	return 0;
}

void sm_guest_mem_init_fake(struct sm_guest_mem *mem, uint64_t gpa, void *buf, uint64_t size)
{
	memset(mem, 0, sizeof(*mem));
	mem->regions[0].gpa = gpa;
	mem->regions[0].size = size;
	mem->regions[0].hva = buf;
	mem->nregions = 1;
	mem->memfd = -1;
	mem->ram_size = size;
	mem->base = buf;
}

/* Upper bound on guest RAM: far above any microVM, low enough that layout arithmetic cannot wrap. */
#define SM_MEM_MAX_SIZE (1ull << 40)

/* Regions around the 32-bit MMIO hole over one host mapping of size bytes at base. */
static void layout(struct sm_guest_mem *mem, uint8_t *base, uint64_t size)
{
	uint64_t low = size < SM_MMIO_HOLE_START ? size : SM_MMIO_HOLE_START;

	mem->regions[0] = (struct sm_mem_region){.gpa = 0, .size = low, .hva = base, .offset = 0};
	mem->nregions = 1;
	if (size > low) {
		mem->regions[1] = (struct sm_mem_region){
		    .gpa = SM_MMIO_HOLE_END, .size = size - low, .hva = base + low, .offset = low};
		mem->nregions = 2;
	}
	mem->base = base;
	mem->ram_size = size;
}

int sm_guest_mem_alloc(struct sm_guest_mem *mem, uint64_t size, sm_error_t *err)
{
	long page = sysconf(_SC_PAGESIZE);
	cleanup_close int fd = -1;
	void *base;

	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
	if (size == 0 || size % (uint64_t)page != 0 || size > SM_MEM_MAX_SIZE)
		return sm_error_set(
		    err, 0, "guest memory size %llu bytes: must be a non-zero multiple of %ld up to %llu",
		    (unsigned long long)size, page, SM_MEM_MAX_SIZE);
	fd = memfd_create("sm-guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return sm_error_set(err, errno, "guest memory: memfd_create");
	if (ftruncate(fd, (off_t)size) < 0)
		return sm_error_set(err, errno, "guest memory: ftruncate memfd to %llu bytes",
				    (unsigned long long)size);
	/* Device code keeps pointers into the mapping: the file must never shrink under them. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		return sm_error_set(err, errno, "guest memory: seal memfd");
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (base == MAP_FAILED)
		return sm_error_set(err, errno, "guest memory: mmap %llu bytes", (unsigned long long)size);

	layout(mem, base, size);
	mem->memfd = steal_fd(&fd);
	return 0;
}

int sm_guest_mem_map_file(struct sm_guest_mem *mem, const char *path, uint64_t size, sm_error_t *err)
{
	long page = sysconf(_SC_PAGESIZE);
	cleanup_close int fd = -1;
	struct stat st;
	void *base;

	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
	if (size == 0 || size % (uint64_t)page != 0 || size > SM_MEM_MAX_SIZE)
		return sm_error_set(
		    err, 0, "guest memory size %llu bytes: must be a non-zero multiple of %ld up to %llu",
		    (unsigned long long)size, page, SM_MEM_MAX_SIZE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sm_error_set(err, errno, "guest memory file `%s`", path);
	if (fstat(fd, &st) < 0)
		return sm_error_set(err, errno, "guest memory file `%s`: stat", path);
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
		return sm_error_set(err, 0,
				    "guest memory file `%s`: %lld bytes, expected a regular file of %llu",
				    path, (long long)st.st_size, (unsigned long long)size);
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
	if (base == MAP_FAILED)
		return sm_error_set(err, errno, "guest memory file `%s`: mmap %llu bytes copy-on-write", path,
				    (unsigned long long)size);
	layout(mem, base, size);
	mem->file_backed = true;
	mem->memfd = steal_fd(&fd);
	return 0;
}

void sm_guest_mem_free(struct sm_guest_mem *mem)
{
	/* A zeroed struct has memfd 0 (stdin): only a struct with a mapping owns its fd. */
	if (mem->base != NULL && mem->memfd >= 0) {
		munmap(mem->base, mem->ram_size);
		close(mem->memfd);
	}
	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
}
