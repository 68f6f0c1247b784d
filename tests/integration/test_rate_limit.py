#!/usr/bin/env python3
"""rate-limit N/s|N/m burst M: a token bucket per client address and block, shared by the
workers; 429 with Retry-After; refill; another address has its own bucket; a path block with
its own limit or none; HTTP/2; before basic-auth; `ferry check` errors with positions."""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403


def start(site, extra="", h2c=False):
    d = tmpdir()
    root = os.path.join(d, "www")
    for f in ("index.html", "free/index.html", "tight/index.html"):
        write_file(os.path.join(root, f), "<p>%s</p>\n" % f)
    cfg = ("listen h2 h2c\n" if h2c else "") + "access-log off\n" + extra
    cfg += site % {"root": root}
    if h2c:
        p, addrs = activate(lambda: [tcp4()], ["--config", write_config(d, cfg)],
                            fdnames=["h2"], dir=d)
    else:
        p, addrs = start_bound(lambda: [tcp4()], ["--config", write_config(d, cfg)], dir=d)
    return p, addrs[0], d


def get_from(a, source, path="/"):
    """One request on a new connection from this source address."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(10 * SLOW)
    s.connect(a.sockaddr)
    c = HttpConn(a, sock=s)
    try:
        c.send(request_bytes(path, headers=["Connection: close"]))
        return c.read_response()
    finally:
        c.close()


@test("burst then 429 with Retry-After; another address has its own bucket; a path block "
      "with rate-limit off is free, one with its own limit counts apart")
def _():
    p, a, d = start("""site * {
 root %(root)s
 rate-limit 1/m burst 3
 path /free/ {
  rate-limit off
 }
 path /tight/ {
  rate-limit 1/m burst 1
 }
}
""")
    got = [http_get(a, "/").status for _ in range(3)]
    check_eq(got, [200, 200, 200], "the burst")
    r = http_get(a, "/")
    check_eq(r.status, 429, "past the burst")
    ra = r.header("retry-after")
    check(ra is not None and ra.isdigit() and 1 <= int(ra) <= 60, "Retry-After %r" % ra)
    check_eq([http_get(a, "/free/").status for _ in range(5)], [200] * 5, "rate-limit off")
    check_eq([http_get(a, "/tight/").status for _ in range(2)], [200, 429], "its own bucket")
    check_eq(get_from(a, "127.0.0.2").status, 200, "another client address")
    check_eq(http_get(a, "/").status, 429, "the first one still limited")
    # a keep-alive connection stays open after a 429
    c = HttpConn(a)
    c.send(request_bytes("/"))
    check_eq(c.read_response().status, 429, "on a keep-alive connection")
    c.send(request_bytes("/free/"))
    check_eq(c.read_response().status, 200, "and the next request on it")
    c.close()


@test("refill: 2/s burst 1 lets one request through about every 500 ms")
def _():
    p, a, d = start("site * {\n root %(root)s\n rate-limit 2/s burst 1\n}\n")
    c = HttpConn(a)
    c.send(request_bytes("/"))
    check_eq(c.read_response().status, 200, "first")
    t0 = time.monotonic()
    c.send(request_bytes("/"))
    r = c.read_response()
    if time.monotonic() - t0 < 0.4:  # (a very slow machine may have refilled already)
        check_eq((r.status, r.header("retry-after")), (429, "1"), "at once")

    def ok():
        c.send(request_bytes("/"))
        return c.read_response().status == 200
    wait_until(ok, 5 * SLOW, interval=0.1, what="a token again")
    c.close()


@test("the bucket is shared by the workers: 12 connections, 3 workers (whichever takes each), "
      "burst 5 -> exactly 5 served")
def _():
    p, a, d = start("site * {\n root %(root)s\n rate-limit 1/m burst 5\n}\n", "workers 3\n")
    conns = [HttpConn(a) for _ in range(12)]
    for c in conns:
        c.send(request_bytes("/", headers=["Connection: close"]))
    statuses = sorted(c.read_response().status for c in conns)
    for c in conns:
        c.close()
    check_eq(statuses, [200] * 5 + [429] * 7, "statuses")


@test("HTTP/2: each stream takes a token; rate-limit comes before basic-auth")
def _():
    p, a, d = start("site * {\n root %(root)s\n rate-limit 1/m burst 2\n}\n", h2c=True)
    out = subprocess.run(["nghttp", "-n", "-v", "http://%s/" % a.ferry,
                          "http://%s/index.html" % a.ferry, "http://%s/x" % a.ferry],
                         capture_output=True, timeout=20 * SLOW).stdout.decode()
    st = re.findall(r":status: (\d+)", out)
    check_eq(sorted(st), ["200", "200", "429"], "statuses of three streams (%r)" % st)
    check_in("retry-after:", out, "Retry-After over h2")
    # before basic-auth: a limited client gets 429, not a 401 that cost a hash
    p, a, d = start("site * {\n root %(root)s\n rate-limit 1/m burst 1\n basic-auth R\n"
                    " basic-auth-user u $y$j9T$cZ2Ga1QdMduxNI2hsXZYo.$PzBPM7P8XacPWWeUtAmjAhUEufGhgij.TcFe5x1Z0J8\n}\n")
    check_eq([http_get(a, "/").status for _ in range(2)], [401, 429], "401 then 429")


@test("ferry check: each misuse at its line and column")
def _():
    d = tmpdir()
    for body, msg in [
        (" rate-limit 10/h burst 5\n", "x.conf:3:13: 'rate-limit' takes N/s or N/m"),
        (" rate-limit 0/s burst 5\n", "x.conf:3:13: 'rate-limit' takes N/s or N/m"),
        (" rate-limit ten/s burst 5\n", "x.conf:3:13: 'rate-limit' takes N/s or N/m"),
        (" rate-limit 10/s\n", "x.conf:3:13: 'rate-limit 10/s' takes 'burst M' after it"),
        (" rate-limit 10/s bust 5\n", "x.conf:3:18: 'rate-limit 10/s' takes 'burst M'"),
        (" rate-limit 10/s burst 0\n", "x.conf:3:24: 'burst' takes a count from 1 to 1000000"),
        (" rate-limit 10/s burst 2000000\n", "x.conf:3:24: 'burst' takes a count"),
        (" rate-limit off\n", "x.conf:3:13: 'rate-limit off' is for path blocks"),
        (" rate-limit 1/s burst 1\n rate-limit 2/s burst 2\n",
         "x.conf:4:2: duplicate 'rate-limit'"),
        (" path /a/ {\n  rate-limit off now\n }\n",
         "x.conf:4:18: 'rate-limit off' takes nothing more"),
    ]:
        text = "site * {\n root /tmp\n" + body + "}\n"
        rc, out, err = run([FERRY, "check", write_config(d, text, "x.conf")])
        check(rc != 0, "exit code for %r" % body)
        check_in(msg, err.replace(d + "/", ""), "error for %r" % body)
    rc, out, err = run([FERRY, "check", write_config(d, "site * {\n root /tmp\n rate-limit "
                                                     "100/s burst 200\n path /a/ {\n  "
                                                     "rate-limit 5/m burst 1\n }\n}\n", "ok.conf")])
    check_eq((rc, err), (0, ""), "a good one")


if __name__ == "__main__":
    main()
