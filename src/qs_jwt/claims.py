"""Who a token is for and how it is made: typed, immutable objects validated once, and the claim sets.

Qlik Cloud (``POST /login/jwt-session``) reads ``iss``, ``aud`` (``qlik.api/login/jwt-session``),
``sub``, ``subType`` (``user``), ``name``, ``email``, ``email_verified`` (boolean), ``groups`` (array),
``jti``, ``iat``, ``nbf`` and ``exp``, and refuses tokens whose ``exp - nbf`` exceeds 3600 seconds.
A QSEoW JWT virtual proxy reads the two claims named in its settings (user id and user directory),
the attribute-mapping claims, ``aud`` and ``exp``.

The settings shared by every user of one identity provider or virtual proxy
(:class:`QsCloudSettings`, :class:`QseowSettings`) are separate from one user's identity
(:class:`QsCloudUser`, :class:`QseowUser`). Each object checks its values when it is made and
raises :class:`~qs_jwt.errors.InvalidValueError` naming the parameter; what works but is probably
unintended is kept in its ``warnings`` (data, not :mod:`warnings`: safe across threads).
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._jws import RSA_ALGORITHMS, b64url_encode
from .durations import MAX_DURATION_SECONDS, format_duration, parse_duration
from .errors import ArgumentTypeError, InvalidValueError, is_finite_number

__all__ = [
    "QSCLOUD_AUDIENCE",
    "QSCLOUD_MAX_LIFETIME",
    "QSCLOUD_RESERVED_CLAIMS",
    "REGISTERED_CLAIMS",
    "RSA_ALGORITHMS",
    "Claims",
    "Lifetime",
    "QsCloudSettings",
    "QsCloudUser",
    "QseowSettings",
    "QseowUser",
    "check_algorithm",
    "new_jti",
    "parse_bool",
    "parse_claim_assignment",
    "qscloud_payload",
    "qseow_payload",
]

#: The audience Qlik Cloud requires.
QSCLOUD_AUDIENCE = "qlik.api/login/jwt-session"
#: Qlik Cloud's limit on ``exp - nbf``, in seconds.
QSCLOUD_MAX_LIFETIME = 3600
#: Claims a Qlik Cloud token sets itself; extra claims may not use these names.
QSCLOUD_RESERVED_CLAIMS = frozenset(
    {"iss", "aud", "sub", "subType", "name", "email", "email_verified", "groups", "jti", "iat", "nbf", "exp"}
)
#: Registered JWT claim names (RFC 7519), which a QSEoW attribute may not be called.
REGISTERED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})

#: a lifetime: ``"5m"``-style text, seconds, or a timedelta
Lifetime = str | float | int | _dt.timedelta

_MAX_TEXT = 4096
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


# --- values ---------------------------------------------------------------------------------------


def parse_bool(value: bool | str, *, param: str = "email_verified") -> bool:
    """``true/false/yes/no/1/0`` (any case) as a bool.

    :raises InvalidValueError: for any other text.
    """
    if isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise ArgumentTypeError(f"expected true or false, not {type(value).__name__}", param=param)
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidValueError("expected true or false (or yes/no, 1/0)", param=param)


def check_text(value: object, *, param: str, required: bool = True) -> str:
    """Validate a text value that goes into a claim: a string, encodable as UTF-8, not empty when required."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"expected text, got {type(value).__name__}", param=param)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidValueError(
            "the value is not valid UTF-8 text (check the shell's locale and the input's encoding)", param=param
        ) from None
    if required and not value.strip():
        raise InvalidValueError("the value must not be empty", param=param)
    if len(value) > _MAX_TEXT:
        raise InvalidValueError(f"the value is longer than {_MAX_TEXT} characters", param=param)
    return value


def _check_groups(groups: Iterable[str] | None) -> tuple[str, ...]:
    if groups is None:
        return ()
    if isinstance(groups, str):
        groups = [groups]
    try:
        items = list(groups)
    except TypeError:
        raise ArgumentTypeError(f"expected a list of group names, not {type(groups).__name__}",
                                param="groups") from None
    return tuple(check_text(group, param="groups") for group in items)


