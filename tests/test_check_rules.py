"""Each rule of check_qscloud and check_qseow on its own, with hand-built headers and payloads (no signing)."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest

from conftest import FIXED_NOW
from qs_jwt.checks import QSCLOUD_RULES, QSEOW_RULES, TokenContext
from qs_jwt.claims import QSCLOUD_AUDIENCE
from qs_jwt.tokens import DecodedToken, Verification

NOW = float(FIXED_NOW)
RULES = {rule.__name__: rule for rule in (*QSCLOUD_RULES, *QSEOW_RULES)}
QSEOW_ONLY = {rule.__name__ for rule in QSEOW_RULES} - {rule.__name__ for rule in QSCLOUD_RULES}
DROP = object()  # a change that removes the claim or header field

CLOUD_HEADER: dict[str, Any] = {"alg": "RS256", "typ": "JWT", "kid": "key-1"}
CLOUD_PAYLOAD: dict[str, Any] = {
    "iss": "my-app", "aud": QSCLOUD_AUDIENCE, "sub": "alice-42", "subType": "user", "name": "Alice",
    "email": "alice@example.com", "email_verified": True, "groups": ["Sales"], "jti": "j" * 43,
    "iat": FIXED_NOW, "nbf": FIXED_NOW, "exp": FIXED_NOW + 300,
}
QSEOW_HEADER: dict[str, Any] = {"alg": "RS256", "typ": "JWT"}
QSEOW_PAYLOAD: dict[str, Any] = {
    "userId": "alice", "userDirectory": "CORP", "aud": "qlik-vp", "name": "Alice", "email": "alice@example.com",
    "iat": FIXED_NOW, "exp": FIXED_NOW + 600,
}

# the fixes that several cases share, written out once
KID_FIX = "put the identity provider's key id in the header kid (create-qscloud --keyid)"
KID_TEXT_FIX = "put the identity provider's key id in the header kid, as text (create-qscloud --keyid)"
ISS_TEXT_FIX = "set iss to the issuer configured in Qlik Cloud, as text (create-qscloud --issuer)"
CLOUD_AUD_FIX = 'set aud to "qlik.api/login/jwt-session"'
QSEOW_AUD_FIX = ('set aud to "qlik-vp" (create-qseow --audience); if the virtual proxy has another audience, '
                 "run check with --audience AUDIENCE")
SUB_TEXT_FIX = "set sub to the user's stable id, as text (create-qscloud --sub)"
SUBTYPE_FIX = 'set subType to "user"'
NAME_TEXT_FIX = "set name to the user's display name, as text (create-qscloud --username)"
VERIFIED_TYPE_FIX = "send true or false without quotes (create-qscloud --useremail-verified true)"
GROUPS_TYPE_FIX = 'send groups as an array of group names, e.g. ["Sales"] (create-qscloud --groups)'
JTI_TEXT_FIX = "use a random string, e.g. 32 random bytes in base64url"
LIFETIME_FIX = "make tokens that expire within an hour (create-qscloud --expires 5m) and mint one per login"
TARGET_QSEOW_FIX = ("to check it for a QSEoW virtual proxy, run check with --target qseow (in Python: check_qseow); "
                    "for Qlik Cloud, make it with create-qscloud")
TARGET_QSCLOUD_FIX = ("to check it for Qlik Cloud, run check with --target qscloud (in Python: check_qscloud); "
                      "for a QSEoW virtual proxy, make it with create-qseow")
SIGNATURE_FIX = ("sign with the private key whose certificate is configured in Qlik, and give check that "
                 "certificate (--cert-publickey-file)")
CLOCK_FIX = "check the clock of the machine that made the token"
USERID_VALUE_FIX = 'set "userId" to the user ID, as text (create-qseow --userid)'


def _changed(base: dict[str, Any], changes: dict[str, Any] | None) -> dict[str, Any]:
    result = dict(base)
    for name, value in (changes or {}).items():
        if value is DROP:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def context(rule: str, *, header: dict[str, Any] | None = None, payload: dict[str, Any] | None = None,
            **options: Any) -> TokenContext:
    """The target's good token with ``header`` and ``payload`` changes, as the context of ``rule``."""
    qseow = rule in QSEOW_ONLY
    options.setdefault("now", NOW)
    return TokenContext(_changed(QSEOW_HEADER if qseow else CLOUD_HEADER, header),
                        _changed(QSEOW_PAYLOAD if qseow else CLOUD_PAYLOAD, payload), **options)


