"""A local stand-in for AWS services (SES query API, S3 GET; the service is
taken from each request's credential scope, so S3 and CloudWatch handlers
can be added beside it) plus the EC2 instance metadata service (IMDSv2).

Every AWS request is checked with botocore's own SigV4 signer (Debian's
python3-botocore): the request is rebuilt from what arrived, signed again
with the secret the stand-in knows for the access key, and the signatures
compared. A bad signature gets AWS's 403 SignatureDoesNotMatch error shape.

Usage: awsstub.py --dir OUT [--port N] [--creds FILE] [--imds-lifetime S]
Prints "READY <port>" when listening. SIGTERM stops it gracefully: requests
in progress finish (stored and answered), later ones on open connections
get 503 and the connection is closed, so a stop never makes a duplicate.

OUT/conns        one line per TCP connection accepted
OUT/requests     one JSON line per AWS request: t, key, service, action,
                 status, code
OUT/msgs/N.eml   the raw bytes of each accepted SendRawEmail, N.json beside
                 it: Source, Destinations, ConfigurationSetName, key, t
                 (stored), t_arrived (the request's first byte was read)
OUT/issued.json  credentials handed out by the IMDS stand-in

Scripted SES answers, by the first recipient's local part prefix:
  reject*   400 MessageRejected (its message echoes the address)
  toolong*  400 InvalidParameterValue "Message length is more than ..."
  throttle* 400 Throttling "Maximum sending rate exceeded."
  quota*    400 Throttling "Daily message quota exceeded."
  paused*   400 AccountSendingPausedException
  fail500*  500 InternalFailure
  slow*     no answer for 30 s (client timeouts)
S3: GET /bucket/key of objects put with Stub.s3_put, ETag = quoted MD5,
If-None-Match -> 304 without a body, 404 NoSuchKey/NoSuchBucket; signed
with S3's rules (S3SigV4Auth, x-amz-content-sha256). OUT/s3_hang present:
S3 requests are accepted and not answered.
Control (unsigned): GET /__stub/stats.
"""
import argparse
import base64
import hashlib
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

LOCK = threading.Lock()
STATE = {"stopping": False, "inflight": 0, "seq": 0, "imds_tokens": set(),
         "creds": {}, "issued": 0}
ARGS = None

SES_NS = "http://ses.amazonaws.com/doc/2010-12-01/"


def append(name, line):
    with LOCK:
        with open(os.path.join(ARGS.dir, name), "a") as f:
            f.write(line + "\n")


def load_creds():
    creds = {}
    if ARGS.creds and os.path.exists(ARGS.creds):
        with open(ARGS.creds) as f:
            creds.update(json.load(f))
    p = os.path.join(ARGS.dir, "issued.json")
    if os.path.exists(p):
        with open(p) as f:
            creds.update(json.load(f))
    return creds


def parse_auth(h):
    """'AWS4-HMAC-SHA256 Credential=K/D/R/S/aws4_request, SignedHeaders=a;b,
    Signature=x' -> dict, or None."""
    if not h or not h.startswith("AWS4-HMAC-SHA256 "):
        return None
    out = {}
    for part in h[len("AWS4-HMAC-SHA256 "):].split(","):
        k, _, v = part.strip().partition("=")
        out[k] = v
    try:
        key, date, region, service, term = out["Credential"].split("/")
        return {"key": key, "date": date, "region": region,
                "service": service, "signed": out["SignedHeaders"].split(";"),
                "sig": out["Signature"]}
    except (KeyError, ValueError):
        return None


def verify(method, path, headers, body, a, cred):
    """Recompute the signature with botocore; True when it matches."""
    url = "http://%s%s" % (headers.get("Host"), path)
    signed = HTTPHeaders()
    for name in a["signed"]:
        v = headers.get(name)
        if v is None:
            return False
        signed[name] = v
    req = AWSRequest(method=method, url=url, data=body, headers=dict(signed.items()))
    req.context["timestamp"] = headers.get("X-Amz-Date", "")
    # S3 signs the path as is and takes the payload hash from a header;
    # other services (ses, monitoring) use the plain SigV4 rules
    cls = S3SigV4Auth if a["service"] == "s3" else SigV4Auth
    signer = cls(Credentials(a["key"], cred["secret"], cred.get("token")),
                 a["service"], a["region"])
    signer.headers_to_sign = lambda r: signed
    want = signer.signature(signer.string_to_sign(req, signer.canonical_request(req)), req)
    return want == a["sig"]


