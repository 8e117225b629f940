"""End-to-end: the production guide, man/mailresponder-install.7, followed
as written.

The command blocks of the guide (each marked by a '.\\" test: NAME' line)
are read from the man page and run with /bin/sh in a scratch root: every
path of the guide is moved under a temp dir (the binary and samples from
"make install DESTDIR=", /etc/mailresponder, /var/..., /etc/postfix as the
config folder of a private Postfix per test/e2e/postfix.py), and the
installed samples are moved to loopback ports and temp paths first, the
way an operator edits them. The service user is a dedicated system user,
mrinstall, created by "mailresponder setup" itself (kept between runs:
setup finds it the next time). Then: dkim-keygen, config-check as the
service user, the guide's Postfix commands, Postfix started, the daemon
started as the service user with runuser outside systemd, one request in
through smtpd, its replies out to a sink, each DKIM signature verified
with python's dkim module against the TXT record dkim-keygen printed.
"""
import email
import email.policy
import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dkim  # /usr/bin/python3: python3-dkim
import postfix
from mrtest import Results, BIN, ROOT
from postfix import Postfix, free_ports

R = Results()
USER = "mrinstall"
GUIDE = os.path.join(ROOT, "man", "mailresponder-install.7")


def skip(name, why):
    print("skip - %s: %s" % (name, why))


