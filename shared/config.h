/* config.h -- the declarative option table: one YAML file per service, REFLEX_<KEY> environment overrides,
 * --config, --check-config, --help, --version and --config-reference (markdown for docs/) from the same
 * table.
 *
 * Each service declares its keys once:
 *   static const cfg_opt classifier_opts[] = {
 *     {"rules_dir", CFG_STRING, offsetof(struct classifier_cfg, rules_dir), "./rules", 0, 0, NULL, "Rules
 * directory"}, {0}}; The service's struct must start with `cfg_common common;` (keys every service has). */
#ifndef RFX_CONFIG_H
#define RFX_CONFIG_H

#include <stdio.h>
#include "rfx.h"
#include "yamltree.h"

/* Option tables are written positionally and leave the CFG_CUSTOM-only trailing fields out, as in the example
 * above; -Wextra would reject that under -Werror. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

typedef enum {
	CFG_STRING,   /* char * (NULL when unset and no default) */
	CFG_INT,      /* long long, bounded by min/max */
	CFG_BOOL,     /* bool */
	CFG_DURATION, /* int64_t milliseconds ("10s", "5m"), bounded by min/max in ms */
	CFG_SIZE,     /* long long bytes ("1MiB", "512KiB", "1048576"), bounded by min/max */
	CFG_ENUM,     /* char *, one of enum_values ("a|b|c") */
	CFG_STRLIST,  /* cfg_strlist: a YAML sequence of strings, or comma-separated in the environment */
	CFG_STRMAP,   /* cfg_strmap: a YAML mapping of string -> scalar (e.g. kafka_properties) */
	CFG_CUSTOM,   /* parsed by opt->parse from the YAML node (environment values are parsed as YAML) */
} cfg_type;

typedef struct cfg_strlist {
	char **v;
	size_t n;
} cfg_strlist;

typedef struct cfg_strmap {
	char **keys;
	char **values;
	size_t n;
} cfg_strmap;

typedef struct cfg_opt {
	const char *key;
	cfg_type type;
	size_t offset;	    /* of the field in the service's config struct */
	const char *def;    /* default, as it would be written in YAML; NULL: none */
	long long min, max; /* bounds for INT, DURATION (ms), SIZE; both 0: unbounded */
	const char *enum_values;
	const char *desc;
	/* CFG_CUSTOM only: parse node into field; on error write the reason (without the key) to err. */
	rfx_err (*parse)(const yt_node *node, void *field, char *err, size_t errlen);
	void (*free)(void *field); /* CFG_CUSTOM only, may be NULL; must leave the field as if zeroed */
	void (*dump)(const void *field,
		     FILE *out); /* CFG_CUSTOM only, may be NULL: one-line YAML flow form */
} cfg_opt;

/* Keys every service has. */
typedef struct cfg_common {
	char *bind;
	long long port;
	char *api_tokens_file; /* one token per line, # comments; unset: the API is open (logged as a warning)
				*/
	char *admin_tokens_file; /* tokens for admin endpoints (pause/resume, reload); unset: api tokens */
	char *log_level;
	char *audit_file;
	char *kafka_brokers;
	char *kafka_audit_topic;
	cfg_strmap kafka_properties;
	char *audit_spool_dir;
	long long max_body_bytes;
	long long http_threads;
} cfg_common;

typedef struct cfg_spec {
	const char *service; /* "classifier": default config file /etc/reflex/classifier.yaml */
	const char *binary;  /* "reflex-classifier" */
	const char *summary; /* one line for --help */
	int default_port;
	const cfg_opt *opts;	 /* service keys, ended by {0} */
	const char *extra_usage; /* service-specific command-line options for --help, or NULL */
} cfg_spec;

typedef enum { CFG_RUN = 0, CFG_EXIT_OK, CFG_EXIT_FAIL } cfg_action;

/* Handles --config FILE, --check-config, --help, --version, --config-reference; the remaining arguments
 * (argv[0] first) are left in *rest_argc and *rest_argv for the service. Loads defaults, then the file, then
 * REFLEX_<KEY>. Any error (unknown key, wrong type, out of range) is printed to stderr naming the key, and
 * CFG_EXIT_FAIL returned. cfg must be zeroed. Without --config, REFLEX_CONFIG names the file (which must then
 * exist), else the optional /etc/reflex/<service>.yaml. On CFG_RUN, log_init(spec->service, log_level) has
 * been called. *rest_argv lives for the process and belongs to config (do not free it). */
cfg_action config_init(const cfg_spec *spec, void *cfg, int argc, char **argv, int *rest_argc,
		       char ***rest_argv);

/* Loads without touching argv: defaults, then file (may be NULL), then environment. err names the key (and
 * for file values file:line:col). cfg must be zeroed or previously loaded; on error it may be partly set:
 * config_free it. */
rfx_err config_load(const cfg_spec *spec, void *cfg, const char *file, bool file_optional, char *err,
		    size_t errlen);
void config_free(const cfg_spec *spec, void *cfg);
void config_print_help(const cfg_spec *spec, FILE *out);
void config_print_reference(const cfg_spec *spec, FILE *out); /* markdown table */
/* Prints the effective configuration as YAML-ish key: value lines (secrets are only file paths, so safe). */
void config_dump(const cfg_spec *spec, const void *cfg, FILE *out);

/* Sizes as the config takes them: "1048576", "512KiB", "1MiB", "2GiB" (also K/M/G = KiB/MiB/GiB, KB/MB/GB
 * decimal). */
rfx_err config_parse_size(const char *s, long long *out);
/* The common keys (bind, port, ...), ended by {0}; port's default comes from cfg_spec.default_port. */
extern const cfg_opt config_common_opts[];

#endif
