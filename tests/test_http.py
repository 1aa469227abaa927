"""qs_jwt.http against real servers on 127.0.0.1: plain HTTP, and HTTPS with certificates from tests/testca.py.

Each test scripts its server's answers (statuses, headers, delays, resets, redirects, big bodies). Waits between
retries go to a fake clock, so backoff costs nothing; the few timeout tests use real sub-second timeouts.
Every test runs with SSL_CERT_FILE, SSL_CERT_DIR, REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE pointing at a CA that
signed nothing here, and with no proxy variables: no test relies on the machine's trust or proxies.
"""

from __future__ import annotations

import email.utils
import importlib.util
import logging
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

import qs_jwt.http as qhttp
from qs_jwt import __version__
from qs_jwt.errors import ArgumentTypeError, InvalidValueError, QlikApiError, QlikConnectionError
from qs_jwt.http import (
    HttpClient,
    HttpResponse,
    HttpSettings,
    build_ssl_context,
    fetch_server_certificates,
    normalize_base_url,
    one_line,
    parse_error_items,
    raise_for_status,
)
from testca import ServerCert, TestCA

ROOT = Path(__file__).resolve().parents[1]
JSON = {"Content-Type": "application/json"}


# ---------------------------------------------------------------- local servers


@dataclass
class Reply:
    """One scripted answer. ``action``: "" (answer), "hang" (read, never answer), "reset" (RST), "drip" (body a
    byte at a time), "truncate" (half the body, then close), "stream" (no Content-Length; close at the end)."""

    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: dict[str, str | None] = field(default_factory=lambda: dict(JSON))
    action: str = ""


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_ANY(self) -> None:
        owner = self.server.owner
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        owner.seen.append(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        reply = owner.next_reply()
        if reply.action == "hang":
            owner.release.wait(10)
            self.close_connection = True
        elif reply.action == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        else:
            self._answer(reply)

    def _answer(self, reply: Reply) -> None:
        self.send_response_only(reply.status)
        length = None if reply.action == "stream" else str(len(reply.body))
        headers = {"Date": self.date_time_string(), "Content-Length": length, **reply.headers}
        if reply.action in ("stream", "truncate"):
            headers["Connection"] = "close"
            self.close_connection = True
        for name, value in headers.items():
            if value is not None:
                self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if reply.action == "drip":
            for index in range(len(reply.body)):
                self.wfile.write(reply.body[index:index + 1])
                self.wfile.flush()
                if self.server.owner.release.wait(0.1):
                    return
        elif reply.action == "truncate":
            self.wfile.write(reply.body[: len(reply.body) // 2])
        else:
            for start in range(0, len(reply.body), 1 << 16):
                self.wfile.write(reply.body[start:start + (1 << 16)])

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_ANY


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, owner: Server, tls: ssl.SSLContext | None) -> None:
        self.owner = owner
        self.tls = tls
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except OSError:  # the client refused our certificate: that is what some tests want
                return
        try:
            super().finish_request(request, client_address)
        finally:
            request.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away (too-large answers, timeouts) is expected


class Server:
    """A local server whose answers a test scripts with :meth:`script` (the last answer repeats)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.replies = [Reply()]
        self.seen: list[Seen] = []
        self.release = threading.Event()
        self._httpd = _Server(self, tls)
        self.port = self._httpd.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._thread.start()

    def script(self, *replies: Reply) -> Server:
        self.replies = list(replies)
        return self

    def next_reply(self) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    def stop(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


@dataclass
class Pki:
    folder: Path
    ca_file: Path
    unrelated_ca_file: Path
    self_signed_file: Path
    certs: dict[str, ServerCert]

    def context(self, name: str) -> ssl.SSLContext:
        return self.certs[name].server_context(self.folder, name)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = TestCA()
    certs = {"valid": ca.issue(), "expired": ca.issue(expired=True), "wrong_host": ca.issue(("qlik.example",)),
             "self_signed": ca.issue(self_signed=True)}
    self_signed_file = folder / "self-signed.pem"
    self_signed_file.write_bytes(certs["self_signed"].cert_pem)
    return Pki(folder, ca.write_ca(folder / "ca.pem"), TestCA(name="unrelated CA").write_ca(folder / "other.pem"),
               self_signed_file, certs)


@pytest.fixture(autouse=True)
def _no_machine_trust_or_proxy(monkeypatch: pytest.MonkeyPatch, pki: Pki, tmp_path: Path) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.setenv(name, str(pki.unrelated_ca_file))
    (tmp_path / "no-certs").mkdir()
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-certs"))


@pytest.fixture
def serve(pki: Pki) -> Iterator[Callable[..., Server]]:
    """``serve()`` for HTTP, ``serve("valid" | "expired" | "wrong_host" | "self_signed")`` for HTTPS."""
    servers: list[Server] = []

    def start(tls: str | None = None) -> Server:
        servers.append(Server(pki.context(tls) if tls else None))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


class FakeTime:
    """A clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
def client(fake: FakeTime, lines: list[str]) -> Iterator[Callable[..., HttpClient]]:
    """``client(server_or_url, **settings)``: a client on the fake clock that logs to ``lines``."""
    made: list[HttpClient] = []

    def make(target: Server | str, *, headers: dict[str, str] | None = None, **settings: Any) -> HttpClient:
        url = target.url if isinstance(target, Server) else target
        made.append(HttpClient(url, HttpSettings(**settings), log=lines.append, default_headers=headers,
                               sleep=fake.sleep, clock=fake.clock))
        return made[-1]

    yield make
    for each in made:
        each.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def invalid_value(excinfo: pytest.ExceptionInfo[InvalidValueError], param: str) -> str:
    """The reason of an InvalidValueError, checked: it names ``param`` once, in front, and is one line."""
    error = excinfo.value
    assert error.param == param
    assert str(error) == f"{param}: {error.reason}"
    assert param not in error.reason and "\n" not in str(error)
    return error.reason


# ---------------------------------------------------------------- settings


def test_settings_defaults() -> None:
    settings = HttpSettings()
    assert (settings.timeout, settings.connect_timeout, settings.read_timeout, settings.retries) == (30, 10, 30, 3)
    assert settings.max_body_bytes == 16 * 1024 * 1024
    assert settings.user_agent == f"qs-jwt/{__version__}"
    assert settings.trust_env and not settings.insecure and settings.ca_cert is None


@pytest.mark.parametrize(("param", "value"), [
    ("timeout", 0), ("timeout", -1), ("timeout", float("nan")), ("timeout", float("inf")), ("timeout", 1e9),
    ("connect_timeout", 0.0), ("read_timeout", -0.5), ("retries", 0), ("retries", 11), ("retries", -3),
    ("max_body_bytes", 0), ("max_body_bytes", 2**40), ("ca_cert", ""), ("ca_cert", "  "),
    ("user_agent", ""), ("user_agent", "qs-jwt\r\nX-Evil: 1"), ("user_agent", "x" * 201),
])
def test_settings_refuse_bad_values(param: str, value: object) -> None:
    with pytest.raises(InvalidValueError) as excinfo:
        HttpSettings(**{param: value})  # type: ignore[arg-type]
    invalid_value(excinfo, param)


@pytest.mark.parametrize(("param", "value"), [
    ("timeout", "5"), ("timeout", True), ("retries", 2.0), ("retries", True), ("ca_cert", 5),
    ("insecure", "yes"), ("trust_env", 1), ("user_agent", b"qs-jwt"), ("max_body_bytes", 1.5),
])
def test_settings_refuse_wrong_types(param: str, value: object) -> None:
    with pytest.raises(ArgumentTypeError) as excinfo:
        HttpSettings(**{param: value})  # type: ignore[arg-type]
    assert isinstance(excinfo.value, TypeError)
    invalid_value(excinfo, param)


# ---------------------------------------------------------------- base addresses


@pytest.mark.parametrize(("given", "expected"), [
    ("tenant.eu.qlikcloud.com", "https://tenant.eu.qlikcloud.com"),
    ("  HTTPS://Tenant.EU.QlikCloud.com/  ", "https://tenant.eu.qlikcloud.com"),
    ("qlik.example:8443/jwt/", "https://qlik.example:8443/jwt"),
    ("https://qlik.example/jwt//", "https://qlik.example/jwt"),
    ("http://localhost:4242", "http://localhost:4242"),
    ("http://127.0.0.5/prefix", "http://127.0.0.5/prefix"),
    ("http://[::1]:8080/", "http://[::1]:8080"),
    ("https://[2001:db8::1]/x", "https://[2001:db8::1]/x"),
    ("https://qlik.example:443", "https://qlik.example:443"),
])
def test_normalize_base_url(given: str, expected: str) -> None:
    assert normalize_base_url(given) == expected


@pytest.mark.parametrize(("given", "says"), [
    ("http://qlik.example", "https is required"),
    ("http://10.0.0.1:4242", "https is required"),
    ("ftp://qlik.example", "https://"),
    ("https://admin:s3cret-Passw0rd@qlik.example", "user name or password"),
    ("https://qlik.example/?xrfkey=abcdefghij123456", "query"),
    ("https://qlik.example/#top", "fragment"),
    ("", "server address"),
    ("https://", "no valid host"),
    ("https://qlik example", "no spaces"),
    ("https://qlik.example:99999", "port"),
    ("https://qlik.example:0", "port"),
    ("https://qlik.example:abc", "port"),
    ("https://<script>/", "no valid host"),
    ("https://[::1", "no valid host"),
    ("https://[not-ip]/", "no valid host"),
    ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl", "looks like a token"),
])
def test_normalize_base_url_refuses(given: str, says: str) -> None:
    with pytest.raises(InvalidValueError) as excinfo:
        normalize_base_url(given)
    reason = invalid_value(excinfo, "url")
    assert says in reason
    assert "s3cret" not in reason and "abcdefghij123456" not in reason


def test_normalize_base_url_http_loopback_only_when_allowed() -> None:
    with pytest.raises(InvalidValueError) as excinfo:
        normalize_base_url("http://127.0.0.1:8080", allow_http_loopback=False)
    assert invalid_value(excinfo, "url") == "https is required"
    with pytest.raises(ArgumentTypeError):
        normalize_base_url(b"https://qlik.example")  # type: ignore[arg-type]


# ---------------------------------------------------------------- TLS trust


@pytest.mark.parametrize(("content", "says"), [
    (None, "cannot read it"),
    (b"", "holds no PEM certificate"),
    (b"not a certificate\n", "holds no PEM certificate"),
    (b"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n", "holds no PEM certificate"),
    (b"-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n", "damaged"),
    ("folder", "not a file"),
])
def test_bad_trust_files(tmp_path: Path, content: bytes | str | None, says: str) -> None:
    path = tmp_path / "ca.pem"
    if content == "folder":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(InvalidValueError) as excinfo:
        build_ssl_context(str(path), False)
    reason = invalid_value(excinfo, "ca_cert")
    assert says in reason and str(path) in reason
    assert "PRIVATE" not in reason and "MIIB" not in reason


def test_bad_trust_file_fails_the_client_before_any_request(tmp_path: Path, serve: Callable[..., Server]) -> None:
    server = serve()
    with pytest.raises(InvalidValueError) as excinfo:
        HttpClient(server.url, HttpSettings(ca_cert=str(tmp_path / "missing.pem")))
    assert excinfo.value.param == "ca_cert"
    assert server.seen == []


def test_insecure_context_does_not_verify(pki: Pki) -> None:
    context = build_ssl_context(None, True)
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    assert build_ssl_context(str(pki.ca_file), True).verify_mode == ssl.CERT_NONE
    assert build_ssl_context(str(pki.ca_file), False).verify_mode == ssl.CERT_REQUIRED


def test_default_trust_falls_back_to_certifi_when_the_system_has_none(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "nothing.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "nothing"))
    assert build_ssl_context(None, False).cert_store_stats()["x509_ca"] > 100


def test_ca_cert_wins_over_ssl_cert_file(serve: Callable[..., Server], client: Callable[..., HttpClient],
                                         pki: Pki) -> None:
    server = serve("valid")  # SSL_CERT_FILE and REQUESTS_CA_BUNDLE point at an unrelated CA (autouse fixture)
    response = client(server, ca_cert=str(pki.ca_file)).request("GET", "/about")
    assert response.status == 200 and response.json() == {"ok": True}


def test_default_trust_honours_ssl_cert_file(serve: Callable[..., Server], client: Callable[..., HttpClient],
                                             pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    server = serve("valid")
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_file))
    assert client(server).request("GET", "/").status == 200


def test_self_signed_server_certificate_as_ca_cert(serve: Callable[..., Server],
                                                   client: Callable[..., HttpClient], pki: Pki) -> None:
    server = serve("self_signed")  # CA:false, its own issuer: a trust anchor only with partial chains
    assert client(server, ca_cert=str(pki.self_signed_file)).request("GET", "/").status == 200


@pytest.mark.parametrize(("cert", "trust", "says", "hint"), [
    ("valid", None, "is not trusted (self-signed certificate in certificate chain)", "--ca-cert FILE"),
    ("self_signed", None, "is not trusted (self-signed certificate)", "--ca-cert FILE"),
    ("valid", "self_signed_file", "is not trusted", "--ca-cert FILE"),
    ("expired", "ca_file", "has expired", "renew"),
    ("wrong_host", "ca_file", "is not valid for the host name 127.0.0.1", "host name the certificate names"),
])
def test_tls_failures(serve: Callable[..., Server], client: Callable[..., HttpClient], pki: Pki, fake: FakeTime,
                      cert: str, trust: str | None, says: str, hint: str) -> None:
    server = serve(cert)
    ca_cert = str(getattr(pki, trust)) if trust else None
    with pytest.raises(QlikConnectionError) as excinfo:
        client(server, ca_cert=ca_cert).request("GET", "/qrs/about")
    error = excinfo.value
    assert error.tls and error.hint is not None and hint in error.hint and "--insecure" in error.hint
    assert str(error).startswith(f"GET {server.url}/qrs/about: the certificate of 127.0.0.1:{server.port} {says}")
    assert "\n" not in str(error) and fake.sleeps == []  # never retried
    assert server.seen == []


@pytest.mark.parametrize("cert", ["valid", "expired", "wrong_host", "self_signed"])
def test_insecure_skips_verification(serve: Callable[..., Server], client: Callable[..., HttpClient],
                                     cert: str) -> None:
    assert client(serve(cert), insecure=True).request("GET", "/").status == 200


def test_https_to_a_plain_http_port(serve: Callable[..., Server], client: Callable[..., HttpClient],
                                    pki: Pki) -> None:
    server = serve()
    with pytest.raises(QlikConnectionError) as excinfo:
        client(f"https://127.0.0.1:{server.port}", ca_cert=str(pki.ca_file)).request("GET", "/")
    assert "TLS handshake with 127.0.0.1" in str(excinfo.value) and "https on that port" in str(excinfo.value)
    assert not excinfo.value.tls


# ---------------------------------------------------------------- server certificates


def test_fetch_server_certificates_gives_the_chain_unverified(serve: Callable[..., Server], pki: Pki) -> None:
    server = serve("valid")
    chain = fetch_server_certificates(f"127.0.0.1:{server.port}", timeout=5)
    assert len(chain) == 2
    leaf, issuer = (x509.load_der_x509_certificate(der) for der in chain)
    assert leaf == x509.load_pem_x509_certificate(pki.certs["valid"].cert_pem)
    assert issuer == x509.load_pem_x509_certificate(pki.ca_file.read_bytes())


def test_fetch_server_certificates_of_a_self_signed_or_expired_server(serve: Callable[..., Server],
                                                                       pki: Pki) -> None:
    (only,) = fetch_server_certificates(serve("self_signed").url)
    assert x509.load_der_x509_certificate(only) == x509.load_pem_x509_certificate(pki.self_signed_file.read_bytes())
    assert len(fetch_server_certificates(serve("expired").url)) == 2


def test_fetch_server_certificates_leaf_only_fallback(serve: Callable[..., Server], pki: Pki) -> None:
    server = serve("valid")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw, \
            context.wrap_socket(raw) as tls:

        class LeafOnly:  # a runtime without get_unverified_chain
            def getpeercert(self, binary_form: bool) -> bytes | None:
                return tls.getpeercert(binary_form=True)

        (leaf,) = qhttp._peer_chain(LeafOnly())
    assert x509.load_der_x509_certificate(leaf) == x509.load_pem_x509_certificate(pki.certs["valid"].cert_pem)


def test_fetch_server_certificates_failures(serve: Callable[..., Server]) -> None:
    port = free_port()
    with pytest.raises(QlikConnectionError,
                       match=f"^cannot read the certificates of https://127.0.0.1:{port}: 127.0.0.1:{port} refused"):
        fetch_server_certificates(f"https://127.0.0.1:{port}")
    with pytest.raises(QlikConnectionError, match="TLS handshake"):
        fetch_server_certificates(f"https://127.0.0.1:{serve().port}")
    with pytest.raises(InvalidValueError, match="https is required"):
        fetch_server_certificates("http://127.0.0.1:8080")
    with pytest.raises(InvalidValueError) as excinfo:
        fetch_server_certificates("qlik.example", timeout=0)
    invalid_value(excinfo, "timeout")


# ---------------------------------------------------------------- requests


def test_path_is_under_the_base_path_and_params_merge(serve: Callable[..., Server],
                                                      client: Callable[..., HttpClient]) -> None:
    server = serve()
    http = client(f"{server.url}/jwt/")
    http.request("GET", "/qrs/about", params={"xrfkey": "abcdefghij123456"})
    http.request("GET", "qrs/app?filter=name", params=[("a", "1"), ("a", "2")])
    http.request("GET", "//evil.example/steal")
    http.request("GET", f"{server.url}/other/root")
    assert [seen.path for seen in server.seen] == [
        "/jwt/qrs/about?xrfkey=abcdefghij123456", "/jwt/qrs/app?filter=name&a=1&a=2",
        "/jwt/evil.example/steal", "/other/root"]


def test_request_headers_body_and_answer(serve: Callable[..., Server], client: Callable[..., HttpClient]) -> None:
    server = serve()
    server.script(Reply(201, b'{"id": "a1"}', {"Content-Type": "application/json", "X-Thing": "yes"}))
    http = client(server, headers={"X-Qlik-User": "UserDirectory=D; UserId=u", "Accept": "text/plain"})
    response = http.request("POST", "/things", json={"name": "Åsa"}, headers={"accept": "application/json"})
    seen = server.seen[0]
    assert seen.method == "POST" and seen.body == '{"name":"Åsa"}'.encode()
    assert seen.headers["content-type"] == "application/json" and seen.headers["accept"] == "application/json"
    assert seen.headers["x-qlik-user"] == "UserDirectory=D; UserId=u"
    assert seen.headers["user-agent"] == f"qs-jwt/{__version__}"
    assert isinstance(response, HttpResponse)
    assert (response.status, response.json(), response.text()) == (201, {"id": "a1"}, '{"id": "a1"}')
    assert response.headers["x-thing"] == response.headers["X-THING"] == "yes"
    assert response.url == f"{server.url}/things" and response.elapsed >= 0
    http.request("PUT", "/raw", content=b"\x00\x01", expect_json=False)
    assert server.seen[1].body == b"\x00\x01" and "content-type" not in server.seen[1].headers
    assert server.seen[1].headers["accept"] == "text/plain"


def test_head_and_empty_answers(serve: Callable[..., Server], client: Callable[..., HttpClient]) -> None:
    server = serve()
    server.script(Reply(200, b'{"big": "body"}'), Reply(204, b""))
    http = client(server)
    assert http.request("HEAD", "/").body == b""
    assert http.request("DELETE", "/x").status == 204


def test_text_uses_the_charset(serve: Callable[..., Server], client: Callable[..., HttpClient]) -> None:
    server = serve()
    server.script(Reply(200, "Grüße".encode("latin-1"), {"Content-Type": "text/plain; charset=ISO-8859-1"}),
                  Reply(200, "Grüße".encode(), {"Content-Type": "text/plain; charset=nonsense"}))
    http = client(server)
    assert http.request("GET", "/", expect_json=False).text() == "Grüße"
    assert http.request("GET", "/", expect_json=False).text() == "Grüße"


def test_cookie_jar_keeps_every_cookie(serve: Callable[..., Server], client: Callable[..., HttpClient]) -> None:
    server = serve()
    server.script(Reply(200, b"{}", {**JSON, "Set-Cookie": "X-Qlik-Session=abc; Path=/; HttpOnly"}),
                  Reply(200, b"{}", {**JSON, "Set-Cookie": "_csrfToken=def; Path=/"}), Reply())
    http = client(server)
    for _ in range(3):
        http.request("GET", "/")
    assert dict(http.cookies) == {"X-Qlik-Session": "abc", "_csrfToken": "def"}
    assert "X-Qlik-Session=abc" in server.seen[2].headers["cookie"]
    assert "_csrfToken=def" in server.seen[2].headers["cookie"]


@pytest.mark.parametrize(("call", "param", "error"), [
    ({"method": "GE T"}, "method", InvalidValueError),
    ({"method": 5}, "method", ArgumentTypeError),
    ({"path": 5}, "path", ArgumentTypeError),
    ({"path": "https://other.example/x"}, "path", InvalidValueError),
    ({"path": "/a\r\nb"}, "path", InvalidValueError),
    ({"headers": {"X-Token": "a\r\nInjected: yes"}}, "headers", InvalidValueError),
    ({"headers": {"Bad Name": "x"}}, "headers", InvalidValueError),
    ({"headers": {"X-Num": 5}}, "headers", ArgumentTypeError),
    ({"headers": [("a", "b")]}, "headers", ArgumentTypeError),
    ({"params": {"a": 1}}, "params", ArgumentTypeError),
    ({"json": {"a": 1}, "content": b"x"}, "content", InvalidValueError),
    ({"content": "text"}, "content", ArgumentTypeError),
    ({"json": {"a": float("nan")}}, "json", InvalidValueError),
    ({"json": {"a": {1, 2}}}, "json", ArgumentTypeError),
])
def test_request_argument_errors(serve: Callable[..., Server], client: Callable[..., HttpClient],
                                 call: dict[str, Any], param: str, error: type[Exception]) -> None:
    server = serve()
    arguments = {"method": "POST", "path": "/", **call}
    with pytest.raises(error) as excinfo:
        client(server).request(arguments.pop("method"), arguments.pop("path"), **arguments)
    assert type(excinfo.value) is error
    invalid_value(excinfo, param)  # type: ignore[arg-type]
    assert "Injected" not in str(excinfo.value)
    assert server.seen == []


def test_client_argument_errors(serve: Callable[..., Server]) -> None:
    with pytest.raises(ArgumentTypeError):
        HttpClient(serve().url, {"timeout": 5})  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError) as excinfo:
        HttpClient("http://qlik.example")
    assert excinfo.value.param == "url"


def test_context_manager_closes(serve: Callable[..., Server]) -> None:
    with HttpClient(serve().url) as http:
        assert http.request("GET", "/").status == 200
    with pytest.raises(RuntimeError):
        http.request("GET", "/")


# ---------------------------------------------------------------- retries


@pytest.mark.parametrize("status", [502, 503, 504])
@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])
def test_idempotent_methods_retry_gateway_errors(serve: Callable[..., Server], client: Callable[..., HttpClient],
                                                 fake: FakeTime, lines: list[str], method: str,
                                                 status: int) -> None:
    server = serve()
    server.script(Reply(status, b"busy"), Reply(status, b"busy"), Reply(200, b"{}"))
    assert client(server).request(method, "/").status == 200
    assert len(server.seen) == 3
    assert len(fake.sleeps) == 2 and 0 <= fake.sleeps[0] <= 0.5 and 0 <= fake.sleeps[1] <= 1.0
    assert [line for line in lines if line.startswith("retrying")] == [
        f"retrying in {fake.sleeps[0]:.1f} s after {status}", f"retrying in {fake.sleeps[1]:.1f} s after {status}"]


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("status", [502, 503, 504])
def test_post_and_patch_never_retry_gateway_errors(serve: Callable[..., Server], client: Callable[..., HttpClient],
                                                   fake: FakeTime, method: str, status: int) -> None:
    server = serve()
    server.script(Reply(status, b"busy", {"Retry-After": "1"}), Reply(200))
    with pytest.raises(QlikApiError) as excinfo:
        client(server).request(method, "/login/jwt-session", json={})
    assert excinfo.value.status == status and "attempts" not in str(excinfo.value)
    assert len(server.seen) == 1 and fake.sleeps == []


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH"])
def test_429_retries_for_any_method_honouring_retry_after(serve: Callable[..., Server],
                                                          client: Callable[..., HttpClient], fake: FakeTime,
                                                          lines: list[str], method: str) -> None:
    server = serve()
    server.script(Reply(429, b"", {"Retry-After": "2"}), Reply(200))
    assert client(server).request(method, "/api/v1/users/me").status == 200
    assert fake.sleeps == [2.0] and len(server.seen) == 2
    assert "retrying in 2.0 s after 429" in lines


