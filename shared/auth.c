/* auth.c -- bearer tokens and secrets from files, HMAC-SHA256 signing and constant-time verification. */
#include "auth.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#define AUTH_FILE_MAX	(1024 * 1024)
#define AUTH_MAX_TOKENS 4096
#define AUTH_SECRET_MAX (64 * 1024)

/* Tokens are kept as SHA-256 digests: every comparison is then over 32 bytes, so timing reveals neither a
 * token's content nor its length. */
struct auth_tokens {
	unsigned char (*digests)[SHA256_DIGEST_LENGTH];
	size_t n;
};

/* The SHA-256 implementation, fetched once: SHA256() looks it up again on every call, on every request. Each
 * thread keeps its digest context: setting one up costs more than hashing a token. */
static EVP_MD *sha256_md;
static pthread_key_t sha256_ctx_key;
static bool sha256_have_key;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void ctx_free(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	sha256_have_key = pthread_key_create(&sha256_ctx_key, ctx_free) == 0;
}

static EVP_MD_CTX *thread_ctx(void)
{
	if (!sha256_have_key)
		return NULL;
	EVP_MD_CTX *ctx = pthread_getspecific(sha256_ctx_key);
	if (!ctx && (ctx = EVP_MD_CTX_new()) && pthread_setspecific(sha256_ctx_key, ctx)) {
		EVP_MD_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

static void token_digest(const char *tok, size_t len, unsigned char out[SHA256_DIGEST_LENGTH])
{
	pthread_once(&sha256_once, sha256_fetch);
	EVP_MD_CTX *ctx = sha256_md ? thread_ctx() : NULL;
	unsigned n;
	if (!ctx || !EVP_DigestInit_ex2(ctx, sha256_md, NULL) || !EVP_DigestUpdate(ctx, tok, len) ||
	    !EVP_DigestFinal_ex(ctx, out, &n))
		SHA256((const unsigned char *)tok, len, out);
}

static void trim(char **s, size_t *len)
{
	while (*len > 0 && isspace((unsigned char)**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && isspace((unsigned char)(*s)[*len - 1]))
		(*len)--;
}

static rfx_err read_failed(rfx_err rc, const char *path, char *err, size_t errlen)
{
	if (rc == RFX_ERR_LIMIT)
		snprintf(err, errlen, "%s: file too large", path);
	else if (rc == RFX_ERR_NOTFOUND)
		snprintf(err, errlen, "%s: no such file", path);
	else
		snprintf(err, errlen, "%s: cannot read", path);
	return rc;
}

static rfx_err add_token_line(auth_tokens *t, size_t *cap, char *line, size_t len)
{
	trim(&line, &len);
	if (len == 0 || line[0] == '#')
		return RFX_OK;
	if (t->n == AUTH_MAX_TOKENS)
		return RFX_ERR_LIMIT;
	if (t->n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		t->digests = rfx_realloc(t->digests, *cap * sizeof(*t->digests));
	}
	token_digest(line, len, t->digests[t->n++]);
	return RFX_OK;
}

rfx_err auth_tokens_load(const char *path, auth_tokens **out, char *err, size_t errlen)
{
	char *data = NULL;
	size_t len = 0, cap = 0;
	auth_tokens *t = NULL;
	rfx_err rc = rfx_read_file(path, AUTH_FILE_MAX, &data, &len);
	if (rc)
		return read_failed(rc, path, err, errlen);
	t = rfx_calloc(1, sizeof(*t));
	for (char *line = data; line < data + len;) {
		char *nl = memchr(line, '\n', (size_t)(data + len - line));
		size_t n = nl ? (size_t)(nl - line) : (size_t)(data + len - line);
		rc = add_token_line(t, &cap, line, n);
		if (rc) {
			snprintf(err, errlen, "%s: more than %d tokens", path, AUTH_MAX_TOKENS);
			goto out;
		}
		line += n + 1;
	}
	if (t->n == 0) {
		snprintf(err, errlen, "%s: no tokens in file", path);
		rc = RFX_ERR_INVAL;
		goto out;
	}
	*out = t;
	t = NULL;
out:
	if (data)
		OPENSSL_cleanse(data, len);
	RFX_FREE(data);
	auth_tokens_free(t);
	return rc;
}

void auth_tokens_free(auth_tokens *t)
{
	if (!t)
		return;
	free(t->digests);
	free(t);
}

size_t auth_tokens_count(const auth_tokens *t)
{
	return t ? t->n : 0;
}

bool auth_tokens_check(const auth_tokens *t, const char *authorization)
{
	if (!t || !authorization)
		return false;
	const char *p = authorization;
	while (*p == ' ')
		p++;
	if (strncasecmp(p, "Bearer ", 7) != 0)
		return false;
	char *tok = (char *)p + 7;
	size_t len = strlen(tok);
	trim(&tok, &len);
	if (len == 0)
		return false;
	unsigned char d[SHA256_DIGEST_LENGTH];
	token_digest(tok, len, d);
	int match = 0;
	for (size_t i = 0; i < t->n; i++)
		match |= CRYPTO_memcmp(d, t->digests[i], sizeof(d)) == 0;
	return match != 0;
}

rfx_err auth_read_secret(const char *path, char **out, size_t *len_out, char *err, size_t errlen)
{
	char *data = NULL;
	size_t len = 0;
	rfx_err rc = rfx_read_file(path, AUTH_SECRET_MAX, &data, &len);
	if (rc)
		return read_failed(rc, path, err, errlen);
	while (len > 0 && isspace((unsigned char)data[len - 1]))
		len--;
	data[len] = '\0';
	if (len == 0) {
		snprintf(err, errlen, "%s: file is empty", path);
		free(data);
		return RFX_ERR_INVAL;
	}
	*out = data;
	if (len_out)
		*len_out = len;
	return RFX_OK;
}

static void hmac_raw(const void *key, size_t keylen, const void *data, size_t len, unsigned char out[32])
{
	unsigned int outlen = 32;
	static const unsigned char empty;
	if (!HMAC(EVP_sha256(), key ? key : &empty, (int)keylen, data ? data : &empty, len, out, &outlen))
		abort(); /* only on library failure */
}

void auth_hmac_sha256_hex(const void *key, size_t keylen, const void *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[32];
	hmac_raw(key, keylen, data, len, mac);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[64] = '\0';
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes the attacker-supplied hex; only the comparison with the real MAC must be constant-time. */
static bool decode_sig(const char *hexs, unsigned char out[32])
{
	size_t len = strlen(hexs);
	while (len > 0 && isspace((unsigned char)hexs[len - 1]))
		len--;
	if (len != 64)
		return false;
	for (int i = 0; i < 32; i++) {
		int h = hex_nibble(hexs[2 * i]), l = hex_nibble(hexs[2 * i + 1]);
		if (h < 0 || l < 0)
			return false;
		out[i] = (unsigned char)(h << 4 | l);
	}
	return true;
}

bool auth_hmac_verify(const void *key, size_t keylen, const void *data, size_t len, const char *header)
{
	if (!header)
		return false;
	while (*header == ' ')
		header++;
	if (strncasecmp(header, "sha256=", 7) != 0)
		return false;
	unsigned char want[32], got[32];
	if (!decode_sig(header + 7, got))
		return false;
	hmac_raw(key, keylen, data, len, want);
	return CRYPTO_memcmp(want, got, 32) == 0;
}

rfx_err auth_tokens_load_config(const char *binary, const char *api_file, const char *admin_file,
				auth_tokens **api, auth_tokens **admin)
{
	char err[300];
	if (api_file && auth_tokens_load(api_file, api, err, sizeof(err))) {
		fprintf(stderr, "%s: api_tokens_file: %s\n", binary, err);
		return RFX_ERR_INVAL;
	}
	if (admin_file && auth_tokens_load(admin_file, admin, err, sizeof(err))) {
		fprintf(stderr, "%s: admin_tokens_file: %s\n", binary, err);
		return RFX_ERR_INVAL;
	}
	return RFX_OK;
}
