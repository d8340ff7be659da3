/* rules.c -- rule loader: YAML documents validated key by key against declarative tables into rule structs.
 */
#include "rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN 192

/* Where a file's documents start ("---" lines), to hash each document's own text into its version. */
typedef struct doc_marks {
	int *lines;   /* 1-based line of each marker */
	size_t *offs; /* byte offset of each marker line */
	size_t n;
} doc_marks;

typedef struct load_ctx {
	const char *file;
	const char *text;
	size_t len;
	rule_diag *d;
	size_t *lines; /* byte offset of each line, computed on the first error that needs it */
	size_t nlines;
} load_ctx;

typedef rfx_err (*key_fn)(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg);

typedef struct key_spec {
	const char *key;
	key_fn fn;
	int arg;
} key_spec;

static rfx_err __attribute__((format(printf, 4, 5)))
bad(load_ctx *lc, const yt_node *at, const char *path, const char *fmt, ...)
{
	char reason[320];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	match_diag(lc->d, at, path, "%s", reason);
	return RFX_ERR_INVAL;
}

/* ---- errors ---- */

void rules_errors_add(rules_errors *e, const char *file, int line, int col, const char *message)
{
	e->v = rfx_realloc(e->v, (e->n + 1) * sizeof(*e->v));
	e->v[e->n++] = (rules_error){
	    .file = rfx_strdup(file ? file : ""), .line = line, .col = col, .message = rfx_strdup(message)};
}

void rules_errors_add_diag(rules_errors *e, const char *file, const rule_diag *d)
{
	rules_errors_add(e, file, d->line, d->col, d->msg);
}

void rules_errors_append(rules_errors *dst, const rules_errors *src)
{
	for (size_t i = 0; i < src->n; i++)
		rules_errors_add(dst, src->v[i].file, src->v[i].line, src->v[i].col, src->v[i].message);
}

void rules_errors_clear(rules_errors *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->v[i].file);
		free(e->v[i].message);
	}
	RFX_FREE(e->v);
	e->n = 0;
}

void rules_error_format(const rules_error *e, char *out, size_t outlen)
{
	if (e->line > 0)
		snprintf(out, outlen, "%s:%d:%d: %s", e->file, e->line, e->col, e->message);
	else
		snprintf(out, outlen, "%s: %s", e->file, e->message);
}

/* ---- names ---- */

bool rules_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > RULES_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

const char *rules_action_type_name(rule_action_type t)
{
	return t == RULE_ACTION_SSH ? "ssh" : t == RULE_ACTION_HTTP ? "http" : "none";
}

const char *rules_mode_name(rule_mode m)
{
	return m == RULE_MODE_DRY_RUN ? "dry-run" : "enforce";
}

static const char *const mf_names[RULE_MF__COUNT] = {
    [RULE_MF_EVENT_TYPE] = "event_type", [RULE_MF_ENTITY] = "entity",	  [RULE_MF_SOURCE_ID] = "source_id",
    [RULE_MF_TITLE] = "title",		 [RULE_MF_SEVERITY] = "severity", [RULE_MF_SOURCE] = "source",
    [RULE_MF_STATE] = "state",
};

const char *rules_match_field_name(rule_match_field f)
{
	return f < RULE_MF__COUNT ? mf_names[f] : "?";
}

const char *rules_match_value(const event *e, rule_match_field f)
{
	switch (f) {
	case RULE_MF_EVENT_TYPE:
		return e->event_type;
	case RULE_MF_ENTITY:
		return e->entity;
	case RULE_MF_SOURCE_ID:
		return e->source_id;
	case RULE_MF_TITLE:
		return e->title;
	case RULE_MF_SEVERITY:
		return e->severity;
	case RULE_MF_SOURCE:
		return event_source_name(e->source);
	case RULE_MF_STATE:
		return event_state_name(e->state);
	default:
		return "";
	}
}

/* ---- positions inside scalars ---- */

static size_t line_offset(load_ctx *lc, int line)
{
	if (!lc->lines) {
		size_t cap = 64;
		lc->lines = rfx_malloc(cap * sizeof(*lc->lines));
		lc->lines[lc->nlines++] = 0;
		for (size_t off = 0; off < lc->len; off++) {
			if (lc->text[off] != '\n')
				continue;
			if (lc->nlines == cap) {
				cap *= 2;
				lc->lines = rfx_realloc(lc->lines, cap * sizeof(*lc->lines));
			}
			lc->lines[lc->nlines++] = off + 1;
		}
	}
	return line >= 1 && (size_t)line <= lc->nlines ? lc->lines[line - 1] : lc->len;
}

/* Points d at column col (1-based) of scalar v's value when v sits on one line of the file without escapes;
 * otherwise at v itself, naming the column inside the value. */
static rfx_err bad_in_scalar(load_ctx *lc, const yt_node *v, int col, const char *path, const char *reason)
{
	size_t off = line_offset(lc, v->line) + (size_t)(v->col - 1);
	size_t n = strlen(v->scalar);
	int q = off < lc->len && (lc->text[off] == '"' || lc->text[off] == '\'') ? 1 : 0;
	bool exact = !strchr(v->scalar, '\n') && off + (size_t)q + n <= lc->len &&
		     memcmp(lc->text + off + q, v->scalar, n) == 0;
	if (!exact)
		return bad(lc, v, path, "%s (at column %d of the value)", reason, col);
	bad(lc, v, path, "%s", reason);
	lc->d->col = v->col + q + col - 1;
	return RFX_ERR_INVAL;
}

