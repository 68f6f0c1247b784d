#!/usr/bin/env python3
"""Static files: index and directories, MIME types, validators and conditional requests,
ranges, a large download, and site routing by Host."""
import email.utils
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403

TEXT = b"0123456789abcdefghijklmnopqrstuvwxyz\n"  # 37 bytes


def make_root(d):
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), "<h1>home</h1>\n")
    write_file(os.path.join(root, "style.css"), "body{}\n")
    write_file(os.path.join(root, "app.js"), "let x;\n")
    write_file(os.path.join(root, "img.png"), b"\x89PNG\r\n\x1a\n" + b"\0" * 8)
    write_file(os.path.join(root, "notes.txt"), TEXT)
    write_file(os.path.join(root, "data.qqq"), "?\n")
    write_file(os.path.join(root, "noext"), "?\n")
    write_file(os.path.join(root, "UPPER.HTML"), "<p>upper</p>\n")
    write_file(os.path.join(root, "empty.txt"), "")
    write_file(os.path.join(root, "with space.txt"), "space\n")
    write_file(os.path.join(root, "caf\u00e9.txt"), "utf-8 name\n")
    write_file(os.path.join(root, "sub", "index.html"), "<h1>sub</h1>\n")
    write_file(os.path.join(root, "sub", "page.txt"), "sub page\n")
    os.makedirs(os.path.join(root, "noindex"))
    write_file(os.path.join(root, "noindex", "file.txt"), "x\n")
    return root



def server():
    d = tmpdir()
    root = make_root(d)
    p, (a,) = activate(lambda: [tcp4()], ["serve", "--root", root], dir=d)
    return p, a, root


@test("/ serves index.html; /sub/ serves sub/index.html")
def _():
    p, a, root = server()
    r = http_get(a, "/")
    check_eq((r.status, r.body), (200, b"<h1>home</h1>\n"), "/")
    check_in("text/html", r.header("content-type", ""), "Content-Type of /")
    r = http_get(a, "/sub/")
    check_eq((r.status, r.body), (200, b"<h1>sub</h1>\n"), "/sub/")
    r = http_get(a, "/sub/page.txt")
    check_eq((r.status, r.body), (200, b"sub page\n"), "/sub/page.txt")
    r = http_get(a, "/index.html")
    check_eq((r.status, r.body), (200, b"<h1>home</h1>\n"), "/index.html")


@test("a directory without index.html -> 404 (no listing)")
def _():
    p, a, root = server()
    r = http_get(a, "/noindex/")
    check_eq(r.status, 404, "status")
    check_not_in(b"file.txt", r.body, "body")
    check_eq(http_get(a, "/noindex/file.txt").status, 200, "file inside it")


@test("/dir -> 301 to /dir/ (query kept)")
def _():
    p, a, root = server()
    r = http_get(a, "/sub")
    check_eq(r.status, 301, "status")
    check_eq(r.header("location"), "/sub/", "Location")
    r = http_get(a, "/sub?x=1&y=2")
    check_eq(r.status, 301, "status with a query")
    check_eq(r.header("location"), "/sub/?x=1&y=2", "Location with a query")
    r = http_get(a, "/noindex")
    check_eq((r.status, r.header("location")), (301, "/noindex/"), "dir without index")


@test("missing file -> 404; file in a missing dir -> 404; file as a dir (/notes.txt/) -> 404")
def _():
    p, a, root = server()
    check_eq(http_get(a, "/nope.html").status, 404, "/nope.html")
    check_eq(http_get(a, "/nodir/x.txt").status, 404, "/nodir/x.txt")
    check_eq(http_get(a, "/notes.txt/").status, 404, "/notes.txt/")
    check_eq(http_get(a, "/notes.txt/x").status, 404, "/notes.txt/x")


@test("MIME types: .html .css .js .png .txt, upper-case extension, unknown and none")
def _():
    p, a, root = server()
    want = {
        "/index.html": "text/html",
        "/style.css": "text/css",
        "/app.js": "javascript",
        "/img.png": "image/png",
        "/notes.txt": "text/plain",
        "/UPPER.HTML": "text/html",
        "/data.qqq": "application/octet-stream",
        "/noext": "application/octet-stream",
        "/": "text/html",
    }
    for path, t in want.items():
        r = http_get(a, path)
        check_eq(r.status, 200, "%s status" % path)
        ct = r.header("content-type", "")
        check(ct.startswith(t) or (t == "javascript" and "javascript" in ct),
              "%s: Content-Type %r, expected %r" % (path, ct, t))


