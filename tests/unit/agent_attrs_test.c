/* SPDX-License-Identifier: Apache-2.0 */
/*
 * process.scheduler, ioPriority, execCPUAffinity and linux.timeOffsets: config.json ->
 * runtime/agent-spec.c -> guest/agent/spec.c + spec-attrs.c, the decoder's checks, and the
 * guest-side appliers (guest/agent/sched.c) run on the host in forked children (root).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/proto-tags.h"
#include "common/proto.h"
#include "common/util.h"
#include "guest/agent/child.h"
#include "guest/agent/spec.h"
#include "oci/config.h"
#include "runtime/agent-client.h"
#include "runtime/agent-spec.h"
#include "tests/tap.h"

#define CONFIG(PROC_EXTRA, NS_EXTRA, LINUX_EXTRA)                                                            \
	"{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"/rootfs\"},"                                     \
	" \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\"" PROC_EXTRA "},"                                  \
	" \"linux\": {\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"mount\"}" NS_EXTRA "]" LINUX_EXTRA  \
	"}}"

static const char full[] = CONFIG(", \"scheduler\": {\"policy\": \"SCHED_BATCH\", \"nice\": 7, \"priority\": "
				  "0, \"flags\": [\"SCHED_FLAG_RESET_ON_FORK\"]},"
				  " \"ioPriority\": {\"class\": \"IOPRIO_CLASS_IDLE\", \"priority\": 3},"
				  " \"execCPUAffinity\": {\"initial\": \"0-2, 5\", \"final\": \"1\"}",
				  ", {\"type\": \"time\"}",
				  ", \"timeOffsets\": {\"monotonic\": {\"secs\": -10, \"nanosecs\": 5}, "
				  "\"boottime\": {\"secs\": 1000000}}");

static struct sm_oci_config *parse(const char *json)
{
	struct sm_oci_config *cfg = NULL;
	sm_error_t err = SM_ERROR_INIT;

	if (sm_oci_config_parse(json, strlen(json), "config.json", 0, &cfg, &err) < 0)
		tap_diag("parse: %s", err.msg);
	return cfg;
}

static bool cpu_on(const struct sm_agent_cpus *c, int cpu)
{
	return c->mask[cpu / 64] & (1ull << (cpu % 64));
}

static void test_roundtrip(void)
{
	struct sm_oci_config *cfg = parse(full);
	struct sm_buf b = {0}, e = {0};
	struct sm_agent_process p = {0}, x = {0};
	struct sm_agent_container c = {0};
	sm_error_t err = SM_ERROR_INIT;

	if (!ok(cfg != NULL, "parse the config"))
		return;
	ok(sm_agent_spec_create(&b, cfg, NULL, &err) == 0, "encode CREATE: %s", err.msg);
	ok(sm_agent_process_decode(b.data, b.len, &p, &err) == 0, "decode its process: %s", err.msg);
	ok(sm_agent_container_decode(b.data, b.len, &c, &err) == 0, "decode its container: %s", err.msg);
	ok(p.sched.set && p.sched.policy == SCHED_BATCH && p.sched.nice == 7 && p.sched.priority == 0 &&
	       p.sched.flags == 1 /* SCHED_FLAG_RESET_ON_FORK */,
	   "scheduler: policy %u nice %d flags %#llx", p.sched.policy, p.sched.nice,
	   (unsigned long long)p.sched.flags);
	ok(p.has_ioprio && p.ioprio == ((3u << 13) | 3), "ioPriority: IOPRIO_PRIO_VALUE(IDLE, 3) = %#x",
	   p.ioprio);
	ok(!p.cpus_initial.set && !p.cpus_final.set,
	   "execCPUAffinity is not sent for the container's process");
	ok((c.namespaces & CLONE_NEWTIME) && (c.namespaces & CLONE_NEWPID), "a time namespace is asked for");
	ok(c.has_monotonic && c.monotonic_secs == -10 && c.monotonic_nsecs == 5 && c.has_boottime &&
	       c.boottime_secs == 1000000 && c.boottime_nsecs == 0,
	   "timeOffsets: monotonic %lld.%u, boottime %lld.%u", (long long)c.monotonic_secs, c.monotonic_nsecs,
	   (long long)c.boottime_secs, c.boottime_nsecs);

	ok(sm_agent_spec_process(&e, cfg->process, NULL, &err) == 0, "encode EXEC: %s", err.msg);
	ok(sm_agent_process_decode(e.data, e.len, &x, &err) == 0, "decode it: %s", err.msg);
	ok(x.cpus_initial.set && cpu_on(&x.cpus_initial, 0) && cpu_on(&x.cpus_initial, 2) &&
	       !cpu_on(&x.cpus_initial, 3) && cpu_on(&x.cpus_initial, 5) && !cpu_on(&x.cpus_initial, 6),
	   "execCPUAffinity.initial 0-2, 5");
	ok(x.cpus_final.set && x.cpus_final.mask[0] == 2, "execCPUAffinity.final 1");
	ok(x.sched.set && x.has_ioprio, "exec also carries scheduler and ioPriority");
	sm_agent_process_free(&p);
	sm_agent_process_free(&x);
	sm_agent_container_free(&c);
	sm_buf_free(&b);
	sm_buf_free(&e);
	sm_oci_config_free(cfg);

	/* runc refuses offsets without the namespace; so does the encoder (after the support pass). */
	cfg = parse(CONFIG("", "", ", \"timeOffsets\": {\"boottime\": {\"secs\": 5}}"));
	ok(cfg != NULL && sm_agent_spec_create(&b, cfg, NULL, &err) < 0 &&
	       strstr(err.msg, "linux.timeOffsets: given without a time namespace") != NULL,
	   "offsets without a time namespace: %s", err.msg);
	sm_buf_free(&b);
	sm_oci_config_free(cfg);
}