/* ---- scalar helpers ---- */

static rfx_err need_string(load_ctx *lc, const yt_node *v, const char *path, size_t max, char **out)
{
	if (v->kind != YT_SCALAR)
		return bad(lc, v, path, "expected a string, got a %s", yt_kind_name(v->kind));
	if (v->null)
		return bad(lc, v, path, "expected a string, got an empty value");
	if (strlen(v->scalar) > max)
		return bad(lc, v, path, "longer than %zu bytes", max);
	free(*out);
	*out = rfx_strdup(v->scalar);
	return RFX_OK;
}

static rfx_err need_bool(load_ctx *lc, const yt_node *v, const char *path, bool *out)
{
	if (!yt_as_bool(v, out))
		return bad(lc, v, path, "expected true or false");
	return RFX_OK;
}

static rfx_err need_int(load_ctx *lc, const yt_node *v, const char *path, long long lo, long long hi,
			int *out)
{
	long long x;
	if (!yt_as_int(v, &x))
		return bad(lc, v, path, "expected an integer");
	if (x < lo || x > hi)
		return bad(lc, v, path, "must be between %lld and %lld", lo, hi);
	*out = (int)x;
	return RFX_OK;
}

static rfx_err need_duration(load_ctx *lc, const yt_node *v, const char *path, int64_t lo, int64_t hi,
			     int64_t *out)
{
	int64_t ms;
	if (v->kind != YT_SCALAR || v->null || rfx_parse_duration(v->scalar, &ms))
		return bad(lc, v, path, "expected a duration like 30s, 10m, 2h or a number of seconds");
	if (ms < lo || ms > hi)
		return bad(lc, v, path, "must be between %llds and %llds", (long long)(lo / 1000),
			   (long long)(hi / 1000));
	*out = ms;
	return RFX_OK;
}

static rfx_err need_template(load_ctx *lc, const yt_node *v, const char *path, template **out)
{
	char err[300];
	int col;
	char *s = NULL;
	rfx_err rc = need_string(lc, v, path, TEMPLATE_MAX_LEN, &s);
	if (rc)
		return rc;
	if (!*s)
		rc = bad(lc, v, path, "must not be empty");
	else if (template_compile(s, out, &col, err, sizeof(err)))
		rc = bad_in_scalar(lc, v, col, path, err);
	free(s);
	return rc;
}

/* ---- sections ---- */

static void join_path(char *out, const char *path, const char *key)
{
	snprintf(out, PATH_MAX_LEN, "%s%s%.100s", path, *path ? "." : "", key);
}

static void known_keys(const key_spec *specs, size_t n, char *out, size_t outlen)
{
	size_t at = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && at < outlen; i++) {
		int w = snprintf(out + at, outlen - at, "%s%s", i ? ", " : "", specs[i].key);
		at += w > 0 ? (size_t)w : 0;
	}
}

static rfx_err parse_section(load_ctx *lc, const yt_node *map, const char *path, const key_spec *specs,
			     size_t n, void *obj)
{
	if (map->kind != YT_MAP)
		return bad(lc, map, path, "expected a mapping, got a %s",
			   map->null ? "null" : yt_kind_name(map->kind));
	for (size_t i = 0; i < map->n; i++) {
		const char *key = map->pairs[i].key->scalar;
		char sub[PATH_MAX_LEN], keys[300];
		join_path(sub, path, key);
		const key_spec *spec = NULL;
		for (size_t j = 0; j < n && !spec; j++)
			if (strcmp(specs[j].key, key) == 0)
				spec = &specs[j];
		if (!spec) {
			known_keys(specs, n, keys, sizeof(keys));
			return bad(lc, map->pairs[i].key, sub, "unknown key (expected one of: %s)", keys);
		}
		rfx_err rc = spec->fn(lc, obj, map->pairs[i].value, sub, spec->arg);
		if (rc)
			return rc;
	}
	return RFX_OK;
}

/* ---- match ---- */

static rfx_err check_exact_values(load_ctx *lc, const yt_node *v, const char *path, rule_match_field f,
				  const matcher *m)
{
	const char *const *vals;
	size_t n;
	if ((f != RULE_MF_SOURCE && f != RULE_MF_STATE) || !matcher_exact_values(m, &vals, &n))
		return RFX_OK;
	for (size_t i = 0; i < n; i++) {
		event_source src;
		if (f == RULE_MF_SOURCE && !event_source_parse(vals[i], &src))
			return bad(lc, v, path,
				   "unknown source \"%.60s\" (expected dynatrace, opsgenie, alertmanager, "
				   "icinga, nagios "
				   "or generic)",
				   vals[i]);
		if (f == RULE_MF_STATE && strcmp(vals[i], "open") != 0 && strcmp(vals[i], "resolved") != 0)
			return bad(lc, v, path, "unknown state \"%.60s\" (expected open or resolved)",
				   vals[i]);
	}
	return RFX_OK;
}

static rfx_err k_match_field(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	rule_match *m = obj;
	matcher *mt;
	rfx_err rc = matcher_parse(v, path, &mt, lc->d);
	if (rc)
		return rc;
	rc = check_exact_values(lc, v, path, (rule_match_field)arg, mt);
	if (rc) {
		matcher_free(mt);
		return rc;
	}
	matcher_free(m->fields[arg]);
	m->fields[arg] = mt;
	return RFX_OK;
}

