"""Key loading (private, public, JWK/JWKS), reading key files, thumbprints, ROCA."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import qs_jwt
from conftest import PASSPHRASE, key_bytes, key_path
from qs_jwt import errors, keys
from qs_jwt._jws import b64url_decode, b64url_encode
from qs_jwt.errors import InvalidValueError, KeyLoadError

SOURCE = "secrets/signing-key.pem"


def pem_body_lines(pem: bytes) -> list[str]:
    """The base64 lines of every PEM block (what must never be echoed)."""
    return [
        line.strip()
        for line in pem.decode("ascii", "replace").splitlines()
        if line.strip() and not line.startswith("-----") and ":" not in line
    ]


def assert_clean_error(exc: KeyLoadError, data: bytes, *, source: str = SOURCE) -> None:
    message = str(exc)
    assert message.startswith(f"{source}: ")
    assert exc.source == source
    assert exc.reason and exc.reason in message
    for line in pem_body_lines(data):
        if len(line) < 8:  # DER input split at random bytes: short fragments prove nothing
            continue
        assert line not in message
        if len(line) >= 16:
            assert line[:16] not in message
    assert PASSPHRASE not in message
    assert "\n" not in message


def pub_numbers(key: Any) -> tuple[int, int]:
    numbers = key.public_numbers() if hasattr(key, "public_numbers") else key.public_key().public_numbers()
    return numbers.n, numbers.e


@pytest.fixture(scope="module")
def reference_numbers() -> tuple[int, int]:
    return pub_numbers(serialization.load_pem_public_key(key_bytes("rsa2048_public.pem")))


# --- load_private_key: accepted forms --------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "passphrase"),
    [
        (key_bytes("rsa2048_pkcs8.pem"), None),
        (key_bytes("rsa2048_pkcs1.pem"), None),
        (key_bytes("rsa2048_pkcs8.der"), None),
        (key_bytes("rsa2048_encrypted.pem"), PASSPHRASE),
        (key_bytes("rsa2048_encrypted.pem"), PASSPHRASE.encode("utf-8")),
        (key_bytes("rsa2048_pkcs8.pem").replace(b"\n", b"\r\n"), None),
        (key_bytes("rsa2048_pkcs1.pem").replace(b"\n", b"\r\n"), None),
        (key_bytes("rsa2048_encrypted.pem").replace(b"\n", b"\r\n"), PASSPHRASE),
        (b"\xef\xbb\xbf" + key_bytes("rsa2048_pkcs8.pem"), None),
        (b"\xef\xbb\xbf" + key_bytes("rsa2048_pkcs8.pem").replace(b"\n", b"\r\n"), None),
        (key_bytes("rsa2048_pkcs8.pem").decode("ascii"), None),
        ("\ufeff" + key_bytes("rsa2048_pkcs1.pem").decode("ascii"), None),
        (b"\n\n  " + key_bytes("rsa2048_pkcs8.pem") + b"\n\n", None),
    ],
    ids=["pkcs8", "pkcs1", "der", "encrypted", "encrypted-bytes-pass", "crlf-pkcs8", "crlf-pkcs1",
         "crlf-encrypted", "bom", "bom-crlf", "text", "text-bom", "surrounding-blank-lines"],
)
def test_load_private_key_accepts(data: Any, passphrase: Any, reference_numbers: tuple[int, int]) -> None:
    key = qs_jwt.load_private_key(data, passphrase=passphrase, source=SOURCE)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    assert pub_numbers(key) == reference_numbers


def _encrypted_variants() -> dict[str, bytes]:
    key = serialization.load_pem_private_key(key_bytes("rsa2048_pkcs8.pem"), password=None)
    secret = serialization.BestAvailableEncryption(PASSPHRASE.encode())
    return {
        "encrypted-der": key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, secret),
        "legacy-encrypted-pem": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, secret
        ),
    }


ENCRYPTED_VARIANTS = _encrypted_variants()


@pytest.mark.parametrize("name", sorted(ENCRYPTED_VARIANTS))
def test_other_encrypted_forms(name: str, reference_numbers: tuple[int, int]) -> None:
    data = ENCRYPTED_VARIANTS[name]
    assert pub_numbers(qs_jwt.load_private_key(data, passphrase=PASSPHRASE)) == reference_numbers
    with pytest.raises(KeyLoadError, match="passphrase is required") as info:
        qs_jwt.load_private_key(data, source=SOURCE)
    assert_clean_error(info.value, data)
    with pytest.raises(KeyLoadError, match="wrong passphrase") as info:
        qs_jwt.load_private_key(data, passphrase="wrong", source=SOURCE)
    assert_clean_error(info.value, data)


def test_load_private_key_4096_and_validate() -> None:
    key = qs_jwt.load_private_key(key_bytes("rsa4096_pkcs8.pem"))
    assert key.key_size == 4096
    assert qs_jwt.validate_private_key(key_bytes("rsa2048_pkcs1.pem")).key_size == 2048
    encrypted = qs_jwt.validate_private_key(key_bytes("rsa2048_encrypted.pem"), passphrase=PASSPHRASE)
    assert encrypted.key_size == 2048


# --- load_private_key: refusals --------------------------------------------------------------

REFUSALS = [
    ("encrypted-wrong-pass", key_bytes("rsa2048_encrypted.pem"), "wrong horse", "wrong passphrase",
     errors.KEY_WRONG_PASSPHRASE),
    ("encrypted-no-pass", key_bytes("rsa2048_encrypted.pem"), None, "passphrase is required",
     errors.KEY_PASSPHRASE_REQUIRED),
    ("encrypted-empty-pass", key_bytes("rsa2048_encrypted.pem"), "", "passphrase is required",
     errors.KEY_PASSPHRASE_REQUIRED),
    *[(f"{form}-unneeded-pass", key_bytes(name), PASSPHRASE, "not encrypted", errors.KEY_UNNEEDED_PASSPHRASE)
      for form, name in (("pkcs8", "rsa2048_pkcs8.pem"), ("pkcs1", "rsa2048_pkcs1.pem"), ("der", "rsa2048_pkcs8.der"))],
    ("public-key", key_bytes("rsa2048_public.pem"), None, "public key", errors.KEY_WRONG_KIND),
    ("public-key-pkcs1", key_bytes("rsa2048_public_pkcs1.pem"), None, "public key", errors.KEY_WRONG_KIND),
    ("certificate", key_bytes("rsa2048_cert.pem"), None, "certificate", errors.KEY_WRONG_KIND),
    ("certificate-der", None, None, "certificate", errors.KEY_WRONG_KIND),
    ("ec-key", key_bytes("ec_p256.pem"), None, "RSA", errors.KEY_WRONG_TYPE),
    ("ec-legacy", b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n", None, "EC key",
     errors.KEY_WRONG_TYPE),
    ("rsa-1024", key_bytes("rsa1024_pkcs8.pem"), None, "1024 bits", errors.KEY_WEAK),
    ("garbage", b"this is not a key at all", None, "not a readable private key", errors.KEY_FORMAT),
    ("binary-garbage", bytes(range(256)) * 4, None, "not a readable private key", errors.KEY_FORMAT),
    ("truncated", key_bytes("rsa2048_pkcs8.pem")[:400], None, "not a readable private key", errors.KEY_FORMAT),
    ("damaged-body", key_bytes("rsa2048_pkcs8.pem").replace(b"MII", b"XXX", 1), None, "not a readable",
     errors.KEY_FORMAT),
    ("other-pem", b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", None, "X509 CRL", errors.KEY_FORMAT),
    ("openssh-garbage", b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==\n-----END OPENSSH PRIVATE KEY-----\n", None,
     "not a readable OpenSSH private key", errors.KEY_FORMAT),
    ("jwk", b'{"kty": "RSA", "n": "AQAB", "e": "AQAB", "d": "AQAB"}', None, "JSON", errors.KEY_FORMAT),
    ("empty", b"", None, "empty", errors.KEY_UNREADABLE),
    ("blank", b" \r\n\t\n", None, "empty", errors.KEY_UNREADABLE),
    ("bom-only", b"\xef\xbb\xbf", None, "empty", errors.KEY_UNREADABLE),
]


@pytest.mark.parametrize(("data", "passphrase", "fragment", "code"), [r[1:] for r in REFUSALS],
                         ids=[r[0] for r in REFUSALS])
def test_load_private_key_refuses_cleanly(data: bytes | None, passphrase: Any, fragment: str, code: str) -> None:
    if data is None:
        data = x509.load_pem_x509_certificate(key_bytes("rsa2048_cert.pem")).public_bytes(serialization.Encoding.DER)
    with pytest.raises(KeyLoadError) as info:
        qs_jwt.load_private_key(data, passphrase=passphrase, source=SOURCE)
    assert fragment in str(info.value)
    assert_clean_error(info.value, data)
    assert info.value.code == code


def test_load_private_key_without_source_has_plain_message() -> None:
    with pytest.raises(KeyLoadError) as info:
        qs_jwt.load_private_key(b"")
    assert str(info.value) == "is empty"
    assert info.value.source is None


def _unsafe_pem(numbers: rsa.RSAPrivateNumbers) -> bytes:
    key = numbers.private_key(unsafe_skip_rsa_key_validation=True)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def test_the_fast_path_refuses_inconsistent_numbers() -> None:
    """A wrong CRT exponent used to pass the fast path (and sign wrongly); plain arithmetic now catches it."""
    key = serialization.load_pem_private_key(key_bytes("rsa2048_pkcs8.pem"), password=None)
    numbers = key.private_numbers()
    pem = _unsafe_pem(rsa.RSAPrivateNumbers(
        numbers.p, numbers.q, numbers.d, numbers.dmp1 + 2, numbers.dmq1, numbers.iqmp, numbers.public_numbers
    ))
    with pytest.raises(KeyLoadError, match="is damaged: its RSA numbers are inconsistent") as info:
        qs_jwt.load_private_key(pem, source=SOURCE)
    assert info.value.code == errors.KEY_DAMAGED
    assert_clean_error(info.value, pem)


def test_validate_private_key_runs_the_full_check() -> None:
    """A key whose numbers fit together, but whose p is not prime: only the full check can tell."""
    first = serialization.load_pem_private_key(key_bytes("rsa2048_pkcs8.pem"), password=None).private_numbers()
    second = serialization.load_pem_private_key(key_bytes("other2048_pkcs8.pem"), password=None).private_numbers()
    p, q, e = first.p * first.q, second.p, 65537  # p is the product of two primes
    d = pow(e, -1, (p - 1) * (q - 1))
    pem = _unsafe_pem(rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p),
                                            rsa.RSAPublicNumbers(e, p * q)))
    assert qs_jwt.load_private_key(pem).key_size == 3072  # the fast path does not test primes
    with pytest.raises(KeyLoadError, match="fails the full RSA consistency check") as info:
        qs_jwt.validate_private_key(pem, source=SOURCE)
    assert info.value.code == errors.KEY_DAMAGED
    assert_clean_error(info.value, pem)


# --- read_key_source -------------------------------------------------------------------------


def test_read_key_source_reads_a_file() -> None:
    assert keys.read_key_source(key_path("rsa2048_pkcs8.pem")) == key_bytes("rsa2048_pkcs8.pem")


def test_read_key_source_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.pem")
    with pytest.raises(KeyLoadError, match="not found") as info:
        qs_jwt.read_key_source(path)
    assert info.value.source == path
    assert str(info.value).startswith(path)


def test_read_key_source_directory(tmp_path: Path) -> None:
    with pytest.raises(KeyLoadError, match="directory") as info:
        qs_jwt.read_key_source(str(tmp_path), what="certificate")
    assert "certificate" in str(info.value)


def test_read_key_source_not_a_directory_component(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_bytes(b"x")
    with pytest.raises(KeyLoadError, match="cannot read"):
        qs_jwt.read_key_source(str(file / "key.pem"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_read_key_source_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(key_bytes("rsa2048_pkcs8.pem"))
    path.chmod(0)
    with pytest.raises(KeyLoadError, match="cannot read"):
        qs_jwt.read_key_source(str(path))


@pytest.mark.parametrize("content", [b"", b"  \n\r\n"])
def test_read_key_source_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.pem"
    path.write_bytes(content)
    with pytest.raises(KeyLoadError, match="empty"):
        qs_jwt.read_key_source(str(path))


def test_read_key_source_size_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.pem"
    big.write_bytes(b"A" * (keys.MAX_KEY_FILE_BYTES + 1))
    with pytest.raises(KeyLoadError, match="larger than") as info:
        qs_jwt.read_key_source(str(big))
    assert "AAAA" not in str(info.value)
    limit = tmp_path / "limit.pem"
    limit.write_bytes(b"A" * keys.MAX_KEY_FILE_BYTES)
    assert len(qs_jwt.read_key_source(str(limit))) == keys.MAX_KEY_FILE_BYTES


class _NoStdin:
    """Standard input that fails the test when anything reads it."""

    @property
    def buffer(self) -> Any:
        raise AssertionError("the library read standard input")


def test_the_library_never_reads_stdin(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setattr("sys.stdin", _NoStdin())
    monkeypatch.chdir(tmp_path)
    with pytest.raises(KeyLoadError, match="not found") as info:
        qs_jwt.read_key_source("-")  # a file named "-": the command line reads stdin itself
    assert info.value.code == "not-found"
    (tmp_path / "-").write_bytes(key_bytes("rsa2048_pkcs8.pem"))
    assert qs_jwt.read_key_source("-") == key_bytes("rsa2048_pkcs8.pem")


# --- load_public_key -------------------------------------------------------------------------


def _der_inputs() -> dict[str, bytes]:
    public = serialization.load_pem_public_key(key_bytes("rsa2048_public.pem"))
    cert = x509.load_pem_x509_certificate(key_bytes("rsa2048_cert.pem"))
    return {
        "spki-der": public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        "pkcs1-der": public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1),
        "cert-der": cert.public_bytes(serialization.Encoding.DER),
        "private-der": key_bytes("rsa2048_pkcs8.der"),
    }


PUBLIC_INPUTS = {
    "spki": key_bytes("rsa2048_public.pem"),
    "pkcs1-public": key_bytes("rsa2048_public_pkcs1.pem"),
    "certificate": key_bytes("rsa2048_cert.pem"),
    "expired-certificate": key_bytes("rsa2048_cert_expired.pem"),
    "private-pkcs8": key_bytes("rsa2048_pkcs8.pem"),
    "private-pkcs1": key_bytes("rsa2048_pkcs1.pem"),
    "crlf-certificate": key_bytes("rsa2048_cert.pem").replace(b"\n", b"\r\n"),
    "bom-spki": b"\xef\xbb\xbf" + key_bytes("rsa2048_public.pem"),
    **_der_inputs(),
}


@pytest.mark.parametrize("name", sorted(PUBLIC_INPUTS))
def test_load_public_key_accepts(name: str, reference_numbers: tuple[int, int]) -> None:
    key = qs_jwt.load_public_key(PUBLIC_INPUTS[name], source=SOURCE)
    assert isinstance(key, rsa.RSAPublicKey)
    assert pub_numbers(key) == reference_numbers


def test_load_public_key_accepts_a_single_jwk(reference_numbers: tuple[int, int]) -> None:
    public = serialization.load_pem_public_key(key_bytes("rsa2048_public.pem"))
    jwk = qs_jwt.public_jwk(public)  # type: ignore[arg-type]
    assert pub_numbers(qs_jwt.load_public_key(json.dumps(jwk))) == reference_numbers
    assert pub_numbers(qs_jwt.load_public_key(json.dumps({"keys": [jwk]}).encode())) == reference_numbers


PUBLIC_REFUSALS = [
    ("encrypted-private", key_bytes("rsa2048_encrypted.pem"), "encrypted"),
    ("ec-public", key_bytes("ec_p256_public.pem"), "RSA"),
    ("ec-private", key_bytes("ec_p256.pem"), "RSA"),
    ("rsa-1024", key_bytes("rsa1024_public.pem"), "1024 bits"),
    ("rsa-1024-private", key_bytes("rsa1024_pkcs8.pem"), "1024 bits"),
    ("garbage", b"garbage", "not a readable"),
    ("garbage-pem", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a readable"),
    ("other-pem", b"-----BEGIN PKCS7-----\nAAAA\n-----END PKCS7-----\n", "PKCS7"),
    ("empty", b"", "empty"),
    ("json-array", b"[1]", "not a readable"),
    ("bad-json", b"{bad", "JWKS"),
    ("jwks-of-two", None, "2 keys"),
]


@pytest.mark.parametrize(("data", "fragment"), [r[1:] for r in PUBLIC_REFUSALS], ids=[r[0] for r in PUBLIC_REFUSALS])
def test_load_public_key_refuses_cleanly(data: bytes | None, fragment: str) -> None:
    if data is None:
        public = serialization.load_pem_public_key(key_bytes("rsa2048_public.pem"))
        other = serialization.load_pem_public_key(key_bytes("other2048_public.pem"))
        data = json.dumps({"keys": [qs_jwt.public_jwk(public), qs_jwt.public_jwk(other)]}).encode()  # type: ignore[arg-type]
    with pytest.raises(KeyLoadError) as info:
        qs_jwt.load_public_key(data, source=SOURCE)
    assert fragment in str(info.value)
    assert_clean_error(info.value, data)


# --- load_jwks -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jwk() -> dict[str, str]:
    public = serialization.load_pem_public_key(key_bytes("rsa2048_public.pem"))
    return qs_jwt.public_jwk(public, kid="k1")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def other_jwk() -> dict[str, str]:
    public = serialization.load_pem_public_key(key_bytes("other2048_public.pem"))
    return qs_jwt.public_jwk(public, kid="k2")  # type: ignore[arg-type]


def test_load_jwks(jwk: dict[str, str], other_jwk: dict[str, str], reference_numbers: tuple[int, int]) -> None:
    loaded = qs_jwt.load_jwks(json.dumps({"keys": [jwk, other_jwk]}))
    assert [k.kid for k in loaded] == ["k1", "k2"]
    assert [k.alg for k in loaded] == ["RS256", "RS256"]
    assert [k.use for k in loaded] == ["sig", "sig"]
    assert pub_numbers(loaded[0].key) == reference_numbers


def test_load_jwks_minimal_members(jwk: dict[str, str]) -> None:
    minimal = {"kty": "RSA", "n": jwk["n"], "e": jwk["e"]}
    loaded = qs_jwt.load_jwks(json.dumps(minimal))
    assert len(loaded) == 1
    assert (loaded[0].kid, loaded[0].alg, loaded[0].use) == (None, None, None)
    ops = qs_jwt.load_jwks(json.dumps(dict(minimal, key_ops=["verify"])))
    assert len(ops) == 1


def _modified(jwk: dict[str, str], **changes: Any) -> dict[str, Any]:
    result: dict[str, Any] = dict(jwk)
    for name, value in changes.items():
        if value is ...:
            result.pop(name, None)
        else:
            result[name] = value
    return result


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"use": "enc"}, "use"),
        ({"key_ops": ["encrypt"]}, "key_ops"),
        ({"key_ops": ["sign"]}, "key_ops"),
        ({"key_ops": "verify"}, "key_ops"),
        ({"d": "AQAB"}, "private"),
        ({"p": "AQAB"}, "private"),
        ({"q": "AQAB"}, "private"),
        ({"dp": "AQAB"}, "private"),
        ({"dq": "AQAB"}, "private"),
        ({"qi": "AQAB"}, "private"),
        ({"k": "AQAB"}, "private"),
        ({"kty": "EC"}, "kty"),
        ({"kty": "oct"}, "kty"),
        ({"kty": ...}, "kty"),
        ({"kid": 7}, "kid"),
        ({"alg": 256}, "alg"),
        ({"n": ...}, "'n' and 'e'"),
        ({"e": 65537}, "'n' and 'e'"),
        ({"e": "AQ"}, "exponent 1"),
        ({"e": "Ag"}, "exponent 2"),
        ({"e": "AQAB="}, "base64url"),
        ({"n": "not base64!"}, "base64url"),
    ],
)
def test_load_jwks_refusals(jwk: dict[str, str], changes: dict[str, Any], fragment: str) -> None:
    data = json.dumps({"keys": [_modified(jwk, **changes)]})
    with pytest.raises(KeyLoadError) as info:
        qs_jwt.load_jwks(data, source="jwks.json")
    assert fragment in str(info.value)
    assert str(info.value).startswith("jwks.json: ")


def test_load_jwks_refuses_duplicate_kid(jwk: dict[str, str], other_jwk: dict[str, str]) -> None:
    data = json.dumps({"keys": [jwk, dict(other_jwk, kid="k1")]})
    with pytest.raises(KeyLoadError, match="more than once"):
        qs_jwt.load_jwks(data)


def test_load_jwks_refuses_small_key() -> None:
    small = serialization.load_pem_public_key(key_bytes("rsa1024_public.pem"))
    n = small.public_numbers().n  # type: ignore[union-attr]
    data = json.dumps({"keys": [{"kty": "RSA", "n": b64url_encode(n.to_bytes(128, "big")), "e": "AQAB"}]})
    with pytest.raises(KeyLoadError, match="1024 bits"):
        qs_jwt.load_jwks(data)


def test_load_jwks_refuses_roca_modulus() -> None:
    n = 65537**128  # over 2048 bits and, modulo every small prime, a power of 65537
    assert n.bit_length() >= 2048
    assert keys.roca_vulnerable(n)
    data = json.dumps({"keys": [{"kty": "RSA", "n": b64url_encode(n.to_bytes((n.bit_length() + 7) // 8, "big")),
                                 "e": "AQAB"}]})
    with pytest.raises(KeyLoadError, match="ROCA"):
        qs_jwt.load_jwks(data)


def test_load_jwks_refuses_one_bad_key_in_a_set(jwk: dict[str, str], other_jwk: dict[str, str]) -> None:
    data = json.dumps({"keys": [jwk, dict(other_jwk, use="enc")]})
    with pytest.raises(KeyLoadError, match="key 1"):
        qs_jwt.load_jwks(data)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b'{"keys": []}', "non-empty"),
        (b'{"keys": {}}', "non-empty"),
        (b'{"keys": null}', "non-empty"),
        (b'{"keys": [1]}', "not a JSON object"),
        (b"[]", "JSON object"),
        (b"", "JWKS"),
        (b"{not json", "JWKS"),
        (b'{"keys": [], "keys": []}', "duplicate"),
        (b'{"kty": "RSA", "n": NaN, "e": "AQAB"}', "JWKS"),
        (b"[" * 100_000 + b"]" * 100_000, "JWKS"),
    ],
)
def test_load_jwks_refuses_malformed_documents(data: bytes, fragment: str) -> None:
    with pytest.raises(KeyLoadError) as info:
        qs_jwt.load_jwks(data)
    assert fragment in str(info.value)


def test_wycheproof_jwk_sets(wycheproof_dir: Path) -> None:
    document = json.loads((wycheproof_dir / "json_web_key_test.json").read_text())
    checked = 0
    for group in document["testGroups"]:
        if "public" not in group:
            continue
        for test in group["tests"]:
            data = json.dumps(group["public"])
            if test["result"] == "valid":
                assert qs_jwt.load_jwks(data), test["tcId"]
            else:
                with pytest.raises(KeyLoadError):
                    qs_jwt.load_jwks(data)
            checked += 1
    assert checked >= 5


# --- thumbprints, JWKs, PEM helpers ----------------------------------------------------------

RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMs"
    "tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5"
    "hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_jwk_thumbprint_rfc7638_example() -> None:
    [loaded] = qs_jwt.load_jwks(json.dumps({"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256",
                                            "kid": "2011-04-29"}))
    assert qs_jwt.jwk_thumbprint(loaded.key) == RFC7638_THUMBPRINT
    key = rsa.RSAPublicNumbers(65537, int.from_bytes(b64url_decode(RFC7638_N), "big")).public_key()
    assert qs_jwt.jwk_thumbprint(key) == RFC7638_THUMBPRINT


def test_jwk_thumbprint_is_the_same_for_every_form_of_the_key() -> None:
    forms = [
        qs_jwt.load_public_key(key_bytes("rsa2048_public.pem")),
        qs_jwt.load_public_key(key_bytes("rsa2048_cert.pem")),
        qs_jwt.load_private_key(key_bytes("rsa2048_pkcs1.pem")).public_key(),
    ]
    prints = {qs_jwt.jwk_thumbprint(k) for k in forms}
    assert len(prints) == 1
    other = qs_jwt.load_public_key(key_bytes("other2048_public.pem"))
    assert qs_jwt.jwk_thumbprint(other) not in prints
    [value] = prints
    assert len(value) == 43


def test_public_jwk_round_trips_through_load_jwks(reference_numbers: tuple[int, int]) -> None:
    public = qs_jwt.load_public_key(key_bytes("rsa2048_public.pem"))
    jwk = qs_jwt.public_jwk(public)
    assert jwk["kty"] == "RSA"
    assert jwk["use"] == "sig"
    assert jwk["alg"] == "RS256"
    assert jwk["kid"] == qs_jwt.jwk_thumbprint(public)
    assert jwk["e"] == "AQAB"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)
    [loaded] = qs_jwt.load_jwks(json.dumps({"keys": [jwk]}))
    assert pub_numbers(loaded.key) == reference_numbers
    assert (loaded.kid, loaded.alg, loaded.use) == (jwk["kid"], "RS256", "sig")
    custom = qs_jwt.public_jwk(public, kid="mine", alg="RS512")
    assert (custom["kid"], custom["alg"]) == ("mine", "RS512")


def test_roca_detection() -> None:
    for name in ("rsa2048_public.pem", "other2048_public.pem", "rsa4096_public.pem"):
        n = serialization.load_pem_public_key(key_bytes(name)).public_numbers().n  # type: ignore[union-attr]
        assert keys.roca_vulnerable(n) is False
    assert keys.roca_vulnerable(65537) is True
    assert keys.roca_vulnerable(65537**200) is True


def test_pem_helpers_round_trip(private_key: Any, reference_numbers: tuple[int, int]) -> None:
    plain = qs_jwt.private_key_pem(private_key)
    assert plain.startswith(b"-----BEGIN PRIVATE KEY-----")
    encrypted = qs_jwt.private_key_pem(private_key, passphrase="pw")
    assert encrypted.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert pub_numbers(qs_jwt.load_private_key(encrypted, passphrase="pw")) == reference_numbers
    public = qs_jwt.public_key_pem(private_key.public_key())
    assert public.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert pub_numbers(qs_jwt.load_public_key(public)) == reference_numbers


@pytest.mark.parametrize("bits", [1024, 1000, 8192, 0, -2048])
def test_generate_rsa_key_refuses_odd_sizes(bits: int) -> None:
    with pytest.raises(InvalidValueError, match="2048"):
        qs_jwt.generate_rsa_key(bits)


def test_loaders_accept_paths() -> None:
    from pathlib import Path

    keys = Path(__file__).parent / "keys"
    assert qs_jwt.load_private_key(keys / "rsa2048_pkcs8.pem").key_size == 2048
    assert qs_jwt.load_public_key(keys / "rsa2048_cert.pem").key_size == 2048
    with pytest.raises(KeyLoadError, match=r"rsa2048_public\.pem: holds a public key"):
        qs_jwt.load_private_key(keys / "rsa2048_public.pem")
