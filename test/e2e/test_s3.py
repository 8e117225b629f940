"""End-to-end: the responder config and the attachments from S3, through
the stand-in that checks every SigV4 signature with botocore's S3 signer
(test/e2e/awsstub.py).

a) config-check and postfix-maps read an s3:// config; the daemon fetches
   the config and the attachments (signed, 200); a reply carries the S3
   bytes exactly; the cache holds them.
b) Steady state: with refresh off, 40 replies cause no S3 request. A
   SIGHUP reload sends conditional GETs: every one answered 304 without a
   body.
c) A broken config uploaded: rejected, the old one keeps answering, the
   rejection (entry and field) is in the log and in status; a config
   naming a missing attachment is rejected the same way.
d) A changed attachment is picked up at the next timed refresh; replies
   sent during the switch carry the old or the new bytes, never a mix.
e) S3 hanging (accepts, never answers) during refreshes: reply latency
   against a baseline (p99 printed and bounded).
f) S3 down at start: with a cache the daemon starts on it with a warning
   and answers; without one it exits 2 naming what it could not fetch.
g) Refresh time for 20 entries and 10 MB of attachments (printed).
"""
import email
import email.policy
import json
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import Daemon, Env, Results, counters, kill_all, msg, wait_for
from awsstub import Stub, write_creds

R = Results()
TMP = tempfile.mkdtemp(prefix="mr-s3-")
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYs3%08dKEY" % os.getpid()
KEY = "AKIAS3TEST0001"
CREDS = os.path.join(TMP, "stub-creds.json")
AWS_ENV = write_creds(CREDS, KEY, SECRET)
BUCKET = "fleet-config"
DL = "dl-files"


def responses(att_key="android/app.apk", extra=None):
    r = [{"email_addr": "get@responder.test", "body": [["plain", "Here it is."]],
          "attachments": [[DL, att_key, "app.apk"]], "send_method": "SMTP"},
         {"email_addr": "docs@responder.test", "body": "Docs.",
          "attachments": None, "send_method": "SMTP"}]
    return json.dumps(r + (extra or []))


def s3_settings(stub, **kw):
    s3 = {"endpoint": stub.url(), "region": "us-east-1", "cache_dir": "s3cache",
          "attachments": True, "refresh_s": 0, "timeout_s": 10}
    s3.update(kw)
    return {"responder_config": "s3://%s/responses.json" % BUCKET, "s3": s3}


def start(env):
    return Daemon(env, extra_env=AWS_ENV)


def status(env):
    return counters(env, extra_env=AWS_ENV)


def att_of(raw):
    m = email.message_from_bytes(raw, policy=email.policy.default)
    for part in m.walk():
        if part.get_filename():
            return part.get_content()
    return None


def send_and_wait(env, to="get@responder.test", frm=None, timeout=20):
    """Deliver one request; the reply's attachment bytes and the latency."""
    before = set(env.outbox_files())
    env.seq += 1
    frm = frm or "User %d <u%d@sender.test>" % (env.seq, env.seq)
    t0 = time.monotonic()
    name = env.deliver(msg(frm=frm, to=to))
    got = wait_for(lambda: set(env.outbox_files()) - before, timeout, 0.005)
    dt = time.monotonic() - t0
    if not got:
        return name, None, dt
    with open(sorted(got)[0], "rb") as f:
        return name, f.read(), dt


def p99(v):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(0.99 * (len(v) - 1))))]


def main():
    stub = Stub(os.path.join(TMP, "stub"), CREDS).start()
    try:
        run_all(stub)
    finally:
        stub.s3_hang(False)
        stub.stop()
        kill_all()
        shutil.rmtree(TMP, ignore_errors=True)


def run_all(stub):
    apk1 = os.urandom(200000)
    apk2 = os.urandom(210000)
    stub.s3_put(BUCKET, "responses.json", responses())
    stub.s3_put(DL, "android/app.apk", apk1)
    only = os.environ.get("MR_S3_ONLY", "")
    if only in ("", "main"):
        env = Env(settings=s3_settings(stub))
        try:
            test_s3_config(stub, env, apk1, apk2)
        finally:
            env.close()
    if only in ("", "down"):
        test_down_at_start(stub, apk1)
    if only in ("", "big"):
        test_big_refresh(stub)


