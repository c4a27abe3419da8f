/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>

#include "snapshot/codec.h"

int sm_dec_fail(struct sm_dec *d, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (d->failed)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->failed = true;
	return sm_error_set(d->err, 0, "%s", msg);
}

int sm_dec_end(struct sm_dec *d)
{
	if (!d->failed && sm_state_remaining(&d->r) != 0)
		sm_dec_fail(d, "%zu unexpected bytes after the last field", sm_state_remaining(&d->r));
	if (d->failed)
		return sm_error_prefix(d->err, "%s state: ", d->what);
	return 0;
}
