"""RSA keys: loading (PEM, DER, encrypted PKCS#8, JWK, JWKS), generation, serialisation, key ids.

Signing keys are loaded without cryptography's full RSA consistency check, which costs about
250 ms for a 4096-bit key; every signature made with such a key is verified with its public key
before it is returned (see :mod:`qs_jwt.tokens`). :func:`validate_private_key` runs the full check.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._jws import b64url_decode, b64url_encode
from .errors import InvalidValueError, KeyLoadError, TokenFormatError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

__all__ = [
    "GENERATED_KEY_SIZES",
    "MIN_RSA_BITS",
    "JsonWebKey",
    "generate_rsa_key",
    "jwk_thumbprint",
    "load_jwks",
    "load_private_key",
    "load_public_key",
    "private_key_pem",
    "public_jwk",
    "public_key_pem",
    "read_key_source",
    "roca_vulnerable",
    "validate_private_key",
]

#: Smallest RSA modulus accepted for signing, verifying or generating.
MIN_RSA_BITS = 2048
#: Key sizes offered for new keys.
GENERATED_KEY_SIZES = (2048, 3072, 4096)
#: Largest key or certificate file read, in bytes.
MAX_KEY_FILE_BYTES = 1024 * 1024

_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")


def read_key_source(path: str, *, what: str = "key") -> bytes:
    """Read a key or certificate file (``-`` reads standard input), with clear errors.

    :raises KeyLoadError: the file is missing, a directory, unreadable, empty or too large.
    """
    if path == "-":
        source = "<stdin>"
        try:
            data = sys.stdin.buffer.read(MAX_KEY_FILE_BYTES + 1)
        except (OSError, AttributeError, ValueError) as exc:
            raise KeyLoadError(f"cannot read standard input ({exc})", source=source) from None
    else:
        source = path
        if os.path.isdir(path):
            raise KeyLoadError(f"is a directory, not a {what} file", source=source)
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_KEY_FILE_BYTES + 1)
        except FileNotFoundError:
            raise KeyLoadError(f"{what} file not found", source=source) from None
        except OSError as exc:
            raise KeyLoadError(f"cannot read {what} file ({exc.strerror or exc})", source=source) from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyLoadError(f"is larger than {MAX_KEY_FILE_BYTES // 1024} KiB; not a {what}", source=source)
    if not data.strip():
        raise KeyLoadError("is empty", source=source)
    return data


def passphrase_bytes(passphrase: bytes | str | None) -> bytes | None:
    """A passphrase as bytes: text as UTF-8, and bytes that came through undecodable (as from a non-UTF-8
    environment variable) back as they were."""
    if passphrase is None or isinstance(passphrase, bytes):
        return passphrase
    if not isinstance(passphrase, str):
        raise InvalidValueError("passphrase: expected text or bytes", option="passphrase")
    try:
        return passphrase.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise InvalidValueError("passphrase: not valid text (an unpaired surrogate)", option="passphrase") from None


def _as_bytes(data: bytes | str | os.PathLike[str]) -> bytes:
    if isinstance(data, os.PathLike):
        data = read_key_source(os.fspath(data))
    if not isinstance(data, bytes | bytearray | memoryview | str):
        raise KeyLoadError(f"expected key bytes, text or a path, not {type(data).__name__}")
    try:
        raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else bytes(data)
    except UnicodeEncodeError:
        raise KeyLoadError("is not valid text (an unpaired surrogate)") from None
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark, as some Windows editors write
        raw = raw[3:]
    return raw


def _pem_label(raw: bytes) -> str | None:
    match = _PEM_BEGIN.search(raw)
    return match.group(1).decode("ascii") if match else None


def _a(word: str) -> str:
    """``word`` with its indefinite article: "an EC", "a DSA"."""
    return f"an {word}" if word[:1].upper() in "AEFHILMNORSX" else f"a {word}"


def _check_rsa_numbers(bits: int, e: int, n: int, source: str | None) -> None:
    if bits < MIN_RSA_BITS:
        raise KeyLoadError(f"RSA key is {bits} bits; at least {MIN_RSA_BITS} bits are required", source=source)
    if e < 3 or e % 2 == 0:
        raise KeyLoadError(f"RSA public exponent {e} is not acceptable", source=source)
    if roca_vulnerable(n):
        raise KeyLoadError("RSA key has the ROCA weakness (CVE-2017-15361); replace it", source=source)


def load_private_key(
    data: bytes | str | os.PathLike[str],
    *,
    passphrase: bytes | str | None = None,
    source: str | None = None,
    validate: bool = False,
) -> RSAPrivateKey:
    """Load an RSA private key for signing.

    Accepts PEM (PKCS#1 ``RSA PRIVATE KEY``, PKCS#8 ``PRIVATE KEY``, encrypted PKCS#8
    ``ENCRYPTED PRIVATE KEY`` and legacy encrypted PEM) and DER, with CRLF line ends or a UTF-8 BOM.

    :param data: the key bytes or text.
    :param passphrase: the passphrase of an encrypted key.
    :param source: where the key came from, for error messages (a path, ``"<stdin>"``).
    :param validate: run cryptography's full RSA consistency check (slow for 4096-bit keys).
        When false, signatures made with the key must be verified before use, as
        :func:`qs_jwt.create_qscloud_token` does.
    :raises KeyLoadError: for anything that is not a usable RSA private key of at least 2048 bits,
        and for a missing, wrong or unneeded passphrase. The message never contains key material.
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if source is None and isinstance(data, os.PathLike):
        source = os.fspath(data)
    raw = _as_bytes(data)
    if not raw.strip():
        raise KeyLoadError("is empty", source=source)
    label = _pem_label(raw)
    if label is not None:
        if "CERTIFICATE" in label:
            raise KeyLoadError("holds a certificate, not a private key", source=source)
        if "PUBLIC KEY" in label:
            raise KeyLoadError("holds a public key; signing needs the private key", source=source)
        if label == "OPENSSH PRIVATE KEY":
            raise KeyLoadError(
                "is an OpenSSH private key; convert it to PEM with 'ssh-keygen -p -m PKCS8 -f FILE'",
                source=source,
            )
        if label == "EC PRIVATE KEY":
            raise KeyLoadError("is an EC key; Qlik JWTs are signed with an RSA key", source=source)
        if "PRIVATE KEY" not in label:
            raise KeyLoadError(f"holds a PEM {label!r} block, not a private key", source=source)
    encrypted = label == "ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in raw
    if encrypted and not passphrase:
        raise KeyLoadError("is encrypted; a passphrase is required", source=source, passphrase_required=True)
    if passphrase is not None and not encrypted and label is not None:
        raise KeyLoadError("is not encrypted, but a passphrase was given", source=source)
    password = passphrase_bytes(passphrase)
    loader = serialization.load_pem_private_key if label is not None else serialization.load_der_private_key
    try:
        key = loader(raw, password=password or None, unsafe_skip_rsa_key_validation=not validate)
    except TypeError as exc:
        if "not encrypted" in str(exc):
            raise KeyLoadError("is not encrypted, but a passphrase was given", source=source) from None
        raise KeyLoadError("is encrypted; a passphrase is required", source=source, passphrase_required=True) from None
    except ValueError as exc:
        if encrypted or "password" in str(exc).lower() or "decrypt" in str(exc).lower():
            raise KeyLoadError("cannot be decrypted: wrong passphrase or damaged key", source=source) from None
        if validate:
            raise KeyLoadError("is not a valid RSA key (consistency check failed)", source=source) from None
        raise KeyLoadError("is not a readable private key (PEM or DER)", source=source) from None
    except UnsupportedAlgorithm:
        raise KeyLoadError("uses an unsupported key type or encryption", source=source) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        kind = type(key).__name__.removeprefix("_").replace("PrivateKey", "")
        raise KeyLoadError(f"is {_a(kind)} key; Qlik JWTs are signed with an RSA key", source=source)
    numbers = key.public_key().public_numbers()
    _check_rsa_numbers(key.key_size, numbers.e, numbers.n, source)
    return key


