/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCI config -> CREATE/EXEC payload (see agent-spec.h). Mount option tables follow runc's
 * libcontainer/specconv (flags, propagation, recursive attributes); seccomp follows runc's
 * libcontainer/seccomp (action mapping, one rule per argument when indexes repeat, unknown
 * syscall names skipped, rules equal to the default action skipped).
 */
#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/proto-tags.h"
#include "common/util.h"
#include "oci/support.h"
#include "runtime/agent-spec.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif
/* MOUNT_ATTR_* (linux/mount.h), kernel ABI. */
#define ATTR_RDONLY 0x00000001ull
#define ATTR_NOSUID 0x00000002ull
#define ATTR_NODEV 0x00000004ull
#define ATTR_NOEXEC 0x00000008ull
#define ATTR__ATIME 0x00000070ull
#define ATTR_RELATIME 0x00000000ull
#define ATTR_NOATIME 0x00000010ull
#define ATTR_STRICTATIME 0x00000020ull
#define ATTR_NODIRATIME 0x00000080ull
#define ATTR_NOSYMFOLLOW 0x00200000ull
#define SECCOMP_FLAG_NEW_LISTENER (1u << 3)

static const struct {
	const char *name;
	bool clear;
	uint64_t flag;
} mount_flags[] = {
    {"acl", false, MS_POSIXACL},
    {"async", true, MS_SYNCHRONOUS},
    {"atime", true, MS_NOATIME},
    {"bind", false, MS_BIND},
    {"defaults", false, 0},
    {"dev", true, MS_NODEV},
    {"diratime", true, MS_NODIRATIME},
    {"dirsync", false, MS_DIRSYNC},
    {"exec", true, MS_NOEXEC},
    {"iversion", false, MS_I_VERSION},
    {"lazytime", false, MS_LAZYTIME},
    {"loud", true, MS_SILENT},
    {"mand", false, MS_MANDLOCK},
    {"noacl", true, MS_POSIXACL},
    {"noatime", false, MS_NOATIME},
    {"nodev", false, MS_NODEV},
    {"nodiratime", false, MS_NODIRATIME},
    {"noexec", false, MS_NOEXEC},
    {"noiversion", true, MS_I_VERSION},
    {"nolazytime", true, MS_LAZYTIME},
    {"nomand", true, MS_MANDLOCK},
    {"norelatime", true, MS_RELATIME},
    {"nostrictatime", true, MS_STRICTATIME},
    {"nosuid", false, MS_NOSUID},
    {"nosymfollow", false, MS_NOSYMFOLLOW},
    {"rbind", false, MS_BIND | MS_REC},
    {"relatime", false, MS_RELATIME},
    {"remount", false, 0}, /* every mount in the guest is a fresh one */
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"silent", false, MS_SILENT},
    {"strictatime", false, MS_STRICTATIME},
    {"suid", true, MS_NOSUID},
    {"sync", false, MS_SYNCHRONOUS},
    {"symfollow", true, MS_NOSYMFOLLOW},
    {"tmpcopyup", false, 0}, /* runc extension; the guest's tmpfs starts empty */
};

static const struct {
	const char *name;
	uint32_t flag;
} propagation_flags[] = {
    {"private", MS_PRIVATE},	   {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},	   {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},	   {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

static const struct {
	const char *name;
	bool clear;
	uint64_t attr;
} recursive_attrs[] = {
    {"rro", false, ATTR_RDONLY},
    {"rrw", true, ATTR_RDONLY},
    {"rnosuid", false, ATTR_NOSUID},
    {"rsuid", true, ATTR_NOSUID},
    {"rnodev", false, ATTR_NODEV},
    {"rdev", true, ATTR_NODEV},
    {"rnoexec", false, ATTR_NOEXEC},
    {"rexec", true, ATTR_NOEXEC},
    {"rnodiratime", false, ATTR_NODIRATIME},
    {"rdiratime", true, ATTR_NODIRATIME},
    {"rrelatime", false, ATTR_RELATIME},
    {"rnorelatime", true, ATTR_RELATIME},
    {"rnoatime", false, ATTR_NOATIME},
    {"ratime", true, ATTR_NOATIME},
    {"rstrictatime", false, ATTR_STRICTATIME},
    {"rnostrictatime", true, ATTR_STRICTATIME},
    {"rnosymfollow", false, ATTR_NOSYMFOLLOW},
    {"rsymfollow", true, ATTR_NOSYMFOLLOW},
};

static bool map_flag(const char *o, uint64_t *flags)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(mount_flags); i++) {
		if (strcmp(o, mount_flags[i].name) != 0)
			continue;
		if (mount_flags[i].clear)
			*flags &= ~mount_flags[i].flag;
		else
			*flags |= mount_flags[i].flag;
		return true;
	}
	return false;
}

