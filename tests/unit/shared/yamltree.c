/* yamltree.c -- unit tests for the YAML tree: positions, documents, duplicates, aliases, depth, conversions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "yamltree.h"

static yt_node **parse_ok(const char *text, size_t *n)
{
	yt_node **docs;
	yt_error err;
	rfx_err rc = yt_parse(text, strlen(text), &docs, n, &err);
	if (rc)
		fail_msg("parse failed at %d:%d: %s", err.line, err.col, err.reason);
	return docs;
}

static yt_error parse_fail(const char *text)
{
	yt_node **docs = (yt_node **)1;
	size_t n = 99;
	yt_error err;
	assert_int_equal(yt_parse(text, strlen(text), &docs, &n, &err), RFX_ERR_PARSE);
	assert_null(docs);
	assert_int_equal(n, 0);
	assert_true(err.reason[0] != '\0');
	return err;
}

static void test_positions(void **state)
{
	size_t n;
	yt_node **docs = parse_ok("name: x\nmatch:\n  source: alertmanager\n  tags: [a, \"b\"]\n", &n);
	assert_int_equal(n, 1);
	const yt_node *root = docs[0];
	assert_int_equal(root->kind, YT_MAP);
	assert_int_equal(root->n, 2);
	const yt_node *name = yt_map_get(root, "name");
	assert_int_equal(name->line, 1);
	assert_int_equal(name->col, 7);
	const yt_node *match = yt_map_get(root, "match");
	assert_int_equal(match->kind, YT_MAP);
	const yt_node *src = yt_map_get(match, "source");
	assert_string_equal(src->scalar, "alertmanager");
	assert_int_equal(src->line, 3);
	assert_int_equal(src->col, 11);
	assert_int_equal(match->pairs[0].key->line, 3);
	assert_int_equal(match->pairs[0].key->col, 3);
	const yt_node *tags = yt_map_get(match, "tags");
	assert_int_equal(tags->kind, YT_SEQ);
	assert_int_equal(tags->n, 2);
	assert_false(tags->items[0]->quoted);
	assert_true(tags->items[1]->quoted);
	assert_int_equal(tags->items[1]->col, 13);
	assert_null(yt_map_get(root, "absent"));
	assert_null(yt_map_get(name, "x"));
	assert_string_equal(yt_kind_name(YT_SEQ), "sequence");
	yt_free_docs(docs, n);
}

static void test_multidoc(void **state)
{
	size_t n;
	yt_node **docs = parse_ok("a: 1\n---\n# only a comment\n---\nb: 2\n---\n", &n);
	assert_int_equal(n, 2);
	assert_non_null(yt_map_get(docs[0], "a"));
	assert_non_null(yt_map_get(docs[1], "b"));
	assert_int_equal(docs[1]->line, 5);
	yt_free_docs(docs, n);
	docs = parse_ok("", &n);
	assert_int_equal(n, 0);
	yt_free_docs(docs, n);
}

static void test_errors(void **state)
{
	yt_error e = parse_fail("a: 1\nb: 2\na: 3\n");
	assert_int_equal(e.line, 3);
	assert_int_equal(e.col, 1);
	assert_non_null(strstr(e.reason, "duplicate key"));

	e = parse_fail("base: &b {x: 1}\nuse: *b\n");
	assert_int_equal(e.line, 2);
	assert_non_null(strstr(e.reason, "alias"));

	e = parse_fail("a: [1, 2\nb: 3\n");
	assert_true(e.line >= 2);

	e = parse_fail("a:\n  b: 1\n c: 2\n");
	assert_true(e.line == 3);

	e = parse_fail("? [a, b]\n: 1\n");
	assert_non_null(strstr(e.reason, "keys must be scalars"));
}

static void test_depth(void **state)
{
	rfx_buf b;
	buf_init(&b, 1 << 16);
	for (int i = 0; i < YT_MAX_DEPTH; i++)
		buf_putc(&b, '[');
	for (int i = 0; i < YT_MAX_DEPTH; i++)
		buf_putc(&b, ']');
	size_t n;
	yt_node **docs = parse_ok(buf_cstr(&b), &n);
	assert_int_equal(n, 1);
	yt_free_docs(docs, n);
	buf_reset(&b);
	for (int i = 0; i < YT_MAX_DEPTH + 1; i++)
		buf_putc(&b, '[');
	for (int i = 0; i < YT_MAX_DEPTH + 1; i++)
		buf_putc(&b, ']');
	yt_error e = parse_fail(buf_cstr(&b));
	assert_non_null(strstr(e.reason, "nesting"));
	buf_free(&b);
}

static void test_scalars(void **state)
{
	size_t n;
	yt_node **docs = parse_ok("t: true\ny: Yes\nf: off\nq: \"true\"\ni: -42\nqi: \"8080\"\nd: 0.25\nnul: "
				  "~\nempty:\ns: !!str on\n"
				  "big: 99999999999999999999\nx: 1e3x\n",
				  &n);
	const yt_node *r = docs[0];
	bool bv;
	long long iv;
	double dv;
	assert_true(yt_as_bool(yt_map_get(r, "t"), &bv) && bv);
	assert_true(yt_as_bool(yt_map_get(r, "y"), &bv) && bv);
	assert_true(yt_as_bool(yt_map_get(r, "f"), &bv) && !bv);
	assert_false(yt_as_bool(yt_map_get(r, "q"), &bv));
	assert_false(yt_as_bool(yt_map_get(r, "s"), &bv));
	assert_false(yt_as_bool(yt_map_get(r, "i"), &bv));
	assert_true(yt_as_int(yt_map_get(r, "i"), &iv) && iv == -42);
	assert_true(yt_as_int(yt_map_get(r, "qi"), &iv) && iv == 8080);
	assert_false(yt_as_int(yt_map_get(r, "d"), &iv));
	assert_false(yt_as_int(yt_map_get(r, "big"), &iv));
	assert_true(yt_as_double(yt_map_get(r, "d"), &dv) && dv == 0.25);
	assert_true(yt_as_double(yt_map_get(r, "i"), &dv) && dv == -42);
	assert_false(yt_as_double(yt_map_get(r, "x"), &dv));
	assert_true(yt_map_get(r, "nul")->null);
	assert_true(yt_map_get(r, "empty")->null);
	assert_string_equal(yt_map_get(r, "empty")->scalar, "");
	assert_false(yt_map_get(r, "q")->null);
	assert_false(yt_as_int(yt_map_get(r, "nul"), &iv));
	yt_free_docs(docs, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_positions), cmocka_unit_test(test_multidoc), cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_depth),     cmocka_unit_test(test_scalars),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
