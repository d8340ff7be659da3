/* sshpool.h -- SSH connections: connect with a timeout, strict host-key check against ssh_known_hosts_file,
 * public-key authentication, and warm connections kept per user@host:port for the next action there. */
#ifndef AH_SSHPOOL_H
#define AH_SSHPOOL_H

#include <libssh/libssh.h>
#include "ah_config.h"

typedef struct sshpool sshpool;

typedef struct sshpool_conn {
	ssh_session s;
	char *key; /* user@host:port */
	int64_t idle_since_ms;
	long kh_mtime_ns; /* known_hosts as it was when the host key was checked */
} sshpool_conn;

#define SSHPOOL_REASON_MAX 32

/* Checks that the key loads and the known_hosts file exists; starts the idle reaper. */
rfx_err sshpool_open(const ah_config *cfg, sshpool **out, char *err, size_t errlen);
void sshpool_close(sshpool *p);
/* A connected, verified, authenticated session: warm when one is idle for that key and known_hosts has not
 * changed since, else new. On failure reason is connect_failed, connect_timeout, host_key_unknown,
 * host_key_changed, host_key_error or auth_failed and err the detail. */
rfx_err sshpool_get(sshpool *p, const char *host, int port, const char *user, sshpool_conn **out,
		    bool *reused, char reason[SSHPOOL_REASON_MAX], char *err, size_t errlen);
/* Hands a connection back: kept warm when healthy and reuse is on, else disconnected. */
void sshpool_put(sshpool *p, sshpool_conn *c, bool healthy);
size_t sshpool_idle(sshpool *p);

#endif
