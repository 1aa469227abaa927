"""qs_jwt.oauth: client assertions (exact header and claims, lifetime bounds, algorithms, keys), their check rule by
rule, and OAuthCredentials against the Qlik Cloud emulator: both grants, secrets and assertions, scopes, caching,
refresh, thread safety, each error family with its explanation, and no secret in a message or a log line.

Every credential gets ``HttpSettings(ca_cert=<the emulator's CA>, timeout=5)``.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

import qs_jwt._clock
from conftest import FIXED_NOW, PASSPHRASE, key_bytes, key_path
from qlik_emulator import EmulatorServer, QscloudEmulator, Request, Response
from qlik_emulator.client import send
from qs_jwt._jws import b64url_encode
from qs_jwt.checks import ERROR, WARNING
from qs_jwt.errors import (
    KEY_WEAK,
    ArgumentTypeError,
    InvalidValueError,
    KeyLoadError,
    QlikApiError,
    QlikConnectionError,
    TokenFormatError,
)
from qs_jwt.http import HttpSettings
from qs_jwt.keys import public_jwk
from qs_jwt.oauth import (
    CLIENT_ASSERTION_TYPE,
    CLIENT_CREDENTIALS,
    FALLBACK_LIFETIME,
    OAUTH_ASSERTION_RULES,
    USER_IMPERSONATION,
    AccessToken,
    OAuthCredentials,
    OAuthError,
    check_oauth_assertion,
    create_client_assertion,
    explain_oauth_error,
    token_endpoint,
)
from qs_jwt.qscloud import QlikCloudClient
from qs_jwt.tokens import Signer

PRIVATE_PEM = key_bytes("rsa2048_pkcs8.pem")
PUBLIC_PEM = key_bytes("rsa2048_public.pem")
SIGNER = Signer(PRIVATE_PEM)
OTHER_SIGNER = Signer(key_bytes("other2048_pkcs8.pem"))
TENANT = "your-tenant.eu.qlikcloud.com"
AUD = f"https://{TENANT}/oauth/token"
CLIENT = "0123456789abcdef0123456789abcdef"
KID = "oauth-key-1"
SECRET = "correct-horse-battery-staple-client"  # words and dashes: only known-secret redaction hides it


def settings(emu: QscloudEmulator) -> HttpSettings:
    return HttpSettings(ca_cert=str(emu.ca_cert_path), timeout=5)


def register(emu: QscloudEmulator, *, alg: str = "RS256", signer: Signer = SIGNER, kid: str = KID,
             **options: Any) -> dict[str, Any]:
    """The client ``CLIENT`` with ``SECRET`` and the public JWK of ``signer``: both grants, two scopes."""
    setup: dict[str, Any] = {"secret": SECRET, "jwk": public_jwk(signer.public_key, kid=kid, alg=alg),
                             "allowed_grant_types": (CLIENT_CREDENTIALS, USER_IMPERSONATION),
                             "scopes": ("user_default", "admin_classic"), **options}
    return emu.add_oauth_client(CLIENT, **setup)


def with_secret(emu: QscloudEmulator, **options: Any) -> OAuthCredentials:
    return OAuthCredentials(emu.url, CLIENT, client_secret=SECRET, settings=settings(emu), **options)


def with_key(emu: QscloudEmulator, **options: Any) -> OAuthCredentials:
    setup: dict[str, Any] = {"assertion_key": SIGNER, "assertion_keyid": KID, **options}
    return OAuthCredentials(emu.url, CLIENT, settings=settings(emu), **setup)


@pytest.fixture
def emu(qscloud_emulator: QscloudEmulator) -> QscloudEmulator:
    register(qscloud_emulator)
    return qscloud_emulator


def api_user(emu: QscloudEmulator, token: AccessToken) -> dict[str, Any]:
    """``GET /api/v1/users/me`` with the access token as the API credential (QlikCloudClient takes it as a key)."""
    with QlikCloudClient(emu.url, api_key=token.access_token, settings=settings(emu)) as client:
        return client.me()


def handmade(header: dict[str, Any], payload: dict[str, Any]) -> str:
    """A compact JWS with any header (HS256, ES384) and a signature of junk."""
    def part(data: dict[str, Any]) -> str:
        return b64url_encode(json.dumps(data).encode())
    return f"{part(header)}.{part(payload)}.{b64url_encode(b'x' * 64)}"


# --- creating assertions ---------------------------------------------------------------------------------

def test_an_assertion_has_exactly_the_header_and_claims_qlik_lists() -> None:
    token = create_client_assertion(PRIVATE_PEM, tenant=TENANT, client_id=CLIENT, keyid=KID, now=FIXED_NOW)
    assert token.header == {"alg": "RS256", "typ": "JWT", "kid": KID}
    jti = token.payload["jti"]
    assert token.payload == {"iss": CLIENT, "sub": CLIENT, "aud": AUD, "jti": jti, "iat": FIXED_NOW,
                             "exp": FIXED_NOW + 300}
    assert list(token.payload) == ["iss", "sub", "aud", "jti", "iat", "exp"]
    assert str(uuid.UUID(jti)) == jti and uuid.UUID(jti).version == 4
    assert token.warnings == ()
    assert token.expires_at == dt.datetime.fromtimestamp(FIXED_NOW + 300, tz=dt.UTC)
    assert jwt.get_unverified_header(token.token) == token.header
    decoded = jwt.decode(token.token, load_pem_public_key(PUBLIC_PEM), algorithms=["RS256"], audience=AUD,
                         options={"verify_exp": False, "verify_iat": False})
    assert decoded == token.payload


def test_every_assertion_has_a_new_jti() -> None:
    jtis = {create_client_assertion(SIGNER, tenant=TENANT, client_id=CLIENT, keyid=KID).payload["jti"]
            for _ in range(5)}
    assert len(jtis) == 5


def test_the_current_time_is_the_library_clock(fixed_now: int) -> None:
    token = create_client_assertion(SIGNER, tenant=TENANT, client_id=CLIENT, keyid=KID)
    assert (token.payload["iat"], token.payload["exp"]) == (fixed_now, fixed_now + 300)


@pytest.mark.parametrize("tenant", [TENANT, f"https://{TENANT}", f"https://{TENANT}/", f"  {TENANT}  ",
                                    "HTTPS://YOUR-TENANT.EU.QLIKCLOUD.COM:443"])
def test_every_form_of_the_tenant_gives_the_one_audience(tenant: str) -> None:
    assert token_endpoint(tenant) == AUD
    assert create_client_assertion(SIGNER, tenant=tenant, client_id=CLIENT, keyid=KID).payload["aud"] == AUD


@pytest.mark.parametrize(("tenant", "endpoint"), [
    ("https://127.0.0.1:8443", "https://127.0.0.1:8443/oauth/token"),
    ("http://localhost:8080", "http://localhost:8080/oauth/token"),
    ("https://[::1]:8443", "https://[::1]:8443/oauth/token"),
])
def test_another_port_is_kept(tenant: str, endpoint: str) -> None:
    assert token_endpoint(tenant) == endpoint


@pytest.mark.parametrize(("tenant", "kind"), [
    ("", InvalidValueError), ("ftp://t.example", InvalidValueError), (f"https://{TENANT}/oauth/token",
                                                                      InvalidValueError),
    (f"https://{TENANT}?a=1", InvalidValueError), ("http://t.example", InvalidValueError),
    (f"https://user@{TENANT}", InvalidValueError), ("https://t.example:99999", InvalidValueError),
    ("https://bad host", InvalidValueError), (42, ArgumentTypeError),
    (f"https://{TENANT}/{SIGNER.sign({'alg': 'RS256'}, {'a': 1})}", InvalidValueError),
])
def test_a_bad_tenant_is_refused(tenant: Any, kind: type[Exception]) -> None:
    with pytest.raises(kind) as caught:
        create_client_assertion(SIGNER, tenant=tenant, client_id=CLIENT, keyid=KID)
    assert isinstance(caught.value, InvalidValueError) and caught.value.param == "tenant"
    assert "eyJ" not in str(caught.value)


@pytest.mark.parametrize(("expires", "seconds"), [("1s", 1), ("90s", 90), ("5m", 300), ("4m30s", 270), (300, 300),
                                                  (299.9, 299), (dt.timedelta(minutes=5), 300)])
def test_a_lifetime_up_to_five_minutes_is_taken(expires: Any, seconds: int) -> None:
    token = create_client_assertion(SIGNER, tenant=TENANT, client_id=CLIENT, keyid=KID, expires=expires,
                                    now=FIXED_NOW)
    assert token.payload["exp"] - token.payload["iat"] == seconds


@pytest.mark.parametrize("expires", ["301s", "6m", "1h", 301, dt.timedelta(seconds=301), "0s", "-5m", "abc", 0,
                                     "300"])
def test_a_longer_or_bad_lifetime_is_refused(expires: Any) -> None:
    with pytest.raises(InvalidValueError) as caught:
        create_client_assertion(SIGNER, tenant=TENANT, client_id=CLIENT, keyid=KID, expires=expires)
    assert caught.value.param == "expires"


def test_the_refusal_of_a_long_lifetime_names_the_limit() -> None:
    with pytest.raises(InvalidValueError, match=r"at most 300 s \(5 minutes\) after iat"):
        create_client_assertion(SIGNER, tenant=TENANT, client_id=CLIENT, keyid=KID, expires="10m")


def test_rs512_is_signed_and_verifies() -> None:
    token = create_client_assertion(SIGNER, tenant=TENANT, client_id=CLIENT, keyid=KID, algorithm="RS512")
    assert token.header["alg"] == "RS512"
    jwt.decode(token.token, load_pem_public_key(PUBLIC_PEM), algorithms=["RS512"], audience=AUD)


@pytest.mark.parametrize(("algorithm", "kind", "words"), [
    ("RS384", InvalidValueError, '"RS384" is not one Qlik takes'), ("ES384", InvalidValueError, "RSA keys only"),
    ("HS256", InvalidValueError, "RS256 or RS512"), ("none", InvalidValueError, "RS256 or RS512"),
    ("rs256", InvalidValueError, "RS256 or RS512"), (256, ArgumentTypeError, "RS256"),
])
def test_an_algorithm_other_than_rs256_or_rs512_is_refused(algorithm: Any, kind: type[Exception], words: str) -> None:
    with pytest.raises(kind, match=words) as caught:
        create_client_assertion(SIGNER, tenant=TENANT, client_id=CLIENT, keyid=KID, algorithm=algorithm)
    assert isinstance(caught.value, InvalidValueError) and caught.value.param == "algorithm"


def test_a_key_under_2048_bits_is_refused() -> None:
    with pytest.raises(KeyLoadError) as caught:
        create_client_assertion(key_bytes("rsa1024_pkcs8.pem"), tenant=TENANT, client_id=CLIENT, keyid=KID)
    assert caught.value.code == KEY_WEAK and "2048" in str(caught.value)


def test_an_ec_key_is_refused() -> None:
    with pytest.raises(KeyLoadError):
        create_client_assertion(key_bytes("ec_p256.pem"), tenant=TENANT, client_id=CLIENT, keyid=KID)


def test_an_encrypted_key_takes_its_passphrase() -> None:
    encrypted = key_bytes("rsa2048_encrypted.pem")
    token = create_client_assertion(encrypted, tenant=TENANT, client_id=CLIENT, keyid=KID, passphrase=PASSPHRASE)
    jwt.decode(token.token, load_pem_public_key(PUBLIC_PEM), algorithms=["RS256"], audience=AUD)
    with pytest.raises(KeyLoadError) as caught:
        create_client_assertion(encrypted, tenant=TENANT, client_id=CLIENT, keyid=KID)
    assert caught.value.passphrase_required


@pytest.mark.parametrize(("options", "param"), [
    ({"client_id": ""}, "client_id"), ({"client_id": "has space"}, "client_id"), ({"client_id": "x\n"}, "client_id"),
    ({"client_id": None}, "client_id"), ({"keyid": ""}, "keyid"), ({"keyid": 7}, "keyid"),
])
def test_a_bad_client_id_or_keyid_is_refused(options: dict[str, Any], param: str) -> None:
    given: dict[str, Any] = {"tenant": TENANT, "client_id": CLIENT, "keyid": KID, **options}
    with pytest.raises(InvalidValueError) as caught:
        create_client_assertion(SIGNER, **given)
    assert caught.value.param == param


def test_minting_and_checking_import_neither_pyjwt_nor_httpx() -> None:
    code = (
        "import sys\n"
        "from qs_jwt.oauth import create_client_assertion, check_oauth_assertion\n"
        f"token = create_client_assertion(open({key_path('rsa2048_pkcs8.pem')!r}, 'rb').read(), tenant={TENANT!r},"
        " client_id='c', keyid='k')\n"
        f"assert check_oauth_assertion(token.token, tenant={TENANT!r}, client_id='c', keyid='k').ok\n"
        "print(sorted(name for name in ('jwt', 'httpx', 'qs_jwt.http') if name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# --- checking assertions ---------------------------------------------------------------------------------

def good_parts(**changes: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    header: dict[str, Any] = {"alg": "RS256", "typ": "JWT", "kid": KID}
    payload: dict[str, Any] = {"iss": CLIENT, "sub": CLIENT, "aud": AUD, "jti": str(uuid.uuid4()),
                               "iat": FIXED_NOW, "exp": FIXED_NOW + 300}
    for name, value in changes.items():
        target = header if name.startswith("h_") else payload
        key = name.removeprefix("h_")
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return header, payload


def signed(**changes: Any) -> str:
    return SIGNER.sign(*good_parts(**changes))


def test_a_good_assertion_has_no_findings() -> None:
    token = create_client_assertion(SIGNER, tenant=TENANT, client_id=CLIENT, keyid=KID, now=FIXED_NOW)
    report = check_oauth_assertion(token.token, tenant=TENANT, client_id=CLIENT, keyid=KID, key=PUBLIC_PEM,
                                   now=FIXED_NOW + 10)
    assert report.ok and report.findings == [] and report.target == "oauth-assertion"
    assert report.verification is not None and report.verification.signature is True
    assert check_oauth_assertion(token.token, now=FIXED_NOW).findings == []


def test_the_check_takes_the_registered_jwk() -> None:
    token = create_client_assertion(SIGNER, tenant=TENANT, client_id=CLIENT, keyid=KID, now=FIXED_NOW)
    jwk = json.dumps(public_jwk(SIGNER.public_key, kid=KID))
    assert check_oauth_assertion(token.token, key=jwk, now=FIXED_NOW).ok


CHECKS: list[tuple[str, Callable[[], str], dict[str, Any], set[tuple[str, str]], str]] = [
    ("RS384", lambda: signed(h_alg="RS384"), {}, {("alg", ERROR)}, '"RS384" is not one Qlik takes'),
    ("HS256", lambda: handmade(*good_parts(h_alg="HS256")), {}, {("alg", ERROR)}, "shared-secret algorithm"),
    ("kid missing", lambda: signed(h_kid=None), {}, {("kid", ERROR)}, "missing from the header; Qlik requires it"),
    ("kid in the payload", lambda: signed(h_kid=None, kid=KID), {}, {("kid", ERROR)}, "it is in the payload"),
    ("kid not text", lambda: signed(h_kid=7), {}, {("kid", ERROR)}, "is not a non-empty string"),
    ("kid another", lambda: signed(), {"keyid": "other"}, {("kid", ERROR)}, "is not the registered key's kid"),
    ("typ", lambda: signed(h_typ="at+jwt"), {}, {("typ", WARNING)}, "unusual"),
    ("iss missing", lambda: signed(iss=None), {}, {("iss", ERROR)}, "iss: missing"),
    ("iss not text", lambda: signed(iss=5), {}, {("iss", ERROR)}, "not a non-empty string"),
    ("iss another client", lambda: signed(iss="other", sub="other"), {"client_id": CLIENT},
     {("iss", ERROR), ("sub", ERROR)}, "is not the OAuth client id"),
    ("sub differs", lambda: signed(sub="other"), {}, {("sub", ERROR)}, "differs from iss"),
    ("sub another client", lambda: signed(sub="other"), {"client_id": CLIENT}, {("sub", ERROR)},
     'sub: "other" is not the OAuth client id'),
    ("sub missing", lambda: signed(sub=None), {}, {("sub", ERROR)}, "sub: missing"),
    ("aud trailing slash", lambda: signed(aud=AUD + "/"), {"tenant": TENANT}, {("aud", ERROR)}, "ends with a slash"),
    ("aud trailing slash, no tenant", lambda: signed(aud=AUD + "/"), {}, {("aud", ERROR)}, "ends with a slash"),
    ("aud another tenant", lambda: signed(aud="https://other.example/oauth/token"), {"tenant": TENANT},
     {("aud", ERROR)}, f'is not "{AUD}"'),
    ("aud the login", lambda: signed(aud="qlik.api/login/jwt-session"), {}, {("aud", ERROR)},
     "is not a tenant's token endpoint"),
    ("aud http", lambda: signed(aud=f"http://{TENANT}/oauth/token"), {}, {("aud", ERROR)},
     "is not a tenant's token endpoint"),
    ("aud a list", lambda: signed(aud=[AUD]), {"tenant": TENANT}, {("aud", ERROR)}, "is not the single string"),
    ("aud missing", lambda: signed(aud=None), {}, {("aud", ERROR)}, "aud: missing"),
    ("jti missing", lambda: signed(jti=None), {}, {("jti", ERROR)}, "jti: missing"),
    ("jti not a UUID", lambda: signed(jti="abc"), {}, {("jti", WARNING)}, "is not a UUID"),
    ("jti not text", lambda: signed(jti=12), {}, {("jti", ERROR)}, "is not a non-empty string"),
    ("iat missing", lambda: signed(iat=None), {}, {("iat", ERROR)}, "iat: missing"),
    ("exp missing", lambda: signed(exp=None), {}, {("exp", ERROR)}, "exp: missing"),
    ("lifetime", lambda: signed(exp=FIXED_NOW + 301), {}, {("lifetime", ERROR)}, "Qlik allows at most 300 s"),
    ("exp not after iat", lambda: signed(iat=FIXED_NOW + 20, exp=FIXED_NOW + 20), {},
     {("lifetime", ERROR), ("iat", ERROR)}, "exp is not after iat"),
    ("expired", lambda: signed(iat=FIXED_NOW - 400, exp=FIXED_NOW - 100), {}, {("exp", ERROR)}, "expired 1 min"),
    ("issued in the future", lambda: signed(iat=FIXED_NOW + 60, exp=FIXED_NOW + 120), {}, {("iat", ERROR)},
     "in the future"),
    ("exp text", lambda: signed(exp="soon"), {}, {("exp", ERROR)}, "is not a number"),
    ("wrong key", lambda: OTHER_SIGNER.sign(*good_parts()), {"key": PUBLIC_PEM}, {("signature", ERROR)},
     "does not verify"),
    ("ES384", lambda: handmade(*good_parts(h_alg="ES384")), {"key": PUBLIC_PEM}, {("signature", WARNING)},
     "not checked"),
]


@pytest.mark.parametrize(("make", "options", "expected", "words"), [case[1:] for case in CHECKS],
                         ids=[case[0] for case in CHECKS])
def test_each_rule_names_what_qlik_would_refuse(make: Callable[[], str], options: dict[str, Any],
                                                expected: set[tuple[str, str]], words: str) -> None:
    report = check_oauth_assertion(make(), now=FIXED_NOW + 10, **options)
    assert {(finding.rule, finding.severity) for finding in report.findings} == expected
    assert any(words in finding.message for finding in report.findings), report.to_dict()
    assert all(finding.fix for finding in report.findings)
    assert report.ok is (ERROR not in {severity for _rule, severity in expected})


def test_an_es384_assertion_without_a_key_has_no_findings() -> None:
    assert check_oauth_assertion(handmade(*good_parts(h_alg="ES384")), now=FIXED_NOW).findings == []


def test_a_leeway_forgives_a_little_clock_skew() -> None:
    token = signed(iat=FIXED_NOW + 3, exp=FIXED_NOW + 200)
    assert not check_oauth_assertion(token, now=FIXED_NOW).ok
    assert check_oauth_assertion(token, now=FIXED_NOW, leeway=5).ok


def test_a_malformed_token_raises() -> None:
    with pytest.raises(TokenFormatError):
        check_oauth_assertion("not.a.token")


@pytest.mark.parametrize(("options", "param"), [({"client_id": ""}, "client_id"), ({"keyid": " "}, "keyid"),
                                                ({"tenant": "ftp://x"}, "tenant"), ({"client_id": 3}, "client_id")])
def test_bad_expected_values_are_refused(options: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        check_oauth_assertion(signed(), **options)
    assert caught.value.param == param


def test_every_rule_names_its_source() -> None:
    assert len({rule.__name__ for rule in OAUTH_ASSERTION_RULES}) == len(OAUTH_ASSERTION_RULES)
    assert all(rule.__doc__ for rule in OAUTH_ASSERTION_RULES)


def test_public_jwk_is_what_a_client_registers() -> None:
    jwk = public_jwk(SIGNER.public_key, kid=KID, alg="RS512")
    assert set(jwk) == {"kty", "use", "alg", "kid", "n", "e"}
    assert (jwk["kty"], jwk["use"], jwk["alg"], jwk["kid"]) == ("RSA", "sig", "RS512", KID)


# --- access tokens ---------------------------------------------------------------------------------------

def test_a_client_secret_gets_a_token_that_works_on_the_api(emu: QscloudEmulator) -> None:
    with with_secret(emu) as credentials:
        token = credentials.token()
    assert token.token_type == "bearer" and token.scopes == ("user_default", "admin_classic")
    assert token.expires_at.tzinfo == dt.UTC and 3590 < token.expires_in() <= 3600
    (issued,) = emu.oauth_tokens_issued
    assert (issued.access_token, issued.grant_type, issued.auth_method, issued.encoding) == (
        token.access_token, CLIENT_CREDENTIALS, "client_secret_post", "json")
    assert api_user(emu, token)["subject"] == f"oauth-client:{CLIENT}"
    recorded = [request for request in emu.requests if request.path == "/oauth/token"]
    assert [(request.method, request.headers["content-type"]) for request in recorded] == [
        ("POST", "application/json")]


@pytest.mark.parametrize("algorithm", ["RS256", "RS512"])
def test_a_private_key_gets_a_token_with_a_fresh_assertion(qscloud_emulator: QscloudEmulator,
                                                           algorithm: str) -> None:
    emu = qscloud_emulator
    register(emu, alg=algorithm)
    credentials = with_key(emu, assertion_algorithm=algorithm)
    token = credentials.token()
    assert emu.oauth_tokens_issued[0].auth_method == "private_key_jwt"
    credentials.invalidate()
    assert credentials.token() != token
    (first, second) = emu.oauth_jtis
    assert first != second and uuid.UUID(first).version == 4
    assert api_user(emu, token)["subject"] == f"oauth-client:{CLIENT}"
    credentials.close()


def test_the_key_may_be_a_pem_file_with_a_passphrase(emu: QscloudEmulator) -> None:
    credentials = with_key(emu, assertion_key=key_bytes("rsa2048_encrypted.pem"), assertion_passphrase=PASSPHRASE)
    assert credentials.token().access_token


@pytest.mark.parametrize("field", ["subject", "email", "userId"])
@pytest.mark.parametrize("auth", ["secret", "key"])
def test_impersonation_acts_as_the_user(emu: QscloudEmulator, field: str, auth: str) -> None:
    alice = emu.add_user("alice-42", name="Alice", email="alice@example.com")
    value = {"subject": "alice-42", "email": "alice@example.com", "userId": alice["id"]}[field]
    make = with_secret if auth == "secret" else with_key
    credentials = make(emu, impersonate=(field, value), scopes="user_default")
    assert credentials.grant_type == USER_IMPERSONATION
    token = credentials.token()
    assert token.scopes == ("user_default",)
    assert api_user(emu, token)["id"] == alice["id"]
    assert emu.oauth_tokens_issued[0].grant_type == USER_IMPERSONATION


@pytest.mark.parametrize(("scopes", "granted"), [
    ("user_default", ("user_default",)), (["admin_classic"], ("admin_classic",)),
    ("admin_classic user_default admin_classic", ("admin_classic", "user_default")),
    ((), ("user_default", "admin_classic")),
])
def test_the_scopes_asked_for_are_granted(emu: QscloudEmulator, scopes: Any, granted: tuple[str, ...]) -> None:
    credentials = with_secret(emu, scopes=scopes)
    assert credentials.token().scopes == granted
    assert emu.oauth_tokens_issued[0].scopes == granted


def test_a_token_is_fetched_once_and_reused(emu: QscloudEmulator) -> None:
    credentials = with_secret(emu)
    first = credentials.token()
    assert credentials.token() is first
    assert credentials.authorization_header() == f"Bearer {first.access_token}"
    assert len(emu.oauth_tokens_issued) == 1 and credentials.requests_made == 1


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The library clock: the real time plus ``offset[0]`` seconds."""
    offset = [0.0]
    monkeypatch.setattr(qs_jwt._clock, "now", lambda: time.time() + offset[0])
    yield offset


