"""Qlik Cloud: a JWT exchanged for a session (``POST /login/jwt-session``), any REST call with the session's
cookies and CSRF token or with an API key, the tenant's identity providers (JWT and multi-cloud), and the
reasons a login or an identity provider would refuse the local key's tokens.

A session is the cookie jar the login answered with (``eas.sid``, ``_csrfToken`` and their ``.sig``, load
balancer cookies) and the CSRF token of ``GET /api/v1/csrf-token``, which every modifying request (not GET,
HEAD or OPTIONS) carries as ``qlik-csrf-token``. An API key (or an OAuth access token) goes as
``Authorization: Bearer`` on every request and needs no CSRF token. This module imports :mod:`qs_jwt.http`
(and httpx) when a client is made, never at ``import qs_jwt``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json as jsonlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .checks import ERROR, WARNING, CheckReport, Finding
from .errors import (
    KEY_WEAK,
    KEY_WRONG_TYPE,
    ArgumentTypeError,
    InvalidValueError,
    KeyLoadError,
    QlikApiError,
    QsJwtError,
    TokenFormatError,
)

if TYPE_CHECKING:
    from http.cookiejar import Cookie

    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.x509 import Certificate

    from .http import HttpClient, HttpResponse, HttpSettings
    from .oauth import OAuthCredentials

__all__ = [
    "CSRF_HEADER",
    "JWT_AUTH",
    "LOGIN_PATH",
    "MULTI_CLOUD",
    "IdentityProviderCheck",
    "QlikCloudClient",
    "QlikCloudSession",
    "QlikLoginError",
    "check_identity_providers",
    "decode_bearer_token",
    "describe_bearer_token",
    "explain_login_error",
    "identity_provider_thumbprint",
    "jwt_idp_body",
    "multicloud_idp_body",
    "normalize_tenant_url",
    "rebuild_bearer_token",
]

LOGIN_PATH = "/login/jwt-session"
CSRF_PATH = "/api/v1/csrf-token"
ME_PATH = "/api/v1/users/me"
IDP_PATH = "/api/v1/identity-providers"
CSRF_HEADER = "qlik-csrf-token"
CSRF_COOKIE = "_csrfToken"
WEB_INTEGRATION_HEADER = "qlik-web-integration-id"
#: ``protocol`` of a JWT identity provider, and of a multi-cloud one (a QSEoW deployment's bearer token)
JWT_AUTH = "jwtAuth"
MULTI_CLOUD = "qsefw-local-bearer-token"
#: methods that need no CSRF token
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: the version of the session file layout
SESSION_FORMAT = 1
_MAX_PAGES = 1000
_MAX_SESSION_FILE = 1024 * 1024
_MAX_BEARER_TOKEN = 1024 * 1024
_DESCRIPTION_LIMIT = 1000
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", re.DOTALL)


# ---------------------------------------------------------------- addresses


def normalize_tenant_url(url: str) -> str:
    """``https://HOST[:PORT]`` of a tenant given as a URL or a bare host name (https is assumed; ``http://``
    only for this computer). A path is refused: the tenant is the host alone.

    :raises InvalidValueError: (``param="tenant"``) for anything else.
    """
    from .http import normalize_base_url

    try:
        base = normalize_base_url(url)
    except InvalidValueError as exc:
        raise InvalidValueError(exc.reason.replace("https://tenant.eu", "https://your-tenant.eu"),
                                param="tenant") from None
    scheme, _, rest = base.partition("://")
    host, slash, path = rest.partition("/")
    if slash:
        raise InvalidValueError(f"give the tenant's address alone, {scheme}://{host}, without a path (/{path})",
                                param="tenant")
    return base


# ---------------------------------------------------------------- login failures


class QlikLoginError(QlikApiError):
    """``POST /login/jwt-session`` refused the JWT. ``explanation`` is the likely cause and fix, in plain words
    (from :func:`explain_login_error`)."""

    def __init__(self, error: QlikApiError, explanation: Sequence[str]) -> None:
        super().__init__(str(error), status=error.status, code=error.code, detail=error.detail,
                         trace_id=error.trace_id, method=error.method, url=error.url, title=error.title,
                         items=error.items)
        self.explanation = tuple(explanation)


_CLAIM = re.compile(r"(missing required claims?|invalid claims?)\b\s*:?\s*([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)

#: (words in the answer, likely cause and fix); the first that matches wins
_LOGIN_CAUSES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("no authentication configured for this hostname", "login-2"),
     "the tenant address is wrong, or the tenant has no identity provider for it: check --tenant (the host name "
     "of the tenant, e.g. your-tenant.eu.qlikcloud.com, not an alias)"),
    (("not a member of tenant", "auth-5"),
     "Qlik accepted the token but the user is not a member of this tenant: check that the identity provider is "
     "the tenant's own, and the user's status in the tenant's users list"),
    (("web integration", "login-10", "returnto"),
     "the request came from a web page whose origin the tenant does not allow: add the origin to a web "
     "integration and send its id (qlik-web-integration-id); a backend needs none"),
    (("jwe", "encrypted token"),
     "the token is encrypted (JWE); Qlik takes a signed JWT (JWS): make it with qs-jwt create-qscloud"),
    (("algorithm",),
     "the token's algorithm is not one Qlik Cloud takes: sign with RS256 (--algorithm RS256, the default)"),
    (("header: kid", "kid missing", "missing kid"),
     "the token has no kid in its header: give --keyid, the key id of the identity provider"),
    (("used before", "replay", "already been used", "jti has been"),
     "the token was used before: Qlik takes each jti once, so make a new token for every login (qs-jwt qscloud "
     "login mints one when given the create-qscloud options instead of --jwt)"),
    (("exceed", "3600", "lifetime", "validity cannot"),
     "the token lives longer than Qlik Cloud allows: exp may be at most one hour after nbf and iat "
     "(--expires 1h or less)"),
    (("audience", " aud"),
     "the audience is wrong: aud must be exactly qlik.api/login/jwt-session (create-qscloud sets it)"),
    (("expired", "(exp)"),
     "the token has expired: make a new one; if it was new, this computer's clock is behind Qlik's (sync it, or "
     "raise the identity provider's clock tolerance)"),
    (("not valid yet", "not yet valid", "(nbf)", "issued in the future", "(iat)", "in future"),
     "the token is not valid yet by Qlik's clock: this computer's clock is ahead; sync it (NTP), or raise the "
     "identity provider's clock tolerance"),
    (("kid", "key id", "keyid"),
     "the token's kid is not the key id of the identity provider with that issuer: --keyid must equal it "
     "exactly (qs-jwt qscloud idp check shows it)"),
    (("issuer",),
     "no active JWT identity provider of the tenant has the token's issuer: --issuer must equal the identity "
     "provider's issuer exactly (qs-jwt qscloud idp check compares them)"),
    (("signature",),
     "the signature does not verify: the token was signed with another key than the one whose certificate the "
     "identity provider holds (qs-jwt qscloud idp check compares them)"),
)

_GENERIC_CAUSES = (
    "Qlik does not say more; the usual causes, each checked by qs-jwt qscloud idp check or qs-jwt check --target "
    "qscloud:",
    "issuer and kid: --issuer and --keyid must equal the identity provider's issuer and key id exactly",
    "key: the token must be signed with the key of the identity provider's certificate",
    "time: exp passed, or nbf/iat ahead of Qlik's clock (sync this computer's clock)",
    "once only: each token (its jti) is taken once; make a new one for every login",
)


def explain_login_error(error: QlikApiError) -> list[str]:
    """The likely cause of a refused ``/login/jwt-session``, and its fix, in plain words (Qlik's own words stay
    in ``error``). Qlik's texts are matched by their words: a missing or malformed claim, expiry, the clock,
    the audience, an unknown issuer or kid, a token used twice, a lifetime over an hour, the signature, the
    tenant's host name, a user not in the tenant; else the usual causes."""
    text = " ".join(str(part) for item in error.items for part in (item.get("code"), item.get("title"),
                                                                   item.get("detail")) if part)
    original = f"{text} {error.code or ''} {error.title or ''} {error.detail or ''}"
    text = original.lower()
    claim = _CLAIM.search(original)  # claim names keep their case: subType
    if claim:
        name = claim.group(2)
        kind = "lacks" if "missing" in claim.group(1).lower() else "has a malformed"
        return [f"the token {kind} claim {name}: Qlik Cloud needs sub, subType (\"user\"), name, jti, iat, nbf, exp "
                "and aud, email_verified as a JSON boolean, groups as an array of text; qs-jwt create-qscloud makes "
                "such tokens"]
    for words, cause in _LOGIN_CAUSES:
        if any(word in text for word in words):
            return [cause]
    if error.status in (401, 403):
        return list(_GENERIC_CAUSES)
    return []


