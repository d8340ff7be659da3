/* audit.c -- the audit dispatcher (one process-wide sink chosen from the config) and the JSON-lines file
 * sink. */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonw.h"
#include "log.h"
#include "metrics.h"
#include "timefmt.h"

/* Upper bound of one record built by audit_emit_raw, and of the fields a caller builds for it. */
#define AUDIT_MAX_RECORD (4u << 20)
/* Per-thread buffers that grew past this are released after use instead of kept. */
#define AUDIT_KEEP_CAP (64u << 10)

rfx_err (*audit_kafka_open_fn)(const cfg_common *cfg, audit_sink *out, char *err, size_t errlen) = NULL;
/* Pulls audit_kafka.o (whose constructor sets audit_kafka_open_fn) out of libreflex.a into every binary. */
extern const char audit_kafka_linked;
static const char *const audit_kafka_ref __attribute__((used)) = &audit_kafka_linked;

/* Writers share it (each sink orders its own writes: O_APPEND for the file, the Kafka sink's mutex); opening,
 * replacing and shutting down the sink take it exclusively. */
static pthread_rwlock_t audit_rw = PTHREAD_RWLOCK_INITIALIZER;
static audit_sink sink;
static bool have_sink;
static bool sink_batches; /* the sink takes several newline-joined records in one write */
static char audit_svc[64] = "reflex";
static int64_t last_failure_log_ms;

/* ---- the file sink ---- */

typedef struct file_sink {
	int fd;
	char *path;
} file_sink;

static rfx_err write_all(int fd, const char *data, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return RFX_ERR_IO;
		off += (size_t)w;
	}
	return RFX_OK;
}

static rfx_err file_write(void *ctx, const char *key, const char *json, size_t len)
{
	file_sink *f = ctx;
	/* One write() per record: with O_APPEND, concurrent writers never interleave lines. Most records fit
	 * the stack buffer, so the hot path does not allocate. */
	char small[8192];
	char *line = len < sizeof(small) ? small : rfx_malloc(len + 1);
	memcpy(line, json, len);
	line[len] = '\n';
	rfx_err rc = write_all(f->fd, line, len + 1);
	if (line != small)
		free(line);
	return rc;
}

static void file_flush(void *ctx, int timeout_ms)
{
	file_sink *f = ctx;
	fsync(f->fd);
}

static void file_close(void *ctx)
{
	file_sink *f = ctx;
	fsync(f->fd);
	close(f->fd);
	free(f->path);
	free(f);
}

static const audit_sink_ops file_ops = {"file", file_write, file_flush, file_close};

static void make_parent_dir(const char *path)
{
	char *dir = rfx_strdup(path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		rfx_mkdirs(dir);
	}
	free(dir);
}

rfx_err audit_file_open(const char *path, audit_sink *out, char *err, size_t errlen)
{
	make_parent_dir(path);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		snprintf(err, errlen, "audit_file %s: %s", path, strerror(errno));
		return RFX_ERR_IO;
	}
	file_sink *f = rfx_calloc(1, sizeof(*f));
	f->fd = fd;
	f->path = rfx_strdup(path);
	out->ops = &file_ops;
	out->ctx = f;
	return RFX_OK;
}

/* ---- the dispatcher ---- */

rfx_err audit_init(const char *svc, const cfg_common *cfg, char *err, size_t errlen)
{
	audit_sink s = {0};
	rfx_err rc = RFX_OK;
	if (cfg->kafka_brokers) {
		if (!audit_kafka_open_fn) {
			snprintf(err, errlen, "kafka_brokers is set but this build has no Kafka audit sink");
			return RFX_ERR_UNAVAILABLE;
		}
		rc = audit_kafka_open_fn(cfg, &s, err, errlen);
	} else if (cfg->audit_file) {
		rc = audit_file_open(cfg->audit_file, &s, err, errlen);
	}
	if (rc)
		return rc;
	pthread_rwlock_wrlock(&audit_rw);
	if (svc)
		snprintf(audit_svc, sizeof(audit_svc), "%s", svc);
	audit_sink old = sink;
	bool had = have_sink;
	sink = s;
	have_sink = s.ops != NULL;
	__atomic_store_n(&sink_batches, s.ops == &file_ops, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&audit_rw);
	if (had && old.ops->close)
		old.ops->close(old.ctx);
	LOG_INFO("audit sink", "sink", have_sink ? s.ops->name : "none", "path",
		 cfg->kafka_brokers ? NULL : cfg->audit_file, "topic",
		 cfg->kafka_brokers ? cfg->kafka_audit_topic : NULL);
	return RFX_OK;
}

