/* SPDX-License-Identifier: Apache-2.0 */
/* VMM plumbing without KVM: the device bus, the event loop and guest RAM allocation (memfd). */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/tap.h"
#include "vmm/bus.h"
#include "vmm/evloop.h"
#include "vmm/memory.h"

struct dev {
	uint64_t last_offset, last_value;
	unsigned int last_size, writes;
	uint64_t answer;
};

static uint64_t dev_read(void *opaque, uint64_t offset, unsigned int size)
{
	struct dev *d = opaque;
	d->last_offset = offset;
	d->last_size = size;
	return d->answer;
}

static void dev_write(void *opaque, uint64_t offset, unsigned int size, uint64_t value)
{
	struct dev *d = opaque;
	d->last_offset = offset;
	d->last_size = size;
	d->last_value = value;
	d->writes++;
}

static const struct sm_bus_ops ops = {dev_read, dev_write};
static const struct sm_bus_ops write_only = {NULL, dev_write};

static void test_bus(void)
{
	struct sm_bus bus;
	struct dev a = {.answer = 0x1122334455667788ull}, b = {.answer = 0xab}, c = {0};
	sm_error_t err = SM_ERROR_INIT;
	uint64_t v;

	sm_bus_init(&bus, "test");
	ok(sm_bus_register(&bus, 0x3f8, 8, &ops, &a, "uart", &err) == 0, "register 0x3f8+8");
	ok(sm_bus_register(&bus, 0x60, 1, &ops, &b, "kbd", &err) == 0, "register 0x60 (out of order)");
	ok(sm_bus_register(&bus, 0x3fc, 8, &ops, &c, "clash", &err) == -EEXIST &&
	       strstr(err.msg, "overlaps uart"),
	   "overlap refused: %s", err.msg);
	ok(sm_bus_register(&bus, 0x3f0, 9, &ops, &c, "clash", &err) < 0, "overlap from below refused");
	ok(sm_bus_register(&bus, 0x400, 0, &ops, &c, "empty", &err) < 0, "empty range refused");
	ok(sm_bus_register(&bus, ~0ull - 1, 4, &ops, &c, "wrap", &err) < 0, "wrapping range refused");
	ok(sm_bus_register(&bus, 0x3f0, 8, &ops, &c, "adjacent", &err) == 0, "adjacent range below is fine");
	ok(sm_bus_register(&bus, 0x400, 2, &write_only, &c, "wo", &err) == 0, "adjacent range above is fine");
	ok(bus.nranges == 4 && bus.ranges[0].base == 0x60 && bus.ranges[1].base == 0x3f0 &&
	       bus.ranges[3].base == 0x400,
	   "ranges kept sorted");

	ok(sm_bus_read(&bus, 0x3fd, 1, &v) && v == 0x88 && a.last_offset == 5 && a.last_size == 1,
	   "1-byte read: offset within the range, value truncated to the size");
	ok(sm_bus_read(&bus, 0x3f8, 4, &v) && v == 0x55667788, "4-byte read truncated to 32 bits");
	ok(sm_bus_write(&bus, 0x3ff, 1, 0x1ff) && a.last_offset == 7 && a.last_value == 0xff,
	   "write at the last byte; value masked to the size");
	ok(!sm_bus_read(&bus, 0x3fe, 4, &v) && v == 0xffffffff,
	   "access straddling the end is unhandled: all-ones");
	ok(!sm_bus_read(&bus, 0x70, 2, &v) && v == 0xffff, "unclaimed 2-byte read: 0xffff");
	ok(!sm_bus_read(&bus, 0x5000, 8, &v) && v == ~0ull, "unclaimed 8-byte read: all-ones");
	ok(!sm_bus_read(&bus, 0x10, 1, &v) && v == 0xff, "below every range: 0xff");
	ok(!sm_bus_read(&bus, 0x400, 1, &v) && v == 0xff, "range without a read callback reads all-ones");
	ok(sm_bus_write(&bus, 0x401, 1, 5) && c.writes == 1, "but takes writes");
	ok(!sm_bus_write(&bus, 0x71, 1, 0), "unclaimed write is dropped");
	ok(bus.unhandled_reads == 5 && bus.unhandled_writes == 1, "misses counted (%llu reads, %llu writes)",
	   (unsigned long long)bus.unhandled_reads, (unsigned long long)bus.unhandled_writes);
	ok(sm_bus_find(&bus, 0x60, 1) == &bus.ranges[0] && sm_bus_find(&bus, 0x61, 1) == NULL, "find");
	sm_bus_free(&bus);
}

struct loop_state {
	pthread_mutex_t lock;
	int calls;
	bool on_loop_thread;
	struct sm_evloop *loop;
};

static void on_readable(void *opaque, int fd, uint32_t events)
{
	struct loop_state *s = opaque;
	char buf[16];

	(void)events;
	if (read(fd, buf, sizeof(buf)) < 0)
		return;
	pthread_mutex_lock(&s->lock);
	s->calls++;
	s->on_loop_thread = sm_evloop_on_loop_thread(s->loop);
	pthread_mutex_unlock(&s->lock);
}

