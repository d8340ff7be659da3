/* audit_kafka.c -- unit tests for the Kafka audit sink without a broker: configuration checks, spool framing,
 * spooling (in order, across close and reopen) while the only broker address refuses connections, and the
 * partition queues (partition choice, order, request sizing). The
 * tests with a real broker are in tests/integration/test_kafka_sink.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "testutil.h"

#include "../../../shared/audit_kafka.c"

#define DOWN_BROKER "127.0.0.1:1" /* nothing listens on port 1 of the loopback: connections are refused */

static char *tmpdir(void)
{
	char *d = rfx_strdup("/tmp/rfx-akafka-XXXXXX");
	assert_non_null(mkdtemp(d));
	return d;
}

static void rmtree(char *dir)
{
	assert_int_equal(tu_rmtree(dir), 0);
	free(dir);
}

static void set_props(cfg_common *cfg, const char *const *kv, size_t n)
{
	cfg->kafka_properties.keys = (char **)kv;
	cfg->kafka_properties.values = (char **)kv + n;
	cfg->kafka_properties.n = n;
}

static void test_frame_roundtrip(void **state)
{
	size_t len, klen, vlen;
	const char *key, *val;
	char *f = frame_record("src-1", 5, "{\"a\":1}", 7, &len);
	assert_true(unframe(f, len, &key, &klen, &val, &vlen));
	assert_int_equal(klen, 5);
	assert_memory_equal(key, "src-1", 5);
	assert_int_equal(vlen, 7);
	assert_memory_equal(val, "{\"a\":1}", 7);
	free(f);
	f = frame_record(NULL, 0, "v", 1, &len);
	assert_true(unframe(f, len, &key, &klen, &val, &vlen));
	assert_null(key);
	assert_int_equal(vlen, 1);
	free(f);
	f = frame_record("", 0, "", 0, &len);
	assert_true(unframe(f, len, &key, &klen, &val, &vlen));
	assert_non_null(key);
	assert_int_equal(klen, 0);
	assert_int_equal(vlen, 0);
	free(f);
	assert_false(unframe("\x00", 1, &key, &klen, &val, &vlen));
	assert_false(unframe("\x00\x09"
			     "abc",
			     5, &key, &klen, &val, &vlen)); /* key longer than the frame */
	assert_false(unframe("\xff\xff"
			     "abc",
			     5, &key, &klen, &val, &vlen));
}

static void test_topic_names(void **state)
{
	assert_true(topic_valid("reflex.audit"));
	assert_true(topic_valid("a-b_c.9"));
	assert_false(topic_valid(""));
	assert_false(topic_valid("."));
	assert_false(topic_valid(".."));
	assert_false(topic_valid("has space"));
	assert_false(topic_valid("slash/topic"));
	char long_name[300];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_false(topic_valid(long_name));
}

static rfx_err open_with(cfg_common *cfg, audit_sink *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	return audit_kafka_open(cfg, s, err, errlen);
}

