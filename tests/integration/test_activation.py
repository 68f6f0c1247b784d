#!/usr/bin/env python3
"""Socket activation: which sockets ferry serves, from LISTEN_FDS/LISTEN_FDNAMES, Accept=yes,
inetd, or its own --listen; and the startup errors of a bad activation environment."""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403


def welcome_ok(addr, what):
    r = http_get(addr)
    check_eq(r.status, 200, "%s: status" % what)
    check_in(b"ferry works!", r.body, "%s: body" % what)


@test("TCP over IPv4: one passed socket serves the built-in page")
def _():
    p, (a,) = activate(lambda: [tcp4()], ["serve"])
    welcome_ok(a, "tcp4")
    p.wait_exec()
    check_eq(p.stop(), 0, "exit code after SIGTERM")


@test("TCP over IPv6 (::1)")
def _():
    p, (a,) = activate(lambda: [tcp6()], ["serve"])
    welcome_ok(a, "tcp6")
    check_eq(p.stop(), 0, "exit code after SIGTERM")


@test("Unix stream socket")
def _():
    d = tmpdir()
    p, (a,) = activate(lambda: [unix_stream(d)], ["serve"], dir=d)
    welcome_ok(a, "unix")
    check_eq(p.stop(), 0, "exit code after SIGTERM")


@test("several sockets at once (TCP4, TCP6, Unix): each one serves")
def _():
    d = tmpdir()
    p, addrs = activate(lambda: [tcp4(), tcp6(), unix_stream(d)], ["serve"], dir=d)
    # The first connection to any of them starts ferry; then all three must answer,
    # several times each, also with connections open on the others at the same time.
    conns = []
    for a in addrs * 2:
        c = HttpConn(a)
        c.send(request_bytes("/"))
        conns.append(c)
    for c, a in zip(conns, addrs * 2):
        r = c.read_response()
        check_eq(r.status, 200, "%r: status" % a)
        check_in(b"ferry works!", r.body, "%r: body" % a)
    check_eq(p.stop(), 0, "exit code after SIGTERM")


@test("named fds: `listen http` serves fd 'http' only; 'admin' is left alone with a warning")
def _():
    d = tmpdir()
    cfg = write_config(d, "listen http\n")
    p, (http, admin) = activate(lambda: [tcp4(), tcp4()], ["serve", "--config", cfg],
                                fdnames=["http", "admin"], dir=d)
    welcome_ok(http, "http")
    p.wait_exec()
    p.wait_stderr(r"admin.*no listen line uses it|no listen line uses it.*admin",
                  what="a warning that fd 'admin' is unused")
    # admin's socket exists (systemd made it) but nobody accepts on it: no answer.
    c = HttpConn(admin)
    c.send(request_bytes("/"))
    check(c.is_open_idle(0.5), "the unused 'admin' socket answered")
    welcome_ok(http, "http again")
    check_eq(p.stop(), 0, "exit code after SIGTERM")


@test("named fds: `listen web` not passed -> exit 1, the error names the passed fds")
def _():
    d = tmpdir()
    cfg = write_config(d, "listen web\n")
    p, (a, b) = activate(lambda: [tcp4(), tcp4()], ["serve", "--config", cfg],
                         fdnames=["http", "admin"], dir=d)
    try:
        socket.create_connection(a.sockaddr, timeout=2).close()
    except OSError:
        pass
    rc = p.wait_exit(10)
    err = p.stderr()
    check_eq(rc, 1, "exit code")
    check_in("web", err, "stderr")
    check_in("http", err.split("Execing")[-1], "stderr (passed names)")
    check_in("admin", err.split("Execing")[-1], "stderr (passed names)")
    check_in("ferry.conf:1", err, "stderr (file:line of the listen line)")


@test("named fds: listen ADDR matching a passed socket adopts it instead of binding")
def _():
    d = tmpdir()
    holder = {}

    def addrs():
        a = tcp4()
        holder["cfg"] = write_config(d, "listen %s\n" % a.ferry)
        return [a]

    p, (a,) = activate(addrs, ["serve", "--config", os.path.join(d, "ferry.conf")], dir=d)
    # Were ferry to bind the address itself, the bind would fail (systemd holds it).
    welcome_ok(a, "adopted")
    welcome_ok(a, "adopted, second connection")
    check_not_in("cannot bind", p.stderr(), "stderr")
    check_eq(p.stop(), 0, "exit code after SIGTERM")


@test("Accept=yes (-a): one ferry per connection, each exits when its connection ends")
def _():
    d = tmpdir()
    p, (a,) = activate(lambda: [tcp4()], ["serve"], accept=True, dir=d)
    c1 = HttpConn(a)
    c2 = HttpConn(a)
    for c in (c1, c2):
        for _ in range(2):  # keep-alive works within the connection
            c.send(request_bytes("/"))
            r = c.read_response()
            check_eq(r.status, 200, "status")
            check_in(b"ferry works!", r.body, "body")
    kids = wait_until(lambda: len(p.children()) >= 2 and p.children(), 5 * SLOW,
                      what="two ferry children")
    check_eq(len(kids), 2, "number of children for two connections")
    for k in kids:
        check_eq(os.path.realpath("/proc/%d/exe" % k), os.path.realpath(FERRY), "child exe")
    check(p.alive(), "systemd-socket-activate itself still runs")
    c1.close()
    wait_until(lambda: len(p.children()) == 1, 5, what="the first child to exit")
    c2.close()
    wait_until(lambda: len(p.children()) == 0, 5, what="the second child to exit")
    err = p.wait_stderr(r"(?s)(died with code.*){2}", what="two child exit reports") and p.stderr()
    codes = [int(x) for x in re.findall(r"died with code (\d+)", err)]
    check_eq(codes, [0, 0], "children's exit codes")
    p.stop()


