"""End-to-end: the MariaDB store (store: mysql://...), a real server.

A private MariaDB (mariadb.py: own datadir under a temp dir, free port on
127.0.0.1, socket in the temp dir, stopped by PID) serves every section;
each uses its own database.

 1. Bad input: unreachable server at start (drain and run exit 2, clear
    message), wrong password, a password in the URL, a password file
    others can read, a table with an unexpected shape (named).
 2. The old DDL with pre-filled hashes (SHA-512 hex, and HMAC with
    hash_key): a blocked address, a blocked parent domain and an
    allow-listed address already at its limit each take effect; the rows
    survive; only send_journal and adhoc_day are added. blacklist
    subcommands and classify (read-only) work on MySQL.
 3. Day rollover with a clock the test controls
    (MAILRESPONDER_CLOCK_OFFSET_S): counts start over without clear-adhoc;
    clear-adhoc keeps today's.
 4. Fleet: 4 daemons on 4 spools sharing one database. One sender's 50
    requests spread over all spools at once: exactly daily_limit replies
    in total. 20 senders x 8 requests: each gets exactly the limit.
 5. MariaDB killed (SIGKILL) and restarted in the middle of a
    1,000-request daemon run: 0 lost, 0 duplicates, every request
    answered or rate-limited correctly once the server is back; the
    daemon's pause shows in `status`.
"""
import atexit
import hashlib
import hmac
import os
import shutil
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import Daemon, Env, Results, counters, free_ports, kill_all, msg, wait_for
from mariadb import MariaDB, PASSWORD

R = Results()
TMP = tempfile.mkdtemp(prefix="mr-mysql-e2e-")
DB = MariaDB(TMP)


def _cleanup():
    kill_all()
    DB.stop()
    shutil.rmtree(TMP, ignore_errors=True)


atexit.register(_cleanup)

ONE = [{"email_addr": "get@responder.test", "body": "links",
        "attachments": None, "send_method": "SMTP"}]


def sha(s):
    return hashlib.sha512(s.lower().encode()).hexdigest()


def fresh_db(name):
    DB.sql("DROP DATABASE IF EXISTS %s; CREATE DATABASE %s CHARACTER SET utf8mb4" % (name, name))
    return name


def my_env(dbname, **extra):
    s = {"store": DB.url(dbname), "daily_limit": 3, "workers": 2,
         "retry": {"initial_s": 1, "max_s": 2}}
    s.update(extra)
    return Env(settings=s, responses=ONE)


def run(env, *args, extra=None):
    e = dict(DB.env)
    if extra:
        e.update(extra)
    return env.run(*args, env=e, timeout=300)


def senders_of_replies(env):
    out = {}
    for _, _, m in env.outbox_msgs():
        a = m["To"].addresses[0].addr_spec.lower()
        out[a] = out.get(a, 0) + 1
    return out


def irt_counts(envs):
    c = {}
    for env in envs:
        for _, _, m in env.outbox_msgs():
            k = m["In-Reply-To"]
            c[k] = c.get(k, 0) + 1
    return c


def final(env, names):
    return all(env.state_of(n) in ("replied", "ignored", "failed") for n in names)


def start(env):
    return Daemon(env, extra_env=DB.env)


def stop(d):
    rc = d.stop()
    bad = d.sanitizer_errors()
    R.check("daemon log: no AddressSanitizer/UBSan error", not bad, "\n".join(bad[:5]))
    return rc


# ---------------------------------------------------------------------------

