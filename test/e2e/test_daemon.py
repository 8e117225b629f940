"""End-to-end: the daemon (mailresponder run).

Every daemon is started with mrtest's Daemon and killed at exit whatever
happens; every wait is bounded. Replies go to the maildir outbox and are
matched to their requests by In-Reply-To.

 1. status without a daemon (new/claimed/failed counts, oldest age);
    recovery at daemon start (cur/<name>:2, is answered); status with a
    daemon (pid, counters); a second `run` on the spool exits 2 naming the
    owner.
 2. Burst: 5,000 messages renamed into new/ in bursts while the daemon
    starts and runs: each handled exactly once, none left.
 3. Overflow (root): the daemon's inotify queue is created with room for 8
    events; 2,000 renames overflow it; nothing is missed (no periodic
    rescan to mask a missing overflow rescan).
 4. Crash: SIGKILL 10 times during a 2,000-message run: one final state
    each, none lost, duplicate replies <= kills.
 5. Graceful stop: SIGTERM finishes what is in flight, leaves the rest in
    new/; the next start handles it.
 6. Store down (SQLite write lock held): retry, no restart needed;
    shutdown_timeout_s bounds the stop when a message is stuck, which is
    then recovered.
 7. Transport down (outbox tmp/ made unwritable): retry with backoff, the
    message waits in new/, no busy loop, answered without a restart when
    the outbox comes back; retry.max_age_s sends an old one to .Failed.
 8. SIGHUP: a broken responder config or settings file is logged and the
    old one keeps working; a valid new one is used afterwards, atomically
    per message; READY/RELOADING/STOPPING reach $NOTIFY_SOCKET.
 9. SIGUSR1 makes the daemon read new/ again (rescan_interval_s = 0).
10. drain while the daemon runs: handed over, waits for the backlog, no
    message handled twice; an unresponsive daemon makes drain fail loudly;
    without a daemon drain works alone; status and drain against an idle
    daemon exit 0 every time.
11. Two drains without a daemon: the second does not disturb the first.
12. Recovery while requests arrive: 300 messages left claimed, 50,000
    handled ones in cur/, 2,000 renamed into new/ as soon as the daemon is
    ready: each handled once (the daemon's count, one event line each).
"""
import atexit
import contextlib
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import (BIN, Daemon, Env, Results, counters, kill_all, listdir, msg, n_claimed, n_new,
                    n_outbox, cpu_s, publish, publish_bursts, spawn, stage, status, wait_for)

R = Results()
RESTORE = []               # callables that undo a global change
INOTIFY_MAX = "/proc/sys/fs/inotify/max_queued_events"


def _restore():
    for fn in RESTORE:
        try:
            fn()
        except Exception:
            pass


atexit.register(_restore)


def one(body):
    return [{"email_addr": "get@responder.test", "body": body,
             "attachments": None, "send_method": "SMTP"}]


def settings(**kw):
    """Daemon test defaults: no daily limit, fast retries."""
    s = {"daily_limit": 0, "retry": {"initial_s": 1, "max_s": 4, "max_age_s": 3600}}
    s.update(kw)
    return s


def spool_dir(env, *p):
    return os.path.join(env.spool, *p)


IRT_RE = re.compile(rb"^In-Reply-To:[ \t]*<([^>\r\n]*)>", re.M | re.I)


def replies_by_irt(env):
    """{request Message-ID: [raw reply, ...]}, read without our code."""
    got = {}
    for p in env.outbox_files():
        with open(p, "rb") as f:
            raw = f.read()
        m = IRT_RE.search(raw.split(b"\r\n\r\n", 1)[0])
        got.setdefault(m.group(1).decode() if m else None, []).append(raw)
    return got


def spool_states(env):
    """{unique name: [state, ...]}: every place a request is found."""
    st = {}
    for n in listdir(spool_dir(env, "new")):
        st.setdefault(n, []).append("new")
    for n in listdir(spool_dir(env, "cur")):
        uniq, _, flags = n.partition(":2,")
        st.setdefault(uniq, []).append(
            {"RS": "replied", "S": "ignored", "": "claimed"}.get(flags, "cur:" + flags))
    for sub in ("new", "cur"):
        for n in listdir(spool_dir(env, ".Failed", sub)):
            st.setdefault(n.partition(":2,")[0], []).append("failed")
    return st


def events_by_file(env):
    """{file: [event, ...]}; raises on a line that is not JSON."""
    got = {}
    for e in env.events_list():
        got.setdefault(e.get("file"), []).append(e)
    return got


def sanitizer_clean(name, d):
    """A memory error report (ASan build) fails the test; LeakSanitizer
    reports show up as a non-zero exit code where the test checks it."""
    bad = d.sanitizer_errors()
    R.check("%s: no AddressSanitizer/UBSan error in the daemon log" % name, not bad,
            "\n".join(bad[:5]))


@contextlib.contextmanager
def staged(n, tag, body, **kw):
    """An Env with settings(**kw) and the one response body, and n requests
    staged in it (stage()); closed at the end."""
    env = Env(settings=settings(**kw), responses=one(body))
    try:
        yield env, stage(env, n, tag)
    finally:
        env.close()


