/* main.c -- reflex-poller: polls the configured feeds and forwards each new, changed or resolved problem
 * once. */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "http.h"
#include "httpc.h"
#include "log.h"
#include "poller_config.h"
#include "runner.h"

typedef struct poller_app {
	poller_cfg cfg;
	atomic_bool stop;
	outbox *ob;
	forwarder *fwd;
	runner *runners;
	size_t nrunners;
	http_server *http;
} poller_app;

static const http_route poller_routes[] = {{0}};

static rfx_err commit_of(const char *feed, char out[27], void *ud)
{
	poller_app *app = ud;
	return state_read_commit(app->cfg.state_dir, feed, out);
}

static rfx_err open_outbox(poller_app *app)
{
	char err[400] = "";
	poller_cfg *c = &app->cfg;
	if (rfx_mkdirs(c->state_dir)) {
		fprintf(stderr, "reflex-poller: state_dir: cannot create %s\n", c->state_dir);
		return RFX_ERR_IO;
	}
	outbox_opts o = {.dir = c->state_dir,
			 .max_events = c->outbox_max_events,
			 .max_bytes = c->outbox_max_bytes,
			 .commit_of = commit_of,
			 .ud = app};
	rfx_err rc = outbox_open(&o, &app->ob, err, sizeof(err));
	if (rc)
		fprintf(stderr, "reflex-poller: outbox: %s\n", err);
	return rc;
}

static rfx_err start_forwarding(poller_app *app)
{
	char err[300] = "";
	poller_cfg *c = &app->cfg;
	forward_opts o = {.classifier_url = c->classifier_url,
			  .token_file = c->classifier_token_file,
			  .timeout_ms = (long)c->forward_timeout_ms,
			  .retry_min_ms = (long)c->forward_retry_min_ms,
			  .retry_max_ms = (long)c->forward_retry_max_ms,
			  .ob = app->ob,
			  .stop = &app->stop};
	rfx_err rc = forward_start(&o, &app->fwd, err, sizeof(err));
	if (rc)
		fprintf(stderr, "reflex-poller: classifier_token_file: %s\n", err);
	return rc;
}

static rfx_err start_runners(poller_app *app)
{
	char err[400] = "";
	poller_feeds *fs = &app->cfg.feeds;
	app->runners = rfx_calloc(fs->n ? fs->n : 1, sizeof(runner));
	for (size_t i = 0; i < fs->n; i++) {
		if (!fs->v[i].enabled) {
			LOG_INFO("feed disabled", "feed", fs->v[i].name, "type", fs->v[i].type);
			continue;
		}
		runner *r = &app->runners[app->nrunners];
		if (runner_init(r, &fs->v[i], app->cfg.state_dir, app->ob, &app->stop, err, sizeof(err))) {
			fprintf(stderr, "reflex-poller: feed %s: %s\n", fs->v[i].name, err);
			runner_free(r);
			return RFX_ERR_IO;
		}
		app->nrunners++;
	}
	for (size_t i = 0; i < app->nrunners; i++) {
		char url[512];
		feed_url_redact(app->runners[i].cfg->url, url, sizeof(url));
		LOG_INFO("feed started", "feed", app->runners[i].cfg->name, "type", app->runners[i].cfg->type,
			 "url", url);
		if (runner_start(&app->runners[i]))
			return RFX_ERR_INTERNAL;
	}
	if (app->nrunners == 0)
		LOG_WARN("no feeds configured: nothing to poll");
	return RFX_OK;
}

static rfx_err start_http(poller_app *app)
{
	poller_cfg *c = &app->cfg;
	http_server_opts ho = {.svc = "poller",
			       .bind = c->common.bind,
			       .port = (int)c->common.port,
			       .max_body = (size_t)c->common.max_body_bytes,
			       .threads = (unsigned)c->common.http_threads,
			       .routes = poller_routes,
			       .nroutes = 0,
			       .ud = app};
	rfx_err rc = http_server_start(&ho, &app->http);
	if (rc) {
		fprintf(stderr, "reflex-poller: cannot listen on %s:%lld: %s\n", c->common.bind,
			c->common.port, rfx_strerror(rc));
		return rc;
	}
	char port[16], feeds[16];
	snprintf(port, sizeof(port), "%d", http_server_port(app->http));
	snprintf(feeds, sizeof(feeds), "%zu", app->nrunners);
	LOG_INFO("poller started", "bind", c->common.bind, "port", port, "feeds", feeds, "state_dir",
		 c->state_dir, "version", REFLEX_VERSION);
	return RFX_OK;
}

static rfx_err app_start(poller_app *app)
{
	rfx_err rc = open_outbox(app);
	if (!rc)
		rc = start_forwarding(app);
	if (!rc)
		rc = start_runners(app);
	if (!rc)
		rc = start_http(app);
	return rc;
}

static void app_stop(poller_app *app)
{
	atomic_store(&app->stop, true);
	for (size_t i = 0; i < app->nrunners; i++)
		runner_wake(&app->runners[i]);
	http_server_stop(app->http);
	for (size_t i = 0; i < app->nrunners; i++)
		runner_join(&app->runners[i]);
	forward_stop(app->fwd);
	for (size_t i = 0; i < app->nrunners; i++)
		runner_free(&app->runners[i]);
	free(app->runners);
	outbox_close(app->ob);
}

int main(int argc, char **argv)
{
	static poller_app app;
	int rest_argc, rc = 1;
	char **rest_argv;

	/* A poll builds and drops tens of thousands of small JSON nodes next to large response buffers.
	 * Without fastbins, freeing a large buffer does not sweep all those small chunks (malloc_consolidate
	 * was the top of the poller's profile); two arenas keep the resident size down
	 * (bench/poller/README.md). */
	mallopt(M_MXFAST, 0);
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_ARENA_MAX, 2);

	cfg_action act = config_init(&poller_config_spec, &app.cfg, argc, argv, &rest_argc, &rest_argv);
	if (act != CFG_RUN) {
		config_free(&poller_config_spec, &app.cfg);
		return act == CFG_EXIT_OK ? 0 : 1;
	}
	if (rest_argc > 1) {
		fprintf(stderr, "reflex-poller: unknown argument '%s' (see --help)\n", rest_argv[1]);
		config_free(&poller_config_spec, &app.cfg);
		return 2;
	}
	log_level lvl = LOG_LEVEL_INFO;
	log_level_parse(app.cfg.common.log_level, &lvl);
	log_init("poller", lvl);
	httpc_global_init();
	srandom((unsigned)rfx_now_ms());
	/* Termination signals are taken by the main thread; the threads started below inherit the mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (app_start(&app))
		goto out;
	int sig;
	sigwait(&sigs, &sig);
	LOG_INFO("stopping", "signal", sig == SIGTERM ? "TERM" : "INT");
	rc = 0;
out:
	app_stop(&app);
	config_free(&poller_config_spec, &app.cfg);
	return rc;
}
