#!/usr/bin/env python3
"""HTTP/2 with prior knowledge on an `h2c` listener: curl, nghttp and h2load against static
files (welcome page, small and large files, ranges, conditional requests, errors, HEAD), the
access log, many streams on one connection; frame-level checks with python3-h2 and raw frames
(malformed requests are stream errors, header limits, rapid reset, CONTINUATION, SETTINGS and
PING floods, the concurrent-stream limit, keep-alive and graceful stop); and the reverse proxy
over HTTP/2: uploads with and without a length, a large streamed download, backpressure both
ways."""
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403
from backends import *  # noqa: E402,F401,F403

try:
    import h2.config  # noqa: E402
except ImportError:  # python3-h2 is Debian's; the python3 on PATH may be another one
    sys.path.append("/usr/lib/python3/dist-packages")
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import h2.settings  # noqa: E402
import hpack  # noqa: E402
from hyperframe import frame as hf  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
PROTOCOL_ERROR, REFUSED_STREAM, CANCEL, ENHANCE_YOUR_CALM = 0x1, 0x7, 0x8, 0xB
SMALL = b"small file\n"
BIG = 4 << 20


def make_root(d):
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), "<h1>home</h1>\n")
    write_file(os.path.join(root, "small.txt"), SMALL)
    write_file(os.path.join(root, "big.bin"), os.urandom(BIG))
    write_file(os.path.join(root, "digits.txt"), b"0123456789" * 10)
    return root


def server(extra="", site=None, d=None, fdnames=("h2",), sandbox=True):
    """ferry behind systemd-socket-activate, its first socket `listen h2 h2c` (a second one,
    if asked, plain HTTP/1.1). Returns (proc, addrs, dir, access log path)."""
    d = d or tmpdir()
    log = os.path.join(d, "access.log")
    if site is None:
        site = "site * {\n root %s\n}\n" % make_root(d)
    cfg = "listen h2 h2c\n" + "".join("listen %s\n" % n for n in fdnames[1:])
    cfg += "access-log %s\n" % log + ("" if sandbox else "sandbox off\n") + extra + site
    p, addrs = activate(lambda: [tcp4() for _ in fdnames],
                        ["--config", write_config(d, cfg)], fdnames=list(fdnames), dir=d)
    return p, addrs, d, log


def curl(a, path, *args, timeout=30):
    """curl --http2-prior-knowledge: (status, headers dict, body bytes)."""
    argv = ["curl", "-s", "--http2-prior-knowledge", "-D", "-", "-o", "-", "--max-time",
            str(int(timeout * SLOW))] + list(args) + ["http://%s%s" % (a.ferry, path)]
    out = subprocess.run(argv, capture_output=True, timeout=timeout * SLOW + 5).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    check(lines[0].startswith("HTTP/2 "), "curl did not speak HTTP/2: %r" % lines[0])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), hdrs, body


# ---- a python3-h2 client ------------------------------------------------------------------

class Stream:
    def __init__(self):
        self.headers = None
        self.interim = []
        self.data = b""
        self.ended = False
        self.reset = None


class H2Client:
    """One HTTP/2 connection driven by python3-h2. auto_ack: give received DATA back to the
    flow-control windows at once (else ack() does it)."""

    def __init__(self, a, auto_ack=True, settings=None, validate=True, timeout=10):
        self.sock = socket.create_connection(a.sockaddr, timeout=timeout * SLOW)
        on_cleanup(self.sock.close)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="latin-1",
                                        validate_outbound_headers=validate,
                                        normalize_outbound_headers=validate)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.local_settings = h2.settings.Settings(client=True,
                                                        initial_values=settings or {})
        self.conn.initiate_connection()
        self.authority = a.ferry
        self.auto_ack = auto_ack
        self.streams = {}
        self.goaway = None  # ConnectionTerminated
        self.eof = False
        self.unacked = 0
        self.pings = []  # the data of the PING ACKs received
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path, method="GET", headers=(), body=None, end=True):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", "http"), (":authority", self.authority),
                (":path", path)] + list(headers)
        self.streams[sid] = Stream()
        self.conn.send_headers(sid, hdrs, end_stream=end and body is None)
        if body is not None:
            self.send_body(sid, body, end=end)
        self.flush()
        return sid

    def send_body(self, sid, body, end=True):
        """As much of body as the windows allow now; returns what is left."""
        while body:
            n = min(len(body), self.conn.local_flow_control_window(sid),
                    self.conn.max_outbound_frame_size)
            if n <= 0:
                break
            self.conn.send_data(sid, body[:n])
            body = body[n:]
        if not body and end:
            self.conn.end_stream(sid)
        self.flush()
        return body

    def pump(self, timeout=0.2):
        """Read and handle what arrives within timeout. False at EOF."""
        if self.eof:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            return True
        except (ConnectionResetError, OSError):
            data = b""
        if not data:
            self.eof = True
            return False
        for ev in self.conn.receive_data(data):
            self.handle(ev)
        self.flush()
        return True

    def handle(self, ev):
        s = self.streams.get(getattr(ev, "stream_id", None))
        if isinstance(ev, h2.events.ResponseReceived):
            s.headers = dict(ev.headers)
        elif isinstance(ev, h2.events.InformationalResponseReceived):
            s.interim.append(dict(ev.headers))
        elif isinstance(ev, h2.events.DataReceived):
            s.data += ev.data
            if self.auto_ack:
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            else:
                self.unacked_by = getattr(self, "unacked_by", [])
                self.unacked_by.append((ev.flow_controlled_length, ev.stream_id))
        elif isinstance(ev, h2.events.StreamEnded):
            s.ended = True
        elif isinstance(ev, h2.events.StreamReset):
            if s:
                s.reset = ev.error_code
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaway = ev
        elif isinstance(ev, h2.events.PingAckReceived):
            self.pings.append(ev.ping_data)

    def ack(self):
        for n, sid in getattr(self, "unacked_by", []):
            try:
                self.conn.acknowledge_received_data(n, sid)
            except Exception:  # noqa: BLE001 - the stream may be closed
                pass
        self.unacked_by = []
        self.flush()

    def wait(self, pred, timeout=10, what="condition"):
        deadline = time.monotonic() + timeout * SLOW
        while not pred():
            if time.monotonic() > deadline:
                raise TestFailure("timed out waiting for %s" % what)
            if not self.pump() and not pred():
                raise TestFailure("connection closed while waiting for %s (goaway %r)"
                                  % (what, self.goaway))
        return True

    def response(self, sid, timeout=10):
        s = self.streams[sid]
        self.wait(lambda: s.ended or s.reset is not None, timeout, "stream %d" % sid)
        return s

    def get(self, path, **kw):
        s = self.response(self.request(path, **kw))
        check(s.reset is None, "stream reset (%r) for %s" % (s.reset, path))
        return int(s.headers[":status"]), s.headers, s.data


