/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtio-fs device: config space, queue service and worker threads. See
 * docs/design/virtiofs.md ("The virtio device").
 */
#include "virtiofs/device.h"

#include <endian.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "virtiofs/dax.h"
#include "vmm/virtio/virtqueue.h"

#define HIPRIO_QUEUE 0
#define SAVE_MAGIC 0x31534656u /* "VFS1" */
#define SAVE_VERSION 2u	       /* 2: + the FUSE session */
#define SAVE_VERSION_V1 1u     /* identity only (no session), still accepted */

/* One request queue and the thread that serves it. */
struct worker {
	struct sm_virtiofs_dev *fs;
	unsigned int queue;
	pthread_t thread;
	bool running; /* thread created and not yet joined; only touched by activate/reset/free */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool kicked; /* under lock */
	bool stop;   /* written under lock, read with __atomic between requests */
	struct sm_virtq_chain chain;
};

struct sm_virtiofs_dev {
	struct sm_virtio_dev_ops ops;
	struct sm_fuse_server *server;
	char tag[SM_VIRTIOFS_TAG_MAX + 1];
	unsigned int nreq;
	uint64_t dax_gpa;
	uint8_t config[SM_VIRTIOFS_CONFIG_SIZE]; /* immutable after creation */

	/* The transport handle, recorded by activate() before any worker starts. */
	struct sm_virtio_dev *vdev;

	pthread_mutex_t hiprio_lock; /* notify() of queue 0 may run on several threads at once */
	struct sm_virtq_chain hiprio_chain;
	struct worker workers[SM_VIRTIOFS_MAX_REQUEST_QUEUES];

	/*
	 * Starting and stopping workers. parked: a save stopped them (so no request runs while the
	 * snapshot is taken) and they start again on sm_virtiofs_dev_resume() or the next kick.
	 */
	pthread_mutex_t run_lock;
	bool parked;

	pthread_mutex_t stats_lock;
	struct sm_virtiofs_dev_stats stats;
	struct sm_fuse_restore_stats restored; /* what the last restore found again */
};

