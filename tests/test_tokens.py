"""Signer, Token, QsCloudTokenFactory, decode_unverified, inspect_token and verify."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15

import qs_jwt
import qs_jwt.tokens
from conftest import FIXED_NOW, PASSPHRASE, key_bytes
from qs_jwt.claims import QSCLOUD_AUDIENCE
from qs_jwt.errors import InvalidValueError, KeyLoadError, TokenFormatError, VerificationError

HASHES = {"RS256": hashes.SHA256, "RS384": hashes.SHA384, "RS512": hashes.SHA512}
NO_TIME_CHECKS = {"verify_exp": False, "verify_nbf": False, "verify_iat": False}


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_twice(
    token: str, public_key: Any, *, audience: str | None = None, alg: str = "RS256"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify with PyJWT and independently with cryptography; return (header, payload)."""
    options = dict(NO_TIME_CHECKS)
    if audience is None:
        options["verify_aud"] = False
    claims = jwt.decode(token, public_key, algorithms=[alg], audience=audience, options=options)
    head, body, sig = token.split(".")
    public_key.verify(b64d(sig), f"{head}.{body}".encode("ascii"), PKCS1v15(), HASHES[alg]())
    payload = json.loads(b64d(body))
    assert payload == claims
    return json.loads(b64d(head)), payload


def raw_token(header: dict[str, Any] | bytes, payload: dict[str, Any] | bytes, key: Any, alg: str = "RS256") -> str:
    """A token signed with cryptography directly, from objects or from exact JSON bytes."""
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{b64e(head)}.{b64e(body)}"
    signature = key.sign(signing_input.encode("ascii"), PKCS1v15(), HASHES[alg]())
    return f"{signing_input}.{b64e(signature)}"


def load_key(name: str) -> Any:
    return serialization.load_pem_private_key(key_bytes(name), password=None)


@pytest.fixture(scope="module")
def other_key() -> Any:
    return load_key("other2048_pkcs8.pem")


@pytest.fixture
def good_token(private_pem: bytes, public_key: Any) -> str:
    token = qs_jwt.create_qscloud_token(
        private_pem, issuer="my-app", keyid="key-1", sub="alice", email="a@example.com", email_verified=True,
        expires="5m", now=FIXED_NOW,
    ).token
    verify_twice(token, public_key, audience=QSCLOUD_AUDIENCE)
    return token


# --- Signer ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "passphrase"),
    [
        ("rsa2048_pkcs8.pem", None),
        ("rsa2048_pkcs1.pem", None),
        ("rsa2048_pkcs8.der", None),
        ("rsa2048_encrypted.pem", PASSPHRASE),
        ("rsa2048_encrypted.pem", PASSPHRASE.encode()),
    ],
)
def test_signer_from_key_bytes(public_key: Any, source: str, passphrase: Any) -> None:
    signer = qs_jwt.Signer(key_bytes(source), passphrase=passphrase)
    token = signer.sign({"alg": "RS256", "typ": "JWT", "kid": "k"}, {"sub": "x", "n": 1})
    header, payload = verify_twice(token, public_key)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": "k"}
    assert payload == {"sub": "x", "n": 1}


def test_signer_from_text_and_object(private_pem: bytes, private_key: Any, public_key: Any) -> None:
    for key in (private_pem.decode("ascii"), private_key):
        token = qs_jwt.Signer(key).sign({"alg": "RS512"}, {"a": "b"})
        verify_twice(token, public_key, alg="RS512")


def test_signer_output_is_compact_and_deterministic(private_key: Any) -> None:
    signer = qs_jwt.Signer(private_key)
    one = signer.sign({"alg": "RS256", "typ": "JWT"}, {"b": 1, "a": [1, 2]})
    two = signer.sign({"alg": "RS256", "typ": "JWT"}, {"b": 1, "a": [1, 2]})
    assert one == two  # RSASSA-PKCS1-v1_5 is deterministic
    head, body, _ = one.split(".")
    assert b64d(head) == b'{"alg":"RS256","typ":"JWT"}'
    assert b64d(body) == b'{"b":1,"a":[1,2]}'  # member order kept, no spaces
    assert "=" not in one


@pytest.mark.parametrize("alg", ["HS256", "none", "", "PS256", "ES256"])
def test_signer_refuses_other_algorithms(private_key: Any, alg: str) -> None:
    with pytest.raises(InvalidValueError):
        qs_jwt.Signer(private_key).sign({"alg": alg}, {"a": 1})


