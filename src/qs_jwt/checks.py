"""Check a token, key or certificate against what Qlik accepts, and say why in plain words.

Each broken rule becomes a :class:`Finding` with the rule name, a severity, a message and a fix:

- ``error``: Qlik rejects the token, or silently ignores what the claim was meant to do;
- ``warning``: Qlik accepts it, but it is probably not what was intended.

A report is ``ok`` when it has no errors. Where Qlik's documentation leaves a rule open, the check
takes the strict reading: what every Qlik example sends.

Each token rule is a small function of a :class:`TokenContext` that yields its findings;
:data:`QSCLOUD_RULES` and :data:`QSEOW_RULES` list them in report order. A rule's docstring names
its source, a section of the Qlik platform specification (``shared/reference/qlik-platform-spec.md``).
Fixes say what to change in the token or its minting (naming the ``create-qscloud``/``create-qseow``
option that does it) or what to tell ``qs-jwt check``.
"""

from __future__ import annotations

import datetime as _dt
import re
import shlex
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import _clock
from ._jws import escape_text
from .certs import describe_key_material
from .claims import QSCLOUD_AUDIENCE, QSCLOUD_MAX_LIFETIME
from .durations import format_duration
from .errors import KEY_DAMAGED, KEY_WEAK, ArgumentTypeError, InvalidValueError, KeyLoadError, is_finite_number
from .keys import private_key_file_problem, roca_vulnerable, validate_private_key
from .tokens import MAX_NUMERIC_DATE, DecodedToken, Verification, inspect_token

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

    from .certs import KeyInfo

__all__ = [
    "QSCLOUD_RULES",
    "QSEOW_RULES",
    "CheckReport",
    "Finding",
    "TokenContext",
    "check_key_material",
    "check_qscloud",
    "check_qseow",
]

ERROR = "error"
WARNING = "warning"

_RANDOM_SUB = re.compile(r"[A-Za-z0-9_-]{56}")
#: claim names a QSEoW token carries for its user (``userId``, ``UserDirectory``, ``userid`` ...)
_QSEOW_USER_CLAIM = re.compile(r"userid|userdir", re.IGNORECASE)
_NUMERIC_DATE_FIX = "set {claim} to a NumericDate (whole seconds since 1970)"
_SIGNATURE_FIX = ("sign with the private key whose certificate is configured in Qlik, and give check that "
                  "certificate (--cert-publickey-file)")


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


@dataclass(frozen=True)
class TokenContext:
    """What a token rule looks at: the token's header and payload, the time, and the expected values.

    ``verification`` is the outcome of :func:`qs_jwt.inspect_token`; None (or a verification
    without a key) means the signature was not checked.
    """

    header: Mapping[str, Any]
    payload: Mapping[str, Any]
    now: float
    leeway: float = 0.0
    issuer: str | None = None
    keyid: str | None = None
    audience: str | None = None
    userid_claim: str = "userId"
    userdir_claim: str = "userDirectory"
    verification: Verification | None = None

    @property
    def algorithm(self) -> str:
        """The header's ``alg`` when it is a string, else ``""``."""
        alg = self.header.get("alg")
        return alg if isinstance(alg, str) else ""


#: a rule: the findings for one Qlik rule that the token in the context breaks
Rule = Callable[[TokenContext], Iterable[Finding]]


def _number(value: object) -> float | int | None:
    """``value`` when it is a finite JSON number (not a boolean) within NumericDate range, else None."""
    if isinstance(value, int | float) and is_finite_number(value) and abs(value) <= MAX_NUMERIC_DATE:
        return value
    return None


def _is_qscloud_audience(aud: object) -> bool:
    return aud == QSCLOUD_AUDIENCE or (isinstance(aud, list) and QSCLOUD_AUDIENCE in aud)


def _aud_findings(aud: object, expected: str, *, where: str, fix: str, array_severity: str) -> Iterator[Finding]:
    shown = escape_text(expected)
    if aud is None:
        yield Finding("aud", ERROR, f"aud: missing; {where} expects {shown}", fix)
    elif isinstance(aud, list) and expected in aud:
        yield Finding("aud", array_severity, f"aud: {escape_text(aud)} is an array; every Qlik example sends the "
                      "single string", fix)
    elif aud != expected:
        yield Finding("aud", ERROR, f"aud: {escape_text(aud)} is not {shown}", fix)


