/* poller_config.c -- reflex-poller's option table and the parser of its `feeds` list, driven by key tables.
 */
#include "poller_config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PO(field) offsetof(poller_cfg, field)
static const cfg_opt poller_opts[] = {
    {"classifier_url", CFG_STRING, PO(classifier_url), "http://127.0.0.1:8080", 0, 0, NULL,
     "Base URL of the classifier that receives the problems (POST /v1/events)", NULL, NULL, NULL},
    {"classifier_token_file", CFG_STRING, PO(classifier_token_file), NULL, 0, 0, NULL,
     "File holding the bearer token for the classifier", NULL, NULL, NULL},
    {"state_dir", CFG_STRING, PO(state_dir), "./poller-state", 0, 0, NULL,
     "Directory for per-feed state and the outbox", NULL, NULL, NULL},
    {"feeds", CFG_CUSTOM, PO(feeds), NULL, 0, 0, NULL,
     "List of feeds to poll: {name, type, url, token_file, interval, query, timeout, ...} (docs/feeds.md)",
     poller_config_parse_feeds, poller_config_free_feeds, poller_config_dump_feeds},
    {"outbox_max_events", CFG_INT, PO(outbox_max_events), "100000", 1, 10000000, NULL,
     "Most problems waiting in the outbox; beyond it polls are retried later", NULL, NULL, NULL},
    {"outbox_max_bytes", CFG_SIZE, PO(outbox_max_bytes), "256MiB", 65536, 16LL << 30, NULL,
     "Most bytes waiting in the outbox", NULL, NULL, NULL},
    {"forward_timeout", CFG_DURATION, PO(forward_timeout_ms), "10s", 100, 600000, NULL,
     "Timeout of each POST to the classifier", NULL, NULL, NULL},
    {"forward_retry_min", CFG_DURATION, PO(forward_retry_min_ms), "250ms", 10, 600000, NULL,
     "First delay before retrying a delivery the classifier did not take", NULL, NULL, NULL},
    {"forward_retry_max", CFG_DURATION, PO(forward_retry_max_ms), "30s", 10, 3600000, NULL,
     "Longest delay between delivery retries", NULL, NULL, NULL},
    {0},
};

const cfg_spec poller_config_spec = {
    .service = "poller",
    .binary = "reflex-poller",
    .summary = "polls Dynatrace, OpsGenie, Alertmanager and Icinga 2 and forwards each problem once",
    .default_port = 8082,
    .opts = poller_opts,
    .extra_usage = NULL,
};

rfx_err poller_config_parse_size(const char *s, long long *out)
{
	static const struct {
		const char *unit;
		long long mul;
	} units[] = {{"", 1},		{"b", 1},	    {"k", 1000},     {"kb", 1000},
		     {"kib", 1024},	{"m", 1000000},	    {"mb", 1000000}, {"mib", 1 << 20},
		     {"g", 1000000000}, {"gb", 1000000000}, {"gib", 1 << 30}};
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return RFX_ERR_INVAL;
	long long v = strtoll(s, &end, 10);
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < RFX_ARRAY_LEN(units); i++) {
		if (strcasecmp(end, units[i].unit) == 0) {
			if (v > (1LL << 50) / units[i].mul)
				return RFX_ERR_INVAL;
			*out = v * units[i].mul;
			return RFX_OK;
		}
	}
	return RFX_ERR_INVAL;
}

static void strlist_free(feed_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	RFX_FREE(l->v);
	l->n = 0;
}

static rfx_err parse_strlist(const yt_node *n, feed_strlist *out, char *err, size_t errlen)
{
	strlist_free(out);
	if (n->kind == YT_SCALAR) {
		/* A scalar is a comma-separated list (the same as in the environment). */
		const char *s = n->scalar;
		while (*s) {
			size_t len = strcspn(s, ",");
			size_t a = 0, b = len;
			while (a < b && isspace((unsigned char)s[a]))
				a++;
			while (b > a && isspace((unsigned char)s[b - 1]))
				b--;
			if (b > a) {
				out->v = rfx_realloc(out->v, (out->n + 1) * sizeof(char *));
				out->v[out->n++] = rfx_strndup(s + a, b - a);
			}
			s += len + (s[len] == ',');
		}
		return RFX_OK;
	}
	if (n->kind != YT_SEQ) {
		snprintf(err, errlen, "expected a list of strings, got a %s", yt_kind_name(n->kind));
		return RFX_ERR_INVAL;
	}
	out->v = rfx_calloc(n->n, sizeof(char *));
	for (size_t i = 0; i < n->n; i++) {
		if (n->items[i]->kind != YT_SCALAR) {
			snprintf(err, errlen, "expected a list of strings, item %zu is a %s", i + 1,
				 yt_kind_name(n->items[i]->kind));
			return RFX_ERR_INVAL;
		}
		out->v[out->n++] = rfx_strdup(n->items[i]->scalar);
	}
	return RFX_OK;
}

