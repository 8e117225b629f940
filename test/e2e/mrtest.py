"""Shared helpers for the end-to-end tests and the benchmarks.

Each test prints "ok - name" or "not ok - name" lines (test/run.sh counts
them). Messages are checked with Python's email package, not with our code.

The daemon harness: Daemon(env) starts `mailresponder run` on an Env,
ready() waits until it watches the spool, stop() ends it by PID; status()
reads `mailresponder status`; stage() and publish() put requests into
new/ the way Postfix's delivery does. Every process started through
spawn() or Daemon is killed when the test exits, also on SIGTERM (the
timeout of test/run.sh).
"""
import atexit
import email
import email.policy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from postfix import free_ports  # noqa: F401 (one port picker for every test)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("MR_BIN", os.path.join(ROOT, "build", "mailresponder"))


class Results:
    def __init__(self):
        self.failed = 0
        self.passed = 0

    def check(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print("ok - %s" % name)
        else:
            self.failed += 1
            print("not ok - %s" % name)
            if detail:
                for line in str(detail).splitlines()[:20]:
                    print("#   %s" % line)
        sys.stdout.flush()
        return cond

    def eq(self, name, got, want):
        return self.check(name, got == want, "got:  %r\nwant: %r" % (got, want))

    def done(self):
        return 1 if self.failed else 0


PERSIAN = "سلام! برای دریافت نرم‌افزار روی پیوند زیر بزنید.\nبا سپاس، تیم پشتیبانی"
HTML = "<p>Hello, download <a href=\"https://dl.example.org/x\">here</a> = now</p>"
TEXT = ("Hello,\n\nDownload links:\n  https://dl.example.org/app.apk\n"
        "  https://dl.example.org/setup.exe\n\nA line with = signs and trailing space \n"
        + "x" * 1200 + "\nEnd.")
SECOND = "Second mail: the files are attached to the next message."


def default_responses():
    return [
        {"email_addr": "get@responder.test",
         "body": [["text/html", HTML], ["text/plain", TEXT]],
         "attachments": [["dl", "android/Example-1.0.apk", "Example-1.0.apk"],
                         ["dl", "windows/Setup.exe", "Setup.exe"]],
         "send_method": "SMTP"},
        {"email_addr": "get@responder.test", "body": SECOND,
         "attachments": None, "send_method": "SMTP"},
        {"email_addr": "get+fa@responder.test",
         "body": [["text/plain", PERSIAN]], "attachments": None,
         "send_method": "SES"},
    ]


class Env:
    """A scratch installation: settings, responder config, attachments,
    spool, outbox, state, event log, all under one temp dir."""

    def __init__(self, settings=None, responses=None, keep=False):
        self.dir = tempfile.mkdtemp(prefix="mr-e2e-")
        self.keep = keep or os.environ.get("MR_KEEP")
        self.spool = os.path.join(self.dir, "spool")
        self.outbox = os.path.join(self.dir, "outbox")
        self.events = os.path.join(self.dir, "events.jsonl")
        self.db = os.path.join(self.dir, "state", "state.db")
        self.attach = {}
        os.makedirs(os.path.join(self.dir, "attachments", "dl", "android"))
        os.makedirs(os.path.join(self.dir, "attachments", "dl", "windows"))
        for rel, size in (("android/Example-1.0.apk", 150000),
                          ("windows/Setup.exe", 70001)):
            data = os.urandom(size)
            with open(os.path.join(self.dir, "attachments", "dl", rel), "wb") as f:
                f.write(data)
            self.attach[rel] = data
        s = {
            "spool": "spool",
            "responder_config": "responses.json",
            "attachments_dir": "attachments",
            "store": "sqlite:state/state.db",
            "transport_override": "maildir:outbox",
            "event_log": "events.jsonl",
            "event_key": "state/event.key",
            "from": "Get Service <get@responder.test>",
            "complaints_address": "complaints@responder.test",
            "admin_addresses": ["ops@responder.test"],
            "own_addresses": ["alias@responder.test"],
            "daily_limit": 3,
            "exempt_domains": ["exempt.test"],
            "blocked_domains": ["blocked.test"],
            "dkim_policy": "reject-fail",
            "authserv_id": "mx.responder.test",
            "log_level": "info",
            "aws": {"imds": 0},  # tests never ask 169.254.169.254
        }
        if os.geteuid() == 0:
            # run refuses root without a service user; tests run as root
            # on purpose (see test_privileges.py for the real drop)
            s["user"] = "root"
        if settings:
            s.update(settings)
        self.settings = os.path.join(self.dir, "settings.json")
        with open(self.settings, "w") as f:
            f.write("// test settings\n" + json.dumps(s, indent=1, ensure_ascii=False))
        with open(os.path.join(self.dir, "responses.json"), "w") as f:
            json.dump(responses if responses is not None else default_responses(),
                      f, ensure_ascii=False, indent=1)
        for d in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(self.spool, d), exist_ok=True)
        self.seq = 0

    def close(self):
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def update_settings(self, **kw):
        """Change top-level keys of the settings file; returns them all."""
        with open(self.settings, encoding="utf-8") as f:
            s = json.loads(f.read().split("\n", 1)[1])
        s.update(kw)
        with open(self.settings, "w", encoding="utf-8") as f:
            f.write("// test settings\n" + json.dumps(s, indent=1, ensure_ascii=False))
        return s

    def run(self, *args, timeout=600, env=None):
        e = dict(os.environ)
        if env:
            e.update(env)
        p = subprocess.run([BIN, args[0], "-c", self.settings] + list(args[1:]),
                           capture_output=True, timeout=timeout, env=e,
                           stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")

    def deliver(self, data, name=None):
        """Write like virtual(8): tmp/ then into new/. Returns the name."""
        if name is None:
            self.seq += 1
            name = "%d.V801I%dM%06d.test.host" % (1700000000 + self.seq, self.seq, self.seq)
        if isinstance(data, str):
            data = data.encode("utf-8")
        tmp = os.path.join(self.spool, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(self.spool, "new", name))
        return name

    def state_of(self, name):
        """Where a request ended: (state, path)."""
        cur = os.path.join(self.spool, "cur")
        for suffix, st in ((":2,RS", "replied"), (":2,S", "ignored"), (":2,", "claimed")):
            if os.path.lexists(os.path.join(cur, name + suffix)):
                return st
        if os.path.lexists(os.path.join(self.spool, ".Failed", "new", name)):
            return "failed"
        if os.path.lexists(os.path.join(self.spool, "new", name)):
            return "new"
        return "missing"

    def events_list(self):
        if not os.path.exists(self.events):
            return []
        with open(self.events, encoding="utf-8") as f:
            return [json.loads(l) for l in f if l.strip()]

    def outbox_files(self):
        d = os.path.join(self.outbox, "new")
        if not os.path.isdir(d):
            return []
        return sorted(os.path.join(d, n) for n in os.listdir(d))

    def outbox_msgs(self):
        out = []
        for p in self.outbox_files():
            with open(p, "rb") as f:
                raw = f.read()
            out.append((p, raw, email.message_from_bytes(raw, policy=email.policy.default)))
        return out


def msg(frm="Alice <alice@sender.test>", to="get@responder.test",
        subject="please send", extra=(), body="hello\n", msgid=None,
        orig_to=None, return_path=None, crlf=False, delivered_to=None):
    """Build a request like Postfix delivers it."""
    lines = []
    if return_path is not None:
        lines.append("Return-Path: %s" % return_path)
    if orig_to is None:
        orig_to = to
    if orig_to is not False:
        lines.append("X-Original-To: %s" % orig_to)
    if delivered_to is None:
        delivered_to = orig_to if orig_to else None
    if delivered_to:
        lines.append("Delivered-To: %s" % delivered_to)
    lines.append("Received: from client.sender.test (localhost [127.0.0.1])\n"
                 "\tby mx.responder.test (Postfix) with ESMTP id 4AB12C;\n"
                 "\tMon, 23 Nov 2026 12:00:00 +0000 (UTC)")
    if frm is not None:
        lines.append("From: %s" % frm)
    lines.append("To: %s" % to)
    if subject is not None:
        lines.append("Subject: %s" % subject)
    lines.append("Date: Mon, 23 Nov 2026 12:00:00 +0000")
    if msgid is not False:
        lines.append("Message-ID: <%s>" % (msgid or ("req%d.%s@sender.test" % (time.time_ns(), os.getpid()))))
    lines.extend(extra)
    text = "\n".join(lines) + "\n\n" + body
    if crlf:
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    return text.encode("utf-8")


def body_parts(m):
    """Decoded text parts (content-type, text) and attachments (name, bytes)."""
    texts, atts = [], []
    for part in m.walk():
        if part.is_multipart():
            continue
        if part.get_content_disposition() == "attachment":
            atts.append((part.get_filename(), part.get_payload(decode=True)))
        else:
            texts.append((part.get_content_type(), part.get_content()))
    return texts, atts


def norm(s):
    return s.replace("\r\n", "\n")


# ---- processes, waiting, ports ----

PROCS = []  # every process started by spawn() or Daemon


def kill_all():
    """Kill whatever a test started and is still running (also a stopped
    one: SIGCONT first)."""
    for p in PROCS:
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait(30)
            except Exception:
                pass
    del PROCS[:]


atexit.register(kill_all)
if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
    # test/run.sh's timeout sends SIGTERM: exit, so that atexit kills
    # what the test started
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(3))