static rfx_err k_match_tags(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	rule_match *m = obj;
	if (v->kind != YT_MAP)
		return bad(lc, v, path, "expected a mapping of tag name to matcher");
	m->tags = rfx_calloc(v->n ? v->n : 1, sizeof(*m->tags));
	for (size_t i = 0; i < v->n; i++) {
		char sub[PATH_MAX_LEN];
		const char *key = v->pairs[i].key->scalar;
		join_path(sub, path, key);
		if (!*key || strlen(key) > MATCH_FIELD_NAME_MAX)
			return bad(lc, v->pairs[i].key, sub, "tag names are 1 to %d bytes",
				   MATCH_FIELD_NAME_MAX);
		rfx_err rc = matcher_parse(v->pairs[i].value, sub, &m->tags[m->ntags].m, lc->d);
		if (rc)
			return rc;
		m->tags[m->ntags++].key = rfx_strdup(key);
	}
	return RFX_OK;
}

/* match.topology keys the topology store answers (classifier/topology.h topology_match), with the shape of
 * their values. A key it does not know would silently never match, so it is a load error here. */
typedef enum { TOPO_PORT, TOPO_BOOL, TOPO_NAME } topo_value_kind;

static const struct {
	const char *key;
	topo_value_kind kind;
} topo_keys[] = {
    {"listens", TOPO_PORT}, {"has_dependents", TOPO_BOOL}, {"known", TOPO_BOOL},
    {"process", TOPO_NAME}, {"node", TOPO_NAME},
};

static int topo_key(const char *key)
{
	for (size_t i = 0; i < RFX_ARRAY_LEN(topo_keys); i++)
		if (strcmp(topo_keys[i].key, key) == 0)
			return (int)i;
	return -1;
}

static rfx_err topo_value_check(load_ctx *lc, const yt_node *v, const char *path, topo_value_kind kind)
{
	long long port;
	bool b;
	if (kind == TOPO_PORT && (!yt_as_int(v, &port) || port < 1 || port > 65535))
		return bad(lc, v, path, "expected a port number (1 to 65535)");
	if (kind == TOPO_BOOL && !yt_as_bool(v, &b))
		return bad(lc, v, path, "expected true or false");
	return RFX_OK;
}

static rfx_err topo_values(load_ctx *lc, const yt_node *v, const char *path, int key, rule_topo_match *t)
{
	size_t n = v->kind == YT_SEQ ? v->n : 1;
	if (v->kind == YT_MAP || n == 0 || n > MATCH_MAX_ITEMS)
		return bad(lc, v, path, "expected a value or a list of 1 to %d values", MATCH_MAX_ITEMS);
	t->values = rfx_calloc(n, sizeof(*t->values));
	for (size_t i = 0; i < n; i++) {
		const yt_node *item = v->kind == YT_SEQ ? v->items[i] : v;
		rfx_err rc = need_string(lc, item, path, 1024, &t->values[t->nvalues]);
		if (rc)
			return rc;
		t->nvalues++;
		rc = topo_value_check(lc, item, path, topo_keys[key].kind);
		if (rc)
			return rc;
	}
	return RFX_OK;
}

static rfx_err k_match_topology(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	rule_match *m = obj;
	if (v->kind != YT_MAP || v->n == 0)
		return bad(lc, v, path, "expected a mapping like {listens: 80}");
	m->topology = rfx_calloc(v->n, sizeof(*m->topology));
	for (size_t i = 0; i < v->n; i++) {
		char sub[PATH_MAX_LEN];
		const char *key = v->pairs[i].key->scalar;
		join_path(sub, path, key);
		int k = topo_key(key);
		if (k < 0)
			return bad(
			    lc, v->pairs[i].key, sub,
			    "unknown topology key (expected one of: listens, has_dependents, known, process, "
			    "node)");
		rule_topo_match *t = &m->topology[m->ntopology++];
		t->key = rfx_strdup(key);
		rfx_err rc = topo_values(lc, v->pairs[i].value, sub, k, t);
		if (rc)
			return rc;
	}
	return RFX_OK;
}

static const key_spec match_keys[] = {
    {"source", k_match_field, RULE_MF_SOURCE},
    {"state", k_match_field, RULE_MF_STATE},
    {"event_type", k_match_field, RULE_MF_EVENT_TYPE},
    {"entity", k_match_field, RULE_MF_ENTITY},
    {"severity", k_match_field, RULE_MF_SEVERITY},
    {"title", k_match_field, RULE_MF_TITLE},
    {"source_id", k_match_field, RULE_MF_SOURCE_ID},
    {"tags", k_match_tags, 0},
    {"topology", k_match_topology, 0},
};

/* ---- action ---- */

#define T_SSH  (1 << RULE_ACTION_SSH)
#define T_HTTP (1 << RULE_ACTION_HTTP)
#define T_NONE (1 << RULE_ACTION_NONE)
#define T_ALL  (T_SSH | T_HTTP | T_NONE)

static rfx_err k_outcome_note(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	rule_outcome *o = obj;
	template_free(o->note);
	o->note = NULL;
	return need_template(lc, v, path, &o->note);
}

static rfx_err k_outcome_close(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	return need_bool(lc, v, path, &((rule_outcome *)obj)->close);
}

static rfx_err k_outcome_team(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	return need_string(lc, v, path, 128, &((rule_outcome *)obj)->team);
}

static const key_spec outcome_keys[] = {
    {"note", k_outcome_note, 0},
    {"close", k_outcome_close, 0},
    {"team", k_outcome_team, 0},
};

static rfx_err k_type(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	return RFX_OK; /* read before the section, see parse_action */
}

