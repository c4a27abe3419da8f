/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CREATE/EXEC payloads: config.json -> runtime/agent-spec.c -> frame -> guest/agent/spec.c, and the
 * field-by-field checks of the agent's decoder.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/proto-tags.h"
#include "common/proto.h"
#include "common/util.h"
#include "guest/agent/agent-internal.h"
#include "guest/agent/child.h"
#include "guest/agent/spec.h"
#include "oci/config.h"
#include "runtime/agent-client.h"
#include "runtime/agent-spec.h"
#include "runtime/monitor-proto.h"
#include "tests/tap.h"

static const char config[] =
    "{\"ociVersion\": \"1.2.0\","
    " \"root\": {\"path\": \"rootfs\", \"readonly\": true},"
    " \"hostname\": \"box\", \"domainname\": \"example.org\","
    " \"process\": {\"terminal\": true, \"consoleSize\": {\"height\": 40, \"width\": 120},"
    "   \"user\": {\"uid\": 1000, \"gid\": 1001, \"umask\": 63, \"additionalGids\": [5, 6]},"
    "   \"args\": [\"sh\", \"-c\", \"echo hi\"], \"env\": [\"PATH=/bin\", \"A=b=c\"], \"cwd\": \"/work\","
    "   \"capabilities\": {\"bounding\": [\"CAP_KILL\", \"CAP_CHOWN\"], \"effective\": [\"CAP_KILL\"],"
    "     \"permitted\": [\"CAP_KILL\"]},"
    "   \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 2048, \"soft\": 1024}],"
    "   \"noNewPrivileges\": true, \"oomScoreAdj\": -17},"
    " \"mounts\": ["
    "  {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},"
    "  {\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"/srv/data\","
    "   \"options\": [\"rbind\", \"ro\", \"nosuid\", \"rprivate\", \"rnoexec\"]},"
    "  {\"destination\": \"/tmp\", \"type\": \"tmpfs\", \"source\": \"tmpfs\","
    "   \"options\": [\"nodev\", \"mode=1777\", \"size=1m\"]}],"
    " \"linux\": {\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"uts\"}, {\"type\": \"mount\"},"
    "   {\"type\": \"network\"}],"
    "   \"devices\": [{\"path\": \"/dev/fuse\", \"type\": \"c\", \"major\": 10, \"minor\": 229,"
    "     \"fileMode\": 438, \"uid\": 0, \"gid\": 0}],"
    "   \"sysctl\": {\"kernel.msgmax\": \"8192\", \"net.ipv4.ip_forward\": \"1\"},"
    "   \"maskedPaths\": [\"/proc/kcore\"], \"readonlyPaths\": [\"/proc/sys\"],"
    "   \"rootfsPropagation\": \"rslave\","
    "   \"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_X86_64\"],"
    "     \"syscalls\": [{\"names\": [\"mkdir\", \"mkdirat\", \"no_such_syscall\"],"
    "       \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 1}]}}}";

static const struct sm_agent_mount *find_mount(const struct sm_agent_container *c, const char *dest)
{
	for (size_t i = 0; i < c->n_mounts; i++) {
		if (strcmp(c->mounts[i].dest, dest) == 0)
			return &c->mounts[i];
	}
	return NULL;
}

static const struct sm_agent_device *find_device(const struct sm_agent_container *c, const char *path)
{
	for (size_t i = 0; i < c->n_devices; i++) {
		if (strcmp(c->devices[i].path, path) == 0)
			return &c->devices[i];
	}
	return NULL;
}

