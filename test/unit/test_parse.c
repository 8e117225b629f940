/* test_parse.c - unit tests for lib/parse.c (prs_*) and lib/addr.c (addr_*)
 * DESCRIPTION  Well-formed and hostile input: address forms, RFC 2047 in
 *              many charsets, Return-Path variants, the header block read
 *              from files and pipes (large bodies, short reads, EINTR),
 *              and garbage (random bytes, NULs, huge headers). The bench
 *              case prints the cost of one parse as "# ..." lines.
 */
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "mr.h"
#include "parse.h"

/* ---- helpers ------------------------------------------------------ */

/* prs_parse() wants two readable NUL bytes after the data. */
static struct prs_msg *parse_n(const char *s, size_t n)
{
	struct prs_msg *m = NULL;
	struct mr_err err;
	char *b = malloc(n + 2);

	memcpy(b, s, n);
	b[n] = b[n + 1] = 0;
	mr_err_clear(&err);
	if (prs_parse(b, n, &m, &err) != 0)
		m = NULL;
	free(b);
	return m;
}

static struct prs_msg *parse_str(const char *s)
{
	return parse_n(s, strlen(s));
}

/* valid UTF-8 and no C0 control or DEL */
static int clean(const char *s)
{
	if (s == NULL || !mr_utf8_valid(s, strlen(s)))
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7F)
			return 0;
	return 1;
}

static char *dec(const char *s)
{
	return prs_decode_2047(s, strlen(s));
}

/* decoded Subject of a one-header message */
static char *subject_of(const char *raw)
{
	char *msg = xasprintf("Subject: %s\r\n\r\nbody\r\n", raw);
	struct prs_msg *m = parse_str(msg);
	char *s = m && m->subject ? xstrdup(m->subject) : NULL;

	prs_free(&m);
	free(msg);
	return s;
}

