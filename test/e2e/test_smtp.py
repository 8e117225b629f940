"""End-to-end: replies through the smtp:// transport into a real Postfix.

One private Postfix (test/e2e/postfix.py) on loopback: the inbound smtpd
delivers requests into the responder's spool, the "send" smtpd takes the
replies and delivers them into the sink Maildir (vmailbox "@requester.test
sink/"). transport_override = smtp://127.0.0.1:<send port>, so every entry
goes through SMTP.

 a) 200 requests in through Postfix, drained: every reply in the sink (To,
    In-Reply-To, Return-Path = the complaints address, attachment intact);
    replies/s printed
 b) connection reuse: the send smtpd saw at most 3 connections for them
 c) 5xx for one recipient: that request to .Failed (send-failed, redacted
    error), the others answered
 d) send smtpd down: messages stay in new/ (retry), exit 2 after 20
    temporary failures; up again: all answered, none lost, none twice
 e) 4xx for one recipient (access map): back to new/, others answered
 f) a server that drops a kept connection (or says 421) at MAIL FROM: one
    retry on a fresh connection, nothing lost; one that closes connections
    while idle: curl reconnects (a tiny scripted SMTP server: Postfix
    cannot be told to do either)
 g) smtps:// against an implicit-TLS smtpd with a self-signed certificate:
    the certificate is refused, the request stays for a retry
In each part no requester address appears in the event log or in drain's
output.
"""
import email
import email.policy
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import Env, Results, msg  # noqa: E402
from postfix import Postfix, free_ports  # noqa: E402

R = Results()
COMPLAINTS = "complaints@responder.test"
TEMPFAIL = "tempfail@requester.test"   # 451 from the send smtpd's access map
UNKNOWN = "nobody@requester2.test"     # 550 5.1.1 user unknown
BODY = "Hello,\n\nthe download links:\n  https://dl.example.org/app.apk\n"
RESPONSES = [{"email_addr": "get@responder.test",
              "body": [["text/plain", BODY], ["text/html", "<p>%s</p>" % BODY]],
              "attachments": [["dl", "windows/Setup.exe", "Setup.exe"]],
              "send_method": "SMTP"}]
ADDR_RE = re.compile(r"[A-Za-z0-9._%+-]+@requester2?\.test", re.I)


INBOUND, SEND, TLS = free_ports(3)
TOP = tempfile.mkdtemp(prefix="mr-smtp-")
PF = Postfix(
    TOP, inbound_port=INBOUND, send_port=SEND,
    domains=("responder.test", "requester.test", "requester2.test"),
    vmailbox_lines=("get@responder.test responder/", "@requester.test sink/",
                    "known@requester2.test sink/"),
    send_opts=("smtpd_recipient_restrictions=check_recipient_access,"
               "texthash:{conf}/access,permit_mynetworks,reject",),
    extra_master="""\
127.0.0.1:%d inet n - n - - smtpd
  -o syslog_name=postfix/tls
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_cert_file={conf}/cert.pem
  -o smtpd_tls_key_file={conf}/key.pem
  -o smtpd_relay_restrictions=permit_mynetworks,reject
""" % TLS)


def setup_postfix():
    os.makedirs(PF.conf, exist_ok=True)
    with open(os.path.join(PF.conf, "access"), "w") as f:
        f.write("%s 451 4.3.0 try later\n" % TEMPFAIL)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-subj", "/CN=localhost", "-days", "1",
                    "-keyout", os.path.join(PF.conf, "key.pem"),
                    "-out", os.path.join(PF.conf, "cert.pem")],
                   check=True, capture_output=True, timeout=60)
    t0 = time.monotonic()
    PF.start()
    print("# postfix up in %.2f s (ports %d, %d, %d)"
          % (time.monotonic() - t0, INBOUND, SEND, TLS))


def new_env(label, url=None, **settings):
    s = {"transport_override": url or "smtp://127.0.0.1:%d" % SEND,
         "complaints_address": COMPLAINTS}
    s.update(settings)
    env = Env(settings=s, responses=RESPONSES)
    env.label = label
    return env


