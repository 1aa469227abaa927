"""check_qscloud, check_qseow and check_key_material: which rules a token, key or certificate breaks."""

from __future__ import annotations

import base64
import json
import secrets
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import qs_jwt
from conftest import FIXED_NOW, PASSPHRASE, key_bytes
from qs_jwt.checks import CheckReport, Finding
from qs_jwt.claims import QSCLOUD_AUDIENCE
from qs_jwt.errors import KEY_DAMAGED, KEY_FORMAT, KEY_WEAK, ArgumentTypeError, TokenFormatError

DAY = 86_400
CERT = key_bytes("rsa2048_cert.pem")
OTHER_PUBLIC = key_bytes("other2048_public.pem")


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def rules(report: CheckReport, severity: str | None = None) -> set[str]:
    return {f.rule for f in report.findings if severity is None or f.severity == severity}


def finding(report: CheckReport, rule: str) -> Finding:
    matches = [f for f in report.findings if f.rule == rule]
    assert matches, f"no finding for {rule}: {report.to_dict()}"
    return matches[0]


@pytest.fixture(scope="module")
def signer(private_pem: bytes) -> qs_jwt.Signer:
    return qs_jwt.Signer(private_pem)


@pytest.fixture
def cloud_payload(private_pem: bytes) -> dict[str, Any]:
    """The payload create_qscloud_token makes, to be altered by a test."""
    return dict(
        qs_jwt.create_qscloud_token(
            private_pem, issuer="my-app", keyid="key-1", sub="alice-42", email="alice@example.com",
            email_verified=True, name="Alice", groups=["Sales"], expires="5m", now=FIXED_NOW,
        ).payload
    )


CLOUD_HEADER = {"alg": "RS256", "typ": "JWT", "kid": "key-1"}


def signature_verifies(token: str, public_key: Any) -> bool:
    """Independent check of an RS256/384/512 signature with cryptography."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15

    head, body, sig = token.split(".")
    alg = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["alg"]
    digest = {"RS256": hashes.SHA256, "RS384": hashes.SHA384, "RS512": hashes.SHA512}[alg]()
    try:
        public_key.verify(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)), f"{head}.{body}".encode(),
                          PKCS1v15(), digest)
    except InvalidSignature:
        return False
    return True


def check_cloud(signer: qs_jwt.Signer, payload: dict[str, Any], header: dict[str, Any] | None = None,
                **kwargs: Any) -> CheckReport:
    token = signer.sign(header or CLOUD_HEADER, payload)
    assert signature_verifies(token, signer.public_key)
    kwargs.setdefault("now", FIXED_NOW)
    return qs_jwt.check_qscloud(token, **kwargs)


# --- Qlik Cloud ------------------------------------------------------------------------------


def test_our_token_has_no_findings(private_pem: bytes) -> None:
    token = qs_jwt.create_qscloud_token(
        private_pem, issuer="my-app", keyid="key-1", sub="alice-42", email="alice@example.com",
        email_verified=True, name="Alice", groups=["Sales", "Admins"], expires="5m", now=FIXED_NOW,
    )
    import jwt

    claims = jwt.decode(token.token, qs_jwt.load_public_key(CERT), algorithms=["RS256"], audience=QSCLOUD_AUDIENCE,
                        issuer="my-app", options={"verify_exp": False, "verify_nbf": False, "verify_iat": False})
    assert claims == token.payload
    assert signature_verifies(token.token, qs_jwt.load_public_key(CERT))
    report = qs_jwt.check_qscloud(token.token, issuer="my-app", keyid="key-1", key=CERT, now=FIXED_NOW + 60)
    assert report.findings == []
    assert report.ok
    assert report.errors == [] and report.warnings == []
    assert report.verification is not None and report.verification.signature is True
    assert report.decoded is not None and report.decoded.payload == token.payload
    assert report.to_dict() == {"target": "qscloud", "ok": True, "findings": []}


def test_our_minimal_token_has_no_findings(private_pem: bytes) -> None:
    """A token without email (only --sub) is what create-qscloud makes: nothing to report."""
    token = qs_jwt.create_qscloud_token(private_pem, issuer="i", keyid="k", sub="s", now=FIXED_NOW)
    report = qs_jwt.check_qscloud(token.token, key=CERT, now=FIXED_NOW)
    assert report.ok and report.findings == []


def node_tool_token(signer: qs_jwt.Signer) -> str:
    """A token shaped exactly like the Node qs-jwt tool's create-qscloud output."""
    iat = FIXED_NOW
    payload = {
        "jti": secrets.token_urlsafe(32),
        "sub": secrets.token_urlsafe(42),  # 56 random base64url characters, new each run
        "subType": "user",
        "name": "Joe Doe",
        "email": "joe.doe@example.com",
        "group": ["Administrators", "Sales"],
        "email_verified": "true",
        "iat": iat,
        "nbf": iat,
        "exp": iat + 365 * DAY,
        "aud": QSCLOUD_AUDIENCE,
        "iss": "my-app",
    }
    assert len(payload["sub"]) == 56
    token = signer.sign({"alg": "RS256", "typ": "JWT", "kid": "key-1"}, payload)
    assert signature_verifies(token, signer.public_key)
    return token


