/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_AGENT_SPEC_H
#define SM_RUNTIME_AGENT_SPEC_H

/*
 * Encoding of the parsed OCI config (oci/config.h) into the payloads of the guest agent's CREATE
 * and EXEC requests (common/proto-tags.h). Mount options become MS_* flags, propagation, recursive
 * MOUNT_ATTR_* and data as runc computes them; the seccomp profile is compiled to a BPF program
 * for x86_64 here, with libseccomp, so the guest needs no libseccomp.
 *
 * This encodes what the agent can apply; deciding whether a config may run at all (the "honour
 * or refuse" pass of docs/config-mapping.md) happens before. Fields that have no guest-side
 * meaning (cgroups, hooks, apparmor, ...) are not sent.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/proto.h"
#include "oci/config.h"

/* How the container's file systems reach the guest. */
struct sm_agent_spec_opts {
	/* The rootfs is the virtio-fs share with this tag ... */
	const char *rootfs_tag;
	bool rootfs_dax;
	/* ... or, when rootfs_tag is NULL, this directory as the agent sees it (host tests); NULL means
	 * root.path (made absolute against bundle when relative). */
	const char *rootfs_path;
	const char *bundle;
	/* chroot instead of pivot_root (runc --no-pivot). */
	bool no_pivot;
	/* With process.terminal: the terminal is the guest's virtio console (SM_TAG_TERMINAL_HVC). */
	bool terminal_hvc;
	/*
	 * Translate the host source path of a bind mount: return 1 with *tag and *subpath (malloc'd,
	 * subpath relative, "" for the share's root) when it is reachable as a virtio-fs share, 0 to
	 * send the path unchanged, <0 with err set to refuse it. NULL: every path is sent unchanged.
	 */
	int (*map_bind_source)(void *opaque, const char *source, char **tag, char **subpath, bool *dax,
			       sm_error_t *err);
	void *opaque;
};

/*
 * Append the CREATE payload (TLV fields, no frame header) for cfg to b: the container fields and
 * cfg->process. Errors name the config field: "config.json: mounts[2]: unknown option foo".
 */
int sm_agent_spec_create(struct sm_buf *b, const struct sm_oci_config *cfg,
			 const struct sm_agent_spec_opts *opts, sm_error_t *err);

/*
 * Append the fields of one process (EXEC payload, and the process part of CREATE) to b. seccomp
 * is the container's linux.seccomp (NULL = none): exec'd processes get the same filter.
 */
int sm_agent_spec_process(struct sm_buf *b, const struct sm_oci_process *proc,
			  const struct sm_oci_seccomp *seccomp, sm_error_t *err);

/*
 * Compile a seccomp profile to a classic BPF program for x86_64 (plus x86 and x32 when listed
 * in architectures; other architectures cannot run in the guest and are skipped). *prog is a
 * malloc'd array of 8-byte struct sock_filter, *len its size in bytes. Syscall names libseccomp
 * does not know are skipped, as runc does.
 */
int sm_agent_seccomp_compile(const struct sm_oci_seccomp *sc, uint8_t **prog, size_t *len, sm_error_t *err);

/* Mount options turned into what mount(2) and mount_setattr(2) take, as runc maps them. */
struct sm_agent_mount_opts {
	uint64_t flags;		     /* MS_* */
	uint32_t propagation;	     /* MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE [| MS_REC] */
	uint64_t attr_set, attr_clr; /* MOUNT_ATTR_* of the recursive "r" options */
	char *data;		     /* the rest, comma-separated (malloc'd, NULL when empty) */
};

/* Map one mount's options; refuses options sm-runtime cannot honour (idmap). */
int sm_agent_mount_options(const struct sm_oci_strv *options, struct sm_agent_mount_opts *out,
			   sm_error_t *err);

#endif
