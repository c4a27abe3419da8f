/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_RUN_BUNDLE_H
#define SM_RUNTIME_RUN_BUNDLE_H

#include "common/error.h"
#include "runtime/sandbox.h"

/*
 * Run an OCI bundle's process in a fresh microVM, in the foreground: parse
 * <bundle>/config.json, check the rootfs and that process.args[0] resolves to an executable in
 * it, boot the sandbox with the rootfs shared over virtio-fs, hand the container to the guest
 * agent over vsock, relay this process's stdin/stdout/stderr, and return the container process's
 * exit status (0..255; 128+signal when signalled). A missing executable returns 127 after runc's
 * message on stderr, without booting. sb_cfg->machine carries the kernel, initramfs and VM shape;
 * the rootfs, vsock and agent fields are filled here. With process.terminal the process's terminal
 * is the VM's virtio console (the guest's /dev/hvc0) on this process's stdin/stdout: the host tty
 * is put in raw mode meanwhile and SIGWINCH becomes a console resize. With use_template the VM is
 * restored from the template VM of its shape (runtime/template.h; booted and saved the first time)
 * instead of booting, and gets fresh randomness and the wall clock, as `create` does.
 */
int sm_run_bundle(const char *bundle, struct sm_sandbox_config *sb_cfg, bool use_template, int64_t timeout_ns,
		  sm_error_t *err);

/*
 * Find what the container would execute for args0 with the container's PATH (from env, a
 * "KEY=value" list, or the default PATH), resolving symlinks inside rootfs only. Returns 0 when
 * it is an executable regular file, -ENOENT when not found, <0 for other errors.
 */
int sm_rootfs_find_executable(const char *rootfs, const char *args0, char *const *env, size_t nenv,
			      sm_error_t *err);

#endif
