"""write_files under concurrency, signals, killed runs, and with Windows' missing POSIX calls."""

from __future__ import annotations

import ast
import errno
import json
import multiprocessing
import os
import signal
import stat
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import qs_jwt._files
import qs_jwt._platform
import qs_jwt.certs
from qs_jwt._files import LOCK_NAME, check_outputs, folder_lock, write_atomic, write_files
from qs_jwt._platform import file_mode_problem
from qs_jwt.errors import FileWriteError, OutputExistsError

NAMES = ("privatekey.pem", "publickey.pem", "publickey.cer")
POSIX_ONLY = pytest.mark.skipif(not hasattr(os, "fork") or not hasattr(signal, "SIGKILL"), reason="needs fork")


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def key_set(folder: Path, tag: str) -> list[tuple[str, bytes, int]]:
    """Three recognisable files, as create_key_files writes them."""
    return [(str(folder / name), f"{name} of writer {tag}\n".encode(), mode)
            for name, mode in zip(NAMES, (0o600, 0o644, 0o644), strict=True)]


def contents(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in listing(folder)}


def writers(folder: Path) -> set[str]:
    """Which writer each of the three files came from."""
    return {(folder / name).read_bytes().decode().split(" of writer ")[1].strip() for name in NAMES}


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def in_children(count: int, target: Callable[[int], int]) -> list[int | None]:
    """Run ``target(i)`` in ``count`` forked processes; return their exit codes (its return value)."""
    ctx = multiprocessing.get_context("fork")

    def child(i: int) -> None:
        code = 1
        try:
            code = target(i)
        finally:
            os._exit(code)

    procs = [ctx.Process(target=child, args=(i,)) for i in range(count)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    return [proc.exitcode for proc in procs]


# --- 1. one writer at a time ---------------------------------------------------------------


@POSIX_ONLY
def test_concurrent_forced_writers_leave_one_complete_set(tmp_path: Path) -> None:
    n = 40
    barrier = multiprocessing.get_context("fork").Barrier(n)

    def write(i: int) -> int:
        barrier.wait(timeout=30)
        write_files(key_set(tmp_path, str(i)), force=True)
        return 0

    assert in_children(n, write) == [0] * n
    assert listing(tmp_path) == sorted(NAMES)
    assert len(writers(tmp_path)) == 1


@POSIX_ONLY
def test_concurrent_writers_without_force_exactly_one_wins(tmp_path: Path) -> None:
    n = 12
    barrier = multiprocessing.get_context("fork").Barrier(n)

    def write(i: int) -> int:
        barrier.wait(timeout=30)
        try:
            write_files(key_set(tmp_path, str(i)), force=False)
        except OutputExistsError:
            return 3
        return 0

    codes = in_children(n, write)
    assert codes.count(0) == 1 and codes.count(3) == n - 1
    assert writers(tmp_path) == {str(codes.index(0))}
    assert listing(tmp_path) == sorted(NAMES)


@POSIX_ONLY
def test_concurrent_create_key_files_keep_the_certificate_of_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 4
    barrier = multiprocessing.get_context("fork").Barrier(n)

    def synchronised(files: Any, *, force: bool) -> None:
        barrier.wait(timeout=30)  # the keys are made; now all write at once
        write_files(files, force=force)

    monkeypatch.setattr(qs_jwt.certs, "write_files", synchronised)  # the forked children inherit it

    def create(i: int) -> int:
        qs_jwt.certs.create_key_files(str(tmp_path) + "/", days=1, key_size=2048, force=True)
        return 0

    assert in_children(n, create) == [0] * n
    assert listing(tmp_path) == sorted(NAMES)
    assert_matching_key_files(tmp_path)


def assert_matching_key_files(folder: Path) -> None:
    key = serialization.load_pem_private_key((folder / "privatekey.pem").read_bytes(), None)
    cert = x509.load_pem_x509_certificate((folder / "publickey.cer").read_bytes())
    public = serialization.load_pem_public_key((folder / "publickey.pem").read_bytes())
    expected = key.public_key().public_numbers()  # type: ignore[union-attr]
    assert cert.public_key().public_numbers() == expected  # type: ignore[union-attr]
    assert public.public_numbers() == expected  # type: ignore[union-attr]


def test_folder_lock_excludes_a_second_holder_and_is_removed(tmp_path: Path) -> None:
    order: list[str] = []
    held = threading.Event()

    def second() -> None:
        held.wait(5)
        with folder_lock(str(tmp_path)):  # its own open file: flock makes it wait, even in one process
            order.append("second")

    thread = threading.Thread(target=second)
    thread.start()
    with folder_lock(str(tmp_path)):
        assert mode_of(tmp_path / LOCK_NAME) == 0o600
        held.set()
        time.sleep(0.2)
        order.append("first")
    thread.join(5)
    assert order == ["first", "second"]
    assert listing(tmp_path) == []


def test_outputs_are_checked_again_under_the_lock(tmp_path: Path) -> None:
    """A file that appears after the caller's early check is still refused, before anything is written."""
    check_outputs([p for p, _, _ in key_set(tmp_path, "a")], force=False)
    (tmp_path / "publickey.cer").write_bytes(b"someone else's\n")
    with pytest.raises(OutputExistsError) as info:
        write_files(key_set(tmp_path, "a"))
    assert info.value.paths == [str(tmp_path / "publickey.cer")]
    assert listing(tmp_path) == ["publickey.cer"]


def test_lock_file_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (tmp_path / LOCK_NAME).symlink_to(elsewhere)
    with pytest.raises(FileWriteError, match="symbolic link"):
        write_files(key_set(tmp_path, "a"))
    assert not elsewhere.exists()
    assert listing(tmp_path) == [LOCK_NAME]


def test_a_key_that_is_a_symlink_is_not_replaced(tmp_path: Path) -> None:
    real_key = tmp_path / "real.pem"
    real_key.write_bytes(b"old\n")
    (tmp_path / "privatekey.pem").symlink_to(real_key)
    with pytest.raises(FileWriteError, match="symbolic link; refusing to write a key through it"):
        write_files(key_set(tmp_path, "a"), force=True)
    with pytest.raises(FileWriteError, match="symbolic link"):
        check_outputs([str(tmp_path / "privatekey.pem")], force=True)
    assert real_key.read_bytes() == b"old\n"
    assert (tmp_path / "privatekey.pem").is_symlink()
    assert listing(tmp_path) == ["privatekey.pem", "real.pem"]


# --- 2. signals wait until the files are in place ------------------------------------------


def _commit_hook(monkeypatch: pytest.MonkeyPatch, hook: Callable[[int], None]) -> None:
    """Call ``hook(n)`` before the n-th file is moved into place."""
    real = qs_jwt._files._commit
    calls = [0]

    def commit(tmp: str, path: str, **kwargs: Any) -> None:
        calls[0] += 1
        hook(calls[0])
        real(tmp, path, **kwargs)

    monkeypatch.setattr(qs_jwt._files, "_commit", commit)


def test_hup_quit_int_term_are_blocked_while_files_move(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    masks: list[set[int]] = []
    _commit_hook(monkeypatch, lambda n: masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, [])))
    write_files(key_set(tmp_path, "a"))
    wanted = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}
    assert len(masks) == 3 and all(wanted <= mask for mask in masks)
    assert not wanted & signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_ctrl_c_while_files_move_takes_effect_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # to the main thread itself: a signal sent to the process may go to any other thread of the test run (an
    # emulator's server thread), which does not block it; the command line has no other thread
    _commit_hook(monkeypatch, lambda n: signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
                 if n == 1 else None)
    with pytest.raises(KeyboardInterrupt):
        write_files(key_set(tmp_path, "a"))
    assert writers(tmp_path) == {"a"}
    assert listing(tmp_path) == sorted(NAMES)