def started(name, env, what="daemon starts"):
    """A daemon on env, checked to come up (its log on a failure)."""
    d = Daemon(env)
    R.check("%s: %s" % (name, what), d.ready(), d.log())
    return d


def stop_ok(name, d, timeout=60):
    rc = d.stop(timeout=timeout)
    R.check("%s: SIGTERM stops the daemon with exit code 0 (got %r)" % (name, rc), rc == 0,
            "\n".join(l for l in d.log().splitlines()
                      if "LeakSanitizer" in l or "SUMMARY" in l or "error" in l)[:2000])
    sanitizer_clean(name, d)
    return rc


def exactly_once(name, env, items, replies=None, states=None):
    """Every request replied exactly once, in exactly one final state."""
    replies = replies if replies is not None else replies_by_irt(env)
    states = states if states is not None else spool_states(env)
    mids = {mid for _, _, mid in items}
    missing = [mid for mid in mids if mid not in replies]
    dups = {mid: len(v) for mid, v in replies.items() if len(v) > 1}
    strays = [k for k in replies if k not in mids]
    R.check("%s: every request got a reply (%d missing)" % (name, len(missing)),
            not missing, missing[:5])
    R.check("%s: no request replied twice (%d duplicated)" % (name, len(dups)),
            not dups, list(dups.items())[:5])
    R.eq("%s: no reply to an unknown request" % name, strays[:5], [])
    bad = [(n, states.get(n)) for n, _, _ in items if states.get(n) != ["replied"]]
    R.check("%s: each request in exactly one final state, replied (%d not)" % (name, len(bad)),
            not bad, bad[:5])
    R.eq("%s: nothing left in new/ or claimed" % name, (n_new(env), n_claimed(env)), (0, 0))


def wait_all_replied(env, n, timeout):
    return wait_for(lambda: n_outbox(env) >= n and n_new(env) == 0 and n_claimed(env) == 0,
                    timeout, 0.1)


# ---------------------------------------------------------------------------

