/* sshpool.c -- libssh sessions: connect, strict host keys, key auth, and an idle pool with a reaper thread.
 */
#include "sshpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "idmap.h"
#include "log.h"

struct sshpool {
	char *key_file, *known_hosts;
	int64_t connect_ms, idle_ms;
	size_t max_idle;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	idmap *idle; /* key -> sshpool_conn (one per key: a target never runs twice at once) */
	size_t nidle;
	bool stop;
	pthread_t reaper;
	bool reaper_started;
};

static long sshpool_kh_mtime(const sshpool *p)
{
	struct stat st;
	if (stat(p->known_hosts, &st))
		return -1;
	return (long)(st.st_mtim.tv_sec * 1000000000L + st.st_mtim.tv_nsec) ^ (long)st.st_ino ^
	       (long)st.st_size;
}

static void sshpool_conn_free(sshpool_conn *c)
{
	if (!c)
		return;
	if (c->s) {
		ssh_disconnect(c->s);
		ssh_free(c->s);
	}
	free(c->key);
	free(c);
}

static bool sshpool_reap_one(const char *key, void *val, void *ud)
{
	(void)key;
	sshpool *p = ud;
	sshpool_conn *c = val;
	if (!p->stop && rfx_mono_ms() - c->idle_since_ms < p->idle_ms)
		return false;
	sshpool_conn_free(c);
	p->nidle--;
	return true;
}

static void *sshpool_reaper(void *arg)
{
	sshpool *p = arg;
	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&p->cv, &p->mu, &ts);
		idmap_sweep(p->idle, sshpool_reap_one, p);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

rfx_err sshpool_open(const ah_config *cfg, sshpool **out, char *err, size_t errlen)
{
	ssh_key key = NULL;
	*out = NULL;
	if (ssh_pki_import_privkey_file(cfg->ssh_key_file, NULL, NULL, NULL, &key) != SSH_OK) {
		snprintf(err, errlen,
			 "ssh_key_file %s: cannot load the private key (missing, unreadable or "
			 "passphrase-protected)",
			 cfg->ssh_key_file);
		return RFX_ERR_INVAL;
	}
	ssh_key_free(key);
	sshpool *p = rfx_calloc(1, sizeof(*p));
	p->key_file = rfx_strdup(cfg->ssh_key_file);
	p->known_hosts = rfx_strdup(cfg->ssh_known_hosts_file);
	p->connect_ms = cfg->ssh_connect_timeout;
	p->idle_ms = cfg->ssh_idle_timeout;
	p->max_idle = p->idle_ms > 0 ? (size_t)cfg->ssh_pool_size : 0;
	p->idle = idmap_new();
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (access(p->known_hosts, R_OK))
		LOG_WARN("ssh_known_hosts_file is not readable: every target will fail with host_key_unknown",
			 "path", p->known_hosts);
	if (pthread_create(&p->reaper, NULL, sshpool_reaper, p) == 0)
		p->reaper_started = true;
	*out = p;
	return RFX_OK;
}

static void sshpool_free_val(void *v)
{
	sshpool_conn_free(v);
}

void sshpool_close(sshpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (p->reaper_started)
		pthread_join(p->reaper, NULL);
	idmap_free(p->idle, sshpool_free_val);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->key_file);
	free(p->known_hosts);
	free(p);
}

static void sshpool_reason(char reason[SSHPOOL_REASON_MAX], const char *r)
{
	snprintf(reason, SSHPOOL_REASON_MAX, "%s", r);
}

static void sshpool_options(sshpool *p, ssh_session s, const char *host, int port, const char *user)
{
	unsigned int uport = (unsigned int)port;
	long sec = (long)(p->connect_ms / 1000), usec = (long)(p->connect_ms % 1000) * 1000;
	bool no = false;
	int yes = 1, verbosity = SSH_LOG_NOLOG;
	ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &verbosity);
	ssh_options_set(s, SSH_OPTIONS_HOST, host);
	ssh_options_set(s, SSH_OPTIONS_PORT, &uport);
	ssh_options_set(s, SSH_OPTIONS_USER, user);
	ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &sec);
	ssh_options_set(s, SSH_OPTIONS_TIMEOUT_USEC, &usec);
	/* Without it Nagle and delayed ACKs add 40 ms to every channel request. */
	ssh_options_set(s, SSH_OPTIONS_NODELAY, &yes);
	/* Only our own files count: no ~/.ssh/config, no ~/.ssh/known_hosts, no /etc/ssh/ssh_known_hosts. */
	ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no);
	ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, p->known_hosts);
	ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, p->known_hosts);
	ssh_options_set(s, SSH_OPTIONS_STRICTHOSTKEYCHECK, &yes);
}

static rfx_err sshpool_connect_tcp(sshpool *p, ssh_session s, char reason[SSHPOOL_REASON_MAX], char *err,
				   size_t errlen)
{
	int64_t t0 = rfx_mono_ms();
	if (ssh_connect(s) == SSH_OK)
		return RFX_OK;
	const char *msg = ssh_get_error(s);
	bool timed_out = strstr(msg, "imeout") || rfx_mono_ms() - t0 >= p->connect_ms - 50;
	sshpool_reason(reason, timed_out ? "connect_timeout" : "connect_failed");
	snprintf(err, errlen, "%s", msg);
	return timed_out ? RFX_ERR_TIMEOUT : RFX_ERR_UNAVAILABLE;
}

