/* main.c -- reflex-action-handler: runs signed remediation actions over SSH under safety limits. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ah_config.h"
#include "api.h"
#include "audit.h"
#include "auth.h"
#include "engine.h"
#include "httpc.h"
#include "log.h"

typedef struct ah_app {
	ah_config cfg;
	engine *eng;
	auth_tokens *tokens, *admin_tokens;
	http_server *http;
} ah_app;

static rfx_err ah_load_tokens(ah_app *app)
{
	cfg_common *c = &app->cfg.common;
	if (auth_tokens_load_config("reflex-action-handler", c->api_tokens_file, c->admin_tokens_file,
				    &app->tokens, &app->admin_tokens))
		return RFX_ERR_INVAL;
	if (!app->tokens)
		LOG_WARN("api open: no api_tokens_file configured, reads and pause/resume need no token");
	return RFX_OK;
}

static rfx_err ah_listen(ah_app *app)
{
	cfg_common *c = &app->cfg.common;
	http_server_opts ho = {.svc = "action-handler",
			       .bind = c->bind,
			       .port = (int)c->port,
			       .max_body = (size_t)c->max_body_bytes,
			       .threads = (unsigned)c->http_threads,
			       .routes = api_routes,
			       .nroutes = api_nroutes,
			       .ud = app->eng,
			       .tokens = app->tokens,
			       .admin_tokens = app->admin_tokens};
	rfx_err rc = http_server_start(&ho, &app->http);
	if (rc) {
		fprintf(stderr, "reflex-action-handler: cannot listen on %s:%lld: %s\n", c->bind, c->port,
			rfx_strerror(rc));
		return rc;
	}
	char port[16];
	snprintf(port, sizeof(port), "%d", http_server_port(app->http));
	LOG_INFO("listening", "bind", c->bind, "port", port, "spool_dir", app->cfg.spool_dir, "version",
		 REFLEX_VERSION);
	return RFX_OK;
}

static rfx_err ah_start(ah_app *app)
{
	char err[400];
	rfx_err rc = ah_load_tokens(app);
	if (rc)
		return rc;
	if (audit_init("action-handler", &app->cfg.common, err, sizeof(err))) {
		fprintf(stderr, "reflex-action-handler: audit: %s\n", err);
		return RFX_ERR_INVAL;
	}
	if ((rc = engine_open(&app->cfg, &app->eng, err, sizeof(err)))) {
		fprintf(stderr, "reflex-action-handler: %s\n", err);
		return rc;
	}
	return ah_listen(app);
}

static void ah_stop(ah_app *app)
{
	http_server_stop(app->http);
	engine_close(app->eng);
	auth_tokens_free(app->tokens);
	auth_tokens_free(app->admin_tokens);
	audit_shutdown(2000);
}

int main(int argc, char **argv)
{
	static ah_app app;
	int rest_argc, rc = 1;
	char **rest_argv;
	cfg_action act = config_init(&ah_config_spec, &app.cfg, argc, argv, &rest_argc, &rest_argv);
	bool extra = rest_argc > 1;
	if (extra && act == CFG_RUN)
		fprintf(stderr, "reflex-action-handler: unknown argument '%s' (see --help)\n", rest_argv[1]);
	free(rest_argv); /* config_init allocates it; nothing else here needs it */
	if (act != CFG_RUN || extra) {
		config_free(&ah_config_spec, &app.cfg);
		return act == CFG_EXIT_OK ? 0 : extra && act == CFG_RUN ? 2 : 1;
	}
	log_level lvl = LOG_LEVEL_INFO;
	log_level_parse(app.cfg.common.log_level, &lvl);
	log_init("action-handler", lvl);
	httpc_global_init();
	/* Termination signals are taken by the main thread only; every thread started later inherits the
	 * mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (ah_start(&app))
		goto out;
	int sig;
	sigwait(&sigs, &sig);
	LOG_INFO("stopping", "signal", sig == SIGTERM ? "TERM" : "INT");
	rc = 0;
out:
	ah_stop(&app);
	config_free(&ah_config_spec, &app.cfg);
	return rc;
}
