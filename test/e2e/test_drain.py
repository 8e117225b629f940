"""End-to-end: `mailresponder drain` over a spool of varied requests.

Every policy row (matching and near-miss), RFC 2047 subjects in several
charsets, display names with commas and quotes, mixed-case requested
addresses, CRLF and LF files and hostile input. For each request: final
location and flags, the event's reason, and for replies the decoded
headers, bodies, attachments, In-Reply-To/References and Auto-Submitted.
"""
import os
import re
import sqlite3
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import (Env, Results, msg, body_parts, norm, TEXT, HTML, SECOND,
                    PERSIAN)

R = Results()
env = Env()
cases = []   # (label, name, state, reason, sender, expect)


def add(label, data, state, reason, sender=None, **expect):
    name = env.deliver(data)
    cases.append((label, name, state, reason, sender, expect))


def rq(label, state, reason, sender="x@sender.test", **kw):
    """A request from sender (unique per case unless given)."""
    mid = "m-%s@sender.test" % re.sub(r"[^a-z0-9]+", "-", label.lower())
    kw.setdefault("msgid", mid)
    frm = kw.pop("frm", sender)
    expect = kw.pop("expect", {})
    expect.setdefault("msgid", kw["msgid"] if kw["msgid"] else None)
    add(label, msg(frm=frm, **kw), state, reason, sender, **expect)


n = [0]


def uniq_sender(dom="sender.test"):
    n[0] += 1
    return "user%d@%s" % (n[0], dom)


# --- every policy row, matching and near-miss ---
s = uniq_sender(); rq("plain request", "replied", "replied", s, frm="Alice <%s>" % s,
                      expect={"entries": 2})
s = uniq_sender(); rq("delivered-to only", "replied", "replied", s, orig_to=False,
                      delivered_to="get@responder.test", expect={"entries": 2})
s = uniq_sender(); rq("no original recipient", "failed", "no-requested-address", s,
                      orig_to=False, delivered_to=False)
s = uniq_sender(); rq("unparsable original recipient", "failed", "no-requested-address", s,
                      orig_to="not an address", delivered_to=False)
s = uniq_sender(); rq("complaint", "ignored", "complaint", s, to="complaints@responder.test")
s = uniq_sender(); rq("unknown address", "ignored", "unknown-address", s, to="other@responder.test")
s = uniq_sender(); rq("null sender", "ignored", "null-sender", s, return_path="<>")
s = uniq_sender(); rq("null sender with spaces", "ignored", "null-sender", s, return_path=" <> ")
s = uniq_sender(); rq("near-miss: real return-path", "replied", "replied", s,
                      return_path="<%s>" % s, expect={"entries": 2})
s = uniq_sender(); rq("missing From", "ignored", "bad-sender", s, frm=None)
s = uniq_sender(); rq("unparsable From", "ignored", "bad-sender", s, frm="<>")
s = uniq_sender(); rq("From with junk", "ignored", "bad-sender", s, frm="J <j@x.test> junk")
rq("mailer-daemon", "ignored", "bounce", "MAILER-DAEMON@mx.sender.test")
rq("postmaster", "ignored", "bounce", "postmaster@sender.test")
rq("ses bounce address", "ignored", "bounce", "bounce-xyz@email.amazonses.com")
s = uniq_sender(); rq("DSN multipart/report", "ignored", "bounce", s,
                      extra=['Content-Type: multipart/report; report-type=delivery-status;\n boundary="b1"'])
rq("near-miss: mailer (not mailer-daemon)", "replied", "replied", "mailer@sender.test",
   expect={"entries": 2})
rq("noreply sender", "ignored", "no-reply-sender", "noreply@sender.test")
rq("no-reply sender mixed case", "ignored", "no-reply-sender", "No-Reply-42@sender.test")
rq("bounces sender", "ignored", "no-reply-sender", "bounces+123@lists.sender.test")
rq("near-miss: reply@", "replied", "replied", "reply@sender.test", expect={"entries": 2})
rq("loop: our From address", "ignored", "loop", "get@responder.test")
rq("loop: own address", "ignored", "loop", "Alias@Responder.Test")
rq("loop: configured address", "ignored", "loop", "get+fa@responder.test")
s = uniq_sender(); rq("auto-submitted", "ignored", "auto-submitted", s,
                      extra=["Auto-Submitted: auto-replied"])