# --- rules shared by both targets ----------------------------------------------------------------


def _rule_numeric_dates(ctx: TokenContext) -> Iterator[Finding]:
    """iat, nbf, exp: NumericDates, whole seconds since 1970 (spec A.2, D.1)."""
    for claim in ("iat", "nbf", "exp"):
        if claim not in ctx.payload:
            continue
        value = ctx.payload[claim]
        if not is_finite_number(value):
            yield Finding(claim, ERROR, f"{claim}: {escape_text(value)} is not a number of seconds",
                          _NUMERIC_DATE_FIX.format(claim=claim))
        elif abs(value) > MAX_NUMERIC_DATE:
            yield Finding(claim, ERROR, f"{claim}: {escape_text(value)} is beyond the year 9999",
                          _NUMERIC_DATE_FIX.format(claim=claim))


def _validity(ctx: TokenContext, *, iat_severity: str) -> Iterator[Finding]:
    now, leeway = ctx.now, ctx.leeway
    exp, nbf, iat = (_number(ctx.payload.get(claim)) for claim in ("exp", "nbf", "iat"))
    if exp is not None and now >= exp + leeway:
        yield Finding("exp", ERROR, f"exp: the token expired {format_duration(now - exp)} ago",
                      "make a new token just before it is used")
    if nbf is not None and now + leeway < nbf:
        yield Finding("nbf", ERROR, f"nbf: the token is not valid for another {format_duration(nbf - now)}",
                      "set nbf to the current time; check the clock of the machine that made the token")
    if iat is not None and now + leeway < iat:
        yield Finding("iat", iat_severity, f"iat: the token was issued {format_duration(iat - now)} in the future",
                      "check the clock of the machine that made the token")


def _rule_signature(ctx: TokenContext) -> Iterator[Finding]:
    """signature: verifies with the certificate configured in Qlik (spec A.4, D.1)."""
    verification = ctx.verification
    if verification is not None and verification.signature is False:
        yield Finding("signature", ERROR, f"signature: {verification.signature_error or 'does not verify'}",
                      _SIGNATURE_FIX)


# --- Qlik Cloud ----------------------------------------------------------------------------------


def _rule_target_qscloud(ctx: TokenContext) -> Iterator[Finding]:
    """target: Qlik Cloud identifies users by sub/subType, not a virtual proxy's user claims (spec A.2, D.1)."""
    payload = ctx.payload
    names = [name for name in payload if _QSEOW_USER_CLAIM.search(name)]
    if not names:
        return
    if "sub" not in payload and "subType" not in payload:
        reason = "no sub or subType"
    elif "aud" in payload and not _is_qscloud_audience(payload["aud"]):
        reason = f"aud {escape_text(payload['aud'])}"
    else:
        return
    yield Finding("target", ERROR, f"target: the token looks like one for a QSEoW virtual proxy, not Qlik Cloud "
                  f"(it has {escape_text(names)} and {reason})",
                  "to check it for a QSEoW virtual proxy, run check with --target qseow (in Python: check_qseow); "
                  "for Qlik Cloud, make it with create-qscloud")


def _rule_alg_qscloud(ctx: TokenContext) -> Iterator[Finding]:
    """alg: Qlik Cloud requires RS256, never an HS* algorithm (spec A.1)."""
    alg = ctx.algorithm
    if alg.upper().startswith("HS"):
        yield Finding("alg", ERROR, f"alg: {escape_text(alg)} is a shared-secret algorithm; Qlik Cloud requires "
                      "an asymmetric one", "sign with RS256 and an RSA private key")
    elif alg in ("RS384", "RS512"):
        yield Finding("alg", WARNING, f"alg: {alg} is not documented for Qlik Cloud JWT identity providers",
                      "sign with RS256, the algorithm Qlik documents")
    elif alg != "RS256":
        yield Finding("alg", ERROR, f"alg: {escape_text(alg)} is not accepted; Qlik Cloud documents RS256",
                      "sign with RS256")


