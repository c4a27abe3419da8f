/* SPDX-License-Identifier: Apache-2.0 */
#include "oci/features.h"
#include "oci/json.h"

static void opt_list(struct sm_jw *w, const char *key, const char *const *list)
{
	if (list != NULL)
		sm_jw_strs(w, key, list);
}

static void opt_flag(struct sm_jw *w, const char *key, enum sm_oci_tristate t)
{
	if (t == SM_OCI_UNKNOWN)
		return;
	sm_jw_key(w, key);
	sm_jw_bool(w, t == SM_OCI_YES);
}

/* {"enabled": bool} objects (apparmor, selinux, intelRdt, ...); omitted when unknown. */
static void enabled_obj(struct sm_jw *w, const char *key, enum sm_oci_tristate t)
{
	if (t == SM_OCI_UNKNOWN)
		return;
	sm_jw_key(w, key);
	sm_jw_open(w, '{');
	opt_flag(w, "enabled", t);
	sm_jw_close(w, '}');
}

static void gen_linux(struct sm_jw *w, const struct sm_oci_features_desc *d)
{
	sm_jw_key(w, "linux");
	sm_jw_open(w, '{');
	opt_list(w, "namespaces", d->linux_.namespaces);
	opt_list(w, "capabilities", d->linux_.capabilities);
	sm_jw_key(w, "cgroup");
	sm_jw_open(w, '{');
	opt_flag(w, "v1", d->linux_.cgroup_v1);
	opt_flag(w, "v2", d->linux_.cgroup_v2);
	opt_flag(w, "systemd", d->linux_.cgroup_systemd);
	opt_flag(w, "systemdUser", d->linux_.cgroup_systemd_user);
	opt_flag(w, "rdma", d->linux_.cgroup_rdma);
	sm_jw_close(w, '}');
	sm_jw_key(w, "seccomp");
	sm_jw_open(w, '{');
	opt_flag(w, "enabled", d->linux_.seccomp_enabled);
	opt_list(w, "actions", d->linux_.seccomp_actions);
	opt_list(w, "operators", d->linux_.seccomp_operators);
	opt_list(w, "archs", d->linux_.seccomp_archs);
	opt_list(w, "knownFlags", d->linux_.seccomp_known_flags);
	opt_list(w, "supportedFlags", d->linux_.seccomp_supported_flags);
	sm_jw_close(w, '}');
	enabled_obj(w, "apparmor", d->linux_.apparmor);
	enabled_obj(w, "selinux", d->linux_.selinux);
	enabled_obj(w, "intelRdt", d->linux_.intel_rdt);
	if (d->linux_.idmap_mounts != SM_OCI_UNKNOWN) {
		sm_jw_key(w, "mountExtensions");
		sm_jw_open(w, '{');
		enabled_obj(w, "idmap", d->linux_.idmap_mounts);
		sm_jw_close(w, '}');
	}
	enabled_obj(w, "netDevices", d->linux_.net_devices);
	sm_jw_close(w, '}');
}

int sm_oci_features_json(const struct sm_oci_features_desc *d, char **out, size_t *len, sm_error_t *err)
{
	struct sm_jw w;

	if (d->oci_version_min == NULL || d->oci_version_max == NULL)
		return sm_error_set(err, 0,
				    "generate features: ociVersionMin and ociVersionMax are required");
	sm_jw_init(&w, true);
	sm_jw_open(&w, '{');
	sm_jw_key(&w, "ociVersionMin");
	sm_jw_str(&w, d->oci_version_min);
	sm_jw_key(&w, "ociVersionMax");
	sm_jw_str(&w, d->oci_version_max);
	opt_list(&w, "hooks", d->hooks);
	opt_list(&w, "mountOptions", d->mount_options);
	if (d->has_linux)
		gen_linux(&w, d);
	if (d->annotations != NULL && d->annotations->n > 0)
		sm_jw_map(&w, "annotations", d->annotations);
	opt_list(&w, "potentiallyUnsafeConfigAnnotations", d->potentially_unsafe_config_annotations);
	sm_jw_close(&w, '}');
	return sm_jw_finish(&w, "features", out, len, err);
}
