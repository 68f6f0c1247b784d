#!/usr/bin/env python3
"""`ferry echo`: byte-exact stream echo on TCP4/TCP6/Unix (many connections at once, large
payloads, half-close), datagram echo on UDP4/UDP6/Unix datagram, vsock adoption, and the
socat one-liners from the tutorial."""
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403

SOCAT = shutil.which("socat")


def echo_stream(addr, payload, timeout=20):
    """Send payload (concurrently with reading), half-close, read until EOF; return bytes."""
    s = connect(addr, timeout)
    err = []

    def sender():
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    chunks = []
    try:
        while True:
            d = s.recv(262144)
            if not d:
                break
            chunks.append(d)
    finally:
        t.join(timeout * SLOW)
        s.close()
    if err:
        raise TestFailure("send failed: %r" % err[0])
    return b"".join(chunks)


def stream_server():
    d = tmpdir()
    p, addrs = activate(lambda: [tcp4(), tcp6(), unix_stream(d)], ["echo"], dir=d)
    return p, addrs


@test("echo over TCP4, TCP6 and Unix stream from one activation: byte-exact")
def _():
    p, addrs = stream_server()
    for a in addrs:
        payload = b"hello " + a.ferry.encode() + b"\n"
        check_eq(echo_stream(a, payload), payload, "echo on %s" % a.ferry)
    check_eq(p.stop(), 0, "exit code")


@test("echo: a 1 MiB payload on each of TCP4, TCP6, Unix comes back byte-exact")
def _():
    p, addrs = stream_server()
    data = os.urandom(1 << 20)
    for a in addrs:
        got = echo_stream(a, data)
        check_eq(len(got), len(data), "length on %s" % a.ferry)
        check(got == data, "content differs on %s" % a.ferry)


@test("echo: 20 concurrent connections per family (60 in all), byte-exact")
def _():
    p, addrs = stream_server()
    echo_stream(addrs[0], b"warm-up")  # starts ferry
    results = {}
    errors = []

    def one(i, a):
        payload = os.urandom(65536 + i * 1000)
        try:
            results[(i, a.ferry)] = (echo_stream(a, payload), payload)
        except Exception as e:  # noqa: BLE001
            errors.append((a.ferry, i, e))

    threads = [threading.Thread(target=one, args=(i, a), daemon=True)
               for a in addrs for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30 * SLOW)
    check(not errors, "errors: %r" % errors[:3])
    check_eq(len(results), 60, "finished connections")
    for (i, name), (got, want) in results.items():
        check(got == want, "connection %d on %s: %d bytes back, %d sent" % (i, name, len(got),
                                                                             len(want)))


@test("echo: interactive round trips on one connection (no half-close needed)")
def _():
    p, (a, _, _) = stream_server()
    s = connect(a)
    for i in range(20):
        msg = b"line %d\n" % i
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            d = s.recv(4096)
            check(d, "EOF after %r" % got)
            got += d
        check_eq(got, msg, "round trip %d" % i)
    s.shutdown(socket.SHUT_WR)
    check_eq(s.recv(10), b"", "EOF after our half-close")


@test("echo: an empty stream (connect, half-close) gets EOF back")
def _():
    p, (a, _, _) = stream_server()
    echo_stream(a, b"x")
    check_eq(echo_stream(a, b""), b"", "empty echo")


def dgram_roundtrip(a, payload, bind=None, timeout=3):
    s = socket.socket(a.family, socket.SOCK_DGRAM)
    on_cleanup(s.close)
    if bind is not None:
        s.bind(bind)
    s.settimeout(timeout * SLOW)
    s.sendto(payload, a.sockaddr)
    data, frm = s.recvfrom(65536)
    s.close()
    return data, frm


