/* log.c -- the service log: one logfmt line per event, written with a single write() so lines never
 * interleave. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "logfmt.h"
#include "timefmt.h"

#define LOG_LINE_MAX   65536
#define LOG_FIELDS_MAX 60000
#define LOG_KEEP                                                                                             \
	4096 /* a thread's line buffer grown beyond this by a long line is given back */ /* beyond this,     \
											    remaining fields \
											    are dropped and  \
											    truncated=true   \
											    is added */

log_level log_min_level = LOG_LEVEL_INFO;
static char log_svc[64] = "reflex";
static int log_fd = 1;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *svc, log_level min_level)
{
	if (svc)
		snprintf(log_svc, sizeof(log_svc), "%s", svc);
	log_min_level = min_level;
}

rfx_err log_level_parse(const char *s, log_level *out)
{
	if (!s)
		return RFX_ERR_INVAL;
	for (size_t i = 0; i < RFX_ARRAY_LEN(level_names); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (log_level)i;
			return RFX_OK;
		}
	}
	if (strcmp(s, "warning") == 0) {
		*out = LOG_LEVEL_WARN;
		return RFX_OK;
	}
	return RFX_ERR_INVAL;
}

const char *log_level_name(log_level l)
{
	if ((unsigned)l >= RFX_ARRAY_LEN(level_names))
		return "info";
	return level_names[l];
}

void log_set_fd(int fd)
{
	log_fd = fd;
}

static void write_line(const char *data, size_t len)
{
	while (len > 0) {
		ssize_t w = write(log_fd, data, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return; /* nowhere left to report a logging failure */
		}
		data += w;
		len -= (size_t)w;
	}
}

void log_write(log_level level, const char *msg, ...)
{
	char ts[32];
	rfx_buf *lb = buf_scratch(BUF_SCRATCH_LOG, LOG_LINE_MAX);
	buf_reset(lb);
	rfx_buf b = *lb;
	timefmt_iso8601(rfx_now_ms(), ts);
	logfmt_append(&b, "ts", ts);
	logfmt_append(&b, "level", log_level_name(level));
	logfmt_append(&b, "svc", log_svc);
	logfmt_append(&b, "msg", msg ? msg : "");
	va_list ap;
	va_start(ap, msg);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (!k)
			break;
		const char *v = va_arg(ap, const char *);
		if (!v)
			continue;
		if (b.len + strlen(k) + strlen(v) * 4 + 4 > LOG_FIELDS_MAX) {
			logfmt_append(&b, "truncated", "true");
			break;
		}
		logfmt_append(&b, k, v);
	}
	va_end(ap);
	buf_putc(&b, '\n');
	write_line(b.data, b.len);
	buf_trim(&b, LOG_KEEP);
	*lb = b;
}
