/* yamltree.c -- libyaml events folded into a small tree with line/column per node, for precise error
 * messages. */
#include "yamltree.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define YT_TAG_STR "tag:yaml.org,2002:str"

typedef struct yt_parser {
	yaml_parser_t yp;
	yt_error *err;
} yt_parser;

static void __attribute__((format(printf, 3, 4)))
set_err(yt_error *err, const yaml_mark_t *mark, const char *fmt, ...)
{
	if (!err)
		return;
	err->line = mark ? (int)mark->line + 1 : 0;
	err->col = mark ? (int)mark->column + 1 : 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
	va_end(ap);
}

static void set_libyaml_err(yt_parser *p)
{
	const yaml_parser_t *yp = &p->yp;
	char reason[200];
	if (yp->context)
		snprintf(reason, sizeof(reason), "%s %s", yp->problem ? yp->problem : "syntax error",
			 yp->context);
	else
		snprintf(reason, sizeof(reason), "%s", yp->problem ? yp->problem : "syntax error");
	set_err(p->err, &yp->problem_mark, "%s", reason);
}

static bool next_event(yt_parser *p, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&p->yp, ev)) {
		set_libyaml_err(p);
		return false;
	}
	return true;
}

static yt_node *node_new(yt_kind kind, const yaml_mark_t *m)
{
	yt_node *n = rfx_calloc(1, sizeof(*n));
	n->kind = kind;
	n->line = (int)m->line + 1;
	n->col = (int)m->column + 1;
	return n;
}

static bool plain_is_null(const char *s)
{
	return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
	       strcmp(s, "NULL") == 0;
}

static yt_node *scalar_node(const yaml_event_t *ev)
{
	yt_node *n = node_new(YT_SCALAR, &ev->start_mark);
	n->scalar = rfx_strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
	const char *tag = (const char *)ev->data.scalar.tag;
	n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || (tag && strcmp(tag, YT_TAG_STR) == 0);
	n->null = !n->quoted && plain_is_null(n->scalar);
	if (n->null)
		n->scalar[0] = '\0';
	return n;
}

static yt_node *parse_node(yt_parser *p, yaml_event_t *ev, int depth);

static yt_node *parse_seq(yt_parser *p, const yaml_event_t *start, int depth)
{
	yt_node *n = node_new(YT_SEQ, &start->start_mark);
	size_t cap = 0;
	for (;;) {
		yaml_event_t ev;
		if (!next_event(p, &ev))
			goto fail;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return n;
		}
		yt_node *item = parse_node(p, &ev, depth + 1);
		if (!item)
			goto fail;
		if (n->n == cap) {
			cap = cap ? cap * 2 : 4;
			n->items = rfx_realloc(n->items, cap * sizeof(*n->items));
		}
		n->items[n->n++] = item;
	}
fail:
	yt_free(n);
	return NULL;
}

/* Reads one mapping key: a scalar that is not already in the map. NULL at the end of the mapping (*end set).
 */
static yt_node *parse_key(yt_parser *p, const yt_node *map, bool *end)
{
	yaml_event_t ev;
	*end = false;
	if (!next_event(p, &ev))
		return NULL;
	if (ev.type == YAML_MAPPING_END_EVENT) {
		*end = true;
		yaml_event_delete(&ev);
		return NULL;
	}
	if (ev.type != YAML_SCALAR_EVENT) {
		set_err(p->err, &ev.start_mark, "%s",
			ev.type == YAML_ALIAS_EVENT ? "aliases are not allowed"
						    : "mapping keys must be scalars");
		yaml_event_delete(&ev);
		return NULL;
	}
	yt_node *key = scalar_node(&ev);
	yaml_event_delete(&ev);
	for (size_t i = 0; i < map->n; i++) {
		if (strcmp(map->pairs[i].key->scalar, key->scalar) == 0) {
			yaml_mark_t m = {.line = (size_t)key->line - 1, .column = (size_t)key->col - 1};
			set_err(p->err, &m, "duplicate key \"%.150s\"", key->scalar);
			yt_free(key);
			return NULL;
		}
	}
	return key;
}

static yt_node *parse_map(yt_parser *p, const yaml_event_t *start, int depth)
{
	yt_node *n = node_new(YT_MAP, &start->start_mark);
	size_t cap = 0;
	for (;;) {
		bool end;
		yt_node *key = parse_key(p, n, &end);
		if (end)
			return n;
		if (!key)
			goto fail;
		yaml_event_t ev;
		if (!next_event(p, &ev)) {
			yt_free(key);
			goto fail;
		}
		yt_node *value = parse_node(p, &ev, depth + 1);
		if (!value) {
			yt_free(key);
			goto fail;
		}
		if (n->n == cap) {
			cap = cap ? cap * 2 : 4;
			n->pairs = rfx_realloc(n->pairs, cap * sizeof(*n->pairs));
		}
		n->pairs[n->n].key = key;
		n->pairs[n->n].value = value;
		n->n++;
	}
fail:
	yt_free(n);
	return NULL;
}

