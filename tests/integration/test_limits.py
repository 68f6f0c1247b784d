"""Slow and hostile clients: slowhttptest's slowloris (1,000 connections sending headers a
little at a time) and slow read (500 connections reading responses a few bytes at a time).
Throughout each attack, a normal client must be served promptly, and ferry's memory (VmRSS)
must stay under a stated bound. The attack must really reach ferry: its open fd count is
sampled too."""
import os
import resource
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403

# ferry's bound under these attacks: 1,000 connections at about 4 KiB of input buffer and a
# few hundred bytes of state each, plus per-worker buffers: a few MiB (5.5 MiB measured). 16 MiB leaves room for
# the allocator and the sanitizer build's shadow memory overhead of the same data.
RSS_BOUND_KIB = (16 if not SANITIZED else 256) * 1024
ATTACK_SECONDS = 12


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return 0


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 8192)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def attack(extra_config, slow_args, path):
    if not shutil.which("slowhttptest"):
        raise TestFailure("slowhttptest is not installed (scripts/deps.sh installs it)")
    raise_nofile()
    d = tmpdir()
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), b"ok\n")
    write_file(os.path.join(root, "big.bin"), os.urandom(256 << 10))
    cfg = write_config(d, "access-log off\nworkers 2\n" + extra_config)
    p, (a,) = activate(lambda: [tcp4()], ["serve", "--root", root, "--config", cfg], dir=d)
    check_eq(http_get(a).status, 200, "first request")
    pid = p.pid
    url = "http://127.0.0.1:%d%s" % (a.sockaddr[1], path)
    s = Proc(["slowhttptest"] + slow_args + ["-l", str(ATTACK_SECONDS), "-u", url],
             dir=d, name="slowhttptest")
    worst = 0.0
    fails = []
    max_rss = 0
    max_fds = 0
    served = 0
    t_end = time.monotonic() + ATTACK_SECONDS - 1
    try:
        while time.monotonic() < t_end:
            t0 = time.monotonic()
            try:
                r = http_get(a, timeout=3)
                if r.status != 200:
                    fails.append("status %d" % r.status)
                else:
                    served += 1
            except Exception as e:  # noqa: BLE001 - any failure counts
                fails.append(repr(e))
            worst = max(worst, time.monotonic() - t0)
            max_rss = max(max_rss, proc_status(pid, "VmRSS"))
            max_fds = max(max_fds, fd_count(pid))
            time.sleep(0.2)
    finally:
        s.stop(timeout=10)
    diag("normal requests served: %d, failed: %d, slowest: %.0f ms; ferry max VmRSS %d KiB "
         "(bound %d KiB), max open fds %d" % (served, len(fails), worst * 1000, max_rss,
                                               RSS_BOUND_KIB, max_fds))
    check(p.alive(), "ferry died during the attack")
    check_eq(fails[:5], [], "failed normal requests")
    check(served >= 20, "only %d normal requests served" % served)
    check(max_rss < RSS_BOUND_KIB, "VmRSS %d KiB over the bound %d KiB" % (max_rss, RSS_BOUND_KIB))
    return max_fds


@test("slowloris (slowhttptest -H, 1000 connections): normal clients served throughout, RSS bounded")
def _():
    fds = attack("header-timeout 4s\n",
                 ["-H", "-c", "1000", "-r", "500", "-i", "1", "-x", "8", "-p", "3"], "/")
    check(fds > 500, "the attack did not reach ferry: at most %d open fds" % fds)


@test("slow read (slowhttptest -X, 500 connections): normal clients served throughout, RSS bounded")
def _():
    fds = attack("send-timeout 4s\n",
                 ["-X", "-c", "500", "-r", "250", "-w", "512", "-y", "1024", "-n", "2",
                  "-z", "32", "-k", "3", "-p", "3"], "/big.bin")
    check(fds > 250, "the attack did not reach ferry: at most %d open fds" % fds)


main()
