"""The fd store: restarts that drop no connection. A fake service manager plays systemd's part
of sd_notify(3) and systemd.service(5) FileDescriptorStoreMax=: it owns the socket unit's
listening socket, receives FDSTORE=1 (FDNAME=, SCM_RIGHTS), FDSTOREREMOVE=1 and BARRIER=1 on
NOTIFY_SOCKET, keeps at most FDSTORE fds (dropping duplicates and, as systemd polls them,
connections the client has closed), and passes them back with LISTEN_FDS/LISTEN_FDNAMES on
the next start. tests/e2e/native.sh runs the same under systemd itself.

Checked: keep-alive connections idle across a restart are answered on the same TCP
connection, one mid-request at the stop too (its response keeps it alive), the stored
connections leave the store once the new ferry has them, FileDescriptorStoreMax= bounds what
is handed over (the rest close), listening sockets ferry bound itself survive restarts in the
store, and wrk with keep-alive sees 0 errors across 20 restarts."""
import array
import os
import re
import select
import shutil
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403

BODY = b"fdstore\n" * 40
SCM_MAX_FD = 253

# Puts the fds given as arguments at 3, 4, ... (as systemd does), sets LISTEN_PID, execs.
WRAPPER = r"""
import fcntl, os, sys
n = int(sys.argv[1]); fds = [int(x) for x in sys.argv[2:2 + n]]
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 1000) for fd in fds]
for fd in fds:
    os.close(fd)
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i)
    os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
argv = sys.argv[2 + n:]
os.execv(argv[0], argv)
"""


class FakeManager:
    """systemd's side: the notify socket, the fd store, starts and restarts."""

    def __init__(self, d, argv, store_max, listener=None, listener_name="http"):
        self.d = d
        self.argv = argv
        self.max = store_max
        self.listener = listener  # the socket unit's socket, or None
        self.listener_name = listener_name
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.path = os.path.join(d, "notify.sock")
        self.sock.bind(self.path)
        self.store = []  # [name, fd, poll]
        self.lock = threading.Lock()
        self.messages = []
        self.refused = 0
        self.proc = None
        self.starts = 0
        self.running = True
        self.t = threading.Thread(target=self._recv_loop, daemon=True)
        self.t.start()
        on_cleanup(self.close)

    # -- the notify socket
    def _recv_loop(self):
        while self.running:
            r, _, _ = select.select([self.sock], [], [], 0.05)
            if not r:
                continue
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(SCM_MAX_FD * 4))
            except OSError:
                return
            fds = array.array("i")
            for level, typ, payload in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                    fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
            self._handle(data.decode("utf-8", "replace"), list(fds))

    def _handle(self, text, fds):
        env = kv(text)
        with self.lock:
            self.messages.append(text)
            if env.get("BARRIER") == "1":
                for fd in fds:
                    os.close(fd)  # "processed": the sender sees POLLHUP
                return
            if env.get("FDSTOREREMOVE") == "1":
                name = env.get("FDNAME", "")
                for e in [e for e in self.store if e[0] == name]:
                    os.close(e[1])
                    self.store.remove(e)
            if env.get("FDSTORE") == "1":
                name = env.get("FDNAME", "stored")
                for fd in fds:
                    st = os.fstat(fd)
                    dup = any(os.fstat(e[1]).st_ino == st.st_ino for e in self.store)
                    if dup or len(self.store) >= self.max:
                        self.refused += 0 if dup else 1
                        os.close(fd)
                        continue
                    self.store.append([name, fd, env.get("FDPOLL") != "0"])
                return
            for fd in fds:
                os.close(fd)

    def names(self):
        with self.lock:
            return [e[0] for e in self.store]

    def _drop_hung_up(self):
        """systemd polls stored fds and drops those that hang up (unless FDPOLL=0)."""
        for e in list(self.store):
            if not e[2]:
                continue
            p = select.poll()
            p.register(e[1], select.POLLIN)
            for _, ev in p.poll(0):
                if ev & (select.POLLHUP | select.POLLERR | select.POLLRDHUP):
                    os.close(e[1])
                    self.store.remove(e)

    # -- the service
    def start(self):
        with self.lock:
            self._drop_hung_up()
            fds, names = [], []
            if self.listener is not None:
                fds.append(self.listener.fileno())
                names.append(self.listener_name)
            for name, fd, _ in self.store:
                fds.append(fd)
                names.append(name)
            env = {"NOTIFY_SOCKET": self.path, "FDSTORE": str(self.max),
                   "LISTEN_FDS": str(len(fds)), "LISTEN_FDNAMES": ":".join(names)}
            if not fds:
                env = {"NOTIFY_SOCKET": self.path, "FDSTORE": str(self.max)}
            self.proc = Proc([sys.executable, "-c", WRAPPER, str(len(fds))] +
                             [str(fd) for fd in fds] + self.argv,
                             env=env, pass_fds=tuple(fds), dir=self.d, name="ferry")
            self.starts += 1
        n = self.starts
        wait_until(lambda: self.ready_count() >= n or not self.proc.alive(), 10 * SLOW,
                   what="READY=1 of start %d" % n)
        check(self.proc.alive(), "ferry exited at start: %s" % self.proc.stderr()[-1500:])

    def ready_count(self):
        with self.lock:
            return sum(1 for m in self.messages if "READY=1" in m and "RELOADING" not in m)

    def stop(self):
        p = self.proc
        p.send_signal(signal.SIGTERM)
        rc = p.wait_exit(20)
        check_eq(rc, 0, "exit code of ferry at stop (stderr: %s)" % p.stderr()[-800:])
        return p

    def restart(self):
        old = self.stop()
        self.start()
        return old

    def close(self):
        self.running = False
        if self.proc is not None and self.proc.alive():
            self.proc.stop()
        self.t.join(2)
        with self.lock:
            for e in self.store:
                os.close(e[1])
            self.store = []
        self.sock.close()


