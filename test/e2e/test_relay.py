"""End-to-end: replies through a remote relay (a smart host) instead of
the local Postfix: smtp_url with STARTTLS required, SMTP AUTH with the
password from a file others cannot read, and a private CA.

The relay is a private Postfix on 127.0.0.1 (test/e2e/postfix.py) whose
send smtpd requires STARTTLS (smtpd_tls_security_level = encrypt) with a
certificate issued by a CA made here with openssl, and SASL (Cyrus,
sasldb made with saslpasswd2) before it relays anything. The replies it
takes land in a sink Maildir; its log shows the TLS session and the SASL
login. Each failure - wrong password, the system CAs instead of the
private one, a server that offers no STARTTLS, a password file others can
read, a user without TLS - must send nothing and say why.
"""
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import Env, Results, default_responses, msg
from postfix import Postfix, PostfixError, free_ports

R = Results()
PASSWORD = "s3cret-relay-pw"
REALM = "relay.test"


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, check=True, **kw)


def make_ca(d):
    """A private CA and a server certificate for 127.0.0.1 signed by it."""
    ca_key, ca, key, csr, crt = (os.path.join(d, n) for n in
                                 ("ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem"))
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
         "-out", ca, "-days", "2", "-subj", "/CN=mailresponder test private CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
         "-out", csr, "-subj", "/CN=" + REALM])
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:%s\nextendedKeyUsage=serverAuth\n"
                "basicConstraints=CA:FALSE\n" % REALM)
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
         "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext])
    os.chmod(key, 0o600)
    return ca, crt, key


def make_sasldb(d, sasl):
    """sasldb with relayuser; smtpd.conf in sasl (Debian's Postfix reads
    <config_directory>/sasl/smtpd.conf, upstream's cyrus_sasl_config_path:
    the test sets both to this folder)."""
    os.makedirs(sasl)
    db = os.path.join(d, "sasldb2")
    run(["/usr/sbin/saslpasswd2", "-p", "-c", "-f", db, "-u", REALM, "relayuser"],
        input=PASSWORD.encode())
    shutil.chown(db, "root", "postfix")
    os.chmod(db, 0o640)
    with open(os.path.join(sasl, "smtpd.conf"), "w") as f:
        f.write("pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
                "mech_list: PLAIN LOGIN\nsasldb_path: %s\n" % db)
    return sasl


def relay_env(port, ca, extra=None, pw_mode=0o640, password=PASSWORD):
    s = {"transport_override": None, "smtp_url": "smtp://127.0.0.1:%d" % port,
         "smtp_starttls": True, "smtp_user": "relayuser", "smtp_password_file": "relay.pw",
         "smtp_ca_file": ca}
    s.update(extra or {})
    env = Env(settings={k: v for k, v in s.items() if v is not None or k == "transport_override"},
              responses=[e for e in default_responses() if e["send_method"] == "SMTP"])
    pw = os.path.join(env.dir, "relay.pw")
    with open(pw, "w") as f:
        f.write(password + "\n")
    os.chmod(pw, pw_mode)
    return env


