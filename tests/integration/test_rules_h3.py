#!/usr/bin/env python3
"""Issue 13's response rules, compression, proxy rules, basic-auth, rate-limit, the JSON
access log and the metrics over HTTP/3 (`listen quic quic`), with tests/tools/h3client.c
(any request field, responses byte-exact). The HTTP/1.1 and HTTP/2 cases, and ferry check's
errors, are in test_site_rules.py, test_encode.py, test_proxy_rules.py, test_basic_auth.py,
test_rate_limit.py, test_accesslog_json.py and test_metrics.py; here each feature is
exercised over HTTP/3 with what differs there: the scheme is https, the host is :authority,
the fields are lower-case, bodies end with the stream (never chunked)."""
import base64
import ctypes
import gzip
import hashlib
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403
from backends import Backend, EchoBackend  # noqa: E402
from h3client import H3Req, H3Server  # noqa: E402

try:
    import brotli  # noqa: E402
except ImportError:  # python3-brotli is Debian's; the python3 on PATH may be another one
    sys.path.append("/usr/lib/python3/dist-packages")
    import brotli  # noqa: E402

SITE_TLS = " tls %(crt)s %(key)s\n"


def site(body):
    """A `site *` block with the test certificate and root (body: its other lines)."""
    return "site * {\n" + SITE_TLS + " root %(root)s\n" + body + "}\n"


def backend(b):
    b.start()
    on_cleanup(b.stop)
    return b


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


def stop(s):
    s.stop()
    s.p.check_sanitizers()


# ---- header, redirect ------------------------------------------------------------------------

@test("header: set, replace, remove, {host} (the :authority) and {path}; a path block's own; "
      "the upstream's fields replaced or removed on a proxied block")
def _():
    up = backend(EchoBackend(extra_headers=[("X-Powered-By", "php/5"),
                                            ("Cache-Control", "public"), ("X-Kept", "yes")]))
    s = H3Server(site("""  header X-Frame-Options DENY
  header Cache-Control "public, max-age=60"
  header -Accept-Ranges
  header X-Where "{host} at {path}"
  header Content-Type text/x-forced
  path /api/ {
    header -X-Frame-Options
    header X-Block api
  }
  path /up/ {
    proxy http://127.0.0.1:%d
    header -X-Powered-By
    header Cache-Control no-store
    header X-Up "{path}"
  }
""" % up.port))
    write_file(os.path.join(s.root, "a.txt"), "a\n")
    r, r2, r3 = s.requests([H3Req("/a.txt?x=1", authority="example.test:8443"),
                            "/api/nothing", "/up/v1?q=2"])
    check_eq((r.status, r.body), (200, b"a\n"), "static")
    check_eq(r.all("x-frame-options"), ["DENY"], "added")
    check_eq(r.header("cache-control"), "public, max-age=60", "set")
    check_eq(r.all("accept-ranges"), [], "removed")
    check_eq(r.header("x-where"), "example.test:8443 at /a.txt", "{host} is :authority")
    check_eq(r.all("content-type"), ["text/x-forced"], "replaced")
    check_eq(r2.status, 404, "error status")
    check_eq((r2.all("x-frame-options"), r2.header("x-block"), r2.header("x-where")),
             ([], "api", "localhost at /api/nothing"), "the path block's rules on an error")
    check_eq(r3.status, 200, "proxied")
    check_eq((r3.all("x-powered-by"), r3.all("cache-control"), r3.header("x-kept"),
              r3.header("x-up")), ([], ["no-store"], "yes", "/up/v1"), "proxied fields")
    check_eq(json.loads(r3.body)["target"], "/up/v1?q=2", "the upstream's target")
    # no :authority: {host} is the Host field (RFC 9114 4.3.1); neither is a malformed request
    h, bad = s.requests([H3Req("/a.txt", authority="", headers=[("host", "h.example:99")]),
                         H3Req("/a.txt", authority="")], want_ok=False)
    check_eq((h.result, h.status, h.header("x-where")), ("ok", 200, "h.example:99 at /a.txt"),
             "{host} from the Host field")
    check_eq((bad.result, bad.status), ("reset 0x10e", None), "H3_MESSAGE_ERROR")
    stop(s)


@test("redirect: statuses and Location with {scheme} (https), {host}, {path}, {query}; a "
      "redirect to itself over https is a loop (508)")
