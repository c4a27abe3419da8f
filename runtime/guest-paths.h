/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_GUEST_PATHS_H
#define SM_RUNTIME_GUEST_PATHS_H

/*
 * Where the guest kernel and initramfs are found when the user names none: the build tree (what
 * `make guest-kernel` and `make` produced) first, then the installed copies.
 */

/*
 * The kernel `make guest-kernel` recorded in BUILDDIR/guest/kernel.path, or NULL when there is
 * none. The result is malloc'd.
 */
char *sm_guest_default_kernel(void);

/* The first readable of BUILDDIR/guest/initramfs.cpio and PKGLIBEXECDIR/initramfs.cpio, or NULL. */
const char *sm_guest_default_initrd(void);

#endif