def test_a_token_near_its_expiry_is_fetched_anew(emu: QscloudEmulator, clock: list[float]) -> None:
    credentials = with_secret(emu)
    first = credentials.token()
    clock[0] = 3600 - 90  # 90 s left: more than the 60 s margin
    assert credentials.token() is first
    clock[0] = 3600 - 30
    second = credentials.token()
    assert second.access_token != first.access_token and len(emu.oauth_tokens_issued) == 2


def test_a_short_lived_token_is_renewed_at_half_its_life(qscloud_emulator: QscloudEmulator,
                                                         clock: list[float]) -> None:
    register(qscloud_emulator, access_token_ttl=20)
    credentials = with_secret(qscloud_emulator)
    first = credentials.token()
    clock[0] = 8
    assert credentials.token() is first
    clock[0] = 11
    assert credentials.token() is not first


def test_after_a_401_invalidate_fetches_a_new_token(qscloud_emulator: QscloudEmulator) -> None:
    emu = qscloud_emulator
    register(emu)
    credentials = with_key(emu)
    first = credentials.token()
    emu.expire_oauth_tokens()
    with pytest.raises(QlikApiError) as caught:
        api_user(emu, first)
    assert caught.value.status == 401
    credentials.invalidate(first)
    second = credentials.token()
    assert second.access_token != first.access_token
    assert api_user(emu, second)["subject"] == f"oauth-client:{CLIENT}"
    assert len(emu.oauth_jtis) == 2