# --- 3. what a killed run leaves -----------------------------------------------------------


def test_leftover_temp_files_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".qs-jwt-abc123.tmp").write_bytes(b"staged, never committed")
    (tmp_path / ".qs-jwt-x.journal.tmp").write_bytes(b"{")
    write_files(key_set(tmp_path, "a"))
    assert listing(tmp_path) == sorted(NAMES)


def test_leftover_backup_equal_to_its_target_is_removed(tmp_path: Path) -> None:
    write_files(key_set(tmp_path, "old"))
    (tmp_path / ".qs-jwt-0123abcd.old").write_bytes((tmp_path / "privatekey.pem").read_bytes())
    write_files(key_set(tmp_path, "new"), force=True)
    assert writers(tmp_path) == {"new"}
    assert listing(tmp_path) == sorted(NAMES)


@pytest.mark.parametrize("targets_exist", [True, False])
def test_unknown_leftover_backup_is_never_deleted(tmp_path: Path, targets_exist: bool) -> None:
    if targets_exist:
        write_files(key_set(tmp_path, "current"))
    backup = tmp_path / ".qs-jwt-0123abcd.old"
    backup.write_bytes(b"-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n")
    before = contents(tmp_path)
    with pytest.raises(FileWriteError) as info:
        write_files(key_set(tmp_path, "new"), force=True)
    message = str(info.value)
    assert str(backup) in message and "killed" in message and "move it away" in message
    assert "SECRET" not in message
    assert contents(tmp_path) == before


