#!/usr/bin/env python3
"""Logs: the access log (Combined Log Format to a file, stderr by default, or off) and the
error log's journald priority prefixes when JOURNAL_STREAM names stderr."""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403

CLF = re.compile(r'^(?P<host>\S+) - - \[(?P<ts>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] '
                 r'"(?P<req>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+|-) '
                 r'"(?P<ref>[^"]*)" "(?P<ua>[^"]*)"$')


def start(config, addrs=None, root=True):
    d = tmpdir()
    args = ["serve", "--config", write_config(d, config % {"d": d})]
    if root:
        write_file(os.path.join(d, "www", "index.html"), "0123456789\n")
        args += ["--root", os.path.join(d, "www")]
    p, addrs = activate(addrs or (lambda: [tcp4()]), args, dir=d)
    return p, addrs, d


@test("access-log PATH: one Combined Log Format line per request with all fields")
def _():
    p, (a,), d = start("access-log %(d)s/access.log\n")
    log = os.path.join(d, "access.log")
    r = http_get(a, "/index.html?q=1", headers=["Referer: http://ref.example/page",
                                                "User-Agent: ferry-test/1.0 (x)"])
    check_eq(r.status, 200, "status")
    text = wait_until(lambda: read_file(log).decode(), 5 * SLOW, what="a line in %s" % log)
    lines = text.splitlines()
    check_eq(len(lines), 1, "lines")
    m = CLF.match(lines[0])
    check(m, "not Combined Log Format: %r" % lines[0])
    check_eq(m["host"], "127.0.0.1", "host")
    check_eq(m["req"], "GET /index.html?q=1 HTTP/1.1", "request line")
    check_eq(m["status"], "200", "status")
    check_eq(m["bytes"], "11", "bytes")
    check_eq(m["ref"], "http://ref.example/page", "referer")
    check_eq(m["ua"], "ferry-test/1.0 (x)", "user-agent")
    check_not_in("ferry-test", p.stderr(), "stderr (the log went to the file)")