def test_node_tool_token(signer: qs_jwt.Signer) -> None:
    report = qs_jwt.check_qscloud(node_tool_token(signer), issuer="my-app", keyid="key-1", key=CERT, now=FIXED_NOW)
    assert not report.ok
    assert rules(report) == {"groups", "email_verified", "sub", "lifetime"}
    assert finding(report, "groups").severity == "error"
    assert "'group'" in finding(report, "groups").message
    assert finding(report, "email_verified").severity == "error"
    assert "string" in finding(report, "email_verified").message
    assert finding(report, "sub").severity == "warning"
    assert "random" in finding(report, "sub").message
    assert finding(report, "lifetime").severity == "error"
    assert "3600" in finding(report, "lifetime").message
    for f in report.findings:
        assert f.fix
    data = report.to_dict()
    assert data["ok"] is False
    assert {f["rule"] for f in data["findings"]} == {"groups", "email_verified", "sub", "lifetime"}
    json.dumps(data)


def test_missing_nbf(signer: qs_jwt.Signer, cloud_payload: dict[str, Any]) -> None:
    del cloud_payload["nbf"]
    report = check_cloud(signer, cloud_payload)
    assert not report.ok
    assert rules(report) == {"nbf"}
    assert "JWT_LOGIN_VALIDATIONS Missing required claim: nbf" in finding(report, "nbf").message


@pytest.mark.parametrize("claim", ["jti", "name", "subType", "iat", "exp", "iss", "sub", "aud"])
def test_missing_required_claims(signer: qs_jwt.Signer, cloud_payload: dict[str, Any], claim: str) -> None:
    del cloud_payload[claim]
    report = check_cloud(signer, cloud_payload)
    assert not report.ok
    assert claim in rules(report, "error")
    assert "missing" in finding(report, claim).message


def test_missing_exp_lifetime_via_iat(signer: qs_jwt.Signer, cloud_payload: dict[str, Any]) -> None:
    del cloud_payload["nbf"]
    cloud_payload["exp"] = cloud_payload["iat"] + 7200
    report = check_cloud(signer, cloud_payload)
    assert {"nbf", "lifetime"} <= rules(report, "error")
    assert "iat" in finding(report, "lifetime").message


@pytest.mark.parametrize(
    ("aud", "array"),
    [("qlik.api", False), ("https://tenant.example/", False), ([QSCLOUD_AUDIENCE], True),
     ([QSCLOUD_AUDIENCE, "other"], True), (["other"], False), (42, False)],
)
def test_wrong_audience(signer: qs_jwt.Signer, cloud_payload: dict[str, Any], aud: Any, array: bool) -> None:
    cloud_payload["aud"] = aud
    report = check_cloud(signer, cloud_payload)
    assert rules(report) == {"aud"}
    assert ("array" in finding(report, "aud").message) is array


def test_kid_and_issuer_mismatch(signer: qs_jwt.Signer, cloud_payload: dict[str, Any]) -> None:
    report = check_cloud(signer, cloud_payload, issuer="other-app", keyid="other-key")
    assert rules(report) == {"kid", "iss"}
    assert "other-key" in finding(report, "kid").message
    assert "other-app" in finding(report, "iss").message
    assert check_cloud(signer, cloud_payload, issuer="my-app", keyid="key-1").findings == []


def test_missing_kid_and_kid_in_payload(signer: qs_jwt.Signer, cloud_payload: dict[str, Any]) -> None:
    report = check_cloud(signer, cloud_payload, header={"alg": "RS256", "typ": "JWT"})
    assert rules(report) == {"kid"}
    cloud_payload["kid"] = "key-1"
    report = check_cloud(signer, cloud_payload, header={"alg": "RS256", "typ": "JWT"})
    assert any("payload" in f.message for f in report.findings if f.rule == "kid")


