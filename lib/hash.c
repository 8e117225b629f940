/* hash.c - digests, HMACs, randomness and key files (contract: hash.h)
 *
 * One-shot OpenSSL calls (SHA512, HMAC), which keep no state between
 * threads; randomness from getrandom(2).
 */
#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

void hash_hex(const unsigned char *in, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[2 * n] = 0;
}

void hash_sha512_hex(const void *data, size_t len, char out[HASH_SHA512_HEX])
{
	unsigned char md[SHA512_DIGEST_LENGTH];

	SHA512(data, len, md);
	hash_hex(md, sizeof(md), out);
}

void hash_sha256(const void *data, size_t len, unsigned char out[32])
{
	SHA256(data, len, out);
}

static void hmac_hex(const EVP_MD *md, const struct hash_key *key,
		     const void *data, size_t len, char *out)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (HMAC(md, key->data, (int)key->len, data, len, mac, &n) == NULL) {
		/* only on allocation failure inside OpenSSL */
		out[0] = 0;
		return;
	}
	hash_hex(mac, n, out);
}

void hash_hmac_sha512_hex(const struct hash_key *key, const void *data,
			  size_t len, char out[HASH_SHA512_HEX])
{
	hmac_hex(EVP_sha512(), key, data, len, out);
}

void hash_hmac_sha256_hex(const struct hash_key *key, const void *data,
			  size_t len, char out[HASH_SHA256_HEX])
{
	hmac_hex(EVP_sha256(), key, data, len, out);
}

int hash_random(void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int key_create(const char *path, struct mr_err *err)
{
	unsigned char raw[32];
	char hex[65];

	if (hash_random(raw, sizeof(raw)) < 0) {
		mr_err_sys(err, MR_PERM, errno, "getrandom");
		return -1;
	}
	hash_hex(raw, sizeof(raw), hex);
	hex[64] = '\n';
	if (mr_mkdir_parents(path, 0700) < 0) {
		mr_err_sys(err, MR_PERM, errno,
			   "mkdir(parent of %s) (run \"mailresponder setup\" "
			   "as root, or create it for the service user, mode "
			   "0700)",
			   path);
		return -1;
	}
	return mr_write_file_atomic(path, hex, 65, 0600, err);
}

int hash_key_load(const char *path, int create, struct hash_key *key,
		  struct mr_err *err)
{
	struct stat st;
	char *data;
	size_t len;

	key->data = NULL;
	key->len = 0;
	if (lstat(path, &st) < 0) {
		if (errno != ENOENT) {
			mr_err_sys(err, MR_PERM, errno, "stat(%s)", path);
			return -1;
		}
		if (!create)
			return 0;
		if (key_create(path, err) < 0)
			return -1;
		if (lstat(path, &st) < 0) {
			mr_err_sys(err, MR_PERM, errno, "stat(%s)", path);
			return -1;
		}
	}
	if (!S_ISREG(st.st_mode)) {
		mr_err_set(err, MR_PERM, "key file %s: not a regular file",
			   path);
		return -1;
	}
	if (st.st_mode & 077) {
		mr_err_set(err, MR_PERM,
			   "key file %s: mode %03o gives access to group or "
			   "others; chmod 600 it",
			   path, (unsigned)(st.st_mode & 0777));
		return -1;
	}
	if (mr_read_file(path, 64 * 1024, &data, &len, err) < 0)
		return -1;
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' ||
			   data[len - 1] == ' ' || data[len - 1] == '\t'))
		len--;
	if (len == 0) {
		free(data);
		mr_err_set(err, MR_PERM, "key file %s: empty", path);
		return -1;
	}
	key->data = (unsigned char *)data;
	key->len = len;
	return 1;
}

void hash_key_free(struct hash_key *key)
{
	if (key->data) {
		explicit_bzero(key->data, key->len);
		free(key->data);
	}
	key->data = NULL;
	key->len = 0;
}
