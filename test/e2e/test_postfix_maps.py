"""End-to-end: mailresponder postfix-maps, the Postfix samples, and a
private Postfix (components.md section 2) that uses the written tables to
deliver requests into the spool.

Loopback only: the private Postfix listens on 127.0.0.1:10035, the
samples (moved to loopback) on 10036 and 10037 (10025 and 10026 belong to
another test); nothing is sent out. Each instance is stopped with
"postfix -c DIR stop", then by its master's pid.
"""
import email
import email.policy
import json
import os
import shutil
import smtplib
import socket
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import Env, Results, BIN, ROOT
from postfix import MASTER_SERVICES

R = Results()
POSTFIX = "/usr/sbin/postfix"
POSTMAP = "/usr/sbin/postmap"
POSTCONF = "/usr/sbin/postconf"
PORT = 10035
SAMPLE_PORTS = (10036, 10037)  # the samples' :25 and :2525, moved
HAVE_POSTFIX = all(os.access(p, os.X_OK) for p in (POSTFIX, POSTMAP, POSTCONF))


def skip(name, why):
    print("skip - %s (%s)" % (name, why))
    sys.stdout.flush()


def entry(addr, body="hello"):
    return {"email_addr": addr, "body": body, "attachments": None,
            "send_method": "SMTP"}


# Two domains, mixed case, a duplicate differing only in case, a
# plus-address; the complaints address adds a third domain.
RESPONSES = [entry("Get@Example.ORG"), entry("get@example.org", "second"),
             entry("GET+FA@example.org"), entry("help@Example.org"),
             entry("Info@Responder.TEST")]
COMPLAINTS = "Complaints@Reports.Example.NET"
ADDRS = ["complaints@reports.example.net", "get+fa@example.org",
         "get@example.org", "help@example.org", "info@responder.test"]
DOMAINS = ["example.org", "reports.example.net", "responder.test"]


def run(args, env=None, cwd=None, umask=-1, timeout=120):
    e = dict(os.environ)
    e.pop("MR_POSTMAP", None)
    if env:
        e.update(env)
    p = subprocess.run([BIN] + args, capture_output=True, env=e, cwd=cwd,
                       umask=umask, timeout=timeout, stdin=subprocess.DEVNULL)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def lines(path):
    return read(path).splitlines()


def new_env(settings=None):
    s = {"complaints_address": COMPLAINTS}
    if settings:
        s.update(settings)
    return Env(settings=s, responses=RESPONSES)


def maps_lines(value):
    return ["%s %s" % (a, value) for a in ADDRS]


def write_main_cf(conf, text):
    os.makedirs(conf, exist_ok=True)
    with open(os.path.join(conf, "main.cf"), "w") as f:
        f.write(text)


# --- the files -------------------------------------------------------------

def test_files():
    env = new_env()
    try:
        base = os.path.realpath(env.dir)
        spool = os.path.join(base, "spool")
        rc, out, err = run(["postfix-maps", "-c", env.settings], umask=0o077)
        R.eq("postfix-maps exits 0", (rc, err), (0, ""))
        maps = os.path.join(base, "virtual_mailbox_maps")
        doms = os.path.join(base, "virtual_mailbox_domains")
        R.eq("virtual_mailbox_maps: every address and the complaints "
             "address, sorted, unique, lower-case, absolute spool",
             lines(maps), maps_lines(spool + "/"))
        R.eq("virtual_mailbox_domains: every domain, sorted, unique, "
             "lower-case", lines(doms), DOMAINS)
        R.check("stdout names both files with their counts",
                "%s: 5 addresses -> %s/" % (maps, spool) in out
                and "%s: 3 domains" % doms in out, out)
        R.eq("files are 0644 even under umask 077",
             [stat.S_IMODE(os.stat(p).st_mode) for p in (maps, doms)],
             [0o644, 0o644])
        R.eq("no temporary files left",
             [n for n in os.listdir(base) if ".tmp" in n], [])
        R.check("plus-address listed as its own key",
                "get+fa@example.org %s/" % spool in lines(maps))

        other = os.path.join(env.dir, "out dir $(touch x)")
        os.mkdir(other)
        os.chmod(maps, 0o600)
        rc, out, err = run(["postfix-maps", "-c", env.settings, "-d", other])
        R.eq("-d DIR writes there", (rc, sorted(os.listdir(other))),
             (0, ["virtual_mailbox_domains", "virtual_mailbox_maps"]))
        R.eq("-d DIR leaves the settings folder alone",
             stat.S_IMODE(os.stat(maps).st_mode), 0o600)
        R.eq("-d DIR: same content", lines(os.path.join(other, "virtual_mailbox_maps")),
             maps_lines(spool + "/"))

        rc, out, err = run(["postfix-maps", "-c", env.settings])
        R.eq("a second run rewrites the files", (rc, lines(maps),
             stat.S_IMODE(os.stat(maps).st_mode)), (0, maps_lines(spool + "/"), 0o644))
    finally:
        env.close()


