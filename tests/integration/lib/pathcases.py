"""The path-escape cases: a root with files, symlinks that point in and out, a secret beside
it, and the request paths that try to reach it (test_paths.py runs each one; the transport
replay, test_over_tls_h2.py, runs them over TLS and HTTP/2 too)."""
import os

from ferrylib import tmpdir, write_file

SECRET = b"TOP-SECRET-7f3a9c-outside-the-root"


def layout():
    d = tmpdir()
    write_file(os.path.join(d, "secret.txt"), SECRET + b"\n")
    write_file(os.path.join(d, "outdir", "secret.txt"), SECRET + b" (dir)\n")
    root = os.path.join(d, "www")
    write_file(os.path.join(root, "index.html"), "<h1>index</h1>\n")
    write_file(os.path.join(root, "etc", "passwd"), "inside-root passwd\n")
    write_file(os.path.join(root, "a", "b.txt"), "a/b inside\n")
    os.symlink("../secret.txt", os.path.join(root, "link-out"))
    os.symlink(os.path.join(d, "secret.txt"), os.path.join(root, "link-abs"))
    os.symlink(os.path.join(d, "outdir"), os.path.join(root, "dirlink-out"))
    os.symlink("index.html", os.path.join(root, "link-in"))
    os.symlink("a/b.txt", os.path.join(root, "link-in-sub"))
    os.symlink("../index.html", os.path.join(root, "a", "up-but-inside"))
    os.symlink("/proc/self/root/" + os.path.join(d, "secret.txt").lstrip("/"),
               os.path.join(root, "link-proc"))
    return d, root


ESCAPES = [
    "/../secret.txt",
    "/../../../../../../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/%2E%2E%2Fsecret.txt",
    "/%2e%2e%2fsecret.txt",
    "/.%2e/secret.txt",
    "/%2e./secret.txt",
    "/..%2fsecret.txt",
    "/..%5csecret.txt",
    "/a/../../secret.txt",
    "/a/%2e%2e/%2e%2e/secret.txt",
    "/a/b.txt/../../../secret.txt",
    "/./../secret.txt",
    "/..",
    "/../",
    "/..%2f",
    "/%2e%2e",
    "/a/../..",
    "/a/..%2f..%2fsecret.txt",
    "/%252e%252e/secret.txt",
    "/..;/secret.txt",
    "/.../secret.txt",
    "/secret.txt",
]
