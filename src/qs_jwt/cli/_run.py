"""Run a parsed command: logging to stderr, library warnings, and exceptions mapped to exit codes."""

from __future__ import annotations

import argparse
import os
import re
import sys
import unicodedata
import warnings
from collections.abc import Callable
from typing import Any

from ..errors import InvalidValueError, QlikApiError, QsJwtError, VerificationError
from . import EXIT_API
from . import EXIT_ERROR, EXIT_USAGE, EXIT_VERIFY, LOG_LEVELS, PROG, UsageError

#: character categories that can drive a terminal or forge a line: controls, format (bidi overrides),
#: surrogates, private use, unassigned, and the line and paragraph separators
_UNSAFE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_TOKENS = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(-----END [A-Z0-9 ]+-----|$)", re.S)


def _escape_char(ch: str) -> str:
    """A JSON-compatible escape: \\uXXXX, or a surrogate pair above U+FFFF."""
    code = ord(ch)
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def safe_text(text: str, *, multiline: bool = False) -> str:
    """Escape the characters that could drive a terminal or forge an output line.

    Line breaks are kept only with ``multiline`` (for JSON and other blocks whose line structure is ours).
    The escapes are valid inside JSON strings.
    """
    keep = "\n" if multiline else ""
    if all(ch in keep or ch.isprintable() for ch in text):
        return text
    return "".join(ch if ch in keep or unicodedata.category(ch) not in _UNSAFE else _escape_char(ch) for ch in text)


def redact(text: str) -> str:
    """Remove anything that looks like a token or a PEM block (for messages that quote the command line)."""
    return _PEM.sub("<PEM redacted>", _TOKENS.sub("<token redacted>", text))


class Log:
    """Messages on stderr, filtered by level. Never give it secrets."""

    def __init__(self, level: str = "info", stream: Any = None) -> None:
        self.level = LOG_LEVELS.get(level, 2)
        self.stream = stream if stream is not None else sys.stderr

    def _write(self, threshold: int, label: str, message: str) -> None:
        if self.level >= threshold:
            text = f"{PROG}: {label}{safe_text(message)}\n"
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):
                pass

    def error(self, message: str) -> None:
        self._write(0, "error: ", message)

    def warn(self, message: str) -> None:
        self._write(1, "warning: ", message)

    def info(self, message: str) -> None:
        self._write(2, "", message)

    def verbose(self, message: str) -> None:
        self._write(3, "", message)

    def debug(self, message: str) -> None:
        self._write(4, "debug: ", message)

    @property
    def debugging(self) -> bool:
        return self.level >= 4


def _command(args: argparse.Namespace) -> Callable[[argparse.Namespace, Log], int]:
    if args.command in ("create-qscloud", "create-qseow"):
        from . import _create

        return _create.create_qscloud if args.command == "create-qscloud" else _create.create_qseow
    if args.command in ("decode", "check"):
        from . import _inspect

        return _inspect.decode if args.command == "decode" else _inspect.check
    from . import _cert

    return {"create": _cert.create, "show": _cert.show, "jwks": _cert.jwks, "check": _cert.check}[args.cert_command]


def run(args: argparse.Namespace) -> int:
    """Run the command in ``args``; return its exit code. Expected failures print one line, no traceback."""
    log = Log(args.loglevel)

    def show_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
        log.warn(str(message))

    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)
        warnings.showwarning = show_warning
        try:
            return _command(args)(args, log)
        except UsageError as exc:
            log.error(str(exc))
            return EXIT_USAGE
        except InvalidValueError as exc:
            log.error(str(exc))
            return EXIT_USAGE
        except VerificationError as exc:
            log.error(str(exc))
            return EXIT_VERIFY
        except QsJwtError as exc:
            log.error(str(exc))
            return EXIT_API if isinstance(exc, QlikApiError) else EXIT_ERROR
        except BrokenPipeError:
            _silence_stdout()
            return EXIT_ERROR
        except KeyboardInterrupt:
            log.error("interrupted")
            return 130
        except Exception as exc:  # a bug: say so in one line; the traceback only at debug level
            if log.debugging:
                import traceback

                traceback.print_exc(file=sys.stderr)
            log.error(f"internal error ({type(exc).__name__}); run with --loglevel debug for details "
                      "and report it")
            return EXIT_ERROR


def _silence_stdout() -> None:
    """After a closed pipe, point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
