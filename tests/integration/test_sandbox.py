"""The self-sandbox: once serving, ferry cannot read outside its roots even with its own path
checks switched off (a test-only hook), reload still works inside the sandbox, and the log
says what was applied."""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403

HOOK = "FERRY_INSECURE_TEST_BYPASS_PATH_CHECKS"
SECRET = b"the secret outside the root\n"


def landlock_abi():
    """The kernel's Landlock ABI, or 0 (probe with the same syscall ferry uses)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    SYS_landlock_create_ruleset = 444  # x86_64 and aarch64
    r = libc.syscall(SYS_landlock_create_ruleset, None, 0, 1)  # ..._VERSION
    return r if r > 0 else 0


def setup(sandbox, extra=""):
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), b"inside\n")
    write_file(os.path.join(d, "secret.txt"), SECRET)
    # The config's own directory stays readable (reloads re-read it): keep it apart.
    cfg = write_config(os.path.join(d, "etc"),
                       "sandbox %s\nsite * { root %s }\n%s" % (sandbox, root, extra))
    return d, root, cfg


def get_raw(a, target):
    c = HttpConn(a)
    try:
        c.send(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % target).encode())
        return c.read_response()
    finally:
        c.close()


@test("the hook really bypasses the path checks: with sandbox off, /../secret.txt is served")
def _():
    d, root, cfg = setup("off")
    p, (a,) = activate(lambda: [tcp4()], ["serve", "--config", cfg], setenv={HOOK: "1"}, dir=d)
    r = get_raw(a, "/../secret.txt")
    check_eq(r.status, 200, "status with path checks bypassed and no sandbox")
    check_eq(r.body, SECRET, "body")
    p.wait_stderr(HOOK, what="the hook's warning")


@test("sandbox on: with the path checks bypassed, a file outside the root is still refused")
def _():
    if not landlock_abi():
        raise Skip("the kernel has no Landlock")
    d, root, cfg = setup("on")
    p, (a,) = activate(lambda: [tcp4()], ["serve", "--config", cfg], setenv={HOOK: "1"}, dir=d)
    check_eq(get_raw(a, "/index.html").body, b"inside\n", "a file inside the root")
    r = get_raw(a, "/../secret.txt")
    check(r.status in (403, 404), "status %d for a file outside the root" % r.status)
    check_not_in(SECRET.decode().strip(), r.body.decode("latin-1"), "response body")
    r = get_raw(a, "/../../../../etc/passwd")
    check(r.status in (403, 404), "status %d for /etc/passwd" % r.status)
    check_not_in("root:", r.body.decode("latin-1"), "response body")
    p.wait_stderr(r"sandbox: landlock ABI \d+", what="the sandbox log line")


@test("sandbox on by default: the log names Landlock, seccomp and no_new_privs")
def _():
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), b"x\n")
    p, (a,) = activate(lambda: [tcp4()], ["serve", "--root", root], dir=d)
    check_eq(http_get(a).status, 200, "status")
    m = p.wait_stderr(r"sandbox: .*", what="the sandbox log line")
    line = m.group(0)
    check_in("seccomp", line, "log line")
    check_in("no_new_privs", line, "log line")
    if landlock_abi():
        check_in("landlock ABI", line, "log line")


@test("reload works inside the sandbox; a new root outside it fails and the old config stays")
def _():
    if not landlock_abi():
        raise Skip("the kernel has no Landlock")
    d, root, cfg = setup("on")
    p, (a,) = activate(lambda: [tcp4()], ["serve", "--config", cfg], dir=d)
    check_eq(http_get(a, "/index.html").body, b"inside\n", "before")
    # Same roots, another setting: reloads fine.
    with open(cfg, "a") as f:
        f.write("header-timeout 7s\n")
    p.send_signal(signal.SIGHUP)
    p.wait_stderr("SIGHUP: reloaded", what="the reload")
    check_eq(http_get(a, "/index.html").body, b"inside\n", "after the reload")
    # A root the sandbox never allowed: cannot be opened, the old config keeps serving.
    other = os.path.join(d, "other")
    write_file(os.path.join(other, "index.html"), b"other\n")
    write_config(os.path.join(d, "etc"), "sandbox on\nsite * { root %s }\n" % other)
    p.send_signal(signal.SIGHUP)
    p.wait_stderr("reload failed", what="the failed reload")
    check_eq(http_get(a, "/index.html").body, b"inside\n", "still the old root")
    check(p.alive(), "ferry is still running")


main()
