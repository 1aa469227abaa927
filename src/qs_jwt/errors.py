"""Exceptions raised by qs_jwt.

Every error the library raises on purpose derives from :class:`QsJwtError`::

    QsJwtError
    ├── InvalidValueError        a bad argument value (unit, range, claim); the CLI exits 2
    ├── KeyLoadError             a key or certificate that cannot be read or is unfit for use
    ├── OutputExistsError        an output file exists and overwriting was not allowed
    ├── FileWriteError           an output file could not be written
    ├── TokenFormatError         text that is not a well-formed compact JWS/JWT
    ├── VerificationError        a token or key that was read but failed verification or a check
    └── QlikApiError             a remote Qlik API answered with an error

Messages never contain key material, passphrases or tokens.
"""

from __future__ import annotations


class QsJwtError(Exception):
    """Base class of every error qs_jwt raises on purpose."""

    #: the exit code the command-line tool uses for this error
    exit_code: int = 1


class InvalidValueError(QsJwtError, ValueError):
    """An argument has a value the library does not accept (unit, range, claim name, ...).

    ``option`` names the argument (``"expires"``, ``"--claim"``) when known.
    """

    exit_code = 2

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class KeyLoadError(QsJwtError):
    """A key or certificate could not be read, or is not fit for use (type, size, passphrase).

    ``source`` names where it came from (a file path, ``"<stdin>"``, an environment variable);
    never the key's content. ``passphrase_required`` is true when the key is encrypted and no
    passphrase was given.
    """

    def __init__(self, message: str, *, source: str | None = None, passphrase_required: bool = False) -> None:
        super().__init__(f"{source}: {message}" if source else message)
        self.source = source
        self.reason = message
        self.passphrase_required = passphrase_required


class OutputExistsError(QsJwtError):
    """An output file already exists and overwriting was not allowed (``force=False``)."""

    def __init__(self, paths: list[str], *, hint: str = "use --force to replace them") -> None:
        names = ", ".join(paths)
        super().__init__(f"refusing to overwrite existing file(s): {names} ({hint})")
        self.paths = paths


class FileWriteError(QsJwtError):
    """An output file could not be written (missing folder, permissions, disk full)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot write {path}: {reason}")
        self.path = path
        self.reason = reason


class TokenFormatError(QsJwtError):
    """The text is not a well-formed compact JWS/JWT (segments, base64url, JSON, size)."""


class VerificationError(QsJwtError):
    """A token or key was read but failed verification or a check."""

    exit_code = 3


class QlikApiError(QsJwtError):
    """A Qlik API answered with an error status.

    ``status``, ``code``, ``detail`` and ``trace_id`` carry what the server said.
    """

    exit_code = 4

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        detail: str | None = None,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.detail = detail
        self.trace_id = trace_id


class QsJwtWarning(UserWarning):
    """Something works but is probably not what Qlik or the user wants (long lifetime, odd algorithm)."""


def warn(message: str) -> None:
    """Issue a :class:`QsJwtWarning` attributed to the first caller outside this package."""
    import sys
    import warnings

    level = 1
    frame = sys._getframe(0)
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith("qs_jwt"):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, QsJwtWarning, stacklevel=level)


def is_finite_number(value: object) -> bool:
    """True for a JSON number that is finite: an int (of any size) or a finite float, never a bool."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and value - value == 0.0
