/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_DEVICES_DEVUTIL_H
#define SM_VMM_DEVICES_DEVUTIL_H

#include <pthread.h>

#include "common/error.h"
#include "vmm/virtio/virtqueue.h"

/* Helpers shared by the devices of this folder. */

/*
 * Create a device I/O thread running fn(arg) with every signal blocked, so that signals aimed
 * at the VMM (vCPU kicks, SIGCHLD, SIGTERM) stay with its own threads, and a failed write to a
 * closed pipe returns EPIPE instead of raising SIGPIPE.
 */
int sm_dev_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg, const char *what, sm_error_t *err);

/* Wake a thread waiting on the eventfd fd (add 1 to the counter; a saturated counter is fine). */
void sm_dev_kick(int fd);

/*
 * Give the chain popped last back to the available ring (the next pop returns it again), for a
 * device that popped a buffer and then found nothing to put in it. Only valid when the calling
 * thread is the only one popping and pushing on vq.
 */
void sm_dev_unpop(struct sm_virtq *vq);

#endif
