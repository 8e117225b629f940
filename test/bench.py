"""Benchmarks for make bench: prints figures, asserts nothing.

drain: N small requests (default 10,000) through `mailresponder drain` with
the maildir transport and the SQLite store; messages/s and peak RSS (from
getrusage of the child).
"""
import os
import resource
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


if __name__ == "__main__":
    print("# %s, %d cores" % (BIN, os.cpu_count()))
    bench_drain(N, 1)
    bench_drain(N, 2)
    bench_drain(N // 10, 1)
