"""Compact JWS: strict base64url, strict JSON, parsing and signing.

The parser is deliberately stricter than most JWT libraries: base64url without padding,
whitespace or stray characters (and with the unused bits of the last character zero), JSON objects
without duplicate member names, no ``crit`` header, and a size cap enforced before anything is
decoded. Signing uses ``cryptography`` directly; PyJWT is never imported on the minting path.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import TokenFormatError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

#: Largest token accepted by the parser, in characters (checked before any decoding).
MAX_TOKEN_LENGTH = 64 * 1024

#: Signature algorithms this package signs and verifies with.
RSA_ALGORITHMS = ("RS256", "RS384", "RS512")

#: what a message adds when a token looks cut short
TRUNCATED_HINT = "the token looks truncated (cut short when it was copied?): copy the whole token again"

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)(authorization\s*:\s*)?bearer\s+")
_QUOTES = ('"', "'", "`")


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, *, what: str = "value") -> bytes:
    """Strictly decode unpadded base64url; refuse anything a strict encoder would not produce.

    :raises TokenFormatError: for padding, whitespace, characters outside the alphabet,
        an impossible length or non-zero unused bits.
    """
    if not _B64URL.fullmatch(text):
        raise TokenFormatError(
            f"{what} is not valid base64url (only A-Z a-z 0-9 - _ are allowed, without padding or spaces)"
        )
    if len(text) % 4 == 1:
        raise TokenFormatError(f"{what} is not valid base64url (impossible length)")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(data) != text:
        raise TokenFormatError(f"{what} is not valid base64url (non-canonical encoding)")
    return data


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise TokenFormatError(f"duplicate member name {escape_text(key)}")
        obj[key] = value
    return obj


def _reject_constant(name: str) -> Any:
    raise TokenFormatError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value - value != 0.0:  # inf or nan
        raise TokenFormatError(f"number {escape_text(text)} is out of range")
    return value


def parse_json_object(data: bytes, *, what: str) -> dict[str, Any]:
    """Parse UTF-8 JSON that must be an object, refusing duplicate names, NaN/Infinity and deep nesting.

    :raises TokenFormatError: whenever ``data`` is not such an object.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenFormatError(f"{what} is not valid UTF-8") from None
    try:
        obj = json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant,
                         parse_float=_finite_float)
    except TokenFormatError as exc:
        raise TokenFormatError(f"{what}: {exc}") from None
    except RecursionError:
        raise TokenFormatError(f"{what} is nested too deeply") from None
    except ValueError as exc:
        raise TokenFormatError(f"{what} is not valid JSON ({exc.args[0].split(':')[0]})") from None
    if not isinstance(obj, dict):
        raise TokenFormatError(f"{what} must be a JSON object, not {_json_kind(obj)}")
    try:
        # lone surrogates (from "\ud800" escapes) cannot be represented in UTF-8: refuse them
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise TokenFormatError(f"{what} contains an unpaired UTF-16 surrogate") from None
    except RecursionError:
        raise TokenFormatError(f"{what} is nested too deeply") from None
    return obj