def verification(signature: bool | None, error: str | None = None) -> Verification:
    decoded = DecodedToken(token="", header={}, payload={}, signature=b"")
    return Verification(decoded=decoded, signature=signature, signature_error=error)


def fails(rule: str, expected: list[tuple[str, str, str]], *, label: str, **changes: Any) -> Any:
    return pytest.param(rule, changes, expected, id=f"{rule}-{label}")


def passes(rule: str, *, label: str, **changes: Any) -> Any:
    return pytest.param(rule, changes, id=f"{rule}-{label}")


FAILING = [
    # --- Qlik Cloud ---
    fails("_rule_target_qscloud", [("target", "error", TARGET_QSEOW_FIX)], label="qseow-claims-no-sub",
          payload={"sub": DROP, "subType": DROP, "userId": "alice", "userDirectory": "CORP"}),
    fails("_rule_target_qscloud", [("target", "error", TARGET_QSEOW_FIX)], label="userdir-and-proxy-aud",
          payload={"UserDirectory": "CORP", "aud": "qlik-vp"}),
    fails("_rule_alg_qscloud", [("alg", "error", "sign with RS256 and an RSA private key")], label="hs256",
          header={"alg": "HS256"}),
    fails("_rule_alg_qscloud", [("alg", "warning", "sign with RS256, the algorithm Qlik documents")], label="rs512",
          header={"alg": "RS512"}),
    fails("_rule_alg_qscloud", [("alg", "error", "sign with RS256")], label="ps256", header={"alg": "PS256"}),
    fails("_rule_alg_qscloud", [("alg", "error", "sign with RS256")], label="not-text", header={"alg": 5}),
    fails("_rule_kid", [("kid", "error", KID_FIX)], label="missing", header={"kid": DROP}),
    fails("_rule_kid", [("kid", "error", KID_TEXT_FIX)], label="empty", header={"kid": ""}),
    fails("_rule_kid", [("kid", "error", KID_TEXT_FIX)], label="number", header={"kid": 7}),
    fails("_rule_kid", [("kid", "error", "put the identity provider's key id in the header kid (create-qscloud "
                         "--keyid); if the identity provider has another key id, run check with --keyid KEYID")],
          label="mismatch", keyid="key-2"),
    fails("_rule_kid_in_payload", [("kid", "error", "move kid into the JWT header (create-qscloud --keyid puts it "
                                    "there)")], label="in-payload", header={"kid": DROP}, payload={"kid": "key-1"}),
    fails("_rule_typ", [("typ", "warning", 'set the header typ to "JWT", or leave it out')], label="at+jwt",
          header={"typ": "at+jwt"}),
    fails("_rule_iss", [("iss", "error", "set iss to the issuer configured in Qlik Cloud (create-qscloud "
                         "--issuer)")], label="missing", payload={"iss": DROP}),
    fails("_rule_iss", [("iss", "error", ISS_TEXT_FIX)], label="empty", payload={"iss": ""}),
    fails("_rule_iss", [("iss", "error", ISS_TEXT_FIX)], label="number", payload={"iss": 5}),
    fails("_rule_iss", [("iss", "error", "set iss to exactly the issuer configured in Qlik Cloud (create-qscloud "
                         "--issuer); if Qlik Cloud has another issuer, run check with --issuer ISSUER")],
          label="mismatch", issuer="other-app"),
    fails("_rule_aud_qscloud", [("aud", "error", CLOUD_AUD_FIX)], label="missing", payload={"aud": DROP}),
    fails("_rule_aud_qscloud", [("aud", "error", CLOUD_AUD_FIX)], label="other", payload={"aud": "qlik.api"}),
    fails("_rule_aud_qscloud", [("aud", "error", CLOUD_AUD_FIX)], label="array", payload={"aud": [QSCLOUD_AUDIENCE]}),
    fails("_rule_aud_qscloud", [("aud", "error", CLOUD_AUD_FIX)], label="number", payload={"aud": 42}),
    fails("_rule_sub", [("sub", "error", "set sub to the user's stable id (create-qscloud --sub)")], label="missing",
          payload={"sub": DROP}),
    fails("_rule_sub", [("sub", "error", SUB_TEXT_FIX)], label="empty", payload={"sub": ""}),
    fails("_rule_sub", [("sub", "error", SUB_TEXT_FIX)], label="number", payload={"sub": 42}),
    fails("_rule_sub", [("sub", "warning", "give each person one stable sub (create-qscloud --sub; it defaults to "
                         "the email)")], label="random", payload={"sub": "x" * 56}),
    fails("_rule_subtype", [("subType", "error", SUBTYPE_FIX)], label="missing", payload={"subType": DROP}),
    fails("_rule_subtype", [("subType", "error", SUBTYPE_FIX)], label="service", payload={"subType": "service"}),
    fails("_rule_name", [("name", "error", "set name to the user's display name (create-qscloud --username)")],
          label="missing", payload={"name": DROP}),
    fails("_rule_name", [("name", "error", NAME_TEXT_FIX)], label="blank", payload={"name": "  "}),
    fails("_rule_name", [("name", "error", NAME_TEXT_FIX)], label="number", payload={"name": 1}),
    fails("_rule_email", [("email", "error", "set email to the user's address, as text (create-qscloud "
                           "--useremail)")], label="number", payload={"email": 42}),
    fails("_rule_email_verified", [("email_verified", "error", VERIFIED_TYPE_FIX)], label="string",
          payload={"email_verified": "true"}),
    fails("_rule_email_verified", [("email_verified", "error", VERIFIED_TYPE_FIX)], label="number",
          payload={"email_verified": 1}),
    fails("_rule_email_verified", [("email_verified", "warning", "send true once the address is known to be the "
                                    "user's (create-qscloud --useremail-verified true)")], label="false",
          payload={"email_verified": False}),
    fails("_rule_email_verified", [("email_verified", "warning", "add email_verified: true when the address is the "
                                    "user's (create-qscloud --useremail-verified true)")], label="missing",
          payload={"email_verified": DROP}),
    fails("_rule_groups", [("groups", "error", "send the groups as an array named 'groups' (create-qscloud "
                            "--groups)")], label="singular", payload={"groups": DROP, "group": ["Sales"]}),
    fails("_rule_groups", [("groups", "error", GROUPS_TYPE_FIX)], label="string", payload={"groups": "Sales"}),
    fails("_rule_groups", [("groups", "error", GROUPS_TYPE_FIX)], label="number-inside",
          payload={"groups": ["Sales", 3]}),
    fails("_rule_jti", [("jti", "error", "add a unique random jti to every token (create-qscloud does)")],
          label="missing", payload={"jti": DROP}),
    fails("_rule_jti", [("jti", "error", JTI_TEXT_FIX)], label="empty", payload={"jti": ""}),
    fails("_rule_jti", [("jti", "error", JTI_TEXT_FIX)], label="number", payload={"jti": 12345}),
    fails("_rule_time_claims_qscloud", [("nbf", "error", "set nbf to the issue time")], label="nbf",
          payload={"nbf": DROP}),
    fails("_rule_time_claims_qscloud",
          [("iat", "error", "set iat to the current time"), ("nbf", "error", "set nbf to the issue time"),
           ("exp", "error", "set exp to at most nbf + 3600")], label="all",
          payload={"iat": DROP, "nbf": DROP, "exp": DROP}),
    fails("_rule_lifetime_qscloud", [("lifetime", "error", LIFETIME_FIX)], label="year",
          payload={"exp": FIXED_NOW + 365 * 86_400}),
    fails("_rule_lifetime_qscloud", [("lifetime", "error", LIFETIME_FIX)], label="via-iat",
          payload={"nbf": DROP, "exp": FIXED_NOW + 3601}),
    fails("_rule_lifetime_qscloud", [("lifetime", "error", "set exp later than nbf")], label="exp-is-nbf",
          payload={"exp": FIXED_NOW}),
    fails("_rule_numeric_dates", [("exp", "error", "set exp to a NumericDate (whole seconds since 1970)")],
          label="string", payload={"exp": "1800000300"}),
    fails("_rule_numeric_dates", [("iat", "error", "set iat to a NumericDate (whole seconds since 1970)"),
                                  ("nbf", "error", "set nbf to a NumericDate (whole seconds since 1970)")],
          label="bool-and-null", payload={"iat": True, "nbf": None}),
    fails("_rule_numeric_dates", [("exp", "error", "set exp to a NumericDate (whole seconds since 1970)")],
          label="huge", payload={"exp": 10**400}),
    fails("_rule_numeric_dates", [("exp", "error", "set exp to a NumericDate (whole seconds since 1970)")],
          label="nan", payload={"exp": float("nan")}),
    fails("_rule_validity_qscloud", [("exp", "error", "make a new token just before it is used")], label="expired",
          now=NOW + 300),
    fails("_rule_validity_qscloud", [("nbf", "error", "set nbf to the current time; " + CLOCK_FIX),
                                     ("iat", "error", CLOCK_FIX)], label="future", now=NOW - 60),
    fails("_rule_signature", [("signature", "error", SIGNATURE_FIX)], label="bad",
          verification=verification(False, "signature does not verify with the given key")),
    # --- QSEoW ---
    fails("_rule_target_qseow", [("target", "error", TARGET_QSCLOUD_FIX)], label="cloud-aud",
          payload={"userId": DROP, "aud": QSCLOUD_AUDIENCE}),
    fails("_rule_target_qseow", [("target", "error", TARGET_QSCLOUD_FIX)], label="subtype",
          payload={"userId": DROP, "sub": "alice", "subType": "user"}),
    fails("_rule_alg_qseow", [("alg", "error", "sign with RS256 and an RSA private key")], label="hs256",
          header={"alg": "HS256"}),
    fails("_rule_alg_qseow", [("alg", "error", "sign with RS256 and an RSA private key")], label="ps256",
          header={"alg": "PS256"}),
    fails("_rule_user_id", [("userId", "error", 'add the user ID as the claim "userId" (create-qseow --userid with '
                             '--userid-claim "userId"); if the virtual proxy uses another claim name, run check with '
                             "--userid-claim NAME")], label="missing", payload={"userId": DROP}),
    fails("_rule_user_id", [("userId", "error", 'rename the claim "userid" to "userId" (create-qseow --userid-claim '
                             "\"userId\"); if the virtual proxy's JWT attribute for user ID is \"userid\", run check "
                             'with --userid-claim "userid"')], label="case",
          payload={"userId": DROP, "userid": "alice"}),
    fails("_rule_user_id", [("userId", "error", USERID_VALUE_FIX)], label="empty", payload={"userId": " "}),
    fails("_rule_user_id", [("userId", "error", USERID_VALUE_FIX)], label="list", payload={"userId": ["alice"]}),
    fails("_rule_user_id", [("user", "error", 'add the user ID as the claim "user" (create-qseow --userid with '
                             '--userid-claim "user"); if the virtual proxy uses another claim name, run check with '
                             "--userid-claim NAME")], label="custom-name", userid_claim="user"),
    fails("_rule_user_directory", [("userDirectory", "error", 'add the user directory as the claim "userDirectory" '
                                    '(create-qseow --userdir with --userdir-claim "userDirectory"); if the virtual '
                                    "proxy uses another claim name, run check with --userdir-claim NAME")],
          label="missing", payload={"userDirectory": DROP}),
    fails("_rule_user_directory", [("userDirectory", "error", 'rename the claim "UserDirectory" to "userDirectory" '
                                    '(create-qseow --userdir-claim "userDirectory"); if the virtual proxy\'s JWT '
                                    'attribute for user directory is "UserDirectory", run check with --userdir-claim '
                                    '"UserDirectory"')], label="case",
          payload={"userDirectory": DROP, "UserDirectory": "CORP"}),
    fails("_rule_user_directory", [("userDirectory", "error", 'set "userDirectory" to the user directory, as text '
                                    "(create-qseow --userdir)")], label="number", payload={"userDirectory": 7}),
    fails("_rule_aud_qseow", [("aud", "error", QSEOW_AUD_FIX)], label="missing", audience="qlik-vp",
          payload={"aud": DROP}),
    fails("_rule_aud_qseow", [("aud", "error", QSEOW_AUD_FIX)], label="other", audience="qlik-vp",
          payload={"aud": "other-vp"}),
    fails("_rule_aud_qseow", [("aud", "warning", QSEOW_AUD_FIX)], label="array", audience="qlik-vp",
          payload={"aud": ["qlik-vp", "x"]}),
    fails("_rule_attributes_qseow", [("name", "warning", "send name as text (create-qseow --username)"),
                                     ("email", "warning", "send email as text (create-qseow --useremail)")],
          label="numbers", payload={"name": 5, "email": ["a@example.com"]}),
    fails("_rule_exp_qseow", [("exp", "warning", "set an expiry (create-qseow --expires)")], label="missing",
          payload={"exp": DROP}),
    fails("_rule_validity_qseow", [("exp", "error", "make a new token just before it is used")], label="expired",
          now=NOW + 600),
    fails("_rule_validity_qseow", [("iat", "warning", CLOCK_FIX)], label="iat-future", now=NOW - 60),
]

