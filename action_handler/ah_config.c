/* ah_config.c -- every key of reflex-action-handler, declared once: parsing, --help and the docs use this
 * table. */
#include "ah_config.h"

#include <stddef.h>

#define OFF(f) offsetof(ah_config, f)
#define SEC    1000LL
#define MIN    (60 * SEC)
#define HOUR   (60 * MIN)

static const cfg_opt ah_opts[] = {
    {"hmac_key_file", CFG_STRING, OFF(hmac_key_file), NULL, 0, 0, NULL,
     "File holding the HMAC-SHA256 key the classifier signs actions with (required)"},
    {"ssh_user", CFG_STRING, OFF(ssh_user), "reflex", 0, 0, NULL, "SSH user when an action names none"},
    {"ssh_port", CFG_INT, OFF(ssh_port), "22", 1, 65535, NULL,
     "SSH port when a target names none (host:port)"},
    {"ssh_key_file", CFG_STRING, OFF(ssh_key_file), "/etc/reflex/ssh/id_ed25519", 0, 0, NULL,
     "Private key for SSH public-key authentication (unencrypted, OpenSSH or PEM format)"},
    {"ssh_known_hosts_file", CFG_STRING, OFF(ssh_known_hosts_file), "/etc/reflex/ssh/known_hosts", 0, 0, NULL,
     "known_hosts file every target's host key is checked against; unknown or changed keys fail the action"},
    {"targets_allowed", CFG_STRLIST, OFF(targets_allowed), "[]", 0, 0, NULL,
     "Globs a target (host, or host:port) must match; empty: nothing runs"},
    {"spool_dir", CFG_STRING, OFF(spool_dir), "/var/lib/reflex/action-handler", 0, 0, NULL,
     "Directory of the durable action journal and the pause flag"},
    {"workers", CFG_INT, OFF(workers), "8", 1, 256, NULL,
     "Actions run at the same time (at most one per target)"},
    {"ssh_connect_timeout", CFG_DURATION, OFF(ssh_connect_timeout), "10s", 100, 5 * MIN, NULL,
     "Bound on TCP connect, SSH handshake and authentication"},
    {"ssh_idle_timeout", CFG_DURATION, OFF(ssh_idle_timeout), "60s", 0, HOUR, NULL,
     "How long an idle SSH connection is kept for the next action on that target; 0 disables reuse"},
    {"ssh_pool_size", CFG_INT, OFF(ssh_pool_size), "256", 0, 100000, NULL,
     "Idle SSH connections kept at most"},
    {"output_max_bytes", CFG_SIZE, OFF(output_max_bytes), "64KiB", 256, 1 << 20, NULL,
     "Captured stdout and stderr per target, each; the rest is discarded and the result marked truncated"},
    {"default_timeout", CFG_DURATION, OFF(default_timeout), "60s", 100, 24 * HOUR, NULL,
     "Command timeout when an action gives none"},
    {"max_timeout", CFG_DURATION, OFF(max_timeout), "1h", 100, 24 * HOUR, NULL,
     "Largest timeout an action may ask for (larger: 400)"},
    {"queue_max", CFG_INT, OFF(queue_max), "10000", 1, 1000000, NULL,
     "Queued target runs at most; beyond, new actions get 503 and are not stored"},
    {"history_size", CFG_INT, OFF(history_size), "10000", 10, 1000000, NULL,
     "Finished actions kept for the API and the limits after restart"},
    {"shutdown_grace", CFG_DURATION, OFF(shutdown_grace), "5s", 0, 10 * MIN, NULL,
     "On SIGTERM, how long running commands may finish before they are cut off and recorded interrupted"},
    {"opsgenie_url", CFG_STRING, OFF(opsgenie_url), NULL, 0, 0, NULL,
     "OpsGenie API base URL (https://api.opsgenie.com, https://api.eu.opsgenie.com); unset: no OpsGenie "
     "write-back"},
    {"opsgenie_api_key_file", CFG_STRING, OFF(opsgenie_api_key_file), NULL, 0, 0, NULL,
     "File holding the OpsGenie API integration key"},
    {"opsgenie_sources", CFG_STRLIST, OFF(opsgenie_sources), "[opsgenie]", 0, 0, NULL,
     "Event sources whose results go to OpsGenie (opsgenie: by alert id; others: by alias = source_id)"},
    {"dynatrace_url", CFG_STRING, OFF(dynatrace_url), NULL, 0, 0, NULL,
     "Dynatrace environment URL (https://<env>.live.dynatrace.com); unset: no Dynatrace write-back"},
    {"dynatrace_token_file", CFG_STRING, OFF(dynatrace_token_file), NULL, 0, 0, NULL,
     "File holding a Dynatrace API token with problems.write"},
    {"dynatrace_sources", CFG_STRLIST, OFF(dynatrace_sources), "[dynatrace]", 0, 0, NULL,
     "Event sources whose results are commented on the Dynatrace problem (source_id = problemId)"},
    {"webhook_url", CFG_STRING, OFF(webhook_url), NULL, 0, 0, NULL,
     "URL that receives every finished action's result as JSON (POST); unset: none"},
    {"webhook_token_file", CFG_STRING, OFF(webhook_token_file), NULL, 0, 0, NULL,
     "File holding a bearer token sent to webhook_url"},
    {"writeback_retries", CFG_INT, OFF(writeback_retries), "5", 0, 50, NULL,
     "Retries of a failed write-back call (transport errors, 429, 5xx)"},
    {"writeback_backoff", CFG_DURATION, OFF(writeback_backoff), "1s", 10, 10 * MIN, NULL,
     "First retry delay; doubles per retry up to 5 minutes (a Retry-After answer wins)"},
    {"writeback_timeout", CFG_DURATION, OFF(writeback_timeout), "10s", 100, 5 * MIN, NULL,
     "Bound on one write-back HTTP call"},
    {"writeback_ca_file", CFG_STRING, OFF(writeback_ca_file), NULL, 0, 0, NULL,
     "CA bundle for write-back TLS; unset: the system store"},
    {0},
};

const cfg_spec ah_config_spec = {
    .service = "action-handler",
    .binary = "reflex-action-handler",
    .summary = "runs signed remediation actions over SSH under safety limits and writes results back",
    .default_port = 8081,
    .opts = ah_opts,
    .extra_usage = NULL,
};
