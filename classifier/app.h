/* app.h -- the reflex-classifier process: its configuration and the parts every handler reaches. */
#ifndef CLASSIFIER_APP_H
#define CLASSIFIER_APP_H

#include <pthread.h>
#include "config.h"
#include "dispatch.h"
#include "history.h"
#include "http.h"

struct rulestore;
struct topology_store;

typedef struct classifier_cfg {
	cfg_common common;
	char *rules_dir;
	char *action_handler_url;
	char *action_handler_token_file;
	char *hmac_key_file;
	long long history_size;
	long long dedup_size;
	int64_t rules_check_interval_ms;
	int64_t dispatch_timeout_ms;
	char *state_dir;
	long long outbox_max;
	long long max_events_per_request;
	char *web_dir;
	int64_t topology_interval_ms;
} classifier_cfg;

typedef struct classifier_app {
	classifier_cfg cfg;
	struct rulestore *rules;
	history *hist;
	dispatch *disp; /* NULL when no action_handler_url */
	struct topology_store *topo;
	http_server *http;
	auth_tokens *tokens, *admin_tokens;
} classifier_app;

extern const cfg_spec classifier_spec;

/* HTTP routes (api.c). */
extern const http_route classifier_routes[];
extern const size_t classifier_nroutes;

/* The topology store of the app passed as a handler's ud. */
struct topology_store *classifier_app_topology(void *ud);

/* Rules directory watching (watch.c): inotify plus a periodic check; calls rulestore_reload. */
typedef struct rules_watch rules_watch;
rfx_err rules_watch_start(classifier_app *app, rules_watch **out);
void rules_watch_stop(rules_watch *w);
/* Reloads now and logs/audits the outcome; used by the watcher and POST /v1/rules/reload. Returns the report
 * JSON. */
cJSON *classifier_reload_rules(classifier_app *app, const char *trigger);

#endif
