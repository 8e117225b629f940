"""End-to-end: what is on disk when (group commit, design.md s.3).

A drain of 40 requests (one worker, maildir outbox, SQLite store) runs
under strace, which records every fsync, rename, write to the event log
and write to the store's WAL with the path behind each descriptor. For
every request the order must be:

  reply file written in outbox/tmp and made durable (fsync of the file,
  or one syncfs of the outbox's file system for several)
  -> renamed into outbox/new -> fsync(outbox/new)
  -> the store transaction with its journal row (a write to the WAL)
  -> the request's final rename cur/U:2, -> cur/U:2,RS -> fsync(cur)
  -> its event line

and the fsyncs of cur/ and outbox/new must be shared: fewer of them than
requests (group commit). A second run, SIGKILLed four times mid-run (at
a random count of replies) and restarted, ends with every request replied
exactly once.
"""
import os
import random
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import Env, Results, killed_drains, msg, BIN

R = Results()
RESP = [{"email_addr": "get@responder.test", "body": "entry-0 links",
         "attachments": None, "send_method": "SMTP"}]
N = 40

if shutil.which("strace") is None:
    print("skip - group commit: strace is not installed")
    sys.exit(R.done())

env = Env(responses=RESP, settings={"daily_limit": 0, "workers": 1})
names = [env.deliver(msg(frm="g%d@sender.test" % i, msgid="g%d@sender.test" % i))
         for i in range(N)]
trace = os.path.join(env.dir, "trace.txt")
# LeakSanitizer cannot run under ptrace (sanitizer builds)
e = dict(os.environ)
e["ASAN_OPTIONS"] = ":".join(filter(None, [e.get("ASAN_OPTIONS"), "detect_leaks=0"]))
p = subprocess.run(["strace", "-f", "-y", "-s", "4096", "-o", trace,
                    "-e", "trace=fsync,fdatasync,syncfs,rename,renameat,renameat2,write,pwrite64",
                    BIN, "drain", "-q", "-c", env.settings],
                   capture_output=True, timeout=300, env=e)
R.check("group commit: drain under strace exit code 0", p.returncode == 0, p.stderr[-400:])
R.eq("group commit: all replied", [env.state_of(n) for n in names], ["replied"] * N)

with open(trace, encoding="utf-8", errors="replace") as f:
    # "<pid> <call>": strace pads short pids with spaces
    lines = [re.sub(r"^\d+\s+", "", l) for l in f.read().splitlines()]

outbox_tmp = os.path.join(env.outbox, "tmp")
outbox_new = os.path.join(env.outbox, "new")
cur = os.path.join(env.spool, "cur")
ev_path = os.path.realpath(env.events)


def first(pred, start=0):
    for i in range(start, len(lines)):
        if pred(lines[i]):
            return i
    return -1


def last_before(pred, end):
    for i in range(end - 1, -1, -1):
        if pred(lines[i]):
            return i
    return -1


bad = []
for u in names:
    # the reply lands as outbox/new/<uniq>.E0 (its delivery key)
    i_pub = first(lambda l: l.startswith("renameat2(") and ("%s>, \"%s.E0\"" % (outbox_new, u)) in l)
    tmpname = re.search(r'renameat2\(\d+<[^>]*>, "([^"]+)"', lines[i_pub]).group(1) if i_pub >= 0 else None
    i_fsync_file = last_before(lambda l: (l.startswith("fsync(") and tmpname and
                                          ("%s/%s>" % (outbox_tmp, tmpname)) in l) or
                               (l.startswith("syncfs(") and ("<%s>" % outbox_tmp) in l),
                               i_pub) if i_pub >= 0 else -1
    i_sync_out = first(lambda l: l.startswith("fsync(") and ("<%s>" % outbox_new) in l, i_pub + 1) \
        if i_pub >= 0 else -1
    i_wal = first(lambda l: l.startswith("pwrite64(") and "state.db-wal>" in l, i_sync_out + 1) \
        if i_sync_out >= 0 else -1
    i_fin = first(lambda l: l.startswith("renameat2(") and ("\"%s:2,\"" % u) in l and
                  ("\"%s:2,RS\"" % u) in l)
    i_sync_cur = first(lambda l: l.startswith("fsync(") and ("<%s>" % cur) in l, i_fin + 1) \
        if i_fin >= 0 else -1
    i_ev = first(lambda l: l.startswith("write(") and ev_path in l and ('"file\\":\\"%s\\"' % u) in l)
    order = [i_fsync_file, i_pub, i_sync_out, i_wal, i_fin, i_sync_cur, i_ev]
    if min(order) < 0 or order != sorted(order):
        bad.append((u, order))
R.eq("group commit: per request: fsync(reply) or syncfs < rename into outbox/new < fsync(outbox/new) "
     "< journal transaction < final rename < fsync(cur) < event line", bad[:3], [])

n_sync_cur = sum(1 for l in lines if l.startswith("fsync(") and ("<%s>" % cur) in l)
n_sync_out = sum(1 for l in lines if l.startswith("fsync(") and ("<%s>" % outbox_new) in l)
n_commit = sum(1 for l in lines if l.startswith("pwrite64(") and "state.db-wal>" in l)
print("# %d requests: %d fsync(cur), %d fsync(outbox/new), %d WAL writes"
      % (N, n_sync_cur, n_sync_out, n_commit))
R.check("group commit: fsyncs of cur/ shared (%d for %d requests)" % (n_sync_cur, N),
        0 < n_sync_cur < N // 2)
R.check("group commit: fsyncs of outbox/new shared (%d for %d requests)" % (n_sync_out, N),
        0 < n_sync_out < N // 2)
env.close()

# --- SIGKILL at random moments while batches are open ---
env = Env(responses=RESP, settings={"daily_limit": 0})
M = 3000
names = [env.deliver(msg(frm="k%d@sender.test" % i, msgid="k%d@sender.test" % i)) for i in range(M)]
kills, at_kill = killed_drains(env, 4, M, random.Random(os.getpid()))
rc, out, err = env.run("drain")
R.eq("group commit kill: final drain exit code", rc, 0)
R.check("group commit kill: at least one run killed mid-way", kills >= 1, kills)
R.eq("group commit kill: every run killed before it was done", kills, 4)
R.eq("group commit kill: every request replied", [env.state_of(n) for n in names].count("replied"), M)
got = {}
for _, raw, m in env.outbox_msgs():
    irt = (m["In-Reply-To"] or "").strip("<>")
    got[irt] = got.get(irt, 0) + 1
R.eq("group commit kill: no request without its reply",
     [i for i in range(M) if got.get("k%d@sender.test" % i, 0) == 0][:5], [])
R.eq("group commit kill: no duplicate reply", sorted(k for k, v in got.items() if v > 1)[:5], [])
events = env.events_list()
final = {}
for e in events:
    if e.get("outcome") == "replied":
        final[e["file"]] = final.get(e["file"], 0) + 1
# an event line is written after its batch is durable, so a kill can
# lose the lines of the batches being committed (at most one batch of
# 32 per worker), never report an outcome that is not on disk
lost = [n for n in names if n not in final]
R.check("group commit kill: events lost at kills (%d) within the open batches (%d kills)"
        % (len(lost), kills), len(lost) <= kills * 2 * 32, lost[:3])
print("# kills=%d at %s replies, event lines lost with them: %d" % (kills, at_kill, len(lost)))
env.close()
sys.exit(R.done())