@test("access log: 404, HEAD (0 body bytes), missing Referer/User-Agent as \"-\", IPv6 peer")
def _():
    p, (a, b), d = start("access-log %(d)s/access.log\n", lambda: [tcp4(), tcp6()])
    log = os.path.join(d, "access.log")
    fetch_raw(a, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
    fetch_raw(a, b"HEAD /index.html HTTP/1.1\r\nHost: x\r\n\r\n", method="HEAD")
    fetch_raw(b, b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
    lines = wait_until(lambda: (lambda ls: len(ls) >= 3 and ls)(read_file(log).decode()
                                                                .splitlines()),
                       5 * SLOW, what="three log lines")
    ms = [CLF.match(ln) for ln in lines]
    check(all(ms), "not Combined Log Format: %r" % lines)
    by_req = {m["req"]: m for m in ms}
    m = by_req.get("GET /nope HTTP/1.1")
    check(m and m["status"] == "404" and m["ref"] == "-" and m["ua"] == "-", "404 line %r" % lines)
    m = by_req.get("HEAD /index.html HTTP/1.1")
    check(m and m["status"] == "200" and m["bytes"] in ("0", "-"), "HEAD line %r" % lines)
    m = by_req.get("GET /index.html HTTP/1.1")
    check(m and m["host"] == "::1", "IPv6 line %r" % lines)


@test("access log: a request that fails to parse is logged with its status")
def _():
    p, (a,), d = start("access-log %(d)s/access.log\n")
    log = os.path.join(d, "access.log")
    exchange(a, b"GET / HTTP/1.1\r\nHost : x\r\n\r\n")
    line = wait_until(lambda: read_file(log).decode().strip(), 5 * SLOW, what="a log line")
    m = CLF.match(line)
    check(m, "not Combined Log Format: %r" % line)
    check_eq(m["status"], "400", "status")


@test("access log: quotes and control bytes in logged fields are escaped")
def _():
    p, (a,), d = start("access-log %(d)s/access.log\n")
    log = os.path.join(d, "access.log")
    fetch_raw(a, b'GET /index.html HTTP/1.1\r\nHost: x\r\nUser-Agent: a"b\\c\xff\r\n'
                 b'Referer: "\x7f"\r\n\r\n')
    line = wait_until(lambda: read_file(log).decode("latin-1").strip(), 5 * SLOW,
                      what="a log line")
    check(CLF.match(line), "an unescaped quote broke the format: %r" % line)
    check_eq(len(line.splitlines()), 1, "one line")
    check(all(0x20 <= ord(ch) < 0x7f for ch in line), "raw control/8-bit bytes in %r" % line)


@test("default access log goes to stderr; `access-log off` writes nothing")
def _():
    p, (a,), d = start("workers 1\n")
    fetch_raw(a, request_bytes("/index.html", headers=["User-Agent: default-ua-marker"]))
    p.wait_stderr(r'"GET /index\.html HTTP/1\.1" 200 .*default-ua-marker',
                  what="an access log line on stderr")
    p.stop()
    p, (a,), d = start("access-log off\n")
    for i in range(3):
        fetch_raw(a, request_bytes("/index.html", headers=["User-Agent: off-ua-marker"]))
    check_eq(p.stop(), 0, "exit code")  # flushes whatever there would be
    check_not_in("off-ua-marker", p.stderr(), "stderr")
    check_not_in("GET /index.html", p.stderr(), "stderr")
    extra = [f for f in os.listdir(d) if f not in ("ferry.conf", "www")
             and not re.match(r"^ferry-\d+\.(out|err)$", f)]
    check_eq(extra, [], "files written in the dir")


@test("access log file: lines from many connections, none lost or interleaved")
def _():
    p, (a,), d = start("access-log %(d)s/access.log\n")
    log = os.path.join(d, "access.log")
    conns = [HttpConn(a) for _ in range(20)]
    for rnd in range(5):
        for i, c in enumerate(conns):
            c.send(request_bytes("/index.html?c=%d&r=%d" % (i, rnd)))
        for c in conns:
            check_eq(c.read_response().status, 200, "status")
    lines = wait_until(lambda: (lambda ls: len(ls) >= 100 and ls)(read_file(log).decode()
                                                                 .splitlines()),
                       5 * SLOW, what="100 log lines")
    check_eq(len(lines), 100, "lines")
    check(all(CLF.match(ln) for ln in lines), "a malformed line")
    reqs = sorted(CLF.match(ln)["req"] for ln in lines)
    want = sorted("GET /index.html?c=%d&r=%d HTTP/1.1" % (i, r) for i in range(20)
                  for r in range(5))
    check_eq(reqs, want, "logged requests")


def journal_start(d, extra_env=None, stream=True):
    """Start ferry under systemd-socket-activate with stderr a file whose dev:ino we pass as
    JOURNAL_STREAM (or a wrong one)."""
    err_path = os.path.join(d, "journal-stderr.log")
    st_file = open(err_path, "wb")
    on_cleanup(st_file.close)
    st = os.fstat(st_file.fileno())
    js = "%d:%d" % (st.st_dev, st.st_ino if stream else st.st_ino + 1)
    port_addr = tcp4()
    san = [x for k, v in SAN_ENV.items() for x in ("-E", "%s=%s" % (k, v))]
    argv = [SSA, "-l", port_addr.ssa, "-E", "JOURNAL_STREAM=" + js] + san + [FERRY, "serve",
            "--config", write_config(d, "access-log off\n")]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=st_file, env={k: v for k, v in os.environ.items()
                                                 if k != "JOURNAL_STREAM"})

    def stop():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10 * SLOW)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        check_no_sanitizer_report(read_file(err_path).decode("utf-8", "replace"), proc.pid)
    on_cleanup(stop)
    wait_until(lambda: "Listening on" in read_file(err_path).decode(), 5 * SLOW,
               what="systemd-socket-activate to listen")
    check_eq(http_get(port_addr).status, 200, "first request")
    return proc, err_path, stop


@test("JOURNAL_STREAM = stderr's dev:ino: error log lines start with <N> priorities")
def _():
    d = tmpdir()
    proc, err_path, stop = journal_start(d)
    proc.send_signal(signal.SIGHUP)  # logs a notice
    wait_until(lambda: "SIGHUP" in read_file(err_path).decode(), 5 * SLOW,
               what="the SIGHUP notice")
    stop()
    text = read_file(err_path).decode()
    ferry_lines = text.split("Execing", 1)[1].splitlines()[1:]
    ferry_lines = [ln for ln in ferry_lines if ln.strip()]
    check(ferry_lines, "no lines from ferry")
    for ln in ferry_lines:
        check(re.match(r"^<[0-7]>\S", ln), "line without a <N> prefix: %r" % ln)
    hup = [ln for ln in ferry_lines if "SIGHUP" in ln]
    check(hup and hup[0].startswith("<5>"), "SIGHUP notice should be <5> (notice): %r" % hup)


@test("JOURNAL_STREAM naming another file: plain 'ferry: level:' lines")
def _():
    d = tmpdir()
    proc, err_path, stop = journal_start(d, stream=False)
    proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "SIGHUP" in read_file(err_path).decode(), 5 * SLOW,
               what="the SIGHUP notice")
    stop()
    text = read_file(err_path).decode()
    hup = [ln for ln in text.splitlines() if "SIGHUP" in ln]
    check(hup and hup[0].startswith("ferry: notice: "), "SIGHUP line %r" % hup)
    check(not re.search(r"^<\d>", text, re.M), "a <N> prefix without the journal: %r" % text)


if __name__ == "__main__":
    main()
