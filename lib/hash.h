/* hash.h - digests, HMACs, randomness and secret key files (OpenSSL)
 * SYNOPSIS     void hash_sha512_hex(const void *data, size_t len,
 *                                   char out[HASH_SHA512_HEX]);
 *              void hash_hmac_sha512_hex(const struct hash_key *key,
 *                                        const void *data, size_t len,
 *                                        char out[HASH_SHA512_HEX]);
 *              void hash_hex(const unsigned char *in, size_t n, char *out);
 *              int hash_random(void *buf, size_t n);
 *              int hash_key_load(const char *path, int create,
 *                                struct hash_key *key, struct mr_err *err);
 * DESCRIPTION  The store keeps SHA-512 hex (or HMAC-SHA-512 hex with the
 *              store's hash_key) of lower-cased addresses and domains
 *              (design.md s.7); events carry HMAC-SHA-256 hex with the
 *              event key (s.8). Hex is lower case. Key files hold the
 *              secret as text; hash_key_load() creates a missing one (32
 *              random bytes as hex, mode 0600, its folders 0700) when
 *              asked, and refuses a symlink, a non-regular or empty file,
 *              or one that group or others may access. hash_key_free()
 *              wipes the secret. All functions are thread-safe.
 * DIAGNOSTICS  hash_key_load: 1 loaded, 0 absent (create not set), -1
 *              with err (MR_PERM) naming the file and the fix.
 *              hash_random: 0, or -1 with errno. An HMAC that OpenSSL
 *              cannot compute (allocation) leaves out empty.
 * SEE ALSO     addr.h, event.h, priv.h
 */
#ifndef MR_HASH_H
#define MR_HASH_H

#include <stddef.h>

#include "mr.h"

#define HASH_SHA512_HEX 129 /* 128 hex digits + NUL */
#define HASH_SHA256_HEX 65

struct hash_key {
	unsigned char *data;
	size_t len;
};

void hash_sha512_hex(const void *data, size_t len, char out[HASH_SHA512_HEX]);
void hash_sha256(const void *data, size_t len, unsigned char out[32]);
void hash_hmac_sha512_hex(const struct hash_key *key, const void *data,
			  size_t len, char out[HASH_SHA512_HEX]);
void hash_hmac_sha256_hex(const struct hash_key *key, const void *data,
			  size_t len, char out[HASH_SHA256_HEX]);
void hash_hex(const unsigned char *in, size_t n, char *out /* 2n+1 */);

/* Fill buf with n random bytes (getrandom); 0 or -1. */
int hash_random(void *buf, size_t n);

/* Load a secret from path (whitespace at the end is dropped). When the file
 * does not exist and create is set, write 32 random bytes as hex with mode
 * 0600 first. Refuses a file readable or writable by group or others, or a
 * symlink. Returns 1 loaded, 0 absent (create not set), -1 error. */
int hash_key_load(const char *path, int create, struct hash_key *key,
		  struct mr_err *err);
void hash_key_free(struct hash_key *key);

#endif