# ---- raw frames -------------------------------------------------------------------------

class RawH2:
    """Frames as we write them (hyperframe + hpack), whatever the RFC says; reads frames
    back."""

    def __init__(self, a, timeout=10, first=b""):
        self.sock = socket.create_connection(a.sockaddr, timeout=timeout * SLOW)
        on_cleanup(self.sock.close)
        self.enc = hpack.Encoder()
        self.authority = a.ferry
        self.buf = b""
        self.eof = False
        self.sock.sendall(first + PREFACE + hf.SettingsFrame(0).serialize())

    def block(self, path="/", method="GET", extra=(), authority=None):
        hdrs = [(":method", method), (":scheme", "http"),
                (":authority", authority or self.authority), (":path", path)]
        return self.enc.encode([h for h in hdrs if h[1] is not None] + list(extra))

    def headers(self, sid, block, end_stream=True):
        f = hf.HeadersFrame(sid, block)
        f.flags.add("END_HEADERS")
        if end_stream:
            f.flags.add("END_STREAM")
        return f.serialize()

    def send(self, *frames):
        self.sock.sendall(b"".join(frames))

    def next_frame(self, timeout=5):
        deadline = time.monotonic() + timeout * SLOW
        while True:
            if len(self.buf) >= 9:
                f, n = hf.Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) >= 9 + n:
                    f.parse_body(memoryview(self.buf[9:9 + n]))
                    self.buf = self.buf[9 + n:]
                    return f
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("no frame within %.1fs" % (timeout * SLOW))
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, OSError):
                d = b""
            if not d:
                self.eof = True
            self.buf += d

    def until(self, pred, timeout=5, what="frame"):
        """The first frame with pred(frame); None at EOF."""
        deadline = time.monotonic() + timeout * SLOW
        while True:
            f = self.next_frame(max(0.01, deadline - time.monotonic()) / SLOW)
            if f is None or pred(f):
                return f

    def goaway(self, timeout=5):
        return self.until(lambda f: isinstance(f, hf.GoAwayFrame), timeout)

    def closed(self, timeout=5):
        """Frames until EOF (True) or the timeout (False)."""
        try:
            while self.next_frame(timeout) is not None:
                pass
            return True
        except TestFailure:
            return False


def is_rst(sid):
    return lambda f: isinstance(f, hf.RstStreamFrame) and f.stream_id == sid


def response_or_rst(raw, sid):
    return raw.until(lambda f: f.stream_id == sid and isinstance(f, (hf.HeadersFrame,
                                                                     hf.RstStreamFrame)))


def status_of(raw, f):
    dec = getattr(raw, "dec", None) or hpack.Decoder()
    raw.dec = dec
    return dict(dec.decode(f.data))[":status"]


# ---- static files -------------------------------------------------------------------------

@test("h2c: curl --http2-prior-knowledge and nghttp get the welcome page over HTTP/2")
def _():
    p, (a,), d, log = server(site="")
    st, hdrs, body = curl(a, "/")
    check_eq(st, 200, "status")
    check_in(b"ferry", body, "welcome page")
    check_eq(hdrs.get("server"), "ferry", "server")
    check("date" in hdrs and "connection" not in hdrs, "date, no connection: %r" % hdrs)
    out = subprocess.run(["nghttp", "-nv", "http://%s/" % a.ferry], capture_output=True,
                         timeout=10 * SLOW).stdout.decode()
    check_in(":status: 200", out, "nghttp")
    check_in("SETTINGS_MAX_CONCURRENT_STREAMS(0x03):100", out, "ferry's SETTINGS")


