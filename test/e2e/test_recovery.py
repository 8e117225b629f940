"""End-to-end: crash recovery.

A) Messages left claimed (cur/<uniq>:2,) by a dead run are finished by the
   next run; a part the journal records as sent is not sent again.
B) drain over 2,000 messages, killed with SIGKILL three times mid-run (at
   a random count of replies) and restarted: every message ends in exactly
   one final state, none is lost, and duplicate replies are at most the
   number of kills.
"""
import os
import random
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import Env, Results, killed_drains, msg

R = Results()
RESP = [{"email_addr": "get@responder.test", "body": "entry-0 links",
         "attachments": None, "send_method": "SMTP"},
        {"email_addr": "get@responder.test", "body": "entry-1 files",
         "attachments": None, "send_method": "SMTP"}]


def replies_by_request(env):
    got = {}
    for _, raw, m in env.outbox_msgs():
        irt = (m["In-Reply-To"] or "").strip("<>")
        part = "entry-0" if b"entry-0" in raw else "entry-1"
        got.setdefault(irt, []).append(part)
    return got


# --- A: deterministic ---
env = Env(responses=RESP)
names = [env.deliver(msg(frm="u%d@sender.test" % i, msgid="a%d@sender.test" % i)) for i in range(3)]
for n in names:
    os.rename(os.path.join(env.spool, "new", n), os.path.join(env.spool, "cur", n + ":2,"))
rc, out, err = env.run("blacklist", "show", "nobody@sender.test")  # creates the store
db = sqlite3.connect(env.db)
db.execute("insert into send_journal(uniq, part, ts, val) values (?, 0, 0, 0)", (names[0],))
db.commit()
db.close()
rc, out, err = env.run("drain")
R.eq("recovery: drain exit code", rc, 0)
R.check("recovery: summary counts 3 recovered", "(3 recovered)" in out, out)
R.eq("recovery: all three replied", [env.state_of(n) for n in names], ["replied"] * 3)
got = replies_by_request(env)
R.eq("recovery: journaled part not sent again", sorted(got.get("a0@sender.test", [])), ["entry-1"])
R.eq("recovery: others get both parts", [sorted(got.get("a%d@sender.test" % i, [])) for i in (1, 2)],
     [["entry-0", "entry-1"]] * 2)
env.close()

# --- B: SIGKILL during a run ---
env = Env(responses=RESP, settings={"daily_limit": 0})
N = 2000
names = [env.deliver(msg(frm="k%d@sender.test" % i, msgid="k%d@sender.test" % i)) for i in range(N)]
kills, at_kill = killed_drains(env, 3, 2 * N, random.Random(os.getpid()))
claimed = [n for n in os.listdir(os.path.join(env.spool, "cur")) if n.endswith(":2,")]
rc, out, err = env.run("drain")
R.eq("kill: final drain exit code", rc, 0)
R.check("kill: at least one run was killed mid-way", kills >= 1, kills)
R.eq("kill: every run was killed before it was done", kills, 3)
states = [env.state_of(n) for n in names]
R.eq("kill: every message replied exactly once (final states)", states.count("replied"), N)
got = replies_by_request(env)
missing = [i for i in range(N) if sorted(set(got.get("k%d@sender.test" % i, []))) != ["entry-0", "entry-1"]]
R.eq("kill: no part lost", missing[:5], [])
dups = sum(len(v) - len(set(v)) for v in got.values())
R.check("kill: duplicate replies (%d) <= kills (%d)" % (dups, kills), dups <= kills, dups)
R.eq("kill: no duplicate at all (maildir deliveries are keyed by unique name and entry)", dups, 0)
print("# kills=%d replies-at-kill=%s claimed-after=%d duplicates=%d"
      % (kills, at_kill, len(claimed), dups))
env.close()
sys.exit(R.done())
