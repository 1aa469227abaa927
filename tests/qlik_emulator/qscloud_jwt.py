"""The identity providers of the emulated Qlik Cloud tenant, and how its JWT identity provider validates a token
for ``POST /login/jwt-session`` (spec A), strictly.

:func:`new_idp` validates a ``POST /api/v1/identity-providers`` body (spec C.1, C.3) into the stored IdP;
:func:`patch_idp` applies a JSON Patch to one. :func:`verify` checks a token against the active JWT IdPs, with
PyJWT and ``cryptography`` only (never the package under test). A refusal raises :class:`Refused`: a short
``reason`` for the emulator's log, and what the client gets (a 400 ``INTERNAL-TOKEN-1`` when the claims are
malformed, else a 401 ``LOGIN-1``), its detail prefixed ``JWT_LOGIN_VALIDATIONS`` as Qlik's one collected
error string is (A.6).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

AUDIENCE = "qlik.api/login/jwt-session"
#: the only algorithm taken (RS384/RS512 are UNCONFIRMED for the JWT IdP: the strict reading refuses them)
ALGORITHM = "RS256"
#: the longest a token may be valid: ``exp - nbf`` and ``exp - iat`` (A.3)
MAX_LIFETIME = 3600
#: ``clockToleranceSec`` of an IdP created without one (Qlik's default is UNCONFIRMED)
DEFAULT_CLOCK_TOLERANCE = 5
#: the smallest RSA key an IdP takes (UNCONFIRMED for the JWT IdP; 2048 is the strict reading)
MIN_KEY_BITS = 2048
JWT_AUTH = "jwtAuth"
MULTI_CLOUD = "qsefw-local-bearer-token"
#: the error of a create that names another tenant (IDP-API, verbatim)
FOREIGN_TENANT = ("User missing `TenantAdmin` role, or the tenantID in the JWT does not match any of the tenantIDs "
                  "in the payload.")
PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", re.DOTALL)
KEY_LABELS = ("CERTIFICATE", "PUBLIC KEY", "RSA PUBLIC KEY")
#: the claims every token needs (A.2; ``iss`` is looked at first, to find the IdP)
REQUIRED_CLAIMS = ("sub", "subType", "name", "jti", "iat", "nbf", "exp", "aud")
#: a JSON Patch of a JWT (or multi-cloud) IdP may only replace its description (QAPI ``PatchJWTAuthPayload``)
PATCHABLE = "/description"

Idp = dict[str, Any]


# --- the tokens ------------------------------------------------------------------------------------------

class Refused(Exception):
    """``/login/jwt-session`` refuses the token: ``reason`` for the tests, ``detail`` and ``status`` for the client."""

    def __init__(self, reason: str, detail: str, *, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = f"JWT_LOGIN_VALIDATIONS {detail}"
        self.status = status

    @property
    def code(self) -> str:
        return "INTERNAL-TOKEN-1" if self.status == 400 else "LOGIN-1"

    @property
    def title(self) -> str:
        return "Invalid token request" if self.status == 400 else "Authentication failed"


@dataclass(frozen=True)
class Identity:
    """Who a valid token names (the user is found by ``subject``, A.5)."""

    subject: str
    name: str
    email: str | None
    email_verified: bool
    groups: tuple[str, ...]
    jti: str


def verify(token: str, idps: Iterable[Mapping[str, Any]], now: float, used_jtis: Container[str]) -> Identity:
    """The identity in ``token`` if an active JWT IdP of ``idps`` accepts it at ``now``; else :class:`Refused`."""
    kid = _checked_header(token)
    issuer = _issuer(_unverified_claims(token))
    idp, key = _signing_key(idps, issuer, kid)
    claims = _verified_claims(token, key)
    _check_shape(claims)
    _check_lifetime(claims)
    _check_audience(claims["aud"])
    _check_times(claims, now, idp["clockToleranceSec"])
    if claims["jti"] in used_jtis:
        raise Refused("jti replayed", "The token's jti has been used before: a JWT can be used only once")
    return Identity(subject=claims["sub"], name=claims["name"], email=claims.get("email"),
                    email_verified=claims.get("email_verified") is True, groups=tuple(claims.get("groups", ())),
                    jti=claims["jti"])


def _checked_header(token: str) -> str:
    """The header's ``kid``, once the header is a JWS one with ``alg`` RS256."""
    if token.count(".") == 4:
        raise Refused("encrypted JWT (JWE)", "Encrypted tokens (JWE) are not supported")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Refused(f"malformed ({exc})", "The token is not a signed JWT") from exc
    if header.get("alg") != ALGORITHM:
        raise Refused(f"algorithm {header.get('alg')}", f"Unsupported algorithm {header.get('alg')}: use RS256")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Refused("kid missing", "Missing required header: kid")
    return kid


