/* auth.h -- bearer tokens from files (constant-time checks), secrets from files, HMAC-SHA256 signatures. */
#ifndef RFX_AUTH_H
#define RFX_AUTH_H

#include "rfx.h"

typedef struct auth_tokens auth_tokens;

/* One token per line, blank lines and # comments ignored, surrounding whitespace trimmed. An empty file is an
 * error. */
rfx_err auth_tokens_load(const char *path, auth_tokens **out, char *err, size_t errlen);
void auth_tokens_free(auth_tokens *t);
size_t auth_tokens_count(const auth_tokens *t);
/* Loads a service's api_tokens_file and admin_tokens_file (either may be NULL: that set stays NULL). On error
 * prints
 * "<binary>: <key>: <reason>" to stderr and returns it. */
rfx_err auth_tokens_load_config(const char *binary, const char *api_file, const char *admin_file,
				auth_tokens **api, auth_tokens **admin);
/* Checks an Authorization header value ("Bearer <token>") against every token in constant time. */
bool auth_tokens_check(const auth_tokens *t, const char *authorization);

/* Reads a secret file, trailing whitespace removed. The content never goes to a log or an error message. */
rfx_err auth_read_secret(const char *path, char **out, size_t *len_out, char *err, size_t errlen);

/* HMAC-SHA256 of data with key, as 64 lowercase hex chars + NUL. */
void auth_hmac_sha256_hex(const void *key, size_t keylen, const void *data, size_t len, char out[65]);
/* Verifies a "sha256=<hex>" header value in constant time. */
bool auth_hmac_verify(const void *key, size_t keylen, const void *data, size_t len, const char *header);

#endif
