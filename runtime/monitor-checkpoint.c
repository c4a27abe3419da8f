/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checkpoint and restore in the monitor (runtime/monitor-internal.h; docs/design/lifecycle.md,
 * "Checkpoint and restore"): CHECKPOINT saves the running VM into an image directory, and the
 * monitor of `restore` brings such an image back and re-attaches the container's init process.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/commands.h"
#include "runtime/container.h"
#include "runtime/log.h"
#include "runtime/monitor-internal.h"
#include "runtime/sandbox.h"
#include "snapshot/snapshot.h"
#include "snapshot/zimage.h"
#include "vmm/devices/vsock.h"

/* What a restore needs besides the bundle and the snapshot (SM_CHECKPOINT_INFO). */
struct ckpt_info {
	uint64_t mem_mib, vcpus, guest_pid, next_stream;
};

static void gen_str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void gen_num(yajl_gen g, const char *key, uint64_t v)
{
	gen_str(g, key);
	yajl_gen_integer(g, (long long)v);
}

static int write_checkpoint_info(struct sm_mon *m, const char *dir, enum sm_oci_status was, sm_error_t *err)
{
	cleanup_free char *path = sm_xasprintf("%s/%s", dir, SM_CHECKPOINT_INFO);
	const char *id = strrchr(m->o->dir, '/');
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *buf;
	size_t len;
	int r;

	if (g == NULL)
		return sm_error_set(err, ENOMEM, "checkpoint info");
	yajl_gen_config(g, yajl_gen_beautify, 1);
	yajl_gen_map_open(g);
	gen_num(g, "version", 1);
	gen_str(g, "id");
	gen_str(g, id != NULL ? id + 1 : m->o->dir);
	gen_str(g, "bundle");
	gen_str(g, m->o->bundle);
	gen_str(g, "status");
	gen_str(g, sm_oci_status_name(was));
	gen_num(g, "guestPid", m->guest_pid);
	gen_num(g, "initStream", SM_MON_INIT_STREAM);
	gen_num(g, "nextStream", m->next_stream);
	gen_num(g, "memMib", m->o->sb.machine.mem_mib);
	gen_num(g, "vcpus", m->o->sb.machine.ncpus);
	gen_num(g, "daxMib", m->o->sb.dax_mib);
	gen_str(g, "terminal");
	yajl_gen_bool(g, m->o->cfg->process->terminal);
	yajl_gen_map_close(g);
	yajl_gen_get_buf(g, &buf, &len);
	r = sm_write_file_atomic(path, buf, len, 0600, err);
	yajl_gen_free(g);
	return r;
}

static int info_u64(yajl_val root, const char *key, uint64_t max, uint64_t *out, const char *path,
		    sm_error_t *err)
{
	const char *p[] = {key, NULL};
	yajl_val v = yajl_tree_get(root, p, yajl_t_number);

	if (v == NULL || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0 ||
	    (uint64_t)YAJL_GET_INTEGER(v) > max)
		return sm_error_set(err, 0, "`%s`: \"%s\" is missing or not a number in 0..%llu", path, key,
				    (unsigned long long)max);
	*out = (uint64_t)YAJL_GET_INTEGER(v);
	return 0;
}

static int read_checkpoint_info(const char *image, struct ckpt_info *ci, sm_error_t *err)
{
	cleanup_free char *path = sm_xasprintf("%s/%s", image, SM_CHECKPOINT_INFO), *text = NULL;
	char ebuf[256];
	uint64_t version = 0;
	yajl_val root;
	size_t len;
	int r;

	if ((r = sm_read_file(path, 1 << 20, &text, &len, err)) < 0)
		return sm_error_prefix(err, "checkpoint image: ");
	root = yajl_tree_parse(text, ebuf, sizeof(ebuf));
	if (root == NULL || !YAJL_IS_OBJECT(root)) {
		yajl_tree_free(root);
		return sm_error_set(err, 0, "`%s` is not a JSON object", path);
	}
	if ((r = info_u64(root, "version", 1000, &version, path, err)) == 0 && version != 1)
		r = sm_error_set(err, 0, "`%s`: checkpoint version %llu is not supported (1 is)", path,
				 (unsigned long long)version);
	if (r == 0)
		r = info_u64(root, "memMib", UINT32_MAX, &ci->mem_mib, path, err);
	if (r == 0)
		r = info_u64(root, "vcpus", 1024, &ci->vcpus, path, err);
	if (r == 0)
		r = info_u64(root, "guestPid", INT32_MAX, &ci->guest_pid, path, err);
	if (r == 0)
		r = info_u64(root, "nextStream", UINT32_MAX, &ci->next_stream, path, err);
	if (r == 0 && ci->next_stream <= SM_MON_INIT_STREAM)
		r = sm_error_set(err, 0, "`%s`: \"nextStream\" must be above %d", path, SM_MON_INIT_STREAM);
	yajl_tree_free(root);
	return r;
}

