"""End-to-end: classify, config-check, reprocess, blacklist, help."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import Env, Results, msg, BIN, ROOT, default_responses

R = Results()

# --- help and usage ---
p = subprocess.run([BIN, "help"], capture_output=True, text=True)
R.check("help exits 0 and lists the commands", p.returncode == 0 and all(
    c in p.stdout for c in ("drain", "classify", "reprocess", "blacklist", "config-check")), p.stdout)
p = subprocess.run([BIN, "frobnicate"], capture_output=True, text=True)
R.eq("unknown command exits 1", p.returncode, 1)
p = subprocess.run([BIN], capture_output=True, text=True)
R.eq("no command exits 1", p.returncode, 1)

# --- classify changes nothing ---
env = Env()
files = []
for i, (frm, extra) in enumerate([("a@sender.test", []), ("noreply@sender.test", []),
                                  ("b@sender.test", ["Precedence: list"])]):
    path = os.path.join(env.dir, "req%d.eml" % i)
    with open(path, "wb") as f:
        f.write(msg(frm=frm, extra=extra))
    files.append(path)
before = sorted(os.listdir(env.dir))
rc, out, err = env.run("classify", *files, os.path.join(env.dir, "missing.eml"))
R.eq("classify exit code", rc, 0)
lines = [json.loads(l) for l in out.splitlines()]
R.eq("classify: one JSON verdict per file", len(lines), 4)
R.eq("classify: verdicts", [(v["outcome"], v["reason"], v["replies"]) for v in lines[:3]],
     [("replied", "replied", 2), ("ignored", "no-reply-sender", 0), ("ignored", "auto-submitted", 0)])
R.eq("classify: unreadable file", (lines[3]["outcome"], lines[3]["reason"]), ("failed", "unreadable"))
R.eq("classify: requested address", lines[0]["requested"], "get@responder.test")
R.eq("classify created nothing (no store, no key, no event log)", sorted(os.listdir(env.dir)), before)
R.check("classify output holds no sender address", "sender.test" not in out, out)

# after a drain the store exists: classify reads the daily count but does not add to it
for i in range(3):
    env.deliver(msg(frm="a@sender.test", msgid="x%d@sender.test" % i))
env.run("drain")
rc, out, err = env.run("classify", files[0])
R.eq("classify sees the daily limit reached", json.loads(out)["reason"], "rate-limited")
rc, out, err = env.run("blacklist", "show", "a@sender.test")
R.check("classify did not count", "daily count: 3 " in out, out)
env.close()

# --- config-check ---
env = Env(settings={"transport_override": None})
rc, out, err = env.run("config-check")
R.check("config-check reports the SES entry this build cannot send",
        rc == 1 and "entry 2 (get+fa@responder.test): send_method SES" in err, out + err)
env = Env(responses=[e for e in default_responses() if e["send_method"] == "SMTP"])
rc, out, err = env.run("config-check")
R.check("config-check on a good config exits 0", rc == 0 and "ok" in out, out + err)
# the samples, with the attachments they name in a scratch folder
sdir = os.path.join(env.dir, "sample")
for rel in ("app/Example-1.0.apk", "win/Example-Setup-1.0.exe"):
    os.makedirs(os.path.dirname(os.path.join(sdir, "att", "downloads", rel)), exist_ok=True)
    with open(os.path.join(sdir, "att", "downloads", rel), "w") as f:
        f.write("stand-in")
shutil.copy(os.path.join(ROOT, "config", "responses.sample.json"),
            os.path.join(sdir, "responses.json"))
with open(os.path.join(ROOT, "config", "settings.sample.json")) as f:
    sample = f.read()
R.check("sample names /var/lib/mailresponder/attachments",
        '"/var/lib/mailresponder/attachments"' in sample)
subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", os.path.join(sdir, "dkim.key")], check=True, capture_output=True)
os.chmod(os.path.join(sdir, "dkim.key"), 0o600)
R.check("sample names /etc/mailresponder/dkim-rsa.key", '"/etc/mailresponder/dkim-rsa.key"' in sample)
with open(os.path.join(sdir, "settings.json"), "w") as f:
    f.write(sample.replace('"/var/lib/mailresponder/attachments"', '"att"')
            .replace('"/etc/mailresponder/dkim-rsa.key"', '"dkim.key"'))
# the sample has an SES entry: credentials from the environment (and
# never the instance metadata address from a test)
aws_env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIASAMPLE", AWS_SECRET_ACCESS_KEY="sample")
p = subprocess.run([BIN, "config-check", "-c", os.path.join(sdir, "settings.json")],
                   capture_output=True, text=True, env=aws_env)
R.check("config-check on the samples", p.returncode == 0, p.stdout + p.stderr)
p = subprocess.run([BIN, "config-check", "-c", os.path.join(ROOT, "config", "demo", "settings.json")],
                   capture_output=True, text=True)
R.check("config-check on the demo config", p.returncode == 0, p.stdout + p.stderr)
with open(env.settings) as f:
    text = f.read()
bad = text.replace('"daily_limit": 3', '"daily_limit": "three", "dialy_limit": 3').replace(
    '"dkim_policy": "reject-fail"', '"dkim_policy": "sometimes"')
with open(env.settings, "w") as f:
    f.write(bad)
rc, out, err = env.run("config-check")
R.eq("config-check on bad settings exits 1", rc, 1)
for key in ("daily_limit", "dialy_limit", "dkim_policy"):
    R.check("config-check names %s" % key, key in err, err)
with open(env.settings, "w") as f:
    f.write(text)
with open(os.path.join(env.dir, "responses.json"), "w") as f:
    json.dump([{"email_addr": "get@responder.test", "body": "x", "attachments": None, "send_method": "FAX"},
               {"email_addr": "not an address", "body": [["text/plain"]], "attachments": None, "send_method": "SES"},
               {"email_addr": "b@responder.test", "body": "x", "attachments": [["dl", "nope.bin", "nope.bin"]],
                "send_method": "SMTP"}], f)
rc, out, err = env.run("config-check")
R.eq("config-check on a bad responder config exits 1", rc, 1)
R.check("config-check names entry 0 send_method", "entry 0" in err and "send_method" in err, err)
R.check("config-check names entry 1 email_addr and body", "entry 1" in err and "email_addr" in err and "body" in err, err)
rc2, out2, err2 = env.run("drain")
R.eq("drain refuses a broken config with exit 1", rc2, 1)
env.close()

# --- reprocess ---
env = Env()
n1 = env.deliver(msg(frm="r1@sender.test", msgid="r1@sender.test", orig_to=False, delivered_to=False))
n2 = env.deliver(msg(frm="r2@sender.test", msgid="r2@sender.test", orig_to=False, delivered_to=False))
env.run("drain")
R.eq("reprocess: both failed first", [env.state_of(n1), env.state_of(n2)], ["failed", "failed"])
# the operator fixes one message (adds the header) and reprocesses it by name
fp = os.path.join(env.spool, ".Failed", "new", n1)
with open(fp, "rb") as f:
    data = f.read()
with open(fp, "wb") as f:
    f.write(b"X-Original-To: get@responder.test\n" + data)
rc, out, err = env.run("reprocess", os.path.join(env.spool, ".Failed", "new", n1))
R.check("reprocess by name", rc == 0 and "1 message(s) moved" in out, out + err)
R.eq("reprocess: fixed message replied, other still failed", [env.state_of(n1), env.state_of(n2)],
     ["replied", "failed"])
rc, out, err = env.run("reprocess", "no-such-file")
R.eq("reprocess of an unknown name exits 2", rc, 2)
rc, out, err = env.run("reprocess", "--all", "--newer-than", "1d")
R.check("reprocess --all --newer-than 1d", rc == 0 and "1 message(s) moved" in out, out + err)
R.eq("reprocess --all: fails again, back in the failure folder", env.state_of(n2), "failed")
rc, out, err = env.run("reprocess")
R.eq("reprocess without --all or FILE is a usage error", rc, 1)
env.close()

# --- blacklist ---
env = Env()
for args, want in ((["add", "spam.example"], 0), (["add", "x@spam.example"], 0),
                   (["allow", "vip@sender.test"], 0), (["add", "not valid"], 1),
                   (["show"], 1), (["frob", "x@y.test"], 1)):
    rc, out, err = env.run("blacklist", *args)
    R.eq("blacklist %s exit code" % " ".join(args), rc, want)
rc, out, err = env.run("blacklist", "show", "x@spam.example")
R.check("show: blocked address and domain", "blocked address: yes" in out and "blocked domain: yes" in out, out)
name = env.deliver(msg(frm="y@sub.spam.example"))
env.run("drain")
R.eq("a domain blocked in the store blocks its subdomains", env.state_of(name), "ignored")
rc, out, err = env.run("blacklist", "show", "sub.spam.example")
R.check("show: a subdomain is reported blocked by its parent",
        rc == 0 and "blocked domain: yes, by its parent domain spam.example" in out, out + err)
rc, out, err = env.run("blacklist", "show", "y@deep.sub.spam.example")
R.check("show: an address in a sub-subdomain too",
        rc == 0 and "blocked domain: yes, by its parent domain spam.example" in out, out + err)
rc, out, err = env.run("blacklist", "show", "a@x.blocked.test")
R.check("show: a settings-blocked parent is named",
        "blocked domain (settings): yes, by its parent domain blocked.test" in out, out + err)
rc, out, err = env.run("blacklist", "show", "spam.example.org")
R.check("show: a lookalike domain is not blocked", "blocked domain: no" in out, out + err)
rc, out, err = env.run("blacklist", "remove", "x@spam.example")
R.check("remove reports what it removed", rc == 0 and "removed from the blocked list" in out, out)
rc, out, err = env.run("blacklist", "show", "x@spam.example")
R.check("show after remove", "blocked address: no" in out, out)
env.close()

# a single label in the settings' lists covers every domain under it, in
# the policy and in blacklist show alike
env = Env(settings={"exempt_domains": ["test"], "daily_limit": 1})
names = [env.deliver(msg(frm="a@x.sender.test")) for _ in range(2)]
env.run("drain")
R.eq("exempt by a single label: no daily limit",
     [env.state_of(n) for n in names], ["replied", "replied"])
rc, out, err = env.run("blacklist", "show", "a@x.sender.test")
R.check("show: a single-label settings entry is named",
        rc == 0 and "exempt domain (settings): yes, by its parent domain test" in out, out + err)
env.close()
sys.exit(R.done())
