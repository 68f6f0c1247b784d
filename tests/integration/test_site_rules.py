#!/usr/bin/env python3
"""Response rules of site and path blocks, over HTTP/1.1 and HTTP/2 (h2c): `header`
(placeholders, removal, inheritance, the fields ferry owns refused), and `ferry check`'s
file:line:col for each misuse."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403


def serve(conf, d):
    """ferry with an HTTP/1.1 listener and an h2c one; returns (proc, h1 addr, h2 addr)."""
    cfg = "listen http\nlisten h2 h2c\naccess-log off\n" + conf
    p, (a1, a2) = activate(lambda: [tcp4(), tcp4()], ["--config", write_config(d, cfg)],
                           fdnames=["http", "h2"], dir=d)
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
        argv.append("-I")
    argv.append("http://%s%s" % (a.ferry, path))
    out = subprocess.run(argv, capture_output=True, timeout=25 * SLOW).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    check(lines[0].startswith("HTTP/2 "), "curl did not speak HTTP/2: %r" % lines[0])
    hdrs = []
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs.append((k.strip().lower(), v.strip()))
    return Resp("h2", int(lines[0].split()[1]), hdrs, body)


def both(a1, a2, path, headers=(), host="localhost", method="GET"):
    return [get1(a1, path, headers, host, method), get2(a2, path, headers, host, method)]


def ferry_check(d, text):
    """`ferry check` on text: (exit code, the error lines)."""
    rc, out, err = run([FERRY, "check", write_config(d, text, "c.conf")])
    return rc, err


def check_error(d, text, line, col, pattern, what):
    rc, err = ferry_check(d, text)
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


main()
