/* poller__common.h -- what the poller's feed fuzzers share: a feed configured from YAML once, and one parse
 * of the input as a list answer with the invariants every parser keeps. */
#ifndef POLLER_FUZZ_COMMON_H
#define POLLER_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../poller/poller_config.h"
#include "log.h"

static feed_cfg *fuzz_feed(const char *yaml)
{
	static feed_cfg cfg;
	static bool ready;
	yt_node **docs = NULL;
	size_t ndocs = 0;
	yt_error ye;
	char err[512];
	if (ready)
		return &cfg;
	log_init("fuzz", LOG_LEVEL_ERROR);
	if (yt_parse(yaml, strlen(yaml), &docs, &ndocs, &ye) ||
	    poller_config_parse_feed(docs[0], &cfg, err, sizeof(err)))
		abort();
	yt_free_docs(docs, ndocs);
	ready = true;
	return &cfg;
}

static void fuzz_parse(const feed_cfg *cfg, const uint8_t *data, size_t size)
{
	feed_page pg;
	char err[FEED_ERR_MAX] = "";
	feed_page_init(&pg);
	rfx_err rc = cfg->ft->parse(cfg, (const char *)data, size, &pg, err, sizeof(err));
	if (rc && pg.n)
		abort(); /* a refused answer yields nothing */
	for (size_t i = 0; i < pg.n; i++) {
		const feed_item *it = &pg.items[i];
		if (!it->source_id || !it->ev || strcmp(it->source_id, it->ev->source_id) != 0)
			abort(); /* every item is an event keyed by its own source_id */
	}
	feed_page_reset(&pg);
}

#endif
