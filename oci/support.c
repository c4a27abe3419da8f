/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The honour-or-refuse pass (oci/support.h). Each rule here is a row of docs/config-mapping.md;
 * a field with no rule is honoured by the code the table names (runtime/agent-spec.c and the
 * guest agent, runtime/cgroup*.c, runtime/hooks.c, the virtio-fs shares).
 */
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "oci/support.h"

#define CAP_BIT_SYS_ADMIN 21
#define CAP_BIT_MKNOD 27
#define SECCOMP_FLAG_NEW_LISTENER (1u << 3)
#define ANN_VM_PREFIX "org.sm-runtime.vm."

struct ctx {
	const char *file;
	struct sm_oci_strv *warnings;
	sm_error_t *err;
};

/* Fail naming path (consumed: a malloc'd string) with the why of fmt. */
static int __attribute__((format(printf, 3, 4))) refuse(struct ctx *c, char *path, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	r = sm_error_set(c->err, 0, "%s: %s: not supported by sm-runtime: %s", c->file, path, why);
	free(path);
	return r;
}

/* Note that path (consumed) is accepted without effect, and why. */
static void __attribute__((format(printf, 3, 4))) warn(struct ctx *c, char *path, const char *fmt, ...)
{
	char why[512];
	char **v;
	va_list ap;

	if (c->warnings == NULL) {
		free(path);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	v = realloc(c->warnings->v, (c->warnings->n + 1) * sizeof(*v));
	if (v == NULL)
		abort();
	c->warnings->v = v;
	v[c->warnings->n++] = sm_xasprintf("%s: ignored: %s", path, why);
	free(path);
}

static bool strv_has(const struct sm_oci_strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++) {
		if (strcmp(sv->v[i], s) == 0)
			return true;
	}
	return false;
}

/* ---- top level ---- */

static int check_annotations(struct ctx *c, const struct sm_oci_config *cfg)
{
	static const char *const known[] = {"mem_mib", "vcpus", "dax_window_mib", "kernel"};

	for (size_t i = 0; i < cfg->annotations.n; i++) {
		const char *k = cfg->annotations.v[i].key;
		bool ok = false;

		if (strncmp(k, ANN_VM_PREFIX, strlen(ANN_VM_PREFIX)) != 0)
			continue;
		for (size_t j = 0; j < SM_ARRAY_SIZE(known); j++)
			ok |= strcmp(k + strlen(ANN_VM_PREFIX), known[j]) == 0;
		if (!ok)
			return refuse(c, sm_xasprintf("annotations[\"%s\"]", k),
				      "unknown VM annotation (known: " ANN_VM_PREFIX "mem_mib, vcpus, "
				      "dax_window_mib, kernel)");
	}
	return 0;
}

/* ---- mounts ---- */

/* File systems whose source is only a name: the guest kernel makes them without a device. */
static bool sourceless_fs(const char *type)
{
	static const char *const types[] = {
	    "proc",	"sysfs",   "tmpfs",   "devpts",	  "mqueue",	 "cgroup",     "cgroup2",
	    "ramfs",	"overlay", "debugfs", "tracefs",  "bpf",	 "securityfs", "hugetlbfs",
	    "configfs", "pstore",  "fusectl", "devtmpfs", "binfmt_misc", "none",
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(types); i++) {
		if (strcmp(type, types[i]) == 0)
			return true;
	}
	return false;
}

static bool mount_is_bind(const struct sm_oci_mount *m)
{
	return (m->type != NULL && strcmp(m->type, "bind") == 0) || strv_has(&m->options, "bind") ||
	       strv_has(&m->options, "rbind");
}

static int check_mount_option(struct ctx *c, const struct sm_oci_mount *m, size_t i, size_t j)
{
	static const char *const layer_keys[] = {"lowerdir=/", "upperdir=/", "workdir=/"};
	const char *o = m->options.v[j];

	if (strcmp(o, "idmap") == 0 || strcmp(o, "ridmap") == 0)
		return refuse(c, sm_xasprintf("mounts[%zu].options[%zu]", i, j),
			      "%s: id-mapped mounts are not implemented (the virtio-fs share would have "
			      "to map ids)",
			      o);
	if (strcmp(o, "tmpcopyup") == 0)
		return refuse(c, sm_xasprintf("mounts[%zu].options[%zu]", i, j),
			      "tmpcopyup: the guest agent does not copy the image's files into the tmpfs");
	for (size_t k = 0;
	     m->type != NULL && strcmp(m->type, "overlay") == 0 && k < SM_ARRAY_SIZE(layer_keys); k++) {
		if (strstr(o, layer_keys[k]) != NULL)
			return refuse(c, sm_xasprintf("mounts[%zu].options[%zu]", i, j),
				      "overlay layers are host paths, which the guest kernel cannot see "
				      "(mount the overlay on the host and bind it)");
	}
	return 0;
}

