"""End-to-end: hostile sizes end in one final state within bounded memory.

Each case is drained by its own mailresponder process, whose peak RSS
is read with getrusage(RUSAGE_CHILDREN) in a fresh Python child: a 50 MB
request (a multipart with a 50 MB attachment: over limits.mime_bytes, so
its structure is not scanned) is answered; a 10,000-header request is answered under
the default limits.max_headers (20,000) and fails with too-many-headers
under 5,000; a 9,000-byte header line fails with
header-line-too-long; 40 nested multiparts fail with mime-too-deep; 300
parts fail with mime-too-many-parts; limits.message_time_ms of 1 makes a
10,000-header request fail with time-limit. The figures are printed.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import BIN, Env, Results, msg

R = Results()
RSS_MAX_KB = 64 * 1024


def drain_measured(env):
    """(rc, peak RSS of the drain in KiB)."""
    code = ("import resource,subprocess,sys,json;"
            "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,"
            "stderr=subprocess.DEVNULL).returncode;"
            "print(json.dumps([r,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))")
    p = subprocess.run([sys.executable, "-c", code, BIN, "drain", "-c", env.settings],
                       capture_output=True, timeout=600)
    return json.loads(p.stdout)


def case(name, data, want_state, want_reason, settings=None):
    env = Env(settings=settings)
    n = env.deliver(data)
    rc, rss = drain_measured(env)
    ev = [e for e in env.events_list() if e["file"] == n]
    print("# %s: %d bytes, drain peak RSS %d KiB, %s/%s" %
          (name, len(data), rss, env.state_of(n), ev[0]["reason"] if ev else "-"))
    R.eq("%s: drain exit code" % name, rc, 0)
    R.eq("%s: one final state" % name, env.state_of(n), want_state)
    R.eq("%s: one event, reason %s" % (name, want_reason),
         [e["reason"] for e in ev], [want_reason])
    R.check("%s: peak RSS %d KiB < %d KiB" % (name, rss, RSS_MAX_KB), rss < RSS_MAX_KB)
    env.close()


big = ("X-Original-To: get@responder.test\nFrom: ann@sender.test\nSubject: big\n"
       "Message-ID: <big@sender.test>\nMIME-Version: 1.0\n"
       "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\n"
       "hello\n--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
       ).encode() + (b"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\n"
                     * (50 * 1024 * 1024 // 73)) + b"--b--\n"
case("50 MB request", big, "replied", "replied")

head = "X-Original-To: get@responder.test\nFrom: bea@sender.test\nSubject: many\n"
many = (head + "".join("X-H%d: value %d\n" % (i, i) for i in range(10000)) + "\nhello\n").encode()
case("10,000 headers", many, "replied", "replied")
case("10,000 headers, limits.max_headers 5000", many, "failed", "too-many-headers",
     {"limits": {"max_headers": 5000}})
case("10,000 headers, limits.message_time_ms 1", many, "failed", "time-limit",
     {"limits": {"max_headers": 20000, "message_time_ms": 1}})
case("9,000-byte header line", (head + "X-Long: " + "x" * 9000 + "\n\nhi\n").encode(),
     "failed", "header-line-too-long")

deep = head + "MIME-Version: 1.0\n"
for i in range(40):
    deep += "Content-Type: multipart/mixed; boundary=\"d%d\"\n\n--d%d\n" % (i, i)
deep += "Content-Type: text/plain\n\nx\n" + "".join("--d%d--\n" % i for i in reversed(range(40)))
case("40 nested multiparts", deep.encode(), "failed", "mime-too-deep")
parts = head + "Content-Type: multipart/mixed; boundary=\"z\"\n\n" + \
    "--z\nContent-Type: text/plain\n\nx\n" * 300 + "--z--\n"
case("300 parts", parts.encode(), "failed", "mime-too-many-parts")
R.done()
