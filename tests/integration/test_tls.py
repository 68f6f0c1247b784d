#!/usr/bin/env python3
"""TLS (`listen ... tls`, `tls CERT KEY` per site): TLS 1.2 and 1.3 with curl and Python's ssl
against a test CA made here with openssl; SNI picks the site's certificate (ECDSA or RSA by the
client's signature algorithms, exact name, wildcard, no SNI: the default); 421 when the Host
names another site than the handshake; TLS 1.0/1.1 and CBC suites refused; a large file and a
range; keep-alive and pipelining on one TLS connection; a KeyUpdate sharing a segment with the
next request; session resumption across workers; a PROXY header before the ClientHello; a
stalled handshake cut by header-timeout; the limit on handshakes in progress; plain-HTTP 308 to
https (not for ACME challenges, not with http-redirect off); hsts; `ferry check` on
certificates; reload with a new certificate under the sandbox (strict: any syscall GnuTLS needs
and seccomp lacks kills the process); the static binary and its library list."""
import atexit
import os
import re
import shutil
import select
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403
from pki import Pki  # noqa: E402

BIG = (5 << 20) + 12345


# ---- the test PKI: a CA, leaves for a.test (ECDSA and RSA) and b.test (ECDSA) --------------

_pki = []


def pki():
    if not _pki:
        p = Pki()
        p.a_ec_key = p.key("a-ec", "ec")
        p.a_ec = p.leaf("a-ec", p.a_ec_key, ["DNS:a.test", "DNS:www.a.test"])
        p.a_rsa_key = p.key("a-rsa", "rsa")
        p.a_rsa = p.leaf("a-rsa", p.a_rsa_key, ["DNS:a.test", "DNS:www.a.test"])
        p.b_key = p.key("b-ec", "ec")
        p.b = p.leaf("b-ec", p.b_key, ["DNS:b.test", "DNS:*.b.test"])
        _pki.append(p)
    return _pki[0]


# ---- servers and clients --------------------------------------------------------------------

def make_roots(d):
    a = os.path.join(d, "www-a")
    write_file(os.path.join(a, "index.html"), b"site a\n")
    big = os.urandom(BIG)
    write_file(os.path.join(a, "big.bin"), big)
    b = os.path.join(d, "www-b")
    write_file(os.path.join(b, "index.html"), b"site b\n")
    pl = os.path.join(d, "www-plain")
    write_file(os.path.join(pl, "index.html"), b"plain\n")
    return a, b, pl, big


def sites_conf(p, a, b, pl, a_extra="", b_extra=""):
    return ("site a.test www.a.test {\n tls %s %s\n tls %s %s\n root %s\n%s}\n"
            "site b.test *.b.test {\n tls %s %s\n root %s\n%s}\n"
            "site plain.test {\n root %s\n}\n"
            % (p.a_ec, p.a_ec_key, p.a_rsa, p.a_rsa_key, a, a_extra, p.b, p.b_key, b, b_extra,
               pl))


def start(extra="", a_extra=" hsts 1d include-subdomains\n", b_extra="", pp=False):
    """ferry under systemd-socket-activate with `listen http` and `listen https tls` (and, with
    pp, `listen pp tls proxy-protocol`). Returns (proc, plain, tls, dir, big[, pp])."""
    p = pki()
    d = tmpdir()
    a, b, pl, big = make_roots(d)
    listens = "listen http\nlisten https tls\n" + ("listen pp tls proxy-protocol\n" if pp else "")
    cfg = write_config(d, listens + "access-log %s/access.log\n" % d + extra +
                       sites_conf(p, a, b, pl, a_extra, b_extra))
    names = ["http", "https"] + (["pp"] if pp else [])
    proc, addrs = activate(lambda: [tcp4() for _ in names], ["serve", "--config", cfg],
                           fdnames=names, dir=d)
    return (proc, addrs[0], addrs[1], d, big) + ((addrs[2],) if pp else ())


def ctx_for(version=None, alpn=None, check_name=True):
    ctx = ssl.create_default_context(cafile=pki().ca)
    if not check_name:
        ctx.check_hostname = False
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def tls_sock(addr, name="a.test", ctx=None, session=None, raw=None):
    """A TLS connection to addr (SNI name; None: no SNI). raw: an already connected socket."""
    ctx = ctx or ctx_for(check_name=name is not None)
    s = raw or socket.create_connection(addr.sockaddr, timeout=5 * SLOW)
    s.settimeout(5 * SLOW)
    t = ctx.wrap_socket(s, server_hostname=name, session=session)
    on_cleanup(t.close)
    return t


def tls_get(addr, path="/", name="a.test", host=None, ctx=None, headers=()):
    t = tls_sock(addr, name, ctx)
    c = HttpConn(addr, sock=t)
    c.send(request_bytes(path, host=host or name or "a.test",
                         headers=list(headers) + ["Connection: close"]))
    return c.read_response()


def read_big(t):
    """One response with a Content-Length, read into a bytearray (HttpConn's bytes grow
    quadratically with 16 KiB records): (status, body)."""
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        d = t.recv(65536)
        check(d, "closed before the head")
        buf += d
    i = buf.index(b"\r\n\r\n")
    head = bytes(buf[:i]).decode("latin-1")
    n = int(re.search(r"(?im)^content-length: *(\d+)", head).group(1))
    body = buf[i + 4:]
    while len(body) < n:
        d = t.recv(1 << 20)
        check(d, "closed after %d of %d body bytes" % (len(body), n))
        body += d
    check_eq(len(body), n, "no bytes after the body")
    return int(head.split()[1]), bytes(body)


def curl(addr, url_host, path, *args):
    port = addr.sockaddr[1]
    argv = ["curl", "-sS", "-v", "--cacert", pki().ca, "--resolve",
            "%s:%d:127.0.0.1" % (url_host, port), "https://%s:%d%s" % (url_host, port, path)]
    if "--http2" not in args:
        argv.append("--http1.1")  # (curl asks for h2 over TLS by default: ALPN would give it)
    r = subprocess.run(argv + list(args), capture_output=True, timeout=30 * SLOW)
    return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace")


