"""``qs-jwt qscloud ...`` end to end against the Qlik Cloud emulator (a real HTTPS server on 127.0.0.1): login,
call, identity providers (create, list, get, delete, check), multi-cloud bearer tokens, and the HTTP behaviour
(retries, timeouts, error pages, TLS options, debug logging without secrets).

Exit codes: 0 ok, 1 error, 2 usage, 3 check failed, 4 Qlik API error; results alone on stdout, messages on stderr.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import stat
import textwrap
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key, pkcs12

import qs_jwt
from conftest import key_bytes, key_path
from qlik_emulator.fixtures import QSCLOUD_ADMIN, QSCLOUD_API_KEY, QSCLOUD_ISSUER, QSCLOUD_KID

KEY = key_path("rsa2048_pkcs8.pem")
PEM = key_bytes("rsa2048_pkcs8.pem")
CERT = key_path("rsa2048_cert.pem")
CERT_PEM = key_bytes("rsa2048_cert.pem")
OTHER_KEY = key_path("other2048_pkcs8.pem")
OTHER_PUBLIC = key_path("other2048_public.pem")
OTHER_PUBLIC_PEM = key_bytes("other2048_public.pem")
AUDIENCE = "qlik.api/login/jwt-session"
ASSIGN = "/api/v1/licenses/assignments/actions/add"
IDPS = "/api/v1/identity-providers"
#: the RFC 7638 thumbprint of the test key (the default kid of qscloud idp create)
THUMBPRINT = qs_jwt.jwk_thumbprint(load_pem_public_key(key_bytes("rsa2048_public.pem")))  # type: ignore[arg-type]
OTHER_THUMBPRINT = qs_jwt.jwk_thumbprint(load_pem_public_key(OTHER_PUBLIC_PEM))  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_api_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A QLIK_API_KEY of the machine must never take part (conftest clears it too; this file depends on it)."""
    monkeypatch.delenv("QLIK_API_KEY", raising=False)