@test("static files: small, 4 MiB (sha256), a range (206), If-None-Match (304), 404, 405, "
      "HEAD, OPTIONS")
def _():
    p, (a,), d, log = server()
    root = os.path.join(d, "www")
    st, hdrs, body = curl(a, "/small.txt")
    check_eq((st, body, hdrs.get("content-length")), (200, SMALL, str(len(SMALL))), "small")
    etag = hdrs["etag"]
    big = read_file(os.path.join(root, "big.bin"))
    st, hdrs, body = curl(a, "/big.bin")
    check_eq((st, len(body), sha(body)), (200, BIG, sha(big)), "4 MiB")
    st, hdrs, body = curl(a, "/big.bin", "-H", "Range: bytes=1000-1999")
    check_eq((st, body, hdrs.get("content-range")), (206, big[1000:2000],
                                                     "bytes 1000-1999/%d" % BIG), "range")
    st, hdrs, body = curl(a, "/digits.txt", "-H", "Range: bytes=-5")
    check_eq((st, body), (206, b"56789"), "suffix range")
    st, hdrs, body = curl(a, "/small.txt", "-H", "If-None-Match: " + etag)
    check_eq((st, body), (304, b""), "If-None-Match")
    check_eq(hdrs.get("etag"), etag, "304 ETag")
    st, hdrs, body = curl(a, "/nope.txt")
    check_eq(st, 404, "missing")
    check_in(b"404", body, "404 page")
    st, hdrs, body = curl(a, "/small.txt", "-X", "DELETE")
    check_eq((st, hdrs.get("allow")), (405, "GET, HEAD, OPTIONS"), "DELETE")
    st, hdrs, body = curl(a, "/small.txt", "--data-binary", "x" * 100000)
    check_eq(st, 405, "POST with a body (read and dropped first)")
    st, hdrs, body = curl(a, "/big.bin", "-I")
    check_eq((st, hdrs.get("content-length")), (200, str(BIG)), "HEAD")
    st, hdrs, body = curl(a, "/", "-X", "OPTIONS")
    check_eq((st, hdrs.get("allow")), (204, "GET, HEAD, OPTIONS"), "OPTIONS")
    c = H2Client(a)
    st, hdrs, body = c.get("/big.bin", method="HEAD")
    check_eq((st, hdrs.get("content-length"), body), (200, str(BIG), b""), "HEAD (python3-h2)")


@test("h2load -c4 -m10 -n2000: every response 2xx; 50 concurrent streams on one connection")
def _():
    p, (a,), d, log = server()
    out = subprocess.run(["h2load", "-c4", "-m10", "-n2000", "http://%s/small.txt" % a.ferry],
                         capture_output=True, timeout=60 * SLOW).stdout.decode()
    check_in("2000 succeeded, 0 failed, 0 errored", out, "h2load")
    check_in("status codes: 2000 2xx", out, "h2load")
    c = H2Client(a)
    ids = [c.request("/small.txt" if i % 2 else "/digits.txt") for i in range(50)]
    for i, sid in enumerate(ids):
        s = c.response(sid)
        check_eq((s.headers[":status"], s.data), ("200", SMALL if i % 2 else b"0123456789" * 10),
                 "stream %d" % sid)


@test("access log: one line per stream, protocol HTTP/2.0")
def _():
    p, (a,), d, log = server()
    c = H2Client(a)
    for path in ("/small.txt", "/nope", "/digits.txt"):
        c.request(path, headers=[("user-agent", "h2-test"), ("referer", "http://r/")])
    c.wait(lambda: all(s.ended for s in c.streams.values()), what="3 responses")
    text = wait_until(lambda: read_file(log).count(b"\n") >= 3 and read_file(log), 5 * SLOW,
                      what="3 access-log lines").decode()
    check_in('"GET /small.txt HTTP/2.0" 200 11 "http://r/" "h2-test"', text, "log")
    check_in('"GET /nope HTTP/2.0" 404 ', text, "log")
    check_in('"GET /digits.txt HTTP/2.0" 200 100 ', text, "log")


@test("a plain listener beside the h2c one still speaks HTTP/1.1")
def _():
    p, (a, b), d, log = server(fdnames=("h2", "h1"))
    r = http_get(b, "/small.txt")
    check_eq((r.version, r.status, r.body), ("HTTP/1.1", 200, SMALL), "HTTP/1.1")
    st, _, body = curl(a, "/small.txt")
    check_eq((st, body), (200, SMALL), "HTTP/2")


@test("an HTTP/1.1 request on an h2c socket: GOAWAY(PROTOCOL_ERROR), closed")
def _():
    p, (a,), d, log = server()
    c = HttpConn(a)
    c.send(request_bytes("/small.txt"))
    data = c.recv_all(5)
    check(data[:9] and data[3] == 0x4, "our SETTINGS first: %r" % data[:20])
    check_in(b"\x00\x00\x00\x01", data[-8:-4] + data[-4:], "GOAWAY(PROTOCOL_ERROR) last")
    check(len(data) < 200 and b"HTTP/1.1" not in data, "no HTTP/1.1 answer: %r" % data)