def _():
    s = H3Server(site("""  header X-Site yes
  path /old/ { redirect 301 /new{path} }
  path /moved/ { redirect https://example.org{path}{query} }
  path /tmp/ { redirect 307 "{scheme}://{host}/landing{query}" }
  path /self/ { redirect https://{host}{path}{query} }
  path /plain/ { redirect http://{host}{path}{query} }
"""))
    rs = s.requests(["/old/x.html?q=1", "/moved/a%20b?x=1&y",
                     H3Req("/tmp/z?k=v", authority="h.example:8443"), "/self/x?y=1",
                     "/plain/x?y=1", H3Req("/old/h", method="HEAD")])
    got = [(r.status, r.header("location")) for r in rs]
    check_eq(got, [(301, "/new/old/x.html"), (308, "https://example.org/moved/a%20b?x=1&y"),
                   (307, "https://h.example:8443/landing?k=v"), (508, None),
                   (308, "http://localhost/plain/x?y=1"), (301, "/new/old/h")],
             "statuses and locations")
    check_eq(rs[0].header("x-site"), "yes", "header rules apply to a redirect")
    check_eq(rs[-1].body, b"", "HEAD: no body")
    stop(s)


# ---- try-files, error-page, index, browse ----------------------------------------------------

SECRET = b"TOP-SECRET-outside-the-root"


@test("try-files: pretty URLs, a single-page app fallback, =404, never outside the root")
def _():
    s = H3Server(site("""  try-files {path} {path}.html {path}/ /index.html
  path /strict/ { try-files {path} =404 }
"""))
    d = s.dir
    write_file(os.path.join(d, "secret.txt"), SECRET)
    write_file(os.path.join(d, "secret.txt.html"), SECRET)
    write_file(os.path.join(s.root, "index.html"), "<h1>spa</h1>\n")
    write_file(os.path.join(s.root, "about.html"), "about\n")
    write_file(os.path.join(s.root, "docs", "index.html"), "docs\n")
    os.symlink("../secret.txt", os.path.join(s.root, "link-out"))
    cases = [("/about", 200, b"about\n"), ("/docs", 200, b"docs\n"),
             ("/some/client/route?x=1", 200, b"<h1>spa</h1>\n"),
             ("/link-out", 200, b"<h1>spa</h1>\n"), ("/%2e%2e/secret.txt", 400, None),
             ("/a/%2e%2e/%2e%2e/secret", 400, None), ("/strict/missing", 404, None)]
    rs = s.requests([c[0] for c in cases])
    for (path, status, body), r in zip(cases, rs):
        check_eq(r.status, status, path)
        check_not_in(SECRET, r.body, path)
        if body is not None:
            check_eq(r.body, body, path)
    stop(s)


@test("error-page: the block's page with the original status, a static 404 and a proxied 502")
def _():
    dead = free_port()  # nothing listens there: the proxy answers 502 (503 once marked down)
    s = H3Server(site("""  error-page 404 /404.html
  path /api/ {
    proxy http://127.0.0.1:%d
    error-page 502 503 504 /50x.html
  }
""" % dead))
    write_file(os.path.join(s.root, "404.html"), "<p>custom 404</p>\n")
    write_file(os.path.join(s.root, "50x.html"), "<p>upstream trouble</p>\n")
    r, h, p = s.requests(["/nothing-here", H3Req("/nothing-here", method="HEAD"), "/api/x"])
    check_eq((r.status, r.body, r.header("content-type")),
             (404, b"<p>custom 404</p>\n", "text/html; charset=utf-8"), "static 404")
    check_eq((h.status, h.body, h.header("content-length")), (404, b"", "18"), "HEAD")
    check(p.status in (502, 503), "proxied: status %d" % p.status)
    check_eq(p.body, b"<p>upstream trouble</p>\n", "proxied 5xx page")
    stop(s)


NAMES = ["a&b<c>.txt", "q\"uote'.txt", "sp ace.txt", "caf\u00e9.txt"]


@test("index and browse: another index name, a listing in HTML and in JSON (Accept), names "
      "escaped; browse off by default")