def served_cert(addr, *args):
    """The subject CN openssl s_client is given (args: -servername X, -noservername...)."""
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % addr.sockaddr[1]] +
                       list(args), stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=20 * SLOW)
    out = r.stdout.decode("utf-8", "replace")
    m = re.search(r"^subject=.*CN ?= ?([^,\n]+)", out, re.M)
    return (m.group(1).strip() if m else None), out + r.stderr.decode("utf-8", "replace")


# ---- the tests ------------------------------------------------------------------------------

@test("curl over TLS 1.3 and TLS 1.2 (--cacert): the site's file, the version asked for")
def _():
    proc, plain, tls, d, big = start()
    for args, want in ((["--tlsv1.3"], "TLSv1.3"), (["--tlsv1.2", "--tls-max", "1.2"], "TLSv1.2")):
        rc, out, err = curl(tls, "a.test", "/", *args)
        check_eq((rc, out), (0, b"site a\n"), "curl %s" % args)
        m = re.search(r"SSL connection using (TLSv1\.\d) / (\S+)", err)
        check(m and m.group(1) == want and re.search("GCM|CHACHA20", m.group(2)),
              "negotiated %s with an AEAD suite: %s" % (want, m and m.group(0)))
    rc, out, err = curl(tls, "x.b.test", "/")
    check_eq((rc, out), (0, b"site b\n"), "wildcard site b")
    check(proc.alive(), "ferry alive")


@test("SNI picks the certificate: exact, wildcard, RSA for an RSA-only client, no SNI: default")
def _():
    proc, plain, tls, d, big = start()
    check_eq(served_cert(tls, "-servername", "a.test")[0], "a-ec", "a.test (ECDSA first)")
    check_eq(served_cert(tls, "-servername", "www.a.test")[0], "a-ec", "www.a.test")
    cn, out = served_cert(tls, "-servername", "a.test", "-sigalgs", "RSA-PSS+SHA256:RSA+SHA256")
    check_eq(cn, "a-rsa", "a.test for a client that only takes RSA signatures")
    cn, out = served_cert(tls, "-servername", "a.test", "-tls1_2", "-cipher",
                          "ECDHE-RSA-AES128-GCM-SHA256")
    check_eq(cn, "a-rsa", "TLS 1.2 with an ECDHE-RSA suite")
    check_eq(served_cert(tls, "-servername", "x.b.test")[0], "b-ec", "x.b.test (wildcard)")
    check_eq(served_cert(tls, "-servername", "b.test")[0], "b-ec", "b.test")
    check_eq(served_cert(tls, "-noservername")[0], "a-ec", "no SNI: the first site with tls")
    check_eq(served_cert(tls, "-servername", "plain.test")[0], "a-ec",
             "a site without certificates: the default's")
    check_eq(served_cert(tls, "-servername", "nowhere.example")[0], "a-ec", "unknown name")


@test("421 when the Host names another site than the handshake; the same site by another name is served")
def _():
    proc, plain, tls, d, big = start()
    check_eq(tls_get(tls, "/", name="a.test", host="b.test").status, 421, "SNI a, Host b")
    check_eq(tls_get(tls, "/", name="x.b.test", host="a.test").status, 421, "SNI x.b, Host a")
    check_eq(tls_get(tls, "/", name="a.test", host="plain.test").status, 421,
             "SNI a, Host a site without certificates")
    r = tls_get(tls, "/", name="a.test", host="www.a.test")
    check_eq((r.status, r.body), (200, b"site a\n"), "SNI a, Host www.a (same site)")
    r = tls_get(tls, "/", name="x.b.test", host="y.b.test:443")
    check_eq((r.status, r.body), (200, b"site b\n"), "SNI x.b, Host y.b:443 (same site)")
    # no SNI: the connection is the default site's
    r = tls_get(tls, "/", name=None, host="a.test")
    check_eq((r.status, r.body), (200, b"site a\n"), "no SNI, Host a (the default)")
    check_eq(tls_get(tls, "/", name=None, host="b.test").status, 421, "no SNI, Host b")
    # an absolute-form target names the site too
    t = tls_sock(tls, "a.test")
    c = HttpConn(tls, sock=t)
    c.send(b"GET https://b.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n")
    check_eq(c.read_response().status, 421, "absolute-form target for b over a's connection")


@test("TLS 1.0 and 1.1 are refused with protocol_version; CBC and non-ECDHE suites too")
def _():
    proc, plain, tls, d, big = start()
    for v in ("1.0", "1.1"):
        rc, out, err = curl(tls, "a.test", "/", "--tlsv%s" % v, "--tls-max", v)
        check(rc != 0 and out == b"", "TLS %s must fail: rc %d" % (v, rc))
    cn, out = served_cert(tls, "-servername", "a.test", "-tls1_1")
    check(cn is None and "alert protocol version" in out, "TLS 1.1: %s" % out[-600:])
    for cipher in ("ECDHE-RSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA", "AES128-GCM-SHA256",
                   "DHE-RSA-AES128-GCM-SHA256"):
        cn, out = served_cert(tls, "-servername", "a.test", "-tls1_2", "-cipher", cipher)
        check(cn is None, "TLS 1.2 %s must be refused: %s" % (cipher, out[-400:]))
    ok, out = served_cert(tls, "-servername", "a.test", "-tls1_2", "-cipher",
                          "ECDHE-ECDSA-CHACHA20-POLY1305")
    check_eq(ok, "a-ec", "ECDHE-ECDSA-CHACHA20-POLY1305 is accepted")
    # the groups: X25519 and P-256 only
    cn, out = served_cert(tls, "-servername", "a.test", "-groups", "P-384")
    check(cn is None, "P-384 only must be refused")
    check_eq(served_cert(tls, "-servername", "a.test", "-groups", "X25519")[0], "a-ec", "X25519")
    check(proc.alive(), "ferry alive")


