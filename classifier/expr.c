/* expr.c -- recursive-descent compiler and allocation-free evaluator for rule `when` expressions. */
#include "expr.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
	T_EOF,
	T_IDENT,
	T_STR,
	T_NUM,
	T_REGEX,
	T_LPAREN,
	T_RPAREN,
	T_LBRACK,
	T_RBRACK,
	T_COMMA,
	T_AND,
	T_OR,
	T_NOT,
	T_EQ,
	T_NE,
	T_LT,
	T_LE,
	T_GT,
	T_GE,
	T_MATCH,
	T_NMATCH,
	T_IN,
} tok_kind;

typedef enum { EN_OR, EN_AND, EN_NOT, EN_CMP, EN_MATCH, EN_IN, EN_TRUTHY } en_kind;

typedef struct operand {
	match_field f;
	char *lit; /* literal text */
	double num;
	bool is_field;
	bool num_ok;
} operand;

typedef struct enode {
	uint8_t kind; /* en_kind */
	uint8_t op;   /* tok_kind of EN_CMP */
	bool negate;  /* EN_MATCH with !~ */
	int a, b;     /* children: OR/AND (a, b), NOT (a) */
	operand l;    /* the left side of a leaf */
	union {
		operand r; /* EN_CMP */
		struct {   /* EN_MATCH */
			match_regex *re;
			char *re_src;
		};
		struct { /* EN_IN */
			operand *list;
			size_t nlist;
		};
	};
} enode;

struct expr {
	char *src;
	enode *nodes;
	size_t n, cap;
	int root;
};

typedef struct token {
	tok_kind kind;
	size_t pos; /* byte offset in src */
	char *text; /* IDENT, STR, NUM, REGEX: owned */
} token;

typedef struct parser {
	const char *src;
	size_t len, pos;
	token tok;
	expr *e;
	int depth;
	size_t err_pos;
	char *err;
	size_t errlen;
	rfx_err rc;
} parser;

static const char *tok_names[] = {
    [T_EOF] = "end of expression",
    [T_IDENT] = "field",
    [T_STR] = "string",
    [T_NUM] = "number",
    [T_REGEX] = "regex",
    [T_LPAREN] = "\"(\"",
    [T_RPAREN] = "\")\"",
    [T_LBRACK] = "\"[\"",
    [T_RBRACK] = "\"]\"",
    [T_COMMA] = "\",\"",
    [T_AND] = "\"&&\"",
    [T_OR] = "\"||\"",
    [T_NOT] = "\"!\"",
    [T_EQ] = "\"==\"",
    [T_NE] = "\"!=\"",
    [T_LT] = "\"<\"",
    [T_LE] = "\"<=\"",
    [T_GT] = "\">\"",
    [T_GE] = "\">=\"",
    [T_MATCH] = "\"=~\"",
    [T_NMATCH] = "\"!~\"",
    [T_IN] = "\"in\"",
};

static rfx_err __attribute__((format(printf, 4, 5)))
fail(parser *p, rfx_err rc, size_t pos, const char *fmt, ...)
{
	if (p->rc)
		return p->rc;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
	p->err_pos = pos;
	p->rc = rc;
	return rc;
}

/* ---- lexer ---- */

