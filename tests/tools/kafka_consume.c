/* kafka_consume.c -- test tool: prints every record of a Kafka topic as one JSON line (partition, offset,
 * key, value), from the beginning to the end it had at the start. Usage: kafka_consume BROKERS TOPIC
 * [TIMEOUT_MS] */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include "audit_kafka.h"

static int print_record(void *arg, const char *key, size_t key_len, const char *value, size_t len,
			int32_t partition, int64_t offset)
{
	cJSON *o = cJSON_CreateObject();
	char *k = key ? rfx_strndup(key, key_len) : NULL, *v = rfx_strndup(value, len);
	cJSON_AddNumberToObject(o, "partition", partition);
	cJSON_AddNumberToObject(o, "offset", (double)offset);
	if (k)
		cJSON_AddStringToObject(o, "key", k);
	else
		cJSON_AddNullToObject(o, "key");
	cJSON_AddStringToObject(o, "value", v);
	char *line = cJSON_PrintUnformatted(o);
	puts(line);
	free(line);
	free(k);
	free(v);
	cJSON_Delete(o);
	(*(long *)arg)++;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: kafka_consume BROKERS TOPIC [TIMEOUT_MS]\n");
		return 2;
	}
	char err[512] = "";
	long n = 0;
	int timeout = argc > 3 ? atoi(argv[3]) : 30000;
	rfx_err rc = audit_kafka_read(argv[1], argv[2], NULL, timeout, print_record, &n, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "kafka_consume: %s\n", err);
		return rc == RFX_ERR_NOTFOUND ? 3 : 1;
	}
	fprintf(stderr, "kafka_consume: %ld records\n", n);
	return 0;
}