/* Consumes ev (deletes it) and everything belonging to the node it starts. */
static yt_node *parse_node(yt_parser *p, yaml_event_t *ev, int depth)
{
	yt_node *n = NULL;
	if (depth > YT_MAX_DEPTH) {
		set_err(p->err, &ev->start_mark, "nesting deeper than %d levels", YT_MAX_DEPTH);
		goto out;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		n = scalar_node(ev);
		break;
	case YAML_SEQUENCE_START_EVENT:
		n = parse_seq(p, ev, depth);
		break;
	case YAML_MAPPING_START_EVENT:
		n = parse_map(p, ev, depth);
		break;
	case YAML_ALIAS_EVENT:
		set_err(p->err, &ev->start_mark, "%s", "aliases are not allowed");
		break;
	default:
		set_err(p->err, &ev->start_mark, "%s", "unexpected YAML event");
		break;
	}
out:
	yaml_event_delete(ev);
	return n;
}

/* Parses one document after its DOCUMENT_START; NULL with *failed false for an empty document. */
static yt_node *parse_document(yt_parser *p, bool *failed)
{
	yaml_event_t ev;
	*failed = true;
	if (!next_event(p, &ev))
		return NULL;
	yt_node *root = parse_node(p, &ev, 1);
	if (!root)
		return NULL;
	if (!next_event(p, &ev)) {
		yt_free(root);
		return NULL;
	}
	bool ok = ev.type == YAML_DOCUMENT_END_EVENT;
	yaml_event_delete(&ev);
	if (!ok) {
		yt_free(root);
		return NULL;
	}
	*failed = false;
	if (root->kind == YT_SCALAR && root->null) {
		yt_free(root);
		return NULL;
	}
	return root;
}

static void push_doc(yt_node ***docs, size_t *n, size_t *cap, yt_node *doc)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		*docs = rfx_realloc(*docs, *cap * sizeof(**docs));
	}
	(*docs)[(*n)++] = doc;
}

rfx_err yt_parse(const char *text, size_t len, yt_node ***docs, size_t *ndocs, yt_error *err)
{
	rfx_err rc = RFX_ERR_PARSE;
	yt_parser p = {.err = err};
	yt_node **out = NULL;
	size_t n = 0, cap = 0;
	if (err)
		memset(err, 0, sizeof(*err));
	*docs = NULL;
	*ndocs = 0;
	if (!yaml_parser_initialize(&p.yp))
		abort(); /* only fails on out-of-memory */
	yaml_parser_set_input_string(&p.yp, (const unsigned char *)text, len);
	for (;;) {
		yaml_event_t ev;
		if (!next_event(&p, &ev))
			goto out;
		yaml_event_type_t type = ev.type;
		yaml_event_delete(&ev);
		if (type == YAML_STREAM_END_EVENT)
			break;
		if (type != YAML_DOCUMENT_START_EVENT)
			continue;
		bool failed;
		yt_node *doc = parse_document(&p, &failed);
		if (failed)
			goto out;
		if (doc)
			push_doc(&out, &n, &cap, doc);
	}
	*docs = out;
	*ndocs = n;
	out = NULL;
	rc = RFX_OK;
out:
	if (rc)
		yt_free_docs(out, n);
	yaml_parser_delete(&p.yp);
	return rc;
}

void yt_free(yt_node *n)
{
	if (!n)
		return;
	free(n->scalar);
	for (size_t i = 0; n->kind == YT_SEQ && i < n->n; i++)
		yt_free(n->items[i]);
	for (size_t i = 0; n->kind == YT_MAP && i < n->n; i++) {
		yt_free(n->pairs[i].key);
		yt_free(n->pairs[i].value);
	}
	free(n->items);
	free(n->pairs);
	free(n);
}

void yt_free_docs(yt_node **docs, size_t ndocs)
{
	for (size_t i = 0; docs && i < ndocs; i++)
		yt_free(docs[i]);
	free(docs);
}

const yt_node *yt_map_get(const yt_node *map, const char *key)
{
	if (!map || map->kind != YT_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->pairs[i].key->scalar, key) == 0)
			return map->pairs[i].value;
	return NULL;
}

const char *yt_kind_name(yt_kind k)
{
	switch (k) {
	case YT_SCALAR:
		return "scalar";
	case YT_MAP:
		return "mapping";
	case YT_SEQ:
		return "sequence";
	}
	return "node";
}

bool yt_as_bool(const yt_node *n, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
	if (!n || n->kind != YT_SCALAR || n->quoted)
		return false;
	for (size_t i = 0; i < RFX_ARRAY_LEN(yes); i++) {
		if (strcasecmp(n->scalar, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(n->scalar, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* Numbers are accepted quoted or not: `port: "8080"` is unambiguous. */
bool yt_as_int(const yt_node *n, long long *out)
{
	if (!n || n->kind != YT_SCALAR || n->null)
		return false;
	const char *s = n->scalar;
	if (!*s || !(*s == '-' || *s == '+' || (*s >= '0' && *s <= '9')))
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

bool yt_as_double(const yt_node *n, double *out)
{
	if (!n || n->kind != YT_SCALAR || n->null)
		return false;
	const char *s = n->scalar;
	if (!*s || !(*s == '-' || *s == '+' || *s == '.' || (*s >= '0' && *s <= '9')))
		return false;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return false;
	*out = v;
	return true;
}
