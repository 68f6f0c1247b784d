#!/usr/bin/env python3
"""Reverse proxy: Host and path routing to TCP and Unix-socket upstreams (ferry itself and the
Python test backends), {host} with upstream-allow, bodies both ways (Content-Length, chunked,
large with a memory bound), 100-continue, WebSocket, keep-alive pooling, failures (refused,
killed mid-response, slow -> 504, all down -> 503), X-Forwarded-* trust, hop-by-hop fields,
smuggling attempts, PROXY protocol to the upstream, and DNS re-resolution."""
import json
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403
from backends import *  # noqa: E402,F401,F403


def backend(b):
    b.start()
    on_cleanup(b.stop)
    return b


def proxy(config, d=None):
    """ferry with this config (sandbox off: the proxy's sandbox rules are the lead's)."""
    d = d or tmpdir()
    cfg = "sandbox off\naccess-log off\n" + config
    p, (a,) = start_bound(lambda: [tcp4()], ["--config", write_config(d, cfg)], dir=d)
    return p, a


def get(a, path="/", host="a.test", headers=(), method="GET", timeout=5):
    return http_get(a, path, method=method, host=host, headers=headers, timeout=timeout)


def echo_of(r):
    check_eq(r.status, 200, "status (body %r)" % r.body[:300])
    return json.loads(r.body)


def vmrss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def raw_stream(a, data, timeout=10):
    s = socket.create_connection(a.sockaddr, timeout=timeout * SLOW)
    on_cleanup(s.close)
    s.sendall(data)
    return s, HttpStream(s)


@test("two sites by Host: one to a Python backend, one to another ferry serving files; "
      "unknown Host -> 421")
def _():
    d = tmpdir()
    write_file(os.path.join(d, "www", "index.html"), "<h1>static ferry</h1>\n")
    _, (sa,) = start_bound(lambda: [tcp4()], ["--root", os.path.join(d, "www")], dir=d)
    up = backend(EchoBackend())
    p, a = proxy("site apache.test {\n proxy %s\n}\nsite caddy.test {\n proxy http://%s\n}\n"
                 % (up.url, sa.ferry), d)
    j = echo_of(get(a, "/hello?x=1", host="apache.test"))
    check_eq((j["method"], j["target"]), ("GET", "/hello?x=1"), "request seen upstream")
    check_eq(dict((k.lower(), v) for k, v in j["headers"])["host"], "apache.test", "Host kept")
    r = get(a, "/", host="caddy.test")
    check_eq((r.status, r.body), (200, b"<h1>static ferry</h1>\n"), "static through proxy")
    check_eq(r.header("server"), "ferry", "upstream's Server passed on")
    check_eq(get(a, "/", host="nope.test").status, 421, "unknown site")


@test("Unix-socket upstream; one that appears late is retried until it exists")
def _():
    d = tmpdir()
    path = os.path.join(d, "app.sock")
    p, a = proxy("proxy-connect-timeout 5s\nsite * {\n proxy unix:%s\n}\n" % path, d)
    result = {}

    def late():
        time.sleep(0.5)
        result["b"] = backend(EchoBackend(unix=path))

    t = threading.Thread(target=late)
    t.start()
    t0 = time.monotonic()
    r = get(a, "/late")
    t.join()
    j = echo_of(r)
    check_eq((j["target"], j["peer"]), ("/late", "unix"), "served over the Unix socket")
    check(time.monotonic() - t0 >= 0.4, "answered before the socket existed?")
    j = echo_of(get(a, "/again"))
    check_eq(j["target"], "/again", "second request")


@test("path blocks: longest prefix wins, the rest from root; several upstreams round robin")
def _():
    d = tmpdir()
    write_file(os.path.join(d, "www", "index.html"), "home\n")
    u1, u2, u3 = (backend(EchoBackend(extra_headers=[("X-Which", str(i))])) for i in (1, 2, 3))
    p, a = proxy("workers 1\nsite * {\n root %s\n path /api/ {\n  proxy %s %s\n }\n"
                 " path /api/v3/ {\n  proxy %s\n }\n}\n"
                 % (os.path.join(d, "www"), u1.url, u2.url, u3.url), d)
    check_eq(get(a, "/").body, b"home\n", "static root")
    seen = [get(a, "/api/x").header("x-which") for _ in range(4)]
    check_eq(sorted(seen), ["1", "1", "2", "2"], "round robin over two upstreams")
    check_eq(get(a, "/api/v3/y").header("x-which"), "3", "longer prefix")
    check_eq(get(a, "/x/../api/v3/z").header("x-which"), "3", "normalised path matched")
    check_eq(get(a, "/apix").status, 404, "not under /api/: static")


