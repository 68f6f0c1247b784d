#!/usr/bin/env python3
"""Stopping: graceful stop finishes requests in flight and closes idle connections, a second
signal exits at once, SIGINT is SIGTERM, shutdown-timeout bounds the wait, SIGHUP does not
stop; and max-connections holds new connections back until one closes."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403

BIG = 5 << 20


def start(config=None, big=True):
    d = tmpdir()
    root = os.path.join(d, "www")
    data = os.urandom(BIG) if big else b""
    write_file(os.path.join(root, "big.bin"), data)
    write_file(os.path.join(root, "index.html"), "index\n")
    args = ["serve", "--root", root]
    if config:
        args += ["--config", write_config(d, config)]
    n = NotifySocket(d)
    p, (a,) = activate(lambda: [tcp4()], args, setenv={"NOTIFY_SOCKET": n.env}, dir=d)
    check_eq(http_get(a).status, 200, "first request")
    n.wait_for(lambda m: "READY=1" in m.split("\n"), what="READY=1")
    return p, a, n, data


def stalled_download(a):
    """A 5 MiB download the client is not reading: it stays in flight."""
    c = HttpConn(a, rcvbuf=8192, timeout=30)
    c.send(request_bytes("/big.bin"))
    c._fill(time.monotonic() + 5 * SLOW)  # the head and the first bytes arrived
    return c


def stop_signal(p, n, sig=signal.SIGTERM):
    p.send_signal(sig)
    n.wait_for(lambda m: "STOPPING=1" in m.split("\n"), what="STOPPING=1 after signal %d" % sig)


def threads_with_cpus(cpus):
    """ferry's threads (the main one and its workers) under `workers auto` (the default), run
    with `taskset -c CPUS`, once it has answered a request."""
    d = tmpdir()
    write_file(os.path.join(d, "www", "index.html"), "index\n")
    p, (a,) = activate(lambda: [tcp4()], ["serve", "--root", os.path.join(d, "www")], dir=d,
                       wrapper=["taskset", "-c", cpus])
    check_eq(http_get(a).status, 200, "request")
    n = len(os.listdir("/proc/%d/task" % p.pid))
    p.stop()
    return n


@test("workers auto: one worker per CPU ferry may run on (its affinity), not per CPU online")
def _():
    if len(os.sched_getaffinity(0)) < 2:
        raise Skip("needs 2 CPUs to run on")
    one = threads_with_cpus("0")
    two = threads_with_cpus(",".join(str(c) for c in sorted(os.sched_getaffinity(0))[:2]))
    check_eq(two - one, 1, "threads with 2 CPUs (%d) minus with 1 (%d)" % (two, one))


@test("graceful stop: a 5 MiB download in flight at SIGTERM completes byte-exact, exit 0")
def _():
    p, a, n, data = start()
    c = stalled_download(a)
    stop_signal(p, n)
    check(p.alive(), "ferry exited with a download in flight")
    # Read slowly at first (the server must keep sending while stopping), then the rest.
    t_end = time.monotonic() + 0.5
    while time.monotonic() < t_end:
        c._fill(time.monotonic() + 5 * SLOW)
        time.sleep(0.02)
    r = c.read_response(timeout=30)
    check_eq(r.status, 200, "status")
    check_eq(len(r.body), len(data), "length")
    check(r.body == data, "content differs")
    check(c.wait_closed(3), "connection not closed after the response")
    c.close()
    check_eq(p.wait_exit(10), 0, "exit code")


@test("graceful stop: the response in flight says Connection: close and the connection ends")
def _():
    p, a, n, data = start()
    c = HttpConn(a)
    c.send(b"GET /index.html HTTP/1.1\r\nHost: x\r\n")  # head not complete yet
    c.wait_consumed()
    stop_signal(p, n)
    check(p.alive(), "ferry exited with a request half-received")
    c.send(b"\r\n")
    r = c.read_response()
    check_eq((r.status, r.body), (200, b"index\n"), "response")
    check_eq((r.header("connection") or "").lower(), "close", "Connection header")
    check(c.wait_closed(3), "connection not closed after the last response")
    c.close()
    check_eq(p.wait_exit(10), 0, "exit code")


@test("graceful stop: idle keep-alive connections are closed at once, exit 0")
def _():
    p, a, n, data = start()
    idle = []
    for _ in range(3):
        c = HttpConn(a)
        c.send(request_bytes("/index.html"))
        check_eq(c.read_response().status, 200, "status")
        idle.append(c)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    for c in idle:
        check(c.wait_closed(3), "an idle keep-alive connection was not closed on SIGTERM")
    check_eq(p.wait_exit(5), 0, "exit code")
    check(time.monotonic() - t0 < 3 * SLOW, "stopping took %.1fs with idle connections only"
          % (time.monotonic() - t0))


@test("graceful stop: a connection accepted before the signal whose request comes after it "
      "is answered (Connection: close)")
def _():
    p, a, n, data = start()
    fresh = HttpConn(a)
    wait_until(lambda: tcp_conns(p.pid) == 1, 5 * SLOW, what="ferry to accept the connection")
    stop_signal(p, n)
    fresh.send(request_bytes("/index.html"))
    r = fresh.read_response()
    check_eq((r.status, r.body), (200, b"index\n"), "response")
    check_eq((r.header("connection") or "").lower(), "close", "Connection header")
    check(fresh.wait_closed(3), "not closed after the response")
    fresh.close()
    check_eq(p.wait_exit(5), 0, "exit code")


@test("graceful stop: an accepted connection that never sends is closed at header-timeout")
def _():
    p, a, n, data = start("header-timeout 1s\n")
    fresh = HttpConn(a)
    wait_until(lambda: tcp_conns(p.pid) == 1, 5 * SLOW, what="ferry to accept the connection")
    t0 = time.monotonic()
    stop_signal(p, n)
    check(fresh.wait_closed(4), "silent connection not closed")
    check_eq(p.wait_exit(5), 0, "exit code")
    t = time.monotonic() - t0
    check(t <= 3 * SLOW, "stopping took %.1fs (header-timeout 1s)" % t)


@test("a second SIGTERM while stopping exits at once")
def _():
    p, a, n, data = start()
    c = stalled_download(a)
    stop_signal(p, n)
    time.sleep(0.3)  # give a wrong implementation the time to exit early
    check(p.alive(), "ferry exited with a download in flight (shutdown-timeout is 10 s)")
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    rc = p.wait_exit(3)
    check(time.monotonic() - t0 < 2 * SLOW, "took %.1fs" % (time.monotonic() - t0))
    check(rc >= 0, "killed by signal %d" % -rc)
    check_in("second signal", p.stderr(), "stderr")


@test("SIGINT stops gracefully, like SIGTERM: in-flight download completes, exit 0")
def _():
    p, a, n, data = start()
    c = stalled_download(a)
    idle = HttpConn(a)
    idle.send(request_bytes("/index.html"))
    check_eq(idle.read_response().status, 200, "status")
    stop_signal(p, n, signal.SIGINT)
    check(idle.wait_closed(3), "idle connection not closed on SIGINT")
    check(p.alive(), "ferry exited with a download in flight")
    r = c.read_response(timeout=30)
    check(r.body == data, "content differs (%d bytes)" % len(r.body))
    c.close()
    check_eq(p.wait_exit(10), 0, "exit code")


@test("SIGQUIT stops too (exit 0)")
def _():
    p, a, n, data = start(big=False)
    stop_signal(p, n, signal.SIGQUIT)
    check_eq(p.wait_exit(5), 0, "exit code")


@test("shutdown-timeout 1s: a stalled download does not hold the stop longer than that")
def _():
    p, a, n, data = start("shutdown-timeout 1s\n")
    c = stalled_download(a)
    t0 = time.monotonic()
    stop_signal(p, n)
    rc = p.wait_exit(5)
    t = time.monotonic() - t0
    check(0.8 <= t <= 3 * SLOW, "exited after %.2fs, expected about 1 s" % t)
    check(rc >= 0, "killed by signal %d" % -rc)
    check_in("shutdown timeout", p.stderr(), "stderr")


@test("SIGHUP does not stop the server")
def _():
    p, a, n, data = start(big=False)
    p.send_signal(signal.SIGHUP)
    p.wait_stderr(r"SIGHUP", what="a log line about SIGHUP")
    check_eq(http_get(a).status, 200, "request after SIGHUP")
    check(p.alive(), "ferry died on SIGHUP")
    check_eq([m for m in n.texts() if "STOPPING=1" in m], [], "STOPPING on SIGHUP")
    check_eq(p.stop(), 0, "exit code")


@test("max-connections 1: a second connection is served only after the first closes")
def _():
    p, a, n, data = start("max-connections 1\nworkers 1\n", big=False)
    first = HttpConn(a)
    first.send(request_bytes("/index.html"))
    check_eq(first.read_response().status, 200, "first connection")
    second = HttpConn(a)  # the kernel completes the handshake; ferry must not accept yet
    second.send(request_bytes("/index.html"))
    check(second.is_open_idle(0.5), "second connection served while the first is open")
    first.close()
    r = second.read_response(timeout=5)
    check_eq(r.status, 200, "second connection after the first closed")
    check_eq(p.stop(), 0, "exit code")


@test("graceful stop with many keep-alive connections mid-pipeline: every response complete")
def _():
    p, a, n, data = start(big=False)
    conns = []
    for i in range(20):
        c = HttpConn(a)
        c.send(request_bytes("/index.html"))
        check_eq(c.read_response().status, 200, "warm-up %d" % i)
        conns.append(c)
    # Send a pipelined pair on each, then stop. Whether ferry read a pair before the signal
    # is a race; what must hold: every response that starts is complete, nothing follows a
    # "Connection: close" response, and every connection ends.
    for c in conns:
        c.send(request_bytes("/index.html") + request_bytes("/index.html"))
    p.send_signal(signal.SIGTERM)
    for i, c in enumerate(conns):
        closed_seen = False
        try:
            while True:
                r = c.read_response()
                check(not closed_seen, "conn %d: a response after Connection: close" % i)
                check_eq((r.status, r.body), (200, b"index\n"), "conn %d response" % i)
                closed_seen = (r.header("connection") or "").lower() == "close"
        except ConnectionClosed as e:
            check(c.buf == b"", "conn %d: cut response: %s" % (i, e))
        c.close()
    check_eq(p.wait_exit(10), 0, "exit code")


if SANITIZED:
    # Only a sanitizer build can see leaks; the normal build has no such test.
    @test("LeakSanitizer: no leaks when serve exits after traffic (files, cache, keep-alive)")
    def _():
        d = tmpdir()
        root = os.path.join(d, "www")
        write_file(os.path.join(root, "index.html"), "index\n")
        write_file(os.path.join(root, "big.bin"), os.urandom(300000))
        cfg = write_config(d, "access-log %s/access.log\n" % d)
        p, (a, b) = activate(lambda: [tcp4(), unix_stream(d)],
                             ["serve", "--root", root, "--config", cfg], dir=d, leaks=True)
        for addr in (a, b):
            c = HttpConn(addr)
            for path in ("/index.html", "/big.bin", "/nope", "/index.html"):
                c.send(request_bytes(path))
                c.read_response()
            exchange(addr, b"GET / HTTP/1.1\r\nHost : x\r\n\r\n")
        idle = HttpConn(a)
        idle.send(request_bytes("/"))
        idle.read_response()
        rc = p.stop()
        p.check_sanitizers()
        check_eq(rc, 0, "exit code (LeakSanitizer exits 1 on leaks): %s"
                 % p.stderr()[-3000:])

    @test("LeakSanitizer: no leaks when echo exits after traffic")
    def _():
        d = tmpdir()
        p, (a,) = activate(lambda: [tcp4()], ["echo"], dir=d, leaks=True)
        s = connect(a)
        s.sendall(b"hello")
        check_eq(s.recv(5), b"hello", "echo")
        s.close()
        rc = p.stop()
        p.check_sanitizers()
        check_eq(rc, 0, "exit code (LeakSanitizer exits 1 on leaks): %s"
                 % p.stderr()[-3000:])

    @test("LeakSanitizer: no leaks when an Accept=yes child exits")
    def _():
        d = tmpdir()
        p, (a,) = activate(lambda: [tcp4()], ["serve"], accept=True, dir=d, leaks=True)
        check_eq(http_get(a).status, 200, "status")
        p.wait_stderr(r"died with code \d+", what="the child's exit")
        p.check_sanitizers()
        check_in("died with code 0", p.stderr(), "child exit code: %s" % p.stderr()[-3000:])


if __name__ == "__main__":
    main()
