"""Self-signed X.509 certificates for Qlik's JWT settings, and the key/certificate file trio.

Qlik Cloud's JWT identity provider and a QSEoW JWT virtual proxy both take the signer's public key
as a PEM certificate. :func:`create_key_files` makes an RSA key pair and a certificate and writes
``<prefix>privatekey.pem`` (PKCS#8, mode 0600), ``<prefix>publickey.pem`` (SPKI) and
``<prefix>publickey.cer`` (PEM certificate), atomically and without overwriting unless asked.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _clock
from ._files import check_outputs, write_files
from .errors import InvalidValueError, KeyLoadError
from .keys import (
    GENERATED_KEY_SIZES,
    generate_rsa_key,
    jwk_thumbprint,
    passphrase_bytes,
    private_key_pem,
    public_key_pem,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
    from cryptography.x509 import Certificate

__all__ = [
    "DEFAULT_COMMON_NAME",
    "MAX_CERT_DAYS",
    "KeyFiles",
    "KeyInfo",
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


def validate_days(days: object, *, option: str = "--cert-create-expires-days") -> int:
    """Return ``days`` as a validated int (1..MAX_CERT_DAYS).

    :raises InvalidValueError: for anything else (zero, negative, fractions, text, huge values).
    """
    value: int
    if isinstance(days, bool):
        raise InvalidValueError(f"{option}: expected a whole number of days", option=option)
    if isinstance(days, int):
        value = days
    elif isinstance(days, str) and re.fullmatch(r"-?[0-9]{1,12}", days.strip()):
        value = int(days.strip())
    else:
        raise InvalidValueError(f"{option} {days!r}: expected a whole number of days, e.g. 365", option=option)
    if value < 1:
        raise InvalidValueError(f"{option} {value}: must be at least 1 day", option=option)
    if value > MAX_CERT_DAYS:
        raise InvalidValueError(f"{option} {value}: must be at most {MAX_CERT_DAYS} days", option=option)
    return value


def validate_common_name(cn: str, *, option: str = "--cert-create-cn") -> str:
    """Check that ``cn`` can be a certificate common name (1-64 characters, no control characters)."""
    if not isinstance(cn, str) or not cn or not cn.strip():
        raise InvalidValueError(f"{option}: the common name must not be empty", option=option)
    if len(cn) > 64:
        raise InvalidValueError(f"{option}: the common name must be at most 64 characters", option=option)
    if any(ord(ch) < 32 or 0xD800 <= ord(ch) <= 0xDFFF for ch in cn):
        raise InvalidValueError(f"{option}: the common name contains control or invalid characters",
                                option=option)
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
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    days = validate_days(days)
    common_name = validate_common_name(common_name)
    start = _dt.datetime.fromtimestamp(_clock.resolve(now), tz=_dt.UTC).replace(microsecond=0) - BACKDATE
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


def create_key_files(
    prefix: str = "",
    *,
    days: int,
    key_size: int = 4096,
    common_name: str = DEFAULT_COMMON_NAME,
    passphrase: bytes | str | None = None,
    force: bool = False,
    now: float | None = None,
) -> KeyFiles:
    """Create an RSA key pair and a self-signed certificate and write the three files.

    Every argument is checked, and the three paths are checked for existence, before any key is
    generated. Each file is written atomically; the private key with mode 0600.

    :param prefix: prepended to the file names; may contain a folder (``keys/prod-``).
    :param passphrase: encrypt the private key file (PKCS#8, best available encryption).
    :param force: replace existing files instead of refusing.
    :raises InvalidValueError: bad days, key size or common name.
    :raises OutputExistsError: an output exists and ``force`` is false; nothing is written.
    :raises FileWriteError: an output cannot be written; then no file is changed (see write_files).
    """
    if not isinstance(prefix, str) or "\x00" in prefix:
        raise InvalidValueError("--cert-file-prefix: expected a file-name prefix without NUL characters",
                                option="--cert-file-prefix")
    days = validate_days(days)
    common_name = validate_common_name(common_name)
    if key_size not in GENERATED_KEY_SIZES:
        raise InvalidValueError(
            f"--cert-create-key-size {key_size}: use one of {', '.join(map(str, GENERATED_KEY_SIZES))}",
            option="key_size",
        )
    paths = key_file_paths(prefix)
    check_outputs(list(paths), force=force)
    key = generate_rsa_key(key_size)
    cert = create_self_signed_certificate(key, days=days, common_name=common_name, now=now)
    from cryptography.hazmat.primitives import serialization

    contents = (
        (paths[0], private_key_pem(key, passphrase=passphrase), 0o600),
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
        encrypted=bool(passphrase),
    )


def single_line_pem(pem: bytes | str) -> str:
    """A PEM block on one line, as Qlik Cloud's identity-provider API and form expect."""
    text = pem.decode("ascii") if isinstance(pem, bytes) else pem
    return "".join(line.strip() for line in text.strip().splitlines())


@dataclass(frozen=True)
class KeyInfo:
    """What :func:`describe_key_material` found in a key or certificate file. Holds no private material."""

    kind: str  # "certificate", "public key" or "private key"
    key_type: str
    key_size: int
    public_exponent: int | None
    sha256_fingerprint: str
    thumbprint: str | None
    public_key: RSAPublicKey | None
    certificate: Certificate | None = None
    encrypted: bool = False
    #: the certificate, or lacking one the public key (SPKI), as one-line PEM
    pem: str = ""

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
        }