PASSING = [
    *(passes(name, label="good-token") for name in RULES),
    passes("_rule_target_qscloud", label="extra-userid-claim", payload={"userId": "alice"}),
    passes("_rule_target_qscloud", label="aud-array", payload={"UserDirectory": "CORP", "aud": [QSCLOUD_AUDIENCE]}),
    passes("_rule_target_qscloud", label="no-sub-no-user-claims", payload={"sub": DROP, "subType": DROP}),
    passes("_rule_kid", label="matches", keyid="key-1"),
    passes("_rule_kid_in_payload", label="in-both", payload={"kid": "key-1"}),
    passes("_rule_typ", label="absent", header={"typ": DROP}),
    passes("_rule_iss", label="matches", issuer="my-app"),
    passes("_rule_sub", label="random-looking-email", payload={"sub": "a" * 56, "email": "a" * 56}),
    passes("_rule_sub", label="random-looking-name", payload={"sub": "a" * 56, "name": "a" * 56}),
    passes("_rule_email", label="absent", payload={"email": DROP, "email_verified": DROP}),
    passes("_rule_email_verified", label="false-without-email", payload={"email": DROP, "email_verified": False}),
    passes("_rule_email_verified", label="absent-without-email", payload={"email": DROP, "email_verified": DROP}),
    passes("_rule_groups", label="absent", payload={"groups": DROP}),
    passes("_rule_groups", label="group-beside-groups", payload={"group": "x"}),
    passes("_rule_lifetime_qscloud", label="one-hour", payload={"exp": FIXED_NOW + 3600}),
    passes("_rule_lifetime_qscloud", label="no-exp", payload={"exp": DROP}),
    passes("_rule_numeric_dates", label="absent", payload={"iat": DROP, "nbf": DROP, "exp": DROP}),
    passes("_rule_numeric_dates", label="float", payload={"exp": FIXED_NOW + 0.5}),
    passes("_rule_validity_qscloud", label="leeway", now=NOW + 300, leeway=1.0),
    passes("_rule_validity_qscloud", label="leeway-future", now=NOW - 60, leeway=60.0),
    passes("_rule_signature", label="verified", verification=verification(True)),
    passes("_rule_signature", label="no-key", verification=verification(None)),
    passes("_rule_target_qseow", label="cloud-aud-with-user-id", payload={"aud": QSCLOUD_AUDIENCE}),
    passes("_rule_target_qseow", label="case-variant", payload={"userId": DROP, "UserID": "a", "subType": "user"}),
    passes("_rule_alg_qseow", label="rs512", header={"alg": "RS512"}),
    passes("_rule_user_id", label="custom-name", userid_claim="user", payload={"userId": DROP, "user": "alice"}),
    passes("_rule_aud_qseow", label="matches", audience="qlik-vp"),
    passes("_rule_aud_qseow", label="not-expected", payload={"aud": ["anything", 1]}),
    passes("_rule_attributes_qseow", label="absent", payload={"name": DROP, "email": DROP}),
    passes("_rule_validity_qseow", label="no-times", payload={"iat": DROP, "exp": DROP}),
]


