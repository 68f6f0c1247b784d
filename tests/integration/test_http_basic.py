#!/usr/bin/env python3
"""HTTP/1.1 basics: GET/HEAD, keep-alive, pipelining, Connection handling, HTTP/1.0, request
bodies on GET (discarded), methods, and the headers every response carries."""
import email.utils
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403


def make_root():
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), "<h1>index</h1>\n")
    write_file(os.path.join(root, "a.txt"), "file a\n")
    write_file(os.path.join(root, "b.txt"), "file bb\n")
    write_file(os.path.join(root, "c.txt"), "file ccc\n")
    return d, root


def server(root=True):
    """A ferry serving a small root (or the built-in page); returns (proc, addr)."""
    if root:
        d, r = make_root()
        p, (a,) = activate(lambda: [tcp4()], ["serve", "--root", r], dir=d)
    else:
        p, (a,) = activate(lambda: [tcp4()], ["serve"])
    return p, a


@test("GET / of the built-in page: 200, text/html, Content-Length matches the body")
def _():
    p, a = server(root=False)
    r = http_get(a, "/")
    check_eq(r.status, 200, "status")
    check_eq(r.version, "HTTP/1.1", "version")
    check_in("text/html", r.header("content-type", ""), "Content-Type")
    check_eq(int(r.header("content-length", "-1")), len(r.body), "Content-Length")
    check_in(b"ferry works!", r.body, "body")
    check_eq(http_get(a, "/elsewhere").status, 404, "status of /elsewhere")
    check_eq(p.stop(), 0, "exit code")


@test("HEAD: same status and headers as GET, same Content-Length, no body bytes")
def _():
    p, a = server(root=False)
    c = HttpConn(a)
    # HEAD then GET pipelined: if HEAD sent body bytes, the second response would not parse.
    c.send(request_bytes("/", "HEAD") + request_bytes("/"))
    h = c.read_response(method="HEAD")
    g = c.read_response()
    check_eq(h.status, 200, "HEAD status")
    check_eq(g.status, 200, "GET status")
    check_eq(h.header("content-length"), g.header("content-length"), "Content-Length")
    check_eq(h.header("content-type"), g.header("content-type"), "Content-Type")
    check_in(b"ferry works!", g.body, "GET body after HEAD")
    check_eq(c.buf, b"", "bytes left over")
    # and for a file, with its validators
    p.stop()
    p, a = server()
    c = HttpConn(a)
    c.send(request_bytes("/a.txt", "HEAD") + request_bytes("/a.txt"))
    h = c.read_response(method="HEAD")
    g = c.read_response()
    check_eq((h.status, g.status), (200, 200), "statuses")
    for k in ("content-length", "content-type", "etag", "last-modified"):
        check_eq(h.header(k), g.header(k), k)
    check_eq(g.body, b"file a\n", "GET body")
    # again, now that the small file is cached in memory
    c.send(request_bytes("/a.txt", "HEAD") + request_bytes("/a.txt"))
    h = c.read_response(method="HEAD")
    check_eq((h.status, h.header("content-length")), (200, "7"), "cached HEAD")
    check_eq(c.read_response().body, b"file a\n", "GET body after a cached HEAD")
    check(c.is_open_idle(0.2), "connection should stay open, nothing more to read")
    check_eq(p.stop(), 0, "exit code")


@test("HEAD of a missing file: 404 without a body")
def _():
    p, a = server()
    c = HttpConn(a)
    c.send(request_bytes("/missing", "HEAD") + request_bytes("/a.txt"))
    check_eq(c.read_response(method="HEAD").status, 404, "HEAD status")
    r = c.read_response()
    check_eq((r.status, r.body), (200, b"file a\n"), "next response")


@test("keep-alive: 10 requests one after another on one connection")
def _():
    p, a = server()
    c = HttpConn(a)
    for i in range(10):
        path = "/%s.txt" % "abc"[i % 3]
        c.send(request_bytes(path))
        r = c.read_response()
        check_eq(r.status, 200, "status of request %d" % i)
        check_eq(r.header("connection"), None, "Connection header on a kept-alive 1.1 response")
        check_in(b"file " + b"abc"[i % 3:i % 3 + 1], r.body, "body %d" % i)
    check_eq(p.stop(), 0, "exit code")


