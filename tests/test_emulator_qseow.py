"""The QSEoW emulator (tests/qlik_emulator) enforces each rule it claims to: prefix routing, the xrfkey, every
JWT rule, session cookies, QRS authorization, VirtualProxyConfig validation, PUT conflicts, linking through
the proxy service, faults and TLS. Plain ``http.client`` and tokens minted with PyJWT: no qs_jwt code here.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import hmac
import http.client
import json
import re
import secrets
import ssl
import string
import time
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from conftest import key_bytes
from qlik_emulator import EmulatorServer, QseowEmulator, Request, Response
from qlik_emulator.client import Reply, send

AUDIENCE = "qlik"  # the preconfigured virtual proxy "jwt" has this audience

# loaded once: loading an RSA private key checks it, which takes tens of milliseconds
PRIVATE = load_pem_private_key(key_bytes("rsa2048_pkcs8.pem"), password=None)
CERT = key_bytes("rsa2048_cert.pem")
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
XRF_ALPHABET = string.ascii_letters + string.digits


# --- a minimal client ------------------------------------------------------------------------------------

def xrfkey() -> str:
    return "".join(secrets.choice(XRF_ALPHABET) for _ in range(16))


def qrs(emu: QseowEmulator, method: str, path: str, *, token: str | None = None, cookie: str | None = None,
        body: Any = None, params: Mapping[str, str] | None = None) -> Reply:
    """A QRS call with a fresh xrfkey, authenticated by ``token`` (Bearer) and/or ``cookie`` ("name=value")."""
    key = xrfkey()
    headers = {"X-Qlik-Xrfkey": key}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if cookie:
        headers["Cookie"] = cookie
    return send(emu, method, f"{path}?{urlencode({'xrfkey': key, **(params or {})})}", headers=headers, body=body)


def mint(*, drop: tuple[str, ...] = (), key: Any = PRIVATE, algorithm: str = "RS256", **claims: Any) -> str:
    """A token for ACME\\admin, audience qlik, valid 5 minutes; ``claims`` override, ``drop`` removes."""
    payload = {"userId": "admin", "userDirectory": "ACME", "aud": AUDIENCE, "exp": int(time.time()) + 300,
               **claims}
    return jwt.encode({k: v for k, v in payload.items() if k not in drop}, key, algorithm=algorithm)


def user_token(user_id: str) -> str:
    return mint(userId=user_id)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header: dict[str, Any], payload: dict[str, Any], sign: bytes | None = None) -> str:
    """A compact JWS built by hand, HMAC-SHA256-signed with ``sign`` as the secret (else no signature)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(sign, signing_input.encode(), hashlib.sha256).digest() if sign else b""
    return f"{signing_input}.{b64(signature)}"


def session_cookie(reply: Reply) -> str:
    """``name=value`` of the reply's Set-Cookie."""
    return reply.headers["Set-Cookie"].split(";", 1)[0]


def login(emu: QseowEmulator, token: str | None = None) -> str:
    reply = qrs(emu, "GET", "/jwt/qrs/about", token=token or mint())
    assert reply.status == 200, reply.text
    return session_cookie(reply)


def refused(emu: QseowEmulator, token: str, path: str = "/jwt/qrs/about") -> str:
    """Assert the token gets the proxy's 401 page; return the reason the emulator logged."""
    reply = qrs(emu, "GET", path, token=token)
    assert reply.status == 401
    assert reply.headers["Content-Type"].startswith("text/html")
    assert "Set-Cookie" not in reply.headers
    return emu.auth_failures[-1]


# --- routing by prefix -----------------------------------------------------------------------------------

def test_about_through_the_jwt_virtual_proxy(qseow_emulator: QseowEmulator) -> None:
    reply = qrs(qseow_emulator, "GET", "/jwt/qrs/about", token=mint())
    assert reply.status == 200
    assert reply.json() == {"buildVersion": "30.4.0.0", "buildDate": "9/20/2013 10:09:00 AM",
                            "databaseProvider": "Devart.Data.PostgreSql", "nodeType": 1, "sharedPersistence": True,
                            "requiresBootstrap": False, "singleNodeOnly": False, "schemaPath": "About"}
    assert qseow_emulator.url == f"https://127.0.0.1:{qseow_emulator.server.port}"


def test_an_unknown_prefix_is_a_404_page(qseow_emulator: QseowEmulator) -> None:
    reply = qrs(qseow_emulator, "GET", "/nope/qrs/about", token=mint())
    assert reply.status == 404
    assert reply.headers["Content-Type"].startswith("text/html")
    assert reply.text.startswith("<html><head><title>404 - Not Found</title></head><body>")


