#!/usr/bin/env python3
"""Strict request framing: every ambiguous or malformed request gets the right 4xx/5xx and the
connection is closed afterwards (nothing after a framing error may be read as a request).
Also the limits (request line, head size, field count) and their config directives."""
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403

H = b"Host: localhost\r\n"
# A smuggled request appended to each bad one: it must never be answered.
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"

CASES = [
    # (description, raw request head+body, expected status)
    ("Content-Length and Transfer-Encoding together", b"POST / HTTP/1.1\r\n" + H +
     b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("Transfer-Encoding before Content-Length", b"GET / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400),
    ("two differing Content-Length fields", b"GET / HTTP/1.1\r\n" + H +
     b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    ("differing Content-Length list '5, 6'", b"GET / HTTP/1.1\r\n" + H +
     b"Content-Length: 5, 6\r\n\r\nhello!", 400),
    ("Content-Length overflow 99999999999999999999", b"GET / HTTP/1.1\r\n" + H +
     b"Content-Length: 99999999999999999999\r\n\r\n", 400),
    ("Content-Length -1", b"GET / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400),
    ("Content-Length +5", b"GET / HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\nhello", 400),
    ("Content-Length 0x10", b"GET / HTTP/1.1\r\n" + H + b"Content-Length: 0x10\r\n\r\n", 400),
    ("empty Content-Length", b"GET / HTTP/1.1\r\n" + H + b"Content-Length: \r\n\r\n", 400),
    ("bad chunk size 'zz'", b"GET / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk data longer than its size", b"GET / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk size overflow", b"GET / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n" + b"f" * 20 + b"\r\nx\r\n0\r\n\r\n", 400),
    ("chunk line ended by a bare LF", b"GET / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400),
    ("obs-fold continuation line", b"GET / HTTP/1.1\r\n" + H +
     b"X-A: a\r\n  b\r\n\r\n", 400),
    ("whitespace between field name and colon", b"GET / HTTP/1.1\r\nHost : localhost\r\n\r\n",
     400),
    ("whitespace before the first field", b"GET / HTTP/1.1\r\n Host: localhost\r\n\r\n", 400),
    ("NUL in a field value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", 400),
    ("CR inside a field value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n", 400),
    ("control char in a field value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x01b\r\n\r\n", 400),
    ("control char in the target", b"GET /a\x01b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("DEL in the target", b"GET /a\x7fb HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("space in the target", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("HTAB in the request line", b"GET\t/ HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("two spaces in the request line", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("invalid char in the method", b"G@T / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("lower-case HTTP version", b"GET / http/1.1\r\n" + H + b"\r\n", 400),
    ("garbage version 'HTTP/1.1x'", b"GET / HTTP/1.1x\r\n" + H + b"\r\n", 400),
    ("invalid char in a field name", b"GET / HTTP/1.1\r\n" + H + b"X(y): z\r\n\r\n", 400),
    ("empty field name", b"GET / HTTP/1.1\r\n" + H + b": z\r\n\r\n", 400),
    ("field line without a colon", b"GET / HTTP/1.1\r\n" + H + b"X-A z\r\n\r\n", 400),
    ("missing Host on HTTP/1.1", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("two Host fields", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("two identical Host fields", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
    ("Host with a space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("Host as a list 'a,b'", b"GET / HTTP/1.1\r\nHost: a,b\r\n\r\n", 400),
    ("empty Host with an origin-form target (an http URI has a host)",
     b"GET / HTTP/1.1\r\nHost:\r\n\r\n", 400),
    ("Expect other than 100-continue", b"GET / HTTP/1.1\r\n" + H + b"Expect: teapot\r\n\r\n",
     417),
    ("Host with a path", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    # RFC 9112 §6.3: chunked not the final coding of a request -> the server MUST answer
    # 400 and close; §6.1: a coding it does not implement (chunked final) -> 501.
    ("Transfer-Encoding: gzip (chunked not final, RFC 9112 6.3)", b"GET / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: gzip\r\n\r\n", 400),
    ("Transfer-Encoding: chunked, gzip (chunked not final)", b"GET / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
    ("Transfer-Encoding: gzip, chunked (unknown coding)", b"GET / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    ("Transfer-Encoding: chunked, chunked", b"GET / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
    ("Transfer-Encoding: chunked;x=1 (parameters on chunked)", b"GET / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked;x=1\r\n\r\n0\r\n\r\n", 400),
    ("Transfer-Encoding in HTTP/1.0", b"GET / HTTP/1.0\r\n" +
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("HTTP/2.0 request line", b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505),
    ("HTTP/3.1 request line", b"GET / HTTP/3.1\r\n" + H + b"\r\n", 505),
    ("request line longer than 8 KiB", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H +
     b"\r\n", 414),
    ("head larger than 16 KiB", b"GET / HTTP/1.1\r\n" + H +
     b"".join(b"X-F%d: %s\r\n" % (i, b"v" * 1000) for i in range(17)) + b"\r\n", 431),
    ("one field larger than 16 KiB", b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"v" * 17000 +
     b"\r\n\r\n", 431),
    ("101 field lines (limit 100)", b"GET / HTTP/1.1\r\n" + H +
     b"".join(b"X-F%d: v\r\n" % i for i in range(100)) + b"\r\n", 431),
    ("bare LF line endings", b"GET / HTTP/1.1\nHost: localhost\n\n", 400),
    ("bare LF after the request line only", b"GET / HTTP/1.1\n" + H + b"\r\n", 400),
    ("CR CR LF", b"GET / HTTP/1.1\r\r\n" + H + b"\r\n", 400),
    ("request-target not starting with '/'", b"GET a.txt HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("%00 in the path", b"GET /a%00.txt HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("bad percent-encoding %zz", b"GET /a%zz HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("truncated percent-encoding", b"GET /a% HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("Content-Length of 100 MB on a GET (more than ferry will discard)", b"GET / HTTP/1.1\r\n"
     + H + b"Content-Length: 100000000\r\n\r\n", 413),
    ("binary garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 +
     b"\r\n\r\n", 400),
]

# Requests that must be accepted (the parser must not be stricter than the RFCs).
GOOD = [
    ("Content-Length: 0 on GET", b"GET / HTTP/1.1\r\n" + H + b"Content-Length: 0\r\n\r\n"),
    ("100 field lines (at the limit)", b"GET / HTTP/1.1\r\n" +
     b"".join(b"X-F%d: v\r\n" % i for i in range(99)) + H + b"\r\n"),
    ("obs-text (0x80-0xff) in a field value", b"GET / HTTP/1.1\r\n" + H +
     b"X-A: caf\xc3\xa9\r\n\r\n"),
    ("Host with a port", b"GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n"),
    ("Host as an IPv6 literal", b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"),
    ("empty Host with an absolute-form target",
     b"GET http://localhost/ HTTP/1.1\r\nHost:\r\n\r\n"),
    ("field value with no OWS", b"GET / HTTP/1.1\r\nHost:localhost\r\n\r\n"),
    ("Transfer-Encoding: Chunked (case-insensitive)", b"GET / HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: Chunked\r\n\r\n0\r\n\r\n"),
    ("HTTP/1.0 without Host", b"GET / HTTP/1.0\r\n\r\n"),
]


def start(config=None):
    d = tmpdir()
    args = ["serve"]
    if config is not None:
        args += ["--config", write_config(d, config)]
    p, (a,) = activate(lambda: [tcp4()], args, dir=d)
    return p, a


def expect_error(a, raw, status, what):
    c = HttpConn(a)
    try:
        c.send(raw + SMUGGLED)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may stop reading a huge head early; the response is what counts
    r = c.read_response()
    check_eq(r.status, status, "%s: status" % what)
    if status == 400 or status == 501 or status == 505 or status >= 414:
        check_eq((r.header("connection") or "").lower(), "close",
                 "%s: Connection header" % what)
    check(c.wait_closed(3), "%s: the connection was not closed after %d (got %r)"
          % (what, status, c.buf[:200]))
    check_not_in(b"smuggled", c.buf, "%s: bytes after the error response" % what)


for _desc, _raw, _status in CASES:
    def _make(desc=_desc, raw=_raw, status=_status):
        @test("%s -> %d and close" % (desc, status))
        def _():
            p, a = start()
            expect_error(a, raw, status, desc)
            check(p.alive(), "ferry died")
    _make()

for _desc, _raw in GOOD:
    def _make(desc=_desc, raw=_raw):
        @test("accepted: %s" % desc)
        def _():
            p, a = start()
            c = HttpConn(a)
            c.send(raw + b"GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n")
            r = c.read_response()
            check_eq(r.status, 200, "%s: status" % desc)
            check_in(b"ferry works!", r.body, "body")
            if b"HTTP/1.0" not in raw:
                check_eq(c.read_response().status, 404, "%s: the next request" % desc)
    _make()


@test("all bad requests against one server: it keeps serving and exits 0")
def _():
    p, a = start()
    for desc, raw, status in CASES:
        expect_error(a, raw, status, desc)
    check_in(b"ferry works!", http_get(a).body, "body after the bad requests")
    check_eq(p.stop(), 0, "exit code")


@test("a 400 after a good request on the same connection: first answered, then 400 and close")
def _():
    p, a = start()
    c = HttpConn(a)
    c.send(b"GET / HTTP/1.1\r\n" + H + b"\r\n" + b"GET / HTTP/1.1\r\nHost : x\r\n\r\n" +
           SMUGGLED)
    check_eq(c.read_response().status, 200, "first status")
    check_eq(c.read_response().status, 400, "second status")
    check(c.wait_closed(3), "connection not closed after 400")


@test("a chunked body ferry only drops has the Content-Length cap (64 MiB): 32 MiB is dropped "
      "and the next request answered; 80 MiB -> 413 and close")
def _():
    p, a = start()
    block = b"x" * (1 << 20)
    c = HttpConn(a, timeout=30)
    c.send(b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n")
    for _ in range(32):
        c.send(b"100000\r\n" + block + b"\r\n")
    c.send(b"0\r\n\r\nGET /x HTTP/1.1\r\n" + H + b"\r\n")
    check_eq(c.read_response().status, 405, "32 MiB: the POST answered")
    check_eq(c.read_response().status, 404, "32 MiB: the next request")
    c = HttpConn(a, timeout=30)
    c.send(b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n")
    sent = [0]

    def send_body():  # in a thread: ferry answers while it is still being sent
        try:
            for _ in range(80):
                c.sock.sendall(b"100000\r\n" + block + b"\r\n")
                sent[0] += 1
            c.sock.sendall(b"0\r\n\r\n" + SMUGGLED)
        except OSError:
            pass

    t = threading.Thread(target=send_body)
    t.start()
    try:
        r = c.read_response()
        check_eq((r.status, (r.header("connection") or "").lower()), (413, "close"), "80 MiB")
        check(c.wait_closed(5), "the connection was not closed after 413 (got %r)" % c.buf[:200])
        check_not_in(b"smuggled", c.buf, "bytes after the 413")
    finally:
        c.close()
        t.join(30)
    diag("%d MiB sent before the close" % sent[0])
    check(p.alive(), "ferry died")


@test("config limits: max-request-line 1k -> 414 over it, 200 under it")
def _():
    p, a = start("max-request-line 1k\n")
    r, closed = exchange(a, b"GET /?" + b"a" * 1100 + b" HTTP/1.1\r\n" + H + b"\r\n")
    check_eq(r.status, 414, "status over the limit")
    check(closed, "closed after 414")
    r = fetch_raw(a, b"GET /?" + b"a" * 900 + b" HTTP/1.1\r\n" + H + b"\r\n")
    check_eq(r.status, 200, "status under the limit")
    # the default (8 KiB) would have let this one through: the directive is in effect
    r, _ = exchange(a, b"GET /?" + b"a" * 2000 + b" HTTP/1.1\r\n" + H + b"\r\n")
    check_eq(r.status, 414, "status at 2000 bytes")


@test("config limits: max-request-line 16k lets a 12 KiB request line through")
def _():
    p, a = start("max-request-line 16k\nmax-header-size 32k\n")
    r = fetch_raw(a, b"GET /?" + b"a" * 12000 + b" HTTP/1.1\r\n" + H + b"\r\n")
    check_eq(r.status, 200, "status")


@test("config limits: max-header-size 1k -> 431 for a 2 KiB head")
def _():
    p, a = start("max-request-line 1k\nmax-header-size 1k\n")
    r, closed = exchange(a, b"GET / HTTP/1.1\r\n" + H + b"X-A: " + b"v" * 2000 + b"\r\n\r\n")
    check_eq(r.status, 431, "status")
    check(closed, "closed after 431")
    r = fetch_raw(a, b"GET / HTTP/1.1\r\n" + H + b"X-A: " + b"v" * 500 + b"\r\n\r\n")
    check_eq(r.status, 200, "status of a 0.5 KiB head")


@test("config limits: max-header-fields 5 -> 431 for 6 fields, 200 for 5")
def _():
    p, a = start("max-header-fields 5\n")
    five = b"".join(b"X-%d: v\r\n" % i for i in range(4))
    r = fetch_raw(a, b"GET / HTTP/1.1\r\n" + H + five + b"\r\n")
    check_eq(r.status, 200, "status with 5 fields")
    r, closed = exchange(a, b"GET / HTTP/1.1\r\n" + H + five + b"X-5: v\r\n\r\n")
    check_eq(r.status, 431, "status with 6 fields")
    check(closed, "closed after 431")


if __name__ == "__main__":
    main()
