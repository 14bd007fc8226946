"""WASI preview1 host functions, called directly over a fake memory (no execution needed):
every call, its memory layout, its errno cases. ``Guest`` and ``FakeMemory`` are shared
with test_wasi_sandbox.py."""
from __future__ import annotations

import io
import os
import struct
import time

import pytest

from sharedwasm.wasi import WASI, Errno, ProcExit, abi


class FakeMemory:
    """What WASI needs of a ``wasm.Memory``: ``buffer`` (a fresh view of the current size)."""

    def __init__(self, size: int = 1 << 16):
        self.data = bytearray(size)

    @property
    def buffer(self) -> memoryview:
        return memoryview(self.data)


class Guest:
    """Calls ``wasi.imports`` by name (``g.fd_write(...)``) and manages guest memory."""

    def __init__(self, wasi: WASI, size: int = 1 << 16):
        self.wasi = wasi
        self.mem = FakeMemory(size)
        wasi.bind(self.mem)
        self.calls = wasi.imports["wasi_snapshot_preview1"]
        self.top = 64

    def __getattr__(self, name: str):
        return self.calls[name]

    def alloc(self, data: bytes | int) -> int:
        size = data if isinstance(data, int) else len(data)
        addr = self.top
        self.top = (self.top + size + 7) & ~7
        if not isinstance(data, int):
            self.mem.data[addr:addr + size] = data
        return addr

    def str(self, text: str | bytes) -> tuple[int, int]:
        raw = text.encode() if isinstance(text, str) else text
        return self.alloc(raw), len(raw)

    def u32(self, addr: int) -> int:
        return struct.unpack_from("<I", self.mem.data, addr)[0]

    def u64(self, addr: int) -> int:
        return struct.unpack_from("<Q", self.mem.data, addr)[0]

    def read(self, addr: int, n: int) -> bytes:
        return bytes(self.mem.data[addr:addr + n])

    def iovs(self, *chunks: bytes | int) -> tuple[int, int]:
        """An iovec array over fresh buffers (bytes to write, or ints: sizes to read)."""
        table = bytearray()
        for chunk in chunks:
            buf = self.alloc(chunk)
            size = chunk if isinstance(chunk, int) else len(chunk)
            table += struct.pack("<II", buf, size)
        return self.alloc(bytes(table)), len(chunks)

    def open(self, dirfd: int, path: str, oflags: int = 0, rights: int | None = None,
             fdflags: int = 0, follow: bool = True, inheriting: int | None = None
             ) -> tuple[int, int]:
        """``path_open``; returns (errno, new fd)."""
        ptr, n = self.str(path)
        out = self.alloc(4)
        base = abi.RIGHTS_FILE | abi.RIGHTS_DIR if rights is None else rights
        inh = base if inheriting is None else inheriting
        err = self.path_open(dirfd, 1 if follow else 0, ptr, n, oflags, base, inh, fdflags,
                             out)
        return err, self.u32(out)

    def write(self, fd: int, data: bytes) -> tuple[int, int]:
        iovs, n = self.iovs(data)
        out = self.alloc(4)
        return self.fd_write(fd, iovs, n, out), self.u32(out)

    def readall(self, fd: int, size: int = 4096) -> tuple[int, bytes]:
        iovs, n = self.iovs(size)
        out = self.alloc(4)
        err = self.fd_read(fd, iovs, n, out)
        buf = self.u32(iovs)
        return err, self.read(buf, self.u32(out))

    def stat(self, dirfd: int, path: str, follow: bool = True) -> tuple[int, tuple]:
        ptr, n = self.str(path)
        out = self.alloc(64)
        err = self.path_filestat_get(dirfd, 1 if follow else 0, ptr, n, out)
        return err, abi.FILESTAT.unpack_from(self.mem.data, out)


W = "wasi_snapshot_preview1"
ALL = abi.RIGHTS_FILE | abi.RIGHTS_DIR


@pytest.fixture
def out() -> io.BytesIO:
    return io.BytesIO()


@pytest.fixture
def guest(tmp_path, out):
    """A guest with stdout captured and ``tmp_path`` preopened as ``/sandbox`` (fd 3)."""
    (tmp_path / "hello.txt").write_bytes(b"hello, world\n")
    (tmp_path / "sub").mkdir()
    wasi = WASI(args=["prog"], preopens={"/sandbox": tmp_path}, stdin=io.BytesIO(b""),
                stdout=out, stderr=io.BytesIO())
    yield Guest(wasi)
    wasi.close()


# -- errno and layouts ---------------------------------------------------------------------