@pytest.mark.parametrize("setting", [{"linked": False}, {"load_balancing": False}], ids=["unlinked", "no-node"])
def test_a_virtual_proxy_the_proxy_cannot_serve_is_a_503_page(qseow_emulator: QseowEmulator,
                                                              setting: dict[str, bool]) -> None:
    qseow_emulator.add_virtual_proxy("other", cert_pem=CERT, **setting)
    reply = qrs(qseow_emulator, "GET", "/other/qrs/about", token=mint())
    assert reply.status == 503
    assert "<title>503 - Service Unavailable</title>" in reply.text


def test_the_empty_prefix_serves_paths_of_no_other_prefix(qseow_emulator: QseowEmulator) -> None:
    qseow_emulator.add_virtual_proxy("", cert_pem=CERT, userid_claim="user", userdir_claim="directory")
    token = mint(user="admin", directory="ACME", drop=("aud", "userId", "userDirectory"))
    assert qrs(qseow_emulator, "GET", "/qrs/about", token=token).status == 200
    assert qrs(qseow_emulator, "GET", "/jwt/qrs/about", token=mint()).status == 200


def test_a_ticket_virtual_proxy_redirects_to_windows_authentication(qseow_emulator: QseowEmulator) -> None:
    qseow_emulator.add_virtual_proxy("win", authentication_method=0)
    reply = qrs(qseow_emulator, "GET", "/win/qrs/about", token=mint())
    assert reply.status == 302
    location = reply.headers["Location"]
    assert location.startswith("/win/internal_windows_authentication/?targetId=")
    challenge = send(qseow_emulator, "GET", location)
    assert challenge.status == 401
    assert challenge.headers.get_all("WWW-Authenticate") == ["Negotiate", "NTLM"]


def test_the_hub_needs_no_xrfkey(qseow_emulator: QseowEmulator) -> None:
    reply = send(qseow_emulator, "GET", "/jwt/hub/", headers={"Authorization": f"Bearer {mint()}"})
    assert reply.status == 200
    assert "Set-Cookie" in reply.headers


# --- the xrfkey -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "header"), [
    ("", "abcdefghij123456"),
    ("?xrfkey=abcdefghij123456", None),
    ("?xrfkey=abcdefghij123456", "abcdefghij654321"),
    ("?xrfkey=abcdefghij12345", "abcdefghij12345"),
    ("?xrfkey=abcdefghij1234567", "abcdefghij1234567"),
    ("?xrfkey=abcdefghij12345-", "abcdefghij12345-"),
    ("?xrfkey=abcdefghij123456&Xrfkey=abcdefghij123456", "abcdefghij123456"),
], ids=["no-query", "no-header", "different", "15-chars", "17-chars", "not-alphanumeric", "twice"])
def test_a_bad_xrfkey_is_refused(qseow_emulator: QseowEmulator, query: str, header: str | None) -> None:
    headers = {"Authorization": f"Bearer {mint()}"} | ({"X-Qlik-Xrfkey": header} if header else {})
    reply = send(qseow_emulator, "GET", f"/jwt/qrs/about{query}", headers=headers)
    assert reply.status == 403
    assert reply.headers["Content-Type"].startswith("text/plain")
    assert reply.text == "XSRF prevention check failed. Possible XSRF discovered."
    assert qseow_emulator.xrfkeys == []


@pytest.mark.parametrize("name", ["xrfkey", "Xrfkey", "XRFKEY"])
def test_the_xrfkey_parameter_name_is_matched_in_any_case(qseow_emulator: QseowEmulator, name: str) -> None:
    key = xrfkey()
    headers = {"Authorization": f"Bearer {mint()}", "x-qlik-xrfkey": key}
    assert send(qseow_emulator, "GET", f"/jwt/qrs/about?{name}={key}", headers=headers).status == 200
    assert qseow_emulator.xrfkeys == [key]


def test_the_xrfkeys_seen_are_recorded_in_order(qseow_emulator: QseowEmulator) -> None:
    cookie = login(qseow_emulator)
    qrs(qseow_emulator, "GET", "/jwt/qrs/app", cookie=cookie)
    keys = qseow_emulator.xrfkeys
    assert len(keys) == 2
    assert keys == [request.query["xrfkey"] for request in qseow_emulator.requests]


# --- the JWT rules ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["RS256", "RS384", "RS512"])
def test_rs_algorithms_are_accepted(qseow_emulator: QseowEmulator, algorithm: str) -> None:
    assert qrs(qseow_emulator, "GET", "/jwt/qrs/about", token=mint(algorithm=algorithm)).status == 200
    assert qseow_emulator.auth_failures == []