def _unverified_claims(token: str) -> dict[str, Any]:
    try:
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise Refused(f"malformed ({exc})", "The token's payload is not a JSON object") from exc


def _issuer(claims: Mapping[str, Any]) -> str:
    if "iss" not in claims:
        raise _missing("iss")
    if not isinstance(claims["iss"], str) or not claims["iss"]:
        raise _invalid("iss", "must be a non-empty string")
    return claims["iss"]


def _signing_key(idps: Iterable[Mapping[str, Any]], issuer: str, kid: str) -> tuple[Mapping[str, Any], RSAPublicKey]:
    """The active, login-enabled JWT IdP with this issuer and a static key with this ``kid``, and that key."""
    candidates = [idp for idp in idps if idp["protocol"] == JWT_AUTH and idp["active"]
                  and idp["options"]["jwtLoginEnabled"] and idp["options"]["issuer"] == issuer]
    if not candidates:
        raise Refused("issuer unknown", f"No active JWT identity provider has the issuer {issuer}")
    for idp in candidates:
        for static_key in idp["options"]["staticKeys"]:
            if static_key["kid"] == kid:
                return idp, load_public_key(static_key["pem"])
    raise Refused("kid unknown", f"No key with the kid {kid} in the identity provider of the issuer {issuer}")


def _verified_claims(token: str, key: RSAPublicKey) -> dict[str, Any]:
    try:  # PyJWT checks the signature only; every claim rule is the emulator's own
        return jwt.decode(token, key, algorithms=[ALGORITHM], options={
            "verify_signature": True, "verify_exp": False, "verify_nbf": False, "verify_iat": False,
            "verify_aud": False, "verify_iss": False, "verify_sub": False, "verify_jti": False})
    except jwt.InvalidSignatureError as exc:
        raise Refused("signature", "Invalid token signature") from exc
    except jwt.PyJWTError as exc:
        raise Refused(f"malformed ({exc})", "The token is not a signed JWT") from exc


def _check_shape(claims: Mapping[str, Any]) -> None:
    """Every required claim is there, with the type A.2 gives it (``email_verified`` a boolean, with ``email``)."""
    for name in (*REQUIRED_CLAIMS, *(("email_verified",) if "email" in claims else ())):
        if name not in claims:
            raise _missing(name)
    for name in ("sub", "name", "jti", *(("email",) if "email" in claims else ())):
        if not isinstance(claims[name], str) or not claims[name].strip():
            raise _invalid(name, "must be a non-empty string")
    if claims["subType"] != "user":
        raise _invalid("subType", 'must be "user"')
    if "email_verified" in claims and not isinstance(claims["email_verified"], bool):
        raise _invalid("email_verified", "must be a boolean")
    for name in ("iat", "nbf", "exp"):
        if isinstance(claims[name], bool) or not isinstance(claims[name], int):
            raise _invalid(name, "must be a NumericDate in whole seconds")
    groups = claims.get("groups", [])
    if not isinstance(groups, list) or not all(isinstance(group, str) for group in groups):
        raise _invalid("groups", "must be an array of strings")


def _check_lifetime(claims: Mapping[str, Any]) -> None:
    for start in ("nbf", "iat"):
        if claims["exp"] - claims[start] > MAX_LIFETIME:
            raise Refused(f"lifetime over {MAX_LIFETIME} s (exp - {start})",
                          f"The time between {start} and exp must not exceed {MAX_LIFETIME} seconds", status=400)


