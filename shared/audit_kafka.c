/* audit_kafka.c -- the Kafka audit sink: an idempotent librdkafka producer that never blocks its callers,
 * with a bounded on-disk spool for the records the brokers cannot take now, produced again in order when they
 * return.
 *
 * Two modes. Direct: write() appends the record to an in-memory buffer (no disk). Spooling: write() appends
 * it to the spool. Spooling starts when that buffer is full, when every broker is down or when the producer
 * fails, and lasts until the sink thread has produced the whole buffer and spool and the brokers acknowledged
 * them. Records in the buffer or in librdkafka when spooling starts are older than anything in the spool and
 * are produced first (no message timeout), so the order per key holds across an outage, and the idempotent
 * producer keeps them single. At close, what librdkafka and the buffer still hold is put back in front of the
 * spool (spool_prepend).
 *
 * The sink thread hands records to librdkafka in rounds, and only when librdkafka holds none unacknowledged:
 * a round carries at most one request per partition and is sent at once (rd_kafka_flush). librdkafka's
 * idempotent producer keeps one request in flight per partition, and its broker thread polls without
 * sleeping while a partition has a batch ready behind one in flight; handing records over as they come
 * (linger.ms) made that thread spin whenever the brokers answered slower than linger.ms, up to a core.
 * Batching happens in the buffer instead: the sink thread chooses each record's partition itself (the
 * consistent_random partitioner's choice: CRC32 of the key modulo the topic's partition count, read from the
 * brokers) and keeps one queue per partition, so a key's records stay in order in one partition; a round
 * leaves when a queue's oldest record is linger.ms old or a queue holds a full request.
 */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "audit_kafka.h"
#include "log.h"
#include "metrics.h"
#include "spool.h"

#define KAFKA_TICK_MS	  20	     /* the sink thread's poll interval */
#define KAFKA_FLUSH_MS	  200	     /* how long the sink thread waits for a burst's acknowledgements */
#define KAFKA_LINGER_MS	  "100"	     /* default linger.ms: how long a record waits for others */
#define KAFKA_RECORD_WIRE 32	     /* a record's framing in a Kafka batch, at most */
#define KAFKA_BATCH_SLACK 1024	     /* room for a batch's own header */
#define KAFKA_BUF_KEEP	  (4u << 20) /* an emptied hand-over buffer larger than this is freed */
#define KAFKA_SYNC_MS	  100	     /* fsync batching of the spool */
#define KAFKA_PROBE_MS                                                                                       \
	1000 /* how often a spooling sink with an empty spool asks whether brokers are back                  \
	      */
#define KAFKA_RETRY_MAX_MS   5000 /* backoff ceiling after a failed spool batch */
#define KAFKA_MAX_KEY	     1024 /* longer keys are cut: a key only chooses the partition */
#define KAFKA_RESCUE_WAIT_MS 3000 /* at close: time for purged records' delivery reports */
#define KAFKA_PROP_FILE_MAX  65536
#define KAFKA_META_MS	     60000	 /* how often the topic's partition count is read again */
#define KAFKA_META_RETRY_MS  100	 /* while the topic has no partitions yet (being created) */
#define KAFKA_META_WAIT_MS   500	 /* a metadata request's timeout */
#define KAFKA_IDEMP_INFLIGHT 5		 /* the idempotent producer: requests in flight per connection */
#define KAFKA_MAX_PARTITIONS 100000	 /* a bound on the queues kept; more partitions than this go unused */
#define SPOOLED		     ((void *)1) /* message opaque of a record that came from the spool */

typedef struct kmetrics {
	metric *written, *produced, *delivered, *delivery_errors, *spooled;
	metric *drop_full, *drop_large, *drop_undeliverable, *drop_corrupt;
	metric *spool_records, *spool_bytes, *queued, *spooling, *up;
} kmetrics;

/* Records not yet handed to librdkafka: [u32 key length + 1, 0: no key][u32 value length][key][value]. */
typedef struct pbuf {
	char *data;
	size_t len, cap;
	size_t off; /* read position (the sink thread's) */
	size_t n;   /* records in it */
} pbuf;

typedef struct rescue {
	char **v;
	size_t *lens;
	size_t n, cap;
} rescue;

typedef struct kafka_sink {
	pthread_mutex_t mu; /* writers' produce and spool appends, the mode, swapping rk */
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	char *topic, *brokers;
	cfg_strmap props;
	spool *sp;
	atomic_bool spooling; /* changed under mu */
	pthread_t thread;
	bool thread_started;
	atomic_bool stop, fatal;
	_Atomic int64_t down_ms, ok_ms; /* monotonic: last "all brokers down", last sign of a live broker */
	/* Spool draining; touched only by the sink thread (delivery reports run there too). */
	bool batch_open, batch_closed, batch_failed, has_pending, has_last;
	int batch_outstanding;
	spool_pos batch_last;
	spool_rec pending;
	int64_t next_try_ms, retry_ms, last_sync_ms, last_probe_ms, last_gauge_ms;
	bool rescuing;
	rd_kafka_resp_err_t batch_err; /* why the current spool batch failed */
	/* Direct mode's buffer: writers append to in (under mu); the sink thread swaps it with spare and
	 * moves the records into parts, one queue per partition. Records in parts are older than those in in.
	 */
	pbuf in, spare;
	int64_t in_since_ms;  /* under mu: when in got its first record */
	pbuf *parts;	      /* the sink thread's: nparts queues */
	int64_t *part_since;  /* when a queue's oldest record was written, at the latest */
	int32_t nparts;	      /* the topic's partition count; 0 while unknown */
	int32_t next_part;    /* where the next round starts (rounds may carry fewer than nparts) */
	uint32_t keyless;     /* spreads records without a key */
	int64_t meta_next_ms; /* next read of the partition count */
	size_t *batch_part_bytes, *batch_part_n;   /* the spool batch's size per partition */
	size_t batch_parts;			   /* partitions the spool batch uses */
	_Atomic uint64_t buffered, buffered_bytes; /* records in in and parts */
	atomic_int flushing;
	/* From the producer's configuration (set under mu): a burst (one request of a partition), partitions
	 * in one round, a record, the buffer. */
	size_t burst_bytes, burst_msgs, round_parts, max_record, max_buffered, max_buffered_bytes;
	int linger_ms;
	rescue rs;
	_Atomic uint64_t written, produced, delivered, delivery_errors, spooled, dropped;
	_Atomic uint64_t drops_unlogged;
	_Atomic int64_t last_drop_log_ms;
	kmetrics m;
} kafka_sink;

static const audit_sink_ops kafka_ops;

/* The spool holds [u16 key length + 1, big endian; 0: no key][key][value]. */
static char *frame_record(const char *key, size_t klen, const char *val, size_t vlen, size_t *out_len)
{
	char *f = rfx_malloc(2 + klen + vlen);
	unsigned n = key ? (unsigned)klen + 1 : 0;
	f[0] = (char)(n >> 8);
	f[1] = (char)(n & 0xFF);
	if (klen)
		memcpy(f + 2, key, klen);
	memcpy(f + 2 + klen, val, vlen);
	*out_len = 2 + klen + vlen;
	return f;
}