def spawn(argv, **kw):
    """subprocess.Popen, killed at exit if still running."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.Popen(argv, **kw)
    PROCS.append(p)
    return p


def wait_for(pred, timeout, step=0.05):
    """Call pred until it returns a true value or timeout seconds pass;
    returns its last value."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


def cpu_s(pid):
    """utime + stime of a process, seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sanitizer_errors(text):
    """AddressSanitizer and UBSan reports in a log (sanitizer builds)."""
    return [l for l in text.splitlines()
            if "ERROR: AddressSanitizer" in l or "runtime error:" in l]


# ---- the daemon ----

class Daemon:
    """`mailresponder run` on env, its output appended to <env>/daemon.log;
    extra_env is added to the environment."""

    def __init__(self, env, extra_env=None, log_name="daemon.log"):
        self.env = env
        self.log_path = os.path.join(env.dir, log_name)
        self.logf = open(self.log_path, "ab")
        self.start_off = self.logf.tell()
        e = dict(os.environ)
        if extra_env:
            e.update(extra_env)
        self.p = spawn([BIN, "run", "-c", env.settings], stdout=self.logf,
                       stderr=self.logf, env=e)
        self.pid = self.p.pid
        self.stop_s = None

    def log(self):
        """What this daemon wrote so far."""
        with open(self.log_path, "rb") as f:
            f.seek(self.start_off)
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.p.poll() is None

    def ready(self, timeout=30):
        """Wait for "run: watching": the control socket, the watch and the
        workers are up."""
        ok = wait_for(lambda: "run: watching" in self.log() or not self.alive(), timeout,
                      0.02)
        return bool(ok) and self.alive()

    def send(self, sig):
        self.p.send_signal(sig)

    def wait(self, timeout=60):
        """Wait for the exit on its own: the exit code, None on timeout."""
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Signal it and wait: the exit code, or None when it had to be
        killed after timeout seconds. stop_s is how long it took."""
        t0 = time.monotonic()
        if self.alive():
            self.p.send_signal(sig)
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(10)
            rc = None
        self.stop_s = time.monotonic() - t0
        self.logf.close()
        return rc

    def kill(self):
        if self.alive():
            self.p.kill()
        self.p.wait(30)
        self.logf.close()

    def sanitizer_errors(self):
        return sanitizer_errors(self.log())


