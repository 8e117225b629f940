"""A private Postfix instance on 127.0.0.1 for end-to-end tests.

Follows /work/shared/components.md section 2: own config, queue, data and
mail directories under a temp dir, virtual(8) Maildir delivery as uid/gid
65534, every log line in <dir>/postfix.log, no chroot, nothing bound
outside loopback, and nothing relayed anywhere (default_transport is an
error). Two smtpd listeners, each on a free port the kernel picked
(never a fixed one: two runs at once must not collide):

    inbound_port  mail for the responder (and anything else the vmailbox
                  or the postfix-maps tables know)
    send_port     where mailresponder's smtp:// transport sends; its log
                  lines are "postfix/send/..." (send=False: none)

    pf = Postfix(tmpdir)
    pf.start()
    ... pf.sink_files(), pf.log_text(), pf.send_connects(), pf.rcpt() ...
    pf.stop_send(); pf.start_send()   # take only the send smtpd down/up
    pf.stop()

With maps_dir, virtual_mailbox_domains and virtual_mailbox_maps also read
the tables `mailresponder postfix-maps -d maps_dir --postmap` writes
(run it, with pf.env(), before start: Postfix wants the files). main_cf
and master_cf replace the generated files whole (a sample under test).

stop() is also registered with atexit, and the instance can be used as a
context manager, so a failing test does not leave a master running.
"""
import atexit
import os
import re
import shutil
import smtplib
import socket
import subprocess
import time

POSTFIX = "/usr/sbin/postfix"
VUID = 65534  # nobody/nogroup: virtual_minimum_uid is 100, root impossible

MASTER_SERVICES = """\
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
tlsmgr unix - - n 1000? 1 tlsmgr
postlog unix-dgram n - n - 1 postlogd
"""