def dumps_compact(obj: dict[str, Any]) -> bytes:
    """Serialise a JSON object compactly as UTF-8 (no NaN, no lone surrogates)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return "a number"


def escape_text(value: object, limit: int = 80) -> str:
    """Printable JSON rendering of an untrusted value (strings quoted, control characters escaped),
    shortened to about ``limit`` characters."""
    if isinstance(value, str):
        return json.dumps(value if len(value) <= limit else value[:limit] + "...", ensure_ascii=True)
    try:
        text = json.dumps(value, ensure_ascii=True, default=str)
    except (ValueError, RecursionError):
        text = "(unprintable value)"
    return text if len(text) <= limit else text[:limit] + "..."


def clean_token_text(text: str) -> str:
    """Trim whitespace, surrounding quotes and a leading ``Authorization: Bearer `` from pasted token text."""
    text = text.strip()
    for _ in range(2):  # "Bearer eyJ..." in quotes, or a quoted token after Bearer
        if len(text) >= 2 and text[0] in _QUOTES and text[-1] == text[0]:
            text = text[1:-1].strip()
        match = _BEARER.match(text)
        if match:
            text = text[match.end():].strip()
    return text


@dataclass(frozen=True)
class CompactJws:
    """A compact JWS split into its parts. The signature is not verified."""

    header: dict[str, Any]
    payload: bytes
    signature: bytes
    signing_input: bytes

    @property
    def algorithm(self) -> str:
        alg = self.header.get("alg")
        return alg if isinstance(alg, str) else ""


def parse_compact(token: str) -> CompactJws:
    """Split and strictly decode a compact JWS. The payload bytes are returned undecoded.

    :raises TokenFormatError: for anything that is not a well-formed compact JWS.
    """
    if not isinstance(token, str):
        raise TokenFormatError(f"a token must be text, not {type(token).__name__}")
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenFormatError(f"token is {len(token)} characters, over the limit of {MAX_TOKEN_LENGTH}")
    if not token:
        raise TokenFormatError("token is empty")
    if token != token.strip():
        raise TokenFormatError("token has leading or trailing whitespace; strip it first")
    if not token.isascii():
        raise TokenFormatError("token contains non-ASCII characters")
    parts = token.split(".")
    if len(parts) == 5:
        raise TokenFormatError("token has 5 parts: it is an encrypted JWT (JWE), which Qlik does not accept")
    if len(parts) == 2 and parts[0].startswith("eyJ"):
        raise TokenFormatError(f"token has 2 parts, a signed JWT has 3 separated by '.': {TRUNCATED_HINT}",
                               truncated=True)
    if len(parts) != 3:
        raise TokenFormatError(f"token has {len(parts)} part(s); a signed JWT has 3 separated by '.'")
    head_b64, payload_b64, sig_b64 = parts
    if not head_b64:
        raise TokenFormatError("token header is empty")
    header = parse_json_object(b64url_decode(head_b64, what="header"), what="header")
    payload = b64url_decode(payload_b64, what="payload")
    try:
        signature = b64url_decode(sig_b64, what="signature")
    except TokenFormatError as exc:
        if _B64URL.fullmatch(sig_b64):  # the alphabet is right, the length or last bits are not: cut short
            raise TokenFormatError(f"{exc}: {TRUNCATED_HINT}", truncated=True) from None
        raise
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise TokenFormatError("header has no 'alg' string")
    if "crit" in header:
        raise TokenFormatError("header has a 'crit' member; no critical extensions are supported")
    if alg.lower() == "none":
        raise TokenFormatError(f"header 'alg' is {escape_text(alg)}: unsigned tokens are never accepted")
    if not signature:
        raise TokenFormatError(f"token has no signature: {TRUNCATED_HINT}", truncated=True)
    return CompactJws(
        header=header,
        payload=payload,
        signature=signature,
        signing_input=f"{head_b64}.{payload_b64}".encode("ascii"),
    )


def _hash_for(alg: str) -> Any:
    from cryptography.hazmat.primitives import hashes

    if alg == "RS256":
        return hashes.SHA256()
    if alg == "RS384":
        return hashes.SHA384()
    if alg == "RS512":
        return hashes.SHA512()
    raise ValueError(f"unsupported signing algorithm {alg!r}; use one of {', '.join(RSA_ALGORITHMS)}")


def sign_bytes(alg: str, key: RSAPrivateKey, data: bytes) -> bytes:
    """RSASSA-PKCS1-v1_5 signature of ``data`` with the hash of ``alg`` (RS256, RS384, RS512)."""
    from cryptography.hazmat.primitives.asymmetric import padding

    return key.sign(data, padding.PKCS1v15(), _hash_for(alg))


def verify_bytes(alg: str, key: RSAPublicKey, data: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid RSASSA-PKCS1-v1_5 signature of ``data`` under ``key``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        key.verify(signature, data, padding.PKCS1v15(), _hash_for(alg))
    except InvalidSignature:
        return False
    return True
