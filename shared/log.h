/* log.h -- the service log: one logfmt line per event on stdout, gated by level before arguments are evaluated.
 *
 *   LOG_INFO("event classified", "event_id", ev->id, "rule", r->name);
 *
 * Fields are key/value string pairs (NULL values are skipped). Format numbers into a small buffer first.
 * Never pass a secret. Field names are stable and listed in docs/logging.md. */
#ifndef RFX_LOG_H
#define RFX_LOG_H

#include "rfx.h"

typedef enum { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR } log_level;

extern log_level log_min_level;

void log_init(const char *svc, log_level min_level);
rfx_err log_level_parse(const char *s, log_level *out); /* debug|info|warn|error */
const char *log_level_name(log_level l);
/* Redirects output (default stdout); used by tests. */
void log_set_fd(int fd);
/* Writes one line: ts=... level=... svc=... msg="..." k=v ...; the variadic part is key, value pairs ending in NULL. */
void log_write(log_level level, const char *msg, ...);

#define LOG_AT(lvl, msg, ...)                                                                                        \
	do {                                                                                                         \
		if ((lvl) >= log_min_level)                                                                          \
			log_write((lvl), (msg), ##__VA_ARGS__, (const char *)NULL);                                  \
	} while (0)
#define LOG_DEBUG(msg, ...) LOG_AT(LOG_LEVEL_DEBUG, msg, ##__VA_ARGS__)
#define LOG_INFO(msg, ...) LOG_AT(LOG_LEVEL_INFO, msg, ##__VA_ARGS__)
#define LOG_WARN(msg, ...) LOG_AT(LOG_LEVEL_WARN, msg, ##__VA_ARGS__)
#define LOG_ERROR(msg, ...) LOG_AT(LOG_LEVEL_ERROR, msg, ##__VA_ARGS__)

#endif
