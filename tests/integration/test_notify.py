#!/usr/bin/env python3
"""sd_notify: READY=1 with a STATUS naming the sockets, the watchdog (and WATCHDOG_PID), and
STOPPING=1 on SIGTERM, sent to a fake NOTIFY_SOCKET (path or abstract)."""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403


def start(n, addrs_fn=lambda: [tcp4()], fdnames=None, setenv=None, args=("serve",), wrapper=None,
          datagram=False):
    env = {"NOTIFY_SOCKET": n.env}
    env.update(setenv or {})
    p, addrs = activate(addrs_fn, list(args), fdnames=fdnames, setenv=env, wrapper=wrapper,
                        datagram=datagram)
    return p, addrs


def trigger(a):
    """The first connection makes systemd-socket-activate exec ferry."""
    if a.type == socket.SOCK_STREAM:
        check_eq(http_get(a).status, 200, "first request")


@test("READY=1 arrives with STATUS naming the passed sockets")
def _():
    n = NotifySocket()
    p, (a, b) = start(n, lambda: [tcp4(), tcp4()], fdnames=["web", "alt"])
    trigger(a)
    m = n.wait_for(lambda m: "READY=1" in m.split("\n"), what="READY=1")
    st = kv(m).get("STATUS")
    check(st is not None, "no STATUS= in the READY message %r" % m)
    check_in("2 sockets", st, "STATUS")
    check_in("web", st, "STATUS")
    check_in("alt", st, "STATUS")
    check_eq(p.stop(), 0, "exit code")


@test("READY=1 STATUS names self-bound addresses (--listen)")
def _():
    n = NotifySocket()
    p, (a,) = start_bound(lambda: [tcp4()], [], env={"NOTIFY_SOCKET": n.env})
    m = n.wait_for(lambda m: "READY=1" in m.split("\n"), what="READY=1")
    check_in(a.ferry, kv(m).get("STATUS", ""), "STATUS")
    check_eq(p.stop(), 0, "exit code")


@test("READY=1 is sent once, after the sockets are served (a request right after works)")
def _():
    n = NotifySocket()
    p, (a,) = start(n)
    trigger(a)
    n.wait_for(lambda m: "READY=1" in m.split("\n"), what="READY=1")
    check_eq(http_get(a).status, 200, "request after READY")
    n.collect(0.3)
    readies = [m for m in n.texts() if "READY=1" in m.split("\n")]
    check_eq(len(readies), 1, "number of READY=1 messages")


@test("STOPPING=1 on SIGTERM, then exit 0")
def _():
    n = NotifySocket()
    p, (a,) = start(n)
    trigger(a)
    n.wait_for(lambda m: "READY=1" in m.split("\n"), what="READY=1")
    p.send_signal(signal.SIGTERM)
    n.wait_for(lambda m: "STOPPING=1" in m.split("\n"), what="STOPPING=1")
    check_eq(p.wait_exit(10), 0, "exit code")
    order = [m for m in n.texts() if "READY=1" in m or "STOPPING=1" in m]
    check("READY=1" in order[0] and "STOPPING=1" in order[-1], "order %r" % order)


@test("abstract NOTIFY_SOCKET (@name): READY=1 and STOPPING=1 arrive")
def _():
    n = NotifySocket(abstract=True)
    check(n.env.startswith("@"), "abstract name")
    p, (a,) = start(n)
    trigger(a)
    n.wait_for(lambda m: "READY=1" in m.split("\n"), what="READY=1 on an abstract socket")
    p.send_signal(signal.SIGTERM)
    n.wait_for(lambda m: "STOPPING=1" in m.split("\n"), what="STOPPING=1")
    check_eq(p.wait_exit(10), 0, "exit code")


