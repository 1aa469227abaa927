"""The OAuth token endpoint of the emulated Qlik Cloud tenant, ``POST /oauth/token``, for machine-to-machine
clients: the grants ``client_credentials`` and ``urn:qlik:oauth:user-impersonation``, authenticated with a client
secret or a client assertion (Private Key JWT). Client assertions are verified with PyJWT and ``cryptography``
only, never with the package under test.

What Qlik documents (https://qlik.dev/apis/rest/oauth/, https://qlik.dev/authenticate/oauth/oauth-private-key-jwt-
reference/): the body is JSON or form-encoded, with ``client_id``, ``grant_type``, ``scope`` (space-separated),
and ``client_secret`` or ``client_assertion`` with ``client_assertion_type``; impersonation adds ``user_lookup``
(``{"field", "value"}``); the answer is ``{"access_token", "token_type": "bearer", "expires_at": <ISO time>,
"scope"}``; errors are 400 (bad parameters), 401 (bad client credentials, "also ... in Authorization header")
and 403, in Qlik's error envelope. An assertion: ``alg`` RS256, RS512 (or ES384, not emulated: no EC keys here),
``kid`` required, ``iss`` = ``sub`` = the client id, ``aud`` exactly ``<tenant>/oauth/token``, a ``jti`` per
request, ``exp`` at most 5 minutes after ``iat``.

What the emulator chooses where Qlik says nothing (UNCONFIRMED, the strict reading):

- error codes: Qlik documents none for this endpoint; the emulator answers ``OAUTH-1`` .. ``OAUTH-7``
  (:data:`INVALID_REQUEST` ...), with details that say what was wrong;
- the client secret may also come as ``Authorization: Basic base64(client_id:secret)`` (Qlik's 401 text names
  "client credentials provided in Authorization header"; Qlik's .NET SDK sends them so), but not both ways;
- a form-encoded ``user_lookup`` is JSON text, or the two fields ``user_lookup[field]`` and ``user_lookup[value]``;
- a request without ``scope`` gets every scope of the client; the assertion's ``alg`` must be the ``alg`` of the
  registered JWK; its ``jti`` is any non-empty string (a UUID is what Qlik asks for), taken once; ``exp`` and
  ``iat`` are checked with 5 s of clock tolerance;
- a ``client_credentials`` token acts as the client's service user (made with the client), a TenantAdmin when
  the client has the scope ``admin_classic``; an impersonation token acts as the user; an OAuth call is an
  administrator's only when its user is a TenantAdmin and the token carries ``admin_classic``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from .qscloud_jwt import load_public_key
from .server import Request, Response

TOKEN_PATH = "/oauth/token"
CLIENT_CREDENTIALS = "client_credentials"
USER_IMPERSONATION = "urn:qlik:oauth:user-impersonation"
GRANT_TYPES = (CLIENT_CREDENTIALS, USER_IMPERSONATION)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: the assertion algorithms emulated (Qlik also takes ES384)
ALGORITHMS = ("RS256", "RS512")
MAX_ASSERTION_LIFETIME = 300
CLOCK_TOLERANCE = 5
MIN_KEY_BITS = 2048
ADMIN_SCOPE = "admin_classic"
#: user_lookup.field -> the user's attribute
LOOKUP_FIELDS = {"subject": "subject", "email": "email", "userId": "id"}
ASSERTION_CLAIMS = ("iss", "sub", "aud", "jti", "iat", "exp")
JWK_MEMBERS = frozenset({"kty", "kid", "alg", "use", "n", "e", "key_ops", "x5c", "x5t", "x5t#S256"})

# (status, code, title): the codes are the emulator's own (UNCONFIRMED: Qlik documents none for /oauth/token)
INVALID_REQUEST = (400, "OAUTH-1", "Invalid request")
UNSUPPORTED_GRANT = (400, "OAUTH-2", "Unsupported grant type")
INVALID_CLIENT = (401, "OAUTH-3", "Invalid client")
INVALID_ASSERTION = (401, "OAUTH-4", "Invalid client assertion")
UNAUTHORIZED_CLIENT = (400, "OAUTH-5", "Unauthorized client")
INVALID_SCOPE = (400, "OAUTH-6", "Invalid scope")
USER_NOT_FOUND = (400, "OAUTH-7", "User not found")

User = dict[str, Any]
FindUser = Callable[[str, str], User | None]


class Refused(Exception):
    """A refused token request: ``reason`` for the tests (``oauth_failures``), the rest for the client."""

    def __init__(self, kind: tuple[int, str, str], reason: str, detail: str) -> None:
        super().__init__(reason)
        self.status, self.code, self.title = kind
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class OAuthClient:
    """A registered OAuth client (``appType: web``): its secret and public keys (kid -> (alg, key))."""

    client_id: str
    name: str
    secret: str | None
    keys: Mapping[str, tuple[str, RSAPublicKey]]
    jwks: tuple[dict[str, str], ...]
    allowed_grant_types: tuple[str, ...]
    scopes: tuple[str, ...]
    access_token_ttl: int
    service_user_id: str

    def to_dict(self) -> dict[str, Any]:
        """The client as the oauth-clients API shows it (without its secret)."""
        return {"clientId": self.client_id, "clientName": self.name, "appType": "web",
                "allowedGrantTypes": list(self.allowed_grant_types), "allowedScopes": list(self.scopes),
                "publicKeys": [dict(jwk) for jwk in self.jwks], "hasSecret": self.secret is not None,
                "serviceUserId": self.service_user_id}


@dataclass(frozen=True)
class IssuedToken:
    """An access token the endpoint issued, and what it was issued for."""

    access_token: str
    client_id: str
    grant_type: str
    user_id: str
    scopes: tuple[str, ...]
    expires_at: float
    #: ``"client_secret_post"``, ``"client_secret_basic"`` or ``"private_key_jwt"``
    auth_method: str
    #: ``"json"`` or ``"form"``
    encoding: str


# --- registering clients ---------------------------------------------------------------------------------

def new_client(client_id: str, *, name: str | None, secret: str | None, jwk: Any, kid: str | None, alg: str,
               allowed_grant_types: Iterable[str], scopes: Iterable[str], access_token_ttl: int,
               service_user_id: str) -> OAuthClient:
    """A client from what a test gives; ``ValueError`` for anything Qlik would not register."""
    if not isinstance(client_id, str) or not client_id or any(ch.isspace() for ch in client_id):
        raise ValueError("client_id must be a non-empty string without spaces")
    if secret is not None and (not isinstance(secret, str) or not secret):
        raise ValueError("secret must be a non-empty string")
    grants = tuple(allowed_grant_types)
    if not grants or any(grant not in GRANT_TYPES for grant in grants):
        raise ValueError(f"allowed_grant_types must name some of {', '.join(GRANT_TYPES)}")
    scope_list = tuple(scopes)
    if not scope_list or not all(isinstance(s, str) and s and not any(c.isspace() for c in s) for s in scope_list):
        raise ValueError("scopes must be non-empty words")
    if isinstance(access_token_ttl, bool) or not isinstance(access_token_ttl, int) or access_token_ttl < 1:
        raise ValueError("access_token_ttl must be a whole number of seconds, at least 1")
    entries = [] if jwk is None else list(jwk) if isinstance(jwk, list | tuple) else [jwk]
    keys: dict[str, tuple[str, RSAPublicKey]] = {}
    jwks: list[dict[str, str]] = []
    for entry in entries:
        public_jwk, key = _registered_key(entry, kid, alg)
        if public_jwk["kid"] in keys:
            raise ValueError(f"two public keys with the kid {public_jwk['kid']}")
        keys[public_jwk["kid"]] = (public_jwk["alg"], key)
        jwks.append(public_jwk)
    if secret is None and not keys:
        raise ValueError("a client needs a secret, a public key (jwk), or both")
    return OAuthClient(client_id, name or client_id, secret, keys, tuple(jwks), grants, scope_list,
                       access_token_ttl, service_user_id)


def _registered_key(entry: Any, kid: str | None, alg: str) -> tuple[dict[str, str], RSAPublicKey]:
    """A public JWK (dict) as registered, or a PEM public key / certificate given with ``kid`` and ``alg``."""
    if isinstance(entry, bytes | str):
        if not kid:
            raise ValueError("a PEM key needs kid=")
        if alg not in ALGORITHMS:
            raise ValueError(f"alg must be one of {', '.join(ALGORITHMS)}")
        key = load_public_key(entry.decode() if isinstance(entry, bytes) else entry)
        numbers = key.public_numbers()
        entry = {"kty": "RSA", "kid": kid, "alg": alg, "use": "sig", "n": _b64_int(numbers.n),
                 "e": _b64_int(numbers.e)}
    if not isinstance(entry, dict):
        raise ValueError("jwk must be a public JWK (a dict), a PEM public key or certificate, or a list of them")
    extra = set(entry) - JWK_MEMBERS
    if extra:
        raise ValueError(f"the JWK has members a public RSA JWK has not ({', '.join(sorted(extra))}): a private key?")
    if entry.get("kty") != "RSA":
        raise ValueError("only RSA JWKs are emulated (kty RSA)")
    if not isinstance(entry.get("kid"), str) or not entry["kid"]:
        raise ValueError("the JWK needs a kid")
    if entry.get("alg") not in ALGORITHMS:
        raise ValueError(f"the JWK's alg must be one of {', '.join(ALGORITHMS)}")
    if entry.get("use") != "sig":
        raise ValueError('the JWK\'s use must be "sig"')
    try:
        key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(entry))
    except (jwt.PyJWTError, ValueError, KeyError) as exc:
        raise ValueError(f"not a usable RSA JWK: {exc}") from exc
    if not isinstance(key, RSAPublicKey):
        raise ValueError("the JWK is not an RSA public key")
    if key.key_size < MIN_KEY_BITS:
        raise ValueError(f"the RSA key has {key.key_size} bits; at least {MIN_KEY_BITS} are needed")
    return {name: str(entry[name]) for name in ("kty", "kid", "alg", "use", "n", "e")}, key


def _b64_int(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


# --- the token endpoint ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Grant:
    client: OAuthClient
    auth_method: str


class TokenEndpoint:
    """The OAuth state of one tenant; the emulator calls it with its lock held."""

    def __init__(self) -> None:
        self.clients: dict[str, OAuthClient] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.issued: list[IssuedToken] = []
        self.failures: list[str] = []
        self.jtis: list[str] = []

    def add(self, client: OAuthClient) -> None:
        if client.client_id in self.clients:
            raise ValueError(f"an OAuth client with the id {client.client_id} exists already")
        self.clients[client.client_id] = client

    def lookup(self, access_token: str) -> IssuedToken | None:
        return self.tokens.get(access_token) if access_token else None

    def expire_all(self, now: float) -> None:
        for token, issued in self.tokens.items():
            self.tokens[token] = replace(issued, expires_at=min(issued.expires_at, now - 1))
        self.issued = [replace(issued, expires_at=min(issued.expires_at, now - 1)) for issued in self.issued]

    def answer(self, request: Request, *, token_url: str, now: float, find_user: FindUser) -> Response:
        """The answer to ``POST /oauth/token``: a token, or Qlik's error envelope (and a reason in ``failures``)."""
        try:
            issued = self._issue(request, token_url, now, find_user)
        except Refused as refused:
            self.failures.append(refused.reason)
            error = {"code": refused.code, "title": refused.title, "detail": refused.detail,
                     "status": str(refused.status)}
            response = Response.json({"errors": [error], "traceId": secrets.token_hex(16)}, refused.status)
            response.headers.append(("Cache-Control", "no-store"))
            return response
        self.tokens[issued.access_token] = issued
        self.issued.append(issued)
        expires = datetime.fromtimestamp(issued.expires_at, UTC).isoformat(timespec="milliseconds")
        response = Response.json({"access_token": issued.access_token, "token_type": "bearer",
                                  "expires_at": expires.replace("+00:00", "Z"), "scope": " ".join(issued.scopes)})
        response.headers.append(("Cache-Control", "no-store"))
        return response

    def _issue(self, request: Request, token_url: str, now: float, find_user: FindUser) -> IssuedToken:
        body, encoding = _parsed_body(request)
        grant = self._authenticate(request, body, token_url, now)
        client = grant.client
        grant_type = _text_field(body, "grant_type", required=True)
        if grant_type not in GRANT_TYPES:
            raise Refused(UNSUPPORTED_GRANT, f"grant unsupported: {grant_type}",
                          f"The grant type {grant_type} is not supported: use {' or '.join(GRANT_TYPES)}")
        if grant_type not in client.allowed_grant_types:
            raise Refused(UNAUTHORIZED_CLIENT, f"grant not allowed: {grant_type}",
                          f"The OAuth client is not allowed the grant type {grant_type}")
        scopes = self._scopes(client, _text_field(body, "scope"))
        user_id = _impersonated(body, find_user) if grant_type == USER_IMPERSONATION else client.service_user_id
        return IssuedToken(secrets.token_urlsafe(32), client.client_id, grant_type, user_id, scopes,
                           now + client.access_token_ttl, grant.auth_method, encoding)

    @staticmethod
    def _scopes(client: OAuthClient, scope: str | None) -> tuple[str, ...]:
        if scope is None or not scope.strip():
            return client.scopes
        asked = list(dict.fromkeys(scope.split()))
        refused = [name for name in asked if name not in client.scopes]
        if refused:
            raise Refused(INVALID_SCOPE, f"scope not allowed: {' '.join(refused)}",
                          f"The scope {' '.join(refused)} is not allowed for this OAuth client")
        return tuple(asked)

    def _authenticate(self, request: Request, body: Mapping[str, Any], token_url: str, now: float) -> _Grant:
        """The client, authenticated by exactly one of: the secret in the body, in a Basic header, an assertion."""
        basic = _basic_credentials(request)
        client_id = _text_field(body, "client_id")
        secret = _text_field(body, "client_secret")
        assertion = _text_field(body, "client_assertion")
        assertion_type = _text_field(body, "client_assertion_type")
        if basic is not None:
            if secret is not None or assertion is not None:
                raise Refused(INVALID_REQUEST, "several client authentications",
                              "Send the client credentials one way: the Authorization header or the body")
            if client_id is not None and client_id != basic[0]:
                raise Refused(INVALID_REQUEST, "client_id differs from the Basic header",
                              "The client_id of the body is not the one of the Authorization header")
            client_id, secret = basic
        if not client_id:
            raise Refused(INVALID_REQUEST, "client_id missing", "client_id is required")
        if secret is not None and assertion is not None:
            raise Refused(INVALID_REQUEST, "several client authentications",
                          "Send client_secret or client_assertion, not both")
        client = self.clients.get(client_id)
        if client is None:
            raise Refused(INVALID_CLIENT, "client unknown", f"No OAuth client with the client_id {client_id}")
        if secret is not None:
            if client.secret is None:
                raise Refused(INVALID_CLIENT, "client has no secret",
                              "The OAuth client authenticates with a private key JWT (client_assertion)")
            if not hmac.compare_digest(secret.encode(), client.secret.encode()):
                raise Refused(INVALID_CLIENT, "secret wrong", "Invalid client secret")
            return _Grant(client, "client_secret_basic" if basic is not None else "client_secret_post")
        if assertion is None:
            raise Refused(INVALID_CLIENT, "no client authentication",
                          "Send client_secret or client_assertion to authenticate the client")
        if assertion_type != ASSERTION_TYPE:
            raise Refused(INVALID_REQUEST, "assertion type wrong", f"client_assertion_type must be {ASSERTION_TYPE}")
        if not client.keys:
            raise Refused(INVALID_CLIENT, "client has no key", "The OAuth client has no public key for assertions")
        self.jtis.append(_verified_assertion(assertion, client, token_url, now, self.jtis))
        return _Grant(client, "private_key_jwt")