def _check_audience(audience: Any) -> None:
    if not isinstance(audience, str):
        raise Refused("audience not a string", f"Invalid audience: aud must be the string {AUDIENCE}")
    if audience != AUDIENCE:
        raise Refused("audience mismatch", f"Invalid audience {audience}: expected {AUDIENCE}")


def _check_times(claims: Mapping[str, Any], now: float, tolerance: int) -> None:
    """``exp`` after ``now``, ``nbf`` and ``iat`` not after it, each with the IdP's clock tolerance."""
    if claims["exp"] <= now - tolerance:
        raise Refused("expired", "The token has expired (exp)")
    if claims["nbf"] > now + tolerance:
        raise Refused("not yet valid (nbf in the future)", "The token is not valid yet (nbf)")
    if claims["iat"] > now + tolerance:
        raise Refused("issued in the future (iat)", "The token was issued in the future (iat)")


def _missing(name: str) -> Refused:
    return Refused(f"claim {name} missing", f"Missing required claim: {name}", status=400)


def _invalid(name: str, rule: str) -> Refused:
    return Refused(f"claim {name} {rule}", f"Invalid claim {name}: {rule}", status=400)


# --- the keys --------------------------------------------------------------------------------------------

def load_public_key(pem: str) -> RSAPublicKey:
    """The RSA key of ``pem``: one certificate or public-key block, on one line or wrapped; ``ValueError``
    for anything else (other blocks, several, a non-RSA or short key)."""
    blocks = PEM_BLOCK.findall(pem)
    if len(blocks) != 1 or PEM_BLOCK.sub("", pem).strip():
        raise ValueError("expected exactly one PEM block: a certificate or a public key")
    label, body = blocks[0]
    if label not in KEY_LABELS:
        raise ValueError(f"a PEM {label.lower()} is neither a certificate nor a public key")
    data = "".join(body.split())
    lines = "\n".join(data[i:i + 64] for i in range(0, len(data), 64))
    text = f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n".encode()
    key = x509.load_pem_x509_certificate(text).public_key() if label == "CERTIFICATE" else load_pem_public_key(text)
    if not isinstance(key, RSAPublicKey):
        raise ValueError("the key is not an RSA key (RS256 needs one)")
    if key.key_size < MIN_KEY_BITS:
        raise ValueError(f"the RSA key has {key.key_size} bits; at least {MIN_KEY_BITS} are needed")
    return key


# --- the identity providers ------------------------------------------------------------------------------

