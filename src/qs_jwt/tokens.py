"""Create, decode and verify tokens.

Minting builds the compact JWS itself with ``cryptography`` (three base64url parts, one RSA
signature) and verifies every signature with the public key before returning it, so keys loaded
without the slow consistency check can never produce a bad token. Verification uses PyJWT on top
of this package's strict parser.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import _clock
from ._jws import (
    RSA_ALGORITHMS,
    b64url_encode,
    dumps_compact,
    escape_text,
    parse_compact,
    parse_json_object,
    sign_bytes,
    verify_bytes,
)
from .claims import qscloud_claims, qseow_claims
from .durations import MAX_DURATION_SECONDS, parse_duration
from .errors import InvalidValueError, KeyLoadError, VerificationError, is_finite_number, warn
from .keys import JsonWebKey, _check_rsa_numbers, load_private_key, load_public_key, read_key_source

if TYPE_CHECKING:
    from typing import TypeAlias

    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

    #: a private key: the object, PEM/DER bytes or text, or the path of a key file
    PrivateKeyInput: TypeAlias = RSAPrivateKey | bytes | str | os.PathLike[str]

__all__ = [
    "DecodedToken",
    "QsCloudTokenFactory",
    "Signer",
    "Token",
    "Verification",
    "create_qscloud_token",
    "create_qseow_token",
    "decode_unverified",
    "inspect_token",
    "qscloud_token_parts",
    "qseow_token_parts",
    "verify",
]

Lifetime = str | float | int | _dt.timedelta


def _lifetime(expires: Lifetime) -> float:
    if isinstance(expires, str):
        return parse_duration(expires)
    if isinstance(expires, _dt.timedelta):
        expires = expires.total_seconds()
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        raise InvalidValueError("expires: expected a duration such as '60m', seconds or a timedelta",
                                option="--expires")
    if not is_finite_number(expires) or expires <= 0:
        raise InvalidValueError("expires: the lifetime must be a positive number of seconds", option="--expires")
    if expires > MAX_DURATION_SECONDS:  # compared before float(): a huge int must not overflow
        raise InvalidValueError("expires: longer than the maximum of 100 years", option="--expires")
    return float(expires)


def _check_algorithm(algorithm: str, *, option: str = "--algorithm") -> str:
    if algorithm not in RSA_ALGORITHMS:
        raise InvalidValueError(f"{option} {algorithm!r}: use one of {', '.join(RSA_ALGORITHMS)}", option=option)
    return algorithm


def _read_path(key: object, what: str) -> object:
    """Read a key given as a path object; anything else is returned as it is."""
    if isinstance(key, os.PathLike):
        return read_key_source(os.fspath(key), what=what)
    return key


class Signer:
    """Signs JWTs with one RSA private key; reuse it to mint many tokens.

    Every signature is verified with the key's public half before the token is returned, which is
    what makes it safe to load keys with ``unsafe_skip_rsa_key_validation``.

    :param key: an RSA private key object, or PEM/DER bytes or text (loaded without the slow check).
    :param passphrase: the passphrase when ``key`` is an encrypted key in bytes or text.
    """

    def __init__(self, key: PrivateKeyInput, *, passphrase: bytes | str | None = None) -> None:
        key = _read_path(key, "private key")  # type: ignore[assignment]
        if isinstance(key, bytes | str):
            key = load_private_key(key, passphrase=passphrase)
        from cryptography.hazmat.primitives.asymmetric import rsa

        if not isinstance(key, rsa.RSAPrivateKey):
            raise KeyLoadError("signing needs an RSA private key")
        numbers = key.public_key().public_numbers()
        _check_rsa_numbers(key.key_size, numbers.e, numbers.n, None)
        self.key = key
        self.public_key = key.public_key()

    def sign(self, header: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
        """Serialise, sign and self-verify; return the compact token.

        :raises InvalidValueError: the header or payload cannot be serialised (NaN, lone surrogates).
        :raises KeyLoadError: the key produced a signature that does not verify (a damaged key).
        """
        algorithm = _check_algorithm(str(header.get("alg", "")))
        try:
            head = b64url_encode(dumps_compact(dict(header)))
            body = b64url_encode(dumps_compact(dict(payload)))
        except (TypeError, ValueError) as exc:
            raise InvalidValueError(f"the token cannot be serialised: {exc}") from None
        signing_input = f"{head}.{body}".encode("ascii")
        signature = sign_bytes(algorithm, self.key, signing_input)
        if not verify_bytes(algorithm, self.public_key, signing_input, signature):
            raise KeyLoadError("the private key produced a signature its public key rejects; the key is damaged")
        return f"{head}.{body}.{b64url_encode(signature)}"


@dataclass(frozen=True)
class Token:
    """A signed token together with the header and payload it was made from."""

    token: str
    header: dict[str, Any]
    payload: dict[str, Any]

    @property
    def expires_at(self) -> _dt.datetime | None:
        exp = self.payload.get("exp")
        return _dt.datetime.fromtimestamp(exp, tz=_dt.UTC) if isinstance(exp, int) else None

    def to_dict(self) -> dict[str, Any]:
        """``{"token", "header", "payload", "expiresAt"}`` (expiresAt as UTC ISO-8601)."""
        expires = self.expires_at
        return {
            "token": self.token,
            "header": self.header,
            "payload": self.payload,
            "expiresAt": expires.strftime("%Y-%m-%dT%H:%M:%SZ") if expires else None,
        }

    def __str__(self) -> str:
        return self.token


def _signer(key: Signer | PrivateKeyInput, passphrase: bytes | str | None) -> Signer:
    return key if isinstance(key, Signer) else Signer(key, passphrase=passphrase)


def qscloud_token_parts(
    *,
    issuer: str,
    keyid: str,
    expires: Lifetime = "5m",
    sub: str | None = None,
    email: str | None = None,
    email_verified: bool | str | None = None,
    name: str | None = None,
    groups: Iterable[str] | None = None,
    extra_claims: Mapping[str, Any] | None = None,
    algorithm: str = "RS256",
    allow_long_lifetime: bool = False,
    now: float | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and payload :func:`create_qscloud_token` signs, validated; no key needed.

    Useful to check every value before doing anything costly (such as generating a key).
    """
    from .claims import check_text

    _check_algorithm(algorithm)
    keyid = check_text(keyid, option="--keyid")
    payload = qscloud_claims(
        issuer=issuer,
        lifetime=_lifetime(expires),
        iat=int(_clock.resolve(now)),
        sub=sub,
        email=email,
        email_verified=email_verified,
        name=name,
        groups=groups,
        extra=extra_claims,
        allow_long_lifetime=allow_long_lifetime,
    )
    if algorithm != "RS256":
        warn(f"Qlik Cloud documents RS256 only for JWT identity providers; {algorithm} may be rejected")
    return {"alg": algorithm, "typ": "JWT", "kid": keyid}, payload


