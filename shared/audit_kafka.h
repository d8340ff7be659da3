/* audit_kafka.h -- the Kafka audit sink (librdkafka idempotent producer with an on-disk spool behind it) and
 * a reader of the audit topic for `reflex report` and the tests. audit_init() opens the sink through
 * audit_kafka_open_fn (audit.h); the functions here are for callers that need more. */
#ifndef RFX_AUDIT_KAFKA_H
#define RFX_AUDIT_KAFKA_H

#include <stdint.h>
#include "audit.h"

/* Opens the sink from cfg: kafka_brokers, kafka_audit_topic (default reflex.audit), kafka_properties (passed
 * to librdkafka; a key ending in `_file` reads the value of the property without that suffix from a file,
 * e.g. `sasl.password_file`), audit_spool_dir (default: $TMPDIR or /tmp, then reflex-<program>-audit-spool).
 * Never waits for a broker: a broker that is down is only seen later and handled by the spool. */
rfx_err audit_kafka_open(const cfg_common *cfg, audit_sink *out, char *err, size_t errlen);

/* Counters of one open Kafka sink (ctx is the audit_sink's ctx). The same numbers are in /metrics. */
typedef struct audit_kafka_stats {
	uint64_t written;	  /* records given to write() */
	uint64_t produced;	  /* handed to librdkafka (straight or from the spool) */
	uint64_t delivered;	  /* acknowledged by the brokers */
	uint64_t delivery_errors; /* delivery reports with an error (the record is then kept or dropped) */
	uint64_t spooled;	  /* written to the on-disk spool */
	uint64_t dropped; /* could not be kept: spool full or unwritable, record too large, undeliverable */
	uint64_t spool_records; /* waiting in the spool now */
	uint64_t queued;	/* in librdkafka's queue now, not yet acknowledged */
	bool
	    spooling; /* new records go to the spool (brokers down, local queue full, or spool not drained) */
} audit_kafka_stats;
void audit_kafka_get_stats(void *ctx, audit_kafka_stats *out);

/* Called for every record read; return non-zero to stop reading. */
typedef int (*audit_kafka_record_fn)(void *arg, const char *key, size_t key_len, const char *value,
				     size_t len, int32_t partition, int64_t offset);
/* Reads every record of topic, partition by partition in offset order, from the beginning up to the end it
 * had when reading started. props: extra librdkafka properties (may be NULL). RFX_ERR_NOTFOUND when the topic
 * does not exist, RFX_ERR_TIMEOUT when timeout_ms passes first, RFX_ERR_UNAVAILABLE when no broker answers.
 */
rfx_err audit_kafka_read(const char *brokers, const char *topic, const cfg_strmap *props, int timeout_ms,
			 audit_kafka_record_fn fn, void *arg, char *err, size_t errlen);

#endif
