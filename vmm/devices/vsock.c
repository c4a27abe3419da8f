/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The vsock device: virtio ops, its I/O thread, creation and snapshots. The protocol work is in
 * vsock_conn.c (guest packets, host sockets) and vsock_rx.c (packets to the guest).
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "vmm/devices/devutil.h"
#include "vmm/devices/vsock_internal.h"

#define VSOCK_STATE_VERSION 2u /* 2 adds had_conns; 1 is still read */
#define DEFAULT_BUF_ALLOC (64u * 1024)
#define DEFAULT_MAX_CONNS 256u
#define DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define DEFAULT_CLOSE_TIMEOUT_MS 8000u

/* ---- the I/O thread ---- */

static bool process_tx(struct sm_vsock *vs, bool *stalled)
{
	struct sm_virtq *vq = sm_virtio_queue(vs->vdev, VSOCK_Q_TX);
	sm_error_t err = SM_ERROR_INIT;
	int budget;

	*stalled = false;
	for (budget = 0; budget < VSOCK_TX_BUDGET; budget++) {
		int r;

		/* Each packet may owe the guest a RST: stop taking packets while those pile up. */
		if (vsock_rstq_full(vs)) {
			*stalled = true;
			return false;
		}
		r = sm_virtq_pop(vq, &vs->txc, &err);
		if (r == 0)
			return false;
		if (r == -EIO) {
			vs->broken = true;
			sm_virtio_needs_reset(vs->vdev, "%s", err.msg);
			return false;
		}
		if (r < 0)
			VSOCK_STAT_ADD(vs, bad_packets, 1);
		else
			vsock_handle_tx(vs, &vs->txc);
		sm_virtio_complete(vs->vdev, VSOCK_Q_TX, vs->txc.head, 0, &err);
		sm_error_clear(&err);
	}
	return true;
}

static void dispatch(struct sm_vsock *vs, const struct epoll_event *ev)
{
	enum vsock_watch *w = ev->data.ptr;
	uint64_t v;

	switch (*w) {
	case W_KICK:
		if (read(vs->kick_fd, &v, sizeof(v)) < 0) {
			/* EAGAIN: a racing read took it; nothing else can fail on an eventfd */
		}
		break;
	case W_LISTEN:
		vsock_accept(vs);
		break;
	case W_CONN:
		vsock_conn_event(vs, (struct vconn *)w, ev->events);
		break;
	}
}

static int timeout_ms(uint64_t deadline, uint64_t now)
{
	uint64_t ms;

	if (deadline == 0)
		return -1;
	if (deadline <= now)
		return 0;
	ms = (deadline - now + 999999) / 1000000;
	return ms > 60000 ? 60000 : (int)ms;
}

bool vsock_reset_in_flight(struct sm_vsock *vs)
{
	return vs->reset_unacked || __atomic_load_n(&vs->transport_reset_owed, __ATOMIC_ACQUIRE);
}

/*
 * The guest handled the TRANSPORT_RESET when it kicks the event queue again (it refills the
 * buffer only after re-reading its CID and resetting its sockets); a driver that never does is
 * given up on at the deadline. Returns the deadline to wake up for, 0 when none.
 */
static uint64_t check_reset_ack(struct sm_vsock *vs, uint64_t now)
{
	if (!vs->reset_unacked)
		return 0;
	if (__atomic_exchange_n(&vs->event_kicked, 0, __ATOMIC_ACQ_REL) || now >= vs->reset_ack_deadline_ns) {
		vs->reset_unacked = false;
		VSOCK_STAT_ADD(vs, events_acked, 1);
		return 0;
	}
	return vs->reset_ack_deadline_ns;
}

static void *io_thread(void *arg)
{
	struct sm_vsock *vs = arg;
	struct epoll_event evs[32];
	bool more = true; /* look at the queues once at start: kicks may predate the thread */

	while (!__atomic_load_n(&vs->stop, __ATOMIC_ACQUIRE)) {
		uint64_t now = sm_now_ns(), next, ack;
		bool fired = false, tx_more, rx_more, stalled;
		int n, i;

		next = vsock_timers(vs, now, &fired);
		ack = check_reset_ack(vs, now);
		if (ack != 0 && (next == 0 || ack < next))
			next = ack;
		n = epoll_wait(vs->epfd, evs, (int)SM_ARRAY_SIZE(evs),
			       more || fired ? 0 : timeout_ms(next, now));
		for (i = 0; i < n; i++)
			dispatch(vs, &evs[i]);
		if (__atomic_load_n(&vs->stop, __ATOMIC_ACQUIRE))
			break;
		more = false;
		/* An acknowledged reset releases the held host connects right away. */
		if (vs->reset_unacked && check_reset_ack(vs, sm_now_ns()) == 0)
			more = true;
		if (!vs->broken) {
			tx_more = process_tx(vs, &stalled);
			rx_more = vsock_process_rx(vs);
			vsock_process_event(vs);
			more = tx_more || rx_more || (stalled && !vsock_rstq_full(vs));
		}
		vsock_reap(vs);
	}
	vsock_reap(vs);
	return NULL;
}

