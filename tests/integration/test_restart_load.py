"""Restart, reload and idle exit under load cost nothing: a load client keeps requesting over
several keep-alive connections while ferry is stopped and started again on the same inherited
socket (as systemd does), reloaded with SIGHUP, and left to exit on idle and be started again
by a supervisor that watches the socket (as systemd socket activation does).

The client retries an idempotent request once when the connection was closed before any byte
of the response (RFC 9112 §9.3.1, what browsers and curl do). Zero failed requests allowed;
the raw number of such retries is reported."""
import os
import select
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403

BODY = b"restart-load\n" * 50
FERRY_ARGV = [FERRY, "serve", "--config"]
FD_ENV = {"LISTEN_FDS": "1"}


class Supervisor:
    """Plays systemd: owns the listening socket; starts ferry on it when a connection waits
    and ferry is not running; restarts it on request."""

    def __init__(self, d, config):
        self.d = d
        self.config = config
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(1024)
        self.addr = self.ls.getsockname()
        self.proc = None
        self.starts = 0
        self.lock = threading.Lock()
        self.stop_flag = False
        self.exit_codes = []
        self.t = threading.Thread(target=self._watch, daemon=True)
        self.t.start()

    def start(self):
        with self.lock:
            self.proc = run_with_fd3(self.ls, FERRY_ARGV + [self.config], FD_ENV, dir=self.d)
            self.starts += 1

    def _reap(self):
        if self.proc is not None and self.proc.poll() is not None:
            self.exit_codes.append(self.proc.poll())
            self.proc = None

    def _watch(self):
        # Socket activation: a pending connection and no service running -> start it.
        while not self.stop_flag:
            with self.lock:
                self._reap()
                running = self.proc is not None
            if running:
                time.sleep(0.005)
                continue
            r, _, _ = select.select([self.ls], [], [], 0.01)
            if r and not self.stop_flag:
                with self.lock:
                    self._reap()
                    if self.proc is None:
                        self.proc = run_with_fd3(self.ls, FERRY_ARGV + [self.config], FD_ENV,
                                                 dir=self.d)
                        self.starts += 1

    def restart(self):
        """systemctl restart: stop (SIGTERM, wait for exit), start again on the same socket."""
        with self.lock:  # the watcher must not start one in between
            p = self.proc
            if p is not None:
                p.send_signal(signal.SIGTERM)
                p.wait_exit(20 * SLOW)
                self._reap()
            self.proc = run_with_fd3(self.ls, FERRY_ARGV + [self.config], FD_ENV, dir=self.d)
            self.starts += 1

    def close(self):
        self.stop_flag = True
        self.t.join(2)
        with self.lock:
            if self.proc is not None:
                self.proc.stop()
                self.exit_codes.append(self.proc.poll())
        self.ls.close()


class Load:
    """N clients, each on a keep-alive connection, GET in a loop; counts outcomes."""

    def __init__(self, addr, n=4):
        self.addr = addr
        self.ok = 0
        self.failed = []
        self.retried = 0
        self.lock = threading.Lock()
        self.running = True
        self.paused = threading.Event()
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(n)]
        for t in self.threads:
            t.start()

    def _connect(self):
        s = socket.create_connection(self.addr, timeout=20 * SLOW)
        return s

    def _once(self, s):
        """One request on s. Returns 'ok', 'closed-before-response' or raises."""
        s.sendall(b"GET /index.html HTTP/1.1\r\nHost: load\r\n\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                if buf:
                    raise RuntimeError("closed inside the response head: %r" % buf[:200])
                return "closed-before-response"
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        clen = 0
        close = False
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            if k.strip().lower() == b"content-length":
                clen = int(v.strip())
            if k.strip().lower() == b"connection" and v.strip().lower() == b"close":
                close = True
        while len(rest) < clen:
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError("response body cut at %d of %d bytes" % (len(rest), clen))
            rest += chunk
        if status != 200 or rest[:clen] != BODY:
            raise RuntimeError("bad response: %d %r" % (status, rest[:100]))
        return "ok-close" if close else "ok"

    def _client(self):
        s = None
        while self.running:
            if self.paused.is_set():
                if s is not None:
                    s.close()
                    s = None
                time.sleep(0.01)
                continue
            try:
                if s is None:
                    s = self._connect()
                r = self._once(s)
                if r == "closed-before-response":
                    # RFC 9112 §9.3.1: retry an idempotent request once on a new connection.
                    with self.lock:
                        self.retried += 1
                    s.close()
                    s = self._connect()
                    r = self._once(s)
                    if r == "closed-before-response":
                        raise RuntimeError("closed before a response twice in a row")
                with self.lock:
                    self.ok += 1
                if r == "ok-close":
                    s.close()
                    s = None
            except Exception as e:  # noqa: BLE001 - every failure is counted
                with self.lock:
                    self.failed.append(repr(e))
                if s is not None:
                    s.close()
                s = None
                time.sleep(0.01)
        if s is not None:
            s.close()

    def stop(self):
        self.running = False
        for t in self.threads:
            t.join(30 * SLOW)


def setup(config_text):
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), BODY)
    cfg = write_config(d, config_text.replace("ROOT", root))
    return d, cfg