def test_errno_numbers_follow_witx():
    assert (Errno.SUCCESS, Errno.TOOBIG, Errno.BADF, Errno.EXIST, Errno.INVAL) == (0, 1, 8, 20, 28)
    assert (Errno.NOENT, Errno.NOSYS, Errno.NOTDIR, Errno.PERM, Errno.SPIPE) == (44, 52, 54, 63, 70)
    assert Errno.NOTCAPABLE == 76 and len(Errno) == 77


def test_host_errors_map_to_wasi_errno():
    from sharedwasm.wasi.errno import errno_of
    import errno
    assert errno_of(OSError(errno.ENOENT, "x")) == Errno.NOENT
    assert errno_of(OSError(errno.EACCES, "x")) == Errno.ACCES
    assert errno_of(OSError(errno.ENOTEMPTY, "x")) == Errno.NOTEMPTY
    assert errno_of(OSError(errno.EOPNOTSUPP, "x")) == Errno.NOTSUP
    assert errno_of(OSError(errno.E2BIG, "x")) == Errno.TOOBIG
    assert errno_of(OSError(99999, "x")) == Errno.IO


def test_struct_sizes():
    assert abi.SUBSCRIPTION_CLOCK.size + 16 <= abi.SUBSCRIPTION_SIZE == 48
    assert abi.FDSTAT.size == 24 and abi.FILESTAT.size == 64 and abi.DIRENT.size == 24
    assert abi.EVENT.size == abi.EVENT_SIZE == 32 and abi.PRESTAT.size == 8


# -- args, environ, random, proc -------------------------------------------------------------

def test_args_and_environ_in_order():
    g = Guest(WASI(args=["prog", "two words", "ünï", b"\xff"],
                   env=[("B", "2"), ("A", "x=y"), ("EMPTY", "")]))
    sizes = g.alloc(8)
    assert g.args_sizes_get(sizes, sizes + 4) == 0
    assert (g.u32(sizes), g.u32(sizes + 4)) == (4, len(b"prog\0two words\0\xc3\xbcn\xc3\xaf\0\xff\0"))
    argv, buf = g.alloc(16), g.alloc(64)
    assert g.args_get(argv, buf) == 0
    assert [g.u32(argv + 4 * i) - buf for i in range(4)] == [0, 5, 15, 21]
    assert g.read(buf, 23) == b"prog\0two words\0\xc3\xbcn\xc3\xaf\0\xff\0"
    assert g.environ_sizes_get(sizes, sizes + 4) == 0
    assert (g.u32(sizes), g.u32(sizes + 4)) == (3, 17)
    env, ebuf = g.alloc(12), g.alloc(32)
    assert g.environ_get(env, ebuf) == 0
    assert g.read(ebuf, 17) == b"B=2\0A=x=y\0EMPTY=\0"
    assert g.u32(env + 8) == ebuf + 10


def test_environ_from_mapping_and_empty():
    g = Guest(WASI(env={"K": "V"}))
    sizes = g.alloc(8)
    g.environ_sizes_get(sizes, sizes + 4)
    assert (g.u32(sizes), g.u32(sizes + 4)) == (1, 4)
    g = Guest(WASI())
    g.args_sizes_get(sizes, sizes + 4)
    assert (g.u32(sizes), g.u32(sizes + 4)) == (0, 0)


def test_random_get_fills_and_checks_bounds():
    g = Guest(WASI())
    buf = g.alloc(64)
    assert g.random_get(buf, 64) == 0
    assert g.read(buf, 64) != bytes(64)
    assert g.random_get(len(g.mem.data) - 4, 8) == Errno.FAULT
    assert g.random_get(buf, 0) == 0


def test_proc_exit_raises_with_code_and_others():
    g = Guest(WASI())
    with pytest.raises(ProcExit) as info:
        g.proc_exit(3)
    assert info.value.code == 3
    with pytest.raises(ProcExit) as info:
        g.proc_exit(-1)
    assert info.value.code == 0xFFFFFFFF
    assert g.sched_yield() == 0
    assert g.proc_raise(0) == 0
    assert g.proc_raise(6) == Errno.NOSYS
    assert g.proc_raise(200) == Errno.INVAL


def test_sockets_unsupported():
    g = Guest(WASI())
    p = g.alloc(16)
    assert g.sock_accept(1, 0, p) == Errno.NOTSOCK
    assert g.sock_accept(77, 0, p) == Errno.BADF
    assert g.sock_recv(0, p, 1, 0, p, p + 4) == Errno.NOTSOCK
    assert g.sock_send(1, p, 1, 0, p) == Errno.NOTSOCK
    assert g.sock_shutdown(2, abi.SDFLAGS_RD) == Errno.NOTSOCK
    assert g.sock_shutdown(9, abi.SDFLAGS_RD) == Errno.BADF