/* Start the thread (thr_lock held). */
static int start_thread(struct sm_vsock *vs, sm_error_t *err)
{
	if (vs->running)
		return 0;
	__atomic_store_n(&vs->stop, 0, __ATOMIC_RELEASE);
	if (sm_dev_thread_start(&vs->thread, io_thread, vs, "vsock", err) < 0)
		return -1;
	vs->running = true;
	return 0;
}

static void stop_thread(struct sm_vsock *vs)
{
	if (!vs->running)
		return;
	__atomic_store_n(&vs->stop, 1, __ATOMIC_RELEASE);
	sm_dev_kick(vs->kick_fd);
	pthread_join(vs->thread, NULL);
	vs->running = false;
}

/* ---- virtio ops ---- */

static void vsock_config_read(struct sm_virtio_dev *dev, uint32_t offset, void *data, uint32_t len)
{
	struct sm_vsock *vs = sm_virtio_priv(dev);
	uint64_t cid = htole64(vs->cid);

	/* The transport checked offset + len <= config_size (8). */
	memcpy(data, (uint8_t *)&cid + offset, len);
}

static void vsock_notify(struct sm_virtio_dev *dev, unsigned int queue)
{
	struct sm_vsock *vs = sm_virtio_priv(dev);

	/* The thread looks at every queue on each wakeup; an event-queue kick is also the guest's
	 * sign that it handled a TRANSPORT_RESET (check_reset_ack). */
	if (queue == VSOCK_Q_EVENT)
		__atomic_store_n(&vs->event_kicked, 1, __ATOMIC_RELEASE);
	sm_dev_kick(vs->kick_fd);
}

static int vsock_activate(struct sm_virtio_dev *dev, sm_error_t *err)
{
	struct sm_vsock *vs = sm_virtio_priv(dev);
	int r;

	pthread_mutex_lock(&vs->thr_lock);
	vs->broken = false;
	vs->active = true;
	r = start_thread(vs, err);
	if (r < 0)
		vs->active = false;
	pthread_mutex_unlock(&vs->thr_lock);
	return r;
}

static void vsock_reset(struct sm_virtio_dev *dev)
{
	struct sm_vsock *vs = sm_virtio_priv(dev);

	pthread_mutex_lock(&vs->thr_lock);
	stop_thread(vs);
	vs->active = false;
	vs->broken = false;
	/* The driver's reset already reset the guest's sockets; ours close with no RST. */
	vsock_drop_all(vs);
	vs->next_host_port = VSOCK_HOST_PORT_BASE;
	__atomic_store_n(&vs->transport_reset_owed, 0, __ATOMIC_RELEASE);
	vs->reset_unacked = false;
	pthread_mutex_unlock(&vs->thr_lock);
}

/*
 * Connections cannot be saved (their host ends are sockets of other processes), so a save drops
 * them and, when there were any, owes the guest a TRANSPORT_RESET. Without connections the reset
 * is not sent: the guest would only reset connected sockets anyway, and processing it races with
 * the first host connections after a restore (a connection the guest accepts before it handles
 * the event is killed on the guest side without an RST, and the host waits forever). The thread
 * stays stopped so that nothing touches the rings while the VMM copies guest memory:
 * sm_vsock_resume() restarts it.
 */
static int vsock_save(struct sm_virtio_dev *dev, struct sm_state_buf *buf, sm_error_t *err)
{
	struct sm_vsock *vs = sm_virtio_priv(dev);
	bool had_conns;

	(void)err;
	pthread_mutex_lock(&vs->thr_lock);
	stop_thread(vs);
	had_conns = vs->nconns > 0;
	vsock_drop_all(vs);
	if (had_conns)
		__atomic_store_n(&vs->transport_reset_owed, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&vs->thr_lock);
	sm_state_put_u32(buf, VSOCK_STATE_VERSION);
	sm_state_put_u64(buf, vs->cid);
	sm_state_put_u8(buf, had_conns);
	return 0;
}