def _():
    s = H3Server(site("""  path /files/ { browse }
  path /idx/ { index index.html default.htm }
"""))
    write_file(os.path.join(s.root, "idx", "default.htm"), "default\n")
    write_file(os.path.join(s.root, "plain", "x.txt"), "x\n")
    for n in NAMES:
        write_file(os.path.join(s.root, "files", n), "12345")
    os.makedirs(os.path.join(s.root, "files", "sub<dir>"))
    idx, plain, html, js, one = s.requests([
        "/idx/", "/plain/", "/files/", H3Req("/files/", headers=[("accept", "application/json")]),
        "/files/sp%20ace.txt"])
    check_eq((idx.status, idx.body), (200, b"default\n"), "index default.htm")
    check_eq(plain.status, 404, "no listing without browse")
    check_eq((html.status, html.header("content-type")), (200, "text/html; charset=utf-8"),
             "HTML listing")
    text = html.body.decode("utf-8")
    check_in("a&amp;b&lt;c&gt;.txt", text, "escaped name")
    check_in('href="./a%26b%3Cc%3E.txt"', text, "escaped link")
    check_in("sub&lt;dir&gt;/", text, "directory")
    check_not_in("<c>", text, "no raw name")
    check_eq((js.status, js.header("content-type")), (200, "application/json"), "JSON listing")
    got = {e["name"]: e for e in json.loads(js.body.decode("utf-8"))}
    check_eq(set(got), set(NAMES) | {"sub<dir>"}, "JSON names")
    check_eq((got["sub<dir>"]["type"], got["a&b<c>.txt"]["size"]), ("directory", 5), "JSON")
    check_eq((one.status, one.body), (200, b"12345"), "a listed file")
    stop(s)


# ---- precompressed, encode -------------------------------------------------------------------

CSS = b"body { color: #123456; }\n" * 200
HTML = b"<p>" + b"ferry compresses this text at serve time. " * 80 + b"</p>\n"
BIG = b"".join(b"%08d the large file, compressed as it streams\n" % i for i in range(70000))


@test("precompressed: the .gz/.zst sibling with Content-Encoding, Vary, its own validators "
      "(304 on its ETag), ranges on the encoded bytes")
def _():
    s = H3Server(site("  precompressed br zstd gzip\n"))
    gz, zst = gzip.compress(CSS), b"ZSTD-bytes:" + os.urandom(64)
    write_file(os.path.join(s.root, "style.css"), CSS)
    write_file(os.path.join(s.root, "style.css.gz"), gz)
    write_file(os.path.join(s.root, "style.css.zst"), zst)
    ae = ("accept-encoding", "gzip")
    ident, rg, rz, rr = s.requests([
        "/style.css", H3Req("/style.css", headers=[ae]),
        H3Req("/style.css", headers=[("accept-encoding", "zstd, gzip")]),
        H3Req("/style.css", headers=[ae, ("range", "bytes=0-9")])])
    check_eq((ident.status, ident.body, ident.header("content-encoding")), (200, CSS, None),
             "identity")
    check_eq(ident.header("vary"), "Accept-Encoding", "identity Vary")
    check_eq((rg.status, rg.header("content-encoding"), rg.body), (200, "gzip", gz), "gzip")
    check_eq((rg.header("vary"), rg.header("content-length"), rg.header("content-type")),
             ("Accept-Encoding", str(len(gz)), "text/css; charset=utf-8"), "gzip fields")
    check(rg.header("etag") not in (None, ident.header("etag")), "gzip: an ETag of its own")
    check_eq((rz.header("content-encoding"), rz.body), ("zstd", zst), "zstd first")
    check_eq((rr.status, rr.body, rr.header("content-encoding")), (206, gz[:10], "gzip"),
             "range on the encoded bytes")
    check_eq(rr.header("content-range"), "bytes 0-9/%d" % len(gz), "Content-Range")
    nm, other = s.requests([H3Req("/style.css", headers=[ae, ("if-none-match",
                                                              rg.header("etag"))]),
                            H3Req("/style.css", headers=[ae, ("if-none-match",
                                                              ident.header("etag"))])])
    check_eq((nm.status, nm.body, nm.header("vary")), (304, b"", "Accept-Encoding"),
             "304 on the encoded ETag")
    check_eq((other.status, other.body), (200, gz), "the identity ETag does not match gzip")
    # a huge Accept-Encoding (past the element bound, in one QPACK field) gets identity
    huge = s.get("/style.css", headers=[("accept-encoding", ", ".join(["gzip;q=0.5"] * 1200))])
    check_eq((huge.status, huge.header("content-encoding"), huge.body), (200, None, CSS),
             "a huge Accept-Encoding")
    stop(s)