@test("echo over UDP4 and UDP6 (-d): datagrams come back to the sender")
def _():
    p, addrs = activate(lambda: [udp4(), udp6()], ["echo"], datagram=True)
    for a in addrs:
        for payload in (b"ping " + a.ferry.encode(), os.urandom(1200), b"x" * 60000):
            data, frm = dgram_roundtrip(a, payload)
            check_eq(data, payload, "datagram on %s" % a.ferry)
    check_eq(p.stop(), 0, "exit code")


@test("echo UDP: several clients at once each get their own datagrams back")
def _():
    p, (a,) = activate(lambda: [udp4()], ["echo"], datagram=True)
    dgram_roundtrip(a, b"warm-up")
    clients = []
    for i in range(10):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        on_cleanup(s.close)
        s.settimeout(3 * SLOW)
        clients.append(s)
    for rnd in range(5):
        for i, s in enumerate(clients):
            s.sendto(b"client %d round %d" % (i, rnd), a.sockaddr)
    for i, s in enumerate(clients):
        got = sorted(s.recv(100) for _ in range(5))
        check_eq(got, sorted(b"client %d round %d" % (i, r) for r in range(5)), "client %d" % i)


@test("echo over a Unix datagram socket (--listen unixgram:/path); client binds its path")
def _():
    d = tmpdir()
    p, (a,) = start_bound(lambda: [unix_dgram(d, "echo.sock")], [], mode="echo", dir=d)
    client_path = os.path.join(d, "client.sock")
    for payload in (b"hello unixgram", os.urandom(4096)):
        if os.path.exists(client_path):
            os.unlink(client_path)
        data, frm = dgram_roundtrip(a, payload, bind=client_path)
        check_eq(data, payload, "datagram")
        check_eq(frm, a.sockaddr, "reply comes from the server's path")
    # An unbound sender cannot be answered; ferry must survive it and keep serving.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b"from nowhere", a.sockaddr)
    s.close()
    os.unlink(client_path)
    data, _ = dgram_roundtrip(a, b"after the unbound one", bind=client_path)
    check_eq(data, b"after the unbound one", "datagram after an unbound sender")
    check_eq(p.stop(), 0, "exit code")


@test("echo over --listen TCP and udp: addresses ferry binds itself")
def _():
    p, (t, u) = start_bound(lambda: [tcp4(), udp4()], [], mode="echo")
    check_eq(echo_stream(t, b"bound tcp"), b"bound tcp", "tcp")
    check_eq(dgram_roundtrip(u, b"bound udp")[0], b"bound udp", "udp")


@test("socat as in the tutorial: echo hello | socat - tcp4:127.0.0.1:PORT")
def _():
    check(SOCAT is not None, "socat is not installed (scripts/deps.sh installs it)")
    p, (a,) = activate(lambda: [tcp4()], ["echo"])
    rc, out, err = run(["sh", "-c", "echo hello | socat - tcp4:%s" % a.ssa], timeout=10)
    check_eq((rc, out), (0, "hello\n"), "socat tcp4 (stderr %r)" % err)
    rc, out, err = run(["socat", "-", "tcp4:%s" % a.ssa], stdin_data=b"two\nlines\n",
                       timeout=10)
    check_eq((rc, out), (0, "two\nlines\n"), "socat tcp4, two lines")


@test("socat as in the tutorial: echo hello | socat - udp4:127.0.0.1:PORT")
def _():
    check(SOCAT is not None, "socat is not installed (scripts/deps.sh installs it)")
    p, (a,) = activate(lambda: [udp4()], ["echo"], datagram=True)
    dgram_roundtrip(a, b"warm-up")  # ferry started, so socat's 1 s wait is plenty
    rc, out, err = run(["sh", "-c", "echo hello | socat -t 1 - udp4:%s" % a.ssa], timeout=10)
    check_eq((rc, out), (0, "hello\n"), "socat udp4 (stderr %r)" % err)


