#!/usr/bin/env python3
"""`root DIR` inside `path PREFIX { ... }`: the whole request path looked up under DIR (nginx
`root`), with the site root's protections, validators and ranges; the longest prefix wins
between root and proxy path blocks; a proxied site with a static path block; escapes stay
inside; startup, config and reload errors; the sandbox and `ferry units` know the path roots."""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403
from backends import *  # noqa: E402,F401,F403

SECRET = b"TOP-SECRET-path-root-4e1b"
PRIVATE = b"PRIVATE-in-the-path-root-dir-but-not-under-its-prefix"
HOOK = "FERRY_INSECURE_TEST_BYPASS_PATH_CHECKS"


def layout():
    """d/www: the site root; d/assets: a path root (its files under static/, as nginx's
    `root` wants them); d/secret.txt: outside every root."""
    d = tmpdir()
    write_file(os.path.join(d, "secret.txt"), SECRET + b"\n")
    www = os.path.join(d, "www")
    write_file(os.path.join(www, "index.html"), "site root\n")
    write_file(os.path.join(www, "static", "only-www.txt"), "www static\n")
    assets = os.path.join(d, "assets")
    write_file(os.path.join(assets, "private.txt"), PRIVATE + b"\n")
    write_file(os.path.join(assets, "static", "a.css"), "a{}\n")
    write_file(os.path.join(assets, "static", "index.html"), "assets index\n")
    write_file(os.path.join(assets, "static", "sub", "page.txt"), "sub page\n")
    write_file(os.path.join(assets, "static", "notes.txt"), b"0123456789abcdef\n")
    os.symlink("../../secret.txt", os.path.join(assets, "static", "link-out"))
    return d, www, assets


def backend(b):
    b.start()
    on_cleanup(b.stop)
    return b


def serve(d, text, sandbox="off"):
    """ferry binding its own socket, with text as the config (kept in a directory of its own:
    the sandbox makes the config's directory readable)."""
    cfg = write_config(os.path.join(d, "etc"), "sandbox %s\naccess-log off\n%s" % (sandbox, text))
    p, (a,) = start_bound(lambda: [tcp4()], ["--config", cfg], dir=d)
    return p, a, cfg


