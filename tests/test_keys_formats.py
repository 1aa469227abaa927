"""Key and certificate formats beyond one PEM block: PKCS#12, PEM bundles, OpenSSH, RSA-PSS, damaged
keys, passphrases for new keys, single JWKs with restrictions, and arguments of every type."""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, strategies as st

import qs_jwt
from conftest import FIXED_NOW, KEYS, PASSPHRASE, key_bytes
from qs_jwt import errors, keys
from qs_jwt.certs import create_self_signed_certificate, describe_key_material, validate_common_name, validate_days
from qs_jwt.errors import ArgumentTypeError, InvalidValueError, KeyLoadError, QsJwtError
from qs_jwt.keys import load_verification_keys
from qs_jwt.tokens import Signer
from test_keys import SOURCE, assert_clean_error, pub_numbers

PSS_REASON = "is an RSA-PSS key, restricted to PSS signatures; RS256 (PKCS#1 v1.5) needs a plain RSA key"


@pytest.fixture(scope="module")
def reference() -> tuple[int, int]:
    return pub_numbers(serialization.load_pem_public_key(key_bytes("rsa2048_public.pem")))


def refusal(call: Any, *args: Any, code: str, **kwargs: Any) -> KeyLoadError:
    """The KeyLoadError ``call`` raises, after checking its code."""
    with pytest.raises(KeyLoadError) as info:
        call(*args, **kwargs)
    assert info.value.code == code, str(info.value)
    return info.value


# --- PKCS#12 ---------------------------------------------------------------------------------

P12_WITH_PASSPHRASE = ["rsa2048.p12", "rsa2048_openssl.p12", "rsa2048_openssl_legacy.p12"]


@pytest.mark.parametrize("name", P12_WITH_PASSPHRASE)
@pytest.mark.parametrize("passphrase", [PASSPHRASE, PASSPHRASE.encode()])
def test_pkcs12_signing_and_verification(name: str, passphrase: Any, reference: tuple[int, int]) -> None:
    data = key_bytes(name)
    assert pub_numbers(qs_jwt.load_private_key(data, passphrase=passphrase)) == reference
    assert pub_numbers(qs_jwt.validate_private_key(data, passphrase=passphrase)) == reference
    assert pub_numbers(qs_jwt.load_public_key(data, passphrase=passphrase)) == reference


@pytest.mark.parametrize("passphrase", [None, "", b""])
def test_pkcs12_without_password(passphrase: Any, reference: tuple[int, int]) -> None:
    data = key_bytes("rsa2048_nopass.p12")
    assert pub_numbers(qs_jwt.load_private_key(data, passphrase=passphrase)) == reference
    assert pub_numbers(qs_jwt.load_public_key(data, passphrase=passphrase)) == reference
    assert describe_key_material(data, passphrase=passphrase).encrypted is False


