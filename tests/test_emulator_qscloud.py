"""The Qlik Cloud emulator (tests/qlik_emulator/qscloud.py) enforces each rule it claims to: every JWT rule of
``/login/jwt-session``, session cookies and CSRF, API keys, users, licence assignment (207), the identity-providers
API with its validation and paging, faults, and sharing a server with QSEoW. Plain ``http.client`` and tokens
minted with PyJWT: no qs_jwt code here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from conftest import key_bytes
from qlik_emulator import QscloudEmulator, QseowEmulator
from qlik_emulator.client import Reply, send
from qlik_emulator.fixtures import QSCLOUD_ADMIN, QSCLOUD_API_KEY, QSCLOUD_ISSUER, QSCLOUD_KID

AUDIENCE = "qlik.api/login/jwt-session"
# loaded once: loading an RSA private key checks it, which takes tens of milliseconds
PRIVATE = cast(RSAPrivateKey, load_pem_private_key(key_bytes("rsa2048_pkcs8.pem"), password=None))
OTHER_PRIVATE = cast(RSAPrivateKey, load_pem_private_key(key_bytes("other2048_pkcs8.pem"), password=None))
CERT = key_bytes("rsa2048_cert.pem").decode()
ONE_LINE_CERT = "".join(CERT.splitlines())
ADMIN = {"Authorization": f"Bearer {QSCLOUD_API_KEY}"}
SESSION_COOKIES = {"eas.sid", "eas.sid.sig", "_csrfToken", "_csrfToken.sig"}
FOREIGN_TENANT = ("User missing `TenantAdmin` role, or the tenantID in the JWT does not match any of the tenantIDs "
                  "in the payload.")


# --- a minimal client ------------------------------------------------------------------------------------

def claims(**changes: Any) -> dict[str, Any]:
    """Valid claims for the subject ``alice``, valid 5 minutes, a fresh jti; ``changes`` override (None drops)."""
    now = int(time.time())
    payload = {"iss": QSCLOUD_ISSUER, "aud": AUDIENCE, "sub": "alice", "subType": "user", "name": "Alice",
               "email": "alice@example.com", "email_verified": True, "groups": ["Sales"], "jti": str(uuid.uuid4()),
               "iat": now, "nbf": now, "exp": now + 300, **changes}
    return {name: value for name, value in payload.items() if value is not None}


def mint(*, key: Any = PRIVATE, algorithm: str = "RS256", kid: str | None = QSCLOUD_KID, **changes: Any) -> str:
    return jwt.encode(claims(**changes), key, algorithm=algorithm, headers={"kid": kid} if kid else None)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header: dict[str, Any], payload: dict[str, Any], secret: bytes | None = None) -> str:
    """A compact JWS built by hand, HMAC-SHA256-signed with ``secret`` (else no signature)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest() if secret else b""
    return f"{signing_input}.{b64(signature)}"


def post_login(emu: QscloudEmulator, token: str | None) -> Reply:
    return send(emu, "POST", "/login/jwt-session", headers={"Authorization": f"Bearer {token}"} if token else None)


def login(emu: QscloudEmulator, token: str | None = None) -> dict[str, str]:
    """The session cookies of a login with ``token`` (a valid one by default)."""
    reply = post_login(emu, token or mint())
    assert reply.status == 200, reply.body
    return reply.cookies