static int calls(struct loop_state *s)
{
	pthread_mutex_lock(&s->lock);
	int n = s->calls;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static bool wait_calls(struct loop_state *s, int n)
{
	for (int i = 0; i < 500 && calls(s) < n; i++)
		usleep(10000);
	return calls(s) >= n;
}

static void test_evloop(void)
{
	struct loop_state s = {.lock = PTHREAD_MUTEX_INITIALIZER};
	sm_error_t err = SM_ERROR_INIT;
	int p[2], f;

	ok(sm_evloop_create(&s.loop, &err) == 0, "create loop");
	ok(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0, "pipe");
	ok(sm_evloop_add(s.loop, p[0], EPOLLIN, on_readable, &s, &err) == 0,
	   "watch pipe before the thread starts");
	ok(sm_evloop_add(s.loop, p[0], EPOLLIN, on_readable, &s, &err) < 0, "watching an fd twice fails");
	f = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
	ok(f >= 0 && sm_evloop_add(s.loop, f, EPOLLIN, on_readable, &s, &err) < 0 &&
	       strstr(err.msg, "watch fd"),
	   "a regular file cannot be watched: %s", err.msg);
	if (f >= 0)
		close(f);
	ok(sm_evloop_start(s.loop, &err) == 0, "start loop thread");
	ok(write(p[1], "x", 1) == 1 && wait_calls(&s, 1), "callback runs when the fd is readable");
	ok(s.on_loop_thread && !sm_evloop_on_loop_thread(s.loop), "callback ran on the loop thread");
	ok(sm_evloop_modify(s.loop, p[0], 0, &err) == 0, "pause the fd");
	ok(write(p[1], "y", 1) == 1, "write while paused");
	usleep(100000);
	ok(calls(&s) == 1, "no callback while paused");
	ok(sm_evloop_modify(s.loop, p[0], EPOLLIN, &err) == 0 && wait_calls(&s, 2),
	   "resumed: the data is seen");
	sm_evloop_remove(s.loop, p[0]);
	ok(write(p[1], "z", 1) == 1, "write after remove");
	usleep(100000);
	ok(calls(&s) == 2, "no callback after remove");
	ok(sm_evloop_modify(s.loop, p[0], EPOLLIN, &err) == -ENOENT, "modify of a removed fd fails");
	sm_evloop_destroy(s.loop);
	ok(1, "loop stopped and freed");
	close(p[0]);
	close(p[1]);
}

static void test_guest_mem(void)
{
	struct sm_guest_mem mem;
	sm_error_t err = SM_ERROR_INIT;

	ok(sm_guest_mem_alloc(&mem, 0, &err) < 0 && strstr(err.msg, "0 bytes"), "size 0 refused: %s",
	   err.msg);
	ok(sm_guest_mem_alloc(&mem, 4097, &err) < 0, "unaligned size refused");
	ok(sm_guest_mem_alloc(&mem, 128ull << 20, &err) == 0, "128 MiB: %s", err.msg);
	ok(mem.nregions == 1 && mem.regions[0].gpa == 0 && mem.regions[0].size == 128ull << 20 &&
	       mem.memfd >= 0,
	   "one region at 0");
	ok(sm_guest_write(&mem, (128ull << 20) - 4, "abcd", 4) == 0 &&
	       memcmp(mem.base + (128ull << 20) - 4, "abcd", 4) == 0,
	   "last bytes writable");
	ok(sm_guest_ptr(&mem, 128ull << 20, 1) == NULL, "one byte past the end is not RAM");
	ok(fcntl(mem.memfd, F_GET_SEALS) & F_SEAL_SHRINK, "memfd sealed against shrinking");
	sm_guest_mem_free(&mem);
	ok(mem.nregions == 0 && mem.memfd == -1, "freed");
	sm_guest_mem_free(&mem);
	ok(1, "free twice is harmless");

	/* 3.5 GiB (mapped lazily, MAP_NORESERVE): split around the 3 GiB hole. */
	ok(sm_guest_mem_alloc(&mem, 3584ull << 20, &err) == 0, "3.5 GiB: %s", err.msg);
	ok(mem.nregions == 2 && mem.regions[0].size == SM_MMIO_HOLE_START &&
	       mem.regions[1].gpa == SM_MMIO_HOLE_END && mem.regions[1].size == 512ull << 20 &&
	       mem.regions[1].offset == SM_MMIO_HOLE_START,
	   "low region to 3 GiB, high region at 4 GiB with its memfd offset");
	ok(sm_guest_ptr(&mem, SM_MMIO_HOLE_START, 1) == NULL &&
	       sm_guest_ptr(&mem, SM_MMIO_HOLE_END - 1, 1) == NULL,
	   "the hole is not RAM");
	ok(sm_guest_ptr(&mem, SM_MMIO_HOLE_START - 2, 4) == NULL, "a range straddling the hole is refused");
	ok(sm_guest_ptr(&mem, SM_MMIO_HOLE_END, 1) == mem.base + SM_MMIO_HOLE_START,
	   "high RAM maps after low RAM");
	sm_guest_mem_free(&mem);

	struct sm_guest_mem zero;
	int stdin_open = fcntl(0, F_GETFD) >= 0;
	memset(&zero, 0, sizeof(zero));
	sm_guest_mem_free(&zero); /* memfd 0 in a zeroed struct is not ours */
	ok(!stdin_open || fcntl(0, F_GETFD) >= 0, "freeing a zeroed struct leaves fd 0 alone");
}

int main(void)
{
	test_bus();
	test_evloop();
	test_guest_mem();
	return tap_done();
}
