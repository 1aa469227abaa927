"""RSA keys: loading, generation, serialisation, key ids.

Keys and certificates are read from whatever an admin has at hand: PEM (one block or a bundle of
several, in any order, with the text OpenSSL writes around them), DER, PKCS#12 (``.pfx``/``.p12``, as
the Qlik QMC exports certificates), OpenSSH keys, and, for verification, a JWK or JWKS.

Signing keys are loaded without cryptography's full RSA consistency check, which costs about 250 ms
for a 4096-bit key because it tests p and q for primality. Instead the key's numbers are checked with
plain arithmetic (p·q = n, the exponents, the CRT coefficient), which refuses damaged keys at once, and
every signature made with the key is verified with its public key before it is returned (see
:mod:`qs_jwt.tokens`). :func:`validate_private_key` runs the full check as well.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ._jws import b64url_decode, b64url_encode
from .errors import (
    KEY_DAMAGED,
    KEY_MISMATCH,
    KEY_NOT_FOUND,
    KEY_PASSPHRASE_REQUIRED,
    KEY_UNNEEDED_PASSPHRASE,
    KEY_UNREADABLE,
    KEY_UNSUPPORTED,
    KEY_WEAK,
    KEY_WRONG_KIND,
    KEY_WRONG_PASSPHRASE,
    KEY_WRONG_TYPE,
    ArgumentTypeError,
    InvalidValueError,
    KeyLoadError,
    TokenFormatError,
)
from .redact import safe_source

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
    from cryptography.x509 import Certificate

__all__ = [
    "GENERATED_KEY_SIZES",
    "MAX_NEW_PASSPHRASE_BYTES",
    "MIN_RSA_BITS",
    "JsonWebKey",
    "generate_rsa_key",
    "jwk_thumbprint",
    "load_jwks",
    "load_private_key",
    "load_public_key",
    "load_verification_keys",
    "private_key_file_problem",
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
#: Longest passphrase (UTF-8 bytes) a new key can be encrypted with: OpenSSL's limit, which cryptography
#: 42 to 50 enforce for BestAvailableEncryption ("Passwords longer than 1023 bytes are not supported").
MAX_NEW_PASSPHRASE_BYTES = 1023

#: what the key in a file is used for; "describe" reads any key type, for reporting
_Purpose = Literal["sign", "verify", "describe"]
_READABLE = {
    "sign": "private key (PEM, DER, PKCS#12 or OpenSSH)",
    "verify": "public key, certificate or private key (PEM, DER, PKCS#12 or OpenSSH)",
    "describe": "certificate, public key or private key (PEM, DER, PKCS#12 or OpenSSH)",
}
_PSS_REASON = "is an RSA-PSS key, restricted to PSS signatures; RS256 (PKCS#1 v1.5) needs a plain RSA key"

_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,64})-----")
_CERTIFICATE_LABELS = frozenset({"CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"})
#: legacy PEM labels that name a key type other than RSA
_LABEL_KEY_TYPES = {"EC PRIVATE KEY": "EC", "DSA PRIVATE KEY": "DSA"}
#: an OpenSSH public key line: key type, base64 blob, optional comment
_SSH_PUBLIC = re.compile(rb"((?:ssh|ecdsa|sk)-[A-Za-z0-9@.-]{1,64}) +[A-Za-z0-9+/]+={0,2}(?:\s|$)")
_OPENSSH_MAGIC = b"openssh-key-v1\x00"

# DER tags, and the content of the OBJECT IDENTIFIER id-RSASSA-PSS (1.2.840.113549.1.1.10)
_INTEGER, _BIT_STRING, _OCTET_STRING, _OID, _SEQUENCE, _EXPLICIT_0 = 0x02, 0x03, 0x04, 0x06, 0x30, 0xA0
_RSA_PSS_OID = bytes.fromhex("2a864886f70d01010a")


# --- reading files and arguments -------------------------------------------------------------


def _path_text(path: object) -> str:
    """``path`` as text: a str, or an os.PathLike that gives one."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):
        raise ArgumentTypeError(f"expected text or an os.PathLike naming a file, not {type(path).__name__}",
                                param="path")
    return path


def _usable_file_name(path: str) -> bool:
    """False for a name no file can have: with a NUL character, or characters the file system cannot encode."""
    try:
        return b"\x00" not in os.fsencode(path)
    except UnicodeEncodeError:
        return False


def read_key_source(path: str | os.PathLike[str], *, what: str = "key") -> bytes:
    """Read a key or certificate file, with clear errors. The library reads no standard input: ``-`` is a
    file of that name here (the command line reads standard input itself).

    Only text paths and path objects are accepted: a number is refused, never taken for a file
    descriptor. Messages name the file through :func:`qs_jwt.redact.safe_source`, so key text given
    where a path belongs is never echoed.

    :raises ArgumentTypeError: ``path`` is not text or a path object.
    :raises KeyLoadError: the file is missing, a directory, unreadable, empty or too large, or its
        name cannot be a file name (a NUL character, characters the file system cannot encode).
    """
    path = _path_text(path)
    source = safe_source(path)
    if not _usable_file_name(path):
        raise KeyLoadError(f"is not a usable {what} file name (a NUL character, or characters the file system "
                           "cannot encode)", source=source, code=KEY_NOT_FOUND)
    if os.path.isdir(path):
        raise KeyLoadError(f"is a directory, not a {what} file", source=source, code=KEY_UNREADABLE)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_KEY_FILE_BYTES + 1)
    except FileNotFoundError:
        raise KeyLoadError(f"{what} file not found", source=source, code=KEY_NOT_FOUND) from None
    except OSError as exc:
        raise KeyLoadError(f"cannot read {what} file ({exc.strerror or type(exc).__name__})", source=source,
                           code=KEY_UNREADABLE) from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyLoadError(f"is larger than {MAX_KEY_FILE_BYTES // 1024} KiB; not a {what}", source=source,
                           code=KEY_UNREADABLE)
    if not data.strip():
        raise KeyLoadError("is empty", source=source, code=KEY_UNREADABLE)
    return data