class InvalidIdp(Exception):
    """A create or patch body the identity-providers API refuses: ``status`` 400, or 403 for another tenant."""

    def __init__(self, detail: str, *, status: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


def new_idp(body: Any, tenant_id: str, stamp: str) -> Idp:
    """The IdP a ``POST /api/v1/identity-providers`` body creates (``jwtAuth`` or multi-cloud), else
    :class:`InvalidIdp`. Both need ``interactive: false``; ``tenantIds``, when given, must name ``tenant_id``."""
    if not isinstance(body, dict):
        raise InvalidIdp("The request body must be a JSON object")
    if body.get("protocol") == JWT_AUTH:
        fields = _jwt_auth_fields(body)
    elif body.get("protocol") == MULTI_CLOUD:
        fields = _multi_cloud_fields(body)
    else:
        raise InvalidIdp(f"protocol must be {JWT_AUTH} or {MULTI_CLOUD} (other protocols are not emulated)")
    if body.get("interactive") is not False:
        raise InvalidIdp("interactive must be false for a non-interactive identity provider")
    active = body.get("active", True)
    if not isinstance(active, bool):
        raise InvalidIdp("active must be a boolean")
    return {"id": secrets.token_hex(12), "tenantIds": _tenant_ids(body, tenant_id), "protocol": body["protocol"],
            "interactive": False, "active": active, "description": _description(body.get("description", "")),
            "created": stamp, "lastUpdated": stamp, **fields}


def patch_idp(idp: Idp, body: Any, stamp: str) -> None:
    """Apply a JSON Patch that replaces the description; anything else is :class:`InvalidIdp`, and changes
    nothing (a partial failure is a complete failure)."""
    if not isinstance(body, list) or not body:
        raise InvalidIdp("The request body must be a non-empty JSON Patch array")
    for operation in body:
        if not isinstance(operation, dict) or operation.get("op") != "replace" or operation.get("path") != PATCHABLE:
            raise InvalidIdp(f'Only {{"op": "replace", "path": "{PATCHABLE}"}} can be patched')
        _description(operation.get("value"))
    idp["description"] = body[-1]["value"]
    idp["lastUpdated"] = stamp


def _jwt_auth_fields(body: Mapping[str, Any]) -> Idp:
    if body.get("provider") != "external":
        raise InvalidIdp("provider must be external for the jwtAuth protocol")
    options = body.get("options")
    if not isinstance(options, dict):
        raise InvalidIdp("options must be an object with issuer, staticKeys and jwtLoginEnabled")
    issuer = options.get("issuer")
    if not isinstance(issuer, str) or not issuer.strip():
        raise InvalidIdp("options.issuer must be a non-empty string")
    if not isinstance(options.get("jwtLoginEnabled"), bool):
        raise InvalidIdp("options.jwtLoginEnabled must be a boolean")
    return {"provider": "external", "clockToleranceSec": _clock_tolerance(body),
            "options": {"issuer": issuer, "jwtLoginEnabled": options["jwtLoginEnabled"],
                        "staticKeys": [_static_key(options.get("staticKeys"))]}}


def _static_key(keys: Any) -> dict[str, str]:
    """The one key of ``options.staticKeys`` ("Limited to 1 key per identity provider"), its PEM on one line."""
    if not isinstance(keys, list) or len(keys) != 1 or not isinstance(keys[0], dict):
        raise InvalidIdp("options.staticKeys must hold exactly one key {kid, pem}")
    kid, pem = keys[0].get("kid"), keys[0].get("pem")
    if not isinstance(kid, str) or not kid.strip():
        raise InvalidIdp("options.staticKeys[0].kid must be a non-empty string")
    if not isinstance(pem, str):
        raise InvalidIdp("options.staticKeys[0].pem must be a string")
    if "\n" in pem or "\r" in pem:
        raise InvalidIdp("options.staticKeys[0].pem must be on a single line without any line breaks")
    try:
        load_public_key(pem)
    except ValueError as exc:
        raise InvalidIdp(f"options.staticKeys[0].pem: {exc}") from exc
    return {"kid": kid, "pem": pem}


def _clock_tolerance(body: Mapping[str, Any]) -> int:
    """``clockToleranceSec``: seconds, decimals rounded off (qlik-cli docs), not negative."""
    value = body.get("clockToleranceSec", DEFAULT_CLOCK_TOLERANCE)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InvalidIdp("clockToleranceSec must be a number of seconds, 0 or more")
    return round(value)


def _multi_cloud_fields(body: Mapping[str, Any]) -> Idp:
    if body.get("provider") != "qlik":
        raise InvalidIdp(f"provider must be qlik for the {MULTI_CLOUD} protocol")
    token = body.get("base64Encoded")
    if not isinstance(token, str) or not token:
        raise InvalidIdp("base64Encoded must be the local bearer token from QSEoW")
    try:
        base64.b64decode(token, validate=True)
    except binascii.Error as exc:
        raise InvalidIdp(f"base64Encoded is not base64: {exc}") from exc
    if "tenantIds" not in body:
        raise InvalidIdp(f"tenantIds is required for the {MULTI_CLOUD} protocol")
    return {"provider": "qlik", "base64Encoded": token}


def _tenant_ids(body: Mapping[str, Any], tenant_id: str) -> list[str]:
    tenant_ids = body.get("tenantIds", [tenant_id])
    if not isinstance(tenant_ids, list) or not tenant_ids or not all(isinstance(t, str) for t in tenant_ids):
        raise InvalidIdp("tenantIds must be a non-empty array of tenant ids")
    if tenant_id not in tenant_ids:
        raise InvalidIdp(FOREIGN_TENANT, status=403)
    return list(tenant_ids)


def _description(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidIdp("description must be a string")
    return value
