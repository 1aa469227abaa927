"""Keys as a user brings them to the command line: PKCS#12, JWKs with restrictions, long passphrases, keys in
the environment."""

from __future__ import annotations

import json

import pytest

import qs_jwt
from conftest import FIXED_NOW, PASSPHRASE, key_bytes, key_path

PEM = key_bytes("rsa2048_pkcs8.pem")
TOKEN = qs_jwt.create_qscloud_token(PEM, issuer="my-app", keyid="k1", sub="alice", now=FIXED_NOW).token


@pytest.fixture
def pw_file(tmp_path):
    path = tmp_path / "pw.txt"
    path.write_text(PASSPHRASE + "\n")
    return str(path)


def test_a_pfx_signs_and_verifies(run_cli, fixed_now, pw_file) -> None:
    pfx = key_path("rsa2048.p12")
    made = run_cli("create-qseow", "--cert-privatekey-file", pfx, "--cert-privatekey-passphrase-file", pw_file,
                   "--userdir", "ACME", "--userid", "alice", "--audience", "qlik", "--expires", "1h")
    assert made.exit_code == 0, made.stderr
    token = made.stdout.strip()
    checked = run_cli("decode", "--jwt", token, "--cert-publickey-file", pfx, "--passphrase-file", pw_file,
                      "--expected-audience", "qlik")
    assert checked.exit_code == 0 and "signature:  valid" in checked.stdout
    shown = run_cli("cert", "show", pfx, "--passphrase-file", pw_file, "--output", "json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["container"] == "PKCS#12"


def test_a_pfx_without_its_password_says_how_to_give_it(run_cli, fixed_now) -> None:
    result = run_cli("decode", "--jwt", TOKEN, "--cert-publickey-file", key_path("rsa2048.p12"))
    assert result.exit_code == 1
    assert "--passphrase-file" in result.stderr or "passphrase" in result.stderr
    assert PASSPHRASE not in result.stderr


def test_a_pfx_without_a_password(run_cli, fixed_now) -> None:
    result = run_cli("create-qscloud", "--cert-privatekey-file", key_path("rsa2048_nopass.p12"), "--issuer", "i",
                     "--keyid", "k", "--sub", "s")
    assert result.exit_code == 0, result.stderr


def _jwk_file(tmp_path, **members) -> str:
    jwk = qs_jwt.public_jwk(qs_jwt.load_public_key(key_bytes("rsa2048_public.pem")), kid="k1") | members
    path = tmp_path / "key.jwk"
    path.write_text(json.dumps({k: v for k, v in jwk.items() if v is not None}))
    return str(path)


def test_a_single_jwk_keeps_its_alg_restriction(run_cli, fixed_now, tmp_path) -> None:
    restricted = _jwk_file(tmp_path, alg="RS512")
    result = run_cli("decode", "--jwt", TOKEN, "--cert-publickey-file", restricted)
    assert result.exit_code == 3 and "the key is for \"RS512\"" in result.stdout
    verification = qs_jwt.verify(TOKEN, (tmp_path / "key.jwk").read_bytes(), now=FIXED_NOW)
    assert verification.signature is False
    assert run_cli("decode", "--jwt", TOKEN, "--cert-publickey-file", _jwk_file(tmp_path, alg="RS256")).exit_code == 0


@pytest.mark.parametrize("members", [{"use": "enc"}, {"key_ops": ["encrypt"]}])
def test_a_single_jwk_not_meant_for_signatures_is_refused(run_cli, fixed_now, tmp_path, members) -> None:
    result = run_cli("decode", "--jwt", TOKEN, "--cert-publickey-file", _jwk_file(tmp_path, **members))
    assert result.exit_code == 1


def test_a_single_jwk_with_another_kid_does_not_verify(run_cli, fixed_now, tmp_path) -> None:
    result = run_cli("decode", "--jwt", TOKEN, "--cert-publickey-file", _jwk_file(tmp_path, kid="other"))
    assert result.exit_code == 3 and "kid" in result.stdout


@pytest.mark.parametrize("name", ["rsa1024_public.pem", "rsa_pss2048_public.pem", "ec_p256_public.pem"])
def test_cert_jwks_refuses_what_decode_refuses(run_cli, fixed_now, name) -> None:
    jwks = run_cli("cert", "jwks", key_path(name))
    decode = run_cli("decode", "--jwt", TOKEN, "--cert-publickey-file", key_path(name))
    assert jwks.exit_code == decode.exit_code == 1
    assert jwks.stdout == ""


@pytest.mark.parametrize("command", ["cert-create", "create-qscloud"])
def test_a_passphrase_too_long_for_a_new_key_is_a_usage_error_before_any_key(run_cli, tmp_path, command) -> None:
    long = tmp_path / "long.txt"
    long.write_text("p" * 1024)
    folder = tmp_path / "keys"
    folder.mkdir()
    if command == "cert-create":
        argv = ["cert", "create", "--cert-file-prefix", f"{folder}/", "--days", "1", "--passphrase-file", str(long)]
        flag = "--passphrase-file"
    else:
        argv = ["create-qscloud", "--issuer", "i", "--keyid", "k", "--sub", "s", "--cert-create",
                "--cert-create-expires-days", "1", "--cert-file-prefix", f"{folder}/",
                "--cert-privatekey-passphrase-file", str(long)]
        flag = "--cert-privatekey-passphrase-file"
    result = run_cli(*argv)
    assert result.exit_code == 2, result.stderr
    assert flag in result.stderr and "1023" in result.stderr
    assert "creating a" not in result.stderr  # refused before any key was generated
    assert list(folder.iterdir()) == []


def test_a_key_with_leading_whitespace_in_the_environment(run_cli, fixed_now) -> None:
    env_key = "\n  " + key_bytes("rsa2048_encrypted.pem").decode()
    result = run_cli("create-qscloud", "--issuer", "i", "--keyid", "k", "--sub", "s",
                     env={"QS_JWT_PRIVATE_KEY": env_key, "QS_JWT_PRIVATE_KEY_PASSPHRASE": PASSPHRASE})
    assert result.exit_code == 0, result.stderr


def test_an_empty_claim_name_option_is_refused_not_defaulted(run_cli, fixed_now) -> None:
    token = qs_jwt.create_qseow_token(PEM, user_id="u", user_directory="d", audience="a", expires="1h").token
    result = run_cli("check", "--target", "qseow", "--jwt", token, "--userid-claim", "")
    assert result.exit_code == 2 and "--userid-claim" in result.stderr