def _rule_kid(ctx: TokenContext) -> Iterator[Finding]:
    """kid: in the header, equal to the identity provider's key id (spec A.1)."""
    kid = ctx.header.get("kid")
    if kid is None:
        yield Finding("kid", ERROR, "kid: missing from the header; Qlik Cloud matches it with the identity "
                      "provider's key id",
                      "put the identity provider's key id in the header kid (create-qscloud --keyid)")
    elif not isinstance(kid, str) or not kid:
        yield Finding("kid", ERROR, f"kid: {escape_text(kid)} is not a non-empty string",
                      "put the identity provider's key id in the header kid, as text (create-qscloud --keyid)")
    elif ctx.keyid is not None and kid != ctx.keyid:
        yield Finding("kid", ERROR, f"kid: {escape_text(kid)} does not match the identity provider's key id "
                      f"{escape_text(ctx.keyid)}",
                      "put the identity provider's key id in the header kid (create-qscloud --keyid); if the "
                      "identity provider has another key id, run check with --keyid KEYID")


def _rule_kid_in_payload(ctx: TokenContext) -> Iterator[Finding]:
    """kid: read from the JWT header, not the payload (spec A.1)."""
    if "kid" in ctx.payload and "kid" not in ctx.header:
        yield Finding("kid", ERROR, "kid: found in the payload; Qlik Cloud reads it from the header",
                      "move kid into the JWT header (create-qscloud --keyid puts it there)")


def _rule_typ(ctx: TokenContext) -> Iterator[Finding]:
    """typ: "JWT" in every Qlik example (spec A.1)."""
    typ = ctx.header.get("typ")
    if typ not in (None, "JWT"):
        yield Finding("typ", WARNING, f"typ: {escape_text(typ)} is unusual; Qlik's examples use \"JWT\"",
                      "set the header typ to \"JWT\", or leave it out")


def _rule_iss(ctx: TokenContext) -> Iterator[Finding]:
    """iss: equal to the identity provider's issuer (spec A.2)."""
    iss = ctx.payload.get("iss")
    if iss is None:
        yield Finding("iss", ERROR, "iss: missing; it must equal the identity provider's issuer",
                      "set iss to the issuer configured in Qlik Cloud (create-qscloud --issuer)")
    elif not isinstance(iss, str) or not iss:
        yield Finding("iss", ERROR, f"iss: {escape_text(iss)} is not a non-empty string",
                      "set iss to the issuer configured in Qlik Cloud, as text (create-qscloud --issuer)")
    elif ctx.issuer is not None and iss != ctx.issuer:
        yield Finding("iss", ERROR, f"iss: {escape_text(iss)} does not match the identity provider's issuer "
                      f"{escape_text(ctx.issuer)}",
                      "set iss to exactly the issuer configured in Qlik Cloud (create-qscloud --issuer); if Qlik "
                      "Cloud has another issuer, run check with --issuer ISSUER")


def _rule_aud_qscloud(ctx: TokenContext) -> Iterator[Finding]:
    """aud: exactly the string "qlik.api/login/jwt-session" (spec A.2)."""
    yield from _aud_findings(ctx.payload.get("aud"), QSCLOUD_AUDIENCE, where="Qlik Cloud",
                             fix=f"set aud to {escape_text(QSCLOUD_AUDIENCE)}", array_severity=ERROR)


def _rule_sub(ctx: TokenContext) -> Iterator[Finding]:
    """sub: the user's stable subject; a new sub makes a new user (spec A.2, A.5, G.1)."""
    payload = ctx.payload
    sub = payload.get("sub")
    if sub is None:
        yield Finding("sub", ERROR, "sub: missing; Qlik Cloud identifies the user by it",
                      "set sub to the user's stable id (create-qscloud --sub)")
    elif not isinstance(sub, str) or not sub:
        yield Finding("sub", ERROR, f"sub: {escape_text(sub)} is not a non-empty string",
                      "set sub to the user's stable id, as text (create-qscloud --sub)")
    elif _RANDOM_SUB.fullmatch(sub) and sub not in (payload.get("email"), payload.get("name")):
        yield Finding("sub", WARNING, "sub: looks like a random value made for this token (as the Node qs-jwt "
                      "tool does); every new sub creates a new user in Qlik Cloud",
                      "give each person one stable sub (create-qscloud --sub; it defaults to the email)")