def check_algorithm(algorithm: object, *, param: str = "algorithm") -> str:
    """``algorithm`` when it is RS256, RS384 or RS512."""
    if not isinstance(algorithm, str):
        raise ArgumentTypeError(f"expected one of {', '.join(RSA_ALGORITHMS)}", param=param)
    if algorithm not in RSA_ALGORITHMS:
        raise InvalidValueError(f"use one of {', '.join(RSA_ALGORITHMS)}", param=param)
    return algorithm


def lifetime_seconds(expires: object, *, param: str = "expires") -> int:
    """Whole seconds of a lifetime (``"5m"``, seconds or a timedelta); at least one, at most 100 years."""
    if isinstance(expires, str):
        expires = parse_duration(expires, param=param)
    elif isinstance(expires, _dt.timedelta):
        expires = expires.total_seconds()
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        raise ArgumentTypeError("expected a duration such as '60m', seconds or a timedelta", param=param)
    if not is_finite_number(expires) or expires <= 0:
        raise InvalidValueError("the lifetime must be a positive number of seconds", param=param)
    if expires > MAX_DURATION_SECONDS:  # compared before int(): a huge number must not overflow
        raise InvalidValueError("longer than the maximum of 100 years", param=param)
    seconds = int(expires)
    if seconds < 1:
        raise InvalidValueError("the lifetime must be at least one second", param=param)
    return seconds


# --- extra claims ---------------------------------------------------------------------------------


class Claims(Mapping[str, Any]):
    """An immutable set of extra claims, checked to be JSON that a JWT can carry."""

    __slots__ = ("_data", "_nested")

    def __init__(self, claims: Mapping[str, Any] | None = None, *, reserved: Iterable[str] = (),
                 param: str = "extra_claims") -> None:
        data: dict[str, Any] = {}
        if claims is not None:
            if not isinstance(claims, Mapping):
                raise ArgumentTypeError(f"expected a mapping of claim names to values, not "
                                        f"{type(claims).__name__}", param=param)
            blocked = frozenset(reserved)
            for name, value in claims.items():
                check_text(name, param=param)
                if name in blocked:
                    raise InvalidValueError(
                        f"{name!r} is reserved: the token sets this claim itself, or it is a registered JWT claim",
                        param=param,
                    )
                data[name] = _json_copy(name, value, param)
        self._data = data
        self._nested = any(isinstance(v, dict | list) for v in data.values())

    def __getitem__(self, name: str) -> Any:
        value = self._data[name]
        return copy.deepcopy(value) if isinstance(value, dict | list) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Claims({self._data!r})"

    def __eq__(self, other: object) -> bool:
        return dict(self.items()) == dict(other.items()) if isinstance(other, Mapping) else NotImplemented

    def __hash__(self) -> int:
        return hash(json.dumps(self._data, sort_keys=True))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Claims, (self._data,))

    def copy_into(self, target: dict[str, Any]) -> None:
        """Add the claims to ``target`` (a fresh copy of nested values)."""
        target.update(copy.deepcopy(self._data) if self._nested else self._data)


def _json_copy(name: str, value: Any, param: str) -> Any:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        reason = "not JSON" if isinstance(exc, TypeError) else "a non-finite number or invalid text"
        raise InvalidValueError(f"{name!r}: the value cannot be put in a JWT ({reason})", param=param) from None
    except RecursionError:
        raise InvalidValueError(f"{name!r}: the value is nested too deeply", param=param) from None
    return json.loads(text)


def _reject_non_finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise OverflowError
    return number


def _no_constant(name: str) -> Any:
    raise ValueError(name)


