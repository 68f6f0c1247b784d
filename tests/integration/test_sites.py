#!/usr/bin/env python3
"""Thousands of sites: 20,000 site blocks, from 20,000 included files and from one big file
(past the old 1 MiB limit); the first, middle and last site, a wildcard, the longest wildcard
and the default answer; one directory fd per distinct root; start-up within a loose bound;
a reload re-reads included files under the sandbox; a reload of them keeps serving meanwhile; `ferry check` on include errors; the
RLIMIT_NOFILE message of `ferry check` and `ferry serve`; `ferry units` refuses include."""
import os
import shutil
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403

N = 20000
STARTUP_BOUND = 2.0  # seconds to READY=1, loose so that it cannot flake (measured: ~0.1 s)

# Which root a host must get: each distinct content names the site that answered.
EXPECT = [
    ("s0.example.com", "first"),
    ("S10000.Example.COM:8080", "middle"),
    ("s19999.example.com.", "last"),
    ("s5.example.com", "common"),
    ("x.w0.example.org", "first"),
    ("x.w10000.example.org", "middle"),
    ("a.b.w19999.example.org", "last"),
    ("x.w123.example.org", "common"),
    ("w123.example.org", "org"),  # not under *.w123: the shorter wildcard
    ("z.deep.w7.example.org", "deeper"),  # the longest wildcard wins
    ("x.example.org", "org"),
    ("s20000.example.com", "default"),
    ("example.net", "default"),
]


def roots(d):
    out = {}
    for name in ("first", "middle", "last", "common", "wild", "deeper", "org", "default"):
        r = os.path.join(d, "www-" + name)
        write_file(os.path.join(r, "index.html"), name + "\n")
        # path roots get the whole request path (nginx's root): /w/index.html is w/index.html
        write_file(os.path.join(r, "w", "index.html"), name + " (path block)\n")
        out[name] = r
    return out