def test_pkcs12_made_by_openssl_with_an_empty_password(tmp_path: Path, reference: tuple[int, int]) -> None:
    """``openssl pkcs12 -passout pass:`` writes a file with the empty password; cryptography opens it with
    None or with b"" depending on its version: both are tried."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    out = tmp_path / "empty.p12"
    subprocess.run(["openssl", "pkcs12", "-export", "-inkey", str(KEYS / "rsa2048_pkcs8.pem"), "-in",
                    str(KEYS / "rsa2048_cert.pem"), "-passout", "pass:", "-out", str(out)], check=True)
    for passphrase in (None, "", b""):
        assert pub_numbers(qs_jwt.load_private_key(out, passphrase=passphrase)) == reference


@pytest.mark.parametrize("name", P12_WITH_PASSPHRASE)
def test_pkcs12_passphrase_errors(name: str) -> None:
    data = key_bytes(name)
    for passphrase in (None, "", b""):
        exc = refusal(qs_jwt.load_private_key, data, passphrase=passphrase, source=SOURCE,
                      code=errors.KEY_PASSPHRASE_REQUIRED)
        assert exc.passphrase_required
        assert "PKCS#12" in exc.reason
        assert_clean_error(exc, data)
        refusal(qs_jwt.load_public_key, data, passphrase=passphrase, code=errors.KEY_PASSPHRASE_REQUIRED)
        refusal(describe_key_material, data, passphrase=passphrase, code=errors.KEY_PASSPHRASE_REQUIRED)
    exc = refusal(qs_jwt.load_private_key, data, passphrase="wrong horse", source=SOURCE,
                  code=errors.KEY_WRONG_PASSPHRASE)
    assert "wrong passphrase" in exc.reason
    assert_clean_error(exc, data)
    refusal(qs_jwt.load_public_key, data, passphrase="wrong horse", code=errors.KEY_WRONG_PASSPHRASE)


def test_pkcs12_without_password_refuses_a_passphrase_for_signing() -> None:
    refusal(qs_jwt.load_private_key, key_bytes("rsa2048_nopass.p12"), passphrase=PASSPHRASE,
            code=errors.KEY_UNNEEDED_PASSPHRASE)
    # verification and description take the passphrase as a way to open the file, not as a claim
    assert qs_jwt.load_public_key(key_bytes("rsa2048_nopass.p12"), passphrase=PASSPHRASE).key_size == 2048


def test_pkcs12_truncated_is_damaged() -> None:
    data = key_bytes("rsa2048.p12")[:-40]
    exc = refusal(qs_jwt.load_private_key, data, passphrase=PASSPHRASE, source=SOURCE, code=errors.KEY_DAMAGED)
    assert "PKCS#12" in exc.reason


def test_pkcs12_with_certificates_only(reference: tuple[int, int]) -> None:
    data = key_bytes("rsa2048_cert_only.p12")
    assert pub_numbers(qs_jwt.load_public_key(data)) == reference
    exc = refusal(qs_jwt.load_private_key, data, source=SOURCE, code=errors.KEY_WRONG_KIND)
    assert "without a private key" in exc.reason
    info = describe_key_material(data)
    assert (info.kind, info.container) == ("certificate", "PKCS#12")


def test_pkcs12_from_a_path_object(reference: tuple[int, int]) -> None:
    assert pub_numbers(qs_jwt.load_private_key(KEYS / "rsa2048.p12", passphrase=PASSPHRASE)) == reference
    exc = refusal(qs_jwt.load_private_key, KEYS / "rsa2048.p12", code=errors.KEY_PASSPHRASE_REQUIRED)
    assert exc.source == str(KEYS / "rsa2048.p12")


@pytest.mark.parametrize("name", ["rsa2048.p12", "rsa2048_openssl_legacy.p12"])
def test_pkcs12_described_as_its_key_and_certificate(name: str) -> None:
    info = describe_key_material(key_bytes(name), source=name, passphrase=PASSPHRASE)
    assert (info.kind, info.key_type, info.key_size, info.container) == ("private key", "RSA", 2048, "PKCS#12")
    assert info.encrypted is True
    assert info.certificate is not None
    data = info.to_dict()
    assert data["container"] == "PKCS#12"
    assert data["subject"] == "CN=qs-jwt-test"
    assert info.single_line_pem() == qs_jwt.single_line_pem(key_bytes("rsa2048_cert.pem"))
    assert info.sha256_fingerprint == describe_key_material(key_bytes("rsa2048_cert.pem")).sha256_fingerprint
    assert describe_key_material(key_bytes("rsa2048_cert.pem")).to_dict()["container"] is None


def test_pkcs12_passes_the_key_checks() -> None:
    data = key_bytes("rsa2048.p12")
    assert qs_jwt.check_key_material(data, passphrase=PASSPHRASE, now=FIXED_NOW).findings == []
    assert qs_jwt.check_key_material(key_bytes("rsa2048_nopass.p12"), now=FIXED_NOW).findings == []


def test_pkcs12_signs_tokens_its_certificate_verifies() -> None:
    data = key_bytes("rsa2048_openssl.p12")
    token = Signer(data, passphrase=PASSPHRASE).sign({"alg": "RS256", "typ": "JWT"}, {"sub": "s"})
    import jwt

    public = qs_jwt.load_public_key(key_bytes("rsa2048_cert.pem"))
    assert jwt.decode(token, public, algorithms=["RS256"]) == {"sub": "s"}


# --- PEM bundles -----------------------------------------------------------------------------


def test_bundle_with_the_certificate_first(reference: tuple[int, int]) -> None:
    """What ``openssl pkcs12 -nodes`` writes: bag attributes, the certificate, then the key."""
    data = key_bytes("bundle_cert_first.pem")
    assert data.startswith(b"Bag Attributes")
    assert pub_numbers(qs_jwt.load_private_key(data)) == reference
    assert pub_numbers(qs_jwt.validate_private_key(data)) == reference
    assert pub_numbers(qs_jwt.load_public_key(data)) == reference
    info = describe_key_material(data)
    assert (info.kind, info.container) == ("private key", None)
    assert info.certificate is not None and info.to_dict()["subject"] == "CN=qs-jwt-test"
    assert qs_jwt.check_key_material(data, now=FIXED_NOW).findings == []


def test_bundle_with_an_encrypted_key(reference: tuple[int, int]) -> None:
    data = key_bytes("rsa2048_cert.pem") + key_bytes("rsa2048_encrypted.pem")
    assert pub_numbers(qs_jwt.load_private_key(data, passphrase=PASSPHRASE)) == reference
    refusal(qs_jwt.load_private_key, data, code=errors.KEY_PASSPHRASE_REQUIRED)
    assert pub_numbers(qs_jwt.load_public_key(data)) == reference  # the certificate; the key stays encrypted
    assert pub_numbers(qs_jwt.load_public_key(data, passphrase=PASSPHRASE)) == reference
    refusal(qs_jwt.load_public_key, data, passphrase="wrong", code=errors.KEY_WRONG_PASSPHRASE)


def test_encrypted_private_key_for_verification(reference: tuple[int, int]) -> None:
    data = key_bytes("rsa2048_encrypted.pem")
    exc = refusal(qs_jwt.load_public_key, data, code=errors.KEY_WRONG_KIND)
    assert "passphrase" in exc.reason
    assert pub_numbers(qs_jwt.load_public_key(data, passphrase=PASSPHRASE)) == reference
    [key] = load_verification_keys(data, passphrase=PASSPHRASE)
    assert pub_numbers(key.key) == reference


@pytest.mark.parametrize(
    "parts",
    [
        ["rsa2048_pkcs8.pem", "rsa2048_pkcs1.pem"],  # the same key twice
        ["rsa2048_pkcs8.pem", "rsa2048_cert.pem", "rsa2048_public.pem"],
        ["rsa2048_cert.pem", "rsa2048_pkcs8.pem", "bundle_mismatch.pem"],  # a chain: one certificate is the key's
    ],
    ids=["same-key-twice", "key-certificate-public-key", "key-and-chain"],
)
def test_bundles_that_agree(parts: list[str], reference: tuple[int, int]) -> None:
    data = b"".join(key_bytes(part) for part in parts)
    assert pub_numbers(qs_jwt.load_private_key(data)) == reference
    assert pub_numbers(qs_jwt.load_public_key(data)) == reference


def test_openssl_trusted_certificate(reference: tuple[int, int]) -> None:
    """``openssl x509 -trustout`` writes the certificate followed by its trust settings."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    trusted = subprocess.run(["openssl", "x509", "-in", str(KEYS / "rsa2048_cert.pem"), "-trustout", "-addtrust",
                              "serverAuth"], check=True, capture_output=True).stdout
    assert trusted.startswith(b"-----BEGIN TRUSTED CERTIFICATE-----")
    assert pub_numbers(qs_jwt.load_public_key(trusted)) == reference


