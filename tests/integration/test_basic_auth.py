#!/usr/bin/env python3
"""basic-auth for a site or a path block: yescrypt and bcrypt users inline or from a file,
401 with the challenge, 400 for an Authorization field that does not parse (or two of them),
path blocks inheriting the site's or turning it off, the proxy behind it, HTTP/2, the
per-worker table of verified credentials (a keep-alive client pays the hash once), a reload
that changes a password inside the sandbox, hashes never in a message, and `ferry check`
errors at their positions."""
import base64
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403
from backends import *  # noqa: E402,F401,F403

_lc = ctypes.CDLL("libcrypt.so.1")  # libcrypt1: essential in Debian
_lc.crypt_gensalt.restype = ctypes.c_char_p
_lc.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
_lc.crypt.restype = ctypes.c_char_p
_lc.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]


def mkhash(password, prefix="$y$", cost=0):
    setting = _lc.crypt_gensalt(prefix.encode(), cost, None, 0)
    return _lc.crypt(password.encode(), setting).decode()


ALICE = mkhash("wonderland")            # yescrypt
BOB = mkhash("builder", "$2b$", 5)     # bcrypt


def basic(user, password):
    return "Authorization: Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def start(site, extra="", h2c=False, sandbox=False):
    d = tmpdir()
    root = os.path.join(d, "www")
    for f in ("index.html", "admin/index.html", "public/index.html", "admin/open/index.html"):
        write_file(os.path.join(root, f), "<p>%s</p>\n" % f)
    cfg = ("listen h2 h2c\n" if h2c else "") + ("" if sandbox else "sandbox off\n")
    cfg += "access-log %s/access.log\n" % d + extra + site % {"root": root, "d": d}
    if h2c:
        p, addrs = activate(lambda: [tcp4()], ["--config", write_config(d, cfg)],
                            fdnames=["h2"], dir=d)
    else:
        p, addrs = start_bound(lambda: [tcp4()], ["--config", write_config(d, cfg)], dir=d)
    return p, addrs[0], d


SITE = """site * {
 root %%(root)s
 basic-auth "Staff only"
 basic-auth-user alice %s
 basic-auth-user bob %s
 path /public/ {
  basic-auth off
 }
}
""" % (ALICE, BOB)


@test("site: 401 with the challenge, yescrypt and bcrypt users, wrong password, unknown user, "
      "another scheme; a path block with basic-auth off is open")
def _():
    p, a, d = start(SITE)
    r = http_get(a, "/")
    check_eq(r.status, 401, "no credentials")
    check_eq(r.header("www-authenticate"), 'Basic realm="Staff only", charset="UTF-8"',
             "challenge")
    check_eq(http_get(a, "/", headers=[basic("alice", "wonderland")]).status, 200, "alice")
    check_eq(http_get(a, "/", headers=[basic("bob", "builder")]).status, 200, "bob (bcrypt)")
    check_eq(http_get(a, "/", headers=[basic("alice", "Wonderland")]).status, 401, "wrong")
    check_eq(http_get(a, "/", headers=[basic("alice", "")]).status, 401, "empty password")
    check_eq(http_get(a, "/", headers=[basic("carol", "wonderland")]).status, 401, "unknown")
    check_eq(http_get(a, "/", headers=[basic("Alice", "wonderland")]).status, 401,
             "names are case-sensitive")
    check_eq(http_get(a, "/", headers=["Authorization: Bearer abc"]).status, 401, "Bearer")
    check_eq(http_get(a, "/public/").status, 200, "basic-auth off in the block")
    check_eq(http_get(a, "/admin/").status, 401, "the rest of the site")
    # the credentials and hashes appear nowhere
    log = read_file(os.path.join(d, "access.log")).decode()
    for secret in ("wonderland", "builder", ALICE, BOB, "Basic "):
        check_not_in(secret, log + p.stderr(), "access and error logs")


@test("strict Authorization: bad base64, trailing bytes, no colon, a control character, "
      "two fields -> 400; a keep-alive connection survives a 401")
