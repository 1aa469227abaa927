"""``batch qscloud`` and ``batch qseow``: a token for every row of a CSV or JSON Lines file.

A thin layer over :mod:`qs_jwt.batch`. The parser part imports only the standard library (it runs at start-up
when the command list is built); the library is imported when the command runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

TYPE_CHECKING = False  # this module is imported to list the command: typing would cost start-up time
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

    from ..batch import BatchSummary, OutputFile, Result, RowReader
    from ..claims import QsCloudSettings, QseowSettings
    from ..tokens import QsCloudTokenFactory, QseowTokenFactory
    from ._run import Log

#: the progress line appears when a run has taken this long (seconds) and stderr is a terminal
PROGRESS_AFTER = 1.0
#: and is redrawn at most this often
PROGRESS_EVERY = 0.25
#: error rows also shown on stderr, at most
SHOWN_ERRORS = 10
MAX_WORKERS_OPTION = 256

#: the options the library's parameters are set with, where the shared table does not name them
_BATCH_FLAGS = {"columns": "--input", "extra_columns_as_claims": "--extra-columns-as-claims", "workers": "--workers",
                "fmt": "--input-format", "path": "--output", "extra_claims": "--claim"}

_DESCRIPTIONS = {
    "qscloud": (
        "Mint a Qlik Cloud token for every row of --input: CSV with a header row, or JSON Lines. The columns are\n"
        "sub, username, useremail, useremail_verified and groups (';'-separated in CSV, an array in JSON Lines); the\n"
        "sub defaults to the email. Every row of --output answers one input row, in input order: {line, sub, token}\n"
        "or {line, error}. A bad row does not stop the run; exit 1 when any row failed. --output is written to a\n"
        "temporary file and renamed when the run is complete (mode 0600; it holds credentials)."),
    "qseow": (
        "Mint a QSEoW virtual-proxy token for every row of --input: CSV with a header row, or JSON Lines. The\n"
        "columns are userid, userdir, username, useremail and groups (';'-separated in CSV, an array in JSON\n"
        "Lines). Every row of --output answers one input row, in input order: {line, userid, token} or {line,\n"
        "error}. A bad row does not stop the run; exit 1 when any row failed. --expires defaults to 1h here."),
}
_EXAMPLES = {
    "qscloud": "qs-jwt batch qscloud --input users.csv --output tokens.jsonl --cert-privatekey-file privatekey.pem "
               "--issuer my-app --keyid my-key",
    "qseow": "qs-jwt batch qseow --input users.jsonl --output tokens.csv --cert-privatekey-file privatekey.pem "
             "--audience qlik --expires 8h",
}


def _workers(text: str) -> int:
    from ._common import UsageError

    if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS_OPTION:
        raise UsageError(f"--workers: expected a whole number of signing processes from 1 to {MAX_WORKERS_OPTION}")
    return int(text)


def add_parser(commands: Any, command: Callable[[str, str, str, str], argparse.ArgumentParser], *,
               full: bool = True) -> argparse.ArgumentParser:
    """Add ``batch`` to the top-level subparsers ``commands`` with ``command`` (build_parser's helper that adds a
    command with its help and epilog); with ``full``, also ``batch qscloud`` and ``batch qseow`` and their
    options (``full=False`` only lists the command, as for a run of another command)."""
    from . import _add_common, _add_signing_key, _claim_help, _Formatter, _Parser
    from ._common import EXIT_CODES_HELP, LOG_LEVELS

    batch = command(
        "batch", "mint a token for every row of a CSV or JSON Lines file, in parallel",
        "Mint tokens in bulk: one per row of a CSV (header row) or JSON Lines file, signed in parallel processes,\n"
        "written in input order to a JSON Lines or CSV file (atomically, mode 0600) or to stdout.",
        _EXAMPLES["qscloud"],
    )
    if not full:
        return batch
    batch.add_argument("--loglevel", dest="loglevel_group", default=None, choices=list(LOG_LEVELS), metavar="LEVEL",
                       help=argparse.SUPPRESS)
    targets = batch.add_subparsers(dest="batch_command", metavar="SUBCOMMAND", parser_class=_Parser)
    for target, help_text in (("qscloud", "a Qlik Cloud token for every row (sub, username, useremail, ...)"),
                              ("qseow", "a QSEoW token for every row (userid, userdir, username, ...)")):
        sub = targets.add_parser(target, help=help_text, description=_DESCRIPTIONS[target],
                                 epilog=f"example:\n  {_EXAMPLES[target]}\n\n{EXIT_CODES_HELP}",
                                 formatter_class=_Formatter, allow_abbrev=False)
        _add_common(sub)
        g = sub.add_argument_group("rows in, tokens out")
        g.add_argument("--input", required=True, metavar="FILE|-", help="the rows: CSV or JSON Lines; '-' reads stdin")
        g.add_argument("--input-format", choices=["csv", "jsonl"],
                       help="csv or jsonl (default: from the name: .csv, .jsonl, .ndjson; required for stdin)")
        g.add_argument("--output", required=True, metavar="FILE|-",
                       help="the tokens: written to a temporary file and renamed at the end (mode 0600); '-' is "
                            "stdout")
        g.add_argument("--output-format", choices=["jsonl", "csv"],
                       help="jsonl or csv (default: from the name: .jsonl, .ndjson, .csv; stdout: jsonl)")
        g.add_argument("--force", dest="force_output", action="store_true", help="replace an existing --output file")
        g.add_argument("--extra-columns-as-claims", action="store_true",
                       help="send columns other than the user's as claims (CSV values parsed like --claim values)")
        g.add_argument("--workers", type=_workers, metavar="N",
                       help="signing processes (default: the CPUs this process may use; 1: no extra process)")
        g.add_argument("--no-progress", action="store_true",
                       help="no progress line on stderr (there is none when stderr is not a terminal)")
        if target == "qscloud":
            g = sub.add_argument_group("identity provider")
            g.add_argument("--issuer", required=True, help="iss; must equal the identity provider's issuer")
            g.add_argument("--keyid", required=True, help="header kid; must equal the identity provider's key id")
            g = sub.add_argument_group("token")
            g.add_argument("--expires", default="5m", metavar="DURATION",
                           help="lifetime: 90s, 5m, 1h ... (default 5m; at most 1h for Qlik Cloud)")
            g.add_argument("--allow-long-lifetime", action="store_true",
                           help="allow a lifetime over one hour (Qlik Cloud rejects such tokens; warns)")
        else:
            g = sub.add_argument_group("virtual proxy")
            g.add_argument("--audience", required=True, help="aud; must equal the virtual proxy's audience")
            g.add_argument("--userid-claim", default="userId", metavar="NAME",
                           help="the virtual proxy's JWT attribute for user ID (default: userId)")
            g.add_argument("--userdir-claim", default="userDirectory", metavar="NAME",
                           help="the virtual proxy's JWT attribute for user directory (default: userDirectory)")
            g.add_argument("--groups-claim", default=None, metavar="NAME",
                           help="claim for the groups (default: groups; 'group' matches the Node tool)")
            g = sub.add_argument_group("token")
            g.add_argument("--expires", default="1h", metavar="DURATION",
                           help="lifetime: 90s, 60m, 8h, 30d ... (default 1h for batch; create-qseow requires it)")
        g.add_argument("--algorithm", choices=["RS256", "RS384", "RS512"], default="RS256",
                       help="signature algorithm (default RS256)")
        g.add_argument("--claim", action="append", default=[], metavar="NAME=VALUE",
                       help=_claim_help() + "; every token carries it")
        g = sub.add_argument_group("signing key (one of these, else $QS_JWT_PRIVATE_KEY)")
        _add_signing_key(g)
    return batch


# --- running ------------------------------------------------------------------------------------------------


def run_batch(args: argparse.Namespace, log: Log) -> int:
    """``batch qscloud`` and ``batch qseow``: every value checked, the header read, the output checked, the key
    loaded; then rows are read, signed and written as a stream."""
    from ..errors import InvalidValueError
    from ._common import UsageError, flag_for

    target = getattr(args, "batch_command", None)
    if target not in ("qscloud", "qseow"):
        raise UsageError("choose a subcommand: qscloud or qseow (see 'qs-jwt batch --help')")
    command = f"batch {target}"

    def name_of(param: str | None) -> str:
        return _BATCH_FLAGS.get(param or "") or flag_for(param or "", command)

    try:
        with _TerminateAsInterrupt():
            return _run(args, log, target)
    except InvalidValueError as exc:
        raise UsageError(exc.render(name_of)) from None


def _run(args: argparse.Namespace, log: Log, target: str) -> int:
    from ..batch import default_workers, input_format_for, output_format_for, subject_field
    from ._common import ExitCode, UsageError

    input_format = args.input_format or (input_format_for(args.input) if args.input != "-" else None)
    if input_format is None:
        raise UsageError("--input-format: give csv or jsonl: " + (
            "standard input has no file name to tell it from" if args.input == "-" else
            "the file name does not end in .csv, .jsonl or .ndjson"))
    output_format = args.output_format or ("jsonl" if args.output == "-" else output_format_for(args.output))
    if output_format is None:
        raise UsageError("--output-format: give jsonl or csv: the file name does not end in .jsonl, .ndjson or .csv")
    if args.input == "-" and args.cert_privatekey_file == "-":
        raise UsageError("--input - and --cert-privatekey-file - cannot both read standard input")
    settings = _settings(args, log, target)
    output = _output(args)
    with _Input(args.input) as source:
        reader = _reader(source, input_format, settings, args)
        factory = _factory(args, log, settings)
        id_field = subject_field(settings)
        workers = args.workers or default_workers()
        log.verbose(f"{input_format} in, {output_format} out; signing in {workers} process(es)"
                    + (" (this one)" if workers == 1 else ""))
        progress = _Progress(args, input_format)
        try:
            summary = _mint_and_write(factory, reader, output, output_format, id_field, workers, progress, log)
        finally:
            progress.close()
    if summary.rows == 0:
        log.warn("the input holds no rows")
    if output is not None:
        log.info(f"wrote {output.path} (mode 0600; it holds tokens)")
    if summary.ok:
        log.info(str(summary))
        return ExitCode.OK
    log.error(str(summary))
    return ExitCode.ERROR


def _settings(args: argparse.Namespace, log: Log, target: str) -> QsCloudSettings | QseowSettings:
    from ..claims import QsCloudSettings, QseowSettings
    from ._create import _extra_claims

    extra = _extra_claims(args)
    if target == "qscloud":
        if "group" in extra:
            log.warn("Qlik Cloud does not read a 'group' claim; give a groups column, which sends the 'groups' array")
        settings: QsCloudSettings | QseowSettings = QsCloudSettings(
            issuer=args.issuer, keyid=args.keyid, expires=args.expires, algorithm=args.algorithm,
            allow_long_lifetime=args.allow_long_lifetime, extra_claims=extra)
    else:
        settings = QseowSettings(audience=args.audience, expires=args.expires, algorithm=args.algorithm,
                                 userid_claim=args.userid_claim, userdir_claim=args.userdir_claim,
                                 groups_claim="groups" if args.groups_claim is None else args.groups_claim,
                                 extra_claims=extra)
    log.warnings(settings.warnings)
    return settings


def _output(args: argparse.Namespace) -> OutputFile | None:
    """The OutputFile for --output (checked now: an existing file is refused before any work), or None: stdout."""
    from ..batch import OutputFile
    from ..errors import OutputExistsError
    from ..redact import looks_like_path, secret_kind
    from ._common import UsageError

    if args.output == "-":
        return None
    if not looks_like_path(args.output):
        kind = secret_kind(args.output)
        raise UsageError(f"--output: the value is not a file name{f' (it looks like {kind})' if kind else ''}; give "
                         "the path of the file to write, or - for stdout")
    if args.input != "-" and _same_file(args.input, args.output):
        raise UsageError("--output is the --input file; write the tokens to another file")
    try:
        return OutputFile(args.output, force=args.force_output)
    except OutputExistsError as exc:
        raise OutputExistsError(exc.paths, hint="--force replaces it") from None


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


class _Input:
    """``with _Input(path) as stream``: the --input file opened for binary reads, or stdin's buffer for ``-``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.handle: Any = None

    def __enter__(self) -> Any:
        from ..errors import QsJwtError
        from ._common import UsageError
        from ._io import _is_terminal, _require_file, shown_path

        if self.path == "-":
            stream = sys.stdin
            if stream is None or _is_terminal(stream):
                raise UsageError(f"standard input is {'closed' if stream is None else 'a terminal'}: pipe the rows "
                                 "into it, or give --input FILE")
            return stream.buffer
        _require_file("--input", self.path, secret_option=False, alternative="")
        try:
            self.handle = open(self.path, "rb")  # closed by __exit__
        except OSError as exc:
            what = "is a directory" if isinstance(exc, IsADirectoryError) else f"cannot be read ({exc.strerror or exc})"
            raise QsJwtError(f"--input: {shown_path(self.path)} {what}") from None
        return self.handle

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()


