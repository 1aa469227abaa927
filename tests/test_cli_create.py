"""create-qscloud and create-qseow from the command line: every option, the Node tool's command lines,
bad input, and what goes to stdout and stderr."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import jwt
import pytest

from conftest import FIXED_NOW, PASSPHRASE, key_bytes, key_path

KEY = key_path("rsa2048_pkcs8.pem")
PUB = key_bytes("rsa2048_public.pem")
AUD = "qlik.api/login/jwt-session"

QSCLOUD = ["create-qscloud", "--cert-privatekey-file", KEY, "--keyid", "kid-1", "--issuer", "my-app"]
QSEOW = ["create-qseow", "--cert-privatekey-file", KEY, "--userdir", "ACME", "--userid", "alice",
         "--audience", "qlik", "--expires", "1h"]


def claims(token: str, audience: str = AUD) -> dict:
    """Verify with PyJWT (signature, audience) and return the payload."""
    return jwt.decode(token, PUB, algorithms=["RS256", "RS384", "RS512"], audience=audience,
                      options={"verify_exp": False, "verify_nbf": False, "verify_iat": False})


def header(token: str) -> dict:
    return jwt.get_unverified_header(token)


# --- create-qscloud -------------------------------------------------------------------------------


def test_qscloud_full_command_line(run_cli, fixed_now):
    r = run_cli(*QSCLOUD, "--sub", "alice-42", "--useremail", "alice@example.com", "--useremail-verified", "true",
                "--username", "Alice Doe", "--groups", "Sales", "Team A", "--expires", "30m")
    assert r.exit_code == 0, r.stderr
    token = r.stdout.strip()
    assert r.stdout == token + "\n"  # the token alone on stdout
    assert r.stderr == ""
    assert header(token) == {"alg": "RS256", "typ": "JWT", "kid": "kid-1"}
    c = claims(token)
    assert c["iss"] == "my-app" and c["aud"] == AUD
    assert c["sub"] == "alice-42" and c["subType"] == "user" and c["name"] == "Alice Doe"
    assert c["email"] == "alice@example.com" and c["email_verified"] is True
    assert c["groups"] == ["Sales", "Team A"] and "group" not in c
    assert c["iat"] == c["nbf"] == FIXED_NOW and c["exp"] == FIXED_NOW + 1800
    assert len(c["jti"]) >= 22


def test_qscloud_defaults_sub_and_name_from_email(run_cli, fixed_now):
    r = run_cli(*QSCLOUD, "--useremail", "bob@example.com", "--useremail-verified", "no")
    c = claims(r.stdout.strip())
    assert c["sub"] == c["name"] == "bob@example.com"
    assert c["email_verified"] is False
    assert c["exp"] - c["nbf"] == 300  # default lifetime 5 minutes
    assert "groups" not in c


@pytest.mark.parametrize(("text", "value"), [("true", True), ("TRUE", True), ("yes", True), ("1", True),
                                             ("false", False), ("No", False), ("0", False)])
def test_useremail_verified_values(run_cli, text, value):
    r = run_cli(*QSCLOUD, "--useremail", "a@example.com", "--useremail-verified", text)
    assert claims(r.stdout.strip())["email_verified"] is value


def test_useremail_verified_rejects_other_text(run_cli):
    r = run_cli(*QSCLOUD, "--useremail", "a@example.com", "--useremail-verified", "banana")
    assert r.exit_code == 2 and r.stdout == ""
    assert "--useremail-verified: expected true or false (or yes/no, 1/0)" in r.stderr
    assert "banana" not in r.stderr  # a wrong value is not echoed: the accepted ones are listed


def test_useremail_requires_useremail_verified(run_cli):
    r = run_cli(*QSCLOUD, "--useremail", "a@example.com")
    assert r.exit_code == 2 and "--useremail-verified: required with --useremail" in r.stderr


def test_no_subject_is_a_usage_error(run_cli):
    r = run_cli(*QSCLOUD, "--username", "Nobody")
    assert r.exit_code == 2 and "--sub" in r.stderr and r.stdout == ""


def test_jti_is_new_per_token(run_cli):
    a = claims(run_cli(*QSCLOUD, "--sub", "s").stdout.strip())["jti"]
    b = claims(run_cli(*QSCLOUD, "--sub", "s").stdout.strip())["jti"]
    assert a != b


@pytest.mark.parametrize("alg", ["RS384", "RS512"])
def test_qscloud_other_algorithms_warn(run_cli, alg):
    r = run_cli(*QSCLOUD, "--sub", "s", "--algorithm", alg)
    assert r.exit_code == 0
    assert header(r.stdout.strip())["alg"] == alg
    assert "warning:" in r.stderr and "RS256" in r.stderr


def test_algorithm_outside_rsa_is_usage_error(run_cli):
    r = run_cli(*QSCLOUD, "--sub", "s", "--algorithm", "HS256")
    assert r.exit_code == 2 and r.stdout == ""


def test_claim_option_parses_json_or_keeps_text(run_cli):
    r = run_cli(*QSCLOUD, "--sub", "s", "--claim", "team=sales", "--claim", "level=3", "--claim", 'tags=["a","b"]',
                "--claim", 'code="007"', "--claim", "flag=true")
    c = claims(r.stdout.strip())
    assert (c["team"], c["level"], c["tags"], c["code"], c["flag"]) == ("sales", 3, ["a", "b"], "007", True)


@pytest.mark.parametrize("bad", ["noequals", "=x", "sub=other", "exp=1", "big=1e309"])
def test_bad_claim_option(run_cli, bad):
    r = run_cli(*QSCLOUD, "--sub", "s", "--claim", bad)
    assert r.exit_code == 2 and r.stdout == "" and "--claim" in r.stderr


def test_output_json(run_cli, fixed_now):
    r = run_cli(*QSCLOUD, "--sub", "s", "--output", "json")
    data = json.loads(r.stdout)
    assert set(data) == {"token", "header", "payload", "expiresAt", "warnings"}
    assert data["warnings"] == []
    assert claims(data["token"]) == data["payload"]
    assert data["header"]["kid"] == "kid-1"
    assert data["expiresAt"] == "2027-01-15T08:05:00Z"


def test_minimal_output_is_the_bare_token(run_cli):
    r = run_cli(*QSCLOUD, "--sub", "s", "--minimal-output", "--loglevel", "info")
    assert r.exit_code == 0 and r.stdout.count("\n") == 1 and r.stdout.startswith("eyJ")


@pytest.mark.parametrize("level", ["error", "warn", "warning", "info", "verbose", "debug"])
def test_token_printed_at_every_loglevel(run_cli, level):
    r = run_cli(*QSCLOUD, "--sub", "s", "--loglevel", level)
    assert r.exit_code == 0 and r.stdout.startswith("eyJ")


def test_bad_loglevel_is_usage_error(run_cli):
    r = run_cli(*QSCLOUD, "--sub", "s", "--loglevel", "loud")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1


# --- lifetimes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("expires", "seconds"), [("90s", 90), ("60m", 3600), ("0.5h", 1800), ("1h", 3600),
                                                  ("10 MINUTES", 600), ("1m30s", 90), ("500000ms", 500)])
def test_expires_grammar(run_cli, fixed_now, expires, seconds):
    c = claims(run_cli(*QSCLOUD, "--sub", "s", "--expires", expires).stdout.strip())
    assert c["exp"] - c["nbf"] == seconds


@pytest.mark.parametrize("expires", ["3600", "0", "0s", "-5m", "abc", "999999y", "1 month", ""])
def test_bad_expires_is_usage_error(run_cli, expires):
    r = run_cli(*QSCLOUD, "--sub", "s", "--expires", expires)
    assert r.exit_code == 2 and r.stdout == ""
    assert "--expires" in r.stderr and "Traceback" not in r.stderr


def test_bare_number_suggests_a_unit(run_cli):
    r = run_cli(*QSCLOUD, "--sub", "s", "--expires", "3600")
    assert "3600s" in r.stderr and "60m" in r.stderr


def test_qscloud_lifetime_over_an_hour_refused(run_cli):
    r = run_cli(*QSCLOUD, "--sub", "s", "--expires", "61m")
    assert r.exit_code == 2 and "3600" in r.stderr and "--allow-long-lifetime" in r.stderr


def test_allow_long_lifetime_warns(run_cli, fixed_now):
    r = run_cli(*QSCLOUD, "--sub", "s", "--expires", "365d", "--allow-long-lifetime")
    assert r.exit_code == 0 and "warning:" in r.stderr and "reject" in r.stderr
    c = claims(r.stdout.strip())
    assert c["exp"] - c["nbf"] == 365 * 86400


def test_qseow_long_lifetime_allowed(run_cli, fixed_now):
    c = claims(run_cli(*QSEOW[:-2], "--expires", "365d").stdout.strip(), audience="qlik")
    assert c["exp"] - c["iat"] == 365 * 86400


# --- create-qseow ---------------------------------------------------------------------------------


def test_qseow_claims(run_cli, fixed_now):
    r = run_cli(*QSEOW, "--username", "Alice", "--useremail", "alice@acme.test", "--groups", "g1", "g 2")
    assert r.exit_code == 0, r.stderr
    token = r.stdout.strip()
    assert header(token) == {"alg": "RS256", "typ": "JWT"}
    c = claims(token, audience="qlik")
    assert c == {"userId": "alice", "userDirectory": "ACME", "name": "Alice", "email": "alice@acme.test",
                 "groups": ["g1", "g 2"], "iat": FIXED_NOW, "exp": FIXED_NOW + 3600, "aud": "qlik"}


def test_qseow_claim_names_and_attributes(run_cli):
    r = run_cli(*QSEOW, "--userid-claim", "user", "--userdir-claim", "directory", "--groups-claim", "group",
                "--groups", "a", "--claim", "role=admin", "--algorithm", "RS512")
    token = r.stdout.strip()
    c = claims(token, audience="qlik")
    assert c["user"] == "alice" and c["directory"] == "ACME" and c["group"] == ["a"] and c["role"] == "admin"
    assert "userId" not in c and header(token)["alg"] == "RS512"


@pytest.mark.parametrize("args", [["--userid", ""], ["--userdir", " "], ["--audience", ""],
                                  ["--userid-claim", "exp"], ["--userid-claim", "userDirectory"],
                                  ["--claim", "aud=x"]])
def test_qseow_bad_values_are_usage_errors(run_cli, args):
    r = run_cli(*QSEOW, *args)
    assert r.exit_code == 2 and r.stdout == ""


@pytest.mark.parametrize("missing", ["--userdir", "--userid", "--audience", "--expires"])
def test_qseow_required_options(run_cli, missing):
    argv = list(QSEOW)
    i = argv.index(missing)
    del argv[i:i + 2]
    r = run_cli(*argv)
    assert r.exit_code == 2 and missing in r.stderr and r.stderr.count("\n") == 1


# --- the Node tool's syntax -------------------------------------------------------------------------


def test_groups_does_not_swallow_the_next_option(run_cli):
    # the Node tool made a group called '--minimal-output' here
    r = run_cli(*QSCLOUD, "--sub", "s", "--groups", "--minimal-output")
    assert r.exit_code == 2 and r.stdout == ""


def test_groups_repeated_flags_accumulate(run_cli):
    c = claims(run_cli(*QSCLOUD, "--sub", "s", "--groups", "a", "--groups", "b c").stdout.strip())
    assert c["groups"] == ["a", "b c"]


def test_groups_with_comma_is_one_group(run_cli):
    assert claims(run_cli(*QSCLOUD, "--sub", "s", "--groups", "a,b").stdout.strip())["groups"] == ["a,b"]


def test_unknown_option_and_abbreviation_refused(run_cli):
    assert run_cli(*QSCLOUD, "--sub", "s", "--bogus").exit_code == 2
    assert run_cli(*QSCLOUD, "--sub", "s", "--minimal").exit_code == 2  # no prefix matching


def test_positional_arguments_refused(run_cli):
    assert run_cli(*QSCLOUD, "--sub", "s", "extra").exit_code == 2


NODE_LINES = [
    # (command line from the Node tool's docs, exit code, what the token must show)
    ("create-qscloud --loglevel info --useremail joe.smith@example.com --useremail-verified true "
     "--username 'Joe Smith' --groups 'Group 1' 'Group 2' --issuer my-issuer --keyid my-key --expires 60m "
     f"--cert-privatekey-file {KEY}", 0, {"groups": ["Group 1", "Group 2"], "email_verified": True}),
    ("create-qscloud --loglevel warning --useremail a@b.c --useremail-verified true --username A "
     f"--issuer i --keyid k --expires 48h --cert-privatekey-file {KEY} --minimal-output", 2, None),
    ("create-qscloud --loglevel warn --useremail a@b.c --useremail-verified true --issuer i --keyid k "
     f"--expires 365d --cert-privatekey-file {KEY} --minimal-output", 2, None),
    ("create-qscloud --useremail a@b.c --useremail-verified false --issuer i --keyid k --expires 5m "
     f"--cert-privatekey-file {KEY}", 0, {"email_verified": False, "sub": "a@b.c"}),
    (f"create-qseow --loglevel info --userdir LAB --userid joe --username 'Joe Smith' --useremail joe@example.com "
     f"--groups 'Group 1' 'Group 2' --expires 365d --audience qlik.api --cert-privatekey-file {KEY}", 0,
     {"userId": "joe", "userDirectory": "LAB", "groups": ["Group 1", "Group 2"], "aud": "qlik.api"}),
    (f"create-qseow --userdir LAB --userid joe --expires 5y --audience qlik.api --cert-privatekey-file {KEY} "
     "--minimal-output --loglevel error", 0, {"userId": "joe"}),
    (f"create-qseow --userdir LAB --userid joe --expires 5y --audience qlik.api --cert-privatekey-file {KEY} "
     "--cert-create false", 0, {"userId": "joe"}),
]


@pytest.mark.parametrize(("line", "code", "expect"), NODE_LINES, ids=range(len(NODE_LINES)))
def test_node_documented_command_lines(run_cli, line, code, expect):
    import shlex

    r = run_cli(*shlex.split(line))
    assert r.exit_code == code, r.stderr
    if expect is not None:
        audience = "qlik.api" if "create-qseow" in line else AUD
        c = claims(r.stdout.strip(), audience=audience)
        for name, value in expect.items():
            assert c[name] == value


# --- keys -------------------------------------------------------------------------------------------


def test_private_key_formats(run_cli):
    for name in ("rsa2048_pkcs1.pem", "rsa2048_pkcs8.pem", "rsa2048_pkcs8.der"):
        r = run_cli("create-qscloud", "--cert-privatekey-file", key_path(name), "--keyid", "k", "--issuer", "i",
                    "--sub", "s")
        assert r.exit_code == 0, (name, r.stderr)
        claims(r.stdout.strip())


def test_private_key_from_stdin(run_cli):
    r = run_cli("create-qscloud", "--cert-privatekey-file", "-", "--keyid", "k", "--issuer", "i", "--sub", "s",
                stdin=key_bytes("rsa2048_pkcs8.pem"))
    assert r.exit_code == 0
    claims(r.stdout.strip())


def test_private_key_from_environment(run_cli):
    r = run_cli("create-qscloud", "--keyid", "k", "--issuer", "i", "--sub", "s",
                env={"QS_JWT_PRIVATE_KEY": key_bytes("rsa2048_pkcs1.pem").decode()})
    assert r.exit_code == 0 and r.stderr == ""
    claims(r.stdout.strip())


def test_private_key_on_argv_warns(run_cli):
    pem = key_bytes("rsa2048_pkcs8.pem").decode()
    r = run_cli("create-qscloud", "--cert-privatekey", pem, "--keyid", "k", "--issuer", "i", "--sub", "s")
    assert r.exit_code == 0 and "process list" in r.stderr
    assert "PRIVATE KEY" not in r.stderr
    claims(r.stdout.strip())


def test_encrypted_key_with_passphrase_file_and_env(run_cli, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text(PASSPHRASE + "\n")
    enc = key_path("rsa2048_encrypted.pem")
    r = run_cli("create-qscloud", "--cert-privatekey-file", enc, "--cert-privatekey-passphrase-file", str(pw),
                "--keyid", "k", "--issuer", "i", "--sub", "s")
    assert r.exit_code == 0, r.stderr
    r = run_cli("create-qscloud", "--cert-privatekey-file", enc, "--keyid", "k", "--issuer", "i", "--sub", "s",
                env={"QS_JWT_PRIVATE_KEY_PASSPHRASE": PASSPHRASE})
    assert r.exit_code == 0, r.stderr
    claims(r.stdout.strip())


@pytest.mark.parametrize(("name", "env", "message"), [
    ("rsa2048_encrypted.pem", {}, "passphrase is required"),
    ("rsa2048_encrypted.pem", {"QS_JWT_PRIVATE_KEY_PASSPHRASE": "Wr0ng-Secret"}, "wrong passphrase"),
    ("rsa2048_pkcs8.pem", {"QS_JWT_PRIVATE_KEY_PASSPHRASE": "Unneeded-Secret"}, "not encrypted"),
    ("rsa2048_public.pem", {}, "public key"),
    ("rsa2048_cert.pem", {}, "certificate"),
    ("ec_p256.pem", {}, "RSA"),
    ("rsa1024_pkcs8.pem", {}, "2048"),
    ("README.md", {}, "not a readable private key"),
    ("does-not-exist.pem", {}, "no such file"),
])
def test_bad_keys_fail_cleanly(run_cli, name, env, message):
    path = key_path(name)
    r = run_cli("create-qscloud", "--cert-privatekey-file", path, "--keyid", "k", "--issuer", "i", "--sub", "s",
                env=env)
    assert r.exit_code == 1, r.stderr
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1 and message in r.stderr and path in r.stderr
    assert "Traceback" not in r.stderr and "BEGIN" not in r.stderr
    for secret in ("Wr0ng-Secret", "Unneeded-Secret", PASSPHRASE):
        assert secret not in r.stderr


def test_empty_key_and_directory(run_cli, tmp_path):
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    for path, message in ((empty, "empty"), (tmp_path, "directory")):
        r = run_cli("create-qscloud", "--cert-privatekey-file", str(path), "--keyid", "k", "--issuer", "i",
                    "--sub", "s")
        assert r.exit_code == 1 and message in r.stderr


def test_no_key_at_all_is_usage_error(run_cli):
    r = run_cli("create-qscloud", "--keyid", "k", "--issuer", "i", "--sub", "s")
    assert r.exit_code == 2 and "--cert-privatekey-file" in r.stderr and "QS_JWT_PRIVATE_KEY" in r.stderr


def test_undecodable_argument_is_usage_error(run_cli):
    # what Python makes of `--username $'\xff'` under a UTF-8 locale
    r = run_cli(*QSCLOUD, "--sub", "s", "--username", "\udcff")
    assert r.exit_code == 2 and r.stdout == "" and "--username" in r.stderr


def test_unicode_claims_round_trip(run_cli):
    import unicodedata

    nfd = unicodedata.normalize("NFD", "Åsa")
    r = run_cli(*QSCLOUD, "--sub", "Åsa-😀", "--username", nfd, "--groups", "שלום", "Åsa")
    c = claims(r.stdout.strip())
    assert c["sub"] == "Åsa-😀" and c["name"] == nfd and c["groups"] == ["שלום", "Åsa"]


# --- --cert-create ----------------------------------------------------------------------------------


def _create_args(prefix: str, *extra: str) -> list[str]:
    return ["create-qscloud", "--keyid", "k", "--issuer", "i", "--sub", "s", "--cert-create",
            "--cert-create-expires-days", "30", "--cert-create-key-size", "2048", "--cert-file-prefix", prefix, *extra]


def test_cert_create_writes_three_files_and_signs_with_the_new_key(run_cli, tmp_path):
    prefix = str(tmp_path) + "/new-"
    r = run_cli(*_create_args(prefix))
    assert r.exit_code == 0, r.stderr
    private = Path(prefix + "privatekey.pem")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert Path(prefix + "publickey.pem").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    cert = Path(prefix + "publickey.cer").read_bytes()
    assert cert.startswith(b"-----BEGIN CERTIFICATE-----")
    from cryptography import x509

    public = x509.load_pem_x509_certificate(cert).public_key()
    jwt.decode(r.stdout.strip(), public, algorithms=["RS256"], audience=AUD)
    assert "publickey.cer" in r.stderr and "PRIVATE KEY" not in r.stderr and "PRIVATE KEY" not in r.stdout


@pytest.mark.parametrize("value", ["true", None])
def test_cert_create_bare_and_true(run_cli, tmp_path, value):
    argv = _create_args(str(tmp_path) + "/")
    if value is not None:
        argv.insert(argv.index("--cert-create") + 1, value)
    assert run_cli(*argv).exit_code == 0


def test_cert_create_refuses_to_overwrite(run_cli, tmp_path):
    prefix = str(tmp_path) + "/"
    existing = Path(prefix + "publickey.cer")
    existing.write_bytes(b"keep me")
    os.chmod(existing, 0o644)
    before = existing.stat()
    r = run_cli(*_create_args(prefix))
    assert r.exit_code == 1 and "--force" in r.stderr and r.stdout == ""
    assert existing.read_bytes() == b"keep me"
    after = existing.stat()
    assert (after.st_mode, after.st_mtime_ns) == (before.st_mode, before.st_mtime_ns)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["publickey.cer"]


def test_cert_create_force_replaces_with_private_modes(run_cli, tmp_path):
    prefix = str(tmp_path) + "/"
    old = Path(prefix + "privatekey.pem")
    old.write_bytes(b"old")
    os.chmod(old, 0o644)
    old_umask = os.umask(0)
    try:
        r = run_cli(*_create_args(prefix, "--force"))
    finally:
        os.umask(old_umask)
    assert r.exit_code == 0
    assert stat.S_IMODE(old.stat().st_mode) == 0o600 and old.read_bytes() != b"old"


@pytest.mark.parametrize("days", ["0", "-1", "NaN", "1e3", "1000000000", "abc"])
def test_cert_create_bad_days_before_any_key(run_cli, tmp_path, monkeypatch, days):
    import qs_jwt.certs

    monkeypatch.setattr(qs_jwt.certs, "generate_rsa_key", lambda *a: pytest.fail("a key was generated"))
    argv = _create_args(str(tmp_path) + "/")
    argv[argv.index("--cert-create-expires-days") + 1] = days
    r = run_cli(*argv)
    assert r.exit_code == 2 and "--cert-create-expires-days" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_cert_create_needs_days(run_cli, tmp_path):
    argv = _create_args(str(tmp_path) + "/")
    i = argv.index("--cert-create-expires-days")
    del argv[i:i + 2]
    r = run_cli(*argv)
    assert r.exit_code == 2 and "--cert-create-expires-days" in r.stderr and list(tmp_path.iterdir()) == []


def test_cert_create_bad_claims_write_nothing(run_cli, tmp_path, monkeypatch):
    import qs_jwt.certs

    monkeypatch.setattr(qs_jwt.certs, "generate_rsa_key", lambda *a: pytest.fail("a key was generated"))
    r = run_cli(*_create_args(str(tmp_path) + "/", "--expires", "365d"))
    assert r.exit_code == 2 and list(tmp_path.iterdir()) == []


def test_cert_create_missing_folder(run_cli, tmp_path):
    r = run_cli(*_create_args(str(tmp_path) + "/nope/"))
    assert r.exit_code == 1 and "does not exist" in r.stderr and r.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_cert_create_false_needs_a_key(run_cli):
    r = run_cli("create-qscloud", "--keyid", "k", "--issuer", "i", "--sub", "s", "--cert-create", "false")
    assert r.exit_code == 2


def test_cert_create_bad_choice(run_cli):
    assert run_cli(*QSCLOUD, "--sub", "s", "--cert-create", "maybe").exit_code == 2


def test_negative_expires_reaches_the_duration_check(run_cli):
    r = run_cli(*QSCLOUD, "--sub", "s", "--expires", "-5m")
    assert r.exit_code == 2 and "must be positive" in r.stderr


def test_unknown_option_points_at_the_command_help(run_cli):
    r = run_cli(*QSCLOUD, "--sub", "s", "--bogus", "x")
    assert r.exit_code == 2 and "unrecognized arguments: --bogus and 1 value(s) without an option" in r.stderr
    assert "'qs-jwt create-qscloud --help'" in r.stderr


def test_file_names_in_messages_are_escaped(run_cli, tmp_path):
    path = str(tmp_path / "a\x1b[31mb.pem")
    r = run_cli(*QSCLOUD[:2], path, *QSCLOUD[3:], "--sub", "s")
    assert r.exit_code == 1 and "\x1b" not in r.stderr and "\\u001b" in r.stderr


def test_cert_create_summary_names_the_thumbprint(run_cli, tmp_path):
    r = run_cli(*_create_args(str(tmp_path) + "/"))
    assert r.exit_code == 0 and "thumbprint:" in r.stderr and "usable as the key id" in r.stderr


# --- from the new-user review --------------------------------------------------------------------


def test_existing_files_message_suggests_the_existing_key(run_cli, tmp_path):
    prefix = str(tmp_path) + "/"
    assert run_cli(*_create_args(prefix)).exit_code == 0
    r = run_cli(*_create_args(prefix))
    assert r.exit_code == 1 and f"--cert-privatekey-file {prefix}privatekey.pem" in r.stderr


def test_cert_create_encrypts_the_new_key_with_the_passphrase_file(run_cli, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text(PASSPHRASE)
    prefix = str(tmp_path) + "/k-"
    r = run_cli(*_create_args(prefix, "--cert-privatekey-passphrase-file", str(pw)))
    assert r.exit_code == 0, r.stderr
    data = Path(prefix + "privatekey.pem").read_bytes()
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    claims_key = __import__("qs_jwt").load_private_key(data, passphrase=PASSPHRASE)
    jwt.decode(r.stdout.strip(), claims_key.public_key(), algorithms=["RS256"], audience=AUD)


def test_certificate_options_without_cert_create_are_reported(run_cli):
    r = run_cli(*QSCLOUD, "--sub", "s", "--cert-file-prefix", "x/", "--force", "--cert-create-key-size", "2048")
    assert r.exit_code == 0
    assert "--cert-file-prefix, --cert-create-key-size, --force only apply with --cert-create" in r.stderr


def test_missing_folder_says_create_it_first(run_cli, tmp_path):
    r = run_cli(*_create_args(str(tmp_path) + "/keys/"))
    assert r.exit_code == 1 and "create it first" in r.stderr


def test_output_json_and_minimal_output_conflict(run_cli):
    r = run_cli(*QSCLOUD, "--sub", "s", "--output", "json", "--minimal-output")
    assert r.exit_code == 2 and r.stdout == ""


def test_missing_passphrase_names_the_options(run_cli):
    r = run_cli("create-qscloud", "--cert-privatekey-file", key_path("rsa2048_encrypted.pem"), "--keyid", "k",
                "--issuer", "i", "--sub", "s")
    assert r.exit_code == 1
    assert "--cert-privatekey-passphrase-file" in r.stderr and "QS_JWT_PRIVATE_KEY_PASSPHRASE" in r.stderr


def test_key_file_readable_by_others_warns(run_cli, tmp_path):
    loose = tmp_path / "key.pem"
    loose.write_bytes(key_bytes("rsa2048_pkcs8.pem"))
    os.chmod(loose, 0o644)
    r = run_cli("create-qscloud", "--cert-privatekey-file", str(loose), "--keyid", "k", "--issuer", "i",
                "--sub", "s")
    assert r.exit_code == 0 and "mode 0644" in r.stderr and f"chmod 600 {loose}" in r.stderr
    os.chmod(loose, 0o600)
    assert run_cli("create-qscloud", "--cert-privatekey-file", str(loose), "--keyid", "k", "--issuer", "i",
                   "--sub", "s").stderr == ""


def test_a_path_given_to_cert_privatekey(run_cli):
    r = run_cli("create-qscloud", "--cert-privatekey", KEY, "--keyid", "k", "--issuer", "i", "--sub", "s")
    assert r.exit_code == 2 and f"--cert-privatekey-file {KEY}" in r.stderr


def test_group_claim_for_qlik_cloud_warns(run_cli):
    r = run_cli(*QSCLOUD, "--sub", "s", "--claim", 'group=["x"]')
    assert r.exit_code == 0 and "--groups" in r.stderr


def test_claim_json_with_repeated_member_is_refused(run_cli):
    r = run_cli(*QSCLOUD, "--sub", "s", "--claim", 'x={"a":1,"a":2}')
    assert r.exit_code == 2 and "repeats a member name" in r.stderr


def test_qseow_groups_note_for_migrating_users(run_cli):
    assert run_cli(*QSEOW, "--groups", "g").stderr == ""  # no noise in every cron run
    r = run_cli(*QSEOW, "--groups", "g", "--loglevel", "verbose")
    assert "--groups-claim group" in r.stderr
    assert run_cli(*QSEOW, "--groups", "g", "--groups-claim", "groups").stderr == ""


def test_help_alias_of_the_node_tool(run_cli):
    r = run_cli("help", "create-qseow")
    assert r.exit_code == 0 and "usage: qs-jwt create-qseow" in r.stdout


def test_output_that_cannot_be_written(run_cli, monkeypatch):
    import errno
    import sys

    class Full:
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self) -> None:
            pass

    monkeypatch.setattr(sys, "stdout", Full())
    from qs_jwt.cli import main

    assert main([*QSCLOUD, "--sub", "s"]) == 1


def test_signing_key_with_an_unusual_exponent_warns(run_cli, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=3, key_size=2048)
    path = tmp_path / "e3.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    r = run_cli("create-qscloud", "--cert-privatekey-file", str(path), "--keyid", "k", "--issuer", "i", "--sub", "s")
    assert r.exit_code == 0 and "exponent is 3, not 65537" in r.stderr