def guide_blocks():
    """{name: [command, ...]} from the marked literal blocks, roff escapes
    undone and backslash-continued lines joined."""
    blocks, name, lines, inside = {}, None, [], False
    with open(GUIDE, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            m = re.match(r'\.\\" test: (\S+)$', line)
            if m:
                name = m.group(1)
            elif line.startswith(".Bd -literal") and name:
                inside, lines = True, []
            elif line == ".Ed" and inside:
                text = "\n".join(lines).replace("\\e", "\\")
                text = re.sub(r"\\\n\s*", "", text)
                blocks[name] = [c for c in text.splitlines() if c.strip()]
                inside, name = False, None
            elif inside:
                lines.append(line)
    return blocks


def move(text, pairs):
    for a, b in pairs:
        text = text.replace(a, b)
    return text


def subst(text, pairs, what):
    """Replacements that must apply: each old string must occur."""
    for a, b in pairs:
        R.check("%s has %r" % (what, a.strip()), a in text)
        text = text.replace(a, b)
    return text


def sh(cmd, env, what, timeout=120):
    p = subprocess.run(["/bin/sh", "-ec", cmd], capture_output=True, text=True,
                       env=env, timeout=timeout, stdin=subprocess.DEVNULL)
    R.check("guide %s: %s" % (what, cmd[:110]), p.returncode == 0,
            "rc %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
    return p


class GuidePostfix(Postfix):
    """The harness's start/stop around a main.cf and master.cf that the
    guide's own commands wrote: configure() only makes the folders."""

    def configure(self):
        for d in (self.conf, self.spool, self.data):
            os.makedirs(d, exist_ok=True)
        for d in (self.dir, self.pf):
            os.chmod(d, 0o755)
        shutil.chown(self.data, "postfix", "postfix")
        self._mkmaildirs()
        self._write("vmailbox", "\n".join(self.vmailbox_lines) + "\n")


def user_ids():
    p = subprocess.run(["id", "-u", USER], capture_output=True, text=True)
    if p.returncode != 0:
        return None
    g = subprocess.run(["id", "-g", USER], capture_output=True, text=True)
    return int(p.stdout), int(g.stdout)


def zone_record(text):
    m = re.search(r'^(\S+)\._domainkey\.(\S+)\. IN TXT \((.*)\)$', text, re.M)
    if not m:
        return None
    return m.group(1), m.group(2), "".join(re.findall(r'"([^"]*)"', m.group(3)))


def dkim_ok(raw, sel, dom, record):
    msg = re.sub(rb"\r?\n", b"\r\n", raw)
    name = ("%s._domainkey.%s." % (sel, dom)).encode()

    def dns(qname, timeout=5):
        return record.encode() if qname.rstrip(b".") + b"." == name else None
    d = dkim.DKIM(msg)
    try:
        return d.verify(dnsfunc=dns)
    except Exception as e:  # verify raises on e.g. a body hash mismatch
        print("# dkim: %s: %s" % (type(e).__name__, e))
        return False


def main():
    if not os.path.exists("/usr/sbin/postfix") or not shutil.which("runuser"):
        skip("install guide", "postfix or runuser missing")
        return
    blocks = guide_blocks()
    want = ["packages", "build", "setup", "dkim", "check", "postfix", "postfix-start",
            "start-systemd", "start", "cron", "try"]
    R.eq("guide: every marked block found", sorted(blocks), sorted(want))
    if sorted(blocks) != sorted(want):
        return
    steps = ["packages", "build", "setup", "dkim", "check", "postfix", "postfix-start",
             "start", "cron"]
    n_cmds = sum(len(blocks[b]) for b in steps)
    print("# commands from a fresh host to the first reply (guide blocks %s): %d"
          % (", ".join(steps), n_cmds))

    top = tempfile.mkdtemp(prefix="mr-install-")
    os.chmod(top, 0o755)
    dest = os.path.join(top, "root")
    etc = os.path.join(top, "etc")
    sink = os.path.join(top, "mail", "sink")
    in_port, send_port = free_ports(2)
    pf = GuidePostfix(os.path.join(top, "pf"), inbound_port=in_port, send_port=send_port,
                      vmailbox_lines=["@requester.test %s/" % sink])
    paths = [("/usr/local", dest + "/usr/local"),
             ("/etc/mailresponder", etc + "/mailresponder"),
             ("/etc/postfix", pf.conf), ("/etc/aliases", etc + "/aliases"),
             ("/etc/cron.d", etc + "/cron.d"),
             ("/etc/logrotate.d", etc + "/logrotate.d"),
             ("/var/spool/mailresponder", top + "/var/spool/mailresponder"),
             ("/var/lib/mailresponder", top + "/var/lib/mailresponder"),
             ("/var/log/mailresponder", top + "/var/log/mailresponder")]
    daemon = mr_pid = None
    env = dict(os.environ, PATH=dest + "/usr/local/sbin:" + os.environ["PATH"],
               MAILRESPONDER_SETTINGS=etc + "/mailresponder/settings.json",
               MAIL_CONFIG=pf.conf)
    try:
        # --- 1. packages (already here: checked, not installed) and build
        pkgs = [w for w in " ".join(blocks["packages"]).split()[3:] if not w.startswith("-")]
        for pkg in pkgs:
            p = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", pkg],
                               capture_output=True, text=True)
            if pkg == "build-essential" and "installed" not in p.stdout:
                skip("package %s installed" % pkg, "not needed by the test's prebuilt binary")
                continue
            R.check("guide package %s is installed" % pkg, "install ok installed" in p.stdout,
                    p.stdout + p.stderr)
        R.eq("guide build block", blocks["build"], ["make && make install PREFIX=/usr/local"])
        # the binary under test is prebuilt (maybe with sanitizers): -o keeps make
        # from rebuilding it
        p = subprocess.run(["make", "-s", "-C", ROOT, "install", "PREFIX=/usr/local",
                            "DESTDIR=" + dest, "BIN=" + BIN, "-o", BIN],
                           capture_output=True, text=True)
        R.check("make install DESTDIR=", p.returncode == 0, p.stdout + p.stderr)
        share = dest + "/usr/local/share/mailresponder"
        for f in ("man/man7/mailresponder-install.7", "man/man8/mailresponder.8",
                  "mailresponder/virtual.sample", "mailresponder/main.cf.sample"):
            R.check("installed %s" % f, os.path.exists(dest + "/usr/local/share/" + f))

        # --- the samples moved to loopback ports and temp paths
        for name in os.listdir(share):
            p = os.path.join(share, name)
            with open(p, encoding="utf-8") as f:
                text = move(f.read(), paths)
            if name == "settings.sample.json":
                text = subst(text, [("smtp://127.0.0.1:2525",
                                     "smtp://127.0.0.1:%d" % send_port)], "settings sample")
            elif name == "mailresponder.logrotate":
                text = subst(text, [("create 0600 mailresponder mailresponder",
                                     "create 0600 %s %s" % (USER, USER))], "logrotate sample")
            elif name == "master.cf.sample":
                text = subst(text, [("\nsmtp      inet", "\n127.0.0.1:%d inet" % in_port),
                                    ("\n127.0.0.1:2525 inet",
                                     "\n127.0.0.1:%d inet" % send_port)], "master.cf sample")
            elif name == "main.cf.sample":
                text = subst(text, [
                    ("inet_interfaces = all", "inet_interfaces = 127.0.0.1"),
                    ("inet_protocols = all", "inet_protocols = ipv4"),
                    ("mynetworks = 127.0.0.0/8 [::1]/128", "mynetworks = 127.0.0.0/8"),
                    ("virtual_mailbox_domains = %s/mailresponder/virtual_mailbox_domains" % etc,
                     "virtual_mailbox_domains = %s/mailresponder/virtual_mailbox_domains,"
                     " requester.test" % etc),
                    ("virtual_mailbox_maps = hash:%s/mailresponder/virtual_mailbox_maps" % etc,
                     "virtual_mailbox_maps = hash:%s/mailresponder/virtual_mailbox_maps,"
                     " texthash:%s/vmailbox" % (etc, pf.conf))], "main.cf sample")
                text += ("\n# test: a private instance; nothing leaves this host\n"
                         "queue_directory = %(pf)s/spool\ndata_directory = %(pf)s/data\n"
                         "maillog_file_prefixes = /var, /dev/stdout, /tmp\n"
                         "maillog_file = %(pf)s/postfix.log\n"
                         "mail_spool_directory = %(top)s/var/mail\n"
                         "default_transport = error:5.7.1 outbound mail disabled in tests\n"
                         % {"pf": pf.pf, "top": top})
            with open(p, "w", encoding="utf-8") as f:
                f.write(text)
        # what a Debian host has before the guide starts
        for d in (pf.conf, etc + "/cron.d", etc + "/logrotate.d", top + "/var/mail"):
            os.makedirs(d, exist_ok=True)
        os.chmod(top + "/var/mail", 0o1777)
        with open(etc + "/aliases", "w") as f:
            f.write("postmaster: root\n")

        def cmds(name):
            out = []
            for c in blocks[name]:
                c = move(c, paths)
                c = re.sub(r"(-[ug]) mailresponder\b", r"\1 " + USER, c)
                c = c.replace("mailresponder setup", "mailresponder setup -u " + USER)
                c = c.replace("mailresponder dkim-keygen",
                              "mailresponder dkim-keygen -u " + USER)
                c = c.replace("you@example.net", "someone@requester.test")
                out.append(c)
            return out

        # --- 2. setup, twice: the second run changes nothing
        for c in cmds("setup"):
            p = sh(c, env, "setup")
        p2 = sh(cmds("setup")[0], env, "setup again")
        R.check("setup again: every folder ok, files kept",
                " created " not in p2.stdout and "setup: found user " + USER in p2.stdout
                and p2.stdout.count("setup: kept ") == 2, p2.stdout)
        ids = user_ids()
        if not R.check("setup: service user %s exists" % USER, ids is not None):
            return
        uid, gid = ids
        postfix.VUID = uid  # the sink is written by virtual(8) as this user too
        for d in ("var/spool/mailresponder/new", "var/lib/mailresponder",
                  "var/log/mailresponder"):
            st = os.stat(os.path.join(top, d))
            R.check("setup: %s owned by %s, 0700" % (d, USER),
                    st.st_uid == uid and st.st_mode & 0o7777 == 0o700, oct(st.st_mode))
        st = os.stat(etc + "/mailresponder/responses.json")
        R.check("setup: responses.json from the sample", st.st_mode & 0o7777 == 0o644)

        # --- 4. DKIM key and its record
        p = sh(cmds("dkim")[0], env, "dkim")
        rec = zone_record(p.stdout)
        if not R.check("dkim-keygen printed a TXT record", rec is not None, p.stdout):
            return
        sel, dom, record = rec
        R.eq("record selector and domain as the sample settings", (sel, dom),
             ("key1", "example.org"))
        st = os.stat(etc + "/mailresponder/dkim-rsa.key")
        R.check("key root:%s 0640" % USER, st.st_uid == 0 and st.st_gid == gid
                and st.st_mode & 0o7777 == 0o640, (st.st_uid, st.st_gid, oct(st.st_mode)))

        # --- 5. config-check as the service user
        p = sh(cmds("check")[0], env, "check")
        R.check("config-check: ok and the same record",
                " ok: " in p.stdout and record in p.stdout.replace('" "', ""), p.stdout + p.stderr)

        # --- 6. Postfix (its queue and data folders exist on a host with the
        # package installed)
        pf.configure()
        for c in cmds("postfix"):
            sh(c, env, "postfix")
        with open(os.path.join(pf.conf, "main.cf")) as f:
            main_cf = f.read()
        R.check("main.cf has the service user's uid",
                "virtual_uid_maps = static:%d" % uid in main_cf)
        R.check("postfix-maps wrote the maps",
                os.path.exists(etc + "/mailresponder/virtual_mailbox_maps.db"))
        R.eq("guide postfix-start block", blocks["postfix-start"], ["systemctl restart postfix"])
        try:
            pf.start()  # instead of systemctl: the private instance
        except postfix.PostfixError as e:
            R.check("Postfix started", False, "%s\n%s" % (e, pf.log_text()[-3000:]))
            return
        R.check("Postfix started", True)

        # --- 7. the daemon as the service user, outside systemd
        start = cmds("start")
        R.eq("guide start block", len(start), 1)
        daemon = subprocess.Popen(["/bin/sh", "-ec", "exec " + start[0]], env=env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        for c in cmds("cron"):
            sh(c, env, "cron")
        lr = etc + "/logrotate.d/mailresponder"
        R.check("logrotate rotates the settings' event log",
                os.path.exists(lr) and (top + "/var/log/mailresponder/events.jsonl {")
                in open(lr).read())
        if shutil.which("logrotate"):
            p = subprocess.run(["logrotate", "-d", lr], capture_output=True, text=True)
            R.check("logrotate -d accepts the installed file", p.returncode == 0,
                    p.stdout + p.stderr)
        time.sleep(0.5)
        ps = subprocess.run(["ps", "-o", "pid=,user=", "--ppid", str(daemon.pid)],
                            capture_output=True, text=True).stdout.split()
        R.check("daemon runs as %s" % USER, daemon.poll() is None and USER in ps, ps)
        mr_pid = int(ps[0]) if ps else None

        # --- one request in through smtpd, its replies out to the sink
        t0 = time.monotonic()
        with smtplib.SMTP("127.0.0.1", in_port, timeout=30) as s:
            s.sendmail("someone@requester.test", ["get@example.org"],
                       b"From: Someone <someone@requester.test>\r\nTo: get@example.org\r\n"
                       b"Subject: please send the app\r\nMessage-ID: <install-1@requester.test>\r\n"
                       b"Date: Fri, 04 Dec 2026 12:00:00 +0000\r\n\r\nhello\r\n")
        got = []
        while time.monotonic() - t0 < 60 and len(got) < 2:
            got = pf.sink_files(sink)
            time.sleep(0.1)
        print("# first reply in the sink after %.2f s" % (time.monotonic() - t0))
        R.eq("two replies (the sample's two get@ entries) in the sink", len(got), 2)
        for path in got:
            with open(path, "rb") as f:
                raw = f.read()
            m = email.message_from_bytes(raw, policy=email.policy.default)
            R.check("reply to the requester, from the sample's From",
                    m["To"] == "someone@requester.test" and "noreply@example.org" in m["From"],
                    (m["To"], m["From"]))
            R.check("reply %s: DKIM verified with the record dkim-keygen printed"
                    % os.path.basename(path)[:20], dkim_ok(raw, sel, dom, record))
        ev = top + "/var/log/mailresponder/events.jsonl"
        R.check("event log written by the daemon",
                os.path.exists(ev) and '"outcome":"replied"' in open(ev).read())
        R.check("no requester address in the event log",
                os.path.exists(ev) and "someone@requester.test" not in open(ev).read())

        # --- the guide's sending check
        before = len(pf.sink_files(sink))
        sh(cmds("try")[0], env, "try")
        t0 = time.monotonic()
        while time.monotonic() - t0 < 30 and len(pf.sink_files(sink)) < before + 2:
            time.sleep(0.1)
        R.eq("send-direct: two more replies", len(pf.sink_files(sink)), before + 2)

        # --- mail for root (cron's MAILTO) reaches a mailbox, not a bounce
        p = subprocess.run(["/usr/sbin/sendmail", "-C", pf.conf, "root"],
                           input=b"Subject: cron output\n\nhello root\n",
                           capture_output=True, env=env)
        R.check("sendmail root accepted", p.returncode == 0, p.stderr)
        pf.wait_queue_empty(30)
        log = pf.log_text()
        R.check("mail for root delivered locally",
                re.search(r"to=<root@mx\.example\.org>.*status=sent \(delivered to mailbox\)",
                          log) is not None,
                "\n".join(l for l in log.splitlines() if "root@" in l))
    finally:
        if daemon is not None and daemon.poll() is None:
            # the daemon itself (runuser passes its exit status on)
            if mr_pid is not None:
                os.kill(mr_pid, signal.SIGTERM)
            else:
                os.killpg(daemon.pid, signal.SIGTERM)
            try:
                out, _ = daemon.communicate(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
                out, _ = daemon.communicate()
            R.eq("daemon stops on SIGTERM with status 0", daemon.returncode, 0)
            if R.failed:
                print("# daemon output:\n# " + out.decode(errors="replace")[-2000:]
                      .replace("\n", "\n# "))
        pf.stop()
        if not os.environ.get("MR_KEEP"):
            shutil.rmtree(top, ignore_errors=True)


main()
sys.exit(R.done())
