"""Benchmarks for make bench: prints figures, asserts nothing.

drain: N small requests (default 10,000) through `mailresponder drain` with
the maildir transport and the SQLite store; messages/s and peak RSS (from
getrusage of the child).

daemon (`mailresponder run`, maildir transport, SQLite store, daily_limit
0, one config entry, workers = cores):
  burst    2N requests (default 20,000), written first to a staging folder
           on the spool's file system, then renamed into new/ as fast as
           possible while the daemon runs; from the first rename until the
           last reply is in outbox/new: messages/s and replies/s.
  latency  N*2/5 requests (default 4,000) at a steady 200 requests/s (one
           rename every 5 ms on a monotonic schedule, ~20 s); latency from
           just before a request's rename into new/ to its reply's arrival
           in outbox/new, matched by In-Reply-To; p50/p90/p99/max. Arrival
           is taken twice: when an inotify watcher (its own process) sees
           the reply renamed into outbox/new, and from the reply file's
           ctime, which that rename sets but which the kernel stamps with
           its coarse clock (4 ms steps at HZ=250), so at sub-millisecond
           latencies the ctime figures read low, even below zero.
"""
import os
import re
import resource
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "e2e"))
from mrtest import Env, msg, BIN

N = int(os.environ.get("MR_BENCH_N", "10000"))


def measured(argv):
    """Run argv in a child of a fresh Python so that getrusage(CHILDREN)
    covers that one process: (rc, seconds, (user, sys, maxrss KiB))."""
    code = ("import resource,subprocess,sys,time,json;t=time.monotonic();"
            "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL).returncode;"
            "d=time.monotonic()-t;u=resource.getrusage(resource.RUSAGE_CHILDREN);"
            "print(json.dumps([r,d,u.ru_utime,u.ru_stime,u.ru_maxrss]))")
    p = subprocess.run([sys.executable, "-c", code] + argv, capture_output=True, text=True)
    r, d, u, s_, m = __import__("json").loads(p.stdout)
    return r, d, (u, s_, m)


def bench_drain(n, entries):
    resp = [{"email_addr": "get@responder.test", "body": [["text/plain", "Links: https://dl.example.org/app.apk\n"],
                                                          ["text/html", "<p><a href=\"https://dl.example.org/app.apk\">app</a></p>"]],
             "attachments": None, "send_method": "SMTP"}] * entries
    env = Env(responses=resp, settings={"daily_limit": 0})
    for i in range(n):
        env.deliver(msg(frm="Requester %d <r%d@sender.test>" % (i, i), msgid="b%d@sender.test" % i,
                        subject="please send %d" % i))
    rc, dt, ru = measured([BIN, "drain", "-q", "-c", env.settings])
    out = len(env.outbox_files())
    ok = rc == 0 and out == n * entries
    print("drain: %d requests x %d entries -> %d replies in %.2f s = %.0f requests/s, "
          "%.0f replies/s; CPU user %.2f s sys %.2f s; peak RSS %.1f MiB%s"
          % (n, entries, out, dt, n / dt, out / dt, ru[0], ru[1], ru[2] / 1024.0,
             "" if ok else "  (RUN FAILED rc=%d)" % rc))
    sys.stdout.flush()
    env.close()


# ---- daemon ----

BENCH_RESP = [{"email_addr": "get@responder.test",
               "body": [["text/plain", "Links: https://dl.example.org/app.apk\n"],
                        ["text/html", "<p><a href=\"https://dl.example.org/app.apk\">app</a></p>"]],
               "attachments": None, "send_method": "SMTP"}]
IRT_RE = re.compile(rb"^In-Reply-To:[ \t]*<([^>\r\n]*)>", re.M | re.I)


def stage(env, n, tag):
    """n requests in a staging folder beside the spool (same file system,
    so the rename into new/ is what Postfix's delivery does). Returns
    [(staging path, new/ path, Message-ID)]."""
    d = os.path.join(env.dir, "staging")
    os.makedirs(d, exist_ok=True)
    new = os.path.join(env.spool, "new")
    out = []
    for i in range(n):
        name = "%d.V801I%dM%06d.%s.bench.host" % (1700000000 + i, i, i, tag)
        mid = "%s%d@sender.test" % (tag, i)
        with open(os.path.join(d, name), "wb") as f:
            f.write(msg(frm="Requester %d <%s%d@sender.test>" % (i, tag, i), msgid=mid,
                        subject="please send %d" % i))
        out.append((os.path.join(d, name), os.path.join(new, name), mid))
    os.sync()  # staging writeback must not land inside the measurement
    return out


def n_replies(env):
    try:
        return len(os.listdir(os.path.join(env.outbox, "new")))
    except FileNotFoundError:
        return 0


def start_daemon(env):
    log = open(os.path.join(env.dir, "daemon.log"), "ab")
    p = subprocess.Popen([BIN, "run", "-c", env.settings], stdin=subprocess.DEVNULL,
                         stdout=log, stderr=log)
    end = time.monotonic() + 30
    while time.monotonic() < end and p.poll() is None:
        with open(log.name, "rb") as f:
            if b"run: watching" in f.read():
                break
        time.sleep(0.02)
    return p, log