def port_open(port, host="127.0.0.1", timeout=0.2):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_ports(n=1):
    """n distinct ports on 127.0.0.1 that nothing listens on, picked by
    the kernel (all bound at once, so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port(preferred=None):
    """A free port picked by the kernel. preferred is not used: a fixed
    port collides when two runs overlap (the argument stays for callers
    written when it was a hint)."""
    return free_ports(1)[0]


class PostfixError(Exception):
    pass


class Postfix:
    def __init__(self, tmpdir, inbound_port=None, send_port=None,
                 domains=("responder.test", "requester.test"),
                 vmailbox_lines=("get@responder.test responder/",
                                 "@requester.test sink/"),
                 extra_main_cf="", extra_master="", send_opts=(),
                 myhostname="mx.mrtest.test", send=True, maps_dir=None,
                 mailbox_base=None, main_cf=None, master_cf=None):
        """tmpdir: folder for everything (created). inbound_port,
        send_port: None picks free ones (and start() picks again if one
        was taken meanwhile: read pf.inbound_port and pf.send_port after
        start(), or pass ports from free_ports() to keep them fixed). vmailbox_lines: "address maildir/" lines,
        "@domain dir/" is a catch-all; each Maildir named there is
        pre-created (tmp, new, cur) and owned by 65534. send_opts: extra
        "name=value" -o overrides for the send smtpd only. extra_main_cf,
        extra_master and send_opts are appended as given (a setting of
        extra_main_cf that main.cf has replaces it), with "{pf}",
        "{conf}" and "{mail}" replaced by the instance, config and mail
        folders. maps_dir: read postfix-maps' tables there too.
        mailbox_base: virtual_mailbox_base (default the mail folder).
        main_cf, master_cf: the whole files instead of generated ones
        (then pass the ports they listen on)."""
        self.dir = os.path.abspath(tmpdir)
        self.pf = os.path.join(self.dir, "postfix")
        self.conf = os.path.join(self.pf, "conf")
        self.spool = os.path.join(self.pf, "spool")
        self.data = os.path.join(self.pf, "data")
        self.mail = os.path.join(self.dir, "mail")
        self.log = os.path.join(self.pf, "postfix.log")
        self.auto_ports = inbound_port is None and send_port is None
        if self.auto_ports:
            inbound_port, send_port = free_ports(2)
        elif inbound_port is None or send_port is None:
            ports = free_ports(3)
            inbound_port = inbound_port or next(
                p for p in ports if p != send_port)
            send_port = send_port or next(
                p for p in ports if p != inbound_port)
        self.inbound_port = inbound_port
        self.send_port = send_port
        self.maps_dir = maps_dir
        self.mailbox_base = mailbox_base
        self.main_cf_text = main_cf
        self.master_cf_text = master_cf
        self.domains = list(domains)
        self.vmailbox_lines = list(vmailbox_lines)
        self.extra_main_cf = extra_main_cf
        self.extra_master = extra_master
        self.send_opts = list(send_opts)
        self.myhostname = myhostname
        self.running = False
        self.send_up = send
        atexit.register(self.stop)

    # ---- paths ----

    def maildir(self, name):
        """Absolute path of a Maildir named in the vmailbox ("sink")."""
        return os.path.join(self.mail, name.rstrip("/"))

    @property
    def sink(self):
        return self.maildir("sink")

    def sink_files(self, name="sink"):
        d = os.path.join(self.maildir(name), "new")
        if not os.path.isdir(d):
            return []
        return sorted(os.path.join(d, n) for n in os.listdir(d)
                      if not n.startswith("."))

    def log_text(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def env(self):
        """Environment for postmap and postfix-maps --postmap: this
        instance's main.cf."""
        return {"MAIL_CONFIG": self.conf}

    def rcpt(self, addr, port=None, sender="alice@sender.test"):
        """(code, text) of RCPT TO:<addr> on the inbound smtpd (or port),
        after EHLO and MAIL FROM; no mail is sent (RSET, QUIT)."""
        with smtplib.SMTP("127.0.0.1", port or self.inbound_port,
                          timeout=30) as s:
            s.ehlo("client.mrtest.test")
            code, text = s.mail(sender)
            if code != 250:
                return code, text.decode("utf-8", "replace")
            code, text = s.rcpt(addr)
            s.rset()
            return code, text.decode("utf-8", "replace")

    def postconf(self, *settings):
        """postconf -e "name = value" ... on this instance's main.cf (run
        reload() for a running instance to see it)."""
        subprocess.run(["/usr/sbin/postconf", "-c", self.conf, "-e"] +
                       list(settings), check=True, capture_output=True,
                       timeout=60)

    def log_size(self):
        try:
            return os.path.getsize(self.log)
        except FileNotFoundError:
            return 0

    def log_since(self, offset):
        """The log after byte offset (from log_size())."""
        try:
            with open(self.log, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def send_connects(self, since=0):
        """(connect, disconnect) counts of the send smtpd after log
        offset since."""
        text = self.log_since(since)
        c = len(re.findall(r"postfix/send/smtpd\[\d+\]: connect from", text))
        d = len(re.findall(r"postfix/send/smtpd\[\d+\]: disconnect from", text))
        return c, d

    # ---- configuration ----

    def _expand(self, text):
        return text.replace("{pf}", self.pf).replace("{mail}", self.mail) \
                   .replace("{conf}", self.conf)

    def _tables(self):
        """virtual_mailbox_domains and virtual_mailbox_maps values."""
        domains = list(self.domains)
        maps = ["texthash:%s/vmailbox" % self.conf]
        if self.maps_dir:
            domains.insert(0, os.path.join(self.maps_dir,
                                           "virtual_mailbox_domains"))
            maps.insert(0, "hash:%s" % os.path.join(self.maps_dir,
                                                    "virtual_mailbox_maps"))
        return ", ".join(domains), ", ".join(maps)

    def _main_cf(self):
        domains, maps = self._tables()
        text = """\
compatibility_level = 3.6
queue_directory = {spool}
data_directory = {data}
myhostname = {host}
myorigin = {host}
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
maillog_file = {log}
virtual_mailbox_domains = {domains}
virtual_mailbox_base = {base}
virtual_mailbox_maps = {maps}
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{uid}
""".format(spool=self.spool, data=self.data, host=self.myhostname,
           log=self.log, domains=domains, base=self.mailbox_base or self.mail,
           maps=maps, uid=VUID)
        return self._override(text, self._expand(self.extra_main_cf)) + "\n"

    @staticmethod
    def _override(text, extra):
        """text with the "name = value" lines of extra: one naming a
        setting text has takes its place (Postfix warns about a repeated
        name), the others are appended."""
        out = text.splitlines()
        for line in extra.splitlines():
            m = re.match(r"(\w+)\s*=", line)
            at = [i for i, l in enumerate(out)
                  if m and re.match(r"%s\s*=" % m.group(1), l)]
            if at:
                out[at[0]] = line
            else:
                out.append(line)
        return "\n".join(out) + "\n"

    def _send_lines(self):
        lines = ["127.0.0.1:%d inet n - n - - smtpd" % self.send_port,
                 "  -o syslog_name=postfix/send",
                 "  -o smtpd_relay_restrictions=permit_mynetworks,reject"]
        lines += ["  -o %s" % self._expand(o) for o in self.send_opts]
        return lines

    def _master_cf(self):
        if self.master_cf_text is not None:
            return self.master_cf_text
        lines = ["127.0.0.1:%d inet n - n - - smtpd" % self.inbound_port]
        if self.send_up:
            lines += self._send_lines()
        return "\n".join(lines) + "\n" + MASTER_SERVICES + \
            self._expand(self.extra_master) + "\n"

    def _write(self, name, text):
        path = os.path.join(self.conf, name)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)

    def make_maildir(self, name):
        """Create the Maildir name (tmp, new, cur) under the mail folder,
        owned by 65534 as virtual(8) delivers; returns its path."""
        os.makedirs(self.mail, exist_ok=True)
        os.chown(self.mail, VUID, VUID)
        os.chmod(self.mail, 0o700)
        top = self.maildir(name)
        for d in (top, top + "/tmp", top + "/new", top + "/cur"):
            os.makedirs(d, exist_ok=True)
            os.chown(d, VUID, VUID)
            os.chmod(d, 0o700)
        return top

    def _mkmaildirs(self):
        os.makedirs(self.mail, exist_ok=True)
        os.chown(self.mail, VUID, VUID)
        os.chmod(self.mail, 0o700)
        for line in self.vmailbox_lines:
            parts = line.split()
            if len(parts) >= 2 and parts[1].endswith("/"):
                self.make_maildir(parts[1])

    def configure(self):
        for d in (self.conf, self.spool, self.data):
            os.makedirs(d, exist_ok=True)
        # the postfix user and virtual(8) (uid 65534) must get through to
        # data/ and mail/; mkdtemp() makes 0700 folders
        for d in (self.dir, self.pf):
            os.chmod(d, 0o755)
        shutil.chown(self.data, "postfix", "postfix")  # else master.lock fails
        self._mkmaildirs()
        self._write("vmailbox", "\n".join(self.vmailbox_lines) + "\n")
        self._write("main.cf", self._main_cf() if self.main_cf_text is None
                    else self.main_cf_text)
        self._write("master.cf", self._master_cf())

    # ---- control ----

    def _postfix(self, *args, check=True):
        p = subprocess.run([POSTFIX, "-c", self.conf] + list(args),
                           capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise PostfixError("postfix %s: rc %d: %s%s" % (
                " ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def _wait_port(self, port, up, timeout=15):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if port_open(port) == up:
                return
            time.sleep(0.05)
        raise PostfixError("port %d still %s after %ss" % (
            port, "closed" if up else "open", timeout))

    def start(self):
        """Write the config and start; returns when both ports accept.
        When the harness picked the ports and one was taken between the
        pick and the bind (another run), it picks again (3 tries)."""
        for attempt in range(3):
            self.configure()
            self.running = True  # from here on stop() cleans up, even half-started
            log0 = self.log_size()
            try:
                self._postfix("start")
                self._wait_port(self.inbound_port, True)
                if self.send_up:
                    self._wait_port(self.send_port, True)
                return self
            except PostfixError:
                taken = "Address already in use" in self.log_since(log0)
                if not (self.auto_ports and taken and attempt < 2):
                    raise
                self.stop()
                self.inbound_port, self.send_port = free_ports(2)
        return self

    def master_pid(self):
        try:
            with open(os.path.join(self.spool, "pid", "master.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    @staticmethod
    def _alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # a zombie still answers kill(0): look at its state
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().split(") ", 1)[1][0] != "Z"
        except (OSError, IndexError):
            return False

    def stop(self):
        """postfix stop, then make sure the master (and so its children)
        is gone; SIGKILL as a last resort. Safe to call twice."""
        if not self.running:
            return
        pid = self.master_pid()
        self.running = False
        try:
            self._postfix("stop", check=False)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if pid is None:
            return
        end = time.monotonic() + 10
        while self._alive(pid) and time.monotonic() < end:
            time.sleep(0.05)
        if self._alive(pid):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass

    def reload(self):
        self._postfix("reload")

    def stop_send(self):
        """Take the send smtpd down (master.cf without it, postfix
        reload); returns when its port refuses connections."""
        self.send_up = False
        self._write("master.cf", self._master_cf())
        self.reload()
        self._wait_port(self.send_port, False)

    def kill_send_sessions(self):
        """SIGTERM the send smtpd processes still serving a connection
        (after stop_send a reload leaves running sessions alive, so a
        client with a kept-alive connection could go on sending).
        Returns how many were signalled."""
        n = 0
        want = ("127.0.0.1:%d" % self.send_port).encode()
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"smtpd") and want in argv:
                try:
                    os.kill(int(pid), 15)
                    n += 1
                except ProcessLookupError:
                    pass
        return n

    def start_send(self):
        self.send_up = True
        self._write("master.cf", self._master_cf())
        self.reload()
        self._wait_port(self.send_port, True)

    def wait_queue_empty(self, timeout=60):
        """Until postqueue shows no mail (everything delivered or
        bounced); True if it emptied in time."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            p = subprocess.run(["/usr/sbin/postqueue", "-c", self.conf, "-j"],
                               capture_output=True, text=True, timeout=30)
            if p.returncode == 0 and not p.stdout.strip():
                return True
            time.sleep(0.1)
        return False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
