"""decode, check and cert from the command line."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

import qs_jwt
from conftest import FIXED_NOW, PASSPHRASE, key_bytes, key_path
from qs_jwt import Signer

KEY = key_path("rsa2048_pkcs8.pem")
PUB = key_path("rsa2048_public.pem")
CERT = key_path("rsa2048_cert.pem")
OTHER_PUB = key_path("other2048_public.pem")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def qscloud_token(now: int = FIXED_NOW, **kw) -> str:
    args = {"issuer": "my-app", "keyid": "kid-1", "sub": "alice", "email": "alice@example.com",
            "email_verified": True, "expires": "10m", "now": now} | kw
    return qs_jwt.create_qscloud_token(key_bytes("rsa2048_pkcs8.pem"), **args).token


def node_style_token(now: int = FIXED_NOW) -> str:
    """What the Node tool's create-qscloud makes (node-qs-jwt-behaviour.md section 3.1)."""
    payload = {"jti": "x" * 43, "sub": "Q" * 56, "subType": "user", "name": "Joe", "email": "joe@example.com",
               "group": ["Group 1"], "email_verified": "true", "iat": now, "nbf": now, "exp": now + 365 * 86400,
               "aud": "qlik.api/login/jwt-session", "iss": "my-issuer"}
    return Signer(key_bytes("rsa2048_pkcs8.pem")).sign({"alg": "RS256", "typ": "JWT", "kid": "my-key"}, payload)


# --- decode ---------------------------------------------------------------------------------------


def test_decode_text_output_with_key(run_cli, fixed_now):
    r = run_cli("decode", "--jwt", qscloud_token(), "--cert-publickey-file", CERT)
    assert r.exit_code == 0, r.stderr
    assert "Header:" in r.stdout and '"kid": "kid-1"' in r.stdout
    assert "2027-01-15T08:00:00Z" in r.stdout and "expires in 10 min" in r.stdout
    assert "signature:  valid (RS256" in r.stdout and "time:       valid" in r.stdout


def test_decode_json_output_fields(run_cli, fixed_now):
    r = run_cli("decode", "--jwt", qscloud_token(), "--cert-publickey-file", PUB, "--output", "json",
                "--expected-audience", "qlik.api/login/jwt-session", "--expected-issuer", "my-app")
    data = json.loads(r.stdout)
    assert set(data) == {"header", "payload", "verification"}
    assert data["verification"] == {"signature": True, "expired": False, "notYetValid": False, "audience": True,
                                    "issuer": True, "errors": []}
    assert data["payload"]["iat"] == FIXED_NOW  # raw numbers kept in JSON


def test_decode_minimal_output_is_json(run_cli, fixed_now):
    r = run_cli("decode", "--jwt", qscloud_token(), "--minimal-output")
    data = json.loads(r.stdout)
    assert data["verification"]["signature"] is None
    assert "not verified" in r.stderr


def test_expired_token_is_not_a_bad_signature(run_cli, fixed_now):
    token = qscloud_token(now=FIXED_NOW - 3 * 86400)
    r = run_cli("decode", "--jwt", token, "--cert-publickey-file", PUB, "--output", "json")
    assert r.exit_code == 3
    v = json.loads(r.stdout)["verification"]
    assert v["signature"] is True and v["expired"] is True
    r = run_cli("decode", "--jwt", token, "--cert-publickey-file", PUB)
    assert "signature:  valid" in r.stdout and "EXPIRED" in r.stdout and "expired 2 days 23 h ago" in r.stdout


def test_wrong_key_is_exit_3(run_cli, fixed_now):
    r = run_cli("decode", "--jwt", qscloud_token(), "--cert-publickey-file", OTHER_PUB, "--output", "json")
    assert r.exit_code == 3
    v = json.loads(r.stdout)["verification"]
    assert v["signature"] is False and v["expired"] is False


def test_audience_and_issuer_mismatch(run_cli, fixed_now):
    r = run_cli("decode", "--jwt", qscloud_token(), "--cert-publickey-file", PUB, "--expected-audience", "other",
                "--expected-issuer", "them", "--output", "json")
    v = json.loads(r.stdout)["verification"]
    assert r.exit_code == 3 and v["signature"] is True and v["audience"] is False and v["issuer"] is False


