"""TLS material for the emulator servers: one throw-away CA per test session (or, when asked, a CA of a server's
own), a server certificate per server, and CA bundles for clients that talk to several servers.
"""

from __future__ import annotations

import functools
import itertools
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from testca import TestCA, ec_key

#: what the server certificate is like: valid for 127.0.0.1/localhost, expired, or self-signed
CertKind = Literal["valid", "expired", "self-signed"]
PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL)

#: numbers the CAs of their own that servers get, so that each has a distinct subject name
_own_ca_numbers = itertools.count(1)


@functools.cache
def shared_ca() -> TestCA:
    """The CA of this test session (generated once: RSA key generation is the slow part)."""
    return TestCA(name="qlik emulator test CA")


def own_ca() -> TestCA:
    """A fresh CA for one server, with its own name and an EC P-256 key (made in microseconds; the server's
    certificate keeps its RSA key)."""
    return TestCA(name=f"qlik emulator test CA {next(_own_ca_numbers)}", key=ec_key())


@dataclass(frozen=True)
class ServerTls:
    """What an HTTPS emulator server presents, and what a client needs to trust it."""

    context: ssl.SSLContext
    cert_pem: bytes
    ca_cert_path: Path
    ca_cert_pem: bytes


def server_tls(folder: Path, kind: CertKind = "valid", *, own: bool = False) -> ServerTls:
    """Issue a server certificate for 127.0.0.1 and localhost, from the shared CA or (``own``) from a fresh CA
    of its own; write its files and the CA's into ``folder``."""
    ca = own_ca() if own else shared_ca()
    cert = ca.issue(expired=kind == "expired", self_signed=kind == "self-signed")
    return ServerTls(context=cert.server_context(folder), cert_pem=cert.cert_pem,
                     ca_cert_path=ca.write_ca(folder / "ca.pem"), ca_cert_pem=ca.cert_pem)


class HasCa(Protocol):
    """An emulator or an emulator server (HTTPS): anything with the path of the CA its certificate chains to."""

    @property
    def ca_cert_path(self) -> Path: ...


def write_ca_bundle(path: Path, *sources: HasCa | Path | bytes) -> Path:
    """Write one PEM bundle of the CA certificates of ``sources`` (emulators or servers, CA files, PEM bytes),
    each once, in order, to ``path``: what a client passes as its one ``--ca-cert`` for every server."""
    blocks: list[bytes] = []
    for source in sources:
        if isinstance(source, bytes):
            data = source
        else:
            data = (source if isinstance(source, Path) else source.ca_cert_path).read_bytes()
        found = PEM_CERT.findall(data)
        if not found:
            raise ValueError(f"no PEM certificate in {source!r}")
        blocks.extend(block for block in found if block not in blocks)
    path.write_bytes(b"\n".join(blocks) + b"\n")
    return path
