"""Qlik Cloud OAuth for machines: client assertions (Private Key JWT), their checks, and access tokens from
``POST https://<tenant>/oauth/token``, fetched once and reused while they are valid.

A machine-to-machine OAuth client authenticates with its ``client_secret``, or with a *client assertion*: a JWT
signed with a private key whose public half is registered on the client as a JWK (RFC 7523; Qlik's "Private Key
JWT", https://qlik.dev/authenticate/oauth/oauth-private-key-jwt-reference/)::

    header  {"alg": "RS256" | "RS512", "typ": "JWT", "kid": <the registered key's kid>}
    payload {"iss": <client id>, "sub": <client id>, "aud": "https://<tenant>/oauth/token",
             "jti": <a new UUID>, "iat": <now>, "exp": <at most iat + 300>}

It asks for the grant ``client_credentials`` (the client acts as itself) or ``urn:qlik:oauth:user-impersonation``
(it acts as an existing user, found by ``user_lookup``), with space-separated ``scope``; the body is JSON, as in
every Qlik example (the endpoint takes form-encoded bodies too). The answer is ``{"access_token", "token_type":
"bearer", "expires_at": <ISO 8601 time>, "scope"}``; the token goes as ``Authorization: Bearer`` on API calls.

Minting and checking assertions never imports PyJWT nor httpx; :class:`OAuthCredentials` imports
:mod:`qs_jwt.http` (and httpx) when it first fetches a token. No secret (client secret, assertion, access token)
is written to a message or a log line. The public JWK to register is :func:`qs_jwt.keys.public_jwk` (``kid``,
``kty``, ``alg``, ``use: "sig"``, ``n``, ``e``).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import _clock
from ._jws import escape_text
from .checks import (
    ERROR,
    WARNING,
    CheckReport,
    Finding,
    Rule,
    TokenContext,
    _inspect,
    _number,
    _report,
    _rule_numeric_dates,
    _rule_typ,
    _text,
    _validity,
)
from .claims import Lifetime, check_text, lifetime_seconds
from .durations import format_duration
from .errors import ArgumentTypeError, InvalidValueError, QlikApiError, QlikConnectionError
from .redact import redact, secret_kind
from .tokens import Signer, Token, decode_unverified

if TYPE_CHECKING:
    from .http import HttpClient, HttpSettings
    from .tokens import PrivateKeyInput

__all__ = [
    "ASSERTION_ALGORITHMS",
    "CLIENT_ASSERTION_TYPE",
    "CLIENT_CREDENTIALS",
    "MAX_ASSERTION_LIFETIME",
    "OAUTH_ASSERTION_RULES",
    "TOKEN_PATH",
    "USER_IMPERSONATION",
    "USER_LOOKUP_FIELDS",
    "AccessToken",
    "OAuthCredentials",
    "OAuthError",
    "check_oauth_assertion",
    "create_client_assertion",
    "explain_oauth_error",
    "token_endpoint",
]

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret
CLIENT_CREDENTIALS = "client_credentials"
USER_IMPERSONATION = "urn:qlik:oauth:user-impersonation"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: what this package signs client assertions with (Qlik also takes ES384, an EC algorithm: not made here)
ASSERTION_ALGORITHMS = ("RS256", "RS512")
#: every algorithm Qlik's Private Key JWT reference lists
QLIK_ASSERTION_ALGORITHMS = ("RS256", "RS512", "ES384")
#: the longest a client assertion may live: exp at most 5 minutes after iat
MAX_ASSERTION_LIFETIME = 300
#: what ``user_lookup.field`` of an impersonation request can name
USER_LOOKUP_FIELDS = ("subject", "email", "userId")
#: a cached access token is fetched anew this many seconds before it expires (at most half its lifetime)
REFRESH_MARGIN = 60.0
#: how long a token whose answer names no expiry is reused (Qlik documents ``expires_at`` as optional)
FALLBACK_LIFETIME = 300
_MIN_SECRET = 8
_HOST = re.compile(r"[\w.-]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ENDPOINT = re.compile(r"https://[^/?#\s]+/oauth/token")
_DEFAULT_PORTS = {"https": 443, "http": 80}


# ---------------------------------------------------------------- the token endpoint


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_loopback(host: str) -> bool:
    address = _ip(host)
    return host == "localhost" or (address is not None and address.is_loopback)


def _tenant_origin(tenant: object, param: str = "tenant") -> str:
    """``https://host[:port]`` of a tenant given as a URL or a bare host name, host in lower case, the default
    port dropped (the assertion's ``aud`` must be exactly the endpoint). ``http://`` only for this computer.
    Parsed here without :mod:`qs_jwt.http`, so that minting an assertion does not import httpx."""
    if not isinstance(tenant, str):
        raise ArgumentTypeError(f"expected the tenant's address as text, not {type(tenant).__name__}", param=param)
    text = tenant.strip()
    if not text or any(ch.isspace() or not ch.isprintable() for ch in text) or len(text) > 2048:
        raise InvalidValueError("give the tenant's address, e.g. https://your-tenant.eu.qlikcloud.com", param=param)
    kind = secret_kind(text)
    if kind is not None:  # never echoed: a secret pasted into the wrong place
        raise InvalidValueError(f"looks like {kind}, not a tenant's address such as "
                                "https://your-tenant.eu.qlikcloud.com", param=param)
    if "://" not in text:
        text = f"https://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidValueError("names no valid host and port", param=param) from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidValueError(f"must start with https://, not {escape_text(scheme)}://", param=param)
    if "@" in parts.netloc or parts.query or parts.fragment or "?" in text or "#" in text:
        raise InvalidValueError("must be the tenant's address alone: no user name, query or fragment", param=param)
    if parts.path not in ("", "/"):
        raise InvalidValueError(f"give the tenant's address alone, {scheme}://{host}, without a path "
                                f"({escape_text(parts.path)})", param=param)
    if not (_HOST.fullmatch(host) or (":" in host and _ip(host) is not None)):
        raise InvalidValueError("names no valid host", param=param)
    if scheme == "http" and not _is_loopback(host):
        raise InvalidValueError("https is required (http:// only for this computer)", param=param)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    return f"{scheme}://{netloc}"


def token_endpoint(tenant: str) -> str:
    """``https://<tenant>/oauth/token``: the token endpoint, and exactly the ``aud`` of a client assertion
    (no trailing slash; the default port left out).

    :raises InvalidValueError: (``param="tenant"``) for an address that is not a tenant's.
    """
    return _tenant_origin(tenant) + TOKEN_PATH


# ---------------------------------------------------------------- client assertions


def _algorithm(algorithm: object, param: str) -> str:
    if not isinstance(algorithm, str):
        raise ArgumentTypeError(f"expected one of {', '.join(ASSERTION_ALGORITHMS)}", param=param)
    if algorithm == "ES384":
        raise InvalidValueError("ES384 is an EC key's algorithm; Qlik takes it, but qs-jwt signs with RSA keys only: "
                                f"use {' or '.join(ASSERTION_ALGORITHMS)}", param=param)
    if algorithm not in ASSERTION_ALGORITHMS:
        raise InvalidValueError(f"{escape_text(algorithm)} is not one Qlik takes for client assertions; use "
                                f"{' or '.join(ASSERTION_ALGORITHMS)}", param=param)
    return algorithm


def _client_id(value: object, param: str = "client_id") -> str:
    text = check_text(value, param=param)
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise InvalidValueError("holds spaces or control characters: not an OAuth client id", param=param)
    return text


def _assertion_lifetime(expires: object) -> int:
    seconds = lifetime_seconds(expires, param="expires")
    if seconds > MAX_ASSERTION_LIFETIME:
        raise InvalidValueError(f"{format_duration(seconds)} is longer than Qlik allows for a client assertion: "
                                f"exp may be at most {MAX_ASSERTION_LIFETIME} s (5 minutes) after iat",
                                param="expires")
    return seconds


def create_client_assertion(
    key: Signer | PrivateKeyInput,
    *,
    tenant: str,
    client_id: str,
    keyid: str,
    algorithm: str = "RS256",
    expires: Lifetime = "5m",
    now: float | None = None,
    passphrase: bytes | str | None = None,
) -> Token:
    """A client assertion for ``POST https://<tenant>/oauth/token`` (``client_assertion``, with
    ``client_assertion_type`` :data:`CLIENT_ASSERTION_TYPE`): header ``{"alg", "typ": "JWT", "kid"}``, claims
    ``iss`` = ``sub`` = ``client_id``, ``aud`` = :func:`token_endpoint`, a new UUID ``jti``, ``iat`` and ``exp``.
    Qlik takes an assertion once: make a new one for every token request.

    :param key: the private key whose public JWK is registered on the OAuth client (object, PEM/DER/PKCS#12,
        a path, or a :class:`Signer` to reuse); RSA, at least 2048 bits.
    :param tenant: the tenant's address (``your-tenant.eu.qlikcloud.com`` or ``https://...``).
    :param keyid: the ``kid`` of the registered public key.
    :param algorithm: RS256 or RS512.
    :param expires: ``"5m"``-style text, seconds or a timedelta; at most 5 minutes.
    :param now: the issue time in seconds since the epoch (default: the current time).
    :raises InvalidValueError: for a bad value (``param`` names it). :raises KeyLoadError: for an unusable key.
    """
    audience = token_endpoint(tenant)
    issuer = _client_id(client_id)
    kid = check_text(keyid, param="keyid")
    alg = _algorithm(algorithm, "algorithm")
    lifetime = _assertion_lifetime(expires)
    iat = int(_clock.resolve(now))
    header: dict[str, Any] = {"alg": alg, "typ": "JWT", "kid": kid}
    payload: dict[str, Any] = {"iss": issuer, "sub": issuer, "aud": audience, "jti": str(uuid.uuid4()),
                               "iat": iat, "exp": iat + lifetime}
    signer = key if isinstance(key, Signer) else Signer(key, passphrase=passphrase)
    return Token(signer.sign(header, payload), header, payload)


# ---------------------------------------------------------------- checking an assertion

_ASSERTION_FIX = "make the assertion with qs_jwt.oauth.create_client_assertion"


def _rule_alg_assertion(ctx: TokenContext) -> Iterator[Finding]:
    """alg: RS256, RS512 or ES384 (spec F, Private Key JWT reference, "Supported algorithms")."""
    alg = ctx.algorithm
    if alg in QLIK_ASSERTION_ALGORITHMS:
        return
    if alg.upper().startswith("HS"):
        reason = "is a shared-secret algorithm; Qlik verifies client assertions with the registered public key"
    else:
        reason = "is not one Qlik takes for client assertions"
    yield Finding("alg", ERROR, f"alg: {escape_text(alg)} {reason} (RS256, RS512 or ES384)",
                  "sign with RS256 or RS512 and the private key of the registered public key")


def _rule_kid_assertion(ctx: TokenContext) -> Iterator[Finding]:
    """kid: required in the header; it names the registered public key (spec F, Private Key JWT reference)."""
    kid = ctx.header.get("kid")
    fix = "put the kid of the public key registered on the OAuth client in the header (keyid)"
    if kid is None:
        where = "; it is in the payload, but Qlik reads the header" if "kid" in ctx.payload else ""
        yield Finding("kid", ERROR, f"kid: missing from the header{where}; Qlik requires it", fix)
    elif not isinstance(kid, str) or not kid:
        yield Finding("kid", ERROR, f"kid: {escape_text(kid)} is not a non-empty string", fix)
    elif ctx.keyid is not None and kid != ctx.keyid:
        yield Finding("kid", ERROR, f"kid: {escape_text(kid)} is not the registered key's kid "
                      f"{escape_text(ctx.keyid)}", fix)


def _client_claim(ctx: TokenContext, claim: str) -> Iterator[Finding]:
    value = ctx.payload.get(claim)
    fix = f"set {claim} to the OAuth client id ({_ASSERTION_FIX})"
    if value is None:
        yield Finding(claim, ERROR, f"{claim}: missing; Qlik requires it to be the OAuth client id", fix)
    elif not isinstance(value, str) or not value:
        yield Finding(claim, ERROR, f"{claim}: {escape_text(value)} is not a non-empty string", fix)
    elif ctx.issuer is not None and value != ctx.issuer:
        yield Finding(claim, ERROR, f"{claim}: {escape_text(value)} is not the OAuth client id "
                      f"{escape_text(ctx.issuer)}", fix)


def _rule_iss_assertion(ctx: TokenContext) -> Iterator[Finding]:
    """iss: the OAuth client id (spec F, Private Key JWT reference)."""
    yield from _client_claim(ctx, "iss")


def _rule_sub_assertion(ctx: TokenContext) -> Iterator[Finding]:
    """sub: the OAuth client id, equal to iss (spec F, Private Key JWT reference)."""
    yield from _client_claim(ctx, "sub")
    iss, sub = ctx.payload.get("iss"), ctx.payload.get("sub")
    if isinstance(iss, str) and isinstance(sub, str) and iss and sub and iss != sub and ctx.issuer is None:
        yield Finding("sub", ERROR, f"sub: {escape_text(sub)} differs from iss {escape_text(iss)}; both must be "
                      "the OAuth client id", f"set iss and sub to the OAuth client id ({_ASSERTION_FIX})")


def _rule_aud_assertion(ctx: TokenContext) -> Iterator[Finding]:
    """aud: exactly ``https://<tenant>/oauth/token``, no trailing slash (spec F, Private Key JWT reference)."""
    aud = ctx.payload.get("aud")
    expected = ctx.audience
    shown = escape_text(expected) if expected else "https://<tenant>/oauth/token"
    fix = f"set aud to {shown}, the token endpoint, exactly"
    if aud is None:
        yield Finding("aud", ERROR, f"aud: missing; Qlik expects {shown}", fix)
    elif not isinstance(aud, str):
        yield Finding("aud", ERROR, f"aud: {escape_text(aud)} is not the single string {shown}", fix)
    elif expected is not None and aud == expected:
        return
    elif aud.rstrip("/") != aud and (aud.rstrip("/") == expected or _ENDPOINT.fullmatch(aud.rstrip("/"))):
        yield Finding("aud", ERROR, f"aud: {escape_text(aud)} ends with a slash; Qlik wants {shown} without one",
                      fix)
    elif expected is not None:
        yield Finding("aud", ERROR, f"aud: {escape_text(aud)} is not {shown}", fix)
    elif not _ENDPOINT.fullmatch(aud):
        yield Finding("aud", ERROR, f"aud: {escape_text(aud)} is not a tenant's token endpoint {shown}", fix)