def test_a_signature_by_another_key_is_refused(qseow_emulator: QseowEmulator) -> None:
    assert refused(qseow_emulator, mint(key=key_bytes("other2048_pkcs8.pem"))) == "signature"


@pytest.mark.parametrize(("token", "reason"), [
    (lambda: mint(algorithm="PS256"), "algorithm PS256"),
    (lambda: handmade({"alg": "HS256", "typ": "JWT"}, {"userId": "admin", "userDirectory": "ACME", "aud": "qlik"},
                      sign=CERT), "algorithm HS256"),  # the certificate as an HMAC secret: key confusion
    (lambda: handmade({"alg": "none"}, {"userId": "admin", "userDirectory": "ACME", "aud": "qlik"}), "algorithm none"),
    (lambda: "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d", "encrypted JWT (JWE)"),
], ids=["PS256", "HS256-with-the-certificate", "none", "JWE"])
def test_other_algorithms_and_encryption_are_refused(qseow_emulator: QseowEmulator, token: Any, reason: str) -> None:
    assert refused(qseow_emulator, token()) == reason


class FromNow(NamedTuple):
    """A NumericDate this many seconds from the moment the test runs."""

    seconds: int


@pytest.mark.parametrize(("claims", "drop", "reason"), [
    ({"aud": "other"}, (), "audience mismatch"),
    ({}, ("aud",), "audience missing"),
    ({"aud": ["qlik"]}, (), "audience not a string"),
    ({"userid": "admin"}, ("userId",), "claim userId missing"),
    ({"UserDirectory": "ACME"}, ("userDirectory",), "claim userDirectory missing"),
    ({"userId": ""}, (), "claim userId not a non-empty string"),
    ({"userDirectory": 42}, (), "claim userDirectory not a non-empty string"),
    ({"exp": FromNow(-1)}, (), "expired"),
    ({"exp": "tomorrow"}, (), "exp not a number"),
    ({"nbf": FromNow(60)}, (), "not yet valid (nbf in the future)"),
    ({"iat": FromNow(60)}, (), "issued in the future (iat)"),
], ids=["aud-other", "aud-missing", "aud-array", "userid-case", "userdirectory-case", "userid-empty",
        "userdirectory-number", "expired", "exp-text", "nbf-future", "iat-future"])
def test_claim_rules(qseow_emulator: QseowEmulator, claims: dict[str, Any], drop: tuple[str, ...],
                     reason: str) -> None:
    now = int(time.time())  # times are made when the test runs, not when the suite is collected
    claims = {name: now + value.seconds if isinstance(value, FromNow) else value for name, value in claims.items()}
    assert refused(qseow_emulator, mint(drop=drop, **claims)) == reason


def test_a_token_without_exp_and_with_past_nbf_and_iat_is_accepted(qseow_emulator: QseowEmulator) -> None:
    now = int(time.time())
    assert qrs(qseow_emulator, "GET", "/jwt/qrs/about", token=mint(drop=("exp",), nbf=now, iat=now)).status == 200


def test_aud_is_not_checked_when_the_virtual_proxy_has_no_audience(qseow_emulator: QseowEmulator) -> None:
    qseow_emulator.add_virtual_proxy("noaud", cert_pem=CERT)
    assert qrs(qseow_emulator, "GET", "/noaud/qrs/about", token=mint(aud="anything")).status == 200
    assert qrs(qseow_emulator, "GET", "/noaud/qrs/about", token=mint(drop=("aud",))).status == 200


@pytest.mark.parametrize(("authorization", "reason"), [
    (None, "no token"), ("Basic YWRtaW46YWRtaW4=", "authorization not Bearer"), ("Bearer not-a-jwt", "malformed"),
])
def test_a_request_without_a_usable_token_is_refused(qseow_emulator: QseowEmulator, authorization: str | None,
                                                     reason: str) -> None:
    key = xrfkey()
    headers = {"X-Qlik-Xrfkey": key} | ({"Authorization": authorization} if authorization else {})
    reply = send(qseow_emulator, "GET", f"/jwt/qrs/about?xrfkey={key}", headers=headers)
    assert reply.status == 401
    assert qseow_emulator.auth_failures[-1].startswith(reason)


def test_the_401_page_does_not_say_why(qseow_emulator: QseowEmulator) -> None:
    reply = qrs(qseow_emulator, "GET", "/jwt/qrs/about", token=mint(aud="other"))
    assert "<title>401 - Unauthorized</title>" in reply.text
    assert "Authentication failed" in reply.text
    assert "audience" not in reply.text


