/* test_settings.c - unit tests of settings.c (set_load) and rcfg.c
 * DESCRIPTION  Settings files are written into a temporary folder; the
 *              samples in config/ are loaded from the repository root,
 *              where the tests run.
 */
#include "settings.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rcfg.h"
#include "t.h"

static char *tdir;  /* realpath of the temporary folder */
static char *tpath; /* tdir/settings.json */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
}

/* Write text as tdir/settings.json and load it. */
static struct set *load(const char *text, struct mr_msgs *m)
{
	write_file(tpath, text);
	return set_load(tpath, m);
}

/* A check that some problem contains sub; prints them all when none does. */
#define T_HAS(m, sub) t_has(__FILE__, __LINE__, (m), (sub))

static void t_has(const char *file, int line, const struct mr_msgs *m,
		  const char *sub)
{
	struct mr_buf b;

	for (size_t i = 0; i < m->n; i++)
		if (strstr(m->v[i], sub) != NULL)
			return;
	buf_init(&b);
	buf_printf(&b, "no problem has \"%s\"; got:", sub);
	for (size_t i = 0; i < m->n; i++)
		buf_printf(&b, " [%s]", m->v[i]);
	t_note(file, line, b.data);
	buf_free(&b);
}

/* A check that the problems are exactly the texts given, in order; prints
 * them all when not. */
#define T_PROBLEMS(m, ...)                                                     \
	t_problems(__FILE__, __LINE__, (m),                                    \
		   (const char *const[]){__VA_ARGS__, NULL})

static void t_problems(const char *file, int line, const struct mr_msgs *m,
		       const char *const *want)
{
	struct mr_buf b;
	size_t n = 0;
	int same = 1;

	for (; want[n] != NULL; n++)
		if (n >= m->n || strcmp(m->v[n], want[n]) != 0)
			same = 0;
	if (same && n == m->n)
		return;
	buf_init(&b);
	buf_printf(&b, "want %zu problems:", n);
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, " [%s]", want[i]);
	buf_printf(&b, "; got %zu:", m->n);
	for (size_t i = 0; i < m->n; i++)
		buf_printf(&b, " [%s]", m->v[i]);
	t_note(file, line, b.data);
	buf_free(&b);
}

/* The check of T_ONE and T_RONE: the load failed (got is NULL; else what
 * it returned) with exactly the problem want. */
static void t_only(const char *file, int line, const char *got,
		   const struct mr_msgs *m, const char *want)
{
	char buf[1024];

	if (got != NULL || m->n != 1 || strcmp(m->v[0], want) != 0) {
		/* a truncated failure note is still useful */
		(void)snprintf(buf, sizeof(buf), "want [%s], got %s %zu: [%s]",
			       want, got ? got : "NULL", m->n,
			       m->n ? m->v[0] : "");
		t_note(file, line, buf);
	}
}

/* Load text expecting failure with exactly the problem want. */
#define T_ONE(text, want) t_one(__FILE__, __LINE__, (text), (want))

static void t_one(const char *file, int line, const char *text,
		  const char *want)
{
	struct mr_msgs m = {NULL, 0};
	struct set *s = load(text, &m);

	t_only(file, line, s ? "a set" : NULL, &m, want);
	set_free(&s);
	mr_msgs_free(&m);
}

/* rcfg_parse of text expecting failure with exactly the problem want. */
#define T_RONE(text, want) t_rone(__FILE__, __LINE__, (text), (want))

static void t_rone(const char *file, int line, const char *text,
		   const char *want)
{
	struct mr_msgs m = {NULL, 0};
	struct rcfg *c = rcfg_parse(text, strlen(text), &m);

	t_only(file, line, c ? "a config" : NULL, &m, want);
	rcfg_free(&c);
	mr_msgs_free(&m);
}

static char *in_dir(const char *name)
{
	return xasprintf("%s/%s", tdir, name);
}

#define MIN_SET "\"spool\": \"spool\", \"from\": \"noreply@example.org\""

T_CASE(set_defaults)
{
	struct mr_msgs m = {NULL, 0};
	struct set *s = load("{" MIN_SET "}", &m);
	char *p;

	T_OK(s != NULL);
	T_INT(m.n, 0);
	if (s == NULL)
		return;
	T_STR(s->path, tpath);
	T_STR(s->dir, tdir);
	T_STR(s->spool, p = in_dir("spool"));
	free(p);
	T_STR(s->failed_folder, ".Failed");
	T_STR(s->responder_config, p = in_dir("responses.json"));
	free(p);
	T_STR(s->attachments_dir, p = in_dir("attachments"));
	free(p);
	p = xasprintf("sqlite:%s/state.db", tdir);
	T_STR(s->store, p);
	free(p);
	T_OK(s->transport_override == NULL);
	T_STR(s->smtp_url, "smtp://127.0.0.1:2525");
	T_STR(s->ses.region, "us-east-1");
	T_OK(s->ses.endpoint == NULL);
	T_OK(s->ses.configuration_set == NULL);
	T_INT(s->ses.max_send_rate, 14);
	T_INT(s->ses.timeout_s, 30);
	T_OK(s->aws.credentials_file == NULL);
	T_STR(s->aws.profile, "default");
	T_INT(s->aws.imds, 1);
	T_STR(s->aws.imds_endpoint, "http://169.254.169.254");
	T_STR(s->event_log, p = in_dir("events.jsonl"));
	free(p);
	T_STR(s->event_key, p = in_dir("event.key"));
	free(p);
	T_OK(s->hash_key == NULL);
	T_STR(s->log_level, "info");
	T_STR(s->from, "noreply@example.org");
	T_STR(s->from_addr, "noreply@example.org");
	T_OK(s->from_display == NULL);
	T_OK(s->complaints_address == NULL);
	T_INT(s->admin_addresses.n, 0);
	T_STR(s->admin_subject_tag, "[mailresponder]");
	T_INT(s->own_addresses.n, 0);
	T_INT(s->daily_limit, 3);
	T_INT(s->exempt_domains.n, 0);
	T_INT(s->blocked_domains.n, 0);
	set_free(&s);
	T_OK(s == NULL);
	mr_msgs_free(&m);
}

T_CASE(set_defaults_more)
{
	struct mr_msgs m = {NULL, 0};
	struct set *s = load("{" MIN_SET "}", &m);

	T_OK(s != NULL);
	if (s == NULL)
		return;
	T_INT(s->provider_domains.n, 4);
	if (s->provider_domains.n == 4) {
		T_STR(s->provider_domains.v[0], "gmail.com");
		T_STR(s->provider_domains.v[1], "googlemail.com");
		T_STR(s->provider_domains.v[2], "outlook.com");
		T_STR(s->provider_domains.v[3], "hotmail.com");
	}
	T_INT(s->n_provider_renames, 2);
	if (s->n_provider_renames == 2) {
		T_STR(s->provider_renames[0].from_ext, ".exe");
		T_STR(s->provider_renames[0].to_ext, "");
		T_STR(s->provider_renames[1].from_ext, ".apk");
		T_STR(s->provider_renames[1].to_ext, ".ap_");
	}
	T_INT(s->dkim_policy, SET_DKIM_REJECT_FAIL);
	T_STR(s->authserv_id, mr_hostname());
	T_STR(s->dkim.domain, "example.org");
	T_STR(s->dkim.selector, "default");
	T_OK(s->dkim.rsa_key == NULL);
	T_OK(s->dkim.ed25519_key == NULL);
	T_STR(s->dkim.ed25519_selector, "default");
	T_INT(s->workers, 0);
	T_INT(s->retry.initial_s, 60);
	T_INT(s->retry.max_s, 3600);
	T_INT(s->retry.max_age_s, 5 * 24 * 3600);
	T_INT(s->smtp_timeout_s, 60);
	T_INT(s->smtp_connect_timeout_s, 10);
	T_INT(s->max_header_bytes, 1024 * 1024);
	T_INT(s->max_forward_bytes, 10 * 1024 * 1024);
	set_free(&s);
	mr_msgs_free(&m);
}

