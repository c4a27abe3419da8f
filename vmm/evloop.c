/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "vmm/evloop.h"

struct watch {
	int fd;
	uint32_t events;
	sm_evloop_fn fn;
	void *opaque;
	bool dead; /* removed: freed by the loop thread after its current batch */
	struct watch *next;
};

struct sm_evloop {
	int epfd;
	int wakefd; /* eventfd: wakes the loop to stop */
	pthread_t thread;
	bool running;
	bool stop;
	pthread_mutex_t lock;
	pthread_cond_t idle;   /* signalled when `current` changes */
	struct watch *watches; /* live and dead watches */
	struct watch *current; /* watch whose callback runs now, or NULL */
};

int sm_evloop_create(struct sm_evloop **out, sm_error_t *err)
{
	struct sm_evloop *l = sm_xcalloc(1, sizeof(*l));
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->epfd < 0 || l->wakefd < 0) {
		int e = errno;
		if (l->epfd >= 0)
			close(l->epfd);
		if (l->wakefd >= 0)
			close(l->wakefd);
		free(l);
		return sm_error_set(err, e, "event loop: epoll/eventfd");
	}
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) < 0) {
		int e = errno;
		close(l->epfd);
		close(l->wakefd);
		free(l);
		return sm_error_set(err, e, "event loop: watch eventfd");
	}
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->idle, NULL);
	*out = l;
	return 0;
}

/* Free the watches marked dead; the caller holds the lock and no batch refers to them. */
static void reap(struct sm_evloop *l)
{
	struct watch **pp = &l->watches;

	while (*pp != NULL) {
		struct watch *w = *pp;
		if (w->dead) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

static void *loop_main(void *arg)
{
	struct sm_evloop *l = arg;
	struct epoll_event evs[32];
	sigset_t all;

	/* Signals belong to the main thread (and the vCPU kick to vCPU threads). */
	sigfillset(&all);
	sigdelset(&all, SIGSYS); /* seccomp traps reach the --debug handler */
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		int n = epoll_wait(l->epfd, evs, (int)SM_ARRAY_SIZE(evs), -1);
		if (n < 0 && errno != EINTR)
			break; /* only EBADF/EINVAL, i.e. a bug; stop rather than spin */
		for (int i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;
			sm_evloop_fn fn;
			void *opaque;

			pthread_mutex_lock(&l->lock);
			if (l->stop || w == NULL || w->dead) {
				pthread_mutex_unlock(&l->lock);
				continue;
			}
			fn = w->fn;
			opaque = w->opaque;
			l->current = w;
			pthread_mutex_unlock(&l->lock);
			fn(opaque, w->fd, evs[i].events);
			pthread_mutex_lock(&l->lock);
			l->current = NULL;
			pthread_cond_broadcast(&l->idle);
			pthread_mutex_unlock(&l->lock);
		}
		pthread_mutex_lock(&l->lock);
		reap(l);
		if (l->stop) {
			pthread_mutex_unlock(&l->lock);
			break;
		}
		pthread_mutex_unlock(&l->lock);
	}
	return NULL;
}

int sm_evloop_start(struct sm_evloop *l, sm_error_t *err)
{
	uint64_t drain;
	int r;

	if (l->running)
		return 0;
	/* A loop stopped before may start again: forget the stop and drain its wake-up. */
	l->stop = false;
	(void)read(l->wakefd, &drain, sizeof(drain));
	r = pthread_create(&l->thread, NULL, loop_main, l);
	if (r != 0)
		return sm_error_set(err, r, "event loop: create thread");
	l->running = true;
	return 0;
}

void sm_evloop_stop(struct sm_evloop *l)
{
	uint64_t one = 1;

	if (l == NULL || !l->running)
		return;
	pthread_mutex_lock(&l->lock);
	l->stop = true;
	pthread_mutex_unlock(&l->lock);
	if (write(l->wakefd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow with one write per stop; nothing else can fail here. */
	}
	pthread_join(l->thread, NULL);
	l->running = false;
}

void sm_evloop_destroy(struct sm_evloop *l)
{
	if (l == NULL)
		return;
	sm_evloop_stop(l);
	for (struct watch *w = l->watches; w != NULL; w->dead = true, w = w->next)
		;
	reap(l);
	close(l->epfd);
	close(l->wakefd);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->idle);
	free(l);
}

static struct watch *find(struct sm_evloop *l, int fd)
{
	for (struct watch *w = l->watches; w != NULL; w = w->next)
		if (w->fd == fd && !w->dead)
			return w;
	return NULL;
}

int sm_evloop_add(struct sm_evloop *l, int fd, uint32_t events, sm_evloop_fn fn, void *opaque,
		  sm_error_t *err)
{
	struct watch *w;
	struct epoll_event ev;

	pthread_mutex_lock(&l->lock);
	if (find(l, fd) != NULL) {
		pthread_mutex_unlock(&l->lock);
		return sm_error_set(err, EEXIST, "event loop: fd %d is already watched", fd);
	}
	w = sm_xcalloc(1, sizeof(*w));
	*w = (struct watch){.fd = fd, .events = events, .fn = fn, .opaque = opaque, .next = l->watches};
	ev = (struct epoll_event){.events = events, .data.ptr = w};
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;
		pthread_mutex_unlock(&l->lock);
		free(w);
		return sm_error_set(err, e, "event loop: watch fd %d", fd);
	}
	l->watches = w;
	pthread_mutex_unlock(&l->lock);
	return 0;
}

int sm_evloop_modify(struct sm_evloop *l, int fd, uint32_t events, sm_error_t *err)
{
	struct watch *w;
	struct epoll_event ev;
	int r = 0;

	pthread_mutex_lock(&l->lock);
	w = find(l, fd);
	if (w == NULL) {
		r = sm_error_set(err, ENOENT, "event loop: fd %d is not watched", fd);
	} else {
		ev = (struct epoll_event){.events = events, .data.ptr = w};
		if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
			r = sm_error_set(err, errno, "event loop: modify fd %d", fd);
		else
			w->events = events;
	}
	pthread_mutex_unlock(&l->lock);
	return r;
}

void sm_evloop_remove(struct sm_evloop *l, int fd)
{
	struct watch *w;

	pthread_mutex_lock(&l->lock);
	w = find(l, fd);
	if (w != NULL) {
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
		w->dead = true;
		if (!l->running)
			reap(l);
		else if (!pthread_equal(pthread_self(), l->thread))
			while (l->current == w)
				pthread_cond_wait(&l->idle, &l->lock);
	}
	pthread_mutex_unlock(&l->lock);
}

int sm_evloop_on_loop_thread(const struct sm_evloop *l)
{
	return l->running && pthread_equal(pthread_self(), l->thread);
}