@pytest.fixture
def cli(run_cli):  # type: ignore[no-untyped-def]
    """``run_cli`` that also asserts that no traceback reaches stderr, whatever the outcome."""
    def run(*args: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        result = run_cli(*args, **kwargs)
        assert "Traceback" not in result.stderr, result.stderr
        assert "Traceback" not in result.stdout, result.stdout
        # messages alone on stderr, one line each, each naming the tool
        assert all(line.startswith("qs-jwt") for line in result.stderr.splitlines()), result.stderr
        return result

    return run


@pytest.fixture
def api_key_file(tmp_path) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / "api-key.txt"
    path.write_text(QSCLOUD_API_KEY + "\n")
    path.chmod(0o600)
    return str(path)


def conn(emu, *, timeout: str = "5") -> list[str]:  # type: ignore[no-untyped-def]
    return ["--tenant", emu.url, "--ca-cert", str(emu.ca_cert_path), "--timeout", timeout]


def minting(sub: str = "alice", *, issuer: str = QSCLOUD_ISSUER, keyid: str = QSCLOUD_KID, key: str = KEY) -> list[str]:
    """The create-qscloud options that make qs-jwt mint the user's token itself (a fresh jti each run)."""
    return ["--issuer", issuer, "--keyid", keyid, "--sub", sub, "--cert-privatekey-file", key]


def user_token(sub: str = "alice", **overrides: Any) -> str:
    """A token made by the library (the same code the CLI mints with)."""
    fields = {"issuer": QSCLOUD_ISSUER, "keyid": QSCLOUD_KID, "sub": sub, "expires": "5m"} | overrides
    return qs_jwt.create_qscloud_token(PEM, **fields).token


def crafted_token(drop: tuple[str, ...] = (), **changes: Any) -> str:
    """A token made with PyJWT alone: what create-qscloud would never make (another aud, no nbf, ...)."""
    now = int(time.time())
    claims = {"iss": QSCLOUD_ISSUER, "aud": AUDIENCE, "sub": "alice", "subType": "user", "name": "alice",
              "jti": str(uuid.uuid4()), "iat": now, "nbf": now, "exp": now + 300, **changes}
    for name in drop:
        del claims[name]
    return jwt.encode(claims, PEM, algorithm="RS256", headers={"kid": QSCLOUD_KID})


def requests_to(emu, path: str, method: str | None = None) -> list:  # type: ignore[no-untyped-def]
    return [r for r in emu.requests if r.path == path and (method is None or r.method == method)]


def one_line_pem(data: bytes) -> str:
    return "".join(data.decode().splitlines())


# --- qscloud login ------------------------------------------------------------------------------------------


def test_login_with_jwt_prints_the_user(cli, qscloud_emulator) -> None:
    result = cli("qscloud", "login", *conn(qscloud_emulator), "--jwt", user_token("alice"))
    assert result.exit_code == 0, result.stderr
    user = json.loads(result.stdout)
    assert user["subject"] == "alice" and user["tenantId"] == qscloud_emulator.tenant_id
    assert [u["subject"] for u in qscloud_emulator.users if u["subject"] == "alice"] == ["alice"]


def test_login_with_jwt_file(cli, qscloud_emulator, tmp_path) -> None:
    token_file = tmp_path / "token.txt"
    token_file.write_text(user_token("bob") + "\n")
    result = cli("qscloud", "login", *conn(qscloud_emulator), "--jwt-file", str(token_file))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["subject"] == "bob"


def test_login_with_jwt_file_from_stdin(cli, qscloud_emulator) -> None:
    result = cli("qscloud", "login", *conn(qscloud_emulator), "--jwt-file", "-", stdin=user_token("carol") + "\n")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["subject"] == "carol"


def test_login_mints_a_fresh_token_each_time(cli, qscloud_emulator) -> None:
    for _ in range(2):
        result = cli("qscloud", "login", *conn(qscloud_emulator), *minting("dave"))
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["subject"] == "dave"
        assert result.stdout.lstrip().startswith("{")  # the user alone on stdout
    jtis = qscloud_emulator.used_jtis
    assert len(jtis) == 2 and jtis[0] != jtis[1]


def test_login_session_file_then_calls_with_it(cli, qscloud_emulator, tmp_path) -> None:
    session = tmp_path / "session.json"
    login = cli("qscloud", "login", *conn(qscloud_emulator), *minting(QSCLOUD_ADMIN), "--session-file", str(session))
    assert login.exit_code == 0, login.stderr
    assert json.loads(login.stdout)["subject"] == QSCLOUD_ADMIN
    if os.name == "posix":
        assert stat.S_IMODE(session.stat().st_mode) == 0o600
    saved = json.loads(session.read_text())
    cookies = {c["name"]: c["value"] for c in saved["cookies"]}
    assert {"eas.sid", "eas.sid.sig", "_csrfToken", "_csrfToken.sig"} <= set(cookies)
    assert saved["csrfToken"] and saved["csrfToken"] == cookies["_csrfToken"]

    # a POST with the session carries the CSRF token
    body = json.dumps({"add": [{"subject": QSCLOUD_ADMIN, "type": "analyzer"}]})
    post = cli("qscloud", "call", "POST", ASSIGN, *conn(qscloud_emulator), "--session-file", str(session),
               "--data", body)
    assert post.exit_code == 0, post.stderr
    assert qscloud_emulator.license_assignments == {QSCLOUD_ADMIN: "analyzer"}
    sent = requests_to(qscloud_emulator, ASSIGN, "POST")[-1]
    assert sent.headers["qlik-csrf-token"] == saved["csrfToken"]
    assert "authorization" not in sent.headers and "eas.sid=" in sent.headers["cookie"]

    # a GET with the session needs no CSRF token
    get = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--session-file", str(session))
    assert get.exit_code == 0, get.stderr
    assert json.loads(get.stdout)["subject"] == QSCLOUD_ADMIN
    me = requests_to(qscloud_emulator, "/api/v1/users/me", "GET")[-1]
    assert "qlik-csrf-token" not in me.headers and "eas.sid=" in me.headers["cookie"]


@pytest.mark.parametrize("form", [
    pytest.param(lambda url: url.removeprefix("https://"), id="bare-host"),
    pytest.param(lambda url: url.removeprefix("https://") + "/", id="bare-host-slash"),
    pytest.param(lambda url: url + "/", id="url-slash"),
    pytest.param(lambda url: url.replace("https://", "HTTPS://"), id="upper-case-scheme"),
])
def test_login_tenant_forms(cli, qscloud_emulator, tmp_path, form) -> None:
    tenant = form(qscloud_emulator.url)
    session = tmp_path / "session.json"
    result = cli("qscloud", "login", "--tenant", tenant, "--ca-cert", str(qscloud_emulator.ca_cert_path), "--timeout",
                 "5", *minting(), "--session-file", str(session))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["subject"] == "alice"
    assert json.loads(session.read_text())["tenant"] == qscloud_emulator.url  # https assumed, normalised
    # the session serves the tenant in its usual form
    call = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--session-file", str(session))
    assert call.exit_code == 0, call.stderr


def test_login_over_http_to_a_remote_host_is_a_usage_error(cli) -> None:
    result = cli("qscloud", "login", "--tenant", "http://example.com", "--jwt", user_token(), "--timeout", "5")
    assert result.exit_code == 2
    assert "--tenant" in result.stderr and "https" in result.stderr
    assert result.stdout == ""


def test_login_session_file_in_a_missing_folder_is_refused_before_the_token_is_used(cli, qscloud_emulator,
                                                                                      tmp_path) -> None:
    result = cli("qscloud", "login", *conn(qscloud_emulator), *minting(), "--session-file",
                 str(tmp_path / "missing" / "session.json"))
    assert result.exit_code == 2 and "--session-file" in result.stderr
    assert qscloud_emulator.used_jtis == []


def test_login_passes_the_minting_options_into_the_token(cli, qscloud_emulator) -> None:
    result = cli("qscloud", "login", *conn(qscloud_emulator), *minting("alice"), "--useremail", "alice@example.com",
                 "--useremail-verified", "true", "--username", "Alice A", "--groups", "Sales", "Admins")
    assert result.exit_code == 0, result.stderr
    user = json.loads(result.stdout)
    assert user["email"] == "alice@example.com" and user["name"] == "Alice A"
    assert [group["name"] for group in user["assignedGroups"]] == ["Sales", "Admins"]


def test_login_replaces_a_session_file_with_a_private_one(cli, qscloud_emulator, tmp_path) -> None:
    session = tmp_path / "session.json"
    session.write_text("an older file")
    session.chmod(0o644)
    result = cli("qscloud", "login", *conn(qscloud_emulator), *minting(), "--session-file", str(session))
    assert result.exit_code == 0, result.stderr
    assert json.loads(session.read_text())["user"]["subject"] == "alice"
    if os.name == "posix":
        assert stat.S_IMODE(session.stat().st_mode) == 0o600


def test_a_refused_login_writes_no_session_file(cli, qscloud_emulator, tmp_path) -> None:
    session = tmp_path / "session.json"
    result = cli("qscloud", "login", *conn(qscloud_emulator), *minting(keyid="key-2"), "--session-file", str(session))
    assert result.exit_code == 4
    assert not session.exists()


def test_login_expires_over_an_hour_is_refused_without_a_false_hint(cli, qscloud_emulator) -> None:
    """Refused before any request; and any option the message suggests must exist in qscloud login."""
    result = cli("qscloud", "login", *conn(qscloud_emulator), *minting(), "--expires", "2h")
    assert result.exit_code == 2
    assert "--expires" in result.stderr and qscloud_emulator.requests == []
    options = cli("qscloud", "login", "--help").stdout
    suggested = set(re.findall(r"--[a-z][a-z-]+", result.stderr))
    assert {option for option in suggested if option not in options} == set(), result.stderr


@pytest.mark.parametrize(("argv", "words"), [
    pytest.param(["qscloud"], "choose a subcommand", id="qscloud"),
    pytest.param(["qscloud", "idp"], "choose a subcommand", id="idp"),
    pytest.param(["qscloud", "multicloud"], "choose a subcommand", id="multicloud"),
    pytest.param(["qscloud", "call", "GET", "/api/v1/users/me", "--tenant", "https://x.example.com", "--timeout", "0",
                  "--api-key", "k"], "--timeout", id="timeout-zero"),
    pytest.param(["qscloud", "idp", "create", "--issuer", "x", "--cert-file", CERT, "--clock-tolerance", "9999",
                  "--dry-run"], "--clock-tolerance", id="clock-tolerance-too-big"),
    pytest.param(["qscloud", "idp", "create", "--issuer", "x", "--dry-run"], "--cert-file", id="no-certificate"),
    pytest.param(["qscloud", "call", "GET", "/api/v1/users/me", "--tenant", "https://x.example.com", "--insecure",
                  "--ca-cert", CERT, "--api-key", "k"], "--insecure", id="insecure-and-ca-cert"),
])
def test_qscloud_usage_errors(cli, argv, words) -> None:
    result = cli(*argv)
    assert result.exit_code == 2, result.stderr
    assert words in result.stderr and result.stdout == ""


def test_an_unknown_option_names_the_subcommand_and_the_closest_option(cli) -> None:
    result = cli("qscloud", "idp", "list", "--tenant", "https://x.example.com", "--api-key", "k", "--protocl",
                 "jwtAuth")
    assert result.exit_code == 2
    assert "--protocl" in result.stderr
    assert "did you mean --protocol?" in result.stderr, result.stderr
    assert "qs-jwt qscloud idp list --help" in result.stderr, result.stderr


# --- refused logins, explained --------------------------------------------------------------------------------


REFUSALS = [
    # (the token, why the emulator refused it, Qlik's words, the likely cause, the local check's finding or None)
    pytest.param(lambda: user_token(keyid="key-2"), "kid unknown", "No key with the kid key-2", "kid", None,
                 id="wrong-kid"),
    pytest.param(lambda: user_token(issuer="not-my-app"), "issuer unknown", "has the issuer not-my-app", "issuer",
                 None, id="unknown-issuer"),
    pytest.param(lambda: user_token(now=1_700_000_000), "expired", "expired", "expired", "ERROR: exp",
                 id="expired"),
    pytest.param(lambda: user_token(now=time.time() + 7200, expires="30m"), "not yet valid",
                 "not valid yet", "not valid yet", "nbf", id="not-yet-valid"),
    pytest.param(lambda: crafted_token(aud="qlik.api/other"), "audience mismatch", "Invalid audience", "aud",
                 "ERROR: aud", id="wrong-audience"),
    pytest.param(lambda: user_token(expires="2h", allow_long_lifetime=True), "lifetime over 3600",
                 "must not exceed 3600", "one hour", "ERROR: lifetime", id="lifetime-over-an-hour"),
    pytest.param(lambda: crafted_token(drop=("nbf",)), "claim nbf missing", "Missing required claim: nbf", "nbf",
                 "ERROR: nbf", id="missing-nbf"),
]


@pytest.mark.parametrize(("make", "reason", "detail", "cause", "finding"), REFUSALS)
def test_a_refused_login_is_explained(cli, qscloud_emulator, make, reason, detail, cause, finding) -> None:
    token = make()
    result = cli("qscloud", "login", *conn(qscloud_emulator), "--jwt", token)
    assert result.exit_code == 4, result.stderr
    assert result.stdout == ""
    assert any(reason in failure for failure in qscloud_emulator.auth_failures), qscloud_emulator.auth_failures
    lines = result.stderr.splitlines()
    error = next(line for line in lines if "error:" in line)
    assert "/login/jwt-session" in error and detail in error
    assert re.search(r"LOGIN-1|INTERNAL-TOKEN-1", error)  # Qlik's code
    likely = [line for line in lines if "likely cause:" in line]
    assert len(likely) == 1 and cause in likely[0], result.stderr
    local = [number for number, line in enumerate(lines) if "what qs-jwt check --target qscloud finds" in line]
    if finding is None:
        assert local == [], result.stderr
    else:
        assert len(local) == 1 and any(finding in line for line in lines[local[0] + 1:]), result.stderr
    assert token not in result.stderr and token.split(".")[1] not in result.stderr


def test_a_replayed_token_is_explained(cli, qscloud_emulator) -> None:
    token = user_token()
    first = cli("qscloud", "login", *conn(qscloud_emulator), "--jwt", token)
    assert first.exit_code == 0, first.stderr
    again = cli("qscloud", "login", *conn(qscloud_emulator), "--jwt", token)
    assert again.exit_code == 4
    assert "jti replayed" in qscloud_emulator.auth_failures
    assert "LOGIN-1" in again.stderr and "has been used before" in again.stderr
    likely = [line for line in again.stderr.splitlines() if "likely cause:" in line]
    assert len(likely) == 1 and "used before" in likely[0]
    assert "what qs-jwt check --target qscloud finds" not in again.stderr  # nothing locally wrong with it
    assert token not in again.stderr


def test_a_refused_login_shows_qlik_trace_id(cli, qscloud_emulator) -> None:
    """README: a refused login shows Qlik's answer "(status, code, title, detail, trace id)". Qlik's trace ids
    are 32 hex digits, as the emulator's are."""
    result = cli("qscloud", "login", *conn(qscloud_emulator), "--jwt", user_token(keyid="key-2"))
    assert result.exit_code == 4
    assert re.search(r"^qs-jwt: Qlik's trace id: [0-9a-f]{32}$", result.stderr, re.MULTILINE), result.stderr
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    answer = {"errors": [{"code": "LOGIN-1", "title": "Authentication failed", "detail": "refused", "status": "401"}],
              "traceId": trace}
    qscloud_emulator.fail_next("/login/jwt-session", 401, body=json.dumps(answer), content_type="application/json")
    result = cli("qscloud", "login", *conn(qscloud_emulator), *minting())
    assert result.exit_code == 4
    assert f"qs-jwt: Qlik's trace id: {trace}\n" in result.stderr, result.stderr


def test_a_login_answer_without_session_cookies_exits_4(cli, qscloud_emulator) -> None:
    qscloud_emulator.fail_next("/login/jwt-session", 200, body="{}", content_type="application/json")
    result = cli("qscloud", "login", *conn(qscloud_emulator), *minting())
    assert result.exit_code == 4
    assert "no session cookie" in result.stderr and result.stdout == ""


def test_login_sends_the_web_integration_id(cli, qscloud_emulator) -> None:
    result = cli("qscloud", "login", *conn(qscloud_emulator), *minting(), "--web-integration-id", "web-int-1")
    assert result.exit_code == 0, result.stderr
    assert {r.headers.get("qlik-web-integration-id") for r in qscloud_emulator.requests} == {"web-int-1"}


# --- qscloud call ---------------------------------------------------------------------------------------------


def test_call_with_api_key_file(cli, qscloud_emulator, api_key_file) -> None:
    result = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--api-key-file", api_key_file)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["subject"] == QSCLOUD_ADMIN
    assert result.stderr == ""
    assert requests_to(qscloud_emulator, "/api/v1/users/me")[-1].headers["authorization"] == f"Bearer {QSCLOUD_API_KEY}"


def test_call_with_api_key_file_from_stdin(cli, qscloud_emulator) -> None:
    result = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--api-key-file", "-",
                 stdin=QSCLOUD_API_KEY + "\n")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["subject"] == QSCLOUD_ADMIN