def test_signer_refuses_header_without_alg(private_key: Any) -> None:
    with pytest.raises(InvalidValueError):
        qs_jwt.Signer(private_key).sign({"typ": "JWT"}, {"a": 1})


@pytest.mark.parametrize("payload", [{"a": float("nan")}, {"a": float("inf")}, {"a": "\udcff"}, {"a": {1}}])
def test_signer_refuses_unserialisable_payload(private_key: Any, payload: dict[str, Any]) -> None:
    with pytest.raises(InvalidValueError, match="serialised"):
        qs_jwt.Signer(private_key).sign({"alg": "RS256"}, payload)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("rsa1024_pkcs8.pem", "1024 bits"),
        ("ec_p256.pem", "RSA"),
        ("rsa2048_public.pem", "public key"),
        ("rsa2048_cert.pem", "certificate"),
        ("rsa2048_encrypted.pem", "passphrase"),
    ],
)
def test_signer_refuses_unusable_key_bytes(name: str, fragment: str) -> None:
    with pytest.raises(KeyLoadError, match=fragment):
        qs_jwt.Signer(key_bytes(name))


def test_signer_refuses_non_rsa_key_object() -> None:
    ec_key = serialization.load_pem_private_key(key_bytes("ec_p256.pem"), password=None)
    with pytest.raises(KeyLoadError, match="RSA"):
        qs_jwt.Signer(ec_key)  # type: ignore[arg-type]
    with pytest.raises(KeyLoadError):
        qs_jwt.Signer(load_key("rsa2048_pkcs8.pem").public_key())  # type: ignore[arg-type]


def test_signer_refuses_small_key_object() -> None:
    with pytest.raises(KeyLoadError, match="2048"):
        qs_jwt.Signer(load_key("rsa1024_pkcs8.pem"))


def _damaged_pem(private_key: Any, **change: int) -> bytes:
    numbers = private_key.private_numbers()
    public = numbers.public_numbers
    values = {
        "p": numbers.p, "q": numbers.q, "d": numbers.d, "dmp1": numbers.dmp1, "dmq1": numbers.dmq1,
        "iqmp": numbers.iqmp, "e": public.e, "n": public.n,
    }
    values.update(change)
    damaged = rsa.RSAPrivateNumbers(
        values["p"], values["q"], values["d"], values["dmp1"], values["dmq1"], values["iqmp"],
        rsa.RSAPublicNumbers(values["e"], values["n"]),
    ).private_key(unsafe_skip_rsa_key_validation=True)
    return damaged.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def test_damaged_key_whose_public_half_does_not_match_gives_no_token(private_key: Any) -> None:
    # public exponent changed: the public half no longer matches the private exponent
    pem = _damaged_pem(private_key, e=65539)
    with pytest.raises(KeyLoadError, match="damaged") as info:
        qs_jwt.Signer(pem)  # the cheap arithmetic check at load time finds it
    assert info.value.code == "damaged"
    with pytest.raises(KeyLoadError, match="damaged"):
        qs_jwt.create_qscloud_token(pem, issuer="i", keyid="k", sub="s", now=FIXED_NOW)
    with pytest.raises(KeyLoadError, match="damaged"):
        qs_jwt.create_qseow_token(pem, user_id="u", user_directory="d", audience="a", expires="1m", now=FIXED_NOW)
    with pytest.raises(KeyLoadError, match="damaged"):
        qs_jwt.validate_private_key(pem)


def test_damaged_private_exponent_gives_no_token(private_key: Any) -> None:
    numbers = private_key.private_numbers()
    pem = _damaged_pem(private_key, d=numbers.d + 2, dmp1=numbers.dmp1 + 2)
    with pytest.raises(KeyLoadError, match="damaged"):
        qs_jwt.Signer(pem).sign({"alg": "RS256"}, {"a": 1})


@pytest.mark.parametrize("field", ["dmp1", "dmq1", "iqmp"])
def test_crt_damage_never_yields_a_bad_token(private_key: Any, public_key: Any, field: str) -> None:
    """OpenSSL may repair CRT faults itself; either way no token with a bad signature comes out."""
    numbers = private_key.private_numbers()
    pem = _damaged_pem(private_key, **{field: getattr(numbers, field) + 2})
    try:
        token = qs_jwt.Signer(pem).sign({"alg": "RS256"}, {"a": 1})
    except KeyLoadError:
        return
    verify_twice(token, public_key)