static const char full_set[] =
	"/* every key */\n"
	"{\n"
	"  \"spool\": \"/var/spool/mr\", // absolute stays\n"
	"  \"failed_folder\": \".Broken\",\n"
	"  \"responder_config\": \"conf/resp.json\",\n"
	"  \"attachments_dir\": \"/srv/att\",\n"
	"  \"store\": \"sqlite:db/state.db\",\n"
	"  \"transport_override\": \"maildir:outbox\",\n"
	"  \"smtp_url\": \"smtps://mail.example.org:465\",\n"
	"  \"ses\": {\"region\": \"eu-west-1\",\n"
	"          \"endpoint\": \"http://127.0.0.1:4579\",\n"
	"          \"configuration_set\": \"replies\", \"max_send_rate\": 50,\n"
	"          \"timeout_s\": 5},\n"
	"  \"aws\": {\"credentials_file\": \"keys/aws\", \"profile\": \"mr\",\n"
	"          \"imds\": 0, \"imds_endpoint\": \"http://127.0.0.1:9\"},\n"
	"  \"event_log\": \"syslog\",\n"
	"  \"event_key\": \"keys/event.key\",\n"
	"  \"hash_key\": \"keys/hash.key\",\n"
	"  \"log_level\": \"debug\",\n"
	"  \"from\": \"Example Responder <NoReply@Example.ORG>\",\n"
	"  \"complaints_address\": \"Complaints@Example.org\",\n"
	"  \"admin_addresses\": [\"Ops@Example.org\", \"b@example.net\"],\n"
	"  \"admin_subject_tag\": \"[get]\",\n"
	"  \"own_addresses\": [\"Other@Example.org\"],\n"
	"  \"daily_limit\": 0,\n"
	"  \"exempt_domains\": [\"Example.ORG\"],\n"
	"  \"blocked_domains\": [\"spam.example\", \"Bad.Example\"],\n"
	"  \"provider_domains\": [\"Mail.example\"],\n"
	"  \"provider_renames\": [[\".EXE\", \".ex_\"]],\n"
	"  \"dkim_policy\": \"require-pass\",\n"
	"  \"authserv_id\": \"mx.example.org\",\n"
	"  \"dkim\": {\"domain\": \"Mail.Example.ORG\", \"selector\": \"k1\",\n"
	"           \"rsa_key\": \"dkim.key\", \"ed25519_key\": "
	"\"/k/ed.key\",\n"
	"           \"ed25519_selector\": \"ed1\"},\n"
	"  \"workers\": 256,\n"
	"  \"retry\": {\"initial_s\": 5, \"max_s\": 5, \"max_age_s\": 86400},\n"
	"  \"smtp_timeout_s\": 30,\n"
	"  \"smtp_connect_timeout_s\": 3,\n"
	"  \"max_header_bytes\": 4096,\n"
	"  \"max_forward_bytes\": 0\n"
	"}\n";

T_CASE(set_every_key)
{
	struct mr_msgs m = {NULL, 0};
	struct set *s = load(full_set, &m);
	char *p;

	T_INT(m.n, 0);
	T_OK(s != NULL);
	if (s == NULL)
		return;
	T_STR(s->spool, "/var/spool/mr");
	T_STR(s->failed_folder, ".Broken");
	T_STR(s->responder_config, p = in_dir("conf/resp.json"));
	free(p);
	T_STR(s->attachments_dir, "/srv/att");
	p = xasprintf("sqlite:%s/db/state.db", tdir);
	T_STR(s->store, p);
	free(p);
	p = xasprintf("maildir:%s/outbox", tdir);
	T_STR(s->transport_override, p);
	free(p);
	T_STR(s->smtp_url, "smtps://mail.example.org:465");
	T_STR(s->ses.region, "eu-west-1");
	T_STR(s->ses.endpoint, "http://127.0.0.1:4579");
	T_STR(s->ses.configuration_set, "replies");
	T_INT(s->ses.max_send_rate, 50);
	T_INT(s->ses.timeout_s, 5);
	T_STR(s->aws.credentials_file, p = in_dir("keys/aws"));
	free(p);
	T_STR(s->aws.profile, "mr");
	T_INT(s->aws.imds, 0);
	T_STR(s->aws.imds_endpoint, "http://127.0.0.1:9");
	T_STR(s->event_log, "syslog");
	T_STR(s->event_key, p = in_dir("keys/event.key"));
	free(p);
	T_STR(s->hash_key, p = in_dir("keys/hash.key"));
	free(p);
	T_STR(s->log_level, "debug");
	T_STR(s->from, "Example Responder <NoReply@Example.ORG>");
	T_STR(s->from_addr, "noreply@example.org");
	T_STR(s->from_display, "Example Responder");
	T_STR(s->complaints_address, "complaints@example.org");
	T_INT(s->admin_addresses.n, 2);
	if (s->admin_addresses.n == 2) {
		T_STR(s->admin_addresses.v[0], "ops@example.org");
		T_STR(s->admin_addresses.v[1], "b@example.net");
	}
	T_STR(s->admin_subject_tag, "[get]");
	T_INT(s->own_addresses.n, 1);
	if (s->own_addresses.n == 1)
		T_STR(s->own_addresses.v[0], "other@example.org");
	T_INT(s->daily_limit, 0);
	set_free(&s);
	mr_msgs_free(&m);
}

T_CASE(set_every_key_more)
{
	struct mr_msgs m = {NULL, 0};
	struct set *s = load(full_set, &m);
	char *p;

	T_OK(s != NULL);
	if (s == NULL)
		return;
	T_INT(s->exempt_domains.n, 1);
	if (s->exempt_domains.n == 1)
		T_STR(s->exempt_domains.v[0], "example.org");
	T_INT(s->blocked_domains.n, 2);
	if (s->blocked_domains.n == 2)
		T_STR(s->blocked_domains.v[1], "bad.example");
	T_INT(s->provider_domains.n, 1);
	if (s->provider_domains.n == 1)
		T_STR(s->provider_domains.v[0], "mail.example");
	T_INT(s->n_provider_renames, 1);
	if (s->n_provider_renames == 1) {
		T_STR(s->provider_renames[0].from_ext, ".exe");
		T_STR(s->provider_renames[0].to_ext, ".ex_");
	}
	T_INT(s->dkim_policy, SET_DKIM_REQUIRE_PASS);
	T_STR(s->authserv_id, "mx.example.org");
	T_STR(s->dkim.domain, "mail.example.org");
	T_STR(s->dkim.selector, "k1");
	T_STR(s->dkim.rsa_key, p = in_dir("dkim.key"));
	free(p);
	T_STR(s->dkim.ed25519_key, "/k/ed.key");
	T_STR(s->dkim.ed25519_selector, "ed1");
	T_INT(s->workers, 256);
	T_INT(s->retry.initial_s, 5);
	T_INT(s->retry.max_s, 5);
	T_INT(s->retry.max_age_s, 86400);
	T_INT(s->smtp_timeout_s, 30);
	T_INT(s->smtp_connect_timeout_s, 3);
	T_INT(s->max_header_bytes, 4096);
	T_INT(s->max_forward_bytes, 0);
	set_free(&s);
	mr_msgs_free(&m);
}