static void test_cpulist(void)
{
	static const char *const bad[] = {"3-1", "1,", "x", "1024", "0-1024", "1 2", "-1", ",1"};
	struct sm_agent_cpus c;
	sm_error_t err = SM_ERROR_INIT;

	ok(sm_agent_cpulist_parse(" 0-3, 7,1023", &c, &err) == 0 && c.mask[0] == 0x8f &&
	       c.mask[15] == 1ull << 63,
	   "\" 0-3, 7,1023\" parses: %s", err.msg);
	ok(sm_agent_cpulist_parse("", &c, &err) == 0 && c.set && c.mask[0] == 0, "\"\" is the empty set");
	for (size_t i = 0; i < SM_ARRAY_SIZE(bad); i++) {
		sm_error_clear(&err);
		ok(sm_agent_cpulist_parse(bad[i], &c, &err) < 0 && strstr(err.msg, "CPU list") != NULL,
		   "\"%s\" refused: %s", bad[i], err.msg);
	}
}

/* A process payload with one nested field of sub-fields (after the required ones). */
static int decode_with(uint16_t tag, struct sm_buf *in, struct sm_agent_process *p,
		       struct sm_agent_container *c, sm_error_t *err)
{
	struct sm_buf b = {0};
	int r;

	sm_tlv_put_str(&b, SM_TAG_ARG, "sh");
	sm_tlv_put_str(&b, SM_TAG_CWD, "/");
	sm_tlv_put_str(&b, SM_TAG_ROOTFS_PATH, "/r");
	sm_tlv_put_u32(&b, SM_TAG_NAMESPACES, CLONE_NEWTIME);
	sm_tlv_put(&b, tag, in->data, (uint32_t)in->len);
	r = c ? sm_agent_container_decode(b.data, b.len, c, err)
	      : sm_agent_process_decode(b.data, b.len, p, err);
	sm_buf_free(&b);
	sm_buf_free(in);
	return r;
}

