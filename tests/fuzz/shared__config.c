/* shared__config.c -- fuzzes config file loading through the option table: every key type, errors and dumps.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

struct fuzz_cfg {
	cfg_common common;
	char *name;
	long long count;
	bool flag;
	int64_t interval_ms;
	long long size;
	char *mode;
	cfg_strlist list;
	cfg_strmap map;
	cfg_strlist custom;
};

/* A structured key: a sequence of mappings with a "name" each, like the poller's feeds. */
static rfx_err parse_names(const yt_node *node, void *field, char *err, size_t errlen)
{
	cfg_strlist *l = field;
	if (node->kind != YT_SEQ) {
		snprintf(err, errlen, "expected a list");
		return RFX_ERR_INVAL;
	}
	for (size_t i = 0; i < node->n; i++) {
		const yt_node *name = yt_map_get(node->items[i], "name");
		if (!name || name->kind != YT_SCALAR) {
			snprintf(err, errlen, "item %zu has no name", i);
			return RFX_ERR_INVAL;
		}
		l->v = rfx_realloc(l->v, (l->n + 1) * sizeof(*l->v));
		l->v[l->n++] = rfx_strdup(name->scalar);
	}
	return RFX_OK;
}

static void free_names(void *field)
{
	cfg_strlist *l = field;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static const cfg_opt opts[] = {
    {"name", CFG_STRING, offsetof(struct fuzz_cfg, name), "x", 0, 0, NULL, "name"},
    {"count", CFG_INT, offsetof(struct fuzz_cfg, count), "10", -5, 1000, NULL, "count"},
    {"flag", CFG_BOOL, offsetof(struct fuzz_cfg, flag), "false", 0, 0, NULL, "flag"},
    {"interval", CFG_DURATION, offsetof(struct fuzz_cfg, interval_ms), "1s", 0, 0, NULL, "interval"},
    {"size", CFG_SIZE, offsetof(struct fuzz_cfg, size), "1KiB", 0, 0, NULL, "size"},
    {"mode", CFG_ENUM, offsetof(struct fuzz_cfg, mode), "a", 0, 0, "a|b|c", "mode"},
    {"list", CFG_STRLIST, offsetof(struct fuzz_cfg, list), NULL, 0, 0, NULL, "list"},
    {"map", CFG_STRMAP, offsetof(struct fuzz_cfg, map), NULL, 0, 0, NULL, "map"},
    {"feeds", CFG_CUSTOM, offsetof(struct fuzz_cfg, custom), NULL, 0, 0, NULL, "feeds", parse_names,
     free_names},
    {0},
};

static const cfg_spec spec = {.service = "fuzz", .binary = "reflex-fuzz", .default_port = 1234, .opts = opts};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static FILE *devnull;
	char path[64], err[512];
	if (fd < 0) {
		fd = memfd_create("config", 0);
		devnull = fopen("/dev/null", "w");
		if (fd < 0 || !devnull)
			abort();
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct fuzz_cfg cfg;
	memset(&cfg, 0, sizeof(cfg));
	err[0] = '\0';
	rfx_err rc = config_load(&spec, &cfg, path, false, err, sizeof(err));
	if (rc && !err[0])
		abort(); /* every failure names its reason */
	if (!rc) {
		if (cfg.count < -5 || cfg.count > 1000 || !cfg.mode)
			abort();
		config_dump(&spec, &cfg, devnull);
	}
	config_free(&spec, &cfg);
	return 0;
}