def _rule_subtype(ctx: TokenContext) -> Iterator[Finding]:
    """subType: "user", the only applicable value (spec A.2)."""
    sub_type = ctx.payload.get("subType")
    if sub_type is None:
        yield Finding("subType", ERROR, "subType: missing; Qlik Cloud expects \"user\"", "set subType to \"user\"")
    elif sub_type != "user":
        yield Finding("subType", ERROR, f"subType: {escape_text(sub_type)} is not \"user\"",
                      "set subType to \"user\"")


def _rule_name(ctx: TokenContext) -> Iterator[Finding]:
    """name: the user's display name, a claim Qlik Cloud reads (spec A.2)."""
    name = ctx.payload.get("name")
    if name is None:
        yield Finding("name", ERROR, "name: missing; Qlik Cloud lists name among the claims it reads",
                      "set name to the user's display name (create-qscloud --username)")
    elif not isinstance(name, str) or not name.strip():
        yield Finding("name", ERROR, f"name: {escape_text(name)} is not a non-empty string",
                      "set name to the user's display name, as text (create-qscloud --username)")


def _rule_email(ctx: TokenContext) -> Iterator[Finding]:
    """email: a string when present (spec A.2)."""
    email = ctx.payload.get("email")
    if email is not None and not isinstance(email, str):
        yield Finding("email", ERROR, f"email: {escape_text(email)} is not a string",
                      "set email to the user's address, as text (create-qscloud --useremail)")


def _rule_email_verified(ctx: TokenContext) -> Iterator[Finding]:
    """email_verified: a JSON boolean; only verified addresses are shown (spec A.2, G.3)."""
    payload = ctx.payload
    email = payload.get("email")
    if "email_verified" in payload:
        verified = payload["email_verified"]
        if not isinstance(verified, bool):
            kind = "string" if isinstance(verified, str) else type(verified).__name__
            yield Finding("email_verified", ERROR, f"email_verified: {escape_text(verified)} is a {kind}; Qlik "
                          "Cloud expects a JSON boolean",
                          "send true or false without quotes (create-qscloud --useremail-verified true)")
        elif verified is False and email is not None:
            yield Finding("email_verified", WARNING, "email_verified: false; Qlik Cloud shows only verified email "
                          "addresses", "send true once the address is known to be the user's "
                          "(create-qscloud --useremail-verified true)")
    elif email is not None:
        yield Finding("email_verified", WARNING, "email_verified: missing; Qlik Cloud shows only verified email "
                      "addresses", "add email_verified: true when the address is the user's "
                      "(create-qscloud --useremail-verified true)")


def _rule_groups(ctx: TokenContext) -> Iterator[Finding]:
    """groups: an array of group names, the claim named 'groups' (spec A.2, G.2)."""
    payload = ctx.payload
    if "group" in payload and "groups" not in payload:
        yield Finding("groups", ERROR, "groups: claim 'group' is not read by Qlik Cloud; rename it to 'groups'",
                      "send the groups as an array named 'groups' (create-qscloud --groups)")
    groups = payload.get("groups")
    if groups is not None and (not isinstance(groups, list) or not all(isinstance(g, str) for g in groups)):
        yield Finding("groups", ERROR, f"groups: {escape_text(groups)} is not an array of strings",
                      "send groups as an array of group names, e.g. [\"Sales\"] (create-qscloud --groups)")