def _rule_jti_assertion(ctx: TokenContext) -> Iterator[Finding]:
    """jti: a new UUID for each token request; Qlik takes an assertion once (spec F, Private Key JWT reference)."""
    jti = ctx.payload.get("jti")
    if jti is None:
        yield Finding("jti", ERROR, "jti: missing; Qlik requires a new UUID in every assertion",
                      f"add a new UUID as jti to every assertion ({_ASSERTION_FIX})")
    elif not isinstance(jti, str) or not jti:
        yield Finding("jti", ERROR, f"jti: {escape_text(jti)} is not a non-empty string",
                      "use a new UUID (text) for every assertion")
    elif not _UUID.fullmatch(jti):
        yield Finding("jti", WARNING, f"jti: {escape_text(jti)} is not a UUID; Qlik's reference asks for one",
                      "use a new UUID for every assertion, e.g. str(uuid.uuid4())")


def _rule_time_claims_assertion(ctx: TokenContext) -> Iterator[Finding]:
    """iat, exp: both required (spec F, Private Key JWT reference)."""
    for claim, what in (("iat", "the issue time"), ("exp", "the expiry, at most 5 minutes after iat")):
        if claim not in ctx.payload:
            yield Finding(claim, ERROR, f"{claim}: missing; Qlik requires {what}", f"set {claim} ({_ASSERTION_FIX})")