def test_call_with_api_key_from_the_environment(cli, qscloud_emulator, monkeypatch) -> None:
    monkeypatch.setenv("QLIK_API_KEY", QSCLOUD_API_KEY)
    result = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["subject"] == QSCLOUD_ADMIN
    assert "warning" not in result.stderr


def test_call_with_api_key_on_the_command_line_warns(cli, qscloud_emulator) -> None:
    result = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--api-key", QSCLOUD_API_KEY)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["subject"] == QSCLOUD_ADMIN
    assert "warning" in result.stderr and "--api-key" in result.stderr
    assert QSCLOUD_API_KEY not in result.stderr


def test_call_with_jwt_logs_in_first(cli, qscloud_emulator) -> None:
    token = user_token("erin")
    result = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--jwt", token)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["subject"] == "erin"
    paths = [r.path for r in qscloud_emulator.requests]
    assert paths[0] == "/login/jwt-session" and paths[-1] == "/api/v1/users/me"
    assert len(qscloud_emulator.used_jtis) == 1


def test_call_with_a_refused_jwt_is_explained(cli, qscloud_emulator) -> None:
    result = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--jwt",
                 user_token(issuer="not-my-app"))
    assert result.exit_code == 4 and result.stdout == ""
    assert "likely cause:" in result.stderr and "issuer" in result.stderr
    assert not requests_to(qscloud_emulator, "/api/v1/users/me")


def test_call_with_jwt_and_session_file_saves_the_session(cli, qscloud_emulator, tmp_path) -> None:
    session = tmp_path / "session.json"
    first = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--jwt", user_token("heidi"),
                "--session-file", str(session))
    assert first.exit_code == 0, first.stderr
    again = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--session-file", str(session))
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["subject"] == "heidi"
    assert len(qscloud_emulator.used_jtis) == 1  # the second call logged in no more


def test_call_delete_with_no_content(cli, qscloud_emulator, api_key_file) -> None:
    [idp] = qscloud_emulator.identity_providers
    result = cli("qscloud", "call", "DELETE", f"{IDPS}/{idp['id']}", *conn(qscloud_emulator), "--api-key-file",
                 api_key_file)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and qscloud_emulator.identity_providers == []


def test_call_with_minted_jwt_posts_with_csrf(cli, qscloud_emulator) -> None:
    body = json.dumps({"add": [{"subject": QSCLOUD_ADMIN, "type": "professional"}]})
    result = cli("qscloud", "call", "POST", ASSIGN, *conn(qscloud_emulator), *minting(QSCLOUD_ADMIN), "--data", body)
    assert result.exit_code == 0, result.stderr
    assert qscloud_emulator.license_assignments == {QSCLOUD_ADMIN: "professional"}
    assert "qlik-csrf-token" in requests_to(qscloud_emulator, ASSIGN, "POST")[-1].headers


def test_seed_assigns_a_licence_to_a_logged_in_user(cli, qscloud_emulator, api_key_file) -> None:
    login = cli("qscloud", "login", *conn(qscloud_emulator), *minting("alice"))
    assert login.exit_code == 0, login.stderr
    body = json.dumps({"add": [{"subject": "alice", "type": "analyzer"}]})
    result = cli("qscloud", "call", "POST", ASSIGN, *conn(qscloud_emulator), "--api-key-file", api_key_file,
                 "--data", body)
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["data"][0]["subject"] == "alice" and answer["data"][0]["status"] == 201
    assert qscloud_emulator.license_assignments == {"alice": "analyzer"}


def test_call_data_from_a_file(cli, qscloud_emulator, api_key_file, tmp_path) -> None:
    data = tmp_path / "body.json"
    data.write_text(json.dumps({"add": [{"subject": QSCLOUD_ADMIN, "type": "analyzer"}]}))
    result = cli("qscloud", "call", "POST", ASSIGN, *conn(qscloud_emulator), "--api-key-file", api_key_file,
                 "--data", f"@{data}")
    assert result.exit_code == 0, result.stderr
    assert qscloud_emulator.license_assignments == {QSCLOUD_ADMIN: "analyzer"}


def test_call_data_from_stdin(cli, qscloud_emulator, api_key_file) -> None:
    result = cli("qscloud", "call", "POST", ASSIGN, *conn(qscloud_emulator), "--api-key-file", api_key_file,
                 "--data", "@-", stdin=json.dumps({"add": [{"subject": QSCLOUD_ADMIN, "type": "analyzer"}]}))
    assert result.exit_code == 0, result.stderr
    assert qscloud_emulator.license_assignments == {QSCLOUD_ADMIN: "analyzer"}


def test_call_query_and_header(cli, qscloud_emulator, api_key_file) -> None:
    result = cli("qscloud", "call", "GET", IDPS, *conn(qscloud_emulator), "--api-key-file", api_key_file,
                 "--query", "limit=1", "--query", "protocol=jwtAuth", "--header", "X-Test-Header: hello there")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert len(answer["data"]) == 1 and answer["data"][0]["options"]["issuer"] == QSCLOUD_ISSUER
    sent = requests_to(qscloud_emulator, IDPS, "GET")[-1]
    assert sent.query == {"limit": "1", "protocol": "jwtAuth"}
    assert sent.headers["x-test-header"] == "hello there"


def test_call_raw_prints_the_answer_as_received(cli, qscloud_emulator, api_key_file) -> None:
    pretty = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--api-key-file",
                 api_key_file)
    raw = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--api-key-file", api_key_file,
              "--raw")
    assert pretty.exit_code == raw.exit_code == 0
    assert json.loads(raw.stdout)["subject"] == json.loads(pretty.stdout)["subject"] == QSCLOUD_ADMIN
    assert raw.stdout.strip().count("\n") == 0 and '"subject":"qscloud-admin"' in raw.stdout  # compact, as sent
    assert '\n  "subject": "qscloud-admin"' in pretty.stdout  # indented


def test_call_a_missing_api_exits_4(cli, qscloud_emulator, api_key_file) -> None:
    result = cli("qscloud", "call", "GET", "/api/v1/nope", *conn(qscloud_emulator), "--api-key-file", api_key_file)
    assert result.exit_code == 4
    assert result.stdout == ""
    assert "404" in result.stderr and "HTTP-404" in result.stderr and "No API at /api/v1/nope" in result.stderr


@pytest.mark.parametrize(("setup", "subject", "code"), [
    pytest.param(lambda emu: emu.set_allotment("analyzer", 0), QSCLOUD_ADMIN, "LICENSES-011", id="no-allotment"),
    pytest.param(lambda emu: None, "nobody-here", "404", id="unknown-subject"),
])
def test_call_207_with_failed_items_exits_4(cli, qscloud_emulator, api_key_file, setup, subject, code) -> None:
    setup(qscloud_emulator)
    body = json.dumps({"add": [{"subject": subject, "type": "analyzer"}]})
    result = cli("qscloud", "call", "POST", ASSIGN, *conn(qscloud_emulator), "--api-key-file", api_key_file,
                 "--data", body)
    assert result.exit_code == 4
    answer = json.loads(result.stdout)  # the body still on stdout
    assert answer["data"][0]["subject"] == subject and answer["data"][0]["status"] != 201
    assert "207" in result.stderr and subject in result.stderr and code in result.stderr
    assert qscloud_emulator.license_assignments == {}