def test_invalidate_with_a_stale_token_keeps_a_newer_one(emu: QscloudEmulator) -> None:
    credentials = with_secret(emu)
    first = credentials.token()
    credentials.invalidate("some-other-token")
    assert credentials.token() is first
    credentials.invalidate(first.authorization_header())
    second = credentials.token()
    credentials.invalidate(first)  # a caller that met the 401 late changes nothing
    credentials.invalidate(first.access_token)
    assert credentials.token() is second
    assert len(emu.oauth_tokens_issued) == 2


def test_sixteen_threads_share_one_token_request(emu: QscloudEmulator) -> None:
    credentials = with_secret(emu)
    barrier = threading.Barrier(16)
    results: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait(timeout=5)
            results.append(credentials.authorization_header())
        except BaseException as exc:  # the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == [] and len(results) == 16 and len(set(results)) == 1
    assert len(emu.oauth_tokens_issued) == 1 and credentials.requests_made == 1


# --- refusals and their explanations ---------------------------------------------------------------------

def refused(credentials: OAuthCredentials) -> OAuthError:
    with pytest.raises(OAuthError) as caught:
        credentials.token()
    error = caught.value
    assert isinstance(error, QlikApiError) and error.method == "POST" and error.trace_id
    assert error.url is not None and error.url.endswith("/oauth/token")
    return error


