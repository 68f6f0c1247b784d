#!/usr/bin/env python3
"""Path escapes: no request may read a file outside the root (dot segments, encoded dots and
slashes, absolute-form targets, symlinks), while legitimate paths inside it still work; the
same list over HTTP/3 (tests/tools/h3client.c sends each :path as it is)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403
from pathcases import ESCAPES, SECRET, layout  # noqa: E402
from h3client import H3Server  # noqa: E402


def server():
    d, root = layout()
    p, (a,) = activate(lambda: [tcp4()], ["serve", "--root", root], dir=d)
    return p, a


def no_secret(a, raw, allowed, what):
    c = HttpConn(a)
    c.send(raw)
    r = c.read_response()
    data = r.raw_head.encode("latin-1") + r.body + c.buf
    check_not_in(SECRET, data, what)
    check(r.status in allowed, "%s: status %d, expected one of %r" % (what, r.status, allowed))
    return r


for _path in ESCAPES:
    def _make(path=_path):
        @test("escape attempt %s: never the secret (400/404)" % path)
        def _():
            p, a = server()
            no_secret(a, request_bytes(path), (400, 404), path)
    _make()


@test("all escape attempts against one server, then a normal request still works")
def _():
    p, a = server()
    for path in ESCAPES:
        no_secret(a, request_bytes(path), (400, 404), path)
    r = http_get(a, "/a/b.txt")
    check_eq((r.status, r.body), (200, b"a/b inside\n"), "normal request")


@test("over HTTP/3: every escape attempt and outward symlink gets the status it gets over "
      "HTTP/1.1 (400/404), never the secret; links and dot segments inside the root served")
def _():
    p, a = server()
    d, root = layout()
    s = H3Server("site * {\n tls %(crt)s %(key)s\n root " + root + "\n}\n")
    inside = {"/link-in": b"<h1>index</h1>\n", "/link-in-sub": b"a/b inside\n",
              "/a/../a/b.txt": b"a/b inside\n", "//etc/passwd": b"inside-root passwd\n",
              "/a/%2e/b.txt": b"a/b inside\n"}
    outward = ["/link-out", "/link-abs", "/dirlink-out/secret.txt", "/link-proc"]
    paths = ESCAPES + outward + list(inside)
    for path, r in zip(paths, s.requests(paths)):
        check_not_in(SECRET, repr(r.headers).encode() + r.body, "h3 " + path)
        if path in inside:
            check_eq((r.status, r.body), (200, inside[path]), "h3 " + path)
            continue
        h1 = no_secret(a, request_bytes(path), (400, 404), "h1 " + path)
        check_eq(r.status, h1.status, "h3 %s: the status over HTTP/1.1" % path)
    s.stop()
    s.p.check_sanitizers()


@test("//etc/passwd and ///etc//passwd resolve inside the root")
def _():
    p, a = server()
    for path in ("//etc/passwd", "///etc//passwd", "/etc//passwd", "//etc/./passwd"):
        r = no_secret(a, request_bytes(path), (200,), path)
        check_eq(r.body, b"inside-root passwd\n", path)


@test("dot segments that stay inside the root work: /a/../index.html, /./a/b.txt, %2e")
def _():
    p, a = server()
    cases = [("/a/../index.html", b"<h1>index</h1>\n"), ("/./a/b.txt", b"a/b inside\n"),
             ("/a/./b.txt", b"a/b inside\n"), ("/a/%2e/b.txt", b"a/b inside\n"),
             ("/a/b.txt/..", None), ("/etc/../a/b.txt", b"a/b inside\n"),
             ("/a%2fb.txt", b"a/b inside\n")]
    for path, body in cases:
        r = no_secret(a, request_bytes(path), (200, 301, 404) if body is None else (200,), path)
        if body is not None:
            check_eq(r.body, body, path)


@test("%00 in the path -> 400")
def _():
    p, a = server()
    for path in ("/%00", "/index.html%00", "/index.html%00.txt", "/a/%00/../b.txt"):
        no_secret(a, request_bytes(path), (400,), path)


@test("a symlink inside the root that points outside -> 404 (relative, absolute, /proc)")
def _():
    p, a = server()
    for path in ("/link-out", "/link-abs", "/dirlink-out/secret.txt", "/dirlink-out/",
                 "/link-proc"):
        no_secret(a, request_bytes(path), (403, 404), path)


@test("a symlink inside the root that points inside -> 200")
def _():
    p, a = server()
    for path, body in (("/link-in", b"<h1>index</h1>\n"), ("/link-in-sub", b"a/b inside\n"),
                       ("/a/up-but-inside", b"<h1>index</h1>\n")):
        r = no_secret(a, request_bytes(path), (200,), path)
        check_eq(r.body, body, path)


@test("absolute-form targets: GET http://x/../secret.txt and encoded variants")
def _():
    p, a = server()
    for target in ("http://x/../secret.txt", "http://x/%2e%2e/secret.txt",
                   "http://x/a/../../secret.txt", "http://x/..%2fsecret.txt",
                   "http://x/../", "http://../secret.txt", "http://x/../../etc/passwd"):
        raw = ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target).encode()
        no_secret(a, raw, (400, 404), target)
    r = no_secret(a, b"GET http://x/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", (200,), "inside")
    check_eq(r.body, b"inside-root passwd\n", "absolute-form inside the root")


@test("targets that are not paths: '..', '*', 'secret.txt', backslashes -> 400")
def _():
    p, a = server()
    for target in ("..", "*", "secret.txt", "/..\\secret.txt", "\\..\\secret.txt"):
        raw = ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target).encode()
        no_secret(a, raw, (400,), target)


@test("very long paths and names: 404 or 414, never a crash")
def _():
    p, a = server()
    for path in ("/" + "a" * 300, "/" + "a/" * 2000, "/%2e%2e/" * 600 + "secret.txt",
                 "/" + "%41" * 1500):
        no_secret(a, request_bytes(path), (400, 404, 414), path[:40] + "...")
    check_eq(http_get(a, "/a/b.txt").status, 200, "still serving")


@test("escape attempts via HEAD and with Range never leak either")
def _():
    p, a = server()
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/link-out", "/link-abs"):
        no_secret(a, request_bytes(path, headers=["Range: bytes=0-5"]), (400, 404), path)
        c = HttpConn(a)
        c.send(request_bytes(path, "HEAD"))
        r = c.read_response(method="HEAD")
        check(r.status in (400, 404), "HEAD %s: %d" % (path, r.status))


if __name__ == "__main__":
    main()