def test_unreadable_journal_is_reported_and_kept(tmp_path: Path) -> None:
    journal = tmp_path / ".qs-jwt-00ff.journal"
    journal.write_bytes(b'{"qs-jwt-journal": 1, "files": [')
    with pytest.raises(FileWriteError, match=r"\.qs-jwt-00ff\.journal"):
        write_files(key_set(tmp_path, "a"))
    assert listing(tmp_path) == [journal.name]


def test_journal_naming_files_outside_its_folder_is_not_followed(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    folder.mkdir()
    outside = tmp_path / "victim.pem"
    outside.write_bytes(b"keep me\n")
    entry = {"target": "../victim.pem", "temp": ".qs-jwt-a.tmp", "temp_id": [0, 0], "backup": ".qs-jwt-a.old",
             "existed": False}
    (folder / ".qs-jwt-0a.journal").write_text(json.dumps({"qs-jwt-journal": 1, "files": [entry]}))
    with pytest.raises(FileWriteError, match="journal"):
        write_files(key_set(folder, "a"))
    assert outside.read_bytes() == b"keep me\n"


def _journal(folder: Path, run: str, entries: list[dict[str, Any]]) -> None:
    (folder / f".qs-jwt-{run}.journal").write_text(json.dumps({"qs-jwt-journal": 1, "files": entries}))


def _file_id(path: Path) -> list[int]:
    st = os.lstat(path)
    return [st.st_dev, st.st_ino]


def test_journal_restores_a_backup_whose_target_is_missing(tmp_path: Path) -> None:
    """Old key linked aside, new key not yet in place, and the target gone: the backup goes back."""
    (tmp_path / ".qs-jwt-7-0.old").write_bytes(b"the earlier private key\n")
    staged = tmp_path / ".qs-jwt-7-new.tmp"
    staged.write_bytes(b"new, never committed\n")
    _journal(tmp_path, "7", [{"target": "privatekey.pem", "temp": staged.name, "temp_id": _file_id(staged),
                              "backup": ".qs-jwt-7-0.old", "existed": True}])
    with pytest.raises(OutputExistsError):
        write_atomic(str(tmp_path / "privatekey.pem"), b"x")
    assert contents(tmp_path) == {"privatekey.pem": b"the earlier private key\n"}


def test_journal_of_a_replacement_without_backup_is_reported_once(tmp_path: Path) -> None:
    """No hard links: the killed run's new key replaced the old one, which is gone: say so, then go on."""
    target = tmp_path / "privatekey.pem"
    target.write_bytes(b"new key of the killed run\n")
    (tmp_path / "publickey.pem").write_bytes(b"old public key\n")
    _journal(tmp_path, "8", [
        {"target": "privatekey.pem", "temp": ".qs-jwt-8a.tmp", "temp_id": _file_id(target),
         "backup": ".qs-jwt-8-0.old", "existed": True},
        {"target": "publickey.pem", "temp": ".qs-jwt-8b.tmp", "temp_id": [0, 0],
         "backup": ".qs-jwt-8-1.old", "existed": True},
    ])
    with pytest.raises(FileWriteError, match="may not belong"):
        write_files(key_set(tmp_path, "a"), force=True)
    assert listing(tmp_path) == ["privatekey.pem", "publickey.pem"]
    write_files(key_set(tmp_path, "a"), force=True)
    assert writers(tmp_path) == {"a"}
    assert listing(tmp_path) == sorted(NAMES)


def _killed_run(folder: Path, tag: str, *, force: bool, at: int, after: bool) -> None:
    """A forked run of write_files that SIGKILLs itself before (or after) moving file ``at`` into place."""

    def run(_: int) -> int:
        real = qs_jwt._files._commit
        calls = [0]

        def commit(tmp: str, path: str, **kwargs: Any) -> None:
            calls[0] += 1
            if calls[0] == at and not after:
                os.kill(os.getpid(), signal.SIGKILL)
            real(tmp, path, **kwargs)
            if calls[0] == at and after:
                os.kill(os.getpid(), signal.SIGKILL)

        qs_jwt._files._commit = commit  # this child only
        write_files(key_set(folder, tag), force=force)
        return 0

    assert in_children(1, run) == [-signal.SIGKILL]


@POSIX_ONLY
@pytest.mark.parametrize(("at", "after"), [(1, False), (2, False), (3, False), (2, True)])
def test_killed_forced_run_is_rolled_back_by_the_next(tmp_path: Path, at: int, after: bool) -> None:
    write_files(key_set(tmp_path, "old"))
    old = contents(tmp_path)
    _killed_run(tmp_path, "killed", force=True, at=at, after=after)
    assert listing(tmp_path) != sorted(NAMES)  # it did leave something behind
    with pytest.raises(OutputExistsError):
        write_files(key_set(tmp_path, "next"))
    assert contents(tmp_path) == old
    write_files(key_set(tmp_path, "next"), force=True)
    assert writers(tmp_path) == {"next"}
    assert listing(tmp_path) == sorted(NAMES)


@POSIX_ONLY
def test_killed_run_with_every_file_in_place_is_finished_by_the_next(tmp_path: Path) -> None:
    write_files(key_set(tmp_path, "old"))
    _killed_run(tmp_path, "killed", force=True, at=3, after=True)
    assert any(name.endswith(".old") for name in listing(tmp_path))
    with pytest.raises(OutputExistsError):
        write_files(key_set(tmp_path, "next"))
    assert writers(tmp_path) == {"killed"}
    assert listing(tmp_path) == sorted(NAMES)


@POSIX_ONLY
def test_killed_run_of_new_files_is_removed_by_the_next(tmp_path: Path) -> None:
    _killed_run(tmp_path, "killed", force=False, at=3, after=False)
    assert "privatekey.pem" in listing(tmp_path)
    write_files(key_set(tmp_path, "next"))
    assert writers(tmp_path) == {"next"}
    assert listing(tmp_path) == sorted(NAMES)


# --- 4. Windows: the POSIX-only calls are absent --------------------------------------------


class FakeMsvcrt(types.ModuleType):
    """msvcrt.locking that records its calls and reports the region busy ``busy`` times."""

    LK_UNLCK, LK_LOCK, LK_NBLCK, LK_RLCK, LK_NBRLCK = 0, 1, 2, 3, 4

    def __init__(self) -> None:
        super().__init__("msvcrt")
        self.calls: list[tuple[int, int]] = []
        self.busy = 0

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        assert os.lseek(fd, 0, os.SEEK_CUR) == 0 and nbytes == 1
        self.calls.append((mode, nbytes))
        if mode == self.LK_NBLCK and self.busy:
            self.busy -= 1
            raise OSError(errno.EACCES, "Permission denied")


@pytest.fixture
def as_windows(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMsvcrt]:
    """The key-writing path as on Windows: no fchmod, O_NOFOLLOW, fcntl, sigmask, SIGHUP; folders cannot be opened."""
    fake = FakeMsvcrt()
    monkeypatch.setattr(qs_jwt._platform, "IS_WINDOWS", True)
    for name in ("fchmod", "O_NOFOLLOW"):
        monkeypatch.delattr(os, name, raising=False)
    for name in ("pthread_sigmask", "SIGHUP"):
        monkeypatch.delattr(signal, name, raising=False)
    monkeypatch.setitem(sys.modules, "fcntl", None)  # import fcntl fails
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    real_open = os.open

    def open_(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if os.path.isdir(path):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    yield fake


def no_leftovers(folder: Path) -> bool:
    return not [name for name in listing(folder) if name.startswith(".qs-jwt")]


@pytest.mark.parametrize("hard_links", [True, False])
def test_windows_write_and_replace(
    tmp_path: Path, as_windows: FakeMsvcrt, monkeypatch: pytest.MonkeyPatch, hard_links: bool
) -> None:
    if not hard_links:
        def no_links(*args: Any, **kwargs: Any) -> None:
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_links)
    as_windows.busy = 2  # another run holds the lock for a moment
    write_files(key_set(tmp_path, "one"))
    write_files(key_set(tmp_path, "two"), force=True)
    with pytest.raises(OutputExistsError):
        write_files(key_set(tmp_path, "three"))
    assert writers(tmp_path) == {"two"}
    assert listing(tmp_path) == sorted(NAMES)
    lk = FakeMsvcrt
    assert as_windows.calls == [(lk.LK_NBLCK, 1)] * 3 + [(lk.LK_UNLCK, 1)] + [(lk.LK_NBLCK, 1), (lk.LK_UNLCK, 1)] * 2


def test_windows_create_key_files(tmp_path: Path, as_windows: FakeMsvcrt) -> None:
    files = qs_jwt.certs.create_key_files(str(tmp_path) + "/", days=1, key_size=2048)
    assert listing(tmp_path) == sorted(NAMES)
    assert_matching_key_files(tmp_path)
    assert file_mode_problem(files.private_key_path) is None
    assert [mode for mode, _ in as_windows.calls] == [FakeMsvcrt.LK_NBLCK, FakeMsvcrt.LK_UNLCK]


def test_windows_ctrl_c_while_files_move_takes_effect_after(
    tmp_path: Path, as_windows: FakeMsvcrt, monkeypatch: pytest.MonkeyPatch
) -> None:
    handlers: list[Any] = []

    def hook(n: int) -> None:
        handlers.append(signal.getsignal(signal.SIGINT))
        if n == 2:
            os.kill(os.getpid(), signal.SIGINT)

    _commit_hook(monkeypatch, hook)
    with pytest.raises(KeyboardInterrupt):
        write_files(key_set(tmp_path, "a"))
    assert signal.default_int_handler not in handlers
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert writers(tmp_path) == {"a"}
    assert listing(tmp_path) == sorted(NAMES)


def test_windows_refuses_symlinks_without_o_nofollow(tmp_path: Path, as_windows: FakeMsvcrt) -> None:
    elsewhere = tmp_path / "elsewhere"
    (tmp_path / LOCK_NAME).symlink_to(elsewhere)
    with pytest.raises(FileWriteError, match="symbolic link"):
        write_files(key_set(tmp_path, "a"))
    assert not elsewhere.exists()
    os.unlink(tmp_path / LOCK_NAME)
    (tmp_path / "publickey.cer").symlink_to(elsewhere)
    with pytest.raises(FileWriteError, match="refusing to write a key through it"):
        write_files(key_set(tmp_path, "a"), force=True)
    assert not elsewhere.exists()
    assert listing(tmp_path) == ["publickey.cer"]


def test_windows_leftovers_are_cleared(tmp_path: Path, as_windows: FakeMsvcrt) -> None:
    write_files(key_set(tmp_path, "old"))
    (tmp_path / ".qs-jwt-1.tmp").write_bytes(b"x")
    (tmp_path / ".qs-jwt-2.old").write_bytes((tmp_path / "publickey.pem").read_bytes())
    write_files(key_set(tmp_path, "new"), force=True)
    assert writers(tmp_path) == {"new"}
    assert no_leftovers(tmp_path)


def test_modes_without_fchmod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "fchmod")
    old = os.umask(0o077)
    try:
        write_files(key_set(tmp_path, "a"))
    finally:
        os.umask(old)
    assert [mode_of(tmp_path / name) for name in NAMES] == [0o600, 0o644, 0o644]


