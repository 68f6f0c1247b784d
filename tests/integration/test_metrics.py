#!/usr/bin/env python3
"""`metrics NAME`: the listener NAME serves only GET /metrics, in the Prometheus text format:
connections, responses by status class and by site, body bytes, upstream health and response
time histograms, reloads and the config generation; series keyed by name across reloads, at
most 62 sites (then site="other"); the other listeners never serve it; `ferry check` errors
at their positions."""
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403
from backends import *  # noqa: E402,F401,F403

# a sample: name, labels (values escaped: \\ \" \n), a value (integer, or a sum in seconds)
LINE = re.compile(r'^([a-z_]+)(\{(?:[a-z_]+="(?:[^"\\\n]|\\[\\"n])*",?)*\})? (\d+(?:\.\d+)?)$')


def scrape(m):
    r = http_get(m, "/metrics")
    check_eq(r.status, 200, "status")
    check_eq(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8", "type")
    vals = {}
    for ln in r.body.decode().splitlines():
        if ln.startswith("#"):
            check(re.match(r"^# (HELP|TYPE) [a-z_]+ ", ln), "comment line %r" % ln)
            continue
        mm = LINE.match(ln)
        check(mm, "sample line %r" % ln)
        vals[mm[1] + (mm[2] or "")] = float(mm[3]) if "." in mm[3] else int(mm[3])
    return vals


def backend(b):
    b.start()
    on_cleanup(b.stop)
    return b


def settle(m, want, what):
    """The page once want(page) holds: a response is counted when its exchange ends, which
    may be just after its last byte reached the client."""
    return wait_until(lambda: (lambda v: want(v) and v)(scrape(m)), 5 * SLOW, what=what)


def site(v, name, code):
    return v.get('ferry_site_responses_total{site="%s",code="%s"}' % (name, code))


def check_histogram(v, up, count):
    """The upstream's histogram: cumulative buckets in order, +Inf equal to _count."""
    key = 'ferry_upstream_response_seconds_bucket{upstream="%s",le="%s"}'
    les = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
    buckets = [v.get(key % (up, le)) for le in les]
    check(None not in buckets, "every bucket of %s: %r" % (up, buckets))
    check_eq(buckets, sorted(buckets), "buckets of %s monotonic" % up)
    check_eq(buckets[-1], v['ferry_upstream_response_seconds_count{upstream="%s"}' % up],
             "+Inf is the count")
    check_eq(v['ferry_upstream_response_seconds_count{upstream="%s"}' % up], count,
             "responses timed for %s" % up)


@test("metrics on its own listener: responses by class, bytes, connections, reloads, "
      "generation; the site's listener does not serve /metrics, the metrics one nothing else")
def _():
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), "0123456789\n")
    cfg = ("listen http\nlisten metrics\nmetrics metrics\nworkers 2\naccess-log off\n"
           "site * {\n root %s\n}\n" % root)
    path = write_config(d, cfg)
    p, (a, m) = activate(lambda: [tcp4(), tcp4()], ["--config", path],
                         fdnames=["http", "metrics"], dir=d)
    v0 = scrape(m)
    check_eq(v0.get("ferry_workers"), 2, "workers")
    for _ in range(3):
        check_eq(http_get(a, "/").status, 200, "page")
    check_eq(http_get(a, "/nope").status, 404, "404")
    check_eq(http_get(a, "/metrics").status, 404, "no metrics on the site's listener")
    check_eq(http_get(m, "/").status, 404, "only /metrics on the metrics listener")
    check_eq(http_get(m, "/metrics", method="POST").status, 405, "POST")
    v = settle(m, lambda v_: (site(v_, "*", "2xx"), site(v_, "*", "4xx"), site(v_, "", "4xx"))
               == (3, 2, 2), "the responses counted")
    check(v['ferry_responses_total{code="2xx"}'] - v0['ferry_responses_total{code="2xx"}'] >=
          3 + 1, "2xx: three pages and the first scrape")
    check_eq(v['ferry_responses_total{code="4xx"}'] - v0['ferry_responses_total{code="4xx"}'],
             4, "4xx")
    check(v["ferry_response_body_bytes_total"] - v0["ferry_response_body_bytes_total"] >= 33,
          "bytes")
    check(v["ferry_connections_accepted_total"] >= 8, "accepted")
    check(v["ferry_connections_active"] >= 1, "the scrape's own connection")
    check_eq(v['ferry_reloads_total{result="ok"}'], 0, "no reload yet")
    gen = v["ferry_config_generation"]
    p.send_signal(signal.SIGHUP)
    p.wait_stderr("SIGHUP: reloaded")
    v2 = wait_until(lambda: (lambda s: s['ferry_reloads_total{result="ok"}'] == 1 and s)(scrape(m)),
                    5 * SLOW, what="the reload counted")
    check(v2["ferry_config_generation"] > gen, "a new generation")
    write_file(path, cfg + "bogus\n")
    p.send_signal(signal.SIGHUP)
    p.wait_stderr("reload failed")
    v3 = wait_until(lambda: (lambda s: s['ferry_reloads_total{result="failed"}'] == 1 and s)(
        scrape(m)), 5 * SLOW, what="the failed reload counted")
    check_eq(v3["ferry_config_generation"], v2["ferry_config_generation"], "generation kept")


