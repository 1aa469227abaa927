"""The server machinery shared by the Qlik emulators: a threaded HTTP(S) server on 127.0.0.1, a tiny router,
request recording and fault injection.

An emulator is a :class:`Backend`: ``handle(request)`` returns a :class:`Response`, or ``None`` when the
request is not its own (the next mounted backend is asked; when none answers, a 404 page). Several backends
can be mounted on one :class:`EmulatorServer`, so that one server can host both the QSEoW and a Qlik Cloud
emulator. Handlers may raise :class:`HttpError` to answer with a plain-text error.
"""

from __future__ import annotations

import html
import json
import re
import ssl
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Generic, NamedTuple, Protocol, Self, TypeVar, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from .tls import CertKind, ServerTls, server_tls

#: how long an idle or stalled client connection is kept (a bound, so no server thread lingers for ever)
SOCKET_TIMEOUT = 10.0


@dataclass(frozen=True)
class Request:
    """One HTTP request as a backend sees it; header names are lower-case."""

    method: str
    path: str
    query_items: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]
    body: bytes
    scheme: str

    @property
    def query(self) -> dict[str, str]:
        return dict(self.query_items)

    @property
    def cookies(self) -> dict[str, str]:
        pairs = (part.strip().partition("=") for part in self.headers.get("cookie", "").split(";"))
        return {name: value for name, sep, value in pairs if sep and name}

    def json(self) -> Any:
        """The body as JSON, or an :class:`HttpError` 400."""
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise HttpError(400, f"The request body is not valid JSON: {exc}") from exc


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(data, separators=(",", ":")).encode(), "application/json; charset=utf-8")

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        return cls(status, text.encode())

    @classmethod
    def page(cls, status: int, heading: str, message: str) -> Response:
        """An HTML error page, titled like ``404 - Not Found``."""
        title = f"{status} - {HTTPStatus(status).phrase}"
        body = (f"<html><head><title>{title}</title></head><body><h1>{html.escape(heading)}</h1>"
                f"<p>{html.escape(message)}</p></body></html>")
        return cls(status, body.encode(), "text/html; charset=utf-8")


class HttpError(Exception):
    """Raised by a handler to answer with a plain-text error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def response(self) -> Response:
        return Response.text(self.status, self.message)


class Backend(Protocol):
    def handle(self, request: Request) -> Response | None: ...


C = TypeVar("C")
Handler = Callable[[C, dict[str, str]], Response]


class Router(Generic[C]):
    """Routes (method, path pattern) to handlers; ``{name}`` in a pattern matches one path segment.

    Paths match case-insensitively, with or without a trailing slash; the first route added wins.
    """

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler[C]]] = []

    def add(self, method: str, pattern: str, handler: Handler[C]) -> None:
        parts = re.split(r"\{(\w+)\}", pattern)
        regex = "".join(f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part) for i, part in enumerate(parts))
        self._routes.append((method, re.compile(f"{regex}/?", re.IGNORECASE), handler))

    def dispatch(self, method: str, path: str, context: C) -> Response | None:
        """The handler's response; 405 when only other methods match the path; ``None`` when no path matches."""
        allowed = []
        for route_method, regex, handler in self._routes:
            match = regex.fullmatch(path)
            if match and route_method == method:
                return handler(context, match.groupdict())
            if match:
                allowed.append(route_method)
        if allowed:
            return Response(405, b"Method Not Allowed", headers=[("Allow", ", ".join(allowed))])
        return None


class RecordedRequest(NamedTuple):
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass(frozen=True)
class Stall:
    """What a stalled request gets: no answer for ``seconds``, then a closed connection."""

    seconds: float


@dataclass
class _Rule:
    path_prefix: str
    remaining: int
    outcome: Response | Stall