def private_key_file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why the private key file ``path`` is open to other users (``"mode 0644: readable by group and others"``),
    or None: when only its owner can use it, when it cannot be examined, and always on Windows, where the
    file's ACL (inherited from its folder), not its mode, says who may read it."""
    from ._platform import file_mode_problem

    text = _path_text(path)
    try:
        return file_mode_problem(text)
    except (OSError, ValueError):  # gone, not examinable, or a name no file can have
        return None


def passphrase_bytes(passphrase: bytes | str | None) -> bytes | None:
    """A passphrase as bytes: text as UTF-8, and bytes that came through undecodable (as from a non-UTF-8
    environment variable) back as they were.

    :raises ArgumentTypeError: not text or bytes. :raises InvalidValueError: text with a lone surrogate.
    """
    if passphrase is None or isinstance(passphrase, bytes):
        return passphrase
    if not isinstance(passphrase, str):
        raise ArgumentTypeError(f"expected text or bytes, not {type(passphrase).__name__}", param="passphrase")
    try:
        return passphrase.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise InvalidValueError("is not valid text (an unpaired surrogate)", param="passphrase") from None


def new_key_passphrase(passphrase: bytes | str | None) -> bytes | None:
    """The passphrase to encrypt a new key with, as bytes (None for none or an empty one).

    :raises InvalidValueError: longer than :data:`MAX_NEW_PASSPHRASE_BYTES`, which the backend refuses.
    """
    secret = passphrase_bytes(passphrase)
    if secret and len(secret) > MAX_NEW_PASSPHRASE_BYTES:
        raise InvalidValueError(f"is {len(secret)} bytes long; new keys can be encrypted with at most "
                                f"{MAX_NEW_PASSPHRASE_BYTES} bytes (UTF-8)", param="passphrase")
    return secret or None


def _source_name(source: object, data: object) -> str | None:
    """The name messages give the input: ``source``, else the path ``data`` names; never key text."""
    if source is None and isinstance(data, os.PathLike):
        source = _path_text(data)
    if source is not None and not isinstance(source, str):
        raise ArgumentTypeError(f"expected text naming where the key came from, not {type(source).__name__}",
                                param="source")
    return safe_source(source)


def _as_bytes(data: object, source: str | None) -> bytes:
    """Key material as bytes (a path object is read), without a UTF-8 byte-order mark or leading whitespace."""
    if isinstance(data, os.PathLike):
        data = read_key_source(data)
    if isinstance(data, str):
        try:
            data = data.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise KeyLoadError("is not valid text (an unpaired surrogate)", source=source) from None
    elif isinstance(data, bytearray | memoryview):
        data = bytes(data)
    elif not isinstance(data, bytes):
        raise ArgumentTypeError(f"expected key bytes, text or a path object, not {type(data).__name__}",
                                param="data")
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyLoadError(f"is larger than {MAX_KEY_FILE_BYTES // 1024} KiB; not a key", source=source,
                           code=KEY_UNREADABLE)
    # a UTF-8 byte-order mark, as some Windows editors write, and blank lines before PEM; DER never starts with
    # white space, so it is left whole
    return data.removeprefix(b"\xef\xbb\xbf").lstrip()


def _key_input(data: object, source: object, passphrase: bytes | str | None) -> tuple[bytes, str | None, bytes | None]:
    """The bytes, the name for messages and the passphrase (None for none or an empty one) of a loader's input."""
    name = _source_name(source, data)
    password = passphrase_bytes(passphrase) or None
    return _as_bytes(data, name), name, password


def _a(word: str) -> str:
    """``word`` with its indefinite article: "an EC", "a DSA"."""
    return f"an {word}" if word[:1].upper() in "AEFHILMNORSX" else f"a {word}"


def _type_name(public_key: Any) -> str:
    """"RSA", "EC", "Ed25519", "DSA", ... for a public key object."""
    return type(public_key).__name__.removeprefix("_").replace("PublicKey", "") or "unknown"


def _wrong_type(kind: str, source: str | None) -> KeyLoadError:
    return KeyLoadError(f"is {_a(kind)} key, not an RSA key; Qlik JWTs need an RSA key (create one with "
                        "qs-jwt cert create)", source=source, code=KEY_WRONG_TYPE)


def _expect(value: object, kind: type[Any] | tuple[type[Any], ...], what: str, param: str) -> None:
    """:raises ArgumentTypeError: ``value`` is not an instance of ``kind`` (or is a bool)."""
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ArgumentTypeError(f"expected {what}, not {type(value).__name__}", param=param)


# --- DER, PEM and OpenSSH structure --------------------------------------------------------------


def _der_header(der: bytes, pos: int) -> tuple[int, int, int | None]:
    """The tag, content offset and content length (None: BER's indefinite length) of the element at ``pos``.

    :raises ValueError: the element is cut short or has a form keys never use.
    """
    if pos + 2 > len(der) or der[pos] & 0x1F == 0x1F:
        raise ValueError("not a DER element")
    tag, first = der[pos], der[pos + 1]
    if first < 0x80:
        return tag, pos + 2, first
    if first == 0x80:
        return tag, pos + 2, None
    count = first & 0x7F
    if count > 4 or pos + 2 + count > len(der):
        raise ValueError("not a DER length")
    return tag, pos + 2 + count, int.from_bytes(der[pos + 2:pos + 2 + count], "big")


