/* auth.c -- unit tests for token files, constant-time bearer checks, secrets and HMAC-SHA256. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"

static char *write_tmp(const char *content)
{
	char *path = rfx_strdup("/tmp/rfx-auth-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

static void test_token_file(void **state)
{
	char *path = write_tmp("# operators\n  alpha-token  \n\n\tbeta\r\n# gamma\ndelta");
	auth_tokens *t = NULL;
	char err[256] = "";
	assert_int_equal(auth_tokens_load(path, &t, err, sizeof(err)), RFX_OK);
	assert_int_equal(auth_tokens_count(t), 3);
	assert_true(auth_tokens_check(t, "Bearer alpha-token"));
	assert_true(auth_tokens_check(t, "bearer beta"));
	assert_true(auth_tokens_check(t, "Bearer delta"));
	assert_false(auth_tokens_check(t, "Bearer gamma"));
	assert_false(auth_tokens_check(t, "Bearer # gamma"));
	assert_false(auth_tokens_check(t, "Bearer alpha"));
	assert_false(auth_tokens_check(t, "Bearer alpha-token-x"));
	assert_false(auth_tokens_check(t, "Basic alpha-token"));
	assert_false(auth_tokens_check(t, "alpha-token"));
	assert_false(auth_tokens_check(t, "Bearer "));
	assert_false(auth_tokens_check(t, NULL));
	assert_false(auth_tokens_check(NULL, "Bearer beta"));
	auth_tokens_free(t);
	unlink(path);
	free(path);
}

static void test_token_file_errors(void **state)
{
	char *path = write_tmp("# nothing but comments\n\n");
	auth_tokens *t = NULL;
	char err[256] = "";
	assert_int_equal(auth_tokens_load(path, &t, err, sizeof(err)), RFX_ERR_INVAL);
	assert_non_null(strstr(err, path));
	assert_null(t);
	unlink(path);
	assert_int_equal(auth_tokens_load(path, &t, err, sizeof(err)), RFX_ERR_NOTFOUND);
	assert_non_null(strstr(err, "no such file"));
	free(path);
}

static void test_secret(void **state)
{
	char *path = write_tmp("s3cr3t value \n\n");
	char *s = NULL, err[256] = "";
	size_t len = 0;
	assert_int_equal(auth_read_secret(path, &s, &len, err, sizeof(err)), RFX_OK);
	assert_string_equal(s, "s3cr3t value");
	assert_int_equal(len, 12);
	free(s);
	unlink(path);
	free(path);
	path = write_tmp(" \n");
	assert_int_equal(auth_read_secret(path, &s, &len, err, sizeof(err)), RFX_ERR_INVAL);
	assert_null(strstr(err, "s3cr3t"));
	unlink(path);
	free(path);
}

static void test_hmac(void **state)
{
	const char *data = "The quick brown fox jumps over the lazy dog";
	const char *want = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
	char hex[65];
	auth_hmac_sha256_hex("key", 3, data, strlen(data), hex);
	assert_string_equal(hex, want);

	char hdr[80];
	snprintf(hdr, sizeof(hdr), "sha256=%s", want);
	assert_true(auth_hmac_verify("key", 3, data, strlen(data), hdr));
	snprintf(hdr, sizeof(hdr), "sha256=F7BC83F430538424B13298E6AA6FB143EF4D59A14946175997479DBC2D1A3CD8");
	assert_true(auth_hmac_verify("key", 3, data, strlen(data), hdr));
	assert_false(auth_hmac_verify("kez", 3, data, strlen(data), hdr));
	assert_false(auth_hmac_verify("key", 3, data, strlen(data) - 1, hdr));
	snprintf(hdr, sizeof(hdr), "sha256=%.63s0", want);
	assert_false(auth_hmac_verify("key", 3, data, strlen(data), hdr));
	snprintf(hdr, sizeof(hdr), "sha1=%s", want);
	assert_false(auth_hmac_verify("key", 3, data, strlen(data), hdr));
	assert_false(auth_hmac_verify("key", 3, data, strlen(data), "sha256=abc"));
	assert_false(auth_hmac_verify("key", 3, data, strlen(data), NULL));
	/* empty key and data still sign */
	auth_hmac_sha256_hex("", 0, "", 0, hex);
	assert_string_equal(hex, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token_file),
	    cmocka_unit_test(test_token_file_errors),
	    cmocka_unit_test(test_secret),
	    cmocka_unit_test(test_hmac),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