@test("h2c with proxy-protocol: the address of the PROXY header is the client's")
def _():
    d = tmpdir()
    log = os.path.join(d, "access.log")
    cfg = "listen h2 h2c proxy-protocol\naccess-log %s\n" % log
    p, (a,) = activate(lambda: [tcp4()], ["--config", write_config(d, cfg)], fdnames=["h2"],
                       dir=d)
    raw = RawH2(a, first=b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 80\r\n")
    raw.send(raw.headers(1, raw.block("/")))
    f = response_or_rst(raw, 1)
    check(isinstance(f, hf.HeadersFrame) and status_of(raw, f) == "200", "answer: %r" % f)
    text = wait_until(lambda: read_file(log), 5 * SLOW, what="the access log").decode()
    check(text.startswith("203.0.113.7 - - ["), "access log: %r" % text)


# ---- malformed requests: stream errors, the connection goes on ----------------------------

@test("malformed requests are stream errors (RST_STREAM PROTOCOL_ERROR) and the connection "
      "serves the next: connection-specific fields, upper-case names, TE other than trailers, "
      "content-length against DATA, Host against :authority, no :path")
def _():
    p, (a,), d, log = server()
    raw = RawH2(a)
    cases = [
        ("connection: keep-alive", [("connection", "keep-alive")], None),
        ("transfer-encoding", [("transfer-encoding", "chunked")], None),
        ("upgrade", [("upgrade", "websocket")], None),
        ("an upper-case name", [("X-Upper", "1")], None),
        ("te: gzip", [("te", "gzip")], None),
        ("host differs from :authority", [("host", "other.test")], None),
        ("a CR in a value", [("x-a", "a\rb")], None),
    ]
    cases.append(("userinfo in :authority", [], "user@" + raw.authority))
    sid = 1
    for what, extra, authority in cases:
        raw.send(raw.headers(sid, raw.block("/small.txt", extra=extra, authority=authority)))
        f = response_or_rst(raw, sid)
        check(isinstance(f, hf.RstStreamFrame) and f.error_code == PROTOCOL_ERROR,
              "%s: expected RST_STREAM(PROTOCOL_ERROR), got %r" % (what, f))
        sid += 2
    # te: trailers is fine.
    raw.send(raw.headers(sid, raw.block("/small.txt", extra=[("te", "trailers")])))
    f = response_or_rst(raw, sid)
    check(isinstance(f, hf.HeadersFrame) and status_of(raw, f) == "200", "te: trailers: %r" % f)
    sid += 2
    # content-length 10, 5 bytes of DATA.
    raw.send(raw.headers(sid, raw.block("/small.txt", method="POST",
                                        extra=[("content-length", "10")]), end_stream=False),
             hf.DataFrame(sid, b"12345", flags=["END_STREAM"]).serialize())
    f = response_or_rst(raw, sid)
    check(isinstance(f, hf.RstStreamFrame) and f.error_code == PROTOCOL_ERROR,
          "content-length mismatch: %r" % f)
    sid += 2
    # no :path
    raw.send(raw.headers(sid, raw.enc.encode([(":method", "GET"), (":scheme", "http"),
                                              (":authority", raw.authority)])))
    f = response_or_rst(raw, sid)
    check(isinstance(f, hf.RstStreamFrame) and f.error_code == PROTOCOL_ERROR, "no :path: %r" % f)
    sid += 2
    raw.send(raw.headers(sid, raw.block("/small.txt")))
    f = response_or_rst(raw, sid)
    check(isinstance(f, hf.HeadersFrame) and status_of(raw, f) == "200", "still serving: %r" % f)


def frame(type_, flags, sid, payload):
    """A raw frame, whatever it says."""
    return len(payload).to_bytes(3, "big") + bytes([type_, flags]) + sid.to_bytes(4, "big") + payload


def goaway_code(raw):
    f = raw.goaway()
    return f.error_code if f is not None else None


STREAM_CLOSED = 0x5
F_DATA, F_HEADERS, F_PRIORITY, F_RST, F_PING, F_WU = 0x0, 0x1, 0x2, 0x3, 0x6, 0x8
END_STREAM, END_HEADERS = 0x1, 0x4


@test("stream states (RFC 9113 5.1, 5.1.1): a stream ID below one used before -> "
      "GOAWAY(PROTOCOL_ERROR); DATA or HEADERS on a stream the client ended or reset -> "
      "GOAWAY(STREAM_CLOSED); WINDOW_UPDATE, RST_STREAM, PRIORITY there are fine; DATA and "
      "trailers on a stream ferry reset are ignored")
def _():
    p, (a,), d, log = server()

    def done(raw, sid):
        """The response to sid, whole."""
        check(raw.until(lambda f: f.stream_id == sid and "END_STREAM" in f.flags) is not None,
              "response on stream %d" % sid)

    def pong(raw):
        raw.send(frame(F_PING, 0, 0, b"12345678"))
        f = raw.until(lambda f: isinstance(f, (hf.PingFrame, hf.GoAwayFrame)))
        return isinstance(f, hf.PingFrame) and "ACK" in f.flags

    raw = RawH2(a)
    raw.send(frame(F_HEADERS, END_HEADERS | END_STREAM, 5, raw.block("/small.txt")),
             frame(F_HEADERS, END_HEADERS | END_STREAM, 3, raw.block("/small.txt")))
    check_eq(goaway_code(raw), PROTOCOL_ERROR, "HEADERS on 3 after 5: GOAWAY code")

    for what, then in [("DATA", lambda r: frame(F_DATA, END_STREAM, 1, b"x")),
                       ("HEADERS", lambda r: frame(F_HEADERS, END_HEADERS | END_STREAM, 1,
                                                   r.block("/small.txt")))]:
        raw = RawH2(a)
        raw.send(frame(F_HEADERS, END_HEADERS | END_STREAM, 1, raw.block("/small.txt")))
        done(raw, 1)
        raw.send(then(raw))
        check_eq(goaway_code(raw), STREAM_CLOSED, "%s on a closed stream: GOAWAY code" % what)

    for what, then in [("DATA", lambda r: frame(F_DATA, END_STREAM, 1, b"x")),
                       ("HEADERS", lambda r: frame(F_HEADERS, END_HEADERS | END_STREAM, 1,
                                                   r.enc.encode([("x-t", "1")])))]:
        raw = RawH2(a)
        raw.send(frame(F_HEADERS, END_HEADERS, 1, raw.block("/small.txt", method="POST")),
                 frame(F_RST, 0, 1, CANCEL.to_bytes(4, "big")))
        check(pong(raw), "after the client's RST_STREAM: PING answered")
        raw.send(then(raw))
        check_eq(goaway_code(raw), STREAM_CLOSED, "%s after the client's RST_STREAM" % what)

    raw = RawH2(a)
    raw.send(frame(F_HEADERS, END_HEADERS | END_STREAM, 1, raw.block("/small.txt")))
    done(raw, 1)
    raw.send(frame(F_WU, 0, 1, (1024).to_bytes(4, "big")), frame(F_RST, 0, 1, bytes(4)),
             frame(F_PRIORITY, 0, 1, bytes(4) + b"\x10"))
    check(pong(raw), "WINDOW_UPDATE, RST_STREAM, PRIORITY on a closed stream: still served")

    # A body a file route would only drop, announced with 100-continue: the response comes
    # first, then ferry's RST_STREAM(NO_ERROR); what the client still sends there is ignored.
    raw = RawH2(a)
    raw.send(frame(F_HEADERS, END_HEADERS, 1, raw.block("/small.txt", method="PUT", extra=[
        ("expect", "100-continue"), ("content-length", "4")])))
    f = raw.until(is_rst(1))
    check(f is not None and f.error_code == 0, "RST_STREAM(NO_ERROR) after the response: %r" % f)
    raw.send(frame(F_DATA, 0, 1, b"late"),
             frame(F_HEADERS, END_HEADERS | END_STREAM, 1, raw.enc.encode([("x-t", "1")])))
    check(pong(raw), "DATA and trailers on a stream ferry reset: ignored")
    raw.send(frame(F_HEADERS, END_HEADERS | END_STREAM, 3, raw.block("/small.txt")))
    done(raw, 3)


@test("request trailers end a body a file route drops (then 405); a client window of one "
      "byte gets one-byte DATA frames")
def _():
    p, (a,), d, log = server()
    raw = RawH2(a)
    raw.send(raw.headers(1, raw.block("/small.txt", method="POST"), end_stream=False),
             hf.DataFrame(1, b"body").serialize(),
             raw.headers(1, raw.enc.encode([("x-trailer", "1")]), end_stream=True))
    f = response_or_rst(raw, 1)
    check(isinstance(f, hf.HeadersFrame) and status_of(raw, f) == "405", "after trailers: %r" % f)
    raw = RawH2(a)
    raw.send(hf.SettingsFrame(0, settings={hf.SettingsFrame.INITIAL_WINDOW_SIZE: 1}).serialize(),
             raw.headers(1, raw.block("/small.txt")))
    f = raw.until(lambda f: isinstance(f, hf.DataFrame))
    check(f is not None and len(f.data) == 1 and f.data == SMALL[:1], "one byte: %r" % f)
    raw.send(hf.WindowUpdateFrame(1, window_increment=100).serialize())
    got = b"" + f.data
    while not got.endswith(b"\n"):
        f = raw.until(lambda f: isinstance(f, hf.DataFrame))
        got += f.data
    check_eq(got, SMALL, "the rest after WINDOW_UPDATE")


@test("header limits: a header list past max-header-size -> 431; cookies in several fields "
      "are one field to the handler")
def _():
    p, (a,), d, log = server(extra="max-request-line 2k\nmax-header-size 4k\n")
    c = H2Client(a)
    sid = c.request("/small.txt", headers=[("x-big", "a" * 6000)])
    s = c.response(sid)
    check_eq(s.headers[":status"], "431", "too large")
    check_eq(c.get("/small.txt")[0], 200, "the connection goes on")


# ---- attacks ------------------------------------------------------------------------------

@test("rapid reset (CVE-2023-44487): HEADERS + RST_STREAM x 1000 -> GOAWAY(ENHANCE_YOUR_CALM)")
def _():
    p, (a,), d, log = server()
    raw = RawH2(a)
    frames = []
    for i in range(1000):
        sid = 1 + 2 * i
        frames.append(raw.headers(sid, raw.block("/small.txt")))
        frames.append(hf.RstStreamFrame(sid, error_code=CANCEL).serialize())
    try:
        raw.send(*frames)
    except (BrokenPipeError, ConnectionResetError):
        pass
    g = raw.goaway(10)
    check(g is not None, "no GOAWAY")
    check_eq(g.error_code, ENHANCE_YOUR_CALM, "GOAWAY error code")
    check(raw.closed(5), "the connection is closed after the GOAWAY")
    check_in("too many stream resets", p.stderr(), "logged")
    check_eq(curl(a, "/small.txt")[0], 200, "others are served")


@test("CONTINUATION flood (CVE-2024-27316): a header block in 50 CONTINUATION frames -> "
      "GOAWAY and close, nothing buffered")
def _():
    p, (a,), d, log = server()
    raw = RawH2(a)
    blk = raw.block("/small.txt", extra=[("x-a", "v" * 5000)])
    first = hf.HeadersFrame(1, blk[:10])
    first.flags.add("END_STREAM")
    frames = [first.serialize()]
    piece = (len(blk) - 10) // 50 + 1
    for i in range(50):
        frames.append(hf.ContinuationFrame(1, blk[10 + i * piece:10 + (i + 1) * piece]).serialize())
    try:
        raw.send(*frames)
        for _ in range(1000):  # then empty ones, endlessly
            raw.send(hf.ContinuationFrame(1, b"").serialize())
    except (BrokenPipeError, ConnectionResetError):
        pass
    g = raw.goaway(10)
    check(g is not None and g.error_code == ENHANCE_YOUR_CALM, "GOAWAY: %r" % g)
    check(raw.closed(5), "closed")
    check_eq(curl(a, "/small.txt")[0], 200, "others are served")


@test("SETTINGS, PING and empty DATA floods -> GOAWAY(ENHANCE_YOUR_CALM)")
def _():
    p, (a,), d, log = server()
    for what, frame in (("SETTINGS", hf.SettingsFrame(0).serialize()),
                        ("PING", hf.PingFrame(0, opaque_data=b"12345678").serialize()),
                        ("empty DATA", hf.DataFrame(1, b"").serialize())):
        raw = RawH2(a)
        # (a request whose body is still to come, for the DATA frames)
        raw.send(raw.headers(1, raw.block("/small.txt", method="POST"), end_stream=False))
        try:
            raw.send(frame * 5000)
        except (BrokenPipeError, ConnectionResetError):
            pass
        g = raw.goaway(10)
        check(g is not None and g.error_code == ENHANCE_YOUR_CALM, "%s flood: %r" % (what, g))
        check(raw.closed(5), "%s flood: closed" % what)


@test("more streams than SETTINGS_MAX_CONCURRENT_STREAMS (h2-max-streams 10) -> "
      "RST_STREAM(REFUSED_STREAM) for the 11th, the first 10 are served")
def _():
    p, (a,), d, log = server(extra="h2-max-streams 10\n")
    raw = RawH2(a)
    # All in the first flight, before our SETTINGS' ACK could tell anything: bodies pending.
    raw.send(*[raw.headers(1 + 2 * i, raw.block("/small.txt", method="POST"), end_stream=False)
               for i in range(11)])
    f = raw.until(lambda f: isinstance(f, hf.RstStreamFrame))
    check(f is not None and (f.stream_id, f.error_code) == (21, REFUSED_STREAM),
          "refused: %r" % f)
    raw.send(*[hf.DataFrame(1 + 2 * i, b"", flags=["END_STREAM"]).serialize() for i in range(10)])
    seen = set()
    while len(seen) < 10:
        f = raw.until(lambda f: isinstance(f, (hf.HeadersFrame, hf.RstStreamFrame)))
        check(isinstance(f, hf.HeadersFrame) and status_of(raw, f) == "405", "answer: %r" % f)
        seen.add(f.stream_id)


@test("keepalive-timeout: an idle connection gets GOAWAY(NO_ERROR) and is closed")
def _():
    p, (a,), d, log = server(extra="keepalive-timeout 1s\n")
    c = H2Client(a)
    check_eq(c.get("/small.txt")[0], 200, "first")
    t0 = time.monotonic()
    c.wait(lambda: c.goaway is not None, 5, "GOAWAY")
    check_eq(c.goaway.error_code, 0, "NO_ERROR")
    c.wait(lambda: c.eof or not c.pump(), 5, "close")
    check(time.monotonic() - t0 < 4 * SLOW, "took %.1fs" % (time.monotonic() - t0))


@test("graceful stop (SIGTERM): GOAWAY, the stream in flight finishes, then ferry exits 0")
def _():
    p, (a,), d, log = server()
    big = read_file(os.path.join(d, "www", "big.bin"))
    raw = RawH2(a)  # (python3-h2 takes no DATA after a GOAWAY)
    raw.send(raw.headers(1, raw.block("/big.bin")))
    got = []
    # The windows (64 KiB) stay shut: the response waits in flight.
    while sum(map(len, got)) < 65535:
        f = raw.until(lambda f: isinstance(f, hf.DataFrame))
        check(f is not None, "DATA")
        got.append(bytes(f.data))
    p.send_signal(signal.SIGTERM)
    g = raw.goaway(10)
    check(g is not None and (g.error_code, g.last_stream_id) == (0, 1), "GOAWAY: %r" % g)
    raw.send(hf.WindowUpdateFrame(0, window_increment=BIG).serialize(),
             hf.WindowUpdateFrame(1, window_increment=BIG).serialize())
    while True:
        f = raw.until(lambda f: isinstance(f, (hf.DataFrame, hf.RstStreamFrame)), 30)
        check(isinstance(f, hf.DataFrame), "DATA until the end, got %r" % f)
        got.append(bytes(f.data))
        if "END_STREAM" in f.flags:
            break
    body = b"".join(got)
    check_eq((len(body), sha(body)), (BIG, sha(big)), "the whole file")
    check(raw.closed(10), "closed after the stream")
    check_eq(p.wait_exit(10), 0, "exit code")


# ---- the reverse proxy over HTTP/2 --------------------------------------------------------

def backend(b):
    b.start()
    on_cleanup(b.stop)
    return b


def vmrss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@test("proxy over h2: uploads with and without content-length reach the upstream whole "
      "(re-framed chunked), 100-continue as an interim response, cookies joined, an error "
      "page when the upstream is down, 20 concurrent streams, h2load")
def _():
    sink = backend(UploadSinkBackend())
    echo = backend(EchoBackend())
    dead = free_port()
    p, (a,), d, log = server(sandbox=False, site=(
        "site * {\n proxy %s\n path /echo/ {\n  proxy %s\n }\n"
        " path /dead/ {\n  proxy http://127.0.0.1:%d\n }\n}\n" % (sink.url, echo.url, dead)))
    body = os.urandom(3 << 20)
    c = H2Client(a)
    sid = c.request("/up", method="POST", headers=[("content-length", str(len(body)))],
                    end=False)
    left = body
    while left:
        left = c.send_body(sid, left)
        c.pump(0.01)
    s = c.response(sid, 30)
    j = json.loads(s.data)
    check_eq((s.headers[":status"], j["bytes"], j["sha256"], j["chunked"]),
             ("200", len(body), hashlib.sha256(body).hexdigest(), False), "with a length")
    sid = c.request("/up", method="POST", end=False)
    left = body
    while left:
        left = c.send_body(sid, left)
        c.pump(0.01)
    s = c.response(sid, 30)
    j = json.loads(s.data)
    check_eq((j["bytes"], j["sha256"], j["chunked"]),
             (len(body), hashlib.sha256(body).hexdigest(), True), "without a length")
    # Expect: 100-continue goes upstream; its 100 comes back as an interim HEADERS frame.
    sid = c.request("/up", method="POST", headers=[("content-length", "5"),
                                                   ("expect", "100-continue")], end=False)
    c.wait(lambda: c.streams[sid].interim, 10, "the interim 100")
    check_eq(c.streams[sid].interim[0][":status"], "100", "interim")
    c.send_body(sid, b"12345")
    s = c.response(sid)
    j = json.loads(s.data)
    check_eq((s.headers[":status"], j["bytes"], j["sent_continue"]), ("200", 5, True), "100-continue")
    st, hdrs, data = c.get("/echo/x?y=1", headers=[("cookie", "a=1"), ("cookie", "b=2")])
    j = json.loads(data)
    hd = dict((k.lower(), v) for k, v in j["headers"])
    check_eq((st, j["method"], j["target"], hd.get("cookie")),
             (200, "GET", "/echo/x?y=1", "a=1; b=2"), "echo")
    check_eq(hd.get("host"), a.ferry, "Host from :authority")
    st, hdrs, data = c.get("/dead/")
    check_eq(st, 502, "upstream down")
    ids = [c.request("/echo/%d" % i) for i in range(20)]
    for i, sid in enumerate(ids):
        s = c.response(sid)
        check_eq((s.headers[":status"], json.loads(s.data)["target"]), ("200", "/echo/%d" % i),
                 "stream %d" % sid)
    out = subprocess.run(["h2load", "-c2", "-m10", "-n400", "http://%s/echo/h2load" % a.ferry],
                         capture_output=True, timeout=60 * SLOW).stdout.decode()
    check_in("status codes: 400 2xx", out, "h2load through the proxy")


@test("after idle spells long enough for ferry to drop the pages of nghttp2's frame buffer "
      "(500 ms), the responses are whole (6 KiB header blocks across its pages, a PING, 4 MiB)")
def _():
    # Each response leaves the connection idle (no stream, nothing queued); idle for 500 ms
    # (H2_RELEASE_MS), ferry drops the pages of nghttp2's frame buffer, and the next HEADERS
    # is packed into them again. The pause is the condition itself: ferry's idle time.
    idle = 0.7
    big = [("x-big-%d" % i, os.urandom(500).hex()) for i in range(6)]
    echo = backend(EchoBackend(extra_headers=big))
    p, (a,), d, log = server(sandbox=False, site="site * {\n proxy %s\n}\n" % echo.url)
    p2, (a2,), d2, log2 = server()
    big_file = read_file(os.path.join(d2, "www", "big.bin"))
    c = H2Client(a)
    for i in range(3):
        st, hdrs, data = c.get("/echo/%d" % i)
        check_eq((st, json.loads(data)["target"]), (200, "/echo/%d" % i), "response %d" % i)
        for k, v in big:
            check_eq(hdrs.get(k), v, "%s of response %d" % (k, i))
        c.conn.ping(b"idle%04d" % i)
        c.flush()
        c.wait(lambda: b"idle%04d" % i in c.pings, 5, "the PING ACK %d" % i)
        time.sleep(idle)
    c2 = H2Client(a2)
    for i in range(2):
        st, hdrs, data = c2.get("/big.bin")
        check_eq((st, len(data), sha(data)), (200, BIG, sha(big_file)), "4 MiB, %d" % i)
        time.sleep(idle)
        st, hdrs, data = c2.get("/small.txt")
        check_eq((st, data), (200, SMALL), "small, %d" % i)
        time.sleep(idle)


@test("proxy over h2: a 64 MiB streamed download (sha256) with ferry's RSS bounded; a client "
      "that stops reading stops the upstream (backpressure)")
def _():
    size = 64 << 20
    big = backend(LargeBodyBackend(size=size))
    p, (a,), d, log = server(sandbox=False, site="site * {\n proxy %s\n}\n" % big.url)
    c = H2Client(a, auto_ack=False, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE:
                                               1 << 20})
    c.conn.increment_flow_control_window(16 << 20)
    c.flush()
    sid = c.request("/")
    c.wait(lambda: c.streams[sid].headers is not None, 10, "head")
    check_eq(c.streams[sid].headers.get("x-body-sha256"), large_body_sha256(size), "head")
    # Windows shut: the client holds 1 MiB; ferry and the sockets hold a bounded amount more.
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        c.pump(0.1)
    got = len(c.streams[sid].data)
    check(got <= (1 << 20), "DATA past the window: %d" % got)
    rss = vmrss_kib(p.pid)
    diag("stalled: %d bytes received, VmRSS %d KiB" % (got, rss))
    check(rss < 48 * 1024, "VmRSS %d KiB while stalled" % rss)
    c.auto_ack = True
    c.ack()
    h = hashlib.sha256()
    s = c.streams[sid]
    n = 0
    peak = 0
    while not s.ended and s.reset is None:
        if not c.pump(0.5):
            break
        if len(s.data) > (4 << 20):
            h.update(s.data)
            n += len(s.data)
            s.data = b""
            peak = max(peak, vmrss_kib(p.pid))
    h.update(s.data)
    n += len(s.data)
    check_eq((s.reset, n, h.hexdigest()), (None, size, large_body_sha256(size)), "download")
    diag("peak VmRSS %d KiB" % peak)
    check(peak < 48 * 1024, "VmRSS peaked at %d KiB" % peak)


