/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/log: runc/logrus-compatible records, escaping, level filtering, stderr behaviour. */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/log.h"
#include "tests/tap.h"

static char dir[] = "/tmp/sm-log-test-XXXXXX";

static char *slurp(const char *path)
{
	char *data = NULL;
	sm_error_t err = SM_ERROR_INIT;

	if (sm_read_file(path, 64 << 20, &data, NULL, &err) < 0)
		return sm_xstrdup("");
	return data;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The n-th line (0-based) without its newline, malloc'd; "" when absent. */
static char *line_of(const char *s, size_t n)
{
	const char *end;

	while (n-- > 0 && (s = strchr(s, '\n')) != NULL)
		s++;
	if (s == NULL || *s == '\0')
		return sm_xstrdup("");
	end = strchr(s, '\n');
	return strndup(s, end ? (size_t)(end - s) : strlen(s));
}

static int is_rfc3339_utc(const char *t, size_t len)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:ddZ";
	size_t i;

	if (len != sizeof(pat) - 1)
		return 0;
	for (i = 0; i < len; i++)
		if (pat[i] == 'd' ? !isdigit((unsigned char)t[i]) : t[i] != pat[i])
			return 0;
	return 1;
}

/* Check a JSON record: exact prefix up to msg, msg equal to want, valid time, nothing after. */
static int json_record_is(const char *line, const char *level, const char *want_msg)
{
	cleanup_free char *prefix = sm_xasprintf("{\"level\":\"%s\",\"msg\":\"", level);
	const char *msg, *tail;

	if (strncmp(line, prefix, strlen(prefix)) != 0)
		return 0;
	msg = line + strlen(prefix);
	tail = strstr(msg, "\",\"time\":\"");
	if (tail == NULL || (size_t)(tail - msg) != strlen(want_msg) ||
	    strncmp(msg, want_msg, tail - msg) != 0)
		return 0;
	tail += strlen("\",\"time\":\"");
	return is_rfc3339_utc(tail, strlen(tail) >= 2 ? strlen(tail) - 2 : 0) &&
	       strcmp(tail + strlen(tail) - 2, "\"}") == 0;
}

static int text_record_is(const char *line, const char *level, const char *want_msg)
{
	cleanup_free char *mid = sm_xasprintf("\" level=%s msg=\"", level);
	const char *t;

	if (strncmp(line, "time=\"", 6) != 0)
		return 0;
	t = line + 6;
	if (!is_rfc3339_utc(t, 20) || strncmp(t + 20, mid, strlen(mid)) != 0)
		return 0;
	t += 20 + strlen(mid);
	return strlen(t) == strlen(want_msg) + 1 && strncmp(t, want_msg, strlen(want_msg)) == 0 &&
	       t[strlen(want_msg)] == '"';
}

/* Point fd 2 at a file for the duration of a check; returns the saved fd. */
static int stderr_to(const char *path)
{
	int saved = dup(STDERR_FILENO);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	close(fd);
	return saved;
}

static void stderr_restore(int saved)
{
	dup2(saved, STDERR_FILENO);
	close(saved);
}

static const char *nasty = "a \"q\" \\ \n\t\x01 \xff end \xc3\xa9";

static void test_json(void)
{
	cleanup_free char *path = sm_xasprintf("%s/json.log", dir);
	cleanup_free char *data = NULL;
	sm_error_t err = SM_ERROR_INIT;
	char *l;

	ok(sm_log_init(path, "json", false, &err) == 0, "json log opens: %s", err.msg);
	sm_log(SM_LOG_ERROR, "%s", nasty);
	sm_log(SM_LOG_DEBUG, "hidden %d", 1);
	sm_log(SM_LOG_INFO, "info %d", 2);
	sm_log(SM_LOG_WARN, "careful");
	/* Overlong '/', a surrogate, a truncated sequence, U+2028, a 4-byte emoji, DEL. */
	sm_log(SM_LOG_ERROR, "\xc0\xaf|\xed\xa0\x80|\xe2\x80\xa8|\xf0\x9f\x98\x80|\x7f|\xe2\x82");
	data = slurp(path);
	ok(count_lines(data) == 4, "json: 4 records, debug filtered out (got %zu)", count_lines(data));
	ok(strstr(data, "hidden") == NULL, "json: no debug record without --debug");
	l = line_of(data, 0);
	ok(json_record_is(l, "error", "a \\\"q\\\" \\\\ \\n\\t\\u0001 \\ufffd end \xc3\xa9"),
	   "json: quotes, backslash, newline, tab, control char, invalid UTF-8 escaped: %s", l);
	free(l);
	l = line_of(data, 1);
	ok(json_record_is(l, "info", "info 2"), "json: info record: %s", l);
	free(l);
	l = line_of(data, 2);
	ok(json_record_is(l, "warning", "careful"), "json: warn is logrus' \"warning\": %s", l);
	free(l);
	l = line_of(data, 3);
	ok(json_record_is(
	       l, "error",
	       "\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|\\u2028|\xf0\x9f\x98\x80|\x7f|\\ufffd\\ufffd"),
	   "json: overlong, surrogate, truncated replaced; U+2028 escaped; emoji and DEL kept: %s", l);
	free(l);
}

