/* poller_config.h -- reflex-poller's configuration: the option table and the `feeds` list parser. */
#ifndef POLLER_CONFIG_H
#define POLLER_CONFIG_H

#include "config.h"
#include "feed.h"

typedef struct poller_feeds {
	feed_cfg *v;
	size_t n;
} poller_feeds;

typedef struct poller_cfg {
	cfg_common common;
	char *classifier_url;
	char *classifier_token_file;
	char *state_dir;
	poller_feeds feeds;
	long long outbox_max_events;
	long long outbox_max_bytes;
	int64_t forward_timeout_ms;
	int64_t forward_retry_min_ms;
	int64_t forward_retry_max_ms;
} poller_cfg;

extern const cfg_spec poller_config_spec;

/* The CFG_CUSTOM parser of `feeds` (a YAML sequence of mappings); field is a poller_feeds. */
rfx_err poller_config_parse_feeds(const yt_node *node, void *field, char *err, size_t errlen);
void poller_config_free_feeds(void *field);
void poller_config_dump_feeds(const void *field, FILE *out);

/* Parses one feed mapping into *out (defaults applied, type options validated). */
rfx_err poller_config_parse_feed(const yt_node *map, feed_cfg *out, char *err, size_t errlen);
void poller_config_free_feed(feed_cfg *f);

/* "16MiB", "512KiB", "1048576" -> bytes. */
rfx_err poller_config_parse_size(const char *s, long long *out);

#endif
