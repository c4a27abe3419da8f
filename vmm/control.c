/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "vmm/control.h"

void sm_control_init(struct sm_control_parser *p)
{
	memset(p, 0, sizeof(*p));
}

/* Parse "0".."255" with no sign, no leading zeros beyond a single "0" and nothing after. */
static bool parse_status(const char *s, int *status)
{
	int v = 0;
	size_t i;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 3)
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v > 255)
		return false;
	*status = v;
	return true;
}

static enum sm_control_event classify(struct sm_control_parser *p, int *status)
{
	static const char exit_prefix[] = "SM-EXIT ";

	if (strcmp(p->line, "SM-READY") == 0)
		return SM_CONTROL_READY;
	if (strncmp(p->line, exit_prefix, sizeof(exit_prefix) - 1) == 0 &&
	    parse_status(p->line + sizeof(exit_prefix) - 1, status))
		return SM_CONTROL_EXIT;
	p->invalid_lines++;
	return SM_CONTROL_INVALID;
}

enum sm_control_event sm_control_feed(struct sm_control_parser *p, uint8_t byte, int *status)
{
	enum sm_control_event ev;

	if (byte == '\r')
		return SM_CONTROL_NONE;
	if (byte == '\n') {
		if (p->overflow) {
			p->invalid_lines++;
			ev = SM_CONTROL_INVALID;
		} else if (p->len == 0) {
			ev = SM_CONTROL_NONE; /* blank lines are noise, not errors */
		} else {
			p->line[p->len] = '\0';
			ev = classify(p, status);
		}
		p->len = 0;
		p->overflow = false;
		return ev;
	}
	if (p->overflow)
		return SM_CONTROL_NONE;
	if (byte == '\0' || p->len >= sizeof(p->line) - 1) {
		p->overflow = true;
		return SM_CONTROL_NONE;
	}
	p->line[p->len++] = (char)byte;
	return SM_CONTROL_NONE;
}
