#!/usr/bin/env python3
"""The proxy's resolver against test nameservers, with a resolv.conf and a hosts file of the
test's own (the FERRY_INSECURE_TEST_RESOLV_CONF / _HOSTS hooks): search domains and ndots in
glibc's order, several nameservers with a silent or closed one first (needs to bind port 53
on 127.0.0.x, else skipped), the hosts file read again after an edit, a reload that changes
`resolver`, and truncated answers."""
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403
from backends import *  # noqa: E402,F401,F403


def dns_server(**kw):
    d = DnsServer(**kw)
    on_cleanup(d.stop)
    return d


def dns_server_53(host, **kw):
    """A nameserver on host:53, as resolv.conf can only name port 53; Skip if not allowed."""
    try:
        return dns_server(host=host, port=53, **kw)
    except OSError as e:
        raise Skip("cannot bind %s:53 (%s)" % (host, e.strerror))


def backend(b):
    b.start()
    on_cleanup(b.stop)
    return b


def proxy(config, resolv_conf="", hosts="", d=None):
    """ferry with this config, reading resolv_conf and hosts (texts) instead of /etc's."""
    d = d or tmpdir()
    env = {
        "FERRY_INSECURE_TEST_RESOLV_CONF": write_file(os.path.join(d, "resolv.conf"),
                                                      resolv_conf),
        "FERRY_INSECURE_TEST_HOSTS": write_file(os.path.join(d, "hosts"), hosts),
    }
    # One worker: each worker has a resolver of its own (and its own server preference).
    cfg = "sandbox off\naccess-log off\nworkers 1\n" + config
    p, (a,) = start_bound(lambda: [tcp4()], ["--config", write_config(d, cfg)], dir=d, env=env)
    return p, a, d


def get(a, timeout=5):
    return http_get(a, "/", host="a.test", timeout=timeout)


def site(upstream):
    return "site * {\n proxy http://%s\n}\n" % upstream


@test("search: a short name is asked with the search domain first, and found there")
def _():
    dns = dns_server(names={"backend.test.internal": "127.0.0.2"})
    b = backend(EchoBackend(host="127.0.0.2", extra_headers=[("X-Which", "search")]))
    p, a, _d = proxy("resolver 127.0.0.1:%d\n" % dns.port + site("backend:%d" % b.port),
                     resolv_conf="search test.internal\n")
    r = get(a)
    check_eq(r.status, 200, "status")
    check_eq(r.header("x-which"), "search", "backend reached")
    check_eq(dns.asked(), ["backend.test.internal"], "A queries")
    check_in("a test hook", p.stderr(), "the hook says so in the log")


@test("search: without the search line the same short name is asked alone, and fails")
def _():
    dns = dns_server(names={"backend.test.internal": "127.0.0.2"})
    b = backend(EchoBackend(host="127.0.0.2"))
    p, a, _d = proxy("resolver 127.0.0.1:%d\n" % dns.port + site("backend:%d" % b.port))
    check_eq(get(a).status, 502, "status")
    check_eq(dns.asked(), ["backend"], "A queries")


@test("ndots: a name with fewer dots than ndots tries the search domains first; "
      "with as many, itself first")
def _():
    names = {"app.internal": "127.0.0.3", "app.internal.test.internal": "127.0.0.2"}
    b2 = backend(EchoBackend(host="127.0.0.2", extra_headers=[("X-Which", "suffixed")]))
    backend(EchoBackend(host="127.0.0.3", port=b2.port, extra_headers=[("X-Which", "as-is")]))
    for ndots, want, asked in (("2", "suffixed", ["app.internal.test.internal"]),
                               ("1", "as-is", ["app.internal"])):
        dns = dns_server(names=names)
        p, a, _d = proxy("resolver 127.0.0.1:%d\n" % dns.port + site("app.internal:%d" % b2.port),
                         resolv_conf="search test.internal\noptions ndots:%s\n" % ndots)
        check_eq(get(a).header("x-which"), want, "ndots:%s" % ndots)
        check_eq(dns.asked(), asked, "ndots:%s: A queries" % ndots)
        p.stop()


@test("nameservers: a silent first nameserver costs one timeout, then the next one answers "
      "and is asked first from then on")
def _():
    silent = dns_server_53("127.0.0.27", mode="silent")
    live = dns_server_53("127.0.0.26", names={"app.rot": "127.0.0.2"})
    b = backend(EchoBackend(host="127.0.0.2"))
    p, a, _d = proxy(site("app.rot:%d" % b.port),
                     resolv_conf="nameserver 127.0.0.27\nnameserver 127.0.0.26\n"
                                 "options timeout:1\n")
    t0 = time.monotonic()
    check_eq(get(a).status, 200, "status")
    dt = time.monotonic() - t0
    diag("first request after %.2fs" % dt)
    check(dt >= 0.9, "waited for the silent server (%.2fs)" % dt)
    check_eq(silent.asked(), ["app.rot"], "the silent one was asked first")
    check_eq(live.asked(), ["app.rot"], "then the next one")
    time.sleep(1.3)  # the TTL (1 s) runs out: the next request looks the name up again
    t0 = time.monotonic()
    check_eq(get(a).status, 200, "status again")
    check(time.monotonic() - t0 < 0.8, "no second timeout")
    check_eq(silent.asked(), ["app.rot"], "the silent one not asked again")
    check_eq(len(live.asked()), 2, "the live one asked again")


