/* settings.h - the settings file (design.md s.10), an immutable snapshot
 * SYNOPSIS     struct set *set_load(const char *path,
 *                                   struct mr_msgs *problems);
 *              void set_free(struct set **s);
 * DESCRIPTION  One JSON object, read whole (at most 1 MiB) and parsed with
 *              json-c: comments are allowed, nothing but whitespace may
 *              follow the top-level object. Every key is optional except
 *              "spool". Defaults are set first; then each key of the file,
 *              in file order, is checked for its JSON type and value and
 *              only then replaces the default. Last come the derived
 *              defaults (dkim.domain from "from", ...) and the checks
 *              across keys. No problem stops the walk, so that
 *              config-check shows all of them in one run. JSON null keeps
 *              the default of a string key; numbers and lists must be
 *              given as such. Relative paths resolve against the settings
 *              file's folder. The fields are the API and are never
 *              changed after set_load(), so threads share them freely.
 * DIAGNOSTICS  NULL when any problem was found; every problem is appended
 *              to problems and starts with the key ("daily_limit:
 *              expected an integer >= 0", "unknown key 'dialy_limit'");
 *              file and JSON syntax problems start with the path.
 * SEE ALSO     snap.h, check.h; design.md s.10,
 *              mailresponder-settings(5), config/settings.sample.json
 */
#ifndef MR_SETTINGS_H
#define MR_SETTINGS_H

#include <stddef.h>

#include "mr.h"

enum set_dkim_policy {
	SET_DKIM_IGNORE = 0,
	SET_DKIM_REJECT_FAIL,
	SET_DKIM_REQUIRE_PASS,
};

struct set_strv {
	char **v; /* each lower-cased where the key says so */
	size_t n;
};

struct set_rename {
	char *from_ext; /* ".exe" (lower-case, compared case-insensitively) */
	char *to_ext;   /* "" or ".ap_" */
};

struct set {
	char *path; /* the settings file, as given */
	char *dir;  /* its folder: base of relative paths */

	char *spool;            /* absolute or relative-resolved path */
	char *failed_folder;    /* Maildir++ folder name, default ".Failed" */
	char *responder_config; /* path (resolved) or "s3://bucket/key" */
	char *attachments_dir;  /* resolved path, default "attachments" */
	char *store;            /* "sqlite:<resolved path>" or "mysql://..." */

	struct {
		char *password_env;     /* default MAILRESPONDER_DB_PASSWORD */
		char *password_file;    /* NULL or resolved path */
		long connect_timeout_s; /* default 10 */
		long read_timeout_s;    /* default 30 */
		long write_timeout_s;   /* default 30 */
	} mysql;

	char *transport_override; /* NULL or "maildir:<resolved>" / "smtp://" */
	char *smtp_url;           /* default "smtp://127.0.0.1:2525" */
	long smtp_starttls;       /* 1: smtp:// must switch to TLS, default 0 */
	char *smtp_user;          /* NULL or the SMTP AUTH user name */
	char *smtp_password_file; /* NULL or resolved path: its first line */
	char *smtp_ca_file; /* NULL (system CAs) or resolved PEM bundle path */

	struct {
		char *region;            /* default "us-east-1" */
		char *endpoint;          /* NULL = AWS default for the region */
		char *configuration_set; /* NULL = none */
		long max_send_rate;      /* messages/s per process; 0 = no
					    pacing; default 14 */
		long timeout_s;          /* whole request, default 30 */
	} ses;

	struct {
		char *credentials_file; /* NULL or resolved path (INI) */
		char *profile;          /* default "default" */
		char *imds_endpoint;    /* default "http://169.254.169.254" */
		long imds;              /* 1: ask instance metadata (default) */
	} aws;

	struct {
		char *region;     /* default: ses.region */
		char *endpoint;   /* NULL = https://s3.<region>.amazonaws.com */
		char *cache_dir;  /* resolved path, default "s3cache" */
		long attachments; /* 1: [bucket, key] read from S3, default 0 */
		long refresh_s;   /* refresh period, default 300; 0 = SIGHUP
				     only */
		long timeout_s;   /* whole request, default 30 */
	} s3;