def ses_error(code, msg, status=400, kind="Sender"):
    x = ('<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code>'
         '<Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>'
         % (SES_NS, kind, code, msg, uuid.uuid4()))
    return status, x, code


SCRIPT = [
    ("reject", lambda r: ses_error("MessageRejected",
                                   "Email address is not verified. The following identities failed "
                                   "the check in region US-EAST-1: %s" % r)),
    ("toolong", lambda r: ses_error("InvalidParameterValue",
                                    "Message length is more than 10485760 bytes long: '10485761'.")),
    ("throttle", lambda r: ses_error("Throttling", "Maximum sending rate exceeded.")),
    ("quota", lambda r: ses_error("Throttling", "Daily message quota exceeded.")),
    ("paused", lambda r: ses_error("AccountSendingPausedException",
                                   "Email sending is disabled for your entire Amazon SES account.")),
    ("fail500", lambda r: ses_error("InternalFailure", "An internal error occurred.", 500, "Receiver")),
]


def ses_send_raw(form, key, t_arrived):
    dests = [v[0] for k, v in sorted(form.items()) if k.startswith("Destinations.member.")]
    rcpt = dests[0] if dests else ""
    local = rcpt.split("@")[0].lower()
    for prefix, answer in SCRIPT:
        if local.startswith(prefix):
            return answer(rcpt)
    if local.startswith("slow"):
        time.sleep(30)
        return ses_error("InternalFailure", "slow", 500, "Receiver")
    try:
        raw = base64.b64decode(form["RawMessage.Data"][0], validate=True)
    except Exception:
        return ses_error("InvalidParameterValue", "RawMessage.Data is not base64")
    with LOCK:
        STATE["seq"] += 1
        n = STATE["seq"]
    d = os.path.join(ARGS.dir, "msgs")
    with open(os.path.join(d, "%06d.%d.eml" % (n, os.getpid())), "wb") as f:
        f.write(raw)
    meta = {"Source": form.get("Source", [""])[0], "Destinations": dests,
            "ConfigurationSetName": form.get("ConfigurationSetName", [None])[0],
            "t": time.time(), "t_arrived": t_arrived, "key": key}
    with open(os.path.join(d, "%06d.%d.json" % (n, os.getpid())), "w") as f:
        json.dump(meta, f)
    mid = "0100%s-000000" % uuid.uuid4().hex
    x = ('<SendRawEmailResponse xmlns="%s"><SendRawEmailResult><MessageId>%s</MessageId>'
         '</SendRawEmailResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>'
         '</SendRawEmailResponse>' % (SES_NS, mid, uuid.uuid4()))
    return 200, x, None


def ses(form, key, t_arrived):
    action = form.get("Action", [""])[0]
    if action == "SendRawEmail":
        return ses_send_raw(form, key, t_arrived)
    return ses_error("InvalidAction", "Unknown action %s" % action)


CW_NS = "http://monitoring.amazonaws.com/doc/2010-08-01/"


def cw_error(code, msg, status=400):
    x = ('<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>%s</Code>'
         '<Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>'
         % (CW_NS, code, msg, uuid.uuid4()))
    return status, x, code