@test("{host}: forwarded to the address the Host names inside upstream-allow, else 403")
def _():
    up = backend(EchoBackend(host="127.0.0.2"))
    other = backend(EchoBackend(host="127.0.0.3", port=up.port))
    p, a = proxy("site * {\n proxy http://{host}:%d\n upstream-allow 127.0.0.2/32\n}\n" % up.port)
    j = echo_of(get(a, "/in", host="127.0.0.2"))
    check_eq(j["target"], "/in", "allowed")
    check_eq(get(a, "/out", host="127.0.0.3").status, 403, "outside upstream-allow")
    check_eq(get(a, "/out", host="127.0.0.3:80").status, 403, "with a port")
    check_eq(len(other.requests), 0, "nothing reached the denied backend")


@test("{host} without upstream-allow is a config error")
def _():
    d = tmpdir()
    rc, out, err = run([FERRY, "check", "--config", write_config(
        d, "site * {\n proxy http://{host}:80\n}\n")])
    check(rc != 0, "accepted")
    check_in("upstream-allow", err + out, "message")


@test("chunked both ways: a chunked upload re-encoded, a chunked response passed on")
def _():
    sink = backend(UploadSinkBackend())
    ch = backend(ChunkedBackend(chunks=[b"a" * 10, b"b" * 70000, b"c"], trailers=[("X-T", "1")]))
    p, a = proxy("site up.test {\n proxy %s\n}\nsite down.test {\n proxy %s\n}\n"
                 % (sink.url, ch.url))
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (b"hello ", b"x" * 100000)) + \
        b"0\r\nX-Trailer: t\r\n\r\n"
    s, st = raw_stream(a, b"POST /u HTTP/1.1\r\nHost: up.test\r\nTransfer-Encoding: chunked\r\n"
                       b"Connection: close\r\n\r\n" + body)
    line, fields, _ = st.read_head()
    check_in("200", line, "status")
    b, _, _ = st.read_body(fields)
    j = json.loads(b)
    check_eq((j["bytes"], j["chunked"]), (100006, True), "upload seen upstream")
    s, st = raw_stream(a, b"GET / HTTP/1.1\r\nHost: down.test\r\nConnection: close\r\n\r\n")
    line, fields, _ = st.read_head()
    check_eq(dict((k.lower(), v) for k, v in fields).get("transfer-encoding"), "chunked", "TE")
    b, chunked, _ = st.read_body(fields)
    check_eq(b, ch.body, "chunked body")
    # An HTTP/1.0 client gets the body delimited by the close instead.
    r, closed = exchange(a, b"GET / HTTP/1.0\r\nHost: down.test\r\n\r\n")
    check_eq((r.status, r.body, closed), (200, ch.body, True), "HTTP/1.0 client")


@test("256 MiB down and 256 MiB up stream through with ferry's RSS under 32 MiB")
def _():
    size = 256 << 20
    big = backend(LargeBodyBackend(size=size))
    sink = backend(UploadSinkBackend())
    p, a = proxy("site down.test {\n proxy %s\n}\nsite up.test {\n proxy %s\n}\n"
                 % (big.url, sink.url))
    peak = [0]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], vmrss_kib(p.pid))
            time.sleep(0.05)

    t = threading.Thread(target=watch)
    t.start()
    try:
        s, st = raw_stream(a, b"GET / HTTP/1.1\r\nHost: down.test\r\n\r\n", timeout=60)
        line, fields, _ = st.read_head()
        h = hashlib.sha256()
        n, _, _ = st.body_chunks(fields, h.update)
        check_eq((n, h.hexdigest()), (size, large_body_sha256(size)), "download")
        s.sendall(b"POST / HTTP/1.1\r\nHost: up.test\r\nContent-Length: %d\r\n\r\n" % size)
        for blk in large_body(size):
            s.sendall(blk)
        # The same client connection, now to another site: keep-alive across upstreams.
        line, fields, _ = st.read_head()
        j = json.loads(st.read_body(fields)[0])
        check_eq((j["bytes"], j["sha256"]), (size, large_body_sha256(size)), "upload")
    finally:
        stop.set()
        t.join()
    diag("peak VmRSS %d KiB" % peak[0])
    check(peak[0] < 32 * 1024, "VmRSS peaked at %d KiB" % peak[0])