/*
 * A new connection to the agent after the old one was dropped (a snapshot resets vsock): the
 * agent keeps its processes and goes back to accepting; the init stream and the exec streams are
 * attached again before HELLO, so their output and EXIT come to the same fds (guest-protocol.md,
 * "Reconnecting"). Retried with longer timeouts: a loaded guest may answer slowly.
 */
static int reconnect_agent(struct sm_mon *m, sm_error_t *err)
{
	const int timeouts_ms[] = {5000, 15000, 30000, sm_mon_agent_ms(m)};
	int r = -1;

	sm_agent_client_free(m->agent);
	m->agent = NULL;
	for (size_t attempt = 0; attempt < SM_ARRAY_SIZE(timeouts_ms); attempt++) {
		struct sm_agent_client *c = NULL;
		int fd = -1;

		sm_error_clear(err);
		if (attempt > 0)
			usleep(200 * 1000);
		if ((r = sm_mon_connect_agent(m, &fd, err)) < 0 || (r = sm_agent_client_new(fd, &c, err)) < 0)
			continue;
		if (!m->o->cfg->process->terminal && m->status != SM_OCI_STATUS_STOPPED)
			r = sm_agent_client_attach(
			    c, SM_MON_INIT_STREAM,
			    &(struct sm_agent_stdio){STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}, err);
		for (size_t i = 0; r == 0 && i < m->nclients; i++) {
			struct sm_mon_client *cl = &m->clients[i];
			if (cl->exec_stream != 0)
				r = sm_agent_client_attach(
				    c, cl->exec_stream,
				    &(struct sm_agent_stdio){cl->io[0], cl->io[1], cl->io[2]}, err);
		}
		if (r == 0 && (r = sm_agent_client_handshake(c, timeouts_ms[attempt], err)) == 0) {
			m->agent = c;
			return 0;
		}
		sm_log(SM_LOG_DEBUG, "reconnect attempt %zu: %s", attempt, err->msg);
		sm_agent_client_free(c);
	}
	return sm_error_prefix(err, "reconnect to the guest agent: ");
}

/*
 * Close the agent connection before the save and wait (bounded) until the guest has taken the
 * connection down, so the save drops no connection and owes the guest no TRANSPORT_RESET (the
 * guest would reset its sockets and the next host connect would wait until it has: vsock.h,
 * sm_vsock_transport_reset). A guest that is too slow only costs that wait.
 */
static void drop_agent_connection(struct sm_mon *m)
{
	struct sm_vsock *vs = sm_sandbox_vsock(m->sb);
	struct sm_vsock_stats st = {0};

	sm_agent_client_free(m->agent);
	m->agent = NULL;
	if (vs == NULL)
		return;
	/* A paused guest cannot take the connection down: it runs for that moment (the snapshot
	 * pauses it again). */
	if (m->status == SM_OCI_STATUS_PAUSED)
		(void)sm_vm_resume(sm_machine_vm(sm_sandbox_machine(m->sb)), NULL);
	for (int i = 0; i < 250; i++) {
		sm_vsock_get_stats(vs, &st);
		if (st.conns == 0)
			break;
		usleep(20 * 1000);
	}
}

/*
 * The VM ends without its agent (after a stopping checkpoint, or when the agent cannot be reached
 * again): exec proxies get 137 as their process's status, the container is stopped, the monitor
 * exits once the reply is out (shut_down after serve).
 */