@pytest.mark.parametrize("kid", ["", 7, None])
def test_bad_kid(signer: qs_jwt.Signer, cloud_payload: dict[str, Any], kid: Any) -> None:
    header = {"alg": "RS256", "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    assert "kid" in rules(check_cloud(signer, cloud_payload, header=header), "error")


def test_unusual_typ_is_a_warning(signer: qs_jwt.Signer, cloud_payload: dict[str, Any]) -> None:
    report = check_cloud(signer, cloud_payload, header={"alg": "RS256", "typ": "at+jwt", "kid": "key-1"})
    assert report.ok
    assert rules(report) == {"typ"}
    assert check_cloud(signer, cloud_payload, header={"alg": "RS256", "kid": "key-1"}).findings == []


def test_expired(signer: qs_jwt.Signer, cloud_payload: dict[str, Any]) -> None:
    report = check_cloud(signer, cloud_payload, key=CERT, now=FIXED_NOW + 3600)
    assert rules(report) == {"exp"}
    assert "expired" in finding(report, "exp").message
    assert report.verification is not None
    assert report.verification.signature is True  # expired, not badly signed
    assert check_cloud(signer, cloud_payload, now=FIXED_NOW + 3600, leeway=3600).findings == []


def test_not_yet_valid(signer: qs_jwt.Signer, cloud_payload: dict[str, Any]) -> None:
    report = check_cloud(signer, cloud_payload, now=FIXED_NOW - 600)
    assert rules(report) == {"nbf", "iat"}
    assert all(f.severity == "error" for f in report.findings)
    assert check_cloud(signer, cloud_payload, now=FIXED_NOW - 600, leeway=600).findings == []


def test_exp_not_after_nbf(signer: qs_jwt.Signer, cloud_payload: dict[str, Any]) -> None:
    cloud_payload["exp"] = cloud_payload["nbf"]
    report = check_cloud(signer, cloud_payload)
    assert "lifetime" in rules(report, "error")


@pytest.mark.parametrize(
    ("changes", "rule", "severity"),
    [
        ({"email_verified": False}, "email_verified", "warning"),
        ({"email_verified": "true"}, "email_verified", "error"),
        ({"email_verified": 1}, "email_verified", "error"),
        ({"email_verified": ...}, "email_verified", "warning"),
        ({"email": 42}, "email", "error"),
        ({"groups": "Sales"}, "groups", "error"),
        ({"groups": ["Sales", 3]}, "groups", "error"),
        ({"subType": "service"}, "subType", "error"),
        ({"sub": ""}, "sub", "error"),
        ({"sub": 42}, "sub", "error"),
        ({"name": 42}, "name", "error"),
        ({"iss": ""}, "iss", "error"),
        ({"jti": ""}, "jti", "error"),
        ({"jti": 12345}, "jti", "error"),
        ({"name": ""}, "name", "error"),
        ({"exp": "1800000300"}, "exp", "error"),
        ({"iat": True}, "iat", "error"),
        ({"nbf": None}, "nbf", "error"),
    ],
)
def test_claim_rules(
    signer: qs_jwt.Signer, cloud_payload: dict[str, Any], changes: dict[str, Any], rule: str, severity: str
) -> None:
    for name, value in changes.items():
        if value is ...:
            del cloud_payload[name]
        else:
            cloud_payload[name] = value
    report = check_cloud(signer, cloud_payload)
    assert rule in rules(report, severity), report.to_dict()
    assert report.ok is (severity == "warning" and not report.errors)


def test_stable_sub_that_looks_random_but_equals_email_is_fine(
    signer: qs_jwt.Signer, cloud_payload: dict[str, Any]
) -> None:
    value = "a" * 56
    cloud_payload["sub"] = value
    assert "sub" in rules(check_cloud(signer, cloud_payload), "warning")
    cloud_payload["name"] = value
    assert "sub" not in rules(check_cloud(signer, cloud_payload))


@pytest.mark.parametrize("alg", ["RS384", "RS512"])
def test_rs384_rs512_are_warnings(signer: qs_jwt.Signer, cloud_payload: dict[str, Any], alg: str) -> None:
    report = check_cloud(signer, cloud_payload, header={"alg": alg, "typ": "JWT", "kid": "key-1"}, key=CERT)
    assert report.ok
    assert rules(report) == {"alg"}
    assert finding(report, "alg").severity == "warning"


def test_hs256_token_is_an_error(cloud_payload: dict[str, Any]) -> None:
    header = b64e(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "key-1"}).encode())
    token = f"{header}.{b64e(json.dumps(cloud_payload).encode())}.{b64e(b'fake-signature')}"
    report = qs_jwt.check_qscloud(token, now=FIXED_NOW)
    assert not report.ok
    assert rules(report) == {"alg"}
    assert "shared-secret" in finding(report, "alg").message
    with_key = qs_jwt.check_qscloud(token, key=CERT, now=FIXED_NOW)
    assert rules(with_key, "error") == {"alg", "signature"}