# -- clocks and poll -------------------------------------------------------------------------

def test_clocks():
    g = Guest(WASI())
    p = g.alloc(8)
    before = time.time_ns()
    assert g.clock_time_get(abi.CLOCK_REALTIME, 1, p) == 0
    assert before <= g.u64(p) <= time.time_ns()
    assert g.clock_time_get(abi.CLOCK_MONOTONIC, 0, p) == 0
    first = g.u64(p)
    g.clock_time_get(abi.CLOCK_MONOTONIC, 0, p)
    assert g.u64(p) >= first
    for clock in (abi.CLOCK_PROCESS_CPUTIME, abi.CLOCK_THREAD_CPUTIME):
        assert g.clock_time_get(clock, 0, p) == 0
        assert g.clock_res_get(clock, p) == 0 and g.u64(p) >= 1
    assert g.clock_res_get(abi.CLOCK_MONOTONIC, p) == 0 and 1 <= g.u64(p) <= 10**9
    assert g.clock_time_get(4, 0, p) == Errno.INVAL
    assert g.clock_res_get(-1, p) == Errno.INVAL
    assert g.clock_time_get(0, 0, len(g.mem.data)) == Errno.FAULT


def _subscriptions(g: Guest, *subs: bytes) -> tuple[int, int, int, int]:
    table = g.alloc(b"".join(subs))
    events = g.alloc(32 * len(subs))
    nevents = g.alloc(4)
    return table, events, len(subs), nevents


def _clock_sub(userdata: int, timeout: int, clock: int = abi.CLOCK_MONOTONIC,
               flags: int = 0) -> bytes:
    raw = bytearray(48)
    abi.SUBSCRIPTION_HEAD.pack_into(raw, 0, userdata, abi.EVENTTYPE_CLOCK)
    abi.SUBSCRIPTION_CLOCK.pack_into(raw, 16, clock, timeout, 0, flags)
    return bytes(raw)


def _fd_sub(userdata: int, fd: int, kind: int = abi.EVENTTYPE_FD_READ) -> bytes:
    raw = bytearray(48)
    abi.SUBSCRIPTION_HEAD.pack_into(raw, 0, userdata, kind)
    abi.SUBSCRIPTION_FD.pack_into(raw, 16, fd)
    return bytes(raw)


def _events(g: Guest, events: int, nevents: int) -> list[tuple]:
    return [abi.EVENT.unpack_from(g.mem.data, events + 32 * i)[:4]
            for i in range(g.u32(nevents))]


def test_poll_relative_clock_sleeps():
    g = Guest(WASI())
    args = _subscriptions(g, _clock_sub(7, 20_000_000), _clock_sub(8, 5_000_000_000))
    start = time.monotonic()
    assert g.poll_oneoff(*args) == 0
    assert time.monotonic() - start >= 0.019
    assert _events(g, args[1], args[3]) == [(7, 0, abi.EVENTTYPE_CLOCK, 0)]


def test_poll_absolute_clock_in_the_past_and_errors():
    g = Guest(WASI())
    args = _subscriptions(g, _clock_sub(1, 1, abi.CLOCK_REALTIME, abi.SUBCLOCK_ABSTIME),
                          _fd_sub(2, 99), _clock_sub(3, 0, 9))
    assert g.poll_oneoff(*args) == 0
    assert sorted(_events(g, args[1], args[3])) == [
        (1, 0, abi.EVENTTYPE_CLOCK, 0), (2, Errno.BADF, abi.EVENTTYPE_FD_READ, 0),
        (3, Errno.INVAL, abi.EVENTTYPE_CLOCK, 0)]
    assert g.poll_oneoff(args[0], args[1], 0, args[3]) == Errno.INVAL


def test_poll_fd_readiness(guest):
    err, fd = guest.open(3, "hello.txt")
    assert err == 0
    args = _subscriptions(guest, _fd_sub(5, fd), _fd_sub(6, 1, abi.EVENTTYPE_FD_WRITE),
                          _clock_sub(9, 10**9))
    assert guest.poll_oneoff(*args) == 0
    assert sorted(_events(guest, args[1], args[3])) == [
        (5, 0, abi.EVENTTYPE_FD_READ, 13), (6, 0, abi.EVENTTYPE_FD_WRITE, 0)]
    args = _subscriptions(guest, _fd_sub(5, 3))
    guest.poll_oneoff(*args)
    assert _events(guest, args[1], args[3]) == [(5, Errno.BADF, abi.EVENTTYPE_FD_READ, 0)]


