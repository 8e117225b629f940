"""test_dkim.py - signatures made by lib/dkim.c, checked by other verifiers.

Run with /usr/bin/python3 (it has python3-dkim). Messages are signed by
test/tools/dkimsign ($MR_BUILD/test/tools/dkimsign, built from the same
lib/dkim.c the daemon uses) and verified by dkimpy with a local key
(dnsfunc, no DNS), as shared/components.md s.6 verify.py does, checking
every signature of a message with verify(idx=i). Mail::DKIM checks the
RSA signatures too when libmail-dkim-perl is installed (it has no
ed25519-sha256). Prints "ok - name" / "not ok - name"; exits 1 on failure.
"""
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mrtest import PERSIAN, ROOT, Results  # noqa: E402

import dkim  # noqa: E402
from dkim.canonicalization import Relaxed  # noqa: E402

BUILD = os.environ.get("MR_BUILD", os.path.join(ROOT, "build"))
TOOL = os.path.join(BUILD, "test", "tools", "dkimsign")
DOMAIN = "responder.test"
OVERSIGNED = [b"from", b"to", b"subject", b"date", b"message-id",
              b"reply-to", b"in-reply-to", b"references", b"mime-version",
              b"content-type", b"auto-submitted", b"from"]


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, **kw)


class Keys:
    """RSA-2048 and Ed25519 keys in a temp dir, and their DNS TXT records."""

    def __init__(self, d):
        self.dir = d
        self.txt = {}
        self.make("rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], "rsa1")
        self.make("ed", ["-algorithm", "ed25519"], "ed1")
        # another RSA key: its record under rsa1 means "wrong key"
        self.make("other", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], None)

    def make(self, name, args, selector):
        key = os.path.join(self.dir, name + ".key")
        pub = os.path.join(self.dir, name + ".pub")
        sh("openssl", "genpkey", *args, "-out", key)
        sh("openssl", "pkey", "-in", key, "-pubout", "-out", pub)
        os.chmod(key, 0o600)
        der = base64.b64decode(b"".join(
            line for line in open(pub, "rb").read().splitlines()
            if not line.startswith(b"-----")))
        if der[4:9] == b"\x06\x03\x2b\x65\x70":  # OID 1.3.101.112 = Ed25519
            txt = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(der[-32:])
        else:
            txt = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)
        if selector:
            self.txt[("%s._domainkey.%s." % (selector, DOMAIN)).encode()] = txt
        setattr(self, name + "_txt", txt)

    def dnsfunc(self, override=None):
        table = dict(self.txt)
        table.update(override or {})
        return lambda name, timeout=5: table.get(name)


def write(path, data, mode=0o600):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def settings(tmp, rsa=True, ed=True, name="settings.json"):
    dk = {"domain": DOMAIN, "selector": "rsa1", "ed25519_selector": "ed1"}
    if rsa:
        dk["rsa_key"] = "rsa.key"
    if ed:
        dk["ed25519_key"] = "ed.key"
    text = json.dumps({"spool": "spool", "from": "Responder <noreply@%s>" % DOMAIN,
                       "dkim": dk})
    return write(os.path.join(tmp, name), text.encode())


def message(subject=b"Re: =?UTF-8?B?2LPZhNin2YU=?=", body=b"Hello.\r\n", extra=b"",
            to=b"Someone <someone@example.test>"):
    head = (b"From: Responder <noreply@responder.test>\r\n"
            b"To: " + to + b"\r\n"
            b"Subject: " + subject + b"\r\n"
            b"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
            b"Message-ID: <r1.abc@responder.test>\r\n"
            b"Reply-To: get@responder.test\r\n"
            b"In-Reply-To: <req1@example.test>\r\n"
            b"References: <req1@example.test>\r\n"
            b"Auto-Submitted: auto-replied\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=\"utf-8\"\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n" + extra)
    return head + b"\r\n" + body