static uint64_t rng_next(uint64_t *st)
{
	uint64_t x = *st;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*st = x;
	return x;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* A temporary file holding data; returns an fd at offset 0. */
static int tmp_fd(const char *data, size_t n)
{
	char path[] = "/tmp/test_parse.XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	unlink(path);
	if (write(fd, data, n) != (ssize_t)n || lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* n header lines "X-Hn: value n" plus From/Subject and a blank line */
static char *many_headers(size_t n, size_t *len_r)
{
	struct mr_buf b;

	buf_init(&b);
	buf_puts(&b, "From: A <a@x.test>\r\nSubject: many\r\n");
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "X-H%zu: value %zu\r\n", i, i);
	buf_puts(&b, "\r\nbody\r\n");
	return buf_steal(&b, len_r);
}

/* a Gmail-like request of about 4 KB */
static char *typical_request(size_t *len_r)
{
	struct mr_buf b;

	buf_init(&b);
	buf_puts(&b,
		 "Return-Path: <john.doe@sender.test>\r\n"
		 "X-Original-To: get@example.org\r\n"
		 "Delivered-To: get@example.org\r\n"
		 "Received: from mail-ed1-f41.google.com (mail-ed1-f41.google."
		 "com [209.85.208.41])\r\n\tby mx.example.org (Postfix) with "
		 "ESMTPS id 4VtXyZ1abcz9sQ\r\n\tfor <get@example.org>; Tue,  4 "
		 "Jun 2024 10:00:00 +0000 (UTC)\r\n"
		 "Authentication-Results: mx.example.org; dkim=pass (2048-bit "
		 "key;\r\n unprotected) header.d=sender.test header.i=@sender."
		 "test\r\n header.a=rsa-sha256 header.s=20230601 header.b=Abc"
		 "DefGh;\r\n\tdkim-atps=neutral\r\n");
	for (int i = 0; i < 3; i++)
		buf_printf(
			&b,
			"ARC-Seal: i=%d; a=rsa-sha256; t=1717495200; cv=none;"
			"\r\n        d=google.com; s=arc-20160816;\r\n"
			"        b=Qm9ndXMgc2lnbmF0dXJlIGRhdGEgZm9yIHRlc3Rpbmcg"
			"cHVycG9zZXMgb25seQ0KQm9ndXMgc2lnbmF0dXJl\r\n"
			"         ZGF0YSBmb3IgdGVzdGluZyBwdXJwb3NlcyBvbmx5DQpC"
			"b2d1cyBzaWduYXR1cmUgZGF0YSBmb3Ig\r\n"
			"         dGVzdGluZyBwdXJwb3NlcyBvbmx5DQpCb2d1cyBzaWdu"
			"YXR1cmUgZGF0YSBmb3IgdGVzdGlu==\r\n",
			i + 1);
	buf_puts(
		&b,
		"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
		"        d=sender.test; s=20230601; t=1717495200; x=1718100000;"
		"\r\n        h=to:subject:message-id:date:from:mime-version:"
		"from:to:cc\r\n         :subject:date:message-id:reply-to;\r\n"
		"        bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n"
		"        b=U29tZSBib2d1cyBzaWduYXR1cmUgYnl0ZXMgdGhhdCBsb29rIGxp"
		"a2UgYSByZWFsIHNpZ25h\r\n"
		"         dHVyZSBidXQgYXJlIG5vdCBvbmUgYXQgYWxsIFNvbWUgYm9ndXMg"
		"c2lnbmF0dXJlIGJ5dGVz\r\n"
		"         IHRoYXQgbG9vayBsaWtlIGEgcmVhbCBzaWduYXR1cmUgYnV0IGFy"
		"ZSBub3Qgb25lIGF0IGFs\r\n"
		"X-Google-Smtp-Source: AGHT+IFakeSourceValueForTestingPurposes"
		"OnlyAbCdEfGhIjKlMnOpQrStUvWx==\r\n"
		"X-Received: by 2002:a05:6402:1234:b0:57a:1234:5678 with SMTP "
		"id 4fb4d7f45d1cf-57a12345678mr1234567a12.12.1717495200000;\r\n"
		"        Tue, 04 Jun 2024 03:00:00 -0700 (PDT)\r\n"
		"MIME-Version: 1.0\r\n"
		"From: \"Doe, John\" <john.doe@sender.test>\r\n"
		"Date: Tue, 4 Jun 2024 12:00:00 +0200\r\n"
		"Message-ID: <CAFake1234567890abcdefghijklmnop=qrstuv@mail."
		"gmail.com>\r\n"
		"Subject: =?UTF-8?B?2LPZhNin2YUgY2Fmw6k=?=\r\n"
		"To: get@example.org\r\n"
		"Content-Type: multipart/alternative; boundary=\"0000000000"
		"00abcdef0123456789\"\r\n\r\n");
	while (b.len < 4000)
		buf_puts(&b,
			 "--000000000000abcdef0123456789\r\nContent-Type: "
			 "text/plain; charset=\"UTF-8\"\r\n\r\nsend me\r\n");
	return buf_steal(&b, len_r);
}

/* ---- addr_parse_mailbox ------------------------------------------- */

static int pm(const char *v, char **a, char **d)
{
	return addr_parse_mailbox(v, strlen(v), a, d);
}

static void check_mb(const char *v, const char *addr, const char *disp)
{
	char *a = NULL, *d = NULL;

	T_INT(pm(v, &a, &d), 1);
	T_STR(a, addr);
	if (disp == NULL)
		T_OK(d == NULL);
	else
		T_STR(d, disp);
	free(a);
	free(d);
}

T_CASE(addr_parse_good)
{
	check_mb("\"Doe, John\" <john@x.test>", "john@x.test", "Doe, John");
	check_mb("John Doe <j@x.test>", "j@x.test", "John Doe");
	check_mb("<j@x.test>", "j@x.test", NULL);
	check_mb("j@x.test (comment)", "j@x.test", NULL);
	check_mb("\"a\\\"b\"@x.test", "\"a\\\"b\"@x.test", NULL);
	check_mb("=?utf-8?B?2LPZhNin2YU=?= <s@x.test>", "s@x.test",
		 "\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85");
	check_mb("\"=?utf-8?B?2LPZhNin2YU=?=\" <s@x.test>", "s@x.test",
		 "\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85");
	check_mb("Name\r\n <a@x.test>", "a@x.test", "Name");
	check_mb("\"Smith, \\\"Bob\\\"\" <bob@x.test>", "bob@x.test",
		 "Smith, \"Bob\"");
	check_mb("JOHN.Doe@X.Test", "JOHN.Doe@X.Test", NULL);
	check_mb(" <a@x.test> \r\n", "a@x.test", NULL);
	check_mb("x <a@x.test> (c)", "a@x.test", "x");
	check_mb("a@x.test, b@y.test", "a@x.test", NULL);
	check_mb("\"\" <a@x.test>", "a@x.test", NULL);
	check_mb("<a@[192.0.2.1]>", "a@[192.0.2.1]", NULL);
	check_mb("\"a@b\"@x.test", "\"a@b\"@x.test", NULL);
	check_mb("a@x.test (c) ", "a@x.test", NULL);
	/* control characters in a display name become spaces */
	check_mb("=?utf-8?q?a=0D=0ABcc:_x?= <a@x.test>", "a@x.test",
		 "a  Bcc: x");
}

T_CASE(addr_parse_bad)
{
	static const char *const bad[] = {
		"",
		"<>",
		"john",
		"john@",
		"@x",
		"a@x b@y",
		"J <j@x> junk",
		"<j@x",
		"a@@x",
		"a@x,",
		"Team: a@x;",
		"a@x (c) junk",
		"<a@x.test>\r\nX",
		"<a@x..test>",
		"<a@.x>",
		"<a@x.>",
		"<a@ex ample.org>",
		"\"john doe\"@x.test",
		"<a@x!y>",
		"<a(b)@x>",
		"   ",
		"(comment only)",
		"<a@[1.2.3.4>",
		/* libetpan would drop the CFWS and read another mailbox */
		"\"a@b c\"@x.test",
		"<jo hn@x.test>",
		"a(c)@x.test",
		"a @ x.test",
	};
	char big[400];
	char *a = (char *)1, *d = (char *)1;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = (char *)1, d = (char *)1;
		if (pm(bad[i], &a, &d) != 0)
			t_note(__FILE__, __LINE__, bad[i]);
		T_OK(a == NULL && d == NULL);
	}
	/* 255-byte address */
	memset(big, 'a', sizeof(big));
	memcpy(big + 255 - 7, "@x.test", 8);
	T_INT(pm(big, &a, NULL), 0);
	T_OK(a == NULL);
	/* 254 bytes is fine */
	memcpy(big + 254 - 7, "@x.test", 8);
	T_INT(pm(big + 0, &a, NULL), 1);
	T_INT(strlen(a), 254);
	free(a);
	/* NUL inside len */
	T_INT(addr_parse_mailbox("a@x.test\0junk", 13, &a, NULL), 0);
	T_INT(addr_parse_mailbox("a\0@x.test", 9, &a, NULL), 0);
	T_INT(addr_parse_mailbox(NULL, 0, &a, NULL), 0);
}

T_CASE(addr_parse_slice)
{
	/* len shorter than the string: only the slice counts */
	char *a = NULL;

	T_INT(addr_parse_mailbox("a@x.test junk", 8, &a, NULL), 1);
	T_STR(a, "a@x.test");
	free(a);
}

/* random mailboxes, one random choice per slot: whatever parses must be
 * valid, and a display name clean UTF-8 */
static size_t random_mailbox(uint64_t *st, char *v)
{
	static const char *const slot[][8] = {
		{"", "Bob ", "\"Doe, J\" ", "=?utf-8?q?a=0D=FF?= ", "A\x01 ",
		 "\"x\xff\" ", "(c) ", "=?x?B?/w==?= "},
		{"<", "", "<", "", "<<", " <", "\r\n <", ""},
		{"a", "Bob.Doe", "\"a b\"", "a+tag", "caf\xc3\xa9", "\x01",
		 "\"a\\\"b\"", ""},
		{"@", "@", "@", "@", "", "@@", " @", "@"},
		{"x.test", "[1.2]", "x..test", "caf\xc3\xa9.test", "x.test.",
		 "x_y.test", "X.TEST", "x"},
		{">", "", ">", "", ">>", "> ", ">", ""},
		{"", " (c)", "\r\n", " junk", ",", ", b@y", "\t", ""},
	};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(slot) / sizeof(slot[0]); i++) {
		const char *t = slot[i][rng_next(st) % 8];

		memcpy(v + n, t, strlen(t));
		n += strlen(t);
	}
	return n;
}

T_CASE(addr_parse_random)
{
	uint64_t st = 42;
	char v[200], *a, *d;
	int parsed = 0;

	for (int k = 0; k < 20000; k++) {
		size_t n = random_mailbox(&st, v);

		if (addr_parse_mailbox(v, n, &a, &d) != 1) {
			T_OK(a == NULL && d == NULL);
			continue;
		}
		parsed++;
		T_OK(addr_valid(a));
		T_OK(d == NULL || clean(d));
		free(a);
		free(d);
	}
	printf("# addr_parse_random: %d of 20000 parsed\n", parsed);
}

/* ---- addr_valid and helpers --------------------------------------- */