def sink_names():
    return set(PF.sink_files())


def wait_sink(before, want, timeout=60):
    """New sink files since before, waiting until want arrived (and the
    queue is empty)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = sink_names() - before
        if len(got) >= want:
            break
        time.sleep(0.05)
    PF.wait_queue_empty(timeout=10)
    return sorted(sink_names() - before)


def parse(path):
    with open(path, "rb") as f:
        raw = f.read()
    return raw, email.message_from_bytes(raw, policy=email.policy.default)


def mid(s):
    return (s or "").strip().strip("<>")


def privacy_kept(label, env, outs, addrs):
    """No requester address (nor the requester domains) in the event log
    or in drain's stdout/stderr."""
    texts = list(outs)
    if os.path.exists(env.events):
        with open(env.events, encoding="utf-8") as f:
            texts.append(f.read())
    blob = "\n".join(texts)
    leaks = [a for a in addrs if a.lower() in blob.lower()]
    leaks += ADDR_RE.findall(blob)
    R.check("%s: no requester address in events, stdout, stderr" % label,
            not leaks and "requester" not in blob.lower(),
            "leaked: %r" % leaks[:5])


def events_by_file(env):
    return {e["file"]: e for e in env.events_list()}


def run_drain(env, timeout=600):
    t0 = time.monotonic()
    rc, out, err = env.run("drain", timeout=timeout)
    return rc, out, err, time.monotonic() - t0


def replied_once(label, files, want):
    """want: {message-id: requester address}; each exactly once."""
    seen, bad = {}, []
    for p in files:
        raw, m = parse(p)
        irt = mid(m["In-Reply-To"])
        seen[irt] = seen.get(irt, 0) + 1
        to = m["To"].addresses[0].addr_spec if m["To"] else None
        if irt not in want or to != want[irt]:
            bad.append("%s: In-Reply-To %s To %s" % (os.path.basename(p), irt, to))
        if not raw.startswith(b"Return-Path: <%s>\n" % COMPLAINTS.encode()):
            bad.append("%s: %r" % (os.path.basename(p), raw[:60]))
    R.eq("%s: one reply per request" % label,
         sorted(seen.items()), sorted((k, 1) for k in want))
    R.check("%s: To = requester, Return-Path = complaints address" % label,
            not bad, "\n".join(bad[:10]))


# ---- a + b: 200 requests through Postfix both ways ----

def send_requests(port, reqs):
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.requester.test",
                     timeout=30)
    for addr, msgid in reqs:
        data = ("From: User <%s>\r\nTo: get@responder.test\r\n"
                "Subject: please send\r\nMessage-ID: <%s>\r\n"
                "Date: Mon, 23 Nov 2026 12:00:00 +0000\r\n\r\nhello\r\n"
                % (addr, msgid))
        s.sendmail(addr, ["get@responder.test"], data.encode())
    s.quit()


def test_part_ab(n=200):
    spool = PF.maildir("responder")
    env = new_env("a", spool=spool)
    env.spool = spool
    reqs = [("user%d@requester.test" % i, "a%d.%d@requester.test" % (i, os.getpid()))
            for i in range(n)]
    send_requests(INBOUND, reqs)
    end = time.monotonic() + 60
    while len(os.listdir(os.path.join(spool, "new"))) < n and time.monotonic() < end:
        time.sleep(0.05)
    R.eq("a: %d requests delivered into the spool by Postfix" % n,
         len(os.listdir(os.path.join(spool, "new"))), n)
    before, off = sink_names(), PF.log_size()
    t0 = time.monotonic()
    rc, out, err, secs = run_drain(env)
    R.eq("a: drain exit code", rc, 0)
    R.check("a: drain reports %d replied" % n, "%d replied" % n in out, out + err)
    files = wait_sink(before, n)
    print("# a: drain sent %d replies through Postfix in %.2f s: %.0f "
          "replies/s; all %d delivered into the sink %.2f s after the start"
          % (n, secs, n / secs, len(files), time.monotonic() - t0))
    R.eq("a: replies in the sink", len(files), n)
    replied_once("a", files, {m: a for a, m in reqs})
    att = env.attach["windows/Setup.exe"]
    bad = [p for p in files
           if [x.get_content() for x in parse(p)[1].iter_attachments()] != [att]]
    R.check("a: attachment intact in every reply", not bad, bad[:3])
    events = env.events_list()
    R.eq("a: events all replied",
         sorted(set((e["outcome"], e["reason"], e["replies"]) for e in events)),
         [("replied", "replied", 1)])
    privacy_kept("a", env, (out, err), [a for a, _ in reqs])
    test_part_b(off, n)
    env.close()


