"""What differs between POSIX and Windows on the key-file path: file modes and file locks.

Importable everywhere: ``fcntl`` and ``msvcrt`` are imported when used. The branch is chosen by
:data:`IS_WINDOWS` (read at each call, so tests can switch it) and by which modules exist.
"""

from __future__ import annotations

import errno
import importlib
import os
import stat
import time
from types import ModuleType

__all__ = ["IS_WINDOWS", "file_mode_problem", "lock_file", "set_file_mode", "unlock_file"]

#: Windows rules: ACLs instead of permission bits, msvcrt locks, files that cannot be removed while open
IS_WINDOWS = os.name == "nt"

_LOCK_POLL_SECONDS = 0.02
# what msvcrt.locking raises while another process holds the region
_LOCKED_ERRNOS = frozenset({errno.EACCES, getattr(errno, "EDEADLOCK", errno.EDEADLK)})


def set_file_mode(fd: int, path: str, mode: int) -> None:
    """Give the new file ``path``, open as ``fd``, the permission bits ``mode``.

    Uses ``os.fchmod`` where it exists, else ``os.chmod`` on the path. On Windows nothing is changed:
    its only mode bit is read-only, which key files never are, and the file keeps the ACL it
    inherited from its folder.
    """
    if IS_WINDOWS:
        return
    fchmod = getattr(os, "fchmod", None)
    if fchmod is not None:
        fchmod(fd, mode)
    else:
        os.chmod(path, mode)


def file_mode_problem(path: str) -> str | None:
    """Why the key file ``path`` is open to other users (``"mode 0644: readable by group and others"``), or None.

    Always None on Windows, where permission bits do not describe who may read a file (its ACL does).

    :raises OSError: the file cannot be examined.
    """
    if IS_WINDOWS:
        return None
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if not mode & 0o077:
        return None
    who = " and ".join(name for name, bits in (("group", 0o070), ("others", 0o007)) if mode & bits)
    can = [verb for verb, bits in (("readable", 0o044), ("writable", 0o022)) if mode & bits] or ["executable"]
    return f"mode {mode:04o}: {' and '.join(can)} by {who}"


def lock_file(fd: int) -> None:
    """Wait until this process holds the exclusive lock of the open file ``fd``.

    ``fcntl.flock`` on POSIX; on Windows ``msvcrt.locking`` of the first byte, polled, because its
    blocking mode gives up after ten seconds.
    """
    fcntl = _fcntl()
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    msvcrt = importlib.import_module("msvcrt")
    os.lseek(fd, 0, os.SEEK_SET)
    while True:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            if exc.errno not in _LOCKED_ERRNOS:
                raise
            time.sleep(_LOCK_POLL_SECONDS)
        else:
            return


def unlock_file(fd: int) -> None:
    """Release the lock :func:`lock_file` took on ``fd``."""
    fcntl = _fcntl()
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return
    msvcrt = importlib.import_module("msvcrt")
    os.lseek(fd, 0, os.SEEK_SET)
    msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _fcntl() -> ModuleType | None:
    """The ``fcntl`` module, or None on Windows (or wherever it cannot be imported)."""
    if IS_WINDOWS:
        return None
    try:
        return importlib.import_module("fcntl")
    except ImportError:
        return None