def test_bad_input():
    name = "bad input"
    # unreachable: nothing listens on this port
    port = free_ports()[0]
    env = Env(settings={"store": "mysql://responder@127.0.0.1:%d/responder" % port},
              responses=ONE)
    try:
        env.deliver(msg())
        rc, out, err = run(env, "drain")
        R.eq("%s: drain with an unreachable server exits 2" % name, rc, 2)
        R.check("%s: the message names the server and the failure" % name,
                "mysql connect(responder@127.0.0.1:%d/responder) failed" % port in err
                and "Can't connect" in err, err)
        R.eq("%s: the request stays in new/" % name, env.state_of(env.deliver(msg())), "new")
        t0 = time.monotonic()
        rc, out, err = run(env, "run")
        R.eq("%s: run with an unreachable server exits 2" % name, rc, 2)
        R.check("%s: ... at once, naming the server" % name,
                time.monotonic() - t0 < 20 and "mysql connect(" in err, err)
    finally:
        env.close()
    fresh_db("mrt_bad")
    env = my_env("mrt_bad")
    try:
        rc, out, err = run(env, "drain", extra={"MAILRESPONDER_DB_PASSWORD": "wrong-pw-x"})
        R.eq("%s: wrong password: exit 2" % name, rc, 2)
        R.check("%s: wrong password: 'Access denied', password not shown" % name,
                "Access denied" in err and "wrong-pw-x" not in err + out, err)
        # a password file others can read is refused, naming the file
        pwf = os.path.join(env.dir, "db.pw")
        with open(pwf, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(pwf, 0o644)
        env2 = my_env("mrt_bad", mysql={"password_file": "db.pw"})
        shutil.copy(pwf, os.path.join(env2.dir, "db.pw"))
        os.chmod(os.path.join(env2.dir, "db.pw"), 0o644)
        rc, out, err = env2.run("drain", env={"MAILRESPONDER_DB_PASSWORD": ""})
        R.check("%s: password file readable by others: exit 2 naming the file" % name,
                rc == 2 and os.path.join(env2.dir, "db.pw") in err and "others" in err
                and PASSWORD not in err, err)
        os.chmod(os.path.join(env2.dir, "db.pw"), 0o600)
        rc, out, err = env2.run("drain", env={"MAILRESPONDER_DB_PASSWORD": ""})
        R.eq("%s: the same file with mode 0600 works" % name, rc, 0)
        env2.close()
        # a password in the URL: a settings error that does not echo it
        env3 = Env(settings={"store": "mysql://responder:topsecret9@127.0.0.1/x"}, responses=ONE)
        rc, out, err = env3.run("config-check")
        R.check("%s: password in the URL refused, not echoed" % name,
                rc == 1 and "password in the URL" in err and "topsecret9" not in out + err, out + err)
        env3.close()
        # a table with an unexpected shape
        env.close()
        fresh_db("mrt_shape")
        env = my_env("mrt_shape")
        DB.sql("CREATE TABLE blacklist_adhoc(emailhash VARCHAR(128) PRIMARY KEY,"
               " count VARCHAR(8))", "mrt_shape")
        rc, out, err = run(env, "drain")
        R.check("%s: unexpected table shape: exit 2 naming table and column" % name,
                rc == 2 and "blacklist_adhoc has an unexpected shape" in err and "count" in err, err)
        rc, out, err = run(env, "config-check")
        R.check("%s: config-check names it too" % name,
                rc != 0 and "blacklist_adhoc" in out + err, out + err)
        R.eq("%s: the bad table is left as it is" % name,
             DB.sql("SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA="
                    "'mrt_shape' AND TABLE_NAME='blacklist_adhoc' AND COLUMN_NAME='count'"),
             [["varchar"]])
    finally:
        env.close()


def old_ddl(dbname):
    fresh_db(dbname)
    DB.sql("CREATE TABLE blacklist_adhoc(emailhash VARCHAR(128) PRIMARY KEY,"
           " count INT NOT NULL DEFAULT 0);"
           "CREATE TABLE blacklist_email(emailhash VARCHAR(128) PRIMARY KEY);"
           "CREATE TABLE blacklist_domain(domainhash VARCHAR(128) PRIMARY KEY);"
           "CREATE TABLE whitelist_email(emailhash VARCHAR(128) PRIMARY KEY);"
           "CREATE TABLE whitelist_domain(domainhash VARCHAR(128) PRIMARY KEY);", dbname)


def test_old_ddl(keyed):
    name = "old DDL (%s)" % ("HMAC hash_key" if keyed else "SHA-512")
    dbname = "mrt_old_hmac" if keyed else "mrt_old"
    old_ddl(dbname)
    extra = {}
    if keyed:
        extra["hash_key"] = "store.key"
    env = my_env(dbname, **extra)
    key = b"fleet-shared-key-0123456789"
    if keyed:
        kp = os.path.join(env.dir, "store.key")
        with open(kp, "wb") as f:
            f.write(key + b"\n")
        os.chmod(kp, 0o600)

    def h(s):
        if keyed:
            return hmac.new(key, s.lower().encode(), hashlib.sha512).hexdigest()
        return sha(s)
    try:
        DB.sql("INSERT INTO blacklist_email VALUES ('%s');"
               "INSERT INTO blacklist_domain VALUES ('%s');"
               "INSERT INTO whitelist_email VALUES ('%s');"
               "INSERT INTO blacklist_adhoc VALUES ('%s', 40), ('%s', 7);"
               % (h("blocked@old.test"), h("blockeddomain.test"), h("vip@old.test"),
                  h("vip@old.test"), h("plain@old.test")), dbname)
        blocked = [env.deliver(msg(frm="Blocked@Old.Test")) for _ in range(2)]
        bdom = [env.deliver(msg(frm="x@mail.blockeddomain.test")) for _ in range(2)]
        vip = [env.deliver(msg(frm="vip@old.test")) for _ in range(5)]
        plain = [env.deliver(msg(frm="plain@old.test")) for _ in range(5)]
        rc, out, err = run(env, "drain")
        R.eq("%s: drain exit code" % name, rc, 0)
        R.eq("%s: blocked address: not replied" % name,
             [env.state_of(n) for n in blocked], ["ignored"] * 2)
        R.eq("%s: blocked parent domain: not replied" % name,
             [env.state_of(n) for n in bdom], ["ignored"] * 2)
        R.eq("%s: allow-listed address at its old limit: 5 of 5 replied" % name,
             [env.state_of(n) for n in vip].count("replied"), 5)
        R.eq("%s: a plain sender: the limit, 3 of 5" % name,
             [env.state_of(n) for n in plain].count("replied"), 3)
        reasons = sorted(set(e["reason"] for e in env.events_list()
                             if e["file"] in blocked + bdom))
        R.eq("%s: reason blocked" % name, reasons, ["blocked"])
        R.eq("%s: the old rows survive" % name,
             [DB.sql("SELECT COUNT(*) FROM %s" % t, dbname)[0][0] for t in
              ("blacklist_email", "blacklist_domain", "whitelist_email")], ["1", "1", "1"])
        R.eq("%s: the allow-listed sender's old count is untouched" % name,
             DB.sql("SELECT count FROM blacklist_adhoc WHERE emailhash='%s'" % h("vip@old.test"),
                    dbname), [["40"]])
        R.eq("%s: the old table still counts (7 + 5)" % name,
             DB.sql("SELECT count FROM blacklist_adhoc WHERE emailhash='%s'" % h("plain@old.test"),
                    dbname), [["12"]])
        R.eq("%s: only send_journal and adhoc_day were added" % name,
             sorted(r[0] for r in DB.sql("SHOW TABLES", dbname)),
             sorted(["adhoc_day", "blacklist_adhoc", "blacklist_domain", "blacklist_email",
                     "send_journal", "whitelist_domain", "whitelist_email"]))
        leaked = [r for r in DB.sql("SELECT * FROM send_journal", dbname)
                  if "old.test" in "".join(r)]
        R.eq("%s: no address in clear in the database" % name, leaked, [])
        if keyed:
            return
        # blacklist subcommands on MySQL
        rc, out, err = run(env, "blacklist", "show", "vip@old.test")
        R.check("%s: blacklist show: allowed address" % name,
                rc == 0 and "allowed address: yes" in out and "vip" not in out, out + err)
        rc, out, err = run(env, "blacklist", "add", "new@old.test")
        R.eq("%s: blacklist add" % name, rc, 0)
        R.eq("%s: ... the row is there" % name,
             DB.sql("SELECT COUNT(*) FROM blacklist_email WHERE emailhash='%s'" % sha("new@old.test"),
                    dbname), [["1"]])
        n = env.deliver(msg(frm="new@old.test"))
        rc, out, err = run(env, "classify", os.path.join(env.spool, "new", n))
        R.check("%s: classify says blocked" % name, rc == 0 and "blocked" in out, out + err)
        before = DB.sql("SELECT COUNT(*), IFNULL(SUM(count),0) FROM adhoc_day", dbname)
        p2 = env.deliver(msg(frm="plain@old.test"))
        rc, out, err = run(env, "classify", os.path.join(env.spool, "new", p2))
        R.check("%s: classify of a sender at the limit: rate-limited" % name,
                rc == 0 and "rate-limited" in out, out + err)
        R.eq("%s: classify changes nothing" % name,
             DB.sql("SELECT COUNT(*), IFNULL(SUM(count),0) FROM adhoc_day", dbname), before)
        rc, out, err = run(env, "blacklist", "remove", "new@old.test")
        R.check("%s: blacklist remove" % name, rc == 0 and "removed" in out, out + err)
        rc, out, err = run(env, "blacklist", "clear-adhoc")
        R.eq("%s: clear-adhoc exit code" % name, rc, 0)
        R.eq("%s: clear-adhoc empties the old table ..." % name,
             DB.sql("SELECT COUNT(*) FROM blacklist_adhoc", dbname), [["0"]])
        rc, out, err = run(env, "blacklist", "show", "plain@old.test")
        R.check("%s: ... and keeps today's count" % name, "daily count: 5 " in out, out)
        R.check("%s: the table is still there" % name,
                ["blacklist_adhoc"] in DB.sql("SHOW TABLES", dbname))
    finally:
        env.close()


def test_rollover():
    name = "day rollover"
    fresh_db("mrt_day")
    env = my_env("mrt_day")
    try:
        first = [env.deliver(msg(frm="carol@sender.test")) for _ in range(4)]
        run(env, "drain")
        R.eq("%s: day 1: 3 of 4 replied" % name, [env.state_of(n) for n in first].count("replied"), 3)
        nxt = {"MAILRESPONDER_CLOCK_OFFSET_S": "86400"}
        more = [env.deliver(msg(frm="carol@sender.test")) for _ in range(4)]
        rc, out, err = run(env, "drain", extra=nxt)
        R.eq("%s: day 2, no clear-adhoc: 3 of 4 replied again" % name,
             [env.state_of(n) for n in more].count("replied"), 3)
        days = DB.sql("SELECT day, count FROM adhoc_day ORDER BY day", "mrt_day")
        R.eq("%s: one row per UTC day" % name, [c for _, c in days], ["4", "4"])
        R.eq("%s: consecutive days" % name, int(days[1][0]) - int(days[0][0]), 1)
    finally:
        env.close()


def fleet_envs(dbname, n=4):
    return [my_env(dbname, workers=2, rescan_interval_s=1) for _ in range(n)]


SEQ = [0]


def host_deliver(env, host, data):
    """Deliver under a unique name of host, as Postfix names files
    (<sec>.V<dev>I<ino>M<usec>.<hostname>): unique across the fleet."""
    SEQ[0] += 1
    return env.deliver(data, name="%d.V801I%dM%06d.host%d" % (1700000000 + SEQ[0], SEQ[0],
                                                              SEQ[0], host))


def test_fleet():
    name = "fleet"
    fresh_db("mrt_fleet")
    envs = fleet_envs("mrt_fleet")
    daemons = []
    try:
        daemons = [start(e) for e in envs]
        R.check("%s: 4 daemons up" % name, all(d.ready() for d in daemons),
                "\n".join(d.log()[-500:] for d in daemons))
        # one sender, 50 requests, spread over all spools at once
        names = []
        for i in range(50):
            e = envs[i % 4]
            names.append((e, host_deliver(e, i % 4, msg(frm="Popular@Sender.Test"))))
        ok = wait_for(lambda: all(final(e, [n]) for e, n in names), 120, 0.1)
        R.check("%s: 50 requests handled" % name, ok)
        replied = sum(1 for e, n in names if e.state_of(n) == "replied")
        got = sum(senders_of_replies(e).get("popular@sender.test", 0) for e in envs)
        R.eq("%s: one sender, 50 requests on 4 hosts: exactly 3 replied" % name, replied, 3)
        R.eq("%s: ... and exactly 3 reply mails in all outboxes" % name, got, 3)
        print("# fleet: one sender x 50 over 4 daemons: %d replied, %d reply mails" % (replied, got))
        # 20 senders x 8 requests
        names = []
        for i in range(8):
            for s in range(20):
                h = (i * 20 + s + i) % 4
                e = envs[h]
                names.append((s, e, host_deliver(e, h, msg(frm="s%02d@many.test" % s))))
        ok = wait_for(lambda: all(final(e, [n]) for _, e, n in names), 180, 0.1)
        R.check("%s: 160 requests handled" % name, ok)
        per = {}
        for s, e, n in names:
            per[s] = per.get(s, 0) + (e.state_of(n) == "replied")
        mails = {}
        for e in envs:
            for a, c in senders_of_replies(e).items():
                mails[a] = mails.get(a, 0) + c
        R.eq("%s: 20 senders x 8: each exactly 3 replied" % name, sorted(set(per.values())), [3])
        R.eq("%s: ... 60 reply mails, 3 per sender" % name,
             sorted(set(mails.get("s%02d@many.test" % s, 0) for s in range(20))), [3])
        print("# fleet: 20 senders x 8 over 4 daemons: replied per sender %s; %d reply mails"
              % (sorted(set(per.values())), sum(mails.get("s%02d@many.test" % s, 0) for s in range(20))))
        dups = {k: v for k, v in irt_counts(envs).items() if v > 1}
        R.eq("%s: no request answered twice" % name, dups, {})
    finally:
        for d in daemons:
            rc = stop(d)
            R.eq("%s: daemon stops with 0" % name, rc, 0)
        for e in envs:
            e.close()


def test_restart():
    name = "server restart"
    fresh_db("mrt_restart")
    env = my_env("mrt_restart", workers=4, rescan_interval_s=1)
    d = None
    try:
        items = []
        for i in range(1000):
            s = i % 250
            items.append((s, env.deliver(msg(frm="r%03d@restart.test" % s))))
        d = start(env)
        R.check("%s: daemon up" % name, d.ready(), d.log()[-800:])
        cur = os.path.join(env.spool, "cur")
        wait_for(lambda: len(os.listdir(cur)) >= 250, 120, 0.02)
        at_kill = len(os.listdir(cur))
        DB.kill()
        t_kill = time.monotonic()
        paused = None
        seen = []
        end = time.monotonic() + 20
        while time.monotonic() < end:
            c = counters(env, extra_env=DB.env)
            if c:
                seen.append((c.get("paused_s"), c.get("retry")))
                if c.get("paused_s", 0) > 0:
                    paused = c
                    break
            time.sleep(0.3)
        R.check("%s: the daemon's pause shows in status while the server is down" % name,
                paused is not None, seen[-5:])
        time.sleep(max(0, 3 - (time.monotonic() - t_kill)))
        DB.start()
        print("# restart: %d of 1000 claimed or done when MariaDB was killed; down %.1f s"
              % (at_kill, time.monotonic() - t_kill))
        ok = wait_for(lambda: final(env, [n for _, n in items]), 300, 0.5)
        R.check("%s: every request reached a final state" % name, ok)
        states = {}
        per = {}
        for s, n in items:
            st = env.state_of(n)
            states[st] = states.get(st, 0) + 1
            if st == "replied":
                per[s] = per.get(s, 0) + 1
        R.eq("%s: 750 replied, 250 rate-limited, 0 lost, 0 failed" % name, states,
             {"replied": 750, "ignored": 250})
        R.eq("%s: each of 250 senders exactly 3 replies" % name, sorted(set(per.values())), [3])
        dups = {k: v for k, v in irt_counts([env]).items() if v > 1}
        R.eq("%s: 0 duplicate replies" % name, len(dups), 0)
        R.eq("%s: 750 reply mails" % name, len(env.outbox_files()), 750)
        ev = env.events_list()
        retried = sum(1 for e in ev if e["outcome"] == "retry")
        reasons = sorted(set(e["reason"] for e in ev if e["outcome"] != "retry"))
        R.eq("%s: final reasons" % name, reasons, ["rate-limited", "replied"])
        print("# restart: %d retry events while the server was down; final %s" % (retried, states))
        R.check("%s: the lost connection was temporary (retry events)" % name, retried > 0)
        R.check("%s: no crash: the daemon is still running" % name, d.p.poll() is None)
    finally:
        if d is not None:
            R.eq("%s: daemon stops with 0" % name, stop(d), 0)
            log = d.log()
            R.check("%s: no address in the daemon log" % name, "restart.test" not in log,
                    [l for l in log.splitlines() if "restart.test" in l][:3])
        env.close()


try:
    DB.start()
    for t in (test_bad_input, lambda: test_old_ddl(False), lambda: test_old_ddl(True), test_rollover,
              test_fleet, test_restart):
        try:
            t()
        except Exception:
            R.check("section raised", False, traceback.format_exc())
finally:
    _cleanup()
sys.exit(R.done())
