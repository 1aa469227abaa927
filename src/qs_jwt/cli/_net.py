"""What the commands that talk to a server share: the address check, the connection settings, request bodies,
query parameters and headers from the command line, and printing an answer."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from ._common import ExitCode, UsageError
from ._io import emit, read_input, read_stdin, to_json
from ._run import Log, safe_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..http import HttpResponse, HttpSettings

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


def check_address(value: str, flag: str, example: str) -> None:
    """A usage error for a value that looks like a secret (a token or key pasted where the address goes)."""
    from ..redact import secret_kind

    kind = secret_kind(value)
    if kind is not None:
        raise UsageError(f"{flag}: the value looks like {kind}; give the server's URL, e.g. {example}")


def http_settings(args: argparse.Namespace, log: Log, *, flag: str = "--server", value: str | None = None,
                  example: str = "https://qlik.example.com/jwt", cert_hint: str = "") -> HttpSettings:
    """The connection options as the HTTP layer's settings; --insecure warns on every run."""
    from ..http import HttpSettings

    if value is not None:
        check_address(value, flag, example)
    if args.insecure and args.ca_cert:
        raise UsageError("give either --ca-cert or --insecure, not both")
    if args.insecure:
        log.warn("--insecure: the server's certificate is not verified, so anyone in between can read the token; "
                 f"prefer --ca-cert FILE{cert_hint}")
    if args.ca_cert is not None:
        read_input("--ca-cert", args.ca_cert, what="CA certificate")  # a missing file: a clear, safe message
    return HttpSettings(timeout=args.timeout, retries=args.retries, ca_cert=args.ca_cert, insecure=args.insecure)


def debug_log(log: Log) -> Callable[[str], None] | None:
    return log.debug if log.debugging else None


def request_body(value: str | None) -> Any:
    """--data JSON, @FILE or @- (stdin), parsed: the body goes out as JSON."""
    if value is None:
        return None
    if value.startswith("@"):
        raw = read_stdin("request body") if value == "@-" else read_input("--data", value[1:], what="request body")[0]
        text = raw.decode("utf-8-sig", errors="strict") if isinstance(raw, bytes) else raw
    else:
        text = value
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise UsageError("--data: not valid JSON (give JSON text, @FILE or @- for standard input)") from None


def pairs(values: list[str], flag: str, sep: str) -> list[tuple[str, str]]:
    """NAME=VALUE (or 'NAME: VALUE') options as pairs."""
    result = []
    for item in values:
        name, found, value = item.partition(sep)
        if not found or not name.strip():
            raise UsageError(f"{flag}: expected NAME{sep}VALUE")
        result.append((name.strip(), value.strip() if sep == ":" else value))
    return result


def checked_method(method: str) -> str:
    verb = method.upper()
    if verb not in METHODS:
        raise UsageError(f"METHOD: use one of {', '.join(METHODS)}")
    return verb


def request_parts(args: argparse.Namespace, path_example: str,
                  ) -> tuple[str, Any, list[tuple[str, str]], dict[str, str]]:
    """The METHOD, --data body, --query pairs and --header map of a ``call`` command, each checked; PATH must
    start with ``/`` (``path_example`` completes the message)."""
    method = checked_method(args.method)
    if not args.path.startswith("/"):
        raise UsageError(f"PATH: starts with /{path_example}")
    return method, request_body(args.data), pairs(args.query, "--query", "="), dict(pairs(args.header, "--header",
                                                                                           ":"))


def print_answer(response: HttpResponse, raw: bool, log: Log) -> int:
    """The answer's body on stdout: JSON pretty-printed (``raw``: as received); nothing for an empty body."""
    from ..errors import QlikApiError

    if not response.body.strip():
        log.verbose(f"{response.status}: no content")
        return ExitCode.OK
    if raw:
        emit(safe_text(response.text(), multiline=True))
        return ExitCode.OK
    try:
        emit(to_json(response.json()))
    except QlikApiError:  # not JSON: as received
        emit(safe_text(response.text(), multiline=True))
    return ExitCode.OK


TENANT_EXAMPLE = "https://your-tenant.eu.qlikcloud.com"


def tenant_url(args: argparse.Namespace) -> str:
    """--tenant, checked and normalized: ``https://HOST``."""
    from ..qscloud import normalize_tenant_url

    if args.tenant is None:
        raise UsageError(f"--tenant is needed: the tenant's address, e.g. {TENANT_EXAMPLE}")
    check_address(args.tenant, "--tenant", TENANT_EXAMPLE)
    return normalize_tenant_url(args.tenant)