@pytest.mark.parametrize(("rule", "changes", "expected"), FAILING)
def test_rule_finds(rule: str, changes: dict[str, Any], expected: list[tuple[str, str, str]]) -> None:
    findings = list(RULES[rule](context(rule, **changes)))
    assert [(f.rule, f.severity, f.fix) for f in findings] == expected
    for f in findings:
        assert f.message.startswith(f"{f.rule}: "), f.message
        assert f.message.isprintable()


@pytest.mark.parametrize(("rule", "changes"), PASSING)
def test_rule_passes(rule: str, changes: dict[str, Any]) -> None:
    assert list(RULES[rule](context(rule, **changes))) == []


def test_every_rule_has_a_failing_case() -> None:
    """Every rule also passes the good token: the ``good-token`` cases of PASSING."""
    assert {case.values[0] for case in FAILING} == set(RULES)


def test_every_rule_names_its_source() -> None:
    for rule in RULES.values():
        doc = inspect.getdoc(rule)
        assert doc and "\n" not in doc, rule.__name__
        assert re.search(r"\(spec [A-H]\.\d(, [A-H]\.\d)*\)\.?$", doc), doc


def test_rule_lists_start_with_the_target_and_end_with_the_signature() -> None:
    for rules in (QSCLOUD_RULES, QSEOW_RULES):
        assert rules[0].__name__.startswith("_rule_target_")
        assert rules[-1].__name__ == "_rule_signature"
        assert len(set(rules)) == len(rules)


