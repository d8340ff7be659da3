/* ah_config.h -- the action handler's configuration: one declarative table of keys (see ah_config.c). */
#ifndef AH_CONFIG_H
#define AH_CONFIG_H

#include <stdint.h>
#include "config.h"

typedef struct ah_config {
	cfg_common common;
	char *hmac_key_file;
	char *ssh_user;
	long long ssh_port;
	char *ssh_key_file;
	char *ssh_known_hosts_file;
	cfg_strlist targets_allowed;
	char *spool_dir;
	long long workers;
	int64_t ssh_connect_timeout; /* ms */
	int64_t ssh_idle_timeout;    /* ms; 0: no warm connections */
	long long ssh_pool_size;
	long long output_max_bytes;
	int64_t default_timeout; /* ms */
	int64_t max_timeout;	 /* ms */
	long long queue_max;
	long long history_size;
	int64_t shutdown_grace; /* ms */
	char *opsgenie_url;
	char *opsgenie_api_key_file;
	cfg_strlist opsgenie_sources;
	char *dynatrace_url;
	char *dynatrace_token_file;
	cfg_strlist dynatrace_sources;
	char *webhook_url;
	char *webhook_token_file;
	long long writeback_retries;
	int64_t writeback_backoff; /* ms */
	int64_t writeback_timeout; /* ms */
	char *writeback_ca_file;
} ah_config;

extern const cfg_spec ah_config_spec;

#endif
