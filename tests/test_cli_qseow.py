"""``qs-jwt qseow ...`` end to end against the QSEoW emulator (a real HTTPS server on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import json
import shlex

import pytest
from cryptography import x509

import qs_jwt
from conftest import key_bytes, key_path
from qs_jwt.qseow import QseowClient

KEY = key_path("rsa2048_pkcs8.pem")
PEM = key_bytes("rsa2048_pkcs8.pem")
CERT = key_path("rsa2048_cert.pem")


def admin_token(**overrides) -> str:
    fields = {"user_id": "admin", "user_directory": "ACME", "audience": "qlik", "expires": "5m"} | overrides
    return qs_jwt.create_qseow_token(PEM, **fields).token


def connection(emu, prefix: str = "jwt") -> list[str]:
    return ["--server", f"{emu.url}/{prefix}", "--ca-cert", str(emu.ca_cert_path), "--timeout", "5"]


# --- qseow call -------------------------------------------------------------------------------------


def test_call_about_with_a_given_jwt(run_cli, qseow_emulator) -> None:
    result = run_cli("qseow", "call", "GET", "/qrs/about", *connection(qseow_emulator), "--jwt", admin_token())
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["schemaPath"] == "About"
    request = qrs_requests(qseow_emulator)[-1]
    key = request.query["xrfkey"]
    assert len(key) == 16 and key.isalnum() and request.headers["x-qlik-xrfkey"] == key
    assert request.headers["authorization"].startswith("Bearer ")


def test_call_apps_with_a_token_minted_in_the_same_run(run_cli, qseow_emulator) -> None:
    qseow_emulator.add_app("Sales")
    result = run_cli("qseow", "call", "GET", "/qrs/app", *connection(qseow_emulator), "--cert-privatekey-file", KEY,
                     "--userdir", "ACME", "--userid", "admin", "--audience", "qlik")
    assert result.exit_code == 0, result.stderr
    assert [app["name"] for app in json.loads(result.stdout)] == ["Sales"]


def test_the_session_cookie_replaces_the_jwt_after_the_first_request(qseow_emulator) -> None:
    settings = qs_jwt_http_settings(qseow_emulator)
    with QseowClient(f"{qseow_emulator.url}/jwt", admin_token(), settings=settings) as client:
        client.about()
        client.about()
        client.virtual_proxies()
    first, second, third = qrs_requests(qseow_emulator)[-3:]
    assert "authorization" in first.headers
    assert "authorization" not in second.headers and "cookie" in second.headers
    assert "authorization" not in third.headers
    keys = [r.query["xrfkey"] for r in (first, second, third)]
    assert len(set(keys)) == 3  # a fresh xrfkey on every request


def qrs_requests(emu):
    """The requests of a test but the log out at its end (DELETE /<prefix>/qps/user)."""
    return [r for r in emu.requests if not r.path.endswith("/qps/user")]


def qs_jwt_http_settings(emu):
    from qs_jwt.http import HttpSettings

    return HttpSettings(ca_cert=str(emu.ca_cert_path), timeout=5)


@pytest.mark.parametrize(("token", "reason", "finding"), [
    (lambda: admin_token(audience="other"), "audience", "aud"),
    (lambda: admin_token(userid_claim="UserId"), "claim userId", "userId"),
    (lambda: qs_jwt.create_qseow_token(key_bytes("other2048_pkcs8.pem"), user_id="admin", user_directory="ACME",
                                       audience="qlik", expires="5m").token, "signature", None),
    (lambda: admin_token(now=1_700_000_000), "expired", "exp"),
])
def test_a_refused_jwt_is_explained(run_cli, qseow_emulator, token, reason, finding) -> None:
    # --audience with --jwt: what the virtual proxy expects, for the local check of the token
    result = run_cli("qseow", "call", "GET", "/qrs/about", *connection(qseow_emulator), "--jwt", token(),
                     "--audience", "qlik")
    assert result.exit_code == 4
    assert "401" in result.stderr
    assert "audience: the token's aud must equal" in result.stderr  # the likely causes, in plain words
    assert any(reason in failure for failure in qseow_emulator.auth_failures)
    if finding is not None:
        assert f"ERROR: {finding}" in result.stderr  # the local check of the token
    assert token().split(".")[1] not in result.stderr


def test_an_html_error_page_is_one_line(run_cli, qseow_emulator) -> None:
    result = run_cli("qseow", "call", "GET", "/qrs/about", *connection(qseow_emulator, "nosuchprefix"), "--jwt",
                     admin_token())
    assert result.exit_code == 4
    assert "404" in result.stderr and "<html" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_503_is_retried_for_get(run_cli, qseow_emulator) -> None:
    qseow_emulator.fail_next("/jwt/qrs/about", 503, count=1)
    result = run_cli("qseow", "call", "GET", "/qrs/about", *connection(qseow_emulator), "--jwt", admin_token())
    assert result.exit_code == 0, result.stderr


def test_a_server_that_never_answers_times_out(run_cli, qseow_emulator) -> None:
    qseow_emulator.stall("/jwt/qrs/about", 3.0)
    result = run_cli("qseow", "call", "GET", "/qrs/about", "--server", f"{qseow_emulator.url}/jwt", "--ca-cert",
                     str(qseow_emulator.ca_cert_path), "--timeout", "1", "--retries", "1", "--jwt", admin_token())
    assert result.exit_code == 1
    assert "no answer" in result.stderr and "deadline of 1 s" in result.stderr and result.stderr.count("\n") == 1


def test_an_untrusted_certificate_suggests_ca_cert_and_server_cert(run_cli, qseow_emulator, tmp_path,
                                                                    monkeypatch) -> None:
    unrelated = tmp_path / "unrelated.pem"
    unrelated.write_bytes(key_bytes("rsa2048_cert.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(unrelated))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(unrelated))
    result = run_cli("qseow", "call", "GET", "/qrs/about", "--server", f"{qseow_emulator.url}/jwt", "--jwt",
                     admin_token(), "--timeout", "5")
    assert result.exit_code == 1
    assert "--ca-cert" in result.stderr and "server-cert" in result.stderr
    # --ca-cert wins over the environment's bundle
    result = run_cli("qseow", "call", "GET", "/qrs/about", *connection(qseow_emulator), "--jwt", admin_token())
    assert result.exit_code == 0, result.stderr


def test_insecure_warns_and_works(run_cli, qseow_emulator) -> None:
    result = run_cli("qseow", "call", "GET", "/qrs/about", "--server", f"{qseow_emulator.url}/jwt", "--insecure",
                     "--jwt", admin_token())
    assert result.exit_code == 0 and "--insecure" in result.stderr and "warning" in result.stderr


def test_a_self_signed_server_trusted_by_its_own_certificate(run_cli, qseow_emulator_self_signed, tmp_path) -> None:
    own = tmp_path / "server.pem"
    own.write_bytes(qseow_emulator_self_signed.server_cert_pem)
    result = run_cli("qseow", "call", "GET", "/qrs/about", "--server", f"{qseow_emulator_self_signed.url}/jwt",
                     "--ca-cert", str(own), "--jwt", admin_token())
    assert result.exit_code == 0, result.stderr


def test_an_expired_server_certificate(run_cli, qseow_emulator_expired_cert) -> None:
    result = run_cli("qseow", "call", "GET", "/qrs/about", *connection(qseow_emulator_expired_cert), "--jwt",
                     admin_token())
    assert result.exit_code == 1 and "expired" in result.stderr.lower()


@pytest.mark.parametrize(("argv", "message"), [
    (["PUSH", "/qrs/about"], "METHOD: use one of"),
    (["GET", "qrs/about"], "PATH: starts with /"),
    (["POST", "/qrs/app", "--data", "{not json"], "--data: not valid JSON"),
    (["GET", "/qrs/about", "--query", "novalue"], "--query: expected NAME=VALUE"),
])
def test_bad_call_arguments_are_usage_errors(run_cli, qseow_emulator, argv, message) -> None:
    result = run_cli("qseow", "call", *argv, *connection(qseow_emulator), "--jwt", admin_token())
    assert result.exit_code == 2 and message in result.stderr


def test_call_without_a_jwt_says_how_to_give_one(run_cli, qseow_emulator) -> None:
    result = run_cli("qseow", "call", "GET", "/qrs/about", *connection(qseow_emulator))
    assert result.exit_code == 2 and "--jwt" in result.stderr and "--userdir" in result.stderr


def test_call_posts_json_data(run_cli, qseow_emulator, tmp_path) -> None:
    body = tmp_path / "vp.json"
    body.write_text(json.dumps({"prefix": "made", "description": "by call", "sessionCookieHeaderName": "X-Made"}))
    result = run_cli("qseow", "call", "POST", "/qrs/virtualproxyconfig", "--data", f"@{body}",
                     *connection(qseow_emulator), "--jwt", admin_token())
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["prefix"] == "made"


# --- server-cert and qlik-cli-context ----------------------------------------------------------------


def test_server_cert_shows_the_chain_and_its_fingerprints(run_cli, qseow_emulator) -> None:
    result = run_cli("qseow", "server-cert", "--server", qseow_emulator.url, "--output", "json")
    assert result.exit_code == 0, result.stderr
    chain = json.loads(result.stdout)["certificates"]
    leaf = x509.load_pem_x509_certificate(qseow_emulator.server_cert_pem)
    from cryptography.hazmat.primitives import serialization

    digest = hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    assert chain[0]["sha256Fingerprint"].replace(":", "") == digest
    assert len(chain) == 2 and chain[1]["subject"] == chain[0]["issuer"]
    text = run_cli("qseow", "server-cert", "--server", qseow_emulator.url)
    assert "SHA-256 fingerprint:" in text.stdout and "BEGIN CERTIFICATE" in text.stdout


def test_qlik_cli_context_prints_the_command(run_cli, qseow_emulator) -> None:
    token = admin_token()
    result = run_cli("qseow", "qlik-cli-context", "--name", "qseow", "--server", f"{qseow_emulator.url}/jwt",
                     "--jwt", token, "--insecure")
    assert result.exit_code == 0
    assert shlex.split(result.stdout) == ["qlik", "context", "create", "qseow", "--server", f"{qseow_emulator.url}/jwt",
                                          "--server-type", "windows", "--api-key", token, "--insecure"]
    assert "holds the JWT" in result.stderr and token not in result.stderr
    data = json.loads(run_cli("qseow", "qlik-cli-context", "--name", "q", "--server", "https://h/jwt", "--jwt", token,
                              "--output", "json").stdout)
    assert data["apiKey"] == token and data["serverType"] == "windows" and data["insecure"] is False


def test_qlik_cli_context_with_a_minted_token(run_cli) -> None:
    result = run_cli("qseow", "qlik-cli-context", "--name", "q", "--server", "https://qlik.example.com/jwt",
                     "--cert-privatekey-file", KEY, "--userdir", "ACME", "--userid", "admin", "--audience", "qlik",
                     "--expires", "8h")
    assert result.exit_code == 0
    token = shlex.split(result.stdout)[-1]
    payload = qs_jwt.verify(token, key_bytes("rsa2048_cert.pem"), audience="qlik").decoded.payload
    assert payload["userId"] == "admin" and payload["exp"] - payload["iat"] == 8 * 3600


# --- virtual-proxy ----------------------------------------------------------------------------------


def test_virtual_proxy_create_dry_run_needs_no_server(run_cli) -> None:
    result = run_cli("qseow", "virtual-proxy", "create", "--prefix", "app-jwt", "--cert-file", CERT, "--audience",
                     "qlik", "--attribute", "role=role", "--host-allow-list", "qlik.example.com")
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["authenticationMethod"] == 4 and body["sessionCookieHeaderName"] == "X-Qlik-Session-app-jwt"
    assert body["jwtAttributeMap"] == [{"jwtAttribute": "role", "senseAttribute": "role", "isMandatory": False}]
    assert "BEGIN CERTIFICATE" in body["jwtPublicKeyCertificate"] and body["jwtAudience"] == "qlik"


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["--prefix", "JWT", "--cert-file", CERT], 2, "--prefix: use lower-case"),
    (["--prefix", "a b", "--cert-file", CERT], 2, "--prefix"),
    (["--prefix", "jwt2", "--cert-file", key_path("rsa2048_public.pem")], 1, "not a certificate"),
])
def test_virtual_proxy_create_refuses_bad_values(run_cli, argv, code, message) -> None:
    result = run_cli("qseow", "virtual-proxy", "create", *argv)
    assert result.exit_code == code and message in result.stderr


def test_virtual_proxy_create_makes_and_links_it(run_cli, qseow_emulator) -> None:
    qseow_emulator.bump_modified_date_on_next_put(qseow_emulator.proxy_service()["id"])  # one 409, retried
    result = run_cli("qseow", "virtual-proxy", "create", "--prefix", "newjwt", "--cert-file", CERT, "--audience",
                     "qlik", *connection(qseow_emulator), "--jwt", admin_token())
    assert result.exit_code == 0, result.stderr
    created = qseow_emulator.virtual_proxy("newjwt")
    assert [node["id"] for node in created["loadBalancingServerNodes"]] == [qseow_emulator.central_node["id"]]
    linked = [vp["id"] for vp in qseow_emulator.proxy_service()["settings"]["virtualProxies"]]
    assert created["id"] in linked
    # the new virtual proxy accepts the key's tokens
    call = run_cli("qseow", "call", "GET", "/qrs/about", *connection(qseow_emulator, "newjwt"), "--jwt", admin_token())
    assert call.exit_code == 0, call.stderr


def test_virtual_proxy_create_with_an_admin_token_minted_now(run_cli, qseow_emulator) -> None:
    result = run_cli("qseow", "virtual-proxy", "create", "--prefix", "minted", "--cert-file", CERT,
                     *connection(qseow_emulator), "--cert-privatekey-file", KEY, "--admin-userdir", "ACME",
                     "--admin-userid", "admin", "--admin-audience", "qlik")
    assert result.exit_code == 0, result.stderr
    assert qseow_emulator.virtual_proxy("minted")["prefix"] == "minted"


def test_virtual_proxy_create_by_a_non_admin_is_refused(run_cli, qseow_emulator) -> None:
    result = run_cli("qseow", "virtual-proxy", "create", "--prefix", "x", "--cert-file", CERT,
                     *connection(qseow_emulator), "--jwt", admin_token(user_id="alice"))
    assert result.exit_code == 4 and "403" in result.stderr


def test_virtual_proxy_list(run_cli, qseow_emulator) -> None:
    result = run_cli("qseow", "virtual-proxy", "list", *connection(qseow_emulator), "--jwt", admin_token(),
                     "--output", "json")
    assert result.exit_code == 0, result.stderr
    rows = {row["prefix"]: row for row in json.loads(result.stdout)}
    assert rows["jwt"]["jwt"] is True and rows["jwt"]["linked"] is True
    text = run_cli("qseow", "virtual-proxy", "list", *connection(qseow_emulator), "--jwt", admin_token())
    assert "jwt" in text.stdout and "JWT" in text.stdout


def test_virtual_proxy_check_passes_for_the_right_key(run_cli, qseow_emulator) -> None:
    result = run_cli("qseow", "virtual-proxy", "check", "jwt", "--cert-privatekey-file", KEY, "--audience", "qlik",
                     "--userid-claim", "userId", *connection(qseow_emulator), "--jwt", admin_token())
    assert result.exit_code == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("extra", "rule"), [
    (["--cert-privatekey-file", key_path("other2048_pkcs8.pem")], "certificate"),
    (["--cert-privatekey-file", KEY, "--userid-claim", "userid"], "user-ID-claim"),
    (["--cert-privatekey-file", KEY, "--audience", "other"], "audience"),
])
def test_virtual_proxy_check_names_each_mismatch(run_cli, qseow_emulator, extra, rule) -> None:
    result = run_cli("qseow", "virtual-proxy", "check", "jwt", *extra, *connection(qseow_emulator), "--jwt",
                     admin_token(), "--output", "json")
    assert result.exit_code == 3, result.stderr
    assert rule in [finding["rule"] for finding in json.loads(result.stdout)["findings"]]


def test_virtual_proxy_check_of_an_unlinked_proxy(run_cli, qseow_emulator) -> None:
    qseow_emulator.add_virtual_proxy("lonely", cert_pem=key_bytes("rsa2048_cert.pem"), audience="qlik", linked=False)
    result = run_cli("qseow", "virtual-proxy", "check", "lonely", "--cert-privatekey-file", KEY,
                     *connection(qseow_emulator), "--jwt", admin_token(), "--output", "json")
    assert result.exit_code == 3
    assert "link" in [finding["rule"] for finding in json.loads(result.stdout)["findings"]]


def test_virtual_proxy_check_of_a_missing_prefix(run_cli, qseow_emulator) -> None:
    result = run_cli("qseow", "virtual-proxy", "check", "nope", "--cert-privatekey-file", KEY,
                     *connection(qseow_emulator), "--jwt", admin_token())
    assert result.exit_code == 1 and "no virtual proxy has the prefix 'nope'" in result.stderr


def test_no_secret_in_debug_output(run_cli, qseow_emulator) -> None:
    token = admin_token()
    result = run_cli("qseow", "virtual-proxy", "list", *connection(qseow_emulator), "--jwt", token,
                     "--loglevel", "debug")
    assert result.exit_code == 0
    assert "GET" in result.stderr  # the debug lines are there
    assert token.split(".")[1] not in result.stderr
    for request in qseow_emulator.requests:
        assert request.query.get("xrfkey", "<none>") not in result.stderr
        cookie = request.headers.get("cookie", "")
        if cookie:
            assert cookie.split("=", 1)[1] not in result.stderr


def test_virtual_proxy_create_links_the_central_proxy_when_there_are_several(run_cli, qseow_emulator) -> None:
    qseow_emulator.add_rim_node()
    result = run_cli("qseow", "virtual-proxy", "create", "--prefix", "multi", "--cert-file", CERT,
                     *connection(qseow_emulator), "--jwt", admin_token())
    assert result.exit_code == 0, result.stderr
    created = qseow_emulator.virtual_proxy("multi")
    assert created["id"] in [vp["id"] for vp in qseow_emulator.proxy_service()["settings"]["virtualProxies"]]


def test_raw_and_non_json_answers(run_cli, qseow_emulator) -> None:
    result = run_cli("qseow", "call", "GET", "/hub", *connection(qseow_emulator), "--jwt", admin_token(), "--raw")
    assert result.exit_code == 0, result.stderr
    assert "<html" in result.stdout.lower()
    result = run_cli("qseow", "call", "GET", "/qrs/about", *connection(qseow_emulator), "--jwt", admin_token(), "--raw")
    assert result.exit_code == 0 and json.loads(result.stdout)["schemaPath"] == "About"


def test_an_expired_session_logs_in_again_with_the_jwt(qseow_emulator) -> None:
    with QseowClient(f"{qseow_emulator.url}/jwt", admin_token(), settings=qs_jwt_http_settings(qseow_emulator)) as c:
        c.about()
        for cookie in c._http.cookies.jar:  # as after the session inactivity timeout: the proxy forgot the session
            cookie.value = "stale-session-id"
        assert c.about()["schemaPath"] == "About"
    assert "authorization" in qrs_requests(qseow_emulator)[-1].headers


def test_too_many_sessions_says_so(run_cli, qseow_emulator) -> None:
    holders = [QseowClient(f"{qseow_emulator.url}/jwt", admin_token(), settings=qs_jwt_http_settings(qseow_emulator))
               for _ in range(5)]
    try:
        for holder in holders:  # five sessions of the admin, still open (a browser, other scripts)
            holder.about()
        result = run_cli("qseow", "call", "GET", "/qrs/about", *connection(qseow_emulator), "--jwt", admin_token(),
                         "--retries", "1")
        assert result.exit_code == 4 and "sessions" in result.stderr and "inactivity timeout" in result.stderr
    finally:
        for holder in holders:
            holder.close()
    assert len(qseow_emulator.logouts) == 5 and not qseow_emulator.sessions


def test_each_run_ends_its_session_so_runs_never_pile_up(run_cli, qseow_emulator) -> None:
    for _ in range(8):  # more than the five sessions QSEoW allows a user at once
        assert run_cli("qseow", "call", "GET", "/qrs/about", *connection(qseow_emulator), "--jwt",
                       admin_token()).exit_code == 0
    assert len(qseow_emulator.logouts) == 8 and not qseow_emulator.sessions
    logout = qseow_emulator.requests[-1]
    assert (logout.method, logout.path) == ("DELETE", "/jwt/qps/user") and "authorization" not in logout.headers


@pytest.mark.parametrize("name", ["rsa2048_pkcs8.der", "rsa2048.p12"])
def test_virtual_proxy_create_from_der_or_pkcs12(run_cli, tmp_path, name) -> None:
    passphrase = tmp_path / "pw"
    passphrase.write_text("correct horse")
    source = key_path(name)
    if name.endswith(".der"):  # the certificate as DER
        der = tmp_path / "cert.der"
        from cryptography.hazmat.primitives import serialization

        der.write_bytes(x509.load_pem_x509_certificate(key_bytes("rsa2048_cert.pem")).public_bytes(
            serialization.Encoding.DER))
        source = str(der)
    result = run_cli("qseow", "virtual-proxy", "create", "--prefix", "p", "--cert-file", source,
                     "--cert-passphrase-file", str(passphrase), "--load-balancing-node", "node-1")
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["loadBalancingServerNodes"] == [{"id": "node-1"}]
    assert "BEGIN CERTIFICATE" in body["jwtPublicKeyCertificate"]


def test_an_ec_certificate_is_refused_for_a_virtual_proxy(run_cli, tmp_path) -> None:
    import datetime as dt

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    path = tmp_path / "ec.cer"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    result = run_cli("qseow", "virtual-proxy", "create", "--prefix", "p", "--cert-file", str(path))
    assert result.exit_code == 1 and "RSA" in result.stderr


def test_a_failed_link_says_the_virtual_proxy_was_created(run_cli, qseow_emulator) -> None:
    proxy_id = qseow_emulator.proxy_service()["id"]
    qseow_emulator.fail_next(f"/jwt/qrs/proxyservice/{proxy_id}", 500, count=5, body="boom")
    result = run_cli("qseow", "virtual-proxy", "create", "--prefix", "halfway", "--cert-file", CERT,
                     *connection(qseow_emulator), "--jwt", admin_token(), "--retries", "1")
    assert result.exit_code == 4
    assert "was created" in result.stderr and "not linked" in result.stderr
    assert qseow_emulator.virtual_proxy("halfway")["prefix"] == "halfway"


def test_a_refused_admin_token_on_list_is_explained(run_cli, qseow_emulator) -> None:
    result = run_cli("qseow", "virtual-proxy", "list", *connection(qseow_emulator), "--cert-privatekey-file", KEY,
                     "--admin-userdir", "ACME", "--admin-userid", "admin", "--admin-audience", "wrong")
    assert result.exit_code == 4 and "the usual causes are" in result.stderr


def test_check_compares_the_default_claim_names(run_cli, qseow_emulator) -> None:
    qseow_emulator.add_virtual_proxy("lower", cert_pem=key_bytes("rsa2048_cert.pem"), audience="qlik",
                                     userid_claim="userid")
    result = run_cli("qseow", "virtual-proxy", "check", "lower", "--cert-privatekey-file", KEY,
                     *connection(qseow_emulator), "--jwt", admin_token(), "--output", "json")
    assert result.exit_code == 3
    assert "user-ID-claim" in [finding["rule"] for finding in json.loads(result.stdout)["findings"]]


def test_qlik_cli_context_refuses_a_url_that_is_not_https(run_cli) -> None:
    result = run_cli("qseow", "qlik-cli-context", "--name", "q", "--server", "ftp://x/jwt", "--jwt", admin_token())
    assert result.exit_code == 2 and "--server" in result.stderr


def test_a_bad_session_cookie_header_name_is_a_usage_error(run_cli) -> None:
    result = run_cli("qseow", "virtual-proxy", "create", "--prefix", "p", "--cert-file", CERT,
                     "--session-cookie-header", "bad name;x")
    assert result.exit_code == 2 and "--session-cookie-header" in result.stderr


def test_a_ca_cert_that_is_not_pem_says_so_in_full(run_cli, qseow_emulator, tmp_path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    result = run_cli("qseow", "call", "GET", "/qrs/about", "--server", f"{qseow_emulator.url}/jwt", "--ca-cert",
                     str(junk), "--jwt", admin_token())
    assert result.exit_code == 2 and "--ca-cert" in result.stderr and "no BEGIN CERTIFICATE block" in result.stderr