def monitoring(form, key, t_arrived=None):
    """CloudWatch PutMetricData (query API): checks the shape AWS checks
    (namespace, names, units, a Value or a complete statistic set) and
    stores each call's parameters, one JSON line in OUT/metrics."""
    f = {k: v[0] for k, v in form.items()}
    if f.get("Action") != "PutMetricData":
        return cw_error("InvalidAction", "Unknown action %s" % f.get("Action"))
    if not f.get("Namespace") or f["Namespace"].startswith("AWS/"):
        return cw_error("InvalidParameterValue", "bad Namespace")
    units = {"Seconds", "Microseconds", "Milliseconds", "Bytes", "Count", "Percent", "None"}
    n = 0
    while "MetricData.member.%d.MetricName" % (n + 1) in f:
        n += 1
        m = "MetricData.member.%d." % n
        if f.get(m + "Unit", "None") not in units:
            return cw_error("InvalidParameterValue", "bad Unit")
        stat = [f.get(m + "StatisticValues." + k) for k in ("SampleCount", "Sum", "Minimum", "Maximum")]
        if (m + "Value" in f) == any(x is not None for x in stat) or \
                (any(x is not None for x in stat) and not all(x is not None for x in stat)):
            return cw_error("InvalidParameterCombination", "Value or a whole StatisticValues")
    if n == 0 or n > 1000:
        return cw_error("InvalidParameterValue", "1 to 1000 MetricData members")
    f["_t"] = time.time()
    f["_key"] = key
    append("metrics", json.dumps(f))
    return 200, ('<PutMetricDataResponse xmlns="%s"><ResponseMetadata><RequestId>%s'
                 '</RequestId></ResponseMetadata></PutMetricDataResponse>' % (CW_NS, uuid.uuid4())), None


# ---- S3 (GET of objects the test put with Stub.s3_put) ----
# OUT/s3/<bucket>/<key> holds the bytes; ETag = quoted MD5 hex, as S3 gives
# for a single-part upload. OUT/s3_hang present: S3 requests are accepted
# and never answered (until the file goes or the stand-in stops).


def s3_error(status, code, msg):
    x = ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code>'
         '<Message>%s</Message><RequestId>%s</RequestId></Error>'
         % (code, msg, uuid.uuid4()))
    return status, x, code


def s3_get(method, path, headers):
    hang = os.path.join(ARGS.dir, "s3_hang")
    t0 = time.time()
    while os.path.exists(hang) and not STATE["stopping"] and time.time() - t0 < 120:
        time.sleep(0.05)
    if method != "GET":
        return s3_error(405, "MethodNotAllowed", "only GET is served")
    parts = urllib.parse.unquote(path.split("?")[0]).lstrip("/").split("/", 1)
    if len(parts) != 2 or not parts[1]:
        return s3_error(400, "InvalidRequest", "path-style /bucket/key expected")
    root = os.path.join(ARGS.dir, "s3")
    bdir = os.path.join(root, parts[0])
    if not os.path.isdir(bdir):
        return s3_error(404, "NoSuchBucket", "The specified bucket does not exist")
    p = os.path.normpath(os.path.join(bdir, parts[1]))
    if not p.startswith(bdir + "/") or not os.path.isfile(p):
        return s3_error(404, "NoSuchKey", "The specified key does not exist.")
    with open(p, "rb") as f:
        data = f.read()
    etag = '"%s"' % hashlib.md5(data).hexdigest()
    if headers.get("If-None-Match") == etag:
        return 304, b"", None, {"ETag": etag}
    return 200, data, None, {"ETag": etag}