/* Builds {type, ts, svc, ...fields}; fields' own type/ts/svc never override ours. */
static cJSON *build_record(const char *type, cJSON *fields)
{
	char ts[32];
	rfx_iso8601(rfx_now_ms(), ts);
	cJSON *rec = cJSON_CreateObject();
	cJSON_AddStringToObject(rec, "type", type);
	cJSON_AddStringToObject(rec, "ts", ts);
	cJSON_AddStringToObject(rec, "svc", audit_svc);
	while (fields && fields->child) {
		cJSON *item = cJSON_DetachItemViaPointer(fields, fields->child);
		const char *k = item->string;
		if (!k || strcmp(k, "type") == 0 || strcmp(k, "ts") == 0 || strcmp(k, "svc") == 0)
			cJSON_Delete(item);
		else
			cJSON_AddItemToObject(rec, k, item);
	}
	cJSON_Delete(fields);
	return rec;
}

/* Metric handles per sink and result, found without a lock once registered (a handful exist). */
static struct {
	const char *sink, *result;
	metric *_Atomic m;
} count_cache[8];
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static void count_n(const char *sink_name, const char *result, double n)
{
	for (size_t i = 0; i < RFX_ARRAY_LEN(count_cache); i++) {
		metric *m = atomic_load_explicit(&count_cache[i].m, memory_order_acquire);
		if (!m)
			break;
		if (count_cache[i].sink == sink_name && strcmp(count_cache[i].result, result) == 0) {
			metrics_add(m, n);
			return;
		}
	}
	char labels[96];
	snprintf(labels, sizeof(labels), "sink=\"%s\",result=\"%s\"", sink_name, result);
	metric *m = metrics_counter("reflex_audit_records_total", labels, "Audit records by sink and result");
	pthread_mutex_lock(&count_lock);
	for (size_t i = 0; i < RFX_ARRAY_LEN(count_cache); i++) {
		metric *have = atomic_load_explicit(&count_cache[i].m, memory_order_relaxed);
		if (have == m)
			break;
		if (!have) {
			count_cache[i].sink = sink_name;
			count_cache[i].result = result;
			atomic_store_explicit(&count_cache[i].m, m, memory_order_release);
			break;
		}
	}
	pthread_mutex_unlock(&count_lock);
	metrics_add(m, n);
}

static void log_failure(const char *sink_name, rfx_err rc)
{
	int64_t now = rfx_mono_ms();
	int64_t last = __atomic_load_n(&last_failure_log_ms, __ATOMIC_RELAXED);
	if ((now - last < 60000 && last) ||
	    !__atomic_compare_exchange_n(&last_failure_log_ms, &last, now, false, __ATOMIC_RELAXED,
					 __ATOMIC_RELAXED))
		return;
	LOG_WARN("audit write failed", "sink", sink_name, "error", rfx_strerror(rc));
}

bool audit_enabled(void)
{
	return __atomic_load_n(&have_sink, __ATOMIC_RELAXED);
}

/* Hands n complete records (n > 1 only for a sink that takes newline-joined lines) to the sink and counts
 * them. */
static void deliver_n(const char *key, const char *json, size_t len, rfx_err build_rc, size_t n)
{
	const char *name = "none", *result = "skipped";
	pthread_rwlock_rdlock(&audit_rw);
	if (have_sink) {
		name = sink.ops->name;
		rfx_err rc = build_rc ? build_rc : sink.ops->write(sink.ctx, key, json, len);
		result = rc ? "error" : "ok";
		if (rc)
			log_failure(name, rc);
	}
	pthread_rwlock_unlock(&audit_rw);
	count_n(name, result, (double)n);
}

static void deliver(const char *key, const char *json, size_t len, rfx_err build_rc)
{
	deliver_n(key, json, len, build_rc, 1);
}

void audit_emit(const char *type, cJSON *fields)
{
	if (fields && !cJSON_IsObject(fields)) {
		cJSON_Delete(fields);
		fields = NULL;
	}
	cJSON *rec = build_record(type ? type : "unknown", fields);
	const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "source_id"));
	char *json = jsonw_print(rec);
	deliver(key, json, strlen(json), RFX_OK);
	free(json);
	cJSON_Delete(rec);
}

/* ---- records without cJSON trees ---- */

/* Records held by audit_hold in this thread (newline-joined in the BUF_SCRATCH_AUDIT_HELD buffer). */
static __thread size_t nheld;
static __thread bool holding;

