/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/guest-paths.h"

char *sm_guest_default_kernel(void)
{
	char *text = NULL;
	size_t len = 0;

	if (sm_read_file(SM_ABS_BUILDDIR "/guest/kernel.path", 4096, &text, &len, NULL) < 0)
		return NULL;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ' || text[len - 1] == '\t'))
		text[--len] = '\0';
	if (len == 0) {
		free(text);
		return NULL;
	}
	return text;
}

const char *sm_guest_default_initrd(void)
{
	static const char *const candidates[] = {
	    SM_ABS_BUILDDIR "/guest/initramfs.cpio",
	    SM_PKGLIBEXECDIR "/initramfs.cpio",
	};
	for (size_t i = 0; i < SM_ARRAY_SIZE(candidates); i++)
		if (access(candidates[i], R_OK) == 0)
			return candidates[i];
	return NULL;
}