def test_mapped_attributes_go_into_the_session_and_mandatory_ones_are_required(
        qseow_emulator: QseowEmulator) -> None:
    qseow_emulator.add_virtual_proxy("attrs", cert_pem=CERT, attribute_map=[
        {"jwtAttribute": "groups", "senseAttribute": "group", "isMandatory": True},
        {"jwtAttribute": "email", "senseAttribute": "mail", "isMandatory": False}])
    assert refused(qseow_emulator, mint(), "/attrs/qrs/about") == "mandatory attribute groups missing"
    assert qrs(qseow_emulator, "GET", "/attrs/qrs/about", token=mint(groups=["Sales", "HR"])).status == 200
    (session,) = qseow_emulator.sessions
    assert (session.user_directory, session.user_id, session.attributes) == ("ACME", "admin",
                                                                             {"group": ["Sales", "HR"]})


# --- session cookies --------------------------------------------------------------------------------------

def test_a_login_sets_the_session_cookie_and_the_cookie_alone_then_works(qseow_emulator: QseowEmulator) -> None:
    first = qrs(qseow_emulator, "GET", "/jwt/qrs/about", token=mint())
    name, value = session_cookie(first).split("=", 1)
    assert name == "X-Qlik-Session-jwt"
    assert first.headers["Set-Cookie"] == f"{name}={value}; Path=/; HttpOnly; Secure"
    second = qrs(qseow_emulator, "GET", "/jwt/qrs/app", cookie=f"{name}={value}")
    assert second.status == 200
    assert "Set-Cookie" not in second.headers
    login_request, cookie_request = qseow_emulator.requests
    assert "authorization" in login_request.headers and "cookie" not in login_request.headers
    assert "authorization" not in cookie_request.headers and cookie_request.headers["cookie"] == f"{name}={value}"
    assert [s.id for s in qseow_emulator.sessions] == [value]


def test_an_unknown_or_foreign_session_cookie_is_refused(qseow_emulator: QseowEmulator) -> None:
    qseow_emulator.add_virtual_proxy("jwt2", cert_pem=CERT, audience=AUDIENCE)
    session_id = login(qseow_emulator).split("=", 1)[1]
    assert qrs(qseow_emulator, "GET", "/jwt/qrs/about", cookie="X-Qlik-Session-jwt=0000").status == 401
    assert qrs(qseow_emulator, "GET", "/jwt2/qrs/about", cookie=f"X-Qlik-Session-jwt2={session_id}").status == 401
    assert qseow_emulator.auth_failures == ["unknown session", "unknown session"]


def test_over_http_the_cookie_name_gets_the_http_suffix_and_no_secure(qseow_emulator_http: QseowEmulator) -> None:
    assert qseow_emulator_http.url.startswith("http://")
    reply = qrs(qseow_emulator_http, "GET", "/jwt/qrs/about", token=mint())
    assert reply.headers["Set-Cookie"].endswith("; Path=/; HttpOnly")
    cookie = session_cookie(reply)
    assert cookie.startswith("X-Qlik-Session-jwt-HTTP=")
    assert qrs(qseow_emulator_http, "GET", "/jwt/qrs/about", cookie=cookie).status == 200


def test_a_sixth_parallel_session_of_a_user_is_refused(qseow_emulator: QseowEmulator) -> None:
    cookies = [login(qseow_emulator) for _ in range(5)]
    reply = qrs(qseow_emulator, "GET", "/jwt/qrs/about", token=mint())
    assert reply.status == 429
    assert "Too many sessions" in reply.text
    assert qseow_emulator.auth_failures == ["too many sessions"]
    assert qrs(qseow_emulator, "GET", "/jwt/qrs/about", cookie=cookies[0]).status == 200
    assert qrs(qseow_emulator, "GET", "/jwt/qrs/about", token=user_token("someone")).status == 200


def test_parallel_requests_with_one_session(qseow_emulator: QseowEmulator) -> None:
    cookie = login(qseow_emulator)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: qrs(qseow_emulator, "GET", "/jwt/qrs/app", cookie=cookie).status,
                                 range(16)))
    assert statuses == [200] * 16
    assert len(set(qseow_emulator.xrfkeys)) == 17


# --- authorization ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/jwt/qrs/about", 200), ("GET", "/jwt/qrs/app", 200), ("GET", "/jwt/qrs/app/full", 200),
    ("GET", "/jwt/qrs/virtualproxyconfig", 403), ("GET", "/jwt/qrs/virtualproxyconfig/full", 403),
    ("GET", "/jwt/qrs/proxyservice", 403), ("GET", "/jwt/qrs/proxyservice/local", 403),
    ("GET", "/jwt/qrs/servernodeconfiguration", 403), ("POST", "/jwt/qrs/virtualproxyconfig", 403),
])
def test_what_a_non_administrator_may_do(qseow_emulator: QseowEmulator, method: str, path: str,
                                         status: int) -> None:
    assert qrs(qseow_emulator, method, path, token=user_token("jane"), body={}).status == status


