#!/usr/bin/env python3
"""The command line: help, version, subcommands, exit codes (0 ok, 1 runtime, 2 usage or
configuration), `ferry check` and startup errors from bad options."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403

VERSION = read_file(os.path.join(REPO, "VERSION")).decode().strip()


@test("--help: usage on stdout listing the subcommands, exit 0")
def _():
    rc, out, err = run([FERRY, "--help"])
    check_eq(rc, 0, "exit code")
    for cmd in ("serve", "echo", "check", "version"):
        check(re.search(r"^\s+%s\s" % cmd, out, re.M), "subcommand %s not listed: %r" % (cmd, out))
    check_eq(err, "", "stderr")
    rc2, out2, _ = run([FERRY, "-h"])
    check_eq((rc2, out2), (0, out), "-h")
    rc3, out3, _ = run([FERRY, "help"])
    check_eq((rc3, out3), (0, out), "help")


@test("--version and version: 'ferry X.Y.Z' from VERSION, exit 0")
def _():
    for argv in ([FERRY, "--version"], [FERRY, "version"], [FERRY, "-V"]):
        rc, out, err = run(argv)
        check_eq(rc, 0, "%s exit code" % argv[1:])
        check_eq(out.strip(), "ferry " + VERSION, "%s output" % argv[1:])


@test("serve --help / echo --help / check --help / help serve: the command's usage, exit 0")
def _():
    for argv, needle in (([FERRY, "serve", "--help"], "--root"),
                         ([FERRY, "serve", "-h"], "--root"),
                         ([FERRY, "echo", "--help"], "--listen"),
                         ([FERRY, "check", "--help"], "configuration OK"),
                         ([FERRY, "help", "serve"], "--root")):
        rc, out, err = run(argv)
        check_eq(rc, 0, "%s exit code" % argv[1:])
        check_in("Usage:", out, "%s output" % argv[1:])
        check_in(needle, out, "%s output" % argv[1:])
    rc, out, err = run([FERRY, "echo", "--help"])
    check_not_in("--root", out, "echo has no --root")


@test("unknown command -> exit 2, message on stderr")
def _():
    rc, out, err = run([FERRY, "bogus"])
    check_eq(rc, 2, "exit code")
    check_in("unknown command", err, "stderr")
    check_in("bogus", err, "stderr")
    check_eq(out, "", "stdout")
    rc, out, err = run([FERRY, "help", "bogus"])
    check_eq(rc, 2, "help bogus exit code")


@test("unknown option / stray argument -> exit 2 with usage on stderr")
def _():
    for argv in ([FERRY, "serve", "--bogus"], [FERRY, "serve", "extra"],
                 [FERRY, "echo", "--root", "/tmp"], [FERRY, "--bogus"],
                 [FERRY, "serve", "--listen"]):
        rc, out, err = run(argv)
        check_eq(rc, 2, "%s exit code" % argv[1:])
        check_in("Usage:", err, "%s stderr" % argv[1:])


GOOD = """# a complete configuration
listen 127.0.0.1:8080
listen http
workers 2
access-log off
header-timeout 10s
body-timeout 30s
keepalive-timeout 500ms
send-timeout 1m
shutdown-timeout 0
max-request-line 8k
max-header-size 16KiB
max-header-fields 100
max-connections 1000