T_CASE(addr_valid_cases)
{
	static const char *const good[] = {
		"a@x",
		"john.doe@example.org",
		"J+tag@Sub.Example.ORG",
		"\"a b\"@x.test",
		"\"a@b\"@x.test",
		"\"a\\\"b\"@x.test",
		"a@[192.0.2.1]",
		"a@[IPv6:2001:db8::1]",
		"a_b@x_y.test",
		"j..d@docomo.test",
		"caf\xc3\xa9@x.test",
		"a-b@x-y.test",
	};
	static const char *const bad[] = {
		"",
		"a",
		"a@",
		"@x",
		"a@@x",
		"a@b@x",
		"a b@x",
		"<a@x>",
		"a@x,",
		"a;b@x",
		"a@x..y",
		"a@.x",
		"a@x.",
		"a@x y",
		"\"a\"b@x",
		"\"ab@x",
		"\"\"@x",
		"a\t@x",
		"a\r\n@x",
		"a@x\x7f",
		"a@caf\xc3\xa9.test",
		"caf\xe9@x.test",
		"\"a<b\"@x",
		"a@[]",
		"a@[1.2.3.4",
		"a@[1]x",
		"\"a\x01\"@x",
		"a@x\\y",
		"a\"b\"@x",
	};
	char label[80];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!addr_valid(good[i]))
			t_note(__FILE__, __LINE__, good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (addr_valid(bad[i]))
			t_note(__FILE__, __LINE__, bad[i]);
	T_OK(!addr_valid(NULL));
	memset(label, 'l', sizeof(label));
	memcpy(label, "a@", 2);
	label[2 + 63] = 0;
	T_OK(addr_valid(label));
	label[2 + 63] = 'l';
	label[2 + 64] = 0;
	T_OK(!addr_valid(label));
}

T_CASE(addr_parts)
{
	T_STR(addr_domain("john@Example.ORG"), "Example.ORG");
	T_STR(addr_domain("\"a@b\"@x.test"), "x.test");
	T_STR(addr_domain("nodomain"), "");
	T_INT(addr_local_len("john+fa@x", 0), 7);
	T_INT(addr_local_len("john+fa@x", 1), 4);
	T_INT(addr_local_len("john@x", 1), 4);
	T_INT(addr_local_len("+fa@x", 1), 3);
	T_INT(addr_local_len("a+b+c@x", 1), 1);
	T_INT(addr_local_len("\"a+b\"@x", 1), 5);
	T_INT(addr_local_len("\"a@b\"@x", 0), 5);
	T_INT(addr_local_len("plain", 1), 5);
}

T_CASE(addr_domain_match)
{
	char *list[] = {"example.org", "Other.TEST", ".dot.test", NULL};

	T_OK(addr_domain_in("example.org", list, 4));
	T_OK(addr_domain_in("EXAMPLE.org", list, 4));
	T_OK(addr_domain_in("a.b.example.org", list, 4));
	T_OK(addr_domain_in("mail.other.test", list, 4));
	T_OK(addr_domain_in("dot.test", list, 4));
	T_OK(addr_domain_in("x.dot.test", list, 4));
	T_OK(!addr_domain_in("evilexample.org", list, 4));
	T_OK(!addr_domain_in("example.org.evil.test", list, 4));
	T_OK(!addr_domain_in("org", list, 4));
	T_OK(!addr_domain_in("", list, 4));
	T_OK(!addr_domain_in("example.org", list, 0));
	T_OK(!addr_domain_in("a.example.org", NULL, 0));
}

T_CASE(addr_hash)
{
	static const char sha[] =
		"cb2102f1ec79b98061ff1fcbdcf42f4476546c0a904c9e994e71b9bcdd6a17"
		"2a07fc3e2f9a8a723450165e4e8b4ffb149aacb5f4de8e67e6cd42b5970a62"
		"243b";
	static const char hmac[] =
		"7c4b2c3cb6865d04b89b4ea3362926954dc3d29fb886476ba637070084c1ea"
		"b43b2083d21dd5353038a2688f8b54c763ac53522a687f45cf6e990dfec4f1"
		"f6ed";
	unsigned char secret[] = "secret";
	struct hash_key key = {secret, 6};
	char out[HASH_SHA512_HEX];

	addr_hash_hex(NULL, "John.Doe@X.TEST", out);
	T_STR(out, sha);
	addr_hash_hex(NULL, "john.doe@x.test", out);
	T_STR(out, sha);
	addr_hash_hex(&key, "JOHN.DOE@x.test", out);
	T_STR(out, hmac);
}

/* ---- prs_decode_2047 ---------------------------------------------- */

static void check_dec(const char *in, const char *want)
{
	char *s = dec(in);

	T_STR(s, want);
	T_OK(clean(s));
	free(s);
}

T_CASE(decode_charsets)
{
	check_dec("=?utf-8?B?2LPZhNin2YUgY2Fmw6k=?=",
		  "\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85"
		  " caf\xc3\xa9");
	check_dec("=?UTF-8?Q?=D8=B3=D9=84=D8=A7=D9=85_caf=C3=A9?=",
		  "\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85"
		  " caf\xc3\xa9");
	check_dec("=?windows-1256?B?0+HH4w==?=",
		  "\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85");
	check_dec("=?koi8-r?Q?=F0=D2=C9=D7=C5=D4?=",
		  "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
	check_dec("=?iso-2022-jp?B?GyRCJDMkcyRLJEEkTxsoQg==?=",
		  "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1"
		  "\xe3\x81\xaf");
	check_dec("=?gb2312?B?xOO6ww==?=", "\xe4\xbd\xa0\xe5\xa5\xbd");
	check_dec("=?iso-8859-1?Q?caf=E9?=", "caf\xc3\xa9");
	check_dec("Hello =?utf-8?q?w?= =?utf-8?q?orld?=", "Hello world");
	check_dec("plain  text", "plain text");
	check_dec("caf\xc3\xa9 raw", "caf\xc3\xa9 raw");
	check_dec("", "");
}

T_CASE(decode_hostile)
{
	static const char *const bad[] = {
		"=?utf-8?b?/w==?= x =?utf-8?b?9JCAgA==?=",
		"=?ucs-4?b?f////w==?=",
	};
	char *s;
	struct mr_buf b;

	/* unknown charset: Latin-1 mojibake, but valid UTF-8 */
	check_dec("=?x-unknown?Q?caf=E9?=", "caf\xc3\xa9");
	/* encoded CR/LF must not survive */
	check_dec("=?utf-8?q?a=0D=0ABcc:_x?=", "a  Bcc: x");
	check_dec("=?utf-8?q?a=09b=7Fc=C2=85d?=", "a b c d");
	/* bad encoding letter: raw value, ASCII only */
	check_dec("Hi =?utf-8?X?a?= caf\xc3\xa9", "Hi =?utf-8?X?a?= caf??");
	/* invalid UTF-8 and code points past U+10FFFF */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = dec(bad[i]);
		T_OK(clean(s));
		free(s);
	}
	s = dec("raw \xfd\xbf\xbf\xbf\xbf\xbf \xed\xa0\x80 \xc0\xaf end");
	T_OK(clean(s));
	T_OK(strstr(s, "end") != NULL);
	free(s);
	/* NUL inside len stops the value */
	s = prs_decode_2047("ab\0cd", 5);
	T_STR(s, "ab");
	free(s);
	s = prs_decode_2047(NULL, 3);
	T_STR(s, "");
	free(s);
	/* 1,000 encoded words */
	buf_init(&b);
	for (int i = 0; i < 1000; i++)
		buf_puts(&b, i % 2 ? "=?utf-8?B?2LPZhNin2YU=?= "
				   : "=?koi8-r?Q?=F0=D2?= ");
	s = prs_decode_2047(b.data, b.len);
	T_OK(clean(s));
	T_OK(strlen(s) > 4000);
	free(s);
	buf_free(&b);
}