@pytest.mark.parametrize(("retry_after", "date_offset", "wait"), [
    (3, 0, 3.0),  # an HTTP-date, 3 s after the answer's Date
    (-30, 0, 0.0),  # a date in the past: no wait
    (5, None, 5.0),  # no Date header: this computer's clock
])
def test_retry_after_http_date(serve: Callable[..., Server], client: Callable[..., HttpClient], fake: FakeTime,
                               retry_after: int, date_offset: int | None, wait: float) -> None:
    now = time.time() - 3600  # the server's clock, an hour off: only the difference counts
    if date_offset is None:
        now = time.time()
    date = None if date_offset is None else email.utils.formatdate(now, usegmt=True)
    server = serve()
    server.script(Reply(429, b"", {"Retry-After": email.utils.formatdate(now + retry_after, usegmt=True),
                                   "Date": date}), Reply(200))
    client(server).request("GET", "/")
    assert len(fake.sleeps) == 1 and fake.sleeps[0] == pytest.approx(wait, abs=1.5 if date is None else 0)


@pytest.mark.parametrize("junk", ["-1", "soon", "1.5", "", "Wed, 99 Foo 2015 07:28:00 GMT", "²"])
def test_retry_after_junk_falls_back_to_backoff(serve: Callable[..., Server], client: Callable[..., HttpClient],
                                                fake: FakeTime, junk: str) -> None:
    server = serve()
    server.script(Reply(429, b"", {"Retry-After": junk}), Reply(200))
    client(server).request("GET", "/")
    assert len(fake.sleeps) == 1 and 0 <= fake.sleeps[0] <= 0.5