s = uniq_sender(); rq("near-miss: Auto-Submitted: no", "replied", "replied", s,
                      extra=["Auto-Submitted: no"], expect={"entries": 2})
s = uniq_sender(); rq("precedence bulk", "ignored", "auto-submitted", s, extra=["Precedence: bulk"])
s = uniq_sender(); rq("precedence junk", "ignored", "auto-submitted", s, extra=["Precedence: JUNK"])
s = uniq_sender(); rq("x-autoreply", "ignored", "auto-submitted", s, extra=["X-Autoreply: yes"])
s = uniq_sender(); rq("x-auto-response-suppress OOF", "ignored", "auto-submitted", s,
                      extra=["X-Auto-Response-Suppress: DR, OOF"])
s = uniq_sender(); rq("near-miss: x-auto-response-suppress DR", "replied", "replied", s,
                      extra=["X-Auto-Response-Suppress: DR"], expect={"entries": 2})
s = uniq_sender(); rq("x-fc-machinegenerated", "ignored", "auto-submitted", s,
                      extra=["X-FC-MachineGenerated: true"])
s = uniq_sender(); rq("list-id", "ignored", "mailing-list", s,
                      extra=["List-Id: Friends <friends.lists.sender.test>"])
s = uniq_sender(); rq("list-unsubscribe", "ignored", "mailing-list", s,
                      extra=["List-Unsubscribe: <mailto:u@sender.test>"])
s = uniq_sender(); rq("spam flag", "ignored", "spam", s, extra=["X-Spam-Flag: YES"])
s = uniq_sender(); rq("near-miss: spam flag NO", "replied", "replied", s,
                      extra=["X-Spam-Flag: NO"], expect={"entries": 2})
s = uniq_sender(); rq("dkim fail by our verifier", "ignored", "dkim-fail", s,
                      extra=["Authentication-Results: mx.responder.test;\n dkim=fail (bad sig) header.d=sender.test"])
s = uniq_sender(); rq("near-miss: dkim fail by a foreign verifier", "replied", "replied", s,
                      extra=["Authentication-Results: evil.test; dkim=fail header.d=sender.test"],
                      expect={"entries": 2})
s = uniq_sender(); rq("near-miss: dkim pass", "replied", "replied", s,
                      extra=["Authentication-Results: mx.responder.test; dkim=pass header.d=sender.test"],
                      expect={"entries": 2})
rq("blocked domain", "ignored", "blocked", "a@blocked.test")
rq("blocked subdomain", "ignored", "blocked", "a@mail.blocked.test")
rq("near-miss: notblocked.test", "replied", "replied", "a@notblocked.test", expect={"entries": 2})
rq("blocked in the store", "ignored", "blocked", "Evil@Sender.Test")

# --- subjects in several charsets ---
subjects = [
    ("=?utf-8?B?2LPZhNin2YUg2K/ZiNiz2Ko=?=", "سلام دوست"),
    ("=?UTF-8?Q?caf=C3=A9_cr=C3=A8me?=", "café crème"),
    ("=?iso-8859-1?q?Gr=FC=DFe?=", "Grüße"),
    ("=?koi8-r?B?8NLJ18XU?=", "Привет"),
    ("=?windows-1256?B?0c7H4w==?=", "رخام"),
    ("=?iso-2022-jp?B?GyRCJDMkcyRLJEEkTxsoQg==?=", "こんにちは"),
    ("=?gb2312?B?xOO6ww==?=", "你好"),
    ("Hello =?utf-8?q?w=C3=B6rld?= again", "Hello wörld again"),
    ("RE: already a reply", None),
    ("re: lower case", None),
]
for i, (raw, dec) in enumerate(subjects):
    s = uniq_sender()
    want = ("Re: " + dec) if dec else raw
    rq("subject %d %s" % (i, raw[:20]), "replied", "replied", s, subject=raw,
       expect={"entries": 2, "subject": want})
