/* action.h -- the action model: what the classifier asked for, per-target results, write-back steps, and its
 * JSON form (the API answer and the journal snapshot are the same document). */
#ifndef AH_ACTION_H
#define AH_ACTION_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include "rfx.h"

typedef enum {
	ACTION_QUEUED = 0,
	ACTION_RUNNING,
	ACTION_SUCCEEDED,
	ACTION_FAILED,
	ACTION_TIMEOUT,
	ACTION_REFUSED,
	ACTION_DRY_RUN,
	ACTION_INTERRUPTED,
} action_state;
#define ACTION_STATE_COUNT 8

const char *action_state_name(action_state s);
bool action_state_parse(const char *s, action_state *out);
bool action_state_final(action_state s);

#define ACTION_NO_LIMIT (-1LL)

typedef struct action_limits {
	int64_t cooldown_ms; /* ACTION_NO_LIMIT when absent, likewise below */
	long long max_attempts;
	long long max_per_hour;
	long long max_targets;
} action_limits;

/* on_success / on_failure: what to write back to the source. */
typedef struct action_followup {
	bool set;
	char *note;
	char *team;
	bool close;
} action_followup;

/* Captured output of one stream: raw bytes up to the cap, made valid UTF-8 for JSON. */
typedef struct action_output {
	char *data; /* NULL when nothing was captured */
	bool truncated;
} action_output;

/* One target of an action. */
typedef struct action_run {
	char *target; /* as the classifier wrote it */
	char *key;    /* canonical host:port (target.h) */
	char *host;
	int port;
	action_state state;
	char *reason; /* a stable word when the run did not succeed (connect_timeout, verify_failed, ...) */
	char *error;  /* human detail */
	int exit_status;	/* -1: none */
	int verify_exit_status; /* -1: verify not run */
	action_output out, err, verify_out;
	int64_t started_ms, finished_ms; /* 0: not yet */
	double duration_ms;		 /* command + verify, on the target */
} action_run;

typedef enum { WB_PENDING = 0, WB_DONE, WB_FAILED } wb_state;

/* One write-back call (a sink and an operation, e.g. opsgenie/note). */
typedef struct action_wb {
	char *sink;
	char *op;
	wb_state state;
	int attempts;
	long status; /* last HTTP status, 0 when none */
	char *error;
	int64_t done_ms;
} action_wb;

typedef struct action {
	/* The request, immutable once accepted. */
	char *id, *event_id, *source, *source_id, *entity, *event_type, *title;
	char *rule, *rule_version, *type, *command, *verify, *user, *created_at;
	int64_t timeout_ms; /* 0 in a request that gave none: the handler's default applies */
	bool dry_run;
	action_limits limits;
	action_followup on_success, on_failure;
	action_run *runs;
	size_t nruns;
	/* The outcome. */
	action_state state;
	char *reason; /* refusals: paused, target_not_allowed, cooldown, ...; else the first failing run's */
	char *error;
	int64_t received_ms, started_ms, finished_ms;
	action_wb *wb;
	size_t nwb;
	/* Store links, not serialized. */
	struct action *older, *newer;
} action;

action *action_new(void);
void action_free(action *a);

/* The state that summarises the runs: succeeded when every run succeeded, else the first run's (in target
 * order) that did not; the action's reason and error follow that run. Only meaningful when every run is
 * final. */
void action_summarise(action *a);
bool action_runs_final(const action *a);
bool action_wb_pending(const action *a);

typedef enum {
	ACTION_VIEW_FULL,    /* everything: the API's GET one and the journal */
	ACTION_VIEW_SUMMARY, /* without captured output: lists */
} action_view;

cJSON *action_to_json(const action *a, action_view view);
/* Rebuilds an action from its full JSON (a journal snapshot). field/err say what was wrong. */
rfx_err action_from_json(const cJSON *j, action **out, char *err, size_t errlen);

/* Sets a string field, freeing the old value. */
void action_set_str(char **field, const char *value);
/* Stores captured bytes: made valid UTF-8 (invalid sequences become U+FFFD, NULs dropped). */
void action_output_set(action_output *o, const char *data, size_t len, bool truncated);

#endif
