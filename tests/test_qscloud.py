"""qs_jwt.qscloud: tenant addresses, why a JWT login was refused, sessions, the Qlik Cloud client (against the
emulator in tests/qlik_emulator), identity-provider bodies and checks, and QSEoW multi-cloud bearer tokens.

Tokens for the emulator are minted with PyJWT, so that a login failure here is the client's, not the minter's.
Every client gets ``HttpSettings(ca_cert=<the emulator's CA>)``: no test relies on the machine's trust or proxies.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any, cast

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import NameOID

from conftest import FIXED_NOW, PASSPHRASE, key_bytes
from qlik_emulator import QscloudEmulator
from qlik_emulator.fixtures import QSCLOUD_API_KEY, QSCLOUD_ISSUER, QSCLOUD_KID
from qs_jwt import jwk_thumbprint
from qs_jwt.errors import (
    KEY_WEAK,
    KEY_WRONG_TYPE,
    ArgumentTypeError,
    InvalidValueError,
    KeyLoadError,
    QlikApiError,
    QlikConnectionError,
    QsJwtError,
    TokenFormatError,
)
from qs_jwt.http import HttpSettings
from qs_jwt.qscloud import (
    CSRF_HEADER,
    JWT_AUTH,
    LOGIN_PATH,
    MULTI_CLOUD,
    IdentityProviderCheck,
    QlikCloudClient,
    QlikCloudSession,
    QlikLoginError,
    check_identity_providers,
    decode_bearer_token,
    describe_bearer_token,
    explain_login_error,
    identity_provider_thumbprint,
    jwt_idp_body,
    multicloud_idp_body,
    normalize_tenant_url,
    rebuild_bearer_token,
)

AUDIENCE = "qlik.api/login/jwt-session"
IDP_PATH = "/api/v1/identity-providers"
ME_PATH = "/api/v1/users/me"
CSRF_PATH = "/api/v1/csrf-token"
# loaded once: loading an RSA private key checks it, which takes tens of milliseconds
PRIVATE = cast(RSAPrivateKey, load_pem_private_key(key_bytes("rsa2048_pkcs8.pem"), password=None))
PUBLIC = PRIVATE.public_key()
OTHER_PRIVATE = cast(RSAPrivateKey, load_pem_private_key(key_bytes("other2048_pkcs8.pem"), password=None))
OTHER_PUBLIC = OTHER_PRIVATE.public_key()
CERT_PEM = key_bytes("rsa2048_cert.pem")
CERT = x509.load_pem_x509_certificate(CERT_PEM)
THUMBPRINT = jwk_thumbprint(PUBLIC)
OTHER_THUMBPRINT = jwk_thumbprint(OTHER_PUBLIC)
PUBLIC_PEM_TEXT = key_bytes("rsa2048_public.pem").decode()
CSRF_2 = json.dumps({"errors": [{"code": "CSRF-TOKEN-2", "title": "Invalid CSRF token", "status": "403"}]})
JSON_TYPE = "application/json; charset=utf-8"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to the emulator go straight to 127.0.0.1, whatever proxies this machine names."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)


# ---------------------------------------------------------------- helpers


def mint(*, key: Any = PRIVATE, kid: str | None = QSCLOUD_KID, **changes: Any) -> str:
    """A valid token for the emulator's IdP (subject ``alice``, 5 minutes, a fresh jti); ``changes`` override."""
    now = int(time.time())
    claims = {"iss": QSCLOUD_ISSUER, "aud": AUDIENCE, "sub": "alice", "subType": "user", "name": "Alice",
              "email": "alice@example.com", "email_verified": True, "groups": ["Sales"], "jti": str(uuid.uuid4()),
              "iat": now, "nbf": now, "exp": now + 300, **changes}
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm="RS256",
                      headers={"kid": kid} if kid else None)


def settings(emu: QscloudEmulator, **changes: Any) -> HttpSettings:
    return HttpSettings(**{"ca_cert": str(emu.ca_cert_path), "timeout": 5, **changes})


def api_client(emu: QscloudEmulator, lines: list[str] | None = None, **kwargs: Any) -> QlikCloudClient:
    return QlikCloudClient(emu.url, api_key=QSCLOUD_API_KEY, settings=settings(emu),
                           log=lines.append if lines is not None else None, **kwargs)


def logged_in(emu: QscloudEmulator, lines: list[str] | None = None, *, admin: bool = False,
              token: str | None = None) -> QlikCloudClient:
    """A client with a session of ``alice`` (a TenantAdmin when ``admin``)."""
    if admin:
        emu.add_api_key("alice", "alice-own-api-key-0001", tenant_admin=True)
    client = QlikCloudClient(emu.url, settings=settings(emu), log=lines.append if lines is not None else None)
    client.login(token or mint())
    return client


def cookie_values(client: QlikCloudClient) -> dict[str, str]:
    return {cookie.name: cookie.value or "" for cookie in client._http.cookies.jar}


def requests_to(emu: QscloudEmulator, path: str) -> list[Any]:
    return [request for request in emu.requests if request.path == path]


def new_body(issuer: str = "new-app", **changes: Any) -> dict[str, Any]:
    return jwt_idp_body(issuer=issuer, certificate=CERT_PEM, kid="new-key", **changes)


def one_line_pem(pem: bytes) -> str:
    return "".join(pem.decode().split("\n"))


def certificate(key: Any, signer: Any = None, *, days: tuple[int, int] = (-1, 365), name: str = "qs-jwt-test",
                now: float | None = None) -> x509.Certificate:
    """A self-signed certificate for ``key`` (its public key, signed by ``signer`` or by ``key``)."""
    moment = dt.datetime.fromtimestamp(now if now is not None else time.time(), dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    public = key.public_key() if hasattr(key, "public_key") else key
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(moment + dt.timedelta(days=days[0]))
            .not_valid_after(moment + dt.timedelta(days=days[1]))
            .sign(signer or key, hashes.SHA256()))


# ---------------------------------------------------------------- normalize_tenant_url


@pytest.mark.parametrize(("given", "expected"), [
    ("your-tenant.eu.qlikcloud.com", "https://your-tenant.eu.qlikcloud.com"),
    ("https://your-tenant.eu.qlikcloud.com", "https://your-tenant.eu.qlikcloud.com"),
    ("https://your-tenant.eu.qlikcloud.com/", "https://your-tenant.eu.qlikcloud.com"),
    ("  your-tenant.eu.qlikcloud.com/  ", "https://your-tenant.eu.qlikcloud.com"),
    ("HTTPS://your-tenant.eu.qlikcloud.com:443", "https://your-tenant.eu.qlikcloud.com:443"),
    ("http://127.0.0.1:8443", "http://127.0.0.1:8443"),
    ("http://localhost:8443/", "http://localhost:8443"),
])
def test_normalize_tenant_url_gives_https_host(given: str, expected: str) -> None:
    assert normalize_tenant_url(given) == expected


