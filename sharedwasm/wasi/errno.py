"""WASI preview1 error numbers (``errno`` of the witx spec) and the host-error mapping.

Host calls report failures by raising ``WasiError(errno)``; the import wrapper turns it
(and any ``OSError``, through ``errno_of``) into the returned ``errno`` value.
"""
from __future__ import annotations

import errno as _host
from enum import IntEnum


class Errno(IntEnum):
    """The witx ``errno`` enumeration (u16), in spec order."""

    SUCCESS = 0
    TOOBIG = 1          # 2big
    ACCES = 2
    ADDRINUSE = 3
    ADDRNOTAVAIL = 4
    AFNOSUPPORT = 5
    AGAIN = 6
    ALREADY = 7
    BADF = 8
    BADMSG = 9
    BUSY = 10
    CANCELED = 11
    CHILD = 12
    CONNABORTED = 13
    CONNREFUSED = 14
    CONNRESET = 15
    DEADLK = 16
    DESTADDRREQ = 17
    DOM = 18
    DQUOT = 19
    EXIST = 20
    FAULT = 21
    FBIG = 22
    HOSTUNREACH = 23
    IDRM = 24
    ILSEQ = 25
    INPROGRESS = 26
    INTR = 27
    INVAL = 28
    IO = 29
    ISCONN = 30
    ISDIR = 31
    LOOP = 32
    MFILE = 33
    MLINK = 34
    MSGSIZE = 35
    MULTIHOP = 36
    NAMETOOLONG = 37
    NETDOWN = 38
    NETRESET = 39
    NETUNREACH = 40
    NFILE = 41
    NOBUFS = 42
    NODEV = 43
    NOENT = 44
    NOEXEC = 45
    NOLCK = 46
    NOLINK = 47
    NOMEM = 48
    NOMSG = 49
    NOPROTOOPT = 50
    NOSPC = 51
    NOSYS = 52
    NOTCONN = 53
    NOTDIR = 54
    NOTEMPTY = 55
    NOTRECOVERABLE = 56
    NOTSOCK = 57
    NOTSUP = 58
    NOTTY = 59
    NXIO = 60
    OVERFLOW = 61
    OWNERDEAD = 62
    PERM = 63
    PIPE = 64
    PROTO = 65
    PROTONOSUPPORT = 66
    PROTOTYPE = 67
    RANGE = 68
    ROFS = 69
    SPIPE = 70
    SRCH = 71
    STALE = 72
    TIMEDOUT = 73
    TXTBSY = 74
    XDEV = 75
    NOTCAPABLE = 76


#: what a path that would leave its preopened directory gets (``..`` past the root, an
#: absolute path, a symlink to an absolute path or out of the tree): wasmtime's answer,
#: which follows the wasi-filesystem rule "fails with not-permitted"
ESCAPE = Errno.PERM


class WasiError(Exception):
    """A WASI call failing with ``errno``."""

    def __init__(self, errno: Errno, detail: str = ""):
        super().__init__(f"{errno.name.lower()}{': ' + detail if detail else ''}")
        self.errno = errno


def _build_host_map() -> dict[int, Errno]:
    table: dict[int, Errno] = {}
    aliases = {"TOOBIG": "E2BIG", "NOTSUP": "EOPNOTSUPP", "NOTCAPABLE": ""}
    for code in Errno:
        if code is Errno.SUCCESS:
            continue
        name = aliases.get(code.name, "E" + code.name)
        value = getattr(_host, name, None)
        if value is not None:
            table.setdefault(value, code)
    for name, code in (("EWOULDBLOCK", Errno.AGAIN), ("ENOTSUP", Errno.NOTSUP),
                       ("EDEADLOCK", Errno.DEADLK)):
        value = getattr(_host, name, None)
        if value is not None:
            table.setdefault(value, code)
    return table


_FROM_HOST = _build_host_map()


def errno_of(exc: OSError) -> Errno:
    """The WASI errno for a host ``OSError`` (``EIO`` when the host code has no match)."""
    return _FROM_HOST.get(exc.errno or 0, Errno.IO)