def test_expected_audience_without_key(run_cli, fixed_now):
    r = run_cli("decode", "--jwt", qscloud_token(), "--expected-audience", "other")
    assert r.exit_code == 3
    r = run_cli("decode", "--jwt", qscloud_token(), "--expected-audience", "qlik.api/login/jwt-session")
    assert r.exit_code == 0


def test_decode_token_sources(run_cli, tmp_path, fixed_now):
    token = qscloud_token()
    f = tmp_path / "t.txt"
    f.write_text(f"  Bearer {token}\n")
    for argv, stdin in ((["--jwt-file", str(f)], None), (["--jwt-file", "-"], token + "\n"), ([], token),
                        (["--jwt", f"Bearer {token} "], None)):
        r = run_cli("decode", *argv, "--cert-publickey-file", PUB, stdin=stdin)
        assert r.exit_code == 0, (argv, r.stderr)


def test_decode_jwks_file_picks_key_by_kid(run_cli, tmp_path, fixed_now):
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    jwks = {"keys": [qs_jwt.public_jwk(load_pem_public_key(key_bytes("other2048_public.pem")), kid="other"),
                     qs_jwt.public_jwk(load_pem_public_key(key_bytes("rsa2048_public.pem")), kid="kid-1")]}
    f = tmp_path / "jwks.json"
    f.write_text(json.dumps(jwks))
    assert run_cli("decode", "--jwt", qscloud_token(), "--jwks-file", str(f)).exit_code == 0
    r = run_cli("decode", "--jwt", qscloud_token(keyid="nope"), "--jwks-file", str(f), "--output", "json")
    assert r.exit_code == 3 and "no key in the key set" in r.stdout


def test_decode_algorithms_option(run_cli, fixed_now):
    token = qscloud_token(algorithm="RS512")
    assert run_cli("decode", "--jwt", token, "--cert-publickey-file", PUB, "--algorithms", "RS256").exit_code == 3
    assert run_cli("decode", "--jwt", token, "--cert-publickey-file", PUB, "--algorithms", "RS512").exit_code == 0
    assert run_cli("decode", "--jwt", token, "--algorithms", "HS256").exit_code == 2


def test_decode_leeway(run_cli, fixed_now):
    token = qscloud_token(now=FIXED_NOW - 630)  # expired 30 s ago
    assert run_cli("decode", "--jwt", token, "--cert-publickey-file", PUB).exit_code == 3
    assert run_cli("decode", "--jwt", token, "--cert-publickey-file", PUB, "--leeway", "60").exit_code == 0
    assert run_cli("decode", "--jwt", token, "--leeway", "-1").exit_code == 2


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "..", "x" * 70000, "Åäö.b.c",
                                   "eyJhbGciOiJub25lIn0.eyJhIjoxfQ.", "a.b.c.d.e"])
def test_decode_malformed_is_exit_1(run_cli, token):
    r = run_cli("decode", "--jwt", token) if token else run_cli("decode", "--jwt-file", "-", stdin="")
    assert r.exit_code == 1 and r.stdout == "" and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_decode_hostile_header_values_are_escaped(run_cli, fixed_now):
    header = {"alg": "RS256", "kid": "../../etc/passwd\x1b[31m\u202e", "jku": "http://127.0.0.1:9/x",
              "x5u": "file:///etc/shadow"}
    token = Signer(key_bytes("rsa2048_pkcs8.pem")).sign(header, {"sub": "x\x07", "exp": FIXED_NOW + 60})
    r = run_cli("decode", "--jwt", token, "--cert-publickey-file", PUB)
    assert r.exit_code == 0
    assert "\x1b" not in r.stdout and "\u202e" not in r.stdout and "\x07" not in r.stdout
    assert "\\u001b" in r.stdout and "\\u202e" in r.stdout


def test_decode_both_token_and_key_from_stdin_refused(run_cli):
    assert run_cli("decode", "--cert-publickey-file", "-", stdin="x").exit_code == 2


def test_decode_jwt_and_jwt_file_refused(run_cli, tmp_path):
    assert run_cli("decode", "--jwt", "a", "--jwt-file", str(tmp_path / "x")).exit_code == 2


def test_decode_bad_key_file_is_exit_1(run_cli, fixed_now):
    r = run_cli("decode", "--jwt", qscloud_token(), "--cert-publickey-file", key_path("rsa1024_public.pem"))
    assert r.exit_code == 1 and "2048" in r.stderr


