/* SPDX-License-Identifier: Apache-2.0 */
/* `features` JSON generated from a description parses back; `spec` output parses with the config parser. */
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "oci/config.h"
#include "oci/features.h"
#include "oci/spec.h"
#include "tests/tap.h"

static yajl_val path_get(yajl_val v, const char *const *path)
{
	return yajl_tree_get(v, (const char **)path, yajl_t_any);
}

static const char *str_at(yajl_val root, const char *const *path)
{
	yajl_val v = path_get(root, path);
	return YAJL_IS_STRING(v) ? v->u.string : "";
}

static size_t array_len(yajl_val root, const char *const *path)
{
	yajl_val v = path_get(root, path);
	return YAJL_IS_ARRAY(v) ? v->u.array.len : (size_t)-1;
}

static void test_full(void)
{
	const char **caps = sm_oci_name_strings(sm_oci_capability_names);
	const char **ns = sm_oci_name_strings(sm_oci_namespace_names);
	const char **hooks = sm_oci_name_strings(sm_oci_hook_names);
	const char **acts = sm_oci_name_strings(sm_oci_seccomp_action_names);
	const char **ops = sm_oci_name_strings(sm_oci_seccomp_op_names);
	const char **archs = sm_oci_name_strings(sm_oci_seccomp_arch_names);
	static const char *const mount_opts[] = {"ro", "rw", "nosuid", NULL};
	static const char *const no_flags[] = {NULL};
	struct sm_oci_kv kv[] = {{(char *)"org.example.sm-runtime.version", (char *)"0.1.0"}};
	struct sm_oci_map ann = {kv, 1};
	struct sm_oci_features_desc d = {
	    .oci_version_min = SM_OCI_VERSION_MIN,
	    .oci_version_max = SM_OCI_VERSION_MAX,
	    .hooks = hooks,
	    .mount_options = mount_opts,
	    .has_linux = true,
	    .linux_ = {.namespaces = ns,
		       .capabilities = caps,
		       .cgroup_v1 = SM_OCI_NO,
		       .cgroup_v2 = SM_OCI_YES,
		       .seccomp_enabled = SM_OCI_YES,
		       .seccomp_actions = acts,
		       .seccomp_operators = ops,
		       .seccomp_archs = archs,
		       .seccomp_known_flags = no_flags,
		       .apparmor = SM_OCI_NO,
		       .selinux = SM_OCI_NO,
		       .idmap_mounts = SM_OCI_NO},
	    .annotations = &ann,
	    .potentially_unsafe_config_annotations = no_flags,
	};
	cleanup_free char *json = NULL;
	sm_error_t err = SM_ERROR_INIT;
	char ebuf[256];
	yajl_val root;

	ok(sm_oci_features_json(&d, &json, NULL, &err) == 0, "features: %s", err.msg);
	root = json ? yajl_tree_parse(json, ebuf, sizeof(ebuf)) : NULL;
	ok(root != NULL, "features output is valid JSON");
	if (root == NULL)
		goto out;
	ok(strcmp(str_at(root, (const char *const[]){"ociVersionMax", NULL}), "1.2.0") == 0 &&
	       strcmp(str_at(root, (const char *const[]){"ociVersionMin", NULL}), "1.0.0") == 0,
	   "versions");
	ok(array_len(root, (const char *const[]){"hooks", NULL}) == 6, "6 hooks");
	ok(array_len(root, (const char *const[]){"mountOptions", NULL}) == 3, "mount options");
	ok(array_len(root, (const char *const[]){"linux", "namespaces", NULL}) == 8, "8 namespaces");
	ok(array_len(root, (const char *const[]){"linux", "capabilities", NULL}) == 41, "41 capabilities");
	ok(array_len(root, (const char *const[]){"linux", "seccomp", "actions", NULL}) == 9 &&
	       array_len(root, (const char *const[]){"linux", "seccomp", "operators", NULL}) == 7 &&
	       array_len(root, (const char *const[]){"linux", "seccomp", "archs", NULL}) == 19 &&
	       array_len(root, (const char *const[]){"linux", "seccomp", "knownFlags", NULL}) == 0,
	   "seccomp lists (an empty list is kept as [])");
	ok(YAJL_IS_TRUE(path_get(root, (const char *const[]){"linux", "seccomp", "enabled", NULL})) &&
	       YAJL_IS_TRUE(path_get(root, (const char *const[]){"linux", "cgroup", "v2", NULL})) &&
	       YAJL_IS_FALSE(path_get(root, (const char *const[]){"linux", "cgroup", "v1", NULL})),
	   "flags");
	ok(path_get(root, (const char *const[]){"linux", "cgroup", "systemd", NULL}) == NULL &&
	       path_get(root, (const char *const[]){"linux", "intelRdt", NULL}) == NULL &&
	       path_get(root, (const char *const[]){"linux", "seccomp", "supportedFlags", NULL}) == NULL,
	   "unknown features are omitted");
	ok(YAJL_IS_FALSE(
	       path_get(root, (const char *const[]){"linux", "mountExtensions", "idmap", "enabled", NULL})) &&
	       YAJL_IS_FALSE(path_get(root, (const char *const[]){"linux", "apparmor", "enabled", NULL})),
	   "nested enabled objects");
	ok(strcmp(str_at(root, (const char *const[]){"annotations", "org.example.sm-runtime.version", NULL}),
		  "0.1.0") == 0,
	   "annotations");
	yajl_tree_free(root);
out:
	free(caps);
	free(ns);
	free(hooks);
	free(acts);
	free(ops);
	free(archs);
}