def cookie_header(cookies: Mapping[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def api(emu: QscloudEmulator, method: str, path: str, *, cookies: Mapping[str, str] | None = None,
        csrf: str | None = None, headers: Mapping[str, str] | None = None, body: Any = None) -> Reply:
    """An API call with the session ``cookies`` (and ``qlik-csrf-token: csrf``) or other ``headers``."""
    sent = dict(headers or {})
    if cookies:
        sent["Cookie"] = cookie_header(cookies)
    if csrf:
        sent["qlik-csrf-token"] = csrf
    return send(emu, method, path, headers=sent, body=body)


def csrf_token(emu: QscloudEmulator, cookies: Mapping[str, str]) -> str:
    reply = api(emu, "GET", "/api/v1/csrf-token", cookies=cookies)
    assert reply.status == 204 and reply.body == b""
    return reply.headers["qlik-csrf-token"]


def refused(emu: QscloudEmulator, token: str | None, status: int = 401) -> tuple[str, dict[str, Any]]:
    """Assert the login is refused with ``status``; return the reason logged and the error sent."""
    reply = post_login(emu, token)
    assert reply.status == status, reply.body
    assert "Set-Cookie" not in reply.headers
    error = reply.error
    assert error["detail"].startswith("JWT_LOGIN_VALIDATIONS ")
    assert (error["code"], error["title"]) == (("INTERNAL-TOKEN-1", "Invalid token request") if status == 400
                                               else ("LOGIN-1", "Authentication failed"))
    return emu.auth_failures[-1], error


def jwt_idp_body(**changes: Any) -> dict[str, Any]:
    body = {"protocol": "jwtAuth", "provider": "external", "interactive": False, "active": True,
            "description": "Auth for my web app",
            "options": {"jwtLoginEnabled": True, "issuer": "new-app",
                        "staticKeys": [{"kid": "new-key", "pem": ONE_LINE_CERT}]}, **changes}
    return {name: value for name, value in body.items() if value is not None}


def jwt_idp_options(**changes: Any) -> dict[str, Any]:
    options = {**jwt_idp_body()["options"], **changes}
    return jwt_idp_body(options={name: value for name, value in options.items() if value is not None})


# --- login: what a valid token gets -------------------------------------------------------------------------

def test_a_valid_token_gets_the_session_cookies_and_creates_the_user(qscloud_emulator: QscloudEmulator) -> None:
    reply = post_login(qscloud_emulator, mint())
    assert reply.status == 200
    assert reply.json() == {}
    assert set(reply.cookies) == SESSION_COOKIES
    for header in reply.headers.get_all("Set-Cookie", []):
        assert header.endswith("; path=/; httponly; secure; samesite=none")
    me = api(qscloud_emulator, "GET", "/api/v1/users/me", cookies=reply.cookies).json()
    assert {name: me[name] for name in ("tenantId", "subject", "name", "email", "status", "roles")} == {
        "tenantId": qscloud_emulator.tenant_id, "subject": "alice", "name": "Alice", "email": "alice@example.com",
        "status": "active", "roles": []}
    assert [group["name"] for group in me["assignedGroups"]] == ["Sales"]
    assert [user["subject"] for user in qscloud_emulator.users] == [QSCLOUD_ADMIN, "alice"]
    assert qscloud_emulator.auth_failures == []


def test_a_second_login_finds_the_user_by_subject_and_updates_it(qscloud_emulator: QscloudEmulator) -> None:
    first = api(qscloud_emulator, "GET", "/api/v1/users/me", cookies=login(qscloud_emulator)).json()
    again = login(qscloud_emulator, mint(name="Alice B.", email="ab@example.com", email_verified=False, groups=None))
    second = api(qscloud_emulator, "GET", "/api/v1/users/me", cookies=again).json()
    assert second["id"] == first["id"]
    assert second["name"] == "Alice B."
    assert "email" not in second  # Qlik Cloud shows only a verified email
    assert second["assignedGroups"] == []
    assert len(qscloud_emulator.users) == 2


def test_a_token_without_email_is_accepted(qscloud_emulator: QscloudEmulator) -> None:
    login(qscloud_emulator, mint(email=None, email_verified=None))


# --- login: every rule ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("token", "reason"), [
    (lambda: mint(kid="key-2"), "kid unknown"),
    (lambda: mint(kid=None), "kid missing"),
    (lambda: mint(iss="other-app"), "issuer unknown"),
    (lambda: mint(key=OTHER_PRIVATE), "signature"),
    (lambda: mint(algorithm="RS384"), "algorithm RS384"),
    (lambda: mint(algorithm="PS256"), "algorithm PS256"),
    (lambda: handmade({"alg": "HS256", "typ": "JWT", "kid": QSCLOUD_KID}, claims(), CERT.encode()),
     "algorithm HS256"),  # the certificate as an HMAC secret: key confusion
    (lambda: handmade({"alg": "none", "kid": QSCLOUD_KID}, claims()), "algorithm none"),
    (lambda: "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d", "encrypted JWT (JWE)"),
    (lambda: mint(aud="qlik.api"), "audience mismatch"),
    (lambda: mint(aud=[AUDIENCE]), "audience not a string"),
    (lambda: mint(exp=int(time.time()) - 10, nbf=int(time.time()) - 100, iat=int(time.time()) - 100), "expired"),
    (lambda: mint(nbf=int(time.time()) + 60, exp=int(time.time()) + 300), "not yet valid (nbf in the future)"),
    (lambda: mint(iat=int(time.time()) + 60), "issued in the future (iat)"),
], ids=["wrong-kid", "no-kid", "wrong-issuer", "other-key", "RS384", "PS256", "HS256-with-the-certificate", "none",
        "JWE", "wrong-aud", "aud-array", "expired", "nbf-future", "iat-future"])