def wrk_raw_errors(sup):
    """For the record, not asserted: wrk does not retry, so restarts show up as its raw socket
    errors (connections closed by a stopping server before a response)."""
    import shutil
    if not shutil.which("wrk"):
        diag("wrk not installed: no raw figures")
        return
    w = Proc(["wrk", "-t1", "-c8", "-d3s", "http://%s:%d/index.html" % sup.addr], name="wrk")
    t_end = time.monotonic() + 2.5
    n = 0
    while time.monotonic() < t_end:
        sup.restart()
        n += 1
        time.sleep(0.1)
    w.wait_exit(20)
    out = w.stdout()
    req = [ln.strip() for ln in out.splitlines() if "requests in" in ln]
    err = [ln.strip() for ln in out.splitlines() if "Socket errors" in ln or "Non-2xx" in ln]
    diag("wrk during %d restarts: %s; raw errors: %s" % (n, "; ".join(req) or "?",
                                                         "; ".join(err) or "none"))


def report(load, sup):
    diag("requests ok: %d, retried after a close before any response byte: %d, failed: %d, "
         "ferry starts: %d" % (load.ok, load.retried, len(load.failed), sup.starts))
    for f in load.failed[:5]:
        diag("failure: %s" % f)


@test("20 restarts on the same socket under load: zero failed requests")
def _():
    d, cfg = setup("workers 2\naccess-log off\nsite * { root ROOT }\n")
    sup = Supervisor(d, cfg)
    load = None
    try:
        sup.start()
        load = Load(sup.addr)
        wait_until(lambda: load.ok > 20, 10 * SLOW, what="first responses")
        for _ in range(20):
            sup.restart()
            before = load.ok  # what follows comes from the new process
            wait_until(lambda: load.ok > before + 5, 10 * SLOW, what="responses after restart")
        load.stop()
        report(load, sup)
        check_eq(load.failed, [], "failed requests")
        check(sup.starts >= 21, "ferry started %d times" % sup.starts)
        check(all(c == 0 for c in sup.exit_codes), "exit codes %r" % sup.exit_codes)
        wrk_raw_errors(sup)  # after the checks: it restarts faster than startup may finish
    finally:
        if load:
            load.stop()
        sup.close()


@test("20 reloads (SIGHUP) under load: zero failed requests, the new config applies")
def _():
    d, cfg = setup("workers 2\naccess-log off\nsite * { root ROOT }\n")
    text = open(cfg).read()
    sup = Supervisor(d, cfg)
    load = None
    try:
        sup.start()
        load = Load(sup.addr)
        wait_until(lambda: load.ok > 20, 10 * SLOW, what="first responses")
        for i in range(20):
            before = load.ok
            with open(cfg, "w") as f:
                f.write(text + "header-timeout %ds\n" % (5 + i % 3))
            sup.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: sup.proc.stderr().count("SIGHUP: reloaded") >= i + 1,
                       10 * SLOW, what="reload %d logged" % (i + 1))
            wait_until(lambda: load.ok > before + 5, 10 * SLOW, what="responses after reload")
        pid = sup.proc.pid
        load.stop()
        report(load, sup)
        check_eq(load.failed, [], "failed requests")
        check_eq(sup.starts, 1, "ferry starts (a reload is not a restart)")
        check_eq(sup.proc.pid, pid, "pid")
    finally:
        if load:
            load.stop()
        sup.close()


@test("10 idle exits and re-activations: exit 0 on idle, zero failed requests")
def _():
    d, cfg = setup("workers 2\naccess-log off\nidle-exit 300ms\nkeepalive-timeout 100ms\n"
                   "site * { root ROOT }\n")
    sup = Supervisor(d, cfg)
    load = None
    try:
        sup.start()
        load = Load(sup.addr)
        for i in range(10):
            before = load.ok
            load.paused.clear()
            wait_until(lambda: load.ok > before + 10, 10 * SLOW, what="responses")
            load.paused.set()
            # Idle: ferry exits by itself, with status 0.
            wait_until(lambda: len(sup.exit_codes) >= i + 1, 10 * SLOW, what="idle exit %d" % i)
        load.paused.clear()
        before = load.ok
        wait_until(lambda: load.ok > before + 10, 10 * SLOW, what="responses after the last")
        load.stop()
        report(load, sup)
        check_eq(load.failed, [], "failed requests")
        check(sup.starts >= 11, "ferry started %d times" % sup.starts)
        check(all(c == 0 for c in sup.exit_codes), "exit codes %r" % sup.exit_codes)
    finally:
        if load:
            load.stop()
        sup.close()


main()
