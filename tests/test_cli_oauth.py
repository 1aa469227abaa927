"""The OAuth commands end to end: ``create-client-assertion``, ``check --target oauth-assertion``, ``qscloud oauth
token`` against the Qlik Cloud emulator, OAuth as the admin credential of the ``qscloud`` commands (and
``QlikCloudClient(credentials=...)`` after a 401), ``cert jwks --use sig``, and no secret in any message.

Exit codes: 0 ok, 1 error, 2 usage, 3 check failed, 4 Qlik API error; results alone on stdout, messages on stderr.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import qs_jwt
import qs_jwt.oauth
from conftest import PASSPHRASE, key_bytes, key_path
from qlik_emulator import QscloudEmulator
from qlik_emulator.client import send
from qlik_emulator.fixtures import QSCLOUD_API_KEY, QSCLOUD_ISSUER, QSCLOUD_KID
from qs_jwt.errors import QlikApiError
from qs_jwt.http import HttpSettings
from qs_jwt.oauth import OAuthCredentials
from qs_jwt.qscloud import QlikCloudClient

KEY = key_path("rsa2048_pkcs8.pem")
PEM = key_bytes("rsa2048_pkcs8.pem")
CERT = key_path("rsa2048_cert.pem")
CERT_PEM = key_bytes("rsa2048_cert.pem")
OTHER_KEY = key_path("other2048_pkcs8.pem")
OTHER_PEM = key_bytes("other2048_pkcs8.pem")
P12 = Path(key_path("rsa2048.p12"))
#: the public JWK of the test key, as an OAuth client holds it
JWK = qs_jwt.public_jwk(qs_jwt.load_public_key(CERT_PEM), kid="k1")
OTHER_JWK = qs_jwt.public_jwk(qs_jwt.load_public_key(key_bytes("other2048_public.pem")), kid="k-other")

#: a tenant for the commands that call nothing
TENANT = "your-tenant.eu.qlikcloud.com"
ENDPOINT = f"https://{TENANT}/oauth/token"
CLIENT = "my-client"

SECRET = "s3cr3t-client-secret-0123456789abcdef"
#: client_credentials only, by secret; a tenant admin (admin_classic)
SECRET_CLIENT = "m2m-secret-client"
#: both grants, by secret
IMP_CLIENT = "impersonating-client"
#: both grants, by private key JWT (the test key, kid k1)
KEY_CLIENT = "private-key-client"
#: both grants, by private key JWT with the other key (kid k-other)
OTHER_KEY_CLIENT = "other-key-client"
BOTH_GRANTS = ("client_credentials", "urn:qlik:oauth:user-impersonation")
SCOPES = ("admin_classic", "user_default")
ME = "/api/v1/users/me"
TOKEN_KEYS = {"access_token", "token_type", "expires_at", "scope"}


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(autouse=True)
def _no_credentials_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No client secret or API key of the machine takes part (conftest clears only $QS_JWT_* and $QLIK_API_KEY)."""
    for name in ("QLIK_OAUTH_CLIENT_SECRET", "QLIK_API_KEY", "QS_JWT_PRIVATE_KEY", "QS_JWT_PRIVATE_KEY_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cli(run_cli):  # type: ignore[no-untyped-def]
    """``run_cli`` that also asserts that no traceback is printed, whatever the outcome."""
    def run(*args: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        result = run_cli(*args, **kwargs)
        assert "Traceback" not in result.stderr, result.stderr
        assert "Traceback" not in result.stdout, result.stdout
        return result

    return run


@pytest.fixture
def assertions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every client assertion OAuthCredentials makes for a token request (to look for them in the output)."""
    made: list[str] = []
    original = qs_jwt.oauth.create_client_assertion

    def recording(*args: Any, **kwargs: Any) -> Any:
        token = original(*args, **kwargs)
        made.append(token.token)
        return token

    monkeypatch.setattr(qs_jwt.oauth, "create_client_assertion", recording)
    return made


@pytest.fixture
def emu(qscloud_emulator: QscloudEmulator) -> QscloudEmulator:
    """The tenant with four OAuth clients and the users alice (with an email) and bob."""
    qscloud_emulator.add_oauth_client(SECRET_CLIENT, secret=SECRET, scopes=SCOPES)
    qscloud_emulator.add_oauth_client(IMP_CLIENT, secret=SECRET, allowed_grant_types=BOTH_GRANTS, scopes=SCOPES)
    qscloud_emulator.add_oauth_client(KEY_CLIENT, jwk=JWK, allowed_grant_types=BOTH_GRANTS, scopes=SCOPES)
    qscloud_emulator.add_oauth_client(OTHER_KEY_CLIENT, jwk=OTHER_JWK, allowed_grant_types=BOTH_GRANTS,
                                      scopes=SCOPES)
    qscloud_emulator.add_user("alice", email="alice@example.com")
    qscloud_emulator.add_user("bob")
    return qscloud_emulator


def private_file(path: Path, data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    path.chmod(0o600)
    return str(path)


@pytest.fixture
def secret_file(tmp_path: Path) -> str:
    return private_file(tmp_path / "client-secret.txt", SECRET + "\n")


def conn(emu: QscloudEmulator) -> list[str]:
    return ["--tenant", emu.url, "--ca-cert", str(emu.ca_cert_path), "--timeout", "5"]


def by_secret(emu: QscloudEmulator, secret_file: str, client: str = SECRET_CLIENT) -> list[str]:
    return [*conn(emu), "--client-id", client, "--client-secret-file", secret_file]


def by_key(emu: QscloudEmulator, client: str = KEY_CLIENT, kid: str = "k1", key: str = KEY) -> list[str]:
    """``qscloud oauth token`` by private key JWT (its key from the signing-key options)."""
    return [*conn(emu), "--client-id", client, "--assertion-keyid", kid, "--cert-privatekey-file", key]


def admin_by_key(emu: QscloudEmulator, client: str = KEY_CLIENT, kid: str = "k1", key: str = KEY) -> list[str]:
    """An admin command's OAuth credential by private key JWT (its key from --assertion-privatekey-file)."""
    return [*conn(emu), "--client-id", client, "--assertion-keyid", kid, "--assertion-privatekey-file", key]


def user_id(emu: QscloudEmulator, subject: str) -> str:
    return next(str(user["id"]) for user in emu.users if user["subject"] == subject)


def user_of(emu: QscloudEmulator, access_token: str) -> str:
    issued = next(token for token in emu.oauth_tokens_issued if token.access_token == access_token)
    return next(str(user["subject"]) for user in emu.users if user["id"] == issued.user_id)


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and the payload, the signature verified with the test key's certificate."""
    public = qs_jwt.load_public_key(CERT_PEM)
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, public, algorithms=[header["alg"]],  # type: ignore[arg-type]
                         options={"verify_aud": False, "verify_iat": False})
    return header, payload


def craft(*, key: bytes = PEM, headers: dict[str, Any] | None = None, drop: tuple[str, ...] = (),
          **claims: Any) -> str:
    """A client assertion made with PyJWT: good for CLIENT of TENANT with kid k1, unless told otherwise."""
    now = int(time.time())
    payload: dict[str, Any] = {"iss": CLIENT, "sub": CLIENT, "aud": ENDPOINT, "jti": str(uuid.uuid4()),
                               "iat": now, "exp": now + 300}
    payload.update(claims)
    header = {"typ": "JWT", "kid": "k1", **(headers or {})}
    for name in drop:
        header.pop(name, None)
    return jwt.encode(payload, key, algorithm="RS256", headers=header)


def check_args(token: str, *extra: str) -> list[str]:
    return ["check", "--target", "oauth-assertion", "--jwt", token, "--tenant", TENANT, "--client-id", CLIENT,
            "--keyid", "k1", "--cert-publickey-file", CERT, *extra]


def findings(stdout: str) -> dict[str, str]:
    """rule -> severity of a ``check --output json`` answer."""
    return {finding["rule"]: finding["severity"] for finding in json.loads(stdout)["findings"]}


def segments(token: str) -> list[str]:
    return [part for part in token.split(".") if part]


def assert_no_secret(text: str, *, secret: str | None = None, assertions: list[str] = (),  # type: ignore[assignment]
                     access_tokens: list[str] = ()) -> None:  # type: ignore[assignment]
    if secret is not None:
        assert secret not in text
        assert secret[:12] not in text  # nor its start, shortened
    for assertion in assertions:
        for part in segments(assertion):
            assert part not in text, "a part of a client assertion was shown"
            assert part[:24] not in text, "the start of a part of a client assertion was shown"
    for token in access_tokens:
        assert token not in text
        assert token[:16] not in text


# ---------------------------------------------------------------- 1. create-client-assertion


def assertion_cmd(*extra: str, tenant: str = TENANT) -> list[str]:
    return ["create-client-assertion", "--tenant", tenant, "--client-id", CLIENT, "--keyid", "k1", *extra]


def test_an_assertion_has_the_header_and_claims_qlik_lists(cli) -> None:  # type: ignore[no-untyped-def]
    before = int(time.time())
    result = cli(*assertion_cmd("--cert-privatekey-file", KEY))
    after = int(time.time())
    assert result.exit_code == 0, result.stderr
    token = result.stdout.strip()
    assert token.count(".") == 2 and "\n" not in token
    header, payload = parts(token)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": "k1"}
    assert set(payload) == {"iss", "sub", "aud", "jti", "iat", "exp"}
    assert payload["iss"] == payload["sub"] == CLIENT
    assert payload["aud"] == ENDPOINT
    assert str(uuid.UUID(payload["jti"])) == payload["jti"].lower()
    assert before - 1 <= payload["iat"] <= after + 1
    assert payload["exp"] - payload["iat"] == 300


@pytest.mark.parametrize("tenant", [TENANT, f"https://{TENANT}", f"https://{TENANT}/", TENANT.upper()])
def test_the_audience_is_the_token_endpoint_without_a_trailing_slash(cli, tenant: str) -> None:  # type: ignore[no-untyped-def]
    result = cli(*assertion_cmd("--cert-privatekey-file", KEY, tenant=tenant))
    assert result.exit_code == 0, result.stderr
    assert parts(result.stdout.strip())[1]["aud"] == ENDPOINT


def test_rs512_is_taken(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(*assertion_cmd("--cert-privatekey-file", KEY, "--algorithm", "RS512"))
    assert result.exit_code == 0, result.stderr
    header, _payload = parts(result.stdout.strip())
    assert header["alg"] == "RS512"


def test_every_run_has_a_new_jti(cli) -> None:  # type: ignore[no-untyped-def]
    jtis = {parts(cli(*assertion_cmd("--cert-privatekey-file", KEY)).stdout.strip())[1]["jti"] for _ in range(3)}
    assert len(jtis) == 3
    for jti in jtis:
        uuid.UUID(jti)


@pytest.mark.parametrize(("expires", "seconds"), [("1m", 60), ("5m", 300), ("300s", 300), ("90s", 90)])
def test_the_lifetime_is_expires(cli, expires: str, seconds: int) -> None:  # type: ignore[no-untyped-def]
    result = cli(*assertion_cmd("--cert-privatekey-file", KEY, "--expires", expires))
    assert result.exit_code == 0, result.stderr
    payload = parts(result.stdout.strip())[1]
    assert payload["exp"] - payload["iat"] == seconds


@pytest.mark.parametrize("options", [["--expires", "6m"], ["--expires", "301s"], ["--algorithm", "RS384"],
                                     ["--algorithm", "ES384"], ["--algorithm", "HS256"]])
def test_a_lifetime_over_five_minutes_or_another_algorithm_is_a_usage_error(cli, options: list[str]) -> None:  # type: ignore[no-untyped-def]
    result = cli(*assertion_cmd("--cert-privatekey-file", KEY, *options))
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert options[0] in result.stderr


def test_the_key_may_come_from_stdin(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(*assertion_cmd("--cert-privatekey-file", "-"), stdin=PEM)
    assert result.exit_code == 0, result.stderr
    assert parts(result.stdout.strip())[1]["iss"] == CLIENT


def test_the_key_may_come_from_the_environment(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(*assertion_cmd(), env={"QS_JWT_PRIVATE_KEY": PEM.decode()})
    assert result.exit_code == 0, result.stderr
    assert parts(result.stdout.strip())[1]["sub"] == CLIENT


def test_without_a_key_it_is_a_usage_error(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(*assertion_cmd())
    assert result.exit_code == 2
    assert "no signing key" in result.stderr


def test_an_encrypted_key_takes_its_passphrase_file(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key = serialization.load_pem_private_key(PEM, password=None)
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(b"open sesame"))
    path = private_file(tmp_path / "encrypted.pem", encrypted)
    passphrase = private_file(tmp_path / "passphrase.txt", "open sesame\n")
    result = cli(*assertion_cmd("--cert-privatekey-file", path, "--cert-privatekey-passphrase-file", passphrase))
    assert result.exit_code == 0, result.stderr
    assert parts(result.stdout.strip())[0]["kid"] == "k1"
    assert "open sesame" not in result.stderr
    missing = cli(*assertion_cmd("--cert-privatekey-file", path))
    assert missing.exit_code != 0
    assert missing.stdout == ""


@pytest.mark.skipif(not P12.exists(), reason="tests/keys/rsa2048.p12 is absent")
def test_a_pkcs12_file_with_its_passphrase(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    passphrase = private_file(tmp_path / "passphrase.txt", PASSPHRASE)
    result = cli(*assertion_cmd("--cert-privatekey-file", str(P12), "--cert-privatekey-passphrase-file", passphrase))
    assert result.exit_code == 0, result.stderr
    header, payload = parts(result.stdout.strip())  # verifies with rsa2048_cert.pem: the same key
    assert header["kid"] == "k1" and payload["aud"] == ENDPOINT


def test_a_1024_bit_key_is_refused(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - weak on purpose
    path = private_file(tmp_path / "rsa1024.pem", small.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    result = cli(*assertion_cmd("--cert-privatekey-file", path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "1024" in result.stderr and "2048" in result.stderr


def test_json_output_has_the_header_and_payload(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(*assertion_cmd("--cert-privatekey-file", KEY, "--output", "json"))
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    header, payload = parts(data["token"])
    assert data["header"] == header == {"alg": "RS256", "typ": "JWT", "kid": "k1"}
    assert data["payload"] == payload
    assert data["payload"]["aud"] == ENDPOINT


def test_the_assertion_made_passes_check(cli) -> None:  # type: ignore[no-untyped-def]
    token = cli(*assertion_cmd("--cert-privatekey-file", KEY)).stdout.strip()
    result = cli(*check_args(token))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


def test_the_assertion_made_is_taken_by_the_token_endpoint(cli, emu: QscloudEmulator) -> None:  # type: ignore[no-untyped-def]
    result = cli("create-client-assertion", "--tenant", emu.url, "--client-id", KEY_CLIENT, "--keyid", "k1",
                 "--cert-privatekey-file", KEY)
    assert result.exit_code == 0, result.stderr
    answer = send(emu, "POST", "/oauth/token", headers={"Content-Type": "application/json"}, body={
        "client_id": KEY_CLIENT, "grant_type": "client_credentials", "client_assertion": result.stdout.strip(),
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
    assert answer.status == 200, answer.text
    assert emu.oauth_jtis == [parts(result.stdout.strip())[1]["jti"]]


# ---------------------------------------------------------------- 1. check --target oauth-assertion


def test_a_good_crafted_assertion_passes(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(*check_args(craft(), "--output", "json"))
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["ok"] is True
    assert findings(result.stdout) == {}


def _expired() -> str:
    now = int(time.time())
    return craft(iat=now - 600, exp=now - 400)


BAD_ASSERTIONS = [
    pytest.param(lambda: craft(aud="https://other-tenant.eu.qlikcloud.com/oauth/token"), "aud", id="wrong-aud"),
    pytest.param(lambda: craft(aud=ENDPOINT + "/"), "aud", id="aud-trailing-slash"),
    pytest.param(lambda: craft(sub="someone-else"), "sub", id="iss-not-sub"),
    pytest.param(lambda: craft(iss="another-client", sub="another-client"), "iss", id="wrong-client-id"),
    pytest.param(lambda: craft(drop=("kid",)), "kid", id="kid-missing"),
    pytest.param(lambda: craft(headers={"kid": "k2"}), "kid", id="kid-wrong"),
    pytest.param(lambda: craft(exp=int(time.time()) + 301), "lifetime", id="lifetime-over-300s"),
    pytest.param(_expired, "exp", id="expired"),
    pytest.param(lambda: craft(key=OTHER_PEM), "signature", id="another-key"),
]


@pytest.mark.parametrize(("make", "rule"), BAD_ASSERTIONS)
def test_each_problem_is_named_and_fails_the_check(cli, make: Any, rule: str) -> None:  # type: ignore[no-untyped-def]
    token = make()
    result = cli(*check_args(token, "--output", "json"))
    assert result.exit_code == 3, result.stdout
    found = findings(result.stdout)
    assert found.get(rule) == "error", found
    text = cli(*check_args(token))
    assert text.exit_code == 3
    assert f"ERROR: {rule}" in text.stdout, text.stdout
    assert "fix:" in text.stdout


def test_a_wrong_client_id_names_both_iss_and_sub(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(*check_args(craft(iss="another-client", sub="another-client"), "--output", "json"))
    assert result.exit_code == 3
    assert {"iss", "sub"} <= set(findings(result.stdout))


def test_a_trailing_slash_is_named_as_such(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(*check_args(craft(aud=ENDPOINT + "/")))
    assert result.exit_code == 3
    assert "slash" in result.stdout.lower()


def test_a_jti_that_is_not_a_uuid_is_a_warning_only(cli) -> None:  # type: ignore[no-untyped-def]
    token = craft(jti="not-a-uuid-1234")
    result = cli(*check_args(token, "--output", "json"))
    assert result.exit_code == 0, result.stdout
    assert findings(result.stdout) == {"jti": "warning"}
    strict = cli(*check_args(token, "--strict"))
    assert strict.exit_code == 3
    assert "WARNING: jti" in strict.stdout


def test_issuer_does_not_apply_to_an_oauth_assertion(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(*check_args(craft(), "--issuer", "my-app"))
    assert result.exit_code == 2
    assert "--issuer" in result.stderr
    assert result.stdout == ""


# ---------------------------------------------------------------- 2. qscloud oauth token


def token_cmd(*extra: str) -> list[str]:
    return ["qscloud", "oauth", "token", *extra]


def assert_token_answer(result: Any, emu: QscloudEmulator) -> dict[str, Any]:
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == TOKEN_KEYS
    assert data["token_type"] == "bearer"
    assert data["access_token"] == emu.oauth_tokens_issued[-1].access_token
    assert data["expires_at"].endswith("Z")
    return data


def test_a_client_secret_file_gets_a_token(cli, emu: QscloudEmulator, secret_file: str) -> None:  # type: ignore[no-untyped-def]
    result = cli(*token_cmd(*by_secret(emu, secret_file)))
    data = assert_token_answer(result, emu)
    issued = emu.oauth_tokens_issued
    assert len(issued) == 1
    assert issued[0].grant_type == "client_credentials"
    assert issued[0].auth_method == "client_secret_post"
    assert set(data["scope"].split()) == set(SCOPES)
    assert user_of(emu, data["access_token"]) == f"oauth-client:{SECRET_CLIENT}"
    assert SECRET not in result.stderr


def test_the_secret_may_come_from_stdin(cli, emu: QscloudEmulator) -> None:  # type: ignore[no-untyped-def]
    result = cli(*token_cmd(*conn(emu), "--client-id", SECRET_CLIENT, "--client-secret-file", "-"),
                 stdin=SECRET + "\n")
    assert_token_answer(result, emu)


def test_the_secret_may_come_from_the_environment(cli, emu: QscloudEmulator) -> None:  # type: ignore[no-untyped-def]
    result = cli(*token_cmd(*conn(emu), "--client-id", SECRET_CLIENT), env={"QLIK_OAUTH_CLIENT_SECRET": SECRET})
    assert_token_answer(result, emu)
    assert result.stderr == ""


def test_the_secret_on_the_command_line_works_and_warns(cli, emu: QscloudEmulator) -> None:  # type: ignore[no-untyped-def]
    result = cli(*token_cmd(*conn(emu), "--client-id", SECRET_CLIENT, "--client-secret", SECRET))
    assert_token_answer(result, emu)
    assert "--client-secret" in result.stderr and "process list" in result.stderr
    assert SECRET not in result.stderr


def test_a_private_key_jwt_is_fresh_for_every_request(cli, emu: QscloudEmulator) -> None:  # type: ignore[no-untyped-def]
    first = cli(*token_cmd(*by_key(emu)))
    assert_token_answer(first, emu)
    second = cli(*token_cmd(*by_key(emu)))
    assert_token_answer(second, emu)
    jtis = emu.oauth_jtis
    assert len(jtis) == 2 and jtis[0] != jtis[1]
    for jti in jtis:
        uuid.UUID(jti)
    assert [token.auth_method for token in emu.oauth_tokens_issued] == ["private_key_jwt"] * 2
    assert emu.oauth_failures == []


def test_the_assertion_key_may_be_its_own_option_or_the_environment(cli, emu: QscloudEmulator) -> None:  # type: ignore[no-untyped-def]
    own = cli(*token_cmd(*admin_by_key(emu)))
    assert_token_answer(own, emu)
    env = cli(*token_cmd(*conn(emu), "--client-id", KEY_CLIENT, "--assertion-keyid", "k1"),
              env={"QS_JWT_PRIVATE_KEY": PEM.decode()})
    assert_token_answer(env, emu)
    assert len(emu.oauth_jtis) == 2


def test_rs512_assertions_for_a_key_registered_for_rs512(cli, emu: QscloudEmulator) -> None:  # type: ignore[no-untyped-def]
    emu.add_oauth_client("rs512-client", jwk=CERT_PEM, kid="k512", alg="RS512")
    result = cli(*token_cmd(*by_key(emu, "rs512-client", "k512"), "--assertion-algorithm", "RS512"))
    assert_token_answer(result, emu)



def test_the_scopes_asked_for_are_the_tokens(cli, emu: QscloudEmulator, secret_file: str) -> None:  # type: ignore[no-untyped-def]
    one = cli(*token_cmd(*by_secret(emu, secret_file), "--scope", "user_default"))
    assert assert_token_answer(one, emu)["scope"] == "user_default"
    assert emu.oauth_tokens_issued[-1].scopes == ("user_default",)
    both = cli(*token_cmd(*by_secret(emu, secret_file), "--scope", "user_default", "--scope", "admin_classic"))
    assert set(assert_token_answer(both, emu)["scope"].split()) == {"user_default", "admin_classic"}


@pytest.mark.parametrize("how", ["sub", "email", "user-id"])
@pytest.mark.parametrize("auth", ["secret", "key"])
def test_impersonation_acts_as_the_user(cli, emu: QscloudEmulator, secret_file: str, how: str,  # type: ignore[no-untyped-def]
                                        auth: str) -> None:
    value = {"sub": "alice", "email": "alice@example.com", "user-id": user_id(emu, "alice")}[how]
    credential = by_secret(emu, secret_file, IMP_CLIENT) if auth == "secret" else by_key(emu)
    result = cli(*token_cmd(*credential, f"--impersonate-{how}", value, "--scope", "user_default"))
    data = assert_token_answer(result, emu)
    issued = emu.oauth_tokens_issued[-1]
    assert issued.grant_type == "urn:qlik:oauth:user-impersonation"
    assert user_of(emu, data["access_token"]) == "alice"
    assert data["scope"] == "user_default"


def test_output_token_prints_the_bare_token_and_warns(cli, emu: QscloudEmulator, secret_file: str) -> None:  # type: ignore[no-untyped-def]
    result = cli(*token_cmd(*by_secret(emu, secret_file), "--output", "token"))
    assert result.exit_code == 0, result.stderr
    token = emu.oauth_tokens_issued[-1].access_token
    assert result.stdout == token + "\n"
    assert "warn" in result.stderr.lower() and "credential" in result.stderr
    assert token not in result.stderr


def refused(result: Any, *words: str) -> str:
    """The refusal: exit 4, nothing on stdout, Qlik's words and a 'likely cause' line on stderr."""
    assert result.exit_code == 4, result.stdout + result.stderr
    assert result.stdout == ""
    assert "likely cause: " in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    return result.stderr


def test_an_unknown_client_is_explained(cli, emu: QscloudEmulator, secret_file: str) -> None:  # type: ignore[no-untyped-def]
    stderr = refused(cli(*token_cmd(*by_secret(emu, secret_file, "no-such-client"))),
                     "Invalid client", "No OAuth client with the client_id no-such-client")
    assert "does not know the OAuth client" in stderr
    assert emu.oauth_failures == ["client unknown"]


def test_a_wrong_secret_is_explained(cli, emu: QscloudEmulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    wrong = private_file(tmp_path / "wrong.txt", "wrong-secret-0123456789")
    stderr = refused(cli(*token_cmd(*conn(emu), "--client-id", SECRET_CLIENT, "--client-secret-file", wrong)),
                     "Invalid client", "Invalid client secret")
    assert "client secret is wrong" in stderr
    assert "wrong-secret-0123456789" not in stderr
    assert emu.oauth_failures == ["secret wrong"]


def test_an_assertion_signed_by_another_key_is_explained(cli, emu: QscloudEmulator) -> None:  # type: ignore[no-untyped-def]
    stderr = refused(cli(*token_cmd(*by_key(emu, key=OTHER_KEY))), "Invalid client assertion", "signature")
    assert "sign with the private key" in stderr
    assert emu.oauth_failures == ["assertion signature"]


def test_an_unknown_kid_is_explained(cli, emu: QscloudEmulator) -> None:  # type: ignore[no-untyped-def]
    stderr = refused(cli(*token_cmd(*by_key(emu, kid="k-unknown"))), "Invalid client assertion", "k-unknown")
    assert "kid names no public key" in stderr
    assert emu.oauth_failures == ["assertion kid unknown"]


def test_impersonation_on_a_client_without_the_grant_is_explained(cli, emu: QscloudEmulator,  # type: ignore[no-untyped-def]
                                                                   secret_file: str) -> None:
    stderr = refused(cli(*token_cmd(*by_secret(emu, secret_file), "--impersonate-sub", "alice")),
                     "Unauthorized client", "urn:qlik:oauth:user-impersonation")
    assert "add the grant type urn:qlik:oauth:user-impersonation" in stderr
    assert emu.oauth_failures == ["grant not allowed: urn:qlik:oauth:user-impersonation"]


def test_a_user_that_does_not_exist_is_explained(cli, emu: QscloudEmulator, secret_file: str) -> None:  # type: ignore[no-untyped-def]
    stderr = refused(cli(*token_cmd(*by_secret(emu, secret_file, IMP_CLIENT), "--impersonate-sub", "nobody")),
                     "User not found", "nobody")
    assert "does not exist in the tenant" in stderr
    assert emu.oauth_failures == ["user not found"]


def test_a_scope_the_client_lacks_is_explained(cli, emu: QscloudEmulator, secret_file: str) -> None:  # type: ignore[no-untyped-def]
    stderr = refused(cli(*token_cmd(*by_secret(emu, secret_file), "--scope", "user_default", "--scope", "mystery")),
                     "Invalid scope", "mystery")
    assert "not allowed a scope" in stderr
    assert emu.oauth_failures == ["scope not allowed: mystery"]


@pytest.mark.parametrize(("options", "words"), [
    pytest.param([], "--client-id", id="no-client-id"),
    pytest.param(["--client-id", KEY_CLIENT, "--client-secret-file", "SECRET_FILE", "--assertion-keyid", "k1",
                  "--cert-privatekey-file", KEY], "not both", id="secret-and-assertion"),
    pytest.param(["--client-id", KEY_CLIENT, "--client-secret", SECRET, "--assertion-keyid", "k1",
                  "--cert-privatekey-file", KEY], "not both", id="secret-option-and-assertion"),
    pytest.param(["--client-id", KEY_CLIENT, "--assertion-keyid", "k1"], "key", id="assertion-without-key"),
    pytest.param(["--client-id", IMP_CLIENT, "--client-secret-file", "SECRET_FILE", "--impersonate-sub", "alice",
                  "--impersonate-email", "alice@example.com"], "--impersonate", id="two-impersonations"),
    pytest.param(["--client-id", IMP_CLIENT, "--client-secret-file", "SECRET_FILE", "--impersonate-sub", "alice",
                  "--impersonate-user-id", "x"], "--impersonate", id="sub-and-user-id"),
    pytest.param(["--client-id", SECRET_CLIENT], "secret", id="no-secret-nor-key"),
    pytest.param(["--client-id", SECRET_CLIENT, "--client-secret", SECRET, "--client-secret-file", "SECRET_FILE"],
                 "not both", id="secret-twice"),
    pytest.param(["--client-secret-file", "SECRET_FILE"], "--client-id", id="secret-without-client-id"),
])
def test_usage_errors(cli, emu: QscloudEmulator, secret_file: str, options: list[str], words: str) -> None:  # type: ignore[no-untyped-def]
    options = [secret_file if option == "SECRET_FILE" else option for option in options]
    result = cli(*token_cmd(*conn(emu), *options))
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert words in result.stderr
    assert emu.oauth_tokens_issued == [] and emu.oauth_failures == []
    assert not any(request.path == "/oauth/token" for request in emu.requests)


# ---------------------------------------------------------------- 3. OAuth as the admin credential


def tokens_for(emu: QscloudEmulator, client: str) -> int:
    return sum(1 for token in emu.oauth_tokens_issued if token.client_id == client)


def test_idp_list_with_a_client_secret(cli, emu: QscloudEmulator, secret_file: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("qscloud", "idp", "list", *by_secret(emu, secret_file), "--scope", "admin_classic",
                 "--output", "json")
    assert result.exit_code == 0, result.stderr
    idps = json.loads(result.stdout)
    assert [idp["options"]["issuer"] for idp in idps] == [QSCLOUD_ISSUER]
    issued = emu.oauth_tokens_issued
    assert len(issued) == 1 and issued[0].scopes == ("admin_classic",)
    assert not any(request.headers.get("authorization") == f"Bearer {QSCLOUD_API_KEY}" for request in emu.requests)


def test_idp_list_with_a_private_key_jwt(cli, emu: QscloudEmulator) -> None:  # type: ignore[no-untyped-def]
    result = cli("qscloud", "idp", "list", *admin_by_key(emu), "--scope", "admin_classic")
    assert result.exit_code == 0, result.stderr
    assert QSCLOUD_ISSUER in result.stdout
    assert [token.auth_method for token in emu.oauth_tokens_issued] == ["private_key_jwt"]


def test_without_admin_classic_the_token_is_no_admins(cli, emu: QscloudEmulator, secret_file: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("qscloud", "idp", "list", *by_secret(emu, secret_file), "--scope", "user_default")
    assert result.exit_code == 4, result.stdout
    assert result.stdout == ""


def test_one_token_request_per_run_for_several_calls(cli, emu: QscloudEmulator, secret_file: str) -> None:  # type: ignore[no-untyped-def]
    before = len(emu.oauth_tokens_issued)
    result = cli("qscloud", "idp", "create", *by_secret(emu, secret_file), "--scope", "admin_classic",
                 "--issuer", "oauth-made", "--keyid", "oauth-kid", "--cert-file", CERT)
    assert result.exit_code == 0, result.stderr
    assert len(emu.oauth_tokens_issued) == before + 1
    api = [(request.method, request.path) for request in emu.requests if request.path.startswith("/api/")]
    assert ("GET", "/api/v1/identity-providers") in api
    assert ("GET", ME) in api
    assert ("POST", "/api/v1/identity-providers") in api
    assert len(api) >= 3
    token = emu.oauth_tokens_issued[-1].access_token
    assert all(request.headers.get("authorization") == f"Bearer {token}" for request in emu.requests
               if request.path.startswith("/api/"))
    assert [idp["options"]["issuer"] for idp in emu.identity_providers].count("oauth-made") == 1


def test_call_with_an_impersonation_token_is_the_user(cli, emu: QscloudEmulator, secret_file: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("qscloud", "call", "GET", ME, *by_secret(emu, secret_file, IMP_CLIENT), "--impersonate-sub", "alice")
    assert result.exit_code == 0, result.stderr
    me = json.loads(result.stdout)
    assert me["subject"] == "alice"
    assert me["id"] == user_id(emu, "alice")
    assert not any(request.path.startswith("/login/jwt-session") for request in emu.requests)
    assert emu.oauth_tokens_issued[-1].grant_type == "urn:qlik:oauth:user-impersonation"


def test_call_with_a_private_key_jwt_impersonating_by_email(cli, emu: QscloudEmulator) -> None:  # type: ignore[no-untyped-def]
    result = cli("qscloud", "call", "GET", ME, *admin_by_key(emu), "--impersonate-email", "alice@example.com")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["subject"] == "alice"
    assert not any(request.path.startswith("/login/") for request in emu.requests)


def test_call_as_the_client_itself(cli, emu: QscloudEmulator, secret_file: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("qscloud", "call", "GET", ME, *by_secret(emu, secret_file))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["subject"] == f"oauth-client:{SECRET_CLIENT}"


def test_a_refused_token_request_of_call_is_explained(cli, emu: QscloudEmulator, secret_file: str) -> None:  # type: ignore[no-untyped-def]
    refused(cli("qscloud", "call", "GET", ME, *by_secret(emu, secret_file, IMP_CLIENT), "--impersonate-sub", "nobody"),
            "User not found")


def test_a_refused_token_request_of_an_admin_command_exits_4(cli, emu: QscloudEmulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    wrong = private_file(tmp_path / "wrong.txt", "wrong-secret-0123456789")
    result = cli("qscloud", "idp", "list", *conn(emu), "--client-id", SECRET_CLIENT, "--client-secret-file", wrong)
    assert result.exit_code == 4, result.stderr
    assert result.stdout == ""
    assert "Invalid client secret" in result.stderr
    assert "wrong-secret-0123456789" not in result.stderr


@pytest.mark.parametrize("command", [["qscloud", "idp", "list"], ["qscloud", "call", "GET", ME]])
@pytest.mark.parametrize("api_key", ["file", "option"])
def test_an_api_key_and_a_client_id_is_a_usage_error(cli, emu: QscloudEmulator, secret_file: str, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                     command: list[str], api_key: str) -> None:
    key = (["--api-key-file", private_file(tmp_path / "api-key.txt", QSCLOUD_API_KEY)] if api_key == "file"
           else ["--api-key", QSCLOUD_API_KEY])
    result = cli(*command, *by_secret(emu, secret_file), *key)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert "--client-id" in result.stderr
    assert emu.requests == []


@pytest.mark.parametrize("options", [
    pytest.param(["--client-id", SECRET_CLIENT], id="no-secret"),
    pytest.param(["--client-id", KEY_CLIENT, "--assertion-keyid", "k1"], id="assertion-without-key"),
    pytest.param(["--client-secret-file", "SECRET_FILE"], id="secret-without-client-id"),
    pytest.param(["--client-id", KEY_CLIENT, "--client-secret-file", "SECRET_FILE", "--assertion-keyid", "k1",
                  "--assertion-privatekey-file", KEY], id="secret-and-assertion"),
])
def test_admin_credential_usage_errors(cli, emu: QscloudEmulator, secret_file: str, options: list[str]) -> None:  # type: ignore[no-untyped-def]
    options = [secret_file if option == "SECRET_FILE" else option for option in options]
    result = cli("qscloud", "idp", "list", *conn(emu), *options)
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert emu.requests == []


def test_without_the_assertion_key_the_usage_error_names_options_the_command_has(cli, emu: QscloudEmulator) -> None:  # type: ignore[no-untyped-def]
    result = cli(*token_cmd(*conn(emu), "--client-id", KEY_CLIENT, "--assertion-keyid", "k1"))
    assert result.exit_code == 2
    assert "--assertion-privatekey-file" in result.stderr or "--cert-privatekey-file" in result.stderr
    assert "--cert-create" not in result.stderr  # qscloud oauth token has no such option


def test_idp_check_checks_its_own_key_not_the_assertion_key(cli, emu: QscloudEmulator) -> None:  # type: ignore[no-untyped-def]
    oauth = admin_by_key(emu, OTHER_KEY_CLIENT, "k-other", OTHER_KEY)
    good = cli("qscloud", "idp", "check", *oauth, "--cert-privatekey-file", KEY, "--issuer", QSCLOUD_ISSUER,
               "--keyid", QSCLOUD_KID)
    assert good.exit_code == 0, good.stdout + good.stderr
    assert "OK" in good.stdout
    assert [token.auth_method for token in emu.oauth_tokens_issued] == ["private_key_jwt"]
    assert emu.oauth_failures == []
    # the idp holds the rsa2048 key: checking the other key (the assertion's) must fail
    other = cli("qscloud", "idp", "check", *admin_by_key(emu), "--cert-privatekey-file", OTHER_KEY,
                "--issuer", QSCLOUD_ISSUER, "--keyid", QSCLOUD_KID)
    assert other.exit_code == 3, other.stdout + other.stderr
    assert emu.oauth_failures == []


def test_idp_check_with_a_client_secret(cli, emu: QscloudEmulator, secret_file: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("qscloud", "idp", "check", *by_secret(emu, secret_file), "--cert-privatekey-file", KEY,
                 "--output", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["ok"] is True


# ---------------------------------------------------------------- 3. the library: a new token after a 401


def library_client(emu: QscloudEmulator) -> tuple[QlikCloudClient, OAuthCredentials]:
    settings = HttpSettings(ca_cert=str(emu.ca_cert_path), timeout=5)
    credentials = OAuthCredentials(emu.url, SECRET_CLIENT, client_secret=SECRET, settings=settings)
    return QlikCloudClient(emu.url, credentials=credentials, settings=settings), credentials


def test_after_a_401_the_client_fetches_a_new_token_once(emu: QscloudEmulator) -> None:
    client, credentials = library_client(emu)
    with client:
        assert client.request("GET", ME).json()["subject"] == f"oauth-client:{SECRET_CLIENT}"
        assert len(emu.oauth_tokens_issued) == 1
        assert client.request("GET", ME).json()["subject"] == f"oauth-client:{SECRET_CLIENT}"
        assert len(emu.oauth_tokens_issued) == 1  # reused
        emu.expire_oauth_tokens()
        assert client.request("GET", ME).json()["subject"] == f"oauth-client:{SECRET_CLIENT}"
        assert emu.oauth_failures == ["access token expired"]
        issued = emu.oauth_tokens_issued
        assert len(issued) == 2 and issued[0].access_token != issued[1].access_token
        assert credentials.requests_made == 2
        me = [request for request in emu.requests if request.path == ME]
        assert [request.headers["authorization"] for request in me] == [
            f"Bearer {issued[0].access_token}", f"Bearer {issued[0].access_token}",
            f"Bearer {issued[0].access_token}", f"Bearer {issued[1].access_token}"]


def test_a_second_consecutive_401_is_raised(emu: QscloudEmulator) -> None:
    client, credentials = library_client(emu)
    body = json.dumps({"errors": [{"code": "HTTP-401", "title": "Unauthorized", "status": "401"}]})
    with client:
        client.request("GET", ME)
        emu.fail_next(ME, 401, count=2, body=body, content_type="application/json")
        with pytest.raises(QlikApiError) as caught:
            client.request("GET", ME)
        assert caught.value.status == 401
        assert len(emu.oauth_tokens_issued) == 2  # the first, and one new one after the first 401
        assert credentials.requests_made == 2
        assert len([request for request in emu.requests if request.path == ME]) == 3
        # the next call works with the new token, without another token request
        assert client.request("GET", ME).json()["subject"] == f"oauth-client:{SECRET_CLIENT}"
        assert len(emu.oauth_tokens_issued) == 2


# ---------------------------------------------------------------- 4. cert jwks --use sig


def test_cert_jwks_use_sig_prints_the_one_jwk(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("cert", "jwks", CERT, "--use", "sig", "--kid", "my-oauth-key")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"kid", "kty", "alg", "use", "n", "e"}
    assert data["kid"] == "my-oauth-key"
    assert data["kty"] == "RSA" and data["alg"] == "RS256" and data["use"] == "sig"
    numbers = qs_jwt.load_public_key(CERT_PEM).public_numbers()  # type: ignore[union-attr]
    assert jwt.algorithms.RSAAlgorithm.from_jwk(data).public_numbers() == numbers  # type: ignore[union-attr]
    assert data == {**JWK, "kid": "my-oauth-key"}


def test_the_jwk_of_cert_jwks_registers_and_works(cli, qscloud_emulator: QscloudEmulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    emu = qscloud_emulator
    jwk_text = cli("cert", "jwks", CERT, "--use", "sig", "--kid", "my-oauth-key").stdout
    body = private_file(tmp_path / "client.json", json.dumps({
        "appType": "web", "clientName": "qs-jwt scripts", "allowedGrantTypes": list(BOTH_GRANTS),
        "allowedScopes": list(SCOPES), "publicKeys": [json.loads(jwk_text)]}))
    made = cli("qscloud", "call", "POST", "/api/v1/oauth-clients", *conn(emu), "--api-key", QSCLOUD_API_KEY,
               "--data", f"@{body}")
    assert made.exit_code == 0, made.stderr
    client_id = json.loads(made.stdout)["clientId"]
    result = cli(*token_cmd(*by_key(emu, client_id, "my-oauth-key")))
    assert_token_answer(result, emu)


def test_cert_jwks_use_sig_refuses_two_keys(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    jwks = private_file(tmp_path / "two.jwks", json.dumps({"keys": [JWK, OTHER_JWK]}))
    result = cli("cert", "jwks", jwks, "--use", "sig")
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert "--use sig" in result.stderr
    both = cli("cert", "jwks", jwks)
    assert both.exit_code == 0
    assert len(json.loads(both.stdout)["keys"]) == 2


# ---------------------------------------------------------------- 5. no secret in any message


def test_debug_logs_of_oauth_token_by_secret_hold_no_secret(cli, emu: QscloudEmulator, secret_file: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("--loglevel", "debug", *token_cmd(*by_secret(emu, secret_file)))
    assert result.exit_code == 0, result.stderr
    assert "oauth/token" in result.stderr  # debug lines were written
    tokens = [token.access_token for token in emu.oauth_tokens_issued]
    assert_no_secret(result.stderr, secret=SECRET, access_tokens=tokens)
    assert tokens[0] in result.stdout  # the command's purpose


def test_debug_logs_with_the_secret_on_the_command_line(cli, emu: QscloudEmulator) -> None:  # type: ignore[no-untyped-def]
    result = cli("--loglevel", "debug", *token_cmd(*conn(emu), "--client-id", SECRET_CLIENT, "--client-secret",
                                                   SECRET, "--output", "token"))
    assert result.exit_code == 0, result.stderr
    tokens = [token.access_token for token in emu.oauth_tokens_issued]
    assert result.stdout.strip() == tokens[0]
    assert_no_secret(result.stderr, secret=SECRET, access_tokens=tokens)


def test_debug_logs_of_oauth_token_by_key_hold_no_assertion(cli, emu: QscloudEmulator,  # type: ignore[no-untyped-def]
                                                            assertions: list[str]) -> None:
    result = cli("--loglevel", "debug", *token_cmd(*by_key(emu), "--impersonate-sub", "alice"))
    assert result.exit_code == 0, result.stderr
    assert len(assertions) == 1
    tokens = [token.access_token for token in emu.oauth_tokens_issued]
    assert_no_secret(result.stderr, assertions=assertions, access_tokens=tokens)
    assert_no_secret(result.stdout, assertions=assertions)


@pytest.mark.parametrize("case", ["wrong-secret", "unknown-client", "wrong-key", "unknown-kid", "no-grant",
                                  "no-user", "bad-scope"])
def test_debug_logs_of_refusals_hold_no_secret(cli, emu: QscloudEmulator, secret_file: str, tmp_path: Path,  # type: ignore[no-untyped-def]
                                               assertions: list[str], case: str) -> None:
    wrong = private_file(tmp_path / "wrong.txt", "wrong-secret-0123456789")
    options = {
        "wrong-secret": [*conn(emu), "--client-id", SECRET_CLIENT, "--client-secret-file", wrong],
        "unknown-client": by_secret(emu, secret_file, "no-such-client"),
        "wrong-key": by_key(emu, key=OTHER_KEY),
        "unknown-kid": by_key(emu, kid="k-unknown"),
        "no-grant": [*by_secret(emu, secret_file), "--impersonate-sub", "alice"],
        "no-user": [*by_key(emu), "--impersonate-sub", "nobody"],
        "bad-scope": [*by_secret(emu, secret_file), "--scope", "mystery"],
    }[case]
    result = cli("--loglevel", "debug", *token_cmd(*options))
    assert result.exit_code == 4, result.stderr
    assert_no_secret(result.stderr, secret=SECRET, assertions=assertions)
    assert "wrong-secret-0123456789" not in result.stderr


def test_debug_logs_of_admin_commands_hold_no_secret(cli, emu: QscloudEmulator, secret_file: str,  # type: ignore[no-untyped-def]
                                                     assertions: list[str]) -> None:
    runs = [
        cli("--loglevel", "debug", "qscloud", "idp", "list", *by_secret(emu, secret_file), "--scope",
            "admin_classic"),
        cli("--loglevel", "debug", "qscloud", "idp", "create", *admin_by_key(emu), "--scope", "admin_classic",
            "--issuer", "oauth-made", "--keyid", "oauth-kid", "--cert-file", CERT),
        cli("--loglevel", "debug", "qscloud", "call", "GET", ME, *admin_by_key(emu), "--impersonate-sub", "alice"),
        cli("--loglevel", "debug", "qscloud", "idp", "check", *admin_by_key(emu, OTHER_KEY_CLIENT, "k-other",
                                                                            OTHER_KEY),
            "--cert-privatekey-file", KEY),
    ]
    tokens = [token.access_token for token in emu.oauth_tokens_issued]
    assert len(tokens) == 4 and len(assertions) == 3
    for result in runs:
        assert result.exit_code == 0, result.stderr
        assert_no_secret(result.stderr, secret=SECRET, assertions=assertions, access_tokens=tokens)
    for result in runs:
        assert_no_secret(result.stdout, secret=SECRET, assertions=assertions, access_tokens=tokens)


def test_debug_logs_after_a_401_hold_no_token(emu: QscloudEmulator) -> None:
    lines: list[str] = []
    settings = HttpSettings(ca_cert=str(emu.ca_cert_path), timeout=5)
    credentials = OAuthCredentials(emu.url, SECRET_CLIENT, client_secret=SECRET, settings=settings,
                                   log=lines.append)
    with QlikCloudClient(emu.url, credentials=credentials, settings=settings, log=lines.append) as client:
        client.request("GET", ME)
        emu.expire_oauth_tokens()
        client.request("GET", ME)
    assert lines
    tokens = [token.access_token for token in emu.oauth_tokens_issued]
    assert len(tokens) == 2
    assert_no_secret("\n".join(lines), secret=SECRET, access_tokens=tokens)


def test_create_client_assertion_prints_the_assertion_on_stdout_only(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("--loglevel", "debug", *assertion_cmd("--cert-privatekey-file", KEY))
    assert result.exit_code == 0, result.stderr
    token = result.stdout.strip()
    assert_no_secret(result.stderr, assertions=[token])


def test_check_does_not_echo_the_assertion(cli) -> None:  # type: ignore[no-untyped-def]
    token = craft(aud=ENDPOINT + "/")
    result = cli("--loglevel", "debug", *check_args(token))
    assert result.exit_code == 3
    assert_no_secret(result.stderr + result.stdout, assertions=[token])