class _DuplicateMember(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise _DuplicateMember
    return dict(pairs)


def parse_claim_assignment(text: str, *, param: str = "extra_claims") -> tuple[str, Any]:
    """Split ``NAME=VALUE``; VALUE is parsed as JSON when it is valid JSON, else kept as a string.

    ``team=sales`` gives ``"sales"``, ``level=3`` gives ``3``, ``tags=["a","b"]`` a list,
    ``flag=true`` a boolean, ``id="007"`` the string ``"007"``.

    :raises InvalidValueError: for a missing ``=``, an empty name or a non-finite number.
    """
    check_text(text, param=param)
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise InvalidValueError("expected NAME=VALUE", param=param)
    value: Any
    try:
        value = json.loads(raw, parse_float=_reject_non_finite, parse_constant=_no_constant,
                           object_pairs_hook=_no_duplicates)
    except _DuplicateMember:
        raise InvalidValueError(f"{name!r}: a JSON object in the value repeats a member name", param=param) from None
    except OverflowError:
        raise InvalidValueError(f"{name!r}: the number is out of range", param=param) from None
    except RecursionError:
        raise InvalidValueError(f"{name!r}: the value is nested too deeply", param=param) from None
    except ValueError:
        value = raw
    return name, value


def new_jti() -> str:
    """A fresh JWT ID: 256 random bits, base64url (43 characters)."""
    return b64url_encode(os.urandom(32))  # as secrets.token_urlsafe(32), without importing secrets


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)  # a frozen dataclass normalising its own fields


def _optional_text(obj: object, name: str) -> None:
    value = getattr(obj, name)
    if value is not None:
        check_text(value, param=name)


# --- Qlik Cloud -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QsCloudSettings:
    """What every token for one Qlik Cloud JWT identity provider shares.

    :param issuer: must equal the identity provider's issuer (``iss``).
    :param keyid: must equal the identity provider's key id (header ``kid``).
    :param expires: ``"5m"``-style text, seconds or a timedelta; at most one hour unless
        ``allow_long_lifetime`` (which adds a warning instead). ``lifetime`` holds the whole seconds.
    :param algorithm: RS256 (the one Qlik Cloud documents), RS384 or RS512 (these add a warning).
    :param extra_claims: claims every token carries (Qlik Cloud ignores them).
    """

    issuer: str
    keyid: str
    expires: Lifetime = "5m"
    algorithm: str = "RS256"
    allow_long_lifetime: bool = False
    extra_claims: Mapping[str, Any] = field(default_factory=Claims)
    lifetime: int = field(init=False, repr=False, compare=False)
    warnings: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_text(self.issuer, param="issuer")
        check_text(self.keyid, param="keyid")
        check_algorithm(self.algorithm)
        if not isinstance(self.allow_long_lifetime, bool):
            raise ArgumentTypeError("expected True or False", param="allow_long_lifetime")
        seconds = lifetime_seconds(self.expires)
        warnings: list[str] = []
        if seconds > QSCLOUD_MAX_LIFETIME:
            message = (f"{format_duration(seconds)} ({seconds} s) exceeds Qlik Cloud's limit of "
                       f"{QSCLOUD_MAX_LIFETIME} s between nbf and exp")
            if not self.allow_long_lifetime:
                raise InvalidValueError(message + "; Qlik Cloud rejects such tokens ({allow_long_lifetime} makes "
                                        "one anyway)", param="expires", mentions=("allow_long_lifetime",))
            warnings.append(f"{message}; Qlik Cloud will reject this token")
        if self.algorithm != "RS256":
            warnings.append(f"Qlik Cloud documents RS256 only for JWT identity providers; {self.algorithm} may "
                            "be rejected")
        _set(self, "extra_claims", Claims(self.extra_claims, reserved=QSCLOUD_RESERVED_CLAIMS))
        _set(self, "lifetime", seconds)
        _set(self, "warnings", tuple(warnings))

    def header(self) -> dict[str, Any]:
        """The JOSE header of every token: ``{"alg", "typ": "JWT", "kid"}``."""
        return {"alg": self.algorithm, "typ": "JWT", "kid": self.keyid}


