/* rfx.c -- libreflex basics: status strings, abort-on-OOM allocation, time, ULIDs, UTF-8 and file helpers. */
#include "rfx.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const err_names[] = {
    [RFX_OK] = "ok",
    [RFX_ERR_NOMEM] = "out of memory",
    [RFX_ERR_INVAL] = "invalid value",
    [RFX_ERR_PARSE] = "parse error",
    [RFX_ERR_IO] = "I/O error",
    [RFX_ERR_NOTFOUND] = "not found",
    [RFX_ERR_EXISTS] = "already exists",
    [RFX_ERR_LIMIT] = "limit exceeded",
    [RFX_ERR_AUTH] = "authentication failed",
    [RFX_ERR_TIMEOUT] = "timed out",
    [RFX_ERR_UNAVAILABLE] = "unavailable",
    [RFX_ERR_REFUSED] = "refused",
    [RFX_ERR_INTERNAL] = "internal error",
};

const char *rfx_strerror(rfx_err rc)
{
	if ((unsigned)rc >= RFX_ARRAY_LEN(err_names) || !err_names[rc])
		return "unknown error";
	return err_names[rc];
}

static void rfx_oom(size_t n)
{
	fprintf(stderr, "reflex: out of memory allocating %zu bytes\n", n);
	abort();
}

void *rfx_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		rfx_oom(n);
	return p;
}

void *rfx_calloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p)
		rfx_oom(nmemb * size);
	return p;
}

void *rfx_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		rfx_oom(n);
	return q;
}

char *rfx_strdup(const char *s)
{
	if (!s)
		return NULL;
	return rfx_strndup(s, strlen(s));
}

char *rfx_strndup(const char *s, size_t n)
{
	if (!s)
		return NULL;
	size_t len = strnlen(s, n);
	char *p = rfx_malloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *rfx_asprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	char *p = rfx_malloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

/* ---- time ---- */

int64_t rfx_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rfx_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double rfx_mono_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). Days past a month's end
 * run on into the next month, as timegm() has them. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The date of a day number (civil_from_days), the inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static void put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

void rfx_iso8601(int64_t ms, char out[32])
{
	int64_t sec = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
	int frac = (int)(ms - sec * 1000);
	int64_t days = sec >= 0 ? sec / 86400 : (sec - 86399) / 86400, y;
	int tod = (int)(sec - days * 86400), m, d;
	civil_from_days(days, &y, &m, &d);
	if (y < 1000 || y > 9999) { /* strftime's %Y has no fixed width there: leave those to it */
		time_t t = (time_t)sec;
		struct tm tm;
		gmtime_r(&t, &tm);
		size_t n = strftime(out, 24, "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(out + n, 32 - n, ".%03uZ", (unsigned)frac % 1000u);
		return;
	}
	put2(out, (int)(y / 100));
	put2(out + 2, (int)(y % 100));
	out[4] = '-';
	put2(out + 5, m);
	out[7] = '-';
	put2(out + 8, d);
	out[10] = 'T';
	put2(out + 11, tod / 3600);
	out[13] = ':';
	put2(out + 14, tod / 60 % 60);
	out[16] = ':';
	put2(out + 17, tod % 60);
	out[19] = '.';
	out[20] = (char)('0' + frac / 100);
	put2(out + 21, frac % 100);
	out[23] = 'Z';
	out[24] = '\0';
}

/* Reads exactly n digits at *p; advances *p. */
static bool parse_digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool parse_epoch_ms(const char *s, int64_t *ms_out)
{
	if (!*s || strlen(s) > 18)
		return false;
	int64_t v = 0;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return false;
		v = v * 10 + (*p - '0');
	}
	*ms_out = v;
	return true;
}

static bool parse_date_time(const char **pp, struct tm *tm)
{
	const char *p = *pp;
	int y, mo, d, h, mi, se;
	if (!parse_digits(&p, 4, &y) || *p++ != '-' || !parse_digits(&p, 2, &mo) || *p++ != '-' ||
	    !parse_digits(&p, 2, &d))
		return false;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return false;
	p++;
	if (!parse_digits(&p, 2, &h) || *p++ != ':' || !parse_digits(&p, 2, &mi) || *p++ != ':' ||
	    !parse_digits(&p, 2, &se))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return false;
	memset(tm, 0, sizeof(*tm));
	tm->tm_year = y - 1900;
	tm->tm_mon = mo - 1;
	tm->tm_mday = d;
	tm->tm_hour = h;
	tm->tm_min = mi;
	tm->tm_sec = se;
	*pp = p;
	return true;
}

static bool parse_fraction(const char **pp, int *ms)
{
	const char *p = *pp;
	*ms = 0;
	if (*p != '.' && *p != ',')
		return true;
	p++;
	if (!isdigit((unsigned char)*p))
		return false;
	int scale = 100;
	for (; isdigit((unsigned char)*p); p++) {
		*ms += (*p - '0') * scale;
		scale /= 10;
	}
	*pp = p;
	return true;
}

