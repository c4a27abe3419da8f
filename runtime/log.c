/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/log.h"

/*
 * Read without a lock: sm_log_init() runs in main() before any other thread exists, and a record
 * is formatted in a local buffer, so concurrent sm_log() calls share nothing but the fd.
 */
static struct {
	int fd;
	bool to_file;
	bool json;
	bool debug;
} log_cfg = {STDERR_FILENO, false, false, false};

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_reserve(struct buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	if (b->len + more <= b->cap)
		return;
	while (cap < b->len + more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL)
		abort();
	b->p = p;
	b->cap = cap;
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void buf_puts(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[16];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		buf_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF), its code point in *cp; 0 when the byte at s does not start one.
 */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len, i;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		len = 2, c = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, c = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* JSON string body, as Go's encoding/json writes it (minus its HTML escaping). */
static void escape_json(struct buf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), i = 0, len;
	uint32_t cp;

	while (i < n) {
		len = utf8_seq(s + i, n - i, &cp);
		if (len == 0) {
			buf_puts(b, "\\ufffd");
			i++;
			continue;
		}
		if (cp == '"' || cp == '\\') {
			buf_add(b, "\\", 1);
			buf_add(b, (const char *)s + i, 1);
		} else if (cp == '\n') {
			buf_puts(b, "\\n");
		} else if (cp == '\r') {
			buf_puts(b, "\\r");
		} else if (cp == '\t') {
			buf_puts(b, "\\t");
		} else if (cp < 0x20 || cp == 0x2028 || cp == 0x2029) {
			/* U+2028/9 are valid JSON but end a line for JavaScript readers. */
			buf_printf(b, "\\u%04x", (unsigned)cp);
		} else {
			buf_add(b, (const char *)s + i, len);
		}
		i += len;
	}
}

/* A quoted value as logrus' text formatter writes it (Go's %q). */
static void escape_text(struct buf *b, const char *str)
{
	static const char short_esc[] = "\a\b\f\n\r\t\v";
	static const char short_chr[] = "abfnrtv";
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), i = 0, len;
	const char *p;
	uint32_t cp;

	while (i < n) {
		len = utf8_seq(s + i, n - i, &cp);
		if (len == 0) {
			buf_printf(b, "\\x%02x", s[i]);
			i++;
			continue;
		}
		if (cp == '"' || cp == '\\') {
			buf_add(b, "\\", 1);
			buf_add(b, (const char *)s + i, 1);
		} else if (cp != 0 && cp < 0x20 && (p = strchr(short_esc, (int)cp)) != NULL) {
			buf_add(b, "\\", 1);
			buf_add(b, &short_chr[p - short_esc], 1);
		} else if (cp < 0x20 || cp == 0x7f) {
			buf_printf(b, "\\x%02x", (unsigned)cp);
		} else if ((cp >= 0x80 && cp < 0xa0) || cp == 0x2028 || cp == 0x2029) {
			buf_printf(b, "\\u%04x", (unsigned)cp);
		} else {
			buf_add(b, (const char *)s + i, len);
		}
		i += len;
	}
}

static const char *level_name(int level)
{
	switch (level) {
	case SM_LOG_ERROR:
		return "error";
	case SM_LOG_WARN:
		return "warning"; /* logrus' spelling */
	case SM_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

static bool level_enabled(int level)
{
	if (level == SM_LOG_ERROR || level == SM_LOG_WARN)
		return true;
	if (level == SM_LOG_INFO)
		return log_cfg.to_file || log_cfg.debug;
	return log_cfg.debug;
}

static void log_write(int level, const char *msg)
{
	struct buf b = {NULL, 0, 0};
	char when[32];
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (log_cfg.json) {
		buf_puts(&b, "{\"level\":\"");
		buf_puts(&b, level_name(level));
		buf_puts(&b, "\",\"msg\":\"");
		escape_json(&b, msg);
		buf_puts(&b, "\",\"time\":\"");
		buf_puts(&b, when);
		buf_puts(&b, "\"}\n");
	} else {
		buf_puts(&b, "time=\"");
		buf_puts(&b, when);
		buf_puts(&b, "\" level=");
		buf_puts(&b, level_name(level));
		buf_puts(&b, " msg=\"");
		escape_text(&b, msg);
		buf_puts(&b, "\"\n");
	}
	/* One write() so that the record is never torn by another writer (O_APPEND). */
	if (write(log_cfg.fd, b.p, b.len) < 0) {
		/* Nowhere left to report it. */
	}
	free(b.p);
}

int sm_log_fd(void)
{
	return log_cfg.to_file ? log_cfg.fd : -1;
}

int sm_log_init(const char *path, const char *format, bool debug, sm_error_t *err)
{
	bool json;
	int fd = STDERR_FILENO;

	if (format == NULL || format[0] == '\0' || strcmp(format, "text") == 0)
		json = false;
	else if (strcmp(format, "json") == 0)
		json = true;
	else
		return sm_error_set(err, 0, "--log-format: unknown format \"%s\" (expected text or json)",
				    format);
	if (path != NULL && path[0] != '\0') {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
		if (fd < 0)
			return sm_error_set(err, errno, "--log %s: open", path);
	}
	if (log_cfg.to_file)
		close(log_cfg.fd);
	log_cfg.fd = fd;
	log_cfg.to_file = fd != STDERR_FILENO;
	log_cfg.json = json;
	log_cfg.debug = debug;
	return 0;
}

void sm_log(int level, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	int n;

	if (!level_enabled(level))
		return;
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	log_write(level, msg);
	free(msg);
}

void sm_log_error(const sm_error_t *err)
{
	const char *msg = sm_error_isset(err) ? err->msg : "unknown error";
	struct buf b = {NULL, 0, 0};

	log_write(SM_LOG_ERROR, msg);
	if (!log_cfg.to_file)
		return;
	buf_puts(&b, msg);
	buf_add(&b, "\n", 1);
	if (write(STDERR_FILENO, b.p, b.len) < 0) {
		/* Nowhere left to report it. */
	}
	free(b.p);
}