def sign(tmp, sfile, msg):
    mfile = write(os.path.join(tmp, "msg.eml"), msg)
    p = subprocess.run([TOOL, sfile, mfile], capture_output=True)
    if p.returncode != 0:
        raise RuntimeError("dkimsign exit %d: %s" % (p.returncode, p.stderr.decode()))
    return p.stdout


def verify(msg, idx, dnsfunc):
    """(ok, why, signature fields) for signature idx, as verify.py does."""
    d = dkim.DKIM(msg)
    try:
        ok, why = d.verify(idx=idx, dnsfunc=dnsfunc), ""
    except Exception as e:  # DKIM.verify raises on e.g. body hash mismatch
        ok, why = False, "%s: %s" % (type(e).__name__, e)
    return ok, why, d.signature_fields or {}


def n_sigs(msg):
    return len(re.findall(rb"(?im)^dkim-signature:", msg))


def sigs_verify(r, name, msg, algs, keys, want=True):
    """Each signature idx verifies (want) or fails (not want) with alg algs[idx]."""
    r.eq("%s: %d signature(s)" % (name, len(algs)), n_sigs(msg), len(algs))
    for i, alg in enumerate(algs):
        ok, why, f = verify(msg, i, keys.dnsfunc())
        label = "%s: %s signature %d %s" % (name, alg, i, "passes" if want else "fails")
        r.check(label, ok == want and f.get(b"a") == alg.encode(),
                "ok=%r why=%s fields=%r" % (ok, why, {k: v for k, v in f.items() if k != b"b"}))


def tamper_body(msg):
    head, body = msg.split(b"\r\n\r\n", 1)
    return head + b"\r\n\r\n" + body.replace(b"Hello", b"Hellp", 1)


def tamper_subject(msg):
    return re.sub(rb"(?m)^Subject: ", b"Subject: [changed] ", msg, count=1)


def test_algorithms(r, tmp, keys):
    msg = message()
    for name, rsa, ed, algs in (("rsa alone", True, False, ["rsa-sha256"]),
                                ("ed25519 alone", False, True, ["ed25519-sha256"]),
                                ("both", True, True, ["rsa-sha256", "ed25519-sha256"])):
        s = sign(tmp, settings(tmp, rsa, ed), msg)
        sigs_verify(r, name, s, algs, keys)
        ok, why, f = verify(s, 0, keys.dnsfunc())
        h = [x.lower() for x in re.split(rb"\s*:\s*", f.get(b"h", b""))]
        r.eq("%s: h= lists the fields and From once more" % name, h, OVERSIGNED)
        r.eq("%s: c=, d=, s=" % name,
             (f.get(b"c"), f.get(b"d"), f.get(b"s")),
             (b"relaxed/relaxed", DOMAIN.encode(), b"ed1" if not rsa else b"rsa1"))
        t = int(f.get(b"t", b"0"))
        r.check("%s: t= is now" % name, abs(t - time.time()) < 120, "t=%d" % t)
        lines = s.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        r.check("%s: header lines within 78 octets" % name,
                all(len(line) <= 78 for line in lines),
                [line for line in lines if len(line) > 78])
    both = sign(tmp, settings(tmp), msg)
    ok, why, f = verify(both, 0, keys.dnsfunc({b"rsa1._domainkey.responder.test.": keys.other_txt}))
    r.check("wrong RSA key in DNS fails", not ok, why)
    ok, why, f = verify(both, 1, keys.dnsfunc({b"ed1._domainkey.responder.test.": None}))
    r.check("missing Ed25519 key in DNS fails", not ok, why)
    ok, why, f = verify(both, 0, keys.dnsfunc())  # plain verify(): the first
    r.check("default verify checks the RSA signature first",
            ok and f.get(b"a") == b"rsa-sha256", why)
    return both