# ---------------------------------------------------------------- sessions


@dataclass(frozen=True)
class QlikCloudSession:
    """A logged-in session: the tenant, its cookies (name, value, domain, path, secure, expires) and the CSRF
    token. It is a credential: :meth:`save` writes it readable by the owner alone."""

    tenant: str
    cookies: tuple[dict[str, Any], ...]
    csrf_token: str | None
    created_at: str = ""
    user: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return jsonlib.dumps({"format": SESSION_FORMAT, "tenant": self.tenant, "createdAt": self.created_at,
                              "user": self.user, "csrfToken": self.csrf_token, "cookies": list(self.cookies)},
                             indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "the session file") -> QlikCloudSession:
        """:raises QsJwtError: for text that is not a session this module wrote."""
        def bad(reason: str) -> QsJwtError:
            return QsJwtError(f"{source}: {reason}; log in again with qs-jwt qscloud login --session-file")

        try:
            data = jsonlib.loads(text)
        except (ValueError, RecursionError):
            raise bad("not JSON (not a session file)") from None
        if not isinstance(data, dict) or data.get("format") != SESSION_FORMAT:
            raise bad("not a session file of this version of qs-jwt")
        tenant, cookies, csrf = data.get("tenant"), data.get("cookies"), data.get("csrfToken")
        if not isinstance(tenant, str) or not isinstance(cookies, list) or not (csrf is None or isinstance(csrf, str)):
            raise bad("damaged (tenant, cookies or csrfToken missing)")
        kept = []
        for cookie in cookies:
            if not (isinstance(cookie, dict) and isinstance(cookie.get("name"), str)
                    and isinstance(cookie.get("value"), str)):
                raise bad("damaged (a cookie without name or value)")
            kept.append({key: cookie.get(key) for key in ("name", "value", "domain", "path", "secure", "expires")})
        user = data.get("user")
        return cls(tenant=tenant, cookies=tuple(kept), csrf_token=csrf, created_at=str(data.get("createdAt") or ""),
                   user=user if isinstance(user, dict) else {})

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the session to ``path``: atomically, mode 0600 (on Windows the folder's access rules apply),
        replacing an earlier session file."""
        from ._files import write_atomic

        write_atomic(os.fspath(path), self.to_json().encode("utf-8"), mode=0o600, force=True)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> QlikCloudSession:
        """:raises QsJwtError: the file cannot be read or is not a session file."""
        name = os.fspath(path)
        try:
            with open(name, "rb") as handle:
                data = handle.read(_MAX_SESSION_FILE + 1)
        except OSError as exc:
            raise QsJwtError(f"cannot read the session file ({exc.strerror or type(exc).__name__}); log in first "
                             "with qs-jwt qscloud login --session-file") from None
        if len(data) > _MAX_SESSION_FILE:
            raise QsJwtError("the session file is larger than 1 MiB: not a session file")
        return cls.from_json(data)


def _cookie(saved: Mapping[str, Any], host: str) -> Cookie:
    """A cookie of a saved session, for the jar (a cookie saved without a domain belongs to the tenant's host)."""
    from http.cookiejar import Cookie

    domain = str(saved.get("domain") or "") or host
    path = str(saved.get("path") or "/")
    expires = saved.get("expires")
    return Cookie(version=0, name=str(saved["name"]), value=str(saved["value"]), port=None, port_specified=False,
                  domain=domain, domain_specified=domain.startswith("."), domain_initial_dot=domain.startswith("."),
                  path=path, path_specified=True, secure=bool(saved.get("secure")),
                  expires=expires if isinstance(expires, int) and not isinstance(expires, bool) else None,
                  discard=False, comment=None, comment_url=None, rest={})


def _now_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- the client


class QlikCloudClient:
    """Requests to one Qlik Cloud tenant; a context manager.

    Authenticate with an ``api_key`` (an API key or an OAuth access token, sent as ``Authorization: Bearer``),
    with ``credentials`` (:class:`qs_jwt.oauth.OAuthCredentials`: an access token fetched when first needed,
    reused while valid, fetched again once after a 401), with :meth:`login` (a JWT exchanged for a session), or
    with a saved ``session``.

    :param tenant: ``https://HOST`` or a bare host name (see :func:`normalize_tenant_url`).
    :param settings: timeouts, retries and TLS.
    :param log: a function that takes one debug line (never a secret).
    :param web_integration_id: sent as ``qlik-web-integration-id`` (needed only for browser origins).
    """

    def __init__(self, tenant: str, *, api_key: str | None = None, session: QlikCloudSession | None = None,
                 settings: HttpSettings | None = None, log: Callable[[str], None] | None = None,
                 web_integration_id: str | None = None, credentials: OAuthCredentials | None = None) -> None:
        from .http import HttpClient, HttpSettings

        self.tenant = normalize_tenant_url(tenant)
        if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
            raise ArgumentTypeError("expected the API key as text", param="api_key")
        if api_key is not None and any(ch.isspace() or not ch.isprintable() for ch in api_key.strip()):
            raise InvalidValueError("holds spaces or control characters: not an API key", param="api_key")
        if session is not None and not isinstance(session, QlikCloudSession):
            raise ArgumentTypeError(f"expected a QlikCloudSession, not {type(session).__name__}", param="session")
        if credentials is not None:
            from .oauth import OAuthCredentials, token_endpoint

            if not isinstance(credentials, OAuthCredentials):
                raise ArgumentTypeError(f"expected OAuthCredentials, not {type(credentials).__name__}",
                                        param="credentials")
            if api_key is not None or session is not None:
                raise InvalidValueError("give one of api_key, credentials and session", param="credentials")
            if credentials.token_url != token_endpoint(self.tenant):
                raise InvalidValueError(f"are for {credentials.tenant}, not {self.tenant}", param="credentials")
        self._credentials = credentials
        headers = {}
        if web_integration_id is not None:
            from .claims import check_text

            headers[WEB_INTEGRATION_HEADER] = check_text(web_integration_id, param="web_integration_id")
        self._api_key = api_key.strip() if api_key is not None else None
        self._http: HttpClient = HttpClient(self.tenant, settings or HttpSettings(), log=log,
                                            default_headers=headers)
        self._csrf: str | None = None
        self._logged_in = False
        self._user: dict[str, Any] = {}
        if session is not None:
            self._restore(session)

    def __enter__(self) -> QlikCloudClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- sessions ---------------------------------------------------------------------------------------

    @property
    def has_session(self) -> bool:
        """True after :meth:`login`, or with a saved session."""
        return self._logged_in

    @property
    def csrf_token(self) -> str | None:
        return self._csrf

    def login(self, jwt: str) -> dict[str, Any]:
        """Exchange ``jwt`` for a session: ``POST /login/jwt-session`` with ``Authorization: Bearer``, keep every
        cookie, fetch the CSRF token; return the user (``GET /api/v1/users/me``). A JWT is taken once: make a
        new one for every login.

        :raises QlikLoginError: Qlik refused the JWT (``explanation`` says why, in plain words).
        :raises QlikApiError: the CSRF token or the user could not be read after the login.
        :raises QlikConnectionError: no answer.
        """
        if not isinstance(jwt, str) or not jwt.strip():
            raise ArgumentTypeError("expected the JWT as text", param="jwt")
        if self._api_key is not None or self._credentials is not None:
            raise QsJwtError("this client authenticates with an API key or OAuth; log in with a client made without "
                             "one")
        self._http.cookies.clear()
        self._logged_in, self._csrf = False, None
        try:
            self._http.request("POST", LOGIN_PATH, headers={"Authorization": f"Bearer {jwt.strip()}"},
                               expect_json=False)
        except QlikApiError as exc:
            raise QlikLoginError(exc, explain_login_error(exc)) from None
        if not self._http.cookies:
            raise QlikApiError(f"POST {self.tenant}{LOGIN_PATH}: the answer set no session cookie; is "
                               f"{self.tenant} a Qlik Cloud tenant?", method="POST", url=f"{self.tenant}{LOGIN_PATH}")
        self._logged_in = True
        self._csrf = self._fetch_csrf()
        self._user = self.me()
        return dict(self._user)

    def _fetch_csrf(self) -> str | None:
        """The CSRF token: ``GET /api/v1/csrf-token`` (204, the header ``qlik-csrf-token``), else the value of
        the ``_csrfToken`` cookie (they are equal)."""
        response = self._http.request("GET", CSRF_PATH, expect_json=False, ok_statuses={400, 404})
        token = response.headers.get(CSRF_HEADER) if response.status < 300 else None
        return token or self._http.cookies.get(CSRF_COOKIE)

    @property
    def session(self) -> QlikCloudSession:
        """The current session (to :meth:`QlikCloudSession.save`). :raises QsJwtError: when not logged in."""
        if not self._logged_in:
            raise QsJwtError("no session: log in first")
        cookies = tuple({"name": c.name, "value": c.value or "", "domain": c.domain, "path": c.path,
                         "secure": bool(c.secure), "expires": c.expires} for c in self._http.cookies.jar)
        user: dict[str, Any] = {key: self._user.get(key) for key in ("id", "subject", "name", "tenantId")
                                if key in self._user}
        return QlikCloudSession(self.tenant, cookies, self._csrf, _now_stamp(), user)

    def save_session(self, path: str | os.PathLike[str]) -> None:
        """Save the session to ``path`` (JSON, mode 0600, written atomically)."""
        self.session.save(path)

    def _restore(self, session: QlikCloudSession) -> None:
        if normalize_tenant_url(session.tenant) != self.tenant:
            raise InvalidValueError(f"holds a session of {session.tenant}, not of {self.tenant}", param="session")
        host = self._http_host()
        for cookie in session.cookies:
            self._http.cookies.jar.set_cookie(_cookie(cookie, host))
        self._csrf = session.csrf_token
        self._user = dict(session.user)
        self._logged_in = True

    def _http_host(self) -> str:
        from urllib.parse import urlsplit

        host = urlsplit(self.tenant).hostname or ""
        if not host:  # pragma: no cover - normalize_tenant_url guarantees a host
            raise InvalidValueError("names no host", param="tenant")
        return host

    # --- requests ---------------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: Sequence[tuple[str, str]] | Mapping[str, str] | None = None,
                json: object = None, content: bytes | None = None, headers: Mapping[str, str] | None = None,
                expect_json: bool = True, ok_statuses: Iterable[int] | None = None) -> HttpResponse:
        """One request with the API key, or with the session (a modifying method carries the CSRF token; a
        ``403 CSRF-TOKEN-2`` fetches a new one and is sent again, once).

        :raises QlikApiError: a non-2xx answer (a 401 with a session: the session has ended).
        :raises QlikConnectionError: no answer.
        """
        verb = method.upper() if isinstance(method, str) else method
        if self._api_key is None and self._credentials is None and not self._logged_in:
            raise QsJwtError("not authenticated: give an API key, log in with a JWT, or load a session")
        with_session = self._logged_in and self._api_key is None and self._credentials is None
        try:
            try:
                return self._send(verb, path, params, json, content, headers, expect_json, ok_statuses)
            except QlikApiError as exc:
                if with_session and exc.status == 403 and exc.code == "CSRF-TOKEN-2":
                    self._csrf = self._fetch_csrf()
                    return self._send(verb, path, params, json, content, headers, expect_json, ok_statuses)
                raise
        except QlikApiError as exc:
            if with_session and exc.status == 401:
                raise QlikApiError(f"{exc}: the session has ended (or was never valid); log in again",
                                   status=exc.status, code=exc.code, detail=exc.detail, trace_id=exc.trace_id,
                                   method=exc.method, url=exc.url, title=exc.title, items=exc.items) from None
            raise

    def _send(self, method: str, path: str, params: Sequence[tuple[str, str]] | Mapping[str, str] | None,
              json: object, content: bytes | None, headers: Mapping[str, str] | None, expect_json: bool,
              ok_statuses: Iterable[int] | None) -> HttpResponse:
        protected = ("authorization", CSRF_HEADER)
        sent = {k: v for k, v in (headers or {}).items() if not isinstance(k, str) or k.lower() not in protected}
        statuses = None if ok_statuses is None else frozenset(ok_statuses)
        if self._credentials is not None:
            header = self._credentials.authorization_header()
            sent["Authorization"] = header
            try:
                return self._http.request(method, path, params=params, json=json, content=content, headers=sent,
                                          expect_json=expect_json, ok_statuses=statuses)
            except QlikApiError as exc:
                if exc.status != 401:
                    raise
            self._credentials.invalidate(header)  # the token was revoked or expired early: a new one, once
            sent["Authorization"] = self._credentials.authorization_header()
        elif self._api_key is not None:
            sent["Authorization"] = f"Bearer {self._api_key}"
        elif method not in SAFE_METHODS and self._csrf:
            sent["Qlik-Csrf-Token"] = self._csrf
        return self._http.request(method, path, params=params, json=json, content=content, headers=sent,
                                  expect_json=expect_json, ok_statuses=statuses)

    def _json(self, method: str, path: str, *, json: object = None,
              params: Sequence[tuple[str, str]] | None = None) -> Any:
        response = self.request(method, path, json=json, params=params)
        return response.json() if response.body.strip() else None

    def me(self) -> dict[str, Any]:
        """``GET /api/v1/users/me``: the caller (``id``, ``tenantId``, ``subject``, ``name``, ``email``, ...)."""
        user = self._json("GET", ME_PATH)
        if not isinstance(user, dict):
            raise QlikApiError(f"GET {self.tenant}{ME_PATH}: the answer is not a user object", method="GET",
                               url=f"{self.tenant}{ME_PATH}")
        return user

    def tenant_id(self) -> str:
        """The tenant's id, as ``GET /api/v1/users/me`` tells it."""
        tenant_id = self.me().get("tenantId")
        if not isinstance(tenant_id, str) or not tenant_id:
            raise QlikApiError(f"GET {self.tenant}{ME_PATH}: the answer names no tenantId; give the tenant id",
                               method="GET", url=f"{self.tenant}{ME_PATH}")
        return tenant_id

    def pages(self, path: str, *, params: Sequence[tuple[str, str]] = ()) -> Iterator[dict[str, Any]]:
        """Every item of a list API, page after page (``{"data": [...], "links": {"next": {"href"}}}``)."""
        url: str | None = path
        query: Sequence[tuple[str, str]] | None = params
        seen: set[str] = set()
        for _page in range(_MAX_PAGES):
            assert url is not None
            answer = self._json("GET", url, params=query)
            data = answer.get("data") if isinstance(answer, dict) else None
            if not isinstance(data, list):
                raise QlikApiError(f"GET {self.tenant}{path}: the answer has no data list", method="GET",
                                   url=f"{self.tenant}{path}")
            yield from (item for item in data if isinstance(item, dict))
            nxt = (answer.get("links") or {}).get("next") if isinstance(answer.get("links"), dict) else None
            href = nxt.get("href") if isinstance(nxt, dict) else nxt if isinstance(nxt, str) else None
            if not href or not data:
                return
            if href in seen:
                raise QlikApiError(f"GET {self.tenant}{path}: the next page link repeats; the list is not complete",
                                   method="GET", url=f"{self.tenant}{path}")
            seen.add(href)
            url, query = href, None
        raise QlikApiError(f"GET {self.tenant}{path}: more than {_MAX_PAGES} pages", method="GET",
                           url=f"{self.tenant}{path}")

    # --- identity providers -----------------------------------------------------------------------------

    def identity_providers(self, *, protocol: str | None = None, active: bool | None = None) -> list[dict[str, Any]]:
        """Every identity provider (all pages), or those of ``protocol`` (``"jwtAuth"``, ...) and ``active``.
        The protocol is filtered here too, in case the server ignores the parameter."""
        params: list[tuple[str, str]] = [("limit", "100")]
        if protocol is not None:
            params.append(("protocol", protocol))
        if active is not None:
            params.append(("active", "true" if active else "false"))
        idps = list(self.pages(IDP_PATH, params=params))
        return [idp for idp in idps if (protocol is None or idp.get("protocol") == protocol)
                and (active is None or idp.get("active") is active)]

    def identity_provider(self, idp_id: str) -> dict[str, Any]:
        """``GET /api/v1/identity-providers/{id}``."""
        path = f"{IDP_PATH}/{_idp_id(idp_id)}"
        idp = self._json("GET", path)
        if not isinstance(idp, dict):
            raise QlikApiError(f"GET {self.tenant}{path}: the answer is not an identity provider object",
                               method="GET", url=f"{self.tenant}{path}")
        return idp

    def create_identity_provider(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /api/v1/identity-providers``: the created identity provider."""
        created = self._json("POST", IDP_PATH, json=dict(body))
        return dict(created) if isinstance(created, dict) else {}

    def delete_identity_provider(self, idp_id: str) -> None:
        """``DELETE /api/v1/identity-providers/{id}``."""
        self.request("DELETE", f"{IDP_PATH}/{_idp_id(idp_id)}", expect_json=False)


def _idp_id(value: object) -> str:
    if not isinstance(value, str):
        raise ArgumentTypeError(f"expected text, not {type(value).__name__}", param="idp_id")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", value):
        raise InvalidValueError("is not an identity provider id (letters, digits, - and _)", param="idp_id")
    return value


# ---------------------------------------------------------------- identity provider bodies


def _check_description(description: object) -> str:
    from .claims import check_text

    text = check_text(description, param="description")
    if len(text) > _DESCRIPTION_LIMIT:
        raise InvalidValueError(f"is longer than {_DESCRIPTION_LIMIT} characters", param="description")
    return text


def _key_material(data: bytes | str | Certificate | RSAPublicKey, passphrase: bytes | str | None,
                  source: str = "certificate") -> tuple[str, RSAPublicKey, Certificate | None]:
    """The one-line PEM to upload (the certificate when there is one), the RSA public key, and the certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519

    from .certs import describe_key_material, single_line_pem

    if isinstance(data, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
                  | dsa.DSAPublicKey | x25519.X25519PublicKey | x448.X448PublicKey):
        raise KeyLoadError(f"is {type(data).__name__.removeprefix('_').removesuffix('PublicKey')} public key; Qlik "
                           "Cloud's JWT identity provider verifies RS256 signatures, which need an RSA key",
                           source=source, code=KEY_WRONG_TYPE)
    if isinstance(data, x509.Certificate):
        public = data.public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            raise KeyLoadError("holds a certificate of a non-RSA key; Qlik Cloud's JWT identity provider verifies "
                               "RS256 signatures, which need an RSA key", source=source, code=KEY_WRONG_TYPE)
        return single_line_pem(data.public_bytes(serialization.Encoding.PEM)), public, data
    if isinstance(data, rsa.RSAPublicKey):
        pem = data.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return single_line_pem(pem), data, None
    info = describe_key_material(data, source=source, passphrase=passphrase)
    if info.public_key is None:
        raise KeyLoadError(f"holds {'an' if info.key_type[:1] in 'AEIOU' else 'a'} {info.key_type} key; Qlik "
                           "Cloud's JWT identity provider verifies RS256 signatures, which need an RSA key",
                           source=source, code=KEY_WRONG_TYPE)
    if info.kind == "private key" and info.certificate is None:
        pem = info.public_key.public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
        return single_line_pem(pem), info.public_key, None
    return info.pem, info.public_key, info.certificate


def jwt_idp_body(
    *,
    issuer: str,
    certificate: bytes | str | Certificate | RSAPublicKey,
    kid: str | None = None,
    passphrase: bytes | str | None = None,
    description: str | None = None,
    clock_tolerance: int | None = None,
    tenant_id: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """The ``POST /api/v1/identity-providers`` body of a JWT identity provider (spec C.1), as Qlik's examples
    send it: ``protocol`` jwtAuth, ``provider`` external, not interactive, active, JWT login enabled, one static
    key ``{kid, pem}`` with the PEM on one line.

    :param certificate: the signer's X.509 certificate (PEM, DER, PKCS#12 or an object); a public key is taken
        too (Qlik's examples upload a certificate; whether a bare public key works is not confirmed).
    :param kid: the key id (default: the key's RFC 7638 thumbprint).
    :param clock_tolerance: ``clockToleranceSec``, whole seconds of clock skew Qlik tolerates (0 to 3600).
    :param tenant_id: the tenant's id (``tenantIds``); omitted when None.
    :param source: what to call the key material in messages (default ``"certificate"``).
    """
    from .claims import check_text
    from .keys import jwk_thumbprint

    issuer = check_text(issuer, param="issuer")
    what = source if isinstance(source, str) and source else "certificate"
    pem, public, _cert = _key_material(certificate, passphrase, what)
    if public.key_size < 2048:
        raise KeyLoadError(f"holds a {public.key_size}-bit RSA key; use at least 2048 bits (qs-jwt cert create "
                           "makes 4096)", source=what, code=KEY_WEAK)
    kid = jwk_thumbprint(public) if kid is None else check_text(kid, param="kid")
    body: dict[str, Any] = {"provider": "external", "protocol": JWT_AUTH, "interactive": False, "active": True,
                            "description": _check_description(description) if description is not None else
                            f"JWT login for {issuer} (qs-jwt)",
                            "options": {"jwtLoginEnabled": True, "issuer": issuer,
                                        "staticKeys": [{"kid": kid, "pem": pem}]}}
    if clock_tolerance is not None:
        if isinstance(clock_tolerance, bool) or not isinstance(clock_tolerance, int):
            raise ArgumentTypeError("expected whole seconds", param="clock_tolerance")
        if not 0 <= clock_tolerance <= 3600:
            raise InvalidValueError("must be from 0 to 3600 seconds", param="clock_tolerance")
        body["clockToleranceSec"] = clock_tolerance
    if tenant_id is not None:
        body["tenantIds"] = [check_text(tenant_id, param="tenant_id")]
    return body


# ---------------------------------------------------------------- checking identity providers


@dataclass
class IdentityProviderCheck(CheckReport):
    """The findings of :func:`check_identity_providers`; ``identity_provider`` is the JWT identity provider the
    key's tokens meet (None: none would)."""

    identity_provider: dict[str, Any] | None = None
    thumbprint: str = ""

    def to_dict(self) -> dict[str, Any]:
        idp = self.identity_provider
        summary = None if idp is None else {
            "id": idp.get("id"), "issuer": _issuer_of(idp), "kid": _kid_of(idp), "active": idp.get("active"),
            "description": idp.get("description")}
        return {**super().to_dict(), "thumbprint": self.thumbprint, "identityProvider": summary}


def _options(idp: Mapping[str, Any]) -> Mapping[str, Any]:
    options = idp.get("options")
    return options if isinstance(options, dict) else {}


def _issuer_of(idp: Mapping[str, Any]) -> str | None:
    issuer = _options(idp).get("issuer")
    return issuer if isinstance(issuer, str) else None


def _static_keys(idp: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    keys = _options(idp).get("staticKeys")
    return [key for key in keys if isinstance(key, dict)] if isinstance(keys, list) else []


def _kid_of(idp: Mapping[str, Any]) -> str | None:
    keys = _static_keys(idp)
    kid = keys[0].get("kid") if keys else None
    return kid if isinstance(kid, str) else None


def _pem_public_key(pem: object) -> tuple[RSAPublicKey | None, Certificate | None]:
    """The RSA key of a one-line or wrapped PEM (certificate or public key) as Qlik stores it, or None."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    if not isinstance(pem, str):
        return None, None
    block = _PEM_BLOCK.search(pem)
    if block is None:
        return None, None
    label, body = block.group(1), "".join(block.group(2).split())
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    text = f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n".encode("ascii", "replace")
    try:
        if label == "CERTIFICATE":
            cert = x509.load_pem_x509_certificate(text)
            public = cert.public_key()
            return (public, cert) if isinstance(public, rsa.RSAPublicKey) else (None, cert)
        key = load_pem_public_key(text)
    except ValueError:
        return None, None
    return (key, None) if isinstance(key, rsa.RSAPublicKey) else (None, None)


def identity_provider_thumbprint(idp: Mapping[str, Any]) -> str | None:
    """The RFC 7638 thumbprint of a JWT identity provider's RSA key (its ``options.staticKeys[0].pem``), or None."""
    from .keys import jwk_thumbprint

    keys = _static_keys(idp)
    public, _ = _pem_public_key(keys[0].get("pem")) if keys else (None, None)
    return jwk_thumbprint(public) if public is not None else None


def _shown_idp(idp: Mapping[str, Any]) -> str:
    return f"{idp.get('id')!s} (issuer {_issuer_of(idp)!r}, kid {_kid_of(idp)!r})"


def check_identity_providers(
    identity_providers: Iterable[Mapping[str, Any]],
    public_key: RSAPublicKey,
    *,
    issuer: str | None = None,
    keyid: str | None = None,
    now: float | None = None,
) -> IdentityProviderCheck:
    """Which of a tenant's JWT identity providers the tokens of ``public_key``'s private key meet, and every
    reason it would refuse them: issuer, kid, public key (by RFC 7638 thumbprint), inactive, JWT login off,
    an expired certificate, more than one identity provider with that issuer.

    Without ``issuer``, the identity provider that holds the key is looked for (its issuer and kid are then
    what the tokens must carry). ``ok`` is true when a token from this key with these values would be accepted.
    """
    from . import _clock
    from .keys import jwk_thumbprint

    moment = _clock.resolve(now)
    thumbprint = jwk_thumbprint(public_key)
    jwt_idps = [dict(idp) for idp in identity_providers if idp.get("protocol") == JWT_AUTH]
    report = IdentityProviderCheck("identity-provider", thumbprint=thumbprint)
    add = report.findings.append
    if not jwt_idps:
        add(Finding("identity-provider", ERROR, "the tenant has no JWT identity provider",
                    "create one for this key: qs-jwt qscloud idp create --issuer ISSUER --cert-file publickey.cer"))
        return report
    by_key = [idp for idp in jwt_idps if identity_provider_thumbprint(idp) == thumbprint]
    if issuer is None:
        if not by_key:
            listed = "; ".join(_shown_idp(idp) for idp in jwt_idps)
            add(Finding("public-key", ERROR, f"no JWT identity provider holds this key (thumbprint {thumbprint}); the "
                        f"tenant has: {listed}", "create an identity provider with this key's certificate (qs-jwt "
                        "qscloud idp create), or sign with the key of an existing one"))
            return report
        issuers = list(dict.fromkeys(_issuer_of(idp) for idp in by_key))
        if len(issuers) > 1:
            add(Finding("several-issuers", WARNING, "the key is in identity providers of several issuers: "
                        + ", ".join(repr(name) for name in issuers) + f"; checked {issuers[0]!r}",
                        "give --issuer to check the one the tokens name"))
        candidates = [idp for idp in jwt_idps if _issuer_of(idp) == issuers[0]]
    else:
        candidates = [idp for idp in jwt_idps if _issuer_of(idp) == issuer]
        if not candidates:
            near = [idp for idp in jwt_idps if (_issuer_of(idp) or "").strip().rstrip("/").lower()
                    == issuer.strip().rstrip("/").lower()]
            hint = (f" (the identity provider {_shown_idp(near[0])} differs only in case, spaces or a trailing "
                    "slash: the issuer must match exactly)") if near else ""
            known = ", ".join(repr(_issuer_of(idp)) for idp in jwt_idps)
            holder = (f" (the identity provider that holds this key has the issuer {_issuer_of(by_key[0])!r})"
                      if by_key else "")
            add(Finding("issuer", ERROR, f"issuer: no JWT identity provider has the issuer {issuer!r}{hint}; the "
                        f"issuers are {known}", "give --issuer the identity provider's issuer exactly"
                        f"{holder}, or create an identity provider for this issuer"))
            return report
    if len(candidates) > 1:
        add(Finding("duplicate", WARNING, f"{len(candidates)} JWT identity providers have the issuer "
                    f"{_issuer_of(candidates[0])!r}: " + "; ".join(_shown_idp(idp) for idp in candidates),
                    "keep one identity provider per issuer (delete the others once no token uses them)"))
    chosen = _choose(candidates, keyid, thumbprint)
    report.identity_provider = chosen
    _idp_findings(report, chosen, keyid, thumbprint, moment)
    return report


def _choose(candidates: list[dict[str, Any]], keyid: str | None, thumbprint: str) -> dict[str, Any]:
    """The identity provider a token meets: by kid when given, then by key, active first."""
    def rank(idp: Mapping[str, Any]) -> tuple[bool, bool, bool]:
        return (keyid is not None and _kid_of(idp) == keyid, identity_provider_thumbprint(idp) == thumbprint,
                idp.get("active") is True)

    return max(candidates, key=rank)


def _idp_findings(report: IdentityProviderCheck, idp: Mapping[str, Any], keyid: str | None, thumbprint: str,
                  now: float) -> None:
    add = report.findings.append
    name = f"the identity provider {idp.get('id')!s}"
    kid = _kid_of(idp)
    if keyid is not None and kid != keyid:
        case = " (only the case differs: the kid is case-sensitive)" if kid and kid.lower() == keyid.lower() else ""
        add(Finding("kid", ERROR, f"kid: {name} has the key id {kid!r}, the tokens carry {keyid!r}{case}",
                    f"make the tokens with --keyid {kid!r}"))
    idp_thumbprint = identity_provider_thumbprint(idp)
    if idp_thumbprint is None:
        add(Finding("public-key", ERROR, f"public key: {name} holds no readable RSA certificate or public key",
                    "create the identity provider again with the certificate (qs-jwt qscloud idp create)"))
    elif idp_thumbprint != thumbprint:
        add(Finding("public-key", ERROR, f"public key: {name} holds another key (thumbprint {idp_thumbprint}, this "
                    f"key's is {thumbprint}): it cannot verify these tokens",
                    "sign with the key of the identity provider's certificate, or create an identity provider with "
                    "this key's certificate"))
    if idp.get("active") is not True:
        add(Finding("inactive", ERROR, f"{name} is not active", "activate it in the management console "
                    "(Identity providers), or create a new one"))
    if _options(idp).get("jwtLoginEnabled") is False:
        add(Finding("jwt-login", ERROR, f"{name} has JWT login turned off (options.jwtLoginEnabled is false)",
                    "create the identity provider again with JWT login enabled (qs-jwt qscloud idp create)"))
    keys = _static_keys(idp)
    _, cert = _pem_public_key(keys[0].get("pem")) if keys else (None, None)
    if cert is not None and cert.not_valid_after_utc.timestamp() < now:
        add(Finding("certificate-expired", WARNING, f"{name}'s certificate expired on "
                    f"{cert.not_valid_after_utc:%Y-%m-%d}; whether Qlik Cloud still takes it is not documented",
                    "make a new certificate for the key (or a new key) and rotate the identity provider"))


# ---------------------------------------------------------------- multi-cloud bearer tokens


def _b64decode(text: str) -> bytes:
    compact = "".join(text.split())
    if not compact or not re.fullmatch(r"[A-Za-z0-9+/_-]+={0,2}", compact):
        raise binascii.Error("not base64")
    padded = compact.rstrip("=")
    padded += "=" * (-len(padded) % 4)
    return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)


def decode_bearer_token(token: str | bytes) -> dict[str, Any]:
    """The JSON inside a QSEoW deployment's bearer token in "Qlik Cloud format" (base64 of a JSON object with
    ``issuerConfig.issuer``, ``hostname``, ``staticKeys[{kid, pem}]``, ``realm``, ``primary``).

    :raises TokenFormatError: not base64, not a JSON object, or a field missing (named).
    """
    if isinstance(token, bytes):
        token = token.decode("ascii", errors="replace")
    if not isinstance(token, str):
        raise ArgumentTypeError(f"expected text, not {type(token).__name__}", param="bearer_token")
    if len(token) > _MAX_BEARER_TOKEN:
        raise TokenFormatError("the bearer token is larger than 1 MiB: not a bearer token")
    text = token.strip().strip('"')
    try:
        raw = _b64decode(text)
    except (binascii.Error, ValueError):
        raise TokenFormatError("the bearer token is not base64 (copy the token in \"Qlik Cloud format\" from the "
                               "QMC: Cloud distribution, Deployment setup)") from None
    try:
        data = jsonlib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise TokenFormatError("the bearer token is base64 but not of JSON: not a bearer token in \"Qlik Cloud "
                               "format\"") from None
    if not isinstance(data, dict):
        raise TokenFormatError("the bearer token holds JSON that is not an object")
    missing = _missing_fields(data)
    if missing:
        raise TokenFormatError(f"the bearer token lacks {', '.join(missing)}")
    return data


def _missing_fields(data: Mapping[str, Any]) -> list[str]:
    missing = []
    config = data.get("issuerConfig")
    if not isinstance(config, dict) or not isinstance(config.get("issuer"), str) or not config["issuer"]:
        missing.append("issuerConfig.issuer")
    if not isinstance(data.get("hostname"), str) or not data["hostname"]:
        missing.append("hostname")
    keys = data.get("staticKeys")
    if not isinstance(keys, list) or not keys:
        missing.append("staticKeys (a list of {kid, pem})")
    else:
        for number, key in enumerate(keys):
            for name in ("kid", "pem"):
                if not isinstance(key, dict) or not isinstance(key.get(name), str) or not key[name]:
                    missing.append(f"staticKeys[{number}].{name}")
    return missing


def describe_bearer_token(decoded: Mapping[str, Any]) -> dict[str, Any]:
    """Issuer, hostname, kid, realm, primary, and for each static key its kid, PEM type, key type, size and RFC
    7638 thumbprint (``decoded`` from :func:`decode_bearer_token`)."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from .keys import jwk_thumbprint

    keys = []
    for key in decoded.get("staticKeys") or ():
        pem = key.get("pem", "")
        block = _PEM_BLOCK.search(pem) if isinstance(pem, str) else None
        public, _cert = _pem_public_key(pem)
        entry: dict[str, Any] = {"kid": key.get("kid"), "pemType": block.group(1) if block else None,
                                 "keyType": None, "keySize": None, "thumbprint": None}
        if public is not None:
            entry.update(keyType="RSA", keySize=public.key_size, thumbprint=jwk_thumbprint(public))
        elif block is not None:
            try:
                other = load_pem_public_key(f"-----BEGIN {block.group(1)}-----\n"
                                            f"{''.join(block.group(2).split())}\n-----END {block.group(1)}-----\n"
                                            .encode("ascii", "replace"))
                entry.update(keyType=type(other).__name__.removesuffix("PublicKey").lstrip("_"),
                             keySize=getattr(other, "key_size", None))
            except ValueError:
                entry["keyType"] = "unreadable"
        keys.append(entry)
    first = keys[0] if keys else {}
    return {"issuer": (decoded.get("issuerConfig") or {}).get("issuer"), "hostname": decoded.get("hostname"),
            "kid": first.get("kid"), "realm": decoded.get("realm"), "primary": decoded.get("primary"),
            "staticKeys": keys}


def rebuild_bearer_token(token: str | bytes, hostname: str) -> str:
    """A bearer token for another tenant: ``token``'s issuer, kid and PEM kept, ``hostname`` replaced (as
    ``https://HOST`` when the original names a URL, else the bare host), base64 of compact JSON."""
    from .claims import check_text

    decoded = decode_bearer_token(token)
    host = check_text(hostname, param="hostname").strip()
    bare = re.sub(r"^https?://", "", host, flags=re.IGNORECASE).rstrip("/")
    if not bare or any(ch.isspace() or ch in "/?#@" for ch in bare):
        raise InvalidValueError("give the tenant's host name, e.g. your-tenant.eu.qlikcloud.com", param="hostname")
    original = str(decoded.get("hostname", ""))
    decoded["hostname"] = f"https://{bare}" if re.match(r"https?://", original, re.IGNORECASE) else bare
    return base64.b64encode(jsonlib.dumps(decoded, separators=(",", ":")).encode("utf-8")).decode("ascii")


def multicloud_idp_body(bearer_token: str, *, tenant_id: str | None = None,
                        description: str | None = None) -> dict[str, Any]:
    """The ``POST /api/v1/identity-providers`` body of a multi-cloud identity provider (spec C.3)."""
    decoded = decode_bearer_token(bearer_token)
    standard = base64.b64encode(_b64decode(bearer_token.strip().strip('"'))).decode("ascii")  # padded, + and /
    body: dict[str, Any] = {
        "base64Encoded": standard, "interactive": False, "protocol": MULTI_CLOUD,
        "description": _check_description(description) if description is not None else
        f"Multi-cloud: {decoded.get('hostname')!s} (qs-jwt)", "provider": "qlik"}
    if tenant_id is not None:
        from .claims import check_text

        body["tenantIds"] = [check_text(tenant_id, param="tenant_id")]
    return body
