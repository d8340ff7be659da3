/* main.c -- reflex-classifier: normalizes, de-duplicates and classifies problems, and sends the signed
 * actions. */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "app.h"
#include "audit.h"
#include "classify.h"
#include "httpc.h"
#include "arena.h"
#include "log.h"
#include "rulestore.h"
#include "topology.h"

#define OFF(f) offsetof(classifier_cfg, f)
static const cfg_opt classifier_opts[] = {
    {"rules_dir", CFG_STRING, OFF(rules_dir), "./rules", 0, 0, NULL,
     "Directory of rule files (*.yaml, *.yml); watched and reloaded per file"},
    {"action_handler_url", CFG_STRING, OFF(action_handler_url), NULL, 0, 0, NULL,
     "Base URL of reflex-action-handler; unset: actions are recorded, not sent"},
    {"action_handler_token_file", CFG_STRING, OFF(action_handler_token_file), NULL, 0, 0, NULL,
     "File with the bearer token sent to the action handler"},
    {"hmac_key_file", CFG_STRING, OFF(hmac_key_file), NULL, 0, 0, NULL,
     "File with the HMAC-SHA256 key that signs actions (required with action_handler_url)"},
    {"history_size", CFG_INT, OFF(history_size), "10000", 10, 10000000, NULL,
     "Recent events kept for GET /v1/events"},
    {"dedup_size", CFG_INT, OFF(dedup_size), "100000", 100, 100000000, NULL,
     "Problems remembered for de-duplication (least recently seen forgotten first)"},
    {"rules_check_interval", CFG_DURATION, OFF(rules_check_interval_ms), "5s", 100, 3600000, NULL,
     "Periodic rules directory check, besides inotify"},
    {"dispatch_timeout", CFG_DURATION, OFF(dispatch_timeout_ms), "5s", 100, 120000, NULL,
     "Timeout of one request to the action handler"},
    {"state_dir", CFG_STRING, OFF(state_dir), "./state", 0, 0, NULL,
     "Directory for the durable outbox of actions waiting for the action handler"},
    {"outbox_max", CFG_INT, OFF(outbox_max), "100000", 1, 10000000, NULL, "Actions the outbox may hold"},
    {"max_events_per_request", CFG_INT, OFF(max_events_per_request), "1000", 1, 100000, NULL,
     "Events one request may carry (an Alertmanager group, a list)"},
    {"web_dir", CFG_STRING, OFF(web_dir), "./web", 0, 0, NULL, "Directory of the /map page's files"},
    {"topology_interval", CFG_DURATION, OFF(topology_interval_ms), "30s", 1000, 3600000, NULL,
     "Agents' report interval; edges not seen for three intervals age out"},
    {0}};

const cfg_spec classifier_spec = {
    .service = "classifier",
    .binary = "reflex-classifier",
    .summary = "Normalizes, de-duplicates and classifies problems with YAML rules, and sends the actions.",
    .default_port = 8080,
    .opts = classifier_opts,
    .extra_usage =
	"  --check-rules DIR   validate a rules directory, print every error, exit non-zero on any\n",
};

static bool app_ready(void *ud, char *why, size_t whylen)
{
	classifier_app *app = ud;
	if (!app->rules) {
		snprintf(why, whylen, "rules not loaded");
		return false;
	}
	return true;
}

struct topology_store *classifier_app_topology(void *ud)
{
	return ((classifier_app *)ud)->topo;
}

static rfx_err load_secret_file(const char *path, const char *what, char **out, size_t *len)
{
	char err[300];
	rfx_err rc = auth_read_secret(path, out, len, err, sizeof(err));
	if (rc)
		fprintf(stderr, "reflex-classifier: %s: %s\n", what, err);
	return rc;
}

static rfx_err load_tokens(classifier_app *app)
{
	cfg_common *c = &app->cfg.common;
	if (auth_tokens_load_config("reflex-classifier", c->api_tokens_file, c->admin_tokens_file,
				    &app->tokens, &app->admin_tokens))
		return RFX_ERR_INVAL;
	if (!app->tokens)
		LOG_WARN("api open: no api_tokens_file configured, every request is accepted");
	return RFX_OK;
}

static void on_dispatch_result(void *ud, const char *event_id, const char *action_id, const char *status,
			       const char *reason);