def test_part_b(off, n):
    end = time.monotonic() + 10
    c, d = PF.send_connects(off)
    while (c == 0 or c != d) and time.monotonic() < end:
        time.sleep(0.1)
        c, d = PF.send_connects(off)
    print("# b: %d connection(s) to the send smtpd for %d replies" % (c, n))
    R.check("b: connection reuse: 1..3 connections for %d replies (got %d)"
            % (n, c), 1 <= c <= 3, "connect %d disconnect %d" % (c, d))
    R.eq("b: every connection closed when drain exited", d, c)
    R.check("b: curl said QUIT", "postfix/send/smtpd" in PF.log_text()
            and re.search(r"send/smtpd\[\d+\]: disconnect from \S+ .*quit=1",
                          PF.log_text()[off:]) is not None)


# ---- c, d, e: failures ----

def deliver(env, tag, locals_, domain="requester.test"):
    out = []
    for i, lp in enumerate(locals_):
        addr = "%s@%s" % (lp, domain)
        msgid = "%s%d.%d@requester.test" % (tag, i, os.getpid())
        name = env.deliver(msg(frm="U <%s>" % addr, msgid=msgid))
        out.append((name, addr, msgid))
    return out


def one_refused(part, addr, n, state, where, outcome, code, text):
    """A drain with one recipient, addr, that the send smtpd refuses between
    n and n others it accepts: that one ends in state (event outcome and
    send-failed, the code and the redacted reply in the error), the others
    are replied once."""
    env = new_env(part)
    ok = deliver(env, part, ["ok%s%d" % (part, i) for i in range(n)])
    lp, dom = addr.split("@")
    bad_name, bad_addr, _ = deliver(env, part + "x", [lp], dom)[0]
    ok += deliver(env, part + "2", ["ok%s2%d" % (part, i) for i in range(n)])
    before = sink_names()
    rc, out, err, _ = run_drain(env)
    R.eq("%s: drain exit code" % part, rc, 0)
    R.eq("%s: %s recipient -> %s" % (part, code.split()[0], where),
         env.state_of(bad_name), state)
    ev = events_by_file(env).get(bad_name, {})
    R.eq("%s: event outcome/reason" % part,
         (ev.get("outcome"), ev.get("reason")), (outcome, "send-failed"))
    e = ev.get("error", "")
    print("# %s: error text: %s" % (part, e))
    R.check("%s: error text has the code and the redacted reply" % part,
            e.startswith("smtp: %s " % code) and "<redacted>" in e
            and text in e, e)
    R.eq("%s: the others replied" % part, [env.state_of(n) for n, _, _ in ok],
         ["replied"] * len(ok))
    files = wait_sink(before, len(ok))
    replied_once(part, files, {m: a for _, a, m in ok})
    privacy_kept(part, env, (out, err), [bad_addr] + [a for _, a, _ in ok])
    env.close()


def test_part_c():
    one_refused("c", UNKNOWN, 4, "failed", "failure folder", "failed",
                "550 5.1.1", "User unknown")


