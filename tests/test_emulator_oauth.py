"""The OAuth token endpoint of the Qlik Cloud emulator (tests/qlik_emulator/qscloud_oauth.py) enforces each rule it
claims to: client secrets (body or Basic header), client assertions (every claim and header rule), grant types,
scopes, impersonation by subject, email and user id, JSON and form bodies, and access tokens as API credentials
until they expire. Plain ``http.client`` and assertions minted with PyJWT: no qs_jwt code here.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from conftest import key_bytes
from qlik_emulator import QscloudEmulator
from qlik_emulator.client import Reply, send

PRIVATE = cast(RSAPrivateKey, load_pem_private_key(key_bytes("rsa2048_pkcs8.pem"), password=None))
OTHER_PRIVATE = cast(RSAPrivateKey, load_pem_private_key(key_bytes("other2048_pkcs8.pem"), password=None))
CLIENT = "client-m2m"
SECRET = "emulator-client-secret-value"
KID = "oauth-key-1"
IMPERSONATION = "urn:qlik:oauth:user-impersonation"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def public_jwk(kid: str = KID, alg: str = "RS256", private: RSAPrivateKey = PRIVATE) -> dict[str, Any]:
    jwk = cast(dict[str, Any], jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True))
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def register(emu: QscloudEmulator, client_id: str = CLIENT, **options: Any) -> dict[str, Any]:
    """A client with the secret and the public key of ``rsa2048``, both grants, user_default and admin_classic."""
    settings: dict[str, Any] = {"secret": SECRET, "jwk": public_jwk(),
                                "allowed_grant_types": ("client_credentials", IMPERSONATION),
                                "scopes": ("user_default", "admin_classic"), **options}
    return emu.add_oauth_client(client_id, **settings)


def assertion(emu: QscloudEmulator, *, key: Any = PRIVATE, algorithm: str = "RS256", kid: str | None = KID,
              headers: dict[str, Any] | None = None, **changes: Any) -> str:
    """A valid assertion for ``CLIENT`` (a fresh jti); ``changes`` override claims (None drops one)."""
    now = int(time.time())
    claims = {"iss": CLIENT, "sub": CLIENT, "aud": f"{emu.url}/oauth/token", "jti": str(uuid.uuid4()),
              "iat": now, "exp": now + 300, **changes}
    header = {"kid": kid} if kid else {}
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm=algorithm,
                      headers={**header, **(headers or {})})


def post(emu: QscloudEmulator, body: Any, *, form: bool = False, headers: dict[str, str] | None = None) -> Reply:
    sent = dict(headers or {})
    if form:
        sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        data: Any = urlencode(body).encode()
    else:
        sent.setdefault("Content-Type", "application/json")
        data = body
    return send(emu, "POST", "/oauth/token", headers=sent, body=data)


def secret_body(**changes: Any) -> dict[str, Any]:
    body = {"client_id": CLIENT, "client_secret": SECRET, "grant_type": "client_credentials", **changes}
    return {k: v for k, v in body.items() if v is not None}


def assertion_body(token: str, **changes: Any) -> dict[str, Any]:
    body = {"client_id": CLIENT, "client_assertion": token, "client_assertion_type": ASSERTION_TYPE,
            "grant_type": "client_credentials", **changes}
    return {k: v for k, v in body.items() if v is not None}


def me(emu: QscloudEmulator, token: str) -> Reply:
    return send(emu, "GET", "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})


def refusal(reply: Reply, status: int, code: str) -> dict[str, Any]:
    assert reply.status == status, reply.body
    assert reply.headers["Cache-Control"] == "no-store"
    error = reply.error
    assert error["code"] == code
    return error


# --- client credentials ----------------------------------------------------------------------------------

def test_a_client_secret_gets_an_access_token_for_the_service_user(qscloud_emulator: QscloudEmulator) -> None:
    emu = qscloud_emulator
    client = register(emu)
    before = time.time()
    reply = post(emu, secret_body())
    assert reply.status == 200
    assert reply.headers["Cache-Control"] == "no-store"
    answer = reply.json()
    assert set(answer) == {"access_token", "token_type", "expires_at", "scope"}
    assert answer["token_type"] == "bearer"
    assert answer["scope"] == "user_default admin_classic"
    assert answer["expires_at"].endswith("Z") and len(answer["expires_at"]) == len("2026-01-01T00:00:00.000Z")
    expires = datetime.fromisoformat(answer["expires_at"]).timestamp()
    assert before + 3599 <= expires <= time.time() + 3601
    user = me(emu, answer["access_token"]).json()
    assert user["id"] == client["serviceUserId"]
    assert user["subject"] == f"oauth-client:{CLIENT}" and user["roles"] == ["TenantAdmin"]
    (issued,) = emu.oauth_tokens_issued
    assert (issued.access_token, issued.client_id, issued.grant_type, issued.user_id, issued.auth_method,
            issued.encoding) == (answer["access_token"], CLIENT, "client_credentials", user["id"],
                                 "client_secret_post", "json")
    assert emu.oauth_failures == []


def test_the_registered_client_is_listed_without_its_secret(qscloud_emulator: QscloudEmulator) -> None:
    client = register(qscloud_emulator)
    assert client["clientId"] == CLIENT and client["appType"] == "web" and client["hasSecret"] is True
    assert client["allowedGrantTypes"] == ["client_credentials", IMPERSONATION]
    assert client["publicKeys"] == [{name: public_jwk()[name] for name in ("kty", "kid", "alg", "use", "n", "e")}]
    assert SECRET not in json.dumps(qscloud_emulator.oauth_clients)


def test_a_form_body_is_accepted(qscloud_emulator: QscloudEmulator) -> None:
    register(qscloud_emulator)
    reply = post(qscloud_emulator, secret_body(scope="user_default"), form=True)
    assert reply.status == 200 and reply.json()["scope"] == "user_default"
    assert qscloud_emulator.oauth_tokens_issued[0].encoding == "form"


def test_the_secret_may_come_in_a_basic_header(qscloud_emulator: QscloudEmulator) -> None:
    register(qscloud_emulator)
    basic = base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()
    reply = post(qscloud_emulator, {"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"})
    assert reply.status == 200
    assert qscloud_emulator.oauth_tokens_issued[0].auth_method == "client_secret_basic"
    both = post(qscloud_emulator, secret_body(), headers={"Authorization": f"Basic {basic}"})
    refusal(both, 400, "OAUTH-1")
    wrong = base64.b64encode(f"{CLIENT}:not-the-secret".encode()).decode()
    refusal(post(qscloud_emulator, {"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {wrong}"}),
            401, "OAUTH-3")
    assert qscloud_emulator.oauth_failures == ["several client authentications", "secret wrong"]


@pytest.mark.parametrize(("body", "headers", "status", "code", "reason"), [
    (secret_body(client_id="nobody"), None, 401, "OAUTH-3", "client unknown"),
    (secret_body(client_secret="not-the-secret"), None, 401, "OAUTH-3", "secret wrong"),
    (secret_body(client_id=None), None, 400, "OAUTH-1", "client_id missing"),
    (secret_body(client_secret=None), None, 401, "OAUTH-3", "no client authentication"),
    (secret_body(grant_type=None), None, 400, "OAUTH-1", "grant_type missing"),
    (secret_body(grant_type="password"), None, 400, "OAUTH-2", "grant unsupported: password"),
    (secret_body(scope="apps:read"), None, 400, "OAUTH-6", "scope not allowed: apps:read"),
    (secret_body(scope=["user_default"]), None, 400, "OAUTH-1", "scope not a string"),
    (secret_body(client_assertion="x.y.z"), None, 400, "OAUTH-1", "several client authentications"),
    (b"not json", None, 400, "OAUTH-1", "body not JSON"),
    ([1, 2], None, 400, "OAUTH-1", "body not an object"),
    (secret_body(), {"Content-Type": "text/plain"}, 400, "OAUTH-1", "content type text/plain"),
])
def test_a_bad_request_is_refused(qscloud_emulator: QscloudEmulator, body: Any, headers: dict[str, str] | None,
                                  status: int, code: str, reason: str) -> None:
    register(qscloud_emulator)
    refusal(post(qscloud_emulator, body, headers=headers), status, code)
    assert qscloud_emulator.oauth_failures == [reason]
    assert qscloud_emulator.oauth_tokens_issued == []


def test_a_grant_the_client_does_not_allow_is_refused(qscloud_emulator: QscloudEmulator) -> None:
    register(qscloud_emulator, allowed_grant_types=("client_credentials",))
    qscloud_emulator.add_user("alice")
    reply = post(qscloud_emulator, secret_body(grant_type=IMPERSONATION,
                                               user_lookup={"field": "subject", "value": "alice"}))
    error = refusal(reply, 400, "OAUTH-5")
    assert error["detail"] == f"The OAuth client is not allowed the grant type {IMPERSONATION}"


def test_a_client_with_only_a_key_takes_no_secret(qscloud_emulator: QscloudEmulator) -> None:
    register(qscloud_emulator, secret=None)
    refusal(post(qscloud_emulator, secret_body()), 401, "OAUTH-3")
    assert qscloud_emulator.oauth_failures == ["client has no secret"]


def test_a_client_with_only_a_secret_takes_no_assertion(qscloud_emulator: QscloudEmulator) -> None:
    register(qscloud_emulator, jwk=None)
    refusal(post(qscloud_emulator, assertion_body(assertion(qscloud_emulator))), 401, "OAUTH-3")
    assert qscloud_emulator.oauth_failures == ["client has no key"]


def test_scopes_asked_for_are_granted_and_admin_needs_admin_classic(qscloud_emulator: QscloudEmulator) -> None:
    emu = qscloud_emulator
    register(emu)
    narrow = post(emu, secret_body(scope="user_default user_default")).json()
    assert narrow["scope"] == "user_default"
    admin = post(emu, secret_body(scope="admin_classic")).json()
    users = {"Authorization": f"Bearer {admin['access_token']}"}
    assert send(emu, "GET", "/api/v1/users", headers=users).status == 200
    refused = send(emu, "GET", "/api/v1/users", headers={"Authorization": f"Bearer {narrow['access_token']}"})
    assert refused.status == 403


def test_a_client_without_admin_classic_acts_as_a_plain_service_user(qscloud_emulator: QscloudEmulator) -> None:
    emu = qscloud_emulator
    register(emu, scopes=("user_default",))
    token = post(emu, secret_body()).json()["access_token"]
    assert me(emu, token).json()["roles"] == []
    assert send(emu, "GET", "/api/v1/users", headers={"Authorization": f"Bearer {token}"}).status == 403


def test_an_access_token_needs_no_csrf_token_and_has_none(qscloud_emulator: QscloudEmulator) -> None:
    register(qscloud_emulator)
    token = post(qscloud_emulator, secret_body()).json()["access_token"]
    reply = send(qscloud_emulator, "GET", "/api/v1/csrf-token", headers={"Authorization": f"Bearer {token}"})
    assert reply.status == 400


def test_an_expired_access_token_is_a_401(qscloud_emulator: QscloudEmulator) -> None:
    emu = qscloud_emulator
    register(emu)
    token = post(emu, secret_body()).json()["access_token"]
    assert me(emu, token).status == 200
    emu.expire_oauth_tokens()
    reply = me(emu, token)
    assert reply.status == 401 and reply.error["detail"] == "The OAuth access token has expired"
    assert emu.oauth_failures == ["access token expired"]
    assert emu.oauth_tokens_issued[0].expires_at < time.time()
    fresh = post(emu, secret_body()).json()["access_token"]
    assert me(emu, fresh).status == 200


def test_a_short_lived_token_expires_by_itself(qscloud_emulator: QscloudEmulator) -> None:
    register(qscloud_emulator, access_token_ttl=1)
    token = post(qscloud_emulator, secret_body()).json()["access_token"]
    time.sleep(1.1)
    assert me(qscloud_emulator, token).status == 401


def test_an_unknown_bearer_token_is_a_401(qscloud_emulator: QscloudEmulator) -> None:
    assert me(qscloud_emulator, "not-a-token").status == 401


def test_the_token_endpoint_takes_post_only(qscloud_emulator: QscloudEmulator) -> None:
    reply = send(qscloud_emulator, "GET", "/oauth/token")
    assert reply.status == 405 and reply.error["code"] == "HTTP-405"


# --- impersonation ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["subject", "email", "userId"])
def test_impersonation_finds_the_user_by_each_field(qscloud_emulator: QscloudEmulator, field: str) -> None:
    emu = qscloud_emulator
    register(emu)
    alice = emu.add_user("alice-42", name="Alice", email="alice@example.com")
    value = {"subject": "alice-42", "email": "alice@example.com", "userId": alice["id"]}[field]
    reply = post(emu, secret_body(grant_type=IMPERSONATION, scope="user_default",
                                  user_lookup={"field": field, "value": value}))
    assert reply.status == 200, reply.body
    assert me(emu, reply.json()["access_token"]).json()["id"] == alice["id"]
    assert emu.oauth_tokens_issued[0].grant_type == IMPERSONATION


def test_impersonation_with_a_form_body(qscloud_emulator: QscloudEmulator) -> None:
    emu = qscloud_emulator
    register(emu)
    alice = emu.add_user("alice")
    as_json = post(emu, secret_body(grant_type=IMPERSONATION, user_lookup=json.dumps(
        {"field": "subject", "value": "alice"})), form=True)
    as_fields = post(emu, {**secret_body(grant_type=IMPERSONATION), "user_lookup[field]": "subject",
                           "user_lookup[value]": "alice"}, form=True)
    for reply in (as_json, as_fields):
        assert reply.status == 200, reply.body
        assert me(emu, reply.json()["access_token"]).json()["id"] == alice["id"]


def test_an_impersonated_admin_is_an_admin_only_with_admin_classic(qscloud_emulator: QscloudEmulator) -> None:
    emu = qscloud_emulator
    register(emu)
    emu.add_user("boss", tenant_admin=True)
    lookup = {"field": "subject", "value": "boss"}
    plain = post(emu, secret_body(grant_type=IMPERSONATION, scope="user_default", user_lookup=lookup)).json()
    admin = post(emu, secret_body(grant_type=IMPERSONATION, scope="admin_classic", user_lookup=lookup)).json()
    assert send(emu, "GET", "/api/v1/users", headers={"Authorization": f"Bearer {plain['access_token']}"}).status \
        == 403
    assert send(emu, "GET", "/api/v1/users", headers={"Authorization": f"Bearer {admin['access_token']}"}).status \
        == 200


@pytest.mark.parametrize(("lookup", "status", "code", "reason"), [
    (None, 400, "OAUTH-1", "user_lookup missing"),
    ("subject:alice", 400, "OAUTH-1", "user_lookup missing"),
    ({"field": "name", "value": "alice"}, 400, "OAUTH-1", "user_lookup field name"),
    ({"field": "subject", "value": ""}, 400, "OAUTH-1", "user_lookup value missing"),
    ({"field": "subject", "value": "nobody"}, 400, "OAUTH-7", "user not found"),
    ({"field": "email", "value": "alice"}, 400, "OAUTH-7", "user not found"),
])
def test_a_bad_user_lookup_is_refused(qscloud_emulator: QscloudEmulator, lookup: Any, status: int, code: str,
                                      reason: str) -> None:
    register(qscloud_emulator)
    qscloud_emulator.add_user("alice", email="alice@example.com")
    refusal(post(qscloud_emulator, secret_body(grant_type=IMPERSONATION, user_lookup=lookup)), status, code)
    assert qscloud_emulator.oauth_failures == [reason]


# --- client assertions -----------------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["RS256", "RS512"])
def test_a_valid_assertion_gets_a_token(qscloud_emulator: QscloudEmulator, algorithm: str) -> None:
    emu = qscloud_emulator
    register(emu, jwk=public_jwk(alg=algorithm))
    token = assertion(emu, algorithm=algorithm)
    reply = post(emu, assertion_body(token))
    assert reply.status == 200, reply.body
    assert emu.oauth_tokens_issued[0].auth_method == "private_key_jwt"
    assert emu.oauth_jtis == [jwt.decode(token, options={"verify_signature": False})["jti"]]
    again = post(emu, assertion_body(token))
    error = refusal(again, 401, "OAUTH-4")
    assert "used before" in error["detail"]
    assert emu.oauth_failures == ["assertion jti replayed"]


def test_an_assertion_may_impersonate(qscloud_emulator: QscloudEmulator) -> None:
    emu = qscloud_emulator
    register(emu)
    alice = emu.add_user("alice")
    reply = post(emu, assertion_body(assertion(emu), grant_type=IMPERSONATION,
                                     user_lookup={"field": "subject", "value": "alice"}))
    assert me(emu, reply.json()["access_token"]).json()["id"] == alice["id"]


def test_a_pem_key_is_registered_with_its_kid(qscloud_emulator: QscloudEmulator) -> None:
    emu = qscloud_emulator
    client = register(emu, jwk=key_bytes("rsa2048_public.pem"), kid=KID, alg="RS512")
    assert client["publicKeys"][0]["kid"] == KID and client["publicKeys"][0]["alg"] == "RS512"
    assert post(emu, assertion_body(assertion(emu, algorithm="RS512"))).status == 200


def test_one_of_several_keys_is_chosen_by_kid(qscloud_emulator: QscloudEmulator) -> None:
    emu = qscloud_emulator
    register(emu, jwk=[public_jwk(), public_jwk("key-2", private=OTHER_PRIVATE)])
    assert post(emu, assertion_body(assertion(emu, key=OTHER_PRIVATE, kid="key-2"))).status == 200
    refusal(post(emu, assertion_body(assertion(emu, key=OTHER_PRIVATE))), 401, "OAUTH-4")


def _now() -> int:
    return int(time.time())


ASSERTION_FAILURES: list[tuple[str, dict[str, Any], str]] = [
    ("algorithm RS384", {"algorithm": "RS384"}, "assertion algorithm RS384"),
    ("algorithm HS256", {"algorithm": "HS256", "key": "a-shared-secret-of-enough-length-32b"},
     "assertion algorithm HS256"),
    ("RS512 for an RS256 key", {"algorithm": "RS512"}, "assertion algorithm RS512 for a RS256 key"),
    ("kid missing", {"kid": None}, "assertion kid missing"),
    ("kid unknown", {"kid": "other-kid"}, "assertion kid unknown"),
    ("wrong key", {"key": OTHER_PRIVATE}, "assertion signature"),
    ("iss not the client", {"iss": "someone-else"}, "assertion iss not the client"),
    ("sub not iss", {"sub": "someone-else"}, "assertion sub not iss"),
    ("aud trailing slash", {"aud": "TRAILING"}, "assertion aud trailing slash"),
    ("aud another tenant", {"aud": "https://other.example/oauth/token"}, "assertion aud mismatch"),
    ("aud a list", {"aud": ["AUD"]}, "assertion aud not a string"),
    ("jti missing", {"jti": None}, "assertion claim jti missing"),
    ("iat missing", {"iat": None}, "assertion claim iat missing"),
    ("exp missing", {"exp": None}, "assertion claim exp missing"),
    ("aud missing", {"aud": None}, "assertion claim aud missing"),
    ("iat a float", {"iat": 1.5}, "assertion claim iat not a NumericDate"),
    ("lifetime over 300 s", {"exp": "IAT+301"}, "assertion lifetime over 300 s"),
    ("exp not after iat", {"exp": "IAT"}, "assertion exp not after iat"),
    ("expired", {"iat": "NOW-400", "exp": "NOW-100"}, "assertion expired"),
    ("issued in the future", {"iat": "NOW+60", "exp": "NOW+120"}, "assertion issued in the future"),
    ("jti not a string", {"jti": 42}, "assertion jti not a string"),
]


@pytest.mark.parametrize(("changes", "reason"), [(c, r) for _id, c, r in ASSERTION_FAILURES],
                         ids=[name for name, _c, _r in ASSERTION_FAILURES])
def test_an_assertion_that_breaks_a_rule_is_a_401(qscloud_emulator: QscloudEmulator, changes: dict[str, Any],
                                                  reason: str) -> None:
    emu = qscloud_emulator
    register(emu)
    now = _now()
    aud = f"{emu.url}/oauth/token"
    resolved: dict[str, Any] = {}
    for name, value in changes.items():
        if value == "TRAILING":
            value = aud + "/"
        elif value == ["AUD"]:
            value = [aud]
        elif isinstance(value, str) and value.startswith(("NOW", "IAT")):
            value = now + int(value[3:] or 0)
        resolved[name] = value
    if "iat" in resolved and resolved["iat"] is not None and "exp" not in resolved \
            and not isinstance(resolved["iat"], float):
        resolved["exp"] = resolved["iat"] + 300
    error = refusal(post(emu, assertion_body(assertion(emu, **resolved))), 401, "OAUTH-4")
    assert error["title"] == "Invalid client assertion"
    assert emu.oauth_failures == [reason]
    assert emu.oauth_jtis == []


@pytest.mark.parametrize(("body", "status", "code", "reason"), [
    ({"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"}, 400, "OAUTH-1",
     "assertion type wrong"),
    ({"client_assertion_type": None}, 400, "OAUTH-1", "assertion type wrong"),
    ({"client_assertion": "not-a-jwt"}, 401, "OAUTH-4", "assertion malformed (Not enough segments)"),
])
def test_a_bad_assertion_request_is_refused(qscloud_emulator: QscloudEmulator, body: dict[str, Any], status: int,
                                            code: str, reason: str) -> None:
    register(qscloud_emulator)
    refusal(post(qscloud_emulator, assertion_body(assertion(qscloud_emulator), **body)), status, code)
    assert qscloud_emulator.oauth_failures == [reason]


def test_an_assertion_within_the_clock_tolerance_is_accepted(qscloud_emulator: QscloudEmulator) -> None:
    register(qscloud_emulator)
    now = _now()
    token = assertion(qscloud_emulator, iat=now + 3, exp=now + 200)
    assert post(qscloud_emulator, assertion_body(token)).status == 200


# --- registration ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("options", "message"), [
    ({"secret": None, "jwk": None}, "needs a secret, a public key"),
    ({"jwk": {**public_jwk(), "d": "AQAB"}}, "a private key?"),
    ({"jwk": {**public_jwk(), "alg": "ES384"}}, "alg must be one of"),
    ({"jwk": {**public_jwk(), "use": "enc"}}, 'use must be "sig"'),
    ({"jwk": {key: value for key, value in public_jwk().items() if key != "kid"}}, "needs a kid"),
    ({"jwk": key_bytes("rsa1024_public.pem"), "kid": "k"}, "at least 2048"),
    ({"jwk": key_bytes("rsa2048_public.pem")}, "needs kid="),
    ({"jwk": [public_jwk(), public_jwk()]}, "two public keys with the kid"),
    ({"allowed_grant_types": ("password",)}, "allowed_grant_types"),
    ({"scopes": ()}, "scopes"),
    ({"access_token_ttl": 0}, "access_token_ttl"),
])
def test_a_client_qlik_would_not_register_is_refused(qscloud_emulator: QscloudEmulator, options: dict[str, Any],
                                                      message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("?", r"\?")):
        register(qscloud_emulator, **options)
    assert qscloud_emulator.oauth_clients == []


def test_a_small_jwk_is_refused(qscloud_emulator: QscloudEmulator) -> None:
    small = load_pem_public_key(key_bytes("rsa1024_public.pem"))
    jwk = cast(dict[str, Any], jwt.algorithms.RSAAlgorithm.to_jwk(small, as_dict=True))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 2048"):
        register(qscloud_emulator, jwk={**jwk, "kid": "k", "alg": "RS256", "use": "sig"})


def test_a_client_id_is_registered_once(qscloud_emulator: QscloudEmulator) -> None:
    register(qscloud_emulator)
    with pytest.raises(ValueError, match="exists already"):
        register(qscloud_emulator)


def test_a_user_subject_is_added_once(qscloud_emulator: QscloudEmulator) -> None:
    qscloud_emulator.add_user("alice")
    with pytest.raises(ValueError, match="exists already"):
        qscloud_emulator.add_user("alice")