def test_users_see_themselves_administrators_see_everyone(qseow_emulator: QseowEmulator) -> None:
    jane = qrs(qseow_emulator, "GET", "/jwt/qrs/user", token=user_token("jane")).json()
    assert [(u["userDirectory"], u["userId"]) for u in jane] == [("ACME", "jane")]
    everyone = qrs(qseow_emulator, "GET", "/jwt/qrs/user/full", token=mint()).json()
    assert {(u["userId"], tuple(u["roles"])) for u in everyone} == {("admin", ("RootAdmin",)), ("jane", ())}


# --- QRS reads --------------------------------------------------------------------------------------------

def test_apps_condensed_full_and_filtered(qseow_emulator: QseowEmulator) -> None:
    qseow_emulator.add_app("Sales")
    qseow_emulator.add_app("HR", stream="Everyone")
    cookie = login(qseow_emulator)
    condensed = qrs(qseow_emulator, "GET", "/jwt/qrs/app", cookie=cookie).json()
    assert [app["name"] for app in condensed] == ["Sales", "HR"]
    assert "schemaPath" not in condensed[0]
    full = qrs(qseow_emulator, "GET", "/jwt/qrs/app/full", cookie=cookie, params={"filter": "name eq 'HR'"}).json()
    assert [(app["name"], app["published"], app["stream"]["name"], app["schemaPath"]) for app in full] == [
        ("HR", True, "Everyone", "App")]
    bad = qrs(qseow_emulator, "GET", "/jwt/qrs/app", cookie=cookie, params={"filter": "name like 'H%'"})
    assert (bad.status, bad.text.startswith("Cannot parse the expression")) == (400, True)


def test_server_nodes(qseow_emulator: QseowEmulator) -> None:
    qseow_emulator.add_rim_node("Rim1")
    cookie = login(qseow_emulator)
    nodes = qrs(qseow_emulator, "GET", "/jwt/qrs/servernodeconfiguration", cookie=cookie).json()
    assert [(n["name"], n["isCentral"]) for n in nodes] == [("Central", True), ("Rim1", False)]
    assert set(nodes[0]) == {"id", "name", "hostName", "isCentral"}
    central = qrs(qseow_emulator, "GET", "/jwt/qrs/servernodeconfiguration", cookie=cookie,
                  params={"filter": "isCentral eq true"}).json()
    assert central == [nodes[0]]


def test_virtual_proxies_condensed_and_full(qseow_emulator: QseowEmulator) -> None:
    cookie = login(qseow_emulator)
    (condensed,) = qrs(qseow_emulator, "GET", "/jwt/qrs/virtualproxyconfig", cookie=cookie).json()
    vp = qseow_emulator.virtual_proxy("jwt")
    assert condensed == {"id": vp["id"], "prefix": "jwt", "description": vp["description"],
                         "authenticationMethod": 4, "sessionCookieHeaderName": "X-Qlik-Session-jwt"}
    (full,) = qrs(qseow_emulator, "GET", "/jwt/qrs/virtualproxyconfig/full", cookie=cookie).json()
    assert full == qrs(qseow_emulator, "GET", f"/jwt/qrs/virtualproxyconfig/{vp['id']}", cookie=cookie).json()
    assert full["jwtPublicKeyCertificate"] == CERT.decode()
    assert (full["jwtAudience"], full["jwtAttributeUserId"], full["jwtAttributeUserDirectory"]) == (
        "qlik", "userId", "userDirectory")
    assert full["loadBalancingServerNodes"][0]["id"] == qseow_emulator.central_node["id"]
    assert (full["sessionInactivityTimeout"], full["schemaPath"]) == (30, "VirtualProxyConfig")
    assert STAMP.fullmatch(full["createdDate"]) and STAMP.fullmatch(full["modifiedDate"])
    missing = qrs(qseow_emulator, "GET", "/jwt/qrs/virtualproxyconfig/00000000-0000-0000-0000-000000000000",
                  cookie=cookie)
    assert missing.status == 404


