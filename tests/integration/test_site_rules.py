#!/usr/bin/env python3
"""Response rules of site and path blocks, over HTTP/1.1 and HTTP/2 (h2c): `header`
(placeholders, removal, inheritance, the fields ferry owns refused), `redirect` (loops at
load time and at run time), `try-files` (never outside the root), `error-page` (static and
proxied), `index` and `browse` (HTML and JSON, names escaped), `precompressed` (negotiation,
validators, ranges, a huge Accept-Encoding), and `ferry check`'s file:line:col for each
misuse."""
import gzip
import json
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403
from backends import EchoBackend  # noqa: E402

try:
    import brotli  # noqa: E402
except ImportError:  # python3-brotli is Debian's; the python3 on PATH may be another one
    sys.path.append("/usr/lib/python3/dist-packages")
    import brotli  # noqa: E402


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

    def __repr__(self):
        return "<%s %d %r %r>" % (self.proto, self.status, self.headers, self.body[:200])


def get1(a, path, headers=(), host="localhost", method="GET"):
    r = http_get(a, path, method=method, host=host, headers=list(headers))
    return Resp("h1", r.status, [(k.lower(), v) for k, v in r.headers], r.body)


def get2(a, path, headers=(), host="localhost", method="GET"):
    argv = ["curl", "-s", "--http2-prior-knowledge", "-D", "-", "-o", "-", "--max-time",
            str(int(20 * SLOW)), "--path-as-is", "-H", "Host: " + host]
    for k, v in headers:
        argv += ["-H", "%s: %s" % (k, v)]
    if method == "HEAD":
        argv += ["-I", "-o", "/dev/null"]
    argv.append("http://%s%s" % (a.ferry, path))
    out = subprocess.run(argv, capture_output=True, timeout=25 * SLOW).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    if method == "HEAD":  # curl -I ends its output with one more line end
        body = body[2:] if body.startswith(b"\r\n") else body
    lines = head.decode("latin-1").split("\r\n")
    check(lines[0].startswith("HTTP/2 "), "curl did not speak HTTP/2: %r" % lines[0])
    hdrs = []
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs.append((k.strip().lower(), v.strip()))
    return Resp("h2", int(lines[0].split()[1]), hdrs, body)


def both(a1, a2, path, headers=(), host="localhost", method="GET"):
    return [get1(a1, path, headers, host, method), get2(a2, path, headers, host, method)]


def ferry_check(d, text, ferry=None):
    """`ferry check` on text: (exit code, the error lines)."""
    rc, out, err = run([ferry or FERRY, "check", write_config(d, text, "c.conf")])
    return rc, err


def check_error(d, text, line, col, pattern, what, ferry=None):
    rc, err = ferry_check(d, text, ferry)
    check(rc != 0, "%s: ferry check accepted it" % what)
    want = r"c\.conf:%d:%d: .*%s" % (line, col, pattern)
    check(re.search(want, err), "%s: expected %r in %r" % (what, want, err))


# ---- header ---------------------------------------------------------------------------------

@test("header: set, replace, remove and placeholders, over HTTP/1.1 and HTTP/2")
def t_header():
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), "<h1>home</h1>\n")
    write_file(os.path.join(root, "a.txt"), "a\n")
    write_file(os.path.join(root, "api", "b.txt"), "b\n")
    p, a1, a2 = serve("""site * {
  root %s
  header X-Frame-Options DENY
  header Cache-Control "public, max-age=60"
  header -Accept-Ranges
  header X-Where "{host} at {path}"
  header Content-Type text/x-forced
  path /api/ {
    header -X-Frame-Options
    header X-Block api
  }
}
""" % root, d)
    for r in both(a1, a2, "/a.txt?x=1", host="example.test"):
        check_eq(r.status, 200, "%s status" % r.proto)
        check_eq(r.body, b"a\n", "%s body" % r.proto)
        check_eq(r.all("x-frame-options"), ["DENY"], "%s X-Frame-Options" % r.proto)
        check_eq(r.header("cache-control"), "public, max-age=60", "%s Cache-Control" % r.proto)
        check_eq(r.all("accept-ranges"), [], "%s Accept-Ranges removed" % r.proto)
        check_eq(r.header("x-where"), "example.test at /a.txt", "%s placeholders" % r.proto)
        check_eq(r.all("content-type"), ["text/x-forced"], "%s Content-Type replaced" % r.proto)
    # errors get them too; a path block inherits the site's and adds or removes its own
    for r in both(a1, a2, "/api/nothing"):
        check_eq(r.status, 404, "%s status" % r.proto)
        check_eq(r.all("x-frame-options"), [], "%s removed in the path block" % r.proto)
        check_eq(r.header("x-block"), "api", "%s the block's own" % r.proto)
        check_eq(r.header("cache-control"), "public, max-age=60", "%s inherited" % r.proto)
        check_eq(r.header("x-where"), "localhost at /api/nothing", "%s inherited" % r.proto)
    # HEAD and 304 carry them as well
    r = get1(a1, "/a.txt", method="HEAD")
    check_eq(r.header("x-frame-options"), "DENY", "HEAD")
    p.stop()
    p.check_sanitizers()