static rfx_err check_target_src(load_ctx *lc, const yt_node *v, const char *path, const template *t)
{
	char err[200];
	if (template_nfields(t) == 0 && !template_valid_target(template_source(t), err, sizeof(err)))
		return bad(lc, v, path, "%s", err);
	return RFX_OK;
}

static rfx_err k_targets(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	rule_action *a = obj;
	size_t n = v->kind == YT_SEQ ? v->n : 1;
	if (v->kind == YT_MAP || n == 0 || n > RULES_MAX_TARGETS)
		return bad(lc, v, path, "expected a list of 1 to %d target templates", RULES_MAX_TARGETS);
	a->targets = rfx_calloc(n, sizeof(*a->targets));
	for (size_t i = 0; i < n; i++) {
		char sub[PATH_MAX_LEN];
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		const yt_node *item = v->kind == YT_SEQ ? v->items[i] : v;
		rfx_err rc = need_template(lc, item, sub, &a->targets[a->ntargets]);
		if (rc)
			return rc;
		a->ntargets++;
		rc = check_target_src(lc, item, sub, a->targets[a->ntargets - 1]);
		if (rc)
			return rc;
	}
	return RFX_OK;
}

static rfx_err k_command(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	return need_template(lc, v, path, &((rule_action *)obj)->command);
}

static rfx_err k_verify(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	return need_template(lc, v, path, &((rule_action *)obj)->verify);
}

static bool user_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 32 || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

static rfx_err k_user(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	rule_action *a = obj;
	rfx_err rc = need_string(lc, v, path, 64, &a->user);
	if (!rc && !user_ok(a->user))
		rc = bad(lc, v, path,
			 "not a valid user name (letters, digits, . _ -, at most 32, not starting with -)");
	return rc;
}

static rfx_err k_timeout(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	return need_duration(lc, v, path, 1000, 6 * 3600 * 1000LL, &((rule_action *)obj)->timeout_ms);
}

static rfx_err k_mode(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	rule_action *a = obj;
	if (v->kind == YT_SCALAR && strcmp(v->scalar, "enforce") == 0)
		a->mode = RULE_MODE_ENFORCE;
	else if (v->kind == YT_SCALAR && strcmp(v->scalar, "dry-run") == 0)
		a->mode = RULE_MODE_DRY_RUN;
	else
		return bad(lc, v, path, "expected enforce or dry-run");
	return RFX_OK;
}

static rfx_err k_on_success(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	rule_action *a = obj;
	return parse_section(lc, v, path, outcome_keys, RFX_ARRAY_LEN(outcome_keys), &a->on_success);
}

static rfx_err k_on_failure(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	rule_action *a = obj;
	return parse_section(lc, v, path, outcome_keys, RFX_ARRAY_LEN(outcome_keys), &a->on_failure);
}

static rfx_err k_url(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	rule_action *a = obj;
	rfx_err rc = need_template(lc, v, path, &a->url);
	if (rc)
		return rc;
	const char *s = template_source(a->url);
	if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
		return bad(lc, v, path, "must start with http:// or https://");
	return RFX_OK;
}

static rfx_err k_method(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
	rule_action *a = obj;
	for (size_t i = 0; v->kind == YT_SCALAR && i < RFX_ARRAY_LEN(methods); i++) {
		if (strcmp(v->scalar, methods[i]) == 0) {
			free(a->method);
			a->method = rfx_strdup(methods[i]);
			return RFX_OK;
		}
	}
	return bad(lc, v, path, "expected GET, POST, PUT, PATCH or DELETE");
}

static rfx_err k_body(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	return need_template(lc, v, path, &((rule_action *)obj)->body);
}

/* arg: the action types a key belongs to. */
static const key_spec action_keys[] = {
    {"type", k_type, T_ALL},
    {"targets", k_targets, T_SSH},
    {"command", k_command, T_SSH},
    {"verify", k_verify, T_SSH},
    {"user", k_user, T_SSH},
    {"timeout", k_timeout, T_SSH | T_HTTP},
    {"mode", k_mode, T_ALL},
    {"on_success", k_on_success, T_ALL},
    {"on_failure", k_on_failure, T_ALL},
    {"url", k_url, T_HTTP},
    {"method", k_method, T_HTTP},
    {"body", k_body, T_HTTP},
};

static rfx_err action_type(load_ctx *lc, const yt_node *map, const char *path, rule_action_type *t)
{
	char sub[PATH_MAX_LEN];
	join_path(sub, path, "type");
	const yt_node *v = yt_map_get(map, "type");
	if (!v)
		return bad(lc, map, sub, "required (ssh, http or none)");
	if (v->kind == YT_SCALAR && strcmp(v->scalar, "ssh") == 0)
		*t = RULE_ACTION_SSH;
	else if (v->kind == YT_SCALAR && strcmp(v->scalar, "http") == 0)
		*t = RULE_ACTION_HTTP;
	else if (v->kind == YT_SCALAR && strcmp(v->scalar, "none") == 0)
		*t = RULE_ACTION_NONE;
	else
		return bad(lc, v, sub, "expected ssh, http or none");
	return RFX_OK;
}