def test_an_unknown_client_is_explained(emu: QscloudEmulator) -> None:
    error = refused(OAuthCredentials(emu.url, "nobody", client_secret=SECRET, settings=settings(emu)))
    assert (error.status, error.code) == (401, "OAUTH-3")
    assert error.items[0]["detail"] == "No OAuth client with the client_id nobody"
    assert error.explanation[0].startswith("Qlik does not know the OAuth client nobody on this tenant")


def test_a_wrong_secret_is_explained(emu: QscloudEmulator) -> None:
    error = refused(OAuthCredentials(emu.url, CLIENT, client_secret="another-secret-value", settings=settings(emu)))
    assert error.status == 401
    assert error.explanation == (f"the client secret is wrong for the OAuth client {CLIENT}: give the secret shown "
                                 "when it was made; if it is lost or was rotated, make a new one for the client",)


def test_a_key_that_is_not_registered_is_explained(emu: QscloudEmulator) -> None:
    error = refused(with_key(emu, assertion_key=OTHER_SIGNER))
    assert error.code == "OAUTH-4" and emu.oauth_failures == ["assertion signature"]
    assert "signature does not verify with the public key registered" in error.explanation[0]


def test_an_unknown_kid_is_explained(emu: QscloudEmulator) -> None:
    error = refused(with_key(emu, assertion_keyid="another-kid"))
    assert emu.oauth_failures == ["assertion kid unknown"]
    assert "kid names no public key of the client" in error.explanation[0]