@test("empty file -> 200 with Content-Length: 0; percent-encoded names are decoded")
def _():
    p, a, root = server()
    r = http_get(a, "/empty.txt")
    check_eq((r.status, r.header("content-length"), r.body), (200, "0", b""), "empty file")
    r = http_get(a, "/with%20space.txt")
    check_eq((r.status, r.body), (200, b"space\n"), "with%20space.txt")
    r = http_get(a, "/%6eotes.txt")
    check_eq((r.status, r.body), (200, TEXT), "%6eotes.txt")
    r = http_get(a, "/caf%C3%A9.txt")
    check_eq((r.status, r.body), (200, b"utf-8 name\n"), "caf%C3%A9.txt")


@test("ETag and Last-Modified are present and describe the file")
def _():
    p, a, root = server()
    r = http_get(a, "/notes.txt")
    etag = r.header("etag")
    lm = r.header("last-modified")
    check(etag and re.match(r'^(W/)?"[^"]+"$', etag), "ETag %r" % etag)
    check(lm is not None, "Last-Modified missing")
    mtime = int(os.stat(os.path.join(root, "notes.txt")).st_mtime)
    check_eq(int(email.utils.parsedate_to_datetime(lm).timestamp()), mtime, "Last-Modified")
    check_eq(r.header("accept-ranges"), "bytes", "Accept-Ranges")
    check_eq(http_get(a, "/notes.txt").header("etag"), etag, "ETag is stable")


@test("a changed file is served, with a new ETag, within a few seconds (cache revalidation)")
def _():
    p, a, root = server()
    path = os.path.join(root, "notes.txt")
    r1 = http_get(a, "/notes.txt")
    check_eq(r1.body, TEXT, "first body")
    mtime = int(os.stat(path).st_mtime)
    write_file(path, TEXT + b"more\n")
    os.utime(path, (mtime + 10, mtime + 10))
    r2 = wait_until(lambda: (lambda r: r.body != TEXT and r)(http_get(a, "/notes.txt")),
                    3 * SLOW, interval=0.1, what="the new content")
    check_eq(r2.body, TEXT + b"more\n", "new content")
    check(r2.header("etag") != r1.header("etag"), "ETag did not change with the file")
    check_eq(r2.header("content-length"), str(len(TEXT) + 5), "Content-Length")
    os.unlink(path)
    wait_until(lambda: http_get(a, "/notes.txt").status == 404, 3 * SLOW, interval=0.1,
               what="a 404 for the deleted file")


@test("If-None-Match: matching ETag -> 304 (no body, keep-alive), other ETag -> 200")
def _():
    p, a, root = server()
    etag = http_get(a, "/notes.txt").header("etag")
    c = HttpConn(a)
    c.send(request_bytes("/notes.txt", headers=["If-None-Match: " + etag]))
    r = c.read_response()
    check_eq(r.status, 304, "status")
    check_eq(r.header("etag"), etag, "ETag on 304")
    check_eq(r.header("content-length"), None, "Content-Length on 304")
    c.send(request_bytes("/notes.txt", headers=['If-None-Match: "other", ' + etag]))
    check_eq(c.read_response().status, 304, "status with a list")
    c.send(request_bytes("/notes.txt", headers=["If-None-Match: W/" + etag]))
    check_eq(c.read_response().status, 304, "status with a weak tag (weak comparison)")
    c.send(request_bytes("/notes.txt", headers=["If-None-Match: *"]))
    check_eq(c.read_response().status, 304, "status with *")
    c.send(request_bytes("/notes.txt", headers=['If-None-Match: "other"']))
    r = c.read_response()
    check_eq((r.status, r.body), (200, TEXT), "non-matching tag")