def test_content(r, tmp, keys):
    sfile = settings(tmp)
    algs = ["rsa-sha256", "ed25519-sha256"]
    long_fa = (PERSIAN.replace("\n", " ") + "  ") * 30
    body = ("Hello. " + PERSIAN + "\n\n" + long_fa + "\n" + "x" * 3000 + "   \n"
            + "tab\there  and  spaces \t\n\n\n\n").replace("\n", "\r\n").encode()
    fa = sign(tmp, sfile, message(body=body))
    sigs_verify(r, "persian body, long lines", fa, algs, keys)
    folded = message(
        subject=b"Re: =?UTF-8?B?2LPZhNin2YUg2K/ZiNiz2Ko=?=\r\n\t =?UTF-8?B?2LPZhNin2YU=?="
                b"   with\r\n   several\t\tfolds  ",
        to=b"Someone\r\n <someone@example.test>",
        extra=b"X-Long: " + b" ".join([b"word"] * 40) + b"\r\n")
    fold = sign(tmp, sfile, folded.replace(
        b"References: <req1@example.test>",
        b"References: <req0@example.test>\r\n\t<req1@example.test>"))
    sigs_verify(r, "folded headers", fold, algs, keys)
    sigs_verify(r, "empty body", sign(tmp, sfile, message(body=b"")), algs, keys)
    sigs_verify(r, "no trailing blank line", sign(tmp, sfile, message()[:-2]), algs, keys)
    dup = message(extra=b"To: second@example.test\r\n")
    ds = sign(tmp, sfile, dup)
    sigs_verify(r, "To twice", ds, algs, keys)
    sigs_verify(r, "To twice, one removed", re.sub(rb"To: second@example.test\r\n", b"", ds),
               algs, keys, want=False)
    return fa, fold


def test_tamper(r, keys, fa, fold):
    algs = ["rsa-sha256", "ed25519-sha256"]
    sigs_verify(r, "tampered body", tamper_body(fa), algs, keys, want=False)
    sigs_verify(r, "tampered Subject", tamper_subject(fold), algs, keys, want=False)
    second_from = re.sub(rb"(?m)^(From: )", b"From: Evil <evil@attacker.test>\r\n\\1", fa, count=1)
    sigs_verify(r, "second From added (over-signed)", second_from, algs, keys, want=False)
    # what relaxed/relaxed forgives: name case, WSP runs, WSP at line ends,
    # empty lines at the end of the body
    head, body = fa.split(b"\r\n\r\n", 1)
    head = head.replace(b"Subject: ", b"SUBJECT:   ", 1).replace(b"\r\n", b" \t\r\n")
    body = body.replace(b"Hello. ", b"Hello.  \t ", 1).replace(b"\r\n", b" \r\n", 3)
    sigs_verify(r, "relaxed changes still pass", head + b"\r\n\r\n" + body + b"\r\n\r\n",
               algs, keys)
    lf = re.sub(rb"\r?\n", b"\r\n", fa.replace(b"\r\n", b"\n"))  # a Maildir trip
    sigs_verify(r, "LF-only round trip", lf, algs, keys)


def test_body_hash(r, tmp):
    bodies = [b"", b"\r\n", b"\r\n\r\n\r\n", b" \t\r\n", b"x", b"a  b \t\r\nc\r\n\r\n",
              b"  lead\r\n", b"x\ny \r\n", b"a\r\n \r\nb\r\n",
              (PERSIAN + "  \t\n\n").replace("\n", "\r\n").encode(), b"z" * 5000 + b"\r\n"]
    bad = []
    for b in bodies:
        f = write(os.path.join(tmp, "body"), b)
        got = subprocess.run([TOOL, "-b", f], capture_output=True).stdout.strip()
        want = base64.b64encode(hashlib.sha256(Relaxed.canonicalize_body(b)).digest())
        if got != want:
            bad.append((b[:40], got, want))
    r.check("body hash equals dkimpy's relaxed body hash (%d bodies)" % len(bodies), not bad, bad)
    # A last line of only WSP without CRLF: the hash is that of the body
    # after SMTP adds the final CRLF (RFC 6376 3.4.4: WSP at the end of a
    # line is ignored, then empty lines at the end).
    f = write(os.path.join(tmp, "body"), b"a\r\n  ")
    got = subprocess.run([TOOL, "-b", f], capture_output=True).stdout.strip()
    want = base64.b64encode(hashlib.sha256(Relaxed.canonicalize_body(b"a\r\n  \r\n")).digest())
    r.eq("body without final CRLF hashes as after SMTP transit", got, want)