static void test_text_and_debug(void)
{
	cleanup_free char *path = sm_xasprintf("%s/text.log", dir);
	cleanup_free char *data = NULL;
	sm_error_t err = SM_ERROR_INIT;
	char *l;

	ok(sm_log_init(path, "text", true, &err) == 0, "text log opens with --debug: %s", err.msg);
	sm_log(SM_LOG_ERROR, "%s", nasty);
	sm_log(SM_LOG_DEBUG, "dbg \xc2\x85 \x7f");
	data = slurp(path);
	ok(count_lines(data) == 2, "text: 2 records including debug (got %zu)", count_lines(data));
	l = line_of(data, 0);
	ok(text_record_is(l, "error", "a \\\"q\\\" \\\\ \\n\\t\\x01 \\xff end \xc3\xa9"),
	   "text: Go %%q escaping of the message: %s", l);
	free(l);
	l = line_of(data, 1);
	ok(text_record_is(l, "debug", "dbg \\u0085 \\x7f"), "text: debug record, C1 and DEL escaped: %s", l);
	free(l);
	ok(sm_log_init(path, NULL, false, &err) == 0, "NULL format means text");
}

static void test_errors(void)
{
	cleanup_free char *path = sm_xasprintf("%s/keep.log", dir);
	cleanup_free char *data = NULL;
	sm_error_t err = SM_ERROR_INIT;
	int rc;

	ok(sm_log_init(path, "json", false, &err) == 0, "log opens");
	rc = sm_log_init(path, "xml", false, &err);
	ok(rc < 0 && strstr(err.msg, "--log-format") && strstr(err.msg, "xml"), "bad format refused: %s",
	   err.msg);
	sm_error_clear(&err);
	rc = sm_log_init("/nonexistent-dir/sub/x.log", "json", false, &err);
	ok(rc < 0 && err.code == ENOENT && strstr(err.msg, "--log /nonexistent-dir/sub/x.log"),
	   "missing directory refused naming --log: %s", err.msg);
	sm_error_clear(&err);
	rc = sm_log_init(dir, "json", false, &err);
	ok(rc < 0 && err.code == EISDIR, "a directory is refused: %s", err.msg);
	sm_log(SM_LOG_ERROR, "still here");
	data = slurp(path);
	ok(strstr(data, "still here") != NULL, "a failed init keeps the previous log");
}

static void test_stderr(void)
{
	cleanup_free char *path = sm_xasprintf("%s/err.log", dir);
	cleanup_free char *errpath = sm_xasprintf("%s/stderr.txt", dir);
	sm_error_t err = SM_ERROR_INIT;
	char *data, *l;
	int saved;

	/* With a log file: the record goes to the file, the plain message to stderr (runc's fatal()). */
	ok(sm_log_init(path, "json", false, &err) == 0, "log opens");
	saved = stderr_to(errpath);
	sm_error_set(&err, 0, "container \"x\" does not exist");
	sm_log_error(&err);
	stderr_restore(saved);
	data = slurp(errpath);
	ok(strcmp(data, "container \"x\" does not exist\n") == 0, "sm_log_error: plain line on stderr");
	free(data);
	data = slurp(path);
	l = line_of(data, count_lines(data) - 1);
	ok(json_record_is(l, "error", "container \\\"x\\\" does not exist"),
	   "sm_log_error: last error record: %s", l);
	free(l);
	free(data);

	/* Without a file: stderr gets formatted errors and warnings only, each once. */
	ok(sm_log_init(NULL, "json", false, &err) == 0, "stderr log");
	saved = stderr_to(errpath);
	sm_log(SM_LOG_INFO, "info");
	sm_log(SM_LOG_DEBUG, "debug");
	sm_log(SM_LOG_WARN, "warn");
	sm_log_error(&err);
	stderr_restore(saved);
	data = slurp(errpath);
	ok(count_lines(data) == 2 && strstr(data, "info") == NULL && strstr(data, "debug") == NULL,
	   "stderr only: info and debug dropped, 2 lines");
	l = line_of(data, 1);
	ok(json_record_is(l, "error", "container \\\"x\\\" does not exist"),
	   "stderr only: error record once: %s", l);
	free(l);
	free(data);
}

/* Records from several processes appending to one file never interleave. */
static void test_concurrent(void)
{
	cleanup_free char *path = sm_xasprintf("%s/conc.log", dir);
	cleanup_free char *data = NULL;
	sm_error_t err = SM_ERROR_INIT;
	char big[3000], *l;
	int i, j, status, good = 1;
	size_t n;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ok(sm_log_init(path, "json", false, &err) == 0, "log opens");
	for (i = 0; i < 4; i++) {
		if (fork() == 0) {
			for (j = 0; j < 200; j++)
				sm_log(SM_LOG_ERROR, "p%d %s", i, big);
			_exit(0);
		}
	}
	for (i = 0; i < 4; i++)
		wait(&status);
	data = slurp(path);
	n = count_lines(data);
	for (i = 0; (size_t)i < n && good; i++) {
		l = line_of(data, i);
		good = strncmp(l, "{\"level\":\"error\",\"msg\":\"p", 25) == 0 && strlen(l) > 3000 &&
		       strcmp(l + strlen(l) - 2, "\"}") == 0;
		free(l);
	}
	ok(n == 800 && good, "800 records from 4 processes, all whole lines (%zu)", n);
}

int main(void)
{
	cleanup_free char *rm = NULL;

	if (mkdtemp(dir) == NULL)
		tap_skip_all("mkdtemp failed");
	test_json();
	test_text_and_debug();
	test_errors();
	test_stderr();
	test_concurrent();
	sm_log_init(NULL, NULL, false, NULL);
	rm = sm_xasprintf("rm -rf '%s'", dir);
	if (system(rm) != 0)
		tap_diag("could not remove %s", dir);
	return tap_done();
}