def test_s3_config(stub, env, apk1, apk2):
    # a) commands read the S3 config
    rc, out, err = env.run("config-check", env=AWS_ENV)
    R.check("config-check: an s3:// config with S3 attachments passes (exit %d)" % rc,
            rc == 0, out + err)
    mapdir = os.path.join(env.dir, "maps")
    os.makedirs(mapdir)
    rc, out, err = env.run("postfix-maps", "-d", mapdir, env=AWS_ENV)
    maps = open(os.path.join(mapdir, "virtual_mailbox_maps")).read() if rc == 0 else ""
    R.check("postfix-maps: the addresses of the S3 config are listed",
            rc == 0 and "docs@responder.test" in maps and "get@responder.test" in maps, err)
    R.check("commands by hand write no cache file (read-only)",
            not os.path.exists(os.path.join(env.dir, "s3cache")) or
            not os.listdir(os.path.join(env.dir, "s3cache")))

    n0 = len(stub.s3_requests())
    d = start(env)
    R.check("daemon starts on the S3 config", d.ready(), d.log()[-2000:])
    reqs = stub.s3_requests()[n0:]
    R.check("start: config and attachment fetched, signatures accepted (%s)"
            % [(r["path"], r["status"]) for r in reqs],
            len(reqs) == 2 and all(r["status"] == 200 for r in reqs)
            and {r["path"] for r in reqs} == {"/%s/responses.json" % BUCKET,
                                              "/%s/android/app.apk" % DL})
    cache = os.path.join(env.dir, "s3cache")
    cached = [open(os.path.join(cache, n), "rb").read() for n in os.listdir(cache)]
    R.check("the cache holds both objects", len(cached) == 2 and
            any(c.endswith(apk1) for c in cached), os.listdir(cache))
    name, raw, dt = send_and_wait(env)
    R.check("a reply carries the S3 attachment bytes exactly",
            raw is not None and att_of(raw) == apk1)

    # b) steady state: no S3 request per reply; a reload gets 304s
    n0 = len(stub.s3_requests())
    lat = []
    for i in range(40):
        _, raw, dt = send_and_wait(env)
        lat.append(dt)
    n1 = len(stub.s3_requests())
    st = status(env)
    print("# steady state: %d S3 requests for 40 replies (%.3f per reply); status s3_requests %s"
          % (n1 - n0, (n1 - n0) / 40.0, st.get("s3_requests")))
    R.check("steady state: 40 replies, 0 S3 requests", n1 == n0, n1 - n0)
    base_p99 = p99(lat)
    print("# baseline reply latency p99 %.1f ms (deliver to outbox)" % (base_p99 * 1000))

    reloaded = d.log().count("reloaded")
    d.p.send_signal(signal.SIGHUP)
    R.check("SIGHUP: reloaded", wait_for(lambda: d.log().count("reloaded") > reloaded, 20),
            d.log()[-1500:])
    new = stub.s3_requests()[n1:]
    R.check("reload: conditional GETs answered 304 with no body (%s)"
            % [(r["status"], r["bytes"]) for r in new],
            len(new) == 2 and all(r["status"] == 304 and r["bytes"] == 0
                                  and r["if_none_match"] for r in new))

    # c) broken configs are rejected; the old one keeps answering
    stub.s3_put(BUCKET, "responses.json",
                responses()[:-1] + ', {"email_addr": "x@responder.test", "body": "x",'
                ' "send_method": "FAX"}]')
    d.p.send_signal(signal.SIGHUP)
    R.check("broken config: reload failed logged",
            wait_for(lambda: "reload failed" in d.log(), 20), d.log()[-1500:])
    R.check("broken config: the log names entry and field",
            "entry 2: send_method" in d.log(), d.log()[-1500:])
    st = status(env)
    R.check("broken config: counted in status (%s, %r)"
            % (st.get("config_rejected"), st.get("config_error")),
            st.get("config_rejected") == 1 and "entry 2" in st.get("config_error", ""))
    _, raw, _ = send_and_wait(env)
    R.check("broken config: the old config keeps answering",
            raw is not None and att_of(raw) == apk1)
    stub.s3_put(BUCKET, "responses.json", responses(att_key="android/missing.apk"))
    d.p.send_signal(signal.SIGHUP)
    R.check("missing attachment: reload failed again",
            wait_for(lambda: d.log().count("reload failed") >= 2, 20), d.log()[-1500:])
    st = status(env)
    R.check("missing attachment: counted in status, naming it (%r)" % st.get("config_error"),
            st.get("config_rejected") == 2 and "android/missing.apk" in st.get("config_error", "")
            and "no such object" in st.get("config_error", ""))
    R.check("missing attachment: logged with the entry",
            "entry 0: attachment %s/android/missing.apk" % DL in d.log(), d.log()[-1500:])
    _, raw, _ = send_and_wait(env)
    R.check("missing attachment: the old config keeps answering",
            raw is not None and att_of(raw) == apk1)
    stub.s3_put(BUCKET, "responses.json", responses())

    # d) a changed attachment at the next timed refresh; no mixed reply
    env.update_settings(**s3_settings(stub, refresh_s=1))
    reloaded = d.log().count("reloaded")
    d.p.send_signal(signal.SIGHUP)
    wait_for(lambda: d.log().count("reloaded") > reloaded, 20)
    reloaded = d.log().count("reloaded")
    stub.s3_put(DL, "android/app.apk", apk2)
    t0 = time.monotonic()
    seen = []
    while time.monotonic() - t0 < 20:
        _, raw, _ = send_and_wait(env)
        a = att_of(raw) if raw else None
        seen.append("old" if a == apk1 else "new" if a == apk2 else "other")
        if seen[-1] == "new" and len(seen) >= 5 and seen[-5:].count("new") == 5:
            break
    R.check("changed attachment picked up by the timed refresh",
            d.log().count("reloaded") > reloaded and seen[-1] == "new", seen[-10:])
    R.check("replies during the switch: old or new bytes, never a mix (%d replies, %d old, %d new)"
            % (len(seen), seen.count("old"), seen.count("new")),
            "other" not in seen and seen == sorted(seen, key=lambda x: x != "old"))

    # e) S3 hanging during refreshes: replies at the usual latency
    before = d.log().count("using the cached copy")
    stub.s3_hang(True)
    time.sleep(1.5)  # a refresh is now waiting on the hanging S3
    lat = []
    for i in range(40):
        _, raw, dt = send_and_wait(env)
        lat.append(dt if raw else 99)
    hang_p99 = p99(lat)
    print("# reply latency p99 while a refresh hangs on S3: %.1f ms (baseline %.1f ms)"
          % (hang_p99 * 1000, base_p99 * 1000))
    R.check("S3 hanging: replies go on (p99 %.0f ms, baseline %.0f ms)"
            % (hang_p99 * 1000, base_p99 * 1000),
            hang_p99 < base_p99 * 3 + 0.2, lat)
    R.check("S3 hanging: the refresh times out and keeps the cached copies",
            wait_for(lambda: d.log().count("using the cached copy") > before, 20),
            d.log()[-1500:])
    stub.s3_hang(False)
    R.check("SIGTERM during refreshes: exit 0", d.stop() == 0, d.log()[-1500:])


