#!/usr/bin/env python3
"""The HTTP/1.1 behaviour checks replayed over every transport: one ferry with a plain
listener, a TLS one (HTTP/1.1 or h2 by ALPN) and an h2c one serves a table of requests (static
files, HEAD, ranges, conditional requests, 301/404/405/412/416, the path-escape attempts of
test_paths.py, symlinks in and out, proxied GET/POST with bodies to a plain and an https://
upstream, error pages of a broken upstream, odd and oversized requests, proxied statuses and
their fields) with curl over h1, h1+TLS, h2 and h2c (ferrylib.fetch); each answer must have
the status the table says, and the same status, end-to-end fields and body as the plain
HTTP/1.1 one. The proxied requests also show the scheme the upstream was told
(X-Forwarded-Proto). And a mix of requests on one kept-alive connection per transport."""
import hashlib
import json
import os
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403
from backends import *  # noqa: E402,F401,F403
from pathcases import ESCAPES, SECRET, layout  # noqa: E402
from pki import Pki  # noqa: E402

SMALL = b"small file, not empty\n" * 3
BIG = (1 << 20) + 777
# The fields that must be the same whatever the transport (Date, Connection and the framing
# differ by nature; Content-Length is compared when both have it).
SAME_FIELDS = ("content-type", "etag", "last-modified", "content-range", "accept-ranges",
               "allow", "location", "retry-after", "cache-control", "x-backend")

def raw_response(req):
    """/raw/STATUS: that status from the upstream, with fields ferry must pass on (two
    Set-Cookie) or drop (hop-by-hop: Connection, what it names, Keep-Alive)."""
    status = int(req.target.split("/")[2])
    body = b"" if status in (204, 304) or req.method == "HEAD" else b"raw body %d\n" % status
    head = ("HTTP/1.1 %d X\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2; Path=/\r\n"
            "Connection: x-hop\r\nX-Hop: drop me\r\nKeep-Alive: timeout=5\r\n"
            "X-End: kept\r\nETag: \"e%d\"\r\n" % (status, status))
    if status not in (204,):
        head += "Content-Length: %d\r\n" % (len(body) if status != 304 else 42)
    return head.encode() + b"\r\n" + body


_pki = []
_env = {}


def env():
    """The server of the running test (one per test: everything a test starts is stopped
    when it ends): (proc, {transport: addr}, ca path, etag, last-modified)."""
    if _env:
        return _env["env"]
    if not _pki:
        p = Pki()
        key = p.key("a", "ec")
        _pki.append((p, key, p.leaf("a", key, ["DNS:a.test", "IP:127.0.0.1"])))
    p, key, crt = _pki[0]
    d, root = layout()
    write_file(os.path.join(root, "small.txt"), SMALL)
    write_file(os.path.join(root, "digits.txt"), b"0123456789" * 10)
    write_file(os.path.join(root, "big.bin"), os.urandom(BIG))
    write_file(os.path.join(root, "sub", "index.html"), b"<h1>sub</h1>\n")
    os.makedirs(os.path.join(root, "empty"), exist_ok=True)
    write_file(os.path.join(root, "zero.txt"), b"")
    for name in ("s.css", "s.js", "p.png", "UP.HTML", "noext", "x.unknownext", "sp ace.txt"):
        write_file(os.path.join(root, name), b"content of " + name.encode())
    up = EchoBackend(extra_headers=[("X-Backend", "plain")])
    up.start()
    on_cleanup(up.stop)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    sup = EchoBackend(extra_headers=[("X-Backend", "tls")], tls=ctx)
    sup.start()
    on_cleanup(sup.stop)
    bad = BrokenBackend(mode="garbage")
    bad.start()
    on_cleanup(bad.stop)
    big = LargeBodyBackend(size=5 << 20, tls=ctx)
    big.start()
    on_cleanup(big.stop)
    bigc = LargeBodyBackend(size=5 << 20, chunked=True)
    bigc.start()
    on_cleanup(bigc.stop)
    ch = ChunkedBackend(trailers=[("X-Trailer", "t")])
    ch.start()
    on_cleanup(ch.stop)
    raw = RawBackend(raw_response, close=False)
    raw.start()
    on_cleanup(raw.stop)
    cfg = ("listen http\nlisten https tls\nlisten h2c h2c\nsandbox off\naccess-log off\n"
           "site a.test {\n tls %s %s\n http-redirect off\n root %s\n"
           " path /api/ {\n  proxy %s\n }\n"
           " path /sec/ {\n  proxy %s\n  upstream-ca %s\n }\n"
           " path /bad/ {\n  proxy %s\n }\n"
           " path /big/ {\n  proxy %s\n  upstream-ca %s\n }\n"
           " path /bigc/ {\n  proxy %s\n }\n"
           " path /chunked/ {\n  proxy %s\n }\n"
           " path /raw/ {\n  proxy %s\n }\n}\n"
           % (crt, key, root, up.url, sup.url, p.ca, bad.url, big.url, p.ca, bigc.url, ch.url,
              raw.url))
    proc, addrs = activate(lambda: [tcp4(), tcp4(), tcp4()],
                           ["serve", "--config", write_config(d, cfg)],
                           fdnames=["http", "https", "h2c"], dir=d)
    by = {"h1": addrs[0], "h1-tls": addrs[1], "h2": addrs[1], "h2c": addrs[2]}
    ref = fetch("h1", by["h1"], "/small.txt")
    check_eq(ref.status, 200, "the reference fetch")
    on_cleanup(_env.clear)
    _env["env"] = (proc, by, p.ca, ref.header("etag"), ref.header("last-modified"))
    return _env["env"]