def status(env, tries=1, extra_env=None, args=()):
    """`mailresponder status`: (exit code, output, {field: value}, daemon
    counters or None). With tries > 1, the first run that exits 0."""
    for _ in range(tries):
        rc, out, err = env.run("status", *args, timeout=30, env=extra_env)
        if rc == 0:
            break
    counters = None
    for line in out.splitlines():
        if line.startswith("daemon counters: "):
            try:
                counters = json.loads(line[len("daemon counters: "):])
            except ValueError:
                counters = {}
    fields = dict(l.split(": ", 1) for l in out.splitlines() if ": " in l)
    return rc, out + err, fields, counters


def counters(env, extra_env=None):
    """The daemon's counters from status ({} without a daemon)."""
    return status(env, extra_env=extra_env)[3] or {}


# ---- the spool ----

def listdir(path):
    try:
        return [n for n in os.listdir(path) if not n.startswith(".")]
    except FileNotFoundError:
        return []


def n_new(env):
    return len(listdir(os.path.join(env.spool, "new")))


def n_claimed(env):
    return sum(1 for n in listdir(os.path.join(env.spool, "cur")) if n.endswith(":2,"))


def n_outbox(env):
    return len(listdir(os.path.join(env.outbox, "new")))


def stage(env, n, tag):
    """Write n requests into a staging folder on the spool's file system
    (request i from "User i <TAGi@sender.test>", Message-ID TAGi@sender.test).
    Returns [(unique name, staging path, Message-ID)]; publish() renames
    them into new/."""
    d = os.path.join(env.dir, "staging-" + tag)
    os.makedirs(d, exist_ok=True)
    out = []
    for i in range(n):
        name = "%d.V801I%dM%06d.%s.test.host" % (1700000000 + i, i, i, tag)
        mid = "%s%d@sender.test" % (tag, i)
        p = os.path.join(d, name)
        with open(p, "wb") as f:
            f.write(msg(frm="User %d <%s%d@sender.test>" % (i, tag, i), msgid=mid,
                        subject="please send %d" % i))
        out.append((name, p, mid))
    return out


