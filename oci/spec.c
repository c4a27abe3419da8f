/* SPDX-License-Identifier: Apache-2.0 */
#include "oci/json.h"
#include "oci/spec.h"

struct default_mount {
	const char *destination, *type, *source;
	const char *const *options;
};

static const char *const dev_opts[] = {"nosuid", "strictatime", "mode=755", "size=65536k", NULL};
static const char *const pts_opts[] = {"nosuid",    "noexec", "newinstance", "ptmxmode=0666",
				       "mode=0620", "gid=5",  NULL};
static const char *const shm_opts[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL};
static const char *const mqueue_opts[] = {"nosuid", "noexec", "nodev", NULL};
static const char *const sys_opts[] = {"nosuid", "noexec", "nodev", "ro", NULL};
static const char *const cgroup_opts[] = {"nosuid", "noexec", "nodev", "relatime", "ro", NULL};

static const struct default_mount mounts[] = {
    {"/proc", "proc", "proc", NULL},
    {"/dev", "tmpfs", "tmpfs", dev_opts},
    {"/dev/pts", "devpts", "devpts", pts_opts},
    {"/dev/shm", "tmpfs", "shm", shm_opts},
    {"/dev/mqueue", "mqueue", "mqueue", mqueue_opts},
    {"/sys", "sysfs", "sysfs", sys_opts},
    {"/sys/fs/cgroup", "cgroup", "cgroup", cgroup_opts},
};

static const char *const default_caps[] = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", NULL};
static const char *const default_env[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
					  "TERM=xterm", NULL};
static const char *const default_ns[] = {"pid", "network", "ipc", "uts", "mount", "cgroup", NULL};
static const char *const masked[] = {"/proc/acpi",	    "/proc/asound",
				     "/proc/kcore",	    "/proc/keys",
				     "/proc/latency_stats", "/proc/timer_list",
				     "/proc/timer_stats",   "/proc/sched_debug",
				     "/sys/firmware",	    "/sys/devices/virtual/powercap",
				     "/proc/scsi",	    NULL};
static const char *const readonly[] = {"/proc/bus",	      "/proc/fs", "/proc/irq", "/proc/sys",
				       "/proc/sysrq-trigger", NULL};

static void gen_process(struct sm_jw *w)
{
	static const char *const args[] = {"sh", NULL};
	static const char *const sets[] = {"bounding", "effective", "permitted", NULL};

	sm_jw_key(w, "process");
	sm_jw_open(w, '{');
	sm_jw_key(w, "terminal");
	sm_jw_bool(w, true);
	sm_jw_key(w, "user");
	sm_jw_open(w, '{');
	sm_jw_key(w, "uid");
	sm_jw_int(w, 0);
	sm_jw_key(w, "gid");
	sm_jw_int(w, 0);
	sm_jw_close(w, '}');
	sm_jw_strs(w, "args", args);
	sm_jw_strs(w, "env", default_env);
	sm_jw_key(w, "cwd");
	sm_jw_str(w, "/");
	sm_jw_key(w, "capabilities");
	sm_jw_open(w, '{');
	for (const char *const *s = sets; *s != NULL; s++)
		sm_jw_strs(w, *s, default_caps);
	sm_jw_close(w, '}');
	sm_jw_key(w, "rlimits");
	sm_jw_open(w, '[');
	sm_jw_open(w, '{');
	sm_jw_key(w, "type");
	sm_jw_str(w, "RLIMIT_NOFILE");
	sm_jw_key(w, "hard");
	sm_jw_int(w, 1024);
	sm_jw_key(w, "soft");
	sm_jw_int(w, 1024);
	sm_jw_close(w, '}');
	sm_jw_close(w, ']');
	sm_jw_key(w, "noNewPrivileges");
	sm_jw_bool(w, true);
	sm_jw_close(w, '}');
}

static void gen_mounts(struct sm_jw *w)
{
	sm_jw_key(w, "mounts");
	sm_jw_open(w, '[');
	for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
		sm_jw_open(w, '{');
		sm_jw_key(w, "destination");
		sm_jw_str(w, mounts[i].destination);
		sm_jw_key(w, "type");
		sm_jw_str(w, mounts[i].type);
		sm_jw_key(w, "source");
		sm_jw_str(w, mounts[i].source);
		if (mounts[i].options != NULL)
			sm_jw_strs(w, "options", mounts[i].options);
		sm_jw_close(w, '}');
	}
	sm_jw_close(w, ']');
}

static void gen_linux(struct sm_jw *w)
{
	sm_jw_key(w, "linux");
	sm_jw_open(w, '{');
	sm_jw_key(w, "resources");
	sm_jw_open(w, '{');
	sm_jw_key(w, "devices");
	sm_jw_open(w, '[');
	sm_jw_open(w, '{');
	sm_jw_key(w, "allow");
	sm_jw_bool(w, false);
	sm_jw_key(w, "access");
	sm_jw_str(w, "rwm");
	sm_jw_close(w, '}');
	sm_jw_close(w, ']');
	sm_jw_close(w, '}');
	sm_jw_key(w, "namespaces");
	sm_jw_open(w, '[');
	for (const char *const *ns = default_ns; *ns != NULL; ns++) {
		sm_jw_open(w, '{');
		sm_jw_key(w, "type");
		sm_jw_str(w, *ns);
		sm_jw_close(w, '}');
	}
	sm_jw_close(w, ']');
	sm_jw_strs(w, "maskedPaths", masked);
	sm_jw_strs(w, "readonlyPaths", readonly);
	sm_jw_close(w, '}');
}

int sm_oci_spec_default_json(char **out, size_t *len, sm_error_t *err)
{
	struct sm_jw w;

	sm_jw_init(&w, true);
	sm_jw_open(&w, '{');
	sm_jw_key(&w, "ociVersion");
	sm_jw_str(&w, SM_OCI_VERSION_MAX);
	gen_process(&w);
	sm_jw_key(&w, "root");
	sm_jw_open(&w, '{');
	sm_jw_key(&w, "path");
	sm_jw_str(&w, "rootfs");
	sm_jw_key(&w, "readonly");
	sm_jw_bool(&w, true);
	sm_jw_close(&w, '}');
	sm_jw_key(&w, "hostname");
	sm_jw_str(&w, "sm-runtime");
	gen_mounts(&w);
	gen_linux(&w);
	sm_jw_close(&w, '}');
	return sm_jw_finish(&w, "spec", out, len, err);
}