def test_modules_import_nothing_posix_only_at_top_level() -> None:
    posix_only = {"fcntl", "pwd", "grp", "termios", "resource", "msvcrt", "winreg"}
    for module in (qs_jwt._files, qs_jwt._platform):
        tree = ast.parse(Path(module.__file__ or "").read_text())
        top = {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
        top |= {node.module or "" for node in tree.body if isinstance(node, ast.ImportFrom)}
        assert not top & posix_only, module.__name__


# --- the permission check --------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "expected"), [
    (0o600, None),
    (0o400, None),
    (0o644, "mode 0644: readable by group and others"),
    (0o640, "mode 0640: readable by group"),
    (0o620, "mode 0620: writable by group"),
    (0o666, "mode 0666: readable and writable by group and others"),
    (0o601, "mode 0601: executable by others"),
])
def test_file_mode_problem(tmp_path: Path, mode: int, expected: str | None) -> None:
    path = tmp_path / "privatekey.pem"
    path.write_bytes(b"")
    path.chmod(mode)
    assert file_mode_problem(str(path)) == expected


def test_file_mode_problem_on_windows_is_for_acls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "privatekey.pem"
    path.write_bytes(b"")
    path.chmod(0o644)
    monkeypatch.setattr(qs_jwt._platform, "IS_WINDOWS", True)
    assert file_mode_problem(str(path)) is None