static int check_mounts(struct ctx *c, const struct sm_oci_config *cfg)
{
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		const struct sm_oci_mount *m = &cfg->mounts[i];

		if (m->uid_mappings.n > 0)
			return refuse(c, sm_xasprintf("mounts[%zu].uidMappings", i),
				      "id-mapped mounts are not implemented");
		if (m->gid_mappings.n > 0)
			return refuse(c, sm_xasprintf("mounts[%zu].gidMappings", i),
				      "id-mapped mounts are not implemented");
		for (size_t j = 0; j < m->options.n; j++) {
			if (check_mount_option(c, m, i, j) < 0)
				return -1;
		}
		if (!mount_is_bind(m) && m->type != NULL && !sourceless_fs(m->type) && m->source != NULL &&
		    m->source[0] == '/')
			return refuse(c, sm_xasprintf("mounts[%zu].source", i),
				      "`%s` (%s) is a host device or file, which the guest cannot reach (no "
				      "disk passthrough)",
				      m->source, m->type);
	}
	return 0;
}

/* ---- process ---- */

int sm_oci_check_process_supported(const struct sm_oci_process *p, const char *file, const char *prefix,
				   struct sm_oci_strv *warnings, sm_error_t *err)
{
	struct ctx c = {.file = file, .warnings = warnings, .err = err};

	/* scheduler and execCPUAffinity: applied in the guest (guest/agent/sched.c). */
	if (p->io_priority != NULL)
		return refuse(&c, sm_xasprintf("%sioPriority", prefix),
			      "the guest kernel is built without a block layer (CONFIG_BLOCK), so "
			      "ioprio_set(2) fails there with ENOSYS; the container's file I/O is done by "
			      "the VMM's virtio-fs threads on the host");
	if (p->user.username != NULL)
		warn(&c, sm_xasprintf("%suser.username", prefix), "a Windows-only field");
	if (p->command_line != NULL)
		warn(&c, sm_xasprintf("%scommandLine", prefix), "a Windows-only field");
	if (p->apparmor_profile != NULL && p->apparmor_profile[0] != '\0' &&
	    strcmp(p->apparmor_profile, "unconfined") != 0)
		warn(&c, sm_xasprintf("%sapparmorProfile", prefix),
		     "the guest kernel has no AppArmor; the VM boundary confines the container instead of "
		     "profile \"%.64s\"",
		     p->apparmor_profile);
	if (p->selinux_label != NULL && p->selinux_label[0] != '\0')
		warn(&c, sm_xasprintf("%sselinuxLabel", prefix),
		     "the guest kernel has no SELinux; the VM boundary confines the container instead");
	return 0;
}

/* ---- linux ---- */

/* Does path name a network namespace (nsfs, NS_GET_NSTYPE)? The spec wants a wrong type refused. */
static bool is_net_namespace(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int type;

	if (fd < 0)
		return false;
	type = ioctl(fd, NS_GET_NSTYPE);
	close(fd);
	return type == CLONE_NEWNET;
}

static int check_namespaces(struct ctx *c, const struct sm_oci_linux *l)
{
	bool network = false;

	for (size_t i = 0; l != NULL && i < l->n_namespaces; i++) {
		const struct sm_oci_namespace *n = &l->namespaces[i];
		const char *name = sm_oci_name_of(sm_oci_namespace_names, n->type);

		if (n->type == SM_OCI_NS_NETWORK) {
			network = true;
			if (n->path != NULL && !is_net_namespace(n->path))
				return refuse(c, sm_xasprintf("linux.namespaces[%zu].path", i),
					      "`%.200s` is not a network namespace", n->path);
			if (n->path != NULL)
				warn(c, sm_xasprintf("linux.namespaces[%zu].path", i),
				     "the host network namespace `%.200s` cannot be entered from the guest "
				     "kernel; the container has the VM's own network stack (no network "
				     "device yet)",
				     n->path);
			continue;
		}
		if (n->type == SM_OCI_NS_USER && n->path != NULL)
			return refuse(c, sm_xasprintf("linux.namespaces[%zu].path", i),
				      "`%.200s`: a user namespace of the host cannot be entered from the "
				      "guest kernel (leave out the path: the guest creates one with "
				      "linux.uidMappings/gidMappings)",
				      n->path);
		if (n->path != NULL)
			return refuse(c, sm_xasprintf("linux.namespaces[%zu].path", i),
				      "joining an existing %s namespace (another container's) would need "
				      "both containers in one VM",
				      name ? name : "?");
	}
	/* The guest has no network device yet, so "the host's network" and "its own" are both none. */
	if (!network)
		warn(c, sm_xstrdup("linux.namespaces"),
		     "no network namespace asks for the host's network, which a VM cannot share; the "
		     "container has the VM's own network stack (no network device yet)");
	return 0;
}

