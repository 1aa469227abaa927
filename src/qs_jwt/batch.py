"""Bulk minting: a token for every row of a CSV or JSON Lines file, streamed, in parallel processes.

Three stages, each incremental, so memory stays flat however many rows there are::

    with open("users.csv", "rb") as source, OutputFile("tokens.jsonl") as out:
        rows = read_rows(source, "csv", settings)              # the header is checked here
        summary = write_results(mint_rows(factory, rows, workers=4), out, "jsonl")
    print(summary)                                             # 3 rows: 2 tokens, 1 error (line 3)

:func:`read_rows` reads one row at a time (a CSV file with a header row, or JSON Lines) and checks the
columns before anything is minted. :func:`mint_rows` signs them, in input order, in worker processes
(the ``spawn`` start method everywhere, so it behaves alike on Linux, macOS and Windows): each worker
unpickles the factory once, with its key, when it starts; rows travel in chunks, and at most two
chunks per worker are in flight, so neither side queues up rows. :func:`write_results` writes one JSON
line or CSV row per result and returns a :class:`BatchSummary`. :class:`OutputFile` makes the output
appear under its name only when the whole run succeeded, with mode 0600.

A bad row never stops a run: it becomes a :class:`Result` with an ``error`` that names the row's field
(``useremail_verified: expected true or false ...``), never a token or key. Errors that concern the whole
run (an unknown column, a bad argument) raise :class:`~qs_jwt.errors.InvalidValueError`; others raise
:class:`~qs_jwt.errors.QsJwtError`. The module prints nothing and reads no environment variable.

The worker processes re-import the program's main module, as ``multiprocessing`` does with ``spawn``: a
script that calls :func:`mint_rows` with more than one worker needs the usual
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import os
import pickle
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _encode_string, encode_basestring_ascii as _encode_ascii
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from . import _clock, _files, _platform
from ._jws import b64url_encode, dumps_compact
from .claims import (
    QSCLOUD_RESERVED_CLAIMS,
    REGISTERED_CLAIMS,
    QsCloudSettings,
    QsCloudUser,
    QseowSettings,
    QseowUser,
    parse_claim_assignment,
    qscloud_payload,
    qseow_payload,
)
from .errors import (
    KEY_DAMAGED,
    ArgumentTypeError,
    FileWriteError,
    InvalidValueError,
    KeyLoadError,
    OutputExistsError,
    QsJwtError,
)
from .redact import redact
from .tokens import QsCloudTokenFactory, QseowTokenFactory

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor
    from typing import TypeAlias

    #: a factory :func:`mint_rows` signs with
    Factory: TypeAlias = QsCloudTokenFactory | QseowTokenFactory
    #: the settings :func:`read_rows` checks the columns against
    Settings: TypeAlias = QsCloudSettings | QseowSettings

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "INPUT_FORMATS",
    "MAX_LINE_BYTES",
    "MAX_WORKERS",
    "OUTPUT_FORMATS",
    "QSCLOUD_COLUMNS",
    "QSEOW_COLUMNS",
    "TEMP_PREFIX",
    "TEMP_SUFFIX",
    "BatchMinter",
    "BatchSummary",
    "OutputFile",
    "Result",
    "Row",
    "RowReader",
    "default_workers",
    "input_format_for",
    "mint_rows",
    "output_format_for",
    "read_rows",
    "subject_field",
    "write_results",
]

#: input formats: a CSV file with a header row, or JSON Lines (one object per line)
INPUT_FORMATS = ("csv", "jsonl")
#: output formats: JSON Lines (one object per line) or CSV with a header row
OUTPUT_FORMATS = ("jsonl", "csv")
#: the per-user columns of a Qlik Cloud batch (``groups``: ``;``-separated in CSV, an array in JSON Lines)
QSCLOUD_COLUMNS = ("sub", "username", "useremail", "useremail_verified", "groups")
#: the per-user columns of a QSEoW batch
QSEOW_COLUMNS = ("userid", "userdir", "username", "useremail", "groups")
#: rows per task sent to a worker process, for a 2048-bit key (larger keys: fewer, so a task lasts about as long)
DEFAULT_CHUNK_SIZE = 256
#: longest input line read; a longer one is an error row (and is not held in memory)
MAX_LINE_BYTES = 1024 * 1024
#: most worker processes (Windows allows at most 61)
MAX_WORKERS = 61 if _platform.IS_WINDOWS else 256
#: how many line numbers of failed rows a :class:`BatchSummary` keeps
MAX_ERROR_LINES = 10

_SUFFIXES_IN = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_SUFFIXES_OUT = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
# column -> the user object's parameter
_QSCLOUD_PARAMS = {"sub": "sub", "username": "name", "useremail": "email", "useremail_verified": "email_verified",
                   "groups": "groups"}
_QSEOW_PARAMS = {"userid": "user_id", "userdir": "user_directory", "username": "name", "useremail": "email",
                 "groups": "groups"}
# claims that have a column of their own
_USE_COLUMN = {"sub": "sub", "name": "username", "email": "useremail", "email_verified": "useremail_verified",
               "groups": "groups"}
#: chunks in flight per worker: one being signed, one waiting
_IN_FLIGHT_PER_WORKER = 2
#: the payload's JSON as _jws.dumps_compact makes it (json.dumps with these arguments), made once
_COMPACT = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_WRITE_EVERY = 256


def input_format_for(path: str) -> str | None:
    """``"csv"`` for ``*.csv``, ``"jsonl"`` for ``*.jsonl`` and ``*.ndjson`` (any case), else None."""
    return _SUFFIXES_IN.get(os.path.splitext(path)[1].lower())


def output_format_for(path: str) -> str | None:
    """``"csv"`` for ``*.csv``, ``"jsonl"`` for ``*.jsonl`` and ``*.ndjson`` (any case), else None."""
    return _SUFFIXES_OUT.get(os.path.splitext(path)[1].lower())


def default_workers() -> int:
    """The number of CPUs this process may run on (its affinity mask where there is one), at least 1."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        with contextlib.suppress(OSError):
            return max(1, len(affinity(0)))
    return max(1, os.cpu_count() or 1)


