"""End-to-end: `mailresponder stats` over an event log written by a real
drain of a varied spool.

Every count of the report is compared with what the spool states (final
folders and flags), the outbox (reply mails to requesters, forwards to the
admins) and the drain's own summary show. Then the same log cut into
logrotate siblings (one gzipped, one plain, the live file) with garbage
lines and a truncated last line; a time window; --mail through a private
Postfix, verified with python's dkim module; and no requester address in
any output.
"""
import base64
import email
import email.policy
import gzip
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import Env, Results, msg

R = Results()
env = Env(settings={"daily_limit": 2})
senders = []


def rq(frm, **kw):
    senders.append(frm)
    return env.deliver(msg(frm=frm, **kw))


# a varied spool: replies to both configured addresses, the daily limit,
# policy refusals, forwards to the admins, a failure
for i in range(6):
    rq("user%d@sender.test" % i)                     # get@: 2 replies each
for i in range(3):
    rq("fa%d@sender.test" % i, to="get+fa@responder.test")  # 1 reply each
for i in range(4):
    rq("limited@sender.test")                        # 2 replied, 2 rate-limited
rq("nr@sender.test", return_path="<>")              # null-sender
rq("noreply@sender.test")                           # no-reply-sender
rq("unk@sender.test", to="other@responder.test")     # unknown-address
rq("cmp@sender.test", to="complaints@responder.test")  # complaint: forward
rq("MAILER-DAEMON@mx.sender.test")                  # bounce: forward
rq("lst@sender.test", extra=["List-Id: <l.sender.test>"])  # mailing-list
rq("spam@sender.test", extra=["X-Spam-Flag: YES"])   # spam
rq("nora@sender.test", orig_to=False, delivered_to=False)  # failed
N = len(senders)

rc, drain_out, err = env.run("drain")
R.check("drain of the varied spool", rc == 0, drain_out + err)

names = sorted(os.listdir(os.path.join(env.spool, "cur"))) + \
    sorted(os.listdir(os.path.join(env.spool, ".Failed", "new")))
states = {}
for n in names:
    base = n.split(":")[0]
    states[base] = env.state_of(base)
want = {s: sum(1 for v in states.values() if v == s) for s in ("replied", "ignored", "failed")}
R.eq("every request in a final state", sum(want.values()), N)

admins = {"ops@responder.test"}
to_req = to_adm = 0
for _, raw, m in env.outbox_msgs():
    if m["To"] and m["To"].addresses[0].addr_spec in admins:
        to_adm += 1
    else:
        to_req += 1

events = env.events_list()
by_reason = {}
for e in events:
    k = (e["outcome"], e["reason"])
    by_reason[k] = by_reason.get(k, 0) + 1

rc, out, err = env.run("stats", "--json", "--since", "1h")
R.check("stats --json exit 0", rc == 0, out + err)
try:
    j = json.loads(out)
except ValueError:
    j = {}
R.eq("stats: replied = requests in cur/ with RS", j.get("replied"), want["replied"])
R.eq("stats: ignored = requests in cur/ with S", j.get("ignored"), want["ignored"])
R.eq("stats: failed = requests in the failed folder", j.get("failed"), want["failed"])
R.eq("stats: requests = every request", j.get("requests"), N)
R.eq("stats: retries", j.get("retry"), 0)
R.eq("stats: failed config entries = the events' entries not sent", j.get("failed_entries"),
     sum(1 for e in events for x in e.get("entries", []) if x.get("r") in ("failed", "retry")))
R.eq("stats: replies sent = reply mails in the outbox", j.get("replies"), to_req)
R.eq("stats: forwards sent = admin forwards in the outbox", j.get("forwards"), to_adm)
R.check("the spool really has replies and forwards", to_req == 2 * 6 + 3 + 2 * 2 and to_adm == 2,
        (to_req, to_adm))
R.eq("stats: by outcome and reason = the event log",
     {(r["outcome"], r["reason"]): r["n"] for r in j.get("reasons", [])}, by_reason)
R.eq("stats: the expected reasons",
     sorted(k[1] for k in by_reason),
     sorted(["replied", "rate-limited", "null-sender", "no-reply-sender", "unknown-address",
             "complaint", "bounce", "mailing-list", "spam", "no-requested-address"]))
addrs = j.get("addresses", {})
R.eq("stats: per requested address get@",
     (addrs.get("get@responder.test") or {}).get("replied"), 6 + 2)