static void check_process(const struct sm_agent_process *p)
{
	ok(p->args.n == 3 && strcmp(p->args.v[2], "echo hi") == 0 && p->args.v[3] == NULL, "args in order");
	ok(p->env.n == 2 && strcmp(p->env.v[1], "A=b=c") == 0, "env");
	ok(strcmp(p->cwd, "/work") == 0, "cwd");
	ok(p->uid == 1000 && p->gid == 1001 && p->umask == 077, "uid, gid, umask");
	ok(p->n_gids == 2 && p->gids[0] == 5 && p->gids[1] == 6, "additionalGids");
	ok(p->terminal && p->rows == 40 && p->cols == 120, "terminal and console size");
	ok(p->has_caps && p->caps[SM_AGENT_CAP_BOUNDING] == ((1ull << 5) | (1ull << 0)) &&
	       p->caps[SM_AGENT_CAP_EFFECTIVE] == (1ull << 5) && p->caps[SM_AGENT_CAP_AMBIENT] == 0,
	   "capability sets (absent ambient = empty)");
	ok(p->n_rlimits == 1 && p->rlimits[0].resource == RLIMIT_NOFILE && p->rlimits[0].soft == 1024 &&
	       p->rlimits[0].hard == 2048,
	   "rlimits");
	ok(p->no_new_privs && p->has_oom_score_adj && p->oom_score_adj == -17,
	   "noNewPrivileges, oomScoreAdj");
	ok(p->seccomp_bpf != NULL && p->seccomp_len > 0 && p->seccomp_len % 8 == 0,
	   "seccomp program (%zu bytes)", p->seccomp_len);
}

static void check_container(const struct sm_agent_container *c)
{
	const struct sm_agent_mount *m;
	const struct sm_agent_device *d;

	ok(c->rootfs_path != NULL && strcmp(c->rootfs_path, "/bundle/rootfs") == 0 && c->rootfs_tag == NULL,
	   "relative root.path resolved against the bundle");
	ok(c->root_readonly && !c->no_pivot, "root.readonly");
	ok(c->rootfs_propagation == (MS_SLAVE | MS_REC), "rootfsPropagation rslave");
	ok(strcmp(c->hostname, "box") == 0 && strcmp(c->domainname, "example.org") == 0,
	   "hostname, domainname");
	ok(c->namespaces == (CLONE_NEWPID | CLONE_NEWUTS),
	   "namespaces: pid, uts (network and mount implied)");
	ok(c->n_mounts == 3, "three mounts");
	m = find_mount(c, "/data");
	ok(m != NULL &&
	       (m->flags & (MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID)) ==
		   (MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID) &&
	       m->propagation == (MS_PRIVATE | MS_REC) && m->attr_set == 0x8 &&
	       strcmp(m->source, "/srv/data") == 0,
	   "bind mount flags, propagation, recursive noexec");
	m = find_mount(c, "/tmp");
	ok(m != NULL && m->flags == MS_NODEV && m->data != NULL && strcmp(m->data, "mode=1777,size=1m") == 0,
	   "tmpfs flags and data");
	d = find_device(c, "/dev/fuse");
	ok(d != NULL && d->type == S_IFCHR && d->major == 10 && d->minor == 229 && d->mode == 0666,
	   "linux.devices entry");
	d = find_device(c, "/dev/null");
	ok(d != NULL && d->major == 1 && d->minor == 3, "default device /dev/null added");
	ok(c->sysctls.n == 1 && strcmp(c->sysctls.v[0], "kernel.msgmax=8192") == 0,
	   "sysctl sent; net.ipv4 (no IP stack in the guest) skipped");
	ok(c->masked_paths.n == 1 && c->readonly_paths.n == 1, "masked and readonly paths");
}

static void test_roundtrip(void)
{
	struct sm_agent_spec_opts opts = {.bundle = "/bundle"};
	struct sm_oci_config *cfg = NULL;
	sm_error_t err = SM_ERROR_INIT;
	struct sm_buf b = {0};
	struct sm_agent_container c;
	struct sm_agent_process p;
	struct sm_frame_hdr h;
	size_t off;

	if (!ok(sm_oci_config_parse(config, sizeof(config) - 1, "config.json", SM_OCI_PARSE_REQUIRE_PROCESS,
				    &cfg, &err) == 0,
		"parse the config: %s", err.msg))
		return;
	off = sm_frame_begin(&b, SM_MSG_CREATE, 1);
	ok(sm_agent_spec_create(&b, cfg, &opts, &err) == 0, "encode CREATE: %s", err.msg);
	memset(&h, 0, sizeof(h));
	ok(sm_frame_end(&b, off) == 0 && sm_frame_hdr_decode(b.data, &h) == 0 && h.type == SM_MSG_CREATE &&
	       h.len == b.len - SM_PROTO_HDR_SIZE,
	   "framed (%zu bytes)", b.len - SM_PROTO_HDR_SIZE);
	ok(sm_agent_process_decode(b.data + SM_PROTO_HDR_SIZE, h.len, &p, &err) == 0, "decode process: %s",
	   err.msg);
	check_process(&p);
	ok(sm_agent_container_decode(b.data + SM_PROTO_HDR_SIZE, h.len, &c, &err) == 0,
	   "decode container: %s", err.msg);
	check_container(&c);
	sm_agent_process_free(&p);
	sm_agent_container_free(&c);
	sm_buf_free(&b);
	sm_oci_config_free(cfg);
}