@pytest.mark.parametrize(("given", "says"), [
    ("https://your-tenant.eu.qlikcloud.com/hub", "without a path (/hub)"),
    ("your-tenant.eu.qlikcloud.com/api/v1", "without a path (/api/v1)"),
    ("http://your-tenant.eu.qlikcloud.com", "https is required"),
    ("ftp://your-tenant.eu.qlikcloud.com", "https://"),
    ("https://user:pw@your-tenant.eu.qlikcloud.com", "user name or password"),
    ("https://your-tenant.eu.qlikcloud.com?x=1", "query"),
    ("", "server address"),
])
def test_normalize_tenant_url_refuses_anything_but_a_host(given: str, says: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        normalize_tenant_url(given)
    assert info.value.param == "tenant"
    assert says in str(info.value)
    assert str(info.value).startswith("tenant: ")


def test_normalize_tenant_url_names_a_path_with_the_host_to_give() -> None:
    with pytest.raises(InvalidValueError) as info:
        normalize_tenant_url("your-tenant.eu.qlikcloud.com/sense/app")
    assert "https://your-tenant.eu.qlikcloud.com" in info.value.reason


@pytest.mark.parametrize("secret", [
    jwt.encode({"sub": "x"}, PRIVATE, algorithm="RS256"),
    "Zk9vQmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZkdISUpLTE1Ob3A",
])
def test_normalize_tenant_url_refuses_a_token_without_echoing_it(secret: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        normalize_tenant_url(secret)
    assert info.value.param == "tenant"
    assert secret not in str(info.value)
    assert secret[:12] not in str(info.value)
    assert "looks like" in str(info.value)


# ---------------------------------------------------------------- explain_login_error


def api_error(status: int | None, code: str | None = None, title: str | None = None,
              detail: str | None = None) -> QlikApiError:
    """A QlikApiError as the HTTP layer builds it from Qlik's error envelope."""
    items: tuple[dict[str, object], ...] = ()
    if code or title or detail:
        items = ({"code": code, "title": title, "detail": detail, "status": status},)
    return QlikApiError(f"POST https://t.example{LOGIN_PATH}: {status}", status=status, code=code, title=title,
                        detail=detail, items=items, method="POST", url=f"https://t.example{LOGIN_PATH}")


@pytest.mark.parametrize(("status", "code", "title", "detail", "says"), [
    (400, "INTERNAL-TOKEN-1", "Invalid token request", "JWT_LOGIN_VALIDATIONS Missing required claim: nbf",
     "the token lacks claim nbf:"),
    (400, "INTERNAL-TOKEN-1", "Invalid token request", "JWT_LOGIN_VALIDATIONS Missing required claim: jti",
     "the token lacks claim jti:"),
    (400, "INTERNAL-TOKEN-1", "Invalid token request", "JWT_LOGIN_VALIDATIONS Missing required claim: subType",
     "the token lacks claim subType:"),
    (400, "INTERNAL-TOKEN-1", "Invalid token request", "JWT_LOGIN_VALIDATIONS Missing required claims: nbf, jti",
     "the token lacks claim nbf"),
    (400, "INTERNAL-TOKEN-1", "Invalid token request",
     "JWT_LOGIN_VALIDATIONS Invalid claim email_verified: must be a boolean",
     "the token has a malformed claim email_verified:"),
    (401, "LOGIN-2", "No authentication configured for this hostname", None, "the tenant address is wrong"),
    (403, "AUTH-5", "Forbidden", "User is not a member of tenant", "the user is not a member of this tenant"),
    (401, "LOGIN-10", "returnto not included in web integration whitelist", None,
     "add the origin to a web integration"),
    (401, "LOGIN-1", "Authentication failed", "JWT_LOGIN_VALIDATIONS The token has expired (exp)",
     "the token has expired"),
    (401, "LOGIN-1", "Authentication failed", "JWT_LOGIN_VALIDATIONS The token is not valid yet (nbf)",
     "the token is not valid yet by Qlik's clock"),
    (401, "LOGIN-1", "Authentication failed", "JWT_LOGIN_VALIDATIONS The token was issued in the future (iat)",
     "the token is not valid yet by Qlik's clock"),
    (401, "LOGIN-1", "Authentication failed", "edge-auth: token issued in future",
     "the token is not valid yet by Qlik's clock"),
    (401, "LOGIN-1", "Authentication failed",
     "JWT_LOGIN_VALIDATIONS Invalid audience qlik.api: expected qlik.api/login/jwt-session", "the audience is wrong"),
    (401, "LOGIN-1", "Authentication failed",
     "JWT_LOGIN_VALIDATIONS No active JWT identity provider has the issuer other-app",
     "no active JWT identity provider of the tenant has the token's issuer"),
    (401, "LOGIN-1", "Authentication failed",
     "JWT_LOGIN_VALIDATIONS No key with the kid K in the identity provider of the issuer X",
     "the token's kid is not the key id"),
    (401, "LOGIN-1", "Authentication failed",
     "JWT_LOGIN_VALIDATIONS No key with the kid key-2 in the identity provider of the issuer my-app",
     "the token's kid is not the key id"),
    (401, "LOGIN-1", "Authentication failed", "JWT_LOGIN_VALIDATIONS Missing required header: kid",
     "the token has no kid in its header"),
    (401, "LOGIN-1", "Authentication failed",
     "JWT_LOGIN_VALIDATIONS The token's jti has been used before: a JWT can be used only once",
     "the token was used before"),
    (400, "INTERNAL-TOKEN-1", "Invalid token request",
     "JWT_LOGIN_VALIDATIONS The time between nbf and exp must not exceed 3600 seconds",
     "the token lives longer than Qlik Cloud allows"),
    (400, None, None, "The JWT token validity cannot exceed 3600 seconds", "the token lives longer"),
    (401, "LOGIN-1", "Authentication failed", "JWT_LOGIN_VALIDATIONS Invalid token signature",
     "the signature does not verify"),
    (401, "LOGIN-1", "Authentication failed", "JWT_LOGIN_VALIDATIONS Unsupported algorithm HS256: use RS256",
     "the token's algorithm is not one Qlik Cloud takes"),
    (401, "LOGIN-1", "Authentication failed", "JWT_LOGIN_VALIDATIONS Encrypted tokens (JWE) are not supported",
     "the token is encrypted (JWE)"),
], ids=["claim-nbf", "claim-jti", "claim-subType-case", "claims-plural", "claim-malformed", "LOGIN-2", "AUTH-5",
        "LOGIN-10", "expired", "nbf-future", "iat-future", "edge-auth-future", "audience", "issuer", "kid-K-issuer-X",
        "kid-key-2", "kid-missing", "jti-replayed", "lifetime", "lifetime-KB", "signature", "algorithm", "JWE"])
def test_explain_login_error_names_the_cause(status: int, code: str | None, title: str | None, detail: str | None,
                                             says: str) -> None:
    explanation = explain_login_error(api_error(status, code, title, detail))
    assert len(explanation) == 1
    assert explanation[0].startswith(says) or says in explanation[0], explanation


def test_explain_login_error_reads_every_item_not_only_the_first_fields() -> None:
    error = QlikApiError("POST x: 401", status=401, code="LOGIN-1", title="Authentication failed", items=(
        {"code": "LOGIN-1", "title": "Authentication failed", "detail": None, "status": 401},
        {"code": "LOGIN-1", "title": "Authentication failed", "detail": "Invalid token signature", "status": 401}))
    assert explain_login_error(error)[0].startswith("the signature does not verify")


def test_explain_login_error_of_a_bare_401_or_403_lists_the_usual_causes() -> None:
    for error in (api_error(401), api_error(403), api_error(401, "LOGIN-1", "Authentication failed"),
                  api_error(401, None, "Unauthorized.")):
        explanation = explain_login_error(error)
        assert explanation[0].startswith("Qlik does not say more")
        assert len(explanation) == 5
        assert any("issuer and kid" in line for line in explanation)
        assert any("once only" in line for line in explanation)


@pytest.mark.parametrize("error", [api_error(500), api_error(500, "HTTP-500", "Internal Server Error"),
                                   api_error(502, None, None, "Bad Gateway"), api_error(None)])
def test_explain_login_error_of_a_server_failure_is_empty(error: QlikApiError) -> None:
    assert explain_login_error(error) == []


def test_a_login_with_a_wrong_kid_raises_qlik_login_error(qscloud_emulator: QscloudEmulator) -> None:
    with QlikCloudClient(qscloud_emulator.url, settings=settings(qscloud_emulator)) as client, \
            pytest.raises(QlikLoginError) as info:
        client.login(mint(kid="key-2"))
    error = info.value
    assert isinstance(error, QlikApiError)
    assert (error.status, error.code) == (401, "LOGIN-1")
    assert error.detail is not None and "kid key-2" in error.detail
    assert isinstance(error.explanation, tuple) and len(error.explanation) == 1
    assert error.explanation[0].startswith("the token's kid is not the key id")
    assert error.method == "POST" and error.url is not None and error.url.endswith(LOGIN_PATH)
    assert error.items and error.items[0]["code"] == "LOGIN-1"
    assert "401" in str(error)
    assert not client.has_session
    assert qscloud_emulator.auth_failures == ["kid unknown"]


def test_a_replayed_token_raises_qlik_login_error(qscloud_emulator: QscloudEmulator) -> None:
    token = mint()
    with logged_in(qscloud_emulator, token=token):
        pass
    with QlikCloudClient(qscloud_emulator.url, settings=settings(qscloud_emulator)) as client, \
            pytest.raises(QlikLoginError) as info:
        client.login(token)
    assert (info.value.status, info.value.code) == (401, "LOGIN-1")
    assert info.value.explanation[0].startswith("the token was used before")
    assert qscloud_emulator.auth_failures == ["jti replayed"]
    assert token not in str(info.value)


def test_a_login_with_a_missing_claim_is_a_400_qlik_login_error(qscloud_emulator: QscloudEmulator) -> None:
    with QlikCloudClient(qscloud_emulator.url, settings=settings(qscloud_emulator)) as client, \
            pytest.raises(QlikLoginError) as info:
        client.login(mint(nbf=None))
    assert (info.value.status, info.value.code) == (400, "INTERNAL-TOKEN-1")
    assert info.value.explanation[0].startswith("the token lacks claim nbf")


@pytest.mark.parametrize("jwt_value", ["", "   ", None, 42])
def test_login_takes_the_jwt_as_text(qscloud_emulator: QscloudEmulator, jwt_value: Any) -> None:
    with QlikCloudClient(qscloud_emulator.url, settings=settings(qscloud_emulator)) as client, \
            pytest.raises(ArgumentTypeError) as info:
        client.login(jwt_value)
    assert info.value.param == "jwt"
    assert qscloud_emulator.requests == []


# ---------------------------------------------------------------- the client: sessions and CSRF


def test_login_returns_the_user_and_keeps_the_session(qscloud_emulator: QscloudEmulator) -> None:
    client = QlikCloudClient(qscloud_emulator.url, settings=settings(qscloud_emulator))
    assert not client.has_session and client.csrf_token is None
    with client:
        user = client.login(mint())
        assert user["subject"] == "alice" and user["tenantId"] == qscloud_emulator.tenant_id
        assert client.has_session
        cookies = cookie_values(client)
        assert {"eas.sid", "eas.sid.sig", "_csrfToken", "_csrfToken.sig"} <= set(cookies)
        assert client.csrf_token is not None and client.csrf_token == cookies["_csrfToken"]
        assert client.me()["id"] == user["id"]
        assert client.tenant_id() == qscloud_emulator.tenant_id
    assert [(r.method, r.path) for r in qscloud_emulator.requests] == [
        ("POST", LOGIN_PATH), ("GET", CSRF_PATH), ("GET", ME_PATH), ("GET", ME_PATH), ("GET", ME_PATH)]
    login_request = qscloud_emulator.requests[0]
    assert login_request.headers["authorization"].startswith("Bearer eyJ")


def test_a_post_with_the_session_carries_the_csrf_token_and_a_get_does_not(
        qscloud_emulator: QscloudEmulator) -> None:
    with logged_in(qscloud_emulator, admin=True) as client:
        client.identity_providers()
        created = client.create_identity_provider(new_body(tenant_id=qscloud_emulator.tenant_id))
        assert created["options"]["issuer"] == "new-app"
        client.delete_identity_provider(created["id"])
        csrf = client.csrf_token
    gets = [r for r in qscloud_emulator.requests if r.method == "GET"]
    assert gets and all(CSRF_HEADER not in r.headers for r in gets)
    (post,) = [r for r in qscloud_emulator.requests if r.method == "POST" and r.path == IDP_PATH]
    (delete,) = [r for r in qscloud_emulator.requests if r.method == "DELETE"]
    assert post.headers[CSRF_HEADER] == csrf == delete.headers[CSRF_HEADER]
    assert "authorization" not in post.headers
    assert "eas.sid=" in post.headers["cookie"]
    assert [idp["options"]["issuer"] for idp in qscloud_emulator.identity_providers] == [QSCLOUD_ISSUER]


def test_a_wrong_csrf_token_is_fetched_again_and_the_request_sent_once_more(
        qscloud_emulator: QscloudEmulator) -> None:
    with logged_in(qscloud_emulator, admin=True) as client:
        good = client.csrf_token
        client._csrf = "junk-csrf-token-value"
        created = client.create_identity_provider(new_body())
        assert created["options"]["issuer"] == "new-app"
        assert client.csrf_token == good
    tail = [(r.method, r.path, r.headers.get(CSRF_HEADER)) for r in qscloud_emulator.requests[-3:]]
    assert tail == [("POST", IDP_PATH, "junk-csrf-token-value"), ("GET", CSRF_PATH, None), ("POST", IDP_PATH, good)]


def test_a_csrf_token_2_answer_fetches_a_new_token_and_retries_once(qscloud_emulator: QscloudEmulator) -> None:
    with logged_in(qscloud_emulator, admin=True) as client:
        qscloud_emulator.fail_next(IDP_PATH, 403, body=CSRF_2, content_type=JSON_TYPE)
        created = client.create_identity_provider(new_body())
        assert created["id"] in {idp["id"] for idp in qscloud_emulator.identity_providers}
    assert [(r.method, r.path) for r in qscloud_emulator.requests[-3:]] == [
        ("POST", IDP_PATH), ("GET", CSRF_PATH), ("POST", IDP_PATH)]


def test_a_second_csrf_refusal_is_raised(qscloud_emulator: QscloudEmulator) -> None:
    with logged_in(qscloud_emulator, admin=True) as client:
        qscloud_emulator.fail_next(IDP_PATH, 403, count=2, body=CSRF_2, content_type=JSON_TYPE)
        with pytest.raises(QlikApiError) as info:
            client.create_identity_provider(new_body())
    assert (info.value.status, info.value.code) == (403, "CSRF-TOKEN-2")
    assert [r.path for r in qscloud_emulator.requests if r.method == "POST"].count(IDP_PATH) == 2
    assert len(qscloud_emulator.identity_providers) == 1


def test_a_401_on_the_csrf_retry_says_the_session_has_ended(qscloud_emulator: QscloudEmulator) -> None:
    with logged_in(qscloud_emulator, admin=True) as client:
        qscloud_emulator.fail_next(IDP_PATH, 403, body=CSRF_2, content_type=JSON_TYPE)
        qscloud_emulator.fail_next(IDP_PATH, 401, body=json.dumps({"errors": [{"code": "HTTP-401", "title":
                                                                               "Unauthorized", "status": "401"}]}),
                                   content_type=JSON_TYPE)
        with pytest.raises(QlikApiError) as info:
            client.create_identity_provider(new_body())
    assert info.value.status == 401
    assert "session has ended" in str(info.value)


def test_a_login_answer_without_cookies_is_no_session(qscloud_emulator: QscloudEmulator) -> None:
    qscloud_emulator.fail_next(LOGIN_PATH, 200, body="{}", content_type=JSON_TYPE)
    with QlikCloudClient(qscloud_emulator.url, settings=settings(qscloud_emulator)) as client:
        with pytest.raises(QlikApiError) as info:
            client.login(mint())
        assert not isinstance(info.value, QlikLoginError)
        assert "set no session cookie" in str(info.value)
        assert not client.has_session


@pytest.mark.parametrize("answer", [b"", b"[1, 2]", b"null"])
def test_an_identity_provider_answer_that_is_no_object_is_a_qlik_api_error(qscloud_emulator: QscloudEmulator,
                                                                          answer: bytes) -> None:
    qscloud_emulator.fail_next(f"{IDP_PATH}/abc", 200, body=answer, content_type=JSON_TYPE)
    with api_client(qscloud_emulator) as client, pytest.raises(QlikApiError):
        client.identity_provider("abc")


def test_a_csrf_refusal_with_an_api_key_is_not_retried(qscloud_emulator: QscloudEmulator) -> None:
    qscloud_emulator.fail_next(IDP_PATH, 403, body=CSRF_2, content_type=JSON_TYPE)
    with api_client(qscloud_emulator) as client, pytest.raises(QlikApiError) as info:
        client.create_identity_provider(new_body())
    assert info.value.code == "CSRF-TOKEN-2"
    assert [(r.method, r.path) for r in qscloud_emulator.requests] == [("POST", IDP_PATH)]


def test_an_api_key_goes_as_bearer_without_csrf(qscloud_emulator: QscloudEmulator) -> None:
    with api_client(qscloud_emulator) as client:
        assert client.me()["subject"] == "qscloud-admin"
        created = client.create_identity_provider(new_body())
        assert client.identity_provider(created["id"])["options"]["issuer"] == "new-app"
        client.delete_identity_provider(created["id"])
        with pytest.raises(QlikApiError) as info:
            client.identity_provider(created["id"])
        assert info.value.status == 404
        assert "session has ended" not in str(info.value)
        assert not client.has_session
    for request in qscloud_emulator.requests:
        assert request.headers["authorization"] == f"Bearer {QSCLOUD_API_KEY}"
        assert CSRF_HEADER not in request.headers
        assert "cookie" not in request.headers


def test_a_caller_header_cannot_replace_the_credentials(qscloud_emulator: QscloudEmulator) -> None:
    with api_client(qscloud_emulator) as client:
        client.request("GET", ME_PATH, headers={"Authorization": "Bearer other", CSRF_HEADER: "x", "X-Extra": "1"})
    (request,) = qscloud_emulator.requests
    assert request.headers["authorization"] == f"Bearer {QSCLOUD_API_KEY}"
    assert CSRF_HEADER not in request.headers and request.headers["x-extra"] == "1"


def test_a_wrong_api_key_is_a_401_without_the_session_words(qscloud_emulator: QscloudEmulator) -> None:
    client = QlikCloudClient(qscloud_emulator.url, api_key="not-the-admin-key-123", settings=settings(qscloud_emulator))
    with client, pytest.raises(QlikApiError) as info:
        client.me()
    assert info.value.status == 401
    assert "session has ended" not in str(info.value)
    assert "not-the-admin-key-123" not in str(info.value)


def test_the_web_integration_id_goes_with_every_request(qscloud_emulator: QscloudEmulator) -> None:
    with api_client(qscloud_emulator, web_integration_id="wi-0123") as client:
        client.me()
    assert [r.headers.get("qlik-web-integration-id") for r in qscloud_emulator.requests] == ["wi-0123"]


def test_a_request_without_credentials_raises(qscloud_emulator: QscloudEmulator) -> None:
    with QlikCloudClient(qscloud_emulator.url, settings=settings(qscloud_emulator)) as client:
        with pytest.raises(QsJwtError) as info:
            client.request("GET", ME_PATH)
        assert "not authenticated" in str(info.value)
        with pytest.raises(QsJwtError):
            client.me()
        with pytest.raises(QsJwtError, match="no session"):
            client.save_session("unused")
    assert qscloud_emulator.requests == []


@pytest.mark.parametrize(("kwargs", "error", "param"), [
    ({"api_key": ""}, ArgumentTypeError, "api_key"),
    ({"api_key": 42}, ArgumentTypeError, "api_key"),
    ({"api_key": "two words"}, InvalidValueError, "api_key"),
    ({"api_key": "line\nbreak"}, InvalidValueError, "api_key"),
    ({"session": {"tenant": "x"}}, ArgumentTypeError, "session"),
])
def test_client_arguments_are_checked(kwargs: dict[str, Any], error: type[Exception], param: str) -> None:
    with pytest.raises(error) as info:
        QlikCloudClient("your-tenant.eu.qlikcloud.com", **kwargs)
    assert getattr(info.value, "param", None) == param
    if "api_key" in kwargs and isinstance(kwargs["api_key"], str) and kwargs["api_key"].strip():
        assert kwargs["api_key"] not in str(info.value)


def test_the_client_refuses_a_tenant_with_a_path() -> None:
    with pytest.raises(InvalidValueError) as info:
        QlikCloudClient("https://your-tenant.eu.qlikcloud.com/hub", api_key="k")
    assert info.value.param == "tenant"


# ---------------------------------------------------------------- sessions on disk


def test_a_saved_session_is_private_and_holds_the_cookies_and_csrf_token(qscloud_emulator: QscloudEmulator,
                                                                          tmp_path: Path) -> None:
    path = tmp_path / "session.json"
    with logged_in(qscloud_emulator) as client:
        client.save_session(path)
        cookies, csrf = cookie_values(client), client.csrf_token
    if os.name == "posix":
        assert path.stat().st_mode & 0o777 == 0o600
    data = json.loads(path.read_text())
    assert data["format"] == 1
    assert data["tenant"] == qscloud_emulator.url
    assert data["csrfToken"] == csrf
    assert {cookie["name"]: cookie["value"] for cookie in data["cookies"]} == cookies
    assert all(set(cookie) == {"name", "value", "domain", "path", "secure", "expires"} for cookie in data["cookies"])
    assert data["user"]["subject"] == "alice"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["createdAt"])
    # saving again replaces the file
    with logged_in(qscloud_emulator) as client:
        client.save_session(path)
        assert json.loads(path.read_text())["csrfToken"] == client.csrf_token != csrf


def test_a_loaded_session_works_in_a_new_client(qscloud_emulator: QscloudEmulator, tmp_path: Path) -> None:
    path = tmp_path / "session.json"
    with logged_in(qscloud_emulator, admin=True) as client:
        client.save_session(path)
        me = client.me()
    session = QlikCloudSession.load(path)
    assert session.tenant == qscloud_emulator.url and session.user["subject"] == "alice"
    before = len(qscloud_emulator.requests)
    with QlikCloudClient(qscloud_emulator.url, session=session, settings=settings(qscloud_emulator)) as again:
        assert again.has_session and again.csrf_token == session.csrf_token
        assert again.me()["id"] == me["id"]
        created = again.create_identity_provider(new_body())  # the CSRF token of the file
        assert created["options"]["issuer"] == "new-app"
        assert again.session.cookies and again.session.tenant == qscloud_emulator.url
    later = qscloud_emulator.requests[before:]
    assert [(r.method, r.path) for r in later] == [("GET", ME_PATH), ("POST", IDP_PATH)]


def test_session_json_round_trips() -> None:
    session = QlikCloudSession("https://t.example", ({"name": "eas.sid", "value": "v", "domain": "t.example",
                                                       "path": "/", "secure": True, "expires": None},),
                               "csrf", "2027-01-15T08:00:00Z", {"subject": "alice"})
    assert QlikCloudSession.from_json(session.to_json()) == session
    assert QlikCloudSession.from_json(session.to_json().encode()) == session


def test_a_session_of_another_tenant_is_refused(qscloud_emulator: QscloudEmulator) -> None:
    other = QlikCloudSession("https://other.eu.qlikcloud.com", ({"name": "eas.sid", "value": "v"},), "c")
    with pytest.raises(InvalidValueError) as info:
        QlikCloudClient(qscloud_emulator.url, session=other, settings=settings(qscloud_emulator))
    assert info.value.param == "session"
    assert "https://other.eu.qlikcloud.com" in str(info.value)


def test_a_session_given_as_a_bare_host_of_this_tenant_is_taken(qscloud_emulator: QscloudEmulator) -> None:
    bare = QlikCloudSession(qscloud_emulator.url.removeprefix("https://"), (), None)
    with QlikCloudClient(qscloud_emulator.url, session=bare, settings=settings(qscloud_emulator)) as client:
        assert client.has_session


@pytest.mark.parametrize("tenant", ["https://your-tenant.eu.qlikcloud.com", "https://127.0.0.1:8443",
                                    "https://[::1]:8443"])
def test_a_saved_cookie_without_a_domain_goes_to_the_tenant_only(tenant: str) -> None:
    import httpx

    session = QlikCloudSession(tenant, ({"name": "eas.sid", "value": "the-session-value"},), None)
    with QlikCloudClient(tenant, session=session) as client:
        jar = client._http.cookies
        elsewhere = httpx.Request("GET", "https://other.example.com/api/v1/users/me")
        jar.set_cookie_header(elsewhere)
        assert "cookie" not in elsewhere.headers
        if "[" not in tenant:
            here = httpx.Request("GET", f"{tenant}/api/v1/users/me")
            jar.set_cookie_header(here)
            assert here.headers.get("cookie") == "eas.sid=the-session-value"


@pytest.mark.parametrize(("content", "says"), [
    (b"this is not json", "not JSON"),
    (b"\xff\xfe\x00garbage", "not JSON"),
    (b"[]", "not a session file of this version"),
    (json.dumps({"format": 2, "tenant": "https://t", "cookies": [], "csrfToken": None}).encode(),
     "not a session file of this version"),
    (json.dumps({"tenant": "https://t", "cookies": [], "csrfToken": None}).encode(),
     "not a session file of this version"),
    (json.dumps({"format": 1, "cookies": [], "csrfToken": None}).encode(), "damaged"),
    (json.dumps({"format": 1, "tenant": "https://t", "cookies": {}, "csrfToken": None}).encode(), "damaged"),
    (json.dumps({"format": 1, "tenant": "https://t", "cookies": [], "csrfToken": 5}).encode(), "damaged"),
    (json.dumps({"format": 1, "tenant": "https://t", "cookies": [{"name": "eas.sid"}], "csrfToken": "c"}).encode(),
     "a cookie without name or value"),
    (json.dumps({"format": 1, "tenant": "https://t", "cookies": [{"name": "eas.sid", "value": None}],
                 "csrfToken": "c"}).encode(), "a cookie without name or value"),
    (json.dumps({"format": 1, "tenant": "https://t", "cookies": ["eas.sid=v"], "csrfToken": "c"}).encode(),
     "a cookie without name or value"),
], ids=["text", "binary", "list", "format-2", "no-format", "no-tenant", "cookies-object", "csrf-number",
        "cookie-no-value", "cookie-null-value", "cookie-string"])
def test_a_damaged_session_file_is_a_clear_error(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "session.json"
    path.write_bytes(content)
    with pytest.raises(QsJwtError) as info:
        QlikCloudSession.load(path)
    assert says in str(info.value)
    assert "log in again" in str(info.value)
    assert type(info.value) is QsJwtError


def test_a_missing_or_huge_session_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(QsJwtError, match="cannot read the session file"):
        QlikCloudSession.load(tmp_path / "missing.json")
    huge = tmp_path / "huge.json"
    huge.write_bytes(b" " * (1024 * 1024 + 1))
    with pytest.raises(QsJwtError, match="larger than 1 MiB"):
        QlikCloudSession.load(huge)


def test_a_session_with_junk_cookies_has_ended(qscloud_emulator: QscloudEmulator) -> None:
    junk = QlikCloudSession(qscloud_emulator.url, ({"name": "eas.sid", "value": "junk-session-id-000111"},
                                                   {"name": "eas.sid.sig", "value": "junk-signature-000222"},
                                                   {"name": "_csrfToken", "value": "junk-csrf-000333"}),
                            "junk-csrf-000333")
    with QlikCloudClient(qscloud_emulator.url, session=junk, settings=settings(qscloud_emulator)) as client:
        assert client.has_session
        with pytest.raises(QlikApiError) as info:
            client.me()
    assert info.value.status == 401
    assert "session has ended" in str(info.value)
    assert "log in again" in str(info.value)
    for value in ("junk-session-id-000111", "junk-signature-000222", "junk-csrf-000333"):
        assert value not in str(info.value)
    (request,) = qscloud_emulator.requests
    assert "eas.sid=junk-session-id-000111" in request.headers["cookie"]


def test_a_session_without_its_signature_cookies_has_ended(qscloud_emulator: QscloudEmulator) -> None:
    with logged_in(qscloud_emulator) as client:
        session = client.session
    unsigned = QlikCloudSession(session.tenant, tuple(c for c in session.cookies if not c["name"].endswith(".sig")),
                                session.csrf_token)
    with QlikCloudClient(qscloud_emulator.url, session=unsigned, settings=settings(qscloud_emulator)) as client, \
            pytest.raises(QlikApiError) as info:
        client.identity_providers()
    assert info.value.status == 401 and "session has ended" in str(info.value)


# ---------------------------------------------------------------- pages


def test_identity_providers_follows_every_page(qscloud_emulator: QscloudEmulator) -> None:
    cert = CERT_PEM.decode()
    for number in range(105):
        qscloud_emulator.add_jwt_idp(f"app-{number:03}", f"kid-{number}", cert)
    expected = [idp["id"] for idp in qscloud_emulator.identity_providers]
    assert len(expected) == 106
    with api_client(qscloud_emulator) as client:
        listed = client.identity_providers()
        assert [idp["id"] for idp in listed] == expected
        assert [idp["id"] for idp in client.pages(IDP_PATH, params=[("limit", "7")])] == expected
    lists = requests_to(qscloud_emulator, IDP_PATH)
    assert len(lists) == 2 + 16
    assert lists[0].query == {"limit": "100"} and "next" in lists[1].query


def test_identity_providers_filters_on_protocol_and_active(qscloud_emulator: QscloudEmulator) -> None:
    qscloud_emulator.add_jwt_idp("off-app", "k", CERT_PEM, active=False)
    with api_client(qscloud_emulator) as client:
        multi = client.create_identity_provider(multicloud_idp_body(bearer_token(),
                                                                    tenant_id=qscloud_emulator.tenant_id))
        jwt_idps = client.identity_providers(protocol=JWT_AUTH)
        assert [idp["options"]["issuer"] for idp in jwt_idps] == [QSCLOUD_ISSUER, "off-app"]
        assert [idp["id"] for idp in client.identity_providers(protocol=MULTI_CLOUD)] == [multi["id"]]
        assert len(client.identity_providers()) == 3
        assert [idp["options"]["issuer"] for idp in client.identity_providers(active=False)] == ["off-app"]
        active_jwt = client.identity_providers(protocol=JWT_AUTH, active=True)
        assert [idp["options"]["issuer"] for idp in active_jwt] == [QSCLOUD_ISSUER]
    queries = [r.query for r in requests_to(qscloud_emulator, IDP_PATH) if r.method == "GET"]
    assert {"limit": "100", "protocol": JWT_AUTH} in queries
    assert {"limit": "100", "protocol": JWT_AUTH, "active": "true"} in queries


def test_identity_providers_filters_when_the_server_ignores_the_parameters(
        qscloud_emulator: QscloudEmulator) -> None:
    mixed = {"data": [{"id": "a", "protocol": JWT_AUTH, "active": True}, {"id": "b", "protocol": MULTI_CLOUD,
                                                                          "active": True},
                      {"id": "c", "protocol": JWT_AUTH, "active": False}, "not an object"], "links": {}}
    qscloud_emulator.fail_next(IDP_PATH, 200, count=2, body=json.dumps(mixed), content_type=JSON_TYPE)
    with api_client(qscloud_emulator) as client:
        assert [idp["id"] for idp in client.identity_providers(protocol=JWT_AUTH)] == ["a", "c"]
        assert [idp["id"] for idp in client.identity_providers(protocol=JWT_AUTH, active=True)] == ["a"]


def test_pages_stops_on_a_repeating_next_link(qscloud_emulator: QscloudEmulator) -> None:
    # fail_next answers any status with any body: here a 200 page whose next link is itself, twice
    href = f"{qscloud_emulator.url}{IDP_PATH}?limit=100&next=c2FtZQ=="
    page = {"data": [{"id": "x", "protocol": JWT_AUTH, "active": True}], "links": {"next": {"href": href}}}
    qscloud_emulator.fail_next(IDP_PATH, 200, count=3, body=json.dumps(page), content_type=JSON_TYPE)
    with api_client(qscloud_emulator) as client, pytest.raises(QlikApiError) as info:
        client.identity_providers()
    assert "the next page link repeats" in str(info.value)
    assert len(requests_to(qscloud_emulator, IDP_PATH)) == 2


def test_pages_takes_a_next_link_as_text_and_refuses_an_answer_without_data(
        qscloud_emulator: QscloudEmulator) -> None:
    first = {"data": [{"id": "fake"}], "links": {"next": f"{qscloud_emulator.url}{IDP_PATH}?limit=100"}}
    qscloud_emulator.fail_next(IDP_PATH, 200, body=json.dumps(first), content_type=JSON_TYPE)
    with api_client(qscloud_emulator) as client:
        assert [idp.get("protocol") for idp in client.pages(IDP_PATH)] == [None, JWT_AUTH]
        qscloud_emulator.fail_next(IDP_PATH, 200, body=json.dumps({"items": []}), content_type=JSON_TYPE)
        with pytest.raises(QlikApiError, match="no data list"):
            client.identity_providers()


def test_pages_does_not_follow_a_next_link_to_another_server(qscloud_emulator: QscloudEmulator) -> None:
    page = {"data": [{"id": "x"}], "links": {"next": {"href": "https://other.example.com/api/v1/identity-providers"}}}
    qscloud_emulator.fail_next(IDP_PATH, 200, body=json.dumps(page), content_type=JSON_TYPE)
    with api_client(qscloud_emulator) as client, pytest.raises(QsJwtError) as info:
        client.identity_providers()
    assert QSCLOUD_API_KEY not in str(info.value)
    assert len(qscloud_emulator.requests) == 1


def test_identity_provider_ids_are_checked(qscloud_emulator: QscloudEmulator) -> None:
    with api_client(qscloud_emulator) as client:
        for bad in ("../users/me", "a b", "", "x" * 129):
            with pytest.raises(InvalidValueError) as info:
                client.identity_provider(bad)
            assert info.value.param == "idp_id"
        with pytest.raises(ArgumentTypeError):
            client.delete_identity_provider(7)  # type: ignore[arg-type]
    assert qscloud_emulator.requests == []


# ---------------------------------------------------------------- faults


def test_429_with_retry_after_twice_then_success(qscloud_emulator: QscloudEmulator) -> None:
    lines: list[str] = []
    body = json.dumps({"errors": [{"code": "HTTP-429", "title": "Too Many Requests", "status": "429"}]})
    qscloud_emulator.fail_next(IDP_PATH, 429, count=2, headers={"Retry-After": "0"}, body=body,
                               content_type=JSON_TYPE)
    with api_client(qscloud_emulator, lines) as client:
        created = client.create_identity_provider(new_body())  # a POST too: a 429 was not acted on
    assert created["options"]["issuer"] == "new-app"
    assert [r.method for r in requests_to(qscloud_emulator, IDP_PATH)] == ["POST"] * 3
    assert [line for line in lines if line.startswith("retrying")] == ["retrying in 0.0 s after 429"] * 2
    assert len(qscloud_emulator.identity_providers) == 2


def test_429_three_times_is_raised_after_the_retries(qscloud_emulator: QscloudEmulator) -> None:
    qscloud_emulator.fail_next(ME_PATH, 429, count=3, headers={"Retry-After": "0"})
    with api_client(qscloud_emulator) as client, pytest.raises(QlikApiError) as info:
        client.me()
    assert info.value.status == 429
    assert "after 3 attempts" in str(info.value)


def test_503_on_a_get_is_retried(qscloud_emulator: QscloudEmulator) -> None:
    qscloud_emulator.fail_next(ME_PATH, 503)
    with api_client(qscloud_emulator) as client:
        assert client.me()["subject"] == "qscloud-admin"
    assert [r.method for r in requests_to(qscloud_emulator, ME_PATH)] == ["GET", "GET"]


def test_503_on_a_post_is_not_retried(qscloud_emulator: QscloudEmulator) -> None:
    qscloud_emulator.fail_next(IDP_PATH, 503, body="Service Unavailable")
    with api_client(qscloud_emulator) as client, pytest.raises(QlikApiError) as info:
        client.create_identity_provider(new_body())
    assert info.value.status == 503
    assert [r.method for r in requests_to(qscloud_emulator, IDP_PATH)] == ["POST"]
    assert len(qscloud_emulator.identity_providers) == 1


def test_a_server_that_never_answers_is_a_connection_error_within_the_timeout(
        qscloud_emulator: QscloudEmulator) -> None:
    lines: list[str] = []
    qscloud_emulator.stall(ME_PATH, 8.0)
    client = QlikCloudClient(qscloud_emulator.url, api_key=QSCLOUD_API_KEY, log=lines.append,
                             settings=settings(qscloud_emulator, timeout=1, read_timeout=1))
    started = time.monotonic()
    with client, pytest.raises(QlikConnectionError) as info:
        client.me()
    assert time.monotonic() - started < 3
    assert "no answer" in str(info.value) or "timed out" in str(info.value)
    assert QSCLOUD_API_KEY not in str(info.value) and all(QSCLOUD_API_KEY not in line for line in lines)


def test_a_login_that_never_answers_is_a_connection_error(qscloud_emulator: QscloudEmulator) -> None:
    qscloud_emulator.stall(LOGIN_PATH, 8.0)
    token = mint()
    client = QlikCloudClient(qscloud_emulator.url, settings=settings(qscloud_emulator, timeout=1, read_timeout=1))
    started = time.monotonic()
    with client, pytest.raises(QlikConnectionError) as info:
        client.login(token)
    assert time.monotonic() - started < 3
    assert token not in str(info.value)
    assert not client.has_session
    assert len(requests_to(qscloud_emulator, LOGIN_PATH)) == 1  # a POST is not sent twice


HTML_PAGE = """<!DOCTYPE html>
<html>
  <head><title>Tenant unavailable</title><style>body { color: red; }</style></head>
  <body>
    <h1>Tenant unavailable</h1>
    <p>Try again <b>later</b>.</p>
    <script>var x = "<b>";</script>
  </body>
</html>
"""


def test_an_html_error_page_is_a_one_line_message_without_tags(qscloud_emulator: QscloudEmulator) -> None:
    qscloud_emulator.fail_next(ME_PATH, 500, body=HTML_PAGE, content_type="text/html; charset=utf-8")
    with api_client(qscloud_emulator) as client, pytest.raises(QlikApiError) as info:
        client.me()
    message = str(info.value)
    assert info.value.status == 500
    assert "\n" not in message and "\r" not in message
    assert not re.search(r"</?[A-Za-z!][^>]*>", message), message
    assert "Tenant unavailable" in message
    assert "color: red" not in message and "var x" not in message
    assert explain_login_error(info.value) == []


def test_an_html_page_in_a_2xx_answer_is_an_error_too(qscloud_emulator: QscloudEmulator) -> None:
    qscloud_emulator.fail_next(ME_PATH, 200, body=HTML_PAGE, content_type="text/html; charset=utf-8")
    with api_client(qscloud_emulator) as client, pytest.raises(QlikApiError) as info:
        client.me()
    assert "not JSON" in str(info.value) and "\n" not in str(info.value)
    assert "<h1>" not in str(info.value)


def echo_body(status: int, secrets: list[str]) -> str:
    said = " ".join(secrets)
    return json.dumps({"errors": [{"code": "HTTP-400", "title": f"You sent {said}", "detail": f"echo: {said}",
                                   "status": str(status)}], "traceId": "0" * 32})


def assert_hidden(secrets: list[str], error: BaseException, lines: list[str]) -> None:
    texts = [str(error), repr(error.args)]
    if isinstance(error, QlikApiError):
        texts += [str(error.detail), str(error.title), repr(error.items)]
    for secret in secrets:
        assert secret, "an empty secret proves nothing"
        for text in texts:
            assert secret not in text, (secret, text)
        for line in lines:
            assert secret not in line, (secret, line)


def test_no_session_secret_appears_in_errors_or_log_lines(qscloud_emulator: QscloudEmulator) -> None:
    lines: list[str] = []
    token = mint()
    with logged_in(qscloud_emulator, lines, token=token) as client:
        secrets = [token, *cookie_values(client).values(), cast(str, client.csrf_token)]
        qscloud_emulator.fail_next(IDP_PATH, 400, body=echo_body(400, secrets), content_type=JSON_TYPE)
        with pytest.raises(QlikApiError) as info:
            client.create_identity_provider(new_body())
        assert_hidden(secrets, info.value, lines)
        qscloud_emulator.fail_next(ME_PATH, 500, body=f"<html><title>oops {' '.join(secrets)}</title></html>",
                                   content_type="text/html")
        with pytest.raises(QlikApiError) as info:
            client.me()
        assert_hidden(secrets, info.value, lines)
        qscloud_emulator.fail_next(ME_PATH, 401, body=echo_body(401, secrets), content_type=JSON_TYPE)
        with pytest.raises(QlikApiError) as info:
            client.me()
        assert "session has ended" in str(info.value)
        assert_hidden(secrets, info.value, lines)
    assert lines and any(LOGIN_PATH in line for line in lines)


def test_the_jwt_does_not_appear_in_a_refused_login(qscloud_emulator: QscloudEmulator) -> None:
    lines: list[str] = []
    token = mint()
    qscloud_emulator.fail_next(LOGIN_PATH, 401, body=echo_body(401, [token, token[-30:]]), content_type=JSON_TYPE)
    with QlikCloudClient(qscloud_emulator.url, settings=settings(qscloud_emulator), log=lines.append) as client, \
            pytest.raises(QlikLoginError) as info:
        client.login(token)
    assert_hidden([token, token[-30:]], info.value, lines)
    assert all(token not in line for line in info.value.explanation)


def test_the_api_key_does_not_appear_in_errors_or_log_lines(qscloud_emulator: QscloudEmulator) -> None:
    lines: list[str] = []
    qscloud_emulator.fail_next(IDP_PATH, 400, body=echo_body(400, [QSCLOUD_API_KEY]), content_type=JSON_TYPE)
    with api_client(qscloud_emulator, lines) as client:
        with pytest.raises(QlikApiError) as info:
            client.create_identity_provider(new_body())
        assert_hidden([QSCLOUD_API_KEY], info.value, lines)
        qscloud_emulator.fail_next(ME_PATH, 502, count=3, body=f"bad gateway for key {QSCLOUD_API_KEY}")
        with pytest.raises(QlikApiError) as info:
            client.me()
        assert_hidden([QSCLOUD_API_KEY], info.value, lines)
    assert lines


# ---------------------------------------------------------------- jwt_idp_body


def staticKey(body: dict[str, Any]) -> dict[str, str]:
    (key,) = body["options"]["staticKeys"]
    return cast(dict[str, str], key)


def test_jwt_idp_body_from_a_pem_certificate() -> None:
    body = jwt_idp_body(issuer="my-app", certificate=CERT_PEM)
    assert body == {"provider": "external", "protocol": JWT_AUTH, "interactive": False, "active": True,
                    "description": "JWT login for my-app (qs-jwt)",
                    "options": {"jwtLoginEnabled": True, "issuer": "my-app",
                                "staticKeys": [{"kid": THUMBPRINT, "pem": one_line_pem(CERT_PEM)}]}}
    pem = staticKey(body)["pem"]
    assert "\n" not in pem and "\r" not in pem
    assert pem.startswith("-----BEGIN CERTIFICATE-----") and pem.endswith("-----END CERTIFICATE-----")
    assert jwt_idp_body(issuer="my-app", certificate=CERT_PEM.decode()) == body
    assert identity_provider_thumbprint(body) == THUMBPRINT


def test_jwt_idp_body_from_der_pkcs12_and_objects() -> None:
    expected = one_line_pem(CERT_PEM)
    der = CERT.public_bytes(serialization.Encoding.DER)
    assert staticKey(jwt_idp_body(issuer="a", certificate=der)) == {"kid": THUMBPRINT, "pem": expected}
    p12 = key_bytes("rsa2048.p12")
    assert staticKey(jwt_idp_body(issuer="a", certificate=p12, passphrase=PASSPHRASE))["pem"] == expected
    assert staticKey(jwt_idp_body(issuer="a", certificate=p12, passphrase=PASSPHRASE.encode()))["pem"] == expected
    assert staticKey(jwt_idp_body(issuer="a", certificate=key_bytes("rsa2048_cert_only.p12")))["pem"] == expected
    assert staticKey(jwt_idp_body(issuer="a", certificate=CERT)) == {"kid": THUMBPRINT, "pem": expected}
    public = staticKey(jwt_idp_body(issuer="a", certificate=PUBLIC))
    assert public == {"kid": THUMBPRINT, "pem": one_line_pem(key_bytes("rsa2048_public.pem"))}
    assert public["pem"].startswith("-----BEGIN PUBLIC KEY-----")


def test_jwt_idp_body_from_a_private_key_takes_its_public_half() -> None:
    for private in (key_bytes("rsa2048_pkcs8.pem"), key_bytes("rsa2048_pkcs1.pem"), key_bytes("rsa2048_pkcs8.der")):
        body = jwt_idp_body(issuer="a", certificate=private)
        assert staticKey(body) == {"kid": THUMBPRINT, "pem": one_line_pem(key_bytes("rsa2048_public.pem"))}
        assert "PRIVATE" not in json.dumps(body)
    encrypted = jwt_idp_body(issuer="a", certificate=key_bytes("rsa2048_encrypted.pem"), passphrase=PASSPHRASE)
    assert staticKey(encrypted)["kid"] == THUMBPRINT and "PRIVATE" not in json.dumps(encrypted)


def test_jwt_idp_body_wrong_passphrase_is_a_key_load_error() -> None:
    with pytest.raises(KeyLoadError) as info:
        jwt_idp_body(issuer="a", certificate=key_bytes("rsa2048.p12"), passphrase="wrong horse")
    assert "wrong horse" not in str(info.value)


def test_jwt_idp_body_options() -> None:
    body = jwt_idp_body(issuer="https://idp.example/", certificate=CERT_PEM, kid="key-7", description="Portal",
                        clock_tolerance=30, tenant_id="tenant-123")
    assert staticKey(body)["kid"] == "key-7"
    assert body["description"] == "Portal"
    assert body["clockToleranceSec"] == 30
    assert body["tenantIds"] == ["tenant-123"]
    assert body["options"]["issuer"] == "https://idp.example/"
    plain = jwt_idp_body(issuer="a", certificate=CERT_PEM)
    assert "clockToleranceSec" not in plain and "tenantIds" not in plain
    assert jwt_idp_body(issuer="a", certificate=CERT_PEM, clock_tolerance=0)["clockToleranceSec"] == 0
    assert jwt_idp_body(issuer="a", certificate=CERT_PEM, clock_tolerance=3600)["clockToleranceSec"] == 3600


@pytest.mark.parametrize(("value", "error"), [
    (True, ArgumentTypeError), (False, ArgumentTypeError), (1.5, ArgumentTypeError), (30.0, ArgumentTypeError),
    ("30", ArgumentTypeError), (-1, InvalidValueError), (3601, InvalidValueError),
])
def test_jwt_idp_body_clock_tolerance_bounds(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        jwt_idp_body(issuer="a", certificate=CERT_PEM, clock_tolerance=value)
    assert type(info.value) is error
    assert cast(InvalidValueError, info.value).param == "clock_tolerance"


@pytest.mark.parametrize(("changes", "param"), [
    ({"issuer": ""}, "issuer"), ({"issuer": None}, "issuer"), ({"kid": ""}, "kid"),
    ({"description": "x" * 1001}, "description"), ({"tenant_id": ""}, "tenant_id"),
])
def test_jwt_idp_body_checks_its_texts(changes: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        jwt_idp_body(**{"issuer": "a", "certificate": CERT_PEM, **changes})
    assert info.value.param == param


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_jwt_idp_body_refuses_an_ec_key() -> None:
    key = ec_key()
    given = [key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
             key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption()),
             certificate(key), certificate(key).public_bytes(serialization.Encoding.PEM),
             key_bytes("ec_p256_public.pem")]
    for material in given:
        with pytest.raises(KeyLoadError) as info:
            jwt_idp_body(issuer="a", certificate=material)
        assert info.value.code == KEY_WRONG_TYPE
        assert "RSA" in str(info.value)


def test_jwt_idp_body_refuses_an_ec_public_key_object_as_a_key_load_error() -> None:
    with pytest.raises(KeyLoadError) as info:
        jwt_idp_body(issuer="a", certificate=ec_key().public_key())  # type: ignore[arg-type]
    assert info.value.code == KEY_WRONG_TYPE


def test_jwt_idp_body_refuses_a_1024_bit_rsa_key() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - must be refused
    given = [key.public_key(), key.public_key().public_bytes(serialization.Encoding.PEM,
                                                               serialization.PublicFormat.SubjectPublicKeyInfo),
             certificate(key), certificate(key).public_bytes(serialization.Encoding.DER)]
    for material in given:
        with pytest.raises(KeyLoadError) as info:
            jwt_idp_body(issuer="a", certificate=material)
        assert "1024-bit" in str(info.value)
        assert info.value.code == KEY_WEAK  # errors.py: KEY_WEAK is the code of keys under 2048 bits


def test_jwt_idp_body_refuses_what_is_no_key() -> None:
    with pytest.raises(KeyLoadError):
        jwt_idp_body(issuer="a", certificate=b"not a certificate at all")


def test_the_emulator_accepts_a_jwt_idp_body_and_its_tokens_log_in(qscloud_emulator: QscloudEmulator) -> None:
    body = jwt_idp_body(issuer="other-app", certificate=OTHER_PUBLIC, clock_tolerance=10,
                        tenant_id=qscloud_emulator.tenant_id)
    with api_client(qscloud_emulator) as client:
        created = client.create_identity_provider(body)
    assert created["options"] == body["options"]
    assert created["tenantIds"] == [qscloud_emulator.tenant_id] and created["clockToleranceSec"] == 10
    token = mint(key=OTHER_PRIVATE, kid=OTHER_THUMBPRINT, iss="other-app", sub="bob", name="Bob")
    with QlikCloudClient(qscloud_emulator.url, settings=settings(qscloud_emulator)) as client:
        assert client.login(token)["subject"] == "bob"


# ---------------------------------------------------------------- check_identity_providers


def idp(idp_id: str = "idp-1", *, issuer: str = QSCLOUD_ISSUER, certificate: Any = CERT_PEM,
        kid: str | None = QSCLOUD_KID, active: bool = True, **options: Any) -> dict[str, Any]:
    body = jwt_idp_body(issuer=issuer, certificate=certificate, kid=kid)
    body["options"].update(options)
    return {**body, "id": idp_id, "active": active}


def rules(report: IdentityProviderCheck) -> list[tuple[str, str]]:
    return [(finding.rule, finding.severity) for finding in report.findings]


def test_check_finds_the_idp_by_key_without_an_issuer() -> None:
    wanted = idp("idp-2")
    report = check_identity_providers([idp("idp-1", issuer="other", certificate=OTHER_PUBLIC), wanted], PUBLIC,
                                      now=FIXED_NOW)
    assert report.ok and report.findings == []
    assert report.identity_provider == wanted
    assert report.thumbprint == THUMBPRINT


def test_check_with_the_exact_issuer_and_kid_is_ok() -> None:
    report = check_identity_providers([idp()], PUBLIC, issuer=QSCLOUD_ISSUER, keyid=QSCLOUD_KID, now=FIXED_NOW)
    assert report.ok and rules(report) == []
    data = report.to_dict()
    assert data["ok"] is True
    assert data["target"] == "identity-provider" and data["findings"] == [] and data["thumbprint"] == THUMBPRINT
    assert data["identityProvider"] == {"id": "idp-1", "issuer": QSCLOUD_ISSUER, "kid": QSCLOUD_KID, "active": True,
                                        "description": f"JWT login for {QSCLOUD_ISSUER} (qs-jwt)"}
    json.dumps(data)


@pytest.mark.parametrize("given", ["My-App", "my-app/", " my-app ", "MY-APP/"])
def test_check_names_an_issuer_near_miss(given: str) -> None:
    report = check_identity_providers([idp()], PUBLIC, issuer=given, now=FIXED_NOW)
    assert not report.ok
    (finding,) = report.findings
    assert (finding.rule, finding.severity) == ("issuer", "error")
    assert "differs only in case, spaces or a trailing slash" in finding.message
    assert repr(given) in finding.message and "'my-app'" in finding.message
    assert report.identity_provider is None  # no identity provider would take tokens with this issuer
    assert report.to_dict()["ok"] is False


def test_check_of_an_unknown_issuer_lists_the_issuers() -> None:
    report = check_identity_providers([idp(), idp("idp-2", issuer="b", certificate=OTHER_PUBLIC)], OTHER_PUBLIC,
                                      issuer="zzz", now=FIXED_NOW)
    (finding,) = report.findings
    assert finding.rule == "issuer" and "differs only" not in finding.message
    assert "'my-app', 'b'" in finding.message
    assert report.identity_provider is None and report.to_dict()["identityProvider"] is None


def test_check_names_a_kid_mismatch() -> None:
    report = check_identity_providers([idp()], PUBLIC, issuer=QSCLOUD_ISSUER, keyid="key-2", now=FIXED_NOW)
    assert rules(report) == [("kid", "error")] and not report.ok
    assert "'key-1'" in report.findings[0].message and "'key-2'" in report.findings[0].message
    assert "only the case differs" not in report.findings[0].message
    assert "--keyid 'key-1'" in report.findings[0].fix
    case = check_identity_providers([idp()], PUBLIC, issuer=QSCLOUD_ISSUER, keyid="KEY-1", now=FIXED_NOW)
    assert rules(case) == [("kid", "error")]
    assert "only the case differs" in case.findings[0].message


def test_check_names_another_key() -> None:
    other = idp(certificate=OTHER_PUBLIC)
    report = check_identity_providers([other], PUBLIC, issuer=QSCLOUD_ISSUER, keyid=QSCLOUD_KID, now=FIXED_NOW)
    assert rules(report) == [("public-key", "error")]
    assert OTHER_THUMBPRINT in report.findings[0].message and THUMBPRINT in report.findings[0].message
    without = check_identity_providers([other], PUBLIC, now=FIXED_NOW)
    assert rules(without) == [("public-key", "error")] and without.identity_provider is None
    assert "no JWT identity provider holds this key" in without.findings[0].message
    assert "idp-1" in without.findings[0].message
    assert without.to_dict()["identityProvider"] is None


def test_check_names_an_unreadable_key() -> None:
    broken = idp()
    broken["options"]["staticKeys"][0]["pem"] = "-----BEGIN CERTIFICATE-----AAAA-----END CERTIFICATE-----"
    report = check_identity_providers([broken], PUBLIC, issuer=QSCLOUD_ISSUER, now=FIXED_NOW)
    assert rules(report) == [("public-key", "error")]
    assert "no readable RSA certificate" in report.findings[0].message


def test_check_names_an_inactive_idp_and_jwt_login_off() -> None:
    inactive = check_identity_providers([idp(active=False)], PUBLIC, now=FIXED_NOW)
    assert rules(inactive) == [("inactive", "error")] and not inactive.ok
    off = check_identity_providers([idp(jwtLoginEnabled=False)], PUBLIC, issuer=QSCLOUD_ISSUER, now=FIXED_NOW)
    assert rules(off) == [("jwt-login", "error")] and not off.ok
    assert off.to_dict()["identityProvider"]["active"] is True


def test_check_warns_of_a_duplicate_issuer_and_picks_the_matching_one() -> None:
    idps = [idp("idp-1", certificate=OTHER_PUBLIC, kid="old"), idp("idp-2"), idp("idp-3", active=False)]
    report = check_identity_providers(idps, PUBLIC, issuer=QSCLOUD_ISSUER, keyid=QSCLOUD_KID, now=FIXED_NOW)
    assert rules(report) == [("duplicate", "warning")]
    assert report.ok and report.to_dict()["ok"] is True
    assert "3 JWT identity providers have the issuer 'my-app'" in report.findings[0].message
    assert report.identity_provider is not None and report.identity_provider["id"] == "idp-2"
    by_key = check_identity_providers(idps, PUBLIC, now=FIXED_NOW)
    assert rules(by_key) == [("duplicate", "warning")] and by_key.identity_provider["id"] == "idp-2"  # type: ignore[index]


def test_check_of_a_tenant_without_jwt_idps() -> None:
    for idps in ([], [{"id": "m", "protocol": MULTI_CLOUD, "active": True}], [{"id": "o", "protocol": "OIDC"}]):
        report = check_identity_providers(idps, PUBLIC, now=FIXED_NOW)
        assert rules(report) == [("identity-provider", "error")]
        assert report.ok is False and report.to_dict()["identityProvider"] is None
        assert "no JWT identity provider" in report.findings[0].message


def test_check_warns_of_an_expired_certificate(fixed_now: int) -> None:
    expired = certificate(PRIVATE, days=(-400, -30), now=fixed_now)
    assert expired.not_valid_after_utc.timestamp() < fixed_now
    body = idp(certificate=expired)
    report = check_identity_providers([body], PUBLIC, issuer=QSCLOUD_ISSUER)  # the frozen clock
    assert rules(report) == [("certificate-expired", "warning")]
    assert report.ok
    assert f"{expired.not_valid_after_utc:%Y-%m-%d}" in report.findings[0].message
    valid = check_identity_providers([idp(certificate=certificate(PRIVATE, now=fixed_now))], PUBLIC)
    assert rules(valid) == []
    assert rules(check_identity_providers([body], PUBLIC, now=expired.not_valid_after_utc.timestamp() - 60)) == []


def test_check_reads_an_idp_as_the_tenant_answers_it(qscloud_emulator: QscloudEmulator) -> None:
    with api_client(qscloud_emulator) as client:
        idps = client.identity_providers()
    report = check_identity_providers(idps, PUBLIC, issuer=QSCLOUD_ISSUER, keyid=QSCLOUD_KID)
    assert report.ok and report.identity_provider is not None
    assert report.identity_provider["id"] == qscloud_emulator.identity_providers[0]["id"]


def test_identity_provider_thumbprint_reads_certificates_and_public_keys() -> None:
    def holding(pem: object) -> dict[str, Any]:
        return {"protocol": JWT_AUTH, "options": {"staticKeys": [{"kid": "k", "pem": pem}]}}

    assert identity_provider_thumbprint(holding(CERT_PEM.decode())) == THUMBPRINT  # wrapped
    assert identity_provider_thumbprint(holding(one_line_pem(CERT_PEM))) == THUMBPRINT
    assert identity_provider_thumbprint(holding(PUBLIC_PEM_TEXT)) == THUMBPRINT
    assert identity_provider_thumbprint(holding(key_bytes("rsa2048_public_pkcs1.pem").decode())) == THUMBPRINT
    ec_pem = key_bytes("ec_p256_public.pem").decode()
    for junk in (ec_pem, "nonsense", None, 5, "-----BEGIN CERTIFICATE-----AAA-----END CERTIFICATE-----"):
        assert identity_provider_thumbprint(holding(junk)) is None
    assert identity_provider_thumbprint({"options": {"staticKeys": []}}) is None
    assert identity_provider_thumbprint({}) is None


# ---------------------------------------------------------------- multi-cloud bearer tokens


def bearer_data(**changes: Any) -> dict[str, Any]:
    data = {"issuerConfig": {"issuer": "https://qseow.example.com/jwt"}, "hostname": "https://tenant.eu.qlikcloud.com",
            "realm": "QSEoW", "primary": True, "note": "~~~~",
            "staticKeys": [{"kid": "qseow-key-1", "pem": PUBLIC_PEM_TEXT}], **changes}
    return {name: value for name, value in data.items() if value is not None}


def bearer_token(data: dict[str, Any] | None = None) -> str:
    return base64.b64encode(json.dumps(data or bearer_data()).encode()).decode()


def test_decode_bearer_token_takes_base64_in_every_usual_form() -> None:
    data = bearer_data()
    raw = json.dumps(data).encode()
    standard = base64.b64encode(raw).decode()
    urlsafe = base64.urlsafe_b64encode(raw).decode()
    assert standard.endswith("=") and ("+" in standard or "/" in standard)  # the forms differ
    assert urlsafe != standard
    wrapped = base64.encodebytes(raw).decode()
    assert "\n" in wrapped.strip()
    for form in (standard, standard.rstrip("="), urlsafe, urlsafe.rstrip("="), f'"{standard}"', f'  "{urlsafe}"\n',
                 f"\n{wrapped}\n", f'"{wrapped}"', standard.encode()):
        assert decode_bearer_token(form) == data


@pytest.mark.parametrize(("token", "says"), [
    ("not base64!", "is not base64"),
    ("", "is not base64"),
    ('""', "is not base64"),
    (base64.b64encode(b"hello there, this is text").decode(), "not of JSON"),
    (base64.b64encode(b"\xff\xfe\xfd\xfc").decode(), "not of JSON"),
    (base64.b64encode(b"[1, 2]").decode(), "JSON that is not an object"),
    (base64.b64encode(b'"text"').decode(), "JSON that is not an object"),
])
def test_decode_bearer_token_refuses_what_is_not_one(token: str, says: str) -> None:
    with pytest.raises(TokenFormatError) as info:
        decode_bearer_token(token)
    assert says in str(info.value)


@pytest.mark.parametrize(("changes", "missing"), [
    ({"issuerConfig": None}, "issuerConfig.issuer"),
    ({"issuerConfig": {}}, "issuerConfig.issuer"),
    ({"issuerConfig": {"issuer": ""}}, "issuerConfig.issuer"),
    ({"issuerConfig": "https://qseow"}, "issuerConfig.issuer"),
    ({"hostname": None}, "hostname"),
    ({"hostname": ""}, "hostname"),
    ({"staticKeys": None}, "staticKeys"),
    ({"staticKeys": []}, "staticKeys"),
    ({"staticKeys": [{"kid": "k"}]}, "staticKeys[0].pem"),
    ({"staticKeys": [{"pem": PUBLIC_PEM_TEXT}]}, "staticKeys[0].kid"),
    ({"staticKeys": [{"kid": "k", "pem": PUBLIC_PEM_TEXT}, {"kid": "j", "pem": ""}]}, "staticKeys[1].pem"),
])
def test_decode_bearer_token_names_the_missing_field(changes: dict[str, Any], missing: str) -> None:
    with pytest.raises(TokenFormatError) as info:
        decode_bearer_token(bearer_token(bearer_data(**changes)))
    assert missing in str(info.value)


def test_decode_bearer_token_names_every_missing_field() -> None:
    with pytest.raises(TokenFormatError) as info:
        decode_bearer_token(bearer_token({"realm": "x"}))
    for name in ("issuerConfig.issuer", "hostname", "staticKeys"):
        assert name in str(info.value)


def test_decode_bearer_token_takes_text() -> None:
    with pytest.raises(ArgumentTypeError):
        decode_bearer_token(42)  # type: ignore[arg-type]
    with pytest.raises(TokenFormatError, match="larger than 1 MiB"):
        decode_bearer_token("A" * (1024 * 1024 + 1))


def test_describe_bearer_token() -> None:
    cert_key = {"kid": "cert-key", "pem": one_line_pem(CERT_PEM)}
    ec_public = {"kid": "ec-key", "pem": key_bytes("ec_p256_public.pem").decode()}
    described = describe_bearer_token(decode_bearer_token(bearer_token(bearer_data(
        staticKeys=[{"kid": "qseow-key-1", "pem": PUBLIC_PEM_TEXT}, cert_key, ec_public]))))
    assert {name: described[name] for name in ("issuer", "hostname", "kid", "realm", "primary")} == {
        "issuer": "https://qseow.example.com/jwt", "hostname": "https://tenant.eu.qlikcloud.com",
        "kid": "qseow-key-1", "realm": "QSEoW", "primary": True}
    first, second, third = described["staticKeys"]
    assert first == {"kid": "qseow-key-1", "pemType": "PUBLIC KEY", "keyType": "RSA", "keySize": 2048,
                     "thumbprint": THUMBPRINT}
    assert second == {"kid": "cert-key", "pemType": "CERTIFICATE", "keyType": "RSA", "keySize": 2048,
                      "thumbprint": THUMBPRINT}
    assert third["kid"] == "ec-key" and third["pemType"] == "PUBLIC KEY"
    assert third["keyType"] not in (None, "RSA", "unreadable") and third["thumbprint"] is None
    json.dumps(described)


def test_describe_bearer_token_of_an_unreadable_key() -> None:
    described = describe_bearer_token({"issuerConfig": {"issuer": "i"}, "hostname": "h",
                                       "staticKeys": [{"kid": "k", "pem": "no pem here"},
                                                      {"kid": "j", "pem": "-----BEGIN PUBLIC KEY-----AAAA"
                                                                          "-----END PUBLIC KEY-----"}]})
    assert described["staticKeys"][0] == {"kid": "k", "pemType": None, "keyType": None, "keySize": None,
                                          "thumbprint": None}
    assert described["staticKeys"][1]["keyType"] == "unreadable"
    assert (described["realm"], described["primary"]) == (None, None)


@pytest.mark.parametrize(("original", "given", "expected"), [
    ("https://tenant.eu.qlikcloud.com", "other.us.qlikcloud.com", "https://other.us.qlikcloud.com"),
    ("https://tenant.eu.qlikcloud.com", "https://other.us.qlikcloud.com/", "https://other.us.qlikcloud.com"),
    ("HTTPS://tenant.eu.qlikcloud.com", " other.us.qlikcloud.com ", "https://other.us.qlikcloud.com"),
    ("tenant.eu.qlikcloud.com", "other.us.qlikcloud.com", "other.us.qlikcloud.com"),
    ("tenant.eu.qlikcloud.com", "https://other.us.qlikcloud.com", "other.us.qlikcloud.com"),
])
def test_rebuild_bearer_token_replaces_the_hostname_only(original: str, given: str, expected: str) -> None:
    data = bearer_data(hostname=original)
    rebuilt = rebuild_bearer_token(bearer_token(data), given)
    raw = base64.b64decode(rebuilt, validate=True)  # standard base64, padded
    assert b": " not in raw and b", " not in raw.replace(b"\\n", b"")  # compact JSON
    assert json.loads(raw) == {**data, "hostname": expected}
    assert decode_bearer_token(rebuilt)["staticKeys"] == data["staticKeys"]


@pytest.mark.parametrize("hostname", ["other.com/path", "https://other.com/x", "other .com", "user@other.com",
                                      "other.com?x=1", "https://", "", "   "])
def test_rebuild_bearer_token_refuses_what_is_not_a_host_name(hostname: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        rebuild_bearer_token(bearer_token(), hostname)
    assert info.value.param == "hostname"


def test_rebuild_bearer_token_needs_a_bearer_token() -> None:
    with pytest.raises(TokenFormatError):
        rebuild_bearer_token("not base64!", "other.us.qlikcloud.com")


def test_multicloud_idp_body() -> None:
    token = bearer_token()
    body = multicloud_idp_body(f'  "{token}"\n', tenant_id="tenant-123")
    assert body == {"base64Encoded": token, "interactive": False, "protocol": MULTI_CLOUD,
                    "description": "Multi-cloud: https://tenant.eu.qlikcloud.com (qs-jwt)", "provider": "qlik",
                    "tenantIds": ["tenant-123"]}
    assert "tenantIds" not in multicloud_idp_body(token)
    assert multicloud_idp_body(token, description="From QSEoW")["description"] == "From QSEoW"
    with pytest.raises(InvalidValueError) as info:
        multicloud_idp_body(token, description="x" * 1001)
    assert info.value.param == "description"
    with pytest.raises(InvalidValueError) as info:
        multicloud_idp_body(token, tenant_id="")
    assert info.value.param == "tenant_id"
    with pytest.raises(TokenFormatError):
        multicloud_idp_body(bearer_token({"hostname": "h"}))


def test_the_emulator_accepts_a_multicloud_idp_body(qscloud_emulator: QscloudEmulator) -> None:
    token = bearer_token()
    body = multicloud_idp_body(base64.encodebytes(base64.b64decode(token)).decode(),
                               tenant_id=qscloud_emulator.tenant_id)
    assert body["base64Encoded"] == token
    with api_client(qscloud_emulator) as client:
        created = client.create_identity_provider(body)
        assert (created["protocol"], created["provider"], created["base64Encoded"]) == (MULTI_CLOUD, "qlik", token)
        assert created["tenantIds"] == [qscloud_emulator.tenant_id]
        assert [i["id"] for i in client.identity_providers(protocol=MULTI_CLOUD)] == [created["id"]]
