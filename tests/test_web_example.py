"""The README's token endpoint (a Flask backend) runs as printed, against the emulated Qlik Cloud tenant: a token
from ``/qlik/jwt`` logs in, and an access token from ``/qlik/access-token`` calls an API as the user."""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path
from types import ModuleType

import pytest

import qs_jwt
from conftest import ROOT, key_bytes, key_path
from qlik_emulator.client import send

flask = pytest.importorskip("flask", reason="flask is a test dependency: pip install -e '.[test]'")

README = (ROOT / "README.md").read_text(encoding="utf-8")
ACCOUNT = {"id": "alice-42", "email": "alice@example.com", "name": "Alice Smith", "groups": ["Sales"]}


def _example() -> str:
    blocks = [block for block in re.findall(r"```python\n(.*?)```", README, flags=re.S) if "flask.Flask" in block]
    assert len(blocks) == 1, "the README has one Flask example"
    return blocks[0]


@pytest.fixture
def backend(qscloud_emulator, tmp_path, monkeypatch) -> ModuleType:
    """The example as a module, in a folder with its key, pointed at the emulated tenant."""
    shutil.copy(key_path("rsa2048_pkcs8.pem"), tmp_path / "privatekey.pem")
    # the README's kid is the one its own steps configure: the emulated tenant gets an identity provider for it
    qscloud_emulator.add_jwt_idp("my-app", "my-key", key_bytes("rsa2048_cert.pem"))
    public = qs_jwt.load_public_key(key_bytes("rsa2048_cert.pem"))
    client = qscloud_emulator.add_oauth_client(
        "backend", jwk=qs_jwt.public_jwk(public, kid="my-oauth-key"), scopes=("user_default",),
        allowed_grant_types=("client_credentials", "urn:qlik:oauth:user-impersonation"))
    qscloud_emulator.add_user(ACCOUNT["id"], email=ACCOUNT["email"])
    monkeypatch.chdir(tmp_path)
    for name, value in {"QLIK_TENANT": qscloud_emulator.url, "QLIK_CA_CERT": str(qscloud_emulator.ca_cert_path),
                        "QLIK_OAUTH_CLIENT_ID": client["clientId"], "FLASK_SECRET_KEY": "test-secret"}.items():
        monkeypatch.setenv(name, value)
    module = ModuleType("readme_backend")
    exec(compile(_example(), "README.md (Flask example)", "exec"), module.__dict__)  # noqa: S102 - our own README
    return module


def _logged_in(app):  # type: ignore[no-untyped-def]
    client = app.test_client()
    with client.session_transaction() as session:
        session["account"] = ACCOUNT
    return client


def test_the_jwt_endpoint_mints_a_token_that_logs_in(backend, qscloud_emulator) -> None:
    answer = _logged_in(backend.app).post("/qlik/jwt")
    assert answer.status_code == 200
    token = answer.get_json()["token"]
    payload = qs_jwt.decode_unverified(token).payload
    assert payload["sub"] == ACCOUNT["id"] and payload["email_verified"] is True and payload["groups"] == ["Sales"]
    assert payload["exp"] - payload["iat"] == 60
    reply = send(qscloud_emulator, "POST", "/login/jwt-session", headers={"Authorization": f"Bearer {token}"})
    assert reply.status == 200, reply.body
    assert any(user["subject"] == ACCOUNT["id"] and user.get("email") == ACCOUNT["email"]
               for user in qscloud_emulator.users)


def test_each_call_mints_a_new_token(backend) -> None:
    client = _logged_in(backend.app)
    tokens = {client.post("/qlik/jwt").get_json()["token"] for _ in range(5)}
    jtis = {qs_jwt.decode_unverified(token).payload["jti"] for token in tokens}
    assert len(tokens) == len(jtis) == 5


def test_no_login_no_token(backend) -> None:
    assert backend.app.test_client().post("/qlik/jwt").status_code == 401
    assert backend.app.test_client().post("/qlik/access-token").status_code == 401


def test_the_access_token_endpoint_impersonates_the_user(backend, qscloud_emulator) -> None:
    client = _logged_in(backend.app)
    first = client.post("/qlik/access-token")
    assert first.status_code == 200, first.get_data(as_text=True)
    access = first.get_json()["access_token"]
    reply = send(qscloud_emulator, "GET", "/api/v1/users/me", headers={"Authorization": f"Bearer {access}"})
    assert reply.status == 200 and reply.json()["subject"] == ACCOUNT["id"]
    issued = len(qscloud_emulator.oauth_tokens_issued)
    assert client.post("/qlik/access-token").get_json()["access_token"] == access  # cached, not fetched again
    assert len(qscloud_emulator.oauth_tokens_issued) == issued


def test_the_endpoints_serve_many_threads(backend, qscloud_emulator) -> None:
    """One factory and one cached credential serve concurrent requests (a threaded WSGI server)."""
    tokens: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            client = _logged_in(backend.app)
            for _ in range(5):
                token = client.post("/qlik/jwt").get_json()["token"]
                access = client.post("/qlik/access-token").get_json()["access_token"]
                with lock:
                    tokens.append(token)
                    tokens.append(access)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    jwts = [t for t in tokens if t.count(".") == 2]
    assert len(set(jwts)) == 40
    assert len(qscloud_emulator.oauth_tokens_issued) == 1  # one user: one token request, whatever the threads


def test_the_example_is_the_readme_text() -> None:
    text = _example()
    assert "QsCloudTokenFactory" in text and "OAuthCredentials" in text and "@app.post" in text
    assert Path(ROOT / "README.md").read_text(encoding="utf-8").count("flask.Flask") == 1
