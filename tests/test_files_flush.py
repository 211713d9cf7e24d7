"""The durable flush of :mod:`sim.files`: one ``syncfs`` per batch on Linux, else an fsync each.

The flush is what stands between "written" and "on disk" for every results file, so the
tests spy on the system calls it makes (``syncfs`` through ``ctypes``, ``os.fsync``) and
make them fail the way a full or broken disk does.
"""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

import pytest

import sim.files
from sim.files import (
    EXIT_ENVIRONMENT,
    atomic_write_bytes,
    exit_status,
    flush_files,
    libc_syncfs,
    open_folder,
)

REAL_SYNCFS = libc_syncfs()
needs_syncfs = pytest.mark.skipif(REAL_SYNCFS is None, reason="no trusted syncfs(2) here")


@pytest.fixture
def fresh_lookup():
    """Forget the cached ``syncfs`` look-up before and after the test."""
    libc_syncfs.cache_clear()
    yield
    libc_syncfs.cache_clear()


def written(folder: Path, names: list[str]) -> list[int]:
    """Open descriptors of new files in ``folder``, each holding its own name."""
    fds = []
    for name in names:
        fd = os.open(folder / name, os.O_CREAT | os.O_WRONLY, 0o644)
        os.write(fd, name.encode())
        fds.append(fd)
    return fds


def failing_syncfs(number: int):
    """A ``syncfs`` that fails as the C function does: -1, with ``errno`` set."""
    calls = []

    def syncfs(fd: int) -> int:
        calls.append(fd)
        ctypes.set_errno(number)
        return -1

    return syncfs, calls


@needs_syncfs
def test_on_linux_a_batch_is_flushed_by_one_syncfs_of_its_folder(tmp_path, monkeypatch):
    assert REAL_SYNCFS.__name__ == "syncfs"  # libc's, through ctypes
    calls = []

    def spying(fd):
        calls.append(os.fstat(fd))
        return REAL_SYNCFS(fd)

    def no_fsync(fd):
        raise AssertionError("fsync called although syncfs flushes everything")

    monkeypatch.setattr(sim.files, "libc_syncfs", lambda: spying)
    monkeypatch.setattr(os, "fsync", no_fsync)
    fds = written(tmp_path, [f"f{i}" for i in range(20)])
    folder = open_folder(tmp_path)
    try:
        flush_files(fds, folder, tmp_path)
    finally:
        for fd in (*fds, folder):
            os.close(fd)
    assert len(calls) == 1  # one wait for the 20 files
    assert (calls[0].st_dev, calls[0].st_ino) == (tmp_path.stat().st_dev,
                                                  tmp_path.stat().st_ino)


@pytest.mark.parametrize(("number", "words"), [(errno.EIO, "Input/output error"),
                                               (errno.ENOSPC, "No space left on device")])
def test_a_failing_syncfs_is_an_oserror_with_its_errno_and_exit_3(tmp_path, monkeypatch,
                                                                    number, words):
    syncfs, calls = failing_syncfs(number)
    monkeypatch.setattr(sim.files, "libc_syncfs", lambda: syncfs)
    fds = written(tmp_path, ["a"])
    folder = open_folder(tmp_path)
    try:
        with pytest.raises(OSError) as raised:
            flush_files(fds, folder, tmp_path)
    finally:
        for fd in (*fds, folder):
            os.close(fd)
    assert calls == [folder]
    error = raised.value
    assert (error.errno, error.strerror, error.filename) == (number, os.strerror(number),
                                                              str(tmp_path))
    code, message = exit_status(error)
    assert code == EXIT_ENVIRONMENT and message.startswith(f"{tmp_path}: {words}")
    assert "\n" not in message


def test_without_syncfs_each_file_is_fsynced_and_its_error_raised(tmp_path, monkeypatch):
    monkeypatch.setattr(sim.files, "libc_syncfs", lambda: None)
    synced = []
    real = os.fsync

    def spying(fd):
        synced.append(fd)
        if len(synced) == 3:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(fd)

    monkeypatch.setattr(os, "fsync", spying)
    fds = written(tmp_path, ["a", "b", "c", "d"])
    folder = open_folder(tmp_path)
    try:
        flush_files(fds[:2], folder)
        assert synced == fds[:2]
        with pytest.raises(OSError, match="Input/output error"):
            flush_files(fds[2:], folder)
        assert synced == fds[:3]  # the failing fsync stops the flush
    finally:
        for fd in (*fds, folder):
            os.close(fd)


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs a second file system")
def test_a_file_on_another_file_system_is_fsynced_by_itself(tmp_path, monkeypatch):
    elsewhere = Path("/dev/shm")
    if elsewhere.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("/dev/shm is on the same file system as the test folder")
    syncfs_calls = []
    monkeypatch.setattr(sim.files, "libc_syncfs",
                        lambda: lambda fd: syncfs_calls.append(fd) or 0)
    synced = []
    monkeypatch.setattr(os, "fsync", synced.append)
    here = written(tmp_path, ["here"])
    name = f"engagesim-flush-test-{os.getpid()}"
    there = written(elsewhere, [name])
    folder = open_folder(tmp_path)
    try:
        flush_files([*here, *there], folder)
    finally:
        for fd in (*here, *there, folder):
            os.close(fd)
        (elsewhere / name).unlink()
    assert synced == there and syncfs_calls == [folder]


def test_syncfs_is_trusted_only_on_linux_from_5_8(monkeypatch, fresh_lookup):
    monkeypatch.setattr(sim.files.sys, "platform", "darwin")
    assert libc_syncfs() is None
    libc_syncfs.cache_clear()
    monkeypatch.setattr(sim.files.sys, "platform", "linux")
    monkeypatch.setattr(sim.files.platform, "release", lambda: "5.4.0-150-generic")
    assert libc_syncfs() is None  # syncfs may lose write-back errors before 5.8
    if REAL_SYNCFS is not None:
        libc_syncfs.cache_clear()
        monkeypatch.setattr(sim.files.platform, "release", lambda: "5.8.0")
        assert libc_syncfs() is not None

        class NoSyncfs:
            def __init__(self, name, use_errno):
                pass

            def __getattr__(self, name):
                raise AttributeError(name)

        libc_syncfs.cache_clear()
        monkeypatch.setattr(sim.files.ctypes, "CDLL", NoSyncfs)
        assert libc_syncfs() is None  # a C library without the symbol


def test_an_atomic_write_flushes_then_renames_then_makes_the_rename_durable(tmp_path,
                                                                           monkeypatch):
    steps = []
    real_flush, real_replace, real_fsync = sim.files.flush_files, os.replace, os.fsync

    def flush(fds, folder, name=None):
        steps.append(("flush", os.fstat(folder).st_ino))
        return real_flush(fds, folder, name)

    def replace(src, dst):
        steps.append(("replace", Path(dst).name))
        return real_replace(src, dst)

    def fsync(fd):
        if os.path.samestat(os.fstat(fd), tmp_path.stat()):
            steps.append(("fsync folder", os.fstat(fd).st_ino))
        return real_fsync(fd)

    monkeypatch.setattr(sim.files, "flush_files", flush)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "fsync", fsync)
    atomic_write_bytes(tmp_path / "x.json", b"{}")
    folder = tmp_path.stat().st_ino
    assert steps == [("flush", folder), ("replace", "x.json"), ("fsync folder", folder)]
    assert (tmp_path / "x.json").read_bytes() == b"{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]
