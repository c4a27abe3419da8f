/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guest features in the CREATE payload: user namespaces with uid/gid maps, mount and rootfs
 * propagation, the guest pids limit. config.json -> support pass -> runtime/agent-spec.c ->
 * guest/agent/spec.c, and the decoder's refusals of malformed fields.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "common/cleanup.h"
#include "common/proto-tags.h"
#include "common/proto.h"
#include "common/util.h"
#include "guest/agent/spec.h"
#include "oci/config.h"
#include "oci/support.h"
#include "runtime/agent-spec.h"
#include "tests/tap.h"

#define DOC(NS, L)                                                                                           \
	"{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"/rootfs\"},"                                     \
	" \"process\": {\"cwd\": \"/\", \"args\": [\"sh\"]},"                                                \
	" \"mounts\": [{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},"              \
	"  {\"destination\": \"/t\", \"type\": \"tmpfs\", \"source\": \"tmpfs\", \"options\": "              \
	"[\"shared\"]},"                                                                                     \
	"  {\"destination\": \"/e\", \"source\": \"/etc\", \"options\": [\"rbind\", \"rshared\"]},"          \
	"  {\"destination\": \"/u\", \"source\": \"/etc\", \"options\": [\"bind\", \"runbindable\"]}],"      \
	" \"linux\": {\"namespaces\": [" NS "]" L "}}"

#define USERNS_NS "{\"type\": \"pid\"}, {\"type\": \"user\"}, {\"type\": \"network\"}, {\"type\": \"mount\"}"
#define MAPS                                                                                                 \
	", \"uidMappings\": [{\"containerID\": 0, \"hostID\": 1000, \"size\": 2000},"                        \
	"   {\"containerID\": 5000, \"hostID\": 100000, \"size\": 10}],"                                     \
	" \"gidMappings\": [{\"containerID\": 0, \"hostID\": 1000, \"size\": 3000}]"

static struct sm_oci_config *parse(const char *doc)
{
	struct sm_oci_config *cfg = NULL;
	sm_error_t err = SM_ERROR_INIT;

	if (sm_oci_config_parse(doc, strlen(doc), "config.json", SM_OCI_PARSE_REQUIRE_PROCESS, &cfg, &err) <
	    0)
		tap_diag("parse: %s", err.msg);
	return cfg;
}

/* Encode doc's CREATE payload into *b; returns the support pass's and the encoder's result. */
static int encode(const char *doc, struct sm_buf *b, sm_error_t *err)
{
	struct sm_oci_config *cfg = parse(doc);
	struct sm_oci_strv w = {0};
	int r;

	if (cfg == NULL)
		return sm_error_set(err, 0, "does not parse");
	r = sm_oci_check_supported(cfg, NULL, &w, err);
	for (size_t i = 0; i < w.n; i++)
		tap_diag("warning: %s", w.v[i]);
	sm_oci_strv_free(&w);
	if (r == 0)
		r = sm_agent_spec_create(b, cfg, NULL, err);
	sm_oci_config_free(cfg);
	return r;
}

static const struct sm_agent_mount *find_mount(const struct sm_agent_container *c, const char *dest)
{
	for (size_t i = 0; i < c->n_mounts; i++) {
		if (strcmp(c->mounts[i].dest, dest) == 0)
			return &c->mounts[i];
	}
	return NULL;
}