static void test_config_errors(void **state)
{
	char *dir = tmpdir();
	cfg_common cfg = {.kafka_brokers = DOWN_BROKER, .audit_spool_dir = dir};
	audit_sink s;
	char err[512];

	cfg.kafka_brokers = NULL;
	assert_int_equal(open_with(&cfg, &s, err, sizeof(err)), RFX_ERR_INVAL);
	assert_non_null(strstr(err, "kafka_brokers"));
	cfg.kafka_brokers = DOWN_BROKER;

	cfg.kafka_audit_topic = "bad topic";
	assert_int_equal(open_with(&cfg, &s, err, sizeof(err)), RFX_ERR_INVAL);
	assert_non_null(strstr(err, "kafka_audit_topic"));
	cfg.kafka_audit_topic = NULL;

	const char *idem[] = {"enable.idempotence", "false"};
	set_props(&cfg, idem, 1);
	assert_int_equal(open_with(&cfg, &s, err, sizeof(err)), RFX_ERR_INVAL);
	assert_non_null(strstr(err, "enable.idempotence"));

	const char *acks[] = {"acks", "1"};
	set_props(&cfg, acks, 1);
	assert_int_equal(open_with(&cfg, &s, err, sizeof(err)), RFX_ERR_INVAL);
	assert_non_null(strstr(err, "acks"));

	const char *unknown[] = {"no.such.property", "1"};
	set_props(&cfg, unknown, 1);
	assert_int_equal(open_with(&cfg, &s, err, sizeof(err)), RFX_ERR_INVAL);
	assert_non_null(strstr(err, "no.such.property"));
	assert_non_null(strstr(err, "unknown"));

	/* An invalid value is reported by key only: values may be secrets. */
	const char *badval[] = {"linger.ms", "s3cr3t-value"};
	set_props(&cfg, badval, 1);
	assert_int_equal(open_with(&cfg, &s, err, sizeof(err)), RFX_ERR_INVAL);
	assert_non_null(strstr(err, "linger.ms"));
	assert_null(strstr(err, "s3cr3t"));

	const char *nofile[] = {"sasl.password_file", "/nonexistent/reflex-secret"};
	set_props(&cfg, nofile, 1);
	assert_int_equal(open_with(&cfg, &s, err, sizeof(err)), RFX_ERR_NOTFOUND);
	assert_non_null(strstr(err, "sasl.password_file"));
	rmtree(dir);
}

static void test_property_from_file(void **state)
{
	char *dir = tmpdir(), *path = rfx_asprintf("%s/client-id", dir),
	     *spool_dir = rfx_asprintf("%s/spool", dir);
	assert_int_equal(rfx_write_file_atomic(path, "from-a-file\n", 12), RFX_OK);
	const char *props[] = {"client.id_file", path};
	cfg_common cfg = {.kafka_brokers = DOWN_BROKER, .audit_spool_dir = spool_dir};
	set_props(&cfg, props, 1);
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	char err[512] = "", val[64];
	size_t vlen = sizeof(val);
	assert_int_equal(conf_apply_props(c, &cfg.kafka_properties, err, sizeof(err)), RFX_OK);
	assert_int_equal(rd_kafka_conf_get(c, "client.id", val, &vlen), RD_KAFKA_CONF_OK);
	assert_string_equal(val, "from-a-file");
	rd_kafka_conf_destroy(c);
	free(path);
	free(spool_dir);
	rmtree(dir);
}

static void wait_spooling(audit_sink *s)
{
	audit_kafka_stats st;
	int64_t deadline = rfx_mono_ms() + 15000;
	do {
		audit_kafka_get_stats(s->ctx, &st);
		if (st.spooling)
			return;
		usleep(20000);
	} while (rfx_mono_ms() < deadline);
	fail_msg("the sink did not start spooling with its only broker down");
}

static void write_seq(audit_sink *s, int from, int to)
{
	for (int i = from; i < to; i++) {
		char key[16], *rec = rfx_asprintf("{\"seq\":%d}", i);
		snprintf(key, sizeof(key), "k%d", i % 3);
		assert_int_equal(s->ops->write(s->ctx, key, rec, strlen(rec)), RFX_OK);
		free(rec);
	}
}

/* Reads the spool back and checks it holds records 0..n-1 in order, each with its key. */
static void expect_spool_in_order(const char *dir, int n)
{
	spool *sp = NULL;
	char err[256];
	spool_rec r;
	assert_int_equal(spool_open(dir, NULL, &sp, err, sizeof(err)), RFX_OK);
	assert_int_equal(spool_count(sp), n);
	for (int i = 0; i < n; i++) {
		const char *key, *val;
		size_t klen, vlen;
		char want_key[16], *want_val = rfx_asprintf("{\"seq\":%d}", i);
		assert_int_equal(spool_read(sp, &r), RFX_OK);
		assert_true(unframe(r.data, r.len, &key, &klen, &val, &vlen));
		snprintf(want_key, sizeof(want_key), "k%d", i % 3);
		assert_int_equal(klen, strlen(want_key));
		assert_memory_equal(key, want_key, klen);
		assert_int_equal(vlen, strlen(want_val));
		assert_memory_equal(val, want_val, vlen);
		spool_rec_free(&r);
		free(want_val);
	}
	assert_int_equal(spool_read(sp, &r), RFX_ERR_NOTFOUND);
	spool_close(sp);
}

