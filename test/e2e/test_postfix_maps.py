"""End-to-end: mailresponder postfix-maps, the Postfix samples, and a
private Postfix (test/e2e/postfix.py, components.md section 2) that uses
the written tables to deliver requests into the spool; --if-changed with
the responder config in a file and in S3 (the stand-in of awsstub.py),
and the cron line that reloads Postfix only after a change.

Loopback only, on free ports the kernel picks; nothing is sent out. Each
instance is stopped with "postfix -c DIR stop", then by its master's pid.
"""
import email
import email.policy
import json
import os
import shutil
import smtplib
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import Env, Results, BIN, ROOT
from postfix import Postfix, PostfixError, free_ports

R = Results()
POSTFIX = "/usr/sbin/postfix"
POSTMAP = "/usr/sbin/postmap"
POSTCONF = "/usr/sbin/postconf"
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

def new_postfix(top, mapdir, **kw):
    """The harness's Postfix whose only addresses and domains are the ones
    postfix-maps wrote into mapdir; no send smtpd, no relaying for
    loopback clients either (a domain not listed is refused)."""
    os.makedirs(top, exist_ok=True)
    os.chmod(top, 0o755)  # virtual(8) runs as 65534, smtpd as postfix
    os.chmod(mapdir, 0o755)  # smtpd (user postfix) reads the tables there
    pf = Postfix(top, domains=(), vmailbox_lines=(), send=False,
                 maps_dir=mapdir, myhostname="mx.feas.test",
                 extra_main_cf="smtpd_relay_restrictions = reject_unauth_destination",
                 **kw)
    pf.configure()  # postmap reads its main.cf
    return pf


def start(pf):
    try:
        pf.start()
        return R.check("private Postfix started on 127.0.0.1:%d" % pf.inbound_port, True)
    except PostfixError as e:
        return R.check("private Postfix started", False, "%s\n%s" % (e, pf.log_text()[-3000:]))


def dump_log_on_failure(pf, failed_before):
    if R.failed > failed_before:
        for line in pf.log_text().splitlines()[-25:]:
            print("#   log: %s" % line)


def log_clean(pf):
    log = pf.log_text()
    R.check("postfix log shows no fatal or panic", "fatal" not in log
            and "panic" not in log, "\n".join(l for l in log.splitlines()
                                              if "fatal" in l or "panic" in l))


def send(rcpt, marker, port):
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


def deliver_round(pf, spool, rcpts, tag, port=None):
    """Send to every rcpt, wait for the files; {rcpt: message or None}."""
    newdir = os.path.join(spool, "new")
    before = set(os.listdir(newdir))
    for i, rcpt in enumerate(rcpts):
        r = send(rcpt, "%s-%d" % (tag, i), port or pf.inbound_port)
        R.eq("SMTP accepts RCPT TO:<%s> (%s)" % (rcpt, tag), r, None)
    if len(wait_new(newdir, len(before) + len(rcpts), 10)) < len(before) + len(rcpts):
        # a delivery deferred while a reload was restarting virtual(8)
        # waits for the next queue run: ask for it now
        subprocess.run(["/usr/sbin/postqueue", "-c", pf.conf, "-f"],
                       capture_output=True, timeout=60)
        wait_new(newdir, len(before) + len(rcpts))
    got = delivered(newdir)
    return {rcpt: got.get("%s-%d" % (tag, i), (None, None))[1]
            for i, rcpt in enumerate(rcpts)}


def landed(spool, msgs, tag):
    newdir = os.path.join(spool, "new")
    for rcpt, m in msgs.items():
        if not R.check("%s: %s landed in <spool>/new/" % (tag, rcpt), m is not None,
                       "files: %r" % os.listdir(newdir)):
            continue
        R.eq("%s: X-Original-To of %s" % (tag, rcpt),
             str(m["X-Original-To"]).lower(), rcpt.lower())


