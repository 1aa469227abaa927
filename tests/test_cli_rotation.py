"""Key rotation end to end against the emulators (real HTTPS servers on 127.0.0.1): ``qs-jwt qscloud idp rotate``,
``qs-jwt qscloud idp retire`` and ``qs-jwt qseow virtual-proxy rotate-cert``.

Every new key is made with ``--cert-create-key-size 2048`` (fast); every file is written in ``tmp_path``.
Exit codes: 0 ok, 1 error, 2 usage, 3 check failed, 4 Qlik API error.
"""

from __future__ import annotations

import datetime
import json
import os
import shlex
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from cryptography.x509.oid import NameOID

import qs_jwt
from conftest import key_bytes, key_path
from qlik_emulator.client import send
from qlik_emulator.fixtures import QSCLOUD_API_KEY, QSCLOUD_ISSUER, QSCLOUD_KID

OLD_KEY = key_path("rsa2048_pkcs8.pem")
OLD_CERT = key_path("rsa2048_cert.pem")
OLD_CERT_PEM = key_bytes("rsa2048_cert.pem")
OTHER_KEY = key_path("other2048_pkcs8.pem")
OTHER_PUBLIC_PEM = key_bytes("other2048_public.pem")
IDPS = "/api/v1/identity-providers"
JWT_AUTH = "jwtAuth"
ADMIN_PREFIX = "admin"
ADMIN_AUDIENCE = "admin"
#: what may differ in a virtual proxy after its certificate is replaced
CERT_FIELDS = {"jwtPublicKeyCertificate", "modifiedDate"}


def thumbprint_of_key_file(path: str | Path) -> str:
    key = load_pem_private_key(Path(path).read_bytes(), password=None)
    return qs_jwt.jwk_thumbprint(key.public_key())  # type: ignore[arg-type]