def test_poll_waits_for_a_pipe():
    rfd, wfd = os.pipe()
    try:
        g = Guest(WASI(stdin=rfd, stdout=io.BytesIO()))
        args = _subscriptions(g, _fd_sub(1, 0), _clock_sub(2, 30_000_000))
        g.poll_oneoff(*args)
        assert _events(g, args[1], args[3]) == [(2, 0, abi.EVENTTYPE_CLOCK, 0)]
        os.write(wfd, b"data")
        g.poll_oneoff(*args)
        assert [e[:3] for e in _events(g, args[1], args[3])] == [(1, 0, abi.EVENTTYPE_FD_READ)]
        assert g.readall(0) == (0, b"data")
    finally:
        os.close(rfd)
        os.close(wfd)


# -- stdio -----------------------------------------------------------------------------------

def test_stdout_gathers_iovecs(guest, out):
    iovs, n = guest.iovs(b"hello ", b"", b"world\n")
    nwritten = guest.alloc(4)
    assert guest.fd_write(1, iovs, n, nwritten) == 0
    assert guest.u32(nwritten) == 12 and out.getvalue() == b"hello world\n"


def test_stdin_scatters_and_ends():
    g = Guest(WASI(stdin=io.BytesIO(b"abcdefgh")))
    iovs, n = g.iovs(3, 10)
    nread = g.alloc(4)
    assert g.fd_read(0, iovs, n, nread) == 0 and g.u32(nread) == 8
    assert g.read(g.u32(iovs), 3) == b"abc" and g.read(g.u32(iovs + 8), 5) == b"defgh"
    assert g.fd_read(0, iovs, n, nread) == 0 and g.u32(nread) == 0


def test_text_stdout_decodes_split_utf8():
    text = io.StringIO()
    g = Guest(WASI(stdout=text))
    data = "ü€".encode()
    g.write(1, data[:1])
    g.write(1, data[1:])
    assert text.getvalue() == "ü€"


def test_os_descriptor_streams(tmp_path):
    path = tmp_path / "out.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        g = Guest(WASI(stdout=fd, stderr=fd))
        assert g.write(1, b"\x00\xffone ") == (0, 6)
        assert g.write(2, b"two") == (0, 3)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"\x00\xffone two"


def test_stream_rights_and_seeking(guest):
    p = guest.alloc(24)
    assert guest.fd_seek(1, 0, abi.WHENCE_CUR, p) == Errno.SPIPE
    assert guest.fd_tell(0, p) == Errno.SPIPE
    assert guest.write(0, b"x")[0] == Errno.NOTCAPABLE
    assert guest.readall(1)[0] == Errno.NOTCAPABLE
    assert guest.fd_fdstat_get(1, p) == 0
    filetype, flags, base, inheriting = abi.FDSTAT.unpack_from(guest.mem.data, p)
    assert filetype == abi.FILETYPE_UNKNOWN and flags == 0 and inheriting == 0
    assert base & abi.RIGHT_FD_WRITE and not base & (abi.RIGHT_FD_SEEK | abi.RIGHT_FD_TELL)
    assert guest.fd_sync(1) == 0
    assert guest.fd_pwrite(1, *guest.iovs(b"x"), 0, p) == Errno.SPIPE


# -- descriptors -----------------------------------------------------------------------------

def test_prestat(guest):
    p = guest.alloc(8)
    assert guest.fd_prestat_get(3, p) == 0
    assert guest.read(p, 8) == b"\x00\x00\x00\x00" + struct.pack("<I", 8)
    name = guest.alloc(16)
    assert guest.fd_prestat_dir_name(3, name, 8) == 0 and guest.read(name, 8) == b"/sandbox"
    assert guest.fd_prestat_dir_name(3, name, 7) == Errno.NAMETOOLONG
    assert guest.fd_prestat_get(1, p) == Errno.BADF
    assert guest.fd_prestat_get(4, p) == Errno.BADF


def test_fdstat_layout_of_a_preopen(guest):
    p = guest.alloc(24)
    guest.mem.data[p:p + 24] = b"\xee" * 24
    assert guest.fd_fdstat_get(3, p) == 0
    raw = guest.read(p, 24)
    assert raw[0] == abi.FILETYPE_DIRECTORY and raw[2:4] == b"\0\0"
    assert struct.unpack_from("<QQ", raw, 8) == (abi.RIGHTS_DIR, ALL)
    assert guest.fd_fdstat_get(42, p) == Errno.BADF


