#!/usr/bin/env python3
"""Self-test for backends.py: talks to each backend directly (no ferry involved) and checks
what the proxy scenarios will rely on. Not named test_*.py, so tests/run.sh leaves it
alone; run it by hand after changing backends.py:

    python3 tests/integration/lib/selftest_backends.py

Prints TAP ("ok N - what"), exits 1 if anything failed."""

import hashlib
import json
import os
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from backends import *  # noqa: E402,F401,F403
from backends import HttpStream  # noqa: E402

_tests = []


def test(desc):
    def deco(fn):
        _tests.append((desc, fn))
        return fn
    return deco


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def check_eq(a, b, what="value"):
    if a != b:
        raise AssertionError("%s: %r != %r" % (what, a, b))


def exchange(sock, raw):
    """Send raw, read one response: (status line, fields, body)."""
    sock.sendall(raw)
    st = HttpStream(sock)
    return read_response(st)


def read_response(st, head_only=False):
    line, fields, _ = st.read_head()
    if head_only:
        return line, fields, b""
    body, _, _ = st.read_body(fields)
    return line, fields, body


def read_to_eof(sock, limit=1 << 20):
    data = b""
    while len(data) < limit:
        try:
            b = sock.recv(65536)
        except ConnectionResetError:
            return data, "reset"
        if not b:
            return data, "eof"
        data += b
    return data, "limit"


def hv(fields, name):
    for n, v in fields:
        if n.lower() == name:
            return v
    return None