@test("header: on a proxied block, the upstream's fields are replaced or removed (h1, h2)")
def t_header_proxied():
    d = tmpdir()
    up = EchoBackend(extra_headers=[("X-Powered-By", "php/5"), ("Cache-Control", "public"),
                                    ("X-Kept", "yes")]).start()
    on_cleanup(up.stop)
    p, a1, a2 = serve("""site * {
  header -X-Powered-By
  header Cache-Control no-store
  path /api/ {
    proxy http://127.0.0.1:%d
    header X-Api "{path}"
  }
}
""" % up.port, d)
    for r in both(a1, a2, "/api/v1?q=2"):
        check_eq(r.status, 200, r.proto)
        check_eq(r.all("x-powered-by"), [], "%s removed" % r.proto)
        check_eq(r.all("cache-control"), ["no-store"], "%s replaced" % r.proto)
        check_eq(r.header("x-kept"), "yes", "%s others kept" % r.proto)
        check_eq(r.header("x-api"), "/api/v1", "%s the block's own" % r.proto)
        check_eq(json.loads(r.body)["target"], "/api/v1?q=2", r.proto)
    p.stop()
    p.check_sanitizers()


@test("header: ferry check refuses unknown placeholders and the fields ferry owns, with position")
def t_header_errors():
    d = tmpdir()
    base = "site * {\n  root /srv\n%s\n}\n"
    check_error(d, base % '  header X-A "x {hots} y"', 3, 17, r"unknown placeholder '\{hots\}'",
                "unknown placeholder")
    check_error(d, base % "  header X-A {query}", 3, 14, r"unknown placeholder '\{query\}'",
                "placeholder not allowed in header")
    check_error(d, base % "  header X-A \"a{host\"", 3, 16, r"unknown placeholder '\{host'",
                "unclosed placeholder")
    for name in ("Content-Length", "transfer-encoding", "Connection", "Date", "Server",
                 "Keep-Alive", "Upgrade", "TE", "Trailer", "Content-Range"):
        check_error(d, base % ("  header %s 1" % name), 3, 10, "cannot set", name)
        check_error(d, base % ("  header -%s" % name), 3, 10, "cannot remove", "-" + name)
    check_error(d, base % "  header Bad:Name x", 3, 10, "field name", "bad name")
    check_error(d, base % "  header X-A", 3, 10, "NAME VALUE or -NAME", "no value")
    check_error(d, base % "  header -X-A b", 3, 15, "NAME VALUE or -NAME", "value to remove")
    check_error(d, "header X-A b\n", 1, 1, "not allowed at top level", "top level")
    rc, err = ferry_check(d, base % "  header X-A \"{host}{path}\"\n  path /p/ { header -X-A }")
    check_eq((rc, err), (0, ""), "a good config")


# ---- redirect -------------------------------------------------------------------------------

