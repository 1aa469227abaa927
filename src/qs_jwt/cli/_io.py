"""Inputs and outputs shared by the commands: files and standard input, key sources, passphrases,
tokens, and the one place that writes results to stdout.

The library reads no standard input and no environment variable: this module does, and hands the
library bytes. Messages name the option, and show a value only when it reads as a path.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..errors import KEY_NOT_FOUND, KeyLoadError, QsJwtError, TokenFormatError
from ..redact import looks_like_path, secret_kind
from ..tokens import MAX_TOKEN_LENGTH, normalize_token_text
from ._common import ENV_PASSPHRASE, ENV_PRIVATE_KEY, OutputError, UsageError
from ._run import Log, safe_text

MAX_PASSPHRASE_BYTES = 64 * 1024
#: largest key, certificate or JWKS read from a file or standard input
MAX_INPUT_BYTES = 1024 * 1024


def emit(text: str, *, written: str | None = None) -> None:
    """Write the result to stdout (the only thing that ever goes there).

    ``written`` names files this run already wrote, for the message when the result cannot be printed.
    """
    after = f" (the files were written: {written})" if written else ""
    stream = sys.stdout
    if stream is None:
        raise OutputError(f"cannot write the output: standard output is closed{after}")
    try:
        stream.write(text if text.endswith("\n") else text + "\n")
        stream.flush()
    except BrokenPipeError:
        raise
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "standard output is closed"
        raise OutputError(f"cannot write the output: {reason}{after}") from None


def to_json(value: Any, *, indent: int | None = 2) -> str:
    """JSON for output: UTF-8 text kept readable, terminal-unsafe characters escaped (still valid JSON)."""
    return safe_text(json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=False, default=str),
                     multiline=True)


def shown_path(path: str) -> str:
    """A path for a message (escaped), or a placeholder when the value is not shaped like a path."""
    return safe_text(path) if looks_like_path(path) else "(the value)"


def _missing(flag: str, value: str, *, secret_option: bool, alternative: str) -> QsJwtError:
    if secret_option:
        return KeyLoadError(f"{flag}: no such file (the value is not shown: it may be the secret itself; give the "
                            "path of a file that holds it)", code=KEY_NOT_FOUND)
    kind = secret_kind(value)
    if kind is not None or not looks_like_path(value):
        what = f"looks like {kind}" if kind else "is not a file name"
        return KeyLoadError(f"{flag}: no such file (the value {what}: give a path{alternative})", code=KEY_NOT_FOUND)
    return KeyLoadError(f"{flag}: {safe_text(value)}: no such file", code=KEY_NOT_FOUND)


def read_stdin(what: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """Read standard input (at most ``limit`` bytes); refuse a terminal or a closed stream."""
    stream = sys.stdin
    if stream is None or _is_terminal(stream):
        raise UsageError(f"standard input is {'closed' if stream is None else 'a terminal'}: pipe the {what} into "
                         "it, or give a file")
    try:
        data: bytes = stream.buffer.read(limit + 1)
    except (OSError, ValueError, AttributeError) as exc:
        raise QsJwtError(f"cannot read the {what} from standard input ({type(exc).__name__})") from None
    if len(data) > limit:
        raise QsJwtError(f"standard input holds more than {limit // 1024} KiB; not a {what}")
    return data


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (ValueError, AttributeError):
        return False


def read_input(flag: str, value: str, *, what: str, secret_option: bool = False,
               alternative: str = "") -> tuple[bytes, str]:
    """The bytes of a key, certificate or JWKS given by ``flag`` (a path, or ``-`` for standard input),
    and a name for messages.

    :param alternative: the rest of the hint for a value that is not a path (", or set $X").
    """
    from ..keys import read_key_source

    if value == "-":
        data = read_stdin(what)
        if not data.strip():
            raise KeyLoadError(f"{flag}: standard input is empty")
        return data, "<stdin>"
    _require_file(flag, value, secret_option=secret_option, alternative=alternative)
    return read_key_source(value, what=what), shown_path(value)


def _require_file(flag: str, value: str, *, secret_option: bool, alternative: str) -> None:
    try:
        exists = os.path.lexists(value)
    except (ValueError, TypeError):  # NUL characters
        exists = False
    if not exists:
        raise _missing(flag, value, secret_option=secret_option, alternative=alternative)


def read_passphrase(flag: str, path: str | None, log: Log, *, use_env: bool = True,
                    new_key: bool = False) -> str | None:
    """The passphrase from the file ``path`` given by ``flag`` (one trailing newline dropped) or, with
    ``use_env``, $QS_JWT_PRIVATE_KEY_PASSPHRASE. The path is never shown: it may be the passphrase.

    An empty file is an empty passphrase (a PKCS#12 file exported without a password has one), except for
    ``new_key``: an empty passphrase cannot protect a new key.
    """
    if path is not None:
        raw = _read_passphrase_file(flag, path)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise KeyLoadError(f"{flag}: the passphrase file is not UTF-8 text") from None
        text = text.removesuffix("\n").removesuffix("\r") if text.endswith("\n") else text
        if not text and new_key:
            raise KeyLoadError(f"{flag}: the passphrase file is empty; an empty passphrase cannot protect a new key")
        log.verbose(f"passphrase read from the file given by {flag}")
        return text
    value = os.environ.get(ENV_PASSPHRASE) if use_env else None
    if value:
        log.verbose(f"passphrase taken from ${ENV_PASSPHRASE}")
        return value
    return None


def _read_passphrase_file(flag: str, path: str) -> bytes:
    if path == "-":
        return read_stdin("passphrase", MAX_PASSPHRASE_BYTES)
    _require_file(flag, path, secret_option=True, alternative="")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_PASSPHRASE_BYTES + 1)
    except IsADirectoryError:
        raise KeyLoadError(f"{flag}: is a directory, not a passphrase file") from None
    except OSError as exc:
        raise KeyLoadError(f"{flag}: cannot read the passphrase file ({exc.strerror or type(exc).__name__})") from None
    if len(raw) > MAX_PASSPHRASE_BYTES:
        raise KeyLoadError(f"{flag}: the passphrase file is too large")
    return raw


def private_key_input(args: argparse.Namespace, log: Log) -> tuple[bytes, str] | None:
    """The private key bytes and a name for messages, from the options or the environment."""
    if args.cert_privatekey is not None:
        if "-----BEGIN" not in args.cert_privatekey and _is_file(args.cert_privatekey):
            raise UsageError("--cert-privatekey takes the PEM text itself; for a file use --cert-privatekey-file "
                             f"{shown_path(args.cert_privatekey)}")
        if args.cert_privatekey_file is not None:
            log.warn("both --cert-privatekey and --cert-privatekey-file given; using --cert-privatekey")
        log.warn("--cert-privatekey puts the key in the process list and shell history; prefer "
                 f"--cert-privatekey-file or ${ENV_PRIVATE_KEY}")
        text = args.cert_privatekey.replace("\\n", "\n")
        return text.encode("utf-8", "surrogateescape"), "--cert-privatekey"
    if args.cert_privatekey_file is not None:
        return read_input("--cert-privatekey-file", args.cert_privatekey_file, what="private key",
                          alternative=f", or set ${ENV_PRIVATE_KEY}")
    env_key = os.environ.get(ENV_PRIVATE_KEY)
    if env_key:
        log.verbose(f"private key taken from ${ENV_PRIVATE_KEY}")
        return env_key.replace("\\n", "\n").encode("utf-8", "surrogateescape"), f"${ENV_PRIVATE_KEY}"
    return None


def _is_file(value: str) -> bool:
    try:
        return os.path.isfile(value)
    except (ValueError, TypeError):
        return False


def warn_if_readable_by_others(path: str, log: Log) -> None:
    """Warn, as ssh does, about a private key file that group or others can read (POSIX modes only)."""
    from ..keys import private_key_file_problem

    problem = private_key_file_problem(path)
    if problem:
        log.warn(f"{shown_path(path)}: {problem}; run chmod 600 {shown_path(path)}")


def read_token(args: argparse.Namespace) -> str:
    """The token from --jwt, --jwt-file (``-`` = stdin) or, when neither is given, piped stdin."""
    if args.jwt is not None and args.jwt_file is not None:
        raise UsageError("give either --jwt or --jwt-file, not both")
    if args.jwt is not None:
        return normalize_token_text(args.jwt)
    limit = MAX_TOKEN_LENGTH * 2
    if args.jwt_file is not None and args.jwt_file != "-":
        path = args.jwt_file
        _require_file("--jwt-file", path, secret_option=False,
                      alternative=", or give the token with --jwt or on standard input")
        if os.path.isdir(path):
            raise TokenFormatError(f"--jwt-file: {shown_path(path)} is a directory, not a token file")
        try:
            with open(path, "rb") as fh:
                raw = fh.read(limit)
        except OSError as exc:
            raise TokenFormatError(f"--jwt-file: cannot read {shown_path(path)} "
                                   f"({exc.strerror or type(exc).__name__})") from None
        source = shown_path(path)
    else:
        if args.jwt_file is None and (sys.stdin is None or _is_terminal(sys.stdin)):
            raise UsageError("no token: give --jwt or --jwt-file, or pipe the token into standard input")
        raw = read_stdin("token", limit)
        source = "standard input"
    if len(raw) > MAX_TOKEN_LENGTH + 1024:
        raise TokenFormatError(f"{source} holds more than {MAX_TOKEN_LENGTH} characters; not a single token")
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark, as some Windows editors write, is dropped
    except UnicodeDecodeError:
        raise TokenFormatError(f"the token in {source} is not UTF-8 text") from None
    text = normalize_token_text(text)
    if any(ch.isspace() for ch in text):
        raise TokenFormatError(f"{source} holds more than one line or word; give one token")
    return text


def verification_key(args: argparse.Namespace, log: Log, *, passphrase: str | None = None) -> tuple[Any, str] | None:
    """The verification key (public key, certificate, PKCS#12, JWK or JWKS) and a name, or None."""
    from ..keys import load_jwks, load_verification_keys

    given = [name for name in ("cert_publickey_file", "cert_publickey", "jwks_file") if getattr(args, name)]
    if args.jwks_file and len(given) > 1:
        raise UsageError("--jwks-file cannot be combined with --cert-publickey or --cert-publickey-file")
    if args.jwks_file:
        data, source = read_input("--jwks-file", args.jwks_file, what="JWKS")
        return load_jwks(data, source=source), source
    if args.cert_publickey is not None:
        if args.cert_publickey_file:
            log.warn("both --cert-publickey and --cert-publickey-file given; using --cert-publickey")
        if "PRIVATE KEY" in args.cert_publickey:
            log.warn("--cert-publickey was given a private key: it is visible in the process list; give the "
                     "certificate or public key instead")
        text = args.cert_publickey.replace("\\n", "\n")
        keys = load_verification_keys(text.encode("utf-8", "surrogateescape"), source="--cert-publickey")
        return keys, "--cert-publickey"
    if args.cert_publickey_file:
        data, source = read_input("--cert-publickey-file", args.cert_publickey_file, what="public key",
                                  alternative=", or give the PEM text with --cert-publickey")
        return load_verification_keys(data, source=source, passphrase=passphrase), source
    return None


MAX_SECRET_FILE = 64 * 1024


def read_secret_file(flag: str, path: str, what: str) -> str:
    """A secret (API key, client secret) alone in a file (``-``: standard input); the path is never shown."""
    if path == "-":
        raw = read_stdin(what, MAX_SECRET_FILE)
    else:
        _require_file(flag, path, secret_option=True, alternative="")
        try:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_SECRET_FILE + 1)
        except OSError as exc:
            raise QsJwtError(f"{flag}: cannot read the file ({exc.strerror or type(exc).__name__})") from None
        if len(raw) > MAX_SECRET_FILE:
            raise QsJwtError(f"{flag}: the file is larger than 64 KiB: not {_a(what)}")
    try:
        text = raw.decode("utf-8-sig").strip()
    except UnicodeDecodeError:
        raise QsJwtError(f"{flag}: the file is not UTF-8 text") from None
    if not text:
        raise QsJwtError(f"{flag}: the file is empty")
    if any(ch.isspace() for ch in text):
        raise QsJwtError(f"{flag}: the file holds more than one line or word; give the {what} alone")
    return text


def _a(what: str) -> str:
    return f"an {what}" if what[:1].lower() in "aeiou" else f"a {what}"