static bool unframe(const char *f, size_t len, const char **key, size_t *klen, const char **val, size_t *vlen)
{
	if (len < 2)
		return false;
	unsigned n = (unsigned)(unsigned char)f[0] << 8 | (unsigned char)f[1];
	size_t kl = n ? n - 1 : 0;
	if (kl > KAFKA_MAX_KEY || 2 + kl > len)
		return false;
	*key = n ? f + 2 : NULL;
	*klen = kl;
	*val = f + 2 + kl;
	*vlen = len - 2 - kl;
	return true;
}

static size_t record_cost(size_t klen, size_t vlen)
{
	return klen + vlen + KAFKA_RECORD_WIRE;
}

static void put_u32(char *p, uint32_t v)
{
	p[0] = (char)(v >> 24);
	p[1] = (char)(v >> 16);
	p[2] = (char)(v >> 8);
	p[3] = (char)v;
}

static uint32_t get_u32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static void pbuf_put(pbuf *b, const char *key, size_t klen, const char *val, size_t vlen)
{
	size_t need = b->len + 8 + klen + vlen;
	if (need > b->cap) {
		b->cap = b->cap ? b->cap : 65536;
		while (b->cap < need)
			b->cap *= 2;
		b->data = rfx_realloc(b->data, b->cap);
	}
	char *p = b->data + b->len;
	put_u32(p, key ? (uint32_t)klen + 1 : 0);
	put_u32(p + 4, (uint32_t)vlen);
	if (klen)
		memcpy(p + 8, key, klen);
	memcpy(p + 8 + klen, val, vlen);
	b->len = need;
	b->n++;
}

/* The record at the read position; returns its size in the buffer, 0 when there is none. */
static size_t pbuf_peek(const pbuf *b, const char **key, size_t *klen, const char **val, size_t *vlen)
{
	if (b->off >= b->len)
		return 0;
	const char *p = b->data + b->off;
	uint32_t kn = get_u32(p);
	*klen = kn ? kn - 1 : 0;
	*key = kn ? p + 8 : NULL;
	*vlen = get_u32(p + 4);
	*val = p + 8 + *klen;
	return 8 + *klen + *vlen;
}

static void pbuf_clear(pbuf *b)
{
	if (b->cap > KAFKA_BUF_KEEP) {
		RFX_FREE(b->data);
		b->cap = 0;
	}
	b->len = b->off = b->n = 0;
}

/* Takes the record at the read position (size bytes) off the front; the read part is given back once it is
 * half the buffer, so a queue that never empties does not grow. */
static void pbuf_consume(pbuf *b, size_t size)
{
	b->off += size;
	b->n--;
	if (b->n == 0) {
		pbuf_clear(b);
	} else if (b->off >= 65536 && b->off >= b->len / 2) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
}

/* How many records from the front of b go in one request: at most max_msgs and max_bytes (counted with
 * record_cost), and at least one. */
static size_t burst_fit(const pbuf *b, size_t max_bytes, size_t max_msgs, size_t *bytes_out)
{
	size_t n = 0, bytes = 0, off = b->off;
	while (n < max_msgs && off < b->len) {
		const char *p = b->data + off;
		uint32_t kn = get_u32(p), vlen = get_u32(p + 4);
		size_t klen = kn ? kn - 1 : 0, cost = record_cost(klen, vlen);
		if (n && bytes + cost > max_bytes)
			break;
		bytes += cost;
		off += 8 + klen + vlen;
		n++;
	}
	*bytes_out = bytes;
	return n;
}

/* The partition librdkafka's default partitioner (consistent_random) gives a key: CRC32 of the key modulo
 * the partition count; records without a key are spread (*keyless counts them). */
static int32_t key_partition(const char *key, size_t klen, int32_t nparts, uint32_t *keyless)
{
	if (nparts <= 1)
		return 0;
	if (!key || !klen)
		return (int32_t)((*keyless)++ % (uint32_t)nparts);
	return rd_kafka_msg_partitioner_consistent_random(NULL, key, klen, nparts, NULL, NULL);
}

/* Appends every record of src to the queue of its partition, in order. since: when src's oldest record was
 * written; a queue that was empty takes it as its own. */
static void parts_fill(pbuf *parts, int64_t *since, int32_t nparts, uint32_t *keyless, pbuf *src,
		       int64_t src_since)
{
	const char *key, *val;
	size_t klen, vlen, size;
	while ((size = pbuf_peek(src, &key, &klen, &val, &vlen))) {
		int32_t p = key_partition(key, klen, nparts, keyless);
		if (parts[p].n == 0)
			since[p] = src_since;
		pbuf_put(&parts[p], key, klen, val, vlen);
		src->off += size;
	}
	pbuf_clear(src);
}

static void metrics_setup(kmetrics *m)
{
	m->written = metrics_counter("reflex_audit_kafka_written_total", NULL,
				     "Audit records given to the Kafka sink");
	m->produced =
	    metrics_counter("reflex_audit_kafka_produced_total", NULL,
			    "Audit records handed to the Kafka producer (directly or from the spool)");
	m->delivered = metrics_counter("reflex_audit_kafka_delivered_total", NULL,
				       "Audit records acknowledged by the Kafka brokers");
	m->delivery_errors = metrics_counter("reflex_audit_kafka_delivery_errors_total", NULL,
					     "Kafka delivery reports with an error");
	m->spooled =
	    metrics_counter("reflex_audit_kafka_spooled_total", NULL, "Audit records written to the spool");
	const char *help = "Audit records that could not be kept";
	m->drop_full = metrics_counter("reflex_audit_kafka_dropped_total", "reason=\"spool_full\"", help);
	m->drop_large = metrics_counter("reflex_audit_kafka_dropped_total", "reason=\"too_large\"", help);
	m->drop_undeliverable =
	    metrics_counter("reflex_audit_kafka_dropped_total", "reason=\"undeliverable\"", help);
	m->drop_corrupt = metrics_counter("reflex_audit_kafka_dropped_total", "reason=\"corrupt\"", help);
	m->spool_records =
	    metrics_gauge("reflex_audit_kafka_spool_records", NULL, "Audit records waiting in the spool");
	m->spool_bytes =
	    metrics_gauge("reflex_audit_kafka_spool_bytes", NULL, "Bytes of the spool's segment files");
	m->queued = metrics_gauge("reflex_audit_kafka_queued", NULL,
				  "Audit records in the producer, not yet acknowledged");
	m->spooling =
	    metrics_gauge("reflex_audit_kafka_spooling", NULL, "1 while new audit records go to the spool");
	m->up = metrics_gauge("reflex_audit_kafka_up", NULL, "1 while a Kafka broker is reachable");
}

/* Counts a record that could not be kept and logs at most one line a second with how many. */
static void drop(kafka_sink *k, metric *reason_metric, const char *reason)
{
	atomic_fetch_add(&k->dropped, 1);
	metrics_inc(reason_metric);
	uint64_t n = atomic_fetch_add(&k->drops_unlogged, 1) + 1;
	int64_t now = rfx_mono_ms(), last = atomic_load(&k->last_drop_log_ms);
	if (now - last < 1000 || !atomic_compare_exchange_strong(&k->last_drop_log_ms, &last, now))
		return;
	n = atomic_exchange(&k->drops_unlogged, 0);
	char count[24];
	snprintf(count, sizeof(count), "%llu", (unsigned long long)n);
	LOG_ERROR("audit records dropped", "sink", "kafka", "reason", reason, "count", count);
}

