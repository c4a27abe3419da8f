/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_DEVICES_VSOCK_INTERNAL_H
#define SM_VMM_DEVICES_VSOCK_INTERNAL_H

/*
 * Internals of the vsock device, shared by vsock.c (device ops, thread, snapshots),
 * vsock_conn.c (connections, guest packets, host sockets) and vsock_rx.c (packets to the guest).
 * Everything below except the fields marked otherwise is touched only by the I/O thread, or
 * while it is stopped.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/devices/vsock.h"
#include "vmm/virtio/virtqueue.h"

/* Wire format (virtio 1.2 §5.10.6): struct virtio_vsock_hdr, packed little-endian. */
#define VSOCK_HDR_SIZE 44
#define VSOCK_HOST_CID 2
#define VSOCK_TYPE_STREAM 1
#define VSOCK_SHUTDOWN_RCV 1u
#define VSOCK_SHUTDOWN_SEND 2u
#define VSOCK_EVENT_TRANSPORT_RESET 0u
#define VSOCK_F_STREAM 0 /* feature bit: stream sockets (also implied when nothing is negotiated) */

enum vsock_op {
	VSOCK_OP_INVALID = 0,
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};

enum { VSOCK_Q_RX = 0, VSOCK_Q_TX = 1, VSOCK_Q_EVENT = 2, VSOCK_NUM_QUEUES = 3 };

#define VSOCK_QUEUE_SIZE 256
#define VSOCK_MAX_PKT (64u * 1024)	 /* largest RW payload accepted from or sent to the guest */
#define VSOCK_LINE_MAX 32		 /* "CONNECT 4294967295\n" and "OK 4294967295\n" fit */
#define VSOCK_RSTQ_SIZE 64		 /* resets owed for packets of unknown connections */
#define VSOCK_HOST_PORT_BASE 0x40000000u /* local ports of host-initiated connections */
#define VSOCK_TX_BUDGET 64		 /* guest packets handled before looking at the sockets again */
#define VSOCK_RX_BUDGET 64		 /* packets produced before looking at the sockets again */

struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

void vsock_hdr_decode(const uint8_t *raw, struct vsock_hdr *h);
void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t *raw);

/* What an epoll event's data.ptr points at: the first member of each watched object. */
enum vsock_watch { W_KICK = 1, W_LISTEN, W_CONN };

enum conn_state {
	CS_HANDSHAKE,	/* host client connected, reading "CONNECT <port>\n" */
	CS_CONNECTING,	/* REQUEST owed to or sent to the guest, waiting for RESPONSE */
	CS_ESTABLISHED, /* relaying */
	CS_CLOSING,	/* we sent SHUTDOWN(RCV|SEND): waiting for the guest's RST or SHUTDOWN */
	CS_RST_PENDING, /* host socket closed; RST owed to the guest, then gone */
	CS_DEAD,	/* off every list but the graveyard; freed at the end of the loop iteration */
};

/* Control packets a connection owes the guest (conn->pending). */
#define P_REQUEST 1u
#define P_RESPONSE 2u
#define P_CREDIT_UPDATE 4u
#define P_SHUTDOWN 8u
#define P_RST 16u

struct vconn {
	enum vsock_watch watch; /* W_CONN */
	enum conn_state state;
	int fd;		     /* host Unix socket, -1 once closed */
	uint32_t local_port; /* host end (our src_port) */
	uint32_t peer_port;  /* guest end */
	bool host_initiated;
	bool hashed;

	struct vconn *hnext;		 /* hash chain */
	struct vconn *prev, *next;	 /* list of live connections */
	struct vconn *rq_prev, *rq_next; /* rx work queue */
	bool in_rq;

	uint32_t ep_events; /* current epoll interest; ~0u when not registered */
	bool readable;	    /* the socket reported EPOLLIN and may hold data for the guest */
	bool hup;	    /* the host peer closed both directions */
	bool host_eof;	    /* read() returned 0: the host sends no more */
	bool shut_wr;	    /* we shut the socket's write side (guest sends no more) */
	bool peer_no_send;  /* guest SHUTDOWN(SEND) seen */
	bool peer_no_rcv;   /* guest SHUTDOWN(RCV) seen */

	unsigned int pending; /* P_* */
	uint32_t shut_flags;  /* flags of the owed SHUTDOWN */