def test_base():
    env = new_env()
    try:
        base = os.path.realpath(env.dir)
        maps = os.path.join(base, "virtual_mailbox_maps")
        doms = os.path.join(base, "virtual_mailbox_domains")
        for name, arg, cwd, want in (
                ("--base the settings folder", base, None, "spool/"),
                ("--base with a trailing slash and ..",
                 base + "/state/../", None, "spool/"),
                ("--base relative to the working directory", ".", base, "spool/"),
                ("--base the spool itself", base + "/spool", None, "./"),
                ("--base /", "/", None, base[1:] + "/spool/")):
            rc, out, err = run(["postfix-maps", "-c", env.settings, "--base", arg],
                               cwd=cwd)
            R.eq("%s: values relative to it" % name, (rc, lines(maps)),
                 (0, maps_lines(want)))
        before = (read(maps), read(doms))
        rc, out, err = run(["postfix-maps", "-c", env.settings, "--base",
                            base + "/spoo"])
        R.check("spool outside --base: exit 1 and says so",
                rc == 1 and "not under --base" in err, (rc, out, err))
        R.eq("spool outside --base: nothing written", (read(maps), read(doms)), before)
        rc, out, err = run(["postfix-maps", "-c", env.settings, "--base", "/var/spool"])
        R.eq("spool elsewhere: exit 1", rc, 1)
    finally:
        env.close()


def test_usage():
    env = new_env()
    try:
        for name, args in (("unknown option", ["-x"]),
                           ("an argument", ["extra"]),
                           ("empty --base", ["--base", ""])):
            rc, out, err = run(["postfix-maps", "-c", env.settings] + args)
            R.eq("usage error (%s): exit 1" % name, rc, 1)
        rc, out, err = run(["postfix-maps", "-c", os.path.join(env.dir, "nope.json")])
        R.eq("missing settings: exit 1", rc, 1)
        with open(os.path.join(env.dir, "responses.json"), "w") as f:
            json.dump([entry("get@example.org"), {"email_addr": "not an address",
                                                   "body": "x", "send_method": "SMTP"}], f)
        rc, out, err = run(["postfix-maps", "-c", env.settings])
        R.check("bad responder config: exit 1 naming the entry",
                rc == 1 and "entry 1" in err, (rc, err))
        R.eq("bad responder config: nothing written",
             [n for n in os.listdir(env.dir) if n.startswith("virtual_")], [])
        with open(os.path.join(env.dir, "responses.json"), "w") as f:
            json.dump([entry('"get fa"@example.org')], f)
        rc, out, err = run(["postfix-maps", "-c", env.settings])
        R.check("an address a Postfix table cannot hold: exit 1",
                rc == 1 and "cannot be written" in err, (rc, err))
        with open(os.path.join(env.dir, "responses.json"), "w") as f:
            json.dump(RESPONSES, f)
        rc, out, err = run(["postfix-maps", "-c", env.settings, "-d",
                            os.path.join(env.dir, "missing", "dir")])
        R.check("DIR that does not exist: exit 2 (runtime)",
                rc == 2 and "missing/dir" in err, (rc, err))
        p = subprocess.run([BIN, "help"], capture_output=True, text=True)
        R.check("help lists postfix-maps", "postfix-maps" in p.stdout, p.stdout)
    finally:
        env.close()


# --- --postmap -------------------------------------------------------------

def write_script(path, text):
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + text)
    os.chmod(path, 0o755)