static bool map_attr(const char *o, struct sm_agent_mount_opts *out)
{
	for (size_t i = 0; i < SM_ARRAY_SIZE(recursive_attrs); i++) {
		uint64_t attr = recursive_attrs[i].attr;

		if (strcmp(o, recursive_attrs[i].name) != 0)
			continue;
		if (recursive_attrs[i].clear) {
			out->attr_clr |= attr;
		} else {
			out->attr_set |= attr;
			/* mount_setattr(2): an access-time mode is set by also clearing the whole field. */
			if ((attr & ATTR__ATIME) == attr)
				out->attr_clr |= ATTR__ATIME;
		}
		return true;
	}
	return false;
}

int sm_agent_mount_options(const struct sm_oci_strv *options, struct sm_agent_mount_opts *out,
			   sm_error_t *err)
{
	struct sm_buf data = {0};

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < options->n; i++) {
		const char *o = options->v[i];
		bool prop = false;

		for (size_t j = 0; j < SM_ARRAY_SIZE(propagation_flags); j++) {
			if (strcmp(o, propagation_flags[j].name) == 0) {
				out->propagation = propagation_flags[j].flag;
				prop = true;
			}
		}
		if (prop || map_flag(o, &out->flags) || map_attr(o, out))
			continue;
		if (strcmp(o, "idmap") == 0 || strcmp(o, "ridmap") == 0) {
			sm_buf_free(&data);
			return sm_error_set(err, 0, "options[%zu]: %s is not supported", i, o);
		}
		if ((data.len && sm_buf_put(&data, ",", 1) < 0) || sm_buf_put(&data, o, strlen(o)) < 0)
			abort();
	}
	if (data.len) {
		if (sm_buf_put(&data, "", 1) < 0)
			abort();
		out->data = (char *)data.data;
	}
	return 0;
}

static int put_str(struct sm_buf *b, uint16_t tag, const char *s, sm_error_t *err)
{
	if (sm_tlv_put_str(b, tag, s) < 0)
		return sm_error_set(err, EMSGSIZE, "field %u does not fit in a request", tag);
	return 0;
}

/* Builders of fixed-size fields only fail on ENOMEM, which sm_buf turns into an abort here. */
static void put_u32(struct sm_buf *b, uint16_t tag, uint32_t v)
{
	if (sm_tlv_put_u32(b, tag, v) < 0)
		abort();
}

static void put_u64(struct sm_buf *b, uint16_t tag, uint64_t v)
{
	if (sm_tlv_put_u64(b, tag, v) < 0)
		abort();
}

static int put_nested(struct sm_buf *b, uint16_t tag, struct sm_buf *inner, sm_error_t *err)
{
	int r = sm_tlv_put(b, tag, inner->data, (uint32_t)inner->len);

	sm_buf_free(inner);
	return r < 0 ? sm_error_set(err, EMSGSIZE, "field %u does not fit in a request", tag) : 0;
}

static uint32_t scmp_action(int action, const struct sm_oci_u64 *ret)
{
	uint32_t e = ret->set ? (uint32_t)ret->val : EPERM;

	switch (action) {
	case SM_OCI_SCMP_ACT_KILL:
	case SM_OCI_SCMP_ACT_KILL_THREAD:
		return SCMP_ACT_KILL_THREAD;
	case SM_OCI_SCMP_ACT_KILL_PROCESS:
		return SCMP_ACT_KILL_PROCESS;
	case SM_OCI_SCMP_ACT_TRAP:
		return SCMP_ACT_TRAP;
	case SM_OCI_SCMP_ACT_ERRNO:
		return SCMP_ACT_ERRNO(e);
	case SM_OCI_SCMP_ACT_TRACE:
		return SCMP_ACT_TRACE(e);
	case SM_OCI_SCMP_ACT_LOG:
		return SCMP_ACT_LOG;
	case SM_OCI_SCMP_ACT_ALLOW:
	default:
		return SCMP_ACT_ALLOW;
	}
}

