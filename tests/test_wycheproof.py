"""Project Wycheproof vectors against the JWS layer, the JWK loader, and the RSA sign/verify primitives.

The vectors are pinned in ``../shared/vectors/wycheproof/`` (see SOURCE.md there); every test takes the
``wycheproof_dir`` fixture, which skips with a reason when that folder is absent.

What is covered, and how:

- ``json_web_signature_test.json``: every row verified with an RSA key (the RS256 groups, RS384/RS512,
  RFC 7520 RS256, the ``use: enc`` / ``key_ops: [encrypt]`` keys and the RS* ``WrongPrimitive`` rows of the
  PS512 group), the ``alg: none`` rows, and the base64 group. The payload of most rows is ``Zm9v`` ("foo"),
  not JSON, so the tests work at the JWS layer: :func:`qs_jwt._jws.parse_compact` for the structure and
  :func:`qs_jwt._jws.verify_bytes` for the signature, with PyJWT as a cross-check.
- ``json_web_key_test.json``: what :func:`qs_jwt.keys.load_jwks` accepts and refuses.
- ``rsa_signature_{2048,4096}_sha256_test.json``: :func:`qs_jwt._jws.verify_bytes` on raw messages.
- ``rsa_pkcs1_2048_sig_gen_test.json``: :func:`qs_jwt._jws.sign_bytes` reproduces the expected signatures.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from qs_jwt._jws import RSA_ALGORITHMS, parse_compact, sign_bytes, verify_bytes
from qs_jwt.errors import KeyLoadError, TokenFormatError
from qs_jwt.keys import load_jwks, load_private_key, load_public_key
from qs_jwt.tokens import decode_unverified

# The same folder as conftest's WYCHEPROOF (tests skip through the ``wycheproof_dir`` fixture when it is
# absent); it is needed here at import time to build the parameter lists, and each file is read once.
_ROOT = Path(__file__).resolve().parents[1]
_VECTOR_DIR = Path(os.environ.get("QS_JWT_SHARED_DIR", _ROOT.parent / "shared")) / "vectors" / "wycheproof"


def _load(name: str) -> dict[str, Any] | None:
    path = _VECTOR_DIR / name
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


JWS_FILE = _load("json_web_signature_test.json")
JWK_FILE = _load("json_web_key_test.json")
RSA2048_FILE = _load("rsa_signature_2048_sha256_test.json")
RSA4096_FILE = _load("rsa_signature_4096_sha256_test.json")
SIG_GEN_FILE = _load("rsa_pkcs1_2048_sig_gen_test.json")

Case = tuple[dict[str, Any], dict[str, Any]]  # (test group, test)


def _cases(data: dict[str, Any] | None) -> list[Case]:
    if data is None:
        return []
    return [(group, test) for group in data["testGroups"] for test in group["tests"]]


def _params(cases: list[Case], prefix: str = "") -> list[Any]:
    """One ``pytest.param`` per test, id ``tc<tcId>``; a placeholder (skipped by the fixture) without vectors."""
    if not cases:
        return [pytest.param(None, None, id="vectors-missing")]
    return [pytest.param(group, test, id=f"{prefix}tc{test['tcId']}") for group, test in cases]


def _lenient_header(token: str) -> dict[str, Any]:
    """The header of a token read as leniently as possible (only to select rows, never to decide)."""
    head = token.split(".")[0]
    try:
        value = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# --- json_web_signature_test.json --------------------------------------------------------------------


def _is_rsa_case(group: dict[str, Any], test: dict[str, Any]) -> bool:
    """A row verified with an RSA key: an RSA key meant for RS*, or an RS* header over any RSA key."""
    public = group.get("public")
    if not isinstance(public, dict) or public.get("kty") != "RSA":
        return False
    return public.get("alg") in (None, *RSA_ALGORITHMS) or _lenient_header(test["jws"]).get("alg") in RSA_ALGORITHMS


JWS_CASES = _cases(JWS_FILE)
JWS_RSA_CASES = [case for case in JWS_CASES if _is_rsa_case(*case)]
ALG_NONE_IDS = (16, 341, 342, 343, 344)
JWS_ALG_NONE_CASES = [case for case in JWS_CASES if case[1]["tcId"] in ALG_NONE_IDS]
JWS_BASE64_CASES = [case for case in JWS_CASES if case[0]["comment"] == "base64"]

ACCEPTED = "accepted"
#: why a row is rejected: the JWK set is refused, the token is malformed, its alg is not usable with the
#: key, or the signature does not verify
REJECTED_KEY, REJECTED_FORMAT, REJECTED_ALG, REJECTED_SIGNATURE = "key", "format", "alg", "signature"

#: the rejection a row must get, by Wycheproof flag: a modified signature must fail the RSA check itself
#: (not be caught earlier by accident); a key restricted to PS512 must not verify an RS* token
EXPECTED_REJECTION_BY_FLAG = {
    "ModifiedPadding": REJECTED_SIGNATURE,
    "ModifiedSignature": REJECTED_SIGNATURE,
    "WrongPrimitive": REJECTED_ALG,
}
#: the same, by comment, for the unflagged rows of the first RS256 group
EXPECTED_REJECTION_BY_COMMENT = {
    "rejectsModifiedSignature": REJECTED_SIGNATURE,
    "rejectsModifiedPayload": REJECTED_SIGNATURE,
    "rejectsModifiedHeader": REJECTED_SIGNATURE,
    "rejectWrongUse": REJECTED_KEY,
    "rejectWrongKeyOps": REJECTED_KEY,
}


def _select_jwk(keys: list[Any], header: dict[str, Any]) -> Any:
    kid = header.get("kid")
    matches = [k for k in keys if k.kid is not None and k.kid == kid]
    if matches:
        return matches[0]
    # a single key is used whatever the kid says: a modified kid must then fail the signature check
    return keys[0] if len(keys) == 1 else None


def _verify_rsa_jws(public_jwk: Any, token: str) -> tuple[str, Any, Any]:
    """Decide a row the way an RSA-only verifier built on qs_jwt does; returns (outcome, key, parsed jws)."""
    try:
        keys = load_jwks(json.dumps(public_jwk))
    except KeyLoadError:
        return REJECTED_KEY, None, None
    try:
        jws = parse_compact(token)
    except TokenFormatError:
        return REJECTED_FORMAT, None, None
    jwk = _select_jwk(keys, jws.header)
    if jwk is None:
        return REJECTED_KEY, None, jws
    alg = jws.algorithm
    if alg not in RSA_ALGORITHMS or (jwk.alg is not None and jwk.alg != alg):
        return REJECTED_ALG, jwk, jws
    if not verify_bytes(alg, jwk.key, jws.signing_input, jws.signature):
        return REJECTED_SIGNATURE, jwk, jws
    return ACCEPTED, jwk, jws


def test_jws_row_selection(wycheproof_dir: Path) -> None:
    """The RSA selection holds every row whose header alg is RS256, and the other lists are complete."""
    rs256 = {t["tcId"] for _, t in JWS_CASES if _lenient_header(t["jws"]).get("alg") == "RS256"}
    selected = {t["tcId"] for _, t in JWS_RSA_CASES}
    assert rs256 <= selected
    assert {33, 259, 345, 349, 353, 355, 332} <= selected
    assert {t["tcId"] for _, t in JWS_BASE64_CASES} == set(range(357, 378))
    assert {t["tcId"] for _, t in JWS_ALG_NONE_CASES} == set(ALG_NONE_IDS)
    assert all(t["result"] in ("valid", "invalid") for _, t in JWS_RSA_CASES)


@pytest.mark.parametrize(("group", "test"), _params(JWS_RSA_CASES))
def test_jws_rsa(wycheproof_dir: Path, group: dict[str, Any], test: dict[str, Any]) -> None:
    outcome, jwk, jws = _verify_rsa_jws(group["public"], test["jws"])
    if test["result"] == "valid":
        assert outcome == ACCEPTED, f"{test['comment']}: rejected ({outcome})"
        # cross-check with PyJWT
        decoded = jwt.PyJWS().decode_complete(test["jws"], key=jwk.key, algorithms=[jws.algorithm])
        assert decoded["payload"] == jws.payload
        return
    assert outcome != ACCEPTED, f"{test['comment']}: an invalid token was accepted"
    expected = [EXPECTED_REJECTION_BY_FLAG[f] for f in test["flags"] if f in EXPECTED_REJECTION_BY_FLAG]
    if test["comment"] in EXPECTED_REJECTION_BY_COMMENT:
        expected.append(EXPECTED_REJECTION_BY_COMMENT[test["comment"]])
    for reason in expected:
        assert outcome == reason, f"{test['comment']}: rejected for {outcome!r}, expected {reason!r}"
    if outcome == REJECTED_SIGNATURE:
        # PyJWT must agree that the signature is bad
        with pytest.raises(jwt.exceptions.InvalidSignatureError):
            jwt.PyJWS().decode_complete(test["jws"], key=jwk.key, algorithms=[jws.algorithm])
    if outcome == REJECTED_ALG and jws.algorithm in RSA_ALGORITHMS:
        # the binding of the key to its alg is what rejects it: the RSA signature itself is genuine
        assert verify_bytes(jws.algorithm, jwk.key, jws.signing_input, jws.signature)


@pytest.mark.parametrize(("group", "test"), _params(JWS_ALG_NONE_CASES))
def test_jws_alg_none(wycheproof_dir: Path, group: dict[str, Any], test: dict[str, Any]) -> None:
    assert test["result"] == "invalid"
    with pytest.raises(TokenFormatError, match="unsigned tokens are never accepted"):
        parse_compact(test["jws"])
    with pytest.raises(TokenFormatError):
        decode_unverified(test["jws"])


#: base64 rows where our strict parser deliberately disagrees with Wycheproof's result (tcId -> reason)
DIVERGENCES: dict[int, str] = {
    367: "vector defect: byte-identical to valid tc357 (the padding it is named after is missing); accepted",
    370: "vector defect: byte-identical to valid tc357 (the padding it is named after is missing); accepted",
    372: "Wycheproof tolerates a decoder that skips the '?' inserted in the header; strict base64url refuses it",
    373: "Wycheproof tolerates a decoder that skips the '?' inserted in the payload; strict base64url refuses it",
}


@pytest.mark.parametrize(("group", "test"), _params(JWS_BASE64_CASES))
def test_jws_base64(wycheproof_dir: Path, group: dict[str, Any], test: dict[str, Any]) -> None:
    """Structure only: these rows are HS256 (an oct key), whose MAC an RSA-only verifier never checks."""
    try:
        parse_compact(test["jws"])
    except TokenFormatError as exc:
        accepted, error = False, str(exc)
    else:
        accepted, error = True, ""
    wycheproof_accepts = test["result"] == "valid"
    if test["tcId"] in DIVERGENCES:
        assert accepted is not wycheproof_accepts, f"divergence changed: {DIVERGENCES[test['tcId']]}"
    else:
        assert accepted is wycheproof_accepts, f"{test['comment']}: accepted={accepted}"
    if not accepted:
        # every defect of this group is in the encoding: spaces, stray characters, padding, unused bits
        assert "base64url" in error


def test_jws_base64_divergences_are_real_rows(wycheproof_dir: Path) -> None:
    tests = {t["tcId"]: t for _, t in JWS_BASE64_CASES}
    assert set(DIVERGENCES) <= set(tests)
    # tc367 and tc370 are the valid tc357, byte for byte; the padded forms they meant are refused
    assert tests[367]["jws"] == tests[370]["jws"] == tests[357]["jws"]
    head, payload, mac = tests[357]["jws"].split(".")
    for padded in (f"{head}.{payload}==.{mac}", f"{head}.{payload}.{mac}=", f"{head}=.{payload}.{mac}"):
        with pytest.raises(TokenFormatError, match="base64url"):
            parse_compact(padded)


def test_jws_base64_tc375_defect_is_the_encoding(wycheproof_dir: Path) -> None:
    """tc375's MAC is right over the literal signing input; only the encoding ("AB": unused bits set) is
    wrong. The strict parser rejects it for that, as Wycheproof expects, so it is not a divergence."""
    group, test = next(case for case in JWS_BASE64_CASES if case[1]["tcId"] == 375)
    secret = base64.urlsafe_b64decode(group["private"]["k"] + "=" * (-len(group["private"]["k"]) % 4))
    head, payload, mac = test["jws"].split(".")
    expected = base64.urlsafe_b64encode(
        hmac.new(secret, f"{head}.{payload}".encode("ascii"), hashlib.sha256).digest()
    ).rstrip(b"=")
    assert expected.decode("ascii") == mac
    with pytest.raises(TokenFormatError, match="non-canonical"):
        parse_compact(test["jws"])


def test_jws_every_row_fails_cleanly(wycheproof_dir: Path) -> None:
    """Whatever the row (ES256, PS*, JSON serialisation...), the parser returns or raises TokenFormatError."""
    for _, test in JWS_CASES:
        with contextlib.suppress(TokenFormatError):
            parse_compact(test["jws"])


# --- json_web_key_test.json ------------------------------------------------------------------------

JWK_CASES = _cases(JWK_FILE)

#: the one valid RSA key set: it must load and verify its token
JWK_VALID = {5}
#: RSA key sets that must be refused, with the reason the message must give
JWK_REFUSED_RSA = {6: "use 'enc'", 7: "ROCA", 8: "1024 bits", 9: "exponent 1 "}
#: key sets holding symmetric (and so secret) material: never accepted for verification
JWK_REFUSED_SYMMETRIC = {1, 4, 25, 26}
#: EC keys (and an EC key mislabelled kty RSA): not RSA verification keys
JWK_REFUSED_NOT_RSA = {19: "kty 'EC'", 20: "kty 'EC'", 21: "kty 'EC'", 22: "kty 'EC'", 23: "kty 'EC'",
                       24: "lacks the RSA members"}
#: HMAC rows (key length, empty key, key sets of HS keys): out of scope for an RSA-only verifier; their
#: key sets hold ``k``, so the loader refuses them whatever Wycheproof's result for the MAC is
OUT_OF_SCOPE = {2, 3, 10, 11, 12, 13, 14, 15, 16, 17, 18}


def _keyset(group: dict[str, Any]) -> Any:
    return group.get("public") or group["private"]


def test_jwk_rows_are_all_classified(wycheproof_dir: Path) -> None:
    classified = [JWK_VALID, set(JWK_REFUSED_RSA), JWK_REFUSED_SYMMETRIC, set(JWK_REFUSED_NOT_RSA), OUT_OF_SCOPE]
    assert sum(len(s) for s in classified) == len(set().union(*classified))
    assert set().union(*classified) == {t["tcId"] for _, t in JWK_CASES}
    assert all(t["result"] == "valid" for _, t in JWK_CASES if t["tcId"] in JWK_VALID)


@pytest.mark.parametrize(("group", "test"), _params(JWK_CASES))
def test_jwk(wycheproof_dir: Path, group: dict[str, Any], test: dict[str, Any]) -> None:
    tc = test["tcId"]
    keyset = json.dumps(_keyset(group))
    if tc in JWK_VALID:
        outcome, jwk, jws = _verify_rsa_jws(_keyset(group), test["jws"])
        assert outcome == ACCEPTED
        decoded = jwt.PyJWS().decode_complete(test["jws"], key=jwk.key, algorithms=[jws.algorithm])
        assert decoded["payload"] == jws.payload
    elif tc in JWK_REFUSED_RSA:
        assert test["result"] == "invalid"
        with pytest.raises(KeyLoadError, match=JWK_REFUSED_RSA[tc]):
            load_jwks(keyset)
    elif tc in JWK_REFUSED_NOT_RSA:
        assert test["result"] == "invalid"
        with pytest.raises(KeyLoadError, match=JWK_REFUSED_NOT_RSA[tc]):
            load_jwks(keyset)
    else:
        assert tc in JWK_REFUSED_SYMMETRIC | OUT_OF_SCOPE
        assert tc in OUT_OF_SCOPE or test["result"] == "invalid"
        with pytest.raises(KeyLoadError, match="private or symmetric key material"):
            load_jwks(keyset)
    # the private half of any row is never a verification key set
    with pytest.raises(KeyLoadError, match="private or symmetric key material"):
        load_jwks(json.dumps(group["private"]))


def test_jwk_duplicate_kid_refused_for_rsa_keys(wycheproof_dir: Path) -> None:
    """tc4 (duplicate kid) is refused for its symmetric keys first; the kid rule also holds for RSA keys."""
    group = next(g for g, t in JWK_CASES if t["tcId"] == 5)
    key = group["public"]["keys"][0]
    assert len(load_jwks(json.dumps({"keys": [key]}))) == 1
    with pytest.raises(KeyLoadError, match="more than once"):
        load_jwks(json.dumps({"keys": [key, dict(key)]}))


# --- rsa_signature_{2048,4096}_sha256_test.json ------------------------------------------------------


@functools.cache
def _public_key_from_pem(pem: str) -> rsa.RSAPublicKey:
    """Loaded with cryptography directly: these primitive tests are not about our key policy."""
    key = serialization.load_pem_public_key(pem.encode("ascii"))
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def _check_rsa_verify_row(group: dict[str, Any], test: dict[str, Any]) -> None:
    assert group["sha"] == "SHA-256"
    key = _public_key_from_pem(group["publicKeyPem"])
    numbers = key.public_numbers()
    assert numbers.n == int(group["publicKey"]["modulus"], 16)
    assert numbers.e == int(group["publicKey"]["publicExponent"], 16)
    verified = verify_bytes("RS256", key, bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"]))
    # "acceptable" rows (MissingNull: a DigestInfo without the NULL parameters, a legacy encoding) are
    # rejected: only the exact DER encoding of RFC 8017 is a valid RS256 signature here
    assert verified is (test["result"] == "valid"), f"{test['comment']} {test['flags']}: verified={verified}"


@pytest.mark.parametrize(("group", "test"), _params(_cases(RSA2048_FILE)))
def test_rsa_signature_2048(wycheproof_dir: Path, group: dict[str, Any], test: dict[str, Any]) -> None:
    _check_rsa_verify_row(group, test)


@pytest.mark.parametrize(("group", "test"), _params(_cases(RSA4096_FILE)))
def test_rsa_signature_4096(wycheproof_dir: Path, group: dict[str, Any], test: dict[str, Any]) -> None:
    _check_rsa_verify_row(group, test)


def test_rsa_signature_keys_pass_our_loader(wycheproof_dir: Path) -> None:
    """The keys of the verification files are 2048/4096 bits, e=65537 or e=3, not ROCA: load_public_key takes them."""
    for data in (RSA2048_FILE, RSA4096_FILE):
        assert data is not None
        for group in data["testGroups"]:
            key = load_public_key(group["publicKeyPem"])
            assert key.public_numbers() == _public_key_from_pem(group["publicKeyPem"]).public_numbers()


# --- rsa_pkcs1_2048_sig_gen_test.json ----------------------------------------------------------------

#: the hash of each group -> our algorithm name; SHA-1 and SHA-224 groups have no JWS algorithm
SIG_GEN_ALGORITHMS = {"SHA-256": "RS256", "SHA-384": "RS384", "SHA-512": "RS512"}
SIG_GEN_CASES = [case for case in _cases(SIG_GEN_FILE) if case[0]["sha"] in SIG_GEN_ALGORITHMS]


def test_sig_gen_file_structure(wycheproof_dir: Path) -> None:
    assert SIG_GEN_FILE is not None
    shas = {group["sha"] for group in SIG_GEN_FILE["testGroups"]}
    assert shas == {"SHA-1", "SHA-224", "SHA-256", "SHA-384", "SHA-512"}
    assert all(group["type"] == "RsassaPkcs1Generate" for group in SIG_GEN_FILE["testGroups"])
    sha256 = [t for g, t in SIG_GEN_CASES if g["sha"] == "SHA-256"]
    assert len(sha256) == 10  # tc81-88 (valid), tc154 and tc158 (acceptable: e=3)
    assert {t["result"] for _, t in _cases(SIG_GEN_FILE)} <= {"valid", "acceptable"}  # no "invalid" rows


@functools.cache
def _private_key_from_pem(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@pytest.mark.parametrize(("group", "test"), _params(SIG_GEN_CASES))
def test_sig_gen(wycheproof_dir: Path, group: dict[str, Any], test: dict[str, Any]) -> None:
    """PKCS#1 v1.5 signing is deterministic: our signer must give Wycheproof's signature byte for byte.

    "acceptable" rows are keys with e=3 (SmallPublicKey): a weak parameter, but the signature is still
    exactly determined, so they are held to the same standard.
    """
    alg = SIG_GEN_ALGORITHMS[group["sha"]]
    key = _private_key_from_pem(group["privateKeyPem"])
    msg, sig = bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"])
    produced = sign_bytes(alg, key, msg)
    if test["result"] == "invalid":  # none in the pinned file; kept for a future version of it
        assert produced != sig
        return
    assert produced == sig
    assert verify_bytes(alg, key.public_key(), msg, sig)
    # our own loader reads the same key (PKCS#1 PEM) and signs the same way
    ours = load_private_key(group["privateKeyPem"])
    assert sign_bytes(alg, ours, msg) == sig