def test_retry_after_is_capped_at_60_seconds(serve: Callable[..., Server], client: Callable[..., HttpClient],
                                             fake: FakeTime) -> None:
    server = serve()
    server.script(Reply(503, b"", {"Retry-After": "86400"}), Reply(200))
    client(server, timeout=120).request("GET", "/")
    assert fake.sleeps == [60.0]


def test_retry_after_past_the_deadline_gives_up_at_once(serve: Callable[..., Server],
                                                        client: Callable[..., HttpClient], fake: FakeTime) -> None:
    server = serve()
    server.script(Reply(429, b'{"errors": [{"code": "RATE", "title": "Too many requests"}]}',
                        {**JSON, "Retry-After": "86400"}), Reply(200))
    with pytest.raises(QlikApiError) as excinfo:
        client(server).request("POST", "/api/v1/x")
    assert str(excinfo.value) == (
        f"POST {server.url}/api/v1/x: 429 Too Many Requests: RATE: Too many requests "
        "(a retry in 60.0 s would pass the overall deadline of 30 s)")
    assert fake.sleeps == [] and len(server.seen) == 1


def test_attempts_are_capped_and_the_error_names_the_status(serve: Callable[..., Server],
                                                            client: Callable[..., HttpClient],
                                                            fake: FakeTime) -> None:
    server = serve()
    server.script(Reply(429, b"slow down", {"Retry-After": "1"}))
    with pytest.raises(QlikApiError) as excinfo:
        client(server).request("GET", "/")
    assert str(excinfo.value) == f"GET {server.url}/: 429 Too Many Requests: slow down (after 3 attempts)"
    assert len(server.seen) == 3 and fake.sleeps == [1.0, 1.0]
    server.seen.clear()
    with pytest.raises(QlikApiError):
        client(server, retries=1).request("GET", "/")
    assert len(server.seen) == 1