def test_signature_self_check_failure_gives_no_token(
    private_pem: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = qs_jwt.Signer(private_pem)
    monkeypatch.setattr(signer, "public_key", load_key("other2048_pkcs8.pem").public_key())
    with pytest.raises(KeyLoadError, match="damaged") as info:
        qs_jwt.create_qscloud_token(signer, issuer="i", keyid="k", sub="s", now=FIXED_NOW)
    assert info.value.code == "damaged"


# --- creation entry points -------------------------------------------------------------------


def test_create_with_encrypted_key(public_key: Any) -> None:
    token = qs_jwt.create_qscloud_token(
        key_bytes("rsa2048_encrypted.pem"), passphrase=PASSPHRASE, issuer="i", keyid="k", sub="s", now=FIXED_NOW
    )
    verify_twice(token.token, public_key, audience=QSCLOUD_AUDIENCE)
    with pytest.raises(KeyLoadError, match="passphrase"):
        qs_jwt.create_qscloud_token(
            key_bytes("rsa2048_encrypted.pem"), passphrase="wrong", issuer="i", keyid="k", sub="s", now=FIXED_NOW
        )


def test_create_with_4096_bit_key() -> None:
    token = qs_jwt.create_qseow_token(
        key_bytes("rsa4096_pkcs8.pem"), user_id="u", user_directory="d", audience="a", expires="1m", now=FIXED_NOW
    )
    public = serialization.load_pem_public_key(key_bytes("rsa4096_public.pem"))
    verify_twice(token.token, public, audience="a")


def test_token_to_dict(private_pem: bytes, public_key: Any) -> None:
    token = qs_jwt.create_qscloud_token(private_pem, issuer="i", keyid="k", sub="s", expires="5m", now=FIXED_NOW)
    verify_twice(token.token, public_key, audience=QSCLOUD_AUDIENCE)
    data = token.to_dict()
    assert data["token"] == token.token
    assert data["header"] == token.header
    assert data["payload"] == token.payload
    assert data["expiresAt"] == "2027-01-15T08:05:00Z"
    json.dumps(data)


def test_factory_mints_fresh_tokens(private_pem: bytes, public_key: Any) -> None:
    factory = qs_jwt.QsCloudTokenFactory(private_pem, issuer="my-app", keyid="key-1", expires="2m")
    one = factory.create(sub="alice", email="a@example.com", email_verified=True, now=FIXED_NOW)
    two = factory.create(sub="bob", groups=["G"], now=FIXED_NOW + 10)
    h1, p1 = verify_twice(one.token, public_key, audience=QSCLOUD_AUDIENCE)
    h2, p2 = verify_twice(two.token, public_key, audience=QSCLOUD_AUDIENCE)
    assert h1 == h2 == {"alg": "RS256", "typ": "JWT", "kid": "key-1"}
    assert p1["jti"] != p2["jti"]
    assert (p1["sub"], p2["sub"]) == ("alice", "bob")
    assert p1["exp"] - p1["iat"] == 120
    assert p2["iat"] == FIXED_NOW + 10
    assert p2["groups"] == ["G"]


@pytest.mark.parametrize("kwargs", [{"algorithm": "HS256"}, {"expires": "0s"}, {"expires": "nope"}])
def test_factory_checks_settings_up_front(private_pem: bytes, kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidValueError):
        qs_jwt.QsCloudTokenFactory(private_pem, issuer="i", keyid="k", **kwargs)


def test_factory_refuses_bad_key() -> None:
    with pytest.raises(KeyLoadError):
        qs_jwt.QsCloudTokenFactory(b"garbage", issuer="i", keyid="k")


@pytest.mark.parametrize("kwargs", [{"algorithm": "RS512"}, {"expires": "2h", "allow_long_lifetime": True}])
def test_warnings_are_data_not_python_warnings(private_pem: bytes, public_key: Any, kwargs: dict[str, Any]) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing goes through the warnings module
        token = qs_jwt.create_qscloud_token(private_pem, issuer="i", keyid="k", sub="s", now=FIXED_NOW, **kwargs)
    assert len(token.warnings) == 1
    assert token.to_dict()["warnings"] == list(token.warnings)
    verify_twice(token.token, public_key, audience=QSCLOUD_AUDIENCE, alg=token.header["alg"])


# --- decode_unverified -----------------------------------------------------------------------


def test_decode_unverified(good_token: str) -> None:
    decoded = qs_jwt.decode_unverified(good_token)
    assert decoded.header == {"alg": "RS256", "typ": "JWT", "kid": "key-1"}
    assert decoded.algorithm == "RS256"
    assert decoded.key_id == "key-1"
    assert decoded.payload["sub"] == "alice"
    assert decoded.token == good_token
    assert decoded.signature == b64d(good_token.split(".")[2])
    assert len(decoded.signature) == 256


def _forge(header: bytes, payload: bytes, signature: bytes = b"sig") -> str:
    return f"{b64e(header)}.{b64e(payload)}.{b64e(signature)}"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "a.b.c.d.e",
        "..",
        _forge(b'{"alg":"none"}', b"{}"),
        _forge(b'{"alg":"None"}', b"{}"),
        _forge(b'{"alg":"NONE"}', b"{}"),
        _forge(b'{"alg":"RS256"}', b"{}", b""),
        _forge(b'{"alg":"RS256","alg":"HS256"}', b"{}"),
        _forge(b'{"alg":"RS256"}', b'{"sub":"a","sub":"b"}'),
        _forge(b'{"alg":"RS256","crit":["exp"]}', b"{}"),
        _forge(b'{"alg":"RS256","crit":[]}', b"{}"),
        _forge(b"[]", b"{}"),
        _forge(b'{"alg":"RS256"}', b"[]"),
        _forge(b'{"alg":"RS256"}', b'"x"'),
        _forge(b'{"alg":"RS256"}', b"1"),
        _forge(b'{"alg":"RS256"}', b"\xff\xfe"),
        _forge(b'{"alg":"RS256"}', b'{"a":"\\ud800"}'),
        _forge(b'{"alg":"RS256"}', b'{"a":NaN}'),
        _forge(b'{"alg":"RS256"}', b"[" * 100_000 + b"]" * 100_000),
        _forge(b"{}", b"{}"),
        _forge(b'{"alg":1}', b"{}"),
        b64e(b'{"alg":"RS256"}') + "=." + b64e(b"{}") + "." + b64e(b"sig"),
        b64e(b'{"alg":"RS256"}') + ". " + b64e(b"{}") + "." + b64e(b"sig"),
        "é." + b64e(b"{}") + ".c2ln",
        "a" * (64 * 1024 + 1),
        "a." * 5_000_000,
    ],
)
def test_decode_unverified_refuses_malformed(token: str) -> None:
    with pytest.raises(TokenFormatError):
        qs_jwt.decode_unverified(token)


