"""Shared helpers for ferry's integration scenarios (stdlib only).

Each scenario file does:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
    from ferrylib import *

and then registers tests with ``@test("description")`` and ends with ``main()``. Every test
runs under an alarm (a hung test fails instead of hanging the suite), prints one TAP line, and
everything it started is stopped by PID in ``finally`` blocks (and again at exit).

Servers are started the way systemd would: ``systemd-socket-activate`` creates the sockets
(ports picked free just before, retried on collision) and execs ferry with the same PID on the
first connection. ``Proc`` wraps a process: stderr goes to a file in the scenario's temp dir,
``stop()`` sends a signal, waits, then SIGKILLs after a timeout.
"""

import contextlib
import errno
import hashlib
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
FERRY = os.path.abspath(os.environ.get("FERRY") or os.path.join(REPO, "build", "ferry"))
# The `make BROTLI=1` binary (encode br) beside FERRY: build/ferry-br, build-san/ferry-br
# (`make test` and `make check` build it). A test of br runs on it; without it, it fails.
FERRY_BR = os.path.abspath(os.environ.get("FERRY_BR") or FERRY + "-br")
SSA = shutil.which("systemd-socket-activate") or "/usr/bin/systemd-socket-activate"


def _is_sanitized(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return b"AddressSanitizer" in data or b"__ubsan_handle" in data


SANITIZED = _is_sanitized(FERRY)
# Sanitizer builds start and run 2-3x slower: scale the upper bounds (never the lower ones).
SLOW = 3.0 if SANITIZED else 1.0
TEST_TIMEOUT = int(os.environ.get("FERRY_TEST_TIMEOUT", "40")) * (2 if SANITIZED else 1)

# ---- TAP -------------------------------------------------------------------------------------

_tests = []
_cleanups = []  # callables run at exit (processes still running, temp dirs)


class TestFailure(AssertionError):
    pass


def ferry_br():
    """The brotli build's path; a test that needs it fails (never skips) when it is missing."""
    if not os.access(FERRY_BR, os.X_OK):
        raise TestFailure("no brotli build at %s (make %s): the br tests cannot run"
                          % (FERRY_BR, os.path.relpath(FERRY_BR, REPO)))
    return FERRY_BR


class TestTimeout(Exception):
    pass


class Skip(Exception):
    """Raise to report the test as "ok N - x # SKIP reason" (only for what this machine lacks)."""


def test(desc):
    def deco(fn):
        _tests.append((desc, fn))
        return fn
    return deco


def diag(msg):
    for line in str(msg).splitlines() or [""]:
        print("# " + line, flush=True)


def check(cond, msg="check failed"):
    if not cond:
        raise TestFailure(msg)


def check_eq(actual, expected, what="value"):
    if actual != expected:
        raise TestFailure("%s: expected %r, got %r" % (what, expected, _short(actual)))


def check_in(needle, hay, what="text"):
    if needle not in hay:
        raise TestFailure("%s: expected to contain %r, got %r" % (what, needle, _short(hay)))


def check_not_in(needle, hay, what="text"):
    if needle in hay:
        raise TestFailure("%s: must not contain %r, got %r" % (what, needle, _short(hay)))


def _short(v, n=600):
    s = v if isinstance(v, (str, bytes)) else repr(v)
    if len(s) > n:
        return s[:n] + (b"..." if isinstance(s, bytes) else "...")
    return s


def _on_alarm(signum, frame):
    raise TestTimeout("test exceeded %d s" % TEST_TIMEOUT)


def main():
    """Run every registered test in order, print TAP, exit 0 iff all passed."""
    signal.signal(signal.SIGALRM, _on_alarm)
    if not os.access(FERRY, os.X_OK):
        print("1..1")
        print("not ok 1 - ferry binary is executable (%s)" % FERRY, flush=True)
        sys.exit(1)
    sys.stderr.write("ferry: %s%s\n" % (FERRY, " (sanitizers)" if SANITIZED else ""))
    failed = 0
    t_all = time.monotonic()
    for n, (desc, fn) in enumerate(_tests, 1):
        t0 = time.monotonic()
        err = None
        skip = None
        signal.alarm(TEST_TIMEOUT)
        try:
            fn()
        except Skip as e:
            skip = str(e)
        except BaseException as e:  # noqa: BLE001 - report everything as a failure
            if isinstance(e, KeyboardInterrupt):
                raise
            err = e
            tb = traceback.format_exc()
        finally:
            signal.alarm(0)
            cerrs = _run_cleanups()
        if cerrs and err is None and skip is None:
            err = cerrs[0]
            tb = "".join(str(e) + "\n" for e in cerrs)
        dt = time.monotonic() - t0
        if skip is not None:
            print("ok %d - %s # SKIP %s" % (n, desc, skip), flush=True)
        elif err is None:
            print("ok %d - %s" % (n, desc), flush=True)
        else:
            failed += 1
            print("not ok %d - %s" % (n, desc), flush=True)
            lines = ("%s: %s" % (type(err).__name__, err)).splitlines()
            diag("\n".join(lines[:8] + (["... (%d more lines on stderr)" % (len(lines) - 8)]
                                        if len(lines) > 8 else [])))
            sys.stderr.write("--- %s\n%s\n" % (desc, tb))
        sys.stderr.write("[%5.2fs] %s\n" % (dt, desc))
    print("1..%d" % len(_tests), flush=True)
    sys.stderr.write("total %.2fs, %d failed\n" % (time.monotonic() - t_all, failed))
    sys.exit(1 if failed else 0)


def _run_cleanups():
    """Run and forget the current test's cleanups; return the failures they raised (a
    sanitizer report found when a process is stopped fails the test)."""
    errs = []
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except TestFailure as e:
            errs.append(e)
        except Exception as e:  # noqa: BLE001
            sys.stderr.write("cleanup failed: %r\n" % (e,))
    return errs


def on_cleanup(fn):
    """Run fn when the current test ends (pass or fail)."""
    _cleanups.append(fn)
    return fn


# ---- temp dirs -------------------------------------------------------------------------------

def tmpdir():
    d = tempfile.mkdtemp(prefix="ferry-it-")
    on_cleanup(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def write_file(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def read_file(path, default=b""):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return default


# ---- polling ---------------------------------------------------------------------------------

def wait_until(pred, timeout, interval=0.01, what="condition"):
    """Poll pred() until it returns something truthy; return it, or fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TestFailure("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


# ---- processes -------------------------------------------------------------------------------

_proc_seq = [0]


class Proc:
    """A process we started: stdout/stderr in files, stopped by PID."""

    def __init__(self, argv, env=None, cwd=None, stdin=None, pass_fds=(), dir=None,
                 name="proc"):
        self.dir = dir or tmpdir()
        _proc_seq[0] += 1
        base = os.path.join(self.dir, "%s-%d" % (name, _proc_seq[0]))
        self.out_path = base + ".out"
        self.err_path = base + ".err"
        self.argv = list(argv)
        full_env = dict(os.environ)
        full_env.update(SAN_ENV)
        for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET",
                  "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
            full_env.pop(k, None)
        if env:
            for k, v in env.items():
                if v is None:
                    full_env.pop(k, None)
                else:
                    full_env[k] = v
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.p = subprocess.Popen(self.argv, env=full_env, cwd=cwd,
                                      stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                      stdout=out, stderr=err, pass_fds=pass_fds,
                                      close_fds=True)
        self.pid = self.p.pid
        self.killed = False
        on_cleanup(self.cleanup)

    # -- state
    def poll(self):
        return self.p.poll()

    def alive(self):
        return self.p.poll() is None

    def stderr(self):
        return read_file(self.err_path).decode("utf-8", "replace")

    def stdout(self):
        return read_file(self.out_path).decode("utf-8", "replace")

    def exe(self):
        try:
            return os.path.realpath(os.readlink("/proc/%d/exe" % self.pid))
        except OSError:
            return None

    def wait_exec(self, timeout=5):
        """Wait until this PID runs ferry (systemd-socket-activate has exec'd it)."""
        target = os.path.realpath(FERRY)
        wait_until(lambda: self.exe() == target or not self.alive(), timeout * SLOW,
                   what="pid %d to exec ferry" % self.pid)
        check(self.alive(), "process exited before/while exec'ing ferry (rc=%r): %s"
              % (self.poll(), self.stderr()[-2000:]))

    def wait_stderr(self, pattern, timeout=5, what=None):
        rx = re.compile(pattern, re.M)
        m = wait_until(lambda: rx.search(self.stderr()), timeout * SLOW,
                       what=what or "stderr to match %r (stderr so far: %r)"
                       % (pattern, self.stderr()[-1500:]))
        return m

    def wait_exit(self, timeout):
        try:
            return self.p.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            raise TestFailure("pid %d did not exit within %.1fs; stderr: %s"
                              % (self.pid, timeout * SLOW, self.stderr()[-1500:]))

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def children(self):
        """PIDs whose parent is this process (Accept=yes spawns one per connection)."""
        kids = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
            except OSError:
                continue
            rest = st[st.rfind(")") + 2:].split()
            if len(rest) > 1 and int(rest[1]) == self.pid and rest[0] != "Z":
                kids.append(int(d))
        return kids

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signal, wait (timeout scaled for sanitizer builds), SIGKILL if it does not exit.
        Returns the exit code (negative: killed by that signal)."""
        for k in self.children():
            _kill_pid(k, sig)
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.killed = True
                os.kill(self.pid, signal.SIGKILL)
                self.p.wait(timeout=10)
        for k in self.children():
            _kill_pid(k, signal.SIGKILL)
        return self.p.returncode

    def cleanup(self):
        if self.alive() or self.children():
            self.stop(timeout=3)
        self.check_sanitizers()

    def check_sanitizers(self):
        check_no_sanitizer_report(self.stderr(), self.pid)


def check_no_sanitizer_report(text, pid):
    """Fail when a sanitizer reported something in a process's stderr."""
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer", "ThreadSanitizer"):
        if marker in text:
            i = text.find(marker)
            raise TestFailure("sanitizer report on pid %d:\n%s" % (pid, text[i:i + 3000]))


# Sanitizer reports end the process with an error and show up on its stderr (checked when
# it is stopped). Leak checking is off by default: ferry's startup-error paths exit without
# freeing, which is fine; test_lifecycle.py checks for leaks after a normal run on its own
# (FERRY_LEAKS=1 turns it on everywhere).
SAN_ENV = {
    "ASAN_OPTIONS": "abort_on_error=0:detect_leaks=%s" % os.environ.get("FERRY_LEAKS", "0"),
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}


def tcp_conns(pid):
    """Established TCP connections held by pid: sockets in /proc/PID/fd that /proc/net/tcp*
    lists in state ESTABLISHED. Lets a test wait until ferry has accepted a connection."""
    inodes = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if t.startswith("socket:["):
                inodes.add(t[8:-1])
    except OSError:
        return 0
    n = 0
    for tab in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(tab) as f:
            next(f)
            for line in f:
                parts = line.split()
                if parts[3] == "01" and parts[9] in inodes:
                    n += 1
    return n


def _kill_pid(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def run(argv, env=None, timeout=10, stdin_data=None):
    """Run to completion; returns (rc, stdout, stderr) as text."""
    full_env = dict(os.environ)
    full_env.update(SAN_ENV)
    for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "JOURNAL_STREAM"):
        full_env.pop(k, None)
    if env:
        full_env.update(env)
    kw = {"input": stdin_data} if stdin_data is not None else {"stdin": subprocess.DEVNULL}
    p = subprocess.run(argv, env=full_env, capture_output=True, timeout=timeout * SLOW, **kw)
    err = p.stderr.decode("utf-8", "replace")
    check_no_sanitizer_report(err, 0)
    return (p.returncode, p.stdout.decode("utf-8", "replace"), err)


# ---- addresses and ports ---------------------------------------------------------------------

class Addr:
    """One socket address: family, type, the Python sockaddr, and the spec strings for
    systemd-socket-activate (-l) and ferry (--listen)."""

    def __init__(self, family, type_, sockaddr, ssa_spec, ferry_spec):
        self.family = family
        self.type = type_
        self.sockaddr = sockaddr
        self.ssa = ssa_spec
        self.ferry = ferry_spec

    def __repr__(self):
        return "Addr(%s)" % self.ferry


def free_port(family=socket.AF_INET, type_=socket.SOCK_STREAM):
    host = "127.0.0.1" if family == socket.AF_INET else "::1"
    with socket.socket(family, type_) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def tcp4():
    p = free_port(socket.AF_INET)
    return Addr(socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", p), "127.0.0.1:%d" % p,
                "127.0.0.1:%d" % p)


def tcp6():
    p = free_port(socket.AF_INET6)
    return Addr(socket.AF_INET6, socket.SOCK_STREAM, ("::1", p, 0, 0), "[::1]:%d" % p,
                "[::1]:%d" % p)


def udp4():
    p = free_port(socket.AF_INET, socket.SOCK_DGRAM)
    return Addr(socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", p), "127.0.0.1:%d" % p,
                "udp:127.0.0.1:%d" % p)


def udp6():
    p = free_port(socket.AF_INET6, socket.SOCK_DGRAM)
    return Addr(socket.AF_INET6, socket.SOCK_DGRAM, ("::1", p, 0, 0), "[::1]:%d" % p,
                "udp:[::1]:%d" % p)


def unix_stream(dir_, name="s.sock"):
    path = os.path.join(dir_, name)
    return Addr(socket.AF_UNIX, socket.SOCK_STREAM, path, path, "unix:" + path)


def unix_dgram(dir_, name="d.sock"):
    path = os.path.join(dir_, name)
    return Addr(socket.AF_UNIX, socket.SOCK_DGRAM, path, path, "unixgram:" + path)


def vsock_any():
    import random
    p = random.randint(20000, 60000)
    return Addr(getattr(socket, "AF_VSOCK", 40), socket.SOCK_STREAM, (0xFFFFFFFF, p),
                "vsock:4294967295:%d" % p, "vsock:4294967295:%d" % p)


def vsock_available():
    """None when AF_VSOCK sockets can be created, else the reason."""
    fam = getattr(socket, "AF_VSOCK", None)
    if fam is None:
        return "Python has no AF_VSOCK"
    try:
        s = socket.socket(fam, socket.SOCK_STREAM)
    except OSError as e:
        return "cannot create an AF_VSOCK socket: %s" % e
    s.close()
    return None


def connect(addr, timeout=5):
    s = socket.socket(addr.family, addr.type)
    s.settimeout(timeout * SLOW)
    try:
        s.connect(addr.sockaddr)
    except BaseException:
        s.close()
        raise
    on_cleanup(s.close)
    return s


# ---- starting ferry --------------------------------------------------------------------------

def activate(make_addrs, ferry_args, fdnames=None, accept=False, inetd=False, datagram=False,
             setenv=None, dir=None, ferry=None, wrapper=None, tries=5, leaks=False):
    """Start `systemd-socket-activate -l A... [opts] ferry ARGS`. make_addrs() returns a fresh
    list of Addr (free ports picked anew on each try). Returns (proc, addrs) once every socket
    is listening; ferry itself is exec'd on the first connection (see Proc.wait_exec).
    setenv: dict passed with -E. leaks: LeakSanitizer on (sanitizer builds only matter).
    wrapper: argv prefix to run systemd-socket-activate under (it must exec it, keeping the
    PID), e.g. ["sh", "-c", 'exec "$0" "$@"']."""
    dir = dir or tmpdir()
    last = None
    for _ in range(tries):
        addrs = make_addrs()
        argv = [SSA]
        for a in addrs:
            argv += ["-l", a.ssa]
        if datagram:
            argv.append("-d")
        if accept:
            argv.append("-a")
        if inetd:
            argv.append("--inetd")
        if fdnames:
            argv.append("--fdname=" + ":".join(fdnames))
        # systemd-socket-activate passes only a few variables on: the sanitizer options too
        # must go with -E.
        san = dict(SAN_ENV)
        if leaks:
            san["ASAN_OPTIONS"] = san["ASAN_OPTIONS"].replace("detect_leaks=0", "detect_leaks=1")
        for k, v in list(san.items()) + list((setenv or {}).items()):
            argv += ["-E", "%s=%s" % (k, v)]
        argv += [ferry or FERRY] + list(ferry_args)
        if wrapper:
            argv = list(wrapper) + argv
        p = Proc(argv, dir=dir, name="ferry")
        n = len(addrs)

        def listening():
            if not p.alive():
                return "exited"
            return len(re.findall(r"^Listening on ", p.stderr(), re.M)) >= n

        r = wait_until(listening, 10 * SLOW, what="systemd-socket-activate to listen")
        if r is True:
            return p, addrs
        last = p.stderr()
        p.stop()
        if "in use" not in last:
            break
    raise TestFailure("systemd-socket-activate failed: %s" % last)


def start_bound(addrs_fn, ferry_args, mode="serve", dir=None, env=None, tries=5):
    """Start ferry binding its own sockets (--listen). Waits until each stream address
    accepts a connection (probe connections carry no data) and each Unix datagram path
    exists. Returns (proc, addrs)."""
    dir = dir or tmpdir()
    last = None
    for _ in range(tries):
        addrs = addrs_fn()
        argv = [FERRY, mode]
        for a in addrs:
            argv += ["--listen", a.ferry]
        argv += list(ferry_args)
        p = Proc(argv, dir=dir, env=env, name="ferry")

        def ready():
            if not p.alive():
                return "exited"
            for a in addrs:
                if a.type == socket.SOCK_STREAM:
                    try:
                        with socket.socket(a.family, a.type) as s:
                            s.settimeout(1)
                            s.connect(a.sockaddr)
                    except OSError:
                        return False
                elif a.family == socket.AF_UNIX and not os.path.exists(a.sockaddr):
                    return False
                elif a.family != socket.AF_UNIX:
                    # UDP: bound once a bind of our own fails (no SO_REUSEADDR here).
                    with socket.socket(a.family, a.type) as s:
                        try:
                            s.bind(a.sockaddr)
                            return False
                        except OSError:
                            pass
            return True

        r = wait_until(ready, 10 * SLOW, what="ferry to listen")
        if r is True:
            return p, addrs
        last = p.stderr()
        p.stop()
        if "in use" not in last:
            break
    raise TestFailure("ferry failed to start: %s" % last)


def write_config(dir_, text, name="ferry.conf"):
    return write_file(os.path.join(dir_, name), text)


FD3_WRAPPER = r"""
import os, sys
fd = int(sys.argv[1]); set_pid = sys.argv[2] == "1"
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.set_inheritable(3, True)
if set_pid:
    os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[3], sys.argv[3:])
"""


def run_with_fd3(sock, argv, env, set_listen_pid=True, dir=None):
    """Start argv with sock as fd 3 (as systemd passes it) and env; LISTEN_PID is set to the
    process's own pid (the wrapper execs, keeping it) when set_listen_pid."""
    return Proc([sys.executable, "-c", FD3_WRAPPER, str(sock.fileno()),
                 "1" if set_listen_pid else "0"] + list(argv),
                env=env, pass_fds=(sock.fileno(),), dir=dir, name="ferry")


# ---- HTTP client -----------------------------------------------------------------------------

class Response:
    def __init__(self, status, reason, version, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers  # list of (name, value)
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def __repr__(self):
        return "<Response %d %r %r body=%d bytes>" % (self.status, self.reason, self.headers,
                                                      len(self.body))


class ConnectionClosed(Exception):
    pass


# ---- one request over a chosen transport (curl) ----------------------------------------------

# The transports a request/response check can run over: HTTP/1.1 in clear, HTTP/1.1 over TLS,
# HTTP/2 over TLS (ALPN h2), HTTP/2 with prior knowledge in clear (an `h2c` listener).
TRANSPORTS = ("h1", "h1-tls", "h2", "h2c")
TLS_TRANSPORTS = ("h1-tls", "h2")


def fetch(transport, addr, path, method="GET", host="a.test", headers=(), body=None,
          cacert=None, timeout=30):
    """One request with curl over transport (see TRANSPORTS) to addr, the listener that
    speaks it, for host (resolved to addr: SNI and :authority/Host name it), the path sent
    as is (no dot-segment removal). HEAD leaves the body out. Returns a Response whose
    version is "HTTP/1.1" or "HTTP/2", with .curl_rc; a request curl could not complete (a
    stream reset, a connection closed) has status 0."""
    if transport not in TRANSPORTS:
        raise ValueError(transport)
    tls = transport in TLS_TRANSPORTS
    d = tmpdir()
    hfile, bfile = os.path.join(d, "head"), os.path.join(d, "body")
    port = addr.sockaddr[1]
    argv = ["curl", "-sS", "--path-as-is", "--max-time", str(int(timeout * SLOW)),
            "-D", hfile, "-o", bfile, "--resolve", "%s:%d:%s" % (host, port, addr.sockaddr[0]),
            "-H", "Expect:"]
    argv += {"h1": ["--http1.1"], "h1-tls": ["--http1.1"], "h2": ["--http2"],
             "h2c": ["--http2-prior-knowledge"]}[transport]
    if tls:
        argv += ["--cacert", cacert] if cacert else ["-k"]
    if method == "HEAD":
        argv.append("--head")
    elif method != "GET" or body is not None:
        argv += ["-X", method]
    for k, v in headers:
        argv += ["-H", "%s: %s" % (k, v)]
    if body is not None:
        bpath = os.path.join(d, "req")
        write_file(bpath, body)
        argv += ["--data-binary", "@" + bpath]
    argv.append("%s://%s:%d%s" % ("https" if tls else "http", host, port, path))
    p = subprocess.run(argv, capture_output=True, timeout=timeout * SLOW + 10)
    raw = read_file(hfile).decode("latin-1")
    # the last head (after any 1xx)
    blocks = [b for b in raw.split("\r\n\r\n") if b.strip()]
    # (with --head, curl writes the head to -o too: a HEAD's body is nothing)
    r = Response(0, "", "", [], b"" if method == "HEAD" else read_file(bfile),
                 blocks[-1] if blocks else "")
    r.curl_rc = p.returncode
    r.curl_err = p.stderr.decode("utf-8", "replace")
    if p.returncode != 0 or not blocks:
        r.status = 0
        return r
    lines = blocks[-1].split("\r\n")
    m = re.match(r"^(HTTP/[\d.]+) (\d{3}) ?(.*)$", lines[0])
    if not m:
        raise TestFailure("curl: bad status line %r" % lines[0])
    r.version = "HTTP/2" if m.group(1) == "HTTP/2" else m.group(1)
    r.status, r.reason = int(m.group(2)), m.group(3)
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        r.headers.append((k.strip(), v.strip()))
    want = "HTTP/2" if transport in ("h2", "h2c") else "HTTP/1.1"
    if r.version != want:
        raise TestFailure("%s: curl spoke %s, not %s" % (transport, r.version, want))
    return r


def fetch_many(transport, addr, paths, host="a.test", cacert=None, timeout=30):
    """GET each path (all different) in turn with one curl over transport (as fetch), which
    keeps its connection between them. Returns [(status, bytes of body, new connections
    made)]. h2c: nghttp, all at once on its one connection (curl 7.88 cannot reuse a
    prior-knowledge connection: curl/curl#10634, "Error in the HTTP2 framing layer"), which
    rounds sizes past 1 KiB."""
    tls = transport in TLS_TRANSPORTS
    port = addr.sockaddr[1]
    if transport == "h2c":
        argv = ["nghttp", "-ns", "-t", str(int(timeout * SLOW)), "-H", ":authority: " + host]
        argv += ["http://%s:%d%s" % (addr.sockaddr[0], port, path) for path in paths]
        p = subprocess.run(argv, capture_output=True, timeout=timeout * SLOW + 10)
        out = p.stdout.decode("utf-8", "replace")
        if p.returncode != 0:
            raise TestFailure("h2c: nghttp: %s%s" % (out[-500:], p.stderr.decode()))
        rows = {}
        for ln in out.split("request path", 1)[-1].splitlines():
            f = ln.split()
            if len(f) == 7:  # the size as nghttp prints it: 123, 4K, 1M (rounded)
                k = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(f[5][-1], 1)
                rows[f[6]] = (int(f[4]), int(float(f[5].rstrip("KMG")) * k))
        check(len(rows) == len(paths), "h2c: nghttp answered %d of %d: %s"
              % (len(rows), len(paths), out[-800:]))
        return [rows[path] + (1 if i == 0 else 0,) for i, path in enumerate(paths)]
    argv = ["curl", "-sS", "--path-as-is", "--max-time", str(int(timeout * SLOW)),
            "--resolve", "%s:%d:%s" % (host, port, addr.sockaddr[0]),
            "-w", "%{http_code} %{size_download} %{num_connects}\\n"]
    argv += {"h1": ["--http1.1"], "h1-tls": ["--http1.1"], "h2": ["--http2"],
             "h2c": ["--http2-prior-knowledge"]}[transport]
    if tls:
        argv += ["--cacert", cacert] if cacert else ["-k"]
    for path in paths:
        argv += ["-o", "/dev/null",
                 "%s://%s:%d%s" % ("https" if tls else "http", host, port, path)]
    p = subprocess.run(argv, capture_output=True, timeout=timeout * SLOW + 10)
    if p.returncode != 0:
        raise TestFailure("%s: curl: %s" % (transport, p.stderr.decode("utf-8", "replace")))
    return [tuple(int(x) for x in ln.split()) for ln in p.stdout.decode().splitlines()]


class HttpConn:
    """A raw client connection: send exact bytes, parse responses, observe closing."""

    def __init__(self, addr, timeout=5, sock=None, rcvbuf=None):
        if sock is None:
            sock = socket.socket(addr.family, addr.type)
            if rcvbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.settimeout(timeout * SLOW)
            try:
                sock.connect(addr.sockaddr)
            except BaseException:
                sock.close()
                raise
        self.sock = sock
        self.buf = b""
        self.eof = False
        self.timeout = timeout * SLOW
        on_cleanup(self.close)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)
        return self

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(262144)
        except ConnectionResetError:
            d = b""
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def read_response(self, head_only=False, method="GET", timeout=None):
        """Parse one response. head_only: HEAD request (no body whatever the headers)."""
        deadline = time.monotonic() + (timeout * SLOW if timeout else self.timeout)
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                raise ConnectionClosed("connection closed before a complete response head; "
                                       "got %r" % _short(self.buf))
        i = self.buf.index(b"\r\n\r\n")
        head = self.buf[:i].decode("latin-1")
        self.buf = self.buf[i + 4:]
        lines = head.split("\r\n")
        m = re.match(r"^(HTTP/\d\.\d) (\d{3}) ?(.*)$", lines[0])
        if not m:
            raise TestFailure("bad status line %r" % lines[0])
        headers = []
        for ln in lines[1:]:
            k, sep, v = ln.partition(":")
            if not sep:
                raise TestFailure("bad header line %r" % ln)
            headers.append((k, v.strip()))
        status = int(m.group(2))
        r = Response(status, m.group(3), m.group(1), headers, b"", head)
        if head_only or method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return r
        te = r.header("transfer-encoding")
        cl = r.header("content-length")
        if te is not None:
            raise TestFailure("unexpected Transfer-Encoding in a response: %r" % te)
        if cl is not None:
            n = int(cl)
            while len(self.buf) < n:
                if not self._fill(deadline):
                    raise ConnectionClosed("closed after %d of %d body bytes"
                                           % (len(self.buf), n))
            r.body, self.buf = self.buf[:n], self.buf[n:]
        else:
            while self._fill(deadline):
                pass
            r.body, self.buf = self.buf, b""
        return r

    def wait_closed(self, timeout=3):
        """True when the peer closes (EOF or reset) within timeout with no further bytes
        (bytes that do arrive are kept in self.buf and make this return False)."""
        if self.buf:
            return False
        deadline = time.monotonic() + timeout * SLOW
        try:
            while True:
                if not self._fill(deadline):
                    return not self.buf
                if self.buf:
                    return False
        except socket.timeout:
            return False

    def recv_all(self, timeout=5):
        """Everything until EOF."""
        deadline = time.monotonic() + timeout * SLOW
        while self._fill(deadline):
            pass
        out, self.buf = self.buf, b""
        return out

    def wait_consumed(self, timeout=5):
        """Wait until the server has read everything we sent on this TCP connection: its
        socket's receive queue (/proc/net/tcp*) is empty. Synchronizes "ferry has seen these
        bytes" without sleeping."""
        here = self.sock.getsockname()[1]
        there = self.sock.getpeername()[1]

        def consumed():
            for tab in ("/proc/net/tcp", "/proc/net/tcp6"):
                with open(tab) as f:
                    next(f)
                    for line in f:
                        parts = line.split()
                        lport = int(parts[1].rsplit(":", 1)[1], 16)
                        rport = int(parts[2].rsplit(":", 1)[1], 16)
                        if lport == there and rport == here:
                            return int(parts[4].split(":")[1], 16) == 0
            return False
        wait_until(consumed, timeout * SLOW, what="the server to read what was sent")

    def is_open_idle(self, wait=0.3):
        """True when nothing arrives and the connection stays open for `wait` seconds."""
        if self.buf:
            return False
        r, _, _ = select.select([self.sock], [], [], wait)
        if not r:
            return True
        return False


def request_bytes(path="/", method="GET", host="localhost", headers=(), version="HTTP/1.1",
                  body=b""):
    lines = ["%s %s %s" % (method, path, version)]
    if host is not None:
        lines.append("Host: " + host)
    for h in headers:
        lines.append(h if isinstance(h, str) else "%s: %s" % h)
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return data + body


def http_get(addr, path="/", method="GET", host="localhost", headers=(), version="HTTP/1.1",
             timeout=5):
    """One request on a fresh connection (Connection: close); returns the Response."""
    c = HttpConn(addr, timeout=timeout)
    try:
        c.send(request_bytes(path, method, host, list(headers) + ["Connection: close"],
                             version))
        return c.read_response(method=method)
    finally:
        c.close()


def exchange(addr, raw, method="GET", timeout=5):
    """Send raw bytes on a fresh connection; return (Response, closed_afterwards)."""
    c = HttpConn(addr, timeout=timeout)
    try:
        c.send(raw)
        r = c.read_response(method=method)
        return r, c.wait_closed(3)
    finally:
        c.close()


def fetch_raw(addr, raw, method="GET", timeout=5):
    """Send raw bytes on a fresh connection; return the first Response (then close)."""
    c = HttpConn(addr, timeout=timeout)
    try:
        c.send(raw)
        return c.read_response(method=method)
    finally:
        c.close()


def sha(b):
    return hashlib.sha256(b).hexdigest()[:16]


# ---- sd_notify receiver ----------------------------------------------------------------------

SO_TIMESTAMP = getattr(socket, "SO_TIMESTAMP", 29)  # Linux: struct timeval in SCM_TIMESTAMP


class NotifySocket:
    """A fake NOTIFY_SOCKET: an AF_UNIX datagram socket (path or abstract)."""

    def __init__(self, dir_=None, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "ferry-it-notify-%d-%d" % (os.getpid(), _proc_seq[0] + int(time.time() * 1e6))
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            path = os.path.join(dir_ or tmpdir(), "notify.sock")
            self.sock.bind(path)
            self.env = path
        # Kernel receive timestamps: the time a message was queued, not when we got to it.
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
        self.messages = []  # (kernel receive time (wall clock, s), text)
        on_cleanup(self.sock.close)

    def _recv(self, timeout):
        r, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        if not r:
            return False
        d, anc, _, _ = self.sock.recvmsg(65536, 64)
        t = time.time()
        for level, typ, data in anc:
            if level == socket.SOL_SOCKET and typ == SO_TIMESTAMP and len(data) >= 16:
                sec, usec = struct.unpack("qq", data[:16])
                t = sec + usec / 1e6
        self.messages.append((t, d.decode("utf-8", "replace")))
        return True

    def drain(self):
        while self._recv(0):
            pass

    def wait_for(self, pred, timeout=5, what="notify message"):
        """Wait for a message m with pred(m); return it."""
        deadline = time.monotonic() + timeout * SLOW
        seen = 0
        while True:
            for _, m in self.messages[seen:]:
                if pred(m):
                    return m
            seen = len(self.messages)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("no %s within %.1fs; got %r" % (what, timeout * SLOW,
                                                                 [m for _, m in self.messages]))
            self._recv(left)

    def collect(self, duration):
        """Receive for exactly `duration` seconds (for counting periodic messages)."""
        deadline = time.monotonic() + duration
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._recv(left)

    def texts(self):
        return [m for _, m in self.messages]


def kv(msg):
    """Parse a notify message into a dict."""
    d = {}
    for line in msg.split("\n"):
        k, sep, v = line.partition("=")
        if sep:
            d[k] = v
    return d