static void test_minimal(void)
{
	struct sm_oci_features_desc d = {.oci_version_min = "1.0.0", .oci_version_max = "1.2.0"};
	cleanup_free char *json = NULL;
	sm_error_t err = SM_ERROR_INIT;
	yajl_val root;

	ok(sm_oci_features_json(&d, &json, NULL, &err) == 0, "minimal features: %s", err.msg);
	root = json ? yajl_tree_parse(json, NULL, 0) : NULL;
	ok(YAJL_IS_OBJECT(root) && root->u.object.len == 2,
	   "only the two versions when nothing else is known");
	yajl_tree_free(root);
	d.oci_version_max = NULL;
	ok(sm_oci_features_json(&d, &json, NULL, &err) < 0 && strstr(err.msg, "ociVersionMax") != NULL,
	   "versions are required: %s", err.msg);
}

static void test_spec(void)
{
	cleanup_free char *json = NULL;
	struct sm_oci_config *cfg = NULL;
	sm_error_t err = SM_ERROR_INIT;
	size_t len = 0;

	ok(sm_oci_spec_default_json(&json, &len, &err) == 0, "spec: %s", err.msg);
	ok(json != NULL && strncmp(json, "{\n\t\"ociVersion\": \"1.2.0\",\n", 26) == 0 &&
	       json[len - 1] == '\n' && json[len - 2] == '}',
	   "pretty-printed with tabs, ends in a newline");
	ok(sm_oci_config_parse(json, len, "config.json", SM_OCI_PARSE_REQUIRE_PROCESS, &cfg, &err) == 0,
	   "default spec parses with the config parser: %s", err.msg);
	if (cfg == NULL)
		return;
	ok(cfg->process->terminal && cfg->process->args.n == 1 && strcmp(cfg->process->args.v[0], "sh") == 0,
	   "process.args [\"sh\"], terminal");
	ok(strcmp(cfg->root->path, "rootfs") == 0 && cfg->root->readonly, "root rootfs, read-only");
	ok(cfg->n_mounts == 7 && cfg->linux_cfg->n_namespaces == 6 && cfg->linux_cfg->masked_paths.n == 11,
	   "mounts, namespaces, masked paths");
	ok(cfg->process->capabilities->mask[SM_OCI_CAP_BOUNDING] ==
		   ((1ull << 29) | (1ull << 5) | (1ull << 10)) &&
	       !cfg->process->capabilities->present[SM_OCI_CAP_AMBIENT],
	   "default capabilities");
	ok(cfg->unknown.n == 0 && cfg->warnings.n == 0, "nothing unknown or warned");
	sm_oci_config_free(cfg);
}

int main(void)
{
	test_full();
	test_minimal();
	test_spec();
	return tap_done();
}
