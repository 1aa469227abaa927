"""Safe file output: existence checks up front, atomic writes, private modes."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator, Sequence

from .errors import FileWriteError, OutputExistsError

__all__ = ["check_outputs", "write_atomic", "write_files"]


def check_outputs(paths: list[str], *, force: bool) -> None:
    """Refuse before any work is done when an output exists (unless ``force``) or cannot be a file.

    :raises OutputExistsError: some paths exist and ``force`` is false.
    :raises FileWriteError: a path is a directory, its folder is missing, or two outputs coincide.
    """
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
            existing.append(path)
    if existing and not force:
        raise OutputExistsError(existing)


def write_atomic(path: str, data: bytes, *, mode: int = 0o600, force: bool = False) -> None:
    """Write ``data`` to ``path`` so that readers see either nothing or the whole file.

    See :func:`write_files`, which this calls for one file.
    """
    write_files([(path, data, mode)], force=force)


def write_files(files: Sequence[tuple[str, bytes, int]], *, force: bool = False) -> None:
    """Write several files as one change: all of them, or none (as far as the file system allows).

    Every file is first written to a temporary file (with its mode) in its target folder and flushed
    to disk. Only when all are staged are they moved into place: linked, refusing to replace an
    existing file, or with ``force`` renamed over it after the old file was linked aside. If anything
    fails or is interrupted, files already moved into place are removed or their old versions put back,
    and no temporary file is left behind.

    :param files: ``(path, data, mode)`` triples.
    :raises OutputExistsError: a file exists and ``force`` is false.
    :raises FileWriteError: a file could not be written.
    """
    with _signals_deferred():  # Ctrl-C or SIGTERM takes effect after the files are all in place, or none
        _write_files(files, force=force)


def _write_files(files: Sequence[tuple[str, bytes, int]], *, force: bool) -> None:
    staged: list[tuple[str, str]] = []  # (temporary, path)
    done: list[tuple[str, str | None]] = []  # (path, backup of the file it replaced)
    try:
        for path, data, mode in files:
            staged.append((_stage(path, data, mode), path))
        try:
            for tmp, path in staged:
                backup = _backup(path) if force else None
                try:
                    _commit(tmp, path, force=force)
                except BaseException:
                    if backup is not None:
                        with contextlib.suppress(OSError):
                            os.unlink(backup)
                    raise
                done.append((path, backup))
        except BaseException:
            for path, backup in reversed(done):
                with contextlib.suppress(OSError):
                    if backup is not None:
                        os.replace(backup, path)
                    else:
                        os.unlink(path)
            done.clear()
            raise
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        for _, backup in done:
            if backup is not None:
                with contextlib.suppress(OSError):
                    os.unlink(backup)
    for folder in {os.path.dirname(os.path.abspath(path)) for path, _, _ in files}:
        _fsync_folder(folder)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while files are moved into place (main thread, POSIX only)."""
    import signal
    import threading

    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stage(path: str, data: bytes, mode: int) -> str:
    """Write ``data`` to a new temporary file beside ``path``; return its name."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".qs-jwt-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise FileWriteError(path, exc.strerror or str(exc)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise FileWriteError(path, exc.strerror or str(exc)) from None
        raise
    return tmp


def _backup(path: str) -> str | None:
    """Link an existing file aside so that a failed replacement can put it back; None if there is none."""
    if not os.path.lexists(path):
        return None
    backup = os.path.join(os.path.dirname(os.path.abspath(path)), f".qs-jwt-{os.urandom(8).hex()}.old")
    try:
        os.link(path, backup, follow_symlinks=False)
    except OSError:
        return None  # no hard links here: the replacement is still atomic, just not undoable
    return backup


def _commit(tmp: str, path: str, *, force: bool) -> None:
    try:
        if force:
            os.replace(tmp, path)
        else:
            _link_no_clobber(tmp, path)
    except OSError as exc:
        raise FileWriteError(path, exc.strerror or str(exc)) from None


def _fsync_folder(folder: str) -> None:
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


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