static rfx_err check_bounds(const feed_key *k, long long v, char *err, size_t errlen)
{
	if ((k->min || k->max) && (v < k->min || v > k->max)) {
		snprintf(err, errlen, "%lld is out of range [%lld, %lld]%s", v, k->min, k->max,
			 k->kind == FK_DURATION ? " milliseconds" : "");
		return RFX_ERR_INVAL;
	}
	return RFX_OK;
}

static rfx_err parse_scalar_key(const feed_key *k, const yt_node *n, void *field, char *err, size_t errlen)
{
	long long v = 0;
	int64_t ms = 0;

	switch (k->kind) {
	case FK_STRING:
		if (n->null) {
			RFX_FREE(*(char **)field);
			return RFX_OK;
		}
		free(*(char **)field);
		*(char **)field = rfx_strdup(n->scalar);
		return RFX_OK;
	case FK_BOOL:
		if (!yt_as_bool(n, (bool *)field)) {
			snprintf(err, errlen, "expected true or false, got '%s'", n->scalar);
			return RFX_ERR_INVAL;
		}
		return RFX_OK;
	case FK_INT:
		if (!yt_as_int(n, &v)) {
			snprintf(err, errlen, "expected an integer, got '%s'", n->scalar);
			return RFX_ERR_INVAL;
		}
		*(long long *)field = v;
		return check_bounds(k, v, err, errlen);
	case FK_DURATION:
		if (rfx_parse_duration(n->scalar, &ms)) {
			snprintf(err, errlen, "expected a duration like 30s or 5m, got '%s'", n->scalar);
			return RFX_ERR_INVAL;
		}
		*(int64_t *)field = ms;
		return check_bounds(k, ms, err, errlen);
	case FK_SIZE:
		if (poller_config_parse_size(n->scalar, &v)) {
			snprintf(err, errlen, "expected a size like 16MiB, got '%s'", n->scalar);
			return RFX_ERR_INVAL;
		}
		*(long long *)field = v;
		return check_bounds(k, v, err, errlen);
	case FK_STRLIST:
		return parse_strlist(n, field, err, errlen);
	}
	return RFX_ERR_INTERNAL;
}

static rfx_err parse_key(const feed_key *k, const yt_node *n, void *field, char *err, size_t errlen)
{
	if (k->kind != FK_STRLIST && n->kind != YT_SCALAR) {
		snprintf(err, errlen, "expected a scalar, got a %s", yt_kind_name(n->kind));
		return RFX_ERR_INVAL;
	}
	return parse_scalar_key(k, n, field, err, errlen);
}

static rfx_err apply_defaults(const feed_key *keys, void *base, char *err, size_t errlen)
{
	for (const feed_key *k = keys; k && k->name; k++) {
		if (!k->def)
			continue;
		yt_node n = {.kind = YT_SCALAR, .scalar = (char *)k->def};
		rfx_err rc = parse_key(k, &n, (char *)base + k->offset, err, errlen);
		if (rc)
			return rc;
	}
	return RFX_OK;
}