static bool guest_char_device(int64_t major, int64_t minor)
{
	switch (major) {
	case 1: /* mem: null, zero, full, random, urandom, kmsg */
		return minor == 3 || minor == 5 || minor == 7 || minor == 8 || minor == 9 || minor == 11;
	case 5: /* tty, console, ptmx */
		return minor >= 0 && minor <= 2;
	case 10: /* misc: hw_random, fuse */
		return minor == 183 || minor == 229;
	case 229: /* hvc, the virtio console */
		return true;
	default: /* 136..143: the pty slaves of devpts */
		return major >= 136 && major <= 143;
	}
}

static int check_devices(struct ctx *c, const struct sm_oci_linux *l)
{
	for (size_t i = 0; i < l->n_devices; i++) {
		const struct sm_oci_device *d = &l->devices[i];

		/* The guest kernel has no block layer: the node can still be made (mknod), not opened. */
		if (d->type == 'b')
			warn(c, sm_xasprintf("linux.devices[%zu]", i),
			     "block device %s (%lld:%lld): the guest has no block devices (no disk "
			     "passthrough); the node is created, opening it fails",
			     d->path, (long long)d->major, (long long)d->minor);
		/*
		 * The node is created as asked (that is what the field specifies), but the number
		 * names the guest kernel's device, which has no driver for it: say so.
		 */
		if ((d->type == 'c' || d->type == 'u') && !guest_char_device(d->major, d->minor))
			warn(c, sm_xasprintf("linux.devices[%zu]", i),
			     "the device behind %s (%lld:%lld): the guest kernel has none (no device "
			     "passthrough); the node is created, opening it fails",
			     d->path, (long long)d->major, (long long)d->minor);
	}
	return 0;
}

/* The device allow-list can only matter when the process can make or mount device nodes. */
static void check_device_rules(struct ctx *c, const struct sm_oci_resources *r,
			       const struct sm_oci_process *p)
{
	const struct sm_oci_capabilities *caps = p ? p->capabilities : NULL;
	uint64_t risky = (1ull << CAP_BIT_MKNOD) | (1ull << CAP_BIT_SYS_ADMIN);
	bool deny = false;

	for (size_t i = 0; i < r->n_devices; i++)
		deny |= !r->devices[i].allow;
	if (!deny)
		return;
	if (caps != NULL && caps->present[SM_OCI_CAP_BOUNDING] && !(caps->mask[SM_OCI_CAP_BOUNDING] & risky))
		return;
	warn(c, sm_xstrdup("linux.resources.devices"),
	     "no device cgroup in the guest: with CAP_MKNOD or CAP_SYS_ADMIN the container can reach "
	     "device nodes the rules deny, but only the VM's own virtual devices, never the host's");
}

static int check_resources(struct ctx *c, const struct sm_oci_resources *r, const struct sm_oci_process *p,
			   enum sm_oci_host_cgroup cg)
{
	check_device_rules(c, r, p);
	if (r->network != NULL)
		return refuse(c, sm_xstrdup("linux.resources.network"),
			      "net_cls/net_prio tag host sockets; the container's traffic leaves through "
			      "the VM");
	if (r->n_rdma > 0)
		return refuse(c, sm_xstrdup("linux.resources.rdma"), "the VM has no RDMA devices");
	if (cg == SM_OCI_HOST_CGROUP_V2 && r->cpu != NULL &&
	    (r->cpu->realtime_runtime.set || r->cpu->realtime_period.set))
		return refuse(c,
			      sm_xstrdup(r->cpu->realtime_runtime.set ? "linux.resources.cpu.realtimeRuntime"
								      : "linux.resources.cpu.realtimePeriod"),
			      "realtime group scheduling does not exist on cgroup v2");
	if (cg == SM_OCI_HOST_CGROUP_V2 && r->block_io != NULL) {
		if (r->block_io->leaf_weight.set)
			return refuse(c, sm_xstrdup("linux.resources.blockIO.leafWeight"),
				      "no cgroup v2 equivalent");
		for (size_t i = 0; i < r->block_io->n_weight_device; i++) {
			if (r->block_io->weight_device[i].leaf_weight.set)
				return refuse(
				    c,
				    sm_xasprintf("linux.resources.blockIO.weightDevice[%zu].leafWeight", i),
				    "no cgroup v2 equivalent");
		}
	}
	if (cg == SM_OCI_HOST_CGROUP_V1 && r->unified.n > 0)
		return refuse(c, sm_xstrdup("linux.resources.unified"),
			      "the host has no cgroup v2 hierarchy");
	if (r->n_hugepage_limits > 0)
		warn(c, sm_xstrdup("linux.resources.hugepageLimits"),
		     "guest huge pages come out of guest RAM, which the host memory limit already bounds");
	return 0;
}