def test_an_algorithm_the_key_is_not_for_is_explained(emu: QscloudEmulator) -> None:
    error = refused(with_key(emu, assertion_algorithm="RS512"))
    assert "algorithm" in error.explanation[0] and "RS256 or RS512" in error.explanation[0]


def test_a_tenant_by_another_name_is_an_audience_error(emu: QscloudEmulator) -> None:
    port = emu.server.port
    error = refused(OAuthCredentials(f"https://localhost:{port}", CLIENT, assertion_key=SIGNER, assertion_keyid=KID,
                                     settings=settings(emu)))
    assert emu.oauth_failures == ["assertion aud mismatch"]
    assert error.explanation[0].startswith("the client assertion's aud is wrong: it must be exactly "
                                           "https://<tenant>/oauth/token")
    assert f"this request sent https://localhost:{port}/oauth/token" in error.explanation[0]


def test_impersonation_the_client_does_not_allow_is_explained(qscloud_emulator: QscloudEmulator) -> None:
    register(qscloud_emulator, allowed_grant_types=(CLIENT_CREDENTIALS,))
    qscloud_emulator.add_user("alice")
    error = refused(with_secret(qscloud_emulator, impersonate=("subject", "alice")))
    assert error.explanation == ("the OAuth client does not allow impersonation: add the grant type "
                                 f"{USER_IMPERSONATION} to the client (allowedGrantTypes; an OAuth client of the "
                                 "type web)",)