def stop_all(pf, env, top, failed_before, check_log=True):
    """The end of a test with a private Postfix: stop it (its log tail on a
    failure since failed_before, and with check_log no fatal or panic in
    it), close env, remove top."""
    if pf:
        pf.stop()
        dump_log_on_failure(pf, failed_before)
        if check_log:
            log_clean(pf)
    if env:
        env.close()
    shutil.rmtree(top, ignore_errors=True)


def responder_spool(env, pf, more=None):
    """The responder's Maildir in pf, made the spool in env's settings
    (with the settings in more)."""
    spool = pf.make_maildir("responder")
    with open(env.settings) as f:
        settings = json.loads(f.read().split("\n", 1)[1])
    settings["spool"] = spool
    settings.update(more or {})
    with open(env.settings, "w") as f:
        json.dump(settings, f)
    return spool


def test_private_postfix():
    if not HAVE_POSTFIX:
        skip("private Postfix delivering with the written tables", "postfix not installed")
        return
    top = tempfile.mkdtemp(prefix="mr-pfmaps-")
    env = None
    pf = None
    failed_before = R.failed
    try:
        env = new_env()
        pf = new_postfix(top, os.path.realpath(env.dir))
        spool = responder_spool(env, pf)
        rc, out, err = run(["postfix-maps", "-c", env.settings, "--base", pf.mail,
                            "--postmap"], env=pf.env())
        R.check("postfix-maps --base --postmap for the private Postfix", rc == 0,
                (rc, out, err))
        R.eq("values relative to virtual_mailbox_base",
             lines(os.path.join(env.dir, "virtual_mailbox_maps"))[0],
             "complaints@reports.example.net responder/")
        if not start(pf):
            return
        rcpts = ["get@example.org", "GET@Example.ORG", "get+fa@example.org",
                 "Get+FA@EXAMPLE.org", "help@example.org", "info@responder.test",
                 "INFO@responder.test", COMPLAINTS]
        landed(spool, deliver_round(pf, spool, rcpts, "base"), "base")
        for rcpt in ("nobody@example.org", "get+xx@example.org", "get@Responder.test"):
            r = send(rcpt, "refused", pf.inbound_port)
            R.check("RCPT TO:<%s> not in the maps: 550" % rcpt,
                    r is not None and r[0] == 550, r)
        classified(env, spool, rcpts)

        # absolute values with virtual_mailbox_base = /
        rc, out, err = run(["postfix-maps", "-c", env.settings, "--postmap"], env=pf.env())
        R.check("postfix-maps --postmap (absolute values)", rc == 0, (rc, out, err))
        pf.postconf("virtual_mailbox_base = /")
        pf.reload()
        time.sleep(1)
        rcpts = ["Get@example.org", "get+fa@example.org", "info@responder.test"]
        landed(spool, deliver_round(pf, spool, rcpts, "absolute"), "absolute")
    finally:
        stop_all(pf, env, top, failed_before)


