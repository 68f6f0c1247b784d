#!/usr/bin/env python3
"""`encode` on proxied responses and large static files, over HTTP/1.1 and HTTP/2 (h2c):
gzip and zstd compressed as the body streams (the bytes compared after decompressing with
python's zlib and the zstd command), the coding chosen by the client's weights, then the order
on the `encode` line, a slow upstream body delivered compressed before the upstream finishes,
and what passes as it is: already-encoded bodies, 206 and requests with Range, no-transform,
binary types, small bodies, HEAD (the encoded head without a body). The same scenarios with br
run on the `make BROTLI=1` binary (FERRY_BR, decoded with Debian's python3-brotli); they fail
when it is missing."""
import gzip
import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403
from backends import Backend, HttpStream  # noqa: E402

try:
    import h2.config  # noqa: E402
except ImportError:  # python3-h2 is Debian's; the python3 on PATH may be another one
    sys.path.append("/usr/lib/python3/dist-packages")
import brotli  # noqa: E402  (python3-brotli, from the same dist-packages)
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402

# Text that compresses, but not to nothing: numbered lines.
TEXT = b"".join(b"<li>line %d of the text ferry compresses on its way through</li>\n" % i
                for i in range(4000))                         # ~260 KiB
BIG = b"".join(b"%08d the large file, compressed as it streams\n" % i
               for i in range(70000))                         # ~3.4 MiB: past the 2 MiB
PART1 = b"<p>" + b"the first piece of a slow body. " * 200 + b"</p>\n"
PART2 = b"<p>" + b"and the rest, once the test saw the first. " * 200 + b"</p>\n"
GZIPPED = gzip.compress(TEXT)
SMALL = b"<p>too small to bother</p>\n"


def unzstd(b):
    return subprocess.run(["zstd", "-d", "-c", "-q"], input=b, capture_output=True,
                          timeout=20 * SLOW, check=True).stdout


def decode(coding, body):
    if coding == "gzip":
        return zlib.decompress(body, wbits=31)
    if coding == "zstd":
        return unzstd(body)
    if coding == "br":
        return brotli.decompress(body)
    return body


