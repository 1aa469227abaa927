"""Property tests (hypothesis), part of the normal suite and kept fast.

(a) Robustness: whatever text reaches the token readers (``decode_unverified``, ``inspect_token``,
    ``check_qscloud``, ``check_qseow``), they return or raise a :class:`qs_jwt.QsJwtError`, nothing else.
    The inputs are mostly near-valid tokens: three base64url parts of hand-built JSON text with duplicate
    names, deep nesting, huge numbers, ``NaN``/``Infinity``/``1e309``, ``\\ud800`` escapes, odd ``alg``,
    ``crit``, ``b64``; some correctly signed, some mutated (padding, spaces, extra parts, ``Bearer``).
(b) Round trip: tokens minted with arbitrary Unicode ``sub``/``name``/groups decode to exactly the same
    claims with our reader and with PyJWT.
(c) base64url: decode(encode(x)) == x, and whatever the strict decoder accepts re-encodes to itself.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from hypothesis import HealthCheck, example, given, settings, strategies as st

import qs_jwt
from qs_jwt._jws import RSA_ALGORITHMS, b64url_decode, b64url_encode, dumps_compact, parse_compact, sign_bytes
from qs_jwt.claims import QSCLOUD_AUDIENCE
from qs_jwt.errors import TokenFormatError
from qs_jwt.keys import load_jwks, public_jwk

# Loaded once per module: hypothesis re-runs a test body many times and function-scoped fixtures
# would not be reset between examples anyway.
_KEYS = Path(__file__).parent / "keys"
_PRIVATE = load_pem_private_key((_KEYS / "rsa2048_pkcs8.pem").read_bytes(), password=None)
assert isinstance(_PRIVATE, rsa.RSAPrivateKey)
PRIVATE_KEY: rsa.RSAPrivateKey = _PRIVATE
PUBLIC_KEY = PRIVATE_KEY.public_key()
SIGNER = qs_jwt.Signer(PRIVATE_KEY)
KID = "key-1"
JWKS = load_jwks(json.dumps({"keys": [public_jwk(PUBLIC_KEY, kid=KID)]}))
#: 2027-01-15T08:00:00Z, as conftest's FIXED_NOW
NOW = 1_800_000_000

FAST = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --- (a) robustness ----------------------------------------------------------------------------------

# Most generated documents are valid JSON objects (so the checks past the parser run), with the
# hazards mixed in at a lower rate: a token with any invalid fragment stops at the parser.

HUGE_INTS = ["1" + "0" * 400, "-" + "9" * 400, "9" * 4000]
#: valid JSON that stresses the readers: numbers beyond float range (1e309 parses as inf), big integers,
#: escaped surrogate pairs and NULs, values Qlik's checks look for
ODD_VALID = [
    "1e309", "-1e309", "1E400", "1e-400", "-0", "0.0", "2e308", "1.7976931348623157e308", "9007199254740993",
    "1800000000", "1800003600", "1.5", "-1", '"\\ud83d\\ude00"', '"\\u0000"', '""', '" "', '"RS256"', '"none"',
    '"JWT"', '"user"', f'"{QSCLOUD_AUDIENCE}"', '"' + "A" * 56 + '"', "[]", "{}", *HUGE_INTS,
]
#: what the strict parser must refuse: NaN/Infinity, lone surrogates, too many digits, broken syntax
HAZARDS = [
    "NaN", "-NaN", "Infinity", "-Infinity", '"\\ud800"', '"\\udfff"', '"\\udc00\\ud800"', '"a\\ud800b"',
    "9" * 4400,  # over Python's int digit limit
    "01", "+1", ".5", "1.", "0x10", "1e", "--1", '"\\x41"', '"unterminated', "tru", "nul", "", "[", "{", "[,]",
    "{,}", ",",
]


def _deep(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    if kind == "object":
        return '{"a":' * depth + "1" + "}" * depth
    return "[" * depth + "]" * (depth - 1)  # unbalanced


#: nesting around the depth where Python's json gives up (about 990 here), and far beyond
DEEP = st.builds(_deep, st.sampled_from([2, 50, 500, 900, 985, 990, 995, 1000, 1100, 5000]),
                 st.sampled_from(["array", "object", "unbalanced"]))

VALID_LEAF = st.one_of(
    st.sampled_from(ODD_VALID),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=12).map(lambda s: json.dumps(s, ensure_ascii=False)),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=12).map(json.dumps),
    st.sampled_from(["true", "false", "null"]),
)
RISKY_LEAF = st.one_of(
    st.sampled_from(HAZARDS),
    DEEP,
    # lone surrogates written raw: after encoding with surrogatepass they are invalid UTF-8
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3).map(
        lambda s: json.dumps(s, ensure_ascii=False)
    ),
)
LEAF = st.integers(0, 39).flatmap(lambda roll: RISKY_LEAF if roll == 20 else VALID_LEAF)

CLAIM_NAMES = ["iss", "aud", "sub", "subType", "name", "email", "email_verified", "groups", "group", "jti",
               "kid", "userId", "userDirectory", "userid", "UserId", "alg", "typ", "crit", "b64"]
TIME_CLAIMS = ["exp", "nbf", "iat"]
RISKY_KEY = st.sampled_from(['"\\ud800"', '"a\\udfffb"', "1", "null", '"exp', "exp", "[]"])
KEY = st.integers(0, 11).flatmap(
    lambda roll: RISKY_KEY if roll == 5 else st.one_of(
        st.sampled_from(CLAIM_NAMES + TIME_CLAIMS).map(json.dumps),
        st.text(st.characters(exclude_categories=["Cs"]), max_size=6).map(lambda s: json.dumps(s, ensure_ascii=False)),
    )
)


def _object(pairs: list[tuple[str, str]], sep: str = ",") -> str:
    return "{" + sep.join(f"{k}:{v}" for k, v in pairs) + "}"


JSON_VALUE = st.recursive(
    LEAF,
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]"),
        st.builds(_object, st.lists(st.tuples(KEY, children), max_size=4, unique_by=lambda pair: pair[0]),
                  st.sampled_from([",", ", ", "\n,"])),
    ),
    max_leaves=8,
)
TIME_VALUE = st.one_of(
    st.integers(min_value=NOW - 7200, max_value=NOW + 7200).map(str),
    st.integers(min_value=-(2**63), max_value=2**63).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["1e309", "-1e309", "1e308", "-1e308", '"1800000000"', "true", "null", "[]", "{}",
                     "1800000000.5", "-0.0", "253402300799", "253402300800", *HUGE_INTS]),
    JSON_VALUE,
)
GOOD_ALG = st.sampled_from(['"RS256"', '"RS256"', '"RS384"', '"RS512"'])
ODD_ALG = st.one_of(
    st.sampled_from(['"HS256"', '"none"', '"None"', '"NONE"', '"nOnE"', '"ES256"', '"PS256"', '""', '"rs256"',
                     '"RS256 "', '"RS256\\u0000"', '"\\ud800"', "null", "1", '["RS256"]', '{"alg":"RS256"}']),
    st.text(max_size=8).map(json.dumps),
)


def _rare(draw: st.DrawFn, one_in: int) -> bool:
    """True about one time in ``one_in``: a middle value, as hypothesis favours the ends of a range."""
    return bool(draw(st.integers(0, one_in - 1)) == one_in // 2)


def _sometimes(draw: st.DrawFn, usual: st.SearchStrategy[str], odd: st.SearchStrategy[str], one_in: int = 4) -> str:
    """``usual`` most of the time, ``odd`` about one time in ``one_in``."""
    value: str = draw(odd if _rare(draw, one_in) else usual)
    return value


@st.composite
def header_json(draw: st.DrawFn) -> str:
    if _rare(draw, 30):
        value: str = draw(JSON_VALUE)  # anything, not necessarily an object
        return value
    members: dict[str, str] = {}
    if not _rare(draw, 20):
        members['"alg"'] = _sometimes(draw, GOOD_ALG, ODD_ALG, one_in=6)
    if draw(st.booleans()):
        members['"typ"'] = _sometimes(draw, st.just('"JWT"'), st.one_of(st.sampled_from(['"jwt"', "null"]), JSON_VALUE))
    if draw(st.booleans()):
        members['"kid"'] = _sometimes(draw, st.just(f'"{KID}"'),
                                      st.one_of(st.sampled_from(['"other"', '""', "1", "null"]), JSON_VALUE))
    if _rare(draw, 10):
        members['"crit"'] = draw(st.sampled_from(['["exp"]', "[]", '["b64"]', "null", '"b64"']))
    if _rare(draw, 10):
        members['"b64"'] = draw(st.sampled_from(["false", "true", "0"]))
    extra = st.tuples(KEY.filter(lambda k: k not in members), JSON_VALUE)
    pairs = list(members.items()) + draw(st.lists(extra, max_size=2, unique_by=lambda pair: pair[0]))
    if pairs and _rare(draw, 15):
        pairs.append(draw(st.sampled_from(pairs)))  # a duplicate member name
    return _object(draw(st.permutations(pairs)))


def _realistic_claims(draw: st.DrawFn) -> dict[str, st.SearchStrategy[str]]:
    iat = NOW + draw(st.integers(-7200, 7200))
    text = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=10).map(json.dumps)
    return {
        "iss": st.sampled_from(['"iss"', '"other"']),
        "aud": st.sampled_from([f'"{QSCLOUD_AUDIENCE}"', '"aud"', '["aud"]', f'["{QSCLOUD_AUDIENCE}"]']),
        "sub": st.one_of(text, st.just('"' + "x" * 56 + '"')),
        "subType": st.just('"user"'),
        "name": text,
        "email": st.just('"a@example.com"'),
        "email_verified": st.sampled_from(["true", "false", '"true"']),
        "groups": st.sampled_from(['["a","b"]', '["a",1]', "[]", '"a"']),
        "group": st.just('["a"]'),
        "jti": st.sampled_from(['"jti-1"', '""', "1"]),
        "userId": text,
        "userid": text,
        "userDirectory": text,
        "iat": st.just(str(iat)),
        "nbf": st.just(str(iat + draw(st.integers(-60, 60)))),
        "exp": st.just(str(iat + draw(st.integers(-60, 7200)))),
    }


@st.composite
def payload_json(draw: st.DrawFn) -> str:
    if _rare(draw, 30):
        value: str = draw(JSON_VALUE)  # anything, not necessarily an object
        return value
    pairs = []
    for name, usual in _realistic_claims(draw).items():
        roll = draw(st.integers(0, 9))
        if roll < 6:
            pairs.append((json.dumps(name), draw(usual)))
        elif roll < 8:
            pairs.append((json.dumps(name), draw(TIME_VALUE if name in TIME_CLAIMS else JSON_VALUE)))
    names = {name for name, _ in pairs}
    extra = st.tuples(KEY.filter(lambda k: k not in names), JSON_VALUE)
    pairs += draw(st.lists(extra, max_size=3, unique_by=lambda pair: pair[0]))
    if pairs and _rare(draw, 15):
        pairs.append(draw(st.sampled_from(pairs)))  # a duplicate member name
    return _object(draw(st.permutations(pairs)))


def _encode_json(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # lone surrogates become invalid UTF-8


MUTATIONS = ["none"] * 24 + ["pad", "space", "newline", "extra-part", "drop-part", "five-parts", "bearer",
                             "insert-char", "non-ascii", "empty-part", "swap", "oversize"]


@st.composite
def near_valid_tokens(draw: st.DrawFn) -> str:
    header_text = draw(header_json())
    head = b64url_encode(_encode_json(header_text))
    body = b64url_encode(_encode_json(draw(payload_json())))
    if not _rare(draw, 3):  # mostly signed with the test key, so the checks get past the signature
        alg = _lenient_alg(header_text)
        signature = sign_bytes(alg if alg in RSA_ALGORITHMS else "RS256", PRIVATE_KEY, f"{head}.{body}".encode())
    else:
        signature = draw(st.one_of(st.binary(max_size=300), st.binary(min_size=256, max_size=256)))
        signature = signature or b"\x00"  # an empty signature is a case of its own (the "drop"/"empty" mutations)
    parts = [head, body, b64url_encode(signature)]
    mutation = draw(st.sampled_from(MUTATIONS))
    index = draw(st.integers(0, 2))
    if mutation == "pad":
        parts[index] += draw(st.sampled_from(["=", "==", "==="]))
    elif mutation in ("space", "newline", "insert-char", "non-ascii"):
        char = {"space": " ", "newline": "\n", "non-ascii": draw(st.characters(min_codepoint=128))}.get(
            mutation, draw(st.sampled_from(list("?+/#!%.=\t\x00")))
        )
        at = draw(st.integers(0, len(parts[index])))
        parts[index] = parts[index][:at] + char + parts[index][at:]
    elif mutation == "extra-part":
        parts.append(draw(st.sampled_from(["", "Zm9v", parts[2]])))
    elif mutation == "drop-part":
        del parts[index]
    elif mutation == "five-parts":
        parts += ["", "Zm9v"]
    elif mutation == "empty-part":
        parts[index] = ""
    elif mutation == "swap":
        parts[0], parts[1] = parts[1], parts[0]
    token = ".".join(parts)
    if mutation == "bearer":
        token = "Bearer " + token
    elif mutation == "oversize":
        token += "A" * (64 * 1024)
    return token


def _lenient_alg(header_text: str) -> Any:
    try:
        header = json.loads(header_text)
    except (ValueError, RecursionError):
        return None
    return header.get("alg") if isinstance(header, dict) else None


RAW_TEXT = st.one_of(
    st.text(max_size=200),
    st.text(st.characters(categories=["Cs", "Cc", "Co", "Cn", "Zs"]), max_size=50),  # surrogates included
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \t\n", max_size=300),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
)


def _readers() -> list[Any]:
    return [
        qs_jwt.decode_unverified,
        lambda t: qs_jwt.inspect_token(t, now=NOW),
        lambda t: qs_jwt.inspect_token(t, key=PUBLIC_KEY, audience="aud", issuer="iss", leeway=30, now=NOW),
        lambda t: qs_jwt.inspect_token(t, key=JWKS, algorithms=["RS256"], now=NOW),
        lambda t: qs_jwt.check_qscloud(t, now=NOW),
        lambda t: qs_jwt.check_qscloud(t, issuer="iss", keyid=KID, key=PUBLIC_KEY, now=NOW),
        lambda t: qs_jwt.check_qseow(t, now=NOW),
        lambda t: qs_jwt.check_qseow(t, audience="aud", userid_claim="userid", key=JWKS, leeway=5, now=NOW),
    ]


READERS = _readers()


def _only_qs_jwt_errors(token: str) -> None:
    for read in READERS:
        with contextlib.suppress(qs_jwt.QsJwtError):  # any other exception fails the test
            read(token)


@FAST
@given(near_valid_tokens())
@example("e30.e30.e30")  # {} . {} . {}
@example(b64url_encode(b'{"alg":"RS256","crit":["exp"]}') + ".e30.AA")
@example(b64url_encode(b'{"alg":"RS256","b64":false}') + ".Zm9v.AA")
@example(b64url_encode(b'{"alg":"RS256","alg":"none"}') + ".e30.AA")
@example(b64url_encode(b'{"alg":"RS256"}') + "." + b64url_encode(b'{"exp":1e309,"nbf":-1e309,"iat":NaN}') + ".AA")
@example(b64url_encode(b'{"alg":"RS256"}') + "." + b64url_encode(b'{"exp":1e308,"nbf":-1e308,"iat":-1e308}') + ".AA")
@example(b64url_encode(b'{"alg":"RS256","kid":"\\ud800"}') + ".e30.AA")
@example(b64url_encode(b'{"alg":"RS256"}') + "." + b64url_encode(b'{"groups":' + b"[" * 990 + b"]" * 990 + b"}")
         + ".AA")
def test_near_valid_tokens_raise_only_qs_jwt_errors(token: str) -> None:
    _only_qs_jwt_errors(token)


@settings(max_examples=200, deadline=None)
@given(RAW_TEXT)
@example("")
@example("..")
@example("Bearer ")
@example("\ud800.\udfff.x")
def test_any_text_raises_only_qs_jwt_errors(text: str) -> None:
    _only_qs_jwt_errors(text)


def _time_claim_token(claim: str, number: str) -> str:
    head = b64url_encode(b'{"alg":"RS256","kid":"key-1"}')
    body = b64url_encode(f'{{"{claim}":{number}}}'.encode())
    return f"{head}.{body}.{b64url_encode(b'sig')}"


@pytest.mark.parametrize("number", ["1" + "0" * 400, "-" + "9" * 400, "1e300", "253402300800"])
@pytest.mark.parametrize("claim", TIME_CLAIMS)
def test_out_of_range_numeric_dates_are_reported(claim: str, number: str) -> None:
    """Regression: integers beyond the float range in exp/nbf/iat used to raise OverflowError (math.isfinite)."""
    token = _time_claim_token(claim, number)
    assert qs_jwt.decode_unverified(token).payload[claim] == json.loads(number)
    assert any(claim in error for error in qs_jwt.inspect_token(token, now=NOW).errors)
    for check in (qs_jwt.check_qscloud, qs_jwt.check_qseow):
        report = check(token, now=NOW)
        assert any(f.rule == claim and f.severity == "error" for f in report.findings)


# --- (b) round trip --------------------------------------------------------------------------------

#: Any Unicode text that is valid UTF-8 (no lone surrogates) and not blank, as the claim checks require.
CLAIM_TEXT = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40).filter(str.strip)


@settings(max_examples=200, deadline=None)
@given(
    sub=CLAIM_TEXT,
    name=CLAIM_TEXT,
    groups=st.lists(CLAIM_TEXT, max_size=5),
    issuer=CLAIM_TEXT,
)
@example(sub="\x00", name="\u2028x\u2029", groups=["\U0001f600", "\ufeff x", '"\\'], issuer="é")
def test_minted_tokens_round_trip(sub: str, name: str, groups: list[str], issuer: str) -> None:
    token = qs_jwt.create_qscloud_token(
        SIGNER, issuer=issuer, keyid=KID, sub=sub, name=name, groups=groups, expires="5m"
    )
    payload = token.payload
    assert (payload["sub"], payload["name"], payload["iss"]) == (sub, name, issuer)
    assert payload.get("groups", []) == groups

    ours = qs_jwt.decode_unverified(token.token)
    assert ours.header == token.header
    assert ours.payload == payload
    assert parse_compact(token.token).payload == dumps_compact(payload)  # the exact bytes that were signed

    theirs = jwt.decode(token.token, key=PUBLIC_KEY, algorithms=["RS256"], options={"verify_aud": False})
    assert theirs == payload
    assert [s.encode("utf-8") for s in (theirs["sub"], theirs["name"], *theirs.get("groups", []))] == [
        s.encode("utf-8") for s in (sub, name, *groups)
    ]

    assert qs_jwt.inspect_token(token.token, key=JWKS, issuer=issuer, audience=QSCLOUD_AUDIENCE).ok
    assert qs_jwt.check_qscloud(token.token, issuer=issuer, keyid=KID, key=PUBLIC_KEY).ok


# --- (c) base64url ---------------------------------------------------------------------------------

_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_CANONICAL_CHARS = re.compile(r"[A-Za-z0-9_-]*")


def _strictly_valid(text: str) -> bool:
    """An independent oracle: alphabet only, a possible length, and zero unused bits in the last character."""
    if not _CANONICAL_CHARS.fullmatch(text) or len(text) % 4 == 1:
        return False
    if not text or len(text) % 4 == 0:
        return True
    last = _B64_ALPHABET.index(text[-1])
    return last & (0x0F if len(text) % 4 == 2 else 0x03) == 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_b64url_round_trip(data: bytes) -> None:
    text = b64url_encode(data)
    assert _CANONICAL_CHARS.fullmatch(text)
    assert b64url_decode(text) == data


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=_B64_ALPHABET, max_size=40),
        st.text(alphabet=_B64_ALPHABET + "=+/ \n.\t", max_size=40),
        st.text(max_size=20),
    )
)
@example("AB")  # unused bits set
@example("AA==")  # padding
@example("A")  # impossible length
@example("")
def test_b64url_decode_accepts_only_canonical_text(text: str) -> None:
    try:
        data = b64url_decode(text)
    except TokenFormatError:
        assert not _strictly_valid(text)
        return
    assert _strictly_valid(text)
    assert b64url_encode(data) == text