static bool parse_offset(const char **pp, int *offset_s)
{
	const char *p = *pp;
	*offset_s = 0;
	if (*p == 'Z' || *p == 'z') {
		*pp = p + 1;
		return true;
	}
	if (*p != '+' && *p != '-')
		return false;
	int sign = *p++ == '-' ? -1 : 1, h, m;
	if (!parse_digits(&p, 2, &h))
		return false;
	if (*p == ':')
		p++;
	if (!parse_digits(&p, 2, &m) || h > 23 || m > 59)
		return false;
	*offset_s = sign * (h * 3600 + m * 60);
	*pp = p;
	return true;
}

rfx_err rfx_parse_time(const char *s, int64_t *ms_out)
{
	if (!s)
		return RFX_ERR_INVAL;
	if (parse_epoch_ms(s, ms_out))
		return RFX_OK;
	struct tm tm;
	int frac_ms, offset_s;
	const char *p = s;
	if (!parse_date_time(&p, &tm) || !parse_fraction(&p, &frac_ms) || !parse_offset(&p, &offset_s) || *p)
		return RFX_ERR_PARSE;
	int64_t t = days_from_civil(tm.tm_year + 1900LL, tm.tm_mon + 1, tm.tm_mday) * 86400 +
		    tm.tm_hour * 3600 + tm.tm_min * 60 +
		    tm.tm_sec; /* what timegm() gives, without its time zone machinery */
	*ms_out = (t - offset_s) * 1000 + frac_ms;
	return RFX_OK;
}

static int64_t duration_unit_ms(const char *u, size_t n)
{
	static const struct {
		const char *name;
		int64_t ms;
	} units[] = {{"ms", 1},	     {"s", 1000},    {"sec", 1000},   {"m", 60000},
		     {"min", 60000}, {"h", 3600000}, {"d", 86400000}, {"w", 604800000}};
	if (n == 0)
		return 1000;
	for (size_t i = 0; i < RFX_ARRAY_LEN(units); i++)
		if (strlen(units[i].name) == n && strncmp(units[i].name, u, n) == 0)
			return units[i].ms;
	return -1;
}

/* Accepts one or more number+unit parts ("1h30m"); a bare number is seconds. */
rfx_err rfx_parse_duration(const char *s, int64_t *ms_out)
{
	if (!s || !*s)
		return RFX_ERR_INVAL;
	double total = 0;
	const char *p = s;
	while (*p) {
		if (!isdigit((unsigned char)*p) && *p != '.')
			return RFX_ERR_INVAL;
		char *end;
		errno = 0;
		double v = strtod(p, &end);
		if (end == p || errno || v < 0)
			return RFX_ERR_INVAL;
		const char *u = end;
		while (isalpha((unsigned char)*end))
			end++;
		int64_t unit = duration_unit_ms(u, (size_t)(end - u));
		if (unit < 0 || (end == u && (*end || p != s)))
			return RFX_ERR_INVAL;
		total += v * (double)unit;
		if (total > 9.0e15)
			return RFX_ERR_INVAL;
		p = end;
	}
	*ms_out = (int64_t)(total + 0.5);
	return RFX_OK;
}

/* ---- ULID ---- */

static pthread_mutex_t ulid_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t ulid_last_ms;
static uint8_t ulid_last_rand[10];

static void random_bytes(void *p, size_t n)
{
	uint8_t *b = p;
	while (n > 0) {
		ssize_t r = getrandom(b, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "reflex: getrandom failed: %s\n", strerror(errno));
			abort();
		}
		b += r;
		n -= (size_t)r;
	}
}

/* Within one millisecond the random part is incremented so ids from this process stay strictly ordered. */
static void ulid_next(int64_t *ms, uint8_t rnd[10])
{
	pthread_mutex_lock(&ulid_lock);
	int64_t now = rfx_now_ms();
	if (now <= ulid_last_ms) {
		now = ulid_last_ms;
		int i = 9;
		while (i >= 0 && ++ulid_last_rand[i] == 0)
			i--;
		if (i < 0)
			now = ++ulid_last_ms;
	} else {
		random_bytes(ulid_last_rand, sizeof(ulid_last_rand));
		ulid_last_ms = now;
	}
	memcpy(rnd, ulid_last_rand, 10);
	*ms = now;
	pthread_mutex_unlock(&ulid_lock);
}