def test_call_207_with_one_good_and_one_failed_item(cli, qscloud_emulator, api_key_file) -> None:
    body = json.dumps({"add": [{"subject": QSCLOUD_ADMIN, "type": "analyzer"},
                               {"subject": "ghost", "type": "analyzer"}]})
    result = cli("qscloud", "call", "POST", ASSIGN, *conn(qscloud_emulator), "--api-key-file", api_key_file,
                 "--data", body)
    assert result.exit_code == 4
    assert "ghost" in result.stderr and "1 item(s) failed" in result.stderr
    assert qscloud_emulator.license_assignments == {QSCLOUD_ADMIN: "analyzer"}


@pytest.mark.parametrize(("argv", "message"), [
    pytest.param(["GET", "/api/v1/users/me", "--jwt", "a.b.c", "--api-key", "k"], "not both", id="jwt-and-api-key"),
    pytest.param(["GET", "/api/v1/users/me", "--issuer", "my-app", "--keyid", "key-1", "--sub", "a",
                  "--cert-privatekey-file", KEY, "--api-key", "k"], "not both", id="minting-and-api-key"),
    pytest.param(["GET", "/api/v1/users/me"], "no credential", id="nothing"),
    pytest.param(["PUSH", "/api/v1/users/me", "--api-key", "k"], "METHOD", id="bad-method"),
    pytest.param(["GET", "api/v1/users/me", "--api-key", "k"], "PATH", id="path-without-slash"),
    pytest.param(["POST", ASSIGN, "--api-key", "k", "--data", "{not json"], "--data", id="data-not-json"),
    pytest.param(["GET", "/api/v1/users/me", "--api-key", "k", "--query", "novalue"], "--query", id="bad-query"),
    pytest.param(["GET", "/api/v1/users/me", "--api-key", "k", "--header", "novalue"], "--header", id="bad-header"),
])
def test_bad_call_arguments_are_usage_errors(cli, qscloud_emulator, argv, message) -> None:
    result = cli("qscloud", "call", *argv, *conn(qscloud_emulator))
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert result.stdout == ""
    assert qscloud_emulator.requests == []  # refused before anything is sent


def login_session(cli, emu, path, sub: str = QSCLOUD_ADMIN) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    result = cli("qscloud", "login", *conn(emu), *minting(sub), "--session-file", str(path))
    assert result.exit_code == 0, result.stderr
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def rewrite_session(path, data: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    path.write_text(json.dumps(data))
    path.chmod(0o600)


def test_a_stale_csrf_token_is_fetched_again_once(cli, qscloud_emulator, tmp_path) -> None:
    session = tmp_path / "session.json"
    saved = login_session(cli, qscloud_emulator, session)
    rewrite_session(session, {**saved, "csrfToken": "stale-csrf-token-value"})
    body = json.dumps({"add": [{"subject": QSCLOUD_ADMIN, "type": "analyzer"}]})
    result = cli("qscloud", "call", "POST", ASSIGN, *conn(qscloud_emulator), "--session-file", str(session),
                 "--data", body)
    assert result.exit_code == 0, result.stderr
    assert qscloud_emulator.license_assignments == {QSCLOUD_ADMIN: "analyzer"}
    posts = requests_to(qscloud_emulator, ASSIGN, "POST")
    assert [p.headers.get("qlik-csrf-token") for p in posts] == ["stale-csrf-token-value", saved["csrfToken"]]


def test_an_ended_session_says_log_in_again(cli, qscloud_emulator, tmp_path) -> None:
    session = tmp_path / "session.json"
    saved = login_session(cli, qscloud_emulator, session)
    cookies = [{**c, "value": "ended"} if c["name"] == "eas.sid" else c for c in saved["cookies"]]
    rewrite_session(session, {**saved, "cookies": cookies})
    result = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--session-file",
                 str(session))
    assert result.exit_code == 4
    assert "401" in result.stderr and "log in again" in result.stderr


def test_a_session_of_another_tenant_is_refused(cli, qscloud_emulator, tmp_path) -> None:
    session = tmp_path / "session.json"
    saved = login_session(cli, qscloud_emulator, session)
    rewrite_session(session, {**saved, "tenant": "https://other-tenant.eu.qlikcloud.com"})
    sent = len(qscloud_emulator.requests)
    result = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--session-file",
                 str(session))
    assert result.exit_code == 2
    assert "other-tenant.eu.qlikcloud.com" in result.stderr
    assert len(qscloud_emulator.requests) == sent  # nothing sent with another tenant's cookies


def test_call_with_a_missing_session_file(cli, qscloud_emulator, tmp_path) -> None:
    result = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--session-file",
                 str(tmp_path / "none.json"))
    assert result.exit_code == 1 and "log in first" in result.stderr


def test_call_prefers_a_jwt_or_session_to_the_environment_api_key(cli, qscloud_emulator, tmp_path,
                                                                  monkeypatch) -> None:
    monkeypatch.setenv("QLIK_API_KEY", QSCLOUD_API_KEY)
    with_jwt = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--jwt", user_token("frank"))
    assert with_jwt.exit_code == 0, with_jwt.stderr
    assert json.loads(with_jwt.stdout)["subject"] == "frank"
    session = tmp_path / "session.json"
    login_session(cli, qscloud_emulator, session, sub="grace")
    with_session = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--session-file",
                       str(session))
    assert with_session.exit_code == 0, with_session.stderr
    assert json.loads(with_session.stdout)["subject"] == "grace"
    assert not any("authorization" in r.headers for r in requests_to(qscloud_emulator, "/api/v1/users/me"))


def test_call_with_a_wrong_api_key_exits_4_without_showing_it(cli, qscloud_emulator, tmp_path) -> None:
    wrong = tmp_path / "wrong-key.txt"
    wrong.write_text("Wr0ngApiKeyValueThatLooksRandom9x\n")
    wrong.chmod(0o600)
    result = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--api-key-file", str(wrong))
    assert result.exit_code == 4
    assert "401" in result.stderr and "Wr0ngApiKeyValueThatLooksRandom9x" not in result.stderr


def test_call_with_a_world_readable_session_file_is_refused(cli, qscloud_emulator, tmp_path) -> None:
    if os.name != "posix":
        pytest.skip("POSIX file modes")
    session = tmp_path / "session.json"
    assert cli("qscloud", "login", *conn(qscloud_emulator), *minting(), "--session-file", str(session)).exit_code == 0
    session.chmod(0o644)
    result = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--session-file", str(session))
    assert result.exit_code == 1 and "--session-file" in result.stderr and "chmod 600" in result.stderr


# --- qscloud idp create -----------------------------------------------------------------------------------


