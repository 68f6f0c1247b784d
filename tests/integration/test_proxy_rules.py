#!/usr/bin/env python3
"""The proxy's per-block rules: proxy-strip-prefix (a path block's prefix removed from what
the upstream sees, like Caddy's handle_path), proxy-header-up and proxy-header-down (fields
set or removed toward the upstream and back; Host may be set; the hop-by-hop, framing and
forwarding fields ferry owns may not be named), over HTTP/1.1 and HTTP/2; and the `ferry
check` errors, at their line and column."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403
from backends import *  # noqa: E402,F401,F403


def backend(b):
    b.start()
    on_cleanup(b.stop)
    return b


def proxy(config, h2c=False):
    d = tmpdir()
    cfg = ("listen h2 h2c\n" if h2c else "") + "sandbox off\naccess-log off\n" + config
    if h2c:
        p, addrs = activate(lambda: [tcp4()], ["--config", write_config(d, cfg)],
                            fdnames=["h2"], dir=d)
    else:
        p, addrs = start_bound(lambda: [tcp4()], ["--config", write_config(d, cfg)], dir=d)
    return p, addrs[0]


def seen(r):
    """What the echo backend saw: (target, {lower-case name: [values]})."""
    check_eq(r.status, 200, "status (body %r)" % r.body[:300])
    j = json.loads(r.body)
    hdrs = {}
    for k, v in j["headers"]:
        hdrs.setdefault(k.lower(), []).append(v)
    return j["target"], hdrs


def curl_h2(a, path, *args):
    argv = ["curl", "-s", "--http2-prior-knowledge", "-D", "-", "-o", "-", "--max-time",
            str(int(20 * SLOW))] + list(args) + ["http://%s%s" % (a.ferry, path)]
    out = subprocess.run(argv, capture_output=True, timeout=20 * SLOW + 5)
    check_eq(out.returncode, 0, "curl rc (stderr %r)" % out.stderr[-300:])
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    check(lines[0].startswith("HTTP/2 "), "HTTP/2: %r" % lines[0])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs.setdefault(k.strip().lower(), []).append(v.strip())
    return int(lines[0].split()[1]), hdrs, body


STRIP_SITE = """site * {
 proxy %(up)s
 path /api/ {
  proxy %(up)s
  proxy-strip-prefix
 }
 path /v1 {
  proxy %(up)s
  proxy-strip-prefix
 }
 path /keep/ {
  proxy %(up)s
 }
}
"""


@test("proxy-strip-prefix: /api/x?q -> /x?q, the prefix alone -> /, dot segments and "
      "escapes normalized first, blocks without it and the site unchanged")
def _():
    up = backend(EchoBackend())
    p, a = proxy(STRIP_SITE % {"up": up.url})
    for path, want in [
        ("/api/users/7?full=1&x=%2F", "/users/7?full=1&x=%2F"),
        ("/api/", "/"),
        ("/api/a/../b/./c", "/b/c"),
        ("/%61pi/x", "/x"),                       # %61 = 'a': it is in the block
        ("/api/sp%20ace/%25/caf%C3%A9", "/sp%20ace/%25/caf%C3%A9"),  # encoded again
        ("/v1", "/"),
        ("/v1/items", "/items"),
        ("/v1x", "/x"),                            # a byte prefix, as path blocks match
        ("/keep/x?y", "/keep/x?y"),                # no strip in that block
        ("/other?z", "/other?z"),                  # the site's proxy: as sent
    ]:
        target, _ = seen(http_get(a, path))
        check_eq(target, want, "upstream target for %s" % path)


@test("proxy-header-up: set, replace what the client sent, remove; Host set; "
      "X-Forwarded-For still ferry's")
def _():
    up = backend(EchoBackend())
    p, a = proxy("""site * {
 proxy %s
 proxy-header-up X-Env prod
 proxy-header-up X-Client-Set "from ferry"
 proxy-header-up -Cookie
 proxy-header-up Host internal.example
}
""" % up.url)
    target, h = seen(http_get(a, "/p", host="public.example",
                              headers=["Cookie: a=1", "X-Client-Set: evil", "X-Client-Set: e2",
                                       "X-Other: kept"]))
    check_eq(h.get("x-env"), ["prod"], "added")
    check_eq(h.get("x-client-set"), ["from ferry"], "replaced (both client values gone)")
    check("cookie" not in h, "removed: %r" % h.get("cookie"))
    check_eq(h.get("host"), ["internal.example"], "Host set")
    check_eq(h.get("x-forwarded-host"), ["public.example"], "X-Forwarded-Host: what the "
             "client asked for")
    check_eq(h.get("x-forwarded-for"), ["127.0.0.1"], "X-Forwarded-For")
    check_eq(h.get("x-other"), ["kept"], "other fields pass")


@test("proxy-header-down: set, replace the upstream's, remove; not on interim responses")
def _():
    up = backend(EchoBackend(extra_headers=[("X-Powered-By", "PHP/5"), ("Server", "Apache"),
                                            ("Cache-Control", "no-store"),
                                            ("X-Frame-Options", "ALLOW")]))
    p, a = proxy("""site * {
 proxy %s
 proxy-header-down -X-Powered-By
 proxy-header-down -Server
 proxy-header-down Cache-Control "public, max-age=60"
 proxy-header-down X-Frame-Options DENY
 proxy-header-down Strict-Transport-Security max-age=1
}
""" % up.url)
    r = http_get(a, "/")
    check_eq(r.status, 200, "status")
    check_eq(r.header("x-powered-by"), None, "X-Powered-By removed")
    check_eq(r.header("server"), None, "Server removed (not replaced by ferry's)")
    check_eq(r.header_all("cache-control"), ["public, max-age=60"], "Cache-Control replaced")
    check_eq(r.header_all("x-frame-options"), ["DENY"], "X-Frame-Options replaced")
    check_eq(r.header("strict-transport-security"), "max-age=1", "added")
    check_eq(r.header("content-type"), "application/json", "the rest passes")
    # 100-continue: the interim response passes as it is, the final one is changed
    c = HttpConn(a)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n"
           b"Connection: close\r\n\r\nabc")
    r1 = c.read_response()
    if r1.status == 100:
        check_eq(r1.header("x-frame-options"), None, "nothing added to the 100")
        r1 = c.read_response()
    check_eq((r1.status, r1.header("x-frame-options")), (200, "DENY"), "final response")
    c.close()


@test("HTTP/2: strip-prefix, header-up and header-down as over HTTP/1.1")
def _():
    up = backend(EchoBackend(extra_headers=[("X-Powered-By", "PHP/5")]))
    p, a = proxy("""site * {
 path /api/ {
  proxy %s
  proxy-strip-prefix
  proxy-header-up X-Env prod
  proxy-header-up -Cookie
  proxy-header-down -X-Powered-By
  proxy-header-down X-Frame-Options DENY
 }
}
""" % up.url, h2c=True)
    st, hdrs, body = curl_h2(a, "/api/v/../w?q=1", "--path-as-is", "-H", "Cookie: s=1")
    check_eq(st, 200, "status")
    j = json.loads(body)
    got = {k.lower(): v for k, v in j["headers"]}
    check_eq(j["target"], "/w?q=1", "target upstream")
    check_eq((got.get("x-env"), "cookie" in got), ("prod", False), "fields upstream")
    check_eq(hdrs.get("x-powered-by"), None, "removed on the way back")
    check_eq(hdrs.get("x-frame-options"), ["DENY"], "set on the way back")


@test("ferry check: owned fields, bad names and values, misplaced directives, at line:col")
def _():
    d = tmpdir()
    head = "site * {\n proxy http://127.0.0.1:9\n"
    for body, msg in [
        (" proxy-header-up X-Forwarded-For 1.2.3.4\n",
         "x.conf:3:18: 'proxy-header-up' cannot change X-Forwarded-For: ferry writes it itself"),
        (" proxy-header-up -Connection\n",
         "x.conf:3:18: 'proxy-header-up' cannot change -Connection"),
        (" proxy-header-up Content-Length 5\n", "x.conf:3:18: 'proxy-header-up' cannot change"),
        (" proxy-header-up Forwarded x\n", "x.conf:3:18: 'proxy-header-up' cannot change"),
        (" proxy-header-down Transfer-Encoding chunked\n",
         "x.conf:3:20: 'proxy-header-down' cannot change Transfer-Encoding"),
        (" proxy-header-down -Content-Length\n", "x.conf:3:20: 'proxy-header-down' cannot"),
        (" proxy-header-up -Host\n", "x.conf:3:18: 'proxy-header-up -Host': an HTTP/1.1"),
        (" proxy-header-up Bad:Name v\n",
         "x.conf:3:18: 'proxy-header-up' takes a field name (a token), not 'Bad:Name'"),
        (" proxy-header-up X-A\n", "x.conf:3:18: 'proxy-header-up NAME' takes a value"),
        (" proxy-header-up -X-A v\n", "x.conf:3:18: 'proxy-header-up -NAME' removes a field"),
        (' proxy-header-up X-A " v"\n', "x.conf:3:22: invalid field value for X-A"),
        (" proxy-header-up X-A 1\n proxy-header-up x-a 2\n",
         "x.conf:4:18: 'proxy-header-up' for x-a again in this block"),
        (" proxy-strip-prefix\n",
         "x.conf:3:2: 'proxy-strip-prefix' is not allowed inside a site block"),
        (" path /a/ {\n  proxy-strip-prefix\n }\n",
         "x.conf:4:3: 'proxy-strip-prefix' without 'proxy' in this block"),
        (" path /a/ {\n  proxy http://127.0.0.1:9\n  proxy-strip-prefix now\n }\n",
         "x.conf:5:3: 'proxy-strip-prefix' takes no arguments"),
    ]:
        rc, out, err = run([FERRY, "check", write_config(d, head + body + "}\n", "x.conf")])
        check(rc != 0, "exit code for %r" % body)
        check_in(msg, err.replace(d + "/", ""), "error for %r" % body)
    rc, out, err = run([FERRY, "check", write_config(d, "site * {\n root /tmp\n "
                                                     "proxy-header-down X-A b\n}\n", "y.conf")])
    check_in("y.conf:3:2: 'proxy-header-down' without 'proxy' in this block", err, "lone")
    ok = head + (' proxy-header-up Host "a.example"\n proxy-header-down -Server\n'
                 ' path /api/ {\n  proxy http://127.0.0.1:9\n  proxy-strip-prefix\n }\n}\n')
    rc, out, err = run([FERRY, "check", write_config(d, ok, "ok.conf")])
    check_eq((rc, err), (0, ""), "a good one")


if __name__ == "__main__":
    main()
