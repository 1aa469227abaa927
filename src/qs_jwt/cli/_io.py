"""Inputs and outputs shared by the commands: key sources, passphrases, tokens, safe printing."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .._jws import MAX_TOKEN_LENGTH, clean_token_text
from ..errors import KeyLoadError, QsJwtError, TokenFormatError
from . import UsageError
from ._run import Log, safe_text

ENV_PRIVATE_KEY = "QS_JWT_PRIVATE_KEY"
ENV_PASSPHRASE = "QS_JWT_PRIVATE_KEY_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret
MAX_PASSPHRASE_BYTES = 64 * 1024


def emit(text: str) -> None:
    """Write the result to stdout (the only thing that ever goes there)."""
    try:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise QsJwtError(f"cannot write the output: {exc.strerror or exc}") from None


def to_json(value: Any, *, indent: int | None = 2) -> str:
    """JSON for output: UTF-8 text kept readable, terminal-unsafe characters escaped (still valid JSON)."""
    return safe_text(json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=False, default=str),
                     multiline=True)


def read_passphrase(path: str | None, log: Log, *, use_env: bool = True) -> str | None:
    """The passphrase from ``path`` (one trailing newline dropped) or, with ``use_env``,
    $QS_JWT_PRIVATE_KEY_PASSPHRASE."""
    if path is not None:
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_PASSPHRASE_BYTES + 1)
        except FileNotFoundError:
            raise KeyLoadError("passphrase file not found", source=path) from None
        except IsADirectoryError:
            raise KeyLoadError("is a directory, not a passphrase file", source=path) from None
        except OSError as exc:
            raise KeyLoadError(f"cannot read passphrase file ({exc.strerror or exc})", source=path) from None
        if len(raw) > MAX_PASSPHRASE_BYTES:
            raise KeyLoadError("passphrase file is too large", source=path)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise KeyLoadError("passphrase file is not UTF-8 text", source=path) from None
        if text.endswith("\r\n"):
            text = text[:-2]
        elif text.endswith("\n"):
            text = text[:-1]
        if not text:
            raise KeyLoadError("passphrase file is empty", source=path)
        log.verbose(f"passphrase read from {path}")
        return text
    value = os.environ.get(ENV_PASSPHRASE) if use_env else None
    if value:
        log.verbose(f"passphrase taken from ${ENV_PASSPHRASE}")
        return value
    return None


def private_key_input(args: argparse.Namespace, log: Log) -> tuple[bytes, str] | None:
    """The private key bytes and a name for messages, from the options or the environment."""
    from ..keys import read_key_source

    if args.cert_privatekey is not None:
        if "-----BEGIN" not in args.cert_privatekey and os.path.isfile(args.cert_privatekey):
            raise UsageError(f"--cert-privatekey takes the PEM text itself; for a file use --cert-privatekey-file "
                             f"{args.cert_privatekey}")
        if args.cert_privatekey_file is not None:
            log.warn("both --cert-privatekey and --cert-privatekey-file given; using --cert-privatekey")
        log.warn("--cert-privatekey puts the key in the process list and shell history; prefer "
                 f"--cert-privatekey-file or ${ENV_PRIVATE_KEY}")
        text = args.cert_privatekey.replace("\\n", "\n")
        return text.encode("utf-8", "surrogateescape"), "--cert-privatekey"
    if args.cert_privatekey_file is not None:
        path = args.cert_privatekey_file
        return read_key_source(path, what="private key"), "<stdin>" if path == "-" else path
    env_key = os.environ.get(ENV_PRIVATE_KEY)
    if env_key:
        log.verbose(f"private key taken from ${ENV_PRIVATE_KEY}")
        return env_key.replace("\\n", "\n").encode("utf-8", "surrogateescape"), f"${ENV_PRIVATE_KEY}"
    return None


def warn_if_readable_by_others(path: str, log: Log) -> None:
    """Warn, as ssh does, about a private key file that group or others can read."""
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        return
    if mode & 0o077:
        log.warn(f"{path} is readable by group or others (mode {mode:04o}); run chmod 600 {path}")


def read_token(args: argparse.Namespace) -> str:
    """The token from --jwt, --jwt-file (``-`` = stdin) or, when neither is given, piped stdin."""
    if args.jwt is not None and args.jwt_file is not None:
        raise UsageError("give either --jwt or --jwt-file, not both")
    if args.jwt is not None:
        return clean_token_text(args.jwt)
    if args.jwt_file is not None and args.jwt_file != "-":
        path = args.jwt_file
        if os.path.isdir(path):
            raise TokenFormatError(f"{path}: is a directory, not a token file")
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_TOKEN_LENGTH * 2)
        except FileNotFoundError:
            raise TokenFormatError(f"{path}: token file not found") from None
        except OSError as exc:
            raise TokenFormatError(f"{path}: cannot read token file ({exc.strerror or exc})") from None
        source = path
    else:
        if args.jwt_file is None and _stdin_is_terminal():
            raise UsageError("no token: give --jwt or --jwt-file, or pipe the token into standard input")
        try:
            raw = sys.stdin.buffer.read(MAX_TOKEN_LENGTH * 2)
        except (OSError, ValueError, AttributeError) as exc:
            raise TokenFormatError(f"cannot read the token from standard input ({exc})") from None
        source = "standard input"
    if len(raw) > MAX_TOKEN_LENGTH + 1024:
        raise TokenFormatError(f"{source} holds more than {MAX_TOKEN_LENGTH} characters; not a single token")
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark, as some Windows editors write, is dropped
    except UnicodeDecodeError:
        raise TokenFormatError(f"the token in {source} is not UTF-8 text") from None
    text = clean_token_text(text)
    if any(ch.isspace() for ch in text):
        raise TokenFormatError(f"{source} holds more than one line or word; give one token")
    return text


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is None or sys.stdin.isatty()
    except (ValueError, AttributeError):
        return True


def verification_key(args: argparse.Namespace, log: Log) -> tuple[Any, str] | None:
    """The verification key (public key, certificate, JWK or JWKS) and a name, or None."""
    from ..keys import load_jwks, load_public_key, read_key_source

    given = [name for name in ("cert_publickey_file", "cert_publickey", "jwks_file") if getattr(args, name)]
    if args.jwks_file and len(given) > 1:
        raise UsageError("--jwks-file cannot be combined with --cert-publickey or --cert-publickey-file")
    if args.jwks_file:
        data = read_key_source(args.jwks_file, what="JWKS")
        return load_jwks(data, source=args.jwks_file), args.jwks_file
    if args.cert_publickey is not None:
        if args.cert_publickey_file:
            log.warn("both --cert-publickey and --cert-publickey-file given; using --cert-publickey")
        if "PRIVATE KEY" in args.cert_publickey:
            log.warn("--cert-publickey was given a private key: it is visible in the process list; give the "
                     "certificate or public key instead")
        text = args.cert_publickey.replace("\\n", "\n")
        return load_public_key(text.encode("utf-8", "surrogateescape"), source="--cert-publickey"), \
            "--cert-publickey"
    if args.cert_publickey_file:
        data = read_key_source(args.cert_publickey_file, what="public key")
        source = "<stdin>" if args.cert_publickey_file == "-" else args.cert_publickey_file
        return load_public_key(data, source=source), source
    return None