def test_proxy_services(qseow_emulator: QseowEmulator) -> None:
    cookie = login(qseow_emulator)
    (listed,) = qrs(qseow_emulator, "GET", "/jwt/qrs/proxyservice", cookie=cookie).json()
    local = qrs(qseow_emulator, "GET", "/jwt/qrs/proxyservice/local", cookie=cookie).json()
    assert listed == {"id": local["id"], "privileges": None}
    assert qrs(qseow_emulator, "GET", "/jwt/qrs/proxyservice/full", cookie=cookie).json() == [local]
    assert qrs(qseow_emulator, "GET", f"/jwt/qrs/proxyservice/{local['id']}", cookie=cookie).json() == local
    assert local["serverNodeConfiguration"]["id"] == qseow_emulator.central_node["id"]
    assert [vp["prefix"] for vp in local["settings"]["virtualProxies"]] == ["jwt"]


def test_a_wrong_method_is_a_405(qseow_emulator: QseowEmulator) -> None:
    reply = qrs(qseow_emulator, "DELETE", "/jwt/qrs/about", token=mint())
    assert (reply.status, reply.headers["Allow"]) == (405, "GET")


# --- VirtualProxyConfig: create, update, delete, link -----------------------------------------------------

def new_vp_body(prefix: str = "jwt-new", **changes: Any) -> dict[str, Any]:
    return {"prefix": prefix, "description": "new", "sessionCookieHeaderName": f"X-Qlik-Session-{prefix}",
            "authenticationMethod": 4, "jwtPublicKeyCertificate": CERT.decode(), "jwtAttributeUserId": "userId",
            "jwtAttributeUserDirectory": "userDirectory", "jwtAudience": "qlik", **changes}


def test_create_returns_the_full_entity(qseow_emulator: QseowEmulator) -> None:
    reply = qrs(qseow_emulator, "POST", "/jwt/qrs/virtualproxyconfig", token=mint(), body=new_vp_body())
    assert reply.status == 201
    created = reply.json()
    assert created["prefix"] == "jwt-new" and re.fullmatch(r"[0-9a-f-]{36}", created["id"])
    assert STAMP.fullmatch(created["createdDate"]) and created["modifiedDate"] == created["createdDate"]
    assert (created["sessionInactivityTimeout"], created["jwtAttributeMap"], created["loadBalancingServerNodes"]) == (
        30, [], [])
    assert qseow_emulator.virtual_proxy("jwt-new") == created


def test_a_certificate_after_its_public_key_is_accepted(qseow_emulator: QseowEmulator) -> None:
    pem = key_bytes("rsa2048_public.pem").decode() + CERT.decode()  # what `openssl x509 -pubkey` prints
    body = new_vp_body(jwtPublicKeyCertificate=pem)
    assert qrs(qseow_emulator, "POST", "/jwt/qrs/virtualproxyconfig", token=mint(), body=body).status == 201