@test("nameservers: a first nameserver whose port is closed is passed at once")
def _():
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind(("127.0.0.25", 53))  # nobody else has it (no wildcard :53 either)
    except OSError as e:
        raise Skip("cannot bind 127.0.0.25:53 (%s)" % e.strerror)
    probe.close()
    live = dns_server_53("127.0.0.26", names={"app.rot": "127.0.0.2"})
    b = backend(EchoBackend(host="127.0.0.2"))
    p, a, _d = proxy(site("app.rot:%d" % b.port),
                     resolv_conf="nameserver 127.0.0.25\nnameserver 127.0.0.26\n")
    t0 = time.monotonic()
    check_eq(get(a).status, 200, "status")
    check(time.monotonic() - t0 < 0.8, "no timeout (%.2fs)" % (time.monotonic() - t0))
    check_eq(live.asked(), ["app.rot"], "asked the second")


@test("hosts: an edited hosts file is read again when its answer's 5 s run out")
def _():
    dns = dns_server()
    b1 = backend(EchoBackend(host="127.0.0.2", extra_headers=[("X-Which", "old")]))
    backend(EchoBackend(host="127.0.0.3", port=b1.port, extra_headers=[("X-Which", "new")]))
    p, a, d = proxy("resolver 127.0.0.1:%d\n" % dns.port + site("app.hosts:%d" % b1.port),
                    resolv_conf="search test.internal\n", hosts="127.0.0.2 app.hosts\n")
    check_eq(get(a).header("x-which"), "old", "first address, from the hosts file")
    # Edited in place (same inode), as `podman network connect` or a hand edit does.
    with open(os.path.join(d, "hosts"), "w") as f:
        f.write("# edited\n127.0.0.3 app.hosts\n")
    t0 = time.monotonic()
    wait_until(lambda: get(a).header("x-which") == "new", 8 * SLOW, interval=0.25,
               what="the edited hosts file to be used")
    diag("moved after %.1fs" % (time.monotonic() - t0))
    check_eq(dns.log, [], "never asked DNS")


@test("reload: a changed `resolver` is used for the next lookups")
def _():
    dns1 = dns_server(names={"app.internal": "127.0.0.2"})
    dns2 = dns_server(names={"app.internal": "127.0.0.3"})
    b1 = backend(EchoBackend(host="127.0.0.2", extra_headers=[("X-Which", "old")]))
    backend(EchoBackend(host="127.0.0.3", port=b1.port, extra_headers=[("X-Which", "new")]))
    up = site("app.internal:%d" % b1.port)
    p, a, d = proxy("resolver 127.0.0.1:%d\n" % dns1.port + up)
    check_eq(get(a).header("x-which"), "old", "first resolver")
    write_config(d, "sandbox off\naccess-log off\nworkers 1\nresolver 127.0.0.1:%d\n"
                 % dns2.port + up)
    p.send_signal(signal.SIGHUP)
    p.wait_stderr(r"SIGHUP: reloaded", what="the reload")
    wait_until(lambda: get(a).header("x-which") == "new", 5 * SLOW, interval=0.25,
               what="the new resolver's answer to be used")
    check(len(dns2.asked()) >= 1, "the new resolver was asked")
    n1 = len(dns1.asked())
    time.sleep(1.3)
    check_eq(get(a).header("x-which"), "new", "still the new one")
    check_eq(len(dns1.asked()), n1, "the old resolver is not asked any more")


@test("truncated answers: one without an address is a 502, not a search for another name; "
      "the addresses in one are used")
def _():
    dns = dns_server(names={"app.internal": "127.0.0.2"}, mode="tc-empty")
    b = backend(EchoBackend(host="127.0.0.2"))
    p, a, _d = proxy("resolver 127.0.0.1:%d\n" % dns.port + site("app.internal:%d" % b.port),
                     resolv_conf="search test.internal\n")
    check_eq(get(a).status, 502, "TC without an address")
    p.wait_stderr(r"cannot resolve app\.internal: Message too long",
                  what="the reason in the log")
    # The name exists, its answer is too big: the search domain is not tried.
    check_eq(dns.asked(), ["app.internal"], "A queries")
    dns.mode = "tc"
    check_eq(get(a).status, 200, "TC with an address")


main()
