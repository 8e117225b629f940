"""End-to-end: retention of finished requests (design.md s.3).

Handled requests (cur/, replied or ignored) are removed after
retention.handled_s, failed ones (.Failed) after retention.failed_s, by
`mailresponder expire` and by the daemon (a pass at start, then hourly);
0 removes a request as soon as it reaches its final state. The clock of
retention is shifted with MAILRESPONDER_CLOCK_OFFSET_S (the change time of
a file cannot be set by a test). Each removal is an event line and a status counter; claimed
requests and new/ are never touched.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import Daemon, Env, Results, msg, wait_for

R = Results()
HOUR, DAY = 3600, 86400


def listing(env, *sub):
    d = os.path.join(env.spool, *sub)
    return sorted(n for n in os.listdir(d) if not n.startswith(".")) if os.path.isdir(d) else []


def expired_events(env):
    return [e for e in env.events_list() if e.get("outcome") == "expired"]


def at(t):
    """The environment that makes the clock read t (unix seconds)."""
    return {"MAILRESPONDER_CLOCK_OFFSET_S": str(int(t - time.time()))}


# ---- defaults: 1 day handled, 7 days failed; expire for cron ----
env = Env()
replied = env.deliver(msg(frm="ann@sender.test", msgid="r1@sender.test"))
ignored = env.deliver(msg(frm="noreply@sender.test", msgid="r2@sender.test"))
failed = env.deliver("X-Original-To: \nFrom: bob@sender.test\n\nno recipient\n")
rc, out, err = env.run("drain")
R.eq("drain", rc, 0)
R.eq("final states", [env.state_of(n) for n in (replied, ignored, failed)],
     ["replied", "ignored", "failed"])
# a claimed one (a crash left it) and a delivered one are never removed
claimed = "1700009999.V1I1M1.test.host:2,"
with open(os.path.join(env.spool, "cur", claimed), "w") as f:
    f.write("From: c@sender.test\n\nx\n")
waiting = env.deliver(msg(frm="dora@sender.test", msgid="r3@sender.test"))
now = time.time()

rc, out, err = env.run("expire", env=at(now + DAY - 60))
R.eq("expire before a day: exit 0", rc, 0)
R.check("expire before a day: nothing removed",
        "0 handled and 0 failed" in out, out + err)
R.eq("expire before a day: cur/ kept", len(listing(env, "cur")), 3)

rc, out, err = env.run("expire", env=at(now + DAY + 60))
R.check("after a day: 2 handled removed, failed kept",
        rc == 0 and "2 handled and 0 failed" in out, out + err)
R.eq("after a day: only the claimed one is left in cur/", listing(env, "cur"), [claimed])
R.eq("after a day: the failed one is still there", env.state_of(failed), "failed")
R.eq("after a day: new/ untouched", listing(env, "new"), [waiting])
ev = expired_events(env)
R.eq("one event per removed request, naming the setting",
     sorted((e["file"], e["reason"]) for e in ev),
     sorted([(replied, "retention.handled_s"), (ignored, "retention.handled_s")]))
R.check("expired events carry no address", all("sender.test" not in str(e) for e in ev), ev)

rc, out, err = env.run("expire", env=at(now + 7 * DAY - 60))
R.check("failed kept for almost 7 days", "0 handled and 0 failed" in out, out)
rc, out, err = env.run("expire", env=at(now + 7 * DAY + 60))
R.check("failed removed after 7 days", "0 handled and 1 failed" in out, out)
R.eq("failed folder empty", listing(env, ".Failed", "new"), [])
R.eq("claimed still there", listing(env, "cur"), [claimed])
rc, out, err = env.run("stats", "--json")
R.check("stats does not count expired lines as bad ones",
        rc == 0 and '"bad_lines":0' in out.replace(" ", ""), out[:400])
env.close()

# ---- retention 0: removed as soon as the final state is reached ----
env = Env(settings={"retention": {"handled_s": 0, "failed_s": HOUR}})
a = env.deliver(msg(frm="eve@sender.test", msgid="z1@sender.test"))
b = env.deliver("X-Original-To: \nFrom: fay@sender.test\n\nno recipient\n")
rc, out, err = env.run("drain")
R.eq("handled_s 0: replied request removed at once", env.state_of(a), "missing")
R.eq("handled_s 0: both configured replies were still sent",
     [m["To"] for _, _, m in env.outbox_msgs()].count("eve@sender.test"), 2)
R.eq("handled_s 0: failed kept (failed_s 3600)", env.state_of(b), "failed")
ev = env.events_list()
R.eq("handled_s 0: outcome event, then the expired one",
     [(e["file"], e["outcome"]) for e in ev if e["file"] == a],
     [(a, "replied"), (a, "expired")])
env.close()

# ---- the daemon: a pass at start (hourly after), counted in status ----
env = Env(settings={"retention": {"handled_s": HOUR, "failed_s": HOUR}})
old = env.deliver(msg(frm="gus@sender.test", msgid="d1@sender.test"))
rc, out, err = env.run("drain")
R.eq("daemon: old request replied by drain", env.state_of(old), "replied")
d = Daemon(env, extra_env=at(time.time() + 2 * HOUR))
try:
    wait_for(lambda: env.state_of(old) == "missing", 30)
    R.eq("daemon: the start pass removed the old request", env.state_of(old), "missing")
    fresh = env.deliver(msg(frm="hal@sender.test", msgid="d2@sender.test"))
    wait_for(lambda: env.state_of(fresh) == "replied", 30)
    R.eq("daemon: a new request is still answered and kept", env.state_of(fresh), "replied")
    rc, out, err = env.run("status", timeout=30)
    R.check("status counts the removal", '"expired_handled":1' in out.replace(" ", ""), out)
finally:
    rc = d.stop()
R.eq("daemon: exit code after SIGTERM", rc, 0)
env.close()

# ---- the settings are checked ----
env = Env(settings={"retention": {"handled_s": -1, "failed_days": 3}})
rc, out, err = env.run("config-check")
R.check("negative handled_s refused, naming the key",
        rc == 1 and "retention.handled_s" in err, err)
R.check("unknown retention key refused", "retention.failed_days" in err, err)
env.close()
sys.exit(R.done())