@test("encode static: gzip and zstd (decompressed and compared), a 3 MiB file streamed "
      "through the encoder, never for a range or a precompressed file")
def _():
    s = H3Server(site("  encode zstd gzip\n  path /both/ { precompressed gzip }\n"))
    write_file(os.path.join(s.root, "page.html"), HTML)
    write_file(os.path.join(s.root, "big.txt"), BIG)
    write_file(os.path.join(s.root, "both", "x.css"), CSS)
    write_file(os.path.join(s.root, "both", "x.css.gz"), b"PRECOMPRESSED")
    ident, g, z, rng, big, pre = s.requests([
        "/page.html", H3Req("/page.html", headers=[("accept-encoding", "gzip")]),
        H3Req("/page.html", headers=[("accept-encoding", "gzip, zstd")]),
        H3Req("/page.html", headers=[("accept-encoding", "gzip"), ("range", "bytes=0-9")]),
        H3Req("/big.txt", headers=[("accept-encoding", "zstd")]),
        H3Req("/both/x.css", headers=[("accept-encoding", "gzip")])])
    check_eq((ident.header("content-encoding"), ident.body), (None, HTML), "identity")
    check_eq((g.status, g.header("content-encoding"), g.header("vary")),
             (200, "gzip", "Accept-Encoding"), "gzip")
    check_eq(gzip.decompress(g.body), HTML, "gzip body")
    check(len(g.body) < len(HTML) // 4, "gzip: %d bytes" % len(g.body))
    check(g.header("etag") not in (None, ident.header("etag")), "gzip: an ETag of its own")
    check_eq((z.header("content-encoding"), unzstd(z.body)), ("zstd", HTML), "zstd")
    check_eq((rng.status, rng.header("content-encoding"), rng.body), (206, None, HTML[:10]),
             "a range: identity")
    check_eq((big.status, big.header("content-encoding"), big.header("content-length")),
             (200, "zstd", None), "big: streamed")
    check_eq(hashlib.sha256(unzstd(big.body)).digest(), hashlib.sha256(BIG).digest(), "big")
    check_eq((pre.header("content-encoding"), pre.body), ("gzip", b"PRECOMPRESSED"),
             "precompressed wins")
    head, nm = s.requests([H3Req("/page.html", method="HEAD",
                                 headers=[("accept-encoding", "gzip")]),
                           H3Req("/page.html", headers=[("accept-encoding", "gzip"),
                                                        ("if-none-match", g.header("etag"))])])
    check_eq((head.status, head.header("content-encoding"), head.header("etag"), head.body),
             (200, "gzip", g.header("etag"), b""), "HEAD: the encoded head, no body")
    check_eq((nm.status, nm.header("vary"), nm.body), (304, "Accept-Encoding", b""),
             "304 on the encoded ETag")
    stop(s)


TEXT = b"".join(b"<li>line %d of the text ferry compresses on its way through</li>\n" % i
                for i in range(4000))
PART1 = b"<p>" + b"the first piece of a slow body. " * 200 + b"</p>\n"
PART2 = b"<p>" + b"and the rest, once the test saw the first. " * 200 + b"</p>\n"
GZIPPED = gzip.compress(TEXT)
# text that compresses to about 3/4: an encoded body larger than every window on the way
NOISY = base64.encodebytes(os.urandom(3 << 20))


class Upstream(Backend):
    """/text (Content-Length), /chunked, /gz (Content-Encoding: gzip), /range (206), /cut
    (closes halfway through its body); /slow
    sends PART1 chunked, waits for `release` (or gives up after a while), then PART2."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.release = threading.Event()

    def respond(self, stream, req):
        s = stream.sock
        path = req.target.split("?")[0]
        html = [("Content-Type", "text/html; charset=utf-8")]
        if path == "/text":
            self.send_response(s, 200, TEXT, html + [("ETag", '"v1"')])
        elif path == "/chunked":
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(TEXT), 10000):
                s.sendall(b"%x\r\n%s\r\n" % (len(TEXT[i:i + 10000]), TEXT[i:i + 10000]))
            s.sendall(b"0\r\n\r\n")
        elif path == "/gz":
            self.send_response(s, 200, GZIPPED, html + [("Content-Encoding", "gzip")])
        elif path == "/range":
            self.send_response(s, 206, TEXT[:1000], html + [
                ("Content-Range", "bytes 0-999/%d" % len(TEXT))])
        elif path == "/noisy":
            self.send_response(s, 200, NOISY, [("Content-Type", "text/plain")])
        elif path == "/cut":  # half the body it promises, then its close
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
                      b"\r\n%s" % (len(TEXT), TEXT[:len(TEXT) // 2]))
            return False
        elif path == "/slow":
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            s.sendall(b"%x\r\n%s\r\n" % (len(PART1), PART1))
            self.release.wait(15 * SLOW)
            s.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(PART2), PART2))
        else:
            self.send_response(s, 404, b"")
        return True


@test("encode proxied: gzip and zstd as the body streams (a slow upstream's first piece "
      "arrives before its end), already-encoded and 206 bodies and Range requests as they "
      "are; a body cut short resets the stream")
def _():
    up = backend(Upstream())
    s = H3Server("site * {\n" + SITE_TLS + " encode zstd gzip\n proxy http://127.0.0.1:%d\n}\n"
                 % up.port)
    ae = ("accept-encoding", "gzip, zstd")
    rs = s.requests([H3Req("/text", headers=[("accept-encoding", "gzip")]),
                     H3Req("/chunked", headers=[("accept-encoding", "zstd")]), "/text",
                     H3Req("/gz", headers=[ae]),
                     H3Req("/range", headers=[ae, ("range", "bytes=0-999")]),
                     H3Req("/text", headers=[ae, ("range", "bytes=0-999")])])
    for r, coding in zip(rs[:2], ("gzip", "zstd")):
        check_eq((r.status, r.header("content-encoding"), r.header("content-length")),
                 (200, coding, None), r.path)
        check_eq(r.all("vary"), ["Accept-Encoding"], r.path)
        check(len(r.body) < len(TEXT) // 3, "%s: %d bytes" % (r.path, len(r.body)))
        check_eq(decode(coding, r.body), TEXT, r.path)
    check_eq(rs[0].header("etag"), 'W/"v1"', "weak ETag")
    check_eq((rs[2].header("content-encoding"), rs[2].body, rs[2].all("vary")),
             (None, TEXT, ["Accept-Encoding"]), "identity")
    for r, status, body, ce in zip(rs[3:], (200, 206, 200), (GZIPPED, TEXT[:1000], TEXT),
                                   ("gzip", None, None)):
        check_eq((r.status, r.header("content-encoding"), r.body), (status, ce, body),
                 "%s passed as it is" % r.path)
        check_eq(r.header("content-length"), str(len(body)), r.path)
    # streaming: the client's tee file shows the first piece before the upstream sends the rest
    tee = os.path.join(s.dir, "slow")
    run = s.start([H3Req("/slow", headers=[("accept-encoding", "gzip")])], tee=tee)

    def first_piece():
        try:
            got = zlib.decompressobj(wbits=31).decompress(read_file(tee + ".0"))
        except zlib.error:
            return False
        return got == PART1
    early = wait_until(first_piece, 10 * SLOW, what="the first piece, compressed, before the "
                       "rest was sent")
    up.release.set()
    r, = run.wait()
    check(early is True, "streamed")
    check_eq((r.header("content-encoding"), zlib.decompress(r.body, wbits=31)),
             ("gzip", PART1 + PART2), "the whole slow body")
    # an upstream body cut short: the stream is reset, never ended as if the gzip were whole;
    # the connection goes on
    cut, after = s.requests([H3Req("/cut", headers=[("accept-encoding", "gzip")]), "/text"],
                            want_ok=False)
    # (the reset may come before the head left, which it then discards)
    check(cut.result.startswith("reset "), "cut: stream %s, status %s" % (cut.result, cut.status))
    check_eq(cut.header("content-encoding"), "gzip" if cut.status else None, "cut: head")
    check_eq((after.result, after.status, after.body), ("ok", 200, TEXT), "the next stream")
    stop(s)


@test("encode br over HTTP/3 (make BROTLI=1): a file whole and one past 2 MiB streamed, a "
      "proxied body, a slow upstream's first piece before its end")
def _():
    ferry = ferry_br()
    s = H3Server(site("  encode br gzip\n"), ferry=ferry)
    write_file(os.path.join(s.root, "page.html"), HTML)
    write_file(os.path.join(s.root, "big.txt"), BIG)
    ident, b, g, big, nm = s.requests([
        "/page.html", H3Req("/page.html", headers=[("accept-encoding", "br")]),
        H3Req("/page.html", headers=[("accept-encoding", "br;q=0.5, gzip")]),
        H3Req("/big.txt", headers=[("accept-encoding", "gzip, br")]),
        H3Req("/page.html", headers=[("accept-encoding", "br"), ("range", "bytes=0-9")])])
    check_eq((b.status, b.header("content-encoding"), b.header("vary")),
             (200, "br", "Accept-Encoding"), "br")
    check_eq(decode("br", b.body), HTML, "br body")
    check(len(b.body) < len(HTML) // 4, "br: %d bytes" % len(b.body))
    check(b.header("etag") not in (None, ident.header("etag"), g.header("etag")),
          "br: an ETag of its own")
    check_eq((g.header("content-encoding"), decode("gzip", g.body)), ("gzip", HTML),
             "the client's weights first")
    check_eq((big.status, big.header("content-encoding"), big.header("content-length")),
             (200, "br", None), "big: streamed")
    check_eq(hashlib.sha256(decode("br", big.body)).digest(), hashlib.sha256(BIG).digest(),
             "big")
    check_eq((nm.status, nm.header("content-encoding"), nm.body), (206, None, HTML[:10]),
             "a range: identity")
    stop(s)

    up = backend(Upstream())
    s = H3Server("site * {\n" + SITE_TLS + " encode br\n proxy http://127.0.0.1:%d\n}\n"
                 % up.port, ferry=ferry)
    r, = s.requests([H3Req("/chunked", headers=[("accept-encoding", "br")])])
    check_eq((r.status, r.header("content-encoding"), r.header("content-length")),
             (200, "br", None), "proxied")
    check_eq(decode("br", r.body), TEXT, "proxied body")
    tee = os.path.join(s.dir, "slow")
    run = s.start([H3Req("/slow", headers=[("accept-encoding", "br")])], tee=tee)

    def first_piece():
        try:
            got = brotli.Decompressor().process(read_file(tee + ".0"))
        except brotli.error:
            return False
        return got == PART1
    early = wait_until(first_piece, 10 * SLOW, what="the first piece, in br, before the rest "
                       "was sent")
    up.release.set()
    r, = run.wait()
    check(early is True, "streamed")
    check_eq((r.header("content-encoding"), decode("br", r.body)), ("br", PART1 + PART2),
             "the whole slow body")
    stop(s)


@test("encode and a slow HTTP/3 reader: a static file and a proxied body larger than the "
      "flow-control windows, the client not reading for a while, arrive whole")
def _():
    up = backend(Upstream())
    s = H3Server("site * {\n" + SITE_TLS + " root %(root)s\n encode gzip zstd\n"
                 " path /up/ {\n  proxy http://127.0.0.1:" + str(up.port) + "\n"
                 "  proxy-strip-prefix\n }\n}\n")
    write_file(os.path.join(s.root, "noisy.txt"), NOISY)
    want = hashlib.sha256(NOISY).digest()
    for path, coding in (("/noisy.txt", "gzip"), ("/up/noisy", "zstd")):
        r, = s.requests([H3Req(path, headers=[("accept-encoding", coding)])], pause_ms=700)
        check_eq((r.status, r.header("content-encoding")), (200, coding), path)
        check(len(r.body) > 2 << 20, "%s: %d encoded bytes, more than the windows"
              % (path, len(r.body)))
        check_eq(hashlib.sha256(decode(coding, r.body)).digest(), want, path)
    stop(s)


# ---- proxy rules, basic-auth, rate-limit -----------------------------------------------------

@test("proxy-strip-prefix, proxy-header-up (set, remove) and proxy-header-down (set, remove)")
def _():
    up = backend(EchoBackend(extra_headers=[("X-Powered-By", "PHP/5")]))
    s = H3Server("""site * {
%s path /api/ {
  proxy %s
  proxy-strip-prefix
  proxy-header-up X-Env prod
  proxy-header-up -Cookie
  proxy-header-down -X-Powered-By
  proxy-header-down X-Frame-Options DENY
 }
 path /keep/ { proxy %s }
}
""" % (SITE_TLS, up.url, up.url), top="sandbox off\naccess-log off\n")
    r, r2, k = s.requests([H3Req("/api/w?q=1", headers=[("cookie", "s=1")]), "/api/",
                           H3Req("/keep/x", headers=[("cookie", "s=1")])])
    check_eq(r.status, 200, "status")
    j = json.loads(r.body)
    got = {kk.lower(): v for kk, v in j["headers"]}
    check_eq(j["target"], "/w?q=1", "prefix stripped")
    check_eq((got.get("x-env"), "cookie" in got), ("prod", False), "fields upstream")
    check_eq((r.header("x-powered-by"), r.all("x-frame-options")), (None, ["DENY"]),
             "fields on the way back")
    check_eq(r2.status, 200, "the prefix alone")
    check_eq(json.loads(r2.body)["target"], "/", "the prefix alone -> /")
    jk = json.loads(k.body)
    check_eq((jk["target"], {kk.lower(): v for kk, v in jk["headers"]}.get("cookie")),
             ("/keep/x", "s=1"), "another block: as it is")
    check_eq(k.header("x-powered-by"), "PHP/5", "another block: the upstream's field kept")
    stop(s)


_lc = ctypes.CDLL("libcrypt.so.1")
_lc.crypt_gensalt.restype = ctypes.c_char_p
_lc.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
_lc.crypt.restype = ctypes.c_char_p
_lc.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]


def mkhash(password, prefix="$y$", cost=0):
    return _lc.crypt(password.encode(), _lc.crypt_gensalt(prefix.encode(), cost, None, 0)).decode()


def basic(user, password):
    return ("authorization", "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode())
            .decode())


@test("basic-auth: 401 with WWW-Authenticate, good (yescrypt, bcrypt) and bad credentials, "
      "a bad Authorization, a public path")
def _():
    s = H3Server(site("""  basic-auth "Staff only"
  basic-auth-user alice %s
  basic-auth-user bob %s
  path /public/ { basic-auth off }
""" % (mkhash("wonderland"), mkhash("builder", "$2b$", 5))),
                 top="access-log %(dir)s/access.log\n")
    write_file(os.path.join(s.root, "index.html"), "<p>in</p>\n")
    write_file(os.path.join(s.root, "public", "index.html"), "<p>public</p>\n")
    rs = s.requests([H3Req("/"), H3Req("/", headers=[basic("alice", "wonderland")]),
                     H3Req("/", headers=[basic("bob", "builder")]),
                     H3Req("/", headers=[basic("alice", "nope")]),
                     H3Req("/", headers=[basic("carol", "x")]),
                     H3Req("/", headers=[("authorization", "Basic !!!")]), "/public/"])
    check_eq([r.status for r in rs], [401, 200, 200, 401, 401, 400, 200], "statuses")
    for r in (rs[0], rs[3], rs[4]):
        check_eq(r.header("www-authenticate"), 'Basic realm="Staff only", charset="UTF-8"',
                 "the challenge")
    check_eq((rs[1].body, rs[6].body), (b"<p>in</p>\n", b"<p>public</p>\n"), "bodies")
    # a 3 MiB upload without credentials: 401 before the body, and the connection goes on
    up, nxt = s.requests([H3Req("/", method="POST", body=os.urandom(3 << 20)),
                          H3Req("/", headers=[basic("alice", "wonderland")])], want_ok=False)
    check_eq((up.status, up.header("www-authenticate") is not None), (401, True), "upload")
    check_eq((nxt.result, nxt.status), ("ok", 200), "the next stream on the connection")
    stop(s)
    check_not_in("$y$", read_file(os.path.join(s.dir, "access.log")).decode(), "no hash logged")


@test("rate-limit: each stream takes a token, 429 with Retry-After past the burst; before "
      "basic-auth")
def _():
    s = H3Server(site("  rate-limit 1/m burst 2\n"))
    write_file(os.path.join(s.root, "index.html"), "<p>x</p>\n")
    rs = s.requests(["/", "/index.html", "/x", "/"])
    check_eq([r.status for r in rs], [200, 200, 429, 429], "statuses")
    check(re.fullmatch(r"[1-9][0-9]*", rs[2].header("retry-after") or ""),
          "Retry-After: %r" % rs[2].header("retry-after"))
    # a new connection (another UDP port, the same address) shares the bucket
    check_eq(s.get("/", v6=False).status, 429, "the same client address, a new connection")
    # ::1 is another client
    check_eq(s.get("/", v6=True).status, 200, "another address")
    stop(s)
    s = H3Server(site("  rate-limit 1/m burst 1\n  basic-auth R\n  basic-auth-user u %s\n"
                      % mkhash("p")))
    check_eq([r.status for r in s.requests(["/", "/"])], [401, 429], "401 then 429")
    stop(s)


# ---- access log, metrics ---------------------------------------------------------------------

KEYS = ["time", "client", "host", "method", "path", "query", "protocol", "status", "bytes",
        "duration", "upstream", "upstream_time", "referer", "user_agent"]


@test("access-log format json: protocol HTTP/3.0, :authority as host, a line per stream, the "
      "upstream of a proxied one")
def _():
    up = backend(EchoBackend())
    s = H3Server(site(" path /up/ { proxy http://127.0.0.1:%d }\n" % up.port),
                 top="access-log %(dir)s/access.log format json\n")
    write_file(os.path.join(s.root, "index.html"), "0123456789\n")
    log = os.path.join(s.dir, "access.log")
    s.requests([H3Req("/index.html?a=b", authority="Example.test:8443",
                      headers=[("user-agent", '"q"'), ("referer", "https://r.example/")]),
                "/missing", H3Req("/up/x", method="POST", body=b"hello")], parallel=True)
    s.get("/index.html", v6=True)

    def got():
        lines = read_file(log).decode("utf-8").splitlines()
        return len(lines) >= 4 and lines
    lines = wait_until(got, 5 * SLOW, what="4 lines in the access log")
    check_eq(len(lines), 4, "lines")
    objs = [json.loads(ln) for ln in lines]
    for o in objs:
        check_eq(list(o), KEYS, "keys in order")
        check_eq(o["protocol"], "HTTP/3.0", "protocol")
        check(isinstance(o["duration"], float), "duration")
    o = next(x for x in objs if x["path"] == "/index.html" and x["client"] == "127.0.0.1")
    check_eq((o["host"], o["method"], o["query"], o["status"], o["bytes"], o["user_agent"],
              o["referer"]), ("Example.test:8443", "GET", "a=b", 200, 11, '"q"',
                              "https://r.example/"), "first stream")
    m = next(x for x in objs if x["path"] == "/missing")
    check_eq((m["status"], m["query"], m["upstream"]), (404, None, None), "second stream")
    u = next(x for x in objs if x["path"] == "/up/x")
    check_eq((u["method"], u["status"], u["upstream"]),
             ("POST", 200, "http://127.0.0.1:%d" % up.port), "proxied stream")
    check(isinstance(u["upstream_time"], float), "upstream_time")
    check(any(x["client"] == "::1" for x in objs), "the IPv6 client")
    stop(s)


SCRAPES = [0]  # each scrape is a TCP connection of its own


def scrape(addr):
    SCRAPES[0] += 1
    c = http.client.HTTPConnection(addr[0], addr[1], timeout=10 * SLOW)
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        check_eq(r.status, 200, "metrics status")
        body = r.read().decode()
    finally:
        c.close()
    vals = {}
    for ln in body.splitlines():
        if ln and not ln.startswith("#"):
            k, _, v = ln.rpartition(" ")
            vals[k] = float(v)
    return vals


@test("metrics: HTTP/3 streams counted by site and status class, their body bytes; a QUIC "
      "connection is one connection accepted, whatever its datagrams")
def _():
    s = H3Server(site(""), tcp=["metrics"], top="metrics metrics\naccess-log off\n")
    write_file(os.path.join(s.root, "index.html"), "0123456789\n")
    m = s.tcp["metrics"]
    key = 'ferry_site_responses_total{site="*",code="%s"}'
    v0 = scrape(m)
    n0 = SCRAPES[0]
    s.requests(["/index.html", "/missing", "/index.html"])
    v = wait_until(lambda: (lambda x: x.get(key % "4xx") == 1 and x)(scrape(m)), 5 * SLOW,
                   what="the h3 streams counted")
    check_eq((v.get(key % "2xx"), v.get(key % "4xx")), (2, 1), "by class")
    check(v['ferry_site_response_body_bytes_total{site="*"}'] >= 22, "body bytes")
    check(v['ferry_responses_total{code="2xx"}'] - v0['ferry_responses_total{code="2xx"}'] >= 2,
          "all responses")
    acc = "ferry_connections_accepted_total"
    check_eq(v[acc] - v0[acc], 1 + SCRAPES[0] - n0, "connections accepted: the QUIC one and "
             "each scrape's")
    stop(s)


main()
