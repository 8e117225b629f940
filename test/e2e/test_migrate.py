"""End-to-end: the switch-over of mailresponder-migrate(7), step by step,
on a private Postfix, losing no request and answering none twice.

The old setup is built as deployments have it: the published addresses
and the complaints address are virtual aliases of a local user whose
delivery is a pipe (here an alias of that user piping into a file that
stands for the Python program; .forward and aliases are both expanded by
local(8) with the same destination syntax). Then, as the guide says:
defer_transports = local holds new requests in the queue; postfix-maps
and postconf replace the aliases by virtual(8) delivery into the spool;
the local user's destination becomes the spool (a Maildir path), for the
requests held after their alias expansion; the daemon starts; the
requests are released. Requests are sent before, during the hold, and
after the switch. Afterwards: the old program got only those from before,
mailresponder answered every other one exactly once (the held ones too,
with the published address from X-Original-To), the complaint was
forwarded, and the Postfix queue is empty. The held requests' recipient
is the local user (their alias was expanded when they were queued), which
is why the guide changes that user's destination.
"""
import json
import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import BIN, Daemon, Env, Results, wait_for
from postfix import Postfix

R = Results()

if not os.path.exists("/usr/sbin/postfix") or os.geteuid() != 0:
    print("skip - migration switch-over (needs postfix and root)")
    sys.exit(0)

VUID = 65534
CONFIG = [  # the existing system's shape
    {"email_addr": "get@responder.test",
     "body": [["plain", "English - https://example.com/en.html"],
              ["html", "<a href=\"https://example.com/en.html\">English</a>"]],
     "attachments": None, "send_method": "SMTP"},
]


top = tempfile.mkdtemp(prefix="mr-migrate-")
os.chmod(top, 0o755)
old_out = os.path.join(top, "old-program")
os.mkdir(old_out)
os.chmod(old_out, 0o777)
piped = os.path.join(old_out, "piped.mbox")

env = Env(settings={"daily_limit": 0, "forward_reasons": "existing",
                    "dkim_policy": "ignore", "rescan_interval_s": 1},
          responses=CONFIG)
os.chmod(env.dir, 0o755)
for d in ("", "tmp", "new", "cur"):
    os.chown(os.path.join(env.spool, d), VUID, VUID)
    os.chmod(os.path.join(env.spool, d), 0o700)

pf = Postfix(top,
             domains=("requester.test",), vmailbox_lines=("@requester.test sink/",))
pf.configure()
with open(os.path.join(pf.conf, "valias"), "w") as f:
    f.write("get@responder.test mailresp@localhost\n"
            "complaints@responder.test mailresp@localhost\n")


def set_user_destination(dest):
    """What the local user's mail goes to (the .forward of the guide)."""
    with open(os.path.join(pf.conf, "aliases"), "w") as f:
        f.write("mailresp %s\n" % dest)


set_user_destination('"|cat >> %s"' % piped)
pf.start()


def postconf(*args):
    p = subprocess.run(["/usr/sbin/postconf", "-c", pf.conf] + list(args),
                       capture_output=True, text=True, timeout=30)
    R.check("postconf %s" % " ".join(args), p.returncode == 0, p.stderr)


def postfix(*args):
    p = subprocess.run(["/usr/sbin/postfix", "-c", pf.conf] + list(args),
                       capture_output=True, text=True, timeout=60)
    R.check("postfix %s" % " ".join(args), p.returncode == 0, p.stderr)


def queue():
    p = subprocess.run(["/usr/sbin/postqueue", "-c", pf.conf, "-j"],
                       capture_output=True, text=True, timeout=30)
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def send(tag, to="get@responder.test"):
    # Postfix adds Return-Path, X-Original-To and Delivered-To itself
    data = ("From: Req %s <req-%s@requester.test>\r\nTo: %s\r\n"
            "Subject: request %s\r\nMessage-ID: <%s@requester.test>\r\n"
            "Date: Fri, 04 Dec 2026 12:00:00 +0000\r\n\r\nplease send\r\n"
            % (tag, tag, to, tag, tag))
    with smtplib.SMTP("127.0.0.1", pf.inbound_port, timeout=30) as s:
        s.sendmail("req-%s@requester.test" % tag, [to], data)


def piped_count():
    try:
        with open(piped, "rb") as f:
            return f.read().count(b"\nSubject: request ")
    except FileNotFoundError:
        return 0


def spool_new():
    return [n for n in os.listdir(os.path.join(env.spool, "new")) if not n.startswith(".")]


# --- the old setup: virtual aliases of a local user with a pipe ---
# (set with postconf -e: a key given twice in main.cf makes Postfix log a
# warning through postlogd before it runs)
postconf("-e", "mydestination = localhost", "virtual_alias_domains = responder.test",
         "virtual_alias_maps = texthash:%s/valias" % pf.conf,
         "alias_maps = texthash:%s/aliases" % pf.conf)
