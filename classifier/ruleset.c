/* ruleset.c -- rule snapshots: priority order, exact-value indexes per match field, candidate merge by rank.
 */
#include "ruleset.h"

#include <stdlib.h>
#include <string.h>

/* One exact value of one match field and the ranks (priority positions) of the rules that require it. */
typedef struct idx_entry {
	const char *key; /* points into a rule's matcher, which the snapshot keeps alive */
	uint64_t hash;
	uint32_t *ranks; /* ascending */
	uint32_t n, cap;
} idx_entry;

typedef struct idx_table {
	idx_entry *slots; /* open addressing, linear probing; NULL when the field indexes no rule */
	size_t mask;
	size_t nrules;
} idx_table;

struct ruleset {
	atomic_uint refs;
	rule **rules; /* priority order; rank = position */
	size_t n;
	rule **by_name;
	idx_table tables[RULE_MF__COUNT];
	uint32_t *generic; /* enabled rules with no exact-valued field: always candidates */
	size_t ngeneric;
	rules_errors errors;
	int64_t loaded_at_ms;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int cmp_priority(const void *a, const void *b)
{
	const rule *x = *(rule *const *)a, *y = *(rule *const *)b;
	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	c = strcmp(x->file, y->file);
	return c ? c : (x->line > y->line) - (x->line < y->line);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp((*(rule *const *)a)->name, (*(rule *const *)b)->name);
}

/* The field a rule is indexed by: the first (most selective) one that has exact values; -1 for none. */
static int index_field(const rule *r, const char *const **vals, size_t *nvals)
{
	for (int f = 0; f < RULE_MF__COUNT; f++)
		if (r->match.fields[f] && matcher_exact_values(r->match.fields[f], vals, nvals))
			return f;
	return -1;
}

static idx_entry *table_slot(const idx_table *t, const char *key, uint64_t h)
{
	for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
		idx_entry *e = &t->slots[i];
		if (!e->key || (e->hash == h && strcmp(e->key, key) == 0))
			return e;
	}
}

static void table_add(idx_table *t, const char *key, uint32_t rank)
{
	uint64_t h = hash_str(key);
	idx_entry *e = table_slot(t, key, h);
	if (!e->key) {
		e->key = key;
		e->hash = h;
	}
	if (e->n && e->ranks[e->n - 1] == rank)
		return; /* the same value twice in one list */
	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 2;
		e->ranks = rfx_realloc(e->ranks, e->cap * sizeof(*e->ranks));
	}
	e->ranks[e->n++] = rank;
}

static void table_size(idx_table *t, size_t values)
{
	size_t cap = 8;
	while (cap < values * 2)
		cap *= 2;
	t->slots = rfx_calloc(cap, sizeof(*t->slots));
	t->mask = cap - 1;
}

static void build_index(ruleset *rs)
{
	size_t values[RULE_MF__COUNT] = {0};
	for (size_t i = 0; i < rs->n; i++) {
		const char *const *vals;
		size_t nv;
		int f = rs->rules[i]->enabled ? index_field(rs->rules[i], &vals, &nv) : -1;
		if (f >= 0)
			values[f] += nv;
	}
	for (int f = 0; f < RULE_MF__COUNT; f++)
		if (values[f])
			table_size(&rs->tables[f], values[f]);
	rs->generic = rfx_calloc(rs->n ? rs->n : 1, sizeof(*rs->generic));
	for (size_t i = 0; i < rs->n; i++) {
		const char *const *vals;
		size_t nv;
		if (!rs->rules[i]->enabled)
			continue;
		int f = index_field(rs->rules[i], &vals, &nv);
		if (f < 0) {
			rs->generic[rs->ngeneric++] = (uint32_t)i;
			continue;
		}
		rs->tables[f].nrules++;
		for (size_t k = 0; k < nv; k++)
			table_add(&rs->tables[f], vals[k], (uint32_t)i);
	}
}