static void note_problem(struct sm_virtiofs_dev *fs, uint64_t *counter, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note_problem(struct sm_virtiofs_dev *fs, uint64_t *counter, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&fs->stats_lock);
	(*counter)++;
	va_start(ap, fmt);
	vsnprintf(fs->stats.last_error, sizeof(fs->stats.last_error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&fs->stats_lock);
}

static void count(struct sm_virtiofs_dev *fs, uint64_t *counter)
{
	pthread_mutex_lock(&fs->stats_lock);
	(*counter)++;
	pthread_mutex_unlock(&fs->stats_lock);
}

/* ---- serving a queue ------------------------------------------------------------------------- */

/* Answer one well-formed chain and give it back to the driver. */
static void answer_chain(struct sm_virtiofs_dev *fs, struct sm_virtio_dev *vdev, unsigned int queue,
			 const struct sm_virtq_chain *c)
{
	sm_error_t err = SM_ERROR_INIT;
	size_t written = 0;

	if (sm_fuse_handle(fs->server, c->iov, (int)c->nrd, c->iov + c->nrd, (int)c->nwr, &written, &err) <
	    0) {
		/* No reply could be written (e.g. no room for a fuse_out_header): the driver sees 0. */
		note_problem(fs, &fs->stats.unanswered, "queue %u: %s", queue, err.msg);
		written = 0;
	} else {
		count(fs, queue == HIPRIO_QUEUE ? &fs->stats.hiprio_requests : &fs->stats.requests);
	}
	if (written > c->wr_len || written > UINT32_MAX)
		written = 0; /* cannot happen with a correct server; never report more than was there */
	sm_error_clear(&err);
	/* A failure means the queue was disabled meanwhile (reset): the request is simply dropped. */
	sm_virtio_complete(vdev, queue, c->head, (uint32_t)written, &err);
}

/*
 * Pop and answer chains on queue until it is empty, the ring is broken, or *stop (when given)
 * becomes true. Popping until empty matters: with EVENT_IDX the driver kicks again only after
 * the device has seen the ring empty.
 */
static void serve_queue(struct sm_virtiofs_dev *fs, struct sm_virtio_dev *vdev, unsigned int queue,
			struct sm_virtq_chain *c, const bool *stop)
{
	struct sm_virtq *vq = sm_virtio_queue(vdev, queue);
	sm_error_t err = SM_ERROR_INIT;
	int r;

	if (vq == NULL)
		return;
	while (stop == NULL || !__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
		sm_error_clear(&err);
		r = sm_virtq_pop(vq, c, &err);
		if (r == 0)
			return;
		if (r == -EINVAL) {
			/* A malformed chain fails that request only; it was consumed, give it back. */
			note_problem(fs, &fs->stats.malformed_chains, "%s", err.msg);
			sm_error_clear(&err);
			sm_virtio_complete(vdev, queue, c->head, 0, &err);
			continue;
		}
		if (r < 0) {
			/* The driver disabling the queue (QueueReady = 0) is not a guest error. */
			if (sm_virtq_ready(vq))
				sm_virtio_needs_reset(vdev, "virtio-fs: %s", err.msg);
			return;
		}
		answer_chain(fs, vdev, queue, c);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->kicked && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->stop)
			break;
		w->kicked = false;
		pthread_mutex_unlock(&w->lock);
		serve_queue(w->fs, w->fs->vdev, w->queue, &w->chain, &w->stop);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/*
 * Stop and join every worker (run_lock held). A worker finishes the request it is in (a host
 * system call cannot be interrupted safely) and drops the chains it has not popped yet.
 */
static void stop_workers_locked(struct sm_virtiofs_dev *fs)
{
	unsigned int i;

	for (i = 0; i < fs->nreq; i++) {
		struct worker *w = &fs->workers[i];

		if (!w->running)
			continue;
		pthread_mutex_lock(&w->lock);
		__atomic_store_n(&w->stop, true, __ATOMIC_RELEASE);
		pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
		w->running = false;
	}
}

static void stop_workers(struct sm_virtiofs_dev *fs)
{
	pthread_mutex_lock(&fs->run_lock);
	stop_workers_locked(fs);
	__atomic_store_n(&fs->parked, false, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&fs->run_lock);
}

/*
 * Start the workers that are not running (run_lock held); kicked makes each scan its queue at
 * once, for chains that arrived while it was parked.
 */
static int start_workers_locked(struct sm_virtiofs_dev *fs, bool kicked, sm_error_t *err)
{
	sigset_t all, old;
	unsigned int i;
	int e;

	/* Workers take no signal: this runs on a vCPU thread, whose kick signal is open. */
	sigfillset(&all);
	sigdelset(&all, SIGSYS); /* seccomp traps reach the --debug handler */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < fs->nreq; i++) {
		struct worker *w = &fs->workers[i];
		char name[16];

		if (w->running)
			continue; /* activate() without a reset in between: keep serving */
		w->kicked = kicked;
		w->stop = false;
		e = pthread_create(&w->thread, NULL, worker_main, w);
		if (e != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			stop_workers_locked(fs);
			return sm_error_set(err, e, "virtio-fs: start the worker of request queue %u",
					    w->queue);
		}
		w->running = true;
		snprintf(name, sizeof(name), "virtiofs-q%u", w->queue);
		pthread_setname_np(w->thread, name);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	__atomic_store_n(&fs->parked, false, __ATOMIC_RELEASE);
	return 0;
}

/* ---- virtio ops ------------------------------------------------------------------------------ */

static void vfs_config_read(struct sm_virtio_dev *vdev, uint32_t offset, void *data, uint32_t len)
{
	struct sm_virtiofs_dev *fs = sm_virtio_priv(vdev);

	/* The transport checked offset + len <= config_size. */
	memcpy(data, fs->config + offset, len);
}

static void vfs_notify(struct sm_virtio_dev *vdev, unsigned int queue)
{
	struct sm_virtiofs_dev *fs = sm_virtio_priv(vdev);
	struct worker *w;

	if (queue == HIPRIO_QUEUE) {
		/* FORGET/BATCH_FORGET only drop references: cheap enough for the notifying thread. */
		pthread_mutex_lock(&fs->hiprio_lock);
		serve_queue(fs, vdev, queue, &fs->hiprio_chain, NULL);
		pthread_mutex_unlock(&fs->hiprio_lock);
		return;
	}
	if (queue > fs->nreq)
		return;
	w = &fs->workers[queue - 1];
	if (__atomic_load_n(&fs->parked, __ATOMIC_ACQUIRE)) {
		sm_error_t err = SM_ERROR_INIT;

		/* The guest runs again after a save and nobody called sm_virtiofs_dev_resume(). */
		pthread_mutex_lock(&fs->run_lock);
		if (__atomic_load_n(&fs->parked, __ATOMIC_ACQUIRE) &&
		    start_workers_locked(fs, true, &err) < 0)
			note_problem(fs, &fs->stats.unanswered, "%s", err.msg);
		pthread_mutex_unlock(&fs->run_lock);
		sm_error_clear(&err);
	}
	pthread_mutex_lock(&w->lock);
	w->kicked = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static int vfs_activate(struct sm_virtio_dev *vdev, sm_error_t *err)
{
	struct sm_virtiofs_dev *fs = sm_virtio_priv(vdev);
	int r;

	fs->vdev = vdev;
	pthread_mutex_lock(&fs->run_lock);
	r = start_workers_locked(fs, false, err);
	pthread_mutex_unlock(&fs->run_lock);
	return r;
}

static void vfs_reset(struct sm_virtio_dev *vdev)
{
	struct sm_virtiofs_dev *fs = sm_virtio_priv(vdev);

	/* No notify() runs now (the transport holds it off), so hiprio is idle too. */
	stop_workers(fs);
	sm_fuse_server_reset(fs->server);
}

/*
 * Snapshots carry the device's identity (tag, queue count, DAX window), so a restore onto a
 * differently configured device fails clearly, then the FUSE session (sm_fuse_server_save). The
 * workers are stopped first so no request runs while the tables and the rings are saved; they
 * start again on sm_virtiofs_dev_resume() or the next kick.
 */
static int vfs_save(struct sm_virtio_dev *vdev, struct sm_state_buf *buf, sm_error_t *err)
{
	struct sm_virtiofs_dev *fs = sm_virtio_priv(vdev);
	size_t taglen = strlen(fs->tag);
	void *hva;
	uint64_t gpa = 0, size = 0;
	bool was_running = false;
	int r;

	pthread_mutex_lock(&fs->run_lock);
	for (unsigned int i = 0; i < fs->nreq; i++)
		was_running |= fs->workers[i].running;
	stop_workers_locked(fs);
	if (was_running)
		__atomic_store_n(&fs->parked, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&fs->run_lock);

	sm_virtiofs_dev_dax(fs, &hva, &gpa, &size);
	sm_state_put_u32(buf, SAVE_MAGIC);
	sm_state_put_u32(buf, SAVE_VERSION);
	sm_state_put_u8(buf, (uint8_t)taglen);
	sm_state_put(buf, fs->tag, taglen);
	sm_state_put_u32(buf, fs->nreq);
	sm_state_put_u64(buf, gpa);
	sm_state_put_u64(buf, size);
	pthread_mutex_lock(&fs->hiprio_lock); /* FORGETs are answered on the notifying thread */
	r = sm_fuse_server_save(fs->server, buf, err);
	pthread_mutex_unlock(&fs->hiprio_lock);
	return r < 0 ? sm_error_prefix(err, "tag \"%s\": ", fs->tag) : 0;
}

static int vfs_restore(struct sm_virtio_dev *vdev, struct sm_state_reader *r, sm_error_t *err)
{
	struct sm_virtiofs_dev *fs = sm_virtio_priv(vdev);
	char tag[SM_VIRTIOFS_TAG_MAX + 1] = {0};
	uint32_t magic = 0, version = 0, nreq = 0;
	uint64_t gpa = 0, size = 0, my_gpa = 0, my_size = 0;
	uint8_t taglen = 0;
	void *hva;

	if (sm_state_get_u32(r, &magic, err) < 0 || sm_state_get_u32(r, &version, err) < 0)
		return -1;
	if (magic != SAVE_MAGIC || (version != SAVE_VERSION && version != SAVE_VERSION_V1))
		return sm_error_set(err, 0, "not a virtio-fs state of version %u (magic 0x%x, version %u)",
				    SAVE_VERSION, magic, version);
	if (sm_state_get_u8(r, &taglen, err) < 0)
		return -1;
	if (taglen > SM_VIRTIOFS_TAG_MAX)
		return sm_error_set(err, 0, "saved tag of %u bytes is too long", taglen);
	if (sm_state_get(r, tag, taglen, err) < 0 || sm_state_get_u32(r, &nreq, err) < 0 ||
	    sm_state_get_u64(r, &gpa, err) < 0 || sm_state_get_u64(r, &size, err) < 0)
		return -1;
	sm_virtiofs_dev_dax(fs, &hva, &my_gpa, &my_size);
	if (strcmp(tag, fs->tag) != 0)
		return sm_error_set(err, 0, "saved tag \"%s\" differs from this device's \"%s\"", tag,
				    fs->tag);
	if (nreq != fs->nreq)
		return sm_error_set(err, 0, "tag \"%s\": saved with %u request queues, this device has %u",
				    fs->tag, nreq, fs->nreq);
	if (gpa != my_gpa || size != my_size)
		return sm_error_set(err, 0,
				    "tag \"%s\": saved DAX window 0x%llx+0x%llx differs from this device's "
				    "0x%llx+0x%llx",
				    fs->tag, (unsigned long long)gpa, (unsigned long long)size,
				    (unsigned long long)my_gpa, (unsigned long long)my_size);
	if (version == SAVE_VERSION_V1)
		return 0; /* saved before sessions were: never mounted */
	if (sm_fuse_server_restore(fs->server, r, &fs->restored, err) < 0)
		return sm_error_prefix(err, "tag \"%s\": ", fs->tag);
	if (sm_state_remaining(r) != 0)
		return sm_error_set(err, 0, "tag \"%s\": %zu unexpected bytes after the FUSE session",
				    fs->tag, sm_state_remaining(r));
	return 0;
}

int sm_virtiofs_dev_resume(struct sm_virtiofs_dev *fs, sm_error_t *err)
{
	int r = 0;

	pthread_mutex_lock(&fs->run_lock);
	if (__atomic_load_n(&fs->parked, __ATOMIC_ACQUIRE))
		r = start_workers_locked(fs, true, err);
	pthread_mutex_unlock(&fs->run_lock);
	return r;
}

void sm_virtiofs_dev_restore_stats(const struct sm_virtiofs_dev *fs, struct sm_fuse_restore_stats *out)
{
	*out = fs->restored;
}

/* ---- creation and accessors ------------------------------------------------------------------ */

void sm_virtiofs_dev_config_init(struct sm_virtiofs_dev_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	sm_fuse_config_init(&cfg->fuse);
	cfg->fuse.dax_window_size = 0;
	cfg->tag = "sm-root";
	cfg->num_request_queues = 1;
	cfg->queue_size = SM_VIRTIOFS_DEFAULT_QUEUE_SIZE;
}

static int check_config(const struct sm_virtiofs_dev_config *cfg, sm_error_t *err)
{
	size_t i, taglen = cfg->tag != NULL ? strlen(cfg->tag) : 0;
	uint64_t end;

	if (taglen == 0 || taglen > SM_VIRTIOFS_TAG_MAX)
		return sm_error_set(err, 0, "virtio-fs: tag must have 1 to %d bytes (got %zu)",
				    SM_VIRTIOFS_TAG_MAX, taglen);
	for (i = 0; i < taglen; i++) {
		unsigned char ch = (unsigned char)cfg->tag[i];

		/* The tag travels on kernel command lines and in mount(8) arguments. */
		if (ch <= ' ' || ch == 0x7f)
			return sm_error_set(
			    err, 0, "virtio-fs: tag \"%s\" contains a space or control character", cfg->tag);
	}
	if (cfg->num_request_queues < 1 || cfg->num_request_queues > SM_VIRTIOFS_MAX_REQUEST_QUEUES)
		return sm_error_set(err, 0, "virtio-fs \"%s\": num_request_queues %u is not in [1, %d]",
				    cfg->tag, cfg->num_request_queues, SM_VIRTIOFS_MAX_REQUEST_QUEUES);
	if (cfg->queue_size < 16 || (cfg->queue_size & (cfg->queue_size - 1)) != 0)
		return sm_error_set(err, 0, "virtio-fs \"%s\": queue_size %u is not a power of two >= 16",
				    cfg->tag, cfg->queue_size);
	if (cfg->fuse.dax_window_size != 0 &&
	    (cfg->dax_gpa % SM_DAX_ALIGN != 0 ||
	     __builtin_add_overflow(cfg->dax_gpa, cfg->fuse.dax_window_size, &end)))
		return sm_error_set(
		    err, 0,
		    "virtio-fs \"%s\": DAX window base 0x%llx is not 2 MiB aligned or the window "
		    "overflows",
		    cfg->tag, (unsigned long long)cfg->dax_gpa);
	return 0;
}

static void build_config_space(struct sm_virtiofs_dev *fs)
{
	uint32_t v = htole32(fs->nreq);

	/* tag: NUL padded, not NUL terminated when it fills all 36 bytes (spec §5.11.4). */
	memset(fs->config, 0, sizeof(fs->config));
	memcpy(fs->config, fs->tag, strlen(fs->tag));
	memcpy(fs->config + SM_VIRTIOFS_TAG_MAX, &v, sizeof(v));
	/* notify_buf_size (offset 40) stays 0: VIRTIO_FS_F_NOTIFICATION is not offered. */
}

static void build_ops(struct sm_virtiofs_dev *fs, uint16_t queue_size)
{
	struct sm_dax_window *dax = sm_fuse_server_dax(fs->server);

	fs->ops = (struct sm_virtio_dev_ops){
	    .name = "virtio-fs",
	    .device_id = SM_VIRTIO_ID_FS,
	    .num_queues = 1 + fs->nreq,
	    .queue_max_size = queue_size,
	    .features = 0,
	    .config_size = SM_VIRTIOFS_CONFIG_SIZE,
	    .config_read = vfs_config_read,
	    .config_write = NULL, /* the config space is read-only */
	    .notify = vfs_notify,
	    .activate = vfs_activate,
	    .reset = vfs_reset,
	    .queue_reset = NULL, /* Linux's virtio-fs never resets single queues */
	    .save = vfs_save,
	    .restore = vfs_restore,
	};
	if (dax != NULL) {
		/* Shared memory region 0 is the DAX "cache" window (spec §5.11.5). */
		fs->ops.shm[0] = (struct sm_virtio_shm_region){0, fs->dax_gpa, sm_dax_window_size(dax)};
		fs->ops.num_shm = 1;
	}
}

int sm_virtiofs_dev_new(const struct sm_virtiofs_dev_config *cfg, struct sm_virtiofs_dev **out,
			sm_error_t *err)
{
	struct sm_virtiofs_dev *fs;
	unsigned int i;
	int e;

	e = check_config(cfg, err);
	if (e < 0)
		return e;
	fs = sm_xcalloc(1, sizeof(*fs));
	e = sm_fuse_server_new(&cfg->fuse, &fs->server, err);
	if (e < 0) {
		free(fs);
		return sm_error_prefix(err, "virtio-fs \"%s\": ", cfg->tag);
	}
	snprintf(fs->tag, sizeof(fs->tag), "%s", cfg->tag);
	fs->nreq = cfg->num_request_queues;
	fs->dax_gpa = cfg->dax_gpa;
	build_config_space(fs);
	build_ops(fs, cfg->queue_size);
	pthread_mutex_init(&fs->hiprio_lock, NULL);
	pthread_mutex_init(&fs->stats_lock, NULL);
	pthread_mutex_init(&fs->run_lock, NULL);
	sm_virtq_chain_init(&fs->hiprio_chain);
	for (i = 0; i < fs->nreq; i++) {
		struct worker *w = &fs->workers[i];

		w->fs = fs;
		w->queue = i + 1;
		pthread_mutex_init(&w->lock, NULL);
		pthread_cond_init(&w->cond, NULL);
		sm_virtq_chain_init(&w->chain);
	}
	*out = fs;
	return 0;
}

void sm_virtiofs_dev_free(struct sm_virtiofs_dev *fs)
{
	unsigned int i;

	if (fs == NULL)
		return;
	stop_workers(fs);
	for (i = 0; i < fs->nreq; i++) {
		sm_virtq_chain_free(&fs->workers[i].chain);
		pthread_cond_destroy(&fs->workers[i].cond);
		pthread_mutex_destroy(&fs->workers[i].lock);
	}
	sm_virtq_chain_free(&fs->hiprio_chain);
	pthread_mutex_destroy(&fs->hiprio_lock);
	pthread_mutex_destroy(&fs->stats_lock);
	pthread_mutex_destroy(&fs->run_lock);
	sm_fuse_server_free(fs->server);
	free(fs);
}

const struct sm_virtio_dev_ops *sm_virtiofs_dev_ops(const struct sm_virtiofs_dev *fs)
{
	return &fs->ops;
}

void *sm_virtiofs_dev_priv(struct sm_virtiofs_dev *fs)
{
	return fs;
}

bool sm_virtiofs_dev_dax(const struct sm_virtiofs_dev *fs, void **hva, uint64_t *gpa, uint64_t *size)
{
	struct sm_dax_window *dax = sm_fuse_server_dax(fs->server);

	if (dax == NULL)
		return false;
	*hva = sm_dax_window_base(dax);
	*gpa = fs->dax_gpa;
	*size = sm_dax_window_size(dax);
	return true;
}

const char *sm_virtiofs_dev_tag(const struct sm_virtiofs_dev *fs)
{
	return fs->tag;
}

const char *sm_virtiofs_dev_mount_options(const struct sm_virtiofs_dev *fs)
{
	return sm_fuse_server_dax(fs->server) != NULL ? "dax=always" : "";
}

void sm_virtiofs_dev_stats(struct sm_virtiofs_dev *fs, struct sm_virtiofs_dev_stats *out)
{
	pthread_mutex_lock(&fs->stats_lock);
	*out = fs->stats;
	pthread_mutex_unlock(&fs->stats_lock);
}