void rfx_ulid(char out[27])
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	int64_t ms;
	uint8_t rnd[10];
	ulid_next(&ms, rnd);
	uint64_t t = (uint64_t)ms & 0xFFFFFFFFFFFFULL;
	for (int i = 9; i >= 0; i--) {
		out[i] = alphabet[t & 31];
		t >>= 5;
	}
	/* 80 random bits -> 16 characters, most significant first. */
	uint64_t hi = 0, lo = 0;
	for (int i = 0; i < 2; i++)
		hi = (hi << 8) | rnd[i];
	for (int i = 2; i < 10; i++)
		lo = (lo << 8) | rnd[i];
	for (int i = 25; i >= 10; i--) {
		out[i] = alphabet[lo & 31];
		lo = (lo >> 5) | ((hi & 31) << 59);
		hi >>= 5;
	}
	out[26] = '\0';
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid (overlong, surrogate, > U+10FFFF,
 * truncated). */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	size_t n;
	uint32_t cp;
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

bool rfx_ascii(const char *s, size_t len)
{
	uint64_t any = 0, w;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, s + i, 8);
		any |= w;
	}
	for (; i < len; i++)
		any |= (unsigned char)s[i];
	return !(any & 0x8080808080808080ULL);
}

bool rfx_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		uint64_t w;
		if (len - i >= 8 && (memcpy(&w, p + i, 8), !(w & 0x8080808080808080ULL))) {
			i += 8; /* eight ASCII bytes */
			continue;
		}
		size_t n = utf8_seq_len(p + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

char *rfx_utf8_sanitize(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = rfx_malloc(len * 3 + 1);
	size_t o = 0, i = 0;
	while (i < len) {
		size_t n = utf8_seq_len(p + i, len - i);
		if (n == 0) {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
			continue;
		}
		if (!(n == 1 && p[i] == 0)) {
			memcpy(out + o, p + i, n);
			o += n;
		}
		i += n;
	}
	out[o] = '\0';
	return out;
}

/* ---- files ---- */

rfx_err rfx_read_file(const char *path, size_t max, char **out, size_t *len_out)
{
	rfx_err rc = RFX_OK;
	char *data = NULL;
	size_t len = 0, cap = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? RFX_ERR_NOTFOUND : RFX_ERR_IO;
	for (;;) {
		if (len + 1 >= cap) {
			cap = cap ? cap * 2 : 4096;
			data = rfx_realloc(data, cap);
		}
		ssize_t r = read(fd, data + len, cap - len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = RFX_ERR_IO;
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > max) {
			rc = RFX_ERR_LIMIT;
			goto out;
		}
	}
	data[len] = '\0';
	*out = data;
	data = NULL;
	if (len_out)
		*len_out = len;
out:
	close(fd);
	RFX_FREE(data);
	return rc;
}

static rfx_err write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return RFX_ERR_IO;
		}
		p += w;
		len -= (size_t)w;
	}
	return RFX_OK;
}

static void fsync_parent_dir(const char *path)
{
	char *dir = rfx_strdup(path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

rfx_err rfx_write_file_atomic(const char *path, const void *data, size_t len)
{
	rfx_err rc = RFX_OK;
	char *tmp = rfx_asprintf("%s.tmp.XXXXXX", path);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = RFX_ERR_IO;
		goto out;
	}
	fchmod(fd, 0640);
	rc = write_all(fd, data, len);
	if (!rc && fsync(fd) != 0)
		rc = RFX_ERR_IO;
	if (close(fd) != 0 && !rc)
		rc = RFX_ERR_IO;
	if (!rc && rename(tmp, path) != 0)
		rc = RFX_ERR_IO;
	if (rc) {
		unlink(tmp);
		goto out;
	}
	fsync_parent_dir(path);
out:
	RFX_FREE(tmp);
	return rc;
}

rfx_err rfx_mkdirs(const char *path)
{
	if (!path || !*path)
		return RFX_ERR_INVAL;
	rfx_err rc = RFX_OK;
	char *p = rfx_strdup(path);
	for (char *s = p + 1;; s++) {
		bool end = *s == '\0';
		if (*s != '/' && !end)
			continue;
		*s = '\0';
		if (mkdir(p, 0750) != 0 && errno != EEXIST) {
			rc = RFX_ERR_IO;
			goto out;
		}
		if (end)
			break;
		*s = '/';
	}
	struct stat st;
	if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
		rc = RFX_ERR_IO;
out:
	RFX_FREE(p);
	return rc;
}

bool rfx_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	const unsigned char *x = a, *y = b;
	size_t n = alen > blen ? alen : blen;
	unsigned char diff = (unsigned char)(alen != blen);
	for (size_t i = 0; i < n; i++) {
		unsigned char cx = i < alen ? x[i] : 0;
		unsigned char cy = i < blen ? y[i] : 0;
		diff |= cx ^ cy;
	}
	return diff == 0;
}

bool rfx_glob(const char *pattern, const char *s)
{
	if (!pattern || !s)
		return false;
	return fnmatch(pattern, s, 0) == 0;
}