def created_idps(emu, issuer: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    return [idp for idp in emu.identity_providers if (idp.get("options") or {}).get("issuer") == issuer]


def assert_jwt_idp_body(body: dict[str, Any], issuer: str, kid: str, pem_label: str = "CERTIFICATE") -> None:
    assert body["protocol"] == "jwtAuth" and body["provider"] == "external"
    assert body["interactive"] is False and body["active"] is True
    options = body["options"]
    assert options["jwtLoginEnabled"] is True and options["issuer"] == issuer
    [static] = options["staticKeys"]
    assert static["kid"] == kid
    pem = static["pem"]
    assert "\n" not in pem and "\r" not in pem
    assert pem.startswith(f"-----BEGIN {pem_label}-----") and pem.endswith(f"-----END {pem_label}-----")


def test_idp_create_with_a_pem_certificate(cli, qscloud_emulator, api_key_file) -> None:
    result = cli("qscloud", "idp", "create", *conn(qscloud_emulator), "--api-key-file", api_key_file, "--issuer",
                 "new-app", "--cert-file", CERT)
    assert result.exit_code == 0, result.stderr
    created = json.loads(result.stdout)
    [stored] = created_idps(qscloud_emulator, "new-app")
    assert created["id"] == stored["id"]
    assert_jwt_idp_body(stored, "new-app", THUMBPRINT)
    assert stored["options"]["staticKeys"][0]["pem"] == one_line_pem(CERT_PEM)
    assert stored["tenantIds"] == [qscloud_emulator.tenant_id]
    assert requests_to(qscloud_emulator, "/api/v1/users/me", "GET")  # the tenant id read from users/me
    assert THUMBPRINT in result.stderr  # the kid the tokens need is said
    # and tokens of that key, issuer and kid now log in
    login = cli("qscloud", "login", *conn(qscloud_emulator), *minting(issuer="new-app", keyid=THUMBPRINT))
    assert login.exit_code == 0, login.stderr


def test_idp_create_with_a_der_certificate(cli, qscloud_emulator, api_key_file, tmp_path) -> None:
    der = tmp_path / "cert.der"
    der.write_bytes(x509.load_pem_x509_certificate(CERT_PEM).public_bytes(serialization.Encoding.DER))
    result = cli("qscloud", "idp", "create", *conn(qscloud_emulator), "--api-key-file", api_key_file, "--issuer",
                 "der-app", "--cert-file", str(der), "--keyid", "der-kid")
    assert result.exit_code == 0, result.stderr
    [stored] = created_idps(qscloud_emulator, "der-app")
    assert_jwt_idp_body(stored, "der-app", "der-kid")
    assert stored["options"]["staticKeys"][0]["pem"] == one_line_pem(CERT_PEM)


def test_idp_create_with_a_pkcs12_file_and_passphrase(cli, qscloud_emulator, api_key_file, tmp_path) -> None:
    cert = x509.load_pem_x509_certificate(CERT_PEM)
    key = load_pem_private_key(PEM, password=None)
    bundle = tmp_path / "signer.p12"
    bundle.write_bytes(pkcs12.serialize_key_and_certificates(
        b"signer", key, cert, None, serialization.BestAvailableEncryption(b"p12 secret")))  # type: ignore[arg-type]
    bundle.chmod(0o600)
    passphrase = tmp_path / "passphrase.txt"
    passphrase.write_text("p12 secret\n")
    passphrase.chmod(0o600)
    result = cli("qscloud", "idp", "create", *conn(qscloud_emulator), "--api-key-file", api_key_file, "--issuer",
                 "p12-app", "--cert-file", str(bundle), "--cert-passphrase-file", str(passphrase))
    assert result.exit_code == 0, result.stderr
    [stored] = created_idps(qscloud_emulator, "p12-app")
    assert_jwt_idp_body(stored, "p12-app", THUMBPRINT)
    assert stored["options"]["staticKeys"][0]["pem"] == one_line_pem(CERT_PEM)  # the certificate, not the key
    assert "PRIVATE" not in result.stdout and "p12 secret" not in result.stderr


def test_idp_create_with_a_public_key_warns(cli, qscloud_emulator, api_key_file) -> None:
    result = cli("qscloud", "idp", "create", *conn(qscloud_emulator), "--api-key-file", api_key_file, "--issuer",
                 "pub-app", "--publickey-file", OTHER_PUBLIC)
    assert result.exit_code == 0, result.stderr
    assert "warning" in result.stderr and "--publickey-file" in result.stderr
    [stored] = created_idps(qscloud_emulator, "pub-app")
    assert_jwt_idp_body(stored, "pub-app", OTHER_THUMBPRINT, pem_label="PUBLIC KEY")


def test_idp_create_description_clock_tolerance_and_tenant_id(cli, qscloud_emulator, api_key_file) -> None:
    result = cli("qscloud", "idp", "create", *conn(qscloud_emulator), "--api-key-file", api_key_file, "--issuer",
                 "desc-app", "--cert-file", CERT, "--description", "made by the tests", "--clock-tolerance", "30",
                 "--tenant-id", qscloud_emulator.tenant_id)
    assert result.exit_code == 0, result.stderr
    [stored] = created_idps(qscloud_emulator, "desc-app")
    assert stored["description"] == "made by the tests"
    assert stored["clockToleranceSec"] == 30
    assert stored["tenantIds"] == [qscloud_emulator.tenant_id]
    assert not requests_to(qscloud_emulator, "/api/v1/users/me")  # --tenant-id given: not read


def test_idp_create_with_another_tenant_id_is_refused_by_qlik(cli, qscloud_emulator, api_key_file) -> None:
    result = cli("qscloud", "idp", "create", *conn(qscloud_emulator), "--api-key-file", api_key_file, "--issuer",
                 "foreign-app", "--cert-file", CERT, "--tenant-id", "another-tenant")
    assert result.exit_code == 4
    assert "403" in result.stderr
    assert created_idps(qscloud_emulator, "foreign-app") == []


def test_idp_create_dry_run_sends_nothing(cli, qscloud_emulator, api_key_file) -> None:
    result = cli("qscloud", "idp", "create", *conn(qscloud_emulator), "--api-key-file", api_key_file, "--issuer",
                 "dry-app", "--cert-file", CERT, "--description", "dry", "--clock-tolerance", "10", "--tenant-id",
                 "tenant-1", "--dry-run")
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert_jwt_idp_body(body, "dry-app", THUMBPRINT)
    assert body["options"]["staticKeys"][0]["pem"] == one_line_pem(CERT_PEM)
    assert body["description"] == "dry" and body["clockToleranceSec"] == 10 and body["tenantIds"] == ["tenant-1"]
    assert not [r for r in qscloud_emulator.requests if r.method == "POST"]
    assert created_idps(qscloud_emulator, "dry-app") == []


def test_idp_create_dry_run_needs_no_tenant(cli) -> None:
    result = cli("qscloud", "idp", "create", "--issuer", "dry-app", "--cert-file", CERT, "--dry-run")
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert_jwt_idp_body(body, "dry-app", THUMBPRINT)
    assert "tenantIds" not in body


def test_idp_create_twice_creates_once(cli, qscloud_emulator, api_key_file) -> None:
    args = ("qscloud", "idp", "create", *conn(qscloud_emulator), "--api-key-file", api_key_file, "--issuer",
            "twice-app", "--cert-file", CERT)
    first = cli(*args)
    assert first.exit_code == 0, first.stderr
    count = len(qscloud_emulator.identity_providers)
    second = cli(*args)
    assert second.exit_code == 0, second.stderr
    assert len(qscloud_emulator.identity_providers) == count
    assert json.loads(second.stdout)["id"] == json.loads(first.stdout)["id"]
    assert "nothing created" in second.stderr
    assert len(requests_to(qscloud_emulator, IDPS, "POST")) == 1


def test_idp_create_same_issuer_another_key_is_an_error(cli, qscloud_emulator, api_key_file) -> None:
    [existing] = created_idps(qscloud_emulator, QSCLOUD_ISSUER)
    count = len(qscloud_emulator.identity_providers)
    result = cli("qscloud", "idp", "create", *conn(qscloud_emulator), "--api-key-file", api_key_file, "--issuer",
                 QSCLOUD_ISSUER, "--publickey-file", OTHER_PUBLIC)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert existing["id"] in result.stderr and "exists already" in result.stderr
    assert len(qscloud_emulator.identity_providers) == count
    assert not requests_to(qscloud_emulator, IDPS, "POST")


def test_idp_create_conflict_names_the_existing_kid(cli, qscloud_emulator, api_key_file) -> None:
    """The existing IdP's kid (here the thumbprint qs-jwt chose) is what the user needs to see; it is no secret."""
    first = cli("qscloud", "idp", "create", *conn(qscloud_emulator), "--api-key-file", api_key_file, "--issuer",
                "thumb-app", "--cert-file", CERT)
    assert first.exit_code == 0, first.stderr
    result = cli("qscloud", "idp", "create", *conn(qscloud_emulator), "--api-key-file", api_key_file, "--issuer",
                 "thumb-app", "--publickey-file", OTHER_PUBLIC)
    assert result.exit_code == 1
    assert "error: a JWT identity provider with the issuer 'thumb-app' exists already" in result.stderr
    # named on an info line: an error line would hide the thumbprint, which reads as key material
    assert (f"the identity provider {json.loads(first.stdout)['id']} has the issuer 'thumb-app' and the kid "
            f"'{THUMBPRINT}'") in result.stderr, result.stderr


@pytest.mark.parametrize(("public_key", "words"), [
    pytest.param(key_path("rsa1024_public.pem"), "1024-bit", id="rsa-1024"),
    pytest.param(key_path("ec_p256_public.pem"), "RSA", id="ec-p256"),
])
def test_idp_create_refuses_unusable_keys(cli, qscloud_emulator, api_key_file, public_key, words) -> None:
    result = cli("qscloud", "idp", "create", *conn(qscloud_emulator), "--api-key-file", api_key_file, "--issuer",
                 "weak-app", "--publickey-file", public_key)
    assert result.exit_code == 1
    assert words in result.stderr and result.stdout == ""
    assert qscloud_emulator.requests == []


def test_idp_create_without_api_key_is_a_usage_error(cli, qscloud_emulator) -> None:
    result = cli("qscloud", "idp", "create", *conn(qscloud_emulator), "--issuer", "x", "--cert-file", CERT)
    assert result.exit_code == 2 and "QLIK_API_KEY" in result.stderr
    assert qscloud_emulator.requests == []


# --- qscloud idp list / get / delete --------------------------------------------------------------------------


def test_idp_list_text_and_json(cli, qscloud_emulator, api_key_file) -> None:
    [fixture_idp] = qscloud_emulator.identity_providers
    text = cli("qscloud", "idp", "list", *conn(qscloud_emulator), "--api-key-file", api_key_file)
    assert text.exit_code == 0, text.stderr
    header, *rows = text.stdout.splitlines()
    assert header.split()[:3] == ["ID", "PROTOCOL", "ACTIVE"]
    assert len(rows) == 1
    assert rows[0].split()[:5] == [fixture_idp["id"], "jwtAuth", "yes", QSCLOUD_ISSUER, QSCLOUD_KID]
    data = cli("qscloud", "idp", "list", *conn(qscloud_emulator), "--api-key-file", api_key_file, "--output", "json")
    assert data.exit_code == 0, data.stderr
    assert [idp["id"] for idp in json.loads(data.stdout)] == [fixture_idp["id"]]


def test_idp_list_text_escapes_control_characters(cli, qscloud_emulator, api_key_file) -> None:
    body = {"provider": "external", "protocol": "jwtAuth", "interactive": False, "active": True,
            "description": "evil\u001b[2J\nFAKE LINE\u202e",
            "options": {"issuer": "evil\u001b[31m", "jwtLoginEnabled": True,
                        "staticKeys": [{"kid": "k\u0007", "pem": one_line_pem(CERT_PEM)}]}}
    made = cli("qscloud", "call", "POST", IDPS, *conn(qscloud_emulator), "--api-key-file", api_key_file, "--data",
               json.dumps(body))
    assert made.exit_code == 0, made.stderr
    result = cli("qscloud", "idp", "list", *conn(qscloud_emulator), "--api-key-file", api_key_file)
    assert result.exit_code == 0, result.stderr
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u202e]", result.stdout)
    assert len(result.stdout.splitlines()) == 3  # the header and two rows: no forged line
    [evil] = [line for line in result.stdout.splitlines() if "FAKE LINE" in line]
    assert evil.split()[1:3] == ["jwtAuth", "yes"]  # the description stays in its own row