def go(transport, path, method="GET", headers=(), body=None):
    proc, by, ca, _, _ = env()
    return fetch(transport, by[transport], path, method=method, headers=headers, body=body,
                 cacert=ca)


def fields(r):
    return dict((k.lower(), v) for k, v in r.headers if k.lower() in SAME_FIELDS)


def echo_view(r, transport):
    """A proxied echo's body, without what the transport changes (Host's port, the peer)."""
    j = json.loads(r.body)
    h = dict((k.lower(), v) for k, v in j["headers"])
    proto = "https" if transport in TLS_TRANSPORTS else "http"
    check_eq(h.get("x-forwarded-proto"), proto, "%s: X-Forwarded-Proto upstream" % transport)
    return (j["method"], j["target"], j["body_len"], j["body_sha256"])


def same(name, want_status, path, method="GET", headers=(), body=None, echo=False,
         statuses=None):
    """The request over every transport: the status wanted (or one of statuses), and the
    same answer as HTTP/1.1 in clear."""
    ref = None
    for t in TRANSPORTS:
        r = go(t, path, method, headers, body)
        what = "%s %s %s" % (t, method, name)
        check_not_in(SECRET, r.raw_head.encode("latin-1") + r.body, what + ": the secret")
        ok = statuses or (want_status,)
        check(r.status in ok, "%s: status %d (%s), expected %r"
              % (what, r.status, r.curl_err.strip(), ok))
        if ref is None:
            ref = r
            continue
        check_eq(r.status, ref.status, what + ": status as over h1")
        check_eq(fields(r), fields(ref), what + ": fields as over h1")
        cl, rcl = r.header("content-length"), ref.header("content-length")
        if cl is not None and rcl is not None and not echo:  # (an echo says the scheme)
            check_eq(cl, rcl, what + ": Content-Length as over h1")
        if echo and method != "HEAD":
            check_eq(echo_view(r, t), echo_view(ref, "h1"), what + ": the upstream's view")
        elif echo:
            check_eq(r.body, b"", what + ": no body")
        else:
            check_eq(hashlib.sha256(r.body).hexdigest(), hashlib.sha256(ref.body).hexdigest(),
                     what + ": body as over h1 (%d vs %d bytes)" % (len(r.body), len(ref.body)))
    return ref


@test("static files: index, sub/ index, a small file, 1 MiB, HEAD, a file in a subdir")
def _():
    check_eq(same("index", 200, "/").body, b"<h1>index</h1>\n", "index")
    check_eq(same("sub index", 200, "/sub/").body, b"<h1>sub</h1>\n", "sub")
    check_eq(same("small", 200, "/small.txt").body, SMALL, "small")
    check_eq(len(same("big", 200, "/big.bin").body), BIG, "big")
    r = same("head", 200, "/small.txt", method="HEAD")
    check_eq((r.body, r.header("content-length")), (b"", str(len(SMALL))), "HEAD")
    same("head big", 200, "/big.bin", method="HEAD")
    same("subdir file", 200, "/a/b.txt")