@test("redirect: statuses, placeholders, default 308, a runtime loop answered 508, h1 and h2")
def t_redirect():
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), "<h1>home</h1>\n")
    p, a1, a2 = serve("""site * {
  root %s
  header X-Site yes
  path /old/ { redirect 301 /new{path} }
  path /moved/ { redirect https://example.org{path}{query} }
  path /tmp/ { redirect 307 "{scheme}://{host}/landing{query}" }
  path /found/ { redirect 302 /index.html }
  path /self/ { redirect http://{host}{path}{query} }
}
""" % root, d)
    for r in both(a1, a2, "/old/x.html?q=1"):
        check_eq((r.status, r.header("location")), (301, "/new/old/x.html"), r.proto)
        check_eq(r.header("x-site"), "yes", "%s header rules apply" % r.proto)
    for r in both(a1, a2, "/moved/a%20b?x=1&y"):
        check_eq((r.status, r.header("location")),
                 (308, "https://example.org/moved/a%20b?x=1&y"), r.proto)
    for r in both(a1, a2, "/tmp/z?k=v", host="h.example:8080"):
        check_eq((r.status, r.header("location")), (307, "http://h.example:8080/landing?k=v"),
                 r.proto)
    for r in both(a1, a2, "/found/", method="HEAD"):
        check_eq((r.status, r.header("location")), (302, "/index.html"), r.proto)
    # a loop only the request shows: answered, never sent back to itself
    for r in both(a1, a2, "/self/x?y=1"):
        check_eq(r.status, 508, "%s redirect to itself" % r.proto)
        check_eq(r.header("location"), None, r.proto)
    for r in both(a1, a2, "/index.html"):
        check_eq(r.status, 200, "%s outside the redirecting blocks" % r.proto)
    p.stop()
    p.check_sanitizers()


@test("redirect: ferry check finds loops and bad statuses or targets, with position")
def t_redirect_errors():
    d = tmpdir()
    base = "site * {\n  root /srv\n%s\n}\n"
    check_error(d, base % "  path /a/ { redirect /a/ }", 3, 23, "redirect loop", "own path")
    check_error(d, base % "  path /a/ { redirect /a/{query} }", 3, 23, "redirect loop",
                "own path and query")
    check_error(d, base % "  redirect {path}", 3, 12, "its own URL", "{path}")
    check_error(d, base % "  redirect 301 {scheme}://{host}{path}{query}", 3, 16, "its own URL",
                "its own URL")
    check_error(d, base % "  redirect /x\n  path /x/ { }", 3, 12, "redirect loop",
                "a site redirecting into itself")
    check_error(d, base % "  path /a/ { redirect /b/c }\n  path /b/ { redirect 302 /a/ }", 3, 23,
                "redirect loop", "a chain")
    check_error(d, base % "  redirect 303 /x", 3, 12, "301, 302, 307 or 308", "status")
    check_error(d, base % "  redirect /x{pth}", 3, 14, r"unknown placeholder '\{pth\}'",
                "placeholder")
    check_error(d, base % "  redirect //evil.example/", 3, 12, "path starting with", "target")
    check_error(d, base % "  redirect ftp://x/", 3, 12, "path starting with", "scheme")
    check_error(d, base % "  redirect /a\n  redirect /b", 4, 3, "redirect", "twice")
    rc, err = ferry_check(d, base % "  path /a/ { redirect /b/ }\n  path /c/ { redirect /a{path} }")
    check_eq((rc, err), (0, ""), "redirects that do not loop")


# ---- try-files ------------------------------------------------------------------------------

SECRET = b"TOP-SECRET-outside-the-root"


@test("try-files: pretty URLs, a single-page app fallback, =STATUS, never outside the root")
def t_try_files():
    d = tmpdir()
    write_file(os.path.join(d, "secret.txt"), SECRET)
    write_file(os.path.join(d, "secret.txt.html"), SECRET)
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), "<h1>spa</h1>\n")
    write_file(os.path.join(root, "about.html"), "about\n")
    write_file(os.path.join(root, "assets", "app.js"), "js\n")
    write_file(os.path.join(root, "docs", "index.html"), "docs\n")
    os.symlink("../secret.txt", os.path.join(root, "link-out"))
    os.symlink(os.path.join(d, "secret.txt"), os.path.join(root, "link-abs"))
    p, a1, a2 = serve("""site * {
  root %s
  try-files {path} {path}.html {path}/ /index.html
  path /strict/ { try-files {path} =410 }
  path /plain/ { try-files {path} /nope.txt }
}
""" % root, d)
    cases = [("/about", 200, b"about\n"), ("/assets/app.js", 200, b"js\n"),
             ("/docs", 200, b"docs\n"), ("/docs/", 200, b"docs\n"),
             ("/some/client/route?x=1", 200, b"<h1>spa</h1>\n"),
             ("/link-out", 200, b"<h1>spa</h1>\n"), ("/link-abs", 200, b"<h1>spa</h1>\n"),
             ("/%2e%2e/secret.txt", 400, None), ("/a/%2e%2e/%2e%2e/secret", 400, None),
             ("/strict/missing", 410, None), ("/plain/missing", 404, None)]
    for path, status, body in cases:
        for r in both(a1, a2, path):
            check_eq(r.status, status, "%s %s" % (r.proto, path))
            check_not_in(SECRET, r.body, "%s %s" % (r.proto, path))
            if body is not None:
                check_eq(r.body, body, "%s %s" % (r.proto, path))
    p.stop()
    p.check_sanitizers()


