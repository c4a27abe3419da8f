/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_OCI_SUPPORT_H
#define SM_OCI_SUPPORT_H

/*
 * The "honour or refuse" pass over a parsed config.json (docs/config-mapping.md). The spec says a
 * runtime MUST fail when it cannot apply a field; a microVM cannot apply some fields, and some
 * fields mean nothing once the container has its own kernel. This pass decides, before any VM is
 * booted, which case each field of a config is: honoured (nothing to do here), refused (an error
 * naming the field's JSON path), or accepted and ignored (a warning naming it). It only reads the
 * config and the options: no file system or host access, so it is cheap and testable.
 *
 * Checks that need the host (bind mount sources: runtime/bind-shares.h; cgroup writes:
 * runtime/cgroup.h) stay there; they also run before the VM boots.
 */
#include <stdbool.h>

#include "common/error.h"
#include "oci/config.h"

/* The host's cgroup layout, for the resources that only one cgroup version has. */
enum sm_oci_host_cgroup {
	SM_OCI_HOST_CGROUP_UNKNOWN, /* skip the host-dependent checks (runtime/cgroup.c still refuses) */
	SM_OCI_HOST_CGROUP_V1,
	SM_OCI_HOST_CGROUP_V2,
	SM_OCI_HOST_CGROUP_HYBRID, /* v1 controllers plus a cgroup2 hierarchy (runtime/cgroup.h) */
};

struct sm_oci_support_opts {
	/* Where linux.resources will be written (sm_cgroup_get_mode() of the container's cgroup). */
	enum sm_oci_host_cgroup cgroup;
	/* --systemd-cgroup: linux.cgroupsPath must be "slice:prefix:name" (or empty). */
	bool systemd_cgroup;
	/*
	 * Refuse properties that runtime-spec 1.2 does not define (cfg->unknown). Off by default:
	 * the spec says runtimes MUST ignore unknown properties (config.md "Extensibility"), so they
	 * are warnings. Properties of later spec versions that sm-runtime knows it cannot honour
	 * (vm, linux.netDevices, linux.memoryPolicy, ...) are refused either way.
	 */
	bool refuse_unknown;
};

/*
 * Check every field of cfg (as parsed by sm_oci_config_parse()) against what sm-runtime applies.
 * Returns 0 when the config can run; each field that is accepted but has no effect in a VM adds
 * one line to *warnings ("linux.namespaces[1].path: ignored: ..."; warnings may be NULL). Returns
 * <0 at the first field that cannot be honoured, in the order of docs/config-mapping.md (top
 * level, mounts, process, hooks, linux, then unknown properties), with err set to
 * "config.json: <json.path>: not supported by sm-runtime: <why>". opts may be NULL (all
 * defaults). cfg->warnings (the parser's) are not copied: the caller reports both lists.
 */
int sm_oci_check_supported(const struct sm_oci_config *cfg, const struct sm_oci_support_opts *opts,
			   struct sm_oci_strv *warnings, sm_error_t *err);

/*
 * The process part of sm_oci_check_supported(), for `exec --process FILE`: errors read
 * "<file>: <prefix><field>: not supported by sm-runtime: ..." (prefix "" for a process.json,
 * "process." inside a config.json).
 */
int sm_oci_check_process_supported(const struct sm_oci_process *p, const char *file, const char *prefix,
				   struct sm_oci_strv *warnings, sm_error_t *err);

/*
 * True for a linux.sysctl key that sm_oci_check_supported() accepts but ignores because the guest
 * kernel has no such subsystem (net.ipv4.*, net.ipv6.*: the guest has no IP stack). Whoever sends
 * the sysctls to the guest must skip these, or the guest's write to /proc/sys fails.
 */
bool sm_oci_sysctl_ignored(const char *key);

#endif
