/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_OCI_STATE_H
#define SM_OCI_STATE_H

/*
 * A container's runtime state: the OCI state (runtime.md "State") plus sm-runtime's private
 * fields, kept in <state root>/<id>/state.json. The public form is what `sm-runtime state`
 * prints (the OCI fields plus runc's extras rootfs, created, owner); the private form adds an
 * "smRuntime" object and is what sm_oci_state_save()/load() use.
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "oci/config.h"

/* Bumped when the private part changes incompatibly; load refuses other versions. */
#define SM_OCI_STATE_VERSION 1

enum sm_oci_status {
	SM_OCI_STATUS_CREATING,
	SM_OCI_STATUS_CREATED,
	SM_OCI_STATUS_RUNNING,
	SM_OCI_STATUS_STOPPED,
	SM_OCI_STATUS_PAUSED, /* not in the OCI spec; runc reports it for frozen containers */
};

struct sm_oci_state {
	/* OCI */
	char *oci_version;
	char *id;
	enum sm_oci_status status;
	int pid;      /* container process as seen by the runtime; 0 when none */
	char *bundle; /* absolute */
	struct sm_oci_map annotations;
	/* runc's extras, also in the public form */
	char *rootfs;
	int64_t created_ns; /* CLOCK_REALTIME, ns since the epoch */
	uint32_t owner_uid;
	/* private */
	int vmm_pid;
	uint64_t vmm_start_time;   /* /proc/<pid>/stat field 22, to tell a reused pid from our VMM */
	struct sm_oci_map sockets; /* name -> path, e.g. "vmm" -> the VMM control socket */
	char *cgroup;		   /* the host cgroup's description (runtime/cgroup.h), or NULL */
};

enum {
	SM_OCI_STATE_PRIVATE = 1 << 0, /* include the "smRuntime" object */
	SM_OCI_STATE_PRETTY = 1 << 1,  /* indent with tabs */
};

/* "created", "running", ...; NULL for an invalid value. */
const char *sm_oci_status_name(enum sm_oci_status s);

/* Parse a status name; -1 when unknown. */
int sm_oci_status_parse(const char *s, enum sm_oci_status *out);

/*
 * Serialize st (flags: SM_OCI_STATE_*) into a malloc'd NUL-terminated buffer. Fails when a
 * string is not valid UTF-8 (e.g. a bundle path with Latin-1 bytes), which JSON cannot carry.
 */
int sm_oci_state_to_json(const struct sm_oci_state *st, unsigned flags, char **out, size_t *len,
			 sm_error_t *err);

/*
 * Parse a state.json (private or public form) into *st, which must be zeroed or cleared; name
 * prefixes errors. The id, status, bundle and version are validated; unknown keys are ignored.
 */
int sm_oci_state_parse(const char *json, size_t len, const char *name, struct sm_oci_state *st,
		       sm_error_t *err);

/* Write the private form to path atomically (temporary file + rename), mode 0600. */
int sm_oci_state_save(const struct sm_oci_state *st, const char *path, sm_error_t *err);

/* Read and parse a state file written by sm_oci_state_save(). */
int sm_oci_state_load(const char *path, struct sm_oci_state *st, sm_error_t *err);

/* Free the members of st and zero it. */
void sm_oci_state_clear(struct sm_oci_state *st);

/*
 * The start time of process pid (clock ticks after boot, /proc/<pid>/stat field 22). Store it
 * next to a pid and compare later: a different value means the pid was reused.
 */
int sm_oci_proc_start_time(pid_t pid, uint64_t *out, sm_error_t *err);

/*
 * Whether the VMM recorded in st still runs: 1 yes, 0 no (gone, or its pid now belongs to
 * another process), <0 on an unexpected error.
 */
int sm_oci_state_vmm_alive(const struct sm_oci_state *st, sm_error_t *err);

#endif
