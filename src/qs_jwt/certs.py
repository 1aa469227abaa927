"""Self-signed X.509 certificates for Qlik's JWT settings, and the key/certificate file trio.

Qlik Cloud's JWT identity provider and a QSEoW JWT virtual proxy both take the signer's public key
as a PEM certificate. :func:`create_key_files` makes an RSA key pair and a certificate and writes
``<prefix>privatekey.pem`` (PKCS#8, mode 0600), ``<prefix>publickey.pem`` (SPKI) and
``<prefix>publickey.cer`` (PEM certificate), atomically and without overwriting unless asked.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _clock
from ._files import check_outputs, write_files
from .errors import ArgumentTypeError, InvalidValueError
from .keys import (
    GENERATED_KEY_SIZES,
    _expect,
    _key_input,
    _read_principal,
    _spki,
    _type_name,
    _usable_file_name,
    generate_rsa_key,
    jwk_thumbprint,
    new_key_passphrase,
    private_key_pem,
    public_key_pem,
)
from .redact import secret_kind

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
    from cryptography.x509 import Certificate

__all__ = [
    "DEFAULT_COMMON_NAME",
    "MAX_CERT_DAYS",
    "KeyFiles",
    "KeyInfo",
    "check_key_files",
    "create_key_files",
    "create_self_signed_certificate",
    "describe_key_material",
    "key_file_paths",
    "single_line_pem",
]

DEFAULT_COMMON_NAME = "qs-jwt"
#: Longest certificate validity offered, in days (about 100 years).
MAX_CERT_DAYS = 36500
#: notBefore is set this far in the past so that a clock slightly behind ours accepts the certificate.
BACKDATE = _dt.timedelta(minutes=5)

PRIVATE_KEY_NAME = "privatekey.pem"
PUBLIC_KEY_NAME = "publickey.pem"
CERTIFICATE_NAME = "publickey.cer"


def validate_days(days: object) -> int:
    """Return ``days`` (an int, or its digits as text) as a validated int (1..MAX_CERT_DAYS).

    :raises ArgumentTypeError: neither an int nor text (a bool, a float, None).
    :raises InvalidValueError: zero, negative, too many days, or text that is not a whole number.
    """
    if isinstance(days, bool) or not isinstance(days, int | str):
        raise ArgumentTypeError(f"expected a whole number (an int, or its digits as text), not "
                                f"{type(days).__name__}", param="days")
    if isinstance(days, str) and not re.fullmatch(r"-?[0-9]{1,12}", days.strip()):
        raise InvalidValueError("expected a whole number, e.g. 365", param="days")
    value = int(days)  # digits with white space around them are what int() reads
    if value < 1:
        raise InvalidValueError(f"must be at least 1 (got {value})", param="days")
    if value > MAX_CERT_DAYS:
        raise InvalidValueError(f"must be at most {MAX_CERT_DAYS}, about 100 years (got {value})", param="days")
    return value


def validate_common_name(cn: object) -> str:
    """Check that ``cn`` can be a certificate common name (1-64 characters, no control characters).

    :raises ArgumentTypeError: not text. :raises InvalidValueError: empty, too long, or with control
        characters or lone surrogates.
    """
    if not isinstance(cn, str):
        raise ArgumentTypeError(f"expected text, not {type(cn).__name__}", param="common_name")
    if not cn.strip():
        raise InvalidValueError("must not be empty", param="common_name")
    if len(cn) > 64:
        raise InvalidValueError("must be at most 64 characters", param="common_name")
    if any(ord(ch) < 32 or ord(ch) == 127 or 0xD800 <= ord(ch) <= 0xDFFF for ch in cn):
        raise InvalidValueError("contains control characters or lone surrogates", param="common_name")
    return cn


def create_self_signed_certificate(
    key: RSAPrivateKey,
    *,
    days: int,
    common_name: str = DEFAULT_COMMON_NAME,
    now: float | None = None,
) -> Certificate:
    """A self-signed X.509 v3 certificate for ``key``.

    SHA-256 signature, a random positive serial of at most 159 bits, subject and issuer ``CN=<common_name>``,
    basic constraints CA:false, key usage digitalSignature, subject key identifier, and a validity of
    exactly ``days`` days starting five minutes before ``now``.

    :raises ArgumentTypeError: ``key`` is not an RSA private key, or another argument of the wrong type.
    :raises InvalidValueError: bad ``days``, ``common_name`` or ``now``.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    _expect(key, rsa.RSAPrivateKey, "an RSAPrivateKey (cryptography)", "key")
    days = validate_days(days)
    common_name = validate_common_name(common_name)
    issued = _clock.resolve(now)
    if issued + days * 86400 > _clock.MAX_TIME:
        raise InvalidValueError("the certificate would end after the year 9999; give fewer days or an earlier now",
                                param="days")
    start = _dt.datetime.fromtimestamp(issued, tz=_dt.UTC).replace(microsecond=0) - BACKDATE
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + _dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    return builder.sign(key, hashes.SHA256())