def test_bundle_skips_blocks_that_hold_no_key(reference: tuple[int, int]) -> None:
    data = b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n" + key_bytes("rsa2048_pkcs8.pem")
    assert pub_numbers(qs_jwt.load_private_key(data)) == reference


@pytest.mark.parametrize("call", [qs_jwt.load_private_key, qs_jwt.load_public_key, describe_key_material])
def test_bundle_with_two_private_keys(call: Any) -> None:
    data = key_bytes("bundle_two_keys.pem")
    exc = refusal(call, data, source=SOURCE, code=errors.KEY_MISMATCH)
    assert "2 different private keys" in exc.reason
    assert_clean_error(exc, data)


@pytest.mark.parametrize("call", [qs_jwt.load_private_key, qs_jwt.load_public_key, describe_key_material])
def test_bundle_whose_certificate_is_not_the_keys(call: Any) -> None:
    data = key_bytes("bundle_mismatch.pem")
    exc = refusal(call, data, source=SOURCE, code=errors.KEY_MISMATCH)
    assert exc.reason == "the certificate in the file is not the private key's"
    assert_clean_error(exc, data)


def test_bundles_of_different_public_keys() -> None:
    other = key_bytes("bundle_mismatch.pem").split(b"-----END PRIVATE KEY-----\n")[1]
    exc = refusal(qs_jwt.load_public_key, key_bytes("rsa2048_cert.pem") + other, code=errors.KEY_MISMATCH)
    assert "2 different keys" in exc.reason
    exc = refusal(qs_jwt.load_private_key, key_bytes("rsa2048_pkcs8.pem") + key_bytes("other2048_public.pem"),
                  code=errors.KEY_MISMATCH)
    assert exc.reason == "the public key in the file is not the private key's"


# --- OpenSSH keys ----------------------------------------------------------------------------


def test_openssh_rsa_key_is_accepted(reference: tuple[int, int]) -> None:
    data = key_bytes("openssh_rsa2048")
    assert pub_numbers(qs_jwt.load_private_key(data)) == reference
    assert pub_numbers(qs_jwt.load_public_key(data)) == reference
    assert describe_key_material(data).kind == "private key"
    refusal(qs_jwt.load_private_key, data, passphrase=PASSPHRASE, code=errors.KEY_UNNEEDED_PASSPHRASE)


def test_openssh_encrypted_rsa_key(reference: tuple[int, int]) -> None:
    data = key_bytes("openssh_rsa2048_encrypted")
    refusal(qs_jwt.load_private_key, data, code=errors.KEY_PASSPHRASE_REQUIRED)
    refusal(qs_jwt.load_public_key, data, code=errors.KEY_WRONG_KIND)  # encrypted, and no passphrase
    if importlib.util.find_spec("bcrypt") is not None:
        assert pub_numbers(qs_jwt.load_private_key(data, passphrase=PASSPHRASE)) == reference
        refusal(qs_jwt.load_private_key, data, passphrase="wrong", code=errors.KEY_WRONG_PASSPHRASE)
    else:
        exc = refusal(qs_jwt.load_private_key, data, passphrase=PASSPHRASE, code=errors.KEY_UNSUPPORTED)
        assert "bcrypt" in exc.reason and "ssh-keygen -p -m PKCS8 -f FILE" in exc.reason