def _invalid_assertion(reason: str, detail: str) -> Refused:
    return Refused(INVALID_ASSERTION, f"assertion {reason}", f"Invalid client assertion: {detail}")


def _verified_assertion(assertion: str, client: OAuthClient, token_url: str, now: float,
                        used_jtis: Sequence[str]) -> str:
    """The assertion's jti, once every rule holds; else :class:`Refused`."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as exc:
        raise _invalid_assertion(f"malformed ({exc})", "client_assertion is not a signed JWT") from exc
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise _invalid_assertion(f"algorithm {alg}", f"the algorithm {alg} is not supported (RS256, RS512, ES384)")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _invalid_assertion("kid missing", "the header has no kid")
    if kid not in client.keys:
        raise _invalid_assertion("kid unknown", f"no public key of the OAuth client has the kid {kid}")
    key_alg, key = client.keys[kid]
    if alg != key_alg:
        raise _invalid_assertion(f"algorithm {alg} for a {key_alg} key",
                                 f"the key {kid} is registered for the algorithm {key_alg}, not {alg}")
    try:  # PyJWT checks the signature only; every claim rule is the emulator's own
        claims = jwt.decode(assertion, key, algorithms=[alg], options={
            "verify_signature": True, "verify_exp": False, "verify_nbf": False, "verify_iat": False,
            "verify_aud": False, "verify_iss": False, "verify_sub": False, "verify_jti": False})
    except jwt.InvalidSignatureError as exc:
        raise _invalid_assertion("signature", "the signature does not verify with the client's public key") from exc
    except jwt.PyJWTError as exc:
        raise _invalid_assertion(f"malformed ({exc})", "client_assertion is not a signed JWT") from exc
    for name in ASSERTION_CLAIMS:
        if name not in claims:
            raise _invalid_assertion(f"claim {name} missing", f"the claim {name} is required")
    if claims["iss"] != client.client_id:
        raise _invalid_assertion("iss not the client", "iss must be the client_id")
    if claims["sub"] != claims["iss"]:
        raise _invalid_assertion("sub not iss", "sub must equal iss (the client_id)")
    audience = claims["aud"]
    if not isinstance(audience, str):
        raise _invalid_assertion("aud not a string", f"aud must be the string {token_url}")
    if audience != token_url:
        trailing = audience.rstrip("/") == token_url
        raise _invalid_assertion("aud trailing slash" if trailing else "aud mismatch",
                                 f"aud must be exactly {token_url}" + (" (no trailing slash)" if trailing else ""))
    for name in ("iat", "exp"):
        if isinstance(claims[name], bool) or not isinstance(claims[name], int):
            raise _invalid_assertion(f"claim {name} not a NumericDate", f"{name} must be whole seconds")
    if claims["exp"] - claims["iat"] > MAX_ASSERTION_LIFETIME:
        raise _invalid_assertion(f"lifetime over {MAX_ASSERTION_LIFETIME} s",
                                 f"exp must be at most {MAX_ASSERTION_LIFETIME} seconds after iat")
    if claims["exp"] <= claims["iat"]:
        raise _invalid_assertion("exp not after iat", "exp must be after iat")
    if claims["exp"] <= now - CLOCK_TOLERANCE:
        raise _invalid_assertion("expired", "the assertion has expired (exp)")
    if claims["iat"] > now + CLOCK_TOLERANCE:
        raise _invalid_assertion("issued in the future", "the assertion was issued in the future (iat)")
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti:
        raise _invalid_assertion("jti not a string", "jti must be a non-empty string (a UUID)")
    if jti in used_jtis:
        raise _invalid_assertion("jti replayed", "the jti has been used before: an assertion is taken once")
    return jti


def _impersonated(body: Mapping[str, Any], find_user: FindUser) -> str:
    lookup = body.get("user_lookup")
    if not isinstance(lookup, dict):
        raise Refused(INVALID_REQUEST, "user_lookup missing",
                      f'user_lookup {{"field", "value"}} is required for the grant type {USER_IMPERSONATION}')
    field, value = lookup.get("field"), lookup.get("value")
    if field not in LOOKUP_FIELDS:
        raise Refused(INVALID_REQUEST, f"user_lookup field {field}",
                      f"user_lookup.field must be one of {', '.join(LOOKUP_FIELDS)}")
    if not isinstance(value, str) or not value:
        raise Refused(INVALID_REQUEST, "user_lookup value missing", "user_lookup.value must be a non-empty string")
    user = find_user(LOOKUP_FIELDS[field], value)
    if user is None:
        raise Refused(USER_NOT_FOUND, "user not found", f"User not found: no user has the {field} {value}")
    return str(user["id"])


# --- the request -----------------------------------------------------------------------------------------

def _parsed_body(request: Request) -> tuple[dict[str, Any], str]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json":
        try:
            body = json.loads(request.body)
        except ValueError as exc:
            raise Refused(INVALID_REQUEST, "body not JSON", f"The request body is not valid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise Refused(INVALID_REQUEST, "body not an object", "The request body must be a JSON object")
        return body, "json"
    if media == "application/x-www-form-urlencoded":
        return _form(request.body), "form"
    raise Refused(INVALID_REQUEST, f"content type {media or 'missing'}",
                  "The Content-Type must be application/json or application/x-www-form-urlencoded")


def _form(data: bytes) -> dict[str, Any]:
    try:
        pairs = parse_qsl(data.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(data))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(INVALID_REQUEST, "form malformed", f"The form body is malformed: {exc}") from exc
    body: dict[str, Any] = {}
    for name, value in pairs:
        if name in body:
            raise Refused(INVALID_REQUEST, f"form field {name} twice", f"The field {name} is given twice")
        body[name] = value
    lookup_text = body.pop("user_lookup", None)
    parts = {key: body.pop(f"user_lookup[{key}]") for key in ("field", "value") if f"user_lookup[{key}]" in body}
    if lookup_text is not None:
        try:
            body["user_lookup"] = json.loads(lookup_text)
        except ValueError as exc:
            raise Refused(INVALID_REQUEST, "user_lookup not JSON", "user_lookup must be a JSON object") from exc
    elif parts:
        body["user_lookup"] = parts
    return body


def _text_field(body: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise Refused(INVALID_REQUEST, f"{name} missing", f"{name} is required")
        return None
    if not isinstance(value, str):
        raise Refused(INVALID_REQUEST, f"{name} not a string", f"{name} must be a string")
    return value


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """``(client_id, secret)`` of an ``Authorization: Basic`` header (each URL-encoded, RFC 6749 2.3.1)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        text = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Refused(INVALID_CLIENT, "basic header malformed", "The Authorization header is malformed") from exc
    client_id, sep, secret = text.partition(":")
    if not sep:
        raise Refused(INVALID_CLIENT, "basic header malformed", "The Authorization header is malformed")
    return unquote(client_id), unquote(secret)