@dataclass(frozen=True)
class KeyFiles:
    """What :func:`create_key_files` wrote, and the objects it wrote them from."""

    private_key_path: str
    public_key_path: str
    certificate_path: str
    private_key: RSAPrivateKey
    certificate: Certificate
    encrypted: bool

    @property
    def not_before(self) -> _dt.datetime:
        return self.certificate.not_valid_before_utc

    @property
    def not_after(self) -> _dt.datetime:
        return self.certificate.not_valid_after_utc


def key_file_paths(prefix: str = "") -> tuple[str, str, str]:
    """The private key, public key and certificate paths for a file-name prefix (may include folders)."""
    return (prefix + PRIVATE_KEY_NAME, prefix + PUBLIC_KEY_NAME, prefix + CERTIFICATE_NAME)


def check_key_files(prefix: str = "", *, force: bool = False) -> None:
    """Refuse, before any work, the key files :func:`create_key_files` would write at ``prefix`` when they exist
    (unless ``force``) or cannot be written.

    :raises OutputExistsError: some exist; :raises FileWriteError: a path cannot be a file.
    """
    check_outputs(list(key_file_paths(prefix)), force=force)


def create_key_files(
    prefix: str = "",
    *,
    days: int,
    key_size: int = 4096,
    common_name: str = DEFAULT_COMMON_NAME,
    passphrase: bytes | str | None = None,
    force: bool = False,
    now: float | None = None,
    on_generate: Callable[[], object] | None = None,
) -> KeyFiles:
    """Create an RSA key pair and a self-signed certificate and write the three files.

    Every argument is checked, and the three paths are checked for existence, before any key is
    generated. Each file is written atomically; the private key with mode 0600.

    :param prefix: prepended to the file names; may contain a folder (``keys/prod-``).
    :param passphrase: encrypt the private key file (PKCS#8, best available encryption); at most
        :data:`qs_jwt.keys.MAX_NEW_PASSPHRASE_BYTES` bytes.
    :param force: replace existing files instead of refusing.
    :param on_generate: called once everything is checked, just before the key is generated (a 4096-bit key
        takes about a second): for a progress message.
    :raises ArgumentTypeError: an argument of the wrong type.
    :raises InvalidValueError: bad prefix, days, key size, common name or passphrase.
    :raises OutputExistsError: an output exists and ``force`` is false; nothing is written.
    :raises FileWriteError: an output cannot be written; then no file is changed (see write_files).
    """
    _expect(prefix, str, "text such as 'keys/prod-'", "prefix")
    if not _usable_file_name(prefix):
        raise InvalidValueError("must not contain NUL characters or characters the file system cannot encode",
                                param="prefix")
    kind = secret_kind(prefix)
    if kind is not None or "\n" in prefix:
        # files named after key text would put the secret in every directory listing
        raise InvalidValueError(f"the value looks like {kind or 'text, not a file-name prefix'}; give a folder or "
                                "file-name prefix such as 'keys/prod-'", param="prefix")
    days = validate_days(days)
    common_name = validate_common_name(common_name)
    _expect(key_size, int, "an int such as 4096", "key_size")
    if key_size not in GENERATED_KEY_SIZES:
        raise InvalidValueError(f"{key_size} is not offered; use {', '.join(map(str, GENERATED_KEY_SIZES))}",
                                param="key_size")
    secret = new_key_passphrase(passphrase)
    paths = key_file_paths(prefix)
    check_outputs(list(paths), force=force)
    if on_generate is not None:
        on_generate()
    key = generate_rsa_key(key_size)
    cert = create_self_signed_certificate(key, days=days, common_name=common_name, now=now)
    from cryptography.hazmat.primitives import serialization

    contents = (
        (paths[0], private_key_pem(key, passphrase=secret), 0o600),
        (paths[1], public_key_pem(key.public_key()), 0o644),
        (paths[2], cert.public_bytes(serialization.Encoding.PEM), 0o644),
    )
    write_files(contents, force=force)
    return KeyFiles(
        private_key_path=paths[0],
        public_key_path=paths[1],
        certificate_path=paths[2],
        private_key=key,
        certificate=cert,
        encrypted=secret is not None,
    )