static enum scmp_compare scmp_op(int op)
{
	static const enum scmp_compare ops[] = {
	    [SM_OCI_SCMP_CMP_NE] = SCMP_CMP_NE,
	    [SM_OCI_SCMP_CMP_LT] = SCMP_CMP_LT,
	    [SM_OCI_SCMP_CMP_LE] = SCMP_CMP_LE,
	    [SM_OCI_SCMP_CMP_EQ] = SCMP_CMP_EQ,
	    [SM_OCI_SCMP_CMP_GE] = SCMP_CMP_GE,
	    [SM_OCI_SCMP_CMP_GT] = SCMP_CMP_GT,
	    [SM_OCI_SCMP_CMP_MASKED_EQ] = SCMP_CMP_MASKED_EQ,
	};
	return ops[op];
}

static struct scmp_arg_cmp scmp_arg(const struct sm_oci_seccomp_arg *a)
{
	return (struct scmp_arg_cmp){.arg = a->index,
				     .op = scmp_op(a->op),
				     .datum_a = a->value,
				     .datum_b = a->value_two.set ? a->value_two.val : 0};
}

static int add_syscall_rules(scmp_filter_ctx ctx, const struct sm_oci_syscall *s, size_t idx, uint32_t def,
			     sm_error_t *err)
{
	uint32_t action = scmp_action(s->action, &s->errno_ret);
	struct scmp_arg_cmp args[6];
	bool repeated = false;

	if (s->action == SM_OCI_SCMP_ACT_NOTIFY)
		return sm_error_set(err, 0, "linux.seccomp.syscalls[%zu]: SCMP_ACT_NOTIFY is not supported",
				    idx);
	if (action == def)
		return 0; /* libseccomp refuses a rule that repeats the default */
	if (s->n_args > 6)
		return sm_error_set(err, 0, "linux.seccomp.syscalls[%zu]: more than 6 args", idx);
	for (size_t i = 0; i < s->n_args; i++) {
		args[i] = scmp_arg(&s->args[i]);
		for (size_t j = 0; j < i; j++)
			repeated |= s->args[j].index == s->args[i].index;
	}
	for (size_t n = 0; n < s->names.n; n++) {
		int nr = seccomp_syscall_resolve_name(s->names.v[n]), r = 0;

		if (nr == __NR_SCMP_ERROR)
			continue;
		if (!repeated) {
			r = seccomp_rule_add_array(ctx, action, nr, (unsigned)s->n_args, args);
		} else {
			/* Two conditions on one argument cannot be one rule: libseccomp ANDs per argument. */
			for (size_t i = 0; i < s->n_args && r == 0; i++)
				r = seccomp_rule_add_array(ctx, action, nr, 1, &args[i]);
		}
		if (r < 0)
			return sm_error_set(err, -r, "linux.seccomp.syscalls[%zu]: %s", idx, s->names.v[n]);
	}
	return 0;
}

static int export_bpf(scmp_filter_ctx ctx, uint8_t **prog, size_t *len, sm_error_t *err)
{
	cleanup_close int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
	off_t size;
	int r;

	if (fd < 0)
		return sm_error_set(err, errno, "seccomp: memfd_create");
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return sm_error_set(err, -r, "seccomp: export the BPF program");
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % 8 != 0 || size > 4096 * 8)
		return sm_error_set(err, size < 0 ? errno : E2BIG, "seccomp: the BPF program has %lld bytes",
				    (long long)size);
	*prog = sm_xmalloc((size_t)size);
	if (pread(fd, *prog, (size_t)size, 0) != size) {
		free(*prog);
		*prog = NULL;
		return sm_error_set(err, errno, "seccomp: read the BPF program");
	}
	*len = (size_t)size;
	return 0;
}

int sm_agent_seccomp_compile(const struct sm_oci_seccomp *sc, uint8_t **prog, size_t *len, sm_error_t *err)
{
	uint32_t def = scmp_action(sc->default_action, &sc->default_errno_ret);
	scmp_filter_ctx ctx;
	int r = 0;

	if (sc->default_action == SM_OCI_SCMP_ACT_NOTIFY || sc->listener_path != NULL)
		return sm_error_set(err, 0, "linux.seccomp: notify listeners are not supported");
	ctx = seccomp_init(def);
	if (ctx == NULL)
		return sm_error_set(err, EINVAL, "linux.seccomp: seccomp_init");
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) < 0)
		r = sm_error_set(err, EINVAL, "linux.seccomp: clear the NNP attribute");
	for (size_t i = 0; r == 0 && i < sc->n_architectures; i++) {
		uint32_t arch = sc->architectures[i] == SM_OCI_SCMP_ARCH_X86   ? SCMP_ARCH_X86
				: sc->architectures[i] == SM_OCI_SCMP_ARCH_X32 ? SCMP_ARCH_X32
									       : 0;
		int ar = arch ? seccomp_arch_add(ctx, arch) : 0;
		if (ar < 0 && ar != -EEXIST)
			r = sm_error_set(err, -ar, "linux.seccomp.architectures[%zu]", i);
	}
	for (size_t i = 0; r == 0 && i < sc->n_syscalls; i++)
		r = add_syscall_rules(ctx, &sc->syscalls[i], i, def, err);
	if (r == 0)
		r = export_bpf(ctx, prog, len, err);
	seccomp_release(ctx);
	return r;
}