static int map_to_share(void *opaque, const char *source, char **tag, char **subpath, bool *dax,
			sm_error_t *err)
{
	(void)opaque;
	(void)err;
	if (strncmp(source, "/srv/", 5) != 0)
		return 0;
	*tag = strdup("share0");
	*subpath = strdup(source + 5);
	*dax = true;
	return 1;
}

static void test_virtiofs_strategy(void)
{
	struct sm_agent_spec_opts opts = {
	    .rootfs_tag = "rootfs", .rootfs_dax = true, .map_bind_source = map_to_share};
	struct sm_oci_config *cfg = NULL;
	sm_error_t err = SM_ERROR_INIT;
	struct sm_agent_container c;
	struct sm_buf b = {0};
	const struct sm_agent_mount *m;

	sm_oci_config_parse(config, sizeof(config) - 1, "config.json", 0, &cfg, &err);
	ok(cfg != NULL && sm_agent_spec_create(&b, cfg, &opts, &err) == 0, "encode with virtio-fs tags: %s",
	   err.msg);
	ok(sm_agent_container_decode(b.data, b.len, &c, &err) == 0, "decode: %s", err.msg);
	ok(c.rootfs_tag != NULL && strcmp(c.rootfs_tag, "rootfs") == 0 && c.rootfs_dax &&
	       c.rootfs_path == NULL,
	   "rootfs from a tag, with DAX");
	m = find_mount(&c, "/data");
	ok(m != NULL && m->source_tag != NULL && strcmp(m->source_tag, "share0") == 0 &&
	       strcmp(m->source, "data") == 0 && m->dax,
	   "bind source mapped to a share and subpath");
	sm_agent_container_free(&c);
	sm_buf_free(&b);
	sm_oci_config_free(cfg);
}

static void test_mount_options(void)
{
	char *o1[] = {"rw", "ro", "nosuid", "nodev", "noexec", "relatime", "rshared"};
	char *o2[] = {"rro", "rnoatime", "rsuid", "size=10", "uid=5"};
	char *o3[] = {"bind", "idmap"};
	struct sm_oci_strv s1 = {o1, 7}, s2 = {o2, 5}, s3 = {o3, 2};
	struct sm_agent_mount_opts mo;
	sm_error_t err = SM_ERROR_INIT;

	ok(sm_agent_mount_options(&s1, &mo, &err) == 0 &&
	       mo.flags == (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME) &&
	       mo.propagation == (MS_SHARED | MS_REC) && mo.data == NULL,
	   "flags in order (ro after rw wins), rshared");
	free(mo.data);
	ok(sm_agent_mount_options(&s2, &mo, &err) == 0 && mo.attr_set == (0x1 | 0x10) &&
	       (mo.attr_clr & 0x70) == 0x70 && (mo.attr_clr & 0x2) && mo.data != NULL &&
	       strcmp(mo.data, "size=10,uid=5") == 0,
	   "recursive attributes (atime field cleared) and data");
	free(mo.data);
	ok(sm_agent_mount_options(&s3, &mo, &err) < 0 && strstr(err.msg, "idmap") != NULL,
	   "idmap refused: %s", err.msg);
}

static void put_str(struct sm_buf *b, uint16_t tag, const char *s)
{
	sm_tlv_put_str(b, tag, s);
}

