"""Atheris (libFuzzer) target for the token readers: only ``qs_jwt.QsJwtError`` may escape.

Exercises ``decode_unverified``, ``inspect_token`` with a fixed public key (and a JWK set), and
``check_qscloud`` / ``check_qseow``. See README.md in this folder for how to run it.

The first input byte picks how the rest becomes a token:

- mode 0: the bytes as text (UTF-8, undecodable bytes kept as lone surrogates);
- mode 1: the bytes split on ``0xff`` into header / payload / signature, each base64url-encoded, so the
  fuzzer works directly on the JSON the parser sees;
- mode 2: like mode 1 with a fixed, valid RS256 header, so the mutations go to the payload claims;
- mode 3: the bytes as Latin-1 text (every byte one character).

``TestOneInput`` needs neither atheris nor libFuzzer, so a crash can be replayed with plain Python::

    python -c "import sys; sys.path.insert(0, 'fuzz'); import fuzz_decode; \
fuzz_decode.TestOneInput(open('crash-...', 'rb').read())"
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

try:
    import atheris
except ImportError:  # replaying inputs without atheris installed
    atheris = None

_instrumented = (
    atheris.instrument_imports(include=["qs_jwt", "jwt"]) if atheris is not None else contextlib.nullcontext()
)
with _instrumented:
    import jwt  # noqa: F401 - imported lazily by qs_jwt.tokens; imported here to be instrumented too

    from qs_jwt import checks, tokens  # the modules behind the package's lazy attributes
    from qs_jwt._jws import b64url_encode
    from qs_jwt.errors import QsJwtError
    from qs_jwt.keys import load_jwks, load_public_key, public_jwk

_KEY_FILE = Path(__file__).resolve().parents[1] / "tests" / "keys" / "rsa2048_public.pem"
PUBLIC_KEY = load_public_key(_KEY_FILE.read_bytes(), source=str(_KEY_FILE))
KID = "key-1"
JWKS = load_jwks(json.dumps({"keys": [public_jwk(PUBLIC_KEY, kid=KID)]}))
#: a fixed "now" keeps every run deterministic (2027-01-15T08:00:00Z)
NOW = 1_800_000_000
_RS256_HEADER = b64url_encode(b'{"alg":"RS256","typ":"JWT","kid":"key-1"}')


def _token(data: bytes) -> str:
    if not data:
        return ""
    mode, rest = data[0] % 4, data[1:]
    if mode == 0:
        return rest.decode("utf-8", "surrogateescape")
    if mode == 3:
        return rest.decode("latin-1")
    parts = rest.split(b"\xff")
    if mode == 1:
        return ".".join(b64url_encode(part) for part in parts)
    return ".".join([_RS256_HEADER, *(b64url_encode(part) for part in parts)])


def TestOneInput(data: bytes) -> None:  # the name atheris expects
    token = _token(data)
    readers = (
        lambda: tokens.decode_unverified(token),
        lambda: tokens.inspect_token(token, key=PUBLIC_KEY, audience="aud", issuer="iss", now=NOW),
        lambda: tokens.inspect_token(token, key=JWKS, leeway=30, now=NOW),
        lambda: checks.check_qscloud(token, issuer="iss", keyid=KID, key=PUBLIC_KEY, now=NOW),
        lambda: checks.check_qseow(token, audience="aud", key=JWKS, now=NOW),
    )
    for read in readers:
        with contextlib.suppress(QsJwtError):  # anything else escapes: atheris reports it as a crash
            read()


def main() -> None:
    if atheris is None:
        sys.exit("atheris is not installed: pip install atheris (or pip install -e '.[fuzz]')")
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