/* Called with mu held. */
static void set_spooling(kafka_sink *k, bool on, const char *why)
{
	if (atomic_load(&k->spooling) == on)
		return;
	atomic_store(&k->spooling, on);
	metrics_set(k->m.spooling, on);
	if (on)
		LOG_WARN("audit records spooled", "sink", "kafka", "reason", why);
	else
		LOG_INFO("audit spool drained", "sink", "kafka");
}

static bool broker_up(kafka_sink *k)
{
	return atomic_load(&k->ok_ms) > atomic_load(&k->down_ms);
}

/* Called with mu held. */
static rfx_err spool_put(kafka_sink *k, const char *key, size_t klen, const char *val, size_t vlen)
{
	size_t len;
	char *f = frame_record(key, klen, val, vlen, &len);
	rfx_err rc = spool_append(k->sp, f, len);
	free(f);
	if (!rc) {
		atomic_fetch_add(&k->spooled, 1);
		metrics_inc(k->m.spooled);
	}
	return rc;
}

static rd_kafka_resp_err_t produce(kafka_sink *k, int32_t partition, const char *key, size_t klen,
				   const char *val, size_t vlen, void *opaque)
{
	rd_kafka_resp_err_t e =
	    rd_kafka_producev(k->rk, RD_KAFKA_V_RKT(k->rkt), RD_KAFKA_V_PARTITION(partition),
			      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, klen),
			      RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
	if (!e) {
		atomic_fetch_add(&k->produced, 1);
		metrics_inc(k->m.produced);
	}
	return e;
}

static bool permanent_error(rd_kafka_resp_err_t e)
{
	switch (e) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
	case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
	case RD_KAFKA_RESP_ERR__INVALID_ARG:
		return true;
	default:
		return false;
	}
}

/* Direct mode, called with mu held: appends the record to the buffer, or starts spooling when it is full. */
static bool buffer_put(kafka_sink *k, const char *key, size_t klen, const char *val, size_t vlen)
{
	size_t cost = record_cost(klen, vlen);
	if (atomic_load(&k->buffered) >= k->max_buffered ||
	    atomic_load(&k->buffered_bytes) + cost > k->max_buffered_bytes) {
		set_spooling(k, true, "producer queue full");
		return false;
	}
	if (k->in.n == 0)
		k->in_since_ms = rfx_mono_ms();
	pbuf_put(&k->in, key, klen, val, vlen);
	atomic_fetch_add(&k->buffered_bytes, cost);
	atomic_fetch_add(&k->buffered, 1);
	return true;
}

static rfx_err kafka_write(void *ctx, const char *key, const char *json, size_t len)
{
	kafka_sink *k = ctx;
	size_t klen = key ? strnlen(key, KAFKA_MAX_KEY) : 0;
	bool too_large = false;
	rfx_err rc = RFX_OK;
	atomic_fetch_add(&k->written, 1);
	metrics_inc(k->m.written);
	pthread_mutex_lock(&k->mu);
	if (!atomic_load(&k->spooling)) {
		too_large = record_cost(klen, len) > k->max_record;
		if (too_large || buffer_put(k, key, klen, json, len))
			goto out;
	}
	too_large = 2 + klen + len > SPOOL_DEFAULT_MAX_RECORD;
	if (!too_large)
		rc = spool_put(k, key, klen, json, len);
out:
	pthread_mutex_unlock(&k->mu);
	if (too_large) {
		rc = RFX_ERR_LIMIT;
		drop(k, k->m.drop_large, "too_large");
	} else if (rc) {
		drop(k, k->m.drop_full, rc == RFX_ERR_LIMIT ? "spool_full" : "spool_unwritable");
	}
	return rc;
}

/* Moves the writers' records into the partition queues; called by the sink thread. */
static void take_in(kafka_sink *k)
{
	pthread_mutex_lock(&k->mu);
	pbuf t = k->in;
	int64_t since = k->in_since_ms;
	k->in = k->spare;
	pthread_mutex_unlock(&k->mu);
	parts_fill(k->parts, k->part_since, k->nparts, &k->keyless, &t, since);
	k->spare = t;
}

/* 0 when a round is due: something must go now (flush, close, spooling), a queue holds a full request, or
 * a queue's oldest record is linger.ms old. Otherwise the ms until one is due. */
static int round_wait(kafka_sink *k, int64_t now)
{
	bool urgent = atomic_load(&k->spooling) || atomic_load(&k->flushing) || atomic_load(&k->stop);
	int64_t wait = KAFKA_TICK_MS;
	for (int32_t p = 0; p < k->nparts; p++) {
		const pbuf *q = &k->parts[p];
		if (q->n == 0)
			continue;
		if (urgent || q->n >= k->burst_msgs || q->len - q->off >= k->burst_bytes)
			return 0;
		int64_t due = k->part_since[p] + k->linger_ms - now;
		if (due <= 0)
			return 0;
		if (due < wait)
			wait = due;
	}
	return (int)wait;
}

/* Produces one request's worth from partition p's queue; false when librdkafka refused a record (it stays
 * in front). */