/* A key that exists but does not belong to this action type is an error, not silently ignored. */
static rfx_err check_action_keys(load_ctx *lc, const yt_node *map, const char *path, rule_action_type t)
{
	for (size_t i = 0; i < map->n; i++) {
		const char *key = map->pairs[i].key->scalar;
		for (size_t j = 0; j < RFX_ARRAY_LEN(action_keys); j++) {
			if (strcmp(action_keys[j].key, key) != 0 || (action_keys[j].arg & (1 << t)))
				continue;
			char sub[PATH_MAX_LEN];
			join_path(sub, path, key);
			return bad(lc, map->pairs[i].key, sub, "not allowed for an action of type %s",
				   rules_action_type_name(t));
		}
	}
	return RFX_OK;
}

static rfx_err action_defaults(load_ctx *lc, const yt_node *map, const char *path, rule_action *a)
{
	char sub[PATH_MAX_LEN];
	int col;
	if (a->type == RULE_ACTION_SSH && !a->command) {
		join_path(sub, path, "command");
		return bad(lc, map, sub, "required for an action of type ssh");
	}
	if (a->type == RULE_ACTION_HTTP && !a->url) {
		join_path(sub, path, "url");
		return bad(lc, map, sub, "required for an action of type http");
	}
	if (a->type == RULE_ACTION_SSH && a->ntargets == 0) {
		a->targets = rfx_calloc(1, sizeof(*a->targets));
		if (template_compile("{{entity}}", &a->targets[0], &col, sub, sizeof(sub)))
			abort(); /* a constant that always compiles */
		a->ntargets = 1;
	}
	if (a->type == RULE_ACTION_HTTP && !a->method)
		a->method = rfx_strdup("POST");
	return RFX_OK;
}

static rfx_err parse_action(load_ctx *lc, rule *r, const yt_node *v, const char *path)
{
	if (v->kind != YT_MAP)
		return bad(lc, v, path, "expected a mapping, got a %s",
			   v->null ? "null" : yt_kind_name(v->kind));
	rfx_err rc = action_type(lc, v, path, &r->action.type);
	if (!rc)
		rc = check_action_keys(lc, v, path, r->action.type);
	if (!rc)
		rc = parse_section(lc, v, path, action_keys, RFX_ARRAY_LEN(action_keys), &r->action);
	if (!rc)
		rc = action_defaults(lc, v, path, &r->action);
	return rc;
}

/* ---- limits ---- */

static rfx_err k_cooldown(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	return need_duration(lc, v, path, 0, 7 * 86400 * 1000LL, &((rule_limits *)obj)->cooldown_ms);
}

static rfx_err k_limit_int(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	rule_limits *l = obj;
	int *dst = arg == 0 ? &l->max_attempts : arg == 1 ? &l->max_per_hour : &l->max_targets;
	long long hi = arg == 0 ? 1000 : arg == 1 ? 100000 : 1000;
	return need_int(lc, v, path, 1, hi, dst);
}

static const key_spec limits_keys[] = {
    {"cooldown", k_cooldown, 0},
    {"max_attempts", k_limit_int, 0},
    {"max_per_hour", k_limit_int, 1},
    {"max_targets", k_limit_int, 2},
};

/* ---- top level ---- */

static rfx_err k_name(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	rule *r = obj;
	rfx_err rc = need_string(lc, v, path, 1024, &r->name);
	if (rc)
		return rc;
	if (!rules_name_valid(r->name))
		return bad(lc, v, path, "invalid rule name \"%.60s\" (1 to %d of A-Z a-z 0-9 . _ -)", r->name,
			   RULES_NAME_MAX);
	r->name_line = v->line;
	r->name_col = v->col;
	return RFX_OK;
}

static rfx_err k_description(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	return need_string(lc, v, path, 4096, &((rule *)obj)->description);
}

static rfx_err k_enabled(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	return need_bool(lc, v, path, arg ? &((rule *)obj)->final : &((rule *)obj)->enabled);
}

static rfx_err k_priority(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	return need_int(lc, v, path, -RULES_PRIORITY_LIMIT, RULES_PRIORITY_LIMIT, &((rule *)obj)->priority);
}

static rfx_err k_match(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	if (v->kind == YT_SCALAR && v->null)
		return RFX_OK; /* `match:` with every key commented out: no constraint */
	return parse_section(lc, v, path, match_keys, RFX_ARRAY_LEN(match_keys), &((rule *)obj)->match);
}

static rfx_err k_when(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	rule *r = obj;
	char *src = NULL, err[300];
	int col;
	rfx_err rc = need_string(lc, v, path, EXPR_MAX_LEN, &src);
	if (!rc && expr_compile(src, &r->when, &col, err, sizeof(err)))
		rc = bad_in_scalar(lc, v, col, path, err);
	free(src);
	return rc;
}

static rfx_err k_action(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	return parse_action(lc, obj, v, path);
}

static rfx_err k_limits(load_ctx *lc, void *obj, const yt_node *v, const char *path, int arg)
{
	return parse_section(lc, v, path, limits_keys, RFX_ARRAY_LEN(limits_keys), &((rule *)obj)->limits);
}

static const key_spec rule_keys[] = {
    {"name", k_name, 0},	 {"description", k_description, 0}, {"enabled", k_enabled, 0},
    {"priority", k_priority, 0}, {"final", k_enabled, 1},	    {"match", k_match, 0},
    {"when", k_when, 0},	 {"action", k_action, 0},	    {"limits", k_limits, 0},
};

static rule *rule_new(void)
{
	rule *r = rfx_calloc(1, sizeof(*r));
	r->enabled = true;
	r->action.timeout_ms = RULES_DEFAULT_TIMEOUT_MS;
	r->limits = (rule_limits){.cooldown_ms = RULES_DEFAULT_COOLDOWN_MS,
				  .max_attempts = RULES_DEFAULT_MAX_ATTEMPTS,
				  .max_per_hour = RULES_DEFAULT_MAX_PER_HOUR,
				  .max_targets = RULES_DEFAULT_MAX_TARGETS};
	atomic_init(&r->refs, 1);
	return r;
}