static void test_malformed(void)
{
	struct sm_agent_process p = {0};
	struct sm_agent_container c = {0};
	sm_error_t err = SM_ERROR_INIT;
	struct sm_buf in = {0};

	sm_tlv_put_u32(&in, SM_TAG_SCHED_NICE, 3);
	ok(decode_with(SM_TAG_SCHED, &in, &p, NULL, &err) < 0 && strstr(err.msg, "scheduler") != NULL,
	   "a scheduler without policy: %s", err.msg);
	sm_agent_process_free(&p);
	sm_tlv_put_u32(&in, SM_TAG_SCHED_POLICY, 0);
	sm_tlv_put_u32(&in, SM_TAG_SCHED_NICE, (uint32_t)-21);
	ok(decode_with(SM_TAG_SCHED, &in, &p, NULL, &err) < 0 && strstr(err.msg, "nice -21") != NULL,
	   "nice -21: %s", err.msg);
	sm_agent_process_free(&p);
	sm_tlv_put_u64(&in, SM_TAG_SCHED_POLICY, 0);
	ok(decode_with(SM_TAG_SCHED, &in, &p, NULL, &err) < 0, "a policy of the wrong size: %s", err.msg);
	sm_agent_process_free(&p);
	sm_buf_put(&in, "9-", 2);
	ok(decode_with(SM_TAG_CPUS_FINAL, &in, &p, NULL, &err) < 0 &&
	       strstr(err.msg, "execCPUAffinity.final") != NULL,
	   "a bad CPU list: %s", err.msg);
	sm_agent_process_free(&p);
	sm_tlv_put_u32(&in, SM_TAG_TOFF_CLOCK, 0 /* CLOCK_REALTIME */);
	ok(decode_with(SM_TAG_TIME_OFFSET, &in, NULL, &c, &err) < 0 && strstr(err.msg, "timeOffsets") != NULL,
	   "an offset of CLOCK_REALTIME: %s", err.msg);
	sm_agent_container_free(&c);
	sm_tlv_put_u32(&in, SM_TAG_TOFF_CLOCK, 7);
	sm_tlv_put_u32(&in, SM_TAG_TOFF_NSECS, 1000000000);
	ok(decode_with(SM_TAG_TIME_OFFSET, &in, NULL, &c, &err) < 0, "nanosecs 1e9: %s", err.msg);
	sm_agent_container_free(&c);
}