static bool produce_part(kafka_sink *k, int32_t p)
{
	size_t bytes, klen, vlen, size;
	size_t n = burst_fit(&k->parts[p], k->burst_bytes, k->burst_msgs, &bytes);
	const char *key, *val;
	for (; n && (size = pbuf_peek(&k->parts[p], &key, &klen, &val, &vlen)); n--) {
		rd_kafka_resp_err_t e = produce(k, p, key, klen, val, vlen, NULL);
		if (e && !permanent_error(e)) {
			if (e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
			    e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
				k->meta_next_ms = 0; /* the partition count changed: read it again */
			pthread_mutex_lock(&k->mu);
			set_spooling(k, true,
				     e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? "producer queue full"
									: rd_kafka_err2str(e));
			pthread_mutex_unlock(&k->mu);
			return false;
		}
		if (e)
			drop(k, k->m.drop_undeliverable, "undeliverable");
		atomic_fetch_sub(&k->buffered_bytes, record_cost(klen, vlen));
		atomic_fetch_sub(&k->buffered, 1);
		pbuf_consume(&k->parts[p], size);
	}
	return true;
}

/* One request for each partition that has records (at most round_parts of them), sent at once. */
static void produce_round(kafka_sink *k)
{
	size_t used = 0;
	int32_t p = k->next_part;
	for (int32_t i = 0; i < k->nparts && used < k->round_parts; i++, p = (p + 1) % k->nparts) {
		if (k->parts[p].n == 0)
			continue;
		used++;
		if (!produce_part(k, p)) {
			p = (p + 1) % k->nparts;
			break;
		}
	}
	k->next_part = p;
	if (used)
		rd_kafka_flush(k->rk, KAFKA_FLUSH_MS);
}

/* The topic's partition count: 0 when the topic has none yet, -1 when no broker answered. */
static int32_t read_partition_count(kafka_sink *k)
{
	const struct rd_kafka_metadata *md = NULL;
	int32_t n = 0;
	if (rd_kafka_metadata(k->rk, 0, k->rkt, &md, KAFKA_META_WAIT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return -1;
	if (md->topic_cnt == 1 && md->topics[0].partition_cnt > 0)
		n = md->topics[0].partition_cnt;
	rd_kafka_metadata_destroy(md);
	return n < KAFKA_MAX_PARTITIONS ? n : KAFKA_MAX_PARTITIONS;
}

/* Sets a new partition count: the queued records move to their new partitions. Called only when librdkafka
 * holds nothing and no spool batch is open, so a key's records (all in one old queue) keep their order. */
static void set_partitions(kafka_sink *k, int32_t n)
{
	pbuf *parts = rfx_calloc((size_t)n, sizeof(pbuf));
	int64_t *since = rfx_calloc((size_t)n, sizeof(int64_t));
	for (int32_t p = 0; p < k->nparts; p++) {
		parts_fill(parts, since, n, &k->keyless, &k->parts[p], k->part_since[p]);
		free(k->parts[p].data);
	}
	free(k->parts);
	free(k->part_since);
	free(k->batch_part_bytes);
	free(k->batch_part_n);
	k->parts = parts;
	k->part_since = since;
	k->batch_part_bytes = rfx_calloc((size_t)n, sizeof(size_t));
	k->batch_part_n = rfx_calloc((size_t)n, sizeof(size_t));
	k->nparts = n;
	k->next_part = 0;
	char count[16];
	snprintf(count, sizeof(count), "%d", (int)n);
	LOG_DEBUG("kafka audit topic partitions", "sink", "kafka", "count", count);
}

/* Reads the partition count while it is unknown, and again now and then. */
static void refresh_partitions(kafka_sink *k, int64_t now)
{
	if (now < k->meta_next_ms || k->batch_open || k->batch_closed || rd_kafka_outq_len(k->rk) > 0)
		return;
	int32_t n = read_partition_count(k);
	now = rfx_mono_ms();
	if (n > 0 && n != k->nparts)
		set_partitions(k, n);
	k->meta_next_ms = now + (k->nparts ? KAFKA_META_MS : n == 0 ? KAFKA_META_RETRY_MS : KAFKA_PROBE_MS);
}

/* Hands the buffer's records to librdkafka, one round at a time, each once librdkafka holds nothing
 * unacknowledged (see the top of this file). Returns how long the sink thread may sleep. */
static int handover(kafka_sink *k)
{
	int64_t now = rfx_mono_ms();
	refresh_partitions(k, now);
	if (!k->nparts || atomic_load(&k->buffered) == 0 || rd_kafka_outq_len(k->rk) > 0)
		return KAFKA_TICK_MS;
	take_in(k);
	int wait = round_wait(k, now);
	if (wait)
		return wait;
	produce_round(k);
	return 0;
}

static void rescue_add(kafka_sink *k, const rd_kafka_message_t *m)
{
	rescue *r = &k->rs;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 256;
		r->v = rfx_realloc(r->v, r->cap * sizeof(char *));
		r->lens = rfx_realloc(r->lens, r->cap * sizeof(size_t));
	}
	r->v[r->n] = frame_record(m->key, m->key ? m->key_len : 0, m->payload, m->len, &r->lens[r->n]);
	r->n++;
}

static void on_delivery_error(kafka_sink *k, const rd_kafka_message_t *m, bool spooled)
{
	atomic_fetch_add(&k->delivery_errors, 1);
	metrics_inc(k->m.delivery_errors);
	if (permanent_error(m->err)) {
		LOG_ERROR("audit record undeliverable", "sink", "kafka", "error", rd_kafka_err2str(m->err));
		drop(k, k->m.drop_undeliverable, "undeliverable");
		return;
	}
	if (spooled) {
		k->batch_failed = true; /* still in the spool: produced again */
		k->batch_err = m->err;
		return;
	}
	if (k->rescuing) {
		rescue_add(k, m);
		return;
	}
	/* A direct record that failed (a finite message.timeout.ms from kafka_properties): keep it. */
	pthread_mutex_lock(&k->mu);
	set_spooling(k, true, rd_kafka_err2str(m->err));
	rfx_err rc = spool_put(k, m->key, m->key ? m->key_len : 0, m->payload, m->len);
	pthread_mutex_unlock(&k->mu);
	if (rc)
		drop(k, k->m.drop_full, "spool_full");
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	kafka_sink *k = opaque;
	bool spooled = m->_private == SPOOLED;
	if (spooled)
		k->batch_outstanding--;
	if (m->err) {
		on_delivery_error(k, m, spooled);
		return;
	}
	atomic_fetch_add(&k->delivered, 1);
	metrics_inc(k->m.delivered);
	atomic_store(&k->ok_ms, rfx_mono_ms());
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	kafka_sink *k = opaque;
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		atomic_store(&k->down_ms, rfx_mono_ms());
		metrics_set(k->m.up, 0);
		pthread_mutex_lock(&k->mu);
		set_spooling(k, true, "brokers down");
		pthread_mutex_unlock(&k->mu);
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char detail[512];
		rd_kafka_fatal_error(rk, detail, sizeof(detail));
		LOG_ERROR("kafka producer failed", "sink", "kafka", "error", detail);
		atomic_store(&k->fatal, true);
		return;
	}
	LOG_DEBUG("kafka client error", "sink", "kafka", "error", reason);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	if (level <= 4)
		LOG_WARN("kafka client", "facility", fac, "detail", buf);
	else
		LOG_DEBUG("kafka client", "facility", fac, "detail", buf);
}

static void on_log_quiet(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
}

static rfx_err conf_set(rd_kafka_conf_t *c, const char *key, const char *value, char *err, size_t errlen)
{
	char detail[512];
	rd_kafka_conf_res_t r = rd_kafka_conf_set(c, key, value, detail, sizeof(detail));
	if (r == RD_KAFKA_CONF_OK)
		return RFX_OK;
	/* librdkafka's message may quote the value, which may be a secret: name the key only. */
	snprintf(err, errlen, "kafka_properties: %s: %s", key,
		 r == RD_KAFKA_CONF_UNKNOWN ? "unknown librdkafka property" : "invalid value");
	return RFX_ERR_INVAL;
}

/* `name_file: path` sets librdkafka property `name` to the file's content (trailing whitespace removed). */
static rfx_err conf_set_from_file(rd_kafka_conf_t *c, const char *key, const char *path, char *err,
				  size_t errlen)
{
	char *name = rfx_strndup(key, strlen(key) - 5), *text = NULL;
	size_t len = 0;
	rfx_err rc = rfx_read_file(path, KAFKA_PROP_FILE_MAX, &text, &len);
	if (rc) {
		snprintf(err, errlen, "kafka_properties: %s: cannot read %s: %s", key, path,
			 rfx_strerror(rc));
		goto out;
	}
	while (len && strchr(" \t\r\n", text[len - 1]))
		text[--len] = '\0';
	rc = conf_set(c, name, text, err, errlen);
out:
	if (text)
		memset(text, 0, len);
	free(text);
	free(name);
	return rc;
}

static rfx_err conf_apply_props(rd_kafka_conf_t *c, const cfg_strmap *props, char *err, size_t errlen)
{
	for (size_t i = 0; props && i < props->n; i++) {
		const char *key = props->keys[i], *val = props->values[i] ? props->values[i] : "";
		size_t kl = strlen(key);
		rfx_err rc = kl > 5 && !strcmp(key + kl - 5, "_file")
				 ? conf_set_from_file(c, key, val, err, errlen)
				 : conf_set(c, key, val, err, errlen);
		if (rc)
			return rc;
	}
	return RFX_OK;
}

/* The audit stream's guarantees are not tunable: refuse properties that would weaken them. */
static rfx_err check_mandatory(const cfg_strmap *props, char *err, size_t errlen)
{
	for (size_t i = 0; i < props->n; i++) {
		const char *k = props->keys[i], *v = props->values[i] ? props->values[i] : "";
		if ((!strcmp(k, "enable.idempotence") && strcmp(v, "true")) ||
		    ((!strcmp(k, "acks") || !strcmp(k, "request.required.acks")) && strcmp(v, "all") &&
		     strcmp(v, "-1"))) {
			snprintf(
			    err, errlen,
			    "kafka_properties: %s: the audit producer is always idempotent with acks=all", k);
			return RFX_ERR_INVAL;
		}
	}
	return RFX_OK;
}

static rfx_err producer_conf(kafka_sink *k, rd_kafka_conf_t *c, char *err, size_t errlen)
{
	char client_id[128];
	snprintf(client_id, sizeof(client_id), "reflex-%s", program_invocation_short_name);
	const char *defaults[][2] = {
	    {"bootstrap.servers", k->brokers},
	    {"client.id", client_id},
	    {"linger.ms", KAFKA_LINGER_MS}, /* the buffer's batching (see the top of this file) */
	    {"compression.codec", "lz4"}, /* JSON records shrink several times: fewer bytes for the brokers */
	    {"message.timeout.ms", "0"},  /* records wait for the brokers; the spool bounds the wait */
	    {"queue.buffering.max.messages", "100000"},
	    {"queue.buffering.max.kbytes", "32768"},
	    {"reconnect.backoff.max.ms", "1000"},
	    {"log.connection.close", "false"},
	};
	rfx_err rc = check_mandatory(&k->props, err, errlen);
	for (size_t i = 0; !rc && i < RFX_ARRAY_LEN(defaults); i++)
		rc = conf_set(c, defaults[i][0], defaults[i][1], err, errlen);
	if (!rc)
		rc = conf_apply_props(c, &k->props, err, errlen);
	if (!rc)
		rc = conf_set(c, "enable.idempotence", "true", err, errlen);
	if (!rc)
		rc = conf_set(c, "acks", "all", err, errlen);
	return rc;
}

static double conf_number(const rd_kafka_conf_t *c, const char *name, double dflt)
{
	char v[64];
	size_t n = sizeof(v);
	if (rd_kafka_conf_get(c, name, v, &n) != RD_KAFKA_CONF_OK)
		return dflt;
	char *end;
	double d = strtod(v, &end);
	return end != v && d >= 0 ? d : dflt;
}

/* A burst fits in one request of a partition: librdkafka cuts a batch at batch.size or message.max.bytes,
 * whichever is smaller, and at batch.num.messages. The buffer holds what librdkafka's queue would. */
static void set_limits(kafka_sink *k, const rd_kafka_conf_t *c)
{
	double max_msg = conf_number(c, "message.max.bytes", 1000000);
	double batch = conf_number(c, "batch.size", 1000000);
	double request = batch < max_msg ? batch : max_msg;
	k->max_record = (size_t)max_msg > KAFKA_BATCH_SLACK ? (size_t)max_msg - KAFKA_BATCH_SLACK : 1;
	k->burst_bytes =
	    request > 2 * KAFKA_BATCH_SLACK ? (size_t)request - KAFKA_BATCH_SLACK : KAFKA_BATCH_SLACK;
	k->burst_msgs = (size_t)conf_number(c, "batch.num.messages", 10000);
	if (k->burst_msgs == 0)
		k->burst_msgs = 1;
	/* More partitions than requests a connection may have in flight would leave batches waiting. */
	double inflight = conf_number(c, "max.in.flight.requests.per.connection", KAFKA_IDEMP_INFLIGHT);
	k->round_parts =
	    inflight >= 1 && inflight < KAFKA_IDEMP_INFLIGHT ? (size_t)inflight : KAFKA_IDEMP_INFLIGHT;
	k->max_buffered = (size_t)conf_number(c, "queue.buffering.max.messages", 100000);
	k->max_buffered_bytes = (size_t)(conf_number(c, "queue.buffering.max.kbytes", 32768) * 1024);
	k->linger_ms = (int)conf_number(c, "linger.ms", 100);
}

static rfx_err make_producer(kafka_sink *k, char *err, size_t errlen)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	char detail[512];
	rfx_err rc = producer_conf(k, c, err, errlen);
	if (rc)
		goto out;
	rd_kafka_conf_set_opaque(c, k);
	rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
	rd_kafka_conf_set_error_cb(c, on_error);
	rd_kafka_conf_set_log_cb(c, on_log);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, detail, sizeof(detail));
	if (!rk) {
		snprintf(err, errlen, "kafka producer: %s", detail);
		rc = RFX_ERR_INVAL;
		goto out;
	}
	c = NULL; /* owned by rk now */
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, k->topic, NULL);
	pthread_mutex_lock(&k->mu);
	k->rk = rk;
	k->rkt = rkt;
	set_limits(k, rd_kafka_conf(rk));
	pthread_mutex_unlock(&k->mu);
