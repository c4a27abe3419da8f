/* SPDX-License-Identifier: Apache-2.0 */
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

#include "vmm/devices/devutil.h"

int sm_dev_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg, const char *what, sm_error_t *err)
{
	sigset_t all, old;
	int e;

	sigfillset(&all);
	sigdelset(&all, SIGSYS); /* seccomp traps reach the --debug handler */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(thread, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0)
		return sm_error_set(err, e, "%s: start the I/O thread", what);
	return 0;
}

void sm_dev_kick(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, so a wakeup is pending anyway */
	}
}

void sm_dev_unpop(struct sm_virtq *vq)
{
	struct sm_virtq_indices idx;

	/* The virtqueue API has no "unpop": rewinding last_avail through the snapshot accessors is
	 * equivalent while no other thread pops or pushes on this queue. */
	sm_virtq_get_indices(vq, &idx);
	idx.last_avail--;
	sm_virtq_set_indices(vq, &idx);
}
