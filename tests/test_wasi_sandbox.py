"""The WASI sandbox: nothing outside a preopened directory is reachable, whatever the path
(``..``, absolute paths, symbolic links to absolute or relative places out of the tree,
chains and loops of links), for every call that takes a path. An escape fails with
``errno.ESCAPE`` (EPERM, wasmtime's answer) and leaves the host untouched."""
from __future__ import annotations

import io
import os

import pytest

from sharedwasm.wasi import ESCAPE, WASI, Errno, abi
from test_wasi import Guest


@pytest.fixture
def tree(tmp_path):
    """``root`` (preopened as /root, fd 3) beside ``outside`` holding a secret."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "file.txt").write_bytes(b"inside")
    (root / "sub" / "inner.txt").write_bytes(b"inner")
    os.symlink(str(outside), root / "abs_link")                     # absolute, outside
    os.symlink("../outside", root / "rel_link")                     # relative, outside
    os.symlink("../../outside/secret.txt", root / "sub" / "deep_link")
    os.symlink("..", root / "up")                                   # the parent of root
    os.symlink("../root/file.txt", root / "out_and_back")           # leaves, then returns
    os.symlink("../file.txt", root / "sub" / "ok_link")             # stays inside
    os.symlink("chain2", root / "chain1")
    os.symlink("rel_link/secret.txt", root / "chain2")
    os.symlink("loop_b", root / "loop_a")
    os.symlink("loop_a", root / "loop_b")
    os.symlink("../outside/new.txt", root / "dangling_out")
    wasi = WASI(preopens={"/root": root}, stdout=io.BytesIO(), stdin=io.BytesIO())
    guest = Guest(wasi)
    guest.root = root
    guest.outside = outside
    yield guest
    wasi.close()


def _call(g: Guest, fn: str, path: str, *rest: int, fd: int = 3) -> int:
    ptr, n = g.str(path)
    return g.calls[fn](fd, ptr, n, *rest)


ESCAPES = ["..", "../outside/secret.txt", "sub/../../outside/secret.txt", "/etc/passwd",
           "/", "abs_link/secret.txt", "rel_link/secret.txt", "sub/deep_link", "up/outside",
           "up", "out_and_back", "chain1", "abs_link", "rel_link", "./sub/../..",
           "sub/./../../root/file.txt"]


@pytest.mark.parametrize("path", ESCAPES)
def test_open_escapes_are_refused(tree, path):
    assert tree.open(3, path)[0] == ESCAPE
    assert tree.stat(3, path)[0] == ESCAPE


def test_escape_errno_is_eperm():
    assert ESCAPE == Errno.PERM


def test_inside_paths_still_work(tree):
    for path in ("file.txt", "sub/inner.txt", "sub/../file.txt", "./sub//inner.txt",
                 "sub/ok_link"):
        err, fd = tree.open(3, path)
        assert err == 0, path
        assert tree.readall(fd)[1] in (b"inside", b"inner")
    assert tree.open(3, "sub/ok_link/")[0] == Errno.NOTDIR
    assert tree.open(3, ".", abi.OFLAGS_DIRECTORY)[0] == 0
    assert tree.open(3, "sub/..", abi.OFLAGS_DIRECTORY)[0] == 0


def test_links_not_followed_are_not_escapes(tree):
    # the link itself lives inside: stat without following and readlink are allowed
    err, st = tree.stat(3, "abs_link", follow=False)
    assert err == 0 and st[2] == abi.FILETYPE_SYMBOLIC_LINK
    buf, used = tree.alloc(256), tree.alloc(4)
    ptr, n = tree.str("rel_link")
    assert tree.path_readlink(3, ptr, n, buf, 256, used) == 0
    assert tree.read(buf, tree.u32(used)) == b"../outside"
    assert tree.open(3, "abs_link", follow=False)[0] == Errno.LOOP


def test_link_loops(tree):
    assert tree.open(3, "loop_a")[0] == Errno.LOOP
    assert tree.stat(3, "loop_a/x")[0] == Errno.LOOP


def test_creation_through_escapes_touches_nothing(tree):
    assert tree.open(3, "dangling_out", abi.OFLAGS_CREAT)[0] == ESCAPE
    assert tree.open(3, "../outside/new.txt", abi.OFLAGS_CREAT)[0] == ESCAPE
    assert tree.open(3, "rel_link/new.txt", abi.OFLAGS_CREAT)[0] == ESCAPE
    assert _call(tree, "path_create_directory", "../evil") == ESCAPE
    assert _call(tree, "path_create_directory", "rel_link/evil") == ESCAPE
    assert _call(tree, "path_create_directory", "/tmp/evil") == ESCAPE
    assert sorted(os.listdir(tree.outside)) == ["secret.txt"]


def test_removal_through_escapes_touches_nothing(tree):
    assert _call(tree, "path_unlink_file", "../outside/secret.txt") == ESCAPE
    assert _call(tree, "path_unlink_file", "rel_link/secret.txt") == ESCAPE
    assert _call(tree, "path_unlink_file", "abs_link/secret.txt") == ESCAPE
    assert _call(tree, "path_remove_directory", "../outside") == ESCAPE
    assert _call(tree, "path_remove_directory", "up/outside") == ESCAPE
    assert _call(tree, "path_remove_directory", "..") == ESCAPE
    assert (tree.outside / "secret.txt").read_bytes() == b"secret"
    # removing the link itself is fine and leaves its target alone
    assert _call(tree, "path_unlink_file", "abs_link") == 0
    assert (tree.outside / "secret.txt").exists()


def test_rename_and_link_across_the_boundary(tree):
    src, n_src = tree.str("file.txt")
    for dst in ("../stolen.txt", "rel_link/stolen.txt", "/tmp/stolen.txt", "up/stolen.txt"):
        d, n_d = tree.str(dst)
        assert tree.path_rename(3, src, n_src, 3, d, n_d) == ESCAPE, dst
        assert tree.path_link(3, 0, src, n_src, 3, d, n_d) == ESCAPE, dst
    secret, n_secret = tree.str("rel_link/secret.txt")
    here, n_here = tree.str("grabbed.txt")
    assert tree.path_rename(3, secret, n_secret, 3, here, n_here) == ESCAPE
    assert tree.path_link(3, 1, secret, n_secret, 3, here, n_here) == ESCAPE
    follow_link, n_follow = tree.str("abs_link")
    assert tree.path_link(3, 1, follow_link, n_follow, 3, here, n_here) == ESCAPE
    assert (tree.root / "file.txt").exists() and not (tree.root / "grabbed.txt").exists()
    assert sorted(os.listdir(tree.outside)) == ["secret.txt"]


def test_symlink_creation(tree):
    for target, errno in (("/etc/passwd", ESCAPE), ("../outside", 0)):
        t, n_t = tree.str(target)
        name, n_name = tree.str(f"made{errno}")
        assert tree.path_symlink(t, n_t, 3, name, n_name) == errno
    # a link that points out can be made but never followed
    assert tree.open(3, "made0/secret.txt")[0] == ESCAPE
    t, n_t = tree.str("x")
    name, n_name = tree.str("../outside/planted")
    assert tree.path_symlink(t, n_t, 3, name, n_name) == ESCAPE
    assert sorted(os.listdir(tree.outside)) == ["secret.txt"]


def test_times_and_readlink_through_escapes(tree):
    ptr, n = tree.str("rel_link/secret.txt")
    before = os.stat(tree.outside / "secret.txt").st_mtime_ns
    assert tree.path_filestat_set_times(3, 1, ptr, n, 0, 0, abi.FSTFLAGS_MTIM) == ESCAPE
    assert os.stat(tree.outside / "secret.txt").st_mtime_ns == before
    buf, used = tree.alloc(64), tree.alloc(4)
    assert tree.path_readlink(3, ptr, n, buf, 64, used) == ESCAPE


def test_a_directory_opened_by_the_guest_is_its_own_sandbox(tree):
    err, sub = tree.open(3, "sub", abi.OFLAGS_DIRECTORY, rights=abi.RIGHTS_DIR,
                         inheriting=abi.RIGHTS_DIR | abi.RIGHTS_FILE)
    assert err == 0
    assert tree.open(sub, "inner.txt")[0] == 0
    assert tree.open(sub, "../file.txt")[0] == ESCAPE
    assert tree.open(sub, "ok_link")[0] == ESCAPE


def test_no_preopen_means_no_files():
    g = Guest(WASI(stdout=io.BytesIO()))
    assert g.open(3, "anything")[0] == Errno.BADF
    assert g.fd_prestat_get(3, g.alloc(8)) == Errno.BADF


def test_readdir_lists_only_the_tree(tree):
    err, fd = tree.open(3, ".", abi.OFLAGS_DIRECTORY)
    buf, used = tree.alloc(4096), tree.alloc(4)
    assert tree.fd_readdir(fd, buf, 4096, 0, used) == 0
    names, pos = set(), buf
    while pos < buf + tree.u32(used):
        namlen = abi.DIRENT.unpack_from(tree.mem.data, pos)[2]
        names.add(tree.read(pos + 24, namlen).decode())
        pos += 24 + namlen
    assert "secret.txt" not in names and "file.txt" in names and "sub" in names


def test_nul_in_path(tree):
    assert tree.open(3, "file.txt\0../../x")[0] == Errno.INVAL
