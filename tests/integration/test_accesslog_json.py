#!/usr/bin/env python3
"""`access-log ... format json`: one JSON object per line (time, client, host, method, path,
query, protocol, status, bytes, duration, upstream and its time, referer, user agent) over
HTTP/1.1 and HTTP/2, proxied or not; what a client controls escaped (quotes, backslashes,
control characters, bytes that are not UTF-8); `ferry check` errors with their positions."""
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403
from backends import *  # noqa: E402,F401,F403

KEYS = ["time", "client", "host", "method", "path", "query", "protocol", "status", "bytes",
        "duration", "upstream", "upstream_time", "referer", "user_agent"]
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def start(extra="", site=None, listen="", fdnames=None, addrs=None):
    d = tmpdir()
    log = os.path.join(d, "access.log")
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), "0123456789\n")
    if site is None:
        site = "site * {\n root %s\n}\n" % root
    cfg = listen + "access-log %s format json\n" % log + extra + site
    p, addrs = activate(addrs or (lambda: [tcp4()]), ["--config", write_config(d, cfg)],
                        fdnames=fdnames, dir=d)
    return p, addrs, d, log


def entries(log, n):
    def got():
        lines = read_file(log).decode("utf-8").splitlines()  # strict: valid UTF-8 only
        return len(lines) >= n and lines
    lines = wait_until(got, 5 * SLOW, what="%d lines in %s" % (n, log))
    check_eq(len(lines), n, "lines")
    objs = [json.loads(ln) for ln in lines]
    for o in objs:
        check_eq(list(o), KEYS, "keys in order")
    return objs


@test("HTTP/1.1: every field, with the right types; a second line on the same connection")
def _():
    p, (a,), d, log = start()
    c = HttpConn(a)
    c.send(request_bytes("/index.html?q=1&x=%22", host="Example.test",
                         headers=["Referer: http://ref.example/p", "User-Agent: t/1.0"]))
    r = c.read_response()
    check_eq(r.status, 200, "status")
    c.send(request_bytes("/nope", host="example.test", headers=["Connection: close"]))
    check_eq(c.read_response().status, 404, "second")
    c.close()
    o, o2 = entries(log, 2)
    check(ISO.match(o["time"]), "time %r" % o["time"])
    check_eq((o["client"], o["host"], o["method"], o["path"], o["query"], o["protocol"]),
             ("127.0.0.1", "Example.test", "GET", "/index.html", "q=1&x=%22", "HTTP/1.1"),
             "request")
    check_eq((o["status"], o["bytes"]), (200, 11), "status and bytes")
    check(isinstance(o["duration"], float) and 0 <= o["duration"] < 10, "duration %r"
          % o["duration"])
    check_eq((o["upstream"], o["upstream_time"]), (None, None), "no upstream")
    check_eq((o["referer"], o["user_agent"]), ("http://ref.example/p", "t/1.0"), "fields")
    check_eq((o2["path"], o2["query"], o2["status"], o2["referer"], o2["user_agent"]),
             ("/nope", None, 404, None, None), "the second request's own values")


@test("escaping: quotes, backslash, tab, bytes that are not UTF-8, valid UTF-8 kept; a "
      "request that does not parse logs nulls")
def _():
    p, (a,), d, log = start()
    ua = b'a"b\\c\td \xff\xfe \xc3\xa9 \xc0\xaf \xed\xa0\x80 }{'
    raw = (b"GET /x HTTP/1.1\r\nHost: h\r\nUser-Agent: " + ua + b"\r\n"
           b"Connection: close\r\n\r\n")
    check_eq(fetch_raw(a, raw).status, 404, "status")
    check_eq(fetch_raw(a, b"GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n").status, 400, "bad target")
    bad, o = sorted(entries(log, 2), key=lambda o: o["status"])  # 400, 404
    R = "\ufffd"
    check_eq(o["user_agent"], 'a"b\\c\td %s%s \u00e9 %s%s %s%s%s }{' % (R, R, R, R, R, R, R),
             "user agent as JSON decodes it")
    raw_line = [ln for ln in read_file(log).decode().splitlines() if "user_agent\":\"a" in ln][0]
    check_in(r'"user_agent":"a\"b\\c\td ', raw_line, "escapes as written")
    check_eq(bad["status"], 400, "bad request status")
    check_eq([bad[k] for k in ("host", "method", "path", "query", "protocol", "duration")],
             [None] * 6, "what did not parse is null")