def _rule_lifetime_assertion(ctx: TokenContext) -> Iterator[Finding]:
    """lifetime: exp after iat and at most 300 s after it (spec F, Private Key JWT reference)."""
    exp, iat = _number(ctx.payload.get("exp")), _number(ctx.payload.get("iat"))
    if exp is None or iat is None:
        return
    if exp - iat > MAX_ASSERTION_LIFETIME:
        yield Finding("lifetime", ERROR, f"lifetime: {format_duration(exp - iat)} between iat and exp; Qlik allows "
                      f"at most {MAX_ASSERTION_LIFETIME} s (5 minutes)",
                      "make assertions that expire within 5 minutes, one per token request")
    elif exp <= iat:
        yield Finding("lifetime", ERROR, "lifetime: exp is not after iat", "set exp later than iat")


def _rule_validity_assertion(ctx: TokenContext) -> Iterator[Finding]:
    """exp, nbf, iat: not expired, not yet valid or issued in the future (spec F: exp, iat)."""
    yield from _validity(ctx, iat_severity=ERROR)


def _rule_signature_assertion(ctx: TokenContext) -> Iterator[Finding]:
    """signature: verifies with the public key registered on the OAuth client (spec F)."""
    verification = ctx.verification
    if verification is not None and verification.signature is False:
        yield Finding("signature", ERROR, f"signature: {verification.signature_error or 'does not verify'}",
                      "sign with the private key whose public JWK is registered on the OAuth client, and check "
                      "with that public key")


