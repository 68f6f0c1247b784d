"""The client side of native.sh's fd store check, run in the guest's network namespace (nsenter
-n: the host's python3 and wrk, the guest's loopback): keep-alive connections idle across
`systemctl restart` are answered on the same TCP connection, and wrk with keep-alive sees no
error during 20 restarts. RESTART is the command that restarts the service (through nsenter
into the guest) and prints its new MainPID.
  fdstore-client.py PORT BODY_FILE WRK RESTART...
Prints "ok - x" / "not ok - x" / "# note" lines (native.sh numbers them)."""
import re
import signal
import socket
import subprocess
import sys
import time

port = int(sys.argv[1])
body = open(sys.argv[2], "rb").read()
wrk = sys.argv[3]
restart_cmd = sys.argv[4:]
addr = ("127.0.0.1", port)


def ok(name, good, *detail):
    print(("ok - " if good else "not ok - ") + name)
    if not good:
        for d in detail:
            for ln in str(d).splitlines():
                print("# " + ln)
    sys.stdout.flush()
    return good


def get(s):
    s.sendall(b"GET / HTTP/1.1\r\nHost: fdstore\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response (%d bytes)" % len(buf))
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    n = 0
    close = False
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        if k.strip().lower() == "content-length":
            n = int(v)
        if k.strip().lower() == "connection" and "close" in v.lower():
            close = True
    while len(rest) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("body cut")
        rest += chunk
    return int(lines[0].split()[1]), rest[:n], close


def restart():
    r = subprocess.run(restart_cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("restart failed: %s %s" % (r.stdout, r.stderr))
    return r.stdout.strip()


# 1. Idle keep-alive connections across 3 restarts.
conns = []
try:
    for _ in range(5):
        s = socket.create_connection(addr, timeout=20)
        status, b, _ = get(s)
        if (status, b) != (200, body):
            raise RuntimeError("first response: %d %r" % (status, b[:80]))
        conns.append(s)
    ports = [c.getsockname()[1] for c in conns]
    pids = [restart()]
    problems = []
    for i in range(3):
        if i:
            pids.append(restart())
        for c in conns:
            status, b, close = get(c)
            if (status, b, close) != (200, body, False):
                problems.append("restart %d: %d %r close=%s" % (i + 1, status, b[:60], close))
    same = [c.getsockname()[1] for c in conns] == ports
    ok("fd store: 5 keep-alive connections idle across 3 systemctl restarts answered on the "
       "same TCP connection (MainPIDs %s)" % " ".join(pids),
       not problems and same and len(set(pids)) == 3, *problems)
except Exception as e:  # noqa: BLE001 - reported as a failed check
    ok("fd store: keep-alive connections idle across systemctl restarts", False, repr(e))
for c in conns:
    c.close()

# 2. wrk with keep-alive during 20 restarts: 0 errors.
w = subprocess.Popen([wrk, "-t1", "-c8", "-d300s", "--timeout", "5s",
                      "http://127.0.0.1:%d/" % port], stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT, text=True)
err = None
try:
    time.sleep(0.5)
    t0 = time.monotonic()
    for i in range(20):
        restart()
        time.sleep(0.1)
    took = time.monotonic() - t0
except Exception as e:  # noqa: BLE001
    err = repr(e)
time.sleep(0.5)
w.send_signal(signal.SIGINT)
try:
    out, _ = w.communicate(timeout=30)
except subprocess.TimeoutExpired:
    w.kill()
    out, _ = w.communicate()
errors = {}
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
if m:
    errors = {k: int(v) for k, v in zip(("connect", "read", "write", "timeout"), m.groups())
              if int(v)}
m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
if m:
    errors["non-2xx"] = int(m.group(1))
summary = " ".join(ln.strip() for ln in out.splitlines() if "requests in" in ln)
ok("fd store: wrk -c8 with keep-alive during 20 systemctl restarts: 0 errors (%s%s)"
   % (summary or "no summary", "; 20 restarts in %.1f s" % took if err is None else ""),
   err is None and "requests in" in summary and not errors,
   err or "", "errors: %r" % errors, out[-800:])