static void test_broker_down_spools_in_order(void **state)
{
	char *dir = tmpdir();
	cfg_common cfg = {.kafka_brokers = DOWN_BROKER, .audit_spool_dir = dir};
	audit_sink s;
	char err[512] = "";
	audit_kafka_stats st;
	assert_int_equal(open_with(&cfg, &s, err, sizeof(err)), RFX_OK);
	assert_string_equal(s.ops->name, "kafka");
	write_seq(&s, 0, 40); /* before the sink knows: held by the producer */
	wait_spooling(&s);
	write_seq(&s, 40, 100);
	audit_kafka_get_stats(s.ctx, &st);
	assert_int_equal(st.written, 100);
	assert_true(st.spooled >= 60);
	assert_int_equal(st.delivered, 0);
	assert_int_equal(st.dropped, 0);
	s.ops->flush(s.ctx, 200); /* cannot finish: returns at its deadline */
	s.ops->close(s.ctx);
	/* What the producer still held went in front of the spool: all 100, in write order. */
	expect_spool_in_order(dir, 100);

	/* Reopened with records waiting, the sink starts in spooling mode and keeps appending after them. */
	assert_int_equal(open_with(&cfg, &s, err, sizeof(err)), RFX_OK);
	audit_kafka_get_stats(s.ctx, &st);
	assert_true(st.spooling);
	assert_int_equal(st.spool_records, 100);
	write_seq(&s, 100, 110);
	s.ops->close(s.ctx);
	expect_spool_in_order(dir, 110);
	rmtree(dir);
}

static void test_too_large_dropped_and_counted(void **state)
{
	char *dir = tmpdir();
	cfg_common cfg = {.kafka_brokers = DOWN_BROKER, .audit_spool_dir = dir};
	audit_sink s;
	char err[512] = "";
	audit_kafka_stats st;
	size_t big = 2u << 20;
	char *rec = rfx_malloc(big);
	memset(rec, 'x', big);
	metric *m = metrics_counter("reflex_audit_kafka_dropped_total", "reason=\"too_large\"", "");
	double before = metrics_value(m);
	assert_int_equal(open_with(&cfg, &s, err, sizeof(err)), RFX_OK);
	assert_int_equal(s.ops->write(s.ctx, "k", rec, big),
			 RFX_ERR_LIMIT); /* larger than message.max.bytes */
	wait_spooling(&s);
	assert_int_equal(s.ops->write(s.ctx, "k", rec, big), RFX_ERR_LIMIT); /* larger than a spool record */
	audit_kafka_get_stats(s.ctx, &st);
	assert_int_equal(st.dropped, 2);
	assert_true(metrics_value(m) >= before + 1);
	s.ops->close(s.ctx);
	free(rec);
	rmtree(dir);
}

static void test_spool_dir_in_use(void **state)
{
	char *dir = tmpdir();
	cfg_common cfg = {.kafka_brokers = DOWN_BROKER, .audit_spool_dir = dir};
	audit_sink a, b;
	char err[512] = "";
	assert_int_equal(open_with(&cfg, &a, err, sizeof(err)), RFX_OK);
	assert_int_equal(open_with(&cfg, &b, err, sizeof(err)), RFX_ERR_EXISTS);
	assert_non_null(strstr(err, "audit_spool_dir"));
	a.ops->close(a.ctx);
	rmtree(dir);
}

/* CRC-32 (IEEE, reflected), bit by bit: what Kafka's and librdkafka's consistent partitioners hash keys with.
 */
static uint32_t crc32_ref(const char *s, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;
	for (size_t i = 0; i < n; i++) {
		c ^= (unsigned char)s[i];
		for (int b = 0; b < 8; b++)
			c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
	}
	return ~c;
}