@test("a 5 MiB file (sha256) over TLS 1.3 and 1.2, a range, HEAD; 20 MiB twice to a slow reader")
def _():
    proc, plain, tls, d, big = start()
    for args in (["--tlsv1.3"], ["--tlsv1.2", "--tls-max", "1.2"]):
        rc, out, err = curl(tls, "a.test", "/big.bin", *args)
        check_eq(rc, 0, "curl %s: %s" % (args, err[-300:]))
        check_eq((len(out), sha(out)), (len(big), sha(big)), "body %s" % args)
    rc, out, err = curl(tls, "a.test", "/big.bin", "-r", "1000000-1999999")
    check_eq((rc, sha(out)), (0, sha(big[1000000:2000000])), "range")
    check_in("HTTP/1.1 206", err, "status of the range")
    t = tls_sock(tls)
    c = HttpConn(tls, sock=t)
    c.send(request_bytes("/big.bin", method="HEAD", host="a.test"))
    r = c.read_response(method="HEAD")
    check_eq((r.status, r.header("content-length")), (200, str(len(big))), "HEAD")
    c.send(request_bytes("/big.bin", host="a.test", headers=["Range: bytes=-100"]))
    r = c.read_response()
    check_eq((r.status, r.body), (206, big[-100:]), "suffix range on the same connection")
    # a client that reads slowly, twice on one connection: 20 MB outgrow the socket buffers,
    # so ferry's writes block (EAGAIN) and resume mid-record
    huge = os.urandom(20 << 20)
    write_file(os.path.join(d, "www-a", "huge.bin"), huge)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    s.connect(tls.sockaddr)
    t = tls_sock(tls, raw=s)
    for i in range(2):
        t.sendall(request_bytes("/huge.bin", host="a.test"))
        time.sleep(0.5)
        status, body = read_big(t)
        check_eq((status, sha(body)), (200, sha(huge)), "slow reader %d" % i)


@test("keep-alive: 20 requests on one TLS connection; pipelining: 10 in one write, answered in order")
def _():
    proc, plain, tls, d, big = start()
    t = tls_sock(tls)
    c = HttpConn(tls, sock=t)
    for i in range(20):
        c.send(request_bytes("/?%d" % i, host="a.test"))
        r = c.read_response()
        check_eq((r.status, r.body), (200, b"site a\n"), "request %d" % i)
    paths = ["/", "/big.bin", "/missing"] * 3 + ["/"]
    c.send(b"".join(request_bytes(p, host="a.test", headers=["Range: bytes=0-9"]
                                  if p == "/big.bin" else []) for p in paths))
    for i, p in enumerate(paths):
        r = c.read_response()
        want = {"/": 200, "/big.bin": 206, "/missing": 404}[p]
        check_eq(r.status, want, "pipelined %d %s" % (i, p))
        if p == "/big.bin":
            check_eq(r.body, big[:10], "pipelined range body")
    # and a request cut into pieces, one byte per record
    for b in request_bytes("/", host="a.test"):
        c.send(bytes([b]))
    check_eq(c.read_response().body, b"site a\n", "a head sent byte by byte")


@test("session resumption with tickets, TLS 1.3 and 1.2, across 2 workers; not by another process")
def _():
    proc, plain, tls, d, big = start("workers 2\n")
    other = start()[2]  # another ferry: another ticket key
    for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        ctx = ctx_for(version)
        t = tls_sock(tls, "a.test", ctx)
        c = HttpConn(tls, sock=t)
        c.send(request_bytes("/", host="a.test"))
        check_eq(c.read_response().status, 200, "first %s" % version)
        sess = t.session
        check(sess is not None and sess.has_ticket, "a ticket for %s" % version)
        reused = 0
        for i in range(6):  # over two workers: the ticket key is shared
            t2 = tls_sock(tls, "a.test", ctx, session=sess)
            c2 = HttpConn(tls, sock=t2)
            c2.send(request_bytes("/", host="a.test"))
            check_eq(c2.read_response().status, 200, "resumed request %s" % version)
            reused += t2.session_reused
        check_eq(reused, 6, "resumed handshakes out of 6 (%s)" % version)
        t3 = tls_sock(other, "a.test", ctx, session=sess)
        check(not t3.session_reused, "another process took the ticket (%s)" % version)
        c3 = HttpConn(other, sock=t3)
        c3.send(request_bytes("/", host="a.test"))
        check_eq(c3.read_response().status, 200, "full handshake with the other process")


class HoldingRelay:
    """A TCP relay to addr that passes bytes at once, except while hold(n) is on: then the
    client's bytes wait until n whole TLS records are there and leave in one send (one
    segment), as a busy network may deliver them."""

    def __init__(self, addr):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(1)
        self.port = self.ls.getsockname()[1]
        self.addr = addr
        self.want = 0
        self.sent_held = threading.Event()
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()
        on_cleanup(self.close)

    def hold(self, n):
        with self.lock:
            self.want = n

    @staticmethod
    def records(b):
        n = i = 0
        while i + 5 <= len(b):
            i += 5 + struct.unpack("!H", b[i + 3:i + 5])[0]
            if i <= len(b):
                n += 1
        return n

    def _run(self):
        c, _ = self.ls.accept()
        s = socket.create_connection(self.addr.sockaddr)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.socks = (c, s)
        held = b""
        for sock in (c, s):
            sock.setblocking(False)
        while True:
            r, _, _ = select.select([c, s], [], [], 10)
            if not r:
                return
            for src in r:
                dst = s if src is c else c
                try:
                    d = src.recv(65536)
                except OSError:
                    return
                if not d:
                    return
                with self.lock:
                    want = self.want
                if src is s or not want:
                    dst.setblocking(True)
                    dst.sendall(d)
                    dst.setblocking(False)
                    continue
                held += d
                if self.records(held) >= want:
                    dst.setblocking(True)
                    dst.sendall(held)
                    dst.setblocking(False)
                    held = b""
                    self.hold(0)
                    self.sent_held.set()

    def close(self):
        for x in getattr(self, "socks", ()) + (self.ls,):
            x.close()


