#!/usr/bin/env python3
"""ACME (`tls acme`, `ferry acme`) against Debian's pebble, all on 127.0.0.1: pebble's HTTPS has
a certificate from a test CA made here with openssl; pebble-challtestsrv answers pebble's DNS
queries with 127.0.0.1 (-dnsserver); pebble's httpPort is ferry's plain listener;
PEBBLE_VA_NOSLEEP=1 and pebble's 5% nonce rejection left on (badNonce retried). Split mode:
`ferry acme` does the ACME work and writes the challenges into acme-dir, a running
`ferry serve` (no ACME work of its own) answers them and picks up the certificate. Config
errors; no certificate yet (handshakes fail, a warning); http-01 files served, not redirected;
issuance, verification against pebble's root, a second run with nothing to do; renewal when a
third of the lifetime is left; a failed http-01 with the CA's detail; CA unreachable: exit 1, a
clear message, the old certificate still served; integrated mode with the CA down (backoff,
STATUS= on a fake NOTIFY_SOCKET, the old certificate served, then the renewal); a crash
mid-write (a test hook stops ferry acme before the rename, the test kills it); ARI through a
renewalInfo of our own beside pebble's directory (Debian's pebble 2.4 has none), and the
newOrder's "replaces" seen by that directory, which forwards the rest to pebble; the CA's
name through ferry's own resolver (a test hosts file); a CA that accepts and never answers
(acme-timeout); a CA whose certificate does not verify (issuer, name); an answer over 1 MiB."""
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrylib import *  # noqa: E402,F401,F403

NAMES = ("example.test", "www.example.test")


def need_pebble():
    for b in ("pebble", "pebble-challtestsrv", "openssl"):
        if not shutil.which(b):
            raise TestFailure("%s is not installed (scripts/deps.sh installs it)" % b)


def openssl(*args):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, timeout=60)
    if r.returncode != 0:
        raise TestFailure("openssl %s: %s" % (" ".join(args), r.stderr.decode()))
    return r.stdout


