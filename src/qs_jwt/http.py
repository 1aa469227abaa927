"""The HTTP layer of qs-jwt: TLS trust, timeouts and a deadline, retries, redirects, bounded reads, clean errors.

Only the commands that talk to a server import this module (it is the one module that imports httpx);
``import qs_jwt`` and minting tokens never load it. Every URL, header and piece of server text that reaches a
log line or an error message goes through :mod:`qs_jwt.redact`.

Policies:

- trust: without ``ca_cert``, the system's default trust (:func:`ssl.create_default_context`, which honours
  ``SSL_CERT_FILE`` and ``SSL_CERT_DIR``), or certifi's bundle when the system offers none (python.org builds
  on macOS); ``ca_cert`` *replaces* that trust, whatever those variables say;
- retries: 429 for any method (honouring ``Retry-After``), 502/503/504 and lost connections only for idempotent
  methods; capped exponential backoff with full jitter; never a wait that would pass the overall deadline;
- redirects: followed here, at most 5: GET and HEAD always, other methods only on 307/308 to the same server;
  secret headers are not sent to another server; https → http is refused;
- answers: a non-2xx answer raises :class:`QlikApiError` unless its status is in ``ok_statuses``; no answer
  raises :class:`QlikConnectionError`; bodies are read up to ``max_body_bytes``;
- httpx's and httpcore's own loggers (which write URLs and headers) are set to WARNING unless configured.
"""

from __future__ import annotations

import _ssl
import codecs
import datetime as dt
import email.utils
import html
import ipaddress
import json as jsonlib
import logging
import os
import random
import re
import socket
import ssl
import stat
import time
import urllib.request
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from http import HTTPStatus
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from ._version import __version__
from .errors import ArgumentTypeError, InvalidValueError, QlikApiError, QlikConnectionError
from .redact import SECRET_HEADERS, SECRET_QUERY_PARAMETERS, redact, redact_url, safe_source, secret_kind

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "DEFAULT_SETTINGS",
    "IDEMPOTENT_METHODS",
    "MAX_REDIRECTS",
    "RETRY_AFTER_CAP",
    "TLS_HINT",
    "HttpClient",
    "HttpResponse",
    "HttpSettings",
    "build_ssl_context",
    "fetch_server_certificates",
    "normalize_base_url",
    "one_line",
    "parse_error_items",
    "raise_for_status",
]

MiB = 1024 * 1024
#: methods that may be sent again after a lost connection or a 502/503/504
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
MAX_REDIRECTS = 5
BACKOFF_BASE = 0.5  # seconds before the first retry, at most; doubles per attempt
BACKOFF_CAP = 8.0
RETRY_AFTER_CAP = 60.0
TLS_HINT = ("the server's certificate is not trusted: give its CA or the certificate itself with --ca-cert FILE "
            "(qs-jwt qseow server-cert shows it), or --insecure to skip verification")
_DATE_HINT = "renew the server's certificate (or check this computer's clock), or --insecure to skip verification"
_HOST_HINT = ("connect with a host name the certificate names (qs-jwt qseow server-cert shows them), "
              "or --insecure to skip verification")
_PROXY_HINT = "check the HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY environment variables"

_RETRY_STATUSES = frozenset({502, 503, 504})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_SECONDS = 3600.0
_MAX_RETRIES = 10
_MAX_BODY = 1024 * MiB
_MAX_CA_FILE = 10 * MiB
_MAX_ITEMS = 20
_MAX_URL = 2048
_TRACE_ID = re.compile(r"[0-9a-fA-F-]{8,64}")
_SCAN = 64 * 1024  # one_line looks at this much of a body
_RANDOM = random.SystemRandom()
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_HOST = re.compile(r"[\w.-]+")  # \w: international (IDN) names too
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP method or header name (RFC 9110 token)
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]*-----END CERTIFICATE-----")
_RAW_TAG = re.compile(r"<(?:script|style)\b", re.IGNORECASE)
_RAW_END = re.compile(r"</(?:script|style)\s*>", re.IGNORECASE)
_TITLE = re.compile(r"<title\b", re.IGNORECASE)
_TITLE_END = re.compile(r"</title", re.IGNORECASE)
_E = TypeVar("_E", bound=BaseException)

# httpx logs every URL at INFO and httpcore every header at DEBUG: quiet them unless someone chose a level
for _name in ("httpx", "httpcore"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.WARNING)


# ---------------------------------------------------------------- settings