def test_other_asymmetric_alg_is_an_error(cloud_payload: dict[str, Any]) -> None:
    header = b64e(json.dumps({"alg": "PS256", "kid": "key-1"}).encode())
    token = f"{header}.{b64e(json.dumps(cloud_payload).encode())}.{b64e(b'sig')}"
    report = qs_jwt.check_qscloud(token, now=FIXED_NOW)
    assert finding(report, "alg").severity == "error"


def test_wrong_key_is_a_signature_error(signer: qs_jwt.Signer, cloud_payload: dict[str, Any]) -> None:
    report = check_cloud(signer, cloud_payload, key=OTHER_PUBLIC)
    assert rules(report) == {"signature"}
    assert finding(report, "signature").severity == "error"
    assert "signature" in finding(report, "signature").message
    assert not report.ok


def test_signature_checked_with_a_key_set(signer: qs_jwt.Signer, cloud_payload: dict[str, Any]) -> None:
    public = qs_jwt.load_public_key(CERT)
    jwks = qs_jwt.load_jwks(json.dumps({"keys": [qs_jwt.public_jwk(public, kid="key-1")]}))
    assert check_cloud(signer, cloud_payload, key=jwks).findings == []
    other = qs_jwt.load_jwks(json.dumps({"keys": [qs_jwt.public_jwk(public, kid="nope")]}))
    report = check_cloud(signer, cloud_payload, key=other)
    assert rules(report) == {"signature"}
    assert "kid" in finding(report, "signature").message


def test_malformed_token_raises() -> None:
    with pytest.raises(TokenFormatError):
        qs_jwt.check_qscloud("not-a-token")
    with pytest.raises(TokenFormatError):
        qs_jwt.check_qseow("a.b")


@pytest.mark.parametrize("raw_value", [b"1" + b"0" * 400, b"-1" + b"0" * 400, b"1e300", b"1e400"])
@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_huge_numeric_dates_are_findings_not_exceptions(private_key: Any, claim: str, raw_value: bytes) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15

    payload = dict(iat=FIXED_NOW, nbf=FIXED_NOW, exp=FIXED_NOW + 60)
    body_text = json.dumps(payload).encode().replace(
        f'"{claim}": {payload[claim]}'.encode(), f'"{claim}": '.encode() + raw_value
    )
    assert raw_value in body_text
    head = b64e(b'{"alg":"RS256","typ":"JWT","kid":"k"}')
    body = b64e(body_text)
    sig = private_key.sign(f"{head}.{body}".encode(), PKCS1v15(), hashes.SHA256())
    token = f"{head}.{body}.{b64e(sig)}"
    if raw_value == b"1e400":  # not a finite JSON number at all: a malformed token
        with pytest.raises(qs_jwt.TokenFormatError, match="out of range"):
            qs_jwt.check_qscloud(token, now=FIXED_NOW)
        return
    for report in (qs_jwt.check_qscloud(token, now=FIXED_NOW), qs_jwt.check_qseow(token, now=FIXED_NOW)):
        assert not report.ok
        assert claim in rules(report, "error")
        assert len(finding(report, claim).message) < 300


# --- QSEoW -----------------------------------------------------------------------------------


def qseow_token(private_pem: bytes, **kwargs: Any) -> str:
    args: dict[str, Any] = {
        "user_id": "alice", "user_directory": "CORP", "audience": "qlik-vp", "expires": "10m", "now": FIXED_NOW,
    }
    args.update(kwargs)
    token = qs_jwt.create_qseow_token(private_pem, **args).token
    assert signature_verifies(token, qs_jwt.load_public_key(CERT))
    return token


