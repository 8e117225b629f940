"""Store benchmark for make bench: SQLite vs a private MariaDB, same corpus.

Prints figures, asserts nothing. The corpus: N requests (default 10,000)
from N distinct senders, daily_limit 3 (so every request goes through the
list lookup and the counting transaction), one config entry, the maildir
transport. For each store:

  drain   `mailresponder drain` over the N requests (one worker):
          requests/s.
  daemon  `mailresponder run` (workers = cores) started on the N requests
          already in new/: requests/s until the last reply is in the
          outbox.

For MariaDB, the server's own counters (Com_stmt_execute, Com_begin,
Com_commit, Com_rollback, Com_stmt_prepare, Com_select ...) are read
before and after the drain: round trips (client commands) per request.
The MariaDB is private (mariadb.py), InnoDB with its default
innodb_flush_log_at_trx_commit=1 (a log flush per commit). Each figure is
taken MR_BENCH_REPEAT times (default 2): the machine is shared, so give
ranges. MR_BENCH_MYSQL_FLUSH=2 starts the server with
innodb_flush_log_at_trx_commit=2 (no log flush per commit, like SQLite's
synchronous=NORMAL) to tell the store's cost from the disk's.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "e2e"))
from mrtest import BIN, Daemon, Env, msg, n_outbox, wait_for
from mariadb import MariaDB

N = int(os.environ.get("MR_BENCH_N", "10000"))
REPEAT = int(os.environ.get("MR_BENCH_REPEAT", "2"))
ONE = [{"email_addr": "get@responder.test", "body": "Links: https://dl.example.org/app.apk\n",
        "attachments": None, "send_method": "SMTP"}]
COUNTERS = ("Com_stmt_execute", "Com_stmt_prepare", "Com_begin", "Com_commit",
            "Com_rollback", "Com_select", "Com_insert", "Com_set_option", "Com_show_status",
            "Questions")


def corpus(env, n):
    for i in range(n):
        env.deliver(msg(frm="r%d@sender.test" % i, msgid="b%d@sender.test" % i))


def status(db):
    rows = db.sql("SHOW GLOBAL STATUS WHERE Variable_name IN (%s)"
                  % ",".join("'%s'" % c for c in COUNTERS))
    return {k: int(v) for k, v in rows}


def store_env(store, db, dbname, **settings):
    """A scratch installation on store with the corpus in new/ (a fresh
    database dbname on db) and the environment its commands need."""
    env = Env(responses=ONE, settings=dict(settings, daily_limit=3, store=store))
    e = {}
    if db:
        e.update(db.env)
        db.sql("DROP DATABASE IF EXISTS %s; CREATE DATABASE %s" % (dbname, dbname))
    corpus(env, N)
    return env, e


def bench_drain(store, db, dbname):
    env, e = store_env(store, db, dbname)
    try:
        before = status(db) if db else None
        t = time.monotonic()
        p = subprocess.run([BIN, "drain", "-q", "-c", env.settings], env=dict(os.environ, **e),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.monotonic() - t
        out = n_outbox(env)
        rt = None
        if db:
            after = status(db)
            d = {k: after[k] - before[k] for k in COUNTERS}
            d["Com_show_status"] = 0
            rt = d
        return p.returncode, out, dt, rt
    finally:
        env.close()


def bench_daemon(store, db, dbname):
    env, e = store_env(store, db, dbname, workers=0)
    try:
        t = time.monotonic()
        d = Daemon(env, extra_env=e)
        wait_for(lambda: n_outbox(env) >= N or not d.alive(), 900)
        dt = time.monotonic() - t
        out = n_outbox(env)
        d.stop()
        return out, dt
    finally:
        env.close()


def main():
    tmp = tempfile.mkdtemp(prefix="mr-bench-mysql-")
    db = MariaDB(tmp, flush_at_commit=int(os.environ.get("MR_BENCH_MYSQL_FLUSH", "1")))
    try:
        db.start()
        stores = (("sqlite", None, None), ("mariadb", db, "mrt_bench"))
        for name, d, dbname in stores:
            store = "sqlite:state/state.db" if d is None else d.url(dbname)
            rates = []
            for _ in range(REPEAT):
                rc, out, dt, rt = bench_drain(store, d, dbname)
                rates.append(N / dt)
                print("drain %-7s: %d requests -> %d replies in %.2f s = %.0f requests/s (rc %d)"
                      % (name, N, out, dt, N / dt, rc))
                if rt:
                    per = {k: round(v / N, 2) for k, v in rt.items() if v}
                    trips = (rt["Com_stmt_execute"] + rt["Com_stmt_prepare"] + rt["Com_begin"]
                             + rt["Com_commit"] + rt["Com_rollback"])
                    print("  server counters per request: %s; round trips (executes +"
                          " prepares + begin + commit + rollback): %.2f" % (per, trips / N))
                sys.stdout.flush()
            print("drain %-7s: %.0f-%.0f requests/s over %d runs"
                  % (name, min(rates), max(rates), REPEAT))
            rates = []
            for _ in range(REPEAT):
                out, dt = bench_daemon(store, d, dbname)
                rates.append(out / dt)
                print("daemon %-7s: %d requests -> %d replies in %.2f s = %.0f requests/s"
                      % (name, N, out, dt, out / dt))
                sys.stdout.flush()
            print("daemon %-7s: %.0f-%.0f requests/s over %d runs"
                  % (name, min(rates), max(rates), REPEAT))
    finally:
        db.stop()
        shutil.rmtree(tmp, ignore_errors=True)


main()
