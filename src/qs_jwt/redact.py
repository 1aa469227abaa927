"""Hide secrets in text meant for people: messages, logs, HTTP traces.

This is the one place that knows what a secret looks like. The rules:

- PEM blocks (``-----BEGIN ...-----``, complete or cut short) are secrets;
- anything shaped like a JWT (``eyJ...`` with dots), and long base64 / base64url / hex runs
  (API keys, CSRF tokens, session cookies, client secrets) are secrets;
- the value of a passphrase, secret or key option is a secret whatever it looks like: it is never
  shown at all, so callers name the option instead (:func:`describe_value`);
- a value that looks like a path (short words, a file extension, separators) may be shown.

Every function here runs in linear time in the length of its input: each character is looked at a
bounded number of times, whatever the text (no backtracking regular expression over secrets).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = [
    "SECRET_HEADERS",
    "SECRET_QUERY_PARAMETERS",
    "describe_value",
    "looks_like_path",
    "looks_secret",
    "redact",
    "redact_headers",
    "redact_url",
    "safe_source",
    "secret_kind",
]

#: HTTP headers whose values are never shown (lower case)
SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "qlik-csrf-token", "x-qlik-xrfkey",
    "x-qlik-session", "x-api-key",
})
#: URL query parameters whose values are never shown (lower case)
SECRET_QUERY_PARAMETERS = frozenset({
    "xrfkey", "qlik-csrf-token", "access_token", "token", "jwt", "client_secret", "code", "password",
    "client_assertion",
})

PEM_PLACEHOLDER = "<PEM redacted>"
TOKEN_PLACEHOLDER = "<token redacted>"  # noqa: S105 - a placeholder, not a secret
SECRET_PLACEHOLDER = "<secret redacted>"  # noqa: S105 - a placeholder, not a secret

# one pass over maximal runs of these characters; a run is matched once, so the scan is linear
_RUN = re.compile(r"[A-Za-z0-9_\-+/=.~%]+")
_PEM_BEGIN = "-----BEGIN"
_PEM_END = "-----END"
#: longest file name shown in a message; anything longer is not a path a person typed
MAX_SHOWN_PATH = 260
#: a base64/base64url/hex run at least this long, with no word structure, is taken for a secret
_MIN_SECRET_RUN = 24


def _random(stretch: str) -> bool:
    """True for a stretch that reads as random key material: long hex, or long mixed-case with digits."""
    if len(stretch) < 20:
        return False
    if len(stretch) >= 32 and all(ch in "0123456789abcdefABCDEF" for ch in stretch):
        return True
    return (any(ch.isdigit() for ch in stretch) and any(ch.isupper() for ch in stretch)
            and any(ch.islower() for ch in stretch))


def _classify_run(run: str) -> str | None:
    """``"token"``, ``"secret"`` or None for one run of base64-ish characters."""
    if "eyJ" in run and "." in run and len(run) >= 16:
        return "token"
    if len(run) < _MIN_SECRET_RUN:
        return None
    body = run.rstrip("=")
    if not any(ch in body for ch in "./\\%") and _random(body):
        return "secret"  # base64url: '-' and '_' are part of the alphabet
    if any(_random(stretch) for stretch in re.split(r"[./\\_~%-]", body)):
        return "secret"
    if run.endswith("=") and "." not in body and len(body) >= _MIN_SECRET_RUN:
        return "secret"  # padded base64
    return None


def looks_like_path(text: str) -> bool:
    """True for text that may be shown as a file path: one line, no PEM, token or random key material."""
    return (isinstance(text, str) and bool(text) and "\n" not in text and len(text) <= MAX_SHOWN_PATH
            and secret_kind(text) is None)


def secret_kind(text: str) -> str | None:
    """What kind of secret ``text`` holds, if any: ``"PEM key text"``, ``"a token"`` or ``"a secret"``."""
    if not isinstance(text, str) or not text:
        return None
    if _PEM_BEGIN in text or "PRIVATE KEY" in text:
        return "PEM key text"
    for match in _RUN.finditer(text):
        kind = _classify_run(match.group())
        if kind == "token":
            return "a token"
        if kind == "secret":
            return "a secret"
    return None


def looks_secret(text: str) -> bool:
    """True when ``text`` holds something that must not be shown (see the module's rules)."""
    return secret_kind(text) is not None


def _redact_pem(text: str) -> str:
    out: list[str] = []
    pos = 0
    while True:
        start = text.find(_PEM_BEGIN, pos)
        if start < 0:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos:start])
        out.append(PEM_PLACEHOLDER)
        end = text.find(_PEM_END, start)
        if end < 0:
            return "".join(out)  # a block cut short: everything after BEGIN goes
        close = text.find("-----", end + len(_PEM_END))
        pos = len(text) if close < 0 else close + 5


#: a known secret shorter than this is not searched for (it would hide ordinary words)
MIN_KNOWN_SECRET = 8


def redact(text: object, known: Iterable[str] = ()) -> str:
    """``text`` with PEM blocks, tokens and secret-looking runs replaced by placeholders, and each of the
    ``known`` secret values (of at least 8 characters: an xrfkey, a session id that a server may echo) too."""
    text = text if isinstance(text, str) else str(text)
    for value in sorted({v for v in known if isinstance(v, str) and len(v) >= MIN_KNOWN_SECRET}, key=len,
                        reverse=True):
        text = text.replace(value, SECRET_PLACEHOLDER)
    text = _redact_pem(text)

    def replace(match: re.Match[str]) -> str:
        kind = _classify_run(match.group())
        if kind == "token":
            return TOKEN_PLACEHOLDER
        if kind == "secret":
            return SECRET_PLACEHOLDER
        return match.group()

    return _RUN.sub(replace, text)


def safe_source(source: object) -> str | None:
    """A file name for a message: the name itself when it looks like a path and holds no secret,
    else a placeholder that says what the value looked like."""
    if source is None:
        return None
    source = source if isinstance(source, str) else str(source)
    kind = secret_kind(source)
    if kind is None and "\n" not in source and len(source) <= MAX_SHOWN_PATH:
        return source
    return f"<the value, which looks like {kind or 'text, not a path'}>"


def describe_value(option: str, value: str | None, *, secret_option: bool = False) -> str:
    """How a message may refer to ``value`` given to ``option``: the value when it is safe to show,
    else the option's name and what the value looked like (never the value).

    ``secret_option`` is true for options whose values are secrets whatever they look like
    (passphrases, client secrets, API keys): those are never shown.
    """
    if value is None:
        return option
    if secret_option:
        return f"{option} (value not shown)"
    kind = secret_kind(value)
    if kind is not None:
        return f"{option} (the value looks like {kind}; not shown)"
    if "\n" in value or len(value) > 200:
        return f"{option} (value not shown)"
    return f"{option} {value!r}"


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """A copy of HTTP headers (a mapping or ``(name, value)`` pairs) with secret values replaced."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    result: dict[str, str] = {}
    for name, value in items:
        key = str(name)
        result[key] = SECRET_PLACEHOLDER if key.lower() in SECRET_HEADERS else redact(str(value))
    return result


def redact_url(url: str) -> str:
    """``url`` with the values of secret query parameters replaced, and secret-looking runs redacted."""
    base, sep, query = url.partition("?")
    if not sep:
        return redact(url)
    parts = []
    for item in query.split("&"):
        name, eq, _value = item.partition("=")
        if eq and name.lower() in SECRET_QUERY_PARAMETERS:
            parts.append(f"{name}=<redacted>")
        else:
            parts.append(redact(item))
    return f"{redact(base)}?{'&'.join(parts)}"
