"""HTTP/3 for the integration tests: ferry started on inherited sockets (a UDP one for `quic`,
others as asked) and tests/tools/h3client.c (built by make next to ferry, in B/tools/) as the
client, one connection per call, any request fields and bodies, responses byte-exact.

    s = H3Server("site * {\\n tls %(crt)s %(key)s\\n root %(root)s\\n}\\n")
    r = s.get("/x", headers=[("accept-encoding", "gzip")])        # one Resp
    rs = s.requests([H3Req("/a"), H3Req("/b", method="POST", body=b"x")])
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

from ferrylib import (FERRY, SLOW, NotifySocket, Proc, TestFailure, check, on_cleanup,
                      tmpdir, write_config)

H3CLIENT = os.environ.get("FERRY_H3CLIENT") or os.path.join(os.path.dirname(FERRY), "tools",
                                                            "h3client")

# The sockets as systemd passes them: fds 3.. with LISTEN_FDS, LISTEN_PID the process's own
# (the wrapper execs ferry, keeping it); LISTEN_FDNAMES comes from the caller.
_FDS_WRAPPER = r"""
import fcntl, os, sys
n = int(sys.argv[1]); fds = [int(x) for x in sys.argv[2:2 + n]]
high = [fcntl.fcntl(f, fcntl.F_DUPFD, 100) for f in fds]
for i, f in enumerate(high):
    os.dup2(f, 3 + i)
    os.set_inheritable(3 + i, True)
    os.close(f)
os.environ["LISTEN_FDS"] = str(n)
os.environ["LISTEN_PID"] = str(os.getpid())
argv = sys.argv[2 + n:]
os.execv(argv[0], argv)
"""


def self_signed(d, name="localhost"):
    """A self-signed ECDSA certificate for name (h3client does not verify it)."""
    key = os.path.join(d, name + ".key")
    crt = os.path.join(d, name + ".crt")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                        "-days", "30", "-subj", "/CN=" + name, "-addext",
                        "subjectAltName=DNS:" + name], capture_output=True, timeout=60)
    check(r.returncode == 0, "openssl: %s" % r.stderr.decode())
    return crt, key


class Resp:
    """A response: status (the final one), interim (1xx statuses), headers and trailers
    (lists of (lower-case name, value)), body (bytes), result ("ok", "reset 0x...",
    "incomplete")."""

    def __init__(self, method, path):
        self.proto = "h3"
        self.method, self.path = method, path
        self.status = None
        self.interim = []
        self.headers = []
        self.trailers = []
        self.body = b""
        self.result = None

    def header(self, name, default=None):
        v = self.all(name)
        return v[0] if v else default

    def all(self, name):
        return [v for k, v in self.headers if k == name.lower()]

    def __repr__(self):
        return "<h3 %s %r %r %r>" % (self.status, self.headers, self.body[:200], self.result)


class H3Req:
    def __init__(self, path, method="GET", headers=(), body=None, authority=None):
        self.path, self.method, self.headers, self.body = path, method, list(headers), body
        self.authority = authority


def parse_output(out):
    """h3client's output (bytes) -> [Resp]."""
    resps = []
    i = 0
    cur = None
    while i < len(out):
        j = out.index(b"\n", i)
        line = out[i:j].decode("latin-1")
        i = j + 1
        word, _, rest = line.partition(" ")
        if word == "request":
            _, method, path = rest.split(" ", 2)
            cur = Resp(method, path)
            resps.append(cur)
        elif word == "status":
            if cur.status is not None:
                cur.interim.append(cur.status)
                cur.headers = []
            cur.status = int(rest)
        elif word in ("header", "trailer"):
            k, _, v = rest.partition(": ")
            (cur.headers if word == "header" else cur.trailers).append((k, v))
        elif word == "body":
            n = int(rest)
            cur.body = out[i:i + n]
            check(out[i + n:i + n + 1] == b"\n", "h3client: no line end after the body")
            i += n + 1
        elif word == "result":
            cur.result = rest
        else:
            raise TestFailure("h3client: unexpected line %r" % line)
    return resps


class H3Run:
    """An h3client running (h3_start): wait() for its [Resp]."""

    def __init__(self, argv, nreqs, files, timeout, want_ok):
        self.nreqs, self.files, self.timeout, self.want_ok = nreqs, files, timeout, want_ok
        d = tmpdir()
        self.out = tempfile.NamedTemporaryFile(prefix="h3out-", dir=d, delete=False)
        self.err = tempfile.NamedTemporaryFile(prefix="h3err-", dir=d, delete=False)
        self.p = subprocess.Popen(argv, stdout=self.out, stderr=self.err,
                                  stdin=subprocess.DEVNULL)
        on_cleanup(lambda: self.p.poll() is None and self.p.kill())

    def wait(self):
        rc = self.p.wait(timeout=self.timeout * SLOW + 10)
        for f in self.files:
            os.unlink(f)
        self.out.close()
        self.err.close()
        with open(self.out.name, "rb") as f:
            out = f.read()
        with open(self.err.name, "rb") as f:
            err = f.read().decode("utf-8", "replace")
        check(rc in (0, 1), "h3client: exit %d: %s" % (rc, err))
        resps = parse_output(out)
        check(len(resps) == self.nreqs, "h3client printed %d responses for %d requests: %s"
              % (len(resps), self.nreqs, err))
        if self.want_ok:
            bad = [x for x in resps if x.result != "ok"]
            check(rc == 0 and not bad, "h3client: exit %d, %r: %s" % (rc, bad, err))
        self.rc, self.stderr = rc, err
        return resps