def _der_children(der: bytes, element: tuple[int, int, int] | None = None) -> list[tuple[int, int, int]]:
    """The ``(tag, start, end)`` of each element inside ``element`` (or at the top level of ``der``).

    :raises ValueError: an element is cut short or runs past its parent.
    """
    pos, end = (element[1], element[2]) if element is not None else (0, len(der))
    children = []
    while pos < end:
        tag, start, length = _der_header(der, pos)
        if length is None or start + length > end:
            raise ValueError("not DER")
        children.append((tag, start, start + length))
        pos = start + length
    return children


def _der_shape(der: bytes) -> str | None:
    """What DER (or BER) data looks like from its first two elements: ``"certificate"``, ``"public key"``,
    ``"private key"``, ``"encrypted private key"``, ``"PKCS#12"``, or None."""
    try:
        outer, pos, _ = _der_header(der, 0)
        first, start, length = _der_header(der, pos)
        if outer != _SEQUENCE or length is None:
            return None
        second = _der_header(der, start + length)[0]
    except ValueError:
        return None
    if first == _INTEGER:
        version = length == 1  # a version number (PKCS#8, PKCS#1 private, SEC1, PKCS#12), not a modulus
        if second == _SEQUENCE:
            return "PKCS#12" if version and der[start] == 3 else "private key"
        if second in (_INTEGER, _OCTET_STRING):
            return "private key" if version else "public key"
    if first == _SEQUENCE:
        return {_OCTET_STRING: "encrypted private key", _BIT_STRING: "public key", _SEQUENCE: "certificate"}.get(second)
    return None


def _der_end(der: bytes) -> int | None:
    """Where the first element of ``der`` ends by its definite length; None when it cannot tell (BER)."""
    try:
        _, start, length = _der_header(der, 0)
    except ValueError:
        return None
    return start + length if length is not None else None


def _is_rsa_pss(der: bytes) -> bool:
    """True when a DER PKCS#8 key, SubjectPublicKeyInfo or certificate names id-RSASSA-PSS as the key's algorithm.

    cryptography loads such keys as plain RSA keys (and forgets the restriction), so it is read here.
    """
    try:
        top = _der_children(der, _der_children(der)[0])
        if top[0][0] == _SEQUENCE and top[1][0] == _SEQUENCE:  # a certificate: into its SubjectPublicKeyInfo
            tbs = _der_children(der, top[0])
            top = _der_children(der, tbs[6] if tbs[0][0] == _EXPLICIT_0 else tbs[5])
        algorithm = top[1] if top[0][0] == _INTEGER else top[0]  # PKCS#8 starts with its version
        if algorithm[0] != _SEQUENCE:
            return False
        oid = _der_children(der, algorithm)[0]
    except (ValueError, IndexError):
        return False
    return oid[0] == _OID and der[oid[1]:oid[2]] == _RSA_PSS_OID


@dataclass(frozen=True)
class _PemBlock:
    label: str
    text: bytes  # the block from its BEGIN line to its END line
    der: bytes  # the decoded body; empty when it is not base64 or the block is cut short
    legacy_encrypted: bool  # "Proc-Type: 4,ENCRYPTED": OpenSSL's old encrypted PEM


def _pem_blocks(raw: bytes) -> list[_PemBlock]:
    """Every PEM block in ``raw``, in order; text around them (OpenSSL's "Bag Attributes") is skipped."""
    blocks = []
    pos = 0
    while (match := _PEM_BEGIN.search(raw, pos)) is not None:
        end_line = b"-----END " + match.group(1) + b"-----"
        end = raw.find(end_line, match.end())
        body = raw[match.end():end] if end >= 0 else b""
        pos = end + len(end_line) if end >= 0 else len(raw)
        lines = body.splitlines()
        try:
            der = base64.b64decode(b"".join(b"".join(line.split()) for line in lines if b":" not in line),
                                   validate=True)
        except binascii.Error:
            der = b""
        blocks.append(_PemBlock(label=match.group(1).decode("ascii"), text=raw[match.start():pos], der=der,
                                legacy_encrypted=any(b"Proc-Type:" in line and b"ENCRYPTED" in line for line in lines)))
    return blocks


def _ssh_string(blob: bytes, pos: int) -> tuple[bytes, int]:
    """The SSH wire-format string at ``pos`` and the offset after it. :raises ValueError: cut short."""
    if pos + 4 > len(blob):
        raise ValueError("cut short")
    end = pos + 4 + int.from_bytes(blob[pos:pos + 4], "big")
    if end > len(blob):
        raise ValueError("cut short")
    return blob[pos + 4:end], end


def _openssh_private_header(blob: bytes) -> tuple[str, bool]:
    """The key type name (``"ssh-ed25519"``) and whether it is encrypted, read from an ``openssh-key-v1`` blob
    without decrypting it. :raises ValueError: not such a blob."""
    if not blob.startswith(_OPENSSH_MAGIC):
        raise ValueError("not an openssh-key-v1 blob")
    cipher, pos = _ssh_string(blob, len(_OPENSSH_MAGIC))
    for _ in range(2):  # the KDF's name and options
        pos = _ssh_string(blob, pos)[1]
    public, _ = _ssh_string(blob, pos + 4)  # after the number of keys
    return _ssh_string(public, 0)[0].decode("ascii"), cipher != b"none"