static bool ident_start(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static bool ident_char(char ch)
{
	return ident_start(ch) || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == ':' ||
	       ch == '/';
}

/* Known escapes are replaced; an unknown one keeps its backslash so "\d+" reaches regcomp intact. */
static size_t unescape(char ch, char delim, char *out)
{
	switch (ch) {
	case 'n':
		*out = '\n';
		return 1;
	case 't':
		*out = '\t';
		return 1;
	case 'r':
		*out = '\r';
		return 1;
	case '\\':
		*out = ch;
		return 1;
	default:
		if (ch == delim) {
			*out = ch;
			return 1;
		}
		out[0] = '\\';
		out[1] = ch;
		return 2;
	}
}

/* Reads a quoted string or /regex/ starting at p->pos (the opening delimiter). */
static rfx_err lex_quoted(parser *p, char delim, tok_kind kind)
{
	size_t start = p->pos++;
	char *out = rfx_malloc(p->len - start + 1);
	size_t n = 0;
	while (p->pos < p->len && p->src[p->pos] != delim) {
		char ch = p->src[p->pos++];
		if (ch != '\\' || p->pos >= p->len) {
			out[n++] = ch;
			continue;
		}
		char esc = p->src[p->pos++];
		/* in a regex only the delimiter is unescaped; \d, \. etc. stay for regcomp */
		if (kind == T_REGEX) {
			if (esc != delim)
				out[n++] = ch;
			out[n++] = esc;
		} else {
			n += unescape(esc, delim, out + n);
		}
	}
	if (p->pos >= p->len) {
		free(out);
		return fail(p, RFX_ERR_PARSE, start, "unterminated %s", kind == T_REGEX ? "regex" : "string");
	}
	p->pos++;
	out[n] = '\0';
	p->tok = (token){.kind = kind, .pos = start, .text = out};
	return RFX_OK;
}

static rfx_err lex_number(parser *p)
{
	size_t start = p->pos;
	if (p->src[p->pos] == '-' || p->src[p->pos] == '+')
		p->pos++;
	while (p->pos < p->len && (ident_char(p->src[p->pos]) || p->src[p->pos] == '+'))
		p->pos++;
	char *text = rfx_strndup(p->src + start, p->pos - start);
	double v;
	if (!match_parse_number(text, &v)) {
		free(text);
		return fail(p, RFX_ERR_PARSE, start, "invalid number \"%.*s\"", (int)(p->pos - start),
			    p->src + start);
	}
	p->tok = (token){.kind = T_NUM, .pos = start, .text = text};
	return RFX_OK;
}

/* tags["key with spaces"] / topology["x"]: the bracket form of a path. */
static rfx_err lex_bracket_path(parser *p, size_t start)
{
	size_t prefix = p->pos - start;
	p->pos++; /* [ */
	char q = p->pos < p->len ? p->src[p->pos] : 0;
	if (q != '"' && q != '\'')
		return fail(p, RFX_ERR_PARSE, p->pos, "expected a quoted name after \"[\"");
	rfx_err rc = lex_quoted(p, q, T_STR);
	if (rc)
		return rc;
	char *key = p->tok.text;
	p->tok.text = NULL;
	if (p->pos >= p->len || p->src[p->pos] != ']') {
		free(key);
		return fail(p, RFX_ERR_PARSE, p->pos, "expected \"]\" after the name");
	}
	p->pos++;
	p->tok = (token){
	    .kind = T_IDENT, .pos = start, .text = rfx_asprintf("%.*s.%s", (int)prefix, p->src + start, key)};
	free(key);
	return RFX_OK;
}

static rfx_err lex_ident(parser *p)
{
	size_t start = p->pos;
	while (p->pos < p->len && ident_char(p->src[p->pos]))
		p->pos++;
	size_t n = p->pos - start;
	if (p->pos < p->len && p->src[p->pos] == '[' &&
	    ((n == 4 && memcmp(p->src + start, "tags", 4) == 0) ||
	     (n == 8 && memcmp(p->src + start, "topology", 8) == 0)))
		return lex_bracket_path(p, start);
	if (n == 2 && memcmp(p->src + start, "in", 2) == 0) {
		p->tok = (token){.kind = T_IN, .pos = start};
		return RFX_OK;
	}
	p->tok = (token){.kind = T_IDENT, .pos = start, .text = rfx_strndup(p->src + start, n)};
	return RFX_OK;
}

static bool lex_op2(parser *p, char a, char b, tok_kind kind)
{
	if (p->src[p->pos] != a || p->pos + 1 >= p->len || p->src[p->pos + 1] != b)
		return false;
	p->tok = (token){.kind = kind, .pos = p->pos};
	p->pos += 2;
	return true;
}

static const struct {
	char a, b;
	tok_kind kind;
} ops2[] = {
    {'&', '&', T_AND}, {'|', '|', T_OR}, {'=', '=', T_EQ},    {'!', '=', T_NE},
    {'<', '=', T_LE},  {'>', '=', T_GE}, {'=', '~', T_MATCH}, {'!', '~', T_NMATCH},
};

static const struct {
	char ch;
	tok_kind kind;
} ops1[] = {
    {'(', T_LPAREN}, {')', T_RPAREN}, {'[', T_LBRACK}, {']', T_RBRACK},
    {',', T_COMMA},  {'!', T_NOT},    {'<', T_LT},     {'>', T_GT},
};

static rfx_err lex_punct(parser *p)
{
	for (size_t i = 0; i < RFX_ARRAY_LEN(ops2); i++)
		if (lex_op2(p, ops2[i].a, ops2[i].b, ops2[i].kind))
			return RFX_OK;
	char ch = p->src[p->pos];
	for (size_t i = 0; i < RFX_ARRAY_LEN(ops1); i++) {
		if (ops1[i].ch == ch) {
			p->tok = (token){.kind = ops1[i].kind, .pos = p->pos++};
			return RFX_OK;
		}
	}
	if (ch == '=')
		return fail(p, RFX_ERR_PARSE, p->pos, "unexpected \"=\" (use \"==\" to compare)");
	if (ch == '&' || ch == '|')
		return fail(p, RFX_ERR_PARSE, p->pos, "unexpected \"%c\" (use \"%c%c\")", ch, ch, ch);
	if ((unsigned char)ch < ' ' || (unsigned char)ch >= 0x7f)
		return fail(p, RFX_ERR_PARSE, p->pos, "unexpected byte 0x%02x", (unsigned char)ch);
	return fail(p, RFX_ERR_PARSE, p->pos, "unexpected character \"%c\"", ch);
}

static rfx_err next(parser *p)
{
	RFX_FREE(p->tok.text);
	while (p->pos < p->len && (p->src[p->pos] == ' ' || p->src[p->pos] == '\t' ||
				   p->src[p->pos] == '\n' || p->src[p->pos] == '\r'))
		p->pos++;
	if (p->pos >= p->len) {
		p->tok = (token){.kind = T_EOF, .pos = p->len};
		return RFX_OK;
	}
	char ch = p->src[p->pos];
	char ch1 = p->pos + 1 < p->len ? p->src[p->pos + 1] : 0;
	if (ch == '"' || ch == '\'')
		return lex_quoted(p, ch, T_STR);
	if (ch == '/')
		return lex_quoted(p, '/', T_REGEX);
	if ((ch >= '0' && ch <= '9') ||
	    ((ch == '-' || ch == '+' || ch == '.') && ((ch1 >= '0' && ch1 <= '9') || ch1 == '.')))
		return lex_number(p);
	if (ident_start(ch))
		return lex_ident(p);
	return lex_punct(p);
}

/* ---- parser ---- */

static int new_node(parser *p, en_kind kind)
{
	expr *e = p->e;
	if (e->n >= EXPR_MAX_NODES) {
		fail(p, RFX_ERR_INVAL, p->tok.pos, "expression has more than %d operations", EXPR_MAX_NODES);
		return -1;
	}
	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 8;
		e->nodes = rfx_realloc(e->nodes, e->cap * sizeof(*e->nodes));
	}
	memset(&e->nodes[e->n], 0, sizeof(e->nodes[0]));
	e->nodes[e->n].kind = kind;
	e->nodes[e->n].a = e->nodes[e->n].b = -1;
	return (int)e->n++;
}

