"""End-to-end: CloudWatch PutMetricData from the daemon, batched.

The AWS stand-in (awsstub.py) checks every call's SigV4 signature with
botocore's signer and records the PutMetricData parameters. A daemon
answering 300 requests over three metrics intervals makes 3 or 4 calls
(one per interval, and one at the stop), each carrying the statistic set
of processing times in Milliseconds, the requests by outcome, the replies
sent, the backlog and the oldest request's age, with the dimensions of
the settings and InstanceId from instance metadata; the sums over the
calls equal the event log. Then the stand-in goes down and, separately,
an endpoint that accepts connections and never answers: mail goes on at
the same latency, and the dropped batches are counted in status.
"""
import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import Daemon, Env, Results, counters, kill_all, msg, wait_for
from awsstub import Stub, write_creds

R = Results()
KEY, SECRET = "AKIDMRCWTEST", "cw-test-secret-0123456789"


def start(env):
    d = Daemon(env, extra_env={"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET})
    return d if d.ready() else None


def feed(env, n, rate, tag):
    t0 = time.monotonic()
    names = []
    for i in range(n):
        d = t0 + i / rate - time.monotonic()
        if d > 0:
            time.sleep(d)
        names.append(env.deliver(msg(frm="%s%d@sender.test" % (tag, i),
                                     msgid="%s%d@sender.test" % (tag, i))))
    return names


def members(form):
    """MetricData.member.N.* -> [{...}] in N order, dimensions as a dict."""
    ms = {}
    for k, v in form.items():
        m = re.match(r"MetricData\.member\.(\d+)\.(.*)$", k)
        if m:
            ms.setdefault(int(m.group(1)), {})[m.group(2)] = v
    out = []
    for n in sorted(ms):
        d = ms[n]
        dims = {}
        for k, v in d.items():
            m = re.match(r"Dimensions\.member\.(\d+)\.Name$", k)
            if m:
                dims[v] = d.get("Dimensions.member.%s.Value" % m.group(1))
        d["dims"] = dims
        out.append(d)
    return out


def settings(stub_url, endpoint=None, interval=2):
    return {"daily_limit": 0, "workers": 2,
            "aws": {"imds_endpoint": stub_url.rstrip("/")},
            "metrics": {"cloudwatch": True, "interval_s": interval,
                        "endpoint": endpoint or stub_url, "region": "eu-west-1",
                        "dimensions": {"AutoScalingGroupName": "mr-asg"},
                        "instance_dimensions": ["InstanceId"],
                        "timeout_s": 2, "retries": 1}}


def calls_of(stub):
    p = os.path.join(stub.dir, "metrics")
    return [json.loads(l) for l in open(p)] if os.path.exists(p) else []


def new_stub(tmp):
    """The stand-in, under tmp, that knows KEY."""
    creds = os.path.join(tmp.dir, "creds.json")
    write_creds(creds, KEY, SECRET)
    return Stub(os.path.join(tmp.dir, "stub"), creds=creds).start()


def test_batched():
    tmp = Env()
    stub = new_stub(tmp)
    env = Env(settings=settings(stub.url()))
    p = start(env)
    R.check("daemon with CloudWatch metrics starts", p is not None)
    if p is None:
        return
    t0 = time.monotonic()
    feed(env, 300, 50, "cw")
    wait_for(lambda: len(env.events_list()) >= 300, 60)
    R.eq("stop: exit 0", p.stop(), 0)
    ran = time.monotonic() - t0
    ev = env.events_list()
    calls = calls_of(stub)
    reqs = [r for r in stub.requests() if r.get("service") == "monitoring"]
    R.check("300 requests over 3 intervals (%.1f s at 2 s): %d calls (3 or 4)" % (ran, len(calls)),
            3 <= len(calls) <= 4, reqs)
    R.check("every call signed right (the stand-in verified SigV4 with botocore)",
            reqs and all(r["status"] == 200 for r in reqs), reqs)
    R.check("every call is PutMetricData in namespace Psiphon/MailResponder",
            calls and all(c["Action"] == "PutMetricData" and c["Version"] == "2010-08-01" and
                          c["Namespace"] == "Psiphon/MailResponder" for c in calls))
    tot = {}
    shape_bad = []
    for c in calls:
        for m in members(c):
            name = m.get("MetricName")
            dims = m["dims"]
            if dims.get("AutoScalingGroupName") != "mr-asg" or dims.get("InstanceId") != "i-0123456789abcdef0":
                shape_bad.append(("dims", m))
            if name in ("ProcessingTime", "processing_time"):
                ok = m.get("Unit") == "Milliseconds" and all(
                    "StatisticValues." + k in m for k in ("SampleCount", "Sum", "Minimum", "Maximum"))
                if not ok:
                    shape_bad.append(("stats", m))
                    continue
                n, s = float(m["StatisticValues.SampleCount"]), float(m["StatisticValues.Sum"])
                lo, hi = float(m["StatisticValues.Minimum"]), float(m["StatisticValues.Maximum"])
                if not (n > 0 and lo <= hi and lo * n <= s <= hi * n):
                    shape_bad.append(("stats values", m))
                t = tot.setdefault(name, [0, 0, 0, None])
                t[0] += n
                t[1] += s
                t[2] = max(t[2], hi)
                t[3] = lo if t[3] is None else min(t[3], lo)
            else:
                unit = {"Requests": "Count", "RepliesSent": "Count", "Backlog": "Count",
                        "OldestRequestAge": "Seconds", "response_sent": "Count"}.get(name)
                if unit is None or m.get("Unit") != unit or "Value" not in m:
                    shape_bad.append(("unit", m))
                    continue
                k = name + ("/" + dims.get("Outcome", "?") if name == "Requests" else "")
                tot[k] = tot.get(k, 0) + float(m["Value"])
    R.eq("statistic sets and units as documented; dimensions of the settings + InstanceId",
         shape_bad[:3], [])
    ms = [e["ms"] for e in ev]
    pt = tot.get("ProcessingTime", [0, 0, 0, 0])
    R.eq("ProcessingTime: SampleCount sums to the requests", pt[0], 300.0)
    R.eq("ProcessingTime: Sum = the event log's ms", pt[1], float(sum(ms)))
    R.eq("ProcessingTime: Maximum = the log's", pt[2], float(max(ms)))
    R.eq("ProcessingTime: Minimum = the log's", pt[3], float(min(ms)))
    R.eq("legacy processing_time = ProcessingTime", tot.get("processing_time"), pt)
    R.eq("Requests{Outcome=replied} sums to 300", tot.get("Requests/replied"), 300.0)
    R.eq("Requests of the other outcomes are 0",
         [tot.get("Requests/" + o) for o in ("ignored", "failed", "retry")], [0.0, 0.0, 0.0])
    R.eq("RepliesSent = replies in the event log", tot.get("RepliesSent"),
         float(sum(e["replies"] for e in ev)))
    R.eq("legacy response_sent = replied requests", tot.get("response_sent"), 300.0)
    R.check("Backlog and OldestRequestAge in every call",
            all(any(m["MetricName"] == "Backlog" for m in members(c)) and
                any(m["MetricName"] == "OldestRequestAge" for m in members(c)) for c in calls))
    stub.stop()
    env.close()
    tmp.close()


def ts_of(e):
    import calendar
    t = time.strptime(e["ts"][:19], "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(t) + int(e["ts"][20:23]) / 1000.0


def latency(env, p, tag, n=100, rate=50):
    """Each request's time from delivery into new/ to its event line, in
    ms: (all answered, p50, p95)."""
    k0 = len(env.events_list())
    t0 = time.monotonic()
    sent = {}
    for i in range(n):
        d = t0 + i / rate - time.monotonic()
        if d > 0:
            time.sleep(d)
        name = env.deliver(msg(frm="%s%d@sender.test" % (tag, i), msgid="%s%d@sender.test" % (tag, i)))
        sent[name] = time.time()
    ok = wait_for(lambda: len(env.events_list()) >= k0 + n, 60)
    lat = sorted((ts_of(e) - sent[e["file"]]) * 1000 for e in env.events_list()[k0:]
                 if e["file"] in sent)
    if not lat:
        return False, None, None
    return bool(ok) and len(lat) == n, lat[len(lat) // 2], lat[int(len(lat) * 0.95) - 1]


def status_cw(env):
    return counters(env).get("cloudwatch", {})


def test_outage():
    tmp = Env()
    stub = new_stub(tmp)
    # a black hole: accepts connections, never answers
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)
    held = []
    threading.Thread(target=lambda: [held.append(hole.accept()) for _ in range(1000)],
                     daemon=True).start()
    for label, endpoint in (("stand-in down", None),
                            ("endpoint never answers",
                             "http://127.0.0.1:%d/" % hole.getsockname()[1])):
        env = Env(settings=settings(stub.url(), endpoint, interval=1))
        p = start(env)
        R.check("%s: daemon starts" % label, p is not None)
        if p is None:
            continue
        ok1, p50a, p95a = latency(env, p, "up")
        if endpoint is None:
            stub.stop()
        time.sleep(1.5)  # at least one failing call in progress or done
        ok2, p50b, p95b = latency(env, p, "down")
        R.check("%s: every request answered" % label, ok1 and ok2)
        # delivery to event line, 100 requests at 50/s each phase; a shared
        # 2-core machine adds a few ms of noise either way
        R.check("%s: same latency, delivery to event (p50 %.0f -> %.0f ms, p95 %.0f -> %.0f ms)"
                % (label, p50a, p50b, p95a, p95b),
                p50b <= max(2 * p50a, p50a + 20) and p95b <= max(2 * p95a, p95a + 40))
        time.sleep(3.5)  # let the retries run out
        st = status_cw(env)
        R.check("%s: dropped batches counted in status (%s)" % (label, st),
                st.get("dropped", 0) >= 1 and st.get("failed", 0) >= st.get("dropped", 0), st)
        rc, out, _ = env.run("status", "--prometheus")
        m = re.search(r"(?m)^mailresponder_cloudwatch_dropped_total (\d+)$", out)
        R.check("%s: and in status --prometheus" % label, m and int(m.group(1)) >= 1, out[-400:])
        R.eq("%s: stop: exit 0" % label, p.stop(), 0)
        R.check("%s: the stop waits at most for the call in progress (timeout 2 s): %.1f s"
                % (label, p.stop_s), p.stop_s < 2 + 1.5)
        if endpoint is None:
            stub.start()
        env.close()
    stub.stop()
    tmp.close()


try:
    test_batched()
    test_outage()
finally:
    kill_all()
sys.exit(R.done())