static int vsock_restore(struct sm_virtio_dev *dev, struct sm_state_reader *r, sm_error_t *err)
{
	struct sm_vsock *vs = sm_virtio_priv(dev);
	uint32_t version = 0;
	uint64_t cid = 0;
	uint8_t had_conns = 1;

	if (sm_state_get_u32(r, &version, err) < 0 || sm_state_get_u64(r, &cid, err) < 0)
		return -1;
	if (version != 1 && version != VSOCK_STATE_VERSION)
		return sm_error_set(err, 0, "vsock state version %u, expected 1 or %u", version,
				    VSOCK_STATE_VERSION);
	if (version >= 2 && sm_state_get_u8(r, &had_conns, err) < 0)
		return -1;
	if (cid < 3 || cid >= UINT32_MAX)
		return sm_error_set(err, 0, "vsock state has a bad guest CID %llu", (unsigned long long)cid);
	/*
	 * The CID this process was configured with wins over the saved one (clones get their own):
	 * the TRANSPORT_RESET makes the guest re-read it. It also resets the guest's connected
	 * sockets, whose host ends are gone; with the same CID and no connections it is not sent.
	 */
	if (had_conns || cid != vs->cid)
		__atomic_store_n(&vs->transport_reset_owed, 1, __ATOMIC_RELEASE);
	return 0;
}

static const struct sm_virtio_dev_ops vsock_ops = {
    .name = "virtio-vsock",
    .device_id = SM_VIRTIO_ID_VSOCK,
    .num_queues = VSOCK_NUM_QUEUES,
    .queue_max_size = VSOCK_QUEUE_SIZE,
    .features = SM_VIRTIO_BIT(VSOCK_F_STREAM),
    .config_size = 8,
    .config_read = vsock_config_read,
    .notify = vsock_notify,
    .activate = vsock_activate,
    .reset = vsock_reset,
    .save = vsock_save,
    .restore = vsock_restore,
};

/* ---- public API ---- */

static int check_config(const struct sm_vsock_config *cfg, sm_error_t *err)
{
	struct sockaddr_un sa;

	if (cfg->uds_path == NULL || cfg->uds_path[0] == '\0')
		return sm_error_set(err, 0, "vsock: no Unix socket path");
	/* Room for "_<port>" of guest connects too. */
	if (strlen(cfg->uds_path) + 11 >= sizeof(sa.sun_path))
		return sm_error_set(err, 0, "vsock: socket path %s is too long (max %zu bytes)",
				    cfg->uds_path, sizeof(sa.sun_path) - 12);
	if (cfg->guest_cid < 3 || cfg->guest_cid >= UINT32_MAX)
		return sm_error_set(err, 0, "vsock: guest CID %llu out of range 3..%u",
				    (unsigned long long)cfg->guest_cid, UINT32_MAX - 1);
	if (cfg->buf_alloc != 0 && (cfg->buf_alloc < 4096 || cfg->buf_alloc > (16u << 20)))
		return sm_error_set(err, 0, "vsock: buf_alloc %u out of range 4 KiB..16 MiB", cfg->buf_alloc);
	if (cfg->max_conns > 65536)
		return sm_error_set(err, 0, "vsock: max_conns %u above 65536", cfg->max_conns);
	return 0;
}