def _reader(source: Any, input_format: str, settings: QsCloudSettings | QseowSettings,
            args: argparse.Namespace) -> RowReader:
    from ..batch import read_rows

    return read_rows(source, input_format, settings, extra_columns_as_claims=args.extra_columns_as_claims)


def _factory(args: argparse.Namespace, log: Log,
             settings: QsCloudSettings | QseowSettings) -> QsCloudTokenFactory | QseowTokenFactory:
    from ..claims import QsCloudSettings
    from ..tokens import QsCloudTokenFactory, QseowTokenFactory
    from ._create import signer_for

    signer = signer_for(args, log)
    # a factory of its own validates the key once (the full RSA check), so no signature needs a second look
    if isinstance(settings, QsCloudSettings):
        return QsCloudTokenFactory(signer.key, settings)
    return QseowTokenFactory(signer.key, settings)


def _mint_and_write(factory: QsCloudTokenFactory | QseowTokenFactory, reader: RowReader, output: OutputFile | None,
                    output_format: str, id_field: str, workers: int, progress: _Progress, log: Log) -> BatchSummary:
    from ..batch import mint_rows

    minted = mint_rows(factory, reader, workers=workers)
    try:
        return _write(_watched(minted, progress, log), output, output_format, id_field)
    finally:
        minted.close()  # the worker processes stop now, before an error is reported