def test_a_token_that_fails_a_check_is_a_401(qscloud_emulator: QscloudEmulator, token: Any, reason: str) -> None:
    assert refused(qscloud_emulator, token())[0] == reason
    assert qscloud_emulator.used_jtis == []
    assert [user["subject"] for user in qscloud_emulator.users] == [QSCLOUD_ADMIN]


@pytest.mark.parametrize("name", ["nbf", "iat", "exp", "jti", "sub", "subType", "name", "aud", "iss"])
def test_a_missing_required_claim_is_a_400(qscloud_emulator: QscloudEmulator, name: str) -> None:
    dropped: dict[str, Any] = {name: None}
    reason, error = refused(qscloud_emulator, mint(**dropped), status=400)
    assert reason == f"claim {name} missing"
    assert error["detail"] == f"JWT_LOGIN_VALIDATIONS Missing required claim: {name}"


@pytest.mark.parametrize(("changes", "reason"), [
    ({"email_verified": "true"}, "claim email_verified must be a boolean"),
    ({"email_verified": None}, "claim email_verified missing"),
    ({"subType": "client"}, 'claim subType must be "user"'),
    ({"name": ""}, "claim name must be a non-empty string"),
    ({"sub": 42}, "claim sub must be a non-empty string"),
    ({"groups": "Sales"}, "claim groups must be an array of strings"),
    ({"nbf": time.time()}, "claim nbf must be a NumericDate in whole seconds"),
    ({"nbf": int(time.time()), "exp": int(time.time()) + 3601}, "lifetime over 3600 s (exp - nbf)"),
    ({"iat": int(time.time()) - 100, "exp": int(time.time()) + 3550}, "lifetime over 3600 s (exp - iat)"),
], ids=["email_verified-string", "email-without-email_verified", "subType", "name-empty", "sub-number",
        "groups-string", "nbf-float", "over-an-hour", "over-an-hour-since-iat"])
def test_malformed_claims_are_a_400(qscloud_emulator: QscloudEmulator, changes: dict[str, Any], reason: str) -> None:
    assert refused(qscloud_emulator, mint(**changes), status=400)[0] == reason


def test_exactly_an_hour_is_accepted(qscloud_emulator: QscloudEmulator) -> None:
    now = int(time.time())
    login(qscloud_emulator, mint(iat=now, nbf=now, exp=now + 3600))


def test_a_jti_is_accepted_once(qscloud_emulator: QscloudEmulator) -> None:
    token = mint()
    login(qscloud_emulator, token)
    reason, error = refused(qscloud_emulator, token)
    assert reason == "jti replayed"
    assert "jti" in error["detail"]
    assert qscloud_emulator.used_jtis == [jwt.decode(token, options={"verify_signature": False})["jti"]]
    login(qscloud_emulator, mint())  # a fresh jti works
    assert len(qscloud_emulator.used_jtis) == 2


@pytest.mark.parametrize("authorization", [None, "Basic YWxpY2U6c2VjcmV0", "Bearer "], ids=["none", "basic", "empty"])
def test_a_login_without_a_bearer_token_is_refused(qscloud_emulator: QscloudEmulator,
                                                   authorization: str | None) -> None:
    reply = send(qscloud_emulator, "POST", "/login/jwt-session",
                 headers={"Authorization": authorization} if authorization else None)
    assert (reply.status, reply.error["code"]) == (401, "LOGIN-1")
    assert qscloud_emulator.auth_failures == ["no token"]


def test_login_takes_post_only_and_so_do_the_apis_their_methods(qscloud_emulator: QscloudEmulator) -> None:
    reply = send(qscloud_emulator, "GET", "/login/jwt-session", headers={"Authorization": f"Bearer {mint()}"})
    assert (reply.status, reply.error["code"]) == (405, "HTTP-405")
    reply = api(qscloud_emulator, "PUT", "/api/v1/identity-providers", headers=ADMIN, body={})
    assert (reply.status, reply.error["code"], reply.headers["Allow"]) == (405, "HTTP-405", "GET, POST")