class Upstream(Backend):
    """Answers by path: /text (Content-Length), /chunked, /close (delimited by its close),
    /gz (Content-Encoding: gzip), /range (206), /notransform, /png, /small; /slow sends
    PART1 chunked, waits for `release` (or gives up after a while), then PART2."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.release = threading.Event()

    def respond(self, stream, req):
        s = stream.sock
        path = req.target.split("?")[0]
        head_only = req.method == "HEAD"
        html = [("Content-Type", "text/html; charset=utf-8")]
        if path == "/text":
            self.send_response(s, 200, TEXT, html + [("ETag", '"v1"'),
                                                     ("Accept-Ranges", "bytes")],
                               head_only=head_only)
        elif path == "/chunked":
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            if not head_only:
                for i in range(0, len(TEXT), 10000):
                    piece = TEXT[i:i + 10000]
                    s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                s.sendall(b"0\r\n\r\n")
        elif path == "/close":
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
            if not head_only:
                s.sendall(TEXT)
            return False
        elif path == "/gz":
            self.send_response(s, 200, GZIPPED, html + [("Content-Encoding", "gzip")],
                               head_only=head_only)
        elif path == "/range":
            self.send_response(s, 206, TEXT[:1000], html + [
                ("Content-Range", "bytes 0-999/%d" % len(TEXT))], head_only=head_only)
        elif path == "/notransform":
            self.send_response(s, 200, TEXT, html + [("Cache-Control", "public, no-transform")],
                               head_only=head_only)
        elif path == "/png":
            self.send_response(s, 200, TEXT, [("Content-Type", "image/png")],
                               head_only=head_only)
        elif path == "/big":
            self.send_response(s, 200, BIG, [("Content-Type", "text/plain")],
                               head_only=head_only)
        elif path == "/small":
            self.send_response(s, 200, SMALL, html, head_only=head_only)
        elif path == "/slow":
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            s.sendall(b"%x\r\n%s\r\n" % (len(PART1), PART1))
            self.release.wait(15 * SLOW)
            s.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(PART2), PART2))
        else:
            self.send_response(s, 404, b"", head_only=head_only)
        return True


def serve(conf, d, ferry=None):
    """ferry with an HTTP/1.1 listener and an h2c one; returns (proc, h1 addr, h2 addr)."""
    cfg = "listen http\nlisten h2 h2c\naccess-log off\n" + conf
    p, (a1, a2) = activate(lambda: [tcp4(), tcp4()], ["--config", write_config(d, cfg)],
                           fdnames=["http", "h2"], dir=d, ferry=ferry)
    return p, a1, a2


class Resp:
    def __init__(self, proto, status, headers, body):
        self.proto, self.status, self.body = proto, status, body
        self.headers = headers  # list of (lower-case name, value)

    def header(self, name, default=None):
        v = self.all(name)
        return v[0] if v else default

    def all(self, name):
        return [v for k, v in self.headers if k == name.lower()]


class H1:
    """One HTTP/1.1 connection, kept alive between requests; bodies read as they come
    (sink(piece) for each)."""

    def __init__(self, a, rcvbuf=None):
        self.sock = socket.socket(a.family, socket.SOCK_STREAM)
        on_cleanup(self.sock.close)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(30 * SLOW)
        self.sock.connect(a.sockaddr)
        self.stream = HttpStream(self.sock)
        self.proto = "h1"

    def get(self, path, headers=(), method="GET", sink=None):
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: localhost"]
        lines += ["%s: %s" % h for h in headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        line, fields, _ = self.stream.read_head()
        hdrs = [(k.lower(), v) for k, v in fields]
        parts = []

        def collect(b):
            parts.append(b)
            if sink:
                sink(b)
        if method != "HEAD":
            self.stream.body_chunks(fields, collect)
        return Resp("h1", int(line.split()[1]), hdrs, b"".join(parts))


class H2:
    """One HTTP/2 (h2c, prior knowledge) connection driven by python3-h2."""

    def __init__(self, a):
        self.sock = socket.create_connection(a.sockaddr, timeout=30 * SLOW)
        on_cleanup(self.sock.close)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="latin-1")
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())
        self.authority = "localhost"
        self.proto = "h2"

    def get(self, path, headers=(), method="GET", sink=None):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [(":method", method), (":scheme", "http"),
                                     (":authority", self.authority), (":path", path)]
                               + [(k.lower(), v) for k, v in headers], end_stream=True)
        self.sock.sendall(self.conn.data_to_send())
        hdrs, parts, ended = None, [], False
        deadline = time.monotonic() + 30 * SLOW
        while not ended:
            if time.monotonic() > deadline:
                raise TestFailure("h2: no complete response to %s" % path)
            data = self.sock.recv(1 << 20)
            if not data:
                raise TestFailure("h2: connection closed during %s" % path)
            for ev in self.conn.receive_data(data):
                if getattr(ev, "stream_id", None) != sid:
                    continue
                if isinstance(ev, h2.events.ResponseReceived):
                    hdrs = [(k.lower(), v) for k, v in ev.headers]
                elif isinstance(ev, h2.events.DataReceived):
                    parts.append(ev.data)
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                    if sink:
                        sink(ev.data)
                elif isinstance(ev, h2.events.StreamEnded):
                    ended = True
                elif isinstance(ev, h2.events.StreamReset):
                    raise TestFailure("h2: stream reset during %s" % path)
            out = self.conn.data_to_send()
            if out:
                self.sock.sendall(out)
        status = int(dict(hdrs)[":status"])
        return Resp("h2", status, [h for h in hdrs if not h[0].startswith(":")], b"".join(parts))


def clients(a1, a2):
    return [H1(a1), H2(a2)]


def slow_reader(a, path, coding):
    """A client with a small receive buffer that pauses before reading: ferry must wait for
    it (the send returns nothing for a while) and go on when it reads."""
    c = H1(a, rcvbuf=8192)
    paused = []

    def sink(b):
        if not paused:
            paused.append(True)
            time.sleep(0.5)
    r = c.get(path, [("Accept-Encoding", coding)], sink=sink)
    check_eq(r.header("content-encoding"), coding, "slow reader " + path)
    check_eq(hashlib.sha256(decode(coding, r.body)).hexdigest(),
             hashlib.sha256(BIG).hexdigest(), "slow reader " + path)


def proxied(ferry, codings, choices, bigs, slows):
    """Proxied bodies with `encode CODINGS`: each Accept-Encoding of choices gets its coding;
    bigs: codings of a long body; slows: codings for a slow reader."""
    d = tmpdir()
    up = Upstream().start()
    on_cleanup(up.stop)
    p, a1, a2 = serve("""site * {
  encode %s
  proxy http://127.0.0.1:%d
}
""" % (codings, up.port), d, ferry)
    for c in clients(a1, a2):
        for path in ("/text", "/chunked", "/close"):
            for ae, coding in choices:
                what = "%s %s %s" % (c.proto, path, ae)
                r = c.get(path, [("Accept-Encoding", ae)])
                check_eq((r.status, r.header("content-encoding")), (200, coding), what)
                check_eq(r.header("content-length"), None, what)
                check_eq(r.all("vary"), ["Accept-Encoding"], what)
                check(len(r.body) < len(TEXT) // 3, "%s: %d bytes" % (what, len(r.body)))
                check_eq(decode(coding, r.body), TEXT, what)
        r = c.get("/text", [("Accept-Encoding", "gzip")])
        check_eq(r.header("etag"), 'W/"v1"', "%s weak ETag" % c.proto)
        check_eq(r.header("accept-ranges"), None, "%s no Accept-Ranges" % c.proto)
        # without Accept-Encoding: identity, but Vary all the same (caches must know)
        r = c.get("/text")
        check_eq((r.header("content-encoding"), r.body, r.header("etag")),
                 (None, TEXT, '"v1"'), "%s identity" % c.proto)
        check_eq(r.all("vary"), ["Accept-Encoding"], "%s identity Vary" % c.proto)
        # HEAD: the head a GET would get, no body
        r = c.get("/text", [("Accept-Encoding", "gzip")], method="HEAD")
        check_eq((r.status, r.header("content-encoding"), r.header("content-length"), r.body),
                 (200, "gzip", None, b""), "%s HEAD" % c.proto)
        # a long body, more than every buffer on the way holds
        for coding in bigs:
            r = c.get("/big", [("Accept-Encoding", coding)])
            check_eq(r.header("content-encoding"), coding, "%s big" % c.proto)
            check_eq(hashlib.sha256(decode(coding, r.body)).hexdigest(),
                     hashlib.sha256(BIG).hexdigest(), "%s big %s" % (c.proto, coding))
    for coding in slows:
        slow_reader(a1, "/big", coding)
    p.stop()
    p.check_sanitizers()


@test("encode: proxied bodies (length, chunked, close-delimited) in gzip and zstd, h1 and h2")
def t_proxied():
    # the highest weight wins; at equal weight, the order of the encode line
    proxied(None, "zstd gzip",
            (("gzip", "gzip"), ("zstd", "zstd"), ("gzip, zstd", "zstd"),
             ("zstd;q=0.5, gzip", "gzip"), ("br, gzip", "gzip"), ("*", "zstd"),
             ("zstd;q=0, *;q=0.5", "gzip")),
            ("zstd",), ("gzip",))


@test("encode br (make BROTLI=1): proxied bodies in br among zstd and gzip, h1 and h2")
def t_proxied_br():
    proxied(ferry_br(), "zstd br gzip",
            (("gzip", "gzip"), ("zstd", "zstd"), ("br", "br"),
             ("gzip, zstd", "zstd"), ("zstd;q=0.5, gzip", "gzip"),
             ("gzip, br", "br"), ("br, zstd, gzip", "zstd"),
             ("zstd;q=0.8, br;q=0.9, gzip", "gzip"),
             ("zstd;q=0.8, br;q=0.9", "br"), ("*", "zstd"),
             ("zstd;q=0, *;q=0.5", "br"), ("br;q=0.5, gzip;q=0.5", "br")),
            ("zstd", "br"), ("gzip", "br"))


@test("encode: already-encoded, 206, Range, no-transform, binary and small bodies pass as is")
def t_passed():
    d = tmpdir()
    up = Upstream().start()
    on_cleanup(up.stop)
    p, a1, a2 = serve("""site * {
  encode gzip zstd
  proxy http://127.0.0.1:%d
}
""" % up.port, d)
    ae = [("Accept-Encoding", "gzip, zstd")]
    for c in clients(a1, a2):
        for path, hdrs, status, body, ce in [
                ("/gz", ae, 200, GZIPPED, "gzip"),
                ("/range", ae + [("Range", "bytes=0-999")], 206, TEXT[:1000], None),
                ("/text", ae + [("Range", "bytes=0-999")], 200, TEXT, None),
                ("/notransform", ae, 200, TEXT, None),
                ("/png", ae, 200, TEXT, None),
                ("/small", ae, 200, SMALL, None)]:
            what = "%s %s %r" % (c.proto, path, hdrs)
            r = c.get(path, hdrs)
            check_eq((r.status, r.header("content-encoding")), (status, ce), what)
            check_eq(r.body, body, what)
            check_eq(r.header("content-length"), str(len(body)), what)
    p.stop()
    p.check_sanitizers()


def slow(ferry, codings):
    """A slow upstream body goes out compressed as it comes, in each coding of codings."""
    d = tmpdir()
    up = Upstream().start()
    on_cleanup(up.stop)
    p, a1, a2 = serve("""site * {
  encode %s
  proxy http://127.0.0.1:%d
}
""" % (" ".join(codings), up.port), d, ferry)
    for c in clients(a1, a2):
        for coding in codings:
            up.release.clear()
            z = zlib.decompressobj(wbits=31) if coding == "gzip" else brotli.Decompressor()
            step = z.decompress if coding == "gzip" else z.process
            seen = []
            early = []

            def sink(b):
                seen.append(step(b))
                if not up.release.is_set() and b"".join(seen) == PART1:
                    early.append(True)  # all of the first piece, before the rest was sent
                    up.release.set()
            what = "%s %s" % (c.proto, coding)
            r = c.get("/slow", [("Accept-Encoding", coding)], sink=sink)
            check_eq(r.header("content-encoding"), coding, what)
            check(early, "%s: the first piece came only with the end of the body" % what)
            check_eq(decode(coding, r.body), PART1 + PART2, what)
    p.stop()
    p.check_sanitizers()


@test("encode: a slow upstream body goes out compressed as it comes (gzip; h1, h2)")
def t_slow():
    slow(None, ("gzip",))


@test("encode br (make BROTLI=1): a slow upstream body goes out compressed as it comes")
def t_slow_br():
    slow(ferry_br(), ("gzip", "br"))


def static_big(ferry, codings, choices, slows):
    """A static file past 2 MiB streamed through the encoder (`encode CODINGS`)."""
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "big.txt"), BIG)
    p, a1, a2 = serve("""site * {
  root %s
  encode %s
}
""" % (root, codings), d, ferry)
    ident = H1(a1).get("/big.txt").header("etag")
    for c in clients(a1, a2):
        for ae, coding in choices:
            what = "%s %s" % (c.proto, coding)
            r = c.get("/big.txt", [("Accept-Encoding", ae)])
            check_eq((r.status, r.header("content-encoding")), (200, coding), what)
            check_eq(r.header("content-length"), None, what)
            check_eq(r.header("vary"), "Accept-Encoding", what)
            check(r.header("etag") not in (None, ident), "%s: ETag of its own" % what)
            check(len(r.body) < len(BIG) // 3, "%s: %d bytes" % (what, len(r.body)))
            check_eq(hashlib.sha256(decode(coding, r.body)).hexdigest(),
                     hashlib.sha256(BIG).hexdigest(), what)
        r = c.get("/big.txt", [("Accept-Encoding", "gzip"), ("Range", "bytes=0-99")])
        check_eq((r.status, r.header("content-encoding"), r.body), (206, None, BIG[:100]),
                 "%s range" % c.proto)
        r = c.get("/big.txt", [("Accept-Encoding", "zstd")], method="HEAD")
        check_eq((r.status, r.header("content-encoding"), r.header("content-length"), r.body),
                 (200, "zstd", None, b""), "%s HEAD" % c.proto)
        r = c.get("/big.txt")  # and on the same connection, identity
        check_eq((r.header("content-encoding"), len(r.body)), (None, len(BIG)), c.proto)
    for coding in slows:
        slow_reader(a1, "/big.txt", coding)
    p.stop()
    p.check_sanitizers()


@test("encode: a static file past 2 MiB is streamed through the encoder (gzip, zstd)")
def t_static_big():
    static_big(None, "zstd gzip", (("gzip", "gzip"), ("zstd", "zstd"), ("br, gzip", "gzip")),
               ("zstd",))


@test("encode br (make BROTLI=1): a static file past 2 MiB streamed through brotli")
def t_static_big_br():
    static_big(ferry_br(), "zstd gzip br",
               (("gzip", "gzip"), ("zstd", "zstd"), ("br", "br"), ("br, gzip", "gzip")),
               ("zstd", "br"))


@test("ferry --version --verbose lists brotli only in the make BROTLI=1 build")
def t_version():
    rc, out, err = run([FERRY, "--version", "--verbose"])
    check_eq(rc, 0, "default: exit")
    check_in("zstd", out, "default: library list")
    check("brotli" not in out.lower(), "default build lists brotli: %r" % out)
    rc, out, err = run([ferry_br(), "--version", "--verbose"])
    check_eq(rc, 0, "brotli build: exit")
    check(re.search(r"brotli \(encoder\) +1\.\d+\.\d+ +MIT \(brotli\.txt\)", out),
          "brotli build: brotli in %r" % out)


main()