R.eq("stats: per requested address get+fa@ (replies)",
     (addrs.get("get+fa@responder.test") or {}).get("replies"), 3)
R.check("stats: an address that is not ours is not listed by name",
        "other@responder.test" not in out and (addrs.get("(other)") or {}).get("ignored") == 1,
        addrs)
R.eq("stats: no requested address", (addrs.get("(none)") or {}).get("failed"), 1)
ms = [e["ms"] for e in events]
R.eq("stats: max processing time = the log's", (j.get("ms") or {}).get("max"), max(ms))
srt = sorted(ms)
R.eq("stats: p50 = the log's (nearest rank)", (j.get("ms") or {}).get("p50"),
     srt[(len(srt) + 1) // 2 - 1])
R.eq("stats: failed folder count", (j.get("failed_folder") or {}).get("messages"), want["failed"])
fsize = sum(os.path.getsize(os.path.join(env.spool, ".Failed", "new", n))
            for n in os.listdir(os.path.join(env.spool, ".Failed", "new")))
R.eq("stats: failed folder bytes", (j.get("failed_folder") or {}).get("bytes"), fsize)
R.check("stats: failed folder oldest entry given", (j.get("failed_folder") or {}).get("oldest"))
R.eq("stats: no bad lines", j.get("bad_lines"), 0)

m = re.search(r"total: (\d+) handled \(\d+ recovered\): (\d+) replied, (\d+) ignored, "
              r"(\d+) failed, (\d+) retry; (\d+) reply mails sent", drain_out)
R.check("drain summary = stats (one counter model)",
        m and [int(x) for x in m.groups()] ==
        [N, j.get("replied"), j.get("ignored"), j.get("failed"), 0, j.get("replies")],
        (drain_out, m and m.groups()))

rc, text, err = env.run("stats", "--since", "1h")
R.check("stats (text) exit 0", rc == 0, text + err)
R.check("text report: requests line",
        ("requests: %d (replied %d, ignored %d, failed %d); retries: 0"
         % (N, want["replied"], want["ignored"], want["failed"])) in text, text)
R.check("text report: replies and forwards",
        "replies sent: %d; admin forwards sent: %d" % (to_req, to_adm) in text, text)
R.check("text report: processing time line", "processing time (ms): p50 " in text, text)
R.check("text report: failed folder line",
        re.search(r"failed folder \(\.Failed\): %d messages, %d bytes, oldest " % (want["failed"], fsize),
                  text), text)


def leaks(s):
    low = s.lower()
    return [a for a in senders if a.lower() in low or a.split("@")[0].lower() + "@" in low]


R.eq("no requester address in the text report", leaks(text), [])
R.eq("no requester address in the JSON report", leaks(out), [])

# ---- rotated siblings, gzip, garbage, a truncated last line ----
with open(env.events, "rb") as f:
    lines = f.read().splitlines(keepends=True)
a, b = len(lines) // 3, 2 * len(lines) // 3
with gzip.open(env.events + ".2.gz", "wb") as f:
    f.writelines(lines[:a])
garbage = [b"garbage\n", b"{\"ts\":\"2026-01-01T00:00:00Z\"\n", b"[1,2,3]\n",
           b"{\"ts\":\"nope\",\"outcome\":\"replied\",\"reason\":\"replied\",\"ms\":1}\n",
           b"\xff\xfe\n", b"{\"ts\":\"2026-01-01T00:00:00Z\",\"outcome\":\"replied\","
           b"\"reason\":\"replied\",\"ms\":1} trailing\n"]
with open(env.events + "-20261203", "wb") as f:
    f.writelines(lines[a:b] + garbage[:3])
trunc = lines[b][:len(lines[b]) // 2]
with open(env.events, "wb") as f:
    f.writelines(lines[b + 1:] + garbage[3:] + [trunc])
with open(env.events + ".bak", "wb") as f:   # not a logrotate name: ignored
    f.writelines(lines)
rc, out2, err = env.run("stats", "--json", "--since", "1h")
try:
    j2 = json.loads(out2)
except ValueError:
    j2 = {}
R.eq("rotated: 3 files read (the .bak is not a sibling)", j2.get("files"), 3)
R.eq("rotated: bad lines counted = garbage + truncated", j2.get("bad_lines"), len(garbage) + 1)
R.eq("rotated: every whole line counted once",
     (j2.get("replied"), j2.get("ignored"), j2.get("failed")),
     tuple(sum(1 for e in [json.loads(l) for l in lines[:b] + lines[b + 1:]]
               if e["outcome"] == o) for o in ("replied", "ignored", "failed")))
R.eq("rotated: lines read", j2.get("lines"), len(lines) - 1 + len(garbage) + 1)

# ---- a time window ----
old = dict(json.loads(lines[0]))
old["ts"] = "2020-02-03T04:05:06.789Z"
with open(env.events, "ab") as f:
    f.write(b"\n" + json.dumps(old).encode() + b"\n")
os.utime(env.events + ".2.gz", (1580000000, 1580000000))  # last written in Jan 2020
rc, out3, err = env.run("stats", "--json", "--from", "2020-02-03", "--to", "2020-02-04T00:00Z")
try:
    j3 = json.loads(out3)
except ValueError:
    j3 = {}
R.eq("window: only the record inside it", (rc, j3.get("requests"), j3.get(old["outcome"])), (0, 1, 1))
R.eq("window: a file last written before the window is not read", j3.get("files"), 2)
rc, _, err = env.run("stats", "--since", "1h", "--from", "2020-01-01")
R.eq("--since with --from is a usage error", rc, 1)
rc, _, err = env.run("stats", "--since", "soon")
R.check("bad --since is a usage error naming it", rc == 1 and "--since" in err, err)


# ---- --mail through a private Postfix, DKIM-verified ----
def test_mail():
    import dkim  # /usr/bin/python3: python3-dkim
    from postfix import Postfix
    os.chmod(env.dir, 0o755)  # Postfix (uid 65534) must get through
    key = os.path.join(env.dir, "dkim.key")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", key], check=True, capture_output=True)
    os.chmod(key, 0o600)
    der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    txt = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)
    pf = Postfix(os.path.join(env.dir, "pf"), domains=("ops.test",),
                 vmailbox_lines=("stats@ops.test stats/", "boss@ops.test stats/"))
    try:
        pf.configure()
        pf.start()
        with open(env.settings) as f:
            st = json.loads(f.read().split("\n", 1)[1])
        st.update({"transport_override": None,
                   "smtp_url": "smtp://127.0.0.1:%d" % pf.send_port,
                   "stats_addresses": ["stats@ops.test", "boss@ops.test"],
                   "dkim": {"domain": "responder.test", "selector": "st1", "rsa_key": key}})
        with open(env.settings, "w") as f:
            json.dump(st, f)
        _, now_text, _ = env.run("stats", "--since", "1h")
        req_line = re.search(r"(?m)^requests: .*$", now_text)
        req_line = req_line.group(0) if req_line else "?"
        rc, out, err = env.run("stats", "--mail", "--since", "1h")
        R.check("stats --mail exit 0, nothing on stdout", rc == 0 and out == "", out + err)
        end = time.time() + 30
        while len(pf.sink_files("stats")) < 2 and time.time() < end:
            time.sleep(0.1)
        files = pf.sink_files("stats")
        R.eq("stats --mail: one mail to each stats address", len(files), 2)
        for p in files:
            with open(p, "rb") as f:
                raw = f.read()
            m = email.message_from_bytes(raw, policy=email.policy.default)
            crlf = re.sub(rb"\r?\n", b"\r\n", raw)
            try:
                ok = dkim.verify(crlf, dnsfunc=lambda name, timeout=5: txt
                                 if name.startswith(b"st1._domainkey.responder.test") else b"")
            except Exception as e:  # a verifier crash is a failed check
                ok = repr(e)
            R.check("stats mail to %s: DKIM verifies (python dkim)" % m["To"], ok is True, ok)
            body = m.get_body(("plain",)).get_content()
            R.check("stats mail: the report with its counts (%s)" % req_line,
                    req_line in body and "by requested address:" in body, body[:600])
            R.check("stats mail: subject names the host and the window",
                    "stats" in m["Subject"] and " .. " in m["Subject"], m["Subject"])
            R.eq("stats mail: From is our configured sender", m["From"].addresses[0].addr_spec,
                 "get@responder.test")
            R.eq("stats mail: Auto-Submitted", m["Auto-Submitted"], "auto-generated")
            R.eq("stats mail: no requester address in it", leaks(raw.decode("utf-8", "replace")), [])
    finally:
        pf.stop()


if not os.environ.get("MR_STATS_NO_MAIL"):
    test_mail()
env.close()
sys.exit(R.done())