/* Run fn in a forked child; its exit status (0 = all its checks held). */
static int in_child(int (*fn)(void))
{
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(fn());
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int child_sched(void)
{
	struct sm_agent_sched s = {.set = true, .policy = SCHED_BATCH, .nice = 5};
	struct sm_agent_sched iso = {.set = true, .policy = 4 /* SCHED_ISO, reserved */};
	sm_error_t err = SM_ERROR_INIT;

	if (sm_agent_sched_apply(&s, &err) < 0)
		return 1;
	if (sched_getscheduler(0) != SCHED_BATCH || getpriority(PRIO_PROCESS, 0) != 5)
		return 2;
	if (sm_agent_sched_apply(&iso, &err) == 0 || err.code != EINVAL ||
	    strncmp(err.msg, "process.scheduler: sched_setattr", 32) != 0)
		return 3;
	return 0;
}

static int child_cpus(void)
{
	struct sm_agent_cpus avail, want = {.set = true}, far = {.set = true};
	sm_error_t err = SM_ERROR_INIT;
	cpu_set_t now;
	int first = -1;

	if (sm_agent_cpus_available(&avail, &err) < 0)
		return 1;
	for (int i = 0; i < SM_AGENT_MAX_CPUS && first < 0; i++)
		first = (avail.mask[i / 64] & (1ull << (i % 64))) ? i : -1;
	want.mask[first / 64] = 1ull << (first % 64);
	far.mask[SM_AGENT_CPU_WORDS - 1] = 1ull << 63;
	if (sm_agent_cpus_apply(&far, &avail, "process.execCPUAffinity.final", &err) == 0 ||
	    strstr(err.msg, "process.execCPUAffinity.final: CPU 1023 is not one of the VM's CPUs") == NULL)
		return 2;
	if (sm_agent_cpus_apply(&want, &avail, "x", &err) < 0)
		return 3;
	if (sched_getaffinity(0, sizeof(now), &now) < 0 || CPU_COUNT(&now) != 1 || !CPU_ISSET(first, &now))
		return 4;
	return 0;
}

static int child_timens(void)
{
	struct sm_agent_container c = {
	    .namespaces = CLONE_NEWTIME, .has_boottime = true, .boottime_secs = 1000000, .boottime_nsecs = 1};
	sm_error_t err = SM_ERROR_INIT;
	struct timespec ts;
	int st;
	pid_t pid;

	if (sm_agent_timens_create(&c, &err) < 0)
		return err.code == EPERM || err.code == EINVAL ? 77 : 1;
	pid = fork();
	if (pid == 0)
		_exit(clock_gettime(CLOCK_BOOTTIME, &ts) == 0 && ts.tv_sec >= 1000000 ? 0 : 2);
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return 3;
	/* The caller itself stays where it was (time_namespaces(7)). */
	if (clock_gettime(CLOCK_BOOTTIME, &ts) < 0 || ts.tv_sec >= 1000000)
		return 4;
	return WEXITSTATUS(st);
}

static void test_apply(void)
{
	struct sm_agent_container off = {.has_boottime = true};
	sm_error_t err = SM_ERROR_INIT;
	int r;

	ok(sm_agent_timens_create(&off, &err) < 0 && strstr(err.msg, "without a time namespace") != NULL,
	   "offsets without CLONE_NEWTIME are refused: %s", err.msg);
	if (geteuid() != 0) {
		for (int i = 0; i < 3; i++)
			tap_skip("not root: sched_setattr and unshare(CLONE_NEWTIME) need privileges");
		return;
	}
	r = in_child(child_sched);
	ok(r == 0, "sched_setattr SCHED_BATCH nice 5 applied, SCHED_ISO refused (%d)", r);
	r = in_child(child_cpus);
	ok(r == 0, "affinity applied, a CPU the machine lacks refused (%d)", r);
	r = in_child(child_timens);
	if (r == 77)
		tap_skip("the kernel has no time namespaces (CONFIG_TIME_NS)");
	else
		ok(r == 0, "a child of the time namespace sees CLOCK_BOOTTIME + 1000000 s (%d)", r);
}

/*
 * An agent from before these fields (no SM_AGENT_FEATURE_PROC_ATTRS in its HELLO) would skip them:
 * the client refuses such an EXEC and sends nothing.
 */
static void test_old_agent(void)
{
	struct sm_oci_config *cfg = parse(full);
	struct sm_agent_client *c = NULL;
	sm_error_t err = SM_ERROR_INIT;
	struct sm_buf b = {0}, e = {0};
	struct sm_frame_hdr h;
	uint32_t pid = 0;
	uint8_t in[4096];
	int sv[2];
	ssize_t n;

	if (cfg == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		ok(0, "old agent: setup");
		sm_oci_config_free(cfg);
		return;
	}
	size_t off = sm_frame_begin(&b, SM_MSG_HELLO, 0);
	sm_tlv_put_u32(&b, SM_TAG_VERSION, SM_PROTO_VERSION);
	sm_tlv_put_u32(&b, SM_TAG_FEATURES, SM_AGENT_FEATURE_USERNS | SM_AGENT_FEATURE_UPDATE);
	sm_frame_end(&b, off);
	sm_frame_end(&b, sm_frame_begin(&b, SM_MSG_READY, 0));
	if (sm_write_all(sv[1], b.data, b.len) < 0 || sm_agent_client_new(sv[0], &c, &err) < 0 ||
	    sm_agent_client_handshake(c, 10000, &err) < 0) {
		ok(0, "old agent: handshake: %s", err.msg);
	} else {
		sm_agent_spec_process(&e, cfg->process, NULL, &err);
		ok(sm_agent_client_exec(c, 5, &e, NULL, &pid, 10000, &err) < 0 && err.code == EOPNOTSUPP &&
		       strstr(err.msg, "too old to apply process.scheduler") != NULL,
		   "old agent: an EXEC with a scheduler is refused (%s)", err.msg);
		/* Only the host's HELLO reached the fake agent. */
		n = recv(sv[1], in, sizeof(in), MSG_DONTWAIT);
		ok(n >= SM_PROTO_HDR_SIZE && sm_frame_hdr_decode(in, &h) == 0 && h.type == SM_MSG_HELLO &&
		       (size_t)n == SM_PROTO_HDR_SIZE + h.len,
		   "old agent: nothing but HELLO sent (%zd bytes)", n);
	}
	sm_agent_client_free(c);
	close(sv[1]);
	sm_buf_free(&b);
	sm_buf_free(&e);
	sm_oci_config_free(cfg);
}

int main(void)
{
	test_roundtrip();
	test_cpulist();
	test_malformed();
	test_apply();
	test_old_agent();
	return tap_done();
}