	char *event_log; /* "stderr", "syslog" or a resolved path */
	char *event_key; /* resolved path, default "event.key" */
	char *hash_key;  /* NULL or resolved path of the store's HMAC key */
	char *log_level; /* "err" | "warn" | "info" | "debug", default info */

	char *from;               /* as written: "Name <addr>" or "addr" */
	char *from_addr;          /* lower-cased addr-spec of from */
	char *from_display;       /* display name or NULL */
	char *complaints_address; /* lower-cased */
	struct set_strv admin_addresses; /* lower-cased */
	char *admin_subject_tag;         /* default "[mailresponder]" */
	/* reasons whose mail is forwarded to the admins: one bit per enum
	 * pol_reason (policy.h); default complaint and bounce */
	unsigned long long forward_reasons;
	long forward_cap_per_hour;     /* per reason; default 100, 0 = no cap */
	struct set_strv own_addresses; /* lower-cased */
	struct set_strv stats_addresses; /* lower-cased; the stats mail */

	long daily_limit;                    /* default 3; 0 = no limit */
	struct set_strv exempt_domains;      /* lower-cased */
	struct set_strv blocked_domains;     /* lower-cased */
	struct set_strv provider_domains;    /* lower-cased, default the four */
	struct set_rename *provider_renames; /* default .exe->"", .apk->.ap_ */
	size_t n_provider_renames;

	enum set_dkim_policy dkim_policy; /* default reject-fail */
	char *authserv_id;                /* default the host name */

	struct {
		char *domain;           /* default: domain of from */
		char *selector;         /* default "default" */
		char *rsa_key;          /* NULL or resolved path */
		char *ed25519_key;      /* NULL or resolved path */
		char *ed25519_selector; /* default: selector */
	} dkim;

	long workers; /* 0 = number of cores */

	struct {
		long initial_s; /* first retry delay, default 60 */
		long max_s;     /* cap of the exponential delay, default 3600 */
		long max_age_s; /* then .Failed, default 5 days */
	} retry;

	struct {
		long handled_s; /* replied/ignored originals in cur/, default
				   1 day; 0 = removed at once */
		long failed_s;  /* the failure folder, default 7 days */
	} retention;

	char *user; /* the service user run drops to when started as root;
		       NULL: refuse to run as root; "root": stay root */

	struct {
		long max_headers;     /* header fields, default 20000 */
		long max_header_line; /* bytes of one header line, 8192 */
		long mime_bytes;      /* multipart messages scanned up to this
					size for report detection, 1 MiB */
		long mime_depth;      /* MIME nesting, default 16 */
		long mime_parts;      /* MIME parts, default 200 */
		long message_time_ms; /* reading and parsing one request,
					 default 10000 */
	} limits;

	long smtp_timeout_s;         /* whole transfer, default 60 */
	long smtp_connect_timeout_s; /* default 10 */
	long max_header_bytes;       /* header block cap, default 1 MiB */
	long max_forward_bytes;      /* originals larger than this are forwarded
				   cut to their headers, default 10 MiB */
	long rescan_interval_s;      /* daemon safety-net rescan, default 60;
				    0 = none */
	long shutdown_timeout_s;     /* wait for messages in flight on SIGTERM,
				    default 30 */

	struct {
		long cloudwatch;  /* PutMetricData, default 0 (off) */
		long interval_s;  /* one call per interval, default 60 */
		char *namespace_; /* default "Psiphon/MailResponder" */
		char *region;     /* NULL: ses.region */
		char *endpoint; /* NULL: https://monitoring.REGION.amazonaws.com */
		struct set_strv dim_names; /* fixed dimensions, as written */
		struct set_strv dim_values;
		int instance_id; /* add InstanceId from instance metadata */
		int asg_name;    /* add AutoScalingGroupName (metadata tags) */
		long legacy_names; /* also response_sent, processing_time;
				     default 1 */
		long timeout_s;    /* per call, default 10 */
		long retries;      /* after a failed call, default 2 */
	} metrics;
};

struct set *set_load(const char *path, struct mr_msgs *problems);
void set_free(struct set **s);

#endif
