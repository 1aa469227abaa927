"""Claim sets: settings and user objects, qscloud_payload / qseow_payload / parse_claim_assignment, and the
claims of minted tokens.

Every token minted here is verified twice: with PyJWT and with ``cryptography`` directly.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15

import qs_jwt
from conftest import FIXED_NOW
from qs_jwt.claims import (
    QSCLOUD_AUDIENCE,
    QSCLOUD_RESERVED_CLAIMS,
    REGISTERED_CLAIMS,
    QsCloudSettings,
    QsCloudUser,
    QseowSettings,
    QseowUser,
    check_text,
    new_jti,
    parse_bool,
    parse_claim_assignment,
    qscloud_payload,
    qseow_payload,
)
from qs_jwt.errors import InvalidValueError

HASHES = {"RS256": hashes.SHA256, "RS384": hashes.SHA384, "RS512": hashes.SHA512}
NO_TIME_CHECKS = {"verify_exp": False, "verify_nbf": False, "verify_iat": False}


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_twice(
    token: str, public_key: Any, *, audience: str, issuer: str | None = None, alg: str = "RS256"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify with PyJWT and with cryptography; return (header, payload). Time claims are checked by callers."""
    claims = jwt.decode(
        token, public_key, algorithms=[alg], audience=audience, issuer=issuer, options=NO_TIME_CHECKS
    )
    head, body, sig = token.split(".")
    public_key.verify(b64d(sig), f"{head}.{body}".encode("ascii"), PKCS1v15(), HASHES[alg]())
    header = json.loads(b64d(head))
    payload = json.loads(b64d(body))
    assert payload == claims
    assert jwt.get_unverified_header(token) == header
    return header, payload


def cloud(private_pem: bytes, **kwargs: Any) -> qs_jwt.Token:
    args: dict[str, Any] = {"issuer": "my-app", "keyid": "key-1", "expires": "5m", "now": FIXED_NOW}
    args.update(kwargs)
    return qs_jwt.create_qscloud_token(private_pem, **args)


def qseow(private_pem: bytes, **kwargs: Any) -> qs_jwt.Token:
    args: dict[str, Any] = {
        "user_id": "alice", "user_directory": "CORP", "audience": "qlik-vp", "expires": "10m", "now": FIXED_NOW,
    }
    args.update(kwargs)
    return qs_jwt.create_qseow_token(private_pem, **args)


# --- Qlik Cloud: every claim ---------------------------------------------------------------------


def test_qscloud_token_has_every_claim(private_pem: bytes, public_key: Any) -> None:
    token = cloud(
        private_pem, sub="alice-42", email="alice@example.com", email_verified=True, name="Alice A.",
        groups=["Sales", "Admins"],
    )
    header, payload = verify_twice(token.token, public_key, audience=QSCLOUD_AUDIENCE, issuer="my-app")
    assert header == {"alg": "RS256", "typ": "JWT", "kid": "key-1"}
    assert payload["iss"] == "my-app"
    assert payload["aud"] == "qlik.api/login/jwt-session" == QSCLOUD_AUDIENCE
    assert payload["sub"] == "alice-42"
    assert payload["subType"] == "user"
    assert payload["name"] == "Alice A."
    assert payload["email"] == "alice@example.com"
    assert payload["email_verified"] is True
    assert payload["groups"] == ["Sales", "Admins"]
    assert payload["iat"] == FIXED_NOW
    assert payload["nbf"] == payload["iat"]
    assert payload["exp"] == FIXED_NOW + 300
    assert isinstance(payload["jti"], str)
    assert set(payload) == QSCLOUD_RESERVED_CLAIMS
    # the Token object carries exactly what was signed
    assert token.header == header
    assert token.payload == payload
    assert str(token) == token.token
    for claim in ("iat", "nbf", "exp"):
        assert type(payload[claim]) is int


def test_qscloud_sub_defaults_to_email_and_name_to_sub(private_pem: bytes, public_key: Any) -> None:
    token = cloud(private_pem, email="bob@example.com", email_verified="true")
    _, payload = verify_twice(token.token, public_key, audience=QSCLOUD_AUDIENCE)
    assert payload["sub"] == "bob@example.com"
    assert payload["name"] == "bob@example.com"
    assert payload["email"] == "bob@example.com"


