"""The QSEoW emulator's Hybrid Deployment Service (tests/qlik_emulator/hds.py): deployments, their validation, the
local bearer token in "Qlik Cloud format" and its two answer formats; and emulator servers with a CA each (one
QSEoW and three Qlik Cloud tenants, one CA bundle for all). Plain ``http.client``/``ssl`` and tokens minted with
PyJWT: no qs_jwt code here.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import ssl
import time
import uuid
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from conftest import key_bytes
from qlik_emulator import EmulatorServer, QscloudEmulator, QseowEmulator, decode_bearer_token, write_ca_bundle
from qlik_emulator.client import Reply, send
from qlik_emulator.fixtures import QSCLOUD_TENANT_API_KEYS
from qlik_emulator.tls import shared_ca

# fixtures that conftest.py does not import (yet)

# loaded once: loading an RSA private key checks it, which takes tens of milliseconds
_LOADED = load_pem_private_key(key_bytes("rsa2048_pkcs8.pem"), password=None)
assert isinstance(_LOADED, RSAPrivateKey)
PRIVATE: RSAPrivateKey = _LOADED
DEPLOYMENTS = "/jwt/api/hds/v1/Deployments"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
ONE_LINE_PEM = re.compile(r"-----BEGIN PUBLIC KEY-----[A-Za-z0-9+/]+=*-----END PUBLIC KEY-----")
PADDED_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


# --- a minimal client ------------------------------------------------------------------------------------

def mint(user_id: str = "admin", directory: str = "ACME") -> str:
    """A token for the preconfigured virtual proxy ``jwt`` (audience qlik), valid 5 minutes."""
    payload = {"userId": user_id, "userDirectory": directory, "aud": "qlik", "exp": int(time.time()) + 300}
    return jwt.encode(payload, PRIVATE, algorithm="RS256")


#: ACME\admin's session cookie on each emulator: a user may hold only 5 sessions, as a real client reuses one
_ADMIN_COOKIES: weakref.WeakKeyDictionary[QseowEmulator, str] = weakref.WeakKeyDictionary()


def hds(emu: QseowEmulator, method: str, path: str = DEPLOYMENTS, *, token: str | None = None,
        cookie: str | None = None, body: Any = None, params: Mapping[str, str] | None = None) -> Reply:
    """An HDS call, without xrfkey; authenticated by ``token`` (Bearer) or ``cookie`` ("name=value"); with
    neither, as ACME\\admin: the session of an earlier call, else a new one (a token)."""
    if token or cookie:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers |= {"Cookie": cookie} if cookie else {}
    else:
        headers = {"Authorization": f"Bearer {mint()}"}
        headers |= {"Cookie": _ADMIN_COOKIES[emu]} if emu in _ADMIN_COOKIES else {}
    query = f"?{urlencode(params)}" if params else ""
    reply = send(emu, method, f"{path}{query}", headers=headers, body=body)
    if not (token or cookie) and "Set-Cookie" in reply.headers:
        _ADMIN_COOKIES[emu] = reply.headers["Set-Cookie"].split(";", 1)[0]
    return reply


def new_body(name: str = "Tenant A", service_url: str = "https://tenant-a.example", **fields: Any) -> dict[str, Any]:
    return {"name": name, "audience": "qlik.api", "serviceUrl": service_url, "localBearerToken": True, **fields}


def create(emu: QseowEmulator, name: str = "Tenant A", service_url: str = "https://tenant-a.example") -> dict[str, Any]:
    reply = hds(emu, "POST", body=new_body(name, service_url))
    assert reply.status == 201, reply.text
    return dict(reply.json())


def token_of(emu: QseowEmulator, deployment_id: str) -> str:
    """The bearer token (json-string format) of a deployment."""
    reply = hds(emu, "GET", f"{DEPLOYMENTS}/{deployment_id}/elastictokenconfig", params={"qcsFormat": "True"})
    assert reply.status == 200, reply.text
    token = reply.json()
    assert isinstance(token, str)
    return token


def refusal(reply: Reply, status: int) -> str:
    """Assert an HDS JSON error of ``status``; return its detail."""
    assert reply.status == status, reply.text
    data = reply.json()
    assert set(data) == {"status", "title", "detail"} and data["status"] == status
    return str(data["detail"])


# --- deployments -----------------------------------------------------------------------------------------

def test_create_list_get_and_delete_a_deployment(qseow_emulator: QseowEmulator) -> None:
    created = create(qseow_emulator)
    assert re.fullmatch(UUID, created["id"])
    assert created == {"id": created["id"], "name": "Tenant A", "audience": "qlik.api",
                       "serviceUrl": "https://tenant-a.example", "localBearerToken": True, "authenticationUrl": "",
                       "clientId": ""}
    second = create(qseow_emulator, "Tenant B", "https://tenant-b.example:8443")
    assert hds(qseow_emulator, "GET").json() == [created, second]
    assert hds(qseow_emulator, "GET", f"{DEPLOYMENTS}/{created['id']}").json() == created
    assert qseow_emulator.deployments == [created, second]

    deleted = hds(qseow_emulator, "DELETE", f"{DEPLOYMENTS}/{created['id']}")
    assert deleted.status == 204 and deleted.body == b""
    assert qseow_emulator.deployments == [second]
    refusal(hds(qseow_emulator, "GET", f"{DEPLOYMENTS}/{created['id']}"), 404)
    refusal(hds(qseow_emulator, "DELETE", f"{DEPLOYMENTS}/{created['id']}"), 404)


def test_no_xrfkey_is_needed_and_the_session_cookie_authenticates(qseow_emulator: QseowEmulator) -> None:
    first = hds(qseow_emulator, "GET", token=mint())
    assert first.status == 200 and first.json() == []
    cookie = first.headers["Set-Cookie"].split(";", 1)[0]
    assert cookie.startswith("X-Qlik-Session-jwt=")
    assert hds(qseow_emulator, "POST", cookie=cookie, body=new_body()).status == 201
    listed = hds(qseow_emulator, "GET", "/jwt/API/HDS/v1/deployments/", cookie=cookie)
    assert [deployment["name"] for deployment in listed.json()] == ["Tenant A"]
    assert "Set-Cookie" not in listed.headers
    assert qseow_emulator.xrfkeys == []
    assert len(qseow_emulator.sessions) == 1


def test_the_deployments_read_by_a_test_are_copies(qseow_emulator: QseowEmulator) -> None:
    create(qseow_emulator)
    qseow_emulator.deployments[0]["name"] = "changed"
    assert qseow_emulator.deployments[0]["name"] == "Tenant A"


@pytest.mark.parametrize(("body", "detail"), [
    ([new_body()], "JSON object"),
    (new_body(name=""), "name must be a non-empty string"),
    (new_body(name="   "), "name must be a non-empty string"),
    ({**new_body(), "name": 7}, "name must be a non-empty string"),
    ({k: v for k, v in new_body().items() if k != "name"}, "Missing field(s): name"),
    ({k: v for k, v in new_body().items() if k != "localBearerToken"}, "Missing field(s): localBearerToken"),
    ({**new_body(), "audience": "qlik.api/login/jwt-session"}, "audience must be qlik.api"),
    ({**new_body(), "audience": "QLIK.API"}, "audience must be qlik.api"),
    (new_body(service_url="http://tenant-a.example"), "serviceUrl"),
    (new_body(service_url="https://tenant-a.example/"), "serviceUrl"),
    (new_body(service_url="https://tenant-a.example/api"), "serviceUrl"),
    (new_body(service_url="https://tenant-a.example?x=1"), "serviceUrl"),
    (new_body(service_url="https://tenant-a.example#x"), "serviceUrl"),
    (new_body(service_url="https://user@tenant-a.example"), "serviceUrl"),
    (new_body(service_url="https://"), "serviceUrl"),
    (new_body(service_url="tenant-a.example"), "serviceUrl"),
    (new_body(service_url="https://tenant-a.example:0"), "serviceUrl"),
    (new_body(service_url="https://tenant-a.example:65536"), "serviceUrl"),
    (new_body(service_url="https://-tenant.example"), "serviceUrl"),
    (new_body(service_url=" https://tenant-a.example"), "serviceUrl"),
    ({**new_body(), "serviceUrl": None}, "serviceUrl"),
    ({**new_body(), "localBearerToken": False}, "localBearerToken must be true"),
    ({**new_body(), "localBearerToken": "true"}, "localBearerToken must be true"),
    ({**new_body(), "localBearerToken": 1}, "localBearerToken must be true"),
    (new_body(clientId="my-client"), "clientId must be empty"),
    (new_body(clientSecret="s3cret"), "clientSecret must be empty"),
    (new_body(id=None), "Unknown field(s): id"),
    (new_body(Name="x"), "Unknown field(s): Name"),
])
def test_an_invalid_deployment_is_refused(qseow_emulator: QseowEmulator, body: Any, detail: str) -> None:
    assert detail in refusal(hds(qseow_emulator, "POST", body=body), 400)
    assert qseow_emulator.deployments == []


def test_a_body_that_is_not_json_is_refused(qseow_emulator: QseowEmulator) -> None:
    assert "not valid JSON" in refusal(hds(qseow_emulator, "POST", body=b"{name"), 400)


def test_empty_oauth_fields_and_a_port_are_accepted(qseow_emulator: QseowEmulator) -> None:
    body = new_body(service_url="https://127.0.0.1:54321", authenticationUrl="", clientId="", clientSecret="")
    reply = hds(qseow_emulator, "POST", body=body)
    assert reply.status == 201
    assert "clientSecret" not in reply.json()
    assert reply.json()["serviceUrl"] == "https://127.0.0.1:54321"


@pytest.mark.parametrize("name", ["Tenant A", "tenant a", "TENANT A"])
def test_a_duplicate_name_is_a_409(qseow_emulator: QseowEmulator, name: str) -> None:
    create(qseow_emulator)
    detail = refusal(hds(qseow_emulator, "POST", body=new_body(name, "https://other.example")), 409)
    assert "exists already" in detail
    assert len(qseow_emulator.deployments) == 1


@pytest.mark.parametrize(("method", "suffix"), [
    ("GET", ""), ("POST", ""), ("GET", "/{id}"), ("DELETE", "/{id}"), ("GET", "/{id}/elastictokenconfig"),
    ("GET", "/../nothing-here"),
])
def test_only_administrators_may_use_the_hds(qseow_emulator: QseowEmulator, method: str, suffix: str) -> None:
    deployment = qseow_emulator.add_deployment("Tenant A", "https://tenant-a.example")
    path = DEPLOYMENTS + suffix.replace("{id}", deployment["id"])
    reply = hds(qseow_emulator, method, path, token=mint("jane"), body=new_body("Tenant B"),
                params={"qcsFormat": "True"})
    assert "administrators" in refusal(reply, 403)
    assert qseow_emulator.deployments == [deployment]


def test_without_a_valid_token_the_proxy_answers_its_401_page(qseow_emulator: QseowEmulator) -> None:
    reply = send(qseow_emulator, "GET", DEPLOYMENTS)
    assert reply.status == 401 and reply.headers["Content-Type"].startswith("text/html")
    assert qseow_emulator.auth_failures == ["no token"]


def test_unknown_paths_and_methods_are_json_errors(qseow_emulator: QseowEmulator) -> None:
    refusal(hds(qseow_emulator, "GET", "/jwt/api/hds/v1/nothing"), 404)
    refusal(hds(qseow_emulator, "GET", "/jwt/api/hds"), 404)
    reply = hds(qseow_emulator, "PUT", DEPLOYMENTS, body=new_body())
    refusal(reply, 405)
    assert reply.headers["Allow"] == "GET, POST"


def test_add_deployment_validates_as_a_post_does(qseow_emulator: QseowEmulator) -> None:
    added = qseow_emulator.add_deployment("Tenant A", "https://tenant-a.example")
    assert hds(qseow_emulator, "GET").json() == [added]
    with pytest.raises(ValueError, match="exists already"):
        qseow_emulator.add_deployment("tenant A", "https://tenant-b.example")
    with pytest.raises(ValueError, match="serviceUrl"):
        qseow_emulator.add_deployment("Tenant B", "https://tenant-b.example/")


# --- the local bearer token ------------------------------------------------------------------------------

def test_the_token_in_qlik_cloud_format(qseow_emulator: QseowEmulator) -> None:
    deployment = create(qseow_emulator, service_url="https://tenant-a.eu.qlikcloud.com")
    reply = hds(qseow_emulator, "GET", f"{DEPLOYMENTS}/{deployment['id']}/elastictokenconfig",
                params={"qcsFormat": "True"})
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    assert reply.body.startswith(b'"') and reply.body.endswith(b'"')
    token = reply.json()
    assert PADDED_BASE64.fullmatch(token) and len(token) % 4 == 0
    site = qseow_emulator.site_id
    assert re.fullmatch(UUID, site)
    assert qseow_emulator.site_issuer == f"https://qlik.{site}"
    assert qseow_emulator.site_kid == f"qlik-{site}"
    assert ONE_LINE_PEM.fullmatch(qseow_emulator.site_public_pem)
    decoded = decode_bearer_token(token)
    assert list(decoded) == ["issuerConfig", "primary", "realm", "hostname", "staticKeys"]
    assert decoded == {"issuerConfig": {"issuer": f"https://qlik.{site}"}, "primary": False, "realm": "custom",
                       "hostname": "tenant-a.eu.qlikcloud.com",
                       "staticKeys": [{"kid": f"qlik-{site}", "pem": qseow_emulator.site_public_pem}]}
    # compact JSON, standard base64
    assert base64.b64decode(token) == json.dumps(decoded, separators=(",", ":")).encode()


def test_the_site_key_is_an_rsa_2048_public_key(qseow_emulator: QseowEmulator) -> None:
    one_line = qseow_emulator.site_public_pem
    body = one_line.removeprefix("-----BEGIN PUBLIC KEY-----").removesuffix("-----END PUBLIC KEY-----")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    pem = "\n".join(["-----BEGIN PUBLIC KEY-----", *lines, "-----END PUBLIC KEY-----", ""])
    key = load_pem_public_key(pem.encode())
    assert isinstance(key, RSAPublicKey) and key.key_size == 2048


def test_only_the_hostname_depends_on_the_deployment(qseow_emulator: QseowEmulator) -> None:
    first = decode_bearer_token(token_of(qseow_emulator, create(qseow_emulator)["id"]))
    second = decode_bearer_token(token_of(qseow_emulator, create(qseow_emulator, "B", "https://127.0.0.1:8443")["id"]))
    assert second["hostname"] == "127.0.0.1:8443"
    assert {**second, "hostname": first["hostname"]} == first


def test_another_emulator_is_another_site(qseow_emulator: QseowEmulator) -> None:
    with QseowEmulator(server=qseow_emulator.server) as other:
        assert other.site_id != qseow_emulator.site_id
        assert other.site_issuer != qseow_emulator.site_issuer and other.site_kid != qseow_emulator.site_kid


def test_the_token_as_plain_text(qseow_emulator: QseowEmulator) -> None:
    deployment = create(qseow_emulator)
    as_json = token_of(qseow_emulator, deployment["id"])
    qseow_emulator.set_bearer_token_format("text")
    reply = hds(qseow_emulator, "GET", f"{DEPLOYMENTS}/{deployment['id']}/elastictokenconfig",
                params={"qcsFormat": "True"})
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert reply.text == as_json
    qseow_emulator.set_bearer_token_format("json-string")
    assert token_of(qseow_emulator, deployment["id"]) == as_json


def test_an_unknown_token_format_is_a_value_error(qseow_emulator: QseowEmulator) -> None:
    with pytest.raises(ValueError, match="json-string, text"):
        qseow_emulator.set_bearer_token_format("base64")


@pytest.mark.parametrize("params", [{}, {"qcsFormat": "False"}, {"qcsFormat": ""}, {"qcsFormat": "1"},
                                    {"format": "qcs"}])
def test_the_token_needs_qcs_format(qseow_emulator: QseowEmulator, params: dict[str, str]) -> None:
    deployment = create(qseow_emulator)
    reply = hds(qseow_emulator, "GET", f"{DEPLOYMENTS}/{deployment['id']}/elastictokenconfig", params=params)
    assert "qcsFormat=True" in refusal(reply, 400)


@pytest.mark.parametrize("params", [{"qcsFormat": "true"}, {"QCSFORMAT": "TRUE"}])
def test_qcs_format_is_matched_in_any_case(qseow_emulator: QseowEmulator, params: dict[str, str]) -> None:
    deployment = create(qseow_emulator)
    reply = hds(qseow_emulator, "GET", f"{DEPLOYMENTS}/{deployment['id']}/elastictokenconfig", params=params)
    assert reply.status == 200


def test_the_token_of_an_unknown_deployment_is_a_404(qseow_emulator: QseowEmulator) -> None:
    reply = hds(qseow_emulator, "GET", f"{DEPLOYMENTS}/{uuid.uuid4()}/elastictokenconfig",
                params={"qcsFormat": "True"})
    refusal(reply, 404)


def test_decode_bearer_token_is_strict() -> None:
    assert decode_bearer_token(base64.b64encode(b'{"a":1}')) == {"a": 1}
    with pytest.raises(ValueError):
        decode_bearer_token("not base64!")
    with pytest.raises(ValueError):
        decode_bearer_token(base64.b64encode(b"[1]").decode())


# --- a server without the HDS ----------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path"), [
    ("GET", DEPLOYMENTS), ("POST", DEPLOYMENTS), ("GET", f"{DEPLOYMENTS}/{{id}}"),
    ("GET", f"{DEPLOYMENTS}/{{id}}/elastictokenconfig"), ("DELETE", f"{DEPLOYMENTS}/{{id}}"), ("GET", "/jwt/api/hds"),
])
def test_disable_hds_makes_every_hds_path_the_proxys_404_page(qseow_emulator: QseowEmulator, method: str,
                                                              path: str) -> None:
    deployment = qseow_emulator.add_deployment("Tenant A", "https://tenant-a.example")
    qseow_emulator.disable_hds()
    reply = hds(qseow_emulator, method, path.replace("{id}", deployment["id"]), body=new_body("Tenant B"),
                params={"qcsFormat": "True"})
    assert reply.status == 404
    assert reply.headers["Content-Type"].startswith("text/html")
    assert reply.text.startswith("<html><head><title>404 - Not Found</title></head><body>")
    assert qseow_emulator.deployments == [deployment]


def test_disable_hds_leaves_the_qrs_alone(qseow_emulator: QseowEmulator) -> None:
    qseow_emulator.disable_hds()
    key = "abcdefghij123456"
    reply = send(qseow_emulator, "GET", f"/jwt/qrs/about?xrfkey={key}",
                 headers={"Authorization": f"Bearer {mint()}", "X-Qlik-Xrfkey": key})
    assert reply.status == 200


# --- servers with a CA each ------------------------------------------------------------------------------

def get(cafile: Path, server: EmulatorServer, path: str, headers: Mapping[str, str] | None = None) -> int:
    """The status of ``GET path`` on ``server`` by a client that trusts only ``cafile``."""
    context = ssl.create_default_context(cafile=str(cafile))
    connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=5)
    try:
        connection.request("GET", path, headers=dict(headers or {}))
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def me(tenant: QscloudEmulator, api_key: str, cafile: Path) -> int:
    return get(cafile, tenant.server, "/api/v1/users/me", {"Authorization": f"Bearer {api_key}"})


def test_three_tenants_each_with_its_own_server_ca_and_api_key(qscloud_tenants: list[QscloudEmulator]) -> None:
    assert len(qscloud_tenants) == 3
    assert len({tenant.url for tenant in qscloud_tenants}) == 3
    assert len({tenant.tenant_id for tenant in qscloud_tenants}) == 3
    cas = {tenant.server.ca_cert_pem for tenant in qscloud_tenants}
    assert len(cas) == 3 and shared_ca().cert_pem not in cas
    for tenant, api_key in zip(qscloud_tenants, QSCLOUD_TENANT_API_KEYS, strict=True):
        assert tenant.identity_providers == []
        assert me(tenant, api_key, tenant.ca_cert_path) == 200
    assert QSCLOUD_TENANT_API_KEYS == ("tenant1-admin-api-key", "tenant2-admin-api-key", "tenant3-admin-api-key")
    second = qscloud_tenants[1]
    assert me(second, QSCLOUD_TENANT_API_KEYS[0], second.ca_cert_path) == 401  # tenant 1's key, on tenant 2


def test_a_client_trusting_one_tenants_ca_fails_tls_to_another(qscloud_tenants: list[QscloudEmulator],
                                                               qseow_emulator: QseowEmulator) -> None:
    first, second, _third = qscloud_tenants
    with pytest.raises(ssl.SSLCertVerificationError):
        me(second, QSCLOUD_TENANT_API_KEYS[1], first.ca_cert_path)
    with pytest.raises(ssl.SSLCertVerificationError):  # nor does the shared test CA trust it
        me(second, QSCLOUD_TENANT_API_KEYS[1], qseow_emulator.ca_cert_path)
    with pytest.raises(ssl.SSLCertVerificationError):
        get(first.ca_cert_path, qseow_emulator.server, "/jwt/hub")


def test_one_bundle_trusts_every_server(qscloud_tenants: list[QscloudEmulator],
                                        qseow_emulator_own_ca: QseowEmulator, tmp_path: Path) -> None:
    qseow = qseow_emulator_own_ca
    assert qseow.server.ca_cert_pem not in {tenant.server.ca_cert_pem for tenant in qscloud_tenants}
    assert qseow.server.ca_cert_pem != shared_ca().cert_pem
    bundle = write_ca_bundle(tmp_path / "bundle.pem", qseow, *qscloud_tenants)
    assert bundle.read_text().count("-----BEGIN CERTIFICATE-----") == 4
    for tenant, api_key in zip(qscloud_tenants, QSCLOUD_TENANT_API_KEYS, strict=True):
        assert me(tenant, api_key, bundle) == 200
    assert get(bundle, qseow.server, DEPLOYMENTS, {"Authorization": f"Bearer {mint()}"}) == 200
    without_qseow = write_ca_bundle(tmp_path / "tenants.pem", *qscloud_tenants)
    with pytest.raises(ssl.SSLCertVerificationError):
        get(without_qseow, qseow.server, "/jwt/hub")


def test_write_ca_bundle_takes_each_ca_once(qscloud_tenants: list[QscloudEmulator], tmp_path: Path) -> None:
    first = qscloud_tenants[0]
    bundle = write_ca_bundle(tmp_path / "bundle.pem", first, first.server, first.ca_cert_path,
                             first.server.ca_cert_pem)
    assert bundle.read_bytes() == first.server.ca_cert_pem.rstrip(b"\n") + b"\n"
    with pytest.raises(ValueError, match="no PEM certificate"):
        write_ca_bundle(tmp_path / "bad.pem", b"not a certificate")


def test_an_emulator_with_a_server_and_ca_of_its_own() -> None:
    with QseowEmulator(own_ca=True) as emu:
        emu.add_virtual_proxy("jwt", cert_pem=key_bytes("rsa2048_cert.pem"), audience="qlik")
        assert emu.server.ca_cert_pem != shared_ca().cert_pem
        assert emu.ca_cert_path.read_bytes() == emu.server.ca_cert_pem
        assert get(emu.ca_cert_path, emu.server, "/jwt/hub", {"Authorization": f"Bearer {mint()}"}) == 200


# --- the whole multi-cloud set-up, as the tool under test will drive it ----------------------------------

def test_a_deployment_per_tenant_and_its_token_as_a_multi_cloud_idp(
        qscloud_tenants: list[QscloudEmulator], qseow_emulator_own_ca: QseowEmulator) -> None:
    qseow = qseow_emulator_own_ca
    for number, (tenant, api_key) in enumerate(zip(qscloud_tenants, QSCLOUD_TENANT_API_KEYS, strict=True), 1):
        deployment = create(qseow, f"Tenant {number}", tenant.url)
        token = token_of(qseow, deployment["id"])
        assert decode_bearer_token(token)["hostname"] == tenant.url.removeprefix("https://")
        body = {"provider": "qlik", "protocol": "qsefw-local-bearer-token", "interactive": False,
                "description": "QSEoW emulator", "base64Encoded": token, "tenantIds": [tenant.tenant_id]}
        reply = send(tenant, "POST", "/api/v1/identity-providers", headers={"Authorization": f"Bearer {api_key}"},
                     body=body)
        assert reply.status == 201, reply.text
        (idp,) = tenant.identity_providers
        assert idp["base64Encoded"] == token
    assert [d["serviceUrl"] for d in qseow.deployments] == [tenant.url for tenant in qscloud_tenants]