static const feed_key *find_key(const feed_key *keys, const char *name)
{
	for (const feed_key *k = keys; k && k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

static void free_keys(const feed_key *keys, void *base)
{
	for (const feed_key *k = keys; base && k && k->name; k++) {
		void *field = (char *)base + k->offset;
		if (k->kind == FK_STRING)
			RFX_FREE(*(char **)field);
		else if (k->kind == FK_STRLIST)
			strlist_free(field);
	}
}

void poller_config_free_feed(feed_cfg *f)
{
	if (f->ft)
		free_keys(f->ft->keys, f->opts);
	RFX_FREE(f->opts);
	free_keys(feed_common_keys, f);
	memset(f, 0, sizeof(*f));
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= FEED_NAME_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

static rfx_err find_type(const yt_node *map, feed_cfg *out, char *err, size_t errlen)
{
	const yt_node *t = yt_map_get(map, "type");
	if (!t || t->kind != YT_SCALAR || t->null) {
		snprintf(err, errlen,
			 "line %d: missing key 'type' (one of alertmanager, dynatrace, opsgenie, icinga)",
			 map->line);
		return RFX_ERR_INVAL;
	}
	out->ft = feed_type_find(t->scalar);
	if (!out->ft) {
		snprintf(err, errlen,
			 "line %d: type: unknown feed type '%s' (one of alertmanager, dynatrace, opsgenie, "
			 "icinga)",
			 t->line, t->scalar);
		return RFX_ERR_INVAL;
	}
	return RFX_OK;
}

static rfx_err parse_pairs(const yt_node *map, feed_cfg *out, char *err, size_t errlen)
{
	char why[200];
	for (size_t i = 0; i < map->n; i++) {
		const char *key = map->pairs[i].key->scalar;
		const yt_node *v = map->pairs[i].value;
		const feed_key *k = find_key(feed_common_keys, key);
		void *base = out;
		if (!k) {
			k = find_key(out->ft->keys, key);
			base = out->opts;
		}
		if (!k) {
			snprintf(err, errlen, "line %d: unknown key '%s' for a %s feed",
				 map->pairs[i].key->line, key, out->ft->name);
			return RFX_ERR_INVAL;
		}
		if (parse_key(k, v, (char *)base + k->offset, why, sizeof(why))) {
			snprintf(err, errlen, "line %d: %s: %s", v->line, key, why);
			return RFX_ERR_INVAL;
		}
	}
	return RFX_OK;
}

static rfx_err check_feed(const yt_node *map, feed_cfg *out, char *err, size_t errlen)
{
	if (!out->name || !valid_name(out->name)) {
		snprintf(err, errlen, "line %d: name: %s", map->line,
			 out->name ? "must be 1-63 characters of [A-Za-z0-9._-], not starting with '.'"
				   : "missing");
		return RFX_ERR_INVAL;
	}
	if (!out->url || (strncmp(out->url, "http://", 7) && strncmp(out->url, "https://", 8))) {
		snprintf(err, errlen, "line %d: url: %s", map->line,
			 out->url ? "must start with http:// or https://" : "missing");
		return RFX_ERR_INVAL;
	}
	if (out->backoff_min_ms > out->backoff_max_ms) {
		snprintf(err, errlen, "line %d: backoff_min is larger than backoff_max", map->line);
		return RFX_ERR_INVAL;
	}
	if (!out->query && out->ft->default_query)
		out->query = rfx_strdup(out->ft->default_query);
	if (out->ft->validate) {
		char why[200] = "";
		if (out->ft->validate(out, why, sizeof(why))) {
			snprintf(err, errlen, "line %d: %s", map->line, why);
			return RFX_ERR_INVAL;
		}
	}
	return RFX_OK;
}

rfx_err poller_config_parse_feed(const yt_node *map, feed_cfg *out, char *err, size_t errlen)
{
	rfx_err rc;

	memset(out, 0, sizeof(*out));
	if (map->kind != YT_MAP) {
		snprintf(err, errlen, "line %d: a feed must be a mapping, got a %s", map->line,
			 yt_kind_name(map->kind));
		return RFX_ERR_INVAL;
	}
	rc = find_type(map, out, err, errlen);
	if (rc)
		return rc;
	out->opts = rfx_calloc(1, out->ft->opts_size ? out->ft->opts_size : 1);
	rc = apply_defaults(feed_common_keys, out, err, errlen);
	if (!rc)
		rc = apply_defaults(out->ft->keys, out->opts, err, errlen);
	if (!rc)
		rc = parse_pairs(map, out, err, errlen);
	if (!rc)
		rc = check_feed(map, out, err, errlen);
	if (rc)
		poller_config_free_feed(out);
	return rc;
}

void poller_config_dump_feeds(const void *field, FILE *out)
{
	const poller_feeds *fs = field;
	fputc('[', out);
	for (size_t i = 0; i < fs->n; i++) {
		const feed_cfg *f = &fs->v[i];
		char url[512];
		feed_url_redact(f->url, url, sizeof(url));
		fprintf(out, "%s{name: \"%s\", type: %s, url: \"%s\", interval: %lldms, enabled: %s}",
			i ? ", " : "", f->name, f->type, url, (long long)f->interval_ms,
			f->enabled ? "true" : "false");
	}
	fputc(']', out);
}

void poller_config_free_feeds(void *field)
{
	poller_feeds *fs = field;
	for (size_t i = 0; i < fs->n; i++)
		poller_config_free_feed(&fs->v[i]);
	RFX_FREE(fs->v);
	fs->n = 0;
}

static rfx_err check_unique(const poller_feeds *fs, char *err, size_t errlen)
{
	for (size_t i = 0; i < fs->n; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(fs->v[i].name, fs->v[j].name) == 0) {
				snprintf(err, errlen, "feed %zu: name '%s' is used twice", i + 1,
					 fs->v[i].name);
				return RFX_ERR_INVAL;
			}
		}
	}
	return RFX_OK;
}

rfx_err poller_config_parse_feeds(const yt_node *node, void *field, char *err, size_t errlen)
{
	poller_feeds *fs = field, tmp = {0};
	char why[300];

	if (node->kind == YT_SCALAR && node->null) {
		poller_config_free_feeds(fs);
		return RFX_OK;
	}
	if (node->kind != YT_SEQ) {
		snprintf(err, errlen, "expected a list of feeds, got a %s", yt_kind_name(node->kind));
		return RFX_ERR_INVAL;
	}
	if (node->n > FEED_MAX_FEEDS) {
		snprintf(err, errlen, "at most %d feeds", FEED_MAX_FEEDS);
		return RFX_ERR_INVAL;
	}
	tmp.v = rfx_calloc(node->n, sizeof(feed_cfg));
	for (size_t i = 0; i < node->n; i++) {
		if (poller_config_parse_feed(node->items[i], &tmp.v[i], why, sizeof(why))) {
			snprintf(err, errlen, "feed %zu: %s", i + 1, why);
			poller_config_free_feeds(&tmp);
			return RFX_ERR_INVAL;
		}
		tmp.n++;
	}
	if (check_unique(&tmp, err, errlen)) {
		poller_config_free_feeds(&tmp);
		return RFX_ERR_INVAL;
	}
	poller_config_free_feeds(fs);
	*fs = tmp;
	return RFX_OK;
}