def test_file_write_seek_read(guest, tmp_path):
    err, fd = guest.open(3, "new.txt", abi.OFLAGS_CREAT)
    assert (err, fd) == (0, 4)
    assert guest.write(fd, b"0123456789") == (0, 10)
    p = guest.alloc(8)
    assert guest.fd_tell(fd, p) == 0 and guest.u64(p) == 10
    assert guest.fd_seek(fd, -4, abi.WHENCE_END, p) == 0 and guest.u64(p) == 6
    assert guest.readall(fd) == (0, b"6789")
    assert guest.fd_seek(fd, 2, abi.WHENCE_SET, p) == 0
    assert guest.fd_seek(fd, 1, abi.WHENCE_CUR, p) == 0 and guest.u64(p) == 3
    assert guest.fd_seek(fd, -100, abi.WHENCE_CUR, p) == Errno.INVAL
    assert guest.fd_seek(fd, 0, 7, p) == Errno.INVAL
    iovs, n = guest.iovs(3)
    assert guest.fd_pread(fd, iovs, n, 5, p) == 0 and guest.u32(p) == 3
    assert guest.read(guest.u32(iovs), 3) == b"567"
    assert guest.fd_pwrite(fd, *guest.iovs(b"AB"), 1, p) == 0 and guest.u32(p) == 2
    assert guest.fd_tell(fd, p) == 0 and guest.u64(p) == 3
    assert guest.fd_sync(fd) == 0 and guest.fd_datasync(fd) == 0
    assert guest.fd_close(fd) == 0
    assert guest.fd_close(fd) == Errno.BADF
    assert guest.write(fd, b"x")[0] == Errno.BADF
    assert (tmp_path / "new.txt").read_bytes() == b"0AB3456789"


def test_filestat_and_sizes(guest, tmp_path):
    err, fd = guest.open(3, "hello.txt")
    p = guest.alloc(64)
    guest.mem.data[p:p + 64] = b"\xee" * 64
    assert guest.fd_filestat_get(fd, p) == 0
    st = os.stat(tmp_path / "hello.txt")
    dev, ino, ftype, nlink, size, atim, mtim, ctim = abi.FILESTAT.unpack_from(guest.mem.data, p)
    assert (dev, ino, ftype, nlink, size) == (st.st_dev, st.st_ino, abi.FILETYPE_REGULAR_FILE,
                                              1, 13)
    assert mtim == st.st_mtime_ns and guest.read(p + 17, 7) == bytes(7)
    assert guest.fd_filestat_set_size(fd, 5) == 0
    assert (tmp_path / "hello.txt").read_bytes() == b"hello"
    assert guest.fd_filestat_set_times(fd, 10**18, 2 * 10**18, abi.FSTFLAGS_ATIM | abi.FSTFLAGS_MTIM) == 0
    st = os.stat(tmp_path / "hello.txt")
    assert (st.st_atime_ns, st.st_mtime_ns) == (10**18, 2 * 10**18)
    assert guest.fd_filestat_set_times(fd, 5, 0, abi.FSTFLAGS_ATIM) == 0
    st = os.stat(tmp_path / "hello.txt")
    assert (st.st_atime_ns, st.st_mtime_ns) == (5, 2 * 10**18)
    assert guest.fd_filestat_set_times(fd, 0, 0, abi.FSTFLAGS_MTIM_NOW) == 0
    assert abs(os.stat(tmp_path / "hello.txt").st_mtime_ns - time.time_ns()) < 10**10
    assert guest.fd_filestat_set_times(fd, 0, 0, abi.FSTFLAGS_ATIM | abi.FSTFLAGS_ATIM_NOW) \
        == Errno.INVAL
    assert guest.fd_filestat_get(1, p) == 0
    assert guest.fd_filestat_set_size(3, 0) == Errno.BADF


def test_allocate_advise(guest, tmp_path):
    err, fd = guest.open(3, "hello.txt")
    assert guest.fd_allocate(fd, 0, 100) == 0
    assert os.path.getsize(tmp_path / "hello.txt") == 100
    assert guest.fd_advise(fd, 0, 10, 2) == 0
    assert guest.fd_advise(fd, 0, 10, 6) == Errno.INVAL
    assert guest.fd_allocate(1, 0, 10) == Errno.NOTCAPABLE


def test_renumber_and_rights(guest):
    _, a = guest.open(3, "hello.txt")
    _, b = guest.open(3, "hello.txt")
    assert guest.fd_renumber(a, b) == 0
    assert guest.readall(b)[1] == b"hello, world\n"
    assert guest.readall(a)[0] == Errno.BADF
    assert guest.fd_renumber(b, 50) == Errno.BADF
    assert guest.fd_fdstat_set_rights(b, abi.RIGHT_FD_WRITE, 0) == 0
    assert guest.readall(b)[0] == Errno.NOTCAPABLE
    assert guest.fd_fdstat_set_rights(b, abi.RIGHT_FD_WRITE | abi.RIGHT_FD_READ, 0) \
        == Errno.NOTCAPABLE
    p = guest.alloc(24)
    guest.fd_fdstat_get(b, p)
    assert abi.FDSTAT.unpack_from(guest.mem.data, p)[2:] == (abi.RIGHT_FD_WRITE, 0)


