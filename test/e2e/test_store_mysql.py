"""The store unit tests (test/unit/test_store.c) on MariaDB.

One suite, two URLs: test/run.sh runs the unit binary on SQLite; this
starts a private MariaDB (see mariadb.py) and runs the same binary with
MR_TEST_MYSQL_PORT set, so the generic cases run again on
mysql://responder@127.0.0.1:PORT/mrt_<case>, then the MySQL-only cases.
Its lines are passed on with a "mysql: " prefix.
"""
import os
import subprocess
import sys
import tempfile
import shutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import Results, ROOT
from mariadb import MariaDB

R = Results()
build = os.environ.get("MR_BUILD", os.path.join(ROOT, "build"))
binary = os.path.join(build, "test", "unit", "test_store")
tmp = tempfile.mkdtemp(prefix="mr-mysql-unit-")
db = MariaDB(tmp)
try:
    db.start()
    env = dict(os.environ)
    env.update(db.env)
    env["MR_TEST_MYSQL_PORT"] = str(db.port)
    env["MR_TEST_MYSQL_SOCKET"] = db.sock
    p = subprocess.run([binary], capture_output=True, timeout=900, env=env,
                       stdin=subprocess.DEVNULL)
    out = p.stdout.decode("utf-8", "replace")
    for line in out.splitlines():
        for tag in ("ok - ", "not ok - ", "skip - "):
            if line.startswith(tag):
                line = tag + "mysql: " + line[len(tag):]
                break
        print(line)
    sys.stdout.flush()
    R.eq("unit binary exit status on MariaDB", p.returncode, 0)
    if p.returncode != 0:
        print("# stderr: " + p.stderr.decode("utf-8", "replace")[-1500:])
finally:
    db.stop()
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(R.done())