@pytest.mark.parametrize(
    ("name", "kind"),
    [("openssh_ed25519", "Ed25519"), ("openssh_ed25519_encrypted", "Ed25519"), ("openssh_ecdsa_p256", "ECDSA")],
)
@pytest.mark.parametrize("call", [qs_jwt.load_private_key, qs_jwt.load_public_key])
def test_openssh_keys_of_other_types_are_named(name: str, kind: str, call: Any) -> None:
    """No conversion command: converted, the key would still not be RSA. The type is read without
    decrypting, so an encrypted key is named the same way."""
    data = key_bytes(name)
    exc = refusal(call, data, source=SOURCE, code=errors.KEY_WRONG_TYPE)
    assert exc.reason == (f"is an OpenSSH {kind} key, not an RSA key; Qlik JWTs need an RSA key "
                          "(create one with qs-jwt cert create)")
    assert "ssh-keygen" not in str(exc)
    assert_clean_error(exc, data)


def test_openssh_keys_of_other_types_are_described() -> None:
    assert describe_key_material(key_bytes("openssh_ed25519")).key_type == "Ed25519"
    assert describe_key_material(key_bytes("openssh_ed25519.pub")).kind == "public key"


def test_openssh_public_keys(reference: tuple[int, int]) -> None:
    assert pub_numbers(qs_jwt.load_public_key(key_bytes("openssh_rsa2048.pub"))) == reference
    assert pub_numbers(qs_jwt.load_public_key(key_bytes("openssh_rsa2048.pub").rstrip())) == reference
    exc = refusal(qs_jwt.load_public_key, key_bytes("openssh_ed25519.pub"), code=errors.KEY_WRONG_TYPE)
    assert exc.reason.startswith("is an OpenSSH Ed25519 public key, not an RSA key")
    for name in ("openssh_rsa2048.pub", "openssh_ed25519.pub"):
        exc = refusal(qs_jwt.load_private_key, key_bytes(name), code=errors.KEY_WRONG_KIND)
        assert exc.reason == "is an OpenSSH public key; signing needs the private key"
    refusal(qs_jwt.load_public_key, b"ssh-rsa AAAA not-a-key", code=errors.KEY_FORMAT)
    describe = describe_key_material(key_bytes("openssh_rsa2048.pub"))
    assert (describe.kind, describe.key_type) == ("public key", "RSA")


# --- RSA-PSS keys ----------------------------------------------------------------------------


def _der(pem: bytes) -> bytes:
    return base64.b64decode(b"".join(line for line in pem.splitlines() if not line.startswith(b"-----")))


@pytest.mark.parametrize(
    ("call", "data"),
    [
        (qs_jwt.load_private_key, key_bytes("rsa_pss2048_pkcs8.pem")),
        (qs_jwt.load_private_key, _der(key_bytes("rsa_pss2048_pkcs8.pem"))),
        (qs_jwt.load_public_key, key_bytes("rsa_pss2048_pkcs8.pem")),
        (qs_jwt.load_public_key, key_bytes("rsa_pss2048_public.pem")),
        (qs_jwt.load_public_key, _der(key_bytes("rsa_pss2048_public.pem"))),
        (qs_jwt.load_public_key, key_bytes("rsa_pss2048_cert.pem")),
        (qs_jwt.load_public_key, _der(key_bytes("rsa_pss2048_cert.pem"))),
        (qs_jwt.load_private_key, key_bytes("rsa_pss2048_cert.pem") + key_bytes("rsa_pss2048_pkcs8.pem")),
    ],
    ids=["private", "private-der", "private-for-verification", "public", "public-der", "certificate",
         "certificate-der", "bundle"],
)
def test_rsa_pss_keys_are_refused(call: Any, data: bytes) -> None:
    exc = refusal(call, data, source=SOURCE, code=errors.KEY_WRONG_TYPE)
    assert exc.reason == PSS_REASON
    assert_clean_error(exc, data)


def test_rsa_pss_key_in_pkcs12_is_found_by_its_certificate() -> None:
    """The key bag is encrypted and cryptography hands the key over as plain RSA: the certificate tells."""
    data = key_bytes("rsa_pss2048.p12")
    for call in (qs_jwt.load_private_key, qs_jwt.load_public_key):
        assert refusal(call, data, passphrase=PASSPHRASE, code=errors.KEY_WRONG_TYPE).reason == PSS_REASON
    assert describe_key_material(data, passphrase=PASSPHRASE).key_type == "RSA-PSS"


def test_rsa_pss_keys_are_described_and_fail_the_checks() -> None:
    for name in ("rsa_pss2048_pkcs8.pem", "rsa_pss2048_public.pem", "rsa_pss2048_cert.pem"):
        info = describe_key_material(key_bytes(name))
        assert (info.key_type, info.key_size, info.public_key, info.thumbprint) == ("RSA-PSS", 2048, None, None)
    rules = {f.rule for f in qs_jwt.check_key_material(key_bytes("rsa_pss2048_pkcs8.pem"), now=FIXED_NOW).findings}
    assert "key-type" in rules


# --- damaged keys ----------------------------------------------------------------------------


def der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def der_integer(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)
    return b"\x02" + der_length(len(body)) + body


def pkcs1_der(n: int, e: int, d: int, p: int, q: int, dp: int, dq: int, qi: int) -> bytes:
    """An RSAPrivateKey (RFC 8017 A.1.2) with whatever numbers, consistent or not."""
    body = b"".join(der_integer(v) for v in (0, n, e, d, p, q, dp, dq, qi))
    return b"\x30" + der_length(len(body)) + body


