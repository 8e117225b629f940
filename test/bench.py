"""Benchmarks for make bench: prints figures beside their targets (issue
#11), asserts nothing. Every figure is taken MR_BENCH_RUNS times (default
3) and printed as min / median / max; the median is compared with the
target. Replies are DKIM-signed with a 2048-bit RSA key (rsa-sha256), one
reply per request, SQLite store, daily_limit 0, 2 workers.

  drain      MR_BENCH_N (20,000) requests already in new/, then
             `mailresponder drain` (the daemon's engine without the
             watch), maildir outbox: requests/s, CPU per request.
  memory     peak RSS of drain for a backlog of 1,000 and of
             MR_BENCH_BIG (100,000).
  burst      the daemon running, MR_BENCH_N requests renamed into new/ as
             fast as possible (from a staging folder on the same file
             system): from the first rename until the last reply (maildir
             outbox: reply file ctime; SMTP: the event line, written once
             smtp-sink accepted the reply and its outcome is durable).
  latency    1,000 requests/s for MR_BENCH_LAT_S (10) seconds over SMTP
             to smtp-sink: from just before a request's rename into new/
             to the reply's arrival at smtp-sink (an inotify watcher on
             smtp-sink's dump folder, IN_CLOSE_WRITE); p50/p99/max.
  attachment a config entry with a 5 MiB attachment, 20 requests over
             SMTP to smtp-sink: worker time per reply (compose, sign,
             send) beside the time to send the same bytes over a plain
             SMTP client to the same sink.
Postfix's own smtp-sink (components.md s.7) is the SMTP receiver. The
machine is shared: wall-clock figures depend on its load, so CPU seconds
per request are printed too.
"""
import json
import os
import re
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "e2e"))
from mrtest import BIN, Daemon, Env, counters, cpu_s, free_ports, publish, stage

RUNS = int(os.environ.get("MR_BENCH_RUNS", "3"))
N = int(os.environ.get("MR_BENCH_N", "20000"))
BIG = int(os.environ.get("MR_BENCH_BIG", "100000"))
LAT_S = float(os.environ.get("MR_BENCH_LAT_S", "10"))
WORKERS = 2
SINK = "/usr/sbin/smtp-sink"

RESP = [{"email_addr": "get@responder.test",
         "body": [["text/plain", "Links: https://dl.example.org/app.apk\n"],
                  ["text/html", "<p><a href=\"https://dl.example.org/app.apk\">app</a></p>"]],
         "attachments": None, "send_method": "SMTP"}]
IRT_RE = re.compile(rb"^In-Reply-To:[ \t]*<([^>\r\n]*)>", re.M | re.I)
KEYDIR = tempfile.mkdtemp(prefix="mr-bench-key-")
RSA_KEY = os.path.join(KEYDIR, "rsa.key")


def out(line):
    print(line)
    sys.stdout.flush()


def figure(label, values, unit, target=None, higher=True, fmt="%.0f"):
    """min / median / max of values, and the median against the target."""
    if not values:
        out("%s: no figure (every run failed)" % label)
        return
    v = sorted(values)
    med = statistics.median(v)
    t = ""
    if target is not None:
        ok = med >= target if higher else med <= target
        t = "  [target %s %s %s: %s]" % (">=" if higher else "<=", fmt % target, unit,
                                         "met" if ok else "NOT MET")
    out("%s: %s / %s / %s %s (min / median / max of %d)%s"
        % (label, fmt % v[0], fmt % med, fmt % v[-1], unit, len(v), t))


def make_env(settings=None, responses=None):
    s = {"daily_limit": 0, "workers": WORKERS,
         "dkim": {"domain": "responder.test", "selector": "rsa1", "rsa_key": RSA_KEY}}
    s.update(settings or {})
    return Env(responses=responses or RESP, settings=s)


def fill_new(env, n, tag):
    """n requests in new/ (a backlog)."""
    publish(env, stage(env, n, tag))
    os.sync()


def staged(env, n, tag):
    """n requests in a staging folder beside the spool (same file system,
    so the rename into new/ is what Postfix's delivery does)."""
    items = stage(env, n, tag)
    os.sync()  # staging writeback must not land inside the measurement
    return items