OLD_THUMBPRINT = thumbprint_of_key_file(OLD_KEY)
OTHER_THUMBPRINT = qs_jwt.jwk_thumbprint(load_pem_public_key(OTHER_PUBLIC_PEM))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def other_cert_pem() -> bytes:
    """A self-signed certificate of tests/keys/other2048_pkcs8.pem (the repository has none)."""
    key = load_pem_private_key(key_bytes("other2048_pkcs8.pem"), password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qs-jwt rotation test")])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(start).not_valid_after(start + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))  # type: ignore[arg-type]
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def other_cert(tmp_path: Path, other_cert_pem: bytes) -> str:
    path = tmp_path / "other-cert.pem"
    path.write_bytes(other_cert_pem)
    return str(path)


@pytest.fixture
def cli(run_cli):  # type: ignore[no-untyped-def]
    """``run_cli`` that asserts no traceback anywhere and every stderr line naming the tool."""
    def run(*args: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        result = run_cli(*args, **kwargs)
        assert "Traceback" not in result.stderr, result.stderr
        assert "Traceback" not in result.stdout, result.stdout
        assert all(line.startswith("qs-jwt") for line in result.stderr.splitlines()), result.stderr
        return result

    return run


@pytest.fixture
def api_key_file(tmp_path: Path) -> str:
    path = tmp_path / "api-key.txt"
    path.write_text(QSCLOUD_API_KEY + "\n")
    path.chmod(0o600)
    return str(path)


def tenant(emu) -> list[str]:  # type: ignore[no-untyped-def]
    return ["--tenant", emu.url, "--ca-cert", str(emu.ca_cert_path), "--timeout", "5"]


def server(emu, prefix: str) -> list[str]:  # type: ignore[no-untyped-def]
    return ["--server", f"{emu.url}/{prefix}", "--ca-cert", str(emu.ca_cert_path), "--timeout", "5"]


def new_key(prefix: Path) -> list[str]:
    return ["--cert-file-prefix", str(prefix), "--cert-create-key-size", "2048"]


def key_files(prefix: Path) -> list[Path]:
    return [Path(f"{prefix}{name}") for name in ("privatekey.pem", "publickey.pem", "publickey.cer")]


def jwt_idps(emu, issuer: str = QSCLOUD_ISSUER) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    return [idp for idp in emu.identity_providers
            if idp["protocol"] == JWT_AUTH and idp["options"]["issuer"] == issuer]


def kid_of(idp: dict[str, Any]) -> str:
    return str(idp["options"]["staticKeys"][0]["kid"])


def idp_posts(emu) -> list[Any]:  # type: ignore[no-untyped-def]
    return [r for r in emu.requests if r.method == "POST" and r.path == IDPS]


def idp_deletes(emu) -> list[Any]:  # type: ignore[no-untyped-def]
    return [r for r in emu.requests if r.method == "DELETE" and r.path.startswith(IDPS + "/")]


def rotate(cli, emu, api_key_file: str, *args: str, issuer: str = QSCLOUD_ISSUER):  # type: ignore[no-untyped-def]
    return cli("qscloud", "idp", "rotate", *tenant(emu), "--api-key-file", api_key_file, "--issuer", issuer,
               "--output", "json", *args)


def retire(cli, emu, api_key_file: str, keep_kid: str, *args: str,  # type: ignore[no-untyped-def]
           issuer: str = QSCLOUD_ISSUER, **kwargs: Any):
    return cli("qscloud", "idp", "retire", *tenant(emu), "--api-key-file", api_key_file, "--issuer", issuer,
               f"--keep-kid={keep_kid}", *args, **kwargs)  # a thumbprint may start with "-"


def login(cli, emu, key: str, kid: str, sub: str = "alice", issuer: str = QSCLOUD_ISSUER):  # type: ignore[no-untyped-def]
    return cli("qscloud", "login", *tenant(emu), "--issuer", issuer, f"--keyid={kid}", "--sub", sub,
               "--cert-privatekey-file", key)


def set_description(emu, idp_id: str, description: str) -> None:  # type: ignore[no-untyped-def]
    reply = send(emu, "PATCH", f"{IDPS}/{idp_id}", headers={"Authorization": f"Bearer {QSCLOUD_API_KEY}",
                                                           "Content-Type": "application/json"},
                 body=[{"op": "replace", "path": "/description", "value": description}])
    assert reply.status in (200, 204), reply.text


def refuse_next_idp_post(monkeypatch: pytest.MonkeyPatch, emu) -> None:  # type: ignore[no-untyped-def]
    """The next POST /api/v1/identity-providers meets Qlik's 400 (only the POST: ``fail_next`` matches a path, and
    the list is read from the same path, so the fault is armed just before the POST is sent)."""
    from qs_jwt.qscloud import QlikCloudClient

    original = QlikCloudClient.create_identity_provider
    error = {"errors": [{"code": "IDP-400", "title": "Bad Request", "status": "400",
                         "detail": "an identity provider with this issuer exists already"}],
             "traceId": "0" * 32}

    def create(self, body):  # type: ignore[no-untyped-def]
        emu.fail_next(IDPS, 400, body=json.dumps(error), content_type="application/json")
        return original(self, body)

    monkeypatch.setattr(QlikCloudClient, "create_identity_provider", create)


# --- the parser ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "options"), [
    (("qscloud", "idp", "rotate"), ["--issuer", "--new-keyid", "--new-issuer", "--verify-sub", "--dry-run",
                                    "--cert-file-prefix", "--new-cert-file", "--new-private-key-file",
                                    "--api-key-file", "--output"]),
    (("qscloud", "idp", "retire"), ["--issuer", "--keep-kid", "--yes", "--dry-run", "--api-key-file", "--output"]),
    (("qseow", "virtual-proxy", "rotate-cert"), ["PREFIX", "--server", "--cert-file", "--cert-file-prefix", "--yes",
                                                 "--admin-audience", "--output"]),
])
def test_help_of_the_rotation_commands(cli, command: tuple[str, ...], options: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0
    for option in options:
        assert option in result.stdout, option


def test_rotate_needs_one_way_to_the_new_key(cli, qscloud_emulator, api_key_file, tmp_path, other_cert) -> None:
    neither = rotate(cli, qscloud_emulator, api_key_file)
    both = rotate(cli, qscloud_emulator, api_key_file, *new_key(tmp_path / "new-"), "--new-cert-file", other_cert,
                  "--new-private-key-file", OTHER_KEY)
    cert_only = rotate(cli, qscloud_emulator, api_key_file, "--new-cert-file", other_cert)
    for result in (neither, both, cert_only):
        assert result.exit_code == 2, result.stderr
    assert not idp_posts(qscloud_emulator)
    assert not list(tmp_path.glob("new-*"))


# --- qscloud idp rotate --------------------------------------------------------------------------------------


def test_rotate_makes_the_new_key_and_a_second_identity_provider(cli, qscloud_emulator, api_key_file,
                                                                  tmp_path) -> None:
    (current,) = jwt_idps(qscloud_emulator)
    prefix = tmp_path / "keys-2027-"
    result = rotate(cli, qscloud_emulator, api_key_file, *new_key(prefix))
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == {"status", "issuer", "newKid", "identityProviderId", "keyFile", "certificateFile", "checked",
                        "loginVerified", "current"}
    key_file, _public_file, cert_file = key_files(prefix)
    assert all(path.is_file() for path in key_files(prefix))
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    new_kid = thumbprint_of_key_file(key_file)  # the default kid: the new key's RFC 7638 thumbprint
    assert new_kid != OLD_THUMBPRINT
    assert out["status"] == "rotated"
    assert out["issuer"] == QSCLOUD_ISSUER
    assert out["newKid"] == new_kid
    assert out["keyFile"] == str(key_file) and out["certificateFile"] == str(cert_file)
    assert out["checked"] is True and out["loginVerified"] is None
    assert out["current"] == {"id": current["id"], "kid": QSCLOUD_KID, "active": True}
    # two identity providers of the issuer now: the old one untouched, the new one with the new key and kid
    idps = {idp["id"]: idp for idp in jwt_idps(qscloud_emulator)}
    assert set(idps) == {current["id"], out["identityProviderId"]}
    assert idps[current["id"]] == current
    created = idps[out["identityProviderId"]]
    assert kid_of(created) == new_kid and created["active"] is True
    assert len(idp_posts(qscloud_emulator)) == 1
    # what to change: the kid, the key path, the identity provider
    assert new_kid in result.stderr and str(key_file) in result.stderr and out["identityProviderId"] in result.stderr
    (next_line,) = [line for line in result.stderr.splitlines() if line.startswith("qs-jwt: next:")]
    assert new_kid in next_line and str(key_file) in next_line and "retire" in next_line


def test_rotate_copies_description_and_clock_tolerance(cli, qscloud_emulator, api_key_file, tmp_path) -> None:
    current = qscloud_emulator.add_jwt_idp("clock-app", "c-1", OLD_CERT_PEM, clock_skew=42)
    set_description(qscloud_emulator, current["id"], "Sales portal minter")
    result = rotate(cli, qscloud_emulator, api_key_file, *new_key(tmp_path / "n-"), issuer="clock-app")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    created = next(idp for idp in jwt_idps(qscloud_emulator, "clock-app") if idp["id"] == out["identityProviderId"])
    assert created["clockToleranceSec"] == 42
    assert created["description"].startswith("Sales portal minter")
    # the fixture's my-app is never touched
    assert len(jwt_idps(qscloud_emulator)) == 1


def test_rotate_with_brought_files_and_a_given_kid(cli, qscloud_emulator, api_key_file, other_cert) -> None:
    result = rotate(cli, qscloud_emulator, api_key_file, "--new-cert-file", other_cert, "--new-private-key-file",
                    OTHER_KEY, "--new-keyid", "key-2")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["newKid"] == "key-2" and out["keyFile"] == OTHER_KEY and out["certificateFile"] == other_cert
    created = next(idp for idp in jwt_idps(qscloud_emulator) if idp["id"] == out["identityProviderId"])
    assert kid_of(created) == "key-2"
    login_new = login(cli, qscloud_emulator, OTHER_KEY, "key-2")
    assert login_new.exit_code == 0, login_new.stderr


def test_rotate_with_brought_files_defaults_the_kid_to_the_thumbprint(cli, qscloud_emulator, api_key_file,
                                                                       other_cert) -> None:
    result = rotate(cli, qscloud_emulator, api_key_file, "--new-cert-file", other_cert, "--new-private-key-file",
                    OTHER_KEY)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["newKid"] == OTHER_THUMBPRINT


def test_rotate_refuses_a_certificate_of_another_key_than_the_private_key(cli, qscloud_emulator, api_key_file,
                                                                           other_cert) -> None:
    result = rotate(cli, qscloud_emulator, api_key_file, "--new-cert-file", other_cert, "--new-private-key-file",
                    OLD_KEY)
    assert result.exit_code == 2, result.stderr
    assert not idp_posts(qscloud_emulator)


def test_rotate_with_verify_sub_logs_in_with_the_new_key(cli, qscloud_emulator, api_key_file, tmp_path) -> None:
    logins_before = len([r for r in qscloud_emulator.requests if r.path == "/login/jwt-session"])
    result = rotate(cli, qscloud_emulator, api_key_file, *new_key(tmp_path / "n-"), "--verify-sub", "verifier")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["loginVerified"] is True and out["checked"] is True
    logins = [r for r in qscloud_emulator.requests if r.path == "/login/jwt-session"]
    assert len(logins) == logins_before + 1
    assert "verifier" in {user["subject"] for user in qscloud_emulator.users}
    assert not qscloud_emulator.auth_failures


def test_rotate_refuses_when_the_new_key_is_the_current_key(cli, qscloud_emulator, api_key_file) -> None:
    result = rotate(cli, qscloud_emulator, api_key_file, "--new-cert-file", OLD_CERT, "--new-private-key-file",
                    OLD_KEY)
    assert result.exit_code == 1, result.stderr
    assert "nothing to rotate" in result.stderr
    assert not idp_posts(qscloud_emulator)
    assert len(jwt_idps(qscloud_emulator)) == 1


def test_rotate_refuses_the_current_kid(cli, qscloud_emulator, api_key_file, other_cert) -> None:
    result = rotate(cli, qscloud_emulator, api_key_file, "--new-cert-file", other_cert, "--new-private-key-file",
                    OTHER_KEY, "--new-keyid", QSCLOUD_KID)
    assert result.exit_code == 2, result.stderr
    assert "--new-keyid" in result.stderr
    assert not idp_posts(qscloud_emulator)


def test_rotate_without_an_identity_provider_of_the_issuer(cli, qscloud_emulator, api_key_file, tmp_path) -> None:
    prefix = tmp_path / "n-"
    result = rotate(cli, qscloud_emulator, api_key_file, *new_key(prefix), issuer="nobody")
    assert result.exit_code == 1, result.stderr
    assert "'nobody'" in result.stderr
    assert not idp_posts(qscloud_emulator)
    assert not any(path.exists() for path in key_files(prefix))


def test_rotate_refuses_two_identity_providers_it_did_not_make(cli, qscloud_emulator, api_key_file,
                                                               tmp_path) -> None:
    (first,) = jwt_idps(qscloud_emulator)
    second = qscloud_emulator.add_jwt_idp(QSCLOUD_ISSUER, "key-2", OTHER_PUBLIC_PEM)
    prefix = tmp_path / "n-"
    result = rotate(cli, qscloud_emulator, api_key_file, *new_key(prefix))
    assert result.exit_code == 1, result.stderr
    for named in (first["id"], second["id"], "key-1", "key-2"):
        assert named in result.stderr, named
    assert not idp_posts(qscloud_emulator)
    assert len(jwt_idps(qscloud_emulator)) == 2
    assert not any(path.exists() for path in key_files(prefix))


def test_rotate_refuses_three_identity_providers_one_with_the_new_key(cli, qscloud_emulator, api_key_file,
                                                                      other_cert) -> None:
    qscloud_emulator.add_jwt_idp(QSCLOUD_ISSUER, "key-2", OTHER_PUBLIC_PEM)
    qscloud_emulator.add_jwt_idp(QSCLOUD_ISSUER, "key-3", key_bytes("rsa4096_public.pem"))
    result = rotate(cli, qscloud_emulator, api_key_file, "--new-cert-file", other_cert, "--new-private-key-file",
                    OTHER_KEY)
    assert result.exit_code == 1, result.stderr
    assert "key-1" in result.stderr and "key-2" in result.stderr and "key-3" in result.stderr
    assert not idp_posts(qscloud_emulator)


def test_rotate_dry_run_writes_and_sends_nothing(cli, qscloud_emulator, api_key_file, tmp_path) -> None:
    (current,) = jwt_idps(qscloud_emulator)
    prefix = tmp_path / "n-"
    result = rotate(cli, qscloud_emulator, api_key_file, *new_key(prefix), "--dry-run")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "dry-run"
    assert out["current"] == {"id": current["id"], "kid": QSCLOUD_KID, "active": True}
    assert not any(path.exists() for path in key_files(prefix))
    assert not list(tmp_path.glob("n-*"))
    assert not [r for r in qscloud_emulator.requests if r.method not in ("GET", "HEAD")]
    assert jwt_idps(qscloud_emulator) == [current]


def test_rotate_dry_run_refuses_what_the_real_run_refuses(cli, qscloud_emulator, api_key_file,
                                                          other_cert) -> None:
    """A dry run that says "would create" must not be one the real run then refuses: the new key being the
    current one (exit 1), the new kid being the current one (exit 2)."""
    same_key = rotate(cli, qscloud_emulator, api_key_file, "--new-cert-file", OLD_CERT, "--new-private-key-file",
                      OLD_KEY, "--dry-run")
    same_kid = rotate(cli, qscloud_emulator, api_key_file, "--new-cert-file", other_cert, "--new-private-key-file",
                      OTHER_KEY, "--new-keyid", QSCLOUD_KID, "--dry-run")
    assert not idp_posts(qscloud_emulator)
    assert same_key.exit_code == 1, same_key.stdout + same_key.stderr
    assert "nothing to rotate" in same_key.stderr
    assert same_kid.exit_code == 2, same_kid.stdout + same_kid.stderr
    assert "--new-keyid" in same_kid.stderr


def test_rotate_never_overwrites_key_files(cli, qscloud_emulator, api_key_file, tmp_path) -> None:
    prefix = tmp_path / "n-"
    existing = Path(f"{prefix}privatekey.pem")
    existing.write_text("precious\n")
    result = rotate(cli, qscloud_emulator, api_key_file, *new_key(prefix))
    assert result.exit_code != 0, result.stderr
    assert existing.read_text() == "precious\n"
    assert not idp_posts(qscloud_emulator)


def test_rotate_when_qlik_refuses_a_second_identity_provider_names_new_issuer(
        cli, qscloud_emulator, api_key_file, tmp_path, monkeypatch) -> None:
    refuse_next_idp_post(monkeypatch, qscloud_emulator)
    result = rotate(cli, qscloud_emulator, api_key_file, *new_key(tmp_path / "n-"))
    assert result.exit_code == 4, result.stderr
    assert "--new-issuer" in result.stderr
    assert len(jwt_idps(qscloud_emulator)) == 1


def test_rotate_to_a_new_issuer(cli, qscloud_emulator, api_key_file, tmp_path) -> None:
    prefix = tmp_path / "n-"
    result = rotate(cli, qscloud_emulator, api_key_file, *new_key(prefix), "--new-issuer", "my-app-2027",
                    "--verify-sub", "alice")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["issuer"] == "my-app-2027" and out["loginVerified"] is True
    (created,) = jwt_idps(qscloud_emulator, "my-app-2027")
    assert created["id"] == out["identityProviderId"] and kid_of(created) == out["newKid"]
    assert len(jwt_idps(qscloud_emulator)) == 1  # the old issuer's one is untouched
    assert "--issuer=my-app-2027" in result.stderr and "qs-jwt qscloud idp delete " in result.stderr
    new_login = login(cli, qscloud_emulator, str(key_files(prefix)[0]), out["newKid"], issuer="my-app-2027")
    assert new_login.exit_code == 0, new_login.stderr
    old_login = login(cli, qscloud_emulator, OLD_KEY, QSCLOUD_KID)
    assert old_login.exit_code == 0, old_login.stderr


def test_rotate_text_output(cli, qscloud_emulator, api_key_file, tmp_path) -> None:
    result = cli("qscloud", "idp", "rotate", *tenant(qscloud_emulator), "--api-key-file", api_key_file,
                 "--issuer", QSCLOUD_ISSUER, *new_key(tmp_path / "n-"))
    assert result.exit_code == 0, result.stderr
    assert "status: rotated" in result.stdout
    assert f"newKid: {thumbprint_of_key_file(key_files(tmp_path / 'n-')[0])}" in result.stdout


def test_rotate_uses_a_complete_key_pair_an_earlier_run_left_at_the_prefix(
        cli, qscloud_emulator, api_key_file, tmp_path, other_cert_pem) -> None:
    prefix = tmp_path / "n-"
    key_file, public_file, cert_file = key_files(prefix)
    key_file.write_bytes(key_bytes("other2048_pkcs8.pem"))
    key_file.chmod(0o600)
    public_file.write_bytes(OTHER_PUBLIC_PEM)
    cert_file.write_bytes(other_cert_pem)
    files = {path: path.read_bytes() for path in key_files(prefix)}
    result = rotate(cli, qscloud_emulator, api_key_file, *new_key(prefix))
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["newKid"] == OTHER_THUMBPRINT and out["keyFile"] == str(key_file)
    assert {path: path.read_bytes() for path in key_files(prefix)} == files


def test_rotate_verify_sub_refused_is_a_failed_check(cli, qscloud_emulator, api_key_file, tmp_path) -> None:
    error = {"errors": [{"code": "LOGIN-1", "title": "Unauthorized", "status": "401"}], "traceId": "0" * 32}
    qscloud_emulator.fail_next("/login/jwt-session", 401, body=json.dumps(error), content_type="application/json")
    result = rotate(cli, qscloud_emulator, api_key_file, *new_key(tmp_path / "n-"), "--verify-sub", "alice")
    assert result.exit_code == 3, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "rotated" and out["loginVerified"] is False and out["checked"] is True
    assert len(jwt_idps(qscloud_emulator)) == 2  # made, and said so: a rerun reports it done


def test_rotate_next_commands_can_be_run_as_printed(cli, qscloud_emulator, api_key_file, other_cert) -> None:
    """The "next:" line names the commands to run; a kid may start with "-" (a base64url thumbprint does, one
    key in 64), and the printed ``--keyid KID`` / ``--keep-kid KID`` must still parse when copied."""
    kid = "-k2027"
    result = rotate(cli, qscloud_emulator, api_key_file, "--new-cert-file", other_cert, "--new-private-key-file",
                    OTHER_KEY, f"--new-keyid={kid}")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["newKid"] == kid
    (next_line,) = [line for line in result.stderr.splitlines() if line.startswith("qs-jwt: next:")]
    words = shlex.split(next_line.rstrip(")").replace(";", " "))
    at = next(i for i, word in enumerate(words) if word.startswith("--keyid"))
    keyid = words[at:at + 1] if "=" in words[at] else words[at:at + 2]  # as printed: --keyid KID or --keyid=KID
    login_result = cli("qscloud", "login", *tenant(qscloud_emulator), "--issuer", QSCLOUD_ISSUER, "--sub", "alice",
                       "--cert-privatekey-file", OTHER_KEY, *keyid)
    assert login_result.exit_code == 0, login_result.stderr
    at = max(i for i, word in enumerate(words) if word == "retire")
    retire_args = words[at - 2:]  # qscloud idp retire --issuer my-app --keep-kid KID (as printed)
    assert retire_args[:3] == ["qscloud", "idp", "retire"], next_line
    retired = cli(*retire_args, *tenant(qscloud_emulator), "--api-key-file", api_key_file, "--yes")
    assert retired.exit_code == 0, retired.stderr
    assert [kid_of(idp) for idp in jwt_idps(qscloud_emulator)] == [kid]


# --- qscloud idp retire --------------------------------------------------------------------------------------


@pytest.fixture
def rotated_by_hand(qscloud_emulator) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """my-app with key-1 (old) and key-2 (other key), and another issuer's identity provider."""
    (old,) = jwt_idps(qscloud_emulator)
    new = qscloud_emulator.add_jwt_idp(QSCLOUD_ISSUER, "key-2", OTHER_PUBLIC_PEM)
    foreign = qscloud_emulator.add_jwt_idp("other-app", "key-1", OLD_CERT_PEM)
    return {"old": old, "new": new, "foreign": foreign}


def test_retire_deletes_the_other_identity_providers_of_the_issuer(cli, qscloud_emulator, api_key_file,
                                                                   rotated_by_hand) -> None:
    old, new, foreign = rotated_by_hand["old"], rotated_by_hand["new"], rotated_by_hand["foreign"]
    result = retire(cli, qscloud_emulator, api_key_file, "key-2", "--yes", "--output", "json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["kept"] == {"id": new["id"], "kid": "key-2", "active": True}
    assert out["deleted"] == [{"id": old["id"], "kid": "key-1", "active": True}]
    assert out["dryRun"] is False
    assert old["id"] in result.stderr  # shown
    assert [idp["id"] for idp in jwt_idps(qscloud_emulator)] == [new["id"]]
    assert jwt_idps(qscloud_emulator, "other-app") == [foreign]
    assert [r.path for r in idp_deletes(qscloud_emulator)] == [f"{IDPS}/{old['id']}"]


def test_retire_without_a_terminal_and_without_yes_deletes_nothing(cli, qscloud_emulator, api_key_file,
                                                                   rotated_by_hand) -> None:
    before = qscloud_emulator.identity_providers
    result = retire(cli, qscloud_emulator, api_key_file, "key-2", stdin="y\n")
    assert result.exit_code == 2, result.stderr
    assert "--yes" in result.stderr
    assert rotated_by_hand["old"]["id"] in result.stderr  # which ones, shown before the refusal
    assert qscloud_emulator.identity_providers == before
    assert not idp_deletes(qscloud_emulator)


def test_retire_of_a_missing_kid_deletes_nothing(cli, qscloud_emulator, api_key_file, rotated_by_hand) -> None:
    before = qscloud_emulator.identity_providers
    result = retire(cli, qscloud_emulator, api_key_file, "key-9", "--yes")
    assert result.exit_code == 1, result.stderr
    assert "key-9" in result.stderr
    assert qscloud_emulator.identity_providers == before
    assert not idp_deletes(qscloud_emulator)


def test_retire_refuses_to_keep_an_inactive_identity_provider(cli, qscloud_emulator, api_key_file) -> None:
    qscloud_emulator.add_jwt_idp(QSCLOUD_ISSUER, "key-2", OTHER_PUBLIC_PEM, active=False)
    before = qscloud_emulator.identity_providers
    result = retire(cli, qscloud_emulator, api_key_file, "key-2", "--yes")
    assert result.exit_code == 1, result.stderr
    assert "not active" in result.stderr
    assert qscloud_emulator.identity_providers == before
    assert not idp_deletes(qscloud_emulator)


def test_retire_dry_run_shows_and_deletes_nothing(cli, qscloud_emulator, api_key_file, rotated_by_hand) -> None:
    before = qscloud_emulator.identity_providers
    result = retire(cli, qscloud_emulator, api_key_file, "key-2", "--dry-run", "--output", "json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["dryRun"] is True and out["deleted"] == []
    assert out["wouldDelete"] == [{"id": rotated_by_hand["old"]["id"], "kid": "key-1", "active": True}]
    assert "would delete" in result.stderr
    assert qscloud_emulator.identity_providers == before
    assert not idp_deletes(qscloud_emulator)


def test_retire_with_nothing_to_retire(cli, qscloud_emulator, api_key_file) -> None:
    qscloud_emulator.add_jwt_idp("other-app", "key-2", OTHER_PUBLIC_PEM)
    before = qscloud_emulator.identity_providers
    result = retire(cli, qscloud_emulator, api_key_file, QSCLOUD_KID, "--output", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["deleted"] == []
    assert qscloud_emulator.identity_providers == before


def test_retire_of_several_keeps_only_the_kid(cli, qscloud_emulator, api_key_file, rotated_by_hand) -> None:
    third = qscloud_emulator.add_jwt_idp(QSCLOUD_ISSUER, "key-3", key_bytes("rsa4096_public.pem"))
    result = retire(cli, qscloud_emulator, api_key_file, "key-3", "--yes", "--output", "json")
    assert result.exit_code == 0, result.stderr
    assert sorted(d["kid"] for d in json.loads(result.stdout)["deleted"]) == ["key-1", "key-2"]
    assert [idp["id"] for idp in jwt_idps(qscloud_emulator)] == [third["id"]]
    assert jwt_idps(qscloud_emulator, "other-app") == [rotated_by_hand["foreign"]]


def test_retire_stops_at_a_refused_delete_and_a_rerun_finishes(cli, qscloud_emulator, api_key_file,
                                                              rotated_by_hand) -> None:
    third = qscloud_emulator.add_jwt_idp(QSCLOUD_ISSUER, "key-3", key_bytes("rsa4096_public.pem"))
    old, new = rotated_by_hand["old"], rotated_by_hand["new"]
    error = {"errors": [{"code": "HTTP-403", "title": "Forbidden", "status": "403"}], "traceId": "0" * 32}
    qscloud_emulator.fail_next(f"{IDPS}/{new['id']}", 403, body=json.dumps(error), content_type="application/json")
    first = retire(cli, qscloud_emulator, api_key_file, "key-3", "--yes")
    assert first.exit_code == 4, first.stderr
    assert "deleted so far" in first.stderr and old["id"] in first.stderr
    assert sorted(kid_of(idp) for idp in jwt_idps(qscloud_emulator)) == ["key-2", "key-3"]
    again = retire(cli, qscloud_emulator, api_key_file, "key-3", "--yes")
    assert again.exit_code == 0, again.stderr
    assert [idp["id"] for idp in jwt_idps(qscloud_emulator)] == [third["id"]]
    assert jwt_idps(qscloud_emulator, "other-app") == [rotated_by_hand["foreign"]]


def test_retire_text_output(cli, qscloud_emulator, api_key_file, rotated_by_hand) -> None:
    result = retire(cli, qscloud_emulator, api_key_file, "key-2", "--yes")
    assert result.exit_code == 0, result.stderr
    assert f"kept: id {rotated_by_hand['new']['id']}, kid key-2, active True" in result.stdout
    assert rotated_by_hand["old"]["id"] in result.stdout


# --- Qlik Cloud end to end -----------------------------------------------------------------------------------


def test_qscloud_full_rotation_end_to_end(cli, qscloud_emulator, api_key_file, tmp_path) -> None:
    emu = qscloud_emulator
    before = login(cli, emu, OLD_KEY, QSCLOUD_KID)
    assert before.exit_code == 0, before.stderr

    prefix = tmp_path / "keys" / "2027-"
    prefix.parent.mkdir()
    rotated = rotate(cli, emu, api_key_file, *new_key(prefix), "--verify-sub", "alice")
    assert rotated.exit_code == 0, rotated.stderr
    out = json.loads(rotated.stdout)
    new_kid, new_key_file = out["newKid"], out["keyFile"]
    assert new_key_file == str(key_files(prefix)[0])

    old_after_rotate = login(cli, emu, OLD_KEY, QSCLOUD_KID)
    assert old_after_rotate.exit_code == 0, old_after_rotate.stderr
    new_after_rotate = login(cli, emu, new_key_file, new_kid, sub="bob")
    assert new_after_rotate.exit_code == 0, new_after_rotate.stderr

    # run again with the new key's files: done, nothing created
    count = len(emu.identity_providers)
    again = rotate(cli, emu, api_key_file, "--new-cert-file", out["certificateFile"], "--new-private-key-file",
                   new_key_file)
    assert again.exit_code == 0, again.stderr
    done = json.loads(again.stdout)
    assert done["status"] == "done"
    assert done["newKid"] == new_kid and done["identityProviderId"] == out["identityProviderId"]
    assert done["current"]["kid"] == QSCLOUD_KID
    assert len(emu.identity_providers) == count and len(idp_posts(emu)) == 1

    missing = retire(cli, emu, api_key_file, "no-such-kid", "--yes")
    assert missing.exit_code == 1, missing.stderr
    assert len(emu.identity_providers) == count

    retired = retire(cli, emu, api_key_file, new_kid, "--yes", "--output", "json")
    assert retired.exit_code == 0, retired.stderr
    assert [d["kid"] for d in json.loads(retired.stdout)["deleted"]] == [QSCLOUD_KID]
    assert [kid_of(idp) for idp in jwt_idps(emu)] == [new_kid]

    old_after_retire = login(cli, emu, OLD_KEY, QSCLOUD_KID)
    assert old_after_retire.exit_code == 4, old_after_retire.stderr
    new_after_retire = login(cli, emu, new_key_file, new_kid, sub="carol")
    assert new_after_retire.exit_code == 0, new_after_retire.stderr

    # retire again: nothing left to retire, nothing deleted
    deletes = len(idp_deletes(emu))
    assert retire(cli, emu, api_key_file, new_kid, "--yes").exit_code == 0
    assert len(idp_deletes(emu)) == deletes


def test_rotate_run_twice_with_the_same_command_reports_done(cli, qscloud_emulator, api_key_file,
                                                             tmp_path) -> None:
    """The help: "Run again after a success, it reports the rotation instead of making another." The same
    command line run again (the key files of the first run are at the prefix now) must report "done", create
    nothing and leave the key files as they are."""
    prefix = tmp_path / "n-"
    first = rotate(cli, qscloud_emulator, api_key_file, *new_key(prefix))
    assert first.exit_code == 0, first.stderr
    first_out = json.loads(first.stdout)
    files = {path: path.read_bytes() for path in key_files(prefix)}
    count = len(qscloud_emulator.identity_providers)

    second = rotate(cli, qscloud_emulator, api_key_file, *new_key(prefix))
    assert {path: path.read_bytes() for path in key_files(prefix)} == files
    assert len(qscloud_emulator.identity_providers) == count and len(idp_posts(qscloud_emulator)) == 1
    assert second.exit_code == 0, second.stderr
    out = json.loads(second.stdout)
    assert out["status"] == "done" and out["newKid"] == first_out["newKid"]


def test_rotate_run_twice_with_the_new_kid_reports_done(cli, qscloud_emulator, api_key_file, tmp_path) -> None:
    first = rotate(cli, qscloud_emulator, api_key_file, *new_key(tmp_path / "n-"), "--new-keyid", "k-2027")
    assert first.exit_code == 0, first.stderr
    count = len(qscloud_emulator.identity_providers)
    second = rotate(cli, qscloud_emulator, api_key_file, *new_key(tmp_path / "m-"), "--new-keyid", "k-2027")
    assert second.exit_code == 0, second.stderr
    assert json.loads(second.stdout)["status"] == "done"
    assert len(qscloud_emulator.identity_providers) == count and len(idp_posts(qscloud_emulator)) == 1
    assert not any(path.exists() for path in key_files(tmp_path / "m-"))  # nothing made


def test_rotate_again_with_another_key_under_the_new_kid_is_not_done(cli, qscloud_emulator, api_key_file,
                                                                     tmp_path, other_cert) -> None:
    """After a rotation to key A with the kid k-2027, a run with key B and the same kid finds k-2027 holding
    another key than B: that rotation is not "done" (switching the minters to B would lock them out), it is an
    error naming what was found, and nothing is created."""
    first = rotate(cli, qscloud_emulator, api_key_file, *new_key(tmp_path / "a-"), "--new-keyid", "k-2027")
    assert first.exit_code == 0, first.stderr
    before = qscloud_emulator.identity_providers
    second = rotate(cli, qscloud_emulator, api_key_file, "--new-cert-file", other_cert, "--new-private-key-file",
                    OTHER_KEY, "--new-keyid", "k-2027")
    assert qscloud_emulator.identity_providers == before and len(idp_posts(qscloud_emulator)) == 1
    assert second.exit_code == 1, second.stdout + second.stderr
    assert "k-2027" in second.stderr and "key-1" in second.stderr


def test_no_secret_in_debug_messages(cli, qscloud_emulator, api_key_file, tmp_path) -> None:
    prefix = tmp_path / "n-"
    rotated = rotate(cli, qscloud_emulator, api_key_file, *new_key(prefix), "--verify-sub", "alice",
                     "--loglevel", "debug")
    assert rotated.exit_code == 0, rotated.stderr
    kid = json.loads(rotated.stdout)["newKid"]
    dry = retire(cli, qscloud_emulator, api_key_file, kid, "--dry-run", "--loglevel", "debug")
    retired = retire(cli, qscloud_emulator, api_key_file, kid, "--yes", "--loglevel", "debug")
    assert dry.exit_code == 0 and retired.exit_code == 0, retired.stderr
    stderr = rotated.stderr + dry.stderr + retired.stderr
    assert "debug:" in stderr
    secrets = {QSCLOUD_API_KEY}
    for request in qscloud_emulator.requests:
        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            secrets.add(authorization[7:])
        for cookie in request.headers.get("cookie", "").split(";"):
            value = cookie.partition("=")[2].strip()
            if len(value) >= 8:
                secrets.add(value)
        if request.headers.get("qlik-csrf-token"):
            secrets.add(request.headers["qlik-csrf-token"])
    assert len(secrets) > 2  # the API key, the login token, the session cookies
    for secret in secrets:
        assert secret not in stderr
        assert secret not in rotated.stdout + dry.stdout + retired.stdout
    assert Path(f"{prefix}privatekey.pem").read_text().splitlines()[1] not in stderr


# --- qseow virtual-proxy rotate-cert -------------------------------------------------------------------------


@pytest.fixture
def qseow(qseow_emulator):  # type: ignore[no-untyped-def]
    """The QSEoW emulator with a second virtual proxy for the administrator (prefix and audience "admin", the
    old certificate), so that rotating "jwt" does not cut the administrator off."""
    qseow_emulator.add_virtual_proxy(ADMIN_PREFIX, cert_pem=OLD_CERT_PEM, audience=ADMIN_AUDIENCE)
    return qseow_emulator


def admin(emu) -> list[str]:  # type: ignore[no-untyped-def]
    return [*server(emu, ADMIN_PREFIX), "--cert-privatekey-file", OLD_KEY, "--admin-userdir", "ACME",
            "--admin-userid", "admin", "--admin-audience", ADMIN_AUDIENCE]


def rotate_cert(cli, emu, *args: str, prefix: str = "jwt", **kwargs: Any):  # type: ignore[no-untyped-def]
    return cli("qseow", "virtual-proxy", "rotate-cert", prefix, *admin(emu), *args, **kwargs)


def vp_puts(emu) -> list[Any]:  # type: ignore[no-untyped-def]
    return [r for r in emu.requests if r.method == "PUT" and "/qrs/virtualproxyconfig/" in r.path]


def same_certificate(stored: str, pem: bytes) -> bool:
    return x509.load_pem_x509_certificate(stored.encode()) == x509.load_pem_x509_certificate(pem)


def without_cert_fields(vp: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in vp.items() if name not in CERT_FIELDS}


def qseow_call(cli, emu, key: str):  # type: ignore[no-untyped-def]
    return cli("qseow", "call", "GET", "/qrs/about", *server(emu, "jwt"), "--userdir", "ACME", "--userid", "admin",
               "--audience", "qlik", "--cert-privatekey-file", key)


def test_rotate_cert_with_a_new_key_replaces_the_certificate_only(cli, qseow, tmp_path) -> None:
    before = qseow.virtual_proxy("jwt")
    admin_before = qseow.virtual_proxy(ADMIN_PREFIX)
    prefix = tmp_path / "n-"
    result = rotate_cert(cli, qseow, *new_key(prefix), "--yes", "--output", "json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    key_file, _public, cert_file = key_files(prefix)
    assert out == {"prefix": "jwt", "id": before["id"], "replaced": True, "unexpectedChanges": [],
                   "certificateFile": str(cert_file), "keyFile": str(key_file)}
    after = qseow.virtual_proxy("jwt")
    assert same_certificate(after["jwtPublicKeyCertificate"], cert_file.read_bytes())
    assert not same_certificate(after["jwtPublicKeyCertificate"], OLD_CERT_PEM)
    assert without_cert_fields(after) == without_cert_fields(before)
    assert after["modifiedDate"] != before["modifiedDate"]
    assert qseow.virtual_proxy(ADMIN_PREFIX) == admin_before
    (put,) = vp_puts(qseow)
    assert put.path.endswith(f"/qrs/virtualproxyconfig/{before['id']}")
    assert "warning:" in result.stderr


def test_rotate_cert_with_a_brought_certificate(cli, qseow, other_cert, other_cert_pem) -> None:
    before = qseow.virtual_proxy("jwt")
    result = rotate_cert(cli, qseow, "--cert-file", other_cert, "--yes", "--output", "json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["replaced"] is True and out["unexpectedChanges"] == [] and out["certificateFile"] == other_cert
    assert out["keyFile"] is None
    after = qseow.virtual_proxy("jwt")
    assert same_certificate(after["jwtPublicKeyCertificate"], other_cert_pem)
    assert without_cert_fields(after) == without_cert_fields(before)
    works = qseow_call(cli, qseow, OTHER_KEY)
    assert works.exit_code == 0, works.stderr


def test_rotate_cert_retries_one_modified_date_conflict(cli, qseow, other_cert, other_cert_pem) -> None:
    before = qseow.virtual_proxy("jwt")
    qseow.bump_modified_date_on_next_put(before["id"])
    result = rotate_cert(cli, qseow, "--cert-file", other_cert, "--yes", "--output", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["replaced"] is True
    assert len(vp_puts(qseow)) == 2
    after = qseow.virtual_proxy("jwt")
    assert same_certificate(after["jwtPublicKeyCertificate"], other_cert_pem)
    assert without_cert_fields(after) == without_cert_fields(before)


def test_rotate_cert_gives_up_after_two_conflicts(cli, qseow, other_cert) -> None:
    before = qseow.virtual_proxy("jwt")
    # the first PUT meets a 409 (injected), the second a real one (the entity modified meanwhile)
    qseow.fail_next(f"/{ADMIN_PREFIX}/qrs/virtualproxyconfig/{before['id']}", 409,
                    body="Conflict: the entity was modified meanwhile")
    qseow.bump_modified_date_on_next_put(before["id"])
    result = rotate_cert(cli, qseow, "--cert-file", other_cert, "--yes", "--output", "json")
    assert result.exit_code == 4, result.stderr
    assert "409" in result.stderr or "onflict" in result.stderr
    assert len(vp_puts(qseow)) == 2
    after = qseow.virtual_proxy("jwt")
    assert after["jwtPublicKeyCertificate"] == before["jwtPublicKeyCertificate"]
    assert without_cert_fields(after) == without_cert_fields(before)


def test_rotate_cert_without_a_terminal_and_without_yes_changes_nothing(cli, qseow, tmp_path) -> None:
    before = qseow.virtual_proxy("jwt")
    prefix = tmp_path / "n-"
    result = rotate_cert(cli, qseow, *new_key(prefix), stdin="y\n")
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    warning = next(i for i, line in enumerate(lines) if line.startswith("qs-jwt: warning:"))
    refusal = next(i for i, line in enumerate(lines) if "--yes" in line)
    assert warning < refusal  # warns first
    assert qseow.virtual_proxy("jwt") == before
    assert not vp_puts(qseow)
    assert not any(path.exists() for path in key_files(prefix))


def test_rotate_cert_of_a_missing_virtual_proxy(cli, qseow, other_cert) -> None:
    result = rotate_cert(cli, qseow, "--cert-file", other_cert, "--yes", prefix="nosuch")
    assert result.exit_code == 1, result.stderr
    assert "nosuch" in result.stderr
    assert not vp_puts(qseow)


def test_rotate_cert_refuses_a_file_without_a_certificate(cli, qseow) -> None:
    before = qseow.virtual_proxy("jwt")
    result = rotate_cert(cli, qseow, "--cert-file", key_path("other2048_public.pem"), "--yes")
    assert result.exit_code != 0
    assert qseow.virtual_proxy("jwt") == before
    assert not vp_puts(qseow)


def test_rotate_cert_with_a_refused_admin_token_changes_nothing(cli, qseow, tmp_path) -> None:
    before = qseow.virtual_proxy("jwt")
    prefix = tmp_path / "n-"
    result = cli("qseow", "virtual-proxy", "rotate-cert", "jwt", *server(qseow, ADMIN_PREFIX), "--cert-privatekey-file",
                 OLD_KEY, "--admin-userdir", "ACME", "--admin-userid", "admin", "--admin-audience", "wrong",
                 *new_key(prefix), "--yes")
    assert result.exit_code == 4, result.stderr
    assert "401" in result.stderr
    assert qseow.virtual_proxy("jwt") == before
    assert not vp_puts(qseow)
    assert not any(path.exists() for path in key_files(prefix))


def test_rotate_cert_text_output(cli, qseow, other_cert) -> None:
    result = rotate_cert(cli, qseow, "--cert-file", other_cert, "--yes")
    assert result.exit_code == 0, result.stderr
    assert "replaced: True" in result.stdout and "prefix: jwt" in result.stdout


def test_qseow_rotation_end_to_end(cli, qseow, tmp_path) -> None:
    before_rotation = qseow_call(cli, qseow, OLD_KEY)
    assert before_rotation.exit_code == 0, before_rotation.stderr

    prefix = tmp_path / "n-"
    result = rotate_cert(cli, qseow, *new_key(prefix), "--yes", "--output", "json")
    assert result.exit_code == 0, result.stderr
    new_key_file = json.loads(result.stdout)["keyFile"]

    old = qseow_call(cli, qseow, OLD_KEY)
    assert old.exit_code == 4, old.stderr
    assert "401" in old.stderr
    assert qseow.auth_failures[-1] == "signature"
    new = qseow_call(cli, qseow, new_key_file)
    assert new.exit_code == 0, new.stderr
    assert json.loads(new.stdout)["schemaPath"] == "About"
    # the administrator's own virtual proxy still takes the old key
    admin_call = cli("qseow", "call", "GET", "/qrs/about", *server(qseow, ADMIN_PREFIX), "--userdir", "ACME",
                     "--userid", "admin", "--audience", ADMIN_AUDIENCE, "--cert-privatekey-file", OLD_KEY)
    assert admin_call.exit_code == 0, admin_call.stderr


def test_rotate_cert_debug_shows_no_token(cli, qseow, other_cert) -> None:
    result = rotate_cert(cli, qseow, "--cert-file", other_cert, "--yes", "--loglevel", "debug")
    assert result.exit_code == 0, result.stderr
    tokens = {r.headers["authorization"][7:] for r in qseow.requests
              if r.headers.get("authorization", "").lower().startswith("bearer ")}
    assert tokens
    for token in tokens:
        assert token not in result.stderr and token not in result.stdout