def _damaged_keys() -> dict[str, tuple[bytes, str]]:
    numbers = serialization.load_pem_private_key(key_bytes("rsa2048_pkcs8.pem"), password=None).private_numbers()
    n, e = numbers.public_numbers.n, numbers.public_numbers.e
    p, q, d, dp, dq, qi = numbers.p, numbers.q, numbers.d, numbers.dmp1, numbers.dmq1, numbers.iqmp
    cases = {
        "even-modulus": ((n + 1, e, d, p, q, dp, dq, qi), errors.KEY_DAMAGED),
        "p-zero": ((n, e, d, 0, q, dp, dq, qi), errors.KEY_DAMAGED),
        "q-zero": ((n, e, d, p, 0, dp, dq, qi), errors.KEY_DAMAGED),
        "p-one": ((n, e, d, 1, n, dp, dq, qi), errors.KEY_DAMAGED),
        "p-two": ((2 * q, e, d, 2, q, dp, dq, qi), errors.KEY_WEAK),  # n is 1025 bits: refused as too small first
        "all-ones": ((n, e, 1, 1, 1, 1, 1, 1), errors.KEY_DAMAGED),
        "d-zero": ((n, e, 0, p, q, dp, dq, qi), errors.KEY_DAMAGED),
        "d-wrong": ((n, e, d + 2, p, q, dp, dq, qi), errors.KEY_DAMAGED),
        "dq-wrong": ((n, e, d, p, q, dp, dq + 2, qi), errors.KEY_DAMAGED),
        "qi-zero": ((n, e, d, p, q, dp, dq, 0), errors.KEY_DAMAGED),
        "p-q-swapped": ((n, e, d, q, p, dq, dp, qi), errors.KEY_DAMAGED),  # qi is then q's inverse mod p no more
        "exponent-changed": ((n, 65539, d, p, q, dp, dq, qi), errors.KEY_DAMAGED),
        "exponent-even": ((n, 65536, d, p, q, dp, dq, qi), errors.KEY_WEAK),
    }
    return {name: (pkcs1_der(*values), code) for name, (values, code) in cases.items()}


DAMAGED = _damaged_keys()


def _pem(der: bytes, label: str = "RSA PRIVATE KEY") -> bytes:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_damaged_keys_fail_cleanly(name: str) -> None:
    der, code = DAMAGED[name]
    for data in (der, _pem(der)):
        for call in (qs_jwt.load_private_key, qs_jwt.validate_private_key):
            exc = refusal(call, data, source=SOURCE, code=code)
            assert_clean_error(exc, data)
            if code == errors.KEY_DAMAGED:
                assert exc.reason == "is damaged: its RSA numbers are inconsistent"
        # the signer loads through load_private_key: the same error, never a ValueError from signing
        refusal(Signer, data, code=code)


@pytest.mark.parametrize("name", ["even-modulus", "p-zero", "all-ones"])
def test_damaged_keys_are_described_and_fail_the_checks(name: str) -> None:
    der, _ = DAMAGED[name]
    assert describe_key_material(der).kind == "private key"
    findings = qs_jwt.check_key_material(der, now=FIXED_NOW).findings
    assert [f.rule for f in findings] == ["consistency"]


# --- passphrases for new keys ----------------------------------------------------------------


def test_the_backend_limit_for_new_passphrases_is_what_the_library_checks(private_key: Any) -> None:
    """The limit is the backend's (OpenSSL's, through cryptography): checked here so that a change shows."""
    for length, accepted in ((keys.MAX_NEW_PASSPHRASE_BYTES, True), (keys.MAX_NEW_PASSPHRASE_BYTES + 1, False)):
        encryption = serialization.BestAvailableEncryption(b"x" * length)
        if accepted:
            private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        else:
            with pytest.raises(ValueError, match="1023"):
                private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


@pytest.mark.parametrize("passphrase", ["x" * 1024, "é" * 512, b"x" * 5000])
def test_private_key_pem_refuses_too_long_passphrases(private_key: Any, passphrase: Any) -> None:
    with pytest.raises(InvalidValueError) as info:
        qs_jwt.private_key_pem(private_key, passphrase=passphrase)
    assert info.value.param == "passphrase"
    assert "1023 bytes" in info.value.reason and "passphrase" not in info.value.reason
    assert "xxxx" not in str(info.value) and "éé" not in str(info.value)


def test_private_key_pem_takes_the_longest_passphrase(private_key: Any, reference: tuple[int, int]) -> None:
    secret = "é" * 511 + "x"  # 1023 bytes
    pem = qs_jwt.private_key_pem(private_key, passphrase=secret)
    assert pub_numbers(qs_jwt.load_private_key(pem, passphrase=secret)) == reference
    assert qs_jwt.private_key_pem(private_key, passphrase="").startswith(b"-----BEGIN PRIVATE KEY-----")


def test_loading_with_a_huge_passphrase_is_a_wrong_passphrase() -> None:
    refusal(qs_jwt.load_private_key, key_bytes("rsa2048_encrypted.pem"), passphrase="x" * 100_000,
            code=errors.KEY_WRONG_PASSPHRASE)
    refusal(qs_jwt.load_private_key, key_bytes("rsa2048.p12"), passphrase="x" * 100_000,
            code=errors.KEY_WRONG_PASSPHRASE)