@test("pipelining: 3 requests in one write get 3 responses in order")
def _():
    p, a = server()
    c = HttpConn(a)
    c.send(request_bytes("/a.txt") + request_bytes("/b.txt") + request_bytes("/c.txt"))
    bodies = [c.read_response().body for _ in range(3)]
    check_eq(bodies, [b"file a\n", b"file bb\n", b"file ccc\n"], "bodies in order")


@test("pipelining: 100 requests in one write, mixed GET/HEAD/404, all answered in order")
def _():
    p, a = server()
    c = HttpConn(a)
    reqs, expect = b"", []
    for i in range(100):
        kind = i % 4
        if kind == 0:
            reqs += request_bytes("/a.txt")
            expect.append(("GET", 200, b"file a\n"))
        elif kind == 1:
            reqs += request_bytes("/b.txt", "HEAD")
            expect.append(("HEAD", 200, b""))
        elif kind == 2:
            reqs += request_bytes("/nope-%d" % i)
            expect.append(("GET", 404, None))
        else:
            reqs += request_bytes("/c.txt?i=%d" % i)
            expect.append(("GET", 200, b"file ccc\n"))
    c.send(reqs)
    for i, (m, st, body) in enumerate(expect):
        r = c.read_response(method=m)
        check_eq(r.status, st, "status of response %d" % i)
        if body is not None:
            check_eq(r.body, body, "body of response %d" % i)
    check(c.is_open_idle(0.2), "connection should stay open afterwards")


@test("pipelining split at awkward places (byte by byte) still parses")
def _():
    p, a = server()
    c = HttpConn(a)
    data = request_bytes("/a.txt") + request_bytes("/b.txt")
    for i in range(len(data)):
        c.send(data[i:i + 1])
    check_eq(c.read_response().body, b"file a\n", "first body")
    check_eq(c.read_response().body, b"file bb\n", "second body")


@test("Connection: close is honoured: 'Connection: close' in the response, then EOF")
def _():
    p, a = server()
    c = HttpConn(a)
    c.send(request_bytes("/a.txt", headers=["Connection: close"]) + request_bytes("/b.txt"))
    r = c.read_response()
    check_eq(r.status, 200, "status")
    check_eq((r.header("connection") or "").lower(), "close", "Connection header")
    check(c.wait_closed(3), "server did not close (or answered the request after close)")


@test("HTTP/1.0: closes by default")
def _():
    p, a = server()
    c = HttpConn(a)
    c.send(request_bytes("/a.txt", version="HTTP/1.0", host=None))
    r = c.read_response()
    check_eq(r.status, 200, "status")
    check_eq(r.body, b"file a\n", "body")
    check(c.wait_closed(3), "HTTP/1.0 connection not closed")


@test("HTTP/1.0 with Connection: keep-alive stays open and says so")
def _():
    p, a = server()
    c = HttpConn(a)
    for i in range(3):
        c.send(request_bytes("/a.txt", version="HTTP/1.0", host=None,
                             headers=["Connection: keep-alive"]))
        r = c.read_response()
        check_eq(r.status, 200, "status %d" % i)
        check_eq((r.header("connection") or "").lower(), "keep-alive", "Connection header")
    check(c.is_open_idle(0.2), "connection closed")


@test("GET with a Content-Length body: body discarded, next pipelined request answered")
def _():
    p, a = server()
    c = HttpConn(a)
    c.send(request_bytes("/a.txt", headers=["Content-Length: 11"], body=b"GET /x HTTP")
           + request_bytes("/b.txt"))
    r1, r2 = c.read_response(), c.read_response()
    check_eq((r1.status, r1.body), (200, b"file a\n"), "first response")
    check_eq((r2.status, r2.body), (200, b"file bb\n"), "second response")
    check(c.is_open_idle(0.2), "a body line was taken for a request")