def classified(env, spool, rcpts):
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
    top = tempfile.mkdtemp(prefix="mr-pfsample-")
    os.chmod(top, 0o755)
    env = None
    pf = None
    failed_before = R.failed
    try:
        inbound, reply = free_ports(2)  # the samples' :25 and :2525, moved
        pf = Postfix(top, inbound_port=inbound, send_port=reply,
                     vmailbox_lines=())
        spool = pf.make_maildir("responder")
        env = new_env({"spool": spool})
        os.chmod(env.dir, 0o755)
        maps = os.path.realpath(env.dir)
        pf.main_cf_text = subst(sample("main.cf.sample"), [
            ("/etc/mailresponder/", maps + "/"),
            ("inet_interfaces = all", "inet_interfaces = 127.0.0.1"),
            ("inet_protocols = all", "inet_protocols = ipv4"),
            ("mynetworks = 127.0.0.0/8 [::1]/128", "mynetworks = 127.0.0.0/8"),
            ("static:998", "static:65534"),
            ("alias_maps = hash:/etc/aliases", "alias_maps ="),
            ("alias_database = hash:/etc/aliases", "alias_database ="),
            ("smtpd_tls_security_level = may", "smtpd_tls_security_level = none"),
            ("hash:/etc/postfix/virtual", "hash:%s/virtual" % pf.conf)]) + (
            "\nqueue_directory = %s\ndata_directory = %s\n"
            "maillog_file_prefixes = /var, /dev/stdout, /tmp\n"
            "maillog_file = %s\n"
            "# nothing leaves this host: relayed mail is discarded\n"
            "default_transport = discard:test\n" % (pf.spool, pf.data, pf.log))
        pf.master_cf_text = subst(sample("master.cf.sample"), [
            ("\nsmtp      inet", "\n127.0.0.1:%d inet" % inbound),
            ("\n127.0.0.1:2525 inet", "\n127.0.0.1:%d inet" % reply)])
        pf.configure()
        with open(os.path.join(pf.conf, "virtual"), "w") as f:
            f.write(sample("virtual.sample"))
        p = subprocess.run([POSTMAP, "-c", pf.conf, "hash:" + os.path.join(pf.conf, "virtual")],
                           capture_output=True, text=True)
        R.check("sample run: postmap virtual.sample", p.returncode == 0, p.stderr)
        rc, out, err = run(["postfix-maps", "-c", env.settings, "--postmap"], env=pf.env())
        R.check("sample run: postfix-maps --postmap", rc == 0, (rc, out, err))
        p = subprocess.run([POSTFIX, "-c", pf.conf, "check"], capture_output=True, text=True)
        R.check("sample run: postfix check", p.returncode == 0, p.stderr)
        try:
            pf.start()
        except PostfixError as e:
            R.check("sample run: Postfix started", False, "%s\n%s" % (e, pf.log_text()))
            return
        R.check("sample run: Postfix started", True)
        got = deliver_round(pf, spool, ["get@example.org", "Get+FA@Example.org"], "sample")
        landed(spool, got, "sample run")
        r = send("nobody@example.org", "sample-refused", inbound)
        R.check("sample run: unknown address refused with 550",
                r is not None and r[0] == 550, r)
        r = send("someone@requester.test", "sample-reply", reply)
        R.eq("sample run: the send smtpd accepts a reply from loopback", r, None)
    finally:
        stop_all(pf, env, top, failed_before, check_log=False)


# --- --if-changed ----------------------------------------------------------

