/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_VMM_DEVICES_VSOCK_H
#define SM_VMM_DEVICES_VSOCK_H

#include <stdint.h>

#include "common/error.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/virtio.h"

/*
 * virtio-vsock (virtio 1.2 §5.10) implemented in the VMM process, with host-side endpoints that
 * are Unix sockets ("hybrid vsock", the scheme Firecracker uses; no /dev/vhost-vsock needed):
 *
 *  - host -> guest: a host program connects to the Unix socket at uds_path and writes
 *    "CONNECT <port>\n"; the device opens a stream to the guest's <port> and answers
 *    "OK <hostport>\n" once the guest accepted, then relays bytes both ways. When the guest
 *    refuses (nothing listens there) or does not answer in connect_timeout_ms, the Unix
 *    connection is closed without an answer.
 *  - guest -> host: a guest connect to CID 2 port P is forwarded to the Unix socket
 *    "<uds_path>_<P>" (a listener a host program created); the guest gets a reset when there is
 *    none.
 *
 * Only stream sockets; credit-based flow control both ways; every connection's buffering is
 * bounded by buf_alloc and the number of connections by max_conns. The device runs one I/O
 * thread of its own (started when the driver sets DRIVER_OK, stopped at reset); see
 * docs/design/vsock.md.
 */

struct sm_vsock;

struct sm_vsock_config {
	const char *uds_path;	     /* listener path (created; a stale socket there is replaced) */
	uint64_t guest_cid;	     /* 3 .. 0xfffffffe */
	uint32_t buf_alloc;	     /* per-connection guest->host buffer; 0: 64 KiB (4 KiB..16 MiB) */
	uint32_t max_conns;	     /* connections, pending ones included; 0: 256 (max 65536) */
	uint32_t connect_timeout_ms; /* host-initiated connect without answer; 0: 10 s */
	uint32_t close_timeout_ms;   /* graceful close without the peer's final RST; 0: 8 s */
};

/* Counters, for logs and tests. */
struct sm_vsock_stats {
	uint64_t conns;		 /* live connections (host handshakes included) */
	uint64_t conns_total;	 /* connections ever created */
	uint64_t host_connects;	 /* host-initiated connections that reached the guest */
	uint64_t guest_connects; /* guest connects forwarded to a host socket */
	uint64_t refused;	 /* connects refused (no socket, limit, timeout, bad CONNECT line) */
	uint64_t rst_queued;	 /* RSTs owed to the guest for packets on no connection (counted
				  * when the packet is handled, before it is returned) */
	uint64_t rst_sent;	 /* RST packets sent to the guest */
	uint64_t bad_packets;	 /* malformed guest packets or buffers (dropped) */
	uint64_t credit_overrun; /* guest sent more than our advertised credit (connection reset) */
	uint64_t events_sent;	 /* TRANSPORT_RESET events delivered */
	uint64_t events_acked;	 /* ... and handled by the guest (or given up on after the timeout) */
	uint64_t bytes_to_guest; /* RW payload bytes sent to the guest */
	uint64_t bytes_to_host;	 /* RW payload bytes written to host sockets */
};

/*
 * Create the device and its virtio-mmio transport (mmio is the VMM's window, IRQ and guest
 * memory; see vmm/virtio/mmio.h): validates cfg, binds and listens on cfg->uds_path (removing a
 * stale socket file there, refusing any other kind of file), and sets up the I/O machinery. The
 * I/O thread starts when the driver activates the device. Host clients that connect before then
 * wait in the listen backlog.
 */
int sm_vsock_new(const struct sm_vsock_config *cfg, const struct sm_virtio_mmio_config *mmio,
		 struct sm_vsock **out, sm_error_t *err);

/*
 * Stop the I/O thread, close every connection and the listener (its path is unlinked), free the
 * transport and the device. NULL is allowed. No vCPU or ioeventfd thread may use the transport
 * any more.
 */
void sm_vsock_free(struct sm_vsock *vs);

/* The transport handle: route MMIO accesses and ioeventfd notifications of the window to it. */
struct sm_virtio_dev *sm_vsock_virtio(struct sm_vsock *vs);

/*
 * Restart the I/O thread after sm_virtio_mmio_save() (which drops every connection and stops the
 * thread so that the rings stay still while the VMM copies guest memory), when the VM goes on
 * running. Call it before the vCPUs resume. No-op when the device is not active.
 */
int sm_vsock_resume(struct sm_vsock *vs, sm_error_t *err);

/*
 * Queue a VIRTIO_VSOCK_EVENT_TRANSPORT_RESET for the guest (delivered on the event queue as soon
 * as the driver has a buffer there): the guest drops all its connected sockets and re-reads
 * guest_cid (Linux: virtio_transport.c, virtio_vsock_event_handle). A save with connections and a
 * restore onto another CID or after lost connections queue one by themselves; call this after any
 * other event that lost host-side connection state. Until the guest has handled it (it hands the
 * event buffer back, kicking the event queue) or connect_timeout_ms passed, host connects are held
 * back, so a connection is never accepted by a guest that then resets it. Any thread.
 */
void sm_vsock_transport_reset(struct sm_vsock *vs);

/* Copy the counters. Any thread. */
void sm_vsock_get_stats(struct sm_vsock *vs, struct sm_vsock_stats *out);

#endif