static void put_caps(struct sm_buf *b, const struct sm_oci_capabilities *caps)
{
	static const struct {
		int set;
		uint16_t tag;
	} sets[] = {
	    {SM_OCI_CAP_BOUNDING, SM_TAG_CAP_BOUNDING},	  {SM_OCI_CAP_EFFECTIVE, SM_TAG_CAP_EFFECTIVE},
	    {SM_OCI_CAP_PERMITTED, SM_TAG_CAP_PERMITTED}, {SM_OCI_CAP_INHERITABLE, SM_TAG_CAP_INHERITABLE},
	    {SM_OCI_CAP_AMBIENT, SM_TAG_CAP_AMBIENT},
	};
	for (size_t i = 0; i < SM_ARRAY_SIZE(sets); i++)
		put_u64(b, sets[i].tag, caps->present[sets[i].set] ? caps->mask[sets[i].set] : 0);
}

static int put_process(struct sm_buf *b, const struct sm_oci_process *p, const struct sm_oci_seccomp *seccomp,
		       bool exec, sm_error_t *err);

/* CLOCK_* ids of the timeOffsets clocks (time_namespaces(7) offsets only these). */
#define CLOCK_ID_MONOTONIC 1
#define CLOCK_ID_BOOTTIME 7
#define IOPRIO_CLASS_SHIFT 13

/* process.scheduler, ioPriority and (exec) execCPUAffinity, applied by the guest before execve. */
static int put_process_attrs(struct sm_buf *b, const struct sm_oci_process *p, bool exec, sm_error_t *err)
{
	const struct sm_oci_scheduler *s = p->scheduler;

	if (s != NULL) {
		struct sm_buf in = {0};

		put_u32(&in, SM_TAG_SCHED_POLICY, (uint32_t)s->policy);
		if (s->nice.set)
			put_u32(&in, SM_TAG_SCHED_NICE, (uint32_t)(int32_t)s->nice.val);
		if (s->priority.set)
			put_u32(&in, SM_TAG_SCHED_PRIORITY, (uint32_t)s->priority.val);
		if (s->flags)
			put_u64(&in, SM_TAG_SCHED_FLAGS, s->flags);
		if (s->runtime.set)
			put_u64(&in, SM_TAG_SCHED_RUNTIME, s->runtime.val);
		if (s->deadline.set)
			put_u64(&in, SM_TAG_SCHED_DEADLINE, s->deadline.val);
		if (s->period.set)
			put_u64(&in, SM_TAG_SCHED_PERIOD, s->period.val);
		if (put_nested(b, SM_TAG_SCHED, &in, err) < 0)
			return -1;
	}
	if (p->io_priority != NULL)
		put_u32(b, SM_TAG_IOPRIO,
			((uint32_t)p->io_priority->class_ << IOPRIO_CLASS_SHIFT) |
			    (uint32_t)p->io_priority->priority);
	/* runc applies execCPUAffinity to exec'd processes only, not to the container's first. */
	if (exec && p->exec_cpu_affinity != NULL) {
		const char *initial = p->exec_cpu_affinity->initial, *final = p->exec_cpu_affinity->final;

		if (initial != NULL && initial[0] != '\0' &&
		    put_str(b, SM_TAG_CPUS_INITIAL, initial, err) < 0)
			return sm_error_prefix(err, "process.execCPUAffinity.initial: ");
		if (final != NULL && final[0] != '\0' && put_str(b, SM_TAG_CPUS_FINAL, final, err) < 0)
			return sm_error_prefix(err, "process.execCPUAffinity.final: ");
	}
	return 0;
}

int sm_agent_spec_process(struct sm_buf *b, const struct sm_oci_process *p,
			  const struct sm_oci_seccomp *seccomp, sm_error_t *err)
{
	return put_process(b, p, seccomp, true, err);
}