static rfx_err start_dispatch(classifier_app *app)
{
	classifier_cfg *c = &app->cfg;
	if (!c->action_handler_url) {
		LOG_INFO("no action_handler_url: actions are recorded, not sent");
		return RFX_OK;
	}
	if (!c->hmac_key_file) {
		fprintf(stderr,
			"reflex-classifier: hmac_key_file: required when action_handler_url is set\n");
		return RFX_ERR_INVAL;
	}
	char *key = NULL, *token = NULL, *outbox = NULL, err[300];
	size_t keylen = 0, toklen = 0;
	rfx_err rc = load_secret_file(c->hmac_key_file, "hmac_key_file", &key, &keylen);
	if (!rc && c->action_handler_token_file)
		rc = load_secret_file(c->action_handler_token_file, "action_handler_token_file", &token,
				      &toklen);
	if (rc)
		goto out;
	outbox = rfx_asprintf("%s/outbox", c->state_dir);
	dispatch_opts o = {.url = c->action_handler_url,
			   .token = token,
			   .hmac_key = key,
			   .hmac_key_len = keylen,
			   .timeout_ms = c->dispatch_timeout_ms,
			   .outbox_dir = outbox,
			   .outbox_max = (size_t)c->outbox_max,
			   .on_result = on_dispatch_result,
			   .ud = app};
	rc = dispatch_new(&o, &app->disp, err, sizeof(err));
	if (rc)
		fprintf(stderr, "reflex-classifier: %s\n", err);
out:
	if (key)
		memset(key, 0, keylen);
	if (token)
		memset(token, 0, toklen);
	free(key);
	free(token);
	free(outbox);
	return rc;
}

static void on_dispatch_result(void *ud, const char *event_id, const char *action_id, const char *status,
			       const char *reason)
{
	classifier_app *app = ud;
	history_update_decision(app->hist, event_id, action_id, status, reason, NULL);
}

static int check_rules(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--check-rules")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "reflex-classifier: --check-rules needs a directory\n");
				return 2;
			}
			return rules_check_dir(argv[i + 1], stdout) ? 1 : 0;
		}
	}
	return -1;
}

static rfx_err app_start(classifier_app *app)
{
	char err[300];
	classifier_cfg *c = &app->cfg;
	rfx_err rc = load_tokens(app);
	if (rc)
		return rc;
	if (audit_init("classifier", &c->common, err, sizeof(err))) {
		fprintf(stderr, "reflex-classifier: audit: %s\n", err);
		return RFX_ERR_INVAL;
	}
	classify_init_metrics();
	app->hist = history_new((size_t)c->history_size, (size_t)c->dedup_size);
	topology_opts topts = {.interval_ms = c->topology_interval_ms};
	app->topo = topology_store_new(&topts);
	app->rules = rulestore_new(c->rules_dir);
	cJSON_Delete(classifier_reload_rules(app, "start"));
	rc = start_dispatch(app);
	if (rc)
		return rc;
	http_server_opts ho = {.svc = "classifier",
			       .bind = c->common.bind,
			       .port = (int)c->common.port,
			       .max_body = (size_t)c->common.max_body_bytes,
			       .threads = (unsigned)c->common.http_threads,
			       .routes = classifier_routes,
			       .nroutes = classifier_nroutes,
			       .ud = app,
			       .tokens = app->tokens,
			       .admin_tokens = app->admin_tokens,
			       .ready = app_ready};
	rc = http_server_start(&ho, &app->http);
	if (rc) {
		fprintf(stderr, "reflex-classifier: cannot listen on %s:%lld: %s\n", c->common.bind,
			c->common.port, rfx_strerror(rc));
		return rc;
	}
	char port[16];
	snprintf(port, sizeof(port), "%d", http_server_port(app->http));
	LOG_INFO("started", "bind", c->common.bind, "port", port, "rules_dir", c->rules_dir, "version",
		 REFLEX_VERSION);
	return RFX_OK;
}

static void app_stop(classifier_app *app)
{
	http_server_stop(app->http);
	dispatch_free(app->disp);
	if (app->rules)
		rulestore_free(app->rules);
	topology_store_free(app->topo);
	history_free(app->hist);
	auth_tokens_free(app->tokens);
	auth_tokens_free(app->admin_tokens);
	audit_shutdown(2000);
}

int main(int argc, char **argv)
{
	static classifier_app app;
	int rest_argc;
	char **rest_argv;
	int rc = 1;
	cfg_action act = config_init(&classifier_spec, &app.cfg, argc, argv, &rest_argc, &rest_argv);
	if (act != CFG_RUN)
		return act == CFG_EXIT_OK ? 0 : 1;
	int checked = check_rules(rest_argc, rest_argv);
	if (checked >= 0) {
		config_free(&classifier_spec, &app.cfg);
		return checked;
	}
	if (rest_argc > 1) {
		fprintf(stderr, "reflex-classifier: unknown argument '%s' (see --help)\n", rest_argv[1]);
		config_free(&classifier_spec, &app.cfg);
		return 2;
	}
	log_level lvl = LOG_LEVEL_INFO;
	log_level_parse(app.cfg.common.log_level, &lvl);
	log_init("classifier", lvl);
	httpc_global_init();
	arena_init(); /* before any other thread uses cJSON */
	/* Termination signals are taken synchronously by the main thread; every other thread has them
	 * blocked. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	rules_watch *watch = NULL;
	if (app_start(&app) || rules_watch_start(&app, &watch))
		goto out;
	int sig;
	sigwait(&sigs, &sig);
	LOG_INFO("stopping", "signal", sig == SIGTERM ? "TERM" : "INT");
	rc = 0;
out:
	rules_watch_stop(watch);
	app_stop(&app);
	config_free(&classifier_spec, &app.cfg);
	return rc;
}
