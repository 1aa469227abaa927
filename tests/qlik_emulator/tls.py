"""TLS material for the emulator servers: one throw-away CA per test session, a server certificate per server."""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from testca import TestCA

#: what the server certificate is like: valid for 127.0.0.1/localhost, expired, or self-signed
CertKind = Literal["valid", "expired", "self-signed"]


@functools.cache
def shared_ca() -> TestCA:
    """The CA of this test session (generated once: RSA key generation is the slow part)."""
    return TestCA(name="qlik emulator test CA")


@dataclass(frozen=True)
class ServerTls:
    """What an HTTPS emulator server presents, and what a client needs to trust it."""

    context: ssl.SSLContext
    cert_pem: bytes
    ca_cert_path: Path


def server_tls(folder: Path, kind: CertKind = "valid") -> ServerTls:
    """Issue a server certificate for 127.0.0.1 and localhost; write its files and the CA's into ``folder``."""
    ca = shared_ca()
    cert = ca.issue(expired=kind == "expired", self_signed=kind == "self-signed")
    return ServerTls(context=cert.server_context(folder), cert_pem=cert.cert_pem,
                     ca_cert_path=ca.write_ca(folder / "ca.pem"))
