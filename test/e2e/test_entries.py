"""End-to-end: every config entry is delivered on its own.

Entries of one address go to different transports (transport_override off:
SMTP entries to smtp_url, here a maildir: outbox, SES entries to the SES
stand-in test/e2e/awsstub.py, which rejects recipients whose local part
starts with "reject"). A permanent failure of one entry
does not stop the next; the final state follows all results (any temporary
failure -> retry, else one sent -> replied, else failed); the event lists
each entry's result and never an address; a retry re-sends only the
entries the journal does not have.
"""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import Env, Results, free_ports, msg
from awsstub import Stub, write_creds

R = Results()
TMP = tempfile.mkdtemp(prefix="mr-entries-")
CREDS = os.path.join(TMP, "creds.json")
AWS = write_creds(CREDS, "AKIAENTRIES", "entries-secret")
STUB = Stub(os.path.join(TMP, "stub"), CREDS).start()
SES = {"endpoint": STUB.url(), "max_send_rate": 0}
REJ = "Rejected <reject-me@sender.test>"


def entry(addr, body, method):
    return {"email_addr": addr, "body": body, "attachments": None,
            "send_method": method}


RESP = [entry("mixed@responder.test", "first (SES)", "SES"),
        entry("mixed@responder.test", "second (SMTP)", "SMTP"),
        entry("sesonly@responder.test", "only SES", "SES"),
        entry("smtp2@responder.test", "one", "SMTP"),
        entry("smtp2@responder.test", "two", "SMTP")]

env = Env(responses=RESP, settings={"transport_override": None,
                                    "smtp_url": "maildir:outbox",
                                    "ses": SES, "aws": {"imds": 0},
                                    "daily_limit": 0})
mixed = env.deliver(msg(frm=REJ, to="mixed@responder.test", msgid="m1@sender.test"))
sesonly = env.deliver(msg(frm=REJ, to="sesonly@responder.test", msgid="m2@sender.test"))
two = env.deliver(msg(to="smtp2@responder.test", msgid="m3@sender.test"))
rc, out, err = env.run("drain", env=AWS)
R.eq("drain exit code", rc, 0)
ev = {e["file"]: e for e in env.events_list()}

R.eq("SES fails, SMTP after it still sent: replied", env.state_of(mixed), "replied")
R.eq("mixed: entries", ev[mixed].get("entries"),
     [{"i": 0, "r": "failed", "reason": "ses-rejected"},
      {"i": 1, "r": "sent"}])
R.eq("mixed: outcome, reason, replies",
     (ev[mixed]["outcome"], ev[mixed]["reason"], ev[mixed]["replies"]),
     ("replied", "replied", 1))
bodies = [m.get_body(("plain",)).get_content() for _, _, m in env.outbox_msgs()]
R.check("mixed: the SMTP reply is in the outbox",
        any("second (SMTP)" in b for b in bodies), bodies)
R.eq("all entries failed permanently: failed", env.state_of(sesonly), "failed")
R.eq("sesonly: event", (ev[sesonly]["outcome"], ev[sesonly]["reason"],
                        ev[sesonly].get("entries")),
     ("failed", "ses-rejected",
      [{"i": 2, "r": "failed", "reason": "ses-rejected"}]))
R.eq("two SMTP entries: both sent", ev[two].get("entries"),
     [{"i": 3, "r": "sent"}, {"i": 4, "r": "sent"}])
R.eq("outbox: 3 replies", len(env.outbox_files()), 3)
with open(env.events, encoding="utf-8") as f:
    text = f.read()
R.check("no requester address in the event log",
        "alice@sender.test" not in text.lower() and "reject-me" not in text)
env.close()

# A temporary failure after a sent entry: the request is retried, and the
# retry sends only what the journal lacks.
RESP2 = [entry("mixed@responder.test", "first (SMTP)", "SMTP"),
         entry("mixed@responder.test", "second (SES)", "SES"),
         entry("mixed@responder.test", "third (SMTP)", "SMTP")]
env = Env(responses=RESP2, settings={"transport_override": None,
                                     "smtp_url": "smtp://127.0.0.1:%d" % free_ports()[0],
                                     "ses": SES, "aws": {"imds": 0},
                                     "daily_limit": 0})
name = env.deliver(msg(frm=REJ, to="mixed@responder.test", msgid="t1@sender.test"))
rc, out, err = env.run("drain", env=AWS)
R.eq("temp: drain exit code", rc, 0)
R.eq("temp: back in new/", env.state_of(name), "new")
e = env.events_list()[-1]
R.eq("temp: outcome and reason", (e["outcome"], e["reason"]), ("retry", "send-failed"))
R.eq("temp: every entry tried", e.get("entries"),
     [{"i": 0, "r": "retry", "reason": "send-failed"},
      {"i": 1, "r": "failed", "reason": "ses-rejected"},
      {"i": 2, "r": "retry", "reason": "send-failed"}])

# the SMTP server is back (here: the outbox): entries 0 and 2 are sent
with open(env.settings) as f:
    s = json.loads(f.read().split("\n", 1)[1])
s["smtp_url"] = "maildir:outbox"
with open(env.settings, "w") as f:
    json.dump(s, f)
rc, out, err = env.run("drain", env=AWS)
R.eq("temp: second drain", rc, 0)
R.eq("temp: replied after the retry", env.state_of(name), "replied")
e = env.events_list()[-1]
R.eq("temp: second event entries", e.get("entries"),
     [{"i": 0, "r": "sent"},
      {"i": 1, "r": "failed", "reason": "ses-rejected"},
      {"i": 2, "r": "sent"}])
R.eq("temp: two replies in the outbox", len(env.outbox_files()), 2)
# and once more: all in the journal, nothing sent twice
os.rename(os.path.join(env.spool, "cur", name + ":2,RS"),
          os.path.join(env.spool, "new", name))
rc, out, err = env.run("drain", env=AWS)
e = env.events_list()[-1]
R.eq("journal: a third run sends nothing again",
     (e.get("entries"), len(env.outbox_files())),
     ([{"i": 0, "r": "journal"},
       {"i": 1, "r": "failed", "reason": "ses-rejected"},
       {"i": 2, "r": "journal"}], 2))
env.close()
STUB.stop()
shutil.rmtree(TMP, ignore_errors=True)
R.done()