def proc_figures(pid):
    """(CPU seconds, peak RSS MiB) of a running process, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    hwm = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024.0
    return cpu, hwm


def stop_daemon(p, log):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    log.close()


def wait_replies(env, n, timeout, p):
    end = time.monotonic() + timeout
    while n_replies(env) < n and time.monotonic() < end and p.poll() is None:
        time.sleep(0.05)
    return n_replies(env)


def reply_times(env):
    """{request Message-ID: reply ctime in ns}"""
    out = {}
    d = os.path.join(env.outbox, "new")
    for name in os.listdir(d):
        path = os.path.join(d, name)
        with open(path, "rb") as f:
            m = IRT_RE.search(f.read(8192).split(b"\r\n\r\n", 1)[0])
        if m:
            out[m.group(1).decode()] = os.stat(path).st_ctime_ns
    return out


def bench_daemon_burst(n):
    env = Env(responses=BENCH_RESP, settings={"daily_limit": 0})
    p = log = None
    try:
        items = stage(env, n, "burst")
        p, log = start_daemon(env)
        t0_ns = time.time_ns()
        t0 = time.monotonic()
        for src, dst, _ in items:
            os.rename(src, dst)
        t_renamed = time.monotonic() - t0
        got = wait_replies(env, n, 600, p)
        cpu, hwm = proc_figures(p.pid) if p.poll() is None else (0, 0)
        last = max(reply_times(env).values() or [t0_ns])
        dt = (last - t0_ns) / 1e9
        ok = got == n
        print("daemon burst: %d requests renamed into new/ in %.2f s (%.0f/s); last of %d "
              "replies after %.2f s = %.0f messages/s, %.0f replies/s; daemon CPU %.2f s, "
              "peak RSS %.1f MiB%s"
              % (n, t_renamed, n / t_renamed, got, dt, n / dt, got / dt, cpu, hwm,
                 "" if ok else "  (RUN FAILED: %d of %d replies)" % (got, n)))
    finally:
        if p is not None:
            stop_daemon(p, log)
        sys.stdout.flush()
        env.close()


# Records when each reply lands in outbox/new: a separate process (no GIL
# shared with the pacing loop) blocked in read(2) on an inotify fd prints
# "<name> <time_ns>" per IN_MOVED_TO, after a first "ready" line.
WATCHER = r"""
import ctypes, os, struct, sys, time
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(0)
if fd < 0 or libc.inotify_add_watch(fd, sys.argv[1].encode(), 0x80) < 0:
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


def pct(sorted_v, q):
    return sorted_v[min(len(sorted_v) - 1, int(round(q * (len(sorted_v) - 1))))]


def bench_daemon_latency(n, rate=200.0):
    env = Env(responses=BENCH_RESP, settings={"daily_limit": 0})
    p = log = w = None
    try:
        items = stage(env, n, "lat")
        outnew = os.path.join(env.outbox, "new")
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(env.outbox, sub), exist_ok=True)
        w = subprocess.Popen([sys.executable, "-c", WATCHER, outnew, str(n)],
                             stdout=subprocess.PIPE, text=True)
        w.stdout.readline()  # "ready": the watch is set up
        p, log = start_daemon(env)
        sent = {}
        step = 1.0 / rate
        t0 = time.monotonic()
        late = 0.0
        for i, (src, dst, mid) in enumerate(items):
            due = t0 + i * step
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            late = max(late, time.monotonic() - due)
            sent[mid] = time.time_ns()
            os.rename(src, dst)
        elapsed = time.monotonic() - t0
        got = wait_replies(env, n, 300, p)
        cpu, hwm = proc_figures(p.pid) if p.poll() is None else (0, 0)
        try:
            wout, _ = w.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            w.kill()
            wout, _ = w.communicate()
        seen = dict(l.split(" ", 1) for l in wout.splitlines() if " " in l)
        by_ctime = reply_times(env)
        by_name = {}
        for name in os.listdir(outnew):
            with open(os.path.join(outnew, name), "rb") as f:
                m = IRT_RE.search(f.read(8192).split(b"\r\n\r\n", 1)[0])
            if m and name in seen:
                by_name[m.group(1).decode()] = int(seen[name])
        head = ("daemon latency at %.0f requests/s (%d requests in %.1f s, pacing at most "
                "%.1f ms late; daemon CPU %.2f s)%s"
                % (n / elapsed, n, elapsed, late * 1000, cpu,
                   "" if got == n else "  (RUN FAILED: %d of %d replies)" % (got, n)))
        print(head)
        for label, arr in (("arrival seen by inotify on outbox/new", by_name),
                           ("arrival = reply file ctime (coarse kernel clock, %.0f ms steps: "
                            "reads up to that much low)" % (time.clock_getres(5) * 1000),
                            by_ctime)):
            lat = sorted((arr[m] - t) / 1e6 for m, t in sent.items() if m in arr)
            if lat:
                print("  %s: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms (%d replies)"
                      % (label, pct(lat, 0.50), pct(lat, 0.90), pct(lat, 0.99), lat[-1],
                         len(lat)))
            else:
                print("  %s: no replies matched" % label)
        if "!" in seen:
            print("  (the inotify watcher's queue overflowed: some arrivals not seen)")
    finally:
        if w is not None and w.poll() is None:
            w.kill()
            w.wait()
        if p is not None:
            stop_daemon(p, log)
        sys.stdout.flush()
        env.close()


if __name__ == "__main__":
    print("# %s, %d cores" % (BIN, os.cpu_count()))
    bench_drain(N, 1)
    bench_drain(N, 2)
    bench_drain(N // 10, 1)
    bench_daemon_burst(2 * N)
    bench_daemon_latency(max(200, N * 2 // 5))