@test("If-Modified-Since: Last-Modified -> 304; an older date -> 200; garbage ignored")
def _():
    p, a, root = server()
    lm = http_get(a, "/notes.txt").header("last-modified")
    r = http_get(a, "/notes.txt", headers=["If-Modified-Since: " + lm])
    check_eq(r.status, 304, "same date")
    r = http_get(a, "/notes.txt", headers=["If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT"])
    check_eq((r.status, r.body), (200, TEXT), "older date")
    r = http_get(a, "/notes.txt", headers=["If-Modified-Since: yesterday"])
    check_eq(r.status, 200, "unparseable date")
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
    r = http_get(a, "/notes.txt", headers=['If-None-Match: "other"', "If-Modified-Since: " + lm])
    check_eq(r.status, 200, "If-None-Match evaluated instead of If-Modified-Since")


@test("If-Match: mismatch -> 412; matching -> 200; If-Unmodified-Since in the past -> 412")
def _():
    p, a, root = server()
    etag = http_get(a, "/notes.txt").header("etag")
    r = http_get(a, "/notes.txt", headers=['If-Match: "nope"'])
    check_eq(r.status, 412, "mismatch")
    r = http_get(a, "/notes.txt", headers=["If-Match: " + etag])
    check_eq((r.status, r.body), (200, TEXT), "match")
    r = http_get(a, "/notes.txt", headers=["If-Match: *"])
    check_eq(r.status, 200, "*")
    r = http_get(a, "/notes.txt", headers=["If-Match: W/" + etag])
    check_eq(r.status, 412, "weak tag never matches If-Match (strong comparison)")
    r = http_get(a, "/notes.txt",
                 headers=["If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT"])
    check_eq(r.status, 412, "If-Unmodified-Since in the past")


@test("Range bytes=0-9 -> 206, Content-Range, exactly those 10 bytes")
def _():
    p, a, root = server()
    r = http_get(a, "/notes.txt", headers=["Range: bytes=0-9"])
    check_eq(r.status, 206, "status")
    check_eq(r.header("content-range"), "bytes 0-9/%d" % len(TEXT), "Content-Range")
    check_eq(r.header("content-length"), "10", "Content-Length")
    check_eq(r.body, TEXT[0:10], "body")


@test("Range bytes=-5 (suffix) and bytes=5- (open end)")
def _():
    p, a, root = server()
    n = len(TEXT)
    r = http_get(a, "/notes.txt", headers=["Range: bytes=-5"])
    check_eq((r.status, r.header("content-range"), r.body),
             (206, "bytes %d-%d/%d" % (n - 5, n - 1, n), TEXT[-5:]), "bytes=-5")
    r = http_get(a, "/notes.txt", headers=["Range: bytes=5-"])
    check_eq((r.status, r.header("content-range"), r.body),
             (206, "bytes 5-%d/%d" % (n - 1, n), TEXT[5:]), "bytes=5-")
    r = http_get(a, "/notes.txt", headers=["Range: bytes=10-1000"])
    check_eq((r.status, r.header("content-range"), r.body),
             (206, "bytes 10-%d/%d" % (n - 1, n), TEXT[10:]), "end past the size")
    r = http_get(a, "/notes.txt", headers=["Range: bytes=-1000"])
    check_eq((r.status, r.body), (206, TEXT), "suffix longer than the file")


@test("unsatisfiable Range -> 416 with Content-Range: bytes */size")
def _():
    p, a, root = server()
    n = len(TEXT)
    for rng in ("bytes=%d-" % n, "bytes=1000-2000", "bytes=-0"):
        r = http_get(a, "/notes.txt", headers=["Range: " + rng])
        check_eq(r.status, 416, "%s status" % rng)
        check_eq(r.header("content-range"), "bytes */%d" % n, "%s Content-Range" % rng)


@test("multi-range, other units, invalid ranges -> 200 with the whole file")
def _():
    p, a, root = server()
    for rng in ("bytes=0-1,3-4", "items=0-1", "bytes=9-0", "bytes=x-y", "bytes="):
        r = http_get(a, "/notes.txt", headers=["Range: " + rng])
        check_eq((r.status, r.body), (200, TEXT), rng)


@test("If-Range: current ETag -> 206, stale ETag -> 200 full; Range ignored on HEAD")
def _():
    p, a, root = server()
    etag = http_get(a, "/notes.txt").header("etag")
    r = http_get(a, "/notes.txt", headers=["Range: bytes=0-3", "If-Range: " + etag])
    check_eq((r.status, r.body), (206, TEXT[:4]), "current ETag")
    r = http_get(a, "/notes.txt", headers=["Range: bytes=0-3", 'If-Range: "stale"'])
    check_eq((r.status, r.body), (200, TEXT), "stale ETag")
    r = http_get(a, "/notes.txt", "HEAD", headers=["Range: bytes=0-3"])
    check_eq((r.status, r.header("content-length")), (200, str(len(TEXT))), "HEAD")


