"""make bench: `mailresponder stats` over 1,000,000 event lines.

The lines are written like the daemon writes them (json-c's plain form,
varied outcomes, reasons, addresses and times) into the live file and two
logrotate siblings, one gzipped; the figure is the wall time of one
`stats --json` run over all of them, after one run that warms the page
cache. Prints figures; asserts only that every line was counted.
"""
import gzip
import json
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "e2e"))
from mrtest import Env, BIN

N = int(os.environ.get("MR_BENCH_STATS_N", "1000000"))
env = Env()
rnd = random.Random(7)
reasons = [("replied", "replied")] * 8 + [("ignored", "rate-limited"), ("ignored", "null-sender"),
                                           ("ignored", "bounce"), ("failed", "no-requested-address"),
                                           ("retry", "send-failed")]
addrs = ["get@responder.test", "get+fa@responder.test", "get+ru@responder.test"]
t0 = int(time.time()) - 20 * 3600
lines = []
for i in range(N):
    o, r = rnd.choice(reasons)
    ts = t0 + i * 70000 // N
    e = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".%03dZ" % (i % 1000),
         "file": "%d.M%dP%d.mx.responder.test" % (ts, i, 4242), "outcome": o, "reason": r,
         "requested": rnd.choice(addrs), "sender_hash": "%064x" % rnd.getrandbits(256),
         "ms": int(rnd.expovariate(1 / 40.0)), "replies": 2 if o == "replied" else 0}
    lines.append(json.dumps(e, separators=(",", ":")) + "\n")
third = N // 3
with gzip.open(env.events + ".2.gz", "wt") as f:
    f.writelines(lines[:third])
with open(env.events + ".1", "w") as f:
    f.writelines(lines[third:2 * third])
with open(env.events, "w") as f:
    f.writelines(lines[2 * third:])
size = sum(len(l) for l in lines)
del lines
cmd = [BIN, "stats", "-c", env.settings, "--since", "2d", "--json"]
subprocess.run(cmd, capture_output=True)
best = None
for _ in range(3):
    t = time.monotonic()
    p = subprocess.run(cmd, capture_output=True)
    dt = time.monotonic() - t
    best = dt if best is None else min(best, dt)
j = json.loads(p.stdout)
counted = j["requests"] + j["retry"]
print("stats: %d event lines (%.0f MB, one third gzipped) in %.2f s (best of 3; %d counted, %d bad)"
      % (N, size / 1e6, best, counted, j["bad_lines"]))
env.close()
sys.exit(0 if counted == N else 1)