out:
	if (c)
		rd_kafka_conf_destroy(c);
	return rc;
}

/* The buffer's records, newer than librdkafka's and older than the spool's, join the rescued ones. */
static void rescue_pending(kafka_sink *k)
{
	pthread_mutex_lock(&k->mu);
	for (int32_t p = 0; p <= k->nparts; p++) {
		pbuf *b = p < k->nparts ? &k->parts[p] : &k->in;
		const char *key, *val;
		size_t klen, vlen, size;
		while ((size = pbuf_peek(b, &key, &klen, &val, &vlen))) {
			rd_kafka_message_t m = {
			    .key = (void *)key, .key_len = klen, .payload = (void *)val, .len = vlen};
			rescue_add(k, &m);
			b->off += size;
		}
		pbuf_clear(b);
	}
	atomic_store(&k->buffered, 0);
	atomic_store(&k->buffered_bytes, 0);
	pthread_mutex_unlock(&k->mu);
}

/* Takes back what librdkafka and the buffer still hold: records that came straight from write() go in front
 * of the spool (they are older than all of it); spool records are still in the spool. Then destroys the
 * producer. */
static void rescue_and_destroy(kafka_sink *k)
{
	rd_kafka_t *rk = k->rk;
	k->rescuing = true;
	rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	int64_t deadline = rfx_mono_ms() + KAFKA_RESCUE_WAIT_MS;
	while (rd_kafka_outq_len(rk) > 0 && rfx_mono_ms() < deadline)
		rd_kafka_poll(rk, 20);
	k->rescuing = false;
	rescue_pending(k);
	if (k->rs.n) {
		rfx_err rc = spool_prepend(k->sp, (const char *const *)k->rs.v, k->rs.lens, k->rs.n);
		char count[24];
		snprintf(count, sizeof(count), "%zu", k->rs.n);
		if (rc) {
			LOG_ERROR("audit records dropped", "sink", "kafka", "reason", "spool_unwritable",
				  "count", count);
			atomic_fetch_add(&k->dropped, k->rs.n);
			metrics_add(k->m.drop_full, (double)k->rs.n);
		} else {
			LOG_INFO("audit records kept in spool", "sink", "kafka", "count", count);
			atomic_fetch_add(&k->spooled, k->rs.n);
			metrics_add(k->m.spooled, (double)k->rs.n);
		}
	}
	for (size_t i = 0; i < k->rs.n; i++)
		free(k->rs.v[i]);
	RFX_FREE(k->rs.v);
	RFX_FREE(k->rs.lens);
	k->rs.n = k->rs.cap = 0;
	pthread_mutex_lock(&k->mu);
	rd_kafka_topic_t *rkt = k->rkt;
	k->rk = NULL;
	k->rkt = NULL;
	pthread_mutex_unlock(&k->mu);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
}