#: The rules of Qlik Cloud's client assertions (Private Key JWT), in report order.
OAUTH_ASSERTION_RULES: tuple[Rule, ...] = (
    _rule_alg_assertion,
    _rule_kid_assertion,
    _rule_typ,
    _rule_iss_assertion,
    _rule_sub_assertion,
    _rule_aud_assertion,
    _rule_jti_assertion,
    _rule_time_claims_assertion,
    _rule_lifetime_assertion,
    _rule_numeric_dates,
    _rule_validity_assertion,
    _rule_signature_assertion,
)


def check_oauth_assertion(
    token: str,
    *,
    tenant: str | None = None,
    client_id: str | None = None,
    keyid: str | None = None,
    key: Any = None,
    leeway: float = 0,
    now: float | None = None,
) -> CheckReport:
    """Every rule of Qlik's client assertions that ``token`` breaks (see :data:`OAUTH_ASSERTION_RULES`); the
    report's target is ``"oauth-assertion"``.

    :param tenant: the tenant, to compare ``aud`` with its token endpoint (else only its shape is checked).
    :param client_id: the OAuth client id, to compare with ``iss`` and ``sub``.
    :param keyid: the kid of the public key registered on the client, to compare with the header ``kid``.
    :param key: that public key (PEM, certificate, JWK or JWK set, or a key object) to verify the signature;
        an ES384 assertion's signature is not checked (this package verifies RSA signatures only).
    :param leeway: seconds of clock skew tolerated for ``exp`` and ``iat``.
    :raises TokenFormatError: the token is not a well-formed signed JWT at all.
    :raises InvalidValueError: a parameter has a bad value (:class:`ArgumentTypeError`: a wrong type).
    """
    audience = None if tenant is None else token_endpoint(tenant)
    client = None if client_id is None else _text(client_id, "client_id", "the OAuth client id")
    kid = None if keyid is None else _text(keyid, "keyid", "the kid of the registered public key")
    ec_signed = key is not None and decode_unverified(token).algorithm == "ES384"
    verification, seconds, current = _inspect(token, None if ec_signed else key, leeway, now)
    decoded = verification.decoded
    context = TokenContext(decoded.header, decoded.payload, current, seconds, issuer=client, keyid=kid,
                           audience=audience, verification=verification)
    report = _report("oauth-assertion", OAUTH_ASSERTION_RULES, context, verification)
    if ec_signed:
        report.add("signature", WARNING, "signature: not checked; qs-jwt verifies RSA signatures only (ES384 is "
                   "an EC algorithm)", "check the signature with a tool that verifies ES384")
    return report


# ---------------------------------------------------------------- access tokens


@dataclass(frozen=True)
class AccessToken:
    """An access token of ``POST /oauth/token``: send it as ``Authorization: Bearer`` (:meth:`authorization_header`).
    ``expires_at`` is an aware UTC datetime; ``scope`` is space-separated, as Qlik answers it. It is a
    credential: its ``repr`` leaves the token out."""

    access_token: str = field(repr=False)
    token_type: str
    expires_at: _dt.datetime
    scope: str = ""

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.scope.split())

    def expires_in(self, now: float | None = None) -> float:
        """Seconds until the token expires (negative once it has)."""
        return self.expires_at.timestamp() - _clock.resolve(now)

    def authorization_header(self) -> str:
        return f"Bearer {self.access_token}"

    def to_dict(self) -> dict[str, Any]:
        """``{"accessToken", "tokenType", "expiresAt", "scope"}`` (expiresAt as UTC ISO-8601)."""
        return {"accessToken": self.access_token, "tokenType": self.token_type,
                "expiresAt": self.expires_at.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "scope": self.scope}


