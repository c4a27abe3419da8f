/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_HOOKS_H
#define SM_RUNTIME_HOOKS_H

/*
 * OCI lifecycle hooks (config.md "POSIX-platform Hooks") run on the host. Where each kind runs
 * relative to the VM, and when, is decided in docs/design/hooks.md.
 */
#include "common/error.h"
#include "oci/config.h"

/*
 * Run cfg->hooks[kind] (kind = SM_OCI_HOOK_*) in order, each as a child process: execve(path)
 * with args as argv (args[0] is argv[0]; no args gives argv = {path}) and exactly env as the
 * environment (empty when none), in its own process group, with every signal at its default and
 * unblocked, no descriptors but 0-2. stdin carries state_json (NULL = empty); a hook that exits
 * without reading it is fine (EPIPE is tolerated; SIGPIPE is blocked in the calling thread only
 * while hooks run). stdout and stderr are captured, as runc does: on failure the first 4 KiB
 * of each are appended to the error, on success they go to the debug log. With timeout set, a
 * hook still running after timeout seconds is killed (SIGKILL to its process group) and fails.
 * Messages name the kind, index (0-based, as in config.json) and path: "poststart hook #1
 * (/usr/bin/foo) exited with status 3", "... was killed by signal SIGSEGV", "... timed out after
 * 5 s and was killed", "... exec: No such file or directory". prestart, createRuntime and
 * createContainer stop at the first failure and return it (the caller fails create and destroys
 * the container). poststart and poststop run every hook, log each failure as a warning
 * (sm_log) and return 0, as the spec requires. startContainer hooks must run inside the
 * container (the guest), so a non-empty list fails here naming hooks.startContainer. Returns 0
 * when cfg is NULL or the list is empty.
 */
int sm_hooks_run(const struct sm_oci_config *cfg, int kind, const char *state_json, sm_error_t *err);

/*
 * The config.json name of a hook kind ("prestart", "createRuntime", "createContainer",
 * "startContainer", "poststart", "poststop"); "unknown" for a value outside SM_OCI_HOOK_*.
 */
const char *sm_hooks_kind_name(int kind);

#endif