def _rule_jti(ctx: TokenContext) -> Iterator[Finding]:
    """jti: a unique id per token, required since June 2022 (spec A.2, A.3)."""
    jti = ctx.payload.get("jti")
    if jti is None:
        yield Finding("jti", ERROR, "jti: missing; required by Qlik Cloud since June 2022 to prevent token reuse",
                      "add a unique random jti to every token (create-qscloud does)")
    elif not isinstance(jti, str) or not jti:
        yield Finding("jti", ERROR, f"jti: {escape_text(jti)} is not a non-empty string",
                      "use a random string, e.g. 32 random bytes in base64url")


_QSCLOUD_TIME_CLAIMS = (
    ("iat", "iat: missing; Qlik Cloud requires the issue time", "set iat to the current time"),
    ("nbf", 'nbf: missing; Qlik answers "JWT_LOGIN_VALIDATIONS Missing required claim: nbf"',
     "set nbf to the issue time"),
    ("exp", "exp: missing; Qlik Cloud requires an expiry at most 3600 s after nbf", "set exp to at most nbf + 3600"),
)


def _rule_time_claims_qscloud(ctx: TokenContext) -> Iterator[Finding]:
    """iat, nbf, exp: all three present; nbf required since June 2022 (spec A.2, A.6)."""
    for claim, message, fix in _QSCLOUD_TIME_CLAIMS:
        if claim not in ctx.payload:
            yield Finding(claim, ERROR, message, fix)


def _rule_lifetime_qscloud(ctx: TokenContext) -> Iterator[Finding]:
    """lifetime: exp at most 3600 s after nbf and iat, and after nbf (spec A.3)."""
    exp, nbf, iat = (_number(ctx.payload.get(claim)) for claim in ("exp", "nbf", "iat"))
    if exp is None:
        return
    too_long = [(name, start) for name, start in (("nbf", nbf), ("iat", iat))
                if start is not None and exp - start > QSCLOUD_MAX_LIFETIME]
    if too_long:
        name, start = too_long[0]
        yield Finding("lifetime", ERROR, f"lifetime: {format_duration(exp - start)} between {name} and exp exceeds "
                      f"Qlik Cloud's {QSCLOUD_MAX_LIFETIME} s",
                      "make tokens that expire within an hour (create-qscloud --expires 5m) and mint one per login")
    if nbf is not None and exp <= nbf:
        yield Finding("lifetime", ERROR, "lifetime: exp is not after nbf", "set exp later than nbf")


def _rule_validity_qscloud(ctx: TokenContext) -> Iterator[Finding]:
    """exp, nbf, iat: not expired, not yet valid or issued in the future (spec A.2, A.3)."""
    yield from _validity(ctx, iat_severity=ERROR)


#: The rules of Qlik Cloud's ``/login/jwt-session``, in report order.
QSCLOUD_RULES: tuple[Rule, ...] = (
    _rule_target_qscloud,
    _rule_alg_qscloud,
    _rule_kid,
    _rule_kid_in_payload,
    _rule_typ,
    _rule_iss,
    _rule_aud_qscloud,
    _rule_sub,
    _rule_subtype,
    _rule_name,
    _rule_email,
    _rule_email_verified,
    _rule_groups,
    _rule_jti,
    _rule_time_claims_qscloud,
    _rule_lifetime_qscloud,
    _rule_numeric_dates,
    _rule_validity_qscloud,
    _rule_signature,
)


# --- QSEoW ---------------------------------------------------------------------------------------


def _rule_target_qseow(ctx: TokenContext) -> Iterator[Finding]:
    """target: a virtual proxy reads its user-ID claim, not Qlik Cloud's aud and subType (spec D.1, A.2)."""
    payload = ctx.payload
    if any(name.lower() == ctx.userid_claim.lower() for name in payload):
        return
    if _is_qscloud_audience(payload.get("aud")):
        reason = f"aud {escape_text(QSCLOUD_AUDIENCE)}"
    elif "subType" in payload:
        reason = "a subType claim"
    else:
        return
    yield Finding("target", ERROR, f"target: the token looks like one for Qlik Cloud, not a QSEoW virtual proxy "
                  f"(it has {reason} and no {escape_text(ctx.userid_claim)} claim)",
                  "to check it for Qlik Cloud, run check with --target qscloud (in Python: check_qscloud); "
                  "for a QSEoW virtual proxy, make it with create-qseow")