static int listen_on(struct sm_vsock *vs, sm_error_t *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;

	if (lstat(vs->uds_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return sm_error_set(err, EEXIST, "vsock: %s exists and is not a socket",
					    vs->uds_path);
		/* A stale socket of an earlier run: bind() would fail on it. */
		if (unlink(vs->uds_path) < 0)
			return sm_error_set(err, errno, "vsock: remove stale socket %s", vs->uds_path);
	}
	vs->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (vs->listen_fd < 0)
		return sm_error_set(err, errno, "vsock: socket");
	memcpy(sa.sun_path, vs->uds_path, strlen(vs->uds_path) + 1);
	if (bind(vs->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return sm_error_set(err, errno, "vsock: bind %s", vs->uds_path);
	vs->bound = true;
	if (listen(vs->listen_fd, 128) < 0)
		return sm_error_set(err, errno, "vsock: listen on %s", vs->uds_path);
	return 0;
}

static int setup_io(struct sm_vsock *vs, sm_error_t *err)
{
	struct epoll_event ev = {.events = EPOLLIN};

	vs->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vs->kick_fd < 0)
		return sm_error_set(err, errno, "vsock: eventfd");
	vs->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (vs->epfd < 0)
		return sm_error_set(err, errno, "vsock: epoll_create1");
	ev.data.ptr = &vs->kick_watch;
	if (epoll_ctl(vs->epfd, EPOLL_CTL_ADD, vs->kick_fd, &ev) < 0)
		return sm_error_set(err, errno, "vsock: epoll_ctl");
	ev.data.ptr = &vs->listen_watch;
	if (epoll_ctl(vs->epfd, EPOLL_CTL_ADD, vs->listen_fd, &ev) < 0)
		return sm_error_set(err, errno, "vsock: epoll_ctl");
	return 0;
}

int sm_vsock_new(const struct sm_vsock_config *cfg, const struct sm_virtio_mmio_config *mmio,
		 struct sm_vsock **out, sm_error_t *err)
{
	struct sm_vsock *vs;

	if (check_config(cfg, err) < 0)
		return -1;
	vs = sm_xcalloc(1, sizeof(*vs));
	vs->listen_fd = vs->kick_fd = vs->epfd = -1;
	vs->listen_watch = W_LISTEN;
	vs->kick_watch = W_KICK;
	pthread_mutex_init(&vs->thr_lock, NULL);
	vs->uds_path = sm_xstrdup(cfg->uds_path);
	vs->cid = cfg->guest_cid;
	vs->buf_alloc = cfg->buf_alloc ? cfg->buf_alloc : DEFAULT_BUF_ALLOC;
	vs->max_conns = cfg->max_conns ? cfg->max_conns : DEFAULT_MAX_CONNS;
	vs->connect_timeout_ns =
	    (uint64_t)(cfg->connect_timeout_ms ? cfg->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS) *
	    1000000;
	vs->close_timeout_ns =
	    (uint64_t)(cfg->close_timeout_ms ? cfg->close_timeout_ms : DEFAULT_CLOSE_TIMEOUT_MS) * 1000000;
	for (vs->hash_size = 64; vs->hash_size < vs->max_conns;)
		vs->hash_size *= 2;
	vs->hash = sm_xcalloc(vs->hash_size, sizeof(*vs->hash));
	vs->iov = sm_xcalloc(VSOCK_QUEUE_SIZE, sizeof(*vs->iov));
	vs->next_host_port = VSOCK_HOST_PORT_BASE;
	sm_virtq_chain_init(&vs->txc);
	sm_virtq_chain_init(&vs->rxc);
	sm_virtq_chain_init(&vs->evc);
	if (listen_on(vs, err) < 0 || setup_io(vs, err) < 0 ||
	    sm_virtio_mmio_new(mmio, &vsock_ops, vs, &vs->vdev, err) < 0) {
		sm_vsock_free(vs);
		return -1;
	}
	*out = vs;
	return 0;
}

void sm_vsock_free(struct sm_vsock *vs)
{
	if (vs == NULL)
		return;
	pthread_mutex_lock(&vs->thr_lock);
	stop_thread(vs);
	pthread_mutex_unlock(&vs->thr_lock);
	sm_virtio_mmio_free(vs->vdev);
	vsock_drop_all(vs);
	if (vs->bound)
		unlink(vs->uds_path);
	if (vs->listen_fd >= 0)
		close(vs->listen_fd);
	if (vs->kick_fd >= 0)
		close(vs->kick_fd);
	if (vs->epfd >= 0)
		close(vs->epfd);
	sm_virtq_chain_free(&vs->txc);
	sm_virtq_chain_free(&vs->rxc);
	sm_virtq_chain_free(&vs->evc);
	pthread_mutex_destroy(&vs->thr_lock);
	free(vs->hash);
	free(vs->iov);
	free(vs->uds_path);
	free(vs);
}

struct sm_virtio_dev *sm_vsock_virtio(struct sm_vsock *vs)
{
	return vs->vdev;
}

int sm_vsock_resume(struct sm_vsock *vs, sm_error_t *err)
{
	int r = 0;

	pthread_mutex_lock(&vs->thr_lock);
	if (vs->active)
		r = start_thread(vs, err);
	pthread_mutex_unlock(&vs->thr_lock);
	return r;
}

void sm_vsock_transport_reset(struct sm_vsock *vs)
{
	__atomic_store_n(&vs->transport_reset_owed, 1, __ATOMIC_RELEASE);
	sm_dev_kick(vs->kick_fd);
}

void sm_vsock_get_stats(struct sm_vsock *vs, struct sm_vsock_stats *out)
{
	uint64_t *dst = (uint64_t *)out;
	const uint64_t *src = (const uint64_t *)&vs->stats;
	size_t i;

	for (i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
