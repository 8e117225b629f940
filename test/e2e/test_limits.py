"""End-to-end: the daily limit.

One sender writing 5 times (varying letter case) with limit 3 gets exactly
3 replies; an exempt-domain sender and an allow-listed sender get 5; a
retried request is counted once; counts belong to a UTC day: clear-adhoc
(the old cron) keeps today's, the next day starts from zero without it.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import Env, Results, msg

R = Results()
env = Env(responses=[{"email_addr": "get@responder.test", "body": "links",
                      "attachments": None, "send_method": "SMTP"}])

forms = ["Carol@Sender.Test", "carol@sender.test", "CAROL@SENDER.TEST",
         "carol@SENDER.test", "cArOl@sender.TEST"]
limited = [env.deliver(msg(frm=f, msgid="c%d@sender.test" % i)) for i, f in enumerate(forms)]
exempt = [env.deliver(msg(frm="dave@exempt.test", msgid="d%d@exempt.test" % i)) for i in range(5)]
sub = [env.deliver(msg(frm="erin@mail.exempt.test", msgid="e%d@exempt.test" % i)) for i in range(5)]
allowed = [env.deliver(msg(frm="Frank@Sender.Test", msgid="f%d@sender.test" % i)) for i in range(5)]

rc, out, err = env.run("blacklist", "allow", "frank@sender.test")
R.eq("blacklist allow", rc, 0)
rc, out, err = env.run("drain")
R.eq("drain exit code", rc, 0)

states = [env.state_of(n) for n in limited]
R.eq("limit 3: exactly 3 of 5 replied", states.count("replied"), 3)
R.eq("limit 3: the other 2 ignored", states.count("ignored"), 2)
reasons = sorted(e["reason"] for e in env.events_list() if e["file"] in limited)
R.eq("limit 3: reasons", reasons, ["rate-limited"] * 2 + ["replied"] * 3)
to_carol = [m for _, _, m in env.outbox_msgs() if m["To"].addresses[0].addr_spec.lower() == "carol@sender.test"]
R.eq("limit 3: exactly 3 reply mails", len(to_carol), 3)
R.eq("exempt domain: 5 of 5 replied", [env.state_of(n) for n in exempt].count("replied"), 5)
R.eq("exempt parent domain: 5 of 5 replied", [env.state_of(n) for n in sub].count("replied"), 5)
R.eq("allow-listed sender: 5 of 5 replied", [env.state_of(n) for n in allowed].count("replied"), 5)

rc, out, err = env.run("blacklist", "show", "CAROL@sender.test")
R.check("show: daily count 5 for carol (requests, not replies)", rc == 0 and "daily count: 5 (limit 3)" in out, out + err)
R.check("show prints no address", "carol" not in out.lower(), out)

# a request that is retried (moved back to new/ by hand as the spool does
# for a transient failure) is not counted twice
name = env.deliver(msg(frm="gina@sender.test", msgid="g0@sender.test"))
rc, out, err = env.run("drain")
os.rename(os.path.join(env.spool, "cur", name + ":2,RS"), os.path.join(env.spool, "new", name))
rc, out, err = env.run("drain")
rc, out, err = env.run("blacklist", "show", "gina@sender.test")
R.check("a request handled twice is counted once", "daily count: 1 " in out, out)

# the old cron's clear-adhoc, whenever it runs, never resets today's
# counts (that would let a sender past the limit) ...
rc, out, err = env.run("blacklist", "clear-adhoc")
R.eq("clear-adhoc exit code", rc, 0)
rc, out, err = env.run("blacklist", "show", "carol@sender.test")
R.check("clear-adhoc keeps today's count", "daily count: 5 " in out, out)
same = env.deliver(msg(frm="carol@sender.test", msgid="c-same@sender.test"))
env.run("drain")
R.eq("after clear-adhoc, the same day: still rate-limited", env.state_of(same), "ignored")
# ... and the next UTC day starts from zero without any reset
NEXT = {"MAILRESPONDER_CLOCK_OFFSET_S": "86400"}
rc, out, err = env.run("blacklist", "show", "carol@sender.test", env=NEXT)
R.check("the next day: count 0 without clear-adhoc", "daily count: 0 " in out, out)
more = [env.deliver(msg(frm="carol@sender.test", msgid="c-after%d@sender.test" % i)) for i in range(4)]
env.run("drain", env=NEXT)
R.eq("the next day: 3 of 4 replied", [env.state_of(n) for n in more].count("replied"), 3)

env.close()
sys.exit(R.done())
