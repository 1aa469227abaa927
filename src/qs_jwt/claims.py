"""Claim sets for Qlik Cloud and QSEoW tokens, built and validated without I/O.

Qlik Cloud (``POST /login/jwt-session``) reads ``iss``, ``aud`` (``qlik.api/login/jwt-session``),
``sub``, ``subType`` (``user``), ``name``, ``email``, ``email_verified`` (boolean), ``groups`` (array),
``jti``, ``iat``, ``nbf`` and ``exp``, and refuses tokens whose ``exp - nbf`` exceeds 3600 seconds.
A QSEoW JWT virtual proxy reads the two claims named in its settings (user id and user directory),
the attribute-mapping claims, ``aud`` and ``exp``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

from .durations import format_duration
from .errors import InvalidValueError, is_finite_number, warn

__all__ = [
    "QSCLOUD_AUDIENCE",
    "QSCLOUD_MAX_LIFETIME",
    "QSCLOUD_RESERVED_CLAIMS",
    "REGISTERED_CLAIMS",
    "new_jti",
    "parse_bool",
    "parse_claim_assignment",
    "qscloud_claims",
    "qseow_claims",
]

#: The audience Qlik Cloud requires.
QSCLOUD_AUDIENCE = "qlik.api/login/jwt-session"
#: Qlik Cloud's limit on ``exp - nbf``, in seconds.
QSCLOUD_MAX_LIFETIME = 3600
#: Claims create_qscloud sets itself; ``extra`` claims may not use these names.
QSCLOUD_RESERVED_CLAIMS = frozenset(
    {"iss", "aud", "sub", "subType", "name", "email", "email_verified", "groups", "jti", "iat", "nbf", "exp"}
)
#: Registered JWT claim names (RFC 7519), which a QSEoW attribute may not be called.
REGISTERED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})

_MAX_TEXT = 4096
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def parse_bool(value: bool | str, *, option: str = "--useremail-verified") -> bool:
    """``true/false/yes/no/1/0`` (any case) as a bool.

    :raises InvalidValueError: for any other text.
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidValueError(f"{option} {_show(value)}: expected true or false (or yes/no, 1/0)", option=option)


def check_text(value: object, *, option: str, required: bool = True) -> str:
    """Validate a text value that goes into a claim: a string, encodable as UTF-8, not empty when required."""
    if not isinstance(value, str):
        raise InvalidValueError(f"{option}: expected text, got {type(value).__name__}", option=option)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidValueError(
            f"{option}: the value is not valid UTF-8 text (check the shell's locale and the input's encoding)",
            option=option,
        ) from None
    if required and not value.strip():
        raise InvalidValueError(f"{option}: the value must not be empty", option=option)
    if len(value) > _MAX_TEXT:
        raise InvalidValueError(f"{option}: the value is longer than {_MAX_TEXT} characters", option=option)
    return value


def _check_groups(groups: Iterable[str] | None, *, option: str = "--groups") -> list[str] | None:
    if groups is None:
        return None
    if isinstance(groups, str):
        groups = [groups]
    result = [check_text(group, option=option) for group in groups]
    return result or None


def _reject_non_finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("number out of range")
    return number


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise InvalidValueError("--claim: a JSON object in the value repeats a member name", option="--claim")
    return dict(pairs)


def parse_claim_assignment(text: str, *, option: str = "--claim") -> tuple[str, Any]:
    """Split ``NAME=VALUE``; VALUE is parsed as JSON when it is valid JSON, else kept as a string.

    ``team=sales`` gives ``"sales"``, ``level=3`` gives ``3``, ``tags=["a","b"]`` a list,
    ``flag=true`` a boolean, ``id="007"`` the string ``"007"``.

    :raises InvalidValueError: for a missing ``=``, an empty name or a non-finite number.
    """
    check_text(text, option=option)
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise InvalidValueError(f"{option} {_show(text)}: expected NAME=VALUE", option=option)
    value: Any
    try:
        value = json.loads(raw, parse_float=_reject_non_finite, parse_constant=_no_constant,
                           object_pairs_hook=_no_duplicates)
    except InvalidValueError:
        raise
    except ValueError as exc:
        if "out of range" in str(exc):
            raise InvalidValueError(f"{option} {name}: the number is out of range", option=option) from None
        value = raw
    except RecursionError:
        raise InvalidValueError(f"{option} {name}: the value is nested too deeply", option=option) from None
    return name, value


def _merge_extra(claims: dict[str, Any], extra: Mapping[str, Any] | None, reserved: Iterable[str]) -> None:
    if not extra:
        return
    reserved = set(reserved)
    for name, value in extra.items():
        check_text(name, option="--claim")
        if name in reserved:
            raise InvalidValueError(
                f"--claim {name}: reserved; this claim is set by the command itself or is a registered JWT claim",
                option="--claim",
            )
        try:
            json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
            raise InvalidValueError(f"--claim {name}: the value cannot be put in a JWT ({exc})",
                                    option="--claim") from None
        claims[name] = value


def new_jti() -> str:
    """A fresh JWT ID: 256 random bits, base64url (43 characters)."""
    from ._jws import b64url_encode

    return b64url_encode(os.urandom(32))  # as secrets.token_urlsafe(32), without importing secrets