T_CASE(decode_random)
{
	uint64_t st = 0x9E3779B97F4A7C15u;
	size_t n = 1 << 20;
	char *r = malloc(n);
	char *s;

	for (size_t i = 0; i < n; i++)
		r[i] = (char)(rng_next(&st) >> 56);
	s = prs_decode_2047(r, n);
	T_OK(clean(s));
	free(s);
	/* long value, capped, no NUL in it */
	for (size_t i = 0; i < n; i++)
		r[i] = (char)('a' + i % 26);
	s = prs_decode_2047(r, n);
	T_OK(clean(s));
	T_OK(strlen(s) <= 64 * 1024);
	free(s);
	free(r);
}

/* ---- prs_parse ---------------------------------------------------- */

static const char basic_msg[] = "Return-Path: <john.doe@sender.test>\r\n"
				"X-Original-To: Get@Example.org\r\n"
				"Delivered-To: other@example.org\r\n"
				"Authentication-Results: mx.example.org;\r\n"
				"\tdkim=pass header.d=sender.test\r\n"
				"From: \"Doe, John\" <John.Doe@Sender.test>\r\n"
				"To: get@example.org\r\n"
				"Subject: =?utf-8?B?2LPZhNin2YUgY2Fmw6k=?=\r\n"
				"Message-ID: <abc.123@sender.test>\r\n"
				"auto-submitted: no\r\n"
				"Content-Type: text/plain; charset=utf-8\r\n"
				"\r\n"
				"body\r\nFrom: not@a.header\r\n";

static void check_basic(const struct prs_msg *m, size_t hdr_len)
{
	T_STR(m->requested, "Get@Example.org");
	T_INT(m->has_return_path, 1);
	T_INT(m->null_sender, 0);
	T_STR(m->from_addr, "John.Doe@Sender.test");
	T_STR(m->from_display, "Doe, John");
	T_INT(m->from_count, 1);
	T_STR(m->subject, "\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85"
			  " caf\xc3\xa9");
	T_STR(m->message_id, "abc.123@sender.test");
	T_INT(m->n_hdrs, 6);
	T_STR(m->hdrs[0].name, "Return-Path");
	T_STR(m->hdrs[0].value, "<john.doe@sender.test>");
	T_STR(m->hdrs[3].name, "Authentication-Results");
	T_STR(m->hdrs[3].value,
	      "mx.example.org;\tdkim=pass header.d=sender.test");
	T_STR(m->hdrs[4].name, "auto-submitted");
	T_STR(prs_header(m, "AUTO-SUBMITTED", NULL), "no");
	T_STR(prs_header(m, "content-type", NULL), "text/plain; charset=utf-8");
	T_OK(prs_header(m, "From", NULL) == NULL);
	T_OK(prs_header(m, "List-Id", NULL) == NULL);
	T_INT(prs_is_report(m), 0);
	T_INT(m->headers_complete, 1);
	T_INT(m->header_bytes, hdr_len);
}

/* the same message with LF line ends */
static char *to_lf(const char *s)
{
	char *o = xstrdup(s), *p = o;

	for (; *s; s++)
		if (*s != '\r')
			*p++ = *s;
	*p = 0;
	return o;
}

T_CASE(parse_basic_crlf_lf)
{
	const char *end = strstr(basic_msg, "\r\n\r\n");
	size_t hlen = (size_t)(end - basic_msg) + 4;
	struct prs_msg *m = parse_str(basic_msg);
	char *lf = to_lf(basic_msg);

	T_OK(m != NULL);
	if (m)
		check_basic(m, hlen);
	prs_free(&m);
	T_OK(m == NULL);
	prs_free(&m);
	prs_free(NULL);
	m = parse_str(lf);
	T_OK(m != NULL);
	if (m)
		check_basic(m, (size_t)(strstr(lf, "\n\n") - lf) + 2);
	prs_free(&m);
	free(lf);
}

static void check_requested(const char *hdrs, const char *want)
{
	char *msg = xasprintf("%s\r\n", hdrs);
	struct prs_msg *m = parse_str(msg);

	T_OK(m != NULL);
	if (m && want)
		T_STR(m->requested, want);
	else if (m)
		T_OK(m->requested == NULL);
	prs_free(&m);
	free(msg);
}

T_CASE(parse_requested)
{
	check_requested("Delivered-To: d@x.test\r\n"
			"X-Original-To: o@x.test\r\n",
			"o@x.test");
	check_requested("X-Original-To: junk\r\n"
			"X-Original-To: <o2@x.test>\r\n"
			"Delivered-To: d@x.test\r\n",
			"o2@x.test");
	check_requested("X-Original-To: junk\r\n"
			"Delivered-To: <>\r\n"
			"Delivered-To: d@x.test\r\n",
			"d@x.test");
	check_requested("x-original-to: O@X.test\r\n", "O@X.test");
	check_requested("X-Original-To: a@x b@y\r\n", NULL);
	check_requested("To: get@x.test\r\n", NULL);
	check_requested("", NULL);
}

static void check_rp(const char *hdrs, int has, int null)
{
	char *msg = xasprintf("%sFrom: a@x.test\r\n\r\n", hdrs);
	struct prs_msg *m = parse_str(msg);

	T_OK(m != NULL);
	if (m) {
		T_INT(m->has_return_path, has);
		T_INT(m->null_sender, null);
		T_STR(m->from_addr, "a@x.test");
	}
	prs_free(&m);
	free(msg);
}