static void checkpoint_stop(struct sm_mon *m)
{
	sm_vm_stop(sm_machine_vm(sm_sandbox_machine(m->sb)), SM_VM_STOP_REQUESTED, "checkpointed");
	for (size_t i = 0; i < m->nclients; i++) {
		struct sm_mon_client *cl = &m->clients[i];
		struct sm_buf b = {0};

		if (cl->exec_stream == 0)
			continue;
		cl->exec_stream = 0;
		sm_tlv_put_u32(&b, SM_MON_TAG_STATUS, 128 + SIGKILL);
		(void)sm_mon_send(cl->fd, SM_MON_EXIT, 0, &b, NULL, 0, NULL);
		sm_buf_free(&b);
	}
	m->status = SM_OCI_STATUS_STOPPED;
	m->exit_status = 128 + SIGKILL;
	sm_mon_write_exit_file(m);
	m->shutdown = true;
}

/* After a snapshot (or a failed one) the VM goes on: devices and vCPUs resumed, agent reconnected. */
static int checkpoint_continue(struct sm_mon *m, enum sm_oci_status was, sm_error_t *err)
{
	uint64_t t0 = sm_now_ns();
	int r;

	if ((r = sm_sandbox_resume(m->sb, err)) < 0)
		return r;
	m->status = SM_OCI_STATUS_RUNNING;
	r = reconnect_agent(m, err);
	sm_log(SM_LOG_DEBUG, "checkpoint: agent reconnected after %llu ms: %s",
	       (unsigned long long)((sm_now_ns() - t0) / 1000000), r == 0 ? "ok" : err->msg);
	if (r == 0 && was == SM_OCI_STATUS_PAUSED)
		r = sm_mon_pause(m, true, err);
	return r;
}

static int checkpoint_image_path(const struct sm_mon_msg *msg, char **out)
{
	struct sm_tlv_reader rd;
	const uint8_t *val = NULL;
	uint32_t len = 0;
	uint16_t tag;
	int r;

	sm_tlv_reader_init(&rd, msg->payload, msg->hdr.len);
	while ((r = sm_tlv_next(&rd, &tag, &val, &len)) > 0 && tag != SM_MON_TAG_IMAGE_PATH)
		;
	if (r <= 0 || len == 0 || len > 4096 || memchr(val, 0, len) != NULL || val[0] != '/')
		return -1;
	*out = sm_xmalloc(len + 1);
	memcpy(*out, val, len);
	(*out)[len] = '\0';
	return 0;
}

/*
 * CHECKPOINT: snapshot the VM into the image directory (state file, memory as a compressed image,
 * checkpoint info), then let the VM go on or stop it (the monitor then exits, the container is
 * stopped). A snapshot the VM cannot give (e.g. a device that cannot save its state) fails with
 * the snapshot layer's error and the container keeps running.
 */
int sm_mon_checkpoint(struct sm_mon *m, const struct sm_mon_msg *msg, sm_error_t *err)
{
	cleanup_free char *shown = NULL, *dir = NULL, *mem = NULL, *zimg = NULL, *state = NULL, *info = NULL;
	enum sm_oci_status was = m->status;
	uint32_t leave = 0;
	sm_error_t e2 = SM_ERROR_INIT;
	int r;

	if (checkpoint_image_path(msg, &shown) < 0 ||
	    sm_mon_get_u32(msg, SM_MON_TAG_LEAVE_RUNNING, &leave) < 0 || msg->nfds != 1 || msg->fds[0] < 0)
		return sm_error_set(err, 0, "malformed CHECKPOINT request");
	/* The directory by its fd: inside the jail only /proc/self/fd leads out (runtime/jail.h). */
	dir = sm_xasprintf("/proc/self/fd/%d", msg->fds[0]);
	if (was != SM_OCI_STATUS_RUNNING && was != SM_OCI_STATUS_PAUSED)
		return sm_error_set(err, 0, "cannot checkpoint a container that is %s",
				    sm_oci_status_name(was));
	mem = sm_xasprintf("%s/%s", dir, SM_SNAPSHOT_MEM_FILE);
	zimg = sm_xasprintf("%s/%s", dir, SM_CHECKPOINT_MEMORY);
	state = sm_xasprintf("%s/%s", dir, SM_SNAPSHOT_STATE_FILE);
	info = sm_xasprintf("%s/%s", dir, SM_CHECKPOINT_INFO);
	uint64_t t0 = sm_now_ns();
	drop_agent_connection(m);
	r = sm_sandbox_snapshot(m->sb, dir, err);
	if (r < 0)
		sm_error_prefix(err, "`%s`: ", shown);
	sm_log(SM_LOG_DEBUG, "checkpoint: snapshot %s in %llu ms", r == 0 ? "saved" : "failed",
	       (unsigned long long)((sm_now_ns() - t0) / 1000000));
	if (r == 0) {
		r = sm_zimage_export(mem, zimg, 0, 0, NULL, err);
		sm_log(SM_LOG_DEBUG, "checkpoint: memory image written after %llu ms",
		       (unsigned long long)((sm_now_ns() - t0) / 1000000));
		unlink(mem);
		if (r == 0)
			r = write_checkpoint_info(m, dir, was, err);
		if (r < 0) {
			unlink(state);
			unlink(zimg);
			unlink(info);
			sm_error_prefix(err, "`%s`: ", shown);
		}
	}
	if (r < 0 || leave) {
		/* The VM goes on either way; a failure to continue is the worse news. */
		if (checkpoint_continue(m, was, &e2) < 0) {
			sm_log(SM_LOG_ERROR, "after checkpoint: %s", e2.msg);
			if (m->agent == NULL)
				checkpoint_stop(m);
			return sm_error_set(err, e2.code, "%s%s%s", r < 0 ? err->msg : "",
					    r < 0 ? "; then " : "", e2.msg);
		}
		return r;
	}
	checkpoint_stop(m);
	return 0;
}