def test_the_clock_tolerance_is_the_idps(qscloud_emulator: QscloudEmulator) -> None:
    now = int(time.time())
    login(qscloud_emulator, mint(nbf=now + 2, iat=now + 2, exp=now + 300))  # within the default 5 s
    login(qscloud_emulator, mint(iat=now - 200, nbf=now - 200, exp=now - 2))
    qscloud_emulator.add_jwt_idp("strict-app", "k", CERT, clock_skew=0)
    assert refused(qscloud_emulator, mint(iss="strict-app", kid="k", nbf=now + 2, iat=now))[0] == \
        "not yet valid (nbf in the future)"
    lenient = qscloud_emulator.add_jwt_idp("lenient-app", "k", CERT, clock_skew=60)
    assert lenient["clockToleranceSec"] == 60
    login(qscloud_emulator, mint(iss="lenient-app", kid="k", iat=now - 300, nbf=now - 300, exp=now - 30))


def test_an_inactive_idp_signs_nobody_in(qscloud_emulator: QscloudEmulator) -> None:
    qscloud_emulator.add_jwt_idp("sleeping-app", "k", CERT, active=False)
    assert refused(qscloud_emulator, mint(iss="sleeping-app", kid="k"))[0] == "issuer unknown"


def test_an_idp_may_hold_a_public_key_instead_of_a_certificate(qscloud_emulator: QscloudEmulator) -> None:
    qscloud_emulator.add_jwt_idp("key-app", "pub", key_bytes("rsa2048_public.pem"))
    login(qscloud_emulator, mint(iss="key-app", kid="pub"))


@pytest.mark.parametrize("pem", ["rsa1024_public.pem", "ec_p256_public.pem", "rsa2048_pkcs8.pem",
                                 "bundle_mismatch.pem"])
def test_add_jwt_idp_validates_the_key(qscloud_emulator: QscloudEmulator, pem: str) -> None:
    with pytest.raises(ValueError, match="staticKeys"):
        qscloud_emulator.add_jwt_idp("bad-app", "k", key_bytes(pem))


# --- cookies and CSRF -------------------------------------------------------------------------------------

def test_the_api_needs_a_session_or_an_api_key(qscloud_emulator: QscloudEmulator) -> None:
    cookies = login(qscloud_emulator)
    without_sig = {name: value for name, value in cookies.items() if name != "eas.sid.sig"}
    tampered = {**cookies, "eas.sid": cookies["eas.sid"][:-1] + ("A" if cookies["eas.sid"][-1] != "A" else "B")}
    jwt_as_key = {"Authorization": f"Bearer {mint()}"}
    attempts: list[dict[str, Any]] = [{}, {"cookies": without_sig}, {"cookies": tampered}, {"headers": jwt_as_key}]
    for attempt in attempts:
        reply = api(qscloud_emulator, "GET", "/api/v1/users/me", **attempt)
        assert (reply.status, reply.error["code"]) == (401, "HTTP-401"), attempt
    assert api(qscloud_emulator, "GET", "/api/v1/users/me", cookies=cookies).status == 200


def test_a_bearer_jwt_beside_the_cookies_does_no_harm(qscloud_emulator: QscloudEmulator) -> None:
    cookies = login(qscloud_emulator)
    reply = api(qscloud_emulator, "GET", "/api/v1/users/me", cookies=cookies,
                headers={"Authorization": f"Bearer {mint()}"})
    assert reply.json()["subject"] == "alice"


def test_the_csrf_token_is_the_csrf_cookie(qscloud_emulator: QscloudEmulator) -> None:
    cookies = login(qscloud_emulator)
    assert csrf_token(qscloud_emulator, cookies) == cookies["_csrfToken"]


def test_a_modifying_call_with_cookies_needs_the_csrf_header(qscloud_emulator: QscloudEmulator) -> None:
    cookies = login(qscloud_emulator)
    token = csrf_token(qscloud_emulator, cookies)
    body = {"add": [{"subject": "alice", "type": "analyzer"}]}
    no_csrf_cookie = {name: value for name, value in cookies.items() if not name.startswith("_csrfToken")}
    attempts: list[dict[str, Any]] = [{"cookies": cookies}, {"cookies": cookies, "csrf": "forged"},
                                      {"cookies": no_csrf_cookie, "csrf": token}]
    for attempt in attempts:
        reply = api(qscloud_emulator, "POST", "/api/v1/licenses/assignments/actions/add", body=body, **attempt)
        assert (reply.status, reply.error["code"]) == (403, "CSRF-TOKEN-2"), attempt
    # past the CSRF check, alice is no TenantAdmin
    reply = api(qscloud_emulator, "POST", "/api/v1/licenses/assignments/actions/add", body=body, cookies=cookies,
                csrf=token)
    assert (reply.status, reply.error["code"]) == (403, "HTTP-403")


