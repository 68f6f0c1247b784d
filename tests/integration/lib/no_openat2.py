#!/usr/bin/env python3
"""no_openat2.py PROGRAM ARGS...: exec PROGRAM (same PID) under a seccomp filter that answers
openat2(2) with ENOSYS, as systemd's RestrictSUIDSGID= (implied by DynamicUser=) and kernels
before 5.6 do. Prints "no_openat2: ENOSYS" to stderr once it checked the filter works."""
import ctypes
import errno
import os
import platform
import struct
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
ARCHES = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}  # AUDIT_ARCH_*
NR_OPENAT2 = 437  # the same on both


def insn(code, jt, jf, k):
    return struct.pack("HBBI", code, jt, jf, k)


def main():
    arch = ARCHES.get(platform.machine())
    if arch is None:
        sys.exit("no_openat2: unsupported architecture %s" % platform.machine())
    prog = b"".join([
        insn(0x20, 0, 0, 4),                        # ld [arch]
        insn(0x15, 0, 3, arch),                     # jeq arch ? next : allow
        insn(0x20, 0, 0, 0),                        # ld [nr]
        insn(0x15, 0, 1, NR_OPENAT2),               # jeq openat2 ? next : allow
        insn(0x06, 0, 0, 0x00050000 | errno.ENOSYS),  # ret ERRNO(ENOSYS)
        insn(0x06, 0, 0, 0x7FFF0000),               # ret ALLOW
    ])
    buf = ctypes.create_string_buffer(prog)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(prog) // 8, ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        sys.exit("no_openat2: PR_SET_NO_NEW_PRIVS: %s" % os.strerror(ctypes.get_errno()))
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        sys.exit("no_openat2: PR_SET_SECCOMP: %s" % os.strerror(ctypes.get_errno()))
    libc.syscall.restype = ctypes.c_long
    r = libc.syscall(NR_OPENAT2, -100, b"/", None, 0)
    if r != -1 or ctypes.get_errno() != errno.ENOSYS:
        sys.exit("no_openat2: openat2 still answers (%d, errno %d)" % (r, ctypes.get_errno()))
    sys.stderr.write("no_openat2: ENOSYS\n")
    sys.stderr.flush()
    os.execv(sys.argv[1], sys.argv[1:])


if __name__ == "__main__":
    main()