static void test_decoder_errors(void)
{
	struct sm_agent_process p;
	struct sm_agent_container c;
	sm_error_t err = SM_ERROR_INIT;
	struct sm_buf b = {0};
	uint8_t bad_bpf[12] = {0};

	put_str(&b, SM_TAG_ARG, "true");
	ok(sm_agent_process_decode(b.data, b.len, &p, &err) < 0 && strstr(err.msg, "cwd") != NULL,
	   "missing cwd: %s", err.msg);
	sm_agent_process_free(&p);
	put_str(&b, SM_TAG_CWD, "/");
	ok(sm_agent_process_decode(b.data, b.len, &p, &err) == 0, "args + cwd is enough");
	sm_agent_process_free(&p);
	ok(sm_agent_process_decode(b.data, b.len - 1, &p, &err) < 0, "truncated field refused: %s", err.msg);
	sm_agent_process_free(&p);
	put_str(&b, SM_TAG_ENV, "NOEQUALS");
	ok(sm_agent_process_decode(b.data, b.len, &p, &err) < 0 && strstr(err.msg, "NOEQUALS") != NULL,
	   "env without '=' refused: %s", err.msg);
	sm_agent_process_free(&p);
	sm_buf_free(&b);

	put_str(&b, SM_TAG_ARG, "true");
	put_str(&b, SM_TAG_CWD, "/");
	sm_tlv_put(&b, SM_TAG_SECCOMP_BPF, bad_bpf, sizeof(bad_bpf));
	ok(sm_agent_process_decode(b.data, b.len, &p, &err) < 0 && strstr(err.msg, "seccomp") != NULL,
	   "seccomp program of 12 bytes refused: %s", err.msg);
	sm_agent_process_free(&p);
	sm_buf_free(&b);

	put_str(&b, SM_TAG_ROOTFS_TAG, "a");
	put_str(&b, SM_TAG_ROOTFS_PATH, "/b");
	ok(sm_agent_container_decode(b.data, b.len, &c, &err) < 0, "tag and path both given: %s", err.msg);
	sm_agent_container_free(&c);
	sm_buf_free(&b);

	put_str(&b, SM_TAG_ROOTFS_PATH, "/b");
	sm_tlv_put_u32(&b, SM_TAG_NAMESPACES, CLONE_NEWUSER);
	ok(sm_agent_container_decode(b.data, b.len, &c, &err) < 0, "user namespace flag refused: %s",
	   err.msg);
	sm_agent_container_free(&c);
	sm_buf_free(&b);

	put_str(&b, SM_TAG_ROOTFS_PATH, "/b");
	sm_tlv_put(&b, SM_TAG_MOUNT, "\x60\x00\x02\x00\x00\x00xx", 8);
	ok(sm_agent_container_decode(b.data, b.len, &c, &err) < 0 && strstr(err.msg, "mounts[0]") != NULL,
	   "relative mount destination refused: %s", err.msg);
	sm_agent_container_free(&c);
	sm_buf_free(&b);
}