def test_status_recovery():
    name = "status/recovery"
    env = Env(settings=settings(rescan_interval_s=0), responses=one("status body"))
    try:
        items = []
        for i in range(3):
            mid = "st%d@sender.test" % i
            n = env.deliver(msg(frm="s%d@sender.test" % i, msgid=mid))
            items.append((n, None, mid))
        old = time.time() - 300
        os.utime(spool_dir(env, "new", items[0][0]), (old, old))
        c = env.deliver(msg(frm="claimed@sender.test", msgid="st-claimed@sender.test"))
        os.rename(spool_dir(env, "new", c), spool_dir(env, "cur", c + ":2,"))
        items.append((c, None, "st-claimed@sender.test"))
        f = env.deliver(msg(frm="failed@sender.test", msgid="st-failed@sender.test"))
        for sub in ("tmp", "new", "cur"):
            os.makedirs(spool_dir(env, ".Failed", sub), exist_ok=True)
        os.rename(spool_dir(env, "new", f), spool_dir(env, ".Failed", "new", f))

        rc, out, fl, counters = status(env)
        R.eq("status without daemon: exit code", rc, 0)
        R.eq("status without daemon: says no daemon", fl.get("daemon"), "not running")
        R.eq("status without daemon: counts new/claimed/failed",
             (fl.get("new"), fl.get("claimed"), fl.get("failed")), ("3", "1", "1"))
        age = re.match(r"(\d+) s$", fl.get("oldest new", ""))
        R.check("status without daemon: oldest new age ~300 s (%s)" % fl.get("oldest new"),
                age and 295 <= int(age.group(1)) <= 400, out)
        R.check("status without daemon: no counters line", counters is None, out)

        d = started(name, env)
        ok = wait_for(lambda: all(env.state_of(n) == "replied" for n, _, _ in items), 30, 0.05)
        R.check("recovery: the message left claimed and the backlog are answered at start",
                ok, [(n, env.state_of(n)) for n, _, _ in items])
        exactly_once(name, env, items)

        rc = status(env)[0]
        R.eq("status with daemon: exit code", rc, 0)
        rc, out, fl, counters = status(env, 5)
        R.eq("status with daemon: names the pid", fl.get("daemon"), "running, pid %d" % d.pid)
        R.eq("status with daemon: counts new/claimed/failed, oldest",
             (fl.get("new"), fl.get("claimed"), fl.get("failed"), fl.get("oldest new")),
             ("0", "0", "1", "-"))
        c = counters or {}
        R.eq("status with daemon: daemon counters (pid, handled, replied)",
             (c.get("pid"), c.get("handled"), c.get("replied")), (d.pid, 4, 4))
        R.eq("status with daemon: workers default to the number of cores",
             c.get("workers"), os.cpu_count())

        rcs = [status(env)[0] for _ in range(100)]
        R.eq("status with daemon: 100 more calls all exit 0 (no SIGPIPE)",
             [r for r in rcs if r != 0], [])

        p = subprocess.run([BIN, "run", "-c", env.settings], capture_output=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        err = p.stderr.decode("utf-8", "replace")
        R.eq("second run on the spool: exit code 2", p.returncode, 2)
        R.check("second run on the spool: names the owner pid",
                ("process %d" % d.pid) in err, err[:1500])
        R.check("second run on the spool: the first daemon keeps running", d.alive())
        stop_ok(name, d)
    finally:
        env.close()


def test_burst():
    name = "burst"
    N = 5000
    with staged(N, "burst", "burst body", workers=4, rescan_interval_s=0) as (env, items):
        rnd = random.Random(os.getpid())
        # the first bursts race the daemon's start: watch before first scan
        pub = threading.Thread(target=publish_bursts, args=(env, items, rnd), daemon=True)
        t0 = time.monotonic()
        pub.start()
        d = started(name, env)
        pub.join(120)
        R.check("%s: all %d renamed into new/" % (name, N), not pub.is_alive())
        ok = wait_all_replied(env, N, 600)
        dt = time.monotonic() - t0
        R.check("%s: all handled within the timeout" % name, ok,
                "outbox %d new %d claimed %d" % (n_outbox(env), n_new(env), n_claimed(env)))
        time.sleep(0.5)  # anything handled twice would show now
        exactly_once(name, env, items)
        try:
            ev = events_by_file(env)
            final = {f: [e for e in v if e.get("outcome") != "retry"] for f, v in ev.items()}
            bad = [n for n, _, _ in items
                   if [e.get("outcome") for e in final.get(n, [])] != ["replied"]]
            R.check("%s: exactly one final event (replied) per message" % name, not bad, bad[:5])
            retries = sum(len(v) - len(final[f]) for f, v in ev.items())
        except ValueError as e:
            R.check("%s: event log is one JSON object per line" % name, False, e)
            retries = -1
        print("# burst: %d messages in %.1f s (%.0f/s incl. staging races), %d retry events"
              % (N, dt, N / dt, retries))
        stop_ok(name, d)


def test_overflow():
    name = "overflow"
    if os.geteuid() != 0:
        print("skip - overflow test needs root (writes %s)" % INOTIFY_MAX)
        return
    try:
        with open(INOTIFY_MAX) as f:
            saved = f.read().strip()
        with open(INOTIFY_MAX, "w") as f:
            f.write(saved)
    except OSError as e:
        print("skip - overflow test: %s not writable (%s)" % (INOTIFY_MAX, e))
        return

    def restore():
        with open(INOTIFY_MAX, "w") as f:
            f.write(saved)

    N = 2000
    with staged(N, "ovf", "overflow body", workers=2, rescan_interval_s=0) as (env, items):
        RESTORE.append(restore)
        try:
            with open(INOTIFY_MAX, "w") as f:
                f.write("8")
            d = Daemon(env)
            # inotify_init1 takes the limit at creation; the log line
            # comes after it
            started = d.ready()
        finally:
            restore()
            RESTORE.remove(restore)
        with open(INOTIFY_MAX) as f:
            R.eq("%s: %s restored" % (name, INOTIFY_MAX), f.read().strip(), saved)
        R.check("%s: daemon starts" % name, started, d.log())
        publish(env, items)
        ok = wait_all_replied(env, N, 600)
        R.check("%s: all handled within the timeout" % name, ok,
                "outbox %d new %d claimed %d" % (n_outbox(env), n_new(env), n_claimed(env)))
        R.check("%s: the daemon saw the queue overflow (log)" % name,
                "inotify queue overflow" in d.log(), d.log()[-1500:])
        time.sleep(0.3)
        exactly_once(name, env, items)
        stop_ok(name, d)


def test_crash():
    name = "crash"
    N, KILLS = 2000, 10
    with staged(N, "crash", "crash body", workers=2) as (env, items):
        publish(env, items)
        rnd = random.Random(os.getpid() ^ 0x5eed)
        targets = sorted(rnd.randint(N // 20, N * 9 // 10) for _ in range(KILLS))
        kills, claimed_at_kill, starts_ok = 0, [], 0
        for t in targets:
            d = Daemon(env)
            starts_ok += d.ready()
            wait_for(lambda: n_outbox(env) >= t or not d.alive(), 120, 0.005)
            time.sleep(rnd.uniform(0, 0.02))
            if d.alive():
                d.p.send_signal(signal.SIGKILL)
                kills += 1
            d.kill()
            claimed_at_kill.append(n_claimed(env))
        R.eq("%s: every restart came up" % name, starts_ok, KILLS)
        R.eq("%s: killed %d times mid-run" % (name, KILLS), kills, KILLS)
        R.check("%s: some kills left claimed messages behind" % name,
                sum(claimed_at_kill) > 0, claimed_at_kill)
        d = started(name, env, "final daemon starts")
        ok = wait_all_replied(env, N, 600)
        R.check("%s: all handled after the last restart" % name, ok,
                "outbox %d new %d claimed %d" % (n_outbox(env), n_new(env), n_claimed(env)))
        time.sleep(0.3)
        replies = replies_by_irt(env)
        states = spool_states(env)
        mids = {mid for _, _, mid in items}
        missing = [mid for mid in mids if mid not in replies]
        dups = sum(len(v) - 1 for v in replies.values())
        R.check("%s: no request lost (%d without a reply)" % (name, len(missing)),
                not missing, missing[:5])
        bad = [(n, states.get(n)) for n, _, _ in items if states.get(n) != ["replied"]]
        R.check("%s: every message in exactly one final state (%d not)" % (name, len(bad)),
                not bad, bad[:5])
        R.eq("%s: nothing left in new/ or claimed" % name, (n_new(env), n_claimed(env)), (0, 0))
        R.check("%s: duplicate replies (%d) <= kills (%d)" % (name, dups, kills),
                dups <= kills, {k: len(v) for k, v in replies.items() if len(v) > 1})
        R.eq("%s: no duplicate at all (maildir deliveries are keyed by unique name and entry)"
             % name, dups, 0)
        print("# crash: kills=%d claimed-after-each-kill=%s duplicates=%d"
              % (kills, claimed_at_kill, dups))
        stop_ok(name, d)


def test_graceful_stop():
    name = "graceful stop"
    N = 3000
    with staged(N, "stop", "stop body", workers=2, shutdown_timeout_s=20) as (env, items):
        d = started(name, env)
        publish(env, items)
        wait_for(lambda: n_outbox(env) >= 200, 120, 0.005)
        rc, dt = d.stop(), d.stop_s
        R.eq("%s: exit code 0 after SIGTERM" % name, rc, 0)
        R.check("%s: stopped within shutdown_timeout_s (%.1f s)" % (name, dt), dt < 20)
        R.check("%s: log says it stopped" % name, "stopped after" in d.log(), d.log()[-800:])
        sanitizer_clean(name, d)
        states = spool_states(env)
        replied = sum(1 for v in states.values() if v == ["replied"])
        left = n_new(env)
        R.eq("%s: no message left claimed (in-flight ones were finished)" % name,
             n_claimed(env), 0)
        R.eq("%s: replies in the outbox = messages replied" % name, n_outbox(env), replied)
        R.eq("%s: every message replied or still in new/" % name, replied + left, N)
        R.check("%s: the rest stays in new/ (%d)" % (name, left), left > 0)
        m = re.search(r"stopped after (\d+) messages", d.log())
        R.check("%s: handled count in the log = messages replied" % name,
                m and int(m.group(1)) == replied, (m and m.group(0), replied))
        d = started(name, env, "restart")
        ok = wait_all_replied(env, N, 600)
        R.check("%s: the restarted daemon handles the rest" % name, ok)
        time.sleep(0.3)
        exactly_once(name, env, items)
        stop_ok(name + " (restart)", d)


def test_store_down():
    name = "store down"
    env = Env(settings=settings(daily_limit=3, workers=1, shutdown_timeout_s=1,
                                rescan_interval_s=0),
              responses=one("store body"))
    lock = None
    try:
        d = started(name, env)
        lock = sqlite3.connect(env.db, timeout=10, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # the daemon's writes now get SQLITE_BUSY
        n = env.deliver(msg(frm="store@sender.test", msgid="store1@sender.test"))

        def retry_event():
            return [e for e in env.events_list() if e.get("file") == n and e.get("outcome") == "retry"]
        evs = wait_for(retry_event, 30, 0.1)
        R.check("%s: the message gets outcome retry" % name, evs, env.events_list()[-3:])
        R.eq("%s: reason store-unavailable" % name, evs and evs[0].get("reason"), "store-unavailable")
        R.check("%s: the message waits in new/" % name,
                wait_for(lambda: env.state_of(n) == "new", 5, 0.01), env.state_of(n))
        rc, out, fl, counters = status(env, 5)
        R.check("%s: status shows the backlog and the daemon's retry count" % name,
                (fl.get("new"), fl.get("claimed")) in (("1", "0"), ("0", "1"))
                and (counters or {}).get("retry", 0) >= 1, out)
        lock.execute("COMMIT")
        R.check("%s: answered once the store is back, without a restart" % name,
                wait_for(lambda: env.state_of(n) == "replied", 30, 0.05) and d.alive(),
                env.state_of(n))
        R.eq("%s: one reply" % name, len(replies_by_irt(env).get("store1@sender.test", [])), 1)

        # a message stuck in flight: SIGTERM waits shutdown_timeout_s only
        lock.execute("BEGIN IMMEDIATE")
        n2 = env.deliver(msg(frm="store2@sender.test", msgid="store2@sender.test"))
        R.check("%s: second message claimed" % name,
                wait_for(lambda: env.state_of(n2) == "claimed", 10, 0.01), env.state_of(n2))
        time.sleep(0.2)
        rc, dt = d.stop(), d.stop_s
        R.eq("%s: stop with a stuck message: exit code 0" % name, rc, 0)
        R.check("%s: stop bounded by shutdown_timeout_s=1 (%.1f s, store wait is 5 s)"
                % (name, dt), dt < 4)
        R.check("%s: log says a message stayed in flight" % name,
                "still in flight" in d.log(), d.log()[-800:])
        sanitizer_clean(name, d)
        R.eq("%s: the stuck message stays claimed" % name, env.state_of(n2), "claimed")
        lock.execute("COMMIT")
        lock.close()
        lock = None
        d = started(name, env, "restart")
        R.check("%s: the stuck message is recovered and answered" % name,
                wait_for(lambda: env.state_of(n2) == "replied", 30, 0.05), env.state_of(n2))
        R.eq("%s: one reply for it" % name,
             len(replies_by_irt(env).get("store2@sender.test", [])), 1)
        stop_ok(name + " (restart)", d)
    finally:
        if lock is not None:
            try:
                lock.close()
            except Exception:
                pass
        env.close()


def block_dir(path):
    """Make a directory refuse new entries, even to root: chattr +i as root
    (root ignores permissions), mode 0500 otherwise. Returns an undo
    function, or None when that is not possible here."""
    if os.geteuid() == 0:
        r = subprocess.run(["chattr", "+i", path], capture_output=True)
        if r.returncode != 0:
            return None
        undo = lambda: subprocess.run(["chattr", "-i", path], capture_output=True)
    else:
        os.chmod(path, 0o500)
        undo = lambda: os.chmod(path, 0o700)
    try:
        with open(os.path.join(path, "probe"), "w"):
            pass
        os.unlink(os.path.join(path, "probe"))
        undo()
        return None
    except OSError:
        return undo


def test_transport_down():
    name = "transport down"
    env = Env(settings=settings(workers=2, rescan_interval_s=0,
                                retry={"initial_s": 1, "max_s": 4, "max_age_s": 600}),
              responses=one("transport body"))
    undo = None
    try:
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(env.outbox, sub), exist_ok=True)
        d = started(name, env)
        # warm up: the workers open their transport (dir fds are kept)
        w = env.deliver(msg(frm="warm@sender.test", msgid="warm@sender.test"))
        wait_for(lambda: env.state_of(w) == "replied", 20, 0.02)
        undo = block_dir(os.path.join(env.outbox, "tmp"))
        if undo is None:
            print("skip - transport down: cannot make outbox/tmp unwritable here "
                  "(chattr +i failed)")
            stop_ok(name, d)
            return
        RESTORE.append(undo)
        names, mids = [], []
        for i in range(3):
            mids.append("td%d@sender.test" % i)
            names.append(env.deliver(msg(frm="td%d@sender.test" % i, msgid=mids[-1])))
        # an old request (delivered an hour ago; max_age_s is 600)
        # (dated in tmp/ before the rename: the daemon may claim it at once)
        old = "1600000000.V801I1M1.old.test.host"
        tmp_old = os.path.join(env.spool, "tmp", old)
        with open(tmp_old, "wb") as f:
            f.write(msg(frm="old@sender.test", msgid="old@sender.test"))
        t_old = time.time() - 3600
        os.utime(tmp_old, (t_old, t_old))
        os.rename(tmp_old, spool_dir(env, "new", old))

        def retried():
            ev = env.events_list()
            return all(any(e.get("file") == n and e.get("outcome") == "retry" for e in ev)
                       for n in names) and ev
        ev = wait_for(retried, 30, 0.05)
        R.check("%s: each message gets outcome retry" % name, ev, (ev or env.events_list())[-5:])
        reasons = sorted({e.get("reason") for e in (ev or []) if e.get("outcome") == "retry"})
        R.check("%s: retry reason is a transport one (%s)" % (name, reasons),
                reasons and set(reasons) <= {"send-failed", "transport-unavailable"})
        seen_new = set()

        def all_seen_new():
            for n in names:
                if env.state_of(n) == "new":
                    seen_new.add(n)
            return len(seen_new) == len(names)
        R.check("%s: the messages wait in new/ between attempts" % name,
                wait_for(all_seen_new, 10, 0.005), seen_new)
        R.eq("%s: nothing reaches the outbox meanwhile" % name,
             [m for m in replies_by_irt(env) if m != "warm@sender.test"], [])

        # no busy loop: count attempts over 5 s (SIGUSR1 rescans must not
        # bring deferred messages back early either)
        def n_retry():
            return sum(1 for e in env.events_list() if e.get("outcome") == "retry")
        r0, c0 = n_retry(), cpu_s(d.pid)
        for _ in range(10):
            d.p.send_signal(signal.SIGUSR1)
            time.sleep(0.5)
        r1, c1 = n_retry(), cpu_s(d.pid)
        R.check("%s: no busy loop: %d attempts for 3 messages in 5 s (< 20)"
                % (name, r1 - r0), r1 - r0 < 20)
        R.check("%s: no busy loop: %.2f s CPU in 5 s (< 1.5)" % (name, c1 - c0), c1 - c0 < 1.5)

        oe = [e for e in env.events_list() if e.get("file") == old]
        R.eq("%s: an old message goes to the failed folder: retry-expired" % name,
             [(e.get("outcome"), e.get("reason")) for e in oe], [("failed", "retry-expired")])
        R.check("%s: with the last error" % name, oe and oe[-1].get("error"), oe)
        R.eq("%s: the old message is in .Failed" % name, env.state_of(old), "failed")

        undo()
        RESTORE.remove(undo)
        undo = None
        ok = wait_for(lambda: all(env.state_of(n) == "replied" for n in names), 30, 0.05)
        R.check("%s: answered after the outbox is back, without a restart" % name,
                ok and d.alive(), [env.state_of(n) for n in names])
        rep = replies_by_irt(env)
        R.eq("%s: one reply each" % name, [len(rep.get(m, [])) for m in mids], [1, 1, 1])
        R.eq("%s: no reply to the expired one" % name, rep.get("old@sender.test"), None)
        # the event line follows the final rename: wait for it too
        def last_outcomes():
            evs = env.events_list()
            return [([e.get("outcome") for e in evs if e.get("file") == n] or [None])[-1]
                    for n in names]
        wait_for(lambda: last_outcomes() == ["replied"] * 3, 10, 0.02)
        R.eq("%s: last event of each is replied" % name, last_outcomes(), ["replied"] * 3)
        stop_ok(name, d)
    finally:
        if undo is not None:
            undo()
        env.close()


def test_reload():
    name = "reload"
    V1 = [{"email_addr": "get@responder.test", "body": "BODY-V1-A", "attachments": None,
           "send_method": "SMTP"},
          {"email_addr": "get@responder.test", "body": "BODY-V1-B", "attachments": None,
           "send_method": "SMTP"}]
    V2 = [dict(V1[0], body="BODY-V2-A"), dict(V1[1], body="BODY-V2-B")]
    env = Env(settings=settings(workers=2), responses=V1)
    nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    npath = os.path.join(env.dir, "notify.sock")
    nsock.bind(npath)
    nsock.settimeout(0.1)
    notes = []

    def notified(what, timeout=15):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if what in notes:
                notes.remove(what)
                return True
            try:
                notes.extend(nsock.recv(4096).decode().split("\n"))
            except socket.timeout:
                pass
        return False

    def version_of(mid):
        out = []
        for r in replies_by_irt(env).get(mid, []):
            tags = [t for t in ("V1A", "V1B", "V2A", "V2B")
                    if ("BODY-%s-%s" % (t[:2], t[2])).encode() in r]
            out.append("+".join(tags) or "?")
        return sorted(out)

    def ask(tag):
        mid = "%s@sender.test" % tag
        n = env.deliver(msg(frm="%s@sender.test" % tag, msgid=mid))
        wait_for(lambda: env.state_of(n) == "replied", 30, 0.02)
        return version_of(mid)

    resp_path = os.path.join(env.dir, "responses.json")
    with open(env.settings) as f:
        good_settings = f.read()
    try:
        d = Daemon(env, extra_env={"NOTIFY_SOCKET": npath})
        R.check("%s: daemon starts" % name, d.ready(), d.log())
        R.check("%s: READY=1 sent to $NOTIFY_SOCKET" % name, notified("READY=1"), notes)
        R.eq("%s: first config used" % name, ask("rl1"), ["V1A", "V1B"])

        # a broken responder config: logged, old one kept
        with open(resp_path, "w") as f:
            f.write('[{"email_addr": "get@responder.test", "body": ')
        d.p.send_signal(signal.SIGHUP)
        R.check("%s: RELOADING=1 then READY=1" % name,
                notified("RELOADING=1") and notified("READY=1"), notes)
        R.check("%s: broken responder config is logged" % name,
                wait_for(lambda: d.log().count("reload failed") >= 1, 15), d.log()[-1500:])
        R.check("%s: daemon still running" % name, d.alive())
        R.eq("%s: after a broken responder config the old one answers" % name,
             ask("rl2"), ["V1A", "V1B"])

        # a valid new responder config but broken settings: all or nothing
        with open(resp_path, "w") as f:
            json.dump(V2, f)
        with open(env.settings, "w") as f:
            f.write(good_settings.replace('"daily_limit": 0', '"daily_limit": "lots"'))
        d.p.send_signal(signal.SIGHUP)
        R.check("%s: broken settings are logged" % name,
                wait_for(lambda: d.log().count("reload failed") >= 2, 15), d.log()[-1500:])
        R.check("%s: the log names the bad key" % name, "daily_limit" in d.log(),
                d.log()[-1500:])
        R.eq("%s: after broken settings the old config answers" % name,
             ask("rl3"), ["V1A", "V1B"])

        # the valid new config, sent while a burst is in flight
        with open(env.settings, "w") as f:
            f.write(good_settings)
        items = stage(env, 400, "rlb")
        publish(env, items[:200])
        wait_for(lambda: n_outbox(env) >= 50, 30, 0.005)
        d.p.send_signal(signal.SIGHUP)
        publish(env, items[200:])
        R.check("%s: reload logged" % name,
                wait_for(lambda: "reloaded" in d.log(), 15), d.log()[-1500:])
        R.eq("%s: new config used afterwards" % name, ask("rl4"), ["V2A", "V2B"])
        wait_for(lambda: all(env.state_of(n) == "replied" for n, _, _ in items), 60, 0.1)
        rep = replies_by_irt(env)
        mixed = [mid for _, _, mid in items
                 if len(rep.get(mid, [])) != 2 or len({(b"BODY-V1-" in r) for r in rep[mid]}) != 1]
        R.check("%s: each request answered with one config version, both parts (%d not)"
                % (name, len(mixed)), not mixed, mixed[:5])
        v2 = sum(1 for _, _, mid in items if b"BODY-V2-" in rep.get(mid, [b""])[0])
        print("# reload: %d of 400 in-flight requests answered with the new config" % v2)
        stop_ok(name, d)
        R.check("%s: STOPPING=1 sent" % name, notified("STOPPING=1", 5), notes)
    finally:
        nsock.close()
        env.close()


def test_sigusr1():
    name = "SIGUSR1"
    env = Env(settings=settings(workers=2, rescan_interval_s=0), responses=one("usr1 body"))
    try:
        new = spool_dir(env, "new")
        # calibrate: does reading a directory move its atime here?
        probe = os.path.join(env.dir, "probe")
        os.mkdir(probe)
        st = os.stat(probe)
        os.utime(probe, (st.st_mtime - 172800, st.st_mtime))
        a0 = os.stat(probe).st_atime
        os.listdir(probe)
        if os.stat(probe).st_atime == a0:
            print("skip - SIGUSR1 rescan: this file system does not update atime (noatime)")
            return
        d = started(name, env)
        time.sleep(1.0)  # the first scan is over
        st = os.stat(new)
        os.utime(new, (st.st_mtime - 172800, st.st_mtime))
        a0 = os.stat(new).st_atime
        time.sleep(2.5)
        R.check("%s: no scan of new/ without a trigger (rescan_interval_s = 0)" % name,
                os.stat(new).st_atime == a0)
        d.p.send_signal(signal.SIGUSR1)
        R.check("%s: the daemon reads new/ again after SIGUSR1" % name,
                wait_for(lambda: os.stat(new).st_atime != a0, 10, 0.02))
        R.check("%s: the daemon survives SIGUSR1" % name, d.alive())
        n = env.deliver(msg(frm="usr1@sender.test", msgid="usr1@sender.test"))
        R.check("%s: and keeps answering" % name,
                wait_for(lambda: env.state_of(n) == "replied", 20, 0.02))
        stop_ok(name, d)
    finally:
        env.close()


def test_drain():
    name = "drain+daemon"
    N = 1500
    with staged(N, "dr", "drain body", workers=2, rescan_interval_s=0) as (env, items):
        d = started(name, env)
        publish(env, items[:500])
        before = set(listdir(spool_dir(env, "new")))
        p1 = spawn([BIN, "drain", "-c", env.settings], stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE)
        pub = threading.Thread(target=publish_bursts,
                               args=(env, items[500:], random.Random(7), 200, 0.05),
                               daemon=True)
        pub.start()
        time.sleep(0.1)
        p2 = spawn([BIN, "drain", "-q", "-c", env.settings], stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE)
        out1, err1 = p1.communicate(timeout=300)
        after = spool_states(env)
        out1 = out1.decode("utf-8", "replace")
        R.eq("%s: drain exit code 0" % name, p1.returncode, 0)
        R.check("%s: drain hands over to the daemon (names its pid)" % name,
                "handed to the running daemon (pid %d)" % d.pid in out1,
                out1 + err1.decode("utf-8", "replace"))
        m = re.search(r"(\{.*\})", out1)
        rep = json.loads(m.group(1)) if m else {}
        R.check("%s: drain reports handled/deferred counts" % name,
                isinstance(rep.get("handled"), int) and rep.get("deferred") == 0, out1)
        pending = [n for n in before if after.get(n) != ["replied"]]
        R.check("%s: when drain returns, the backlog at its start is handled (%d not)"
                % (name, len(pending)), not pending, [(n, after.get(n)) for n in pending[:5]])
        out2, err2 = p2.communicate(timeout=300)
        R.eq("%s: second concurrent drain exit code 0" % name, p2.returncode, 0)
        pub.join(120)
        ok = wait_all_replied(env, N, 300)
        R.check("%s: all handled" % name, ok)
        time.sleep(0.3)
        exactly_once(name, env, items)
        ev = events_by_file(env)
        twice = [n for n, _, _ in items if len(ev.get(n, [])) != 1]
        R.check("%s: no message handled twice (one event each; %d not)" % (name, len(twice)),
                not twice, twice[:5])

        # the cron case: drain every few minutes on an idle daemon
        rcs = [env.run("drain", "-q", timeout=60)[0] for _ in range(100)]
        R.eq("%s: 100 drains on an idle daemon all exit 0 (no SIGPIPE)" % name,
             [r for r in rcs if r != 0], [])

        # a daemon that does not answer: drain fails loudly, touches nothing
        d.p.send_signal(signal.SIGSTOP)
        try:
            n = env.deliver(msg(frm="stopped@sender.test", msgid="stopped@sender.test"))
            t0 = time.monotonic()
            rc, out, err = env.run("drain", "-t", "2", timeout=60)
            dt = time.monotonic() - t0
            R.eq("%s: unresponsive daemon: drain exit code 2" % name, rc, 2)
            R.check("%s: unresponsive daemon: drain names the pid" % name,
                    str(d.pid) in err, out + err)
            R.check("%s: unresponsive daemon: drain gives up after -t (%.1f s)" % (name, dt),
                    dt < 15)
            R.eq("%s: unresponsive daemon: drain did not take the message" % name,
                 env.state_of(n), "new")
        finally:
            d.p.send_signal(signal.SIGCONT)
        R.check("%s: resumed daemon answers it" % name,
                wait_for(lambda: env.state_of(n) == "replied", 30, 0.02), env.state_of(n))
        stop_ok(name, d)

        # no daemon: drain processes the backlog itself
        n = env.deliver(msg(frm="alone@sender.test", msgid="alone@sender.test"))
        rc, out, err = env.run("drain", timeout=120)
        R.eq("drain without daemon: exit code 0", rc, 0)
        R.check("drain without daemon: processes the backlog itself",
                "handed" not in out and env.state_of(n) == "replied", out + err)


def test_two_drains():
    """Two drains without a daemon (an overlapping cron run): the second
    must not disturb the first, which owns the spool."""
    name = "drain while another drain runs"
    with staged(1500, "dd", "two drains body") as (env, items):
        publish(env, items)
        a = spawn([BIN, "drain", "-q", "-c", env.settings], stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE)
        wait_for(lambda: n_outbox(env) >= 100 or a.poll() is not None, 60, 0.005)
        rc_b, out_b, err_b = env.run("drain", "-q", "-t", "2", timeout=60)
        a.communicate(timeout=300)
        R.eq("%s: the first drain finishes (exit 0, not killed)" % name, a.returncode, 0)
        print("# second drain: exit %d: %s" % (rc_b, (out_b + err_b).strip()[:200]))
        env.run("drain", "-q", timeout=300)  # whatever is left
        exactly_once(name, env, items)


def events_per_file(env):
    """{unique name: number of event lines} from the event log."""
    n = {}
    with open(env.events) as f:
        for line in f:
            e = json.loads(line)
            if e.get("file"):
                n[e["file"].partition(":2,")[0]] = n.get(e["file"].partition(":2,")[0], 0) + 1
    return n


def test_recovery_with_arrivals():
    """Messages left claimed by a dead run are adopted at start while new
    ones arrive: a message claimed by this run is never adopted too. A
    day's handled messages in cur/ make the start's scan of cur/ last."""
    name = "recovery with arrivals"
    C, N, H = 300, 2000, 50000
    env = Env(settings=settings(workers=2, rescan_interval_s=0), responses=one("adopt body"))
    try:
        cur = spool_dir(env, "cur")
        for i in range(H):
            os.close(os.open(os.path.join(cur, "%d.M%d.old.test:2,RS" % (1600000000 + i, i)),
                             os.O_CREAT | os.O_WRONLY, 0o600))
        left = stage(env, C, "left")
        for n, p, _ in left:
            os.rename(p, spool_dir(env, "cur", n + ":2,"))
        items = stage(env, N, "arr")
        d = started(name, env)
        publish(env, items)
        ok = wait_all_replied(env, C + N, 300)
        R.check("%s: all answered" % name, ok,
                "outbox %d new %d claimed %d" % (n_outbox(env), n_new(env), n_claimed(env)))
        c = counters(env)
        R.eq("%s: the daemon handled each message once" % name, c.get("handled"), C + N)
        stop_ok(name, d)
        evs = events_per_file(env)
        twice = {k: v for k, v in evs.items() if v != 1}
        R.eq("%s: one event line per message (%d messages)" % (name, len(evs)),
             (len(evs), list(twice.items())[:5]), (C + N, []))
        print("# %s: %d adopted, %d arrived, %d handled in cur/: handled %s"
              % (name, C, N, H, c.get("handled")))
        exactly_once(name, env, left + items)
    finally:
        env.close()


TESTS = [test_status_recovery, test_recovery_with_arrivals, test_burst, test_overflow, test_crash, test_graceful_stop,
         test_store_down, test_transport_down, test_reload, test_sigusr1, test_drain, test_two_drains]

if __name__ == "__main__":
    only = [a for a in sys.argv[1:] if a.startswith("test_")]  # else a build dir
    for t in TESTS:
        if only and t.__name__ not in only:
            continue
        t0 = time.monotonic()
        try:
            t()
        except Exception:
            R.check("%s ran to the end" % t.__name__, False, traceback.format_exc())
        finally:
            kill_all()  # nothing outlives its test
        print("# %s: %.1f s" % (t.__name__, time.monotonic() - t0))
        sys.stdout.flush()
    sys.exit(R.done())