# --- load_verification_keys ------------------------------------------------------------------


@pytest.fixture(scope="module")
def jwk() -> dict[str, Any]:
    public = serialization.load_pem_public_key(key_bytes("rsa2048_public.pem"))
    return dict(qs_jwt.public_jwk(public, kid="k1"), key_ops=["verify"])  # type: ignore[arg-type]


def test_a_single_jwk_keeps_its_restrictions(jwk: dict[str, Any], reference: tuple[int, int]) -> None:
    [key] = load_verification_keys(json.dumps(jwk), source="key.json")
    assert (key.kid, key.alg, key.use, key.key_ops) == ("k1", "RS256", "sig", ("verify",))
    assert pub_numbers(key.key) == reference
    [bare] = load_verification_keys(json.dumps({"kty": "RSA", "n": jwk["n"], "e": jwk["e"]}))
    assert (bare.kid, bare.alg, bare.use, bare.key_ops) == (None, None, None, None)
    assert pub_numbers(qs_jwt.load_public_key(json.dumps(jwk))) == reference


def test_a_jwks_gives_every_key(jwk: dict[str, Any]) -> None:
    other = qs_jwt.public_jwk(qs_jwt.load_public_key(key_bytes("other2048_public.pem")), kid="k2", alg="RS512")
    loaded = load_verification_keys(json.dumps({"keys": [jwk, other]}).encode())
    assert [(k.kid, k.alg) for k in loaded] == [("k1", "RS256"), ("k2", "RS512")]
    assert [k.kid for k in qs_jwt.load_jwks(json.dumps({"keys": [jwk, other]}))] == ["k1", "k2"]
    refusal(qs_jwt.load_public_key, json.dumps({"keys": [jwk, other]}), code=errors.KEY_WRONG_KIND)


@pytest.mark.parametrize("key_ops", [["verify", 7], [None]])
def test_key_ops_must_be_strings(jwk: dict[str, Any], key_ops: list[Any]) -> None:
    refusal(load_verification_keys, json.dumps(dict(jwk, key_ops=key_ops)), code=errors.KEY_FORMAT)


@pytest.mark.parametrize(
    "data",
    [key_bytes("rsa2048_cert.pem"), key_bytes("rsa2048_public.pem"), key_bytes("rsa2048_pkcs8.pem"),
     key_bytes("bundle_cert_first.pem"), key_bytes("openssh_rsa2048.pub"), KEYS / "rsa2048_cert.pem"],
    ids=["certificate", "public", "private", "bundle", "openssh", "path"],
)
def test_other_inputs_give_one_unrestricted_key(data: Any, reference: tuple[int, int]) -> None:
    [key] = load_verification_keys(data)
    assert (key.kid, key.alg, key.use, key.key_ops) == (None, None, None, None)
    assert pub_numbers(key.key) == reference
    [p12] = load_verification_keys(key_bytes("rsa2048.p12"), passphrase=PASSPHRASE)
    assert pub_numbers(p12.key) == reference


# --- leading white space (cryptography 42 read it as a wrong passphrase) --------------------


@pytest.mark.parametrize("prefix", [b"  \n", b"\n\n\t ", b"\r\n", b"\xef\xbb\xbf  \n"])
def test_leading_white_space(prefix: bytes, reference: tuple[int, int]) -> None:
    assert pub_numbers(qs_jwt.load_private_key(prefix + key_bytes("rsa2048_pkcs8.pem"))) == reference
    assert pub_numbers(qs_jwt.load_private_key(prefix + key_bytes("rsa2048_encrypted.pem"),
                                               passphrase=PASSPHRASE)) == reference
    assert pub_numbers(qs_jwt.load_public_key(prefix + key_bytes("rsa2048_cert.pem"))) == reference
    assert describe_key_material(prefix + key_bytes("rsa2048_public.pem")).kind == "public key"


# --- arguments of the wrong type, paths that cannot be files --------------------------------


def test_read_key_source_never_takes_a_number_for_a_file_descriptor() -> None:
    read, write = os.pipe()
    try:
        os.write(write, key_bytes("rsa2048_pkcs8.pem"))
        for value in (read, 0, True, 1.5, None, b"/etc/hostname", [read]):
            with pytest.raises(ArgumentTypeError) as info:
                qs_jwt.read_key_source(value)  # type: ignore[arg-type]
            assert isinstance(info.value, TypeError)
            assert info.value.param == "path"
        os.fstat(read)  # still open
        os.fstat(0)
        assert os.read(read, 5) == b"-----"  # nothing was read from it
    finally:
        os.close(read)
        os.close(write)


@pytest.mark.parametrize("path", ["key\x00.pem", "\ud800.pem", "a/\udfff/b"])
def test_read_key_source_refuses_impossible_file_names(path: str) -> None:
    exc = refusal(qs_jwt.read_key_source, path, code=errors.KEY_NOT_FOUND)
    assert "file name" in exc.reason


