/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_MONITOR_H
#define SM_RUNTIME_MONITOR_H

/*
 * The monitor: the per-container host process that `create` forks. It owns the container's
 * microVM (it is the VMM process), relays the container process's stdio from its own fds 0-2
 * (or the terminal), serves the control socket <state dir>/monitor.sock (runtime/monitor-proto.h)
 * and exits with the container process's exit status once it has ended and the VM is shut down.
 * Its pid is the container's pid in state.json and --pid-file. docs/design/lifecycle.md.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "oci/config.h"
#include "runtime/sandbox.h"

struct sm_monitor_opts {
	const struct sm_oci_config *cfg; /* the bundle's parsed config.json */
	const char *bundle;		 /* absolute */
	const char *rootfs;		 /* canonical */
	const char *dir;		 /* the state directory (absolute) */
	struct sm_sandbox_config sb;	 /* machine (kernel, initrd, shape) and dax_mib filled */
	int64_t boot_timeout_ns;	 /* until the agent answers */
	int ready_fd;			 /* pipe to `create`: "ok" or the error text, then closed */
	bool no_pivot;
	/* process.terminal: the console's host fds: a pty slave, or stdin/stdout of `run`. */
	int term_in, term_out;
	bool debug; /* keep the guest's serial console in <dir>/console.log */
	/* A template snapshot of this VM shape (runtime/template.h) to restore instead of booting, or
	 * NULL to boot. */
	const char *template_dir;
	/* `restore`: a checkpoint image directory (docs/design/lifecycle.md, "Checkpoint and
	 * restore") to import and restore instead of booting or using a template; NULL otherwise. */
	const char *restore_image;
};

/*
 * Around the fork of the monitor. The monitor may be the first process of its own pid namespace,
 * and the kernel drops a signal sent to such an init while its action is the default one: a
 * SIGTERM between the fork and sm_monitor_main() taking the signals over (its signalfd) would be
 * lost. So the parent blocks the signals the monitor forwards before the fork
 * (sm_monitor_fork_signals(), *old to restore with sigprocmask(SIG_SETMASK) after it) and the
 * child calls sm_monitor_child_signals() first: a handler that ends the monitor with 128 + the
 * signal, then unblocked, so one that came in between ends it at once.
 */
void sm_monitor_fork_signals(sigset_t *old);
void sm_monitor_child_signals(void);

/*
 * The monitor's life, in the forked child: boot the sandbox, create (not start) the container
 * process, report to ready_fd, serve requests until the process has exited, shut the VM down.
 * Returns the process exit status to _exit() with: the container's (0..255), or 1 when the
 * container could not be created (the reason went to ready_fd).
 */
int sm_monitor_main(const struct sm_monitor_opts *o);

#endif
