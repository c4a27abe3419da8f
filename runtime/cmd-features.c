/* SPDX-License-Identifier: Apache-2.0 */
/* sm-runtime features: the runtime-spec features document, describing what is implemented. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "oci/features.h"
#include "runtime/commands.h"

/* runc's mount option names, all of which runtime/agent-spec.c maps for the guest (not idmap). */
static const char *const mount_options[] = {"acl",
					    "async",
					    "atime",
					    "bind",
					    "defaults",
					    "dev",
					    "diratime",
					    "dirsync",
					    "exec",
					    "iversion",
					    "lazytime",
					    "loud",
					    "mand",
					    "noacl",
					    "noatime",
					    "nodev",
					    "nodiratime",
					    "noexec",
					    "noiversion",
					    "nolazytime",
					    "nomand",
					    "norelatime",
					    "nostrictatime",
					    "nosuid",
					    "nosymfollow",
					    "rbind",
					    "relatime",
					    "remount",
					    "ro",
					    "rw",
					    "silent",
					    "strictatime",
					    "suid",
					    "sync",
					    "symfollow",
					    "tmpcopyup",
					    "private",
					    "rprivate",
					    "shared",
					    "rshared",
					    "slave",
					    "rslave",
					    "unbindable",
					    "runbindable",
					    "rro",
					    "rrw",
					    "rnosuid",
					    "rsuid",
					    "rnodev",
					    "rdev",
					    "rnoexec",
					    "rexec",
					    "rnodiratime",
					    "rdiratime",
					    "rrelatime",
					    "rnorelatime",
					    "rnoatime",
					    "ratime",
					    "rstrictatime",
					    "rnostrictatime",
					    "rnosymfollow",
					    "rsymfollow",
					    NULL};

/* startContainer would have to run inside the guest: refused (runtime/hooks.h). */
static const char *const hooks[] = {"prestart",	 "createRuntime", "createContainer",
				    "poststart", "poststop",	  NULL};
/* The network namespace is the VM's own; user and time namespaces are made in the guest. */
static const char *const namespaces[] = {"cgroup", "ipc",  "mount", "network", "pid",
					 "time",   "user", "uts",   NULL};
static const char *const seccomp_actions[] = {
    "SCMP_ACT_ALLOW",	     "SCMP_ACT_ERRNO",	     "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
    "SCMP_ACT_TRACE",	     "SCMP_ACT_TRAP",	     NULL};
static const char *const seccomp_archs[] = {"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", NULL};
static const char *const none[] = {NULL};

int cmd_features(int argc, char **argv, const struct sm_global_opts *g, sm_error_t *err)
{
	const char **caps = sm_oci_name_strings(sm_oci_capability_names);
	const char **ops = sm_oci_name_strings(sm_oci_seccomp_op_names);
	const char **flags = sm_oci_name_strings(sm_oci_seccomp_flag_names);
	cleanup_free char *json = NULL;
	size_t len;
	int r;

	(void)g;
	if (argc > 1) {
		free(caps);
		free(ops);
		free(flags);
		if (argv[1][0] == '-' && (argv[1][1] == 'h' || argv[1][2] == 'h')) {
			printf("usage: sm-runtime features\n\nPrint what this runtime implements (OCI "
			       "features JSON).\n");
			return 0;
		}
		return sm_error_set(err, 0, "features takes no arguments");
	}
	struct sm_oci_features_desc d = {
	    .oci_version_min = SM_OCI_VERSION_MIN,
	    .oci_version_max = SM_OCI_VERSION_MAX,
	    .hooks = hooks,
	    .mount_options = mount_options,
	    .has_linux = true,
	    .linux_ = {.namespaces = namespaces,
		       .capabilities = caps,
		       .seccomp_enabled = SM_OCI_YES,
		       .seccomp_actions = seccomp_actions,
		       .seccomp_operators = ops,
		       .seccomp_archs = seccomp_archs,
		       .seccomp_known_flags = flags,
		       .seccomp_supported_flags = flags,
		       .apparmor = SM_OCI_NO,
		       .selinux = SM_OCI_NO,
		       .intel_rdt = SM_OCI_NO,
		       .idmap_mounts = SM_OCI_NO,
		       .net_devices = SM_OCI_NO},
	    .potentially_unsafe_config_annotations = none,
	};
	r = sm_oci_features_json(&d, &json, &len, err);
	free(caps);
	free(ops);
	free(flags);
	if (r < 0)
		return r;
	printf("%s\n", json);
	return 0;
}