static int put_process(struct sm_buf *b, const struct sm_oci_process *p, const struct sm_oci_seccomp *seccomp,
		       bool exec, sm_error_t *err)
{
	for (size_t i = 0; i < p->args.n; i++) {
		if (put_str(b, SM_TAG_ARG, p->args.v[i], err) < 0)
			return sm_error_prefix(err, "process.args[%zu]: ", i);
	}
	for (size_t i = 0; i < p->env.n; i++) {
		if (put_str(b, SM_TAG_ENV, p->env.v[i], err) < 0)
			return sm_error_prefix(err, "process.env[%zu]: ", i);
	}
	if (put_str(b, SM_TAG_CWD, p->cwd ? p->cwd : "/", err) < 0)
		return -1;
	put_u32(b, SM_TAG_UID, p->user.uid);
	put_u32(b, SM_TAG_GID, p->user.gid);
	for (size_t i = 0; i < p->user.n_additional_gids; i++)
		put_u32(b, SM_TAG_ADDITIONAL_GID, p->user.additional_gids[i]);
	if (p->user.umask.set)
		put_u32(b, SM_TAG_UMASK, (uint32_t)p->user.umask.val);
	if (p->terminal) {
		put_u32(b, SM_TAG_TERMINAL, 1);
		if (p->has_console_size) {
			put_u32(b, SM_TAG_ROWS, p->console_height);
			put_u32(b, SM_TAG_COLS, p->console_width);
		}
	}
	if (p->capabilities != NULL)
		put_caps(b, p->capabilities);
	for (size_t i = 0; i < p->n_rlimits; i++) {
		struct sm_buf rl = {0};
		put_u32(&rl, SM_TAG_RLIMIT_RESOURCE, (uint32_t)p->rlimits[i].resource);
		put_u64(&rl, SM_TAG_RLIMIT_SOFT, p->rlimits[i].soft);
		put_u64(&rl, SM_TAG_RLIMIT_HARD, p->rlimits[i].hard);
		if (put_nested(b, SM_TAG_RLIMIT, &rl, err) < 0)
			return -1;
	}
	if (p->no_new_privileges)
		put_u32(b, SM_TAG_NO_NEW_PRIVS, 1);
	if (p->oom_score_adj.set)
		put_u32(b, SM_TAG_OOM_SCORE_ADJ, (uint32_t)(int32_t)p->oom_score_adj.val);
	if (seccomp != NULL) {
		cleanup_free uint8_t *prog = NULL;
		size_t len = 0;

		if (seccomp->flags & SECCOMP_FLAG_NEW_LISTENER)
			return sm_error_set(err, 0,
					    "linux.seccomp.flags: notify listeners are not supported");
		if (sm_agent_seccomp_compile(seccomp, &prog, &len, err) < 0)
			return -1;
		if (sm_tlv_put(b, SM_TAG_SECCOMP_BPF, prog, (uint32_t)len) < 0)
			abort();
		put_u32(b, SM_TAG_SECCOMP_FLAGS, seccomp->flags);
	}
	return put_process_attrs(b, p, exec, err);
}

static int put_mount(struct sm_buf *b, const struct sm_oci_mount *m, size_t idx,
		     const struct sm_agent_spec_opts *o, sm_error_t *err)
{
	struct sm_agent_mount_opts mo;
	struct sm_buf in = {0};
	cleanup_free char *tag = NULL, *sub = NULL, *src = NULL;
	bool dax = false;
	int r;

	if (sm_agent_mount_options(&m->options, &mo, err) < 0)
		return sm_error_prefix(err, "mounts[%zu]: ", idx);
	if (m->type != NULL && strcmp(m->type, "bind") == 0)
		mo.flags |= MS_BIND;
	if (m->uid_mappings.n || m->gid_mappings.n) {
		free(mo.data);
		return sm_error_set(err, 0, "mounts[%zu]: uidMappings/gidMappings are not supported", idx);
	}
	if (m->source != NULL) {
		src = m->source[0] != '/' && (mo.flags & MS_BIND) && o->bundle
			  ? sm_xasprintf("%s/%s", o->bundle, m->source)
			  : sm_xstrdup(m->source);
	}
	if ((mo.flags & MS_BIND) && src != NULL && o->map_bind_source != NULL) {
		r = o->map_bind_source(o->opaque, src, &tag, &sub, &dax, err);
		if (r < 0) {
			free(mo.data);
			return sm_error_prefix(err, "mounts[%zu]: ", idx);
		}
	}
	put_str(&in, SM_TAG_MNT_DEST, m->destination, err);
	if (m->type != NULL)
		put_str(&in, SM_TAG_MNT_TYPE, m->type, err);
	if (tag != NULL) {
		put_str(&in, SM_TAG_MNT_SOURCE_TAG, tag, err);
		put_str(&in, SM_TAG_MNT_SOURCE, sub ? sub : "", err);
		if (dax)
			put_u32(&in, SM_TAG_MNT_DAX, 1);
	} else if (src != NULL) {
		put_str(&in, SM_TAG_MNT_SOURCE, src, err);
	}
	put_u64(&in, SM_TAG_MNT_FLAGS, mo.flags);
	if (mo.data != NULL)
		put_str(&in, SM_TAG_MNT_DATA, mo.data, err);
	if (mo.propagation)
		put_u32(&in, SM_TAG_MNT_PROPAGATION, mo.propagation);
	if (mo.attr_set)
		put_u64(&in, SM_TAG_MNT_ATTR_SET, mo.attr_set);
	if (mo.attr_clr)
		put_u64(&in, SM_TAG_MNT_ATTR_CLR, mo.attr_clr);
	free(mo.data);
	return put_nested(b, SM_TAG_MOUNT, &in, err);
}