@test("try-files: ferry check refuses targets outside the root and bad statuses, with position")
def t_try_files_errors():
    d = tmpdir()
    base = "site * {\n  root /srv\n%s\n}\n"
    check_error(d, base % "  try-files {path} /../etc/passwd", 3, 20, "outside the root", "..")
    check_error(d, base % "  try-files {path}/../../x", 3, 13, "outside the root", "{path}/..")
    check_error(d, base % "  try-files {path}/%2e%2e/x", 3, 13, "outside the root", "%2e%2e")
    check_error(d, base % "  try-files {pth}.html", 3, 13, r"unknown placeholder '\{pth\}'",
                "placeholder")
    check_error(d, base % "  try-files {host}", 3, 13, r"unknown placeholder '\{host\}'",
                "{host}")
    check_error(d, base % "  try-files =404 /x", 3, 13, "=STATUS", "status first")
    check_error(d, base % "  try-files {path} =200", 3, 20, "=STATUS", "status 200")
    check_error(d, base % "  try-files index.html", 3, 13, "starting with", "relative")
    rc, err = ferry_check(d, base % "  try-files {path} {path}.html {path}/ /index.html =404")
    check_eq((rc, err), (0, ""), "a good try-files")


# ---- error-page -----------------------------------------------------------------------------

@test("error-page: the block's page with the original status, static and proxied (502)")
def t_error_page():
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), "home\n")
    write_file(os.path.join(root, "404.html"), "<p>custom 404</p>\n")
    write_file(os.path.join(root, "50x.html"), "<p>upstream trouble</p>\n")
    dead = free_port()  # nothing listens there: the proxy answers 502
    p, a1, a2 = serve("""site * {
  root %s
  error-page 404 /404.html
  path /api/ {
    proxy http://127.0.0.1:%d
    error-page 502 503 504 /50x.html
  }
  path /other/ { error-page 404 /missing-page.html }
}
""" % (root, dead), d)
    for r in both(a1, a2, "/nothing-here"):
        check_eq((r.status, r.body), (404, b"<p>custom 404</p>\n"), r.proto)
        check_eq(r.header("content-type"), "text/html; charset=utf-8", r.proto)
    for r in both(a1, a2, "/nothing-here", method="HEAD"):
        check_eq((r.status, r.body), (404, b""), "%s HEAD" % r.proto)
    for r in both(a1, a2, "/api/x"):  # 502, or 503 once the upstream is marked down
        check(r.status in (502, 503), "%s: status %d" % (r.proto, r.status))
        check_eq(r.body, b"<p>upstream trouble</p>\n", r.proto)
        check_eq(r.header("retry-after"), "2" if r.status == 503 else None, r.proto)
    for r in both(a1, a2, "/other/x"):  # its page is missing: the built-in one
        check_eq(r.status, 404, r.proto)
        check_in(b"404 Not Found", r.body, r.proto)
    for r in both(a1, a2, "/index.html"):
        check_eq((r.status, r.body), (200, b"home\n"), r.proto)
    p.stop()
    p.check_sanitizers()


@test("error-page: ferry check refuses bad statuses and paths, with position")
def t_error_page_errors():
    d = tmpdir()
    base = "site * {\n  root /srv\n%s\n}\n"
    check_error(d, base % "  error-page 302 /x.html", 3, 14, "400 to 599", "302")
    check_error(d, base % "  error-page 404 x.html", 3, 18, "starting with '/'", "relative")
    check_error(d, base % "  error-page 404 /../x.html", 3, 18, "below the root", "..")
    check_error(d, base % "  error-page 404 /a.html\n  error-page 404 /b.html", 4, 14,
                "second 'error-page' for 404", "twice")


