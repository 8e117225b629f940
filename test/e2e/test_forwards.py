"""End-to-end: admin forwards per reason (forward_reasons) and the hourly
cap per reason (forward_cap_per_hour).

One real-shaped message per reason the existing system forwards: an SES
complaint and a local Postfix bounce of a reply (both to the complaints
address), a DSN with a null sender, an unparsable From, a bounce with a
non-null envelope, a no-reply sender, a SpamAssassin-flagged request, a
DKIM failure from our verifier, a request without any DKIM result; plus
an auto-submitted message (logged, never forwarded by the existing system), a
plain request (no forward), and one each of the reasons the existing
system does not forward (auto-reply, list manager, list post, loop,
unknown address). Each reason is forwarded when listed and not
when not: the set is drained with forward_reasons "existing", with [],
with the default and with each reason alone. Then 500 spam-flagged
requests burst into a daemon with 4 workers under a cap of 20: exactly 20
forwards reach the outbox, 480 are held back, counted in the event log
and in status; after a restart in the same hour the cap still holds.
Forwards are read with Python's email package.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import (Daemon, Env, Results, msg, n_claimed, n_new, sanitizer_errors, status,
                    wait_for)

R = Results()
AUTHSERV = "mx.responder.test"
AR_PASS = ("Authentication-Results: %s;\n\tdkim=pass (2048-bit key; unprotected)"
           " header.d=%%s header.i=@%%s header.b=\"AbCd1234\"" % AUTHSERV)


def ar_pass(dom):
    return AR_PASS % (dom, dom)


def dsn(boundary, rcpt, status, diag):
    """A Postfix-style delivery status notification body."""
    return ("This is a MIME-encapsulated message.\n\n"
            "--%(b)s\nContent-Description: Notification\n"
            "Content-Type: text/plain; charset=us-ascii\n\n"
            "This is the mail system at host mx.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients.\n\n"
            "--%(b)s\nContent-Description: Delivery report\n"
            "Content-Type: message/delivery-status\n\n"
            "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; %(r)s\n"
            "Action: failed\nStatus: %(s)s\nDiagnostic-Code: smtp; %(d)s\n\n"
            "--%(b)s\nContent-Description: Undelivered Message Headers\n"
            "Content-Type: text/rfc822-headers\n\n"
            "From: Get Service <get@responder.test>\nSubject: Re: send\n\n"
            "--%(b)s--\n" % {"b": boundary, "r": rcpt, "s": status, "d": diag})


REPORT = 'Content-Type: multipart/report; report-type=delivery-status;\n\tboundary="%s"'

# (label, reason, final state, request bytes)
CASES = [
    ("no requested address", "no-requested-address", "failed",
     msg(frm="Nora <nora@sender.test>", orig_to=False, delivered_to=False,
         subject="no recipient header", extra=[ar_pass("sender.test")])),
    ("SES complaint", "complaint", "ignored",
     msg(frm="complaints@email-abuse.amazonses.com", to="complaints@responder.test",
         return_path="<0100018a-complaints@email-abuse.amazonses.com>",
         subject="Complaint about get@responder.test",
         extra=['Content-Type: multipart/report; report-type=feedback-report;\n'
                '\tboundary="arf1"', "MIME-Version: 1.0"],
         body="--arf1\nContent-Type: text/plain\n\nThis is an email abuse report\n\n"
              "--arf1\nContent-Type: message/feedback-report\n\n"
              "Feedback-Type: abuse\nUser-Agent: Amazon SES\nVersion: 1\n\n"
              "--arf1--\n")),
    ("local Postfix bounce of a reply", "complaint", "ignored",
     msg(frm="MAILER-DAEMON@mx.responder.test (Mail Delivery System)",
         to="complaints@responder.test", return_path="<>",
         subject="Undelivered Mail Returned to Sender",
         extra=[REPORT % "pf1", "MIME-Version: 1.0", "Auto-Submitted: auto-replied"],
         body=dsn("pf1", "gone@sender.test", "5.1.1", "550 5.1.1 user unknown"))),
    ("DSN with null sender", "null-sender", "ignored",
     msg(frm="MAILER-DAEMON@mx.sender.test (Mail Delivery System)",
         return_path="<>", subject="Undelivered Mail Returned to Sender",
         extra=[REPORT % "pf2", "MIME-Version: 1.0"],
         body=dsn("pf2", "x@elsewhere.test", "5.0.0", "550 no such user"))),
    ("unparsable From", "bad-sender", "ignored",
     msg(frm="undisclosed-recipients:;", subject="hello",
         return_path="<someone@sender.test>")),
    ("bounce with a real envelope", "bounce", "ignored",
     msg(frm="Mail Delivery Subsystem <postmaster@mx2.sender.test>",
         return_path="<postmaster@mx2.sender.test>",
         subject="Delivery Status Notification (Failure)",
         extra=[REPORT % "pf3", "MIME-Version: 1.0", ar_pass("mx2.sender.test")],
         body=dsn("pf3", "y@elsewhere.test", "5.2.2", "552 mailbox full"))),
    ("no-reply sender", "no-reply-sender", "ignored",
     msg(frm="Example Accounts <no-reply@accounts.example.net>",
         subject="Your verification code",
         extra=[ar_pass("accounts.example.net")])),
    ("spam-flagged", "spam", "ignored",
     msg(frm="Win Big <winner@lottery.test>", subject="You won",
         extra=["X-Spam-Flag: YES",
                "X-Spam-Status: Yes, score=9.1 required=5.0 tests=HTML_MESSAGE,\n"
                "\tLOTS_OF_MONEY autolearn=no version=3.4.6",
                ar_pass("lottery.test")])),
    ("DKIM failed", "dkim-fail", "ignored",
     msg(frm="Bank <alerts@bank.test>", subject="Account notice",
         extra=["Authentication-Results: %s;\n\tdkim=fail reason=\"signature "
                "verification failed\" header.d=bank.test header.i=@bank.test" % AUTHSERV])),
    ("DKIM result missing", "dkim-missing", "replied",
     msg(frm="Plain <plain@nodkim.test>", subject="please send")),
    ("auto-submitted", "auto-submitted", "ignored",
     msg(frm="Away <away@sender.test>", subject="Out of office",
         extra=["Auto-Submitted: auto-replied", ar_pass("sender.test")])),
    # reasons the existing system does not forward either
    ("vacation reply", "auto-reply", "ignored",
     msg(frm="Bob <bob@sender.test>", subject="Automatic reply: please send",
         extra=["X-MS-Exchange-Inbox-Rules-Loop: bob@sender.test",
                ar_pass("sender.test")])),
    ("list manager", "list-manager", "ignored",
     msg(frm="Users list <users-request@lists.test>", subject="confirm 8f3a",
         extra=["X-Mailman-Version: 2.1.29", ar_pass("lists.test")])),
    ("list post", "mailing-list", "ignored",
     msg(frm="Ann <ann@lists.test>", subject="digest",
         extra=["List-Id: <users.lists.test>", ar_pass("lists.test")])),
    ("loop", "loop", "ignored",
     msg(frm="Alias <alias@responder.test>", subject="x")),
    ("unknown address", "unknown-address", "ignored",
     msg(frm="Zed <zed@sender.test>", to="other@responder.test", subject="x",
         extra=[ar_pass("sender.test")])),
    ("request", None, "replied",
     msg(frm="Good <good@sender.test>", subject="please send",
         extra=[ar_pass("sender.test")])),
]
EVENT_REASON = {"dkim-missing": "replied"}
# what the existing system forwards (existing-system.md)
EXISTING = {"no-requested-address", "complaint", "null-sender", "bad-sender", "bounce",
            "no-reply-sender", "spam", "dkim-fail", "dkim-missing"}
FORWARDABLE = sorted({c[1] for c in CASES if c[1]})


def forwards(env):
    """Forwards in the outbox: {spool file name: [email message, ...]}."""
    got = {}
    for path, raw, m in env.outbox_msgs():
        if not (m["To"] and m["To"].addresses[0].addr_spec == "ops@responder.test"):
            continue
        note = [p for p in m.walk() if p.get_content_type() == "text/plain"]
        text = note[0].get_content() if note else ""
        for line in text.splitlines():
            if line.startswith("Spool file: "):
                got.setdefault(line[len("Spool file: "):].strip(), []).append(m)
    return got


def run_set(label, forward_reasons):
    """Drain every case once; {case label: (state, event, [forwards])}."""
    s = {"daily_limit": 0}
    if forward_reasons is not None:
        s["forward_reasons"] = forward_reasons
    env = Env(settings=s)
    names = {}
    for lab, reason, state, data in CASES:
        names[lab] = env.deliver(data)
    rc, out, err = env.run("drain")
    R.eq("%s: drain exit status" % label, rc, 0)
    evs = {e["file"]: e for e in env.events_list()}
    fw = forwards(env)
    res = {lab: (env.state_of(n), evs.get(n, {}), fw.get(n, []))
           for lab, n in names.items()}
    n_fw = sum(len(v) for v in fw.values())
    env.close()
    return res, n_fw, out


def forward_set(label, forward_reasons, want):
    """want: the reasons that must be forwarded."""
    res, n_fw, out = run_set(label, forward_reasons)
    n_want = 0
    for lab, reason, state, data in CASES:
        st, ev, fw = res[lab]
        R.eq("%s: %s: final state" % (label, lab), st, state)
        R.eq("%s: %s: event reason" % (label, lab), ev.get("reason"),
             EVENT_REASON.get(reason, reason or "replied"))
        if reason in want:
            n_want += 1
            ok = len(fw) == 1
            R.check("%s: %s: forwarded once (listed)" % (label, lab), ok, len(fw))
            if ok:
                R.check("%s: %s: subject names the reason" % (label, lab),
                        str(fw[0]["Subject"]).startswith("[mailresponder] %s:" % reason),
                        fw[0]["Subject"])
                R.eq("%s: %s: forward is auto-generated" % (label, lab),
                     fw[0]["Auto-Submitted"], "auto-generated")
                R.check("%s: %s: original attached" % (label, lab),
                        any(p.get_content_type() == "message/rfc822" for p in fw[0].walk()))
            R.eq("%s: %s: event counts the forward" % (label, lab),
                 (ev.get("forwarded"), ev.get("forward_reason")), (1, reason))
        else:
            R.eq("%s: %s: not forwarded (not listed)" % (label, lab), len(fw), 0)
            R.check("%s: %s: event has no forward" % (label, lab),
                    "forwarded" not in ev and "forward_reason" not in ev, ev)
    R.eq("%s: forwards in the outbox" % label, n_fw, n_want)
    return out


# --- which reasons are forwarded ---
out = forward_set("existing", "existing", EXISTING)
R.check("existing: drain prints the forwards", "forwards to the admins: 10 sent, 0 held back" in out, out)
R.eq("existing: every reason it forwards has a case", sorted(EXISTING - set(FORWARDABLE)), [])
forward_set("none", [], set())
forward_set("default", None, {"complaint", "bounce"})
for reason in FORWARDABLE:
    forward_set("only %s" % reason, [reason], {reason})
forward_set("all listed", FORWARDABLE, set(FORWARDABLE))

# --- settings errors name the key and the element ---
env = Env(settings={"forward_reasons": ["spam", "spma", 3]})
rc, out, err = env.run("config-check")
R.check("config-check names a bad reason",
        rc == 1 and 'forward_reasons[1]: expected a policy reason such as complaint, '
        'bounce or spam, got "spma"' in out + err and "forward_reasons[2]: expected a string"
        in out + err, out + err)
env.close()
for bad, what in (('"replied"', "replied is no forward reason"), ('"all"', "a string other than existing")):
    env = Env(settings={"forward_reasons": json.loads(bad) if bad != '"replied"' else ["replied"]})
    rc, out, err = env.run("config-check")
    R.check("config-check refuses %s" % what, rc == 1 and "forward_reasons" in out + err, out + err)
    env.close()
env = Env(settings={"forward_cap_per_hour": -1})
rc, out, err = env.run("config-check")
R.check("config-check refuses a negative cap",
        rc == 1 and "forward_cap_per_hour: expected an integer >= 0" in out + err, out + err)
env.close()


# --- the hourly cap over a burst of 500 spam-flagged requests ---
def spam(i, tag):
    return msg(frm="Spammer %d <spam%d@wave.test>" % (i, i), subject="cheap %d" % i,
               msgid="%s-%d@wave.test" % (tag, i),
               extra=["X-Spam-Flag: YES", "X-Spam-Status: Yes, score=12.0",
                      ar_pass("wave.test")])


def settled(env, n):
    """n events written and nothing left in new/ or claimed."""
    return not n_new(env) and not n_claimed(env) and len(env.events_list()) >= n


def status_of(env):
    rc, out, _, counters = status(env)
    line = [l for l in out.splitlines() if l.startswith("forwards this hour:")]
    return rc, counters or {}, line[0] if line else out


CAP, BURST = 20, 500
# the cap counts per UTC hour: do not let the burst straddle an hour
if 3600 - time.time() % 3600 < 90:
    time.sleep(3600 - time.time() % 3600 + 1)
env = Env(settings={"daily_limit": 0, "workers": 4, "forward_reasons": "existing",
                    "forward_cap_per_hour": CAP, "rescan_interval_s": 1})
d = Daemon(env)
R.check("burst: daemon started", d.ready())
for i in range(BURST):
    env.deliver(spam(i, "b"))
R.check("burst: all %d handled" % BURST, wait_for(lambda: settled(env, BURST), 120))
fw = forwards(env)
evs = env.events_list()
n_forwarded = sum(len(v) for v in fw.values())
n_held_ev = sum(1 for e in evs if e.get("forward_held") == 1)
R.eq("burst: forwards in the outbox = the cap", n_forwarded, CAP)
R.eq("burst: each forwarded message once", sorted(len(v) for v in fw.values()), [1] * CAP)
R.eq("burst: events with a forward", sum(1 for e in evs if e.get("forwarded") == 1), CAP)
R.eq("burst: events held back by the cap", n_held_ev, BURST - CAP)
R.check("burst: every event is ignored/spam with forward_reason spam",
        all(e["outcome"] == "ignored" and e["reason"] == "spam" and
            e.get("forward_reason") == "spam" for e in evs), evs[:2])
R.eq("burst: no reply sent", sum(1 for p, raw, m in env.outbox_msgs()
                                 if m["To"].addresses[0].addr_spec != "ops@responder.test"), 0)
rc, counters, line = status_of(env)
R.eq("burst: status counter forwards_held", counters.get("forwards_held"), BURST - CAP)
R.eq("burst: status forwards this hour", line,
     "forwards this hour: spam %d (%d held back); cap %d per reason" % (BURST, BURST - CAP, CAP))
print("# burst: %d spam-flagged requests, cap %d/hour: %d forwarded, %d held back"
      % (BURST, CAP, n_forwarded, n_held_ev))
R.eq("burst: daemon stops cleanly", d.stop(), 0)

# a restart within the hour: the count is in the store, the cap holds
d = Daemon(env)
R.check("restart: daemon started", d.ready())
for i in range(10):
    env.deliver(spam(i, "after-restart"))
R.check("restart: 10 more handled", wait_for(lambda: settled(env, BURST + 10), 60))
R.eq("restart: still only %d forwards" % CAP, sum(len(v) for v in forwards(env).values()), CAP)
rc, counters, line = status_of(env)
R.eq("restart: counter since this start", counters.get("forwards_held"), 10)
R.eq("restart: status this hour", line,
     "forwards this hour: spam %d (%d held back); cap %d per reason"
     % (BURST + 10, BURST + 10 - CAP, CAP))
R.eq("restart: daemon stops cleanly", d.stop(), 0)
with open(os.path.join(env.dir, "daemon.log"), "rb") as f:
    bad = sanitizer_errors(f.read().decode("utf-8", "replace"))
R.check("burst: no sanitizer report", not bad, "\n".join(bad[:5]))
# privacy: the spammers' addresses appear nowhere but in the forwards
with open(env.events, "rb") as f:
    ev_raw = f.read()
R.check("privacy: no sender address in the event log",
        b"@wave.test" not in ev_raw.lower(), ev_raw[:200])
env.close()

# with no cap (0) all are forwarded
env = Env(settings={"daily_limit": 0, "forward_reasons": ["spam"], "forward_cap_per_hour": 0})
for i in range(30):
    env.deliver(spam(i, "nocap"))
rc, out, err = env.run("drain")
R.eq("no cap: all 30 forwarded", sum(len(v) for v in forwards(env).values()), 30)
env.close()
sys.exit(R.done())