class Pebble:
    """pebble + pebble-challtestsrv (DNS only) on free 127.0.0.1 ports, stopped by PID."""

    def __init__(self, d, http_port, validity=None, nonce_reject=None, tls_port=None, port=None):
        need_pebble()
        self.dir = d
        ca_key, self.test_ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
        key, csr, crt = (os.path.join(d, n) for n in ("pebble.key", "pebble.csr", "pebble.pem"))
        # ca.test: a name only the test's hosts file knows (ferry's own resolver)
        ext = write_file(os.path.join(d, "ext"),
                         "subjectAltName=DNS:localhost,DNS:ca.test,IP:127.0.0.1\n")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-days", "2", "-subj", "/CN=ferry test CA for pebble", "-keyout", ca_key,
                "-out", self.test_ca)
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-subj", "/CN=localhost", "-keyout", key, "-out", csr)
        openssl("x509", "-req", "-in", csr, "-CA", self.test_ca, "-CAkey", ca_key,
                "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt)
        self.port, self.mgmt = port or free_port(), free_port()
        dns = free_port(type_=socket.SOCK_DGRAM)
        cfg = {"listenAddress": "127.0.0.1:%d" % self.port,
               "managementListenAddress": "127.0.0.1:%d" % self.mgmt,
               "certificate": crt, "privateKey": key, "httpPort": http_port,
               "tlsPort": tls_port or free_port(), "ocspResponderURL": "",
               "externalAccountBindingRequired": False}
        if validity:
            cfg["certificateValidityPeriod"] = validity
        import json
        conf = write_file(os.path.join(d, "pebble.json"), json.dumps({"pebble": cfg}))
        self.dns = Proc(["pebble-challtestsrv", "-dns01", "127.0.0.1:%d" % dns, "-http01", "",
                         "-https01", "", "-tlsalpn01", "", "-management",
                         "127.0.0.1:%d" % free_port(), "-defaultIPv4", "127.0.0.1",
                         "-defaultIPv6", ""], dir=d, name="challtestsrv")
        on_cleanup(self.dns.stop)
        wait_until(lambda: "Starting challenge servers" in self.dns.stdout() + self.dns.stderr()
                   or not self.dns.alive(), 10 * SLOW, what="pebble-challtestsrv to start")
        check(self.dns.alive(), "pebble-challtestsrv exited: %s" % self.dns.stdout()[-1500:])
        env = {"PEBBLE_VA_NOSLEEP": "1"}
        if nonce_reject is not None:  # pebble's default: 5 (%)
            env["PEBBLE_WFE_NONCEREJECT"] = str(nonce_reject)
        self.proc = Proc(["pebble", "-config", conf, "-dnsserver", "127.0.0.1:%d" % dns],
                         env=env, dir=d, name="pebble")
        on_cleanup(self.stop)
        wait_until(lambda: self._log().find("Listening on") >= 0 or not self.proc.alive(),
                   10 * SLOW, what="pebble to listen")
        check(self.proc.alive(), "pebble exited: %s" % self._log()[-1500:])
        # pebble logs "Listening on" before it binds: wait for the port itself
        wait_until(lambda: self._accepts() or not self.proc.alive(), 10 * SLOW,
                   what="pebble's port to accept")
        check(self.proc.alive(), "pebble exited: %s" % self._log()[-1500:])
        self.url = "https://127.0.0.1:%d/dir" % self.port

    def _accepts(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def _log(self):
        return self.proc.stdout() + self.proc.stderr()

    def stop(self):
        if self.proc.alive():
            self.proc.stop()

    def root(self):
        """pebble's issuing root (PEM), from its management interface."""
        ctx = ssl.create_default_context(cafile=self.test_ca)

        def fetch():
            try:
                with urllib.request.urlopen("https://127.0.0.1:%d/roots/0" % self.mgmt,
                                            context=ctx, timeout=10 * SLOW) as r:
                    return r.read()
            except urllib.error.URLError as e:
                # the management listener may start after the one we waited for
                if isinstance(e.reason, ConnectionRefusedError) and self.proc.alive():
                    return None
                raise
        pem = wait_until(fetch, 10 * SLOW, what="pebble's management interface")
        return write_file(os.path.join(self.dir, "pebble-root.pem"), pem)


def acme_conf(d, pebble=None, names=NAMES, ca=None, extra=""):
    ca = ca or (pebble.url if pebble else "https://127.0.0.1:9/dir")
    root = pebble.test_ca if pebble else "/nonexistent.pem"
    return write_config(d, "listen http\nlisten https tls\naccess-log %s/access.log\n%s"
                        "acme-dir %s/acme\nacme-ca %s\nacme-ca-root %s\n"
                        "acme-email admin@example.test\n"
                        "site %s {\n tls acme\n}\n"
                        % (d, extra, d, ca, root, " ".join(names)))


def serve(d, cfg):
    """ferry serve under systemd-socket-activate: (proc, plain, tls); ferry is started."""
    proc, addrs = activate(lambda: [tcp4(), tcp4()], ["serve", "--config", cfg],
                           fdnames=["http", "https"], dir=d)
    r = http_get(addrs[0], "/", host="example.test")  # execs ferry
    check_eq(r.status, 308, "plain HTTP to a `tls acme` site")
    proc.wait_exec()
    return proc, addrs[0], addrs[1]


def fake_ca_cert(d):
    """A self-signed certificate for 127.0.0.1 (a fake CA's HTTPS): its key and PEM paths."""
    key, crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", key, "-out", crt)
    return key, crt


def fake_ca(key, crt, handle, on_error=None):
    """A TLS server on 127.0.0.1 in a thread: handle(tls_socket) for each connection after its
    handshake, on_error() when the handshake or handle fails. Returns its port and a function
    that stops it (also called at cleanup)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(8)
    on_cleanup(lsn.close)
    stop = threading.Event()

    def serve():
        lsn.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = lsn.accept()
            except OSError:
                continue
            try:
                c.settimeout(10 * SLOW)
                handle(ctx.wrap_socket(c, server_side=True))
            except (ssl.SSLError, OSError):
                if on_error:
                    on_error()
                c.close()
    th = threading.Thread(target=serve, daemon=True)
    th.start()

    def stop_it():
        stop.set()
        th.join(5)
    on_cleanup(stop_it)
    return lsn.getsockname()[1], stop_it


def ferry_acme(cfg, *args, timeout=120, env=None):
    return run([FERRY, "acme", "--config", cfg] + list(args), timeout=timeout, env=env)


def peer_cert(tls, root, name="example.test"):
    """The certificate ferry serves for name, verified against root (PEM file): its DER."""
    ctx = ssl.create_default_context(cafile=root)
    with socket.create_connection(tls.sockaddr, timeout=5 * SLOW) as s:
        with ctx.wrap_socket(s, server_hostname=name) as t:
            return t.getpeercert(binary_form=True)


def cert_dates(pem_path):
    out = openssl("x509", "-in", pem_path, "-noout", "-startdate", "-enddate").decode()
    parse = lambda k: ssl.cert_time_to_seconds(re.search(k + r"=(.*)", out).group(1).strip())
    return parse("notBefore"), parse("notAfter")


def obtain(d, pebble, cfg):
    rc, out, err = ferry_acme(cfg)
    check_eq(rc, 0, "ferry acme exit status (stderr: %s)" % err[-2000:])
    check_in("no certificate yet: obtaining one", err)
    check_in("certificate stored in %s/acme/certificates/example.test.pem" % d, err)
    return err


# ---- the tests ------------------------------------------------------------------------------

@test("ferry check: a wildcard with tls acme names dns-01 at file:line:col; site *, tls acme beside tls CERT KEY, a bad acme-ca and acme-email are errors too")
def _():
    d = tmpdir()
    cfg = write_config(d, "acme-ca http://ca.test/dir\nacme-email nobody\n"
                       "site a.test {\n tls acme\n}\nsite *.b.test {\n tls acme\n}\n"
                       "site * {\n tls acme\n}\nsite c.test {\n tls acme\n tls /x /y\n}\n")
    rc, out, err = run([FERRY, "check", cfg])
    check_eq(rc, 2, "exit status")
    check_in("%s:1:9: 'acme-ca' takes an https:// URL" % cfg, err)
    check_in("%s:2:12: 'acme-email' takes an address" % cfg, err)
    check_in("%s:7:6: 'tls acme' cannot get a certificate for the wildcard *.b.test: that needs "
             "the dns-01 challenge, which ferry does not support" % cfg, err)
    check_in("%s:10:6: 'tls acme' needs the site's names" % cfg, err)
    check_in("%s:14:2: 'tls acme' is the only 'tls' line of its site" % cfg, err)
    good = write_config(d, "acme-dir %s/acme\nsite a.test {\n tls acme\n}\n" % d, name="good.conf")
    rc, out, err = run([FERRY, "check", good])
    check_eq(rc, 0, "exit status of a good config (stderr: %s)" % err)
    check_in("tls acme: site a.test has no certificate yet", err)


@test("no certificate yet: a warning, the site's handshakes fail; http-01 files answered over plain HTTP (not redirected; the site's other paths are), bad tokens 404")
def _():
    d = tmpdir()
    cfg = acme_conf(d)
    proc, plain, tls = serve(d, cfg)
    check_in("tls acme: site example.test has no certificate yet", proc.stderr())
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(tls.sockaddr, timeout=5 * SLOW) as s:
        try:
            ctx.wrap_socket(s, server_hostname="example.test").close()
            raise TestFailure("a TLS handshake for a site without its certificate succeeded")
        except (ssl.SSLError, ConnectionResetError):
            pass
    token = "aB3_-x" * 7
    write_file(os.path.join(d, "acme", "challenges", token), token + ".thumb\n")
    r = http_get(plain, "/.well-known/acme-challenge/" + token, host="www.example.test")
    check_eq(r.status, 200, "challenge status")
    check_eq(r.body, (token + ".thumb").encode(), "key authorization")
    for bad in ("x.y", "..%2fetc", "a" * 200, "", "nope"):
        r = http_get(plain, "/.well-known/acme-challenge/" + bad, host="example.test")
        check_eq(r.status, 404, "status for token %r" % bad)
    r = http_get(plain, "/other", host="example.test")
    check_eq(r.status, 308, "other paths still redirect")


@test("split mode: ferry acme gets a certificate by http-01 from pebble (half the nonces rejected: badNonce retried), the running ferry serve picks it up, the chain verifies against pebble's root; the account key 0600, reused; a second run has nothing to do; a name added: a new certificate")
def _():
    d = tmpdir()
    cfg0 = acme_conf(d)
    proc, plain, tls = serve(d, cfg0)
    pebble = Pebble(d, plain.sockaddr[1], nonce_reject=50)
    cfg = acme_conf(d, pebble)  # the same config but for acme-ca, which ferry serve ignores
    err = first_err = obtain(d, pebble, cfg)
    check_in("account created", err)
    key = os.path.join(d, "acme", "account", "key.pem")
    check_eq(os.stat(key).st_mode & 0o777, 0o600, "account key mode")
    pem = os.path.join(d, "acme", "certificates", "example.test.pem")
    check_eq(os.stat(pem).st_mode & 0o777, 0o600, "certificate+key file mode")
    check_eq(os.listdir(os.path.join(d, "acme", "challenges")), [], "challenges left behind")
    root = pebble.root()
    der = wait_until(lambda: _try_peer(tls, root), 20 * SLOW,
                     what="ferry serve to serve the new certificate")
    check(der, "a certificate")
    check_eq(peer_cert(tls, root, "www.example.test"), der, "same certificate for www")
    access = read_file(os.path.join(d, "access.log")).decode()
    check(re.search(r'"GET /.well-known/acme-challenge/[A-Za-z0-9_-]+ HTTP/1.1" 200 ', access),
          "pebble's validation answered 200: %s" % access[-1500:])
    rc, out, err = ferry_acme(cfg)
    check_eq(rc, 0, "second run (stderr: %s)" % err)
    check_in("nothing to do", err)
    check_not_in("account created", err)
    rc, out, err = ferry_acme(cfg, "--force")
    check_eq(rc, 0, "forced renewal (stderr: %s)" % err)
    check_not_in("account created", err)  # the same key, the same account
    all_err = first_err + err
    check_in("the CA rejected a nonce (badNonce): retrying", all_err)
    # a name added to the site: a new certificate, though the old one is not due
    acme_conf(d, pebble, names=NAMES + ("new.example.test",))
    n_reloads = proc.stderr().count("reloaded")
    proc.send_signal(signal.SIGHUP)
    wait_until(lambda: proc.stderr().count("reloaded") > n_reloads, 10 * SLOW,
               what="ferry serve to reload")
    rc, out, err = ferry_acme(cfg)
    check_eq(rc, 0, "run after adding a name (stderr: %s)" % err)
    check_in("the certificate does not cover new.example.test: obtaining a new one", err)
    wait_until(lambda: _try_peer(tls, root, "new.example.test"), 20 * SLOW,
               what="a certificate for the added name")
    check(proc.alive(), "ferry serve still running")


def _try_peer(tls, root, name="example.test"):
    try:
        return peer_cert(tls, root, name)
    except (ssl.SSLError, OSError):
        return None


@test("renewal when a third of the lifetime is left (pebble's certificateValidityPeriod 24 s): not before, then a new certificate, served without a restart and with no request failing meanwhile")
def _():
    d = tmpdir()
    proc, plain, tls = serve(d, acme_conf(d))
    pebble = Pebble(d, plain.sockaddr[1], validity=24)
    cfg = acme_conf(d, pebble)
    obtain(d, pebble, cfg)
    pem = os.path.join(d, "acme", "certificates", "example.test.pem")
    start, end = cert_dates(pem)
    root = pebble.root()
    first = wait_until(lambda: _try_peer(tls, root), 20 * SLOW, what="the first certificate")
    if time.time() < end - (end - start) / 3 - 1:
        rc, out, err = ferry_acme(cfg)
        check_eq(rc, 0, "early run (stderr: %s)" % err)
        check_in("nothing to do", err)
    due = end - (end - start) / 3 + 1
    time.sleep(max(0, due - time.time()))
    # requests over new TLS connections all along the renewal and the reload: none fails
    stop, seen, failures = threading.Event(), [], []

    def client():
        while not stop.is_set():
            try:
                # not verified here (peer_cert does that): the 24 s certificate may expire
                # on a slow machine before the renewed one is in, which is no failure of
                # ferry's
                ctx = ssl.create_default_context()
                ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
                with socket.create_connection(tls.sockaddr, timeout=5 * SLOW) as s:
                    with ctx.wrap_socket(s, server_hostname="example.test") as t:
                        t.sendall(b"GET / HTTP/1.1\r\nHost: example.test\r\n"
                                  b"Connection: close\r\n\r\n")
                        data = b""
                        while True:
                            chunk = t.recv(65536)
                            if not chunk:
                                break
                            data += chunk
                        if not data.startswith(b"HTTP/1.1 200 "):
                            failures.append(data[:100])
                        seen.append(t.getpeercert(binary_form=True))
            except Exception as e:  # noqa: BLE001 - every failure counts
                failures.append(repr(e))
            time.sleep(0.02)

    th = threading.Thread(target=client, daemon=True)
    th.start()
    on_cleanup(stop.set)
    rc, out, err = ferry_acme(cfg)
    check_eq(rc, 0, "renewal run (stderr: %s)" % err)
    check_in(": renewing", err)
    check(cert_dates(pem)[0] >= start, "a new certificate on disk")
    wait_until(lambda: seen and seen[-1] != first, 20 * SLOW,
               what="ferry serve to serve the renewed certificate")
    stop.set()
    th.join(10 * SLOW)
    check_eq(failures, [], "requests that failed during the renewal")
    check_eq(peer_cert(tls, root), seen[-1], "the renewed certificate verifies")
    check(seen.count(first) >= 1 and len(seen) - seen.count(first) >= 1,
          "requests before and after the switch (%d, %d)"
          % (seen.count(first), len(seen) - seen.count(first)))
    check(proc.alive(), "ferry serve still running")


@test("tls-alpn-01 (acme-challenge tls-alpn-01): pebble validates on ferry's TLS listener (ALPN acme-tls/1, the certificate ferry acme left in acme-dir), no HTTP request; the certificate is served")
def _():
    d = tmpdir()
    alpn = "acme-challenge tls-alpn-01\n"
    proc, plain, tls = serve(d, acme_conf(d, extra=alpn))
    pebble = Pebble(d, free_port(), tls_port=tls.sockaddr[1])
    cfg = acme_conf(d, pebble, extra=alpn)
    obtain(d, pebble, cfg)
    root = pebble.root()
    wait_until(lambda: _try_peer(tls, root), 20 * SLOW, what="the certificate")
    access = read_file(os.path.join(d, "access.log")).decode()
    check_not_in("acme-challenge", access, "access log")
    check(not [f for f in os.listdir(os.path.join(d, "acme", "challenges"))],
          "the challenge certificates are removed")
    # a client asking for acme-tls/1 with no challenge pending: no certificate, no handshake
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.set_alpn_protocols(["acme-tls/1"])
    with socket.create_connection(tls.sockaddr, timeout=5 * SLOW) as s:
        try:
            ctx.wrap_socket(s, server_hostname="example.test").close()
            raise TestFailure("an acme-tls/1 handshake without a pending challenge succeeded")
        except (ssl.SSLError, ConnectionResetError):
            pass
    check(proc.alive(), "ferry serve still running")


@test("integrated mode (acme-mode integrated): ferry serve gets its certificate itself, in a child process, and serves it; the child ends with the server")
def _():
    d = tmpdir()
    # the config names pebble, which needs ferry's plain port: the sockets first
    # (systemd-socket-activate), then pebble, then the config; ferry starts on the first
    # connection
    proc, addrs = activate(lambda: [tcp4(), tcp4()], ["serve", "--config",
                                                      os.path.join(d, "ferry.conf")],
                           fdnames=["http", "https"], dir=d)
    plain, tls = addrs
    pebble = Pebble(d, plain.sockaddr[1])
    acme_conf(d, pebble, extra="acme-mode integrated\n")
    r = http_get(plain, "/", host="example.test")  # execs ferry
    check_eq(r.status, 308, "plain HTTP to a `tls acme` site")
    proc.wait_exec()
    m = proc.wait_stderr(r"the ACME client runs in process (\d+)", 10)
    child = int(m.group(1))
    proc.wait_stderr(r"certificate stored in .*example\.test\.pem", 60)
    root = pebble.root()
    wait_until(lambda: _try_peer(tls, root), 20 * SLOW, what="the certificate served")
    check(os.path.exists("/proc/%d" % child), "the ACME child waits for the next round")
    proc.stop()
    wait_until(lambda: not os.path.exists("/proc/%d" % child) or
               "zombie" in read_file("/proc/%d/status" % child).decode().lower(), 10 * SLOW,
               what="the ACME child to end with the server")


@test("integrated mode, CA unreachable (acme-retry 1s): the child retries with a doubling backoff, STATUS= says what is pending and why; the CA up: the certificate, STATUS= says so; at renewal the CA down again: the old certificate keeps serving, then the renewed one, with no request failing")
def _():
    d = tmpdir()
    n = NotifySocket(d)
    proc, addrs = activate(lambda: [tcp4(), tcp4()], ["serve", "--config",
                                                      os.path.join(d, "ferry.conf")],
                           fdnames=["http", "https"], dir=d, setenv={"NOTIFY_SOCKET": n.env})
    plain, tls = addrs
    down = Pebble(d, plain.sockaddr[1])  # its test CA and its port, for the config
    down.stop()
    acme_conf(d, down, extra="acme-mode integrated\nacme-retry 1s\n")
    r = http_get(plain, "/", host="example.test")  # execs ferry
    check_eq(r.status, 308, "plain HTTP to a `tls acme` site")
    proc.wait_exec()
    n.wait_for(lambda m: "READY=1" in m, 10, what="READY=1")
    refused = "GET %s: connect 127.0.0.1 port %d: Connection refused" % (down.url, down.port)
    m = n.wait_for(lambda m: "waiting for a certificate" in m, 30,
                   what="STATUS= with the pending certificate")
    check_in("acme: example.test: waiting for a certificate (next try in 1 s: %s)" % refused,
             kv(m).get("STATUS", ""), "STATUS=")
    proc.wait_stderr(r"acme: trying again in 2 s", 30)
    waits = [int(w) for w in re.findall(r"acme: trying again in (\d+) s", proc.stderr())]
    check_eq(waits[:2], [1, 2], "the first waits (doubling)")
    check_in("acme: " + refused, proc.stderr())
    # the CA comes up, on the same port: certificates valid 20 s, renewal due after ~13 s
    up = Pebble(d, plain.sockaddr[1], port=down.port, validity=20)
    m = n.wait_for(lambda m: "certificate ok" in m, 60, what="STATUS= with the certificate")
    check(re.search(r"; acme: 1 certificate ok, next renewal \d{4}-\d\d-\d\d \d\d:\d\d UTC$",
                    kv(m)["STATUS"]), "STATUS=%s" % kv(m)["STATUS"])
    root = up.root()
    first = wait_until(lambda: _try_peer(tls, root), 20 * SLOW, what="the certificate served")
    pem = os.path.join(d, "acme", "certificates", "example.test.pem")
    start, end = cert_dates(pem)

    # requests all along: none may fail while the CA is down at renewal time
    stop, seen, failures = threading.Event(), [], []

    def client():
        while not stop.is_set():
            try:
                ctx = ssl.create_default_context()
                ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
                with socket.create_connection(tls.sockaddr, timeout=5 * SLOW) as s:
                    with ctx.wrap_socket(s, server_hostname="example.test") as t:
                        t.sendall(b"GET / HTTP/1.1\r\nHost: example.test\r\n"
                                  b"Connection: close\r\n\r\n")
                        data = b""
                        while True:
                            chunk = t.recv(65536)
                            if not chunk:
                                break
                            data += chunk
                        if not data.startswith(b"HTTP/1.1 200 "):
                            failures.append(data[:100])
                        seen.append(t.getpeercert(binary_form=True))
            except Exception as e:  # noqa: BLE001 - every failure counts
                failures.append(repr(e))
            time.sleep(0.05)

    th = threading.Thread(target=client, daemon=True)
    th.start()
    on_cleanup(stop.set)
    n.drain()
    n.messages.clear()  # from here on, only what the renewal brings
    up.stop()
    n_tries = proc.stderr().count("acme: trying again in")
    wait_until(lambda: proc.stderr().count("acme: trying again in") > n_tries, 40 * SLOW,
               what="the renewal to fail with the CA down")
    check(time.time() >= end - (end - start) / 3 - 1, "the renewal was due")
    m = n.wait_for(lambda m: "waiting for a certificate (next try in 1 s: %s)" % refused in m,
                   10, what="STATUS= with the failing renewal")
    check_eq(_try_peer(tls, root), first, "the old certificate, served while the CA is down")
    n.drain()
    n.messages.clear()
    back = Pebble(d, plain.sockaddr[1], port=down.port, validity=20)
    root2 = back.root()
    wait_until(lambda: _try_peer(tls, root2), 30 * SLOW, what="the renewed certificate served")
    n.wait_for(lambda m: "certificate ok" in m, 10, what="STATUS= with the renewed certificate")
    stop.set()
    th.join(10 * SLOW)
    check_eq(failures, [], "requests that failed")
    check(first in seen, "requests served with the old certificate")
    check(proc.alive(), "ferry serve still running")


@test("http-01 failing (nothing answers on pebble's httpPort): exit 1, `acme: example.test: ...: http-01 failed: <pebble's detail>`, no certificate")
def _():
    d = tmpdir()
    pebble = Pebble(d, free_port())
    cfg = acme_conf(d, pebble)
    rc, out, err = ferry_acme(cfg)
    check_eq(rc, 1, "exit status")
    check(re.search(r"acme: example\.test: (www\.)?example\.test: http-01 failed: .*connection",
                    err), "message: %s" % err[-2000:])
    check(not os.path.exists(os.path.join(d, "acme", "certificates", "example.test.pem")),
          "no certificate file")


@test("CA unreachable: ferry acme exits 1 with the reason, the old certificate is still served")
def _():
    d = tmpdir()
    proc, plain, tls = serve(d, acme_conf(d))
    pebble = Pebble(d, plain.sockaddr[1])
    cfg = acme_conf(d, pebble)
    obtain(d, pebble, cfg)
    root = pebble.root()
    first = wait_until(lambda: _try_peer(tls, root), 20 * SLOW, what="the certificate")
    pem = os.path.join(d, "acme", "certificates", "example.test.pem")
    before = read_file(pem)
    pebble.stop()
    rc, out, err = ferry_acme(cfg, "--force")
    check_eq(rc, 1, "exit status")
    check_in("acme: GET %s: connect 127.0.0.1 port %d: Connection refused" % (pebble.url,
                                                                          pebble.port), err)
    check_in("1 certificate not obtained or renewed", err)
    check_eq(read_file(pem), before, "the certificate file is untouched")
    check_eq(peer_cert(tls, root), first, "the old certificate is served")


@test("a crash mid-write (ferry acme killed with its new certificate in a temporary file, before the rename): the old certificate file is intact and still served; the next run removes the leftover and renews")
def _():
    d = tmpdir()
    proc, plain, tls = serve(d, acme_conf(d))
    pebble = Pebble(d, plain.sockaddr[1])
    cfg = acme_conf(d, pebble)
    obtain(d, pebble, cfg)
    root = pebble.root()
    first = wait_until(lambda: _try_peer(tls, root), 20 * SLOW, what="the certificate")
    certs = os.path.join(d, "acme", "certificates")
    pem = os.path.join(certs, "example.test.pem")
    before = read_file(pem)
    # the test hook stops the process (SIGSTOP) after the temporary file is written and
    # fsync'ed, just before the rename: a deterministic crash point
    crash = Proc([FERRY, "acme", "--config", cfg, "--force"], dir=d, name="acme-crash",
                 env={"FERRY_TEST_STOP_BEFORE_RENAME": "/certificates/example.test.pem"})

    def stopped():
        try:
            stat = read_file("/proc/%d/stat" % crash.pid).decode()
        except OSError:
            return False
        return stat[stat.rindex(")") + 2] == "T" or not crash.alive()
    wait_until(stopped, 60 * SLOW, what="ferry acme to reach the rename")
    check(crash.alive(), "ferry acme stopped before the rename (stderr: %s)"
          % crash.stderr()[-2000:])
    tmp = "example.test.pem.tmp.%d" % crash.pid
    check_eq(sorted(os.listdir(certs)), ["example.test.pem", tmp], "files in certificates/")
    check_in(b"-----END CERTIFICATE-----", read_file(os.path.join(certs, tmp)),
             "the new certificate, complete in the temporary file")
    os.kill(crash.pid, signal.SIGKILL)
    crash.wait_exit(10)
    check_eq(read_file(pem), before, "the certificate file after the crash")
    check_eq(peer_cert(tls, root), first, "the old certificate is served")
    rc, out, err = ferry_acme(cfg, "--force")
    check_eq(rc, 0, "the run after the crash (stderr: %s)" % err[-2000:])
    check_eq(os.listdir(certs), ["example.test.pem"], "files in certificates/ after it")
    check(read_file(pem) != before, "a new certificate file")
    wait_until(lambda: _try_peer(tls, root) not in (None, first), 20 * SLOW,
               what="the new certificate served")
    check(proc.alive(), "ferry serve still running")


class FakeARI:
    """pebble behind a directory of our own (Debian's pebble 2.4 has no ARI): an HTTPS
    server on 127.0.0.1 with pebble's localhost certificate that forwards every request to
    pebble with its own Host (pebble builds its URLs, and checks each JWS "url", from the
    request's Host: so every URL names this server), and adds renewalInfo to the directory.
    GET /ari/ID answers self.window (start, end as RFC 3339, or None: 404) and records ID;
    each newOrder's payload is recorded in self.orders, and one with "replaces" is answered
    alreadyReplaced (409) while self.already_replaced is set."""

    def __init__(self, pebble):
        import base64
        import http.client
        import http.server
        import json
        fake = self

        def b64dec(s):
            return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

        def to_pebble(method, path, body, ctype):
            ctx = ssl.create_default_context(cafile=pebble.test_ca)
            c = http.client.HTTPSConnection("127.0.0.1", pebble.port, context=ctx,
                                            timeout=10 * SLOW)
            hdrs = {"Host": "127.0.0.1:%d" % fake.port}
            if ctype:
                hdrs["Content-Type"] = ctype
            c.request(method, path, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
            out = [(k, v) for k, v in r.getheaders()
                   if k.lower() in ("replay-nonce", "location", "retry-after", "link",
                                    "content-type", "cache-control")]
            c.close()
            return r.status, out, data

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path == "/dir":
                    st, hdrs, data = to_pebble("GET", "/dir", None, None)
                    d = json.loads(data)
                    d["renewalInfo"] = "https://127.0.0.1:%d/ari/" % fake.port
                    self._send(200, json.dumps(d).encode())
                elif self.path.startswith("/ari/"):
                    fake.asked.append(self.path[5:])
                    if fake.window is None:
                        self._send(404, b'{"type": "urn:ietf:params:acme:error:malformed"}')
                    else:
                        self._send(200, json.dumps({
                            "suggestedWindow": {"start": fake.window[0], "end": fake.window[1]},
                            "explanationURL": "https://ca.test/incident"}).encode())
                else:
                    self._forward("GET", None)

            def do_HEAD(self):
                self._forward("HEAD", None)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != fake.new_order_path:
                    self._forward("POST", body)
                    return
                payload = json.loads(b64dec(json.loads(body)["payload"]))
                if fake.already_replaced and "replaces" in payload:
                    fake.orders.append(payload)
                    self._send(409, json.dumps({
                        "type": "urn:ietf:params:acme:error:alreadyReplaced",
                        "detail": "already replaced (a test)"}).encode(),
                        ctype="application/problem+json")
                    return
                st, data = self._forward("POST", body)
                # pebble rejects some nonces (badNonce): ferry sends that order again
                if not (st == 400 and b"badNonce" in data):
                    fake.orders.append(payload)

            def _forward(self, method, body):
                st, hdrs, data = to_pebble(method, self.path, body,
                                           self.headers.get("Content-Type"))
                self.send_response(st)
                for k, v in hdrs:
                    self.send_header(k, v)
                if method != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(data)
                return st, data

            def _send(self, status, body, ctype="application/json"):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.window, self.asked, self.orders, self.already_replaced = None, [], [], False
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(pebble.dir, "pebble.pem"),
                            os.path.join(pebble.dir, "pebble.key"))
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.port = self.srv.server_address[1]
        self.url = "https://127.0.0.1:%d/dir" % self.port
        ctx = ssl.create_default_context(cafile=pebble.test_ca)
        with urllib.request.urlopen(pebble.url, context=ctx, timeout=10 * SLOW) as r:
            self.new_order_path = urllib.parse.urlsplit(json.loads(r.read())["newOrder"]).path
        th = threading.Thread(target=self.srv.serve_forever, daemon=True)
        th.start()
        on_cleanup(self.srv.shutdown)


def ari_cert_id(pem_path):
    """RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial's DER value bytes)."""
    import base64
    out = openssl("x509", "-in", pem_path, "-noout", "-serial", "-ext",
                  "authorityKeyIdentifier").decode()
    serial = bytes.fromhex(re.search(r"serial=([0-9A-F]+)", out).group(1).zfill(2))
    if serial[0] & 0x80:
        serial = b"\0" + serial
    aki = bytes.fromhex(re.search(r"(?:keyid:)?((?:[0-9A-F]{2}:)+[0-9A-F]{2})", out.split(
        "Authority Key Identifier", 1)[1]).group(1).replace(":", ""))
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    return b64(aki) + "." + b64(serial)


@test("ARI (RFC 9773, a renewalInfo beside pebble's directory): the certificate's ID asked; a window in the future: nothing to do; a window already open: renewed though a third of the lifetime is far, the newOrder saying which certificate it replaces (alreadyReplaced: ordered again without); no window (404): the usual rule")
def _():
    d = tmpdir()
    proc, plain, tls = serve(d, acme_conf(d))
    # half the nonces rejected: an order sent again after badNonce keeps its "replaces"
    pebble = Pebble(d, plain.sockaddr[1], nonce_reject=50)
    ari = FakeARI(pebble)
    cfg = acme_conf(d, pebble, ca=ari.url)
    obtain(d, pebble, cfg)
    check_eq(len(ari.orders), 1, "newOrders of the first certificate")
    check_not_in("replaces", ari.orders[0], "the first order's payload (nothing to replace)")
    pem = os.path.join(d, "acme", "certificates", "example.test.pem")
    cert_id = ari_cert_id(pem)
    fmt = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    now = time.time()
    # a window in the future: not due (pebble's certificates last 5 years)
    ari.window = (fmt(now + 86400), fmt(now + 2 * 86400))
    before = read_file(pem)
    rc, out, err = ferry_acme(cfg)
    check_eq(rc, 0, "run with a future window (stderr: %s)" % err[-2000:])
    check_eq(ari.asked, [cert_id], "the renewalInfo asked for (RFC 9773 certID)")
    check_in("nothing to do", err)
    check_in("acme: example.test: the CA suggests renewing between %s and %s (ARI, "
             "https://ca.test/incident)\n" % (time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                              time.gmtime(now + 86400)),
                                               time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                             time.gmtime(now + 2 * 86400))),
             err)
    check_eq(read_file(pem), before, "no renewal")
    # no window: the usual rule
    ari.window = None
    rc, out, err = ferry_acme(cfg)
    check_eq(rc, 0, "run without a window (stderr: %s)" % err[-2000:])
    check_in("HTTP status 404, no suggested window: renewing by the usual rule", err)
    check_eq(read_file(pem), before, "no renewal")
    # a window already open (the CA wants it replaced, e.g. before a revocation): renewed;
    # the newOrder names the certificate it replaces (RFC 9773 §5), and the CA saying it
    # was replaced already, the order goes again without
    ari.window = (fmt(now - 3600), fmt(now - 60))
    ari.already_replaced = True
    del ari.orders[:]
    rc, out, err = ferry_acme(cfg)
    check_eq(rc, 0, "run with an open window (stderr: %s)" % err[-2000:])
    check_in("(ARI, https://ca.test/incident): renewing", err)
    check_in("the CA says certificate %s was already replaced (alreadyReplaced): ordering "
             "without \"replaces\"" % cert_id, err)
    check_in("certificate stored in %s" % pem, err)
    ids = [{"type": "dns", "value": n} for n in NAMES]
    check_eq(ari.orders, [{"identifiers": ids, "replaces": cert_id}, {"identifiers": ids}],
             "the newOrder payloads")
    check(read_file(pem) != before, "a new certificate")
    check(ari_cert_id(pem) != cert_id, "a new certificate ID")
    # once more: the order with "replaces" goes through (pebble 2.4 ignores the member)
    second_id = ari_cert_id(pem)
    ari.already_replaced = False
    del ari.orders[:]
    rc, out, err = ferry_acme(cfg)
    check_eq(rc, 0, "second run with an open window (stderr: %s)" % err[-2000:])
    check_eq(ari.orders, [{"identifiers": ids, "replaces": second_id}], "the newOrder payload")
    check_not_in("alreadyReplaced", err)
    check(ari_cert_id(pem) != second_id, "a third certificate")
    root = pebble.root()
    wait_until(lambda: _try_peer(tls, root) is not None and
               ssl.DER_cert_to_PEM_cert(_try_peer(tls, root)).encode() in read_file(pem),
               20 * SLOW, what="the renewed certificate served")


@test("the CA's name through ferry's own resolver (a hosts file and a resolv.conf of the test's, the proxy's test hooks): https://ca.test:PORT/dir gets a certificate; a name the hosts file lacks fails with the resolver's reason")
def _():
    d = tmpdir()
    proc, plain, tls = serve(d, acme_conf(d))
    pebble = Pebble(d, plain.sockaddr[1])
    hosts = write_file(os.path.join(d, "hosts"), "127.0.0.1 localhost\n127.0.0.1 ca.test\n")
    # nothing answers DNS there: only the hosts file can name ca.test
    resolv = write_file(os.path.join(d, "resolv.conf"),
                        "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    env = {"FERRY_INSECURE_TEST_HOSTS": hosts, "FERRY_INSECURE_TEST_RESOLV_CONF": resolv}
    cfg = acme_conf(d, pebble, ca="https://ca.test:%d/dir" % pebble.port)
    rc, out, err = ferry_acme(cfg, env=env)
    check_eq(rc, 0, "ferry acme exit status (stderr: %s)" % err[-2000:])
    check_in("certificate stored in %s/acme/certificates/example.test.pem" % d, err)
    root = pebble.root()
    wait_until(lambda: _try_peer(tls, root), 20 * SLOW, what="the certificate served")
    # the same name without the hosts file's line: the resolver's answer, no certificate
    write_file(hosts, "127.0.0.1 localhost\n")
    rc, out, err = ferry_acme(cfg, "--force", env=env)
    check_eq(rc, 1, "exit status without the name (stderr: %s)" % err[-2000:])
    check(re.search(r"acme: GET https://ca\.test:%d/dir: resolve ca\.test: " % pebble.port, err),
          "the resolver's failure: %s" % err[-2000:])
    check_in("1 certificate not obtained or renewed", err)


@test("a CA that accepts the connection and never answers (acme-timeout 2s): no TLS handshake, then a handshake and no HTTP answer: ferry acme gives up on each after 2 s, exit 1, with the reason")
def _():
    d = tmpdir()
    key, crt = fake_ca_cert(d)
    # a listener that never accepts: the kernel completes the TCP handshake (the backlog)
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(8)
    on_cleanup(mute.close)
    url = "https://127.0.0.1:%d/dir" % mute.getsockname()[1]
    cfg = write_config(d, "listen http\nacme-dir %s/acme\nacme-ca %s\nacme-ca-root %s\n"
                       "acme-timeout 2s\nsite example.test {\n tls acme\n}\n" % (d, url, crt))
    t0 = time.monotonic()
    rc, out, err = ferry_acme(cfg, timeout=60)
    took = time.monotonic() - t0
    check_eq(rc, 1, "exit status (stderr: %s)" % err[-2000:])
    check_in("acme: GET %s: TLS to 127.0.0.1:%d: no handshake in 2 s" % (url,
                                                                        mute.getsockname()[1]),
             err)
    check(took >= 2, "ferry acme waited the 2 s (%.2f s)" % took)
    # a TLS server that completes the handshake and then says nothing
    held = []
    port, stop = fake_ca(key, crt, held.append)
    url = "https://127.0.0.1:%d/dir" % port
    cfg = write_config(d, "listen http\nacme-dir %s/acme\nacme-ca %s\nacme-ca-root %s\n"
                       "acme-timeout 2s\nsite example.test {\n tls acme\n}\n" % (d, url, crt))
    t0 = time.monotonic()
    rc, out, err = ferry_acme(cfg, timeout=60)
    took = time.monotonic() - t0
    check_eq(rc, 1, "exit status (stderr: %s)" % err[-2000:])
    check_in("acme: GET %s: 127.0.0.1:%d: no answer in 2 s" % (url, port), err)
    check(held, "the handshake was done")
    check(took >= 2, "ferry acme waited the 2 s (%.2f s)" % took)
    stop()
    for t in held:
        t.close()


@test("the CA's certificate verified: signed by another CA than acme-ca-root, or for another name than the URL's (the name through ferry's resolver): no request is sent, exit 1, GnuTLS's reason")
def _():
    d = tmpdir()
    key, crt = fake_ca_cert(d)
    other = os.path.join(d, "other.pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "2", "-subj", "/CN=other", "-keyout", os.path.join(d, "other.key"),
            "-out", other)
    requests = []

    def record(t):
        requests.append(t.recv(4096))
        t.close()
    port, stop = fake_ca(key, crt, record)
    hosts = write_file(os.path.join(d, "hosts"), "127.0.0.1 ca.test\n")
    env = {"FERRY_INSECURE_TEST_HOSTS": hosts,
           "FERRY_INSECURE_TEST_RESOLV_CONF": write_file(os.path.join(d, "resolv.conf"), "")}
    for url, root, why in (("https://127.0.0.1:%d/dir" % port, other, "issuer is unknown"),
                           ("https://ca.test:%d/dir" % port, crt, "does not match")):
        cfg = write_config(d, "listen http\nacme-dir %s/acme\nacme-ca %s\nacme-ca-root %s\n"
                           "acme-timeout 5s\nsite example.test {\n tls acme\n}\n"
                           % (d, url, root))
        rc, out, err = ferry_acme(cfg, timeout=60, env=env)
        check_eq(rc, 1, "exit status (stderr: %s)" % err[-2000:])
        m = re.search(r"acme: GET %s: TLS to [a-z0-9.]+:%d: (.*)" % (re.escape(url), port), err)
        check(m and why in m.group(1), "the reason (%s): %s" % (why, err[-2000:]))
    stop()
    check_eq([r for r in requests if r], [], "requests that reached the server")


@test("a CA whose answer is larger than 1 MiB: ferry acme stops reading at the limit, exit 1, with the reason")
def _():
    d = tmpdir()
    key, crt = fake_ca_cert(d)
    sent = []

    def flood(t):
        t.recv(4096)
        body = b"{" + b" " * (3 << 20) + b"}"
        t.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        n = 0
        while n < len(body):
            n += t.send(body[n:n + 65536])
        sent.append(n)
        t.close()
    port, stop = fake_ca(key, crt, flood, lambda: sent.append(-1))
    url = "https://127.0.0.1:%d/dir" % port
    cfg = write_config(d, "listen http\nacme-dir %s/acme\nacme-ca %s\nacme-ca-root %s\n"
                       "acme-timeout 20s\nsite example.test {\n tls acme\n}\n" % (d, url, crt))
    rc, out, err = ferry_acme(cfg, timeout=60)
    check_eq(rc, 1, "exit status (stderr: %s)" % err[-2000:])
    check_in("acme: GET %s: response from 127.0.0.1:%d larger than 1048576 bytes" % (url, port),
             err)
    wait_until(lambda: sent, 10 * SLOW, what="the server to be done with the connection")
    check_eq(len(sent), 1, "connections the server answered")
    stop()


if __name__ == "__main__":
    main()