def setup(extra=""):
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), BODY)
    cfg = write_config(d, "workers 2\naccess-log off\n%ssite * { root %s }\n" % (extra, root))
    return d, cfg


def listener():
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(128)
    on_cleanup(ls.close)
    return ls


def get(s, close=False, host=b"t"):
    """One GET on s; returns (status, headers lower-cased, body)."""
    s.sendall(b"GET /index.html HTTP/1.1\r\nHost: %s\r\n%s\r\n"
              % (host, b"Connection: close\r\n" if close else b""))
    return read_response(s)


def read_response(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionClosed("closed before a full head: %r" % buf[:200])
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    while len(rest) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionClosed("body cut")
        rest += chunk
    return int(lines[0].split()[1]), hdrs, rest[:n]


def conns(addr, n):
    out = []
    for _ in range(n):
        s = socket.create_connection(addr, timeout=10 * SLOW)
        status, hdrs, body = get(s)
        check_eq((status, body), (200, BODY), "first response")
        out.append(s)
    return out


def is_closed(s, timeout):
    """True when the server closes s (EOF or reset) within timeout."""
    r, _, _ = select.select([s], [], [], timeout)
    if not r:
        return False
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


@test("idle keep-alive connections survive 3 restarts: answered on the same TCP connection")
def _():
    d, cfg = setup()
    ls = listener()
    m = FakeManager(d, [FERRY, "serve", "--config", cfg], 16, ls)
    m.start()
    cs = conns(ls.getsockname(), 5)
    ports = [c.getsockname()[1] for c in cs]
    for i in range(3):
        old = m.restart()
        check_in("5 idle connections handed over", old.stderr(), "old ferry's log")
        m.proc.wait_stderr(r"5 idle connections taken back", 5)
        for c in cs:
            status, hdrs, body = get(c)
            check_eq((status, body), (200, BODY), "response on a connection after restart %d" % i)
            check("close" not in hdrs.get("connection", ""), "Connection: close after a restart")
        check_eq([c.getsockname()[1] for c in cs], ports, "the clients' ports")
    # Out of the store once taken back: only what a stop put there is ever in it.
    wait_until(lambda: not [n for n in m.names() if n.startswith("ferry-conn-")], 5 * SLOW,
               what="the connections removed from the store (now: %r)" % m.names())
    check_eq(m.refused, 0, "fds the store refused")
    # A connection ferry closes now closes for the client: nothing else holds it open.
    status, hdrs, _ = get(cs[0], close=True)
    check_eq(status, 200, "status")
    check(is_closed(cs[0], 5 * SLOW), "a Connection: close response ends the connection")
    for c in cs:
        c.close()
    m.stop()


@test("a request in flight at the stop: answered, the connection kept and handed over")
def _():
    d, cfg = setup()
    ls = listener()
    m = FakeManager(d, [FERRY, "serve", "--config", cfg], 16, ls)
    m.start()
    s = socket.create_connection(ls.getsockname(), timeout=10 * SLOW)
    s.sendall(b"GET /index.html HTTP/1.1\r\nHost: t\r\n")  # half a head
    wait_until(lambda: m.proc.stderr() is not None and tcp_established(m.proc.pid) > 0,
               5 * SLOW, what="the connection accepted")
    old = m.proc
    old.send_signal(signal.SIGTERM)
    wait_until(lambda: any("STOPPING=1" in x for x in m.messages), 5 * SLOW, what="STOPPING=1")
    s.sendall(b"\r\n")
    status, hdrs, body = read_response(s)
    check_eq((status, body), (200, BODY), "the response in flight")
    check("close" not in hdrs.get("connection", ""), "no Connection: close: it is handed over")
    check_eq(old.wait_exit(20), 0, "exit code")
    check_in("1 idle connection handed over", old.stderr(), "log")
    m.start()
    status, hdrs, body = get(s)
    check_eq((status, body), (200, BODY), "the next request, served by the new ferry")
    s.close()
    m.stop()


def tcp_established(pid):
    return tcp_conns(pid)


@test("FileDescriptorStoreMax= bounds it: 3 of 5 handed over, 2 closed")
def _():
    d, cfg = setup()
    ls = listener()
    m = FakeManager(d, [FERRY, "serve", "--config", cfg], 3, ls)
    m.start()
    cs = conns(ls.getsockname(), 5)
    old = m.stop()
    check_in("3 idle connections handed over", old.stderr(), "log")
    check_eq(m.refused, 0, "fds the store refused (ferry keeps to the bound)")
    closed = [c for c in cs if is_closed(c, 0.5 * SLOW)]
    check_eq(len(closed), 2, "connections closed at the stop")
    m.start()
    for c in cs:
        if c in closed:
            continue
        status, _, body = get(c)
        check_eq((status, body), (200, BODY), "a handed-over connection after the restart")
    for c in cs:
        c.close()
    m.stop()


@test("a listening socket ferry bound goes to the store: restarts keep it, queued clients too")
def _():
    d, cfg = setup()
    port = free_port()
    m = FakeManager(d, [FERRY, "serve", "--config", cfg, "--listen", "127.0.0.1:%d" % port],
                    16, None)
    m.start()
    wait_until(lambda: "ferry-listen" in m.names(), 5 * SLOW, what="ferry-listen in the store")
    cs = conns(("127.0.0.1", port), 2)
    old = m.stop()
    # Between two ferrys: the socket still listens (the store holds it), a client queues.
    queued = socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW)
    queued.sendall(b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n")
    m.start()
    check_eq(read_response(queued)[0], 200, "the client that connected between the two")
    for c in cs:
        check_eq(get(c)[0], 200, "an idle connection after the restart")
    check_eq(m.names().count("ferry-listen"), 1, "ferry-listen stored once (%r)" % m.names())
    check_not_in("cannot bind", m.proc.stderr(), "log")
    for c in cs + [queued]:
        c.close()
    m.stop()


@test("proxy-protocol listener: the client's address from the PROXY header survives a restart")
def _():
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), BODY)
    log = os.path.join(d, "access.log")
    port = free_port()
    cfg = write_config(d, "workers 1\naccess-log %s\nlisten 127.0.0.1:%d proxy-protocol\n"
                          "site * { root %s }\n" % (log, port, root))
    m = FakeManager(d, [FERRY, "serve", "--config", cfg], 16, None)
    m.start()
    s6 = socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW)
    s6.sendall(b"PROXY TCP6 2001:db8::7 ::1 4444 80\r\n")
    check_eq(get(s6)[0], 200, "first response (IPv6 client)")
    s4 = socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW)
    s4.sendall(b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n")
    check_eq(get(s4)[0], 200, "first response (IPv4 client)")
    old = m.restart()
    check_in("2 idle connections handed over", old.stderr(), "log")
    check_eq(get(s4, host=b"after")[0], 200, "after the restart (IPv4 client)")
    check_eq(get(s6, host=b"after")[0], 200, "after the restart (IPv6 client)")
    m.stop()
    lines = read_file(log).decode().splitlines()
    check_eq(sum(1 for ln in lines if ln.startswith("203.0.113.7 ")), 2, "IPv4 lines: %r" % lines)
    check_eq(sum(1 for ln in lines if ln.startswith("2001:db8::7 ")), 2, "IPv6 lines: %r" % lines)
    s4.close()
    s6.close()


@test("TLS connections are not handed over: closed at the stop")
def _():
    if not shutil.which("openssl"):
        raise Skip("openssl not installed")
    d = tmpdir()
    key, crt = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"], timeout=30)
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), BODY)
    cfg = write_config(d, "workers 1\naccess-log off\nlisten http tls\n"
                          "site localhost { root %s\ntls %s %s }\n" % (root, crt, key))
    ls = listener()
    m = FakeManager(d, [FERRY, "serve", "--config", cfg], 16, ls)
    m.start()
    import ssl
    ctx = ssl.create_default_context(cafile=crt)
    s = ctx.wrap_socket(socket.create_connection(ls.getsockname(), timeout=10 * SLOW),
                        server_hostname="localhost")
    check_eq(get(s, host=b"localhost")[0], 200, "a response over TLS")
    old = m.stop()
    check(not re.search(r"\d+ idle connections? handed over", old.stderr()),
          "nothing handed over: %s" % old.stderr()[-500:])
    check_eq([n for n in m.names() if n.startswith("ferry-conn-")], [], "stored connections")
    try:
        closed = s.recv(1) == b""
    except (ssl.SSLError, OSError):
        closed = True
    check(closed, "the TLS connection closed")
    s.close()


