"""Run a parsed command: messages on stderr, and the library's exceptions mapped to exit codes."""

from __future__ import annotations

import argparse
import os
import sys
import unicodedata
from collections.abc import Callable
from typing import Any

from ..errors import InvalidValueError, QlikApiError, QsJwtError, VerificationError
from ..redact import redact
from ._common import LOG_LEVELS, PROG, ExitCode, OutputError, UsageError, flag_for

#: character categories that can drive a terminal or forge a line: controls, format (bidi overrides),
#: surrogates, private use, unassigned, and the line and paragraph separators
_UNSAFE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


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


def clean_message(text: str) -> str:
    """A message line as it may reach the terminal: secrets redacted, unsafe characters escaped."""
    return safe_text(redact(text))


class Log:
    """Messages on stderr, filtered by level. Errors and warnings are redacted as a last line of defence."""

    def __init__(self, level: str = "info", stream: Any = None) -> None:
        self.level = LOG_LEVELS.get(level, 2)
        self.stream = stream if stream is not None else sys.stderr

    def _write(self, threshold: int, label: str, message: str, *, redacted: bool = True) -> None:
        if self.level >= threshold:
            text = f"{PROG}: {label}{clean_message(message) if redacted else safe_text(message)}\n"
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError, AttributeError):
                pass

    def error(self, message: str) -> None:
        self._write(0, "error: ", message)

    def warn(self, message: str) -> None:
        self._write(1, "warning: ", message)

    def info(self, message: str) -> None:
        self._write(2, "", message, redacted=False)

    def verbose(self, message: str) -> None:
        self._write(3, "", message, redacted=False)

    def debug(self, message: str) -> None:
        self._write(4, "debug: ", message)

    def warnings(self, warnings: tuple[str, ...] | list[str]) -> None:
        for warning in warnings:
            self.warn(warning)

    @property
    def debugging(self) -> bool:
        return self.level >= 4


def exit_code_for(exc: QsJwtError) -> ExitCode:
    """The exit code of a library error: the one table of the command line."""
    if isinstance(exc, InvalidValueError):
        return ExitCode.USAGE
    if isinstance(exc, VerificationError):
        return ExitCode.VERIFY
    if isinstance(exc, QlikApiError):
        return ExitCode.API
    return ExitCode.ERROR


def message_for(exc: QsJwtError, command: str | None) -> str:
    """A library error in the command line's words: parameters named as this command's options."""
    if isinstance(exc, InvalidValueError):
        return exc.render(lambda param: flag_for(param, command))
    return str(exc)


#: a command: the parsed arguments and the log in, the exit code out
Command = Callable[[argparse.Namespace, Log], int]


def run(command: Command, args: argparse.Namespace) -> int:
    """Run ``command``; return its exit code. Expected failures print one line, no traceback."""
    log = Log(args.loglevel)
    for warning in getattr(args, "profile_warnings", ()):
        log.warn(warning)
    code = _run(command, args, log)
    injected = getattr(args, "injected", {})
    if code == ExitCode.USAGE and injected:
        log.info(f"values given by the environment or a profile: {', '.join(injected.values())}")
    return code


def _run(command: Command, args: argparse.Namespace, log: Log) -> int:
    try:
        return command(args, log)
    except UsageError as exc:
        log.error(str(exc))
        return ExitCode.USAGE
    except OutputError as exc:
        log.error(str(exc))
        silence_stdout()
        return ExitCode.ERROR
    except QsJwtError as exc:
        log.error(message_for(exc, getattr(args, "command_path", args.command)))
        return exit_code_for(exc)
    except BrokenPipeError:
        silence_stdout()
        return ExitCode.ERROR
    except KeyboardInterrupt:
        log.error("interrupted")
        return ExitCode.INTERRUPTED
    except Exception as exc:  # a bug: say so in one line; the traceback only at debug level
        if log.debugging:
            import traceback

            log.debug(traceback.format_exc())
        log.error(f"internal error ({type(exc).__name__}); run with --loglevel debug for details "
                  "and report it")
        return ExitCode.ERROR


def silence_stdout() -> None:
    """After a closed pipe, point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