def _ssh_kind(key_type: str) -> str:
    """The key type an OpenSSH key-type name stands for: ``"RSA"``, ``"Ed25519"``, ``"ECDSA"``, ``"DSA"``..."""
    name = key_type.removeprefix("sk-")
    for prefix, kind in (("ssh-rsa", "RSA"), ("ssh-ed25519", "Ed25519"), ("ecdsa-sha2-", "ECDSA"), ("ssh-dss", "DSA")):
        if name.startswith(prefix):
            return kind
    return "unknown-type"


# --- what an input holds -----------------------------------------------------------------------


@dataclass
class _Entry:
    """One key of an input: a private key, a public key or a certificate's key, with its public half."""

    public: Any
    private: Any = None
    certificate: Certificate | None = None
    pss: bool = False  # its AlgorithmIdentifier restricts it to RSA-PSS


@dataclass
class _Material:
    """Everything one input holds."""

    entries: list[_Entry] = field(default_factory=list)
    encrypted: bool = False  # a private key or PKCS#12 file was decrypted with the passphrase
    locked: int = 0  # encrypted private keys left encrypted (reading for verification without a passphrase)
    container: str | None = None  # "PKCS#12"
    other_labels: list[str] = field(default_factory=list)  # PEM blocks that hold no key


def _crypto_errors() -> tuple[type[Exception], ...]:
    """What cryptography's loaders raise for data they cannot read (the SSH loaders: NotImplementedError too)."""
    from cryptography.exceptions import InternalError, UnsupportedAlgorithm

    return ValueError, TypeError, NotImplementedError, UnsupportedAlgorithm, InternalError


def _read_material(raw: bytes, *, source: str | None, password: bytes | None, purpose: _Purpose) -> _Material:
    """Read every key and certificate in ``raw``: PEM blocks, an OpenSSH public key, or DER/PKCS#12.

    Encrypted private keys are decrypted with ``password``; without one, verification (which needs no
    private key) leaves them aside (``locked``) and the others refuse them. Keys of other types than RSA
    are refused as early as they are recognised unless ``purpose`` is ``"describe"``.
    """
    if not raw:
        raise KeyLoadError("is empty", source=source, code=KEY_UNREADABLE)
    if raw.startswith(b"{"):
        raise KeyLoadError("holds JSON (a JWK or JWKS), not a PEM, DER or PKCS#12 key", source=source)
    material = _Material()
    blocks = _pem_blocks(raw)
    for block in blocks:
        _read_pem_block(block, material, source=source, password=password, purpose=purpose)
    if blocks:
        return material
    ssh = _SSH_PUBLIC.match(raw)
    if ssh is not None:
        material.entries.append(_ssh_public_entry(raw, ssh.group(1).decode("ascii"), source, purpose))
    else:
        _read_der(raw, material, source=source, password=password, purpose=purpose)
    return material


def _read_pem_block(
    block: _PemBlock, material: _Material, *, source: str | None, password: bytes | None, purpose: _Purpose
) -> None:
    label = block.label
    if label in _CERTIFICATE_LABELS:
        # OpenSSL's TRUSTED CERTIFICATE is the certificate followed by its trust settings
        der = block.der[:_der_end(block.der)] if label == "TRUSTED CERTIFICATE" else block.der
        material.entries.append(_certificate_entry(der, source))
    elif label == "OPENSSH PRIVATE KEY":
        _read_openssh_private(block, material, source=source, password=password, purpose=purpose)
    elif label.endswith("PRIVATE KEY"):
        if label in _LABEL_KEY_TYPES and purpose != "describe":
            raise _wrong_type(_LABEL_KEY_TYPES[label], source)
        encrypted = label == "ENCRYPTED PRIVATE KEY" or block.legacy_encrypted
        data = block.text if block.legacy_encrypted else block.der
        _read_private(data, material, pem=block.legacy_encrypted, encrypted=encrypted, source=source,
                      password=password, purpose=purpose)
    elif label.endswith("PUBLIC KEY"):
        material.entries.append(_public_entry(block.der, source))
    else:
        material.other_labels.append(label)


def _read_der(raw: bytes, material: _Material, *, source: str | None, password: bytes | None,
              purpose: _Purpose) -> None:
    shape = _der_shape(raw)
    if shape == "PKCS#12":
        _read_pkcs12(raw, material, source=source, password=password)
    elif shape == "certificate":
        material.entries.append(_certificate_entry(raw, source))
    elif shape == "public key":
        material.entries.append(_public_entry(raw, source))
    elif shape in ("private key", "encrypted private key"):
        _read_private(raw, material, pem=False, encrypted=shape == "encrypted private key", source=source,
                      password=password, purpose=purpose)
    else:
        raise KeyLoadError(f"is not a readable {_READABLE[purpose]}", source=source)


def _certificate_entry(der: bytes, source: str | None) -> _Entry:
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
    except _crypto_errors():
        raise KeyLoadError("is not a readable certificate", source=source) from None
    return _loaded_certificate_entry(cert, der, source)


def _loaded_certificate_entry(cert: Certificate, der: bytes, source: str | None) -> _Entry:
    try:
        public = cert.public_key()
    except _crypto_errors():
        raise KeyLoadError("holds a certificate of a key type the installed cryptography cannot read",
                           source=source, code=KEY_UNSUPPORTED) from None
    return _Entry(public=public, certificate=cert, pss=_is_rsa_pss(der))


def _public_entry(der: bytes, source: str | None) -> _Entry:
    from cryptography.hazmat.primitives import serialization

    try:
        public = serialization.load_der_public_key(der)
    except _crypto_errors():
        raise KeyLoadError("is not a readable public key", source=source) from None
    return _Entry(public=public, pss=_is_rsa_pss(der))


