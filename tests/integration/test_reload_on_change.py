#!/usr/bin/env python3
"""reload-on-change: with `reload-on-change on`, a change of the configuration file reloads it
as SIGHUP does (RELOADING=1, READY=1; an invalid file is reported and the old one kept): a file
replaced by rename (as editors save) or written in place, through a symbolic link swapped too;
a burst of writes is one reload (debounced); other files of the directory are ignored; off by
default; a reload can turn it on and off; under ferry's sandbox as without."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403


def layout():
    """Two roots, both in every config (a root new after a reload is refused by the sandbox):
    which one `site *` serves tells which config is in use."""
    d = tmpdir()
    for name in ("a", "b"):
        write_file(os.path.join(d, name, "index.html"), "root %s\n" % name)
    return d


def conf(d, which, extra="reload-on-change on\n"):
    other = "b" if which == "a" else "a"
    return ("%saccess-log off\nsite * { root %s/%s }\nsite other.test { root %s/%s }\n"
            % (extra, d, which, d, other))


def replace(path, text):
    """Save as editors do: a new file renamed over the old one."""
    tmp = path + ".tmp~"
    write_file(tmp, text)
    os.rename(tmp, path)


def serving(a):
    return http_get(a).body.decode()


def start(d, text, cfgdir=None, name="ferry.conf", sandbox="off"):
    cfg = write_config(cfgdir or os.path.join(d, "etc"), "sandbox %s\n%s" % (sandbox, text), name)
    n = NotifySocket(d)
    p, (a,) = activate(lambda: [tcp4()], ["serve", "--config", cfg],
                       setenv={"NOTIFY_SOCKET": n.env}, dir=d)
    check_eq(serving(a), "root a\n", "first request")
    n.wait_for(lambda m: "READY=1" in m.split("\n"), what="READY=1")
    return p, a, n, cfg


def reloads(p):
    return len(re.findall(r"SIGHUP: reloaded", p.stderr()))


def wait_serving(a, want, what):
    wait_until(lambda: serving(a) == want, 5 * SLOW, what=what)


@test("a config replaced by rename is reloaded (RELOADING=1, READY=1), as SIGHUP would")
def _():
    d = layout()
    p, a, n, cfg = start(d, conf(d, "a"))
    p.wait_stderr(r"reload-on-change: watching ", what="the watch")
    replace(cfg, "sandbox off\n" + conf(d, "b"))
    wait_serving(a, "root b\n", "the new config to serve root b")
    p.wait_stderr(r"reload-on-change: .*ferry.conf changed: reloading", what="the log line")
    n.wait_for(lambda m: m.startswith("RELOADING=1"), what="RELOADING=1")
    check_eq(reloads(p), 1, "reloads")
    check_eq(p.stop(), 0, "exit code")


@test("written in place (truncate and write) too; a burst of writes is one reload")
def _():
    d = layout()
    p, a, n, cfg = start(d, conf(d, "a"))
    p.wait_stderr(r"reload-on-change: watching ", what="the watch")
    for i in range(5):  # an editor or a script writing it in pieces, within the debounce
        with open(cfg, "w") as f:
            f.write("sandbox off\n" + conf(d, "b" if i % 2 == 0 else "a"))
        time.sleep(0.02)
    wait_serving(a, "root b\n", "the last version (root b)")
    time.sleep(1)
    check_eq(reloads(p), 1, "one reload for the burst")
    check_eq(p.stop(), 0, "exit code")


@test("an invalid change is reported with file:line:col and the running config kept")
def _():
    d = layout()
    p, a, n, cfg = start(d, conf(d, "a"))
    p.wait_stderr(r"reload-on-change: watching ", what="the watch")
    replace(cfg, "sandbox off\nworkers lots\n" + conf(d, "b"))
    p.wait_stderr(r"ferry.conf:2:9: invalid number 'lots' for 'workers'", what="the error with its position")
    p.wait_stderr(r"reload failed: still serving the previous configuration", what="kept")
    check_eq(serving(a), "root a\n", "still the old config")
    n.wait_for(lambda m: "READY=1" in m and "reload failed" in m, what="READY=1 after a failure")
    replace(cfg, "sandbox off\n" + conf(d, "b"))  # fixed: applied
    wait_serving(a, "root b\n", "the fixed config")
    check_eq(p.stop(), 0, "exit code")


@test("other files in the directory are ignored")
def _():
    d = layout()
    p, a, n, cfg = start(d, conf(d, "a"))
    p.wait_stderr(r"reload-on-change: watching ", what="the watch")
    etc = os.path.dirname(cfg)
    write_file(os.path.join(etc, "notes.txt"), "x\n")
    replace(os.path.join(etc, "other.conf"), conf(d, "b"))
    time.sleep(1)
    check_eq(reloads(p), 0, "reloads")
    check_not_in("changed", p.stderr(), "log")
    check_eq(p.stop(), 0, "exit code")


@test("off by default: a change waits for SIGHUP")
def _():
    d = layout()
    p, a, n, cfg = start(d, conf(d, "a", extra=""))
    replace(cfg, "sandbox off\n" + conf(d, "b", extra=""))
    time.sleep(1)
    check_eq(serving(a), "root a\n", "unchanged without SIGHUP")
    check_not_in("reload-on-change", p.stderr(), "log")
    p.send_signal(signal.SIGHUP)
    wait_serving(a, "root b\n", "the config after SIGHUP")
    check_eq(p.stop(), 0, "exit code")


@test("a reload turns it on, and off")
def _():
    d = layout()
    p, a, n, cfg = start(d, conf(d, "a", extra=""))
    replace(cfg, "sandbox off\n" + conf(d, "a"))  # on, by SIGHUP
    p.send_signal(signal.SIGHUP)
    p.wait_stderr(r"reload-on-change: watching ", what="the watch after the reload")
    replace(cfg, "sandbox off\n" + conf(d, "b", extra="reload-on-change off\n"))
    wait_serving(a, "root b\n", "the change, by itself")
    time.sleep(0.5)
    replace(cfg, "sandbox off\n" + conf(d, "a", extra="reload-on-change off\n"))
    time.sleep(1)
    check_eq(serving(a), "root b\n", "off again: not reloaded")
    check_eq(reloads(p), 2, "reloads")
    check_eq(p.stop(), 0, "exit code")


@test("a symbolic link to the config: its target replaced, or the link swapped")
def _():
    d = layout()
    real = os.path.join(d, "real")
    write_file(os.path.join(real, "v1.conf"), "sandbox off\n" + conf(d, "a"))
    write_file(os.path.join(real, "v2.conf"), "sandbox off\n" + conf(d, "b"))
    etc = os.path.join(d, "etc")
    os.makedirs(etc)
    link = os.path.join(etc, "ferry.conf")
    os.symlink(os.path.join(real, "v1.conf"), link)
    n = NotifySocket(d)
    p, (a,) = activate(lambda: [tcp4()], ["serve", "--config", link],
                       setenv={"NOTIFY_SOCKET": n.env}, dir=d)
    check_eq(serving(a), "root a\n", "first request")
    p.wait_stderr(r"reload-on-change: watching ", what="the watch")
    replace(os.path.join(real, "v1.conf"), "sandbox off\n" + conf(d, "b"))
    wait_serving(a, "root b\n", "the target replaced")
    tmp = link + ".new"
    os.symlink(os.path.join(real, "v1.conf").replace("v1", "v2"), tmp)
    write_file(os.path.join(real, "v2.conf"), "sandbox off\n" + conf(d, "a"))
    os.rename(tmp, link)
    wait_serving(a, "root a\n", "the link swapped (ln -sf)")
    replace(os.path.join(real, "v2.conf"), "sandbox off\n" + conf(d, "b"))
    wait_serving(a, "root b\n", "the new target replaced")
    check_eq(p.stop(), 0, "exit code")


@test("under the sandbox (Landlock, seccomp): watched, reloaded")
def _():
    d = layout()
    p, a, n, cfg = start(d, conf(d, "a"), sandbox="on")
    p.wait_stderr(r"reload-on-change: watching ", what="the watch")
    p.wait_stderr(r"sandbox: ", what="the sandbox line")
    replace(cfg, "sandbox on\n" + conf(d, "b"))
    wait_serving(a, "root b\n", "the new config")
    check(p.alive(), "alive")
    check_eq(p.stop(), 0, "exit code")


main()