def test_backoff_is_exponential_capped_and_jittered(serve: Callable[..., Server], client: Callable[..., HttpClient],
                                                    fake: FakeTime, monkeypatch: pytest.MonkeyPatch) -> None:
    bounds: list[tuple[float, float]] = []

    class Highest:  # full jitter draws from [0, bound]: take the bound
        def uniform(self, low: float, high: float) -> float:
            bounds.append((low, high))
            return high

    monkeypatch.setattr(qhttp, "_RANDOM", Highest())
    server = serve()
    server.script(Reply(503, b""))
    with pytest.raises(QlikApiError, match="after 8 attempts"):
        client(server, retries=8, timeout=3600).request("GET", "/")
    assert fake.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert all(low == 0.0 for low, _ in bounds)


def test_backoff_never_passes_the_deadline(serve: Callable[..., Server], client: Callable[..., HttpClient],
                                           fake: FakeTime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qhttp, "_RANDOM", type("Highest", (), {"uniform": lambda self, low, high: high})())
    server = serve()
    server.script(Reply(503, b""))
    with pytest.raises(QlikApiError) as excinfo:
        client(server, retries=10, timeout=5).request("GET", "/")
    assert fake.sleeps == [0.5, 1.0, 2.0]  # then 4 s more would end past 5 s
    assert str(excinfo.value).endswith("(after 4 attempts; a retry in 4.0 s would pass the overall deadline of 5 s)")