def _iso(value: _dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _colon_hex(digest: bytes) -> str:
    return ":".join(f"{b:02X}" for b in digest)


def describe_key_material(
    data: bytes, *, source: str | None = None, passphrase: bytes | str | None = None
) -> KeyInfo:
    """Identify a certificate, public key or private key and describe it without exposing secrets.

    Non-RSA keys and small keys are described rather than refused, so that ``cert show`` and
    ``cert check`` can report on them. A private key is described by its public half.

    :raises KeyLoadError: the data is not a key or certificate this function can read.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from .keys import _as_bytes, _pem_label

    raw = _as_bytes(data)
    label = _pem_label(raw)
    cert: Certificate | None = None
    kind: str
    encrypted = False
    try:
        if label is not None and "CERTIFICATE" in label:
            cert = x509.load_pem_x509_certificate(raw)
            public: Any = cert.public_key()
            kind = "certificate"
        elif label is not None and "PRIVATE KEY" in label:
            encrypted = label == "ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in raw
            if encrypted and not passphrase:
                raise KeyLoadError("is an encrypted private key; a passphrase is required", source=source,
                                   passphrase_required=True)
            secret = passphrase_bytes(passphrase)
            private = serialization.load_pem_private_key(
                raw, password=secret if encrypted else None, unsafe_skip_rsa_key_validation=True
            )
            public = private.public_key()
            kind = "private key"
        elif label is not None and "PUBLIC KEY" in label:
            public = serialization.load_pem_public_key(raw)
            kind = "public key"
        elif label is None:
            try:
                cert = x509.load_der_x509_certificate(raw)
                public, kind = cert.public_key(), "certificate"
            except ValueError:
                try:
                    public, kind = serialization.load_der_public_key(raw), "public key"
                except ValueError:
                    secret = passphrase_bytes(passphrase)
                    try:
                        private = serialization.load_der_private_key(
                            raw, password=None, unsafe_skip_rsa_key_validation=True
                        )
                    except TypeError:  # an encrypted DER key
                        encrypted = True
                        if not secret:
                            raise KeyLoadError("is an encrypted private key; a passphrase is required",
                                               source=source, passphrase_required=True) from None
                        private = serialization.load_der_private_key(
                            raw, password=secret, unsafe_skip_rsa_key_validation=True
                        )
                    public, kind = private.public_key(), "private key"
        else:
            raise KeyLoadError(f"holds a PEM {label!r} block, not a key or certificate", source=source)
    except KeyLoadError:
        raise
    except (ValueError, TypeError):
        if encrypted:
            raise KeyLoadError("cannot be decrypted: wrong passphrase or damaged key", source=source) from None
        raise KeyLoadError("is not a readable certificate, public key or private key", source=source) from None
    except Exception:
        raise KeyLoadError("is not a supported key or certificate", source=source) from None
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    fingerprint_source = cert.public_bytes(serialization.Encoding.DER) if cert is not None else spki
    pem = single_line_pem(cert.public_bytes(serialization.Encoding.PEM) if cert is not None else
                          public.public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    if isinstance(public, rsa.RSAPublicKey):
        return KeyInfo(
            kind=kind,
            key_type="RSA",
            key_size=public.key_size,
            public_exponent=public.public_numbers().e,
            sha256_fingerprint=_colon_hex(hashlib.sha256(fingerprint_source).digest()),
            thumbprint=jwk_thumbprint(public),
            public_key=public,
            certificate=cert,
            encrypted=encrypted,
            pem=pem,
        )
    key_type = type(public).__name__.removeprefix("_").replace("PublicKey", "") or "unknown"
    return KeyInfo(
        kind=kind,
        key_type=key_type,
        key_size=int(getattr(public, "key_size", 0) or 0),
        public_exponent=None,
        sha256_fingerprint=_colon_hex(hashlib.sha256(fingerprint_source).digest()),
        thumbprint=None,
        public_key=None,
        certificate=cert,
        encrypted=encrypted,
        pem=pem,
    )