def single_line_pem(pem: bytes | str) -> str:
    """A PEM block on one line, as Qlik Cloud's identity-provider API and form expect.

    :raises ArgumentTypeError: ``pem`` is not text or bytes. :raises InvalidValueError: bytes that are not ASCII.
    """
    _expect(pem, (bytes, str), "text or bytes", "pem")
    try:
        text = pem.decode("ascii") if isinstance(pem, bytes) else pem
    except UnicodeDecodeError:
        raise InvalidValueError("holds non-ASCII bytes; expected the text of a certificate", param="pem") from None
    return "".join(line.strip() for line in text.strip().splitlines())


@dataclass(frozen=True)
class KeyInfo:
    """What :func:`describe_key_material` found in a key or certificate file. Holds no private material."""

    kind: str  # "certificate", "public key" or "private key" (with its certificate, when the file has one)
    key_type: str  # "RSA", "RSA-PSS" (restricted to PSS signatures: unusable for RS256), "EC", "Ed25519"...
    key_size: int
    public_exponent: int | None
    sha256_fingerprint: str
    thumbprint: str | None
    public_key: RSAPublicKey | None
    certificate: Certificate | None = None
    encrypted: bool = False
    #: the certificate, or lacking one the public key (SPKI), as one-line PEM
    pem: str = ""
    #: the file format that held the key and certificate: "PKCS#12", or None for PEM, DER and OpenSSH files
    container: str | None = None

    @property
    def not_before(self) -> _dt.datetime | None:
        return self.certificate.not_valid_before_utc if self.certificate is not None else None

    @property
    def not_after(self) -> _dt.datetime | None:
        return self.certificate.not_valid_after_utc if self.certificate is not None else None

    def single_line_pem(self) -> str:
        """The certificate (or, lacking one, the public key) as one-line PEM."""
        return self.pem

    def to_dict(self) -> dict[str, Any]:
        cert = self.certificate
        return {
            "kind": self.kind,
            "keyType": self.key_type,
            "keySize": self.key_size,
            "publicExponent": self.public_exponent,
            "encrypted": self.encrypted,
            "sha256Fingerprint": self.sha256_fingerprint,
            "thumbprint": self.thumbprint,
            "subject": cert.subject.rfc4514_string() if cert is not None else None,
            "issuer": cert.issuer.rfc4514_string() if cert is not None else None,
            "serialNumber": format(cert.serial_number, "x") if cert is not None else None,
            "notBefore": _iso(self.not_before),
            "notAfter": _iso(self.not_after),
            "signatureHash": (cert.signature_hash_algorithm.name
                              if cert is not None and cert.signature_hash_algorithm is not None else None),
            "pem": self.single_line_pem(),
            "container": self.container,
        }


def _iso(value: _dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _colon_hex(digest: bytes) -> str:
    return ":".join(f"{b:02X}" for b in digest)


def describe_key_material(
    data: bytes | str | os.PathLike[str], *, source: str | None = None, passphrase: bytes | str | None = None
) -> KeyInfo:
    """Identify a certificate, public key or private key and describe it without exposing secrets.

    Reads what :func:`qs_jwt.load_public_key` reads (PEM, bundles, DER, PKCS#12, OpenSSH), and encrypted
    private keys with their ``passphrase``. Keys of other types, small, weak or damaged keys are described
    rather than refused, so that ``cert show`` and ``cert check`` can report on them. A private key is
    described by its public half, together with its certificate when the file holds one (a bundle, a
    PKCS#12 file: ``container`` says which).

    :raises ArgumentTypeError: an argument of the wrong type.
    :raises KeyLoadError: the data is not a key or certificate this function can read, needs a passphrase,
        or holds different keys.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    raw, name, password = _key_input(data, source, passphrase)
    entry, material = _read_principal(raw, source=name, password=password, purpose="describe")
    public, cert = entry.public, entry.certificate
    kind = "private key" if entry.private is not None else "certificate" if cert is not None else "public key"
    fingerprint_source = cert.public_bytes(serialization.Encoding.DER) if cert is not None else _spki(public)
    pem = single_line_pem(cert.public_bytes(serialization.Encoding.PEM) if cert is not None else
                          public.public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    usable_rsa = isinstance(public, rsa.RSAPublicKey) and not entry.pss
    return KeyInfo(
        kind=kind,
        key_type="RSA-PSS" if entry.pss else _type_name(public),
        key_size=int(getattr(public, "key_size", 0) or 0),
        public_exponent=public.public_numbers().e if usable_rsa else None,
        sha256_fingerprint=_colon_hex(hashlib.sha256(fingerprint_source).digest()),
        thumbprint=jwk_thumbprint(public) if usable_rsa else None,
        public_key=public if usable_rsa else None,
        certificate=cert,
        encrypted=material.encrypted,
        pem=pem,
        container=material.container,
    )