/* Never accepts a key it has not been told about: no trust on first use, no update of the file. */
static rfx_err sshpool_check_host_key(ssh_session s, const char *host, int port,
				      char reason[SSHPOOL_REASON_MAX], char *err, size_t errlen)
{
	enum ssh_known_hosts_e k = ssh_session_is_known_server(s);
	switch (k) {
	case SSH_KNOWN_HOSTS_OK:
		return RFX_OK;
	case SSH_KNOWN_HOSTS_CHANGED:
	case SSH_KNOWN_HOSTS_OTHER:
		sshpool_reason(reason, "host_key_changed");
		snprintf(err, errlen, "the host key of %s port %d does not match ssh_known_hosts_file", host,
			 port);
		break;
	case SSH_KNOWN_HOSTS_NOT_FOUND:
	case SSH_KNOWN_HOSTS_UNKNOWN:
		sshpool_reason(reason, "host_key_unknown");
		snprintf(err, errlen, "%s port %d is not in ssh_known_hosts_file", host, port);
		break;
	default:
		sshpool_reason(reason, "host_key_error");
		snprintf(err, errlen, "cannot check the host key: %s", ssh_get_error(s));
		break;
	}
	return RFX_ERR_AUTH;
}

static rfx_err sshpool_auth(sshpool *p, ssh_session s, const char *user, char reason[SSHPOOL_REASON_MAX],
			    char *err, size_t errlen)
{
	ssh_key key = NULL;
	if (ssh_pki_import_privkey_file(p->key_file, NULL, NULL, NULL, &key) != SSH_OK) {
		sshpool_reason(reason, "auth_failed");
		snprintf(err, errlen, "cannot load ssh_key_file");
		return RFX_ERR_AUTH;
	}
	int rc = ssh_userauth_publickey(s, NULL, key);
	ssh_key_free(key);
	if (rc == SSH_AUTH_SUCCESS)
		return RFX_OK;
	sshpool_reason(reason, "auth_failed");
	snprintf(err, errlen, "public-key authentication as %s refused: %s", user, ssh_get_error(s));
	return RFX_ERR_AUTH;
}

static rfx_err sshpool_connect(sshpool *p, const char *host, int port, const char *user, sshpool_conn *c,
			       char reason[SSHPOOL_REASON_MAX], char *err, size_t errlen)
{
	rfx_err rc;
	c->s = ssh_new();
	if (!c->s) {
		sshpool_reason(reason, "connect_failed");
		snprintf(err, errlen, "cannot create an SSH session");
		return RFX_ERR_INTERNAL;
	}
	sshpool_options(p, c->s, host, port, user);
	c->kh_mtime_ns = sshpool_kh_mtime(p);
	if ((rc = sshpool_connect_tcp(p, c->s, reason, err, errlen)) ||
	    (rc = sshpool_check_host_key(c->s, host, port, reason, err, errlen)) ||
	    (rc = sshpool_auth(p, c->s, user, reason, err, errlen)))
		return rc;
	return RFX_OK;
}

static sshpool_conn *sshpool_take_idle(sshpool *p, const char *key)
{
	pthread_mutex_lock(&p->mu);
	sshpool_conn *c = idmap_del(p->idle, key);
	if (c)
		p->nidle--;
	pthread_mutex_unlock(&p->mu);
	if (c && (c->kh_mtime_ns != sshpool_kh_mtime(p) || !ssh_is_connected(c->s))) {
		sshpool_conn_free(c); /* known_hosts changed: check the host key again on a new connection */
		c = NULL;
	}
	return c;
}

rfx_err sshpool_get(sshpool *p, const char *host, int port, const char *user, sshpool_conn **out,
		    bool *reused, char reason[SSHPOOL_REASON_MAX], char *err, size_t errlen)
{
	char *key = rfx_asprintf("%s@%s:%d", user, host, port);
	sshpool_conn *c = sshpool_take_idle(p, key);
	*reused = c != NULL;
	rfx_err rc = RFX_OK;
	if (!c) {
		c = rfx_calloc(1, sizeof(*c));
		c->key = key;
		key = NULL;
		rc = sshpool_connect(p, host, port, user, c, reason, err, errlen);
		if (rc) {
			sshpool_conn_free(c);
			c = NULL;
		}
	}
	free(key);
	*out = c;
	return rc;
}

void sshpool_put(sshpool *p, sshpool_conn *c, bool healthy)
{
	if (!c)
		return;
	pthread_mutex_lock(&p->mu);
	bool keep = healthy && !p->stop && p->nidle < p->max_idle && !idmap_get(p->idle, c->key);
	if (keep) {
		c->idle_since_ms = rfx_mono_ms();
		idmap_put(p->idle, c->key, c);
		p->nidle++;
	}
	pthread_mutex_unlock(&p->mu);
	if (!keep)
		sshpool_conn_free(c);
}

size_t sshpool_idle(sshpool *p)
{
	pthread_mutex_lock(&p->mu);
	size_t n = p->nidle;
	pthread_mutex_unlock(&p->mu);
	return n;
}