s = uniq_sender()
rq("subject with unknown charset", "replied", "replied", s,
   subject="=?x-unknown?Q?caf=E9?=", expect={"entries": 2, "subject_valid": True})
s = uniq_sender()
rq("subject with invalid utf-8", "replied", "replied", s,
   subject="=?utf-8?B?/w==?= =?ucs-4?b?f////w==?=", expect={"entries": 2, "subject_valid": True})
s = uniq_sender()
rq("subject with encoded CRLF", "replied", "replied", s,
   subject="=?utf-8?q?a=0D=0ABcc:_x@evil.test?=", expect={"entries": 2, "no_bcc": True})

# --- display names, case, line ends ---
rq("display name with comma", "replied", "replied", "john.doe@sender.test",
   frm='"Doe, John" <john.doe@sender.test>', expect={"entries": 2})
rq("display name with quotes", "replied", "replied", "bob@sender.test",
   frm='"Smith, \\"Bob\\"" <bob@sender.test>', expect={"entries": 2})
rq("encoded display name", "replied", "replied", "sara@sender.test",
   frm="=?utf-8?B?2LPYp9ix2Kc=?= <sara@sender.test>", expect={"entries": 2})
s = uniq_sender(); rq("mixed-case requested address", "replied", "replied", s,
                      to="GET@Responder.TEST", expect={"entries": 2})
s = uniq_sender(); rq("plus address, persian entry", "replied", "replied", s,
                      to="get+fa@responder.test", expect={"entries": 1, "persian": True})
s = uniq_sender(); rq("CRLF file", "replied", "replied", s, crlf=True, expect={"entries": 2})
s = uniq_sender(); rq("no message-id", "replied", "replied", s, msgid=False,
                      expect={"entries": 2, "msgid": None})
rq("gmail recipient gets renamed attachments", "replied", "replied", "someone@gmail.com",
   expect={"entries": 2, "provider": True})

# --- hostile input ---
add("empty file", b"", "failed", "no-requested-address")
add("binary garbage", bytes(range(256)) * 400 + os.urandom(4096), "failed", "no-requested-address")
s = uniq_sender()
filler = ["X-Filler-%d: value %d" % (i, i) for i in range(10000)]
add("10,000 header lines", msg(frm=s, extra=filler, msgid="m-filler@sender.test"),
    "replied", "replied", s, entries=2, msgid="m-filler@sender.test")
s = uniq_sender()
add("20 MB body", msg(frm=s, body=("0123456789" * 100 + "\n") * 20000, msgid="m-big@sender.test"),
    "replied", "replied", s, entries=2, msgid="m-big@sender.test")
s = uniq_sender()
add("unterminated multipart", msg(frm=s, msgid="m-mp@sender.test",
    extra=['MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="zz"'],
    body="--zz\nContent-Type: text/plain\n\nhi\n--zz\nContent-Type: text/plain\n\nno end"),
    "replied", "replied", s, entries=2, msgid="m-mp@sender.test")
s = uniq_sender()
add("headers over the 1 MiB cap", msg(frm=s, extra=["X-Big-%d: %s" % (i, "y" * 200) for i in range(6000)]),
    "failed", "headers-too-large", s)
# a symlink and a FIFO dropped into new/
target = os.path.join(env.dir, "outside.eml")
with open(target, "wb") as f:
    f.write(msg(frm=uniq_sender()))
os.symlink(target, os.path.join(env.spool, "new", "1700009999.symlink.host"))
cases.append(("symlink in new/", "1700009999.symlink.host", "failed", "not-regular-file", None, {}))
os.mkfifo(os.path.join(env.spool, "new", "1700009998.fifo.host"))
cases.append(("fifo in new/", "1700009998.fifo.host", "failed", "not-regular-file", None, {}))
# a dot-file is not a message
with open(os.path.join(env.spool, "new", ".hidden"), "w") as f:
    f.write("x")

R.check("at least 40 requests in the spool", len(cases) >= 40, len(cases))

# block one sender in the store, by the hash only
rc, out, err = env.run("blacklist", "add", "evil@sender.test")
R.eq("blacklist add exit code", rc, 0)

