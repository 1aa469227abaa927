"""Exceptions raised by qs_jwt.

Every error the library raises on purpose derives from :class:`QsJwtError`; a wrong argument *type*
raises :class:`TypeError` (through :class:`ArgumentTypeError`, which is both)::

    QsJwtError
    ├── InvalidValueError        a bad argument value (unit, range, claim); ``param`` names the argument
    │   └── ArgumentTypeError    an argument of the wrong type (also a TypeError)
    ├── KeyLoadError             a key or certificate that cannot be read or is unfit for use; ``code`` says why
    ├── OutputExistsError        an output file exists and overwriting was not allowed
    ├── FileWriteError           an output file could not be written
    ├── TokenFormatError         text that is not a well-formed compact JWS/JWT
    ├── VerificationError        a token or key that was read but failed verification or a check
    ├── QlikApiError             a remote Qlik API answered with an error
    └── QlikConnectionError      no answer from a server (DNS, refused, TLS, timeout)

Messages name the Python parameter (``email_verified``), never a command-line flag, and never contain
key material, passphrases or tokens. The command-line tool maps parameters to its flags and errors to
its exit codes.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "KEY_DAMAGED",
    "KEY_FORMAT",
    "KEY_MISMATCH",
    "KEY_NOT_FOUND",
    "KEY_PASSPHRASE_REQUIRED",
    "KEY_UNNEEDED_PASSPHRASE",
    "KEY_UNREADABLE",
    "KEY_UNSUPPORTED",
    "KEY_WEAK",
    "KEY_WRONG_KIND",
    "KEY_WRONG_PASSPHRASE",
    "KEY_WRONG_TYPE",
    "ArgumentTypeError",
    "FileWriteError",
    "InvalidValueError",
    "KeyLoadError",
    "OutputExistsError",
    "QlikApiError",
    "QlikConnectionError",
    "QsJwtError",
    "TokenFormatError",
    "VerificationError",
    "is_finite_number",
]


class QsJwtError(Exception):
    """Base class of every error qs_jwt raises on purpose."""


class InvalidValueError(QsJwtError, ValueError):
    """An argument has a value the library does not accept (unit, range, claim name, ...).

    ``param`` names the Python parameter (``"expires"``, ``"email_verified"``) when known, and
    ``reason`` is the message without it: ``str(exc)`` is ``"param: reason"``. A reason that speaks of
    other parameters names them in ``mentions``; :meth:`render` writes them as the caller calls them
    (the command-line tool: as its options).
    """

    def __init__(self, reason: str, *, param: str | None = None, mentions: tuple[str, ...] = ()) -> None:
        self.param = param
        self.mentions = mentions
        self._template = reason
        self.reason = reason.format_map({name: name for name in mentions}) if mentions else reason
        super().__init__(f"{param}: {self.reason}" if param else self.reason)

    def render(self, name_of: Callable[[str], str]) -> str:
        """The message with every parameter named by ``name_of`` (e.g. a flag table)."""
        reason = (self._template.format_map({name: name_of(name) for name in self.mentions})
                  if self.mentions else self.reason)
        return f"{name_of(self.param)}: {reason}" if self.param else reason


class ArgumentTypeError(InvalidValueError, TypeError):
    """An argument of the wrong type (``None`` as a key, a number as a path): a :class:`TypeError` too."""


#: ``KeyLoadError.code`` values
KEY_NOT_FOUND = "not-found"  # the file does not exist
KEY_UNREADABLE = "unreadable"  # a directory, permissions, an I/O error, empty, too large
KEY_FORMAT = "format"  # not a key or certificate in any format read here
KEY_WRONG_KIND = "wrong-kind"  # a certificate or public key where a private key is needed, an OpenSSH key...
KEY_WRONG_TYPE = "wrong-type"  # not RSA (EC, Ed25519, DSA), or an RSA key restricted to another use (RSA-PSS)
KEY_WEAK = "weak"  # under 2048 bits, a bad public exponent, the ROCA weakness
KEY_DAMAGED = "damaged"  # inconsistent numbers (even modulus, p = 0), a failed consistency check
KEY_PASSPHRASE_REQUIRED = "passphrase-required"  # noqa: S105 - a code, not a secret
KEY_WRONG_PASSPHRASE = "wrong-passphrase"  # noqa: S105 - a code, not a secret
KEY_UNNEEDED_PASSPHRASE = "unneeded-passphrase"  # noqa: S105 - a code, not a secret
KEY_MISMATCH = "mismatch"  # a bundle with two different private keys, or a certificate not of the key
KEY_UNSUPPORTED = "unsupported"  # an encryption or algorithm the backend does not offer


class KeyLoadError(QsJwtError):
    """A key or certificate could not be read, or is not fit for use (type, size, passphrase).

    ``source`` names where it came from (a file path, ``"<stdin>"``, an environment variable);
    never the key's content. ``reason`` is the message without the source. ``code`` is one of the
    ``KEY_*`` constants of this module, for programs (and checks) that branch on the cause.
    ``passphrase_required`` is true when the key is encrypted and no passphrase was given.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        code: str = KEY_FORMAT,
        passphrase_required: bool = False,
    ) -> None:
        super().__init__(f"{source}: {message}" if source else message)
        self.source = source
        self.reason = message
        self.code = KEY_PASSPHRASE_REQUIRED if passphrase_required else code
        self.passphrase_required = passphrase_required or code == KEY_PASSPHRASE_REQUIRED


class OutputExistsError(QsJwtError):
    """An output file already exists and overwriting was not allowed (``force=False``)."""

    def __init__(self, paths: list[str], *, hint: str = "pass force=True to replace them") -> None:
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
    """The text is not a well-formed compact JWS/JWT (segments, base64url, JSON, size).

    ``truncated`` is true when the token looks cut short (the usual copy-paste accident).
    """

    def __init__(self, message: str, *, truncated: bool = False) -> None:
        super().__init__(message)
        self.truncated = truncated


class VerificationError(QsJwtError):
    """A token or key was read but failed verification or a check."""


class QlikApiError(QsJwtError):
    """A Qlik API answered with an error status.

    ``method``, ``url`` (with secrets removed), ``status``, and what the server said: ``code``, ``title``,
    ``detail`` and ``trace_id`` of the first error item, and ``items``, every error item as a dict.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        detail: str | None = None,
        trace_id: str | None = None,
        method: str | None = None,
        url: str | None = None,
        title: str | None = None,
        items: tuple[dict[str, object], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.detail = detail
        self.trace_id = trace_id
        self.method = method
        self.url = url
        self.title = title
        self.items = items


class QlikConnectionError(QsJwtError):
    """No answer from the server: DNS, refused connection, TLS, timeout, proxy.

    ``hint`` says what to try (``--ca-cert`` for a certificate the client does not trust); ``tls`` is true
    for a certificate problem.
    """

    def __init__(self, message: str, *, hint: str | None = None, url: str | None = None, tls: bool = False) -> None:
        super().__init__(f"{message}; {hint}" if hint else message)
        self.hint = hint
        self.url = url
        self.tls = tls


def is_finite_number(value: object) -> bool:
    """True for a JSON number that is finite: an int (of any size) or a finite float, never a bool."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and value - value == 0.0