def wrk_errors(out):
    errs = {}
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errs = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errs["non-2xx"] = int(m.group(1))
    return {k: v for k, v in errs.items() if v}


@test("wrk with keep-alive during 20 restarts: 0 errors, its connections never reopened")
def _():
    if not shutil.which("wrk"):
        raise Skip("wrk not installed (scripts/deps.sh installs it)")
    d, cfg = setup()
    ls = listener()
    m = FakeManager(d, [FERRY, "serve", "--config", cfg], 64, ls)
    m.start()
    url = "http://%s:%d/index.html" % ls.getsockname()
    # Long enough for any machine; stopped with SIGINT (wrk then prints its summary).
    w = Proc(["wrk", "-t1", "-c8", "-d300s", "--timeout", "%ds" % int(5 * SLOW), url],
             name="wrk")
    wait_until(lambda: tcp_established(m.proc.pid) >= 8, 10 * SLOW, what="wrk's 8 connections")
    handed = 0
    for i in range(20):
        old = m.restart()
        mm = re.search(r"(\d+) idle connections? handed over", old.stderr())
        handed += int(mm.group(1)) if mm else 0
        time.sleep(0.1)  # let wrk send on the new ferry's connections
        check(w.alive(), "wrk still running at restart %d: %s" % (i, w.stdout()[-300:]))
    time.sleep(0.5)
    w.send_signal(signal.SIGINT)
    rc = w.wait_exit(30)
    out = w.stdout()
    summary = "; ".join(ln.strip() for ln in out.splitlines() if "requests in" in ln)
    diag("wrk during 20 restarts: %s; connections handed over: %d" % (summary, handed))
    check_eq(rc, 0, "wrk's exit code (%s)" % w.stderr()[-300:])
    check("requests in" in out, "wrk's summary: %s" % out[-500:])
    check_eq(wrk_errors(out), {}, "wrk's errors (%s)" % out[-600:])
    # Every stop handed all of wrk's connections over: none was closed and reopened.
    check_eq(handed, 20 * 8, "connections handed over in 20 restarts")
    m.stop()


main()