static void outcome_clear(rule_outcome *o)
{
	template_free(o->note);
	free(o->team);
}

static void rule_free(rule *r)
{
	for (size_t i = 0; i < RULE_MF__COUNT; i++)
		matcher_free(r->match.fields[i]);
	for (size_t i = 0; i < r->match.ntags; i++) {
		free(r->match.tags[i].key);
		matcher_free(r->match.tags[i].m);
	}
	free(r->match.tags);
	for (size_t i = 0; i < r->match.ntopology; i++) {
		free(r->match.topology[i].key);
		for (size_t j = 0; j < r->match.topology[i].nvalues; j++)
			free(r->match.topology[i].values[j]);
		free(r->match.topology[i].values);
	}
	free(r->match.topology);
	expr_free(r->when);
	for (size_t i = 0; i < r->action.ntargets; i++)
		template_free(r->action.targets[i]);
	free(r->action.targets);
	template_free(r->action.command);
	template_free(r->action.verify);
	free(r->action.user);
	outcome_clear(&r->action.on_success);
	outcome_clear(&r->action.on_failure);
	template_free(r->action.url);
	free(r->action.method);
	template_free(r->action.body);
	free(r->name);
	free(r->description);
	free(r->file);
	free(r);
}

rule *rule_ref(rule *r)
{
	atomic_fetch_add(&r->refs, 1);
	return r;
}

void rule_unref(rule *r)
{
	if (r && atomic_fetch_sub(&r->refs, 1) == 1)
		rule_free(r);
}

void rules_release_all(rule **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		rule_unref(v[i]);
	free(v);
}

static rfx_err parse_rule(load_ctx *lc, const yt_node *doc, rule **out)
{
	rule *r = rule_new();
	rfx_err rc;
	if (doc->kind != YT_MAP) {
		rc = bad(lc, doc, "", "expected a mapping (one rule per document), got a %s",
			 yt_kind_name(doc->kind));
		goto out;
	}
	rc = parse_section(lc, doc, "", rule_keys, RFX_ARRAY_LEN(rule_keys), r);
	if (!rc && !r->name)
		rc = bad(lc, doc, "name", "required");
	if (rc)
		goto out;
	if (!r->match.fields[RULE_MF_STATE])
		r->match.fields[RULE_MF_STATE] = matcher_exact("open");
	if (!r->description)
		r->description = rfx_strdup("");
	r->file = rfx_strdup(lc->file);
	r->line = doc->line;
	*out = r;
	r = NULL;
out:
	if (r)
		rule_free(r);
	return rc;
}

/* ---- versions ---- */

static bool is_marker(const char *s, size_t left)
{
	return left >= 3 && memcmp(s, "---", 3) == 0 &&
	       (left == 3 || s[3] == ' ' || s[3] == '\t' || s[3] == '\n' || s[3] == '\r');
}

static void marks_scan(const char *text, size_t len, doc_marks *m)
{
	size_t cap = 0;
	int line = 1;
	for (size_t off = 0; off < len;) {
		if (is_marker(text + off, len - off)) {
			if (m->n == cap) {
				cap = cap ? cap * 2 : 8;
				m->lines = rfx_realloc(m->lines, cap * sizeof(*m->lines));
				m->offs = rfx_realloc(m->offs, cap * sizeof(*m->offs));
			}
			m->lines[m->n] = line;
			m->offs[m->n++] = off;
		}
		const char *nl = memchr(text + off, '\n', len - off);
		off = nl ? (size_t)(nl - text) + 1 : len;
		line++;
	}
}

/* Hash of the text from the last marker at or before line to the next marker (trailing blanks ignored). */
static void doc_version(const char *text, size_t len, const doc_marks *m, int line,
			char out[RULES_VERSION_LEN + 1])
{
	size_t lo = 0, hi = m->n; /* first marker with lines > line */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (m->lines[mid] <= line)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t start = lo ? m->offs[lo - 1] : 0, end = lo < m->n ? m->offs[lo] : len;
	while (end > start && (text[end - 1] == '\n' || text[end - 1] == '\r' || text[end - 1] == ' ' ||
			       text[end - 1] == '\t'))
		end--;
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = start; i < end; i++)
		h = (h ^ (unsigned char)text[i]) * 1099511628211ULL;
	snprintf(out, RULES_VERSION_LEN + 1, "%012llx", (unsigned long long)(h & 0xffffffffffffULL));
}

/* ---- files ---- */

static const rule *find_name(rule **v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i]->name, name) == 0)
			return v[i];
	return NULL;
}

static rfx_err parse_docs(load_ctx *lc, yt_node **docs, size_t ndocs, rule **v, size_t *n, rules_errors *errs)
{
	rfx_err rc = RFX_OK;
	doc_marks marks = {0};
	marks_scan(lc->text, lc->len, &marks);
	for (size_t i = 0; i < ndocs; i++) {
		rule *r = NULL;
		if (parse_rule(lc, docs[i], &r)) {
			rules_errors_add_diag(errs, lc->file, lc->d);
			rc = RFX_ERR_INVAL;
			continue;
		}
		const rule *dup = find_name(v, *n, r->name);
		if (dup) {
			char msg[400];
			snprintf(msg, sizeof(msg),
				 "name: duplicate rule name \"%s\" (already defined at %s:%d)", r->name,
				 dup->file, dup->name_line);
			rules_errors_add(errs, lc->file, r->name_line, r->name_col, msg);
			rule_unref(r);
			rc = RFX_ERR_INVAL;
			continue;
		}
		doc_version(lc->text, lc->len, &marks, r->line, r->version);
		v[(*n)++] = r;
	}
	free(marks.lines);
	free(marks.offs);
	return rc;
}