def _seconds(value: object, param: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ArgumentTypeError(f"must be a number of seconds, not {type(value).__name__}", param=param)
    if not 0 < value <= _MAX_SECONDS:  # NaN fails every comparison
        raise InvalidValueError(f"must be above 0 and at most {_MAX_SECONDS:g} seconds, not {value!r}", param=param)


def _whole(value: object, param: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentTypeError(f"must be a whole number, not {type(value).__name__}", param=param)
    if not low <= value <= high:
        raise InvalidValueError(f"must be from {low} to {high}, not {value}", param=param)


def _flag(value: object, param: str) -> None:
    if not isinstance(value, bool):
        raise ArgumentTypeError(f"must be True or False, not {type(value).__name__}", param=param)


def _ca_path(value: object) -> None:
    if not isinstance(value, str):
        raise ArgumentTypeError(f"must be a file path (text), not {type(value).__name__}", param="ca_cert")
    if not value.strip():
        raise InvalidValueError("is empty: give the path of a PEM file", param="ca_cert")


@dataclass(frozen=True)
class HttpSettings:
    """How :class:`HttpClient` talks to a server.

    - ``timeout``: the overall deadline of one logical request (retries, waits and redirects included), seconds;
    - ``connect_timeout``, ``read_timeout``: for one connection attempt and one read;
    - ``retries``: the most attempts of one request (1 = no retry);
    - ``ca_cert``: a PEM file that replaces the default trust: a CA bundle, or the server's own certificate;
    - ``insecure``: no certificate verification at all (the caller warns);
    - ``trust_env``: proxies from ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY``;
    - ``max_body_bytes``: a longer answer is an error, not read further.
    """

    timeout: float = 30.0
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    retries: int = 3
    ca_cert: str | None = None
    insecure: bool = False
    trust_env: bool = True
    max_body_bytes: int = 16 * MiB
    user_agent: str = f"qs-jwt/{__version__}"

    def __post_init__(self) -> None:
        for name in ("timeout", "connect_timeout", "read_timeout"):
            _seconds(getattr(self, name), name)
        _whole(self.retries, "retries", 1, _MAX_RETRIES)
        _whole(self.max_body_bytes, "max_body_bytes", 1, _MAX_BODY)
        if self.ca_cert is not None:
            _ca_path(self.ca_cert)
        _flag(self.insecure, "insecure")
        _flag(self.trust_env, "trust_env")
        if not isinstance(self.user_agent, str):
            raise ArgumentTypeError(f"must be text, not {type(self.user_agent).__name__}", param="user_agent")
        if not 0 < len(self.user_agent) <= 200 or not (self.user_agent.isascii() and self.user_agent.isprintable()):
            raise InvalidValueError("must be 1 to 200 printable ASCII characters", param="user_agent")


DEFAULT_SETTINGS = HttpSettings()


# ---------------------------------------------------------------- TLS trust


def build_ssl_context(ca_cert: str | None, insecure: bool) -> ssl.SSLContext:
    """The client TLS context: ``ca_cert`` (a CA bundle or a self-signed server certificate, PEM) replaces the
    default trust; without it, the system's trust (see the module docstring). ``insecure`` turns verification off.

    :raises InvalidValueError: (``param="ca_cert"``) for a file that cannot be read or holds no usable certificate.
    """
    _flag(insecure, "insecure")
    if ca_cert is None:
        context = _default_trust()
    else:
        _ca_path(ca_cert)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # any certificate in the file is a trust anchor: a self-signed server certificate (not a CA) included
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        _load_ca_file(context, ca_cert)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _default_trust() -> ssl.SSLContext:
    context = ssl.create_default_context()
    paths = ssl.get_default_verify_paths()
    if not context.cert_store_stats()["x509_ca"] and not (paths.cafile or paths.capath):
        import certifi  # a dependency of httpx

        context.load_verify_locations(cafile=certifi.where())
    return context


def _load_ca_file(context: ssl.SSLContext, path: str) -> None:
    shown = safe_source(path)

    def bad(reason: str) -> InvalidValueError:
        return InvalidValueError(f"{shown}: {reason}", param="ca_cert")

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise bad("not a file")
        with open(path, "rb") as handle:
            data = handle.read(_MAX_CA_FILE + 1)
    except OSError as exc:
        raise bad(f"cannot read it ({exc.strerror or type(exc).__name__})") from None
    if len(data) > _MAX_CA_FILE:
        raise bad(f"larger than {_MAX_CA_FILE // MiB} MiB: not a certificate file")
    blocks = _PEM_CERT.findall(data.decode("latin-1"))
    if not blocks:
        raise bad("holds no PEM certificate (no BEGIN CERTIFICATE block)")
    try:
        context.load_verify_locations(cadata="\n".join(blocks))
    except (ssl.SSLError, ValueError):
        raise bad("holds a damaged certificate") from None


# ---------------------------------------------------------------- addresses


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_base_url(url: str, *, allow_http_loopback: bool = True) -> str:
    """``https://host[:port][/prefix]`` from a server address (a bare host gets ``https://``).

    ``http://`` is accepted only for this computer (localhost, 127.0.0.0/8, ::1) and only with
    ``allow_http_loopback``. No user name, password, query or fragment; a trailing slash goes.

    :raises InvalidValueError: (``param="url"``) for anything else.
    """
    if not isinstance(url, str):
        raise ArgumentTypeError(f"must be text, not {type(url).__name__}", param="url")
    text = url.strip()

    def bad(reason: str) -> InvalidValueError:
        return InvalidValueError(reason, param="url")

    if not text or any(ch.isspace() or not ch.isprintable() for ch in text):
        raise bad("give a server address such as https://tenant.eu.qlikcloud.com (no spaces)")
    if len(text) > _MAX_URL:
        raise bad(f"is longer than {_MAX_URL} characters: not a server address")
    kind = secret_kind(text)
    if kind is not None:  # checked before the host is lower-cased, which would hide a token from redact()
        raise bad(f"looks like {kind}, not a server address such as https://tenant.eu.qlikcloud.com")
    if not _SCHEME.match(text):
        text = f"https://{text}"
    try:
        parts = urlsplit(text)
    except ValueError:  # an unclosed "[" of an IPv6 address
        raise bad("names no valid host") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise bad(f"must start with https://, not {scheme}://")
    if "@" in parts.netloc:
        raise bad("must not hold a user name or password")
    if "?" in text or "#" in text:
        raise bad("must not hold a query (?...) or a fragment (#...)")
    host = parts.hostname or ""
    if not (_HOST.fullmatch(host) or (":" in host and _is_ip(host))):
        raise bad("names no valid host")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise bad("has a port that is not a number from 1 to 65535")
    if scheme == "http" and not (allow_http_loopback and _is_loopback(host)):
        raise bad("https is required" + (" (http:// only for this computer: localhost, 127.0.0.1, ::1)"
                                          if allow_http_loopback else ""))
    netloc = f"[{host}]" if ":" in host else host
    return f"{scheme}://{netloc}{'' if port is None else f':{port}'}{parts.path.rstrip('/')}"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


def _where(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{url.port or _DEFAULT_PORTS.get(url.scheme)}"


def _shown(url: httpx.URL) -> str:
    """``url`` for a person: no user name or password, secrets redacted."""
    return redact_url(str(url.copy_with(userinfo=b"") if url.userinfo else url))


def _shown_location(location: str) -> str:
    try:
        return _shown(httpx.URL(location))
    except httpx.InvalidURL:
        return "an address that is not valid"


# ---------------------------------------------------------------- answers and their errors


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _is_success(status: int) -> bool:
    return 200 <= status < 300


def _charset(headers: Mapping[str, str]) -> str:
    for part in headers.get("content-type", "").split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset":
            try:
                return codecs.lookup(value.strip().strip('"')).name
            except LookupError:
                break
    return "utf-8"


def _flatten(text: str, limit: int) -> str:
    """One printable line, secrets redacted, at most ``limit`` characters."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    text = redact(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_STATUS_TITLE = re.compile(r"^\s*\d{3}\b")


def _title(text: str) -> str:
    match = _TITLE.search(text)
    start = text.find(">", match.end()) if match else -1
    if start < 0:
        return ""
    end = _TITLE_END.search(text, start)
    return text[start + 1: end.start() if end else len(text)].strip()


def _strip_tags(text: str) -> str:
    out: list[str] = []
    pos = 0
    while (start := text.find("<", pos)) >= 0:
        out.append(text[pos:start])
        end = text.find(">", start)
        if end < 0:
            return " ".join(out)  # an unclosed tag: the rest is markup
        if _RAW_TAG.match(text, start):
            close = _RAW_END.search(text, end)
            if close is None:
                return " ".join(out)
            end = close.end() - 1
        out.append(" ")
        pos = end + 1
    out.append(text[pos:])
    return "".join(out)


def one_line(body: bytes | str, limit: int = 200) -> str:
    """A server's text or HTML answer as one readable line: the ``<title>`` of a page when it has one, else its
    text without tags; whitespace collapsed, secrets redacted, cut at ``limit`` characters."""
    text = body[:_SCAN] if isinstance(body, str) else body[:_SCAN].decode("utf-8", errors="replace")
    if "<" in text and ">" in text:
        title = html.unescape(_title(text))
        page = " ".join(html.unescape(_strip_tags(text)).split())
        if title and page.startswith(title):
            page = page[len(title):].strip()  # the page text repeats its title first
        # a title that only repeats the status ("503 - Service Unavailable") says less than the page
        text = page if not title or (_STATUS_TITLE.match(title) and page) else title
    return _flatten(text, limit)


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return _flatten(value, 500) or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _status(value: object, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 3:
        return int(value)
    return default


def _item(raw: Mapping[str, Any], status: int, trace: str | None) -> dict[str, object]:
    title = next((raw[key] for key in ("title", "message", "error_description") if key in raw), None)
    code = raw.get("code", raw.get("error"))
    item: dict[str, object] = {"code": _text(code), "title": _text(title), "detail": _text(raw.get("detail")),
                               "status": _status(raw.get("status"), status)}
    if trace:
        item["traceId"] = trace
    return item


def _items_of(data: object, status: int) -> tuple[dict[str, object], ...]:
    if isinstance(data, list):
        return tuple(_item(entry, status, None) for entry in data[:_MAX_ITEMS] if isinstance(entry, dict))
    if isinstance(data, str):
        return (_item({"title": data}, status, None),) if data.strip() else ()
    if not isinstance(data, dict):
        return ()
    raw_trace = data.get("traceId")
    # a trace id is hex (and dashes): kept as it is, since redaction would take it for key material
    trace = raw_trace if isinstance(raw_trace, str) and _TRACE_ID.fullmatch(raw_trace) else _text(raw_trace)
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        return tuple(_item(entry, status, trace) for entry in errors[:_MAX_ITEMS] if isinstance(entry, dict))
    if isinstance(data.get("error"), dict):
        return (_item(data["error"], status, trace),)
    if any(key in data for key in ("code", "message", "error", "error_description", "title", "detail")):
        return (_item(data, status, trace),)
    return ()


def _looks_json(headers: Mapping[str, str], body: bytes) -> bool:
    return "json" in headers.get("content-type", "").lower() or body.lstrip()[:1] in (b"{", b"[")


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _loads(body: bytes) -> Any:
    return jsonlib.loads(body, parse_constant=_no_constant)


def parse_error_items(status: int, headers: Mapping[str, str], body: bytes) -> tuple[dict[str, object], ...]:
    """The error items of an answer, each ``{"code", "title", "detail", "status"}`` (and ``"traceId"`` when the
    answer has one), texts redacted and on one line.

    Reads Qlik Cloud's ``{"errors": [...], "traceId": ...}``, ``{"code", "message"}``,
    ``{"error", "error_description"}``, a JSON list or string, and else a text or HTML page as one
    ``detail`` line (:func:`one_line`). An empty body has no items.
    """
    if _looks_json(headers, body):
        try:
            items = _items_of(_loads(body), status)
        except (ValueError, RecursionError):
            items = ()
        if items:
            return items
    line = one_line(body[:_SCAN].decode(_charset(headers), errors="replace"))
    return ({"code": None, "title": None, "detail": line, "status": status},) if line else ()


def _summary(items: tuple[dict[str, object], ...]) -> str:
    if not items:
        return ""
    parts: list[str] = []
    for key in ("code", "title", "detail"):
        value = items[0].get(key)
        if isinstance(value, str) and value and value not in parts:
            parts.append(value)
    more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
    return ": ".join(parts) + more


def _str_of(item: Mapping[str, object], key: str) -> str | None:
    value = item.get(key)
    return value if isinstance(value, str) else None


def _api_error(response: HttpResponse, method: str, note: str = "") -> QlikApiError:
    items = parse_error_items(response.status, response.headers, response.body)
    what = _summary(items)
    location = response.headers.get("location")
    if response.status in _REDIRECT_STATUSES and location:
        what = f"redirected to {_shown_location(location)}, not followed" + (f": {what}" if what else "")
    message = f"{method} {response.url}: {response.status} {_reason(response.status)}".rstrip()
    first = items[0] if items else {}
    return QlikApiError(message + (f": {what}" if what else "") + note, status=response.status,
                        code=_str_of(first, "code"), title=_str_of(first, "title"), detail=_str_of(first, "detail"),
                        trace_id=_str_of(first, "traceId"), method=method, url=response.url, items=items)


def _scrubbed(exc: QlikApiError | QlikConnectionError, known: set[str]) -> QlikApiError | QlikConnectionError:
    """``exc`` with every known secret value removed from its texts."""
    if isinstance(exc, QlikConnectionError):
        return QlikConnectionError(redact(exc.args[0] if exc.hint is None else str(exc).removesuffix(f"; {exc.hint}"),
                                          known), hint=exc.hint, url=exc.url, tls=exc.tls)
    items = tuple({key: redact(value, known) if isinstance(value, str) else value for key, value in item.items()}
                  for item in exc.items)
    return QlikApiError(redact(str(exc), known), status=exc.status, code=exc.code,
                        detail=redact(exc.detail, known) if exc.detail else exc.detail, trace_id=exc.trace_id,
                        method=exc.method, url=exc.url, title=redact(exc.title, known) if exc.title else exc.title,
                        items=items)


def raise_for_status(response: HttpResponse, method: str) -> None:
    """Raise :class:`QlikApiError` for an answer whose status is not 2xx (for answers let through with
    ``ok_statuses``); its message is ``"<METHOD> <url>: <status> <reason>: <what the server said>"``."""
    if not _is_success(response.status):
        raise _api_error(response, method.upper())


def _parse_json(response: HttpResponse, method: str | None) -> Any:
    try:
        return _loads(response.body)
    except (ValueError, RecursionError):
        kind = response.headers.get("content-type") or "no content type"
        line = one_line(response.body)
        start = f"{method} {response.url}" if method else response.url
        raise QlikApiError(f"{start}: {response.status} {_reason(response.status)}: the answer is not JSON "
                           f"({_flatten(kind, 80)})" + (f": {line}" if line else ""),
                           status=response.status, method=method, url=response.url) from None


@dataclass(frozen=True)
class HttpResponse:
    """The final answer to a request: ``headers`` look names up in any case; ``url`` is the last address
    (after redirects), redacted; ``elapsed`` is the seconds the whole request took (retries included)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str
    elapsed: float

    def json(self) -> Any:
        """The body parsed as JSON. :raises QlikApiError: when it is not JSON."""
        return _parse_json(self, None)

    def text(self) -> str:
        """The body as text (the charset the answer names, else UTF-8; bad bytes replaced)."""
        return self.body.decode(_charset(self.headers), errors="replace")


# ---------------------------------------------------------------- failures without an answer


@dataclass(frozen=True)
class _Failure:
    """No answer: ``text`` for the error, ``short`` for the log line."""

    text: str
    short: str
    retryable: bool = True
    hint: str | None = None
    tls: bool = False


@dataclass(frozen=True)
class _Limits:
    """The timeouts of one attempt; ``*_cut`` when the overall deadline made them shorter."""

    connect: float
    read: float
    deadline: float
    connect_cut: bool = False
    read_cut: bool = False

    @classmethod
    def within(cls, settings: HttpSettings, remaining: float) -> _Limits:
        return cls(min(settings.connect_timeout, remaining), min(settings.read_timeout, remaining), settings.timeout,
                   remaining < settings.connect_timeout, remaining < settings.read_timeout)

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.read, pool=self.connect)

    def says(self, phase: str) -> str:
        seconds, cut = (self.connect, self.connect_cut) if phase == "connect" else (self.read, self.read_cut)
        return f"the overall deadline of {self.deadline:g} s" if cut else f"{seconds:g} s (the {phase} timeout)"


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 20:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _first(chain: list[BaseException], kind: type[_E]) -> _E | None:
    return next((exc for exc in chain if isinstance(exc, kind)), None)


def _tls_failure(error: ssl.SSLCertVerificationError, host: str, where: str) -> _Failure:
    if error.verify_code in (9, 10):  # X509_V_ERR_CERT_NOT_YET_VALID, _HAS_EXPIRED
        state = "has expired" if error.verify_code == 10 else "is not valid yet"
        return _Failure(f"the certificate of {where} {state}", "TLS error", False, _DATE_HINT, tls=True)
    if error.verify_code in (62, 64):  # X509_V_ERR_HOSTNAME_MISMATCH, _IP_ADDRESS_MISMATCH
        return _Failure(f"the certificate of {where} is not valid for the host name {host}", "TLS error", False,
                        _HOST_HINT, tls=True)
    reason = _flatten(error.verify_message or error.reason or "verification failed", 120)
    return _Failure(f"the certificate of {where} is not trusted ({reason})", "TLS error", False, TLS_HINT, tls=True)


def _network_failure(exc: BaseException, chain: list[BaseException], where: str, limits: _Limits) -> _Failure:
    if _first(chain, socket.gaierror):
        return _Failure(f"cannot find {where}: its host name does not resolve (DNS)", "DNS failure", retryable=False)
    if _first(chain, ConnectionRefusedError):
        return _Failure(f"{where} refused the connection (is the server running, and is the port right?)",
                        "connection refused")
    if isinstance(exc, httpx.ConnectTimeout):
        return _Failure(f"no connection to {where} within {limits.says('connect')}", "connect timeout")
    if isinstance(exc, httpx.ReadTimeout):
        return _Failure(f"no answer from {where} within {limits.says('read')}", "read timeout")
    if isinstance(exc, httpx.TimeoutException) or _first(chain, TimeoutError):
        return _Failure(f"{where} timed out (after {limits.read:g} s)", "timeout")
    tls = _first(chain, ssl.SSLError)
    if tls is not None:
        reason = _flatten(tls.reason or str(tls), 120)
        return _Failure(f"the TLS handshake with {where} failed ({reason}); does it speak https on that port?",
                        "TLS error", retryable=False)
    if _first(chain, ConnectionResetError) or isinstance(exc, httpx.ReadError | httpx.WriteError):
        return _Failure(f"the connection to {where} was reset", "connection reset")
    if isinstance(exc, httpx.RemoteProtocolError) and str(exc).startswith("Invalid URL in location header"):
        return _Failure(f"{where} redirected to an address that is not valid", "bad redirect", retryable=False)
    if isinstance(exc, httpx.RemoteProtocolError):
        return _Failure(f"{where} closed the connection without a complete answer", "connection closed")
    return _Failure(f"no answer from {where}: {type(exc).__name__}: {one_line(str(exc))}", type(exc).__name__)


def _failure(exc: BaseException, url: httpx.URL, limits: _Limits, proxy: httpx.URL | None) -> _Failure:
    chain = _causes(exc)
    verify = _first(chain, ssl.SSLCertVerificationError)
    if verify is not None:
        return _tls_failure(verify, url.host, _where(url))
    if proxy is not None and isinstance(exc, httpx.ProxyError):
        return _Failure(f"the proxy {_shown(proxy)} did not connect to {_where(url)}: {one_line(str(exc))}",
                        "proxy error", retryable=False, hint=_PROXY_HINT)
    if proxy is not None and isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        failure = _network_failure(exc, chain, _where(proxy), limits)
        return replace(failure, text=f"cannot reach the proxy {_shown(proxy)}: {failure.text}", hint=_PROXY_HINT)
    return _network_failure(exc, chain, _where(url), limits)


def _proxy_for(url: httpx.URL) -> httpx.URL | None:
    """The proxy the environment names for ``url`` (as httpx reads it), if any."""
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(url.host):
        return None
    return httpx.URL(proxy if "://" in proxy else f"http://{proxy}")


# ---------------------------------------------------------------- retries


def _retry_after(response: HttpResponse) -> float | None:
    """The wait a 429/503 asks for, clamped to [0, RETRY_AFTER_CAP]; None when absent or junk."""
    value = (response.headers.get("retry-after") or "").strip()
    if response.status not in (429, 503) or not value:
        return None
    seconds = (float(value) if value.isascii() and value.isdigit()
               else _seconds_until(value, response.headers.get("date")))
    return None if seconds is None else min(max(seconds, 0.0), RETRY_AFTER_CAP)


def _http_date(value: str | None) -> dt.datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(value or "")
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _seconds_until(value: str, date: str | None) -> float | None:
    """Seconds from the answer's ``Date`` (else this computer's clock) to the HTTP-date ``value``."""
    when = _http_date(value)
    if when is None:
        return None
    return (when - (_http_date(date) or dt.datetime.now(dt.UTC))).total_seconds()


def _backoff(attempt: int) -> float:
    return _RANDOM.uniform(0.0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))


def _retryable(method: str, outcome: HttpResponse | _Failure) -> bool:
    if isinstance(outcome, _Failure):
        return outcome.retryable and method in IDEMPOTENT_METHODS
    return outcome.status == 429 or (outcome.status in _RETRY_STATUSES and method in IDEMPOTENT_METHODS)


# ---------------------------------------------------------------- requests


def _checked_method(method: object) -> str:
    if not isinstance(method, str):
        raise ArgumentTypeError(f"must be text, not {type(method).__name__}", param="method")
    if not _TOKEN.fullmatch(method):
        raise InvalidValueError("must be an HTTP verb such as GET or POST", param="method")
    return method.upper()


def _checked_headers(headers: object, param: str) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise ArgumentTypeError(f"must map header names to values, not {type(headers).__name__}", param=param)
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ArgumentTypeError("header names and values must be text", param=param)
        if not _TOKEN.fullmatch(name):
            raise InvalidValueError(f"{redact(name)!r} is not a valid header name", param=param)
        if not (value.isascii() and value.isprintable()):
            raise InvalidValueError(f"the value of {name} must be printable ASCII on one line", param=param)
    return dict(headers)


def _checked_params(params: object) -> tuple[tuple[str, str], ...]:
    pairs = list(params.items()) if isinstance(params, Mapping) else params
    if not isinstance(pairs, list | tuple) or not all(
            isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(part, str) for part in pair)
            for pair in pairs):
        raise ArgumentTypeError("must map names to text values, or be (name, value) pairs of text", param="params")
    return tuple(pairs)


