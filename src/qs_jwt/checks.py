"""Check a token, key or certificate against what Qlik accepts, and say why in plain words.

Each broken rule becomes a :class:`Finding` with the rule name, a severity, a message and a fix:

- ``error``: Qlik rejects the token, or silently ignores what the claim was meant to do;
- ``warning``: Qlik accepts it, but it is probably not what was intended.

A report is ``ok`` when it has no errors. Where Qlik's documentation leaves a rule open, the check
takes the strict reading: what every Qlik example sends.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any

from . import _clock
from ._jws import escape_text
from .claims import QSCLOUD_AUDIENCE, QSCLOUD_MAX_LIFETIME
from .durations import format_duration
from .errors import InvalidValueError, KeyLoadError, is_finite_number
from .tokens import MAX_NUMERIC_DATE, DecodedToken, Verification, inspect_token

__all__ = ["CheckReport", "Finding", "check_key_material", "check_qscloud", "check_qseow"]

ERROR = "error"
WARNING = "warning"

_RANDOM_SUB = re.compile(r"[A-Za-z0-9_-]{56}")


@dataclass(frozen=True)
class Finding:
    """One broken rule: which, how bad, what is wrong, and how to fix it."""

    rule: str
    severity: str
    message: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "severity": self.severity, "message": self.message, "fix": self.fix}


@dataclass
class CheckReport:
    """All findings of one check. ``ok`` is true when none is an error."""

    target: str
    findings: list[Finding] = field(default_factory=list)
    decoded: DecodedToken | None = None
    verification: Verification | None = None

    @property
    def ok(self) -> bool:
        return not any(f.severity == ERROR for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    def add(self, rule: str, severity: str, message: str, fix: str) -> None:
        self.findings.append(Finding(rule, severity, message, fix))

    def to_dict(self) -> dict[str, Any]:
        """``{"target", "ok", "findings": [{"rule", "severity", "message", "fix"}]}``."""
        return {"target": self.target, "ok": self.ok, "findings": [f.to_dict() for f in self.findings]}


def _number(value: object) -> float | int | None:
    """``value`` when it is a finite JSON number (not a boolean) within NumericDate range, else None."""
    if isinstance(value, int | float) and is_finite_number(value) and abs(value) <= MAX_NUMERIC_DATE:
        return value
    return None


def _check_signature_and_key(report: CheckReport, verification: Verification, key: Any) -> None:
    if key is None:
        return
    if verification.signature is False:
        report.add(
            "signature", ERROR, f"signature: {verification.signature_error or 'does not verify'}",
            "sign with the private key whose certificate is configured in Qlik",
        )


def _check_times(report: CheckReport, payload: dict[str, Any], now: float, leeway: float,
                 *, iat_severity: str = ERROR) -> None:
    for claim in ("iat", "nbf", "exp"):
        if claim in payload and not is_finite_number(payload[claim]):
            report.add(claim, ERROR, f"{claim}: {escape_text(payload[claim])} is not a number of seconds",
                       f"set {claim} to a NumericDate (whole seconds since 1970)")
        elif claim in payload and abs(payload[claim]) > MAX_NUMERIC_DATE:
            report.add(claim, ERROR, f"{claim}: {escape_text(payload[claim])} is beyond the year 9999",
                       f"set {claim} to a NumericDate (whole seconds since 1970)")
    exp, nbf, iat = _number(payload.get("exp")), _number(payload.get("nbf")), _number(payload.get("iat"))
    if exp is not None and now >= exp + leeway:
        report.add("exp", ERROR, f"exp: the token expired {format_duration(now - exp)} ago",
                   "make a new token just before it is used")
    if nbf is not None and now + leeway < nbf:
        report.add("nbf", ERROR, f"nbf: the token is not valid for another {format_duration(nbf - now)}",
                   "set nbf to the current time; check the clock of the machine that made the token")
    if iat is not None and now + leeway < iat:
        report.add("iat", iat_severity, f"iat: the token was issued {format_duration(iat - now)} in the future",
                   "check the clock of the machine that made the token")


def _check_aud_equals(report: CheckReport, aud: object, expected: str, *, target: str,
                      array_severity: str = ERROR) -> None:
    if aud is None:
        report.add("aud", ERROR, f"aud: missing; {target} expects {escape_text(expected)}",
                   f"set aud to {escape_text(expected)}")
    elif isinstance(aud, list) and expected in aud:
        report.add("aud", array_severity, f"aud: {escape_text(aud)} is an array; every Qlik example sends the "
                   "single string", f"set aud to {escape_text(expected)}")
    elif aud != expected:
        report.add("aud", ERROR, f"aud: {escape_text(aud)} is not {escape_text(expected)}",
                   f"set aud to {escape_text(expected)}")


def check_qscloud(
    token: str,
    *,
    issuer: str | None = None,
    keyid: str | None = None,
    key: Any = None,
    leeway: float = 0,
    now: float | None = None,
) -> CheckReport:
    """Every rule of Qlik Cloud's ``/login/jwt-session`` that ``token`` breaks.

    :param issuer: the identity provider's issuer, to compare with ``iss``.
    :param keyid: the identity provider's key id, to compare with the header ``kid``.
    :param key: the identity provider's certificate or public key (or a JWK set) to verify the signature.
    :raises TokenFormatError: the token is not a well-formed signed JWT at all.
    """
    current = _clock.resolve(now)
    verification = inspect_token(token, key=key, leeway=leeway, now=current)
    decoded = verification.decoded
    report = CheckReport("qscloud", decoded=decoded, verification=verification)
    header, payload = decoded.header, decoded.payload

    alg = decoded.algorithm
    if alg.upper().startswith("HS"):
        report.add("alg", ERROR, f"alg: {escape_text(alg)} is a shared-secret algorithm; Qlik Cloud requires "
                   "an asymmetric one", "sign with RS256 and an RSA private key")
    elif alg in ("RS384", "RS512"):
        report.add("alg", WARNING, f"alg: {alg} is not documented for Qlik Cloud JWT identity providers",
                   "sign with RS256, the algorithm Qlik documents")
    elif alg != "RS256":
        report.add("alg", ERROR, f"alg: {escape_text(alg)} is not accepted; Qlik Cloud documents RS256",
                   "sign with RS256")
    kid = header.get("kid")
    if kid is None:
        report.add("kid", ERROR, "kid: missing from the header; Qlik Cloud matches it with the identity "
                   "provider's key id", "put the key id in the header's kid (--keyid)")
    elif not isinstance(kid, str) or not kid:
        report.add("kid", ERROR, f"kid: {escape_text(kid)} is not a non-empty string", "use the key id as text")
    elif keyid is not None and kid != keyid:
        report.add("kid", ERROR, f"kid: {escape_text(kid)} does not match the identity provider's key id "
                   f"{escape_text(keyid)}", "use the key id configured in the identity provider")
    if "kid" in payload and "kid" not in header:
        report.add("kid", ERROR, "kid: found in the payload; Qlik Cloud reads it from the header",
                   "move kid into the JWT header")
    if header.get("typ") not in (None, "JWT"):
        report.add("typ", WARNING, f"typ: {escape_text(header.get('typ'))} is unusual; Qlik's examples use "
                   "\"JWT\"", "set typ to JWT")

    iss = payload.get("iss")
    if iss is None:
        report.add("iss", ERROR, "iss: missing; it must equal the identity provider's issuer",
                   "set iss (--issuer) to the issuer configured in Qlik Cloud")
    elif not isinstance(iss, str) or not iss:
        report.add("iss", ERROR, f"iss: {escape_text(iss)} is not a non-empty string", "set iss to the issuer")
    elif issuer is not None and iss != issuer:
        report.add("iss", ERROR, f"iss: {escape_text(iss)} does not match the identity provider's issuer "
                   f"{escape_text(issuer)}", "use exactly the issuer configured in Qlik Cloud")
    _check_aud_equals(report, payload.get("aud"), QSCLOUD_AUDIENCE, target="Qlik Cloud")

    sub = payload.get("sub")
    if sub is None:
        report.add("sub", ERROR, "sub: missing; Qlik Cloud identifies the user by it",
                   "set sub to the user's stable id (--sub)")
    elif not isinstance(sub, str) or not sub:
        report.add("sub", ERROR, f"sub: {escape_text(sub)} is not a non-empty string", "set sub to the user's id")
    elif _RANDOM_SUB.fullmatch(sub) and sub != payload.get("email") and sub != payload.get("name"):
        report.add("sub", WARNING, "sub: looks like a random value made for this token (as the Node qs-jwt "
                   "tool does); every new sub creates a new user in Qlik Cloud",
                   "use a stable subject per person (--sub, or the email)")
    sub_type = payload.get("subType")
    if sub_type is None:
        report.add("subType", ERROR, "subType: missing; Qlik Cloud expects \"user\"", "set subType to \"user\"")
    elif sub_type != "user":
        report.add("subType", ERROR, f"subType: {escape_text(sub_type)} is not \"user\"",
                   "set subType to \"user\"")
    name = payload.get("name")
    if name is None:
        report.add("name", ERROR, "name: missing; Qlik Cloud lists name among the claims it reads",
                   "set name to the user's display name (--username)")
    elif not isinstance(name, str) or not name.strip():
        report.add("name", ERROR, f"name: {escape_text(name)} is not a non-empty string",
                   "set name to the user's display name")
    email = payload.get("email")
    if email is not None and not isinstance(email, str):
        report.add("email", ERROR, f"email: {escape_text(email)} is not a string", "set email to text")
    if "email_verified" in payload:
        verified = payload["email_verified"]
        if not isinstance(verified, bool):
            report.add("email_verified", ERROR, f"email_verified: {escape_text(verified)} is a "
                       f"{'string' if isinstance(verified, str) else type(verified).__name__}; Qlik Cloud expects "
                       "a JSON boolean", "send true or false without quotes")
        elif verified is False and email is not None:
            report.add("email_verified", WARNING, "email_verified: false; Qlik Cloud shows only verified email "
                       "addresses", "send true once the address is known to be the user's")
    elif email is not None:
        report.add("email_verified", WARNING, "email_verified: missing; Qlik Cloud shows only verified email "
                   "addresses", "add email_verified: true when the address is the user's")
    if "group" in payload and "groups" not in payload:
        report.add("groups", ERROR, "groups: claim 'group' is not read by Qlik Cloud; rename it to 'groups'",
                   "send the groups as an array named 'groups'")
    groups = payload.get("groups")
    if groups is not None and (not isinstance(groups, list) or not all(isinstance(g, str) for g in groups)):
        report.add("groups", ERROR, f"groups: {escape_text(groups)} is not an array of strings",
                   "send groups as an array of group names, e.g. [\"Sales\"]")

    jti = payload.get("jti")
    if jti is None:
        report.add("jti", ERROR, "jti: missing; required by Qlik Cloud since June 2022 to prevent token reuse",
                   "add a unique random jti to every token")
    elif not isinstance(jti, str) or not jti:
        report.add("jti", ERROR, f"jti: {escape_text(jti)} is not a non-empty string",
                   "use a random string, e.g. 32 random bytes in base64url")
    if "iat" not in payload:
        report.add("iat", ERROR, "iat: missing; Qlik Cloud requires the issue time", "set iat to the current time")
    if "nbf" not in payload:
        report.add("nbf", ERROR, 'nbf: missing; Qlik answers "JWT_LOGIN_VALIDATIONS Missing required claim: nbf"',
                   "set nbf to the issue time")
    if "exp" not in payload:
        report.add("exp", ERROR, "exp: missing; Qlik Cloud requires an expiry at most 3600 s after nbf",
                   "set exp to at most nbf + 3600")
    exp, nbf, iat = _number(payload.get("exp")), _number(payload.get("nbf")), _number(payload.get("iat"))
    if exp is not None:
        for start_name, start in (("nbf", nbf), ("iat", iat)):
            if start is not None and exp - start > QSCLOUD_MAX_LIFETIME:
                report.add("lifetime", ERROR, f"lifetime: {format_duration(exp - start)} between {start_name} and "
                           f"exp exceeds Qlik Cloud's {QSCLOUD_MAX_LIFETIME} s",
                           "make tokens that expire within an hour (e.g. --expires 5m) and mint one per login")
                break
        if nbf is not None and exp <= nbf:
            report.add("lifetime", ERROR, "lifetime: exp is not after nbf", "set exp later than nbf")
    _check_times(report, payload, current, leeway)
    _check_signature_and_key(report, verification, key)
    return report


def check_qseow(
    token: str,
    *,
    audience: str | None = None,
    userid_claim: str = "userId",
    userdir_claim: str = "userDirectory",
    key: Any = None,
    leeway: float = 0,
    now: float | None = None,
) -> CheckReport:
    """Every rule of a QSEoW JWT virtual proxy that ``token`` breaks.

    :param audience: the virtual proxy's audience, to compare with ``aud``.
    :param userid_claim: the virtual proxy's "JWT attribute for user ID" (case-sensitive).
    :param userdir_claim: the virtual proxy's "JWT attribute for user directory".
    :param key: the virtual proxy's certificate (or a public key, or a JWK set).
    :raises TokenFormatError: the token is not a well-formed signed JWT at all.
    """
    for name, option in ((userid_claim, "--userid-claim"), (userdir_claim, "--userdir-claim")):
        if not isinstance(name, str) or not name.strip():
            raise InvalidValueError(f"{option}: expected a claim name", option=option)
    if audience is not None and not isinstance(audience, str):
        raise InvalidValueError("--audience: expected a string", option="--audience")
    current = _clock.resolve(now)
    verification = inspect_token(token, key=key, leeway=leeway, now=current)
    decoded = verification.decoded
    report = CheckReport("qseow", decoded=decoded, verification=verification)
    payload = decoded.payload
    alg = decoded.algorithm
    if alg not in ("RS256", "RS384", "RS512"):
        report.add("alg", ERROR, f"alg: {escape_text(alg)} is not accepted; a QSEoW virtual proxy supports "
                   "RS256, RS384 and RS512 only", "sign with RS256 and an RSA private key")
    for claim, option, what in ((userid_claim, "--userid-claim", "user ID"),
                                (userdir_claim, "--userdir-claim", "user directory")):
        value = payload.get(claim)
        if claim in payload and isinstance(value, str) and value.strip():
            continue
        if claim in payload:
            report.add(claim, ERROR, f"{claim}: {escape_text(value)} is not a non-empty string",
                       f"set {claim} to the {what}")
            continue
        near = [name for name in payload if name.lower() == claim.lower()]
        if near:
            report.add(claim, ERROR, f"{claim}: missing, but {escape_text(near[0])} is present; claim names are "
                       "case-sensitive", f"rename the claim to {claim!r} or set the virtual proxy's JWT attribute "
                       f"for {what} to {near[0]!r} ({option})")
        else:
            report.add(claim, ERROR, f"{claim}: missing; the virtual proxy reads the {what} from it",
                       f"add the claim {claim!r}, or name the claim the virtual proxy uses with {option}")
    aud = payload.get("aud")
    if audience is not None:
        # an array is probably fine for the proxy, but unconfirmed: a warning
        _check_aud_equals(report, aud, audience, target="the virtual proxy", array_severity=WARNING)
    for name in ("name", "email"):
        if name in payload and not isinstance(payload[name], str):
            report.add(name, WARNING, f"{name}: {escape_text(payload[name])} is not a string",
                       f"send {name} as text")
    if "exp" not in payload:
        report.add("exp", WARNING, "exp: missing; the token never expires and works for anyone who copies it",
                   "set an expiry (--expires)")
    _check_times(report, payload, current, leeway, iat_severity=WARNING)  # iat: not documented for QSEoW
    _check_signature_and_key(report, verification, key)
    return report


def check_key_material(
    data: bytes,
    *,
    source: str | None = None,
    passphrase: bytes | str | None = None,
    path: str | None = None,
    now: float | None = None,
) -> CheckReport:
    """Check a key or certificate file for use with Qlik: RSA, at least 2048 bits, exponent 65537,
    full key validation for private keys, certificate dates, and file permissions of private keys.

    :raises KeyLoadError: the data is not a key or certificate at all.
    """
    from .certs import describe_key_material
    from .keys import roca_vulnerable, validate_private_key

    info = describe_key_material(data, source=source, passphrase=passphrase)
    report = CheckReport("key")
    if info.key_type != "RSA":
        report.add("key-type", ERROR, f"key type: {info.key_type}; Qlik JWTs are signed and verified with RSA",
                   "create an RSA key (qs-jwt cert create)")
    else:
        if info.key_size < 2048:
            report.add("key-size", ERROR, f"key size: {info.key_size} bits; at least 2048 are required",
                       "create a new key of 4096 bits (qs-jwt cert create)")
        if info.public_exponent != 65537:
            report.add("exponent", ERROR, f"public exponent: {info.public_exponent}; 65537 is required",
                       "create a new key (qs-jwt cert create)")
        if info.public_key is not None and roca_vulnerable(info.public_key.public_numbers().n):
            report.add("roca", ERROR, "key has the ROCA weakness (CVE-2017-15361)", "replace the key")
    if info.kind == "private key" and info.key_type == "RSA":
        try:
            validate_private_key(data, passphrase=passphrase if info.encrypted else None, source=source)
        except KeyLoadError as exc:
            if "bits" not in exc.reason and "exponent" not in exc.reason and "ROCA" not in exc.reason:
                report.add("consistency", ERROR, f"private key: {exc.reason}", "replace the key")
        if path is not None and path != "-":
            try:
                mode = stat.S_IMODE(os.stat(path).st_mode)
            except OSError:
                mode = None
            if mode is not None and mode & 0o077:
                report.add("permissions", WARNING, f"permissions: {mode:04o}; the private key is readable by "
                           "group or others", f"chmod 600 {path}")
    cert = info.certificate
    if cert is not None:
        current = _dt.datetime.fromtimestamp(_clock.resolve(now), tz=_dt.UTC)
        if current < cert.not_valid_before_utc:
            report.add("not-before", ERROR, f"certificate: not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M}"
                       " UTC", "wait, or create a certificate that is valid now")
        if current > cert.not_valid_after_utc:
            report.add("not-after", ERROR, f"certificate: expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
                       "create a new certificate and configure it in Qlik")
        elif (cert.not_valid_after_utc - current).days < 30:
            report.add("not-after", WARNING, f"certificate: expires on {cert.not_valid_after_utc:%Y-%m-%d} UTC",
                       "plan its replacement")
        hash_alg = cert.signature_hash_algorithm
        if hash_alg is not None and hash_alg.name in ("sha1", "md5"):
            report.add("signature-hash", WARNING, f"certificate: signed with {hash_alg.name.upper()}",
                       "create a new certificate signed with SHA-256 (qs-jwt cert create)")
    return report