@test("GET with a chunked body (with extension and trailer): discarded, next request answered")
def _():
    p, a = server()
    c = HttpConn(a)
    body = b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"
    c.send(request_bytes("/a.txt", headers=["Transfer-Encoding: chunked"], body=body)
           + request_bytes("/c.txt"))
    r1, r2 = c.read_response(), c.read_response()
    check_eq((r1.status, r1.body), (200, b"file a\n"), "first response")
    check_eq((r2.status, r2.body), (200, b"file ccc\n"), "second response")
    check(c.is_open_idle(0.2), "connection should stay open")


@test("a body that arrives slowly, in pieces, is waited for before answering")
def _():
    p, a = server()
    c = HttpConn(a)
    c.send(request_bytes("/a.txt", headers=["Content-Length: 10"]) + b"01234")
    check(c.is_open_idle(0.2), "answered before the body was complete")
    c.send(b"56789" + request_bytes("/b.txt"))
    check_eq(c.read_response().body, b"file a\n", "first body")
    check_eq(c.read_response().body, b"file bb\n", "second body")


@test("a large (1 MiB) Content-Length body on GET is discarded and the connection reused")
def _():
    p, a = server()
    c = HttpConn(a)
    n = 1 << 20
    c.send(request_bytes("/a.txt", headers=["Content-Length: %d" % n]))
    c.send(b"x" * n + request_bytes("/b.txt"))
    check_eq(c.read_response().body, b"file a\n", "first body")
    check_eq(c.read_response().body, b"file bb\n", "second body")


@test("Content-Length: 5, 5 (an identical list) is accepted")
def _():
    p, a = server()
    c = HttpConn(a)
    c.send(request_bytes("/a.txt", headers=["Content-Length: 5, 5"], body=b"hello")
           + request_bytes("/b.txt"))
    check_eq(c.read_response().status, 200, "status")
    check_eq(c.read_response().body, b"file bb\n", "next request after the body")


@test("unknown method -> 405 with Allow; POST/PUT/DELETE -> 405 too")
def _():
    p, a = server()
    for m in ("BREW", "POST", "PUT", "DELETE", "PATCH", "TRACE"):
        c = HttpConn(a)
        c.send(request_bytes("/a.txt", m, headers=["Content-Length: 0"]))
        r = c.read_response()
        check_eq(r.status, 405, "%s status" % m)
        allow = [x.strip() for x in (r.header("allow") or "").split(",")]
        check("GET" in allow and "HEAD" in allow, "%s: Allow header %r" % (m, r.header("allow")))
        c.close()


@test("OPTIONS -> 204 with Allow and no body; the connection stays usable")
def _():
    p, a = server()
    c = HttpConn(a)
    c.send(request_bytes("/a.txt", "OPTIONS") + request_bytes("/a.txt"))
    r = c.read_response()
    check_eq(r.status, 204, "status")
    allow = [x.strip() for x in (r.header("allow") or "").split(",")]
    for m in ("GET", "HEAD", "OPTIONS"):
        check_in(m, allow, "Allow")
    check_eq(r.header("content-length"), None, "Content-Length on a 204")
    r2 = c.read_response()
    check_eq((r2.status, r2.body), (200, b"file a\n"), "the request after OPTIONS")


@test("OPTIONS * -> 204 with Allow; GET * -> 400; CONNECT -> 405")
def _():
    p, a = server()
    r = fetch_raw(a, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
    check_eq(r.status, 204, "OPTIONS * status")
    check_in("GET", r.header("allow") or "", "Allow")
    r, closed = exchange(a, b"GET * HTTP/1.1\r\nHost: x\r\n\r\n")
    check_eq(r.status, 400, "GET * status")
    r = fetch_raw(a, b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n")
    check_eq(r.status, 405, "CONNECT status")


@test("a client that half-closes right after its request still gets the full response")
def _():
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "a.txt"), "file a\n")
    big = os.urandom(3 << 20)
    write_file(os.path.join(root, "big.bin"), big)
    p, (a,) = activate(lambda: [tcp4()], ["serve", "--root", root], dir=d)
    for reqs, bodies in (([("/a.txt")], [b"file a\n"]), ([("/big.bin")], [big]),
                         (["/a.txt", "/big.bin", "/a.txt"], [b"file a\n", big, b"file a\n"])):
        c = HttpConn(a, timeout=20)
        c.send(b"".join(request_bytes(x) for x in reqs))
        c.sock.shutdown(socket.SHUT_WR)  # as `printf ... | socat - tcp:...` does
        for i, want in enumerate(bodies):
            r = c.read_response()
            check(r.status == 200 and r.body == want, "%r: response %d: %d, %d bytes"
                  % (reqs, i, r.status, len(r.body)))
        c.close()