/* Relative paths resolve against the settings file's folder, which is
 * made absolute even when the file was named by a relative path. */
T_CASE(set_relative_file)
{
	struct mr_msgs m = {NULL, 0};
	char cwd[PATH_MAX], *sub = in_dir("sub"), *file, *want;
	struct set *s = NULL;

	T_OK(getcwd(cwd, sizeof(cwd)) != NULL);
	T_OK(mkdir(sub, 0700) == 0);
	file = xasprintf("%s/settings.json", sub);
	write_file(file, "{" MIN_SET ", \"transport_override\": \"ses\","
			 "\"event_log\": \"stderr\","
			 "\"store\": \"mysql://mr@db.example:3306/mr\","
			 "\"mysql\": {\"password_file\": \"db.pw\","
			 " \"connect_timeout_s\": 3},"
			 "\"responder_config\": \"s3://cfg/responses.json\"}");
	T_OK(chdir(tdir) == 0);
	s = set_load("sub/../sub/settings.json", &m);
	T_OK(chdir(cwd) == 0);
	T_INT(m.n, 0);
	T_OK(s != NULL);
	if (s != NULL) {
		T_STR(s->path, "sub/../sub/settings.json");
		T_STR(s->dir, sub);
		T_STR(s->spool, want = xasprintf("%s/spool", sub));
		free(want);
		T_STR(s->transport_override, "ses");
		T_STR(s->event_log, "stderr");
		T_STR(s->store, "mysql://mr@db.example:3306/mr");
		T_STR(s->mysql.password_file,
		      want = xasprintf("%s/db.pw", sub));
		free(want);
		T_STR(s->mysql.password_env, "MAILRESPONDER_DB_PASSWORD");
		T_INT(s->mysql.connect_timeout_s, 3);
		T_INT(s->mysql.read_timeout_s, 30);
		T_STR(s->responder_config, "s3://cfg/responses.json");
	}
	set_free(&s);
	T_OK(unlink(file) == 0);
	T_OK(rmdir(sub) == 0);
	free(file);
	free(sub);
	mr_msgs_free(&m);
}

/* JSON null keeps the default of a string key. */
T_CASE(set_null_is_default)
{
	struct mr_msgs m = {NULL, 0};
	struct set *s =
		load("{" MIN_SET ", \"smtp_url\": null,"
		     "\"failed_folder\": null, \"hash_key\": null,"
		     "\"dkim\": {\"selector\": null, \"domain\": null}}",
		     &m);

	T_INT(m.n, 0);
	T_OK(s != NULL);
	if (s != NULL) {
		T_STR(s->smtp_url, "smtp://127.0.0.1:2525");
		T_STR(s->failed_folder, ".Failed");
		T_OK(s->hash_key == NULL);
		T_STR(s->dkim.selector, "default");
		T_STR(s->dkim.domain, "example.org");
	}
	set_free(&s);
	mr_msgs_free(&m);
	/* but not for numbers, lists or required keys */
	T_ONE("{" MIN_SET ", \"daily_limit\": null}",
	      "daily_limit: expected an integer >= 0");
	T_ONE("{" MIN_SET ", \"admin_addresses\": null}",
	      "admin_addresses: expected a list of strings");
	T_ONE("{\"spool\": \"s\", \"from\": null}",
	      "from: required (the From of replies, e.g. \"Name "
	      "<noreply@example.org>\")");
}

T_CASE(set_comments_and_trailing)
{
	struct mr_msgs m = {NULL, 0};
	struct set *s;
	char *want;

	s = load("// line comment\n/* block\n comment */ {\n" MIN_SET
		 " /* inside */, // after\n \"workers\": 2 } \n\t\r\n",
		 &m);
	T_INT(m.n, 0);
	T_OK(s != NULL);
	if (s != NULL)
		T_INT(s->workers, 2);
	set_free(&s);
	want = xasprintf("%s: JSON syntax error at line 2, column 3 (byte 52): "
			 "unexpected data after the JSON value",
			 tpath);
	T_ONE("{" MIN_SET "}\n  x", want);
	free(want);
	want = xasprintf(
		"%s: JSON syntax error at line 1, column 51 (byte 50): "
		"unexpected data after the JSON value",
		tpath);
	T_ONE("{" MIN_SET "} {}", want);
	free(want);
	mr_msgs_free(&m);
}

/* The one problem in m is a JSON syntax error in path at line at; frees m. */
static void json_error_at(struct mr_msgs *m, const char *path, int at)
{
	char *want = xasprintf("%s: JSON syntax error at line %d, ", path, at);

	T_INT(m->n, 1);
	T_HAS(m, want);
	free(want);
	mr_msgs_free(m);
}

T_CASE(set_syntax_errors)
{
	struct mr_msgs m = {NULL, 0};
	struct set *s;
	char *want;

	s = load("{\n  \"spool\": \"s\",\n  \"from\": tru\n}\n", &m);
	T_OK(s == NULL);
	json_error_at(&m, tpath, 3);
	s = load("", &m);
	T_OK(s == NULL);
	want = xasprintf("%s: JSON syntax error at line 1, column 1 (byte 0)",
			 tpath);
	T_HAS(&m, want);
	free(want);
	mr_msgs_free(&m);
	s = load("{\"spool\": \"s\",", &m);
	T_OK(s == NULL);
	T_HAS(&m, "line 1, column 15 (byte 14): unexpected end of data");
	mr_msgs_free(&m);
	want = xasprintf("%s: expected a JSON object at the top level", tpath);
	T_ONE("[]", want);
	free(want);
	s = set_load("/nonexistent/settings.json", &m);
	T_OK(s == NULL);
	T_HAS(&m, "/nonexistent/settings.json");
	mr_msgs_free(&m);
	/* problems may be NULL */
	T_OK(set_load("/nonexistent/settings.json", NULL) == NULL);
}

T_CASE(set_unknown_keys)
{
	T_ONE("{" MIN_SET ", \"dialy_limit\": 3}",
	      "unknown key 'dialy_limit' (did you mean 'daily_limit'?)");
	T_ONE("{" MIN_SET ", \"colour\": 3}", "unknown key 'colour'");
	T_ONE("{" MIN_SET ", \"dkim\": {\"selctor\": \"x\"}}",
	      "unknown key 'dkim.selctor' (did you mean 'dkim.selector'?)");
	T_ONE("{" MIN_SET ", \"retry\": {\"max\": 3}}",
	      "unknown key 'retry.max'");
	T_ONE("{" MIN_SET ", \"a\\nb\": 3}", "unknown key 'a?b'");
}