def test_refusals(r, tmp):
    os.chmod(os.path.join(tmp, "rsa.key"), 0o644)
    sfile = settings(tmp, True, False)
    p = subprocess.run([TOOL, sfile, os.path.join(tmp, "msg.eml")], capture_output=True)
    os.chmod(os.path.join(tmp, "rsa.key"), 0o600)
    want = "dkim.rsa_key: %s: mode 0644 lets others read it; chmod 600 (or 640) it" % (
        os.path.join(tmp, "rsa.key"))
    r.check("key mode 0644 refused, naming file and mode",
            p.returncode == 1 and want in p.stderr.decode(), p.stderr.decode())
    p = subprocess.run([TOOL, sfile, write(os.path.join(tmp, "nofrom.eml"),
                                          b"To: a@example.test\r\n\r\nx\r\n")],
                       capture_output=True)
    r.check("message without From refused", p.returncode == 1 and b"no From" in p.stderr,
            p.stderr.decode())


PERL = r'''
use strict; use warnings;
use Mail::DKIM::Verifier; use Net::DNS;
my ($file, $txt) = @ARGV;
no warnings 'redefine';
*Mail::DKIM::DNS::query = sub {
    return Net::DNS::RR->new(name => $_[0], type => 'TXT', txtdata => $txt);
};
my $v = Mail::DKIM::Verifier->new();
open(my $fh, '<:raw', $file) or die "$file: $!";
local $/; my $m = <$fh>; close $fh;
$v->PRINT($m); $v->CLOSE;
for my $s ($v->signatures) {
    printf "%s %s\n", $s->algorithm, $s->result;
}
'''


def test_mail_dkim(r, tmp, keys, msgs):
    if subprocess.run(["perl", "-MMail::DKIM::Verifier", "-MNet::DNS", "-e", "1"],
                      capture_output=True).returncode != 0:
        print("skip - Mail::DKIM not installed (apt-get install libmail-dkim-perl)")
        return
    script = write(os.path.join(tmp, "verify.pl"), PERL.encode())
    for name, msg, want in msgs:
        f = write(os.path.join(tmp, "perl.eml"), msg)
        p = subprocess.run(["perl", script, f, keys.rsa_txt.decode()], capture_output=True)
        out = p.stdout.decode()
        r.check("Mail::DKIM: %s: rsa-sha256 %s" % (name, want),
                ("rsa-sha256 %s" % want) in out.splitlines(), out + p.stderr.decode())


def main():
    r = Results()
    if not os.access(TOOL, os.X_OK):
        r.check("dkimsign built", False,
                "missing %s: make %s (it belongs in TOOLS)" % (TOOL, TOOL))
        return r.done()
    tmp = tempfile.mkdtemp(prefix="mr-dkim-")
    try:
        keys = Keys(tmp)
        both = test_algorithms(r, tmp, keys)
        fa, fold = test_content(r, tmp, keys)
        test_tamper(r, keys, fa, fold)
        test_body_hash(r, tmp)
        test_refusals(r, tmp)
        test_mail_dkim(r, tmp, keys, [("both keys", both, "pass"),
                                      ("persian body", fa, "pass"),
                                      ("folded headers", fold, "pass"),
                                      ("tampered body", tamper_body(fa), "fail"),
                                      ("tampered Subject", tamper_subject(fold), "fail")])
    finally:
        if not os.environ.get("MR_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
    return r.done()


if __name__ == "__main__":
    sys.exit(main())