rc, out, err = env.run("drain")
R.eq("drain exit code", rc, 0)
R.check("drain prints a summary", "total:" in out, out + err)

# --- every request in exactly one final state ---
events = {}
for e in env.events_list():
    events.setdefault(e["file"], []).append(e)
for label, name, state, reason, sender, expect in cases:
    got = env.state_of(name)
    R.eq("%s: final state" % label, got, state)
    ev = events.get(name, [])
    R.check("%s: one event with reason %s" % (label, reason),
            len(ev) == 1 and ev[0]["reason"] == reason and
            ev[0]["outcome"] == state, ev)
R.check("dot-file untouched", os.path.exists(os.path.join(env.spool, "new", ".hidden")))
R.eq("nothing left in new/", sorted(n for n in os.listdir(os.path.join(env.spool, "new"))
                                    if not n.startswith(".")), [])
R.check("symlink target untouched", os.path.exists(target))

# --- the replies ---
by_irt = {}
no_irt = []
for path, raw, m in env.outbox_msgs():
    irt = m.get("In-Reply-To")
    if irt:
        by_irt.setdefault(irt.strip("<> "), []).append((path, raw, m))
    else:
        no_irt.append((path, raw, m))

total_expected = 0
for label, name, state, reason, sender, expect in cases:
    if state != "replied":
        continue
    n_entries = expect.get("entries", 2)
    total_expected += n_entries
    mid = expect.get("msgid")
    if mid is None:
        got = [x for x in no_irt if x[2]["To"] and x[2]["To"].addresses[0].addr_spec.lower() == sender.lower()]
    else:
        got = by_irt.get(mid, [])
    R.eq("%s: number of replies" % label, len(got), n_entries)
    if not got:
        continue
    for path, raw, m in got:
        to = m["To"].addresses[0].addr_spec if m["To"] else None
        R.check("%s: To is the sender" % label, to and to.lower() == sender.lower(), to)
        R.check("%s: Auto-Submitted" % label, m["Auto-Submitted"] == "auto-replied", m["Auto-Submitted"])
        if mid:
            R.check("%s: In-Reply-To/References" % label,
                    m["In-Reply-To"] == "<%s>" % mid and m["References"] == "<%s>" % mid,
                    (m["In-Reply-To"], m["References"]))
        else:
            R.check("%s: no In-Reply-To" % label, m["In-Reply-To"] is None and m["References"] is None)
        R.check("%s: Message-ID, Date, From" % label,
                re.match(r"^<[^@<>]+@responder\.test>$", m["Message-ID"] or "") and
                (m["Date"] or "").endswith("+0000") and
                m["From"].addresses[0].addr_spec == "get@responder.test", (m["Message-ID"], m["Date"], m["From"]))
        R.check("%s: Return-Path is the complaints address" % label,
                raw.startswith(b"Return-Path: <complaints@responder.test>\r\n"), raw[:60])
        R.check("%s: CRLF only, lines <= 998" % label,
                b"\n" not in raw.replace(b"\r\n", b"") and max(len(l) for l in raw.split(b"\r\n")) <= 998)
        if "subject" in expect:
            R.eq("%s: decoded Subject" % label, str(m["Subject"]), expect["subject"])
        if expect.get("subject_valid"):
            subj = str(m["Subject"])
            R.check("%s: Subject is valid text" % label, subj.startswith("Re: ") and "\ufffd" not in subj[:4], subj)
        if expect.get("no_bcc"):
            R.check("%s: no injected header" % label, m["Bcc"] is None and b"\r\nBcc:" not in raw)
    texts, atts = body_parts(got[0][2]) if n_entries == 1 else (None, None)
    if expect.get("persian"):
        R.eq("%s: Persian body round-trips" % label, [(t, norm(x)) for t, x in texts],
             [("text/plain", PERSIAN)])
    elif n_entries == 2:
        parts = {}
        for path, raw, m in got:
            t, a = body_parts(m)
            parts["att" if a else "plain"] = (t, a, m)
        R.check("%s: one reply with attachments, one without" % label, set(parts) == {"att", "plain"}, list(parts))
        if "att" in parts:
            t, a, m = parts["att"]
            R.eq("%s: bodies round-trip, html last" % label, [(ct, norm(x)) for ct, x in t],
                 [("text/plain", TEXT), ("text/html", HTML)])
            names = ["Example-1.0.ap_", "Setup"] if expect.get("provider") else ["Example-1.0.apk", "Setup.exe"]
            R.eq("%s: attachment names" % label, [n for n, _ in a], names)
            R.check("%s: attachment bytes" % label,
                    [d for _, d in a] == [env.attach["android/Example-1.0.apk"], env.attach["windows/Setup.exe"]])
        if "plain" in parts:
            t, a, m = parts["plain"]
            R.eq("%s: second body" % label, [(ct, norm(x)) for ct, x in t], [("text/plain", SECOND)])
        for _, _, m in got:
            R.eq("%s: Reply-To is the requested address" % label, str(m["Reply-To"]), "get@responder.test")