@test("by site and upstream: two sites and a proxied one, a down upstream shows 0, histogram "
      "buckets; a reload keeps each site's series by name")
def _():
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), "0123456789\n")
    up = backend(EchoBackend())
    dead = "http://127.0.0.1:%d" % free_port()
    sites = ("site a.test {\n root %s\n}\nsite b.test b2.test {\n proxy %s\n}\n"
             "site c.test {\n proxy %s\n}\n" % (root, up.url, dead))
    head = "listen http\nlisten metrics\nmetrics metrics\nworkers 2\naccess-log off\nsandbox off\n"
    path = write_config(d, head + sites)
    p, (a, m) = activate(lambda: [tcp4(), tcp4()], ["--config", path],
                         fdnames=["http", "metrics"], dir=d)
    v0 = scrape(m)
    for s_ in ("a.test", "b.test", "c.test", ""):
        check_eq(site(v0, s_, "2xx"), 0, "2xx of %r at start" % s_)
    check_eq(v0.get('ferry_upstream_up{upstream="%s"}' % up.url), 1, "live upstream listed")
    check_eq(v0.get('ferry_upstream_up{upstream="%s"}' % dead), 1, "not tried yet: up")
    for _ in range(3):
        check_eq(http_get(a, "/", host="a.test").status, 200, "a.test")
    check_eq(http_get(a, "/nope", host="a.test").status, 404, "a.test 404")
    proxied = 0
    for i in range(5):
        r = http_get(a, "/x%d" % i, host="b2.test")  # the site's second name
        check_eq(r.status, 200, "proxied")
        proxied += len(r.body)
    check_eq(http_get(a, "/", host="nope.test").status, 421, "no site")

    settle(m, lambda v_: (site(v_, "a.test", "4xx"), site(v_, "b.test", "2xx")) == (1, 5),
           "a.test's and b.test's responses counted")

    def down():
        check_eq(http_get(a, "/", host="c.test").status, 502, "refused upstream")
        v_ = scrape(m)  # within its 2 s down time, unless this machine stalled: again
        return v_ if v_['ferry_upstream_up{upstream="%s"}' % dead] == 0 else None
    v = wait_until(down, 20 * SLOW, interval=0.05, what="the refused upstream down")
    check_eq(v['ferry_upstream_up{upstream="%s"}' % up.url], 1, "the live one up")
    check_eq((site(v, "a.test", "2xx"), site(v, "a.test", "4xx")), (3, 1), "a.test")
    check_eq(v['ferry_site_response_body_bytes_total{site="a.test"}'] >= 33, True, "a's bytes")
    check_eq(site(v, "b.test", "2xx"), 5, "b.test under its first name")
    check_eq(v['ferry_site_response_body_bytes_total{site="b.test"}'], proxied, "b's bytes")
    check(site(v, "c.test", "5xx") >= 1, "c.test 502s")
    check_eq(site(v, "", "4xx"), 1, "the 421 under site=\"\"")
    check(site(v, "", "2xx") >= 1, "the scrapes under site=\"\"")
    check("b2.test" not in str(list(v)), "one series per site, under its first name")
    check_histogram(v, up.url, 5)
    check_histogram(v, dead, 0)
    check(v['ferry_upstream_response_seconds_sum{upstream="%s"}' % up.url] > 0, "sum")
    check(sum(site(v, s_, c) for s_ in ("", "a.test", "b.test", "c.test")
              for c in ("1xx", "2xx", "3xx", "4xx", "5xx")) <=
          v['ferry_responses_total{code="2xx"}'] + v['ferry_responses_total{code="4xx"}'] +
          v['ferry_responses_total{code="5xx"}'], "sites add up to no more than all")

    # A reload: c.test gone, d.test new, b.test first: each keeps its own series.
    write_file(path, head + "site d.test {\n root %s\n}\nsite b.test {\n proxy %s\n}\n"
               "site a.test {\n root %s\n}\n" % (root, up.url, root))
    p.send_signal(signal.SIGHUP)
    v2 = wait_until(lambda: (lambda s_: s_['ferry_reloads_total{result="ok"}'] == 1 and s_)(
        scrape(m)), 5 * SLOW, what="the reload counted")
    for k, x in v.items():
        if 'site=""' in k:  # the scrapes themselves
            check(v2.get(k) >= x, "kept across the reload: %s" % k)
        elif "site=" in k or "upstream_response" in k:
            check_eq(v2.get(k), x, "kept across the reload: %s" % k)
    check_eq(site(v2, "d.test", "2xx"), 0, "a new site, from 0")
    check_eq(http_get(a, "/", host="d.test").status, 200, "d.test")
    check_eq(http_get(a, "/", host="a.test").status, 200, "a.test again")
    check_eq(http_get(a, "/y", host="b.test").status, 200, "b.test again")
    check_eq(http_get(a, "/", host="c.test").status, 421, "c.test gone")
    v3 = settle(m, lambda v_: site(v_, "b.test", "2xx") == 6, "b.test counted")
    check_eq((site(v3, "a.test", "2xx"), site(v3, "b.test", "2xx"), site(v3, "d.test", "2xx")),
             (4, 6, 1), "counted on, each under its own name")
    check_eq(site(v3, "c.test", "5xx"), site(v, "c.test", "5xx"), "a removed site keeps its count")
    check_histogram(v3, up.url, 6)


