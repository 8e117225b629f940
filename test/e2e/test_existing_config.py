"""End-to-end: a responder config written as the existing system's
deployments write it is accepted unchanged and answered exactly.

The shape (existing-system.md): bare text subtypes ("plain", "html") for
the body parts, a string body, several entries per address, attachments
as [bucket, key, shown filename] with keys at the bucket's top level and
names that the provider renames apply to. config-check must accept it,
and a drain must answer with text/plain and text/html parts holding the
configured texts byte for byte (checked with Python's email package).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import Env, Results, msg, body_parts, norm

R = Results()

EN_PLAIN = "English - https://example.com/en.html\nMirror = https://m.example.net/en \n"
EN_HTML = "<a href=\"https://example.com/en.html\">English</a> &amp; <b>more</b>"
FA_PLAIN = "فارسی - https://example.com/fa.html\nنسخه‌ی اندروید پیوست است."
FA_HTML = "<p dir=\"rtl\"><a href=\"https://example.com/fa.html\">فارسی</a></p>"
FILES = "Here are the files."

# Exactly the existing system's shape: the keys in its order, lower-case
# addresses, bare subtypes, "attachments": null, both send methods.
CONFIG = [
    {"email_addr": "get@responder.test",
     "body": [["plain", EN_PLAIN], ["html", EN_HTML]],
     "attachments": None,
     "send_method": "SES"},
    {"email_addr": "get@responder.test",
     "body": FILES,
     "attachments": [["bucket-id", "Example.exe", "Example.exe"],
                     ["bucket-id", "Example.apk", "Example.apk"]],
     "send_method": "SMTP"},
    {"email_addr": "get+fa@responder.test",
     "body": [["html", FA_HTML], ["plain", FA_PLAIN]],
     "attachments": None,
     "send_method": "SMTP"},
    {"email_addr": "get+fa@responder.test",
     "body": [["plain", FILES]],
     "attachments": [["bucket-id", "Example.apk", "Example.apk"]],
     "send_method": "SES"},
]

env = Env(responses=CONFIG)
blobs = {}
for key in ("Example.exe", "Example.apk"):
    d = os.urandom(40000 + len(key))
    blobs[key] = d
    os.makedirs(os.path.join(env.dir, "attachments", "bucket-id"), exist_ok=True)
    with open(os.path.join(env.dir, "attachments", "bucket-id", key), "wb") as f:
        f.write(d)

# The file on disk is the existing shape, unchanged.
with open(os.path.join(env.dir, "responses.json"), encoding="utf-8") as f:
    on_disk = json.load(f)
R.check("config on disk uses bare subtypes",
        [p[0] for p in on_disk[0]["body"]] == ["plain", "html"] and
        isinstance(on_disk[1]["body"], str), on_disk[0]["body"])

rc, out, err = env.run("config-check")
R.check("config-check accepts the existing shape", rc == 0 and "ok" in out,
        out + err)
R.check("config-check counts 4 entries for 2 addresses",
        "4 responder entries for 2 addresses" in out, out)

# --- requests: a gmail.com sender (renames apply) and another one ---
reqs = [
    ("gmail", "Someone <someone@gmail.com>", "get@responder.test", "m-gmail@gmail.com"),
    ("plain", "Other <other@sender.test>", "get@responder.test", "m-plain@sender.test"),
    ("persian", "Fa <fa@sender.test>", "get+fa@responder.test", "m-fa@sender.test"),
    ("persian gmail", "Fa <fa2@googlemail.com>", "Get+FA@Responder.test", "m-fa2@googlemail.com"),
]
names = {}
for label, frm, to, mid in reqs:
    names[label] = env.deliver(msg(frm=frm, to=to, msgid=mid, subject="send"))

rc, out, err = env.run("drain")
R.eq("drain exit status", rc, 0)
for label, name in names.items():
    R.eq("%s: replied" % label, env.state_of(name), "replied")

by_irt = {}
for path, raw, m in env.outbox_msgs():
    by_irt.setdefault((m["In-Reply-To"] or "").strip("<>"), []).append(m)


def replies(mid):
    """The replies to one request, in entry order (outbox names end .E<n>)."""
    return by_irt.get(mid, [])


def same_texts(label, m, want):
    texts, _ = body_parts(m)
    R.eq("%s: parts and exact texts" % label,
         [(ct, norm(t)) for ct, t in texts], want)
    for part in m.walk():
        if part.get_content_maintype() == "text":
            R.eq("%s: %s charset" % (label, part.get_content_type()),
                 part.get_content_charset(), "utf-8")


def split(got):
    with_att = [m for m in got if body_parts(m)[1]]
    without = [m for m in got if not body_parts(m)[1]]
    return with_att, without


def two_replies(label, mid, first, texts):
    """The two replies to mid: the first entry's (texts, no attachment) and
    the second's (FILES with attachments). Returns the first reply and the
    second's attachments, or None when the two are not there."""
    got = replies(mid)
    if not R.eq("%s: two replies" % label, len(got), 2):
        return None
    att, txt = split(got)
    if not R.check("%s: one with attachments, one without" % label,
                   len(att) == 1 and len(txt) == 1):
        return None
    same_texts("%s: %s" % (label, first), txt[0], texts)
    same_texts("%s: second entry" % label, att[0], [("text/plain", FILES)])
    return txt[0], body_parts(att[0])[1]


for label, mid, provider in (("gmail", "m-gmail@gmail.com", True),
                             ("plain", "m-plain@sender.test", False)):
    got = two_replies(label, mid, "first entry",
                      [("text/plain", EN_PLAIN), ("text/html", EN_HTML)])
    if got is None:
        continue
    txt, a = got
    R.eq("%s: alternative holds the two texts" % label,
         [p.get_content_type() for p in txt.walk()],
         ["multipart/alternative", "text/plain", "text/html"])
    want = ["Example", "Example.ap_"] if provider else ["Example.exe", "Example.apk"]
    R.eq("%s: attachment names" % label, [n for n, _ in a], want)
    R.check("%s: attachment bytes" % label,
            [d for _, d in a] == [blobs["Example.exe"], blobs["Example.apk"]])

for label, mid, provider in (("persian", "m-fa@sender.test", False),
                             ("persian gmail", "m-fa2@googlemail.com", True)):
    got = two_replies(label, mid, "first entry, html last",
                      [("text/plain", FA_PLAIN), ("text/html", FA_HTML)])
    if got is None:
        continue
    _, a = got
    R.eq("%s: attachment name" % label, [n for n, _ in a],
         ["Example.ap_" if provider else "Example.apk"])

R.eq("outbox holds 8 replies", len(env.outbox_files()), 8)

# --- a bad mimetype is still refused, naming entry and field ---
bad = [dict(CONFIG[0], body=[["plain", "a"], ["text/html; charset=utf-8", "b"]])]
env2 = Env(responses=bad)
rc, out, err = env2.run("config-check")
R.check("config-check refuses a mimetype with parameters", rc == 1 and
        "entry 0: body[1]: mimetype:" in out + err, out + err)
env2.close()

env.close()
sys.exit(R.done())