def test_client_credentials_the_client_does_not_allow_is_explained(qscloud_emulator: QscloudEmulator) -> None:
    register(qscloud_emulator, allowed_grant_types=(USER_IMPERSONATION,))
    error = refused(with_secret(qscloud_emulator))
    assert error.explanation[0].startswith("the OAuth client does not allow the grant type client_credentials")


def test_a_user_that_does_not_exist_is_explained(emu: QscloudEmulator) -> None:
    error = refused(with_secret(emu, impersonate=("email", "ghost@example.com")))
    assert error.explanation[0].startswith("the user to impersonate (email ghost@example.com) does not exist in the "
                                           "tenant")


def test_a_scope_the_client_lacks_is_explained(emu: QscloudEmulator) -> None:
    error = refused(with_secret(emu, scopes=["user_default", "apps:read"]))
    assert error.explanation[0].startswith("the OAuth client is not allowed a scope asked for (user_default "
                                           "apps:read)")


def qlik_error(status: int, code: str, title: str, detail: str | None = None) -> str:
    item = {"code": code, "title": title, "status": str(status), **({"detail": detail} if detail else {})}
    return json.dumps({"errors": [item], "traceId": "0123456789abcdef0123456789abcdef"})


@pytest.mark.parametrize(("status", "body", "auth", "words"), [
    (401, qlik_error(401, "OAUTH-9", "Invalid client assertion", "jti already used"), "key", "was used before"),
    (401, qlik_error(401, "OAUTH-9", "Invalid client assertion", "token expired"), "key",
     "has expired or lives too long"),
    (401, qlik_error(401, "OAUTH-9", "Invalid client assertion", "iss claim does not match"), "key",
     "iss and sub must both be the OAuth client id"),
    (400, qlik_error(400, "OAUTH-9", "Bad request", "invalid client_assertion_type"), "key",
     CLIENT_ASSERTION_TYPE),
    (403, qlik_error(403, "OAUTH-9", "Forbidden", "user is disabled"), "secret", "the user is disabled"),
    (403, qlik_error(403, "OAUTH-9", "Forbidden", "user has reached the maximum number of tokens"), "secret",
     "maximum number of OAuth tokens"),
    (401, qlik_error(401, "OAUTH-9", "Unauthorized"), "secret", "Qlik refused the client's credentials"),
    (401, qlik_error(401, "OAUTH-9", "Unauthorized"), "key", "Qlik refused the client assertion"),
])
def test_qlik_words_are_explained(emu: QscloudEmulator, status: int, body: str, auth: str, words: str) -> None:
    emu.fail_next("/oauth/token", status, body=body, content_type="application/json")
    error = refused(with_secret(emu) if auth == "secret" else with_key(emu))
    assert error.status == status and error.code == "OAUTH-9"
    assert any(words in line for line in error.explanation), error.explanation


