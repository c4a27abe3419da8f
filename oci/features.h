/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_OCI_FEATURES_H
#define SM_OCI_FEATURES_H

/*
 * The `features` document (runtime-spec features.md / features-linux.md), generated from a
 * description of what the runtime implements, so it stays true as features land: the runtime
 * fills a struct sm_oci_features_desc from its own tables instead of hard-coding JSON.
 */
#include <stddef.h>

#include "common/error.h"
#include "oci/config.h"

/* A feature flag: UNKNOWN is omitted from the output (the spec's "nil means unknown"). */
enum sm_oci_tristate { SM_OCI_UNKNOWN = 0, SM_OCI_NO, SM_OCI_YES };

/* Lists are NULL-terminated; a NULL list is omitted ("unknown"), an empty one prints []. */
struct sm_oci_features_desc {
	const char *oci_version_min, *oci_version_max; /* required */
	const char *const *hooks;
	const char *const *mount_options;
	bool has_linux; /* emit the "linux" object */
	struct {
		const char *const *namespaces;
		const char *const *capabilities;
		enum sm_oci_tristate cgroup_v1, cgroup_v2, cgroup_systemd, cgroup_systemd_user, cgroup_rdma;
		enum sm_oci_tristate seccomp_enabled;
		const char *const *seccomp_actions, *const *seccomp_operators, *const *seccomp_archs;
		const char *const *seccomp_known_flags, *const *seccomp_supported_flags;
		enum sm_oci_tristate apparmor, selinux, intel_rdt, idmap_mounts, net_devices;
	} linux_;
	const struct sm_oci_map *annotations; /* NULL or empty: omitted */
	const char *const *potentially_unsafe_config_annotations;
};

/*
 * Generate the features JSON for d, pretty-printed, into a malloc'd NUL-terminated buffer.
 * Fails when a version is missing.
 */
int sm_oci_features_json(const struct sm_oci_features_desc *d, char **out, size_t *len, sm_error_t *err);

#endif
