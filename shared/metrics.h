/* metrics.h -- process-wide registry of counters, gauges and histograms, exposed in Prometheus text format.
 * Handles are found or created once (cheap to keep in a static) and updated lock-free on the hot path.
 *
 *   static metric *m; if (!m) m = metrics_counter("reflex_events_total", "source=\"alertmanager\"", "Events received");
 *   metrics_inc(m); */
#ifndef RFX_METRICS_H
#define RFX_METRICS_H

#include "buf.h"

typedef struct metric metric;

/* labels: the Prometheus label set without braces, e.g. `source="dynatrace",state="open"`, or NULL/"" for none.
 * The same name+labels always returns the same handle. name must be a valid Prometheus metric name. */
metric *metrics_counter(const char *name, const char *labels, const char *help);
metric *metrics_gauge(const char *name, const char *labels, const char *help);
/* Histogram with the default latency buckets in seconds (0.0005 .. 60). */
metric *metrics_histogram(const char *name, const char *labels, const char *help);

void metrics_inc(metric *m);
void metrics_add(metric *m, double v);
void metrics_set(metric *m, double v); /* gauges */
void metrics_observe(metric *m, double v); /* histograms */
double metrics_value(metric *m);	   /* counter/gauge value; histogram count */

/* Appends the whole registry in Prometheus text exposition format 0.0.4. */
rfx_err metrics_render(rfx_buf *out);

#endif
