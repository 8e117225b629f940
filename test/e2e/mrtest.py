"""Shared helpers for the end-to-end tests.

Each test prints "ok - name" or "not ok - name" lines (test/run.sh counts
them). Messages are checked with Python's email package, not with our code.
"""
import email
import email.policy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

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