# --- complaints and bounces are forwarded to the admin with the original ---
forwards = [(p, raw, m) for p, raw, m in no_irt
            if m["To"] and m["To"].addresses[0].addr_spec == "ops@responder.test"]
fwd_cases = [c for c in cases if c[3] in ("complaint", "bounce")]
R.eq("one forward per complaint or bounce", len(forwards), len(fwd_cases))
for label, name, state, reason, sender, expect in fwd_cases:
    got = [x for x in forwards if ("Spool file: %s" % name).encode() in x[1]]
    if not R.eq("%s: forwarded once" % label, len(got), 1):
        continue
    p, raw, m = got[0]
    R.check("%s: forward subject" % label,
            str(m["Subject"]).startswith("[mailresponder] %s:" % reason), m["Subject"])
    R.eq("%s: forward is auto-generated" % label, m["Auto-Submitted"], "auto-generated")
    att = [part for part in m.walk() if part.get_content_type() == "message/rfc822"]
    with open(os.path.join(env.spool, "cur", name + ":2,S"), "rb") as f:
        orig = f.read()
    R.check("%s: original attached as message/rfc822" % label,
            len(att) == 1 and att[0].get_payload()[0].as_bytes().replace(b"\r\n", b"\n").strip()
            == orig.replace(b"\r\n", b"\n").strip(), len(att))

R.eq("outbox holds exactly the expected replies and forwards", len(env.outbox_files()),
     total_expected + len(fwd_cases))

# --- privacy: no sender address in clear anywhere we write ---
senders = sorted({c[4] for c in cases if c[4] and not c[4].lower().endswith("@responder.test")})
blobs = {}
with open(env.events, "rb") as f:
    blobs["event log"] = f.read()
blobs["drain output"] = (out + err).encode()
for fn in os.listdir(os.path.join(env.dir, "state")):
    with open(os.path.join(env.dir, "state", fn), "rb") as f:
        blobs["state/" + fn] = f.read()
for where, data in blobs.items():
    low = data.lower()
    leaked = [s for s in senders if s.lower().encode() in low]
    R.check("privacy: no sender address in %s" % where, not leaked, leaked[:5])
R.check("privacy: event log holds keyed sender hashes",
        all(len(e.get("sender_hash") or "x" * 64) == 64 for e in env.events_list()))
db = sqlite3.connect(env.db)
hashes = [r[0] for r in db.execute("select emailhash from blacklist_email")]
R.check("store keeps SHA-512 hex of the lower-cased address",
        len(hashes) == 1 and len(hashes[0]) == 128 and
        hashes[0] == __import__("hashlib").sha512(b"evil@sender.test").hexdigest(), hashes)
db.close()
R.eq("event key file is 0600", stat.S_IMODE(os.stat(os.path.join(env.dir, "state", "event.key")).st_mode), 0o600)

# --- a second drain finds nothing to do ---
n_out = len(env.outbox_files())
rc, out2, _ = env.run("drain")
R.check("second drain: nothing handled, nothing sent",
        rc == 0 and "total: 0 handled" in out2 and len(env.outbox_files()) == n_out, out2)

env.close()
sys.exit(R.done())