def test_idp_list_follows_every_page(cli, qscloud_emulator, api_key_file) -> None:
    for number in range(105):
        qscloud_emulator.add_jwt_idp(f"issuer-{number:03}", f"kid-{number}", CERT_PEM)
    result = cli("qscloud", "idp", "list", *conn(qscloud_emulator), "--api-key-file", api_key_file, "--output", "json")
    assert result.exit_code == 0, result.stderr
    listed = json.loads(result.stdout)
    assert len(listed) == 106 and len({idp["id"] for idp in listed}) == 106
    assert {idp["id"] for idp in listed} == {idp["id"] for idp in qscloud_emulator.identity_providers}
    pages = requests_to(qscloud_emulator, IDPS, "GET")
    assert len(pages) == 2
    assert pages[0].query.get("limit") == "100" and "next" in pages[1].query


def test_idp_list_protocol_filter(cli, qscloud_emulator, api_key_file, bearer_token) -> None:
    made = cli("qscloud", "multicloud", "create", "--from-bearer-token", bearer_token, *conn(qscloud_emulator),
               "--api-key-file", api_key_file, "--hostname", "new.eu.qlikcloud.com")
    assert made.exit_code == 0, made.stderr
    everything = json.loads(cli("qscloud", "idp", "list", *conn(qscloud_emulator), "--api-key-file", api_key_file,
                                "--output", "json").stdout)
    assert {idp["protocol"] for idp in everything} == {"jwtAuth", "qsefw-local-bearer-token"}
    text = cli("qscloud", "idp", "list", *conn(qscloud_emulator), "--api-key-file", api_key_file)
    assert "new.eu.qlikcloud.com" in text.stdout  # a multi-cloud IdP shows its host
    only = cli("qscloud", "idp", "list", *conn(qscloud_emulator), "--api-key-file", api_key_file, "--protocol",
               "jwtAuth", "--output", "json")
    assert only.exit_code == 0, only.stderr
    assert [idp["protocol"] for idp in json.loads(only.stdout)] == ["jwtAuth"]
    assert requests_to(qscloud_emulator, IDPS, "GET")[-1].query.get("protocol") == "jwtAuth"


def test_idp_get_and_delete(cli, qscloud_emulator, api_key_file) -> None:
    [idp] = qscloud_emulator.identity_providers
    got = cli("qscloud", "idp", "get", idp["id"], *conn(qscloud_emulator), "--api-key-file", api_key_file)
    assert got.exit_code == 0, got.stderr
    assert json.loads(got.stdout) == idp
    deleted = cli("qscloud", "idp", "delete", idp["id"], *conn(qscloud_emulator), "--api-key-file", api_key_file)
    assert deleted.exit_code == 0, deleted.stderr
    assert deleted.stdout == "" and idp["id"] in deleted.stderr
    assert qscloud_emulator.identity_providers == []
    again = cli("qscloud", "idp", "get", idp["id"], *conn(qscloud_emulator), "--api-key-file", api_key_file)
    assert again.exit_code == 4 and "404" in again.stderr and again.stdout == ""


def test_idp_get_of_a_missing_id_exits_4(cli, qscloud_emulator, api_key_file) -> None:
    result = cli("qscloud", "idp", "get", "0123456789abcdef01234567", *conn(qscloud_emulator), "--api-key-file",
                 api_key_file)
    assert result.exit_code == 4
    assert "404" in result.stderr and "0123456789abcdef01234567" in result.stderr
    assert result.stdout == ""


def test_idp_get_refuses_an_id_that_is_no_id(cli, qscloud_emulator, api_key_file) -> None:
    result = cli("qscloud", "idp", "get", "../users", *conn(qscloud_emulator), "--api-key-file", api_key_file)
    assert result.exit_code == 2 and "ID" in result.stderr
    assert qscloud_emulator.requests == []


def test_idp_list_with_none_prints_nothing_on_stdout(cli, qscloud_emulator, api_key_file) -> None:
    result = cli("qscloud", "idp", "list", *conn(qscloud_emulator), "--api-key-file", api_key_file, "--protocol",
                 "SAML")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and "no identity provider" in result.stderr
    data = cli("qscloud", "idp", "list", *conn(qscloud_emulator), "--api-key-file", api_key_file, "--protocol",
               "SAML", "--output", "json")
    assert json.loads(data.stdout) == []


# --- qscloud idp check ----------------------------------------------------------------------------------------


def idp_check(cli, emu, api_key_file: str, *extra: str, key: str = KEY):  # type: ignore[no-untyped-def]
    return cli("qscloud", "idp", "check", *conn(emu), "--api-key-file", api_key_file, "--cert-privatekey-file", key,
               *extra)


@pytest.mark.parametrize("extra", [
    pytest.param([], id="found-by-key"),
    pytest.param(["--issuer", QSCLOUD_ISSUER, "--keyid", QSCLOUD_KID], id="issuer-and-kid"),
    pytest.param(["--issuer", QSCLOUD_ISSUER], id="issuer-only"),
])
def test_idp_check_ok(cli, qscloud_emulator, api_key_file, extra) -> None:
    [idp] = qscloud_emulator.identity_providers
    result = idp_check(cli, qscloud_emulator, api_key_file, *extra)
    assert result.exit_code == 0, result.stdout + result.stderr
    ok = [line for line in result.stdout.splitlines() if line.startswith("OK:")]
    assert len(ok) == 1 and idp["id"] in ok[0] and QSCLOUD_ISSUER in ok[0] and QSCLOUD_KID in ok[0]
    assert "ERROR" not in result.stdout and "WARNING" not in result.stdout


@pytest.mark.parametrize(("setup", "extra", "key", "rule", "words"), [
    pytest.param(None, ["--issuer", QSCLOUD_ISSUER, "--keyid", "key-2"], KEY, "kid", "'key-1'", id="wrong-kid"),
    pytest.param(None, ["--issuer", "other-app", "--keyid", QSCLOUD_KID], KEY, "issuer", "'other-app'",
                 id="wrong-issuer"),
    pytest.param(None, ["--issuer", "My-App", "--keyid", QSCLOUD_KID], KEY, "issuer", "differs only in case",
                 id="issuer-case-near-miss"),
    pytest.param(None, ["--issuer", QSCLOUD_ISSUER, "--keyid", QSCLOUD_KID], OTHER_KEY, "public-key", "another key",
                 id="another-key"),
    pytest.param(None, [], OTHER_KEY, "public-key", OTHER_THUMBPRINT, id="another-key-no-issuer"),
    pytest.param(None, ["--issuer", QSCLOUD_ISSUER, "--keyid", "KEY-1"], KEY, "kid", "only the case differs",
                 id="kid-case-near-miss"),
    pytest.param(lambda emu: emu.add_jwt_idp("my-app/", "slash-kid", CERT_PEM), ["--issuer", "my-app/", "--keyid",
                 QSCLOUD_KID], OTHER_KEY, "public-key", "another key", id="another-key-of-a-second-idp"),
    pytest.param(lambda emu: emu.add_jwt_idp("sleepy-app", "sleepy-kid", CERT_PEM, active=False),
                 ["--issuer", "sleepy-app", "--keyid", "sleepy-kid"], KEY, "inactive", "not active", id="inactive"),
])
def test_idp_check_finds_the_mismatch(cli, qscloud_emulator, api_key_file, setup, extra, key, rule, words) -> None:
    if setup is not None:
        setup(qscloud_emulator)
    result = idp_check(cli, qscloud_emulator, api_key_file, *extra, key=key)
    assert result.exit_code == 3, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if line.startswith("ERROR:")]
    assert errors and any(words in line for line in errors), result.stdout
    assert not any(line.startswith("OK:") for line in result.stdout.splitlines())
    data = idp_check(cli, qscloud_emulator, api_key_file, *extra, "--output", "json", key=key)
    assert data.exit_code == 3
    report = json.loads(data.stdout)
    assert report["ok"] is False
    assert rule in {f["rule"] for f in report["findings"] if f["severity"] == "error"}, report["findings"]