@dataclass(frozen=True)
class QsCloudUser:
    """One Qlik Cloud user, as a token presents them.

    :param sub: the user's stable subject (default: ``email``); a new ``sub`` is a new user in Qlik Cloud.
    :param name: display name (default: ``sub``).
    :param email: the email claim; needs ``email_verified``.
    :param email_verified: a bool, or ``true/false/yes/no/1/0``; required with ``email``.
    :param groups: group names, sent as the ``groups`` array.
    :param extra_claims: further claims for this user (Qlik Cloud ignores them).
    """

    sub: str | None = None
    name: str | None = None
    email: str | None = None
    email_verified: bool | str | None = None
    groups: Iterable[str] | None = ()
    extra_claims: Mapping[str, Any] = field(default_factory=Claims)
    warnings: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        warnings: list[str] = []
        _optional_text(self, "email")
        verified = parse_bool(self.email_verified) if self.email_verified is not None else None
        if self.email is not None and verified is None:
            raise InvalidValueError("required with {email} (true when you have verified that the address belongs "
                                    "to the user)", param="email_verified", mentions=("email",))
        if verified is not None and self.email is None:
            warnings.append("email_verified is ignored without an email address")
            verified = None
        sub = self.sub
        if sub is None:
            if self.email is None:
                raise InvalidValueError("a subject is required: give {sub} (the user's stable id in Qlik Cloud) or "
                                        "{email}", param="sub", mentions=("sub", "email"))
            sub = self.email
        check_text(sub, param="sub")
        _optional_text(self, "name")
        _set(self, "sub", sub)
        _set(self, "name", self.name if self.name is not None else sub)
        _set(self, "email_verified", verified)
        _set(self, "groups", _check_groups(self.groups))
        _set(self, "extra_claims", Claims(self.extra_claims, reserved=QSCLOUD_RESERVED_CLAIMS))
        _set(self, "warnings", tuple(warnings))


def _merge_extra(claims: dict[str, Any], *sets: Mapping[str, Any]) -> None:
    present = [c for c in sets if len(c)]
    if len(present) > 1:
        both = set(present[0]).intersection(*present[1:])
        if both:
            raise InvalidValueError(f"{sorted(both)[0]!r} is set both in the settings and for the user",
                                    param="extra_claims")
    for extra in present:
        if isinstance(extra, Claims):
            extra.copy_into(claims)
        else:  # pragma: no cover - the dataclasses always hold Claims
            claims.update(extra)


def qscloud_payload(settings: QsCloudSettings, user: QsCloudUser, *, iat: int,
                    jti: str | None = None) -> dict[str, Any]:
    """The payload of a Qlik Cloud token: ``nbf`` equals ``iat``; ``exp`` is ``iat`` + the lifetime."""
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "aud": QSCLOUD_AUDIENCE,
        "sub": user.sub,
        "subType": "user",
        "name": user.name,
    }
    if user.email is not None:
        claims["email"] = user.email
        claims["email_verified"] = user.email_verified
    if user.groups:
        claims["groups"] = list(user.groups)
    claims["jti"] = jti if jti is not None else new_jti()
    claims["iat"] = iat
    claims["nbf"] = iat
    claims["exp"] = iat + settings.lifetime
    _merge_extra(claims, settings.extra_claims, user.extra_claims)
    return claims


# --- QSEoW ----------------------------------------------------------------------------------------


def _claim_name(value: object, *, param: str) -> str:
    name = check_text(value, param=param)
    if name in REGISTERED_CLAIMS:
        raise InvalidValueError(f"{name!r}: a registered JWT claim cannot carry a user attribute", param=param)
    return name