static void test_seccomp_compile(void)
{
	static const char sc[] =
	    "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"/\"},"
	    " \"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 38,"
	    "  \"architectures\": [\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_X86\", \"SCMP_ARCH_X32\", "
	    "\"SCMP_ARCH_AARCH64\"],"
	    "  \"syscalls\": [{\"names\": [\"read\", \"write\"], \"action\": \"SCMP_ACT_ALLOW\"},"
	    "   {\"names\": [\"personality\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": ["
	    "     {\"index\": 0, \"value\": 0, \"op\": \"SCMP_CMP_EQ\"}, {\"index\": 0, \"value\": 8, "
	    "\"op\": \"SCMP_CMP_EQ\"}]},"
	    "   {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_ERRNO\"}]}}}";
	static const char notify[] =
	    "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"/\"},"
	    " \"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\","
	    "  \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_NOTIFY\"}]}}}";
	struct sm_oci_config *cfg = NULL;
	sm_error_t err = SM_ERROR_INIT;
	uint8_t *prog = NULL;
	size_t len = 0;

	sm_oci_config_parse(sc, sizeof(sc) - 1, "config.json", 0, &cfg, &err);
	if (cfg != NULL && sm_agent_seccomp_compile(cfg->linux_cfg->seccomp, &prog, &len, &err) < 0)
		len = 0;
	ok(len % 8 == 0 && len > 8 * 10,
	   "multi-arch profile with repeated argument indexes compiles (%zu instructions): %s", len / 8,
	   err.msg);
	free(prog);
	sm_oci_config_free(cfg);
	cfg = NULL;
	sm_oci_config_parse(notify, sizeof(notify) - 1, "config.json", 0, &cfg, &err);
	ok(cfg != NULL && sm_agent_seccomp_compile(cfg->linux_cfg->seccomp, &prog, &len, &err) < 0 &&
	       strstr(err.msg, "NOTIFY") != NULL,
	   "SCMP_ACT_NOTIFY refused: %s", err.msg);
	sm_oci_config_free(cfg);
}

/* linux.resources.memory.limit travels as SM_TAG_MEMORY_LIMIT; the agent clamps it to the guest. */
static void test_memory_limit(void)
{
	static const char cfg_text[] = "{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"/rootfs\"},"
				       " \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\"},"
				       " \"linux\": {\"resources\": {\"memory\": {\"limit\": 50593792}}}}";
	const uint64_t mib = 1 << 20;
	struct sm_oci_config *cfg = NULL;
	sm_error_t err = SM_ERROR_INIT;
	struct sm_buf b = {0};
	struct sm_agent_container c;
	struct sm_frame_hdr h;
	size_t off;

	if (!ok(sm_oci_config_parse(cfg_text, sizeof(cfg_text) - 1, "config.json",
				    SM_OCI_PARSE_REQUIRE_PROCESS, &cfg, &err) == 0,
		"memory limit: parse the config: %s", err.msg))
		return;
	off = sm_frame_begin(&b, SM_MSG_CREATE, 1);
	ok(sm_agent_spec_create(&b, cfg, NULL, &err) == 0 && sm_frame_end(&b, off) == 0 &&
	       sm_frame_hdr_decode(b.data, &h) == 0,
	   "memory limit: encode CREATE: %s", err.msg);
	if (ok(sm_agent_container_decode(b.data + SM_PROTO_HDR_SIZE, h.len, &c, &err) == 0,
	       "memory limit: decode container: %s", err.msg)) {
		ok(c.memory_limit == 50593792 && c.pids_limit == 0, "memory limit decoded: %llu",
		   (unsigned long long)c.memory_limit);
		sm_agent_container_free(&c);
	}
	sm_buf_free(&b);
	sm_oci_config_free(cfg);

	ok(sm_agent_memory_max(48 * mib, 0) == 48 * mib, "memory.max: MemAvailable unknown -> the limit");
	ok(sm_agent_memory_max(48 * mib, 200 * mib) == 48 * mib, "memory.max: room enough -> the limit");
	ok(sm_agent_memory_max(48 * mib, 12 * mib) == 8 * mib,
	   "memory.max: a 32 MiB guest (12 MiB available) -> available - 4 MiB reserve");
	ok(sm_agent_memory_max(48 * mib, 6 * mib) == 4 * mib, "memory.max: never below the 4 MiB floor");
	ok(sm_agent_memory_max(2 * mib, 6 * mib) == 2 * mib, "memory.max: a limit below the floor is kept");
}

/* UPDATE: the host's encoder, the agent's decoder and its checks, the monitor's u64 getter. */
static void test_update_codec(void)
{
	sm_error_t err = SM_ERROR_INIT;
	struct sm_guest_limits in = {.pids = 40, .memory = SM_LIMIT_UNLIMITED};
	struct sm_agent_limits out;
	struct sm_buf b = {0};
	const char *why;

	ok(sm_agent_update_encode(&b, &in, &err) == 0, "update: encode: %s", err.msg);
	why = sm_agent_update_decode(b.data, b.len, &out);
	ok(why == NULL && out.pids == 40 && out.memory == SM_LIMIT_UNLIMITED,
	   "update: pids 40 and memory max survive the round trip (%s)", why ? why : "ok");
	sm_buf_free(&b);

	in = (struct sm_guest_limits){.memory = 300ull << 20};
	ok(sm_agent_update_encode(&b, &in, &err) == 0, "update: memory alone encodes");
	sm_tlv_put_str(&b, 999, "a field of a newer host"); /* skipped */
	why = sm_agent_update_decode(b.data, b.len, &out);
	ok(why == NULL && out.pids == 0 && out.memory == 300ull << 20,
	   "update: memory alone; pids left as is; an unknown tag is skipped");
	sm_buf_free(&b);

	in = (struct sm_guest_limits){0};
	ok(sm_agent_update_encode(&b, &in, &err) < 0 && err.code == EINVAL && b.len == 0,
	   "update: nothing to change is refused by the encoder (%s)", err.msg);
	sm_error_clear(&err);

	ok(sm_agent_update_decode(NULL, 0, &out) != NULL, "update: an empty payload is refused");
	sm_tlv_put_u64(&b, SM_TAG_PIDS_LIMIT, 0);
	ok(sm_agent_update_decode(b.data, b.len, &out) != NULL, "update: a limit of 0 is refused");
	sm_buf_free(&b);
	sm_tlv_put_u64(&b, SM_TAG_PIDS_LIMIT, 5);
	sm_tlv_put_u64(&b, SM_TAG_PIDS_LIMIT, 6);
	ok(sm_agent_update_decode(b.data, b.len, &out) != NULL, "update: a repeated limit is refused");
	sm_buf_free(&b);
	sm_tlv_put_u32(&b, SM_TAG_MEMORY_LIMIT, 5);
	ok(sm_agent_update_decode(b.data, b.len, &out) != NULL, "update: a 4-byte limit is refused");
	sm_buf_free(&b);
	sm_tlv_put_u64(&b, SM_TAG_MEMORY_LIMIT, 1ull << 30);
	why = sm_agent_update_decode(b.data, b.len - 1, &out);
	ok(why != NULL && strstr(why, "truncated") != NULL, "update: a truncated field is refused (%s)",
	   why ? why : "accepted");
	sm_buf_free(&b);
	uint8_t *big = calloc(1, SM_UPDATE_MAX_PAYLOAD + 1);
	ok(big != NULL && sm_agent_update_decode(big, SM_UPDATE_MAX_PAYLOAD + 1, &out) != NULL,
	   "update: a payload above %u bytes is refused", SM_UPDATE_MAX_PAYLOAD);
	free(big);

	/* The monitor's request: u64 fields read back; absent = 0; a wrong length is malformed. */
	struct sm_mon_msg m = {.fds = {-1, -1, -1}};
	uint64_t v = 7;
	sm_tlv_put_u64(&b, SM_MON_TAG_PIDS_LIMIT, SM_LIMIT_UNLIMITED);
	sm_tlv_put_u32(&b, SM_MON_TAG_MEMORY_LIMIT, 1);
	m.payload = b.data;
	m.hdr.len = (uint32_t)b.len;
	ok(sm_mon_get_u64(&m, SM_MON_TAG_PIDS_LIMIT, &v) == 1 && v == SM_LIMIT_UNLIMITED,
	   "monitor UPDATE: the pids limit reads back");
	ok(sm_mon_get_u64(&m, SM_MON_TAG_MEMORY_LIMIT, &v) < 0, "monitor UPDATE: a 4-byte u64 is malformed");
	ok(sm_mon_get_u64(&m, SM_MON_TAG_DEFERRED, &v) == 0, "monitor UPDATE: an absent field is 0");
	sm_buf_free(&b);
}

/*
 * UPDATE through the real client and a real agent (forked, on a socketpair, no container): the
 * agent announces the feature, dispatches the frame and answers a request without a container
 * with ESRCH and a bad payload with EINVAL, and the connection goes on.
 */
static void test_update_agent(void)
{
	char staging[] = "/tmp/sm-update-test-XXXXXX";
	sm_error_t err = SM_ERROR_INIT;
	struct sm_agent_client *c = NULL;
	struct sm_guest_limits l = {.pids = 50};
	int sv[2], status = -1;
	uint32_t pid;
	pid_t child;

	if (mkdtemp(staging) == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		ok(0, "update agent: mkdtemp/socketpair: %s", strerror(errno));
		return;
	}
	fflush(stdout);
	child = fork();
	if (child == 0) {
		struct sm_agent_opts opts = {.staging_dir = staging, .log_fd = -1};
		struct sm_agent *a = NULL;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sv[0]);
		if (sm_agent_new(&opts, &a, &err) < 0)
			_exit(104);
		int r = sm_agent_serve(a, sv[1], &err);
		sm_agent_free(a);
		_exit(r < 0 ? 105 : 0);
	}
	close(sv[1]);
	if (child < 0 || sm_agent_client_new(sv[0], &c, &err) < 0 ||
	    sm_agent_client_handshake(c, 10000, &err) < 0) {
		ok(0, "update agent: start and handshake: %s", child < 0 ? strerror(errno) : err.msg);
		goto out;
	}
	ok(sm_agent_client_has_feature(c, SM_AGENT_FEATURE_UPDATE), "update agent: the feature is announced");
	ok(sm_agent_client_update(c, &l, 10000, &err) < 0 && err.code == ESRCH &&
	       strstr(err.msg, "no container") != NULL,
	   "update agent: without a container -> ESRCH (%s)", err.msg);
	sm_error_clear(&err);
	static const uint8_t bad[] = {SM_TAG_PIDS_LIMIT, 0, 4, 0, 0, 0, 1, 0, 0, 0};
	ok(sm_agent_client_send(c, SM_MSG_UPDATE, 0, bad, sizeof(bad), &err) == 0,
	   "update agent: send a bad one");
	int r = 0;
	for (int i = 0; i < 500 && (r = sm_agent_client_reply(c, 0, &pid, &err)) == 0; i++)
		if (sm_agent_client_step(c, 20, &err) < 0)
			break;
	ok(r < 0 && err.code == EINVAL && strstr(err.msg, "update:") != NULL,
	   "update agent: a malformed payload -> EINVAL (%s)", err.msg);
	sm_error_clear(&err);
	ok(sm_agent_client_update(c, &l, 10000, &err) < 0 && err.code == ESRCH,
	   "update agent: the connection is still usable afterwards (%s)", err.msg);
out:
	sm_agent_client_free(c);
	if (child > 0)
		waitpid(child, &status, 0);
	ok(child > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "update agent: exits cleanly (%#x)",
	   status);
	rmdir(staging);
}