T_CASE(set_wrong_types)
{
	T_ONE("{" MIN_SET ", \"daily_limit\": \"3\"}",
	      "daily_limit: expected an integer >= 0");
	T_ONE("{" MIN_SET ", \"daily_limit\": -1}",
	      "daily_limit: expected an integer >= 0");
	T_ONE("{" MIN_SET ", \"daily_limit\": 2.5}",
	      "daily_limit: expected an integer >= 0");
	T_ONE("{" MIN_SET ", \"ses\": {\"max_send_rate\": -5}}",
	      "ses.max_send_rate: expected an integer >= 0 and <= 100000");
	T_ONE("{" MIN_SET ", \"aws\": {\"imds\": 2}}",
	      "aws.imds: expected an integer >= 0 and <= 1");
	T_ONE("{" MIN_SET ", \"aws\": {\"imds_endpoint\": \"ftp://x\"}}",
	      "aws.imds_endpoint: expected null or an http:// or https:// "
	      "URL, got \"ftp://x\"");
	T_ONE("{" MIN_SET ", \"dkim\": {\"selector\": 5}}",
	      "dkim.selector: expected a string");
	T_ONE("{" MIN_SET ", \"dkim\": []}", "dkim: expected an object");
	T_ONE("{" MIN_SET ", \"ses\": {\"region\": true}}",
	      "ses.region: expected a string");
	T_ONE("{" MIN_SET ", \"workers\": 257}",
	      "workers: expected an integer >= 0 and <= 256");
	T_ONE("{" MIN_SET ", \"retry\": {\"initial_s\": 0}}",
	      "retry.initial_s: expected an integer > 0 and <= 315360000");
	T_ONE("{" MIN_SET ", \"smtp_timeout_s\": 0}",
	      "smtp_timeout_s: expected an integer > 0 and <= 315360000");
	T_ONE("{" MIN_SET ", \"max_header_bytes\": 4095}",
	      "max_header_bytes: expected an integer >= 4096 and <= "
	      "1073741824");
	T_ONE("{" MIN_SET ", \"admin_addresses\": \"ops@example.org\"}",
	      "admin_addresses: expected a list of strings");
	T_ONE("{" MIN_SET ", \"exempt_domains\": [\"ok.example\", 3]}",
	      "exempt_domains[1]: expected a string");
	T_ONE("{\"spool\": \"\", \"from\": \"a@example.org\"}",
	      "spool: must not be empty");
	T_ONE("{" MIN_SET ", \"authserv_id\": \"mx example\"}",
	      "authserv_id: must not contain spaces");
	T_ONE("{" MIN_SET ", \"admin_subject_tag\": \"a\\u0000b\"}",
	      "admin_subject_tag: control character or invalid UTF-8 in "
	      "string");
}

T_CASE(set_bad_values)
{
	T_ONE("{" MIN_SET ", \"dkim_policy\": \"strict\"}",
	      "dkim_policy: expected one of ignore, reject-fail, "
	      "require-pass, got \"strict\"");
	T_ONE("{" MIN_SET ", \"log_level\": \"verbose\"}",
	      "log_level: expected one of err, warn, info, debug, got "
	      "\"verbose\"");
	T_ONE("{" MIN_SET ", \"store\": \"mysql://mr:pw9@db/x\"}",
	      "store: a password in the URL is refused; use "
	      "mysql.password_file or mysql.password_env");
	T_ONE("{" MIN_SET ", \"mysql\": {\"password_env\": \"1BAD\"}}",
	      "mysql.password_env: expected an environment variable name, "
	      "got \"1BAD\"");
	T_ONE("{" MIN_SET ", \"mysql\": {\"read_timeout_s\": 0}}",
	      "mysql.read_timeout_s: expected an integer > 0 and <= 3600");
	T_ONE("{" MIN_SET ", \"mysql\": {\"pasword_file\": \"x\"}}",
	      "unknown key 'mysql.pasword_file' (did you mean "
	      "'mysql.password_file'?)");
	T_ONE("{" MIN_SET ", \"store\": \"postgres://db\"}",
	      "store: expected \"sqlite:<path>\" or \"mysql://...\", got "
	      "\"postgres://db\"");
	T_ONE("{" MIN_SET ", \"transport_override\": \"fax:123\"}",
	      "transport_override: expected one of \"maildir:...\", "
	      "\"smtp://...\", \"smtps://...\", \"ses\", got \"fax:123\"");
	T_ONE("{" MIN_SET ", \"smtp_url\": \"http://x\"}",
	      "smtp_url: expected one of \"maildir:...\", \"smtp://...\", "
	      "\"smtps://...\", \"ses\", got \"http://x\"");
	T_ONE("{" MIN_SET ", \"smtp_url\": \"smtp://u:p@x\"}",
	      "smtp_url: transport smtp://: expected smtp://host:port (no "
	      "user name or password)");
	T_ONE("{" MIN_SET ", \"transport_override\": \"sesame\"}",
	      "transport_override: expected \"ses\" (region and endpoint "
	      "are the ses settings)");
	T_ONE("{" MIN_SET ", \"ses\": {\"endpoint\": \"ftp://x\"}}",
	      "ses.endpoint: expected null or an http:// or https:// URL, "
	      "got \"ftp://x\"");
	T_ONE("{" MIN_SET ", \"failed_folder\": \"Failed\"}",
	      "failed_folder: expected a Maildir++ folder name such as "
	      "\".Failed\", got \"Failed\"");
	T_ONE("{" MIN_SET ", \"responder_config\": \"s3://bucket\"}",
	      "responder_config: expected a path or \"s3://bucket/key\", got "
	      "\"s3://bucket\"");
	T_ONE("{" MIN_SET ", \"dkim\": {\"selector\": \"a/b\"}}",
	      "dkim.selector: expected a DKIM selector (letters, digits, "
	      "'-', '_', '.'), got \"a/b\"");
	T_ONE("{" MIN_SET ", \"dkim\": {\"domain\": \"ex..org\"}}",
	      "dkim.domain: expected a domain name, got \"ex..org\"");
	T_ONE("{" MIN_SET ", \"blocked_domains\": [\"a@b.example\"]}",
	      "blocked_domains[0]: expected a domain name, got "
	      "\"a@b.example\"");
	T_ONE("{" MIN_SET ", \"retry\": {\"initial_s\": 100, \"max_s\": 50}}",
	      "retry.initial_s: must not exceed retry.max_s (100 > 50)");
}

T_CASE(set_bad_addresses)
{
	T_ONE("{\"spool\": \"s\", \"from\": \"not an address\"}",
	      "from: expected a mailbox such as \"Name <a@example.org>\", got "
	      "\"not an address\"");
	T_ONE("{" MIN_SET ", \"complaints_address\": \"complaints\"}",
	      "complaints_address: expected an address such as "
	      "a@example.org, got \"complaints\"");
	T_ONE("{" MIN_SET ", \"admin_addresses\": [\"ok@example.org\", "
	      "\"bad@@example.org\"]}",
	      "admin_addresses[1]: expected an address such as a@example.org, "
	      "got \"bad@@example.org\"");
	T_ONE("{" MIN_SET ", \"own_addresses\": [\"\"]}",
	      "own_addresses[0]: must not be empty");
}