def test_connection_reset_is_retried_for_get_only(serve: Callable[..., Server], client: Callable[..., HttpClient],
                                                  fake: FakeTime, lines: list[str]) -> None:
    server = serve()
    server.script(Reply(action="reset"), Reply(200))
    assert client(server).request("GET", "/").status == 200
    assert len(server.seen) == 2 and len(fake.sleeps) == 1
    assert any(line.startswith("retrying in") and line.endswith("after connection reset") for line in lines)
    server.seen.clear()
    server.script(Reply(action="reset"), Reply(200))
    with pytest.raises(QlikConnectionError) as excinfo:
        client(server).request("POST", "/login/jwt-session")
    assert str(excinfo.value) == f"POST {server.url}/login/jwt-session: the connection to 127.0.0.1:{server.port} " \
                                 "was reset"
    assert len(server.seen) == 1 and len(fake.sleeps) == 1


def test_truncated_answer(serve: Callable[..., Server], client: Callable[..., HttpClient], fake: FakeTime) -> None:
    server = serve()
    server.script(Reply(200, b'{"a": "' + b"x" * 100 + b'"}', action="truncate"))
    with pytest.raises(QlikConnectionError, match="closed the connection without a complete answer"):
        client(server).request("POST", "/")
    assert len(server.seen) == 1 and fake.sleeps == []


def test_connection_refused(client: Callable[..., HttpClient], fake: FakeTime, lines: list[str]) -> None:
    port = free_port()
    with pytest.raises(QlikConnectionError) as excinfo:
        client(f"http://127.0.0.1:{port}").request("GET", "/qrs/about")
    assert str(excinfo.value) == (f"GET http://127.0.0.1:{port}/qrs/about: 127.0.0.1:{port} refused the connection "
                                  "(is the server running, and is the port right?) (after 3 attempts)")
    assert len(fake.sleeps) == 2 and not excinfo.value.tls
    assert lines[0].startswith(f"GET http://127.0.0.1:{port}/qrs/about -> connection refused (")


def test_dns_failure_is_not_retried(client: Callable[..., HttpClient], fake: FakeTime) -> None:
    with pytest.raises(QlikConnectionError) as excinfo:
        client("qs-jwt-test.invalid").request("GET", "/")
    assert "cannot find qs-jwt-test.invalid:443: its host name does not resolve (DNS)" in str(excinfo.value)
    assert fake.sleeps == []


# ---------------------------------------------------------------- timeouts (real, short)


def test_server_that_never_answers_times_out(serve: Callable[..., Server]) -> None:
    server = serve()
    server.script(Reply(action="hang"))
    started = time.monotonic()
    with pytest.raises(QlikConnectionError) as excinfo:
        HttpClient(server.url, HttpSettings(read_timeout=0.3, retries=1)).request("GET", "/")
    assert time.monotonic() - started < 2
    assert str(excinfo.value) == (f"GET {server.url}/: no answer from 127.0.0.1:{server.port} within 0.3 s "
                                  "(the read timeout)")


def test_overall_deadline_bounds_retries_and_reads(serve: Callable[..., Server]) -> None:
    server = serve()
    server.script(Reply(action="hang"))
    started = time.monotonic()
    with pytest.raises(QlikConnectionError) as excinfo:
        HttpClient(server.url, HttpSettings(timeout=0.4, read_timeout=20)).request("GET", "/")
    assert time.monotonic() - started < 2
    assert "within the overall deadline of 0.4 s" in str(excinfo.value)


def test_slow_drip_answer_hits_the_deadline(serve: Callable[..., Server]) -> None:
    server = serve()
    server.script(Reply(200, b'{"a": "' + b"x" * 100 + b'"}', action="drip"))
    started = time.monotonic()
    with pytest.raises(QlikConnectionError) as excinfo:
        HttpClient(server.url, HttpSettings(timeout=0.5, read_timeout=5)).request("GET", "/")
    assert time.monotonic() - started < 2
    assert str(excinfo.value) == f"GET {server.url}/: the answer did not arrive within the overall deadline of 0.5 s"


