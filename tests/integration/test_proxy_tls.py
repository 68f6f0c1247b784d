#!/usr/bin/env python3
"""Upstream TLS: `proxy https://HOST:PORT` to Python ssl backends (and to a second ferry with a
TLS listener) with a test CA made here: the certificate verified by name (SNI sent, ALPN
http/1.1), by IP address (no SNI), or for the request's host ({host}), against `upstream-ca`
or the system bundle; an unknown CA, a name mismatch and an expired certificate answered 502
with a log line that names the upstream and the reason; a handshake that never ends cut by
proxy-connect-timeout (504); sessions resumed on new connections (TLS 1.3 and 1.2); kept-alive
TLS connections reused, and replaced when the upstream closes them; large bodies both ways
(Content-Length, chunked, close-delimited); WebSocket; `ferry check` on https:// and
upstream-ca; the sandbox on, with a reload."""
import hashlib
import json
import os
import signal
import socket
import ssl
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403
from backends import *  # noqa: E402,F401,F403
from pki import Pki  # noqa: E402

_pki = []


def pki():
    """The CA, a leaf for up.test and 127.0.0.1, an expired one; a second CA (not trusted)."""
    if not _pki:
        p = Pki()
        p.up_key = p.key("up", "ec")
        p.up = p.leaf("up", p.up_key, ["DNS:up.test", "IP:127.0.0.1"])
        p.old = p.leaf("old", p.up_key, ["DNS:up.test"], days=-1)
        p.other = Pki()
        p.other.k = p.other.key("rogue", "ec")
        p.rogue = p.other.leaf("rogue", p.other.k, ["DNS:up.test", "IP:127.0.0.1"])
        _pki.append(p)
    return _pki[0]


