"""make bench: requests/s end to end through a real Postfix, beside what
the same Postfix sustains for the same mail flow without mailresponder.

Each run starts a private Postfix on 127.0.0.1 (maps from `mailresponder
postfix-maps`) and measures, in this order:

  postfix alone   smtp-source submits N requests into the spool (virtual
                  delivery to the responder's Maildir) and, at the same
                  time, N reply-sized messages through the send smtpd to a
                  sink Maildir: from the first submission until all 2N are
                  delivered;
  mailresponder   the daemon running (2 workers, RSA-2048 signing), N
                  requests submitted the same way: from the first
                  submission until the last reply is in the sink.

Prints requests/s of both, and their ratio against the target (80 %),
min / median / max of MR_BENCH_RUNS runs (3), and the share of worker time
spent signing. Asserts nothing.
"""
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "e2e"))
from mrtest import Daemon, Env, counters, free_ports, maps_postfix, wait_for

N = int(os.environ.get("MR_BENCH_PF_N", "2000"))
RUNS = int(os.environ.get("MR_BENCH_RUNS", "3"))
RESP = [{"email_addr": "get@responder.test",
         "body": [["text/plain", "Links: https://dl.example.org/app.apk\n"],
                  ["text/html", "<p><a href=\"https://dl.example.org/app.apk\">app</a></p>"]],
         "attachments": None, "send_method": "SMTP"}]
REPLY_BYTES = 2200  # about the size of one signed reply


def genkey(path, args):
    subprocess.run(["openssl", "genpkey"] + args + ["-out", path], check=True, capture_output=True)
    os.chmod(path, 0o600)


def n_new(d):
    try:
        return len(os.listdir(os.path.join(d, "new")))
    except FileNotFoundError:
        return 0


def wait_count(fn, n, timeout):
    end = time.monotonic() + timeout
    while fn() < n and time.monotonic() < end:
        time.sleep(0.01)
    return fn()


def source(port, to, size, n):
    return subprocess.Popen(["/usr/sbin/smtp-source", "-s", "10", "-m", str(n), "-l", str(size),
                             "-f", "someone@requester.test" if "responder" in to
                             else "complaints@responder.test",
                             "-t", to, "127.0.0.1:%d" % port])


def clear_new(d):
    nd = os.path.join(d, "new")
    for f in os.listdir(nd):
        os.unlink(os.path.join(nd, f))


def run_once():
    """(postfix alone requests/s, with mailresponder requests/s, sign share)"""
    env = Env(responses=RESP)
    rsa = os.path.join(env.dir, "rsa.key")
    genkey(rsa, ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
    inbound, send = free_ports(2)
    daemon = pf = None
    try:
        pf, rc, out = maps_postfix(
            env, {"transport_override": None, "smtp_url": "smtp://127.0.0.1:%d" % send,
                  "daily_limit": 0, "workers": 2, "event_log": "events.jsonl",
                  "dkim": {"domain": "responder.test", "selector": "rsa1", "rsa_key": rsa}},
            inbound_port=inbound, send_port=send, domains=("requester.test",),
            vmailbox_lines=("get@responder.test responder/", "@requester.test sink/"))
        pf.start()
        spool, sink = pf.maildir("responder"), pf.sink
        # warm-up: Postfix starts its processes on first use
        for p in (source(inbound, "get@responder.test", 1024, 50),
                  source(send, "someone@requester.test", REPLY_BYTES, 50)):
            p.wait()
        wait_count(lambda: min(n_new(spool), n_new(sink)), 50, 60)
        clear_new(spool)
        clear_new(sink)
        # postfix alone: the requests in, the same number of replies out
        t0 = time.monotonic()
        a = source(inbound, "get@responder.test", 1024, N)
        b = source(send, "someone@requester.test", REPLY_BYTES, N)
        a.wait()
        b.wait()
        wait_count(lambda: min(n_new(spool), n_new(sink)), N, 600)
        t_base = time.monotonic() - t0
        ok_base = n_new(spool) == N and n_new(sink) == N
        clear_new(spool)
        clear_new(sink)
        # with mailresponder
        daemon = Daemon(env)
        daemon.ready()
        t0 = time.monotonic()
        subprocess.run(["/usr/sbin/smtp-source", "-s", "10", "-m", str(N), "-l", "1024",
                        "-f", "someone@requester.test", "-t", "get@responder.test",
                        "127.0.0.1:%d" % inbound], check=True)
        got = wait_count(lambda: n_new(sink), N, 600)
        t_mr = time.monotonic() - t0
        c = wait_for(lambda: counters(env), 4, 0.2)
        if not ok_base or got != N:
            print("  (postfix run incomplete: alone %s, with mailresponder %d of %d replies)"
                  % ("ok" if ok_base else "INCOMPLETE", got, N))
            return None
        share = 100.0 * c.get("sign_us", 0) / max(c.get("busy_us", 0), 1)
        return N / t_base, N / t_mr, share
    finally:
        if daemon is not None:
            daemon.stop()
        if pf is not None:
            pf.stop()
        env.close()


def fig(label, v, unit, target=None, fmt="%.0f"):
    v = sorted(v)
    med = statistics.median(v)
    t = ""
    if target is not None:
        t = "  [target >= %s %s: %s]" % (fmt % target, unit, "met" if med >= target else "NOT MET")
    print("%s: %s / %s / %s %s (min / median / max of %d)%s"
          % (label, fmt % v[0], fmt % med, fmt % v[-1], unit, len(v), t))


if __name__ == "__main__":
    runs = [r for r in (run_once() for _ in range(RUNS)) if r]
    if not runs:
        print("5. postfix end to end: no figure")
        sys.exit(0)
    fig("5. postfix alone: %d requests in + %d reply-sized messages out" % (N, N),
        [r[0] for r in runs], "requests/s")
    fig("5. through postfix with mailresponder (2 workers, RSA-2048)", [r[1] for r in runs],
        "requests/s")
    fig("5. mailresponder / postfix alone", [100.0 * r[1] / r[0] for r in runs], "%", 80)
    fig("5. DKIM signing share of worker time", [r[2] for r in runs], "%", fmt="%.1f")