static rfx_buf *scratch(unsigned slot)
{
	return buf_scratch(slot, AUDIT_MAX_RECORD);
}

rfx_buf *audit_fields_buf(void)
{
	rfx_buf *b = scratch(BUF_SCRATCH_AUDIT_FIELDS);
	buf_trim(b, AUDIT_KEEP_CAP);
	return b;
}

static rfx_err put_name(rfx_buf *b, const char *name)
{
	rfx_err rc = b->len ? buf_putc(b, ',') : RFX_OK;
	if (!rc)
		rc = buf_putc(b, '"');
	if (!rc)
		rc = buf_puts(b, name);
	if (!rc)
		rc = buf_append(b, "\":", 2);
	return rc;
}

rfx_err audit_put_member(rfx_buf *b, const char *name, const char *value)
{
	if (!value)
		return RFX_OK;
	rfx_err rc = put_name(b, name);
	if (rc)
		return rc;
	return jsonw_string(b, value);
}

rfx_err audit_put_json(rfx_buf *b, const char *name, const cJSON *value)
{
	if (!value)
		return RFX_OK;
	rfx_err rc = put_name(b, name);
	return rc ? rc : jsonw_value(b, value);
}

rfx_err audit_put_text(rfx_buf *b, const char *name, const char *json, size_t len)
{
	if (!json)
		return RFX_OK;
	rfx_err rc = put_name(b, name);
	return rc ? rc : buf_append(b, json, len);
}

static rfx_err build_raw(rfx_buf *b, const char *type, const char *fields_json, size_t len)
{
	char ts[32];
	timefmt_iso8601(rfx_now_ms(), ts);
	rfx_err rc = buf_puts(b, "{\"type\":");
	if (!rc)
		rc = jsonw_string(b, type);
	if (!rc)
		rc = buf_puts(b, ",\"ts\":");
	if (!rc)
		rc = jsonw_string(b, ts);
	if (!rc)
		rc = buf_puts(b, ",\"svc\":");
	if (!rc)
		rc = jsonw_string(b, audit_svc);
	if (!rc && len)
		rc = buf_putc(b, ',');
	if (!rc)
		rc = buf_append(b, fields_json, len);
	if (!rc)
		rc = buf_putc(b, '}');
	return rc;
}

static void release_held(void)
{
	rfx_buf *held = scratch(BUF_SCRATCH_AUDIT_HELD);
	if (nheld)
		deliver_n(NULL, held->data, held->len, RFX_OK, nheld);
	nheld = 0;
	buf_trim(held, AUDIT_KEEP_CAP);
}

/* A held record joins the thread's others when the sink writes lines (the file sink: one write() for all). */
static bool hold_record(const rfx_buf *rec)
{
	if (!holding || !__atomic_load_n(&sink_batches, __ATOMIC_RELAXED))
		return false;
	rfx_buf *held = scratch(BUF_SCRATCH_AUDIT_HELD);
	size_t mark = held->len;
	if (nheld && buf_putc(held, '\n')) {
		release_held();
		return false;
	}
	if (buf_append(held, rec->data, rec->len)) {
		held->len = mark;
		release_held();
		return false;
	}
	nheld++;
	return true;
}

void audit_emit_raw(const char *type, const char *key, const char *fields_json, size_t len)
{
	rfx_buf *b = scratch(BUF_SCRATCH_AUDIT_RECORD);
	buf_trim(b, AUDIT_KEEP_CAP);
	rfx_err rc = fields_json ? build_raw(b, type ? type : "unknown", fields_json, len) : RFX_ERR_LIMIT;
	if (rc || !hold_record(b))
		deliver(key, b->data, b->len, rc);
	buf_trim(b, AUDIT_KEEP_CAP);
}

void audit_hold(void)
{
	holding = true;
}

void audit_release(void)
{
	holding = false;
	release_held();
}

void audit_shutdown(int flush_timeout_ms)
{
	pthread_rwlock_wrlock(&audit_rw);
	audit_sink s = sink;
	bool had = have_sink;
	have_sink = false;
	__atomic_store_n(&sink_batches, false, __ATOMIC_RELAXED);
	memset(&sink, 0, sizeof(sink));
	pthread_rwlock_unlock(&audit_rw);
	if (!had)
		return;
	if (s.ops->flush)
		s.ops->flush(s.ctx, flush_timeout_ms);
	if (s.ops->close)
		s.ops->close(s.ctx);
}