def _body(json: object, content: object) -> bytes | None:
    if content is not None and json is not None:
        raise InvalidValueError("cannot be given together with {json}", param="content", mentions=("json",))
    if content is not None:
        if not isinstance(content, bytes):
            raise ArgumentTypeError(f"must be bytes, not {type(content).__name__}", param="content")
        return content
    if json is None:
        return None
    try:
        return jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except TypeError as exc:
        raise ArgumentTypeError(f"cannot be written as JSON ({exc})", param="json") from None
    except (ValueError, RecursionError):
        raise InvalidValueError("cannot be written as JSON (NaN, infinity, a cycle or too deep)",
                                param="json") from None


def _redirect_problem(source: httpx.URL, target: httpx.URL) -> str | None:
    shown = _shown(target)
    if target.scheme not in _DEFAULT_PORTS:
        return f"refusing to follow a redirect to {shown}: not an http(s) address"
    if source.scheme == "https" and target.scheme == "http":
        return f"refusing to follow a redirect from https to http ({shown})"
    if target.scheme == "http" and not _is_loopback(target.host):
        return f"refusing to follow a redirect to {shown}: https is required"
    if target.userinfo:
        return "refusing to follow a redirect to an address with a user name or password"
    return None


@dataclass
class _Call:
    """One logical request as it goes: the current hop's address and headers, and its deadline."""

    method: str
    url: httpx.URL
    headers: httpx.Headers
    body: bytes | None
    started: float
    deadline: float
    note: str = ""


