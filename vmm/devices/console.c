/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-console, single port: receiveq (0) <- in_fd, transmitq (1) -> out_fd. Everything below
 * except size/config (cfg_lock) and the counters (atomics) belongs to the I/O thread, or to the
 * device ops while the thread is stopped.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/util.h"
#include "vmm/devices/console.h"
#include "vmm/devices/devutil.h"

#define CON_Q_RX 0
#define CON_Q_TX 1
#define CON_QUEUE_SIZE 256
#define CON_F_SIZE 0
#define CON_CONFIG_SIZE 12 /* cols, rows, max_nr_ports, emerg_wr */
#define CON_BUDGET 64	   /* chains per queue before looking at the fds again */
#define CON_STATE_VERSION 1u

enum { TAG_KICK = 1, TAG_IN, TAG_OUT };

struct sm_console {
	struct sm_virtio_dev *vdev;
	int in_fd, out_fd, kick_fd, epfd;
	bool in_polled, out_polled; /* in the epoll set (false for regular files) */

	pthread_mutex_t cfg_lock;
	uint16_t cols, rows;

	pthread_mutex_t thr_lock;
	pthread_t thread;
	bool running, active;
	int stop; /* atomic */

	/* I/O thread */
	bool broken;
	bool in_readable, in_done;
	bool out_done;
	uint32_t in_events, out_events; /* current epoll interest */
	struct sm_virtq_chain rxc, txc;
	bool tx_held;  /* txc popped and partly written */
	size_t tx_off; /* bytes of txc written so far */
	struct iovec *iov;

	struct sm_console_stats stats; /* __atomic */
};

#define CON_STAT_ADD(con, field, n) __atomic_add_fetch(&(con)->stats.field, (n), __ATOMIC_RELAXED)