@test("a TLS 1.3 KeyUpdate and the next request in one segment: the request is answered "
      "(GnuTLS says AGAIN after the KeyUpdate with the request already read ahead; the "
      "connection waited for bytes it had)")
def _():
    proc, plain, tls, d, big = start()
    relay = HoldingRelay(tls)
    out = os.path.join(d, "s_client.out")
    f = open(out, "wb")
    on_cleanup(f.close)
    sc = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % relay.port,
                           "-servername", "a.test", "-CAfile", pki().ca, "-tls1_3"],
                          stdin=subprocess.PIPE, stdout=f, stderr=subprocess.STDOUT)
    on_cleanup(lambda: (sc.kill(), sc.wait()))
    sc.stdin.write(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
    sc.stdin.flush()
    wait_until(lambda: read_file(out).count(b"site a") >= 1, 10 * SLOW, what="response 1")
    relay.hold(2)  # the KeyUpdate record and the request's
    sc.stdin.write(b"k\n")  # s_client: send a KeyUpdate
    sc.stdin.flush()
    wait_until(lambda: b"KEYUPDATE" in read_file(out), 5 * SLOW, what="s_client's KeyUpdate")
    sc.stdin.write(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
    sc.stdin.flush()
    check(relay.sent_held.wait(10 * SLOW), "the relay sent both records in one segment")
    wait_until(lambda: read_file(out).count(b"site a") >= 2, 5 * SLOW, what="response 2")


@test("ALPN: h2 chosen from h2 + http/1.1, http/1.1 when asked alone; no ALPN: HTTP/1.1")
def _():
    proc, plain, tls, d, big = start()
    for alpn, want in ((["h2", "http/1.1"], "h2"), (["http/1.1"], "http/1.1"), (None, None)):
        t = tls_sock(tls, "a.test", ctx_for(alpn=alpn))
        check_eq(t.selected_alpn_protocol(), want, "ALPN for %s" % alpn)
        if want == "h2":
            continue
        c = HttpConn(tls, sock=t)
        c.send(request_bytes("/", host="a.test"))
        check_eq(c.read_response().status, 200, "request with ALPN %s" % alpn)


@test("HTTP/2 over TLS (ALPN h2): curl --http2 gets the site's files (5 MiB by sha256), hsts, 421 for another site's Host")
def _():
    proc, plain, tls, d, big = start()
    rc, out, err = curl(tls, "a.test", "/", "--http2")
    check_eq(rc, 0, "curl --http2: " + err[-400:])
    check("ALPN: server accepted h2" in err or "ALPN, server accepted to use h2" in err,
          "h2 negotiated: " + err[-600:])
    check(re.search(r"(?m)^< HTTP/2 200", err), "HTTP/2 200: " + err[-600:])
    check(re.search(r"(?im)^< strict-transport-security: max-age=86400", err),
          "hsts over h2: " + err[-600:])
    rc, out, err = curl(tls, "a.test", "/big.bin", "--http2")
    check_eq(rc, 0, "curl --http2 big: " + err[-400:])
    check_eq(hashlib.sha256(out).hexdigest(), hashlib.sha256(big).hexdigest(),
             "the big file over h2 and TLS")
    rc, out, err = curl(tls, "a.test", "/", "--http2", "-H", "Host: b.test")
    check(re.search(r"(?m)^< HTTP/2 421", err), "421 over h2: " + err[-600:])
    # nghttp (h2 over TLS, SNI a.test through its -H :authority): 200
    r = subprocess.run(["nghttp", "-nv", "-H", ":authority: a.test",
                        "https://127.0.0.1:%d/" % tls.sockaddr[1]],
                       capture_output=True, timeout=30 * SLOW)
    o = r.stdout.decode("utf-8", "replace")
    check(re.search(r":status: (200|421)", o), "nghttp over TLS answered: " + o[-600:])


@test("plain listener: 308 to https (host without port, the TLS port), not for ACME challenges; http-redirect off and sites without tls serve plain")
def _():
    proc, plain, tls, d, big = start(b_extra=" http-redirect off\n")
    port = tls.sockaddr[1]
    r = http_get(plain, "/x/y?z=1&w", host="a.test:8080")
    check_eq(r.status, 308, "status")
    check_eq(r.header("location"), "https://a.test:%d/x/y?z=1&w" % port, "Location")
    check(r.header("strict-transport-security") is None, "no HSTS over plain HTTP")
    r = http_get(plain, "/", method="HEAD", host="www.a.test")
    check_eq((r.status, r.header("location")), (308, "https://www.a.test:%d/" % port), "HEAD")
    r = http_get(plain, "/.well-known/acme-challenge/token123", host="a.test")
    check_eq(r.status, 404, "an ACME challenge is not redirected")
    r = http_get(plain, "/", host="x.b.test")
    check_eq((r.status, r.body), (200, b"site b\n"), "http-redirect off")
    r = http_get(plain, "/", host="plain.test")
    check_eq((r.status, r.body), (200, b"plain\n"), "a site without tls")
    c = HttpConn(plain)
    c.send(b"POST /form HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello")
    r = c.read_response()
    check_eq((r.status, r.header("location")), (308, "https://a.test:%d/form" % port),
             "POST: 308 keeps the method")
    c.send(request_bytes("/", host="a.test"))
    check_eq(c.read_response().status, 308, "keep-alive after a redirect")


@test("hsts: Strict-Transport-Security on TLS responses of the site (errors too), not others")
def _():
    proc, plain, tls, d, big = start()
    r = tls_get(tls, "/")
    check_eq(r.header("strict-transport-security"), "max-age=86400; includeSubDomains", "200")
    r = tls_get(tls, "/missing")
    check_eq((r.status, r.header("strict-transport-security")),
             (404, "max-age=86400; includeSubDomains"), "404")
    r = tls_get(tls, "/", name="x.b.test")
    check(r.header("strict-transport-security") is None, "site b has no hsts")
    r = tls_get(tls, "/", name="a.test", host="b.test")
    check_eq((r.status, r.header("strict-transport-security")), (421, None), "421: no hsts")


@test("proxied over TLS: X-Forwarded-Proto https, the site's hsts replaces the origin's, a 1 MiB body both ways")
def _():
    import hashlib
    import json
    from backends import EchoBackend, LargeBodyBackend, large_body_sha256
    up = EchoBackend(extra_headers=[("Strict-Transport-Security", "max-age=1")]).start()
    on_cleanup(up.stop)
    big_up = LargeBodyBackend(size=1 << 20).start()
    on_cleanup(big_up.stop)
    p = pki()
    d = tmpdir()
    cfg = write_config(d, "listen https tls\nsite a.test {\n tls %s %s\n hsts 600\n"
                       " proxy http://127.0.0.1:%d\n path /big/ { proxy http://127.0.0.1:%d }\n}\n"
                       % (p.a_ec, p.a_ec_key, up.port, big_up.port))
    proc, (tls,) = activate(lambda: [tcp4()], ["serve", "--config", cfg], fdnames=["https"],
                            dir=d)
    t = tls_sock(tls)
    c = HttpConn(tls, sock=t)
    body = os.urandom(1 << 20)
    c.send(request_bytes("/echo", method="POST", host="a.test",
                         headers=["Content-Length: %d" % len(body)], body=body))
    r = c.read_response()
    check_eq(r.status, 200, "proxied POST")
    j = json.loads(r.body)
    hdrs = dict((k.lower(), v) for k, v in j["headers"])
    check_eq(hdrs.get("x-forwarded-proto"), "https", "X-Forwarded-Proto")
    check_eq(j["body_sha256"], hashlib.sha256(body).hexdigest(), "request body")
    check_eq(r.header_all("strict-transport-security"), ["max-age=600"], "hsts")
    c.send(request_bytes("/big/x", host="a.test"))
    r = c.read_response()
    check_eq((r.status, hashlib.sha256(r.body).hexdigest()),
             (200, large_body_sha256(1 << 20)), "a 1 MiB response through the proxy")
    # a client that reads slowly: ferry's writes block and resume mid-record
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    s.connect(tls.sockaddr)
    t = tls_sock(tls, raw=s)
    t.sendall(request_bytes("/big/x?size=%d" % (20 << 20), host="a.test"))
    time.sleep(0.5)
    status, body = read_big(t)
    check_eq((status, hashlib.sha256(body).hexdigest()), (200, large_body_sha256(20 << 20)),
             "20 MiB through the proxy to a slow reader")


@test("OCSP stapling from a file (tls CERT KEY ocsp FILE): stapled with its certificate only; ferry check refuses another certificate's, a revoked one, junk")
def _():
    p = pki()
    d = tmpdir()
    resp = p.ocsp(p.a_ec)
    a, b, pl, big = make_roots(d)
    cfg = write_config(d, "listen https tls\nsite a.test www.a.test {\n tls %s %s ocsp %s\n"
                       " tls %s %s\n root %s\n}\n"
                       % (p.a_ec, p.a_ec_key, resp, p.a_rsa, p.a_rsa_key, a))
    rc, out, err = run([FERRY, "check", cfg])
    check_eq((rc, out, err), (0, "configuration OK\n", ""), "check")
    proc, (tls,) = activate(lambda: [tcp4()], ["serve", "--config", cfg], fdnames=["https"],
                            dir=d)
    cn, text = served_cert(tls, "-servername", "a.test", "-status")
    check_eq(cn, "a-ec", "the ECDSA certificate")
    check_in("OCSP Response Status: successful", text, "stapled")
    check_in("Cert Status: good", text, "stapled status")
    cn, text = served_cert(tls, "-servername", "a.test", "-status", "-sigalgs",
                           "RSA-PSS+SHA256:RSA+SHA256")
    check_eq(cn, "a-rsa", "the RSA certificate")
    check_in("OCSP response: no response sent", text, "nothing stapled for RSA")
    revoked = p.ocsp(p.b, status="R")
    junk = write_file(os.path.join(d, "junk.ocsp"), b"\x30\x03junk")
    for ocsp, want in ((resp, "the response is for another certificate"),
                       (revoked, "the certificate's status is revoked"),
                       (junk, "not a successful OCSP response")):
        bad = write_config(d, "site b.test {\n tls %s %s ocsp %s\n}\n" % (p.b, p.b_key, ocsp),
                           name="bad.conf")
        rc, out, err = run([FERRY, "check", bad])
        check_eq(rc, 2, "check with %s" % want)
        check_in("%s:2:%d: tls %s: ocsp %s: %s" % (bad, 7 + len(p.b) + len(p.b_key) + 6, p.b,
                                                   ocsp, want), err, want)


@test("a PROXY header before the ClientHello: the address it carries in the access log")
def _():
    proc, plain, tls, d, big, pp = start(pp=True)
    s = socket.create_connection(pp.sockaddr, timeout=5 * SLOW)
    s.sendall(b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 443\r\n")
    t = tls_sock(pp, "a.test", raw=s)
    c = HttpConn(pp, sock=t)
    c.send(request_bytes("/proxied-path", host="a.test"))
    check_eq(c.read_response().status, 404, "request over TLS after a PROXY header")
    # the header and the ClientHello in one segment: the TLS transport takes what was read
    s = socket.create_connection(pp.sockaddr, timeout=5 * SLOW)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx_for().wrap_bio(inc, out, server_hostname="a.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    s.sendall(b"PROXY TCP4 198.51.100.9 127.0.0.1 5555 443\r\n" + out.read())
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            data = s.recv(65536)
            check(data, "server closed during the handshake")
            inc.write(data)
            if out.pending:
                s.sendall(out.read())
    if out.pending:
        s.sendall(out.read())
    obj.write(request_bytes("/", host="a.test", headers=["Connection: close"]))
    s.sendall(out.read())
    got = b""
    while b"site a" not in got:
        try:
            got += obj.read(65536)
        except ssl.SSLWantReadError:
            data = s.recv(65536)
            if not data:
                break
            inc.write(data)
    check_in(b"site a", got, "response after header + ClientHello in one write")
    s.close()
    log = os.path.join(d, "access.log")
    wait_until(lambda: b"198.51.100.9" in read_file(log), 5 * SLOW, what="the access log line")
    text = read_file(log)
    check_in(b'203.0.113.7 - - ', text, "the first client's address")
    # without the header: closed
    s = socket.create_connection(pp.sockaddr, timeout=5 * SLOW)
    try:
        tls_sock(pp, "a.test", raw=s)
        raise TestFailure("a handshake without the PROXY header must fail")
    except (ssl.SSLError, ConnectionError, OSError):
        pass


@test("a client that stalls in the handshake is closed after header-timeout")
def _():
    proc, plain, tls, d, big = start("header-timeout 1s\n")
    # ferry runs once the first connection came: make it exec first
    check_eq(tls_get(tls, "/").status, 200, "a first request")
    silent = HttpConn(tls)
    half = HttpConn(tls)
    half.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # the start of a ClientHello
    t0 = time.monotonic()
    check(silent.is_open_idle(0.5) and half.is_open_idle(0.1), "open before the timeout")
    check(silent.wait_closed(5) and half.wait_closed(5), "closed by the timeout")
    dt = time.monotonic() - t0
    check(0.5 <= dt <= 3.5 * SLOW, "closed after %.2fs" % dt)
    check_eq(tls_get(tls, "/").status, 200, "served afterwards")


@test("max-tls-handshakes 2: a third handshake in progress is closed at once, served again once they end")
def _():
    proc, plain, tls, d, big = start("max-tls-handshakes 2\nheader-timeout 3s\n")
    check_eq(tls_get(tls, "/").status, 200, "a first request")
    stalled = [HttpConn(tls), HttpConn(tls)]
    for s in stalled:
        s.send(b"\x16\x03\x01")
    wait_until(lambda: tcp_conns(proc.pid) >= 2, 5 * SLOW, what="ferry to hold both")
    third = HttpConn(tls)
    check(third.wait_closed(2), "the third connection is closed")
    for s in stalled:
        check(s.is_open_idle(0.05), "the first two are still waiting")
        s.close()
    wait_until(lambda: tcp_conns(proc.pid) == 0, 5 * SLOW, what="ferry to drop them")
    check_eq(tls_get(tls, "/").status, 200, "served once they ended")


@test("ferry check: a key of another certificate, expired, a name not covered, unreadable or not PEM: file:line:col, exit 2")
def _():
    p = pki()
    d = tmpdir()
    expired = p.leaf("a-expired", p.a_ec_key, ["DNS:a.test"], days=-1)
    soon = p.leaf("a-soon", p.a_ec_key, ["DNS:a.test", "DNS:www.a.test"], days=5)
    junk = write_file(os.path.join(d, "junk.crt"), "not a certificate\n")

    def check_conf(body):
        cfg = write_config(d, body)
        rc, out, err = run([FERRY, "check", cfg])
        return rc, out, err.replace(cfg, "CFG")

    rc, out, err = check_conf("site a.test {\n tls %s %s\n}\n" % (p.a_ec, p.b_key))
    check_eq(rc, 2, "wrong key: exit")
    check_in("CFG:2:%d: tls %s: the key in %s does not match this certificate"
             % (6 + len(p.a_ec) + 1, p.a_ec, p.b_key), err, "wrong key")
    rc, out, err = check_conf("site a.test {\n tls %s %s\n}\n" % (expired, p.a_ec_key))
    check_eq(rc, 2, "expired: exit")
    check(re.search(r"CFG:2:6: tls %s: expired on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"
                    % re.escape(expired), err), "expired: %s" % err)
    rc, out, err = check_conf("site a.test c.test *.a.test {\n tls %s %s\n}\n"
                              % (p.a_ec, p.a_ec_key))
    check_eq(rc, 2, "names: exit")
    check_in("CFG:2:6: tls %s: does not cover the site name c.test" % p.a_ec, err, "c.test")
    check_in("does not cover the site name *.a.test", err, "a wildcard site name")
    check_not_in("site name a.test\n", err, "a.test is covered")
    rc, out, err = check_conf("site a.test {\n tls %s/none.crt %s\n}\n" % (d, p.a_ec_key))
    check_eq(rc, 2, "missing: exit")
    check_in("CFG:2:6: tls %s/none.crt: No such file or directory" % d, err, "missing file")
    rc, out, err = check_conf("site a.test {\n tls %s %s\n}\n" % (junk, p.a_ec_key))
    check_in("CFG:2:6: tls %s: no PEM certificate in it" % junk, err, "not PEM")
    rc, out, err = check_conf("site a.test {\n tls %s %s\n}\n" % (p.a_ec, p.a_ec))
    check_in("not a private key ferry can use", err, "a certificate as the key")
    # expiring within 14 days: a warning; the check passes
    rc, out, err = check_conf("site a.test www.a.test {\n tls %s %s\n}\n" % (soon, p.a_ec_key))
    check_eq((rc, out), (0, "configuration OK\n"), "expiring soon: passes")
    check(re.search(r"CFG:2:6: tls %s: expires on .* in less than 14 days" % re.escape(soon),
                    err), "expiring soon: warned: %r" % err)
    rc, out, err = check_conf("site a.test www.a.test * {\n tls %s %s\n tls %s %s\n}\n"
                              % (p.a_ec, p.a_ec_key, p.a_rsa, p.a_rsa_key))
    check_eq((rc, out, err), (0, "configuration OK\n", ""), "good pairs")


@test("serve refuses a key that does not match (exit 2) and a missing certificate (exit 1); an expired one is only logged")
def _():
    p = pki()
    d = tmpdir()
    expired = p.leaf("a-expired2", p.a_ec_key, ["DNS:a.test"], days=-1)
    for body, want in (("tls %s %s" % (p.a_ec, p.b_key), 2),
                       ("tls %s/none.crt %s" % (d, p.a_ec_key), 1)):
        cfg = write_config(d, "listen 127.0.0.1:1 tls\nsite a.test {\n %s\n}\n" % body)
        rc, out, err = run([FERRY, "serve", "--config", cfg])
        check_eq(rc, want, "exit for %s: %s" % (body, err))
        check_in("%s:3:" % cfg, err, "names the line")
    proc, addrs = activate(lambda: [tcp4()], ["serve", "--config", write_config(
        d, "listen https tls\nsite a.test {\n tls %s %s\n root %s\n}\n"
        % (expired, p.a_ec_key, d))], fdnames=["https"], dir=d)
    try:
        tls_sock(addrs[0], "a.test")
    except ssl.SSLError:
        pass  # the client refuses the expired certificate: ferry served it
    proc.wait_stderr(r"warning: .*tls %s: expired on" % re.escape(expired))
    check(proc.alive(), "ferry runs with an expired certificate")


@test("reload (SIGHUP) with a new certificate under the sandbox: new handshakes get it; a bad one keeps the old")
def _():
    p = pki()
    d = tmpdir()
    certs = os.path.join(d, "certs")
    os.makedirs(certs)
    shutil.copy(p.a_ec, os.path.join(certs, "a.crt"))
    shutil.copy(p.a_ec_key, os.path.join(certs, "a.key"))
    a, b, pl, big = make_roots(d)
    cfg = write_config(d, "listen https tls\nsite a.test www.a.test {\n tls %s/a.crt %s/a.key\n"
                       " root %s\n}\n" % (certs, certs, a))
    proc, (tls,) = activate(lambda: [tcp4()], ["serve", "--config", cfg], fdnames=["https"],
                            dir=d)
    check_eq(tls_get(tls, "/").status, 200, "first request")
    check_eq(served_cert(tls, "-servername", "a.test")[0], "a-ec", "before")
    proc.wait_stderr(r"sandbox: landlock", what="the sandbox line")
    kept = HttpConn(tls, sock=tls_sock(tls, "a.test"))
    new = p.leaf("a-ec-renewed", p.a_ec_key, ["DNS:a.test", "DNS:www.a.test"])
    tmp = os.path.join(certs, "a.crt.new")
    shutil.copy(new, tmp)
    os.rename(tmp, os.path.join(certs, "a.crt"))  # as renewal tools do
    proc.send_signal(signal.SIGHUP)
    proc.wait_stderr(r"SIGHUP: reloaded", what="the reload")
    check_eq(served_cert(tls, "-servername", "a.test")[0], "a-ec-renewed", "after the reload")
    kept.send(request_bytes("/", host="a.test"))
    check_eq(kept.read_response().status, 200, "a connection from before the reload")
    # a key that does not match: the reload fails, the previous certificates stay
    shutil.copy(p.b_key, os.path.join(certs, "a.key"))
    proc.send_signal(signal.SIGHUP)
    proc.wait_stderr(r"reload failed", what="the failed reload")
    check_in("does not match this certificate", proc.stderr(), "why")
    check_eq(served_cert(tls, "-servername", "a.test")[0], "a-ec-renewed", "still the old one")
    check_eq(tls_get(tls, "/").status, 200, "still served")
    # the listener's tls flag is the startup's: a reload that drops it says so
    shutil.copy(p.a_ec_key, os.path.join(certs, "a.key"))
    write_config(d, "listen https\nsite a.test www.a.test {\n tls %s/a.crt %s/a.key\n"
                 " root %s\n}\n" % (certs, certs, a))
    proc.send_signal(signal.SIGHUP)
    proc.wait_stderr(r"listen https: tls, proxy-protocol and metrics take a restart", what="the warning")
    check_eq(tls_get(tls, "/").status, 200, "still TLS")


@test("certificate files renewed in place are loaded within seconds, no SIGHUP; a key that does not match keeps the old ones")
def _():
    p = pki()
    d = tmpdir()
    certs = os.path.join(d, "certs")
    os.makedirs(certs)
    shutil.copy(p.a_ec, os.path.join(certs, "a.crt"))
    shutil.copy(p.a_ec_key, os.path.join(certs, "a.key"))
    a, b, pl, big = make_roots(d)
    cfg = write_config(d, "listen https tls\nsite a.test www.a.test {\n tls %s/a.crt %s/a.key\n"
                       " root %s\n}\n" % (certs, certs, a))
    proc, (tls,) = activate(lambda: [tcp4()], ["serve", "--config", cfg], fdnames=["https"],
                            dir=d)
    check_eq(served_cert(tls, "-servername", "a.test")[0], "a-ec", "before")
    # a renewal: a new key and certificate, each renamed into place
    key2 = p.key("a-ec-2", "ec")
    crt2 = p.leaf("a-ec-2", key2, ["DNS:a.test", "DNS:www.a.test"])
    for src, dst in ((key2, "a.key"), (crt2, "a.crt")):
        shutil.copy(src, os.path.join(certs, dst + ".new"))
        os.rename(os.path.join(certs, dst + ".new"), os.path.join(certs, dst))
    proc.wait_stderr(r"certificate files changed: reloading", timeout=10,
                     what="the change to be seen")
    proc.wait_stderr(r"SIGHUP: reloaded|reloaded", timeout=10, what="the reload")
    wait_until(lambda: served_cert(tls, "-servername", "a.test")[0] == "a-ec-2", 5 * SLOW,
               what="the renewed certificate to be served")
    # a key of another certificate: logged, the renewed pair stays
    shutil.copy(p.b_key, os.path.join(certs, "a.key"))
    proc.wait_stderr(r"reload failed", timeout=10, what="the failed reload")
    check_in("does not match this certificate", proc.stderr(), "why")
    check_eq(served_cert(tls, "-servername", "a.test")[0], "a-ec-2", "still the renewed one")
    n = proc.stderr().count("certificate files changed")
    time.sleep(2 * 2.2)
    check_eq(proc.stderr().count("certificate files changed"), n, "no retry while unchanged")
    check_eq(tls_get(tls, "/").status, 200, "served")


@test("certificate files renamed into place: inotify brings them in well under 2 s (the stat poll's period); a whole directory swapped (no event on the watched names): the 2 s poll still finds it")
def _():
    p = pki()
    d = tmpdir()
    certs = os.path.join(d, "certs")
    os.makedirs(certs)
    shutil.copy(p.a_ec, os.path.join(certs, "a.crt"))
    shutil.copy(p.a_ec_key, os.path.join(certs, "a.key"))
    a, b, pl, big = make_roots(d)
    cfg = write_config(d, "listen https tls\nsite a.test www.a.test {\n tls %s/a.crt %s/a.key\n"
                       " root %s\n}\n" % (certs, certs, a))
    proc, (tls,) = activate(lambda: [tcp4()], ["serve", "--config", cfg], fdnames=["https"],
                            dir=d)
    check_eq(served_cert(tls, "-servername", "a.test")[0], "a-ec", "before")
    took = []
    for n, name in enumerate(("a-ec-2", "a-ec-3")):
        key = p.key(name, "ec")
        crt = p.leaf(name, key, ["DNS:a.test", "DNS:www.a.test"])
        shutil.copy(key, os.path.join(certs, "a.key.new"))
        shutil.copy(crt, os.path.join(certs, "a.crt.new"))
        t0 = time.monotonic()
        os.rename(os.path.join(certs, "a.key.new"), os.path.join(certs, "a.key"))
        os.rename(os.path.join(certs, "a.crt.new"), os.path.join(certs, "a.crt"))
        wait_until(lambda: proc.stderr().count("certificate files changed") > n, 5 * SLOW,
                   interval=0.005, what="the change to be seen")
        took.append(time.monotonic() - t0)
        proc.wait_stderr(r"reloaded" + r"[\s\S]*reloaded" * n, timeout=10, what="the reload")
        wait_until(lambda: served_cert(tls, "-servername", "a.test")[0] == name, 5 * SLOW,
                   what="the renewed certificate to be served")
    diag("renamed into place -> 'certificate files changed': %s s"
         % ", ".join("%.3f" % t for t in took))
    for t in took:
        check(t < 1.2 * SLOW, "seen after %.3f s: not inotify's speed (the poll takes 2-4 s)" % t)
    # a directory swapped in: the watched directory is now certs.old, no event names a.crt
    new = os.path.join(d, "certs.new")
    os.makedirs(new)
    key = p.key("a-ec-4", "ec")
    shutil.copy(key, os.path.join(new, "a.key"))
    shutil.copy(p.leaf("a-ec-4", key, ["DNS:a.test", "DNS:www.a.test"]), os.path.join(new, "a.crt"))
    os.rename(certs, os.path.join(d, "certs.old"))
    os.rename(new, certs)
    wait_until(lambda: served_cert(tls, "-servername", "a.test")[0] == "a-ec-4", 10 * SLOW,
               what="the poll to find the swapped directory")
    check_eq(tls_get(tls, "/").status, 200, "served")


@test("sandbox strict: TLS 1.2 and 1.3, resumption, a large file, reload: nothing outside the seccomp list")
def _():
    proc, plain, tls, d, big = start("sandbox strict\nworkers 2\n")
    for args in (["--tlsv1.3"], ["--tlsv1.2", "--tls-max", "1.2"]):
        rc, out, err = curl(tls, "a.test", "/big.bin", *args)
        check_eq((rc, sha(out)), (0, sha(big)), "big file %s" % args)
    ctx = ctx_for(ssl.TLSVersion.TLSv1_3)
    t = tls_sock(tls, "a.test", ctx)
    c = HttpConn(tls, sock=t)
    c.send(request_bytes("/", host="a.test"))
    c.read_response()
    t2 = tls_sock(tls, "a.test", ctx, session=t.session)
    check(t2.session_reused, "resumed")
    proc.send_signal(signal.SIGHUP)
    proc.wait_stderr(r"SIGHUP: reloaded", what="the reload")
    check_eq(served_cert(tls, "-servername", "a.test", "-tls1_2")[0], "a-ec", "after reload")
    check_eq(tls_get(tls, "/").status, 200, "after reload")
    check(proc.alive(), "ferry alive (strict seccomp kills on a forbidden syscall)")
    check_in("sandbox: landlock", proc.stderr(), "sandbox applied")


@test("the release binary is static and lists the libraries linked in")
def _():
    rc, out, err = run([FERRY, "--version", "--verbose"])
    check_eq(rc, 0, "exit")
    check(re.search(r"GnuTLS +3\.\d+\.\d+", out), "GnuTLS in %r" % out)
    for lib in ("Nettle", "GMP", "libtasn1", "libidn2", "libunistring", "GNU C Library",
                "nghttp2", "p11-kit"):
        check_in(lib, out, "library list")
    if SANITIZED:
        raise Skip("the sanitizer build is dynamic")
    # Its ELF program headers: no PT_INTERP (3), no PT_DYNAMIC (2) (read here: `file` is not
    # on a minimal Debian).
    with open(os.path.realpath(FERRY), "rb") as f:
        head = f.read(65536)
    check_eq(head[:5], b"\x7fELF\x02", "a 64-bit ELF file")
    phoff, = struct.unpack_from("<Q", head, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
    types = [struct.unpack_from("<I", head, phoff + i * phentsize)[0] for i in range(phnum)]
    check(3 not in types and 2 not in types,
          "statically linked: program header types %r (3 PT_INTERP, 2 PT_DYNAMIC)" % types)
    check_not_in(b"/lib64/ld-linux", head[:4096], "no interpreter")


main()