@test("the empty file (Content-Length: 0), MIME types by extension, a percent-encoded name")
def _():
    r = same("zero", 200, "/zero.txt")
    check_eq((r.body, r.header("content-length")), (b"", "0"), "empty file")
    for name in ("s.css", "s.js", "p.png", "UP.HTML", "noext", "x.unknownext"):
        same("mime " + name, 200, "/" + name)
    check_eq(same("encoded", 200, "/sp%20ace.txt").body, b"content of sp ace.txt", "%20")
    same("encoded letter", 200, "/sm%61ll.txt")


@test("redirects and errors: /sub -> 301 /sub/ (query kept), 404s, 405 with Allow, "
      "OPTIONS 204, a directory without index 404")
def _():
    r = same("dir redirect", 301, "/sub?q=1")
    check_eq(r.header("location"), "/sub/?q=1", "Location")
    same("missing", 404, "/nope.txt")
    same("missing dir", 404, "/no/such/file")
    same("file as dir", 404, "/small.txt/")
    same("no index", 404, "/empty/")
    r = same("delete", 405, "/small.txt", method="DELETE")
    check(r.header("allow"), "Allow on 405")
    same("post", 405, "/small.txt", method="POST", body=b"x=1")
    same("options", 204, "/small.txt", method="OPTIONS")


@test("ranges: bytes=10-19, suffix, open end, unsatisfiable 416, multi-range -> 200 whole, "
      "HEAD ignores Range")
def _():
    check_eq(same("range", 206, "/digits.txt", headers=[("Range", "bytes=10-19")]).body,
             b"0123456789", "range")
    check_eq(same("suffix", 206, "/digits.txt", headers=[("Range", "bytes=-5")]).body,
             b"56789", "suffix")
    check_eq(same("open", 206, "/digits.txt", headers=[("Range", "bytes=95-")]).body,
             b"56789", "open end")
    r = same("416", 416, "/digits.txt", headers=[("Range", "bytes=500-")])
    check_eq(r.header("content-range"), "bytes */100", "Content-Range of a 416")
    same("multi", 200, "/digits.txt", headers=[("Range", "bytes=0-1,5-6")])
    same("big middle", 206, "/big.bin", headers=[("Range", "bytes=500000-600000")])
    same("head range", 200, "/digits.txt", method="HEAD", headers=[("Range", "bytes=0-1")])


@test("conditional requests: If-None-Match and If-Modified-Since -> 304, If-Match mismatch "
      "-> 412, If-Range current -> 206 and stale -> 200")
def _():
    _, _, _, etag, lm = env()
    same("inm", 304, "/small.txt", headers=[("If-None-Match", etag)])
    same("inm other", 200, "/small.txt", headers=[("If-None-Match", '"other"')])
    same("ims", 304, "/small.txt", headers=[("If-Modified-Since", lm)])
    same("if-match", 412, "/small.txt", headers=[("If-Match", '"other"')])
    same("if-match ok", 200, "/small.txt", headers=[("If-Match", etag)])
    same("ius past", 412, "/small.txt",
         headers=[("If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")])
    same("if-range", 206, "/small.txt", headers=[("Range", "bytes=0-4"), ("If-Range", etag)])
    same("if-range stale", 200, "/small.txt",
         headers=[("Range", "bytes=0-4"), ("If-Range", '"stale"')])


@test("path escapes (test_paths.py's list) and symlinks: never the secret, the same status "
      "on every transport; links inside the root still served")
def _():
    for path in ESCAPES:
        same("escape " + path, None, path, statuses=(400, 404))
    for path in ("/link-out", "/link-abs", "/dirlink-out/secret.txt", "/link-proc"):
        same("link " + path, 404, path)
    check_eq(same("link in", 200, "/link-in").body, b"<h1>index</h1>\n", "link in")
    same("link in sub", 200, "/link-in-sub")
    same("dot segments inside", 200, "/a/../a/b.txt")
    same("double slash", 200, "//etc/passwd")


@test("proxied: GET with a query, POST bodies (64 KiB and 3 MiB) to a plain and an https:// "
      "upstream; the upstream's view the same, its scheme the client's")