def _read_private(data: bytes, material: _Material, *, pem: bool, encrypted: bool, source: str | None,
                  password: bytes | None, purpose: _Purpose) -> None:
    """Load one private key (DER, or legacy encrypted PEM when ``pem``) into ``material``."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    if encrypted and password is None and purpose == "verify":
        material.locked += 1
        return
    if encrypted and password is None:
        raise KeyLoadError("is encrypted; a passphrase is required", source=source, code=KEY_PASSPHRASE_REQUIRED)
    loader = serialization.load_pem_private_key if pem else serialization.load_der_private_key
    try:
        key = loader(data, password=password if encrypted else None, unsafe_skip_rsa_key_validation=True)
    except UnsupportedAlgorithm:
        raise KeyLoadError("uses a key type or encryption the installed cryptography does not offer",
                           source=source, code=KEY_UNSUPPORTED) from None
    except _crypto_errors():
        if encrypted:
            raise KeyLoadError("cannot be decrypted: wrong passphrase or damaged key", source=source,
                               code=KEY_WRONG_PASSPHRASE) from None
        raise KeyLoadError("is not a readable private key (PEM or DER)", source=source) from None
    material.encrypted = material.encrypted or encrypted
    material.entries.append(_Entry(public=key.public_key(), private=key, pss=not encrypted and _is_rsa_pss(data)))


def _read_openssh_private(block: _PemBlock, material: _Material, *, source: str | None, password: bytes | None,
                          purpose: _Purpose) -> None:
    """An OpenSSH private key: its type is read before anything is decrypted, so a key of the wrong type
    is named as such whatever its passphrase. RSA keys are loaded (with cryptography's full check)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        key_type, encrypted = _openssh_private_header(block.der)
    except ValueError:
        raise KeyLoadError("is not a readable OpenSSH private key", source=source) from None
    kind = _ssh_kind(key_type)
    if kind != "RSA" and purpose != "describe":
        raise _wrong_type(f"OpenSSH {kind}", source)
    if encrypted and password is None and purpose == "verify":
        material.locked += 1
        return
    if encrypted and password is None:
        raise KeyLoadError("is encrypted; a passphrase is required", source=source, code=KEY_PASSPHRASE_REQUIRED)
    try:
        key = serialization.load_ssh_private_key(block.text, password if encrypted else None)
    except (UnsupportedAlgorithm, NotImplementedError):
        reason = ("is an encrypted OpenSSH key, which needs the bcrypt package to decrypt; install it, or convert "
                  "the key to PEM with 'ssh-keygen -p -m PKCS8 -f FILE'" if encrypted else
                  f"is an OpenSSH {kind} key, which the installed cryptography cannot read")
        raise KeyLoadError(reason, source=source, code=KEY_UNSUPPORTED) from None
    except _crypto_errors():
        if encrypted:
            raise KeyLoadError("cannot be decrypted: wrong passphrase or damaged key", source=source,
                               code=KEY_WRONG_PASSPHRASE) from None
        raise KeyLoadError("is not a readable OpenSSH private key", source=source) from None
    material.encrypted = material.encrypted or encrypted
    material.entries.append(_Entry(public=key.public_key(), private=key))


def _ssh_public_entry(raw: bytes, key_type: str, source: str | None, purpose: _Purpose) -> _Entry:
    """An OpenSSH public key line (``ssh-rsa AAAA... comment``): RSA keys verify, other types are refused."""
    from cryptography.hazmat.primitives import serialization

    if purpose == "sign":
        raise KeyLoadError("is an OpenSSH public key; signing needs the private key", source=source,
                           code=KEY_WRONG_KIND)
    kind = _ssh_kind(key_type)
    if kind != "RSA" and purpose != "describe":
        raise _wrong_type(f"OpenSSH {kind} public", source)
    try:
        return _Entry(public=serialization.load_ssh_public_key(raw.rstrip()))
    except _crypto_errors():
        raise KeyLoadError("is not a readable OpenSSH public key (one key on one line)", source=source) from None


def _read_pkcs12(raw: bytes, material: _Material, *, source: str | None, password: bytes | None) -> None:
    """A PKCS#12 file: its key and certificates. One without a password opens with None or an empty password
    (cryptography takes either, depending on how the file was made)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    for attempt in ([password] if password else []) + [None, b""]:
        try:
            bundle = pkcs12.load_pkcs12(raw, attempt)
        except UnsupportedAlgorithm:
            raise KeyLoadError("is a PKCS#12 file with an encryption the installed cryptography does not offer",
                               source=source, code=KEY_UNSUPPORTED) from None
        except _crypto_errors():
            continue
        break
    else:
        if _der_end(raw) not in (None, len(raw)):  # its length says it was cut short, or has bytes after it
            raise KeyLoadError("is a damaged or truncated PKCS#12 file", source=source, code=KEY_DAMAGED)
        if password:
            raise KeyLoadError("cannot be decrypted: wrong passphrase or damaged PKCS#12 file", source=source,
                               code=KEY_WRONG_PASSPHRASE)
        raise KeyLoadError("is a PKCS#12 file protected by a passphrase; a passphrase is required", source=source,
                           code=KEY_PASSPHRASE_REQUIRED)
    material.container = "PKCS#12"
    material.encrypted = bool(attempt)
    if bundle.key is not None:
        material.entries.append(_Entry(public=bundle.key.public_key(), private=bundle.key))
    for item in ([bundle.cert] if bundle.cert is not None else []) + list(bundle.additional_certs):
        cert = item.certificate
        material.entries.append(_loaded_certificate_entry(cert, cert.public_bytes(serialization.Encoding.DER), source))


def _spki(public: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public.public_bytes(serialization.Encoding.DER,  # type: ignore[no-any-return]
                               serialization.PublicFormat.SubjectPublicKeyInfo)


def _principal(material: _Material, source: str | None) -> _Entry | None:
    """The one key an input stands for, with everything the input says about it: its private key (and a
    certificate of it) when there is one, else the one public key its certificates and public keys share.
    None when the input holds no key at all.

    :raises KeyLoadError: (``KEY_MISMATCH``) two different private keys, certificates none of which is the
        private key's, a public key that is not the private key's, or several keys and no private key.
    """
    entries = material.entries
    if len(entries) <= 1:
        return entries[0] if entries else None
    ids = [_spki(entry.public) for entry in entries]
    private_ids = {key_id for key_id, entry in zip(ids, entries, strict=True) if entry.private is not None}
    if len(private_ids) > 1:
        raise KeyLoadError(f"holds {len(private_ids)} different private keys; keep only the signing key in the file",
                           source=source, code=KEY_MISMATCH)
    if private_ids:
        (key_id,) = private_ids
        certificates = [i for i, entry in zip(ids, entries, strict=True) if entry.certificate is not None]
        if certificates and key_id not in certificates:
            reason = ("the certificate in the file is not the private key's" if len(certificates) == 1 else
                      f"none of the {len(certificates)} certificates in the file is the private key's")
            raise KeyLoadError(reason, source=source, code=KEY_MISMATCH)
        if any(i != key_id and entry.private is None and entry.certificate is None
               for i, entry in zip(ids, entries, strict=True)):
            raise KeyLoadError("the public key in the file is not the private key's", source=source,
                               code=KEY_MISMATCH)
    elif len(set(ids)) > 1:
        raise KeyLoadError(f"holds {len(set(ids))} different keys (certificates or public keys) and no private key; "
                           "keep only the one that verifies the tokens", source=source, code=KEY_MISMATCH)
    else:
        key_id = ids[0]
    same = [entry for i, entry in zip(ids, entries, strict=True) if i == key_id]
    return _Entry(
        public=same[0].public,
        private=next((entry.private for entry in same if entry.private is not None), None),
        certificate=next((entry.certificate for entry in same if entry.certificate is not None), None),
        pss=any(entry.pss for entry in same),
    )


def _read_principal(raw: bytes, *, source: str | None, password: bytes | None,
                    purpose: _Purpose) -> tuple[_Entry, _Material]:
    """:func:`_principal` of ``raw``. :raises KeyLoadError: also when it holds no key at all."""
    material = _read_material(raw, source=source, password=password, purpose=purpose)
    entry = _principal(material, source)
    if entry is not None:
        return entry, material
    if material.locked:
        raise KeyLoadError("is an encrypted private key; give its passphrase, or the public key or certificate",
                           source=source, code=KEY_WRONG_KIND)
    if material.other_labels:
        raise KeyLoadError(f"holds a PEM {material.other_labels[0]!r} block, not a key or certificate",
                           source=source)
    raise KeyLoadError("is a PKCS#12 file without a key or certificate", source=source, code=KEY_WRONG_KIND)


# --- private keys ------------------------------------------------------------------------------


def _check_rsa_numbers(bits: int, e: int, n: int, source: str | None) -> None:
    if bits < MIN_RSA_BITS:
        raise KeyLoadError(f"RSA key is {bits} bits; at least {MIN_RSA_BITS} bits are required", source=source,
                           code=KEY_WEAK)
    if e < 3 or e % 2 == 0:
        raise KeyLoadError(f"RSA public exponent {e} is not acceptable", source=source, code=KEY_WEAK)
    if roca_vulnerable(n):
        raise KeyLoadError("RSA key has the ROCA weakness (CVE-2017-15361); replace it", source=source, code=KEY_WEAK)


def _check_private_numbers(key: RSAPrivateKey, source: str | None, *, full: bool) -> None:
    """Refuse an RSA key whose numbers do not fit together (an even modulus, p = 0, wrong CRT values): plain
    arithmetic, no primality test. ``full`` adds cryptography's complete check (which tests p and q)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    numbers = key.private_numbers()
    p, q, d = numbers.p, numbers.q, numbers.d
    n, e = numbers.public_numbers.n, numbers.public_numbers.e
    consistent = (
        n % 2 == 1 and 1 < p < n and 1 < q < n and p * q == n and d > 0
        and (e * d - 1) % (p - 1) == 0 and (e * d - 1) % (q - 1) == 0
        and (e * numbers.dmp1 - 1) % (p - 1) == 0 and (e * numbers.dmq1 - 1) % (q - 1) == 0
        and numbers.iqmp * q % p == 1
    )
    if not consistent:
        raise KeyLoadError("is damaged: its RSA numbers are inconsistent", source=source, code=KEY_DAMAGED)
    if full:
        try:
            rsa.RSAPrivateNumbers(p, q, d, numbers.dmp1, numbers.dmq1, numbers.iqmp,
                                  numbers.public_numbers).private_key()
        except ValueError:
            raise KeyLoadError("is damaged: it fails the full RSA consistency check", source=source,
                               code=KEY_DAMAGED) from None


def load_private_key(
    data: bytes | str | os.PathLike[str],
    *,
    passphrase: bytes | str | None = None,
    source: str | None = None,
    validate: bool = False,
) -> RSAPrivateKey:
    """Load an RSA private key for signing.

    Accepts PEM (PKCS#1 ``RSA PRIVATE KEY``, PKCS#8 ``PRIVATE KEY``, encrypted PKCS#8 ``ENCRYPTED PRIVATE
    KEY`` and legacy encrypted PEM), a PEM bundle with the key anywhere in it (a certificate of the key
    may stand beside it), DER, PKCS#12 (``.pfx``/``.p12``), and OpenSSH RSA keys; with CRLF line ends, a
    UTF-8 BOM or blank lines before it. A path object is read as a file.

    :param data: the key bytes or text, or a path object.
    :param passphrase: the passphrase of an encrypted key or PKCS#12 file; empty is the same as None.
    :param source: where the key came from, for error messages (a path, ``"<stdin>"``).
    :param validate: also run cryptography's full RSA consistency check (slow for 4096-bit keys).
        When false, signatures made with the key must be verified before use, as
        :func:`qs_jwt.create_qscloud_token` does.
    :raises ArgumentTypeError: ``data``, ``passphrase`` or ``source`` of the wrong type.
    :raises KeyLoadError: for anything that is not a usable RSA private key of at least 2048 bits, and for
        a missing, wrong or unneeded passphrase; ``code`` says which (``KEY_*``). The message never contains
        key material.
    """
    from cryptography.hazmat.primitives.asymmetric import rsa

    raw, source, password = _key_input(data, source, passphrase)
    entry, material = _read_principal(raw, source=source, password=password, purpose="sign")
    key = entry.private
    if key is None:
        if material.container is not None:
            reason = f"is a {material.container} file without a private key (it holds certificates only)"
        elif entry.certificate is not None:
            reason = "holds a certificate, not a private key"
        else:
            reason = "holds a public key; signing needs the private key"
        raise KeyLoadError(reason, source=source, code=KEY_WRONG_KIND)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise _wrong_type(_type_name(entry.public), source)
    if entry.pss:
        raise KeyLoadError(_PSS_REASON, source=source, code=KEY_WRONG_TYPE)
    if password is not None and not material.encrypted:
        raise KeyLoadError("is not encrypted, but a passphrase was given", source=source,
                           code=KEY_UNNEEDED_PASSPHRASE)
    numbers = key.public_key().public_numbers()
    _check_rsa_numbers(key.key_size, numbers.e, numbers.n, source)
    _check_private_numbers(key, source, full=validate)
    return key


def validate_private_key(
    data: bytes | str | os.PathLike[str], *, passphrase: bytes | str | None = None, source: str | None = None
) -> RSAPrivateKey:
    """Load a private key with cryptography's full RSA consistency check (see :func:`load_private_key`)."""
    return load_private_key(data, passphrase=passphrase, source=source, validate=True)


# --- public keys, JWKs and JWKS ----------------------------------------------------------------


@dataclass(frozen=True)
class JsonWebKey:
    """An RSA public key for verification, with the JWK members that restrict its use (None: unrestricted)."""

    key: RSAPublicKey
    kid: str | None = None
    alg: str | None = None
    use: str | None = None
    key_ops: tuple[str, ...] | None = None


def load_verification_keys(
    data: bytes | str | os.PathLike[str], *, source: str | None = None, passphrase: bytes | str | None = None
) -> list[JsonWebKey]:
    """Load the RSA key(s) that verify tokens, keeping what restricts their use.

    JSON input (a single JWK or a JWKS) gives its keys with their ``kid``, ``alg``, ``use`` and
    ``key_ops``, exactly as :func:`load_jwks`. Anything else :func:`load_public_key` reads gives one
    unrestricted key: a public key, a certificate, a private key's public half (``passphrase`` decrypts
    an encrypted one), a PKCS#12 file's certificate (``passphrase`` opens it), a PEM bundle whose parts
    are all the same key, or an OpenSSH ``ssh-rsa`` public key.

    :raises ArgumentTypeError: an argument of the wrong type.
    :raises KeyLoadError: not a usable RSA verification key (see :func:`load_public_key`).
    """
    from cryptography.hazmat.primitives.asymmetric import rsa

    raw, source, password = _key_input(data, source, passphrase)
    if raw.startswith(b"{"):
        return _jwks(raw, source)
    entry, _ = _read_principal(raw, source=source, password=password, purpose="verify")
    key = entry.public
    if not isinstance(key, rsa.RSAPublicKey):
        raise _wrong_type(_type_name(key), source)
    if entry.pss:
        raise KeyLoadError(_PSS_REASON, source=source, code=KEY_WRONG_TYPE)
    numbers = key.public_numbers()
    _check_rsa_numbers(key.key_size, numbers.e, numbers.n, source)
    return [JsonWebKey(key=key)]


def load_public_key(
    data: bytes | str | os.PathLike[str], *, source: str | None = None, passphrase: bytes | str | None = None
) -> RSAPublicKey:
    """Load an RSA public key for verification from whatever an admin has at hand.

    Accepts a PEM or DER public key (SPKI or PKCS#1), a PEM or DER X.509 certificate, a private key
    (its public half is used; an encrypted one only with its ``passphrase``), a PKCS#12 file (its
    certificate, else its key's public half; ``passphrase`` opens it), a PEM bundle (its certificates and
    keys must all be the same key, or be a private key with its certificate and chain; an encrypted key
    beside a certificate needs no passphrase), an OpenSSH ``ssh-rsa`` public key, or a single JWK as JSON.
    A passphrase that nothing needs is ignored. A JWK's restrictions (``alg``, ``use``, ``key_ops``) are dropped
    here: :func:`load_verification_keys` keeps them. For a JWKS use :func:`load_jwks`.

    :raises ArgumentTypeError: an argument of the wrong type.
    :raises KeyLoadError: for anything else, for keys of other types than RSA (and RSA-PSS keys), for RSA
        keys under 2048 bits, and for bundles whose parts are different keys (``KEY_MISMATCH``).
    """
    keys = load_verification_keys(data, source=source, passphrase=passphrase)
    if len(keys) != 1:
        raise KeyLoadError(f"holds a key set of {len(keys)} keys; use it as a JWKS", source=_source_name(source, data),
                           code=KEY_WRONG_KIND)
    return keys[0].key


_PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")


def load_jwks(data: bytes | str | os.PathLike[str], *, source: str | None = None) -> list[JsonWebKey]:
    """Load the RSA signature keys of a JWKS (``{"keys": [...]}``) or of a single JWK.

    Refused: key sets with private or symmetric keys, duplicate ``kid`` values, keys whose ``use``
    is not ``sig`` or whose ``key_ops`` lacks ``verify``, non-RSA keys, RSA keys under 2048 bits,
    with an exponent below 3, or with the ROCA weakness.

    :raises ArgumentTypeError: an argument of the wrong type.
    :raises KeyLoadError: when the set, or any key in it, is refused.
    """
    name = _source_name(source, data)
    return _jwks(_as_bytes(data, name), name)


def _jwks(raw: bytes, source: str | None) -> list[JsonWebKey]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from ._jws import parse_json_object

    try:
        doc = parse_json_object(raw.rstrip(), what="JWKS")
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
                               source=source, code=KEY_WRONG_KIND)
        if kty != "RSA":
            raise KeyLoadError(f"{where} has kty {kty!r}; only RSA keys verify Qlik JWTs", source=source,
                               code=KEY_WRONG_TYPE)
        kid = jwk.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise KeyLoadError(f"{where} has a non-string 'kid'", source=source)
        if kid is not None:
            if kid in kids:
                raise KeyLoadError(f"kid {kid!r} appears more than once", source=source)
            kids.add(kid)
        use = jwk.get("use")
        if use is not None and use != "sig":
            raise KeyLoadError(f"{where} has use {use!r}; a verification key needs 'sig'", source=source,
                               code=KEY_WRONG_TYPE)
        key_ops = jwk.get("key_ops")
        if key_ops is not None and (not isinstance(key_ops, list) or not all(isinstance(op, str) for op in key_ops)):
            raise KeyLoadError(f"{where} has key_ops that is not an array of strings", source=source)
        if key_ops is not None and "verify" not in key_ops:
            raise KeyLoadError(f"{where} has key_ops without 'verify'", source=source, code=KEY_WRONG_TYPE)
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
            raise KeyLoadError(f"{where} is not a valid RSA public key", source=source, code=KEY_DAMAGED) from None
        result.append(JsonWebKey(key=key, kid=kid, alg=alg, use=use,
                                 key_ops=tuple(key_ops) if key_ops is not None else None))
    return result