@pytest.fixture
def unaccepting_port() -> Iterator[int]:
    """A port whose listener never accepts and whose backlog is full: new connections time out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    held = [socket.create_connection(("127.0.0.1", port), timeout=1)]
    probe = socket.socket()
    probe.settimeout(0.2)
    try:
        probe.connect(("127.0.0.1", port))
        held.append(probe)
        full = False
    except TimeoutError:
        full = True
    if not full:
        for each in [*held, listener]:
            each.close()
        pytest.skip("this system accepts connections beyond a full backlog")
    yield port
    for each in [probe, *held, listener]:
        each.close()


def test_server_that_never_accepts_times_out(unaccepting_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(QlikConnectionError) as excinfo:
        HttpClient(f"http://127.0.0.1:{unaccepting_port}", HttpSettings(connect_timeout=0.3, retries=1)).request(
            "GET", "/")
    assert time.monotonic() - started < 2
    assert str(excinfo.value).endswith(f"no connection to 127.0.0.1:{unaccepting_port} within 0.3 s "
                                       "(the connect timeout)")


# ---------------------------------------------------------------- proxies


def test_dead_proxy_fails_clean(serve: Callable[..., Server], client: Callable[..., HttpClient],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    server, dead = serve(), free_port()
    for name in ("HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, f"http://proxyuser:Pr0xyPassw0rd@127.0.0.1:{dead}")
    with pytest.raises(QlikConnectionError) as excinfo:
        client(server, retries=1).request("GET", "/")
    text = str(excinfo.value)
    assert text.startswith(f"GET {server.url}/: cannot reach the proxy http://127.0.0.1:{dead}: 127.0.0.1:{dead} "
                           "refused the connection")
    assert "HTTPS_PROXY" in text and "Pr0xyPassw0rd" not in text and "proxyuser" not in text
    assert server.seen == []
    assert client(server, trust_env=False).request("GET", "/").status == 200
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert client(server).request("GET", "/").status == 200


@pytest.mark.parametrize(("proxy", "says"), [
    ("ftp://user:Pr0xyPassw0rd@127.0.0.1:1", "the proxy named in the environment is not a valid address"),
    ("socks5://user:Pr0xyPassw0rd@127.0.0.1:1", "needs httpx[socks] installed"),
])
def test_unusable_proxy_variable_fails_clean(serve: Callable[..., Server], monkeypatch: pytest.MonkeyPatch,
                                             proxy: str, says: str) -> None:
    if proxy.startswith("socks") and importlib.util.find_spec("socksio") is not None:
        pytest.skip("socksio is installed: SOCKS proxies work")
    monkeypatch.setenv("ALL_PROXY", proxy)
    with pytest.raises(QlikConnectionError) as excinfo:
        HttpClient(serve().url)
    assert says in str(excinfo.value) and "Pr0xyPassw0rd" not in str(excinfo.value)


# ---------------------------------------------------------------- redirects

SECRETS = {"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", "Cookie": "X-Qlik-Session=s1",
           "Proxy-Authorization": "Basic cHJveHk6cHc=", "X-Qlik-Xrfkey": "abcdefghij123456",
           "Qlik-Csrf-Token": "Zq8kQ2mN7pL4rT9vW1yB3cD5"}


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status, b"", {"Location": location})


def test_relative_redirect_is_followed(serve: Callable[..., Server], client: Callable[..., HttpClient],
                                       lines: list[str]) -> None:
    server = serve()
    server.script(redirect("/landing?xrfkey=abcdefghij123456", 303), Reply(200, b'{"here": 1}'))
    response = client(f"{server.url}/jwt").request("GET", "/start", headers=SECRETS)
    assert response.json() == {"here": 1} and response.url == f"{server.url}/landing?xrfkey=<redacted>"
    assert server.seen[1].headers["authorization"] == SECRETS["Authorization"]  # the same server
    assert f"following the redirect to {server.url}/landing?xrfkey=<redacted>" in lines


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_redirect_to_another_server_drops_secret_headers(serve: Callable[..., Server],
                                                         client: Callable[..., HttpClient], lines: list[str],
                                                         host: str) -> None:
    first, other = serve(), serve()
    first.script(Reply(302, b"", {"Location": f"http://{host}:{other.port}/x", "Set-Cookie": "jar=1; Path=/"}))
    http = client(first, headers={"X-Api-Key": "k" * 30})
    assert http.request("GET", "/", headers=SECRETS).status == 200
    assert first.seen[0].headers["authorization"] == SECRETS["Authorization"]
    received = other.seen[0].headers
    for name in [*SECRETS, "X-Api-Key"]:
        if name != "Cookie":
            assert name.lower() not in received
    # the caller's Cookie header stays behind; the jar's cookie goes where it belongs: its host, any port
    assert received.get("cookie") == (None if host == "localhost" else "jar=1")
    assert all(value not in str(other.seen) for value in SECRETS.values())
    assert any("another server: not sending" in line and "authorization" in line for line in lines)


def test_https_to_http_redirect_is_refused(serve: Callable[..., Server], client: Callable[..., HttpClient],
                                           pki: Pki) -> None:
    secure, plain = serve("valid"), serve()
    secure.script(redirect(f"{plain.url}/x?xrfkey=abcdefghij123456"))
    with pytest.raises(QlikApiError) as excinfo:
        client(secure, ca_cert=str(pki.ca_file)).request("GET", "/", headers=SECRETS)
    assert str(excinfo.value) == (f"GET {secure.url}/: 302 Found: refusing to follow a redirect from https to http "
                                  f"({plain.url}/x?xrfkey=<redacted>)")
    assert plain.seen == []


@pytest.mark.parametrize(("location", "says"), [
    ("http://qlik.example/x", "https is required"),
    ("ftp://127.0.0.1/x", "not an http(s) address"),
    ("http://user:pw@127.0.0.1:1/x", "user name or password"),
])
def test_bad_redirect_targets_are_refused(serve: Callable[..., Server], client: Callable[..., HttpClient],
                                          location: str, says: str) -> None:
    server = serve()
    server.script(redirect(location))
    with pytest.raises(QlikApiError, match="refusing to follow a redirect") as excinfo:
        client(server).request("GET", "/")
    assert says in str(excinfo.value) and "pw" not in str(excinfo.value)
    assert len(server.seen) == 1


def test_at_most_five_redirects(serve: Callable[..., Server], client: Callable[..., HttpClient]) -> None:
    server = serve()
    server.script(*[redirect(f"/hop{n}", 307) for n in range(5)], Reply(200))
    assert client(server).request("GET", "/").status == 200
    server.seen.clear()
    server.script(redirect("/again"))
    with pytest.raises(QlikApiError, match=r": 302 Found: more than 5 redirects$"):
        client(server).request("GET", "/")
    assert len(server.seen) == 6


def test_redirects_share_the_overall_deadline(serve: Callable[..., Server]) -> None:
    ticks = iter(range(0, 1000, 4))  # every look at the clock takes 4 s
    server = serve()
    server.script(redirect("/again"))
    http = HttpClient(server.url, HttpSettings(timeout=30), clock=lambda: float(next(ticks)), sleep=lambda _: None)
    with pytest.raises(QlikConnectionError, match=r"/again: no answer within the overall deadline of 30 s$"):
        http.request("GET", "/")
    http.close()
    assert len(server.seen) == 3


@pytest.mark.parametrize("status", [301, 302, 303])
def test_post_is_not_redirected_by_301_302_303(serve: Callable[..., Server], client: Callable[..., HttpClient],
                                               status: int) -> None:
    server = serve()
    server.script(redirect("/elsewhere?xrfkey=abcdefghij123456", status),
                  redirect("https://admin:S3cretPw@qlik.example/x"), redirect("http://[::1"))
    http = client(server)
    with pytest.raises(QlikApiError) as excinfo:
        http.request("POST", "/login/jwt-session", json={"a": 1})
    assert excinfo.value.status == status
    assert "redirected to /elsewhere?xrfkey=<redacted>, not followed" in str(excinfo.value)
    assert len(server.seen) == 1
    with pytest.raises(QlikApiError, match=r"redirected to https://qlik\.example/x, not followed$"):
        http.request("POST", "/login/jwt-session")
    with pytest.raises(QlikConnectionError, match=r"redirected to an address that is not valid$"):
        http.request("GET", "/login/jwt-session")
    assert len(server.seen) == 3  # not retried
    with pytest.raises(QlikApiError, match=r"^GET https://x: 302 Found: redirected to an address that is not valid"):
        raise_for_status(HttpResponse(302, {"location": "http://[::1"}, b"", "https://x", 0.0), "GET")


def test_post_follows_307_308_on_the_same_server_only(serve: Callable[..., Server],
                                                      client: Callable[..., HttpClient]) -> None:
    server, other = serve(), serve()
    server.script(redirect("/moved", 307), redirect("/moved-for-good", 308), Reply(200))
    client(server).request("POST", "/login", json={"a": 1})
    assert [(seen.method, seen.path, seen.body) for seen in server.seen] == [
        ("POST", "/login", b'{"a":1}'), ("POST", "/moved", b'{"a":1}'), ("POST", "/moved-for-good", b'{"a":1}')]
    server.script(redirect(f"{other.url}/moved", 307))
    with pytest.raises(QlikApiError, match=r"307 Temporary Redirect: redirected to .*, not followed"):
        client(server).request("POST", "/login", json={"a": 1})
    assert other.seen == []


# ---------------------------------------------------------------- API errors


def test_qlik_cloud_error_items(serve: Callable[..., Server], client: Callable[..., HttpClient]) -> None:
    server = serve()
    server.script(Reply(401, b'{"errors": [{"code": "LOGIN-2", "title": "Not authorized", "detail": "JWT expired",'
                             b' "status": "401"}, {"code": "X", "title": "second"}], "traceId": "0a1b2c"}'))
    with pytest.raises(QlikApiError) as excinfo:
        client(server).request("GET", "/api/v1/users/me")
    error = excinfo.value
    assert str(error) == (f"GET {server.url}/api/v1/users/me: 401 Unauthorized: LOGIN-2: Not authorized: "
                          "JWT expired (and 1 more)")
    assert (error.status, error.code, error.title, error.detail, error.trace_id) == (
        401, "LOGIN-2", "Not authorized", "JWT expired", "0a1b2c")
    assert (error.method, error.url) == ("GET", f"{server.url}/api/v1/users/me")
    assert error.items == (
        {"code": "LOGIN-2", "title": "Not authorized", "detail": "JWT expired", "status": 401, "traceId": "0a1b2c"},
        {"code": "X", "title": "second", "detail": None, "status": 401, "traceId": "0a1b2c"})


@pytest.mark.parametrize(("body", "headers", "message"), [
    (b'{"code": "QRS-1", "message": "App not found"}', JSON, "404 Not Found: QRS-1: App not found"),
    (b'{"error": "invalid_client", "error_description": "Client authentication failed"}', JSON,
     "404 Not Found: invalid_client: Client authentication failed"),
    (b'{"error": {"code": 17, "message": "nested"}}', JSON, "404 Not Found: 17: nested"),
    (b'[{"title": "first"}, {"title": "second"}]', JSON, "404 Not Found: first (and 1 more)"),
    (b'"just a string"', JSON, "404 Not Found: just a string"),
    (b'{"unrelated": true}', JSON, '404 Not Found: {"unrelated": true}'),
    (b'{"truncated": ', JSON, '404 Not Found: {"truncated":'),
    (b"Forbidden: the user is not\r\n  allowed", {"Content-Type": "text/plain"},
     "404 Not Found: Forbidden: the user is not allowed"),
    (b"<html><head><title>Qlik Sense: 403 &amp; more</title></head><body><h1>x</h1></body></html>",
     {"Content-Type": "text/html"}, "404 Not Found: Qlik Sense: 403 & more"),
    (b"<html><head><style>h1 {color: red}</style><script>var a = '<b>';</script></head>"
     b"<body><h1>Access  denied</h1>\n<p>Ask your admin</p></body></html>", {"Content-Type": "text/html"},
     "404 Not Found: Access denied Ask your admin"),
    (b"", {}, "404 Not Found"),
])
def test_error_bodies_become_one_line(serve: Callable[..., Server], client: Callable[..., HttpClient], body: bytes,
                                      headers: dict[str, str], message: str) -> None:
    server = serve()
    server.script(Reply(404, body, dict(headers)))
    with pytest.raises(QlikApiError) as excinfo:
        client(server).request("GET", "/x")
    assert str(excinfo.value) == f"GET {server.url}/x: {message}"


def test_long_html_error_page_is_cut(serve: Callable[..., Server], client: Callable[..., HttpClient]) -> None:
    server = serve()
    server.script(Reply(500, b"<html><body>" + b"word " * 1000 + b"</body></html>", {"Content-Type": "text/html"}))
    with pytest.raises(QlikApiError) as excinfo:
        client(server).request("POST", "/x")
    detail = excinfo.value.detail
    assert detail is not None and len(detail) == 200 and detail.endswith("…")
    assert str(excinfo.value) == f"POST {server.url}/x: 500 Internal Server Error: {detail}"


def test_ok_statuses_return_the_answer_for_the_caller_to_read(serve: Callable[..., Server],
                                                             client: Callable[..., HttpClient]) -> None:
    server = serve()
    server.script(Reply(401, b'{"errors": [{"code": "AUTH", "title": "JWT signature invalid"}]}'))
    response = client(server).request("POST", "/login/jwt-session", ok_statuses={401})
    assert response.status == 401 and response.json()["errors"][0]["title"] == "JWT signature invalid"
    with pytest.raises(QlikApiError, match=r"^post .*/login/jwt-session: 401 Unauthorized: AUTH: JWT signature"
                                           r" invalid$".replace("post", "POST")):
        raise_for_status(response, "post")
    raise_for_status(HttpResponse(207, {}, b"", "https://x", 0.0), "GET")


def test_non_json_success_answers(serve: Callable[..., Server], client: Callable[..., HttpClient]) -> None:
    server = serve()
    server.script(Reply(200, b"<html><title>Log in</title></html>", {"Content-Type": "text/html"}))
    http = client(server)
    with pytest.raises(QlikApiError) as excinfo:
        http.request("GET", "/qrs/about")
    assert str(excinfo.value) == f"GET {server.url}/qrs/about: 200 OK: the answer is not JSON (text/html): Log in"
    response = http.request("GET", "/qrs/about", expect_json=False)
    with pytest.raises(QlikApiError, match=r"^http://.*: 200 OK: the answer is not JSON \(text/html\): Log in$"):
        response.json()
    server.script(Reply(200, b'{"n": NaN}'), Reply(200, b"[" * 100_000 + b"]" * 100_000))
    with pytest.raises(QlikApiError, match="not JSON"):
        http.request("GET", "/")
    with pytest.raises(QlikApiError, match="not JSON"):
        http.request("GET", "/")


@pytest.mark.parametrize(("length", "limit"), [(True, None), (False, None), (False, 1024 * 1024)])
def test_huge_answers_are_bounded(serve: Callable[..., Server], client: Callable[..., HttpClient],
                                  length: bool, limit: int | None) -> None:
    server = serve()
    body = b"<html><title>Big</title>" + b" " * 50_000_000 + b"</html>"
    server.script(Reply(500, body, {"Content-Type": "text/html"}, action="" if length else "stream"))
    settings = {} if limit is None else {"max_body_bytes": limit}
    started = time.monotonic()
    with pytest.raises(QlikApiError) as excinfo:
        client(server, **settings).request("GET", "/")
    assert time.monotonic() - started < 3
    size = "16 MiB" if limit is None else "1 MiB"
    assert str(excinfo.value) == (f"GET {server.url}/: 500 Internal Server Error: the answer is too large "
                                  f"(more than {size}); not read")
    assert excinfo.value.status == 500


def test_max_body_bytes_not_whole_mebibytes(serve: Callable[..., Server], client: Callable[..., HttpClient]) -> None:
    server = serve()
    server.script(Reply(200, b'{"a": "' + b"x" * 2000 + b'"}'))
    with pytest.raises(QlikApiError, match=r"200 OK: the answer is too large \(more than 1000 bytes\)"):
        client(server, max_body_bytes=1000).request("GET", "/")


# ---------------------------------------------------------------- helpers


@pytest.mark.parametrize(("body", "line"), [
    (b"  plain\ttext\n\nhere ", "plain text here"),
    ("<p>caf&eacute; &lt;ok&gt;</p>", "café <ok>"),
    (b"<title>  </title><p>no title</p>", "no title"),
    (b"<title>unclosed title", "unclosed title"),
    (b"text <b>bold</b> <unclosed", "text bold"),
    (b"a < b", "a < b"),
    (b"<script>never closed", ""),
    (b"a\x1b[31mred\x1b[0m\x00b", "a [31mred [0m b"),
    (b"\xff\xfe bad bytes", "\ufffd\ufffd bad bytes"),
    (b"token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl leaked", "token <token redacted> leaked"),
    (b"<HTML><TITLE>Upper</TITLE></HTML>", "Upper"),
    (b"a < b and c > d", "a d"),
])
def test_one_line(body: bytes | str, line: str) -> None:
    assert one_line(body) == line


def test_one_line_is_cut_and_fast_on_hostile_markup() -> None:
    assert one_line("x" * 500, limit=10) == "x" * 9 + "…"
    started = time.monotonic()
    for hostile in ("<title" * 200_000, "<script>" * 100_000, "<" * 500_000, "</title>" * 100_000):
        one_line(hostile)
    assert time.monotonic() - started < 2


def test_parse_error_items_direct() -> None:
    assert parse_error_items(500, {}, b"") == ()
    assert parse_error_items(502, {"content-type": "text/plain; charset=latin-1"}, "Fehler: Gerät".encode("latin-1")) \
        == ({"code": None, "title": None, "detail": "Fehler: Gerät", "status": 502},)
    assert parse_error_items(400, JSON, b'{"errors": [{"code": 7, "status": true}, "junk"]}') == (
        {"code": "7", "title": None, "detail": None, "status": 400},)
    many = b'{"errors": [' + b",".join([b'{"code": "E"}'] * 100) + b"]}"
    assert len(parse_error_items(400, JSON, many)) == 20


# ---------------------------------------------------------------- secrets never shown

JWT = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjYW5hcnktdXNlciJ9.Y2FuYXJ5LXNpZ25hdHVyZS12YWx1ZQ"
SESSION = "3f1c2a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
CSRF = "Zq8kQ2mN7pL4rT9vW1yB3cD5"
XRFKEY = "Kx7Qm2Vp9Lr4Tz8W"
CANARIES = (JWT, SESSION, CSRF, XRFKEY)
CANARY_HEADERS = {"Authorization": f"Bearer {JWT}", "Cookie": f"X-Qlik-Session={SESSION}",
                  "Qlik-Csrf-Token": CSRF, "X-Qlik-Xrfkey": XRFKEY}


def _error_texts(error: BaseException) -> list[str]:
    return [str(error), repr(error), repr(vars(error))]


def test_secrets_never_reach_logs_or_errors(serve: Callable[..., Server], client: Callable[..., HttpClient],
                                            lines: list[str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the most verbose logging, httpx's and httpcore's loggers included
    shown: list[str] = []
    plain, other, untrusted, stalled = serve(), serve(), serve("valid"), serve()
    plain.script(
        Reply(200, b"{}", {**JSON, "Set-Cookie": f"X-Qlik-Session={SESSION}; Path=/"}),
        redirect(f"/next?xrfkey={XRFKEY}&qlik-csrf-token={CSRF}"),
        Reply(500, f'{{"errors": [{{"code": "E", "title": "rejected {JWT}", "detail": "try again"}}]}}'.encode()),
        Reply(401, f"<html><title>No: Bearer {JWT}</title></html>".encode(), {"Content-Type": "text/html"}),
        Reply(302, b"", {"Location": f"http://localhost:{other.port}/?jwt={JWT}"}),
    )
    stalled.script(Reply(action="hang"))
    params = {"xrfkey": XRFKEY}
    http = client(plain, headers=CANARY_HEADERS)
    http.request("GET", "/start", params=params)
    for expect in (QlikApiError, QlikApiError):
        with pytest.raises(expect) as api:
            http.request("GET", "/api", params=params)
        shown += _error_texts(api.value)
    http.request("GET", "/leave", params=params)
    with pytest.raises(QlikConnectionError) as tls:
        client(untrusted, headers=CANARY_HEADERS).request("GET", "/qrs/about", params=params)
    with pytest.raises(QlikConnectionError) as timeout:
        client(stalled, headers=CANARY_HEADERS, read_timeout=0.2, retries=2).request("POST", "/", params=params)
    shown += _error_texts(tls.value) + _error_texts(timeout.value)
    assert any("xrfkey=<redacted>" in line for line in lines)
    assert any(" -> 500 (" in line for line in lines) and any(" -> read timeout (" in line for line in lines)
    for text in [*lines, *shown, caplog.text]:
        for canary in CANARIES:
            assert canary not in text
    assert other.seen and all(canary not in repr([seen.headers for seen in other.seen]) for canary in CANARIES)


def test_server_echo_of_a_short_secret_is_hidden(serve: Callable[..., Server],
                                                 client: Callable[..., HttpClient]) -> None:
    server = serve()
    server.script(Reply(400, f"bad xrfkey {XRFKEY} for session {SESSION}".encode(), {"Content-Type": "text/plain"}))
    with pytest.raises(QlikApiError) as excinfo:
        client(server, headers=CANARY_HEADERS).request("GET", "/qrs/about", params={"xrfkey": XRFKEY})
    assert XRFKEY not in str(excinfo.value) and SESSION not in str(excinfo.value)


# ---------------------------------------------------------------- httpx stays out of minting


def _imported(args: list[str], tmp_path: Path) -> str:
    done = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    modules = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time")}
    return ",".join(sorted(name for name in modules if name.split(".")[0] in ("httpx", "httpcore", "h11", "anyio")
                           or name == "qs_jwt.http"))


def test_minting_a_token_does_not_import_httpx(tmp_path: Path) -> None:
    key = ROOT / "tests" / "keys" / "rsa2048_pkcs8.pem"
    code = ("import pathlib, qs_jwt; token = qs_jwt.create_qscloud_token("
            f"pathlib.Path({str(key)!r}), issuer='my-app', keyid='key-1', sub='alice', email='a@example.com',"
            " email_verified=True);"
            "assert token.token.count('.') == 2")
    assert _imported(["-c", code], tmp_path) == ""


def test_cli_help_does_not_import_httpx(tmp_path: Path) -> None:
    assert _imported(["-m", "qs_jwt", "--help"], tmp_path) == ""


def test_the_http_module_does_import_httpx(tmp_path: Path) -> None:
    assert "httpx" in _imported(["-c", "import qs_jwt.http"], tmp_path)