T_CASE(parse_return_path)
{
	check_rp("Return-Path: <>\r\n", 1, 1);
	check_rp("Return-Path:  <> \r\n", 1, 1);
	check_rp("Return-Path: <> (x)\r\n", 1, 1);
	check_rp("Return-Path: (c) < > \r\n", 1, 1);
	check_rp("return-path: <>\r\n", 1, 1);
	check_rp("Return-Path:\r\n <>\r\n", 1, 1);
	check_rp("Return-Path: <a@x.test>\r\n", 1, 0);
	check_rp("Return-Path: <a@x.test\r\n", 1, 0); /* no leak */
	check_rp("Return-Path: <\r\n", 1, 0);
	check_rp("Return-Path: <>x\r\n", 1, 0);
	check_rp("Return-Path: <<>>\r\n", 1, 0);
	check_rp("Return-Path: <a@x.test>\r\nReturn-Path: <>\r\n", 1, 0);
	check_rp("Return-Path: <>\r\nReturn-Path: <a@x.test>\r\n", 1, 1);
	check_rp("", 0, 0);
}

static void check_from(const char *hdrs, const char *addr, const char *disp,
		       int count)
{
	char *msg = xasprintf("%s\r\n", hdrs);
	struct prs_msg *m = parse_str(msg);

	T_OK(m != NULL);
	if (m) {
		if (addr)
			T_STR(m->from_addr, addr);
		else
			T_OK(m->from_addr == NULL);
		if (disp)
			T_STR(m->from_display, disp);
		else
			T_OK(m->from_display == NULL);
		T_INT(m->from_count, count);
	}
	prs_free(&m);
	free(msg);
}

T_CASE(parse_from)
{
	check_from("From: a@x.test\r\n", "a@x.test", NULL, 1);
	check_from("FROM : B <b@x.test>\r\n", "b@x.test", "B", 1);
	check_from("From: \"Smith, \\\"Bob\\\"\" <bob@x.test>\r\n",
		   "bob@x.test", "Smith, \"Bob\"", 1);
	check_from("From: =?utf-8?B?2LPZhNin2YU=?= <s@x.test>\r\n", "s@x.test",
		   "\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85", 1);
	check_from("From: Name\r\n <a@x.test>\r\n", "a@x.test", "Name", 1);
	check_from("From: a@x.test, b@y.test\r\n", "a@x.test", NULL, 1);
	check_from("From: <>\r\n", NULL, NULL, 1);
	check_from("From: J <j@x> junk\r\n", NULL, NULL, 1);
	check_from("From: Team: a@x;\r\n", NULL, NULL, 1);
	check_from("From: john\r\n", NULL, NULL, 1);
	check_from("From: <j@x\r\n", NULL, NULL, 1);
	check_from("From: \"john doe\"@x.test\r\n", NULL, NULL, 1);
	check_from("From: a@ex ample.org\r\n", NULL, NULL, 1);
	check_from("From: \"a\\\"b\"@x.test\r\n", "\"a\\\"b\"@x.test", NULL, 1);
	check_from("Subject: none\r\n", NULL, NULL, 0);
	check_from("From: a@x.test\r\nFrom: b@x.test\r\n", "a@x.test", NULL, 2);
	/* the first From decides, even when it is the unparsable one */
	check_from("From: <>\r\nFrom: b@x.test\r\n", NULL, NULL, 2);
	check_from("From: a@x.test\r\nFrom: <>\r\n", "a@x.test", NULL, 2);
}

T_CASE(parse_subject_msgid)
{
	static const char *const subj[][2] = {
		{"=?utf-8?B?2LPZhNin2YUgY2Fmw6k=?=",
		 "\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85 caf\xc3\xa9"},
		{"=?windows-1256?B?0+HH4w==?=",
		 "\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85"},
		{"=?koi8-r?Q?=F0=D2=C9=D7=C5=D4?=",
		 "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"},
		{"=?iso-2022-jp?B?GyRCJDMkcyRLJEEkTxsoQg==?=",
		 "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1"
		 "\xe3\x81\xaf"},
		{"=?gb2312?B?xOO6ww==?=", "\xe4\xbd\xa0\xe5\xa5\xbd"},
		{"=?iso-8859-1?Q?caf=E9?=", "caf\xc3\xa9"},
		{"=?x-unknown?Q?caf=E9?=", "caf\xc3\xa9"},
		{"=?utf-8?q?a=0D=0ABcc:_x?=", "a  Bcc: x"},
		{"folded\r\n subject", "folded subject"},
	};
	/* invalid UTF-8 and code points past U+10FFFF */
	static const char *const bad[] = {
		"=?ucs-4?b?f////w==?=",
		"=?utf-8?b?/+7/?= =?utf-8?b?+IiIiIg=?=",
	};
	struct prs_msg *m;
	char *s;

	for (size_t i = 0; i < sizeof(subj) / sizeof(subj[0]); i++) {
		s = subject_of(subj[i][0]);
		T_STR(s, subj[i][1]);
		free(s);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = subject_of(bad[i]);
		T_OK(clean(s));
		free(s);
	}
	m = parse_str("Subject: first\r\nSubject: second\r\n"
		      "Message-ID: <a.1@x>\r\nMessage-ID: <b.2@x>\r\n\r\n");
	T_STR(m->subject, "first");
	T_STR(m->message_id, "a.1@x");
	prs_free(&m);
	m = parse_str("Message-ID: <a\x01"
		      "b@x>\r\n\r\n");
	T_OK(m->message_id == NULL);
	T_OK(m->subject == NULL);
	prs_free(&m);
}

T_CASE(parse_hdrs_order)
{
	struct prs_msg *m =
		parse_str("Authentication-Results: a; dkim=fail\r\n"
			  "X-Spam-Flag:   YES  \r\n"
			  "Authentication-Results: b;\r\n dkim=pass\r\n"
			  "List-Id: <l.x.test>\r\n"
			  "Empty:\r\n"
			  "\r\n");
	size_t next = 0;

	T_INT(m->n_hdrs, 5);
	T_STR(prs_header(m, "x-spam-flag", NULL), "YES");
	T_STR(prs_header(m, "Authentication-Results", &next), "a; dkim=fail");
	T_INT(next, 1);
	T_STR(prs_header(m, "Authentication-Results", &next), "b; dkim=pass");
	T_INT(next, 3);
	T_OK(prs_header(m, "Authentication-Results", &next) == NULL);
	T_OK(prs_header(m, "Authentication-Results", &next) == NULL);
	T_STR(prs_header(m, "Empty", NULL), "");
	T_STR(m->hdrs[3].name, "List-Id");
	prs_free(&m);
}

static int report_of(const char *ct)
{
	char *msg = xasprintf("From: a@x.test\r\nContent-Type: %s\r\n\r\n", ct);
	struct prs_msg *m = parse_str(msg);
	int r = prs_is_report(m);

	prs_free(&m);
	free(msg);
	return r;
}