def test_a_tenant_admin_with_a_session_and_the_csrf_token_may_assign(qscloud_emulator: QscloudEmulator) -> None:
    login(qscloud_emulator)  # alice exists
    cookies = login(qscloud_emulator, mint(sub=QSCLOUD_ADMIN, name="Admin"))  # the API key's user, by subject
    reply = api(qscloud_emulator, "POST", "/api/v1/licenses/assignments/actions/add", cookies=cookies,
                csrf=csrf_token(qscloud_emulator, cookies), body={"add": [{"subject": "alice", "type": "analyzer"}]})
    assert reply.status == 207
    assert qscloud_emulator.license_assignments == {"alice": "analyzer"}


def test_an_api_key_needs_no_csrf_token_and_gets_none(qscloud_emulator: QscloudEmulator) -> None:
    reply = api(qscloud_emulator, "GET", "/api/v1/csrf-token", headers=ADMIN)
    assert (reply.status, reply.error["detail"]) == (400, "Token is not supported for the auth mechanism being used")
    created = api(qscloud_emulator, "POST", "/api/v1/identity-providers", headers=ADMIN, body=jwt_idp_body())
    assert created.status == 201
    me = api(qscloud_emulator, "GET", "/api/v1/users/me", headers=ADMIN).json()
    assert (me["subject"], me["roles"], me["assignedRoles"][0]["name"]) == (QSCLOUD_ADMIN, ["TenantAdmin"],
                                                                             "TenantAdmin")


def test_an_unknown_api_path_is_a_json_404_and_other_paths_are_not_the_tenants(
        qscloud_emulator: QscloudEmulator) -> None:
    reply = api(qscloud_emulator, "GET", "/api/v1/spaces", headers=ADMIN)
    assert (reply.status, reply.error["code"]) == (404, "HTTP-404")
    assert api(qscloud_emulator, "GET", "/api/v1/spaces").status == 401
    page = send(qscloud_emulator, "GET", "/hub")
    assert page.status == 404 and page.headers["Content-Type"].startswith("text/html")


# --- users and licences -----------------------------------------------------------------------------------

def test_only_a_tenant_admin_lists_users(qscloud_emulator: QscloudEmulator) -> None:
    cookies = login(qscloud_emulator)
    assert api(qscloud_emulator, "GET", "/api/v1/users", cookies=cookies).status == 403
    data = api(qscloud_emulator, "GET", "/api/v1/users", headers=ADMIN).json()
    assert [user["subject"] for user in data["data"]] == [QSCLOUD_ADMIN, "alice"]
    assert "next" not in data["links"]


def test_a_non_admin_api_key_is_a_plain_user(qscloud_emulator: QscloudEmulator) -> None:
    qscloud_emulator.add_api_key("bob", "bobs-key", tenant_admin=False)
    headers = {"Authorization": "Bearer bobs-key"}
    assert api(qscloud_emulator, "GET", "/api/v1/users/me", headers=headers).json()["roles"] == []
    reply = api(qscloud_emulator, "GET", "/api/v1/identity-providers", headers=headers)
    assert (reply.status, reply.error["detail"]) == (403, FOREIGN_TENANT)
    with pytest.raises(ValueError, match="registered already"):
        qscloud_emulator.add_api_key("carol", "bobs-key")


def test_licence_assignment_answers_207_with_one_result_per_item(qscloud_emulator: QscloudEmulator) -> None:
    for subject in ("alice", "bob", "carol"):
        login(qscloud_emulator, mint(sub=subject))
    qscloud_emulator.set_allotment("analyzer", 1)
    reply = api(qscloud_emulator, "POST", "/api/v1/licenses/assignments/actions/add", headers=ADMIN, body={"add": [
        {"subject": "alice", "type": "professional"}, {"subject": "bob", "type": "analyzer"},
        {"subject": "carol", "type": "analyzer"}, {"subject": "alice", "type": "analyzer"},
        {"subject": "qlik\\nobody", "type": "analyzer"}, {"subject": "carol", "type": "fullUser"}]})
    assert reply.status == 207
    assert reply.json() == {"data": [
        {"subject": "alice", "type": "professional", "status": 201},
        {"subject": "bob", "type": "analyzer", "status": 201},
        {"subject": "carol", "type": "analyzer", "status": 403, "code": "LICENSES-011",
         "title": "No available allotment error, No available allotment."},
        {"subject": "alice", "type": "analyzer", "status": 409, "code": "HTTP-409",
         "title": "The user has a license assigned already."},
        {"subject": "qlik\\nobody", "type": "analyzer", "status": 404, "code": "HTTP-404", "title": "User not found."},
        {"subject": "carol", "type": "fullUser", "status": 403, "code": "LICENSES-011",
         "title": "No available allotment error, No available allotment."}]}
    assert qscloud_emulator.license_assignments == {"alice": "professional", "bob": "analyzer"}