@dataclass(frozen=True)
class QseowSettings:
    """What every token for one QSEoW virtual proxy with JWT authentication shares.

    :param audience: the virtual proxy's audience (``aud``).
    :param expires: the lifetime: ``"8h"``-style text, seconds or a timedelta (at most 100 years).
    :param userid_claim: the virtual proxy's "JWT attribute for user ID" (case-sensitive).
    :param userdir_claim: the virtual proxy's "JWT attribute for user directory".
    :param groups_claim: the claim carrying the groups (``group`` matches the Node tool).
    :param extra_claims: attributes every token carries, for the virtual proxy's attribute mapping.
    """

    audience: str
    expires: Lifetime
    algorithm: str = "RS256"
    userid_claim: str = "userId"
    userdir_claim: str = "userDirectory"
    groups_claim: str = "groups"
    extra_claims: Mapping[str, Any] = field(default_factory=Claims)
    lifetime: int = field(init=False, repr=False, compare=False)
    warnings: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_text(self.audience, param="audience")
        check_algorithm(self.algorithm)
        names = [_claim_name(self.userid_claim, param="userid_claim"),
                 _claim_name(self.userdir_claim, param="userdir_claim"),
                 _claim_name(self.groups_claim, param="groups_claim"), "name", "email"]
        if len(set(names)) != len(names):
            raise InvalidValueError("{userid_claim}, {userdir_claim} and {groups_claim} must differ from each other "
                                    "and from 'name' and 'email'", param="userid_claim",
                                    mentions=("userid_claim", "userdir_claim", "groups_claim"))
        _set(self, "lifetime", lifetime_seconds(self.expires))
        _set(self, "extra_claims", Claims(self.extra_claims, reserved=self.claim_names() | REGISTERED_CLAIMS))
        _set(self, "warnings", ())

    def claim_names(self) -> frozenset[str]:
        """The claims the token sets from the user: the three configured names, ``name`` and ``email``."""
        return frozenset({self.userid_claim, self.userdir_claim, self.groups_claim, "name", "email"})

    def header(self) -> dict[str, Any]:
        """The JOSE header of every token: ``{"alg", "typ": "JWT"}``."""
        return {"alg": self.algorithm, "typ": "JWT"}


@dataclass(frozen=True)
class QseowUser:
    """One QSEoW user, as a token presents them.

    :param user_id: the user id (into the settings' ``userid_claim``).
    :param user_directory: the user directory (into ``userdir_claim``).
    :param name: the name claim. :param email: the email claim.
    :param groups: group names (into ``groups_claim``).
    :param extra_claims: attributes for this user, for the virtual proxy's attribute mapping.
    """

    user_id: str
    user_directory: str
    name: str | None = None
    email: str | None = None
    groups: Iterable[str] | None = ()
    extra_claims: Mapping[str, Any] = field(default_factory=Claims)
    warnings: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_text(self.user_id, param="user_id")
        check_text(self.user_directory, param="user_directory")
        _optional_text(self, "name")
        _optional_text(self, "email")
        _set(self, "groups", _check_groups(self.groups))
        _set(self, "extra_claims", Claims(self.extra_claims, reserved=REGISTERED_CLAIMS | {"name", "email"}))
        _set(self, "warnings", ())


def qseow_payload(settings: QseowSettings, user: QseowUser, *, iat: int) -> dict[str, Any]:
    """The payload of a QSEoW token: the user claims under the settings' names, ``iat``, ``exp``, ``aud``."""
    claims: dict[str, Any] = {settings.userid_claim: user.user_id, settings.userdir_claim: user.user_directory}
    if user.name is not None:
        claims["name"] = user.name
    if user.email is not None:
        claims["email"] = user.email
    if user.groups:
        claims[settings.groups_claim] = list(user.groups)
    clash = settings.claim_names().intersection(user.extra_claims)
    if clash:
        raise InvalidValueError(f"{sorted(clash)[0]!r} is a claim the virtual proxy settings use",
                                param="extra_claims")
    _merge_extra(claims, settings.extra_claims, user.extra_claims)
    claims["iat"] = iat
    claims["exp"] = iat + settings.lifetime
    claims["aud"] = settings.audience
    return claims