def test_qseow_our_token_has_no_findings(private_pem: bytes) -> None:
    token = qseow_token(private_pem, name="Alice", email="a@example.com", groups=["G"])
    report = qs_jwt.check_qseow(token, audience="qlik-vp", key=CERT, now=FIXED_NOW)
    assert report.findings == []
    assert report.ok
    assert report.target == "qseow"


def test_qseow_custom_claim_names(private_pem: bytes) -> None:
    token = qseow_token(private_pem, userid_claim="user", userdir_claim="directory")
    report = qs_jwt.check_qseow(token, userid_claim="user", userdir_claim="directory", now=FIXED_NOW)
    assert report.findings == []
    defaults = qs_jwt.check_qseow(token, now=FIXED_NOW)
    assert rules(defaults, "error") == {"userId", "userDirectory"}
    assert "missing" in finding(defaults, "userId").message


def test_qseow_case_mismatch_gives_a_hint(private_pem: bytes) -> None:
    token = qseow_token(private_pem, userid_claim="userid", userdir_claim="UserDirectory")
    report = qs_jwt.check_qseow(token, now=FIXED_NOW)
    assert not report.ok
    assert rules(report) == {"userId", "userDirectory"}
    user = finding(report, "userId")
    assert "case-sensitive" in user.message
    assert "userid" in user.message
    assert "--userid-claim" in user.fix
    assert "UserDirectory" in finding(report, "userDirectory").message


@pytest.mark.parametrize("value", ["", "   ", 7, None, ["alice"]])
def test_qseow_empty_or_non_text_user_id(signer: qs_jwt.Signer, value: Any) -> None:
    token = signer.sign({"alg": "RS256"}, {"userId": value, "userDirectory": "D", "exp": FIXED_NOW + 60})
    report = qs_jwt.check_qseow(token, now=FIXED_NOW)
    assert rules(report) == {"userId"}


def test_qseow_audience_mismatch(private_pem: bytes) -> None:
    token = qseow_token(private_pem)
    report = qs_jwt.check_qseow(token, audience="other-vp", now=FIXED_NOW)
    assert rules(report) == {"aud"}
    assert "other-vp" in finding(report, "aud").message
    # without an expected audience, aud is not compared
    assert qs_jwt.check_qseow(token, now=FIXED_NOW).findings == []


def test_qseow_missing_aud_when_expected(signer: qs_jwt.Signer) -> None:
    token = signer.sign({"alg": "RS256"}, {"userId": "u", "userDirectory": "d", "exp": FIXED_NOW + 60})
    assert rules(qs_jwt.check_qseow(token, audience="vp", now=FIXED_NOW)) == {"aud"}


def test_qseow_missing_exp_is_a_warning(signer: qs_jwt.Signer) -> None:
    token = signer.sign({"alg": "RS256", "typ": "JWT"}, {"userId": "u", "userDirectory": "d"})
    report = qs_jwt.check_qseow(token, key=CERT, now=FIXED_NOW)
    assert report.ok
    assert rules(report) == {"exp"}
    assert finding(report, "exp").severity == "warning"


def test_qseow_rs512_is_fine(private_pem: bytes) -> None:
    token = qseow_token(private_pem, algorithm="RS512")
    assert qs_jwt.check_qseow(token, audience="qlik-vp", key=CERT, now=FIXED_NOW).findings == []


def test_qseow_hs256_is_an_error(signer: qs_jwt.Signer) -> None:
    body = b64e(json.dumps({"userId": "u", "userDirectory": "d", "exp": FIXED_NOW + 60}).encode())
    header = b64e(json.dumps({"alg": "HS256"}).encode())
    token = f"{header}.{body}.{b64e(b'x')}"
    report = qs_jwt.check_qseow(token, key=CERT, now=FIXED_NOW)
    assert rules(report, "error") == {"alg", "signature"}


def test_qseow_wrong_key(private_pem: bytes) -> None:
    report = qs_jwt.check_qseow(qseow_token(private_pem), key=OTHER_PUBLIC, now=FIXED_NOW)
    assert rules(report) == {"signature"}
    assert not report.ok


def test_qseow_expired_and_name_type(signer: qs_jwt.Signer) -> None:
    token = signer.sign({"alg": "RS256"}, {"userId": "u", "userDirectory": "d", "name": 5, "exp": FIXED_NOW})
    report = qs_jwt.check_qseow(token, now=FIXED_NOW)
    assert rules(report, "error") == {"exp"}
    assert rules(report, "warning") == {"name"}


# --- key material ----------------------------------------------------------------------------