def _write(results: Iterator[Result], output: OutputFile | None, output_format: str, id_field: str) -> BatchSummary:
    from ..batch import write_results
    from ._common import OutputError

    if output is not None:
        with output as stream:
            return write_results(results, stream, output_format, id_field=id_field)
    stdout = sys.stdout
    buffer = getattr(stdout, "buffer", None)
    if buffer is None:
        raise OutputError("cannot write the output: standard output is closed")
    try:
        stdout.flush()
    except (OSError, ValueError):
        raise OutputError("cannot write the output: standard output is closed") from None
    from ..errors import FileWriteError

    try:
        return write_results(results, buffer, output_format, id_field=id_field)
    except FileWriteError as exc:
        raise OutputError(f"cannot write the output: {exc.reason}") from None


def _watched(results: Iterable[Result], progress: _Progress, log: Log) -> Iterator[Result]:
    """The results, with the progress line kept up and the first error rows named on stderr."""
    shown = 0
    done = 0
    for result in results:
        done += 1
        if result.error is not None and shown < SHOWN_ERRORS:
            shown += 1
            progress.clear()
            log.warn(f"line {result.line}: {result.error}" + (
                "" if shown < SHOWN_ERRORS else " (further errors are in the output only)"))
        if not done & 63:
            progress.update(done)
        yield result
    progress.update(done, final=True)