def wait_sink(pf, n, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end and len(pf.sink_files()) < n:
        time.sleep(0.1)
    return pf.sink_files()


def one_request(env, tag):
    name = env.deliver(msg(frm="Requester <req-%s@requester.test>" % tag,
                           subject="relay " + tag))
    rc, out, err = env.run("drain", timeout=300)
    return name, rc, out, err


def main():
    if not os.path.exists("/usr/sbin/postfix") or not os.path.exists("/usr/sbin/saslpasswd2"):
        print("skip - relay: postfix or sasl2-bin missing")
        return
    top = tempfile.mkdtemp(prefix="mr-relay-")
    os.chmod(top, 0o755)
    ca, crt, key = make_ca(top)
    in_port, send_port = free_ports(2)
    sasl = os.path.join(top, "pf", "postfix", "conf", "sasl")
    make_sasldb(top, sasl)
    pf = Postfix(os.path.join(top, "pf"), inbound_port=in_port, send_port=send_port,
                 extra_main_cf="cyrus_sasl_config_path = %s\nsmtpd_tls_loglevel = 1\n" % sasl,
                 send_opts=["smtpd_tls_cert_file=" + crt, "smtpd_tls_key_file=" + key,
                            "smtpd_tls_security_level=encrypt", "smtpd_tls_auth_only=yes",
                            "smtpd_sasl_auth_enable=yes", "smtpd_sasl_type=cyrus",
                            "smtpd_sasl_path=smtpd", "smtpd_sasl_local_domain=" + REALM,
                            "smtpd_relay_restrictions=permit_sasl_authenticated,reject",
                            "smtpd_recipient_restrictions=permit_sasl_authenticated,reject"])
    envs = []
    try:
        try:
            pf.start()
            R.eq("the harness's config folder holds smtpd.conf",
                 os.path.join(pf.conf, "sasl"), sasl)
        except PostfixError as e:
            R.check("relay Postfix started", False, "%s\n%s" % (e, pf.log_text()[-2000:]))
            return

        # --- the good case: STARTTLS, private CA, AUTH
        env = relay_env(send_port, ca)
        envs.append(env)
        rc, out, err = env.run("config-check")
        R.check("config-check ok with the relay settings", rc == 0, out + err)
        name, rc, out, err = one_request(env, "good")
        R.eq("request answered through the relay", env.state_of(name), "replied")
        R.eq("two replies in the relay's sink", len(wait_sink(pf, 2)), 2)
        log = pf.log_text()
        R.check("relay log: TLS session on the send smtpd",
                re.search(r"postfix/send/smtpd\[\d+\]: .*TLS connection established", log)
                is not None, log[-1500:])
        R.check("relay log: SASL login as relayuser",
                re.search(r"sasl_method=(PLAIN|LOGIN), sasl_username=relayuser", log)
                is not None, log[-1500:])
        with open(env.events) as f:
            events = f.read()
        R.check("no password in events or output", PASSWORD not in events + out + err)

        # --- failures: nothing sent, the request waits (retry), the reason named
        cases = [
            ("wrong password", relay_env(send_port, ca, password="not-the-password"),
             "auth"),
            ("system CAs instead of the private CA",
             relay_env(send_port, ca, extra={"smtp_ca_file": None}), "certificate|SSL|TLS"),
            ("a server without STARTTLS", relay_env(in_port, ca), "SSL|TLS|STARTTLS"),
        ]
        for what, e, why in cases:
            envs.append(e)
            before = len(pf.sink_files())
            name, rc, out, err = one_request(e, re.sub(r"\W", "", what))
            time.sleep(1)  # what the relay took would be in the sink by now
            pf.wait_queue_empty(30)
            ev = e.events_list()
            R.check("%s: nothing sent" % what, len(pf.sink_files()) == before,
                    pf.sink_files())
            R.check("%s: the request waits for a retry" % what,
                    e.state_of(name) == "new" and ev and ev[-1]["outcome"] == "retry",
                    (e.state_of(name), ev[-1:], out, err))
            R.check("%s: the error says why" % what,
                    ev and re.search(why, ev[-1].get("error", ""), re.I) is not None,
                    ev[-1:])
            R.check("%s: no password in the event log" % what,
                    PASSWORD not in open(e.events).read() and
                    "not-the-password" not in open(e.events).read())

        # --- configuration mistakes are found before anything is sent
        e = relay_env(send_port, ca, pw_mode=0o644)
        envs.append(e)
        rc, out, err = e.run("config-check")
        R.check("config-check: a password file others can read is a problem",
                rc == 1 and "smtp_password_file: " in err and "mode 0644" in err, err)
        before = len(pf.sink_files())
        name, rc, out, err = one_request(e, "openpw")
        ev = e.events_list()
        R.check("a password file others can read: nothing sent, the request waits",
                len(pf.sink_files()) == before and e.state_of(name) == "new" and ev
                and ev[-1]["outcome"] == "retry"
                and "smtp_password_file" in ev[-1].get("error", ""),
                (e.state_of(name), ev[-1:], out, err))
        e = relay_env(send_port, ca, extra={"smtp_starttls": False})
        envs.append(e)
        rc, out, err = e.run("config-check")
        R.check("config-check: smtp_user over a clear smtp:// is refused",
                rc == 1 and "smtp_user: the password would cross the network in clear" in err,
                err)
        e = relay_env(send_port, ca, extra={"smtp_password_file": None})
        envs.append(e)
        rc, out, err = e.run("config-check")
        R.check("config-check: smtp_user without smtp_password_file",
                rc == 1 and "smtp_password_file: needed with smtp_user" in err, err)
        e = relay_env(send_port, ca, extra={"smtp_starttls": "yes"})
        envs.append(e)
        rc, out, err = e.run("config-check")
        R.check("config-check: smtp_starttls must be a boolean",
                rc == 1 and "smtp_starttls: expected true or false" in err, err)
        st = os.stat(os.path.join(envs[0].dir, "relay.pw"))
        R.check("the good case's password file was 0640", stat.S_IMODE(st.st_mode) == 0o640)
    finally:
        pf.stop()
        for e in envs:
            e.close()
        shutil.rmtree(top, ignore_errors=True)


main()
sys.exit(R.done())