@pytest.mark.parametrize("body", [b"not json", [], {"add": []}, {"add": [{"subject": "alice"}]},
                                  {"add": [{"subject": "", "type": "analyzer"}]}],
                         ids=["not-json", "array", "empty", "no-type", "empty-subject"])
def test_a_bad_licence_body_is_a_400(qscloud_emulator: QscloudEmulator, body: Any) -> None:
    reply = api(qscloud_emulator, "POST", "/api/v1/licenses/assignments/actions/add", headers=ADMIN, body=body)
    assert (reply.status, reply.error["code"]) == (400, "HTTP-400")


# --- identity providers -----------------------------------------------------------------------------------

def test_the_fixture_idp_is_listed(qscloud_emulator: QscloudEmulator) -> None:
    data = api(qscloud_emulator, "GET", "/api/v1/identity-providers", headers=ADMIN).json()
    (idp,) = data["data"]
    assert {name: idp[name] for name in ("protocol", "provider", "interactive", "active", "clockToleranceSec",
                                         "tenantIds")} == {
        "protocol": "jwtAuth", "provider": "external", "interactive": False, "active": True, "clockToleranceSec": 5,
        "tenantIds": [qscloud_emulator.tenant_id]}
    assert idp["options"] == {"issuer": QSCLOUD_ISSUER, "jwtLoginEnabled": True,
                              "staticKeys": [{"kid": QSCLOUD_KID, "pem": ONE_LINE_CERT}]}
    assert qscloud_emulator.identity_providers == [idp]


def test_create_read_patch_and_delete_a_jwt_idp(qscloud_emulator: QscloudEmulator) -> None:
    body = jwt_idp_body(tenantIds=[qscloud_emulator.tenant_id], clockToleranceSec=29.6)
    created = api(qscloud_emulator, "POST", "/api/v1/identity-providers", headers=ADMIN, body=body)
    assert created.status == 201
    idp = created.json()
    assert (idp["clockToleranceSec"], idp["description"], idp["created"] == idp["lastUpdated"]) == (
        30, "Auth for my web app", True)
    path = f"/api/v1/identity-providers/{idp['id']}"
    assert api(qscloud_emulator, "GET", path, headers=ADMIN).json() == idp
    login(qscloud_emulator, mint(iss="new-app", kid="new-key"))

    patch = [{"op": "replace", "path": "/description", "value": "renamed"}]
    assert api(qscloud_emulator, "PATCH", path, headers=ADMIN, body=patch).status == 204
    assert api(qscloud_emulator, "GET", path, headers=ADMIN).json()["description"] == "renamed"
    issuer_patch = [*patch, {"op": "replace", "path": "/options/issuer", "value": "x"}]
    assert api(qscloud_emulator, "PATCH", path, headers=ADMIN, body=issuer_patch).status == 400
    assert api(qscloud_emulator, "GET", path, headers=ADMIN).json()["options"]["issuer"] == "new-app"

    assert api(qscloud_emulator, "DELETE", path, headers=ADMIN).status == 204
    assert api(qscloud_emulator, "GET", path, headers=ADMIN).status == 404
    assert api(qscloud_emulator, "DELETE", path, headers=ADMIN).status == 404
    assert refused(qscloud_emulator, mint(iss="new-app", kid="new-key"))[0] == "issuer unknown"


