"""End-to-end: event log rotation under load, and status --prometheus.

Rotation: a daemon answers requests arriving at 200 per second while the
event log is renamed away (what logrotate's default rename + create does)
and the daemon gets SIGHUP (the shipped logrotate sample's postrotate),
twice. Across the three files every request has exactly one whole line,
none is split or lost, and after each SIGHUP the daemon writes into the
new file. The shipped logrotate sample is checked with logrotate -d when
logrotate is installed.

Prometheus: `status --prometheus` with and without a daemon, parsed with
python3-prometheus-client's parser and checked line by line against the
text format's grammar; the counters equal the event log's.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import Daemon, Env, Results, counters, kill_all, msg, wait_for

R = Results()


def start(env):
    d = Daemon(env)
    return d if d.ready() else None


SAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "config", "mailresponder.logrotate")
LOGROTATE = shutil.which("logrotate") or (
    "/usr/sbin/logrotate" if os.path.exists("/usr/sbin/logrotate") else None)


def lr_conf(env, pid):
    """The shipped sample for this test's event log; only the owner of
    created files and the way to reach the daemon differ."""
    text, n = re.subn(r"(?m)^/\S+ \{$", env.events + " {", open(SAMPLE).read())
    if n != 1:  # never let logrotate act on a system path
        raise RuntimeError("the logrotate sample must name one log path")
    text = re.sub(r"create 0600 \S+ \S+", "create 0600", text)
    text = re.sub(r"(?m)^\s*systemctl reload .*$", "\t\tkill -HUP %d" % pid, text)
    conf = os.path.join(env.dir, "logrotate.conf")
    with open(conf, "w") as f:
        f.write(text)
    return conf


def rotate(env, p, k):
    """One rotation: logrotate -f with the sample when logrotate is here,
    else its default by hand (rename, create, SIGHUP). Returns the files
    that may hold lines."""
    if LOGROTATE:
        r = subprocess.run([LOGROTATE, "-f", "-s", os.path.join(env.dir, "lr.state"),
                            lr_conf(env, p.pid)], capture_output=True, text=True)
        R.check("rotation %d: logrotate -f with the sample" % (k + 1), r.returncode == 0,
                r.stdout + r.stderr)
        return [env.events + ".2.gz", env.events + ".1"]
    os.rename(env.events, env.events + ".%d" % (k + 1))
    os.close(os.open(env.events, os.O_WRONLY | os.O_CREAT, 0o600))
    p.send(signal.SIGHUP)
    return [env.events + ".1", env.events + ".2"]


def read_any(path):
    if path.endswith(".gz"):
        import gzip
        with gzip.open(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def test_rotation():
    env = Env(settings={"daily_limit": 0, "workers": 2})
    p = start(env)
    R.check("rotation: daemon starts", p is not None)
    if p is None:
        return
    RATE, SECONDS = 200, 6
    n = RATE * SECONDS
    names = []
    datas = [msg(frm="u%d@sender.test" % i, msgid="rot%d@sender.test" % i) for i in range(n)]

    def feed():
        t0 = time.monotonic()
        for i in range(n):
            delay = t0 + i / RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            names.append(env.deliver(datas[i]))
    th = threading.Thread(target=feed)
    th.start()
    rotated = []
    for k in range(2):
        time.sleep(SECONDS / 3.0)
        rotated = rotate(env, p, k)
    th.join()
    paths = rotated + [env.events]
    done = wait_for(lambda: sum(read_any(x).count(b"\n") for x in paths
                                if os.path.exists(x)) >= n, 120)
    rc = p.stop()
    R.eq("rotation: daemon exits 0", rc, 0)
    files = [(x, read_any(x)) for x in paths if os.path.exists(x)]
    seen, split, bad = {}, 0, []
    for path, data in files:
        if data and not data.endswith(b"\n"):
            split += 1
        for line in data.split(b"\n"):
            if not line:
                continue
            try:
                e = json.loads(line)
            except ValueError:
                bad.append(line[:80])
                continue
            seen.setdefault(e.get("file"), []).append((path, e.get("outcome")))
    R.eq("rotation: every file ends with a whole line", split, 0)
    R.eq("rotation: no broken line in any file", bad, [])
    missing = [x for x in names if x not in seen]
    dup = [x for x in names if len(seen.get(x, [])) > 1]
    R.check("rotation: %d requests at %d/s, each has a line (%d missing)"
            % (n, RATE, len(missing)), done and not missing, missing[:5])
    R.eq("rotation: no request has two lines", dup[:5], [])
    R.check("rotation: every request replied",
            all(seen[x][0][1] == "replied" for x in names if x in seen))
    counts = [sum(1 for v in seen.values() if v[0][0] == path) for path, _ in files]
    R.check("rotation: lines in each of the three files (%s): the daemon "
            "moved to the new file after each SIGHUP" % counts,
            len(counts) == 3 and all(c > 0 for c in counts), counts)
    log = open(os.path.join(env.dir, "daemon.log"), encoding="utf-8", errors="replace").read()
    R.check("rotation: no event log write error", "write(event log)" not in log, log[-500:])
    rc, out, err = env.run("stats", "--json", "--since", "1h")
    try:
        j = json.loads(out)
    except ValueError:
        j = {}
    R.eq("rotation: stats over the rotated files counts every request once",
         (j.get("files"), j.get("requests"), j.get("replied"), j.get("bad_lines")), (3, n, n, 0))
    env.close()


def test_logrotate_sample():
    text = open(SAMPLE).read()
    R.check("logrotate sample: daily, compressed, kept 35 days, SIGHUP in postrotate",
            all(w in text for w in ("daily", "compress", "rotate 35", "postrotate",
                                    "systemctl reload")), text)
    if LOGROTATE is None:
        print("skip - logrotate sample: logrotate is not installed here")
        return
    env = Env()
    p = subprocess.run([LOGROTATE, "-d", "-s", os.path.join(env.dir, "lr.state"),
                        lr_conf(env, 1)], capture_output=True, text=True)
    R.check("logrotate -d accepts the sample", p.returncode == 0 and "error" not in
            (p.stdout + p.stderr).lower(), p.stdout + p.stderr)
    env.close()


LINE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"'
                  r'(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*\})? -?[0-9.e+-]+$|'
                  r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (\+Inf|NaN)$')


def prom_check(name, text):
    from prometheus_client.parser import text_string_to_metric_families
    try:
        fams = {f.name: f for f in text_string_to_metric_families(text)}
    except Exception as e:  # the parser's refusal is the finding
        R.check("%s: parses (prometheus_client)" % name, False, repr(e))
        return {}
    R.check("%s: parses (prometheus_client)" % name, bool(fams))
    bad = [l for l in text.splitlines() if l and not l.startswith("# ") and not LINE.match(l)]
    R.eq("%s: every sample line follows the text format" % name, bad, [])
    typed, helped, order_bad, series = set(), set(), [], set()
    for l in text.splitlines():
        m = re.match(r"# (HELP|TYPE) (\S+)", l)
        if m:
            (typed if m.group(1) == "TYPE" else helped).add(m.group(2))
            continue
        s = l.split(" ")[0]
        base = re.sub(r"(_bucket|_sum|_count)$", "", s.split("{")[0])
        if base not in typed and s.split("{")[0] not in typed:
            order_bad.append(l)
        if s in series:
            order_bad.append("dup " + l)
        series.add(s)
    R.eq("%s: every metric has TYPE before its samples, no duplicate series" % name, order_bad, [])
    R.eq("%s: every TYPE has a HELP" % name, typed - helped, set())
    return fams


def sample(fams, fam, **labels):
    f = fams.get(fam)
    for s in (f.samples if f else []):
        if all(s.labels.get(k) == v for k, v in labels.items()) and \
                (not labels or len(s.labels) >= len(labels)):
            return s.value
    return None


def test_prometheus():
    env = Env(settings={"daily_limit": 0})
    rc, out, err = env.run("status", "--prometheus")
    R.check("status --prometheus without a daemon: exit 0", rc == 0, err)
    fams = prom_check("without a daemon", out)
    R.eq("without a daemon: mailresponder_up 0", sample(fams, "mailresponder_up"), 0.0)
    p = start(env)
    R.check("prometheus: daemon starts", p is not None)
    if p is None:
        return
    for i in range(7):
        env.deliver(msg(frm="p%d@sender.test" % i))
    for i in range(3):
        env.deliver(msg(frm="n%d@sender.test" % i, return_path="<>"))
    env.deliver(msg(frm="x@sender.test", orig_to=False, delivered_to=False))
    wait_for(lambda: len(env.events_list()) >= 11, 30)
    rc, out, err = env.run("status", "--prometheus")
    R.check("status --prometheus with a daemon: exit 0", rc == 0, err)
    fams = prom_check("with a daemon", out)
    R.eq("with a daemon: mailresponder_up 1", sample(fams, "mailresponder_up"), 1.0)
    R.eq("requests_total{replied} = replied events",
         sample(fams, "mailresponder_requests", outcome="replied"),
         float(sum(1 for e in env.events_list() if e["outcome"] == "replied")))
    R.eq("requests_by_reason_total{ignored,null-sender}",
         sample(fams, "mailresponder_requests_by_reason", outcome="ignored", reason="null-sender"), 3.0)
    R.eq("requests_total{failed}", sample(fams, "mailresponder_requests", outcome="failed"), 1.0)
    h = fams.get("mailresponder_processing_seconds")
    buckets = [(s.labels["le"], s.value) for s in (h.samples if h else []) if s.name.endswith("_bucket")]
    vals = [v for _, v in buckets]
    cnt = [s.value for s in (h.samples if h else []) if s.name.endswith("_count")]
    R.check("histogram: buckets cumulative, +Inf = count = requests",
            vals == sorted(vals) and buckets and buckets[-1][0] == "+Inf" and cnt and
            buckets[-1][1] == cnt[0] == 11.0, (buckets, cnt))
    R.check("no requester address in the metrics",
            "sender.test" not in out, out)
    j = counters(env)
    R.check("status JSON: the same counter model (replies, reasons, ms)",
            j.get("replies", -1) == 14 and isinstance(j.get("reasons"), list) and "p95" in j.get("ms", {}),
            j)
    R.eq("daemon exits 0", p.stop(), 0)
    env.close()


try:
    test_rotation()
    test_logrotate_sample()
    test_prometheus()
finally:
    kill_all()
sys.exit(R.done())