def site_text(i, r):
    root = {0: r["first"], N // 2: r["middle"], N - 1: r["last"]}.get(i, r["common"])
    return ("site s%d.example.com *.w%d.example.org {\n\troot %s\n\tpath /w/ { root %s }\n}\n"
            % (i, i, root, r["wild"]))


def extra_text(r):
    return ("site *.deep.w7.example.org { root %s }\nsite *.example.org { root %s }\n"
            "site * { root %s }\n" % (r["deeper"], r["org"], r["default"]))


def config_one_file(d, r):
    text = "".join(site_text(i, r) for i in range(N)) + extra_text(r)
    cfg = write_config(os.path.join(d, "etc"), "access-log off\nworkers 2\n" + text)
    check(os.path.getsize(cfg) > 1024 * 1024, "the config is past the old 1 MiB limit")
    return cfg


def config_included(d, r):
    # Outside the config's directory: the sandbox must keep it readable for reloads.
    sites = os.path.join(d, "sites-enabled")
    os.makedirs(sites)
    for i in range(N):
        with open(os.path.join(sites, "s%05d.conf" % i), "w") as f:
            f.write(site_text(i, r))
    write_file(os.path.join(sites, "zz-extra.conf"), extra_text(r))
    write_file(os.path.join(sites, "README"), "not a config: the glob below skips it\n")
    return write_config(os.path.join(d, "etc"),
                        "access-log off\nworkers 2\ninclude ../sites-enabled/*.conf\n")


def host_get(a, host, path="/index.html"):
    return http_get(a, path=path, host=host)


def dir_fds(pid):
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.path.isdir(os.readlink("/proc/%d/fd/%s" % (pid, fd))):
                n += 1
        except OSError:
            pass
    return n


def start_timed(d, cfg):
    n = NotifySocket()
    t0 = time.time()
    p, (a,) = start_bound(lambda: [tcp4()], ["--config", cfg], dir=d,
                          env={"NOTIFY_SOCKET": n.env})
    n.wait_for(lambda m: "READY=1" in m.split("\n"), timeout=10, what="READY=1")
    ready = [t for t, m in n.messages if "READY=1" in m.split("\n")][0]
    return p, a, n, ready - t0


def check_matching(p, a):
    for host, want in EXPECT:
        r = host_get(a, host)
        check_eq((host, r.status, r.body.decode().strip()), (host, 200, want), "site for " + host)
    # a path block of the last site, with the wildcard sites' root
    r = host_get(a, "s19999.example.com", "/w/index.html")
    check_eq(r.body.strip(), b"wild (path block)", "path block of the last site")
    # 8 distinct roots, however many sites: one fd each (and a few for the rest)
    nd = dir_fds(p.pid)
    check(8 <= nd <= 8 + 4, "directory fds open: %d, want 8 (one per distinct root)" % nd)


@test("20,000 sites from 20,000 included files: matching, one fd per root, start-up bound")
def _():
    d = tmpdir()
    r = roots(d)
    cfg = config_included(d, r)
    p, a, n, took = start_timed(d, cfg)
    diag("20,000 included files: READY after %.0f ms" % (took * 1000))
    check(took < STARTUP_BOUND * SLOW, "start-up took %.2f s" % took)
    check_matching(p, a)
    # A reload reads the included files again, inside the sandbox (their directory is kept
    # readable): the first site moves to another root, a new file adds a site.
    sites = os.path.join(d, "sites-enabled")
    write_file(os.path.join(sites, "s00000.conf"),
               site_text(0, r).replace(r["first"], r["deeper"]))
    write_file(os.path.join(sites, "new.conf"), "site new.example { root %s }\n" % r["last"])
    del n.messages[:]
    p.send_signal(signal.SIGHUP)
    n.wait_for(lambda m: "READY=1" in m.split("\n"), timeout=10, what="READY=1 after SIGHUP")
    check_eq(host_get(a, "s0.example.com").body.strip(), b"deeper", "s0 after the reload")
    check_eq(host_get(a, "new.example").body.strip(), b"last", "new.example after the reload")
    check_not_in("reload failed", p.stderr(), "stderr")
    check_eq(p.stop(), 0, "exit code")


@test("20,000 sites in one file (past the old 1 MiB limit): matching, start-up bound")
def _():
    d = tmpdir()
    r = roots(d)
    cfg = config_one_file(d, r)
    p, a, n, took = start_timed(d, cfg)
    diag("one file of %d bytes: READY after %.0f ms" % (os.path.getsize(cfg), took * 1000))
    check(took < STARTUP_BOUND * SLOW, "start-up took %.2f s" % took)
    check_matching(p, a)
    rc, out, err = run([FERRY, "check", cfg])
    check_eq((rc, out, err), (0, "configuration OK\n", ""), "ferry check")
    check_eq(p.stop(), 0, "exit code")


@test("reloading 20,000 sites: requests keep being answered while the new ones load")
def _():
    d = tmpdir()
    r = roots(d)
    cfg = config_one_file(d, r)
    p, a, n, _ = start_timed(d, cfg)
    done = []  # (wall time answered, body)
    failures = []
    stop = threading.Event()

    def client():
        while not stop.is_set():
            try:
                resp = host_get(a, "s19999.example.com")
                done.append((time.time(), resp.body.strip()))
            except Exception as e:  # noqa: BLE001
                failures.append(repr(e))

    th = threading.Thread(target=client)
    th.start()
    try:
        time.sleep(0.2)
        # The new config moves the last site to another root.
        with open(cfg) as f:
            text = f.read()
        write_file(cfg, text.replace("\troot %s\n" % r["last"], "\troot %s\n" % r["first"]))
        n.drain()
        del n.messages[:]  # wait_for looks at every message kept: only the reload's
        p.send_signal(signal.SIGHUP)
        n.wait_for(lambda m: "RELOADING=1" in m.split("\n"), timeout=10, what="RELOADING=1")
        n.wait_for(lambda m: "READY=1" in m.split("\n"), timeout=10, what="READY=1 again")
        t_reload = [t for t, m in n.messages if "RELOADING=1" in m.split("\n")][-1]
        t_ready = [t for t, m in n.messages if "READY=1" in m.split("\n")][-1]
        time.sleep(0.2)
    finally:
        stop.set()
        th.join()
    window = t_ready - t_reload
    during = [b for t, b in done if t_reload <= t <= t_ready]
    diag("reload took %.0f ms; %d requests answered meanwhile (%d in all)"
         % (window * 1000, len(during), len(done)))
    check_eq(failures, [], "failed requests")
    if window > 0.05:
        check(len(during) > 0, "no request answered during the %.0f ms reload" % (window * 1000))
    check_eq(done[-1][1], b"first", "the reloaded config is used")
    check_eq(done[0][1], b"last", "the first config was used before")
    check_eq(p.stop(), 0, "exit code")


@test("ferry check: errors in included files name the file and line:col; cycles; missing files")
def _():
    d = tmpdir()
    etc = os.path.join(d, "etc")
    write_file(os.path.join(etc, "sites", "a.conf"), "site a.example { root /srv/a }\n")
    write_file(os.path.join(etc, "sites", "b.conf"),
               "site b.example {\n\troot /srv/b\n\tbogus 1\n}\nsite a.example { root /x }\n")
    write_file(os.path.join(etc, "sites", "c.conf"), "include ../ferry.conf\n")
    cfg = write_config(etc, "workers 2\ninclude sites/*.conf\ninclude missing.conf\n"
                            "include none/*.conf\n")
    rc, out, err = run([FERRY, "check", cfg])
    check_eq(rc, 2, "exit code")
    check_eq(err,
             "%(e)s/sites/b.conf:3:2: unknown directive 'bogus'\n"
             "%(e)s/sites/b.conf:5:6: site name 'a.example' is already used by the site at "
             "%(e)s/sites/a.conf:1\n"
             "%(e)s/sites/c.conf:1:9: include cycle: %(e)s/ferry.conf -> %(e)s/sites/c.conf -> "
             "%(e)s/sites/../ferry.conf\n"
             "%(e)s/ferry.conf:3:9: include %(e)s/missing.conf: No such file or directory\n"
             % {"e": etc}, "messages")
    check_eq(out, "", "stdout")


@test("RLIMIT_NOFILE too low for the roots: ferry check and ferry serve say so with the numbers")
def _():
    d = tmpdir()
    text = "".join("site s%d.example { root %s/r%d }\n" % (i, d, i) for i in range(300))
    cfg = write_config(os.path.join(d, "etc"), "workers 1\n" + text)
    want = ("%s: 300 distinct root directories need as many file descriptors, 368 with those "
            "for sockets, logs and workers; the limit (RLIMIT_NOFILE) is 256: raise it "
            "(LimitNOFILE= in the service), or let sites share roots\n" % cfg)
    rc, out, err = run(["prlimit", "--nofile=256:256", FERRY, "check", cfg])
    check_eq((rc, out, err), (2, "", want), "ferry check")
    # serve: the same, before opening any root (none of them exists)
    p = Proc(["prlimit", "--nofile=256:256", FERRY, "serve", "--config", cfg, "--listen",
              tcp4().ferry], dir=d, name="ferry")
    check_eq(p.wait_exit(10), 1, "exit code")
    check_in(want, p.stderr(), "stderr")
    check_not_in("No such file", p.stderr(), "stderr")
    # with a higher limit, check passes (the roots need not exist for check)
    rc, out, err = run(["prlimit", "--nofile=1024:1024", FERRY, "check", cfg])
    check_eq((rc, out), (0, "configuration OK\n"), "ferry check with room")


@test("ferry units: a config with include is refused (the container gets one file)")
def _():
    d = tmpdir()
    etc = os.path.join(d, "etc")
    write_file(os.path.join(etc, "sites", "a.conf"), "site a.example { root /srv/a }\n")
    cfg = write_config(etc, "listen http 127.0.0.1:8080\ninclude sites/*.conf\n")
    rc, out, err = run([FERRY, "units", "--config", cfg])
    check(rc != 0, "exit code %d" % rc)
    check_in("'include': the generated units mount only this file", err, "stderr")


main()