@test("Accept=yes: the child closes after Connection: close")
def _():
    p, (a,) = activate(lambda: [tcp4()], ["serve"], accept=True)
    c = HttpConn(a)
    c.send(request_bytes("/", headers=["Connection: close"]))
    r = c.read_response()
    check_eq(r.status, 200, "status")
    check(c.wait_closed(3), "connection not closed after Connection: close")
    c.close()
    wait_until(lambda: not p.children(), 5, what="the child to exit")
    p.stop()


@test("inetd (--inetd -a): the connection on stdin is served")
def _():
    p, (a,) = activate(lambda: [tcp4()], ["serve"], accept=True, inetd=True)
    c = HttpConn(a)
    c.send(request_bytes("/"))
    r = c.read_response()
    check_eq(r.status, 200, "status")
    check_in(b"ferry works!", r.body, "body")
    c.send(request_bytes("/nope"))
    check_eq(c.read_response().status, 404, "second request on the stdin connection")
    c.close()
    wait_until(lambda: not p.children(), 5, what="the inetd child to exit")
    p.wait_stderr(r"died with code \d+")
    check_in("died with code 0", p.stderr(), "child exit code")
    p.stop()


def listening_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    on_cleanup(s.close)
    return s


@test("LISTEN_PID of our own pid: fd 3 is served (the wrapper used below works)")
def _():
    s = listening_socket()
    port = s.getsockname()[1]
    p = run_with_fd3(s, [FERRY, "serve"], {"LISTEN_FDS": "1"})
    s.close()
    a = Addr(socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", port), "", "")
    welcome_ok(a, "fd 3")
    check_eq(p.stop(), 0, "exit code after SIGTERM")


@test("LISTEN_PID of another process: LISTEN_FDS ignored -> 'nothing to listen on', exit 1")
def _():
    s = listening_socket()
    p = run_with_fd3(s, [FERRY, "serve"], {"LISTEN_FDS": "1", "LISTEN_PID": "1"},
                     set_listen_pid=False)
    s.close()
    rc = p.wait_exit(10)
    check_eq(rc, 1, "exit code")
    check_in("nothing to listen on", p.stderr(), "stderr")


@test("LISTEN_FDNAMES=a:b with LISTEN_FDS=1 -> startup error, exit 1")
def _():
    s = listening_socket()
    p = run_with_fd3(s, [FERRY, "serve"], {"LISTEN_FDS": "1", "LISTEN_FDNAMES": "a:b"})
    s.close()
    rc = p.wait_exit(10)
    check_eq(rc, 1, "exit code")
    check_in("LISTEN_FDNAMES", p.stderr(), "stderr")


@test("malformed LISTEN_FDS -> startup error, exit 1")
def _():
    s = listening_socket()
    p = run_with_fd3(s, [FERRY, "serve"], {"LISTEN_FDS": "1x"})
    s.close()
    rc = p.wait_exit(10)
    check_eq(rc, 1, "exit code")
    check_in("activation", p.stderr(), "stderr")


@test("LISTEN_FDS=2 with only fd 3 open -> startup error, exit 1")
def _():
    s = listening_socket()
    p = run_with_fd3(s, [FERRY, "serve"], {"LISTEN_FDS": "2"})
    s.close()
    rc = p.wait_exit(10)
    check_eq(rc, 1, "exit code")


@test("serve with only a UDP socket passed: ignored with a warning, nothing to listen on")
def _():
    p, (a,) = activate(lambda: [udp4()], ["serve"], datagram=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.sendto(b"GET / HTTP/1.1\r\n\r\n", a.sockaddr)
    rc = p.wait_exit(10)
    check_eq(rc, 1, "exit code")
    err = p.stderr()
    check_in("datagram", err, "stderr")
    check_in("nothing to listen on", err, "stderr")


@test("no activation: --listen HOST:PORT and --listen unix:/path bind and serve")
def _():
    d = tmpdir()
    p, (a, u) = start_bound(lambda: [tcp4(), unix_stream(d, "own.sock")], [], dir=d)
    welcome_ok(a, "--listen tcp")
    welcome_ok(u, "--listen unix")
    check_eq(p.stop(), 0, "exit code after SIGTERM")


@test("no activation and no --listen: 'nothing to listen on', exit 1")
def _():
    rc, out, err = run([FERRY, "serve"])
    check_eq(rc, 1, "exit code")
    check_in("nothing to listen on", err, "stderr")


@test("--listen on an address in use: exit 1 with 'cannot bind'")
def _():
    s = listening_socket()
    port = s.getsockname()[1]
    rc, out, err = run([FERRY, "serve", "--listen", "127.0.0.1:%d" % port])
    check_eq(rc, 1, "exit code")
    check_in("cannot bind", err, "stderr")
    check_in("127.0.0.1:%d" % port, err, "stderr")


if __name__ == "__main__":
    main()