def create_qscloud_token(
    key: Signer | PrivateKeyInput,
    *,
    issuer: str,
    keyid: str,
    expires: Lifetime = "5m",
    sub: str | None = None,
    email: str | None = None,
    email_verified: bool | str | None = None,
    name: str | None = None,
    groups: Iterable[str] | None = None,
    extra_claims: Mapping[str, Any] | None = None,
    algorithm: str = "RS256",
    allow_long_lifetime: bool = False,
    passphrase: bytes | str | None = None,
    now: float | None = None,
) -> Token:
    """A token for a Qlik Cloud JWT identity provider (``POST /login/jwt-session``).

    :param key: the signing key (object, PEM/DER, or a :class:`Signer` to reuse).
    :param issuer: must equal the identity provider's issuer.
    :param keyid: must equal the identity provider's key id; goes into the header ``kid``.
    :param expires: ``"5m"``-style text, seconds, or a timedelta; at most one hour unless
        ``allow_long_lifetime`` (which warns instead).
    :param sub: the user's stable subject in Qlik Cloud (default: ``email``).
    :param email_verified: required with ``email``; a bool or ``true/false/yes/no/1/0``.
    :param name: display name (default: ``sub``).
    :param groups: group names, emitted as the ``groups`` array.
    :param extra_claims: further claims (Qlik Cloud ignores them); may not replace the claims above.
    :param algorithm: RS256 (the one Qlik Cloud documents), RS384 or RS512 (these warn).
    :param passphrase: the passphrase when ``key`` is encrypted PEM/DER.
    :param now: the issue time in seconds since the epoch (default: the current time).
    :raises InvalidValueError: for bad values. :raises KeyLoadError: for an unusable key.
    """
    header, payload = qscloud_token_parts(
        issuer=issuer, keyid=keyid, expires=expires, sub=sub, email=email, email_verified=email_verified,
        name=name, groups=groups, extra_claims=extra_claims, algorithm=algorithm,
        allow_long_lifetime=allow_long_lifetime, now=now,
    )
    return Token(_signer(key, passphrase).sign(header, payload), header, payload)