def test_decode_unverified_refuses_non_text() -> None:
    with pytest.raises(TokenFormatError):
        qs_jwt.decode_unverified(b"a.b.c")  # type: ignore[arg-type]


def test_decode_unverified_keeps_unicode_exact(private_key: Any) -> None:
    payload = {"name": "Åsa 😀 שלום", "nfd": "Ame\u0301lie"}
    raw = json.dumps(payload, ensure_ascii=False).encode()
    decoded = qs_jwt.decode_unverified(raw_token({"alg": "RS256"}, raw, private_key))
    assert decoded.payload == payload


# --- inspect_token / verify ------------------------------------------------------------------


def test_inspect_without_key_checks_times_only(good_token: str) -> None:
    result = qs_jwt.inspect_token(good_token, now=FIXED_NOW)
    assert result.signature is None
    assert result.audience is None
    assert result.issuer is None
    assert result.ok
    assert result.to_dict() == {
        "signature": None, "expired": False, "notYetValid": False, "audience": None, "issuer": None, "errors": [],
    }


@pytest.mark.parametrize(
    "key_name", ["rsa2048_public.pem", "rsa2048_public_pkcs1.pem", "rsa2048_cert.pem", "rsa2048_pkcs8.pem"]
)
def test_verify_good_token(good_token: str, key_name: str) -> None:
    result = qs_jwt.verify(good_token, key_bytes(key_name), audience=QSCLOUD_AUDIENCE, issuer="my-app", now=FIXED_NOW)
    assert result.ok, result.errors
    assert result.signature is True
    assert result.audience is True
    assert result.issuer is True
    assert result.expired is False
    assert result.not_yet_valid is False
    result.raise_for_errors()


def test_verify_with_key_object(good_token: str, public_key: Any) -> None:
    assert qs_jwt.verify(good_token, public_key, now=FIXED_NOW).signature is True


def test_expired_but_correctly_signed(good_token: str, public_key: Any) -> None:
    result = qs_jwt.verify(good_token, public_key, now=FIXED_NOW + 300)  # exactly at exp
    assert result.signature is True
    assert result.expired is True
    assert result.not_yet_valid is False
    assert result.errors == ["token has expired"]
    assert not result.ok
    with pytest.raises(VerificationError, match="expired"):
        result.raise_for_errors()
    assert qs_jwt.verify(good_token, public_key, now=FIXED_NOW + 299).ok