static void interest(struct sm_console *con, int fd, bool polled, uint32_t *cur, uint32_t want, int tag)
{
	struct epoll_event ev = {.events = want, .data.u32 = (uint32_t)tag};

	if (!polled || *cur == want)
		return;
	if (epoll_ctl(con->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
		*cur = want;
}

/* Stop watching an fd that hung up (EPOLLHUP is reported whatever the mask). */
static void unwatch(struct sm_console *con, int fd, bool *polled)
{
	if (*polled)
		epoll_ctl(con->epfd, EPOLL_CTL_DEL, fd, NULL);
	*polled = false;
}

/* Slice iov[first, first+n) starting at byte off into con->iov; returns the count. */
static int slice(struct sm_console *con, const struct iovec *iov, unsigned int n, size_t off)
{
	unsigned int i;
	int k = 0;

	for (i = 0; i < n && k < CON_QUEUE_SIZE; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		con->iov[k].iov_base = (uint8_t *)iov[i].iov_base + off;
		con->iov[k].iov_len = iov[i].iov_len - off;
		off = 0;
		k++;
	}
	return k;
}

static void input_done(struct sm_console *con)
{
	con->in_done = true;
	con->in_readable = false;
	unwatch(con, con->in_fd, &con->in_polled);
	__atomic_store_n(&con->stats.in_closed, 1, __ATOMIC_RELAXED);
}

/* Host input into receiveq buffers, read straight into them. Returns true when stopped on the budget. */
static bool do_rx(struct sm_console *con)
{
	struct sm_virtq *vq = sm_virtio_queue(con->vdev, CON_Q_RX);
	sm_error_t err = SM_ERROR_INIT;
	int budget;

	for (budget = 0; budget < CON_BUDGET && con->in_readable && !con->in_done; budget++) {
		ssize_t n;
		int r = sm_virtq_pop(vq, &con->rxc, &err), k;

		if (r == 0)
			break; /* the driver kicks when it adds buffers */
		if (r == -EIO) {
			con->broken = true;
			sm_virtio_needs_reset(con->vdev, "%s", err.msg);
			return false;
		}
		k = r < 0 ? 0 : slice(con, con->rxc.iov + con->rxc.nrd, con->rxc.nwr, 0);
		if (k == 0) {
			CON_STAT_ADD(con, bad_buffers, 1);
			sm_virtio_complete(con->vdev, CON_Q_RX, con->rxc.head, 0, &err);
			sm_error_clear(&err);
			continue;
		}
		do
			n = readv(con->in_fd, con->iov, k);
		while (n < 0 && errno == EINTR);
		if (n > 0) {
			CON_STAT_ADD(con, bytes_in, (uint64_t)n);
			sm_virtio_complete(con->vdev, CON_Q_RX, con->rxc.head, (uint32_t)n, &err);
			sm_error_clear(&err);
			continue;
		}
		sm_dev_unpop(vq);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			con->in_readable = false;
		else
			input_done(con); /* EOF, or EIO from a pty master whose slave is gone */
	}
	if (con->in_polled)
		interest(con, con->in_fd, true, &con->in_events, con->in_readable ? 0 : EPOLLIN, TAG_IN);
	return budget == CON_BUDGET;
}

static void output_done(struct sm_console *con)
{
	con->out_done = true;
	unwatch(con, con->out_fd, &con->out_polled);
	__atomic_store_n(&con->stats.out_closed, 1, __ATOMIC_RELAXED);
}

/* Finish the held transmit chain, dropping what was not written. */
static void tx_finish(struct sm_console *con)
{
	sm_error_t err = SM_ERROR_INIT;

	if (con->txc.rd_len > con->tx_off)
		CON_STAT_ADD(con, bytes_dropped, con->txc.rd_len - con->tx_off);
	con->tx_held = false;
	sm_virtio_complete(con->vdev, CON_Q_TX, con->txc.head, 0, &err);
}

/* Write the held chain; returns false when out_fd would block. */
static bool tx_write(struct sm_console *con)
{
	while (con->tx_off < con->txc.rd_len && !con->out_done) {
		int k = slice(con, con->txc.iov, con->txc.nrd, con->tx_off);
		ssize_t n;

		do
			n = writev(con->out_fd, con->iov, k);
		while (n < 0 && errno == EINTR);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return false;
		if (n <= 0) {
			output_done(con); /* EPIPE, EIO, ...: the guest's output goes nowhere from now on */
			break;
		}
		con->tx_off += (size_t)n;
		CON_STAT_ADD(con, bytes_out, (uint64_t)n);
	}
	tx_finish(con);
	return true;
}

/* Guest output from transmitq chains, written straight from them (one chain held at a time). */
static bool do_tx(struct sm_console *con)
{
	struct sm_virtq *vq = sm_virtio_queue(con->vdev, CON_Q_TX);
	sm_error_t err = SM_ERROR_INIT;
	bool blocked = false;
	int budget;

	for (budget = 0; budget < CON_BUDGET; budget++) {
		if (!con->tx_held) {
			int r = sm_virtq_pop(vq, &con->txc, &err);

			if (r == 0)
				break;
			if (r == -EIO) {
				con->broken = true;
				sm_virtio_needs_reset(con->vdev, "%s", err.msg);
				return false;
			}
			con->tx_held = true;
			con->tx_off = 0;
			if (r < 0) {
				CON_STAT_ADD(con, bad_buffers, 1);
				con->tx_off = con->txc.rd_len = 0;
			}
		}
		if (!tx_write(con)) {
			blocked = true;
			break;
		}
	}
	if (con->out_polled)
		interest(con, con->out_fd, true, &con->out_events, blocked ? EPOLLOUT : 0, TAG_OUT);
	return budget == CON_BUDGET;
}

static void *con_thread(void *arg)
{
	struct sm_console *con = arg;
	bool more = true;

	while (!__atomic_load_n(&con->stop, __ATOMIC_ACQUIRE)) {
		struct epoll_event evs[8];
		int n, i;
		uint64_t v;

		n = epoll_wait(con->epfd, evs, (int)SM_ARRAY_SIZE(evs), more ? 0 : -1);
		for (i = 0; i < n; i++) {
			if (evs[i].data.u32 == TAG_KICK && read(con->kick_fd, &v, sizeof(v)) < 0) {
				/* EAGAIN only */
			}
			if (evs[i].data.u32 == TAG_IN) {
				con->in_readable = true;
				/* A hung-up fd keeps reporting EPOLLHUP: stop watching it and read
				 * what is left (it cannot block any more) until EOF or EIO. */
				if (evs[i].events & (EPOLLERR | EPOLLHUP))
					unwatch(con, con->in_fd, &con->in_polled);
			}
			if (evs[i].data.u32 == TAG_OUT && (evs[i].events & (EPOLLERR | EPOLLHUP)))
				output_done(con);
		}
		if (__atomic_load_n(&con->stop, __ATOMIC_ACQUIRE))
			break;
		more = false;
		if (con->broken)
			continue;
		/* An fd out of the epoll set (regular file, hung up) never blocks: always try it. */
		if (!con->in_polled && !con->in_done)
			con->in_readable = true;
		more = do_tx(con);
		if (!con->broken && do_rx(con))
			more = true;
	}
	return NULL;
}

static int start_thread(struct sm_console *con, sm_error_t *err)
{
	if (con->running)
		return 0;
	__atomic_store_n(&con->stop, 0, __ATOMIC_RELEASE);
	if (sm_dev_thread_start(&con->thread, con_thread, con, "virtio-console", err) < 0)
		return -1;
	con->running = true;
	return 0;
}

static void stop_thread(struct sm_console *con)
{
	if (!con->running)
		return;
	__atomic_store_n(&con->stop, 1, __ATOMIC_RELEASE);
	sm_dev_kick(con->kick_fd);
	pthread_join(con->thread, NULL);
	con->running = false;
}

/* ---- virtio ops ---- */

static void con_config_read(struct sm_virtio_dev *dev, uint32_t offset, void *data, uint32_t len)
{
	struct sm_console *con = sm_virtio_priv(dev);
	uint8_t cfg[CON_CONFIG_SIZE] = {0};
	uint16_t v;

	pthread_mutex_lock(&con->cfg_lock);
	v = htole16(con->cols);
	memcpy(cfg, &v, 2);
	v = htole16(con->rows);
	memcpy(cfg + 2, &v, 2);
	pthread_mutex_unlock(&con->cfg_lock);
	/* max_nr_ports and emerg_wr read as 0: neither MULTIPORT nor EMERG_WRITE is offered. */
	memcpy(data, cfg + offset, len);
}

static void con_notify(struct sm_virtio_dev *dev, unsigned int queue)
{
	struct sm_console *con = sm_virtio_priv(dev);

	(void)queue;
	sm_dev_kick(con->kick_fd);
}

static int con_activate(struct sm_virtio_dev *dev, sm_error_t *err)
{
	struct sm_console *con = sm_virtio_priv(dev);
	int r;

	pthread_mutex_lock(&con->thr_lock);
	con->broken = false;
	con->active = true;
	r = start_thread(con, err);
	if (r < 0)
		con->active = false;
	pthread_mutex_unlock(&con->thr_lock);
	return r;
}

static void con_reset(struct sm_virtio_dev *dev)
{
	struct sm_console *con = sm_virtio_priv(dev);

	pthread_mutex_lock(&con->thr_lock);
	stop_thread(con);
	con->active = false;
	con->broken = false;
	con->tx_held = false; /* its queue is about to be disabled: nothing to hand back */
	pthread_mutex_unlock(&con->thr_lock);
}

/* The thread stays stopped until sm_console_resume(): the rings must not move during a save. */
static int con_save(struct sm_virtio_dev *dev, struct sm_state_buf *buf, sm_error_t *err)
{
	struct sm_console *con = sm_virtio_priv(dev);

	(void)err;
	pthread_mutex_lock(&con->thr_lock);
	stop_thread(con);
	/* No chain may be in flight: output the host did not take yet is dropped. */
	if (con->tx_held)
		tx_finish(con);
	pthread_mutex_unlock(&con->thr_lock);
	sm_state_put_u32(buf, CON_STATE_VERSION);
	return 0;
}

static int con_restore(struct sm_virtio_dev *dev, struct sm_state_reader *r, sm_error_t *err)
{
	uint32_t version = 0;

	(void)dev;
	if (sm_state_get_u32(r, &version, err) < 0)
		return -1;
	if (version != CON_STATE_VERSION)
		return sm_error_set(err, 0, "console state version %u, expected %u", version,
				    CON_STATE_VERSION);
	return 0; /* the terminal size is this process's (sm_console_set_size) */
}

static const struct sm_virtio_dev_ops con_ops = {
    .name = "virtio-console",
    .device_id = SM_VIRTIO_ID_CONSOLE,
    .num_queues = 2,
    .queue_max_size = CON_QUEUE_SIZE,
    .features = SM_VIRTIO_BIT(CON_F_SIZE),
    .config_size = CON_CONFIG_SIZE,
    .config_read = con_config_read,
    .notify = con_notify,
    .activate = con_activate,
    .reset = con_reset,
    .save = con_save,
    .restore = con_restore,
};

/* ---- public API ---- */

/* Duplicate fd, make it non-blocking and watch it (a regular file cannot be watched: EPERM). */
static int adopt_fd(struct sm_console *con, int fd, int tag, int *out, bool *polled, sm_error_t *err)
{
	struct epoll_event ev = {.events = 0, .data.u32 = (uint32_t)tag};
	int flags;

	*out = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (*out < 0)
		return sm_error_set(err, errno, "virtio-console: dup fd %d", fd);
	flags = fcntl(*out, F_GETFL);
	if (flags < 0 || fcntl(*out, F_SETFL, flags | O_NONBLOCK) < 0)
		return sm_error_set(err, errno, "virtio-console: make fd %d non-blocking", fd);
	if (tag == TAG_IN)
		ev.events = EPOLLIN;
	if (epoll_ctl(con->epfd, EPOLL_CTL_ADD, *out, &ev) == 0) {
		*polled = true;
		return 0;
	}
	if (errno != EPERM)
		return sm_error_set(err, errno, "virtio-console: watch fd %d", fd);
	return 0;
}

int sm_console_new(const struct sm_console_config *cfg, const struct sm_virtio_mmio_config *mmio,
		   struct sm_console **out, sm_error_t *err)
{
	struct sm_console *con = sm_xcalloc(1, sizeof(*con));
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TAG_KICK};

	con->in_fd = con->out_fd = con->kick_fd = -1;
	con->cols = cfg->cols;
	con->rows = cfg->rows;
	con->in_events = EPOLLIN;
	pthread_mutex_init(&con->cfg_lock, NULL);
	pthread_mutex_init(&con->thr_lock, NULL);
	sm_virtq_chain_init(&con->rxc);
	sm_virtq_chain_init(&con->txc);
	con->iov = sm_xcalloc(CON_QUEUE_SIZE, sizeof(*con->iov));
	con->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (con->epfd < 0) {
		sm_error_set(err, errno, "virtio-console: epoll_create1");
		goto fail;
	}
	con->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (con->kick_fd < 0 || epoll_ctl(con->epfd, EPOLL_CTL_ADD, con->kick_fd, &ev) < 0) {
		sm_error_set(err, errno, "virtio-console: eventfd");
		goto fail;
	}
	if (cfg->in_fd >= 0 && adopt_fd(con, cfg->in_fd, TAG_IN, &con->in_fd, &con->in_polled, err) < 0)
		goto fail;
	con->in_done = cfg->in_fd < 0;
	con->out_done = cfg->out_fd < 0;
	if (cfg->out_fd >= 0 && adopt_fd(con, cfg->out_fd, TAG_OUT, &con->out_fd, &con->out_polled, err) < 0)
		goto fail;
	if (sm_virtio_mmio_new(mmio, &con_ops, con, &con->vdev, err) < 0)
		goto fail;
	*out = con;
	return 0;
fail:
	sm_console_free(con);
	return -1;
}

void sm_console_free(struct sm_console *con)
{
	if (con == NULL)
		return;
	pthread_mutex_lock(&con->thr_lock);
	stop_thread(con);
	pthread_mutex_unlock(&con->thr_lock);
	sm_virtio_mmio_free(con->vdev);
	if (con->in_fd >= 0)
		close(con->in_fd);
	if (con->out_fd >= 0)
		close(con->out_fd);
	if (con->kick_fd >= 0)
		close(con->kick_fd);
	if (con->epfd >= 0)
		close(con->epfd);
	sm_virtq_chain_free(&con->rxc);
	sm_virtq_chain_free(&con->txc);
	pthread_mutex_destroy(&con->cfg_lock);
	pthread_mutex_destroy(&con->thr_lock);
	free(con->iov);
	free(con);
}

struct sm_virtio_dev *sm_console_virtio(struct sm_console *con)
{
	return con->vdev;
}

void sm_console_set_size(struct sm_console *con, uint16_t cols, uint16_t rows)
{
	pthread_mutex_lock(&con->cfg_lock);
	con->cols = cols;
	con->rows = rows;
	pthread_mutex_unlock(&con->cfg_lock);
	sm_virtio_signal_config(con->vdev);
}

int sm_console_resume(struct sm_console *con, sm_error_t *err)
{
	int r = 0;

	pthread_mutex_lock(&con->thr_lock);
	if (con->active)
		r = start_thread(con, err);
	pthread_mutex_unlock(&con->thr_lock);
	return r;
}

void sm_console_get_stats(struct sm_console *con, struct sm_console_stats *out)
{
	uint64_t *dst = (uint64_t *)out;
	const uint64_t *src = (const uint64_t *)&con->stats;
	size_t i;

	for (i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