def test_qscloud_name_defaults_to_sub(private_pem: bytes, public_key: Any) -> None:
    token = cloud(private_pem, sub="u-1")
    _, payload = verify_twice(token.token, public_key, audience=QSCLOUD_AUDIENCE)
    assert payload["name"] == "u-1"
    assert "email" not in payload
    assert "email_verified" not in payload


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (True, True), (False, False),
        ("true", True), ("false", False), ("TRUE", True), ("False", False),
        ("yes", True), ("no", False), ("Yes", True), ("NO", False),
        ("1", True), ("0", False), (" true ", True),
    ],
)
def test_qscloud_email_verified_is_a_json_boolean(
    private_pem: bytes, public_key: Any, given: bool | str, expected: bool
) -> None:
    token = cloud(private_pem, sub="s", email="a@example.com", email_verified=given)
    raw = b64d(token.token.split(".")[1])
    assert (b'"email_verified":true' if expected else b'"email_verified":false') in raw
    _, payload = verify_twice(token.token, public_key, audience=QSCLOUD_AUDIENCE)
    assert payload["email_verified"] is expected


@pytest.mark.parametrize("given", ["maybe", "", "2", "truee", "y e s"])
def test_qscloud_email_verified_other_text_is_refused(private_pem: bytes, given: str) -> None:
    with pytest.raises(InvalidValueError, match="expected true or false"):
        cloud(private_pem, sub="s", email="a@example.com", email_verified=given)


def test_qscloud_email_requires_email_verified(private_pem: bytes) -> None:
    with pytest.raises(InvalidValueError, match="email_verified") as info:
        cloud(private_pem, email="a@example.com")
    assert info.value.param == "email_verified"


def test_qscloud_email_verified_without_email_warns_and_is_dropped(private_pem: bytes, public_key: Any) -> None:
    token = cloud(private_pem, sub="s", email_verified=True)
    assert token.warnings == ("email_verified is ignored without an email address",)
    _, payload = verify_twice(token.token, public_key, audience=QSCLOUD_AUDIENCE)
    assert "email_verified" not in payload


@pytest.mark.parametrize("groups", [None, [], ()])
def test_qscloud_groups_omitted_when_none(private_pem: bytes, public_key: Any, groups: Any) -> None:
    token = cloud(private_pem, sub="s", groups=groups)
    _, payload = verify_twice(token.token, public_key, audience=QSCLOUD_AUDIENCE)
    assert "groups" not in payload
    assert "group" not in payload


def test_qscloud_single_group_string_becomes_an_array(private_pem: bytes, public_key: Any) -> None:
    token = cloud(private_pem, sub="s", groups="Sales")
    _, payload = verify_twice(token.token, public_key, audience=QSCLOUD_AUDIENCE)
    assert payload["groups"] == ["Sales"]


@pytest.mark.parametrize("groups", [[""], ["ok", "  "], ["ok", 3], [None]])
def test_qscloud_bad_groups_are_refused(private_pem: bytes, groups: Any) -> None:
    with pytest.raises(InvalidValueError):
        cloud(private_pem, sub="s", groups=groups)


def test_qscloud_jti_is_random_and_at_least_128_bits(private_pem: bytes, public_key: Any) -> None:
    signer = qs_jwt.Signer(private_pem)
    jtis = set()
    for _ in range(20):
        token = cloud(signer, sub="same-user")  # type: ignore[arg-type]
        _, payload = verify_twice(token.token, public_key, audience=QSCLOUD_AUDIENCE)
        jti = payload["jti"]
        assert len(b64d(jti)) * 8 >= 128
        jtis.add(jti)
    assert len(jtis) == 20


def test_new_jti_is_256_bits_base64url() -> None:
    values = {new_jti() for _ in range(100)}
    assert len(values) == 100
    for value in values:
        assert len(value) == 43
        assert len(b64d(value)) == 32
        assert set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize(
    ("expires", "seconds"),
    [("1s", 1), ("5m", 300), ("60m", 3600), ("1h", 3600), (3600, 3600), (90.9, 90), (dt.timedelta(minutes=2), 120)],
)
def test_qscloud_lifetime(private_pem: bytes, public_key: Any, expires: Any, seconds: int) -> None:
    token = cloud(private_pem, sub="s", expires=expires)
    _, payload = verify_twice(token.token, public_key, audience=QSCLOUD_AUDIENCE)
    assert payload["exp"] - payload["nbf"] == seconds
    assert payload["exp"] - payload["iat"] == seconds
    assert token.expires_at == dt.datetime.fromtimestamp(FIXED_NOW + seconds, tz=dt.UTC)