/*
 * An older agent (a HELLO without FEATURES, as from an old template): the client refuses UPDATE
 * with EOPNOTSUPP and sends nothing, since the unknown frame type would end the connection.
 */
static void test_update_old_agent(void)
{
	sm_error_t err = SM_ERROR_INIT;
	struct sm_agent_client *c = NULL;
	struct sm_guest_limits l = {.pids = 50};
	struct sm_frame_hdr h;
	struct sm_buf b = {0};
	uint8_t in[4096];
	int sv[2];
	size_t off;
	ssize_t n;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		ok(0, "old agent: socketpair: %s", strerror(errno));
		return;
	}
	off = sm_frame_begin(&b, SM_MSG_HELLO, 0);
	sm_tlv_put_u32(&b, SM_TAG_VERSION, SM_PROTO_VERSION);
	sm_tlv_put_str(&b, SM_TAG_AGENT, "sm-agent (older)");
	sm_frame_end(&b, off);
	sm_frame_end(&b, sm_frame_begin(&b, SM_MSG_READY, 0));
	ok(sm_write_all(sv[1], b.data, b.len) == 0, "old agent: HELLO (no FEATURES) and READY written");
	sm_buf_free(&b);
	if (sm_agent_client_new(sv[0], &c, &err) < 0 || sm_agent_client_handshake(c, 10000, &err) < 0) {
		ok(0, "old agent: handshake: %s", err.msg);
		sm_agent_client_free(c);
		close(sv[1]);
		return;
	}
	ok(!sm_agent_client_has_feature(c, SM_AGENT_FEATURE_UPDATE), "old agent: no UPDATE feature");
	ok(sm_agent_client_update(c, &l, 10000, &err) < 0 && err.code == EOPNOTSUPP &&
	       strstr(err.msg, "too old") != NULL,
	   "old agent: UPDATE refused with EOPNOTSUPP (%s)", err.msg);
	sm_error_clear(&err);
	/* All the fake agent received: the host's HELLO, nothing after it. */
	n = recv(sv[1], in, sizeof(in), MSG_DONTWAIT);
	ok(n >= SM_PROTO_HDR_SIZE && sm_frame_hdr_decode(in, &h) == 0 && h.type == SM_MSG_HELLO &&
	       (size_t)n == SM_PROTO_HDR_SIZE + h.len,
	   "old agent: only the host's HELLO was sent (%zd bytes)", n);
	sm_agent_client_free(c);
	close(sv[1]);
}