def validate_private_key(
    data: bytes | str | os.PathLike[str], *, passphrase: bytes | str | None = None, source: str | None = None
) -> RSAPrivateKey:
    """Load a private key with cryptography's full RSA consistency check (see :func:`load_private_key`)."""
    return load_private_key(data, passphrase=passphrase, source=source, validate=True)


@dataclass(frozen=True)
class JsonWebKey:
    """An RSA public key taken from a JWK, with the JWK members that restrict its use."""

    key: RSAPublicKey
    kid: str | None = None
    alg: str | None = None
    use: str | None = None


def load_public_key(data: bytes | str | os.PathLike[str], *, source: str | None = None) -> RSAPublicKey:
    """Load an RSA public key for verification from whatever an admin has at hand.

    Accepts a PEM or DER public key (SPKI or PKCS#1), a PEM or DER X.509 certificate, a private key
    (its public half is used), or a single JWK as JSON. For a JWKS use :func:`load_jwks`.

    :raises KeyLoadError: for anything else, for non-RSA keys and for RSA keys under 2048 bits.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if source is None and isinstance(data, os.PathLike):
        source = os.fspath(data)
    raw = _as_bytes(data)
    if not raw.strip():
        raise KeyLoadError("is empty", source=source)
    stripped = raw.lstrip()
    if stripped.startswith(b"{"):
        jwks = load_jwks(raw, source=source)
        if len(jwks) != 1:
            raise KeyLoadError(f"holds a key set of {len(jwks)} keys; use it as a JWKS", source=source)
        return jwks[0].key
    label = _pem_label(raw)
    key: Any
    try:
        if label is None:
            key = _load_der_public(raw)
        elif "CERTIFICATE" in label:
            key = x509.load_pem_x509_certificate(raw).public_key()
        elif "PRIVATE KEY" in label:
            if "ENCRYPTED" in label or b"Proc-Type: 4,ENCRYPTED" in raw:
                raise KeyLoadError("is an encrypted private key; give the public key or certificate",
                                   source=source)
            key = serialization.load_pem_private_key(
                raw, password=None, unsafe_skip_rsa_key_validation=True
            ).public_key()
        elif "PUBLIC KEY" in label:
            key = serialization.load_pem_public_key(raw)
        else:
            raise KeyLoadError(f"holds a PEM {label!r} block, not a key or certificate", source=source)
    except KeyLoadError:
        raise
    except (ValueError, TypeError):
        raise KeyLoadError("is not a readable public key, certificate or private key", source=source) from None
    except Exception:  # cryptography raises UnsupportedAlgorithm and others for odd inputs
        raise KeyLoadError("is not a supported key or certificate", source=source) from None
    if not isinstance(key, rsa.RSAPublicKey):
        kind = type(key).__name__.removeprefix("_").replace("PublicKey", "")
        raise KeyLoadError(f"holds {_a(kind)} key; Qlik JWTs are verified with an RSA key", source=source)
    numbers = key.public_numbers()
    _check_rsa_numbers(key.key_size, numbers.e, numbers.n, source)
    return key


def _load_der_public(raw: bytes) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    for loader in (
        serialization.load_der_public_key,
        lambda b: x509.load_der_x509_certificate(b).public_key(),
        lambda b: serialization.load_der_private_key(
            b, password=None, unsafe_skip_rsa_key_validation=True
        ).public_key(),
    ):
        try:
            return loader(raw)
        except (ValueError, TypeError):
            continue
    raise ValueError("not DER")


_PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")


def load_jwks(data: bytes | str | os.PathLike[str], *, source: str | None = None) -> list[JsonWebKey]:
    """Load the RSA signature keys of a JWKS (``{"keys": [...]}``) or of a single JWK.

    Refused: key sets with private or symmetric keys, duplicate ``kid`` values, keys whose ``use``
    is not ``sig`` or whose ``key_ops`` lacks ``verify``, non-RSA keys, RSA keys under 2048 bits,
    with an exponent below 3, or with the ROCA weakness.

    :raises KeyLoadError: when the set, or any key in it, is refused.
    """
    from cryptography.hazmat.primitives.asymmetric import rsa

    from ._jws import parse_json_object

    if source is None and isinstance(data, os.PathLike):
        source = os.fspath(data)
    raw = _as_bytes(data)
    try:
        doc = parse_json_object(raw.strip(), what="JWKS")
    except TokenFormatError as exc:
        raise KeyLoadError(str(exc), source=source) from None
    members = doc.get("keys") if "keys" in doc else [doc]
    if not isinstance(members, list) or not members:
        raise KeyLoadError("JWKS 'keys' must be a non-empty array", source=source)
    result: list[JsonWebKey] = []
    kids: set[str] = set()
    for index, jwk in enumerate(members):
        where = f"key {index}"
        if not isinstance(jwk, dict):
            raise KeyLoadError(f"{where} is not a JSON object", source=source)
        kty = jwk.get("kty")
        if any(name in jwk for name in _PRIVATE_JWK_MEMBERS):
            raise KeyLoadError(f"{where} holds private or symmetric key material; publish public keys only",
                               source=source)
        if kty != "RSA":
            raise KeyLoadError(f"{where} has kty {kty!r}; only RSA keys verify Qlik JWTs", source=source)
        kid = jwk.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise KeyLoadError(f"{where} has a non-string 'kid'", source=source)
        if kid is not None:
            if kid in kids:
                raise KeyLoadError(f"kid {kid!r} appears more than once", source=source)
            kids.add(kid)
        use = jwk.get("use")
        if use is not None and use != "sig":
            raise KeyLoadError(f"{where} has use {use!r}; a verification key needs 'sig'", source=source)
        key_ops = jwk.get("key_ops")
        if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
            raise KeyLoadError(f"{where} has key_ops without 'verify'", source=source)
        alg = jwk.get("alg")
        if alg is not None and not isinstance(alg, str):
            raise KeyLoadError(f"{where} has a non-string 'alg'", source=source)
        n_b64, e_b64 = jwk.get("n"), jwk.get("e")
        if not isinstance(n_b64, str) or not isinstance(e_b64, str):
            raise KeyLoadError(f"{where} lacks the RSA members 'n' and 'e'", source=source)
        try:
            n = int.from_bytes(b64url_decode(n_b64, what="n"), "big")
            e = int.from_bytes(b64url_decode(e_b64, what="e"), "big")
        except TokenFormatError as exc:
            raise KeyLoadError(f"{where}: {exc}", source=source) from None
        _check_rsa_numbers(n.bit_length(), e, n, source)
        try:
            key = rsa.RSAPublicNumbers(e, n).public_key()
        except ValueError:
            raise KeyLoadError(f"{where} is not a valid RSA public key", source=source) from None
        result.append(JsonWebKey(key=key, kid=kid, alg=alg, use=use))
    return result


def generate_rsa_key(bits: int = 4096) -> RSAPrivateKey:
    """Generate a new RSA key pair (public exponent 65537).

    :raises InvalidValueError: when ``bits`` is not 2048, 3072 or 4096.
    """
    from cryptography.hazmat.primitives.asymmetric import rsa

    if bits not in GENERATED_KEY_SIZES:
        raise InvalidValueError(
            f"key size {bits} is not offered; use {', '.join(map(str, GENERATED_KEY_SIZES))}",
            option="key_size",
        )
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_key_pem(key: RSAPrivateKey, *, passphrase: bytes | str | None = None) -> bytes:
    """PKCS#8 PEM of a private key, encrypted with the best available scheme when a passphrase is given."""
    from cryptography.hazmat.primitives import serialization

    encryption: serialization.KeySerializationEncryption
    if passphrase:
        secret = passphrase_bytes(passphrase)
        assert secret is not None
        encryption = serialization.BestAvailableEncryption(secret)
    else:
        encryption = serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def public_key_pem(key: RSAPublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM (``BEGIN PUBLIC KEY``) of a public key."""
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _int_b64(value: int) -> str:
    return b64url_encode(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


def jwk_thumbprint(key: RSAPublicKey) -> str:
    """RFC 7638 SHA-256 thumbprint of an RSA public key, base64url: a stable, collision-free ``kid``."""
    import hashlib

    numbers = key.public_numbers()
    canonical = json.dumps(
        {"e": _int_b64(numbers.e), "kty": "RSA", "n": _int_b64(numbers.n)}, separators=(",", ":"), sort_keys=True
    )
    return b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest())


def public_jwk(key: RSAPublicKey, *, kid: str | None = None, alg: str = "RS256") -> dict[str, str]:
    """The public key as a JWK (``kid`` defaults to the RFC 7638 thumbprint)."""
    numbers = key.public_numbers()
    return {
        "kty": "RSA",
        "use": "sig",
        "alg": alg,
        "kid": kid if kid is not None else jwk_thumbprint(key),
        "n": _int_b64(numbers.n),
        "e": _int_b64(numbers.e),
    }


# ROCA (CVE-2017-15361) detection, after Nemec et al., "The Return of Coppersmith's Attack" (CCS 2017):
# moduli made by the affected Infineon library are, modulo each of these small primes, powers of 65537.
_ROCA_PRIMES = (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
                101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167)
_ROCA_GROUPS: dict[int, frozenset[int]] = {}


def roca_vulnerable(n: int) -> bool:
    """True when the RSA modulus ``n`` has the ROCA fingerprint (a false positive is about 2^-154)."""
    for prime in _ROCA_PRIMES:
        group = _ROCA_GROUPS.get(prime)
        if group is None:
            group = frozenset(pow(65537, k, prime) for k in range(prime))
            _ROCA_GROUPS[prime] = group
        if n % prime not in group:
            return False
    return True