class PausedSink(Backend):
    """Reads a request head, then waits for .go before reading the body (Content-Length),
    and answers its size and SHA-256."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.go = threading.Event()
        self.reading = threading.Event()

    def respond(self, stream, req):
        return True

    def serve(self, stream, info):
        req = self.read_request(stream, info, 1, body=False)
        self.reading.set()
        while not self.go.wait(0.05):
            if self._stopping.is_set():
                return
        h = hashlib.sha256()
        n, _, _ = stream.body_chunks(req.headers, h.update)
        self.send_response(stream.sock, 200, json.dumps({"bytes": n,
                                                         "sha256": h.hexdigest()}).encode(),
                           close=True)


@test("proxy over h2: an upload to an upstream that does not read stops the client "
      "(flow control), and arrives whole once it reads")
def _():
    up = backend(PausedSink())
    p, (a,), d, log = server(sandbox=False, site="site * {\n proxy %s\n}\n" % up.url)
    size = 32 << 20
    body = b"".join(large_body(size))
    c = H2Client(a)
    sid = c.request("/", method="POST", headers=[("content-length", str(size))], end=False)
    left = body
    end = time.monotonic() + 2 * SLOW
    while time.monotonic() < end:
        left = c.send_body(sid, left)
        c.pump(0.05)
    sent = size - len(left)
    diag("sent %d bytes before the upstream read anything" % sent)
    check(up.reading.is_set(), "the head went upstream")
    check(sent < 16 << 20, "the client could send %d bytes into a stalled upstream" % sent)
    up.go.set()
    while left:
        left = c.send_body(sid, left)
        c.pump(0.01)
    s = c.response(sid, 60)
    j = json.loads(s.data)
    check_eq((j["bytes"], j["sha256"]), (size, large_body_sha256(size)), "upload")


main()