@test("echo: JSON of the request, keep-alive, pipelining, connection count")
def _():
    with EchoBackend(extra_headers=[("X-Up", "1")]) as up:
        s = up.connect()
        st = HttpStream(s)
        s.sendall(b"POST /a?b=1 HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.2.3.4\r\n"
                  b"Content-Length: 5\r\n\r\nhello"
                  b"GET /two HTTP/1.1\r\nHost: h\r\n\r\n")
        line, fields, body = read_response(st)
        check_eq(line, "HTTP/1.1 200 OK")
        check_eq(hv(fields, "x-up"), "1")
        j = json.loads(body)
        check_eq(j["method"], "POST")
        check_eq(j["target"], "/a?b=1")
        check_eq(j["body"], "hello")
        check_eq(j["body_len"], 5)
        check_eq(j["headers"][1], ["X-Forwarded-For", "1.2.3.4"])
        check_eq((j["conn"], j["seq"]), (1, 1))
        line, fields, body = read_response(st)
        check_eq(json.loads(body)["target"], "/two")
        check_eq(json.loads(body)["seq"], 2)
        s.sendall(b"HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n")
        line, fields, _ = read_response(st, head_only=True)
        check(int(hv(fields, "content-length")) > 0)
        s.sendall(b"GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        read_response(st)
        check_eq(read_to_eof(s)[0], b"")
        s.close()
        s2 = up.connect()
        exchange(s2, b"GET / HTTP/1.0\r\n\r\n")
        check_eq(read_to_eof(s2)[0], b"")  # HTTP/1.0: closed after the response
        s2.close()
        reqs = up.wait_requests(5)
        check_eq([r.target for r in reqs], ["/a?b=1", "/two", "/h", "/c", "/"])
        check_eq(reqs[0].header("x-forwarded-for"), "1.2.3.4")
        check_eq(reqs[0].body, b"hello")
        check(reqs[0].peer.startswith("127.0.0.1:"))
        check_eq(up.connections, 2)
        check_eq(up.errors, [])


@test("echo: chunked request body with trailers; Unix socket")
def _():
    d = tempfile.mkdtemp(prefix="ferry-bk-")
    path = os.path.join(d, "up.sock")
    try:
        with EchoBackend(unix=path) as up:
            check_eq(up.url, "unix:" + path)
            s = up.connect()
            _, _, body = exchange(s, b"PUT /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                                     b"\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n")
            j = json.loads(body)
            check_eq(j["body"], "abcde")
            check(j["chunked"])
            check_eq(j["trailers"], [["X-T", "1"]])
            check_eq(j["peer"], "unix")
            s.close()
        check(not os.path.exists(path), "socket file removed by stop()")
    finally:
        os.rmdir(d)


@test("echo: PROXY protocol v1 and v2 headers are read and logged")
def _():
    with EchoBackend(proxy_protocol=True) as up:
        s = up.connect()
        _, _, body = exchange(s, b"PROXY TCP4 192.0.2.1 192.0.2.2 5555 80\r\n"
                                 b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        p = json.loads(body)["proxy"]
        check_eq((p["version"], p["src"], p["dst"]), (1, "192.0.2.1:5555", "192.0.2.2:80"))
        s.close()
        s = up.connect()
        v2 = (b"\r\n\r\n\x00\r\nQUIT\n\x21\x21\x00\x24" + socket.inet_pton(socket.AF_INET6, "2001:db8::1")
              + socket.inet_pton(socket.AF_INET6, "::1") + struct.pack(">HH", 1, 2))
        _, _, body = exchange(s, v2 + b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        p = json.loads(body)["proxy"]
        check_eq((p["version"], p["family"], p["src"], p["dst"]),
                 (2, "TCP6", "[2001:db8::1]:1", "[::1]:2"))
        s.close()
        s = up.connect()
        _, _, body = exchange(s, b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        check_eq(json.loads(body)["proxy"]["command"], "LOCAL")
        s.close()
        # No header at all: the connection is dropped and the error recorded.
        s = up.connect()
        s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        check_eq(read_to_eof(s)[0], b"")
        s.close()
        time.sleep(0.1)
        check_eq(len(up.errors), 1)


@test("slow: the head comes after the delay; stop() interrupts a delay")
def _():
    with SlowBackend(delay=0.5, body=b"0123456789", body_delay=0.1, parts=3) as up:
        s = up.connect()
        t0 = time.monotonic()
        _, _, body = exchange(s, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        dt = time.monotonic() - t0
        check_eq(body, b"0123456789")
        check(dt >= 0.7, "took %.2fs" % dt)
        s.close()
    up = SlowBackend(delay=30).start()
    s = up.connect()
    s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    up.wait_requests(1)
    t0 = time.monotonic()
    up.stop()
    check(time.monotonic() - t0 < 2, "stop() waited for the delay")
    check_eq(read_to_eof(s)[0], b"")
    s.close()


@test("broken: every mode does what it says")
def _():
    req = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
    want = {
        "close": (b"", "eof"),
        "reset": (b"", "reset"),
        "half-head": (b"HTTP/1.1 200 OK\r\nContent-Type: text/pl", "eof"),
        "garbage": (b"\x00\x01SSH-2.0-nope\r\n\r\n", "eof"),
        "accept-close": (b"", None),
    }
    for mode in BrokenBackend.MODES:
        with BrokenBackend(mode=mode, length=100) as up:
            s = up.connect()
            try:
                s.sendall(req)
            except OSError:
                pass
            data, how = read_to_eof(s)
            s.close()
            if mode in want:
                check_eq(data, want[mode][0], mode)
                if want[mode][1]:
                    check_eq(how, want[mode][1], mode)
            elif mode == "half-body":
                check_eq(data, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 50)
                check_eq(how, "eof")
            else:  # reset-mid-body: the RST may overtake some of the bytes
                head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
                check(data == (head + b"x" * 50)[:len(data)], mode)
                check_eq(how, "reset", mode)
            if mode != "accept-close":
                check_eq(len(up.wait_requests(1)), 1)
            check_eq(up.errors, [], mode)


@test("raw: exact bytes out, callable responses")
def _():
    evil = (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n")
    with RawBackend(evil) as up:
        s = up.connect()
        s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        check_eq(read_to_eof(s)[0], evil)
        s.close()
    with RawBackend(lambda r: b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(r.target), r.target.encode()), close=False) as up:
        s = up.connect()
        _, _, body = exchange(s, b"GET /abc HTTP/1.1\r\nHost: h\r\n\r\n")
        check_eq(body, b"/abc")
        _, _, body = exchange(s, b"GET /de HTTP/1.1\r\nHost: h\r\n\r\n")
        check_eq(body, b"/de")
        s.close()


@test("scripted: keep-alive, then close or RST, as the script says per connection and request")
def _():
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    def script(req):
        if req.conn == 1:
            return (ok, "keep") if req.seq == 1 else (b"", "reset")
        return b"HTTP/1.0 200 OK\r\n\r\nuntil close", "close"

    with ScriptedBackend(script) as up:
        s = up.connect()
        _, _, body = exchange(s, b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n")
        check_eq(body, b"ok", "first answer, kept alive")
        s.sendall(b"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
        try:
            data = s.recv(100)
        except ConnectionResetError:
            data = None
        check_eq(data, None, "the second request on that connection is reset")
        s.close()
        s = up.connect()
        s.sendall(b"GET /3 HTTP/1.1\r\nHost: h\r\n\r\n")
        check_eq(read_to_eof(s)[0], b"HTTP/1.0 200 OK\r\n\r\nuntil close", "then close")
        s.close()
        check_eq([(r.conn, r.seq, r.target) for r in up.requests],
                 [(1, 1, "/1"), (1, 2, "/2"), (2, 1, "/3")], "requests logged")
        check_eq(up.errors, [], "errors")


@test("chunked: chunks, extensions and trailers on the wire")
def _():
    with ChunkedBackend(chunks=[b"ab", b"", b"cde"], trailers=[("X-Sum", "5")],
                        ext="n=1", delay=0.05) as up:
        s = up.connect()
        s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        data, _ = read_to_eof(s)
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        check(b"Transfer-Encoding: chunked" in head and b"Trailer: X-Sum" in head)
        check_eq(body, b"2;n=1\r\nab\r\n3;n=1\r\ncde\r\n0\r\nX-Sum: 5\r\n\r\n")
        check_eq(up.body, b"abcde")


@test("large body: 5 MiB with Content-Length and chunked, hash as announced")
def _():
    size = 5 << 20 | 12345
    for chunked in (False, True):
        with LargeBodyBackend(size=size, chunked=chunked) as up:
            s = up.connect(timeout=30)
            s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            st = HttpStream(s)
            line, fields, _ = st.read_head()
            h = hashlib.sha256()
            n, was_chunked, _ = st.body_chunks(fields, h.update)
            check_eq((n, was_chunked), (size, chunked))
            check_eq(h.hexdigest(), hv(fields, "x-body-sha256"))
            check_eq(h.hexdigest(), large_body_sha256(size))
            _, fields, body = exchange(s, b"GET /?size=3 HTTP/1.1\r\nHost: h\r\n\r\n")
            check_eq(body, next(large_body(3)))
            s.close()
    # Blocks differ: a dropped or repeated block changes the hash.
    blocks = list(large_body(3 * 65536))
    check(len(set(blocks)) == 3)
    # stop() while the client does not read: the sender is unblocked.
    up = LargeBodyBackend(size=1 << 30).start()
    s = up.connect()
    s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    up.wait_requests(1)
    time.sleep(0.1)
    up.stop()
    s.close()


@test("upload sink: 100-continue, reject, too-large, ignore, chunked uploads")
def _():
    payload = os.urandom(300000)
    sha = hashlib.sha256(payload).hexdigest()
    with UploadSinkBackend() as up:
        s = up.connect()
        st = HttpStream(s)
        s.sendall(b"PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(payload))
        line, _, _ = st.read_head()
        check_eq(line, "HTTP/1.1 100 Continue")
        s.sendall(payload)
        _, _, body = read_response(st)
        j = json.loads(body)
        check_eq((j["bytes"], j["sha256"], j["expect"], j["sent_continue"]),
                 (len(payload), sha, True, True))
        # Chunked, no Expect, same connection.
        s.sendall(b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"4\r\nabcd\r\n0\r\n\r\n")
        j = json.loads(read_response(st)[2])
        check_eq((j["bytes"], j["chunked"], j["sent_continue"]), (4, True, False))
        s.close()
        reqs = up.wait_requests(2)
        check_eq((reqs[0].body_len, reqs[0].body_sha256, reqs[0].body), (len(payload), sha, b""))
    for mode, status in (("reject", "417"), ("too-large", "413")):
        with UploadSinkBackend(expect=mode) as up:
            s = up.connect()
            line, _, _ = exchange(s, b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                                     b"Content-Length: 100\r\n\r\n")
            check_eq(line.split(" ")[1], status)
            check_eq(read_to_eof(s)[0], b"")
            s.close()
    with UploadSinkBackend(expect="ignore") as up:
        s = up.connect()
        s.sendall(b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        time.sleep(0.1)
        s.setblocking(False)
        try:
            early = s.recv(100)
        except BlockingIOError:
            early = b""
        s.setblocking(True)
        check_eq(early, b"")
        _, _, body = exchange(s, b"xyz")
        check_eq(json.loads(body)["bytes"], 3)
        s.close()


@test("websocket: handshake, echo text/binary/fragments, ping, close; refusal")
def _():
    with WebSocketEchoBackend() as up:
        s = up.connect()
        st, line, fields = ws_handshake(s, path="/chat")
        check_eq(hv(fields, "upgrade"), "websocket")
        ws_send(s, 0x1, b"hello")
        check_eq(ws_recv(st), (True, 0x1, b"hello", False))
        big = os.urandom(70000)
        ws_send(s, 0x2, big)
        check_eq(ws_recv(st)[2], big)
        ws_send(s, 0x1, b"frag", fin=False)
        ws_send(s, 0x0, b"ment")
        check_eq(ws_recv(st)[:3], (False, 0x1, b"frag"))
        check_eq(ws_recv(st)[:3], (True, 0x0, b"ment"))
        ws_send(s, 0x9, b"p")
        check_eq(ws_recv(st)[:3], (True, 0xA, b"p"))
        ws_send(s, 0x8, struct.pack("!H", 1000) + b"bye")
        check_eq(ws_recv(st)[:3], (True, 0x8, struct.pack("!H", 1000)))
        check_eq(read_to_eof(s)[0], b"")
        s.close()
        check_eq([f[1] for f in up.frames], [1, 2, 1, 0, 9, 8])
        check_eq(up.requests[0].target, "/chat")
        s = up.connect()
        line, _, _ = exchange(s, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        check_eq(line, "HTTP/1.1 400 Bad Request")
        s.close()
        check_eq(up.errors, [])


@test("stop() with idle and busy connections open: every thread joined, port closed")
def _():
    up = EchoBackend().start()
    socks = [up.connect() for _ in range(5)]
    exchange(socks[0], b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    socks[1].sendall(b"GET / HTTP/1.1\r\nHost: h\r\n")  # half a head
    for _ in range(100):
        if up.connections == 5:
            break
        time.sleep(0.01)
    check_eq(up.connections, 5)
    port = up.port
    t0 = time.monotonic()
    up.stop()
    check(time.monotonic() - t0 < 2)
    check(not any(t.is_alive() for t in up._threads))
    for s in socks:
        check_eq(read_to_eof(s)[0], b"")
        s.close()
    c = socket.socket()
    try:
        c.connect(("127.0.0.1", port))
        check(False, "still listening")
    except ConnectionRefusedError:
        pass
    finally:
        c.close()
    check(threading.active_count() < 10)


def main():
    failed = 0
    for n, (desc, fn) in enumerate(_tests, 1):
        t0 = time.monotonic()
        try:
            fn()
            print("ok %d - %s" % (n, desc), flush=True)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print("not ok %d - %s" % (n, desc), flush=True)
            print("# %s: %s" % (type(e).__name__, e), flush=True)
            traceback.print_exc()
        sys.stderr.write("[%5.2fs] %s\n" % (time.monotonic() - t0, desc))
    print("1..%d" % len(_tests))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