def subject_field(target: Factory | Settings) -> str:
    """The output field that names a row's user: ``"sub"`` for Qlik Cloud, ``"userid"`` for QSEoW."""
    if isinstance(target, QsCloudTokenFactory | QsCloudSettings):
        return "sub"
    if isinstance(target, QseowTokenFactory | QseowSettings):
        return "userid"
    raise ArgumentTypeError(f"expected a token factory or settings, not {type(target).__name__}", param="target")


# --- rows -------------------------------------------------------------------------------------------


class Row(NamedTuple):
    """One input row: its line number (CSV: the header is line 1) and its values, or why it cannot be read.

    ``values`` maps columns to what the user object takes: text, ``groups`` as a list, extra claims as
    JSON values. Empty CSV cells and JSON ``null`` are left out.
    """

    line: int
    values: dict[str, Any]
    error: str | None = None


class Result(NamedTuple):
    """One output row: a token for the row's user (``subject``: its ``sub`` or user id), or an error."""

    line: int
    subject: str | None = None
    token: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class _Schema:
    """What a batch's rows may hold."""

    columns: tuple[str, ...]
    required: tuple[tuple[str, ...], ...]  # a CSV header needs one column of each group
    reserved: frozenset[str]  # claim names an extra column may not have
    shared: frozenset[str]  # claims every token carries (the settings' extra claims)


def _schema(settings: Settings) -> _Schema:
    if isinstance(settings, QsCloudSettings):
        return _Schema(QSCLOUD_COLUMNS, (("sub", "useremail"),), QSCLOUD_RESERVED_CLAIMS,
                       frozenset(settings.extra_claims))
    if isinstance(settings, QseowSettings):
        reserved = settings.claim_names() | REGISTERED_CLAIMS | {"name", "email"}
        return _Schema(QSEOW_COLUMNS, (("userid",), ("userdir",)), frozenset(reserved),
                       frozenset(settings.extra_claims))
    raise ArgumentTypeError(f"expected QsCloudSettings or QseowSettings, not {type(settings).__name__}",
                            param="settings")


