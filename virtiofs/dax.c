/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/util.h"
#include "virtiofs/dax.h"

#define PAGE_MASK_4K ((1ull << SM_DAX_MAP_ALIGNMENT_SHIFT) - 1)

struct sm_dax_window {
	uint8_t *base;
	uint64_t size;
	pthread_mutex_t lock;
	struct sm_dax_mapping *maps; /* sorted by moffset, never overlapping */
	size_t nmaps, cap;
	bool zero_filled; /* some range holds anonymous memory from sm_dax_window_map_zero() */
};

int sm_dax_window_new(uint64_t size, struct sm_dax_window **out, sm_error_t *err)
{
	struct sm_dax_window *w;
	uint8_t *raw, *base;
	uint64_t head, tail;

	if (size == 0 || size % SM_DAX_ALIGN != 0 || size > (1ull << 46))
		return sm_error_set(
		    err, 0, "DAX window size %llu is not a non-zero multiple of 2 MiB (at most 64 TiB)",
		    (unsigned long long)size);
	/* Over-reserve by 2 MiB and trim, so the base is 2 MiB aligned and KVM can use huge pages. */
	raw = mmap(NULL, size + SM_DAX_ALIGN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return sm_error_set(err, errno, "reserve DAX window of %llu bytes", (unsigned long long)size);
	base = (uint8_t *)(((uintptr_t)raw + SM_DAX_ALIGN - 1) & ~(uintptr_t)(SM_DAX_ALIGN - 1));
	head = (uint64_t)(base - raw);
	tail = SM_DAX_ALIGN - head;
	if (head)
		munmap(raw, head);
	if (tail)
		munmap(base + size, tail);
	w = sm_xcalloc(1, sizeof(*w));
	w->base = base;
	w->size = size;
	pthread_mutex_init(&w->lock, NULL);
	*out = w;
	return 0;
}

void sm_dax_window_free(struct sm_dax_window *w)
{
	if (w == NULL)
		return;
	munmap(w->base, w->size);
	pthread_mutex_destroy(&w->lock);
	free(w->maps);
	free(w);
}

void *sm_dax_window_base(const struct sm_dax_window *w)
{
	return w->base;
}

uint64_t sm_dax_window_size(const struct sm_dax_window *w)
{
	return w->size;
}

static int check_range(const struct sm_dax_window *w, uint64_t moffset, uint64_t len, sm_error_t *err)
{
	if (len == 0 || (moffset & PAGE_MASK_4K) || (len & PAGE_MASK_4K))
		return sm_error_set(err, 0, "DAX range moffset=%#llx len=%#llx: not 4 KiB aligned or empty",
				    (unsigned long long)moffset, (unsigned long long)len);
	if (moffset >= w->size || len > w->size - moffset)
		return sm_error_set(
		    err, 0, "DAX range moffset=%#llx len=%#llx: outside the %#llx-byte window",
		    (unsigned long long)moffset, (unsigned long long)len, (unsigned long long)w->size);
	return 0;
}

/* Drop the records inside [start, end), trimming or splitting the ones that straddle it. */
static void records_cut(struct sm_dax_window *w, uint64_t start, uint64_t end)
{
	size_t i = 0;

	while (i < w->nmaps) {
		struct sm_dax_mapping *m = &w->maps[i];
		uint64_t ms = m->moffset, me = m->moffset + m->len;

		if (me <= start || ms >= end) {
			i++;
			continue;
		}
		if (ms < start && me > end) {
			/* Split: keep the head here, insert the tail after it. */
			struct sm_dax_mapping tailrec = *m;

			tailrec.moffset = end;
			tailrec.len = me - end;
			tailrec.foffset = m->foffset + (end - ms);
			m->len = start - ms;
			if (w->nmaps == w->cap) {
				w->cap = w->cap ? w->cap * 2 : 16;
				w->maps = realloc(w->maps, w->cap * sizeof(*w->maps));
				if (w->maps == NULL)
					abort();
			}
			memmove(&w->maps[i + 2], &w->maps[i + 1], (w->nmaps - i - 1) * sizeof(*w->maps));
			w->maps[i + 1] = tailrec;
			w->nmaps++;
			return;
		}
		if (ms < start) {
			m->len = start - ms;
			i++;
		} else if (me > end) {
			m->foffset += end - ms;
			m->len = me - end;
			m->moffset = end;
			i++;
		} else {
			memmove(m, m + 1, (w->nmaps - i - 1) * sizeof(*w->maps));
			w->nmaps--;
		}
	}
}

static void record_insert(struct sm_dax_window *w, const struct sm_dax_mapping *rec)
{
	size_t i = 0;

	while (i < w->nmaps && w->maps[i].moffset < rec->moffset)
		i++;
	if (w->nmaps == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->maps = realloc(w->maps, w->cap * sizeof(*w->maps));
		if (w->maps == NULL)
			abort();
	}
	memmove(&w->maps[i + 1], &w->maps[i], (w->nmaps - i) * sizeof(*w->maps));
	w->maps[i] = *rec;
	w->nmaps++;
}

static int make_hole(struct sm_dax_window *w, uint64_t moffset, uint64_t len)
{
	void *p = mmap(w->base + moffset, len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);

	return p == MAP_FAILED ? -errno : 0;
}

int sm_dax_window_map(struct sm_dax_window *w, int fd, uint64_t foffset, uint64_t len, uint64_t moffset,
		      bool writable, uint64_t nodeid, dev_t dev, ino_t ino, sm_error_t *err)
{
	struct sm_dax_mapping rec = {moffset, len, foffset, nodeid, dev, ino, writable};
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);
	void *p;
	int r, acc;

	r = check_range(w, moffset, len, err);
	if (r < 0)
		return -EINVAL;
	if ((foffset & PAGE_MASK_4K) || foffset > (uint64_t)INT64_MAX - len) {
		sm_error_set(err, 0, "DAX file offset %#llx (len %#llx): unaligned or overflowing",
			     (unsigned long long)foffset, (unsigned long long)len);
		return -EINVAL;
	}
	/* Refuse an fd that cannot back the mapping before MAP_FIXED touches the old one. */
	acc = fcntl(fd, F_GETFL);
	if (acc < 0)
		return sm_error_set(err, errno, "DAX map: bad file descriptor");
	acc &= O_ACCMODE;
	if (acc == O_WRONLY || (writable && acc != O_RDWR))
		return sm_error_set(err, EACCES, "DAX map: fd not open for %s",
				    writable ? "read-write" : "reading");
	pthread_mutex_lock(&w->lock);
	p = mmap(w->base + moffset, len, prot, MAP_SHARED | MAP_FIXED, fd, (off_t)foffset);
	if (p == MAP_FAILED) {
		int e = errno;

		/* A failed MAP_FIXED may have removed part of the old mapping: make the range a clean hole.
		 */
		make_hole(w, moffset, len);
		records_cut(w, moffset, moffset + len);
		pthread_mutex_unlock(&w->lock);
		return sm_error_set(err, e, "map file range %#llx+%#llx at DAX offset %#llx",
				    (unsigned long long)foffset, (unsigned long long)len,
				    (unsigned long long)moffset);
	}
	records_cut(w, moffset, moffset + len);
	record_insert(w, &rec);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

int sm_dax_window_unmap(struct sm_dax_window *w, uint64_t moffset, uint64_t len, sm_error_t *err)
{
	int r = check_range(w, moffset, len, err);

	if (r < 0)
		return -EINVAL;
	pthread_mutex_lock(&w->lock);
	r = make_hole(w, moffset, len);
	if (r == 0)
		records_cut(w, moffset, moffset + len);
	pthread_mutex_unlock(&w->lock);
	if (r < 0)
		return sm_error_set(err, -r, "unmap DAX range %#llx+%#llx", (unsigned long long)moffset,
				    (unsigned long long)len);
	return 0;
}

int sm_dax_window_map_zero(struct sm_dax_window *w, uint64_t moffset, uint64_t len, sm_error_t *err)
{
	void *p;
	int r = check_range(w, moffset, len, err);

	if (r < 0)
		return -EINVAL;
	pthread_mutex_lock(&w->lock);
	p = mmap(w->base + moffset, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	records_cut(w, moffset, moffset + len);
	w->zero_filled = true;
	pthread_mutex_unlock(&w->lock);
	if (p == MAP_FAILED)
		return sm_error_set(err, errno, "zero-fill DAX range %#llx+%#llx",
				    (unsigned long long)moffset, (unsigned long long)len);
	return 0;
}

void sm_dax_window_unmap_all(struct sm_dax_window *w)
{
	pthread_mutex_lock(&w->lock);
	if ((w->nmaps > 0 || w->zero_filled) && make_hole(w, 0, w->size) == 0) {
		w->nmaps = 0;
		w->zero_filled = false;
	}
	pthread_mutex_unlock(&w->lock);
}

size_t sm_dax_window_mappings(struct sm_dax_window *w, struct sm_dax_mapping *out, size_t max)
{
	size_t n;

	pthread_mutex_lock(&w->lock);
	n = w->nmaps;
	if (out != NULL && max > 0)
		memcpy(out, w->maps, (n < max ? n : max) * sizeof(*out));
	pthread_mutex_unlock(&w->lock);
	return n;
}
