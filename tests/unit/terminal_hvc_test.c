/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SM_TAG_TERMINAL_HVC: runtime/agent-spec.c emits it for process.terminal when asked (vm-run
 * --bundle puts the terminal on the VM's virtio console), guest/agent/spec.c decodes it.
 */
#include <string.h>

#include "common/proto-tags.h"
#include "common/proto.h"
#include "guest/agent/spec.h"
#include "oci/config.h"
#include "runtime/agent-spec.h"
#include "tests/tap.h"

#define CONFIG(terminal)                                                                                     \
	"{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"/\"},"                                           \
	" \"process\": {\"terminal\": " terminal ", \"consoleSize\": {\"height\": 24, \"width\": 80},"       \
	"   \"args\": [\"sh\"], \"cwd\": \"/\"}}"

/* The device node at path in the container decoded from the payload, or NULL. */
static const struct sm_agent_device *device(const struct sm_agent_container *c, const char *path)
{
	for (size_t i = 0; i < c->n_devices; i++) {
		if (strcmp(c->devices[i].path, path) == 0)
			return &c->devices[i];
	}
	return NULL;
}

static bool has_hvc_node(const struct sm_agent_container *c, const char *path)
{
	const struct sm_agent_device *d = device(c, path);

	return d != NULL && d->major == 229 && d->minor == 0;
}

/* Encode CREATE for json with terminal_hvc = hvc and decode it; *hvc_nodes: /dev/hvc0 and
 * /dev/console are hvc0's device nodes in the container. */
static int roundtrip(const char *json, bool hvc, struct sm_agent_process *p, bool *hvc_nodes)
{
	struct sm_agent_container c = {0};
	struct sm_oci_config *cfg = NULL;
	struct sm_agent_spec_opts opts = {.rootfs_path = "/", .terminal_hvc = hvc};
	sm_error_t err = SM_ERROR_INIT;
	struct sm_buf b = {0};
	int r = -1;

	memset(p, 0, sizeof(*p));
	if (sm_oci_config_parse(json, strlen(json), "config.json", SM_OCI_PARSE_REQUIRE_PROCESS, &cfg, &err) <
		0 ||
	    sm_agent_spec_create(&b, cfg, &opts, &err) < 0)
		tap_diag("encode: %s", err.msg);
	else if ((r = sm_agent_process_decode(b.data, b.len, p, &err)) < 0 ||
		 (r = sm_agent_container_decode(b.data, b.len, &c, &err)) < 0)
		tap_diag("decode: %s", err.msg);
	*hvc_nodes = has_hvc_node(&c, "/dev/hvc0") && has_hvc_node(&c, "/dev/console");
	sm_agent_container_free(&c);
	sm_buf_free(&b);
	sm_oci_config_free(cfg);
	return r;
}

int main(void)
{
	struct sm_agent_process p;
	sm_error_t err = SM_ERROR_INIT;
	struct sm_buf b = {0};
	bool nodes;

	ok(roundtrip(CONFIG("true"), true, &p, &nodes) == 0 && p.terminal && p.terminal_hvc && p.rows == 24 &&
	       p.cols == 80,
	   "terminal:true with the console option: terminal on hvc0, size kept");
	ok(nodes, "/dev/hvc0 and /dev/console are hvc0 (229:0) in the container");
	sm_agent_process_free(&p);
	ok(roundtrip(CONFIG("true"), false, &p, &nodes) == 0 && p.terminal && !p.terminal_hvc && !nodes,
	   "terminal:true without the option: a pty as before, no hvc0 nodes");
	sm_agent_process_free(&p);
	ok(roundtrip(CONFIG("false"), true, &p, &nodes) == 0 && !p.terminal && !p.terminal_hvc && !nodes,
	   "terminal:false: the option sends nothing");
	sm_agent_process_free(&p);

	sm_tlv_put_str(&b, SM_TAG_ARG, "sh");
	sm_tlv_put_str(&b, SM_TAG_CWD, "/");
	sm_tlv_put_u32(&b, SM_TAG_TERMINAL, 1);
	sm_tlv_put_u32(&b, SM_TAG_TERMINAL_HVC, 2);
	ok(sm_agent_process_decode(b.data, b.len, &p, &err) < 0 && strstr(err.msg, "50") != NULL,
	   "TERMINAL_HVC 2 refused: %s", err.msg);
	sm_agent_process_free(&p);
	sm_buf_free(&b);

	sm_tlv_put_str(&b, SM_TAG_ARG, "sh");
	sm_tlv_put_str(&b, SM_TAG_CWD, "/");
	sm_tlv_put(&b, SM_TAG_TERMINAL_HVC, "\1", 1);
	ok(sm_agent_process_decode(b.data, b.len, &p, &err) < 0, "TERMINAL_HVC of 1 byte refused: %s",
	   err.msg);
	sm_agent_process_free(&p);
	sm_buf_free(&b);
	return tap_done();
}