def qseow_token_parts(
    *,
    user_id: str,
    user_directory: str,
    audience: str,
    expires: Lifetime,
    name: str | None = None,
    email: str | None = None,
    groups: Iterable[str] | None = None,
    userid_claim: str = "userId",
    userdir_claim: str = "userDirectory",
    groups_claim: str = "groups",
    extra_claims: Mapping[str, Any] | None = None,
    algorithm: str = "RS256",
    now: float | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and payload :func:`create_qseow_token` signs, validated; no key needed."""
    _check_algorithm(algorithm)
    payload = qseow_claims(
        user_id=user_id,
        user_directory=user_directory,
        audience=audience,
        lifetime=_lifetime(expires),
        iat=int(_clock.resolve(now)),
        name=name,
        email=email,
        groups=groups,
        userid_claim=userid_claim,
        userdir_claim=userdir_claim,
        groups_claim=groups_claim,
        extra=extra_claims,
    )
    return {"alg": algorithm, "typ": "JWT"}, payload


def create_qseow_token(
    key: Signer | PrivateKeyInput,
    *,
    user_id: str,
    user_directory: str,
    audience: str,
    expires: Lifetime,
    name: str | None = None,
    email: str | None = None,
    groups: Iterable[str] | None = None,
    userid_claim: str = "userId",
    userdir_claim: str = "userDirectory",
    groups_claim: str = "groups",
    extra_claims: Mapping[str, Any] | None = None,
    algorithm: str = "RS256",
    passphrase: bytes | str | None = None,
    now: float | None = None,
) -> Token:
    """A token for a QSEoW virtual proxy with JWT authentication.

    :param userid_claim: the virtual proxy's "JWT attribute for user ID" (case-sensitive).
    :param userdir_claim: the virtual proxy's "JWT attribute for user directory".
    :param groups_claim: the claim carrying the groups (``group`` matches the Node tool).
    :param audience: the virtual proxy's audience; goes into ``aud``.
    :param extra_claims: attributes for the virtual proxy's JWT attribute mapping.
    :raises InvalidValueError: for bad values. :raises KeyLoadError: for an unusable key.
    """
    header, payload = qseow_token_parts(
        user_id=user_id, user_directory=user_directory, audience=audience, expires=expires, name=name,
        email=email, groups=groups, userid_claim=userid_claim, userdir_claim=userdir_claim,
        groups_claim=groups_claim, extra_claims=extra_claims, algorithm=algorithm, now=now,
    )
    return Token(_signer(key, passphrase).sign(header, payload), header, payload)


class QsCloudTokenFactory:
    """Mints Qlik Cloud tokens for many users with one key and one identity-provider setup.

    Meant for a web backend that signs a short-lived token per user login::

        factory = QsCloudTokenFactory(key_pem, issuer="my-app", keyid="key-1", expires="5m")
        token = factory.create(sub="alice-42", email="alice@example.com", email_verified=True)
    """

    def __init__(
        self,
        key: PrivateKeyInput,
        *,
        issuer: str,
        keyid: str,
        expires: Lifetime = "5m",
        algorithm: str = "RS256",
        allow_long_lifetime: bool = False,
        passphrase: bytes | str | None = None,
    ) -> None:
        self.issuer = issuer
        self.keyid = keyid
        self.lifetime = _lifetime(expires)
        self.algorithm = _check_algorithm(algorithm)
        self.allow_long_lifetime = allow_long_lifetime
        # every setting is checked now, not at the first create()
        qscloud_token_parts(issuer=issuer, keyid=keyid, expires=self.lifetime, sub="check", algorithm="RS256",
                            allow_long_lifetime=allow_long_lifetime)
        self.signer = Signer(key, passphrase=passphrase)

    def create(
        self,
        *,
        sub: str | None = None,
        email: str | None = None,
        email_verified: bool | str | None = None,
        name: str | None = None,
        groups: Iterable[str] | None = None,
        extra_claims: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> Token:
        """A new token (fresh ``jti``) for one user; see :func:`create_qscloud_token`."""
        return create_qscloud_token(
            self.signer,
            issuer=self.issuer,
            keyid=self.keyid,
            expires=self.lifetime,
            sub=sub,
            email=email,
            email_verified=email_verified,
            name=name,
            groups=groups,
            extra_claims=extra_claims,
            algorithm=self.algorithm,
            allow_long_lifetime=self.allow_long_lifetime,
            now=now,
        )


# --- decoding and verification ------------------------------------------------------------------


@dataclass(frozen=True)
class DecodedToken:
    """A token's header and payload, read without verifying anything."""

    token: str
    header: dict[str, Any]
    payload: dict[str, Any]
    signature: bytes

    @property
    def algorithm(self) -> str:
        alg = self.header.get("alg")
        return alg if isinstance(alg, str) else ""

    @property
    def key_id(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None


def decode_unverified(token: str) -> DecodedToken:
    """Read a token's header and payload WITHOUT verifying its signature. Never trust the result.

    The parse is strict: 3 parts, canonical base64url, JSON objects without duplicate names,
    no ``crit`` header, no ``alg: none``, at most 64 KiB.

    :raises TokenFormatError: for anything that is not a well-formed signed JWT.
    """
    jws = parse_compact(token)
    payload = parse_json_object(jws.payload, what="payload")
    return DecodedToken(token=token, header=jws.header, payload=payload, signature=jws.signature)


@dataclass
class Verification:
    """The outcome of :func:`verify` / :func:`inspect_token`, one field per concern.

    ``signature`` is None when no key was given; ``audience`` and ``issuer`` are None when no
    expected value was given. ``errors`` holds one plain sentence per failure.
    """

    decoded: DecodedToken
    signature: bool | None = None
    expired: bool = False
    not_yet_valid: bool = False
    audience: bool | None = None
    issuer: bool | None = None
    errors: list[str] = field(default_factory=list)
    #: why the signature check failed (also in ``errors``), None when it passed or was not made
    signature_error: str | None = None

    @property
    def ok(self) -> bool:
        """True when nothing that was checked failed."""
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise :class:`VerificationError` listing the failures, if any."""
        if self.errors:
            raise VerificationError("; ".join(self.errors))

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON form: ``signature, expired, notYetValid, audience, issuer, errors``."""
        return {
            "signature": self.signature,
            "expired": self.expired,
            "notYetValid": self.not_yet_valid,
            "audience": self.audience,
            "issuer": self.issuer,
            "errors": list(self.errors),
        }


#: Largest NumericDate accepted: 9999-12-31T23:59:59Z, the clock's own limit.
MAX_NUMERIC_DATE = _clock.MAX_TIME


def _numeric_date(payload: Mapping[str, Any], claim: str, errors: list[str]) -> float | int | None:
    if claim not in payload:
        return None
    value = payload[claim]
    if not isinstance(value, int | float) or not is_finite_number(value):
        errors.append(f"{claim} is not a number of seconds ({escape_text(value)})")
        return None
    if abs(value) > MAX_NUMERIC_DATE:
        errors.append(f"{claim} is out of range (beyond the year 9999)")
        return None
    return value


def _select_key(
    decoded: DecodedToken, key: Any, errors: list[str]
) -> RSAPublicKey | None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = _read_path(key, "public key")
    if isinstance(key, bytes | str):
        key = load_public_key(key)
    if isinstance(key, rsa.RSAPublicKey):
        _check_public_key(key)
        return key
    if isinstance(key, JsonWebKey):
        key = [key]
    if not isinstance(key, Sequence):
        raise KeyLoadError(f"unsupported verification key type {type(key).__name__}")
    keys: list[JsonWebKey] = []
    for item in key:
        if isinstance(item, JsonWebKey):
            keys.append(item)
        elif isinstance(item, rsa.RSAPublicKey):
            keys.append(JsonWebKey(key=item))
        elif isinstance(item, bytes | str):
            keys.append(JsonWebKey(key=load_public_key(item)))
        else:
            raise KeyLoadError(f"unsupported verification key type {type(item).__name__} in the key list")
    kid = decoded.key_id
    if kid is not None:
        # a key with the token's kid, else the one key that names no kid at all
        matches = [jwk for jwk in keys if jwk.kid == kid] or [jwk for jwk in keys if jwk.kid is None]
        if len(matches) != 1:
            errors.append(f"no key in the key set has kid {escape_text(kid)}")
            return None
    else:
        if len(keys) != 1:
            errors.append(f"the token has no kid and the key set holds {len(keys)} keys, not exactly one")
            return None
        matches = keys
    chosen: JsonWebKey = matches[0]
    if chosen.alg is not None and chosen.alg != decoded.algorithm:
        errors.append(f"the key is for {escape_text(chosen.alg)}, the token uses {escape_text(decoded.algorithm)}")
        return None
    _check_public_key(chosen.key)
    return chosen.key


def _check_public_key(key: RSAPublicKey) -> None:
    """Refuse a weak key object (under 2048 bits, a bad exponent, ROCA), as the loaders refuse weak files."""
    numbers = key.public_numbers()
    _check_rsa_numbers(key.key_size, numbers.e, numbers.n, None)


def _check_signature(decoded: DecodedToken, public_key: RSAPublicKey, algorithms: Sequence[str]) -> str | None:
    """None when the signature verifies with PyJWT, else the reason."""
    import jwt

    try:
        jwt.PyJWS(options={"enforce_minimum_key_length": True}).decode_complete(
            decoded.token, key=public_key, algorithms=list(algorithms)
        )
    except jwt.exceptions.InvalidSignatureError:
        return "signature does not verify with the given key"
    except jwt.exceptions.InvalidAlgorithmError as exc:
        return f"signature algorithm not accepted ({exc})"
    except jwt.exceptions.PyJWTError as exc:
        return f"signature could not be checked ({exc})"
    return None


def inspect_token(
    token: str,
    *,
    key: Any = None,
    algorithms: str | Sequence[str] = RSA_ALGORITHMS,
    audience: str | Iterable[str] | None = None,
    issuer: str | None = None,
    leeway: float = 0,
    now: float | None = None,
) -> Verification:
    """Decode a token and check what can be checked: the signature when ``key`` is given, the time
    claims, and the audience and issuer when expected values are given. Each concern is reported
    on its own, so an expired but correctly signed token is not called a bad signature.

    :param key: an RSA public key, a PEM/DER public key or certificate, a JWK set from
        :func:`qs_jwt.load_jwks` (the token's ``kid`` picks the key), or None to skip the signature.
    :param algorithms: accepted signature algorithms (never taken from the token).
    :param audience: the expected ``aud``, or several of which one must be present.
    :param leeway: seconds of clock skew tolerated for ``exp``, ``nbf`` and ``iat``.
    :raises TokenFormatError: the token is malformed. :raises KeyLoadError: the key is unusable.
    """
    try:
        algorithms = [algorithms] if isinstance(algorithms, str) else list(algorithms)
    except TypeError:
        raise InvalidValueError("algorithms: expected a name such as 'RS256' or a list of them",
                                option="algorithms") from None
    if not algorithms or not all(isinstance(alg, str) for alg in algorithms):
        raise InvalidValueError(f"algorithms: give at least one of {', '.join(RSA_ALGORITHMS)}",
                                option="algorithms")
    for alg in algorithms:
        _check_algorithm(alg, option="algorithms")
    if not isinstance(leeway, int | float) or not is_finite_number(leeway) or leeway < 0:
        raise InvalidValueError("--leeway: expected a non-negative number of seconds", option="--leeway")
    decoded = decode_unverified(token)
    result = Verification(decoded=decoded)
    errors = result.errors
    if key is not None:
        reason: str | None
        if decoded.algorithm not in algorithms:
            reason = f"algorithm {escape_text(decoded.algorithm)} is not accepted (accepted: {', '.join(algorithms)})"
        else:
            key_errors: list[str] = []
            public_key = _select_key(decoded, key, key_errors)
            reason = key_errors[0] if public_key is None else _check_signature(decoded, public_key, algorithms)
        result.signature = reason is None
        result.signature_error = reason
        if reason:
            errors.append(reason)
    current = _clock.resolve(now)
    payload = decoded.payload
    exp = _numeric_date(payload, "exp", errors)
    nbf = _numeric_date(payload, "nbf", errors)
    iat = _numeric_date(payload, "iat", errors)
    if exp is not None and current >= exp + leeway:
        result.expired = True
        errors.append("token has expired")
    if nbf is not None and current + leeway < nbf:
        result.not_yet_valid = True
        errors.append("token is not valid yet (nbf is in the future)")
    if iat is not None and current + leeway < iat:
        result.not_yet_valid = True
        errors.append("token was issued in the future (iat); check the clocks")
    if audience is not None:
        try:
            accepted = {audience} if isinstance(audience, str) else set(audience)
        except TypeError:
            accepted = set()
        if not accepted or not all(isinstance(a, str) for a in accepted):
            raise InvalidValueError("audience: expected a string or a list of strings", option="audience")
        aud = payload.get("aud")
        if isinstance(aud, list):
            present = {a for a in aud if isinstance(a, str)}
        else:
            present = {aud} if isinstance(aud, str) else set()
        result.audience = bool(accepted & present)
        if not result.audience:
            wanted = audience if isinstance(audience, str) else sorted(accepted)
            errors.append(f"audience is {escape_text(aud)}, expected {escape_text(wanted)}")
    if issuer is not None:
        iss = payload.get("iss")
        result.issuer = iss == issuer
        if not result.issuer:
            errors.append(f"issuer is {escape_text(iss)}, expected {escape_text(issuer)}")
    return result


def verify(
    token: str,
    key: Any,
    *,
    algorithms: str | Sequence[str] = RSA_ALGORITHMS,
    audience: str | Iterable[str] | None = None,
    issuer: str | None = None,
    leeway: float = 0,
    now: float | None = None,
) -> Verification:
    """Verify a token's signature with ``key`` and check its time claims, audience and issuer.

    Returns the :class:`Verification` (``.ok``, per-concern fields, ``.errors``); call
    ``.raise_for_errors()`` to turn failures into :class:`VerificationError`.
    See :func:`inspect_token` for the parameters.
    """
    if key is None:
        raise KeyLoadError("verify needs a key; use decode_unverified or inspect_token to read a token without one")
    return inspect_token(
        token, key=key, algorithms=algorithms, audience=audience, issuer=issuer, leeway=leeway, now=now
    )