T_CASE(parse_is_report)
{
	struct prs_msg *m;

	T_INT(report_of("multipart/report; report-type=delivery-status;\r\n"
			"\tboundary=\"x\""),
	      1);
	T_INT(report_of("MULTIPART/REPORT; boundary=x"), 1);
	T_INT(report_of("Multipart/Report"), 1);
	T_INT(report_of("multipart/mixed; boundary=x"), 0);
	T_INT(report_of("text/report"), 0);
	T_INT(report_of("text/plain"), 0);
	T_INT(report_of(";;garbage"), 0);
	T_INT(report_of(""), 0);
	m = parse_str("Subject: x\r\n\r\n");
	T_INT(prs_is_report(m), 0);
	prs_free(&m);
}

T_CASE(parse_incomplete)
{
	struct prs_msg *m;

	/* no blank line, EOF on a header boundary */
	m = parse_str("From: a@x.test\r\nSubject: s\r\n");
	T_INT(m->headers_complete, 1);
	T_STR(m->from_addr, "a@x.test");
	prs_free(&m);
	/* cut in the middle of a line */
	m = parse_str("From: a@x.test\r\nSubject: s\r\nX-Cut");
	T_INT(m->headers_complete, 0);
	T_STR(m->subject, "s");
	T_INT(m->header_bytes, 28);
	prs_free(&m);
	/* a garbage line ends the block early */
	m = parse_str("From: a@x.test\r\nnot a header\r\nSubject: s\r\n\r\n");
	T_INT(m->headers_complete, 0);
	T_OK(m->subject == NULL);
	prs_free(&m);
	/* starts with a blank line: no headers, complete */
	m = parse_str("\r\nFrom: a@x.test\r\n");
	T_INT(m->headers_complete, 1);
	T_INT(m->header_bytes, 2);
	T_INT(m->from_count, 0);
	prs_free(&m);
	m = parse_str("\nFrom: a@x.test\n");
	T_INT(m->headers_complete, 1);
	T_INT(m->header_bytes, 1);
	prs_free(&m);
	/* mbox From_ line */
	m = parse_str("From a@x.test Tue Jun  4 10:00:00 2024\r\n"
		      "From: a@x.test\r\n\r\n");
	T_INT(m->headers_complete, 0);
	T_OK(m->from_addr == NULL);
	prs_free(&m);
}

T_CASE(parse_hostile_random)
{
	static const char alpha[] = "ab:<>@\" \r\n=?\x01\xff\tQB";
	uint64_t st = 12345;
	size_t n = 1 << 20;
	char *r = malloc(n);
	struct prs_msg *m;

	m = parse_n("", 0);
	T_OK(m != NULL && m->n_hdrs == 0 && m->headers_complete);
	prs_free(&m);
	for (size_t i = 0; i < n; i++)
		r[i] = (char)(rng_next(&st) >> 56);
	m = parse_n(r, n);
	T_OK(m != NULL);
	prs_free(&m);
	/* random header-ish lines */
	for (size_t i = 0; i < n; i++)
		r[i] = alpha[rng_next(&st) % (sizeof(alpha) - 1)];
	m = parse_n(r, n);
	T_OK(m != NULL);
	for (size_t i = 0; m && i < m->n_hdrs; i++)
		T_OK(m->hdrs[i].name && m->hdrs[i].value);
	if (m && m->subject)
		T_OK(clean(m->subject));
	if (m && m->from_addr)
		T_OK(addr_valid(m->from_addr));
	prs_free(&m);
	free(r);
}

T_CASE(parse_hostile_nul)
{
	static const char in_value[] = "Subject: ab\0cd\r\nX-A: b\r\n\r\n";
	static const char in_name[] = "X-\0A: v\r\nFrom: a@x.test\r\n\r\n";
	static const char in_from[] = "From: A\0B <a@x.test>\r\n\r\n";
	struct prs_msg *m;

	m = parse_n(in_value, sizeof(in_value) - 1);
	T_STR(m->subject, "ab");
	T_STR(prs_header(m, "X-A", NULL), "b");
	prs_free(&m);
	m = parse_n(in_name, sizeof(in_name) - 1);
	T_OK(m != NULL);
	T_INT(m ? m->headers_complete : 1, 0);
	prs_free(&m);
	m = parse_n(in_from, sizeof(in_from) - 1);
	T_OK(m != NULL);
	if (m && m->from_addr)
		T_OK(addr_valid(m->from_addr));
	prs_free(&m);
}

T_CASE(parse_hostile_big)
{
	size_t n = 100 * 1024, len;
	char *r = malloc(n), *s;
	struct prs_msg *m;
	double t0;

	/* one 100 KB header line (and a 100 KB Subject) */
	memset(r, 'x', n);
	r[n - 1] = 0;
	s = xasprintf("X-Long: %s\r\nSubject: %s\r\n\r\n", r, r);
	t0 = now_us();
	m = parse_str(s);
	T_OK(now_us() - t0 < 500000);
	T_INT(strlen(prs_header(m, "X-Long", NULL)), n - 1);
	T_OK(strlen(m->subject) <= 64 * 1024);
	prs_free(&m);
	free(s);
	free(r);
	/* 10,000 header lines */
	s = many_headers(10000, &len);
	t0 = now_us();
	m = parse_n(s, len);
	T_OK(now_us() - t0 < 250000);
	T_INT(m->n_hdrs, 10000);
	T_STR(prs_header(m, "X-H9999", NULL), "value 9999");
	T_STR(m->from_addr, "a@x.test");
	prs_free(&m);
	free(s);
}

T_CASE(parse_subject_words)
{
	struct mr_buf b;
	struct prs_msg *m;

	buf_init(&b);
	buf_puts(&b, "Subject:");
	for (int i = 0; i < 1000; i++)
		buf_puts(&b, " =?utf-8?q?w?=\r\n");
	buf_puts(&b, "\r\n");
	m = parse_n(b.data, b.len);
	T_OK(m && m->subject && clean(m->subject));
	T_INT(m ? strlen(m->subject) : 0, 1000);
	prs_free(&m);
	buf_free(&b);
}

/* ---- prs_read ----------------------------------------------------- */

T_CASE(read_file_big_body)
{
	size_t n = 4 << 20;
	char *data = malloc(n);
	struct prs_msg *m = NULL;
	struct mr_err err;
	int fd;

	memset(data, 'b', n);
	memcpy(data, basic_msg, strlen(basic_msg));
	fd = tmp_fd(data, n);
	T_OK(fd >= 0);
	T_INT(prs_read(fd, 256 * 1024, &m, &err), 0);
	T_OK(lseek(fd, 0, SEEK_CUR) <= 64 * 1024);
	if (m)
		check_basic(
			m, (size_t)(strstr(basic_msg, "\r\n\r\n") - basic_msg) +
				   4);
	prs_free(&m);
	close(fd);
	free(data);
}