@test("request and FIN in one segment on a kept-alive connection: answered, then closed")
def _():
    p, a = server()
    c = HttpConn(a)
    c.send(request_bytes("/a.txt"))
    check_eq(c.read_response().body, b"file a\n", "first response")
    # MSG_MORE holds the bytes back; shutdown() sends them with the FIN in one segment, so
    # the server sees the data and the end of the stream in one wake-up.
    c.sock.send(request_bytes("/b.txt"), socket.MSG_MORE)
    c.sock.shutdown(socket.SHUT_WR)
    check_eq(c.read_response().body, b"file bb\n", "second response")
    check(c.wait_closed(3), "the server did not close after answering a half-closed client "
          "(it holds the connection until keepalive-timeout)")


@test("every response has Server and a current IMF-fixdate Date (200, 404, 405, 400)")
def _():
    p, a = server()
    rx = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|"
                    r"Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$")
    reqs = [request_bytes("/a.txt"), request_bytes("/missing"), request_bytes("/", "BREW"),
            b"GET / HTTP/1.1\r\n\r\n"]
    for raw in reqs:
        r = fetch_raw(a, raw)
        check_in("ferry", r.header("server", ""), "Server header")
        date = r.header("date")
        check(date is not None and rx.match(date), "Date %r is not an IMF-fixdate" % date)
        t = email.utils.parsedate_to_datetime(date).timestamp()
        check(abs(t - time.time()) < 5, "Date %r is not now" % date)


@test("404 keeps the connection alive")
def _():
    p, a = server()
    c = HttpConn(a)
    c.send(request_bytes("/missing"))
    r = c.read_response()
    check_eq(r.status, 404, "status")
    check_in("text/html", r.header("content-type", ""), "Content-Type")
    c.send(request_bytes("/a.txt"))
    check_eq(c.read_response().body, b"file a\n", "body after a 404")


@test("Expect: 100-continue on a GET with a body: a final status, no 100, then close")
def _():
    p, a = server()
    c = HttpConn(a)
    c.send(request_bytes("/a.txt", headers=["Content-Length: 5", "Expect: 100-continue"]))
    r = c.read_response()
    check_eq(r.status, 200, "status (never 100: the body is not wanted)")
    check_eq(r.body, b"file a\n", "body")
    check(c.wait_closed(3), "connection should close (the body was never read)")


@test("absolute-form target, query strings, lower-case field names, one leading CRLF")
def _():
    p, a = server()
    r = fetch_raw(a, b"GET http://localhost/a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
    check_eq((r.status, r.body), (200, b"file a\n"), "absolute-form")
    r = fetch_raw(a, b"GET /a.txt?x=1&y=%20 HTTP/1.1\r\nhost: localhost\r\n\r\n")
    check_eq((r.status, r.body), (200, b"file a\n"), "query string, lower-case host")
    r = fetch_raw(a, b"\r\nGET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
    check_eq((r.status, r.body), (200, b"file a\n"), "leading empty line")
    r = fetch_raw(a, b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nX-Tab:\tv\t\r\n\r\n")
    check_eq(r.status, 200, "HTAB in a field value")


@test("100 connections at once, each with 3 keep-alive requests")
def _():
    p, a = server()
    conns = [HttpConn(a) for _ in range(100)]
    for rnd in range(3):
        for c in conns:
            c.send(request_bytes("/b.txt"))
        for i, c in enumerate(conns):
            r = c.read_response()
            check_eq((r.status, r.body), (200, b"file bb\n"), "conn %d round %d" % (i, rnd))
    check_eq(p.stop(), 0, "exit code")


if __name__ == "__main__":
    main()