def test_qscloud_default_lifetime_is_five_minutes(private_pem: bytes, public_key: Any, fixed_now: int) -> None:
    token = qs_jwt.create_qscloud_token(private_pem, issuer="i", keyid="k", sub="s")
    verify_twice(token.token, public_key, audience=QSCLOUD_AUDIENCE, issuer="i")
    assert token.payload["iat"] == fixed_now
    assert token.payload["exp"] - token.payload["iat"] == 300  # as the CLI and QsCloudTokenFactory


@pytest.mark.parametrize("expires", ["61m", "2h", "1h1s", 3601, "365d"])
def test_qscloud_lifetime_over_an_hour_is_refused(private_pem: bytes, expires: Any) -> None:
    with pytest.raises(InvalidValueError, match="3600") as info:
        cloud(private_pem, sub="s", expires=expires)
    assert "allow_long_lifetime" in str(info.value)
    assert info.value.param == "expires"


def test_qscloud_long_lifetime_allowed_with_a_warning(private_pem: bytes, public_key: Any) -> None:
    token = cloud(private_pem, sub="s", expires="2h", allow_long_lifetime=True)
    assert len(token.warnings) == 1 and "3600" in token.warnings[0]
    _, payload = verify_twice(token.token, public_key, audience=QSCLOUD_AUDIENCE)
    assert payload["exp"] - payload["nbf"] == 7200


@pytest.mark.parametrize("expires", ["500ms", 0.5, 0, -1, float("nan"), float("inf"), True, None, "0s", "-5m", "x"])
def test_qscloud_bad_lifetimes_are_refused(private_pem: bytes, expires: Any) -> None:
    with pytest.raises(InvalidValueError):
        cloud(private_pem, sub="s", expires=expires)


@pytest.mark.parametrize("alg", ["RS384", "RS512"])
def test_qscloud_rs384_rs512_warn_and_sign(private_pem: bytes, public_key: Any, alg: str) -> None:
    token = cloud(private_pem, sub="s", algorithm=alg)
    assert len(token.warnings) == 1 and "RS256" in token.warnings[0]
    header, _ = verify_twice(token.token, public_key, audience=QSCLOUD_AUDIENCE, alg=alg)
    assert header["alg"] == alg


@pytest.mark.parametrize("alg", ["HS256", "none", "None", "PS256", "ES256", "rs256", "", "RS1024"])
def test_qscloud_other_algorithms_are_refused(private_pem: bytes, alg: str) -> None:
    with pytest.raises(InvalidValueError, match="RS256") as info:
        cloud(private_pem, sub="s", algorithm=alg)
    assert info.value.param == "algorithm"


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"issuer": ""}, "issuer"),
        ({"issuer": "   "}, "issuer"),
        ({"keyid": ""}, "keyid"),
        ({"sub": ""}, "sub"),
        ({"name": ""}, "name"),
        ({"sub": None}, "sub"),
        ({"email": "", "email_verified": True}, "email"),
        ({"sub": 42}, "sub"),
        ({"sub": "x" * 5000}, "sub"),
    ],
)
def test_qscloud_bad_values_are_refused(private_pem: bytes, kwargs: dict[str, Any], option: str) -> None:
    kwargs.setdefault("sub", "s")
    with pytest.raises(InvalidValueError) as info:
        cloud(private_pem, **kwargs)
    assert info.value.param == option


def test_qscloud_extra_claims_are_merged(private_pem: bytes, public_key: Any) -> None:
    extra = dict(
        parse_claim_assignment(text)
        for text in ("team=sales", "level=3", 'tags=["a","b"]', "flag=true", 'id="007"', 'obj={"k":null}')
    )
    token = cloud(private_pem, sub="s", extra_claims=extra)
    _, payload = verify_twice(token.token, public_key, audience=QSCLOUD_AUDIENCE)
    assert payload["team"] == "sales"
    assert payload["level"] == 3
    assert payload["tags"] == ["a", "b"]
    assert payload["flag"] is True
    assert payload["id"] == "007"
    assert payload["obj"] == {"k": None}
    assert payload["sub"] == "s"


@pytest.mark.parametrize("name", sorted(QSCLOUD_RESERVED_CLAIMS))
def test_qscloud_extra_claims_may_not_use_reserved_names(private_pem: bytes, name: str) -> None:
    with pytest.raises(InvalidValueError, match=name) as info:
        cloud(private_pem, sub="s", extra_claims={name: "x"})
    assert info.value.param == "extra_claims"


