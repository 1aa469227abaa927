"""Pytest fixtures for the Qlik emulators: tests/conftest.py registers them (``pytest_plugins =
("qlik_emulator.fixtures",)``, or by importing every fixture below, ``qlik_emulator_servers`` included).

The servers are started once per test session, on first use, one per kind (HTTPS with a valid, an expired or
a self-signed certificate; plain HTTP), and one per name for the servers with a CA of their own; every test gets
a fresh emulator state on one of them. The QSEoW fixtures come with the virtual proxy ``jwt`` (JWT, the
certificate ``tests/keys/rsa2048_cert.pem``, audience ``qlik``, claims ``userId``/``userDirectory``, linked,
central node for load balancing) and the administrator ``ACME\\admin``.

For several servers with a CA each (one QSEoW, three Qlik Cloud tenants): ``qseow_emulator_own_ca`` and
``qscloud_tenants``; :func:`write_ca_bundle` writes the one ``--ca-cert`` bundle that trusts them all.
Tests outside conftest.py's reach import those two fixtures (and ``qlik_emulator_servers``) from here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal, TypeVar

import pytest

from .qscloud import QscloudEmulator
from .qseow import QseowEmulator
from .server import EmulatorServer
from .tls import CertKind, write_ca_bundle

__all__ = ["write_ca_bundle"]  # re-exported: tests build CA bundles from the fixtures' emulators

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
        self._own_ca: dict[str, EmulatorServer] = {}

    def get(self, kind: ServerKind) -> EmulatorServer:
        if kind not in self._servers:
            tls, cert = _KINDS[kind]
            self._servers[kind] = EmulatorServer(tls=tls, cert=cert)
        return self._servers[kind]

    def own_ca(self, name: str) -> EmulatorServer:
        """The HTTPS server ``name`` (any name), with a valid certificate from a CA of its own."""
        if name not in self._own_ca:
            self._own_ca[name] = EmulatorServer(tls=True, own_ca=True)
        return self._own_ca[name]

    def close(self) -> None:
        for server in [*self._servers.values(), *self._own_ca.values()]:
            server.close()
        self._servers.clear()
        self._own_ca.clear()


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
    with _fresh_on_each([(server, make)]) as (emulator,):
        yield emulator


@contextlib.contextmanager
def _fresh_on_each(setups: Sequence[tuple[EmulatorServer, Callable[[EmulatorServer], _E]]]) -> Iterator[list[_E]]:
    """One fresh emulator per (server, make), for one test; the test fails if any emulator itself failed."""
    servers = [server for server, _make in setups]
    for server in servers:
        server.reset()
    emulators: list[_E] = []
    try:
        emulators.extend(make(server) for server, make in setups)
        yield emulators
    finally:
        for emulator in emulators:
            emulator.close()
        errors = [error for server in servers for error in server.errors]
        for server in servers:
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
def qseow_emulator_own_ca(qlik_emulator_servers: ServerPool) -> Iterator[QseowEmulator]:
    """QSEoW over HTTPS, preconfigured as ``qseow_emulator`` is, its certificate issued by a CA of its own
    (``ca_cert_path``; it trusts no other emulator server)."""
    yield from _fresh_on(qlik_emulator_servers.own_ca("qseow"), preconfigured_qseow)


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


#: how many tenants ``qscloud_tenants`` gives
QSCLOUD_TENANT_COUNT = 3


def qscloud_tenant_admin(number: int) -> str:
    """The subject of tenant ``number``'s administrator (tenants are numbered from 1)."""
    return f"tenant{number}-admin"


def qscloud_tenant_api_key(number: int) -> str:
    """The API key of tenant ``number``'s administrator (tenants are numbered from 1)."""
    return f"tenant{number}-admin-api-key"


#: the administrators' API keys of ``qscloud_tenants``, in order
QSCLOUD_TENANT_API_KEYS = tuple(qscloud_tenant_api_key(n) for n in range(1, QSCLOUD_TENANT_COUNT + 1))


def bare_qscloud_tenant(number: int) -> Callable[[EmulatorServer], QscloudEmulator]:
    """What makes tenant ``number`` on a server: a fresh tenant with no identity provider, and the tenant admin
    ``qscloud_tenant_admin(number)`` with the API key ``qscloud_tenant_api_key(number)``."""
    def make(server: EmulatorServer) -> QscloudEmulator:
        emulator = QscloudEmulator(server=server)
        emulator.add_api_key(qscloud_tenant_admin(number), qscloud_tenant_api_key(number), tenant_admin=True)
        return emulator
    return make


@pytest.fixture
def qscloud_tenants(qlik_emulator_servers: ServerPool) -> Iterator[list[QscloudEmulator]]:
    """Three fresh Qlik Cloud tenants (see :func:`bare_qscloud_tenant`), ``[tenant 1, tenant 2, tenant 3]``, each
    on an HTTPS server of its own whose certificate is issued by a CA of its own (``ca_cert_path``): each tenant
    has its own URL, tenant id, API key (``QSCLOUD_TENANT_API_KEYS``) and CA."""
    setups = [(qlik_emulator_servers.own_ca(f"tenant{n}"), bare_qscloud_tenant(n))
              for n in range(1, QSCLOUD_TENANT_COUNT + 1)]
    with _fresh_on_each(setups) as tenants:
        yield tenants