@test("series bounded: sites past the 62nd named are counted as site=\"other\"; label values "
      "escaped")
def _():
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), "x\n")
    sock = os.path.join(d, 'q"b\\s.sock')
    cfg = "listen http\nlisten metrics\nmetrics metrics\naccess-log off\nsandbox off\n"
    cfg += "".join("site s%d.test {\n root %s\n}\n" % (i, root) for i in range(70))
    cfg += 'site u.test {\n proxy "unix:%s"\n}\n' % sock.replace("\\", "\\\\").replace('"', '\\"')
    p, (a, m) = activate(lambda: [tcp4(), tcp4()], ["--config", write_config(d, cfg)],
                         fdnames=["http", "metrics"], dir=d)
    for i in (0, 61, 62, 69):
        check_eq(http_get(a, "/", host="s%d.test" % i).status, 200, "s%d" % i)
    v = scrape(m)
    check_eq(site(v, "s0.test", "2xx"), 1, "the first")
    check_eq(site(v, "s60.test", "2xx"), 0, "a named one")
    check_eq(site(v, "s61.test", "2xx"), 1, "the 62nd name")
    check_eq(site(v, "s62.test", "2xx"), None, "past the names")
    check_eq(site(v, "other", "2xx"), 2, "s62 and s69 as other")
    names = set(re.findall(r'site="((?:[^"\\]|\\.)*)"', "\n".join(v)))
    check_eq(len(names), 64, "\"\", 62 names and other")
    check_in('ferry_upstream_up{upstream="unix:%s"}' % sock.replace("\\", "\\\\").replace(
        '"', '\\"'), "\n".join(v), "escaped upstream label")


@test("HTTP/2 streams are counted by site too (h2c, one connection, two streams)")
def _():
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), "0123456789\n")
    cfg = ("listen h2 h2c\nlisten metrics\nmetrics metrics\naccess-log off\n"
           "site * {\n root %s\n}\n" % root)
    p, (a, m) = activate(lambda: [tcp4(), tcp4()], ["--config", write_config(d, cfg)],
                         fdnames=["h2", "metrics"], dir=d)
    out = subprocess.run(["nghttp", "-n", "http://%s/index.html" % a.ferry,
                          "http://%s/missing" % a.ferry], capture_output=True, timeout=30 * SLOW)
    check_eq(out.returncode, 0, "nghttp")
    v = settle(m, lambda v_: site(v_, "*", "4xx") == 1, "the h2 streams counted")
    check_eq((site(v, "*", "2xx"), v['ferry_site_response_body_bytes_total{site="*"}'] >= 11),
             (1, True), "the default site, by its name")


@test("ferry check: metrics naming no listen line, or an h2c one, at its position")
def _():
    d = tmpdir()
    for text, msg in [
        ("listen http\nmetrics stats\n",
         "x.conf:2:1: 'metrics stats': no 'listen stats' line names these sockets"),
        ("listen stats h2c\nmetrics stats\n",
         "x.conf:2:1: 'metrics stats': the metrics page is served over HTTP/1.1"),
        ("metrics a\nmetrics b\n", "x.conf:2:1: duplicate 'metrics'"),
    ]:
        rc, out, err = run([FERRY, "check", write_config(d, text, "x.conf")])
        check(rc != 0, "exit code for %r" % text)
        check_in(msg, err.replace(d + "/", ""), "error for %r" % text)
    rc, out, err = run([FERRY, "check", write_config(d, "listen 127.0.0.1:9100\nmetrics "
                                                     "127.0.0.1:9100\n", "ok.conf")])
    check_eq((rc, err), (0, ""), "an address")


if __name__ == "__main__":
    main()