def _rule_alg_qseow(ctx: TokenContext) -> Iterator[Finding]:
    """alg: a virtual proxy supports RS256, RS384 and RS512 only (spec D.1)."""
    alg = ctx.algorithm
    if alg not in ("RS256", "RS384", "RS512"):
        yield Finding("alg", ERROR, f"alg: {escape_text(alg)} is not accepted; a QSEoW virtual proxy supports "
                      "RS256, RS384 and RS512 only", "sign with RS256 and an RSA private key")


def _identity_claim(ctx: TokenContext, claim: str, what: str, value_option: str,
                    claim_option: str) -> Iterator[Finding]:
    value = ctx.payload.get(claim)
    shown = escape_text(claim)
    if claim in ctx.payload:
        if not isinstance(value, str) or not value.strip():
            yield Finding(claim, ERROR, f"{claim}: {escape_text(value)} is not a non-empty string",
                          f"set {shown} to the {what}, as text (create-qseow {value_option})")
        return
    near = [name for name in ctx.payload if name.lower() == claim.lower()]
    if near:
        other = escape_text(near[0])
        yield Finding(claim, ERROR, f"{claim}: missing, but {other} is present; claim names are case-sensitive",
                      f"rename the claim {other} to {shown} (create-qseow {claim_option} {shown}); if the virtual "
                      f"proxy's JWT attribute for {what} is {other}, run check with {claim_option} {other}")
    else:
        yield Finding(claim, ERROR, f"{claim}: missing; the virtual proxy reads the {what} from it",
                      f"add the {what} as the claim {shown} (create-qseow {value_option} with {claim_option} "
                      f"{shown}); if the virtual proxy uses another claim name, run check with {claim_option} NAME")


def _rule_user_id(ctx: TokenContext) -> Iterator[Finding]:
    """The "JWT attribute for user ID" claim: present, non-empty, exact case (spec D.1, D.4)."""
    yield from _identity_claim(ctx, ctx.userid_claim, "user ID", "--userid", "--userid-claim")


def _rule_user_directory(ctx: TokenContext) -> Iterator[Finding]:
    """The "JWT attribute for user directory" claim: present, non-empty, exact case (spec D.1, D.4)."""
    yield from _identity_claim(ctx, ctx.userdir_claim, "user directory", "--userdir", "--userdir-claim")


def _rule_aud_qseow(ctx: TokenContext) -> Iterator[Finding]:
    """aud: equal to the virtual proxy's audience, when one is expected (spec D.1)."""
    if ctx.audience is None:
        return
    fix = (f"set aud to {escape_text(ctx.audience)} (create-qseow --audience); if the virtual proxy has another "
           "audience, run check with --audience AUDIENCE")
    # an array is probably fine for the proxy, but unconfirmed: a warning
    yield from _aud_findings(ctx.payload.get("aud"), ctx.audience, where="the virtual proxy", fix=fix,
                             array_severity=WARNING)


def _rule_attributes_qseow(ctx: TokenContext) -> Iterator[Finding]:
    """name, email: text, as attribute-mapping claims are (spec D.1)."""
    for name, option in (("name", "--username"), ("email", "--useremail")):
        if name in ctx.payload and not isinstance(ctx.payload[name], str):
            yield Finding(name, WARNING, f"{name}: {escape_text(ctx.payload[name])} is not a string",
                          f"send {name} as text (create-qseow {option})")


def _rule_exp_qseow(ctx: TokenContext) -> Iterator[Finding]:
    """exp: not required by a virtual proxy, but a token without it never expires (spec D.1)."""
    if "exp" not in ctx.payload:
        yield Finding("exp", WARNING, "exp: missing; the token never expires and works for anyone who copies it",
                      "set an expiry (create-qseow --expires)")


def _rule_validity_qseow(ctx: TokenContext) -> Iterator[Finding]:
    """exp, nbf: not expired, not yet valid; iat in the future only warns, as undocumented (spec D.1)."""
    yield from _validity(ctx, iat_severity=WARNING)