def server_ctx(crt, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    return ctx


def backend(cls=EchoBackend, crt=None, key=None, name="up.test", **kw):
    p = pki()
    b = cls(tls=server_ctx(crt or p.up, key or p.up_key), tls_name=name, **kw)
    b.start()
    on_cleanup(b.stop)
    return b


def proxy(config, d=None, ca=True, sandbox="off", workers=1, connect_timeout="3s"):
    """ferry with this config; up.test and other.test are 127.0.0.1 (a test hosts file); ca:
    `upstream-ca` is the test CA (a path: that file; False: none, the system bundle)."""
    d = d or tmpdir()
    env = {"FERRY_INSECURE_TEST_HOSTS": write_file(os.path.join(d, "hosts"),
                                                   "127.0.0.1 up.test other.test\n"),
           "FERRY_INSECURE_TEST_RESOLV_CONF": write_file(os.path.join(d, "resolv.conf"), "")}
    if ca is True:
        ca = pki().ca
    site_extra = " upstream-ca %s\n" % ca if ca else ""
    cfg = ("sandbox %s\naccess-log off\nworkers %d\nproxy-connect-timeout %s\n"
           % (sandbox, workers, connect_timeout) + config.replace("@CA@", site_extra))
    path = write_config(d, cfg)
    p, (a,) = start_bound(lambda: [tcp4()], ["--config", path], dir=d, env=env)
    return p, a


def site(url, extra=""):
    return "site * {\n proxy %s\n@CA@%s}\n" % (url, extra)


def get(a, path="/", host="a.test", method="GET", headers=(), body=None, timeout=10):
    hs = list(headers)
    if body is not None:
        hs.append(("Content-Length", str(len(body))))
    c = HttpConn(a, timeout=timeout * SLOW)
    on_cleanup(c.close)
    c.send(request_bytes(path, method=method, host=host, headers=hs) + (body or b""))
    r = c.read_response(method=method)
    c.close()
    return r


def echo_of(r):
    check_eq(r.status, 200, "status (body %r)" % r.body[:300])
    return json.loads(r.body)


@test("https://NAME: verified against upstream-ca, SNI is the name, ALPN http/1.1, "
      "X-Forwarded-Proto stays the client's")
def _():
    b = backend()
    p, a = proxy(site(b.url))
    j = echo_of(get(a, "/x?y=1"))
    check_eq((j["method"], j["target"]), ("GET", "/x?y=1"), "request seen upstream")
    check_eq(b.tls_sni, ["up.test"], "SNI")
    check_eq(b.tls_alpn, ["http/1.1"], "ALPN")
    hdrs = dict((k.lower(), v) for k, v in j["headers"])
    check_eq(hdrs.get("x-forwarded-proto"), "http", "X-Forwarded-Proto: the client's scheme")
    check_not_in("TLS handshake failed", p.stderr(), "log")


@test("https://127.0.0.1: verified by the certificate's IP address, no SNI")
def _():
    b = backend(name="127.0.0.1")
    p, a = proxy(site(b.url))
    echo_of(get(a))
    check_eq(b.tls_sni, [None], "no SNI for an IP literal")


@test("https://{host}:PORT: the request's host is the name verified and sent as SNI")
def _():
    b = backend()
    p, a = proxy("site * {\n proxy https://{host}:%d\n upstream-allow 127.0.0.0/8\n@CA@}\n"
                 % b.port)
    j = echo_of(get(a, "/h", host="up.test"))
    check_eq(j["target"], "/h", "target")
    check_eq(get(a, "/h", host="other.test").status, 502, "a host the certificate lacks")
    check_eq(b.tls_sni, ["up.test", "other.test"], "SNI of each")
    p.wait_stderr(r"https://other.test:%d: TLS handshake failed: .*does not match" % b.port,
                  what="the log line")


@test("an upstream certificate from another CA: 502, and the log names the upstream and "
      "the unknown issuer")
def _():
    b = backend(crt=pki().rogue, key=pki().other.k)
    p, a = proxy(site(b.url))
    r = get(a)
    check_eq(r.status, 502, "status")
    line = p.wait_stderr(r"proxy: .*TLS handshake failed.*", what="the log line").group(0)
    check_in("https://up.test:%d" % b.port, line, "the upstream named")
    check_in("issuer is unknown", line, "the reason")
    check_eq(b.requests, [], "no request reached the upstream")


@test("the system CA bundle does not trust the test CA: 502 (unknown issuer)")
def _():
    if not os.path.exists("/etc/ssl/certs/ca-certificates.crt"):
        raise Skip("no system CA bundle")
    b = backend()
    p, a = proxy(site(b.url), ca=False)
    check_eq(get(a).status, 502, "status")
    p.wait_stderr(r"TLS handshake failed: .*issuer is unknown", what="the reason")


@test("a name the certificate does not cover: 502, 'does not match' in the log")
def _():
    b = backend(name="other.test")
    p, a = proxy(site(b.url))
    check_eq(get(a).status, 502, "status")
    line = p.wait_stderr(r"proxy: .*TLS handshake failed.*", what="the log line").group(0)
    check_in("https://other.test:%d" % b.port, line, "the upstream named")
    check_in("does not match", line, "the reason")
    check_eq(b.tls_sni, ["other.test"], "SNI sent")


@test("an expired upstream certificate: 502, 'expired' in the log")
def _():
    b = backend(crt=pki().old)
    p, a = proxy(site(b.url))
    check_eq(get(a).status, 502, "status")
    p.wait_stderr(r"TLS handshake failed: .*expired", what="the reason")


@test("a TLS upstream that never answers the ClientHello: 504 after proxy-connect-timeout")
def _():
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    on_cleanup(ls.close)
    port = ls.getsockname()[1]
    p, a = proxy(site("https://up.test:%d" % port), connect_timeout="500ms")
    r = get(a)
    check_eq(r.status, 504, "status")
    p.wait_stderr(r"https://up.test:%d: no TLS handshake within" % port, what="the log line")


@test("session resumption: with no pooling, every connection after the first resumes")
def _():
    b = backend()
    p, a = proxy("proxy-idle-max 0\n" + site(b.url))
    for i in range(5):
        echo_of(get(a, "/%d" % i))
    wait_until(lambda: b.tls_handshakes == 5, 5 * SLOW, what="5 handshakes")
    check_eq(b.connections, 5, "connections (no pooling)")
    check(b.tls_resumed >= 4, "resumed %d of 5 handshakes" % b.tls_resumed)


@test("kept-alive TLS connections to the upstream are reused: 10 requests, one handshake")
def _():
    b = backend()
    p, a = proxy(site(b.url))
    c = HttpConn(a, timeout=10 * SLOW)
    on_cleanup(c.close)
    for i in range(10):
        c.send(request_bytes("/k%d" % i, host="a.test"))
        j = echo_of(c.read_response())
        check_eq(j["target"], "/k%d" % i, "target")
    check_eq((b.connections, b.tls_handshakes), (1, 1), "upstream connections, handshakes")
    # and from separate client connections too
    for i in range(3):
        echo_of(get(a, "/n%d" % i))
    check_eq(b.connections, 1, "upstream connections after 3 more clients")


@test("TLS 1.2 upstream: verified, and resumed on new connections too")
def _():
    p0 = pki()
    ctx = server_ctx(p0.up, p0.up_key)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    b = EchoBackend(tls=ctx, tls_name="up.test").start()
    on_cleanup(b.stop)
    p, a = proxy("proxy-idle-max 0\n" + site(b.url))
    for i in range(4):
        echo_of(get(a, "/%d" % i))
    wait_until(lambda: b.tls_handshakes == 4, 5 * SLOW, what="4 handshakes")
    check(b.tls_resumed >= 3, "resumed %d of 4 TLS 1.2 handshakes" % b.tls_resumed)


@test("an upstream that closes its kept-alive TLS connection after each response: every "
      "request still answered (a pooled connection found closed is replaced)")
def _():
    def script(req):
        body = b"r%d\n" % req.conn
        return (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
                "close")
    b = backend(ScriptedBackend, script=script)
    p, a = proxy(site(b.url))
    for i in range(6):
        r = get(a, "/%d" % i)
        check_eq(r.status, 200, "request %d" % i)
    check(b.connections >= 6, "a new connection each time (%d)" % b.connections)
    check(b.tls_resumed >= 5, "and resumed (%d of %d)" % (b.tls_resumed, b.tls_handshakes))


@test("a response delimited by the upstream's close (no length) over TLS: whole, chunked to "
      "an HTTP/1.1 client")
def _():
    body = os.urandom(300000)
    b = backend(RawBackend, response=b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body)
    p, a = proxy(site(b.url))
    s = socket.create_connection(a.sockaddr, timeout=30 * SLOW)
    on_cleanup(s.close)
    s.sendall(request_bytes("/c", host="a.test"))
    st = HttpStream(s)
    line, fields, _ = st.read_head()
    check_in(" 200 ", line, "status line")
    got, chunked, _ = st.read_body(fields, limit=1 << 20)
    check_eq((len(got), got == body, chunked), (len(body), True, True), "the body")


@test("large bodies both ways over upstream TLS: 12 MiB up (Content-Length and chunked), "
      "10 MiB down (Content-Length and chunked)")
def _():
    up = backend(UploadSinkBackend)
    body = os.urandom(12 << 20)
    p, a = proxy(site(up.url))
    r = get(a, "/up", method="POST", body=body, timeout=60)
    j = echo_of(r)
    check_eq((j["bytes"], j["sha256"]), (len(body), hashlib.sha256(body).hexdigest()),
             "upload seen upstream")
    c = HttpConn(a, timeout=60 * SLOW)
    on_cleanup(c.close)
    chunks = b"".join(b"%x\r\n%s\r\n" % (1 << 20, body[i:i + (1 << 20)])
                      for i in range(0, len(body), 1 << 20)) + b"0\r\n\r\n"
    c.send(request_bytes("/upc", method="POST", host="a.test",
                         headers=[("Transfer-Encoding", "chunked")]) + chunks)
    j = echo_of(c.read_response())
    check_eq((j["bytes"], j["sha256"], j["chunked"]),
             (len(body), hashlib.sha256(body).hexdigest(), True), "chunked upload")
    for chunked in (False, True):
        down = backend(LargeBodyBackend, size=10 << 20, chunked=chunked)
        p2, a2 = proxy(site(down.url))
        s = socket.create_connection(a2.sockaddr, timeout=60 * SLOW)
        on_cleanup(s.close)
        s.sendall(request_bytes("/big", host="a.test"))
        st = HttpStream(s)
        line, fields, _ = st.read_head()
        check_in(" 200 ", line, "status line")
        got, _, _ = st.read_body(fields, limit=11 << 20)
        check_eq((len(got), hashlib.sha256(got).hexdigest()),
                 (10 << 20, large_body_sha256(10 << 20)), "download (chunked=%s)" % chunked)


@test("ferry in front of ferry: the upstream a second ferry with a TLS listener (the test "
      "CA's certificate for up.test), a 6 MiB file, a range and a 404 through")
def _():
    p0 = pki()
    d = tmpdir()
    www = os.path.join(d, "www")
    big = os.urandom((6 << 20) + 3)
    write_file(os.path.join(www, "big.bin"), big)
    ucfg = write_config(d, "listen up tls\nsandbox off\naccess-log off\nsite up.test {\n"
                           " tls %s %s\n root %s\n}\n" % (p0.up, p0.up_key, www), "up.conf")
    _up, (ua,) = activate(lambda: [tcp4()], ["serve", "--config", ucfg], fdnames=["up"], dir=d)
    p, a = proxy(site("https://up.test:%d" % ua.sockaddr[1]))
    r = get(a, "/big.bin", host="up.test", timeout=60)
    check_eq((r.status, len(r.body), r.body == big), (200, len(big), True), "the file")
    r = get(a, "/big.bin", host="up.test", headers=[("Range", "bytes=100-199")])
    check_eq((r.status, r.body), (206, big[100:200]), "a range")
    r = get(a, "/nope", host="up.test")
    check_eq(r.status, 404, "the upstream's 404")
    check_not_in("TLS handshake failed", p.stderr(), "log")


@test("WebSocket through an https:// upstream: after the 101, frames both ways over TLS")
def _():
    ws = backend(WebSocketEchoBackend)
    p, a = proxy(site(ws.url))
    s = socket.create_connection(a.sockaddr, timeout=10 * SLOW)
    on_cleanup(s.close)
    st, line, fields = ws_handshake(s, host="ws.test", path="/chat")
    check_in(" 101 ", line, "status line")
    for msg in (b"hi", os.urandom(200000)):
        ws_send(s, 0x2, msg)
        fin, op, payload, masked = ws_recv(st)
        check_eq((fin, op, payload == msg, len(payload)), (True, 0x2, True, len(msg)), "echo")
    ws_send(s, 0x8, b"\x03\xe8")
    fin, op, payload, _ = ws_recv(st)
    check_eq(op, 0x8, "close echoed")
    check(st.at_eof(3 * SLOW), "connection closed after the upstream closed")


@test("an upstream-ca file replaced in place is loaded within seconds (no SIGHUP): the "
      "next handshake is verified against the new CAs")
def _():
    b = backend()
    d = tmpdir()
    ca = os.path.join(d, "ca", "ca.pem")
    write_file(ca, read_file(pki().ca))
    p, a = proxy(site(b.url), d=d, ca=ca)
    echo_of(get(a, "/before"))
    tmp = ca + ".new"
    write_file(tmp, read_file(pki().other.ca))  # a CA that did not sign the upstream's
    os.rename(tmp, ca)
    p.wait_stderr(r"certificate files changed: reloading", timeout=10, what="the reload")
    p.wait_stderr(r"SIGHUP: reloaded", timeout=10, what="the reload done")
    wait_until(lambda: get(a, "/after").status == 502, 10 * SLOW, what="502 with the new CA")
    p.wait_stderr(r"TLS handshake failed: .*issuer is unknown", what="the reason")


@test("ferry check: https:// URLs, upstream-ca readable and PEM, upstream-ca needs https://")
def _():
    d = tmpdir()
    ca = pki().ca
    ok = write_config(d, "site * {\n proxy https://up.test https://[::1]:8443 "
                         "https://127.0.0.1:9\n upstream-ca %s\n}\n" % ca, "ok.conf")
    rc, _, err = run([FERRY, "check", "--config", ok])
    check_eq(rc, 0, "valid config: %s" % err)
    cases = [
        ("site * {\n proxy https://up.test:99999\n}\n", ":2:8: invalid upstream"),
        ("site * {\n proxy https://\n}\n", ":2:8: invalid upstream"),
        ("site * {\n proxy https://up.test\n upstream-ca %s/none.pem\n}\n" % d,
         ":3:14: upstream-ca %s/none.pem: No such file or directory" % d),
        ("site * {\n proxy https://up.test\n upstream-ca %s\n}\n" % ok,
         ":3:14: upstream-ca %s: no PEM certificate in it" % ok),
        ("site * {\n proxy http://up.test\n upstream-ca %s\n}\n" % ca,
         ":3:2: 'upstream-ca' without an https:// upstream"),
        ("site * {\n proxy https://up.test\n upstream-ca ca.pem\n}\n",
         ":3:14: 'upstream-ca' needs an absolute path"),
        ("site * {\n proxy https://up.test\n proxy-protocol v1\n}\n",
         "'proxy-protocol' is not supported with an https:// upstream"),
    ]
    for i, (text, want) in enumerate(cases):
        f = write_config(d, text, "bad%d.conf" % i)
        rc, _, err = run([FERRY, "check", "--config", f])
        check(rc != 0, "case %d fails" % i)
        check_in(want, err, "case %d message" % i)


@test("sandbox strict: the CA file is read for each generation (start and SIGHUP reload), "
      "requests verified before and after; after the reload a new full handshake")
def _():
    b = backend()
    d = tmpdir()
    ca = os.path.join(d, "ca", "ca.pem")
    write_file(ca, read_file(pki().ca))
    p, a = proxy(site(b.url), d=d, ca=ca, sandbox="strict")
    echo_of(get(a, "/before"))
    p.send_signal(signal.SIGHUP)
    p.wait_stderr(r"SIGHUP: reloaded", what="the reload")
    echo_of(get(a, "/after"))
    # the reload may have changed the CAs: no session or kept-alive connection of before
    check_eq((b.tls_handshakes, b.tls_resumed, b.connections), (2, 0, 2),
             "handshakes, resumed, connections")
    check_not_in("TLS handshake failed", p.stderr(), "log")
    check(p.alive(), "still running")


if __name__ == "__main__":
    main()