static void operand_clear(operand *o)
{
	match_field_clear(&o->f);
	RFX_FREE(o->lit);
}

static rfx_err parse_operand(parser *p, operand *o)
{
	char err[300];
	memset(o, 0, sizeof(*o));
	token t = p->tok;
	switch (t.kind) {
	case T_IDENT:
		if (match_field_parse(t.text, strlen(t.text), &o->f, err, sizeof(err)))
			return fail(p, RFX_ERR_INVAL, t.pos, "%s", err);
		o->is_field = true;
		return next(p);
	case T_STR:
	case T_NUM:
		o->lit = t.text;
		p->tok.text = NULL;
		o->num_ok = match_parse_number(o->lit, &o->num);
		return next(p);
	case T_REGEX:
		return fail(p, RFX_ERR_PARSE, t.pos, "a regex is only allowed after =~ or !~");
	default:
		return fail(p, RFX_ERR_PARSE, t.pos, "expected a field, a string or a number, found %s",
			    tok_names[t.kind]);
	}
}

static rfx_err parse_regex(parser *p, int node)
{
	char err[300];
	if (p->tok.kind != T_STR && p->tok.kind != T_REGEX)
		return fail(p, RFX_ERR_PARSE, p->tok.pos,
			    "expected a regex (\"...\" or /.../) after %s, found %s",
			    p->e->nodes[node].negate ? "!~" : "=~", tok_names[p->tok.kind]);
	if (match_regex_compile(p->tok.text, &p->e->nodes[node].re, err, sizeof(err)))
		return fail(p, RFX_ERR_INVAL, p->tok.pos, "%s", err);
	p->e->nodes[node].re_src = p->tok.text;
	p->tok.text = NULL;
	return next(p);
}

