#!/usr/bin/env python3
"""testssl.sh (Debian's testssl.sh, command `testssl`) against a TLS listener with an ECDSA and
an RSA certificate from a test CA: protocols, server defaults and preferences, and the known
vulnerabilities (-p -S -P -U: Heartbleed, ROBOT, CRIME, BREACH, renegotiation, ...), offline.
Fails on any finding rated HIGH or CRITICAL. About 85 s on an idle machine (much more on a
busy one), so it is a file of its own."""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import ferrylib  # noqa: E402
from ferrylib import *  # noqa: E402,F401,F403

# testssl alone takes 40 s to minutes: this file's tests get a longer alarm.
ferrylib.TEST_TIMEOUT = max(ferrylib.TEST_TIMEOUT, 600)


def openssl(d, *args):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, cwd=d, timeout=60)
    if r.returncode != 0:
        raise TestFailure("openssl %s: %s" % (" ".join(args), r.stderr.decode()))


def make_pki(d):
    """A CA and two leaves for a.test that a scanner has nothing to say about: a year of
    validity, 16-byte serials, CRL and OCSP URIs, an OCSP response each."""
    openssl(d, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "400",
            "-subj", "/CN=ferry testssl CA")
    write_file(os.path.join(d, "leaf.ext"),
               "subjectAltName=DNS:a.test,DNS:www.a.test\n"
               "crlDistributionPoints=URI:http://ca.a.test/ca.crl\n"
               "authorityInfoAccess=OCSP;URI:http://ca.a.test/ocsp\n"
               "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    for name, alg in (("ec", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
                      ("rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])):
        openssl(d, "genpkey", *alg, "-out", name + ".key")
        openssl(d, "req", "-new", "-key", name + ".key", "-subj", "/CN=a.test",
                "-out", name + ".csr")
        serial = os.urandom(16).hex().upper().lstrip("0")
        openssl(d, "x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-set_serial", "0x" + serial, "-days", "365",
                "-extfile", "leaf.ext", "-out", name + ".crt")
        # an OCSP response to staple
        write_file(os.path.join(d, name + ".index"), "V\t%s\t\t%s\tunknown\t/CN=a.test\n"
                   % (time.strftime("%y%m%d%H%M%SZ", time.gmtime(time.time() + 300 * 86400)),
                      serial))
        openssl(d, "ocsp", "-issuer", "ca.crt", "-cert", name + ".crt", "-reqout",
                name + ".req", "-no_nonce")
        openssl(d, "ocsp", "-index", name + ".index", "-rsigner", "ca.crt", "-rkey", "ca.key",
                "-CA", "ca.crt", "-reqin", name + ".req", "-respout", name + ".ocsp",
                "-ndays", "7")


def findings(path):
    """Every finding of a testssl JSON file (plain or pretty)."""
    with open(path) as f:
        data = json.load(f)
    out = []

    def walk(v):
        if isinstance(v, dict):
            if "severity" in v and "id" in v:
                out.append(v)
            else:
                for x in v.values():
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(data)
    return out


@test("testssl -p -S -P -U: no finding rated HIGH or CRITICAL (ECDSA + RSA certificates, TLS 1.2/1.3)")
def _():
    if not shutil.which("testssl"):
        raise Skip("testssl is not installed (apt-get install testssl.sh)")
    d = tmpdir()
    make_pki(d)
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), "hello\n")
    cfg = write_config(d, "listen https tls\nsite a.test www.a.test {\n"
                       " tls %s/ec.crt %s/ec.key ocsp %s/ec.ocsp\n"
                       " tls %s/rsa.crt %s/rsa.key ocsp %s/rsa.ocsp\n root %s\n"
                       " hsts 365d\n}\n" % (d, d, d, d, d, d, root))
    proc, (tls,) = activate(lambda: [tcp4()], ["serve", "--config", cfg], fdnames=["https"],
                            dir=d)
    out = os.path.join(d, "testssl.json")
    argv = ["testssl", "--quiet", "--color", "0", "--warnings", "batch", "--ip", "127.0.0.1",
            "--add-ca", os.path.join(d, "ca.crt"), "--jsonfile", out, "-p", "-S", "-P", "-U",
            "https://a.test:%d/" % tls.sockaddr[1]]
    r = subprocess.run(argv, capture_output=True, timeout=ferrylib.TEST_TIMEOUT - 20)
    check(os.path.exists(out), "testssl wrote no JSON (rc %d): %s"
          % (r.returncode, r.stdout.decode("utf-8", "replace")[-2000:]))
    fs = findings(out)
    check(len(fs) > 30, "testssl found too little to judge: %d findings" % len(fs))
    by = {}
    for f in fs:
        by.setdefault(f["severity"], []).append("%s: %s" % (f["id"], f["finding"]))
    diag("testssl: " + ", ".join("%d %s" % (len(v), k) for k, v in sorted(by.items())))
    for f in by.get("LOW", []) + by.get("MEDIUM", []):
        diag("  " + f)
    bad = by.get("HIGH", []) + by.get("CRITICAL", [])
    check(not bad, "HIGH or CRITICAL findings:\n" + "\n".join(bad))
    # and what it saw is what ferry offers
    ids = {f["id"]: f["finding"] for f in fs}
    for v in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        check_in("not offered", ids.get(v, ""), v)
    check_in("offered", ids.get("TLS1_2", ""), "TLS1_2")
    check_in("offered", ids.get("TLS1_3", ""), "TLS1_3")
    stapling = [f["finding"] for f in fs if f["id"].startswith("OCSP_stapling")]
    check(stapling and all(x == "offered" for x in stapling), "OCSP stapling: %s" % stapling)
    for v in ("heartbleed", "ROBOT", "CRIME_TLS", "BREACH", "secure_client_renego", "SWEET32"):
        check_in("not vulnerable", ids.get(v, ""), v)
    check(proc.alive(), "ferry alive after the scan")


main()