rfx_err rules_parse(const char *file, const char *text, size_t len, rule ***out, size_t *n,
		    rules_errors *errs)
{
	rule_diag d = {0};
	load_ctx lc = {.file = file, .text = text, .len = len, .d = &d};
	yt_node **docs = NULL;
	size_t ndocs = 0;
	yt_error ye;
	rule **v = NULL;
	*out = NULL;
	*n = 0;
	rfx_err rc = yt_parse(text, len, &docs, &ndocs, &ye);
	if (rc) {
		rules_errors_add(errs, file, ye.line, ye.col, ye.reason);
		return RFX_ERR_PARSE;
	}
	if (ndocs > RULES_MAX_DOCS) {
		char msg[100];
		snprintf(msg, sizeof(msg), "more than %d rules in one file", RULES_MAX_DOCS);
		rules_errors_add(errs, file, docs[RULES_MAX_DOCS]->line, docs[RULES_MAX_DOCS]->col, msg);
		rc = RFX_ERR_LIMIT;
		goto out;
	}
	v = rfx_calloc(ndocs ? ndocs : 1, sizeof(*v));
	rc = parse_docs(&lc, docs, ndocs, v, n, errs);
	if (rc)
		goto out;
	*out = v;
	v = NULL;
out:
	if (v) {
		rules_release_all(v, *n);
		*n = 0;
	}
	free(lc.lines);
	yt_free_docs(docs, ndocs);
	return rc;
}

rfx_err rules_load_file(const char *path, rule ***out, size_t *n, rules_errors *errs)
{
	char *text = NULL;
	size_t len = 0;
	*out = NULL;
	*n = 0;
	rfx_err rc = rfx_read_file(path, RULES_MAX_FILE, &text, &len);
	if (rc) {
		char msg[200];
		if (rc == RFX_ERR_LIMIT)
			snprintf(msg, sizeof(msg), "file larger than %u bytes", RULES_MAX_FILE);
		else
			snprintf(msg, sizeof(msg), "cannot read the file (%s)", rfx_strerror(rc));
		rules_errors_add(errs, path, 0, 0, msg);
		return rc;
	}
	rc = rules_parse(path, text, len, out, n, errs);
	free(text);
	return rc;
}

/* ---- evaluation ---- */

static bool topo_holds(const rule_topo_match *t, const eval_ctx *c)
{
	for (size_t i = 0; i < t->nvalues; i++)
		if (c->topo_match(c->topo_ud, c->ev, t->key, t->values[i]))
			return true;
	return false;
}

bool rule_matches(const rule *r, const eval_ctx *c)
{
	const rule_match *m = &r->match;
	for (int f = 0; f < RULE_MF__COUNT; f++)
		if (m->fields[f] &&
		    !matcher_test(m->fields[f], rules_match_value(c->ev, (rule_match_field)f)))
			return false;
	for (size_t i = 0; i < m->ntags; i++) {
		const char *v = event_tag_get(c->ev, m->tags[i].key);
		if (!v || !matcher_test(m->tags[i].m, v))
			return false;
	}
	if (m->ntopology && !c->topo_match)
		return false;
	for (size_t i = 0; i < m->ntopology; i++)
		if (!topo_holds(&m->topology[i], c))
			return false;
	return !r->when || expr_eval(r->when, c);
}

/* ---- rendering ---- */

void rule_rendered_clear(rule_rendered *rr)
{
	for (size_t i = 0; i < rr->ntargets; i++)
		free(rr->targets[i]);
	free(rr->targets);
	free(rr->command);
	free(rr->verify);
	free(rr->url);
	free(rr->body);
	free(rr->success_note);
	free(rr->failure_note);
	memset(rr, 0, sizeof(*rr));
}

static rfx_err prefixed(rfx_err rc, const char *what, char *err, size_t errlen)
{
	char tmp[300];
	if (rc && errlen) {
		snprintf(tmp, sizeof(tmp), "%s", err);
		snprintf(err, errlen, "%s: %s", what, tmp);
	}
	return rc;
}

static rfx_err render_targets(const rule *r, const eval_ctx *c, rule_rendered *rr, char *err, size_t errlen)
{
	const rule_action *a = &r->action;
	rr->targets = rfx_calloc(a->ntargets, sizeof(*rr->targets));
	for (size_t i = 0; i < a->ntargets; i++) {
		char *t, what[48];
		rfx_err rc = template_render_target(a->targets[i], c, &t, err, errlen);
		if (rc) {
			snprintf(what, sizeof(what), "action.targets[%zu]", i);
			return prefixed(rc, what, err, errlen);
		}
		bool dup = false;
		for (size_t j = 0; j < rr->ntargets && !dup; j++)
			dup = strcmp(rr->targets[j], t) == 0;
		if (dup) {
			free(t);
			continue;
		}
		rr->targets[rr->ntargets++] = t;
	}
	if (rr->ntargets > (size_t)r->limits.max_targets) {
		snprintf(err, errlen, "action.targets: %zu targets, more than limits.max_targets (%d)",
			 rr->ntargets, r->limits.max_targets);
		return RFX_ERR_LIMIT;
	}
	return RFX_OK;
}

