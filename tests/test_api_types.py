"""Every public function and class raises only the library's errors, or TypeError, whatever it is given.

Each is called with a valid argument list in which one argument at a time is replaced by a wrong type or an
extreme value; then hypothesis drives the functions that read untrusted text and bytes.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

import qs_jwt
from conftest import FIXED_NOW, key_bytes, key_path
from qs_jwt import redact

PEM = key_bytes("rsa2048_pkcs8.pem")
PUBLIC_PEM = key_bytes("rsa2048_public.pem")
KEY = qs_jwt.load_private_key(PEM)
PUBLIC = KEY.public_key()
TOKEN = qs_jwt.create_qscloud_token(PEM, issuer="i", keyid="k", sub="s", now=FIXED_NOW).token
JWKS = b'{"keys": [' + qs_jwt.public_jwk(PUBLIC, kid="k").__repr__().replace("'", '"').encode() + b"]}"

WEIRD: list[Any] = [
    None, True, 0, -1, 10**400, -(10**400), float("nan"), float("inf"), 3.5, "", " ", "\x00", "\udcff",
    "x" * 70000, "-", b"", b"\xff\xfe" * 8, bytearray(b"\x00"), [], {}, ["a", 1], ("a",), object(),
    Path("/nonexistent/\u00e9"), {"a": float("nan")}, "eyJ" * 1000, 253402300799, 253402300700.5,
]


def _cases(tmp: Path) -> dict[str, tuple[tuple[Any, ...], dict[str, Any]]]:
    """A valid call of every public callable that validates its input."""
    cloud = qs_jwt.QsCloudSettings(issuer="i", keyid="k")
    qseow = qs_jwt.QseowSettings(audience="a", expires="1h")
    return {
        "create_qscloud_token": ((PEM,), {"issuer": "i", "keyid": "k", "sub": "s", "now": FIXED_NOW}),
        "create_qseow_token": ((PEM,), {"user_id": "u", "user_directory": "d", "audience": "a", "expires": "1h"}),
        "qscloud_token_parts": ((cloud, qs_jwt.QsCloudUser(sub="s")), {"now": FIXED_NOW}),
        "qseow_token_parts": ((qseow, qs_jwt.QseowUser(user_id="u", user_directory="d")), {"now": FIXED_NOW}),
        "QsCloudTokenFactory": ((PEM,), {"issuer": "i", "keyid": "k"}),
        "QseowTokenFactory": ((PEM,), {"audience": "a", "expires": "1h"}),
        "QsCloudSettings": ((), {"issuer": "i", "keyid": "k", "expires": "5m", "algorithm": "RS256",
                                 "allow_long_lifetime": False, "extra_claims": {"x": 1}}),
        "QsCloudUser": ((), {"sub": "s", "name": "n", "email": "e", "email_verified": True, "groups": ["g"],
                             "extra_claims": {"x": 1}}),
        "QseowSettings": ((), {"audience": "a", "expires": "1h", "algorithm": "RS256", "userid_claim": "u",
                               "userdir_claim": "d", "groups_claim": "g", "extra_claims": {"x": 1}}),
        "QseowUser": ((), {"user_id": "u", "user_directory": "d", "name": "n", "email": "e", "groups": ["g"],
                           "extra_claims": {"x": 1}}),
        "Claims": (({"x": 1},), {}),
        "Signer": ((PEM,), {"passphrase": None}),
        "decode_unverified": ((TOKEN,), {}),
        "normalize_token_text": ((TOKEN,), {}),
        "inspect_token": ((TOKEN,), {"key": PUBLIC_PEM, "algorithms": "RS256", "audience": "a", "issuer": "i",
                                     "leeway": 0, "now": FIXED_NOW}),
        "verify": ((TOKEN, PUBLIC_PEM), {"algorithms": "RS256", "audience": "a", "issuer": "i", "leeway": 0,
                                         "now": FIXED_NOW}),
        "check_qscloud": ((TOKEN,), {"issuer": "i", "keyid": "k", "key": PUBLIC_PEM, "leeway": 0, "now": FIXED_NOW}),
        "check_qseow": ((TOKEN,), {"audience": "a", "userid_claim": "u", "userdir_claim": "d", "key": PUBLIC_PEM,
                                   "leeway": 0, "now": FIXED_NOW}),
        "check_key_material": ((PEM,), {"source": "s", "passphrase": None, "path": key_path("rsa2048_pkcs8.pem"),
                                        "now": FIXED_NOW}),
        "load_private_key": ((PEM,), {"passphrase": None, "source": "s"}),
        "validate_private_key": ((PEM,), {"passphrase": None, "source": "s"}),
        "load_public_key": ((PUBLIC_PEM,), {"source": "s", "passphrase": None}),
        "load_verification_keys": ((PUBLIC_PEM,), {"source": "s", "passphrase": None}),
        "load_jwks": ((JWKS,), {"source": "s"}),
        "read_key_source": ((key_path("rsa2048_pkcs8.pem"),), {"what": "key"}),
        "private_key_file_problem": ((key_path("rsa2048_pkcs8.pem"),), {}),
        "generate_rsa_key": ((2048,), {}),
        "private_key_pem": ((KEY,), {"passphrase": None}),
        "public_key_pem": ((PUBLIC,), {}),
        "public_jwk": ((PUBLIC,), {"kid": "k", "alg": "RS256"}),
        "jwk_thumbprint": ((PUBLIC,), {}),
        "create_key_files": ((str(tmp) + "/",), {"days": 1, "key_size": 2048, "common_name": "cn",
                                                 "passphrase": None, "force": True, "now": FIXED_NOW}),
        "create_self_signed_certificate": ((KEY,), {"days": 1, "common_name": "cn", "now": FIXED_NOW}),
        "describe_key_material": ((PEM,), {"source": "s", "passphrase": None}),
        "single_line_pem": ((PUBLIC_PEM,), {}),
        "parse_duration": (("5m",), {}),
        "QlikCloudClient": (("tenant.example.com",), {"api_key": "k", "web_integration_id": "w"}),
        "create_client_assertion": ((PEM,), {"tenant": "t.example.com", "client_id": "c", "keyid": "k",
                                             "algorithm": "RS256", "expires": "5m", "now": FIXED_NOW}),
        "check_oauth_assertion": ((TOKEN,), {"tenant": "t.example.com", "client_id": "c", "keyid": "k",
                                             "key": PUBLIC_PEM, "leeway": 0, "now": FIXED_NOW}),
        "OAuthCredentials": (("t.example.com", "client-1"), {"client_secret": "a-long-client-secret",
                                                             "scopes": ["user_default"]}),
    }


#: public names that are plain data holders or constants, not entry points that validate input
NOT_ENTRY_POINTS = {
    "__version__", "Token", "DecodedToken", "Verification", "CheckReport", "Finding", "JsonWebKey", "KeyFiles",
    "KeyInfo", "QSCLOUD_AUDIENCE", "QSCLOUD_MAX_LIFETIME", "RSA_ALGORITHMS",
    "QseowClient",  # talks HTTP: driven end to end against the emulator (test_cli_qseow.py, test_qseow.py)
    "QlikCloudSession",  # a data holder; its reader is driven by test_qscloud.py
    "AccessToken",  # a data holder
}


def test_every_public_entry_point_is_covered(tmp_path: Path) -> None:
    errors = {name for name in qs_jwt.__all__
              if inspect.isclass(getattr(qs_jwt, name)) and issubclass(getattr(qs_jwt, name), Exception)}
    assert set(qs_jwt.__all__) - NOT_ENTRY_POINTS - errors == set(_cases(tmp_path))


def _calls(tmp: Path) -> list[tuple[str, int | str, Any]]:
    calls = []
    for name, (args, kwargs) in _cases(tmp).items():
        for position in range(len(args)):
            calls += [(name, position, value) for value in WEIRD]
        for keyword in kwargs:
            calls += [(name, keyword, value) for value in WEIRD]
    return calls


def _allowed(exc: BaseException) -> bool:
    return isinstance(exc, qs_jwt.QsJwtError | TypeError)


@pytest.mark.parametrize("name", sorted(_cases(Path("."))))
def test_wrong_types_and_extreme_values_raise_only_library_errors(name: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a weird prefix such as "" or "-" writes key files where the test runs
    args, kwargs = _cases(tmp_path)[name]
    function = getattr(qs_jwt, name)
    slots: list[int | str] = [*range(len(args)), *kwargs]
    for slot in slots:
        for value in WEIRD:
            if name == "generate_rsa_key" and value is True:
                continue  # True == 1 is not a key size, but an int: still refused; keep the loop fast
            call_args = list(args)
            call_kwargs = dict(kwargs)
            if isinstance(slot, int):
                call_args[slot] = value
            else:
                call_kwargs[slot] = value
            try:
                function(*call_args, **call_kwargs)
            except BaseException as exc:
                assert _allowed(exc), f"{name}({slot}={value!r:.40}) raised {type(exc).__name__}: {exc!s:.200}"


def test_read_key_source_never_takes_a_number_for_a_file_descriptor() -> None:
    import os

    with pytest.raises(TypeError):
        qs_jwt.read_key_source(0)  # type: ignore[arg-type]
    os.fstat(0)  # standard input is still open


# --- hypothesis: untrusted text and bytes ----------------------------------------------------------------


@settings(max_examples=300)
@given(st.text(max_size=300) | st.from_regex(r"eyJ[A-Za-z0-9_\-.]{0,200}", fullmatch=True))
def test_token_readers_on_any_text(text: str) -> None:
    for function in (qs_jwt.decode_unverified, qs_jwt.normalize_token_text,
                     lambda t: qs_jwt.inspect_token(t, key=PUBLIC_PEM, now=FIXED_NOW),
                     lambda t: qs_jwt.check_qscloud(t, now=FIXED_NOW), lambda t: qs_jwt.check_qseow(t, now=FIXED_NOW)):
        try:
            function(text)
        except BaseException as exc:
            assert _allowed(exc), f"{type(exc).__name__}: {exc}"


@settings(max_examples=300)
@given(st.binary(max_size=600) | st.text(max_size=300).map(lambda t: ("-----BEGIN PRIVATE KEY-----\n" + t).encode(
    "utf-8", "surrogateescape")))
def test_key_readers_on_any_bytes(data: bytes) -> None:
    for function in (qs_jwt.load_private_key, qs_jwt.load_public_key, qs_jwt.load_verification_keys,
                     qs_jwt.load_jwks, qs_jwt.describe_key_material):
        try:
            function(data)
        except BaseException as exc:
            assert _allowed(exc), f"{function.__name__}: {type(exc).__name__}: {exc}"


@settings(max_examples=300)
@given(st.text(max_size=400))
def test_value_parsers_and_redaction_on_any_text(text: str) -> None:
    for function in (qs_jwt.parse_duration, lambda t: qs_jwt.QsCloudUser(sub=t), lambda t: qs_jwt.Claims({t: t}),
                     lambda t: qs_jwt.QseowSettings(audience=t, expires=t)):
        try:
            function(text)
        except BaseException as exc:
            assert _allowed(exc), f"{type(exc).__name__}: {exc}"
    assert isinstance(redact.redact(text), str)
    assert redact.looks_secret(text) in (True, False)