bool sm_oci_sysctl_ignored(const char *key)
{
	static const char *const prefixes[] = {"net.ipv4.", "net.ipv6.", "net/ipv4/", "net/ipv6/"};

	for (size_t i = 0; i < SM_ARRAY_SIZE(prefixes); i++) {
		if (strncmp(key, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	}
	return false;
}

static int check_seccomp(struct ctx *c, const struct sm_oci_seccomp *s)
{
	const char *notify = "seccomp notifications come from the guest kernel and cannot reach a "
			     "host listener";

	if (s->listener_path != NULL)
		return refuse(c, sm_xstrdup("linux.seccomp.listenerPath"), "%s", notify);
	if (s->default_action == SM_OCI_SCMP_ACT_NOTIFY)
		return refuse(c, sm_xstrdup("linux.seccomp.defaultAction"), "SCMP_ACT_NOTIFY: %s", notify);
	if (s->flags & SECCOMP_FLAG_NEW_LISTENER)
		return refuse(c, sm_xstrdup("linux.seccomp.flags"), "SECCOMP_FILTER_FLAG_NEW_LISTENER: %s",
			      notify);
	for (size_t i = 0; i < s->n_syscalls; i++) {
		if (s->syscalls[i].action == SM_OCI_SCMP_ACT_NOTIFY)
			return refuse(c, sm_xasprintf("linux.seccomp.syscalls[%zu].action", i),
				      "SCMP_ACT_NOTIFY: %s", notify);
	}
	return 0;
}

static int check_cgroups_path(struct ctx *c, const struct sm_oci_linux *l, bool systemd)
{
	const char *p = l->cgroups_path;
	size_t colons = 0;

	if (!systemd || p == NULL || p[0] == '\0')
		return 0;
	for (const char *s = p; *s; s++)
		colons += *s == ':';
	if (colons != 2)
		return refuse(c, sm_xstrdup("linux.cgroupsPath"),
			      "\"%.200s\": with --systemd-cgroup the path must be \"slice:prefix:name\"", p);
	return 0;
}

static bool has_namespace(const struct sm_oci_linux *l, int type)
{
	for (size_t i = 0; i < l->n_namespaces; i++) {
		if (l->namespaces[i].type == type)
			return true;
	}
	return false;
}

#define IDMAP_LINES_MAX 340 /* the kernel's limit of lines in a uid_map or gid_map */

/* A user namespace (created in the guest) needs both mappings; mappings need the namespace. */
static int check_idmaps(struct ctx *c, const struct sm_oci_linux *l)
{
	bool userns = false;

	for (size_t i = 0; i < l->n_namespaces; i++)
		userns |= l->namespaces[i].type == SM_OCI_NS_USER;
	if (!userns && (l->uid_mappings.n > 0 || l->gid_mappings.n > 0))
		return refuse(c, sm_xstrdup(l->uid_mappings.n ? "linux.uidMappings" : "linux.gidMappings"),
			      "given without a user namespace in linux.namespaces");
	if (userns && (l->uid_mappings.n == 0 || l->gid_mappings.n == 0))
		return refuse(c, sm_xstrdup(l->uid_mappings.n ? "linux.gidMappings" : "linux.uidMappings"),
			      "required with a user namespace (the guest kernel needs both maps)");
	if (l->uid_mappings.n > IDMAP_LINES_MAX || l->gid_mappings.n > IDMAP_LINES_MAX)
		return refuse(c,
			      sm_xstrdup(l->uid_mappings.n > IDMAP_LINES_MAX ? "linux.uidMappings"
									     : "linux.gidMappings"),
			      "more than %d mappings (the kernel's limit)", IDMAP_LINES_MAX);
	return 0;
}

static int check_linux(struct ctx *c, const struct sm_oci_config *cfg, const struct sm_oci_support_opts *o)
{
	const struct sm_oci_linux *l = cfg->linux_cfg;

	if (check_namespaces(c, l) < 0)
		return -1;
	if (l == NULL)
		return 0;
	if (check_idmaps(c, l) < 0)
		return -1;
	if (l->n_time_offsets > 0 && !has_namespace(l, SM_OCI_NS_TIME))
		return refuse(c, sm_xstrdup("linux.timeOffsets"),
			      "given without a time namespace in linux.namespaces (as runc refuses it)");
	if (check_devices(c, l) < 0 || check_cgroups_path(c, l, o->systemd_cgroup) < 0)
		return -1;
	if (l->resources != NULL && check_resources(c, l->resources, cfg->process, o->cgroup) < 0)
		return -1;
	if (l->intel_rdt != NULL)
		return refuse(c, sm_xstrdup("linux.intelRdt"),
			      "resctrl groups for the VMM are not implemented");
	for (size_t i = 0; i < l->sysctl.n; i++) {
		if (sm_oci_sysctl_ignored(l->sysctl.v[i].key))
			warn(c, sm_xasprintf("linux.sysctl[\"%s\"]", l->sysctl.v[i].key),
			     "the guest kernel has no IP stack");
	}
	if (l->seccomp != NULL && check_seccomp(c, l->seccomp) < 0)
		return -1;
	if (l->mount_label != NULL && l->mount_label[0] != '\0')
		warn(c, sm_xstrdup("linux.mountLabel"), "the guest kernel has no SELinux");
	if (l->personality != NULL && l->personality->domain != SM_OCI_PER_LINUX)
		return refuse(c, sm_xstrdup("linux.personality.domain"),
			      "LINUX32: the guest kernel has no 32-bit emulation");
	return 0;
}

/* ---- properties runtime-spec 1.2 does not define ---- */

static int check_unknown(struct ctx *c, const struct sm_oci_config *cfg, bool strict)
{
	static const struct {
		const char *path, *why;
	} known_unsupported[] = {
	    {"vm", "sm-runtime's VM is its own (set the kernel with the annotation " ANN_VM_PREFIX "kernel)"},
	    {"linux.netDevices", "moving host network interfaces into the VM is not implemented"},
	    {"linux.memoryPolicy", "NUMA memory policies are not applied in the guest"},
	    {"linux.intelRdt.schemata", "resctrl groups for the VMM are not implemented"},
	    {"linux.intelRdt.enableMonitoring", "resctrl groups for the VMM are not implemented"},
	};
	static const char *const other_platforms[] = {"solaris", "windows", "zos"};

	for (size_t i = 0; i < cfg->unknown.n; i++) {
		const char *u = cfg->unknown.v[i];
		bool skip = false;

		for (size_t j = 0; j < SM_ARRAY_SIZE(known_unsupported); j++) {
			if (strcmp(u, known_unsupported[j].path) == 0)
				return refuse(c, sm_xstrdup(u), "%s", known_unsupported[j].why);
		}
		/* Other platforms' sections: runc ignores them on Linux, so does sm-runtime, quietly. */
		for (size_t j = 0; j < SM_ARRAY_SIZE(other_platforms); j++)
			skip |= strcmp(u, other_platforms[j]) == 0;
		if (skip)
			continue;
		if (strict)
			return refuse(c, sm_xstrdup(u), "not a property of runtime-spec %s",
				      SM_OCI_VERSION_MAX);
		warn(c, sm_xstrdup(u),
		     "not a property of runtime-spec %s (unknown properties are ignored, as "
		     "the spec requires)",
		     SM_OCI_VERSION_MAX);
	}
	return 0;
}

int sm_oci_check_supported(const struct sm_oci_config *cfg, const struct sm_oci_support_opts *opts,
			   struct sm_oci_strv *warnings, sm_error_t *err)
{
	static const struct sm_oci_support_opts defaults = {0};
	const struct sm_oci_support_opts *o = opts ? opts : &defaults;
	struct ctx c = {.file = "config.json", .warnings = warnings, .err = err};

	if (check_annotations(&c, cfg) < 0 || check_mounts(&c, cfg) < 0)
		return -1;
	if (cfg->process != NULL &&
	    sm_oci_check_process_supported(cfg->process, c.file, "process.", warnings, err) < 0)
		return -1;
	if (cfg->hooks[SM_OCI_HOOK_START_CONTAINER].n > 0)
		return refuse(&c, sm_xstrdup("hooks.startContainer"),
			      "these hooks run inside the container, i.e. in the guest, where the agent "
			      "cannot run them yet");
	if (check_linux(&c, cfg, o) < 0 || check_unknown(&c, cfg, o->refuse_unknown) < 0)
		return -1;
	return 0;
}