@pytest.mark.parametrize("body", [
    new_vp_body(prefix="JWT"), new_vp_body(prefix="a/b"), new_vp_body(prefix="sp ace"), new_vp_body(prefix="jwt"),
    new_vp_body(sessionCookieHeaderName="x-qlik-session-JWT"), new_vp_body(sessionCookieHeaderName="bad name"),
    new_vp_body(jwtPublicKeyCertificate=key_bytes("rsa2048_public.pem").decode()),
    new_vp_body(jwtPublicKeyCertificate="-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
    new_vp_body(jwtPublicKeyCertificate=2 * CERT.decode()), new_vp_body(jwtAttributeUserId=""),
    new_vp_body(authenticationMethod=9), new_vp_body(authenticationMethod="4"),
    new_vp_body(loadBalancingServerNodes=[{"id": "00000000-0000-0000-0000-000000000000"}]),
    new_vp_body(jwtAttributeMap=[{"jwtAttribute": "groups"}]), new_vp_body(sessionInactivityTimeout=0),
    {"prefix": "x", "sessionCookieHeaderName": "X-Qlik-Session-x"}, [new_vp_body()], b"{not json",
], ids=["upper-case-prefix", "slash-prefix", "space-prefix", "duplicate-prefix", "duplicate-cookie-name",
        "bad-cookie-name", "public-key-only", "garbage-certificate", "two-certificates", "no-userid-claim",
        "method-9", "method-text", "unknown-node", "attribute-map-item", "timeout-0", "no-description",
        "array", "not-json"])
def test_create_refuses_an_invalid_body(qseow_emulator: QseowEmulator, body: Any) -> None:
    reply = qrs(qseow_emulator, "POST", "/jwt/qrs/virtualproxyconfig", token=mint(), body=body)
    assert reply.status == 400, reply.text
    assert reply.headers["Content-Type"].startswith("text/plain")
    assert "Set-Cookie" in reply.headers  # the proxy accepted the JWT; the QRS refused the body
    assert [vp["prefix"] for vp in qrs(qseow_emulator, "GET", "/jwt/qrs/virtualproxyconfig",
                                       cookie=login(qseow_emulator)).json()] == ["jwt"]


def test_add_virtual_proxy_validates_too(qseow_emulator: QseowEmulator) -> None:
    with pytest.raises(ValueError, match=r"not a PEM X\.509 certificate"):
        qseow_emulator.add_virtual_proxy("bare", cert_pem=key_bytes("rsa2048_public.pem"))


def test_put_needs_the_current_modified_date(qseow_emulator: QseowEmulator) -> None:
    cookie = login(qseow_emulator)
    path = f"/jwt/qrs/virtualproxyconfig/{qseow_emulator.virtual_proxy('jwt')['id']}"
    vp = qrs(qseow_emulator, "GET", path, cookie=cookie).json()
    updated = qrs(qseow_emulator, "PUT", path, cookie=cookie, body=vp | {"description": "changed"})
    assert updated.status == 200
    assert updated.json()["description"] == "changed"
    assert updated.json()["modifiedDate"] > vp["modifiedDate"]
    stale = qrs(qseow_emulator, "PUT", path, cookie=cookie, body=vp | {"description": "again"})
    assert stale.status == 409
    assert stale.headers["Content-Type"].startswith("text/plain")
    assert qseow_emulator.virtual_proxy("jwt")["description"] == "changed"


@pytest.mark.parametrize("change", [
    lambda vp: {"id": vp["id"], "modifiedDate": vp["modifiedDate"], "description": "partial"},
    lambda vp: vp | {"id": "00000000-0000-0000-0000-000000000000"},
    lambda vp: {k: v for k, v in vp.items() if k != "modifiedDate"},
    lambda vp: vp | {"prefix": "Upper"},
], ids=["partial", "other-id", "no-modified-date", "invalid-prefix"])
def test_put_refuses_an_invalid_body(qseow_emulator: QseowEmulator, change: Any) -> None:
    cookie = login(qseow_emulator)
    vp = qseow_emulator.virtual_proxy("jwt")
    reply = qrs(qseow_emulator, "PUT", f"/jwt/qrs/virtualproxyconfig/{vp['id']}", cookie=cookie, body=change(vp))
    assert reply.status == 400, reply.text


def test_a_forced_race_gives_one_409(qseow_emulator: QseowEmulator) -> None:
    cookie = login(qseow_emulator)
    vp = qseow_emulator.virtual_proxy("jwt")
    path = f"/jwt/qrs/virtualproxyconfig/{vp['id']}"
    qseow_emulator.bump_modified_date_on_next_put(vp["id"])
    assert qrs(qseow_emulator, "PUT", path, cookie=cookie, body=vp).status == 409
    fresh = qrs(qseow_emulator, "GET", path, cookie=cookie).json()
    assert fresh["modifiedDate"] > vp["modifiedDate"]
    assert qrs(qseow_emulator, "PUT", path, cookie=cookie, body=fresh).status == 200


def test_delete_unlinks_and_ends_sessions(qseow_emulator: QseowEmulator) -> None:
    qseow_emulator.add_virtual_proxy("gone", cert_pem=CERT)
    cookie = login(qseow_emulator)
    before = qseow_emulator.proxy_service()["modifiedDate"]
    vp_id = qseow_emulator.virtual_proxy("gone")["id"]
    assert qrs(qseow_emulator, "GET", "/gone/qrs/about", token=mint()).status == 200
    reply = qrs(qseow_emulator, "DELETE", f"/jwt/qrs/virtualproxyconfig/{vp_id}", cookie=cookie)
    assert (reply.status, reply.body) == (204, b"")
    assert qrs(qseow_emulator, "GET", f"/jwt/qrs/virtualproxyconfig/{vp_id}", cookie=cookie).status == 404
    service = qseow_emulator.proxy_service()
    assert [vp["prefix"] for vp in service["settings"]["virtualProxies"]] == ["jwt"]
    assert service["modifiedDate"] > before
    assert [s.vp_id for s in qseow_emulator.sessions] == [qseow_emulator.virtual_proxy("jwt")["id"]]
    assert qrs(qseow_emulator, "GET", "/gone/qrs/about", token=mint()).status == 404


def test_a_new_virtual_proxy_works_once_linked_through_the_proxy_service(qseow_emulator: QseowEmulator) -> None:
    cookie = login(qseow_emulator)
    node = {"id": qseow_emulator.central_node["id"]}
    created = qrs(qseow_emulator, "POST", "/jwt/qrs/virtualproxyconfig", cookie=cookie,
                  body=new_vp_body(loadBalancingServerNodes=[node])).json()
    assert qrs(qseow_emulator, "GET", "/jwt-new/qrs/about", token=mint()).status == 503
    service = qrs(qseow_emulator, "GET", "/jwt/qrs/proxyservice/local", cookie=cookie).json()
    service["settings"]["virtualProxies"].append({"id": created["id"]})
    path = f"/jwt/qrs/proxyservice/{service['id']}"
    linked = qrs(qseow_emulator, "PUT", path, cookie=cookie, body=service)
    assert linked.status == 200
    assert [vp["prefix"] for vp in linked.json()["settings"]["virtualProxies"]] == ["jwt", "jwt-new"]
    assert linked.json()["modifiedDate"] > service["modifiedDate"]
    assert qrs(qseow_emulator, "GET", "/jwt-new/qrs/about", token=mint()).status == 200
    assert qrs(qseow_emulator, "PUT", path, cookie=cookie, body=service).status == 409


def test_linking_an_unknown_virtual_proxy_is_refused(qseow_emulator: QseowEmulator) -> None:
    cookie = login(qseow_emulator)
    service = qseow_emulator.proxy_service()
    service["settings"]["virtualProxies"].append({"id": "00000000-0000-0000-0000-000000000000"})
    reply = qrs(qseow_emulator, "PUT", f"/jwt/qrs/proxyservice/{service['id']}", cookie=cookie, body=service)
    assert reply.status == 400


# --- faults -----------------------------------------------------------------------------------------------

def test_fail_next_answers_the_next_matching_requests(qseow_emulator: QseowEmulator) -> None:
    qseow_emulator.fail_next("/jwt/qrs/about", 503, count=2, body="<html>busy</html>", content_type="text/html")
    qseow_emulator.fail_next("/jwt/qrs/", 429, headers={"Retry-After": "1"})
    token = mint()
    first, second, third, fourth = (qrs(qseow_emulator, "GET", "/jwt/qrs/about", token=token) for _ in range(4))
    assert (first.status, first.text, first.headers["Content-Type"]) == (503, "<html>busy</html>", "text/html")
    assert second.status == 503
    assert (third.status, third.headers["Retry-After"]) == (429, "1")
    assert fourth.status == 200
    assert len(qseow_emulator.requests) == 4


def test_a_stalled_request_times_out_and_the_next_one_is_answered(qseow_emulator: QseowEmulator) -> None:
    qseow_emulator.stall("/jwt/qrs/about", 5.0)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        send(qseow_emulator, "GET", "/jwt/qrs/about", timeout=0.2)
    assert time.monotonic() - started < 2
    assert qrs(qseow_emulator, "GET", "/jwt/qrs/about", token=mint()).status == 200


# --- TLS, and an emulator of its own ----------------------------------------------------------------------

def test_the_server_certificate_chains_to_the_test_ca(qseow_emulator: QseowEmulator) -> None:
    assert qseow_emulator.ca_cert_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert qseow_emulator.server_cert_pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert qseow_emulator.server_cert_pem not in qseow_emulator.ca_cert_path.read_bytes()


def test_an_expired_server_certificate_fails_verification(qseow_emulator_expired_cert: QseowEmulator) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
        send(qseow_emulator_expired_cert, "GET", "/jwt/qrs/about")


def test_a_self_signed_server_certificate_fails_unless_trusted_itself(
        qseow_emulator_self_signed: QseowEmulator) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match=r"self.signed"):
        send(qseow_emulator_self_signed, "GET", "/jwt/qrs/about")
    context = ssl.create_default_context(cadata=qseow_emulator_self_signed.server_cert_pem.decode())
    connection = http.client.HTTPSConnection("127.0.0.1", qseow_emulator_self_signed.server.port, context=context,
                                             timeout=5)
    try:
        connection.request("GET", "/nope/")
        assert connection.getresponse().status == 404
    finally:
        connection.close()


def test_a_backend_error_is_a_500_page_and_recorded() -> None:
    class Broken:
        def handle(self, request: Request) -> Response | None:
            raise RuntimeError("emulator bug")

    with EmulatorServer(tls=False) as server:
        server.mount(Broken())
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            connection.request("GET", "/anything")
            assert connection.getresponse().status == 500
        finally:
            connection.close()
        (error,) = server.errors
        assert "RuntimeError: emulator bug" in error


def test_an_emulator_with_its_own_plain_http_server() -> None:
    with QseowEmulator(tls=False) as emu:
        emu.add_virtual_proxy("jwt", cert_pem=CERT)
        assert emu.url.startswith("http://127.0.0.1:")
        assert send(emu, "GET", "/jwt/hub", headers={"Authorization": f"Bearer {mint()}"}).status == 200
    with pytest.raises(ConnectionRefusedError):
        send(emu, "GET", "/jwt/hub")
