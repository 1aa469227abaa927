"""How the emulated QSEoW proxy validates a JWT against a virtual proxy's configuration (spec D.1), strictly.

Validation uses PyJWT and ``cryptography`` directly, never the package under test. A refusal raises
:class:`Refused` with a short reason ("signature", "audience mismatch", "claim userId missing", "expired", ...):
the proxy answers every refusal with the same 401 page, the emulator logs the reason for the tests.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

ALGORITHMS = ("RS256", "RS384", "RS512")
CERTIFICATE_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


class Refused(Exception):
    """The proxy refuses the token; ``reason`` says why (never sent to the client)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    """Who a valid token names, and the session attributes taken from it (``jwtAttributeMap``)."""

    user_directory: str
    user_id: str
    attributes: dict[str, list[str]]


def load_certificate(pem: str) -> x509.Certificate:
    """The one X.509 certificate in ``pem``; ``ValueError`` for none, several, or a bare public key."""
    blocks = CERTIFICATE_BLOCK.findall(pem)
    if len(blocks) != 1:
        raise ValueError(f"expected one PEM certificate (-----BEGIN CERTIFICATE-----), found {len(blocks)}")
    return x509.load_pem_x509_certificate(blocks[0].encode())


def verify(token: str, vp: Mapping[str, Any], now: float) -> Identity:
    """The identity in ``token`` if the virtual proxy ``vp`` (a VirtualProxyConfig dict) accepts it at ``now``."""
    _check_header(token)
    claims = _verified_claims(token, vp["jwtPublicKeyCertificate"])
    _check_audience(claims, vp.get("jwtAudience") or "")
    _check_times(claims, now)
    return Identity(user_directory=_identity_claim(claims, vp["jwtAttributeUserDirectory"]),
                    user_id=_identity_claim(claims, vp["jwtAttributeUserId"]),
                    attributes=_attributes(claims, vp.get("jwtAttributeMap") or []))


def _check_header(token: str) -> None:
    if token.count(".") == 4:
        raise Refused("encrypted JWT (JWE)")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Refused(f"malformed ({exc})") from exc
    if "enc" in header:
        raise Refused("encrypted JWT (JWE)")
    if header.get("alg") not in ALGORITHMS:
        raise Refused(f"algorithm {header.get('alg')}")


def _verified_claims(token: str, certificate_pem: str) -> dict[str, Any]:
    key = load_certificate(certificate_pem).public_key()
    if not isinstance(key, RSAPublicKey):
        raise Refused("signature (the certificate's key is not RSA)")
    try:  # PyJWT checks the signature only; every claim rule is the emulator's own
        return jwt.decode(token, key, algorithms=list(ALGORITHMS), options={
            "verify_signature": True, "verify_exp": False, "verify_nbf": False, "verify_iat": False,
            "verify_aud": False, "verify_iss": False, "verify_sub": False, "verify_jti": False})
    except jwt.InvalidSignatureError as exc:
        raise Refused("signature") from exc
    except jwt.PyJWTError as exc:
        raise Refused(f"malformed ({exc})") from exc


def _check_audience(claims: Mapping[str, Any], audience: str) -> None:
    """Only when the virtual proxy has an audience; then ``aud`` must be that one string (no array)."""
    if not audience:
        return
    if "aud" not in claims:
        raise Refused("audience missing")
    if not isinstance(claims["aud"], str):
        raise Refused("audience not a string")
    if claims["aud"] != audience:
        raise Refused("audience mismatch")


def _check_times(claims: Mapping[str, Any], now: float) -> None:
    """``exp`` (optional) must be after ``now``, with no leeway; ``nbf`` and ``iat`` must not be later than
    the current second."""
    exp, nbf, iat = (_numeric_date(claims, name) for name in ("exp", "nbf", "iat"))
    if exp is not None and exp <= now:
        raise Refused("expired")
    if nbf is not None and nbf > math.ceil(now):
        raise Refused("not yet valid (nbf in the future)")
    if iat is not None and iat > math.ceil(now):
        raise Refused("issued in the future (iat)")


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refused(f"{name} not a number")
    return float(value)


def _identity_claim(claims: Mapping[str, Any], name: str) -> str:
    """The claim the virtual proxy names (exact case): present, a non-empty string."""
    if name not in claims:
        raise Refused(f"claim {name} missing")
    value = claims[name]
    if not isinstance(value, str) or not value.strip():
        raise Refused(f"claim {name} not a non-empty string")
    return value


def _attributes(claims: Mapping[str, Any], attribute_map: list[Mapping[str, Any]]) -> dict[str, list[str]]:
    attributes: dict[str, list[str]] = {}
    for item in attribute_map:
        claim = item["jwtAttribute"]
        if claim not in claims:
            if item.get("isMandatory"):
                raise Refused(f"mandatory attribute {claim} missing")
            continue
        value = claims[claim]
        values = value if isinstance(value, list) else [value]
        attributes.setdefault(item["senseAttribute"], []).extend(str(v) for v in values)
    return attributes