@pytest.mark.parametrize(
    "extra",
    [{"x": float("nan")}, {"x": float("inf")}, {"x": {1, 2}}, {"x": object()}, {"x": "\udcff"}, {"\udcff": 1},
     {"": 1}, {3: 1}],
)
def test_qscloud_extra_claims_that_cannot_be_serialised_are_refused(private_pem: bytes, extra: Any) -> None:
    with pytest.raises(InvalidValueError):
        cloud(private_pem, sub="s", extra_claims=extra)


def test_qscloud_token_parts_needs_no_key(fixed_now: int) -> None:
    header, payload = qs_jwt.qscloud_token_parts(QsCloudSettings(issuer="i", keyid="k", expires="5m"),
                                                 QsCloudUser(sub="s"))
    assert header == {"alg": "RS256", "typ": "JWT", "kid": "k"}
    assert payload["iat"] == payload["nbf"] == fixed_now
    assert payload["exp"] == fixed_now + 300
    with pytest.raises(InvalidValueError):
        QsCloudSettings(issuer="i", keyid="k", expires="2h")


def test_qscloud_values_are_checked_before_the_key_is_read() -> None:
    # a bad value is reported as such even when the key is garbage
    with pytest.raises(InvalidValueError):
        qs_jwt.create_qscloud_token(b"not a key", issuer="i", keyid="k", sub="s", expires="2h", now=FIXED_NOW)


# --- Qlik Cloud claim functions --------------------------------------------------------------


def test_qscloud_claims_direct() -> None:
    claims = qscloud_payload(QsCloudSettings(issuer="i", keyid="k", expires=60), QsCloudUser(sub="s"), iat=1000,
                             jti="fixed")
    assert claims == {
        "iss": "i", "aud": QSCLOUD_AUDIENCE, "sub": "s", "subType": "user", "name": "s",
        "jti": "fixed", "iat": 1000, "nbf": 1000, "exp": 1060,
    }
    assert list(claims) == ["iss", "aud", "sub", "subType", "name", "jti", "iat", "nbf", "exp"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("on", True), ("off", False), ("Yes", True), ("0", False)],
)
def test_parse_bool(value: Any, expected: bool) -> None:
    assert parse_bool(value) is expected


def test_parse_bool_refuses_and_shortens() -> None:
    with pytest.raises(InvalidValueError) as info:
        parse_bool("x" * 1000, param="flag")
    assert len(str(info.value)) < 150
    assert info.value.param == "flag"


def test_check_text() -> None:
    assert check_text("", param="x", required=False) == ""
    assert check_text("Åsa", param="x") == "Åsa"
    for bad in ("", "  ", "\udcff", "a" * 4097, None, 1, b"x"):
        with pytest.raises(InvalidValueError):
            check_text(bad, param="x")


# --- parse_claim_assignment ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "value"),
    [
        ("team=sales", "team", "sales"),
        ("level=3", "level", 3),
        ("ratio=1.5", "ratio", 1.5),
        ("neg=-2", "neg", -2),
        ('tags=["a","b"]', "tags", ["a", "b"]),
        ('obj={"a":1}', "obj", {"a": 1}),
        ("flag=true", "flag", True),
        ("flag=false", "flag", False),
        ("nothing=null", "nothing", None),
        ('id="007"', "id", "007"),
        ("id=007", "id", "007"),  # not valid JSON (leading zero): kept as text
        ("url=https://x.example/?a=b", "url", "https://x.example/?a=b"),
        ("eq=a=b", "eq", "a=b"),
        ("empty=", "empty", ""),
        ("  spaced  =1", "spaced", 1),
        ("nan=NaN", "nan", "NaN"),  # JSON constants are not numbers: kept as text
        ("inf=Infinity", "inf", "Infinity"),
        ("broken=[1,", "broken", "[1,"),
        ("name=Åsa 😀", "name", "Åsa 😀"),
    ],
)
def test_parse_claim_assignment(text: str, name: str, value: Any) -> None:
    assert parse_claim_assignment(text) == (name, value)
    assert type(parse_claim_assignment(text)[1]) is type(value)


@pytest.mark.parametrize("text", ["x=1e309", "x=-1e309", "x=[1e999]", 'x={"a":1e400}'])
def test_parse_claim_assignment_refuses_non_finite_numbers(text: str) -> None:
    with pytest.raises(InvalidValueError, match="out of range") as info:
        parse_claim_assignment(text)
    assert info.value.param == "extra_claims"


@pytest.mark.parametrize("text", ["novalue", "=x", " =x", "", "x" * 5000 + "=1", "a\udcff=1"])
def test_parse_claim_assignment_refuses_malformed(text: str) -> None:
    with pytest.raises(InvalidValueError):
        parse_claim_assignment(text)