SERVICES = {"ses": ses, "monitoring": monitoring}  # S3: s3_get


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10

    def log_message(self, *a):
        pass

    def reply(self, status, body, ctype="text/xml", close=False, extra=None):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def enter(self):
        with LOCK:
            if STATE["stopping"]:
                return False
            STATE["inflight"] += 1
            return True

    def leave(self):
        with LOCK:
            STATE["inflight"] -= 1

    def handle_any(self, method):
        self.t_arrived = time.time()
        body = self.body()
        if not self.enter():
            self.reply(503, "stopping", "text/plain", close=True)
            return
        try:
            if self.path.startswith("/latest/"):
                self.imds(method)
            elif self.path.startswith("/__stub/"):
                self.control()
            else:
                self.aws(method, body)
        finally:
            self.leave()

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_HEAD(self):
        self.handle_any("HEAD")

    # ---- AWS ----
    def aws(self, method, body):
        a = parse_auth(self.headers.get("Authorization"))
        key = a["key"] if a else None
        res = self.aws_checked(method, body, a)
        status, x, code = res[:3]
        rec = {"t": time.time(), "key": key, "service": a and a["service"],
               "status": status, "code": code}
        if a and a["service"] == "s3":
            rec.update({"path": self.path, "bytes": len(x),
                        "if_none_match": self.headers.get("If-None-Match")})
        append("requests", json.dumps(rec))
        if len(res) > 3:
            self.reply(status, x, "application/octet-stream", extra=res[3])
        else:
            self.reply(status, x)

    def aws_checked(self, method, body, a):
        if a is None:
            return ses_error("MissingAuthenticationToken", "Request is missing Authentication Token", 403)
        cred = load_creds().get(a["key"])
        if cred is None:
            return ses_error("InvalidClientTokenId", "The security token included in the request is invalid.", 403)
        if cred.get("expires") and time.time() > cred["expires"]:
            return ses_error("ExpiredToken", "The security token included in the request is expired", 403)
        if cred.get("token"):
            if self.headers.get("X-Amz-Security-Token") != cred["token"] or \
                    "x-amz-security-token" not in a["signed"]:
                return ses_error("InvalidClientTokenId", "The security token included in the request is invalid.", 403)
        if not verify(method, self.path, self.headers, body, a, cred):
            return ses_error("SignatureDoesNotMatch",
                             "The request signature we calculated does not match the signature you provided.", 403)
        if a["service"] == "s3":
            return s3_get(method, self.path, self.headers)
        svc = SERVICES.get(a["service"])
        if svc is None:
            return ses_error("InvalidAction", "service %s not handled" % a["service"])
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        return svc(form, a["key"], self.t_arrived)

    # ---- IMDSv2 ----
    def imds(self, method):
        if self.path == "/latest/api/token":
            if method != "PUT" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                self.reply(400, "token request must be a PUT with a TTL", "text/plain")
                return
            tok = uuid.uuid4().hex
            with LOCK:
                STATE["imds_tokens"].add(tok)
            append("imds", json.dumps({"t": time.time(), "what": "token"}))
            self.reply(200, tok, "text/plain")
            return
        with LOCK:
            ok = self.headers.get("X-aws-ec2-metadata-token") in STATE["imds_tokens"]
        if not ok:
            self.reply(401, "", "text/plain")
            return
        base = "/latest/meta-data/iam/security-credentials/"
        if self.path == base:
            self.reply(200, "mr-role", "text/plain")
        elif self.path == base + "mr-role":
            self.reply(200, json.dumps(self.issue()), "text/plain")
        elif self.path == "/latest/meta-data/instance-id":
            self.reply(200, "i-0123456789abcdef0", "text/plain")
        elif self.path == "/latest/meta-data/tags/instance/aws:autoscaling:groupName":
            self.reply(200, "mr-asg-from-tags", "text/plain")
        else:
            self.reply(404, "", "text/plain")

    def issue(self):
        with LOCK:
            STATE["issued"] += 1
            n = STATE["issued"]
            key = "ASIASTUB%08d" % n
            c = {"secret": "imds-secret-%d-%s" % (n, uuid.uuid4().hex),
                 "token": "imds-token-%d-%s" % (n, uuid.uuid4().hex),
                 "expires": time.time() + ARGS.imds_lifetime}
            p = os.path.join(ARGS.dir, "issued.json")
            old = json.load(open(p)) if os.path.exists(p) else {}
            old[key] = c
            with open(p + ".tmp", "w") as f:
                json.dump(old, f)
            os.rename(p + ".tmp", p)
        append("imds", json.dumps({"t": time.time(), "what": "creds", "key": key}))
        exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(c["expires"]))
        return {"Code": "Success", "LastUpdated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "Type": "AWS-HMAC", "AccessKeyId": key, "SecretAccessKey": c["secret"],
                "Token": c["token"], "Expiration": exp}

    # ---- control ----
    def control(self):
        if self.path == "/__stub/stats":
            self.reply(200, json.dumps(stats(ARGS.dir)), "application/json")
        else:
            self.reply(404, "", "text/plain")