static void batch_reset(kafka_sink *k)
{
	if (k->has_pending)
		spool_rec_free(&k->pending);
	k->has_pending = k->batch_open = k->batch_closed = k->batch_failed = k->has_last = false;
	k->batch_err = RD_KAFKA_RESP_ERR_NO_ERROR;
	k->batch_outstanding = 0;
	k->batch_parts = 0;
	for (int32_t p = 0; p < k->nparts; p++)
		k->batch_part_bytes[p] = k->batch_part_n[p] = 0;
}

/* After a fatal producer error: keep everything, start a new producer, produce the spool again. */
static void recreate(kafka_sink *k)
{
	char err[512] = "";
	pthread_mutex_lock(&k->mu);
	set_spooling(k, true, "producer failed");
	pthread_mutex_unlock(&k->mu);
	if (k->rk)
		rescue_and_destroy(k);
	batch_reset(k);
	spool_rewind(k->sp);
	if (make_producer(k, err, sizeof(err))) {
		LOG_ERROR("kafka producer failed", "sink", "kafka", "error", err);
		return;
	}
	atomic_store(&k->fatal, false);
}

static void finish_batch(kafka_sink *k)
{
	if (k->batch_failed) {
		spool_rewind(k->sp);
		k->retry_ms = k->retry_ms ? k->retry_ms * 2 : 200;
		if (k->retry_ms > KAFKA_RETRY_MAX_MS)
			k->retry_ms = KAFKA_RETRY_MAX_MS;
		k->next_try_ms = rfx_mono_ms() + k->retry_ms;
		char retry[24];
		snprintf(retry, sizeof(retry), "%lld", (long long)k->retry_ms);
		LOG_WARN("audit spool not delivered, retrying", "sink", "kafka", "error",
			 k->batch_err ? rd_kafka_err2str(k->batch_err) : "producer refused the record",
			 "retry_ms", retry);
		batch_reset(k);
		return;
	}
	if (k->has_last)
		(void)spool_ack(k->sp, k->batch_last);
	k->retry_ms = 0;
	/* A record read but left for the next batch (it did not fit) stays: the read position is past it. */
	bool keep = k->has_pending;
	spool_rec next = k->pending;
	k->has_pending = false;
	batch_reset(k);
	k->pending = next;
	k->has_pending = keep;
}

/* Whether a spool record of cost bytes for partition p fits in the batch: one request per partition, at most
 * round_parts partitions. */
static bool batch_fits(const kafka_sink *k, int32_t p, size_t cost)
{
	if (k->batch_part_n[p] == 0)
		return k->batch_parts < k->round_parts;
	return k->batch_part_n[p] < k->burst_msgs && k->batch_part_bytes[p] + cost <= k->burst_bytes;
}

static void close_batch(kafka_sink *k)
{
	k->batch_open = false;
	k->batch_closed = true;
}

/* Produces spool records until the batch is full, the spool is read, or librdkafka's queue is full. */
static void fill_batch(kafka_sink *k)
{
	while (k->batch_open) {
		if (!k->has_pending && spool_read(k->sp, &k->pending)) {
			close_batch(k);
			return;
		}
		k->has_pending = true;
		const char *key, *val;
		size_t klen, vlen;
		rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
		bool ok = unframe(k->pending.data, k->pending.len, &key, &klen, &val, &vlen);
		int32_t p = ok ? key_partition(key, klen, k->nparts, &k->keyless) : 0;
		size_t cost = ok ? record_cost(klen, vlen) : 0;
		if (ok && !batch_fits(k, p, cost)) {
			close_batch(k); /* kept in pending: first of the next batch */
			return;
		}
		if (!ok)
			drop(k, k->m.drop_corrupt, "corrupt");
		else
			e = produce(k, p, key, klen, val, vlen, SPOOLED);
		if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			return; /* kept in pending for the next tick */
		if (e && !permanent_error(e)) {
			k->batch_failed = true;
			k->batch_err = e;
			close_batch(k);
			return;
		}
		if (e)
			drop(k, k->m.drop_undeliverable, "undeliverable");
		else
			k->batch_outstanding++;
		if (ok) {
			k->batch_parts += k->batch_part_n[p] == 0;
			k->batch_part_n[p]++;
			k->batch_part_bytes[p] += cost;
		}
		k->batch_last = k->pending.next;
		k->has_last = true;
		spool_rec_free(&k->pending);
		k->has_pending = false;
	}
}

static void probe(kafka_sink *k, int64_t now)
{
	if (now - k->last_probe_ms < KAFKA_PROBE_MS)
		return;
	k->last_probe_ms = now;
	const struct rd_kafka_metadata *md = NULL;
	if (rd_kafka_metadata(k->rk, 0, k->rkt, &md, 500) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		atomic_store(&k->ok_ms, rfx_mono_ms());
		rd_kafka_metadata_destroy(md);
	}
}

/* One step of emptying the spool; switches back to direct mode once it is empty and a broker is up. */
static void drain(kafka_sink *k)
{
	if (k->batch_closed) {
		if (k->batch_outstanding > 0)
			return;
		finish_batch(k);
	}
	int64_t now = rfx_mono_ms();
	if (!atomic_load(&k->spooling) || now < k->next_try_ms)
		return;
	/* The buffer's records and those librdkafka holds are older than the spool's: they go first. */
	if (!k->batch_open && (atomic_load(&k->buffered) || rd_kafka_outq_len(k->rk) > 0))
		return;
	if (!k->batch_open) {
		pthread_mutex_lock(&k->mu);
		bool empty = spool_count(k->sp) == 0, up = broker_up(k);
		if (empty && up)
			set_spooling(k, false, NULL);
		pthread_mutex_unlock(&k->mu);
		if (empty) {
			if (!up)
				probe(k, now);
			return;
		}
		if (!k->nparts)
			return; /* a batch is cut per partition: wait for the partition count */
		k->batch_open = true;
	}
	fill_batch(k);
	if (k->batch_closed && k->batch_outstanding > 0)
		rd_kafka_flush(k->rk, KAFKA_FLUSH_MS); /* send it now: linger.ms is for the buffer */
}