def test_qseow_shaped_claims_are_found_in_any_case() -> None:
    for name in ("userid", "USERID", "UserDirectory", "x-userdir"):
        ctx = context("_rule_target_qscloud", payload={"sub": DROP, "subType": DROP, name: "v"})
        assert [f.rule for f in RULES["_rule_target_qscloud"](ctx)] == ["target"]


def test_untrusted_names_are_escaped_in_the_target_finding() -> None:
    ctx = context("_rule_target_qscloud", payload={"sub": DROP, "subType": DROP, "userId\u202e\x1b[31m": "v"})
    (finding,) = RULES["_rule_target_qscloud"](ctx)
    assert finding.message.isprintable() and "\u202e" not in finding.message
    case = context("_rule_user_id", payload={"userId": DROP, "USERID\u202e": "v"}, userid_claim="userid\u202e")
    (near,) = RULES["_rule_user_id"](case)
    assert near.fix.isprintable() and "\u202e" not in near.fix


def _cli_options() -> dict[str, set[str]]:
    import argparse

    from qs_jwt.cli import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {name: {option for action in commands.choices[name]._actions for option in action.option_strings}
            for name in ("check", "create-qscloud", "create-qseow")}


_CREATE_HINT = re.compile(r"\((create-qscloud|create-qseow) ([^)]*)\)")
_CHECK_HINT = re.compile(r"(?:run check with|give check that \w+ \() ?(--[a-z][a-z-]*)")


def test_fix_texts_name_each_option_with_its_command() -> None:
    """An option in a fix is a create command's (in parentheses after its name) or check's own ("run check with")."""
    options = _cli_options()
    fixes = {f.fix for case in FAILING for f in RULES[case.values[0]](context(case.values[0], **case.values[1]))}
    for fix in fixes:
        named = [(command, option) for command, text in _CREATE_HINT.findall(fix)
                 for option in re.findall(r"--[a-z][a-z-]*", text)]
        named += [("check", option) for option in _CHECK_HINT.findall(fix)]
        for command, option in named:
            assert option in options[command], (command, option, fix)
        assert "--" not in _CHECK_HINT.sub("", _CREATE_HINT.sub("", fix)), f"option without its command: {fix}"