	/* host -> guest credit (what the guest advertised, what we sent) */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	/* guest -> host: fwd_cnt counts bytes written to the socket, adv_fwd_cnt what the guest knows */
	uint32_t fwd_cnt, adv_fwd_cnt;
	uint8_t *buf; /* ring of vs->buf_alloc bytes (allocated on first data) */
	uint32_t head, used;

	/* the CONNECT line being read, then the "OK" line being written */
	char line[VSOCK_LINE_MAX];
	uint32_t line_len, line_off;

	uint64_t deadline_ns; /* 0: none */
};

struct vsock_rst {
	uint64_t src_cid; /* the CID the guest addressed (the RST comes from there) */
	uint32_t src_port, dst_port;
};

struct sm_vsock {
	/* fixed at creation */
	char *uds_path;
	uint64_t cid;
	uint32_t buf_alloc, max_conns;
	uint64_t connect_timeout_ns, close_timeout_ns;
	struct sm_virtio_dev *vdev;
	enum vsock_watch listen_watch, kick_watch;
	int listen_fd, kick_fd, epfd;

	bool bound; /* we created uds_path (unlinked at free) */

	/* thread control: activate, reset, save, resume and free, under thr_lock */
	pthread_mutex_t thr_lock;
	pthread_t thread;
	bool running; /* the thread exists */
	bool active;  /* the driver activated the device (the thread runs unless a save paused it) */
	int stop;     /* atomic */
	int transport_reset_owed; /* atomic; any thread sets it */
	int event_kicked;	  /* atomic: the driver notified the event queue (notify sets it) */

	/* I/O thread state */
	bool broken; /* a ring is corrupt; NEEDS_RESET is set: touch no queue until reset */
	/*
	 * A TRANSPORT_RESET went to the guest and the driver has not yet handed its event buffer
	 * back (Linux refills and kicks the event queue only after handling the event): host
	 * connects wait (their REQUEST is held back) until then or until reset_ack_deadline_ns, so
	 * the guest does not reset a connection it accepted before it saw the event.
	 */
	bool reset_unacked;
	uint64_t reset_ack_deadline_ns;
	struct vconn *conns;
	struct vconn *rq_head, *rq_tail;
	struct vconn *graveyard;
	struct vconn **hash;
	uint64_t listen_resume_ns; /* accept() failed (EMFILE...): listener paused until then */
	unsigned int hash_size;	   /* buckets, a power of two */
	unsigned int nconns, ndeadlines;
	uint32_t next_host_port;
	struct vsock_rst rstq[VSOCK_RSTQ_SIZE];
	unsigned int rstq_head, rstq_len;
	struct sm_virtq_chain txc, rxc, evc;
	struct iovec *iov; /* scratch for reads into rx chains: VSOCK_QUEUE_SIZE entries */

	struct sm_vsock_stats stats; /* updated with __atomic builtins */
};

/* Whether a host connect's REQUEST must wait for the guest to handle a TRANSPORT_RESET. */
bool vsock_reset_in_flight(struct sm_vsock *vs);

#define VSOCK_STAT_ADD(vs, field, n) __atomic_add_fetch(&(vs)->stats.field, (n), __ATOMIC_RELAXED)

/* vsock_conn.c */
void vsock_handle_tx(struct sm_vsock *vs, const struct sm_virtq_chain *chain);
void vsock_accept(struct sm_vsock *vs);
void vsock_conn_event(struct sm_vsock *vs, struct vconn *c, uint32_t events);
void vsock_conn_update(struct sm_vsock *vs, struct vconn *c);
void vsock_conn_reset(struct sm_vsock *vs, struct vconn *c);
void vsock_conn_destroy(struct sm_vsock *vs, struct vconn *c);
void vsock_drop_all(struct sm_vsock *vs);
void vsock_reap(struct sm_vsock *vs);
uint64_t vsock_timers(struct sm_vsock *vs, uint64_t now, bool *fired);
bool vsock_conn_wants_data(const struct sm_vsock *vs, const struct vconn *c);
uint32_t vsock_peer_credit(const struct vconn *c);
void vsock_rq_remove(struct sm_vsock *vs, struct vconn *c);

/* vsock_rx.c */
bool vsock_rstq_full(const struct sm_vsock *vs);
void vsock_rstq_push(struct sm_vsock *vs, const struct vsock_hdr *pkt);
bool vsock_process_rx(struct sm_vsock *vs);
void vsock_process_event(struct sm_vsock *vs);

#endif