ruleset *ruleset_new(rule *const *rules, size_t n, const rules_errors *errors)
{
	ruleset *rs = rfx_calloc(1, sizeof(*rs));
	atomic_init(&rs->refs, 1);
	rs->n = n;
	rs->rules = rfx_calloc(n ? n : 1, sizeof(*rs->rules));
	rs->by_name = rfx_calloc(n ? n : 1, sizeof(*rs->by_name));
	for (size_t i = 0; i < n; i++)
		rs->rules[i] = rs->by_name[i] = rule_ref(rules[i]);
	qsort(rs->rules, n, sizeof(*rs->rules), cmp_priority);
	qsort(rs->by_name, n, sizeof(*rs->by_name), cmp_name);
	build_index(rs);
	if (errors)
		rules_errors_append(&rs->errors, errors);
	rs->loaded_at_ms = rfx_now_ms();
	return rs;
}

ruleset *ruleset_ref(ruleset *rs)
{
	atomic_fetch_add(&rs->refs, 1);
	return rs;
}

static void table_free(idx_table *t)
{
	for (size_t i = 0; t->slots && i <= t->mask; i++)
		free(t->slots[i].ranks);
	free(t->slots);
}

void ruleset_release(ruleset *rs)
{
	if (!rs || atomic_fetch_sub(&rs->refs, 1) != 1)
		return;
	for (int f = 0; f < RULE_MF__COUNT; f++)
		table_free(&rs->tables[f]);
	free(rs->generic);
	for (size_t i = 0; i < rs->n; i++)
		rule_unref(rs->rules[i]);
	free(rs->rules);
	free(rs->by_name);
	rules_errors_clear(&rs->errors);
	free(rs);
}

size_t ruleset_count(const ruleset *rs)
{
	return rs->n;
}

const rule *ruleset_get(const ruleset *rs, size_t i)
{
	return i < rs->n ? rs->rules[i] : NULL;
}

const rule *ruleset_find(const ruleset *rs, const char *name)
{
	size_t lo = 0, hi = rs->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(rs->by_name[mid]->name, name);
		if (c == 0)
			return rs->by_name[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const rules_errors *ruleset_errors(const ruleset *rs)
{
	return &rs->errors;
}

int64_t ruleset_loaded_at_ms(const ruleset *rs)
{
	return rs->loaded_at_ms;
}

size_t ruleset_unindexed(const ruleset *rs)
{
	return rs->ngeneric;
}

size_t ruleset_indexed_by(const ruleset *rs, rule_match_field f)
{
	return f < RULE_MF__COUNT ? rs->tables[f].nrules : 0;
}

/* ---- matching ---- */

typedef struct cand_list {
	const uint32_t *v;
	size_t n, at;
} cand_list;

static size_t gather(const ruleset *rs, const event *ev, cand_list *lists)
{
	size_t k = 0;
	for (int f = 0; f < RULE_MF__COUNT; f++) {
		const idx_table *t = &rs->tables[f];
		if (!t->slots)
			continue;
		const char *v = rules_match_value(ev, (rule_match_field)f);
		const idx_entry *e = table_slot(t, v, hash_str(v));
		if (e->key)
			lists[k++] = (cand_list){.v = e->ranks, .n = e->n};
	}
	if (rs->ngeneric)
		lists[k++] = (cand_list){.v = rs->generic, .n = rs->ngeneric};
	return k;
}

/* Lowest rank at the head of any list (each rule sits in exactly one list); -1 when all are done. */
static long next_rank(cand_list *lists, size_t k)
{
	size_t best = k;
	for (size_t i = 0; i < k; i++)
		if (lists[i].at < lists[i].n &&
		    (best == k || lists[i].v[lists[i].at] < lists[best].v[lists[best].at]))
			best = i;
	if (best == k)
		return -1;
	return (long)lists[best].v[lists[best].at++];
}

size_t ruleset_match(const ruleset *rs, const eval_ctx *c, const rule **out, size_t max)
{
	cand_list lists[RULE_MF__COUNT + 1];
	size_t k = gather(rs, c->ev, lists), n = 0;
	long rank;
	while (n < max && (rank = next_rank(lists, k)) >= 0) {
		const rule *r = rs->rules[rank];
		if (!rule_matches(r, c))
			continue;
		out[n++] = r;
		if (r->final)
			break;
	}
	return n;
}

size_t ruleset_match_linear(const ruleset *rs, const eval_ctx *c, const rule **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < rs->n && n < max; i++) {
		const rule *r = rs->rules[i];
		if (!r->enabled || !rule_matches(r, c))
			continue;
		out[n++] = r;
		if (r->final)
			break;
	}
	return n;
}
