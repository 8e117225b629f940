"""End-to-end: who the daemon runs as, and no shell anywhere.

Started as root, run refuses without the settings' "user"; with it, it
opens the keys, the spool lock, the event log and the control socket and
then runs as that user (checked in /proc: real, effective, saved and
filesystem ids, and supplementary groups) and still answers. A key file
owned by a third user is refused at start, naming the setting. The
sources start no program through a shell.
"""
import os
import pwd
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import BIN, ROOT, Daemon, Env, Results, msg, wait_for

R = Results()


def run_briefly(env, timeout=20):
    p = subprocess.run([BIN, "run", "-c", env.settings], capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def chown_tree(path, uid, gid):
    for d, dirs, files in os.walk(path):
        os.chown(d, uid, gid)
        for n in files:
            os.chown(os.path.join(d, n), uid, gid)


def proc_ids(pid):
    ids = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups"):
                ids[k] = v.split()
    return ids


# ---- the audit: no shell, fixed argv ----
bad = []
for sub in ("lib", "cmd", "maildir"):
    for n in sorted(os.listdir(os.path.join(ROOT, sub))):
        if not n.endswith(".c"):
            continue
        with open(os.path.join(ROOT, sub, n), encoding="utf-8") as f:
            text = f.read()
        for pat in (r"\bsystem\s*\(", r"\bpopen\s*\(", r"\bexecl[pe]?\s*\(",
                    r'"/bin/sh"', r'"sh"', r'"-c"'):
            for m in re.finditer(pat, text):
                line = text.count("\n", 0, m.start()) + 1
                bad.append("%s/%s:%d: %s" % (sub, n, line, m.group(0)))
R.eq("no system(), popen(), exec of a shell or \"-c\" in lib/, cmd/, maildir/", bad, [])
spawns = []
for sub in ("lib", "cmd"):
    for n in sorted(os.listdir(os.path.join(ROOT, sub))):
        if n.endswith(".c"):
            with open(os.path.join(ROOT, sub, n), encoding="utf-8") as f:
                spawns += ["%s/%s" % (sub, n) for l in f if re.search(r"\bposix_spawnp?\s*\(", l)]
R.check("every posix_spawn is posix_spawn (no PATH search) with an argv array (%s)"
        % ", ".join(sorted(set(spawns))), spawns and all("spawnp" not in s for s in spawns), spawns)

if os.geteuid() != 0:
    print("skip - root start tests: not running as root")
    R.done()

# ---- root without "user": refused ----
env = Env(settings={"user": None})
rc, err = run_briefly(env)
R.check("root without user: run refuses (exit 2) and says why",
        rc == 2 and "refusing to run as root" in err and "\"user\"" in err, (rc, err))
R.eq("root without user: no control socket left", os.path.exists(
    os.path.join(env.spool, ".mailresponder.sock")), False)
env.close()

# ---- an unknown user ----
env = Env(settings={"user": "no-such-user-here"})
rc, err = run_briefly(env)
R.check("unknown user: refused, naming it", rc == 2 and "no-such-user-here" in err, err)
env.close()

# ---- a key file owned by a third user ----
nobody = pwd.getpwnam("nobody")
env = Env(settings={"user": "nobody"})
chown_tree(env.dir, nobody.pw_uid, nobody.pw_gid)
key = os.path.join(env.dir, "state", "event.key")
os.makedirs(os.path.dirname(key), exist_ok=True)
fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, os.urandom(32).hex().encode() + b"\n")
os.close(fd)
os.chown(key, 12345, 12345)
rc, err = run_briefly(env)
R.check("event key owned by uid 12345: refused, naming event_key",
        rc == 2 and "event_key" in err and "12345" in err, err)
env.close()

# ---- root with "user": drops, then works ----
# (the service user owns its folders, as setup makes them)
env = Env(settings={"user": "nobody"})
os.makedirs(os.path.join(env.dir, "state"), exist_ok=True)
os.makedirs(os.path.join(env.dir, "outbox"), exist_ok=True)
chown_tree(env.dir, nobody.pw_uid, nobody.pw_gid)
d = Daemon(env)
try:
    R.check("root with user nobody: daemon up", d.ready())
    ids = proc_ids(d.pid)
    want = str(nobody.pw_uid)
    R.eq("real, effective, saved and fs uid are nobody's", ids.get("Uid"), [want] * 4)
    R.eq("real, effective, saved and fs gid are nobody's", ids.get("Gid"),
         [str(nobody.pw_gid)] * 4)
    R.eq("supplementary groups: nobody's group only", ids.get("Groups"), [str(nobody.pw_gid)])
    name = env.deliver(msg(frm="ivy@sender.test", msgid="p1@sender.test"))
    wait_for(lambda: env.state_of(name) == "replied", 30)
    R.eq("after the drop: a request is answered", env.state_of(name), "replied")
    outs = env.outbox_files()
    R.check("the replies are written as nobody",
            outs and all(os.stat(o).st_uid == nobody.pw_uid for o in outs), outs)
    R.check("the log says who it runs as", "running as nobody" in d.log())
finally:
    rc = d.stop()
R.eq("SIGTERM: exit 0", rc, 0)
env.close()
sys.exit(R.done())