def _():
    p, a, d = start(SITE)
    for v in ["Basic !!!!", "Basic YWxpY2U6d29uZGVybGFuZA== x", "Basic YWxpY2U=",
              "Basic YWxpY2U6d29uZGVy\x01bGFuZA==", "Basic YWxpY2U6d29uZGVybGFuZA",
              "Basic " + "A" * 2000]:
        raw = ("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n" % v).encode()
        r = fetch_raw(a, raw)
        check(r.status == 400, "%r: status %d" % (v[:40], r.status))
    raw = ("GET / HTTP/1.1\r\nHost: x\r\n%s\r\n%s\r\n\r\n"
           % (basic("alice", "wonderland"), basic("alice", "wonderland"))).encode()
    check_eq(fetch_raw(a, raw).status, 400, "two Authorization fields")
    c = HttpConn(a)
    c.send(request_bytes("/", host="x"))
    check_eq(c.read_response().status, 401, "first, without")
    c.send(request_bytes("/", host="x", headers=[basic("alice", "wonderland")]))
    check_eq(c.read_response().status, 200, "then with, same connection")
    c.close()


@test("verified credentials are remembered per worker: repeated requests cost far less "
      "than the first (bcrypt cost 12)")
def _():
    slow = mkhash("pw", "$2b$", 12)
    p, a, d = start("workers 1\nsite * {\n root %%(root)s\n basic-auth R\n "
                    "basic-auth-user u %s\n}\n" % slow)
    c = HttpConn(a, timeout=30)
    t0 = time.monotonic()
    c.send(request_bytes("/", host="x", headers=[basic("u", "pw")]))
    check_eq(c.read_response().status, 200, "first")
    first = time.monotonic() - t0
    t0 = time.monotonic()
    for _ in range(10):
        c.send(request_bytes("/", host="x", headers=[basic("u", "pw")]))
        check_eq(c.read_response().status, 200, "again")
    ten = time.monotonic() - t0
    c.close()
    diag("first %.1f ms, the next ten %.1f ms" % (first * 1000, ten * 1000))
    check(ten < first * 3, "ten cached requests (%.3fs) cost less than three hashes (%.3fs)"
          % (ten, 3 * first))
    # a wrong password is never taken from the table
    check_eq(http_get(a, "/", headers=[basic("u", "pW")], timeout=30).status, 401, "wrong")


@test("path blocks: one with its own users from a file (another realm), one inheriting the "
      "site's in front of a proxy")
def _():
    up = EchoBackend()
    up.start()
    on_cleanup(up.stop)
    users = "# staff\n\nalice:%s\r\n  bob:%s\n" % (ALICE, BOB)
    d0 = tmpdir()
    write_file(os.path.join(d0, "users"), users)
    p, a, d = start("""site * {
 root %%(root)s
 basic-auth Site
 basic-auth-user carol %s
 path /admin/ {
  basic-auth Admin
  basic-auth-file %s/users
 }
 path /api/ {
  proxy %s
 }
}
""" % (mkhash("c"), d0, up.url))
    check_eq(http_get(a, "/admin/", headers=[basic("carol", "c")]).status, 401, "not admin")
    r = http_get(a, "/admin/")
    check_eq(r.header("www-authenticate"), 'Basic realm="Admin", charset="UTF-8"', "realm")
    check_eq(http_get(a, "/admin/", headers=[basic("bob", "builder")]).status, 200, "bob")
    check_eq(http_get(a, "/", headers=[basic("carol", "c")]).status, 200, "site's user")
    check_eq(http_get(a, "/api/x").status, 401, "proxied block inherits the site's")
    r = http_get(a, "/api/x", headers=[basic("carol", "c")])
    check_eq(r.status, 200, "through the proxy")
    check_in(b'"/api/x"', r.body, "upstream saw the request")


@test("HTTP/2: 401 and the challenge, then 200 with credentials")
def _():
    p, a, d = start(SITE, h2c=True)
    for args, want in [([], "401"), (["-u", "alice:wonderland"], "200"),
                       (["-u", "alice:nope"], "401")]:
        out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-D", "-", "-o",
                              "/dev/null", "--max-time", str(int(20 * SLOW))] + args +
                             ["http://%s/" % a.ferry], capture_output=True,
                             timeout=20 * SLOW + 5).stdout.decode("latin-1")
        check(out.startswith("HTTP/2 %s" % want), "curl %r: %r" % (args, out[:100]))
        if want == "401":
            check_in('www-authenticate: Basic realm="Staff only", charset="UTF-8"', out,
                     "challenge over h2")