class _Lines:
    """The lines of a binary stream, each at most ``MAX_LINE_BYTES``: a longer line is skipped to its end
    and its number recorded (it becomes an error row), so that no line is ever held whole."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.number = 0
        self.too_long: set[int] = set()

    def read(self) -> bytes | None:
        """The next line with its line break, ``b"\\n"`` for one that is too long, None at the end."""
        try:
            line = self._stream.readline(MAX_LINE_BYTES + 1)
        except (OSError, ValueError) as exc:
            raise QsJwtError(f"cannot read the input ({_reason(exc)})") from None
        if not line:
            return None
        self.number += 1
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            self.too_long.add(self.number)
            while line and not line.endswith(b"\n"):
                line = self._stream.readline(MAX_LINE_BYTES)
            return b"\n"
        return line


def _text(line: bytes, first: bool) -> str:
    text = line.decode("utf-8", "surrogateescape")  # invalid bytes reach the field checks, which name the field
    return text.removeprefix("\ufeff") if first else text


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) and exc.strerror else None) or type(exc).__name__


def _shown(name: str) -> str:
    return repr(name) if len(name) <= 60 else repr(name[:60] + "...")


class RowReader(Iterator[Row]):
    """The rows of a CSV (header row) or JSON Lines stream, read one at a time.

    Made by :func:`read_rows`, which reads the CSV header (or the first JSON line) and checks its
    columns before it returns: an unknown column raises :class:`InvalidValueError` (param ``columns``)
    unless ``extra_columns_as_claims``, which sends other columns as claims. In JSON Lines, a later
    line with an unknown key is an error row. ``columns`` holds the columns the header named.
    """

    def __init__(self, stream: IO[bytes], fmt: str, settings: Settings, *,
                 extra_columns_as_claims: bool = False) -> None:
        if fmt not in INPUT_FORMATS:
            raise InvalidValueError(f"use one of {', '.join(INPUT_FORMATS)}", param="fmt")
        if not isinstance(extra_columns_as_claims, bool):
            raise ArgumentTypeError("expected True or False", param="extra_columns_as_claims")
        self.format = fmt
        self._schema = _schema(settings)
        self._extra = extra_columns_as_claims
        self._lines = _Lines(stream)
        self.columns: tuple[str, ...] = ()
        self._rows: Iterator[Row] = self._csv() if fmt == "csv" else self._jsonl()
        self._pending: Row | None = next(self._rows, None)  # reads and checks the header

    def __iter__(self) -> RowReader:
        return self

    def __next__(self) -> Row:
        if self._pending is not None:
            row, self._pending = self._pending, None
            return row
        return next(self._rows)

    # --- columns

    def _check_columns(self, names: Sequence[str], line: int, *, header: bool) -> None:
        """Raise InvalidValueError for a header (or first JSON line) the batch cannot take."""
        where = f"line {line}: "
        seen: set[str] = set()
        for index, name in enumerate(names, 1):
            if not name.strip():
                raise InvalidValueError(f"{where}column {index} has no name", param="columns")
            if name in seen:
                raise InvalidValueError(f"{where}the column {_shown(name)} appears twice", param="columns")
            seen.add(name)
            if self._unknown(name):
                raise InvalidValueError(
                    f"{where}unknown column {_shown(name)}: the columns are {', '.join(self._schema.columns)} "
                    "({extra_columns_as_claims} sends other columns as claims)",
                    param="columns", mentions=("extra_columns_as_claims",))
            problem = self._claim_problem(name, "column")
            if problem is not None:
                raise InvalidValueError(where + problem, param="columns", mentions=("extra_claims",))
        if header:
            for group in self._schema.required:
                if not seen.intersection(group):
                    raise InvalidValueError(
                        f"{where}a {' or a '.join(group)} column is required"
                        + (" (the sub defaults to the email)" if "useremail" in group else ""), param="columns")

    def _unknown(self, name: str) -> bool:
        return not self._extra and name not in self._schema.columns

    def _claim_problem(self, name: str, what: str) -> str | None:
        """Why the extra column ``name`` cannot be a claim, or None (may name ``{extra_claims}``)."""
        schema = self._schema
        if name in schema.columns:
            return None
        if name in schema.reserved:
            use = _USE_COLUMN.get(name)
            hint = f"; the {what} {use} sets it" if use in schema.columns else ""
            return f"the {what} {_shown(name)} cannot be a claim: the token sets {_shown(name)} itself{hint}"
        if name in schema.shared:
            return f"the {what} {_shown(name)} is a claim that {{extra_claims}} already gives every token"
        if "=" in name:
            return f"the {what} {_shown(name)} cannot be a claim: its name contains '='"
        return None

    # --- CSV

    def _csv(self) -> Iterator[Row]:
        lines = self._lines
        first = True

        def text_lines() -> Iterator[str]:
            nonlocal first
            while (line := lines.read()) is not None:
                yield _text(line, first)
                first = False

        reader = csv.reader(text_lines())
        header: list[str] | None = None
        kinds: list[int] = []
        while True:
            start = lines.number + 1
            try:
                cells = next(reader, None)
            except csv.Error as exc:
                if header is None:
                    raise InvalidValueError(f"line {start}: the header is not valid CSV ({exc})",
                                            param="columns") from None
                yield Row(start, {}, f"not valid CSV ({exc})")
                continue
            if cells is None:
                return
            cut = [n for n in range(start, lines.number + 1) if n in lines.too_long] if lines.too_long else None
            if cut:
                lines.too_long.difference_update(cut)
                if header is None:
                    raise InvalidValueError(f"line {start}: the header is longer than {MAX_LINE_BYTES} bytes",
                                            param="columns")
                yield Row(start, {}, f"the line is longer than {MAX_LINE_BYTES} bytes")
                continue
            cells = [cell.strip() for cell in cells]
            if not any(cells):
                continue  # a blank line
            if header is None:
                self._check_columns(cells, start, header=True)
                header = cells
                self.columns = tuple(header)
                # how each column's cells are read: 0 as text, 1 as ';'-separated groups, 2 as a claim value
                kinds = [1 if name == "groups" else 0 if name in self._schema.columns else 2 for name in header]
                continue
            if len(cells) > len(header):
                yield Row(start, {}, f"{len(cells)} values, but the header has {len(header)} columns")
                continue
            yield self._csv_row(start, header, kinds, cells)

    def _csv_row(self, line: int, header: list[str], kinds: list[int], cells: list[str]) -> Row:
        values: dict[str, Any] = {}
        for name, kind, cell in zip(header, kinds, cells, strict=False):
            if not cell:
                continue
            if not kind:
                values[name] = cell
            elif kind == 1:
                values[name] = [group for group in map(str.strip, cell.split(";")) if group]
            else:
                try:
                    values[name] = parse_claim_assignment(f"{name}={cell}", param="extra_claims")[1]
                except InvalidValueError as exc:
                    reason = exc.reason if exc.reason.startswith(repr(name)) else f"{name}: {exc.reason}"
                    return Row(line, {}, redact(reason))
        return Row(line, values)

    # --- JSON Lines

    def _jsonl(self) -> Iterator[Row]:
        lines = self._lines
        checked = False
        while (raw := lines.read()) is not None:
            number = lines.number
            if number in lines.too_long:
                lines.too_long.discard(number)
                if not checked:
                    raise InvalidValueError(f"line {number}: longer than {MAX_LINE_BYTES} bytes", param="columns")
                yield Row(number, {}, f"the line is longer than {MAX_LINE_BYTES} bytes")
                continue
            if not raw.strip():
                continue
            obj, error = _json_object(raw, first=number == 1)
            if not checked:
                if obj is None:
                    raise InvalidValueError(f"line {number}: {error} (is the input CSV? then give the csv format)",
                                            param="columns")
                self._check_columns(list(obj), number, header=False)
                self.columns = tuple(obj)
                checked = True
            if obj is None:
                yield Row(number, {}, error)
                continue
            yield self._jsonl_row(number, obj)

    def _jsonl_row(self, line: int, obj: dict[str, Any]) -> Row:
        values: dict[str, Any] = {}
        for name, value in obj.items():
            if value is None:
                continue
            if self._unknown(name):
                return Row(line, {}, f"unknown key {_shown(name)}")
            problem = self._claim_problem(name, "key")
            if problem is not None:
                return Row(line, {}, problem.format_map({"extra_claims": "the settings"}))
            if name == "groups" and not isinstance(value, list):
                return Row(line, {}, "groups: expected a JSON array of group names")
            values[name] = value
        return Row(line, values)


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _finite(text: str) -> float:
    number = float(text)
    if number - number != 0.0:
        raise ValueError(text)
    return number


class _Duplicate(ValueError):
    pass


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Duplicate
    return result


def _json_object(raw: bytes, *, first: bool) -> tuple[dict[str, Any] | None, str]:
    """The JSON object on one line, or None and why not."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    if first:
        text = text.removeprefix("\ufeff")
    try:
        obj = json.loads(text, parse_constant=_no_constant, parse_float=_finite, object_pairs_hook=_unique)
    except _Duplicate:
        return None, "a JSON object that repeats a key"
    except RecursionError:
        return None, "JSON nested too deeply"
    except ValueError:
        return None, "not valid JSON"
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    return obj, ""


