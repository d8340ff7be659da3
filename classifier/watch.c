/* watch.c -- keeps the loaded rules in step with the rules directory: inotify for prompt reloads, a periodic
 * check for filesystems where inotify says nothing (network and overlay mounts, Docker volumes). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>
#include "app.h"
#include "audit.h"
#include "log.h"
#include "metrics.h"
#include "rulestore.h"

struct rules_watch {
	classifier_app *app;
	int ifd, wd;
	int stop_pipe[2];
	pthread_t thread;
};

static cJSON *report_json(const rulestore_report *rep, const char *trigger, double ms)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "trigger", trigger);
	cJSON_AddNumberToObject(j, "files", (double)rep->files);
	cJSON_AddNumberToObject(j, "files_loaded", (double)rep->files_loaded);
	cJSON_AddNumberToObject(j, "files_failed", (double)rep->files_failed);
	cJSON_AddNumberToObject(j, "files_removed", (double)rep->files_removed);
	cJSON_AddNumberToObject(j, "rules", (double)rep->rules);
	cJSON_AddNumberToObject(j, "errors", (double)rep->errors);
	cJSON_AddBoolToObject(j, "changed", rep->changed);
	cJSON_AddNumberToObject(j, "duration_ms", ms);
	return j;
}

/* Logs each current load error once per reload that changed something. */
static void log_errors(classifier_app *app)
{
	ruleset *rs = rulestore_acquire(app->rules);
	const rules_errors *errs = ruleset_errors(rs);
	for (size_t i = 0; errs && i < errs->n; i++) {
		char l[16], c[16];
		snprintf(l, sizeof(l), "%d", errs->v[i].line);
		snprintf(c, sizeof(c), "%d", errs->v[i].col);
		LOG_ERROR("rule file rejected", "file", errs->v[i].file, "line", l, "column", c, "error",
			  errs->v[i].message);
	}
	ruleset_release(rs);
}

cJSON *classifier_reload_rules(classifier_app *app, const char *trigger)
{
	rulestore_report rep = {0};
	double t0 = rfx_mono_sec();
	rfx_err rc = rulestore_reload(app->rules, &rep);
	double ms = (rfx_mono_sec() - t0) * 1000.0;
	bool start = !strcmp(trigger, "start");
	if (rc)
		LOG_ERROR("rules directory unreadable", "rules_dir", app->cfg.rules_dir, "error",
			  rfx_strerror(rc));
	if (rep.changed || start || !strcmp(trigger, "api")) {
		char rules[24], errors[24], loaded[24], dur[32];
		snprintf(rules, sizeof(rules), "%zu", rep.rules);
		snprintf(errors, sizeof(errors), "%zu", rep.errors);
		snprintf(loaded, sizeof(loaded), "%zu", rep.files_loaded);
		snprintf(dur, sizeof(dur), "%.2f", ms);
		LOG_INFO("rules reloaded", "trigger", trigger, "rules", rules, "errors", errors,
			 "files_changed", loaded, "duration_ms", dur);
		audit_emit("rules.reloaded", report_json(&rep, trigger, ms));
	}
	if (rep.changed || start || (rep.files_loaded && rep.files_failed))
		log_errors(app);
	metrics_set(metrics_gauge("reflex_rules_loaded", NULL, "Rules in the active rule set"),
		    (double)rep.rules);
	metrics_set(metrics_gauge("reflex_rules_errors", NULL, "Errors of rule files whose last load failed"),
		    (double)rep.errors);
	return report_json(&rep, trigger, ms);
}

static void *watch_main(void *arg)
{
	rules_watch *w = arg;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	int64_t next_check = rfx_mono_ms() + w->app->cfg.rules_check_interval_ms;
	for (;;) {
		struct pollfd pfd[2] = {{.fd = w->stop_pipe[0], .events = POLLIN},
					{.fd = w->ifd, .events = POLLIN}};
		int64_t wait = next_check - rfx_mono_ms();
		int n = poll(pfd, w->ifd >= 0 ? 2 : 1, wait < 0 ? 0 : (int)wait);
		if (n < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		const char *trigger = "periodic";
		if (n > 0 && pfd[1].revents) {
			while (read(w->ifd, buf, sizeof(buf)) > 0)
				;
			/* Editors write in several steps: let the burst settle before reading the files. */
			poll(pfd, 1, 100);
			while (read(w->ifd, buf, sizeof(buf)) > 0)
				;
			trigger = "inotify";
		} else if (rfx_mono_ms() < next_check) {
			continue;
		}
		cJSON_Delete(classifier_reload_rules(w->app, trigger));
		next_check = rfx_mono_ms() + w->app->cfg.rules_check_interval_ms;
	}
	return NULL;
}

rfx_err rules_watch_start(classifier_app *app, rules_watch **out)
{
	rules_watch *w = rfx_calloc(1, sizeof(*w));
	w->app = app;
	if (pipe2(w->stop_pipe, O_CLOEXEC)) {
		free(w);
		return RFX_ERR_IO;
	}
	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	w->wd = -1;
	if (w->ifd >= 0)
		w->wd = inotify_add_watch(w->ifd, app->cfg.rules_dir,
					  IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
					      IN_CREATE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF);
	if (w->wd < 0) {
		LOG_WARN("rules directory not watched by inotify, periodic check only", "rules_dir",
			 app->cfg.rules_dir, "error", strerror(errno));
		if (w->ifd >= 0)
			close(w->ifd);
		w->ifd = -1;
	}
	pthread_create(&w->thread, NULL, watch_main, w);
	*out = w;
	return RFX_OK;
}

void rules_watch_stop(rules_watch *w)
{
	if (!w)
		return;
	if (write(w->stop_pipe[1], "x", 1) < 0)
		LOG_WARN("cannot signal the rules watcher");
	pthread_join(w->thread, NULL);
	close(w->stop_pipe[0]);
	close(w->stop_pipe[1]);
	if (w->ifd >= 0)
		close(w->ifd);
	free(w);
}
