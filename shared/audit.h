/* audit.h -- the audit sink: JSON records with type, ts, svc and ids, one interface, several sinks (a table
 * of function pointers). The JSON-lines file sink is the embedded default; the Kafka sink is used when
 * kafka_brokers is configured. Emitting never blocks a request for long and never fails the caller: failures
 * are counted. */
#ifndef RFX_AUDIT_H
#define RFX_AUDIT_H

#include <cjson/cJSON.h>
#include "buf.h"
#include "config.h"

typedef struct audit_sink_ops {
	const char *name; /* "file", "kafka" */
	/* key: source_id (may be NULL); json: one complete record without newline. Must not block long. */
	rfx_err (*write)(void *ctx, const char *key, const char *json, size_t len);
	void (*flush)(void *ctx, int timeout_ms);
	void (*close)(void *ctx);
} audit_sink_ops;

typedef struct audit_sink {
	const audit_sink_ops *ops;
	void *ctx;
} audit_sink;

/* The JSON-lines file sink: appends one record per line (O_APPEND, line-buffered, fsync on flush). */
rfx_err audit_file_open(const char *path, audit_sink *out, char *err, size_t errlen);

/* Chooses and opens the process sink from the common config: Kafka when kafka_brokers is set (see
 * audit_kafka.c), else audit_file when set, else none (records are only counted). svc goes into every record.
 */
rfx_err audit_init(const char *svc, const cfg_common *cfg, char *err, size_t errlen);
/* Emits one record: adds "type", "ts" and "svc" to fields (which it takes ownership of and frees). The key
 * used for partitioning is fields' "source_id" when present. */
void audit_emit(const char *type, cJSON *fields);
/* Emits one record built without a cJSON tree: writes {"type":..,"ts":..,"svc":.., + fields_json + } into a
 * per-thread buffer. fields_json is the body of a JSON object without braces ("a":"x","b":[1]), may be empty;
 * it must not hold type, ts or svc. NULL means the caller could not build the fields (a buffer limit was
 * hit): nothing is written and the record is counted as an error. key: the partitioning key (the record's
 * source_id), may be NULL. */
void audit_emit_raw(const char *type, const char *key, const char *fields_json, size_t len);
/* Between audit_hold and audit_release, this thread's audit_emit_raw records are kept and handed to the sink
 * together at the release when the sink writes lines (the file sink: one write() for all of them, still one
 * line per record); other sinks get each record at once. Used for the records of one request, which is not
 * answered before the release. */
void audit_hold(void);
void audit_release(void);
/* A per-thread scratch buffer, emptied, for building fields_json; valid until the thread's next call. */
rfx_buf *audit_fields_buf(void);
/* Append the member "name":"value" (preceded by a comma unless b is empty); nothing when value is NULL, as
 * cJSON omits a string member whose value is NULL. name is a literal needing no escaping. */
rfx_err audit_put_member(rfx_buf *b, const char *name, const char *value);
/* Append the member "name":<value printed unformatted by cJSON> (comma as above); nothing when value is NULL.
 */
rfx_err audit_put_json(rfx_buf *b, const char *name, const cJSON *value);
/* Append the member "name":<json> where json is JSON text already (comma as above); nothing when json is
 * NULL. */
rfx_err audit_put_text(rfx_buf *b, const char *name, const char *json, size_t len);
void audit_shutdown(int flush_timeout_ms);
/* False when no sink is configured: callers may skip building records (audit_emit would only count them). */
bool audit_enabled(void);

/* Registered by audit_kafka.c; NULL when the Kafka sink is not built in. */
extern rfx_err (*audit_kafka_open_fn)(const cfg_common *cfg, audit_sink *out, char *err, size_t errlen);

#endif