class OAuthError(QlikApiError):
    """``POST /oauth/token`` refused the request. Qlik's words stay in the error's fields (``code``, ``title``,
    ``detail``, ``items``, with secrets removed); ``explanation`` is the likely cause and fix in plain words
    (:func:`explain_oauth_error`)."""

    def __init__(self, error: QlikApiError, explanation: Sequence[str]) -> None:
        super().__init__(str(error), status=error.status, code=error.code, detail=error.detail,
                         trace_id=error.trace_id, method=error.method, url=error.url, title=error.title,
                         items=error.items)
        self.explanation = tuple(explanation)


def _error_text(error: QlikApiError) -> str:
    parts = [str(part) for item in error.items for part in (item.get("code"), item.get("title"), item.get("detail"))
             if part]
    parts += [part for part in (error.code, error.title, error.detail) if part]
    return " ".join(parts)


def _has(text: str, *patterns: str) -> bool:
    return any(re.search(pattern, text) for pattern in patterns)


_CAUSES_SECRET = (
    "Qlik refused the client's credentials; the usual causes:",
    "client_id: the id of an OAuth client of this tenant (OAuth clients belong to one tenant), published, of the "
    "type web (machine to machine)",
    "client_secret: the secret shown once when it was made; if it is lost or was rotated, make a new one",
)
_CAUSES_ASSERTION = (
    "Qlik refused the client assertion; the usual causes, each found by qs_jwt.oauth.check_oauth_assertion:",
    "key: the assertion must be signed with the private key whose public JWK is registered on the client, and its "
    "kid must be that JWK's kid",
    "aud: exactly https://<tenant>/oauth/token, without a trailing slash; iss and sub: the client id",
    "time: exp at most 5 minutes after iat, and not passed by Qlik's clock (sync this computer's clock)",
    "once only: each assertion (its jti) is taken once; make a new one for every token request",
)


def explain_oauth_error(
    error: QlikApiError,
    *,
    client_id: str | None = None,
    tenant: str | None = None,
    grant_type: str = CLIENT_CREDENTIALS,
    auth_method: str = "client_secret",
    scopes: Sequence[str] = (),
    impersonate: tuple[str, str] | None = None,
) -> list[str]:
    """The likely cause of a refused ``POST /oauth/token`` and its fix, in plain words (Qlik's own words stay in
    ``error``). Qlik's texts are matched by their words (its error codes for this endpoint are not documented):
    a reused jti, the audience, the kid, the algorithm, the signature, the assertion's times or iss/sub, a user
    to impersonate that does not exist, a grant type or scope the client does not allow, a wrong secret, an
    unknown client; else, for a 401, the usual causes of the ``auth_method`` used (``"client_secret"`` or
    ``"private_key_jwt"``)."""
    text = _error_text(error).lower()
    assertion = auth_method == "private_key_jwt"
    client = f" {client_id}" if client_id else ""
    try:
        endpoint = token_endpoint(tenant) if tenant else None
    except InvalidValueError:
        endpoint = None
    if _has(text, r"\bjti\b", "replay", "used before", "already been used", "already used"):
        return ["the client assertion was used before: Qlik takes each assertion (its jti) once, so make a new one "
                "for every token request (OAuthCredentials does)"]
    if _has(text, r"\baud\b", "audience"):
        sent = f"; this request sent {endpoint}, so give the tenant by the host name Qlik knows it by (not an " \
               "alias or another address of it)" if endpoint else ""
        return ["the client assertion's aud is wrong: it must be exactly https://<tenant>/oauth/token, the tenant's "
                f"token endpoint, without a trailing slash{sent}"]
    if _has(text, "signature"):
        return ["the client assertion's signature does not verify with the public key registered on the client: "
                "sign with the private key of that public key, or register this key's public JWK (qs-jwt cert jwks "
                "--use sig) under the kid the assertion names"]
    if _has(text, r"\bkid\b", "key id"):
        return ["the client assertion's kid names no public key of the client: the header kid must equal the kid of "
                "a public JWK registered on the OAuth client (assertion_keyid)"]
    if _has(text, "algorithm", r"\balg\b"):
        return ["the client assertion's algorithm is not one the registered key takes: sign with RS256 or RS512, "
                "as the JWK's alg says (assertion_algorithm)"]
    if _has(text, "client_assertion_type", "assertion type"):
        return [f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}"]
    if (assertion or "assertion" in text) and _has(text, "expired", "lifetime", r"\bexp\b", r"\biat\b", "future",
                                                      "not yet valid", "300 seconds", "5 minutes"):
        return ["the client assertion has expired or lives too long: exp must be after Qlik's current time and at "
                "most 5 minutes after iat; if the assertion was new, this computer's clock is off (sync it)"]
    if (assertion or "assertion" in text) and _has(text, r"\biss\b", r"\bsub\b", "issuer"):
        return [f"the client assertion's iss and sub must both be the OAuth client id{client}"]
    if _has(text, r"(no|unknown) user", r"user\b.*\b(not found|does not exist|not exist)", "user not found"):
        who = f" ({impersonate[0]} {impersonate[1]})" if impersonate else ""
        return [f"the user to impersonate{who} does not exist in the tenant: Qlik impersonates existing users "
                "only (a user is created at its first login or by the users API); check the user_lookup field "
                "and value"]
    if _has(text, "grant", "unauthorized_client", "unauthorized client"):
        if grant_type == USER_IMPERSONATION:
            return ["the OAuth client does not allow impersonation: add the grant type "
                    f"{USER_IMPERSONATION} to the client (allowedGrantTypes; an OAuth client of the type web)"]
        return [f"the OAuth client does not allow the grant type {grant_type}: add it to the client "
                "(allowedGrantTypes)"]
    if _has(text, "scope"):
        asked = f" ({' '.join(scopes)})" if scopes else ""
        return [f"the OAuth client is not allowed a scope asked for{asked}: add the scope to the client's allowed "
                "scopes, or ask for fewer"]
    if _has(text, "disabled"):
        return ["the user is disabled in the tenant: enable it, or impersonate another user"]
    if _has(text, "maximum number of tokens", "too many tokens"):
        return ["the user has reached the maximum number of OAuth tokens: revoke some (the OAuth tokens API)"]
    if _has(text, "secret"):
        return [f"the client secret is wrong for the OAuth client{client}: give the secret shown when it was made; "
                "if it is lost or was rotated, make a new one for the client"]
    if _has(text, r"client.*\b(not found|unknown|does not exist)", r"unknown client", r"\bclient_id\b",
            "client id"):
        return [f"Qlik does not know the OAuth client{client} on this tenant: check client_id, that the client "
                "belongs to this tenant (OAuth clients are per tenant) and that it is published"]
    if error.status == 401:
        return list(_CAUSES_ASSERTION if assertion else _CAUSES_SECRET)
    return []