# ---- index and browse -----------------------------------------------------------------------

NAMES = ["a&b<c>.txt", "q\"uote'.txt", "back\\slash.txt", "sp ace.txt", "caf\u00e9.txt"]


@test("index and browse: other index names, listings in HTML and JSON with names escaped")
def t_browse():
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), "home\n")
    write_file(os.path.join(root, "plain", "x.txt"), "x\n")
    write_file(os.path.join(root, "idx", "default.htm"), "default\n")
    files = os.path.join(root, "files")
    for n in NAMES:
        write_file(os.path.join(files, n), "12345")
    write_file(os.path.join(files, ".hidden"), "h")
    os.makedirs(os.path.join(files, "sub<dir>"))
    with open(os.path.join(files.encode(), b"bad\xff.txt"), "wb") as f:
        f.write(b"b")
    p, a1, a2 = serve("""site * {
  root %s
  path /files/ { browse }
  path /idx/ { index index.html default.htm }
}
""" % root, d)
    for r in both(a1, a2, "/idx/"):
        check_eq((r.status, r.body), (200, b"default\n"), r.proto)
    for r in both(a1, a2, "/plain/"):  # browse is off by default
        check_eq(r.status, 404, r.proto)
    for r in both(a1, a2, "/files/"):
        check_eq(r.status, 200, r.proto)
        check_eq(r.header("content-type"), "text/html; charset=utf-8", r.proto)
        html = r.body.decode("utf-8")
        check_in("a&amp;b&lt;c&gt;.txt", html, r.proto)
        check_in('href="./a%26b%3Cc%3E.txt"', html, r.proto)
        check_in("q&quot;uote&#39;.txt", html, r.proto)
        check_in("sub&lt;dir&gt;/", html, r.proto)
        check_in("bad&#xFFFD;.txt", html, r.proto)
        check_not_in("<c>", html, r.proto)
        check_not_in(".hidden", html, r.proto)
    for r in both(a1, a2, "/files/", headers=[("Accept", "application/json")]):
        check_eq((r.status, r.header("content-type")), (200, "application/json"), r.proto)
        got = {e["name"]: e for e in json.loads(r.body.decode("utf-8"))}
        want = set(NAMES) | {"sub<dir>", "bad\ufffd.txt"}
        check_eq(set(got), want, "%s JSON names" % r.proto)
        check_eq(got["sub<dir>"]["type"], "directory", r.proto)
        check_eq((got["a&b<c>.txt"]["type"], got["a&b<c>.txt"]["size"]), ("file", 5), r.proto)
    for r in both(a1, a2, "/files/sp%20ace.txt"):
        check_eq((r.status, r.body), (200, b"12345"), r.proto)
    p.stop()
    p.check_sanitizers()


@test("index: two sites sharing a root, with different index names, each get their own")
def t_index_shared_root():
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), "html\n")
    write_file(os.path.join(root, "index.htm"), "htm\n")
    p, a1, a2 = serve("""site a.test { root %s; index index.htm }
site b.test { root %s }
""" % (root, root), d)
    for _ in range(2):  # the second round would come from the file cache
        for host, body in (("a.test", b"htm\n"), ("b.test", b"html\n")):
            for r in both(a1, a2, "/", host=host):
                check_eq((r.status, r.body), (200, body), "%s %s" % (r.proto, host))
    p.stop()
    p.check_sanitizers()


@test("index and browse: ferry check refuses bad names and values, with position")
def t_browse_errors():
    d = tmpdir()
    base = "site * {\n  root /srv\n%s\n}\n"
    check_error(d, base % "  index a/b.html", 3, 9, "file names", "slash")
    check_error(d, base % "  index ..", 3, 9, "file names", "dot-dot")
    check_error(d, base % "  browse yes", 3, 10, "on or off", "browse value")
    rc, err = ferry_check(d, base % "  index index.htm index.html\n  browse\n"
                          "  path /x/ { browse off }")
    check_eq((rc, err), (0, ""), "good index and browse")


# ---- precompressed --------------------------------------------------------------------------

CSS = b"body { color: #123456; }\n" * 200


