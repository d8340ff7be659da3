/* classifier__expr.c -- fuzzes the `when` expression compiler and evaluator, and the template compiler and
 * renderer (shell-quoted and raw) on the same input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../classifier/expr.h"
#include "../../classifier/template.h"

static const char *topo_field(void *ud, const event *ev, const char *name, char *buf, size_t buflen)
{
	snprintf(buf, buflen, "%s", name[0] == 'd' ? "12" : name);
	return buf;
}

static event *sample_event(void)
{
	event *e = event_new(SRC_ALERTMANAGER);
	event_set(&e->title, "Disk 97% full on web-01");
	event_set(&e->severity, "critical");
	event_set(&e->entity, "web-01");
	event_set(&e->event_type, "DiskFull");
	event_tag_set(e, "load", "10.5");
	event_tag_set(e, "env", "prod");
	event_tag_set(e, "q", "it's \"q\" $(x) `y`");
	return e;
}

static void fuzz_expr(const char *src, const eval_ctx *c)
{
	expr *e;
	int col;
	char err[300], dump[2048];
	if (expr_compile(src, &e, &col, err, sizeof(err)) != RFX_OK) {
		if (col < 1 || (size_t)col > strlen(src) + 1)
			abort(); /* error columns point into the source */
		return;
	}
	expr_eval(e, c);
	expr_dump(e, dump, sizeof(dump));
	expr_free(e);
}

static void fuzz_template(const char *src, const eval_ctx *c)
{
	template *t;
	int col;
	char err[300], *out;
	if (template_compile(src, &t, &col, err, sizeof(err)) != RFX_OK)
		return;
	for (int quote = 0; quote < 2; quote++)
		if (template_render(t, c, quote, &out, err, sizeof(err)) == RFX_OK)
			free(out);
	if (template_render_target(t, c, &out, err, sizeof(err)) == RFX_OK)
		free(out);
	template_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 8192)
		return 0;
	char *src = malloc(size + 1);
	memcpy(src, data, size);
	src[size] = '\0';
	event *ev = sample_event();
	eval_ctx c = {.ev = ev, .topo_field = topo_field};
	fuzz_expr(src, &c);
	fuzz_template(src, &c);
	event_free(ev);
	free(src);
	return 0;
}