static void put_device(struct sm_buf *b, const char *path, uint32_t type, uint32_t major, uint32_t minor,
		       uint32_t mode, uint32_t uid, uint32_t gid)
{
	struct sm_buf in = {0};

	if (sm_tlv_put_str(&in, SM_TAG_DEV_PATH, path) < 0)
		abort();
	put_u32(&in, SM_TAG_DEV_TYPE, type);
	put_u32(&in, SM_TAG_DEV_MAJOR, major);
	put_u32(&in, SM_TAG_DEV_MINOR, minor);
	put_u32(&in, SM_TAG_DEV_MODE, mode);
	put_u32(&in, SM_TAG_DEV_UID, uid);
	put_u32(&in, SM_TAG_DEV_GID, gid);
	if (sm_tlv_put(b, SM_TAG_DEVICE, in.data, (uint32_t)in.len) < 0)
		abort();
	sm_buf_free(&in);
}

/* runc's default devices, unless linux.devices has the same path; then linux.devices. */
/* hvc0 (HVC_MAJOR 229, minor 0), the guest's virtio console: the terminal with terminal_hvc. */
#define HVC0_MAJOR 229
#define HVC0_MINOR 0

static bool device_given(const struct sm_oci_linux *l, const char *path)
{
	for (size_t j = 0; l != NULL && j < l->n_devices; j++) {
		if (strcmp(l->devices[j].path, path) == 0)
			return true;
	}
	return false;
}

/*
 * The terminal's nodes in the container's /dev: /dev/hvc0 so that ttyname() finds the process's
 * terminal, and /dev/console as runc makes it (the container's terminal, not the guest kernel's).
 */
static void put_hvc_devices(struct sm_buf *b, const struct sm_oci_config *cfg)
{
	static const char *const paths[] = {"/dev/hvc0", "/dev/console"};

	for (size_t i = 0; i < SM_ARRAY_SIZE(paths); i++) {
		if (!device_given(cfg->linux_cfg, paths[i]))
			put_device(b, paths[i], S_IFCHR, HVC0_MAJOR, HVC0_MINOR, 0620, cfg->process->user.uid,
				   0);
	}
}