def test_read_key_source_with_an_escaped_byte_in_the_name(tmp_path: Path) -> None:
    """Undecodable bytes of a file name arrive as lone surrogates U+DC80-U+DCFF; they name real files."""
    name = os.fsdecode(os.fsencode(str(tmp_path)) + b"/key\xff.pem")
    refusal(qs_jwt.read_key_source, name, code=errors.KEY_NOT_FOUND)
    Path(name).write_bytes(key_bytes("rsa2048_pkcs8.pem"))
    assert qs_jwt.read_key_source(name) == key_bytes("rsa2048_pkcs8.pem")


@pytest.mark.parametrize("name", ["rsa2048_pkcs8.pem", "rsa2048_encrypted.pem", "rsa2048_cert.pem"])
def test_key_text_given_as_a_path_is_never_echoed(name: str) -> None:
    text = key_bytes(name).decode()
    for value in (text, text.replace("\n", ""), text.replace("\n", "\\n")):
        with pytest.raises(KeyLoadError) as info:
            qs_jwt.read_key_source(value)
        exc = info.value
        assert exc.code in (errors.KEY_NOT_FOUND, errors.KEY_UNREADABLE)  # not found, or a name too long
        assert exc.source is not None and exc.source.startswith("<the value, which looks like")
        assert_clean_error(exc, key_bytes(name), source=exc.source)
        assert "BEGIN" not in str(exc)


def test_key_text_given_as_a_source_is_never_echoed() -> None:
    pem = key_bytes("rsa2048_pkcs8.pem")
    exc = refusal(qs_jwt.load_private_key, b"garbage", source=pem.decode(), code=errors.KEY_FORMAT)
    assert "MII" not in str(exc) and "BEGIN" not in str(exc)


@pytest.mark.parametrize("call", [qs_jwt.load_private_key, qs_jwt.load_public_key, qs_jwt.load_jwks,
                                  load_verification_keys, describe_key_material])
@pytest.mark.parametrize("data", [None, 0, 1.5, ["x"], {"kty": "RSA"}, object()])
def test_loaders_refuse_wrong_types(call: Any, data: Any) -> None:
    with pytest.raises(ArgumentTypeError) as info:
        call(data)
    assert isinstance(info.value, TypeError)
    assert info.value.param == "data"


@pytest.mark.parametrize("call", [qs_jwt.load_private_key, qs_jwt.load_public_key, load_verification_keys,
                                  describe_key_material])
def test_loaders_refuse_wrong_passphrase_and_source_types(call: Any) -> None:
    with pytest.raises(ArgumentTypeError) as info:
        call(key_bytes("rsa2048_encrypted.pem"), passphrase=5)
    assert info.value.param == "passphrase"
    with pytest.raises(ArgumentTypeError) as info:
        call(key_bytes("rsa2048_pkcs8.pem"), source=5)
    assert info.value.param == "source"
    with pytest.raises(InvalidValueError) as info:
        call(key_bytes("rsa2048_encrypted.pem"), passphrase="\ud800")
    assert info.value.param == "passphrase"