static rfx_err parse_list(parser *p, int node)
{
	enode *nd = &p->e->nodes[node];
	if (p->tok.kind != T_LBRACK)
		return fail(p, RFX_ERR_PARSE, p->tok.pos, "expected \"[\" after in, found %s",
			    tok_names[p->tok.kind]);
	rfx_err rc = next(p);
	size_t cap = 0;
	while (!rc && p->tok.kind != T_RBRACK) {
		if (nd->nlist == EXPR_MAX_LIST)
			return fail(p, RFX_ERR_INVAL, p->tok.pos, "more than %d items in a list",
				    EXPR_MAX_LIST);
		if (nd->nlist == cap) {
			cap = cap ? cap * 2 : 4;
			nd->list = rfx_realloc(nd->list, cap * sizeof(*nd->list));
		}
		if (p->tok.kind != T_STR && p->tok.kind != T_NUM)
			return fail(p, RFX_ERR_PARSE, p->tok.pos,
				    "expected a string or a number in the list, found %s",
				    tok_names[p->tok.kind]);
		rc = parse_operand(p, &nd->list[nd->nlist++]);
		if (!rc && p->tok.kind == T_COMMA)
			rc = next(p);
		else if (!rc && p->tok.kind != T_RBRACK)
			return fail(p, RFX_ERR_PARSE, p->tok.pos,
				    "expected \",\" or \"]\" in the list, found %s", tok_names[p->tok.kind]);
	}
	if (nd->nlist)
		nd->list = rfx_realloc(nd->list, nd->nlist * sizeof(*nd->list));
	return rc ? rc : next(p);
}

static bool is_cmp(tok_kind k)
{
	return k == T_EQ || k == T_NE || k == T_LT || k == T_LE || k == T_GT || k == T_GE;
}

/* operand [cmp operand | =~ regex | in [list]] */
static int parse_comparison(parser *p)
{
	operand l;
	if (parse_operand(p, &l)) {
		operand_clear(&l); /* the operand may be complete and the token after it bad */
		return -1;
	}
	tok_kind op = p->tok.kind;
	en_kind kind = is_cmp(op)			 ? EN_CMP
		       : op == T_MATCH || op == T_NMATCH ? EN_MATCH
		       : op == T_IN			 ? EN_IN
							 : EN_TRUTHY;
	int node = new_node(p, kind);
	if (node < 0) {
		operand_clear(&l);
		return -1;
	}
	p->e->nodes[node].l = l;
	p->e->nodes[node].op = op;
	p->e->nodes[node].negate = op == T_NMATCH;
	if (kind == EN_TRUTHY)
		return node;
	if (next(p))
		return -1;
	rfx_err rc = kind == EN_CMP	? parse_operand(p, &p->e->nodes[node].r)
		     : kind == EN_MATCH ? parse_regex(p, node)
					: parse_list(p, node);
	return rc ? -1 : node;
}

static int parse_or(parser *p);

static int parse_primary(parser *p)
{
	if (p->tok.kind != T_LPAREN)
		return parse_comparison(p);
	size_t open = p->tok.pos;
	if (next(p))
		return -1;
	int inner = parse_or(p);
	if (inner < 0)
		return -1;
	if (p->tok.kind != T_RPAREN) {
		fail(p, RFX_ERR_PARSE, p->tok.pos,
		     "expected \")\" to close the \"(\" at column %zu, found %s", open + 1,
		     tok_names[p->tok.kind]);
		return -1;
	}
	if (next(p))
		return -1;
	if (is_cmp(p->tok.kind) || p->tok.kind == T_MATCH || p->tok.kind == T_NMATCH || p->tok.kind == T_IN) {
		fail(p, RFX_ERR_PARSE, p->tok.pos, "%s cannot follow a parenthesized condition",
		     tok_names[p->tok.kind]);
		return -1;
	}
	return inner;
}

/* ! binds looser than comparisons: `!tags.env == "prod"` is `!(tags.env == "prod")`. */
static int parse_not(parser *p)
{
	if (p->tok.kind != T_NOT)
		return parse_primary(p);
	if (++p->depth > EXPR_MAX_DEPTH) {
		fail(p, RFX_ERR_INVAL, p->tok.pos, "expression nested deeper than %d levels", EXPR_MAX_DEPTH);
		return -1;
	}
	if (next(p))
		return -1;
	int inner = parse_not(p);
	p->depth--;
	if (inner < 0)
		return -1;
	int node = new_node(p, EN_NOT);
	if (node >= 0)
		p->e->nodes[node].a = inner;
	return node;
}