def test_set_flags_append(guest, tmp_path):
    _, fd = guest.open(3, "hello.txt")
    assert guest.fd_fdstat_set_flags(fd, abi.FDFLAGS_APPEND) == 0
    guest.write(fd, b"more")
    assert (tmp_path / "hello.txt").read_bytes() == b"hello, world\nmore"
    p = guest.alloc(24)
    guest.fd_fdstat_get(fd, p)
    assert struct.unpack_from("<H", guest.mem.data, p + 2)[0] == abi.FDFLAGS_APPEND
    assert guest.fd_fdstat_set_flags(fd, abi.FDFLAGS_SYNC) == Errno.NOTSUP
    assert guest.fd_fdstat_set_flags(fd, 1 << 9) == Errno.INVAL


# -- path_open -------------------------------------------------------------------------------

def test_open_flags(guest, tmp_path):
    assert guest.open(3, "hello.txt", abi.OFLAGS_CREAT | abi.OFLAGS_EXCL)[0] == Errno.EXIST
    assert guest.open(3, "hello.txt", abi.OFLAGS_DIRECTORY)[0] == Errno.NOTDIR
    assert guest.open(3, "hello.txt/")[0] == Errno.NOTDIR
    assert guest.open(3, "missing")[0] == Errno.NOENT
    assert guest.open(3, "sub/missing/x", abi.OFLAGS_CREAT)[0] == Errno.NOENT
    assert guest.open(3, "")[0] == Errno.NOENT
    assert guest.open(3, "sub", rights=abi.RIGHT_FD_WRITE)[0] == Errno.ISDIR
    assert guest.open(1, "hello.txt")[0] == Errno.NOTDIR
    assert guest.open(9, "hello.txt")[0] == Errno.BADF
    err, fd = guest.open(3, "hello.txt")
    assert guest.open(fd, "x")[0] == Errno.NOTDIR
    assert guest.open(3, "hello.txt", abi.OFLAGS_TRUNC)[0] == 0
    assert (tmp_path / "hello.txt").read_bytes() == b""
    err, fd = guest.open(3, "log", abi.OFLAGS_CREAT, fdflags=abi.FDFLAGS_APPEND)
    guest.write(fd, b"a")
    p = guest.alloc(8)
    guest.fd_seek(fd, 0, abi.WHENCE_SET, p)
    guest.write(fd, b"b")
    assert (tmp_path / "log").read_bytes() == b"ab"
    assert guest.open(3, "bad", 1 << 7)[0] == Errno.INVAL


def test_open_rights(guest, tmp_path):
    err, fd = guest.open(3, "hello.txt", rights=abi.RIGHT_FD_READ)
    assert err == 0
    assert guest.write(fd, b"x")[0] == Errno.NOTCAPABLE
    assert guest.fd_seek(fd, 0, abi.WHENCE_SET, guest.alloc(8)) == Errno.NOTCAPABLE
    err, ro = guest.open(3, "sub", abi.OFLAGS_DIRECTORY, rights=abi.RIGHT_PATH_OPEN,
                         inheriting=abi.RIGHT_FD_READ)
    assert err == 0
    assert guest.open(ro, "f", abi.OFLAGS_CREAT, rights=abi.RIGHT_FD_READ)[0] == Errno.NOTCAPABLE
    assert guest.open(ro, "f", rights=abi.RIGHT_FD_WRITE)[0] == Errno.NOTCAPABLE
    assert guest.fd_fdstat_set_rights(3, abi.RIGHTS_DIR & ~abi.RIGHT_PATH_OPEN, ALL) == 0
    assert guest.open(3, "hello.txt")[0] == Errno.NOTCAPABLE
    assert guest.open(3, "hello.txt", fdflags=abi.FDFLAGS_SYNC,
                      rights=abi.RIGHT_FD_READ)[0] == Errno.NOTCAPABLE