@test("a 5 MiB file downloads byte-exact; a range in its middle too")
def _():
    d = tmpdir()
    root = os.path.join(d, "www")
    data = os.urandom(5 << 20)
    write_file(os.path.join(root, "big.bin"), data)
    p, (a,) = activate(lambda: [tcp4()], ["serve", "--root", root], dir=d)
    r = http_get(a, "/big.bin", timeout=30)
    check_eq(r.status, 200, "status")
    check_eq(r.header("content-length"), str(len(data)), "Content-Length")
    check_eq(len(r.body), len(data), "length")
    check(r.body == data, "content differs (sha %s vs %s)" % (sha(r.body), sha(data)))
    r = http_get(a, "/big.bin", "HEAD")
    check_eq((r.status, r.header("content-length")), (200, str(len(data))), "HEAD")
    r = http_get(a, "/big.bin", headers=["Range: bytes=3000000-3099999"])
    check_eq(r.status, 206, "range status")
    check(r.body == data[3000000:3100000], "range content differs")
    # two downloads at once on one keep-alive connection each, plus pipelined on one
    c = HttpConn(a, timeout=30)
    c.send(request_bytes("/big.bin") + request_bytes("/big.bin", headers=["Range: bytes=-7"]))
    check(c.read_response().body == data, "pipelined full body differs")
    check_eq(c.read_response().body, data[-7:], "pipelined range after it")
    check_eq(p.stop(), 0, "exit code")


SITES = """
site a.test {
    root %(d)s/a
}
site b.test www.b.test {
    root %(d)s/b
}
site *.wild.test {
    root %(d)s/w
}
site welcome.test {
}
%(default)s
"""


def sites_server(with_default=True):
    d = tmpdir()
    for s in ("a", "b", "w", "def"):
        write_file(os.path.join(d, s, "index.html"), "site %s\n" % s)
    default = "site * {\n    root %s/def\n}\n" % d if with_default else ""
    cfg = write_config(d, SITES % {"d": d, "default": default})
    p, (a,) = activate(lambda: [tcp4()], ["serve", "--config", cfg], dir=d)
    return p, a


@test("site routing by Host: exact names, aliases, case, port, wildcard, default")
def _():
    p, a = sites_server()
    cases = [
        ("a.test", b"site a\n"),
        ("A.Test", b"site a\n"),
        ("a.test:8080", b"site a\n"),
        ("a.test.", b"site a\n"),
        ("b.test", b"site b\n"),
        ("www.b.test", b"site b\n"),
        ("x.wild.test", b"site w\n"),
        ("deep.x.wild.test", b"site w\n"),
        ("other.test", b"site def\n"),
        ("127.0.0.1", b"site def\n"),
        ("a.test.evil", b"site def\n"),
    ]
    for host, body in cases:
        r = http_get(a, "/", host=host)
        check_eq((r.status, r.body), (200, body), "Host: %s" % host)
    r = http_get(a, "/", host="welcome.test")
    check_eq(r.status, 200, "a site without root: status")
    check_in(b"ferry works!", r.body, "a site without root serves the built-in page")


@test("site routing: an absolute-form target's authority wins over Host")
def _():
    p, a = sites_server()
    r = fetch_raw(a, b"GET http://b.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n")
    check_eq((r.status, r.body), (200, b"site b\n"), "absolute-form")


@test("no `site *`: a Host that matches no site -> 421; matching ones still served")
def _():
    p, a = sites_server(with_default=False)
    r = http_get(a, "/", host="other.test")
    check_eq(r.status, 421, "status")
    r = http_get(a, "/", host="wild.test")
    check_eq(r.status, 421, "the wildcard's parent domain is not matched")
    r = http_get(a, "/", host="a.test")
    check_eq((r.status, r.body), (200, b"site a\n"), "a.test")
    r = http_get(a, "/", version="HTTP/1.0", host=None)
    check_eq(r.status, 421, "HTTP/1.0 without Host")


if __name__ == "__main__":
    main()