site example.com www.example.com {
    root /srv/www   # a comment
}
site *.example.org {
}
site * {
    root "/srv/default"
}
"""


@test("check on a valid config: 'configuration OK', exit 0")
def _():
    d = tmpdir()
    rc, out, err = run([FERRY, "check", write_config(d, GOOD)])
    check_eq((rc, out.strip(), err), (0, "configuration OK", ""), "check")
    rc, out, err = run([FERRY, "check", write_config(d, "", "empty.conf")])
    check_eq((rc, out.strip()), (0, "configuration OK"), "empty config")


@test("check on an invalid config: every error as file:line:col, exit 2")
def _():
    d = tmpdir()
    path = write_config(d, "workers 0\nbogus 1\nsite a {\n  root relative\n}\n"
                           "header-timeout 5x\nlisten\nmax-header-size 1m 2\n")
    rc, out, err = run([FERRY, "check", path])
    check_eq(rc, 2, "exit code")
    check_not_in("configuration OK", out, "stdout")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    for ln in lines:
        check(re.match(r"^%s:\d+:\d+: \S" % re.escape(path), ln), "not file:line:col: %r" % ln)
    where = [tuple(int(x) for x in re.match(r"^.*?:(\d+):(\d+):", ln).groups()) for ln in lines]
    check_eq([w[0] for w in where], [1, 2, 4, 6, 7, 8], "lines with errors")
    check_eq(where[1], (2, 1), "line:col of the unknown directive")
    check_in("bogus", lines[1], "message names the directive")


@test("check: a missing file -> exit 2 with the file name and reason")
def _():
    rc, out, err = run([FERRY, "check", "/nonexistent/ferry.conf"])
    check_eq(rc, 2, "exit code")
    check_in("/nonexistent/ferry.conf", err, "stderr")
    check_in("No such file", err, "stderr")
    rc, out, err = run([FERRY, "check"])
    check_eq(rc, 2, "no argument")


@test("check: config errors that need context (duplicates, blocks, braces)")
def _():
    d = tmpdir()
    cases = [
        ("workers 1\nworkers 2\n", 2, "duplicate"),
        ("site a {\n  root /x\n", None, "missing '}'"),
        ("}\n", 1, "unexpected '}'"),
        ("root /x\n", 1, "root"),
        ("site a {\n  workers 2\n}\n", 2, "not allowed"),
        ("max-header-size 1k\n", 1, "max-request-line"),
    ]
    for text, line, needle in cases:
        rc, out, err = run([FERRY, "check", write_config(d, text, "c.conf")])
        check_eq(rc, 2, "exit code for %r" % text)
        check_in(needle, err, "stderr for %r" % text)
        if line:
            check(re.search(r"c\.conf:%d:\d+: " % line, err), "line %d for %r: %r"
                  % (line, text, err))


@test("serve --config with an invalid config -> exit 2, errors on stderr, nothing served")
def _():
    d = tmpdir()
    path = write_config(d, "bogus\n")
    p, (a,) = activate(lambda: [tcp4()], ["serve", "--config", path], dir=d)
    try:
        socket.create_connection(a.sockaddr, timeout=2).close()
    except OSError:
        pass
    check_eq(p.wait_exit(10), 2, "exit code")
    check(re.search(r"ferry\.conf:1:1: .*bogus", p.stderr()), "stderr %r" % p.stderr()[-500:])


@test("bad --listen address -> exit 1 or 2 naming the address")
def _():
    rc, out, err = run([FERRY, "serve", "--listen", "nonsense"])
    check(rc in (1, 2), "exit code %d" % rc)
    check_in("nonsense", err, "stderr")
    check_in("not an address", err, "stderr")
    for bad in ("127.0.0.1:0", "127.0.0.1:65536", "[::1", "unix:relative", "udp:x"):
        rc, out, err = run([FERRY, "serve", "--listen", bad])
        check(rc in (1, 2), "%s: exit code %d" % (bad, rc))
        check_in(bad, err, "stderr for %s" % bad)


@test("serve --listen udp:... -> refused, datagram sockets are for echo")
def _():
    port = free_port(socket.AF_INET, socket.SOCK_DGRAM)
    rc, out, err = run([FERRY, "serve", "--listen", "udp:127.0.0.1:%d" % port])
    check_eq(rc, 1, "exit code")
    check_in("echo", err, "stderr")


@test("--root that does not exist -> exit 1; --root with site blocks -> exit 2")
def _():
    d = tmpdir()
    port = free_port()
    rc, out, err = run([FERRY, "serve", "--root", os.path.join(d, "nope"),
                        "--listen", "127.0.0.1:%d" % port])
    check_eq(rc, 1, "exit code")
    check_in(os.path.join(d, "nope"), err, "stderr")
    cfg = write_config(d, "site a {\n    root %s\n}\n" % d)
    rc, out, err = run([FERRY, "serve", "--config", cfg, "--root", d,
                        "--listen", "127.0.0.1:%d" % port])
    check_eq(rc, 2, "exit code with site blocks")
    check_in("--root", err, "stderr")


@test("a site root that does not exist -> exit 1 naming file:line")
def _():
    d = tmpdir()
    cfg = write_config(d, "\nsite a {\n    root %s/nope\n}\n" % d)
    rc, out, err = run([FERRY, "serve", "--config", cfg, "--listen",
                        "127.0.0.1:%d" % free_port()])
    check_eq(rc, 1, "exit code")
    check_in("ferry.conf:2", err, "stderr")


if __name__ == "__main__":
    main()