@test("precompressed: negotiation by weight then order, Vary, own validators, encoded ranges")
def t_precompressed():
    d = tmpdir()
    root = os.path.join(d, "www")
    gz = gzip.compress(CSS)
    br, zst = b"BR-not-really-brotli:" + os.urandom(64), b"ZSTD-bytes:" + os.urandom(64)
    write_file(os.path.join(root, "style.css"), CSS)
    write_file(os.path.join(root, "style.css.gz"), gz)
    write_file(os.path.join(root, "style.css.br"), br)
    write_file(os.path.join(root, "style.css.zst"), zst)
    write_file(os.path.join(root, "app.js"), "js\n")
    write_file(os.path.join(root, "app.js.gz"), gzip.compress(b"js\n"))
    write_file(os.path.join(root, "plain.txt"), "plain\n")
    p, a1, a2 = serve("""site * {
  root %s
  precompressed br zstd gzip
  path /raw/ { root %s }
}
""" % (root, root), d)
    ident = {}
    for r in both(a1, a2, "/style.css"):
        check_eq((r.status, r.body, r.header("content-encoding")), (200, CSS, None), r.proto)
        check_eq(r.header("vary"), "Accept-Encoding", r.proto)
        ident[r.proto] = r.header("etag")
    cases = [("gzip", gz, "gzip"), ("br;q=0.5, gzip", gz, "gzip"), ("br, gzip", br, "br"),
             ("gzip, zstd, br", br, "br"), ("zstd", zst, "zstd"), ("*", br, "br"),
             ("br;q=0, *;q=0.1", zst, "zstd"), ("x-gzip", gz, "gzip"),
             ("gzip;q=0", CSS, None), ("deflate", CSS, None), ("gzip;q=2", CSS, None),
             ("gzip;level=9", CSS, None), ("identity", CSS, None)]
    for ae, body, coding in cases:
        for r in both(a1, a2, "/style.css", headers=[("Accept-Encoding", ae)]):
            what = "%s Accept-Encoding: %s" % (r.proto, ae)
            check_eq((r.status, r.header("content-encoding")), (200, coding), what)
            check_eq(r.body, body, what)
            check_eq(r.header("content-type"), "text/css; charset=utf-8", what)
            check_eq(r.header("vary"), "Accept-Encoding", what)
            check_eq(r.header("content-length"), str(len(body)), what)
            if coding:
                check(r.header("etag") != ident[r.proto], "%s: ETag of its own" % what)
    # a huge Accept-Encoding (past the element bound) gets identity, quickly and safely
    huge = ", ".join(["gzip;q=0.5"] * 1200)
    for r in both(a1, a2, "/style.css", headers=[("Accept-Encoding", huge)]):
        check_eq((r.status, r.header("content-encoding"), r.body), (200, None, CSS), r.proto)
    # ranges are on the encoded bytes; validators are the encoded file's
    for r in both(a1, a2, "/style.css", headers=[("Accept-Encoding", "gzip"),
                                                  ("Range", "bytes=0-9")]):
        check_eq((r.status, r.body), (206, gz[:10]), r.proto)
        check_eq(r.header("content-range"), "bytes 0-9/%d" % len(gz), r.proto)
        check_eq(r.header("content-encoding"), "gzip", r.proto)
    etag = get1(a1, "/style.css", [("Accept-Encoding", "gzip")]).header("etag")
    for r in both(a1, a2, "/style.css", headers=[("Accept-Encoding", "gzip"),
                                                  ("If-None-Match", etag)]):
        check_eq((r.status, r.header("vary")), (304, "Accept-Encoding"), r.proto)
    for r in both(a1, a2, "/style.css", headers=[("Accept-Encoding", "gzip"),
                                                  ("If-None-Match", ident["h1"])]):
        check_eq((r.status, r.body), (200, gz), "%s identity ETag, gzip asked" % r.proto)
    for r in both(a1, a2, "/plain.txt", headers=[("Accept-Encoding", "br, gzip")]):
        check_eq((r.status, r.body, r.header("content-encoding")), (200, b"plain\n", None),
                 "%s no encoded sibling" % r.proto)
    for r in both(a1, a2, "/app.js", headers=[("Accept-Encoding", "br, zstd, gzip")]):
        check_eq((r.status, r.header("content-encoding")), (200, "gzip"), r.proto)
    for r in both(a1, a2, "/raw/../style.css.gz", headers=[("Accept-Encoding", "gzip")]):
        check_eq(r.status, 200, r.proto)  # the .gz itself, asked for by name
    p.stop()
    p.check_sanitizers()


