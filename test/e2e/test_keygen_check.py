"""End-to-end: dkim-keygen (keys, modes, DNS records checked against
openssl's own public key output), config-check printing every problem of
a configuration with five different ones, and the records it prints."""
import base64
import json
import os
import re
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import Env, Results, BIN, default_responses, msg

R = Results()


def zone_records(text):
    """{selector: (record, [strings])} from 'S._domainkey.D. IN TXT ( ... )'."""
    out = {}
    for m in re.finditer(r'^(?:DKIM DNS record: )?(\S+)\._domainkey\.(\S+)\. IN TXT \((.*)\)$',
                         text, re.M):
        strings = re.findall(r'"([^"]*)"', m.group(3))
        out[m.group(1)] = ("".join(strings), strings, m.group(2))
    return out


def openssl_p(path, ed):
    der = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"],
                         capture_output=True, check=True).stdout
    return base64.b64encode(der[-32:] if ed else der).decode()


smtp_only = [e for e in default_responses() if e["send_method"] == "SMTP"]
env = Env(settings={"dkim": {"selector": "sel1", "rsa_key": "keys/rsa.key",
                             "ed25519_key": "keys/ed.key", "ed25519_selector": "sel2"}},
          responses=smtp_only)
rc, out, err = env.run("dkim-keygen", "--ed25519", "--rsa-bits", "3072", "-u", "nobody")
R.check("dkim-keygen exits 0", rc == 0, out + err)
rsa = os.path.join(env.dir, "keys", "rsa.key")
ed = os.path.join(env.dir, "keys", "ed.key")
for path in (rsa, ed):
    st = os.lstat(path) if os.path.exists(path) else None
    R.check("%s written root:nogroup 0640" % os.path.basename(path),
            st is not None and stat.S_IMODE(st.st_mode) == 0o640 and st.st_uid == 0
            and st.st_gid == 65534, st)
recs = zone_records(out)
R.eq("two DNS records printed", sorted(recs), ["sel1", "sel2"])
if len(recs) == 2:
    r1, s1, d1 = recs["sel1"]
    r2, s2, d2 = recs["sel2"]
    R.eq("RSA record is openssl's SubjectPublicKeyInfo", r1,
         "v=DKIM1; k=rsa; p=" + openssl_p(rsa, False))
    R.eq("Ed25519 record is the raw 32-byte key", r2,
         "v=DKIM1; k=ed25519; p=" + openssl_p(ed, True))
    R.check("RSA-3072 record split into strings of at most 255 bytes",
            len(s1) >= 2 and all(len(x) <= 255 for x in s1) and len(s1[0]) == 255, s1)
    R.eq("record domain", d1, "responder.test")
    key = subprocess.run(["openssl", "pkey", "-in", rsa, "-text", "-noout"],
                         capture_output=True, text=True).stdout
    R.check("RSA key has 3072 bits", "3072 bit" in key, key[:200])
    rc, out2, err2 = env.run("config-check")
    R.check("config-check ok with the new keys", rc == 0, out2 + err2)
    R.eq("config-check prints the same records", {k: v[0] for k, v in zone_records(out2).items()},
         {"sel1": r1, "sel2": r2})
    before = open(rsa, "rb").read()
    rc, out3, err3 = env.run("dkim-keygen", "--ed25519", "-u", "nobody")
    R.check("dkim-keygen again keeps the keys and prints their records",
            rc == 0 and open(rsa, "rb").read() == before and "kept the existing key" in out3
            and zone_records(out3).get("sel1", ("",))[0] == r1, out3 + err3)
rc, out, err = env.run("dkim-keygen", "--rsa-bits", "512", "-u", "nobody", "-s", "x")
R.check("dkim-keygen refuses 512 bits (key exists: kept) or names the size",
        rc == 0 and "kept" in out, out + err)
env2 = Env(settings={"dkim": {"rsa_key": "k2.key"}}, responses=smtp_only)
rc, out, err = env2.run("dkim-keygen", "--rsa-bits", "512", "-u", "nobody")
R.check("dkim-keygen --rsa-bits 512 exits 1 naming the range",
        rc == 1 and "1024 to 4096" in err and not os.path.exists(os.path.join(env2.dir, "k2.key")),
        out + err)
rc, out, err = env2.run("dkim-keygen", "-u", "no-such-user-mr")
R.check("dkim-keygen with an unknown user exits 1 and says to run setup",
        rc == 1 and "setup" in err, out + err)

