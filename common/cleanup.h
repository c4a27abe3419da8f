/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_COMMON_CLEANUP_H
#define SM_COMMON_CLEANUP_H

/*
 * Scope-bound ownership. A variable declared with one of these attributes is released when it
 * goes out of scope; steal_ptr()/steal_fd() hand ownership on (to a caller or a struct) by
 * returning the value and clearing the variable. See docs/design/errors.md.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void sm_freep(void *p)
{
	free(*(void **)p);
}

static inline void sm_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void sm_fclosep(FILE **f)
{
	if (*f != NULL)
		fclose(*f);
}

static inline void sm_closedirp(DIR **d)
{
	if (*d != NULL)
		closedir(*d);
}

#define cleanup_free __attribute__((cleanup(sm_freep)))
#define cleanup_close __attribute__((cleanup(sm_closep)))
#define cleanup_fclose __attribute__((cleanup(sm_fclosep)))
#define cleanup_dir __attribute__((cleanup(sm_closedirp)))

/* Take ownership of *pp: returns it and leaves NULL behind so the cleanup does nothing. */
#define steal_ptr(pp)                                                                                        \
	({                                                                                                   \
		__typeof__(*(pp)) stolen__ = *(pp);                                                          \
		*(pp) = NULL;                                                                                \
		stolen__;                                                                                    \
	})

/* Take ownership of the fd in *fdp: returns it and leaves -1 behind. */
#define steal_fd(fdp)                                                                                        \
	({                                                                                                   \
		int stolen__ = *(fdp);                                                                       \
		*(fdp) = -1;                                                                                 \
		stolen__;                                                                                    \
	})

#endif