def test_parse_claim_assignment_deep_nesting_is_clean() -> None:
    text = "x=" + "[" * 2000 + "]" * 2000
    try:
        name, _ = parse_claim_assignment(text)
    except InvalidValueError:
        return
    assert name == "x"


# --- QSEoW -----------------------------------------------------------------------------------


def test_qseow_token_defaults(private_pem: bytes, public_key: Any) -> None:
    token = qseow(private_pem, name="Alice", email="alice@example.com", groups=["Sales"])
    header, payload = verify_twice(token.token, public_key, audience="qlik-vp")
    assert header == {"alg": "RS256", "typ": "JWT"}
    assert payload == {
        "userId": "alice", "userDirectory": "CORP", "name": "Alice", "email": "alice@example.com",
        "groups": ["Sales"], "iat": FIXED_NOW, "exp": FIXED_NOW + 600, "aud": "qlik-vp",
    }
    assert "nbf" not in payload
    assert "jti" not in payload


def test_qseow_claim_names_are_configurable(private_pem: bytes, public_key: Any) -> None:
    token = qseow(
        private_pem, userid_claim="user", userdir_claim="directory", groups_claim="group", groups=["A", "B"],
        extra_claims={"role": "group5"},
    )
    _, payload = verify_twice(token.token, public_key, audience="qlik-vp")
    assert payload["user"] == "alice"
    assert payload["directory"] == "CORP"
    assert payload["group"] == ["A", "B"]
    assert payload["role"] == "group5"
    assert "userId" not in payload and "userDirectory" not in payload and "groups" not in payload


def test_qseow_minimal_payload(private_pem: bytes, public_key: Any) -> None:
    token = qseow(private_pem)
    _, payload = verify_twice(token.token, public_key, audience="qlik-vp")
    assert set(payload) == {"userId", "userDirectory", "iat", "exp", "aud"}


def test_qseow_long_lifetime_is_allowed_without_warning(private_pem: bytes, public_key: Any) -> None:
    token = qseow(private_pem, expires="30d")
    _, payload = verify_twice(token.token, public_key, audience="qlik-vp")
    assert payload["exp"] - payload["iat"] == 30 * 86_400


@pytest.mark.parametrize("alg", ["RS384", "RS512"])
def test_qseow_rs384_rs512(private_pem: bytes, public_key: Any, alg: str) -> None:
    token = qseow(private_pem, algorithm=alg)
    header, _ = verify_twice(token.token, public_key, audience="qlik-vp", alg=alg)
    assert header["alg"] == alg


@pytest.mark.parametrize("claim_arg", ["userid_claim", "userdir_claim", "groups_claim"])
@pytest.mark.parametrize("name", sorted(REGISTERED_CLAIMS))
def test_qseow_registered_claim_names_are_refused(private_pem: bytes, claim_arg: str, name: str) -> None:
    with pytest.raises(InvalidValueError, match="registered"):
        qseow(private_pem, **{claim_arg: name})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"userid_claim": "same", "userdir_claim": "same"},
        {"userid_claim": "g", "groups_claim": "g"},
        {"userdir_claim": "g", "groups_claim": "g"},
        {"userid_claim": "name"},
        {"userdir_claim": "email"},
        {"groups_claim": "userId"},
    ],
)
def test_qseow_duplicate_claim_names_are_refused(private_pem: bytes, kwargs: dict[str, str]) -> None:
    with pytest.raises(InvalidValueError, match="differ"):
        qseow(private_pem, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"user_id": ""}, {"user_id": "  "}, {"user_directory": ""}, {"audience": ""},
        {"userid_claim": ""}, {"groups_claim": " "}, {"name": ""}, {"email": ""},
        {"groups": [""]}, {"user_id": "\udcff"}, {"expires": "0s"}, {"expires": "3600"},
        {"algorithm": "HS256"}, {"algorithm": "ES256"},
    ],
)
def test_qseow_bad_values_are_refused(private_pem: bytes, kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidValueError):
        qseow(private_pem, **kwargs)


@pytest.mark.parametrize("name", ["userId", "userDirectory", "groups", "name", "email", "aud", "exp", "iat", "sub"])
def test_qseow_extra_claims_may_not_replace_set_claims(private_pem: bytes, name: str) -> None:
    with pytest.raises(InvalidValueError, match=name):
        qseow(private_pem, extra_claims={name: "x"})