def test_key_material_good_certificate() -> None:
    report = qs_jwt.check_key_material(CERT, source="publickey.cer", now=FIXED_NOW)
    assert report.findings == []
    assert report.ok
    assert report.target == "key"


def test_key_material_expired_certificate() -> None:
    report = qs_jwt.check_key_material(key_bytes("rsa2048_cert_expired.pem"), now=FIXED_NOW)
    assert not report.ok
    assert rules(report) == {"not-after"}
    assert "2021-01-01" in finding(report, "not-after").message


def test_key_material_certificate_not_yet_valid_and_expiring() -> None:
    early = qs_jwt.check_key_material(CERT, now=1_700_000_000)  # 2023
    assert rules(early, "error") == {"not-before"}
    soon = qs_jwt.check_key_material(CERT, now=2_082_240_000 - 10 * DAY)  # 10 days before notAfter (2035-12-30)
    assert soon.ok
    assert rules(soon) == {"not-after"}
    assert finding(soon, "not-after").severity == "warning"


@pytest.mark.parametrize("name", ["rsa1024_pkcs8.pem", "rsa1024_public.pem"])
def test_key_material_small_key(name: str) -> None:
    report = qs_jwt.check_key_material(key_bytes(name), now=FIXED_NOW)
    assert rules(report) == {"key-size"}
    assert not report.ok


@pytest.mark.parametrize("name", ["ec_p256.pem", "ec_p256_public.pem"])
def test_key_material_ec_key(name: str) -> None:
    report = qs_jwt.check_key_material(key_bytes(name), now=FIXED_NOW)
    assert rules(report) == {"key-type"}
    assert not report.ok


@pytest.mark.parametrize("name", ["rsa2048_pkcs8.pem", "rsa2048_pkcs1.pem", "rsa2048_public.pem", "rsa4096_public.pem"])
def test_key_material_good_keys(name: str) -> None:
    assert qs_jwt.check_key_material(key_bytes(name), now=FIXED_NOW).findings == []


def test_key_material_private_key_permissions(tmp_path: Path) -> None:
    path = tmp_path / "privatekey.pem"
    shutil.copyfile(Path(__file__).parent / "keys" / "rsa2048_pkcs8.pem", path)
    path.chmod(0o644)
    report = qs_jwt.check_key_material(path.read_bytes(), path=str(path), now=FIXED_NOW)
    assert report.ok
    assert rules(report) == {"permissions"}
    assert finding(report, "permissions").severity == "warning"
    assert "chmod 600" in finding(report, "permissions").fix
    path.chmod(0o600)
    assert qs_jwt.check_key_material(path.read_bytes(), path=str(path), now=FIXED_NOW).findings == []
    # a public certificate may be world-readable
    cert = tmp_path / "publickey.cer"
    cert.write_bytes(CERT)
    cert.chmod(0o644)
    assert qs_jwt.check_key_material(CERT, path=str(cert), now=FIXED_NOW).findings == []
    # stdin and vanished paths are not stat-ed
    assert qs_jwt.check_key_material(path.read_bytes(), path="-", now=FIXED_NOW).findings == []
    assert qs_jwt.check_key_material(path.read_bytes(), path=str(tmp_path / "gone"), now=FIXED_NOW).findings == []


def test_key_material_encrypted_key() -> None:
    data = key_bytes("rsa2048_encrypted.pem")
    report = qs_jwt.check_key_material(data, passphrase=PASSPHRASE, now=FIXED_NOW)
    assert report.findings == []
    with pytest.raises(qs_jwt.KeyLoadError):
        qs_jwt.check_key_material(data, now=FIXED_NOW)


def test_key_material_damaged_key(private_key: Any) -> None:
    numbers = private_key.private_numbers()
    damaged = rsa.RSAPrivateNumbers(
        numbers.p, numbers.q, numbers.d, numbers.dmp1 + 2, numbers.dmq1, numbers.iqmp, numbers.public_numbers
    ).private_key(unsafe_skip_rsa_key_validation=True)
    pem = damaged.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    report = qs_jwt.check_key_material(pem, now=FIXED_NOW)
    assert rules(report) == {"consistency"}
    assert not report.ok


def test_key_material_unusual_exponent() -> None:
    public = qs_jwt.load_public_key(key_bytes("rsa2048_public.pem"))
    odd = rsa.RSAPublicNumbers(3, public.public_numbers().n).public_key()
    pem = odd.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    report = qs_jwt.check_key_material(pem, now=FIXED_NOW)
    assert rules(report) == {"exponent"}
    assert finding(report, "exponent").severity == "error" and not report.ok