def _without(text: str, known: set[str]) -> str:
    """``text`` without the ``known`` secrets: whole, or cut short where the HTTP layer shortened a long text
    (its ``…``), which would leave the start of a secret that no longer matches it whole."""
    for secret in known:
        for end in range(len(secret) - 1, _MIN_SECRET - 1, -1):
            if secret[:end] + "…" in text:
                text = text.replace(secret[:end] + "…", "<secret redacted>…")
    return redact(text, known)


def _scrubbed(exc: QlikApiError, known: set[str]) -> QlikApiError:
    """``exc`` with the secrets the request sent in its body removed from every text (the HTTP layer removes
    those of the headers; a body is not its business)."""
    def clean(value: str | None) -> str | None:
        return None if value is None else _without(value, known)

    items = tuple({name: _without(value, known) if isinstance(value, str) else value for name, value in item.items()}
                  for item in exc.items)
    return QlikApiError(_without(str(exc), known), status=exc.status, code=clean(exc.code),
                        detail=clean(exc.detail), trace_id=exc.trace_id, method=exc.method, url=exc.url,
                        title=clean(exc.title), items=items)


def _expiry(value: object, now: float) -> _dt.datetime | None:
    """``expires_at`` as an aware UTC datetime: ISO 8601 text, as Qlik documents it, or seconds since the epoch."""
    if isinstance(value, str) and value.strip():
        try:
            when = _dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        return (when if when.tzinfo else when.replace(tzinfo=_dt.UTC)).astimezone(_dt.UTC)
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= _clock.MAX_TIME:
        return _dt.datetime.fromtimestamp(value, tz=_dt.UTC)
    return None


def _access_token(data: object, url: str, now: float) -> AccessToken:
    """The access token of a 200 answer; :class:`QlikApiError` (never showing the answer) when it is not one."""
    def bad(reason: str) -> QlikApiError:
        return QlikApiError(f"POST {url}: 200 OK, but {reason}", status=200, method="POST", url=url)

    if not isinstance(data, dict):
        raise bad("the answer is not a JSON object")
    token, kind = data.get("access_token"), data.get("token_type")
    if not isinstance(token, str) or not token or not (token.isascii() and token.isprintable()) or " " in token:
        raise bad("the answer holds no usable access_token")
    if not isinstance(kind, str) or kind.lower() != "bearer":
        raise bad(f"the token_type is {escape_text(kind)}, not bearer")
    scope = data.get("scope", "")
    if isinstance(scope, list) and all(isinstance(item, str) for item in scope):
        scope = " ".join(scope)
    if not isinstance(scope, str):
        raise bad("its scope is not text")
    if "expires_at" in data:
        expires = _expiry(data["expires_at"], now)
        if expires is None:
            raise bad("its expires_at is not a time")
    elif isinstance(data.get("expires_in"), int | float) and not isinstance(data.get("expires_in"), bool):
        expires = _dt.datetime.fromtimestamp(now + float(data["expires_in"]), tz=_dt.UTC)
    else:
        expires = _dt.datetime.fromtimestamp(now + FALLBACK_LIFETIME, tz=_dt.UTC)
    return AccessToken(access_token=token, token_type="bearer",  # noqa: S106 - the token's type, not a secret
                       expires_at=expires, scope=" ".join(scope.split()))