def lifetime_seconds(lifetime: float, *, option: str = "--expires") -> int:
    """Whole seconds of a lifetime; refuse anything under one second."""
    if not is_finite_number(lifetime):
        raise InvalidValueError(f"{option}: expected a duration", option=option)
    seconds = int(lifetime)
    if seconds < 1:
        raise InvalidValueError(f"{option}: the lifetime must be at least one second", option=option)
    return seconds


def qscloud_claims(
    *,
    issuer: str,
    lifetime: float,
    iat: int,
    sub: str | None = None,
    email: str | None = None,
    email_verified: bool | str | None = None,
    name: str | None = None,
    groups: Iterable[str] | None = None,
    extra: Mapping[str, Any] | None = None,
    jti: str | None = None,
    allow_long_lifetime: bool = False,
) -> dict[str, Any]:
    """The payload of a Qlik Cloud token.

    ``sub`` defaults to ``email`` and ``name`` to ``sub``; ``email_verified`` is required with ``email``.
    ``nbf`` equals ``iat``; ``exp`` is ``iat + lifetime`` (whole seconds).

    :raises InvalidValueError: for missing or empty required values, a lifetime over 3600 s
        (unless ``allow_long_lifetime``, which warns instead) and extra claims that clash.
    """
    issuer = check_text(issuer, option="--issuer")
    if email is not None:
        email = check_text(email, option="--useremail")
        if email_verified is None:
            raise InvalidValueError(
                "--useremail-verified is required with --useremail (true if you have verified that the "
                "address belongs to the user)",
                option="--useremail-verified",
            )
    verified = parse_bool(email_verified) if email_verified is not None else None
    if verified is not None and email is None:
        warn("email_verified is ignored without an email address")
        verified = None
    if sub is None:
        if email is None:
            raise InvalidValueError(
                "a subject is required: give --sub (the user's stable id in Qlik Cloud) or --useremail",
                option="--sub",
            )
        sub = email
    sub = check_text(sub, option="--sub")
    name = check_text(name, option="--username") if name is not None else sub
    group_list = _check_groups(groups)
    seconds = lifetime_seconds(lifetime)
    if seconds > QSCLOUD_MAX_LIFETIME:
        message = (
            f"--expires: {format_duration(seconds)} ({seconds} s) exceeds Qlik Cloud's limit of "
            f"{QSCLOUD_MAX_LIFETIME} s between nbf and exp"
        )
        if not allow_long_lifetime:
            raise InvalidValueError(
                message + "; Qlik Cloud rejects such tokens (use --allow-long-lifetime to make one anyway)",
                option="--expires",
            )
        warn(message + "; Qlik Cloud will reject this token")
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": QSCLOUD_AUDIENCE,
        "sub": sub,
        "subType": "user",
        "name": name,
    }
    if email is not None:
        claims["email"] = email
        claims["email_verified"] = verified
    if group_list:
        claims["groups"] = group_list
    claims["jti"] = jti if jti is not None else new_jti()
    claims["iat"] = iat
    claims["nbf"] = iat
    claims["exp"] = iat + seconds
    _merge_extra(claims, extra, QSCLOUD_RESERVED_CLAIMS)
    return claims


def _check_claim_name(value: str, *, option: str) -> str:
    check_text(value, option=option)
    if value in REGISTERED_CLAIMS:
        raise InvalidValueError(f"{option} {value}: a registered JWT claim cannot carry a user attribute",
                                option=option)
    return value


def qseow_claims(
    *,
    user_id: str,
    user_directory: str,
    audience: str,
    lifetime: float,
    iat: int,
    name: str | None = None,
    email: str | None = None,
    groups: Iterable[str] | None = None,
    userid_claim: str = "userId",
    userdir_claim: str = "userDirectory",
    groups_claim: str = "groups",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The payload of a token for a QSEoW JWT virtual proxy.

    The user id and user directory go into the claims named by ``userid_claim`` and ``userdir_claim``
    (they must match the virtual proxy's "JWT attribute for user ID/user directory", case included).

    :raises InvalidValueError: for empty required values, clashing or reserved claim names.
    """
    user_id = check_text(user_id, option="--userid")
    user_directory = check_text(user_directory, option="--userdir")
    audience = check_text(audience, option="--audience")
    userid_claim = _check_claim_name(userid_claim, option="--userid-claim")
    userdir_claim = _check_claim_name(userdir_claim, option="--userdir-claim")
    groups_claim = _check_claim_name(groups_claim, option="--groups-claim")
    names = [userid_claim, userdir_claim, groups_claim, "name", "email"]
    if len(set(names)) != len(names):
        raise InvalidValueError(
            "--userid-claim, --userdir-claim and --groups-claim must differ from each other and from "
            "'name' and 'email'",
            option="--userid-claim",
        )
    seconds = lifetime_seconds(lifetime)
    claims: dict[str, Any] = {userid_claim: user_id, userdir_claim: user_directory}
    if name is not None:
        claims["name"] = check_text(name, option="--username")
    if email is not None:
        claims["email"] = check_text(email, option="--useremail")
    group_list = _check_groups(groups)
    if group_list:
        claims[groups_claim] = group_list
    _merge_extra(claims, extra, set(names) | REGISTERED_CLAIMS)
    claims["iat"] = iat
    claims["exp"] = iat + seconds
    claims["aud"] = audience
    return claims


def _show(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")