def test_down_at_start(stub, apk1):
    # f) with a cache: starts on it; without: exit 2
    stub.s3_put(DL, "android/app.apk", apk1)
    env = Env(settings=s3_settings(stub))
    try:
        d = start(env)
        R.check("cache filled by a first start", d.ready(), d.log()[-1500:])
        d.stop()
        stub.stop()
        d = start(env)
        R.check("S3 down at start, cache present: the daemon starts", d.ready(), d.log()[-1500:])
        R.check("S3 down at start: warning names the object and the cached copy",
                "responses.json" in d.log() and "using the cached copy" in d.log(), d.log()[-1500:])
        _, raw, _ = send_and_wait(env)
        R.check("S3 down at start: replies carry the cached bytes",
                raw is not None and att_of(raw) == apk1)
        d.stop()
        shutil.rmtree(os.path.join(env.dir, "s3cache"))
        d = start(env)
        rc = d.wait(60)
        R.check("S3 down at start, no cache: exit 2 (got %s)" % rc, rc == 2, d.log()[-1500:])
        R.check("S3 down at start, no cache: the message names what could not be fetched",
                "s3 %s/responses.json" % BUCKET in d.log() and "not starting" in d.log(),
                d.log()[-1500:])
    finally:
        stub.start()
        env.close()


def test_big_refresh(stub):
    # g) 20 entries, 10 MB of attachments in all: time of a reload
    extra = []
    for i in range(20):
        stub.s3_put(DL, "big/f%02d.bin" % i, os.urandom(512 * 1024))
    for i in range(20):
        extra.append({"email_addr": "e%02d@responder.test" % i, "body": "entry %d" % i,
                      "attachments": [[DL, "big/f%02d.bin" % i, "f%02d.bin" % i]],
                      "send_method": "SMTP"})
    stub.s3_put(BUCKET, "responses.json", json.dumps(extra))
    env = Env(settings=s3_settings(stub))
    try:
        t0 = time.monotonic()
        d = start(env)
        ok = d.ready()
        t_start = time.monotonic() - t0
        R.check("20 entries, 10 MB: the daemon starts", ok, d.log()[-1500:])
        for i in range(20):
            stub.s3_put(DL, "big/f%02d.bin" % i, os.urandom(512 * 1024))
        n = d.log().count("reloaded")
        t0 = time.monotonic()
        d.p.send_signal(signal.SIGHUP)
        ok = wait_for(lambda: d.log().count("reloaded") > n, 60, 0.01)
        t_new = time.monotonic() - t0
        n = d.log().count("reloaded")
        t0 = time.monotonic()
        d.p.send_signal(signal.SIGHUP)
        ok2 = wait_for(lambda: d.log().count("reloaded") > n, 60, 0.01)
        t_same = time.monotonic() - t0
        print("# 20 entries, 10 MB: start %.2f s; reload with every object new %.2f s; "
              "reload with every object 304 %.2f s" % (t_start, t_new, t_same))
        R.check("20 entries, 10 MB: reloads done", ok and ok2)
        d.stop()
    finally:
        env.close()


main()
sys.exit(R.done())