class CloseDelimitedBackend(Backend):
    """Answers with `size` generated bytes delimited by its close (no Content-Length)."""

    def __init__(self, size, **kw):
        super().__init__(**kw)
        self.size = size

    def respond(self, stream, req):
        stream.sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
        for b in large_body(self.size):
            stream.sock.sendall(b)
        return False


@test("long bodies pass through a pipe (splice) under `sandbox strict`: downloads with "
      "Content-Length or delimited by close and uploads arrive whole, one cut short closes the "
      "client connection")
def _():
    size = 5 << 20
    big = backend(LargeBodyBackend(size=size))
    eof = backend(CloseDelimitedBackend(3 << 20))
    half = backend(BrokenBackend(mode="half-body", length=4 << 20))
    sink = backend(UploadSinkBackend())
    d = tmpdir()
    cfg = ("sandbox strict\naccess-log off\nworkers 1\n"
           "site big.test {\n proxy %s\n}\nsite eof.test {\n proxy %s\n}\n"
           "site half.test {\n proxy %s\n}\nsite up.test {\n proxy %s\n}\n"
           % (big.url, eof.url, half.url, sink.url))
    p, (a,) = start_bound(lambda: [tcp4()], ["--config", write_config(d, cfg)], dir=d)
    s, st = raw_stream(a, b"GET / HTTP/1.1\r\nHost: big.test\r\n\r\n", timeout=30)
    for i in range(2):  # twice on one connection: the pipe is per exchange
        line, fields, _ = st.read_head()
        h = hashlib.sha256()
        n, _, _ = st.body_chunks(fields, h.update)
        check_eq((n, h.hexdigest()), (size, large_body_sha256(size)), "download %d" % (i + 1))
        if i == 0:
            s.sendall(b"GET / HTTP/1.1\r\nHost: big.test\r\n\r\n")
    # Uploads, the head sent apart from the body (which then goes through a pipe), twice on
    # one connection with the next request right behind the body.
    s, st = raw_stream(a, b"POST / HTTP/1.1\r\nHost: up.test\r\nContent-Length: %d\r\n\r\n"
                       % size, timeout=30)
    time.sleep(0.05)
    for i in range(2):
        for blk in large_body(size):
            s.sendall(blk)
        if i == 0:
            s.sendall(b"POST / HTTP/1.1\r\nHost: up.test\r\nContent-Length: %d\r\n\r\n"
                      % size)
        line, fields, _ = st.read_head()
        j = json.loads(st.read_body(fields)[0])
        check_eq((j["bytes"], j["sha256"]), (size, large_body_sha256(size)), "upload %d" % (i + 1))
    s, st = raw_stream(a, b"GET / HTTP/1.1\r\nHost: eof.test\r\n\r\n", timeout=30)
    line, fields, _ = st.read_head()
    h = hashlib.sha256()
    n, chunked, _ = st.body_chunks(fields, h.update)
    check_eq((n, chunked, h.hexdigest()), (3 << 20, True, large_body_sha256(3 << 20)),
             "close-delimited, re-framed chunked")
    c = HttpConn(a, timeout=30)
    c.send(request_bytes("/", host="half.test"))
    try:
        r = c.read_response()
        raise TestFailure("a truncated response passed off as complete: %d bytes" % len(r.body))
    except ConnectionClosed:
        pass
    check(p.poll() is None, "ferry still running (no syscall outside the seccomp filter)")