@test("WATCHDOG_USEC=200000: WATCHDOG=1 keeps arriving (about every 100 ms)")
def _():
    n = NotifySocket()
    p, (a,) = start(n, setenv={"WATCHDOG_USEC": "200000"})
    trigger(a)
    n.wait_for(lambda m: "READY=1" in m.split("\n"), what="READY=1")
    n.drain()
    n.messages = []
    n.collect(1.0)
    pings = [t for t, m in n.messages if "WATCHDOG=1" in m.split("\n")]
    check(len(pings) >= 5, "only %d WATCHDOG=1 in 1 s with WATCHDOG_USEC=200000" % len(pings))
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    check(max(gaps) < 0.2 * SLOW, "a gap of %.3f s between pings (the deadline is 0.2 s)"
          % max(gaps))


@test("WATCHDOG_PID = ferry's own pid: watchdog on")
def _():
    n = NotifySocket()
    # sh's $$ is the pid systemd-socket-activate and then ferry keep (exec all the way).
    wrapper = ["sh", "-c", 'exec "$0" -E WATCHDOG_PID=$$ "$@"']
    p, (a,) = start(n, setenv={"WATCHDOG_USEC": "200000"}, wrapper=wrapper)
    trigger(a)
    n.wait_for(lambda m: "WATCHDOG=1" in m.split("\n"), what="WATCHDOG=1")


@test("WATCHDOG_PID of another process: no WATCHDOG=1")
def _():
    n = NotifySocket()
    p, (a,) = start(n, setenv={"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"})
    trigger(a)
    n.wait_for(lambda m: "READY=1" in m.split("\n"), what="READY=1")
    n.collect(0.7)  # 7 watchdog periods: there would have been pings by now
    pings = [m for m in n.texts() if "WATCHDOG=1" in m.split("\n")]
    check_eq(pings, [], "watchdog messages")


@test("no WATCHDOG_USEC: no WATCHDOG=1")
def _():
    n = NotifySocket()
    p, (a,) = start(n)
    trigger(a)
    n.wait_for(lambda m: "READY=1" in m.split("\n"), what="READY=1")
    n.collect(0.5)
    check_eq([m for m in n.texts() if "WATCHDOG=1" in m], [], "watchdog messages")


@test("the watchdog keeps pinging during a graceful stop")
def _():
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "big.bin"), os.urandom(5 << 20))
    n = NotifySocket()
    p, (a,) = start(n, setenv={"WATCHDOG_USEC": "200000"}, args=("serve", "--root", root))
    c = HttpConn(a, rcvbuf=8192, timeout=10)
    c.send(request_bytes("/big.bin"))
    c.sock.recv(1000)  # the download has started and is now stalled by us
    n.wait_for(lambda m: "READY=1" in m.split("\n"), what="READY=1")
    p.send_signal(signal.SIGTERM)
    n.wait_for(lambda m: "STOPPING=1" in m.split("\n"), what="STOPPING=1")
    n.messages = []
    n.collect(0.6)
    check(p.alive(), "ferry exited with a download in flight")
    pings = [m for m in n.texts() if "WATCHDOG=1" in m.split("\n")]
    check(len(pings) >= 3, "only %d WATCHDOG=1 in 0.6 s while stopping" % len(pings))
    c.close()
    check_eq(p.wait_exit(10), 0, "exit code")


@test("NOTIFY_SOCKET that does not exist: ferry still serves")
def _():
    d = tmpdir()
    p, (a,) = activate(lambda: [tcp4()], ["serve"],
                       setenv={"NOTIFY_SOCKET": os.path.join(d, "nobody-here.sock")}, dir=d)
    check_eq(http_get(a).status, 200, "status")
    check_eq(http_get(a).status, 200, "status again")
    check_eq(p.stop(), 0, "exit code")


@test("echo mode also notifies READY=1 (UDP sockets)")
def _():
    n = NotifySocket()
    p, (u,) = start(n, lambda: [udp4()], args=("echo",), datagram=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3 * SLOW)
        s.sendto(b"hi", u.sockaddr)
        check_eq(s.recv(10), b"hi", "echo")
    n.wait_for(lambda m: "READY=1" in m.split("\n"), what="READY=1")


if __name__ == "__main__":
    main()