def test_idp_check_jwt_login_off(cli, qscloud_emulator, api_key_file) -> None:
    body = {"provider": "external", "protocol": "jwtAuth", "interactive": False, "active": True,
            "options": {"issuer": "off-app", "jwtLoginEnabled": False,
                        "staticKeys": [{"kid": "off-kid", "pem": one_line_pem(CERT_PEM)}]}}
    made = cli("qscloud", "call", "POST", IDPS, *conn(qscloud_emulator), "--api-key-file", api_key_file, "--data",
               json.dumps(body))
    assert made.exit_code == 0, made.stderr
    result = idp_check(cli, qscloud_emulator, api_key_file, "--issuer", "off-app", "--keyid", "off-kid", "--output",
                       "json")
    assert result.exit_code == 3
    assert [f["rule"] for f in json.loads(result.stdout)["findings"]] == ["jwt-login"]


def test_idp_check_expired_certificate_is_a_warning(cli, qscloud_emulator, api_key_file) -> None:
    qscloud_emulator.add_jwt_idp("old-app", "old-kid", key_bytes("rsa2048_cert_expired.pem"))
    result = idp_check(cli, qscloud_emulator, api_key_file, "--issuer", "old-app", "--keyid", "old-kid")
    assert result.exit_code == 0, result.stdout
    assert any(line.startswith("WARNING:") and "expired" in line for line in result.stdout.splitlines())
    assert any(line.startswith("OK:") for line in result.stdout.splitlines())


def test_idp_check_two_idps_with_one_issuer_warns(cli, qscloud_emulator, api_key_file) -> None:
    second = qscloud_emulator.add_jwt_idp(QSCLOUD_ISSUER, "key-2", OTHER_PUBLIC_PEM)
    result = idp_check(cli, qscloud_emulator, api_key_file, "--issuer", QSCLOUD_ISSUER, "--keyid", QSCLOUD_KID)
    assert result.exit_code == 0, result.stdout + result.stderr  # a warning, not an error
    warnings = [line for line in result.stdout.splitlines() if line.startswith("WARNING:")]
    assert len(warnings) == 1 and second["id"] in warnings[0] and "2 JWT identity providers" in warnings[0]
    data = json.loads(idp_check(cli, qscloud_emulator, api_key_file, "--issuer", QSCLOUD_ISSUER, "--keyid",
                                QSCLOUD_KID, "--output", "json").stdout)
    assert data["ok"] is True
    assert [(f["rule"], f["severity"]) for f in data["findings"]] == [("duplicate", "warning")]
    assert data["identityProvider"]["kid"] == QSCLOUD_KID


def test_idp_check_one_key_in_idps_of_two_issuers_is_no_duplicate_issuer(cli, qscloud_emulator,
                                                                          api_key_file) -> None:
    """The key is held by IdPs of two different issuers: no warning may claim that they share an issuer."""
    qscloud_emulator.add_jwt_idp("second-app", "key-9", CERT_PEM)
    result = idp_check(cli, qscloud_emulator, api_key_file, "--output", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    for finding in report["findings"]:
        claimed = re.match(r"\d+ JWT identity providers have the issuer '([^']*)'", finding["message"])
        if claimed:
            listed = re.findall(r"\(issuer '([^']*)'", finding["message"])
            assert set(listed) == {claimed.group(1)}, finding["message"]


def test_idp_check_json(cli, qscloud_emulator, api_key_file) -> None:
    [idp] = qscloud_emulator.identity_providers
    result = idp_check(cli, qscloud_emulator, api_key_file, "--issuer", QSCLOUD_ISSUER, "--output", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"ok", "findings", "identityProvider", "thumbprint"} <= set(report)
    assert report["ok"] is True and report["findings"] == []
    assert report["thumbprint"] == THUMBPRINT
    assert report["identityProvider"]["id"] == idp["id"]
    assert report["identityProvider"]["issuer"] == QSCLOUD_ISSUER
    assert report["identityProvider"]["kid"] == QSCLOUD_KID


# --- qscloud multicloud -------------------------------------------------------------------------------------


def bearer(data: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(data).encode()).decode()


def bearer_data(**changes: Any) -> dict[str, Any]:
    return {"issuerConfig": {"issuer": "https://qlik.1234"}, "primary": False, "realm": "custom",
            "hostname": "old.eu.qlikcloud.com",
            "staticKeys": [{"kid": "qlik-1234", "pem": one_line_pem(key_bytes("rsa2048_public.pem"))}], **changes}


@pytest.fixture
def bearer_token() -> str:
    return bearer(bearer_data())


def decoded_base64(text: str) -> dict[str, Any]:
    return json.loads(base64.b64decode(text))  # type: ignore[no-any-return]


def assert_described(output: str) -> None:
    described = json.loads(output)
    assert described["issuer"] == "https://qlik.1234"
    assert described["hostname"] == "old.eu.qlikcloud.com"
    assert described["kid"] == "qlik-1234" and described["realm"] == "custom" and described["primary"] is False
    [key] = described["staticKeys"]
    assert key["kid"] == "qlik-1234" and key["pemType"] == "PUBLIC KEY" and key["keyType"] == "RSA"
    assert key["keySize"] == 2048 and key["thumbprint"] == THUMBPRINT


def test_multicloud_decode_text(cli, bearer_token) -> None:
    result = cli("qscloud", "multicloud", "decode", "--bearer-token", bearer_token)
    assert result.exit_code == 0, result.stderr
    assert_described(result.stdout)


def test_multicloud_decode_file(cli, bearer_token, tmp_path) -> None:
    path = tmp_path / "bearer-token.txt"
    path.write_text("\n".join(textwrap.wrap(bearer_token, 76)) + "\n")  # wrapped, as a copy from a page may be
    result = cli("qscloud", "multicloud", "decode", "--bearer-token", f"@{path}")
    assert result.exit_code == 0, result.stderr
    assert_described(result.stdout)


def test_multicloud_decode_stdin(cli, bearer_token) -> None:
    result = cli("qscloud", "multicloud", "decode", "--bearer-token", "@-", stdin=bearer_token + "\n")
    assert result.exit_code == 0, result.stderr
    assert_described(result.stdout)


def test_multicloud_decode_quoted_base64url(cli) -> None:
    token = base64.urlsafe_b64encode(json.dumps(bearer_data()).encode()).decode().rstrip("=")
    result = cli("qscloud", "multicloud", "decode", "--bearer-token", f'"{token}"')
    assert result.exit_code == 0, result.stderr
    assert_described(result.stdout)


def _without(name: str) -> dict[str, Any]:
    data = bearer_data()
    del data[name]
    return data


@pytest.mark.parametrize(("token", "message"), [
    pytest.param("this is *not* base64!", "not base64", id="not-base64"),
    pytest.param(base64.b64encode(b"hello, not JSON").decode(), "not of JSON", id="base64-not-json"),
    pytest.param(bearer(_without("hostname")), "hostname", id="no-hostname"),
    pytest.param(bearer(_without("staticKeys")), "staticKeys", id="no-static-keys"),
    pytest.param(bearer(bearer_data(issuerConfig={})), "issuerConfig.issuer", id="no-issuer"),
    pytest.param(bearer(_without("issuerConfig")), "issuerConfig.issuer", id="no-issuer-config"),
])
def test_multicloud_decode_malformed(cli, token, message) -> None:
    result = cli("qscloud", "multicloud", "decode", "--bearer-token", token)
    assert result.exit_code == 1
    assert message in result.stderr and result.stdout == ""


@pytest.mark.parametrize(("tenant_id", "original", "expected_host"), [
    pytest.param("tenant-1", "old.eu.qlikcloud.com", "new.eu.qlikcloud.com", id="bare-host"),
    pytest.param(None, "https://old.eu.qlikcloud.com", "https://new.eu.qlikcloud.com", id="url-host"),
])
def test_multicloud_create_dry_run(cli, tenant_id, original, expected_host) -> None:
    token = bearer(bearer_data(hostname=original))
    result = cli("qscloud", "multicloud", "create", "--from-bearer-token", token, "--hostname", "new.eu.qlikcloud.com",
                 "--dry-run", *(["--tenant-id", tenant_id] if tenant_id else []))
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["interactive"] is False and body["protocol"] == "qsefw-local-bearer-token"
    assert body["provider"] == "qlik" and isinstance(body["description"], str) and body["description"]
    if tenant_id:
        assert body["tenantIds"] == [tenant_id]
    else:
        assert "tenantIds" not in body
    rebuilt = decoded_base64(body["base64Encoded"])
    original_data = bearer_data(hostname=original)
    assert rebuilt["hostname"] == expected_host
    assert rebuilt["issuerConfig"]["issuer"] == original_data["issuerConfig"]["issuer"]
    assert rebuilt["staticKeys"] == original_data["staticKeys"]


def test_multicloud_create_posts_and_stores(cli, qscloud_emulator, api_key_file, bearer_token) -> None:
    result = cli("qscloud", "multicloud", "create", "--from-bearer-token", bearer_token, *conn(qscloud_emulator),
                 "--api-key-file", api_key_file, "--description", "from the tests")
    assert result.exit_code == 0, result.stderr
    created = json.loads(result.stdout)
    [stored] = [idp for idp in qscloud_emulator.identity_providers if idp["protocol"] == "qsefw-local-bearer-token"]
    assert created["id"] == stored["id"]
    assert stored["tenantIds"] == [qscloud_emulator.tenant_id]  # from users/me
    assert stored["description"] == "from the tests" and stored["provider"] == "qlik"
    rebuilt = decoded_base64(stored["base64Encoded"])
    assert rebuilt["hostname"] == qscloud_emulator.url.partition("://")[2]  # the host of --tenant
    assert rebuilt["staticKeys"][0]["kid"] == "qlik-1234"
    post = requests_to(qscloud_emulator, IDPS, "POST")[-1]
    assert post.headers["authorization"] == f"Bearer {QSCLOUD_API_KEY}"


def test_multicloud_create_needs_a_hostname_or_tenant(cli, bearer_token) -> None:
    result = cli("qscloud", "multicloud", "create", "--from-bearer-token", bearer_token, "--dry-run")
    assert result.exit_code == 2 and "--hostname" in result.stderr


# --- HTTP behaviour ---------------------------------------------------------------------------------------------


def test_429_with_retry_after_is_retried(cli, qscloud_emulator, api_key_file) -> None:
    qscloud_emulator.fail_next("/api/v1/users/me", 429, count=2, headers={"Retry-After": "1"}, body="slow down")
    started = time.monotonic()
    result = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--api-key-file",
                 api_key_file, "--retries", "3")
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["subject"] == QSCLOUD_ADMIN
    assert len(requests_to(qscloud_emulator, "/api/v1/users/me")) == 3
    assert elapsed >= 1.8  # Retry-After: 1, twice