def measured(argv):
    """Run argv in a child of a fresh Python so that getrusage(CHILDREN)
    covers that one process: (rc, seconds, user s, sys s, maxrss KiB)."""
    code = ("import resource,subprocess,sys,time,json;t=time.monotonic();"
            "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL).returncode;"
            "d=time.monotonic()-t;u=resource.getrusage(resource.RUSAGE_CHILDREN);"
            "print(json.dumps([r,d,u.ru_utime,u.ru_stime,u.ru_maxrss]))")
    p = subprocess.run([sys.executable, "-c", code] + argv, capture_output=True, text=True)
    return json.loads(p.stdout)


def n_files(d):
    try:
        return len(os.listdir(d))
    except FileNotFoundError:
        return 0


# ---- smtp-sink ----

class Sink:
    """Postfix's smtp-sink on a free loopback port; with dump set, every
    message is written to a file in <dir>/dump (for latency and content)."""

    def __init__(self, dump=False):
        self.dir = tempfile.mkdtemp(prefix="mr-bench-sink-")
        self.dump = os.path.join(self.dir, "dump") if dump else None
        args = [SINK, "-u", "nobody"]
        if self.dump:
            os.makedirs(self.dump)
            os.chmod(self.dir, 0o755)
            os.chmod(self.dump, 0o777)
            args += ["-d", self.dump + "/"]
        self.port = free_ports()[0]
        self.p = subprocess.Popen(args + ["127.0.0.1:%d" % self.port, "1024"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                smtplib.SMTP("127.0.0.1", self.port, timeout=2).quit()
                break
            except OSError:
                time.sleep(0.05)
        self.url = "smtp://127.0.0.1:%d" % self.port

    def close(self):
        self.p.terminate()
        self.p.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class EventCount:
    """Counts event lines as the daemon appends them; when() is the time
    the count first reached n."""

    def __init__(self, path):
        self.path, self.pos, self.n = path, 0, 0

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return self.n
        cut = data.rfind(b"\n") + 1
        self.pos += cut
        self.n += data[:cut].count(b"\n")
        return self.n

    def wait(self, n, timeout, d):
        end = time.monotonic() + timeout
        while self.poll() < n and time.monotonic() < end and d.alive():
            time.sleep(0.01)
        return time.monotonic(), self.n


# ---- the figures ----

def run_drain(n, tag):
    """(requests/s, user+sys CPU us per request, peak RSS MiB) of one drain."""
    env = make_env()
    try:
        fill_new(env, n, tag)
        rc, dt, u, s_, rss = measured([BIN, "drain", "-q", "-c", env.settings])
        got = n_files(os.path.join(env.outbox, "new"))
        if rc != 0 or got != n:
            out("  (drain run failed: rc %d, %d of %d replies)" % (rc, got, n))
            return None
        return n / dt, (u + s_) * 1e6 / n, u * 1e6 / n, s_ * 1e6 / n, rss / 1024.0
    finally:
        env.close()


def bench_drain():
    runs = [r for r in (run_drain(N, "dr%d" % k) for k in range(RUNS)) if r]
    figure("1. drain of a %d backlog, RSA-2048 signing, maildir outbox" % N,
           [r[0] for r in runs], "requests/s", 1800)
    figure("   drain CPU per request (user + sys)", [r[1] for r in runs], "us", fmt="%.0f",
           target=None)
    figure("   of which user", [r[2] for r in runs], "us", target=None)
    figure("   of which sys", [r[3] for r in runs], "us", target=None)


def bench_memory():
    small = [r[4] for r in (run_drain(1000, "ms%d" % k) for k in range(RUNS)) if r]
    big = [r[4] for r in (run_drain(BIG, "mb%d" % k) for k in range(RUNS)) if r]
    figure("3. drain peak RSS, backlog of 1,000", small, "MiB", fmt="%.1f")
    figure("3. drain peak RSS, backlog of %d" % BIG, big, "MiB", 20, higher=False,
           fmt="%.1f")
    if small and big:
        g = statistics.median(big) - statistics.median(small)
        out("3. peak RSS growth from 1,000 to %d (median to median): %.1f MiB  "
            "[target <= 2.0 MiB: %s]" % (BIG, g, "met" if g <= 2 else "NOT MET"))


def run_burst(n, tag, sink=None):
    """One daemon burst: requests/s from the first rename to the last reply."""
    env = make_env({"transport_override": sink.url} if sink else None)
    daemon = None
    try:
        items = staged(env, n, tag)
        daemon = Daemon(env)
        daemon.ready()
        ev = EventCount(env.events)
        cpu0 = cpu_s(daemon.pid)
        t0_ns, t0 = time.time_ns(), time.monotonic()
        publish(env, items)
        t_end, got = ev.wait(n, 600, daemon)
        cpu = cpu_s(daemon.pid) - cpu0 if daemon.alive() else 0
        if sink is None:
            d = os.path.join(env.outbox, "new")
            last = max([os.stat(os.path.join(d, f)).st_ctime_ns for f in os.listdir(d)]
                       or [t0_ns])
            dt = (last - t0_ns) / 1e9
            got = n_files(d)
        else:
            dt = t_end - t0
        if got != n:
            out("  (burst run failed: %d of %d)" % (got, n))
            return None
        return n / dt, cpu * 1e6 / n
    finally:
        if daemon is not None:
            daemon.stop()
        env.close()


def bench_burst():
    runs = [r for r in (run_burst(N, "bm%d" % k) for k in range(RUNS)) if r]
    figure("1. daemon burst of %d, RSA-2048, %d workers, maildir outbox" % (N, WORKERS),
           [r[0] for r in runs], "requests/s", 2000)
    figure("   daemon CPU per request", [r[1] for r in runs], "us", target=None)
    sink = Sink()
    try:
        runs = [r for r in (run_burst(N, "bs%d" % k, sink) for k in range(RUNS)) if r]
    finally:
        sink.close()
    figure("1. daemon burst of %d, RSA-2048, %d workers, SMTP to smtp-sink" % (N, WORKERS),
           [r[0] for r in runs], "requests/s", 2000)
    figure("   daemon CPU per request", [r[1] for r in runs], "us", target=None)


# Records when each file is closed after writing in a folder: a separate
# process blocked in read(2) on an inotify fd prints "<name> <time_ns>".
WATCHER = r"""
import ctypes, os, struct, sys, time
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(0)
if fd < 0 or libc.inotify_add_watch(fd, sys.argv[1].encode(), 0x8) < 0:
    sys.exit("inotify: %s" % os.strerror(ctypes.get_errno()))
want, seen, out = int(sys.argv[2]), 0, []
print("ready", flush=True)
while seen < want:
    buf = os.read(fd, 65536)
    t = time.time_ns()
    i = 0
    while i < len(buf):
        _, mask, _, ln = struct.unpack_from("iIII", buf, i)
        name = buf[i + 16:i + 16 + ln].rstrip(b"\0").decode()
        i += 16 + ln
        if mask & 0x4000:
            out.append("! overflow 0")
        elif name:
            out.append("%s %d" % (name, t))
            seen += 1
print("\n".join(out), flush=True)
"""


def pct(v, q):
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def run_latency(rate, secs, tag):
    n = int(rate * secs)
    sink = Sink(dump=True)
    env = make_env({"transport_override": sink.url})
    d = w = None
    try:
        items = staged(env, n, tag)
        w = subprocess.Popen([sys.executable, "-c", WATCHER, sink.dump, str(n)],
                             stdout=subprocess.PIPE, text=True)
        w.stdout.readline()
        d = Daemon(env)
        d.ready()
        sent, step, late = {}, 1.0 / rate, 0.0
        t0 = time.monotonic()
        for i, item in enumerate(items):
            due = t0 + i * step
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            late = max(late, time.monotonic() - due)
            sent[item[2]] = time.time_ns()
            publish(env, [item])
        elapsed = time.monotonic() - t0
        try:
            wout, _ = w.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            w.kill()
            wout, _ = w.communicate()
        seen = dict(l.split(" ", 1) for l in wout.splitlines() if " " in l)
        lat = []
        for name, t in seen.items():
            if name == "!":
                continue
            with open(os.path.join(sink.dump, name), "rb") as f:
                m = IRT_RE.search(f.read())
            if m and m.group(1).decode() in sent:
                lat.append((int(t) - sent[m.group(1).decode()]) / 1e6)
        lat.sort()
        if len(lat) != n:
            out("  (latency run: %d of %d replies matched)" % (len(lat), n))
        if not lat:
            return None
        return (n / elapsed, pct(lat, 0.5), pct(lat, 0.99), lat[-1], late * 1000)
    finally:
        if w is not None and w.poll() is None:
            w.kill()
            w.wait()
        if d is not None:
            d.stop()
        env.close()
        sink.close()


def bench_latency():
    runs = [r for r in (run_latency(1000.0, LAT_S, "lt%d" % k) for k in range(RUNS)) if r]
    out("4. steady load over SMTP to smtp-sink, RSA-2048: offered %s requests/s "
        "(pacing at most %.1f ms late)"
        % ("/".join("%.0f" % r[0] for r in runs), max([r[4] for r in runs] or [0])))
    figure("4. arrival-to-reply p50", [r[1] for r in runs], "ms", fmt="%.2f")
    figure("4. arrival-to-reply p99", [r[2] for r in runs], "ms", 5, higher=False, fmt="%.2f")
    figure("4. arrival-to-reply max", [r[3] for r in runs], "ms", fmt="%.2f")


def run_attachment(n, tag):
    sink = Sink(dump=True)
    adir = None
    env = d = None
    try:
        resp = [dict(RESP[0], attachments=[["big", "big.bin", "big.bin"]])]
        env = make_env({"transport_override": sink.url}, responses=resp)
        adir = os.path.join(env.dir, "attachments", "big")
        os.makedirs(adir, exist_ok=True)
        with open(os.path.join(adir, "big.bin"), "wb") as f:
            f.write(os.urandom(5 * 1024 * 1024))
        fill_new(env, n, tag)
        ev = EventCount(env.events)
        t0 = time.monotonic()
        d = Daemon(env)
        d.ready()
        _, got = ev.wait(n, 300, d)
        wall = time.monotonic() - t0
        st = counters(env)
        if got != n or not st:
            out("  (attachment run failed: %d of %d)" % (got, n))
            return None
        dumps = sorted(os.listdir(sink.dump))
        with open(os.path.join(sink.dump, dumps[0]), "rb") as f:
            raw = f.read()
        # the message as sent: from its first header line to the end
        body = raw[raw.find(b"DKIM-Signature:"):] if b"DKIM-Signature:" in raw else raw
        t = []
        for _ in range(5):
            t1 = time.monotonic()
            with smtplib.SMTP("127.0.0.1", sink.port) as c:
                c.sendmail("complaints@responder.test", ["x@sender.test"], body)
            t.append((time.monotonic() - t1) * 1000)
        return (st.get("busy_us", 0) / 1000.0 / n, st.get("sign_us", 0) / 1000.0 / n,
                statistics.median(t), len(body) / 1048576.0, n / wall)
    finally:
        if d is not None:
            d.stop()
        if env is not None:
            env.close()
        sink.close()


def bench_attachment():
    runs = [r for r in (run_attachment(20, "at%d" % k) for k in range(RUNS)) if r]
    if not runs:
        out("6. 5 MiB attachment: no figure")
        return
    out("6. reply with a 5 MiB attachment (%.1f MiB as sent), SMTP to smtp-sink:" % runs[0][3])
    figure("6. worker time per reply (compose + sign + send)", [r[0] for r in runs], "ms",
           fmt="%.1f")
    figure("6.   of which signing", [r[1] for r in runs], "ms", fmt="%.2f")
    figure("6. the same bytes sent by a plain SMTP client (its transfer)", [r[2] for r in runs],
           "ms", fmt="%.1f")


if __name__ == "__main__":
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", RSA_KEY], check=True, capture_output=True)
    os.chmod(RSA_KEY, 0o600)
    try:
        la = os.getloadavg()
        out("# %s, %d cores, load average %.2f %.2f %.2f at start (a shared machine: "
            "wall-clock figures drop with its load; CPU per request does not)"
            % (BIN, os.cpu_count(), la[0], la[1], la[2]))
        only = sys.argv[1:]
        for name, fn in (("drain", bench_drain), ("burst", bench_burst),
                         ("memory", bench_memory), ("latency", bench_latency),
                         ("attachment", bench_attachment)):
            if not only or name in only:
                fn()
        la = os.getloadavg()
        out("# load average %.2f %.2f %.2f at the end" % la)
    finally:
        shutil.rmtree(KEYDIR, ignore_errors=True)
