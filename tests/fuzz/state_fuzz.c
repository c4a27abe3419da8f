/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the state.json parser. Whatever parses must serialize (yajl accepted its strings as
 * UTF-8, so the generator must too), parse back to the same state, and serialize identically.
 */
#include <stdlib.h>
#include <string.h>

#include "oci/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sm_oci_state st = {0}, back = {0};
	sm_error_t err = SM_ERROR_INIT;
	char *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;

	if (sm_oci_state_parse((const char *)data, size, "state.json", &st, &err) < 0) {
		if (st.id != NULL || st.bundle != NULL)
			abort();
		return 0;
	}
	if (sm_oci_state_to_json(&st, SM_OCI_STATE_PRIVATE, &a, &alen, &err) < 0)
		abort();
	if (sm_oci_state_parse(a, alen, "state.json", &back, &err) < 0)
		abort();
	if (sm_oci_state_to_json(&back, SM_OCI_STATE_PRIVATE, &b, &blen, &err) < 0)
		abort();
	if (alen != blen || memcmp(a, b, alen) != 0 || back.pid != st.pid || back.status != st.status ||
	    strcmp(back.id, st.id) != 0 || back.annotations.n != st.annotations.n)
		abort();
	free(a);
	free(b);
	sm_oci_state_clear(&st);
	sm_oci_state_clear(&back);
	return 0;
}