def test_postmap():
    if not HAVE_POSTFIX:
        skip("--postmap with the real postmap", "postfix not installed")
    env = new_env()
    try:
        base = os.path.realpath(env.dir)
        maps = os.path.join(base, "virtual_mailbox_maps")
        doms = os.path.join(base, "virtual_mailbox_domains")
        conf = os.path.join(base, "pfconf")
        write_main_cf(conf, "# postmap only needs a main.cf to exist\n")
        pm_env = {"MAIL_CONFIG": conf}
        if HAVE_POSTFIX:
            rc, out, err = run(["postfix-maps", "-c", env.settings, "--postmap",
                                "--base", base], env=pm_env)
            R.check("--postmap exits 0 and says so",
                    rc == 0 and "virtual_mailbox_maps.db: rebuilt" in out, (rc, out, err))
            R.check("--postmap wrote virtual_mailbox_maps.db",
                    os.path.isfile(maps + ".db"))
            for q in ("get@example.org", "GET+FA@Example.org", COMPLAINTS):
                p = subprocess.run([POSTMAP, "-c", conf, "-q", q, "hash:" + maps],
                                   capture_output=True, text=True)
                R.eq("postmap -q %s returns the value" % q,
                     (p.returncode, p.stdout.strip()), (0, "spool/"))
            p = subprocess.run([POSTMAP, "-c", conf, "-q", "get+xx@example.org",
                                "hash:" + maps], capture_output=True, text=True)
            R.eq("postmap -q of an unlisted plus-address: not found", p.returncode, 1)

            # real postmap failures: no main.cf, the .db path is a folder
            rc, out, err = run(["postfix-maps", "-c", env.settings, "--postmap"],
                               env={"MAIL_CONFIG": os.path.join(base, "none")})
            R.check("postmap without main.cf: exit 2 with its stderr",
                    rc == 2 and "exit status 1" in err and "postmap: fatal" in err
                    and "main.cf" in err, (rc, err))
            os.unlink(maps + ".db")
            os.mkdir(maps + ".db")
            rc, out, err = run(["postfix-maps", "-c", env.settings, "--postmap"],
                               env=pm_env)
            R.check("postmap that cannot write the .db: exit 2 with its stderr",
                    rc == 2 and "postmap: fatal" in err, (rc, err))
            os.rmdir(maps + ".db")

        # a failing postmap leaves the domain list as it was
        os.unlink(doms)
        rc, out, err = run(["postfix-maps", "-c", env.settings, "--postmap"],
                           env={"MR_POSTMAP": "/bin/false"})
        R.check("MR_POSTMAP=/bin/false: exit 2, status reported",
                rc == 2 and "/bin/false hash:%s failed: exit status 1" % maps in err,
                (rc, err))
        R.check("postmap failed: domain list not written", not os.path.exists(doms))
        rc, out, err = run(["postfix-maps", "-c", env.settings, "--postmap"],
                           env={"MR_POSTMAP": os.path.join(base, "no-such-postmap")})
        R.check("MR_POSTMAP that does not exist: exit 2",
                rc == 2 and "no-such-postmap" in err, (rc, err))

        # argv without a shell, stdout not ours, a flood of stderr
        argfile = os.path.join(base, "argv")
        fake = os.path.join(base, "fake postmap")
        write_script(fake, 'for a in "$0" "$@"; do printf "%%s\\n" "$a"; done > "%s"\n'
                     'echo "to stdout"\n'
                     'head -c 300000 /dev/zero | tr "\\\\000" x >&2\n'
                     'exit 3\n' % argfile)
        odd = os.path.join(base, "d $(touch pwned) ;'")
        os.mkdir(odd)
        t0 = time.time()
        rc, out, err = run(["postfix-maps", "-c", env.settings, "--postmap", "-d", odd],
                           env={"MR_POSTMAP": fake}, timeout=60)
        R.eq("postmap argv: the program and hash:DIR/virtual_mailbox_maps, no shell",
             lines(argfile), [fake, "hash:" + os.path.join(odd, "virtual_mailbox_maps")])
        R.check("no shell ran the folder name", not os.path.exists(os.path.join(base, "pwned"))
                and not os.path.exists("pwned"))
        R.check("postmap's stdout does not reach ours", "to stdout" not in out, out)
        R.check("300 KB of stderr: exit 2, status 3, kept short",
                rc == 2 and "exit status 3" in err and 1000 < len(err) < 20000
                and time.time() - t0 < 30, (rc, len(err)))
        write_script(fake, 'echo "postmap: warning: something odd" >&2\n')
        rc, out, err = run(["postfix-maps", "-c", env.settings, "--postmap"],
                           env={"MR_POSTMAP": fake})
        R.check("a successful postmap's warnings are passed on",
                rc == 0 and "warning: something odd" in err, (rc, err))
    finally:
        env.close()