class _TerminateAsInterrupt:
    """SIGTERM and SIGHUP end the run as Ctrl-C does (no output file, no temporary file left); main thread only."""

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> None:
        import contextlib
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return
        for name in ("SIGTERM", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is not None:
                with contextlib.suppress(OSError, ValueError):
                    self.previous[signum] = signal.signal(signum, _interrupt)

    def __exit__(self, *exc: object) -> None:
        import contextlib
        import signal

        for signum, handler in self.previous.items():
            with contextlib.suppress(OSError, ValueError):
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


# --- progress -------------------------------------------------------------------------------------------------


class _Progress:
    """``12,345 / 100,000 rows  12%  2,010/s  ETA 0:45`` on stderr, redrawn in place: only when stderr is a
    terminal, --no-progress is not given, and the run has taken more than a second."""

    def __init__(self, args: argparse.Namespace, input_format: str) -> None:
        self.stream = sys.stderr
        self.enabled = not args.no_progress and _is_terminal(self.stream)
        self.start = time.monotonic()
        self.last = 0.0
        self.width = 0
        self.total = _count_rows(args.input, input_format) if self.enabled else None

    def update(self, done: int, *, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        elapsed = now - self.start
        if elapsed < PROGRESS_AFTER or (now - self.last < PROGRESS_EVERY and not final):
            return
        self.last = now
        rate = done / elapsed if elapsed > 0 else 0.0
        text = f"{done:,} rows"
        if self.total:
            total = max(self.total, done)
            text = f"{done:,} / {total:,} rows  {100 * done // total}%"
        text += f"  {rate:,.0f}/s"
        if self.total and rate > 0 and done < self.total:
            text += f"  ETA {_clock(int((self.total - done) / rate))}"
        self._draw(text)

    def _draw(self, text: str) -> None:
        line = f"\r{text}{' ' * max(0, self.width - len(text))}"
        self.width = len(text)
        try:
            self.stream.write(line)
            self.stream.flush()
        except (OSError, ValueError, AttributeError):
            self.enabled = False

    def clear(self) -> None:
        if self.width:
            self._draw("")
            self._draw_return()
            self.width = 0

    def _draw_return(self) -> None:
        try:
            self.stream.write("\r")
            self.stream.flush()
        except (OSError, ValueError, AttributeError):
            self.enabled = False

    def close(self) -> None:
        self.clear()


def _clock(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _count_rows(path: str, input_format: str) -> int | None:
    """About how many rows a file holds (its lines, less the CSV header), read in blocks; None for stdin."""
    if path == "-":
        return None
    lines = 0
    last = b"\n"
    try:
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                lines += block.count(b"\n")
                last = block[-1:]
    except OSError:
        return None
    lines += last != b"\n"
    return max(0, lines - (input_format == "csv"))