static int parse_binary(parser *p, tok_kind op, en_kind kind, int (*sub)(parser *))
{
	int left = sub(p);
	while (left >= 0 && p->tok.kind == op) {
		if (next(p))
			return -1;
		int right = sub(p);
		if (right < 0)
			return -1;
		int node = new_node(p, kind);
		if (node < 0)
			return -1;
		p->e->nodes[node].a = left;
		p->e->nodes[node].b = right;
		left = node;
	}
	return left;
}

static int parse_and(parser *p)
{
	return parse_binary(p, T_AND, EN_AND, parse_not);
}

static int parse_or(parser *p)
{
	if (++p->depth > EXPR_MAX_DEPTH) {
		fail(p, RFX_ERR_INVAL, p->tok.pos, "expression nested deeper than %d levels", EXPR_MAX_DEPTH);
		return -1;
	}
	int node = parse_binary(p, T_OR, EN_OR, parse_and);
	p->depth--;
	return node;
}

rfx_err expr_compile(const char *src, expr **out, int *err_col, char *err, size_t errlen)
{
	char dummy[8];
	parser p = {.src = src,
		    .len = strlen(src),
		    .err = errlen ? err : dummy,
		    .errlen = errlen ? errlen : sizeof(dummy)};
	*out = NULL;
	*err_col = 0;
	p.err[0] = '\0';
	if (p.len > EXPR_MAX_LEN) {
		fail(&p, RFX_ERR_INVAL, EXPR_MAX_LEN, "expression longer than %d bytes", EXPR_MAX_LEN);
		goto out;
	}
	p.e = rfx_calloc(1, sizeof(*p.e));
	p.e->src = rfx_strdup(src);
	if (next(&p))
		goto out;
	if (p.tok.kind == T_EOF) {
		fail(&p, RFX_ERR_PARSE, 0, "empty expression");
		goto out;
	}
	p.e->root = parse_or(&p);
	if (p.e->root >= 0 && p.tok.kind != T_EOF)
		fail(&p, RFX_ERR_PARSE, p.tok.pos,
		     "unexpected %s after a complete condition (missing && or ||?)", tok_names[p.tok.kind]);
out:
	RFX_FREE(p.tok.text);
	if (p.rc) {
		*err_col = (int)p.err_pos + 1;
		expr_free(p.e);
		return p.rc;
	}
	p.e->nodes = rfx_realloc(p.e->nodes, p.e->n * sizeof(*p.e->nodes)); /* rules live long: no slack */
	*out = p.e;
	return RFX_OK;
}

static void node_clear(enode *nd)
{
	operand_clear(&nd->l);
	if (nd->kind == EN_CMP)
		operand_clear(&nd->r);
	if (nd->kind == EN_MATCH) {
		match_regex_free(nd->re);
		free(nd->re_src);
	}
	if (nd->kind == EN_IN) {
		for (size_t j = 0; j < nd->nlist; j++)
			operand_clear(&nd->list[j]);
		free(nd->list);
	}
}

void expr_free(expr *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n; i++)
		node_clear(&e->nodes[i]);
	free(e->nodes);
	free(e->src);
	free(e);
}

const char *expr_source(const expr *e)
{
	return e->src;
}

/* ---- evaluation ---- */

static const char *operand_value(const operand *o, const eval_ctx *c, char *buf, bool *present)
{
	*present = true;
	if (!o->is_field)
		return o->lit;
	return match_field_value(&o->f, c, buf, MATCH_TOPO_BUF, present);
}

static bool operand_number(const operand *o, const char *v, double *out)
{
	if (!o->is_field) {
		*out = o->num;
		return o->num_ok;
	}
	return match_parse_number(v, out);
}

static bool values_equal(const operand *lo, const char *l, const operand *ro, const char *r)
{
	double ln, rn;
	if (operand_number(lo, l, &ln) && operand_number(ro, r, &rn))
		return ln == rn;
	return strcmp(l, r) == 0;
}