static void test_key_partition(void **state)
{
	uint32_t keyless = 0;
	assert_int_equal(crc32_ref("123456789", 9), 0xCBF43926u); /* the standard check value */
	for (int32_t n = 1; n <= 12; n++) {
		for (int i = 0; i < 500; i++) {
			char key[32];
			int len = snprintf(key, sizeof(key), "src-%d", i * 7919);
			int32_t p = key_partition(key, (size_t)len, n, &keyless);
			assert_int_equal(p, (int32_t)(crc32_ref(key, (size_t)len) % (uint32_t)n));
		}
	}
	assert_int_equal(keyless, 0);
	/* Records without a key are spread over the partitions. */
	int seen[4] = {0};
	for (int i = 0; i < 8; i++)
		seen[key_partition(NULL, 0, 4, &keyless)]++;
	for (int i = 0; i < 4; i++)
		assert_int_equal(seen[i], 2);
	assert_int_equal(key_partition("k", 1, 1, &keyless), 0);
}

static void put_rec(pbuf *b, int key, int seq)
{
	char k[16], v[64];
	int kl = snprintf(k, sizeof(k), "k%d", key);
	int vl = snprintf(v, sizeof(v), "{\"seq\":%d}", seq);
	pbuf_put(b, k, (size_t)kl, v, (size_t)vl);
}

/* Every record of parts[0..n) is in the partition of its key, and per key the seqs come in order; returns
 * how many records there are. */
static size_t check_parts(pbuf *parts, int32_t n, int keys)
{
	int *last = rfx_calloc((size_t)keys, sizeof(int));
	size_t total = 0;
	for (int32_t p = 0; p < n; p++) {
		size_t off = parts[p].off, count = 0;
		while (off < parts[p].len) {
			pbuf view = parts[p];
			view.off = off;
			const char *key, *val;
			size_t klen, vlen, size = pbuf_peek(&view, &key, &klen, &val, &vlen);
			uint32_t unused = 0;
			assert_int_equal(key_partition(key, klen, n, &unused), p);
			int kn = atoi(key + 1), seq = atoi(val + 7);
			assert_true(seq > last[kn]);
			assert_int_equal(seq % keys, kn);
			last[kn] = seq;
			off += size;
			count++;
		}
		assert_int_equal(count, parts[p].n);
		total += count;
	}
	free(last);
	return total;
}

static void test_parts_keep_order_per_key(void **state)
{
	enum { KEYS = 50, RECS = 3000 };
	kafka_sink k = {.burst_bytes = 1 << 20, .burst_msgs = 100};
	pbuf in = {0};
	set_partitions(&k, 3);
	for (int seq = 1; seq <= RECS; seq++) {
		put_rec(&in, seq % KEYS, seq);
		if (seq % 700 == 0 || seq == RECS) /* taken in several parts, as the sink thread does */
			parts_fill(k.parts, k.part_since, k.nparts, &k.keyless, &in, seq);
	}
	assert_int_equal(in.n, 0);
	assert_int_equal(check_parts(k.parts, 3, KEYS), RECS);
	/* Queues are consumed from the front, a request at a time; what is left keeps its order. */
	for (int32_t p = 0; p < 3; p++) {
		size_t bytes, klen, vlen;
		const char *key, *val;
		size_t n = burst_fit(&k.parts[p], k.burst_bytes, k.burst_msgs, &bytes);
		assert_int_equal(n, 100);
		while (n--)
			pbuf_consume(&k.parts[p], pbuf_peek(&k.parts[p], &key, &klen, &val, &vlen));
	}
	assert_int_equal(check_parts(k.parts, 3, KEYS), RECS - 300);
	/* More partitions: the queued records move to their new partitions, a key's order unchanged. */
	set_partitions(&k, 7);
	assert_int_equal(check_parts(k.parts, 7, KEYS), RECS - 300);
	set_partitions(&k, 2);
	assert_int_equal(check_parts(k.parts, 2, KEYS), RECS - 300);
	for (int32_t p = 0; p < k.nparts; p++)
		free(k.parts[p].data);
	free(k.parts);
	free(k.part_since);
	free(k.batch_part_bytes);
	free(k.batch_part_n);
	free(in.data);
}