/*
 * OOM: the agent takes oom_kill from memory.events; the host keeps the largest total a fake agent
 * sends (a smaller one takes nothing back) and drops the connection on an OOM without a count.
 */
static void test_oom_events(void)
{
	sm_error_t err = SM_ERROR_INIT;
	struct sm_agent_client *c = NULL;
	struct sm_buf b = {0};
	static const uint64_t totals[] = {2, 1, 5};
	int sv[2];
	size_t off;

	ok(sm_agent_oom_kills_parse("low 0\nhigh 3\nmax 7\noom 2\noom_kill 4\noom_group_kill 0\n") == 4 &&
	       sm_agent_oom_kills_parse("low 0\nmax 1\n") == 0 && sm_agent_oom_kills_parse("") == 0,
	   "memory.events: oom_kill 4, and 0 without the line");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		ok(0, "oom: socketpair: %s", strerror(errno));
		return;
	}
	off = sm_frame_begin(&b, SM_MSG_HELLO, 0);
	sm_tlv_put_u32(&b, SM_TAG_VERSION, SM_PROTO_VERSION);
	sm_tlv_put_u32(&b, SM_TAG_FEATURES, SM_AGENT_FEATURE_OOM);
	sm_frame_end(&b, off);
	sm_frame_end(&b, sm_frame_begin(&b, SM_MSG_READY, 0));
	ok(sm_write_all(sv[1], b.data, b.len) == 0, "oom: HELLO with the OOM feature and READY written");
	sm_buf_free(&b);
	if (sm_agent_client_new(sv[0], &c, &err) < 0 || sm_agent_client_handshake(c, 10000, &err) < 0) {
		ok(0, "oom: handshake: %s", err.msg);
		sm_agent_client_free(c);
		close(sv[1]);
		return;
	}
	for (size_t i = 0; i < SM_ARRAY_SIZE(totals); i++) {
		off = sm_frame_begin(&b, SM_MSG_OOM, 0);
		sm_tlv_put_u64(&b, SM_TAG_OOM_KILLS, totals[i]);
		sm_frame_end(&b, off);
	}
	sm_frame_end(&b, sm_frame_begin(&b, SM_MSG_OOM, 0)); /* no count */
	ok(sm_write_all(sv[1], b.data, b.len) == 0, "oom: OOM 2, 1, 5 and an empty OOM written");
	sm_buf_free(&b);
	ok(sm_agent_client_has_feature(c, SM_AGENT_FEATURE_OOM), "oom: the feature is announced");
	int r = 0;
	for (int i = 0; i < 20 && r >= 0; i++)
		r = sm_agent_client_step(c, 100, &err);
	ok(r < 0 && strstr(err.msg, "OOM without a count") != NULL && sm_agent_client_oom_kills(c) == 5,
	   "oom: total 5 kept (2, then 1 ignored, then 5); the empty OOM broke the connection: %s", err.msg);
	sm_agent_client_free(c);
	close(sv[1]);
}

int main(void)
{
	test_roundtrip();
	test_virtiofs_strategy();
	test_mount_options();
	test_decoder_errors();
	test_seccomp_compile();
	test_memory_limit();
	test_update_codec();
	test_update_agent();
	test_update_old_agent();
	test_oom_events();
	return tap_done();
}
