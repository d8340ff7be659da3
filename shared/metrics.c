/* metrics.c -- process-wide Prometheus registry: registration under a mutex, lock-free updates, text
 * rendering. */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { M_COUNTER, M_GAUGE, M_HISTOGRAM } metric_type;

static const double default_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
					 0.25,	 0.5,	1,	2.5,   5,    10,    30,	  60};
#define NBUCKETS RFX_ARRAY_LEN(default_buckets)

typedef struct family family;

struct metric {
	family *fam;
	char *labels;		   /* without braces, "" for none */
	_Atomic uint64_t value;	   /* counter/gauge: double bits; histogram: sum as double bits */
	_Atomic uint64_t count;	   /* histogram observations */
	_Atomic uint64_t *buckets; /* histogram, per bucket (not cumulative) */
	metric *next;
};

struct family {
	char *name;
	char *help;
	metric_type type;
	metric *first, *last;
	family *next;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static family *families, *families_last;
/* Handles for misuse (bad name, type clash): updates go nowhere, nothing is rendered. */
static metric detached;

static uint64_t d2u(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	return u;
}

static double u2d(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof(d));
	return d;
}

static void atomic_add_double(_Atomic uint64_t *p, double v)
{
	uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(p, &old, d2u(u2d(old) + v), memory_order_relaxed,
						      memory_order_relaxed))
		;
}

static bool valid_name(const char *s)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == ':'))
			return false;
	return true;
}

static family *family_get(const char *name, metric_type type, const char *help)
{
	for (family *f = families; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f->type == type ? f : NULL;
	family *f = rfx_calloc(1, sizeof(*f));
	f->name = rfx_strdup(name);
	f->help = rfx_strdup(help ? help : "");
	f->type = type;
	if (families_last)
		families_last->next = f;
	else
		families = f;
	families_last = f;
	return f;
}

static metric *series_get(family *f, const char *labels)
{
	for (metric *m = f->first; m; m = m->next)
		if (strcmp(m->labels, labels) == 0)
			return m;
	metric *m = rfx_calloc(1, sizeof(*m));
	m->fam = f;
	m->labels = rfx_strdup(labels);
	if (f->type == M_HISTOGRAM)
		m->buckets = rfx_calloc(NBUCKETS, sizeof(*m->buckets));
	if (f->last)
		f->last->next = m;
	else
		f->first = m;
	f->last = m;
	return m;
}

static metric *lookup(const char *name, const char *labels, const char *help, metric_type type)
{
	if (!valid_name(name)) {
		fprintf(stderr, "reflex: invalid metric name \"%s\"\n", name ? name : "");
		return &detached;
	}
	pthread_mutex_lock(&reg_lock);
	metric *m = NULL;
	family *f = family_get(name, type, help);
	if (f)
		m = series_get(f, labels ? labels : "");
	pthread_mutex_unlock(&reg_lock);
	if (!m) {
		fprintf(stderr, "reflex: metric \"%s\" registered with two types\n", name);
		return &detached;
	}
	return m;
}

metric *metrics_counter(const char *name, const char *labels, const char *help)
{
	return lookup(name, labels, help, M_COUNTER);
}

metric *metrics_gauge(const char *name, const char *labels, const char *help)
{
	return lookup(name, labels, help, M_GAUGE);
}

metric *metrics_histogram(const char *name, const char *labels, const char *help)
{
	return lookup(name, labels, help, M_HISTOGRAM);
}

void metrics_inc(metric *m)
{
	metrics_add(m, 1.0);
}

void metrics_add(metric *m, double v)
{
	if (m && m != &detached)
		atomic_add_double(&m->value, v);
}

void metrics_set(metric *m, double v)
{
	if (m && m != &detached)
		atomic_store_explicit(&m->value, d2u(v), memory_order_relaxed);
}

void metrics_observe(metric *m, double v)
{
	if (!m || m == &detached || !m->buckets)
		return;
	size_t i = 0;
	while (i < NBUCKETS && v > default_buckets[i])
		i++;
	if (i < NBUCKETS)
		atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
	atomic_add_double(&m->value, v);
	atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
}

double metrics_value(metric *m)
{
	if (!m || m == &detached)
		return 0;
	if (m->fam->type == M_HISTOGRAM)
		return (double)atomic_load_explicit(&m->count, memory_order_relaxed);
	return u2d(atomic_load_explicit(&m->value, memory_order_relaxed));
}

/* ---- rendering ---- */

static const char *type_name(metric_type t)
{
	return t == M_COUNTER ? "counter" : t == M_GAUGE ? "gauge" : "histogram";
}

static rfx_err put_help(rfx_buf *out, const family *f)
{
	rfx_err rc = buf_printf(out, "# HELP %s ", f->name);
	for (const char *p = f->help; !rc && *p; p++)
		rc = *p == '\\'	  ? buf_puts(out, "\\\\")
		     : *p == '\n' ? buf_puts(out, "\\n")
				  : buf_putc(out, *p);
	if (!rc)
		rc = buf_printf(out, "\n# TYPE %s %s\n", f->name, type_name(f->type));
	return rc;
}

static rfx_err put_sample(rfx_buf *out, const char *name, const char *suffix, const char *labels,
			  const char *extra, double v)
{
	bool any = *labels || extra;
	return buf_printf(out, "%s%s%s%s%s%s%s %.15g\n", name, suffix, any ? "{" : "", labels,
			  *labels && extra ? "," : "", extra ? extra : "", any ? "}" : "", v);
}

static rfx_err put_histogram(rfx_buf *out, const family *f, metric *m)
{
	char le[48];
	uint64_t cum = 0;
	rfx_err rc = RFX_OK;
	for (size_t i = 0; !rc && i < NBUCKETS; i++) {
		cum += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
		snprintf(le, sizeof(le), "le=\"%g\"", default_buckets[i]);
		rc = put_sample(out, f->name, "_bucket", m->labels, le, (double)cum);
	}
	/* count is read after the buckets so +Inf is never below the last finite bucket */
	double count = (double)atomic_load_explicit(&m->count, memory_order_relaxed);
	if (count < (double)cum)
		count = (double)cum;
	if (!rc)
		rc = put_sample(out, f->name, "_bucket", m->labels, "le=\"+Inf\"", count);
	if (!rc)
		rc = put_sample(out, f->name, "_sum", m->labels, NULL, u2d(atomic_load(&m->value)));
	if (!rc)
		rc = put_sample(out, f->name, "_count", m->labels, NULL, count);
	return rc;
}

static rfx_err put_family(rfx_buf *out, const family *f)
{
	rfx_err rc = put_help(out, f);
	for (metric *m = f->first; !rc && m; m = m->next) {
		if (f->type == M_HISTOGRAM)
			rc = put_histogram(out, f, m);
		else
			rc = put_sample(out, f->name, "", m->labels, NULL, u2d(atomic_load(&m->value)));
	}
	return rc;
}

rfx_err metrics_render(rfx_buf *out)
{
	rfx_err rc = RFX_OK;
	pthread_mutex_lock(&reg_lock);
	for (family *f = families; !rc && f; f = f->next)
		rc = put_family(out, f);
	pthread_mutex_unlock(&reg_lock);
	return rc;
}
