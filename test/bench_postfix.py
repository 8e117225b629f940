"""make bench: requests/s end to end through a real Postfix.

smtp-source submits N requests to a private Postfix on 127.0.0.1, which
delivers them into the spool (maps from `mailresponder postfix-maps`); the
daemon answers each with one DKIM-signed reply (rsa-sha256 +
ed25519-sha256) through Postfix's send smtpd into a sink Maildir. Prints
requests/s from the first submission to the last reply in the sink, and
the share of worker time spent signing (daemon status: sign_us/busy_us).
Prints figures; asserts nothing.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "e2e"))
from mrtest import Env, BIN
from postfix import Postfix, free_port

N = int(os.environ.get("MR_BENCH_PF_N", "2000"))
RESP = [{"email_addr": "get@responder.test",
         "body": [["text/plain", "Links: https://dl.example.org/app.apk\n"],
                  ["text/html", "<p><a href=\"https://dl.example.org/app.apk\">app</a></p>"]],
         "attachments": None, "send_method": "SMTP"}]


def genkey(path, args):
    subprocess.run(["openssl", "genpkey"] + args + ["-out", path], check=True, capture_output=True)
    os.chmod(path, 0o600)


def main(workers):
    env = Env(responses=RESP)
    os.chmod(env.dir, 0o755)
    mapdir = os.path.join(env.dir, "maps")
    os.makedirs(mapdir)
    rsa, ed = os.path.join(env.dir, "rsa.key"), os.path.join(env.dir, "ed.key")
    genkey(rsa, ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
    genkey(ed, ["-algorithm", "ed25519"])

    class MapsPostfix(Postfix):
        def _main_cf(self):
            t = super()._main_cf()
            t = re.sub(r"(?m)^virtual_mailbox_domains = ",
                       "virtual_mailbox_domains = %s/virtual_mailbox_domains, " % mapdir, t)
            return re.sub(r"(?m)^virtual_mailbox_maps = ",
                          "virtual_mailbox_maps = hash:%s/virtual_mailbox_maps, " % mapdir, t)

    inbound, send = free_port(10065), free_port(10066)
    pf = MapsPostfix(os.path.join(env.dir, "pf"), inbound_port=inbound, send_port=send,
                     domains=("requester.test",),
                     vmailbox_lines=("get@responder.test responder/", "@requester.test sink/"))
    daemon = None
    try:
        with open(env.settings) as f:
            s = json.loads(f.read().split("\n", 1)[1])
        s.update({"spool": pf.maildir("responder"), "transport_override": None,
                  "smtp_url": "smtp://127.0.0.1:%d" % send, "daily_limit": 0, "workers": workers,
                  "event_log": "events.jsonl",
                  "dkim": {"domain": "responder.test", "selector": "rsa1", "rsa_key": rsa,
                           "ed25519_key": ed, "ed25519_selector": "ed1"}})
        with open(env.settings, "w") as f:
            json.dump(s, f)
        pf.configure()
        env.run("postfix-maps", "-d", mapdir, "--base", pf.mail, "--postmap",
                env={"MAIL_CONFIG": pf.conf})
        pf.start()
        daemon = subprocess.Popen([BIN, "run", "-c", env.settings],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        t0 = time.monotonic()
        subprocess.run(["/usr/sbin/smtp-source", "-s", "10", "-m", str(N), "-l", "1024",
                        "-f", "someone@requester.test", "-t", "get@responder.test",
                        "127.0.0.1:%d" % inbound], check=True)
        t_in = time.monotonic() - t0
        end = time.monotonic() + 600
        while len(pf.sink_files()) < N and time.monotonic() < end:
            time.sleep(0.02)
        t_all = time.monotonic() - t0
        got = len(pf.sink_files())
        c = None
        for _ in range(20):
            st = subprocess.run([BIN, "status", "-c", env.settings], capture_output=True,
                                text=True).stdout
            if "daemon counters: " in st:
                c = json.loads(st.split("daemon counters: ", 1)[1].splitlines()[0])
                break
            time.sleep(0.2)
        if c is None:
            c = {"sign_us": 0, "busy_us": 0, "handled": 0}
        print("postfix e2e, workers=%s: %d requests submitted by smtp-source in %.2f s; %d replies in the sink "
              "after %.2f s = %.0f requests/s end to end%s"
              % (workers or "cores", N, t_in, got, t_all, got / t_all, "" if got == N else "  (INCOMPLETE)"))
        print("postfix e2e: DKIM signing (rsa-sha256 + ed25519-sha256) %.1f%% of worker time: "
              "%.0f us per reply of %.0f us handling"
              % (100.0 * c["sign_us"] / max(c["busy_us"], 1), c["sign_us"] / max(c["handled"], 1),
                 c["busy_us"] / max(c["handled"], 1)))
    finally:
        if daemon is not None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(60)
        pf.stop()
        env.close()


if __name__ == "__main__":
    main(0)   # the default: one worker per core
    main(8)
