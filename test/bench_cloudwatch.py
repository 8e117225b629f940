"""make bench: CloudWatch calls at 100 requests/s.

A daemon with metrics.cloudwatch on (interval_s 5, the stand-in of
test/e2e/awsstub.py verifying SigV4) answers 100 requests per second for
30 s. Prints the PutMetricData calls the stand-in accepted, the requests
they reported, and the calls per hour this makes at the default
interval_s of 60 (one per interval, whatever the rate; the old system made
three per request).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "e2e"))
from mrtest import Daemon, Env, msg, wait_for
from awsstub import Stub

RATE, SECONDS, INTERVAL = 100, 30, 5
KEY, SECRET = "AKIDMRCWBENCH", "cw-bench-secret"
tmp = Env()
creds = os.path.join(tmp.dir, "creds.json")
with open(creds, "w") as f:
    json.dump({KEY: {"secret": SECRET}}, f)
stub = Stub(os.path.join(tmp.dir, "stub"), creds=creds).start()
env = Env(settings={"daily_limit": 0, "metrics": {
    "cloudwatch": True, "interval_s": INTERVAL, "endpoint": stub.url(), "timeout_s": 5}})
daemon = Daemon(env, extra_env={"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET})
daemon.ready()
t0 = time.monotonic()
n = RATE * SECONDS
for i in range(n):
    d = t0 + i / RATE - time.monotonic()
    if d > 0:
        time.sleep(d)
    env.deliver(msg(frm="b%d@sender.test" % i, msgid="b%d@sender.test" % i))
wait_for(lambda: len(env.events_list()) >= n, SECONDS + 60 - (time.monotonic() - t0), 0.1)
ran = time.monotonic() - t0
daemon.stop()
calls = [json.loads(l) for l in open(os.path.join(stub.dir, "metrics"))] \
    if os.path.exists(os.path.join(stub.dir, "metrics")) else []
reported = sum(float(v) for c in calls for k, v in c.items()
               if k.endswith(".Value") and c.get(k.replace(".Value", ".MetricName")) == "Requests")
stub.stop()
print("cloudwatch: %d requests at %d/s in %.1f s, interval_s %d: %d PutMetricData calls "
      "(incl. one at the stop) reporting %d requests; at interval_s 60: %d calls per hour "
      "per process at any rate (the old system: %d per hour at %d requests/s)"
      % (n, RATE, ran, INTERVAL, len(calls), reported, 3600 // 60, 3 * RATE * 3600, RATE))
env.close()
tmp.close()
sys.exit(0 if calls and reported == n else 1)
