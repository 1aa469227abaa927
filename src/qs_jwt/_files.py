"""Safe file output: existence checks up front, atomic writes, private modes."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile

from .errors import FileWriteError, OutputExistsError

__all__ = ["check_outputs", "write_atomic"]


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
            raise FileWriteError(path, f"folder {folder} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise FileWriteError(path, f"folder {folder} is not writable")
        if os.path.lexists(path):
            existing.append(path)
    if existing and not force:
        raise OutputExistsError(existing)


def write_atomic(path: str, data: bytes, *, mode: int = 0o600, force: bool = False) -> None:
    """Write ``data`` to ``path`` so that readers see either nothing or the whole file.

    The data goes to a temporary file (mode ``mode``) in the same folder, is flushed to disk, and is
    then linked into place (refusing to replace an existing file) or, with ``force``, renamed over it.
    An interrupted write leaves no partial file and no temporary file behind.

    :raises OutputExistsError: the file exists and ``force`` is false.
    :raises FileWriteError: the file could not be written.
    """
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".qs-jwt-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise FileWriteError(path, exc.strerror or str(exc)) from None
    try:
        try:
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fh.fileno(), mode)
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if force:
                os.replace(tmp, path)
            else:
                _link_no_clobber(tmp, path)
        except OSError as exc:
            raise FileWriteError(path, exc.strerror or str(exc)) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
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