def test_not_yet_valid(good_token: str, public_key: Any) -> None:
    result = qs_jwt.verify(good_token, public_key, now=FIXED_NOW - 1)
    assert result.signature is True
    assert result.not_yet_valid is True
    assert result.expired is False
    assert any("nbf" in e for e in result.errors)
    assert any("iat" in e for e in result.errors)
    assert qs_jwt.verify(good_token, public_key, now=FIXED_NOW).ok  # valid from nbf on


def test_leeway(good_token: str, public_key: Any) -> None:
    late = qs_jwt.verify(good_token, public_key, now=FIXED_NOW + 320, leeway=30)
    assert late.ok and not late.expired
    assert qs_jwt.verify(good_token, public_key, now=FIXED_NOW + 320, leeway=5).expired
    early = qs_jwt.verify(good_token, public_key, now=FIXED_NOW - 20, leeway=30)
    assert early.ok and not early.not_yet_valid
    assert qs_jwt.verify(good_token, public_key, now=FIXED_NOW - 20, leeway=5).not_yet_valid


@pytest.mark.parametrize("leeway", [-1, float("nan"), float("inf"), True, "5"])
def test_bad_leeway_is_refused(good_token: str, leeway: Any) -> None:
    with pytest.raises(InvalidValueError):
        qs_jwt.inspect_token(good_token, leeway=leeway, now=FIXED_NOW)


def test_audience_and_issuer_reported_separately(good_token: str, public_key: Any) -> None:
    result = qs_jwt.verify(good_token, public_key, audience="other", issuer="other-app", now=FIXED_NOW)
    assert result.signature is True
    assert result.audience is False
    assert result.issuer is False
    assert len(result.errors) == 2
    assert any("audience" in e for e in result.errors)
    assert any("issuer" in e for e in result.errors)


def test_audience_array_containing_expected(private_key: Any, public_key: Any) -> None:
    token = raw_token({"alg": "RS256"}, {"aud": ["x", "qseow"], "exp": FIXED_NOW + 60}, private_key)
    assert qs_jwt.verify(token, public_key, audience="qseow", now=FIXED_NOW).audience is True
    assert qs_jwt.verify(token, public_key, audience="y", now=FIXED_NOW).audience is False


def test_wrong_key(good_token: str) -> None:
    result = qs_jwt.verify(good_token, key_bytes("other2048_public.pem"), now=FIXED_NOW)
    assert result.signature is False
    assert result.expired is False
    assert any("signature" in e for e in result.errors)
    with pytest.raises(VerificationError, match="signature"):
        result.raise_for_errors()


def test_tampered_payload(good_token: str, public_key: Any) -> None:
    head, body, sig = good_token.split(".")
    payload = json.loads(b64d(body))
    payload["sub"] = "mallory"
    forged = f"{head}.{b64e(json.dumps(payload).encode())}.{sig}"
    result = qs_jwt.verify(forged, public_key, now=FIXED_NOW)
    assert result.signature is False
    assert qs_jwt.decode_unverified(forged).payload["sub"] == "mallory"


@pytest.mark.parametrize("alg", ["RS384", "RS512"])
def test_algorithm_not_in_allowlist(private_key: Any, public_key: Any, alg: str) -> None:
    token = raw_token({"alg": alg}, {"exp": FIXED_NOW + 60}, private_key, alg=alg)
    assert qs_jwt.verify(token, public_key, now=FIXED_NOW).signature is True
    result = qs_jwt.verify(token, public_key, algorithms=["RS256"], now=FIXED_NOW)
    assert result.signature is False
    assert any("not accepted" in e for e in result.errors)


def test_hs256_token_with_rsa_key_is_refused(public_pem: bytes, public_key: Any) -> None:
    import hashlib
    import hmac

    header = b64e(b'{"alg":"HS256","typ":"JWT"}')
    signing_input = header + "." + b64e(b'{"sub":"x"}')
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()  # the classic confusion attack
    token = f"{signing_input}.{b64e(mac)}"
    for key in (public_key, public_pem, key_bytes("rsa2048_cert.pem")):
        result = qs_jwt.verify(token, key, now=FIXED_NOW)
        assert result.signature is False


@pytest.mark.parametrize("algorithms", [["HS256"], ["RS256", "none"], ["ES256"]])
def test_non_rsa_allowlist_is_refused(good_token: str, public_key: Any, algorithms: list[str]) -> None:
    with pytest.raises(InvalidValueError):
        qs_jwt.verify(good_token, public_key, algorithms=algorithms, now=FIXED_NOW)