def test_open_directory_and_readdir(guest, tmp_path):
    (tmp_path / "sub" / "a.txt").write_bytes(b"12345")
    (tmp_path / "sub" / "b").mkdir()
    os.symlink("a.txt", tmp_path / "sub" / "c")
    err, fd = guest.open(3, "sub", abi.OFLAGS_DIRECTORY)
    assert err == 0
    buf, used = guest.alloc(1024), guest.alloc(4)
    assert guest.fd_readdir(fd, buf, 1024, 0, used) == 0
    entries, pos = {}, buf
    while pos < buf + guest.u32(used):
        d_next, ino, namlen, dtype = abi.DIRENT.unpack_from(guest.mem.data, pos)
        name = guest.read(pos + 24, namlen).decode()
        entries[name] = (d_next, dtype)
        pos += 24 + namlen
    assert set(entries) == {".", "..", "a.txt", "b", "c"}
    assert entries["a.txt"][1] == abi.FILETYPE_REGULAR_FILE
    assert entries["b"][1] == abi.FILETYPE_DIRECTORY
    assert entries["c"][1] == abi.FILETYPE_SYMBOLIC_LINK
    assert sorted(v[0] for v in entries.values()) == [1, 2, 3, 4, 5]
    # a short buffer is filled completely (the last entry cut), then reading resumes
    assert guest.fd_readdir(fd, buf, 30, 0, used) == 0 and guest.u32(used) == 30
    assert guest.fd_readdir(fd, buf, 1024, 4, used) == 0
    assert abi.DIRENT.unpack_from(guest.mem.data, buf)[0] == 5
    assert guest.fd_readdir(fd, buf, 1024, 5, used) == 0 and guest.u32(used) == 0
    assert guest.fd_readdir(1, buf, 1024, 0, used) == Errno.NOTDIR
    assert guest.readall(fd)[0] == Errno.BADF


# -- other path calls ------------------------------------------------------------------------

def _path(g: Guest, fn: str, fd: int, path: str, *rest: int) -> int:
    ptr, n = g.str(path)
    return g.calls[fn](fd, ptr, n, *rest)


def test_directories(guest, tmp_path):
    assert _path(guest, "path_create_directory", 3, "d") == 0
    assert (tmp_path / "d").is_dir()
    assert _path(guest, "path_create_directory", 3, "d") == Errno.EXIST
    assert _path(guest, "path_create_directory", 3, "d/e/") == 0
    assert _path(guest, "path_remove_directory", 3, "d") == Errno.NOTEMPTY
    assert _path(guest, "path_remove_directory", 3, "hello.txt") == Errno.NOTDIR
    assert _path(guest, "path_remove_directory", 3, "d/e") == 0
    assert _path(guest, "path_remove_directory", 3, "d") == 0
    assert not (tmp_path / "d").exists()
    assert _path(guest, "path_unlink_file", 3, "sub") == Errno.ISDIR
    assert _path(guest, "path_unlink_file", 3, "nope") == Errno.NOENT
    assert _path(guest, "path_unlink_file", 3, "hello.txt/") == Errno.NOTDIR
    assert _path(guest, "path_unlink_file", 3, "hello.txt") == 0
    assert not (tmp_path / "hello.txt").exists()


def test_rename_link_symlink_readlink(guest, tmp_path):
    old, n_old = guest.str("hello.txt")
    new, n_new = guest.str("sub/moved.txt")
    assert guest.path_rename(3, old, n_old, 3, new, n_new) == 0
    assert (tmp_path / "sub" / "moved.txt").read_bytes() == b"hello, world\n"
    assert guest.path_rename(3, old, n_old, 3, new, n_new) == Errno.NOENT
    link, n_link = guest.str("hard")
    assert guest.path_link(3, 0, new, n_new, 3, link, n_link) == 0
    assert os.stat(tmp_path / "hard").st_nlink == 2
    assert guest.path_link(3, 0, new, n_new, 3, link, n_link) == Errno.EXIST
    target, n_target = guest.str("sub/moved.txt")
    sym, n_sym = guest.str("sym")
    assert guest.path_symlink(target, n_target, 3, sym, n_sym) == 0
    assert os.readlink(tmp_path / "sym") == "sub/moved.txt"
    buf, used = guest.alloc(64), guest.alloc(4)
    assert guest.path_readlink(3, sym, n_sym, buf, 64, used) == 0
    assert guest.read(buf, guest.u32(used)) == b"sub/moved.txt"
    assert guest.path_readlink(3, sym, n_sym, buf, 4, used) == 0 and guest.u32(used) == 4
    assert guest.path_readlink(3, link, n_link, buf, 64, used) == Errno.INVAL
    assert guest.stat(3, "sym")[1][2] == abi.FILETYPE_REGULAR_FILE
    assert guest.stat(3, "sym", follow=False)[1][2] == abi.FILETYPE_SYMBOLIC_LINK
    err, fd = guest.open(3, "sym", follow=False)
    assert err == Errno.LOOP
    err, fd = guest.open(3, "sym")
    assert err == 0 and guest.readall(fd)[1] == b"hello, world\n"
    assert guest.stat(3, "nope")[0] == Errno.NOENT