def test_key_material_not_a_key() -> None:
    with pytest.raises(qs_jwt.KeyLoadError):
        qs_jwt.check_key_material(b"garbage", source="x.pem")


def test_finding_to_dict() -> None:
    f = Finding("exp", "error", "msg", "fix it")
    assert f.to_dict() == {"rule": "exp", "severity": "error", "message": "msg", "fix": "fix it"}


def test_untrusted_values_are_escaped_in_messages(signer: qs_jwt.Signer) -> None:
    token = signer.sign(
        {"alg": "RS256", "kid": "\x1b[31mred\u202e"},
        {"iss": "\u202eevil\x00", "aud": "\x1b]0;title\x07", "sub": "s", "subType": "\x1b", "name": "n",
         "jti": "j", "iat": FIXED_NOW, "nbf": FIXED_NOW, "exp": FIXED_NOW + 60, "email": "e", "email_verified": True},
    )
    report = qs_jwt.check_qscloud(token, issuer="i", keyid="k", now=FIXED_NOW)
    assert rules(report) == {"kid", "iss", "aud", "subType"}
    for f in report.findings:
        assert f.message.isprintable(), f.message
        assert "\u202e" not in f.message


def test_non_string_values_are_not_shown_as_strings(signer: qs_jwt.Signer, cloud_payload: dict[str, Any]) -> None:
    cloud_payload["name"] = 1
    report = check_cloud(signer, cloud_payload)
    message = finding(report, "name").message
    assert '"1"' not in message
    assert "1" in message


# --- the other target's token ----------------------------------------------------------------


def test_qseow_token_checked_for_qscloud(private_pem: bytes) -> None:
    report = qs_jwt.check_qscloud(qseow_token(private_pem), now=FIXED_NOW)
    first = report.findings[0]
    assert (first.rule, first.severity) == ("target", "error")
    assert "QSEoW virtual proxy" in first.message and '"userId"' in first.message
    assert "--target qseow" in first.fix and "check_qseow" in first.fix
    assert {"sub", "subType", "aud"} <= rules(report, "error")  # the other findings still follow
    assert [f.rule for f in report.findings].count("target") == 1


def test_qscloud_token_checked_for_qseow(private_pem: bytes) -> None:
    token = qs_jwt.create_qscloud_token(private_pem, issuer="i", keyid="k", sub="s", now=FIXED_NOW).token
    report = qs_jwt.check_qseow(token, now=FIXED_NOW)
    first = report.findings[0]
    assert (first.rule, first.severity) == ("target", "error")
    assert "Qlik Cloud" in first.message and QSCLOUD_AUDIENCE in first.message
    assert "--target qscloud" in first.fix and "check_qscloud" in first.fix
    assert [f.rule for f in report.findings] == ["target", "userId", "userDirectory"]


def test_no_target_finding_for_the_right_target(private_pem: bytes) -> None:
    token = qseow_token(private_pem, userid_claim="userid")
    report = qs_jwt.check_qseow(token, now=FIXED_NOW)  # a case mismatch, not a Qlik Cloud token
    assert "target" not in rules(report)
    assert rules(report) == {"userId"}


# --- parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "error"),
    [(10**400, qs_jwt.InvalidValueError), (float("nan"), qs_jwt.InvalidValueError),
     (float("inf"), qs_jwt.InvalidValueError), (-1, qs_jwt.InvalidValueError),
     ("5", ArgumentTypeError), (True, ArgumentTypeError), (None, ArgumentTypeError)],
)
@pytest.mark.parametrize("param", ["leeway", "now"])
@pytest.mark.parametrize("check", [qs_jwt.check_qscloud, qs_jwt.check_qseow])
def test_bad_numbers_raise_value_errors_never_overflow(
    private_pem: bytes, check: Any, param: str, value: Any, error: type[Exception]
) -> None:
    if param == "now" and value is None:
        value = "now"  # None is the default: the current time
    kwargs = {"now": FIXED_NOW, param: value}
    with pytest.raises(error) as info:
        check(qseow_token(private_pem), **kwargs)
    exc = info.value
    assert isinstance(exc, qs_jwt.InvalidValueError)
    assert exc.param == param
    assert str(exc) == f"{param}: {exc.reason}" and param not in exc.reason
    assert isinstance(exc, TypeError) is (error is ArgumentTypeError)