def fd_targets(pid):
    out = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            out.append(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except OSError:
            pass
    return out


def get(a, path="/", **kw):
    return http_get(a, path, host="app.test", **kw)


def body_of(a, path):
    r = get(a, path)
    check_eq(r.status, 200, "status of %s (body %r)" % (path, r.body[:200]))
    return r.body


@test("a path root: GET /static/a.css opens ROOT/static/a.css; the rest from the site root")
def _():
    d, www, assets = layout()
    p, a, _ = serve(d, "site * {\n root %s\n path /static/ {\n  root %s\n }\n}\n" % (www, assets))
    r = get(a, "/static/a.css")
    check_eq((r.status, r.body), (200, b"a{}\n"), "/static/a.css")
    check_in("text/css", r.header("content-type", ""), "Content-Type")
    check_eq(body_of(a, "/static/"), b"assets index\n", "/static/ (index.html)")
    check_eq(body_of(a, "/static/sub/page.txt"), b"sub page\n", "a subdirectory")
    r = get(a, "/static/sub")
    check_eq((r.status, r.header("location")), (301, "/static/sub/"), "directory redirect")
    check_eq(get(a, "/static/only-www.txt").status, 404, "the site root is not consulted")
    check_eq(body_of(a, "/"), b"site root\n", "/ from the site root")
    # "/static" is not under the prefix "/static/": the site root's directory answers
    check_eq((get(a, "/static").status, get(a, "/static").header("location")),
             (301, "/static/"), "/static")
    check_eq(get(a, "/private.txt").status, 404, "the path root only serves its prefix")
    check_eq(body_of(a, "/x/../static/a.css"), b"a{}\n", "matched on the normalised path")
    check_eq(body_of(a, "/%73tatic/a.css"), b"a{}\n", "matched on the decoded path")


@test("a path root: validators, If-None-Match, Range, HEAD, OPTIONS, 405, a changed file")
def _():
    d, www, assets = layout()
    p, a, _ = serve(d, "site * {\n root %s\n path /static/ {\n  root %s\n }\n}\n" % (www, assets))
    r = get(a, "/static/notes.txt")
    etag = r.header("etag")
    check(etag and r.header("last-modified"), "ETag and Last-Modified: %r" % r.headers)
    r = get(a, "/static/notes.txt", headers=[("If-None-Match", etag)])
    check_eq((r.status, r.body), (304, b""), "If-None-Match")
    r = get(a, "/static/notes.txt", headers=[("Range", "bytes=2-5")])
    check_eq((r.status, r.body, r.header("content-range")), (206, b"2345", "bytes 2-5/17"),
             "Range")
    r = get(a, "/static/notes.txt", method="HEAD")
    check_eq((r.status, r.header("content-length")), (200, "17"), "HEAD")
    check_eq(get(a, "/static/notes.txt", method="OPTIONS").status, 204, "OPTIONS")
    check_eq(get(a, "/static/notes.txt", method="DELETE").status, 405, "DELETE")
    path = os.path.join(assets, "static", "notes.txt")
    mtime = int(os.stat(path).st_mtime)
    write_file(path, b"changed\n")
    os.utime(path, (mtime + 10, mtime + 10))
    wait_until(lambda: get(a, "/static/notes.txt").body == b"changed\n", 3 * SLOW,
               interval=0.1, what="the changed file (file cache revalidation)")


@test("longest prefix wins between root and proxy path blocks (the issue's site: path first, "
      "root after)")
def _():
    d, www, assets = layout()
    docs = os.path.join(d, "docs")
    write_file(os.path.join(docs, "api", "docs", "index.html"), "api docs\n")
    up = backend(EchoBackend())
    p, a, _ = serve(d, "site app.test {\n"
                    " path /api/ {\n  proxy %s\n }\n"
                    " path /api/docs/ {\n  root %s\n }\n"
                    " path /static/ {\n  root %s\n }\n"
                    " path /static/live/ {\n  proxy %s\n }\n"
                    " root %s\n}\n" % (up.url, docs, assets, up.url, www))
    check_eq(json.loads(body_of(a, "/api/x?q=1"))["target"], "/api/x?q=1", "/api/ proxied")
    check_eq(body_of(a, "/api/docs/"), b"api docs\n", "/api/docs/ from its root")
    check_eq(body_of(a, "/x/../api/docs/index.html"), b"api docs\n", "normalised")
    check_eq(body_of(a, "/%61pi/docs/"), b"api docs\n", "percent-decoded")
    check_eq(get(a, "/api/docs/nope").status, 404, "a missing file under a root block: 404")
    check_eq(body_of(a, "/static/a.css"), b"a{}\n", "/static/ from its root")
    check_eq(json.loads(body_of(a, "/static/live/feed"))["target"], "/static/live/feed",
             "/static/live/ proxied")
    check_eq(body_of(a, "/"), b"site root\n", "the rest from the site root")
    check_eq(sorted(r.target for r in up.requests), ["/api/x?q=1", "/static/live/feed"],
             "what the upstream saw")


@test("a proxied site with a static path block: files from its root, the rest upstream, "
      "bodies too")
def _():
    d, www, assets = layout()
    up = backend(EchoBackend())
    p, a, _ = serve(d, "site * {\n proxy %s\n path /static/ {\n  root %s\n }\n}\n"
                    % (up.url, assets))
    check_eq(body_of(a, "/static/a.css"), b"a{}\n", "a file from the path root")
    check_eq(get(a, "/static/missing").status, 404, "a missing file: 404 from ferry")
    check_eq(json.loads(body_of(a, "/app/x"))["target"], "/app/x", "the rest proxied")
    # A body is dropped and the request served once it is read (routed again then).
    r = fetch_raw(a, b"POST /static/a.css HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                  b"Connection: close\r\n\r\nhello")
    check_eq(r.status, 405, "POST to a static path")
    c = HttpConn(a)
    c.send(b"GET /static/a.css HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
           b"GET /static/sub/page.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"2\r\nhi\r\n0\r\n\r\n"
           b"GET /app/after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check_eq(c.read_response().body, b"a{}\n", "GET with a Content-Length body")
    check_eq(c.read_response().body, b"sub page\n", "GET with a chunked body")
    check_eq(json.loads(c.read_response().body)["target"], "/app/after", "then proxied")
    r, closed = exchange(a, b"GET /static/a.css HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                         b"Expect: 100-continue\r\n\r\n")
    check_eq((r.status, r.body, closed), (200, b"a{}\n", True),
             "Expect: 100-continue answered at once, then closed")
    check_eq([r.target for r in up.requests], ["/app/x", "/app/after"],
             "the upstream saw only the proxied requests")


@test("a proxied site with a static path block: a target that does not normalise (%00, .. above "
      "/, a path over 4 KiB) gets 400 or 414 and close, and never reaches the site's upstream")
def _():
    d, www, assets = layout()
    up = backend(EchoBackend())
    p, a, _ = serve(d, "site * {\n proxy %s\n path /static/ {\n  root %s\n }\n}\n"
                    % (up.url, assets))
    long_path = "/static/" + "a" * 5000  # the request line is under max-request-line's 8 KiB
    cases = [
        ("GET /static/%00", b"GET /static/%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET /static/%zz", b"GET /static/%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET /static/../../x", b"GET /static/../../x HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("absolute-form", b"GET http://x/static/%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("POST with a body", b"POST /static/%00 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
         b"\r\nhello", 400),
        ("chunked body", b"POST /static/%00 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
         b"chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400),
        ("a 5 KiB path", b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % long_path.encode(), 414),
        ("a 5 KiB path, percent-encoded", b"GET /static/%s HTTP/1.1\r\nHost: x\r\n\r\n"
         % (b"%61" * 1700), 414),
    ]
    for what, raw, status in cases:
        r, closed = exchange(a, raw)
        check_eq((r.status, closed), (status, True), what)
    check_eq(json.loads(body_of(a, "/app/after"))["target"], "/app/after", "proxied afterwards")
    check_eq(body_of(a, "/static/a.css"), b"a{}\n", "static afterwards")
    check_eq([r.target for r in up.requests], ["/app/after"],
             "the upstream saw only the proxied request")


ESCAPES = [
    "/static/../secret.txt",
    "/static/../../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2e%2e/%2e%2e/secret.txt",
    "/static/%2E%2E%2F%2E%2E%2Fsecret.txt",
    "/static/..%2f..%2fsecret.txt",
    "/static/.%2e/private.txt",
    "/static/../private.txt",
    "/static/sub/../../private.txt",
    "/static/sub/%2e%2e/%2e%2e/%2e%2e/secret.txt",
    "/static/link-out",
    "/static/%252e%252e/private.txt",
    "/static/..",
    "/static/..%2f",
]


@test("escapes from a path root stay inside: dot segments, %2e%2e, encoded slashes, symlinks, "
      "absolute-form")
def _():
    d, www, assets = layout()
    p, a, _ = serve(d, "site * {\n root %s\n path /static/ {\n  root %s\n }\n}\n" % (www, assets))
    targets = ESCAPES + ["http://app.test" + t for t in ESCAPES]
    for t in targets:
        c = HttpConn(a)
        c.send(request_bytes(t, host="app.test"))
        r = c.read_response()
        data = r.raw_head.encode("latin-1") + r.body + c.buf
        c.close()
        check_not_in(SECRET, data, t)
        check_not_in(PRIVATE, data, t)
        # "/static/.." is "/": the site root's index, which is fine
        check(r.status in (200, 400, 404) and (r.status != 200 or r.body == b"site root\n"),
              "%s: status %d" % (t, r.status))
    check_eq(body_of(a, "/static/a.css"), b"a{}\n", "a normal request afterwards")


@test("a path root that does not exist: serve exits 1 naming file:line; check does not look")
def _():
    d, www, assets = layout()
    cfg = write_config(d, "site * {\n root %s\n path /static/ {\n  root %s/nope\n }\n}\n"
                       % (www, d))
    rc, out, err = run([FERRY, "serve", "--config", cfg, "--listen",
                        "127.0.0.1:%d" % free_port()])
    check_eq(rc, 1, "exit code (stderr %r)" % err)
    check_in("ferry.conf:3: root %s/nope: No such file or directory" % d, err, "stderr")
    rc, out, err = run([FERRY, "check", cfg])
    check_eq(rc, 0, "ferry check (existence is checked at startup): %s" % err)


@test("root and proxy in one path block: a config error at file:line:col")
def _():
    d = tmpdir()
    cfg = write_config(d, "site * {\n path /x/ {\n  proxy http://127.0.0.1:9\n  root /srv\n }\n}\n")
    rc, out, err = run([FERRY, "check", cfg])
    check_eq(rc, 2, "ferry check exit code")
    check_in("ferry.conf:4:3: a path block has either 'root' or 'proxy', not both", err + out,
             "message")
    rc, out, err = run([FERRY, "serve", "--config", cfg, "--listen",
                        "127.0.0.1:%d" % free_port()])
    check_eq(rc, 2, "ferry serve exit code")


@test("reload: a path root changed by SIGHUP applies; a missing one keeps the old config")
def _():
    d, www, assets = layout()
    other = os.path.join(d, "other")
    write_file(os.path.join(other, "static", "a.css"), "other{}\n")
    text = "site * {\n root %s\n path /static/ {\n  root %s\n }\n}\n"
    p, a, cfg = serve(d, text % (www, assets))
    check_eq(body_of(a, "/static/a.css"), b"a{}\n", "before")
    write_config(os.path.dirname(cfg), "sandbox off\naccess-log off\n" + text % (www, other))
    p.send_signal(signal.SIGHUP)
    p.wait_stderr("SIGHUP: reloaded", what="the reload")
    wait_until(lambda: get(a, "/static/a.css").body == b"other{}\n", 3 * SLOW, interval=0.05,
               what="the new path root")
    # the old generation's path root is closed once every worker moved on
    wait_until(lambda: assets not in fd_targets(p.pid) and other in fd_targets(p.pid),
               5 * SLOW, interval=0.05, what="the old path root's fd to be closed")
    write_config(os.path.dirname(cfg), "sandbox off\naccess-log off\n" +
                 text % (www, os.path.join(d, "gone")))
    p.send_signal(signal.SIGHUP)
    p.wait_stderr("reload failed", what="the failed reload")
    check_in("ferry.conf:5: root %s" % os.path.join(d, "gone"), p.stderr(), "reload error")
    check_eq(body_of(a, "/static/a.css"), b"other{}\n", "still the previous path root")
    check(p.alive(), "ferry is still running")


def landlock_abi():
    """The kernel's Landlock ABI, or 0 (probe with the same syscall ferry uses)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    r = libc.syscall(444, None, 0, 1)  # landlock_create_ruleset(..., VERSION), x86_64/aarch64
    return r if r > 0 else 0


@test("sandbox on: a path root outside the site root is readable; with the path checks "
      "bypassed, a symlink out of it is still refused")
def _():
    d, www, assets = layout()
    cfg = write_config(os.path.join(d, "etc"), "sandbox on\naccess-log off\nsite * {\n root %s\n"
                       " path /static/ {\n  root %s\n }\n}\n" % (www, assets))
    p, (a,) = activate(lambda: [tcp4()], ["serve", "--config", cfg], setenv={HOOK: "1"}, dir=d)
    check_eq(body_of(a, "/static/a.css"), b"a{}\n", "a file from the path root")
    check_eq(body_of(a, "/index.html"), b"site root\n", "a file from the site root")
    m = p.wait_stderr(r"sandbox: .*", what="the sandbox log line")
    if not landlock_abi():
        raise Skip("the kernel has no Landlock (the files were served)")
    check_in("3 paths read-only", m.group(0), "site root, path root, config directory")
    r = get(a, "/static/link-out")
    check(r.status in (403, 404), "status %d for a symlink out of the path root" % r.status)
    check_not_in(SECRET, r.body, "body")


@test("ferry units bind-mounts a path root read-only, also in a proxied site")
def _():
    d = tmpdir()
    cfg = write_config(d, "listen 0.0.0.0:8080\nsite a.test {\n root /srv/app\n"
                       " path /static/ { root /srv/assets }\n}\n"
                       "site b.test {\n proxy unix:/run/b/app.sock\n"
                       " path /s/ { root /srv/b-static }\n}\n")
    rc, out, err = run([FERRY, "units", "--config", cfg, "--mode", "system", "--podman-run"])
    check_eq(rc, 0, "exit code (stderr %r)" % err)
    for root in ("/srv/app", "/srv/assets", "/srv/b-static"):
        check_in("--volume=%s:%s:ro,z" % (root, root), out, "units")


main()