def h3_start(addr, port, reqs, sni="localhost", authority="localhost", parallel=False,
             timeout=20, want_ok=True, tee=None, pause_ms=None):
    """Start h3client: one connection, reqs (H3Req, or path strings) one after the other
    (all at once with parallel); with tee, request N's body also goes to TEE.N as it comes;
    with pause_ms, the client stops reading for that long once the first body bytes came.
    Returns an H3Run."""
    check(os.access(H3CLIENT, os.X_OK), "no %s: build it with make" % H3CLIENT)
    argv = [H3CLIENT, "-s", sni, "-a", authority, "-t", str(int(timeout * SLOW))]
    if parallel:
        argv.append("-p")
    if tee:
        argv += ["-w", tee]
    if pause_ms:
        argv += ["-P", str(pause_ms)]
    argv += [addr, str(port)]
    files = []
    for q in reqs:
        if isinstance(q, str):
            q = H3Req(q)
        if q.method != "GET":
            argv += ["-X", q.method]
        if q.authority is not None:
            argv += ["-H", ":authority: " + q.authority]
        for k, v in q.headers:
            argv += ["-H", "%s: %s" % (k, v)]
        if q.body is not None:
            f = tempfile.NamedTemporaryFile(prefix="h3body-", dir=tmpdir(), delete=False)
            f.write(q.body)
            f.close()
            files.append(f.name)
            argv += ["-D", f.name]
        argv.append(q.path)
    return H3Run(argv, len(reqs), files, timeout, want_ok)


def h3_requests(addr, port, reqs, **kw):
    """h3_start, then wait: [Resp]. With want_ok (default), a request that did not end well
    (or a failed connection) fails the test."""
    return h3_start(addr, port, reqs, **kw).wait()


class H3Server:
    """ferry with `listen quic quic` on a UDP socket of 127.0.0.1 (and ::1), plus the TCP
    listeners named in tcp (each `listen NAME` line is the caller's, in extra or conf; their
    addresses in self.tcp[NAME] as (host, port)). conf is the rest of the configuration,
    with %(crt)s, %(key)s, %(dir)s and %(root)s (DIR/www, created) filled in, as in top (the
    top-level lines before it). ferry: another binary than FERRY (the brotli build)."""

    def __init__(self, conf, tcp=(), top="access-log off\n", log_stderr=False, ferry=None):
        self.dir = d = tmpdir()
        self.root = os.path.join(d, "www")
        os.makedirs(self.root, exist_ok=True)
        self.crt, self.key = self_signed(d)
        subst = {"crt": self.crt, "key": self.key, "dir": d, "root": self.root}
        socks, names = [], []
        u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u4.bind(("127.0.0.1", 0))
        u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        u6.bind(("::1", 0))
        socks += [u4, u6]
        names += ["quic", "quic"]
        self.port4 = u4.getsockname()[1]
        self.port6 = u6.getsockname()[1]
        self.tcp = {}
        for n in tcp:
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            t.bind(("127.0.0.1", 0))
            t.listen(64)
            socks.append(t)
            names.append(n)
            self.tcp[n] = t.getsockname()
        for s in socks:
            on_cleanup(s.close)
        text = "listen quic quic\n" + "".join("listen %s\n" % n for n in tcp) + \
            (top % subst) + (conf % subst)
        self.config = write_config(d, text)
        self.notify = NotifySocket(d)
        fds = [s.fileno() for s in socks]
        self.p = Proc([sys.executable, "-c", _FDS_WRAPPER, str(len(fds))] +
                      [str(f) for f in fds] + [ferry or FERRY, "serve", "--config", self.config],
                      env={"LISTEN_FDNAMES": ":".join(names), "NOTIFY_SOCKET": self.notify.env},
                      pass_fds=fds, dir=d, name="ferry")
        deadline = time.monotonic() + 10 * SLOW
        while True:
            try:
                self.notify.wait_for(lambda m: "READY=1" in m, 0.2, "READY=1")
                break
            except TestFailure as e:
                if not self.p.alive() or time.monotonic() > deadline:
                    raise TestFailure("%s; ferry said: %s" % (e, self.p.stderr()[-2000:]))

    def requests(self, reqs, v6=False, **kw):
        return h3_requests("::1" if v6 else "127.0.0.1", self.port6 if v6 else self.port4,
                           reqs, **kw)

    def start(self, reqs, v6=False, **kw):
        return h3_start("::1" if v6 else "127.0.0.1", self.port6 if v6 else self.port4,
                        reqs, **kw)

    def get(self, path, headers=(), method="GET", body=None, authority=None, **kw):
        return self.requests([H3Req(path, method, headers, body, authority)], **kw)[0]

    def stop(self):
        check(self.p.stop() == 0, "ferry's exit code")