static int read_str(const char *s, size_t n, size_t max, struct prs_msg **m,
		    struct mr_err *err)
{
	int fd = tmp_fd(s, n), rc;

	mr_err_clear(err);
	rc = prs_read(fd, max, m, err);
	close(fd);
	return rc;
}

T_CASE(read_limits)
{
	struct prs_msg *m = NULL;
	struct mr_err err;
	size_t len;
	char *s = many_headers(20000, &len); /* ~ 400 KB of headers */
	char *hdr_end = strstr(s, "\r\n\r\n") + 4;
	size_t hlen = (size_t)(hdr_end - s);

	T_INT(read_str(s, len, 256 * 1024, &m, &err), -1);
	T_OK(m == NULL);
	T_INT(err.kind, MR_PERM);
	T_STR(err.text, "headers-too-large");
	/* exactly at the limit is fine; one byte less is not */
	T_INT(read_str(s, len, hlen, &m, &err), 0);
	T_INT(m ? m->n_hdrs : 0, 20000);
	T_INT(m ? m->header_bytes : 0, hlen);
	prs_free(&m);
	T_INT(read_str(s, len, hlen - 1, &m, &err), -1);
	T_STR(err.text, "headers-too-large");
	/* no blank line at all, larger than the limit */
	T_INT(read_str(s, hlen - 4, 1000, &m, &err), -1);
	T_STR(err.text, "headers-too-large");
	/* no blank line, within the limit: read to EOF */
	T_INT(read_str(s, hlen - 2, hlen, &m, &err), 0);
	T_INT(m ? m->headers_complete : 0, 1);
	T_INT(m ? m->n_hdrs : 0, 20000);
	prs_free(&m);
	free(s);
	/* empty file; file starting with a blank line */
	T_INT(read_str("", 0, 1000, &m, &err), 0);
	T_INT(m ? m->headers_complete : 0, 1);
	prs_free(&m);
	T_INT(read_str("\r\nX: y\r\n", 8, 1000, &m, &err), 0);
	T_INT(m ? m->n_hdrs : 1, 0);
	T_INT(m ? m->header_bytes : 0, 2);
	prs_free(&m);
	/* LF-only header end */
	T_INT(read_str("Subject: s\n\nbody", 16, 1000, &m, &err), 0);
	T_STR(m ? m->subject : NULL, "s");
	T_INT(m ? m->header_bytes : 0, 12);
	prs_free(&m);
}

/* ---- limits and the structure scan --------------------------------- */

static int read_lim(const char *s, size_t n, const struct prs_limits *lim,
		    struct prs_msg **m, struct mr_err *err)
{
	int fd = tmp_fd(s, n), rc;

	mr_err_clear(err);
	rc = prs_read_limits(fd, lim, m, err);
	close(fd);
	return rc;
}

/* depth nested multipart/mixed levels around one message/rfc822 part */
static char *nested(size_t depth, size_t *len_r)
{
	struct mr_buf b;

	buf_init(&b);
	buf_puts(&b, "From: a@x.test\r\nMIME-Version: 1.0\r\n");
	for (size_t i = 0; i < depth; i++)
		buf_printf(&b,
			   "Content-Type: multipart/mixed; boundary=\"b%zu\""
			   "\r\n\r\n--b%zu\r\n",
			   i, i);
	buf_puts(&b, "Content-Type: message/rfc822\r\n\r\nFrom: o@y.test\r\n"
		     "Subject: orig\r\n\r\nhi\r\n");
	for (size_t i = depth; i-- > 0;)
		buf_printf(&b, "--b%zu--\r\n", i);
	return buf_steal(&b, len_r);
}

T_CASE(limits_headers)
{
	struct prs_limits lim;
	struct prs_msg *m = NULL;
	struct mr_err err;
	size_t len;
	char *s = many_headers(10000, &len), *l;

	prs_limits_default(&lim);
	lim.max_headers = 1000;
	T_INT(read_lim(s, len, &lim, &m, &err), -1);
	T_INT(err.kind, MR_PERM);
	T_STR(err.text, "too-many-headers");
	lim.max_headers = 10002; /* From + Subject + 10,000 */
	T_INT(read_lim(s, len, &lim, &m, &err), 0);
	T_INT(m ? m->n_hdrs : 0, 10000);
	prs_free(&m);
	lim.max_headers = 10001;
	T_INT(read_lim(s, len, &lim, &m, &err), -1);
	free(s);
	/* line length: folded lines count one by one */
	prs_limits_default(&lim);
	lim.max_line = 20;
	l = "Subject: 0123456789\r\n x 0123456789\r\n\r\nbody";
	T_INT(read_lim(l, strlen(l), &lim, &m, &err), 0);
	prs_free(&m);
	l = "Subject: 0123456789AB\r\n\r\nbody";
	T_INT(read_lim(l, strlen(l), &lim, &m, &err), -1);
	T_STR(err.text, "header-line-too-long");
	/* the body's lines are not header lines */
	l = "Subject: s\r\n\r\n0123456789012345678901234567890\r\n";
	T_INT(read_lim(l, strlen(l), &lim, &m, &err), 0);
	prs_free(&m);
}

T_CASE(limits_mime)
{
	struct prs_limits lim;
	struct prs_msg *m = NULL;
	struct mr_err err;
	size_t len;
	char *s = nested(3, &len);
	struct mr_buf b;

	prs_limits_default(&lim);
	T_INT(read_lim(s, len, &lim, &m, &err), 0);
	T_INT(m ? m->body_scanned : 0, 1);
	T_INT(m ? m->has_rfc822 : 0, 1);
	T_INT(m ? m->mime_depth : 0, 6); /* message, 3 mixed, rfc822, text */
	prs_free(&m);
	lim.mime_depth = 5;
	T_INT(read_lim(s, len, &lim, &m, &err), -1);
	T_STR(err.text, "mime-too-deep");
	free(s);
	/* deeper than the container guard: refused before the parse */
	prs_limits_default(&lim);
	s = nested(5000, &len);
	T_INT(read_lim(s, len, &lim, &m, &err), -1);
	T_STR(err.text, "mime-too-many-parts");
	free(s);
	/* many parts in one multipart */
	buf_init(&b);
	buf_puts(&b, "From: a@x.test\r\nContent-Type: multipart/mixed; "
		     "boundary=\"z\"\r\n\r\n");
	for (int i = 0; i < 300; i++)
		buf_puts(&b, "--z\r\nContent-Type: text/plain\r\n\r\nx\r\n");
	buf_puts(&b, "--z--\r\n");
	s = buf_steal(&b, &len);
	T_INT(read_lim(s, len, &lim, &m, &err), -1);
	T_STR(err.text, "mime-too-many-parts");
	lim.mime_parts = 400;
	T_INT(read_lim(s, len, &lim, &m, &err), 0);
	T_INT(m ? m->mime_parts : 0, 302);
	T_INT(m ? m->has_rfc822 : 1, 0);
	prs_free(&m);
	/* larger than mime_bytes: not scanned, not refused */
	lim.mime_bytes = len - 1;
	T_INT(read_lim(s, len, &lim, &m, &err), 0);
	T_INT(m ? m->body_scanned : 1, 0);
	prs_free(&m);
	free(s);
	/* not multipart: the body is never read */
	s = "From: a@x.test\r\nContent-Type: text/plain\r\n\r\n"
	    "Content-Type: message/rfc822\r\n";
	T_INT(read_lim(s, strlen(s), &lim, &m, &err), 0);
	T_INT(m ? m->body_scanned + m->has_rfc822 : 1, 0);
	prs_free(&m);
}