#: The rules of a QSEoW JWT virtual proxy, in report order.
QSEOW_RULES: tuple[Rule, ...] = (
    _rule_target_qseow,
    _rule_alg_qseow,
    _rule_user_id,
    _rule_user_directory,
    _rule_aud_qseow,
    _rule_attributes_qseow,
    _rule_exp_qseow,
    _rule_numeric_dates,
    _rule_validity_qseow,
    _rule_signature,
)


# --- running the rules ---------------------------------------------------------------------------


def _text(value: object, param: str, what: str) -> str:
    """``value`` when it is a non-blank string; else the error naming ``param``."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"expected {what}, not {type(value).__name__}", param=param)
    if not value.strip():
        raise InvalidValueError(f"expected {what}, not empty or blank text", param=param)
    return value


def _inspect(token: str, key: Any, leeway: float, now: float | None) -> tuple[Verification, float, float]:
    """Verify what can be verified; ``(verification, leeway, now)`` with both numbers checked and resolved.

    :raises InvalidValueError: ``leeway`` or ``now`` is not a number of seconds in range
        (:class:`ArgumentTypeError` when not a number at all).
    """
    current = _clock.resolve(now)
    verification = inspect_token(token, key=key, leeway=leeway, now=current)
    return verification, float(leeway), current


def _report(target: str, rules: tuple[Rule, ...], context: TokenContext, verification: Verification) -> CheckReport:
    report = CheckReport(target, decoded=verification.decoded, verification=verification)
    for rule in rules:
        report.findings.extend(rule(context))
    return report


def check_qscloud(
    token: str,
    *,
    issuer: str | None = None,
    keyid: str | None = None,
    key: Any = None,
    leeway: float = 0,
    now: float | None = None,
) -> CheckReport:
    """Every rule of Qlik Cloud's ``/login/jwt-session`` that ``token`` breaks (see :data:`QSCLOUD_RULES`).

    :param issuer: the identity provider's issuer, to compare with ``iss``.
    :param keyid: the identity provider's key id, to compare with the header ``kid``.
    :param key: the identity provider's certificate or public key (or a JWK set) to verify the signature.
    :param leeway: seconds of clock skew tolerated for ``exp``, ``nbf`` and ``iat``.
    :raises TokenFormatError: the token is not a well-formed signed JWT at all.
    :raises InvalidValueError: a parameter has a bad value (:class:`ArgumentTypeError`: a wrong type).
    """
    issuer = None if issuer is None else _text(issuer, "issuer", "the iss configured in Qlik Cloud")
    keyid = None if keyid is None else _text(keyid, "keyid", "the identity provider's key id")
    verification, seconds, current = _inspect(token, key, leeway, now)
    decoded = verification.decoded
    context = TokenContext(decoded.header, decoded.payload, current, seconds, issuer=issuer, keyid=keyid,
                           verification=verification)
    return _report("qscloud", QSCLOUD_RULES, context, verification)


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
    """Every rule of a QSEoW JWT virtual proxy that ``token`` breaks (see :data:`QSEOW_RULES`).

    :param audience: the virtual proxy's audience, to compare with ``aud``.
    :param userid_claim: the virtual proxy's "JWT attribute for user ID" (case-sensitive).
    :param userdir_claim: the virtual proxy's "JWT attribute for user directory".
    :param key: the virtual proxy's certificate (or a public key, or a JWK set).
    :param leeway: seconds of clock skew tolerated for ``exp``, ``nbf`` and ``iat``.
    :raises TokenFormatError: the token is not a well-formed signed JWT at all.
    :raises InvalidValueError: a parameter has a bad value (:class:`ArgumentTypeError`: a wrong type).
    """
    userid_claim = _text(userid_claim, "userid_claim", "a claim name")
    userdir_claim = _text(userdir_claim, "userdir_claim", "a claim name")
    audience = None if audience is None else _text(audience, "audience", "the aud the virtual proxy requires")
    verification, seconds, current = _inspect(token, key, leeway, now)
    decoded = verification.decoded
    context = TokenContext(decoded.header, decoded.payload, current, seconds, audience=audience,
                           userid_claim=userid_claim, userdir_claim=userdir_claim, verification=verification)
    return _report("qseow", QSEOW_RULES, context, verification)


# --- keys and certificates -----------------------------------------------------------------------


def _key_findings(info: KeyInfo) -> Iterator[Finding]:
    """Key type, size, exponent and ROCA: an RSA key of at least 2048 bits (spec A.4, D.1)."""
    if info.key_type != "RSA":
        yield Finding("key-type", ERROR, f"key type: {info.key_type}; Qlik JWTs are signed and verified with RSA",
                      "create an RSA key (qs-jwt cert create)")
        return
    if info.key_size < 2048:
        yield Finding("key-size", ERROR, f"key size: {info.key_size} bits; at least 2048 are required",
                      "create a new key of 4096 bits (qs-jwt cert create)")
    if info.public_exponent != 65537:
        yield Finding("exponent", ERROR, f"public exponent: {info.public_exponent}; 65537 is required",
                      "create a new key (qs-jwt cert create)")
    if info.public_key is not None and roca_vulnerable(info.public_key.public_numbers().n):
        yield Finding("roca", ERROR, "key has the ROCA weakness (CVE-2017-15361)", "replace the key")


def _consistency_findings(data: bytes, passphrase: bytes | str | None, source: str | None) -> Iterator[Finding]:
    """The full RSA consistency check of a private key (spec A.4)."""
    try:
        validate_private_key(data, passphrase=passphrase, source=source)
    except KeyLoadError as exc:
        if exc.code == KEY_DAMAGED:
            yield Finding("consistency", ERROR, f"private key: {exc.reason}", "replace the key")
        elif exc.code != KEY_WEAK:  # a weak key is reported by the key-size, exponent and roca rules
            raise


def _permission_findings(path: str | None) -> Iterator[Finding]:
    """A private key file readable by its owner only (security bar, section 2)."""
    if path is None or path == "-":
        return
    problem = private_key_file_problem(path)
    if problem is not None:
        yield Finding("permissions", WARNING, f"permissions: {problem}; a private key must be readable by its "
                      "owner only", f"chmod 600 {shlex.quote(path)}")


def _certificate_findings(cert: Certificate, now: float) -> Iterator[Finding]:
    """Certificate dates and signature hash, for the certificate configured in Qlik (spec A.4, D.1)."""
    current = _dt.datetime.fromtimestamp(now, tz=_dt.UTC)
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    if current < not_before:
        yield Finding("not-before", ERROR, f"certificate: not valid before {not_before:%Y-%m-%d %H:%M} UTC",
                      "wait, or create a certificate that is valid now")
    if current > not_after:
        yield Finding("not-after", ERROR, f"certificate: expired on {not_after:%Y-%m-%d %H:%M} UTC",
                      "create a new certificate and configure it in Qlik")
    elif (not_after - current).days < 30:
        yield Finding("not-after", WARNING, f"certificate: expires on {not_after:%Y-%m-%d} UTC",
                      "plan its replacement")
    hash_alg = cert.signature_hash_algorithm
    if hash_alg is not None and hash_alg.name in ("sha1", "md5"):
        yield Finding("signature-hash", WARNING, f"certificate: signed with {hash_alg.name.upper()}",
                      "create a new certificate signed with SHA-256 (qs-jwt cert create)")


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
    :raises InvalidValueError: ``now`` is not a number of seconds in range.
    """
    current = _clock.resolve(now)
    if path is not None and not isinstance(path, str):
        raise ArgumentTypeError(f"expected the key file's path as text, not {type(path).__name__}", param="path")
    info = describe_key_material(data, source=source, passphrase=passphrase)
    report = CheckReport("key")
    report.findings.extend(_key_findings(info))
    if info.kind == "private key" and info.key_type == "RSA":
        report.findings.extend(_consistency_findings(data, passphrase if info.encrypted else None, source))
        report.findings.extend(_permission_findings(path))
    if info.certificate is not None:
        report.findings.extend(_certificate_findings(info.certificate, current))
    return report