class EmulatorServer:
    """A threaded HTTP(S) server on 127.0.0.1 (a random free port) serving the mounted backends.

    It records every request (:attr:`requests`), answers injected faults before the backends see a request
    (:meth:`fail_next`, :meth:`stall`), and keeps the tracebacks of backend errors (:attr:`errors`: a
    fixture fails the test when it is not empty). Use as a context manager, or call :meth:`close`.

    Over HTTPS (``tls``) its certificate (``cert``) is issued by the test session's shared CA, or with
    ``own_ca`` by a fresh CA of this server's own (:attr:`ca_cert_path` is then that CA, and trusts no other
    emulator server).
    """

    def __init__(self, *, tls: bool = True, cert: CertKind = "valid", own_ca: bool = False) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="qlik-emulator-")
        self._tls = server_tls(Path(self._folder.name), cert, own=own_ca) if tls else None
        self._lock = threading.Lock()
        self._backends: list[Backend] = []
        self._requests: list[RecordedRequest] = []
        self._rules: list[_Rule] = []
        self._errors: list[str] = []
        self._release = threading.Event()
        self._httpd = _HttpServer(self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"qlik-emulator-{self.port}", daemon=True)
        self._thread.start()

    # --- what clients need -------------------------------------------------------------------------------

    @property
    def tls(self) -> bool:
        return self._tls is not None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def ca_cert_path(self) -> Path:
        """The PEM of the test CA that the server certificate chains to (HTTPS servers only)."""
        return self._require_tls().ca_cert_path

    @property
    def ca_cert_pem(self) -> bytes:
        """That CA's certificate (HTTPS servers only)."""
        return self._require_tls().ca_cert_pem

    @property
    def server_cert_pem(self) -> bytes:
        """The server's leaf certificate (HTTPS servers only)."""
        return self._require_tls().cert_pem

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        return self._tls.context if self._tls else None

    def _require_tls(self) -> ServerTls:
        if self._tls is None:
            raise AttributeError("a plain-HTTP emulator server has no certificate")
        return self._tls

    # --- backends, recording and faults ------------------------------------------------------------------

    def mount(self, backend: Backend) -> None:
        with self._lock:
            self._backends.append(backend)

    def unmount(self, backend: Backend) -> None:
        with self._lock:
            self._backends.remove(backend)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order: (method, path, query dict, headers dict with lower-case names)."""
        with self._lock:
            return list(self._requests)

    @property
    def errors(self) -> list[str]:
        """Tracebacks of exceptions raised by backends (answered with 500): emulator bugs."""
        with self._lock:
            return list(self._errors)

    def fail_next(self, path_prefix: str, status: int, *, count: int = 1, headers: Mapping[str, str] | None = None,
                  body: bytes | str = b"", content_type: str = "text/plain; charset=utf-8") -> None:
        """Answer the next ``count`` requests whose path starts with ``path_prefix`` with this response."""
        data = body.encode() if isinstance(body, str) else body
        response = Response(status, data, content_type, list((headers or {}).items()))
        self._add_rule(_Rule(path_prefix, count, response))

    def stall(self, path_prefix: str, seconds: float, *, count: int = 1) -> None:
        """Accept the next ``count`` matching requests but answer nothing for ``seconds``, then hang up."""
        self._add_rule(_Rule(path_prefix, count, Stall(seconds)))

    def _add_rule(self, rule: _Rule) -> None:
        if rule.remaining < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._rules.append(rule)

    def reset(self) -> None:
        """Forget the recorded requests, pending faults and errors; end stalled requests now."""
        with self._lock:
            self._requests.clear()
            self._rules.clear()
            self._errors.clear()
            self._release.set()
            self._release = threading.Event()

    def close(self) -> None:
        self.reset()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
        self._folder.cleanup()

    def __enter__(self) -> EmulatorServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- called by the request handler threads -----------------------------------------------------------

    def dispatch(self, request: Request) -> Response | Stall:
        with self._lock:
            self._requests.append(RecordedRequest(request.method, request.path, request.query,
                                                  dict(request.headers)))
            outcome = self._take_rule(request.path)
            backends = list(self._backends)
        if outcome is not None:
            return outcome
        try:
            return self._ask(backends, request)
        except Exception:
            with self._lock:
                self._errors.append(traceback.format_exc())
            return Response.page(500, "Internal Server Error", "The emulator failed; see EmulatorServer.errors")

    def _take_rule(self, path: str) -> Response | Stall | None:
        for rule in self._rules:
            if path.startswith(rule.path_prefix):
                rule.remaining -= 1
                if rule.remaining == 0:
                    self._rules.remove(rule)
                return rule.outcome
        return None

    @staticmethod
    def _ask(backends: list[Backend], request: Request) -> Response:
        for backend in backends:
            try:
                response = backend.handle(request)
            except HttpError as exc:
                response = exc.response
            if response is not None:
                return response
        return Response.page(404, "Not Found", "The requested resource was not found.")

    def wait_stalled(self, stall: Stall) -> None:
        with self._lock:
            release = self._release
        release.wait(stall.seconds)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, emulator: EmulatorServer) -> None:
        self.emulator = emulator
        super().__init__(("127.0.0.1", 0), _RequestHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Handle one connection; for HTTPS, do the TLS handshake here, in the connection's own thread."""
        context = self.emulator.ssl_context
        if context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(SOCKET_TIMEOUT)
        try:
            tls_socket = context.wrap_socket(request, server_side=True)
        except OSError:  # the client refused the certificate, or hung up: nothing to answer
            return
        with tls_socket:
            super().finish_request(tls_socket, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client that hung up is no error
            super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "qlik-emulator"
    timeout = SOCKET_TIMEOUT
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK wait

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, *_args: Any) -> None:
        """Quiet: the emulator records requests instead."""

    def _serve(self) -> None:
        emulator = cast(_HttpServer, self.server).emulator
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._write(Response.text(411, "Length Required: chunked request bodies are not emulated"))
            self.close_connection = True
            return
        outcome = emulator.dispatch(self._request())
        if isinstance(outcome, Stall):
            emulator.wait_stalled(outcome)
            self.close_connection = True
            return
        self._write(outcome)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def _request(self) -> Request:
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): ", ".join(self.headers.get_all(name, [])) for name in self.headers}
        return Request(method=self.command, path=unquote(parts.path), body=body, headers=headers,
                       query_items=tuple(parse_qsl(parts.query, keep_blank_values=True)),
                       scheme="https" if isinstance(self.connection, ssl.SSLSocket) else "http")

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        if response.status != 204:  # No Content: no body, no body headers
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


class MountedEmulator:
    """What every emulator shares: a server of its own or one it is mounted on, the addresses and recordings
    tests read, and ``close``. A subclass sets up its state, then calls :meth:`_mount`."""

    def __init__(self, tls: bool = True, *, server: EmulatorServer | None = None, cert: CertKind = "valid",
                 own_ca: bool = False) -> None:
        self._own_server = server is None
        self.server = server or EmulatorServer(tls=tls, cert=cert, own_ca=own_ca)
        self.fail_next = self.server.fail_next
        self.stall = self.server.stall
        self._lock = threading.RLock()
        self._auth_failures: list[str] = []

    def _mount(self) -> None:
        self.server.mount(self)  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ca_cert_path(self) -> Path:
        return self.server.ca_cert_path

    @property
    def server_cert_pem(self) -> bytes:
        return self.server.server_cert_pem

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.server.requests

    @property
    def auth_failures(self) -> list[str]:
        """Why each refused login was refused, in order (the client sees only the status and page)."""
        with self._lock:
            return list(self._auth_failures)

    def close(self) -> None:
        """Unmount from the server; stop the server too if this emulator started it."""
        self.server.unmount(self)  # type: ignore[arg-type]
        if self._own_server:
            self.server.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