# --- five different problems, five lines ---
env3 = Env(settings={"transport_override": None, "hash_key": "secret/hash.key",
                     "dkim": {"selector": "a", "rsa_key": "open.key",
                              "ed25519_key": "missing-ed.key", "ed25519_selector": "b"}},
           responses=[{"email_addr": "get@responder.test", "body": "x",
                       "attachments": [["dl", "android/Example-1.0.apk", "a.apk"],
                                       ["dl", "gone/file.bin", "file.bin"]],
                       "send_method": "SMTP"},
                      {"email_addr": "get+fa@responder.test", "body": "y",
                       "attachments": None, "send_method": "SES"}])
subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", os.path.join(env3.dir, "open.key")], check=True, capture_output=True)
os.chmod(os.path.join(env3.dir, "open.key"), 0o644)
rc, out, err = env3.run("config-check")
lines = [l for l in err.splitlines() if l.startswith(env3.settings + ": ")]
problems = [l for l in lines if not re.search(r": \d+ problems?$", l)]
R.eq("config-check with five problems exits 1", rc, 1)
R.eq("config-check prints five problems", len(problems), 5)
R.check("... and says 5 problems", err.rstrip().endswith(": 5 problems"), err)
want = [("hash_key", "hash.key"), ("dkim.rsa_key", "mode 0644 lets others read"),
        ("dkim.ed25519_key", "missing-ed.key"), ("entry 0: attachment dl/gone/file.bin", "no such"),
        ("entry 1 (get+fa@responder.test): send_method SES", "")]
for key, detail in want:
    R.check("problem names %s" % key, any(key in l and detail in l for l in problems), err)
R.check("no DKIM record printed for the refused keys", "IN TXT" not in out, out)

# five settings problems at once, each naming its key
env4 = Env(responses=smtp_only)
with open(env4.settings) as f:
    s = f.read()
s = s.replace('"daily_limit": 3', '"daily_limit": -1, "workerz": 2').replace(
    '"dkim_policy": "reject-fail"', '"dkim_policy": "maybe"').replace(
    '"log_level": "info"', '"log_level": "loud", "smtp_url": "ftp://x"')
with open(env4.settings, "w") as f:
    f.write(s)
rc, out, err = env4.run("config-check")
problems = [l for l in err.splitlines() if l.startswith(env4.settings + ": ")
            and not re.search(r": \d+ problems?$", l)]
R.eq("five settings problems: five lines", len(problems), 5)
for key in ("daily_limit", "workerz", "dkim_policy", "log_level", "smtp_url"):
    R.check("settings problem names %s" % key, any(key in l for l in problems), err)

# --- the daemon makes the folders it owns, or says which and how to fix it
env5 = Env(settings={"event_log": "logs/deep/events.jsonl", "event_key": "st/k/event.key",
                     "store": "sqlite:db/x/state.db"}, responses=smtp_only)
env5.deliver(msg(frm="someone@requester.test"))
rc, out, err = env5.run("drain")
for d in ("logs/deep", "st/k", "db/x"):
    p = os.path.join(env5.dir, d)
    R.check("drain created %s (0700)" % d, os.path.isdir(p) and
            stat.S_IMODE(os.stat(p).st_mode) == 0o700, (rc, out, err))
R.check("... and logged the event there",
        os.path.exists(os.path.join(env5.dir, "logs/deep/events.jsonl")), (rc, out, err))
env6 = Env(settings={"event_log": "locked/sub/events.jsonl"}, responses=smtp_only)
os.mkdir(os.path.join(env6.dir, "locked"), 0o755)  # root's: nobody cannot write
os.mkdir(os.path.join(env6.dir, "state"), 0o700)
for dirpath, dirs, files in os.walk(env6.dir):
    for n in dirs + files:
        if not os.path.join(dirpath, n).startswith(os.path.join(env6.dir, "locked")):
            os.chown(os.path.join(dirpath, n), 65534, 65534)
os.chmod(env6.dir, 0o755)
p = subprocess.run(["runuser", "-u", "nobody", "--", BIN, "run", "-c", env6.settings],
                   capture_output=True, text=True, timeout=60)
R.check("run as a user who cannot create the event log folder: fails naming it and the fix",
        p.returncode != 0 and "event_log: cannot create the folder of " +
        os.path.join(env6.dir, "locked/sub/events.jsonl") in p.stderr and
        "mailresponder setup" in p.stderr, (p.returncode, p.stdout, p.stderr))

for e in (env, env2, env3, env4, env5, env6):
    e.close()
sys.exit(R.done())