/*
 * The monitor of `restore`: import the checkpoint image into the state directory as a snapshot
 * (state.smsnap, memory.img; `delete` removes them with the directory), restore the VM from it
 * re-rooted at this bundle's rootfs, reconnect to the agent and re-attach the init process's stdio.
 */
int sm_mon_restore_checkpoint(struct sm_mon *m, sm_error_t *err)
{
	const char *image = m->o->restore_image;
	cleanup_free char *src_state = NULL, *src_mem = NULL, *text = NULL;
	struct sm_snapshot *snap = NULL;
	struct ckpt_info ci;
	size_t len;
	int r;

	if ((r = read_checkpoint_info(image, &ci, err)) < 0)
		return r;
	if (ci.mem_mib != m->o->sb.machine.mem_mib || ci.vcpus != m->o->sb.machine.ncpus)
		return sm_error_set(
		    err, 0,
		    "checkpoint `%s` is of a %llu MiB, %llu-vCPU VM; the bundle's config asks for "
		    "%llu MiB, %u vCPUs",
		    image, (unsigned long long)ci.mem_mib, (unsigned long long)ci.vcpus,
		    (unsigned long long)m->o->sb.machine.mem_mib, m->o->sb.machine.ncpus);
	/* The monitor runs in the state directory: the snapshot goes there. */
	src_state = sm_xasprintf("%s/%s", image, SM_SNAPSHOT_STATE_FILE);
	src_mem = sm_xasprintf("%s/%s", image, SM_CHECKPOINT_MEMORY);
	if ((r = sm_read_file(src_state, 64u << 20, &text, &len, err)) < 0 ||
	    (r = sm_write_file_atomic(SM_SNAPSHOT_STATE_FILE, text, len, 0600, err)) < 0 ||
	    (r = sm_zimage_import(src_mem, SM_SNAPSHOT_MEM_FILE, ci.mem_mib << 20, NULL, err)) < 0)
		return sm_error_prefix(err, "checkpoint image: ");
	/* Validated completely before the VM is made, so errors name the image. */
	if ((r = sm_snapshot_load(m->o->dir, &snap, err)) < 0)
		return sm_error_prefix(err, "checkpoint image `%s`: ", image);
	sm_snapshot_free(snap);
	m->snapshot_dir = m->o->dir;
	if ((r = sm_mon_boot_sandbox(m, err)) < 0)
		return r;
	m->guest_pid = (uint32_t)ci.guest_pid;
	m->next_stream = (uint32_t)ci.next_stream;
	m->status = SM_OCI_STATUS_CREATED;
	m->reattached = true;
	m->feed_console = m->o->cfg->process->terminal;
	/* The agent already answered HELLO: output it sent before this attach went nowhere. */
	if (!m->o->cfg->process->terminal &&
	    (r = sm_agent_client_attach(m->agent, SM_MON_INIT_STREAM,
					&(struct sm_agent_stdio){STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO},
					err)) < 0)
		return r;
	return 0;
}
