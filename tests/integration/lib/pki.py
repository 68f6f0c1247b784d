"""A test PKI made with openssl: a CA (ECDSA P-256), leaf certificates signed by it, OCSP
responses. Each Pki lives in a temporary directory removed at exit.

    p = Pki()
    key = p.key("up", "ec")
    crt = p.leaf("up", key, ["DNS:up.test", "IP:127.0.0.1"])
"""
import atexit
import os
import shutil
import subprocess
import tempfile
import time

from ferrylib import TestFailure


class Pki:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ferry-tls-pki-")
        atexit.register(shutil.rmtree, self.dir, True)
        self.ca_key = self.path("ca.key")
        self.ca = self.path("ca.crt")
        self.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-nodes", "-keyout", self.ca_key, "-out", self.ca, "-days", "365",
                     "-subj", "/CN=ferry test CA")
        self.serial = 1

    def path(self, name):
        return os.path.join(self.dir, name)

    def openssl(self, *args):
        r = subprocess.run(["openssl"] + list(args), capture_output=True, timeout=60)
        if r.returncode != 0:
            raise TestFailure("openssl %s: %s" % (" ".join(args), r.stderr.decode()))

    def key(self, name, kind):
        k = self.path(name + ".key")
        if kind == "ec":
            self.openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                         "-out", k)
        else:
            self.openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                         "-out", k)
        return k

    def leaf(self, name, key, sans, days=365):
        """A certificate with CN=name for key, signed by the CA; days -1: expired yesterday."""
        csr, ext, crt = (self.path(name + s) for s in (".csr", ".ext", ".crt"))
        self.openssl("req", "-new", "-key", key, "-subj", "/CN=" + name, "-out", csr)
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\n" % ",".join(sans))
        self.serial += 1
        self.openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                     "-set_serial", str(self.serial), "-days", str(days), "-extfile", ext,
                     "-out", crt)
        return crt


    def ocsp(self, crt, status="V"):
        """A DER OCSP response from the CA for crt: good (V) or revoked (R), 7 days."""
        serial = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-serial"],
                                capture_output=True, check=True).stdout.decode()
        serial = serial.strip().split("=")[1]
        expiry = time.strftime("%y%m%d%H%M%SZ", time.gmtime(time.time() + 300 * 86400))
        index = self.path("index-%s.txt" % serial)
        with open(index, "w") as f:
            f.write("%s\t%s\t%s\t%s\tunknown\t/CN=x\n"
                    % (status, expiry, expiry if status == "R" else "", serial))
        req, resp = self.path("req-%s.der" % serial), crt + ".ocsp"
        self.openssl("ocsp", "-issuer", self.ca, "-cert", crt, "-reqout", req, "-no_nonce")
        self.openssl("ocsp", "-index", index, "-rsigner", self.ca, "-rkey", self.ca_key,
                     "-CA", self.ca, "-reqin", req, "-respout", resp, "-ndays", "7")
        return resp