@test("reload inside the sandbox: a changed basic-auth-file is read again")
def _():
    d0 = tmpdir()
    users = os.path.join(d0, "users")
    write_file(users, "alice:%s\n" % ALICE)
    p, a, d = start("site * {\n root %%(root)s\n basic-auth R\n basic-auth-file %s\n}\n"
                    % users, sandbox=True)
    check_eq(http_get(a, "/", headers=[basic("alice", "wonderland")]).status, 200, "before")
    tmp = users + ".new"
    write_file(tmp, "alice:%s\n" % mkhash("looking-glass"))
    os.rename(tmp, users)
    p.send_signal(signal.SIGHUP)
    p.wait_stderr("SIGHUP: reloaded")
    check_not_in("reload failed", p.stderr(), "reload")
    check_eq(http_get(a, "/", headers=[basic("alice", "wonderland")]).status, 401, "old one")
    check_eq(http_get(a, "/", headers=[basic("alice", "looking-glass")]).status, 200, "new")


@test("ferry check: each misuse at its file:line:col, and never a hash in a message")
def _():
    d = tmpdir()
    write_file(os.path.join(d, "bad-users"),
               "alice:%s\nnocolon\nbo:b:%s\nmd5:$1$abc$def\nalice:%s\n  a\x01b:%s\n"
               % (ALICE, BOB, BOB, BOB))
    legacy = "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/"
    cases = [
        ("site * {\n root /tmp\n basic-auth R\n basic-auth-user al:ice %s\n}\n" % ALICE,
         "x.conf:4:18: 'basic-auth-user' takes a user name without ':'"),
        ("site * {\n root /tmp\n basic-auth R\n basic-auth-user alice %s\n}\n" % legacy,
         "x.conf:4:24: 'basic-auth-user' takes a hash of a current method, not a legacy one"),
        ("site * {\n root /tmp\n basic-auth R\n basic-auth-user alice plain\n}\n",
         "x.conf:4:24: 'basic-auth-user' takes a password hash from crypt(3)"),
        ("site * {\n root /tmp\n basic-auth-user alice %s\n}\n" % ALICE,
         "x.conf:3:2: users without 'basic-auth REALM' in this block"),
        ("site * {\n root /tmp\n basic-auth R\n}\n", "x.conf:3:2: 'basic-auth' needs users"),
        ("site * {\n root /tmp\n basic-auth off\n}\n",
         "x.conf:3:2: 'basic-auth off' is for path blocks"),
        ('site * {\n root /tmp\n basic-auth "a\\"b"\n}\n',
         "x.conf:3:13: 'basic-auth' takes a realm"),
        ("site * {\n root /tmp\n basic-auth R\n basic-auth-user a %s\n basic-auth-user a %s\n}\n"
         % (ALICE, BOB), "x.conf:5:1: user 'a' again (first at x.conf:4)"),
        ("site * {\n root /tmp\n basic-auth R\n basic-auth-file nope\n}\n",
         "x.conf:4:18: basic-auth-file %s/nope: No such file or directory" % d),
        ("site * {\n root /tmp\n basic-auth R\n basic-auth-file bad-users\n}\n",
         "bad-users:2:1: expected NAME:HASH"),
        ("site * {\n root /tmp\n basic-auth R\n basic-auth-file bad-users\n}\n",
         "bad-users:3:4: expected a password hash from crypt(3)"),  # split at the first ':'
        ("site * {\n root /tmp\n basic-auth R\n basic-auth-file bad-users\n}\n",
         "bad-users:4:5: expected a hash of a current method, not a legacy one"),
        ("site * {\n root /tmp\n basic-auth R\n basic-auth-file bad-users\n}\n",
         "bad-users:6:3: expected a user name without ':' or control characters"),
        ("site * {\n root /tmp\n basic-auth R\n basic-auth-file bad-users\n}\n",
         "bad-users:5:1: user 'alice' again (first at bad-users:1)"),
    ]
    for text, msg in cases:
        rc, out, err = run([FERRY, "check", write_config(d, text, "x.conf")])
        check(rc != 0, "exit code for %r" % text)
        check_in(msg, err.replace(d + "/x.conf", "x.conf").replace(d + "/bad-users", "bad-users"),
                 "error for %r" % text[:80])
        for h in (ALICE, BOB, legacy):
            check_not_in(h, err, "no hash in messages")
    ok = ("site * {\n root /tmp\n basic-auth R\n basic-auth-user a %s\n path /p/ {\n"
          "  basic-auth off\n }\n}\n" % ALICE)
    rc, out, err = run([FERRY, "check", write_config(d, ok, "ok.conf")])
    check_eq((rc, err), (0, ""), "a good one")


if __name__ == "__main__":
    main()
