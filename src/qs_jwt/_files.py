"""Safe file output: existence checks up front, atomic writes, private modes, one writer per folder.

:func:`write_files` holds a lock file (``.qs-jwt.lock``) in each target folder while it checks, stages
and moves files, so that concurrent runs never mix their files. Before moving anything it writes a
journal (``.qs-jwt-<run>.journal``); a later run that finds one (the earlier run was killed) rolls that
change back, or finishes it when every file had been moved into place.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from . import _platform
from .errors import FileWriteError, OutputExistsError

__all__ = ["LOCK_NAME", "check_outputs", "folder_lock", "write_atomic", "write_files"]

#: the lock file :func:`folder_lock` creates in a folder (and removes again)
LOCK_NAME = ".qs-jwt.lock"

_PREFIX = ".qs-jwt-"
_TEMP = re.compile(r"\.qs-jwt-.+\.tmp", re.DOTALL)
_BACKUP = re.compile(r"\.qs-jwt-.+\.old", re.DOTALL)
_JOURNAL = re.compile(r"\.qs-jwt-[0-9a-f]+\.journal")
_JOURNAL_MAX_BYTES = 1 << 16
_COMPARE_MAX_BYTES = 1 << 20
# Ctrl-C, kill, a closed terminal, Ctrl-\ and (Windows) Ctrl-Break wait until the files are in place
_DEFERRED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGBREAK")

_KEY_SYMLINK = "is a symbolic link; refusing to write a key through it"
_LOCK_SYMLINK = "is a symbolic link; refusing to use it as a lock file"


def check_outputs(paths: list[str], *, force: bool) -> None:
    """Refuse before any work is done when an output exists (unless ``force``) or cannot be a file.

    :raises OutputExistsError: some paths exist and ``force`` is false.
    :raises FileWriteError: a path is a directory, a symbolic link that ``force`` would replace, its
        folder is missing or not writable, or two outputs coincide.
    """
    existing = _check_paths(paths, force=force)
    if existing and not force:
        raise OutputExistsError(existing)


def write_atomic(path: str, data: bytes, *, mode: int = 0o600, force: bool = False) -> None:
    """Write ``data`` to ``path`` so that readers see either nothing or the whole file.

    See :func:`write_files`, which this calls for one file.
    """
    write_files([(path, data, mode)], force=force)


def write_files(files: Sequence[tuple[str, bytes, int]], *, force: bool = False) -> None:
    """Write several files as one change: all of them, or none (as far as the file system allows).

    Under the lock of every target folder (taken in sorted order), leftovers of a killed run are
    cleared up first (see :func:`_recover`) and the outputs are checked again. Every file is then
    written to a temporary file (with its mode) in its target folder and flushed to disk; a journal is
    written; only then are they moved into place: linked, refusing to replace an existing file, or
    with ``force`` renamed over it after the old file was linked aside. If anything fails or is
    interrupted, files already moved into place are removed or their old versions put back, and no
    temporary file is left behind. SIGINT, SIGTERM, SIGHUP and SIGQUIT take effect afterwards.

    :param files: ``(path, data, mode)`` triples.
    :raises OutputExistsError: a file exists and ``force`` is false; nothing was written.
    :raises FileWriteError: a file could not be written, or a killed run left files to look at.
    """
    paths = [path for path, _, _ in files]
    _check_paths(paths, force=force)  # missing folders are reported before a lock file is tried
    folders: dict[str, list[str]] = {}
    for path in paths:
        folders.setdefault(_folder(path), []).append(path)
    with contextlib.ExitStack() as locks:
        for folder in sorted(folders):
            locks.enter_context(folder_lock(folder))
        with _signals_deferred():
            for folder in sorted(folders):
                _recover(folder, folders[folder])
            check_outputs(paths, force=force)
            _write_files(files, force=force)


@contextlib.contextmanager
def folder_lock(folder: str) -> Iterator[None]:
    """Hold the exclusive lock of ``folder`` against other qs-jwt runs; blocks until it is free.

    The lock is ``.qs-jwt.lock`` in the folder (created mode 0600, never through a symbolic link),
    locked with ``flock`` (``msvcrt.locking`` on Windows) and removed again on release.

    :raises FileWriteError: the lock file cannot be created or is not a plain file.
    """
    path = os.path.join(folder, LOCK_NAME)
    fd = _acquire(path)
    try:
        yield
    finally:
        _release(fd, path)


# --- the lock -------------------------------------------------------------------------------


def _acquire(path: str) -> int:
    flags = (os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
             | getattr(os, "O_NOINHERIT", 0) | getattr(os, "O_BINARY", 0))
    while True:
        if os.path.islink(path):  # where there is no O_NOFOLLOW (Windows), check before and after
            raise FileWriteError(path, _LOCK_SYMLINK)
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as exc:
            raise FileWriteError(path, _LOCK_SYMLINK if os.path.islink(path) else _reason(exc)) from None
        try:
            if os.path.islink(path):
                raise FileWriteError(path, _LOCK_SYMLINK)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise FileWriteError(path, "is not a plain file; remove it")
            _platform.lock_file(fd)
            # on POSIX a run that just finished may have removed the file this lock is on: lock the new one
            if _platform.IS_WINDOWS or _same_file(fd, path):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _release(fd: int, path: str) -> None:
    try:
        if not _platform.IS_WINDOWS:
            with contextlib.suppress(OSError):
                os.unlink(path)  # while still locked: whoever waits on this file sees it is gone and retries
        with contextlib.suppress(OSError):
            _platform.unlock_file(fd)
    finally:
        os.close(fd)
    if _platform.IS_WINDOWS:
        with contextlib.suppress(OSError):
            os.unlink(path)  # refused while another run has it open; that run removes it


def _same_file(fd: int, path: str) -> bool:
    try:
        on_path = os.lstat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_path.st_dev, on_path.st_ino)


# --- checks ---------------------------------------------------------------------------------


def _check_paths(paths: list[str], *, force: bool) -> list[str]:
    """Raise FileWriteError for a path that cannot be written; return those that exist."""
    seen: dict[str, str] = {}
    existing: list[str] = []
    for path in paths:
        real = os.path.realpath(path)
        if real in seen:
            raise FileWriteError(path, f"the same file as {seen[real]}")
        seen[real] = path
        if os.path.isdir(path):
            raise FileWriteError(path, "is a directory")
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise FileWriteError(path, f"folder {folder} does not exist; create it first")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise FileWriteError(path, f"folder {folder} is not writable")
        if os.path.lexists(path):
            if force and os.path.islink(path):
                raise FileWriteError(path, _KEY_SYMLINK)
            existing.append(path)
    return existing


# --- writing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """One file of a change: the target, its staged content, and where its old version goes."""

    path: str
    temp: str
    temp_id: tuple[int, int]  # (st_dev, st_ino) of the staged file: the target has it once moved in place
    backup: str
    existed: bool


def _write_files(files: Sequence[tuple[str, bytes, int]], *, force: bool) -> None:
    run = os.urandom(8).hex()
    entries: list[_Entry] = []
    journals: list[str] = []
    done: list[tuple[_Entry, bool]] = []  # moved into place; whether the old file was linked aside
    keep_journals = False
    try:
        for index, (path, data, mode) in enumerate(files):
            temp, temp_id = _stage(path, data, mode)
            backup = os.path.join(_folder(path), f"{_PREFIX}{run}-{index}.old")
            entries.append(_Entry(path, temp, temp_id, backup, os.path.lexists(path)))
        _write_journals(entries, run, journals)
        try:
            for entry in entries:
                backed_up = force and entry.existed and _backup(entry.path, entry.backup)
                try:
                    _commit(entry.temp, entry.path, force=force)
                except BaseException:
                    if backed_up:
                        with contextlib.suppress(OSError):
                            os.unlink(entry.backup)
                    raise
                done.append((entry, backed_up))
        except BaseException:
            for entry, backed_up in reversed(done):
                try:
                    if backed_up:
                        os.replace(entry.backup, entry.path)
                    else:
                        os.unlink(entry.path)
                except OSError:
                    keep_journals = True  # the next run finishes this rollback
            done.clear()
            raise
    finally:
        for entry in entries:
            with contextlib.suppress(OSError):
                os.unlink(entry.temp)
        for entry, backed_up in done:
            if backed_up:
                with contextlib.suppress(OSError):
                    os.unlink(entry.backup)
        if not keep_journals:
            for journal in journals:
                with contextlib.suppress(OSError):
                    os.unlink(journal)
    for folder in {_folder(path) for path, _, _ in files}:
        _fsync_folder(folder)


def _stage(path: str, data: bytes, mode: int) -> tuple[str, tuple[int, int]]:
    """Write ``data`` to a new temporary file beside ``path``; return its name and file id."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=_PREFIX, suffix=".tmp", dir=folder)  # O_EXCL: never follows a link
    except OSError as exc:
        raise FileWriteError(path, _reason(exc)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            _platform.set_file_mode(fh.fileno(), tmp, mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        st = os.lstat(tmp)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise FileWriteError(path, _reason(exc)) from None
        raise
    return tmp, (st.st_dev, st.st_ino)


def _write_journals(entries: list[_Entry], run: str, journals: list[str]) -> None:
    """Record the change in each folder (names only, never contents) before anything is moved."""
    by_folder: dict[str, list[_Entry]] = {}
    for entry in entries:
        by_folder.setdefault(_folder(entry.path), []).append(entry)
    for folder, group in by_folder.items():
        record = {"qs-jwt-journal": 1, "files": [
            {"target": os.path.basename(e.path), "temp": os.path.basename(e.temp), "temp_id": list(e.temp_id),
             "backup": os.path.basename(e.backup), "existed": e.existed}
            for e in group
        ]}
        journal = os.path.join(folder, f"{_PREFIX}{run}.journal")
        temp, _ = _stage(journal, json.dumps(record).encode(), 0o600)
        try:
            os.replace(temp, journal)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise FileWriteError(group[0].path, _reason(exc)) from None
        journals.append(journal)
        _fsync_folder(folder)


def _backup(path: str, backup: str) -> bool:
    """Link the file at ``path`` aside as ``backup`` so that a failed replacement can put it back."""
    try:
        if os.link in os.supports_follow_symlinks:
            os.link(path, backup, follow_symlinks=False)
        else:
            os.link(path, backup)
    except OSError:
        return False  # no hard links here: the replacement is still atomic, just not undoable
    return True


def _commit(tmp: str, path: str, *, force: bool) -> None:
    try:
        if force:
            os.replace(tmp, path)
        else:
            _link_no_clobber(tmp, path)
    except OSError as exc:
        raise FileWriteError(path, _reason(exc)) from None


def _link_no_clobber(tmp: str, path: str) -> None:
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OutputExistsError([path]) from None
    except OSError as exc:
        # file systems without hard links: check, then rename (a narrow race, but never a partial file)
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if os.path.lexists(path):
            raise OutputExistsError([path]) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _fsync_folder(folder: str) -> None:
    with contextlib.suppress(OSError):  # Windows cannot open (or fsync) a folder
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _folder(path: str) -> str:
    return os.path.realpath(os.path.dirname(os.path.abspath(path)))


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


# --- leftovers of a killed run --------------------------------------------------------------


def _recover(folder: str, targets: list[str]) -> None:
    """Clear up what a killed run left in ``folder`` (under its lock), before ``targets`` are written.

    A journal's change is rolled back (old files renamed back, new ones removed), or finished when all
    its files were in place. Temporary files are removed. A backup (``.qs-jwt-*.old``) is removed only
    when a target holds the same bytes; any other is left alone and reported.

    :raises FileWriteError: a backup or journal that cannot be accounted for; names them, never contents.
    """
    unknown: list[str] = []
    try:
        for name in sorted(name for name in os.listdir(folder) if _JOURNAL.fullmatch(name)):
            if not _replay(folder, name, targets[0]):
                unknown.append(os.path.join(folder, name))
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise FileWriteError(targets[0], _reason(exc)) from None
    for name in names:
        leftover = os.path.join(folder, name)
        if _TEMP.fullmatch(name):
            with contextlib.suppress(OSError):
                os.unlink(leftover)  # staged content that never reached its target
        elif _BACKUP.fullmatch(name):
            if any(_same_content(leftover, target) for target in targets):
                with contextlib.suppress(OSError):
                    os.unlink(leftover)
            else:
                unknown.append(leftover)
    if unknown:
        _fsync_folder(folder)
        raise FileWriteError(targets[0], (
            f"a qs-jwt run that was killed left {', '.join(unknown)}: it may hold an earlier private key "
            "or certificate; move it away (or delete it) and try again"))


def _replay(folder: str, name: str, target: str) -> bool:
    """Roll back (or finish) the change the journal ``name`` records; False if it cannot be read."""
    journal = os.path.join(folder, name)
    entries = _read_journal(journal)
    if entries is None:
        return False
    placed = [_file_id(os.path.join(folder, e["target"])) == tuple(e["temp_id"]) for e in entries]
    lost: list[str] = []
    try:
        if all(placed):  # every file was in place: only the clean-up was missing
            for e in entries:
                for leftover in (e["temp"], e["backup"]):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(folder, leftover))
        else:
            for e, is_new in reversed(list(zip(entries, placed, strict=True))):
                path, backup = os.path.join(folder, e["target"]), os.path.join(folder, e["backup"])
                if is_new and os.path.lexists(backup):
                    os.replace(backup, path)
                elif is_new and not e["existed"]:
                    os.unlink(path)
                elif is_new:
                    lost.append(path)
                elif os.path.lexists(backup) and not os.path.lexists(path):
                    os.replace(backup, path)
                elif _same_content(backup, path):
                    os.unlink(backup)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(folder, e["temp"]))
        os.unlink(journal)
    except OSError as exc:
        raise FileWriteError(target, f"cannot undo what a killed qs-jwt run left ({journal}): {_reason(exc)}") from None
    if lost:
        _fsync_folder(folder)
        raise FileWriteError(target, (
            f"a qs-jwt run that was killed replaced {', '.join(lost)} without keeping the earlier file (no hard "
            "links here): the key files beside it may not belong to it; check them or replace them all"))
    return True