def test_verify_needs_a_key(good_token: str) -> None:
    with pytest.raises(KeyLoadError, match="needs a key"):
        qs_jwt.verify(good_token, None)


@pytest.mark.parametrize("key", [42, object(), {"kty": "RSA"}])
def test_unsupported_key_type(good_token: str, key: Any) -> None:
    with pytest.raises(KeyLoadError):
        qs_jwt.verify(good_token, key, now=FIXED_NOW)


@pytest.mark.parametrize("name", ["rsa1024_public.pem", "ec_p256_public.pem", "rsa2048_encrypted.pem"])
def test_unusable_key_bytes(good_token: str, name: str) -> None:
    with pytest.raises(KeyLoadError):
        qs_jwt.verify(good_token, key_bytes(name), now=FIXED_NOW)


def test_small_key_object_is_refused(private_key: Any) -> None:
    small = load_key("rsa1024_pkcs8.pem")
    token = raw_token({"alg": "RS256"}, {"sub": "x"}, small)
    with pytest.raises(KeyLoadError, match="2048"):
        qs_jwt.verify(token, small.public_key(), now=FIXED_NOW)


def test_verify_malformed_token_raises_token_format_error(public_key: Any) -> None:
    with pytest.raises(TokenFormatError):
        qs_jwt.verify("not.a.token", public_key)


# --- JWKS key selection ----------------------------------------------------------------------


@pytest.fixture
def key_set(public_key: Any, other_key: Any) -> list[qs_jwt.JsonWebKey]:
    doc = {"keys": [qs_jwt.public_jwk(public_key, kid="key-1"), qs_jwt.public_jwk(other_key.public_key(), kid="key-2")]}
    return qs_jwt.load_jwks(json.dumps(doc))


def test_jwks_picks_key_by_kid(good_token: str, key_set: list[qs_jwt.JsonWebKey], private_key: Any) -> None:
    assert qs_jwt.verify(good_token, key_set, now=FIXED_NOW).signature is True
    # same token claims, but the header names the other key: no match
    wrong_kid = raw_token({"alg": "RS256", "kid": "key-2"}, {"sub": "x"}, private_key)
    result = qs_jwt.verify(wrong_kid, key_set, now=FIXED_NOW)
    assert result.signature is False


def test_jwks_unknown_kid(private_key: Any, key_set: list[qs_jwt.JsonWebKey]) -> None:
    token = raw_token({"alg": "RS256", "kid": "nope"}, {"sub": "x"}, private_key)
    result = qs_jwt.verify(token, key_set, now=FIXED_NOW)
    assert result.signature is False
    assert any("no key in the key set has kid" in e for e in result.errors)


def test_jwks_no_kid_with_several_keys(private_key: Any, key_set: list[qs_jwt.JsonWebKey]) -> None:
    token = raw_token({"alg": "RS256"}, {"sub": "x"}, private_key)
    result = qs_jwt.verify(token, key_set, now=FIXED_NOW)
    assert result.signature is False
    assert any("not exactly one" in e for e in result.errors)
    # with a single key, no kid is needed
    assert qs_jwt.verify(token, key_set[:1], now=FIXED_NOW).signature is True
    assert qs_jwt.verify(token, key_set[0], now=FIXED_NOW).signature is True


def test_jwks_key_alg_must_match(private_key: Any, public_key: Any) -> None:
    keys = qs_jwt.load_jwks(json.dumps(qs_jwt.public_jwk(public_key, kid="k", alg="RS512")))
    token = raw_token({"alg": "RS256", "kid": "k"}, {"sub": "x"}, private_key)
    result = qs_jwt.verify(token, keys, now=FIXED_NOW)
    assert result.signature is False
    assert any("RS512" in e for e in result.errors)


def test_malicious_kid_is_escaped(private_key: Any, key_set: list[qs_jwt.JsonWebKey]) -> None:
    kid = "../../etc/passwd\x00\x1b[31m' OR 1=1--" + "x" * 10_000
    token = raw_token({"alg": "RS256", "kid": kid}, {"sub": "x"}, private_key)
    result = qs_jwt.verify(token, key_set, now=FIXED_NOW)
    assert result.signature is False
    message = " ".join(result.errors)
    assert "\x1b" not in message and "\x00" not in message
    assert len(message) < 500


