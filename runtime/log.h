/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SM_RUNTIME_LOG_H
#define SM_RUNTIME_LOG_H

/*
 * The runtime's log, compatible with runc's (logrus) output because its callers parse it:
 * containerd's runc shim passes `--log FILE --log-format json` and, when a command fails,
 * reports the msg of the LAST line whose level is "error"; it decodes every line as JSON, so each
 * record is exactly one line of valid JSON (or, in text format, one logrus-style text line).
 */
#include <stdbool.h>

#include "common/error.h"

enum sm_log_level {
	SM_LOG_ERROR,
	SM_LOG_WARN,
	SM_LOG_INFO,
	SM_LOG_DEBUG,
};

/*
 * Configure the log from the global flags --log, --log-format and --debug. path NULL means no
 * log file: records go to stderr, and only errors and warnings unless debug is set (then info and
 * debug too). With a file, opened O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC mode 0644, it receives
 * error, warning and info records, and debug ones only with debug. format is "text" (also when
 * NULL or "") or "json"; anything else fails naming --log-format. Fails naming --log when the
 * file cannot be opened (the previous configuration stays). Before the first call, records go to
 * stderr in text format. Calling it again replaces (and closes) the previous file.
 */
int sm_log_init(const char *path, const char *format, bool debug, sm_error_t *err);

/*
 * Write one record at level (SM_LOG_*) with a printf-style message. The message is escaped so
 * that the record is a single line (newlines become \n) and valid JSON in json format (control
 * characters escaped, invalid UTF-8 bytes replaced by U+FFFD); the whole record is written with
 * one write(), so records from concurrent threads or processes appending to the same file do not
 * interleave. Logging never fails visibly: a write error is ignored.
 */
void sm_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Report the error a command failed with, as runc's fatal() does: an error record with
 * err->msg, and, when the log does not already go to stderr, the plain message on a line of its
 * own on stderr too, so both containerd (reading the log file) and a human see it. main() calls
 * this once before exiting non-zero. An err without a message logs "unknown error".
 */
void sm_log_error(const sm_error_t *err);

/*
 * The fd records go to when a --log file is open, else -1 (stderr is not counted). A process
 * that closes the fds it does not know, like the monitor after its fork, keeps this one so its
 * records still reach the file and never a later file that reuses the number.
 */
int sm_log_fd(void);

#endif