def test_now_beyond_the_year_9999_is_refused(private_pem: bytes) -> None:
    with pytest.raises(qs_jwt.InvalidValueError) as info:
        qs_jwt.check_key_material(CERT, now=10**400)
    assert info.value.param == "now"


@pytest.mark.parametrize(
    ("kwargs", "param", "error"),
    [({"userid_claim": ""}, "userid_claim", qs_jwt.InvalidValueError),
     ({"userid_claim": "  "}, "userid_claim", qs_jwt.InvalidValueError),
     ({"userid_claim": 5}, "userid_claim", ArgumentTypeError),
     ({"userdir_claim": None}, "userdir_claim", ArgumentTypeError),
     ({"audience": ""}, "audience", qs_jwt.InvalidValueError),
     ({"audience": ["qlik-vp"]}, "audience", ArgumentTypeError)],
)
def test_qseow_bad_parameters(kwargs: dict[str, Any], param: str, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        qs_jwt.check_qseow("not-even-a-token", **kwargs)  # parameters are checked first
    exc = info.value
    assert isinstance(exc, qs_jwt.InvalidValueError) and exc.param == param
    assert str(exc) == f"{param}: {exc.reason}"
    assert param not in exc.reason and "--" not in exc.reason


@pytest.mark.parametrize(
    ("kwargs", "param", "error"),
    [({"issuer": ""}, "issuer", qs_jwt.InvalidValueError), ({"issuer": 5}, "issuer", ArgumentTypeError),
     ({"keyid": " "}, "keyid", qs_jwt.InvalidValueError), ({"keyid": b"k"}, "keyid", ArgumentTypeError)],
)
def test_qscloud_bad_parameters(kwargs: dict[str, Any], param: str, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        qs_jwt.check_qscloud("not-even-a-token", **kwargs)
    assert isinstance(info.value, qs_jwt.InvalidValueError) and info.value.param == param
    assert param not in info.value.reason


# --- key errors by code, permissions by platform ---------------------------------------------


@pytest.mark.parametrize(("code", "found"), [(KEY_DAMAGED, {"consistency"}), (KEY_WEAK, set())])
def test_key_material_branches_on_the_error_code(monkeypatch: pytest.MonkeyPatch, code: str,
                                                 found: set[str]) -> None:
    def fails(*args: Any, **kwargs: Any) -> Any:
        raise qs_jwt.KeyLoadError("any words at all", code=code)

    monkeypatch.setattr(qs_jwt.checks, "validate_private_key", fails)
    report = qs_jwt.check_key_material(key_bytes("rsa2048_pkcs8.pem"), now=FIXED_NOW)
    assert rules(report) == found
    if found:
        assert finding(report, "consistency").message == "private key: any words at all"


def test_key_material_unexpected_key_error_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def fails(*args: Any, **kwargs: Any) -> Any:
        raise qs_jwt.KeyLoadError("is not what it was a moment ago", code=KEY_FORMAT)

    monkeypatch.setattr(qs_jwt.checks, "validate_private_key", fails)
    with pytest.raises(qs_jwt.KeyLoadError, match="a moment ago"):
        qs_jwt.check_key_material(key_bytes("rsa2048_pkcs8.pem"), now=FIXED_NOW)


def test_key_material_permissions_not_judged_on_windows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import qs_jwt._platform

    path = tmp_path / "privatekey.pem"
    path.write_bytes(key_bytes("rsa2048_pkcs8.pem"))
    path.chmod(0o644)
    fix = finding(qs_jwt.check_key_material(path.read_bytes(), path=str(path), now=FIXED_NOW), "permissions").fix
    assert fix == f"chmod 600 {path}"
    monkeypatch.setattr(qs_jwt._platform, "IS_WINDOWS", True)
    assert qs_jwt.check_key_material(path.read_bytes(), path=str(path), now=FIXED_NOW).findings == []


def test_key_material_permission_fix_quotes_the_path(tmp_path: Path) -> None:
    path = tmp_path / "my key's.pem"
    path.write_bytes(key_bytes("rsa2048_pkcs8.pem"))
    path.chmod(0o640)
    report = qs_jwt.check_key_material(path.read_bytes(), path=str(path), now=FIXED_NOW)
    assert finding(report, "permissions").fix == f"chmod 600 {shlex.quote(str(path))}"
    assert "0640" in finding(report, "permissions").message