def stats(d):
    """Counts from OUT (also usable from the test without HTTP)."""
    def lines(name):
        p = os.path.join(d, name)
        return open(p).read().splitlines() if os.path.exists(p) else []
    reqs = [json.loads(l) for l in lines("requests")]
    return {"connections": len(lines("conns")), "requests": len(reqs),
            "status": {str(s): sum(1 for r in reqs if r["status"] == s)
                       for s in sorted({r["status"] for r in reqs})},
            "codes": {c: sum(1 for r in reqs if r["code"] == c)
                      for c in sorted({r["code"] for r in reqs if r["code"]})},
            "keys": sorted({r["key"] for r in reqs if r["key"]})}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # a client that gave up (timeout) while we answered: not an error
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)

    def process_request(self, request, client_address):
        append("conns", "%f" % time.time())
        # answer at once: no Nagle delay against the client's delayed ACK
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().process_request(request, client_address)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--creds")
    ap.add_argument("--imds-lifetime", type=float, default=3600)
    ARGS = ap.parse_args()
    os.makedirs(os.path.join(ARGS.dir, "msgs"), exist_ok=True)
    srv = Server(("127.0.0.1", ARGS.port), Handler)

    def stop(*_):
        with LOCK:
            STATE["stopping"] = True
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print("READY %d" % srv.server_address[1], flush=True)
    srv.serve_forever(poll_interval=0.1)
    srv.server_close()
    t0 = time.time()
    while time.time() - t0 < 5:
        with LOCK:
            if STATE["inflight"] == 0:
                break
        time.sleep(0.02)
    sys.exit(0)


if __name__ == "__main__":
    main()


def write_creds(path, key, secret):
    """The stand-in's key file at path with one key pair; returns the
    environment a client signs with that pair."""
    with open(path, "w") as f:
        json.dump({key: {"secret": secret}}, f)
    return {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_SESSION_TOKEN": ""}


class Stub:
    """Run the stand-in as a child process (for tests): start, stop (an
    outage), start again on the same port, read what it stored."""

    def __init__(self, d, creds=None, imds_lifetime=3600):
        import subprocess
        self.sp = subprocess
        self.dir = d
        self.creds = creds
        self.imds_lifetime = imds_lifetime
        self.port = 0
        self.p = None
        os.makedirs(os.path.join(d, "msgs"), exist_ok=True)

    def start(self):
        argv = ["/usr/bin/python3", os.path.abspath(__file__), "--dir", self.dir,
                "--port", str(self.port), "--imds-lifetime", str(self.imds_lifetime)]
        if self.creds:
            argv += ["--creds", self.creds]
        for _ in range(50):
            self.p = self.sp.Popen(argv, stdout=self.sp.PIPE, stdin=self.sp.DEVNULL)
            line = self.p.stdout.readline().decode()
            if line.startswith("READY "):
                self.port = int(line.split()[1])
                return self
            self.p.wait(10)  # port still held (restart): try again
            time.sleep(0.1)
        raise RuntimeError("awsstub did not start")

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(15)
            except self.sp.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)

    def url(self):
        return "http://127.0.0.1:%d/" % self.port

    def stats(self):
        return stats(self.dir)

    def s3_put(self, bucket, key, data):
        """Store an object (atomically: a GET sees the old or the new)."""
        p = os.path.join(self.dir, "s3", bucket, key)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p + ".tmp", "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.rename(p + ".tmp", p)

    def s3_delete(self, bucket, key):
        os.unlink(os.path.join(self.dir, "s3", bucket, key))

    def s3_hang(self, on):
        p = os.path.join(self.dir, "s3_hang")
        if on:
            open(p, "w").close()
        elif os.path.exists(p):
            os.unlink(p)

    def s3_requests(self):
        return [r for r in self.requests() if r.get("service") == "s3"]

    def requests(self):
        p = os.path.join(self.dir, "requests")
        return [json.loads(l) for l in open(p)] if os.path.exists(p) else []

    def msgs(self):
        """[(raw bytes, meta)] in arrival order."""
        d = os.path.join(self.dir, "msgs")
        out = []
        for n in os.listdir(d):
            if n.endswith(".json"):
                meta = json.load(open(os.path.join(d, n)))
                raw = open(os.path.join(d, n[:-5] + ".eml"), "rb").read()
                out.append((raw, meta))
        out.sort(key=lambda m: m[1]["t"])
        return out