T_CASE(set_metrics)
{
	struct mr_msgs m = {NULL, 0};
	struct set *s =
		load("{" MIN_SET ", \"metrics\": {\"cloudwatch\": true, "
		     "\"interval_s\": 30, \"namespace\": \"Acme/MR\", "
		     "\"dimensions\": {\"AutoScalingGroupName\": "
		     "\"Fleet-1\", \"Stage\": \"prod\"}, "
		     "\"instance_dimensions\": [\"InstanceId\"], "
		     "\"legacy_names\": false, \"retries\": 0}}",
		     &m);

	T_OK(s != NULL);
	if (s != NULL) {
		T_INT(s->metrics.cloudwatch, 1);
		T_INT(s->metrics.interval_s, 30);
		T_STR(s->metrics.namespace_, "Acme/MR");
		T_INT((long)s->metrics.dim_names.n, 2);
		T_STR(s->metrics.dim_names.v[0], "AutoScalingGroupName");
		T_STR(s->metrics.dim_values.v[0], "Fleet-1");
		T_INT(s->metrics.instance_id, 1);
		T_INT(s->metrics.asg_name, 0);
		T_INT(s->metrics.legacy_names, 0);
		T_INT(s->metrics.retries, 0);
		T_INT(s->metrics.timeout_s, 10);
	}
	set_free(&s);
	mr_msgs_free(&m);
	s = load("{" MIN_SET "}", &m);
	T_OK(s != NULL && s->metrics.cloudwatch == 0 &&
	     s->metrics.interval_s == 60 && s->metrics.legacy_names == 1 &&
	     strcmp(s->metrics.namespace_, "Psiphon/MailResponder") == 0);
	set_free(&s);
	mr_msgs_free(&m);
	T_ONE("{" MIN_SET ", \"metrics\": {\"cloudwatch\": 1}}",
	      "metrics.cloudwatch: expected true or false");
	T_ONE("{" MIN_SET ", \"metrics\": {\"namespace\": \"AWS/EC2\"}}",
	      "metrics.namespace: expected 1 to 255 printable ASCII "
	      "characters, not starting with AWS/, got \"AWS/EC2\"");
	T_ONE("{" MIN_SET ", \"metrics\": {\"instance_dimensions\": "
	      "[\"Region\"]}}",
	      "metrics.instance_dimensions[0]: expected InstanceId or "
	      "AutoScalingGroupName, got \"Region\"");
	T_ONE("{" MIN_SET ", \"metrics\": {\"dimensions\": {\"A\": 1}}}",
	      "metrics.dimensions: A: expected a name and a string value of "
	      "1 to 255 printable ASCII characters");
	T_ONE("{" MIN_SET ", \"metrics\": {\"interval_s\": 0}}",
	      "metrics.interval_s: expected an integer > 0 and <= 86400");
}

T_CASE(set_renames)
{
	T_ONE("{" MIN_SET ", \"provider_renames\": [[\"exe\", \"\"]]}",
	      "provider_renames[0]: expected from_ext such as \".exe\", got "
	      "\"exe\"");
	T_ONE("{" MIN_SET ", \"provider_renames\": [[\".exe\"]]}",
	      "provider_renames[0]: expected [from_ext, to_ext]");
	T_ONE("{" MIN_SET ", \"provider_renames\": [[\".a\", \"x\"], "
	      "[\".b\", \"/x\"]]}",
	      "provider_renames[1]: expected to_ext such as \".ap_\" or \"\", "
	      "got \"/x\"");
	T_ONE("{" MIN_SET ", \"provider_renames\": {}}",
	      "provider_renames: expected a list of [from_ext, to_ext] pairs");
}

T_CASE(set_required)
{
	struct mr_msgs m = {NULL, 0};
	struct set *s = load("{}", &m);

	T_OK(s == NULL);
	T_PROBLEMS(&m, "spool: required (the Maildir Postfix delivers to)",
		   "from: required (the From of replies, e.g. "
		   "\"Name <noreply@example.org>\")");
	mr_msgs_free(&m);
}

/* One pass reports every problem, in file order. */
T_CASE(set_all_problems)
{
	struct mr_msgs m = {NULL, 0};
	struct set *s;

	m.v = xcalloc(1, sizeof(*m.v));
	m.v[0] = xstrdup("earlier problem");
	m.n = 1;
	s = load("{" MIN_SET ",\n"
		 "  \"dialy_limit\": 3,\n"
		 "  \"workers\": \"four\",\n"
		 "  \"dkim\": {\"selector\": [], \"domain\": \"example.org\"}\n"
		 "}\n",
		 &m);
	T_OK(s == NULL);
	T_PROBLEMS(&m, "earlier problem",
		   "unknown key 'dialy_limit' (did you mean 'daily_limit'?)",
		   "workers: expected an integer >= 0 and <= 256",
		   "dkim.selector: expected a string");
	mr_msgs_free(&m);
}

T_CASE(set_sample)
{
	struct mr_msgs m = {NULL, 0};
	struct set *s = set_load("config/settings.sample.json", &m);
	struct rcfg *c = NULL;

	for (size_t i = 0; i < m.n; i++)
		printf("# %s\n", m.v[i]);
	T_INT(m.n, 0);
	T_OK(s != NULL);
	if (s != NULL) {
		T_STR(s->spool, "/var/spool/mailresponder");
		T_STR(s->from_addr, "noreply@example.org");
		T_STR(s->from_display, "Example Responder");
		T_STR(s->dkim.domain, "example.org");
		T_STR(s->dkim.ed25519_selector, "key1");
		T_OK(s->dir[0] == '/');
		T_OK(strstr(s->responder_config, "/config/responses.json") !=
		     NULL);
		c = rcfg_load_file("config/responses.sample.json", &m);
		T_OK(c != NULL);
		T_INT(m.n, 0);
	}
	rcfg_free(&c);
	set_free(&s);
	mr_msgs_free(&m);
}

/* --- responder config --- */

static struct rcfg *rparse(const char *text, struct mr_msgs *m)
{
	return rcfg_parse(text, strlen(text), m);
}

T_CASE(rcfg_body_forms)
{
	struct mr_msgs m = {NULL, 0};
	struct rcfg *c = rparse(
		"[{\"email_addr\": \"Get@Example.ORG\", \"body\": \"plain\","
		"  \"send_method\": \"smtp\"},"
		" {\"email_addr\": \"get+fa@example.org\", \"send_method\":"
		"  \"Ses\", \"body\": [[\"text/plain\", \"سلام\"],"
		"  [\"Text/HTML\", \"<p>سلام</p>\"]]}]",
		&m);
	const struct rcfg_entry *e;

	T_INT(m.n, 0);
	T_OK(c != NULL);
	T_INT(rcfg_count(c), 2);
	if (c == NULL || rcfg_count(c) != 2)
		goto out;
	e = rcfg_entry(c, 0);
	T_INT(e->index, 0);
	T_STR(e->email_addr, "get@example.org");
	T_INT(e->method, RCFG_SMTP);
	T_INT(e->n_bodies, 1);
	T_STR(e->bodies[0].mimetype, "text/plain");
	T_STR(e->bodies[0].text, "plain");
	T_INT(e->bodies[0].len, 5);
	T_INT(e->n_atts, 0);
	e = rcfg_entry(c, 1);
	T_INT(e->index, 1);
	T_INT(e->method, RCFG_SES);
	T_INT(e->n_bodies, 2);
	if (e->n_bodies == 2) {
		T_STR(e->bodies[0].mimetype, "text/plain");
		T_STR(e->bodies[0].text, "سلام");
		T_INT(e->bodies[0].len, strlen("سلام"));
		T_STR(e->bodies[1].mimetype, "text/html");
		T_STR(e->bodies[1].text, "<p>سلام</p>");
	}
	T_OK(rcfg_entry(c, 2) == NULL);
out:
	rcfg_free(&c);
	T_OK(c == NULL);
	mr_msgs_free(&m);
}