def test_a_retry_after_beyond_the_deadline_is_not_waited_for(cli, qscloud_emulator, api_key_file) -> None:
    qscloud_emulator.fail_next("/api/v1/users/me", 429, count=1, headers={"Retry-After": "60"})
    started = time.monotonic()
    result = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--api-key-file",
                 api_key_file)
    assert time.monotonic() - started < 3
    assert result.exit_code == 4
    assert "429" in result.stderr and "deadline" in result.stderr


def test_a_refused_connection_exits_1(cli, api_key_file) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = cli("qscloud", "call", "GET", "/api/v1/users/me", "--tenant", f"https://127.0.0.1:{port}", "--timeout",
                 "5", "--retries", "1", "--api-key-file", api_key_file)
    assert result.exit_code == 1
    assert "refused" in result.stderr and result.stderr.count("\n") == 1


def test_429_on_a_post_is_retried(cli, qscloud_emulator, api_key_file) -> None:
    qscloud_emulator.fail_next(ASSIGN, 429, count=1, headers={"Retry-After": "0"})
    body = json.dumps({"add": [{"subject": QSCLOUD_ADMIN, "type": "analyzer"}]})
    result = cli("qscloud", "call", "POST", ASSIGN, *conn(qscloud_emulator), "--api-key-file", api_key_file,
                 "--data", body)
    assert result.exit_code == 0, result.stderr
    assert len(requests_to(qscloud_emulator, ASSIGN)) == 2
    assert qscloud_emulator.license_assignments == {QSCLOUD_ADMIN: "analyzer"}


def test_503_on_get_is_retried(cli, qscloud_emulator, api_key_file) -> None:
    qscloud_emulator.fail_next("/api/v1/users/me", 503, count=2)
    result = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--api-key-file",
                 api_key_file, "--retries", "3")
    assert result.exit_code == 0, result.stderr
    assert len(requests_to(qscloud_emulator, "/api/v1/users/me")) == 3


def test_503_on_post_is_not_retried(cli, qscloud_emulator, api_key_file) -> None:
    qscloud_emulator.fail_next(ASSIGN, 503, count=1)
    body = json.dumps({"add": [{"subject": QSCLOUD_ADMIN, "type": "analyzer"}]})
    result = cli("qscloud", "call", "POST", ASSIGN, *conn(qscloud_emulator), "--api-key-file", api_key_file,
                 "--retries", "3", "--data", body)
    assert result.exit_code == 4
    assert "503" in result.stderr
    assert len(requests_to(qscloud_emulator, ASSIGN)) == 1
    assert qscloud_emulator.license_assignments == {}


def test_a_stalled_server_times_out(cli, qscloud_emulator, api_key_file) -> None:
    qscloud_emulator.stall("/api/v1/users/me", 3.0)
    started = time.monotonic()
    result = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator, timeout="1"), "--retries", "1",
                 "--api-key-file", api_key_file)
    assert time.monotonic() - started < 2.5
    assert result.exit_code == 1
    assert "no answer" in result.stderr and "1 s" in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_an_html_error_page_is_one_line(cli, qscloud_emulator, api_key_file) -> None:
    page = ("<!DOCTYPE html><html><head><title>502 Bad Gateway</title><style>body{color:red}</style></head>"
            "<body><h1>Bad Gateway</h1><p>The upstream <b>failed</b>.</p></body></html>")
    qscloud_emulator.fail_next("/api/v1/users/me", 502, body=page, content_type="text/html; charset=utf-8")
    result = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--api-key-file",
                 api_key_file, "--retries", "1")
    assert result.exit_code == 4
    assert "502" in result.stderr and "Bad Gateway" in result.stderr
    assert not re.search(r"</?[A-Za-z!]", result.stderr), result.stderr
    assert result.stderr.count("\n") == 1


def test_insecure_warns(cli, qscloud_emulator, api_key_file) -> None:
    result = cli("qscloud", "call", "GET", "/api/v1/users/me", "--tenant", qscloud_emulator.url, "--insecure",
                 "--timeout", "5", "--api-key-file", api_key_file)
    assert result.exit_code == 0, result.stderr
    assert "warning" in result.stderr and "--insecure" in result.stderr


def test_a_missing_ca_cert_file_is_a_clean_error(cli, qscloud_emulator, api_key_file, tmp_path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    result = cli("qscloud", "call", "GET", "/api/v1/users/me", "--tenant", qscloud_emulator.url, "--ca-cert",
                 str(missing), "--timeout", "5", "--api-key-file", api_key_file)
    assert result.exit_code in (1, 2)
    assert "--ca-cert" in result.stderr and "no-such-ca.pem" in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert qscloud_emulator.requests == []


def test_debug_log_shows_requests_but_no_secret(cli, qscloud_emulator, api_key_file, tmp_path) -> None:
    session = tmp_path / "session.json"
    token = user_token(QSCLOUD_ADMIN)
    login = cli("qscloud", "login", *conn(qscloud_emulator), "--jwt", token, "--session-file", str(session),
                "--loglevel", "debug")
    assert login.exit_code == 0, login.stderr
    saved = json.loads(session.read_text())
    body = json.dumps({"add": [{"subject": QSCLOUD_ADMIN, "type": "analyzer"}]})
    post = cli("qscloud", "call", "POST", ASSIGN, *conn(qscloud_emulator), "--session-file", str(session), "--data",
               body, "--loglevel", "debug")
    assert post.exit_code == 0, post.stderr
    qscloud_emulator.fail_next("/api/v1/users/me", 429, count=1, headers={"Retry-After": "0"})
    keyed = cli("qscloud", "call", "GET", "/api/v1/users/me", *conn(qscloud_emulator), "--api-key-file", api_key_file,
                "--loglevel", "debug")
    assert keyed.exit_code == 0, keyed.stderr
    tenant = qscloud_emulator.url
    assert f"POST {tenant}/login/jwt-session" in login.stderr and "200" in login.stderr
    assert f"POST {tenant}{ASSIGN}" in post.stderr and "207" in post.stderr
    assert f"GET {tenant}/api/v1/users/me" in keyed.stderr and "429" in keyed.stderr
    secrets = [token, token.split(".")[1], token.split(".")[2], QSCLOUD_API_KEY, saved["csrfToken"],
               *(cookie["value"] for cookie in saved["cookies"])]
    for stderr in (login.stderr, post.stderr, keyed.stderr):
        for secret in secrets:
            assert secret not in stderr