# --- the samples -----------------------------------------------------------

def sample(name):
    return read(os.path.join(ROOT, "config", "postfix", name))


def test_samples():
    main, master = sample("main.cf.sample"), sample("master.cf.sample")
    for want in ("virtual_mailbox_domains = /etc/mailresponder/virtual_mailbox_domains",
                 "virtual_mailbox_maps = hash:/etc/mailresponder/virtual_mailbox_maps",
                 "virtual_mailbox_base = /", "virtual_uid_maps = static:",
                 "virtual_gid_maps = static:", "smtpd_milters = inet:",
                 "AuthservID", "authserv_id"):
        R.check("main.cf.sample has %s" % want, want in main)
    R.check("master.cf.sample: the reply smtpd on 127.0.0.1:2525",
            "\n127.0.0.1:2525 inet" in master)
    if not HAVE_POSTFIX:
        skip("samples accepted by postconf / postfix check", "postfix not installed")
        return
    t = tempfile.mkdtemp(prefix="mr-pfsample-")
    try:
        conf, spool, data = (os.path.join(t, d) for d in ("conf", "spool", "data"))
        for d in (conf, spool, data):
            os.mkdir(d)
        shutil.chown(data, "postfix", "postfix")
        write_main_cf(conf, main + "\nqueue_directory = %s\ndata_directory = %s\n"
                      % (spool, data))
        with open(os.path.join(conf, "master.cf"), "w") as f:
            f.write(master)
        p = subprocess.run([POSTCONF, "-c", conf, "-n"], capture_output=True, text=True)
        R.check("postconf -n accepts main.cf.sample, no warnings",
                p.returncode == 0 and p.stderr == "", p.stderr)
        p = subprocess.run([POSTCONF, "-c", conf, "-M"], capture_output=True, text=True)
        svc = [l for l in p.stdout.splitlines() if l.startswith("127.0.0.1:2525 ")]
        R.check("postconf -M accepts master.cf.sample, no warnings",
                p.returncode == 0 and p.stderr == "" and len(svc) == 1, p.stderr)
        for opt in ("smtpd_relay_restrictions=permit_mynetworks,reject",
                    "smtpd_sasl_auth_enable=no", "smtpd_milters="):
            R.check("2525 service has -o %s" % opt,
                    svc and ("-o %s " % opt) in svc[0] + " ", svc)
        p = subprocess.run([POSTFIX, "-c", conf, "check"], capture_output=True, text=True)
        R.check("postfix check accepts the samples", p.returncode == 0 and
                "warning" not in p.stderr, p.stderr)
    finally:
        shutil.rmtree(t, ignore_errors=True)


# --- a private Postfix delivering with the written tables -------------------

