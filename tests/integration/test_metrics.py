#!/usr/bin/env python3
"""`metrics NAME`: the listener NAME serves only GET /metrics, in the Prometheus text format:
connections, responses by status class, body bytes, reloads and the config generation; the
other listeners never serve it; `ferry check` errors at their positions."""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403

LINE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (\d+)$")


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
        vals[mm[1] + (mm[2] or "")] = int(mm[3])
    return vals


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
    v = scrape(m)
    check_eq(v['ferry_responses_total{code="2xx"}'] - v0['ferry_responses_total{code="2xx"}'],
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