/* The existing system's form: a bare text subtype means text/<subtype>. */
T_CASE(rcfg_bare_subtypes)
{
	struct mr_msgs m = {NULL, 0};
	struct rcfg *c = rparse(
		"[{\"email_addr\": \"get@example.org\", \"send_method\": "
		"\"SES\", \"body\": [[\"plain\", \"English - https://x\"],"
		"  [\"html\", \"<a href=\\\"https://x\\\">English</a>\"],"
		"  [\"HTML\", \"h\"], [\"markdown\", \"*m*\"],"
		"  [\"application/xhtml+xml\", \"x\"]],"
		"  \"attachments\": null}]",
		&m);
	const struct rcfg_entry *e;

	T_INT(m.n, 0);
	T_OK(c != NULL);
	if (c == NULL)
		goto out;
	e = rcfg_entry(c, 0);
	T_INT(e->n_bodies, 5);
	if (e->n_bodies != 5)
		goto out;
	T_STR(e->bodies[0].mimetype, "text/plain");
	T_STR(e->bodies[0].text, "English - https://x");
	T_STR(e->bodies[1].mimetype, "text/html");
	T_STR(e->bodies[1].text, "<a href=\"https://x\">English</a>");
	T_STR(e->bodies[2].mimetype, "text/html");
	T_STR(e->bodies[3].mimetype, "text/markdown");
	T_STR(e->bodies[4].mimetype, "application/xhtml+xml");
out:
	rcfg_free(&c);
	mr_msgs_free(&m);
}

T_CASE(rcfg_attachments)
{
	struct mr_msgs m = {NULL, 0};
	struct rcfg *c =
		rparse("// comments are fine\n"
		       "[{\"email_addr\": \"a@example.org\", \"body\": \"x\","
		       "  \"send_method\": \"SMTP\", \"attachments\": null},"
		       " {\"email_addr\": \"b@example.org\", \"body\": \"x\","
		       "  \"send_method\": \"SMTP\", \"attachments\": []},"
		       " {\"email_addr\": \"c@example.org\", \"body\": \"x\","
		       "  \"send_method\": \"SMTP\", \"attachments\": ["
		       "  [\"downloads\", \"app/Example-1.0.apk\", "
		       "\"Example-1.0.apk\"],"
		       "  [\"b2\", \"win/Setup 1.exe\", \"Setup 1.exe\"]]},"
		       " /* no attachments key */"
		       " {\"email_addr\": \"d@example.org\", \"body\": \"x\","
		       "  \"send_method\": \"SMTP\"}]\n",
		       &m);
	const struct rcfg_entry *e;

	T_INT(m.n, 0);
	T_INT(rcfg_count(c), 4);
	if (rcfg_count(c) != 4)
		goto out;
	T_INT(rcfg_entry(c, 0)->n_atts, 0);
	T_INT(rcfg_entry(c, 1)->n_atts, 0);
	T_INT(rcfg_entry(c, 3)->n_atts, 0);
	e = rcfg_entry(c, 2);
	T_INT(e->n_atts, 2);
	if (e->n_atts == 2) {
		T_STR(e->atts[0].bucket, "downloads");
		T_STR(e->atts[0].key, "app/Example-1.0.apk");
		T_STR(e->atts[0].name, "Example-1.0.apk");
		T_STR(e->atts[1].bucket, "b2");
		T_STR(e->atts[1].key, "win/Setup 1.exe");
		T_STR(e->atts[1].name, "Setup 1.exe");
	}
out:
	rcfg_free(&c);
	mr_msgs_free(&m);
}

/* One entry with a plain body, as JSON text. */
#define ENT_FMT                                                                \
	"{\"email_addr\": \"%s\", \"body\": \"b\", \"send_method\": \"%s\"}"

/* A config of n entries given as (address, send_method) pairs. */
static char *rlist(int n, ...)
{
	struct mr_buf b;
	va_list ap;

	buf_init(&b);
	buf_puts(&b, "[");
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		const char *addr = va_arg(ap, const char *);
		const char *method = va_arg(ap, const char *);

		buf_printf(&b, "%s\n" ENT_FMT, i ? "," : "", addr, method);
	}
	va_end(ap);
	buf_puts(&b, "]");
	return buf_steal(&b, NULL);
}

T_CASE(rcfg_lookup_order)
{
	struct mr_msgs m = {NULL, 0};
	char *text = rlist(5, "get@example.org", "SMTP", "get+fa@example.org",
			   "SMTP", "GET@example.ORG", "SES", "zz@example.org",
			   "SMTP", "get@Example.org", "SMTP");
	struct rcfg *c = rparse(text, &m);
	const struct rcfg_entry *out[4];
	const char *const *addrs;
	char long_addr[400];

	T_INT(m.n, 0);
	T_OK(c != NULL);
	T_INT(rcfg_lookup(c, "Get@EXAMPLE.org", out, 4), 3);
	T_INT(out[0]->index, 0);
	T_INT(out[1]->index, 2);
	T_INT(out[1]->method, RCFG_SES);
	T_INT(out[2]->index, 4);
	out[1] = NULL;
	T_INT(rcfg_lookup(c, "get@example.org", out, 1), 3);
	T_INT(out[0]->index, 0);
	T_OK(out[1] == NULL);
	T_INT(rcfg_lookup(c, "get@example.org", NULL, 0), 3);
	T_INT(rcfg_lookup(c, "GET+FA@example.org", out, 4), 1);
	T_INT(out[0]->index, 1);
	T_INT(rcfg_lookup(c, "nobody@example.org", out, 4), 0);
	T_INT(rcfg_lookup(c, "get@example.or", out, 4), 0);
	T_INT(rcfg_lookup(c, "", out, 4), 0);
	T_INT(rcfg_lookup(c, NULL, out, 4), 0);
	memset(long_addr, 'a', sizeof(long_addr) - 1);
	long_addr[sizeof(long_addr) - 1] = 0;
	T_INT(rcfg_lookup(c, long_addr, out, 4), 0);
	T_INT(rcfg_addresses(c, &addrs), 3);
	if (rcfg_addresses(c, &addrs) == 3) {
		T_STR(addrs[0], "get@example.org");
		T_STR(addrs[1], "get+fa@example.org");
		T_STR(addrs[2], "zz@example.org");
	}
	rcfg_free(&c);
	free(text);
	mr_msgs_free(&m);
}