static void put_devices(struct sm_buf *b, const struct sm_oci_linux *l)
{
	static const struct {
		const char *path;
		uint32_t major, minor;
	} defaults[] = {{"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
			{"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0}};

	for (size_t i = 0; i < SM_ARRAY_SIZE(defaults); i++) {
		bool given = false;
		for (size_t j = 0; l != NULL && j < l->n_devices; j++)
			given |= strcmp(l->devices[j].path, defaults[i].path) == 0;
		if (!given)
			put_device(b, defaults[i].path, S_IFCHR, defaults[i].major, defaults[i].minor, 0666,
				   0, 0);
	}
	for (size_t j = 0; l != NULL && j < l->n_devices; j++) {
		const struct sm_oci_device *d = &l->devices[j];
		uint32_t type = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
		put_device(b, d->path, type, (uint32_t)d->major, (uint32_t)d->minor,
			   d->file_mode.set ? (uint32_t)d->file_mode.val & 07777 : 0666,
			   d->uid.set ? (uint32_t)d->uid.val : 0, d->gid.set ? (uint32_t)d->gid.val : 0);
	}
}

/* One nested UID_MAP/GID_MAP field per mapping, in config order. */
static void put_idmaps(struct sm_buf *b, uint16_t tag, const struct sm_oci_idmaps *maps)
{
	for (size_t i = 0; i < maps->n; i++) {
		struct sm_buf in = {0};

		put_u32(&in, SM_TAG_IDMAP_CONTAINER, maps->v[i].container_id);
		put_u32(&in, SM_TAG_IDMAP_HOST, maps->v[i].host_id);
		put_u32(&in, SM_TAG_IDMAP_SIZE, maps->v[i].size);
		if (sm_tlv_put(b, tag, in.data, (uint32_t)in.len) < 0)
			abort();
		sm_buf_free(&in);
	}
}

static int put_namespaces(struct sm_buf *b, const struct sm_oci_linux *l, sm_error_t *err)
{
	static const uint32_t flags[SM_OCI_NS_NTYPES] = {
	    [SM_OCI_NS_PID] = CLONE_NEWPID,   [SM_OCI_NS_IPC] = CLONE_NEWIPC,
	    [SM_OCI_NS_UTS] = CLONE_NEWUTS,   [SM_OCI_NS_CGROUP] = CLONE_NEWCGROUP,
	    [SM_OCI_NS_USER] = CLONE_NEWUSER, [SM_OCI_NS_TIME] = CLONE_NEWTIME,
	};
	bool own_net = false;
	uint32_t ns = 0;

	for (size_t i = 0; l != NULL && i < l->n_namespaces; i++) {
		const struct sm_oci_namespace *n = &l->namespaces[i];

		/* The VM is the network namespace (a path names a host one). */
		if (n->type == SM_OCI_NS_NETWORK) {
			own_net |= n->path == NULL;
			continue;
		}
		if (n->path != NULL)
			return sm_error_set(
			    err, 0, "linux.namespaces[%zu]: joining a namespace (%s) is not supported", i,
			    n->path);
		ns |= flags[n->type];
	}
	/*
	 * With a user namespace the guest creates the container's own network namespace too (the
	 * guest's has nothing more than loopback either), so that it belongs to the user namespace
	 * and sysfs can be mounted, as with runc.
	 */
	if ((ns & CLONE_NEWUSER) && own_net)
		ns |= CLONE_NEWNET;
	put_u32(b, SM_TAG_NAMESPACES, ns);
	if (ns & CLONE_NEWUSER) {
		if (l->uid_mappings.n == 0 || l->gid_mappings.n == 0)
			return sm_error_set(err, 0,
					    "linux.uidMappings, linux.gidMappings: required with a "
					    "user namespace");
		put_idmaps(b, SM_TAG_UID_MAP, &l->uid_mappings);
		put_idmaps(b, SM_TAG_GID_MAP, &l->gid_mappings);
	} else if (l != NULL && (l->uid_mappings.n > 0 || l->gid_mappings.n > 0)) {
		return sm_error_set(err, 0, "linux.uidMappings: given without a user namespace");
	}
	if (l->n_time_offsets > 0 && !(ns & CLONE_NEWTIME))
		return sm_error_set(err, 0, "linux.timeOffsets: given without a time namespace");
	for (size_t i = 0; i < l->n_time_offsets; i++) {
		const struct sm_oci_time_offset *t = &l->time_offsets[i];
		struct sm_buf in = {0};

		put_u32(&in, SM_TAG_TOFF_CLOCK,
			strcmp(t->clock, "boottime") == 0 ? CLOCK_ID_BOOTTIME : CLOCK_ID_MONOTONIC);
		put_u64(&in, SM_TAG_TOFF_SECS, (uint64_t)t->secs);
		put_u32(&in, SM_TAG_TOFF_NSECS, t->nanosecs);
		if (sm_tlv_put(b, SM_TAG_TIME_OFFSET, in.data, (uint32_t)in.len) < 0)
			abort();
		sm_buf_free(&in);
	}
	return 0;
}

static int put_root(struct sm_buf *b, const struct sm_oci_config *cfg, const struct sm_agent_spec_opts *o,
		    sm_error_t *err)
{
	cleanup_free char *path = NULL;

	if (o->rootfs_tag != NULL) {
		put_str(b, SM_TAG_ROOTFS_TAG, o->rootfs_tag, err);
		if (o->rootfs_dax)
			put_u32(b, SM_TAG_ROOTFS_DAX, 1);
	} else {
		if (o->rootfs_path != NULL)
			path = sm_xstrdup(o->rootfs_path);
		else if (cfg->root != NULL && cfg->root->path[0] == '/')
			path = sm_xstrdup(cfg->root->path);
		else if (cfg->root != NULL && o->bundle != NULL)
			path = sm_xasprintf("%s/%s", o->bundle, cfg->root->path);
		if (path == NULL || path[0] != '/')
			return sm_error_set(err, 0, "root.path: no absolute rootfs path (give the bundle)");
		if (put_str(b, SM_TAG_ROOTFS_PATH, path, err) < 0)
			return -1;
	}
	if (cfg->root != NULL && cfg->root->readonly)
		put_u32(b, SM_TAG_ROOT_READONLY, 1);
	if (o->no_pivot)
		put_u32(b, SM_TAG_NO_PIVOT, 1);
	return 0;
}

static int put_linux(struct sm_buf *b, const struct sm_oci_linux *l, sm_error_t *err)
{
	if (l->rootfs_propagation != NULL) {
		struct sm_oci_strv one = {.v = (char *[]){l->rootfs_propagation}, .n = 1};
		struct sm_agent_mount_opts mo;
		if (sm_agent_mount_options(&one, &mo, err) < 0 || mo.propagation == 0) {
			free(mo.data);
			return sm_error_set(err, 0, "linux.rootfsPropagation: %s", l->rootfs_propagation);
		}
		put_u32(b, SM_TAG_ROOTFS_PROPAGATION, mo.propagation);
	}
	for (size_t i = 0; i < l->sysctl.n; i++) {
		/* Accepted with a warning by the support pass: the guest has no such subsystem. */
		if (sm_oci_sysctl_ignored(l->sysctl.v[i].key))
			continue;
		cleanup_free char *kv = sm_xasprintf("%s=%s", l->sysctl.v[i].key, l->sysctl.v[i].value);
		if (put_str(b, SM_TAG_SYSCTL, kv, err) < 0)
			return -1;
	}
	/* The guest's own pids limit (the host's pids.max counts only the VMM's threads). */
	if (l->resources != NULL && l->resources->pids_limit.set && l->resources->pids_limit.val > 0)
		put_u64(b, SM_TAG_PIDS_LIMIT, (uint64_t)l->resources->pids_limit.val);
	/*
	 * The container's own memory limit in the guest, so that its processes are OOM-killed there,
	 * as under runc, long before the VMM reaches the host limit (docs/design/cgroups.md).
	 */
	if (l->resources != NULL && l->resources->memory != NULL && l->resources->memory->limit.set &&
	    l->resources->memory->limit.val > 0)
		put_u64(b, SM_TAG_MEMORY_LIMIT, (uint64_t)l->resources->memory->limit.val);
	for (size_t i = 0; i < l->masked_paths.n; i++) {
		if (put_str(b, SM_TAG_MASKED_PATH, l->masked_paths.v[i], err) < 0)
			return -1;
	}
	for (size_t i = 0; i < l->readonly_paths.n; i++) {
		if (put_str(b, SM_TAG_READONLY_PATH, l->readonly_paths.v[i], err) < 0)
			return -1;
	}
	return 0;
}

int sm_agent_spec_create(struct sm_buf *b, const struct sm_oci_config *cfg,
			 const struct sm_agent_spec_opts *opts, sm_error_t *err)
{
	static const struct sm_agent_spec_opts none = {0};
	const struct sm_agent_spec_opts *o = opts ? opts : &none;
	const struct sm_oci_linux *l = cfg->linux_cfg;

	if (cfg->process == NULL)
		return sm_error_set(err, 0, "config.json: process: required to create a container");
	if (put_root(b, cfg, o, err) < 0)
		return sm_error_prefix(err, "config.json: ");
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		if (put_mount(b, &cfg->mounts[i], i, o, err) < 0)
			return sm_error_prefix(err, "config.json: ");
	}
	if (cfg->hostname != NULL && put_str(b, SM_TAG_HOSTNAME, cfg->hostname, err) < 0)
		return -1;
	if (cfg->domainname != NULL && put_str(b, SM_TAG_DOMAINNAME, cfg->domainname, err) < 0)
		return -1;
	put_devices(b, l);
	if (o->terminal_hvc && cfg->process->terminal)
		put_hvc_devices(b, cfg);
	if (l != NULL && (put_namespaces(b, l, err) < 0 || put_linux(b, l, err) < 0))
		return sm_error_prefix(err, "config.json: ");
	if (put_process(b, cfg->process, l ? l->seccomp : NULL, false, err) < 0)
		return sm_error_prefix(err, "config.json: ");
	if (o->terminal_hvc && cfg->process->terminal)
		put_u32(b, SM_TAG_TERMINAL_HVC, 1);
	return 0;
}