@test("socat over TCP6 and Unix stream")
def _():
    check(SOCAT is not None, "socat is not installed (scripts/deps.sh installs it)")
    p, (a6, u) = (lambda d: activate(lambda: [tcp6(), unix_stream(d)], ["echo"], dir=d))(
        tmpdir())
    rc, out, err = run(["sh", "-c", "echo hello6 | socat - tcp6:%s" % a6.ssa], timeout=10)
    check_eq((rc, out), (0, "hello6\n"), "socat tcp6 (stderr %r)" % err)
    rc, out, err = run(["sh", "-c", "echo hellou | socat - unix-connect:%s" % u.sockaddr],
                       timeout=10)
    check_eq((rc, out), (0, "hellou\n"), "socat unix (stderr %r)" % err)


@test("vsock: a vsock listening fd is adopted beside TCP, and TCP echo works")
def _():
    why = vsock_available()
    if why:
        raise Skip("no vsock: " + why)
    n = NotifySocket()
    p, (v, t) = activate(lambda: [vsock_any(), tcp4()], ["echo"], fdnames=["vs", "tcp"],
                         setenv={"NOTIFY_SOCKET": n.env})
    check_eq(echo_stream(t, b"tcp beside vsock"), b"tcp beside vsock", "tcp echo")
    m = n.wait_for(lambda m: "READY=1" in m, what="READY=1")
    status = kv(m).get("STATUS", "")
    check_in("2 sockets", status, "STATUS")
    check_in("vs", status, "STATUS names the vsock fd")
    check_in("tcp", status, "STATUS names the tcp fd")
    check_not_in("error", p.stderr().split("Execing")[-1], "stderr")
    check_eq(p.stop(), 0, "exit code")


@test("vsock round trip through the loopback transport (CID 1)")
def _():
    why = vsock_available()
    if why:
        raise Skip("no vsock: " + why)
    # Is there a loopback transport at all? Probe with a listener of our own.
    fam = socket.AF_VSOCK
    probe_l = socket.socket(fam, socket.SOCK_STREAM)
    on_cleanup(probe_l.close)
    probe_l.bind((0xFFFFFFFF, 0xFFFFFFFF))  # any port
    probe_l.listen(1)
    port = probe_l.getsockname()[1]
    c = socket.socket(fam, socket.SOCK_STREAM)
    on_cleanup(c.close)
    c.settimeout(1)
    try:
        c.connect((1, port))
    except OSError as e:
        raise Skip("no vsock loopback transport on this machine (connect to CID 1: %s)"
                   % (e.strerror or e))
    c.close()
    probe_l.close()
    p, (v,) = activate(lambda: [vsock_any()], ["echo"])
    loop = Addr(fam, socket.SOCK_STREAM, (1, v.sockaddr[1]), "", "")
    check_eq(echo_stream(loop, b"over vsock"), b"over vsock", "vsock echo")


@test("echo with Accept=yes (-a) and with --inetd: one process per connection, exit 0")
def _():
    for inetd in (False, True):
        p, (a,) = activate(lambda: [tcp4()], ["echo"], accept=True, inetd=inetd)
        data = os.urandom(200000)
        check(echo_stream(a, data) == data, "echo (inetd=%s)" % inetd)
        check_eq(echo_stream(a, b"second"), b"second", "second connection (inetd=%s)" % inetd)
        wait_until(lambda: len(re.findall(r"died with code", p.stderr())) >= 2, 5 * SLOW,
                   what="both children to exit")
        codes = re.findall(r"died with code (\d+)", p.stderr())
        check_eq(codes, ["0", "0"], "children's exit codes (inetd=%s)" % inetd)
        p.stop()


@test("echo: SIGTERM with an idle connection open -> it is closed, exit 0")
def _():
    p, (a, _, _) = stream_server()
    s = connect(a)
    s.sendall(b"x")
    check_eq(s.recv(1), b"x", "echo")
    p.wait_exec()
    rc = p.stop()
    check_eq(rc, 0, "exit code")
    s.settimeout(3 * SLOW)
    try:
        check_eq(s.recv(10), b"", "EOF on the idle connection")
    except ConnectionResetError:
        pass


if __name__ == "__main__":
    main()