def test_part_d(n=30):
    # one worker: with more, the messages already in flight on the others
    # when the 20th failure stops the run are finished too
    env = new_env("d", workers=1)
    reqs = deliver(env, "d", ["okd%d" % i for i in range(n)])
    PF.stop_send()
    try:
        rc, out, err, secs = run_drain(env)
    finally:
        PF.start_send()
    R.eq("d: send smtpd down: drain exit code 2", rc, 2)
    R.check("d: drain says it stopped after 20 temporary failures",
            "20 temporary failures in a row" in err, err)
    R.eq("d: all still in new/", [env.state_of(n_) for n_, _, _ in reqs],
         ["new"] * n)
    evs = env.events_list()
    R.eq("d: 20 events retry/send-failed",
         [(e["outcome"], e["reason"]) for e in evs],
         [("retry", "send-failed")] * 20)
    R.check("d: error says the connection failed",
            evs and all(e.get("error", "").startswith("smtp: Couldn't connect")
                        for e in evs), evs[:1])
    print("# d: 20 refused connections in %.2f s; error text: %s"
          % (secs, evs[0].get("error") if evs else None))
    privacy_kept("d: down", env, (out, err), [a for _, a, _ in reqs])
    before = sink_names()
    rc, out2, err2, _ = run_drain(env)
    R.eq("d: send smtpd up again: drain exit code", rc, 0)
    R.eq("d: all replied", [env.state_of(n_) for n_, _, _ in reqs],
         ["replied"] * n)
    files = wait_sink(before, n)
    replied_once("d", files, {m: a for _, a, m in reqs})
    privacy_kept("d: up", env, (out2, err2), [a for _, a, _ in reqs])
    env.close()


def test_part_e():
    one_refused("e", TEMPFAIL, 3, "new", "back to new/", "retry", "451 4.3.0",
                "try later")


# ---- f: a server that drops kept connections ----