def _():
    for prefix, backend in (("/api/", "plain"), ("/sec/", "tls")):
        r = same("get " + prefix, 200, prefix + "x?y=1&z=%20", echo=True)
        check_eq(r.header("x-backend"), backend, "reached")
        for n in (64 << 10, 3 << 20):
            body = bytes(range(256)) * (n // 256)
            r = same("post %d %s" % (n, prefix), 200, prefix + "up", method="POST", body=body,
                     echo=True)
            j = json.loads(r.body)
            check_eq((j["body_len"], j["body_sha256"]),
                     (n, hashlib.sha256(body).hexdigest()), "body upstream")
        same("put " + prefix, 200, prefix + "put", method="PUT", body=b"", echo=True)
        r = same("head " + prefix, 200, prefix + "h", method="HEAD", echo=True)


@test("proxied downloads: 5 MiB from an https:// upstream (Content-Length) and from a plain "
      "one (chunked), a chunked response with a trailer; byte-exact everywhere")
def _():
    want = large_body_sha256(5 << 20)
    for path in ("/big/x", "/bigc/x"):
        r = same("download " + path, 200, path)
        check_eq(hashlib.sha256(r.body).hexdigest(), want, path + ": the body")
        same("head " + path, 200, path, method="HEAD")
    check_eq(same("chunked", 200, "/chunked/x").body, b"hello, chunked world\n", "chunked")


@test("odd and oversized requests: a query on a file, %00 -> 400, TRACE 405, a body on a GET, "
      "an unknown Host -> 421, a 9 KiB target -> 414, a 20 KiB field -> 431")
def _():
    same("query", 200, "/small.txt?x=1&y")
    same("nul", 400, "/a%00b")
    same("trace", 405, "/small.txt", method="TRACE")
    check_eq(same("get body", 200, "/small.txt", body=b"ignored" * 1000).body, SMALL,
             "GET with a body")
    same("unknown host", 421, "/", headers=[("Host", "other.test")])
    same("long target", 414, "/" + "x" * (9 << 10))
    same("big field", 431, "/", headers=[("X-Big", "y" * (20 << 10))])


@test("proxied statuses 200/201/204/304/404/500 with their fields: both Set-Cookie kept, "
      "hop-by-hop fields dropped, the same on every transport")
def _():
    for st in (200, 201, 204, 304, 404, 500):
        ref = None
        for t in TRANSPORTS:
            r = go(t, "/raw/%d" % st)
            what = "%s /raw/%d" % (t, st)
            check_eq(r.status, st, what + ": status (%s)" % r.curl_err.strip())
            check_eq(r.header_all("set-cookie"), ["a=1", "b=2; Path=/"], what + ": Set-Cookie")
            check_eq((r.header("x-hop"), r.header("keep-alive"), r.header("x-end")),
                     (None, None, "kept"), what + ": hop-by-hop fields")
            check_eq(r.header("etag"), '"e%d"' % st, what + ": ETag")
            if ref is None:
                ref = r
            check_eq(r.body, ref.body, what + ": body")
            if st == 304:
                check(r.header("content-length") in (None, "42"), what + ": Content-Length")
            if st == 204:
                check_eq(r.header("content-length"), None, what + ": no Content-Length")


@test("keep-alive: 8 requests (files, a 404, proxied to both upstreams) on one connection "
      "over every transport")
def _():
    proc, by, ca, _, _ = env()
    paths = ["/small.txt", "/nope", "/api/k", "/sec/k", "/big.bin", "/digits.txt", "/api/k2",
             "/sec/k2"]
    for t in TRANSPORTS:
        got = fetch_many(t, by[t], paths, cacert=ca)
        check_eq([g[0] for g in got], [200, 404, 200, 200, 200, 200, 200, 200],
                 t + ": statuses")
        check(abs(got[4][1] - BIG) <= (BIG // 50 if t == "h2c" else 0),
              "%s: the big file's size: %d" % (t, got[4][1]))
        check_eq(sum(g[2] for g in got), 1, t + ": connections made")


@test("error pages: an upstream that answers garbage -> 502 page, the same on every "
      "transport; 404 page body")
def _():
    r = same("bad upstream", 502, "/bad/x")
    check_in(b"502", r.body, "an error page")
    same("404 page", 404, "/nothing-here")


if __name__ == "__main__":
    main()
