#!/bin/sh
# deps.sh - install what mailresponder needs on Debian 12 (idempotent)
#   scripts/deps.sh          build dependencies
#   scripts/deps.sh --test   build and test dependencies (Postfix, MariaDB,
#                            python3-dkim, mandoc, clang-format, cppcheck, ...)
# Installs only what is missing; runs apt-get update first because a fresh
# machine's package lists may be empty. Needs root when something is missing.
set -eu

build_pkgs="gcc make pkg-config libc6-dev libetpan-dev libjson-c-dev
libcurl4-gnutls-dev libssl-dev libmariadb-dev libsqlite3-dev zlib1g-dev"
test_pkgs="postfix swaks mariadb-server mariadb-client python3 python3-dkim
python3-nacl python3-botocore libmail-dkim-perl mandoc sqlite3 procps psmisc openssl ca-certificates curl
python3-prometheus-client logrotate strace sasl2-bin libsasl2-modules
clang-format cppcheck"

pkgs=$build_pkgs
[ "${1:-}" = "--test" ] && pkgs="$build_pkgs $test_pkgs"

missing=""
for p in $pkgs; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = "installed" ] || missing="$missing $p"
done

if [ -z "$missing" ]; then
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: missing packages:$missing" >&2
	echo "deps.sh: run as root, or: apt-get install$missing" >&2
	exit 1
fi

echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# Postfix asks how to configure itself; the tests run private instances.
echo "postfix postfix/main_mailer_type select No configuration" |
	debconf-set-selections 2>/dev/null || true
apt-get -o DPkg::Lock::Timeout=600 update -q
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $missing