class HttpClient:
    """A client for one server (``base_url``, see :func:`normalize_base_url`), with the policies of this module.

    ``log`` receives one line per attempt (``"GET <url> -> 200 (12 ms)"``) and per retry or redirect: secrets
    redacted, header values and bodies never. ``default_headers`` go with every request (and, like every
    header, secret ones are not sent to another server on a redirect). ``sleep`` and ``clock`` are injectable
    for tests. Use it as a context manager, or call :meth:`close`.

    :raises InvalidValueError: for a bad ``base_url`` (``param="url"``) or ``ca_cert``.
    """

    def __init__(
        self,
        base_url: str,
        settings: HttpSettings = DEFAULT_SETTINGS,
        *,
        log: Callable[[str], None] | None = None,
        default_headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(settings, HttpSettings):
            raise ArgumentTypeError(f"must be HttpSettings, not {type(settings).__name__}", param="settings")
        self.base_url = normalize_base_url(base_url)
        self.settings = settings
        self._base = httpx.URL(self.base_url)
        self._log = log
        self._sleep = sleep
        self._clock = clock
        self._default_headers = _checked_headers(default_headers, "default_headers")
        context = build_ssl_context(settings.ca_cert, settings.insecure)
        try:
            self._client = httpx.Client(verify=context, trust_env=settings.trust_env, follow_redirects=False,
                                        headers={"User-Agent": settings.user_agent})
        except ImportError:  # the message would not help; the address may hold a password
            raise QlikConnectionError("the SOCKS proxy named in the environment needs httpx[socks] installed",
                                      hint=_PROXY_HINT) from None
        except (ValueError, httpx.InvalidURL):
            raise QlikConnectionError("the proxy named in the environment is not a valid address",
                                      hint=_PROXY_HINT) from None

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    @property
    def cookies(self) -> httpx.Cookies:
        """The cookie jar: every cookie the server set, sent back where it belongs."""
        return self._client.cookies

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        json: object = None,
        content: bytes | None = None,
        expect_json: bool = True,
        ok_statuses: Collection[int] | None = None,
    ) -> HttpResponse:
        """Send ``method`` to ``path`` (under the base address's path, or an absolute address on the same server)
        and return the final answer, after retries and redirects.

        ``expect_json`` asks for JSON (``Accept``) and makes a 2xx answer that is not JSON an error.
        ``ok_statuses`` are non-2xx statuses returned instead of raised (e.g. ``{401}`` to read why).

        :raises QlikApiError: for a non-2xx answer not in ``ok_statuses``, an answer too large, a refused redirect.
        :raises QlikConnectionError: for no answer (DNS, refused, TLS, timeout, proxy).
        """
        verb = _checked_method(method)
        now = self._clock()
        call = _Call(verb, self._target(path, params), self._headers(headers, json is not None, expect_json),
                     _body(json, content), now, now + self.settings.timeout)
        try:
            response = self._follow(call)
            if not (_is_success(response.status) or (ok_statuses is not None and response.status in ok_statuses)):
                raise _api_error(response, verb, call.note)
            if expect_json and _is_success(response.status) and response.body:
                _parse_json(response, verb)
        except (QlikApiError, QlikConnectionError) as exc:
            raise _scrubbed(exc, self._secrets_sent(call)) from None
        return response

    def _secrets_sent(self, call: _Call) -> set[str]:
        """The secret values this request sent (headers, query parameters, cookies): a server may echo them."""
        values = {value for name, value in call.headers.items() if name.lower() in SECRET_HEADERS}
        values |= {value for name, value in call.url.params.multi_items() if name.lower() in SECRET_QUERY_PARAMETERS}
        values |= {value for value in self._client.cookies.values() if value}
        for value in list(values):  # "Bearer <token>", "name=value; name2=value2"
            values |= {part.strip() for part in value.replace(";", " ").replace("=", " ").split()}
        return values

    def _note(self, line: str) -> None:
        if self._log is not None:
            self._log(line)

    def _target(self, path: object, params: object) -> httpx.URL:
        if not isinstance(path, str):
            raise ArgumentTypeError(f"must be text, not {type(path).__name__}", param="path")
        try:
            if _SCHEME.match(path):
                url = httpx.URL(path)
                if _origin(url) != _origin(self._base) or url.userinfo:
                    raise InvalidValueError("names another server than the client's", param="path")
            else:
                url = httpx.URL(f"{self.base_url}/{path.lstrip('/')}")
        except httpx.InvalidURL:
            raise InvalidValueError("holds characters that an address cannot hold", param="path") from None
        return url.copy_merge_params(_checked_params(params)) if params else url

    def _headers(self, headers: Mapping[str, str] | None, has_json: bool, expect_json: bool) -> httpx.Headers:
        merged = httpx.Headers(self._default_headers)
        merged.update(_checked_headers(headers, "headers"))
        if expect_json and "accept" not in merged:
            merged["Accept"] = "application/json"
        if has_json and "content-type" not in merged:
            merged["Content-Type"] = "application/json"
        return merged

    def _follow(self, call: _Call) -> HttpResponse:
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._send(call)
            target = self._redirect_target(call, response)
            if target is None:
                return response
            self._redirect(call, target)
        raise QlikApiError(f"{call.method} {response.url}: {response.status} {_reason(response.status)}: "
                           f"more than {MAX_REDIRECTS} redirects", status=response.status, method=call.method,
                           url=response.url)

    def _redirect_target(self, call: _Call, response: HttpResponse) -> httpx.URL | None:
        location = response.headers.get("location")
        if response.status not in _REDIRECT_STATUSES or not location:
            return None
        target = call.url.join(location)  # httpx refused an invalid Location already (see _network_failure)
        same = _origin(target) == _origin(call.url)
        if call.method not in ("GET", "HEAD") and (response.status not in (307, 308) or not same):
            return None  # a body is never sent again elsewhere, nor turned into a GET
        problem = _redirect_problem(call.url, target)
        if problem:
            raise QlikApiError(f"{call.method} {response.url}: {response.status} {_reason(response.status)}: "
                               f"{problem}", status=response.status, method=call.method, url=response.url)
        return target

    def _redirect(self, call: _Call, target: httpx.URL) -> None:
        dropped: list[str] = []
        if _origin(target) != _origin(call.url):
            dropped = [name for name in call.headers if name.lower() in SECRET_HEADERS]
            for name in dropped:
                del call.headers[name]
        call.url = target
        self._note(f"following the redirect to {_shown(target)}"
                   + (f" (another server: not sending {', '.join(dropped)})" if dropped else ""))

    def _send(self, call: _Call) -> HttpResponse:
        """One hop, with its retries."""
        call.note = ""
        attempt = 1
        while True:
            outcome = self._attempt(call)
            wait = self._retry_wait(call, outcome, attempt)
            if wait is None:
                break
            cause = outcome.short if isinstance(outcome, _Failure) else str(outcome.status)
            self._note(f"retrying in {wait:.1f} s after {cause}")
            self._sleep(wait)
            attempt += 1
        if isinstance(outcome, _Failure):
            shown = _shown(call.url)
            raise QlikConnectionError(f"{call.method} {shown}: {outcome.text}{call.note}", hint=outcome.hint,
                                      url=shown, tls=outcome.tls)
        return outcome

    def _retry_wait(self, call: _Call, outcome: HttpResponse | _Failure, attempt: int) -> float | None:
        """The wait before the next attempt, or None (with ``call.note`` saying why, when it matters)."""
        if not _retryable(call.method, outcome):
            return None
        tried = f"after {attempt} attempts" if attempt > 1 else ""
        if attempt >= self.settings.retries:
            call.note = f" ({tried})" if tried else ""
            return None
        asked = _retry_after(outcome) if isinstance(outcome, HttpResponse) else None
        wait = _backoff(attempt) if asked is None else asked
        if wait >= call.deadline - self._clock():
            why = f"a retry in {wait:.1f} s would pass the overall deadline of {self.settings.timeout:g} s"
            call.note = f" ({'; '.join(filter(None, (tried, why)))})"
            return None
        return wait

    def _attempt(self, call: _Call) -> HttpResponse | _Failure:
        started = self._clock()
        remaining = call.deadline - started
        if remaining <= 0:
            return _Failure(f"no answer within the overall deadline of {self.settings.timeout:g} s", "deadline",
                            retryable=False)
        limits = _Limits.within(self.settings, remaining)
        try:
            status, headers, body = self._exchange(call, limits.timeout(), started)
        except (httpx.HTTPError, OSError) as exc:
            proxy = _proxy_for(call.url) if self.settings.trust_env else None
            failure = _failure(exc, call.url, limits, proxy)
            self._note(f"{call.method} {_shown(call.url)} -> {failure.short} ({self._ms(started)} ms)")
            return failure
        return HttpResponse(status, headers, body, _shown(call.url), self._clock() - call.started)

    def _ms(self, since: float) -> int:
        return round((self._clock() - since) * 1000)

    def _exchange(self, call: _Call, timeout: httpx.Timeout, started: float) -> tuple[int, httpx.Headers, bytes]:
        request = self._client.build_request(call.method, call.url, headers=call.headers, content=call.body,
                                             timeout=timeout)
        response = self._client.send(request, stream=True)
        try:
            self._note(f"{call.method} {_shown(call.url)} -> {response.status_code} ({self._ms(started)} ms)")
            return response.status_code, response.headers, self._read(call, response)
        finally:
            response.close()

    def _read(self, call: _Call, response: httpx.Response) -> bytes:
        """The body, at most ``max_body_bytes``, before the deadline."""
        limit = self.settings.max_body_bytes
        declared = response.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
            raise self._too_large(call, response.status_code)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise self._too_large(call, response.status_code)
            if self._clock() > call.deadline:
                shown = _shown(call.url)
                raise QlikConnectionError(f"{call.method} {shown}: the answer did not arrive within the overall "
                                          f"deadline of {self.settings.timeout:g} s", url=shown)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, call: _Call, status: int) -> QlikApiError:
        limit = self.settings.max_body_bytes
        size = f"{limit // MiB} MiB" if limit % MiB == 0 else f"{limit} bytes"
        shown = _shown(call.url)
        return QlikApiError(f"{call.method} {shown}: {status} {_reason(status)}: the answer is too large "
                            f"(more than {size}); not read", status=status, method=call.method, url=shown)