@pytest.mark.parametrize(("body", "detail"), [
    (jwt_idp_body(provider="qlik"), "provider must be external"),
    (jwt_idp_body(interactive=True), "interactive must be false"),
    (jwt_idp_body(interactive=None), "interactive must be false"),
    (jwt_idp_body(active="yes"), "active must be a boolean"),
    (jwt_idp_body(protocol="saml"), "protocol must be"),
    (jwt_idp_body(options=None), "options must be an object"),
    (jwt_idp_options(issuer=""), "options.issuer"),
    (jwt_idp_options(jwtLoginEnabled=None), "options.jwtLoginEnabled"),
    (jwt_idp_options(staticKeys=[]), "exactly one key"),
    (jwt_idp_options(staticKeys=[{"kid": "a", "pem": ONE_LINE_CERT}, {"kid": "b", "pem": ONE_LINE_CERT}]),
     "exactly one key"),
    (jwt_idp_options(staticKeys=[{"pem": ONE_LINE_CERT}]), "kid must be a non-empty string"),
    (jwt_idp_options(staticKeys=[{"kid": "a", "pem": CERT}]), "on a single line"),
    (jwt_idp_options(staticKeys=[{"kid": "a", "pem": "-----BEGIN CERTIFICATE-----abc-----END CERTIFICATE-----"}]),
     "pem"),
    (jwt_idp_options(staticKeys=[{"kid": "a", "pem": "".join(key_bytes("rsa1024_public.pem").decode().split("\n"))}]),
     "1024 bits"),
    (jwt_idp_body(clockToleranceSec=-1), "clockToleranceSec"),
    (jwt_idp_body(description=7), "description must be a string"),
    (jwt_idp_body(tenantIds="abc"), "tenantIds"),
    (["not", "an", "object"], "JSON object"),
], ids=["provider", "interactive-true", "interactive-missing", "active-text", "protocol", "no-options", "no-issuer",
        "no-jwtLoginEnabled", "no-keys", "two-keys", "no-kid", "line-breaks", "bad-pem", "rsa1024", "negative-skew",
        "description-number", "tenantIds-text", "array"])
def test_an_invalid_idp_body_is_a_400(qscloud_emulator: QscloudEmulator, body: Any, detail: str) -> None:
    reply = api(qscloud_emulator, "POST", "/api/v1/identity-providers", headers=ADMIN, body=body)
    assert reply.status == 400
    assert detail in reply.error["detail"]
    assert len(qscloud_emulator.identity_providers) == 1


def test_an_idp_for_another_tenant_is_a_403(qscloud_emulator: QscloudEmulator) -> None:
    reply = api(qscloud_emulator, "POST", "/api/v1/identity-providers", headers=ADMIN,
                body=jwt_idp_body(tenantIds=["another-tenant"]))
    assert (reply.status, reply.error["detail"]) == (403, FOREIGN_TENANT)


def test_a_session_user_without_the_role_may_not_read_idps(qscloud_emulator: QscloudEmulator) -> None:
    reply = api(qscloud_emulator, "GET", "/api/v1/identity-providers", cookies=login(qscloud_emulator))
    assert (reply.status, reply.error["detail"]) == (403, FOREIGN_TENANT)


def multi_cloud_body(tenant_id: str, **changes: Any) -> dict[str, Any]:
    token = base64.b64encode(json.dumps({"issuerConfig": {"issuer": "https://qlik.example"}}).encode()).decode()
    body = {"protocol": "qsefw-local-bearer-token", "provider": "qlik", "interactive": False,
            "description": "Automatic", "base64Encoded": token, "tenantIds": [tenant_id], **changes}
    return {name: value for name, value in body.items() if value is not None}


def test_a_multi_cloud_idp(qscloud_emulator: QscloudEmulator) -> None:
    reply = api(qscloud_emulator, "POST", "/api/v1/identity-providers", headers=ADMIN,
                body=multi_cloud_body(qscloud_emulator.tenant_id))
    assert reply.status == 201
    idp = reply.json()
    assert (idp["protocol"], idp["provider"], idp["tenantIds"]) == ("qsefw-local-bearer-token", "qlik",
                                                                    [qscloud_emulator.tenant_id])
    listed = api(qscloud_emulator, "GET", "/api/v1/identity-providers?protocol=qsefw-local-bearer-token",
                 headers=ADMIN).json()
    assert [item["id"] for item in listed["data"]] == [idp["id"]]


@pytest.mark.parametrize(("changes", "detail"), [
    ({"tenantIds": None}, "tenantIds is required"),
    ({"provider": "external"}, "provider must be qlik"),
    ({"base64Encoded": "not base64!"}, "base64Encoded is not base64"),
    ({"base64Encoded": None}, "base64Encoded must be"),
], ids=["no-tenantIds", "provider", "not-base64", "no-token"])
def test_an_invalid_multi_cloud_body_is_a_400(qscloud_emulator: QscloudEmulator, changes: dict[str, Any],
                                              detail: str) -> None:
    reply = api(qscloud_emulator, "POST", "/api/v1/identity-providers", headers=ADMIN,
                body=multi_cloud_body(qscloud_emulator.tenant_id, **changes))
    assert reply.status == 400
    assert detail in reply.error["detail"]