def test_an_unexplained_400_has_no_explanation(emu: QscloudEmulator) -> None:
    emu.fail_next("/oauth/token", 400, body=qlik_error(400, "OAUTH-9", "Bad request"), content_type="application/json")
    assert refused(with_secret(emu)).explanation == ()


def test_explain_oauth_error_reads_every_item() -> None:
    error = QlikApiError("x", status=400, items=({"code": "A", "title": "first", "detail": None},
                                                 {"code": "B", "title": "invalid_scope", "detail": None}))
    assert explain_oauth_error(error, scopes=("apps:read",))[0].startswith(
        "the OAuth client is not allowed a scope asked for (apps:read)")


# --- secrets ---------------------------------------------------------------------------------------------

class EchoBackend:
    """A token endpoint that echoes the request body in its error detail, as a careless server might; ``pad``
    characters before it move the secret to where the HTTP layer cuts a long detail (500 characters)."""

    def __init__(self, pad: int = 0) -> None:
        self.bodies: list[bytes] = []
        self.pad = pad

    def handle(self, request: Request) -> Response | None:
        self.bodies.append(request.body)
        sent = json.loads(request.body)
        secret = sent.get("client_secret") or sent["client_assertion"]
        detail = f"{'x' * self.pad} {secret}" if self.pad else f"could not use {request.body.decode()}"
        return Response.json({"errors": [{"code": "OAUTH-1", "title": f"Invalid request {request.body.decode()}",
                                          "detail": detail, "status": "400"}], "traceId": "ab" * 16}, 400)


@pytest.mark.parametrize("pad", [0, 480])
@pytest.mark.parametrize("auth", ["secret", "key"])
def test_an_echoed_secret_or_assertion_never_reaches_the_error(auth: str, pad: int) -> None:
    echo = EchoBackend(pad)
    lines: list[str] = []
    with EmulatorServer(tls=True) as server:
        server.mount(echo)
        options: dict[str, Any] = ({"client_secret": SECRET} if auth == "secret"
                                   else {"assertion_key": SIGNER, "assertion_keyid": KID})
        credentials = OAuthCredentials(server.url, CLIENT, settings=HttpSettings(ca_cert=str(server.ca_cert_path),
                                                                                 timeout=5), log=lines.append,
                                       **options)
        with pytest.raises(OAuthError) as caught:
            credentials.token()
    (body,) = echo.bodies
    sent = json.loads(body)
    secret = sent.get("client_secret") or sent["client_assertion"]
    error = caught.value
    texts = [str(error), error.detail or "", error.title or "", json.dumps(error.items), *error.explanation, *lines]
    assert all(secret not in text and secret[:10] not in text for text in texts), texts
    assert "<secret redacted>" in str(error) or "<token redacted>" in str(error)


def test_no_secret_in_the_log_lines_or_the_repr(emu: QscloudEmulator) -> None:
    emu.add_user("alice")
    lines: list[str] = []
    tokens: list[AccessToken] = []
    for make in (with_secret, with_key):
        credentials = make(emu, log=lines.append, impersonate=("subject", "alice"))
        tokens.append(credentials.token())
        assert SECRET not in repr(credentials) and CLIENT in repr(credentials)
    assert any("requesting an access token for the client" in line for line in lines)
    assert any("POST" in line and "-> 200" in line for line in lines)
    for line in lines:
        assert SECRET not in line and "eyJ" not in line
        assert all(token.access_token not in line for token in tokens)
    assert all(token.access_token not in repr(token) for token in tokens)


# --- answers that are not tokens, and no answer ----------------------------------------------------------

@pytest.mark.parametrize(("body", "words"), [
    ({"token_type": "bearer"}, "no usable access_token"),
    ({"access_token": "has space", "token_type": "bearer"}, "no usable access_token"),
    ({"access_token": "abc", "token_type": "mac"}, 'token_type is "mac", not bearer'),
    ({"access_token": "abc", "token_type": "bearer", "expires_at": "soon"}, "expires_at is not a time"),
    ({"access_token": "abc", "token_type": "bearer", "scope": 5}, "scope is not text"),
    ([1], "not a JSON object"),
])
def test_an_answer_that_is_not_a_token_is_an_error(emu: QscloudEmulator, body: Any, words: str) -> None:
    emu.fail_next("/oauth/token", 200, body=json.dumps(body), content_type="application/json")
    with pytest.raises(QlikApiError, match=words) as caught:
        with_secret(emu).token()
    assert not isinstance(caught.value, OAuthError)


@pytest.mark.parametrize(("body", "lifetime"), [
    ({"expires_at": "2099-01-01T00:00:00.000Z"}, None),
    ({"expires_at": 4070908800}, None),
    ({"expires_in": 120}, 120),
    ({}, FALLBACK_LIFETIME),
])
def test_the_expiry_is_read_from_the_answer(emu: QscloudEmulator, body: dict[str, Any], lifetime: int | None) -> None:
    answer = {"access_token": "opaque-token", "token_type": "Bearer", **body}
    emu.fail_next("/oauth/token", 200, body=json.dumps(answer), content_type="application/json")
    token = with_secret(emu).token()
    assert token.token_type == "bearer" and token.scope == ""
    if lifetime is None:
        assert token.expires_at == dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    else:
        assert lifetime - 5 < token.expires_in() <= lifetime


