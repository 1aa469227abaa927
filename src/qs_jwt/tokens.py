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
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from . import _clock
from ._jws import (
    MAX_TOKEN_LENGTH,
    RSA_ALGORITHMS,
    TRUNCATED_HINT,
    b64url_encode,
    clean_token_text,
    dumps_compact,
    escape_text,
    parse_compact,
    parse_json_object,
)
from .claims import (
    Lifetime,
    QsCloudSettings,
    QsCloudUser,
    QseowSettings,
    QseowUser,
    check_algorithm,
    qscloud_payload,
    qseow_payload,
)
from .errors import (
    KEY_DAMAGED,
    KEY_WRONG_TYPE,
    ArgumentTypeError,
    InvalidValueError,
    KeyLoadError,
    VerificationError,
    is_finite_number,
)
from .keys import (
    JsonWebKey,
    _check_rsa_numbers,
    load_private_key,
    load_verification_keys,
    read_key_source,
    validate_private_key,
)

if TYPE_CHECKING:
    from typing import TypeAlias

    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

    #: a private key: the object, PEM/DER bytes or text, or the path of a key file
    PrivateKeyInput: TypeAlias = RSAPrivateKey | bytes | str | os.PathLike[str]

_T = TypeVar("_T")
_S = TypeVar("_S", QsCloudSettings, QseowSettings)
_U = TypeVar("_U", QsCloudUser, QseowUser)

__all__ = [
    "MAX_TOKEN_LENGTH",
    "RSA_ALGORITHMS",
    "DecodedToken",
    "QsCloudTokenFactory",
    "QseowTokenFactory",
    "Signer",
    "Token",
    "Verification",
    "create_qscloud_token",
    "create_qseow_token",
    "current_time",
    "decode_unverified",
    "inspect_token",
    "normalize_token_text",
    "qscloud_token_parts",
    "qseow_token_parts",
    "verify",
]


def _read_path(key: object, what: str) -> object:
    """Read a key given as a path object; anything else is returned as it is."""
    if isinstance(key, os.PathLike):
        return read_key_source(os.fspath(key), what=what)
    return key