@test("Expect: 100-continue: the upstream's 100 is relayed, or its final status")
def _():
    ok = backend(UploadSinkBackend(expect="continue"))
    no = backend(UploadSinkBackend(expect="reject"))
    p, a = proxy("site ok.test {\n proxy %s\n}\nsite no.test {\n proxy %s\n}\n"
                 % (ok.url, no.url))
    c = HttpConn(a)
    c.send(b"PUT /f HTTP/1.1\r\nHost: ok.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    r = c.read_response()
    check_eq(r.status, 100, "interim")
    c.send(b"hello")
    r = c.read_response()
    j = json.loads(r.body)
    check_eq((r.status, j["bytes"], j["sent_continue"]), (200, 5, True), "final")
    c = HttpConn(a)
    c.send(b"PUT /f HTTP/1.1\r\nHost: no.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    r = c.read_response()
    check_eq(r.status, 417, "rejected without the body")
    check(c.wait_closed(3), "closed: the body was never sent")


@test("WebSocket: after the 101, frames flow both ways until close")
def _():
    ws = backend(WebSocketEchoBackend())
    p, a = proxy("site * {\n proxy %s\n}\n" % ws.url)
    s = socket.create_connection(a.sockaddr, timeout=5 * SLOW)
    on_cleanup(s.close)
    st, line, fields = ws_handshake(s, host="ws.test", path="/chat")
    for msg in (b"hi", b"x" * 70000):
        ws_send(s, 0x2, msg)
        fin, op, payload, masked = ws_recv(st)
        check_eq((fin, op, payload), (True, 0x2, msg), "echo")
    ws_send(s, 0x8, b"\x03\xe8")
    fin, op, payload, _ = ws_recv(st)
    check_eq(op, 0x8, "close echoed")
    check(st.at_eof(3 * SLOW), "connection closed after the upstream closed")


@test("keep-alive pool: many client connections, one upstream connection")
def _():
    up = backend(EchoBackend())
    p, a = proxy("workers 1\nsite * {\n proxy %s\n}\n" % up.url)
    for i in range(10):
        check_eq(get(a, "/%d" % i).status, 200, "request %d" % i)
    check_eq(up.connections, 1, "upstream connections")
    check_eq(len(up.requests), 10, "requests")


@test("keep-alive pool under concurrency, without tuning: 64 clients at once, 10 rounds; the "
      "upstream accepts at most one connection per client, none more after the first rounds")
def _():
    n, rounds = 64, 10
    # A short delay so that the requests of a round are all with the upstream at once.
    up = backend(SlowBackend(delay=0.05, body=b"pooled\n"))
    p, a = proxy("workers 1\nsite * {\n proxy %s\n}\n" % up.url)
    conns = [HttpConn(a, timeout=20) for _ in range(n)]
    seen = []  # upstream connections accepted before each round, and at the end
    start = threading.Barrier(n, action=lambda: seen.append(up.connections))
    failures = []

    def client(i, c):
        try:
            for r in range(rounds):
                start.wait(30)
                c.send(request_bytes("/%d/%d" % (r, i), host="a.test"))
                resp = c.read_response()
                if (resp.status, resp.body) != (200, b"pooled\n"):
                    failures.append("client %d round %d: %d %r" % (i, r, resp.status,
                                                                   resp.body[:100]))
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append("client %d: %s: %s" % (i, type(e).__name__, e))
            start.abort()

    threads = [threading.Thread(target=client, args=(i, c)) for i, c in enumerate(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60 * SLOW)
    seen.append(up.connections)
    diag("upstream connections before each round and at the end: %s" % seen)
    check_eq(failures[:5], [], "client failures")
    check_eq(len(up.requests), n * rounds, "requests upstream")
    check(seen[-1] <= n, "%d upstream connections for %d clients" % (seen[-1], n))
    check_eq(seen[-1], seen[rounds // 2], "connections opened in the second half of the rounds")


@test("upstream failures: refused -> 502, garbage -> 502, killed mid-body -> client closed")
def _():
    dead = free_port()
    garbage = backend(BrokenBackend(mode="garbage"))
    half = backend(BrokenBackend(mode="half-body", length=100000))
    p, a = proxy("workers 1\nsite dead.test {\n proxy http://127.0.0.1:%d\n}\n"
                 "site garbage.test {\n proxy %s\n}\nsite half.test {\n proxy %s\n}\n"
                 % (dead, garbage.url, half.url))
    check_eq(get(a, host="dead.test").status, 502, "refused")
    r = get(a, host="dead.test")
    check_eq((r.status, r.header("retry-after")), (503, "2"), "marked down: 503")
    check_eq(get(a, host="garbage.test").status, 502, "garbage")
    c = HttpConn(a)
    c.send(request_bytes("/", host="half.test"))
    try:
        r = c.read_response()
        raise TestFailure("a truncated response passed off as complete: %r" % r)
    except ConnectionClosed:
        pass


class ResetAfterBackend(RawBackend):
    """Sends its bytes, then resets the connection (SO_LINGER 0) instead of closing it."""

    def respond(self, stream, req):
        stream.sock.sendall(self.response)
        time.sleep(0.05)  # let the bytes leave before the RST discards them
        stream.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return False


@test("a response delimited by the upstream's close: chunked to HTTP/1.1 (the client keeps "
      "its connection), as is to HTTP/1.0; a reset mid-body is no complete response")
def _():
    body = b"until the upstream closes\n" * 3000
    eof = backend(RawBackend(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body))
    rst = backend(ResetAfterBackend(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 5000))
    p, a = proxy("workers 1\nsite eof.test {\n proxy %s\n}\nsite rst.test {\n proxy %s\n}\n"
                 % (eof.url, rst.url))
    s, st = raw_stream(a, b"GET /1 HTTP/1.1\r\nHost: eof.test\r\n\r\n")
    for i in range(2):
        line, fields, _ = st.read_head()
        f = dict((k.lower(), v) for k, v in fields)
        check_in("200", line, "status")
        check_eq((f.get("transfer-encoding"), f.get("connection")), ("chunked", None),
                 "re-framed, connection kept (response %d)" % (i + 1))
        b, chunked, _ = st.read_body(fields)
        check_eq((len(b), b == body, chunked), (len(body), True, True), "body %d" % (i + 1))
        if i == 0:
            s.sendall(b"GET /2 HTTP/1.1\r\nHost: eof.test\r\n\r\n")
    eof.wait_requests(2)
    check_eq(len(eof.requests), 2, "one upstream connection per response (closed by it)")
    r, closed = exchange(a, b"GET / HTTP/1.0\r\nHost: eof.test\r\n\r\n")
    check_eq((r.status, r.body == body, r.header("transfer-encoding"), closed),
             (200, True, None, True), "HTTP/1.0 client: as it came, up to the close")
    s, st = raw_stream(a, b"GET / HTTP/1.1\r\nHost: rst.test\r\n\r\n")
    line, fields, _ = st.read_head()
    check_in("200", line, "status")
    try:
        b, _, _ = st.read_body(fields)
        raise TestFailure("a reset mid-body passed off as a complete response (%d bytes)"
                          % len(b))
    except Exception as e:  # noqa: BLE001 - the stream ends without the last chunk
        if isinstance(e, TestFailure):
            raise


@test("passive health: a dead upstream is skipped, requests go to the live one")
def _():
    dead = free_port()
    up = backend(EchoBackend())
    p, a = proxy("workers 1\nsite * {\n proxy http://127.0.0.1:%d %s\n}\n" % (dead, up.url))
    for i in range(6):
        check_eq(get(a, "/%d" % i).status, 200, "request %d" % i)
    check_eq(len(up.requests), 6, "all served by the live upstream")


@test("failover from an upstream that closes at once after accept (a port forwarder whose app "
      "is down) or after reading the head: the healthy one answers, having got the request "
      "exactly once, over a new or a pooled connection; the next requests succeed")
def _():
    for mode in ("accept-close", "close"):
        for pooled in (False, True):
            what = "%s, %s" % (mode, "pooled" if pooled else "new connection")
            bad = backend(BrokenBackend(mode=mode))
            good = backend(EchoBackend())
            # One worker: its round robin sends the first request of site * to the bad
            # upstream (first in the list); with `pooled`, a request to warm.test first
            # leaves a pooled connection to the healthy one, and the order makes the bad one
            # next (the round robin moved on by one).
            order = (good.url, bad.url) if pooled else (bad.url, good.url)
            p, a = proxy("workers 1\nsite warm.test {\n proxy %s\n}\nsite * {\n proxy %s %s\n}\n"
                         % ((good.url,) + order))
            if pooled:
                echo_of(get(a, "/warm", host="warm.test"))
            j = echo_of(get(a, "/first"))
            check_eq(j["target"], "/first", "%s: answered by the healthy upstream" % what)
            check_eq(bad.connections, 1, "%s: the bad upstream was tried first" % what)
            check_eq([r.target for r in good.requests if r.target != "/warm"], ["/first"],
                     "%s: the healthy upstream got the request once" % what)
            for i in range(4):  # within the 2 s the bad one is skipped, and after
                check_eq(echo_of(get(a, "/next%d" % i))["target"], "/next%d" % i,
                         "%s: request %d after" % (what, i + 1))
            check_eq(good.connections, 1, "%s: one connection to the healthy upstream" % what)
            check_eq(good.errors + bad.errors, [], "%s: backend errors" % what)


@test("a pooled connection reset when it brings the next request: the request goes again on a "
      "new connection, and the close-delimited response there reaches the client complete "
      "(HTTP/1.0: as it came, through a pipe; HTTP/1.1: re-framed chunked)")
def _():
    body = b"".join(large_body(1 << 20))  # long enough to go through the pipe (splice)

    def script(req):
        if req.seq > 1:  # the connection was pooled after its first answer
            return b"", "reset"
        if req.target.startswith("/warm"):
            return b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nwarm\n", "keep"
        return b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body, "close"

    up = backend(ScriptedBackend(script))
    p, a = proxy("workers 1\nsite * {\n proxy %s\n}\n" % up.url)
    check_eq(get(a, "/warm1").body, b"warm\n", "a pooled connection")
    r, closed = exchange(a, b"GET /a HTTP/1.0\r\nHost: a.test\r\n\r\n", timeout=10)
    check_eq((r.status, len(r.body), sha(r.body) == sha(body), closed),
             (200, len(body), True, True), "HTTP/1.0: the response after the reset, complete")
    check_eq(get(a, "/warm2").body, b"warm\n", "a pooled connection again")
    s, st = raw_stream(a, b"GET /b HTTP/1.1\r\nHost: a.test\r\n\r\n")
    line, fields, _ = st.read_head()
    f = dict((k.lower(), v) for k, v in fields)
    b, chunked, _ = st.read_body(fields)  # raises if the last chunk is missing
    check_eq((line, f.get("connection"), chunked, len(b), b == body),
             ("HTTP/1.1 200 OK", None, True, len(body), True),
             "HTTP/1.1: complete, re-framed chunked, the client connection kept")
    check_eq([(q.conn, q.target) for q in up.requests],
             [(1, "/warm1"), (1, "/a"), (2, "/a"), (3, "/warm2"), (3, "/b"), (4, "/b")],
             "what the upstream read")


@test("slow upstream: proxy-timeout 1s -> 504")
def _():
    slow = backend(SlowBackend(delay=3))
    p, a = proxy("proxy-timeout 1s\nsite * {\n proxy %s\n}\n" % slow.url)
    t0 = time.monotonic()
    r = get(a, timeout=10)
    check_eq(r.status, 504, "status")
    check(0.8 <= time.monotonic() - t0 <= 2.5 * SLOW, "took %.2fs" % (time.monotonic() - t0))


@test("X-Forwarded-*/Forwarded: replaced from an untrusted peer, extended from a trusted one")
def _():
    up = backend(EchoBackend())
    spoof = ["X-Forwarded-For: 6.6.6.6", "X-Forwarded-Proto: https", "Forwarded: for=6.6.6.6",
             "X-Forwarded-Host: evil"]
    p, a = proxy("site * {\n proxy %s\n}\n" % up.url)
    h = dict((k.lower(), v) for k, v in echo_of(get(a, headers=spoof))["headers"])
    check_eq(h["x-forwarded-for"], "127.0.0.1", "XFF replaced")
    check_eq(h["x-forwarded-proto"], "http", "proto replaced")
    check_eq(h["x-forwarded-host"], "a.test", "host replaced")
    check_eq(h["forwarded"], "for=127.0.0.1;proto=http;host=a.test", "Forwarded replaced")
    p, a = proxy("trusted-proxies 127.0.0.0/8\nsite * {\n proxy %s\n}\n" % up.url)
    h = dict((k.lower(), v) for k, v in echo_of(get(a, headers=spoof))["headers"])
    check_eq(h["x-forwarded-for"], "6.6.6.6, 127.0.0.1", "XFF appended")
    check_eq(h["x-forwarded-proto"], "https", "proto kept")
    check_in("for=6.6.6.6", h["forwarded"], "Forwarded kept")


@test("hop-by-hop fields removed both ways")
def _():
    up = backend(EchoBackend(extra_headers=[("Connection", "X-Secret"), ("X-Secret", "s"),
                                            ("Keep-Alive", "timeout=5"), ("X-Fine", "1")]))
    p, a = proxy("site * {\n proxy %s\n}\n" % up.url)
    r = get(a, headers=["Connection: X-Private", "X-Private: p", "Keep-Alive: 1", "TE: trailers",
                        "X-Kept: k"])
    h = dict((k.lower(), v) for k, v in echo_of(r)["headers"])
    for name in ("x-private", "keep-alive", "te"):
        check(name not in h, "%s forwarded upstream" % name)
    check_eq(h["x-kept"], "k", "end-to-end field")
    check_eq((r.header("x-secret"), r.header("keep-alive"), r.header("x-fine")),
             (None, None, "1"), "response fields")


@test("smuggling: CL+TE refused, a request hidden in a body stays body, exact counts upstream")
def _():
    up = backend(EchoBackend())
    p, a = proxy("site * {\n proxy %s\n}\n" % up.url)
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: a.test\r\n\r\n"
    r, closed = exchange(a, b"POST /1 HTTP/1.1\r\nHost: a.test\r\nContent-Length: %d\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % (5 + len(smuggled))
                         + smuggled)
    check_eq((r.status, closed), (400, True), "CL+TE")
    # A body that looks like a request: exactly Content-Length bytes go upstream, as a body.
    c = HttpConn(a)
    c.send(b"POST /2 HTTP/1.1\r\nHost: a.test\r\nContent-Length: %d\r\n\r\n" % len(smuggled)
           + smuggled + b"GET /3 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
    j2 = json.loads(c.read_response().body)
    j3 = json.loads(c.read_response().body)
    check_eq((j2["target"], j2["body"].encode("latin-1")), ("/2", smuggled), "body kept whole")
    check_eq(j3["target"], "/3", "pipelined request")
    # A chunk size that overflows: refused, nothing more forwarded.
    r, closed = exchange(a, b"POST /4 HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n"
                         b"\r\nfffffffffffffffff1\r\n" + smuggled)
    check(r.status in (400, 502), "status %d" % r.status)
    time.sleep(0.2)
    targets = [q.target for q in up.requests]
    check_not_in("/smuggled", targets, "targets seen upstream")
    check_eq(targets[:3], ["/2", "/3", "/4"][:len(targets[:3])], "targets seen upstream")


@test("proxy-protocol v1 and v2 to the upstream carry the client's address")
def _():
    v1 = backend(EchoBackend(proxy_protocol=True))
    v2 = backend(EchoBackend(proxy_protocol=True))
    p, a = proxy("site v1.test {\n proxy %s\n proxy-protocol v1\n}\n"
                 "site v2.test {\n proxy %s\n proxy-protocol v2\n}\n" % (v1.url, v2.url))
    j = echo_of(get(a, host="v1.test"))
    check_eq((j["proxy"]["version"], j["proxy"]["src"].split(":")[0]), (1, "127.0.0.1"), "v1")
    j = echo_of(get(a, host="v2.test"))
    check_eq((j["proxy"]["version"], j["proxy"]["family"]), (2, "TCP4"), "v2")
    check_eq(j["proxy"]["dst"], "127.0.0.1:%d" % a.sockaddr[1], "v2 destination")


@test("DNS: an upstream name is resolved, and re-resolved after its address changes")
def _():
    dns = DnsServer()
    on_cleanup(dns.stop)
    b1 = backend(EchoBackend(host="127.0.0.2", extra_headers=[("X-Which", "old")]))
    dns.names["app.internal"] = "127.0.0.2"
    # Under `sandbox strict`: the resolver's files, socket, stat and getrandom are allowed.
    d = tmpdir()
    p, (a,) = start_bound(lambda: [tcp4()], ["--config", write_config(
        d, "sandbox strict\naccess-log off\nresolver 127.0.0.1:%d\n"
        "site * {\n proxy http://app.internal:%d\n}\n" % (dns.port, b1.port))], dir=d)
    check_eq(get(a).header("x-which"), "old", "first address")
    b1.stop()
    b2 = backend(EchoBackend(host="127.0.0.3", port=b1.port, extra_headers=[("X-Which", "new")]))
    dns.names["app.internal"] = "127.0.0.3"
    t0 = time.monotonic()
    wait_until(lambda: get(a).header("x-which") == "new", 6 * SLOW, interval=0.2,
               what="the new address to be used")
    diag("moved after %.1fs" % (time.monotonic() - t0))
    dns.names.pop("app.internal")
    time.sleep(1.2)
    # The name is gone (NXDOMAIN) once its TTL ran out: a 502, although the old address
    # still answers.
    check_eq(get(a).status, 502, "NXDOMAIN after expiry")
    check(p.poll() is None, "ferry still running (no syscall outside the seccomp filter)")


main()