static void housekeeping(kafka_sink *k)
{
	int64_t now = rfx_mono_ms();
	if (now - k->last_sync_ms >= KAFKA_SYNC_MS) {
		k->last_sync_ms = now;
		if (spool_sync(k->sp))
			LOG_ERROR("audit spool sync failed", "sink", "kafka", "error", strerror(errno));
	}
	if (now - k->last_gauge_ms >= 1000) {
		k->last_gauge_ms = now;
		metrics_set(k->m.spool_records, (double)spool_count(k->sp));
		metrics_set(k->m.spool_bytes, (double)spool_disk_bytes(k->sp));
		metrics_set(k->m.queued,
			    (double)atomic_load(&k->buffered) + (k->rk ? rd_kafka_outq_len(k->rk) : 0));
		metrics_set(k->m.up, broker_up(k));
	}
}

static void *sink_main(void *arg)
{
	kafka_sink *k = arg;
	while (!atomic_load(&k->stop)) {
		if (atomic_load(&k->fatal) || !k->rk) {
			recreate(k);
			if (!k->rk) {
				usleep(1000 * 1000);
				continue;
			}
		}
		int wait = handover(k);
		bool busy = atomic_load(&k->spooling) && (k->batch_open || k->batch_closed);
		rd_kafka_poll(k->rk, busy ? 1 : wait);
		drain(k);
		housekeeping(k);
	}
	return NULL;
}

static void kafka_flush(void *ctx, int timeout_ms)
{
	kafka_sink *k = ctx;
	int64_t deadline = rfx_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	atomic_fetch_add(&k->flushing, 1); /* the sink thread hands the buffer over without waiting */
	for (;;) {
		pthread_mutex_lock(&k->mu);
		int queued = k->rk ? rd_kafka_outq_len(k->rk) : 0;
		bool done = queued == 0 && atomic_load(&k->buffered) == 0 && spool_count(k->sp) == 0;
		pthread_mutex_unlock(&k->mu);
		if (done || rfx_mono_ms() >= deadline)
			break;
		usleep(5000);
	}
	atomic_fetch_sub(&k->flushing, 1);
	(void)spool_sync(k->sp);
}

static void sink_free(kafka_sink *k)
{
	spool_close(k->sp);
	for (size_t i = 0; i < k->props.n; i++) {
		free(k->props.keys[i]);
		free(k->props.values[i]);
	}
	free(k->props.keys);
	free(k->props.values);
	free(k->topic);
	free(k->brokers);
	free(k->in.data);
	free(k->spare.data);
	for (int32_t p = 0; p < k->nparts; p++)
		free(k->parts[p].data);
	free(k->parts);
	free(k->part_since);
	free(k->batch_part_bytes);
	free(k->batch_part_n);
	pthread_mutex_destroy(&k->mu);
	free(k);
}

static void kafka_close(void *ctx)
{
	kafka_sink *k = ctx;
	if (!k)
		return;
	if (k->thread_started) {
		atomic_store(&k->stop, true);
		pthread_join(k->thread, NULL);
	}
	if (k->batch_closed && k->batch_outstanding == 0)
		finish_batch(k);
	batch_reset(k);
	if (k->rk)
		rescue_and_destroy(k);
	char left[24];
	snprintf(left, sizeof(left), "%llu", (unsigned long long)spool_count(k->sp));
	if (spool_count(k->sp))
		LOG_INFO("audit spool kept for the next start", "sink", "kafka", "records", left);
	sink_free(k);
}

static const audit_sink_ops kafka_ops = {"kafka", kafka_write, kafka_flush, kafka_close};

static bool topic_valid(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > 249 || !strcmp(t, ".") || !strcmp(t, ".."))
		return false;
	return strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static void copy_props(cfg_strmap *dst, const cfg_strmap *src)
{
	dst->n = src->n;
	dst->keys = rfx_calloc(src->n + 1, sizeof(char *));
	dst->values = rfx_calloc(src->n + 1, sizeof(char *));
	for (size_t i = 0; i < src->n; i++) {
		dst->keys[i] = rfx_strdup(src->keys[i]);
		dst->values[i] = rfx_strdup(src->values[i]);
	}
}

static char *spool_dir_of(const cfg_common *cfg)
{
	if (cfg->audit_spool_dir && *cfg->audit_spool_dir)
		return rfx_strdup(cfg->audit_spool_dir);
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	return rfx_asprintf("%s/%s-audit-spool", tmp, program_invocation_short_name);
}

static rfx_err open_spool(kafka_sink *k, const cfg_common *cfg, char *err, size_t errlen)
{
	char detail[384] = "";
	char *dir = spool_dir_of(cfg);
	rfx_err rc = spool_open(dir, NULL, &k->sp, detail, sizeof(detail));
	if (rc)
		snprintf(err, errlen, "audit_spool_dir: %s", detail);
	if (!rc && spool_lost(k->sp)) {
		char n[24];
		snprintf(n, sizeof(n), "%llu", (unsigned long long)spool_lost(k->sp));
		LOG_WARN("audit spool damaged", "sink", "kafka", "dir", dir, "frames_cut", n);
	}
	if (!rc && spool_count(k->sp)) {
		char n[24];
		snprintf(n, sizeof(n), "%llu", (unsigned long long)spool_count(k->sp));
		LOG_INFO("audit spool has records from an earlier run", "sink", "kafka", "records", n, "dir",
			 dir);
		atomic_store(&k->spooling, true);
	}
	free(dir);
	return rc;
}

rfx_err audit_kafka_open(const cfg_common *cfg, audit_sink *out, char *err, size_t errlen)
{
	const char *topic =
	    cfg->kafka_audit_topic && *cfg->kafka_audit_topic ? cfg->kafka_audit_topic : "reflex.audit";
	if (!cfg->kafka_brokers || !*cfg->kafka_brokers) {
		snprintf(err, errlen, "kafka_brokers: not set");
		return RFX_ERR_INVAL;
	}
	if (!topic_valid(topic)) {
		snprintf(err, errlen, "kafka_audit_topic: not a valid Kafka topic name");
		return RFX_ERR_INVAL;
	}
	kafka_sink *k = rfx_calloc(1, sizeof(*k));
	pthread_mutex_init(&k->mu, NULL);
	k->topic = rfx_strdup(topic);
	k->brokers = rfx_strdup(cfg->kafka_brokers);
	copy_props(&k->props, &cfg->kafka_properties);
	metrics_setup(&k->m);
	rfx_err rc = make_producer(k, err, errlen);
	if (!rc)
		rc = open_spool(k, cfg, err, errlen);
	if (!rc && pthread_create(&k->thread, NULL, sink_main, k))
		rc = RFX_ERR_INTERNAL;
	if (rc) {
		if (k->rk)
			rescue_and_destroy(k);
		sink_free(k);
		return rc;
	}
	k->thread_started = true;
	metrics_set(k->m.spooling, atomic_load(&k->spooling));
	out->ops = &kafka_ops;
	out->ctx = k;
	return RFX_OK;
}

void audit_kafka_get_stats(void *ctx, audit_kafka_stats *s)
{
	kafka_sink *k = ctx;
	memset(s, 0, sizeof(*s));
	s->written = atomic_load(&k->written);
	s->produced = atomic_load(&k->produced);
	s->delivered = atomic_load(&k->delivered);
	s->delivery_errors = atomic_load(&k->delivery_errors);
	s->spooled = atomic_load(&k->spooled);
	s->dropped = atomic_load(&k->dropped);
	s->spool_records = spool_count(k->sp);
	s->spooling = atomic_load(&k->spooling);
	pthread_mutex_lock(&k->mu);
	s->queued = atomic_load(&k->buffered) + (k->rk ? (uint64_t)rd_kafka_outq_len(k->rk) : 0);
	pthread_mutex_unlock(&k->mu);
}