static rfx_err render_opt(const template *t, const eval_ctx *c, bool quote, char **out, const char *what,
			  char *err, size_t errlen)
{
	if (!t)
		return RFX_OK;
	return prefixed(template_render(t, c, quote, out, err, errlen), what, err, errlen);
}

rfx_err rule_render(const rule *r, const eval_ctx *c, rule_rendered *out, char *err, size_t errlen)
{
	const rule_action *a = &r->action;
	rfx_err rc = RFX_OK;
	memset(out, 0, sizeof(*out));
	if (a->type == RULE_ACTION_SSH)
		rc = render_targets(r, c, out, err, errlen);
	if (!rc)
		rc = render_opt(a->command, c, true, &out->command, "action.command", err, errlen);
	if (!rc)
		rc = render_opt(a->verify, c, true, &out->verify, "action.verify", err, errlen);
	if (!rc)
		rc = render_opt(a->url, c, false, &out->url, "action.url", err, errlen);
	if (!rc)
		rc = render_opt(a->body, c, false, &out->body, "action.body", err, errlen);
	if (!rc)
		rc = render_opt(a->on_success.note, c, false, &out->success_note, "action.on_success.note",
				err, errlen);
	if (!rc)
		rc = render_opt(a->on_failure.note, c, false, &out->failure_note, "action.on_failure.note",
				err, errlen);
	if (rc)
		rule_rendered_clear(out);
	return rc;
}

/* ---- JSON ---- */

static void add_str(cJSON *o, const char *key, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, key, v);
}

static cJSON *outcome_json(const rule_outcome *o, const char *note)
{
	cJSON *j = cJSON_CreateObject();
	add_str(j, "note", note);
	cJSON_AddBoolToObject(j, "close", o->close);
	add_str(j, "team", o->team);
	return j;
}

static cJSON *limits_json(const rule_limits *l)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "cooldown", (double)l->cooldown_ms / 1000.0);
	cJSON_AddNumberToObject(j, "max_attempts", l->max_attempts);
	cJSON_AddNumberToObject(j, "max_per_hour", l->max_per_hour);
	cJSON_AddNumberToObject(j, "max_targets", l->max_targets);
	return j;
}

cJSON *rule_action_json(const rule *r, const rule_rendered *rr)
{
	const rule_action *a = &r->action;
	cJSON *j = cJSON_CreateObject();
	add_str(j, "rule", r->name);
	add_str(j, "rule_version", r->version);
	add_str(j, "type", rules_action_type_name(a->type));
	cJSON *targets = cJSON_AddArrayToObject(j, "targets");
	for (size_t i = 0; i < rr->ntargets; i++)
		cJSON_AddItemToArray(targets, cJSON_CreateString(rr->targets[i]));
	add_str(j, "command", rr->command);
	add_str(j, "verify", rr->verify);
	add_str(j, "user", a->user);
	cJSON_AddNumberToObject(j, "timeout", (double)a->timeout_ms / 1000.0);
	add_str(j, "mode", rules_mode_name(a->mode));
	cJSON_AddItemToObject(j, "limits", limits_json(&r->limits));
	cJSON_AddItemToObject(j, "on_success", outcome_json(&a->on_success, rr->success_note));
	cJSON_AddItemToObject(j, "on_failure", outcome_json(&a->on_failure, rr->failure_note));
	add_str(j, "url", rr->url);
	add_str(j, "method", a->method);
	add_str(j, "body", rr->body);
	return j;
}

static cJSON *match_json(const rule_match *m)
{
	char buf[512];
	cJSON *j = cJSON_CreateObject();
	for (int f = 0; f < RULE_MF__COUNT; f++) {
		if (!m->fields[f])
			continue;
		matcher_describe(m->fields[f], buf, sizeof(buf));
		add_str(j, mf_names[f], buf);
	}
	if (m->ntags) {
		cJSON *tags = cJSON_AddObjectToObject(j, "tags");
		for (size_t i = 0; i < m->ntags; i++) {
			matcher_describe(m->tags[i].m, buf, sizeof(buf));
			add_str(tags, m->tags[i].key, buf);
		}
	}
	if (m->ntopology) {
		cJSON *topo = cJSON_AddObjectToObject(j, "topology");
		for (size_t i = 0; i < m->ntopology; i++) {
			cJSON *vals = cJSON_AddArrayToObject(topo, m->topology[i].key);
			for (size_t k = 0; k < m->topology[i].nvalues; k++)
				cJSON_AddItemToArray(vals, cJSON_CreateString(m->topology[i].values[k]));
		}
	}
	return j;
}

cJSON *rule_to_json(const rule *r)
{
	cJSON *j = cJSON_CreateObject();
	add_str(j, "name", r->name);
	add_str(j, "description", r->description);
	add_str(j, "file", r->file);
	cJSON_AddNumberToObject(j, "line", r->line);
	add_str(j, "version", r->version);
	cJSON_AddNumberToObject(j, "priority", r->priority);
	cJSON_AddBoolToObject(j, "enabled", r->enabled);
	cJSON_AddBoolToObject(j, "final", r->final);
	add_str(j, "mode", rules_mode_name(r->action.mode));
	add_str(j, "action_type", rules_action_type_name(r->action.type));
	cJSON_AddItemToObject(j, "match", match_json(&r->match));
	if (r->when)
		add_str(j, "when", expr_source(r->when));
	return j;
}