def test_path_filestat_set_times(guest, tmp_path):
    ptr, n = guest.str("hello.txt")
    flags = abi.FSTFLAGS_ATIM | abi.FSTFLAGS_MTIM
    assert guest.path_filestat_set_times(3, 1, ptr, n, 10**15, 3 * 10**15, flags) == 0
    st = os.stat(tmp_path / "hello.txt")
    assert (st.st_atime_ns, st.st_mtime_ns) == (10**15, 3 * 10**15)
    assert guest.stat(3, "hello.txt")[1][6] == 3 * 10**15
    assert guest.path_filestat_set_times(3, 1, ptr, n, 0, 0, 16) == Errno.INVAL


def test_bad_pointers_and_utf8(guest):
    assert guest.path_create_directory(3, len(guest.mem.data) - 2, 10) == Errno.FAULT
    ptr, n = guest.str(b"\xff\xfe")
    assert guest.path_create_directory(3, ptr, n) == Errno.ILSEQ
    iovs = guest.alloc(struct.pack("<II", len(guest.mem.data) - 4, 100))
    assert guest.fd_write(1, iovs, 1, guest.alloc(4)) == Errno.FAULT
    assert guest.fd_write(1, 1 << 31, 1, guest.alloc(4)) == Errno.FAULT


def test_memory_growth_is_seen(guest, out):
    guest.mem.data.extend(bytes(1 << 16))
    high = (1 << 16) + 100
    guest.mem.data[high:high + 5] = b"grown"
    iovs = guest.alloc(struct.pack("<II", high, 5))
    assert guest.fd_write(1, iovs, 1, high + 8) == 0
    assert out.getvalue() == b"grown" and guest.u32(high + 8) == 5


def test_signed_api_values_are_masked(guest):
    p = guest.alloc(8)
    # an i64 rights argument arrives negative when its top bit is set
    assert guest.fd_fdstat_set_rights(3, -1, -1) == Errno.NOTCAPABLE
    assert guest.clock_time_get(abi.CLOCK_MONOTONIC, -1, p) == 0


# -- start / initialize ----------------------------------------------------------------------

class _FakeInstance:
    def __init__(self, **exports):
        self.exports = exports


def test_start_returns_exit_codes():
    wasi = WASI()
    mem = FakeMemory()
    calls = wasi.imports[W]
    assert wasi.start(_FakeInstance(memory=mem, _start=lambda: None)) == 0
    wasi = WASI()
    calls = wasi.imports[W]
    assert wasi.start(_FakeInstance(memory=mem, _start=lambda: calls["proc_exit"](7))) == 7
    with pytest.raises(RuntimeError):
        wasi.start(_FakeInstance(memory=mem, _start=lambda: None))
    with pytest.raises(TypeError):
        WASI().start(_FakeInstance(_start=lambda: None))
    with pytest.raises(TypeError):
        WASI().start(_FakeInstance(memory=mem))
    wasi = WASI()
    seen = []
    wasi.initialize(_FakeInstance(memory=mem, _initialize=lambda: seen.append(1)))
    assert seen == [1]


def test_calls_before_binding_fail_clearly():
    wasi = WASI()
    with pytest.raises(RuntimeError, match="not bound"):
        wasi.imports[W]["args_sizes_get"](0, 4)


def test_thread_spawn_hook():
    assert "wasi" not in WASI().imports
    wasi = WASI(thread_spawn=lambda w, arg: arg + 1)
    assert wasi.imports["wasi"]["thread-spawn"](41) == 42


def test_every_preview1_function_is_provided():
    names = {
        "args_get", "args_sizes_get", "environ_get", "environ_sizes_get", "clock_res_get",
        "clock_time_get", "fd_advise", "fd_allocate", "fd_close", "fd_datasync",
        "fd_fdstat_get", "fd_fdstat_set_flags", "fd_fdstat_set_rights", "fd_filestat_get",
        "fd_filestat_set_size", "fd_filestat_set_times", "fd_pread", "fd_prestat_get",
        "fd_prestat_dir_name", "fd_pwrite", "fd_read", "fd_readdir", "fd_renumber",
        "fd_seek", "fd_sync", "fd_tell", "fd_write", "path_create_directory",
        "path_filestat_get", "path_filestat_set_times", "path_link", "path_open",
        "path_readlink", "path_remove_directory", "path_rename", "path_symlink",
        "path_unlink_file", "poll_oneoff", "proc_exit", "proc_raise", "sched_yield",
        "random_get", "sock_accept", "sock_recv", "sock_send", "sock_shutdown"}
    assert set(WASI().imports[W]) == names


def test_lazy_export():
    import sharedwasm
    assert sharedwasm.WASI is WASI