def test_no_answer_is_a_connection_error() -> None:
    credentials = OAuthCredentials("https://127.0.0.1:1", CLIENT, client_secret=SECRET,
                                   settings=HttpSettings(timeout=5, retries=1))
    with pytest.raises(QlikConnectionError):
        credentials.token()


def test_an_access_token_dict_and_repr() -> None:
    token = AccessToken("the-access-token", "bearer", dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
                        "user_default admin_classic")
    assert token.to_dict() == {"accessToken": "the-access-token", "tokenType": "bearer",
                               "expiresAt": "2030-01-02T03:04:05Z", "scope": "user_default admin_classic"}
    assert "the-access-token" not in repr(token) and "the-access-token" not in str(token)
    assert token.scopes == ("user_default", "admin_classic")
    assert token.expires_in(now=dt.datetime(2030, 1, 2, 3, 4, 0, tzinfo=dt.UTC).timestamp()) == 5


def test_the_body_is_json_with_the_documented_names() -> None:
    """What Qlik's examples send: JSON; an assertion with its type; scope and user_lookup when asked for."""
    seen: list[dict[str, Any]] = []

    class Spy:
        def handle(self, request: Request) -> Response | None:
            if request.path == "/oauth/token":
                assert request.headers["content-type"] == "application/json"
                seen.append(json.loads(request.body))
            return None  # the emulator mounted after it answers

    with EmulatorServer(tls=True) as server:
        server.mount(Spy())
        with QscloudEmulator(server=server) as emu:
            register(emu)
            emu.add_user("alice")
            with_key(emu, scopes="user_default", impersonate=("subject", "alice")).token()
            with_secret(emu).token()
    assert set(seen[0]) == {"client_id", "grant_type", "scope", "user_lookup", "client_assertion",
                            "client_assertion_type"}
    assert (seen[0]["grant_type"], seen[0]["scope"], seen[0]["user_lookup"], seen[0]["client_assertion_type"]) == (
        USER_IMPERSONATION, "user_default", {"field": "subject", "value": "alice"}, CLIENT_ASSERTION_TYPE)
    assert seen[1] == {"client_id": CLIENT, "grant_type": CLIENT_CREDENTIALS, "client_secret": SECRET}


# --- arguments -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("options", "param", "kind"), [
    ({}, "client_secret", InvalidValueError),
    ({"client_secret": SECRET, "assertion_key": SIGNER, "assertion_keyid": KID}, "client_secret", InvalidValueError),
    ({"assertion_key": SIGNER}, "assertion_keyid", InvalidValueError),
    ({"assertion_key": SIGNER, "assertion_keyid": KID, "assertion_algorithm": "RS384"}, "assertion_algorithm",
     InvalidValueError),
    ({"client_secret": "short"}, "client_secret", InvalidValueError),
    ({"client_secret": "has a space in it"}, "client_secret", InvalidValueError),
    ({"client_secret": 12345678}, "client_secret", ArgumentTypeError),
    ({"client_secret": SECRET, "impersonate": ("name", "alice")}, "impersonate", InvalidValueError),
    ({"client_secret": SECRET, "impersonate": "alice"}, "impersonate", ArgumentTypeError),
    ({"client_secret": SECRET, "impersonate": ("subject", "")}, "impersonate", InvalidValueError),
    ({"client_secret": SECRET, "scopes": [""]}, "scopes", InvalidValueError),
    ({"client_secret": SECRET, "scopes": [1]}, "scopes", ArgumentTypeError),
    ({"client_secret": SECRET, "scopes": 5}, "scopes", ArgumentTypeError),
    ({"client_secret": SECRET, "settings": {"timeout": 5}}, "settings", ArgumentTypeError),
    ({"client_secret": SECRET, "refresh_margin": -1}, "refresh_margin", InvalidValueError),
])
def test_bad_arguments_are_refused(options: dict[str, Any], param: str, kind: type[Exception]) -> None:
    with pytest.raises(kind) as caught:
        OAuthCredentials(TENANT, CLIENT, **options)
    assert isinstance(caught.value, InvalidValueError) and caught.value.param == param
    assert SECRET not in str(caught.value)


def test_a_weak_key_is_refused_when_the_credentials_are_made() -> None:
    with pytest.raises(KeyLoadError):
        OAuthCredentials(TENANT, CLIENT, assertion_key=key_bytes("rsa1024_pkcs8.pem"), assertion_keyid=KID)


def test_the_credentials_name_their_tenant_and_method() -> None:
    credentials = OAuthCredentials(f"https://{TENANT}/", CLIENT, assertion_key=SIGNER, assertion_keyid=KID)
    assert (credentials.tenant, credentials.token_url, credentials.auth_method, credentials.grant_type) == (
        f"https://{TENANT}", AUD, "private_key_jwt", CLIENT_CREDENTIALS)
    assert repr(credentials) == (f"OAuthCredentials(tenant='https://{TENANT}', client_id='{CLIENT}', "
                                 "auth=private_key_jwt)")
    credentials.close()  # nothing to close before a token was fetched


def test_the_request_goes_to_the_tenant_only(emu: QscloudEmulator) -> None:
    with_secret(emu).token()
    assert send(emu, "GET", "/oauth/token").status == 405
