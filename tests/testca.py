"""A throw-away certificate authority for the HTTPS servers the tests start on 127.0.0.1.

Made fresh per test session with ``cryptography`` (2048-bit RSA keys: fast, some 60 ms each; a CA may have an
EC P-256 key instead, made in microseconds: ``TestCA(key=ec_key())``); nothing here is ever trusted outside the
tests. A server certificate (always a 2048-bit RSA key) can be valid, expired, for another host name, or
self-signed.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: the keys a CA may have
CaKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    """An EC P-256 key: a CA key that costs nothing to make (OpenSSL and Python's ``ssl`` verify with it)."""
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass(frozen=True)
class ServerCert:
    """A server certificate and its key, as PEM; ``chain_pem`` is the certificate then the issuing CA."""

    cert_pem: bytes
    key_pem: bytes
    chain_pem: bytes

    def write(self, folder: Path, name: str = "server") -> tuple[Path, Path]:
        """Write ``<name>-chain.pem`` and ``<name>-key.pem`` into ``folder``; return their paths."""
        cert_path, key_path = folder / f"{name}-chain.pem", folder / f"{name}-key.pem"
        cert_path.write_bytes(self.chain_pem)
        key_path.write_bytes(self.key_pem)
        return cert_path, key_path

    def server_context(self, folder: Path, name: str = "server") -> ssl.SSLContext:
        """An SSL context for a server presenting this certificate (and its chain)."""
        cert_path, key_path = self.write(folder, name)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        return context


@dataclass
class TestCA:
    """A CA that issues server certificates for the tests' local servers."""

    __test__ = False  # not a pytest test class

    name: str = "qs-jwt test CA"
    key: CaKey = field(default_factory=_key)
    cert: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(self.name))
            .issuer_name(_name(self.name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def write_ca(self, path: Path) -> Path:
        """Write the CA certificate (what a client passes to ``--ca-cert``) to ``path``."""
        path.write_bytes(self.cert_pem)
        return path

    def issue(self, hosts: tuple[str, ...] = ("localhost", "127.0.0.1"), *, expired: bool = False,
              self_signed: bool = False) -> ServerCert:
        """A server certificate for ``hosts`` (DNS names or IP addresses), signed by this CA (or by itself)."""
        key = _key()
        now = dt.datetime.now(dt.UTC)
        start, end = (now - dt.timedelta(days=10), now - dt.timedelta(days=1)) if expired else \
            (now - dt.timedelta(hours=1), now + dt.timedelta(days=7))
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        subject = _name(hosts[0])
        issuer_key, issuer_name = (key, subject) if self_signed else (self.key, self.cert.subject)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
        if not self_signed:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        cert = builder.sign(issuer_key, hashes.SHA256())
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        chain = cert_pem if self_signed else cert_pem + self.cert_pem
        return ServerCert(cert_pem=cert_pem, key_pem=_pem_key(key), chain_pem=chain)
