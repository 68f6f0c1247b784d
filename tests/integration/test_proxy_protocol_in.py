"""`listen ADDR proxy-protocol`: connections from a front proxy start with a PROXY protocol
header (v1 or v2) and the address it carries is the client's (access log, X-Forwarded-For);
without the header, or from a peer outside trusted-proxies, the connection is closed unanswered.
And ferry in front of ferry: `proxy-protocol v2` to an upstream that listens with it."""
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403


def start_back(extra=""):
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), b"back\n")
    log = os.path.join(d, "access.log")
    last = None
    for _ in range(5):
        port = free_port()
        cfg = write_config(d, "listen 127.0.0.1:%d proxy-protocol\naccess-log %s\n"
                           "site * { root %s }\n%s" % (port, log, root, extra))
        p = Proc([FERRY, "serve", "--config", cfg], dir=d, name="ferry")
        try:
            wait_until(lambda: port_listening(port) or p.poll() is not None, 5 * SLOW,
                       what="the back server to listen")
        except TestFailure as e:
            last = e
            continue
        if p.poll() is None:
            return p, port, log
        last = TestFailure("ferry exited: %s" % p.stderr())
    raise last


def port_listening(port):
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == "0A":
                return True
    return False


def send_raw(port, data, timeout=3):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                b = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not b:
                break
            out += b
        return out
    finally:
        s.close()


REQ = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def v2_header(src, sport, dst, dport):
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    addrs = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return sig + bytes([0x21, 0x11]) + struct.pack("!H", len(addrs)) + addrs


@test("PROXY v1: the carried address is the client's (access log)")
def _():
    p, port, log = start_back()
    out = send_raw(port, b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n" + REQ)
    check(out.startswith(b"HTTP/1.1 200"), "response %r" % out[:80])
    wait_until(lambda: b"203.0.113.7 - -" in read_file(log), 5 * SLOW, what="the access log line")


@test("PROXY v2: the carried address is the client's (access log)")
def _():
    p, port, log = start_back()
    out = send_raw(port, v2_header("198.51.100.9", 4444, "127.0.0.1", 80) + REQ)
    check(out.startswith(b"HTTP/1.1 200"), "response %r" % out[:80])
    wait_until(lambda: b"198.51.100.9 - -" in read_file(log), 5 * SLOW, what="the access log line")


@test("no PROXY header, or a malformed one: closed without an answer")
def _():
    p, port, log = start_back()
    check_eq(send_raw(port, REQ), b"", "answer to a plain request")
    check_eq(send_raw(port, b"PROXY TCP4 999.1.1.1 127.0.0.1 1 2\r\n" + REQ), b"",
             "answer to a bad header")
    check(p.alive(), "ferry still runs")


@test("a peer outside trusted-proxies may not use the header")
def _():
    p, port, log = start_back("trusted-proxies 10.0.0.0/8\n")
    check_eq(send_raw(port, b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n" + REQ), b"",
             "answer from an untrusted peer")


@test("ferry in front of ferry: proxy-protocol v2 upstream is accepted by a back that requires it")
def _():
    back, bport, blog = start_back()
    d = tmpdir()
    cfg = write_config(d, "sandbox off\nsite * {\n proxy http://127.0.0.1:%d\n proxy-protocol v2\n}\n"
                       % bport)
    front, (a,) = activate(lambda: [tcp4()], ["serve", "--config", cfg], dir=d)
    r = http_get(a)
    check_eq(r.status, 200, "status through the front")
    check_eq(r.body, b"back\n", "body")
    wait_until(lambda: b"127.0.0.1 - -" in read_file(blog), 5 * SLOW, what="the back's log line")


main()