# the service list is the shared harness's (postfix.py)
MASTER_CF = "127.0.0.1:%(port)d inet n - n - - smtpd\n" + MASTER_SERVICES

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = %(pf)s/spool
data_directory = %(pf)s/data
myhostname = mx.feas.test
myorigin = mx.feas.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
relay_domains =
alias_maps =
alias_database =
biff = no
relayhost =
default_transport = error:5.7.1 outbound mail disabled in tests
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
maillog_file_prefixes = /var, /dev/stdout, /tmp
maillog_file = %(pf)s/postfix.log
virtual_mailbox_domains = %(dir)s/virtual_mailbox_domains
virtual_mailbox_base = %(base)s
virtual_mailbox_maps = hash:%(dir)s/virtual_mailbox_maps
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
"""


def port_open(port):
    s = socket.socket()
    s.settimeout(0.5)
    try:
        return s.connect_ex(("127.0.0.1", port)) == 0
    finally:
        s.close()


class PrivatePostfix:
    def __init__(self, top, mapdir, base):
        self.pf = os.path.join(top, "postfix")
        self.conf = os.path.join(self.pf, "conf")
        for d in ("conf", "spool", "data"):
            os.makedirs(os.path.join(self.pf, d))
        shutil.chown(os.path.join(self.pf, "data"), "postfix", "postfix")
        write_main_cf(self.conf, MAIN_CF % {"pf": self.pf, "dir": mapdir, "base": base})
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(MASTER_CF % {"port": PORT})
        self.started = False

    def cmd(self, *args):
        try:
            return subprocess.run([POSTFIX, "-c", self.conf] + list(args),
                                  capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(e.cmd, -1, "", "timed out")

    def start(self):
        return self.start_ports((PORT,))

    def start_ports(self, ports):
        p = self.cmd("start")
        self.started = p.returncode == 0
        for _ in range(200):
            if all(port_open(x) for x in ports):
                return True
            time.sleep(0.05)
        return False

    def log(self):
        try:
            return read(os.path.join(self.pf, "postfix.log"))
        except OSError:
            return ""

    def stop(self):
        pidfile = os.path.join(self.pf, "spool", "pid", "master.pid")
        pid = None
        try:
            pid = int(read(pidfile).strip())
        except (OSError, ValueError):
            pass
        self.cmd("stop")
        for sig in (15, 9):
            for _ in range(60):
                if pid is None or not os.path.exists("/proc/%d" % pid):
                    return
                time.sleep(0.05)
            try:
                os.kill(pid, sig)  # the master we started, by its pid
            except ProcessLookupError:
                return

    def dump_log_on_failure(self, failed_before):
        if R.failed > failed_before:
            for line in self.log().splitlines()[-25:]:
                print("#   log: %s" % line)


def send(rcpt, marker, port=PORT):
    """One request over SMTP; returns None or the refusal (code, text)."""
    body = ("From: Alice <alice@sender.test>\r\nTo: %s\r\nSubject: %s\r\n"
            "Message-ID: <%s@sender.test>\r\n\r\nplease send\r\n" % (rcpt, marker, marker))
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.sendmail("alice@sender.test", [rcpt], body.encode())
    except smtplib.SMTPRecipientsRefused as e:
        code, text = e.recipients[rcpt]
        return code, text.decode("utf-8", "replace")
    except (OSError, smtplib.SMTPException) as e:
        return 0, repr(e)
    return None


def wait_new(newdir, n, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        names = os.listdir(newdir)
        if len(names) >= n:
            return names
        time.sleep(0.1)
    return os.listdir(newdir)


def delivered(newdir):
    """{Subject: message} of every file in new/."""
    out = {}
    for n in os.listdir(newdir):
        with open(os.path.join(newdir, n), "rb") as f:
            m = email.message_from_bytes(f.read(), policy=email.policy.default)
        out[str(m["Subject"])] = (n, m)
    return out


def deliver_round(pfx, mail, rcpts, tag, port=PORT):
    """Send to every rcpt, wait for the files; {rcpt: message or None}."""
    newdir = os.path.join(mail, "responder", "new")
    before = set(os.listdir(newdir))
    for i, rcpt in enumerate(rcpts):
        r = send(rcpt, "%s-%d" % (tag, i), port)
        R.eq("SMTP accepts RCPT TO:<%s> (%s)" % (rcpt, tag), r, None)
    if len(wait_new(newdir, len(before) + len(rcpts), 10)) < len(before) + len(rcpts):
        # a delivery deferred while a reload was restarting virtual(8)
        # waits for the next queue run: ask for it now
        subprocess.run(["/usr/sbin/postqueue", "-c", pfx.conf, "-f"],
                       capture_output=True, timeout=60)
        wait_new(newdir, len(before) + len(rcpts))
    got = delivered(newdir)
    return {rcpt: got.get("%s-%d" % (tag, i), (None, None))[1]
            for i, rcpt in enumerate(rcpts)}


def check_delivered(env, mail, msgs, tag):
    newdir = os.path.join(mail, "responder", "new")
    for rcpt, m in msgs.items():
        if not R.check("%s: %s landed in <spool>/new/" % (tag, rcpt), m is not None,
                       "files: %r" % os.listdir(newdir)):
            continue
        R.eq("%s: X-Original-To of %s" % (tag, rcpt),
             str(m["X-Original-To"]).lower(), rcpt.lower())


def test_private_postfix():
    if not HAVE_POSTFIX:
        skip("private Postfix delivering with the written tables", "postfix not installed")
        return
    if port_open(PORT):
        R.check("port %d is free for the private Postfix" % PORT, False)
        return
    top = tempfile.mkdtemp(prefix="mr-pfmaps-")
    os.chmod(top, 0o755)  # virtual(8) runs as 65534, smtpd as postfix
    mail = os.path.join(top, "mail")
    spool = os.path.join(mail, "responder")
    for d in (mail, spool) + tuple(os.path.join(spool, x) for x in ("tmp", "new", "cur")):
        os.mkdir(d, 0o700)
        shutil.chown(d, 65534, 65534)
    env = new_env({"spool": spool})
    os.chmod(env.dir, 0o755)  # smtpd (user postfix) reads the tables there
    pfx = PrivatePostfix(top, os.path.realpath(env.dir), mail)
    pm_env = {"MAIL_CONFIG": pfx.conf}
    failed_before = R.failed
    try:
        rc, out, err = run(["postfix-maps", "-c", env.settings, "--base", mail,
                            "--postmap"], env=pm_env)
        R.check("postfix-maps --base --postmap for the private Postfix", rc == 0,
                (rc, out, err))
        R.eq("values relative to virtual_mailbox_base",
             lines(os.path.join(env.dir, "virtual_mailbox_maps"))[0],
             "complaints@reports.example.net responder/")
        if not R.check("private Postfix started on 127.0.0.1:%d" % PORT, pfx.start(),
                       pfx.log()):
            return
        rcpts = ["get@example.org", "GET@Example.ORG", "get+fa@example.org",
                 "Get+FA@EXAMPLE.org", "help@example.org", "info@responder.test",
                 "INFO@responder.test", COMPLAINTS]
        check_delivered(env, mail, deliver_round(pfx, mail, rcpts, "base"), "base")
        for rcpt in ("nobody@example.org", "get+xx@example.org", "get@Responder.test"):
            r = send(rcpt, "refused")
            R.check("RCPT TO:<%s> not in the maps: 550" % rcpt,
                    r is not None and r[0] == 550, r)
        check_classify(env, spool, rcpts)

        # absolute values with virtual_mailbox_base = /
        rc, out, err = run(["postfix-maps", "-c", env.settings, "--postmap"], env=pm_env)
        R.check("postfix-maps --postmap (absolute values)", rc == 0, (rc, out, err))
        subprocess.run([POSTCONF, "-c", pfx.conf, "-e", "virtual_mailbox_base = /"],
                       check=True)
        p = pfx.cmd("reload")
        R.eq("postfix reload", p.returncode, 0)
        time.sleep(1)
        rcpts = ["Get@example.org", "get+fa@example.org", "info@responder.test"]
        check_delivered(env, mail, deliver_round(pfx, mail, rcpts, "absolute"), "absolute")
    finally:
        if pfx.started:
            pfx.stop()
        pfx.dump_log_on_failure(failed_before)
        log = pfx.log()
        env.close()
        shutil.rmtree(top, ignore_errors=True)
    R.check("postfix log shows no fatal or panic", "fatal" not in log
            and "panic" not in log, "\n".join(l for l in log.splitlines()
                                              if "fatal" in l or "panic" in l))


def check_classify(env, spool, rcpts):
    """The responder reads the requested address from what Postfix wrote."""
    newdir = os.path.join(spool, "new")
    files = sorted(os.path.join(newdir, n) for n in os.listdir(newdir))
    rc, out, err = run(["classify", "-c", env.settings] + files)
    got = sorted((v["requested"], v["reason"]) for v in map(json.loads, out.splitlines()))
    want = sorted((r.lower(), "complaint" if r == COMPLAINTS else "replied") for r in rcpts)
    R.eq("classify of the delivered files: requested address and reason",
         (rc, got), (0, want))


def subst(text, pairs):
    """Apply (old, new) replacements; each old must occur."""
    for a, b in pairs:
        R.check("sample run: the sample has %r" % a.strip(), a in text)
        text = text.replace(a, b)
    return text


def test_sample_runs():
    """The samples themselves, moved to loopback ports and temp paths,
    deliver requests into the spool and accept replies on the send smtpd."""
    if not HAVE_POSTFIX:
        skip("the samples run", "postfix not installed")
        return
    if port_open(SAMPLE_PORTS[0]) or port_open(SAMPLE_PORTS[1]):
        R.check("ports %r are free" % (SAMPLE_PORTS,), False)
        return
    top = tempfile.mkdtemp(prefix="mr-pfsample-")
    os.chmod(top, 0o755)
    spool = os.path.join(top, "mail", "responder")
    for d in (os.path.dirname(spool), spool) + tuple(
            os.path.join(spool, x) for x in ("tmp", "new", "cur")):
        os.mkdir(d, 0o700)
        shutil.chown(d, 65534, 65534)
    env = new_env({"spool": spool})
    os.chmod(env.dir, 0o755)
    failed_before = R.failed
    maps = os.path.realpath(env.dir)
    pfx = PrivatePostfix(top, maps, "/")
    main = subst(sample("main.cf.sample"), [
        ("/etc/mailresponder/", maps + "/"),
        ("inet_interfaces = all", "inet_interfaces = 127.0.0.1"),
        ("inet_protocols = all", "inet_protocols = ipv4"),
        ("mynetworks = 127.0.0.0/8 [::1]/128", "mynetworks = 127.0.0.0/8"),
        ("static:998", "static:65534"),
        ("alias_maps = hash:/etc/aliases", "alias_maps ="),
        ("alias_database = hash:/etc/aliases", "alias_database ="),
        ("smtpd_tls_security_level = may", "smtpd_tls_security_level = none"),
        ("hash:/etc/postfix/virtual", "hash:%s/virtual" % pfx.conf)])
    main += ("\nqueue_directory = %(pf)s/spool\ndata_directory = %(pf)s/data\n"
             "maillog_file_prefixes = /var, /dev/stdout, /tmp\n"
             "maillog_file = %(pf)s/postfix.log\n"
             "# nothing leaves this host: relayed mail is discarded\n"
             "default_transport = discard:test\n" % {"pf": pfx.pf})
    master = subst(sample("master.cf.sample"), [
        ("\nsmtp      inet", "\n127.0.0.1:%d inet" % SAMPLE_PORTS[0]),
        ("\n127.0.0.1:2525 inet", "\n127.0.0.1:%d inet" % SAMPLE_PORTS[1])])
    write_main_cf(pfx.conf, main)
    with open(os.path.join(pfx.conf, "master.cf"), "w") as f:
        f.write(master)
    with open(os.path.join(pfx.conf, "virtual"), "w") as f:
        f.write(sample("virtual.sample"))
    try:
        p = subprocess.run(["/usr/sbin/postmap", "-c", pfx.conf,
                            "hash:" + os.path.join(pfx.conf, "virtual")],
                           capture_output=True, text=True)
        R.check("sample run: postmap virtual.sample", p.returncode == 0, p.stderr)
        rc, out, err = run(["postfix-maps", "-c", env.settings, "--postmap"],
                           env={"MAIL_CONFIG": pfx.conf})
        R.check("sample run: postfix-maps --postmap", rc == 0, (rc, out, err))
        p = pfx.cmd("check")
        R.check("sample run: postfix check", p.returncode == 0, p.stderr)
        if not R.check("sample run: Postfix started", pfx.start_ports(SAMPLE_PORTS),
                       pfx.log()):
            return
        got = deliver_round(pfx, os.path.dirname(spool),
                            ["get@example.org", "Get+FA@Example.org"], "sample",
                            port=SAMPLE_PORTS[0])
        check_delivered(env, os.path.dirname(spool), got, "sample run")
        r = send("nobody@example.org", "sample-refused", port=SAMPLE_PORTS[0])
        R.check("sample run: unknown address refused with 550",
                r is not None and r[0] == 550, r)
        r = send("someone@requester.test", "sample-reply", port=SAMPLE_PORTS[1])
        R.eq("sample run: the send smtpd accepts a reply from loopback", r, None)
    finally:
        if pfx.started:
            pfx.stop()
        pfx.dump_log_on_failure(failed_before)
        env.close()
        shutil.rmtree(top, ignore_errors=True)


def main():
    test_files()
    test_base()
    test_usage()
    test_postmap()
    test_samples()
    test_private_postfix()
    test_sample_runs()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