# ---------------------------------------------------------------- server certificates


def _peer_chain(tls: Any) -> list[bytes]:
    """The DER chain the server sent: ``SSLSocket.get_unverified_chain()`` on Python 3.13+, the same method of
    the private ``_sslobj`` on 3.10-3.12, else (another runtime) only the leaf from ``getpeercert``."""
    getter = getattr(tls, "get_unverified_chain", None) or getattr(getattr(tls, "_sslobj", None),
                                                                   "get_unverified_chain", None)
    chain = getter() if getter is not None else None
    if chain:
        return [cert if isinstance(cert, bytes) else cert.public_bytes(_ssl.ENCODING_DER)
                for cert in chain]
    leaf = tls.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def fetch_server_certificates(url: str, *, timeout: float = 10.0) -> list[bytes]:
    """The certificates (DER, the server's own first) that the server at ``url`` (https, see
    :func:`normalize_base_url`) presents, *without* verifying them, so that a person can check fingerprints.

    Connects directly (no proxy). :raises QlikConnectionError: when the server cannot be reached or
    the TLS handshake fails.
    """
    target = httpx.URL(normalize_base_url(url, allow_http_loopback=False))
    _seconds(timeout, "timeout")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # on purpose: this shows what is there, it trusts nothing
    try:
        with socket.create_connection((target.host, target.port or 443), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=target.host) as tls:
            return _peer_chain(tls)
    except OSError as exc:
        failure = _failure(exc, target, _Limits(timeout, timeout, timeout), None)
        raise QlikConnectionError(f"cannot read the certificates of {_shown(target)}: {failure.text}",
                                  hint=failure.hint, url=_shown(target), tls=failure.tls) from None