def test_lists_are_paged_by_limit_and_links_next(qscloud_emulator: QscloudEmulator) -> None:
    for number in range(4):
        qscloud_emulator.add_jwt_idp(f"app-{number}", "k", CERT, active=number != 3)
    expected = [idp["id"] for idp in qscloud_emulator.identity_providers]
    seen, pages = [], 0
    href: str | None = f"{qscloud_emulator.url}/api/v1/identity-providers?limit=2"
    while href:
        assert href.startswith(f"{qscloud_emulator.url}/api/v1/identity-providers?")
        parts = urlsplit(href)
        data = api(qscloud_emulator, "GET", f"{parts.path}?{parts.query}", headers=ADMIN).json()
        assert data["links"]["self"]["href"] == href
        seen += [idp["id"] for idp in data["data"]]
        pages += 1
        href = data["links"].get("next", {}).get("href")
    assert (seen, pages) == (expected, 3)
    inactive = api(qscloud_emulator, "GET", "/api/v1/identity-providers?active=false", headers=ADMIN).json()
    assert [idp["options"]["issuer"] for idp in inactive["data"]] == ["app-3"]
    filtered = api(qscloud_emulator, "GET", "/api/v1/identity-providers?active=true&limit=3", headers=ADMIN).json()
    assert "active=true" in filtered["links"]["next"]["href"]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=two", "next=bm9wZQ==", "active=yes"])
def test_bad_list_parameters_are_a_400(qscloud_emulator: QscloudEmulator, query: str) -> None:
    reply = api(qscloud_emulator, "GET", f"/api/v1/identity-providers?{query}", headers=ADMIN)
    assert (reply.status, reply.error["code"]) == (400, "HTTP-400")


# --- faults, servers ----------------------------------------------------------------------------------------

def test_rate_limiting_is_a_fail_next_429(qscloud_emulator: QscloudEmulator) -> None:
    body = json.dumps({"errors": [{"code": "HTTP-429", "title": "Too Many Requests", "status": "429"}]})
    qscloud_emulator.fail_next("/api/v1/identity-providers", 429, headers={"Retry-After": "1"}, body=body,
                               content_type="application/json")
    first = api(qscloud_emulator, "POST", "/api/v1/identity-providers", headers=ADMIN, body=jwt_idp_body())
    assert (first.status, first.headers["Retry-After"], first.json()["errors"][0]["code"]) == (429, "1", "HTTP-429")
    assert api(qscloud_emulator, "POST", "/api/v1/identity-providers", headers=ADMIN, body=jwt_idp_body()).status \
        == 201
    assert [request.path for request in qscloud_emulator.requests] == ["/api/v1/identity-providers"] * 2


def test_a_failed_or_stalled_login_leaves_no_trace_and_the_next_works(qscloud_emulator: QscloudEmulator) -> None:
    qscloud_emulator.fail_next("/login/jwt-session", 503)
    qscloud_emulator.stall("/login/jwt-session", 5.0)
    token = mint()
    assert post_login(qscloud_emulator, token).status == 503
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        send(qscloud_emulator, "POST", "/login/jwt-session", headers={"Authorization": f"Bearer {token}"},
             timeout=0.2)
    assert time.monotonic() - started < 2
    assert qscloud_emulator.used_jtis == []
    login(qscloud_emulator, token)


def test_qlik_cloud_and_qseow_share_one_server(qscloud_emulator: QscloudEmulator,
                                               qseow_emulator: QseowEmulator) -> None:
    assert qscloud_emulator.url == qseow_emulator.url
    login(qscloud_emulator)
    qseow_token = jwt.encode({"userId": "admin", "userDirectory": "ACME", "aud": "qlik",
                              "exp": int(time.time()) + 300}, PRIVATE, algorithm="RS256")
    hub = send(qscloud_emulator, "GET", "/jwt/hub", headers={"Authorization": f"Bearer {qseow_token}"})
    assert hub.status == 200
    assert qseow_emulator.sessions and qscloud_emulator.auth_failures == []


def test_an_emulator_with_its_own_plain_http_server() -> None:
    with QscloudEmulator(tls=False) as emu:
        emu.add_jwt_idp(QSCLOUD_ISSUER, QSCLOUD_KID, CERT)
        assert emu.url.startswith("http://127.0.0.1:")
        reply = post_login(emu, mint())
        assert reply.status == 200
        assert all(header.endswith("; path=/; httponly") for header in reply.headers.get_all("Set-Cookie", []))
        assert api(emu, "GET", "/api/v1/users/me", cookies=reply.cookies).json()["tenantId"] == emu.tenant_id
    with pytest.raises(ConnectionRefusedError):
        post_login(emu, mint())