static void test_userns_roundtrip(void)
{
	struct sm_agent_container c;
	sm_error_t err = SM_ERROR_INIT;
	struct sm_buf b = {0};
	const struct sm_agent_mount *m;

	ok(encode(DOC(USERNS_NS, MAPS ", \"rootfsPropagation\": \"shared\","
				      " \"resources\": {\"pids\": {\"limit\": 42}}"),
		  &b, &err) == 0,
	   "user namespace, shared propagation and a pids limit pass and encode: %s", err.msg);
	if (!ok(sm_agent_container_decode(b.data, b.len, &c, &err) == 0, "decode: %s", err.msg)) {
		sm_buf_free(&b);
		return;
	}
	ok(c.namespaces == (CLONE_NEWPID | CLONE_NEWUSER | CLONE_NEWNET),
	   "namespaces: pid, user, and net (own network namespace with a user one): %#x", c.namespaces);
	ok(c.n_uid_map == 2 && c.uid_map[0].container_id == 0 && c.uid_map[0].host_id == 1000 &&
	       c.uid_map[0].size == 2000 && c.uid_map[1].container_id == 5000 &&
	       c.uid_map[1].host_id == 100000 && c.uid_map[1].size == 10,
	   "uid map: two lines in order");
	ok(c.n_gid_map == 1 && c.gid_map[0].host_id == 1000 && c.gid_map[0].size == 3000, "gid map");
	ok(c.pids_limit == 42, "pids limit 42 (%llu)", (unsigned long long)c.pids_limit);
	ok(c.rootfs_propagation == MS_SHARED, "rootfsPropagation shared");
	m = find_mount(&c, "/t");
	ok(m != NULL && m->propagation == MS_SHARED, "tmpfs shared");
	m = find_mount(&c, "/e");
	ok(m != NULL && m->propagation == (MS_SHARED | MS_REC) &&
	       (m->flags & (MS_BIND | MS_REC)) == (MS_BIND | MS_REC),
	   "rbind rshared");
	m = find_mount(&c, "/u");
	ok(m != NULL && m->propagation == (MS_UNBINDABLE | MS_REC), "bind runbindable");
	sm_agent_container_free(&c);
	sm_buf_free(&b);

	/* Without a network namespace the container shares the guest's: no CLONE_NEWNET. */
	ok(encode(DOC("{\"type\": \"user\"}, {\"type\": \"mount\"}", MAPS), &b, &err) == 0, "no network: %s",
	   err.msg);
	ok(sm_agent_container_decode(b.data, b.len, &c, &err) == 0 && c.namespaces == CLONE_NEWUSER &&
	       c.pids_limit == 0,
	   "user namespace only, no pids limit: %#x", c.namespaces);
	sm_agent_container_free(&c);
	sm_buf_free(&b);

	/* A pids limit of -1 (unlimited) sends nothing. */
	ok(encode(DOC("{\"type\": \"pid\"}", ", \"resources\": {\"pids\": {\"limit\": -1}}"), &b, &err) ==
		   0 &&
	       sm_agent_container_decode(b.data, b.len, &c, &err) == 0 && c.pids_limit == 0 &&
	       c.n_uid_map == 0,
	   "pids limit -1: no guest limit: %s", err.msg);
	sm_agent_container_free(&c);
	sm_buf_free(&b);
}

static void test_refusals(void)
{
	static const struct {
		const char *doc, *want;
	} cases[] = {
	    {DOC("{\"type\": \"user\", \"path\": \"/proc/1/ns/user\"}", MAPS), "linux.namespaces[0].path"},
	    {DOC("{\"type\": \"user\"}", ""), "linux.uidMappings"},
	    {DOC("{\"type\": \"pid\"}", MAPS), "linux.uidMappings"},
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(cases); i++) {
		sm_error_t err = SM_ERROR_INIT;
		struct sm_buf b = {0};

		ok(encode(cases[i].doc, &b, &err) < 0 && strstr(err.msg, cases[i].want) != NULL,
		   "refused, naming %s: %s", cases[i].want, err.msg);
		sm_buf_free(&b);
	}
}

/* A payload with a root and the given raw fields, decoded: 0 or the decoder's error in err. */
static int decode_raw(const struct sm_buf *extra, sm_error_t *err)
{
	struct sm_agent_container c;
	struct sm_buf b = {0};
	int r;

	sm_tlv_put_str(&b, SM_TAG_ROOTFS_PATH, "/rootfs");
	sm_buf_put(&b, extra->data, extra->len);
	r = sm_agent_container_decode(b.data, b.len, &c, err);
	sm_agent_container_free(&c);
	sm_buf_free(&b);
	return r;
}