def test_key_text_with_lone_surrogates_and_huge_inputs() -> None:
    refusal(qs_jwt.load_private_key, key_bytes("rsa2048_pkcs8.pem").decode() + "\ud800", code=errors.KEY_FORMAT)
    refusal(qs_jwt.load_private_key, b"A" * (keys.MAX_KEY_FILE_BYTES + 1), code=errors.KEY_UNREADABLE)
    # bytes-like objects are key bytes
    assert qs_jwt.load_private_key(bytearray(key_bytes("rsa2048_pkcs8.pem"))).key_size == 2048
    assert qs_jwt.load_private_key(memoryview(key_bytes("rsa2048_pkcs8.der"))).key_size == 2048


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (lambda: qs_jwt.jwk_thumbprint(None), "key"),  # type: ignore[arg-type]
        (lambda: qs_jwt.jwk_thumbprint(qs_jwt.load_private_key(key_bytes("rsa2048_pkcs8.pem"))), "key"),  # type: ignore[arg-type]
        (lambda: qs_jwt.public_jwk("key"), "key"),  # type: ignore[arg-type]
        (lambda: qs_jwt.public_jwk(qs_jwt.load_public_key(key_bytes("rsa2048_public.pem")), kid=1), "kid"),  # type: ignore[arg-type]
        (lambda: qs_jwt.public_jwk(qs_jwt.load_public_key(key_bytes("rsa2048_public.pem")), alg=None), "alg"),  # type: ignore[arg-type]
        (lambda: qs_jwt.public_key_pem(None), "key"),  # type: ignore[arg-type]
        (lambda: qs_jwt.private_key_pem(None), "key"),  # type: ignore[arg-type]
        (lambda: qs_jwt.generate_rsa_key(2048.0), "bits"),  # type: ignore[arg-type]
        (lambda: qs_jwt.generate_rsa_key(True), "bits"),
        (lambda: create_self_signed_certificate(None, days=1), "key"),  # type: ignore[arg-type]
        (lambda: validate_days(None), "days"),
        (lambda: validate_days(1.0), "days"),
        (lambda: validate_common_name(7), "common_name"),
        (lambda: qs_jwt.single_line_pem(None), "pem"),  # type: ignore[arg-type]
    ],
)
def test_wrong_types_raise_argument_type_error(call: Any, param: str) -> None:
    with pytest.raises(ArgumentTypeError) as info:
        call()
    assert isinstance(info.value, TypeError)
    assert info.value.param == param
    assert param not in info.value.reason
    assert str(info.value) == f"{param}: {info.value.reason}"


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (lambda: validate_days(0), "days"),
        (lambda: validate_days("36501"), "days"),
        (lambda: validate_days("1e3"), "days"),
        (lambda: validate_common_name(""), "common_name"),
        (lambda: validate_common_name("x" * 65), "common_name"),
        (lambda: validate_common_name("a\x7fb"), "common_name"),
        (lambda: qs_jwt.generate_rsa_key(1024), "bits"),
        (lambda: keys.passphrase_bytes("\udcff\ud800"), "passphrase"),
        (lambda: keys.new_key_passphrase("x" * 2000), "passphrase"),
        (lambda: qs_jwt.single_line_pem(b"\xff"), "pem"),
    ],
)
def test_value_errors_name_the_parameter_once(call: Any, param: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        call()
    assert info.value.param == param
    assert param not in info.value.reason.lower()
    assert str(info.value) == f"{param}: {info.value.reason}"


# --- anything at all: only the library's errors or TypeError come out ------------------------

ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=50), st.binary(max_size=200),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
#: random bytes, and random bytes that look like the start of the formats the loaders recognise
KEYISH = st.one_of(
    st.binary(max_size=600),
    st.builds(lambda label, body: b"-----BEGIN " + label + b"-----\n" + body + b"\n-----END " + label + b"-----\n",
              st.sampled_from([b"PRIVATE KEY", b"RSA PRIVATE KEY", b"ENCRYPTED PRIVATE KEY", b"PUBLIC KEY",
                               b"CERTIFICATE", b"OPENSSH PRIVATE KEY", b"EC PRIVATE KEY", b"X"]),
              st.binary(max_size=300).map(base64.b64encode)),
    st.builds(lambda head, tail: head + tail,
              st.sampled_from([b"\x30\x82\x01\x00\x02\x01\x03\x30", b"\x30\x80\x02", b"\x30\x0a\x30", b"ssh-rsa ",
                               b"ssh-ed25519 AAAA", b"{"]),
              st.binary(max_size=300)),
    st.builds(lambda data, cut: data[:cut], st.sampled_from(
        [key_bytes(name) for name in ("rsa2048.p12", "rsa2048_pkcs8.der", "openssh_rsa2048", "bundle_cert_first.pem",
                                      "rsa_pss2048_cert.pem")]), st.integers(0, 3000)),
)
PASSPHRASES = st.one_of(st.none(), st.text(max_size=20), st.binary(max_size=20), st.just(PASSPHRASE), ANY_VALUE)


def _only_library_errors(call: Any, *args: Any, **kwargs: Any) -> None:
    with contextlib.suppress(QsJwtError, TypeError):
        call(*args, **kwargs)


@given(data=st.one_of(KEYISH, ANY_VALUE), passphrase=PASSPHRASES, source=st.one_of(st.none(), st.text(max_size=20),
                                                                                  st.integers()))
def test_loaders_raise_only_library_errors(data: Any, passphrase: Any, source: Any) -> None:
    for call in (qs_jwt.load_private_key, qs_jwt.load_public_key, load_verification_keys, describe_key_material):
        _only_library_errors(call, data, passphrase=passphrase, source=source)
    _only_library_errors(qs_jwt.load_jwks, data, source=source)


@given(value=st.one_of(ANY_VALUE, st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("\x00\ud800/"),
                                         max_size=30)))
def test_read_key_source_raises_only_library_errors(value: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.getbasetemp()
    if isinstance(value, str):
        value = f"{folder}/{value}"  # never "-" (standard input) nor a file of the machine
    _only_library_errors(qs_jwt.read_key_source, value)


@given(key=ANY_VALUE, kid=ANY_VALUE, alg=ANY_VALUE)
def test_key_helpers_raise_only_library_errors(key: Any, kid: Any, alg: Any) -> None:
    _only_library_errors(qs_jwt.jwk_thumbprint, key)
    _only_library_errors(qs_jwt.public_jwk, key, kid=kid, alg=alg)
    public = qs_jwt.load_public_key(key_bytes("rsa2048_public.pem"))
    _only_library_errors(qs_jwt.public_jwk, public, kid=kid, alg=alg)


@given(days=st.one_of(ANY_VALUE, st.integers(-10, 40000).map(str)), common_name=st.one_of(ANY_VALUE, st.text()),
       now=st.one_of(st.none(), ANY_VALUE))
def test_certificate_helpers_raise_only_library_errors(days: Any, common_name: Any, now: Any, private_key: Any) -> None:
    _only_library_errors(validate_days, days)
    _only_library_errors(validate_common_name, common_name)
    _only_library_errors(create_self_signed_certificate, private_key, days=days, common_name=common_name, now=now)
    _only_library_errors(create_self_signed_certificate, days, days=1)