# --- new keys, serialisation, key ids ----------------------------------------------------------


def generate_rsa_key(bits: int = 4096) -> RSAPrivateKey:
    """Generate a new RSA key pair (public exponent 65537).

    :raises ArgumentTypeError: ``bits`` is not an int. :raises InvalidValueError: not 2048, 3072 or 4096.
    """
    from cryptography.hazmat.primitives.asymmetric import rsa

    _expect(bits, int, "an int such as 4096", "bits")
    if bits not in GENERATED_KEY_SIZES:
        raise InvalidValueError(f"{bits} is not offered; use {', '.join(map(str, GENERATED_KEY_SIZES))}",
                                param="bits")
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_key_pem(key: RSAPrivateKey, *, passphrase: bytes | str | None = None) -> bytes:
    """PKCS#8 PEM of a private key, encrypted with the best available scheme when a passphrase is given.

    :raises ArgumentTypeError: ``key`` is not an RSA private key, or ``passphrase`` not text or bytes.
    :raises InvalidValueError: ``passphrase`` is longer than :data:`MAX_NEW_PASSPHRASE_BYTES`.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    _expect(key, rsa.RSAPrivateKey, "an RSAPrivateKey (cryptography)", "key")
    secret = new_key_passphrase(passphrase)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(secret) if secret is not None else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _expect_public(key: object) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    _expect(key, rsa.RSAPublicKey, "an RSAPublicKey (cryptography)", "key")


def public_key_pem(key: RSAPublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM (``BEGIN PUBLIC KEY``) of a public key.

    :raises ArgumentTypeError: ``key`` is not an RSA public key.
    """
    from cryptography.hazmat.primitives import serialization

    _expect_public(key)
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _int_b64(value: int) -> str:
    return b64url_encode(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


def jwk_thumbprint(key: RSAPublicKey) -> str:
    """RFC 7638 SHA-256 thumbprint of an RSA public key, base64url: a stable, collision-free ``kid``.

    :raises ArgumentTypeError: ``key`` is not an RSA public key.
    """
    import hashlib

    _expect_public(key)
    numbers = key.public_numbers()
    canonical = json.dumps(
        {"e": _int_b64(numbers.e), "kty": "RSA", "n": _int_b64(numbers.n)}, separators=(",", ":"), sort_keys=True
    )
    return b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest())


def public_jwk(key: RSAPublicKey, *, kid: str | None = None, alg: str = "RS256") -> dict[str, str]:
    """The public key as a JWK (``kid`` defaults to the RFC 7638 thumbprint).

    :raises ArgumentTypeError: ``key`` is not an RSA public key, or ``kid``/``alg`` are not text.
    """
    _expect_public(key)
    _expect(kid, (str, type(None)), "text or None", "kid")
    _expect(alg, str, "a name such as 'RS256'", "alg")
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