@test("precompressed: ferry check refuses unknown or repeated codings, with position")
def t_precompressed_errors():
    d = tmpdir()
    base = "site * {\n  root /srv\n%s\n}\n"
    check_error(d, base % "  precompressed br deflate", 3, 20, "br, zstd and gzip", "deflate")
    check_error(d, base % "  precompressed gzip GZIP", 3, 22, "br, zstd and gzip", "upper case")
    check_error(d, base % "  precompressed gzip br gzip", 3, 25, "twice", "repeated")


# ---- encode ---------------------------------------------------------------------------------

HTML = b"<p>" + b"ferry compresses this text at serve time. " * 80 + b"</p>\n"


def unzstd(b):
    return subprocess.run(["zstd", "-d", "-c", "-q"], input=b, capture_output=True,
                          timeout=10 * SLOW, check=True).stdout


@test("encode: gzip and zstd at serve time for text types, never for ranges, small or binary")
def t_encode():
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "page.html"), HTML)
    write_file(os.path.join(root, "sub", "index.html"), HTML)
    write_file(os.path.join(root, "tiny.txt"), "tiny\n")
    write_file(os.path.join(root, "img.png"), os.urandom(4000))
    write_file(os.path.join(root, "both", "x.css"), CSS)
    write_file(os.path.join(root, "both", "x.css.gz"), b"PRECOMPRESSED")
    p, a1, a2 = serve("""site * {
  root %s
  encode zstd gzip
  path /both/ { precompressed gzip }
}
""" % root, d)
    ident = get1(a1, "/page.html").header("etag")
    for r in both(a1, a2, "/page.html", headers=[("Accept-Encoding", "gzip")]):
        check_eq((r.status, r.header("content-encoding")), (200, "gzip"), r.proto)
        check_eq(gzip.decompress(r.body), HTML, r.proto)
        check(len(r.body) < len(HTML) // 4, "%s: compressed %d bytes" % (r.proto, len(r.body)))
        check_eq(r.header("vary"), "Accept-Encoding", r.proto)
        check_eq(r.header("content-length"), str(len(r.body)), r.proto)
        check(r.header("etag") not in (None, ident), "%s: ETag of its own" % r.proto)
        check_eq(r.header("content-type"), "text/html; charset=utf-8", r.proto)
    for ae in ("zstd", "gzip, zstd", "*"):
        for r in both(a1, a2, "/page.html", headers=[("Accept-Encoding", ae)]):
            check_eq((r.status, r.header("content-encoding")), (200, "zstd"), r.proto + ae)
            check_eq(unzstd(r.body), HTML, r.proto + ae)
    for r in both(a1, a2, "/sub/", headers=[("Accept-Encoding", "gzip")]):
        check_eq(gzip.decompress(r.body), HTML, "%s directory index" % r.proto)
    etag = get1(a1, "/page.html", [("Accept-Encoding", "gzip")]).header("etag")
    for r in both(a1, a2, "/page.html", headers=[("Accept-Encoding", "gzip"),
                                                  ("If-None-Match", etag)]):
        check_eq((r.status, r.body), (304, b""), r.proto)
    # identity: no Accept-Encoding, a range, too small, not text, no coding it does
    for path, hdrs, status in [("/page.html", [], 200),
                               ("/page.html", [("Accept-Encoding", "gzip"),
                                               ("Range", "bytes=0-9")], 206),
                               ("/tiny.txt", [("Accept-Encoding", "gzip")], 200),
                               ("/img.png", [("Accept-Encoding", "gzip")], 200),
                               ("/page.html", [("Accept-Encoding", "br, deflate")], 200),
                               ("/page.html", [("Accept-Encoding", "gzip;q=7")], 200)]:
        for r in both(a1, a2, path, headers=hdrs):
            what = "%s %s %r" % (r.proto, path, hdrs)
            check_eq((r.status, r.header("content-encoding")), (status, None), what)
            full = read_file(os.path.join(root, path.lstrip("/")))
            check_eq(r.body, full[:10] if status == 206 else full, what)
    # a precompressed file wins over compressing at serve time
    for r in both(a1, a2, "/both/x.css", headers=[("Accept-Encoding", "gzip")]):
        check_eq((r.body, r.header("content-encoding")), (b"PRECOMPRESSED", "gzip"), r.proto)
    p.stop()
    p.check_sanitizers()


@test("encode br (make BROTLI=1): a whole file in brotli; the client's weights, then the "
      "encode line's order")
def t_encode_br():
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "page.html"), HTML)
    p, a1, a2 = serve("""site * {
  root %s
  encode br gzip
}
""" % root, d, ferry_br())
    ident = get1(a1, "/page.html").header("etag")
    gz = get1(a1, "/page.html", [("Accept-Encoding", "gzip")]).header("etag")
    for ae, coding in (("br", "br"), ("gzip, br", "br"), ("br, gzip", "br"), ("*", "br"),
                       ("br;q=0.5, gzip", "gzip"), ("gzip;q=0.2, br;q=0.3", "br"),
                       ("br;q=0, *", "gzip"), ("zstd", None)):
        for r in both(a1, a2, "/page.html", headers=[("Accept-Encoding", ae)]):
            what = "%s %r" % (r.proto, ae)
            check_eq((r.status, r.header("content-encoding")), (200, coding), what)
            body = (brotli.decompress(r.body) if coding == "br"
                    else gzip.decompress(r.body) if coding == "gzip" else r.body)
            check_eq(body, HTML, what)
            if coding == "br":
                check(len(r.body) < len(HTML) // 4, "%s: %d bytes" % (what, len(r.body)))
                check_eq(r.header("content-length"), str(len(r.body)), what)
                check_eq(r.header("vary"), "Accept-Encoding", what)
                check(r.header("etag") not in (None, ident, gz), "%s: ETag of its own" % what)
    etag = get1(a1, "/page.html", [("Accept-Encoding", "br")]).header("etag")
    for r in both(a1, a2, "/page.html", headers=[("Accept-Encoding", "br"),
                                                  ("If-None-Match", etag)]):
        check_eq((r.status, r.body), (304, b""), r.proto)
    for r in both(a1, a2, "/page.html", headers=[("Accept-Encoding", "br"),
                                                  ("Range", "bytes=0-9")]):
        check_eq((r.status, r.header("content-encoding"), r.body), (206, None, HTML[:10]),
                 r.proto)
    p.stop()
    p.check_sanitizers()


@test("encode: ferry check refuses unknown codings, and br in a build without brotli, with "
      "position")
def t_encode_errors():
    d = tmpdir()
    base = "site * {\n  root /srv\n%s\n}\n"
    nobr = r"'encode br': this ferry was built without brotli \(build it with 'make BROTLI=1'"
    for ferry in (None, ferry_br()):
        check_error(d, base % "  encode gzip br zstd deflate", 3, 3, "takes 1 to 3 arguments",
                    "four", ferry)
        check_error(d, base % "  encode deflate", 3, 10, "br, zstd and gzip", "deflate", ferry)
        check_error(d, base % "  encode gzip GZIP", 3, 15, "br, zstd and gzip", "upper case",
                    ferry)
        check_error(d, base % "  encode gzip gzip", 3, 15, "twice", "twice", ferry)
    # the default build: br refused where it stands, alone or in a list
    check_error(d, base % "  encode br", 3, 10, nobr, "encode br")
    check_error(d, base % "  encode gzip br", 3, 15, nobr, "encode gzip br")
    check_error(d, base % "  path /a/ {\n    encode zstd br\n  }", 4, 17, nobr, "in a path")
    # precompressed br needs no library: both builds take it; the brotli build takes encode br
    for ferry in (None, ferry_br()):
        rc, err = ferry_check(d, base % "  precompressed br gzip", ferry)
        check_eq((rc, err), (0, ""), "precompressed br, %s" % (ferry or FERRY))
    rc, err = ferry_check(d, base % "  encode br zstd gzip\n  precompressed br", ferry_br())
    check_eq((rc, err), (0, ""), "encode br in the brotli build")
    check_error(d, base % "  encode br deflate", 3, 13, "br, zstd and gzip", "deflate",
                ferry_br())


main()