def file_id(path):
    """(inode, mtime ns) of path, None when absent: a rewrite (a rename
    over it) changes the inode."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def table_ids(mapdir):
    return {n: file_id(os.path.join(mapdir, n)) for n in
            ("virtual_mailbox_maps", "virtual_mailbox_maps.db", "virtual_mailbox_domains")}


def counting_postmap(top):
    """An MR_POSTMAP that records each run, then runs the real postmap."""
    script = os.path.join(top, "postmap-counting")
    calls = os.path.join(top, "postmap-calls")
    write_script(script, 'echo "$@" >> "%s"\nexec %s "$@"\n' % (calls, POSTMAP))
    return script, calls


def count_lines(path):
    try:
        return len(lines(path))
    except FileNotFoundError:
        return 0


def test_if_changed_files():
    """--if-changed against the files alone (no Postfix): what counts as a
    change and what does not."""
    env = new_env()
    try:
        base = os.path.realpath(env.dir)
        maps = os.path.join(base, "virtual_mailbox_maps")
        doms = os.path.join(base, "virtual_mailbox_domains")
        args = ["postfix-maps", "-c", env.settings, "--if-changed"]
        rc, out, err = run(args)
        R.check("--if-changed, no tables yet: written, exit 0",
                rc == 0 and lines(maps) == maps_lines(base + "/spool/"), (rc, out, err))
        ids = table_ids(base)
        rc, out, err = run(args)
        R.check("--if-changed, tables current: exit 3, 'unchanged' on stdout, "
                "nothing on stderr", rc == 3 and "%s: unchanged, 5 addresses, 3 domains"
                % maps in out and err == "", (rc, out, err))
        R.eq("--if-changed, tables current: neither file replaced", table_ids(base), ids)

        # bodies, order and case of the entries are not table lines
        with open(os.path.join(env.dir, "responses.json"), "w") as f:
            json.dump([entry(e["email_addr"].upper(), "a new body")
                       for e in reversed(RESPONSES)], f)
        rc, out, err = run(args)
        R.eq("--if-changed, bodies, order and case changed: exit 3", (rc, err), (3, ""))
        R.eq("--if-changed, bodies changed: neither file replaced", table_ids(base), ids)

        for name, change in (
                ("domain list removed", lambda: os.unlink(doms)),
                ("maps file edited by hand",
                 lambda: open(maps, "a").write("x@example.org spool/\n")),
                ("maps file truncated", lambda: open(maps, "w").close())):
            change()
            rc, out, err = run(args)
            R.check("--if-changed, %s: rewritten, exit 0" % name,
                    rc == 0 and lines(maps) == maps_lines(base + "/spool/")
                    and lines(doms) == DOMAINS, (rc, out, err))
        rc, out, err = run(args + ["--base", base])
        R.check("--if-changed, another --base (other values): rewritten, exit 0",
                rc == 0 and lines(maps) == maps_lines("spool/"), (rc, out, err))

        # --postmap: the .db must not be older than the maps file
        conf = os.path.join(base, "pfconf")
        write_main_cf(conf, "# postmap only needs a main.cf to exist\n")
        script, calls = counting_postmap(base)
        pm = {"MAIL_CONFIG": conf, "MR_POSTMAP": script}
        rc, out, err = run(args + ["--base", base, "--postmap"], env=pm)
        R.check("--if-changed --postmap, no .db yet: postmap runs, exit 0",
                rc == 0 and count_lines(calls) == 1 and os.path.isfile(maps + ".db"),
                (rc, out, err))
        rc, out, err = run(args + ["--base", base, "--postmap"], env=pm)
        R.check("--if-changed --postmap, current: exit 3, postmap not run",
                rc == 3 and count_lines(calls) == 1, (rc, out, err))
        with open(os.path.join(env.dir, "responses.json"), "w") as f:
            json.dump(RESPONSES + [entry("new@example.org")], f)
        rc, out, err = run(args + ["--base", base, "--postmap"],
                           env={"MAIL_CONFIG": conf, "MR_POSTMAP": "/bin/false"})
        R.check("an address added, postmap fails: exit 2, maps file written",
                rc == 2 and "new@example.org spool/" in lines(maps), (rc, out, err))
        rc, out, err = run(args + ["--base", base, "--postmap"], env=pm)
        R.check("--if-changed after that failure: the .db is older, postmap runs "
                "again, exit 0", rc == 0 and count_lines(calls) == 2, (rc, out, err))
        p = subprocess.run([POSTMAP, "-c", conf, "-q", "new@example.org", "hash:" + maps],
                           capture_output=True, text=True)
        R.eq("the rebuilt .db has the added address", (p.returncode, p.stdout.strip()),
             (0, "spool/"))
        rc, out, err = run(args + ["--base", base, "--postmap"], env=pm)
        R.check("--if-changed once more: exit 3", rc == 3 and count_lines(calls) == 2,
                (rc, out, err))
    finally:
        env.close()


def cron_line():
    """The postfix-maps command of the cron sample (after the user)."""
    with open(os.path.join(ROOT, "cron", "mailresponder.cron")) as f:
        for line in f:
            if not line.startswith("#") and "postfix-maps" in line:
                return line.rstrip("\n").split("\t")[-1]
    return None


def run_cron_line(cmd, env, pf, extra_env=None):
    """The sample's command with this instance's paths: our binary, our
    settings, postfix -c <conf>. (rc, out, err, reloaded)."""
    cmd = cmd.replace("/etc/mailresponder/settings.json", env.settings) \
             .replace("mailresponder postfix-maps", BIN + " postfix-maps") \
             .replace("postfix reload", "%s -c %s reload" % (POSTFIX, pf.conf))
    e = dict(os.environ)
    e.pop("MR_POSTMAP", None)
    e.update(pf.env())
    e.update(extra_env or {})
    off = pf.log_size()
    p = subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True, env=e,
                       timeout=120, stdin=subprocess.DEVNULL)
    reloaded = False
    end = time.time() + 5
    while p.returncode == 0 and not reloaded and time.time() < end:
        reloaded = "reload" in pf.log_since(off)
        time.sleep(0.1)
    if p.returncode != 0:
        time.sleep(0.5)  # a reload that should not happen would show by now
        reloaded = "reload" in pf.log_since(off)
    return p.returncode, p.stdout, p.stderr, reloaded


def if_changed_against_postfix(label, env, pf, set_responses, extra_env):
    """The shared scenario: tables written, Postfix up; bodies changed ->
    nothing; addresses added (one in a new domain) -> rewritten, postmap,
    reload, and Postfix accepts them."""
    spool = pf.maildir("responder")
    mapdir = os.path.realpath(env.dir)
    script, calls = counting_postmap(mapdir)
    pm_env = dict(pf.env(), MR_POSTMAP=script, **extra_env)
    args = ["postfix-maps", "-c", env.settings, "--if-changed", "--postmap"]
    rc, out, err = run(args, env=pm_env)
    R.check("%s: first --if-changed --postmap writes, exit 0" % label,
            rc == 0 and count_lines(calls) == 1, (rc, out, err))
    if not start(pf):
        return
    for rcpt in ("new@example.org", "hello@added.example"):
        code, text = pf.rcpt(rcpt)
        R.check("%s: before: RCPT TO:<%s> refused (%d)" % (label, rcpt, code),
                code in (550, 554), text)
    R.eq("%s: before: RCPT TO:<get@example.org> accepted" % label,
         pf.rcpt("get@example.org")[0], 250)

    ids = table_ids(mapdir)
    set_responses([entry(e["email_addr"], "a new body, same addresses")
                   for e in RESPONSES])
    t0 = time.monotonic()
    rc, out, err = run(args, env=pm_env)
    dt = time.monotonic() - t0
    print("# %s: unchanged --if-changed --postmap run: %.1f ms" % (label, dt * 1000))
    R.check("%s: only bodies changed: exit 3, 'unchanged'" % label,
            rc == 3 and "unchanged" in out and err == "", (rc, out, err))
    R.eq("%s: only bodies changed: postmap not run" % label, count_lines(calls), 1)
    R.eq("%s: only bodies changed: maps, .db and domains keep inode and mtime" % label,
         table_ids(mapdir), ids)
    rc, out, err, reloaded = run_cron_line(CRON, env, pf, dict(extra_env, MR_POSTMAP=script))
    R.check("%s: the cron line, nothing changed: exit 3, silent, no reload" % label,
            rc == 3 and out == "" and err == "" and not reloaded, (rc, out, err, reloaded))
    R.eq("%s: the cron line, nothing changed: postmap not run" % label, count_lines(calls), 1)

    set_responses(RESPONSES + [entry("New@Example.org"), entry("hello@added.example")])
    rc, out, err, reloaded = run_cron_line(CRON, env, pf, dict(extra_env, MR_POSTMAP=script))
    R.check("%s: the cron line, addresses added: exit 0, Postfix reloaded, "
            "nothing on stderr" % label, rc == 0 and reloaded and err == "",
            (rc, out, err, reloaded))
    R.eq("%s: addresses added: postmap ran once more" % label, count_lines(calls), 2)
    now = table_ids(mapdir)
    R.check("%s: addresses added: maps, .db and domains replaced" % label,
            all(now[n] != ids[n] for n in now), (ids, now))
    R.check("%s: the new domain is listed" % label,
            "added.example" in lines(os.path.join(mapdir, "virtual_mailbox_domains")))
    for rcpt in ("new@example.org", "hello@added.example"):
        code, text = pf.rcpt(rcpt)
        R.check("%s: after: RCPT TO:<%s> accepted (%d)" % (label, rcpt, code),
                code == 250, text)
    landed(spool, deliver_round(pf, spool, ["hello@added.example"], label), label)
    rc, out, err = run(args, env=pm_env)
    R.check("%s: once more: exit 3, postmap not run" % label,
            rc == 3 and count_lines(calls) == 2, (rc, out, err))


def test_if_changed_postfix():
    """--if-changed and the cron line with a responder config file."""
    if not HAVE_POSTFIX:
        skip("--if-changed against a private Postfix", "postfix not installed")
        return
    top = tempfile.mkdtemp(prefix="mr-pfmaps-ic-")
    env = pf = None
    failed_before = R.failed
    try:
        env = new_env()
        pf = new_postfix(top, os.path.realpath(env.dir), mailbox_base="/")
        spool = responder_spool(env, pf)

        def set_responses(r):
            with open(os.path.join(env.dir, "responses.json"), "w") as f:
                json.dump(r, f)
        if_changed_against_postfix("file", env, pf, set_responses, {})
    finally:
        stop_all(pf, env, top, failed_before)


def test_if_changed_s3():
    """--if-changed with the responder config in S3 (the stand-in checks
    each request's SigV4 signature)."""
    if not HAVE_POSTFIX:
        skip("--if-changed with an S3 config against a private Postfix",
             "postfix not installed")
        return
    from awsstub import Stub, write_creds
    top = tempfile.mkdtemp(prefix="mr-pfmaps-s3-")
    os.chmod(top, 0o755)  # Postfix's users get through to top/pf
    secret = "pfmapsSecretKey%08d" % os.getpid()
    key = "AKIAPFMAPS000001"
    creds = os.path.join(top, "stub-creds.json")
    aws = write_creds(creds, key, secret)
    stub = Stub(os.path.join(top, "stub"), creds).start()
    env = pf = None
    failed_before = R.failed
    try:
        env = new_env()
        pf = new_postfix(os.path.join(top, "pf"), os.path.realpath(env.dir),
                         mailbox_base="/")
        responder_spool(env, pf, {
            "responder_config": "s3://fleet/responses.json",
            "s3": {"endpoint": stub.url(), "region": "us-east-1",
                   "cache_dir": "s3cache", "refresh_s": 0, "timeout_s": 10}})
        os.unlink(os.path.join(env.dir, "responses.json"))  # S3 only

        def set_responses(r):
            stub.s3_put("fleet", "responses.json", json.dumps(r))
        set_responses(RESPONSES)
        n0 = len(stub.s3_requests())
        if_changed_against_postfix("s3", env, pf, set_responses, aws)
        reqs = stub.s3_requests()[n0:]
        R.check("s3: every run fetched the config, signatures accepted (%d requests)"
                % len(reqs), len(reqs) == 5 and all(r["status"] == 200 for r in reqs),
                [(r["path"], r["status"]) for r in reqs])

        ids = table_ids(os.path.realpath(env.dir))
        stub.stop()
        rc, out, err = run(["postfix-maps", "-c", env.settings, "--if-changed", "--postmap"],
                           env=dict(pf.env(), **aws))
        R.check("s3: S3 down, nothing cached: exit 2 (runtime), says so",
                rc == 2 and "fleet/responses.json" in err, (rc, out, err))
        R.eq("s3: S3 down: the tables are left alone", table_ids(os.path.realpath(env.dir)),
             ids)
    finally:
        stub.stop()
        stop_all(pf, env, top, failed_before)


CRON = cron_line()


def test_cron_sample():
    R.check("the cron sample has a postfix-maps --if-changed line ending in "
            "'&& postfix reload'", CRON is not None and "--if-changed" in CRON
            and "--postmap" in CRON and CRON.endswith("&& postfix reload"), CRON)


def main():
    test_files()
    test_base()
    test_usage()
    test_postmap()
    test_samples()
    test_private_postfix()
    test_sample_runs()
    test_cron_sample()
    test_if_changed_files()
    test_if_changed_postfix()
    test_if_changed_s3()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