# --- odd time claims -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw_exp",
    [b'"1800000060"', b"true", b"false", b"null", b"[1]", b'{"a":1}'],
)
def test_odd_exp_is_an_error_not_an_exception(private_key: Any, public_key: Any, raw_exp: bytes) -> None:
    token = raw_token(b'{"alg":"RS256"}', b'{"exp":' + raw_exp + b"}", private_key)
    result = qs_jwt.verify(token, public_key, now=FIXED_NOW)
    assert result.signature is True
    assert any("exp is not a number" in e for e in result.errors)
    assert not result.ok


def test_non_finite_exp_is_a_malformed_token(private_key: Any, public_key: Any) -> None:
    for raw_exp in (b"1e400", b"-1e400"):
        token = raw_token(b'{"alg":"RS256"}', b'{"exp":' + raw_exp + b"}", private_key)
        with pytest.raises(TokenFormatError, match="out of range"):
            qs_jwt.verify(token, public_key, now=FIXED_NOW)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_odd_nbf_iat_are_errors(private_key: Any, public_key: Any, claim: str) -> None:
    token = raw_token({"alg": "RS256"}, {claim: "soon"}, private_key)
    result = qs_jwt.verify(token, public_key, now=FIXED_NOW)
    assert any(f"{claim} is not a number" in e for e in result.errors)


def test_fractional_numeric_date_is_accepted(private_key: Any, public_key: Any) -> None:
    # RFC 7519 NumericDate may be non-integer
    token = raw_token({"alg": "RS256"}, {"exp": FIXED_NOW + 0.5}, private_key)
    assert qs_jwt.verify(token, public_key, now=FIXED_NOW).ok
    assert qs_jwt.verify(token, public_key, now=FIXED_NOW + 1).expired


@pytest.mark.parametrize("raw_value", [b"1" + b"0" * 400, b"-1" + b"0" * 400, b"1e300", b"253402300800"])
@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_huge_numeric_dates_are_errors_not_exceptions(
    private_key: Any, public_key: Any, claim: str, raw_value: bytes
) -> None:
    token = raw_token(b'{"alg":"RS256"}', b'{"' + claim.encode() + b'":' + raw_value + b"}", private_key)
    result = qs_jwt.verify(token, public_key, now=FIXED_NOW)
    assert result.signature is True
    assert not result.ok
    assert any(e.startswith(claim) for e in result.errors)
    assert len(" ".join(result.errors)) < 300


def test_last_second_of_year_9999_is_a_valid_exp(private_key: Any, public_key: Any) -> None:
    token = raw_token({"alg": "RS256"}, {"exp": 253402300799}, private_key)
    assert qs_jwt.verify(token, public_key, now=FIXED_NOW).ok


# --- attack classes (security bar, checklist A) ----------------------------------------------


def test_embedded_keys_in_the_header_are_never_trusted(public_key: Any, other_key: Any) -> None:
    """jwk / jku / x5u / x5c in the header must not select the verification key."""
    attacker_jwk = qs_jwt.public_jwk(other_key.public_key(), kid="key-1")
    header = {
        "alg": "RS256", "kid": "key-1", "jwk": attacker_jwk, "jku": "https://attacker.example/jwks.json",
        "x5u": "https://attacker.example/cert.pem", "x5c": ["MIIB"],
    }
    token = raw_token(header, {"sub": "admin", "exp": FIXED_NOW + 60}, other_key)
    result = qs_jwt.verify(token, public_key, now=FIXED_NOW)
    assert result.signature is False
    assert qs_jwt.inspect_token(token, now=FIXED_NOW).signature is None  # no key, no claim of validity


@pytest.mark.parametrize("alg", ["PS256", "ES256", "HS512", "none ", "RS256 ", "rs256"])
def test_algorithms_outside_the_allowlist_never_verify(private_key: Any, public_key: Any, alg: str) -> None:
    token = raw_token({"alg": alg}, {"sub": "x"}, private_key)  # signed RS256 whatever the header says
    result = qs_jwt.verify(token, public_key, now=FIXED_NOW)
    assert result.signature is False


@pytest.mark.parametrize("crit", ['"x"', '["b64"]', '["exp"]', "[]", "null"])
def test_any_crit_header_is_refused(private_key: Any, crit: str) -> None:
    header = ('{"alg":"RS256","crit":' + crit + "}").encode()
    with pytest.raises(TokenFormatError, match="crit"):
        qs_jwt.decode_unverified(raw_token(header, b"{}", private_key))