class Signer:
    """Signs JWTs with one RSA private key; reuse it to mint many tokens. Thread-safe.

    Every signature is verified with the key's public half before the token is returned, which is
    what makes it safe to load keys with ``unsafe_skip_rsa_key_validation``. A signer pickles (for
    worker processes) as its private key in unencrypted PKCS#8 DER: treat the pickle as the key.

    :param key: an RSA private key object, PEM/DER/PKCS#12 bytes or text, or a path.
    :param passphrase: the passphrase when ``key`` is encrypted.
    :param validate: run cryptography's full RSA consistency check once (about 250 ms for a 4096-bit
        key) instead of verifying every signature: worth it for a signer that mints many tokens.
        OpenSSL still checks each CRT signature against the public exponent.
    """

    def __init__(self, key: PrivateKeyInput, *, passphrase: bytes | str | None = None,
                 validate: bool = False) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        if key is None:
            raise ArgumentTypeError("expected an RSA private key, key bytes or a path, not None", param="key")
        key = _read_path(key, "private key")  # type: ignore[assignment]
        if isinstance(key, bytes | bytearray | memoryview | str):
            key = load_private_key(key, passphrase=passphrase)
        if not isinstance(key, rsa.RSAPrivateKey):
            if type(key).__module__.startswith("cryptography"):
                raise KeyLoadError("signing needs an RSA private key", code=KEY_WRONG_TYPE)
            raise ArgumentTypeError(f"expected an RSA private key, not {type(key).__name__}", param="key")
        try:
            numbers = key.public_key().public_numbers()
        except ValueError:
            raise KeyLoadError("is damaged: its RSA numbers are inconsistent", code=KEY_DAMAGED) from None
        _check_rsa_numbers(key.key_size, numbers.e, numbers.n, None)
        if validate:
            validate_private_key(self._der(key))
        self.key = key
        self.public_key = key.public_key()
        self.validated = validate
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        self._padding = padding.PKCS1v15()
        self._hashes = {"RS256": hashes.SHA256(), "RS384": hashes.SHA384(), "RS512": hashes.SHA512()}

    @staticmethod
    def _der(key: RSAPrivateKey) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    def __getstate__(self) -> tuple[bytes, bool]:
        return self._der(self.key), self.validated

    def __setstate__(self, state: tuple[bytes, bool]) -> None:
        self.__init__(state[0], validate=state[1])  # type: ignore[misc]

    def sign(self, header: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
        """Serialise, sign and self-verify; return the compact token.

        :raises InvalidValueError: the header or payload cannot be serialised (NaN, lone surrogates).
        :raises KeyLoadError: the key produced a signature that does not verify (a damaged key).
        """
        algorithm = check_algorithm(header.get("alg", ""), param="header")
        try:
            head = b64url_encode(dumps_compact(dict(header)))
        except (TypeError, ValueError) as exc:
            raise InvalidValueError(f"the token cannot be serialised: {exc}", param="header") from None
        return self.sign_encoded(algorithm, head, payload)

    def sign_encoded(self, algorithm: str, head: str, payload: Mapping[str, Any]) -> str:
        """:meth:`sign` with the header already encoded (base64url of its JSON): the factories' fast path."""
        try:
            body = b64url_encode(dumps_compact(dict(payload)))
        except (TypeError, ValueError) as exc:
            raise InvalidValueError(f"the token cannot be serialised: {exc}", param="payload") from None
        signing_input = f"{head}.{body}".encode("ascii")
        from cryptography.exceptions import InvalidSignature

        try:
            signature = self.key.sign(signing_input, self._padding, self._hashes[algorithm])
            if not self.validated:
                self.public_key.verify(signature, signing_input, self._padding, self._hashes[algorithm])
            valid = True
        except (ValueError, InvalidSignature):
            valid = False
        if not valid:
            raise KeyLoadError("the private key produced a signature its public key rejects; the key is damaged",
                               code=KEY_DAMAGED)
        return f"{head}.{body}.{b64url_encode(signature)}"


@dataclass(frozen=True)
class Token:
    """A signed token, the header and payload it was made from, and what is probably unintended in it."""

    token: str
    header: dict[str, Any]
    payload: dict[str, Any]
    #: plain sentences: Qlik may reject or ignore something (a long lifetime, RS384, ...); empty when all is well
    warnings: tuple[str, ...] = ()

    @property
    def expires_at(self) -> _dt.datetime | None:
        """``exp`` as an aware UTC datetime; None without one, or one past what a datetime holds (year 9999)."""
        exp = self.payload.get("exp")
        if not isinstance(exp, int) or isinstance(exp, bool) or not 0 <= exp <= _clock.MAX_TIME:
            return None
        return _dt.datetime.fromtimestamp(exp, tz=_dt.UTC)

    def to_dict(self) -> dict[str, Any]:
        """``{"token", "header", "payload", "expiresAt", "warnings"}`` (expiresAt as UTC ISO-8601)."""
        expires = self.expires_at
        return {
            "token": self.token,
            "header": self.header,
            "payload": self.payload,
            "expiresAt": expires.strftime("%Y-%m-%dT%H:%M:%SZ") if expires else None,
            "warnings": list(self.warnings),
        }

    def __str__(self) -> str:
        return self.token


def _signer(key: Signer | PrivateKeyInput, passphrase: bytes | str | None) -> Signer:
    return key if isinstance(key, Signer) else Signer(key, passphrase=passphrase)


_FIELD_NAMES: dict[type, frozenset[str]] = {}


def _field_names(cls: type) -> frozenset[str]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        import dataclasses

        names = frozenset(f.name for f in dataclasses.fields(cls) if f.init)
        _FIELD_NAMES[cls] = names
    return names


def _object_or_fields(cls: type[_T], obj: _T | None, fields: dict[str, Any], param: str) -> _T:
    """``obj`` when given (and of type ``cls``), else ``cls`` made from the keyword ``fields``."""
    if obj is None:
        return cls(**fields)
    if not isinstance(obj, cls):
        raise ArgumentTypeError(f"expected {cls.__name__}, not {type(obj).__name__}", param=param)
    if fields:
        raise ArgumentTypeError(f"give the {param} object or its fields as keywords, not both", param=param)
    return obj


def _split_fields(settings_cls: type[_S], user_cls: type[_U], settings: _S | None, user: _U | None,
                  fields: dict[str, Any], what: str) -> tuple[_S, _U]:
    """The settings and user from objects, or from the keyword form (``extra_claims`` goes to the user)."""
    user_names = _field_names(user_cls)
    settings_names = _field_names(settings_cls) - user_names
    unknown = sorted(set(fields) - user_names - settings_names)
    if unknown:
        raise ArgumentTypeError(f"{what}() got an unexpected keyword argument {unknown[0]!r}", param=unknown[0])
    return (_object_or_fields(settings_cls, settings, {k: v for k, v in fields.items() if k in settings_names},
                              "settings"),
            _object_or_fields(user_cls, user, {k: v for k, v in fields.items() if k in user_names}, "user"))


def current_time() -> float:
    """The library's clock: seconds since the epoch (tests replace it to fix the time)."""
    return _clock.now()


def _iat(now: float | None) -> int:
    return int(_clock.resolve(now))


def qscloud_token_parts(settings: QsCloudSettings, user: QsCloudUser, *,
                        now: float | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and payload :func:`create_qscloud_token` signs (a fresh ``jti``); no key needed."""
    _expect(settings, QsCloudSettings, "settings")
    _expect(user, QsCloudUser, "user")
    return settings.header(), qscloud_payload(settings, user, iat=_iat(now))


def qseow_token_parts(settings: QseowSettings, user: QseowUser, *,
                      now: float | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and payload :func:`create_qseow_token` signs; no key needed."""
    _expect(settings, QseowSettings, "settings")
    _expect(user, QseowUser, "user")
    return settings.header(), qseow_payload(settings, user, iat=_iat(now))


def _expect(value: object, cls: type, param: str) -> None:
    if not isinstance(value, cls):
        raise ArgumentTypeError(f"expected {cls.__name__}, not {type(value).__name__}", param=param)


@overload
def create_qscloud_token(key: Signer | PrivateKeyInput, settings: QsCloudSettings, user: QsCloudUser, *,
                         passphrase: bytes | str | None = None, now: float | None = None) -> Token: ...


@overload
def create_qscloud_token(
    key: Signer | PrivateKeyInput, *, issuer: str, keyid: str, expires: Lifetime = "5m",
    sub: str | None = None, email: str | None = None, email_verified: bool | str | None = None,
    name: str | None = None, groups: Iterable[str] | None = None, extra_claims: Mapping[str, Any] | None = None,
    algorithm: str = "RS256", allow_long_lifetime: bool = False, passphrase: bytes | str | None = None,
    now: float | None = None,
) -> Token: ...


def create_qscloud_token(
    key: Signer | PrivateKeyInput,
    settings: QsCloudSettings | None = None,
    user: QsCloudUser | None = None,
    *,
    passphrase: bytes | str | None = None,
    now: float | None = None,
    **fields: Any,
) -> Token:
    """A token for a Qlik Cloud JWT identity provider (``POST /login/jwt-session``).

    Either ``create_qscloud_token(key, settings, user)`` with :class:`QsCloudSettings` and
    :class:`QsCloudUser`, or the fields of both as keywords (``issuer=..., keyid=..., sub=...``;
    ``extra_claims`` then belongs to the user).

    :param key: the signing key (object, PEM/DER/PKCS#12, a path, or a :class:`Signer` to reuse).
    :param passphrase: the passphrase when ``key`` is encrypted.
    :param now: the issue time in seconds since the epoch (default: the current time).
    :raises InvalidValueError: for bad values. :raises KeyLoadError: for an unusable key.
    """
    settings, user = _split_fields(QsCloudSettings, QsCloudUser, settings, user, fields, "create_qscloud_token")
    header, payload = qscloud_token_parts(settings, user, now=now)
    return Token(_signer(key, passphrase).sign(header, payload), header, payload, settings.warnings + user.warnings)


@overload
def create_qseow_token(key: Signer | PrivateKeyInput, settings: QseowSettings, user: QseowUser, *,
                       passphrase: bytes | str | None = None, now: float | None = None) -> Token: ...


@overload
def create_qseow_token(
    key: Signer | PrivateKeyInput, *, user_id: str, user_directory: str, audience: str, expires: Lifetime,
    name: str | None = None, email: str | None = None, groups: Iterable[str] | None = None,
    userid_claim: str = "userId", userdir_claim: str = "userDirectory", groups_claim: str = "groups",
    extra_claims: Mapping[str, Any] | None = None, algorithm: str = "RS256",
    passphrase: bytes | str | None = None, now: float | None = None,
) -> Token: ...


def create_qseow_token(
    key: Signer | PrivateKeyInput,
    settings: QseowSettings | None = None,
    user: QseowUser | None = None,
    *,
    passphrase: bytes | str | None = None,
    now: float | None = None,
    **fields: Any,
) -> Token:
    """A token for a QSEoW virtual proxy with JWT authentication.

    Either ``create_qseow_token(key, settings, user)`` with :class:`QseowSettings` and
    :class:`QseowUser`, or their fields as keywords (``extra_claims`` then belongs to the user).
    See :func:`create_qscloud_token` for ``key``, ``passphrase`` and ``now``.
    """
    settings, user = _split_fields(QseowSettings, QseowUser, settings, user, fields, "create_qseow_token")
    header, payload = qseow_token_parts(settings, user, now=now)
    return Token(_signer(key, passphrase).sign(header, payload), header, payload, settings.warnings + user.warnings)


class _Factory(Generic[_S, _U]):
    """Mints tokens for many users with one key and one set of settings; thread-safe, picklable."""

    _settings_cls: type[_S]
    _user_cls: type[_U]

    def __init__(self, key: Signer | PrivateKeyInput, settings: _S | None = None, *,
                 passphrase: bytes | str | None = None, **fields: Any) -> None:
        unknown = sorted(set(fields) - _field_names(self._settings_cls))
        if unknown:
            raise ArgumentTypeError(f"{type(self).__name__}() got an unexpected keyword argument {unknown[0]!r}",
                                    param=unknown[0])
        self.settings: _S = _object_or_fields(self._settings_cls, settings, fields, "settings")
        self.signer = key if isinstance(key, Signer) else Signer(key, passphrase=passphrase, validate=True)
        self._head = b64url_encode(dumps_compact(self.settings.header()))
        self._algorithm: str = self.settings.algorithm

    def __getstate__(self) -> tuple[Signer, _S]:
        return self.signer, self.settings

    def __setstate__(self, state: tuple[Signer, _S]) -> None:
        type(self).__init__(self, state[0], state[1])

    def _user(self, user: _U | None, fields: dict[str, Any]) -> _U:
        unknown = sorted(set(fields) - _field_names(self._user_cls))
        if unknown:
            raise ArgumentTypeError(f"create() got an unexpected keyword argument {unknown[0]!r}", param=unknown[0])
        return _object_or_fields(self._user_cls, user, fields, "user")

    def _token(self, user: _U, payload: dict[str, Any]) -> Token:
        token = self.signer.sign_encoded(self._algorithm, self._head, payload)
        warnings = self.settings.warnings + user.warnings
        return Token(token, self.settings.header(), payload, warnings)


class QsCloudTokenFactory(_Factory[QsCloudSettings, QsCloudUser]):
    """Mints Qlik Cloud tokens for many users with one key and one identity-provider setup.

    Meant for a web backend that signs a short-lived token per login (keep one at module level)::

        factory = QsCloudTokenFactory(key_pem, QsCloudSettings(issuer="my-app", keyid="key-1"))
        token = factory.create(QsCloudUser(sub="alice-42", email="alice@example.com", email_verified=True))

    The settings' fields may also be given as keywords, and a user's fields to :meth:`create`.
    Thread-safe (one instance serves every request); picklable, as its key: see :class:`Signer`.
    """

    _settings_cls = QsCloudSettings
    _user_cls = QsCloudUser

    def create(self, user: QsCloudUser | None = None, *, now: float | None = None, **fields: Any) -> Token:
        """A new token (fresh ``jti``) for one user."""
        checked = self._user(user, fields)
        return self._token(checked, qscloud_payload(self.settings, checked, iat=_iat(now)))


class QseowTokenFactory(_Factory[QseowSettings, QseowUser]):
    """Mints QSEoW tokens for many users with one key and one virtual-proxy setup (see
    :class:`QsCloudTokenFactory`)::

        factory = QseowTokenFactory(key_pem, QseowSettings(audience="qlik", expires="1h"))
        token = factory.create(QseowUser(user_id="alice", user_directory="ACME"))
    """

    _settings_cls = QseowSettings
    _user_cls = QseowUser

    def create(self, user: QseowUser | None = None, *, now: float | None = None, **fields: Any) -> Token:
        """A new token for one user."""
        checked = self._user(user, fields)
        return self._token(checked, qseow_payload(self.settings, checked, iat=_iat(now)))


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
    if isinstance(key, bytearray | memoryview):
        key = bytes(key)
    if isinstance(key, bytes | str):
        key = load_verification_keys(key)  # a JWK keeps its restrictions (alg, use, key_ops, kid)
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
            keys.extend(load_verification_keys(item))
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


def _check_algorithms(algorithms: object) -> list[str]:
    if isinstance(algorithms, str):
        algorithms = [algorithms]
    if not isinstance(algorithms, Iterable):
        raise ArgumentTypeError("expected a name such as 'RS256' or a list of them", param="algorithms")
    result = list(algorithms)
    if not result:
        raise InvalidValueError(f"give at least one of {', '.join(RSA_ALGORITHMS)}", param="algorithms")
    return [check_algorithm(alg, param="algorithms") for alg in result]


def _check_audience(audience: object) -> set[str]:
    if audience is None:
        return set()
    if isinstance(audience, str):
        return {audience}
    if not isinstance(audience, Iterable):
        raise ArgumentTypeError("expected a string or a list of strings", param="audience")
    accepted = list(audience)
    if not accepted or not all(isinstance(a, str) for a in accepted):
        raise ArgumentTypeError("expected a string or a list of strings", param="audience")
    return set(accepted)


def normalize_token_text(text: str) -> str:
    """A pasted token as the parser wants it: whitespace, surrounding quotes and a leading
    ``Authorization: Bearer `` removed."""
    if not isinstance(text, str):
        raise ArgumentTypeError(f"a token is text, not {type(text).__name__}", param="token")
    return clean_token_text(text)


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
    algorithms = _check_algorithms(algorithms)
    if isinstance(leeway, bool) or not isinstance(leeway, int | float):
        raise ArgumentTypeError("expected a number of seconds", param="leeway")
    if not is_finite_number(leeway) or not 0 <= leeway <= MAX_NUMERIC_DATE:
        raise InvalidValueError("expected a non-negative number of seconds", param="leeway")
    accepted_audiences = _check_audience(audience)
    if issuer is not None and not isinstance(issuer, str):
        raise ArgumentTypeError(f"expected a string, not {type(issuer).__name__}", param="issuer")
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
            if public_key is None:
                reason = key_errors[0]
            elif len(decoded.signature) < (public_key.key_size + 7) // 8:
                reason = (f"the signature is {len(decoded.signature)} bytes, the key's are "
                          f"{(public_key.key_size + 7) // 8}: {TRUNCATED_HINT}")
            else:
                reason = _check_signature(decoded, public_key, algorithms)
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
        accepted = accepted_audiences
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
