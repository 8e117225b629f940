"""A private MariaDB server on 127.0.0.1 for end-to-end tests.

Follows /work/shared/components.md section 3: its own datadir under a temp
dir (mariadb-install-db --no-defaults), a free TCP port on 127.0.0.1, the
socket in the temp dir, an init file that creates the database and the
test user, real grants (no --skip-grant-tables), stopped by PID.

    db = MariaDB(tmpdir)
    db.start()
    db.url("responder")              mysql://responder@127.0.0.1:PORT/responder
    db.env                           {"MAILRESPONDER_DB_PASSWORD": ...}
    db.sql("SELECT ...", "responder")  rows (lists of strings), as root
    db.kill(); db.start()            SIGKILL and start again, same port
    db.stop()

The test user `responder` (password PASSWORD) has every right on the
database `responder` and on databases named mrt_*. stop() is registered
with atexit, so a failing test does not leave a server running.
"""
import atexit
import os
import signal
import subprocess
import time

from mrtest import free_ports

PASSWORD = "s3cret-pw-for-tests"
INIT_SQL = """\
CREATE DATABASE IF NOT EXISTS responder CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'responder'@'localhost' IDENTIFIED BY '{pw}';
CREATE USER IF NOT EXISTS 'responder'@'127.0.0.1' IDENTIFIED BY '{pw}';
GRANT ALL PRIVILEGES ON responder.* TO 'responder'@'localhost', 'responder'@'127.0.0.1';
GRANT ALL PRIVILEGES ON `mrt\\_%`.* TO 'responder'@'localhost', 'responder'@'127.0.0.1';
"""


class MariaDBError(Exception):
    pass


class MariaDB:
    def __init__(self, tmpdir, port=None, flush_at_commit=1):
        self.dir = os.path.join(tmpdir, "mysql")
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "mysql.sock")
        self.port = port or free_ports()[0]
        self.proc = None
        self.flush = flush_at_commit  # innodb_flush_log_at_trx_commit
        self.env = {"MAILRESPONDER_DB_PASSWORD": PASSWORD}
        atexit.register(self.stop)

    def url(self, db="responder", socket=False):
        if socket:
            return "mysql://responder@localhost/%s?socket=%s" % (db, self.sock)
        return "mysql://responder@127.0.0.1:%d/%s" % (self.port, db)

    def install(self):
        os.makedirs(self.dir, exist_ok=True)
        with open(os.path.join(self.dir, "init.sql"), "w") as f:
            f.write(INIT_SQL.format(pw=PASSWORD))
        p = subprocess.run(
            ["mariadb-install-db", "--no-defaults", "--user=root",
             "--datadir=" + self.data, "--auth-root-authentication-method=normal",
             "--skip-test-db", "--innodb-log-file-size=8M"],
            capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise MariaDBError("mariadb-install-db: %s" % p.stderr.decode()[-500:])

    def start(self, timeout=60):
        if not os.path.isdir(self.data):
            self.install()
        log = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", "--user=root", "--datadir=" + self.data,
             "--socket=" + self.sock, "--port=%d" % self.port,
             "--bind-address=127.0.0.1", "--pid-file=" + os.path.join(self.dir, "mysqld.pid"),
             "--log-error=" + os.path.join(self.dir, "error.log"), "--skip-name-resolve",
             "--innodb-log-file-size=8M", "--innodb-buffer-pool-size=32M",
             "--max-connections=300", "--innodb-flush-log-at-trx-commit=%d" % self.flush,
             "--init-file=" + os.path.join(self.dir, "init.sql")],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise MariaDBError("mariadbd exited %s: %s" % (self.proc.returncode, self.error_log()[-800:]))
            if self.ping():
                return
            time.sleep(0.05)
        raise MariaDBError("mariadbd not ready after %d s" % timeout)

    def error_log(self):
        try:
            with open(os.path.join(self.dir, "error.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def ping(self):
        p = subprocess.run(["mariadb-admin", "--no-defaults", "--socket=" + self.sock,
                            "-uroot", "ping"], capture_output=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        return p.returncode == 0

    def sql(self, query, db=None, timeout=60):
        """Run query as root over the socket; rows as lists of strings."""
        args = ["mariadb", "--no-defaults", "--socket=" + self.sock, "-uroot",
                "-N", "-B", "-e", query]
        if db:
            args.append(db)
        p = subprocess.run(args, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise MariaDBError("mariadb: %s: %s" % (query[:80], p.stderr.decode().strip()))
        return [l.split("\t") for l in p.stdout.decode().splitlines()]

    def kill(self):
        """SIGKILL: a crash; InnoDB recovers at the next start."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
        self.proc = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