def test_non_canonical_base64url_is_refused(good_token: str) -> None:
    head, body, sig = good_token.split(".")
    # the last character of a 256-byte signature carries 4 unused bits: setting one changes no byte
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(sig[-1])
    tweaked = sig[:-1] + alphabet[last | 1] if last % 2 == 0 else sig[:-1] + alphabet[last & ~1]
    assert b64d(tweaked) == b64d(sig)
    with pytest.raises(TokenFormatError, match="base64url"):
        qs_jwt.decode_unverified(f"{head}.{body}.{tweaked}")
    with pytest.raises(TokenFormatError):
        qs_jwt.decode_unverified(f"{head}.{body}.{sig}==")


def test_exp_nan_is_a_format_error(private_key: Any) -> None:
    with pytest.raises(TokenFormatError):
        qs_jwt.inspect_token(raw_token(b'{"alg":"RS256"}', b'{"exp":NaN}', private_key))


@pytest.mark.parametrize("kind", ["key-objects", "pem-bytes"])
def test_list_of_plain_keys_is_accepted(good_token: str, public_key: Any, public_pem: bytes, kind: str) -> None:
    keys = [public_key] if kind == "key-objects" else [public_pem]
    assert qs_jwt.verify(good_token, keys, now=FIXED_NOW).signature is True


def test_list_of_other_objects_is_a_key_load_error(good_token: str) -> None:
    with pytest.raises(KeyLoadError):
        qs_jwt.verify(good_token, [42], now=FIXED_NOW)


# --- from the new-user review ------------------------------------------------------------------


def test_algorithms_as_one_string_and_empty(good_token: str, public_key: Any) -> None:
    assert qs_jwt.verify(good_token, public_key, algorithms="RS256", now=FIXED_NOW).signature is True
    with pytest.raises(InvalidValueError, match="algorithms"):
        qs_jwt.verify(good_token, public_key, algorithms=[], now=FIXED_NOW)


def test_audience_any_of(good_token: str, public_key: Any) -> None:
    ok = qs_jwt.verify(good_token, public_key, audience=["other", QSCLOUD_AUDIENCE], now=FIXED_NOW)
    assert ok.audience is True
    assert qs_jwt.verify(good_token, public_key, audience=["a", "b"], now=FIXED_NOW).audience is False


def test_keys_given_as_paths(good_token: str) -> None:
    from pathlib import Path

    keys = Path(__file__).parent / "keys"
    assert qs_jwt.verify(good_token, keys / "rsa2048_cert.pem", now=FIXED_NOW).signature is True
    token = qs_jwt.create_qscloud_token(keys / "rsa2048_pkcs8.pem", issuer="i", keyid="k", sub="s")
    assert qs_jwt.verify(token.token, keys / "rsa2048_public.pem").ok


def test_now_out_of_range_or_not_a_number(private_pem: bytes) -> None:
    for now in (1e20, -1, "1700000000", True):
        with pytest.raises(InvalidValueError, match="now"):
            qs_jwt.create_qscloud_token(private_pem, issuer="i", keyid="k", sub="s", now=now)  # type: ignore[arg-type]


@pytest.mark.parametrize("call", [
    lambda t: qs_jwt.inspect_token(t, audience=5),  # type: ignore[arg-type]
    lambda t: qs_jwt.inspect_token(t, audience=[["x"]]),  # type: ignore[list-item]
    lambda t: qs_jwt.inspect_token(t, algorithms=None),  # type: ignore[arg-type]
    lambda t: qs_jwt.inspect_token(t, algorithms=5),  # type: ignore[arg-type]
    lambda t: qs_jwt.inspect_token(t, key="\ud800"),
    lambda t: qs_jwt.check_qseow(t, userid_claim=None),  # type: ignore[arg-type]
    lambda t: qs_jwt.check_qseow(t, userdir_claim=5),  # type: ignore[arg-type]
    lambda t: qs_jwt.load_private_key(None),  # type: ignore[arg-type]
    lambda t: qs_jwt.load_public_key(None),  # type: ignore[arg-type]
    lambda t: qs_jwt.load_jwks(None),  # type: ignore[arg-type]
    lambda t: qs_jwt.load_private_key("\ud800"),
    lambda t: qs_jwt.create_key_files(None, days=1),  # type: ignore[arg-type]
    lambda t: qs_jwt.create_key_files("/tmp/\x00x", days=1),
    lambda t: qs_jwt.create_key_files("/tmp/x-", days=1, common_name=5),  # type: ignore[arg-type]
    lambda t: qs_jwt.load_private_key(key_bytes("rsa2048_encrypted.pem"), passphrase="\ud800"),
])
def test_wrong_argument_types_raise_the_library_errors(good_token: str, call: Any) -> None:
    with pytest.raises(qs_jwt.QsJwtError):
        call(good_token)