static void test_burst_fit(void **state)
{
	pbuf b = {0};
	char val[300];
	memset(val, 'v', sizeof(val));
	size_t bytes, cost = record_cost(2, 100);
	assert_int_equal(burst_fit(&b, 1000, 10, &bytes), 0);
	for (int i = 0; i < 20; i++)
		pbuf_put(&b, "ab", 2, val, 100);
	assert_int_equal(burst_fit(&b, 5 * cost, 100, &bytes), 5);
	assert_int_equal(bytes, 5 * cost);
	assert_int_equal(burst_fit(&b, 5 * cost - 1, 100, &bytes), 4);
	assert_int_equal(burst_fit(&b, 1 << 20, 7, &bytes), 7);
	assert_int_equal(burst_fit(&b, 1 << 20, 100, &bytes), 20);
	assert_int_equal(burst_fit(&b, 1, 100, &bytes), 1); /* a record larger than a request still goes */
	pbuf_clear(&b);
	free(b.data);
}

static void test_pbuf_consume_gives_room_back(void **state)
{
	pbuf b = {0};
	const char *key, *val;
	size_t klen, vlen;
	for (int seq = 0; seq < 10000; seq++)
		put_rec(&b, 0, seq);
	size_t len = b.len;
	int next = 0;
	for (; next < 7500; next++) /* past half: the read part is given back */
		pbuf_consume(&b, pbuf_peek(&b, &key, &klen, &val, &vlen));
	assert_true(b.off < len / 2);
	assert_true(b.len < len);
	assert_int_equal(b.n, 2500);
	for (int seq = 10000; seq < 10100; seq++)
		put_rec(&b, 0, seq);
	size_t size;
	while ((size = pbuf_peek(&b, &key, &klen, &val, &vlen))) {
		assert_int_equal(atoi(val + 7), next++);
		pbuf_consume(&b, size);
	}
	assert_int_equal(next, 10100);
	assert_int_equal(b.n, 0);
	assert_int_equal(b.len, 0);
	free(b.data);
}

static void test_spool_batch_per_partition(void **state)
{
	kafka_sink k = {.burst_bytes = 3 * record_cost(1, 10), .burst_msgs = 2, .round_parts = 2};
	set_partitions(&k, 4);
	size_t c = record_cost(1, 10);
	assert_true(batch_fits(&k, 0, c));
	k.batch_parts = 1, k.batch_part_n[0] = 1, k.batch_part_bytes[0] = c;
	assert_true(batch_fits(&k, 0, c));
	assert_false(batch_fits(&k, 0, 3 * c)); /* over one request's bytes */
	k.batch_part_n[0] = 2;
	assert_false(batch_fits(&k, 0, c)); /* over one request's records */
	assert_true(batch_fits(&k, 1, c));
	k.batch_parts = 2;
	assert_false(batch_fits(&k, 2, c)); /* a third partition: more requests than allowed in flight */
	batch_reset(&k);
	assert_true(batch_fits(&k, 2, c));
	assert_int_equal(k.batch_part_n[0], 0);
	free(k.parts);
	free(k.part_since);
	free(k.batch_part_bytes);
	free(k.batch_part_n);
}

static void test_registered(void **state)
{
	assert_ptr_equal(audit_kafka_open_fn, audit_kafka_open);
}

int main(void)
{
	log_init("test", LOG_LEVEL_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frame_roundtrip),
	    cmocka_unit_test(test_topic_names),
	    cmocka_unit_test(test_config_errors),
	    cmocka_unit_test(test_property_from_file),
	    cmocka_unit_test(test_broker_down_spools_in_order),
	    cmocka_unit_test(test_too_large_dropped_and_counted),
	    cmocka_unit_test(test_spool_dir_in_use),
	    cmocka_unit_test(test_key_partition),
	    cmocka_unit_test(test_parts_keep_order_per_key),
	    cmocka_unit_test(test_burst_fit),
	    cmocka_unit_test(test_pbuf_consume_gives_room_back),
	    cmocka_unit_test(test_spool_batch_per_partition),
	    cmocka_unit_test(test_registered),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