def read_rows(stream: IO[bytes], fmt: str, settings: Settings, *,
              extra_columns_as_claims: bool = False) -> RowReader:
    """The rows of ``stream`` (binary: a file opened ``"rb"``, ``sys.stdin.buffer``), read incrementally.

    :param fmt: ``"csv"`` (a header row; the header is line 1) or ``"jsonl"`` (one object per line).
    :param settings: the batch's :class:`QsCloudSettings` or :class:`QseowSettings`: they decide the columns
        (:data:`QSCLOUD_COLUMNS`, :data:`QSEOW_COLUMNS`) and which claims an extra column may not set.
    :param extra_columns_as_claims: send other columns as claims (CSV values are parsed as JSON when they are
        valid JSON, else kept as text, as ``--claim`` values are; JSON values are sent as they are).
    :raises InvalidValueError: (param ``columns``) an unknown or duplicate column, a CSV header without the
        columns a token needs, a first JSON line that is not an object; nothing has been minted yet.
    """
    return RowReader(stream, fmt, settings, extra_columns_as_claims=extra_columns_as_claims)


# --- minting ----------------------------------------------------------------------------------------


class _Minter:
    """Rows to results with one factory: in this process, or in a worker holding its own copy.

    A chunk is minted in two passes: every row's user and payload first, then the signatures one after the
    other, then the tokens. RSA signing runs faster back to back than between Python work (its working set
    stays in the CPU's caches): a few per cent more tokens per second than a factory call per row, most with two
    processes on CPUs that share caches. The tokens are the bytes :meth:`Signer.sign_encoded` makes (PKCS#1 v1.5
    is deterministic; a test compares them). A factory whose signer skipped the full key check (it verifies
    every signature instead) is called row by row.
    """

    def __init__(self, factory: Factory) -> None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        self.factory = factory
        self._params: dict[str, str]
        self._required: tuple[str, ...]
        self._user_cls: type[QsCloudUser] | type[QseowUser]
        if isinstance(factory, QsCloudTokenFactory):
            self._params, self._required, self._user_cls = _QSCLOUD_PARAMS, (), QsCloudUser
        else:
            self._params, self._required, self._user_cls = _QSEOW_PARAMS, ("user_id", "user_directory"), QseowUser
        self._columns = {param: column for column, param in self._params.items()}
        self._columns["extra_claims"] = "extra columns"
        settings = factory.settings
        self._head = b64url_encode(dumps_compact(settings.header()))
        self._padding = padding.PKCS1v15()
        algorithms: dict[str, hashes.HashAlgorithm] = {"RS256": hashes.SHA256(), "RS384": hashes.SHA384(),
                                                       "RS512": hashes.SHA512()}
        self._hash = algorithms[settings.algorithm]
        self._two_pass = factory.signer.validated

    def _column(self, param: str) -> str:
        return self._columns.get(param, param)

    def _user(self, values: Mapping[str, Any]) -> QsCloudUser | QseowUser:
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        params = self._params
        for column, value in values.items():
            param = params.get(column)
            if param is None:
                extra[column] = value
            else:
                kwargs[param] = value
        if extra:
            kwargs["extra_claims"] = extra
        for param in self._required:
            if param not in kwargs:
                raise InvalidValueError("a value is required", param=param)
        return self._user_cls(**kwargs)

    def _error(self, line: int, exc: InvalidValueError) -> Result:
        return Result(line, error=redact(exc.render(self._column)))

    def mint(self, rows: Sequence[tuple[int, dict[str, Any], str | None]], now: float | None) -> list[Result]:
        return [Result._make(result) for result in self.mint_tuples(rows, now)]

    def mint_tuples(self, rows: Sequence[tuple[int, dict[str, Any], str | None]],
                    now: float | None) -> list[tuple[int, str | None, str | None, str | None]]:
        """The results as plain ``(line, subject, token, error)`` tuples (what a worker sends back)."""
        if not self._two_pass:
            return [tuple(result) for result in self._one_by_one(rows, now)]  # type: ignore[misc]
        settings = self.factory.settings
        head = self._head
        clock = _clock.now
        encode = _COMPACT.encode
        qscloud = isinstance(settings, QsCloudSettings)
        results: list[tuple[int, str | None, str | None, str | None]] = []
        todo: list[tuple[int, int, str, str]] = []  # index in results, line, subject, signing input
        for line, values, error in rows:
            if error is not None:
                results.append((line, None, None, error))
                continue
            try:
                user = self._user(values)
                iat = int(clock() if now is None else now)
                if qscloud:
                    payload = qscloud_payload(settings, user, iat=iat)  # type: ignore[arg-type]
                    subject = user.sub  # type: ignore[union-attr]
                else:
                    payload = qseow_payload(settings, user, iat=iat)  # type: ignore[arg-type]
                    subject = user.user_id  # type: ignore[union-attr]
                try:  # what Signer.sign_encoded does: compact UTF-8 JSON, no NaN, no lone surrogates
                    body = b64url_encode(encode(payload).encode("utf-8"))
                except (TypeError, ValueError) as exc:
                    raise InvalidValueError(f"the token cannot be serialised: {exc}", param="payload") from None
            except InvalidValueError as exc:
                results.append((line, None, None, redact(exc.render(self._column))))
                continue
            todo.append((len(results), line, str(subject), f"{head}.{body}"))
            results.append((line, None, None, None))  # replaced below
        key, pad, algorithm = self.factory.signer.key, self._padding, self._hash
        try:
            signatures = [key.sign(signing_input.encode("ascii"), pad, algorithm) for *_, signing_input in todo]
        except ValueError:
            raise KeyLoadError("the private key produced a signature its public key rejects; the key is damaged",
                               code=KEY_DAMAGED) from None
        for (index, line, subject, signing_input), signature in zip(todo, signatures, strict=True):
            results[index] = (line, subject, f"{signing_input}.{b64url_encode(signature)}", None)
        return results

    def _one_by_one(self, rows: Sequence[tuple[int, dict[str, Any], str | None]],
                    now: float | None) -> list[Result]:
        factory = self.factory
        results: list[Result] = []
        for line, values, error in rows:
            if error is not None:
                results.append(Result(line, error=error))
                continue
            try:
                user = self._user(values)
                token = factory.create(user, now=now).token  # type: ignore[arg-type]
            except InvalidValueError as exc:
                results.append(self._error(line, exc))
                continue
            results.append(Result(line, user.sub if isinstance(user, QsCloudUser) else user.user_id, token))
        return results