static bool compare(tok_kind op, const operand *lo, const char *l, const operand *ro, const char *r)
{
	double ln, rn;
	if (op == T_EQ)
		return values_equal(lo, l, ro, r);
	if (op == T_NE)
		return !values_equal(lo, l, ro, r);
	if (!operand_number(lo, l, &ln) || !operand_number(ro, r, &rn))
		return false;
	switch (op) {
	case T_LT:
		return ln < rn;
	case T_LE:
		return ln <= rn;
	case T_GT:
		return ln > rn;
	case T_GE:
		return ln >= rn;
	default:
		return false;
	}
}

static bool eval_leaf(const enode *nd, const eval_ctx *c)
{
	char lbuf[MATCH_TOPO_BUF], rbuf[MATCH_TOPO_BUF];
	bool present;
	const char *l = operand_value(&nd->l, c, lbuf, &present);
	switch (nd->kind) {
	case EN_TRUTHY:
		return present && *l;
	case EN_MATCH:
		return match_regex_test(nd->re, l) != nd->negate;
	case EN_IN:
		for (size_t i = 0; i < nd->nlist; i++)
			if (values_equal(&nd->l, l, &nd->list[i], nd->list[i].lit))
				return true;
		return false;
	case EN_CMP: {
		bool rpresent;
		const char *r = operand_value(&nd->r, c, rbuf, &rpresent);
		return compare(nd->op, &nd->l, l, &nd->r, r);
	}
	default:
		return false;
	}
}

static bool eval_node(const expr *e, int i, const eval_ctx *c)
{
	const enode *nd = &e->nodes[i];
	switch (nd->kind) {
	case EN_OR:
		return eval_node(e, nd->a, c) || eval_node(e, nd->b, c);
	case EN_AND:
		return eval_node(e, nd->a, c) && eval_node(e, nd->b, c);
	case EN_NOT:
		return !eval_node(e, nd->a, c);
	default:
		return eval_leaf(nd, c);
	}
}

bool expr_eval(const expr *e, const eval_ctx *c)
{
	return eval_node(e, e->root, c);
}

/* ---- dump ---- */

typedef struct dumper {
	char *out;
	size_t len, cap;
} dumper;

static void dput(dumper *d, const char *s)
{
	size_t n = strlen(s);
	if (d->len + n >= d->cap)
		n = d->cap > d->len + 1 ? d->cap - d->len - 1 : 0;
	memcpy(d->out + d->len, s, n);
	d->len += n;
	d->out[d->len] = '\0';
}

static const char *op_text[] = {
    [T_EQ] = " == ", [T_NE] = " != ", [T_LT] = " < ", [T_LE] = " <= ", [T_GT] = " > ", [T_GE] = " >= ",
};

static void dump_operand(dumper *d, const operand *o)
{
	char path[MATCH_FIELD_NAME_MAX + 16];
	if (o->is_field) {
		match_field_path(&o->f, path, sizeof(path));
		dput(d, path);
		return;
	}
	dput(d, "\"");
	dput(d, o->lit);
	dput(d, "\"");
}

static void dump_node(dumper *d, const expr *e, int i)
{
	const enode *nd = &e->nodes[i];
	if (nd->kind == EN_OR || nd->kind == EN_AND) {
		dput(d, "(");
		dump_node(d, e, nd->a);
		dput(d, nd->kind == EN_OR ? " || " : " && ");
		dump_node(d, e, nd->b);
		dput(d, ")");
		return;
	}
	if (nd->kind == EN_NOT) {
		dput(d, "!");
		dump_node(d, e, nd->a);
		return;
	}
	dput(d, "(");
	dump_operand(d, &nd->l);
	if (nd->kind == EN_CMP) {
		dput(d, op_text[nd->op]);
		dump_operand(d, &nd->r);
	} else if (nd->kind == EN_MATCH) {
		dput(d, nd->negate ? " !~ /" : " =~ /");
		dput(d, nd->re_src);
		dput(d, "/");
	} else if (nd->kind == EN_IN) {
		dput(d, " in [");
		for (size_t j = 0; j < nd->nlist; j++) {
			if (j)
				dput(d, ", ");
			dump_operand(d, &nd->list[j]);
		}
		dput(d, "]");
	}
	dput(d, ")");
}

void expr_dump(const expr *e, char *out, size_t outlen)
{
	if (!outlen)
		return;
	dumper d = {.out = out, .cap = outlen};
	out[0] = '\0';
	dump_node(&d, e, e->root);
}