def _read_journal(journal: str) -> list[dict[str, Any]] | None:
    """The entries of a journal :func:`_write_journals` wrote, or None if it is not one."""
    try:
        if not stat.S_ISREG(os.lstat(journal).st_mode):
            return None
        with open(journal, "rb") as fh:
            record = json.loads(fh.read(_JOURNAL_MAX_BYTES + 1))
    except (OSError, ValueError):
        return None
    files = record.get("files") if isinstance(record, dict) and record.get("qs-jwt-journal") == 1 else None
    if not isinstance(files, list) or not all(_valid_entry(e) for e in files):
        return None
    return files


def _valid_entry(entry: object) -> bool:
    if not isinstance(entry, dict):
        return False
    names = (entry.get("target"), entry.get("temp"), entry.get("backup"))
    if not all(isinstance(n, str) and n not in ("", ".", "..") and not set(n) & {"/", "\\", "\x00"} for n in names):
        return False
    temp_id = entry.get("temp_id")
    return (bool(_TEMP.fullmatch(str(names[1]))) and bool(_BACKUP.fullmatch(str(names[2])))
            and isinstance(entry.get("existed"), bool) and isinstance(temp_id, list) and len(temp_id) == 2
            and all(type(n) is int for n in temp_id))


def _file_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _same_content(a: str, b: str) -> bool:
    """Both are plain files (not links) with the same bytes."""
    try:
        sa, sb = os.lstat(a), os.lstat(b)
        if not (stat.S_ISREG(sa.st_mode) and stat.S_ISREG(sb.st_mode)) or sa.st_size != sb.st_size:
            return False
        if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino):
            return True
        if sa.st_size > _COMPARE_MAX_BYTES:
            return False
        with open(a, "rb") as fa, open(b, "rb") as fb:
            return fa.read() == fb.read()
    except OSError:
        return False


# --- signals --------------------------------------------------------------------------------


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM, SIGHUP and SIGQUIT back while files are moved (main thread only).

    Blocked with ``pthread_sigmask`` where it exists; elsewhere (Windows) the signals, and Ctrl-Break,
    are caught and raised again at the end.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = {getattr(signal, name) for name in _DEFERRED_SIGNALS if hasattr(signal, name)}
    sigmask = getattr(signal, "pthread_sigmask", None)
    if sigmask is None:
        with _signals_recorded(signals):
            yield
        return
    previous = sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def _signals_recorded(signals: set[int]) -> Iterator[None]:
    """Note ``signals`` while the block runs instead of acting on them; then raise them again."""
    received: list[int] = []
    previous: dict[int, Any] = {}

    def record(signum: int, frame: object) -> None:
        received.append(signum)

    try:
        for signum in sorted(signals):
            with contextlib.suppress(OSError, ValueError):
                previous[signum] = signal.signal(signum, record)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        for signum in dict.fromkeys(received):
            signal.raise_signal(signum)  # the restored handler acts: KeyboardInterrupt for Ctrl-C