def test_qseow_extra_claim_reserved_follows_configured_names(private_pem: bytes, public_key: Any) -> None:
    # with renamed claims, the default names become ordinary attributes
    token = qseow(private_pem, userid_claim="user", extra_claims={"userId": "attr"})
    _, payload = verify_twice(token.token, public_key, audience="qlik-vp")
    assert payload["userId"] == "attr"
    assert payload["user"] == "alice"


def test_qseow_claims_direct_order() -> None:
    claims = qseow_payload(QseowSettings(audience="a", expires=60),
                           QseowUser(user_id="u", user_directory="d", groups=["g"]), iat=10)
    assert list(claims) == ["userId", "userDirectory", "groups", "iat", "exp", "aud"]


def test_qseow_token_parts_needs_no_key(fixed_now: int) -> None:
    header, payload = qs_jwt.qseow_token_parts(QseowSettings(audience="a", expires="1m"),
                                               QseowUser(user_id="u", user_directory="d"))
    assert header == {"alg": "RS256", "typ": "JWT"}
    assert payload["iat"] == fixed_now
    assert payload["exp"] == fixed_now + 60


# --- Unicode ---------------------------------------------------------------------------------

UNICODE_VALUES = [
    "Åsa Öberg",
    "😀 Emoji 👩‍👩‍👧",
    "שלום עולם",  # RTL
    "مرحبا",
    "\u202eevil\u202c",  # RTL override is data, not markup
    "Ame\u0301lie",  # NFD
    "Am\u00e9lie",  # NFC
    "日本語",
    "zero\u200bwidth",
]


@pytest.mark.parametrize("value", UNICODE_VALUES)
def test_qscloud_unicode_round_trip_is_byte_exact(private_pem: bytes, public_key: Any, value: str) -> None:
    token = cloud(private_pem, sub=value, name=value, groups=[value], extra_claims={"x": value})
    raw_payload = b64d(token.token.split(".")[1])
    assert value.encode("utf-8") in raw_payload  # UTF-8, not \u escapes, and not normalised
    _, payload = verify_twice(token.token, public_key, audience=QSCLOUD_AUDIENCE)
    for claim in ("sub", "name", "x"):
        assert payload[claim] == value
        assert payload[claim].encode("utf-8") == value.encode("utf-8")
    assert payload["groups"] == [value]


def test_nfc_and_nfd_stay_distinct(private_pem: bytes, public_key: Any) -> None:
    nfc, nfd = "Am\u00e9lie", "Ame\u0301lie"
    _, a = verify_twice(cloud(private_pem, sub=nfc).token, public_key, audience=QSCLOUD_AUDIENCE)
    _, b = verify_twice(cloud(private_pem, sub=nfd).token, public_key, audience=QSCLOUD_AUDIENCE)
    assert a["sub"] == nfc
    assert b["sub"] == nfd
    assert a["sub"] != b["sub"]


@pytest.mark.parametrize("value", UNICODE_VALUES[:4])
def test_qseow_unicode_round_trip(private_pem: bytes, public_key: Any, value: str) -> None:
    token = qseow(private_pem, user_id=value, user_directory=value, name=value)
    _, payload = verify_twice(token.token, public_key, audience="qlik-vp")
    assert payload["userId"] == payload["userDirectory"] == payload["name"] == value


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sub": "s", "name": "\udcff"},
        {"sub": "\udcff"},
        {"sub": "s", "email": "a\udcff@example.com", "email_verified": True},
        {"sub": "s", "groups": ["\ud800"]},
        {"sub": "s", "issuer": "\udcff"},
        {"sub": "s", "keyid": "\udcff"},
    ],
)
def test_qscloud_lone_surrogates_are_refused(private_pem: bytes, kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidValueError, match="UTF-8"):
        cloud(private_pem, **kwargs)


# --- absurd numeric lifetimes ----------------------------------------------------------------


@pytest.mark.parametrize("expires", ["101y", "999999y"])
def test_qseow_text_lifetime_over_100_years_is_refused(private_pem: bytes, expires: str) -> None:
    with pytest.raises(InvalidValueError, match="100 years"):
        qseow(private_pem, expires=expires)


@pytest.mark.parametrize(
    "expires", [10**12, 1e300, dt.timedelta(days=999_999_999), 10**400], ids=["1e12", "1e300", "timedelta", "10**400"]
)
def test_numeric_lifetime_over_100_years_is_refused(private_pem: bytes, expires: Any) -> None:
    with pytest.raises(InvalidValueError):
        qseow(private_pem, expires=expires)
