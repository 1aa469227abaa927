"""Pytest fixtures for the Qlik emulators: tests/conftest.py registers them (``pytest_plugins =
("qlik_emulator.fixtures",)``, or by importing every fixture below, ``qlik_emulator_servers`` included).

The servers are started once per test session, on first use, one per kind (HTTPS with a valid, an expired or
a self-signed certificate; plain HTTP); every test gets a fresh emulator state on one of them. The QSEoW
fixtures come with the virtual proxy ``jwt`` (JWT, the certificate ``tests/keys/rsa2048_cert.pem``, audience
``qlik``, claims ``userId``/``userDirectory``, linked, central node for load balancing) and the
administrator ``ACME\\admin``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal, TypeVar

import pytest

from .qscloud import QscloudEmulator
from .qseow import QseowEmulator
from .server import EmulatorServer
from .tls import CertKind

KEYS = Path(__file__).resolve().parents[1] / "keys"
JWT_PREFIX = "jwt"
AUDIENCE = "qlik"
ADMIN = ("ACME", "admin")

ServerKind = Literal["https", "http", "expired", "self-signed"]
#: each kind of server: (TLS?, its certificate)
_KINDS: dict[ServerKind, tuple[bool, CertKind]] = {
    "https": (True, "valid"), "http": (False, "valid"), "expired": (True, "expired"),
    "self-signed": (True, "self-signed"),
}


class ServerPool:
    """The emulator servers of a test session, each started when first asked for."""

    def __init__(self) -> None:
        self._servers: dict[ServerKind, EmulatorServer] = {}

    def get(self, kind: ServerKind) -> EmulatorServer:
        if kind not in self._servers:
            tls, cert = _KINDS[kind]
            self._servers[kind] = EmulatorServer(tls=tls, cert=cert)
        return self._servers[kind]

    def close(self) -> None:
        for server in self._servers.values():
            server.close()
        self._servers.clear()


@pytest.fixture(scope="session")
def qlik_emulator_servers() -> Iterator[ServerPool]:
    pool = ServerPool()
    yield pool
    pool.close()


def preconfigured_qseow(server: EmulatorServer) -> QseowEmulator:
    """A fresh QSEoW emulator on ``server``, with the ``jwt`` virtual proxy and the ``ACME\\admin`` admin."""
    emulator = QseowEmulator(server=server)
    emulator.add_virtual_proxy(JWT_PREFIX, cert_pem=(KEYS / "rsa2048_cert.pem").read_bytes(), audience=AUDIENCE)
    emulator.add_admin(*ADMIN)
    return emulator


_E = TypeVar("_E", QseowEmulator, QscloudEmulator)


def _fresh_on(server: EmulatorServer, make: Callable[[EmulatorServer], _E]) -> Iterator[_E]:
    """A fresh emulator from ``make`` on ``server`` for one test; the test fails if the emulator itself failed."""
    server.reset()
    emulator = make(server)
    try:
        yield emulator
    finally:
        emulator.close()
        errors = server.errors
        server.reset()
    if errors:
        pytest.fail("the emulator failed while serving a request:\n" + "\n".join(errors), pytrace=False)


@pytest.fixture
def qseow_emulator(qlik_emulator_servers: ServerPool) -> Iterator[QseowEmulator]:
    """QSEoW over HTTPS, certificate valid for 127.0.0.1 and issued by the test CA (``ca_cert_path``)."""
    yield from _fresh_on(qlik_emulator_servers.get("https"), preconfigured_qseow)


@pytest.fixture
def qseow_emulator_http(qlik_emulator_servers: ServerPool) -> Iterator[QseowEmulator]:
    """QSEoW over plain HTTP (session cookies are then named ``<sessionCookieHeaderName>-HTTP``)."""
    yield from _fresh_on(qlik_emulator_servers.get("http"), preconfigured_qseow)


@pytest.fixture
def qseow_emulator_expired_cert(qlik_emulator_servers: ServerPool) -> Iterator[QseowEmulator]:
    """QSEoW over HTTPS with an expired server certificate (issued by the test CA)."""
    yield from _fresh_on(qlik_emulator_servers.get("expired"), preconfigured_qseow)


@pytest.fixture
def qseow_emulator_self_signed(qlik_emulator_servers: ServerPool) -> Iterator[QseowEmulator]:
    """QSEoW over HTTPS with a self-signed server certificate (not issued by the test CA)."""
    yield from _fresh_on(qlik_emulator_servers.get("self-signed"), preconfigured_qseow)


# --- Qlik Cloud ----------------------------------------------------------------------------------------------

QSCLOUD_ISSUER = "my-app"
QSCLOUD_KID = "key-1"
#: the subject of the tenant administrator, and its API key (``Authorization: Bearer <key>``, no CSRF needed)
QSCLOUD_ADMIN = "qscloud-admin"
QSCLOUD_API_KEY = "qscloud-admin-api-key"


def preconfigured_qscloud(server: EmulatorServer) -> QscloudEmulator:
    """A fresh Qlik Cloud tenant on ``server``: the JWT IdP ``my-app`` (kid ``key-1``, the certificate
    ``tests/keys/rsa2048_cert.pem``) and the tenant admin ``qscloud-admin`` with the API key ``QSCLOUD_API_KEY``."""
    emulator = QscloudEmulator(server=server)
    emulator.add_jwt_idp(QSCLOUD_ISSUER, QSCLOUD_KID, (KEYS / "rsa2048_cert.pem").read_bytes())
    emulator.add_api_key(QSCLOUD_ADMIN, QSCLOUD_API_KEY, tenant_admin=True)
    return emulator



@pytest.fixture
def qscloud_emulator(qlik_emulator_servers: ServerPool) -> Iterator[QscloudEmulator]:
    """A Qlik Cloud tenant over HTTPS (see :func:`preconfigured_qscloud`), on the server ``qseow_emulator`` uses:
    a test that takes both gets both emulators on one server, one URL."""
    yield from _fresh_on(qlik_emulator_servers.get("https"), preconfigured_qscloud)
