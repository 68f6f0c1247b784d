#!/usr/bin/env python3
"""Static files without openat2(2): systemd's RestrictSUIDSGID= (implied by DynamicUser=, which
`ferry units --native` writes) and kernels before 5.6 answer it with ENOSYS, and ferry then
opens each path component with O_NOFOLLOW instead. Files and index pages are served as
before; no symbolic link is followed (inside the root or out of it), ".." goes nowhere."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403

LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib", "no_openat2.py")
SECRET = b"SECRET-outside-the-root-93c1"


def layout():
    d = tmpdir()
    write_file(os.path.join(d, "secret.txt"), SECRET + b"\n")
    www = os.path.join(d, "www")
    write_file(os.path.join(www, "index.html"), "root index\n")
    write_file(os.path.join(www, "a.txt"), "file a\n")
    write_file(os.path.join(www, "sub", "index.html"), "sub index\n")
    write_file(os.path.join(www, "sub", "deeper", "page.txt"), "deep page\n")
    os.symlink("../secret.txt", os.path.join(www, "link-out"))
    os.symlink("a.txt", os.path.join(www, "link-in"))
    os.symlink("sub", os.path.join(www, "dir-link"))
    return d, www


def serve(sandbox):
    d, www = layout()
    cfg = write_config(os.path.join(d, "etc"), "sandbox %s\naccess-log off\nsite * { root %s }\n"
                       % (sandbox, www))
    p, (a,) = activate(lambda: [tcp4()], [LAUNCHER, FERRY, "serve", "--config", cfg],
                       ferry=sys.executable, dir=d)
    return p, a


def checks(p, a):
    for path, body in (("/", b"root index\n"), ("/a.txt", b"file a\n"),
                       ("/sub/", b"sub index\n"), ("/sub/deeper/page.txt", b"deep page\n"),
                       ("/sub/deeper/../index.html", b"sub index\n")):
        r = http_get(a, path)
        check_eq((r.status, r.body), (200, body), "GET %s" % path)
    p.wait_stderr(r"no_openat2: ENOSYS", what="the launcher's check that openat2 is refused")
    r = http_get(a, "/sub")
    check_eq(r.status, 301, "a directory without its slash")
    r = http_get(a, "/sub/deeper/page.txt", method="HEAD")
    check_eq((r.status, r.body), (200, b""), "HEAD")
    for path in ("/nope", "/sub/nope/x", "/a.txt/x"):
        check_eq(http_get(a, path).status, 404, "GET %s" % path)
    for path in ("/link-out", "/link-in", "/dir-link/index.html", "/dir-link/"):
        r = http_get(a, path)
        check_eq(r.status, 404, "GET %s: no symbolic link is followed" % path)
        check_not_in(SECRET, r.body, "body of %s" % path)
    r = http_get(a, "/../secret.txt")
    check(r.status in (400, 404), "status %d for /../secret.txt" % r.status)
    check_not_in(SECRET, r.body, "body of /../secret.txt")


@test("without openat2: files, index pages, 404s; no symbolic link followed (sandbox off)")
def _():
    checks(*serve("off"))


@test("without openat2, under ferry's own sandbox (Landlock, seccomp) too")
def _():
    p, a = serve("on")
    checks(p, a)
    m = p.wait_stderr(r"sandbox: .*", what="the sandbox log line")
    check_in("seccomp", m.group(0), "sandbox line")


main()
