/* rfx.h -- libreflex basics: the status enum, the allocation policy, time, ids and small string helpers. */
#ifndef RFX_H
#define RFX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One status enum for the whole library: 0 is success. Human detail goes to an error buffer or the log. */
typedef enum {
	RFX_OK = 0,
	RFX_ERR_NOMEM,
	RFX_ERR_INVAL,	  /* bad input: malformed, wrong type, out of range */
	RFX_ERR_PARSE,	  /* syntax error in JSON/YAML/expression */
	RFX_ERR_IO,	  /* file or socket error */
	RFX_ERR_NOTFOUND, /* no such thing */
	RFX_ERR_EXISTS,	  /* already there */
	RFX_ERR_LIMIT,	  /* a bound was hit: size, count, rate */
	RFX_ERR_AUTH,	  /* missing or wrong credentials or signature */
	RFX_ERR_TIMEOUT,
	RFX_ERR_UNAVAILABLE, /* peer down or not ready */
	RFX_ERR_REFUSED,     /* policy said no */
	RFX_ERR_INTERNAL,
} rfx_err;

const char *rfx_strerror(rfx_err rc);

/* Allocation policy: abort on out-of-memory. Callers never check these for NULL. */
void *rfx_malloc(size_t n);
void *rfx_calloc(size_t nmemb, size_t size);
void *rfx_realloc(void *p, size_t n);
char *rfx_strdup(const char *s); /* NULL in, NULL out */
char *rfx_strndup(const char *s, size_t n);
char *rfx_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define RFX_FREE(p)                                                                                          \
	do {                                                                                                 \
		free(p);                                                                                     \
		(p) = NULL;                                                                                  \
	} while (0)

#define RFX_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Time. */
int64_t rfx_now_ms(void);		    /* wall clock, ms since epoch */
int64_t rfx_mono_ms(void);		    /* monotonic ms */
double rfx_mono_sec(void);		    /* monotonic seconds, fractional */
void rfx_iso8601(int64_t ms, char out[32]); /* 2026-11-22T01:21:04.264Z */
/* Parses RFC 3339 / ISO 8601 ("2026-11-22T01:21:04Z", fractional seconds and offsets allowed) or epoch ms
 * digits. */
rfx_err rfx_parse_time(const char *s, int64_t *ms_out);
/* Parses durations like "250ms", "10s", "10m", "2h", "1d" or a bare number of seconds into milliseconds. */
rfx_err rfx_parse_duration(const char *s, int64_t *ms_out);

/* A 26-character ULID (Crockford base32), time-ordered, from the current time and a CSPRNG. */
void rfx_ulid(char out[27]);

/* Returns a copy of s with invalid UTF-8 sequences replaced by U+FFFD and NUL bytes dropped. */
char *rfx_utf8_sanitize(const char *s, size_t len);
bool rfx_utf8_valid(const char *s, size_t len);
bool rfx_ascii(const char *s, size_t len); /* no byte above 0x7F */

/* Reads a whole file (at most max bytes; RFX_ERR_LIMIT beyond). *out is NUL-terminated, caller frees. */
rfx_err rfx_read_file(const char *path, size_t max, char **out, size_t *len_out);
/* Writes data to path atomically: temp file in the same directory, fsync, rename, fsync of the directory. */
rfx_err rfx_write_file_atomic(const char *path, const void *data, size_t len);
/* Creates a directory and its parents (mode 0750) when missing. */
rfx_err rfx_mkdirs(const char *path);

/* Constant-time comparison of two byte strings; lengths may differ (compares without early exit). */
bool rfx_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Glob match (fnmatch semantics: * ? [..]) on whole strings. */
bool rfx_glob(const char *pattern, const char *s);

#endif