# the worker process's minter, set once by _init_worker
_WORKER: _Minter | None = None
_WORKER_ERROR: str | None = None


def _init_worker(state: bytes, ready: Any) -> None:
    """Pool initializer: ignore Ctrl-C (the parent handles it), unpickle the factory once, report ready.

    Never raises: a failure is kept and reported by the first task, as an error without a traceback.
    """
    import signal

    global _WORKER, _WORKER_ERROR
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        factory = pickle.loads(state)  # noqa: S301 - the parent's own pickle of its own factory
        _WORKER = _Minter(factory)
    except Exception as exc:
        _WORKER_ERROR = f"a signing process could not load the key ({type(exc).__name__}: {redact(str(exc))})"
    finally:
        with contextlib.suppress(Exception):
            ready.release()


def _mint_chunk(rows: list[tuple[int, dict[str, Any], str | None]],
                now: float | None) -> list[tuple[int, str | None, str | None, str | None]]:
    """A worker's task: one chunk of rows, in and out as plain tuples (they pickle at a third of the cost)."""
    if _WORKER is None:
        raise QsJwtError(_WORKER_ERROR or "the signing process was not initialised")
    return _WORKER.mint_tuples(rows, now)


class BatchMinter:
    """Signs rows with one factory, in input order, in ``workers`` processes (1: in this process).

    A context manager: the worker processes start with the first chunk that needs them and stop when the
    block ends (at once, when it ends with an exception). Each worker loads the key once, from the pickled
    factory given to its initializer. An input of fewer than ``chunk_size`` rows is signed in this process,
    which costs less than starting a worker.

    :param workers: processes that sign (default: :func:`default_workers`).
    :param chunk_size: rows per task (default: :data:`DEFAULT_CHUNK_SIZE` for a 2048-bit key, 128 for 3072 bits,
        64 for 4096: a task takes about a fifth of a second).
    """

    def __init__(self, factory: Factory, *, workers: int | None = None, chunk_size: int | None = None) -> None:
        if not isinstance(factory, QsCloudTokenFactory | QseowTokenFactory):
            raise ArgumentTypeError(f"expected QsCloudTokenFactory or QseowTokenFactory, not "
                                    f"{type(factory).__name__}", param="factory")
        self.workers = default_workers() if workers is None else _whole(workers, "workers", 1, MAX_WORKERS)
        if chunk_size is None:
            bits = factory.signer.key.key_size
            chunk_size = DEFAULT_CHUNK_SIZE if bits <= 2048 else DEFAULT_CHUNK_SIZE // 2 if bits <= 3072 else \
                DEFAULT_CHUNK_SIZE // 4
        self.chunk_size = _whole(chunk_size, "chunk_size", 1, 100_000)
        self._minter = _Minter(factory)
        self._executor: ProcessPoolExecutor | None = None
        self._ready: Any = None

    def __enter__(self) -> BatchMinter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(abort=exc_type is not None)

    def start(self, *, wait: bool = True, timeout: float = 300.0) -> None:
        """Start the worker processes now (else the first chunk starts them); with ``wait``, return when every
        worker has loaded the key (a benchmark's clock starts after this).

        :raises QsJwtError: the processes cannot be started, or are not ready within ``timeout`` seconds.
        """
        if self.workers == 1:
            return
        executor = self._pool()
        from concurrent.futures import wait as wait_for

        probes = [executor.submit(_ready_probe) for _ in range(self.workers)]  # one process each, started on demand
        if not wait:
            return
        for _ in range(self.workers):
            if not self._ready.acquire(timeout=timeout):
                raise QsJwtError(f"the signing processes did not start within {timeout:g} s")
        wait_for(probes, timeout=timeout)

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            context = multiprocessing.get_context("spawn")  # the same on every system; no fork of a threaded parent
            state = pickle.dumps(self._minter.factory, protocol=pickle.HIGHEST_PROTOCOL)
            try:
                self._ready = context.Semaphore(0)
                self._executor = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker,
                                                     initargs=(state, self._ready))
            except (OSError, ValueError) as exc:
                raise QsJwtError(f"cannot start the signing processes ({_reason(exc)})") from None
        return self._executor

    def mint(self, rows: Iterable[Row], *, now: float | None = None) -> Iterator[Result]:
        """The results of ``rows``, in their order, as they are ready.

        :param now: the issue time of every token (default: the clock of the process that signs it, when it
            signs it).
        :raises QsJwtError: a worker process ended unexpectedly, or the key failed (a damaged key).
        """
        if now is not None:
            now = _clock.resolve(now)
        chunks = _chunks(rows, self.chunk_size)
        first = next(chunks, None)
        if first is None:
            return
        if self.workers == 1 or len(first) < self.chunk_size:
            yield from self._minter.mint(first, now)
            for chunk in chunks:
                yield from self._minter.mint(chunk, now)
            return
        executor = self._pool()
        limit = self.workers * _IN_FLIGHT_PER_WORKER
        pending: deque[Future[list[tuple[int, str | None, str | None, str | None]]]] = deque(
            [self._submit(executor, first, now)])
        for chunk in chunks:
            pending.append(self._submit(executor, chunk, now))
            while len(pending) >= limit:
                yield from _collect(pending.popleft())
        while pending:
            yield from _collect(pending.popleft())

    @staticmethod
    def _submit(executor: ProcessPoolExecutor, chunk: list[Row],
                now: float | None) -> Future[list[tuple[int, str | None, str | None, str | None]]]:
        try:
            return executor.submit(_mint_chunk, [tuple(row) for row in chunk], now)  # type: ignore[misc]
        except RuntimeError as exc:  # BrokenProcessPool, or shut down
            raise QsJwtError(f"the signing processes stopped ({exc})") from None

    def close(self, *, abort: bool = False) -> None:
        """Stop the worker processes: after their work (default), or at once (``abort``)."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        if not abort:
            executor.shutdown(wait=True)
            return
        processes = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        terminate = getattr(executor, "terminate_workers", None)  # Python 3.14
        if terminate is not None:
            with contextlib.suppress(Exception):
                terminate()
        for process in processes:
            with contextlib.suppress(Exception):
                process.terminate()
        for process in processes:
            with contextlib.suppress(Exception):
                process.join(5)


def _ready_probe() -> bool:
    return True


def _collect(future: Future[list[tuple[int, str | None, str | None, str | None]]]) -> list[Result]:
    """A chunk's results; waits in short steps so that Ctrl-C is seen on every system."""
    from concurrent.futures import wait
    from concurrent.futures.process import BrokenProcessPool

    while not future.done():
        wait((future,), timeout=0.25)
    try:
        return [Result._make(result) for result in future.result()]
    except BrokenProcessPool:
        raise QsJwtError("a signing process ended unexpectedly (killed, or out of memory?)") from None


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _whole(value: object, param: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentTypeError(f"expected a whole number, not {type(value).__name__}", param=param)
    if not low <= value <= high:
        raise InvalidValueError(f"expected a whole number from {low} to {high}", param=param)
    return value


def mint_rows(factory: Factory, rows: Iterable[Row], *, workers: int | None = None,
              chunk_size: int | None = None, now: float | None = None) -> Generator[Result, None, None]:
    """A :class:`Result` for every row, in input order, signed in ``workers`` processes (see
    :class:`BatchMinter`, which this runs and closes). The arguments are checked at once; the processes stop
    when the generator is exhausted, or at once when it is closed.

    :param now: the issue time of every token (default: the signing process's clock when it signs).
    """
    minter = BatchMinter(factory, workers=workers, chunk_size=chunk_size)
    if now is not None:
        now = _clock.resolve(now)
    return _run(minter, rows, now)


def _run(minter: BatchMinter, rows: Iterable[Row], now: float | None) -> Generator[Result, None, None]:
    completed = False
    try:
        yield from minter.mint(rows, now=now)
        completed = True
    finally:
        minter.close(abort=not completed)


# --- output -----------------------------------------------------------------------------------------


@dataclass
class BatchSummary:
    """What a batch produced. ``str()`` gives ``"100000 rows: 99998 tokens, 2 errors (lines 17, 20)"``."""

    rows: int = 0
    tokens: int = 0
    errors: int = 0
    #: the line numbers of the first failed rows (at most MAX_ERROR_LINES)
    error_lines: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every row got a token."""
        return self.errors == 0

    def add(self, result: Result) -> None:
        self.rows += 1
        if result.error is None:
            self.tokens += 1
            return
        self.errors += 1
        if len(self.error_lines) < MAX_ERROR_LINES:
            self.error_lines.append(result.line)

    def __str__(self) -> str:
        def count(n: int, word: str) -> str:
            return f"{n} {word}{'' if n == 1 else 's'}"

        text = f"{count(self.rows, 'row')}: {count(self.tokens, 'token')}, {count(self.errors, 'error')}"
        if self.error_lines:
            more = self.errors - len(self.error_lines)
            lines = ", ".join(map(str, self.error_lines)) + (f" and {more} more" if more else "")
            text += f" ({'line' if self.errors == 1 else 'lines'} {lines})"
        return text


def _json_text(value: str) -> str:
    text: str = _encode_string(value)
    return text if text.isprintable() else _encode_ascii(value)  # control and bidi characters as \uXXXX


class _Parts(list[str]):
    """A csv.writer target that collects the rows' text."""

    def write(self, text: str) -> None:
        self.append(text)


def write_results(results: Iterable[Result], stream: IO[bytes], fmt: str = "jsonl", *,
                  id_field: str = "sub") -> BatchSummary:
    """Write one line per result to the binary ``stream`` (UTF-8) and return the summary.

    JSON Lines: ``{"line": 2, "sub": "alice", "token": "eyJ..."}`` or ``{"line": 3, "error": "..."}``.
    CSV: the header ``line,sub,token,error``, then one row per result. ``id_field`` is the name of the
    subject's field: ``"sub"``, or ``"userid"`` for QSEoW (see :func:`subject_field`).

    :raises FileWriteError: the stream cannot be written.
    """
    if fmt not in OUTPUT_FORMATS:
        raise InvalidValueError(f"use one of {', '.join(OUTPUT_FORMATS)}", param="fmt")
    if id_field not in ("sub", "userid"):
        raise InvalidValueError("expected 'sub' or 'userid'", param="id_field")
    summary = BatchSummary()
    parts = _Parts()
    line: Callable[[Result], None]
    if fmt == "csv":
        writer = csv.writer(parts, lineterminator="\n")
        writer.writerow(["line", id_field, "token", "error"])

        def line(result: Result) -> None:
            writer.writerow([result.line, result.subject or "", result.token or "", result.error or ""])
    else:
        def line(result: Result) -> None:
            if result.error is None:
                parts.append(f'{{"line": {result.line}, "{id_field}": {_json_text(result.subject or "")}, '
                             f'"token": "{result.token}"}}\n')
            else:
                parts.append(f'{{"line": {result.line}, "error": {_json_text(result.error)}}}\n')

    add = summary.add
    for result in results:
        add(result)
        line(result)
        if len(parts) >= _WRITE_EVERY:
            _write(stream, parts)
    _write(stream, parts)
    try:
        stream.flush()
    except (OSError, ValueError) as exc:
        raise FileWriteError(_stream_name(stream), _reason(exc)) from None
    return summary


def _write(stream: IO[bytes], parts: _Parts) -> None:
    if not parts:
        return
    data = "".join(parts).encode("utf-8", "surrogateescape")
    parts.clear()
    try:
        stream.write(data)
    except BrokenPipeError:
        raise
    except (OSError, ValueError) as exc:
        raise FileWriteError(_stream_name(stream), _reason(exc)) from None


def _stream_name(stream: IO[bytes]) -> str:
    name = getattr(stream, "name", None)
    return name if isinstance(name, str) else "the output"


#: the temporary file of an OutputFile: beside the target, and not a name the key-file recovery removes
TEMP_PREFIX = ".qs-jwt-batch-"
TEMP_SUFFIX = ".partial"


class OutputFile:
    """A binary output file that appears under ``path`` only when the ``with`` block ends without an
    exception, whole, with mode 0600 (it holds credentials).

    The data goes to a temporary file beside the target (``.qs-jwt-batch-*.partial``, mode 0600), removed on
    any exception (only a killed process, SIGKILL, can leave it behind). At the end it is flushed to disk and
    linked into place, never replacing an existing file unless ``force`` (then it is renamed over it). An
    existing ``path`` is refused already when the object is made, before any work is done.

    :raises OutputExistsError: ``path`` exists and ``force`` is false.
    :raises FileWriteError: the folder is missing or not writable, ``path`` is a folder or (with ``force``)
        a symbolic link, or writing fails.
    """

    def __init__(self, path: str, *, force: bool = False) -> None:
        if not isinstance(path, str) or not path:
            raise ArgumentTypeError("expected a file path", param="path")
        self.path = path
        self.force = force
        self._file: IO[bytes] | None = None
        self._temp: str | None = None
        _check_output(path, force=force)

    def __enter__(self) -> IO[bytes]:
        import tempfile

        folder = os.path.dirname(os.path.abspath(self.path))
        try:
            fd, self._temp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=folder)  # O_EXCL, 0600
        except OSError as exc:
            raise FileWriteError(self.path, _reason(exc)) from None
        try:
            _platform.set_file_mode(fd, self._temp, 0o600)
            self._file = os.fdopen(fd, "wb", buffering=1 << 16)
        except BaseException as exc:
            os.close(fd)
            self._discard()
            if isinstance(exc, OSError):
                raise FileWriteError(self.path, _reason(exc)) from None
            raise
        return self._file

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self._commit()
            return
        self._discard()
        if isinstance(exc, FileWriteError) and exc.path != self.path:  # the stream's error, named by the target
            raise FileWriteError(self.path, exc.reason) from None

    def _commit(self) -> None:
        handle, temp = self._file, self._temp
        assert handle is not None and temp is not None
        try:
            try:
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()  # before the rename: Windows cannot rename an open file
                if self.force:
                    os.replace(temp, self.path)
                else:
                    _files._link_no_clobber(temp, self.path)  # refuses a file that appeared meanwhile
            except OSError as exc:
                raise FileWriteError(self.path, _reason(exc)) from None
        except BaseException:
            self._discard()
            raise
        self._file = self._temp = None
        _files._fsync_folder(os.path.dirname(os.path.abspath(self.path)))

    def _discard(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            with contextlib.suppress(OSError, ValueError):
                handle.close()
        temp, self._temp = self._temp, None
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def _check_output(path: str, *, force: bool) -> None:
    try:
        if os.path.isdir(path):
            raise FileWriteError(path, "is a directory")
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise FileWriteError(path, f"folder {folder} does not exist; create it first")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise FileWriteError(path, f"folder {folder} is not writable")
        if os.path.lexists(path):
            if not force:
                raise OutputExistsError([path])
            if os.path.islink(path):
                raise FileWriteError(path, "is a symbolic link; refusing to replace it")
    except (ValueError, TypeError):  # NUL characters
        raise FileWriteError(path, "is not a valid file name") from None
