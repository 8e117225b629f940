"""End-to-end: mailresponder setup on its own - samples copied only when
absent, folders created with owner and mode, a wrong mode fixed, a
foreign non-empty folder never taken over (the fix named), run twice
without changes, refused without root. The service user is nobody (it
exists everywhere), so no user is created here; test_install.py covers
useradd."""
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import Results, BIN, ROOT

R = Results()
NOBODY = pwd.getpwnam("nobody")


def setup(settings, *extra, user="nobody"):
    p = subprocess.run([BIN, "setup", "-c", settings, "-u", user, "--samples",
                        os.path.join(ROOT, "config")] + list(extra),
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def mode(p):
    st = os.stat(p)
    return st.st_uid, stat.S_IMODE(st.st_mode)


top = tempfile.mkdtemp(prefix="mr-setup-")
try:
    etc = os.path.join(top, "etc")
    settings = os.path.join(etc, "settings.json")
    # the sample, moved to temp paths, before setup runs: setup keeps it
    with open(os.path.join(ROOT, "config", "settings.sample.json")) as f:
        text = f.read()
    for a in ("/var/spool/mailresponder", "/var/lib/mailresponder", "/var/log/mailresponder",
              "/etc/mailresponder"):
        text = text.replace(a, top + a)
    os.makedirs(etc)
    with open(settings, "w") as f:
        f.write(text)
    rc, out, err = setup(settings)
    R.eq("setup exits 0", rc, 0)
    R.check("setup kept the settings and copied the responder config",
            "kept %s" % settings in out and "copied" in out
            and os.path.exists(os.path.join(etc, "responses.json")), out + err)
    spool = top + "/var/spool/mailresponder"
    for d, want in ((spool, 0o700), (spool + "/new", 0o700), (spool + "/tmp", 0o700),
                    (spool + "/cur", 0o700), (top + "/var/lib/mailresponder", 0o700),
                    (top + "/var/log/mailresponder", 0o700)):
        R.eq("%s: nobody, %o" % (d[len(top):], want), mode(d), (NOBODY.pw_uid, want))
    att = top + "/var/lib/mailresponder/attachments"
    st = os.stat(att)
    R.check("attachments: root, nobody's group, 0750",
            (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, NOBODY.pw_gid, 0o750), st)
    R.eq("parents made 0755 for root", mode(top + "/var/spool"), (0, 0o755))
    with open(os.path.join(etc, "responses.json")) as f:
        R.eq("responses.json is the sample", f.read(),
             open(os.path.join(ROOT, "config", "responses.sample.json")).read())

    # again: nothing to do
    rc, out2, err = setup(settings)
    R.check("setup again: exit 0, nothing created or fixed",
            rc == 0 and " created " not in out2 and " fixed " not in out2
            and out2.count("setup: ok ") == 7, out2 + err)

    # a wrong mode on our own folder is fixed; an empty foreign folder given over
    os.chmod(spool + "/new", 0o755)
    shutil.rmtree(top + "/var/log/mailresponder")
    os.mkdir(top + "/var/log/mailresponder", 0o755)  # root's, empty
    rc, out3, err = setup(settings)
    R.check("setup fixes the mode of new/ and takes over an empty root folder",
            rc == 0 and "fixed %s/new" % spool in out3
            and "fixed %s/var/log/mailresponder" % top in out3
            and mode(spool + "/new") == (NOBODY.pw_uid, 0o700)
            and mode(top + "/var/log/mailresponder") == (NOBODY.pw_uid, 0o700), out3 + err)

    # a folder of someone else with files in it is never taken over
    with open(settings) as f:
        s = f.read()
    shared = os.path.join(top, "shared")
    os.mkdir(shared, 0o755)
    with open(os.path.join(shared, "other.log"), "w") as f:
        f.write("someone else's\n")
    with open(settings, "w") as f:
        f.write(s.replace(top + "/var/log/mailresponder/events.jsonl",
                          shared + "/events.jsonl"))
    rc, out4, err = setup(settings)
    R.check("a non-empty foreign folder: exit 1, named with the fix, untouched",
            rc == 1 and shared + ": exists, owner 0:0 mode 0755, and is not empty" in err
            and "chown -R nobody:%d %s" % (NOBODY.pw_gid, shared) in err
            and mode(shared) == (0, 0o755), out4 + err)

    # not root: refused before anything
    os.chmod(top, 0o755)
    p = subprocess.run(["runuser", "-u", "nobody", "--", BIN, "setup", "-c", settings],
                       capture_output=True, text=True, timeout=60)
    R.check("setup as a user other than root: exit 1, says why",
            p.returncode == 1 and "run it as root" in p.stderr, p.stdout + p.stderr)

    # settings that do not load: every problem printed, nothing created
    bad = os.path.join(top, "bad", "settings.json")
    os.makedirs(os.path.dirname(bad))
    with open(bad, "w") as f:
        json.dump({"spool": top + "/never", "from": "x@y.test", "daily_limit": "many"}, f)
    rc, out5, err = setup(bad)
    R.check("broken settings: exit 1 naming the key, no spool made",
            rc == 1 and "daily_limit" in err and not os.path.exists(top + "/never"),
            out5 + err)
finally:
    shutil.rmtree(top, ignore_errors=True)
sys.exit(R.done())