/* Hundreds of entries: every address finds exactly its entries. */
T_CASE(rcfg_lookup_many)
{
	struct mr_msgs m = {NULL, 0};
	struct mr_buf b;
	struct rcfg *c;
	const struct rcfg_entry *out[2];
	const char *const *addrs;
	size_t bad = 0;

	buf_init(&b);
	buf_puts(&b, "[");
	for (int i = 0; i < 600; i++)
		buf_printf(&b,
			   "%s{\"email_addr\": \"U%03d@Example.org\", "
			   "\"body\": \"b\", \"send_method\": \"SMTP\"}",
			   i ? "," : "", i % 300);
	buf_puts(&b, "]");
	c = rcfg_parse(b.data, b.len, &m);
	T_INT(m.n, 0);
	T_INT(rcfg_count(c), 600);
	T_INT(rcfg_addresses(c, &addrs), 300);
	for (int i = 0; c != NULL && i < 300; i++) {
		char a[32], low[32];

		/* 17 characters: both fit */
		(void)snprintf(a, sizeof(a), "u%03d@EXAMPLE.ORG", i);
		(void)snprintf(low, sizeof(low), "u%03d@example.org", i);
		if (rcfg_lookup(c, a, out, 2) != 2 ||
		    out[0]->index != (size_t)i ||
		    out[1]->index != (size_t)i + 300 ||
		    strcmp(addrs[i], low) != 0)
			bad++;
	}
	T_INT(bad, 0);
	rcfg_free(&c);
	buf_free(&b);
	mr_msgs_free(&m);
}

T_CASE(rcfg_empty)
{
	struct mr_msgs m = {NULL, 0};
	struct rcfg *c = rparse(" [ ] \n", &m);
	const char *const *addrs = NULL;
	const struct rcfg_entry *out[1];

	T_OK(c != NULL);
	T_INT(m.n, 0);
	T_INT(rcfg_count(c), 0);
	T_INT(rcfg_addresses(c, &addrs), 0);
	T_INT(rcfg_lookup(c, "get@example.org", out, 1), 0);
	T_OK(rcfg_entry(c, 0) == NULL);
	rcfg_free(&c);
	rcfg_free(&c); /* NULL is fine */
	mr_msgs_free(&m);
}

#define E0(fields) "[{\"email_addr\": \"a@example.org\", " fields "}]"
#define E0B(body) E0("\"send_method\": \"SMTP\", \"body\": " body)
#define E0A(atts)                                                              \
	E0("\"send_method\": \"SMTP\", \"body\": \"b\", "                      \
	   "\"attachments\": " atts)

T_CASE(rcfg_entry_errors)
{
	char *text = rlist(4, "a@example.org", "SMTP", "b@example.org", "SES",
			   "c@example.org", "smtp", "d@example.org", "FAX");

	T_RONE(text, "entry 3: send_method: expected \"SMTP\" or \"SES\", got "
		     "\"FAX\"");
	free(text);
	T_RONE(E0("\"body\": \"b\", \"send_method\": 5"),
	       "entry 0: send_method: expected \"SMTP\" or \"SES\", got an "
	       "integer");
	T_RONE("[{\"email_addr\": \"a@example.org\", \"body\": \"b\", "
	       "\"send_method\": \"SES\"}, {\"email_addr\": \"b@example.org\", "
	       "\"body\": \"b\", \"send_method\": \"SES\"}, \"x\"]",
	       "entry 2: expected an object, got a string");
	T_RONE("[null]", "entry 0: expected an object, got null");
	T_RONE(E0("\"body\": \"b\", \"send_method\": \"SMTP\", \"colour\": 1"),
	       "entry 0: unknown field \"colour\"");
	T_RONE(E0("\"body\": \"b\""), "entry 0: send_method: missing");
	T_RONE(E0("\"send_method\": \"SES\""), "entry 0: body: missing");
	T_RONE("[{\"body\": \"b\", \"send_method\": \"SES\"}]",
	       "entry 0: email_addr: missing");
	T_RONE("[{\"email_addr\": 7, \"body\": \"b\", \"send_method\": "
	       "\"SES\"}]",
	       "entry 0: email_addr: expected a string, got an integer");
	T_RONE("[{\"email_addr\": \"get\", \"body\": \"b\", \"send_method\": "
	       "\"SES\"}]",
	       "entry 0: email_addr: expected an address such as "
	       "get@example.org, got \"get\"");
}

T_CASE(rcfg_body_errors)
{
	T_RONE(E0B("[]"), "entry 0: body: expected a string or a non-empty "
			  "list of [mimetype, text], got an empty list");
	T_RONE(E0B("3"), "entry 0: body: expected a string or a non-empty "
			 "list of [mimetype, text], got an integer");
	T_RONE(E0B("[[\"text/plain\", \"a\"], [\"text/html\"]]"),
	       "entry 0: body[1]: expected [mimetype, text], got a list");
	T_RONE(E0B("[\"text/plain\"]"),
	       "entry 0: body[0]: expected [mimetype, text], got a string");
	T_RONE(E0B("[[\"text/\", \"a\"]]"),
	       "entry 0: body[0]: mimetype: expected a text subtype such as "
	       "plain or html, or type/subtype such as text/html, got "
	       "\"text/\"");
	T_RONE(E0B("[[\"/html\", \"a\"]]"),
	       "entry 0: body[0]: mimetype: expected a text subtype such as "
	       "plain or html, or type/subtype such as text/html, got "
	       "\"/html\"");
	T_RONE(E0B("[[\"\", \"a\"]]"),
	       "entry 0: body[0]: mimetype: expected a text subtype such as "
	       "plain or html, or type/subtype such as text/html, got \"\"");
	T_RONE(E0B("[[\"text/html/x\", \"a\"]]"),
	       "entry 0: body[0]: mimetype: expected a text subtype such as "
	       "plain or html, or type/subtype such as text/html, got "
	       "\"text/html/x\"");
	T_RONE(E0B("[[\"html; charset=utf-8\", \"a\"]]"),
	       "entry 0: body[0]: mimetype: expected a text subtype such as "
	       "plain or html, or type/subtype such as text/html, got "
	       "\"html; charset=utf-8\"");
	T_RONE(E0B("[[\"text/html; charset=utf-8\", \"a\"]]"),
	       "entry 0: body[0]: mimetype: expected a text subtype such as "
	       "plain or html, or type/subtype such as text/html, got "
	       "\"text/html; charset=utf-8\"");
	T_RONE(E0B("[[\"text/plain\", 1]]"),
	       "entry 0: body[0]: text: expected a string, got an integer");
	T_RONE(E0B("[[\"text/plain\", \"\xff\xfe\"]]"),
	       "entry 0: body[0]: text: not valid UTF-8");
	T_RONE(E0B("\"\xc0\xaf\""), "entry 0: body: not valid UTF-8");
	T_RONE(E0B("\"a\\u0000b\""), "entry 0: body: contains a NUL character");
}