class DropServer(threading.Thread):
    """Just enough SMTP for curl. On every connection the second MAIL FROM
    is answered by closing the socket (mode "drop") or by "421" and
    closing (mode "421"): what a server restarting or timing out an idle
    client looks like to a client that reuses its connection. Mode "idle"
    closes the connection right after each accepted message instead, so
    the client finds it closed before it speaks."""

    def __init__(self, mode):
        super().__init__(daemon=True)
        self.mode = mode
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = self.drops = 0
        self.ehlo, self.mail_from, self.messages = [], [], []
        self.stopping = False

    def run(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            try:
                self.session(c)
            except OSError:
                pass
            finally:
                c.close()

    def session(self, c):
        f = c.makefile("rb")
        c.sendall(b"220 drop.test ESMTP\r\n")
        txn = 0
        while True:
            line = f.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.ehlo.append(line[5:].strip().decode())
                c.sendall(b"250-drop.test\r\n250-SIZE 20000000\r\n250 8BITMIME\r\n")
            elif verb == b"MAIL":
                txn += 1
                if self.mode == "553":
                    c.sendall(b"553 5.7.1 <complaints@responder.test>: Sender address rejected\r\n")
                    continue
                if txn == 2:
                    self.drops += 1
                    if self.mode == "421":
                        c.sendall(b"421 4.3.2 drop.test closing\r\n")
                    c.shutdown(socket.SHUT_RDWR)
                    return
                self.mail_from.append(line.decode().strip())
                c.sendall(b"250 2.1.0 Ok\r\n")
            elif verb == b"RCPT":
                c.sendall(b"250 2.1.5 Ok\r\n")
            elif verb == b"DATA":
                c.sendall(b"354 go ahead\r\n")
                data = []
                while True:
                    dl = f.readline()
                    if not dl or dl == b".\r\n":
                        break
                    data.append(dl[1:] if dl.startswith(b"..") else dl)
                self.messages.append(b"".join(data))
                c.sendall(b"250 2.0.0 Ok: queued\r\n")
                if self.mode == "idle":
                    c.shutdown(socket.SHUT_RDWR)
                    return
            elif verb == b"QUIT":
                c.sendall(b"221 2.0.0 Bye\r\n")
                return
            else:
                c.sendall(b"250 2.0.0 Ok\r\n")

    def close(self):
        self.stopping = True
        self.sock.close()


def test_part_f(mode, n=5):
    srv = DropServer(mode)
    srv.start()
    # one worker: the server serves one connection at a time
    env = new_env("f-" + mode, url="smtp://127.0.0.1:%d" % srv.port, workers=1)
    reqs = deliver(env, "f" + mode, ["okf%d" % i for i in range(n)])
    rc, out, err, _ = run_drain(env)
    srv.close()
    label = "f (%s)" % {"drop": "dropped at MAIL", "421": "421 at MAIL",
                        "idle": "closed while idle"}[mode]
    R.eq("%s: drain exit code" % label, rc, 0)
    R.eq("%s: all replied" % label,
         [env.state_of(n_) for n_, _, _ in reqs], ["replied"] * n)
    R.eq("%s: server got each reply once" % label,
         sorted(mid(email.message_from_bytes(m)["In-Reply-To"]) for m in srv.messages),
         sorted(m for _, _, m in reqs))
    R.eq("%s: connections / drops" % label, (srv.connections, srv.drops),
         (n, 0 if mode == "idle" else n - 1))
    R.eq("%s: EHLO name is the from domain" % label, set(srv.ehlo),
         {"responder.test"})
    R.check("%s: MAIL FROM the complaints address with SIZE" % label,
            all(re.match(r"MAIL FROM:<%s> SIZE=\d+" % COMPLAINTS, m)
                for m in srv.mail_from), srv.mail_from[:2])
    privacy_kept(label, env, (out, err), [a for _, a, _ in reqs])
    env.close()


def test_part_h(n=3):
    """A server that refuses our envelope sender (5xx at MAIL FROM): not
    about any one message, so every request is retried, none failed."""
    srv = DropServer("553")
    srv.start()
    env = new_env("h", url="smtp://127.0.0.1:%d" % srv.port)
    reqs = deliver(env, "h", ["okh%d" % i for i in range(n)])
    rc, out, err, _ = run_drain(env)
    srv.close()
    label = "h (553 at MAIL FROM)"
    R.eq("%s: every request back in new/ for a retry" % label,
         [env.state_of(n_) for n_, _, _ in reqs], ["new"] * n)
    ev = [e for e in env.events_list()]
    R.check("%s: events say retry with the server's reply" % label,
            len(ev) == n and all(e["outcome"] == "retry" and "553" in e.get("error", "") for e in ev), ev[:2])
    privacy_kept(label, env, (out, err), [a for _, a, _ in reqs])
    env.close()


# ---- g: smtps with a certificate nobody vouches for ----

def test_part_g():
    env = new_env("g", url="smtps://127.0.0.1:%d" % TLS)
    name, addr, _ = deliver(env, "g", ["okg"])[0]
    off = PF.log_size()
    rc, out, err, _ = run_drain(env)
    R.eq("g: smtps: drain exit code", rc, 0)
    R.eq("g: smtps to an untrusted certificate: back to new/",
         env.state_of(name), "new")
    ev = events_by_file(env).get(name, {})
    e = ev.get("error", "")
    print("# g: error text: %s" % e)
    R.check("g: error names the TLS/certificate failure",
            (ev.get("outcome"), ev.get("reason")) == ("retry", "send-failed")
            and e.startswith("smtp: ") and "certificate" in e, ev)
    end = time.monotonic() + 5
    while time.monotonic() < end and not re.search(
            r"postfix/tls/smtpd\[\d+\]: connect from", PF.log_text()[off:]):
        time.sleep(0.1)
    R.check("g: the TLS smtpd saw the connection",
            re.search(r"postfix/tls/smtpd\[\d+\]: connect from",
                      PF.log_text()[off:]) is not None)
    privacy_kept("g", env, (out, err), [addr])
    env.close()


def main():
    # run.sh's timeout sends SIGTERM: still stop Postfix (finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        setup_postfix()
        test_part_ab()
        test_part_c()
        test_part_d()
        test_part_e()
        test_part_f("drop")
        test_part_f("421")
        test_part_f("idle")
        test_part_g()
        test_part_h()
    finally:
        PF.stop()
        if not os.environ.get("MR_KEEP"):
            shutil.rmtree(TOP, ignore_errors=True)
        else:
            print("# kept %s" % TOP)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
