/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_EVLOOP_H
#define SM_VMM_EVLOOP_H

#include <stdint.h>

#include "common/error.h"

/*
 * The VMM's event loop: one thread waiting in epoll for file descriptors (stdin for the console,
 * ioeventfds of virtio queues, sockets) and running their callbacks. Callbacks run one at a
 * time on the loop thread, so state touched only by callbacks needs no lock; state shared with
 * vCPU threads (device registers) needs the device's own lock (docs/design/threading.md).
 */
struct sm_evloop;

/* Called on the loop thread with the epoll events (EPOLLIN, EPOLLHUP, ...) that fired on fd. */
typedef void (*sm_evloop_fn)(void *opaque, int fd, uint32_t events);

/* Create a loop (no thread yet). */
int sm_evloop_create(struct sm_evloop **loop, sm_error_t *err);

/* Start the loop thread; fds may be added before or after. */
int sm_evloop_start(struct sm_evloop *loop, sm_error_t *err);

/* Stop and join the loop thread (no callback runs after this returns). Idempotent. */
void sm_evloop_stop(struct sm_evloop *loop);

/* Stop the loop and free it. The fds stay open: they belong to whoever added them. NULL is ok. */
void sm_evloop_destroy(struct sm_evloop *loop);

/*
 * Watch fd for events (EPOLLIN, EPOLLOUT, ...; level-triggered unless EPOLLET is included) and
 * call fn(opaque, fd, events) when they fire. Fails when fd is already watched or cannot be
 * polled (regular files: EPERM). Any thread may call it.
 */
int sm_evloop_add(struct sm_evloop *loop, int fd, uint32_t events, sm_evloop_fn fn, void *opaque,
		  sm_error_t *err);

/* Change the events watched on fd (0 pauses it without removing it). Any thread may call it. */
int sm_evloop_modify(struct sm_evloop *loop, int fd, uint32_t events, sm_error_t *err);

/*
 * Stop watching fd. When it returns, its callback is not running and will not run again (called
 * from another thread it waits for a running callback to return), so opaque may be freed.
 * Unknown fds are ignored.
 */
void sm_evloop_remove(struct sm_evloop *loop, int fd);

/* True when the calling thread is the loop thread. */
int sm_evloop_on_loop_thread(const struct sm_evloop *loop);

#endif