def publish(env, items):
    new = os.path.join(env.spool, "new")
    for name, p, _ in items:
        os.rename(p, os.path.join(new, name))


def publish_bursts(env, items, rnd, max_burst=600, max_pause=0.15):
    """publish() in bursts of random size with random pauses."""
    i = 0
    while i < len(items):
        k = rnd.randint(1, max_burst)
        publish(env, items[i:i + k])
        i += k
        time.sleep(rnd.uniform(0, max_pause))


def killed_drains(env, rounds, replies, rnd, extra_env=None):
    """Run `drain -q` rounds times and SIGKILL each run mid-way: once the
    outbox holds a random number of replies, one draw in each of rounds
    equal slices of 5..90 % of the replies expected in all, so that every
    kill lands while the run works whatever the machine's speed. Returns
    (runs killed, replies in the outbox at each kill)."""
    lo, hi = replies // 20, replies * 9 // 10
    w = (hi - lo) // rounds
    kills, at = 0, []
    e = dict(os.environ)
    if extra_env:
        e.update(extra_env)
    for k in range(rounds):
        target = rnd.randint(lo + k * w, lo + (k + 1) * w - 1)
        p = spawn([BIN, "drain", "-q", "-c", env.settings], stdout=subprocess.DEVNULL,
                  stderr=subprocess.DEVNULL, env=e)
        wait_for(lambda: n_outbox(env) >= target or p.poll() is not None, 300, 0.005)
        time.sleep(rnd.uniform(0, 0.02))
        if p.poll() is None:
            p.kill()
            kills += 1
        p.wait(30)
        at.append(n_outbox(env))
    return kills, at


# ---- a private Postfix fed by postfix-maps ----

def maps_postfix(env, settings, **pf_kw):
    """A private Postfix (postfix.py) in <env>/pf whose responder domains
    and addresses come from the maps `mailresponder postfix-maps` writes
    into <env>/maps; the harness's own table keeps the sinks. env's spool
    becomes Postfix's "responder" maildir and settings are added to env's.
    Configured, not started: returns (postfix, postfix-maps exit code,
    its output)."""
    from postfix import Postfix
    mapdir = os.path.join(env.dir, "maps")
    os.makedirs(mapdir, exist_ok=True)
    os.chmod(env.dir, 0o755)  # Postfix (user postfix, uid 65534) must get through
    pf = Postfix(os.path.join(env.dir, "pf"), maps_dir=mapdir, **pf_kw)
    env.update_settings(spool=pf.maildir("responder"), **settings)
    pf.configure()
    rc, out, err = env.run("postfix-maps", "-d", mapdir, "--base", pf.mail, "--postmap",
                           env=pf.env())
    return pf, rc, out + err