/* Registration with audit.c, which references audit_kafka_linked so that the linker keeps this object. The
 * pointer is also defined weak here for programs that link this object without audit.c. */
const char audit_kafka_linked = 1;

__attribute__((weak))
rfx_err (*audit_kafka_open_fn)(const cfg_common *cfg, audit_sink *out, char *err, size_t errlen);

__attribute__((constructor)) static void audit_kafka_register(void)
{
	audit_kafka_open_fn = audit_kafka_open;
}

/* ---- reading the audit topic ---- */

typedef struct reader {
	rd_kafka_t *rk;
	int32_t nparts;
	int64_t *end; /* high watermark of each partition when reading started */
	bool *done;
	int remaining;
} reader;

static rfx_err reader_new(reader *r, const char *brokers, const cfg_strmap *props, char *err, size_t errlen)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	char detail[512];
	const char *defaults[][2] = {
	    {"bootstrap.servers", brokers},	  {"group.id", "reflex-report"},
	    {"enable.auto.commit", "false"},	  {"enable.auto.offset.store", "false"},
	    {"enable.partition.eof", "true"},	  {"auto.offset.reset", "earliest"},
	    {"reconnect.backoff.max.ms", "1000"}, {"log.connection.close", "false"},
	};
	rfx_err rc = RFX_OK;
	for (size_t i = 0; !rc && i < RFX_ARRAY_LEN(defaults); i++)
		rc = conf_set(c, defaults[i][0], defaults[i][1], err, errlen);
	if (!rc)
		rc = conf_apply_props(c, props, err, errlen);
	if (rc)
		goto out;
	rd_kafka_conf_set_log_cb(c, on_log_quiet);
	r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, detail, sizeof(detail));
	if (!r->rk) {
		snprintf(err, errlen, "kafka consumer: %s", detail);
		rc = RFX_ERR_INVAL;
		goto out;
	}
	c = NULL;
out:
	if (c)
		rd_kafka_conf_destroy(c);
	return rc;
}

static int remaining_ms(int64_t deadline)
{
	int64_t left = deadline - rfx_mono_ms();
	return left > 0 ? (int)left : 0;
}

/* A topic created a moment ago may not have its leaders yet: ask again until the deadline. */
static rd_kafka_resp_err_t query_offsets(rd_kafka_t *rk, const char *topic, int32_t p, int64_t *lo,
					 int64_t *hi, int64_t deadline)
{
	for (;;) {
		rd_kafka_resp_err_t e =
		    rd_kafka_query_watermark_offsets(rk, topic, p, lo, hi, remaining_ms(deadline));
		bool retry = e == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
			     e == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
			     e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
			     e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
		if (!retry || remaining_ms(deadline) < 100)
			return e;
		usleep(100 * 1000);
	}
}

/* Finds the topic's partitions and their end offsets, and assigns the non-empty ones from the beginning. */
static rfx_err reader_assign(reader *r, const char *topic, int64_t deadline, char *err, size_t errlen)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->rk, topic, NULL);
	rd_kafka_resp_err_t e = rd_kafka_metadata(r->rk, 0, rkt, &md, remaining_ms(deadline));
	rd_kafka_topic_partition_list_t *list = NULL;
	rfx_err rc = RFX_OK;
	if (e) {
		snprintf(err, errlen, "kafka: no broker answered: %s", rd_kafka_err2str(e));
		rc = e == RD_KAFKA_RESP_ERR__TIMED_OUT ? RFX_ERR_TIMEOUT : RFX_ERR_UNAVAILABLE;
		goto out;
	}
	if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
		snprintf(err, errlen, "kafka: topic %s not found", topic);
		rc = RFX_ERR_NOTFOUND;
		goto out;
	}
	r->nparts = md->topics[0].partition_cnt;
	r->end = rfx_calloc((size_t)r->nparts, sizeof(int64_t));
	r->done = rfx_calloc((size_t)r->nparts, sizeof(bool));
	list = rd_kafka_topic_partition_list_new(r->nparts);
	for (int32_t i = 0; i < r->nparts; i++) {
		int32_t p = md->topics[0].partitions[i].id;
		int64_t lo = 0, hi = 0;
		if (p < 0 || p >= r->nparts)
			continue;
		e = query_offsets(r->rk, topic, p, &lo, &hi, deadline);
		if (e) {
			snprintf(err, errlen, "kafka: offsets of %s/%d: %s", topic, p, rd_kafka_err2str(e));
			rc = e == RD_KAFKA_RESP_ERR__TIMED_OUT ? RFX_ERR_TIMEOUT : RFX_ERR_UNAVAILABLE;
			goto out;
		}
		r->end[p] = hi;
		if (hi <= lo) {
			r->done[p] = true;
			continue;
		}
		rd_kafka_topic_partition_list_add(list, topic, p)->offset = lo;
		r->remaining++;
	}
	if (r->remaining && rd_kafka_assign(r->rk, list)) {
		snprintf(err, errlen, "kafka: cannot assign the partitions of %s", topic);
		rc = RFX_ERR_INTERNAL;
	}
out:
	if (list)
		rd_kafka_topic_partition_list_destroy(list);
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	return rc;
}

static void reader_mark(reader *r, int32_t p, int64_t next_offset)
{
	if (p >= 0 && p < r->nparts && !r->done[p] && next_offset >= r->end[p]) {
		r->done[p] = true;
		r->remaining--;
	}
}

static rfx_err reader_loop(reader *r, int64_t deadline, audit_kafka_record_fn fn, void *arg, char *err,
			   size_t errlen)
{
	while (r->remaining > 0) {
		if (rfx_mono_ms() >= deadline) {
			snprintf(err, errlen, "kafka: timed out reading the topic");
			return RFX_ERR_TIMEOUT;
		}
		rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 100);
		if (!m)
			continue;
		int32_t p = m->partition;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			reader_mark(r, p, INT64_MAX);
		} else if (!m->err) {
			bool in_range = p >= 0 && p < r->nparts && m->offset < r->end[p];
			int stop =
			    in_range ? fn(arg, m->key, m->key_len, m->payload, m->len, p, m->offset) : 0;
			reader_mark(r, p, m->offset + 1);
			if (stop) {
				rd_kafka_message_destroy(m);
				return RFX_OK;
			}
		}
		rd_kafka_message_destroy(m);
	}
	return RFX_OK;
}

rfx_err audit_kafka_read(const char *brokers, const char *topic, const cfg_strmap *props, int timeout_ms,
			 audit_kafka_record_fn fn, void *arg, char *err, size_t errlen)
{
	reader r = {0};
	int64_t deadline = rfx_mono_ms() + timeout_ms;
	rfx_err rc = reader_new(&r, brokers, props, err, errlen);
	if (!rc)
		rc = reader_assign(&r, topic, deadline, err, errlen);
	if (!rc)
		rc = reader_loop(&r, deadline, fn, arg, err, errlen);
	if (r.rk) {
		rd_kafka_consumer_close(r.rk);
		rd_kafka_destroy(r.rk);
	}
	free(r.end);
	free(r.done);
	return rc;
}
