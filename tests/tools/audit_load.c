/* audit_load.c -- test and benchmark tool: writes numbered audit records through the Kafka sink at a given
 * rate, waits for them to be delivered (or spooled), and prints the sink's counters as one JSON line on
 * stdout. audit_load --brokers B [--topic T] [--spool DIR] [--count N] [--rate R/s] [--keys K] [--flush-ms
 * MS]
 *              [--payload BYTES] [--prop key=value]...
 * Records: {"type":"test.record","svc":"audit_load","source_id":"k<seq % K>","seq":<seq>,"run":"<id>",...}.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "audit_kafka.h"
#include "log.h"

typedef struct opts {
	cfg_common cfg;
	long count, rate, keys, flush_ms, payload;
	const char *run, *from;
} opts;

static void add_prop(cfg_strmap *m, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq) {
		fprintf(stderr, "audit_load: --prop wants key=value\n");
		exit(2);
	}
	m->keys = rfx_realloc(m->keys, (m->n + 1) * sizeof(char *));
	m->values = rfx_realloc(m->values, (m->n + 1) * sizeof(char *));
	m->keys[m->n] = rfx_strndup(kv, (size_t)(eq - kv));
	m->values[m->n] = rfx_strdup(eq + 1);
	m->n++;
}

static void parse(int argc, char **argv, opts *o)
{
	static const struct option lo[] = {
	    {"brokers", 1, 0, 'b'}, {"topic", 1, 0, 't'}, {"spool", 1, 0, 's'},	   {"count", 1, 0, 'n'},
	    {"rate", 1, 0, 'r'},    {"keys", 1, 0, 'k'},  {"flush-ms", 1, 0, 'f'}, {"payload", 1, 0, 'p'},
	    {"prop", 1, 0, 'P'},    {"run", 1, 0, 'R'},	  {"from", 1, 0, 'F'},	   {0, 0, 0, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'b':
			o->cfg.kafka_brokers = optarg;
			break;
		case 't':
			o->cfg.kafka_audit_topic = optarg;
			break;
		case 's':
			o->cfg.audit_spool_dir = optarg;
			break;
		case 'n':
			o->count = atol(optarg);
			break;
		case 'r':
			o->rate = atol(optarg);
			break;
		case 'k':
			o->keys = atol(optarg);
			break;
		case 'f':
			o->flush_ms = atol(optarg);
			break;
		case 'p':
			o->payload = atol(optarg);
			break;
		case 'P':
			add_prop(&o->cfg.kafka_properties, optarg);
			break;
		case 'F':
			o->from = optarg;
			break;
		case 'R':
			o->run = optarg;
			break;
		default:
			exit(2);
		}
	}
	if (!o->cfg.kafka_brokers) {
		fprintf(stderr, "audit_load: --brokers is required\n");
		exit(2);
	}
}

static char *make_record(const opts *o, long seq, const char *pad, char *key, size_t keylen)
{
	char ts[32];
	rfx_iso8601(rfx_now_ms(), ts);
	snprintf(key, keylen, "k%ld", seq % (o->keys > 0 ? o->keys : 1));
	return rfx_asprintf(
	    "{\"type\":\"test.record\",\"ts\":\"%s\",\"svc\":\"audit_load\",\"source_id\":\"%s\","
	    "\"seq\":%ld,\"run\":\"%s\",\"pad\":\"%s\"}",
	    ts, key, seq, o->run, pad);
}

static void print_stats(audit_sink *s, double secs, double write_secs)
{
	audit_kafka_stats st;
	audit_kafka_get_stats(s->ctx, &st);
	printf("{\"written\":%llu,\"produced\":%llu,\"delivered\":%llu,\"delivery_errors\":%llu,\"spooled\":%"
	       "llu,"
	       "\"dropped\":%llu,\"spool_records\":%llu,\"queued\":%llu,\"spooling\":%s,\"seconds\":%.3f,"
	       "\"write_seconds\":%.3f}\n",
	       (unsigned long long)st.written, (unsigned long long)st.produced,
	       (unsigned long long)st.delivered, (unsigned long long)st.delivery_errors,
	       (unsigned long long)st.spooled, (unsigned long long)st.dropped,
	       (unsigned long long)st.spool_records, (unsigned long long)st.queued,
	       st.spooling ? "true" : "false", secs, write_secs);
	fflush(stdout);
}

/* Writes every line of path through the sink; returns how many. */
static long write_file(audit_sink *s, const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long count = 0;
	if (!f) {
		perror(path);
		exit(1);
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		cJSON *o = cJSON_ParseWithLength(line, (size_t)n);
		const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "source_id"));
		if (n)
			s->ops->write(s->ctx, key, line, (size_t)n);
		cJSON_Delete(o);
		count += n > 0;
	}
	free(line);
	fclose(f);
	return count;
}

int main(int argc, char **argv)
{
	opts o = {.count = 1000, .keys = 10, .flush_ms = 30000, .run = "run"};
	audit_sink sink;
	char err[512] = "";
	parse(argc, argv, &o);
	log_init("audit_load", LOG_LEVEL_INFO);
	log_set_fd(2);
	if (audit_kafka_open(&o.cfg, &sink, err, sizeof(err))) {
		fprintf(stderr, "audit_load: %s\n", err);
		return 1;
	}
	char *pad = rfx_calloc(1, (size_t)o.payload + 1);
	memset(pad, 'x', (size_t)o.payload);
	double t0 = rfx_mono_sec();
	if (o.from) {
		write_file(&sink, o.from);
		o.count = 0;
	}
	for (long i = 0; i < o.count; i++) {
		if (o.rate > 0) {
			double due = t0 + (double)i / (double)o.rate, now = rfx_mono_sec();
			if (due > now)
				usleep((useconds_t)((due - now) * 1e6));
		}
		char key[32];
		char *rec = make_record(&o, i, pad, key, sizeof(key));
		sink.ops->write(sink.ctx, key, rec, strlen(rec));
		free(rec);
	}
	double t1 = rfx_mono_sec();
	sink.ops->flush(sink.ctx, (int)o.flush_ms);
	double t2 = rfx_mono_sec();
	print_stats(&sink, t2 - t0, t1 - t0);
	sink.ops->close(sink.ctx);
	free(pad);
	return 0;
}