T_CASE(read_errors)
{
	struct prs_msg *m = (struct prs_msg *)1;
	struct mr_err err;
	int fd = open("/", O_RDONLY);

	mr_err_clear(&err);
	T_INT(prs_read(-1, 1000, &m, &err), -1);
	T_OK(m == NULL);
	T_INT(err.kind, MR_TEMP);
	mr_err_clear(&err);
	T_INT(prs_read(fd, 1000, &m, &err), -1);
	T_INT(err.kind, MR_TEMP);
	close(fd);
}

static void on_alarm(int sig)
{
	(void)sig; /* only there to interrupt read(2) */
}

static void child_write(int fd)
{
	static const char part1[] = "Subject: slow\r\nFrom: a@x.test\r\n\r";
	static const char part2[] = "\nbody\r\n";
	struct timespec d = {0, 150 * 1000 * 1000};

	nanosleep(&d, NULL);
	if (write(fd, part1, sizeof(part1) - 1) < 0)
		_exit(1);
	nanosleep(&d, NULL);
	if (write(fd, part2, sizeof(part2) - 1) < 0)
		_exit(1);
	_exit(0);
}

T_CASE(read_pipe_eintr)
{
	struct sigaction sa, old;
	struct itimerval it = {{0, 20 * 1000}, {0, 20 * 1000}};
	struct itimerval off = {{0, 0}, {0, 0}};
	struct prs_msg *m = NULL;
	struct mr_err err;
	int p[2], status = 0;
	pid_t pid;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: read(2) gets EINTR */
	sigemptyset(&sa.sa_mask);
	T_INT(sigaction(SIGALRM, &sa, &old), 0);
	T_INT(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		child_write(p[1]);
	}
	close(p[1]);
	setitimer(ITIMER_REAL, &it, NULL);
	T_INT(prs_read(p[0], 1000, &m, &err), 0);
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	T_STR(m ? m->subject : NULL, "slow");
	T_STR(m ? m->from_addr : NULL, "a@x.test");
	T_INT(m ? m->headers_complete : 0, 1);
	T_INT(m ? m->header_bytes : 0, 33);
	prs_free(&m);
	close(p[0]);
	waitpid(pid, &status, 0);
	T_OK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- threads and cost --------------------------------------------- */

struct thr_arg {
	const char *data;
	size_t len;
	int bad;
};

static void *thr_main(void *p)
{
	struct thr_arg *a = p;

	for (int i = 0; i < 500; i++) {
		struct prs_msg *m = parse_n(a->data, a->len);

		if (m == NULL || m->from_addr == NULL ||
		    strcmp(m->from_addr, "john.doe@sender.test") != 0 ||
		    m->subject == NULL ||
		    strcmp(m->requested, "get@example.org"))
			a->bad++;
		prs_free(&m);
	}
	return NULL;
}

T_CASE(parse_threads)
{
	struct thr_arg a[4];
	pthread_t t[4];
	size_t len;
	char *s = typical_request(&len);

	for (int i = 0; i < 4; i++) {
		a[i] = (struct thr_arg){s, len, 0};
		T_INT(pthread_create(&t[i], NULL, thr_main, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		T_INT(a[i].bad, 0);
	}
	free(s);
}

static double bench(const char *s, size_t len, int loops)
{
	double t0 = now_us();

	for (int i = 0; i < loops; i++) {
		struct prs_msg *m = parse_n(s, len);

		prs_free(&m);
	}
	return (now_us() - t0) / loops;
}

T_CASE(bench)
{
	size_t len4, len10;
	char *typ = typical_request(&len4);
	char *many = many_headers(10000, &len10);
	struct prs_msg *m = parse_n(typ, len4);
	double us4, us10;

	T_OK(len4 >= 4000 && len4 < 4300);
	T_STR(m->from_addr, "john.doe@sender.test");
	T_STR(m->from_display, "Doe, John");
	T_STR(m->requested, "get@example.org");
	T_INT(m->headers_complete, 1);
	prs_free(&m);
	us4 = bench(typ, len4, 20000);
	us10 = bench(many, len10, 100);
	printf("# typical %zu-byte request: %.1f us/message\n", len4, us4);
	printf("# %zu-byte message with 10,000 header lines: %.0f us/message\n",
	       len10, us10);
	free(typ);
	free(many);
}

int main(void)
{
	T_RUN(addr_parse_good);
	T_RUN(addr_parse_bad);
	T_RUN(addr_parse_slice);
	T_RUN(addr_parse_random);
	T_RUN(addr_valid_cases);
	T_RUN(addr_parts);
	T_RUN(addr_domain_match);
	T_RUN(addr_hash);
	T_RUN(decode_charsets);
	T_RUN(decode_hostile);
	T_RUN(decode_random);
	T_RUN(parse_basic_crlf_lf);
	T_RUN(parse_requested);
	T_RUN(parse_return_path);
	T_RUN(parse_from);
	T_RUN(parse_subject_msgid);
	T_RUN(parse_hdrs_order);
	T_RUN(parse_is_report);
	T_RUN(parse_incomplete);
	T_RUN(parse_hostile_random);
	T_RUN(parse_hostile_nul);
	T_RUN(parse_hostile_big);
	T_RUN(parse_subject_words);
	T_RUN(read_file_big_body);
	T_RUN(read_limits);
	T_RUN(read_errors);
	T_RUN(read_pipe_eintr);
	T_RUN(limits_headers);
	T_RUN(limits_mime);
	T_RUN(parse_threads);
	T_RUN(bench);
	return t_done();
}