postfix("reload")
for i in range(1, 4):
    send("before%d" % i)
R.check("old setup: the pipe gets the requests", wait_for(lambda: piped_count() == 3, 30),
        piped_count())

# --- step 3: hold ---
postconf("-e", "defer_transports = local")
postfix("reload")
held = ["held%d" % i for i in range(1, 5)]
for t in held:
    send(t)
send("held-complaint", to="complaints@responder.test")
R.check("hold: 5 requests wait as 'deferred transport'",
        wait_for(lambda: sum(1 for m in queue() for r in m["recipients"]
                             if r.get("delay_reason") == "deferred transport") == 5, 30),
        queue())
R.eq("hold: the held requests were rewritten to the local user",
     sorted({r["address"] for m in queue() for r in m["recipients"]}), ["mailresp@localhost"])
R.eq("hold: the old program got nothing more", piped_count(), 3)

# --- step 4: virtual delivery into the spool ---
p = subprocess.run([BIN, "postfix-maps", "-c", env.settings, "--postmap"],
                   capture_output=True, text=True, env=dict(os.environ, MAIL_CONFIG=pf.conf))
R.check("switch: postfix-maps --postmap", p.returncode == 0, p.stderr)
# the sample's /etc/postfix/virtual: routes that are not the responder's
virtual = os.path.join(pf.conf, "virtual")
with open(virtual, "w") as f:
    f.write("# postmaster@, abuse@ and admins of the responder domains go here\n")
p = subprocess.run(["/usr/sbin/postmap", "-c", pf.conf, virtual], capture_output=True, text=True)
R.check("switch: postmap virtual", p.returncode == 0, p.stderr)
postconf("-e", "virtual_alias_domains =", "virtual_alias_maps = hash:%s" % virtual,
         "virtual_mailbox_domains = %s/virtual_mailbox_domains" % env.dir,
         "virtual_mailbox_maps = hash:%s/virtual_mailbox_maps" % env.dir,
         "virtual_mailbox_base = /",
         "virtual_uid_maps = static:%d" % VUID, "virtual_gid_maps = static:%d" % VUID)
postfix("check")
postfix("reload")
after = ["after%d" % i for i in range(1, 3)]
for t in after:
    send(t)
R.check("switch: new requests land in the spool",
        wait_for(lambda: len(spool_new()) == 2, 30), spool_new())

# --- step 5: the local user's mail goes to the spool ---
set_user_destination(env.spool + "/")
postfix("reload")  # texthash is read at process start; a .forward is read per delivery

# --- step 6: start the daemon ---
d = Daemon(env)
R.check("daemon started", d.ready())

# --- step 7: release ---
postconf("-X", "defer_transports")
postfix("reload")
p = subprocess.run(["/usr/sbin/postqueue", "-c", pf.conf, "-f"], capture_output=True, text=True)
R.check("postqueue -f", p.returncode == 0, p.stderr)
R.check("release: the queue empties", wait_for(lambda: not queue(), 60, 0.1), queue())
R.check("release: every request handled",
        wait_for(lambda: len(env.events_list()) >= 7 and not spool_new(), 60),
        len(env.events_list()))
time.sleep(1)

# --- what happened to each request ---
evs = env.events_list()
by_mid = {}
for path, raw, m in env.outbox_msgs():
    if m["In-Reply-To"]:
        by_mid.setdefault(m["In-Reply-To"].strip("<>"), []).append(m)
for t in held + after:
    R.eq("%s: answered once by mailresponder" % t, len(by_mid.get("%s@requester.test" % t, [])), 1)
for t in ("before1", "before2", "before3"):
    R.eq("%s: not answered again" % t, by_mid.get("%s@requester.test" % t, []), [])
R.eq("old program: only the 3 from before the hold", piped_count(), 3)
R.eq("events: 7, one per request", len(evs), 7)
R.eq("events: requested address from X-Original-To",
     sorted(e["requested"] for e in evs),
     ["complaints@responder.test"] + ["get@responder.test"] * 6)
R.eq("events: outcomes", sorted((e["outcome"], e["reason"]) for e in evs),
     [("ignored", "complaint")] + [("replied", "replied")] * 6)
fw = [m for p, raw, m in env.outbox_msgs()
      if m["To"] and m["To"].addresses[0].addr_spec == "ops@responder.test"]
R.eq("the held complaint is forwarded", len(fw), 1)
R.eq("nothing left in the spool's new/", spool_new(), [])
R.eq("nothing failed", os.listdir(os.path.join(env.spool, ".Failed", "new"))
     if os.path.isdir(os.path.join(env.spool, ".Failed", "new")) else [], [])

R.eq("daemon stops cleanly", d.stop(), 0)
bad = d.sanitizer_errors()
R.check("no sanitizer report", not bad, "\n".join(bad[:5]))
pf.stop()
env.close()
shutil.rmtree(top, ignore_errors=True)
sys.exit(R.done())