def _scopes(scopes: Iterable[str] | str) -> tuple[str, ...]:
    items = scopes.split() if isinstance(scopes, str) else scopes
    try:
        listed = list(items)
    except TypeError:
        raise ArgumentTypeError("expected scopes as text (space-separated) or a list of text", param="scopes") \
            from None
    result: list[str] = []
    for scope in listed:
        if not isinstance(scope, str):
            raise ArgumentTypeError(f"expected each scope as text, not {type(scope).__name__}", param="scopes")
        if not scope or any(ch.isspace() or not ch.isprintable() for ch in scope):
            raise InvalidValueError(f"{escape_text(scope)} is not a scope (one word, such as user_default)",
                                    param="scopes")
        if scope not in result:
            result.append(scope)
    return tuple(result)


def _lookup(impersonate: object) -> tuple[str, str] | None:
    if impersonate is None:
        return None
    if not isinstance(impersonate, tuple | list) or len(impersonate) != 2:
        raise ArgumentTypeError("expected a (field, value) pair such as ('subject', 'alice-42')",
                                param="impersonate")
    lookup_field, value = impersonate
    if lookup_field not in USER_LOOKUP_FIELDS:
        raise InvalidValueError(f"the field {escape_text(lookup_field)} is not one of "
                                f"{', '.join(USER_LOOKUP_FIELDS)}", param="impersonate")
    return str(lookup_field), check_text(value, param="impersonate")


def _secret(value: object) -> str:
    if not isinstance(value, str):
        raise ArgumentTypeError(f"expected the client secret as text, not {type(value).__name__}",
                                param="client_secret")
    text = value.strip()
    if not text or any(ch.isspace() or not ch.isprintable() for ch in text):
        raise InvalidValueError("is empty or holds spaces or control characters: not a client secret",
                                param="client_secret")
    if len(text) < _MIN_SECRET:
        raise InvalidValueError(f"is shorter than {_MIN_SECRET} characters: not a Qlik client secret",
                                param="client_secret")
    return text