# --- check ----------------------------------------------------------------------------------------


def test_check_our_token_has_no_findings(run_cli, fixed_now):
    r = run_cli("check", "--target", "qscloud", "--jwt", qscloud_token(), "--issuer", "my-app", "--keyid", "kid-1",
                "--cert-publickey-file", CERT, "--output", "json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {"target": "qscloud", "ok": True, "findings": []}


def test_check_flags_every_defect_of_a_node_token(run_cli, fixed_now):
    r = run_cli("check", "--target", "qscloud", "--jwt", node_style_token(), "--output", "json")
    assert r.exit_code == 3
    data = json.loads(r.stdout)
    assert data["ok"] is False
    rules = {f["rule"]: f for f in data["findings"]}
    assert {"groups", "email_verified", "sub", "lifetime"} <= set(rules)
    assert rules["groups"]["message"] == "groups: claim 'group' is not read by Qlik Cloud; rename it to 'groups'"
    assert rules["lifetime"]["message"].startswith("lifetime: 365 days between nbf and exp exceeds Qlik Cloud's 3600 s")
    for finding in data["findings"]:
        assert set(finding) == {"rule", "severity", "message", "fix"} and finding["fix"]


def test_check_text_output(run_cli, fixed_now):
    r = run_cli("check", "--target", "qscloud", "--jwt", node_style_token())
    assert r.exit_code == 3
    assert "ERROR: groups: claim 'group' is not read by Qlik Cloud; rename it to 'groups'" in r.stdout
    assert "  fix: " in r.stdout


def test_check_missing_nbf_quotes_qlik(run_cli, fixed_now):
    payload = {"iss": "i", "aud": "qlik.api/login/jwt-session", "sub": "s", "subType": "user", "name": "n",
               "jti": "j" * 30, "iat": FIXED_NOW, "exp": FIXED_NOW + 60}
    token = Signer(key_bytes("rsa2048_pkcs8.pem")).sign({"alg": "RS256", "typ": "JWT", "kid": "k"}, payload)
    r = run_cli("check", "--target", "qscloud", "--jwt", token)
    assert r.exit_code == 3
    assert 'nbf: missing; Qlik answers "JWT_LOGIN_VALIDATIONS Missing required claim: nbf"' in r.stdout


def test_check_expected_values_and_key(run_cli, fixed_now):
    r = run_cli("check", "--target", "qscloud", "--jwt", qscloud_token(), "--issuer", "other", "--keyid", "k2",
                "--cert-publickey-file", OTHER_PUB, "--output", "json")
    rules = {f["rule"] for f in json.loads(r.stdout)["findings"]}
    assert r.exit_code == 3 and {"iss", "kid", "signature"} <= rules


def test_check_warnings_only_pass_unless_strict(run_cli, fixed_now):
    token = qscloud_token(algorithm="RS384")  # not documented for Qlik Cloud: a warning only
    r = run_cli("check", "--target", "qscloud", "--jwt", token)
    assert r.exit_code == 0 and "WARNING: alg" in r.stdout
    assert run_cli("check", "--target", "qscloud", "--jwt", token, "--strict").exit_code == 3
    assert run_cli("check", "--target", "qscloud", "--jwt", qscloud_token(), "--strict").exit_code == 0


def test_check_qseow(run_cli, fixed_now):
    token = qs_jwt.create_qseow_token(key_bytes("rsa2048_pkcs8.pem"), user_id="alice", user_directory="ACME",
                                      audience="qlik", expires="1h", now=FIXED_NOW).token
    ok = run_cli("check", "--target", "qseow", "--jwt", token, "--audience", "qlik", "--cert-publickey-file", CERT)
    assert ok.exit_code == 0, ok.stdout
    r = run_cli("check", "--target", "qseow", "--jwt", token, "--audience", "other", "--userid-claim", "userid",
                "--output", "json")
    assert r.exit_code == 3
    findings = json.loads(r.stdout)["findings"]
    assert {f["rule"] for f in findings} == {"aud", "userid"}
    assert any("case-sensitive" in f["message"] for f in findings)


def test_check_options_of_the_other_target_refused(run_cli, fixed_now):
    assert run_cli("check", "--target", "qscloud", "--jwt", qscloud_token(), "--audience", "x").exit_code == 2
    assert run_cli("check", "--target", "qseow", "--jwt", qscloud_token(), "--issuer", "x").exit_code == 2


def test_check_requires_target(run_cli):
    r = run_cli("check", "--jwt", "a.b.c")
    assert r.exit_code == 2 and "--target" in r.stderr


# --- cert -----------------------------------------------------------------------------------------


def test_cert_create_show_jwks_check(run_cli, tmp_path):
    prefix = str(tmp_path) + "/k-"
    r = run_cli("cert", "create", "--prefix", prefix, "--days", "90", "--key-size", "2048", "--cn", "acme",
                "--output", "json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["certificate"] == prefix + "publickey.cer" and summary["encrypted"] is False
    assert stat.S_IMODE(os.stat(prefix + "privatekey.pem").st_mode) == 0o600

    shown = run_cli("cert", "show", prefix + "publickey.cer", "--output", "json")
    info = json.loads(shown.stdout)
    assert info["kind"] == "certificate" and info["keySize"] == 2048 and info["subject"] == "CN=acme"
    assert info["thumbprint"] == summary["thumbprint"]
    assert info["pem"].startswith("-----BEGIN CERTIFICATE-----") and "\n" not in info["pem"]
    assert info["signatureHash"] == "sha256"

    text = run_cli("cert", "show", prefix + "privatekey.pem")
    assert text.exit_code == 0 and "private key" in text.stdout
    assert "PRIVATE KEY-----" not in text.stdout  # never prints the private key

    jwks = json.loads(run_cli("cert", "jwks", prefix + "publickey.pem").stdout)
    assert jwks["keys"][0]["kid"] == summary["thumbprint"] and jwks["keys"][0]["kty"] == "RSA"
    assert "d" not in jwks["keys"][0]
    custom = json.loads(run_cli("cert", "jwks", prefix + "privatekey.pem", "--kid", "my-key").stdout)
    assert custom["keys"][0]["kid"] == "my-key"
    assert qs_jwt.load_jwks(json.dumps(custom))[0].kid == "my-key"

    checked = run_cli("cert", "check", prefix + "privatekey.pem", "--output", "json")
    assert checked.exit_code == 0 and json.loads(checked.stdout)["ok"] is True
    assert run_cli("cert", "check", prefix + "publickey.cer").exit_code == 0


def test_cert_create_encrypted(run_cli, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text(PASSPHRASE)
    prefix = str(tmp_path) + "/"
    r = run_cli("cert", "create", "--prefix", prefix, "--days", "10", "--key-size", "2048", "--passphrase-file",
                str(pw))
    assert r.exit_code == 0
    data = Path(prefix + "privatekey.pem").read_bytes()
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    qs_jwt.load_private_key(data, passphrase=PASSPHRASE)
    assert PASSPHRASE not in r.stderr + r.stdout
    shown = run_cli("cert", "show", prefix + "privatekey.pem", "--passphrase-file", str(pw))
    assert shown.exit_code == 0 and "Encrypted: yes" in shown.stdout
    assert run_cli("cert", "show", prefix + "privatekey.pem").exit_code == 1


def test_cert_create_refuses_overwrite_and_bad_days(run_cli, tmp_path):
    (tmp_path / "publickey.pem").write_text("x")
    r = run_cli("cert", "create", "--prefix", str(tmp_path) + "/", "--days", "10", "--key-size", "2048")
    assert r.exit_code == 1 and "--force" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["publickey.pem"]
    assert run_cli("cert", "create", "--prefix", str(tmp_path) + "/", "--days", "0").exit_code == 2
    assert run_cli("cert", "create", "--prefix", str(tmp_path) + "/").exit_code == 2


def test_cert_check_failures(run_cli, tmp_path):
    assert run_cli("cert", "check", key_path("rsa1024_pkcs8.pem")).exit_code == 3
    assert run_cli("cert", "check", key_path("ec_p256.pem")).exit_code == 3
    expired = run_cli("cert", "check", key_path("rsa2048_cert_expired.pem"), "--output", "json")
    assert expired.exit_code == 3 and "expired" in expired.stdout
    loose = tmp_path / "loose.pem"
    loose.write_bytes(key_bytes("rsa2048_pkcs8.pem"))
    os.chmod(loose, 0o644)
    r = run_cli("cert", "check", str(loose))
    assert r.exit_code == 0 and "WARNING: permissions" in r.stdout and "chmod 600" in r.stdout
    assert run_cli("cert", "check", key_path("README.md")).exit_code == 1


def test_cert_needs_a_subcommand(run_cli):
    assert run_cli("cert").exit_code == 2
    assert run_cli("cert", "bogus").exit_code == 2


def test_cert_show_from_stdin(run_cli):
    r = run_cli("cert", "show", "-", stdin=key_bytes("rsa2048_cert.pem"))
    assert r.exit_code == 0 and "CN=qs-jwt-test" in r.stdout


def test_cert_jwks_of_an_encrypted_key(run_cli, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text(PASSPHRASE)
    r = run_cli("cert", "jwks", key_path("rsa2048_encrypted.pem"), "--passphrase-file", str(pw), "--kid", "k")
    assert r.exit_code == 0 and json.loads(r.stdout)["keys"][0]["kid"] == "k"
    assert run_cli("cert", "jwks", key_path("rsa2048_encrypted.pem")).exit_code == 1


def test_cert_show_of_a_private_key_points_to_the_certificate(run_cli):
    r = run_cli("cert", "show", key_path("rsa2048_pkcs8.pem"))
    assert "Qlik documents a certificate" in r.stdout and "BEGIN PUBLIC KEY" in r.stdout


def test_header_urls_and_keys_are_never_fetched_or_trusted(run_cli, monkeypatch, fixed_now):
    """jku/x5u/jwk/x5c are display data: with sockets blocked, decoding and checking still work, and an
    embedded attacker key does not make a forged token verify."""
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    attacker = load_pem_public_key(key_bytes("other2048_public.pem"))
    header = {"alg": "RS256", "kid": "kid-1", "jku": "https://127.0.0.1:1/jwks.json", "x5u": "https://127.0.0.1:1/c",
              "jwk": qs_jwt.public_jwk(attacker), "x5c": ["MIIB"]}
    forged = Signer(key_bytes("other2048_pkcs8.pem")).sign(header, {"sub": "admin", "exp": FIXED_NOW + 60})
    r = run_cli("decode", "--jwt", forged, "--cert-publickey-file", PUB, "--output", "json")
    assert r.exit_code == 3 and json.loads(r.stdout)["verification"]["signature"] is False
    assert run_cli("check", "--target", "qseow", "--jwt", forged, "--cert-publickey-file", PUB).exit_code == 3


def test_token_file_with_bom_and_crlf(run_cli, tmp_path, fixed_now):
    f = tmp_path / "t.txt"
    f.write_bytes(b"\xef\xbb\xbf" + qscloud_token().encode() + b"\r\n")
    assert run_cli("decode", "--jwt-file", str(f), "--cert-publickey-file", PUB).exit_code == 0


def test_two_tokens_in_one_file(run_cli, tmp_path, fixed_now):
    f = tmp_path / "t.txt"
    f.write_text(qscloud_token() + "\n" + qscloud_token() + "\n")
    r = run_cli("decode", "--jwt-file", str(f))
    assert r.exit_code == 1 and "more than one line" in r.stderr


def test_decode_output_text_and_minimal_output_conflict(run_cli, fixed_now):
    assert run_cli("decode", "--jwt", qscloud_token(), "--output", "text", "--minimal-output").exit_code == 2


def test_cert_show_ec_key_prints_its_pem(run_cli):
    r = run_cli("cert", "show", key_path("ec_p256.pem"))
    assert r.exit_code == 0 and "BEGIN PUBLIC KEY" in r.stdout and "need RSA" in r.stdout


def test_cert_jwks_refuses_small_keys(run_cli):
    r = run_cli("cert", "jwks", key_path("rsa1024_public.pem"))
    assert r.exit_code == 1 and "2048" in r.stderr and r.stdout == ""


def test_cert_show_missing_passphrase_names_the_options(run_cli):
    r = run_cli("cert", "show", key_path("rsa2048_encrypted.pem"))
    assert r.exit_code == 1 and "--passphrase-file" in r.stderr


def test_cert_create_in_a_missing_folder(run_cli, tmp_path):
    r = run_cli("cert", "create", "--prefix", str(tmp_path) + "/keys/", "--days", "5", "--key-size", "2048")
    assert r.exit_code == 1 and "create it first" in r.stderr
