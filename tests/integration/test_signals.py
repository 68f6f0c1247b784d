#!/usr/bin/env python3
"""Signals besides the stopping and reloading ones: SIGUSR1 opens the log files again after a
rotation renamed them (the access log, and stderr when it is a file), in every worker, without
losing a line; stray signals (SIGUSR2, SIGALRM, SIGWINCH, SIGPIPE, real-time ones, ...) are
logged or ignored, never fatal."""
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403


def start(config=""):
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), "index\n")
    args = ["--root", root, "--config", write_config(d, config % {"d": d})]
    p, (a,) = start_bound(lambda: [tcp4()], args, dir=d)
    return p, a, d


def log_lines(path):
    return [ln for ln in read_file(path).decode().splitlines() if ln]


@test("stray signals (USR2, ALRM, VTALRM, WINCH, IO, PIPE, RTMIN+3) do not stop ferry")
def _():
    p, a, d = start("access-log off\n")
    sigs = [signal.SIGUSR2, signal.SIGALRM, signal.SIGVTALRM, signal.SIGWINCH, signal.SIGIO,
            signal.SIGPIPE, signal.SIGRTMIN + 3]
    for s in sigs:
        p.send_signal(s)
    # each logged one says so (SIGPIPE is ignored without a word: EPIPE is what ferry wants)
    for s, name in ((signal.SIGUSR2, "USR2"), (signal.SIGALRM, "ALRM"),
                    (signal.SIGVTALRM, "VTALRM"), (signal.SIGWINCH, "WINCH"), (signal.SIGIO, "POLL")):
        p.wait_stderr(r"signal %d \(%s\) from pid %d: ignored" % (s, name, os.getpid()))
    p.wait_stderr(r"signal %d \(RT\) from pid \d+: ignored" % (signal.SIGRTMIN + 3))
    check(p.alive(), "ferry died: %s" % p.stderr()[-1500:])
    check_eq(http_get(a).status, 200, "still serving")
    check_eq(p.stop(), 0, "exit code of the graceful stop that follows")


@test("SIGUSR1 after a logrotate-like rename: access and error logs reopened, no line lost")
def _():
    p, a, d = start("workers 2\naccess-log %(d)s/access.log\n")
    log = os.path.join(d, "access.log")
    n_before, n_during, n_after = 20, 300, 20
    for i in range(n_before):
        check_eq(http_get(a, "/?before=%d" % i).status, 200, "before")
    wait_until(lambda: len(log_lines(log)) == n_before, 5 * SLOW, what="the first lines")

    # requests in flight from two clients (two workers) while the files are renamed
    errors = []

    def load(tag):
        try:
            for i in range(n_during):
                c = HttpConn(a)
                c.send(request_bytes("/?%s=%d" % (tag, i)) * 1)
                r = c.read_response()
                c.close()
                if r.status != 200:
                    errors.append(r.status)
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    ts = [threading.Thread(target=load, args=(t,)) for t in ("x", "y")]
    for t in ts:
        t.start()
    os.rename(log, log + ".1")
    os.rename(p.err_path, p.err_path + ".1")
    p.send_signal(signal.SIGUSR1)
    for t in ts:
        t.join(60 * SLOW)
    check(not any(t.is_alive() for t in ts), "load threads finished")
    check_eq(errors, [], "errors of the clients during the rotation")
    # The notice goes to the new error log: stderr was reopened too.
    p.wait_stderr(r"SIGUSR1: reopened 2 log files")
    for i in range(n_after):
        check_eq(http_get(a, "/?after=%d" % i).status, 200, "after")
    total = n_before + 2 * n_during + n_after

    def all_lines():
        ls = log_lines(log + ".1") + log_lines(log)
        return len(ls) >= total and ls
    lines = wait_until(all_lines, 10 * SLOW, what="%d lines in the two files" % total)
    check_eq(len(lines), total, "lines in the old and the new access log together")
    targets = sorted(ln.split('"')[1] for ln in lines)
    want = sorted(["GET /?before=%d HTTP/1.1" % i for i in range(n_before)] +
                  ["GET /?%s=%d HTTP/1.1" % (t, i) for t in "xy" for i in range(n_during)] +
                  ["GET /?after=%d HTTP/1.1" % i for i in range(n_after)])
    check_eq(targets, want, "every request logged exactly once")
    new = log_lines(log)
    check_eq(sum("after=" in ln for ln in new), n_after, "requests after the reopen are in the new file")
    check(all("before=" not in ln for ln in new), "requests before the rename stay in the old file")
    old_err = read_file(p.err_path + ".1").decode()
    check_in("sandbox:", old_err, "old error log kept its lines")
    check_not_in("reopened", old_err, "old error log")
    check_eq(p.stop(), 0, "exit code")


@test("SIGUSR1 when the access log cannot be opened again: logged, lines go on to the old file")
def _():
    p, a, d = start("access-log %(d)s/access.log\n")
    log = os.path.join(d, "access.log")
    check_eq(http_get(a, "/?one").status, 200, "first")
    wait_until(lambda: len(log_lines(log)) == 1, 5 * SLOW, what="a line")
    os.rename(log, log + ".1")
    os.mkdir(log)  # in the way: open(2) fails with EISDIR
    p.send_signal(signal.SIGUSR1)
    p.wait_stderr(r"SIGUSR1: access-log %s: Is a directory \(still writing to the old file\)"
                  % re.escape(log))
    p.wait_stderr(r"SIGUSR1: reopened 1 log file\b")  # stderr (a file here) was
    check_eq(http_get(a, "/?two").status, 200, "still serving")
    wait_until(lambda: len(log_lines(log + ".1")) == 2, 5 * SLOW, what="the second line")
    check(p.alive(), "alive")
    check_eq(p.stop(), 0, "exit code")


@test("SIGUSR1 with the access log on stderr and stderr a file: one reopen serves both")
def _():
    p, a, d = start("access-log stderr\n")
    check_eq(http_get(a, "/?one").status, 200, "first")
    p.wait_stderr(r'"GET /\?one HTTP/1.1" 200')
    os.rename(p.err_path, p.err_path + ".1")
    p.send_signal(signal.SIGUSR1)
    p.wait_stderr(r"SIGUSR1: reopened 1 log file\b")
    check_eq(http_get(a, "/?two").status, 200, "second")
    p.wait_stderr(r'"GET /\?two HTTP/1.1" 200')
    check_not_in("?one", p.stderr(), "new stderr file")
    check_eq(p.stop(), 0, "exit code")


if __name__ == "__main__":
    main()