T_CASE(rcfg_attachment_errors)
{
	T_RONE(E0A("\"file.apk\""),
	       "entry 0: attachments: expected null or a list of [bucket, "
	       "key, shown_filename], got a string");
	T_RONE(E0A("[[\"b\", \"k\"]]"),
	       "entry 0: attachments[0]: expected [bucket, key, "
	       "shown_filename], got a list");
	T_RONE(E0A("[[\"b\", \"k\", \"n\"], [\"b\", 3, \"n\"]]"),
	       "entry 0: attachments[1]: key: expected a string, got an "
	       "integer");
	T_RONE(E0A("[[\"b\", \"app/../../etc/passwd\", \"n\"]]"),
	       "entry 0: attachments[0]: key: must not contain \".\" or "
	       "\"..\" components, got \"app/../../etc/passwd\"");
	T_RONE(E0A("[[\"b\", \"/etc/passwd\", \"n\"]]"),
	       "entry 0: attachments[0]: key: must not start with '/', got "
	       "\"/etc/passwd\"");
	T_RONE(E0A("[[\"..\", \"k\", \"n\"]]"),
	       "entry 0: attachments[0]: bucket: must not contain \".\" or "
	       "\"..\" components, got \"..\"");
	T_RONE(E0A("[[\"\", \"k\", \"n\"]]"),
	       "entry 0: attachments[0]: bucket: must not be empty, got \"\"");
	T_RONE(E0A("[[\"b\", \"k\", \"a/b.apk\"]]"),
	       "entry 0: attachments[0]: shown_filename: expected a non-empty "
	       "printable ASCII name without '\"', '\\' or '/', got "
	       "\"a/b.apk\"");
	T_RONE(E0A("[[\"b\", \"k\", \"a\\\"b\"]]"),
	       "entry 0: attachments[0]: shown_filename: expected a non-empty "
	       "printable ASCII name without '\"', '\\' or '/', got "
	       "\"a\"b\"");
	T_RONE(E0A("[[\"b\", \"k\", \"x\\r\\nBcc: y\"]]"),
	       "entry 0: attachments[0]: shown_filename: expected a non-empty "
	       "printable ASCII name without '\"', '\\' or '/', got "
	       "\"x??Bcc: y\"");
	T_RONE(E0A("[[\"b\", \"k\", \"\"]]"),
	       "entry 0: attachments[0]: shown_filename: expected a non-empty "
	       "printable ASCII name without '\"', '\\' or '/', got \"\"");
}

/* Every problem of every entry in one pass. */
T_CASE(rcfg_all_problems)
{
	struct mr_msgs m = {NULL, 0};
	struct rcfg *c =
		rparse("[{\"email_addr\": \"a@example.org\", \"body\": \"b\","
		       "  \"send_method\": \"SMTP\"},"
		       " {\"email_addr\": \"b@\", \"body\": \"b\","
		       "  \"send_method\": \"SMTP\"},"
		       " {\"email_addr\": \"c@example.org\", \"body\": \"b\","
		       "  \"send_method\": \"FAX\"},"
		       " {\"email_addr\": \"d@example.org\", \"body\": [],"
		       "  \"send_method\": \"SES\"}]",
		       &m);

	T_OK(c == NULL);
	T_PROBLEMS(&m,
		   "entry 1: email_addr: expected an address such as "
		   "get@example.org, got \"b@\"",
		   "entry 2: send_method: expected \"SMTP\" or \"SES\", got "
		   "\"FAX\"",
		   "entry 3: body: expected a string or a non-empty list of "
		   "[mimetype, text], got an empty list");
	mr_msgs_free(&m);
}

T_CASE(rcfg_syntax)
{
	struct mr_msgs m = {NULL, 0};
	struct rcfg *c;
	char *path = in_dir("responses.json");

	T_RONE("{}", "expected a JSON list of entries at the top level, got "
		     "an object");
	T_RONE("[] []", "JSON syntax error at line 1, column 4 (byte 3): "
			"unexpected data after the JSON value");
	T_RONE("[\n{\"email_addr\": \"a@example.org\", \"body\": \"b\", "
	       "\"send_method\": \"SMTP\"},\n  oops]",
	       "JSON syntax error at line 3, column 3 (byte 73): unexpected "
	       "character");
	/* a NUL byte is no JSON, and the parser reads only len bytes */
	c = rcfg_parse("[]\0[", 4, &m);
	T_OK(c == NULL);
	T_INT(m.n, 1);
	T_HAS(&m, "JSON syntax error at line 1, column 3 (byte 2): NUL byte");
	mr_msgs_free(&m);
	c = rcfg_parse("[]]]", 2, &m);
	T_OK(c != NULL);
	T_INT(m.n, 0);
	rcfg_free(&c);
	write_file(path, "[\n  {\"email_addr\": }\n]\n");
	c = rcfg_load_file(path, &m);
	T_OK(c == NULL);
	json_error_at(&m, path, 2);
	T_OK(unlink(path) == 0);
	c = rcfg_load_file(path, &m);
	T_OK(c == NULL);
	T_HAS(&m, path);
	mr_msgs_free(&m);
	free(path);
}

T_CASE(rcfg_sample)
{
	struct mr_msgs m = {NULL, 0};
	struct rcfg *c = rcfg_load_file("config/responses.sample.json", &m);
	const struct rcfg_entry *out[4];
	const char *const *addrs;

	for (size_t i = 0; i < m.n; i++)
		printf("# %s\n", m.v[i]);
	T_INT(m.n, 0);
	T_OK(c != NULL);
	if (c == NULL)
		return;
	T_INT(rcfg_lookup(c, "get@example.org", out, 4), 2);
	T_INT(out[0]->method, RCFG_SMTP);
	T_INT(out[0]->n_bodies, 2);
	T_STR(out[0]->bodies[0].mimetype, "text/plain");
	T_STR(out[0]->bodies[1].mimetype, "text/html");
	/* runs as shipped: no attachment to provide, SMTP only */
	T_INT(out[0]->n_atts, 0);
	T_INT(out[1]->method, RCFG_SMTP);
	T_INT(rcfg_lookup(c, "get+fa@example.org", out, 4), 1);
	T_OK(strstr(out[0]->bodies[0].text, "سلام") != NULL);
	T_INT(rcfg_addresses(c, &addrs), 2);
	rcfg_free(&c);
	mr_msgs_free(&m);
}

int main(void)
{
	char tmpl[] = "/tmp/test_settings.XXXXXX";

	if (mkdtemp(tmpl) == NULL || (tdir = realpath(tmpl, NULL)) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	tpath = xasprintf("%s/settings.json", tdir);
	T_RUN(set_defaults);
	T_RUN(set_defaults_more);
	T_RUN(set_every_key);
	T_RUN(set_every_key_more);
	T_RUN(set_relative_file);
	T_RUN(set_null_is_default);
	T_RUN(set_comments_and_trailing);
	T_RUN(set_syntax_errors);
	T_RUN(set_unknown_keys);
	T_RUN(set_wrong_types);
	T_RUN(set_bad_values);
	T_RUN(set_bad_addresses);
	T_RUN(set_metrics);
	T_RUN(set_renames);
	T_RUN(set_required);
	T_RUN(set_all_problems);
	T_RUN(set_sample);
	T_RUN(rcfg_body_forms);
	T_RUN(rcfg_bare_subtypes);
	T_RUN(rcfg_attachments);
	T_RUN(rcfg_lookup_order);
	T_RUN(rcfg_lookup_many);
	T_RUN(rcfg_empty);
	T_RUN(rcfg_entry_errors);
	T_RUN(rcfg_body_errors);
	T_RUN(rcfg_attachment_errors);
	T_RUN(rcfg_all_problems);
	T_RUN(rcfg_syntax);
	T_RUN(rcfg_sample);
	(void)unlink(tpath); /* cleanup; a leftover is harmless */
	(void)rmdir(tdir);
	free(tpath);
	free(tdir);
	return t_done();
}