@test("proxied: upstream and upstream_time; an upstream that refuses: 502 with the upstream")
def _():
    up = EchoBackend()
    up.start()
    on_cleanup(up.stop)
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    site = ("site * {\n proxy %s\n path /dead {\n  proxy http://127.0.0.1:%d\n }\n}\n"
            % (up.url, dead_port))
    p, (a,), d, log = start("sandbox off\n", site=site)
    check_eq(http_get(a, "/app?z=1").status, 200, "proxied")
    check_eq(http_get(a, "/dead/x").status, 502, "refused")
    o, o2 = sorted(entries(log, 2), key=lambda o: o["path"])  # two connections: any order
    check_eq((o["upstream"], o["path"], o["query"]), (up.url, "/app", "z=1"), "upstream")
    check(isinstance(o["upstream_time"], float) and 0 <= o["upstream_time"] <= o["duration"],
          "upstream_time %r within duration %r" % (o["upstream_time"], o["duration"]))
    check_eq((o2["status"], o2["upstream"], o2["upstream_time"]),
             (502, "http://127.0.0.1:%d" % dead_port, None), "refused upstream")


@test("HTTP/2 (h2c): protocol HTTP/2.0, :authority as host, a line per stream")
def _():
    p, (a,), d, log = start(listen="listen h2 h2c\n", fdnames=["h2"])
    out = subprocess.run(["nghttp", "-n", "-H", 'user-agent: "q"',
                          "http://%s/index.html?a=b" % a.ferry, "http://%s/missing" % a.ferry],
                         capture_output=True, timeout=30 * SLOW)
    check_eq(out.returncode, 0, "nghttp (one connection, two streams)")
    objs = sorted(entries(log, 2), key=lambda o: o["path"])
    o, o2 = objs
    check_eq((o["protocol"], o["host"], o["path"], o["query"], o["status"], o["bytes"]),
             ("HTTP/2.0", a.ferry, "/index.html", "a=b", 200, 11), "first stream")
    check_eq(o["user_agent"], '"q"', "user agent")
    check(isinstance(o["duration"], float), "duration")
    check_eq((o2["path"], o2["status"]), ("/missing", 404), "second stream")


@test("ferry check: a bad format, a misspelt keyword, a format without its value, off with "
      "a format: each at its line and column")
def _():
    d = tmpdir()
    for text, msg in [
        ("access-log /tmp/a.log format yaml\n",
         "x.conf:1:30: unknown access-log format 'yaml' (combined or json)"),
        ("\naccess-log stderr frmat json\n",
         "x.conf:2:19: 'access-log' takes 'format' after the destination, not 'frmat'"),
        ("access-log /tmp/a.log format\n", "x.conf:1:23: 'format' takes combined or json"),
        ("access-log off format json\n", "x.conf:1:16: 'access-log off' takes no format"),
        ("access-log /tmp/a.log format json json\n", "x.conf:1:1: 'access-log' takes"),
        ("access-log rel.log format json\n",
         "x.conf:1:12: 'access-log' takes off, stderr or an absolute path, not 'rel.log'"),
    ]:
        rc, out, err = run([FERRY, "check", write_config(d, text, "x.conf")])
        check_eq(rc != 0, True, "exit code for %r" % text)
        check_in(msg, err.replace(d + "/", ""), "error for %r" % text)
    for good in ("access-log stderr format json\n", "access-log /tmp/a.log format combined\n"):
        rc, out, err = run([FERRY, "check", write_config(d, good, "ok.conf")])
        check_eq((rc, err), (0, ""), "check of %r" % good)


if __name__ == "__main__":
    main()