class OAuthCredentials:
    """Access tokens of one OAuth client of one tenant, fetched from ``POST /oauth/token`` when needed and reused
    while valid; thread-safe (one instance serves every request of a web backend: concurrent callers share one
    token request). Each token request opens a connection of its own and closes it: nothing is held between
    requests (a token lives an hour; :meth:`close` and the context manager are there for symmetry).

    Give ``client_secret``, or ``assertion_key`` (with ``assertion_keyid``) to authenticate with a new client
    assertion per token request (Private Key JWT). Without ``impersonate`` the grant is ``client_credentials``
    (the client acts as itself); with ``impersonate=("subject" | "email" | "userId", value)`` it is
    ``urn:qlik:oauth:user-impersonation`` (the token acts as that existing user).

    :param tenant: ``https://HOST`` or a bare host name.
    :param scopes: the scopes asked for (space-separated text or a list); none: what the client has by default.
    :param assertion_algorithm: RS256 or RS512. :param assertion_passphrase: for an encrypted ``assertion_key``.
    :param settings: timeouts, retries and TLS of the token requests.
    :param log: a function that takes one debug line (never a secret).
    :param refresh_margin: seconds before expiry when a token is fetched anew (at most half its lifetime).
    :raises InvalidValueError: for a bad value (``param`` names it). :raises KeyLoadError: for an unusable key.
    """

    def __init__(
        self,
        tenant: str,
        client_id: str,
        *,
        client_secret: str | None = None,
        assertion_key: Signer | PrivateKeyInput | None = None,
        assertion_keyid: str | None = None,
        assertion_algorithm: str = "RS256",
        assertion_passphrase: bytes | str | None = None,
        scopes: Iterable[str] | str = (),
        impersonate: tuple[str, str] | None = None,
        settings: HttpSettings | None = None,
        log: Callable[[str], None] | None = None,
        refresh_margin: float = REFRESH_MARGIN,
    ) -> None:
        self.tenant = _tenant_origin(tenant)
        self.client_id = _client_id(client_id)
        if (client_secret is None) == (assertion_key is None):
            raise InvalidValueError("give the client secret or {assertion_key}, one of them" if client_secret is None
                                    else "give the client secret or {assertion_key}, not both",
                                    param="client_secret", mentions=("assertion_key",))
        self._secret = None if client_secret is None else _secret(client_secret)
        self._signer: Signer | None = None
        self._keyid: str | None = None
        self._algorithm = _algorithm(assertion_algorithm, "assertion_algorithm")
        if assertion_key is not None:
            if assertion_keyid is None:
                raise InvalidValueError("give the kid of the public key registered on the OAuth client",
                                        param="assertion_keyid")
            self._keyid = check_text(assertion_keyid, param="assertion_keyid")
            self._signer = (assertion_key if isinstance(assertion_key, Signer)
                            else Signer(assertion_key, passphrase=assertion_passphrase))
        self.scopes = _scopes(scopes)
        self.impersonate = _lookup(impersonate)
        if settings is not None:
            from .http import HttpSettings

            if not isinstance(settings, HttpSettings):
                raise ArgumentTypeError(f"must be HttpSettings, not {type(settings).__name__}", param="settings")
        if isinstance(refresh_margin, bool) or not isinstance(refresh_margin, int | float) \
                or not 0 <= refresh_margin <= 3600:
            raise InvalidValueError("expected seconds from 0 to 3600", param="refresh_margin")
        self._settings = settings
        self._log = log
        self._margin = float(refresh_margin)
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._refresh_at = 0.0
        #: how many token requests were made (each one answered or refused)
        self.requests_made = 0

    @property
    def grant_type(self) -> str:
        return USER_IMPERSONATION if self.impersonate else CLIENT_CREDENTIALS

    @property
    def auth_method(self) -> str:
        """``"client_secret"`` or ``"private_key_jwt"``."""
        return "client_secret" if self._secret is not None else "private_key_jwt"

    @property
    def token_url(self) -> str:
        return self.tenant + TOKEN_PATH

    def __repr__(self) -> str:
        who = f", impersonate={self.impersonate[0]}" if self.impersonate else ""
        return (f"OAuthCredentials(tenant={self.tenant!r}, client_id={self.client_id!r}, "
                f"auth={self.auth_method}{who})")

    def __enter__(self) -> OAuthCredentials:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Forget the cached token (no connection is held between token requests)."""
        with self._lock:
            self._token = None

    def token(self) -> AccessToken:
        """A valid access token: the cached one while it is not near its expiry, else a new one.

        :raises OAuthError: Qlik refused the request (``explanation`` says why, in plain words).
        :raises QlikApiError: an answer that is not a token. :raises QlikConnectionError: no answer.
        """
        with self._lock:
            if self._token is not None and _clock.now() < self._refresh_at:
                return self._token
            self._token = None
            fetched = self._fetch()
            current = _clock.now()
            lifetime = fetched.expires_at.timestamp() - current
            if lifetime <= 0:
                self._note("the access token's expires_at has passed by this computer's clock; check the clock")
            self._token = fetched
            self._refresh_at = current + max(lifetime - min(self._margin, lifetime / 2), 0.0)
            return fetched

    def invalidate(self, stale: AccessToken | str | None = None) -> None:
        """Forget the cached token (after a 401 with it), so that the next :meth:`token` fetches a new one.
        With ``stale`` (the token, its text or its ``Authorization`` header value) only when the cached token is
        that one: callers that met a 401 with the same token at once cause one new request, not several."""
        with self._lock:
            if self._token is None:
                return
            if stale is not None:
                text = stale.access_token if isinstance(stale, AccessToken) else stale.removeprefix("Bearer ")
                if text != self._token.access_token:
                    return
            self._token = None

    def authorization_header(self) -> str:
        """``"Bearer <access token>"`` for the ``Authorization`` header of an API call (see :meth:`token`)."""
        return self.token().authorization_header()

    # --- the token request -------------------------------------------------------------------------------

    def _note(self, line: str) -> None:
        if self._log is not None:
            self._log(f"OAuth: {line}")

    def _client(self) -> HttpClient:
        from .http import HttpClient, HttpSettings

        return HttpClient(self.tenant, self._settings or HttpSettings(), log=self._log)

    def _body(self) -> tuple[dict[str, Any], set[str]]:
        """The request body, and the secrets in it."""
        body: dict[str, Any] = {"client_id": self.client_id, "grant_type": self.grant_type}
        if self.scopes:
            body["scope"] = " ".join(self.scopes)
        if self.impersonate is not None:
            body["user_lookup"] = {"field": self.impersonate[0], "value": self.impersonate[1]}
        if self._secret is not None:
            body["client_secret"] = self._secret
            return body, {self._secret}
        assert self._signer is not None and self._keyid is not None
        assertion = create_client_assertion(self._signer, tenant=self.tenant, client_id=self.client_id,
                                            keyid=self._keyid, algorithm=self._algorithm)
        body["client_assertion"] = assertion.token
        body["client_assertion_type"] = CLIENT_ASSERTION_TYPE
        return body, {assertion.token}

    def _fetch(self) -> AccessToken:
        body, secrets = self._body()
        asked = f", scope {' '.join(self.scopes)}" if self.scopes else ""
        who = f" as the user with the {self.impersonate[0]} {self.impersonate[1]}" if self.impersonate else ""
        self._note(f"requesting an access token for the client {self.client_id} ({self.grant_type}{who}, "
                   f"{self.auth_method.replace('_', ' ')}{asked})")
        self.requests_made += 1
        try:
            with self._client() as http:
                response = http.request("POST", TOKEN_PATH, json=body)
        except QlikApiError as exc:
            error = _scrubbed(exc, secrets)
            raise OAuthError(error, explain_oauth_error(
                error, client_id=self.client_id, tenant=self.tenant, grant_type=self.grant_type,
                auth_method=self.auth_method, scopes=self.scopes, impersonate=self.impersonate)) from None
        except QlikConnectionError as exc:
            raise QlikConnectionError(redact(exc.args[0] if exc.hint is None else str(exc).removesuffix(
                f"; {exc.hint}"), secrets), hint=exc.hint, url=exc.url, tls=exc.tls) from None
        token = _access_token(response.json(), self.token_url, _clock.now())
        self._note(f"got an access token, valid until {token.expires_at:%Y-%m-%dT%H:%M:%SZ}"
                   + (f" (scope {token.scope})" if token.scope else ""))
        return token