static void put_map(struct sm_buf *b, uint16_t tag, uint32_t ctr, uint32_t host, uint32_t size, int fields)
{
	struct sm_buf in = {0};

	sm_tlv_put_u32(&in, SM_TAG_IDMAP_CONTAINER, ctr);
	if (fields > 1)
		sm_tlv_put_u32(&in, SM_TAG_IDMAP_HOST, host);
	if (fields > 2)
		sm_tlv_put_u32(&in, SM_TAG_IDMAP_SIZE, size);
	sm_tlv_put(b, tag, in.data, (uint32_t)in.len);
	sm_buf_free(&in);
}

static void test_decoder(void)
{
	static const struct {
		const char *what;
		uint32_t ns;
		uint32_t ctr, host, size;
		int fields;
		bool gid;
		bool good;
	} cases[] = {
	    {"good maps", CLONE_NEWUSER, 0, 1000, 10, 3, true, true},
	    {"user namespace without a gid map", CLONE_NEWUSER, 0, 1000, 10, 3, false, false},
	    {"maps without a user namespace", CLONE_NEWPID, 0, 1000, 10, 3, true, false},
	    {"size 0", CLONE_NEWUSER, 0, 1000, 0, 3, true, false},
	    {"host range past 2^32", CLONE_NEWUSER, 0, 0xfffffff0u, 0x20, 3, true, false},
	    {"container range past 2^32", CLONE_NEWUSER, 0xffffffffu, 0, 2, 3, true, false},
	    {"no size field", CLONE_NEWUSER, 0, 1000, 10, 2, true, false},
	    {"no host field", CLONE_NEWUSER, 0, 1000, 10, 1, true, false},
	};

	for (size_t i = 0; i < SM_ARRAY_SIZE(cases); i++) {
		sm_error_t err = SM_ERROR_INIT;
		struct sm_buf b = {0};
		int r;

		sm_tlv_put_u32(&b, SM_TAG_NAMESPACES, cases[i].ns);
		put_map(&b, SM_TAG_UID_MAP, cases[i].ctr, cases[i].host, cases[i].size, cases[i].fields);
		if (cases[i].gid)
			put_map(&b, SM_TAG_GID_MAP, 0, 1000, 10, 3);
		r = decode_raw(&b, &err);
		ok((r == 0) == cases[i].good, "%s: %s (%s)", cases[i].what,
		   cases[i].good ? "accepted" : "refused", err.msg);
		sm_buf_free(&b);
	}

	/* The kernel takes at most 340 lines. */
	{
		sm_error_t err = SM_ERROR_INIT;
		struct sm_buf b = {0};

		sm_tlv_put_u32(&b, SM_TAG_NAMESPACES, CLONE_NEWUSER);
		for (uint32_t i = 0; i <= SM_AGENT_IDMAP_MAX; i++)
			put_map(&b, SM_TAG_UID_MAP, i, 1000 + i, 1, 3);
		put_map(&b, SM_TAG_GID_MAP, 0, 1000, 1, 3);
		ok(decode_raw(&b, &err) < 0 && strstr(err.msg, "340") != NULL,
		   "341 uid map lines refused: %s", err.msg);
		sm_buf_free(&b);
	}
	/* A pids limit of 0, or of the wrong size, is malformed. */
	{
		sm_error_t err = SM_ERROR_INIT;
		struct sm_buf b = {0};

		sm_tlv_put_u64(&b, SM_TAG_PIDS_LIMIT, 0);
		ok(decode_raw(&b, &err) < 0, "pids limit 0 refused: %s", err.msg);
		sm_buf_free(&b);
		sm_error_clear(&err);
		sm_tlv_put_u32(&b, SM_TAG_PIDS_LIMIT, 5);
		ok(decode_raw(&b, &err) < 0, "pids limit as u32 refused: %s", err.msg);
		sm_buf_free(&b);
	}
	/* Flags other than the namespaces the agent makes stay refused (0x100: CLONE_VM). */
	{
		sm_error_t err = SM_ERROR_INIT;
		struct sm_buf b = {0};

		sm_tlv_put_u32(&b, SM_TAG_NAMESPACES, CLONE_NEWNET | 0x100);
		ok(decode_raw(&b, &err) < 0, "unknown namespace flag refused: %s", err.msg);
		sm_buf_free(&b);
	}
}

int main(void)
{
	test_userns_roundtrip();
	test_refusals();
	test_decoder();
	return tap_done();
}
